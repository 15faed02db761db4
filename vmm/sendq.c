/* Asynchronous sends (abi/uno_abi.h, "Asynchronous sends"): the bytes of a guest send the
 * host socket could not take yet, kept here in order and sent when it can.
 *
 * Why: on this host every synchronous call through the ring costs a VM exit when the I/O
 * thread sleeps (~25-45 us), and a server's replies are small sends whose result is known in
 * advance on a healthy connection: all of it. So the libOS queues them and goes on, and the
 * VMM does the send while serving the ring. What the host cannot take at once waits in a
 * queue per handle, sent before anything else on that socket (every synchronous send, sendfile
 * or splice calls sendq_before_send first), on the host's EPOLLOUT, at shutdown, after close
 * (the queue keeps the descriptor until it is empty) and before fork and exit.
 *
 * Everything here runs under the ring lock (ring_serve), but for sendq_wait, which waits
 * without it. The I/O thread sleeps in sendq_wait on one epoll set: the doorbell, PID 1's
 * pidfd, and the sockets that sent asynchronously (for EPOLLERR/EPOLLHUP, which end their
 * asynchronous sends, and EPOLLOUT while their queue is not empty). An entry is named in the
 * epoll set by index and serial, never by pointer, so an event for an entry since reused is
 * recognised and dropped. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

#define QUEUE_CAP (256u << 10) /* beyond this, sends are synchronous (and see EAGAIN) */
#define MAX_LINGER 64          /* closed sockets still sending their queue */
#define LINGER_NS (30ull * 1000000000ull)

struct sendq {
    int fd;           /* the host socket; -1: entry unused */
    uint32_t serial;  /* names the entry in the epoll set */
    bool watched;     /* in the epoll set */
    bool want_out;    /* registered for EPOLLOUT */
    bool broken;      /* an error or hang-up: sends are synchronous from now on */
    int err;          /* a failed asynchronous send's -errno, for the next send */
    int shut;         /* shutdown(how) to do once the queue is empty; -1: none */
    uint8_t *buf;
    size_t len, cap;
    uint64_t deadline_ns; /* a lingering entry gives up then */
};

static struct sendq live[UNO_MAX_HANDLES]; /* by handle */
static struct sendq linger[MAX_LINGER];    /* closed by the guest, queue not empty yet */
static int epfd = -1;
static unsigned nqueued;                   /* entries with a non-empty queue */

#define TAG_LINGER 0x80000000u
#define TAG_DOORBELL 0xffffffff00000001ull
#define TAG_PIDFD 0xffffffff00000002ull

static uint64_t tag_of(const struct sendq *q)
{
    uint32_t idx = q >= linger && q < linger + MAX_LINGER ? TAG_LINGER | (uint32_t)(q - linger)
                                                          : (uint32_t)(q - live);
    return (uint64_t)q->serial << 32 | idx;
}

static struct sendq *from_tag(uint64_t tag)
{
    uint32_t idx = (uint32_t)tag;
    struct sendq *q = idx & TAG_LINGER ? ((idx & ~TAG_LINGER) < MAX_LINGER ? &linger[idx & ~TAG_LINGER] : NULL)
                                       : (idx < UNO_MAX_HANDLES ? &live[idx] : NULL);
    return q && q->fd >= 0 && q->serial == (uint32_t)(tag >> 32) ? q : NULL;
}

static volatile uint8_t *state_of(struct vmm *v, uint32_t h)
{
    struct uno_ring *ring = gpa_ptr(v, UNO_GPA_RING, sizeof *ring);
    return ring && h < UNO_MAX_HANDLES ? &ring->sock_state[h] : NULL;
}

static void set_async(struct vmm *v, uint32_t h, bool on)
{
    volatile uint8_t *st = state_of(v, h);
    if (st)
        __atomic_store_n(st, on ? UNO_SOCKST_ASYNC : 0, __ATOMIC_RELEASE);
}

/* The epoll registration that matches the entry's needs. */
static void watch(struct sendq *q)
{
    if (epfd < 0)
        return;
    bool out = q->len > 0;
    struct epoll_event ev = {.events = EPOLLET | (out ? EPOLLOUT : 0), .data.u64 = tag_of(q)};
    if (!q->watched) {
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, q->fd, &ev) == 0)
            q->watched = true;
    } else if (out != q->want_out) {
        epoll_ctl(epfd, EPOLL_CTL_MOD, q->fd, &ev);
    }
    q->want_out = out;
}

static void unwatch(struct sendq *q)
{
    if (q->watched && epfd >= 0)
        epoll_ctl(epfd, EPOLL_CTL_DEL, q->fd, NULL);
    q->watched = q->want_out = false;
}

