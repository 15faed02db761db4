/* Clocks and sleeping. Reading a clock never leaves the guest (TSC scaled by the boot-time
 * pair the VMM took); sleeping is one hypercall, so the vCPU thread sleeps in the host. */
#include "proc/thread.h"
#include "syscalls.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "mm/mm.h"
#include "proc/proc.h"

#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define CLOCK_PROCESS_CPUTIME_ID 2
#define CLOCK_THREAD_CPUTIME_ID 3
#define CLOCK_MONOTONIC_RAW 4
#define CLOCK_REALTIME_COARSE 5
#define CLOCK_MONOTONIC_COARSE 6
#define CLOCK_BOOTTIME 7
#define TIMER_ABSTIME 1


/* CPU time the host counted (UNO_HC_CPUTIME): the process, or the thread on vCPU n. */
static i64 host_cputime(u64 which, u64 n, u64 *sys_ns)
{
    struct uno_hcall *hc = platform_hcall_block();
    hc->arg[0] = which;
    hc->arg[1] = n;
    hc->arg[2] = 0;
    platform_hypercall(UNO_HC_CPUTIME);
    *sys_ns = hc->arg[2];
    return hc->ret;
}

u64 cpu_time_ns(bool thread, u64 *sys_ns)
{
    i64 ns = host_cputime(thread ? UNO_CPUTIME_VCPU : UNO_CPUTIME_PROCESS,
                          (u64)this_cpu()->index, sys_ns);
    if (ns < 0)
        ns = 0, *sys_ns = 0;
    if (*sys_ns > (u64)ns)
        *sys_ns = (u64)ns;
    return (u64)ns;
}

u64 vcpu_time_ns(int index)
{
    u64 sys;
    i64 ns = host_cputime(UNO_CPUTIME_VCPU, (u64)index, &sys);
    return ns < 0 ? 0 : (u64)ns;
}

/* A clock id made by clock_getcpuclockid/pthread_getcpuclockid: ~pid << 3 | which, bit 2 for
 * a thread (Linux's CPUCLOCK_* encoding). This process and its own threads only. */
#define CPUCLOCK_PERTHREAD 4
#define CPUCLOCK_VIRT 1
#define CPUCLOCK_SCHED 2
static int cpuclock_ns(i64 clock, u64 *ns)
{
    int id = (int)~(clock >> 3), which = (int)(clock & 3);
    if (which == 3)
        return -EINVAL;
    u64 sys;
    i64 r;
    if (clock & CPUCLOCK_PERTHREAD) {
        struct cpu *t = id == 0 ? this_cpu() : thread_find(id);
        if (!t)
            return -EINVAL;
        r = host_cputime(UNO_CPUTIME_VCPU, (u64)t->index, &sys);
    } else {
        if (id != 0 && id != proc.pid)
            return -EINVAL; /* another process's clock: not offered (docs/architecture.md) */
        r = host_cputime(UNO_CPUTIME_PROCESS, 0, &sys);
    }
    if (r < 0)
        return -EINVAL;
    *ns = which == CPUCLOCK_VIRT && sys <= (u64)r ? (u64)r - sys : (u64)r;
    return 0;
}

static int clock_ns(u64 clock, u64 *ns)
{
    if ((i32)clock < 0) /* a clockid_t is an int: the upper half of the register is not ours */
        return cpuclock_ns((i32)clock, ns);
    clock = (u32)clock;
    switch (clock) {
    case CLOCK_REALTIME:
    case CLOCK_REALTIME_COARSE:
        *ns = time_wall_ns();
        return 0;
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_RAW:
    case CLOCK_MONOTONIC_COARSE:
    case CLOCK_BOOTTIME:
        *ns = time_mono_ns();
        return 0;
    case CLOCK_PROCESS_CPUTIME_ID:
    case CLOCK_THREAD_CPUTIME_ID: {
        /* The host's count: the vCPU threads run the app and the libOS, so their CPU time
         * is the process's (one exit to read it). */
        u64 sys;
        *ns = cpu_time_ns(clock == CLOCK_THREAD_CPUTIME_ID, &sys);
        return 0;
    }
    default:
        return -EINVAL;
    }
}

i64 sys_clock_gettime(u64 clock, u64 ts)
{
    u64 ns;
    int r = clock_ns(clock, &ns);
    if (r)
        return r;
    struct k_timespec t = {(i64)(ns / 1000000000ull), (i64)(ns % 1000000000ull)};
    return copy_to_user((void *)ts, &t, sizeof t);
}

i64 sys_clock_getres(u64 clock, u64 ts)
{
    u64 ns;
    int r = clock_ns(clock, &ns);
    if (r)
        return r;
    if (ts) {
        struct k_timespec t = {
            0, (clock == CLOCK_REALTIME_COARSE || clock == CLOCK_MONOTONIC_COARSE) ? 4000000 : 1};
        return copy_to_user((void *)ts, &t, sizeof t);
    }
    return 0;
}

