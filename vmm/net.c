/* The guest's sockets (abi/uno_abi.h, "Sockets"). A guest socket is a struct vsock behind a
 * handle, with up to three kinds of host descriptor:
 *
 *   host_fd  a host TCP/UDP socket: traffic leaving the instance (egress policy applied),
 *            and the holder of the IP/TCP-level options;
 *   loop_fd  a host AF_UNIX socket: the instance's own loopback, with abstract names of the
 *            instance (netcfg.c; "t<port>" for a TCP listener, "u<port>" for a UDP socket,
 *            "c4-<port>"/"c6-<port>" for the client end of a loopback connection), and the
 *            guest's own AF_UNIX sockets;
 *   pub[]    the host listeners of ports published to the socket's port (netcfg.c).
 *
 * Nothing here waits: every host descriptor is non-blocking, and a guest call that would
 * block is the libOS's loop of attempts and UNO_OP_POLLs of the handle (handle_poll_fds),
 * so signals, timeouts and other threads work as they do for pipes. Data moves between the
 * host socket and guest memory in place (struct uno_iov scatter lists). Every length,
 * address family, count and guest-physical range is checked here: the guest is untrusted. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net.h"

#define MAX_PUB 8
#define MAX_IOV 1024
#define SOCK_TYPE_MASK 0xf

enum via { VIA_NONE, VIA_HOST, VIA_LOOP };

struct vsock {
    int family, type, protocol; /* as the guest made it */
    int host_fd, loop_fd;
    int loop6_fd;               /* an IPv6 listener on :: that takes IPv4 too: its "t6-" name */
    int pub[MAX_PUB];
    int npub;
    enum via via;               /* a connection: which descriptor carries it */
    bool listening;
    struct sockaddr_storage local, peer;
    socklen_t local_len, peer_len; /* 0: none */
    /* UDP through a published port from a client on the host's own loopback: its address
     * looks like the instance's loopback, so the last few are remembered, and replies to
     * them leave through the published port. */
    struct sockaddr_storage outside[8];
    int noutside, next_outside;
    uint32_t rp_key;            /* SO_REUSEPORT: the port's key in the instance's table, */
    int rp_member;              /* and which of its names loop_fd holds (-1: none) */
};

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

static bool from_outside(const struct vsock *s, const struct sockaddr_storage *a)
{
    for (int i = 0; i < s->noutside; i++)
        if (same_addr(&s->outside[i], a))
            return true;
    return false;
}

static void remember_outside(struct vsock *s, const struct sockaddr_storage *a)
{
    if (!net_is_loopback((const struct sockaddr *)a) || from_outside(s, a))
        return;
    s->outside[s->next_outside] = *a;
    s->next_outside = (s->next_outside + 1) % 8;
    if (s->noutside < 8)
        s->noutside++;
}

static bool is_inet(int family) { return family == AF_INET || family == AF_INET6; }

static struct vsock *sock_of(struct vmm *v, uint32_t h)
{
    return h < UNO_MAX_HANDLES && v->handles[h].fd >= 0 ? v->handles[h].sock : NULL;
}

/* The descriptor a connection's data goes through (or the only one there is). */
static int data_fd(struct vsock *s)
{
    if (s->via == VIA_LOOP || (s->via == VIA_NONE && s->host_fd < 0))
        return s->loop_fd;
    return s->host_fd;
}

int net_rx_fd(struct vmm *v, uint32_t h)
{
    struct vsock *s = sock_of(v, h);
    if (!s || !is_inet(s->family) || s->type != SOCK_STREAM || s->listening || s->via == VIA_NONE)
        return -1;
    return data_fd(s);
}

/* The handle's main descriptor changed: keep handles[].fd (what poll and epoll see first)
 * in step, and tell readiness watchers. */
static void refresh(struct vmm *v, uint32_t h)
{
    struct vsock *s = v->handles[h].sock;
    int fd = s->listening ? s->loop_fd : data_fd(s);
    v->handles[h].fd = fd >= 0 ? fd : (s->host_fd >= 0 ? s->host_fd : s->loop_fd);
    v->handles[h].gen++;
}

static struct vsock *vsock_new(int family, int type, int protocol)
{
    struct vsock *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->family = family;
    s->type = type;
    s->protocol = protocol;
    s->host_fd = s->loop_fd = s->loop6_fd = -1;
    s->rp_member = -1;
    return s;
}

static void rp_leave(struct vmm *v, struct vsock *s);

void net_close(struct vmm *v, uint32_t h, struct vsock *s)
{
    /* Unsent asynchronous bytes keep the connection's descriptor open until they are out. */
    int kept = s->via != VIA_NONE && sendq_close(v, h, data_fd(s)) ? data_fd(s) : -1;
    if (s->host_fd >= 0 && s->host_fd != kept)
        close(s->host_fd);
    if (s->loop_fd >= 0 && s->loop_fd != kept)
        close(s->loop_fd);
    if (s->loop6_fd >= 0)
        close(s->loop6_fd);
    for (int i = 0; i < s->npub; i++)
        close(s->pub[i]);
    rp_leave(v, s);
    free(s);
}

/* A handle for s, whose descriptors are set. */
static int64_t install(struct vmm *v, struct vsock *s)
{
    int fd = s->loop_fd >= 0 ? s->loop_fd : s->host_fd;
    int h = alloc_handle(v, dup(fd), false); /* the dup is handles[].fd's own placeholder */
    if (h < 0) {
        net_close(v, UINT32_MAX, s);
        return h;
    }
    close(v->handles[h].fd);
    v->handles[h].sock = s;
    refresh(v, (uint32_t)h);
    return h;
}

/* A handle made here given back (its socket and descriptors closed), as UNO_OP_CLOSE does. */
static void release_handle(struct vmm *v, uint32_t h)
{
    struct ring_req cr = {.op = UNO_OP_CLOSE, .handle = h};
    hostop_exec(v, &cr);
}

int net_poll_fds(struct vmm *v, struct vsock *s, int *fds, int max)
{
    (void)v;
    int n = 0;
    if (s->listening) {
        if (s->loop_fd >= 0 && n < max)
            fds[n++] = s->loop_fd;
        if (s->loop6_fd >= 0 && n < max)
            fds[n++] = s->loop6_fd;
        for (int i = 0; i < s->npub && n < max; i++)
            fds[n++] = s->pub[i];
        return n;
    }
    if (s->type == SOCK_DGRAM && is_inet(s->family)) {
        /* UDP: datagrams come from outside (host_fd) and from the instance (loop_fd). */
        if (s->host_fd >= 0 && n < max)
            fds[n++] = s->host_fd;
        if (s->loop_fd >= 0 && n < max)
            fds[n++] = s->loop_fd;
        return n;
    }
    int fd = data_fd(s);
    if (fd < 0)
        fd = s->host_fd >= 0 ? s->host_fd : s->loop_fd;
    if (fd >= 0 && max > 0)
        fds[n++] = fd;
    return n;
}

/* --- addresses ------------------------------------------------------------------------ */

static uint16_t port_of(const struct sockaddr_storage *ss)
{
    return ntohs(((const struct sockaddr_in *)ss)->sin_port); /* same place in sin6 */
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    ((struct sockaddr_in *)ss)->sin_port = htons(port);
}

/* A guest address for s's family: checks the family and the length as Linux does. */
static int guest_addr(struct vsock *s, const uint8_t *data, uint64_t len,
                      struct sockaddr_storage *ss, socklen_t *sl)
{
    if (len < sizeof(sa_family_t) || len > sizeof *ss)
        return -EINVAL;
    memset(ss, 0, sizeof *ss);
    memcpy(ss, data, len);
    *sl = (socklen_t)len;
    if (s->family == AF_INET) {
        if (len < sizeof(struct sockaddr_in))
            return -EINVAL;
        if (ss->ss_family != AF_INET)
            return -EAFNOSUPPORT;
        *sl = sizeof(struct sockaddr_in);
    } else if (s->family == AF_INET6) {
        if (len < sizeof(struct sockaddr_in6))
            return -EINVAL;
        if (ss->ss_family != AF_INET6)
            return -EAFNOSUPPORT;
        *sl = sizeof(struct sockaddr_in6);
    } else if (ss->ss_family != AF_UNIX) {
        return -EINVAL;
    }
    return 0;
}

/* The loopback address of a family, with a port. */
static socklen_t loop_addr(int family, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        a->sin6_port = htons(port);
        return sizeof *a;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons(port);
    return sizeof *a;
}

