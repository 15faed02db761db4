/* signalfd: create and its errors, reading blocked signals (raise, kill of oneself, sigqueue
 * with values, several at once in signal order, real-time ones queued), EAGAIN, a short
 * buffer, a mask changed on an existing descriptor, readiness in poll and epoll (and gone
 * once read), a blocking read and an epoll_wait woken by a child's kill, SIGCHLD of an
 * exiting child with its status, a signal taken by sigwaitinfo instead, and another thread's
 * pthread_kill of the thread waiting in epoll_wait.
 * Exits 1 (with a message on stderr) if a check failed. */
#include "guest.h"
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>

static sigset_t set_of(int a, int b)
{
    sigset_t s;
    sigemptyset(&s);
    if (a) sigaddset(&s, a);
    if (b) sigaddset(&s, b);
    return s;
}

/* Reads up to `room` records; prints what they say (pids as relations to `who`). */
static int read_show(const char *label, int fd, int room, pid_t who)
{
    struct signalfd_siginfo si[4];
    errno = 0;
    ssize_t r = read(fd, si, (size_t)room * sizeof si[0]);
    if (r < 0) {
        printf("%s: -1 %s\n", label, errname(errno));
        return -1;
    }
    printf("%s: %zd bytes", label, r);
    for (int i = 0; i < (int)(r / (ssize_t)sizeof si[0]); i++) {
        printf(" [signo=%u code=%d pid=%s", si[i].ssi_signo, si[i].ssi_code,
               si[i].ssi_pid == (uint32_t)who ? "expected" : "other");
        if (si[i].ssi_code == SI_QUEUE) printf(" int=%d", si[i].ssi_int);
        if (si[i].ssi_signo == SIGCHLD) printf(" status=%d", si[i].ssi_status);
        printf("]");
    }
    printf("\n");
    return (int)(r / (ssize_t)sizeof si[0]);
}

static int poll_in(int fd, int timeout)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, timeout);
    return r == 1 && p.revents == POLLIN ? 1 : r;
}

