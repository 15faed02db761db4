/* The operations the ring carries, executed on arguments ring_decode() already checked.
 * Files of the writable layer are opened beneath the layer's directory only: openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, so no guest-made symlink or ".." leads outside.
 * Whiteouts are stored as ".wh.NAME" files and opaque directories hold ".wh..wh..opq", the
 * OCI layer convention; guest names with that prefix are refused by the decoder. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "vmm.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

/* Modes the guest asks for, minus set-user/group-ID: the layer is a host directory, and a
 * setuid-root file left there by a guest would be a gift to anyone on the host. */
static mode_t guest_mode(uint64_t mode) { return (mode_t)(mode & 01777); }

static int beneath(struct vmm *v, const char *path, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = (uint64_t)flags | O_CLOEXEC,
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
                   RESOLVE_NO_XDEV,
    };
    long fd = syscall(SYS_openat2, v->upper_fd, *path ? path : ".", &how, sizeof how);
    return fd < 0 ? -errno : (int)fd;
}

/* Open the parent directory of `path`; *name points at its last component. */
int parent_of(struct vmm *v, const char *path, const char **name)
{
    const char *slash = strrchr(path, '/');
    if (!*path)
        return -EINVAL; /* the layer's root has no parent */
    if (!slash) {
        *name = path;
        return beneath(v, "", O_PATH | O_DIRECTORY, 0);
    }
    char dir[4096];
    size_t n = (size_t)(slash - path);
    memcpy(dir, path, n);
    dir[n] = 0;
    *name = slash + 1;
    return beneath(v, dir, O_PATH | O_DIRECTORY, 0);
}

