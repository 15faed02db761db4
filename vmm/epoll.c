/* Readiness: epoll, timerfd and signalfd (UNO_OP_EPOLL, UNO_OP_TIMERFD, UNO_OP_SIGNALFD).
 *
 * All three are host objects behind a handle, so the host kernel keeps Linux's semantics for
 * us: a guest epoll instance is a host epoll instance whose interest list holds the host
 * descriptors of the guest's files (level/edge triggering, EPOLLONESHOT, EPOLLEXCLUSIVE,
 * EPOLLRDHUP are the host's own), a timerfd is a host timerfd, and a signalfd's readiness is
 * a host eventfd (the libOS reads the signals themselves).
 *
 * The guest's epoll_event.data is passed through as the host event's data, so a wait hands
 * back exactly what the guest registered, and an instance shared by fork (the host epoll fd
 * is inherited by the forked VMM) reports the same events to both processes, as on Linux.
 *
 * What the host cannot know is which guest file a host descriptor stands for, so each VMM
 * keeps, per epoll handle, the registrations it made (handle, events, data, the handle's gen
 * and the host fds registered). A socket changes its host descriptors on listen/connect and
 * bumps its handle's gen: before each wait the registration follows (old fds out, new in). A
 * closed handle's registration is simply forgotten: closing the host fd took it out of the
 * host's interest list (unless another process still holds the file, exactly as Linux keeps
 * an epoll item until the file's last reference goes).
 *
 * Several threads use this at once (the I/O thread serves ctl and non-blocking waits, vCPU
 * threads the waits that block): the tables are under ep_lock, never held while waiting. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "vmm.h"

struct ep_reg {
    struct ep_reg *next;
    struct ep_reg *hnext;   /* in its instance's table by data */
    uint32_t handle, gen;
    struct vsock *sock;     /* the socket it was (NULL: not a socket) */
    uint32_t events;
    uint64_t data;
    int nfds;
    int fds[HANDLE_POLL_MAX];
};

#define EP_HASH 256
struct ep {
    uint32_t gen;           /* the epoll handle's gen when made: a reused handle is not us */
    int fd;
    struct ep_reg *regs;
    struct ep_reg *by_data[EP_HASH]; /* what a host event names: its registration */
};

struct sfd {
    uint32_t gen;
    uint64_t mask;
};

static pthread_mutex_t ep_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ep *eps[UNO_MAX_HANDLES];
static struct sfd *sfds[UNO_MAX_HANDLES];
static volatile bool any_sfd; /* a signalfd was ever made: signalfd_posted has work */
/* Registrations this VMM keeps, all instances together: bounded, as Linux bounds a user's
 * epoll watches (max_user_watches, ENOSPC beyond), so a hostile guest cannot grow us. */
#define EP_REGS_MAX 65536
static int nregs;

static unsigned data_slot(uint64_t d)
{
    d ^= d >> 33;
    d *= 0xff51afd7ed558ccdull;
    d ^= d >> 33;
    return (unsigned)(d & (EP_HASH - 1));
}

static void hash_add(struct ep *e, struct ep_reg *g)
{
    unsigned i = data_slot(g->data);
    g->hnext = e->by_data[i];
    e->by_data[i] = g;
}

static void hash_del(struct ep *e, struct ep_reg *g)
{
    for (struct ep_reg **pp = &e->by_data[data_slot(g->data)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == g) {
            *pp = g->hnext;
            return;
        }
    }
}

/* The registration whose data a host event carries (the first, if the guest gave several
 * the same data: receiving ahead for the other is then only skipped). */
static struct ep_reg *reg_by_data(struct ep *e, uint64_t d)
{
    for (struct ep_reg *g = e->by_data[data_slot(d)]; g; g = g->hnext)
        if (g->data == d)
            return g;
    return NULL;
}

/* Unlinked from the instance's list by the caller. */
static void reg_free(struct ep *e, struct ep_reg *g)
{
    if (e)
        hash_del(e, g);
    nregs--;
    free(g);
}

/* The VMM forks itself (a guest fork) from one vCPU thread while another may be inside a
 * wait here: the child must not inherit ep_lock taken by a thread it does not have. */
