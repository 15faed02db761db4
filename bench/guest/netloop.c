/* Sockets inside one instance (the network benchmarks, bench/servers.ts): two processes
 * (fork) talking over the loopback, timed inside the program. Prints one JSON line:
 *   tcp_rtt_ns    1 byte there and back over a 127.0.0.1 TCP connection (TCP_NODELAY), per
 *                 round trip: N round trips per repetition
 *   unix_rtt_ns   the same over an AF_UNIX socketpair(SOCK_STREAM)
 *   tcp_bulk_mibs MIB MiB written by one process in 64 KiB writes and read by the other
 *                 (64 KiB reads) over a 127.0.0.1 TCP connection, MiB/s per repetition
 * each as min/median/max over REPS repetitions (after one shorter warm-up repetition).
 *   usage: netloop N MIB REPS [WHICH]   WHICH: any of tcp, unix, bulk (default all three; the
 *                                      others are reported as 0, e.g. to count a VM's exits
 *                                      for one of them with uno-vmm --verbose)
 * The same static binary runs natively and in uno. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchutil.h"

#define CHUNK (64 * 1024)

static void fail(const char *what)
{
    perror(what);
    exit(1);
}

static void xfer1(int fd, int wr)
{
    char b = 'x';
    ssize_t r;
    while ((r = wr ? write(fd, &b, 1) : read(fd, &b, 1)) < 0 && errno == EINTR)
        ;
    if (r != 1) {
        fprintf(stderr, "netloop: %s: %zd (%s)\n", wr ? "write" : "read", r,
                r < 0 ? strerror(errno) : "end of stream");
        exit(1);
    }
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            fail("netloop: write");
        p += r;
        n -= (size_t)r;
    }
}

static void reap(pid_t pid)
{
    int st;
    pid_t r;
    while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    if (r != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "netloop: child %d: waitpid %d, status %#x\n", (int)pid, (int)r, st);
        exit(1);
    }
}

static void nodelay(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one))
        fail("netloop: TCP_NODELAY");
}

/* A connected pair of TCP sockets over 127.0.0.1: fds[0] accepted, fds[1] the client. */
static void tcp_pair(int fds[2])
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0)
        fail("netloop: socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
        getsockname(l, (struct sockaddr *)&a, &al))
        fail("netloop: bind/listen");
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a))
        fail("netloop: connect");
    int s = accept(l, NULL, NULL);
    if (s < 0)
        fail("netloop: accept");
    close(l);
    nodelay(s);
    nodelay(c);
    fds[0] = s;
    fds[1] = c;
}

/* The child's side of a ping-pong: echo each byte until the end of the stream. */
static void echo(int fd)
{
    char b;
    for (;;) {
        ssize_t r = read(fd, &b, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            _exit(0);
        if (r < 0)
            _exit(1);
        xfer1(fd, 1);
    }
}

static double pingpong_once(int fd, long n)
{
    uint64_t t0 = mono_ns();
    for (long i = 0; i < n; i++) {
        xfer1(fd, 1);
        xfer1(fd, 0);
    }
    return (double)(mono_ns() - t0) / (double)n;
}

static struct stats pingpong(int fds[2], long n, int reps)
{
    pid_t pid = fork();
    if (pid < 0)
        fail("netloop: fork");
    if (pid == 0) {
        close(fds[0]);
        echo(fds[1]);
    }
    close(fds[1]);
    double *v = calloc((size_t)reps, sizeof *v);
    pingpong_once(fds[0], n / 10 + 1);
    for (int r = 0; r < reps; r++)
        v[r] = pingpong_once(fds[0], n);
    close(fds[0]);
    reap(pid);
    struct stats s = stats_of(v, reps);
    free(v);
    return s;
}

/* The child writes `bytes` bytes each time it reads a byte; the parent times the reading. */
static struct stats bulk(long mib, int reps)
{
    int fds[2];
    tcp_pair(fds);
    size_t bytes = (size_t)mib << 20;
    char *buf = malloc(CHUNK);
    memset(buf, 0x5a, CHUNK);
    pid_t pid = fork();
    if (pid < 0)
        fail("netloop: fork");
    if (pid == 0) {
        close(fds[0]);
        char b;
        for (;;) {
            ssize_t r = read(fds[1], &b, 1);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                _exit(r == 0 ? 0 : 1);
            size_t want = b == 'w' ? bytes / 8 : bytes;
            for (size_t done = 0; done < want; done += CHUNK)
                write_all(fds[1], buf, CHUNK);
        }
    }
    close(fds[1]);
    double *v = calloc((size_t)reps, sizeof *v);
    for (int r = -1; r < reps; r++) {
        size_t want = r < 0 ? bytes / 8 : bytes; /* r = -1: the warm-up */
        uint64_t t0 = mono_ns();
        char go = r < 0 ? 'w' : 'g'; /* 'w': the child writes the warm-up's amount */
        write_all(fds[0], &go, 1);
        size_t got = 0;
        while (got < want) {
            ssize_t k = read(fds[0], buf, CHUNK);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                fail("netloop: bulk read");
            got += (size_t)k;
        }
        double s = (double)(mono_ns() - t0) / 1e9;
        if (r >= 0)
            v[r] = (double)want / (1 << 20) / s;
    }
    close(fds[0]);
    reap(pid);
    free(buf);
    struct stats s = stats_of(v, reps);
    free(v);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: netloop N MIB REPS [tcp,unix,bulk]\n");
        return 2;
    }
    long n = arg_long(argc, argv, 1, 0);
    long mib = arg_long(argc, argv, 2, 0);
    int reps = (int)arg_long(argc, argv, 3, 0);
    signal(SIGPIPE, SIG_IGN);

    const char *which = argc == 5 ? argv[4] : "tcp,unix,bulk";

    int fds[2];
    struct stats tcp = {0, 0, 0}, unx = {0, 0, 0}, bw = {0, 0, 0};
    if (strstr(which, "tcp")) {
        tcp_pair(fds);
        tcp = pingpong(fds, n, reps);
    }
    if (strstr(which, "unix")) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds))
            fail("netloop: socketpair");
        unx = pingpong(fds, n, reps);
    }
    if (strstr(which, "bulk"))
        bw = bulk(mib, reps);

    printf("{\"prog\":\"netloop\",\"libc\":\"%s\",\"n\":%ld,\"mib\":%ld,\"reps\":%d,"
           "\"tcp_rtt_ns\":{\"min\":%.1f,\"median\":%.1f,\"max\":%.1f},"
           "\"unix_rtt_ns\":{\"min\":%.1f,\"median\":%.1f,\"max\":%.1f},"
           "\"tcp_bulk_mibs\":{\"min\":%.1f,\"median\":%.1f,\"max\":%.1f}}\n",
           BENCH_LIBC, n, mib, reps, tcp.min, tcp.median, tcp.max, unx.min, unx.median, unx.max,
           bw.min, bw.median, bw.max);
    return 0;
}
