/* Threads: one vCPU per guest thread, one host thread per vCPU. The host kernel schedules
 * and preempts the guest's threads as it does its own, a thread waiting in the host (a pipe
 * read, a sleep, a futex) blocks only its own vCPU, and --cpus confines the vCPU threads to
 * that many host CPUs (docs/architecture.md, "Threads").
 *
 * A thread that ends parks its vCPU (KVM cannot destroy one vCPU); the next new thread
 * reuses it. Each vCPU has an eventfd behind its own doorbell address (UNO_MMIO_WAKE): the
 * libOS wakes a thread sleeping in UNO_HC_BLOCK (a futex, the libOS lock) by writing there,
 * with no exit to user space. Signals for the process arrive as a kick to one host thread
 * (proc.c); vcpu_route_signals passes them to a vCPU whose thread does not block them. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

__thread struct vcpu *this_vcpu;
static struct vmm *the_vm;

struct uno_vcpu *vcpu_shared(struct vmm *v, struct vcpu *c)
{
    if (!c || (c->vc_gpa & 7))
        return NULL;
    return gpa_ptr(v, c->vc_gpa, sizeof(struct uno_vcpu));
}

/* --cpus N: the guest sees N CPUs; its vCPU threads run on N host CPUs chosen from those we
 * may use, starting at an offset from our pid so that instances spread over the machine. */
static void choose_cpus(struct vmm *v)
{
    cpu_set_t allowed;
    int list[CPU_SETSIZE], n = 0;
    if (sched_getaffinity(0, sizeof allowed, &allowed) < 0)
        CPU_ZERO(&allowed);
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &allowed))
            list[n++] = i;
    if (n == 0)
        list[n++] = 0;
    int want = v->cfg.cpus > 0 ? v->cfg.cpus : n;
    if (want > UNO_MAX_VCPUS)
        want = UNO_MAX_VCPUS;
    int start = want < n ? getpid() % n : 0;
    for (int i = 0; i < want; i++)
        v->cpu_list[i] = list[(start + i) % n];
    v->ncpus = want;
    if (want < n) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int i = 0; i < want; i++)
            CPU_SET(v->cpu_list[i], &set);
        /* Threads made from now on (vCPUs, the I/O thread) inherit it. */
        if (sched_setaffinity(0, sizeof set, &set) < 0)
            vmm_log(v, "cannot confine the VM to %d CPUs: %s", want, strerror(errno));
    }
}

int vcpu_init(struct vmm *v)
{
    the_vm = v;
    pthread_mutex_init(&v->vcpu_lock, NULL);
    pthread_cond_init(&v->vcpu_cond, NULL);
    struct vcpu *c = &v->vcpus[0];
    c->index = 0;
    c->state = VCPU_RUNNING;
    c->host_tid = gettid();
    c->thread = pthread_self();
    c->upcall_stack = v->upcall_stack;
    this_vcpu = c;
    choose_cpus(v);
    struct uno_bootinfo *bi = gpa_ptr(v, UNO_GPA_BOOTINFO, sizeof *bi);
    if (bi)
        bi->ncpus = (uint32_t)v->ncpus;
    return 0;
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *c = arg;
    this_vcpu = c;
    c->host_tid = gettid();
    int status = kvm_run_loop(the_vm, c);
    the_vm->finish(the_vm, status);
    return NULL;
}

