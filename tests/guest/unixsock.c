/* AF_UNIX sockets with names between processes: stream, datagram and seqpacket sockets
 * bound to paths (the socket node in the file system, EADDRINUSE, unlink, ECONNREFUSED) and
 * to abstract names, autobind, names from getsockname/getpeername/recvfrom, and a listener
 * shared across fork. Files in a fresh directory under /tmp. Exits 1 if a CHECK failed. */
#include "guest.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/eventfd.h>

static int eventfd_like(void) { return eventfd(0, 0); }

static socklen_t path_addr(struct sockaddr_un *a, const char *path)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof a->sun_path, "%s", path);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
}

static socklen_t abstract_addr(struct sockaddr_un *a, const char *name)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path + 1, name, strlen(name));
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
}

static void paths(const char *dir)
{
    section("stream sockets bound to a path");
    char p[256];
    snprintf(p, sizeof p, "%s/s.sock", dir);
    struct sockaddr_un a;
    socklen_t al = path_addr(&a, p);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    OKAY("bind", bind(l, (struct sockaddr *)&a, al));
    struct stat st;
    printf("the node is a socket: %s\n", yesno(stat(p, &st) == 0 && S_ISSOCK(st.st_mode)));
    int l2 = socket(AF_UNIX, SOCK_STREAM, 0);
    SHOW("bind again", bind(l2, (struct sockaddr *)&a, al));
    close(l2);
    int c0 = socket(AF_UNIX, SOCK_STREAM, 0);
    SHOW("connect before listen", connect(c0, (struct sockaddr *)&a, al));
    close(c0);
    OKAY("listen", listen(l, 4));
    struct sockaddr_un got;
    socklen_t gl = sizeof got;
    getsockname(l, (struct sockaddr *)&got, &gl);
    printf("getsockname gives the path bound: %s\n", yesno(gl == al && !strcmp(got.sun_path, p)));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        /* Relative to the working directory, too. */
        if (chdir(dir) || connect(c, (struct sockaddr *)&a, path_addr(&a, "s.sock")))
            _exit(2);
        struct sockaddr_un pa;
        socklen_t pl = sizeof pa;
        /* The listener's name as it was bound. */
        if (getpeername(c, (struct sockaddr *)&pa, &pl) || strcmp(pa.sun_path, p))
            _exit(3);
        _exit(write(c, "from child", 10) == 10 ? 0 : 4);
    }
    struct sockaddr_un peer;
    socklen_t pl = sizeof peer;
    int s = accept(l, (struct sockaddr *)&peer, &pl);
    EXPECT("accept", s >= 0);
    printf("an unnamed peer: length %u\n", pl);
    char b[16] = {0};
    SHOW("read", read(s, b, sizeof b - 1));
    printf("\"%s\"\n", b);
    int st2 = 0;
    waitpid(pid, &st2, 0);
    printf("child status: %d\n", WIFEXITED(st2) ? WEXITSTATUS(st2) : 99);
    close(s);
    close(l);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    SHOW("connect once closed", connect(c, (struct sockaddr *)&a, path_addr(&a, p)));
    unlink(p);
    SHOW("connect once unlinked", connect(c, (struct sockaddr *)&a, path_addr(&a, p)));
    snprintf(p, sizeof p, "%s/plain", dir);
    close(open(p, O_CREAT | O_WRONLY, 0644));
    SHOW("connect to a regular file", connect(c, (struct sockaddr *)&a, path_addr(&a, p)));
    snprintf(p, sizeof p, "%s/no/such/dir/s", dir);
    SHOW("bind in a missing directory", bind(c, (struct sockaddr *)&a, path_addr(&a, p)));
    close(c);
}

static void abstract(void)
{
    section("abstract names, autobind, datagrams with addresses");
    char name[64];
    snprintf(name, sizeof name, "uno-test-%d", (int)getpid());
    struct sockaddr_un a;
    socklen_t al = abstract_addr(&a, name);
    int l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    OKAY("bind abstract", bind(l, (struct sockaddr *)&a, al));
    OKAY("listen", listen(l, 4));
    int c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    OKAY("connect abstract", connect(c, (struct sockaddr *)&a, al));
    int s = accept(l, NULL, NULL);
    send(c, "one", 3, 0);
    send(c, "two!", 4, 0);
    char b[16];
    SHOW("seqpacket keeps boundaries", recv(s, b, sizeof b, 0));
    SHOW("and the next one", recv(s, b, sizeof b, 0));
    close(s);
    close(c);
    close(l);
    int c2 = socket(AF_UNIX, SOCK_STREAM, 0);
    SHOW("connect to a name no one has", connect(c2, (struct sockaddr *)&a, abstract_addr(&a, "uno-test-nobody")));
    close(c2);

    int r = socket(AF_UNIX, SOCK_DGRAM, 0);
    al = abstract_addr(&a, name);
    OKAY("bind a datagram socket", bind(r, (struct sockaddr *)&a, al));
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un me = {.sun_family = AF_UNIX};
    OKAY("autobind", bind(d, (struct sockaddr *)&me, sizeof(sa_family_t)));
    socklen_t ml = sizeof me;
    getsockname(d, (struct sockaddr *)&me, &ml);
    printf("autobind name: abstract %s, length %u\n", yesno(me.sun_path[0] == 0), ml);
    SHOW("sendto", sendto(d, "hi", 2, 0, (struct sockaddr *)&a, al));
    struct sockaddr_un from;
    socklen_t fl = sizeof from;
    SHOW("recvfrom", recvfrom(r, b, sizeof b, 0, (struct sockaddr *)&from, &fl));
    EXPECT("recvfrom names the sender", fl == ml && !memcmp(&from, &me, ml));
    SHOW("reply", sendto(r, "yo", 2, 0, (struct sockaddr *)&from, fl));
    SHOW("got the reply", recv(d, b, sizeof b, 0));
    int u = socket(AF_UNIX, SOCK_DGRAM, 0);
    sendto(u, "x", 1, 0, (struct sockaddr *)&a, al);
    fl = sizeof from;
    SHOW("from an unnamed sender", recvfrom(r, b, sizeof b, 0, (struct sockaddr *)&from, &fl));
    printf("its address length: %u\n", fl);
    close(u);
    close(d);
    close(r);
}

