/* wait4/waitpid/waitid: exit statuses and their encoding, deaths by signal, WNOHANG,
 * WUNTRACED/WSTOPPED, WCONTINUED, WNOWAIT, __WALL/__WCLONE, rusage, ECHILD, zombies until
 * reaped, SIGCHLD ignored (children reaped automatically), orphans reparented to the reaper
 * (PID 1 in uno; natively this process, made a child subreaper). Only the parent prints, after
 * reaping. Exits 1 (with a message on stderr) if a check failed. */
#include "guest.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The status without the core-dump bit (whether a core is written depends on the host). */
static int nocore(int st) { return st & ~0x80; }

static const char *cldname(int code)
{
    switch (code) {
    case CLD_EXITED: return "CLD_EXITED";
    case CLD_KILLED: return "CLD_KILLED";
    case CLD_DUMPED: return "CLD_DUMPED";
    case CLD_TRAPPED: return "CLD_TRAPPED";
    case CLD_STOPPED: return "CLD_STOPPED";
    case CLD_CONTINUED: return "CLD_CONTINUED";
    default: return "?";
    }
}

/* Like xwait, for a state change that needs a signal to be delivered: polls with WNOHANG for
 * at most 10 s, then kills the child (and says so) instead of hanging. */
static pid_t bwait(pid_t pid, int *st, int flags)
{
    for (int i = 0; i < 10000; i++) {
        pid_t r = waitpid(pid, st, flags | WNOHANG);
        if (r != 0) return r;
        usleep(1000);
    }
    printf("(no state change in 10 s: SIGKILL)\n");
    kill(pid, SIGKILL);
    return xwait(pid, st, flags);
}

/* The same for waitid(P_PID, pid). */
static int bwaitid(pid_t pid, siginfo_t *si, int flags)
{
    for (int i = 0; i < 10000; i++) {
        si->si_pid = 0;
        int r = waitid(P_PID, (id_t)pid, si, flags | WNOHANG);
        if (r < 0 || si->si_pid != 0) return r;
        usleep(1000);
    }
    printf("(no state change in 10 s: SIGKILL)\n");
    kill(pid, SIGKILL);
    return waitid(P_PID, (id_t)pid, si, WEXITED | (flags & __WALL));
}

static volatile int zero, hundred = 100;

static void statuses(void)
{
    section("exit statuses");
    int codes[] = {0, 1, 3, 127, 255, 256, 257};
    for (unsigned i = 0; i < sizeof codes / sizeof *codes; i++) {
        pid_t pid = xfork();
        if (pid == 0) _exit(codes[i]);
        int st = -1;
        pid_t r = xwait(pid, &st, 0);
        printf("_exit(%d): %s raw=%#06x returned the pid: %s\n", codes[i], wstr(st), st,
               yesno(r == pid));
        if (!WIFEXITED(st) || WEXITSTATUS(st) != (codes[i] & 255) || st != (codes[i] & 255) << 8) {
            fprintf(stderr, "exit status %d encoded as %#x\n", codes[i], st);
            guest_failures++;
        }
    }
    /* exit() from main's return path as well */
    pid_t pid = xfork();
    if (pid == 0) exit(42);
    int st;
    xwait(pid, &st, 0);
    printf("exit(42): %s\n", wstr(st));

    section("deaths by signal");
    struct {
        const char *how;
        int sig;
    } cases[] = {{"kill SIGTERM", SIGTERM}, {"kill SIGKILL", SIGKILL}, {"kill SIGUSR1", SIGUSR1},
                 {"kill SIGINT", SIGINT},   {"kill SIGHUP", SIGHUP},   {"null dereference", SIGSEGV},
                 {"divide by zero", SIGFPE}, {"abort()", SIGABRT}};
    for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++) {
        int p[2];
        xpipe(p);
        pid = xfork();
        if (pid == 0) {
            close(p[0]);
            put_byte(p[1], 'r'); /* ready */
            if (cases[i].sig == SIGSEGV) {
                volatile int *np = NULL;
                zero = *np;
            } else if (cases[i].sig == SIGFPE) {
                zero = hundred / zero;
            } else if (cases[i].sig == SIGABRT) {
                abort();
            }
            for (;;) pause();
        }
        close(p[1]);
        get_byte(p[0]);
        close(p[0]);
        if (cases[i].sig != SIGSEGV && cases[i].sig != SIGFPE && cases[i].sig != SIGABRT)
            kill(pid, cases[i].sig);
        st = -1;
        bwait(pid, &st, 0);
        printf("%s: %s raw(without core bit)=%#06x\n", cases[i].how, wstr(st), nocore(st));
        if (!WIFSIGNALED(st) || WTERMSIG(st) != cases[i].sig || nocore(st) != cases[i].sig) {
            fprintf(stderr, "%s: status %#x\n", cases[i].how, st);
            guest_failures++;
        }
    }
    /* waitid reports a death by SIGTERM as CLD_KILLED with si_status = the signal. The
     * signal is sent at once, maybe before the child ran at all. */
    pid = xfork();
    if (pid == 0) {
        for (;;) pause();
    }
    kill(pid, SIGTERM);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r = bwaitid(pid, &si, WEXITED);
    printf("waitid on a SIGTERM death (sent right after fork): %s si_signo=%d si_code=%s si_status=%d si_pid ok: %s\n",
           r < 0 ? errname(errno) : "ok", si.si_signo, cldname(si.si_code), si.si_status,
           yesno(si.si_pid == pid));
    pid = xfork();
    if (pid == 0) _exit(77);
    memset(&si, 0, sizeof si);
    r = waitid(P_ALL, 0, &si, WEXITED);
    printf("waitid P_ALL on _exit(77): %s si_signo=%d si_code=%s si_status=%d si_pid ok: %s\n",
           r < 0 ? errname(errno) : "ok", si.si_signo, cldname(si.si_code), si.si_status,
           yesno(si.si_pid == pid));
}

