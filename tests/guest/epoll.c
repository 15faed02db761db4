/* epoll: create/create1 and their errors, epoll_ctl's errors (EBADF, EPERM for regular files
 * and /dev/null, EINVAL, EEXIST, ENOENT, ELOOP, EPOLLEXCLUSIVE's rules), level- and
 * edge-triggered readiness of pipes and eventfds, EPOLLONESHOT re-armed with MOD, EPOLLHUP,
 * EPOLLERR and EPOLLRDHUP of pipes whose other end closed, DEL, a closed (and a dup'ed)
 * registered descriptor, maxevents below the ready count, timeouts, a wake-up by a child,
 * an epoll fd inside poll and inside another epoll, epoll_pwait/epoll_pwait2 with a signal
 * mask and a signal (EINTR, even with SA_RESTART), an instance shared across fork, and
 * threads: one waits while another adds descriptors and makes them ready.
 * Exits 1 (with a message on stderr) if a check failed. */
#include "guest.h"
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

/* musl has no epoll_pwait2 wrapper: the system call (the mask is 8 bytes, as the kernel's). */
static int pwait2(int ep, struct epoll_event *ev, int max, const struct timespec *ts,
                  const sigset_t *mask)
{
    return (int)syscall(SYS_epoll_pwait2, ep, ev, max, ts, mask, 8);
}

/* The names of the bits in an events value. */
static const char *evs(uint32_t e)
{
    static char b[160];
    b[0] = 0;
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {{EPOLLIN, "IN"},     {EPOLLPRI, "PRI"},       {EPOLLOUT, "OUT"},
                 {EPOLLERR, "ERR"},   {EPOLLHUP, "HUP"},       {EPOLLRDNORM, "RDNORM"},
                 {EPOLLWRNORM, "WRNORM"}, {EPOLLRDHUP, "RDHUP"}};
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
        if (e & names[i].bit) {
            if (b[0]) strcat(b, "|");
            strcat(b, names[i].name);
            e &= ~names[i].bit;
        }
    if (e) snprintf(b + strlen(b), sizeof b - strlen(b), "%s%#x", b[0] ? "|" : "", e);
    if (!b[0]) strcpy(b, "0");
    return b;
}

