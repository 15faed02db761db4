/* poll, ppoll, select and pselect over pipes (readable, writable, POLLHUP once the writer is
 * gone, POLLERR once the reader is gone, a full pipe not writable), regular files and
 * /dev/null (always ready), bad descriptors (POLLNVAL, EBADF), timeouts (0 and 50 ms),
 * wake-ups by a child writing, reading or closing, interruption by a signal (EINTR even with
 * SA_RESTART; ppoll/pselect with a signal mask), and stdin at EOF.
 * Exits 1 (with a message on stderr) if a check failed. */
#include "guest.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Waits for a child that prints nothing itself; a failure unless it exited with status 0. */
static void wait_ok(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(st) || WEXITSTATUS(st)) {
        printf("child failed: %#x\n", st);
        guest_failures++;
    }
}

/* The names of the bits in a revents value (two buffers: usable twice in one printf). */
static const char *ev(short e)
{
    static char bufs[2][128];
    static int which;
    char *b = bufs[which ^= 1];
    b[0] = 0;
    static const struct {
        short bit;
        const char *name;
    } names[] = {{POLLIN, "POLLIN"},         {POLLPRI, "POLLPRI"},     {POLLOUT, "POLLOUT"},
                 {POLLERR, "POLLERR"},       {POLLHUP, "POLLHUP"},     {POLLNVAL, "POLLNVAL"},
                 {POLLRDNORM, "POLLRDNORM"}, {POLLWRNORM, "POLLWRNORM"}, {POLLRDHUP, "POLLRDHUP"}};
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
        if (e & names[i].bit) {
            if (b[0]) strcat(b, "|");
            strcat(b, names[i].name);
            e &= (short)~names[i].bit;
        }
    if (e) snprintf(b + strlen(b), 128 - strlen(b), "%s%#x", b[0] ? "|" : "", e);
    if (!b[0]) strcpy(b, "0");
    return b;
}

/* poll one descriptor for `events` with `timeout`; prints "label: R revents=…". */
static int poll1(const char *label, int fd, short events, int timeout)
{
    struct pollfd p = {.fd = fd, .events = events, .revents = (short)0x7777};
    errno = 0;
    int r = poll(&p, 1, timeout);
    if (r < 0) printf("%s: -1 %s\n", label, errname(errno));
    else printf("%s: %d revents=%s\n", label, r, ev(p.revents));
    return r;
}

static void pipes(void)
{
    section("poll on a pipe");
    int p[2];
    xpipe(p);
    poll1("empty, read end, POLLIN", p[0], POLLIN, 0);
    poll1("empty, write end, POLLOUT", p[1], POLLOUT, 0);
    poll1("empty, read end, POLLIN|POLLOUT", p[0], POLLIN | POLLOUT, 0);
    struct pollfd two[2] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}};
    int r = poll(two, 2, 0);
    printf("both ends at once: %d, read end %s, write end %s\n", r, ev(two[0].revents),
           ev(two[1].revents));
    if (write(p[1], "abc", 3) != 3) guest_failures++;
    poll1("with data, read end, POLLIN", p[0], POLLIN, 0);
    poll1("with data, read end, POLLRDNORM", p[0], POLLRDNORM, 0);
    poll1("with data, read end, events 0", p[0], 0, 0);
    close(p[1]);
    poll1("writer closed, data left", p[0], POLLIN, 0);
    char buf[8];
    if (read(p[0], buf, sizeof buf) != 3) guest_failures++;
    poll1("writer closed, drained", p[0], POLLIN, 0);
    poll1("writer closed, drained, events 0", p[0], 0, 0);
    close(p[0]);

    xpipe(p);
    close(p[0]);
    poll1("reader closed, write end, POLLOUT", p[1], POLLOUT, 0);
    poll1("reader closed, write end, events 0", p[1], 0, 0);
    close(p[1]);

    section("poll on a full pipe");
    xpipe(p);
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    static char chunk[4096];
    while (write(p[1], chunk, sizeof chunk) > 0) {}
    poll1("full, write end, POLLOUT", p[1], POLLOUT, 0);
    poll1("full, read end, POLLIN", p[0], POLLIN, 0);
    /* drain it completely: writable again */
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    while (read(p[0], chunk, sizeof chunk) > 0) {}
    poll1("drained, write end, POLLOUT", p[1], POLLOUT, 0);
    close(p[0]);
    close(p[1]);

    section("poll: bad descriptors and arguments");
    struct pollfd bad[3] = {{999, POLLIN, 0}, {-1, POLLIN, 0x55}, {0, 0, 0}};
    r = poll(bad, 2, 0);
    printf("fd 999 and fd -1: %d, revents %s and %s\n", r, ev(bad[0].revents), ev(bad[1].revents));
    OKAY("poll(NULL, 0, 0)", poll(NULL, 0, 0));
    errno = 0;
    r = (int)syscall(SYS_poll, (struct pollfd *)8, 1, 0);
    printf("poll on unmapped memory: %s\n", r < 0 ? errname(errno) : "ok");
    errno = 0;
    r = (int)syscall(SYS_poll, bad, 1u << 30, 0);
    printf("poll with nfds > RLIMIT_NOFILE: %s\n", r < 0 ? errname(errno) : "ok");
}

