/* Sockets: guest descriptors for sockets the VMM holds (vmm/net.c; abi/uno_abi.h,
 * "Sockets"). The VMM never waits: a call that would block here is a loop of non-blocking
 * attempts through the ring and waits for readiness (UNO_OP_POLL of the handle, made
 * without the big lock), so signals, SO_RCVTIMEO/SO_SNDTIMEO and other threads behave as
 * they do on Linux. Data moves in place: the host reads and writes the app's own pages
 * (scatter lists from mm/userio.c). */
#include "socket.h"
#include "rxahead.h"
#include "core/kernel.h"
#include "core/kheap.h"
#include "fs/file.h"
#include "io/ring.h"
#include "libos/string.h"
#include "libos/fmt.h"
#include "mm/mm.h"
#include "proc/proc.h"
#include "proc/signal.h"
#include "sys/syscalls.h"
#include "fs/vfs.h"

#define POLLIN 0x1
#define POLLOUT 0x4
#define FIONREAD 0x541b

/* What the libOS keeps of a socket: the host has the rest. */
struct sock {
    int family, type;
    i64 rcvtimeo_ns, sndtimeo_ns; /* 0: none */
    u32 opts_ok;                  /* options the host took here: async from now on */
    bool listening;
    bool linger;                  /* SO_LINGER on: close waits for the host's answer */
    bool epoll_seen;              /* added to an epoll instance once */
};

static struct sock *sk(struct file *f) { return f->priv; }

/* A TCP socket (IPv4 or IPv6 stream), whatever carries it underneath. */
static bool is_tcp(const struct sock *s)
{
    return (s->family == AF_INET || s->family == AF_INET6) && s->type == SOCK_STREAM;
}

extern const struct file_ops sock_ops;

bool file_is_socket(const struct file *f) { return f->ops == &sock_ops; }

static struct file *sock_file(u32 handle, int family, int type, int flags)
{
    struct sock *s = kmalloc(sizeof *s);
    if (!s)
        return NULL;
    memset(s, 0, sizeof *s);
    s->family = family;
    s->type = type;
    char name[32];
    snprintf_l(name, sizeof name, "socket:[%u]", 0x20000 + handle);
    struct file *f = file_for_handle(&sock_ops, handle, O_RDWR | (flags & O_NONBLOCK),
                                     S_IFSOCK | 0777, name);
    if (!f) {
        kfree(s);
        return NULL;
    }
    f->priv = s;
    f->anon = true;
    return f;
}

/* A descriptor for a new socket handle; the handle is closed if none can be had. */
static i64 install(u32 h, int family, int type, int flags)
{
    struct file *f = sock_file(h, family, type, flags);
    if (!f) {
        handle_close(h);
        return -ENOMEM;
    }
    int fd = fd_install(f, 0, (flags & O_CLOEXEC) != 0); /* the table takes our reference */
    if (fd < 0)
        file_put(f);
    return fd;
}

static struct file *sock_fd(u64 fd, i64 *err)
{
    struct file *f = fd_get((int)fd);
    *err = !f ? -EBADF : !file_is_socket(f) ? -ENOTSOCK : 0;
    return *err ? NULL : f;
}

static i64 sock_call(struct file *f, u64 what, u64 a1, u64 a2, const void *in, size_t in_len,
                     void *out, size_t out_len)
{
    struct ring_op op = {.op = UNO_OP_SOCK, .handle = f->handle, .arg = {what, a1, a2},
                         .in = in, .in_len = in_len, .out = out, .out_len = out_len,
                         .out_fixed = out != NULL};
    return ring_call(&op);
}

static i64 wait_ready(struct file *f, u16 events, i64 timeout_ns)
{
    return file_wait(f, events, timeout_ns);
}

static bool nonblocking(struct file *f, u64 msg_flags)
{
    return (file_status(f) & O_NONBLOCK) || (msg_flags & MSG_DONTWAIT);
}

/* --- creating, naming, connecting -------------------------------------------------------- */

static int type_flags(u64 type, int *kind)
{
    if (type & ~(u64)(0xf | SOCK_NONBLOCK | SOCK_CLOEXEC))
        return -EINVAL;
    *kind = (int)(type & 0xf);
    return (type & SOCK_NONBLOCK ? O_NONBLOCK : 0) | (type & SOCK_CLOEXEC ? O_CLOEXEC : 0);
}

i64 sys_socket(u64 family, u64 type, u64 protocol)
{
    int kind, flags = type_flags(type, &kind);
    if (flags < 0)
        return flags;
    struct ring_op op = {.op = UNO_OP_SOCKET, .arg = {family, (u64)kind, protocol}};
    i64 h = ring_call(&op);
    return h < 0 ? h : install((u32)h, (int)family, kind, flags);
}

i64 sys_socketpair(u64 family, u64 type, u64 protocol, u64 usv)
{
    int kind, flags = type_flags(type, &kind);
    if (flags < 0)
        return flags;
    if (!user_ok((void *)usv, 8, PROT_WRITE))
        return -EFAULT;
    u32 hs[2];
    struct ring_op op = {.op = UNO_OP_SOCKPAIR, .arg = {family, (u64)kind, protocol},
                         .out = hs, .out_len = sizeof hs, .out_fixed = true};
    i64 r = ring_call(&op);
    if (r < 0)
        return r;
    int fds[2];
    fds[0] = (int)install(hs[0], (int)family, kind, flags);
    if (fds[0] < 0) {
        handle_close(hs[1]);
        return fds[0];
    }
    fds[1] = (int)install(hs[1], (int)family, kind, flags);
    if (fds[1] < 0) {
        fd_close(fds[0]);
        return fds[1];
    }
    return copy_to_user((void *)usv, fds, sizeof fds) ? -EFAULT : 0;
}

static i64 read_addr(u64 uaddr, u64 len, u8 *buf)
{
    if ((i64)(int)len < 0 || len > UNO_SOCKADDR_MAX)
        return -EINVAL;
    if (copy_from_user(buf, (void *)uaddr, len))
        return -EFAULT;
    return 0;
}

/* --- AF_UNIX names ---------------------------------------------------------------------
 * The host gets abstract names as they are, and a path as the absolute path of its node in
 * the namespace: the libOS resolves it (cwd, symlinks, the layers); the VMM makes or finds
 * the node in the writable layer. */

#define SUN_PATH_OFF 2
#define SUN_ROOM 108

