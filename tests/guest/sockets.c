/* The socket API over the instance's loopback: TCP and UDP over IPv4 and IPv6, listen and
 * accept (also across fork), non-blocking connect, half-close, MSG_PEEK/MSG_DONTWAIT/
 * MSG_NOSIGNAL, EPIPE and SIGPIPE, ECONNREFUSED, EADDRINUSE, options, timeouts, poll on
 * sockets, scatter/gather, socketpair, and a large transfer between processes. Natively
 * this is the host's loopback; in uno it is the instance's private one. Exits 1 if a CHECK
 * failed. */
#include "guest.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

static struct sockaddr_in lo4(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* A listener on 127.0.0.1 at a port the system picks; its port in *port. */
static int listener(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = lo4(0);
    socklen_t l = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16) ||
        getsockname(s, (struct sockaddr *)&a, &l))
        return -1;
    *port = ntohs(a.sin_port);
    return s;
}

static int connect_to(int port)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = lo4(port);
    return c >= 0 && connect(c, (struct sockaddr *)&a, sizeof a) == 0 ? c : -1;
}

static void tcp_basics(void)
{
    section("TCP over 127.0.0.1: connect, accept, names, data, half-close");
    int port, l = listener(&port);
    EXPECT("listener on an ephemeral port", l >= 0 && port > 0);
    int c = connect_to(port);
    EXPECT("connect", c >= 0);
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    int a = accept(l, (struct sockaddr *)&peer, &pl);
    EXPECT("accept", a >= 0);
    EXPECT("the peer is 127.0.0.1", pl == sizeof peer && peer.sin_family == AF_INET &&
                                        peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    getsockname(c, (struct sockaddr *)&me, &ml);
    EXPECT("the client's port is the peer port the server sees", me.sin_port == peer.sin_port);
    struct sockaddr_in cp;
    socklen_t cpl = sizeof cp;
    getpeername(c, (struct sockaddr *)&cp, &cpl);
    EXPECT("the client's peer is the listener's port", ntohs(cp.sin_port) == port);
    EXPECT("send", send(c, "hello", 5, 0) == 5);
    char b[16] = {0};
    EXPECT("MSG_PEEK sees it", recv(a, b, sizeof b, MSG_PEEK) == 5 && !memcmp(b, "hello", 5));
    int n = 0;
    ioctl(a, FIONREAD, &n);
    printf("FIONREAD: %d\n", n);
    memset(b, 0, sizeof b);
    EXPECT("recv takes it", recv(a, b, sizeof b, 0) == 5 && !memcmp(b, "hello", 5));
    SHOW("MSG_DONTWAIT on an empty socket", recv(a, b, sizeof b, MSG_DONTWAIT));
    int cork = 1, corked = -1;
    socklen_t cl = sizeof corked;
    OKAY("TCP_CORK on, the connection's first option", setsockopt(a, IPPROTO_TCP, TCP_CORK, &cork, sizeof cork));
    getsockopt(a, IPPROTO_TCP, TCP_CORK, &corked, &cl);
    printf("TCP_CORK reads back: %d\n", corked);
    cork = 0;
    OKAY("TCP_CORK off", setsockopt(a, IPPROTO_TCP, TCP_CORK, &cork, sizeof cork));
    getsockopt(a, IPPROTO_TCP, TCP_CORK, &corked, &cl);
    printf("TCP_CORK reads back: %d\n", corked);
    OKAY("shutdown(SHUT_WR)", shutdown(c, SHUT_WR));
    SHOW("the server reads EOF", recv(a, b, sizeof b, 0));
    EXPECT("the other direction still works", write(a, "back", 4) == 4 && read(c, b, 4) == 4 &&
                                                  !memcmp(b, "back", 4));
    SHOW("send after SHUT_WR", send(c, "x", 1, MSG_NOSIGNAL));
    int t = -1;
    socklen_t tl = sizeof t;
    getsockopt(a, SOL_SOCKET, SO_TYPE, &t, &tl);
    printf("SO_TYPE: %d\n", t);
    int on = 1;
    OKAY("TCP_NODELAY on", setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on));
    int got = 0;
    tl = sizeof got;
    getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &got, &tl);
    printf("TCP_NODELAY reads back set: %s\n", yesno(got != 0));
    int acc = -1;
    tl = sizeof acc;
    getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &acc, &tl);
    printf("SO_ACCEPTCONN of the listener: %d\n", acc);
    close(a);
    close(c);
    close(l);
}

