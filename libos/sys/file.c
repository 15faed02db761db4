/* System calls on descriptors: I/O, seeking, stat, directory reads, dup, fcntl, ioctl. */
#include "net/socket.h"
#include "core/kheap.h"
#include "syscalls.h"
#include "core/kernel.h"
#include "fs/vfs.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "proc/proc.h"

#define F_DUPFD 0
#define F_GETFD 1
#define F_SETFD 2
#define F_GETFL 3
#define F_SETFL 4
#define F_GETLK 5
#define F_SETLK 6
#define F_SETLKW 7
#define F_DUPFD_CLOEXEC 1030
#define F_SETOWN 8
#define F_GETOWN 9
#define O_ASYNC 020000
#define FIOASYNC 0x5452
#define FD_CLOEXEC 1
#define FIONBIO 0x5421
#define FIOCLEX 0x5451
#define FIONCLEX 0x5450

struct iovec {
    u64 base, len;
};

static bool can_read(struct file *f) { return (f->flags & O_ACCMODE) != O_WRONLY; }
static bool can_write(struct file *f) { return (f->flags & O_ACCMODE) != O_RDONLY; }

static i64 do_read(struct file *f, void *buf, u64 len, i64 off)
{
    if (!can_read(f) || (f->flags & O_PATH))
        return -EBADF;
    if (S_ISDIR(f->mode))
        return -EISDIR;
    if (!user_ok(buf, len, PROT_WRITE))
        return -EFAULT;
    return WITH_USER_ACCESS(f->ops->read(f, buf, len, off)); /* the op copies into buf */
}

static i64 do_write(struct file *f, const void *buf, u64 len, i64 off)
{
    if (!can_write(f) || (f->flags & O_PATH))
        return -EBADF;
    if (!user_ok(buf, len, PROT_READ))
        return -EFAULT;
    return WITH_USER_ACCESS(f->ops->write(f, buf, len, off)); /* the op copies from buf */
}

i64 sys_read(u64 fd, u64 buf, u64 len)
{
    struct file *f = fd_get((int)fd);
    return f ? do_read(f, (void *)buf, len, -1) : -EBADF;
}

i64 sys_write(u64 fd, u64 buf, u64 len)
{
    struct file *f = fd_get((int)fd);
    return f ? do_write(f, (const void *)buf, len, -1) : -EBADF;
}

/* Known without asking the host: a ring round trip per pread would double its cost. */
static bool seekable(struct file *f) { return !f->stream; }

i64 sys_pread64(u64 fd, u64 buf, u64 len, u64 off)
{
    struct file *f = fd_get((int)fd);
    if (!f)
        return -EBADF;
    if ((i64)off < 0)
        return -EINVAL;
    if (!seekable(f))
        return -ESPIPE;
    return do_read(f, (void *)buf, len, (i64)off);
}

i64 sys_pwrite64(u64 fd, u64 buf, u64 len, u64 off)
{
    struct file *f = fd_get((int)fd);
    if (!f)
        return -EBADF;
    if ((i64)off < 0)
        return -EINVAL;
    if (!seekable(f))
        return -ESPIPE;
    return do_write(f, (const void *)buf, len, (i64)off);
}

static i64 iov_rw(struct file *f, struct iovec *iov, u64 iovp, u64 cnt, i64 off, bool write);

static i64 do_iov(u64 fd, u64 iovp, u64 cnt, i64 off, bool write)
{
    struct file *f = fd_get((int)fd);
    if (!f)
        return -EBADF;
    if (cnt > 1024)
        return -EINVAL;
    /* Per call: the lock is let go while a read waits, and another thread may come. */
    struct iovec *iov = kmalloc(cnt * sizeof *iov + 1);
    if (!iov)
        return -ENOMEM;
    i64 total = iov_rw(f, iov, iovp, cnt, off, write);
    kfree(iov);
    return total;
}

static i64 iov_rw(struct file *f, struct iovec *iov, u64 iovp, u64 cnt, i64 off, bool write)
{
    if (copy_from_user(iov, (const void *)iovp, cnt * sizeof(struct iovec)))
        return -EFAULT;
    for (u64 i = 0; i < cnt; i++)
        if ((i64)iov[i].len < 0)
            return -EINVAL;
    if (file_is_socket(f)) /* one message, as Linux sends it */
        return off >= 0 ? -ESPIPE : sock_iov(f, (const struct k_iovec *)iov, cnt, write);
    i64 total = 0;
    for (u64 i = 0; i < cnt; i++) {
        if (!iov[i].len)
            continue;
        i64 n = write ? do_write(f, (const void *)iov[i].base, iov[i].len, off)
                      : do_read(f, (void *)iov[i].base, iov[i].len, off);
        if (n < 0)
            return total ? total : n;
        total += n;
        if (off >= 0)
            off += n;
        if ((u64)n < iov[i].len)
            break;
    }
    return total;
}