static void rusage_test(void)
{
    section("rusage");
    pid_t pid = xfork();
    if (pid == 0) {
        volatile uint64_t x = 1;
        for (int i = 0; i < 3000000; i++) x = x * 6364136223846793005ull + 1;
        _exit(0);
    }
    struct rusage ru;
    memset(&ru, 0xff, sizeof ru);
    int st;
    pid_t r;
    while ((r = wait4(pid, &st, 0, &ru)) < 0 && errno == EINTR) {}
    EXPECT("wait4 returned the pid", r == pid);
    int ok = ru.ru_utime.tv_sec >= 0 && ru.ru_stime.tv_sec >= 0 && ru.ru_utime.tv_usec >= 0 &&
             ru.ru_utime.tv_usec < 1000000 && ru.ru_stime.tv_usec >= 0 &&
             ru.ru_stime.tv_usec < 1000000 && ru.ru_maxrss >= 0;
    EXPECT("rusage ok", ok);
    struct rusage ch;
    EXPECT("getrusage(RUSAGE_CHILDREN) ok", getrusage(RUSAGE_CHILDREN, &ch) == 0 &&
                                                 ch.ru_utime.tv_sec >= 0 && ch.ru_stime.tv_sec >= 0);
    /* waitid's fifth argument (the raw system call) is an rusage too */
    pid = xfork();
    if (pid == 0) _exit(0);
    siginfo_t si;
    memset(&ru, 0xff, sizeof ru);
    long rr = syscall(SYS_waitid, P_PID, (long)pid, &si, WEXITED, &ru);
    EXPECT("raw waitid with rusage ok", rr == 0 && ru.ru_utime.tv_sec >= 0 && ru.ru_stime.tv_sec >= 0);
}

static void echild(void)
{
    section("ECHILD");
    int st;
    errno = 0;
    printf("waitpid(-1): %s\n", waitpid(-1, &st, 0) < 0 ? errname(errno) : "returned a child");
    errno = 0;
    printf("waitpid(-1, WNOHANG): %s\n",
           waitpid(-1, &st, WNOHANG) < 0 ? errname(errno) : "returned a child");
    errno = 0;
    printf("waitpid(getpid()): %s\n",
           waitpid(getpid(), &st, 0) < 0 ? errname(errno) : "returned a child");
    errno = 0;
    printf("waitpid(0): %s\n", waitpid(0, &st, 0) < 0 ? errname(errno) : "returned a child");
    siginfo_t si;
    errno = 0;
    printf("waitid(P_ALL): %s\n", waitid(P_ALL, 0, &si, WEXITED) < 0 ? errname(errno) : "ok");
    errno = 0;
    printf("wait(NULL): %s\n", wait(NULL) < 0 ? errname(errno) : "returned a child");
    errno = 0;
    printf("waitid without WEXITED|WSTOPPED|WCONTINUED: %s\n",
           waitid(P_ALL, 0, &si, WNOHANG) < 0 ? errname(errno) : "ok");
    errno = 0;
    printf("waitpid with an unknown flag: %s\n",
           waitpid(-1, &st, 0x40000) < 0 ? errname(errno) : "ok");
}

