/* eventfd: a counter that a read takes and a write adds to. It is a host eventfd the VMM
 * holds (non-blocking on the host), so Linux itself keeps the semantics — EFD_SEMAPHORE,
 * EAGAIN, the overflow limit, 8-byte reads and writes — and the counter is shared across fork
 * as Linux shares it. A read or write that must wait is served by the VMM's vCPU thread, which
 * sleeps in ppoll until the counter changes or a signal for us arrives (as pipes wait), and
 * poll/select ask the VMM about it like a pipe. */
#include "vfs.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "libos/string.h"
#include "sys/syscalls.h"

#define EFD_SEMAPHORE 0x1
#define EFD_CLOEXEC O_CLOEXEC
#define EFD_NONBLOCK O_NONBLOCK

static const struct file_ops eventfd_ops;

bool file_is_eventfd(const struct file *f) { return f->ops == &eventfd_ops; }

/* One 8-byte transfer. A write is first tried without waiting (the I/O thread serves it
 * while busy); only a read, or a write that found the counter full, may wait. */
static i64 efd_op(struct file *f, u16 opcode, void *buf)
{
    bool nb = (file_status(f) & O_NONBLOCK) != 0;
    bool wait_now = opcode == UNO_OP_READ && !nb;
    struct ring_op op = {.op = opcode, .handle = f->handle, .off = -1, .nonblock = !wait_now,
                         .blocking = wait_now};
    if (opcode == UNO_OP_READ) {
        op.out = buf;
        op.out_len = 8;
    } else {
        op.in = buf;
        op.in_len = 8;
    }
    i64 r = ring_call(&op);
    if (r != -EAGAIN || nb || opcode == UNO_OP_READ)
        return r;
    op.nonblock = false;
    op.blocking = true;
    return ring_call(&op);
}

static i64 efd_read(struct file *f, void *buf, u64 len, i64 off)
{
    (void)off;
    return len < 8 ? -EINVAL : efd_op(f, UNO_OP_READ, buf);
}

static i64 efd_write(struct file *f, const void *buf, u64 len, i64 off)
{
    (void)off;
    if (len != 8)
        return -EINVAL; /* exactly 8 bytes, as Linux checks since 6.4 */
    u64 v;
    memcpy(&v, buf, 8);
    if (v == ~0ull)
        return -EINVAL; /* the host refuses it too; no trip needed */
    return efd_op(f, UNO_OP_WRITE, &v);
}

/* Linux's eventfd seeks nowhere and says so with 0 (noop_llseek); pread is ESPIPE. */
static i64 efd_lseek(struct file *f, i64 off, int whence)
{
    (void)f, (void)off, (void)whence;
    return 0;
}

static const struct file_ops eventfd_ops = {
    .read = efd_read,
    .write = efd_write,
    .stat = upper_fstat,
    .lseek = efd_lseek,
    .release = file_close_handle,
};

/* An eventfd's file for a host handle (a new one, or one received through SCM_RIGHTS). */
struct file *eventfd_file_from_handle(u32 handle, int flags)
{
    return file_for_handle(&eventfd_ops, handle, O_RDWR | (flags & O_NONBLOCK), 0600,
                           "anon_inode:[eventfd]");
}

i64 sys_eventfd2(u64 initval, u64 flags)
{
    if (flags & ~(u64)(EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK))
        return -EINVAL;
    struct ring_op op = {.op = UNO_OP_EVENTFD,
                         .arg = {(u32)initval, (flags & EFD_SEMAPHORE) ? UNO_EFD_SEMAPHORE : 0}};
    i64 h = ring_call(&op);
    if (h < 0)
        return h;
    struct file *f = eventfd_file_from_handle((u32)h, (int)(flags & EFD_NONBLOCK));
    if (!f) {
        handle_close((u32)h);
        return -ENFILE;
    }
    int fd = fd_install(f, 0, (flags & EFD_CLOEXEC) != 0);
    if (fd < 0)
        file_put(f);
    return fd;
}

i64 sys_eventfd(u64 initval) { return sys_eventfd2(initval, 0); }
