/* timerfd: a host timerfd the VMM holds (vmm/epoll.c), so the host's clocks and timers give
 * Linux's semantics exactly — relative and absolute times, intervals with expiration counts,
 * TFD_TIMER_CANCEL_ON_SET, the alarm clocks' permission check — and the timer is shared by
 * fork as Linux shares it. The guest's clocks are the host's (boot info), so an absolute
 * time the guest computed means the same instant to the host. A read is 8 bytes of
 * expirations; one that must wait is served by the vCPU thread like a pipe read
 * (interruptible by signals), and poll/select/epoll ask the VMM as for a pipe. */
#include "vfs.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "sys/syscalls.h"

#define TFD_NONBLOCK O_NONBLOCK
#define TFD_CLOEXEC O_CLOEXEC
#define TFD_TIMER_ABSTIME 1
#define TFD_TIMER_CANCEL_ON_SET 2

struct k_itimerspec {
    i64 interval_sec, interval_nsec, value_sec, value_nsec;
};

static const struct file_ops timerfd_ops;

static i64 tfd_read(struct file *f, void *buf, u64 len, i64 off)
{
    (void)off;
    if (len < 8)
        return -EINVAL;
    bool nb = (file_status(f) & O_NONBLOCK) != 0;
    struct ring_op op = {.op = UNO_OP_READ, .handle = f->handle, .off = -1, .out = buf,
                         .out_len = 8, .nonblock = nb, .blocking = !nb};
    return ring_call(&op);
}

static i64 tfd_write(struct file *f, const void *buf, u64 len, i64 off)
{
    (void)f, (void)buf, (void)len, (void)off;
    return -EINVAL; /* Linux's timerfd has no write */
}

static const struct file_ops timerfd_ops = {
    .read = tfd_read,
    .write = tfd_write,
    .stat = upper_fstat,
    .lseek = file_lseek_noop,
    .release = file_close_handle,
};

i64 sys_timerfd_create(u64 clockid, u64 flags)
{
    if (flags & ~(u64)(TFD_NONBLOCK | TFD_CLOEXEC))
        return -EINVAL;
    /* The clock is the host's to check (EINVAL for others, EPERM for the alarm clocks
     * without CAP_WAKE_ALARM). */
    struct ring_op op = {.op = UNO_OP_TIMERFD, .arg = {UNO_TIMERFD_CREATE, (u32)clockid}};
    i64 h = ring_call(&op);
    if (h < 0)
        return h;
    struct file *f = file_for_handle(&timerfd_ops, (u32)h, O_RDWR | (int)(flags & TFD_NONBLOCK),
                                     0600, "anon_inode:[timerfd]");
    if (!f) {
        handle_close((u32)h);
        return -ENFILE;
    }
    int fd = fd_install(f, 0, (flags & TFD_CLOEXEC) != 0);
    if (fd < 0)
        file_put(f);
    return fd;
}

/* The timerfd of a descriptor: -EBADF, or -EINVAL if it is something else (Linux's
 * timerfd_fget). */
static i64 timerfd_of(u64 fd, struct file **out)
{
    struct file *f = fd_get((int)fd);
    if (!f)
        return -EBADF;
    if (f->ops != &timerfd_ops)
        return -EINVAL;
    *out = f;
    return 0;
}

static bool ts_valid(i64 sec, i64 nsec) { return sec >= 0 && nsec >= 0 && nsec < 1000000000; }

i64 sys_timerfd_settime(u64 fd, u64 flags, u64 unew, u64 uold)
{
    struct k_itimerspec nv, ov;
    if (copy_from_user(&nv, (void *)unew, sizeof nv))
        return -EFAULT;
    if ((flags & ~(u64)(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)) ||
        !ts_valid(nv.interval_sec, nv.interval_nsec) || !ts_valid(nv.value_sec, nv.value_nsec))
        return -EINVAL;
    struct file *f;
    i64 e = timerfd_of(fd, &f);
    if (e)
        return e;
    struct uno_itimerspec u = {nv.interval_sec, nv.interval_nsec, nv.value_sec, nv.value_nsec};
    struct ring_op op = {.op = UNO_OP_TIMERFD, .handle = f->handle,
                         .arg = {UNO_TIMERFD_SET, flags}, .in = &u, .in_len = sizeof u,
                         .out = &u, .out_len = sizeof u};
    i64 r = ring_call(&op);
    if (r < 0)
        return r;
    ov = (struct k_itimerspec){u.interval_sec, u.interval_nsec, u.value_sec, u.value_nsec};
    if (uold && copy_to_user((void *)uold, &ov, sizeof ov))
        return -EFAULT;
    return 0;
}

i64 sys_timerfd_gettime(u64 fd, u64 ucur)
{
    struct file *f;
    i64 e = timerfd_of(fd, &f);
    if (e)
        return e;
    struct uno_itimerspec u;
    struct ring_op op = {.op = UNO_OP_TIMERFD, .handle = f->handle,
                         .arg = {UNO_TIMERFD_GET}, .out = &u, .out_len = sizeof u};
    i64 r = ring_call(&op);
    if (r < 0)
        return r;
    struct k_itimerspec cur = {u.interval_sec, u.interval_nsec, u.value_sec, u.value_nsec};
    return copy_to_user((void *)ucur, &cur, sizeof cur) ? -EFAULT : 0;
}