static void ep_fork_prepare(void) { pthread_mutex_lock(&ep_lock); }
static void ep_fork_done(void) { pthread_mutex_unlock(&ep_lock); }
__attribute__((constructor)) static void ep_init(void)
{
    pthread_atfork(ep_fork_prepare, ep_fork_done, ep_fork_done);
}

static void free_ep(struct ep *e)
{
    while (e->regs) {
        struct ep_reg *g = e->regs;
        e->regs = g->next;
        reg_free(NULL, g); /* the table goes with e */
    }
    free(e);
}

/* The epoll instance behind handle h, or NULL (under ep_lock). A table entry whose handle
 * was closed (and maybe reused) since is dropped here. */
static struct ep *ep_of(struct vmm *v, uint64_t h)
{
    if (h >= UNO_MAX_HANDLES || !eps[h])
        return NULL;
    struct ep *e = eps[h];
    if (e->gen != v->handles[h].gen || e->fd != v->handles[h].fd) {
        free_ep(e);
        eps[h] = NULL;
        return NULL;
    }
    return e;
}

static struct sfd *sfd_of(struct vmm *v, uint64_t h)
{
    if (h >= UNO_MAX_HANDLES || !sfds[h])
        return NULL;
    if (sfds[h]->gen != v->handles[h].gen || v->handles[h].fd < 0) {
        free(sfds[h]);
        sfds[h] = NULL;
        return NULL;
    }
    return sfds[h];
}

static bool has_fd(const int *fds, int n, int fd)
{
    for (int i = 0; i < n; i++)
        if (fds[i] == fd)
            return true;
    return false;
}

/* Is host fd `fd` one of another live registration's? (Then it is not ours to remove.) */
static bool fd_used_elsewhere(struct ep *e, struct ep_reg *self, int fd)
{
    for (struct ep_reg *g = e->regs; g; g = g->next)
        if (g != self && has_fd(g->fds, g->nfds, fd))
            return true;
    return false;
}

/* Bring every registration up to date with its handle (under ep_lock): forget the closed
 * ones, move a socket's to its current host descriptors. */
static void ep_sync(struct vmm *v, struct ep *e)
{
    for (struct ep_reg **pp = &e->regs; *pp;) {
        struct ep_reg *g = *pp;
        struct host_handle *hh = &v->handles[g->handle];
        if (hh->gen == g->gen) {
            pp = &g->next;
            continue;
        }
        if (hh->fd < 0 || !hh->sock || hh->sock != g->sock) {
            *pp = g->next; /* closed (or another file now): the host dropped it with the fd */
            reg_free(e, g);
            continue;
        }
        int now[HANDLE_POLL_MAX];
        int n = handle_poll_fds(v, g->handle, now, HANDLE_POLL_MAX);
        struct epoll_event ev = {.events = g->events, .data.u64 = g->data};
        for (int i = 0; i < g->nfds; i++)
            if (!has_fd(now, n, g->fds[i]) && !fd_used_elsewhere(e, g, g->fds[i]))
                epoll_ctl(e->fd, EPOLL_CTL_DEL, g->fds[i], NULL);
        for (int i = 0; i < n; i++)
            if (!has_fd(g->fds, g->nfds, now[i]) &&
                epoll_ctl(e->fd, EPOLL_CTL_ADD, now[i], &ev) < 0 && errno == EEXIST)
                epoll_ctl(e->fd, EPOLL_CTL_MOD, now[i], &ev);
        memcpy(g->fds, now, sizeof(int) * (size_t)n);
        g->nfds = n;
        g->gen = hh->gen;
        pp = &g->next;
    }
}

static struct ep_reg *reg_find(struct ep *e, uint32_t h)
{
    for (struct ep_reg *g = e->regs; g; g = g->next)
        if (g->handle == h)
            return g;
    return NULL;
}

static void reg_drop(struct ep *e, uint32_t h)
{
    for (struct ep_reg **pp = &e->regs; *pp; pp = &(*pp)->next) {
        if ((*pp)->handle == h) {
            struct ep_reg *g = *pp;
            *pp = g->next;
            reg_free(e, g);
            return;
        }
    }
}

static int64_t ep_create(struct vmm *v)
{
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct ep *e = calloc(1, sizeof *e);
    if (!e) {
        close(fd);
        return -ENOMEM;
    }
    int h = alloc_handle(v, fd, false);
    if (h < 0) {
        free(e);
        return h;
    }
    pthread_mutex_lock(&ep_lock);
    if (eps[h])
        free_ep(eps[h]);
    e->fd = fd;
    e->gen = v->handles[h].gen;
    eps[h] = e;
    pthread_mutex_unlock(&ep_lock);
    return h;
}

