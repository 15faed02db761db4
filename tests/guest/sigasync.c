/* Signals that arrive asynchronously: from other processes and timers. A blocked read and a
 * blocked waitpid interrupted by a timer (EINTR without SA_RESTART, completed with SA_RESTART:
 * the handler tells a child to write, so the data only exists after the signal), nanosleep
 * never restarted, alarm and pause, setitimer/getitimer (ITIMER_REAL, ITIMER_VIRTUAL,
 * ITIMER_PROF), sigsuspend and sigtimedwait for a signal sent by a child, SIGCHLD with and
 * without SA_NOCLDSTOP, kill(0, sig) and kill(-pgid, sig) to process groups, a child computing
 * in a tight loop (no system calls) interrupted, stopped and continued.
 * Exits 1 (with a message on stderr) if a check failed. */
#include "guest.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *codename(int code)
{
    static char b[32];
    switch (code) {
    case SI_USER: return "SI_USER";
    case SI_KERNEL: return "SI_KERNEL";
    case SI_QUEUE: return "SI_QUEUE";
    case SI_TKILL: return "SI_TKILL";
    case SI_TIMER: return "SI_TIMER";
    case CLD_EXITED: return "CLD_EXITED";
    case CLD_KILLED: return "CLD_KILLED";
    case CLD_DUMPED: return "CLD_DUMPED";
    case CLD_STOPPED: return "CLD_STOPPED";
    case CLD_CONTINUED: return "CLD_CONTINUED";
    }
    snprintf(b, sizeof b, "code %d", code);
    return b;
}

