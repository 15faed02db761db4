/* poll, ppoll, select, pselect6. Files the libOS serves itself (the image, /dev, /proc)
 * are always ready; pipes, eventfds and the console are host descriptors, polled by the VMM —
 * waiting there until one is ready, the timeout passes, or a signal arrives. */
#include "proc/thread.h"
#include "syscalls.h"
#include "core/kernel.h"
#include "core/kheap.h"
#include "fs/file.h"
#include "net/socket.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "proc/proc.h"
#include "proc/signal.h"

#define POLLIN 0x1
#define POLLPRI 0x2
#define POLLOUT 0x4
#define POLLERR 0x8
#define POLLHUP 0x10
#define POLLNVAL 0x20
#define POLLRDNORM 0x40
#define POLLWRNORM 0x100
#define MAX_POLL 4096

struct k_pollfd {
    i32 fd;
    i16 events, revents;
};



static i64 poll_host(struct k_pollfd *kfds, u64 n, struct uno_pollfd *hfds, int *hidx,
                     i64 timeout_ns);

/* The core: kfds[0..n) in, revents out. timeout_ns < 0: forever. Everything is per call
 * (the heap, not static arrays): the big lock is let go while the host waits, and another
 * thread may poll meanwhile. */
static i64 do_poll(struct k_pollfd *kfds, u64 n, i64 timeout_ns)
{
    struct uno_pollfd *hfds = kmalloc(n * sizeof *hfds + 1);
    int *hidx = kmalloc(n * sizeof *hidx + 1);
    i64 r = hfds && hidx ? poll_host(kfds, n, hfds, hidx, timeout_ns) : -ENOMEM;
    kfree(hfds);
    kfree(hidx);
    return r;
}

static i64 poll_host(struct k_pollfd *kfds, u64 n, struct uno_pollfd *hfds, int *hidx,
                     i64 timeout_ns)
{
    int nh = 0, ready = 0, ahead = 0;
    for (u64 i = 0; i < n; i++) {
        struct k_pollfd *p = &kfds[i];
        p->revents = 0;
        if (p->fd < 0)
            continue;
        struct file *f = fd_get(p->fd);
        u32 h;
        if (!f) {
            p->revents = POLLNVAL;
        } else if (file_poll_handle(f, &h)) {
            hfds[nh] = (struct uno_pollfd){.handle = h, .events = (u16)(p->events | POLLERR | POLLHUP)};
            /* Bytes a socket received ahead (net/rxahead.c) are readable here already. */
            if ((p->events & (POLLIN | POLLRDNORM)) && sock_rx_ready(f)) {
                p->revents = p->events & (POLLIN | POLLRDNORM);
                ahead++;
            }
            hidx[nh++] = (int)i;
            continue;
        } else {
            p->revents = p->events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM);
        }
        if (p->revents)
            ready++;
    }
    if (nh) {
        struct ring_op op = {.op = UNO_OP_POLL, .in = hfds, .in_len = (u64)nh * sizeof hfds[0],
                             .out = hfds, .out_len = (u64)nh * sizeof hfds[0],
                             .arg = {(u64)(ready || ahead ? 0 : timeout_ns)},
                             .blocking = !ready && !ahead && timeout_ns != 0, .out_fixed = true};
        if ((u64)nh * sizeof hfds[0] > RING_MAX_IO)
            return -EINVAL;
        i64 r = ring_call(&op);
        if (r < 0)
            return r;
        for (int k = 0; k < nh; k++) {
            struct k_pollfd *p = &kfds[hidx[k]];
            p->revents |= (i16)(hfds[k].revents & (p->events | POLLERR | POLLHUP | POLLNVAL));
            if (p->revents)
                ready++;
        }
    } else if (!ready && timeout_ns != 0) {
        /* Nothing the host could wake us for: just sleep (a signal ends it). */
        struct uno_hcall *hc = platform_hcall_block();
        if (timeout_ns > 0) {
            hc->arg[0] = 1; /* CLOCK_MONOTONIC */
            hc->arg[1] = time_mono_ns() + (u64)timeout_ns;
            hypercall_unlocked(UNO_HC_SLEEP);
            if (hc->ret == -EINTR)
                return -EINTR;
        } else {
            struct ring_op op = {.op = UNO_OP_PROC, .arg = {UNO_PROC_PAUSE}, .blocking = true};
            return ring_call(&op);
        }
    }
    return ready;
}

