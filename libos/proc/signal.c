/* Signals: actions, masks, pending sets, and delivery at every return to the app.
 *
 * Signals come from three places: this process (raise, faults, SIGPIPE) through
 * signal_raise(); other processes and timers through the VMM, which ORs them into the
 * signal page (struct uno_sigpage) and, if the vCPU was running app code, enters the libOS
 * at the upcall; and nowhere else. Whatever the source, delivery happens on the way back
 * to the app: signal_deliver() picks the lowest unblocked pending signal, applies its
 * action, and builds a Linux frame for a handler (sigframe.c). The VMM must know which
 * signals should cut a blocking host operation short: signal_publish_interest(). */
#include "signal.h"
#include "proc.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "sys/syscalls.h"
#include "thread.h"

#define SIG_BLOCK 0
#define SIG_UNBLOCK 1
#define SIG_SETMASK 2
#define SS_ONSTACK 1
#define SS_DISABLE 2
#define SS_AUTODISARM (1u << 31)
#define MINSIGSTKSZ 2048

static struct uno_sigpage *sigpage;
static struct k_siginfo pinfo[NSIG]; /* siginfo of each pending signal */
/* Further instances of pending real-time signals, in arrival order. */
#define RTQ_LEN 64
static struct k_siginfo rtq[RTQ_LEN];
static int rtq_n;
static u64 routed; /* pending process signals a thread was told about (route_to_threads) */
#define SIGRTMIN_K 32

static u64 unblockable(void) { return SIGBIT(SIGKILL) | SIGBIT(SIGSTOP); }

enum dfl { DFL_TERM, DFL_CORE, DFL_IGN, DFL_STOP, DFL_CONT };

static enum dfl default_action(int sig)
{
    switch (sig) {
    case SIGCHLD: case SIGURG: case SIGWINCH: return DFL_IGN;
    case SIGCONT: return DFL_CONT;
    case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU: return DFL_STOP;
    case SIGQUIT: case SIGILL: case SIGTRAP: case SIGABRT: case SIGBUS: case SIGFPE:
    case SIGSEGV: case 24: case 25: case 31: return DFL_CORE;
    default: return DFL_TERM;
    }
}

static bool ignored(int sig)
{
    u64 h = proc.sigactions[sig - 1].handler;
    return h == SIG_IGN || (h == SIG_DFL && (default_action(sig) == DFL_IGN ||
                                             default_action(sig) == DFL_CONT));
}

void signal_init(void)
{
    sigpage = phys_to_virt(UNO_GPA_SIGPAGE);
    sigframe_init();
    signal_publish_interest();
}

void signal_publish_interest(void)
{
    u64 want = 0;
    for (int s = 1; s <= NSIG; s++)
        if (!ignored(s))
            want |= SIGBIT(s);
    want &= ~proc.sigmask;
    want |= unblockable();
    __atomic_store_n(&this_cpu()->vc.interest, want, __ATOMIC_SEQ_CST);
}

int signal_raise(int sig, const struct k_siginfo *info)
{
    if (sig < 1 || sig > NSIG)
        return -EINVAL;
    if (sig >= SIGRTMIN_K && (proc.sigpending & SIGBIT(sig))) {
        /* Real-time signals queue. */
        if (rtq_n >= RTQ_LEN)
            return -EAGAIN;
        struct k_siginfo *q = &rtq[rtq_n++];
        if (info) {
            *q = *info;
        } else {
            memset(q, 0, sizeof *q);
            q->si_code = SI_KERNEL;
        }
        q->si_signo = sig;
        signalfd_raised(sig);
        return 0;
    }
    if (!(proc.sigpending & SIGBIT(sig))) {
        if (info) {
            pinfo[sig - 1] = *info;
        } else {
            memset(&pinfo[sig - 1], 0, sizeof pinfo[0]);
            pinfo[sig - 1].si_code = SI_KERNEL;
        }
        pinfo[sig - 1].si_signo = sig;
    }
    proc.sigpending |= SIGBIT(sig);
    /* SIGCONT discards pending stops, a stop discards a pending SIGCONT (as Linux does). */
    if (sig == SIGCONT)
        proc.sigpending &= ~(SIGBIT(SIGSTOP) | SIGBIT(SIGTSTP) | SIGBIT(SIGTTIN) | SIGBIT(SIGTTOU));
    else if (default_action(sig) == DFL_STOP)
        proc.sigpending &= ~SIGBIT(SIGCONT);
    signalfd_raised(sig);
    return 0;
}

