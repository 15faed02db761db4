/* The processes of one instance. Each guest process is a uno-vmm host process; what Linux
 * keeps in its task list lives in a table in a memfd that every VMM of the instance maps
 * (PID 1's VMM creates it; fork inherits it): pids as the guest sees them, parents,
 * process groups, sessions, statuses for wait, and the signals sent to each process.
 * A process-shared robust mutex guards it (a VMM can die holding it: SIGKILL).
 *
 * Guest semantics never depend on the host's process tree: a child reports its own exit
 * in the table before its VMM ends, a stop likewise, and the parent waits on the table.
 * The host tree only matters for cleaning up: PID 1's VMM is a child subreaper, so every
 * VMM of the instance stays below it, and host zombies are reaped whenever convenient. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

#define PROC_MAX 4096

enum { P_FREE = 0, P_ALIVE, P_STOPPED, P_EXITED, P_THREAD /* a tid of process `tgid` */ };
#define REPORT_STOPPED 1
#define REPORT_CONTINUED 2

/* Linux signal numbers and wait options, as the guest uses them. */
#define G_SIGKILL 9
#define G_SIGALRM 14
#define G_SIGCHLD 17
#define G_SIGCONT 18
#define G_SIGSTOP 19
#define G_SIGTSTP 20
#define G_SIGTTIN 21
#define G_SIGTTOU 22
#define BIT(sig) (1ull << ((sig)-1))
#define STOP_BITS (BIT(G_SIGSTOP) | BIT(G_SIGTSTP) | BIT(G_SIGTTIN) | BIT(G_SIGTTOU))
#define G_WNOHANG 1
#define G_WSTOPPED 2
#define G_WEXITED 4
#define G_WCONTINUED 8
#define G_WNOWAIT 0x1000000
#define G_P_ALL 0
#define G_P_PID 1
#define G_P_PGID 2

struct proc_entry {
    int32_t state;
    int32_t pid, ppid, pgid, sid;
    int32_t host_pid, vcpu_tid;
    int32_t tgid;       /* P_THREAD: the process it belongs to */
    int32_t status;   /* wait status: exit/signal when P_EXITED, stop when P_STOPPED */
    int32_t report;   /* REPORT_* the parent has not collected */
    int32_t execed;
    int32_t exit_signal; /* sent to the parent at exit (SIGCHLD, or a clone child's) */
    int32_t chld_flags;  /* UNO_CHLD_* of this process as a parent */
    uint64_t pending; /* signals sent to it, not yet taken into its guest (atomic) */
    int32_t sender[64]; /* who sent each of them */
    int32_t code[64];   /* and how (si_code) */
    uint64_t value[64]; /* sigqueue's value, a child's status */
    uint32_t qn;        /* real-time signals queue, in order (under the lock) */
    struct uno_sigq q[UNO_SIGQ_LEN];
    int64_t utime_us, stime_us, maxrss_kb;
    struct uno_procname name; /* what /proc shows the others (UNO_PROC_SETNAME) */
};

struct instance {
    pthread_mutex_t lock;
    int32_t next_pid, nprocs, limit, fg_pgrp, dying;
    struct proc_entry p[PROC_MAX];
};

static struct instance *inst;

static void lock(void)
{
    if (pthread_mutex_lock(&inst->lock) == EOWNERDEAD)
        pthread_mutex_consistent(&inst->lock); /* its holder was killed mid-update */
}
static void unlock(void) { pthread_mutex_unlock(&inst->lock); }

static struct proc_entry *find(int pid)
{
    for (int i = 0; i < PROC_MAX; i++)
        if (inst->p[i].state != P_FREE && inst->p[i].state != P_THREAD && inst->p[i].pid == pid)
            return &inst->p[i];
    return NULL;
}

static bool live(const struct proc_entry *e) { return e->state == P_ALIVE || e->state == P_STOPPED; }

/* A process group exists while any member is in the table, zombies included: a pipeline's
 * later processes join (and give the terminal to) the group of a first one that may have
 * exited already. Called locked. */
static bool group_in_session(int32_t pgid, int32_t sid)
{
    for (int i = 0; i < PROC_MAX; i++) {
        const struct proc_entry *e = &inst->p[i];
        if ((live(e) || e->state == P_EXITED) && e->pgid == pgid && e->sid == sid)
            return true;
    }
    return false;
}

static void kick(struct proc_entry *e)
{
    if (e->host_pid > 0 && e->vcpu_tid > 0)
        syscall(SYS_tgkill, e->host_pid, e->vcpu_tid, SIGKICK);
}

static void post_info(struct proc_entry *e, int sig, int32_t from, int32_t code, uint64_t value)
{
    e->sender[sig - 1] = from;
    e->code[sig - 1] = code;
    e->value[sig - 1] = value;
    __atomic_fetch_or(&e->pending, BIT(sig), __ATOMIC_SEQ_CST);
    kick(e);
}

/* A signal from the system (no sender): SI_KERNEL. */
static void post(struct proc_entry *e, int sig) { post_info(e, sig, 0, 0x80, 0); }

static struct uno_sigpage *sigpage(struct vmm *v)
{
    return gpa_ptr(v, UNO_GPA_SIGPAGE, sizeof(struct uno_sigpage));
}