/* The unspecified address of a family, port 0: the name of an unbound socket. */
static socklen_t any_addr(int family, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    ss->ss_family = (sa_family_t)family;
    return family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* A host IPv4 address as an AF_INET6 socket sees it (::ffff:a.b.c.d). */
static void to_family(int family, struct sockaddr_storage *ss, socklen_t *sl)
{
    if (family != AF_INET6 || ss->ss_family != AF_INET)
        return;
    struct sockaddr_in in = *(struct sockaddr_in *)ss;
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    memset(a, 0, sizeof *a);
    a->sin6_family = AF_INET6;
    a->sin6_port = in.sin_port;
    a->sin6_addr.s6_addr[10] = a->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&a->sin6_addr.s6_addr[12], &in.sin_addr, 4);
    *sl = sizeof *a;
}

/* The port in a loopback name ("uno-<token>/t80", "…/c4-40000", "…/u53"; abstract: no NUL at
 * the end, len says where it ends); 0 for an unnamed socket. */
static int name_port(const struct sockaddr_un *sun, socklen_t len, int *family)
{
    *family = AF_INET;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    if (len <= off + 1 || len > sizeof *sun)
        return 0;
    char name[sizeof sun->sun_path];
    size_t n = len - off - 1; /* the abstract name, after its leading NUL */
    memcpy(name, sun->sun_path + 1, n);
    name[n] = 0;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (base[0] == 'c' || (base[0] == 't' && base[1] == '6' && base[2] == '-')) {
        *family = base[1] == '6' ? AF_INET6 : AF_INET;
        base += 2;
    }
    return atoi(base + 1);
}

/* --- the instance's loopback ------------------------------------------------------------ */

/* Binds fd to a loopback name: EADDRINUSE while another socket of the instance holds it. */
static int loop_bind(struct net *n, int fd, const char *name)
{
    struct sockaddr_un sun;
    socklen_t len = net_path(n, name, &sun);
    return bind(fd, (struct sockaddr *)&sun, len) == 0 ? 0 : -errno;
}

static int loop_socket(int type)
{
    int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

/* A TCP port has two loopback names in the instance, as Linux keeps IPv4 and IPv6 apart:
 * "t<port>" takes IPv4 connections, "t6-<port>" IPv6 ones. An IPv4 listener holds the first,
 * an IPv6 one with IPV6_V6ONLY or bound to an IPv6 address such as ::1 the second, and one
 * on :: without IPV6_V6ONLY, which takes both families, holds both (loop6_fd). So 0.0.0.0:80
 * and [::]:80 with IPV6_V6ONLY (Debian's nginx site), or 127.0.0.1:P and [::1]:P, can both be
 * bound; [::]:P without it conflicts with either; an IPv6 connection finds no IPv4
 * listener. */
static bool v6_only_slot(const struct vsock *s)
{
    if (s->family != AF_INET6 || s->type != SOCK_STREAM)
        return false;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)&s->local)->sin6_addr;
    if (!IN6_IS_ADDR_UNSPECIFIED(a) && !IN6_IS_ADDR_V4MAPPED(a))
        return true;
    int on = 0;
    socklen_t l = sizeof on;
    return s->host_fd >= 0 && getsockopt(s->host_fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, &l) == 0 && on;
}

/* --- SO_REUSEPORT ----------------------------------------------------------------------------
 * Sockets of the instance that all set SO_REUSEPORT share a port, as on Linux (nginx's
 * `reuseport`: a TCP listener per worker; UDP servers with a socket per thread). A loopback
 * name belongs to one host socket, so the port's k-th socket holds "<kind><port>" for k = 0
 * and "<kind><port>+<k>" otherwise, and the instance's table in the shared region (abi:
 * uno_shared_hdr.reuseport) says which are held: a later socket joins only a port whose
 * holders set SO_REUSEPORT, one without it cannot take a port they hold, a TCP connection
 * from the instance goes to each member in turn, and a UDP sender's datagrams to the member
 * its port picks. Traffic to a published port needs none of this: every socket of the port
 * takes from the published host sockets. */

static bool reuseport_on(const struct vsock *s)
{
    int on = 0;
    socklen_t l = sizeof on;
    return (s->type == SOCK_STREAM || s->type == SOCK_DGRAM) && s->host_fd >= 0 &&
           getsockopt(s->host_fd, SOL_SOCKET, SO_REUSEPORT, &on, &l) == 0 && on;
}

/* The table's key of a port's names: 1 "t", 2 "t6-", 3 "u" (UDP). */
static const char *const rp_kinds[4] = {"", "t", "t6-", "u"};

static uint32_t rp_key_of(const char *kind, uint16_t port)
{
    uint32_t k = kind[0] == 'u' ? 3 : kind[1] == '6' ? 2 : 1;
    return k << 16 | port;
}

/* The table's entry for key, made when asked and missing; NULL when there is no room. */
static struct uno_reuseport *rp_entry(struct vmm *v, uint32_t key, bool make)
{
    struct uno_shared_hdr *h = shared_hdr(v);
    if (!h)
        return NULL;
    struct uno_reuseport *t = h->reuseport;
    for (int i = 0; i < UNO_REUSEPORT_PORTS; i++)
        if (__atomic_load_n(&t[i].key, __ATOMIC_ACQUIRE) == key)
            return &t[i];
    for (int i = 0; make && i < UNO_REUSEPORT_PORTS; i++) {
        uint32_t free_key = 0;
        if (__atomic_compare_exchange_n(&t[i].key, &free_key, key, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST)) {
            __atomic_store_n(&t[i].members, 0, __ATOMIC_RELEASE);
            return &t[i];
        }
    }
    return NULL;
}

static uint32_t rp_members(struct vmm *v, uint32_t key)
{
    struct uno_reuseport *e = rp_entry(v, key, false);
    return e ? __atomic_load_n(&e->members, __ATOMIC_ACQUIRE) % (1u << UNO_REUSEPORT_MEMBERS)
             : 0;
}

static void rp_join(struct vmm *v, struct vsock *s, uint32_t key, int k)
{
    struct uno_reuseport *e = rp_entry(v, key, true);
    if (e)
        __atomic_fetch_or(&e->members, 1u << k, __ATOMIC_SEQ_CST);
    s->rp_key = key;
    s->rp_member = k;
}

static void rp_name(char *name, size_t room, const char *kind, uint16_t port, int k)
{
    if (k == 0)
        snprintf(name, room, "%s%u", kind, port);
    else
        snprintf(name, room, "%s%u+%d", kind, port, k);
}

/* s's descriptor for its name is closed. Other processes may still hold it (fork shares
 * the socket): the name is free only if binding it now succeeds, and only then does the
 * table forget it. */
