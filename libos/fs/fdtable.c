/* The descriptor table and file objects. Files are allocated from a fixed pool: the libOS
 * has no general heap, and a process has at most NR_OPEN descriptors. */
#include "file.h"
#include "io/ring.h"
#include "libos/errno.h"
#include "libos/string.h"
#include "core/kernel.h"
#include "proc/proc.h"
#include "mm/mm.h"

#define NR_FILES (NR_OPEN + 64)

static struct file pool[NR_FILES];
static struct file *fds[NR_OPEN];
static u64 cloexec_bits[NR_OPEN / 64];

struct file *file_for_handle(const struct file_ops *ops, u32 h, int flags, u32 mode,
                             const char *name)
{
    struct file *f = file_alloc(ops, flags, mode, name);
    if (f) {
        f->handle = h;
        f->stream = true;
        f->host_polled = true;
    }
    return f;
}

void handle_close(u32 h)
{
    struct ring_op op = {.op = UNO_OP_CLOSE, .handle = h};
    ring_call(&op);
}

/* A close whose answer is known (a socket without SO_LINGER: 0), queued without waiting. The
 * ring keeps it in order with what follows, so the handle's number is free again only after
 * it, and every later operation of ours, the host calls included, finds it done. */
void handle_close_async(u32 h)
{
    u32 idx;
    ring_async_slot(&idx);
    u64 args[4] = {0};
    ring_async_submit(idx, UNO_OP_CLOSE, h, 0, args);
}

void file_close_handle(struct file *f) { handle_close(f->handle); }

i64 file_lseek_espipe(struct file *f, i64 off, int whence)
{
    (void)f, (void)off, (void)whence;
    return -ESPIPE;
}

i64 file_lseek_noop(struct file *f, i64 off, int whence)
{
    (void)f, (void)off, (void)whence;
    return 0;
}

int file_anon_stat(struct file *f, struct linux_stat *st, u64 dev, u64 ino_base, u32 mode)
{
    memset(st, 0, sizeof *st);
    st->st_dev = dev;
    st->st_ino = ino_base + f->handle;
    st->st_mode = mode;
    st->st_nlink = 1;
    st->st_uid = proc.uid;
    st->st_gid = proc.gid;
    st->st_blksize = 4096;
    return 0;
}

bool file_poll_handle(const struct file *f, u32 *h)
{
    if (!f->host_polled)
        return false;
    *h = f->handle;
    return true;
}

struct file *file_alloc(const struct file_ops *ops, int flags, u32 mode, const char *path)
{
    for (int i = 0; i < NR_FILES; i++) {
        if (pool[i].refs == 0) {
            struct file *f = &pool[i];
            memset(f, 0, sizeof *f);
            f->refs = 1;
            f->ops = ops;
            f->flags = flags;
            f->mode = mode;
            if (path) {
                size_t n = strnlen(path, FILE_NAME_MAX - 1);
                memcpy(f->path, path, n);
                f->path[n] = 0;
            }
            return f;
        }
    }
    return NULL;
}

void file_get(struct file *f) { f->refs++; }

void file_put(struct file *f)
{
    if (--f->refs != 0)
        return;
    if (f->shared_status)
        shared_word_put(f->shared_status);
    if (f->ops->release)
        f->ops->release(f);
}

#define STATUS_BITS (O_NONBLOCK | O_APPEND | 040000 /* O_DIRECT */ | 01000000 /* O_NOATIME */ | \
                     020000 /* O_ASYNC */)

int file_status(const struct file *f)
{
    if (!f->shared_status)
        return f->flags;
    return (f->flags & ~STATUS_BITS) |
           (int)(__atomic_load_n(f->shared_status, __ATOMIC_RELAXED) & STATUS_BITS);
}

void file_set_status(struct file *f, int flags)
{
    f->flags = (f->flags & ~STATUS_BITS) | (flags & STATUS_BITS);
    if (f->shared_status)
        __atomic_store_n(f->shared_status, (u32)(flags & STATUS_BITS), __ATOMIC_RELAXED);
}

/* The child of a fork holds every file we hold: each open file's status moves to a shared
 * word (once), which the child references too. -ENOMEM if the shared region is full. */
int fd_share_for_fork(void)
{
    for (int fd = 0; fd < NR_OPEN; fd++) {
        struct file *f = fds[fd];
        if (!f || f->shared_status)
            continue;
        f->shared_status = shared_word_alloc((u32)(f->flags & STATUS_BITS));
        if (!f->shared_status)
            return -ENOMEM;
    }
    /* One more reference per file, not per descriptor: mark, then count. */
    for (int fd = 0; fd < NR_OPEN; fd++) {
        struct file *f = fds[fd];
        if (f && f->shared_status && !f->fork_marked) {
            f->fork_marked = true;
            shared_word_get(f->shared_status);
        }
    }
    for (int fd = 0; fd < NR_OPEN; fd++)
        if (fds[fd])
            fds[fd]->fork_marked = false;
    return 0;
}

/* RLIMIT_NOFILE: descriptors at or above it cannot be made. */
static int fd_limit(void)
{
    u64 cur = proc.rlimits[7].cur;
    return cur < NR_OPEN ? (int)cur : NR_OPEN;
}

int fd_install(struct file *f, int min_fd, bool cloexec)
{
    for (int fd = min_fd < 0 ? 0 : min_fd; fd < fd_limit(); fd++) {
        if (!fds[fd]) {
            fds[fd] = f;
            fd_set_cloexec(fd, cloexec);
            return fd;
        }
    }
    return -EMFILE;
}

