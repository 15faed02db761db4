/* Path resolution over the overlay of the image (lower) and the writable layer (upper).
 *
 * A lookup asks the host about the upper layer only when the parent directory exists there
 * (and never while the layer is known to be empty, nor for a name known to be absent from it:
 * absent.c), so reading files of the image costs no trip to the host at all. Whiteouts hide lower entries; an opaque upper directory hides the
 * whole lower directory. The libOS resolves symlinks itself and sends the host only
 * normalized relative paths. */
#include "vfs.h"
#include "devfs.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "core/kheap.h"
#include "libos/string.h"
#include "proc/proc.h"

struct erofs_fs rootfs;
char cwd_path[PATH_MAX] = "/";
static bool upper_live;

#define MAX_SYMLINKS 40

void vfs_init(void)
{
    int r = erofs_mount(&rootfs, phys_to_virt(UNO_GPA_IMAGE), bootinfo->image_size);
    if (r)
        panic("the root image is not a usable EROFS image (error %d)", r);
    upper_live = !(bootinfo->flags & UNO_BOOT_UPPER_EMPTY);
}

bool upper_active(void) { return upper_live; }
void upper_mark_active(void) { upper_live = true; }

const char *upper_rel(const char *abs) { return abs[1] ? abs + 1 : ""; }

i64 upper_stat(const char *abs, struct uno_stat *st)
{
    struct ring_op op = {.op = UNO_OP_STAT};
    const char *rel = upper_rel(abs);
    op.in = rel;
    op.in_len = strlen(rel) + 1;
    op.out = st;
    op.out_len = sizeof *st;
    return ring_call(&op);
}

const char *path_next(const char **p, size_t *len)
{
    const char *s = *p;
    while (*s == '/')
        s++;
    if (!*s)
        return NULL;
    const char *e = s;
    while (*e && *e != '/')
        e++;
    *len = (size_t)(e - s);
    *p = e;
    return s;
}

int special_open(const struct file_ops *ops, const struct node *n, int flags, struct file **out)
{
    struct file *f = file_alloc(ops, flags, n->mode, n->path);
    if (!f)
        return -ENFILE;
    f->kind = n->special_kind;
    *out = f;
    return 0;
}

static void root_node(struct node *n)
{
    /* path is the first member: clear everything after it */
    memset((char *)n + sizeof n->path, 0, sizeof *n - sizeof n->path);
    n->path[0] = '/';
    n->path[1] = 0;
    n->exists = true;
    n->in_upper = true; /* the layer's root always exists */
    n->has_lower = true;
    n->lower_exists = true;
    n->special = SP_NONE;
    n->opaque = false;
    n->magic = false;
    n->etc_default = 0;
    erofs_iget(&rootfs, rootfs.root_nid, &n->lower);
    n->mode = n->lower.mode;
}

static int join(char *out, const char *dir, const char *name, size_t len)
{
    size_t dl = strlen(dir);
    if (dl == 1)
        dl = 0; /* "/" */
    if (dl + 1 + len + 1 > PATH_MAX)
        return -ENAMETOOLONG;
    memmove(out, dir, dl);
    out[dl] = '/';
    memcpy(out + dl + 1, name, len);
    out[dl + 1 + len] = 0;
    return 0;
}

/* /dev, /proc and /sys are synthetic whatever the image holds there. */
static enum special root_special(const char *name, size_t len)
{
    if (len == 3 && !memcmp(name, "dev", 3))
        return SP_DEV;
    if (len == 4 && !memcmp(name, "proc", 4))
        return SP_PROC;
    if (len == 3 && !memcmp(name, "sys", 3))
        return SP_SYS;
    return SP_NONE;
}

static i64 upper_path_op(u16 op, const char *abs, u64 arg0, u64 arg1);

/* O_PATH|O_NOFOLLOW of a symlink: a descriptor for the link itself, as Linux gives, good
 * for fstat and the *at calls (glibc's fchmodat(AT_SYMLINK_NOFOLLOW) looks at it this way);
 * nothing is read or written through it (sys/file.c refuses I/O on O_PATH descriptors). */
static int symlink_path_stat(struct file *f, struct linux_stat *st)
{
    memcpy(st, f->priv, sizeof *st);
    return 0;
}

static void symlink_path_release(struct file *f)
{
    kfree(f->priv);
    f->priv = NULL;
}

static const struct file_ops symlink_path_ops = {
    .stat = symlink_path_stat,
    .release = symlink_path_release,
};