/* Take one instance of pending `sig`: its siginfo; the signal stays pending while more
 * instances of a real-time signal are queued. */
static void take_pending_one(int sig, struct k_siginfo *out)
{
    struct cpu *c = this_cpu();
    if (c->tpending & SIGBIT(sig)) {
        /* Sent to this thread alone (tgkill). */
        *out = c->tinfo[sig - 1];
        c->tpending &= ~SIGBIT(sig);
        return;
    }
    routed &= ~SIGBIT(sig);
    *out = pinfo[sig - 1];
    for (int i = 0; i < rtq_n; i++) {
        if (rtq[i].si_signo == sig) {
            pinfo[sig - 1] = rtq[i];
            memmove(&rtq[i], &rtq[i + 1], (u64)(rtq_n - i - 1) * sizeof rtq[0]);
            rtq_n--;
            return;
        }
    }
    proc.sigpending &= ~SIGBIT(sig);
}

static void take_from_vmm(void);

static void take_pending(int sig, struct k_siginfo *out)
{
    take_pending_one(sig, out);
    signalfd_taken(sig); /* a signalfd of it is readable only while another is pending */
}

/* For signalfd (fs/signalfd.c): what is pending for this thread, and taking one of `mask`
 * (0: none). */
u64 signal_pending_set(void)
{
    take_from_vmm();
    return proc.sigpending | this_cpu()->tpending;
}

int signal_dequeue(u64 mask, struct k_siginfo *info)
{
    u64 got = signal_pending_set() & mask & ~unblockable();
    if (!got)
        return 0;
    int sig = __builtin_ctzll(got) + 1;
    take_pending(sig, info);
    return sig;
}

void signal_set_mask(u64 m)
{
    proc.sigmask = m & ~unblockable();
    signal_publish_interest();
}

/* Move what the VMM left in the signal page into our pending set. */
static void take_from_vmm(void)
{
    if (!__atomic_load_n(&sigpage->pending, __ATOMIC_RELAXED) &&
        __atomic_load_n(&sigpage->q_tail, __ATOMIC_RELAXED) == sigpage->q_head)
        return;
    u64 bits = __atomic_exchange_n(&sigpage->pending, 0, __ATOMIC_SEQ_CST);
    /* Real-time signals come through the queue, in the order they were sent. */
    u32 tail = __atomic_load_n(&sigpage->q_tail, __ATOMIC_ACQUIRE);
    while (sigpage->q_head != tail) {
        const struct uno_sigq *q = &sigpage->q[sigpage->q_head % UNO_SIGQ_LEN];
        struct k_siginfo si;
        memset(&si, 0, sizeof si);
        si.si_code = q->code;
        si.kill.pid = q->sender > 0 ? q->sender : 0;
        si.rt.value = q->value;
        if (q->sig >= SIGRTMIN_K && q->sig <= NSIG)
            signal_raise(q->sig, &si);
        __atomic_store_n(&sigpage->q_head, sigpage->q_head + 1, __ATOMIC_RELEASE);
    }
    for (int s = 1; s < SIGRTMIN_K; s++) {
        if (!(bits & SIGBIT(s)))
            continue;
        struct k_siginfo si;
        memset(&si, 0, sizeof si);
        i32 from = (i32)sigpage->sender[s - 1];
        si.si_code = sigpage->code[s - 1];
        si.kill.pid = from > 0 ? from : 0;
        if (s == SIGCHLD && si.si_code > 0 && si.si_code != SI_KERNEL)
            si.kill.status = (i32)sigpage->value[s - 1];
        else if (si.si_code < 0)
            si.rt.value = sigpage->value[s - 1];
        signal_raise(s, &si);
    }
}