static void drop_queue(struct sendq *q)
{
    if (q->len)
        nqueued--;
    free(q->buf);
    q->buf = NULL;
    q->len = q->cap = 0;
}

static void entry_free(struct sendq *q)
{
    unwatch(q);
    drop_queue(q);
    q->fd = -1;
    q->serial++;
}

/* The entry of handle h for descriptor fd, made if needed. */
static struct sendq *entry(uint32_t h, int fd)
{
    struct sendq *q = &live[h];
    if (q->fd != fd) {
        if (q->fd >= 0)
            entry_free(q);
        q->fd = fd;
        q->broken = false;
        q->err = 0;
        q->shut = -1;
    }
    return q;
}

static int queue_append(struct sendq *q, const uint8_t *p, size_t n)
{
    if (q->len + n > q->cap) {
        size_t cap = q->cap ? q->cap : 16384;
        while (cap < q->len + n)
            cap *= 2;
        uint8_t *b = realloc(q->buf, cap);
        if (!b)
            return -ENOMEM;
        q->buf = b;
        q->cap = cap;
    }
    if (!q->len)
        nqueued++;
    memcpy(q->buf + q->len, p, n);
    q->len += n;
    return 0;
}

/* Send what the queue holds: 0 once it is empty, -EAGAIN if the host is full, or the
 * error that ended the connection (the queue is dropped then, as Linux drops unsent data). */
static int flush(struct sendq *q)
{
    size_t done = 0;
    int err = 0;
    while (done < q->len) {
        ssize_t n = send(q->fd, q->buf + done, q->len - done, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            err = errno == EINTR ? 0 : errno == EWOULDBLOCK ? -EAGAIN : -errno;
            if (!err)
                continue;
            break;
        }
        done += (size_t)n;
    }
    if (err && err != -EAGAIN) {
        drop_queue(q);
        q->broken = true;
        return err;
    }
    if (done == q->len) {
        drop_queue(q);
    } else {
        memmove(q->buf, q->buf + done, q->len - done);
        q->len -= done;
    }
    if (!q->len && q->shut >= 0) {
        shutdown(q->fd, q->shut);
        q->shut = -1;
    }
    return q->len ? -EAGAIN : 0;
}

/* --- the guest's operations ------------------------------------------------------------- */

void sendq_established(struct vmm *v, uint32_t h, int fd)
{
    if (h >= UNO_MAX_HANDLES || fd < 0)
        return;
    struct sendq *q = entry(h, fd);
    if (!q->broken && q->shut < 0)
        set_async(v, h, true);
}

int64_t sendq_async(struct vmm *v, uint32_t h, int fd, const uint8_t *data, size_t len)
{
    if (h >= UNO_MAX_HANDLES || fd < 0)
        return -EBADF;
    struct sendq *q = entry(h, fd);
    if (q->broken || q->shut >= 0) {
        /* Sent after the guest could know better: reported at its next send. */
        if (!q->err)
            q->err = q->shut >= 0 ? -EPIPE : -ECONNRESET;
        set_async(v, h, false);
        return q->err;
    }
    size_t done = 0;
    if (q->len && flush(q) != -EAGAIN && q->broken) {
        q->err = q->err ? q->err : -ECONNRESET;
        set_async(v, h, false);
        watch(q);
        return q->err;
    }
    if (!q->len) {
        while (done < len) {
            ssize_t n = send(fd, data + done, len - done, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno != EWOULDBLOCK) {
                q->err = -errno;
                q->broken = true;
                set_async(v, h, false);
                watch(q);
                return q->err;
            }
            if (n < 0)
                break;
            done += (size_t)n;
        }
    }
    if (done < len && queue_append(q, data + done, len - done)) {
        q->err = -ENOMEM; /* the bytes are lost: the connection is no use any more */
        q->broken = true;
        shutdown(fd, SHUT_RDWR);
    }
    if (q->len > QUEUE_CAP || q->broken)
        set_async(v, h, false);
    watch(q);
    return (int64_t)len;
}

int sendq_before_send(struct vmm *v, uint32_t h)
{
    if (h >= UNO_MAX_HANDLES || live[h].fd < 0)
        return 0;
    struct sendq *q = &live[h];
    if (q->err) {
        int e = q->err;
        q->err = 0;
        return e;
    }
    if (!q->len)
        return 0;
    int r = flush(q);
    set_async(v, h, !q->len && !q->broken && q->shut < 0);
    watch(q);
    return r;
}

