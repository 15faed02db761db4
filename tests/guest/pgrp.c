/* Process groups and sessions: getpgrp/getpgid/getsid/getppid, what a child inherits,
 * setpgid (own group, moving back, into a group of the same session, errors EPERM, ESRCH,
 * EINVAL, EACCES once the child has exec'd), setsid (a new session and group, EPERM for a
 * group leader), waitpid(0) and waitpid(-pgid), /dev/tty without a controlling terminal and
 * tcgetpgrp on a non-terminal. Everything that changes ids happens in children: the initial
 * process is PID 1 (and maybe a session leader) in uno, not natively.
 * `pgrp --child-wait FD` is the program a child execs (it waits until FD reaches EOF).
 * Exits 1 (with a message on stderr) if a check failed. */
#include "guest.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* Waits for a child that printed; its output is complete when this returns. */
static void reap_ok(const char *label, pid_t pid)
{
    int st = 0;
    pid_t r;
    while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {}
    printf("%s: %s\n", label, r == pid ? wstr(st) : errname(errno));
    if (r != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "%s: %s\n", label, wstr(st));
        guest_failures++;
    }
}

/* errno name of a call returning -1, or "ok" */
#define ERR(expr) ((errno = 0, (expr)) < 0 ? errname(errno) : "ok")

/* A pid that no process has: a child's, once reaped. */
static pid_t dead_pid(void)
{
    pid_t pid = xfork();
    if (pid == 0) _exit(0);
    waitpid(pid, NULL, 0);
    return pid;
}

static void ids(void)
{
    section("ids of this process");
    EXPECT("getpgrp()==getpgid(0)", getpgrp() == getpgid(0));
    EXPECT("getpgid(getpid())==getpgrp()", getpgid(getpid()) == getpgrp());
    EXPECT("getsid(0)==getsid(getpid())", getsid(0) == getsid(getpid()));
    EXPECT("getpgrp() > 0 and getsid(0) > 0", getpgrp() > 0 && getsid(0) > 0);
    pid_t gone = dead_pid();
    printf("getpgid(no such process): %s\n", ERR(getpgid(gone)));
    printf("getsid(no such process): %s\n", ERR(getsid(gone)));
    printf("getpgid(-1): %s\n", ERR(getpgid(-1)));
}

static void inherit(void)
{
    section("a child inherits group and session");
    pid_t me = getpid(), pg = getpgrp(), sid = getsid(0);
    pid_t pid = xfork();
    if (pid == 0) {
        EXPECT("child: getppid()==parent", getppid() == me);
        EXPECT("child: getpgrp()==parent's", getpgrp() == pg);
        EXPECT("child: getsid(0)==parent's", getsid(0) == sid);
        EXPECT("child: getpgid(parent)==own group", getpgid(me) == pg);
        EXPECT("child: not a group leader", getpgrp() != getpid());
        child_done();
    }
    reap_ok("child", pid);
}