struct file *fd_get(int fd)
{
    if (fd < 0 || fd >= NR_OPEN)
        return NULL;
    return fds[fd];
}

int fd_close(int fd)
{
    struct file *f = fd_get(fd);
    if (!f)
        return -EBADF;
    fds[fd] = NULL;
    fd_set_cloexec(fd, false);
    file_put(f);
    return 0;
}

int fd_dup(int oldfd, int newfd, bool cloexec)
{
    struct file *f = fd_get(oldfd);
    if (!f)
        return -EBADF;
    if (newfd < 0 || newfd >= fd_limit())
        return -EBADF;
    if (newfd == oldfd)
        return newfd;
    file_get(f);
    if (fds[newfd])
        fd_close(newfd);
    fds[newfd] = f;
    fd_set_cloexec(newfd, cloexec);
    return newfd;
}

bool fd_cloexec(int fd) { return (cloexec_bits[fd / 64] >> (fd % 64)) & 1; }

void fd_set_cloexec(int fd, bool on)
{
    if (on)
        cloexec_bits[fd / 64] |= 1ull << (fd % 64);
    else
        cloexec_bits[fd / 64] &= ~(1ull << (fd % 64));
}

int fd_max(void) { return NR_OPEN; }

i64 file_generic_lseek(struct file *f, i64 off, int whence, u64 size)
{
    i64 base;
    switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = f->off; break;
    case SEEK_END: base = (i64)size; break;
    default: return -EINVAL;
    }
    if (base + off < 0)
        return -EINVAL;
    f->off = base + off;
    return f->off;
}

void stat_from_erofs(const struct erofs_inode *ino, struct linux_stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_dev = 0x5500; /* the image */
    st->st_ino = ino->ino ? ino->ino : ino->nid;
    st->st_nlink = ino->nlink;
    st->st_mode = ino->mode;
    st->st_uid = ino->uid;
    st->st_gid = ino->gid;
    st->st_size = (i64)ino->size;
    st->st_blksize = 4096;
    st->st_blocks = (i64)((ino->size + 511) / 512);
    st->st_atime_sec = st->st_mtime_sec = st->st_ctime_sec = ino->mtime;
    st->st_atime_nsec = st->st_mtime_nsec = st->st_ctime_nsec = ino->mtime_nsec;
}

i64 file_read_isdir(struct file *f, void *buf, u64 len, i64 off)
{
    (void)f, (void)buf, (void)len, (void)off;
    return -EISDIR;
}

i64 file_write_isdir(struct file *f, const void *buf, u64 len, i64 off)
{
    (void)f, (void)buf, (void)len, (void)off;
    return -EISDIR;
}

i64 file_dir_index_lseek(struct file *f, i64 off, int whence)
{
    if (whence == SEEK_CUR && off == 0)
        return (i64)f->dir_pos;
    if (whence != SEEK_SET || off < 0)
        return -EINVAL;
    f->dir_pos = (u64)off;
    f->off = off;
    return off;
}

void stat_from_upper(const struct uno_stat *u, struct linux_stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_dev = 0x5501; /* the writable layer */
    st->st_ino = u->ino;
    st->st_nlink = u->nlink;
    st->st_mode = u->mode;
    st->st_uid = u->uid;
    st->st_gid = u->gid;
    st->st_size = (i64)u->size;
    st->st_blksize = 4096;
    st->st_blocks = (i64)u->blocks;
    st->st_atime_sec = u->atime_ns / 1000000000;
    st->st_atime_nsec = u->atime_ns % 1000000000;
    st->st_mtime_sec = u->mtime_ns / 1000000000;
    st->st_mtime_nsec = u->mtime_ns % 1000000000;
    st->st_ctime_sec = u->ctime_ns / 1000000000;
    st->st_ctime_nsec = u->ctime_ns % 1000000000;
}

/* exec: descriptors marked close-on-exec go. */
void fd_close_on_exec(void)
{
    for (int fd = 0; fd < NR_OPEN; fd++)
        if (fds[fd] && fd_cloexec(fd))
            fd_close(fd);
}

/* vfork: the child borrows our memory but has its own descriptor table. The parent's is
 * kept here (each file referenced) while the child runs. */
static struct file *saved_fds[NR_OPEN];
static u64 saved_cloexec[NR_OPEN / 64];

void fd_table_save(void)
{
    for (int fd = 0; fd < NR_OPEN; fd++) {
        saved_fds[fd] = fds[fd];
        if (fds[fd])
            file_get(fds[fd]);
    }
    memcpy(saved_cloexec, cloexec_bits, sizeof saved_cloexec);
}

/* The parent again: the child's table goes (what only it had is closed), ours comes back. */
void fd_table_restore(void)
{
    for (int fd = 0; fd < NR_OPEN; fd++) {
        struct file *f = fds[fd];
        fds[fd] = saved_fds[fd];
        saved_fds[fd] = NULL;
        if (f)
            file_put(f);
    }
    memcpy(cloexec_bits, saved_cloexec, sizeof cloexec_bits);
}

/* The child, now in its own VM: the parent's references are not its business. */
void fd_table_forget_saved(void)
{
    for (int fd = 0; fd < NR_OPEN; fd++) {
        if (saved_fds[fd])
            file_put(saved_fds[fd]);
        saved_fds[fd] = NULL;
    }
}