/* UNO_HC_VCPU_START: a new thread on vCPU arg[0]. */
int64_t vcpu_start(struct vmm *v, struct uno_hcall *hc)
{
    uint64_t n = hc->arg[0], gpa = hc->arg[1];
    if (n >= UNO_MAX_VCPUS || (gpa & 7) || !gpa_ptr(v, gpa, sizeof(struct uno_vcpu)))
        return -EINVAL;
    struct vcpu *c = &v->vcpus[n];
    pthread_mutex_lock(&v->vcpu_lock);
    if (c == this_vcpu || c->state == VCPU_RUNNING) {
        pthread_mutex_unlock(&v->vcpu_lock);
        return -EBUSY;
    }
    int32_t tid = proc_thread_alloc(v, c);
    if (tid < 0) {
        pthread_mutex_unlock(&v->vcpu_lock);
        return tid;
    }
    bool fresh = c->state == VCPU_NONE;
    c->index = (int)n;
    c->vc_gpa = gpa;
    c->upcall_stack = hc->arg[3];
    int err = fresh && (kvm_create_vcpu(v, c) || block_set_mask(c));
    if (!err)
        err = kvm_clone_vcpu(v, this_vcpu, c, hc->arg[2], hc->arg[3], hc->arg[4]);
    if (!err) {
        int before = c->state;
        vcpu_shared(v, c)->parked = 0;
        c->state = VCPU_RUNNING;
        if (fresh) {
            c->host_tid = 0;
            err = pthread_create(&c->thread, NULL, vcpu_thread, c) != 0;
        }
        if (err)
            c->state = before; /* (a KVM vCPU made here stays unusable: rare) */
        pthread_cond_broadcast(&v->vcpu_cond);
    }
    if (err) {
        proc_thread_free(v, c);
        pthread_mutex_unlock(&v->vcpu_lock);
        return -EAGAIN;
    }
    pthread_mutex_unlock(&v->vcpu_lock);
    return tid;
}

/* A running vCPU's host thread, to take over the kicks for the process. */
static pid_t other_running(struct vmm *v)
{
    for (int i = 0; i < UNO_MAX_VCPUS; i++) {
        struct vcpu *o = &v->vcpus[i];
        if (o != this_vcpu && o->state == VCPU_RUNNING && o->host_tid > 0)
            return o->host_tid;
    }
    return 0;
}

/* UNO_HC_VCPU_EXIT: park until a new thread takes this vCPU. A parked thread still takes
 * the timer signals aimed at it (they are kicks) and passes them on. */
void vcpu_exit(struct vmm *v)
{
    struct vcpu *c = this_vcpu;
    proc_thread_free(v, c);
    pthread_mutex_lock(&v->vcpu_lock);
    c->state = VCPU_PARKED;
    struct uno_vcpu *vc = vcpu_shared(v, c);
    if (vc)
        vc->parked = 1;
    pid_t t = other_running(v);
    if (t)
        proc_move_kick_target(v, c->host_tid, t);
    while (c->state == VCPU_PARKED) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&v->vcpu_cond, &v->vcpu_lock, &ts);
        pthread_mutex_unlock(&v->vcpu_lock);
        block_eat_kicks(v);
        vcpu_route_signals(v);
        pthread_mutex_lock(&v->vcpu_lock);
    }
    pthread_mutex_unlock(&v->vcpu_lock);
}

static void kick_vcpu(struct vcpu *c)
{
    if (c->state == VCPU_RUNNING && c->host_tid > 0)
        syscall(SYS_tgkill, getpid(), c->host_tid, SIGKICK);
}

/* Process signals the calling thread does not take: to a thread that does. */
void vcpu_route_signals(struct vmm *v)
{
    if (proc_signal_wanted_by(v, this_vcpu))
        return;
    struct uno_sigpage *sp = gpa_ptr(v, UNO_GPA_SIGPAGE, sizeof *sp);
    uint64_t pending = sp ? sp->pending : 0;
    if (!pending)
        return;
    for (int i = 0; i < UNO_MAX_VCPUS; i++) {
        struct vcpu *o = &v->vcpus[i];
        struct uno_vcpu *vc;
        if (o == this_vcpu || o->state != VCPU_RUNNING || !(vc = vcpu_shared(v, o)))
            continue;
        if (pending & vc->interest) {
            kick_vcpu(o);
            return;
        }
    }
}

/* UNO_HC_BLOCK: sleep until our doorbell rings, the deadline passes, or (unless arg[2]) a
 * signal this thread must see arrives. */