/* PID 1's VMM as a pidfd, inherited by every VMM forked from it: when it ends, however it
 * ends (killed with uno, say), the rest of the instance ends too (ring.c's I/O thread
 * watches it). PID 1's VMM itself dies with the uno process that started it. */
int instance_pidfd = -1;

static void tie_to_parent(void)
{
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) /* it ended before the request took effect */
        _exit(VMM_EXIT_ERROR);
    instance_pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
}

int proc_init_instance(struct vmm *v, int limit)
{
    tie_to_parent();
    int fd = memfd_create("uno-procs", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, sizeof *inst) < 0) {
        fprintf(stderr, "uno-vmm: cannot create the process table: %s\n", strerror(errno));
        return -1;
    }
    inst = mmap(NULL, sizeof *inst, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (inst == MAP_FAILED) {
        fprintf(stderr, "uno-vmm: cannot map the process table: %s\n", strerror(errno));
        return -1;
    }
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&inst->lock, &a);
    inst->next_pid = 2;
    inst->limit = limit > 0 && limit <= PROC_MAX ? limit : PROC_MAX;
    inst->nprocs = 1;
    inst->fg_pgrp = 1;
    struct proc_entry *e = &inst->p[0];
    *e = (struct proc_entry){.state = P_ALIVE, .pid = 1, .ppid = 0, .pgid = 1, .sid = 1,
                             .host_pid = getpid(), .vcpu_tid = gettid(),
                             .exit_signal = G_SIGCHLD};
    v->self = e;
    v->vcpu_tid = gettid();
    pthread_getcpuclockid(pthread_self(), &v->vcpu_clock);
    v->vfork_fd = -1;
    /* Orphaned VMMs stay below us, so they can be found and reaped. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    return 0;
}

/* ---------------------------------------------------------------- signals ------------ */

/* Interval timer `which` expired (called from the kick's signal handler). */
void proc_timer_fired(struct vmm *v, int which)
{
    static const int sigs[3] = {G_SIGALRM, 26 /* SIGVTALRM */, 27 /* SIGPROF */};
    if (which < 0 || which > 2)
        return;
    int sig = sigs[which];
    v->self->sender[sig - 1] = 0;
    v->self->code[sig - 1] = 0x80; /* SI_KERNEL, as Linux's itimers */
    __atomic_fetch_or(&v->self->pending, BIT(sig), __ATOMIC_SEQ_CST);
}

void proc_take_signals(struct vmm *v)
{
    uint64_t bits = __atomic_exchange_n(&v->self->pending, 0, __ATOMIC_SEQ_CST);
    struct uno_sigpage *sp = sigpage(v);
    if (!bits || !sp)
        return;
    if (bits >> 31) {
        /* Real-time signals travel in order through the queues. */
        struct proc_entry *me = v->self;
        lock();
        uint32_t k = 0;
        while (k < me->qn && sp->q_tail - sp->q_head < UNO_SIGQ_LEN) {
            sp->q[sp->q_tail % UNO_SIGQ_LEN] = me->q[k++];
            __atomic_store_n(&sp->q_tail, sp->q_tail + 1, __ATOMIC_RELEASE);
        }
        memmove(me->q, me->q + k, (me->qn - k) * sizeof me->q[0]);
        me->qn -= k;
        if (me->qn) /* the rest once the guest made room */
            __atomic_fetch_or(&me->pending, bits & ~0x7fffffffull, __ATOMIC_SEQ_CST);
        unlock();
    }
    for (int i = 0; i < 64; i++) {
        if (bits & (1ull << i)) {
            sp->sender[i] = v->self->sender[i];
            sp->code[i] = v->self->code[i];
            sp->value[i] = v->self->value[i];
        }
    }
    __atomic_fetch_or(&sp->pending, bits, __ATOMIC_SEQ_CST);
    signalfd_posted(v, bits); /* after: a signalfd reader woken by it finds it pending */
}

/* Must vCPU c's thread look at its signals now: a process signal it does not block, or news
 * the libOS left for it (uno_vcpu.wake)? */
bool proc_signal_wanted_by(struct vmm *v, struct vcpu *c)
{
    proc_take_signals(v);
    struct uno_sigpage *sp = sigpage(v);
    struct uno_vcpu *vc = vcpu_shared(v, c);
    if (!sp || !vc)
        return false;
    return vc->wake || (sp->pending & (vc->interest | BIT(G_SIGKILL) | BIT(G_SIGSTOP)));
}

bool proc_signal_wanted(struct vmm *v) { return proc_signal_wanted_by(v, this_vcpu); }

/* Kicks for this process go to host thread `host_tid` (which routes them, vcpu.c). */
void proc_move_kick_target(struct vmm *v, pid_t from, pid_t to)
{
    if (v->self)
        __atomic_compare_exchange_n(&v->self->vcpu_tid, &from, to, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST);
}

/* ---------------------------------------------------------------- thread ids --------- */

static int32_t alloc_pid(void);

/* A new thread's tid comes from the instance's pid space, so it never equals a pid, a
 * process group or a session (as on Linux); it counts against --pids-limit. */