static int symlink_path_open(const struct node *n, int flags, struct file **out)
{
    struct linux_stat *st = kmalloc(sizeof *st);
    if (!st)
        return -ENOMEM;
    int r = vfs_stat(n, st);
    struct file *f = r ? NULL : file_alloc(&symlink_path_ops, flags, n->mode, n->path);
    if (!f) {
        kfree(st);
        return r ? r : -ENFILE;
    }
    f->priv = st;
    *out = f;
    return 0;
}

/* /dev/shm is a directory of the writable layer (dev/shm there), not a synthetic one: POSIX
 * shared memory and semaphores (shm_open, sem_open) are files in it mapped MAP_SHARED, and
 * as host files they are shared by every process of the instance. Made on first use. */
static int shm_lookup(struct node *child)
{
    i64 s = upper_stat("/dev/shm", &child->ust);
    if (s == -ENOENT || s == -ENOTDIR) {
        upper_path_op(UNO_OP_MKDIR, "/dev", 0, 0755); /* EEXIST is fine */
        s = upper_path_op(UNO_OP_MKDIR, "/dev/shm", 0, 01777);
        if (s < 0 && s != -EEXIST)
            return (int)s;
        upper_path_op(UNO_OP_CHMOD, "/dev/shm", 0, 01777); /* past the host's umask */
        upper_mark_active();
        s = upper_stat("/dev/shm", &child->ust);
    }
    if (s < 0)
        return (int)s;
    child->special = SP_NONE;
    child->exists = child->in_upper = true;
    child->mode = child->ust.mode;
    return 0;
}

/* Look `name` up in directory `dir`, filling `child` (child->exists may be false). */
static int lookup(const struct node *dir, const char *name, size_t len, struct node *child)
{
    int r = join(child->path, dir->path, name, len);
    if (r)
        return r;
    child->exists = child->in_upper = child->has_lower = child->opaque = false;
    child->lower_exists = false;
    child->special = SP_NONE;
    child->special_kind = 0;
    child->mode = 0;
    child->magic = false;
    child->etc_default = 0;

    enum special sp = dir->special;
    if (sp == SP_NONE && dir->path[1] == 0)
        sp = root_special(name, len);
    if (sp != SP_NONE) {
        const char *rel = child->path + (sp == SP_PROC ? 5 : 4); /* after /dev, /proc, /sys */
        if (sp == SP_DEV && !strcmp(rel, "/shm"))
            return shm_lookup(child);
        child->special = sp;
        r = sp == SP_DEV    ? devfs_lookup(rel, child)
            : sp == SP_PROC ? procfs_lookup(rel, child)
                            : sysfs_lookup(rel, child);
        if (r == -ENOENT) {
            child->exists = false;
            return 0;
        }
        if (r == 0)
            child->exists = true;
        return r;
    }

    if (upper_live && dir->in_upper) {
        i64 s = upper_lookup(child->path, &child->ust);
        if (s >= 0 && (child->ust.flags & UNO_STAT_WHITEOUT))
            return 0; /* deleted: the lower entry stays hidden */
        if (s >= 0) {
            child->exists = child->in_upper = true;
            child->mode = child->ust.mode;
            child->opaque = (child->ust.flags & UNO_STAT_OPAQUE) != 0;
        } else if (s != -ENOENT && s != -ENOTDIR) {
            return (int)s;
        }
    }
    if (dir->has_lower && !dir->opaque && S_ISDIR(dir->lower.mode)) {
        u64 nid;
        r = erofs_lookup(&rootfs, &dir->lower, name, len, &nid, NULL);
        if (r == 0) {
            r = erofs_iget(&rootfs, nid, &child->lower);
            if (r)
                return r;
            child->lower_exists = true;
            if (!child->in_upper) {
                child->exists = child->has_lower = true;
                child->mode = child->lower.mode;
            } else if (S_ISDIR(child->mode) && S_ISDIR(child->lower.mode) && !child->opaque) {
                child->has_lower = true; /* merged directory */
            }
        } else if (r != -ENOENT) {
            return r;
        }
    }
    if (!child->exists && !dir->opaque && (child->etc_default = etc_default_kind(dir->path, name, len))) {
        /* A generated default, as if in the image: removing it needs a whiteout. */
        child->exists = child->lower_exists = true;
        child->mode = S_IFREG | 0644;
    }
    return 0;
}