/* A one-shot ITIMER_REAL. */
static void arm_ms(int ms)
{
    struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static volatile sig_atomic_t hits, last_sig, last_code, last_pid, go_fd = -1;

static void on_sig(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    hits++;
    last_sig = sig;
    last_code = si->si_code;
    last_pid = si->si_pid;
    if (go_fd >= 0) {
        char c = 'g';
        if (write(go_fd, &c, 1) != 1) {}
    }
}

static void handle(int sig, int flags)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sig;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void from_child(void)
{
    section("siginfo of a signal sent by a child");
    block(SIGUSR1, SIG_BLOCK);
    pid_t me = getpid();
    pid_t pid = xfork();
    if (pid == 0) {
        kill(getppid(), SIGUSR1);
        _exit(0);
    }
    int st;
    xwait(pid, &st, 0);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    struct timespec z = {0, 0};
    int r = sigtimedwait(&m, &si, &z);
    printf("pending after the child exited: %s, si_code=%s\n", yesno(r == SIGUSR1),
           codename(si.si_code));
    EXPECT("si_pid==the child", si.si_pid == pid);
    EXPECT("si_uid==getuid()", si.si_uid == getuid());
    EXPECT("si_pid!=getpid()", si.si_pid != me);
    block(SIGUSR1, SIG_UNBLOCK);
}

/* The parent blocks in read(data) or waitpid; a timer interrupts it; the handler tells the
 * child (through `go`) to write to `data` and exit. */
static void interrupted(int restart)
{
    section(restart ? "blocked read with SA_RESTART: restarted, completes"
                    : "blocked read without SA_RESTART: EINTR");
    int data[2], go[2];
    xpipe(data);
    xpipe(go);
    pid_t pid = xfork();
    if (pid == 0) {
        close(data[0]);
        close(go[1]);
        char c;
        if (read(go[0], &c, 1) != 1) _exit(1);
        if (write(data[1], "late", 4) != 4) _exit(1);
        _exit(0);
    }
    close(data[1]);
    close(go[0]);
    hits = 0;
    go_fd = go[1];
    handle(SIGALRM, restart ? SA_RESTART : 0);
    arm_ms(100);
    char buf[16] = {0};
    errno = 0;
    ssize_t n = read(data[0], buf, sizeof buf - 1);
    if (n < 0) printf("read: -1 %s, handler ran: %s\n", errname(errno), yesno(hits == 1));
    else printf("read: %zd [%s], handler ran: %s\n", n, buf, yesno(hits == 1));
    if (n < 0) {
        n = read(data[0], buf, sizeof buf - 1);
        printf("read again: %zd [%s]\n", n, buf);
    }
    go_fd = -1;
    int st;
    xwait(pid, &st, 0);
    printf("child: %s\n", wstr(st));
    close(data[0]);
    close(go[1]);

    section(restart ? "blocked waitpid with SA_RESTART: restarted"
                    : "blocked waitpid without SA_RESTART: EINTR");
    xpipe(go);
    pid = xfork();
    if (pid == 0) {
        close(go[1]);
        char c;
        if (read(go[0], &c, 1) != 1) _exit(1);
        _exit(9);
    }
    close(go[0]);
    hits = 0;
    go_fd = go[1];
    arm_ms(100);
    errno = 0;
    pid_t r = waitpid(pid, &st, 0);
    if (r < 0) {
        printf("waitpid: -1 %s, handler ran: %s\n", errname(errno), yesno(hits == 1));
        r = xwait(pid, &st, 0);
        printf("waitpid again: the child: %s, %s\n", yesno(r == pid), wstr(st));
    } else {
        printf("waitpid: the child: %s, %s, handler ran: %s\n", yesno(r == pid), wstr(st),
               yesno(hits == 1));
    }
    go_fd = -1;
    close(go[1]);

    section(restart ? "nanosleep with SA_RESTART: still EINTR" : "nanosleep: EINTR");
    hits = 0;
    arm_ms(100);
    struct timespec req = {5, 0}, rem = {0, 0};
    errno = 0;
    int k = nanosleep(&req, &rem);
    printf("nanosleep(5 s): %s, handler ran: %s, remaining between 4 and 5 s: %s\n",
           k < 0 ? errname(errno) : "slept", yesno(hits == 1),
           yesno(rem.tv_sec == 4 || (rem.tv_sec == 5 && rem.tv_nsec == 0)));
    signal(SIGALRM, SIG_DFL);
}

static void alarm_pause(void)
{
    section("alarm and pause");
    printf("alarm(0) with none set: %u\n", alarm(0));
    alarm(10);
    printf("alarm(0) after alarm(10): %u\n", alarm(0));
    handle(SIGALRM, 0);
    hits = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    alarm(1);
    errno = 0;
    int r = pause();
    long ms = ms_since(&t0);
    printf("pause: %d %s, SIGALRM handled: %s, si_code=%s\n", r, errname(errno),
           yesno(hits == 1 && last_sig == SIGALRM), codename(last_code));
    printf("after about a second (900..3000 ms): %s\n", yesno(ms >= 900 && ms < 3000));
    printf("alarm(0) after it fired: %u\n", alarm(0));
    signal(SIGALRM, SIG_DFL);
}

static void itimers(void)
{
    section("setitimer and getitimer (ITIMER_REAL)");
    handle(SIGALRM, 0);
    hits = 0;
    struct itimerval it = {{0, 20000}, {0, 50000}}, cur, old;
    OKAY("setitimer 50 ms, then every 20 ms", setitimer(ITIMER_REAL, &it, NULL));
    getitimer(ITIMER_REAL, &cur);
    printf("value in (0, 50 ms]: %s, interval 20 ms: %s\n",
           yesno(cur.it_value.tv_sec == 0 && cur.it_value.tv_usec > 0 &&
                 cur.it_value.tv_usec <= 50000),
           yesno(cur.it_interval.tv_sec == 0 && cur.it_interval.tv_usec == 20000));
    sigset_t none;
    sigemptyset(&none);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    block(SIGALRM, SIG_BLOCK);
    while (hits < 3) sigsuspend(&none);
    block(SIGALRM, SIG_UNBLOCK);
    long ms = ms_since(&t0);
    printf("3 expirations, the last after >= 85 ms: %s, si_code=%s\n", yesno(ms >= 85),
           codename(last_code));
    struct itimerval zero = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &zero, &old);
    printf("disarming returns the old interval: %s\n", yesno(old.it_interval.tv_usec == 20000));
    getitimer(ITIMER_REAL, &cur);
    printf("disarmed: %s\n", yesno(!cur.it_value.tv_sec && !cur.it_value.tv_usec &&
                                   !cur.it_interval.tv_sec && !cur.it_interval.tv_usec));
    it.it_value.tv_usec = 1000000;
    OKAY("tv_usec of 1000000", setitimer(ITIMER_REAL, &it, NULL));
    OKAY("an unknown timer", setitimer(7, &zero, NULL));
    /* alarm() and ITIMER_REAL are the same timer */
    alarm(5);
    getitimer(ITIMER_REAL, &cur);
    printf("alarm(5) seen by getitimer: %s\n", yesno(cur.it_value.tv_sec == 4 || cur.it_value.tv_sec == 5));
    setitimer(ITIMER_REAL, &zero, NULL);
    printf("setitimer(0) cancels the alarm: alarm(0)=%u\n", alarm(0));
    signal(SIGALRM, SIG_DFL);

    int which[] = {ITIMER_VIRTUAL, ITIMER_PROF};
    int sigs[] = {SIGVTALRM, SIGPROF};
    const char *names[] = {"ITIMER_VIRTUAL", "ITIMER_PROF"};
    for (int i = 0; i < 2; i++) {
        char title[64];
        snprintf(title, sizeof title, "%s: fires after CPU time", names[i]);
        section(title);
        handle(sigs[i], 0);
        hits = 0;
        struct itimerval v = {{0, 0}, {0, 30000}};
        setitimer(which[i], &v, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        volatile uint64_t x = 1;
        while (!hits && ms_since(&t0) < 5000)
            for (int k = 0; k < 100000 && !hits; k++) x = x * 6364136223846793005ull + 1;
        printf("signal %s arrived: %s, si_code=%s\n", names[i], yesno(hits == 1 && last_sig == sigs[i]),
               codename(last_code));
        setitimer(which[i], &zero, NULL);
        signal(sigs[i], SIG_DFL);
    }
}

static void suspend_and_wait(void)
{
    section("sigsuspend wakes for a signal from a child");
    handle(SIGUSR1, 0);
    block(SIGUSR1, SIG_BLOCK);
    hits = 0;
    pid_t pid = xfork();
    if (pid == 0) {
        kill(getppid(), SIGUSR1);
        _exit(0);
    }
    sigset_t none, now;
    sigemptyset(&none);
    errno = 0;
    int r = sigsuspend(&none);
    printf("sigsuspend: %d %s, handler ran: %s, si_pid==child: %s\n", r, errname(errno),
           yesno(hits == 1), yesno(last_pid == pid));
    sigprocmask(SIG_SETMASK, NULL, &now);
    printf("the mask is restored (SIGUSR1 blocked): %s\n", yesno(sigismember(&now, SIGUSR1)));
    int st;
    xwait(pid, &st, 0);
    block(SIGUSR1, SIG_UNBLOCK);

    section("sigtimedwait for a signal from a child");
    block(SIGUSR2, SIG_BLOCK);
    int go[2];
    xpipe(go);
    pid = xfork();
    if (pid == 0) {
        close(go[1]);
        char c;
        if (read(go[0], &c, 1) != 1) _exit(1);
        union sigval v = {.sival_int = 99};
        sigqueue(getppid(), SIGUSR2, v);
        _exit(0);
    }
    close(go[0]);
    if (write(go[1], "g", 1) != 1) guest_failures++;
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR2);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    struct timespec ts = {5, 0};
    r = sigtimedwait(&m, &si, &ts);
    printf("sigtimedwait: %d si_code=%s si_value=%d si_pid==child: %s\n", r, codename(si.si_code),
           si.si_value.sival_int, yesno(si.si_pid == pid));
    xwait(pid, &st, 0);
    close(go[1]);
    block(SIGUSR2, SIG_UNBLOCK);
    signal(SIGUSR1, SIG_DFL);
}