static void rp_leave(struct vmm *v, struct vsock *s)
{
    if (s->rp_member < 0)
        return;
    char name[24];
    rp_name(name, sizeof name, rp_kinds[(s->rp_key >> 16) & 3], (uint16_t)s->rp_key,
            s->rp_member);
    int probe = loop_socket(SOCK_STREAM);
    bool gone = probe >= 0 && loop_bind(v->net, probe, name) == 0;
    if (probe >= 0)
        close(probe);
    struct uno_reuseport *e = gone ? rp_entry(v, s->rp_key, false) : NULL;
    if (e && !(__atomic_and_fetch(&e->members, ~(1u << s->rp_member), __ATOMIC_SEQ_CST))) {
        uint32_t key = s->rp_key; /* the last one: the entry is free again */
        __atomic_compare_exchange_n(&e->key, &key, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    }
    s->rp_member = -1;
}

/* Binds fd to one of the names of a port whose sockets share it: the first free one (the
 * bind decides: a member whose VMM was killed left its bit set, not its name). 0, or
 * -EADDRINUSE. */
static int rp_bind_member(struct vmm *v, struct vsock *s, int fd, const char *kind,
                          uint16_t port, uint32_t key)
{
    if (!rp_members(v, key))
        return -EADDRINUSE; /* the port's holder did not set SO_REUSEPORT */
    char name[24];
    for (int k = 1; k < UNO_REUSEPORT_MEMBERS; k++) {
        rp_name(name, sizeof name, kind, port, k);
        if (loop_bind(v->net, fd, name) == 0) {
            rp_join(v, s, key, k);
            return 0;
        }
    }
    return -EADDRINUSE;
}

/* The TCP/UDP port s is bound to in the instance: its loop_fd named for it. port 0: an
 * ephemeral one. */
static int bind_port(struct vmm *v, struct vsock *s, uint16_t port)
{
    char name[16];
    int type = s->type == SOCK_STREAM ? SOCK_STREAM : SOCK_DGRAM;
    bool v6only = type == SOCK_STREAM && v6_only_slot(s);
    bool dual = type == SOCK_STREAM && s->family == AF_INET6 && !v6only;
    const char *kind = type != SOCK_STREAM ? "u" : v6only ? "t6-" : "t";
    int fd = loop_socket(type), fd6 = -1;
    if (fd < 0)
        return fd;
    int err = -EADDRINUSE;
    for (int tries = 0; tries < (port ? 1 : 28000) && err == -EADDRINUSE; tries++) {
        uint16_t p = port ? port : net_ephemeral(v->net);
        snprintf(name, sizeof name, "%s%u", kind, p);
        err = loop_bind(v->net, fd, name);
        if (!err && dual) {
            snprintf(name, sizeof name, "t6-%u", p);
            fd6 = loop_socket(type);
            err = fd6 < 0 ? fd6 : loop_bind(v->net, fd6, name);
            if (err) { /* the IPv4 name is ours, the IPv6 one is not: both go */
                if (fd6 >= 0)
                    close(fd6);
                fd6 = -1;
                close(fd);
                if ((fd = loop_socket(type)) < 0)
                    return fd;
            }
        }
        if (!err)
            port = p;
    }
    bool shared = reuseport_on(s) && !dual; /* documented: not for a two-name listener */
    uint32_t key = rp_key_of(kind, port);
    if (err == -EADDRINUSE && shared) {
        err = rp_bind_member(v, s, fd, kind, port, key);
    } else if (!err) {
        /* The port's first name: taken by a sharing listener, or refused to one that does not
         * share while others still hold the port's other names. */
        if (shared)
            rp_join(v, s, key, 0);
        else if (rp_members(v, key) & ~1u)
            err = -EADDRINUSE;
    }
    if (err) {
        close(fd);
        if (fd6 >= 0)
            close(fd6);
        return err;
    }
    if (s->loop_fd >= 0)
        close(s->loop_fd);
    s->loop_fd = fd;
    if (s->loop6_fd >= 0)
        close(s->loop6_fd);
    s->loop6_fd = fd6;
    set_port(&s->local, port);
    if (type == SOCK_DGRAM) {
        /* A published UDP port: datagrams from outside arrive on its host socket, and the
         * replies must leave from it. */
        int pub;
        if (net_published(v->net, SOCK_DGRAM, port, &pub, 1) == 1) {
            int d = dup(pub);
            if (d >= 0) {
                if (s->host_fd >= 0)
                    close(s->host_fd);
                s->host_fd = d;
            }
        }
    }
    return 0;
}

/* --- the guest's AF_UNIX names ------------------------------------------------------------
 * The libOS resolves a path name to the absolute path of its node in the writable layer;
 * an abstract name comes as it is. On the host both become abstract names of the instance:
 * "a/<name>" for an abstract one (a hash when too long), "i/<dev>.<ino>" for a socket node
 * (bind makes the node; connect finds it: renames and hard links keep working, an unlinked
 * node is unreachable, as on Linux). */

#define UNIX_ROOM (sizeof(((struct sockaddr_un *)0)->sun_path))

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* The host's abstract address for a name of the instance ("a/…", "i/…"), name bytes given. */
static socklen_t unix_abstract(struct net *n, const char *kind, const uint8_t *name, size_t len,
                               struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    int pre = snprintf(sun->sun_path + 1, UNIX_ROOM - 1, "uno-%s/%s", n->token, kind);
    size_t room = UNIX_ROOM - 1 - (size_t)pre;
    if (len > room) { /* too long with our prefix: its hash */
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv(name, len));
        sun->sun_path[1 + pre - 2] = (char)(kind[0] - 32); /* "A/": hashed */
        memcpy(sun->sun_path + 1 + pre, hex, 16);
        len = 16;
    } else {
        memcpy(sun->sun_path + 1 + pre, name, len);
    }
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)pre + len);
}

/* The host address of a guest AF_UNIX address. create: bind's (the socket node is made,
 * mode given; *made says so, for undoing). */
static int unix_host_addr(struct vmm *v, const uint8_t *data, uint64_t len, bool create,
                          uint32_t mode, struct sockaddr_un *host, socklen_t *hl, bool *made)
{
    size_t off = offsetof(struct sockaddr_un, sun_path);
    struct sockaddr_un g;
    if (len <= off || len > sizeof g)
        return -EINVAL;
    memset(&g, 0, sizeof g);
    memcpy(&g, data, len);
    if (g.sun_family != AF_UNIX)
        return -EINVAL;
    if (g.sun_path[0] == 0) {
        *hl = unix_abstract(v->net, "a/", (uint8_t *)g.sun_path + 1, len - off - 1, host);
        return 0;
    }
    size_t plen = strnlen(g.sun_path, len - off);
    if (g.sun_path[0] != '/' || plen == len - off)
        return -EINVAL; /* the libOS sends an absolute path, NUL-terminated */
    char rel[UNIX_ROOM];
    int err = check_path(g.sun_path + 1, plen, rel, sizeof rel, NULL);
    if (err)
        return err;
    const char *name;
    int dfd = parent_of(v, rel, &name);
    if (dfd < 0)
        return dfd;
    if (create) {
        upper_gen_bump(v); /* a new name in the writable layer (see hostop_exec) */
        err = mknodat(dfd, name, S_IFSOCK | (mode & 07777), 0) < 0 ? -errno : 0;
        if (!err)
            drop_whiteout(dfd, name);
        upper_gen_bump(v);
        if (err) {
            close(dfd);
            return err == -EEXIST ? -EADDRINUSE : err;
        }
        *made = true;
    }
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        err = -errno;
    else if (!S_ISSOCK(st.st_mode))
        err = -ECONNREFUSED;
    close(dfd);
    if (err)
        return err;
    char id[48];
    int n = snprintf(id, sizeof id, "%llx.%llx", (unsigned long long)st.st_dev,
                     (unsigned long long)st.st_ino);
    *hl = unix_abstract(v->net, "i/", (uint8_t *)id, (size_t)n, host);
    return 0;
}

/* The socket node a failed bind made goes again. */
static void unix_unmake(struct vmm *v, const uint8_t *data)
{
    const struct sockaddr_un *g = (const struct sockaddr_un *)data;
    char rel[UNIX_ROOM];
    const char *name;
    if (check_path(g->sun_path + 1, UNIX_ROOM - 1, rel, sizeof rel, NULL))
        return;
    int dfd = parent_of(v, rel, &name);
    if (dfd >= 0) {
        unlinkat(dfd, name, 0);
        close(dfd);
    }
}

/* A host peer's address as the guest sees it: the instance's abstract names map back; a
 * socket node's path cannot be known here (the guest sees an unnamed peer). */
static socklen_t unix_guest_addr(struct net *n, const struct sockaddr_un *hp, socklen_t hl,
                                 struct sockaddr_storage *out)
{
    struct sockaddr_un hcopy = *hp, *h = &hcopy; /* out may be where hp points */
    struct sockaddr_un *g = (struct sockaddr_un *)out;
    memset(out, 0, sizeof *out);
    g->sun_family = AF_UNIX;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    char pre[40];
    int pl = snprintf(pre, sizeof pre, "uno-%s/a/", n->token);
    if (hl > off + 1 + (size_t)pl && h->sun_path[0] == 0 && !memcmp(h->sun_path + 1, pre, (size_t)pl)) {
        size_t len = hl - off - 1 - (size_t)pl;
        memcpy(g->sun_path + 1, h->sun_path + 1 + pl, len);
        return (socklen_t)(off + 1 + len);
    }
    return sizeof(sa_family_t);
}

/* bind of an AF_UNIX socket: data = the resolved address, then the guest's own (arg2
 * bytes, kept for getsockname); arg1 = the node's mode. Just the family: an autobind. */
