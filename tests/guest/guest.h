/* Helpers shared by the guest test programs (tests/guest/NAME.c). Each program is built twice,
 * static with musl and static with glibc, run natively and inside uno, and the two runs'
 * stdout and exit status are compared by tests/ts/guest.test.ts. So everything printed
 * here must be deterministic: print derived facts ("yes"/"no", sizes, errno names), never
 * addresses, pids, inode numbers or times. */
#ifndef GUEST_H
#define GUEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The symbolic name of an errno value ("E123" for one not listed). */
static inline const char *errname(int e)
{
    static char other[16];
    switch (e) {
    case 0: return "OK";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case E2BIG: return "E2BIG";
    case ENOEXEC: return "ENOEXEC";
    case EBADF: return "EBADF";
    case ECHILD: return "ECHILD";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case EFBIG: return "EFBIG";
    case ENOSPC: return "ENOSPC";
    case ESPIPE: return "ESPIPE";
    case EROFS: return "EROFS";
    case EMLINK: return "EMLINK";
    case EPIPE: return "EPIPE";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ELOOP: return "ELOOP";
    case EOVERFLOW: return "EOVERFLOW";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: snprintf(other, sizeof other, "E%d", e); return other;
    }
}

/* Runs `expr` (a syscall wrapper returning -1 + errno on failure) and prints
 * "label: VALUE" or "label: -1 ENAME". Evaluates to the result. */
#define SHOW(label, expr)                                                                  \
    ({                                                                                     \
        errno = 0;                                                                         \
        long show_r_ = (long)(expr);                                                       \
        if (show_r_ < 0)                                                                   \
            printf("%s: -1 %s\n", (label), errname(errno));                                \
        else                                                                               \
            printf("%s: %ld\n", (label), show_r_);                                         \
        show_r_;                                                                           \
    })

/* Like SHOW, but for calls returning 0 on success: prints "ok" or the errno name. */
#define OKAY(label, expr)                                                                  \
    ({                                                                                     \
        errno = 0;                                                                         \
        long okay_r_ = (long)(expr);                                                       \
        printf("%s: %s\n", (label), okay_r_ < 0 ? errname(errno) : "ok");                  \
        okay_r_;                                                                           \
    })

static inline const char *yesno(int b) { return b ? "yes" : "no"; }

/* 64-bit FNV-1a, continued from `h` (start with FNV_INIT). */
#define FNV_INIT 0xcbf29ce484222325ull
static inline uint64_t fnv1a(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* A deterministic byte pattern (xorshift64). */
static inline void fill_pattern(void *p, size_t n, uint64_t seed)
{
    unsigned char *b = p;
    uint64_t x = seed ? seed : 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[i] = (unsigned char)x;
    }
}

/* Failure counter: programs exit with status 1 when a CHECK failed. */
static int guest_failures __attribute__((unused));
#define CHECK(label, cond)                                                                 \
    do {                                                                                   \
        int check_ok_ = !!(cond);                                                          \
        printf("%s: %s\n", (label), check_ok_ ? "yes" : "no");                            \
        if (!check_ok_) guest_failures++;                                                  \
    } while (0)

#endif
