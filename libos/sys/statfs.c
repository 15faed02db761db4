/* statfs, fstatfs: which file system a file is on, with its real numbers. The root is an
 * overlay whose writes go to the writable layer, so its free space and inodes are the host's
 * for that layer's directory (UNO_OP_STATFS); its size adds the image's blocks, which are in
 * use. /proc, /dev and /sys have no storage: their totals are zero, as Linux shows for proc
 * and sysfs. */
#include "syscalls.h"
#include "core/kernel.h"
#include "fs/vfs.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"

#define OVERLAYFS_MAGIC 0x794c7630
#define PROC_MAGIC 0x9fa0
#define TMPFS_MAGIC 0x01021994
#define SYSFS_MAGIC 0x62656572
#define PIPEFS_MAGIC 0x50495045
#define ANON_INODE_MAGIC 0x09041934
#define ST_RDONLY 0x1
#define ST_NOSUID 0x2
#define ST_NODEV 0x4
#define ST_NOEXEC 0x8
#define ST_VALID 0x20
#define ST_RELATIME 0x1000

struct linux_statfs {
    i64 type, bsize, blocks, bfree, bavail, files, ffree;
    i32 fsid[2];
    i64 namelen, frsize, flags, spare[4];
};

static void empty_fs(struct linux_statfs *s, i64 type, i64 flags)
{
    memset(s, 0, sizeof *s);
    s->type = type;
    s->bsize = s->frsize = 4096;
    s->namelen = 255;
    s->flags = ST_VALID | flags;
}

static int overlay_fs(struct linux_statfs *s)
{
    struct uno_statfs u;
    struct ring_op op = {.op = UNO_OP_STATFS, .out = &u, .out_len = sizeof u};
    i64 r = ring_call(&op);
    if (r < 0)
        return (int)r;
    memset(s, 0, sizeof *s);
    s->type = OVERLAYFS_MAGIC;
    s->bsize = (i64)u.bsize;
    s->frsize = (i64)(u.frsize ? u.frsize : u.bsize);
    u64 unit = (u64)s->frsize ? (u64)s->frsize : 4096;
    s->blocks = (i64)(u.blocks + (bootinfo->image_size + unit - 1) / unit);
    s->bfree = (i64)u.bfree;
    s->bavail = (i64)u.bavail;
    s->files = (i64)(u.files + rootfs.inos);
    s->ffree = (i64)u.ffree;
    s->namelen = (i64)MIN(u.namelen, 255ull);
    s->flags = (i64)(u.flags & ~(u64)ST_RDONLY) | ST_VALID;
    return 0;
}

/* By where an absolute path (or an open file's name) lies. */
static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return !strncmp(path, dir, n) && (path[n] == 0 || path[n] == '/');
}

static int fs_of_name(const char *name, struct linux_statfs *s)
{
    if (under(name, "/proc"))
        empty_fs(s, PROC_MAGIC, ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_RELATIME);
    else if (under(name, "/sys"))
        empty_fs(s, SYSFS_MAGIC, ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_RELATIME);
    else if (under(name, "/dev"))
        empty_fs(s, TMPFS_MAGIC, ST_NOSUID);
    else if (!strncmp(name, "pipe:", 5))
        empty_fs(s, PIPEFS_MAGIC, 0);
    else if (!strncmp(name, "anon_inode:", 11))
        empty_fs(s, ANON_INODE_MAGIC, 0);
    else if (!strncmp(name, "/memfd:", 7))
        empty_fs(s, TMPFS_MAGIC, 0);
    else if (name[0] == '/')
        return overlay_fs(s);
    else
        empty_fs(s, TMPFS_MAGIC, 0); /* the console and other nameless files */
    return 0;
}

static i64 put_statfs(u64 buf, struct linux_statfs *k)
{
    return copy_to_user((void *)buf, k, sizeof *k);
}

i64 sys_statfs(u64 path, u64 buf)
{
    static char p[PATH_MAX];
    static struct node n;
    i64 r = strncpy_from_user(p, (const char *)path, PATH_MAX);
    if (r < 0)
        return r;
    int e = vfs_resolve(AT_FDCWD, p, RESOLVE_FOLLOW, &n);
    if (!e && !n.exists)
        e = -ENOENT;
    struct linux_statfs k;
    if (!e)
        e = fs_of_name(n.path, &k);
    return e ? e : put_statfs(buf, &k);
}

i64 sys_fstatfs(u64 fd, u64 buf)
{
    struct file *f = fd_get((int)fd);
    if (!f)
        return -EBADF;
    struct linux_statfs k;
    int e = fs_of_name(f->path, &k);
    return e ? e : put_statfs(buf, &k);
}