static void errors(void)
{
    section("errors: ECONNREFUSED, EADDRINUSE, ENOTCONN, ENOTSOCK, EINVAL");
    int port, l = listener(&port);
    struct sockaddr_in a = lo4(port);
    int s2 = socket(AF_INET, SOCK_STREAM, 0);
    SHOW("bind to a port in use", bind(s2, (struct sockaddr *)&a, sizeof a));
    close(s2);
    close(l);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    SHOW("connect to a closed port", connect(c, (struct sockaddr *)&a, sizeof a));
    close(c);
    c = socket(AF_INET, SOCK_STREAM, 0);
    char b[4];
    SHOW("recv on an unconnected socket", recv(c, b, 4, 0));
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    SHOW("getpeername unconnected", getpeername(c, (struct sockaddr *)&peer, &pl));
    SHOW("accept on a non-listener", accept(c, NULL, NULL));
    SHOW("bind with a short address", bind(c, (struct sockaddr *)&a, 4));
    close(c);
    int p[2];
    if (pipe(p) == 0) {
        SHOW("listen on a pipe", listen(p[0], 1));
        close(p[0]);
        close(p[1]);
    }
    SHOW("socket(AF_INET, SOCK_SEQPACKET)", socket(AF_INET, SOCK_SEQPACKET, 0) < 0 ? -1 : 0);
}

static volatile sig_atomic_t got_pipe;
static void on_pipe(int s) { (void)s; got_pipe = 1; }

static void epipe(void)
{
    section("EPIPE and SIGPIPE, MSG_NOSIGNAL");
    signal(SIGPIPE, on_pipe);
    int port, l = listener(&port);
    int c = connect_to(port);
    int a = accept(l, NULL, NULL);
    close(a);
    usleep(50000);
    char big[4096] = {0};
    /* The first write after the peer closed may still be accepted; keep writing. */
    ssize_t r = 0;
    for (int i = 0; i < 100 && r >= 0; i++)
        r = send(c, big, sizeof big, MSG_NOSIGNAL);
    printf("with MSG_NOSIGNAL: %s, no signal: %s\n", errname(errno), yesno(!got_pipe));
    SHOW("a plain write", write(c, big, sizeof big));
    printf("SIGPIPE: %s\n", yesno(got_pipe));
    signal(SIGPIPE, SIG_DFL);
    close(c);
    close(l);
}

static void nonblocking(void)
{
    section("non-blocking connect and accept, poll on sockets");
    int port, l = listener(&port);
    fcntl(l, F_SETFL, O_NONBLOCK);
    SHOW("accept with none waiting", accept(l, NULL, NULL));
    struct pollfd pl = {.fd = l, .events = POLLIN};
    SHOW("poll of an idle listener", poll(&pl, 1, 0));
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = lo4(port);
    errno = 0;
    int r = connect(c, (struct sockaddr *)&a, sizeof a);
    printf("non-blocking connect: %s\n", r == 0 ? "0" : errname(errno));
    struct pollfd pc = {.fd = c, .events = POLLOUT};
    SHOW("poll for the connection", poll(&pc, 1, 5000));
    printf("POLLOUT: %s\n", yesno(pc.revents & POLLOUT));
    int e = -1;
    socklen_t el = sizeof e;
    getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &el);
    printf("SO_ERROR: %d\n", e);
    SHOW("poll of the listener now", poll(&pl, 1, 5000));
    printf("POLLIN: %s\n", yesno(pl.revents & POLLIN));
    int s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    EXPECT("accept4", s >= 0);
    printf("accept4's O_NONBLOCK: %s, FD_CLOEXEC: %s\n", yesno(fcntl(s, F_GETFL) & O_NONBLOCK),
           yesno(fcntl(s, F_GETFD) & FD_CLOEXEC));
    struct pollfd ps = {.fd = s, .events = POLLIN};
    SHOW("poll with nothing to read", poll(&ps, 1, 0));
    send(c, "x", 1, 0);
    SHOW("poll once data came", poll(&ps, 1, 5000));
    close(c);
    char b[4];
    recv(s, b, sizeof b, 0);
    ps.events = POLLIN | POLLRDHUP;
    poll(&ps, 1, 5000);
    printf("after the peer closed: POLLIN %s POLLRDHUP %s\n", yesno(ps.revents & POLLIN),
           yesno(ps.revents & POLLRDHUP));
    SHOW("read at EOF", read(s, b, sizeof b));
    close(s);
    close(l);
}

