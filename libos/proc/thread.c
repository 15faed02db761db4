/* Threads: clone(CLONE_VM | CLONE_THREAD ...), exit of one thread, exec and fork of a
 * threaded process. Each thread gets a vCPU of its own (UNO_HC_VCPU_START): the host runs,
 * preempts and parallelizes them; the libOS only keeps their state and serializes itself
 * with the big lock (biglock.c). See docs/architecture.md, "Threads". */
#include "thread.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "sys/syscalls.h"

#define SS_DISABLE 2

extern char cpu0_block[], syscall_entry[], syscall_entry_end[];
extern struct { u64 user_rsp, kstack_top; } percpu_entry[UNO_MAX_VCPUS];
extern struct regs *current_frame;

struct cpu *cpus[UNO_MAX_VCPUS];
int nthreads = 1;
static struct cpu *exec_waiter; /* the thread waiting in thread_kill_others */

/* Guest-physical address of a libOS address (the image, or the direct map). */
static u64 va_to_gpa(const void *p)
{
    u64 va = (u64)p;
    return va >= UNO_VA_LIBOS ? bootinfo->libos_phys + (va - UNO_VA_LIBOS) : va - UNO_VA_DMAP;
}

static void cpu_setup(struct cpu *c, int index)
{
    c->index = index;
    c->vc.data_gpa = va_to_gpa((u8 *)c + CPU_DATA_OFF);
    percpu_entry[index].kstack_top = (u64)c + CPU_KSTACK_TOP;
}

void thread_init(void)
{
    if (syscall_entry_end - syscall_entry != UNO_MAX_VCPUS * UNO_SYSCALL_STRIDE)
        panic("syscall stubs are not %d bytes apart", UNO_SYSCALL_STRIDE);
    struct cpu *c = (struct cpu *)cpu0_block;
    cpus[0] = c;
    cpu_setup(c, 0);
    c->state = CPU_RUNNING;
    c->tid = proc.pid;
    nthreads = 1;
}

void thread_boot_done(void) { thread_switch_out(this_cpu()); }

struct cpu *thread_find(int tid)
{
    for (int i = 0; i < UNO_MAX_VCPUS; i++)
        if (cpus[i] && cpus[i]->state == CPU_RUNNING && cpus[i]->tid == tid)
            return cpus[i];
    return NULL;
}

void thread_switch_in(struct cpu *c)
{
    proc.sigmask = c->sigmask;
    proc.saved_mask = c->saved_mask;
    proc.has_saved_mask = c->has_saved_mask;
    proc.altstack = c->altstack;
    proc.clear_child_tid = c->clear_child_tid;
    proc.robust_list = c->robust_list;
    proc.robust_len = c->robust_len;
    current_frame = c->frame;
    if (c->die)
        thread_die();
}

void thread_switch_out(struct cpu *c)
{
    c->sigmask = proc.sigmask;
    c->saved_mask = proc.saved_mask;
    c->has_saved_mask = proc.has_saved_mask;
    c->altstack = proc.altstack;
    c->clear_child_tid = proc.clear_child_tid;
    c->robust_list = proc.robust_list;
    c->robust_len = proc.robust_len;
    c->frame = current_frame;
}

void thread_kick(struct cpu *c)
{
    struct uno_hcall *hc = platform_hcall_block();
    hc->arg[0] = (u64)c->index;
    platform_hypercall(UNO_HC_KICK);
}

void thread_wake_sleeper(struct cpu *c)
{
    volatile u32 *bell = phys_to_virt(UNO_MMIO_WAKE(c->index));
    *bell = 1;
}

i64 thread_block(int clock, u64 deadline, bool interruptible)
{
    struct uno_hcall *hc = platform_hcall_block();
    hc->arg[0] = (u64)clock;
    hc->arg[1] = deadline;
    hc->arg[2] = interruptible ? 0 : 1;
    hypercall_unlocked(UNO_HC_BLOCK);
    return hc->ret;
}

/* A block for a new thread: a slot whose last thread has left its vCPU, or a new one. */
static struct cpu *cpu_get(void)
{
    for (int i = 1; i < UNO_MAX_VCPUS; i++) {
        struct cpu *c = cpus[i];
        if (c && (c->state == CPU_FREE || (c->state == CPU_EXITING && c->vc.parked)))
            return c;
    }
    for (int i = 1; i < UNO_MAX_VCPUS; i++) {
        if (cpus[i])
            continue;
        u64 pa = frame_alloc_block(CPU_BLOCK / PAGE_SIZE);
        if (!pa)
            return NULL;
        cpus[i] = phys_to_virt(pa);
        cpu_setup(cpus[i], i);
        return cpus[i];
    }
    return NULL;
}

/* Its first instructions: wait for the parent to finish clone (the big lock), take on the
 * registers clone prepared, enter the app. */
static NORETURN void thread_start(void)
{
    big_lock();
    struct cpu *c = this_cpu();
    struct regs f = c->start;
    platform_set_fs(c->start_fs);
    platform_set_gs(rewrite_gs_base(c->index)); /* rewritten syscall sites jump through it */
    signal_publish_interest();
    big_unlock();
    arch_enter_user(&f);
}