int32_t proc_thread_alloc(struct vmm *v, struct vcpu *c)
{
    if (!inst)
        return -EAGAIN;
    lock();
    struct proc_entry *e = NULL;
    for (int i = 0; i < PROC_MAX && !e; i++)
        if (inst->p[i].state == P_FREE)
            e = &inst->p[i];
    int32_t tid = e && !inst->dying && inst->nprocs < inst->limit ? alloc_pid() : -1;
    if (tid > 0) {
        *e = (struct proc_entry){.state = P_THREAD, .pid = tid, .ppid = -1, .pgid = -1,
                                 .sid = -1, .tgid = v->self->pid, .host_pid = getpid()};
        inst->nprocs++;
        c->tid_entry = e;
    }
    unlock();
    return tid > 0 ? tid : -EAGAIN;
}

void proc_thread_free(struct vmm *v, struct vcpu *c)
{
    (void)v;
    if (!c)
        return;
    struct proc_entry *e = c->tid_entry;
    c->tid_entry = NULL;
    if (!inst || !e)
        return;
    lock();
    if (e->state == P_THREAD && e->host_pid == getpid()) {
        e->state = P_FREE;
        inst->nprocs--;
    }
    unlock();
}

/* A signal from outside the instance (the uno CLI forwarding SIGTERM, a terminal's ^C):
 * to the guest's PID 1, as `docker kill` does. Called from a signal handler. */
void proc_host_signal(struct vmm *v, int guest_sig)
{
    (void)v;
    if (inst)
        post(&inst->p[0], guest_sig);
}

/* ---------------------------------------------------------------- exit and wait ------ */

static int32_t alloc_pid(void)
{
    for (int tries = 0; tries < 1 << 22; tries++) {
        int32_t pid = inst->next_pid++;
        if (inst->next_pid >= 4194304)
            inst->next_pid = 2;
        bool used = false;
        for (int i = 0; i < PROC_MAX && !used; i++) {
            const struct proc_entry *e = &inst->p[i];
            used = e->state != P_FREE && (e->pid == pid || e->pgid == pid || e->sid == pid);
        }
        if (!used)
            return pid;
    }
    return -1;
}

/* e is gone with `status`: its children go to PID 1, its parent hears SIGCHLD. Under lock. */
static void mark_exited(struct proc_entry *e, int32_t status)
{
    e->state = P_EXITED;
    e->status = status;
    e->report = 0;
    bool zombies = false;
    for (int i = 0; i < PROC_MAX; i++) {
        struct proc_entry *c = &inst->p[i];
        if (c->state == P_THREAD && c->tgid == e->pid) {
            c->state = P_FREE; /* its threads' tids */
            inst->nprocs--;
            continue;
        }
        if (c->state != P_FREE && c->ppid == e->pid && c != e) {
            c->ppid = 1;
            zombies |= c->state == P_EXITED;
        }
    }
    if (zombies)
        post(&inst->p[0], G_SIGCHLD);
    struct proc_entry *parent = find(e->ppid);
    if (parent && live(parent)) {
        if (parent->chld_flags & UNO_CHLD_NOCLDWAIT) {
            /* Nobody will wait: no zombie (its VMM's host zombie is reaped as usual). */
            e->state = P_FREE;
            inst->nprocs--;
            kick(parent); /* a wait in progress may now have no children at all */
        } else if (e->exit_signal > 0 && e->exit_signal <= 64) {
            bool sig = (status & 0x7f) != 0;
            post_info(parent, e->exit_signal, e->pid, sig ? CLD_KILLED : CLD_EXITED,
                      sig ? (uint64_t)(status & 0x7f) : (uint64_t)((status >> 8) & 0xff));
        } else {
            kick(parent); /* no signal, but a wait may be for this child */
        }
    }
    if (e->pid == 1) {
        /* The instance ends with its PID 1, as a PID namespace does. */
        inst->dying = 1;
        for (int i = 0; i < PROC_MAX; i++) {
            struct proc_entry *o = &inst->p[i];
            if (o != e && live(o) && o->host_pid > 0) {
                o->state = P_EXITED;
                o->status = G_SIGKILL;
                kill(o->host_pid, SIGKILL);
            }
        }
    }
}

void proc_exit(struct vmm *v, int32_t status)
{
    if (!inst)
        return;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    lock();
    struct proc_entry *e = v->self;
    e->utime_us = ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
    e->stime_us = ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
    e->maxrss_kb = ru.ru_maxrss;
    if (live(e))
        mark_exited(e, status);
    unlock();
}

/* VMMs that ended without saying so (killed from outside, crashed): their status from the
 * host. Also reaps the host zombies of VMMs that did report. Under lock. */
static void host_reap(void)
{
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
            return;
        for (int i = 0; i < PROC_MAX; i++) {
            struct proc_entry *e = &inst->p[i];
            if (live(e) && e->host_pid == si.si_pid) {
                int32_t st = si.si_code == CLD_EXITED ? (si.si_status & 0xff) << 8
                                                      : (si.si_status & 0x7f);
                mark_exited(e, st);
            }
        }
    }
}

static bool wait_match(const struct proc_entry *c, const struct proc_entry *me, int idtype,
                       int id, int opts)
{
    if (c->state == P_FREE || c->ppid != me->pid || c == me)
        return false;
    /* A "clone" child (exit signal other than SIGCHLD) is waited for with __WCLONE. */
    bool clone_child = c->exit_signal != G_SIGCHLD;
    if (!(opts & UNO_WAIT_WALL) && clone_child != !!(opts & (int)UNO_WAIT_WCLONE))
        return false;
    switch (idtype) {
    case G_P_PID: return c->pid == id;
    case G_P_PGID: return c->pgid == (id ? id : me->pgid);
    default: return true;
    }
}

