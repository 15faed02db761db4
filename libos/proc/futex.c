/* futex(2) and robust lists. The waiters of all futexes are one list of threads (at most
 * UNO_MAX_VCPUS), keyed by address, under the big lock. A waiter sleeps in the host
 * (UNO_HC_BLOCK, no spinning); a waker takes it off the list and rings its doorbell, which
 * costs no exit to the VMM. The threads of one process share one address space, so the key
 * is the address, PRIVATE or not. A futex in memory shared with other processes (the
 * shared region, a shared file mapping: process-shared semaphores, mutexes, condition
 * variables) may be woken from another VM, which cannot reach our waiter list: a waiter on
 * such a word, unless the caller said PRIVATE, also wakes every millisecond to look at the
 * word, and returns as woken once it changed (docs/architecture.md, "Threads"). */
#include "thread.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "sys/syscalls.h"

#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_REQUEUE 3
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_OP 5
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_BITSET_MATCH_ANY 0xffffffffu

#define FUTEX_WAITERS 0x80000000u
#define FUTEX_OWNER_DIED 0x40000000u
#define FUTEX_TID_MASK 0x3fffffffu

static struct cpu *waiters; /* threads in futex_wait, newest first */


static void enqueue(struct cpu *c)
{
    c->fnext = waiters;
    waiters = c;
}

static bool dequeue(struct cpu *c)
{
    for (struct cpu **p = &waiters; *p; p = &(*p)->fnext) {
        if (*p == c) {
            *p = c->fnext;
            c->fnext = NULL;
            return true;
        }
    }
    return false;
}

/* Wake (or move to `to`) up to n waiters on uaddr matching bitset, oldest first. */
static int wake_or_move(u64 uaddr, int n, u32 bitset, u64 to)
{
    int done = 0;
    while (done < n) {
        struct cpu *oldest = NULL;
        for (struct cpu *c = waiters; c; c = c->fnext)
            if (c->fkey == uaddr && (c->fbitset & bitset))
                oldest = c;
        if (!oldest)
            break;
        if (to) {
            oldest->fkey = to; /* stays queued, now on the other futex */
            /* (moving it to the front keeps "oldest" finding the others) */
            dequeue(oldest);
            enqueue(oldest);
        } else {
            dequeue(oldest);
            oldest->woken = 1;
            if (oldest->sleeping) /* else it is still spinning: no doorbell needed */
                thread_wake_sleeper(oldest);
        }
        done++;
    }
    return done;
}

int futex_wake(u64 uaddr, int n, u32 bitset) { return wake_or_move(uaddr, n, bitset, 0); }

static int read_word(u64 uaddr, u32 *val)
{
    if (uaddr & 3)
        return -EINVAL;
    return copy_from_user(val, (const void *)uaddr, 4) ? -EFAULT : 0;
}

/* Before sleeping in the host, spin a little when the waker can be running on another
 * CPU meanwhile: a wake within microseconds then costs no host round trip (~50 us here). */
#define SPIN_TSC 90000 /* ~30 us */

static void spin_for_wake(struct cpu *c)
{
    if (nthreads < 2 || bootinfo->ncpus < 2)
        return;
    big_unlock();
    u64 until = platform_rdtsc() + SPIN_TSC;
    while (!__atomic_load_n(&c->woken, __ATOMIC_ACQUIRE) && platform_rdtsc() < until)
        cpu_relax();
    big_lock();
}

#define SHARED_POLL_NS 1000000ull

/* The word lives in memory another process (VM) can write. */
static bool shared_word(u64 uaddr)
{
    u64 pa = pt_lookup(uaddr) & PTE_ADDR;
    return shared_page(pa) || filemap_page(pa);
}

static u64 clock_now(int clock) { return clock == 0 ? time_wall_ns() : time_mono_ns(); }

