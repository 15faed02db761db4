/* timerfd: create and its errors, settime/gettime and their errors, relative and absolute
 * one-shot timers on CLOCK_MONOTONIC, CLOCK_REALTIME and CLOCK_BOOTTIME, intervals with
 * expiration counts, disarming (the old value back), non-blocking reads (EAGAIN) and short
 * buffers, a timerfd in poll and in epoll, and a timer shared across fork. Times are checked
 * with wide margins only (a loaded machine is slow, never early).
 * Exits 1 (with a message on stderr) if a check failed. */
#include "guest.h"
#include <sys/epoll.h>
#include <sys/timerfd.h>

#define MS 1000000L

static long ts_ms(const struct timespec *t) { return t->tv_sec * 1000 + t->tv_nsec / MS; }

static int arm(int fd, int flags, long value_ns, long interval_ns)
{
    struct itimerspec it = {{interval_ns / 1000000000, interval_ns % 1000000000},
                            {value_ns / 1000000000, value_ns % 1000000000}};
    return timerfd_settime(fd, flags, &it, NULL);
}

/* A blocking read of the count: prints "label: OK count>=min" facts. */
static uint64_t read_count(const char *label, int fd)
{
    uint64_t n = 0;
    errno = 0;
    ssize_t r = read(fd, &n, sizeof n);
    if (r < 0)
        printf("%s: -1 %s\n", label, errname(errno));
    else
        printf("%s: %zd bytes\n", label, r);
    return r == 8 ? n : 0;
}

