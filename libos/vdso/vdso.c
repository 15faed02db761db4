/* The vDSO: clock_gettime, gettimeofday, time and clock_getres without a system call, and
 * getcpu (through one).
 * glibc and musl find it through AT_SYSINFO_EHDR and call these instead of trapping (a
 * `syscall` costs ~3 µs here, PVM.md). Time is the libOS's own clock: the TSC scaled by the
 * pair of readings the VMM took at boot, published in the read-only data page mapped just
 * below this code (exec/vdso.c fills it). Clocks it does not know go to the real system
 * call, so the answers are always the libOS's.
 *
 * Built as a tiny position-independent shared object (vdso.lds), embedded in the libOS, and
 * copied into every process; it must not need relocations, a stack protector or libc. */
#include "vdso_data.h"

extern const struct vdso_data vdso_data __attribute__((visibility("hidden")));

struct timespec_k {
    long sec, nsec;
};
struct timeval_k {
    long sec, usec;
};

static long raw_syscall2(long nr, long a, long b)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return ret;
}

static long raw_syscall3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}

static unsigned long long since_boot(const volatile struct vdso_data *d)
{
    unsigned int lo, hi;
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi));
    unsigned long long t = ((unsigned long long)hi << 32) | lo;
    if (t < d->tsc_base)
        return 0;
    return (unsigned long long)(((unsigned __int128)(t - d->tsc_base) * d->mult) >> d->shift);
}

/* Nanoseconds on `clock`, or -1 for a clock only the libOS can answer. */
static long long clock_ns(long clock)
{
    const volatile struct vdso_data *d = &vdso_data;
    switch (clock) {
    case VDSO_CLOCK_REALTIME:
    case VDSO_CLOCK_REALTIME_COARSE:
        return (long long)(d->wall_base + since_boot(d));
    case VDSO_CLOCK_MONOTONIC:
    case VDSO_CLOCK_MONOTONIC_RAW:
    case VDSO_CLOCK_MONOTONIC_COARSE:
    case VDSO_CLOCK_BOOTTIME:
        return (long long)(d->mono_base + since_boot(d));
    default:
        return -1;
    }
}

int __vdso_clock_gettime(long clock, struct timespec_k *ts)
{
    long long ns = clock_ns(clock);
    if (ns < 0)
        return (int)raw_syscall2(VDSO_NR_CLOCK_GETTIME, clock, (long)ts);
    ts->sec = (long)(ns / 1000000000);
    ts->nsec = (long)(ns % 1000000000);
    return 0;
}

int __vdso_gettimeofday(struct timeval_k *tv, void *tz)
{
    if (tz)
        return (int)raw_syscall2(VDSO_NR_GETTIMEOFDAY, (long)tv, (long)tz);
    if (tv) {
        long long ns = clock_ns(VDSO_CLOCK_REALTIME);
        tv->sec = (long)(ns / 1000000000);
        tv->usec = (long)(ns % 1000000000 / 1000);
    }
    return 0;
}

long __vdso_time(long *t)
{
    long s = (long)(clock_ns(VDSO_CLOCK_REALTIME) / 1000000000);
    if (t)
        *t = s;
    return s;
}

int __vdso_clock_getres(long clock, struct timespec_k *res)
{
    if (clock_ns(clock) < 0)
        return (int)raw_syscall2(VDSO_NR_CLOCK_GETRES, clock, (long)res);
    if (res) {
        res->sec = 0;
        res->nsec = 1;
    }
    return 0;
}

/* The CPU number comes from the libOS: rdtscp's TSC_AUX at CPL 3 is the host's on this KVM
 * (PVM.md), not the vCPU's. */
int __vdso_getcpu(unsigned *cpu, unsigned *node, void *unused)
{
    return (int)raw_syscall3(VDSO_NR_GETCPU, (long)cpu, (long)node, (long)unused);
}

int clock_gettime(long, struct timespec_k *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct timeval_k *, void *) __attribute__((weak, alias("__vdso_gettimeofday")));
long time(long *) __attribute__((weak, alias("__vdso_time")));
int clock_getres(long, struct timespec_k *) __attribute__((weak, alias("__vdso_clock_getres")));
int getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
