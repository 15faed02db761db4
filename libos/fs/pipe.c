/* Pipes: host pipes the VMM holds, so they connect processes (VMs) exactly as Linux pipes
 * do — shared by fork, EOF when the last writer closes, EPIPE when no reader is left —
 * with the host's buffer and PIPE_BUF atomicity. Reads and writes that may wait are
 * served by the VMM's vCPU thread, where a signal for us interrupts them. */
#include "vfs.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "libos/string.h"
#include "libos/fmt.h"
#include "mm/mm.h"
#include "proc/proc.h"
#include "proc/signal.h"
#include "sys/syscalls.h"

#define FIONREAD 0x541b

/* One read or write of a pipe. A write is first tried without waiting, which the host's I/O
 * thread serves while it is busy (no exit: a stream of writes into a pipe that keeps
 * draining costs no VM exit); only if the pipe is full is it sent again as an operation
 * that may wait, which the vCPU thread serves, interruptible by signals. A read goes to the
 * vCPU thread at once: a reader usually waits for its writer. */
static i64 pipe_op(struct file *f, u16 opcode, void *buf, u64 len)
{
    bool nb = (file_status(f) & O_NONBLOCK) != 0;
    bool try_first = opcode == UNO_OP_WRITE;
    struct ring_op op = {.op = opcode, .handle = f->handle, .off = -1, .nonblock = try_first || nb,
                         .blocking = !try_first && !nb};
    if (opcode == UNO_OP_READ) {
        op.out = buf;
        op.out_len = len;
    } else {
        op.in = buf;
        op.in_len = len;
    }
    i64 r = ring_call(&op);
    if (r != -EAGAIN || nb || !try_first)
        return r;
    op.nonblock = false;
    op.blocking = true;
    return ring_call(&op);
}

static i64 pipe_read(struct file *f, void *buf, u64 len, i64 off)
{
    (void)off;
    if (len == 0)
        return 0;
    return pipe_op(f, UNO_OP_READ, buf, MIN(len, (u64)RING_MAX_IO));
}

static i64 pipe_write(struct file *f, const void *buf, u64 len, i64 off)
{
    (void)off;
    bool nb = (file_status(f) & O_NONBLOCK) != 0;
    u64 done = 0;
    while (done < len) {
        u64 n = MIN(len - done, (u64)RING_MAX_IO);
        i64 put = pipe_op(f, UNO_OP_WRITE, (u8 *)buf + done, n);
        if (put == -EPIPE) {
            struct k_siginfo si;
            memset(&si, 0, sizeof si);
            si.si_code = SI_USER;
            si.kill.pid = proc.pid;
            signal_raise(SIGPIPE, &si);
        }
        if (put < 0)
            return done ? (i64)done : put;
        done += (u64)put;
        if (nb && (u64)put < n)
            break; /* O_NONBLOCK: what fitted */
    }
    return (i64)done;
}

extern const struct file_ops pipe_ops;

static i64 pipe_ctl(struct file *f, u64 what, u64 arg)
{
    struct ring_op op = {.op = UNO_OP_PIPECTL, .handle = f->handle, .arg = {what, arg}};
    return ring_call(&op);
}

static i64 pipe_ioctl(struct file *f, u64 cmd, u64 arg)
{
    if (cmd != FIONREAD)
        return -ENOTTY;
    i64 n = pipe_ctl(f, UNO_PIPECTL_NREAD, 0);
    if (n < 0)
        return n;
    int v = (int)n;
    return copy_to_user((void *)arg, &v, sizeof v) ? -EFAULT : 0;
}

/* F_GETPIPE_SZ / F_SETPIPE_SZ (fcntl). */
i64 pipe_size(struct file *f, bool set, u64 size)
{
    if (f->ops != &pipe_ops)
        return -EBADF;
    return pipe_ctl(f, set ? UNO_PIPECTL_SETSZ : UNO_PIPECTL_GETSZ, size);
}

static int pipe_stat(struct file *f, struct linux_stat *st)
{
    return file_anon_stat(f, st, 0xc, 0x10000, S_IFIFO | 0600);
}

const struct file_ops pipe_ops = {
    .read = pipe_read,
    .write = pipe_write,
    .stat = pipe_stat,
    .lseek = file_lseek_espipe,
    .ioctl = pipe_ioctl,
    .release = file_close_handle,
};

bool file_is_pipe(const struct file *f) { return f->ops == &pipe_ops; }

static struct file *pipe_end(u32 handle, int flags)
{
    char name[32];
    snprintf_l(name, sizeof name, "pipe:[%u]", 0x10000 + handle);
    return file_for_handle(&pipe_ops, handle, flags, S_IFIFO | 0600, name);
}

/* A pipe end received from another process (SCM_RIGHTS). */
struct file *pipe_file_from_handle(u32 handle, int flags) { return pipe_end(handle, flags); }

i64 sys_pipe2(u64 ufds, u64 flags)
{
    if (flags & ~(u64)(O_CLOEXEC | O_NONBLOCK | 040000 /* O_DIRECT */))
        return -EINVAL;
    if (!user_ok((void *)ufds, 8, PROT_WRITE))
        return -EFAULT;
    u32 h[2];
    struct ring_op op = {.op = UNO_OP_PIPE, .out = h, .out_len = sizeof h};
    i64 r = ring_call(&op);
    if (r < 0)
        return r;
    int nb = (int)(flags & O_NONBLOCK);
    struct file *rd = pipe_end(h[0], O_RDONLY | nb), *wr = pipe_end(h[1], O_WRONLY | nb);
    if (!rd || !wr) {
        if (rd)
            file_put(rd);
        if (wr)
            file_put(wr);
        return -ENFILE;
    }
    bool cloexec = (flags & O_CLOEXEC) != 0;
    int fds[2];
    fds[0] = fd_install(rd, 0, cloexec);
    if (fds[0] < 0) {
        file_put(rd);
        file_put(wr);
        return fds[0];
    }
    fds[1] = fd_install(wr, 0, cloexec);
    if (fds[1] < 0) {
        fd_close(fds[0]);
        file_put(wr);
        return fds[1];
    }
    return copy_to_user((void *)ufds, fds, sizeof fds) ? -EFAULT : 0;
}

i64 sys_pipe(u64 ufds) { return sys_pipe2(ufds, 0); }