static struct node unode; /* under the big lock */

/* addr (len bytes, AF_UNIX) as the host takes it, into out (room for a sockaddr_un). */
static i64 unix_resolve(const u8 *a, u64 len, bool bind, u8 *out, u64 *outlen)
{
    if (len < SUN_PATH_OFF || (a[0] | a[1] << 8) != AF_UNIX)
        return -EINVAL;
    if (len == SUN_PATH_OFF || a[SUN_PATH_OFF] == 0) { /* unnamed (autobind) or abstract */
        if (len == SUN_PATH_OFF && !bind)
            return -EINVAL;
        memcpy(out, a, len);
        *outlen = len;
        return 0;
    }
    char path[SUN_ROOM + 1];
    u64 n = strnlen((const char *)a + SUN_PATH_OFF, len - SUN_PATH_OFF);
    memcpy(path, a + SUN_PATH_OFF, n);
    path[n] = 0;
    int r = bind ? vfs_prepare_socket(path, &unode)
                 : vfs_resolve(AT_FDCWD, path, RESOLVE_FOLLOW, &unode);
    if (r)
        return r;
    if (!bind && (!S_ISSOCK(unode.mode) || !unode.in_upper))
        return -ECONNREFUSED;
    u64 pl = strlen(unode.path);
    if (pl >= SUN_ROOM)
        return -ENAMETOOLONG;
    out[0] = AF_UNIX;
    out[1] = 0;
    memcpy(out + SUN_PATH_OFF, unode.path, pl + 1);
    *outlen = SUN_PATH_OFF + pl + 1;
    return 0;
}

/* bind/connect of an AF_UNIX socket: the resolved address, then the app's own. */
static i64 unix_name_call(struct file *f, u64 what, const u8 *a, u64 len)
{
    u8 res[SUN_PATH_OFF + SUN_ROOM];
    u64 rl;
    i64 r = unix_resolve(a, len, what == UNO_SOCK_BIND, res, &rl);
    if (r)
        return r;
    struct ring_op op = {.op = UNO_OP_SOCK, .handle = f->handle,
                         .arg = {what, 0777 & ~proc.umask, len}, .in = res, .in_len = rl,
                         .in2 = a, .in2_len = len};
    return ring_call(&op);
}

i64 sys_bind(u64 fd, u64 uaddr, u64 len)
{
    i64 err;
    struct file *f = sock_fd(fd, &err);
    u8 a[UNO_SOCKADDR_MAX];
    if (!f || (err = read_addr(uaddr, len, a)))
        return err;
    if (sk(f)->family == AF_UNIX)
        return unix_name_call(f, UNO_SOCK_BIND, a, len);
    return sock_call(f, UNO_SOCK_BIND, 0, 0, a, len, NULL, 0);
}

i64 sys_listen(u64 fd, u64 backlog)
{
    i64 err;
    struct file *f = sock_fd(fd, &err);
    if (!f)
        return err;
    i64 r = sock_call(f, UNO_SOCK_LISTEN, (u64)(i64)(int)backlog, 0, NULL, 0, NULL, 0);
    if (r == 0)
        sk(f)->listening = true;
    return r;
}

i64 sys_connect(u64 fd, u64 uaddr, u64 len)
{
    i64 err;
    struct file *f = sock_fd(fd, &err);
    u8 a[UNO_SOCKADDR_MAX];
    if (!f || (err = read_addr(uaddr, len, a)))
        return err;
    i64 r = sk(f)->family == AF_UNIX ? unix_name_call(f, UNO_SOCK_CONNECT, a, len)
                                      : sock_call(f, UNO_SOCK_CONNECT, 0, 0, a, len, NULL, 0);
    if (r == -EAGAIN && sk(f)->family == AF_UNIX && !nonblocking(f, 0)) {
        /* A listener's backlog full: a blocking connect waits for room, as Linux's. */
        while (r == -EAGAIN) {
            if (sleep_for_ns(1000000) == -EINTR)
                return -EINTR;
            r = unix_name_call(f, UNO_SOCK_CONNECT, a, len);
        }
    }
    /* The instance's loopback connects at once; Linux's TCP answers a non-blocking connect
     * with EINPROGRESS even there (programs are written for it), and POLLOUT comes next. */
    if (r == 0 && sk(f)->family != AF_UNIX && sk(f)->type == SOCK_STREAM && nonblocking(f, 0))
        return -EINPROGRESS;
    if (r != -EINPROGRESS || nonblocking(f, 0))
        return r;
    /* A blocking connect: the handshake's end, then its outcome. */
    r = wait_ready(f, POLLOUT, sk(f)->sndtimeo_ns);
    if (r < 0)
        return r == -EAGAIN ? -EINPROGRESS : r;
    r = sock_call(f, UNO_SOCK_ERROR, 0, 0, NULL, 0, NULL, 0);
    return r > 0 ? -r : r;
}

/* An address the host gave (u32 length + sockaddr) to the app's (addr, *lenp), truncated
 * to its room, the full length written back as Linux does. */
static i64 give_addr(const u8 *got, u64 uaddr, u64 ulenp)
{
    if (!uaddr)
        return 0;
    u32 len, room;
    memcpy(&len, got, 4);
    if (len > UNO_SOCKADDR_MAX)
        len = UNO_SOCKADDR_MAX;
    if (copy_from_user(&room, (void *)ulenp, 4))
        return -EFAULT;
    if ((int)room < 0)
        return -EINVAL;
    if (copy_to_user((void *)uaddr, got + 4, MIN(room, len)) ||
        copy_to_user((void *)ulenp, &len, 4))
        return -EFAULT;
    return 0;
}