static int readlink_node(const struct node *n, char *buf, u64 size)
{
    if (n->special == SP_PROC)
        return procfs_readlink(n, buf, size);
    if (n->special == SP_DEV)
        return devfs_readlink(n, buf, size);
    if (!S_ISLNK(n->mode))
        return -EINVAL;
    if (n->in_upper) {
        struct ring_op op = {.op = UNO_OP_READLINK};
        const char *rel = upper_rel(n->path);
        op.in = rel;
        op.in_len = strlen(rel) + 1;
        op.out = buf;
        op.out_len = size;
        i64 r = ring_call(&op);
        return r < 0 ? (int)r : (int)MIN((u64)r, size); /* truncated, as readlink(2) */
    }
    return (int)erofs_readlink(&rootfs, &n->lower, buf, size);
}

int vfs_readlink(const struct node *n, char *buf, u64 size) { return readlink_node(n, buf, size); }

static bool only_slashes(const char *s)
{
    while (*s == '/')
        s++;
    return *s == 0;
}

/* Scratch space for resolution: the libOS serves one syscall at a time. */
static char work[2 * PATH_MAX + 2], scratch[2 * PATH_MAX + 2], linkbuf[PATH_MAX];
static struct node tmp_child, tmp_parent;

static void dirname_of(const char *path, char *out)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] != '/')
        n--;
    if (n > 1)
        n--; /* drop the slash unless it is the root */
    memcpy(out, path, n);
    out[n] = 0;
}

/* Walk a path known to hold no symlinks, "." or ".." (an already resolved one). */
static int walk_plain(const char *path, struct node *out)
{
    root_node(out);
    const char *p = path, *name;
    size_t len;
    while ((name = path_next(&p, &len))) {
        int r = lookup(out, name, len, &tmp_child);
        if (r)
            return r;
        if (!tmp_child.exists)
            return -ENOENT;
        memcpy(out, &tmp_child, sizeof *out);
    }
    return 0;
}

static int walk(const char *start_path, const char *path, int flags, struct node *out)
{
    size_t sl = strlen(start_path), pl = strlen(path);
    if (sl + 1 + pl + 1 > sizeof work)
        return -ENAMETOOLONG;
    /* work = start_path "/" path, then walk it from the root */
    memcpy(work, start_path, sl);
    work[sl] = '/';
    memcpy(work + sl + 1, path, pl + 1);
    bool trailing_slash = pl > 0 && path[pl - 1] == '/';

    root_node(out);
    char *rest = work;
    int links = 0;
    for (;;) {
        while (*rest == '/')
            rest++;
        if (!*rest)
            break;
        char *end = rest;
        while (*end && *end != '/')
            end++;
        size_t len = (size_t)(end - rest);
        if (len > 255)
            return -ENAMETOOLONG;
        if (len == 1 && rest[0] == '.') {
            rest = end;
            continue;
        }
        if (len == 2 && rest[0] == '.' && rest[1] == '.') {
            /* The prefix is fully resolved (no symlinks), so ".." is its dirname. */
            char parent[PATH_MAX];
            dirname_of(out->path, parent);
            int r = walk_plain(parent, out);
            if (r)
                return r;
            rest = end;
            continue;
        }
        bool last = only_slashes(end);
        int r = lookup(out, rest, len, &tmp_child);
        if (r)
            return r;
        if (!tmp_child.exists) {
            if (last && (flags & RESOLVE_PARENT_OK)) {
                memcpy(out, &tmp_child, sizeof *out);
                return 0;
            }
            return -ENOENT;
        }
        if (S_ISLNK(tmp_child.mode) && (!last || (flags & RESOLVE_FOLLOW) || trailing_slash)) {
            /* /proc/self/fd/N is a "magic" link: it leads to the open file itself, which
             * may have no path (the console, later pipes); vfs_open/vfs_stat use it. */
            if (last && procfs_fd_file(&tmp_child)) {
                memcpy(out, &tmp_child, sizeof *out);
                out->magic = true;
                return 0;
            }
            if (++links > MAX_SYMLINKS)
                return -ELOOP;
            int n = readlink_node(&tmp_child, linkbuf, sizeof linkbuf - 1);
            if (n < 0)
                return n;
            if (n == 0)
                return -ENOENT;
            size_t el = strlen(end);
            if ((size_t)n + 1 + el + 1 > sizeof scratch)
                return -ENAMETOOLONG;
            memcpy(scratch, linkbuf, (size_t)n);
            scratch[n] = '/';
            memcpy(scratch + n + 1, end, el + 1);
            memcpy(work, scratch, (size_t)n + 1 + el + 1);
            rest = work;
            if (linkbuf[0] == '/')
                root_node(out);
            continue;
        }
        if (!last && !S_ISDIR(tmp_child.mode))
            return -ENOTDIR;
        memcpy(out, &tmp_child, sizeof *out);
        rest = end;
    }
    if (trailing_slash && out->exists && !S_ISDIR(out->mode))
        return -ENOTDIR;
    return 0;
}

