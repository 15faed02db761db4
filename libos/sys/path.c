/* System calls on paths: open, stat, readlink, access, cwd, mkdir, unlink, rename,
 * symlink, chmod, utimensat, truncate. Paths are copied out of the app after a
 * check that they lie in readable memory. */
#include "syscalls.h"
#include "core/kernel.h"
#include "fs/vfs.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "proc/proc.h"

#define UTIME_NOW ((1l << 30) - 1l)
#define UTIME_OMIT ((1l << 30) - 2l)
#define R_OK 4
#define W_OK 2
#define X_OK 1
#define AT_EACCESS 0x200

/* Copy a path argument; -EFAULT if unreadable, -ENAMETOOLONG if >= PATH_MAX. */
static int get_path(u64 uptr, char *out)
{
    i64 r = strncpy_from_user(out, (const char *)uptr, PATH_MAX);
    return r < 0 ? (int)r : 0;
}

static char p1[PATH_MAX], p2[PATH_MAX];
static struct node nd;

i64 sys_openat(u64 dirfd, u64 path, u64 flags, u64 mode)
{
    int r = get_path(path, p1);
    if (r)
        return r;
    struct file *f;
    r = vfs_open((int)dirfd, p1, (int)flags, (u32)mode, &f);
    if (r)
        return r;
    int fd = fd_install(f, 0, (flags & O_CLOEXEC) != 0);
    if (fd < 0)
        file_put(f);
    return fd;
}