static i64 poll_user(u64 ufds, u64 n, i64 timeout_ns)
{
    if (n > MAX_POLL)
        return -EINVAL;
    struct k_pollfd *kfds = kmalloc(n * sizeof *kfds + 1);
    if (!kfds)
        return -ENOMEM;
    i64 r = n && copy_from_user(kfds, (void *)ufds, n * sizeof kfds[0]) ? -EFAULT
                                                                        : do_poll(kfds, n, timeout_ns);
    if (r >= 0 && n && copy_to_user((void *)ufds, kfds, n * sizeof kfds[0]))
        r = -EFAULT;
    kfree(kfds);
    return r;
}

i64 sys_poll(u64 ufds, u64 n, u64 timeout_ms)
{
    i64 t = (int)timeout_ms;
    return poll_user(ufds, n, t < 0 ? -1 : t * 1000000);
}


/* ppoll/pselect: the mask given holds only during the wait (as sigsuspend's). */
static int swap_mask(u64 umask, u64 size)
{
    return umask ? signal_wait_mask(umask, size) : 0;
}

static void unswap_mask(u64 umask, i64 r)
{
    /* Interrupted: the handler's frame carries the old mask (signal_deliver). */
    if (umask && r != -EINTR && proc.has_saved_mask) {
        proc.has_saved_mask = false;
        signal_set_mask(proc.saved_mask);
    }
}

i64 sys_ppoll(u64 ufds, u64 n, u64 uts, u64 umask, u64 size)
{
    i64 t;
    int e = user_timespec_ns(uts, &t);
    if (e)
        return e;
    if ((e = swap_mask(umask, size)))
        return e;
    /* A signal the new mask lets through, already pending, interrupts at once. */
    i64 r = umask && signal_pending() ? -EINTR : poll_user(ufds, n, t);
    unswap_mask(umask, r);
    return r;
}

/* select: fd_sets become a poll list and back. */
#define FDSET_WORDS (NR_OPEN / 64)
struct fdsets {
    u64 r[FDSET_WORDS], w[FDSET_WORDS], e[FDSET_WORDS];
};

/* The poll list of the sets: n entries into kfds (room for nfds). */
static i64 select_list(struct fdsets *s, u64 nfds, struct k_pollfd *kfds, u64 *n)
{
    *n = 0;
    for (u64 fd = 0; fd < nfds; fd++) {
        u64 w = fd / 64, b = 1ull << (fd % 64);
        i16 ev = (i16)(((s->r[w] & b) ? POLLIN : 0) | ((s->w[w] & b) ? POLLOUT : 0) |
                       ((s->e[w] & b) ? POLLPRI : 0));
        if (!ev)
            continue;
        if (!fd_get((int)fd))
            return -EBADF;
        kfds[(*n)++] = (struct k_pollfd){.fd = (i32)fd, .events = ev};
    }
    return 0;
}

/* The sets of the poll results, and how many bits are set (select's return value). */
static i64 select_sets(struct fdsets *s, const struct k_pollfd *kfds, u64 n)
{
    memset(s, 0, sizeof *s);
    i64 count = 0;
    for (u64 i = 0; i < n; i++) {
        u64 fd = (u64)kfds[i].fd, w = fd / 64, b = 1ull << (fd % 64);
        i16 rv = kfds[i].revents, ev = kfds[i].events;
        if ((ev & POLLIN) && (rv & (POLLIN | POLLHUP | POLLERR))) {
            s->r[w] |= b;
            count++;
        }
        if ((ev & POLLOUT) && (rv & (POLLOUT | POLLERR))) {
            s->w[w] |= b;
            count++;
        }
        if ((ev & POLLPRI) && (rv & POLLPRI)) {
            s->e[w] |= b;
            count++;
        }
    }
    return count;
}

