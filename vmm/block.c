/* Waiting on the guest's behalf. A guest process blocks in the host (a pipe read, wait4,
 * sleep, poll) in its vCPU thread, and a signal for it must cut the wait short, as Linux
 * interrupts a sleeping task. Senders mark the signal in the instance table and "kick" the
 * vCPU thread with SIGKICK. The kick stays blocked in that thread except inside KVM_RUN
 * (KVM_SET_SIGNAL_MASK) and inside ppoll (its mask argument), so a kick that arrives while
 * the thread is busy waits for the next of those and is never lost. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "vmm.h"

static struct vmm *kick_vmm;

/* A kick only has to end the wait; the pending signals are in the table. A timer of the
 * guest (setitimer) fires as a kick with si_code SI_TIMER: it is the guest's SIGALRM. */
static void on_kick(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    if (si->si_code == SI_TIMER && kick_vmm)
        proc_timer_fired(kick_vmm, si->si_value.sival_int);
}

void block_init_thread(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGKICK);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
}

static void unkicked_mask(sigset_t *m)
{
    pthread_sigmask(SIG_BLOCK, NULL, m);
    sigdelset(m, SIGKICK);
}

/* KVM_RUN ended with EINTR: the kick that caused it is still pending (KVM_RUN returns
 * with our normal mask, which blocks it). Take it, or the next KVM_RUN ends at once. */
void block_eat_kicks(struct vmm *v)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGKICK);
    struct timespec zero = {0, 0};
    siginfo_t si;
    while (sigtimedwait(&s, &si, &zero) == SIGKICK)
        if (si.si_code == SI_TIMER)
            proc_timer_fired(v, si.si_value.sival_int);
}

int block_install(struct vmm *v)
{
    kick_vmm = v;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_kick;
    sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: the point is to interrupt */
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGKICK, &sa, NULL) < 0)
        return -1;
    block_init_thread();
    return block_set_mask(this_vcpu ? this_vcpu : &v->vcpus[0]);
}

/* Inside KVM_RUN the kick is open: it ends the run with EINTR. */
int block_set_mask(struct vcpu *c)
{
    struct {
        struct kvm_signal_mask hdr;
        uint8_t bits[8];
    } km;
    sigset_t m;
    unkicked_mask(&m);
    km.hdr.len = 8;
    memcpy(km.bits, &m, 8);
    if (ioctl(c->fd, KVM_SET_SIGNAL_MASK, &km) < 0) {
        fprintf(stderr, "uno-vmm: KVM_SET_SIGNAL_MASK: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

int block_wait(struct vmm *v, struct pollfd *fds, int nfds, uint64_t deadline, bool kick_returns)
{
    sigset_t m;
    unkicked_mask(&m);
    for (;;) {
        if (proc_signal_wanted(v))
            return -EINTR;
        struct timespec ts, *tsp = NULL;
        if (deadline) {
            uint64_t now = now_ns(CLOCK_MONOTONIC);
            uint64_t left = deadline > now ? deadline - now : 0;
            ts.tv_sec = (time_t)(left / 1000000000ull);
            ts.tv_nsec = (long)(left % 1000000000ull);
            tsp = &ts;
        }
        int r = ppoll(fds, (nfds_t)nfds, tsp, &m);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return -errno;
        if (proc_signal_wanted(v))
            return -EINTR;
        vcpu_route_signals(v); /* a process signal this thread blocks: to one that takes it */
        if (kick_returns)
            return -EAGAIN;
    }
}