/* Process signals this thread blocks go to a thread that does not (a kick makes it look),
 * as Linux picks any thread of the group that can take them. */
static void route_to_threads(void)
{
    u64 stuck = proc.sigpending & proc.sigmask & ~routed;
    struct cpu *me = this_cpu();
    for (int i = 0; stuck && nthreads > 1 && i < UNO_MAX_VCPUS; i++) {
        struct cpu *t = cpus[i];
        if (!t || t == me || t->state != CPU_RUNNING || !(stuck & ~t->sigmask))
            continue;
        routed |= stuck & ~t->sigmask;
        stuck &= t->sigmask;
        t->vc.wake = 1;
        thread_kick(t);
    }
}

bool signal_pending(void)
{
    struct cpu *c = this_cpu();
    c->vc.wake = 0;
    take_from_vmm();
    route_to_threads();
    return ((proc.sigpending | c->tpending) & (~proc.sigmask | unblockable())) != 0;
}

/* A signal for thread t alone (tgkill, tkill). */
int signal_thread(struct cpu *t, int sig, const struct k_siginfo *info)
{
    if (sig < 1 || sig > NSIG)
        return -EINVAL;
    if (ignored(sig) && sig != SIGKILL && sig != SIGSTOP)
        return 0;
    if (sig == SIGKILL || sig == SIGSTOP || default_action(sig) == DFL_STOP)
        return signal_raise(sig, info); /* they act on the whole process */
    t->tinfo[sig - 1] = *info;
    t->tinfo[sig - 1].si_signo = sig;
    t->tpending |= SIGBIT(sig);
    signalfd_raised(sig);
    if (t != this_cpu() && !(t->sigmask & SIGBIT(sig))) {
        t->vc.wake = 1;
        thread_kick(t);
    }
    return 0;
}

/* The child starts with nothing pending; the VMM already cleared the copy of our signal
 * page and put there only what was sent to the child itself. */
void signal_fork_child(void)
{
    proc.sigpending = 0;
    rtq_n = 0;
    routed = 0;
}

/* vfork in place: the parent's pending signals' details wait aside while the child runs. */
static struct k_siginfo saved_pinfo[NSIG], saved_rtq[RTQ_LEN];
static int saved_rtq_n;

void signal_vfork_save(void)
{
    memcpy(saved_pinfo, pinfo, sizeof pinfo);
    memcpy(saved_rtq, rtq, sizeof rtq);
    saved_rtq_n = rtq_n;
}

void signal_vfork_restore(void)
{
    memcpy(pinfo, saved_pinfo, sizeof pinfo);
    memcpy(rtq, saved_rtq, sizeof rtq);
    rtq_n = saved_rtq_n;
}

static void tell_sigchld(void);

void signal_exec_reset(void)
{
    for (int s = 1; s <= NSIG; s++) {
        struct k_sigaction *ka = &proc.sigactions[s - 1];
        if (ka->handler != SIG_IGN)
            memset(ka, 0, sizeof *ka);
    }
    proc.altstack.sp = 0;
    proc.altstack.size = 0;
    proc.altstack.flags = SS_DISABLE;
    signal_publish_interest();
    tell_sigchld();
}

/* Stop the whole process until SIGCONT (the VMM tells the parent). */
static void stop_now(int sig)
{
    ring_flush();
    struct uno_hcall *hc = platform_hcall_block();
    hc->arg[0] = (u64)sig;
    platform_hypercall(UNO_HC_STOP);
}