static void files(void)
{
    section("regular files and /dev/null are always ready");
    char path[64];
    snprintf(path, sizeof path, "/tmp/uno-poll-%d", (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    unlink(path);
    poll1("empty regular file, POLLIN|POLLOUT", fd, POLLIN | POLLOUT, 0);
    poll1("empty regular file, POLLIN, timeout 1000", fd, POLLIN, 1000);
    int n = open("/dev/null", O_RDWR);
    poll1("/dev/null, POLLIN|POLLOUT", n, POLLIN | POLLOUT, 0);
    fd_set rs, ws;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    FD_SET(fd, &rs);
    FD_SET(fd, &ws);
    FD_SET(n, &rs);
    struct timeval tv = {0, 0};
    int r = select((fd > n ? fd : n) + 1, &rs, &ws, NULL, &tv);
    printf("select on both: %d, file readable %s writable %s, /dev/null readable %s\n", r,
           yesno(FD_ISSET(fd, &rs)), yesno(FD_ISSET(fd, &ws)), yesno(FD_ISSET(n, &rs)));
    close(fd);
    close(n);
}

static void timeouts(void)
{
    section("timeouts");
    int p[2];
    xpipe(p);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    poll1("poll, timeout 0", p[0], POLLIN, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    poll1("poll, timeout 50", p[0], POLLIN, 50);
    long ms = ms_since(&t0);
    printf("waited 50..2000 ms: %s\n", yesno(ms >= 50 && ms < 2000));

    struct pollfd pf = {p[0], POLLIN, 0};
    struct timespec ts = {0, 50 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = ppoll(&pf, 1, &ts, NULL);
    ms = ms_since(&t0);
    printf("ppoll 50 ms: %d, waited 50..2000 ms: %s\n", r, yesno(ms >= 50 && ms < 2000));

    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = {0, 50000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = select(p[0] + 1, &rs, NULL, NULL, &tv);
    ms = ms_since(&t0);
    printf("select 50 ms: %d, waited 50..2000 ms: %s, set cleared: %s, timeval left at 0: %s\n", r,
           yesno(ms >= 50 && ms < 2000), yesno(!FD_ISSET(p[0], &rs)),
           yesno(tv.tv_sec == 0 && tv.tv_usec == 0));

    FD_SET(p[0], &rs);
    ts.tv_sec = 0;
    ts.tv_nsec = 50 * 1000 * 1000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = pselect(p[0] + 1, &rs, NULL, NULL, &ts, NULL);
    ms = ms_since(&t0);
    printf("pselect 50 ms: %d, waited 50..2000 ms: %s\n", r, yesno(ms >= 50 && ms < 2000));

    /* select with no descriptors is a sleep */
    tv.tv_sec = 0;
    tv.tv_usec = 30000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = select(0, NULL, NULL, NULL, &tv);
    ms = ms_since(&t0);
    printf("select(0, NULL, NULL, NULL, 30 ms): %d, waited 30..2000 ms: %s\n", r,
           yesno(ms >= 30 && ms < 2000));
    /* a remaining time is left in the timeval when a descriptor is ready first */
    if (write(p[1], "x", 1) != 1) guest_failures++;
    FD_SET(p[0], &rs);
    tv.tv_sec = 5;
    tv.tv_usec = 0;
    r = select(p[0] + 1, &rs, NULL, NULL, &tv);
    printf("select ready at once: %d, timeval left between 4 and 5 s: %s\n", r,
           yesno(tv.tv_sec == 4 || (tv.tv_sec == 5 && tv.tv_usec == 0)));
    close(p[0]);
    close(p[1]);
}

static void selects(void)
{
    section("select on pipes");
    int p[2], q[2];
    xpipe(p);
    xpipe(q);
    fd_set rs, ws;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    FD_SET(p[0], &rs);
    FD_SET(q[0], &rs);
    FD_SET(p[1], &ws);
    int nfds = 1 + (p[0] > q[0] ? (p[0] > p[1] ? p[0] : p[1]) : (q[0] > p[1] ? q[0] : p[1]));
    struct timeval tv = {0, 0};
    if (write(q[1], "x", 1) != 1) guest_failures++;
    int r = select(nfds, &rs, &ws, NULL, &tv);
    printf("select: %d; p readable %s, q readable %s, p writable %s\n", r, yesno(FD_ISSET(p[0], &rs)),
           yesno(FD_ISSET(q[0], &rs)), yesno(FD_ISSET(p[1], &ws)));
    close(q[1]);
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    FD_SET(q[0], &rs);
    tv.tv_usec = 0;
    char c;
    if (read(q[0], &c, 1) != 1) guest_failures++;
    r = select(nfds, &rs, NULL, NULL, &tv);
    printf("writer of q closed, q drained: %d; q readable (EOF) %s, p readable %s\n", r,
           yesno(FD_ISSET(q[0], &rs)), yesno(FD_ISSET(p[0], &rs)));
    close(p[0]);
    FD_ZERO(&ws);
    FD_SET(p[1], &ws);
    fd_set es;
    FD_ZERO(&es);
    FD_SET(p[1], &es);
    r = select(nfds, NULL, &ws, &es, &tv);
    printf("reader of p closed: %d; p writable %s, exceptional %s\n", r, yesno(FD_ISSET(p[1], &ws)),
           yesno(FD_ISSET(p[1], &es)));
    close(p[1]);
    close(q[0]);
    FD_ZERO(&rs);
    FD_SET(p[0], &rs); /* closed */
    errno = 0;
    r = select(p[0] + 1, &rs, NULL, NULL, &tv);
    printf("select on a closed descriptor: %s\n", r < 0 ? errname(errno) : "ok");
    errno = 0;
    r = select(-1, NULL, NULL, NULL, &tv);
    printf("select with nfds -1: %s\n", r < 0 ? errname(errno) : "ok");
    tv.tv_usec = -1;
    errno = 0;
    r = select(0, NULL, NULL, NULL, &tv);
    printf("select with a negative timeout: %s\n", r < 0 ? errname(errno) : "ok");
}

static void wakeups(void)
{
    section("poll and select wake up when a child acts");
    int p[2];
    xpipe(p);
    pid_t pid = xfork();
    if (pid == 0) {
        close(p[0]);
        usleep(20000);
        if (write(p[1], "x", 1) != 1) _exit(1);
        usleep(20000);
        _exit(0); /* closes the write end */
    }
    close(p[1]);
    int r1 = poll1("poll(5000) until the child writes", p[0], POLLIN, 5000);
    char c;
    if (read(p[0], &c, 1) != 1) guest_failures++;
    poll1("poll(5000) until the child exits", p[0], POLLIN, 5000);
    wait_ok(pid);
    close(p[0]);
    (void)r1;

    xpipe(p);
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    static char chunk[4096];
    while (write(p[1], chunk, sizeof chunk) > 0) {}
    pid = xfork();
    if (pid == 0) {
        close(p[1]);
        usleep(20000);
        while (read(p[0], chunk, sizeof chunk) == sizeof chunk) {}
        _exit(0);
    }
    close(p[0]);
    fd_set ws;
    FD_ZERO(&ws);
    FD_SET(p[1], &ws);
    struct timeval tv = {5, 0};
    int r = select(p[1] + 1, NULL, &ws, NULL, &tv);
    printf("select(5 s) on a full pipe until the child reads: %d writable %s\n", r,
           yesno(FD_ISSET(p[1], &ws)));
    close(p[1]);
    wait_ok(pid);
}

static volatile sig_atomic_t hits;
static void on_sig(int s) { (void)s, hits++; }

static void interrupts(void)
{
    section("poll and select interrupted by a signal: EINTR even with SA_RESTART");
    struct sigaction sa = {0};
    sa.sa_handler = on_sig;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    int p[2];
    xpipe(p);
    struct itimerval it = {{0, 0}, {0, 100000}}; /* 100 ms: the call is surely blocking by then */
    hits = 0;
    setitimer(ITIMER_REAL, &it, NULL);
    poll1("poll(5000) on an empty pipe", p[0], POLLIN, 5000);
    printf("handler ran: %s\n", yesno(hits == 1));
    hits = 0;
    setitimer(ITIMER_REAL, &it, NULL);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = {5, 0};
    errno = 0;
    int r = select(p[0] + 1, &rs, NULL, NULL, &tv);
    printf("select(5 s): %s, handler ran: %s\n", r < 0 ? errname(errno) : "returned", yesno(hits == 1));

    section("ppoll and pselect with a signal mask");
    sigset_t m, empty, now;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    sigemptyset(&empty);
    sigprocmask(SIG_BLOCK, &m, NULL);
    hits = 0;
    pid_t pid = xfork();
    if (pid == 0) {
        kill(getppid(), SIGUSR1);
        _exit(0);
    }
    wait_ok(pid); /* SIGUSR1 is pending (blocked) now */
    struct pollfd pf = {p[0], POLLIN, 0};
    struct timespec ts = {5, 0};
    errno = 0;
    r = ppoll(&pf, 1, &ts, &empty);
    sigprocmask(SIG_SETMASK, NULL, &now);
    printf("ppoll unblocking a pending SIGUSR1: %s, handler ran: %s, mask restored: %s\n",
           r < 0 ? errname(errno) : "returned", yesno(hits == 1), yesno(sigismember(&now, SIGUSR1)));
    hits = 0;
    kill(getpid(), SIGUSR1);
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    ts.tv_sec = 5;
    errno = 0;
    r = pselect(p[0] + 1, &rs, NULL, NULL, &ts, &empty);
    sigprocmask(SIG_SETMASK, NULL, &now);
    printf("pselect unblocking a pending SIGUSR1: %s, handler ran: %s, mask restored: %s\n",
           r < 0 ? errname(errno) : "returned", yesno(hits == 1), yesno(sigismember(&now, SIGUSR1)));
    sigprocmask(SIG_UNBLOCK, &m, NULL);
    signal(SIGALRM, SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
    close(p[0]);
    close(p[1]);
}

static void stdin_eof(void)
{
    section("stdin at EOF");
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(0, &rs);
    struct timeval tv = {5, 0};
    int r = select(1, &rs, NULL, NULL, &tv);
    printf("select: %d, stdin readable: %s\n", r, yesno(FD_ISSET(0, &rs)));
    char c;
    SHOW("read", read(0, &c, 1));
    struct pollfd pf = {0, POLLIN, 0};
    r = poll(&pf, 1, 5000);
    printf("poll: %d, POLLIN or POLLHUP: %s\n", r, yesno(pf.revents & (POLLIN | POLLHUP)));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    start_watchdog_child();
    pipes();
    files();
    timeouts();
    selects();
    wakeups();
    interrupts();
    stdin_eof();
    stop_watchdog_child();
    if (guest_failures) fprintf(stderr, "poll: %d check(s) failed\n", guest_failures);
    return guest_failures ? 1 : 0;
}