static int64_t unix_bind(struct vmm *v, struct vsock *s, struct ring_req *r)
{
    uint64_t glen = r->arg[2];
    if (glen > r->len || glen > sizeof(struct sockaddr_un))
        return -EINVAL;
    uint64_t rlen = r->len - glen;
    struct sockaddr_un host;
    socklen_t hl;
    bool made = false;
    if (rlen == sizeof(sa_family_t)) { /* autobind: five hex digits, as Linux */
        static uint32_t seq;
        for (int tries = 0; tries < 64; tries++) {
            char nm[8];
            uint32_t x = (uint32_t)now_ns(CLOCK_MONOTONIC) ^ ((uint32_t)getpid() * 2654435761u);
            snprintf(nm, sizeof nm, "%05x", (x + seq++ * 7919u) & 0xfffff);
            hl = unix_abstract(v->net, "a/", (uint8_t *)nm, 5, &host);
            if (bind(s->loop_fd, (struct sockaddr *)&host, hl) == 0) {
                struct sockaddr_un *g = (struct sockaddr_un *)&s->local;
                memset(&s->local, 0, sizeof s->local);
                g->sun_family = AF_UNIX;
                memcpy(g->sun_path + 1, nm, 5);
                s->local_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 6);
                return 0;
            }
            if (errno != EADDRINUSE)
                return -errno;
        }
        return -EADDRINUSE;
    }
    int err = unix_host_addr(v, r->data, rlen, true, (uint32_t)r->arg[1], &host, &hl, &made);
    if (err)
        return err;
    if (bind(s->loop_fd, (struct sockaddr *)&host, hl) < 0) {
        err = errno == EADDRINUSE ? -EADDRINUSE : -errno;
        if (made)
            unix_unmake(v, r->data);
        return err;
    }
    memset(&s->local, 0, sizeof s->local);
    memcpy(&s->local, r->data + rlen, glen);
    s->local_len = (socklen_t)glen;
    return 0;
}

static int64_t unix_connect(struct vmm *v, uint32_t h, struct vsock *s, struct ring_req *r)
{
    uint64_t glen = r->arg[2];
    if (glen > r->len || glen > sizeof(struct sockaddr_un))
        return -EINVAL;
    if (s->listening)
        return -EINVAL;
    if (s->via != VIA_NONE && s->type != SOCK_DGRAM)
        return -EISCONN;
    struct sockaddr_un host;
    socklen_t hl;
    bool made = false;
    int err = unix_host_addr(v, r->data, r->len - glen, false, 0, &host, &hl, &made);
    if (err)
        return err;
    if (connect(s->loop_fd, (struct sockaddr *)&host, hl) < 0)
        return errno == ENOENT ? -ECONNREFUSED : errno == EWOULDBLOCK ? -EAGAIN : -errno;
    /* The peer's name: the resolved one (an absolute path), as the listener likely bound it. */
    memset(&s->peer, 0, sizeof s->peer);
    memcpy(&s->peer, r->data, r->len - glen);
    s->peer_len = (socklen_t)(r->len - glen);
    s->via = VIA_LOOP;
    refresh(v, h);
    return 0;
}

static int64_t sock_bind(struct vmm *v, uint32_t h, struct vsock *s, struct ring_req *r)
{
    if (s->local_len)
        return -EINVAL; /* bound already */
    if (!is_inet(s->family)) {
        int64_t e = unix_bind(v, s, r);
        if (!e)
            refresh(v, h);
        return e;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    int err = guest_addr(s, r->data, r->len, &ss, &sl);
    if (err)
        return err;
    if (s->type != SOCK_STREAM && s->type != SOCK_DGRAM)
        return -EOPNOTSUPP;
    s->local = ss;
    s->local_len = sl;
    err = bind_port(v, s, port_of(&ss));
    if (err) {
        s->local_len = 0;
        return err;
    }
    refresh(v, h);
    return 0;
}

static int64_t sock_listen(struct vmm *v, uint32_t h, struct vsock *s, int64_t backlog)
{
    if (s->type != SOCK_STREAM && s->type != SOCK_SEQPACKET)
        return -EOPNOTSUPP;
    if (s->via != VIA_NONE)
        return -EINVAL;
    if (backlog < 0 || backlog > 4096)
        backlog = 4096;
    if (!s->local_len && !is_inet(s->family)) { /* an unnamed AF_UNIX socket: autobind */
        uint16_t fam = AF_UNIX;
        struct ring_req ar = {.data = (uint8_t *)&fam, .len = sizeof fam};
        int64_t e = unix_bind(v, s, &ar);
        if (e)
            return e;
    }
    if (!s->local_len) { /* listen without bind: an ephemeral port */
        s->local_len = any_addr(s->family, &s->local);
        int err = bind_port(v, s, 0);
        if (err) {
            s->local_len = 0;
            return err;
        }
    }
    if (listen(s->loop_fd, (int)backlog) < 0 ||
        (s->loop6_fd >= 0 && listen(s->loop6_fd, (int)backlog) < 0))
        return -errno;
    if (!s->listening && is_inet(s->family)) {
        int fds[MAX_PUB];
        int n = net_published(v->net, SOCK_STREAM, port_of(&s->local), fds, MAX_PUB);
        for (int i = 0; i < n; i++) {
            int d = dup(fds[i]);
            if (d >= 0)
                s->pub[s->npub++] = d;
        }
    }
    s->listening = true;
    refresh(v, h);
    return 0;
}

/* Connects fd to the listener of a loopback port (v6only: its IPv6-only name): the port's
 * name, or for a port listeners share (SO_REUSEPORT), each of their names in turn. */
static int loop_connect_port(struct vmm *v, int fd, bool v6only, uint16_t port)
{
    static unsigned turn; /* this VMM's; under the ring lock like every socket operation */
    const char *kind = v6only ? "t6-" : "t";
    uint32_t held = rp_members(v, rp_key_of(kind, port)) | 1u;
    int err = -ECONNREFUSED;
    unsigned first = turn++;
    for (int i = 0; i < UNO_REUSEPORT_MEMBERS; i++) {
        int k = (int)((first + (unsigned)i) % UNO_REUSEPORT_MEMBERS);
        if (!(held & (1u << k)))
            continue;
        char name[24];
        struct sockaddr_un sun;
        rp_name(name, sizeof name, kind, port, k);
        socklen_t len = net_path(v->net, name, &sun);
        if (connect(fd, (struct sockaddr *)&sun, len) == 0)
            return 0;
        err = errno == ENOENT ? -ECONNREFUSED : errno == EAGAIN ? -EAGAIN : -errno;
        if (err != -ECONNREFUSED)
            return err; /* a member that is there but full: as Linux, this one answers */
    }
    return err;
}

/* A loopback connection: our end named "c4-<port>" (so the listener sees a peer port),
 * connected to the listener's "t<port>". */
static int64_t connect_loop(struct vmm *v, struct vsock *s, const struct sockaddr_storage *to)
{
    int fd = loop_socket(SOCK_STREAM);
    if (fd < 0)
        return fd;
    uint16_t port = s->local_len ? port_of(&s->local) : 0;
    char name[24];
    int err = -EADDRINUSE;
    for (int tries = 0; tries < 64 && err; tries++) {
        uint16_t p = port ? port : net_ephemeral(v->net);
        snprintf(name, sizeof name, "c%c-%u", s->family == AF_INET6 ? '6' : '4', p);
        err = loop_bind(v->net, fd, name);
        if (!err)
            port = p;
    }
    /* An IPv6 destination: the port's IPv6 name (held by an IPv6-only listener, or by one
     * on :: that takes both families); an IPv4 one (or IPv4-mapped): its IPv4 name. */
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)to)->sin6_addr;
    bool v6 = to->ss_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(a6);
    if (!err)
        err = loop_connect_port(v, fd, v6, port_of(to));
    if (err) {
        close(fd);
        return err;
    }
    if (s->loop_fd >= 0)
        close(s->loop_fd); /* a bound, unconnected name: the connection replaces it */
    s->loop_fd = fd;
    s->via = VIA_LOOP;
    if (!s->local_len)
        s->local_len = loop_addr(s->family, port, &s->local);
    else if (net_is_loopback((struct sockaddr *)&s->local) ||
             (s->family == AF_INET && !((struct sockaddr_in *)&s->local)->sin_addr.s_addr))
        loop_addr(s->family, port, &s->local);
    return 0;
}