static void timeouts(void)
{
    section("SO_RCVTIMEO");
    int port, l = listener(&port);
    int c = connect_to(port);
    int a = accept(l, NULL, NULL);
    struct timeval tv = {0, 100000};
    OKAY("set SO_RCVTIMEO 100 ms", setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    struct timeval back = {0, 0};
    socklen_t bl = sizeof back;
    getsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &back, &bl);
    printf("reads back: %ld.%06ld\n", (long)back.tv_sec, (long)back.tv_usec);
    char b[4];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    SHOW("recv times out", recv(a, b, sizeof b, 0));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    EXPECT("after 100 ms, not twice that", ms >= 95 && ms < 190);
    close(a);
    close(c);
    close(l);
}

static void udp(void)
{
    section("UDP over 127.0.0.1: sendto, recvfrom, connect, sendmmsg/recvmmsg");
    int r = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = lo4(0);
    socklen_t al = sizeof a;
    bind(r, (struct sockaddr *)&a, sizeof a);
    getsockname(r, (struct sockaddr *)&a, &al);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    EXPECT("sendto", sendto(s, "ping", 4, 0, (struct sockaddr *)&a, sizeof a) == 4);
    char b[16] = {0};
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    EXPECT("recvfrom", recvfrom(r, b, sizeof b, 0, (struct sockaddr *)&from, &fl) == 4 &&
                           !memcmp(b, "ping", 4));
    struct sockaddr_in sme;
    socklen_t sl = sizeof sme;
    getsockname(s, (struct sockaddr *)&sme, &sl);
    EXPECT("the sender got a port, and recvfrom names it", sme.sin_port != 0 &&
                                                               from.sin_port == sme.sin_port);
    EXPECT("from 127.0.0.1", from.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    EXPECT("a reply to that address", sendto(r, "pong", 4, 0, (struct sockaddr *)&from, fl) == 4 &&
                                          recv(s, b, sizeof b, 0) == 4 && !memcmp(b, "pong", 4));
    OKAY("connect the sender", connect(s, (struct sockaddr *)&a, sizeof a));
    struct mmsghdr m[3];
    struct iovec v[3];
    const char *words[3] = {"one", "three", "seven"};
    for (int i = 0; i < 3; i++) {
        v[i].iov_base = (void *)words[i];
        v[i].iov_len = strlen(words[i]);
        memset(&m[i], 0, sizeof m[i]);
        m[i].msg_hdr.msg_iov = &v[i];
        m[i].msg_hdr.msg_iovlen = 1;
    }
    printf("sendmmsg: %d\n", sendmmsg(s, m, 3, 0));
    char bufs[3][16];
    struct iovec rv[3];
    for (int i = 0; i < 3; i++) {
        rv[i].iov_base = bufs[i];
        rv[i].iov_len = sizeof bufs[i];
        memset(&m[i], 0, sizeof m[i]);
        m[i].msg_hdr.msg_iov = &rv[i];
        m[i].msg_hdr.msg_iovlen = 1;
    }
    int got = recvmmsg(r, m, 3, MSG_WAITFORONE, NULL);
    int total = got;
    while (total < 3 && got > 0) {
        got = recvmmsg(r, m + total, 3 - total, 0, NULL);
        total += got > 0 ? got : 0;
    }
    printf("recvmmsg: %d, lengths %u %u %u\n", total, m[0].msg_len, m[1].msg_len, m[2].msg_len);
    /* With a timeout: looked at after each datagram; what is left is written back. */
    struct timespec bad = {0, 2000000000};
    SHOW("recvmmsg with an unnormalized timeout", recvmmsg(r, m, 3, 0, &bad));
    printf("sendmmsg again: %d\n", sendmmsg(s, (struct mmsghdr[]){{.msg_hdr = {.msg_iov = &v[0], .msg_iovlen = 1}},
                                                                 {.msg_hdr = {.msg_iov = &v[1], .msg_iovlen = 1}}}, 2, 0));
    usleep(20000);
    struct timespec tmo = {5, 0};
    got = recvmmsg(r, m, 2, 0, &tmo);
    printf("recvmmsg with a 5 s timeout, 2 waiting: %d, the time left (4.x s) written back: %s\n",
           got, yesno(tmo.tv_sec == 4 && tmo.tv_nsec > 0));
    char small[2];
    send(s, "truncated", 9, 0);
    struct iovec tv = {small, sizeof small};
    struct msghdr mh = {.msg_iov = &tv, .msg_iovlen = 1};
    SHOW("a datagram bigger than the buffer", recvmsg(r, &mh, 0));
    printf("MSG_TRUNC: %s\n", yesno(mh.msg_flags & MSG_TRUNC));
    close(s);
    close(r);
}

static void ipv6(void)
{
    section("TCP over ::1");
    int l = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
    socklen_t al = sizeof a;
    OKAY("bind ::1", bind(l, (struct sockaddr *)&a, sizeof a));
    listen(l, 4);
    getsockname(l, (struct sockaddr *)&a, &al);
    int c = socket(AF_INET6, SOCK_STREAM, 0);
    OKAY("connect ::1", connect(c, (struct sockaddr *)&a, sizeof a));
    struct sockaddr_in6 peer;
    socklen_t pl = sizeof peer;
    int s = accept(l, (struct sockaddr *)&peer, &pl);
    EXPECT("the peer is ::1", s >= 0 && pl == sizeof peer &&
                                  !memcmp(&peer.sin6_addr, &in6addr_loopback, 16));
    EXPECT("data both ways", write(c, "6", 1) == 1 && read(s, &a, 1) == 1);
    close(s);
    close(c);
    close(l);
}

/* IPv4 and IPv6 listeners on one port, as Debian's nginx site has them (0.0.0.0:80 and
 * [::]:80 with IPV6_V6ONLY): each gets its own family's connections; without IPV6_V6ONLY
 * the IPv6 one takes both and the port is taken for IPv4 too; 127.0.0.1:P and [::1]:P are
 * different addresses. */
static int listen_on(int family, const char *addr, int port, int v6only)
{
    int l = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6)
        setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    struct sockaddr_storage ss = {0};
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, addr, &a->sin_addr);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, addr, &a->sin6_addr);
    }
    if (bind(l, (struct sockaddr *)&ss, family == AF_INET ? sizeof(struct sockaddr_in)
                                                          : sizeof(struct sockaddr_in6)) < 0 ||
        listen(l, 4) < 0) {
        int e = errno;
        close(l);
        errno = e;
        return -1;
    }
    return l;
}

