/* Files of the writable layer: host files the VMM holds, reached through the ring. The
 * host descriptor keeps the file offset, so offsets are shared exactly as Linux shares
 * them once descriptors are shared between processes. */
#include "vfs.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "libos/string.h"

static i64 upper_read(struct file *f, void *buf, u64 len, i64 off)
{
    u64 done = 0;
    while (done < len) {
        u64 n = MIN(len - done, (u64)RING_MAX_IO);
        struct ring_op op = {.op = UNO_OP_READ, .handle = f->handle,
                             .off = off < 0 ? -1 : off + (i64)done,
                             .out = (u8 *)buf + done, .out_len = n};
        i64 got = ring_call(&op);
        if (got < 0)
            return done ? (i64)done : got;
        done += (u64)got;
        if ((u64)got < n)
            break;
    }
    return (i64)done;
}

static i64 upper_write(struct file *f, const void *buf, u64 len, i64 off)
{
    u64 done = 0;
    while (done < len) {
        u64 n = MIN(len - done, (u64)RING_MAX_IO);
        struct ring_op op = {.op = UNO_OP_WRITE, .handle = f->handle,
                             .off = off < 0 ? -1 : off + (i64)done,
                             .in = (const u8 *)buf + done, .in_len = n};
        i64 put = ring_call(&op);
        if (put < 0)
            return done ? (i64)done : put;
        done += (u64)put;
        if ((u64)put < n)
            break;
    }
    return (i64)done;
}

/* fstat of any file the VMM holds a host descriptor for (writable-layer files, eventfds). */
int upper_fstat(struct file *f, struct linux_stat *st)
{
    struct uno_stat u;
    struct ring_op op = {.op = UNO_OP_FSTAT, .handle = f->handle, .out = &u, .out_len = sizeof u};
    i64 r = ring_call(&op);
    if (r < 0)
        return (int)r;
    stat_from_upper(&u, st);
    return 0;
}

static i64 upper_lseek(struct file *f, i64 off, int whence)
{
    struct ring_op op = {.op = UNO_OP_LSEEK, .handle = f->handle, .off = off,
                         .arg = {(u64)whence}};
    return ring_call(&op);
}

static int upper_truncate(struct file *f, u64 len)
{
    struct ring_op op = {.op = UNO_OP_FTRUNCATE, .handle = f->handle, .off = (i64)len};
    return (int)ring_call(&op);
}

static int upper_sync(struct file *f, bool data_only)
{
    struct ring_op op = {.op = UNO_OP_FSYNC, .handle = f->handle,
                         .arg = {data_only ? UNO_FSYNC_DATA : 0}};
    return (int)ring_call(&op);
}

static const struct file_ops upper_ops = {
    .read = upper_read,
    .write = upper_write,
    .stat = upper_fstat,
    .lseek = upper_lseek,
    .release = file_close_handle,
    .truncate = upper_truncate,
    .sync = upper_sync,
};

int upper_open(const struct node *n, int flags, u32 mode, struct file **out)
{
    upper_mark_active();
    struct file *f = file_alloc(&upper_ops, flags, n->exists ? n->mode : (S_IFREG | mode),
                                n->path);
    if (!f)
        return -ENFILE;
    const int pass = O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_DIRECTORY;
    struct ring_op op = {.op = UNO_OP_OPEN, .arg = {(u64)(flags & pass), mode}};
    const char *rel = upper_rel(n->path);
    op.in = rel;
    op.in_len = strlen(rel) + 1;
    i64 h = ring_call(&op);
    if (h < 0) {
        f->refs = 0;
        return (int)h;
    }
    f->handle = (u32)h;
    f->has_upper = true;
    *out = f;
    return 0;
}

/* A FIFO of the layer: the host's, opened by the VMM, and a pipe end from then on. Opening
 * waits for the other end as Linux's does (a blocking host call, which a signal interrupts);
 * O_NONBLOCK: a reader at once, a writer ENXIO while there is no reader. */
int upper_fifo_open(const struct node *n, int flags, struct file **out)
{
    upper_mark_active();
    bool nb = flags & O_NONBLOCK;
    const char *rel = upper_rel(n->path);
    struct ring_op op = {.op = UNO_OP_OPEN,
                         .arg = {(u64)(flags & O_ACCMODE) | (nb ? UNO_O_NONBLOCK : 0), 0},
                         .in = rel, .in_len = strlen(rel) + 1, .blocking = !nb};
    i64 h = ring_call(&op);
    if (h < 0)
        return (int)h;
    struct file *f = pipe_file_from_handle((u32)h, flags);
    if (!f) {
        handle_close((u32)h);
        return -ENFILE;
    }
    *out = f;
    return 0;
}

/* A host file the VMM already holds (a memfd): the same operations as a file of the layer. */
struct file *upper_file_from_handle(u32 handle, int flags, u32 mode, const char *name)
{
    struct file *f = file_alloc(&upper_ops, flags, mode, name);
    if (f) {
        f->handle = handle;
        f->has_upper = true;
    }
    return f;
}
