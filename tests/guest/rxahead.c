/* Reading a TCP socket after epoll reported it, over 127.0.0.1: in uno the VMM receives the
 * bytes during the wait into a buffer of the libOS (abi/uno_abi.h, "Receiving ahead"), so
 * what is checked is what that must keep of Linux: level-triggered epoll, poll and select
 * still say readable while bytes wait there (and not once they are read), edge-triggered
 * and one-shot registrations report what Linux reports, FIONREAD, MSG_PEEK, MSG_TRUNC and
 * MSG_WAITALL count those bytes, order is kept when more arrive behind them, a socket made
 * blocking again still gets them first, the end of file comes after them, and a new socket
 * on a reused descriptor starts empty. */
#include "guest.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* A connected TCP pair over 127.0.0.1, the accepted end sv[1] non-blocking. */
static int pair(int sv[2]) { return tcp_pair(sv, SOCK_NONBLOCK); }

static int watch(int ep, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev = {.events = events, .data.u64 = data};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* epoll_wait: "n events: data/EPOLLIN..." with the bits a test cares about. */
static void show_wait(const char *label, int ep, int timeout_ms)
{
    struct epoll_event evs[4];
    int n = epoll_wait(ep, evs, 4, timeout_ms);
    printf("%s: %d", label, n);
    for (int i = 0; i < n; i++)
        printf(" %llu:%s%s", (unsigned long long)evs[i].data.u64,
               evs[i].events & EPOLLIN ? "IN" : "-", evs[i].events & EPOLLOUT ? ",OUT" : "");
    printf("\n");
}

static void show_recv(const char *label, int fd, size_t len, int flags)
{
    char buf[256] = {0};
    errno = 0;
    ssize_t n = recv(fd, buf, len < sizeof buf ? len : sizeof buf - 1, flags);
    if (n < 0)
        printf("%s: -1 %s\n", label, errname(errno));
    else
        printf("%s: %zd \"%.*s\"\n", label, n, (int)n, buf);
}

static int nread(int fd)
{
    int n = -1;
    return ioctl(fd, FIONREAD, &n) < 0 ? -1 : n;
}

static void level_triggered(void)
{
    section("level-triggered");
    int sv[2], ep = epoll_create1(0);
    if (pair(sv) || ep < 0)
        return (void)printf("setup failed: %s\n", errname(errno));
    OKAY("watch", watch(ep, sv[1], EPOLLIN, 7));
    show_wait("nothing yet", ep, 0);
    SHOW("send", send(sv[0], "hello world", 11, 0));
    show_wait("wait", ep, 2000);
    SHOW("FIONREAD", nread(sv[1]));
    show_recv("peek 5", sv[1], 5, MSG_PEEK);
    struct pollfd p = {.fd = sv[1], .events = POLLIN | POLLOUT};
    SHOW("poll", poll(&p, 1, 0));
    printf("poll revents: %s%s\n", p.revents & POLLIN ? "IN" : "-", p.revents & POLLOUT ? ",OUT" : "");
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(sv[1], &rd);
    struct timeval tv = {5, 0};
    SHOW("select", select(sv[1] + 1, &rd, NULL, NULL, &tv));
    show_recv("recv 3", sv[1], 3, 0);
    show_wait("still readable", ep, 0);
    SHOW("FIONREAD", nread(sv[1]));
    SHOW("recv 3 MSG_TRUNC", recv(sv[1], NULL, 3, MSG_TRUNC));
    show_recv("recv the rest", sv[1], 100, 0);
    show_wait("nothing left", ep, 0);
    p.revents = 0;
    p.events = POLLIN;
    SHOW("poll, nothing left", poll(&p, 1, 0));
    show_recv("recv again", sv[1], 100, 0);
    close(sv[0]);
    close(sv[1]);
    close(ep);
}

static void edge_triggered(void)
{
    section("edge-triggered");
    int sv[2], ep = epoll_create1(0);
    if (pair(sv) || ep < 0)
        return (void)printf("setup failed: %s\n", errname(errno));
    OKAY("watch", watch(ep, sv[1], EPOLLIN | EPOLLET, 8));
    SHOW("send", send(sv[0], "abc", 3, 0));
    show_wait("the edge", ep, 2000);
    show_wait("no new edge", ep, 0);
    show_recv("recv 1", sv[1], 1, 0);
    show_wait("still no edge", ep, 0);
    SHOW("send more", send(sv[0], "def", 3, 0));
    show_wait("a new edge", ep, 2000);
    usleep(20000); /* all of it has arrived */
    show_recv("recv all", sv[1], 100, 0);
    show_recv("recv again", sv[1], 100, 0);
    close(sv[0]);
    close(sv[1]);
    close(ep);
}

static void one_shot(void)
{
    section("one-shot");
    int sv[2], ep = epoll_create1(0);
    if (pair(sv) || ep < 0)
        return (void)printf("setup failed: %s\n", errname(errno));
    OKAY("watch", watch(ep, sv[1], EPOLLIN | EPOLLONESHOT, 9));
    SHOW("send", send(sv[0], "0123456789", 10, 0));
    show_wait("fires", ep, 2000);
    show_wait("disarmed", ep, 0);
    show_recv("recv 4", sv[1], 4, 0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 10};
    OKAY("re-arm", epoll_ctl(ep, EPOLL_CTL_MOD, sv[1], &ev));
    show_wait("fires again", ep, 2000);
    show_recv("recv the rest", sv[1], 100, 0);
    close(sv[0]);
    close(sv[1]);
    close(ep);
}

/* Many sends of a pattern from a child, read through epoll in odd-sized pieces: every byte
 * once and in order, whatever waited in the buffer when more came. */
static void stream(void)
{
    section("stream");
    int sv[2], ep = epoll_create1(0);
    if (pair(sv) || ep < 0)
        return (void)printf("setup failed: %s\n", errname(errno));
    enum { TOTAL = 3 << 20 };
    static unsigned char pat[TOTAL], got[TOTAL];
    fill_pattern(pat, sizeof pat, 42);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[1]);
        for (long at = 0; at < TOTAL;) {
            long n = 1 + (at * 7919) % 9000;
            if (n > TOTAL - at)
                n = TOTAL - at;
            ssize_t w = send(sv[0], pat + at, (size_t)n, 0);
            if (w < 0)
                _exit(1);
            at += w;
            if (at % 5 == 0)
                usleep(100);
        }
        _exit(0);
    }
    close(sv[0]);
    OKAY("watch", watch(ep, sv[1], EPOLLIN | EPOLLRDHUP, 11));
    long total = 0, reads = 0;
    bool eof = false;
    while (!eof) {
        struct epoll_event e;
        if (epoll_wait(ep, &e, 1, 10000) != 1)
            break;
        size_t want = 1 + (size_t)(reads * 104729 % 6000);
        if (want > (size_t)(TOTAL - total))
            want = TOTAL - total ? (size_t)(TOTAL - total) : 1;
        ssize_t n = recv(sv[1], got + total, want, 0);
        reads++;
        if (n == 0)
            eof = true;
        else if (n > 0)
            total += n;
        else if (errno != EAGAIN)
            break;
    }
    int status = -1;
    waitpid(pid, &status, 0);
    printf("sender: %d\n", status);
    printf("bytes: %ld, end of file: %s\n", total, yesno(eof));
    EXPECT("all of them, in order", total == TOTAL && !memcmp(got, pat, TOTAL));
    close(sv[1]);
    close(ep);
}