/* A syscall frame that returned -EINTR goes back to its `syscall` instruction. */
static void restart_syscall(struct regs *r, u64 nr)
{
    r->rax = nr;
    r->rip -= 2;
}

void signal_deliver(struct regs *r, u64 nr, enum restart how)
{
    bool interrupted = how != RESTART_NONE && (i64)r->rax == -EINTR;
    for (;;) {
        take_from_vmm();
        u64 ready = (proc.sigpending | this_cpu()->tpending) & (~proc.sigmask | unblockable());
        if (!ready)
            break;
        int sig = __builtin_ctzll(ready) + 1;
        struct k_siginfo info;
        take_pending(sig, &info);
        struct k_sigaction *ka = &proc.sigactions[sig - 1];
        if (sig == SIGKILL)
            libos_die(SIGKILL);
        if (ka->handler == SIG_IGN && sig != SIGSTOP)
            continue;
        if (ka->handler == SIG_DFL || sig == SIGSTOP) {
            switch (default_action(sig)) {
            case DFL_IGN:
            case DFL_CONT:
                continue;
            case DFL_STOP:
                stop_now(sig);
                continue;
            default:
                syscall_report_enosys();
                libos_die(sig);
            }
        }
        /* A handler. */
        if (interrupted) {
            if (how == RESTART_SYS && (ka->flags & SA_RESTART))
                restart_syscall(r, nr);
            interrupted = false;
        }
        /* After sigsuspend the handler's frame holds the mask it replaced. */
        u64 oldmask = proc.has_saved_mask ? proc.saved_mask : proc.sigmask;
        proc.has_saved_mask = false;
        u64 handler = ka->handler, flags = ka->flags, restorer = ka->restorer;
        if (sigframe_setup(r, sig, &info, handler, flags, restorer, oldmask)) {
            /* No room for the frame: Linux kills with SIGSEGV. */
            syscall_report_enosys();
            libos_die(SIGSEGV);
        }
        proc.sigmask |= ka->mask | ((flags & SA_NODEFER) ? 0 : SIGBIT(sig));
        proc.sigmask &= ~unblockable();
        if (flags & SA_RESETHAND)
            memset(ka, 0, sizeof *ka);
        signal_publish_interest();
        /* Other pending signals get frames on top of this one, as Linux stacks them: the
         * last set up runs first. */
    }
    /* Interrupted by a signal that ran no handler (a stop, or one now ignored): resume. */
    if (interrupted)
        restart_syscall(r, nr);
    if (proc.has_saved_mask && !interrupted) {
        proc.has_saved_mask = false;
        signal_set_mask(proc.saved_mask);
    }
}

/* The VMM redirected the vCPU from app code (maybe_upcall in vmm/kvm.c). */
NORETURN void upcall_dispatch(struct regs *r)
{
    big_lock();
    struct cpu *c = this_cpu();
    const u64 *f = (const u64 *)c->vc.frame;
    u64 *g = (u64 *)r;
    for (int i = 0; i < 15; i++)
        g[i] = f[i]; /* r15 .. rdi: struct regs order */
    r->vector = r->error = 0;
    r->rip = f[15];
    r->rflags = f[16];
    r->rsp = f[17];
    r->cs = r->ss = 0;
    c->vc.upcall = 0;
    c->vc.wake = 0;
    platform_user_access_begin();
    signal_deliver(r, 0, RESTART_NONE);
    platform_user_access_end();
    big_unlock();
    arch_return_full(r);
}

