/* fork, vfork, clone and clone3 without CLONE_VM: a new process is a new micro-VM. The VMM
 * forks itself (UNO_HC_FORK); the child VMM builds a VM over its copy-on-write copy of our
 * memory and resumes this very call with 0 as the result. So everything the libOS keeps
 * (descriptors, signal handlers, the address space) is copied as Linux copies it, and the
 * host descriptors behind pipes and writable-layer files are shared with their offsets.
 * Files of the read-only image keep their offsets in the libOS: after a fork, parent and
 * child each have their own (a difference from Linux, see docs/architecture.md). */
#include "net/rxahead.h"
#include "proc.h"
#include "signal.h"
#include "thread.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "sys/syscalls.h"
#include "fs/vfs.h"
#include "fs/devfs.h"

extern struct regs *current_frame;

/* vfork in place: while the child runs in our VM, what the parent gets back afterwards. */
static struct {
    bool active;
    struct regs frame; /* the parent's vfork system call, to return from */
    int pid, ppid;
    struct proc saved;  /* identity, signal state, limits */
    char cwd[PATH_MAX];
    u64 fs, gs;
} vf;

bool vfork_child_running(void) { return vf.active; }

static i64 vfork_inplace(u64 flags, u64 newsp)
{
    ring_flush();
    struct uno_hcall *hc = platform_hcall_block();
    hc->arg[0] = UNO_FORK_INPLACE | ((flags & 0xff) << 8);
    platform_hypercall(UNO_HC_FORK);
    if (hc->ret < 0)
        return hc->ret;
    vf.active = true;
    vf.frame = *current_frame;
    vf.frame.rax = hc->arg[2]; /* what vfork returns to the parent: the child's pid */
    vf.saved = proc;
    memcpy(vf.cwd, cwd_path, sizeof vf.cwd);
    vf.fs = platform_get_fs();
    vf.gs = platform_get_gs();
    fd_table_save();
    signal_vfork_save();
    proc.pid = (int)hc->arg[2];
    proc.ppid = (int)hc->arg[3];
    this_cpu()->tid = proc.pid;
    signal_fork_child();
    if (newsp)
        current_frame->rsp = newsp;
    return 0;
}

/* The child is gone from this VM (exited, or exec'd into its own): the parent resumes its
 * vfork call with the child's pid. */
static NORETURN void vfork_resume_parent(void)
{
    static struct regs frame;
    vf.active = false;
    fd_table_restore();
    proc = vf.saved;
    this_cpu()->tid = proc.pid;
    signal_vfork_restore();
    memcpy(cwd_path, vf.cwd, sizeof vf.cwd);
    platform_set_fs(vf.fs);
    platform_set_gs(vf.gs);
    signal_set_mask(proc.sigmask); /* republishes what the VMM should wake us for */
    frame = vf.frame;
    big_unlock();
    arch_enter_user(&frame);
}

/* The in-place vfork child ends (exit or a fatal signal): status as wait encodes it. */
NORETURN void vfork_child_exit(int status)
{
    syscall_report_enosys();
    ring_flush();
    struct uno_hcall *hc = platform_hcall_block();
    hc->arg[0] = (u64)status;
    platform_hypercall(UNO_HC_VFORK_END);
    vfork_resume_parent();
}

/* The in-place vfork child is about to replace its program: now it needs a VM of its own.
 * Returns in the child (its own VM); the parent's VM resumes the parent instead. */
int vfork_child_exec(void)
{
    ring_flush();
    struct uno_hcall *hc = platform_hcall_block();
    hc->arg[0] = UNO_FORK_VFORK_EXEC;
    platform_hypercall(UNO_HC_FORK);
    if (hc->ret < 0)
        return (int)hc->ret;
    if (hc->ret > 0)
        vfork_resume_parent();
    vf.active = false;
    fd_table_forget_saved();
    devfs_random_fork((u32)proc.pid);
    return 0;
}

