/* AF_UNIX sockets with names between processes: stream, datagram and seqpacket sockets
 * bound to paths (the socket node in the file system, EADDRINUSE, unlink, ECONNREFUSED) and
 * to abstract names, autobind, names from getsockname/getpeername/recvfrom, and a listener
 * shared across fork. Files in a fresh directory under /tmp. Exits 1 if a CHECK failed. */
#include "guest.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

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
    char p[256];
    snprintf(p, sizeof p, "%s/plain", dir);
    unlink(p);
    rmdir(dir);
    printf("failures: %d\n", guest_failures);
    return guest_failures != 0;
}