static i64 do_select(u64 nfds, u64 ur, u64 uw, u64 ue, i64 timeout_ns)
{
    if ((int)nfds < 0)
        return -EINVAL;
    nfds = (u32)nfds;
    if (nfds > NR_OPEN)
        nfds = NR_OPEN;
    u64 bytes = (nfds + 7) / 8, n;
    struct fdsets *s = kmalloc(sizeof *s);
    struct k_pollfd *kfds = kmalloc(nfds * sizeof *kfds + 1);
    i64 r = s && kfds ? 0 : -ENOMEM;
    if (!r) {
        memset(s, 0, sizeof *s);
        if ((ur && copy_from_user(s->r, (void *)ur, bytes)) ||
            (uw && copy_from_user(s->w, (void *)uw, bytes)) ||
            (ue && copy_from_user(s->e, (void *)ue, bytes)))
            r = -EFAULT;
    }
    if (!r)
        r = select_list(s, nfds, kfds, &n);
    if (!r)
        r = do_poll(kfds, n, timeout_ns);
    if (r >= 0) {
        r = select_sets(s, kfds, n);
        if ((ur && copy_to_user((void *)ur, s->r, bytes)) ||
            (uw && copy_to_user((void *)uw, s->w, bytes)) ||
            (ue && copy_to_user((void *)ue, s->e, bytes)))
            r = -EFAULT;
    }
    kfree(s);
    kfree(kfds);
    return r;
}

struct k_timeval {
    i64 sec, usec;
};

i64 sys_select(u64 nfds, u64 ur, u64 uw, u64 ue, u64 utv)
{
    i64 t = -1;
    if (utv) {
        struct k_timeval tv;
        if (copy_from_user(&tv, (void *)utv, sizeof tv))
            return -EFAULT;
        if (tv.sec < 0 || tv.usec < 0)
            return -EINVAL;
        t = tv.sec * 1000000000 + tv.usec * 1000;
    }
    u64 start = time_mono_ns();
    i64 r = do_select(nfds, ur, uw, ue, t);
    if (utv && r >= 0) {
        /* Linux leaves the time not slept in the timeval. */
        i64 left = t - (i64)(time_mono_ns() - start);
        struct k_timeval tv = {0, 0};
        if (left > 0 && r > 0) {
            tv.sec = left / 1000000000;
            tv.usec = (left % 1000000000) / 1000;
        }
        copy_to_user((void *)utv, &tv, sizeof tv);
    }
    return r;
}

i64 sys_pselect6(u64 nfds, u64 ur, u64 uw, u64 ue, u64 uts, u64 usig)
{
    i64 t;
    int e = user_timespec_ns(uts, &t);
    if (e)
        return e;
    u64 sig[2] = {0, 0};
    if (usig && copy_from_user(sig, (void *)usig, sizeof sig))
        return -EFAULT;
    if ((e = swap_mask(sig[0], sig[1])))
        return e;
    u64 start = time_mono_ns();
    i64 r = sig[0] && signal_pending() ? -EINTR : do_select(nfds, ur, uw, ue, t);
    unswap_mask(sig[0], r);
    if (uts && (r >= 0 || r == -EINTR)) {
        /* Like select, pselect6 leaves the time not slept in the timespec. */
        i64 left = t - (i64)(time_mono_ns() - start);
        struct k_timespec ts = {0, 0};
        if (left > 0 && r != 0) {
            ts.sec = left / 1000000000;
            ts.nsec = left % 1000000000;
        }
        copy_to_user((void *)uts, &ts, sizeof ts);
    }
    return r;
}

i64 file_wait(struct file *f, u16 events, i64 timeout_ns)
{
    u32 h;
    if (!file_poll_handle(f, &h))
        return 0; /* always ready */
    struct uno_pollfd p = {.handle = h, .events = events};
    struct ring_op op = {.op = UNO_OP_POLL, .in = &p, .in_len = sizeof p, .out = &p,
                         .out_len = sizeof p, .arg = {(u64)(timeout_ns ? timeout_ns : -1)},
                         .blocking = true, .out_fixed = true};
    file_get(f); /* another thread's close must not free the file while we wait on it */
    i64 r = ring_call(&op);
    file_put(f);
    if (r < 0)
        return r;
    return r == 0 ? -EAGAIN : 0;
}