static int64_t sock_connect(struct vmm *v, uint32_t h, struct vsock *s, struct ring_req *r)
{
    struct sockaddr_storage to;
    socklen_t tl;
    if (!is_inet(s->family))
        return unix_connect(v, h, s, r);
    int err = guest_addr(s, r->data, r->len, &to, &tl);
    if (err)
        return err;
    if (s->listening)
        return -EINVAL;
    if (s->type == SOCK_DGRAM) {
        /* UDP: only the default destination (and, outside, the host's filter). */
        if (!net_is_loopback((struct sockaddr *)&to)) {
            if ((err = net_egress_check(v->net, (struct sockaddr *)&to)))
                return err;
            if (connect(s->host_fd, (struct sockaddr *)&to, tl) < 0)
                return -errno;
        }
        s->peer = to;
        s->peer_len = tl;
        return 0;
    }
    if (s->via != VIA_NONE)
        return -EISCONN;
    if (net_is_loopback((struct sockaddr *)&to)) {
        err = (int)connect_loop(v, s, &to);
    } else if (!(err = net_egress_check(v->net, (struct sockaddr *)&to))) {
        if (connect(s->host_fd, (struct sockaddr *)&to, tl) < 0 && errno != EINPROGRESS)
            return -errno;
        err = errno == EINPROGRESS ? -EINPROGRESS : 0;
        s->via = VIA_HOST;
    }
    if (err && err != -EINPROGRESS)
        return err;
    s->peer = to;
    s->peer_len = tl;
    refresh(v, h);
    if (!err)
        sendq_established(v, h, data_fd(s));
    return err;
}

/* A connection from one of the listener's loopback names, the instance's only. */
static int loop_accept(const struct vsock *s, int lfd, struct sockaddr_storage *from, socklen_t *fl)
{
    for (;;) {
        *fl = sizeof *from;
        int fd = accept4(lfd, (struct sockaddr *)from, fl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 || !is_inet(s->family) || net_peer_ok(fd))
            return fd;
        close(fd); /* not the instance's */
    }
}

/* Accepts from the instance's listener first, then from the published ports'. */
static int64_t sock_accept(struct vmm *v, struct vsock *s, struct ring_req *r)
{
    if (!s->listening)
        return -EINVAL;
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    int fd = loop_accept(s, s->loop_fd, &from, &fl);
    if (fd < 0 && errno == EAGAIN && s->loop6_fd >= 0)
        fd = loop_accept(s, s->loop6_fd, &from, &fl);
    bool loop = fd >= 0;
    for (int i = 0; fd < 0 && errno == EAGAIN && i < s->npub; i++) {
        fl = sizeof from;
        fd = accept4(s->pub[i], (struct sockaddr *)&from, &fl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    }
    if (fd < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    struct vsock *c = vsock_new(s->family, s->type, s->protocol);
    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    if (loop || !is_inet(s->family)) {
        c->loop_fd = fd;
        c->via = VIA_LOOP;
        if (is_inet(s->family)) {
            int fam;
            int port = name_port((struct sockaddr_un *)&from, fl, &fam);
            c->peer_len = loop_addr(fam, (uint16_t)port, &c->peer);
            to_family(s->family, &c->peer, &c->peer_len);
            c->local_len = loop_addr(fam, port_of(&s->local), &c->local);
            to_family(s->family, &c->local, &c->local_len);
        } else {
            c->peer_len = unix_guest_addr(v->net, (struct sockaddr_un *)&from, fl, &c->peer);
            c->local = s->local;
            c->local_len = s->local_len;
        }
    } else {
        /* From outside: the real client's address; ours is the host's, with the guest port. */
        c->host_fd = fd;
        c->via = VIA_HOST;
        c->peer = from;
        c->peer_len = fl;
        to_family(s->family, &c->peer, &c->peer_len);
        c->local_len = sizeof c->local;
        getsockname(fd, (struct sockaddr *)&c->local, &c->local_len);
        to_family(s->family, &c->local, &c->local_len);
        set_port(&c->local, port_of(&s->local));
        int one = 1; /* as a Linux listener's children inherit it, when the guest set it */
        int nd = 0;
        socklen_t nl = sizeof nd;
        if (s->host_fd >= 0 && getsockopt(s->host_fd, IPPROTO_TCP, TCP_NODELAY, &nd, &nl) == 0 && nd)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    uint32_t alen = c->peer_len;
    int64_t h = install(v, c);
    if (h < 0)
        return h;
    if (c->type == SOCK_STREAM)
        sendq_established(v, (uint32_t)h, data_fd(c));
    if (r->len >= 4 + alen) {
        memcpy(r->data, &alen, 4);
        memcpy(r->data + 4, &c->peer, alen);
    }
    return h;
}

static int64_t sock_getname(struct vsock *s, bool peer, struct ring_req *r)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (peer) {
        if (s->type == SOCK_STREAM && s->via == VIA_NONE)
            return -ENOTCONN;
        if (!s->peer_len)
            return -ENOTCONN;
        ss = s->peer;
        sl = s->peer_len;
    } else if (s->via == VIA_HOST && s->type == SOCK_STREAM && !s->listening) {
        sl = sizeof ss;
        if (getsockname(s->host_fd, (struct sockaddr *)&ss, &sl) < 0)
            return -errno;
    } else if (s->local_len) {
        ss = s->local;
        sl = s->local_len;
    } else if (is_inet(s->family)) {
        sl = any_addr(s->family, &ss);
    } else {
        memset(&ss, 0, sizeof ss);
        ss.ss_family = AF_UNIX;
        sl = sizeof(sa_family_t);
    }
    uint32_t len = sl;
    if (r->len < 4 + len)
        return -EINVAL;
    memcpy(r->data, &len, 4);
    memcpy(r->data + 4, &ss, len);
    return 0;
}

/* --- options ---------------------------------------------------------------------------- */

/* The descriptor an option of `level` belongs to: IP/TCP options live on the host socket
 * (made on demand for a loopback connection, which has none: AF_UNIX would refuse them). */
static int option_fd(struct vsock *s, int level)
{
    if (level == SOL_SOCKET)
        return s->listening ? s->loop_fd : data_fd(s);
    if (!is_inet(s->family))
        return s->loop_fd;
    if (s->host_fd < 0)
        s->host_fd = socket(s->family, (s->type == SOCK_SEQPACKET ? SOCK_STREAM : s->type) |
                                           SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return s->host_fd;
}

static int64_t sock_setopt(struct vsock *s, int level, int name, struct ring_req *r)
{
    if (r->len > 256)
        return -EINVAL;
    int fd = option_fd(s, level);
    if (fd < 0)
        return -ENOBUFS;
    if (setsockopt(fd, level, name, r->data, (socklen_t)r->len) < 0)
        return -errno;
    /* Socket-level options also go to the other descriptors, so that they hold whichever
     * one ends up carrying the traffic. */
    if (level == SOL_SOCKET) {
        int fds[2] = {s->host_fd, s->loop_fd};
        for (int i = 0; i < 2; i++)
            if (fds[i] >= 0 && fds[i] != fd)
                setsockopt(fds[i], level, name, r->data, (socklen_t)r->len);
    }
    return 0;
}

static int64_t sock_getopt(struct vsock *s, int level, int name, struct ring_req *r)
{
    int val = -1;
    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_TYPE: val = s->type; break;
        case SO_DOMAIN: val = s->family; break;
        case SO_PROTOCOL:
            val = s->protocol ? s->protocol
                  : !is_inet(s->family) ? 0
                  : s->type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
            break;
        case SO_ACCEPTCONN: val = s->listening; break;
        default: break;
        }
    }
    if (val >= 0) {
        if (r->len < sizeof val)
            return -EINVAL;
        memcpy(r->data, &val, sizeof val);
        return sizeof val;
    }
    int fd = option_fd(s, level);
    if (fd < 0)
        return -ENOBUFS;
    socklen_t len = (socklen_t)(r->len > 256 ? 256 : r->len);
    if (getsockopt(fd, level, name, r->data, &len) < 0)
        return -errno;
    return len;
}

/* --- data ------------------------------------------------------------------------------- */

/* The guest's scatter list as host iovecs into guest memory. */
static int map_iov(struct vmm *v, const struct uno_iov *g, uint32_t n, bool write,
                   struct iovec *iov)
{
    for (uint32_t i = 0; i < n; i++) {
        iov[i].iov_base = g[i].len ? gpa_io_ptr(v, g[i].gpa, g[i].len, write) : NULL;
        iov[i].iov_len = g[i].len;
        if (g[i].len && !iov[i].iov_base)
            return -EFAULT;
    }
    return 0;
}

/* The parts of a UNO_OP_SENDMSG/RECVMSG: header, name, control, scatter list. */
struct msg_parts {
    struct uno_msg *m;
    uint8_t *name, *control;
    struct uno_iov *iov;
};

static int msg_parts(struct ring_req *r, struct msg_parts *p)
{
    if (r->len < sizeof(struct uno_msg))
        return -EINVAL;
    p->m = (struct uno_msg *)r->data;
    struct uno_msg m = *p->m; /* one read of what the guest may still change */
    if (m.namelen > UNO_SOCKADDR_MAX || m.controllen > 4096 || m.niov > MAX_IOV)
        return -EINVAL;
    uint64_t at = (sizeof m + (uint64_t)m.namelen + m.controllen + 7) & ~7ull;
    if (at + (uint64_t)m.niov * sizeof(struct uno_iov) > r->len)
        return -EINVAL;
    p->name = r->data + sizeof m;
    p->control = p->name + m.namelen;
    p->iov = (struct uno_iov *)(r->data + at);
    return 0;
}

/* --- passing descriptors (SCM_RIGHTS) and credentials (SCM_CREDENTIALS) ------------------- */

#define MAX_PASS 253 /* SCM_MAX_FD */

/* The guest's control data for the host: handles become host descriptors; credentials are
 * left to the host kernel, which adds the real ones (the receiver translates them). Size of
 * the host control data, or -errno. */
static int control_out(struct vmm *v, const uint8_t *in, uint32_t len, uint8_t *out, size_t room)
{
    size_t used = 0;
    uint32_t at = 0;
    while (at + sizeof(struct cmsghdr) <= len) {
        struct cmsghdr h;
        memcpy(&h, in + at, sizeof h);
        if (h.cmsg_len < sizeof h || h.cmsg_len > len - at)
            return -EINVAL;
        size_t dlen = h.cmsg_len - sizeof h;
        if (h.cmsg_level != SOL_SOCKET)
            return -EINVAL;
        if (h.cmsg_type == SCM_RIGHTS) {
            size_t n = dlen / 4;
            if (n == 0 || n > MAX_PASS || used + CMSG_SPACE(n * sizeof(int)) > room)
                return -EINVAL;
            struct cmsghdr *o = (struct cmsghdr *)(out + used);
            o->cmsg_len = CMSG_LEN(n * sizeof(int));
            o->cmsg_level = SOL_SOCKET;
            o->cmsg_type = SCM_RIGHTS;
            int *fds = (int *)CMSG_DATA(o);
            for (size_t i = 0; i < n; i++) {
                uint32_t hd;
                memcpy(&hd, in + at + sizeof h + i * 4, 4);
                if (hd < 3 || (fds[i] = handle_fd(v, hd)) < 0)
                    return -EBADF;
            }
            used += CMSG_SPACE(n * sizeof(int));
        } else if (h.cmsg_type != SCM_CREDENTIALS) {
            return -EINVAL;
        }
        at += (uint32_t)((h.cmsg_len + 7) & ~7ul);
    }
    return (int)used;
}

/* What a received host descriptor is, for the guest: its handle and kind (the descriptor is
 * the handle's from now on). -1 for one the guest cannot have (it is closed). */
static int received(struct vmm *v, int fd, struct uno_fdpass *p)
{
    struct stat st;
    int fl = fcntl(fd, F_GETFL);
    if (fstat(fd, &st) < 0 || fl < 0) {
        close(fd);
        return -1;
    }
    memset(p, 0, sizeof *p);
    p->flags = fl & (O_ACCMODE | O_APPEND | O_NONBLOCK);
    if (S_ISSOCK(st.st_mode)) {
        int fam = 0, type = 0, acc = 0;
        socklen_t l = sizeof fam;
        getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &fam, &l);
        l = sizeof type;
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l);
        l = sizeof acc;
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l);
        struct vsock *s = vsock_new(fam, type, 0);
        if (!s) {
            close(fd);
            return -1;
        }
        fcntl(fd, F_SETFL, fl | O_NONBLOCK); /* the VMM's descriptors never wait */
        if (is_inet(fam)) {
            s->host_fd = fd;
            s->via = acc ? VIA_NONE : VIA_HOST;
        } else {
            s->loop_fd = fd;
            s->via = acc ? VIA_NONE : VIA_LOOP;
        }
        s->listening = acc != 0;
        int64_t h = install(v, s);
        if (h < 0)
            return -1;
        p->handle = (uint32_t)h;
        p->kind = UNO_FD_SOCKET;
        p->family = fam;
        p->type = type;
        p->listening = acc;
        return 0;
    }
    char link[64] = "";
    char self[32];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    ssize_t ln = readlink(self, link, sizeof link - 1);
    link[ln > 0 ? ln : 0] = 0;
    if (S_ISFIFO(st.st_mode))
        p->kind = UNO_FD_PIPE;
    else if (!strcmp(link, "anon_inode:[eventfd]"))
        p->kind = UNO_FD_EVENTFD;
    else if (S_ISREG(st.st_mode))
        p->kind = UNO_FD_FILE;
    else {
        close(fd);
        return -1;
    }
    if (p->kind != UNO_FD_FILE)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    int h = p->kind == UNO_FD_FILE ? alloc_handle(v, fd, false) : alloc_stream_handle(v, fd);
    if (h < 0)
        return -1;
    p->handle = (uint32_t)h;
    return 0;
}