/* One pass over the children: fills *wi and returns its pid, 0 if children exist but none
 * has news, -ECHILD if there are none. Under lock. */
static int wait_scan(struct vmm *v, int idtype, int id, int opts, struct uno_waitinfo *wi)
{
    struct proc_entry *me = v->self;
    bool any = false;
    for (int i = 0; i < PROC_MAX; i++) {
        struct proc_entry *c = &inst->p[i];
        if (!wait_match(c, me, idtype, id, opts))
            continue;
        any = true;
        memset(wi, 0, sizeof *wi);
        wi->pid = c->pid;
        if (c->state == P_EXITED && (opts & G_WEXITED)) {
            wi->status = c->status;
            bool sig = (c->status & 0x7f) != 0;
            wi->code = sig ? CLD_KILLED : CLD_EXITED;
            wi->sig = sig ? (c->status & 0x7f) : (c->status >> 8) & 0xff;
            wi->utime_us = c->utime_us;
            wi->stime_us = c->stime_us;
            wi->maxrss_kb = c->maxrss_kb;
            if (!(opts & G_WNOWAIT)) {
                if (c->host_pid > 0)
                    waitpid(c->host_pid, NULL, WNOHANG);
                c->state = P_FREE;
                inst->nprocs--;
            }
            return wi->pid;
        }
        if (c->state == P_STOPPED && (c->report & REPORT_STOPPED) && (opts & G_WSTOPPED)) {
            wi->status = c->status;
            wi->code = CLD_STOPPED;
            wi->sig = (c->status >> 8) & 0xff;
            if (!(opts & G_WNOWAIT))
                c->report &= ~REPORT_STOPPED;
            return wi->pid;
        }
        if ((c->report & REPORT_CONTINUED) && (opts & G_WCONTINUED)) {
            wi->status = 0xffff;
            wi->code = CLD_CONTINUED;
            wi->sig = G_SIGCONT;
            if (!(opts & G_WNOWAIT))
                c->report &= ~REPORT_CONTINUED;
            return wi->pid;
        }
    }
    return any ? 0 : -ECHILD;
}

static int64_t proc_wait(struct vmm *v, struct ring_req *r, bool may_block)
{
    int idtype = (int)r->arg[1], id = (int)r->arg[2], opts = (int)r->arg[3];
    if (idtype != G_P_ALL && idtype != G_P_PID && idtype != G_P_PGID)
        return -EINVAL;
    if (r->len < sizeof(struct uno_waitinfo))
        return -EINVAL;
    for (;;) {
        lock();
        host_reap();
        int pid = wait_scan(v, idtype, id, opts, (struct uno_waitinfo *)r->data);
        unlock();
        if (pid != 0 || (opts & G_WNOHANG))
            return pid;
        if (!may_block)
            return -EAGAIN;
        /* A child's end kicks the process's kick target (one vCPU thread). A wait on
         * another thread's vCPU (a thread of a threaded process) is not woken by that kick:
         * it looks again every few milliseconds. */
        bool kicked_here = this_vcpu && this_vcpu->host_tid == v->self->vcpu_tid;
        uint64_t deadline = kicked_here ? 0 : now_ns(CLOCK_MONOTONIC) + 5000000ull;
        int b = block_wait(v, NULL, 0, deadline, true);
        if (b == -EINTR)
            return -EINTR;
    }
}

/* ---------------------------------------------------------------- stop and continue -- */

/* A stop or continue: the parent hears SIGCHLD unless it asked not to (SA_NOCLDSTOP). */
static void notify_parent(struct proc_entry *parent, struct proc_entry *me)
{
    if (!parent || !live(parent))
        return;
    if (parent->chld_flags & UNO_CHLD_NOCLDSTOP)
        kick(parent); /* a waitpid(WUNTRACED) still wants to know */
    else if (me->state == P_STOPPED)
        post_info(parent, G_SIGCHLD, me->pid, CLD_STOPPED, (uint64_t)((me->status >> 8) & 0xff));
    else
        post_info(parent, G_SIGCHLD, me->pid, CLD_CONTINUED, G_SIGCONT);
}

int64_t proc_stop(struct vmm *v, int sig)
{
    struct proc_entry *me = v->self;
    lock();
    me->state = P_STOPPED;
    me->status = (sig & 0xff) << 8 | 0x7f;
    me->report = (me->report & ~REPORT_CONTINUED) | REPORT_STOPPED;
    struct proc_entry *parent = find(me->ppid);
    notify_parent(parent, me);
    unlock();
    /* Stopped until SIGCONT (SIGKILL ends the VMM from outside). */
    struct uno_sigpage *sp = sigpage(v);
    sigset_t m;
    pthread_sigmask(SIG_BLOCK, NULL, &m);
    sigdelset(&m, SIGKICK);
    for (;;) {
        proc_take_signals(v);
        if (sp->pending & BIT(G_SIGCONT))
            break;
        ppoll(NULL, 0, NULL, &m);
    }
    __atomic_fetch_and(&sp->pending, ~STOP_BITS, __ATOMIC_SEQ_CST);
    lock();
    if (me->state == P_STOPPED) {
        me->state = P_ALIVE;
        me->report = (me->report & ~REPORT_STOPPED) | REPORT_CONTINUED;
        parent = find(me->ppid);
        notify_parent(parent, me);
    }
    unlock();
    return 0;
}

