/* splice, tee and vmsplice. splice: bytes between a pipe and another descriptor. When both are host descriptors (pipes,
 * sockets, files of the writable layer) the host's splice moves them with no copy through the
 * guest (UNO_OP_SPLICE); a file of the image goes through a libOS buffer into the pipe. A call
 * that would wait is the libOS's loop of attempts and waits, as for pipes and sockets. tee:
 * the host's, between two host pipes. vmsplice: the app's pages into a pipe (or out of one),
 * copied as writev/readv would: the data is the same, only Linux's page gifting is not. */
#include "syscalls.h"
#include "core/kernel.h"
#include "core/kheap.h"
#include "fs/file.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"

#define SPLICE_F_MOVE 1
#define SPLICE_F_NONBLOCK 2
#define SPLICE_F_MORE 4
#define SPLICE_F_GIFT 8
#define POLLIN 0x1
#define POLLOUT 0x4

bool file_is_pipe(const struct file *f);

static bool host_backed(const struct file *f)
{
    return (f->host_polled || f->has_upper) && f->handle >= 3 && !S_ISDIR(f->mode);
}

/* Reads an offset argument: -1 when none was given; -ESPIPE for a pipe's. */
static i64 read_off(struct file *f, u64 uoff, i64 *off)
{
    *off = -1;
    if (!uoff)
        return 0;
    if (file_is_pipe(f))
        return -ESPIPE;
    if (copy_from_user(off, (void *)uoff, 8))
        return -EFAULT;
    return *off < 0 ? -EINVAL : 0;
}

/* A file of the image into a pipe: read into a buffer, written into the pipe. */
static i64 splice_copy(struct file *in, i64 *off, struct file *out, u64 len)
{
    u64 n = MIN(len, (u64)RING_MAX_IO);
    u8 *buf = kmalloc(n);
    if (!buf)
        return -ENOMEM;
    i64 pos = *off >= 0 ? *off : in->off;
    i64 got = in->ops->read(in, buf, n, pos);
    i64 r = got <= 0 ? got : out->ops->write(out, buf, (u64)got, -1);
    kfree(buf);
    if (r > 0) {
        if (*off >= 0)
            *off += r;
        else
            in->off += r;
    }
    return r;
}

i64 sys_splice(u64 fd_in, u64 uoff_in, u64 fd_out, u64 uoff_out, u64 len, u64 flags)
{
    struct file *in = fd_get((int)fd_in), *out = fd_get((int)fd_out);
    if (!in || !out)
        return -EBADF;
    if (flags & ~(u64)(SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT))
        return -EINVAL;
    if (!file_is_pipe(in) && !file_is_pipe(out))
        return -EINVAL;
    if ((in->flags & O_ACCMODE) == O_WRONLY || (out->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    i64 off_in, off_out, r;
    if ((r = read_off(in, uoff_in, &off_in)) || (r = read_off(out, uoff_out, &off_out)))
        return r;
    if (len == 0)
        return 0;
    bool nb = (flags & SPLICE_F_NONBLOCK) != 0;
    for (;;) {
        if (host_backed(in) && host_backed(out)) {
            struct ring_op op = {.op = UNO_OP_SPLICE, .handle = in->handle,
                                 .arg = {out->handle, (u64)off_in, (u64)off_out,
                                         MIN(len, (u64)1 << 30)}};
            r = ring_call(&op);
        } else if (in->has_lower && file_is_pipe(out)) {
            r = splice_copy(in, &off_in, out, len);
        } else {
            return -EINVAL; /* what Linux says for files it cannot splice */
        }
        if (r != -EAGAIN || nb)
            break;
        /* Wait for the pipe that held us up: nothing in it, or no room. */
        struct file *p = file_is_pipe(in) ? in : out;
        if ((r = file_wait(p, p == in ? POLLIN : POLLOUT, 0)))
            return r;
    }
    if (r > 0 && host_backed(in) && host_backed(out)) {
        if (off_in >= 0)
            off_in += r;
        if (off_out >= 0)
            off_out += r;
    }
    if (r > 0 && ((uoff_in && copy_to_user((void *)uoff_in, &off_in, 8)) ||
                  (uoff_out && copy_to_user((void *)uoff_out, &off_out, 8))))
        return -EFAULT;
    return r;
}

i64 sys_tee(u64 fd_in, u64 fd_out, u64 len, u64 flags)
{
    struct file *in = fd_get((int)fd_in), *out = fd_get((int)fd_out);
    if (!in || !out)
        return -EBADF;
    if (flags & ~(u64)(SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT))
        return -EINVAL;
    if (!file_is_pipe(in) || !file_is_pipe(out) || !host_backed(in) || !host_backed(out) ||
        in->handle == out->handle)
        return -EINVAL;
    if ((in->flags & O_ACCMODE) == O_WRONLY || (out->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    if (len == 0)
        return 0;
    for (;;) {
        struct ring_op op = {.op = UNO_OP_TEE, .handle = in->handle,
                             .arg = {out->handle, 0, 0, MIN(len, (u64)1 << 30)}};
        i64 r = ring_call(&op);
        if (r != -EAGAIN || (flags & SPLICE_F_NONBLOCK))
            return r;
        /* Nothing in the first pipe, or no room in the second: wait for that one. */
        struct ring_op q = {.op = UNO_OP_PIPECTL, .handle = in->handle,
                            .arg = {UNO_PIPECTL_NREAD}};
        struct file *w = ring_call(&q) > 0 ? out : in;
        if ((r = file_wait(w, w == in ? POLLIN : POLLOUT, 0)))
            return r;
    }
}

#define IOV_MAX 1024

i64 sys_vmsplice(u64 fd, u64 iov, u64 nr_segs, u64 flags)
{
    struct file *f = fd_get((int)fd);
    if (!f || !file_is_pipe(f))
        return -EBADF;
    if (flags & ~(u64)(SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT) ||
        nr_segs > IOV_MAX)
        return -EINVAL;
    int acc = f->flags & O_ACCMODE;
    if (acc == O_RDWR)
        return -EBADF; /* which way is not to be told (a FIFO opened O_RDWR) */
    /* SPLICE_F_NONBLOCK: this call only, as if the pipe were non-blocking. The call does not
     * wait then, so no other thread runs while the flag is lent. */
    int saved = f->flags;
    if (flags & SPLICE_F_NONBLOCK)
        f->flags |= O_NONBLOCK;
    i64 r = acc == O_WRONLY ? sys_writev(fd, iov, nr_segs) : sys_readv(fd, iov, nr_segs);
    f->flags = saved;
    return r;
}