static void setpgid_tests(void)
{
    section("setpgid");
    pid_t pg = getpgrp(), sid = getsid(0);
    int go[2], ready[2];
    xpipe(go);
    xpipe(ready);
    pid_t pid = xfork();
    if (pid == 0) {
        close(go[1]);
        close(ready[0]);
        printf("child: setpgid(0, 0): %s\n", ERR(setpgid(0, 0)));
        EXPECT("child: now the leader of its own group", getpgrp() == getpid());
        EXPECT("child: same session", getsid(0) == sid);
        printf("child: setpgid(0, getpid()) again: %s\n", ERR(setpgid(0, getpid())));
        printf("child: setpgid(0, -1): %s\n", ERR(setpgid(0, -1)));
        printf("child: setpgid(-1, 0): %s\n", ERR(setpgid(-1, 0)));
        printf("child: setpgid(parent, 0) (not a child): %s\n", ERR(setpgid(getppid(), 0)));
        pid_t gone = dead_pid();
        printf("child: setpgid(0, a pgid nobody has): %s\n", ERR(setpgid(0, gone)));
        printf("child: back into the parent's group: %s\n", ERR(setpgid(0, pg)));
        EXPECT("child: getpgrp()==parent's", getpgrp() == pg);
        printf("child: its own group again: %s\n", ERR(setpgid(0, 0)));
        fflush(stdout);
        if (write(ready[1], "r", 1) != 1) _exit(1);
        char c;
        if (read(go[0], &c, 1) < 0) _exit(1);
        child_done();
    }
    close(go[0]);
    close(ready[1]);
    char c;
    if (read(ready[0], &c, 1) != 1) guest_failures++;
    /* The child waits; the parent moves it between groups. */
    pid_t got1 = getpgid(pid);
    int r1 = setpgid(pid, pg), e1 = errno;
    pid_t got2 = getpgid(pid);
    int r2 = setpgid(pid, pid), e2 = errno;
    pid_t got3 = getpgid(pid);
    pid_t gone = dead_pid();
    int r3 = setpgid(gone, 0), e3 = errno;
    if (write(go[1], "g", 1) != 1) guest_failures++;
    close(go[1]);
    reap_ok("child", pid);
    EXPECT("parent: getpgid(child)==child", got1 == pid);
    printf("parent: setpgid(child, own group): %s\n", r1 < 0 ? errname(e1) : "ok");
    EXPECT("parent: getpgid(child)==own group", got2 == pg);
    printf("parent: setpgid(child, child): %s\n", r2 < 0 ? errname(e2) : "ok");
    EXPECT("parent: getpgid(child)==child again", got3 == pid);
    printf("parent: setpgid(a reaped child, 0): %s\n", r3 < 0 ? errname(e3) : "ok");
    close(ready[0]);

    section("a group outlives its leader");
    xpipe(go);
    xpipe(ready);
    pid = xfork();
    if (pid == 0) {
        setpgid(0, 0);
        pid_t member = xfork();
        if (member == 0) {
            close(go[1]);
            close(ready[0]);
            if (write(ready[1], &(pid_t){getpid()}, sizeof(pid_t)) != sizeof(pid_t)) _exit(1);
            char c2;
            if (read(go[0], &c2, 1) < 0) _exit(1);
            _exit(0);
        }
        _exit(0); /* the leader exits, the member stays */
    }
    close(go[0]);
    close(ready[1]);
    pid_t member = 0;
    if (read(ready[0], &member, sizeof member) != sizeof member) guest_failures++;
    int st;
    waitpid(pid, &st, 0);
    pid_t mpg = getpgid(member);
    printf("the member's group is still the dead leader's pid: %s\n", yesno(mpg == pid));
    printf("kill(-dead leader's pid, 0): %s\n", ERR(kill(-pid, 0)));
    if (write(go[1], "g", 1) != 1) guest_failures++;
    close(go[1]);
    close(ready[0]);
    /* the member is an orphan now: reparented to the init process or a subreaper (natively
     * maybe not this process), so it is not waited for here */

    /* A pipeline: the first process may exit before the second joins its group. */
    section("joining the group of a zombie leader");
    pid = xfork();
    if (pid == 0) {
        setpgid(0, 0);
        _exit(0);
    }
    siginfo_t si;
    waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT); /* a zombie, not reaped */
    pid_t second = xfork();
    if (second == 0)
        _exit(setpgid(0, pid) == 0 && getpgid(0) == pid ? 0 : 1);
    int st2 = 0;
    waitpid(second, &st2, 0);
    EXPECT("the second process joined the zombie's group", WIFEXITED(st2) && WEXITSTATUS(st2) == 0);
    reap_ok("zombie leader", pid);
}

static void setsid_tests(void)
{
    section("setsid");
    pid_t sid0 = getsid(0), pg0 = getpgrp();
    int go[2], ready[2];
    xpipe(go);
    xpipe(ready);
    pid_t pid = xfork();
    if (pid == 0) {
        close(go[1]);
        close(ready[0]);
        pid_t s = setsid();
        EXPECT("child: setsid()==getpid()", s == getpid());
        EXPECT("child: getsid(0)==getpid()", getsid(0) == getpid());
        EXPECT("child: getpgrp()==getpid()", getpgrp() == getpid());
        EXPECT("child: getsid(parent) is the old session", getsid(getppid()) == sid0);
        printf("child: setsid() again (a group leader): %s\n", ERR(setsid()));
        printf("child: setpgid(0, parent's group) (another session): %s\n", ERR(setpgid(0, pg0)));
        printf("child: setpgid(0, 0) as session leader: %s\n", ERR(setpgid(0, 0)));
        /* a grandchild in the new session: can make its own group here */
        pid_t g = xfork();
        if (g == 0) {
            EXPECT("grandchild: in the new session", getsid(0) == getppid());
            printf("grandchild: setpgid(0, 0): %s\n", ERR(setpgid(0, 0)));
            printf("grandchild: back to the session leader's group: %s\n",
                   ERR(setpgid(0, getppid())));
            printf("grandchild: setsid(): %s\n", setsid() == getpid() ? "ok" : errname(errno));
            child_done();
        }
        reap_ok("child: grandchild", g);
        fflush(stdout);
        if (write(ready[1], "r", 1) != 1) _exit(1);
        char c;
        if (read(go[0], &c, 1) < 0) _exit(1);
        child_done();
    }
    close(go[0]);
    close(ready[1]);
    char c;
    if (read(ready[0], &c, 1) != 1) guest_failures++;
    pid_t s = getsid(pid);
    int r = setpgid(pid, pg0), e = errno;
    if (write(go[1], "g", 1) != 1) guest_failures++;
    close(go[1]);
    close(ready[0]);
    reap_ok("child", pid);
    printf("parent: getsid(child in another session)==child: %s\n", yesno(s == pid));
    printf("parent: setpgid(child in another session, own group): %s\n", r < 0 ? errname(e) : "ok");

    section("setsid by a group leader");
    pid = xfork();
    if (pid == 0) {
        setpgid(0, 0);
        printf("child: setsid() after setpgid(0, 0): %s\n", ERR(setsid()));
        child_done();
    }
    reap_ok("child", pid);

    section("no controlling terminal in a new session");
    pid = xfork();
    if (pid == 0) {
        setsid();
        printf("child: open(\"/dev/tty\"): %s\n", ERR(open("/dev/tty", O_RDWR)));
        child_done();
    }
    reap_ok("child", pid);
}