/* ---------------------------------------------------------------- kill --------------- */

/* Deliver sig to e (under lock). SIGKILL ends its VMM at once; the rest wait in the table
 * until its VMM hands them to its guest. Returns true if e is this process. */
/* A real-time signal: queued behind the others of the process (under lock). */
static int send_rt(struct vmm *v, struct proc_entry *e, int sig, int32_t code, uint64_t value)
{
    struct uno_sigq item = {.sig = sig, .sender = v->self->pid, .code = code, .value = value};
    if (e == v->self) {
        struct uno_sigpage *sp = sigpage(v);
        if (!sp || sp->q_tail - sp->q_head >= UNO_SIGQ_LEN)
            return -EAGAIN;
        sp->q[sp->q_tail % UNO_SIGQ_LEN] = item;
        __atomic_store_n(&sp->q_tail, sp->q_tail + 1, __ATOMIC_RELEASE);
        __atomic_fetch_or(&sp->pending, BIT(sig), __ATOMIC_SEQ_CST);
        return 0;
    }
    if (e->qn >= UNO_SIGQ_LEN)
        return -EAGAIN; /* RLIMIT_SIGPENDING, as it were */
    e->q[e->qn++] = item;
    __atomic_fetch_or(&e->pending, BIT(sig), __ATOMIC_SEQ_CST);
    kick(e);
    return 0;
}

static int send(struct vmm *v, struct proc_entry *e, int sig, int32_t code, uint64_t value)
{
    if (!live(e) || sig == 0)
        return 0;
    if (sig >= 32)
        return send_rt(v, e, sig, code, value);
    if (sig == G_SIGCONT)
        __atomic_fetch_and(&e->pending, ~STOP_BITS, __ATOMIC_SEQ_CST);
    else if (BIT(sig) & STOP_BITS)
        __atomic_fetch_and(&e->pending, ~BIT(G_SIGCONT), __ATOMIC_SEQ_CST);
    if (e == v->self) {
        /* To ourselves: straight into our guest's signal page, before kill() returns. */
        struct uno_sigpage *sp = sigpage(v);
        if (sp) {
            sp->sender[sig - 1] = e->pid;
            sp->code[sig - 1] = code;
            sp->value[sig - 1] = value;
            __atomic_fetch_or(&sp->pending, BIT(sig), __ATOMIC_SEQ_CST);
        }
        return 0;
    }
    if (sig == G_SIGKILL) {
        pid_t h = e->host_pid;
        mark_exited(e, G_SIGKILL);
        if (h > 0)
            kill(h, SIGKILL);
        return 0;
    }
    post_info(e, sig, v->self->pid, code, value);
    return 0;
}

static int64_t proc_kill(struct vmm *v, int pid, int sigcode, uint64_t value)
{
    int sig = sigcode & 0xffff;
    int32_t code = (int16_t)(sigcode >> 16);
    if (sig < 0 || sig > 64)
        return -EINVAL;
    if (code > 0 && code != 0x80)
        return -EPERM; /* only the kernel's codes are positive */
    struct proc_entry *me = v->self;
    int found = 0, err = 0;
    lock();
    for (int i = 0; i < PROC_MAX; i++) {
        struct proc_entry *e = &inst->p[i];
        if (e->state == P_FREE)
            continue;
        bool hit = pid > 0    ? e->pid == pid
                   : pid == 0 ? e->pgid == me->pgid && live(e)
                   : pid == -1 ? e->pid != 1 && e != me && live(e)
                               : e->pgid == -pid && live(e);
        if (!hit)
            continue;
        if (e->state == P_THREAD && !(e = find(e->tgid)))
            continue; /* kill(tid): its process */
        found++;
        int r = send(v, e, sig, code, value);
        if (r)
            err = r;
    }
    unlock();
    return !found ? -ESRCH : pid > 0 ? err : 0;
}

/* ---------------------------------------------------------------- groups, sessions --- */

static struct proc_entry *target(struct vmm *v, int pid)
{
    return pid == 0 ? v->self : find(pid);
}

static int64_t proc_setpgid(struct vmm *v, int pid, int pgid)
{
    struct proc_entry *me = v->self;
    if (pgid < 0)
        return -EINVAL;
    lock();
    struct proc_entry *t = target(v, pid);
    int64_t res = 0;
    if (!t || t->state == P_FREE || (t != me && t->ppid != me->pid))
        res = -ESRCH;
    else if (t != me && t->execed)
        res = -EACCES;
    else if (t->sid != me->sid || t->sid == t->pid)
        res = -EPERM;
    else {
        if (pgid == 0)
            pgid = t->pid;
        if (pgid != t->pid && !group_in_session(pgid, me->sid))
            res = -EPERM;
        if (!res)
            t->pgid = pgid;
    }
    unlock();
    return res;
}