static void errors(void)
{
    section("errors");
    SHOW("create, clock 99", timerfd_create(99, 0));
    SHOW("create, CLOCK_PROCESS_CPUTIME_ID", timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0));
    SHOW("create, bad flags", timerfd_create(CLOCK_MONOTONIC, 1));
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    EXPECT("create, CLOCK_MONOTONIC", fd >= 0);
    EXPECT("TFD_CLOEXEC", fcntl(fd, F_GETFD) == FD_CLOEXEC);
    EXPECT("TFD_NONBLOCK", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    struct itimerspec it = {{0, 0}, {1, 0}}, cur;
    OKAY("settime, closed fd", timerfd_settime(999, 0, &it, NULL));
    int p[2];
    xpipe(p);
    OKAY("settime, a pipe", timerfd_settime(p[0], 0, &it, NULL));
    OKAY("gettime, a pipe", timerfd_gettime(p[0], &cur));
    OKAY("gettime, closed fd", timerfd_gettime(999, &cur));
    OKAY("settime, bad flags", timerfd_settime(fd, 4, &it, NULL));
    it.it_value.tv_nsec = 1000000000;
    OKAY("settime, nsec 1e9", timerfd_settime(fd, 0, &it, NULL));
    it.it_value.tv_nsec = 0;
    it.it_interval.tv_sec = -1;
    OKAY("settime, negative interval", timerfd_settime(fd, 0, &it, NULL));
    OKAY("settime, bad pointer", timerfd_settime(fd, 0, (struct itimerspec *)8, NULL));
    OKAY("gettime, bad pointer", timerfd_gettime(fd, (struct itimerspec *)8));
    OKAY("gettime, not armed", timerfd_gettime(fd, &cur));
    printf("not armed: value %ld.%09ld interval %ld.%09ld\n", (long)cur.it_value.tv_sec,
           cur.it_value.tv_nsec, (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
    uint64_t n;
    SHOW("read, not armed, O_NONBLOCK", read(fd, &n, 8));
    SHOW("read, 4 bytes", read(fd, &n, 4));
    SHOW("write", write(fd, &n, 8));
    SHOW("lseek", lseek(fd, 0, SEEK_SET));
    close(p[0]);
    close(p[1]);
    close(fd);
}

static void one_shot(void)
{
    section("one-shot timers");
    int fd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    OKAY("arm 200 ms", arm(fd, 0, 200 * MS, 0));
    struct itimerspec cur;
    timerfd_gettime(fd, &cur);
    EXPECT("gettime: left in (0, 200 ms]", (cur.it_value.tv_sec || cur.it_value.tv_nsec) &&
                                               ts_ms(&cur.it_value) <= 200);
    EXPECT("gettime: no interval", !cur.it_interval.tv_sec && !cur.it_interval.tv_nsec);
    uint64_t n = read_count("blocking read", fd);
    printf("expirations: %llu\n", (unsigned long long)n);
    EXPECT("not before 190 ms", ms_since(&t0) >= 190);
    timerfd_gettime(fd, &cur);
    EXPECT("gettime after: disarmed", !cur.it_value.tv_sec && !cur.it_value.tv_nsec);

    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long abs_ns = (now.tv_sec * 1000000000L + now.tv_nsec) + 50 * MS;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    OKAY("arm absolute, now + 50 ms", arm(fd, TFD_TIMER_ABSTIME, abs_ns, 0));
    n = read_count("blocking read", fd);
    printf("expirations: %llu\n", (unsigned long long)n);
    EXPECT("not before 40 ms", ms_since(&t0) >= 40);
    OKAY("arm absolute, in the past", arm(fd, TFD_TIMER_ABSTIME, 1000, 0));
    n = read_count("read at once", fd);
    printf("expirations: %llu\n", (unsigned long long)n);
    close(fd);

    fd = timerfd_create(CLOCK_REALTIME, 0);
    clock_gettime(CLOCK_REALTIME, &now);
    abs_ns = (now.tv_sec * 1000000000L + now.tv_nsec) + 50 * MS;
    OKAY("CLOCK_REALTIME, absolute, cancel on set", arm(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, abs_ns, 0));
    n = read_count("blocking read", fd);
    printf("expirations: %llu\n", (unsigned long long)n);
    close(fd);

    fd = timerfd_create(CLOCK_BOOTTIME, 0);
    OKAY("CLOCK_BOOTTIME, 20 ms", arm(fd, 0, 20 * MS, 0));
    n = read_count("blocking read", fd);
    printf("expirations: %llu\n", (unsigned long long)n);
    close(fd);
}

static void intervals(void)
{
    section("intervals");
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    OKAY("arm 10 ms, every 10 ms", arm(fd, 0, 10 * MS, 10 * MS));
    usleep(105 * 1000);
    uint64_t n = 0;
    SHOW("read", read(fd, &n, 8));
    EXPECT("at least 5 expirations after 105 ms", n >= 5);
    /* Reading took the count: another read finds nothing until the next expiration. That
     * one may come before the second read on a busy machine (the grid is 10 ms), so the
     * answer is judged against the time left as the first read ended. */
    struct itimerspec cur, off = {{0, 0}, {0, 0}}, old;
    struct timespec t0, t1;
    timerfd_gettime(fd, &cur);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    errno = 0;
    long again = read(fd, &n, 8);
    int again_errno = errno;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long waited_ns = (t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec);
    long left_ns = cur.it_value.tv_sec * 1000000000L + cur.it_value.tv_nsec;
    EXPECT("read again at once: EAGAIN, unless the next expiration came first",
           again < 0 ? again_errno == EAGAIN : again == 8 && waited_ns + MS >= left_ns);
    timerfd_gettime(fd, &cur);
    printf("interval: %ld.%09ld\n", (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
    EXPECT("next within 10 ms", ts_ms(&cur.it_value) <= 10);
    OKAY("disarm", timerfd_settime(fd, 0, &off, &old));
    printf("old interval: %ld.%09ld\n", (long)old.it_interval.tv_sec, old.it_interval.tv_nsec);
    usleep(30 * 1000);
    SHOW("read, disarmed", read(fd, &n, 8));
    /* Re-arming resets the count. */
    OKAY("arm 1 ms, every 1 ms", arm(fd, 0, MS, MS));
    usleep(20 * 1000);
    OKAY("re-arm 10 s", arm(fd, 0, 10000 * MS, 0));
    SHOW("read after re-arming", read(fd, &n, 8));
    close(fd);
}

static void polled(void)
{
    section("in poll and epoll");
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    SHOW("poll, not armed", poll(&pf, 1, 0));
    arm(fd, 0, 30 * MS, 0);
    SHOW("poll, armed, waiting", poll(&pf, 1, 5000));
    printf("revents: %s\n", pf.revents == POLLIN ? "POLLIN" : "other");
    uint64_t n = 0;
    SHOW("read", read(fd, &n, 8));
    printf("expirations: %llu\n", (unsigned long long)n);
    int ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = 77}, out[2];
    OKAY("epoll ADD", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e));
    SHOW("epoll_wait, not armed", epoll_wait(ep, out, 2, 0));
    arm(fd, 0, 30 * MS, 0);
    int r = SHOW("epoll_wait, armed", epoll_wait(ep, out, 2, 5000));
    if (r == 1)
        printf("data %llu events %s\n", (unsigned long long)out[0].data.u64,
               out[0].events == EPOLLIN ? "EPOLLIN" : "other");
    SHOW("read", read(fd, &n, 8));
    SHOW("epoll_wait after the read", epoll_wait(ep, out, 2, 0));
    /* Two timers, the later one edge-triggered and armed first. */
    int fd2 = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    e.events = EPOLLIN | EPOLLET;
    e.data.u64 = 78;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd2, &e);
    arm(fd2, 0, 200 * MS, 0);
    arm(fd, 0, 20 * MS, 0);
    r = epoll_wait(ep, out, 1, 5000);
    printf("first: %d data %llu\n", r, r > 0 ? (unsigned long long)out[0].data.u64 : 0ull);
    if (read(fd, &n, 8) != 8) guest_failures++;
    r = epoll_wait(ep, out, 1, 5000);
    printf("second: %d data %llu\n", r, r > 0 ? (unsigned long long)out[0].data.u64 : 0ull);
    SHOW("edge-triggered, not read: no more", epoll_wait(ep, out, 2, 0));
    close(fd2);
    close(fd);
    close(ep);
}

static void forked(void)
{
    section("shared across fork");
    int fd = timerfd_create(CLOCK_MONOTONIC, 0);
    arm(fd, 0, 50 * MS, 0);
    pid_t pid = xfork();
    if (pid == 0) {
        uint64_t n = read_count("child: blocking read of the parent's timer", fd);
        printf("child: expirations: %llu\n", (unsigned long long)n);
        child_done();
    }
    reap("child", pid);
    struct itimerspec cur;
    timerfd_gettime(fd, &cur);
    EXPECT("parent: the timer expired (disarmed)", !cur.it_value.tv_sec && !cur.it_value.tv_nsec);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    uint64_t n;
    SHOW("parent: read, the child took it", read(fd, &n, 8));
    close(fd);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    default_signals();
    start_watchdog_child();
    errors();
    one_shot();
    intervals();
    polled();
    forked();
    stop_watchdog_child();
    return guest_failures ? 1 : 0;
}