static int add(int ep, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event e = {.events = events, .data.u64 = data};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

static int mod(int ep, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event e = {.events = events, .data.u64 = data};
    return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
}

/* epoll_wait with `timeout`; prints "label: N" and each event as "data=D EVENTS". */
static int wait_show(const char *label, int ep, int max, int timeout)
{
    struct epoll_event ev[16];
    errno = 0;
    int n = epoll_wait(ep, ev, max, timeout);
    if (n < 0) {
        printf("%s: -1 %s\n", label, errname(errno));
        return n;
    }
    printf("%s: %d", label, n);
    for (int i = 0; i < n; i++)
        printf(" [data=%llu %s]", (unsigned long long)ev[i].data.u64, evs(ev[i].events));
    printf("\n");
    return n;
}

static void creating(void)
{
    section("create");
    SHOW("epoll_create(0)", syscall(SYS_epoll_create, 0));
    SHOW("epoll_create(-1)", syscall(SYS_epoll_create, -1));
    int a = epoll_create(1);
    EXPECT("epoll_create(1) gives a descriptor", a >= 0);
    EXPECT("not close-on-exec", a >= 0 && fcntl(a, F_GETFD) == 0);
    int b = epoll_create1(EPOLL_CLOEXEC);
    EXPECT("epoll_create1(EPOLL_CLOEXEC) is close-on-exec", b >= 0 && fcntl(b, F_GETFD) == FD_CLOEXEC);
    SHOW("epoll_create1(1)", epoll_create1(1));
    char buf[8];
    SHOW("read of an epoll fd", read(a, buf, sizeof buf));
    SHOW("write of an epoll fd", write(a, buf, sizeof buf));
    SHOW("lseek of an epoll fd", lseek(a, 0, SEEK_SET));
    close(a);
    close(b);
}

static void errors(const char *self)
{
    section("epoll_ctl and epoll_wait errors");
    int ep = epoll_create1(0), p[2];
    xpipe(p);
    struct epoll_event e = {.events = EPOLLIN};
    OKAY("ADD bad epfd", epoll_ctl(-1, EPOLL_CTL_ADD, p[0], &e));
    OKAY("ADD closed fd", epoll_ctl(ep, EPOLL_CTL_ADD, 999, &e));
    int file = open(self, O_RDONLY);
    OKAY("ADD a regular file", epoll_ctl(ep, EPOLL_CTL_ADD, file, &e));
    int null = open("/dev/null", O_RDWR);
    OKAY("ADD /dev/null", epoll_ctl(ep, EPOLL_CTL_ADD, null, &e));
    OKAY("epfd that is a pipe", epoll_ctl(p[1], EPOLL_CTL_ADD, p[0], &e));
    OKAY("epfd that is a regular file", epoll_ctl(file, EPOLL_CTL_ADD, p[0], &e));
    OKAY("ADD the epoll to itself", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &e));
    OKAY("ADD", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e));
    OKAY("ADD again", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e));
    OKAY("MOD not added", epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &e));
    OKAY("DEL not added", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL));
    OKAY("unknown op 99", epoll_ctl(ep, 99, p[0], &e));
    OKAY("MOD", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &e));
    OKAY("DEL", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    OKAY("DEL again", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    OKAY("ADD with a bad event pointer", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], (struct epoll_event *)8));
    struct epoll_event x = {.events = EPOLLIN | EPOLLEXCLUSIVE};
    OKAY("ADD EPOLLEXCLUSIVE", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &x));
    OKAY("MOD EPOLLEXCLUSIVE", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &x));
    OKAY("MOD of an EPOLLEXCLUSIVE one", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &e));
    x.events = EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT;
    OKAY("ADD EPOLLEXCLUSIVE|EPOLLONESHOT", epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &x));
    int inner = epoll_create1(0);
    x.events = EPOLLIN | EPOLLEXCLUSIVE;
    OKAY("ADD an epoll fd EPOLLEXCLUSIVE", epoll_ctl(ep, EPOLL_CTL_ADD, inner, &x));
    OKAY("ADD an epoll fd", epoll_ctl(ep, EPOLL_CTL_ADD, inner, &e));
    OKAY("ADD back: a loop", epoll_ctl(inner, EPOLL_CTL_ADD, ep, &e));
    struct epoll_event out[2];
    SHOW("wait maxevents 0", epoll_wait(ep, out, 0, 0));
    SHOW("wait maxevents -1", syscall(SYS_epoll_wait, ep, out, -1, 0));
    SHOW("wait on a pipe", epoll_wait(p[0], out, 2, 0));
    SHOW("wait on a closed fd", epoll_wait(999, out, 2, 0));
    SHOW("wait with a bad buffer", syscall(SYS_epoll_wait, ep, 8, 2, 0));
    close(inner);
    close(file);
    close(null);
    close(p[0]);
    close(p[1]);
    close(ep);
}