static i64 do_fork(u64 flags, u64 newsp, u64 ptid, u64 ctid, u64 tls)
{
    /* A thread (CLONE_VM without CLONE_VFORK): thread.c. */
    if ((flags & CLONE_VM) && !(flags & CLONE_VFORK))
        return thread_clone(flags, newsp, ptid, ctid, tls);
    if (flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_FILES | CLONE_FS | CLONE_PIDFD |
                 CLONE_PARENT | CLONE_NAMESPACES))
        return -ENOSYS;
    /* vfork: the child borrows this VM (and so our memory) until it execs or exits. A vfork
     * from a vfork child gets a VM at once, and so does one from a threaded process: the
     * other threads must keep running with their own descriptors and signal state. */
    upper_mark_active(); /* from now on another process may change the writable layer */
    if ((flags & CLONE_VFORK) && (flags & CLONE_VM) && !vf.active && nthreads == 1)
        return vfork_inplace(flags, newsp);
    ring_flush(); /* nothing of ours may be in flight while the VMM forks */
    struct uno_hcall *hc = platform_hcall_block();
    hc->arg[0] = ((flags & CLONE_VFORK) ? UNO_FORK_VFORK : 0) | ((flags & 0xff) << 8);
    hc->arg[1] = newsp;
    /* The child maps our shared pages and holds our open files: their status flags go to
     * shared memory, as Linux shares an open file description. */
    int e = fd_share_for_fork();
    if (e)
        return e;
    shared_fork();
    platform_hypercall(UNO_HC_FORK);
    i64 ret = hc->ret;
    if (ret < 0) {
        shared_fork_failed();
        return ret;
    }
    if (ret == 0) {
        /* The child: a copy of us in a new VM. A fork from an in-place vfork child: the
         * vforked parent saved aside in our copy of memory is not this child's to resume. */
        if (vf.active) {
            vf.active = false;
            fd_table_forget_saved();
        }
        proc.ppid = (int)hc->arg[3];
        proc.pid = (int)hc->arg[2];
        thread_fork_child();
        sched_fork_child();
        signal_fork_child();
        rx_fork_child();
        devfs_random_fork((u32)proc.pid);
        if (newsp)
            current_frame->rsp = newsp;
        if (flags & CLONE_SETTLS)
            platform_set_fs(tls);
        int pid = proc.pid;
        if ((flags & CLONE_CHILD_SETTID) && ctid)
            copy_to_user((void *)ctid, &pid, sizeof pid);
        proc.clear_child_tid = (flags & CLONE_CHILD_CLEARTID) ? ctid : 0;
        return 0;
    }
    if ((flags & CLONE_PARENT_SETTID) && ptid) {
        int pid = (int)ret;
        copy_to_user((void *)ptid, &pid, sizeof pid);
    }
    return ret;
}

i64 sys_fork(void) { return do_fork(17 /* SIGCHLD */, 0, 0, 0, 0); }
i64 sys_vfork(void) { return do_fork(CLONE_VM | CLONE_VFORK | 17, 0, 0, 0, 0); }

i64 sys_clone(u64 flags, u64 newsp, u64 ptid, u64 ctid, u64 tls)
{
    return do_fork(flags, newsp, ptid, ctid, tls);
}

struct clone_args {
    u64 flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    u64 set_tid, set_tid_size, cgroup;
};

i64 sys_clone3(u64 uargs, u64 size)
{
    struct clone_args a;
    memset(&a, 0, sizeof a);
    if (size < 64 || size > 4096)
        return -EINVAL;
    if (copy_from_user(&a, (void *)uargs, MIN(size, sizeof a)))
        return -EFAULT;
    if (a.set_tid || a.set_tid_size || (a.flags & 0xff) || a.exit_signal > 64)
        return -EINVAL;
    u64 sp = a.stack ? a.stack + a.stack_size : 0;
    return do_fork(a.flags | a.exit_signal, sp, a.parent_tid, a.child_tid, a.tls);
}