static i64 futex_wait(u64 uaddr, u32 val, u64 deadline, int clock, u32 bitset, bool priv)
{
    bool poll = !priv && shared_word(uaddr);
    u32 cur;
    int e = read_word(uaddr, &cur);
    if (e)
        return e;
    if (cur != val)
        return -EAGAIN;
    struct cpu *c = this_cpu();
    c->fkey = uaddr;
    c->fbitset = bitset;
    c->woken = 0;
    c->sleeping = 0;
    enqueue(c);
    spin_for_wake(c);
    i64 ret;
    for (;;) {
        if (c->woken) {
            ret = 0;
            break;
        }
        if (signal_pending()) {
            ret = -EINTR;
            break;
        }
        c->sleeping = 1; /* under the big lock: a waker from now on rings the doorbell */
        u64 until = deadline;
        if (poll) {
            u64 slice = clock_now(clock) + SHARED_POLL_NS;
            until = deadline && deadline < slice ? deadline : slice;
        }
        i64 r = thread_block(clock, until, true);
        c->sleeping = 0;
        if (c->woken) {
            ret = 0;
            break;
        }
        if (poll && (read_word(uaddr, &cur) || cur != val)) {
            ret = 0; /* another process changed it: as good as its wake */
            break;
        }
        if (r == -ETIMEDOUT && (!poll || (deadline && clock_now(clock) >= deadline))) {
            ret = -ETIMEDOUT;
            break;
        }
    }
    dequeue(c);
    return ret;
}

/* The deadline of a wait: FUTEX_WAIT's timeout is relative (CLOCK_MONOTONIC, or
 * CLOCK_REALTIME with the flag), FUTEX_WAIT_BITSET's absolute on that clock. */
static int deadline_of(u64 uts, bool absolute, int clock, u64 *out)
{
    *out = 0;
    if (!uts)
        return 0;
    i64 t;
    int e = user_timespec_ns(uts, &t);
    if (e)
        return e;
    u64 ns = (u64)t;
    if (absolute)
        *out = ns ? ns : 1;
    else
        *out = (clock == 0 ? time_wall_ns() : time_mono_ns()) + ns;
    return 0;
}

/* FUTEX_WAKE_OP: *uaddr2 = *uaddr2 OP oparg, atomically; the old value decides whether the
 * waiters of uaddr2 are woken too. */
static int wake_op_apply(u64 uaddr2, u32 encoded, bool *cmp_true)
{
    u32 op = (encoded >> 28) & 7, cmp = (encoded >> 24) & 15;
    i32 oparg = ((i32)(encoded << 8)) >> 20, cmparg = ((i32)(encoded << 20)) >> 20;
    if ((encoded >> 28) & 8)
        oparg = (oparg < 0 || oparg > 31) ? 0 : 1 << oparg;
    if (op > 4 || cmp > 5)
        return -ENOSYS;
    if ((uaddr2 & 3) || !user_ok((void *)uaddr2, 4, PROT_READ | PROT_WRITE))
        return -EFAULT;
    platform_user_access_begin();
    u32 *p = (u32 *)uaddr2, old = __atomic_load_n(p, __ATOMIC_SEQ_CST), nw;
    do {
        switch (op) {
        case 0: nw = (u32)oparg; break;
        case 1: nw = old + (u32)oparg; break;
        case 2: nw = old | (u32)oparg; break;
        case 3: nw = old & ~(u32)oparg; break;
        default: nw = old ^ (u32)oparg; break;
        }
    } while (!__atomic_compare_exchange_n(p, &old, nw, false, __ATOMIC_SEQ_CST,
                                          __ATOMIC_SEQ_CST));
    platform_user_access_end();
    i32 o = (i32)old;
    switch (cmp) {
    case 0: *cmp_true = o == cmparg; break;
    case 1: *cmp_true = o != cmparg; break;
    case 2: *cmp_true = o < cmparg; break;
    case 3: *cmp_true = o <= cmparg; break;
    case 4: *cmp_true = o > cmparg; break;
    default: *cmp_true = o >= cmparg; break;
    }
    return 0;
}