static void level_edge(void)
{
    section("level-triggered pipe");
    int ep = epoll_create1(0), p[2];
    xpipe(p);
    add(ep, p[0], EPOLLIN, 42);
    wait_show("empty", ep, 8, 0);
    if (write(p[1], "abc", 3) != 3) guest_failures++;
    wait_show("3 bytes", ep, 8, 0);
    wait_show("again, nothing read", ep, 8, 0);
    char buf[8];
    if (read(p[0], buf, 2) != 2) guest_failures++;
    wait_show("1 byte left", ep, 8, 0);
    if (read(p[0], buf, 1) != 1) guest_failures++;
    wait_show("all read", ep, 8, 0);
    add(ep, p[1], EPOLLOUT, 43);
    wait_show("write end added", ep, 8, 0);

    section("edge-triggered pipe");
    mod(ep, p[0], EPOLLIN | EPOLLET, 44);
    epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL);
    wait_show("empty", ep, 8, 0);
    if (write(p[1], "abc", 3) != 3) guest_failures++;
    wait_show("3 bytes", ep, 8, 0);
    wait_show("again, nothing new", ep, 8, 0);
    if (write(p[1], "d", 1) != 1) guest_failures++;
    wait_show("1 more byte", ep, 8, 0);
    wait_show("again", ep, 8, 0);
    if (read(p[0], buf, 8) != 4) guest_failures++;
    wait_show("all read", ep, 8, 0);
    close(p[0]);
    close(p[1]);
    close(ep);

    section("eventfd, level and edge");
    ep = epoll_create1(0);
    int efd = eventfd(0, EFD_NONBLOCK);
    add(ep, efd, EPOLLIN | EPOLLOUT, 1);
    wait_show("counter 0", ep, 8, 0);
    uint64_t one = 1, got = 0;
    if (write(efd, &one, 8) != 8) guest_failures++;
    wait_show("counter 1", ep, 8, 0);
    wait_show("again", ep, 8, 0);
    mod(ep, efd, EPOLLIN | EPOLLET, 2);
    wait_show("MOD to edge-triggered (armed by MOD)", ep, 8, 0);
    wait_show("again", ep, 8, 0);
    if (write(efd, &one, 8) != 8) guest_failures++;
    wait_show("another write", ep, 8, 0);
    wait_show("again", ep, 8, 0);
    if (read(efd, &got, 8) != 8) guest_failures++;
    printf("counter read: %llu\n", (unsigned long long)got);
    wait_show("read", ep, 8, 0);
    close(efd);
    close(ep);
}

static void oneshot_hup(void)
{
    section("EPOLLONESHOT");
    int ep = epoll_create1(0), p[2];
    xpipe(p);
    add(ep, p[0], EPOLLIN | EPOLLONESHOT, 5);
    if (write(p[1], "a", 1) != 1) guest_failures++;
    wait_show("first", ep, 8, 0);
    wait_show("disarmed", ep, 8, 0);
    if (write(p[1], "b", 1) != 1) guest_failures++;
    wait_show("more data, still disarmed", ep, 8, 0);
    OKAY("ADD again while disarmed", add(ep, p[0], EPOLLIN, 6));
    OKAY("MOD re-arms", mod(ep, p[0], EPOLLIN | EPOLLONESHOT, 7));
    wait_show("re-armed", ep, 8, 0);
    wait_show("disarmed again", ep, 8, 0);
    close(p[0]);
    close(p[1]);
    close(ep);

    section("hang-ups");
    ep = epoll_create1(0);
    xpipe(p);
    add(ep, p[0], EPOLLIN | EPOLLRDHUP, 10);
    if (write(p[1], "x", 1) != 1) guest_failures++;
    close(p[1]);
    wait_show("writer gone, data left", ep, 8, 0);
    char c;
    if (read(p[0], &c, 1) != 1) guest_failures++;
    wait_show("writer gone, drained", ep, 8, 0);
    close(p[0]);
    xpipe(p);
    add(ep, p[1], EPOLLOUT, 11);
    close(p[0]);
    wait_show("reader gone, write end", ep, 8, 0);
    add(ep, p[1], 0, 12);
    close(p[1]);
    wait_show("closed: removed", ep, 8, 0);
    xpipe(p);
    add(ep, p[1], 0, 13);
    wait_show("events 0: nothing but ERR/HUP", ep, 8, 0);
    close(p[0]);
    wait_show("events 0, reader gone", ep, 8, 0);
    close(p[1]);
    close(ep);
}