/* SIGCHLD is blocked and collected with sigwaitinfo, so each notification is seen once. */
static void sigchld(int nocldstop)
{
    section(nocldstop ? "SIGCHLD with SA_NOCLDSTOP: only the exit"
                      : "SIGCHLD for stop, continue and exit");
    handle(SIGCHLD, nocldstop ? SA_NOCLDSTOP : 0);
    block(SIGCHLD, SIG_BLOCK);
    int go[2];
    xpipe(go);
    pid_t pid = xfork();
    if (pid == 0) {
        close(go[1]);
        raise(SIGSTOP);
        char c;
        if (read(go[0], &c, 1) != 1) _exit(1);
        _exit(3);
    }
    close(go[0]);
    sigset_t m, p;
    sigemptyset(&m);
    sigaddset(&m, SIGCHLD);
    siginfo_t si;
    int st;
    xwait(pid, &st, WUNTRACED);
    printf("waitpid(WUNTRACED): %s\n", wstr(st));
    sigpending(&p);
    if (sigismember(&p, SIGCHLD)) {
        memset(&si, 0, sizeof si);
        sigwaitinfo(&m, &si);
        printf("SIGCHLD: %s si_status=%d si_pid==child: %s\n", codename(si.si_code), si.si_status,
               yesno(si.si_pid == pid));
    } else {
        printf("no SIGCHLD for the stop\n");
    }
    kill(pid, SIGCONT);
    xwait(pid, &st, WCONTINUED);
    printf("waitpid(WCONTINUED): %s\n", wstr(st));
    if (!nocldstop) {
        /* The child itself sends this one when it runs again: wait for it. */
        memset(&si, 0, sizeof si);
        struct timespec ts = {5, 0};
        int r = sigtimedwait(&m, &si, &ts);
        printf("SIGCHLD: %s si_code=%s si_status=%d si_pid==child: %s\n",
               r == SIGCHLD ? "yes" : errname(errno), codename(si.si_code), si.si_status,
               yesno(si.si_pid == pid));
    }
    if (write(go[1], "g", 1) != 1) guest_failures++;
    close(go[1]);
    memset(&si, 0, sizeof si);
    sigwaitinfo(&m, &si); /* after the continue (if any) comes the exit */
    printf("next SIGCHLD: %s si_status=%d si_pid==child: %s\n", codename(si.si_code), si.si_status,
           yesno(si.si_pid == pid));
    xwait(pid, &st, 0);
    printf("reaped: %s\n", wstr(st));
    block(SIGCHLD, SIG_UNBLOCK);
    signal(SIGCHLD, SIG_DFL);
}