/* Sends `n` descriptors with one byte of data. */
static int send_fds(int sock, const int *fds, int n)
{
    char byte = 'F';
    struct iovec v = {&byte, 1};
    char buf[CMSG_SPACE(8 * sizeof(int))];
    memset(buf, 0, sizeof buf);
    struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = buf,
                       .msg_controllen = CMSG_SPACE((size_t)n * sizeof(int))};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
    memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
    return (int)sendmsg(sock, &m, 0);
}

/* Receives up to max descriptors; how many came (-1 on error); *trunc: MSG_CTRUNC. */
static int recv_fds(int sock, int *fds, int max, size_t room, int *trunc)
{
    char byte;
    struct iovec v = {&byte, 1};
    char buf[CMSG_SPACE(8 * sizeof(int))];
    struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = room};
    if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
        return -1;
    *trunc = (m.msg_flags & MSG_CTRUNC) != 0;
    int n = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < k && n < max; i++)
                memcpy(&fds[n++], CMSG_DATA(c) + (size_t)i * sizeof(int), sizeof(int));
        }
    return n;
}

static void passing(void)
{
    section("SCM_RIGHTS between processes, SCM_CREDENTIALS");
    int sv[2], p[2], sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || pipe(p) || socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
        return;
    int efd = eventfd_like();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        int got[4], trunc = 0;
        int n = recv_fds(sv[1], got, 4, CMSG_SPACE(3 * sizeof(int)), &trunc);
        if (n != 3 || trunc)
            _exit(10 + (n < 0 ? 0 : n));
        if (!(fcntl(got[0], F_GETFD) & FD_CLOEXEC))
            _exit(20);
        char b[8] = {0};
        if (read(got[0], b, 5) != 5 || strcmp(b, "piped"))
            _exit(21);
        if (write(got[1], "via socket", 10) != 10)
            _exit(22);
        uint64_t one = 0;
        if (read(got[2], &one, 8) != 8 || one != 7)
            _exit(23);
        /* Our credentials, to a parent that asked for them. */
        struct ucred cr = {.pid = getpid(), .uid = getuid(), .gid = getgid()};
        char byte = 'C';
        struct iovec v = {&byte, 1};
        char buf[CMSG_SPACE(sizeof cr)];
        struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf};
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_CREDENTIALS;
        c->cmsg_len = CMSG_LEN(sizeof cr);
        memcpy(CMSG_DATA(c), &cr, sizeof cr);
        if (sendmsg(sv[1], &m, 0) != 1)
            _exit(24);
        /* Too little room: MSG_CTRUNC, and the descriptors that did not fit are closed. */
        n = recv_fds(sv[1], got, 4, CMSG_LEN(sizeof(int)), &trunc);
        if (n != 1 || !trunc)
            _exit(30 + (n < 0 ? 0 : n));
        _exit(0);
    }
    close(sv[1]);
    int on = 1;
    setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
    int fds[3] = {p[0], sp[1], efd};
    SHOW("sendmsg with three descriptors", send_fds(sv[0], fds, 3));
    SHOW("write the pipe", write(p[1], "piped", 5));
    uint64_t seven = 7;
    SHOW("write the eventfd", write(efd, &seven, 8));
    char b[16] = {0};
    SHOW("read what the child sent on the passed socket", read(sp[0], b, 10));
    printf("\"%s\"\n", b);
    char byte;
    struct iovec v = {&byte, 1};
    char buf[CMSG_SPACE(sizeof(struct ucred))];
    struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf};
    SHOW("recvmsg of the credentials", recvmsg(sv[0], &m, 0));
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    struct ucred cr = {0};
    if (c && c->cmsg_type == SCM_CREDENTIALS)
        memcpy(&cr, CMSG_DATA(c), sizeof cr);
    printf("the child's pid came: %s\n", yesno(cr.pid == pid));
    int two[2] = {p[0], efd};
    SHOW("two more descriptors", send_fds(sv[0], two, 2));
    int st = 0;
    waitpid(pid, &st, 0);
    printf("child status: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 99);
    close(sv[0]);
    close(p[0]);
    close(p[1]);
    close(sp[0]);
    close(sp[1]);
    close(efd);
}

int main(void)
{
    start_watchdog();
    char dir[] = "/tmp/unixsock.XXXXXX";
    if (!mkdtemp(dir)) {
        printf("mkdtemp: %s\n", errname(errno));
        return 1;
    }
    paths(dir);
    abstract();
    passing();
    char p[256];
    snprintf(p, sizeof p, "%s/plain", dir);
    unlink(p);
    rmdir(dir);
    printf("failures: %d\n", guest_failures);
    return guest_failures != 0;
}