static int port_of_fd(int fd)
{
    struct sockaddr_storage ss;
    socklen_t l = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &l);
    return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                         : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Connects to addr:port and says which of the two listeners took it. */
static void which(const char *label, const char *addr, int port, int l4, int l6)
{
    int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
    struct sockaddr_storage ss = {0};
    ss.ss_family = (sa_family_t)family;
    if (family == AF_INET) {
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr);
    } else {
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr);
    }
    int c = socket(family, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&ss, family == AF_INET ? sizeof(struct sockaddr_in)
                                                             : sizeof(struct sockaddr_in6)) < 0) {
        printf("%s: connect: %s\n", label, errname(errno));
        close(c);
        return;
    }
    usleep(10000);
    int a4 = l4 >= 0 ? accept(l4, NULL, NULL) : -1, a6 = l6 >= 0 ? accept(l6, NULL, NULL) : -1;
    printf("%s: taken by %s\n", label, a4 >= 0 && a6 < 0 ? "the IPv4 listener" : a6 >= 0 && a4 < 0 ? "the IPv6 listener" : "neither or both");
    close(a4);
    close(a6);
    close(c);
}

/* A listener of `first`'s family on a free port, then one of the other on the same port,
 * then a connection to each loopback address of that port. */
static void same_port(const char *label, int first_v6, const char *addr1, int v6only1,
                      const char *addr2, int v6only2)
{
    int a = listen_on(first_v6 ? AF_INET6 : AF_INET, addr1, 0, v6only1);
    int port = port_of_fd(a);
    int b = listen_on(first_v6 ? AF_INET : AF_INET6, addr2, port, v6only2);
    printf("%s: %s\n", label, b >= 0 ? "ok" : errname(errno));
    int l4 = first_v6 ? b : a, l6 = first_v6 ? a : b;
    which("127.0.0.1:P", "127.0.0.1", port, l4, l6);
    which("[::1]:P", "::1", port, l4, l6);
    close(a);
    close(b);
}