#define EPOLL_CTL_OPS_MAX 3
static int64_t ep_ctl(struct vmm *v, struct ring_req *r)
{
    int op = (int)r->arg[1];
    uint64_t th = r->arg[2];
    struct uno_epoll_event ue = {0};
    if (r->arg[1] < EPOLL_CTL_ADD || r->arg[1] > EPOLL_CTL_OPS_MAX)
        return -EINVAL;
    if (op != EPOLL_CTL_DEL) {
        if (r->len < sizeof ue)
            return -EINVAL;
        memcpy(&ue, r->data, sizeof ue);
    }
    if (th >= UNO_MAX_HANDLES || handle_fd(v, (uint32_t)th) < 0)
        return -EBADF;
    int fds[HANDLE_POLL_MAX];
    int n = handle_poll_fds(v, (uint32_t)th, fds, HANDLE_POLL_MAX);
    if (n <= 0)
        return -EPERM; /* nothing the host can watch (a socket not yet bound...) */
    /* EPOLLWAKEUP needs CAP_BLOCK_SUSPEND, which Linux silently drops without: so do we. */
    struct epoll_event ev = {.events = ue.events & ~(uint32_t)EPOLLWAKEUP, .data.u64 = ue.data};
    pthread_mutex_lock(&ep_lock);
    struct ep *e = ep_of(v, r->handle);
    int64_t res = 0;
    if (!e) {
        res = handle_fd(v, r->handle) < 0 ? -EBADF : -EINVAL;
        goto out;
    }
    ep_sync(v, e);
    if (op == EPOLL_CTL_ADD && nregs >= EP_REGS_MAX) {
        res = -ENOSPC;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (epoll_ctl(e->fd, op, fds[i], op == EPOLL_CTL_DEL ? NULL : &ev) == 0)
            continue;
        res = -errno;
        /* A socket with several host descriptors: all or none. */
        for (int k = 0; k < i && op == EPOLL_CTL_ADD; k++)
            epoll_ctl(e->fd, EPOLL_CTL_DEL, fds[k], NULL);
        goto out;
    }
    struct ep_reg *g = reg_find(e, (uint32_t)th);
    if (op == EPOLL_CTL_DEL) {
        reg_drop(e, (uint32_t)th);
    } else {
        if (!g && op == EPOLL_CTL_ADD && (g = calloc(1, sizeof *g))) {
            g->next = e->regs;
            e->regs = g;
            g->data = ev.data.u64;
            hash_add(e, g);
            nregs++;
        }
        if (g) { /* MOD of another process's registration (a fork) has none here */
            g->handle = (uint32_t)th;
            g->gen = v->handles[th].gen;
            g->sock = v->handles[th].sock;
            g->events = ev.events;
            if (g->data != ev.data.u64) {
                hash_del(e, g);
                g->data = ev.data.u64;
                hash_add(e, g);
            }
            g->nfds = n;
            memcpy(g->fds, fds, sizeof(int) * (size_t)n);
        }
    }
out:
    pthread_mutex_unlock(&ep_lock);
    return res;
}

/* A socket registered through several host descriptors must come back as one event: merge
 * events that carry the data of such a registration (under ep_lock). */
static int merge_multi(struct ep *e, struct epoll_event *evs, int n)
{
    bool any = false;
    for (struct ep_reg *g = e->regs; g && !any; g = g->next)
        any = g->nfds > 1;
    if (!any)
        return n;
    int out = 0;
    for (int i = 0; i < n; i++) {
        bool merged = false;
        for (struct ep_reg *g = e->regs; g && !merged; g = g->next) {
            if (g->nfds <= 1 || g->data != evs[i].data.u64)
                continue;
            for (int k = 0; k < out && !merged; k++) {
                if (evs[k].data.u64 == evs[i].data.u64) {
                    evs[k].events |= evs[i].events;
                    merged = true;
                }
            }
        }
        if (!merged)
            evs[out++] = evs[i];
    }
    return out;
}