i64 sys_readv(u64 fd, u64 iov, u64 cnt) { return do_iov(fd, iov, cnt, -1, false); }
i64 sys_writev(u64 fd, u64 iov, u64 cnt) { return do_iov(fd, iov, cnt, -1, true); }
i64 sys_preadv(u64 fd, u64 iov, u64 cnt, u64 off)
{
    return (i64)off < 0 ? -EINVAL : do_iov(fd, iov, cnt, (i64)off, false);
}
i64 sys_pwritev(u64 fd, u64 iov, u64 cnt, u64 off)
{
    return (i64)off < 0 ? -EINVAL : do_iov(fd, iov, cnt, (i64)off, true);
}

i64 sys_close(u64 fd) { return fd_close((int)fd); }

i64 sys_lseek(u64 fd, u64 off, u64 whence)
{
    struct file *f = fd_get((int)fd);
    if (!f)
        return -EBADF;
    if (whence > SEEK_END)
        return -EINVAL;
    if (f->ops->lseek)
        return f->ops->lseek(f, (i64)off, (int)whence);
    struct linux_stat st;
    int r = f->ops->stat(f, &st);
    if (r)
        return r;
    return file_generic_lseek(f, (i64)off, (int)whence, (u64)st.st_size);
}

i64 sys_fstat(u64 fd, u64 st)
{
    struct file *f = fd_get((int)fd);
    if (!f)
        return -EBADF;
    struct linux_stat k;
    int r = f->ops->stat(f, &k);
    return r ? r : copy_to_user((void *)st, &k, sizeof k);
}

i64 sys_getdents64(u64 fd, u64 buf, u64 len)
{
    struct file *f = fd_get((int)fd);
    if (!f)
        return -EBADF;
    if (!S_ISDIR(f->mode) || !f->ops->getdents)
        return -ENOTDIR;
    if (!user_ok((void *)buf, len, PROT_WRITE))
        return -EFAULT;
    struct dirent_sink sink = {.buf = (u8 *)buf, .size = len, .used = 0};
    int r = WITH_USER_ACCESS(f->ops->getdents(f, &sink)); /* the op writes into buf */
    if (r < 0)
        return r;
    return (i64)sink.used;
}

/* O_ASYNC: SIGIO when a host-polled file becomes ready, sent by the host to this process's
 * VMM, which passes it on. Other files never signal (as Linux's regular files). */
static i64 set_async(struct file *f, bool on)
{
    if (!f->host_polled || ((file_status(f) & O_ASYNC) != 0) == on)
        return 0;
    struct ring_op op = {.op = UNO_OP_SETFL, .handle = f->handle, .arg = {on, UNO_SETFL_ASYNC}};
    return ring_call(&op);
}

i64 sys_ioctl(u64 fd, u64 cmd, u64 arg)
{
    struct file *f = fd_get((int)fd);
    if (!f)
        return -EBADF;
    switch (cmd) {
    case FIOCLEX:
        fd_set_cloexec((int)fd, true);
        return 0;
    case FIONCLEX:
        fd_set_cloexec((int)fd, false);
        return 0;
    case FIONBIO: {
        int on;
        if (copy_from_user(&on, (const void *)arg, sizeof on))
            return -EFAULT;
        int st = file_status(f);
        file_set_status(f, on ? st | O_NONBLOCK : st & ~O_NONBLOCK);
        return 0;
    }
    case FIOASYNC: {
        int on;
        if (copy_from_user(&on, (const void *)arg, sizeof on))
            return -EFAULT;
        int st = file_status(f);
        i64 r = set_async(f, on != 0);
        if (!r)
            file_set_status(f, on ? st | O_ASYNC : st & ~O_ASYNC);
        return r;
    }
    }
    if (!f->ops->ioctl)
        return -ENOTTY;
    return f->ops->ioctl(f, cmd, arg);
}

i64 pipe_size(struct file *f, bool set, u64 size);