static int whiteout_name(char *out, size_t outsz, const char *name)
{
    int n = snprintf(out, outsz, WH_PREFIX "%s", name);
    return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

/* Drop a whiteout hiding `name`: an entry is being created there. Returns 1 if one was. */
int drop_whiteout(int dfd, const char *name)
{
    char wh[300];
    if (whiteout_name(wh, sizeof wh, name))
        return 0;
    return unlinkat(dfd, wh, 0) == 0 ? 1 : 0;
}

/* A directory put where a lower one was deleted (its whiteout just dropped) must not show
 * the old contents: mark it opaque. Not a directory: nothing to do. */
static void make_opaque(int dfd, const char *name)
{
    int sub = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int o = sub < 0 ? -1 : openat(sub, WH_OPAQUE, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (o >= 0)
        close(o);
    if (sub >= 0)
        close(sub);
}

int alloc_handle(struct vmm *v, int fd, bool is_dir)
{
    for (int h = 3; h < UNO_MAX_HANDLES; h++) {
        if (v->handles[h].fd < 0) {
            v->handles[h].fd = fd;
            v->handles[h].is_dir = is_dir;
            v->handles[h].stream = false;
            v->handles[h].sock = NULL;
            v->handles[h].gen++;
            return h;
        }
    }
    close(fd);
    return -EMFILE;
}

int alloc_stream_handle(struct vmm *v, int fd)
{
    int h = alloc_handle(v, fd, false);
    if (h >= 0)
        v->handles[h].stream = true;
    return h;
}

int handle_fd(struct vmm *v, uint32_t h)
{
    return h < UNO_MAX_HANDLES ? v->handles[h].fd : -1;
}

/* What the guest set but the host file must not carry is kept in an extended attribute
 * of the host file: the owner (so uno-vmm needs no privilege to honour chown, and files
 * copied up from the image keep theirs) and the set-user/group-ID bits (which a host file
 * of a root uno-vmm must not have). Value "uid:gid:special" (special in octal). Without the
 * attribute a file belongs to root, the guest's user, with no special bits. Symlinks cannot
 * carry user.* attributes: they always belong to root. */
#define ATTR_XATTR "user.uno.attr"

struct guest_attr {
    uint32_t uid, gid, special;
};

static void attr_parse(const char *val, ssize_t n, struct guest_attr *a)
{
    char buf[48];
    unsigned long u, g, sp = 0;
    memset(a, 0, sizeof *a);
    if (n <= 0 || n >= (ssize_t)sizeof buf)
        return;
    memcpy(buf, val, (size_t)n);
    buf[n] = 0;
    if (sscanf(buf, "%lu:%lu:%lo", &u, &g, &sp) >= 2 && u <= UINT32_MAX && g <= UINT32_MAX) {
        a->uid = (uint32_t)u;
        a->gid = (uint32_t)g;
        a->special = (uint32_t)sp & 06000;
    }
}

/* `name` in directory `dfd` (opened beneath the layer; name is one checked component, so
 * the /proc/self/fd path cannot lead elsewhere). */
static void attr_path(char *out, size_t size, int dfd, const char *name)
{
    snprintf(out, size, "/proc/self/fd/%d/%s", dfd, name);
}

static void attr_get_at(int dfd, const char *name, struct guest_attr *a)
{
    char path[320], val[48];
    attr_path(path, sizeof path, dfd, name);
    attr_parse(val, lgetxattr(path, ATTR_XATTR, val, sizeof val), a);
}

static void attr_get_fd(int fd, struct guest_attr *a)
{
    char val[48];
    attr_parse(val, fgetxattr(fd, ATTR_XATTR, val, sizeof val), a);
}

static int attr_set_at(int dfd, const char *name, const struct guest_attr *a)
{
    char path[320], val[48];
    attr_path(path, sizeof path, dfd, name);
    if (!a->uid && !a->gid && !a->special)
        return lremovexattr(path, ATTR_XATTR) < 0 && errno != ENODATA ? -errno : 0;
    int n = snprintf(val, sizeof val, "%u:%u:%o", a->uid, a->gid, a->special);
    return lsetxattr(path, ATTR_XATTR, val, (size_t)n, 0) < 0 ? -errno : 0;
}

static void apply_attr(struct uno_stat *u, const struct guest_attr *a)
{
    u->uid = a->uid;
    u->gid = a->gid;
    u->mode |= a->special;
}

static void to_uno_stat(const struct stat *st, struct uno_stat *u, uint32_t flags)
{
    memset(u, 0, sizeof *u);
    u->mode = st->st_mode;
    u->nlink = (uint32_t)st->st_nlink;
    u->uid = 0; /* callers apply the guest_attr */
    u->gid = 0;
    u->size = (uint64_t)st->st_size;
    u->ino = st->st_ino;
    u->blocks = (uint64_t)st->st_blocks;
    u->atime_ns = st->st_atim.tv_sec * 1000000000ll + st->st_atim.tv_nsec;
    u->mtime_ns = st->st_mtim.tv_sec * 1000000000ll + st->st_mtim.tv_nsec;
    u->ctime_ns = st->st_ctim.tv_sec * 1000000000ll + st->st_ctim.tv_nsec;
    u->flags = flags;
}

/* Is the layer's entry at path a FIFO? (Opening one may wait for the other end.) */
static bool is_fifo(struct vmm *v, const char *path)
{
    const char *name;
    struct stat st;
    int dfd = parent_of(v, path, &name);
    if (dfd < 0)
        return false;
    bool fifo = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISFIFO(st.st_mode);
    close(dfd);
    return fifo;
}

static int64_t op_open(struct vmm *v, struct ring_req *r)
{
    int allowed = UNO_O_ACCMODE | UNO_O_CREAT | UNO_O_EXCL | UNO_O_TRUNC | UNO_O_APPEND |
                  UNO_O_DIRECTORY;
    int flags = (int)(r->arg[0] & (uint64_t)allowed);
    if ((flags & UNO_O_ACCMODE) == 3)
        return -EINVAL;
    /* A FIFO's open waits for the other end, as Linux's does, only on the vCPU thread of a
     * guest that allows waiting (a signal interrupts it); anywhere else it must not wait. */
    bool fifo = !(flags & O_CREAT) && *r->path && is_fifo(v, r->path);
    if (fifo && (!r->may_block || (r->arg[0] & UNO_O_NONBLOCK)))
        flags |= O_NONBLOCK;
    int fd = beneath(v, r->path, flags | O_NOFOLLOW, guest_mode(r->arg[1]));
    if (fd < 0)
        return fd;
    if (fifo) {
        /* A pipe end from now on: non-blocking on the host, like op_pipe's; whether a call
         * waits is the guest's to say (stream_rw). */
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
            close(fd);
            return -EIO;
        }
        return alloc_stream_handle(v, fd);
    }
    if ((flags & O_CREAT) && *r->path) {
        /* Only now that the name exists: a failed create must keep the lower one hidden. */
        const char *name;
        int dfd = parent_of(v, r->path, &name);
        if (dfd >= 0) {
            drop_whiteout(dfd, name);
            close(dfd);
        }
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return -EIO;
    }
    return alloc_handle(v, fd, S_ISDIR(st.st_mode));
}

static int64_t op_stat(struct vmm *v, struct ring_req *r)
{
    struct stat st;
    struct uno_stat *u = (struct uno_stat *)r->data;
    if (!*r->path) {
        if (fstat(v->upper_fd, &st) < 0)
            return -errno;
        to_uno_stat(&st, u, 0);
        return sizeof *u;
    }
    const char *name;
    int dfd = parent_of(v, r->path, &name);
    if (dfd < 0)
        return dfd;
    int64_t res = sizeof *u;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        char opq[300];
        uint32_t fl = 0;
        if (S_ISDIR(st.st_mode) && snprintf(opq, sizeof opq, "%s/" WH_OPAQUE, name) > 0 &&
            faccessat(dfd, opq, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            fl = UNO_STAT_OPAQUE;
        to_uno_stat(&st, u, fl);
        if (!S_ISLNK(st.st_mode)) {
            struct guest_attr a;
            attr_get_at(dfd, name, &a);
            apply_attr(u, &a);
        }
    } else {
        char wh[300];
        res = -ENOENT;
        if (!whiteout_name(wh, sizeof wh, name) &&
            fstatat(dfd, wh, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            to_uno_stat(&st, u, UNO_STAT_WHITEOUT);
            res = sizeof *u;
        }
    }
    close(dfd);
    return res;
}

static int64_t op_getdents(struct vmm *v, struct ring_req *r)
{
    int fd = handle_fd(v, r->handle);
    if (fd < 0)
        return -EBADF;
    /* Host records are never smaller than ours minus 8 bytes, so half a slot always fits. */
    char buf[UNO_RING_SLOT / 2];
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n < 0)
        return -errno;
    uint64_t out = 0;
    for (long pos = 0; pos < n;) {
        struct dirent64 *d = (struct dirent64 *)(buf + pos);
        pos += d->d_reclen;
        const char *name = d->d_name;
        uint8_t wh = 0;
        if (!strcmp(name, ".") || !strcmp(name, ".."))
            continue;
        if (!strcmp(name, WH_OPAQUE)) {
            wh = 2;
            name = "";
        } else if (!strncmp(name, WH_PREFIX, 4)) {
            wh = 1;
            name += 4;
        }
        size_t nl = strlen(name);
        size_t rec = (sizeof(struct uno_dirent) + nl + 1 + 7) & ~(size_t)7;
        if (out + rec > UNO_RING_SLOT)
            return -EOVERFLOW; /* cannot happen, see above */
        struct uno_dirent *u = (struct uno_dirent *)(r->data + out);
        memset(u, 0, rec);
        u->ino = d->d_ino;
        u->reclen = (uint16_t)rec;
        u->type = d->d_type;
        u->whiteout = wh;
        u->namelen = (uint16_t)nl;
        memcpy(u->name, name, nl);
        out += rec;
    }
    return (int64_t)out;
}

static int64_t op_mkdir(struct vmm *v, struct ring_req *r)
{
    const char *name;
    int dfd = parent_of(v, r->path, &name);
    if (dfd < 0)
        return dfd;
    int64_t res = mkdirat(dfd, name, guest_mode(r->arg[1])) < 0 ? -errno : 0;
    if (res == 0 && drop_whiteout(dfd, name))
        make_opaque(dfd, name);
    if (res == 0 && (r->arg[1] & 06000)) {
        struct guest_attr ga = {.special = (uint32_t)(r->arg[1] & 06000)};
        res = attr_set_at(dfd, name, &ga);
    }
    close(dfd);
    return res;
}

/* mknod in the layer: FIFOs and socket nodes are harmless on the host (the VMM opens them
 * itself, never as a device); device nodes are refused, as a container's are. */
static int64_t op_mknod(struct vmm *v, struct ring_req *r)
{
    mode_t type = (mode_t)(r->arg[1] & S_IFMT), perm = guest_mode(r->arg[1]) & 0777;
    if (type == S_IFCHR || type == S_IFBLK)
        return -EPERM;
    if (type != S_IFIFO && type != S_IFSOCK && type != S_IFREG)
        return -EINVAL;
    const char *name;
    int dfd = parent_of(v, r->path, &name);
    if (dfd < 0)
        return dfd;
    int64_t res = mknodat(dfd, name, type | perm, 0) < 0 ? -errno : 0;
    if (res == 0)
        drop_whiteout(dfd, name);
    close(dfd);
    return res;
}

static int64_t op_namei(struct vmm *v, struct ring_req *r)
{
    const char *name;
    int dfd = parent_of(v, r->path, &name);
    if (dfd < 0)
        return dfd;
    int64_t res = 0;
    char wh[300];
    switch (r->op) {
    case UNO_OP_UNLINK:
        res = unlinkat(dfd, name, r->arg[0] ? AT_REMOVEDIR : 0) < 0 ? -errno : 0;
        if (res == -ENOTEMPTY && r->arg[0]) {
            /* A directory holding only whiteouts/opaque marker is empty to the guest. */
            int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            DIR *d = sub < 0 ? NULL : fdopendir(sub);
            struct dirent *e;
            bool only_wh = d != NULL;
            while (d && (e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                    strncmp(e->d_name, WH_PREFIX, 4))
                    only_wh = false;
            if (d && only_wh) {
                rewinddir(d);
                while ((e = readdir(d)))
                    if (!strncmp(e->d_name, WH_PREFIX, 4))
                        unlinkat(dirfd(d), e->d_name, 0);
                res = unlinkat(dfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
            }
            if (d)
                closedir(d);
            else if (sub >= 0)
                close(sub);
        }
        break;
    case UNO_OP_WHITEOUT: {
        res = whiteout_name(wh, sizeof wh, name);
        int fd = res ? -1 : openat(dfd, wh, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (!res)
            res = fd < 0 ? -errno : 0;
        if (fd >= 0)
            close(fd);
        break;
    }
    case UNO_OP_READLINK: {
        ssize_t n = readlinkat(dfd, name, (char *)r->data, UNO_RING_SLOT);
        res = n < 0 ? -errno : n;
        break;
    }
    case UNO_OP_CHMOD:
        /* Never through a symlink: one in the layer may point anywhere on the host. */
        res = fchmodat(dfd, name, guest_mode(r->arg[1]), AT_SYMLINK_NOFOLLOW) < 0
                  ? -errno : 0;
        if (res == 0) {
            struct guest_attr ga;
            attr_get_at(dfd, name, &ga);
            if (ga.special != (r->arg[1] & 06000)) {
                ga.special = (uint32_t)(r->arg[1] & 06000);
                res = attr_set_at(dfd, name, &ga);
            }
        }
        break;
    case UNO_OP_CHOWN: {
        struct stat st;
        struct guest_attr ga;
        if (r->arg[0] > UINT32_MAX || r->arg[1] > UINT32_MAX) {
            res = -EINVAL;
            break;
        }
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            res = -errno;
            break;
        }
        if (S_ISLNK(st.st_mode)) {
            res = r->arg[0] == 0 && r->arg[1] == 0 ? 0 : -EPERM;
            break;
        }
        attr_get_at(dfd, name, &ga);
        ga.uid = (uint32_t)r->arg[0];
        ga.gid = (uint32_t)r->arg[1];
        ga.special = 0; /* chown clears set-user/group-ID, as on Linux */
        res = attr_set_at(dfd, name, &ga);
        break;
    }
    case UNO_OP_UTIMENS: {
        struct timespec ts[2];
        for (int i = 0; i < 2; i++) {
            int64_t t = (int64_t)r->arg[i];
            ts[i].tv_sec = t < 0 ? 0 : t / 1000000000;
            ts[i].tv_nsec = t < 0 ? UTIME_OMIT : t % 1000000000;
        }
        res = utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
        break;
    }
    default:
        res = -ENOSYS;
    }
    close(dfd);
    return res;
}

static int64_t op_two_paths(struct vmm *v, struct ring_req *r)
{
    const char *n2;
    int d2 = parent_of(v, r->path2, &n2);
    if (d2 < 0)
        return d2;
    int64_t res;
    if (r->op == UNO_OP_SYMLINK) {
        res = symlinkat(r->path, d2, n2) < 0 ? -errno : 0;
    } else {
        const char *n1;
        int d1 = parent_of(v, r->path, &n1);
        if (d1 < 0) {
            close(d2);
            return d1;
        }
        res = r->op == UNO_OP_LINK ? (linkat(d1, n1, d2, n2, 0) < 0 ? -errno : 0)
                                   : (renameat(d1, n1, d2, n2) < 0 ? -errno : 0);
        close(d1);
    }
    /* Only after success: a failure keeps the lower one hidden. A directory moved over a
     * whiteout hides the lower one as mkdir's does. */
    if (res == 0 && drop_whiteout(d2, n2) && r->op == UNO_OP_RENAME)
        make_opaque(d2, n2);
    close(d2);
    return res;
}

/* Wait until fd is ready for `events`, as the guest allows: -EAGAIN if it may not wait,
 * -EINTR if a signal for it came first. */
static int wait_ready(struct vmm *v, struct ring_req *r, int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    if (poll(&p, 1, 0) > 0)
        return 0;
    if ((r->flags & UNO_SQE_NONBLOCK) || !r->may_block)
        return -EAGAIN;
    int b = block_wait(v, &p, 1, 0, false);
    return b < 0 ? b : 0;
}

/* Pipes and the console: Linux's blocking rules. A read returns what is there (waiting for
 * something); a write waits until all is written, or returns what got through when a
 * signal interrupts it. Writes of at most PIPE_BUF bytes are atomic (the VMM's pipes are
 * non-blocking on the host, so such a write goes whole or not at all). */
static int64_t stream_rw(struct vmm *v, struct ring_req *r, int fd)
{
    if (r->op == UNO_OP_READ) {
        for (;;) {
            int w = wait_ready(v, r, fd, POLLIN);
            /* A FIFO that never had a writer polls as not ready, yet reads as at its end
             * (0), as Linux's does; a non-blocking host descriptor can just be asked. */
            if (w == -EAGAIN && (fcntl(fd, F_GETFL) & O_NONBLOCK)) {
                ssize_t n = read(fd, r->data, r->len);
                return n >= 0 ? n : errno == EINTR ? -EAGAIN : -errno;
            }
            if (w < 0)
                return w;
            ssize_t n = read(fd, r->data, r->len);
            if (n >= 0)
                return n;
            if (errno != EAGAIN && errno != EINTR)
                return -errno;
        }
    }
    size_t done = 0;
    while (done < r->len) {
        ssize_t n = write(fd, r->data + done, r->len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return done ? (int64_t)done : -errno;
        int w = wait_ready(v, r, fd, POLLOUT);
        if (w < 0)
            return done ? (int64_t)done : w;
    }
    return (int64_t)done;
}

static int64_t op_pipe(struct vmm *v, struct ring_req *r)
{
    int p[2];
    if (r->len < 8)
        return -EINVAL;
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
        return -errno;
    int a = alloc_handle(v, p[0], false);
    if (a < 0) {
        close(p[1]);
        return a;
    }
    int b = alloc_handle(v, p[1], false);
    if (b < 0) {
        close(v->handles[a].fd);
        v->handles[a].fd = -1;
        return b;
    }
    v->handles[a].stream = v->handles[b].stream = true;
    uint32_t hs[2] = {(uint32_t)a, (uint32_t)b};
    memcpy(r->data, hs, sizeof hs);
    return sizeof hs;
}

/* poll(2) over host handles; the guest merges in what it serves itself. */
#define POLL_MAX (UNO_RING_SLOT / sizeof(struct uno_pollfd))
static int64_t op_poll(struct vmm *v, struct ring_req *r)
{
    size_t n = r->len / sizeof(struct uno_pollfd);
    if (n > POLL_MAX || r->len % sizeof(struct uno_pollfd))
        return -EINVAL;
    struct uno_pollfd *g = (struct uno_pollfd *)r->data;
    /* Per call: several vCPU threads may poll at once. A handle may stand for several host
     * descriptors (a listening socket: its own and the published ports'). */
    struct pollfd p[POLL_MAX];
    int first[POLL_MAX], count_of[POLL_MAX];
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        int fds[HANDLE_POLL_MAX];
        int k = handle_poll_fds(v, g[i].handle, fds, HANDLE_POLL_MAX);
        if (k == 0) { /* a closed handle: -1, poll ignores it; reported as POLLNVAL */
            fds[0] = -1;
            k = 1;
        }
        if (np + (size_t)k > POLL_MAX)
            return -EINVAL;
        first[i] = (int)np;
        count_of[i] = k;
        for (int j = 0; j < k; j++)
            p[np++] = (struct pollfd){.fd = fds[j], .events = (short)g[i].events};
    }
    int64_t timeout = (int64_t)r->arg[0];
    int res;
    if (timeout == 0 || !r->may_block) {
        res = poll(p, np, 0);
        if (res < 0)
            res = -errno;
    } else {
        uint64_t deadline = timeout < 0 ? 0 : now_ns(CLOCK_MONOTONIC) + (uint64_t)timeout;
        res = block_wait(v, p, (int)np, deadline, false);
    }
    if (res < 0)
        return res;
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t rev = 0;
        for (int j = first[i]; j < first[i] + count_of[i]; j++)
            rev |= p[j].fd < 0 ? 0x20 /* POLLNVAL */ : (uint16_t)p[j].revents;
        g[i].revents = rev;
        count += rev != 0;
    }
    return count;
}

static int64_t op_rw(struct vmm *v, struct ring_req *r)
{
    int fd = handle_fd(v, r->handle);
    if (fd < 0)
        return -EBADF;
    if (v->handles[r->handle].is_dir)
        return -EISDIR;
    if (v->handles[r->handle].stream && r->off < 0 &&
        (r->op == UNO_OP_READ || r->handle > UNO_HANDLE_STDERR))
        return stream_rw(v, r, fd);
    ssize_t n;
    if (r->op == UNO_OP_READ)
        n = r->off < 0 ? read(fd, r->data, r->len) : pread(fd, r->data, r->len, r->off);
    else {
        /* Console and files: write it all, as a terminal or file write would. */
        size_t done = 0;
        n = 0;
        while (done < r->len) {
            n = r->off < 0 ? write(fd, r->data + done, r->len - done)
                           : pwrite(fd, r->data + done, r->len - done, r->off + (off_t)done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            done += (size_t)n;
        }
        if (done > 0)
            return (int64_t)done;
    }
    return n < 0 ? -errno : n;
}

/* fallocate on a file of the writable layer: only the two modes that change nothing but
 * allocation and size; punching or collapsing holes is refused rather than half done. */
static int64_t op_fallocate(struct vmm *v, struct ring_req *r)
{
    int fd = handle_fd(v, r->handle);
    if (fd < 0 || v->handles[r->handle].stream)
        return fd < 0 ? -EBADF : -ESPIPE;
    if (v->handles[r->handle].is_dir)
        return -EISDIR;
    if (r->arg[0] & ~(uint64_t)UNO_FALLOC_KEEP_SIZE)
        return -EOPNOTSUPP;
    int64_t off = (int64_t)r->arg[1], len = (int64_t)r->arg[2];
    if (off < 0 || len <= 0)
        return -EINVAL;
    if (off > INT64_MAX - len)
        return -EFBIG;
    int mode = r->arg[0] ? FALLOC_FL_KEEP_SIZE : 0;
    return fallocate(fd, mode, off, len) < 0 ? -errno : 0;
}

/* The writable layer's file system, as statfs(2) gives it. */
static int64_t op_statfs(struct vmm *v, struct ring_req *r)
{
    struct statfs s;
    if (r->len < sizeof(struct uno_statfs))
        return -EINVAL;
    if (fstatfs(v->upper_fd, &s) < 0)
        return -errno;
    struct uno_statfs u = {
        .type = (uint64_t)s.f_type, .bsize = (uint64_t)s.f_bsize, .blocks = s.f_blocks,
        .bfree = s.f_bfree, .bavail = s.f_bavail, .files = s.f_files, .ffree = s.f_ffree,
        .namelen = (uint64_t)s.f_namelen, .frsize = (uint64_t)s.f_frsize,
        .flags = (uint64_t)s.f_flags,
    };
    memcpy(r->data, &u, sizeof u);
    return sizeof u;
}

/* An anonymous file (memfd_create): a host memfd, so it is shared across fork with its
 * offset as Linux shares it, and its pages are host pages the VMM could map. */
static int64_t op_memfd(struct vmm *v, struct ring_req *r)
{
    if (r->arg[0] & ~(uint64_t)UNO_MFD_ALLOW_SEALING)
        return -EINVAL;
    unsigned flags = MFD_CLOEXEC | ((r->arg[0] & UNO_MFD_ALLOW_SEALING) ? MFD_ALLOW_SEALING : 0);
    int fd = memfd_create(r->path, flags);
    return fd < 0 ? -errno : alloc_handle(v, fd, false);
}

/* eventfd: a host eventfd, kept non-blocking on the host like pipes; the guest's blocking
 * read or write waits in stream_rw, interruptible by signals. */
static int64_t op_eventfd(struct vmm *v, struct ring_req *r)
{
    if (r->arg[0] > UINT32_MAX || (r->arg[1] & ~(uint64_t)UNO_EFD_SEMAPHORE))
        return -EINVAL;
    int flags = EFD_NONBLOCK | EFD_CLOEXEC | (r->arg[1] ? EFD_SEMAPHORE : 0);
    int fd = eventfd((unsigned)r->arg[0], flags);
    return fd < 0 ? -errno : alloc_stream_handle(v, fd);
}

/* splice between two host descriptors (one a pipe: the host checks), never waiting. */
static int64_t op_splice(struct vmm *v, struct ring_req *r)
{
    int in = handle_fd(v, r->handle), out = r->arg[0] < UNO_MAX_HANDLES ? handle_fd(v, (uint32_t)r->arg[0]) : -1;
    if (in < 0 || out < 0 || v->handles[r->handle].is_dir || v->handles[r->arg[0]].is_dir)
        return -EBADF;
    int64_t oi = (int64_t)r->arg[1], oo = (int64_t)r->arg[2];
    if (oi < -1 || oo < -1 || r->arg[3] > (1ull << 30))
        return -EINVAL;
    int qe = net_before_write(v, (uint32_t)r->arg[0]);
    if (qe)
        return qe;
    loff_t li = oi, lo = oo;
    ssize_t n = splice(in, oi >= 0 ? &li : NULL, out, oo >= 0 ? &lo : NULL, (size_t)r->arg[3],
                       SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    return n < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : n;
}

/* tee between two host pipes: the host's own, never waiting (the libOS waits). */
static int64_t op_tee(struct vmm *v, struct ring_req *r)
{
    int in = handle_fd(v, r->handle), out = r->arg[0] < UNO_MAX_HANDLES ? handle_fd(v, (uint32_t)r->arg[0]) : -1;
    if (in < 0 || out < 0 || !v->handles[r->handle].stream || !v->handles[r->arg[0]].stream)
        return -EINVAL;
    if (r->arg[3] > (1ull << 30))
        return -EINVAL;
    ssize_t n = tee(in, out, (size_t)r->arg[3], SPLICE_F_NONBLOCK);
    return n < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : n;
}

static int64_t dispatch(struct vmm *v, struct ring_req *r)
{
    int fd;
    struct stat st;
    switch (r->op) {
    case UNO_OP_NOP:
        return 0;
    case UNO_OP_READ:
    case UNO_OP_WRITE:
        return op_rw(v, r);
    case UNO_OP_OPEN:
        return op_open(v, r);
    case UNO_OP_PIPE:
        return op_pipe(v, r);
    case UNO_OP_POLL:
        return op_poll(v, r);
    case UNO_OP_SPLICE:
        return op_splice(v, r);
    case UNO_OP_TEE:
        return op_tee(v, r);
    case UNO_OP_SOCKET:
    case UNO_OP_SOCKPAIR:
    case UNO_OP_SOCK:
    case UNO_OP_SENDMSG:
    case UNO_OP_RECVMSG:
    case UNO_OP_SEND_ASYNC:
        return net_op(v, r);
    case UNO_OP_PROC:
        return proc_op(v, r);
    case UNO_OP_PIPECTL: {
        if ((fd = handle_fd(v, r->handle)) < 0)
            return -EBADF;
        if (!v->handles[r->handle].stream)
            return -ENOTTY;
        int n = 0;
        switch (r->arg[0]) {
        case UNO_PIPECTL_NREAD:
            return ioctl(fd, FIONREAD, &n) < 0 ? -errno : n;
        case UNO_PIPECTL_GETSZ:
            n = fcntl(fd, F_GETPIPE_SZ);
            return n < 0 ? -errno : n;
        case UNO_PIPECTL_SETSZ:
            if (r->arg[1] > (1u << 30))
                return -EINVAL;
            n = fcntl(fd, F_SETPIPE_SZ, (int)r->arg[1]);
            return n < 0 ? -errno : n;
        default:
            return -EINVAL;
        }
    }
    case UNO_OP_CLOSE:
        if (r->handle < 3 || handle_fd(v, r->handle) < 0)
            return -EBADF;
        if (v->handles[r->handle].sock)
            net_close(v, r->handle, v->handles[r->handle].sock);
        else
            close(v->handles[r->handle].fd);
        v->handles[r->handle].fd = -1;
        v->handles[r->handle].stream = false;
        v->handles[r->handle].sock = NULL;
        v->handles[r->handle].gen++;
        return 0;
    case UNO_OP_FSTAT:
        if ((fd = handle_fd(v, r->handle)) < 0)
            return -EBADF;
        if (fstat(fd, &st) < 0)
            return -errno;
        to_uno_stat(&st, (struct uno_stat *)r->data, 0);
        if (!S_ISLNK(st.st_mode)) {
            struct guest_attr a;
            attr_get_fd(fd, &a);
            apply_attr((struct uno_stat *)r->data, &a);
        }
        return sizeof(struct uno_stat);
    case UNO_OP_STAT:
        return op_stat(v, r);
    case UNO_OP_MKDIR:
        return op_mkdir(v, r);
    case UNO_OP_MKNOD:
        return op_mknod(v, r);
    case UNO_OP_UNLINK:
    case UNO_OP_WHITEOUT:
    case UNO_OP_READLINK:
    case UNO_OP_CHMOD:
    case UNO_OP_UTIMENS:
    case UNO_OP_CHOWN:
        return op_namei(v, r);
    case UNO_OP_RENAME:
    case UNO_OP_LINK:
    case UNO_OP_SYMLINK:
        return op_two_paths(v, r);
    case UNO_OP_GETDENTS:
        return op_getdents(v, r);
    case UNO_OP_LSEEK: {
        if ((fd = handle_fd(v, r->handle)) < 0)
            return -EBADF;
        int whence = (int)r->arg[0];
        if (whence < 0 || whence > 4)
            return -EINVAL;
        off_t o = lseek(fd, r->off, whence);
        return o < 0 ? -errno : o;
    }
    case UNO_OP_FTRUNCATE:
        if ((fd = handle_fd(v, r->handle)) < 0)
            return -EBADF;
        return ftruncate(fd, r->off) < 0 ? -errno : 0;
    case UNO_OP_LOCK:
        return lock_op(r, handle_fd(v, r->handle));
    case UNO_OP_FMAP:
        return filemap_op(v, r, r->arg[0] == UNO_FMAP_MAP ? handle_fd(v, r->handle) : -1);
    case UNO_OP_FSYNC:
        if ((fd = handle_fd(v, r->handle)) < 0)
            return -EBADF;
        if (r->arg[0] & UNO_FSYNC_DATA)
            return fdatasync(fd) < 0 && errno != EINVAL ? -errno : 0;
        return fsync(fd) < 0 && errno != EINVAL ? -errno : 0;
    case UNO_OP_FALLOCATE:
        return op_fallocate(v, r);
    case UNO_OP_STATFS:
        return op_statfs(v, r);
    case UNO_OP_SYNCFS: {
        /* upper_fd is O_PATH, which syncfs refuses: open the layer's root for it. */
        int64_t res = fd = beneath(v, "", O_RDONLY | O_DIRECTORY, 0);
        if (fd >= 0) {
            res = syncfs(fd) < 0 ? -errno : 0;
            close(fd);
        }
        return res;
    }
    case UNO_OP_MEMFD:
        return op_memfd(v, r);
    case UNO_OP_EVENTFD:
        return op_eventfd(v, r);
    case UNO_OP_EPOLL: return epoll_op(v, r);
    case UNO_OP_TIMERFD: return timerfd_op(v, r);
    case UNO_OP_SIGNALFD: return signalfd_op(v, r);
    case UNO_OP_SETFL: {
        if ((fd = handle_fd(v, r->handle)) < 0)
            return -EBADF;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0)
            return -errno;
        if (r->arg[1] == UNO_SETFL_ASYNC) { /* SIGIO: main.c passes it to the guest */
            if (r->arg[0] > 1)
                return -EINVAL;
            if (r->arg[0] && fcntl(fd, F_SETOWN, getpid()) < 0)
                return -errno;
            fl = r->arg[0] ? (fl | O_ASYNC) : (fl & ~O_ASYNC);
            return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
        }
        if (r->arg[0] & ~(uint64_t)UNO_O_APPEND || r->arg[1])
            return -EINVAL;
        if (v->handles[r->handle].stream)
            return 0; /* pipes stay non-blocking on the host; O_APPEND means nothing there */
        fl = r->arg[0] ? (fl | O_APPEND) : (fl & ~O_APPEND);
        return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
    }
    case UNO_OP_TTY: {
        /* Only the console, only these requests, only these sizes: the guest's terminal
         * settings reach the real terminal and nothing else. */
        if (r->handle > 2)
            return -ENOTTY;
        fd = v->handles[r->handle].fd;
        unsigned long req;
        uint64_t size = UNO_TERMIOS_SIZE;
        switch (r->arg[0]) {
        case UNO_TTY_GET: req = TCGETS; break;
        case UNO_TTY_SET: req = TCSETS; break;
        case UNO_TTY_SET_DRAIN: req = TCSETSW; break;
        case UNO_TTY_SET_FLUSH: req = TCSETSF; break;
        case UNO_TTY_WINSIZE: req = TIOCGWINSZ; size = UNO_WINSIZE_SIZE; break;
        default: return -EINVAL;
        }
        if (req != TCGETS && req != TIOCGWINSZ && r->len != size)
            return -EINVAL;
        if (ioctl(fd, req, r->data) < 0)
            return -errno;
        return req == TCGETS || req == TIOCGWINSZ ? (int64_t)size : 0;
    }
    case UNO_OP_OPAQUE: {
        if (!*r->path)
            return -EINVAL;
        const char *name;
        int dfd = parent_of(v, r->path, &name);
        if (dfd < 0)
            return dfd;
        struct stat st;
        int64_t res = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno
                      : !S_ISDIR(st.st_mode)                        ? -ENOTDIR
                                                                    : 0;
        if (res == 0)
            make_opaque(dfd, name);
        close(dfd);
        return res;
    }
    default:
        return -ENOSYS;
    }
}

/* The process is ending: its descriptors close now, before its parent can see it gone
 * (so a pipe's reader sees EOF once the writer is reaped, as on Linux). The console stays
 * until the VMM itself exits. */
void hostops_close_all(struct vmm *v)
{
    /* What sockets were still to send outlives us (sendq.c). */
    pthread_mutex_lock(&v->ring_lock);
    sendq_exit(v);
    pthread_mutex_unlock(&v->ring_lock);
    for (int h = 3; h < UNO_MAX_HANDLES; h++) {
        if (v->handles[h].fd >= 0) {
            close(v->handles[h].fd);
            v->handles[h].fd = -1;
        }
    }
}

int hostops_init(struct vmm *v)
{
    for (int h = 0; h < UNO_MAX_HANDLES; h++) {
        v->handles[h].fd = h < 3 ? h : -1;
        v->handles[h].stream = h < 3;
    }
    if (mkdir(v->cfg.upper_dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "uno-vmm: cannot create writable layer %s: %s\n", v->cfg.upper_dir,
                strerror(errno));
        return -1;
    }
    v->upper_fd = open(v->cfg.upper_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (v->upper_fd < 0) {
        fprintf(stderr, "uno-vmm: cannot open writable layer %s: %s\n", v->cfg.upper_dir,
                strerror(errno));
        return -1;
    }
    return 0;
}

int handle_poll_fds(struct vmm *v, uint32_t h, int *fds, int max)
{
    int fd = handle_fd(v, h);
    if (fd < 0 || max < 1)
        return 0;
    if (v->handles[h].sock)
        return net_poll_fds(v, v->handles[h].sock, fds, max);
    fds[0] = fd;
    return 1;
}

/* Operations that may create, remove or hide a name of the writable layer. */
static bool changes_names(const struct ring_req *r)
{
    switch (r->op) {
    case UNO_OP_OPEN:
        return (r->arg[0] & UNO_O_CREAT) != 0;
    case UNO_OP_MKDIR: case UNO_OP_UNLINK: case UNO_OP_RENAME: case UNO_OP_SYMLINK:
    case UNO_OP_WHITEOUT: case UNO_OP_OPAQUE: case UNO_OP_LINK: case UNO_OP_MKNOD:
        return true;
    default:
        return false;
    }
}

void upper_gen_bump(struct vmm *v)
{
    struct uno_shared_hdr *h = shared_hdr(v);
    if (h)
        __atomic_fetch_add(&h->upper_gen, 1, __ATOMIC_SEQ_CST);
}

/* One guest operation. Around those that change the writable layer's names, the instance's
 * upper_gen moves (before and after), which ends what every libOS of the instance knew to be
 * absent from the layer (abi: struct uno_shared_hdr). */
int64_t hostop_exec(struct vmm *v, struct ring_req *r)
{
    bool names = changes_names(r);
    if (names)
        upper_gen_bump(v);
    int64_t res = dispatch(v, r);
    if (names)
        upper_gen_bump(v);
    return res;
}