static void sigchld_handler(void)
{
    section("SIGCHLD handler runs when a child exits");
    handle(SIGCHLD, 0);
    block(SIGCHLD, SIG_BLOCK);
    hits = 0;
    pid_t pid = xfork();
    if (pid == 0) _exit(4);
    sigset_t none;
    sigemptyset(&none);
    while (!hits) sigsuspend(&none);
    printf("handler: sig=%d %s si_pid==child: %s\n", last_sig, codename(last_code),
           yesno(last_pid == pid));
    int st;
    xwait(pid, &st, 0);
    printf("reaped: %s\n", wstr(st));
    block(SIGCHLD, SIG_UNBLOCK);
    signal(SIGCHLD, SIG_DFL);
}

static volatile sig_atomic_t flag, cont_seen;
static void on_flag(int s) { (void)s, flag = 1; }
static void on_cont(int s) { (void)s, cont_seen = 1; }

static void groups(void)
{
    section("kill(0, sig) reaches the whole process group");
    pid_t a = xfork();
    if (a == 0) {
        setpgid(0, 0);
        pid_t kids[2];
        int ready[2];
        xpipe(ready);
        for (int i = 0; i < 2; i++) {
            kids[i] = xfork();
            if (kids[i] == 0) {
                close(ready[0]);
                if (write(ready[1], "r", 1) != 1) _exit(1);
                for (;;) pause(); /* SIGUSR1 (default action) ends it */
            }
        }
        close(ready[1]);
        char c;
        for (int i = 0; i < 2; i++)
            if (read(ready[0], &c, 1) != 1) _exit(1);
        struct sigaction sa = {0};
        sa.sa_handler = on_flag;
        sigaction(SIGUSR1, &sa, NULL);
        flag = 0;
        kill(0, SIGUSR1);
        printf("leader's handler ran: %s\n", yesno(flag));
        for (int i = 0; i < 2; i++) {
            int st;
            xwait(kids[i], &st, 0);
            printf("member %d: %s\n", i, wstr(st));
        }
        fflush(stdout);
        _exit(0);
    }
    int st;
    xwait(a, &st, 0);
    printf("leader: %s\n", wstr(st));

    section("kill(-pgid, sig) from outside the group");
    int ready[2];
    xpipe(ready);
    pid_t d = xfork();
    if (d == 0) {
        setpgid(0, 0);
        struct sigaction sa = {0};
        sa.sa_handler = on_flag;
        sigaction(SIGTERM, &sa, NULL);
        block(SIGTERM, SIG_BLOCK);
        pid_t e = xfork();
        if (e == 0) {
            signal(SIGTERM, SIG_DFL);
            block(SIGTERM, SIG_UNBLOCK);
            for (;;) pause();
        }
        close(ready[0]);
        if (write(ready[1], "r", 1) != 1) _exit(1);
        sigset_t none;
        sigemptyset(&none);
        flag = 0;
        while (!flag) sigsuspend(&none);
        int est;
        xwait(e, &est, 0);
        printf("member: %s\n", wstr(est));
        printf("leader's handler ran: %s\n", yesno(flag));
        fflush(stdout);
        _exit(0);
    }
    setpgid(d, d); /* as shells do: whoever runs first */
    close(ready[1]);
    char c;
    if (read(ready[0], &c, 1) != 1) guest_failures++;
    close(ready[0]);
    errno = 0;
    int kr = kill(-d, SIGTERM), ke = errno;
    xwait(d, &st, 0); /* the group prints: nothing from here until it is reaped */
    printf("kill(-pgid, SIGTERM): %s\n", kr < 0 ? errname(ke) : "ok");
    printf("leader: %s\n", wstr(st));
    OKAY("kill(-pgid) once the group is gone", kill(-d, SIGTERM));
    OKAY("killpg once the group is gone", killpg(d, 0));
}

