/* The instance's network: its private directory (where the loopback's sockets live), the
 * ports published to it, and where its traffic may go. Set up once by PID 1's uno-vmm and
 * inherited by every process of the instance through fork.
 *
 * The loopback is private: the guest's 127.0.0.1/::1 are host AF_UNIX sockets with abstract
 * names made of a random instance name and the port ("uno-<token>/t80"), so connections
 * between the instance's processes never touch the host's loopback or another instance's
 * ports. Abstract names go away with their last socket (a port is free again exactly when
 * Linux would free it), and a connection from a process of another user is refused.
 * Published ports are host sockets uno-vmm owns from the start; a guest listener on the
 * guest port takes their connections too (net.c). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net.h"

static int parse_port(const char *s, uint16_t *port)
{
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (errno || end == s || *end || n < 1 || n > 65535)
        return -1;
    *port = (uint16_t)n;
    return 0;
}

/* A host address: IPv4, or IPv6 in brackets. */
static int parse_host_ip(const char *ip, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        *len = sizeof *in;
        return 0;
    }
    size_t n = strlen(ip);
    char buf[64];
    if (n >= 2 && n < sizeof buf && ip[0] == '[' && ip[n - 1] == ']') {
        memcpy(buf, ip + 1, n - 2);
        buf[n - 2] = 0;
        if (inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
            in6->sin6_family = AF_INET6;
            *len = sizeof *in6;
            return 0;
        }
    }
    return -1;
}

/* One --publish HOSTIP:HOSTPORT:GUESTPORT/PROTO: its host socket, bound (and listening). */
static int publish(struct net *n, const char *spec)
{
    char buf[128];
    if (strlen(spec) >= sizeof buf || n->npub == NET_MAX_PUBLISH)
        goto bad;
    strcpy(buf, spec);
    struct published *p = &n->pub[n->npub];
    char *slash = strrchr(buf, '/');
    if (!slash)
        goto bad;
    *slash = 0;
    if (!strcmp(slash + 1, "tcp"))
        p->proto = SOCK_STREAM;
    else if (!strcmp(slash + 1, "udp"))
        p->proto = SOCK_DGRAM;
    else
        goto bad;
    char *c2 = strrchr(buf, ':');
    if (!c2 || parse_port(c2 + 1, &p->guest_port))
        goto bad;
    *c2 = 0;
    char *c1 = strrchr(buf, ':');
    if (!c1 || parse_port(c1 + 1, &p->host_port))
        goto bad;
    *c1 = 0;
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_host_ip(buf, &ss, &len))
        goto bad;
    snprintf(p->host_ip, sizeof p->host_ip, "%s", buf);
    ((struct sockaddr_in *)&ss)->sin_port = htons(p->host_port); /* same offset in v6 */
    int fd = socket(ss.ss_family, p->proto | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&ss, len) < 0 ||
        (p->proto == SOCK_STREAM && listen(fd, 4096) < 0)) {
        fprintf(stderr, "uno-vmm: --publish %s: cannot use %s port %u on the host: %s\n", spec,
                p->proto == SOCK_STREAM ? "TCP" : "UDP", p->host_port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    p->fd = fd;
    n->npub++;
    return 0;
bad:
    fprintf(stderr, "uno-vmm: --publish %s: expected HOSTIP:HOSTPORT:GUESTPORT/tcp|udp "
                    "(an IPv6 address in brackets), at most %d\n", spec, NET_MAX_PUBLISH);
    return -1;
}

static int parse_cidr(const char *s, struct cidr *c)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof buf)
        return -1;
    memcpy(buf, s, alen);
    buf[alen] = 0;
    memset(c, 0, sizeof *c);
    if (inet_pton(AF_INET, buf, c->addr) == 1)
        c->family = AF_INET;
    else if (inet_pton(AF_INET6, buf, c->addr) == 1)
        c->family = AF_INET6;
    else
        return -1;
    int max = c->family == AF_INET ? 32 : 128;
    c->bits = max;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || b < 0 || b > max)
            return -1;
        c->bits = (int)b;
    }
    return 0;
}