/* The host's control data for the guest (room bytes at out): descriptors become handles,
 * credentials guest ids. Its length; *trunc when something did not fit. */
static uint32_t control_in(struct vmm *v, struct msghdr *mh, uint8_t *out, uint32_t room,
                           bool *trunc)
{
    uint32_t used = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET)
            continue;
        if (c->cmsg_type == SCM_RIGHTS) {
            size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int *fds = (int *)CMSG_DATA(c);
            struct uno_fdpass pass[MAX_PASS];
            size_t k = 0;
            for (size_t i = 0; i < n && i < MAX_PASS; i++)
                if (received(v, fds[i], &pass[k]) == 0)
                    k++;
            size_t need = sizeof(struct cmsghdr) + k * sizeof pass[0];
            if (used + need > room) { /* no room: the descriptors are not delivered */
                for (size_t i = 0; i < k; i++)
                    release_handle(v, pass[i].handle);
                *trunc = true;
                continue;
            }
            struct cmsghdr h = {.cmsg_len = need, .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS};
            memcpy(out + used, &h, sizeof h);
            memcpy(out + used + sizeof h, pass, k * sizeof pass[0]);
            used += (uint32_t)((need + 7) & ~7ul);
        } else if (c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred cr;
            memcpy(&cr, CMSG_DATA(c), sizeof cr);
            /* The sender's guest pid; our user is the guest's root. */
            struct ucred g = {.pid = proc_guest_pid_of_host(cr.pid),
                              .uid = cr.uid == geteuid() ? 0 : 65534,
                              .gid = cr.gid == getegid() ? 0 : 65534};
            size_t need = sizeof(struct cmsghdr) + sizeof g;
            if (used + need > room) {
                *trunc = true;
                continue;
            }
            struct cmsghdr h = {.cmsg_len = need, .cmsg_level = SOL_SOCKET,
                                .cmsg_type = SCM_CREDENTIALS};
            memcpy(out + used, &h, sizeof h);
            memcpy(out + used + sizeof h, &g, sizeof g);
            used += (uint32_t)((need + 7) & ~7ul);
        }
    }
    return used;
}

/* Host flags from the guest's: never wait, never SIGPIPE the VMM. */
static int host_flags(uint32_t f)
{
    return (int)(f & (MSG_PEEK | MSG_OOB | MSG_TRUNC | MSG_DONTROUTE | MSG_EOR | MSG_MORE)) |
           MSG_DONTWAIT | MSG_NOSIGNAL;
}