void sendq_sent(struct vmm *v, uint32_t h, int fd)
{
    if (h < UNO_MAX_HANDLES && (live[h].fd != fd || (!live[h].len && !live[h].broken)))
        sendq_established(v, h, fd);
}

int sendq_shutdown(struct vmm *v, uint32_t h, int how)
{
    if (h >= UNO_MAX_HANDLES || live[h].fd < 0)
        return 0;
    struct sendq *q = &live[h];
    set_async(v, h, false);
    if (how == SHUT_RD || !q->len)
        return 0;
    flush(q);
    if (!q->len)
        return 0;
    /* The write side closes after the queue: the reading side may close now. */
    if (how == SHUT_RDWR)
        shutdown(q->fd, SHUT_RD);
    q->shut = SHUT_WR;
    return 1;
}

/* SO_LINGER with a zero time: close drops what is unsent (and resets), as Linux does. */
static bool abortive(int fd)
{
    struct linger l;
    socklen_t sl = sizeof l;
    return getsockopt(fd, SOL_SOCKET, SO_LINGER, &l, &sl) == 0 && l.l_onoff && !l.l_linger;
}

bool sendq_close(struct vmm *v, uint32_t h, int fd)
{
    if (h >= UNO_MAX_HANDLES)
        return false;
    set_async(v, h, false);
    struct sendq *q = &live[h];
    if (q->fd < 0)
        return false;
    if (q->fd != fd || !q->len || q->broken || abortive(fd) || flush(q) == 0 || !q->len) {
        if (q->fd == fd && q->shut >= 0)
            shutdown(fd, q->shut);
        entry_free(q);
        return false;
    }
    for (int i = 0; i < MAX_LINGER; i++) {
        struct sendq *l = &linger[i];
        if (l->fd >= 0)
            continue;
        unwatch(q);
        uint32_t serial = l->serial;
        *l = *q;
        l->serial = serial;
        l->watched = l->want_out = false;
        l->deadline_ns = now_ns(CLOCK_MONOTONIC) + LINGER_NS;
        q->buf = NULL;
        q->len = q->cap = 0;
        q->fd = -1;
        q->serial++;
        watch(l);
        return true; /* the entry closes fd when done */
    }
    /* Too many closing at once: this one loses its unsent bytes, with a reset. */
    entry_free(q);
    return false;
}

/* --- the I/O thread ---------------------------------------------------------------------- */

static void linger_step(struct sendq *q, uint64_t now)
{
    int r = flush(q);
    if (r == -EAGAIN && now < q->deadline_ns) {
        watch(q);
        return;
    }
    int fd = q->fd;
    entry_free(q);
    close(fd);
}

static void on_event(struct vmm *v, uint64_t tag, uint32_t events)
{
    struct sendq *q = from_tag(tag);
    if (!q)
        return;
    if (q >= linger && q < linger + MAX_LINGER) {
        linger_step(q, now_ns(CLOCK_MONOTONIC));
        return;
    }
    uint32_t h = (uint32_t)(q - live);
    if (events & (EPOLLERR | EPOLLHUP))
        q->broken = true; /* the next send must be the host's, to see its error */
    if (q->len) {
        int r = flush(q);
        if (r && r != -EAGAIN && !q->err)
            q->err = r;
    }
    set_async(v, h, !q->len && !q->broken && q->shut < 0);
    watch(q);
}

/* Every entry unused (fd -1) before anything can use one. */
__attribute__((constructor)) static void tables_init(void)
{
    for (int h = 0; h < UNO_MAX_HANDLES; h++)
        live[h].fd = -1;
    for (int i = 0; i < MAX_LINGER; i++)
        linger[i].fd = -1;
}

int sendq_start(struct vmm *v)
{
    if (epfd >= 0)
        close(epfd); /* a forked child's copy of its parent's */
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_DOORBELL};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, v->doorbell_fd, &ev) < 0)
        return -1;
    if (instance_pidfd >= 0 && !proc_is_init(v)) {
        ev.data.u64 = TAG_PIDFD;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, instance_pidfd, &ev) < 0)
            return -1;
    }
    return 0;
}

void sendq_forget_all(struct vmm *v)
{
    for (int h = 0; h < UNO_MAX_HANDLES; h++) {
        live[h].watched = live[h].want_out = false; /* the epoll set was the parent's */
        if (live[h].fd >= 0)
            entry_free(&live[h]);
        set_async(v, (uint32_t)h, false);
    }
    for (int i = 0; i < MAX_LINGER; i++) {
        linger[i].watched = linger[i].want_out = false;
        if (linger[i].fd >= 0) {
            /* The parent sends it; our copy of the descriptor is just closed. */
            close(linger[i].fd);
            entry_free(&linger[i]);
        }
    }
    nqueued = 0;
}