static int64_t proc_setsid(struct vmm *v)
{
    struct proc_entry *me = v->self;
    int64_t res;
    lock();
    bool leader = false;
    for (int i = 0; i < PROC_MAX && !leader; i++)
        leader = inst->p[i].state != P_FREE && inst->p[i].pgid == me->pid;
    if (leader) {
        res = -EPERM;
    } else {
        me->sid = me->pgid = me->pid;
        res = me->pid;
    }
    unlock();
    return res;
}

/* ---------------------------------------------------------------- interval timer ----- */

/* ITIMER_REAL counts wall time; ITIMER_VIRTUAL and ITIMER_PROF count the CPU time of the
 * vCPU thread (the app and its libOS: the guest has no separate system time). Each is a
 * POSIX timer aimed at the vCPU thread, firing as a kick that carries which one it is. */
static timer_t itimer[3];
static bool itimer_made[3];

static int64_t proc_itimer(struct vmm *v, struct ring_req *r)
{
    uint64_t which = r->arg[1];
    if (which > 2)
        return -EINVAL;
    if (r->len != 4 * sizeof(uint64_t))
        return -EINVAL;
    uint64_t *d = (uint64_t *)r->data;
    if (!itimer_made[which]) {
        struct sigevent ev;
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_THREAD_ID;
        ev.sigev_signo = SIGKICK;
        ev.sigev_value.sival_int = (int)which;
        ev._sigev_un._tid = v->vcpu_tid;
        if (timer_create(which == 0 ? CLOCK_MONOTONIC : v->vcpu_clock, &ev, &itimer[which]) < 0)
            return -errno;
        itimer_made[which] = true;
    }
    struct itimerspec n = {
        .it_value = {(time_t)(d[0] / 1000000000ull), (long)(d[0] % 1000000000ull)},
        .it_interval = {(time_t)(d[1] / 1000000000ull), (long)(d[1] % 1000000000ull)},
    }, o;
    bool set = r->arg[2] != 0;
    if (set ? timer_settime(itimer[which], 0, &n, &o) : timer_gettime(itimer[which], &o))
        return -errno;
    d[0] = (uint64_t)o.it_value.tv_sec * 1000000000ull + (uint64_t)o.it_value.tv_nsec;
    d[1] = (uint64_t)o.it_interval.tv_sec * 1000000000ull + (uint64_t)o.it_interval.tv_nsec;
    return 4 * sizeof(uint64_t);
}

/* ---------------------------------------------------------------- /proc ------------- */

static int cmp_pid(const void *a, const void *b)
{
    return *(const int32_t *)a - *(const int32_t *)b;
}

/* The instance's processes (zombies included), ascending, as many as fit in the data. */
static int64_t proc_list(struct ring_req *r)
{
    int32_t *out = (int32_t *)r->data;
    uint64_t room = r->len / sizeof *out, n = 0;
    static int32_t all[PROC_MAX]; /* under the table lock */
    lock();
    for (int i = 0; i < PROC_MAX; i++) {
        const struct proc_entry *e = &inst->p[i];
        if (live(e) || e->state == P_EXITED)
            all[n++] = e->pid;
    }
    unlock();
    qsort(all, n, sizeof all[0], cmp_pid);
    memcpy(out, all, (n < room ? n : room) * sizeof *out);
    return (int64_t)n;
}

static int64_t proc_info(struct ring_req *r, int pid)
{
    struct uno_procinfo in;
    if (r->len < sizeof in)
        return -EINVAL;
    lock();
    const struct proc_entry *e = find(pid);
    if (e && e->state != P_THREAD) {
        in = (struct uno_procinfo){.pid = e->pid, .ppid = e->ppid, .pgid = e->pgid,
                                   .sid = e->sid, .utime_us = e->utime_us,
                                   .stime_us = e->stime_us, .name = e->name};
        in.state = e->state == P_STOPPED ? 'T' : e->state == P_EXITED ? 'Z' : 'R';
    }
    unlock();
    if (!e)
        return -ESRCH;
    in.name.comm[15] = 0;
    if (in.name.cmdline_len > UNO_PROC_CMDLINE)
        in.name.cmdline_len = UNO_PROC_CMDLINE;
    memcpy(r->data, &in, sizeof in);
    return sizeof in;
}

/* ---------------------------------------------------------------- the ring op -------- */