int vfs_resolve(int dirfd, const char *path, int flags, struct node *out)
{
    const char *start = "/";
    if (!path[0])
        return -ENOENT;
    if (path[0] != '/') {
        if (dirfd == AT_FDCWD) {
            start = cwd_path;
        } else {
            struct file *f = fd_get(dirfd);
            if (!f)
                return -EBADF;
            if (!S_ISDIR(f->mode))
                return -ENOTDIR;
            start = f->path;
        }
    }
    return walk(start, path, flags, out);
}

static const char *basename_of(const char *path)
{
    const char *b = path;
    for (const char *p = path; *p; p++)
        if (*p == '/')
            b = p + 1;
    return b;
}

static i64 upper_path_op(u16 op, const char *abs, u64 arg0, u64 arg1)
{
    struct ring_op r = {.op = op, .arg = {arg0, arg1}};
    const char *rel = upper_rel(abs);
    r.in = rel;
    r.in_len = strlen(rel) + 1;
    return ring_call(&r);
}

int vfs_copy_up_dirs(const char *dir)
{
    upper_mark_active();
    static char prefix[PATH_MAX];
    struct node *n = &tmp_parent;
    root_node(n);
    size_t len = strlen(dir);
    for (size_t i = 1; i <= len; i++) {
        if (dir[i] != '/' && dir[i] != 0)
            continue;
        memcpy(prefix, dir, i);
        prefix[i] = 0;
        const char *name = prefix + (strlen(n->path) == 1 ? 1 : strlen(n->path) + 1);
        int r = lookup(n, name, strlen(name), &tmp_child);
        if (r)
            return r;
        if (!tmp_child.exists)
            return -ENOENT;
        if (!S_ISDIR(tmp_child.mode))
            return -ENOTDIR;
        if (!tmp_child.in_upper) {
            i64 m = upper_path_op(UNO_OP_MKDIR, tmp_child.path, 0, tmp_child.mode & 07777);
            if (m < 0 && m != -EEXIST)
                return (int)m;
            if (m == 0 && (tmp_child.lower.uid || tmp_child.lower.gid)) {
                m = upper_path_op(UNO_OP_CHOWN, tmp_child.path, tmp_child.lower.uid,
                                  tmp_child.lower.gid);
                if (m < 0)
                    return (int)m;
            }
            tmp_child.in_upper = true;
        }
        memcpy(n, &tmp_child, sizeof *n);
    }
    return 0;
}