/* --network default | none | allow=CIDR[,CIDR...] */
static int parse_network(struct net *n, const char *mode)
{
    if (!mode || !strcmp(mode, "default"))
        return 0;
    if (!strcmp(mode, "none")) {
        n->egress = EGRESS_NONE;
        return 0;
    }
    if (strncmp(mode, "allow=", 6))
        goto bad;
    n->egress = EGRESS_ALLOW;
    char buf[2048];
    if (strlen(mode + 6) >= sizeof buf)
        goto bad;
    strcpy(buf, mode + 6);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n->nallow == NET_MAX_ALLOW || parse_cidr(t, &n->allow[n->nallow]))
            goto bad;
        n->nallow++;
    }
    if (n->nallow)
        return 0;
bad:
    fprintf(stderr, "uno-vmm: --network %s: expected default, none or allow=CIDR[,CIDR...] "
                    "(at most %d)\n", mode, NET_MAX_ALLOW);
    return -1;
}

/* The instance's name: random, made by PID 1 and inherited by every process through fork. */
static int make_token(struct net *n)
{
    uint8_t r[8];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd < 0 ? -1 : read(fd, r, sizeof r);
    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)sizeof r) {
        fprintf(stderr, "uno-vmm: cannot read /dev/urandom for the instance's name\n");
        return -1;
    }
    for (int i = 0; i < 8; i++)
        snprintf(n->token + 2 * i, 3, "%02x", r[i]);
    return 0;
}

int net_init(struct vmm *v)
{
    static struct net the_net;
    struct net *n = &the_net;
    v->net = n;
    n->next_port = (uint16_t)(32768 + getpid() % 28000);
    if (parse_network(n, v->cfg.network))
        return -1;
    for (int i = 0; i < v->cfg.npublish; i++)
        if (publish(n, v->cfg.publish[i]))
            return -1;
    return make_token(n);
}

bool net_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        return (a >> 24) == 127 || a == 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a))
            return true;
        if (IN6_IS_ADDR_V4MAPPED(a))
            return a->s6_addr[12] == 127 || !memcmp(a->s6_addr + 12, "\0\0\0\0", 4);
    }
    return false;
}

static bool in_cidr(const struct cidr *c, int family, const uint8_t *addr)
{
    if (c->family != family)
        return false;
    int full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, addr, (size_t)full))
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (addr[full] & mask);
}

/* Never by default: the host's own loopback and link-local addresses (cloud metadata
 * services live there). */
static bool default_denied(int family, const uint8_t *a)
{
    static struct cidr deny[4];
    static bool ready;
    if (!ready) {
        parse_cidr("127.0.0.0/8", &deny[0]);
        parse_cidr("169.254.0.0/16", &deny[1]);
        parse_cidr("::1/128", &deny[2]);
        parse_cidr("fe80::/10", &deny[3]);
        ready = true;
    }
    for (int i = 0; i < 4; i++)
        if (in_cidr(&deny[i], family, a))
            return true;
    return false;
}

int net_egress_check(struct net *n, const struct sockaddr *sa)
{
    int family = sa->sa_family;
    uint8_t a[16];
    if (family == AF_INET) {
        memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) { /* judged as the IPv4 address it is */
            family = AF_INET;
            memcpy(a, a6->s6_addr + 12, 4);
        } else {
            memcpy(a, a6, 16);
        }
    } else {
        return -EAFNOSUPPORT;
    }
    switch (n->egress) {
    case EGRESS_NONE:
        return -ENETUNREACH;
    case EGRESS_ALLOW:
        for (int i = 0; i < n->nallow; i++)
            if (in_cidr(&n->allow[i], family, a))
                return 0;
        return -ENETUNREACH;
    default:
        return default_denied(family, a) ? -ENETUNREACH : 0;
    }
}

int net_published(struct net *n, int proto, uint16_t guest_port, int *fds, int max)
{
    int k = 0;
    for (int i = 0; i < n->npub && k < max; i++)
        if (n->pub[i].proto == proto && n->pub[i].guest_port == guest_port)
            fds[k++] = n->pub[i].fd;
    return k;
}

socklen_t net_path(struct net *n, const char *name, struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    int len = snprintf(sun->sun_path + 1, sizeof sun->sun_path - 1, "uno-%s/%s", n->token, name);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
}

bool net_peer_ok(int fd)
{
    struct ucred cr;
    socklen_t l = sizeof cr;
    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) == 0 && cr.uid == geteuid();
}

uint16_t net_ephemeral(struct net *n)
{
    uint16_t p = n->next_port;
    n->next_port = (uint16_t)(p >= 60999 ? 32768 : p + 1);
    return p;
}