static void wnohang(void)
{
    section("WNOHANG");
    int go[2];
    xpipe(go);
    pid_t pid = xfork();
    if (pid == 0) {
        close(go[1]);
        get_byte(go[0]);
        _exit(5);
    }
    close(go[0]);
    int st = 12345;
    pid_t r = waitpid(pid, &st, WNOHANG);
    printf("waitpid(child, WNOHANG) while it runs: %d, status untouched: %s\n", (int)r,
           yesno(st == 12345));
    r = waitpid(-1, &st, WNOHANG);
    printf("waitpid(-1, WNOHANG) while it runs: %d\n", (int)r);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_pid = 0;
    int ri = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG);
    printf("waitid(WNOHANG) while it runs: %d, si_pid==0: %s\n", ri, yesno(si.si_pid == 0));
    put_byte(go[1], 'x');
    close(go[1]);
    r = xwait(pid, &st, 0);
    printf("then blocking waitpid: %s, the pid: %s\n", wstr(st), yesno(r == pid));
    /* After it exited: WNOHANG reaps it at once. */
    pid = xfork();
    if (pid == 0) _exit(6);
    memset(&si, 0, sizeof si);
    bwaitid(pid, &si, WEXITED | WNOWAIT); /* until it is a zombie */
    r = waitpid(pid, &st, WNOHANG);
    printf("waitpid(WNOHANG) on a zombie: the pid: %s, %s\n", yesno(r == pid), wstr(st));
}

static void stop_continue(void)
{
    section("WUNTRACED and WCONTINUED");
    int go[2];
    xpipe(go);
    pid_t pid = xfork();
    if (pid == 0) {
        close(go[1]);
        raise(SIGSTOP);
        get_byte(go[0]); /* stay alive until the parent saw "continued" */
        _exit(4);
    }
    close(go[0]);
    int st = 0;
    pid_t r = bwait(pid, &st, WUNTRACED);
    printf("waitpid(WUNTRACED): %s raw=%#06x pid ok: %s\n", wstr(st), st, yesno(r == pid));
    r = waitpid(pid, &st, WNOHANG);
    printf("plain waitpid(WNOHANG) on a stopped child: %d\n", (int)r);
    r = waitpid(pid, &st, WNOHANG | WUNTRACED);
    printf("the stop is reported once: %d\n", (int)r);
    kill(pid, SIGCONT);
    r = bwait(pid, &st, WCONTINUED);
    printf("waitpid(WCONTINUED): %s raw=%#06x pid ok: %s\n", wstr(st), st, yesno(r == pid));
    r = waitpid(pid, &st, WNOHANG | WCONTINUED);
    printf("the continue is reported once: %d\n", (int)r);
    put_byte(go[1], 'x');
    close(go[1]);
    r = xwait(pid, &st, WUNTRACED | WCONTINUED);
    printf("then: %s\n", wstr(st));

    section("waitid WSTOPPED and WCONTINUED");
    xpipe(go);
    pid = xfork();
    if (pid == 0) {
        close(go[1]);
        raise(SIGSTOP);
        get_byte(go[0]);
        _exit(8);
    }
    close(go[0]);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int ri = bwaitid(pid, &si, WSTOPPED);
    printf("waitid(WSTOPPED): %d si_signo=%d si_code=%s si_status=%d si_pid ok: %s\n", ri,
           si.si_signo, cldname(si.si_code), si.si_status, yesno(si.si_pid == pid));
    kill(pid, SIGCONT);
    memset(&si, 0, sizeof si);
    ri = bwaitid(pid, &si, WCONTINUED);
    printf("waitid(WCONTINUED): %d si_signo=%d si_code=%s si_status=%d si_pid ok: %s\n", ri,
           si.si_signo, cldname(si.si_code), si.si_status, yesno(si.si_pid == pid));
    put_byte(go[1], 'x');
    close(go[1]);
    memset(&si, 0, sizeof si);
    ri = waitid(P_PID, (id_t)pid, &si, WEXITED);
    printf("waitid(WEXITED): %d si_signo=%d si_code=%s si_status=%d si_pid ok: %s\n", ri,
           si.si_signo, cldname(si.si_code), si.si_status, yesno(si.si_pid == pid));

    section("SIGKILL on a stopped child");
    pid = xfork();
    if (pid == 0) {
        raise(SIGSTOP);
        _exit(0);
    }
    bwait(pid, &st, WUNTRACED);
    printf("first: %s\n", wstr(st));
    kill(pid, SIGKILL);
    bwait(pid, &st, 0);
    printf("after SIGKILL: %s\n", wstr(st));
}