/* Write a generated /etc default into the writable layer (its parent is there already). */
static int copy_up_etc_default(const struct node *n)
{
    static char text[1024];
    int len = etc_default_text(n->etc_default, text, sizeof text);
    if (len < 0)
        return len;
    i64 h = upper_path_op(UNO_OP_OPEN, n->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (h < 0)
        return (int)h;
    struct ring_op w = {.op = UNO_OP_WRITE, .handle = (u32)h, .off = 0, .in = text,
                        .in_len = (size_t)len};
    i64 put = ring_call(&w);
    handle_close((u32)h);
    return put < 0 ? (int)put : put != len ? -EIO : 0;
}

/* Give a lower-only file or symlink a copy in the writable layer. */
static int copy_up(struct node *n)
{
    if (n->in_upper)
        return 0;
    if (n->special != SP_NONE)
        return -EACCES;
    char dir[PATH_MAX];
    dirname_of(n->path, dir);
    int r = vfs_copy_up_dirs(dir);
    if (r)
        return r;
    if (S_ISLNK(n->mode)) {
        int len = (int)erofs_readlink(&rootfs, &n->lower, linkbuf, sizeof linkbuf - 1);
        if (len < 0)
            return len;
        linkbuf[len] = 0;
        struct ring_op op = {.op = UNO_OP_SYMLINK, .in = linkbuf, .in_len = (size_t)len + 1};
        const char *rel = upper_rel(n->path);
        op.in2 = rel;
        op.in2_len = strlen(rel) + 1;
        i64 s = ring_call(&op);
        if (s < 0)
            return (int)s;
    } else if (n->etc_default) {
        r = copy_up_etc_default(n);
        if (r)
            return r;
    } else if (S_ISREG(n->mode)) {
        i64 h = upper_path_op(UNO_OP_OPEN, n->path, O_WRONLY | O_CREAT | O_TRUNC,
                              n->lower.mode & 07777);
        if (h < 0)
            return (int)h;
        for (u64 off = 0; off < n->lower.size;) {
            u64 avail;
            const void *p = erofs_data(&rootfs, &n->lower, off, &avail);
            if (!p)
                break;
            avail = MIN(avail, (u64)RING_MAX_IO);
            struct ring_op w = {.op = UNO_OP_WRITE, .handle = (u32)h, .off = (i64)off,
                                .in = p, .in_len = avail};
            i64 got = ring_call(&w);
            if (got <= 0) {
                handle_close((u32)h);
                return got < 0 ? (int)got : -EIO;
            }
            off += (u64)got;
        }
        handle_close((u32)h);
    } else if (S_ISFIFO(n->mode)) {
        i64 m = upper_path_op(UNO_OP_MKNOD, n->path, 0, n->lower.mode & (S_IFMT | 0777));
        if (m < 0)
            return (int)m;
    } else {
        return -EOPNOTSUPP; /* devices of the image stay read-only */
    }
    if (n->has_lower && (n->lower.uid || n->lower.gid) && !S_ISLNK(n->mode)) {
        i64 c = upper_path_op(UNO_OP_CHOWN, n->path, n->lower.uid, n->lower.gid);
        if (c < 0)
            return (int)c;
    }
    i64 s = upper_stat(n->path, &n->ust);
    if (s < 0)
        return (int)s;
    n->in_upper = true;
    n->mode = n->ust.mode;
    return 0;
}

/* Copy a whole merged directory into the writable layer and make it opaque, so that it
 * can be renamed: overlayfs without redirect_dir refuses with EXDEV, but Linux on an ordinary
 * file system does not, and programs expect rename(2) of a directory to work. */
#define COPY_TREE_MAX_DEPTH 128
static int copy_up_tree(const char *path, int depth)
{
    if (depth > COPY_TREE_MAX_DEPTH)
        return -ELOOP;
    int r = vfs_copy_up_dirs(path);
    if (r)
        return r;
    struct node *n = kmalloc(sizeof *n);
    u8 *buf = kmalloc(16384);
    char *child = kmalloc(PATH_MAX);
    struct file *f = NULL;
    if (!n || !buf || !child) {
        r = -ENOMEM;
        goto out;
    }
    r = walk_plain(path, n);
    if (!r)
        r = dir_open_merged(n, O_RDONLY | O_DIRECTORY, &f);
    while (!r) {
        struct dirent_sink sink = {.buf = buf, .size = 16384};
        r = f->ops->getdents(f, &sink);
        if (r || !sink.used)
            break;
        for (u64 o = 0; o < sink.used && !r; o += *(u16 *)(buf + o + 16)) {
            const char *name = (const char *)buf + o + 19;
            if (!strcmp(name, ".") || !strcmp(name, ".."))
                continue;
            r = join(child, path, name, strlen(name));
            if (!r)
                r = walk_plain(child, n);
            if (r)
                break;
            if (S_ISDIR(n->mode))
                r = copy_up_tree(child, depth + 1);
            else
                r = copy_up(n);
        }
    }
    if (!r)
        r = (int)upper_path_op(UNO_OP_OPAQUE, path, 0, 0);
out:
    if (f)
        file_put(f);
    kfree(n);
    kfree(buf);
    kfree(child);
    return r;
}

int vfs_open(int dirfd, const char *path, int flags, u32 mode, struct file **out)
{
    static struct node n;
    int rflags = (flags & O_NOFOLLOW) ? 0 : RESOLVE_FOLLOW;
    if (flags & O_CREAT)
        rflags |= RESOLVE_PARENT_OK;
    if ((flags & O_TMPFILE) == O_TMPFILE)
        return -EOPNOTSUPP;
    int r = vfs_resolve(dirfd, path, rflags, &n);
    if (r)
        return r;
    int acc = flags & O_ACCMODE;
    if (!n.exists) {
        size_t pl = strlen(path);
        if (pl && path[pl - 1] == '/')
            return -EISDIR;
        if (n.special != SP_NONE)
            return -EACCES;
        char dir[PATH_MAX];
        dirname_of(n.path, dir);
        r = vfs_copy_up_dirs(dir);
        if (r)
            return r;
        return upper_open(&n, flags, mode & ~proc.umask & 07777, out);
    }
    if ((flags & O_CREAT) && (flags & O_EXCL))
        return -EEXIST;
    struct file *magic = n.magic ? procfs_fd_file(&n) : NULL;
    if (magic) {
        /* Linux reopens the file; sharing the open file is the close approximation. */
        file_get(magic);
        *out = magic;
        return 0;
    }
    if (S_ISLNK(n.mode))
        return (flags & O_PATH) ? symlink_path_open(&n, flags, out) : -ELOOP;
    if ((flags & O_DIRECTORY) && !S_ISDIR(n.mode))
        return -ENOTDIR;
    if (S_ISDIR(n.mode) && (acc != O_RDONLY || (flags & O_CREAT)))
        return -EISDIR;
    if (n.special == SP_DEV)
        return devfs_open(&n, flags, out);
    if (n.special == SP_PROC)
        return procfs_open(&n, flags, out);
    if (n.special == SP_SYS)
        return sysfs_open(&n, flags, out);
    if (S_ISDIR(n.mode))
        return dir_open_merged(&n, flags, out);
    if (S_ISSOCK(n.mode))
        return -ENXIO; /* a socket node: connect(2), not open */
    if (S_ISFIFO(n.mode)) {
        /* The image's FIFO gets its node in the layer first: the host's FIFO is the pipe. */
        if (!n.in_upper && (r = copy_up(&n)))
            return r;
        return upper_fifo_open(&n, flags, out);
    }
    bool writing = acc != O_RDONLY || (flags & O_TRUNC);
    if (writing && !n.in_upper) {
        r = copy_up(&n);
        if (r)
            return r;
    }
    if (n.in_upper)
        return upper_open(&n, flags & ~(O_CREAT | O_EXCL), 0, out);
    if (n.etc_default)
        return etc_default_open(&n, flags, out);
    return lower_open(&n, flags, out);
}

int vfs_stat(const struct node *n, struct linux_stat *st)
{
    struct file *magic = n->magic ? procfs_fd_file(n) : NULL;
    if (magic)
        return magic->ops->stat(magic, st);
    memset(st, 0, sizeof *st);
    if (n->special != SP_NONE) {
        st->st_dev = n->special == SP_DEV ? 5 : n->special == SP_PROC ? 4 : 6;
        if (n->special == SP_SYS && S_ISREG(n->mode))
            st->st_size = 4096; /* sysfs shows a page for attributes */
        st->st_ino = (u64)(n->special_kind + 2);
        st->st_mode = n->mode;
        st->st_nlink = S_ISDIR(n->mode) ? 2 : 1;
        st->st_blksize = 4096;
        if ((n->mode & S_IFMT) == S_IFCHR)
            st->st_rdev = (u64)n->special_kind;
        u64 now = time_wall_ns();
        st->st_atime_sec = st->st_mtime_sec = st->st_ctime_sec = (i64)(now / 1000000000ull);
        return 0;
    }
    if (n->in_upper) {
        const struct uno_stat *u = &n->ust;
        if (n->path[1] == 0) {
            /* the root: show the image's root attributes */
            stat_from_erofs(&n->lower, st);
            return 0;
        }
        stat_from_upper(u, st);
        return 0;
    }
    if (n->etc_default) {
        static char text[1024];
        int len = etc_default_text(n->etc_default, text, sizeof text);
        etc_default_stat(n->etc_default, len < 0 ? 0 : (u64)len, st);
        return 0;
    }
    stat_from_erofs(&n->lower, st);
    return 0;
}

/* Resolve a name about to be created: it must not exist, and its directory must exist in
 * the writable layer afterwards. */
static int prepare_create(int dirfd, const char *path, struct node *n)
{
    int r = vfs_resolve(dirfd, path, RESOLVE_PARENT_OK, n);
    if (r)
        return r;
    if (n->exists)
        return -EEXIST;
    if (n->special != SP_NONE)
        return -EACCES;
    char dir[PATH_MAX];
    dirname_of(n->path, dir);
    return vfs_copy_up_dirs(dir);
}

int vfs_prepare_socket(const char *path, struct node *n)
{
    int r = prepare_create(AT_FDCWD, path, n);
    return r == -EEXIST ? -EADDRINUSE : r;
}

int vfs_mkdir(int dirfd, const char *path, u32 mode)
{
    static struct node n;
    int r = prepare_create(dirfd, path, &n);
    if (r)
        return r;
    return (int)upper_path_op(UNO_OP_MKDIR, n.path, 0, mode & ~proc.umask & 07777);
}

/* mknod in the layer: a FIFO, a socket node or an empty file (devices: -EPERM). */
int vfs_mknod(int dirfd, const char *path, u32 mode)
{
    static struct node n;
    u32 type = mode & S_IFMT;
    if (type == 0)
        type = S_IFREG; /* as Linux: no type is a regular file */
    if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR &&
        type != S_IFBLK)
        return -EINVAL;
    if (type == S_IFCHR || type == S_IFBLK)
        return -EPERM; /* no devices in the layer, as in a container */
    int r = prepare_create(dirfd, path, &n);
    if (r)
        return r;
    return (int)upper_path_op(UNO_OP_MKNOD, n.path, 0, type | (mode & ~proc.umask & 0777));
}