i64 sys_fcntl(u64 fd, u64 cmd, u64 arg)
{
    struct file *f = fd_get((int)fd);
    if (!f)
        return -EBADF;
    switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
        if ((i64)arg < 0 || arg >= NR_OPEN)
            return -EINVAL;
        file_get(f);
        int nfd = fd_install(f, (int)arg, cmd == F_DUPFD_CLOEXEC);
        if (nfd < 0)
            file_put(f);
        return nfd;
    }
    case F_GETFD:
        return fd_cloexec((int)fd) ? FD_CLOEXEC : 0;
    case F_SETFD:
        fd_set_cloexec((int)fd, (arg & FD_CLOEXEC) != 0);
        return 0;
    case F_GETFL:
        return file_status(f) & ~O_CLOEXEC;
    case F_SETFL: {
        /* Only the status flags Linux lets F_SETFL change. O_APPEND on host files would
         * need the host descriptor changed too; refuse that honestly. */
        int changeable = O_NONBLOCK | O_APPEND | 040000 /* O_DIRECT */ | 01000000 /* O_NOATIME */ |
                         020000 /* O_ASYNC */;
        if ((((int)arg ^ file_status(f)) & O_APPEND) && f->has_upper && !S_ISDIR(f->mode)) {
            /* The host descriptor does the appending: change it there. */
            struct ring_op op = {.op = UNO_OP_SETFL, .handle = f->handle,
                                 .arg = {(arg & O_APPEND) ? UNO_O_APPEND : 0}};
            i64 r = ring_call(&op);
            if (r < 0)
                return r;
        }
        i64 ar = set_async(f, ((int)arg & O_ASYNC) != 0);
        if (ar)
            return ar;
        file_set_status(f, (file_status(f) & ~changeable) | ((int)arg & changeable));
        return 0;
    }
    case F_SETOWN:
        f->owner = (int)arg;
        return 0;
    case F_GETOWN:
        return f->owner;
    case 1032: /* F_GETPIPE_SZ */
    case 1031: /* F_SETPIPE_SZ */
        return pipe_size(f, cmd == 1031, arg);
    case F_GETLK:
    case F_SETLK:
    case F_SETLKW:
    case 36: /* F_OFD_GETLK */
    case 37: /* F_OFD_SETLK */
    case 38: /* F_OFD_SETLKW */
        return file_lock_fcntl(f, cmd, arg);
    default:
        return -EINVAL;
    }
}

i64 sys_dup(u64 fd)
{
    struct file *f = fd_get((int)fd);
    if (!f)
        return -EBADF;
    file_get(f);
    int nfd = fd_install(f, 0, false);
    if (nfd < 0)
        file_put(f);
    return nfd;
}

i64 sys_dup2(u64 fd, u64 newfd)
{
    if (!fd_get((int)fd))
        return -EBADF;
    return fd_dup((int)fd, (int)newfd, false);
}

i64 sys_dup3(u64 fd, u64 newfd, u64 flags)
{
    if (flags & ~(u64)O_CLOEXEC)
        return -EINVAL;
    if (fd == newfd)
        return -EINVAL;
    return fd_dup((int)fd, (int)newfd, (flags & O_CLOEXEC) != 0);
}

i64 sys_ftruncate(u64 fd, u64 len)
{
    struct file *f = fd_get((int)fd);
    return f ? file_truncate(f, len) : -EBADF;
}

i64 file_truncate(struct file *f, u64 len)
{
    if ((i64)len < 0)
        return -EINVAL;
    if (!can_write(f))
        return -EINVAL;
    if (!f->ops->truncate)
        return S_ISDIR(f->mode) ? -EISDIR : -EINVAL;
    return f->ops->truncate(f, len);
}

/* Is f a file or directory of the root overlay (not /dev, /proc, /sys, a pipe, the
 * console or an eventfd)? Only those have an fsync on Linux; the others give EINVAL. */
static bool on_overlay(const struct file *f)
{
    static const char *const synthetic[] = {"/dev", "/proc", "/sys"};
    if (f->path[0] != '/' || f->stream)
        return false;
    for (size_t i = 0; i < ARRAY_LEN(synthetic); i++) {
        size_t n = strlen(synthetic[i]);
        if (!strncmp(f->path, synthetic[i], n) && (f->path[n] == 0 || f->path[n] == '/'))
            return false;
    }
    return S_ISREG(f->mode) || S_ISDIR(f->mode) || S_ISLNK(f->mode);
}

static i64 do_sync(u64 fd, bool data_only)
{
    struct file *f = fd_get((int)fd);
    if (!f)
        return -EBADF;
    if (f->ops->sync)
        return f->ops->sync(f, data_only); /* a host file: the host flushes it */
    /* Nothing is buffered in the libOS: the image and merged directories are clean. */
    return on_overlay(f) ? 0 : -EINVAL;
}

i64 sys_fsync(u64 fd) { return do_sync(fd, false); }
i64 sys_fdatasync(u64 fd) { return do_sync(fd, true); }

/* Everything the guest wrote lives in the writable layer: flushing its host file system is
 * sync(2) and syncfs(2) both. */
static i64 sync_layer(void)
{
    struct ring_op op = {.op = UNO_OP_SYNCFS};
    return ring_call(&op);
}