static void wnowait(void)
{
    section("WNOWAIT");
    pid_t pid = xfork();
    if (pid == 0) _exit(9);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
    printf("waitid(WNOWAIT): %d si_code=%s si_status=%d\n", r, cldname(si.si_code), si.si_status);
    memset(&si, 0, sizeof si);
    r = waitid(P_ALL, 0, &si, WEXITED | WNOWAIT);
    printf("again (P_ALL): %d si_status=%d si_pid ok: %s\n", r, si.si_status,
           yesno(si.si_pid == pid));
    int st;
    pid_t w = xwait(pid, &st, 0);
    printf("waitpid still finds it: %s %s\n", yesno(w == pid), wstr(st));
    errno = 0;
    printf("then: %s\n", waitpid(pid, &st, WNOHANG) < 0 ? errname(errno) : "still there");
}

static void wall(void)
{
    section("__WALL and __WCLONE");
    /* A clone child whose exit signal is not SIGCHLD is a "clone" child. */
    fflush(stdout);
    long c = syscall(SYS_clone, 0L, 0L, 0L, 0L, 0L);
    if (c == 0) syscall(SYS_exit, 6);
    if (c < 0) {
        printf("clone: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    siginfo_t si;
    memset(&si, 0, sizeof si);
    bwaitid((pid_t)c, &si, WEXITED | WNOWAIT | __WALL); /* until it exited */
    int st;
    errno = 0;
    pid_t r = waitpid((pid_t)c, &st, WNOHANG);
    printf("waitpid without __WALL: %s\n", r < 0 ? errname(errno) : "found it");
    r = waitpid((pid_t)c, &st, __WALL);
    printf("waitpid(__WALL): found it: %s, %s\n", yesno(r == c), wstr(st));

    c = syscall(SYS_clone, 0L, 0L, 0L, 0L, 0L);
    if (c == 0) syscall(SYS_exit, 7);
    r = xwait((pid_t)c, &st, __WCLONE);
    printf("waitpid(__WCLONE): found it: %s, %s\n", yesno(r == c), wstr(st));

    pid_t pid = xfork();
    if (pid == 0) _exit(8);
    memset(&si, 0, sizeof si);
    bwaitid(pid, &si, WEXITED | WNOWAIT);
    errno = 0;
    r = waitpid(pid, &st, __WCLONE | WNOHANG);
    printf("a fork child with __WCLONE: %s\n", r < 0 ? errname(errno) : "found it");
    r = waitpid(pid, &st, __WALL);
    printf("a fork child with __WALL: found it: %s, %s\n", yesno(r == pid), wstr(st));
}

static void zombies(void)
{
    section("zombies until reaped");
    pid_t pid = xfork();
    if (pid == 0) _exit(0);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    bwaitid(pid, &si, WEXITED | WNOWAIT); /* it has exited, not reaped */
    errno = 0;
    printf("kill(zombie, 0): %s\n", kill(pid, 0) < 0 ? errname(errno) : "ok");
    printf("getpgid(zombie)==getpgrp(): %s\n", yesno(getpgid(pid) == getpgrp()));
    printf("kill(zombie, SIGKILL): %s\n", kill(pid, SIGKILL) < 0 ? errname(errno) : "ok");
    int st;
    pid_t r = xwait(pid, &st, 0);
    printf("reaped: %s %s\n", yesno(r == pid), wstr(st));
    errno = 0;
    printf("kill(reaped, 0): %s\n", kill(pid, 0) < 0 ? errname(errno) : "ok");

    section("SIGCHLD ignored: children are not left as zombies");
    signal(SIGCHLD, SIG_IGN);
    pid_t a = xfork();
    if (a == 0) _exit(1);
    pid_t b = xfork();
    if (b == 0) _exit(2);
    errno = 0;
    r = waitpid(-1, &st, 0); /* blocks until both are gone, then ECHILD */
    printf("waitpid(-1): %s\n", r < 0 ? errname(errno) : "returned a child");
    errno = 0;
    printf("kill(a, 0): %s\n", kill(a, 0) < 0 ? errname(errno) : "ok");
    signal(SIGCHLD, SIG_DFL);
    while (xwait(-1, &st, 0) > 0) {} /* none natively; keeps a failure here from spreading */

    section("SA_NOCLDWAIT");
    struct sigaction sa = {0};
    sa.sa_handler = SIG_DFL;
    sa.sa_flags = SA_NOCLDWAIT;
    sigaction(SIGCHLD, &sa, NULL);
    a = xfork();
    if (a == 0) _exit(1);
    errno = 0;
    r = waitpid(-1, &st, 0);
    printf("waitpid(-1): %s\n", r < 0 ? errname(errno) : "returned a child");
    sa.sa_flags = 0;
    sigaction(SIGCHLD, &sa, NULL);
    while (xwait(-1, &st, 0) > 0) {} /* none natively; keeps a failure here from spreading */
}

static void orphans(void)
{
    section("orphans are reparented to the reaper");
    pid_t reaper = getpid();
    if (reaper != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
        fprintf(stderr, "PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
        guest_failures++;
    }
    int info[2], go[2], ack[2];
    xpipe(info);
    xpipe(go);
    xpipe(ack);
    pid_t child = xfork();
    if (child == 0) {
        pid_t g = xfork();
        if (g == 0) {
            close(go[1]);
            close(info[0]);
            pid_t before = getppid();
            put_byte(ack[1], 'a'); /* the child waits for this before it exits */
            get_byte(go[0]);       /* the child is dead and reaped by now */
            char r[2] = {before == reaper ? 'n' : 'y', getppid() == reaper ? 'y' : 'n'};
            if (write(info[1], r, 2) != 2) _exit(1);
            _exit(42);
        }
        if (write(info[1], &g, sizeof g) != sizeof g) _exit(1);
        get_byte(ack[0]);
        _exit(3);
    }
    close(ack[0]);
    close(ack[1]);
    close(info[1]);
    close(go[0]);
    pid_t g = 0;
    if (read(info[0], &g, sizeof g) != sizeof g) guest_failures++;
    int st;
    pid_t r = xwait(child, &st, 0);
    printf("child: %s\n", wstr(st));
    put_byte(go[1], 'x');
    char rep[2] = {0, 0};
    if (read(info[0], rep, 2) != 2) guest_failures++;
    printf("grandchild's parent was the child before: %s\n", yesno(rep[0] == 'y'));
    printf("grandchild's getppid()==reaper after the child died: %s\n", yesno(rep[1] == 'y'));
    r = xwait(-1, &st, 0);
    printf("the reaper reaped the orphan: %s, %s\n", yesno(r == g), wstr(st));
    errno = 0;
    printf("then: %s\n", waitpid(-1, &st, WNOHANG) < 0 ? errname(errno) : "more children");
    close(info[0]);
    close(go[1]);

    /* An orphan that exits before anyone waits becomes the reaper's zombie. */
    child = xfork();
    if (child == 0) {
        pid_t g2 = xfork();
        if (g2 == 0) _exit(43);
        _exit(0); /* without waiting for g2 */
    }
    xwait(child, &st, 0);
    int n = 0, got43 = 0;
    while ((r = xwait(-1, &st, 0)) > 0) {
        n++;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 43) got43 = 1;
    }
    printf("orphaned zombie reaped by the reaper: %s (%d)\n", yesno(got43), n);
}

int main(void)
{
    signal(SIGCHLD, SIG_DFL);
    start_watchdog();
    echild();
    statuses();
    rusage_test();
    wnohang();
    stop_continue();
    wnowait();
    wall();
    zombies();
    orphans();
    if (guest_failures) fprintf(stderr, "wait: %d check(s) failed\n", guest_failures);
    return guest_failures ? 1 : 0;
}