static int read_ts(u64 p, u64 *ns);

/* Setting the clock: the host's clock is not the instance's to change, so a container's
 * answer (no CAP_SYS_TIME): EPERM for the settable clock, EINVAL for the others. */
i64 sys_clock_settime(u64 clock, u64 ts)
{
    u64 ns;
    if ((u32)clock != CLOCK_REALTIME)
        return -EINVAL;
    int r = read_ts(ts, &ns);
    return r ? r : -EPERM;
}

i64 sys_settimeofday(u64 tv, u64 tz)
{
    (void)tz;
    i64 t[2];
    if (tv && copy_from_user(t, (const void *)tv, sizeof t))
        return -EFAULT;
    if (tv && (t[0] < 0 || t[1] < 0 || t[1] >= 1000000))
        return -EINVAL;
    return -EPERM;
}

i64 sys_gettimeofday(u64 tv, u64 tz)
{
    u64 ns = time_wall_ns();
    if (tv) {
        i64 t[2] = {(i64)(ns / 1000000000ull), (i64)((ns % 1000000000ull) / 1000)};
        if (copy_to_user((void *)tv, t, sizeof t))
            return -EFAULT;
    }
    if (tz) {
        i32 z[2] = {0, 0};
        if (copy_to_user((void *)tz, z, sizeof z))
            return -EFAULT;
    }
    return 0;
}

i64 sys_time(u64 t)
{
    i64 s = (i64)(time_wall_ns() / 1000000000ull);
    if (t && copy_to_user((void *)t, &s, sizeof s))
        return -EFAULT;
    return s;
}

static i64 sleep_until(u64 clock, u64 deadline)
{
    struct uno_hcall *hc = platform_hcall_block();
    hc->arg[0] = clock == CLOCK_REALTIME ? 0 : 1;
    hc->arg[1] = deadline;
    hypercall_unlocked(UNO_HC_SLEEP);
    return hc->ret == -EINTR ? -EINTR : 0;
}

int sleep_for_ns(u64 ns)
{
    return (int)sleep_until(CLOCK_MONOTONIC, time_mono_ns() + ns);
}

int user_timespec_ns(u64 uts, i64 *ns)
{
    if (!uts) {
        *ns = -1;
        return 0;
    }
    struct k_timespec t;
    if (copy_from_user(&t, (const void *)uts, sizeof t))
        return -EFAULT;
    if (t.sec < 0 || t.nsec < 0 || t.nsec >= 1000000000)
        return -EINVAL;
    *ns = t.sec >= 9223372036 ? (i64)0x7fffffffffffffffll : t.sec * 1000000000 + t.nsec;
    return 0;
}

/* A time the call needs (NULL is EFAULT, as Linux's copy of it fails). */
static int read_ts(u64 p, u64 *ns)
{
    i64 t = 0;
    int e = p ? user_timespec_ns(p, &t) : -EFAULT;
    *ns = (u64)t;
    return e;
}

i64 sys_clock_nanosleep(u64 clock, u64 flags, u64 req, u64 rem)
{
    u64 ns, now;
    if (clock == CLOCK_THREAD_CPUTIME_ID || ((i32)clock < 0 && (clock & CPUCLOCK_PERTHREAD)))
        return -EINVAL;
    if ((i32)clock < 0 || clock == CLOCK_PROCESS_CPUTIME_ID)
        return -EOPNOTSUPP; /* sleeping until a CPU-time deadline: not offered */
    int r = clock_ns(clock, &now);
    if (r)
        return r;
    r = read_ts(req, &ns);
    if (r)
        return r;
    u64 deadline;
    if (flags & TIMER_ABSTIME)
        deadline = ns;
    else
        deadline = now + ns;
    if (deadline <= now)
        return 0;
    /* Guest clocks are the host's clocks (same base, read through the TSC), so the
     * deadline means the same on the host side. */
    r = (int)sleep_until(clock == CLOCK_REALTIME ? CLOCK_REALTIME : CLOCK_MONOTONIC, deadline);
    if (r == -EINTR && rem && !(flags & TIMER_ABSTIME)) {
        /* Interrupted by a signal: what was left of a relative sleep. */
        clock_ns(clock, &now);
        u64 left = deadline > now ? deadline - now : 0;
        struct k_timespec t = {(i64)(left / 1000000000ull), (i64)(left % 1000000000ull)};
        if (copy_to_user((void *)rem, &t, sizeof t))
            return -EFAULT;
    }
    return r;
}

i64 sys_nanosleep(u64 req, u64 rem)
{
    return sys_clock_nanosleep(CLOCK_MONOTONIC, 0, req, rem);
}