/* Receiving ahead (rxahead.c), under ring_lock and ep_lock: a connected TCP socket reported
 * readable gets its bytes received into the guest's buffer now, while we are here anyway;
 * and a level-triggered EPOLLIN registration with bytes waiting in its buffer is reported
 * (the host socket they came from may be empty now). */
static int receive_ahead(struct vmm *v, struct ep *e, struct epoll_event *evs, int n, int max)
{
    for (int i = 0; i < n; i++) {
        if (!(evs[i].events & EPOLLIN) || (evs[i].events & EPOLLERR))
            continue;
        /* Not for a one-shot registration: re-armed, it must find the bytes in the host
         * socket, since it is not reported from the buffer (the host's arming is unknown). */
        struct ep_reg *g = reg_by_data(e, evs[i].data.u64);
        if (g && g->sock && !(g->events & EPOLLONESHOT))
            rx_fill(v, g->handle, true);
    }
    for (struct ep_reg *g = e->regs; g; g = g->next) {
        if (!g->sock || !(g->events & EPOLLIN) || (g->events & (EPOLLET | EPOLLONESHOT)) ||
            v->handles[g->handle].gen != g->gen || !rx_pending(v, g->handle))
            continue;
        uint32_t add = EPOLLIN | (g->events & EPOLLRDNORM);
        int k = 0;
        while (k < n && evs[k].data.u64 != g->data)
            k++;
        if (k < n)
            evs[k].events |= add;
        else if (n < max)
            evs[n++] = (struct epoll_event){.events = add, .data.u64 = g->data};
    }
    return n;
}

static int harvest(struct vmm *v, uint32_t h, int fd, struct epoll_event *evs, int max,
                   bool ring_locked)
{
    int n = epoll_wait(fd, evs, max, 0);
    if (n < 0)
        return -errno;
    if (!ring_locked)
        pthread_mutex_lock(&v->ring_lock);
    pthread_mutex_lock(&ep_lock);
    struct ep *e = ep_of(v, h);
    if (e) {
        n = merge_multi(e, evs, n);
        n = receive_ahead(v, e, evs, n, max);
    }
    pthread_mutex_unlock(&ep_lock);
    if (!ring_locked)
        pthread_mutex_unlock(&v->ring_lock);
    return n;
}

/* epoll_wait: one look (the ring's non-blocking attempt), or, for a UNO_SQE_BLOCKING one, a
 * wait for the instance's own descriptor to become readable, a signal for the guest
 * (-EINTR) or the timeout (0), then another look. Another thread or process may take the
 * events first: then wait again. */
static int64_t ep_wait(struct vmm *v, struct ring_req *r)
{
    uint64_t max = r->arg[1];
    int64_t timeout = (int64_t)r->arg[2];
    if (max < 1 || max > UNO_EPOLL_MAX_EVENTS || r->len < max * sizeof(struct uno_epoll_event))
        return -EINVAL;
    pthread_mutex_lock(&ep_lock);
    struct ep *e = ep_of(v, r->handle);
    int fd = e ? e->fd : -1;
    if (e)
        ep_sync(v, e);
    pthread_mutex_unlock(&ep_lock);
    if (fd < 0)
        return handle_fd(v, r->handle) < 0 ? -EBADF : -EINVAL;
    struct epoll_event evs[UNO_EPOLL_MAX_EVENTS];
    uint64_t deadline = timeout < 0 ? 0 : now_ns(CLOCK_MONOTONIC) + (uint64_t)timeout;
    int n = harvest(v, r->handle, fd, evs, (int)max, r->ring_locked);
    while (n == 0 && timeout != 0 && r->may_block) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int b = block_wait(v, &p, 1, deadline, false);
        if (b <= 0)
            return b; /* -EINTR, or 0: the time is up */
        n = harvest(v, r->handle, fd, evs, (int)max, r->ring_locked);
        if (n == 0 && deadline && now_ns(CLOCK_MONOTONIC) >= deadline)
            break;
    }
    if (n < 0)
        return n;
    struct uno_epoll_event *out = (struct uno_epoll_event *)r->data;
    for (int i = 0; i < n; i++)
        out[i] = (struct uno_epoll_event){.events = evs[i].events, .data = evs[i].data.u64};
    return n;
}