static void blocking_again(void)
{
    section("blocking again");
    int sv[2], ep = epoll_create1(0);
    if (pair(sv) || ep < 0)
        return (void)printf("setup failed: %s\n", errname(errno));
    OKAY("watch", watch(ep, sv[1], EPOLLIN, 12));
    SHOW("send", send(sv[0], "first.", 6, 0));
    show_wait("wait", ep, 2000);
    OKAY("blocking", fcntl(sv[1], F_SETFL, 0));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(50000);
        _exit(send(sv[0], "second", 6, 0) == 6 ? 0 : 1);
    }
    show_recv("MSG_WAITALL 12", sv[1], 12, MSG_WAITALL);
    int status = -1;
    waitpid(pid, &status, 0);
    printf("sender: %d\n", status);
    SHOW("send the end", send(sv[0], "end", 3, 0));
    OKAY("close the sender", close(sv[0]));
    show_recv("blocking recv", sv[1], 100, MSG_WAITALL);
    show_recv("end of file", sv[1], 100, 0);
    close(sv[1]);
    close(ep);
}

static void end_of_file(void)
{
    section("end of file and reuse");
    int sv[2], ep = epoll_create1(0);
    if (pair(sv) || ep < 0)
        return (void)printf("setup failed: %s\n", errname(errno));
    OKAY("watch", watch(ep, sv[1], EPOLLIN, 13));
    SHOW("send", send(sv[0], "bye", 3, 0));
    OKAY("close the sender", close(sv[0]));
    usleep(20000);
    show_wait("wait", ep, 2000);
    show_recv("recv", sv[1], 100, 0);
    show_recv("end of file", sv[1], 100, 0);
    /* Unread bytes at close, then a new connection on the same descriptor numbers. */
    int old = sv[1];
    if (pair(sv))
        return (void)printf("setup failed: %s\n", errname(errno));
    SHOW("send", send(sv[0], "xyz", 3, 0));
    OKAY("watch", watch(ep, sv[1], EPOLLIN, 14));
    show_wait("wait", ep, 2000);
    OKAY("close with bytes unread", close(sv[1]));
    close(sv[0]);
    close(old);
    if (pair(sv))
        return (void)printf("setup failed: %s\n", errname(errno));
    OKAY("watch", watch(ep, sv[1], EPOLLIN, 15));
    show_wait("a new connection: nothing yet", ep, 0);
    SHOW("FIONREAD", nread(sv[1]));
    show_recv("recv", sv[1], 100, 0);
    SHOW("send", send(sv[0], "new", 3, 0));
    show_wait("wait", ep, 2000);
    show_recv("recv", sv[1], 100, 0);
    close(sv[0]);
    close(sv[1]);
    close(ep);
}

