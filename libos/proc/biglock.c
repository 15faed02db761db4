/* The big lock: one lock around all the libOS's state (descriptors, memory map, frames,
 * heap, signals, the shared ring, futex queues). A thread takes it when it enters the libOS
 * (system call, upcall, exception) and gives it back when it returns to the app; it lets go
 * while it waits in the host (a pipe read, a sleep, a futex), so one waiting thread never
 * holds up the others. Application code runs in parallel on every vCPU; the libOS itself
 * runs on one at a time, as Linux 2.0 did. Finer locks can come where measurements ask.
 *
 * A waiter spins briefly (the holder is usually a few microseconds from done), then sleeps
 * in the host (UNO_HC_BLOCK) with its bit in `waiters`; the holder wakes one sleeper by its
 * doorbell when it lets go. The spin matters on one host CPU too: the holder may be running
 * its host call on the VMM's I/O thread. */
#include "thread.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"

static volatile u32 locked;
static volatile u64 waiters; /* bit n: vCPU n sleeps waiting for the lock */
static volatile int owner = -1;

#define SPIN_TSC 30000 /* ~10 us */

static bool try_lock(void) { return __atomic_exchange_n(&locked, 1, __ATOMIC_ACQUIRE) == 0; }

static void lock_slow(struct cpu *c)
{
    u64 until = platform_rdtsc() + SPIN_TSC;
    while (platform_rdtsc() < until) {
        if (!__atomic_load_n(&locked, __ATOMIC_RELAXED) && try_lock())
            return;
        cpu_relax();
    }
    u64 bit = 1ull << c->index;
    for (;;) {
        __atomic_or_fetch(&waiters, bit, __ATOMIC_SEQ_CST);
        if (try_lock())
            break;
        struct uno_hcall *hc = &c->vc.hc;
        hc->arg[0] = 1; /* CLOCK_MONOTONIC */
        hc->arg[1] = 0;
        hc->arg[2] = 1; /* not interrupted by signals: they are looked at once we hold it */
        platform_hypercall(UNO_HC_BLOCK);
    }
    __atomic_and_fetch(&waiters, ~bit, __ATOMIC_SEQ_CST);
}

void big_lock(void)
{
    struct cpu *c = this_cpu();
    if (!try_lock())
        lock_slow(c);
    owner = c->index;
    thread_switch_in(c);
}

void big_unlock(void)
{
    struct cpu *c = this_cpu();
    thread_switch_out(c);
    owner = -1;
    __atomic_store_n(&locked, 0, __ATOMIC_SEQ_CST);
    u64 w = __atomic_load_n(&waiters, __ATOMIC_SEQ_CST) & ~(1ull << c->index);
    if (w) {
        int n = __builtin_ctzll(w);
        if (cpus[n])
            thread_wake_sleeper(cpus[n]);
    }
}

bool big_lock_held(void) { return locked && owner == this_cpu()->index; }

/* The hypercall's results (ret, and the arguments some calls write back) are kept aside
 * while the lock is taken again: a contended big_lock() makes hypercalls of its own
 * (UNO_HC_BLOCK) through the same per-vCPU block, which would overwrite them. */
void hypercall_unlocked(u32 nr)
{
    struct uno_hcall *hc = platform_hcall_block();
    big_unlock();
    platform_hypercall(nr);
    struct uno_hcall result = *hc;
    big_lock();
    *hc = result;
}

void big_lock_fork_child(void) { waiters = 0; }