int64_t vcpu_block(struct vmm *v, struct uno_hcall *hc)
{
    struct vcpu *c = this_vcpu;
    int clock = hc->arg[0] == CLOCK_REALTIME ? CLOCK_REALTIME : CLOCK_MONOTONIC;
    uint64_t deadline = hc->arg[1];
    bool intr = hc->arg[2] == 0;
    if (deadline == 1) { /* already past: sched_yield */
        sched_yield();
        return -ETIMEDOUT;
    }
    sigset_t m;
    pthread_sigmask(SIG_BLOCK, NULL, &m);
    sigdelset(&m, SIGKICK);
    for (;;) {
        if (intr && proc_signal_wanted(v))
            return -EINTR;
        struct timespec ts, *tsp = NULL;
        if (deadline) {
            uint64_t now = now_ns(clock);
            if (now >= deadline)
                return -ETIMEDOUT;
            uint64_t left = deadline - now;
            ts.tv_sec = (time_t)(left / 1000000000ull);
            ts.tv_nsec = (long)(left % 1000000000ull);
            tsp = &ts;
        }
        struct pollfd p = {.fd = c->wake_fd, .events = POLLIN};
        int r = ppoll(&p, 1, tsp, &m);
        if (r > 0) {
            uint64_t cnt;
            if (read(c->wake_fd, &cnt, sizeof cnt) < 0 && errno != EAGAIN)
                return -EIO;
            return 0;
        }
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r < 0)
            vcpu_route_signals(v);
    }
}

int64_t vcpu_kick(struct vmm *v, uint64_t n)
{
    if (n >= UNO_MAX_VCPUS)
        return -EINVAL;
    pthread_mutex_lock(&v->vcpu_lock);
    if (&v->vcpus[n] != this_vcpu)
        kick_vcpu(&v->vcpus[n]);
    pthread_mutex_unlock(&v->vcpu_lock);
    return 0;
}

/* UNO_HC_HOSTCALL: one operation that may wait, outside the shared ring so that it holds up
 * no other thread. What was submitted to the ring before it is served first: its effects
 * (console output above all) come before this one's, as the guest ordered them. */
int64_t vcpu_hostcall(struct vmm *v)
{
    struct vcpu *c = this_vcpu;
    struct uno_vcpu *vc = vcpu_shared(v, c);
    ring_serve(v, false);
    if (!vc)
        return -EFAULT;
    struct uno_sqe sqe;
    memcpy(&sqe, (const void *)&vc->sqe, sizeof sqe); /* one copy: no TOCTOU */
    uint64_t dgpa = vc->data_gpa;
    uint8_t *data = (dgpa & 7) ? NULL : gpa_ptr(v, dgpa, UNO_RING_SLOT);
    if (!data || !c->req)
        return -EFAULT;
    int64_t res = ring_decode(&sqe, data, c->req);
    c->req->may_block = (sqe.flags & UNO_SQE_BLOCKING) != 0;
    if (res == 0)
        res = hostop_exec(v, c->req);
    return res;
}

/* UNO_HC_MEMBARRIER: every other vCPU running guest code leaves KVM_RUN once (a full
 * barrier on its CPU) before we return. */
int64_t vcpu_membarrier(struct vmm *v)
{
    uint64_t seen[UNO_MAX_VCPUS];
    pthread_mutex_lock(&v->vcpu_lock);
    for (int i = 0; i < UNO_MAX_VCPUS; i++) {
        struct vcpu *o = &v->vcpus[i];
        seen[i] = __atomic_load_n(&o->exits, __ATOMIC_SEQ_CST);
        if (o != this_vcpu && o->in_guest)
            kick_vcpu(o);
    }
    uint64_t until = now_ns(CLOCK_MONOTONIC) + 100000000ull;
    for (int i = 0; i < UNO_MAX_VCPUS; i++) {
        struct vcpu *o = &v->vcpus[i];
        while (o != this_vcpu && o->state == VCPU_RUNNING && o->in_guest &&
               __atomic_load_n(&o->exits, __ATOMIC_SEQ_CST) == seen[i] &&
               now_ns(CLOCK_MONOTONIC) < until)
            sched_yield();
    }
    pthread_mutex_unlock(&v->vcpu_lock);
    return 0;
}