int sendq_wait(struct vmm *v, int timeout_ms)
{
    struct epoll_event ev[32];
    int n = epoll_wait(epfd, ev, 32, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    int res = 0;
    bool locked = false;
    for (int i = 0; i < n; i++) {
        if (ev[i].data.u64 == TAG_PIDFD)
            return 1;
        if (ev[i].data.u64 == TAG_DOORBELL) {
            uint64_t cnt;
            if (read(v->doorbell_fd, &cnt, sizeof cnt) < 0 && errno != EINTR && errno != EAGAIN)
                res = -1;
            v->doorbells++;
            continue;
        }
        if (!locked) {
            pthread_mutex_lock(&v->ring_lock);
            locked = true;
        }
        on_event(v, ev[i].data.u64, ev[i].events);
    }
    if (locked)
        pthread_mutex_unlock(&v->ring_lock);
    return res;
}

bool sendq_busy(void) { return nqueued > 0; }

/* One pass over every queue: each sends what its host socket takes now. The descriptors of
 * those that still hold bytes go to p (at most max); their count. */
static int flush_pass(struct pollfd *p, int max)
{
    int n = 0;
    for (int h = 0; h < UNO_MAX_HANDLES && n < max; h++)
        if (live[h].fd >= 0 && live[h].len && flush(&live[h]) == -EAGAIN)
            p[n++] = (struct pollfd){.fd = live[h].fd, .events = POLLOUT};
    for (int i = 0; i < MAX_LINGER && n < max; i++)
        if (linger[i].fd >= 0 && linger[i].len && flush(&linger[i]) == -EAGAIN)
            p[n++] = (struct pollfd){.fd = linger[i].fd, .events = POLLOUT};
    return n;
}

/* Sends until every queue is empty or `end` (CLOCK_MONOTONIC) has come. */
static void drain_until(uint64_t end)
{
    for (;;) {
        struct pollfd p[64];
        int n = flush_pass(p, 64);
        uint64_t now = now_ns(CLOCK_MONOTONIC);
        if (!n || now >= end)
            return;
        poll(p, (nfds_t)n, (int)((end - now) / 1000000) + 1);
    }
}

/* The process that sends what an exiting VMM's sockets still hold: the bytes were accepted
 * by send(), so, as Linux keeps sending a closed socket's buffer after its process is gone,
 * they go out after the guest process ended, up to LINGER_NS. It keeps only their
 * descriptors (so the VMM's other files and its output end with the VMM) and no signal
 * handler of the VMM's. */
static void linger_process(void)
{
    for (int sig = 1; sig < 65; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, sig == SIGPIPE ? SIG_IGN : SIG_DFL);
    static bool keep[65536];
    for (int h = 0; h < UNO_MAX_HANDLES; h++)
        if (live[h].fd >= 0 && live[h].fd < 65536 && live[h].len)
            keep[live[h].fd] = true;
    for (int i = 0; i < MAX_LINGER; i++)
        if (linger[i].fd >= 0 && linger[i].fd < 65536 && linger[i].len)
            keep[linger[i].fd] = true;
    for (int fd = 0; fd < 65536; fd++)
        if (!keep[fd])
            close(fd);
    drain_until(now_ns(CLOCK_MONOTONIC) + LINGER_NS);
    _exit(0);
}

void sendq_exit(struct vmm *v)
{
    (void)v;
    struct pollfd p[1];
    if (!flush_pass(p, 1))
        return;
    pid_t pid = fork();
    if (pid == 0)
        linger_process();
    if (pid < 0) /* no process for it: what a few seconds can send */
        drain_until(now_ns(CLOCK_MONOTONIC) + 5000000000ull);
    /* The queues are the linger process's now: our I/O thread, still running until we
     * exit, must not send them a second time. */
    for (int h = 0; h < UNO_MAX_HANDLES; h++)
        if (live[h].fd >= 0) {
            drop_queue(&live[h]);
            live[h].broken = true;
        }
    for (int i = 0; i < MAX_LINGER; i++)
        if (linger[i].fd >= 0) {
            int fd = linger[i].fd;
            entry_free(&linger[i]);
            close(fd);
        }
}

void sendq_drain_all(struct vmm *v, uint64_t budget_ns)
{
    (void)v;
    drain_until(now_ns(CLOCK_MONOTONIC) + budget_ns);
    for (int i = 0; i < MAX_LINGER; i++)
        if (linger[i].fd >= 0 && !linger[i].len) {
            int fd = linger[i].fd;
            entry_free(&linger[i]);
            close(fd);
        }
}
