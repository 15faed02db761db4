/* Shared by the guest benchmark programs: raw syscalls (no libc wrapper or caching), a
 * monotonic clock read only around whole loops, and min/median/max over repetitions.
 * Built static with musl-gcc and gcc -static; the same binary runs natively and in uno. */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __GLIBC__
#define BENCH_LIBC "glibc"
#else
#define BENCH_LIBC "musl"
#endif

/* A bare `syscall` instruction: exactly one kernel (or libOS) entry per call, identical
 * code under both libcs. */
static inline long raw_syscall0(long nr)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr) : "rcx", "r11", "memory");
    return r;
}

static inline long raw_syscall2(long nr, long a, long b)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return r;
}

static inline long raw_syscall1(long nr, long a)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a) : "rcx", "r11", "memory");
    return r;
}

/* The timing clock. In uno this is itself one trapped syscall, so it is read only twice
 * per repetition, around loops long enough (milliseconds) to make that negligible. */
static inline uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct stats {
    double min, median, max;
};

static inline struct stats stats_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    struct stats s = {v[0], n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[n - 1]};
    return s;
}

static inline long arg_long(int argc, char **argv, int i, long dflt)
{
    if (i >= argc)
        return dflt;
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*end || v <= 0) {
        fprintf(stderr, "bad number: %s\n", argv[i]);
        exit(2);
    }
    return v;
}

#endif