/* UNO_HC_AFFINITY: guest CPU i is host CPU cpu_list[i]. */
int64_t vcpu_affinity(struct vmm *v, uint64_t n, uint64_t mask)
{
    if (n >= UNO_MAX_VCPUS)
        return -EINVAL;
    uint64_t all = v->ncpus >= 64 ? ~0ull : (1ull << v->ncpus) - 1;
    if (!(mask & all))
        return -EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < v->ncpus; i++)
        if (mask & (1ull << i))
            CPU_SET(v->cpu_list[i], &set);
    pthread_mutex_lock(&v->vcpu_lock);
    struct vcpu *c = &v->vcpus[n];
    int err = c->state != VCPU_RUNNING ? ESRCH
                                       : pthread_setaffinity_np(c->thread, sizeof set, &set);
    pthread_mutex_unlock(&v->vcpu_lock);
    return err ? -err : 0;
}

static uint64_t tv_ns(struct timeval t) { return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_usec * 1000; }

/* UNO_HC_CPUTIME: what the host counted for this process (the VMM: its vCPU threads, which
 * run the app and the libOS, and its I/O thread) or for one vCPU's thread. */
int64_t vcpu_cputime(struct vmm *v, uint64_t which, uint64_t n, uint64_t *sys_ns)
{
    struct timespec ts;
    struct rusage ru;
    clockid_t clk = CLOCK_PROCESS_CPUTIME_ID;
    int who = RUSAGE_SELF;
    *sys_ns = 0;
    if (which == UNO_CPUTIME_VCPU) {
        if (n >= UNO_MAX_VCPUS)
            return -EINVAL;
        struct vcpu *c = &v->vcpus[n];
        who = RUSAGE_THREAD;
        if (c != this_vcpu) {
            pthread_mutex_lock(&v->vcpu_lock);
            int err = c->state != VCPU_RUNNING ? ESRCH : pthread_getcpuclockid(c->thread, &clk);
            pthread_mutex_unlock(&v->vcpu_lock);
            if (err)
                return -err;
            who = -100; /* another thread's split is not to be had */
        } else {
            clk = CLOCK_THREAD_CPUTIME_ID;
        }
    } else if (which != UNO_CPUTIME_PROCESS) {
        return -EINVAL;
    }
    if (clock_gettime(clk, &ts))
        return -errno;
    if (who != -100 && getrusage(who, &ru) == 0)
        *sys_ns = tv_ns(ru.ru_stime);
    return (int64_t)((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
}

/* UNO_HC_NICE: the host nice of vCPU n's thread. Raised only: lowering it would use a host
 * privilege (CAP_SYS_NICE) the guest must not borrow, as a container has none. */
int64_t vcpu_nice(struct vmm *v, uint64_t n, int64_t nice)
{
    if (n >= UNO_MAX_VCPUS || nice < -20 || nice > 19)
        return -EINVAL;
    pthread_mutex_lock(&v->vcpu_lock);
    struct vcpu *c = &v->vcpus[n];
    int64_t res = 0;
    if (c != this_vcpu && c->state != VCPU_RUNNING) {
        res = -ESRCH;
    } else {
        errno = 0;
        int now = getpriority(PRIO_PROCESS, (id_t)c->host_tid);
        if (now == -1 && errno)
            res = -errno;
        else if (nice < now)
            res = -EACCES;
        else if (nice > now && setpriority(PRIO_PROCESS, (id_t)c->host_tid, (int)nice) < 0)
            res = -errno;
    }
    pthread_mutex_unlock(&v->vcpu_lock);
    return res;
}

/* In a fork's child: the other threads do not exist here. */
void vcpu_forget_others(struct vmm *v)
{
    pthread_mutex_init(&v->vcpu_lock, NULL);
    pthread_cond_init(&v->vcpu_cond, NULL);
    for (int i = 0; i < UNO_MAX_VCPUS; i++) {
        struct vcpu *o = &v->vcpus[i];
        if (o == this_vcpu)
            continue;
        o->state = VCPU_NONE;
        o->fd = -1;
        o->tid_entry = NULL;
        o->host_tid = 0;
        o->in_guest = 0;
    }
    this_vcpu->thread = pthread_self();
}