i64 sys_futex(u64 uaddr, u64 op, u64 val, u64 uts, u64 uaddr2, u64 val3)
{
    int cmd = (int)(op & ~(u64)(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME));
    int clock = (op & FUTEX_CLOCK_REALTIME) ? 0 : 1; /* CLOCK_REALTIME : CLOCK_MONOTONIC */
    if ((op & FUTEX_CLOCK_REALTIME) && cmd != FUTEX_WAIT_BITSET)
        return -ENOSYS; /* as Linux: only the absolute waits take a clock */
    u64 deadline;
    int e;
    switch (cmd) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET: {
        u32 bitset = cmd == FUTEX_WAIT ? FUTEX_BITSET_MATCH_ANY : (u32)val3;
        if (!bitset)
            return -EINVAL;
        if ((e = deadline_of(uts, cmd == FUTEX_WAIT_BITSET, clock, &deadline)))
            return e;
        return futex_wait(uaddr, (u32)val, deadline, clock, bitset,
                          (op & FUTEX_PRIVATE_FLAG) != 0);
    }
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET: {
        u32 bitset = cmd == FUTEX_WAKE ? FUTEX_BITSET_MATCH_ANY : (u32)val3;
        if (!bitset)
            return -EINVAL;
        if (uaddr & 3)
            return -EINVAL;
        return futex_wake(uaddr, (int)MIN(val, 0x7fffffffull), bitset);
    }
    case FUTEX_REQUEUE:
    case FUTEX_CMP_REQUEUE: {
        /* The requeue count travels in the timeout argument. */
        int nwake = (int)MIN(val, 0x7fffffffull), nmove = (int)MIN(uts, 0x7fffffffull);
        if ((int)val < 0 || (int)uts < 0 || (uaddr & 3) || (uaddr2 & 3))
            return -EINVAL;
        if (cmd == FUTEX_CMP_REQUEUE) {
            u32 cur;
            if ((e = read_word(uaddr, &cur)))
                return e;
            if (cur != (u32)val3)
                return -EAGAIN;
        }
        int woken = futex_wake(uaddr, nwake, FUTEX_BITSET_MATCH_ANY);
        int moved = uaddr2 == uaddr ? 0 : wake_or_move(uaddr, nmove, FUTEX_BITSET_MATCH_ANY, uaddr2);
        return woken + moved; /* both, as Linux counts them (not as futex(2) says) */
    }
    case FUTEX_WAKE_OP: {
        bool also = false;
        if (uaddr & 3)
            return -EINVAL;
        if ((e = wake_op_apply(uaddr2, (u32)val3, &also)))
            return e;
        int n = futex_wake(uaddr, (int)MIN(val, 0x7fffffffull), FUTEX_BITSET_MATCH_ANY);
        if (also)
            n += futex_wake(uaddr2, (int)MIN(uts, 0x7fffffffull), FUTEX_BITSET_MATCH_ANY);
        return n;
    }
    default:
        return -ENOSYS; /* PI futexes, FUTEX_WAIT_REQUEUE_PI, FUTEX_LOCK_PI2 */
    }
}

/* ---------------------------------------------------------------- robust lists ------- */

struct robust_list_head {
    u64 next;
    i64 futex_offset;
    u64 list_op_pending;
};

/* A robust mutex the dead thread still held: mark it OWNER_DIED and wake one waiter, so the
 * next locker gets EOWNERDEAD. */
static void robust_release(u64 uaddr, int tid)
{
    if ((uaddr & 3) || !user_ok((void *)uaddr, 4, PROT_READ | PROT_WRITE))
        return;
    platform_user_access_begin();
    u32 *p = (u32 *)uaddr, old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    bool mine;
    while ((mine = (old & FUTEX_TID_MASK) == (u32)tid)) {
        u32 nw = (old & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
        if (__atomic_compare_exchange_n(p, &old, nw, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            break;
    }
    platform_user_access_end();
    if (mine)
        futex_wake(uaddr, 1, FUTEX_BITSET_MATCH_ANY);
}

void futex_exit_robust(struct cpu *c)
{
    u64 head = proc.robust_list;
    struct robust_list_head h;
    if (!head || copy_from_user(&h, (const void *)head, sizeof h))
        return;
    u64 pending = h.list_op_pending & ~1ull;
    u64 entry = h.next & ~1ull;
    for (int limit = 0; entry && entry != head && limit < 2048; limit++) {
        u64 next;
        if (copy_from_user(&next, (const void *)entry, 8))
            break;
        if (entry != pending)
            robust_release(entry + (u64)h.futex_offset, c->tid);
        entry = next & ~1ull;
    }
    if (pending)
        robust_release(pending + (u64)h.futex_offset, c->tid);
    proc.robust_list = 0;
}

i64 sys_get_robust_list(u64 tid, u64 head_ptr, u64 len_ptr)
{
    struct cpu *t = tid ? thread_find((int)tid) : this_cpu();
    if (!t)
        return -ESRCH;
    u64 head = t == this_cpu() ? proc.robust_list : t->robust_list, len = 24;
    if (copy_to_user((void *)head_ptr, &head, 8) || copy_to_user((void *)len_ptr, &len, 8))
        return -EFAULT;
    return 0;
}

void futex_fork_child(void) { waiters = NULL; }