int64_t proc_op(struct vmm *v, struct ring_req *r)
{
    struct proc_entry *me = v->self;
    if (!inst || !me)
        return -ENOSYS; /* no process table (the host-side unit tests) */
    int a1 = (int)r->arg[1], a2 = (int)r->arg[2];
    struct proc_entry *t;
    int64_t res;
    switch (r->arg[0]) {
    case UNO_PROC_GETPPID:
        return __atomic_load_n(&me->ppid, __ATOMIC_SEQ_CST);
    case UNO_PROC_SETPGID:
        return proc_setpgid(v, a1, a2);
    case UNO_PROC_GETPGID:
    case UNO_PROC_GETSID:
        lock();
        t = target(v, a1);
        res = !t || t->state == P_FREE ? -ESRCH
              : r->arg[0] == UNO_PROC_GETPGID ? t->pgid
                                              : t->sid;
        unlock();
        return res;
    case UNO_PROC_SETSID:
        return proc_setsid(v);
    case UNO_PROC_KILL:
        return proc_kill(v, a1, a2, r->arg[3]);
    case UNO_PROC_WAIT:
        return proc_wait(v, r, r->may_block);
    case UNO_PROC_EXECED:
        me->execed = 1;
        /* The thread that execs takes the pid as its tid. This op may be served by the I/O
         * thread (no vCPU of its own): the other threads are gone by now, so every tid entry
         * still held is the exec'ing thread's. */
        for (int i = 0; i < UNO_MAX_VCPUS; i++)
            proc_thread_free(v, &v->vcpus[i]);
        if (v->vfork_fd >= 0) {
            close(v->vfork_fd);
            v->vfork_fd = -1;
        }
        return 0;
    case UNO_PROC_PAUSE:
        if (!r->may_block)
            return -EAGAIN;
        while (block_wait(v, NULL, 0, 0, false) != -EINTR)
            ;
        return -EINTR;
    case UNO_PROC_ITIMER:
        return proc_itimer(v, r);
    case UNO_PROC_SIGCHLD:
        me->chld_flags = a1 & (UNO_CHLD_NOCLDWAIT | UNO_CHLD_NOCLDSTOP);
        return 0;
    case UNO_PROC_SETNAME:
        if (r->len != sizeof me->name)
            return -EINVAL;
        lock();
        memcpy(&me->name, r->data, sizeof me->name); /* checked where it is read */
        unlock();
        return 0;
    case UNO_PROC_LIST:
        return proc_list(r);
    case UNO_PROC_INFO:
        return proc_info(r, a1);
    case UNO_PROC_TCGETPGRP:
        return inst->fg_pgrp;
    case UNO_PROC_TCSETPGRP: {
        lock();
        bool ok = group_in_session((int32_t)a1, me->sid);
        if (ok)
            inst->fg_pgrp = a1;
        unlock();
        return ok ? 0 : -EPERM;
    }
    default:
        return -EINVAL;
    }
}

/* The console's foreground process group, for a terminal's ^C (see main.c). */
int proc_fg_pgrp(void) { return inst ? inst->fg_pgrp : 1; }

/* A host process (a lock holder the host reports) as the guest knows it: the pid of the
 * instance's process that uno-vmm is, or 0 when it is none of them. */
int proc_self_pid(struct vmm *v) { return v->self ? v->self->pid : 0; }

int proc_guest_pid_of_host(int host_pid)
{
    int pid = 0;
    if (!inst)
        return 0;
    lock();
    for (int i = 0; i < PROC_MAX && !pid; i++)
        if (live(&inst->p[i]) && inst->p[i].host_pid == host_pid)
            pid = inst->p[i].pid;
    unlock();
    return pid;
}

void proc_signal_group(int pgrp, int sig)
{
    if (!inst)
        return;
    for (int i = 0; i < PROC_MAX; i++)
        if (live(&inst->p[i]) && inst->p[i].pgid == pgrp)
            post(&inst->p[i], sig);
}

/* ---------------------------------------------------------------- fork --------------- */

/* The VM changes hands between a vfork child and its parent: signals the guest has not
 * taken yet go back to whom they were sent, and the new owner's come in. */
static void switch_identity(struct vmm *v, struct proc_entry *to)
{
    struct uno_sigpage *sp = sigpage(v);
    uint64_t left = sp ? __atomic_exchange_n(&sp->pending, 0, __ATOMIC_SEQ_CST) : 0;
    if (left)
        __atomic_fetch_or(&v->self->pending, left, __ATOMIC_SEQ_CST);
    if (sp) {
        lock();
        while (sp->q_head != sp->q_tail && v->self->qn < UNO_SIGQ_LEN)
            v->self->q[v->self->qn++] = sp->q[sp->q_head++ % UNO_SIGQ_LEN];
        sp->q_head = sp->q_tail;
        unlock();
    }
    v->self = to;
    proc_take_signals(v);
}

/* The VM now runs `to`: what its guest has not taken yet belonged to the process that left
 * (a dead vfork child, or one gone to its own VM) and is dropped; `to`'s signals come in. */
static void hand_vm_to(struct vmm *v, struct proc_entry *to)
{
    struct uno_sigpage *sp = sigpage(v);
    if (sp) {
        sp->pending = 0;
        sp->q_head = sp->q_tail;
    }
    v->self = to;
    proc_take_signals(v);
}

/* The in-place vfork child ended before exec: it is a zombie now, its parent runs again. */
int64_t proc_vfork_end(struct vmm *v, int32_t status)
{
    struct proc_entry *parent = v->vfork_parent;
    if (!parent)
        return -EINVAL;
    lock();
    if (live(v->self))
        mark_exited(v->self, status);
    unlock();
    v->vfork_parent = NULL;
    hand_vm_to(v, parent);
    return 0;
}

/* The guest asked to fork (UNO_HC_FORK, on the vCPU thread). The host fork gives the child
 * VMM a copy-on-write copy of guest RAM and our descriptors; it builds a new VM over them
 * and resumes the vCPU where ours stopped, with 0 as the result. */
static int64_t host_fork(struct vmm *v, struct proc_entry *c, bool vfork, struct uno_hcall *hc);