/* Does the merged directory hold anything but "." and ".."? */
static int dir_is_empty(const struct node *n)
{
    struct file *f;
    int r = dir_open_merged(n, O_RDONLY | O_DIRECTORY, &f);
    if (r)
        return r;
    static u8 buf[1024];
    struct dirent_sink sink = {.buf = buf, .size = sizeof buf};
    int empty = 1;
    for (;;) {
        sink.used = 0;
        r = f->ops->getdents(f, &sink);
        if (r < 0 || sink.used == 0)
            break;
        for (u64 o = 0; o < sink.used;) {
            u16 reclen = *(u16 *)(buf + o + 16);
            const char *name = (const char *)buf + o + 19;
            if (strcmp(name, ".") && strcmp(name, ".."))
                empty = 0;
            o += reclen;
        }
        if (!empty)
            break;
    }
    file_put(f);
    return r < 0 ? r : empty;
}

int vfs_unlink(int dirfd, const char *path, int flags)
{
    static struct node n;
    int r = vfs_resolve(dirfd, path, 0, &n);
    if (r)
        return r;
    if (!n.exists)
        return -ENOENT;
    if (n.special != SP_NONE || n.path[1] == 0)
        return n.path[1] == 0 ? -EBUSY : -EACCES;
    bool isdir = S_ISDIR(n.mode);
    if (flags & AT_REMOVEDIR) {
        if (!isdir)
            return -ENOTDIR;
        const char *b = basename_of(path);
        if (!strcmp(b, "."))
            return -EINVAL;
        r = dir_is_empty(&n);
        if (r < 0)
            return r;
        if (!r)
            return -ENOTEMPTY;
    } else if (isdir) {
        return -EISDIR;
    }
    if (n.in_upper) {
        i64 s = upper_path_op(UNO_OP_UNLINK, n.path, isdir ? 1 : 0, 0);
        if (s < 0)
            return (int)s;
    }
    if (n.lower_exists) {
        char dir[PATH_MAX];
        dirname_of(n.path, dir);
        r = vfs_copy_up_dirs(dir);
        if (r)
            return r;
        i64 s = upper_path_op(UNO_OP_WHITEOUT, n.path, 0, 0);
        if (s < 0)
            return (int)s;
    }
    return 0;
}