static int64_t send_loop_dgram(struct vmm *v, struct vsock *s, struct msghdr *mh,
                               const struct sockaddr_storage *to)
{
    if (s->loop_fd < 0 || !s->local_len) { /* an unbound sender gets a port, as Linux's */
        if (!s->local_len)
            s->local_len = any_addr(s->family, &s->local);
        int err = bind_port(v, s, port_of(&s->local));
        if (err)
            return err;
    }
    char name[24];
    struct sockaddr_un sun;
    mh->msg_name = &sun;
    /* A port sockets share (SO_REUSEPORT): a sender's datagrams go to one of them, chosen by
     * the sender's port, as Linux chooses by the addresses; the port's own name otherwise. */
    uint16_t port = port_of(to);
    uint32_t held = rp_members(v, rp_key_of("u", port)) | 1u;
    int pick = port_of(&s->local) % __builtin_popcount(held), k = 0;
    while (!(held & (1u << k)) || pick-- > 0)
        k++;
    rp_name(name, sizeof name, "u", port, k);
    mh->msg_namelen = net_path(v->net, name, &sun);
    ssize_t n = sendmsg(s->loop_fd, mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && (errno == ENOENT || errno == ECONNREFUSED) && k) {
        rp_name(name, sizeof name, "u", port, 0); /* a member gone: the port's own name */
        mh->msg_namelen = net_path(v->net, name, &sun);
        n = sendmsg(s->loop_fd, mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    if (n < 0 && (errno == ENOENT || errno == ECONNREFUSED)) {
        /* No one there: a UDP datagram is lost silently, unless the socket is connected
         * (Linux reports the ICMP error then). */
        if (s->peer_len)
            return -ECONNREFUSED;
        size_t total = 0;
        for (size_t i = 0; i < mh->msg_iovlen; i++)
            total += mh->msg_iov[i].iov_len;
        return (int64_t)total;
    }
    return n < 0 ? -errno : n;
}

/* A message's parts, its header as read once, and its scatter list as host iovecs. */
static int msg_setup(struct vmm *v, struct ring_req *r, bool into_guest, struct msg_parts *p,
                     struct uno_msg *m, struct iovec *iov)
{
    int err = msg_parts(r, p);
    if (err)
        return err;
    *m = *p->m;
    return map_iov(v, p->iov, m->niov, into_guest, iov);
}

static int64_t sock_sendmsg(struct vmm *v, uint32_t h, struct vsock *s, struct ring_req *r)
{
    struct msg_parts p;
    struct uno_msg m;
    struct iovec iov[MAX_IOV];
    int err = msg_setup(v, r, false, &p, &m, iov);
    if (err)
        return err;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = m.niov};
    uint8_t control[CMSG_SPACE(MAX_PASS * sizeof(int)) + 64];
    if (m.controllen) {
        if (is_inet(s->family))
            return -EINVAL; /* no control data Linux takes on TCP/UDP here */
        int cl = control_out(v, p.control, m.controllen, control, sizeof control);
        if (cl < 0)
            return cl;
        mh.msg_control = cl ? control : NULL;
        mh.msg_controllen = (size_t)cl;
    }
    if (s->type == SOCK_DGRAM && is_inet(s->family)) {
        struct sockaddr_storage to;
        socklen_t tl;
        if (m.namelen) {
            if ((err = guest_addr(s, p.name, m.namelen, &to, &tl)))
                return err;
        } else if (s->peer_len) {
            to = s->peer;
            tl = s->peer_len;
        } else {
            return -EDESTADDRREQ;
        }
        if (net_is_loopback((struct sockaddr *)&to) && !from_outside(s, &to))
            return send_loop_dgram(v, s, &mh, &to);
        if (!from_outside(s, &to) && (err = net_egress_check(v->net, (struct sockaddr *)&to)))
            return err;
        if (m.namelen) {
            mh.msg_name = &to;
            mh.msg_namelen = tl;
        }
        ssize_t n = sendmsg(s->host_fd, &mh, host_flags(m.flags));
        return n < 0 ? -errno : n;
    }
    if (s->listening)
        return -ENOTCONN;
    struct sockaddr_un to;
    if (!is_inet(s->family) && m.namelen && s->type != SOCK_STREAM) {
        socklen_t tl;
        bool made = false;
        if ((err = unix_host_addr(v, p.name, m.namelen, false, 0, &to, &tl, &made)))
            return err;
        mh.msg_name = &to;
        mh.msg_namelen = tl;
    } else if (s->via == VIA_NONE) {
        return is_inet(s->family) ? -EPIPE : s->type == SOCK_DGRAM ? -EDESTADDRREQ : -ENOTCONN;
    }
    if (s->type == SOCK_STREAM && (err = sendq_before_send(v, h)))
        return err;
    ssize_t n = sendmsg(data_fd(s), &mh, host_flags(m.flags));
    if (n > 0 && s->type == SOCK_STREAM)
        sendq_sent(v, h, data_fd(s));
    return n < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : n;
}

/* UNO_OP_SEND_ASYNC: bytes in the slot for a connected stream socket; nobody waits for the
 * result, which the next send reports if it is an error (sendq.c). */
static int64_t sock_send_async(struct vmm *v, uint32_t h, struct vsock *s, struct ring_req *r)
{
    if (s->type != SOCK_STREAM || s->listening || s->via == VIA_NONE)
        return -ENOTCONN;
    return sendq_async(v, h, data_fd(s), r->data, r->len);
}

int net_before_write(struct vmm *v, uint32_t h)
{
    struct vsock *s = sock_of(v, h);
    return s && s->type == SOCK_STREAM ? sendq_before_send(v, h) : 0;
}

/* The source of a datagram from the instance's loopback, as the guest sees it. */
static socklen_t loop_source(struct vsock *s, const struct sockaddr_un *sun, socklen_t len,
                             struct sockaddr_storage *ss)
{
    int fam;
    int port = name_port(sun, len, &fam);
    socklen_t sl = loop_addr(AF_INET, (uint16_t)port, ss);
    if (s->family == AF_INET6)
        sl = loop_addr(AF_INET6, (uint16_t)port, ss);
    return sl;
}

static int64_t sock_recvmsg(struct vmm *v, struct vsock *s, struct ring_req *r)
{
    struct msg_parts p;
    struct uno_msg m;
    struct iovec iov[MAX_IOV];
    int err = msg_setup(v, r, true, &p, &m, iov);
    if (err)
        return err;
    if (is_inet(s->family) && s->type == SOCK_STREAM && !(m.flags & (MSG_OOB | MSG_ERRQUEUE))) {
        /* Bytes received ahead go first; an error a fill took is this receive's. */
        int taken = rx_taken_error(v, r->handle);
        if (taken)
            return -taken;
        if (rx_pending(v, r->handle))
            return UNO_RX_PENDING;
    }
    struct sockaddr_storage from;
    struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = iov,
                        .msg_iovlen = m.niov};
    uint8_t control[CMSG_SPACE(MAX_PASS * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
    if (!is_inet(s->family) && m.controllen) {
        mh.msg_control = control;
        mh.msg_controllen = sizeof control;
    }
    ssize_t n;
    bool loop = false;
    if (s->listening)
        return -ENOTCONN;
    if (s->type == SOCK_DGRAM && is_inet(s->family)) {
        n = -1;
        errno = EAGAIN;
        if (s->loop_fd >= 0) {
            n = recvmsg(s->loop_fd, &mh, host_flags(m.flags));
            loop = n >= 0;
        }
        if (n < 0 && errno == EAGAIN && s->host_fd >= 0) {
            mh.msg_namelen = sizeof from;
            n = recvmsg(s->host_fd, &mh, host_flags(m.flags));
        }
    } else {
        int fd = data_fd(s);
        if (s->via == VIA_NONE && s->type != SOCK_DGRAM)
            return -ENOTCONN;
        n = recvmsg(fd, &mh, host_flags(m.flags) | MSG_CMSG_CLOEXEC); /* MSG_WAITALL: the guest's loop */
    }
    if (n < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    socklen_t fl = 0;
    if (!is_inet(s->family) && s->type != SOCK_STREAM) {
        /* An unnamed sender: no address at all, as Linux's recvfrom says. */
        fl = mh.msg_namelen <= sizeof(sa_family_t)
                 ? 0 : unix_guest_addr(v->net, (struct sockaddr_un *)&from, mh.msg_namelen, &from);
    } else if (s->type == SOCK_DGRAM && is_inet(s->family)) {
        if (loop) {
            fl = loop_source(s, (struct sockaddr_un *)&from, mh.msg_namelen, &from);
        } else {
            fl = mh.msg_namelen;
            to_family(s->family, &from, &fl);
            remember_outside(s, &from);
        }
    }
    uint32_t give = fl < m.namelen ? fl : m.namelen;
    memcpy(p.name, &from, give);
    bool trunc = false;
    uint32_t cl = mh.msg_control ? control_in(v, &mh, p.control, m.controllen, &trunc) : 0;
    p.m->namelen = fl;
    p.m->controllen = cl;
    p.m->flags = (uint32_t)mh.msg_flags | (trunc ? MSG_CTRUNC : 0);
    return n;
}

/* A receive as a host call of its own thread (UNO_HC_HOSTCALL): under the ring lock, as
 * receiving ahead is (rxahead.c), but never while waiting. With UNO_SQE_BLOCKING it waits for
 * the socket to be readable (arg0: at most so many ns, 0: no limit) and tries again, so a
 * blocking receive is one exit; a signal for the thread ends the wait (-EINTR), the time
 * limit gives -EAGAIN as SO_RCVTIMEO does. The socket is looked up again after each wait:
 * another thread may have closed it. */
static int64_t recv_waiting(struct vmm *v, struct ring_req *r)
{
    uint64_t deadline = r->arg[0] ? now_ns(CLOCK_MONOTONIC) + r->arg[0] : 0;
    for (;;) {
        pthread_mutex_lock(&v->ring_lock);
        struct vsock *s = sock_of(v, r->handle);
        int64_t res = s ? sock_recvmsg(v, s, r) : -EBADF;
        int fds[HANDLE_POLL_MAX];
        int n = res == -EAGAIN ? handle_poll_fds(v, r->handle, fds, HANDLE_POLL_MAX) : 0;
        pthread_mutex_unlock(&v->ring_lock);
        if (res != -EAGAIN || !r->may_block || (r->flags & UNO_SQE_NONBLOCK) || n <= 0)
            return res;
        struct pollfd p[HANDLE_POLL_MAX];
        for (int i = 0; i < n; i++)
            p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        int b = block_wait(v, p, n, deadline, false);
        if (b < 0)
            return b;
        if (b == 0)
            return -EAGAIN; /* the time is up */
    }
}

/* --- the entry point -------------------------------------------------------------------- */

static int64_t op_socket(struct vmm *v, struct ring_req *r)
{
    int family = (int)r->arg[0], type = (int)r->arg[1], protocol = (int)r->arg[2];
    if (r->arg[0] > 64 || r->arg[1] > 16 || r->arg[2] > 255)
        return -EINVAL;
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
        return -EAFNOSUPPORT;
    if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET)
        return -ESOCKTNOSUPPORT;
    if (is_inet(family)) {
        if (type == SOCK_SEQPACKET)
            return -ESOCKTNOSUPPORT;
        int want = type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
        if (protocol && protocol != want)
            return -EPROTONOSUPPORT;
    } else if (protocol) {
        return -EPROTONOSUPPORT;
    }
    struct vsock *s = vsock_new(family, type, protocol);
    if (!s)
        return -ENOMEM;
    int fd = is_inet(family) ? socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol)
                             : loop_socket(type);
    if (fd < 0) {
        int e = is_inet(family) ? errno : -fd;
        free(s);
        return -e;
    }
    if (is_inet(family))
        s->host_fd = fd;
    else
        s->loop_fd = fd;
    return install(v, s);
}

/* One end of a socketpair as a guest socket (fd is closed if it cannot be one). */
static int64_t pair_end(struct vmm *v, int fd, int type)
{
    struct vsock *s = vsock_new(AF_UNIX, type, 0);
    if (!s) {
        close(fd);
        return -ENOMEM;
    }
    s->loop_fd = fd;
    s->via = VIA_LOOP;
    s->peer.ss_family = AF_UNIX;
    s->peer_len = sizeof(sa_family_t);
    int64_t h = install(v, s);
    if (h >= 0 && type == SOCK_STREAM)
        sendq_established(v, (uint32_t)h, fd);
    return h;
}

static int64_t op_sockpair(struct vmm *v, struct ring_req *r)
{
    int type = (int)r->arg[1];
    if (r->arg[0] != AF_UNIX)
        return r->arg[0] == AF_INET || r->arg[0] == AF_INET6 ? -EOPNOTSUPP : -EAFNOSUPPORT;
    if (r->arg[2])
        return -EPROTONOSUPPORT;
    if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET)
        return -ESOCKTNOSUPPORT;
    if (r->len < 8)
        return -EINVAL;
    int fds[2];
    if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0)
        return -errno;
    int64_t h[2];
    h[0] = pair_end(v, fds[0], type);
    if (h[0] < 0) {
        close(fds[1]);
        return h[0];
    }
    h[1] = pair_end(v, fds[1], type);
    if (h[1] < 0) {
        release_handle(v, (uint32_t)h[0]);
        return h[1];
    }
    uint32_t out[2] = {(uint32_t)h[0], (uint32_t)h[1]};
    memcpy(r->data, out, sizeof out);
    return sizeof out;
}