static void del_close(void)
{
    section("DEL and close");
    int ep = epoll_create1(0), p[2];
    xpipe(p);
    add(ep, p[0], EPOLLIN, 20);
    if (write(p[1], "x", 1) != 1) guest_failures++;
    wait_show("added", ep, 8, 0);
    OKAY("DEL", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    wait_show("deleted", ep, 8, 0);
    OKAY("ADD again", add(ep, p[0], EPOLLIN, 21));
    wait_show("added again", ep, 8, 0);
    int d = dup(p[0]);
    close(p[0]);
    wait_show("closed, a dup still open: still there", ep, 8, 0);
    OKAY("DEL through the closed number", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    close(d);
    wait_show("the last reference closed", ep, 8, 0);
    xpipe(p);
    OKAY("ADD a new pipe", add(ep, p[0], EPOLLIN, 22));
    if (write(p[1], "y", 1) != 1) guest_failures++;
    wait_show("the new pipe", ep, 8, 0);
    close(p[0]);
    close(p[1]);
    close(ep);
}

/* Sockets: uno sends a socket's first ADD without waiting for the host; what follows must
 * still see it done, and its errors are still Linux's. A close is not waited for either. */
static void sockets(void)
{
    section("sockets: the first ADD, errors after it, close");
    int ep = epoll_create1(0), ep2 = epoll_create1(0), sv[2], s2[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    socketpair(AF_UNIX, SOCK_STREAM, 0, s2);
    if (write(sv[1], "x", 1) != 1) guest_failures++;
    OKAY("ADD a socket already readable", add(ep, sv[0], EPOLLIN | EPOLLET, 30));
    wait_show("reported at once", ep, 8, 0);
    OKAY("ADD it again", add(ep, sv[0], EPOLLIN, 31));
    OKAY("ADD it to a second epoll", add(ep2, sv[0], EPOLLIN, 32));
    wait_show("the second epoll", ep2, 8, 0);
    OKAY("MOD it", mod(ep, sv[0], EPOLLIN, 33));
    wait_show("modified", ep, 8, 0);
    OKAY("a first ADD EPOLLEXCLUSIVE|EPOLLONESHOT", add(ep, s2[0], EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 34));
    OKAY("then a plain one", add(ep, s2[0], EPOLLOUT, 35));
    wait_show("writable", ep, 8, 0);
    close(s2[0]);
    close(s2[1]);
    char c;
    if (read(sv[0], &c, 1) != 1) guest_failures++;
    close(sv[1]);
    wait_show("the peer closed", ep, 8, 1000);
    int n = (int)read(sv[0], &c, 1);
    printf("read after the peer's close: %d\n", n);
    close(sv[0]);
    /* A port a closed listener held is free at once for the next bind. */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(l, (struct sockaddr *)&a, sizeof a);
    listen(l, 4);
    getsockname(l, (struct sockaddr *)&a, &al);
    OKAY("ADD a listener", add(ep, l, EPOLLIN, 36));
    close(l);
    l = socket(AF_INET, SOCK_STREAM, 0);
    OKAY("bind the port of the closed listener", bind(l, (struct sockaddr *)&a, sizeof a));
    close(l);
    close(ep);
    close(ep2);
}

static void many(void)
{
    section("maxevents below the ready count");
    int ep = epoll_create1(0), p[5][2];
    for (int i = 0; i < 5; i++) {
        xpipe(p[i]);
        add(ep, p[i][0], EPOLLIN, (uint64_t)(100 + i));
        if (write(p[i][1], "x", 1) != 1) guest_failures++;
    }
    unsigned seen = 0;
    for (int round = 0; round < 3; round++) {
        struct epoll_event ev[2];
        int n = epoll_wait(ep, ev, 2, 0);
        printf("round %d: %d\n", round, n);
        for (int i = 0; i < n; i++)
            seen |= 1u << (ev[i].data.u64 - 100);
    }
    EXPECT("every descriptor reported within three rounds (level-triggered rotate)", seen == 0x1f);
    struct epoll_event big[16];
    SHOW("maxevents 16", epoll_wait(ep, big, 16, 0));
    for (int i = 0; i < 5; i++) {
        close(p[i][0]);
        close(p[i][1]);
    }
    close(ep);
}

static void timeouts(void)
{
    section("timeouts and wake-ups");
    int ep = epoll_create1(0), p[2];
    xpipe(p);
    add(ep, p[0], EPOLLIN, 30);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    wait_show("50 ms, nothing", ep, 8, 50);
    long ms = ms_since(&t0);
    EXPECT("waited at least 40 ms", ms >= 40);
    EXPECT("and not for ever (< 5 s)", ms < 5000);
    struct epoll_event ev;
    struct timespec ts = {0, 30 * 1000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    SHOW("epoll_pwait2 30 ms", pwait2(ep, &ev, 1, &ts, NULL));
    EXPECT("epoll_pwait2 waited at least 20 ms", ms_since(&t0) >= 20);
    ts.tv_nsec = 1000000000;
    SHOW("epoll_pwait2 bad timespec", pwait2(ep, &ev, 1, &ts, NULL));
    pid_t pid = xfork();
    if (pid == 0) {
        usleep(100 * 1000);
        put_byte(p[1], 'w');
        child_done();
    }
    wait_show("wait for ever, a child writes", ep, 8, -1);
    reap("writer", pid);
    close(p[0]);
    close(p[1]);
    close(ep);
}

static void nested(void)
{
    section("an epoll fd in poll and in another epoll");
    int ep = epoll_create1(0), outer = epoll_create1(0), p[2];
    xpipe(p);
    add(ep, p[0], EPOLLIN, 40);
    add(outer, ep, EPOLLIN, 41);
    struct pollfd pf = {.fd = ep, .events = POLLIN};
    SHOW("poll, nothing ready", poll(&pf, 1, 0));
    wait_show("outer, nothing ready", outer, 8, 0);
    pid_t pid = xfork();
    if (pid == 0) {
        usleep(50 * 1000);
        put_byte(p[1], 'n');
        child_done();
    }
    pf.revents = 0;
    int r = poll(&pf, 1, 5000);
    printf("poll, a child writes: %d revents=%s\n", r, pf.revents == POLLIN ? "POLLIN" : "other");
    wait_show("outer", outer, 8, 0);
    wait_show("inner", ep, 8, 0);
    reap("writer", pid);
    char c;
    if (read(p[0], &c, 1) != 1) guest_failures++;
    wait_show("outer, drained", outer, 8, 0);
    close(p[0]);
    close(p[1]);
    close(outer);
    close(ep);
}

static volatile sig_atomic_t got_usr1;
static void on_usr1(int s)
{
    (void)s;
    got_usr1++;
}

static void signals(void)
{
    section("epoll_pwait and signals");
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    block(SIGUSR1, SIG_BLOCK);
    int ep = epoll_create1(0), p[2];
    xpipe(p);
    add(ep, p[0], EPOLLIN, 50);
    raise(SIGUSR1);
    struct epoll_event ev;
    sigset_t none, cur;
    sigemptyset(&none);
    SHOW("epoll_wait 0 ms, SIGUSR1 blocked and pending", epoll_wait(ep, &ev, 1, 0));
    if (write(p[1], "x", 1) != 1) guest_failures++;
    SHOW("epoll_pwait, ready, signal let through", epoll_pwait(ep, &ev, 1, -1, &none));
    printf("handler ran: %s\n", yesno(got_usr1 == 1));
    char c;
    if (read(p[0], &c, 1) != 1) guest_failures++;
    raise(SIGUSR1);
    got_usr1 = 0;
    SHOW("epoll_pwait, nothing ready, signal let through", epoll_pwait(ep, &ev, 1, -1, &none));
    printf("handler ran: %s\n", yesno(got_usr1 == 1));
    sigprocmask(SIG_BLOCK, NULL, &cur);
    printf("SIGUSR1 blocked again after: %s\n", yesno(sigismember(&cur, SIGUSR1)));
    /* A signal from a child while waiting (or before: it stays pending, blocked). */
    got_usr1 = 0;
    pid_t parent = getpid();
    pid_t pid = xfork();
    if (pid == 0) {
        usleep(100 * 1000);
        kill(parent, SIGUSR1);
        child_done();
    }
    SHOW("epoll_pwait, a child's SIGUSR1 (SA_RESTART)", epoll_pwait(ep, &ev, 1, 10000, &none));
    printf("handler ran: %s\n", yesno(got_usr1 == 1));
    reap("killer", pid);
    got_usr1 = 0;
    raise(SIGUSR1);
    struct timespec ts = {5, 0};
    SHOW("epoll_pwait2, signal let through", pwait2(ep, &ev, 1, &ts, &none));
    printf("handler ran: %s\n", yesno(got_usr1 == 1));
    SHOW("epoll_pwait bad mask size", syscall(SYS_epoll_pwait, ep, &ev, 1, 0, &none, 4));
    block(SIGUSR1, SIG_UNBLOCK);
    signal(SIGUSR1, SIG_DFL);
    close(p[0]);
    close(p[1]);
    close(ep);
}

static void shared(void)
{
    section("an instance shared across fork");
    int ep = epoll_create1(0), a[2], b[2], sync[2];
    xpipe(a);
    xpipe(b);
    xpipe(sync);
    add(ep, a[0], EPOLLIN, 60);
    pid_t pid = xfork();
    if (pid == 0) {
        wait_show("child: the parent's write to a", ep, 8, 10000);
        char c;
        if (read(a[0], &c, 1) != 1) guest_failures++;
        OKAY("child: ADD b to the shared instance", add(ep, b[0], EPOLLIN, 61));
        put_byte(sync[1], 's');
        child_done();
    }
    usleep(50 * 1000);
    put_byte(a[1], 'a');
    reap("child", pid);
    if (get_byte(sync[0]) != 's') guest_failures++;
    wait_show("parent: a was read by the child", ep, 8, 0);
    put_byte(b[1], 'b');
    wait_show("parent: b, added by the child", ep, 8, 0);
    OKAY("parent: DEL b", epoll_ctl(ep, EPOLL_CTL_DEL, b[0], NULL));
    wait_show("parent: after DEL", ep, 8, 0);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    close(sync[0]);
    close(sync[1]);
    close(ep);
}

struct waiter {
    int ep, n;
    uint64_t data[4];
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    struct epoll_event ev[4];
    w->n = epoll_wait(w->ep, ev, 1, 10000);
    for (int i = 0; i < w->n && i < 4; i++)
        w->data[i] = ev[i].data.u64;
    return NULL;
}

static void threads(void)
{
    section("threads");
    int ep = epoll_create1(0), p[2], q[2];
    xpipe(p);
    xpipe(q);
    /* A thread waits on an empty instance; this one adds a pipe, then makes it ready. */
    struct waiter w = {.ep = ep};
    pthread_t t;
    pthread_create(&t, NULL, wait_thread, &w);
    usleep(50 * 1000);
    OKAY("ADD while another thread waits", add(ep, p[0], EPOLLIN, 70));
    usleep(50 * 1000);
    put_byte(p[1], 'a');
    pthread_join(t, NULL);
    printf("waiting thread: %d, data %llu\n", w.n, w.n > 0 ? (unsigned long long)w.data[0] : 0ull);
    /* Two threads wait on one edge-triggered, one-shot descriptor: exactly one wakes. */
    OKAY("ADD q EPOLLONESHOT", add(ep, q[0], EPOLLIN | EPOLLONESHOT, 71));
    epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL);
    struct waiter a = {.ep = ep}, b = {.ep = ep};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, wait_thread, &a);
    pthread_create(&tb, NULL, wait_thread, &b);
    usleep(50 * 1000);
    put_byte(q[1], 'q');
    /* The one left waiting ends when p (its byte still unread) is added back. */
    usleep(100 * 1000);
    add(ep, p[0], EPOLLIN, 72);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    int saw71 = (a.n == 1 && a.data[0] == 71) + (b.n == 1 && b.data[0] == 71);
    int saw72 = (a.n == 1 && a.data[0] == 72) + (b.n == 1 && b.data[0] == 72);
    printf("one thread got q, the other p: %s\n", yesno(saw71 == 1 && saw72 == 1));
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
    close(ep);
}

int main(int argc, char **argv)
{
    (void)argc;
    setvbuf(stdout, NULL, _IOLBF, 0);
    default_signals();
    start_watchdog_child();
    creating();
    errors(argv[0]);
    level_edge();
    oneshot_hup();
    del_close();
    sockets();
    many();
    timeouts();
    nested();
    signals();
    shared();
    threads();
    stop_watchdog_child();
    return guest_failures ? 1 : 0;
}
