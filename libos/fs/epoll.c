/* epoll: an instance is a host epoll instance the VMM holds (vmm/epoll.c), watching the host
 * descriptors of the guest's files. Only files whose readiness is the host's can join one
 * (file_poll_handle: pipes, eventfds, timerfds, signalfds, the console, sockets, other epoll
 * instances); the others get EPERM, as Linux gives for regular files. The guest's
 * epoll_event.data is the host event's data, so what a wait returns needs no translation,
 * and level/edge triggering, EPOLLONESHOT, EPOLLEXCLUSIVE and EPOLLRDHUP are the host
 * kernel's own. A wait is first one look through the ring (the I/O thread serves it, no
 * exit while it is busy); only when nothing is ready and the caller will wait does it become
 * a host call of its own thread, which a signal interrupts — at once when the I/O thread
 * sleeps, since that host call looks first too. */
#include "vfs.h"
#include "core/kernel.h"
#include "core/kheap.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "proc/proc.h"
#include "proc/signal.h"
#include "sys/syscalls.h"
#include "net/socket.h"

#define EPOLL_CLOEXEC O_CLOEXEC
#define EPOLL_CTL_ADD 1
#define EPOLL_CTL_DEL 2
#define EPOLLEXCLUSIVE (1u << 28)
#define EP_MAX_EVENTS (0x7fffffff / 12) /* Linux: INT_MAX / sizeof(struct epoll_event) */

/* struct epoll_event as x86-64 lays it out: packed, 12 bytes. */
struct k_epoll_event {
    u32 events;
    u64 data;
} __attribute__((packed));


static const struct file_ops epoll_ops;

static i64 ep_read(struct file *f, void *buf, u64 len, i64 off)
{
    (void)f, (void)buf, (void)len, (void)off;
    return -EINVAL;
}

static i64 ep_write(struct file *f, const void *buf, u64 len, i64 off)
{
    (void)f, (void)buf, (void)len, (void)off;
    return -EINVAL;
}

static const struct file_ops epoll_ops = {
    .read = ep_read,
    .write = ep_write,
    .stat = upper_fstat,
    .lseek = file_lseek_noop,
    .release = file_close_handle,
};

i64 sys_epoll_create1(u64 flags)
{
    if (flags & ~(u64)EPOLL_CLOEXEC)
        return -EINVAL;
    struct ring_op op = {.op = UNO_OP_EPOLL, .arg = {UNO_EPOLL_CREATE}};
    i64 h = ring_call(&op);
    if (h < 0)
        return h;
    /* Host-polled: an epoll fd can be polled, or put in another epoll. */
    struct file *f = file_for_handle(&epoll_ops, (u32)h, O_RDWR, 0600, "anon_inode:[eventpoll]");
    if (!f) {
        handle_close((u32)h);
        return -ENFILE;
    }
    int fd = fd_install(f, 0, (flags & EPOLL_CLOEXEC) != 0);
    if (fd < 0)
        file_put(f);
    return fd;
}

i64 sys_epoll_create(u64 size)
{
    return (int)size <= 0 ? -EINVAL : sys_epoll_create1(0);
}

/* Linux's order of checks: the event, both descriptors, the target's pollability, then
 * whether epfd is an epoll instance other than the target. The rest (EEXIST, ENOENT,
 * EPOLLEXCLUSIVE's rules, loops) is the host's answer. */
i64 sys_epoll_ctl(u64 epfd, u64 op, u64 fd, u64 uevent)
{
    struct k_epoll_event ev = {0, 0};
    if ((int)op != EPOLL_CTL_DEL && copy_from_user(&ev, (void *)uevent, sizeof ev))
        return -EFAULT;
    struct file *ef = fd_get((int)epfd), *tf = fd_get((int)fd);
    u32 th;
    if (!ef || !tf)
        return -EBADF;
    if (!file_poll_handle(tf, &th))
        return -EPERM;
    if (ef == tf || ef->ops != &epoll_ops)
        return -EINVAL;
    struct uno_epoll_event ue = {.events = ev.events, .data = ev.data};
    if ((int)op == EPOLL_CTL_ADD && !(ev.events & EPOLLEXCLUSIVE) && sock_first_epoll_add(tf)) {
        /* A socket no epoll instance has seen: the host can only say 0 (EPOLLEXCLUSIVE's
         * rules aside), so the ADD goes without waiting (no exit); the ring keeps it ahead of
         * any later wait. A server adds every connection it accepts. */
        u32 idx;
        memcpy(ring_async_slot(&idx), &ue, sizeof ue);
        u64 args[4] = {UNO_EPOLL_CTL, (u32)op, th, 0};
        ring_async_submit(idx, UNO_OP_EPOLL, ef->handle, sizeof ue, args);
        sock_rx_update(tf);
        return 0;
    }
    if ((int)op == EPOLL_CTL_ADD)
        sock_first_epoll_add(tf); /* seen, whatever the answer */
    struct ring_op rop = {.op = UNO_OP_EPOLL, .handle = ef->handle,
                          .arg = {UNO_EPOLL_CTL, (u32)op, th}, .in = &ue, .in_len = sizeof ue};
    i64 r = ring_call(&rop);
    if (r == 0 && (int)op != EPOLL_CTL_DEL)
        sock_rx_update(tf); /* its first bytes may come with the wait that reports them */
    return r;
}