NORETURN void signal_fault(struct regs *r, int sig, int code, u64 addr)
{
    struct k_sigaction *ka = &proc.sigactions[sig - 1];
    bool blocked = (proc.sigmask & SIGBIT(sig)) != 0;
    if (ka->handler <= SIG_IGN || blocked) {
        /* Linux forces the default action for a fault the program cannot take. */
        memset(ka, 0, sizeof *ka);
        proc.sigmask &= ~SIGBIT(sig);
    }
    if (ka->handler == SIG_DFL) {
        if (vfork_child_running())
            vfork_child_exit(sig);
        syscall_report_enosys();
        ring_flush();
        struct uno_hcall *hc = platform_hcall_block();
        hc->arg[0] = (u64)sig;
        hc->arg[1] = r->vector;
        hc->arg[2] = r->error;
        hc->arg[3] = r->rip;
        hc->arg[4] = r->rsp;
        for (;;)
            platform_hypercall(UNO_HC_FAULT);
    }
    struct k_siginfo si;
    memset(&si, 0, sizeof si);
    si.si_code = code;
    si.fault.addr = addr;
    signal_thread(this_cpu(), sig, &si); /* a fault is the faulting thread's */
    platform_user_access_begin();
    signal_deliver(r, 0, RESTART_NONE);
    platform_user_access_end();
    big_unlock();
    arch_return_full(r);
}

/* ---------------------------------------------------------------- system calls ------- */

/* How the VMMs treat our children: SIGCHLD ignored or SA_NOCLDWAIT (no zombies), and
 * SA_NOCLDSTOP. */
static void tell_sigchld(void)
{
    const struct k_sigaction *ka = &proc.sigactions[SIGCHLD - 1];
    u64 f = (ka->handler == SIG_IGN || (ka->flags & SA_NOCLDWAIT) ? UNO_CHLD_NOCLDWAIT : 0) |
            (ka->flags & SA_NOCLDSTOP ? UNO_CHLD_NOCLDSTOP : 0);
    struct ring_op op = {.op = UNO_OP_PROC, .arg = {UNO_PROC_SIGCHLD, f}};
    ring_call(&op);
}

i64 sys_rt_sigaction(u64 sig, u64 act, u64 old, u64 size)
{
    if (size != 8)
        return -EINVAL;
    if (sig < 1 || sig > NSIG)
        return -EINVAL;
    if (act && (sig == SIGKILL || sig == SIGSTOP))
        return -EINVAL;
    struct k_sigaction *ka = &proc.sigactions[sig - 1];
    struct k_sigaction n;
    if (act && copy_from_user(&n, (void *)act, sizeof n))
        return -EFAULT;
    if (old && copy_to_user((void *)old, ka, sizeof *ka))
        return -EFAULT;
    if (act) {
        n.mask &= ~unblockable();
        *ka = n;
        /* Setting SIG_IGN (or a default that ignores) discards it if pending. */
        if (ignored((int)sig)) {
            proc.sigpending &= ~SIGBIT(sig);
            for (int i = 0; i < UNO_MAX_VCPUS; i++)
                if (cpus[i])
                    cpus[i]->tpending &= ~SIGBIT(sig);
            for (int i = 0; i < rtq_n;)
                if (rtq[i].si_signo == (int)sig)
                    memmove(&rtq[i], &rtq[i + 1], (u64)(--rtq_n - i) * sizeof rtq[0]);
                else
                    i++;
        }
        signal_publish_interest();
        if (sig == SIGCHLD)
            tell_sigchld();
    }
    return 0;
}

i64 sys_rt_sigprocmask(u64 how, u64 set, u64 old, u64 size)
{
    if (size != 8)
        return -EINVAL;
    u64 prev = proc.sigmask;
    if (set) {
        u64 s;
        if (copy_from_user(&s, (void *)set, 8))
            return -EFAULT;
        switch (how) {
        case SIG_BLOCK: signal_set_mask(prev | s); break;
        case SIG_UNBLOCK: signal_set_mask(prev & ~s); break;
        case SIG_SETMASK: signal_set_mask(s); break;
        default: return -EINVAL;
        }
    }
    if (old && copy_to_user((void *)old, &prev, 8))
        return -EFAULT;
    return 0;
}

