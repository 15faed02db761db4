/* Threads. Each guest thread runs on its own vCPU (docs/architecture.md, "Threads"), so a
 * thread is also "a CPU": its state lives in a per-vCPU block, aligned to its size, that
 * holds the thread's struct cpu, the data buffer of its host calls, its exception stack and
 * its kernel stack. Code on any of those stacks finds its struct cpu from rsp. */
#ifndef PROC_THREAD_H
#define PROC_THREAD_H
#include "libos/types.h"
#include "proc.h"
#include "signal.h"
#include "../../abi/uno_abi.h"

#define CPU_BLOCK 0x20000ull         /* keep equal to entry.S */
#define CPU_DATA_OFF 0x4000ull       /* UNO_RING_SLOT bytes for UNO_HC_HOSTCALL */
#define CPU_EXC_TOP 0xc000ull        /* exception stack (TSS RSP0 and IST1) */
#define CPU_KSTACK_TOP (CPU_BLOCK - 64)

enum cpu_state { CPU_FREE = 0, CPU_RUNNING, CPU_EXITING };

struct cpu {
    struct uno_vcpu vc;           /* shared with the VMM: first, entry.S and the VMM rely on it */
    int index;                    /* vCPU number */
    volatile int state;           /* enum cpu_state */
    int tid;
    volatile bool die;            /* another thread execs: leave at the next chance */
    /* The thread's own part of the signal state. While the thread holds the big lock it is
     * in `proc` (and current_frame), where the rest of the libOS looks for it. */
    u64 sigmask, saved_mask;
    bool has_saved_mask;
    struct altstack altstack;
    u64 clear_child_tid, robust_list, robust_len;
    struct regs *frame;
    /* Signals sent to this thread alone (tgkill, tkill). */
    u64 tpending;
    struct k_siginfo tinfo[NSIG];
    /* Waiting on a futex (futex.c). */
    volatile int woken;
    volatile int sleeping;        /* in the host: a waker must ring its doorbell */
    u64 fkey;
    u32 fbitset;
    struct cpu *fnext;
    /* How a new thread starts: its first registers and TLS. */
    struct regs start;
    u64 start_fs;
    u8 tss[104] __attribute__((aligned(16)));
};

_Static_assert(sizeof(struct cpu) <= CPU_DATA_OFF, "struct cpu overlaps its data buffer");

static inline struct cpu *this_cpu(void)
{
    u64 sp;
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
    return (struct cpu *)(sp & ~(CPU_BLOCK - 1));
}

extern struct cpu *cpus[UNO_MAX_VCPUS]; /* blocks made so far (NULL: never used) */
extern int nthreads;                    /* threads alive in this process */

/* thread.c */
void thread_init(void);                 /* at boot, on vCPU 0 */
void thread_boot_done(void);            /* the boot's view of `proc` becomes thread 0's */
struct cpu *thread_find(int tid);
void thread_switch_in(struct cpu *c);   /* big lock taken: its state into `proc` */
void thread_switch_out(struct cpu *c);  /* big lock about to go */
void thread_kick(struct cpu *c);        /* make it look at vc.wake now */
int thread_kill_others(void);           /* exec: the other threads end first */
NORETURN void thread_exit(int status);  /* exit(2) of one thread */
NORETURN void thread_die(void);         /* ended by another thread's exec */
void thread_fork_child(void);           /* in a fork's child: only this thread is left */
i64 thread_clone(u64 flags, u64 newsp, u64 ptid, u64 ctid, u64 tls);
int thread_signal(struct cpu *t, int sig, const struct k_siginfo *info);
void thread_wake_sleeper(struct cpu *c); /* its UNO_HC_BLOCK returns */
/* Sleep in the host until woken (thread_wake_sleeper), the deadline, or a signal:
 * 0, -ETIMEDOUT or -EINTR. The big lock is released meanwhile. */
i64 thread_block(int clock, u64 deadline, bool interruptible);

/* biglock.c: one lock around all libOS state; held from entry to the return to the app,
 * released while the thread waits in the host. */
void big_lock(void);
void big_unlock(void);
bool big_lock_held(void);
void big_lock_fork_child(void);        /* the other threads' waits are the parent's */
/* A hypercall that may wait: made without the big lock. */
void hypercall_unlocked(u32 nr);

/* sched.c */
void sched_fork_child(void);
u64 sched_affinity(void); /* the calling thread's CPUs (0: all) */
void sched_init(void);
void sched_thread_start(const struct cpu *parent, const struct cpu *child);

/* futex.c */
int futex_wake(u64 uaddr, int n, u32 bitset);
void futex_exit_robust(struct cpu *c);
void futex_fork_child(void);

#endif