/* The wait itself, on a checked instance: at most UNO_EPOLL_MAX_EVENTS (1024) events per
 * call, the data one ring slot carries; a caller asking for more gets what is ready up to
 * that (epoll_wait may always return fewer than maxevents, and the host keeps the rest,
 * level-triggered ones at the back of its ready list, so none starves). */
static i64 ep_wait(struct file *f, u64 uevents, int maxevents, i64 timeout_ns)
{
    u64 n = MIN((u64)maxevents, (u64)UNO_EPOLL_MAX_EVENTS);
    struct uno_epoll_event *buf = kmalloc(n * sizeof *buf);
    if (!buf)
        return -ENOMEM;
    struct ring_op op = {.op = UNO_OP_EPOLL, .handle = f->handle,
                         .arg = {UNO_EPOLL_WAIT, n, 0}, .out = buf,
                         .out_len = n * sizeof *buf, .out_fixed = true};
    /* A look through the ring first, which costs no exit while the host's I/O thread is
     * awake; when it sleeps, that look would be an exit of its own, and the wait that may
     * block looks first as well (in the VMM), so it goes straight there. */
    bool direct = timeout_ns != 0 && ring_host_asleep() && !signal_pending();
    if (direct) {
        op.arg[2] = (u64)timeout_ns;
        op.blocking = true;
    }
    i64 r = ring_call(&op);
    if (r == 0 && timeout_ns != 0 && !direct) {
        /* Nothing ready: a signal already pending here (raised by the guest itself, which
         * the VMM does not see) ends it before the host wait. */
        if (signal_pending()) {
            r = -EINTR;
        } else {
            op.arg[2] = (u64)timeout_ns;
            op.blocking = true;
            r = ring_call(&op);
        }
    }
    if (r > (i64)n)
        r = -EIO; /* the VMM never says more than asked */
    for (i64 i = 0; i < r; i++) {
        struct k_epoll_event k = {.events = buf[i].events, .data = buf[i].data};
        if (copy_to_user((u8 *)uevents + (u64)i * sizeof k, &k, sizeof k)) {
            r = -EFAULT;
            break;
        }
    }
    kfree(buf);
    return r;
}

static i64 ep_wait_checked(u64 epfd, u64 uevents, u64 maxevents, i64 timeout_ns)
{
    int max = (int)maxevents;
    if (max <= 0 || max > EP_MAX_EVENTS)
        return -EINVAL;
    /* Linux checks only that the buffer lies in user space; an unmapped one is EFAULT when
     * an event is copied to it (copy_to_user). */
    if (uevents >= 0x800000000000ull ||
        (u64)max * sizeof(struct k_epoll_event) > 0x800000000000ull - uevents)
        return -EFAULT;
    struct file *f = fd_get((int)epfd);
    if (!f)
        return -EBADF;
    if (f->ops != &epoll_ops)
        return -EINVAL;
    /* Held while we wait without the big lock: a close by another thread leaves the host
     * instance open until we are done, as Linux's fdget keeps the file. */
    file_get(f);
    i64 r = ep_wait(f, uevents, max, timeout_ns);
    file_put(f);
    return r;
}

static i64 ms_to_ns(u64 timeout_ms)
{
    int t = (int)timeout_ms;
    return t < 0 ? -1 : (i64)t * 1000000;
}

i64 sys_epoll_wait(u64 epfd, u64 events, u64 maxevents, u64 timeout_ms)
{
    return ep_wait_checked(epfd, events, maxevents, ms_to_ns(timeout_ms));
}

/* epoll_pwait/pwait2: the mask given holds only during the wait, as for ppoll (sys/poll.c
 * does the same for ppoll and pselect6). Interrupted, the mask it replaced is restored when
 * the handler returns (signal_deliver puts it in the handler's frame). */
static i64 pwait(u64 epfd, u64 events, u64 maxevents, i64 timeout_ns, u64 umask, u64 size)
{
    if (umask) {
        int e = signal_wait_mask(umask, size);
        if (e)
            return e;
    }
    i64 r = ep_wait_checked(epfd, events, maxevents, timeout_ns);
    if (umask && r != -EINTR && proc.has_saved_mask) {
        proc.has_saved_mask = false;
        signal_set_mask(proc.saved_mask);
    }
    return r;
}

i64 sys_epoll_pwait(u64 epfd, u64 events, u64 maxevents, u64 timeout_ms, u64 umask, u64 size)
{
    return pwait(epfd, events, maxevents, ms_to_ns(timeout_ms), umask, size);
}

i64 sys_epoll_pwait2(u64 epfd, u64 events, u64 maxevents, u64 uts, u64 umask, u64 size)
{
    i64 t;
    int e = user_timespec_ns(uts, &t);
    if (e)
        return e;
    return pwait(epfd, events, maxevents, t, umask, size);
}