static void dual_stack(void)
{
    section("IPv4 and IPv6 on one port");
    same_port("0.0.0.0:P, then [::]:P IPV6_V6ONLY", 0, "0.0.0.0", 0, "::", 1);
    same_port("[::]:P without IPV6_V6ONLY, then 0.0.0.0:P", 1, "::", 0, "0.0.0.0", 0);
    same_port("127.0.0.1:P, then [::1]:P", 0, "127.0.0.1", 0, "::1", 0);
    int l4 = listen_on(AF_INET, "0.0.0.0", 0, 0);
    which("[::1]:P with only 0.0.0.0:P listening", "::1", port_of_fd(l4), l4, -1);
    close(l4);
    int ld = listen_on(AF_INET6, "::", 0, 0);
    int l6 = listen_on(AF_INET6, "::", port_of_fd(ld), 1);
    printf("[::]:P without IPV6_V6ONLY, then [::]:P with it: %s\n", l6 >= 0 ? "ok" : errname(errno));
    close(l6);
    close(ld);
    l6 = listen_on(AF_INET6, "::1", 0, 0);
    ld = listen_on(AF_INET6, "::", port_of_fd(l6), 0);
    printf("[::1]:P, then [::]:P without IPV6_V6ONLY: %s\n", ld >= 0 ? "ok" : errname(errno));
    close(ld);
    close(l6);
}

/* SO_REUSEPORT: listeners of one port that all set it share it (nginx's `reuseport`, a
 * listener per worker), and each connection is taken by exactly one of them; one without it
 * cannot join them, nor can they join a port held without it. */
static int reuse_listener(int port, int reuse)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEPORT, &reuse, sizeof reuse);
    struct sockaddr_in a = lo4(port);
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0) {
        int e = errno;
        close(l);
        errno = e;
        return -1;
    }
    return l;
}

/* Accepts from any of the n listeners until `want` connections are taken (2 s at most). */
static int take_all(const int *ls, int n, int want)
{
    int got = 0;
    for (int tries = 0; tries < 200 && got < want; tries++) {
        struct pollfd p[4];
        for (int i = 0; i < n; i++)
            p[i] = (struct pollfd){.fd = ls[i], .events = POLLIN};
        poll(p, (nfds_t)n, 10);
        for (int i = 0; i < n; i++) {
            int a;
            while ((a = accept(ls[i], NULL, NULL)) >= 0) {
                got++;
                close(a);
            }
        }
    }
    return got;
}

