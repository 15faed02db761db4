/* Sends that outrun the reader, between two processes over 127.0.0.1 TCP and an AF_UNIX
 * socketpair: in uno these are the sends the libOS queues without waiting for the host
 * (abi/uno_abi.h, "Asynchronous sends"), so what is checked is what that must keep of Linux:
 * every byte arrives once and in order, a sender that outruns the reader is eventually told
 * EAGAIN (and is then woken by POLLOUT), bytes still unsent at close or shutdown(SHUT_WR) or
 * exit arrive before the end of file, and a connection the peer reset makes a later send
 * fail (EPIPE or ECONNRESET, SIGPIPE with EPIPE).
 *   sendq            the differential checks (stdout compared with Linux's)
 *   sendq count N    N small sends to a reader in a child: for counting the sender's VM
 *                    exits (tests/ts/guest.test.ts) */
#include "guest.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* A connected pair: TCP over 127.0.0.1 (tcp = 1) or an AF_UNIX socketpair. */
static int pair(int tcp, int sv[2])
{
    return tcp ? tcp_pair(sv, 0) : socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
}

/* Reads until end of file, checking the bytes against the pattern stream; their count, or
 * -1 if a byte differs or a read fails. */
static long read_all_checked(int fd, uint64_t seed)
{
    static unsigned char want[1 << 16], got[1 << 16];
    long total = 0;
    for (;;) {
        ssize_t n = read(fd, got, sizeof got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return total;
        /* The pattern is made per 64 KiB block of the stream: compare block by block. */
        for (ssize_t i = 0; i < n; i++) {
            long at = total + i;
            if (at % (long)sizeof want == 0)
                fill_pattern(want, sizeof want, seed + (uint64_t)(at / (long)sizeof want));
            if (got[i] != want[at % (long)sizeof want])
                return -1;
        }
        total += n;
    }
}

/* Sends `len` bytes of the pattern stream from `at` in pieces of `piece`; returns bytes sent
 * before the first failure (with errno set) or all of them. */
static long send_pattern(int fd, long at, long len, long piece, uint64_t seed, int flags)
{
    static unsigned char block[1 << 16];
    long done = 0;
    long cur_block = -1;
    while (done < len) {
        unsigned char buf[4096];
        long n = piece < len - done ? piece : len - done;
        if (n > (long)sizeof buf)
            n = sizeof buf;
        for (long i = 0; i < n; i++) {
            long pos = at + done + i;
            if (pos / (long)sizeof block != cur_block) {
                cur_block = pos / (long)sizeof block;
                fill_pattern(block, sizeof block, seed + (uint64_t)cur_block);
            }
            buf[i] = block[pos % (long)sizeof block];
        }
        ssize_t r = send(fd, buf, (size_t)n, flags);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return done;
        done += r;
    }
    return done;
}

/* A non-blocking sender that outruns its reader: EAGAIN comes; then the reader (a child)
 * reads everything while the sender goes on, woken by POLLOUT, for another MiB. */
static void outrun(int tcp)
{
    int sv[2];
    EXPECT("connected", pair(tcp, sv) == 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    long sent = send_pattern(sv[0], 0, 64L << 20, 1000, 7, MSG_NOSIGNAL);
    int e = errno;
    EXPECT("a sender that outruns its reader gets EAGAIN", sent < (64L << 20) && e == EAGAIN);
    long target = sent + (1L << 20); /* 1 MiB more once the reader reads */
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        long got = read_all_checked(sv[1], 7);
        _exit(got == target ? 0 : 1);
    }
    close(sv[1]);
    long total = sent;
    int stalls = 0;
    while (total < target && stalls < 1000) {
        long n = send_pattern(sv[0], total, target - total, 3000, 7, MSG_NOSIGNAL);
        total += n;
        if (total < target) {
            struct pollfd p = {.fd = sv[0], .events = POLLOUT};
            if (poll(&p, 1, 10000) != 1)
                stalls++;
        }
    }
    EXPECT("the sender got another MiB out after EAGAIN", total == target);
    close(sv[0]);
    int st;
    waitpid(pid, &st, 0);
    EXPECT("the reader got them all, in order, then end of file",
           WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Bytes still waiting when the sender closes, shuts its write side or exits, arrive before
 * the end of file: the reader starts only once the sender has done so. */
static void unsent_at_end(int tcp, const char *how)
{
    int sv[2];
    EXPECT("connected", pair(tcp, sv) == 0);
    int rd[2];
    if (pipe(rd))
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[1]);
        close(rd[0]);
        fcntl(sv[0], F_SETFL, O_NONBLOCK);
        long sent = send_pattern(sv[0], 0, 64L << 20, 700, 11, MSG_NOSIGNAL);
        if (write(rd[1], &sent, sizeof sent) != sizeof sent)
            _exit(2);
        if (!strcmp(how, "shutdown")) {
            shutdown(sv[0], SHUT_WR);
            char c;
            /* The reader answers after our end of file: the read side still works. */
            ssize_t n = read(sv[0], &c, 1);
            while (n < 0 && errno == EAGAIN) {
                struct pollfd p = {.fd = sv[0], .events = POLLIN};
                poll(&p, 1, 10000);
                n = read(sv[0], &c, 1);
            }
            _exit(n == 1 && c == '!' ? 0 : 3);
        }
        if (!strcmp(how, "close"))
            close(sv[0]);
        _exit(0);
    }
    close(sv[0]);
    close(rd[1]);
    long sent = -1;
    if (read(rd[0], &sent, sizeof sent) != sizeof sent)
        sent = -1;
    close(rd[0]);
    if (strcmp(how, "shutdown")) { /* close and exit: the sender is gone before we read */
        int st;
        waitpid(pid, &st, 0);
    }
    long got = read_all_checked(sv[1], 11);
    printf("after %s: every byte sent arrived, in order, then end of file: %s\n", how,
           yesno(sent > 0 && got == sent));
    if (!strcmp(how, "shutdown")) {
        EXPECT("the reply after end of file", write(sv[1], "!", 1) == 1);
        int st;
        waitpid(pid, &st, 0);
        EXPECT("the sender read it", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    close(sv[1]);
}

static volatile sig_atomic_t got_pipe;
static void on_pipe(int s)
{
    (void)s;
    got_pipe = 1;
}

/* The peer closed with bytes unread (a reset, for TCP): sends fail before long. */
static void peer_reset(int tcp)
{
    int sv[2];
    EXPECT("connected", pair(tcp, sv) == 0);
    signal(SIGPIPE, on_pipe);
    got_pipe = 0;
    EXPECT("a first send", send(sv[0], "hello", 5, 0) == 5);
    usleep(20000);
    close(sv[1]); /* "hello" unread: TCP answers with a reset */
    usleep(50000);
    ssize_t r = 0;
    int i;
    for (i = 0; i < 100 && r >= 0; i++)
        r = send(sv[0], "more", 4, 0);
    int e = errno;
    printf("a later send fails: %s, with EPIPE or ECONNRESET: %s\n", yesno(r < 0),
           yesno(e == EPIPE || e == ECONNRESET));
    r = send(sv[0], "again", 5, 0);
    e = errno;
    printf("and the next: %s, SIGPIPE: %s\n", errname(r < 0 ? e : 0), yesno(got_pipe));
    signal(SIGPIPE, SIG_DFL);
    close(sv[0]);
}

/* N sends of 50 bytes by this process (the instance's PID 1, whose exits are counted) to a
 * child that reads them as they come. */
static int count_mode(long n)
{
    int sv[2];
    if (pair(0, sv))
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        _exit(read_all_checked(sv[1], 3) == n * 50 ? 0 : 1);
    }
    close(sv[1]);
    long sent = send_pattern(sv[0], 0, n * 50, 50, 3, 0);
    close(sv[0]);
    int st;
    waitpid(pid, &st, 0);
    printf("sent %ld x 50 bytes: %s, received in order: %s\n", n, sent == n * 50 ? "ok" : "failed",
           yesno(WIFEXITED(st) && WEXITSTATUS(st) == 0));
    return sent == n * 50 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && !strcmp(argv[1], "count"))
        return count_mode(atol(argv[2]));
    for (int tcp = 1; tcp >= 0; tcp--) {
        const char *kind = tcp ? "TCP over 127.0.0.1" : "AF_UNIX socketpair";
        char title[96];
        snprintf(title, sizeof title, "%s: a sender that outruns its reader", kind);
        section(title);
        outrun(tcp);
        snprintf(title, sizeof title, "%s: unsent bytes at close, shutdown and exit", kind);
        section(title);
        unsent_at_end(tcp, "close");
        unsent_at_end(tcp, "shutdown");
        unsent_at_end(tcp, "exit");
        snprintf(title, sizeof title, "%s: the peer closed with bytes unread", kind);
        section(title);
        peer_reset(tcp);
    }
    return guest_failures ? 1 : 0;
}