static void errors(void)
{
    section("errors");
    sigset_t s = set_of(SIGUSR1, 0);
    SHOW("bad flags", signalfd(-1, &s, 1));
    SHOW("mask size 4", syscall(SYS_signalfd4, -1, &s, 4, 0));
    SHOW("bad mask pointer", syscall(SYS_signalfd4, -1, 8, 8, 0));
    int p[2];
    xpipe(p);
    SHOW("update a pipe", signalfd(p[0], &s, 0));
    SHOW("update a closed fd", signalfd(999, &s, 0));
    int fd = signalfd(-1, &s, SFD_NONBLOCK | SFD_CLOEXEC);
    EXPECT("created", fd >= 0);
    EXPECT("SFD_CLOEXEC", fcntl(fd, F_GETFD) == FD_CLOEXEC);
    EXPECT("SFD_NONBLOCK", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    char small[64];
    SHOW("read, 64 bytes", read(fd, small, sizeof small));
    SHOW("read, 0 bytes", read(fd, small, 0));
    struct signalfd_siginfo si;
    SHOW("read, nothing pending (128 bytes)", read(fd, &si, sizeof si));
    SHOW("write", write(fd, &si, sizeof si));
    SHOW("lseek", lseek(fd, 0, SEEK_SET));
    close(fd);
    close(p[0]);
    close(p[1]);
}

static void reading(void)
{
    section("reading blocked signals");
    sigset_t both = set_of(SIGUSR1, SIGUSR2);
    sigprocmask(SIG_BLOCK, &both, NULL);
    int fd = signalfd(-1, &both, SFD_NONBLOCK);
    pid_t me = getpid();
    raise(SIGUSR1);
    read_show("raise(SIGUSR1)", fd, 4, me);
    read_show("again", fd, 4, me);
    kill(me, SIGUSR2);
    read_show("kill(self, SIGUSR2)", fd, 4, me);
    kill(me, SIGUSR2);
    kill(me, SIGUSR1);
    read_show("both pending, room for 4", fd, 4, me);
    kill(me, SIGUSR2);
    kill(me, SIGUSR1);
    read_show("both pending, room for 1", fd, 1, me);
    read_show("the other", fd, 1, me);
    sigset_t pend;
    sigpending(&pend);
    printf("nothing left pending: %s\n", yesno(!sigismember(&pend, SIGUSR1) && !sigismember(&pend, SIGUSR2)));

    sigset_t rt = set_of(SIGRTMIN, 0);
    sigprocmask(SIG_BLOCK, &rt, NULL);
    int rfd = signalfd(-1, &rt, SFD_NONBLOCK);
    union sigval v;
    v.sival_int = 42;
    sigqueue(me, SIGRTMIN, v);
    v.sival_int = 43;
    sigqueue(me, SIGRTMIN, v);
    read_show("two queued real-time signals", rfd, 4, me);
    read_show("again", rfd, 4, me);
    close(rfd);
    sigprocmask(SIG_UNBLOCK, &rt, NULL);

    section("changing the mask");
    sigset_t only2 = set_of(SIGUSR2, 0);
    SHOW("signalfd(fd, {SIGUSR2}) gives fd back", signalfd(fd, &only2, 0) == fd);
    raise(SIGUSR1);
    read_show("SIGUSR1 pending, not in the mask", fd, 4, me);
    printf("poll: %d\n", poll_in(fd, 0));
    SHOW("signalfd(fd, {SIGUSR1, SIGUSR2})", signalfd(fd, &both, 0) == fd);
    printf("poll: %d\n", poll_in(fd, 0));
    read_show("now it is", fd, 4, me);
    printf("poll: %d\n", poll_in(fd, 0));
    close(fd);
    sigprocmask(SIG_UNBLOCK, &both, NULL);
}

static void readiness(void)
{
    section("poll and epoll");
    sigset_t s1 = set_of(SIGUSR1, 0);
    sigprocmask(SIG_BLOCK, &s1, NULL);
    int fd = signalfd(-1, &s1, SFD_NONBLOCK);
    pid_t me = getpid();
    printf("poll, nothing pending: %d\n", poll_in(fd, 0));
    raise(SIGUSR1);
    printf("poll, SIGUSR1 pending: %d\n", poll_in(fd, 0));
    int ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = 9}, out[2];
    OKAY("epoll ADD", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e));
    int r = epoll_wait(ep, out, 2, 0);
    printf("epoll_wait, pending: %d data %llu\n", r, r > 0 ? (unsigned long long)out[0].data.u64 : 0ull);
    read_show("read", fd, 4, me);
    printf("poll after the read: %d\n", poll_in(fd, 0));
    SHOW("epoll_wait after the read", epoll_wait(ep, out, 2, 0));

    /* A child's kill while we wait in epoll_wait (or before: it stays pending). */
    pid_t pid = xfork();
    if (pid == 0) {
        usleep(100 * 1000);
        kill(getppid(), SIGUSR1);
        child_done();
    }
    r = epoll_wait(ep, out, 2, 10000);
    printf("epoll_wait, a child's kill: %d data %llu\n", r, r > 0 ? (unsigned long long)out[0].data.u64 : 0ull);
    read_show("read", fd, 4, pid);
    reap("killer", pid);

    /* And while we wait in poll. */
    pid = xfork();
    if (pid == 0) {
        usleep(100 * 1000);
        kill(getppid(), SIGUSR1);
        child_done();
    }
    printf("poll, a child's kill: %d\n", poll_in(fd, 10000));
    read_show("read", fd, 4, pid);
    reap("killer", pid);
    close(ep);

    section("blocking read");
    int bfd = signalfd(-1, &s1, 0);
    pid = xfork();
    if (pid == 0) {
        usleep(100 * 1000);
        kill(getppid(), SIGUSR1);
        child_done();
    }
    read_show("blocking read, a child's kill", bfd, 4, pid);
    reap("killer", pid);
    raise(SIGUSR1);
    read_show("blocking read, already pending", bfd, 4, me);

    section("SIGCHLD");
    sigset_t chld = set_of(SIGCHLD, 0);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int cfd = signalfd(-1, &chld, 0);
    pid = xfork();
    if (pid == 0) _exit(3);
    read_show("a child exits with 3", cfd, 4, pid);
    reap("child", pid);
    close(cfd);
    sigprocmask(SIG_UNBLOCK, &chld, NULL);

    section("taken by sigwaitinfo instead");
    raise(SIGUSR1);
    printf("poll, pending: %d\n", poll_in(fd, 0));
    siginfo_t info;
    SHOW("sigwaitinfo", sigwaitinfo(&s1, &info));
    printf("poll, taken: %d\n", poll_in(fd, 0));
    read_show("read", fd, 4, me);
    close(bfd);
    close(fd);
    sigprocmask(SIG_UNBLOCK, &s1, NULL);
}

static pthread_t main_thread;

static void *kill_main(void *arg)
{
    (void)arg;
    usleep(100 * 1000);
    pthread_kill(main_thread, SIGUSR1);
    return NULL;
}

static void threads(void)
{
    section("another thread's pthread_kill while we wait");
    sigset_t s1 = set_of(SIGUSR1, 0);
    sigprocmask(SIG_BLOCK, &s1, NULL);
    int fd = signalfd(-1, &s1, SFD_NONBLOCK);
    int ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = 5}, out[2];
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
    main_thread = pthread_self();
    pthread_t t;
    pthread_create(&t, NULL, kill_main, NULL);
    int r = epoll_wait(ep, out, 2, 10000);
    printf("epoll_wait: %d data %llu\n", r, r > 0 ? (unsigned long long)out[0].data.u64 : 0ull);
    pthread_join(t, NULL);
    read_show("read", fd, 4, getpid());
    close(ep);
    close(fd);
    sigprocmask(SIG_UNBLOCK, &s1, NULL);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    default_signals();
    start_watchdog_child();
    errors();
    reading();
    readiness();
    threads();
    stop_watchdog_child();
    return guest_failures ? 1 : 0;
}