static void reuseport(void)
{
    section("SO_REUSEPORT");
    int a = reuse_listener(0, 1), port = port_of_fd(a);
    int b = reuse_listener(port, 1);
    printf("a second listener with SO_REUSEPORT: %s\n", b >= 0 ? "ok" : errname(errno));
    int c = reuse_listener(port, 0);
    printf("a third without it: %s\n", c >= 0 ? "ok" : errname(errno));
    int cl[12], n = 0;
    for (int i = 0; i < 8; i++)
        cl[n++] = connect_to(port);
    int both[2] = {a, b};
    printf("connections taken by the two: %d of 8\n", take_all(both, 2, 8));
    close(a);
    for (int i = 0; i < 4; i++)
        cl[n++] = connect_to(port);
    printf("the first closed, the second took: %d of 4\n", take_all(&b, 1, 4));
    int d = reuse_listener(port, 0);
    printf("without SO_REUSEPORT while the second holds it: %s\n", d >= 0 ? "ok" : errname(errno));
    int e = reuse_listener(port, 1);
    printf("with SO_REUSEPORT while the second holds it: %s\n", e >= 0 ? "ok" : errname(errno));
    close(b);
    close(e);
    int x = connect_to(port);
    printf("a connection with none left: %s\n", x >= 0 ? "connected" : errname(errno));
    int f = reuse_listener(0, 0), port2 = port_of_fd(f);
    int g = reuse_listener(port2, 1);
    printf("SO_REUSEPORT onto a port held without it: %s\n", g >= 0 ? "ok" : errname(errno));
    close(f);
    close(g);
    close(x);
    close(c);
    close(d);
    for (int i = 0; i < n; i++)
        close(cl[i]);

    /* UDP: datagrams from 8 senders, each taken by one of the two. */
    int u[3];
    for (int i = 0; i < 3; i++) {
        u[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        int on = i < 2;
        setsockopt(u[i], SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    }
    struct sockaddr_in ua = lo4(0);
    socklen_t ul = sizeof ua;
    bind(u[0], (struct sockaddr *)&ua, sizeof ua);
    getsockname(u[0], (struct sockaddr *)&ua, &ul);
    printf("UDP: a second socket with SO_REUSEPORT: %s\n",
           bind(u[1], (struct sockaddr *)&ua, sizeof ua) == 0 ? "ok" : errname(errno));
    printf("UDP: a third without it: %s\n",
           bind(u[2], (struct sockaddr *)&ua, sizeof ua) == 0 ? "ok" : errname(errno));
    for (int i = 0; i < 8; i++) {
        int snd = socket(AF_INET, SOCK_DGRAM, 0);
        sendto(snd, "d", 1, 0, (struct sockaddr *)&ua, sizeof ua);
        close(snd);
    }
    int got = 0;
    for (int tries = 0; tries < 100 && got < 8; tries++) {
        char ch;
        usleep(2000);
        while (recv(u[0], &ch, 1, 0) == 1 || recv(u[1], &ch, 1, 0) == 1)
            got++;
    }
    printf("UDP: datagrams taken by the two: %d of 8\n", got);
    for (int i = 0; i < 3; i++)
        close(u[i]);
}

static void scatter(void)
{
    section("writev, readv, sendmsg and recvmsg with several buffers");
    int port, l = listener(&port);
    int c = connect_to(port);
    int a = accept(l, NULL, NULL);
    struct iovec w[3] = {{"ab", 2}, {"", 0}, {"cdef", 4}};
    printf("writev: %ld\n", (long)writev(c, w, 3));
    char x[3] = {0}, y[8] = {0};
    struct iovec r[2] = {{x, 2}, {y, 4}};
    struct msghdr mh = {.msg_iov = r, .msg_iovlen = 2};
    SHOW("recvmsg(MSG_WAITALL)", recvmsg(a, &mh, MSG_WAITALL));
    printf("\"%s\" \"%s\"\n", x, y);
    struct msghdr sm = {.msg_iov = w, .msg_iovlen = 3};
    printf("sendmsg: %ld\n", (long)sendmsg(a, &sm, 0));
    memset(y, 0, sizeof y);
    struct iovec r2[1] = {{y, 6}};
    SHOW("readv", readv(c, r2, 1));
    printf("\"%s\"\n", y);
    close(a);
    close(c);
    close(l);
}

static void across_fork(void)
{
    section("a listener shared across fork; socketpair between processes; 4 MiB through");
    int port, l = listener(&port);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int a = accept(l, NULL, NULL);
        char *buf = malloc(1 << 22);
        fill_pattern(buf, 1 << 22, 7);
        size_t off = 0;
        while (off < (1u << 22)) {
            ssize_t n = write(a, buf + off, (1u << 22) - off);
            if (n <= 0)
                _exit(2);
            off += (size_t)n;
        }
        close(a);
        _exit(0);
    }
    close(l);
    int c = connect_to(port);
    uint64_t h = FNV_INIT;
    size_t total = 0;
    char buf[65536];
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0) {
        h = fnv1a(buf, (size_t)n, h);
        total += (size_t)n;
    }
    char *want = malloc(1 << 22);
    fill_pattern(want, 1 << 22, 7);
    int st = 0;
    waitpid(pid, &st, 0);
    EXPECT("the child accepted on the parent's listener and sent 4 MiB intact",
           total == (1u << 22) && h == fnv1a(want, 1u << 22, FNV_INIT));
    printf("child status: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 99);
    close(c);
    int sv[2];
    OKAY("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    pid = fork();
    if (pid == 0) {
        close(sv[0]);
        char b[8] = {0};
        if (read(sv[1], b, 4) != 4)
            _exit(3);
        b[0] = 'P';
        _exit(write(sv[1], b, 4) == 4 ? 0 : 4);
    }
    close(sv[1]);
    write(sv[0], "ping", 4);
    char b[8] = {0};
    SHOW("socketpair round trip", read(sv[0], b, 4));
    printf("got \"%s\"\n", b);
    waitpid(pid, &st, 0);
    printf("child status: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 99);
    close(sv[0]);
    OKAY("socketpair(SOCK_DGRAM)", socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    send(sv[0], "a", 1, 0);
    send(sv[0], "bcd", 3, 0);
    SHOW("first datagram", recv(sv[1], b, 8, 0));
    SHOW("second datagram", recv(sv[1], b, 8, 0));
    close(sv[0]);
    close(sv[1]);
}

/* sendfile of `n` bytes of `fd` (at *off, or its own position) to a connection; the bytes
 * that arrived, hashed. */
static off_t last_position; /* the file position after a sendfile without an offset */

static uint64_t sendfile_through(int fd, off_t *off, size_t n, long *sent, long *got)
{
    int port, l = listener(&port);
    int p[2];
    if (pipe(p))
        return 0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) { /* the sender; the parent reads as it goes (a buffer would fill) */
        int a = accept(l, NULL, NULL);
        long s = 0;
        while ((size_t)s < n) {
            ssize_t r = sendfile(a, fd, off, n - (size_t)s);
            if (r <= 0)
                break;
            s += r;
        }
        close(a);
        off_t o = off ? *off : lseek(fd, 0, SEEK_CUR); /* the sender's view */
        if (write(p[1], &s, sizeof s) != sizeof s || write(p[1], &o, sizeof o) != sizeof o)
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    int c = connect_to(port);
    uint64_t h = FNV_INIT;
    char buf[65536];
    ssize_t r;
    *got = 0;
    while ((r = read(c, buf, sizeof buf)) > 0) {
        h = fnv1a(buf, (size_t)r, h);
        *got += r;
    }
    close(c);
    close(l);
    off_t o = -1;
    if (read(p[0], sent, sizeof *sent) != sizeof *sent || read(p[0], &o, sizeof o) != sizeof o)
        *sent = -1;
    if (off)
        *off = o; /* the child's: an explicit offset is the caller's variable */
    else
        last_position = o;
    close(p[0]);
    waitpid(pid, NULL, 0);
    return h;
}

static void sendfiles(void)
{
    section("sendfile from files to a socket");
    /* A file of the image in uno (this program), a host file natively. */
    int fd = open("/proc/self/exe", O_RDONLY);
    struct stat st;
    fstat(fd, &st);
    char *all = malloc((size_t)st.st_size);
    EXPECT("read the program", pread(fd, all, (size_t)st.st_size, 0) == st.st_size);
    off_t off = 100;
    long sent, got;
    uint64_t h = sendfile_through(fd, &off, (size_t)st.st_size - 100, &sent, &got);
    EXPECT("all of the program but 100 bytes, intact",
           sent == got && got == st.st_size - 100 && h == fnv1a(all + 100, (size_t)got, FNV_INIT));
    EXPECT("the offset moved, the file position did not",
           off == st.st_size && lseek(fd, 0, SEEK_CUR) == 0);
    lseek(fd, 10, SEEK_SET);
    h = sendfile_through(fd, NULL, 1000, &sent, &got);
    EXPECT("from the file position", got == 1000 && h == fnv1a(all + 10, 1000, FNV_INIT));
    EXPECT("which moved", last_position == 1010);
    close(fd);
    free(all);
    /* A file written here (the writable layer in uno). */
    char path[] = "/tmp/sendfile.XXXXXX";
    fd = mkstemp(path);
    char *data = malloc(3 << 20);
    fill_pattern(data, 3 << 20, 11);
    EXPECT("write 3 MiB", write(fd, data, 3 << 20) == 3 << 20);
    lseek(fd, 0, SEEK_SET);
    h = sendfile_through(fd, NULL, 3 << 20, &sent, &got);
    EXPECT("3 MiB of a written file, intact", got == 3 << 20 && h == fnv1a(data, 3 << 20, FNV_INIT));
    printf("its position: %ld\n", (long)last_position);
    off = (3 << 20) - 5;
    h = sendfile_through(fd, &off, 100, &sent, &got);
    printf("past the end: %ld sent, offset at the end: %s\n", sent, yesno(off == 3 << 20));
    close(fd);
    unlink(path);
    free(data);
}

static void splices(void)
{
    section("splice: a file into a pipe, the pipe into a socket");
    char path[] = "/tmp/splice.XXXXXX";
    int fd = mkstemp(path);
    char *data = malloc(200000);
    fill_pattern(data, 200000, 5);
    EXPECT("write the file", write(fd, data, 200000) == 200000);
    int p[2];
    if (pipe(p))
        return;
    int port, l = listener(&port);
    int c = connect_to(port);
    int a = accept(l, NULL, NULL);
    loff_t off = 1000;
    long moved = 0;
    uint64_t h = FNV_INIT;
    char buf[65536];
    while (moved < 100000) {
        ssize_t in = splice(fd, &off, p[1], NULL, (size_t)(100000 - moved), 0);
        if (in <= 0)
            break;
        ssize_t left = in;
        while (left > 0) {
            ssize_t outn = splice(p[0], NULL, a, NULL, (size_t)left, SPLICE_F_MORE);
            if (outn <= 0)
                break;
            left -= outn;
            ssize_t r = read(c, buf, (size_t)outn);
            while (r > 0) {
                h = fnv1a(buf, (size_t)r, h);
                outn -= r;
                r = outn > 0 ? read(c, buf, (size_t)outn) : 0;
            }
        }
        moved += in;
    }
    EXPECT("100000 bytes from offset 1000, intact", moved == 100000 &&
                                                        h == fnv1a(data + 1000, 100000, FNV_INIT));
    printf("the offset: %ld, the file position: %ld\n", (long)off, (long)lseek(fd, 0, SEEK_CUR));
    SHOW("splice between two files", splice(fd, NULL, fd, NULL, 10, 0));
    SHOW("an offset for a pipe", splice(p[0], &off, a, NULL, 10, 0));
    SHOW("an empty pipe, SPLICE_F_NONBLOCK", splice(p[0], NULL, a, NULL, 10, SPLICE_F_NONBLOCK));
    close(a);
    close(c);
    close(l);
    close(p[0]);
    close(p[1]);
    close(fd);
    unlink(path);
    free(data);
}

int main(void)
{
    start_watchdog();
    tcp_basics();
    errors();
    epipe();
    nonblocking();
    timeouts();
    udp();
    ipv6();
    dual_stack();
    reuseport();
    scatter();
    across_fork();
    sendfiles();
    splices();
    printf("failures: %d\n", guest_failures);
    return guest_failures != 0;
}