/* A ring operation on two paths of the writable layer ("a\0b\0"): rename, link. */
static i64 upper_two_paths(u16 opcode, const char *a, const char *b)
{
    const char *r1 = upper_rel(a), *r2 = upper_rel(b);
    struct ring_op op = {.op = opcode, .in = r1, .in_len = strlen(r1) + 1, .in2 = r2,
                         .in2_len = strlen(r2) + 1};
    return ring_call(&op);
}

int vfs_rename(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    static struct node o, nn;
    int r = vfs_resolve(olddirfd, oldpath, 0, &o);
    if (r)
        return r;
    if (!o.exists)
        return -ENOENT;
    r = vfs_resolve(newdirfd, newpath, RESOLVE_PARENT_OK, &nn);
    if (r)
        return r;
    if (o.special != SP_NONE || nn.special != SP_NONE)
        return -EXDEV;
    if (!strcmp(o.path, nn.path))
        return 0;
    size_t ol = strlen(o.path);
    if (!strncmp(nn.path, o.path, ol) && nn.path[ol] == '/')
        return -EINVAL; /* into its own subtree */
    if (S_ISDIR(o.mode)) {
        if (nn.exists && !S_ISDIR(nn.mode))
            return -ENOTDIR;
        if (nn.exists) {
            r = dir_is_empty(&nn);
            if (r <= 0)
                return r < 0 ? r : -ENOTEMPTY;
        }
    } else if (nn.exists && S_ISDIR(nn.mode)) {
        return -EISDIR;
    }
    if (S_ISDIR(o.mode) && o.has_lower) {
        /* A directory with image contents moves as a full copy in the writable layer. */
        r = copy_up_tree(o.path, 0);
        if (r)
            return r;
        o.in_upper = true;
    } else {
        r = copy_up(&o);
        if (r)
            return r;
    }
    char dir[PATH_MAX];
    dirname_of(nn.path, dir);
    r = vfs_copy_up_dirs(dir);
    if (r)
        return r;
    if (nn.exists && S_ISDIR(nn.mode) && nn.in_upper) {
        i64 s = upper_path_op(UNO_OP_UNLINK, nn.path, 1, 0);
        if (s < 0)
            return (int)s;
    }
    i64 s = upper_two_paths(UNO_OP_RENAME, o.path, nn.path);
    if (s < 0)
        return (int)s;
    if (o.lower_exists) {
        s = upper_path_op(UNO_OP_WHITEOUT, o.path, 0, 0);
        if (s < 0)
            return (int)s;
    }
    return 0;
}