/* N request/reply rounds with a client in a child: this process waits in epoll_wait and
 * reads what it reported, the way an event loop does (for counting its VM exits:
 * tests/ts/vmm.test.ts). */
static int count(int rounds)
{
    int sv[2], ep = epoll_create1(0);
    if (pair(sv) || ep < 0 || watch(ep, sv[1], EPOLLIN, 1))
        return 2;
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[1]);
        char c;
        for (int i = 0; i < rounds; i++)
            if (send(sv[0], "ping!", 5, 0) != 5 || recv(sv[0], &c, 1, MSG_WAITALL) != 1)
                _exit(1);
        _exit(0);
    }
    close(sv[0]);
    int got = 0;
    while (got < rounds) {
        struct epoll_event e;
        char buf[64];
        if (epoll_wait(ep, &e, 1, 10000) != 1)
            return 3;
        ssize_t n = recv(sv[1], buf, sizeof buf, 0);
        if (n <= 0 || n % 5)
            return 4;
        for (ssize_t i = 0; i < n / 5; i++)
            if (send(sv[1], "!", 1, 0) != 1)
                return 5;
        got += (int)(n / 5);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("%d rounds: %s\n", rounds, status == 0 ? "ok" : "the client failed");
    return status != 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "count"))
        return count(atoi(argv[2]));
    start_watchdog();
    level_triggered();
    edge_triggered();
    one_shot();
    stream();
    blocking_again();
    end_of_file();
    printf("failures: %d\n", guest_failures);
    return guest_failures != 0;
}