int64_t proc_fork(struct vmm *v, struct uno_hcall *hc)
{
    struct proc_entry *me = v->self;
    if (hc->arg[0] & UNO_FORK_VFORK_EXEC) {
        if (!v->vfork_parent)
            return -EINVAL;
        return host_fork(v, me, false, NULL);
    }
    lock();
    host_reap();
    if (inst->dying || inst->nprocs >= inst->limit) {
        unlock();
        return -EAGAIN;
    }
    struct proc_entry *c = NULL;
    for (int i = 0; i < PROC_MAX && !c; i++)
        if (inst->p[i].state == P_FREE)
            c = &inst->p[i];
    int32_t pid = c ? alloc_pid() : -1;
    if (!c || pid < 0) {
        unlock();
        return -EAGAIN;
    }
    *c = (struct proc_entry){.state = P_ALIVE, .pid = pid, .ppid = me->pid, .pgid = me->pgid,
                             .sid = me->sid, .exit_signal = (int32_t)((hc->arg[0] >> 8) & 0xff),
                             .chld_flags = me->chld_flags, .name = me->name};
    inst->nprocs++;
    if ((hc->arg[0] & UNO_FORK_INPLACE) && !v->vfork_parent) {
        /* vfork in place: the child runs here, in our VM, until it execs or exits. */
        c->host_pid = getpid();
        c->vcpu_tid = this_vcpu->host_tid;
        unlock();
        v->vfork_parent = me;
        switch_identity(v, c);
        hc->arg[2] = (uint64_t)pid;
        hc->arg[3] = (uint64_t)me->pid;
        return 0;
    }
    unlock();
    hc->arg[0] &= ~(uint64_t)UNO_FORK_INPLACE;
    return host_fork(v, c, (hc->arg[0] & UNO_FORK_VFORK) != 0, hc);
}

/* Fork the VMM: `c` (already in the table) becomes the child. vfork_exec: the in-place vfork
 * child `c` takes the new VM and this VM goes back to its parent. */
static int64_t host_fork(struct vmm *v, struct proc_entry *c, bool vfork, struct uno_hcall *hc)
{
    struct proc_entry *me = v->self;
    bool vfork_exec = hc == NULL;
    int32_t pid = c->pid;

    void *state = kvm_save_state(v);
    int vpipe[2] = {-1, -1};
    if (!state || (vfork && pipe2(vpipe, O_CLOEXEC) < 0)) {
        free(state);
        if (!vfork_exec) {
            lock();
            c->state = P_FREE;
            inst->nprocs--;
            unlock();
        }
        return -ENOMEM;
    }
    /* No ring work in flight: the libOS drained it, and the I/O thread is kept out. */
    pthread_mutex_lock(&v->ring_lock);
    /* Queued socket sends go out first: the child shares the sockets, and what it sends must
     * not overtake what we had sent. */
    sendq_drain_all(v, 1000000000ull);
    fflush(NULL);
    pid_t h = fork();
    if (h == 0) {
        sendq_forget_all(v);
        c->host_pid = getpid();
        c->vcpu_tid = gettid();
        this_vcpu->tid_entry = NULL; /* our tid was the parent's thread's; ours is the pid */
        this_vcpu->host_tid = c->vcpu_tid;
        v->self = c;
        v->vcpu_tid = c->vcpu_tid;
        itimer_made[0] = itimer_made[1] = itimer_made[2] = false; /* not inherited */
        pthread_getcpuclockid(pthread_self(), &v->vcpu_clock);
        if (vfork) {
            close(vpipe[0]);
            v->vfork_fd = vpipe[1];
        } else if (v->vfork_fd >= 0) {
            close(v->vfork_fd); /* our parent's vfork is not ours to end */
            v->vfork_fd = -1;
        }
        /* (ring_start_io_thread re-initializes ring_lock, which we inherited locked.) */
        if (kvm_rebuild_after_fork(v, state) || ring_start_io_thread(v)) {
            proc_exit(v, VMM_EXIT_ERROR << 8);
            _exit(VMM_EXIT_ERROR);
        }
        free(state);
        /* The VM is ours alone: a vfork child running in our parent's VM (in place) that
         * forks gives its child no claim on that parent. */
        v->vfork_parent = NULL;
        if (vfork_exec)
            return 0;
        hand_vm_to(v, c); /* our copy of the parent's signal page is not ours */
        hc->arg[2] = (uint64_t)pid;
        hc->arg[3] = (uint64_t)me->pid;
        return 0;
    }
    pthread_mutex_unlock(&v->ring_lock);
    free(state);
    if (h < 0) {
        int err = errno;
        if (!vfork_exec) {
            lock();
            c->state = P_FREE;
            inst->nprocs--;
            unlock();
        }
        if (vfork) {
            close(vpipe[0]);
            close(vpipe[1]);
        }
        return err == ENOMEM ? -ENOMEM : -EAGAIN;
    }
    __atomic_store_n(&c->host_pid, h, __ATOMIC_SEQ_CST);
    if (vfork_exec) {
        /* This VM is the parent's again; the child's signals went with it. */
        struct proc_entry *parent = v->vfork_parent;
        v->vfork_parent = NULL;
        hand_vm_to(v, parent);
    }
    if (vfork) {
        /* Asleep until the child execs or exits (its end of the pipe closes). */
        close(vpipe[1]);
        char b;
        while (read(vpipe[0], &b, 1) < 0 && errno == EINTR)
            ;
        close(vpipe[0]);
    }
    return pid;
}

bool proc_is_init(struct vmm *v) { return !v->self || v->self->pid == 1; }
