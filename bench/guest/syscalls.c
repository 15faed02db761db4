/* Syscall cost: N raw getpid() per repetition (the nr in a register: a site uno's rewriting
 * leaves trapping), getpid() through libc (a site it rewrites), a "local" mix (getpid, clock_gettime,
 * getuid, brk(0), sched_yield: all served inside the process, never by another process
 * or device), and clock_gettime through libc (the vDSO natively). Prints one JSON line:
 * ns per call, min/median/max over the repetitions (after one warm-up repetition).
 *   usage: syscalls [N] [REPS] */
#include <sys/syscall.h>
#include <unistd.h>

#include "benchutil.h"

#define MIX_CALLS 5

static double time_getpid(long n)
{
    uint64_t t0 = mono_ns();
    for (long i = 0; i < n; i++)
        raw_syscall0(SYS_getpid);
    return (double)(mono_ns() - t0) / (double)n;
}

static double time_mix(long n)
{
    struct timespec ts;
    long iters = n / MIX_CALLS;
    uint64_t t0 = mono_ns();
    for (long i = 0; i < iters; i++) {
        raw_syscall0(SYS_getpid);
        raw_syscall2(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts);
        raw_syscall0(SYS_getuid);
        raw_syscall1(SYS_brk, 0);
        raw_syscall0(SYS_sched_yield);
    }
    return (double)(mono_ns() - t0) / (double)(iters * MIX_CALLS);
}

/* getpid() through libc: glibc's and musl's wrappers are `mov $39, %eax; syscall`, the
 * pattern uno rewrites into a jump to the libOS after the first trap. */
static double time_getpid_libc(long n)
{
    uint64_t t0 = mono_ns();
    for (long i = 0; i < n; i++)
        getpid();
    return (double)(mono_ns() - t0) / (double)n;
}

static double time_libc_clock(long n)
{
    struct timespec ts;
    uint64_t t0 = mono_ns();
    for (long i = 0; i < n; i++)
        clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)(mono_ns() - t0) / (double)n;
}

typedef double (*bench_fn)(long);

static struct stats run(bench_fn f, long n, int reps)
{
    double *v = calloc((size_t)reps, sizeof *v);
    f(n / 10 + 1); /* warm-up: first touches, and lets a lazy syscall-site rewrite happen */
    for (int r = 0; r < reps; r++)
        v[r] = f(n);
    struct stats s = stats_of(v, reps);
    free(v);
    return s;
}

static void emit(const char *name, struct stats s, int last)
{
    printf("\"%s\":{\"min_ns\":%.2f,\"median_ns\":%.2f,\"max_ns\":%.2f}%s", name, s.min, s.median,
           s.max, last ? "" : ",");
}

int main(int argc, char **argv)
{
    long n = arg_long(argc, argv, 1, 10000);
    int reps = (int)arg_long(argc, argv, 2, 15);
    /* Sanity: the raw calls must really work here (not -ENOSYS). */
    if (raw_syscall0(SYS_getpid) <= 0 || raw_syscall1(SYS_brk, 0) <= 0 ||
        raw_syscall0(SYS_sched_yield) != 0 || raw_syscall0(SYS_getuid) < 0) {
        fprintf(stderr, "syscalls: a benchmarked syscall failed\n");
        return 1;
    }
    struct stats g = run(time_getpid, n, reps);
    struct stats m = run(time_mix, n, reps);
    struct stats c = run(time_libc_clock, n, reps);
    struct stats l = run(time_getpid_libc, n, reps);
    printf("{\"prog\":\"syscalls\",\"libc\":\"%s\",\"n\":%ld,\"reps\":%d,", BENCH_LIBC, n, reps);
    emit("getpid", g, 0);
    emit("mix", m, 0);
    emit("clock_gettime_libc", c, 0);
    emit("getpid_libc", l, 1);
    printf("}\n");
    return 0;
}