i64 sys_sync(void)
{
    sync_layer();
    return 0; /* sync(2) cannot fail */
}

i64 sys_syncfs(u64 fd)
{
    if (!fd_get((int)fd))
        return -EBADF;
    return sync_layer();
}

#define FALLOC_FL_KEEP_SIZE 0x1

/* fallocate: the checks in the order Linux makes them; then only files of the writable
 * layer (and memfds) have blocks to allocate. Modes that punch, zero, collapse or insert
 * ranges are not supported (-EOPNOTSUPP) rather than approximated. */
i64 sys_fallocate(u64 fd, u64 mode, u64 off, u64 len)
{
    struct file *f = fd_get((int)fd);
    if (!f)
        return -EBADF;
    if ((i64)off < 0 || (i64)len <= 0)
        return -EINVAL;
    if (mode & ~(u64)FALLOC_FL_KEEP_SIZE)
        return -EOPNOTSUPP;
    if (!can_write(f) || (f->flags & O_PATH))
        return -EBADF;
    u32 type = f->mode & S_IFMT;
    if (type == S_IFIFO)
        return -ESPIPE;
    if (type == S_IFDIR)
        return -EISDIR;
    if (type != S_IFREG)
        return -ENODEV;
    if (!f->has_upper)
        return -EOPNOTSUPP;
    struct ring_op op = {.op = UNO_OP_FALLOCATE, .handle = f->handle,
                         .arg = {mode ? UNO_FALLOC_KEEP_SIZE : 0, off, len}};
    return ring_call(&op);
}

i64 sys_fchdir(u64 fd)
{
    struct file *f = fd_get((int)fd);
    if (!f)
        return -EBADF;
    if (!S_ISDIR(f->mode))
        return -ENOTDIR;
    size_t n = strlen(f->path);
    memcpy(cwd_path, f->path, n + 1);
    return 0;
}

int file_node(const struct file *f, struct node *n)
{
    if (f->anon || f->path[0] != '/' || (f->mode & S_IFMT) == S_IFIFO)
        return -EOPNOTSUPP;
    return vfs_resolve(AT_FDCWD, f->path, 0, n);
}

i64 sys_fchmod(u64 fd, u64 mode)
{
    struct file *f = fd_get((int)fd);
    if (!f)
        return -EBADF;
    static struct node n;
    int r = file_node(f, &n);
    return r ? r : vfs_chmod(&n, (u32)mode);
}

i64 sys_fchown(u64 fd, u64 uid, u64 gid)
{
    struct file *f = fd_get((int)fd);
    if (!f)
        return -EBADF;
    static struct node n;
    int r = file_node(f, &n);
    return r ? r : vfs_chown(&n, (u32)uid, (u32)gid);
}

static i64 generic_sendfile(struct file *fo, struct file *fi, i64 *offp, u64 count, u8 *buf);

i64 sys_sendfile(u64 out, u64 in, u64 offp, u64 count)
{
    struct file *fo = fd_get((int)out), *fi = fd_get((int)in);
    if (!fo || !fi || !can_read(fi) || !can_write(fo))
        return -EBADF;
    i64 off = -1;
    if (offp) {
        if (!user_ok((void *)offp, 8, PROT_WRITE) || copy_from_user(&off, (void *)offp, 8))
            return -EFAULT;
        if (off < 0)
            return -EINVAL;
    }
    if (file_is_socket(fo)) {
        i64 r = sock_sendfile(fo, fi, &off, count);
        if (r != -EOPNOTSUPP) {
            if (r >= 0 && offp && copy_to_user((void *)offp, &off, 8))
                return -EFAULT;
            return r;
        }
    }
    /* Per call: a write that waits lets the lock go, and another thread may come. */
    u8 *buf = kmalloc(RING_MAX_IO);
    if (!buf)
        return -ENOMEM;
    i64 total = generic_sendfile(fo, fi, &off, count, buf);
    kfree(buf);
    if (total >= 0 && offp && copy_to_user((void *)offp, &off, 8))
        return -EFAULT;
    return total;
}

static i64 generic_sendfile(struct file *fo, struct file *fi, i64 *offp, u64 count, u8 *buf)
{
    i64 off = *offp;
    i64 total = 0;
    while ((u64)total < count) {
        u64 want = MIN(count - (u64)total, (u64)RING_MAX_IO);
        i64 n = fi->ops->read(fi, buf, want, off);
        if (n <= 0) {
            if (n < 0 && !total)
                return n;
            break;
        }
        i64 w = fo->ops->write(fo, buf, (u64)n, -1);
        if (w < 0)
            return total ? total : w;
        total += w;
        if (off >= 0)
            off += w;
        if (w < n)
            break;
    }
    *offp = off;
    return total;
}