int64_t epoll_op(struct vmm *v, struct ring_req *r)
{
    switch (r->arg[0]) {
    case UNO_EPOLL_CREATE:
        return ep_create(v);
    case UNO_EPOLL_CTL:
        return ep_ctl(v, r);
    case UNO_EPOLL_WAIT:
        return ep_wait(v, r);
    default:
        return -EINVAL;
    }
}

/* ---------------------------------------------------------------- timerfd ------------ */

/* A host timerfd, non-blocking on the host like a pipe: the guest's blocking read waits in
 * hostops.c's stream path, interruptible by signals. The clocks are the host's, which are
 * the guest's (boot info carries them). */
int64_t timerfd_op(struct vmm *v, struct ring_req *r)
{
    struct uno_itimerspec u;
    struct itimerspec nv, ov;
    int fd;
    switch (r->arg[0]) {
    case UNO_TIMERFD_CREATE: {
        if (r->arg[1] > INT32_MAX)
            return -EINVAL;
        fd = timerfd_create((int)r->arg[1], TFD_NONBLOCK | TFD_CLOEXEC);
        if (fd < 0)
            return -errno;
        return alloc_stream_handle(v, fd);
    }
    case UNO_TIMERFD_SET:
        if ((fd = handle_fd(v, r->handle)) < 0)
            return -EBADF;
        if (r->len < sizeof u || (r->arg[1] & ~(uint64_t)(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)))
            return -EINVAL;
        memcpy(&u, r->data, sizeof u);
        nv.it_interval.tv_sec = u.interval_sec;
        nv.it_interval.tv_nsec = u.interval_nsec;
        nv.it_value.tv_sec = u.value_sec;
        nv.it_value.tv_nsec = u.value_nsec;
        if (timerfd_settime(fd, (int)r->arg[1], &nv, &ov) < 0)
            return -errno;
        break;
    case UNO_TIMERFD_GET:
        if ((fd = handle_fd(v, r->handle)) < 0)
            return -EBADF;
        if (timerfd_gettime(fd, &ov) < 0)
            return -errno;
        break;
    default:
        return -EINVAL;
    }
    u = (struct uno_itimerspec){.interval_sec = ov.it_interval.tv_sec,
                                .interval_nsec = ov.it_interval.tv_nsec,
                                .value_sec = ov.it_value.tv_sec,
                                .value_nsec = ov.it_value.tv_nsec};
    memcpy(r->data, &u, sizeof u);
    return sizeof u;
}

/* ---------------------------------------------------------------- signalfd ----------- */

int64_t signalfd_op(struct vmm *v, struct ring_req *r)
{
    switch (r->arg[0]) {
    case UNO_SIGNALFD_CREATE: {
        struct sfd *s = calloc(1, sizeof *s);
        if (!s)
            return -ENOMEM;
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0) {
            free(s);
            return -errno;
        }
        int h = alloc_stream_handle(v, fd); /* the libOS's blocking read waits on it */
        if (h < 0) {
            free(s);
            return h;
        }
        s->gen = v->handles[h].gen;
        s->mask = r->arg[1];
        pthread_mutex_lock(&ep_lock);
        free(sfds[h]);
        sfds[h] = s;
        any_sfd = true;
        pthread_mutex_unlock(&ep_lock);
        return h;
    }
    case UNO_SIGNALFD_MASK: {
        pthread_mutex_lock(&ep_lock);
        struct sfd *s = sfd_of(v, r->handle);
        if (s)
            s->mask = r->arg[1];
        pthread_mutex_unlock(&ep_lock);
        return s ? 0 : -EINVAL;
    }
    default:
        return -EINVAL;
    }
}

/* Signals `bits` just reached the guest's signal page (proc_take_signals): the signalfds
 * watching one of them become readable, so a thread waiting in the host for one (a blocking
 * read, poll, epoll_wait) wakes although the signal itself is blocked. */
void signalfd_posted(struct vmm *v, uint64_t bits)
{
    static const uint64_t one = 1;
    if (!any_sfd)
        return;
    pthread_mutex_lock(&ep_lock);
    for (int h = 3; h < UNO_MAX_HANDLES; h++) {
        struct sfd *s = sfds[h] ? sfd_of(v, (uint64_t)h) : NULL;
        if (s && (s->mask & bits) && write(v->handles[h].fd, &one, sizeof one) < 0) {
            /* a full counter is readable anyway */
        }
    }
    pthread_mutex_unlock(&ep_lock);
}