static void exec_tests(const char *self)
{
    section("setpgid on a child that has exec'd: EACCES");
    int p[2], hold[2];
    /* p: O_CLOEXEC, so EOF on it means the exec happened. hold: kept open in the new image,
     * which exits when the parent closes it. */
    if (pipe2(p, O_CLOEXEC) < 0 || pipe(hold) < 0) exit(2);
    pid_t pid = xfork();
    if (pid == 0) {
        close(p[0]);
        close(hold[1]);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", hold[0]);
        char *argv[] = {(char *)self, "--child-wait", fd, NULL};
        execv(self, argv);
        _exit(127);
    }
    close(p[1]);
    close(hold[0]);
    char c;
    ssize_t n = read(p[0], &c, 1);
    int before = getpgid(pid) == getpgrp();
    int r = setpgid(pid, pid), e = errno;
    int after = getpgid(pid) == getpgrp();
    close(hold[1]);
    close(p[0]);
    reap_ok("child", pid);
    printf("the exec happened (EOF on the close-on-exec pipe): %s\n", yesno(n == 0));
    printf("setpgid(child, child): %s\n", r < 0 ? errname(e) : "ok");
    printf("the child's group unchanged: %s\n", yesno(before && after));

    section("setpgid before the exec works");
    if (pipe2(p, O_CLOEXEC) < 0 || pipe(hold) < 0) exit(2);
    pid = xfork();
    if (pid == 0) {
        close(p[0]);
        close(hold[1]);
        char c2;
        if (read(hold[0], &c2, 1) < 0) _exit(1); /* until the parent set the group */
        char fd[16];
        snprintf(fd, sizeof fd, "%d", hold[0]);
        char *argv[] = {(char *)self, "--child-wait", fd, NULL};
        execv(self, argv);
        _exit(127);
    }
    close(p[1]);
    close(hold[0]);
    r = setpgid(pid, pid);
    e = errno;
    if (write(hold[1], "g", 1) != 1) guest_failures++;
    n = read(p[0], &c, 1);
    int kept = getpgid(pid) == pid;
    close(hold[1]);
    close(p[0]);
    reap_ok("child", pid);
    printf("setpgid(child, child) before its exec: %s\n", r < 0 ? errname(e) : "ok");
    printf("the exec happened: %s, group kept across exec: %s\n", yesno(n == 0), yesno(kept));
}

static void wait_groups(void)
{
    section("waitpid(0) and waitpid(-pgid)");
    int go[2];
    xpipe(go);
    pid_t a = xfork();
    if (a == 0) {
        setpgid(0, 0);
        close(go[1]);
        char c;
        if (read(go[0], &c, 1) < 0) _exit(1);
        _exit(11);
    }
    setpgid(a, a);
    pid_t b = xfork();
    if (b == 0) {
        close(go[1]);
        char c;
        if (read(go[0], &c, 1) < 0) _exit(1);
        _exit(12);
    }
    close(go[0]);
    int st;
    pid_t r = waitpid(-a, &st, WNOHANG);
    printf("waitpid(-pgid of a, WNOHANG) while both run: %d\n", (int)r);
    close(go[1]); /* both exit now */
    r = waitpid(-a, &st, 0);
    printf("waitpid(-pgid of a): a: %s, %s\n", yesno(r == a), wstr(st));
    errno = 0;
    r = waitpid(-a, &st, 0);
    printf("again: %s\n", r < 0 ? errname(errno) : "another child");
    r = waitpid(0, &st, 0);
    printf("waitpid(0) (own group): b: %s, %s\n", yesno(r == b), wstr(st));
    siginfo_t si;
    errno = 0;
    printf("waitid(P_PGID, own group): %s\n",
           waitid(P_PGID, (id_t)getpgrp(), &si, WEXITED | WNOHANG) < 0 ? errname(errno) : "ok");
}

static void terminal(void)
{
    section("job-control calls on a non-terminal");
    int p[2];
    xpipe(p);
    printf("tcgetpgrp(a pipe): %s\n", ERR(tcgetpgrp(p[0])));
    printf("tcsetpgrp(a pipe): %s\n", ERR(tcsetpgrp(p[0], getpgrp())));
    printf("tcgetsid(a pipe): %s\n", ERR(tcgetsid(p[0])));
    close(p[0]);
    close(p[1]);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--child-wait")) {
        char c;
        while (read(atoi(argv[2]), &c, 1) > 0) {}
        return 0;
    }
    signal(SIGCHLD, SIG_DFL);
    start_watchdog();
    ids();
    inherit();
    setpgid_tests();
    setsid_tests();
    exec_tests(argv[0]);
    wait_groups();
    terminal();
    if (guest_failures) fprintf(stderr, "pgrp: %d check(s) failed\n", guest_failures);
    return guest_failures ? 1 : 0;
}