i64 sys_rt_sigpending(u64 set, u64 size)
{
    if (size > 8)
        return -EINVAL;
    take_from_vmm();
    u64 p = (proc.sigpending | this_cpu()->tpending) & proc.sigmask;
    return copy_to_user((void *)set, &p, size) ? -EFAULT : 0;
}

/* Sleep in the VMM until a signal of interest arrives. */
static i64 pause_in_host(void)
{
    struct ring_op op = {.op = UNO_OP_PROC, .arg = {UNO_PROC_PAUSE}, .blocking = true};
    while (!signal_pending())
        ring_call(&op);
    return -EINTR;
}

i64 sys_pause(void) { return pause_in_host(); }

/* sigsuspend, ppoll, pselect6: the app's mask at `uset` holds only while the call waits.
 * The mask it replaced goes back when the call returns, or, if a handler runs, when the
 * handler returns (it is the mask in the handler's frame: signal_deliver). */
int signal_wait_mask(u64 uset, u64 size)
{
    u64 m;
    if (size != 8)
        return -EINVAL;
    if (copy_from_user(&m, (void *)uset, 8))
        return -EFAULT;
    proc.saved_mask = proc.sigmask;
    proc.has_saved_mask = true;
    signal_set_mask(m);
    return 0;
}

i64 sys_rt_sigsuspend(u64 set, u64 size)
{
    int e = signal_wait_mask(set, size);
    return e ? e : pause_in_host();
}


i64 sys_rt_sigtimedwait(u64 set, u64 info, u64 ts, u64 size)
{
    u64 want;
    if (size != 8)
        return -EINVAL;
    if (copy_from_user(&want, (void *)set, 8))
        return -EFAULT;
    want &= ~unblockable();
    u64 deadline = 0;
    if (ts) {
        i64 t;
        int e = user_timespec_ns(ts, &t);
        if (e)
            return e;
        deadline = time_mono_ns() + (u64)t;
    }
    /* The waited-for signals must wake the VMM even though they are blocked. */
    u64 saved = proc.sigmask;
    for (;;) {
        take_from_vmm();
        u64 got = (proc.sigpending | this_cpu()->tpending) & want;
        if (got) {
            int sig = __builtin_ctzll(got) + 1;
            struct k_siginfo si;
            take_pending(sig, &si);
            signal_set_mask(saved);
            if (info && copy_to_user((void *)info, &si, sizeof si))
                return -EFAULT;
            return sig;
        }
        if (signal_pending()) {
            signal_set_mask(saved);
            return -EINTR;
        }
        if (ts && time_mono_ns() >= deadline) {
            signal_set_mask(saved);
            return -EAGAIN;
        }
        signal_set_mask(saved & ~want);
        if (ts) {
            struct uno_hcall *hc = platform_hcall_block();
            hc->arg[0] = 1; /* CLOCK_MONOTONIC */
            hc->arg[1] = deadline;
            hypercall_unlocked(UNO_HC_SLEEP);
        } else {
            struct ring_op op = {.op = UNO_OP_PROC, .arg = {UNO_PROC_PAUSE}, .blocking = true};
            ring_call(&op);
        }
    }
}

i64 sys_sigaltstack(u64 ss, u64 old)
{
    struct altstack n, cur = proc.altstack;
    if (ss && copy_from_user(&n, (void *)ss, 24))
        return -EFAULT;
    extern struct regs *current_frame;
    bool on = current_frame && on_altstack(current_frame->rsp);
    if (on)
        cur.flags = SS_ONSTACK;
    else if (!(cur.flags & SS_DISABLE))
        cur.flags &= (i32)SS_AUTODISARM;
    if (old && copy_to_user((void *)old, &cur, 24))
        return -EFAULT;
    if (ss) {
        if (on)
            return -EPERM;
        if (n.flags & ~(SS_DISABLE | SS_ONSTACK | (i32)SS_AUTODISARM))
            return -EINVAL;
        if (n.flags & SS_DISABLE) {
            n.sp = 0;
            n.size = 0;
        } else if (n.size < MINSIGSTKSZ) {
            return -ENOMEM;
        }
        n.flags &= ~SS_ONSTACK;
        proc.altstack = n;
    }
    return 0;
}