/* A hard link: the file moves to the writable layer first (copy-up), where the host links
 * it; both names then share one host inode, as on Linux. */
int vfs_link(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, bool follow)
{
    static struct node o, nn;
    int r = vfs_resolve(olddirfd, oldpath, follow ? RESOLVE_FOLLOW : 0, &o);
    if (r)
        return r;
    if (!o.exists)
        return -ENOENT;
    if (S_ISDIR(o.mode))
        return -EPERM;
    if (o.special != SP_NONE)
        return -EXDEV;
    r = prepare_create(newdirfd, newpath, &nn);
    if (r)
        return r;
    r = copy_up(&o);
    if (r)
        return r;
    return (int)upper_two_paths(UNO_OP_LINK, o.path, nn.path);
}

int vfs_symlink(const char *target, int dirfd, const char *linkpath)
{
    static struct node n;
    int r = prepare_create(dirfd, linkpath, &n);
    if (r)
        return r;
    struct ring_op op = {.op = UNO_OP_SYMLINK, .in = target, .in_len = strlen(target) + 1};
    const char *rel = upper_rel(n.path);
    op.in2 = rel;
    op.in2_len = strlen(rel) + 1;
    return (int)ring_call(&op);
}

int vfs_chmod(const struct node *cn, u32 mode)
{
    static struct node n;
    memcpy(&n, cn, sizeof n);
    if (n.special != SP_NONE)
        return -EPERM;
    if (S_ISDIR(n.mode) && !n.in_upper) {
        int r = vfs_copy_up_dirs(n.path);
        if (r)
            return r;
    } else {
        int r = copy_up(&n);
        if (r)
            return r;
    }
    return (int)upper_path_op(UNO_OP_CHMOD, n.path, 0, mode & 07777);
}

int vfs_utimens(const struct node *cn, i64 atime_ns, i64 mtime_ns)
{
    static struct node n;
    memcpy(&n, cn, sizeof n);
    if (n.special != SP_NONE)
        return -EPERM;
    int r = S_ISDIR(n.mode) && !n.in_upper ? vfs_copy_up_dirs(n.path) : copy_up(&n);
    if (r)
        return r;
    return (int)upper_path_op(UNO_OP_UTIMENS, n.path, (u64)atime_ns, (u64)mtime_ns);
}

int vfs_chown(const struct node *cn, u32 uid, u32 gid)
{
    static struct node n;
    memcpy(&n, cn, sizeof n);
    if (n.special != SP_NONE)
        return -EPERM;
    struct linux_stat st;
    int r = vfs_stat(&n, &st);
    if (r)
        return r;
    if (uid == (u32)-1)
        uid = st.st_uid;
    if (gid == (u32)-1)
        gid = st.st_gid;
    if (uid == st.st_uid && gid == st.st_gid)
        return 0; /* nothing changes: no copy-up either, as Linux leaves the file alone */
    r = S_ISDIR(n.mode) && !n.in_upper ? vfs_copy_up_dirs(n.path) : copy_up(&n);
    if (r)
        return r;
    return (int)upper_path_op(UNO_OP_CHOWN, n.path, uid, gid);
}

bool dirent_emit(struct dirent_sink *s, u64 ino, u8 type, const char *name, size_t len)
{
    u64 reclen = ALIGN_UP(19 + len + 1, 8);
    if (s->used + reclen > s->size)
        return false;
    u8 *p = s->buf + s->used;
    memset(p, 0, reclen);
    *(u64 *)p = ino;
    *(i64 *)(p + 8) = (i64)(s->used + reclen); /* d_off: a cookie; ours is informational */
    *(u16 *)(p + 16) = (u16)reclen;
    p[18] = type;
    memcpy(p + 19, name, len);
    s->used += reclen;
    return true;
}