static void computing(void)
{
    section("a child computing in a tight loop is interrupted");
    int ready[2];
    xpipe(ready);
    pid_t pid = xfork();
    if (pid == 0) {
        struct sigaction sa = {0};
        sa.sa_handler = on_flag;
        sigaction(SIGUSR1, &sa, NULL);
        sa.sa_handler = on_cont;
        sigaction(SIGCONT, &sa, NULL);
        flag = cont_seen = 0;
        close(ready[0]);
        if (write(ready[1], "r", 1) != 1) _exit(1);
        /* No system call in this loop; bounded (many seconds) in case no signal comes. */
        unsigned long n = 0;
        volatile uint64_t x = 1;
        while (!flag && ++n < 20000000000ul) x = x * 6364136223846793005ull + 1;
        _exit(!flag ? 2 : cont_seen ? 10 : 11);
    }
    close(ready[1]);
    char c;
    if (read(ready[0], &c, 1) != 1) guest_failures++;
    close(ready[0]);
    int st;
    kill(pid, SIGSTOP);
    xwait(pid, &st, WUNTRACED);
    printf("SIGSTOP while computing: %s\n", wstr(st));
    kill(pid, SIGCONT);
    xwait(pid, &st, WCONTINUED);
    printf("SIGCONT: %s\n", wstr(st));
    kill(pid, SIGUSR1);
    xwait(pid, &st, 0);
    printf("SIGUSR1 ended the loop: %s (10: the SIGCONT handler ran too)\n", wstr(st));

    xpipe(ready);
    pid = xfork();
    if (pid == 0) {
        close(ready[0]);
        if (write(ready[1], "r", 1) != 1) _exit(1);
        unsigned long n = 0;
        volatile uint64_t x = 1;
        while (++n < 20000000000ul) x = x * 6364136223846793005ull + 1;
        _exit(2);
    }
    close(ready[1]);
    if (read(ready[0], &c, 1) != 1) guest_failures++;
    close(ready[0]);
    kill(pid, SIGTERM);
    xwait(pid, &st, 0);
    printf("SIGTERM (default action) while computing: %s\n", wstr(st));
}

int main(void)
{
    default_signals();
    start_watchdog_child();
    from_child();
    interrupted(0);
    interrupted(1);
    alarm_pause();
    itimers();
    suspend_and_wait();
    sigchld(1);
    sigchld(0);
    sigchld_handler();
    groups();
    computing();
    stop_watchdog_child();
    if (guest_failures) fprintf(stderr, "sigasync: %d check(s) failed\n", guest_failures);
    return guest_failures ? 1 : 0;
}