/* kill(2): processes are the VMMs' business; ourselves included, the VMM puts the signal
 * in our signal page before it answers. */
i64 sys_kill(u64 pid, u64 sig)
{
    if (sig > NSIG)
        return -EINVAL;
    struct ring_op op = {.op = UNO_OP_PROC, .arg = {UNO_PROC_KILL, (u64)(int)pid, sig}};
    return ring_call(&op);
}

/* sigqueue: a signal with a value; user code may only use negative si_codes on others. */
i64 sys_rt_sigqueueinfo(u64 pid, u64 sig, u64 uinfo)
{
    struct k_siginfo si;
    if (sig < 1 || sig > NSIG)
        return -EINVAL;
    if (copy_from_user(&si, (void *)uinfo, sizeof si))
        return -EFAULT;
    if ((si.si_code >= 0 || si.si_code == SI_TKILL) && (int)pid != proc.pid)
        return -EPERM;
    if ((int)pid == proc.pid) {
        si.si_signo = (i32)sig;
        return signal_raise((int)sig, &si);
    }
    u64 code = (u64)(u16)(i16)si.si_code;
    struct ring_op op = {.op = UNO_OP_PROC,
                         .arg = {UNO_PROC_KILL, (u64)(int)pid, sig | (code << 16), si.rt.value}};
    return ring_call(&op);
}

/* A signal for one thread of this process (tid) with its siginfo. */
static i64 to_thread(int tid, int sig, struct k_siginfo *si)
{
    struct cpu *t = thread_find(tid);
    if (!t)
        return -ESRCH;
    if (sig < 0 || sig > NSIG)
        return -EINVAL;
    if (sig == 0)
        return 0;
    return signal_thread(t, sig, si);
}

i64 sys_rt_tgsigqueueinfo(u64 tgid, u64 tid, u64 sig, u64 uinfo)
{
    struct k_siginfo si;
    if ((int)tgid != proc.pid) {
        if ((int)tgid != (int)tid)
            return -ESRCH;
        return sys_rt_sigqueueinfo(tgid, sig, uinfo);
    }
    if (sig < 1 || sig > NSIG)
        return -EINVAL;
    if (copy_from_user(&si, (void *)uinfo, sizeof si))
        return -EFAULT;
    if ((si.si_code >= 0 || si.si_code == SI_TKILL) && (int)tid != this_cpu()->tid)
        return -EPERM;
    si.si_signo = (i32)sig;
    return to_thread((int)tid, (int)sig, &si);
}

static i64 tkill_one(int tid, int sig)
{
    struct k_siginfo si;
    memset(&si, 0, sizeof si);
    si.si_code = SI_TKILL;
    si.kill.pid = proc.pid;
    si.kill.uid = proc.uid;
    return to_thread(tid, sig, &si);
}

/* tgkill/tkill: a thread of this process gets it alone; another process's (its main
 * thread, whose tid is its pid) through the VMMs. */
i64 sys_tgkill(u64 tgid, u64 tid, u64 sig)
{
    if ((int)tgid <= 0 || (int)tid <= 0)
        return -EINVAL;
    if ((int)tgid == proc.pid)
        return tkill_one((int)tid, (int)sig);
    if ((int)tgid != (int)tid)
        return -ESRCH;
    return sys_kill(tid, sig);
}

i64 sys_tkill(u64 tid, u64 sig)
{
    if ((int)tid <= 0)
        return -EINVAL;
    if (thread_find((int)tid))
        return tkill_one((int)tid, (int)sig);
    return sys_kill(tid, sig);
}
