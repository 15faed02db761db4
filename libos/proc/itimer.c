/* alarm, setitimer, getitimer: ITIMER_REAL is a host timer of the VMM that fires as
 * SIGALRM into this process, even while it computes (the VMM interrupts the vCPU). */
#include "proc.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "sys/syscalls.h"

struct k_timeval {
    i64 sec, usec;
};
struct k_itimerval {
    struct k_timeval interval, value;
};

static u64 tv_ns(const struct k_timeval *t) { return (u64)t->sec * 1000000000ull + (u64)t->usec * 1000; }
static void ns_tv(u64 ns, struct k_timeval *t)
{
    t->sec = (i64)(ns / 1000000000ull);
    t->usec = (i64)((ns % 1000000000ull + 999) / 1000);
    if (t->usec == 1000000) {
        t->sec++;
        t->usec = 0;
    }
}

/* set: value/interval in ns; returns the old pair. */
static i64 itimer(int which, bool set, u64 value, u64 interval, u64 *ovalue, u64 *ointerval)
{
    u64 d[4] = {value, interval, 0, 0};
    struct ring_op op = {.op = UNO_OP_PROC, .arg = {UNO_PROC_ITIMER, (u64)which, set},
                         .in = d, .in_len = sizeof d, .out = d, .out_len = sizeof d};
    i64 r = ring_call(&op);
    if (r < 0)
        return r;
    *ovalue = d[0];
    *ointerval = d[1];
    return 0;
}

static int check_which(u64 which) { return which > 2 ? -EINVAL : 0; }

i64 sys_getitimer(u64 which, u64 uval)
{
    if (check_which(which))
        return -EINVAL;
    u64 v, i;
    i64 r = itimer((int)which, false, 0, 0, &v, &i);
    if (r)
        return r;
    struct k_itimerval o;
    ns_tv(v, &o.value);
    ns_tv(i, &o.interval);
    return copy_to_user((void *)uval, &o, sizeof o) ? -EFAULT : 0;
}

i64 sys_setitimer(u64 which, u64 unew, u64 uold)
{
    if (check_which(which))
        return -EINVAL;
    struct k_itimerval n;
    memset(&n, 0, sizeof n);
    if (unew && copy_from_user(&n, (void *)unew, sizeof n))
        return -EFAULT;
    if (n.value.usec < 0 || n.value.usec >= 1000000 || n.interval.usec < 0 ||
        n.interval.usec >= 1000000 || n.value.sec < 0 || n.interval.sec < 0)
        return -EINVAL;
    u64 v, i;
    i64 r = itimer((int)which, true, tv_ns(&n.value), tv_ns(&n.interval), &v, &i);
    if (r)
        return r;
    if (uold) {
        struct k_itimerval o;
        ns_tv(v, &o.value);
        ns_tv(i, &o.interval);
        if (copy_to_user((void *)uold, &o, sizeof o))
            return -EFAULT;
    }
    return 0;
}

i64 sys_alarm(u64 seconds)
{
    u64 v, i;
    i64 r = itimer(0, true, (u64)(u32)seconds * 1000000000ull, 0, &v, &i);
    if (r)
        return r;
    /* The seconds that were left, rounded as Linux rounds them (never 0 if armed). */
    u64 s = v / 1000000000ull, rem = v % 1000000000ull;
    if ((!s && rem) || rem >= 500000000ull)
        s++;
    return (i64)s;
}