i64 sys_accept4(u64 fd, u64 uaddr, u64 ulenp, u64 flags)
{
    i64 err;
    struct file *f = sock_fd(fd, &err);
    if (!f)
        return err;
    if (flags & ~(u64)(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return -EINVAL;
    if (uaddr && !user_ok((void *)ulenp, 4, PROT_READ | PROT_WRITE))
        return -EFAULT;
    u8 got[4 + UNO_SOCKADDR_MAX];
    for (;;) {
        i64 h = sock_call(f, UNO_SOCK_ACCEPT, 0, 0, NULL, 0, got, sizeof got);
        if (h >= 0) {
            int fl = (flags & SOCK_NONBLOCK ? O_NONBLOCK : 0) | (flags & SOCK_CLOEXEC ? O_CLOEXEC : 0);
            i64 nfd = install((u32)h, sk(f)->family, sk(f)->type, fl);
            if (nfd >= 0 && (err = give_addr(got, uaddr, ulenp))) {
                fd_close((int)nfd);
                return err;
            }
            return nfd;
        }
        if (h != -EAGAIN || nonblocking(f, 0))
            return h;
        if ((h = wait_ready(f, POLLIN, sk(f)->rcvtimeo_ns)))
            return h;
    }
}

i64 sys_accept(u64 fd, u64 uaddr, u64 ulenp) { return sys_accept4(fd, uaddr, ulenp, 0); }

i64 sys_shutdown(u64 fd, u64 how)
{
    i64 err;
    struct file *f = sock_fd(fd, &err);
    return f ? sock_call(f, UNO_SOCK_SHUTDOWN, how, 0, NULL, 0, NULL, 0) : err;
}

static i64 getname(u64 fd, u64 uaddr, u64 ulenp, u64 peer)
{
    i64 err;
    struct file *f = sock_fd(fd, &err);
    if (!f)
        return err;
    u8 got[4 + UNO_SOCKADDR_MAX];
    i64 r = sock_call(f, UNO_SOCK_GETNAME, peer, 0, NULL, 0, got, sizeof got);
    if (r < 0)
        return r;
    if (!user_ok((void *)ulenp, 4, PROT_READ | PROT_WRITE))
        return -EFAULT;
    return give_addr(got, uaddr ? uaddr : 1, ulenp); /* a NULL address with room 0 is fine */
}

i64 sys_getsockname(u64 fd, u64 uaddr, u64 ulenp) { return getname(fd, uaddr, ulenp, 0); }
i64 sys_getpeername(u64 fd, u64 uaddr, u64 ulenp) { return getname(fd, uaddr, ulenp, 1); }

/* --- options ----------------------------------------------------------------------------- */

struct k_timeval {
    i64 sec, usec;
};

/* SO_RCVTIMEO/SO_SNDTIMEO are the libOS's: it is the libOS that waits. */
static i64 *timeo_of(struct file *f, u64 level, u64 name)
{
    if (level != SOL_SOCKET)
        return NULL;
    if (name == SO_RCVTIMEO_OLD)
        return &sk(f)->rcvtimeo_ns;
    if (name == SO_SNDTIMEO_OLD)
        return &sk(f)->sndtimeo_ns;
    return NULL;
}

/* Options a server flips per request (nginx: TCP_CORK on and off around each response) need
 * not wait for the host once the host has taken them on this socket: the answer (0) does
 * not depend on the value or, for these, on the connection's state, and the ring keeps them
 * in order with the sends around them. */
static int async_option_bit(u64 level, u64 name)
{
    if (level == IPPROTO_TCP)
        return name == TCP_NODELAY ? 0 : name == TCP_CORK ? 1 : name == TCP_QUICKACK ? 2 : -1;
    return level == SOL_SOCKET && name == SO_KEEPALIVE ? 3 : -1;
}

static bool async_option(struct file *f, u64 level, u64 name)
{
    int bit = async_option_bit(level, name);
    /* On a TCP socket these are 0 from the start (nginx's first TCP_CORK of a connection);
     * elsewhere the host's first answer says. */
    return bit >= 0 && (is_tcp(sk(f)) || (sk(f)->opts_ok & (1u << bit))) &&
           ring_sock_async(f->handle);
}

static void option_succeeded(struct file *f, u64 level, u64 name)
{
    int bit = async_option_bit(level, name);
    if (bit >= 0)
        sk(f)->opts_ok |= 1u << bit;
}

i64 sys_setsockopt(u64 fd, u64 level, u64 name, u64 uval, u64 len)
{
    i64 err;
    struct file *f = sock_fd(fd, &err);
    if (!f)
        return err;
    if ((int)len < 0)
        return -EINVAL;
    u8 val[256];
    if (len > sizeof val)
        return -EINVAL;
    if (copy_from_user(val, (void *)uval, len))
        return -EFAULT;
    i64 *t = timeo_of(f, level, name);
    if (t) {
        struct k_timeval tv;
        if (len < sizeof tv)
            return -EINVAL;
        memcpy(&tv, val, sizeof tv);
        if (tv.usec < 0 || tv.usec >= 1000000)
            return -EDOM;
        *t = tv.sec < 0 ? 0 : tv.sec * 1000000000 + tv.usec * 1000;
        return 0;
    }
    if (len == 4 && async_option(f, level, name)) {
        u32 idx;
        u8 *slot = ring_async_slot(&idx);
        memcpy(slot, val, 4);
        u64 args[4] = {UNO_SOCK_SETOPT, level, name, 0};
        ring_async_submit(idx, UNO_OP_SOCK, f->handle, 4, args);
        return 0;
    }
    i64 r = sock_call(f, UNO_SOCK_SETOPT, level, name, val, len, NULL, 0);
    if (r == 0 && len == 4)
        option_succeeded(f, level, name);
    if (r == 0 && level == SOL_SOCKET && name == SO_LINGER && len >= 4)
        sk(f)->linger = *(const int *)val != 0;
    return r;
}

i64 sys_getsockopt(u64 fd, u64 level, u64 name, u64 uval, u64 ulenp)
{
    i64 err;
    struct file *f = sock_fd(fd, &err);
    if (!f)
        return err;
    int room;
    if (copy_from_user(&room, (void *)ulenp, 4))
        return -EFAULT;
    if (room < 0)
        return -EINVAL;
    u8 val[256];
    i64 len;
    i64 *t = timeo_of(f, level, name);
    if (t) {
        struct k_timeval tv = {*t / 1000000000, (*t % 1000000000) / 1000};
        memcpy(val, &tv, sizeof tv);
        len = sizeof tv;
    } else if (level == SOL_SOCKET && name == SO_ERROR) {
        i64 e = sock_call(f, UNO_SOCK_ERROR, 0, 0, NULL, 0, NULL, 0);
        if (e < 0)
            return e;
        int v = (int)e;
        memcpy(val, &v, sizeof v);
        len = sizeof v;
    } else {
        len = sock_call(f, UNO_SOCK_GETOPT, level, name, NULL, 0, val, MIN((u64)room, sizeof val));
        if (len < 0)
            return len;
    }
    len = MIN(len, (i64)room);
    if (copy_to_user((void *)uval, val, (u64)len) || copy_to_user((void *)ulenp, &len, 4))
        return -EFAULT;
    return 0;
}

/* --- data -------------------------------------------------------------------------------- */

/* One message's worth of transfer, described for the host. */
struct xfer {
    const struct k_iovec *iov; /* the app's (or the libOS's own, kernel = true) */
    u64 niov;
    bool kernel;
    u64 skip;                  /* bytes of iov already done (a blocking send's rest) */
    const u8 *name;            /* sendto: the destination */
    u64 namelen;
    u64 flags;                 /* MSG_* */
    const u8 *control;         /* sendmsg: control data for the host (handles), and its size */
    u64 controllen;
    u64 control_room;          /* recvmsg: room for the host's control data */
    const struct uno_iov *gpas; /* instead of iov: guest-physical segments (the image's) */
    u64 ngpas;
};

/* The libOS's own buffers (sendfile's): guest-physical through the direct map or the
 * libOS image, contiguous either way. */
static u64 kernel_gpa(const void *p)
{
    u64 va = (u64)p;
    return va >= UNO_VA_LIBOS ? bootinfo->libos_phys + (va - UNO_VA_LIBOS) : virt_to_phys_dmap(p);
}

/* The message for the host in `buf`: header, name, scatter list. Its size, or -errno. */
static i64 build_msg(struct xfer *x, bool write_to_user, u8 *buf, u64 room, u64 name_room)
{
    struct uno_msg *m = (struct uno_msg *)buf;
    memset(m, 0, sizeof *m);
    m->flags = (u32)x->flags;
    m->namelen = (u32)(x->name ? x->namelen : name_room);
    if (x->name)
        memcpy(buf + sizeof *m, x->name, x->namelen);
    m->controllen = (u32)(x->control ? x->controllen : x->control_room);
    if (x->control)
        memcpy(buf + sizeof *m + m->namelen, x->control, x->controllen);
    u64 at = ALIGN_UP(sizeof *m + m->namelen + m->controllen, 8); /* the scatter list */
    struct uno_iov *out = (struct uno_iov *)(buf + at);
    int max = (int)((room - at) / sizeof *out), n = 0;
    u64 skip = x->skip;
    for (u64 i = 0; x->gpas && i < x->ngpas && n < max; i++) {
        if (skip >= x->gpas[i].len) {
            skip -= x->gpas[i].len;
            continue;
        }
        out[n++] = (struct uno_iov){.gpa = x->gpas[i].gpa + skip, .len = x->gpas[i].len - skip};
        skip = 0;
    }
    for (u64 i = 0; i < x->niov && n < max; i++) {
        u64 base = (u64)x->iov[i].base, len = x->iov[i].len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        base += skip;
        len -= skip;
        skip = 0;
        if (x->kernel) {
            out[n++] = (struct uno_iov){.gpa = kernel_gpa((void *)base), .len = len};
            continue;
        }
        int k = user_io_list(base, len, write_to_user, out + n, max - n);
        if (k < 0)
            return n ? (i64)(at + (u64)n * sizeof *out) : k;
        n += k;
    }
    m->niov = (u32)n;
    return (i64)(at + (u64)n * sizeof *out);
}

static u64 iov_total(const struct k_iovec *iov, u64 n)
{
    u64 t = 0;
    for (u64 i = 0; i < n; i++)
        t += iov[i].len;
    return t;
}

static u8 msgbuf[UNO_RING_SLOT]; /* under the big lock, which ring ops hold */

static i64 send_once(struct file *f, struct xfer *x)
{
    i64 len = build_msg(x, false, msgbuf, sizeof msgbuf, 0);
    if (len < 0)
        return len;
    struct ring_op op = {.op = UNO_OP_SENDMSG, .handle = f->handle, .in = msgbuf, .in_len = (u64)len};
    return ring_call(&op);
}

/* A send that need not wait for the host (abi: "Asynchronous sends"): a connected stream
 * socket the VMM says is healthy, plain bytes that fit in a ring slot (the app's, or a file
 * of the image's, which sendfile names by guest-physical address), no flags that change what
 * the host does with them. Blocking or not makes no difference: all of it is taken. */
static bool async_ok(struct file *f, const struct xfer *x, u64 total)
{
    if (sk(f)->type != SOCK_STREAM || !total || total > RING_MAX_IO || x->name || x->control ||
        (x->flags & ~(u64)(MSG_NOSIGNAL | MSG_DONTWAIT)))
        return false;
    u64 sum = 0; /* the lengths one by one, without the wrap-around a plain total may have */
    for (u64 i = 0; x->gpas && i < x->ngpas; i++) {
        if (x->gpas[i].len > RING_MAX_IO - sum)
            return false;
        sum += x->gpas[i].len;
    }
    for (u64 i = 0; i < x->niov; i++) {
        if (x->iov[i].len > RING_MAX_IO - sum)
            return false;
        sum += x->iov[i].len;
    }
    return ring_sock_async(f->handle);
}

static i64 send_async(struct file *f, const struct xfer *x, u64 total)
{
    u32 idx;
    u8 *slot = ring_async_slot(&idx), *at = slot;
    for (u64 i = 0; x->gpas && i < x->ngpas; i++) { /* the libOS's own list: the image */
        memcpy(at, phys_to_virt(x->gpas[i].gpa), x->gpas[i].len);
        at += x->gpas[i].len;
    }
    for (u64 i = 0; i < x->niov; i++) {
        const void *src = (const void *)x->iov[i].base;
        u64 len = x->iov[i].len;
        if (x->kernel)
            memcpy(at, src, len);
        else if (copy_from_user(at, src, len))
            return -EFAULT; /* nothing submitted */
        at += len;
    }
    u64 args[4] = {0};
    ring_async_submit(idx, UNO_OP_SEND_ASYNC, f->handle, total, args);
    return (i64)total;
}

static i64 do_send(struct file *f, struct xfer *x)
{
    struct sock *s = sk(f);
    u64 total = iov_total(x->iov, x->niov), done = 0;
    for (u64 i = 0; x->gpas && i < x->ngpas; i++)
        total += x->gpas[i].len;
    if (async_ok(f, x, total))
        return send_async(f, x, total);
    bool nb = nonblocking(f, x->flags);
    for (;;) {
        x->skip = done;
        i64 r = send_once(f, x);
        if (r > 0) {
            done += (u64)r;
            x->control = NULL; /* control data goes with the first bytes only */
            x->controllen = 0;
        }
        if (r >= 0 && (done >= total || s->type != SOCK_STREAM || nb))
            return (i64)done;
        if (r < 0 && r != -EAGAIN) {
            if (r == -EPIPE && !(x->flags & MSG_NOSIGNAL)) {
                struct k_siginfo si;
                memset(&si, 0, sizeof si);
                si.si_code = SI_USER;
                si.kill.pid = proc.pid;
                signal_raise(SIGPIPE, &si);
            }
            return done ? (i64)done : r;
        }
        if (r == -EAGAIN && nb)
            return done ? (i64)done : r;
        i64 w = wait_ready(f, POLLOUT, s->sndtimeo_ns);
        if (w < 0)
            return done ? (i64)done : w;
    }
}

/* recvmsg's results beside the byte count. */
struct recv_out {
    u8 name[UNO_SOCKADDR_MAX];
    u32 namelen, flags;
    u8 control[UNO_CONTROL_MAX]; /* the host's: struct uno_fdpass records, guest ucreds */
    u32 controllen;
};

/* One receive. wait_ns >= 0: a host call of this thread that waits for bytes in the host
 * (0: as long as it takes, else at most that long: SO_RCVTIMEO), one exit for the whole
 * blocking receive; < 0: an attempt through the ring. */
static i64 recv_once(struct file *f, struct xfer *x, struct recv_out *o, i64 wait_ns)
{
    i64 len = build_msg(x, true, msgbuf, sizeof msgbuf, UNO_SOCKADDR_MAX);
    if (len < 0)
        return len;
    struct ring_op op = {.op = UNO_OP_RECVMSG, .handle = f->handle, .in = msgbuf,
                         .in_len = (u64)len, .out = msgbuf,
                         .out_len = sizeof(struct uno_msg) + UNO_SOCKADDR_MAX + x->control_room,
                         .out_fixed = true, .blocking = wait_ns >= 0,
                         .arg = {wait_ns >= 0 ? (u64)wait_ns : 0}};
    i64 r = ring_call(&op);
    if (r >= 0) {
        struct uno_msg *m = (struct uno_msg *)msgbuf;
        o->namelen = MIN(m->namelen, (u32)UNO_SOCKADDR_MAX);
        o->flags = m->flags;
        memcpy(o->name, msgbuf + sizeof *m, o->namelen);
        o->controllen = MIN(m->controllen, (u32)x->control_room);
        memcpy(o->control, msgbuf + sizeof *m + UNO_SOCKADDR_MAX, o->controllen);
    }
    return r;
}

/* Receiving ahead (rxahead.c) suits a non-blocking TCP socket that is not listening. */
static bool rx_suits(struct file *f)
{
    struct sock *s = sk(f);
    return is_tcp(s) && !s->listening && (file_status(f) & O_NONBLOCK);
}

void sock_rx_update(struct file *f)
{
    if (!file_is_socket(f))
        return;
    if (rx_suits(f))
        rx_enable(f->handle);
    else
        rx_disable(f->handle);
}

bool sock_rx_ready(struct file *f) { return file_is_socket(f) && rx_avail(f->handle) > 0; }

/* Bytes received ahead, ahead of anything the host still has: copied (or with MSG_TRUNC
 * dropped) after the first `done` bytes of the caller's buffers. */
static i64 recv_ahead(struct file *f, struct xfer *x, u64 total, u64 done)
{
    if (x->flags & MSG_TRUNC)
        return (i64)rx_discard(f->handle, total - done);
    return rx_take(f->handle, x->iov, x->niov, done, !x->kernel, (x->flags & MSG_PEEK) != 0);
}

static i64 do_recv(struct file *f, struct xfer *x, struct recv_out *o)
{
    struct sock *s = sk(f);
    u64 total = iov_total(x->iov, x->niov), done = 0;
    bool nb = nonblocking(f, x->flags);
    bool all = (x->flags & MSG_WAITALL) && s->type == SOCK_STREAM && !(x->flags & MSG_PEEK);
    bool ahead = is_tcp(s) && !(x->flags & (MSG_OOB | MSG_ERRQUEUE));
    o->namelen = 0;
    o->flags = 0;
    o->controllen = 0;
    if (ahead)
        sock_rx_update(f); /* a blocking socket must not be filled behind a waiting receive */
    for (;;) {
        x->skip = done;
        /* A receive that would wait: when the host thread is not polling the ring, the
         * attempt and the wait are one host call (an attempt through the ring would be an
         * exit of its own, and the wait another). */
        bool wait_in_host = !nb && ring_host_asleep() && !signal_pending();
        i64 r = ahead && done < total && rx_avail(f->handle)
                    ? recv_ahead(f, x, total, done)
                    : recv_once(f, x, o, wait_in_host ? s->rcvtimeo_ns : -1);
        if (r == UNO_RX_PENDING)
            continue; /* bytes came ahead just now: they go first */
        if (r == -EAGAIN && wait_in_host)
            return done ? (i64)done : r; /* the host waited SO_RCVTIMEO already */
        if (r > 0)
            done += (u64)r;
        if (r == 0 || (r > 0 && (!all || done >= total)))
            return (i64)done;
        if (r < 0 && r != -EAGAIN)
            return done ? (i64)done : r;
        if (r == -EAGAIN && nb)
            return done ? (i64)done : r;
        i64 w = wait_ready(f, POLLIN, s->rcvtimeo_ns);
        if (w < 0)
            return done ? (i64)done : w;
    }
}

i64 sock_iov(struct file *f, const struct k_iovec *iov, u64 n, bool write)
{
    struct xfer x = {.iov = iov, .niov = n};
    struct recv_out o;
    return write ? do_send(f, &x) : do_recv(f, &x, &o);
}

/* --- sendfile: no copy through the libOS ----------------------------------------------- */

static void raise_sigpipe(void)
{
    struct k_siginfo si;
    memset(&si, 0, sizeof si);
    si.si_code = SI_USER;
    si.kill.pid = proc.pid;
    signal_raise(SIGPIPE, &si);
}

/* A file of the writable layer: the host's sendfile, the socket's waits as a send's. */
static i64 sendfile_host(struct file *out, struct file *in, i64 *off, u64 count)
{
    bool nb = nonblocking(out, 0);
    u64 done = 0;
    while (done < count) {
        i64 at = *off < 0 ? -1 : *off + (i64)done;
        struct ring_op op = {.op = UNO_OP_SOCK, .handle = out->handle,
                             .arg = {UNO_SOCK_SENDFILE, in->handle, (u64)at,
                                     MIN(count - done, (u64)1 << 30)}};
        i64 r = ring_call(&op);
        if (r > 0) {
            done += (u64)r;
            continue;
        }
        if (r == 0)
            break; /* the file ended */
        if (r == -EPIPE)
            raise_sigpipe();
        if (r != -EAGAIN || nb)
            return done ? (i64)done : r;
        if ((r = wait_ready(out, POLLOUT, sk(out)->sndtimeo_ns)))
            return done ? (i64)done : r;
    }
    if (*off >= 0)
        *off += (i64)done;
    return (i64)done;
}

/* A file of the image: its bytes are guest memory already; sent from there in place. */
static i64 sendfile_image(struct file *out, struct file *in, i64 *off, u64 count)
{
    i64 pos = *off >= 0 ? *off : in->off;
    u64 done = 0;
    struct uno_iov seg[256];
    while (done < count) {
        u64 want = MIN(count - done, (u64)1 << 20);
        int n = lower_io_list(in, (u64)pos + done, want, seg, 256);
        if (n <= 0)
            break; /* the end of the file */
        u64 len = 0;
        for (int i = 0; i < n; i++)
            len += seg[i].len;
        struct xfer x = {.gpas = seg, .ngpas = (u64)n, .flags = MSG_NOSIGNAL};
        i64 r = do_send(out, &x);
        if (r == -EPIPE)
            raise_sigpipe();
        if (r < 0)
            return done ? (i64)done : r;
        done += (u64)r;
        if ((u64)r < len)
            break; /* a non-blocking socket took what it could */
    }
    if (*off >= 0)
        *off += (i64)done;
    else
        in->off += (i64)done;
    return (i64)done;
}

i64 sock_sendfile(struct file *out, struct file *in, i64 *off, u64 count)
{
    if (in->has_upper && !in->stream && !S_ISDIR(in->mode))
        return sendfile_host(out, in, off, count);
    if (in->has_lower && !in->has_upper && S_ISREG(in->mode))
        return sendfile_image(out, in, off, count);
    return -EOPNOTSUPP;
}

static i64 sock_read(struct file *f, void *buf, u64 len, i64 off)
{
    (void)off;
    struct k_iovec v = {buf, len};
    struct xfer x = {.iov = &v, .niov = 1, .kernel = (u64)buf >= UNO_VA_DMAP};
    struct recv_out o;
    return len ? do_recv(f, &x, &o) : 0;
}

static i64 sock_write(struct file *f, const void *buf, u64 len, i64 off)
{
    (void)off;
    struct k_iovec v = {(void *)buf, len};
    struct xfer x = {.iov = &v, .niov = 1, .kernel = (u64)buf >= UNO_VA_DMAP};
    return do_send(f, &x);
}

/* A destination the app named (sendto, sendmsg), read in and, for AF_UNIX, resolved. */
static i64 dest_addr(struct file *f, u64 uaddr, u64 *alen, u8 *a)
{
    i64 err = read_addr(uaddr, *alen, a);
    if (err || sk(f)->family != AF_UNIX)
        return err;
    u8 res[SUN_PATH_OFF + SUN_ROOM];
    u64 rl;
    if ((err = unix_resolve(a, *alen, false, res, &rl)))
        return err;
    memcpy(a, res, rl);
    *alen = rl;
    return 0;
}

i64 sys_sendto(u64 fd, u64 buf, u64 len, u64 flags, u64 uaddr, u64 alen)
{
    i64 err;
    struct file *f = sock_fd(fd, &err);
    if (!f)
        return err;
    u8 a[UNO_SOCKADDR_MAX];
    if (uaddr && (err = dest_addr(f, uaddr, &alen, a)))
        return err;
    struct k_iovec v = {(void *)buf, len};
    struct xfer x = {.iov = &v, .niov = 1, .name = uaddr ? a : NULL, .namelen = alen, .flags = flags};
    return do_send(f, &x);
}

i64 sys_recvfrom(u64 fd, u64 buf, u64 len, u64 flags, u64 uaddr, u64 ulenp)
{
    i64 err;
    struct file *f = sock_fd(fd, &err);
    if (!f)
        return err;
    struct k_iovec v = {(void *)buf, len};
    struct xfer x = {.iov = &v, .niov = 1, .flags = flags};
    struct recv_out o;
    i64 r = do_recv(f, &x, &o);
    if (r >= 0 && uaddr && o.namelen) {
        u8 got[4 + UNO_SOCKADDR_MAX];
        memcpy(got, &o.namelen, 4);
        memcpy(got + 4, o.name, o.namelen);
        if ((err = give_addr(got, uaddr, ulenp)))
            return err;
    } else if (r >= 0 && uaddr && ulenp) {
        u32 zero = 0;
        if (copy_to_user((void *)ulenp, &zero, 4))
            return -EFAULT;
    }
    return r;
}

struct k_msghdr {
    void *name;
    u32 namelen, _pad;
    struct k_iovec *iov;
    u64 iovlen;
    void *control;
    u64 controllen;
    u32 flags, _pad2;
};

#define IOV_MAX 1024

static i64 read_msghdr(u64 umsg, struct k_msghdr *m, struct k_iovec **iov)
{
    if (copy_from_user(m, (void *)umsg, sizeof *m))
        return -EFAULT;
    if (m->iovlen > IOV_MAX)
        return -EMSGSIZE;
    *iov = kmalloc(m->iovlen * sizeof **iov + 1);
    if (!*iov)
        return -ENOMEM;
    if (m->iovlen && copy_from_user(*iov, m->iov, m->iovlen * sizeof **iov)) {
        kfree(*iov);
        return -EFAULT;
    }
    return 0;
}

/* --- control data: SCM_RIGHTS, SCM_CREDENTIALS ------------------------------------------ */

struct k_cmsghdr {
    u64 len;
    i32 level, type;
};
#define CMSG_HDR 16
#define SCM_RIGHTS 1
#define SCM_CREDENTIALS 2
#define MAX_PASS 253
#define MSG_CTRUNC 0x8
#define MSG_CMSG_CLOEXEC 0x40000000

struct k_ucred {
    i32 pid;
    u32 uid, gid;
};

/* The app's control data for the host: descriptors become their host handles (files the
 * libOS serves itself cannot travel: EOPNOTSUPP); credentials are checked as Linux checks
 * them and left to the host, which sends the real ones. */
static i64 control_to_host(const u8 *in, u64 len, u8 *out, u64 *outlen)
{
    u64 at = 0, used = 0;
    while (at + CMSG_HDR <= len) {
        struct k_cmsghdr h;
        memcpy(&h, in + at, sizeof h);
        if (h.len < CMSG_HDR || h.len > len - at || h.level != SOL_SOCKET)
            return -EINVAL;
        u64 dlen = h.len - CMSG_HDR;
        if (h.type == SCM_RIGHTS) {
            u64 n = dlen / 4;
            if (n > MAX_PASS || used + CMSG_HDR + n * 4 > UNO_CONTROL_MAX)
                return -EINVAL;
            struct k_cmsghdr o = {CMSG_HDR + n * 4, SOL_SOCKET, SCM_RIGHTS};
            memcpy(out + used, &o, sizeof o);
            for (u64 i = 0; i < n; i++) {
                int fd;
                memcpy(&fd, in + at + CMSG_HDR + 4 * i, 4);
                struct file *f = fd_get(fd);
                if (!f)
                    return -EBADF;
                if (!(f->host_polled || f->has_upper) || f->handle < 3)
                    return -EOPNOTSUPP;
                memcpy(out + used + CMSG_HDR + 4 * i, &f->handle, 4);
            }
            used += ALIGN_UP(CMSG_HDR + n * 4, 8);
        } else if (h.type == SCM_CREDENTIALS) {
            struct k_ucred c;
            if (dlen < sizeof c)
                return -EINVAL;
            memcpy(&c, in + at + CMSG_HDR, sizeof c);
            if (c.pid != proc.pid || c.uid != proc.uid || c.gid != proc.gid)
                return -EPERM; /* what Linux says to an unprivileged process */
        } else {
            return -EINVAL;
        }
        at += ALIGN_UP(h.len, 8);
    }
    *outlen = used;
    return 0;
}

/* A file for a descriptor received through SCM_RIGHTS. */
static struct file *passed_file(const struct uno_fdpass *p)
{
    switch (p->kind) {
    case UNO_FD_SOCKET:
        return sock_file(p->handle, p->family, p->type, 0);
    case UNO_FD_PIPE:
        return pipe_file_from_handle(p->handle, p->flags & O_ACCMODE);
    case UNO_FD_EVENTFD:
        return eventfd_file_from_handle(p->handle, 0);
    case UNO_FD_FILE:
        return upper_file_from_handle(p->handle, p->flags & (O_ACCMODE | O_APPEND), S_IFREG | 0600,
                                      "[received file]");
    default:
        return NULL;
    }
}

/* The host's control data (o) into the app's buffer (room bytes at uctl): received
 * descriptors installed as files. The length written; MSG_CTRUNC added to *flags when
 * something did not fit (descriptors that did not are closed, as Linux does). */
static i64 control_to_app(const struct recv_out *o, u8 *uctl, u64 room, u64 flags, u32 *mflags)
{
    u64 at = 0, used = 0;
    while (at + CMSG_HDR <= o->controllen) {
        struct k_cmsghdr h;
        memcpy(&h, o->control + at, sizeof h);
        if (h.len < CMSG_HDR || h.len > o->controllen - at)
            break;
        u64 dlen = h.len - CMSG_HDR;
        if (h.type == SCM_RIGHTS) {
            u64 n = dlen / sizeof(struct uno_fdpass), fit = 0;
            if (used + CMSG_HDR <= room)
                fit = MIN(n, (room - used - CMSG_HDR) / 4);
            int fds[MAX_PASS];
            u64 k = 0;
            for (u64 i = 0; i < n && i < MAX_PASS; i++) {
                struct uno_fdpass p;
                memcpy(&p, o->control + at + CMSG_HDR + i * sizeof p, sizeof p);
                struct file *f = i < fit ? passed_file(&p) : NULL;
                int fd = f ? fd_install(f, 0, (flags & MSG_CMSG_CLOEXEC) != 0) : -1;
                if (f && fd < 0)
                    file_put(f);
                if (fd >= 0)
                    fds[k++] = fd;
                else if (!f)
                    handle_close(p.handle);
            }
            if (k < n)
                *mflags |= MSG_CTRUNC;
            if (k) {
                struct k_cmsghdr c = {CMSG_HDR + k * 4, SOL_SOCKET, SCM_RIGHTS};
                if (copy_to_user(uctl + used, &c, sizeof c) ||
                    copy_to_user(uctl + used + CMSG_HDR, fds, k * 4))
                    return -EFAULT;
                used += MIN(ALIGN_UP(c.len, 8), room - used);
            }
        } else if (h.type == SCM_CREDENTIALS) {
            if (used + CMSG_HDR + sizeof(struct k_ucred) > room) {
                *mflags |= MSG_CTRUNC;
            } else {
                struct k_cmsghdr c = {CMSG_HDR + sizeof(struct k_ucred), SOL_SOCKET, SCM_CREDENTIALS};
                if (copy_to_user(uctl + used, &c, sizeof c) ||
                    copy_to_user(uctl + used + CMSG_HDR, o->control + at + CMSG_HDR,
                                 sizeof(struct k_ucred)))
                    return -EFAULT;
                used += MIN(ALIGN_UP(c.len, 8), room - used);
            }
        }
        at += ALIGN_UP(h.len, 8);
    }
    return (i64)used;
}

static i64 sendmsg_one(struct file *f, u64 umsg, u64 flags)
{
    struct k_msghdr m;
    struct k_iovec *iov;
    i64 r = read_msghdr(umsg, &m, &iov);
    if (r)
        return r;
    u8 a[UNO_SOCKADDR_MAX];
    u64 alen = m.namelen, clen = 0;
    /* Per call: a blocking send lets the lock go between attempts. */
    u8 *uctl = m.controllen ? kmalloc(2 * UNO_CONTROL_MAX) : NULL;
    u8 *control_buf = uctl ? uctl + UNO_CONTROL_MAX : NULL;
    if (m.controllen > UNO_CONTROL_MAX) {
        r = -ENOBUFS;
    } else if (m.controllen && !uctl) {
        r = -ENOMEM;
    } else if (m.controllen && copy_from_user(uctl, m.control, m.controllen)) {
        r = -EFAULT;
    } else if (m.controllen && (r = control_to_host(uctl, m.controllen, control_buf, &clen))) {
        /* r set */
    } else if (m.name && (r = dest_addr(f, (u64)m.name, &alen, a))) {
        /* r set */
    } else {
        struct xfer x = {.iov = iov, .niov = m.iovlen, .name = m.name ? a : NULL,
                         .namelen = alen, .flags = flags, .control = clen ? control_buf : NULL,
                         .controllen = clen};
        r = do_send(f, &x);
    }
    kfree(uctl);
    kfree(iov);
    return r;
}

static i64 recvmsg_one(struct file *f, u64 umsg, u64 flags)
{
    struct k_msghdr m;
    struct k_iovec *iov;
    i64 r = read_msghdr(umsg, &m, &iov);
    if (r)
        return r;
    struct xfer x = {.iov = iov, .niov = m.iovlen, .flags = flags,
                     .control_room = m.controllen && m.control ? UNO_CONTROL_MAX : 0};
    static struct recv_out o; /* big; under the big lock */
    r = do_recv(f, &x, &o);
    kfree(iov);
    if (r < 0)
        return r;
    u32 nl = o.namelen, mflags = o.flags;
    if (m.name && nl && copy_to_user(m.name, o.name, MIN(nl, m.namelen)))
        return -EFAULT;
    i64 cl = o.controllen ? control_to_app(&o, m.control, m.controllen, flags, &mflags) : 0;
    if (cl < 0)
        return cl;
    struct k_msghdr *um = (struct k_msghdr *)umsg;
    if (copy_to_user(&um->namelen, &nl, 4) || copy_to_user(&um->controllen, &cl, 8) ||
        copy_to_user(&um->flags, &mflags, 4))
        return -EFAULT;
    return r;
}

i64 sys_sendmsg(u64 fd, u64 umsg, u64 flags)
{
    i64 err;
    struct file *f = sock_fd(fd, &err);
    return f ? sendmsg_one(f, umsg, flags) : err;
}

i64 sys_recvmsg(u64 fd, u64 umsg, u64 flags)
{
    i64 err;
    struct file *f = sock_fd(fd, &err);
    return f ? recvmsg_one(f, umsg, flags) : err;
}

struct k_mmsghdr {
    struct k_msghdr hdr;
    u32 len, _pad;
};

#define MSG_WAITFORONE 0x10000

i64 sys_sendmmsg(u64 fd, u64 uvec, u64 n, u64 flags)
{
    i64 err;
    struct file *f = sock_fd(fd, &err);
    if (!f)
        return err;
    n = MIN(n, (u64)IOV_MAX);
    u64 i;
    for (i = 0; i < n; i++) {
        struct k_mmsghdr *um = (struct k_mmsghdr *)uvec + i;
        i64 r = sendmsg_one(f, (u64)&um->hdr, flags);
        if (r < 0)
            return i ? (i64)i : r;
        u32 len = (u32)r;
        if (copy_to_user(&um->len, &len, 4))
            return i ? (i64)i : -EFAULT;
    }
    return (i64)i;
}

i64 sys_recvmmsg(u64 fd, u64 uvec, u64 n, u64 flags, u64 utimeout)
{
    i64 err;
    struct file *f = sock_fd(fd, &err);
    if (!f)
        return err;
    /* The timeout, as Linux applies it: looked at only after each datagram (the first may
     * wait for ever), and what is left of it written back when some arrived. */
    i64 timeout_ns;
    int e = user_timespec_ns(utimeout, &timeout_ns);
    if (e)
        return e;
    u64 end = timeout_ns >= 0 ? time_mono_ns() + (u64)timeout_ns : 0;
    i64 left = timeout_ns;
    n = MIN(n, (u64)IOV_MAX);
    u64 i;
    for (i = 0; i < n; i++) {
        struct k_mmsghdr *um = (struct k_mmsghdr *)uvec + i;
        i64 r = recvmsg_one(f, (u64)&um->hdr, flags);
        if (r < 0) {
            if (!i)
                return r;
            break;
        }
        u32 len = (u32)r;
        if (copy_to_user(&um->len, &len, 4))
            return i ? (i64)i : -EFAULT;
        if (flags & MSG_WAITFORONE)
            flags |= MSG_DONTWAIT;
        if (timeout_ns >= 0) {
            u64 now = time_mono_ns();
            left = now >= end ? 0 : (i64)(end - now);
            if (!left) {
                i++;
                break;
            }
        }
    }
    if (timeout_ns >= 0 && i) {
        i64 ts[2] = {left / 1000000000, left % 1000000000};
        if (copy_to_user((void *)utimeout, ts, sizeof ts))
            return -EFAULT;
    }
    return (i64)i;
}

/* --- the file -------------------------------------------------------------------------- */

static int sock_stat(struct file *f, struct linux_stat *st)
{
    return file_anon_stat(f, st, 0x8, 0x20000, S_IFSOCK | 0777);
}

static i64 sock_ioctl(struct file *f, u64 cmd, u64 arg)
{
    if (cmd != FIONREAD)
        return -ENOTTY;
    i64 n = sock_call(f, UNO_SOCK_NREAD, 0, 0, NULL, 0, NULL, 0);
    if (n < 0)
        return n;
    int v = (int)MIN((u64)n + rx_avail(f->handle), (u64)0x7fffffff);
    return copy_to_user((void *)arg, &v, sizeof v) ? -EFAULT : 0;
}

/* The first EPOLL_CTL_ADD of this socket (and it is one from now on): no epoll instance can
 * hold it yet, so the host's answer is known (0) and need not be waited for. */
bool sock_first_epoll_add(struct file *f)
{
    if (!file_is_socket(f) || sk(f)->epoll_seen)
        return false;
    sk(f)->epoll_seen = true;
    return true;
}

static void sock_release(struct file *f)
{
    rx_close(f->handle);
    if (sk(f)->linger)
        handle_close(f->handle);
    else
        handle_close_async(f->handle); /* 0 whatever happens (Linux's close of a socket) */
    kfree(f->priv);
    f->priv = NULL;
}

const struct file_ops sock_ops = {
    .read = sock_read,
    .write = sock_write,
    .stat = sock_stat,
    .lseek = file_lseek_espipe,
    .ioctl = sock_ioctl,
    .release = sock_release,
};