i64 thread_clone(u64 flags, u64 newsp, u64 ptid, u64 ctid, u64 tls)
{
    const u64 need = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
    if ((flags & CLONE_THREAD) && !(flags & CLONE_SIGHAND))
        return -EINVAL;
    if ((flags & CLONE_SIGHAND) && !(flags & CLONE_VM))
        return -EINVAL;
    /* Threads that share everything, as pthreads are; other sharing combinations (a
     * CLONE_VM child with its own descriptor table...) are not supported. */
    if ((flags & need) != need || (flags & (CLONE_PIDFD | CLONE_PARENT | CLONE_VFORK)))
        return -ENOSYS;
    if (flags & ~(need | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |
                  CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID | CLONE_DETACHED | 0xff))
        return -EINVAL;
    if (vfork_child_running())
        return -ENOSYS;
    struct cpu *me = this_cpu(), *t = cpu_get();
    if (!t)
        return -EAGAIN;
    int index = t->index;
    memset(t, 0, sizeof *t);
    cpu_setup(t, index);
    t->sigmask = proc.sigmask;
    t->altstack.flags = SS_DISABLE; /* Linux clears it for a CLONE_VM thread */
    t->clear_child_tid = (flags & CLONE_CHILD_CLEARTID) ? ctid : 0;
    t->start = *current_frame;
    t->start.rax = 0;
    if (newsp)
        t->start.rsp = newsp;
    t->start_fs = (flags & CLONE_SETTLS) ? tls : platform_get_fs();
    /* Its TSS: vCPU 0's, with this block's exception stack. */
    memcpy(t->tss, phys_to_virt(UNO_GPA_CPU + 0x1000), sizeof t->tss);
    u64 exc = (u64)t + CPU_EXC_TOP;
    memcpy(t->tss + 4, &exc, 8);    /* rsp0 */
    memcpy(t->tss + 0x24, &exc, 8); /* ist1 */
    t->state = CPU_RUNNING;

    struct uno_hcall *hc = &me->vc.hc;
    hc->arg[0] = (u64)index;
    hc->arg[1] = va_to_gpa(t);
    hc->arg[2] = (u64)thread_start;
    hc->arg[3] = (u64)t + CPU_KSTACK_TOP;
    hc->arg[4] = (u64)t->tss;
    platform_hypercall(UNO_HC_VCPU_START);
    i64 tid = hc->ret;
    if (tid < 0) {
        t->state = CPU_FREE;
        return tid;
    }
    /* It waits for the big lock, which we hold until this call returns: the tids are in
     * place before it runs, as Linux guarantees. */
    t->tid = (int)tid;
    nthreads++;
    sched_thread_start(me, t);
    int v = (int)tid;
    if (flags & CLONE_PARENT_SETTID)
        copy_to_user((void *)ptid, &v, 4);
    if (flags & CLONE_CHILD_SETTID)
        copy_to_user((void *)ctid, &v, 4);
    return tid;
}

/* Leave the vCPU for good (the big lock held): the VMM parks it until a new thread. */
static NORETURN void leave(struct cpu *c)
{
    nthreads--;
    c->vc.parked = 0;
    c->state = CPU_EXITING;
    c->tpending = 0;
    if (exec_waiter)
        thread_wake_sleeper(exec_waiter);
    big_unlock();
    platform_hypercall(UNO_HC_VCPU_EXIT);
    for (;;)
        ;
}

NORETURN void thread_exit(int status)
{
    (void)status; /* only the last thread's status is the process's (sys_exit) */
    struct cpu *c = this_cpu();
    futex_exit_robust(c);
    if (proc.clear_child_tid) {
        /* "The thread is gone": pthread_join waits on this word. */
        u32 zero = 0;
        if (!copy_to_user((void *)proc.clear_child_tid, &zero, 4))
            futex_wake(proc.clear_child_tid, 1, ~0u);
    }
    leave(c);
}

NORETURN void thread_die(void) { leave(this_cpu()); }

/* exec from a threaded process: the others end first (at their next entry into the libOS,
 * which a kick forces), then the caller goes on alone. */
int thread_kill_others(void)
{
    struct cpu *me = this_cpu();
    if (nthreads == 1)
        return 0;
    for (int i = 0; i < UNO_MAX_VCPUS; i++) {
        struct cpu *t = cpus[i];
        if (!t || t == me || t->state != CPU_RUNNING)
            continue;
        t->die = true;
        t->vc.wake = 1;
        thread_kick(t);
        thread_wake_sleeper(t);
    }
    exec_waiter = me;
    while (nthreads > 1)
        thread_block(1, time_mono_ns() + 10000000ull, false);
    exec_waiter = NULL;
    me->tid = proc.pid; /* the thread that execs takes the process's id */
    return 0;
}

void thread_fork_child(void)
{
    struct cpu *me = this_cpu();
    for (int i = 0; i < UNO_MAX_VCPUS; i++)
        if (cpus[i] && cpus[i] != me)
            cpus[i]->state = CPU_FREE; /* no vCPU behind it in this VM */
    nthreads = 1;
    me->tid = proc.pid;
    me->tpending = 0;
    exec_waiter = NULL;
    futex_fork_child();
    big_lock_fork_child();
}

/* ---------------------------------------------------------------- system calls ------- */

i64 sys_gettid(void) { return this_cpu()->tid; }

i64 sys_set_tid_address(u64 p)
{
    proc.clear_child_tid = p;
    return this_cpu()->tid;
}