i64 sys_open(u64 path, u64 flags, u64 mode) { return sys_openat((u64)AT_FDCWD, path, flags, mode); }
i64 sys_creat(u64 path, u64 mode)
{
    return sys_openat((u64)AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

static i64 stat_at(u64 dirfd, u64 path, struct linux_stat *st, u64 flags)
{
    if (flags & ~(u64)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x800 /* NO_AUTOMOUNT */))
        return -EINVAL;
    int r = get_path(path, p1);
    if (r)
        return r;
    if (!p1[0] && (flags & AT_EMPTY_PATH)) {
        if ((int)dirfd == AT_FDCWD) {
            memcpy(p1, ".", 2);
        } else {
            struct file *f = fd_get((int)dirfd);
            if (!f)
                return -EBADF;
            return f->ops->stat(f, st);
        }
    }
    r = vfs_resolve((int)dirfd, p1, (flags & AT_SYMLINK_NOFOLLOW) ? 0 : RESOLVE_FOLLOW, &nd);
    if (r)
        return r;
    return vfs_stat(&nd, st);
}

i64 sys_newfstatat(u64 dirfd, u64 path, u64 st, u64 flags)
{
    if (!user_ok((void *)st, sizeof(struct linux_stat), PROT_WRITE))
        return -EFAULT;
    struct linux_stat k;
    i64 r = stat_at(dirfd, path, &k, flags);
    return r ? r : copy_to_user((void *)st, &k, sizeof k);
}

i64 sys_stat(u64 path, u64 st) { return sys_newfstatat((u64)AT_FDCWD, path, st, 0); }
i64 sys_lstat(u64 path, u64 st)
{
    return sys_newfstatat((u64)AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

struct statx_ts {
    i64 sec;
    u32 nsec;
    i32 pad;
};
struct statx {
    u32 mask, blksize;
    u64 attributes;
    u32 nlink, uid, gid;
    u16 mode, pad1;
    u64 ino, size, blocks, attributes_mask;
    struct statx_ts atime, btime, ctime, mtime;
    u32 rdev_major, rdev_minor, dev_major, dev_minor;
    u64 spare[14];
};

i64 sys_statx(u64 dirfd, u64 path, u64 flags, u64 mask, u64 buf)
{
    (void)mask;
    if (!user_ok((void *)buf, sizeof(struct statx), PROT_WRITE))
        return -EFAULT;
    struct linux_stat st;
    i64 r = stat_at(dirfd, path, &st, flags & ~0x6000ull /* AT_STATX_SYNC_TYPE */);
    if (r)
        return r;
    struct statx kx, *x = &kx;
    memset(x, 0, sizeof *x);
    x->mask = 0x7ff; /* STATX_BASIC_STATS */
    x->blksize = (u32)st.st_blksize;
    x->nlink = (u32)st.st_nlink;
    x->uid = st.st_uid;
    x->gid = st.st_gid;
    x->mode = (u16)st.st_mode;
    x->ino = st.st_ino;
    x->size = (u64)st.st_size;
    x->blocks = (u64)st.st_blocks;
    x->atime = (struct statx_ts){st.st_atime_sec, (u32)st.st_atime_nsec, 0};
    x->mtime = (struct statx_ts){st.st_mtime_sec, (u32)st.st_mtime_nsec, 0};
    x->ctime = (struct statx_ts){st.st_ctime_sec, (u32)st.st_ctime_nsec, 0};
    x->rdev_major = (u32)((st.st_rdev >> 8) & 0xfff);
    x->rdev_minor = (u32)((st.st_rdev & 0xff) | ((st.st_rdev >> 12) & ~0xffull));
    x->dev_major = (u32)((st.st_dev >> 8) & 0xfff);
    x->dev_minor = (u32)(st.st_dev & 0xff);
    return copy_to_user((void *)buf, x, sizeof *x);
}

i64 sys_readlinkat(u64 dirfd, u64 path, u64 buf, u64 size)
{
    if ((i64)size <= 0)
        return -EINVAL;
    if (!user_ok((void *)buf, size, PROT_WRITE))
        return -EFAULT;
    int r = get_path(path, p1);
    if (r)
        return r;
    r = vfs_resolve((int)dirfd, p1, 0, &nd);
    if (r)
        return r;
    if (!S_ISLNK(nd.mode))
        return -EINVAL;
    static char target[PATH_MAX];
    r = vfs_readlink(&nd, target, MIN(size, (u64)sizeof target));
    return r < 0 ? r : (copy_to_user((void *)buf, target, (u64)r) ?: r);
}

i64 sys_readlink(u64 path, u64 buf, u64 size)
{
    return sys_readlinkat((u64)AT_FDCWD, path, buf, size);
}

i64 sys_faccessat2(u64 dirfd, u64 path, u64 mode, u64 flags)
{
    if (mode & ~7ull)
        return -EINVAL;
    if (flags & ~(u64)(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
        return -EINVAL;
    int r = get_path(path, p1);
    if (r)
        return r;
    r = vfs_resolve((int)dirfd, p1, (flags & AT_SYMLINK_NOFOLLOW) ? 0 : RESOLVE_FOLLOW, &nd);
    if (r)
        return r;
    /* We run as root: read and write are allowed; execute needs some x bit (as Linux). */
    if ((mode & X_OK) && !S_ISDIR(nd.mode) && !(nd.mode & 0111))
        return -EACCES;
    return 0;
}

i64 sys_faccessat(u64 dirfd, u64 path, u64 mode) { return sys_faccessat2(dirfd, path, mode, 0); }
i64 sys_access(u64 path, u64 mode) { return sys_faccessat2((u64)AT_FDCWD, path, mode, 0); }

i64 sys_getcwd(u64 buf, u64 size)
{
    u64 n = strlen(cwd_path) + 1;
    if (size < n)
        return -ERANGE;
    if (!user_ok((void *)buf, n, PROT_WRITE))
        return -EFAULT;
    return copy_to_user((void *)buf, cwd_path, n) ?: (i64)n;
}

i64 sys_chdir(u64 path)
{
    int r = get_path(path, p1);
    if (r)
        return r;
    r = vfs_resolve(AT_FDCWD, p1, RESOLVE_FOLLOW, &nd);
    if (r)
        return r;
    if (!S_ISDIR(nd.mode))
        return -ENOTDIR;
    memcpy(cwd_path, nd.path, strlen(nd.path) + 1);
    return 0;
}

i64 sys_mkdirat(u64 dirfd, u64 path, u64 mode)
{
    int r = get_path(path, p1);
    return r ? r : vfs_mkdir((int)dirfd, p1, (u32)mode);
}
i64 sys_mkdir(u64 path, u64 mode) { return sys_mkdirat((u64)AT_FDCWD, path, mode); }

/* FIFOs, socket nodes and empty files; the device number matters only for devices, which
 * are refused. */
i64 sys_mknodat(u64 dirfd, u64 path, u64 mode, u64 dev)
{
    (void)dev;
    int r = get_path(path, p1);
    return r ? r : vfs_mknod((int)dirfd, p1, (u32)mode);
}
i64 sys_mknod(u64 path, u64 mode, u64 dev) { return sys_mknodat((u64)AT_FDCWD, path, mode, dev); }

i64 sys_unlinkat(u64 dirfd, u64 path, u64 flags)
{
    if (flags & ~(u64)AT_REMOVEDIR)
        return -EINVAL;
    int r = get_path(path, p1);
    return r ? r : vfs_unlink((int)dirfd, p1, (int)flags);
}
i64 sys_unlink(u64 path) { return sys_unlinkat((u64)AT_FDCWD, path, 0); }
i64 sys_rmdir(u64 path) { return sys_unlinkat((u64)AT_FDCWD, path, AT_REMOVEDIR); }

i64 sys_renameat2(u64 olddir, u64 old, u64 newdir, u64 new, u64 flags)
{
    if (flags)
        return -EINVAL; /* RENAME_NOREPLACE/EXCHANGE/WHITEOUT: not supported */
    int r = get_path(old, p1);
    if (!r)
        r = get_path(new, p2);
    return r ? r : vfs_rename((int)olddir, p1, (int)newdir, p2);
}
i64 sys_renameat(u64 olddir, u64 old, u64 newdir, u64 new)
{
    return sys_renameat2(olddir, old, newdir, new, 0);
}
i64 sys_rename(u64 old, u64 new)
{
    return sys_renameat2((u64)AT_FDCWD, old, (u64)AT_FDCWD, new, 0);
}

#define AT_SYMLINK_FOLLOW 0x400
i64 sys_linkat(u64 olddir, u64 old, u64 newdir, u64 new, u64 flags)
{
    if (flags & ~(u64)(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH))
        return -EINVAL;
    int r = get_path(old, p1);
    if (r == -ENOENT && (flags & AT_EMPTY_PATH)) {
        struct file *f = fd_get((int)olddir);
        if (!f)
            return -EBADF;
        memcpy(p1, f->path, strlen(f->path) + 1);
        r = 0;
    }
    if (!r)
        r = get_path(new, p2);
    return r ? r : vfs_link((int)olddir, p1, (int)newdir, p2, (flags & AT_SYMLINK_FOLLOW) != 0);
}
i64 sys_link(u64 old, u64 new) { return sys_linkat((u64)AT_FDCWD, old, (u64)AT_FDCWD, new, 0); }

i64 sys_symlinkat(u64 target, u64 dirfd, u64 path)
{
    int r = get_path(target, p1);
    if (!r)
        r = get_path(path, p2);
    if (!r && !p1[0])
        r = -ENOENT;
    return r ? r : vfs_symlink(p1, (int)dirfd, p2);
}
i64 sys_symlink(u64 target, u64 path) { return sys_symlinkat(target, (u64)AT_FDCWD, path); }

i64 sys_fchmodat(u64 dirfd, u64 path, u64 mode)
{
    int r = get_path(path, p1);
    if (!r)
        r = vfs_resolve((int)dirfd, p1, RESOLVE_FOLLOW, &nd);
    return r ? r : vfs_chmod(&nd, (u32)mode);
}
i64 sys_chmod(u64 path, u64 mode) { return sys_fchmodat((u64)AT_FDCWD, path, mode); }

i64 sys_fchownat(u64 dirfd, u64 path, u64 uid, u64 gid, u64 flags)
{
    if (flags & ~(u64)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
        return -EINVAL;
    int r = get_path(path, p1);
    if (r)
        return r;
    if (!p1[0] && (flags & AT_EMPTY_PATH)) {
        struct file *f = fd_get((int)dirfd);
        if ((int)dirfd != AT_FDCWD && !f)
            return -EBADF;
        r = vfs_resolve(AT_FDCWD, f ? f->path : cwd_path, 0, &nd);
    } else {
        r = vfs_resolve((int)dirfd, p1, (flags & AT_SYMLINK_NOFOLLOW) ? 0 : RESOLVE_FOLLOW, &nd);
    }
    return r ? r : vfs_chown(&nd, (u32)uid, (u32)gid);
}
i64 sys_chown(u64 path, u64 uid, u64 gid) { return sys_fchownat((u64)AT_FDCWD, path, uid, gid, 0); }
i64 sys_lchown(u64 path, u64 uid, u64 gid)
{
    return sys_fchownat((u64)AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW);
}

static i64 ts_ns(const i64 *ts)
{
    if (ts[1] == UTIME_OMIT)
        return -1;
    if (ts[1] == UTIME_NOW)
        return (i64)time_wall_ns();
    return ts[0] * 1000000000 + ts[1];
}

/* The times of (dirfd, path), or of the file open as dirfd when path is NULL (futimens,
 * futimesat). at/mt in ns since the epoch, -1 to leave one as it is. */
static i64 set_times(u64 dirfd, u64 path, i64 at, i64 mt, u64 flags)
{
    if (flags & ~(u64)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
        return -EINVAL;
    int r;
    if (!path) {
        struct file *f = fd_get((int)dirfd);
        if (!f)
            return -EBADF;
        r = file_node(f, &nd);
    } else {
        r = get_path(path, p1);
        if (!r && !p1[0] && (flags & AT_EMPTY_PATH))
            return set_times(dirfd, 0, at, mt, 0);
        if (!r)
            r = vfs_resolve((int)dirfd, p1, (flags & AT_SYMLINK_NOFOLLOW) ? 0 : RESOLVE_FOLLOW,
                            &nd);
    }
    if (r)
        return r;
    if (at == -1 && mt == -1)
        return 0;
    return vfs_utimens(&nd, at, mt);
}

i64 sys_utimensat(u64 dirfd, u64 path, u64 times, u64 flags)
{
    i64 at = (i64)time_wall_ns(), mt = at;
    if (times) {
        i64 t[4];
        if (copy_from_user(t, (const void *)times, sizeof t))
            return -EFAULT;
        for (int i = 0; i < 2; i++)
            if (t[2 * i + 1] != UTIME_NOW && t[2 * i + 1] != UTIME_OMIT &&
                (t[2 * i + 1] < 0 || t[2 * i + 1] >= 1000000000))
                return -EINVAL;
        at = ts_ns(t);
        mt = ts_ns(t + 2);
    }
    return set_times(dirfd, path, at, mt, flags);
}

/* futimesat, utimes: struct timeval pairs (microseconds), NULL for now. */
i64 sys_futimesat(u64 dirfd, u64 path, u64 times)
{
    i64 at = (i64)time_wall_ns(), mt = at;
    if (times) {
        i64 tv[4];
        if (copy_from_user(tv, (const void *)times, sizeof tv))
            return -EFAULT;
        if (tv[1] < 0 || tv[1] >= 1000000 || tv[3] < 0 || tv[3] >= 1000000)
            return -EINVAL;
        at = tv[0] * 1000000000 + tv[1] * 1000;
        mt = tv[2] * 1000000000 + tv[3] * 1000;
    }
    return set_times(dirfd, path, at, mt, 0);
}

i64 sys_utimes(u64 path, u64 times) { return sys_futimesat((u64)AT_FDCWD, path, times); }

/* utime: struct utimbuf, whole seconds. */
i64 sys_utime(u64 path, u64 times)
{
    i64 at = (i64)time_wall_ns(), mt = at;
    if (times) {
        i64 t[2];
        if (copy_from_user(t, (const void *)times, sizeof t))
            return -EFAULT;
        at = t[0] * 1000000000;
        mt = t[1] * 1000000000;
    }
    return set_times((u64)AT_FDCWD, path, at, mt, 0);
}

i64 sys_truncate(u64 path, u64 len)
{
    int r = get_path(path, p1);
    if (r)
        return r;
    struct file *f;
    r = vfs_open(AT_FDCWD, p1, O_WRONLY, 0, &f);
    if (r)
        return r;
    r = (int)file_truncate(f, len);
    file_put(f);
    return r;
}

i64 sys_umask(u64 mask)
{
    u32 old = proc.umask;
    proc.umask = (u32)mask & 0777;
    return old;
}