static int64_t op_sock(struct vmm *v, struct ring_req *r)
{
    struct vsock *s = sock_of(v, r->handle);
    if (!s)
        return handle_fd(v, r->handle) < 0 ? -EBADF : -ENOTSOCK;
    switch (r->arg[0]) {
    case UNO_SOCK_BIND:
        return sock_bind(v, r->handle, s, r);
    case UNO_SOCK_LISTEN:
        return sock_listen(v, r->handle, s, (int64_t)r->arg[1]);
    case UNO_SOCK_CONNECT:
        return sock_connect(v, r->handle, s, r);
    case UNO_SOCK_ACCEPT:
        return sock_accept(v, s, r);
    case UNO_SOCK_SHUTDOWN: {
        if (r->arg[1] > SHUT_RDWR)
            return -EINVAL;
        if (s->via == VIA_NONE && !s->listening)
            return -ENOTCONN;
        int fd = s->listening ? s->loop_fd : data_fd(s);
        if (!s->listening && sendq_shutdown(v, r->handle, (int)r->arg[1]))
            return 0; /* the write side shuts once the queued bytes are out */
        return shutdown(fd, (int)r->arg[1]) < 0 ? -errno : 0;
    }
    case UNO_SOCK_GETNAME:
        return sock_getname(s, r->arg[1] != 0, r);
    case UNO_SOCK_SETOPT:
        return sock_setopt(s, (int)r->arg[1], (int)r->arg[2], r);
    case UNO_SOCK_GETOPT:
        return sock_getopt(s, (int)r->arg[1], (int)r->arg[2], r);
    case UNO_SOCK_ERROR: {
        int e = rx_taken_error(v, r->handle);
        socklen_t l = sizeof e;
        if (e)
            return e;
        int fd = data_fd(s);
        if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
            return -errno;
        return e;
    }
    case UNO_SOCK_NREAD: {
        int n = 0, fd = data_fd(s);
        if (s->type == SOCK_DGRAM && is_inet(s->family) && s->loop_fd >= 0 &&
            ioctl(s->loop_fd, FIONREAD, &n) == 0 && n > 0)
            return n;
        if (fd < 0 || ioctl(fd, FIONREAD, &n) < 0)
            return fd < 0 ? 0 : -errno;
        return n;
    }
    case UNO_SOCK_SENDFILE: {
        int in = handle_fd(v, (uint32_t)r->arg[1]);
        if (in < 0 || v->handles[r->arg[1]].sock || v->handles[r->arg[1]].is_dir)
            return -EBADF;
        int64_t off = (int64_t)r->arg[2];
        if (off < -1 || r->arg[3] > (1ull << 30))
            return -EINVAL;
        if (s->listening || s->via == VIA_NONE)
            return s->type == SOCK_STREAM ? -ENOTCONN : -EDESTADDRREQ;
        int qe = sendq_before_send(v, r->handle);
        if (qe)
            return qe;
        off_t o = (off_t)off;
        ssize_t n = sendfile(data_fd(s), in, off >= 0 ? &o : NULL, (size_t)r->arg[3]);
        return n < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : n;
    }
    case UNO_SOCK_INFO: {
        struct uno_sockinfo in = {s->family, s->type, s->protocol, s->listening};
        if (r->len < sizeof in)
            return -EINVAL;
        memcpy(r->data, &in, sizeof in);
        return sizeof in;
    }
    default:
        return -EINVAL;
    }
}

int64_t net_op(struct vmm *v, struct ring_req *r)
{
    if (!v->net)
        return -ENETDOWN;
    switch (r->op) {
    case UNO_OP_SOCKET:
        return op_socket(v, r);
    case UNO_OP_SOCKPAIR:
        return op_sockpair(v, r);
    case UNO_OP_SOCK:
        return op_sock(v, r);
    case UNO_OP_SENDMSG:
    case UNO_OP_RECVMSG:
    case UNO_OP_SEND_ASYNC: {
        struct vsock *s = sock_of(v, r->handle);
        if (!s)
            return handle_fd(v, r->handle) < 0 ? -EBADF : -ENOTSOCK;
        if (r->op == UNO_OP_SEND_ASYNC)
            return sock_send_async(v, r->handle, s, r);
        if (r->op == UNO_OP_SENDMSG)
            return sock_sendmsg(v, r->handle, s, r);
        if (r->ring_locked)
            return sock_recvmsg(v, s, r);
        return recv_waiting(v, r);
    }
    default:
        return -ENOSYS;
    }
}
