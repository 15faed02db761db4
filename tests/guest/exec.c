/* execve and execveat: this program re-executes itself (argv[0] is an absolute path natively
 * and in uno) in a mode given after "--child", or through an environment variable for #!
 * scripts. Covers argv/envp passing, pid and parent kept, memory replaced, close-on-exec,
 * signal dispositions/mask/pending/alarm across exec, unflushed stdio lost, E2BIG limits,
 * ENOENT/EACCES/ENOEXEC/ENOTDIR/ELOOP/EFAULT errors, execveat (AT_EMPTY_PATH, dirfd,
 * AT_SYMLINK_NOFOLLOW), fexecve, #! scripts with and without the optional argument, and the
 * initial process itself exec'ing. Exits 1 (with a message on stderr) if a check failed. */
#include "guest.h"
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

static const char *self;
static int marker = 1; /* set to 2 before exec: the new image must see 1 */

/* Runs `fn` in a child and reports its status; the child's own output comes first. */
static int in_child(const char *label, void (*fn)(void))
{
    pid_t pid = xfork();
    if (pid == 0) {
        fn();
        child_done();
    }
    int st = reap(label, pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) == 1) {
        fprintf(stderr, "%s: %s\n", label, wstr(st));
        guest_failures++;
    }
    return st;
}

static void tmpname(char *buf, size_t n, const char *what)
{
    snprintf(buf, n, "/tmp/uno-exec-%d-%s", (int)getpid(), what);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) < 0) {
        fprintf(stderr, "write %s: %s\n", path, strerror(errno));
        exit(2);
    }
    chmod(path, mode);
}

/* ---- the modes of the re-executed image ---- */

static int mode_show(int argc, char **argv)
{
    /* argv: self --child show PID PPID args... */
    printf("new image: argc=%d\n", argc);
    for (int i = 5; i < argc; i++) printf("new image: argv[%d]=[%s]\n", i, argv[i]);
    int n = 0;
    for (char **e = environ; *e; e++, n++) printf("new image: env [%s]\n", *e);
    printf("new image: %d environment entries\n", n);
    EXPECT("new image: argv[0] as passed", !strcmp(argv[0], self));
    EXPECT("new image: pid kept", getpid() == atoi(argv[3]));
    EXPECT("new image: parent kept", getppid() == atoi(argv[4]));
    EXPECT("new image: globals re-initialized", marker == 1);
    EXPECT("new image: argv[argc] is NULL", argv[argc] == NULL);
    fflush(stdout);
    return guest_failures ? 1 : 23;
}

static int mode_fds(int argc, char **argv)
{
    /* argv: self --child fds LABEL=FD... */
    for (int i = 3; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) continue;
        *eq = 0;
        int fd = atoi(eq + 1);
        errno = 0;
        int fl = fcntl(fd, F_GETFD);
        if (fl < 0) printf("new image: %s: closed (%s)\n", argv[i], errname(errno));
        else printf("new image: %s: open, FD_CLOEXEC=%d\n", argv[i], fl & FD_CLOEXEC);
        if (!strcmp(argv[i], "plain-file") && fl >= 0)
            printf("new image: plain-file offset kept: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
        if (!strcmp(argv[i], "plain-pipe") && fl >= 0) {
            char buf[64] = {0};
            ssize_t n = read(fd, buf, sizeof buf - 1);
            printf("new image: read from the inherited pipe: %zd [%s]\n", n, buf);
        }
    }
    fflush(stdout);
    return 0;
}

static int mode_signals(void)
{
    struct sigaction sa;
    sigaction(SIGUSR1, NULL, &sa);
    printf("new image: SIGUSR1 (was handled) is SIG_DFL: %s\n", yesno(sa.sa_handler == SIG_DFL));
    sigaction(SIGUSR2, NULL, &sa);
    printf("new image: SIGUSR2 (was ignored) is SIG_IGN: %s\n", yesno(sa.sa_handler == SIG_IGN));
    sigaction(SIGHUP, NULL, &sa);
    printf("new image: SIGHUP (was handled, SA_ONSTACK) is SIG_DFL: %s\n",
           yesno(sa.sa_handler == SIG_DFL));
    sigset_t m, p;
    sigprocmask(SIG_SETMASK, NULL, &m);
    printf("new image: SIGTERM still blocked: %s\n", yesno(sigismember(&m, SIGTERM)));
    printf("new image: SIGINT still blocked: %s\n", yesno(sigismember(&m, SIGINT)));
    printf("new image: SIGQUIT not blocked: %s\n", yesno(!sigismember(&m, SIGQUIT)));
    sigpending(&p);
    printf("new image: SIGINT still pending: %s\n", yesno(sigismember(&p, SIGINT)));
    printf("new image: SIGUSR2 (ignored) not pending: %s\n", yesno(!sigismember(&p, SIGUSR2)));
    unsigned left = alarm(0);
    printf("new image: alarm kept across exec: %s\n", yesno(left > 90 && left <= 100));
    stack_t ss;
    sigaltstack(NULL, &ss);
    printf("new image: alternate stack disabled: %s\n", yesno(ss.ss_flags & SS_DISABLE));
    fflush(stdout);
    /* Clear the pending SIGINT before exiting (it is blocked, so this is quiet). */
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, SIGINT);
    struct timespec zero = {0, 0};
    sigtimedwait(&one, NULL, &zero);
    return 0;
}

static int mode_script(int argc, char **argv)
{
    const char *script = getenv("SCRIPT");
    printf("script image: argc=%d\n", argc);
    printf("script image: argv[0] is the interpreter path: %s\n", yesno(!strcmp(argv[0], self)));
    int i = 1;
    if (getenv("OPTARG")) {
        printf("script image: argv[1] (the optional argument) = [%s]\n", argv[1]);
        i = 2;
    }
    printf("script image: argv[%d] is the script path as given to execve: %s\n", i,
           yesno(script && argc > i && !strcmp(argv[i], script)));
    for (i++; i < argc; i++) printf("script image: argv[%d]=[%s]\n", i, argv[i]);
    fflush(stdout);
    return 0;
}

static int mode_final(char **argv)
{
    printf("final image: pid unchanged: %s\n", yesno(getpid() == atoi(argv[4])));
    int failures = atoi(argv[3]);
    if (failures) fprintf(stderr, "exec: %d check(s) failed\n", failures);
    fflush(stdout);
    return failures ? 1 : 0;
}

/* ---- the tests ---- */

static void t_argv_envp(void)
{
    char pid[16], ppid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    snprintf(ppid, sizeof ppid, "%d", (int)getppid());
    char *argv[] = {(char *)self, "--child", "show", pid, ppid, "a", "b c", "", "last", NULL};
    char *envp[] = {"FOO=bar", "EMPTY=", "X=1=2", "NOEQUALS", NULL};
    marker = 2;
    fflush(stdout);
    execve(self, argv, envp);
    printf("execve: %s\n", errname(errno));
}

static void t_empty_env(void)
{
    char pid[16], ppid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    snprintf(ppid, sizeof ppid, "%d", (int)getppid());
    char *argv[] = {(char *)self, "--child", "show", pid, ppid, NULL};
    char *envp[] = {NULL};
    fflush(stdout);
    execve(self, argv, envp);
    printf("execve: %s\n", errname(errno));
}

static void t_cloexec(void)
{
    char path[64];
    tmpname(path, sizeof path, "fds");
    int plain = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (write(plain, "hello", 5) != 5) guest_failures++;
    int cloexec = open(path, O_RDONLY | O_CLOEXEC);
    int dupcx = fcntl(plain, F_DUPFD_CLOEXEC, 0);
    int dup3cx = dup3(plain, 20, O_CLOEXEC);
    int dup2of = dup2(cloexec, 21); /* dup2 clears FD_CLOEXEC on the copy */
    int setfd = dup(plain);
    fcntl(setfd, F_SETFD, FD_CLOEXEC);
    int cleared = open(path, O_RDONLY | O_CLOEXEC);
    fcntl(cleared, F_SETFD, 0);
    int pp[2], pc[2];
    if (pipe(pp) < 0 || pipe2(pc, O_CLOEXEC) < 0) guest_failures++;
    if (write(pp[1], "through", 7) != 7) guest_failures++;
    unlink(path);
    char a[10][32];
    snprintf(a[0], 32, "plain-file=%d", plain);
    snprintf(a[1], 32, "O_CLOEXEC-file=%d", cloexec);
    snprintf(a[2], 32, "F_DUPFD_CLOEXEC=%d", dupcx);
    snprintf(a[3], 32, "dup3-O_CLOEXEC=%d", dup3cx);
    snprintf(a[4], 32, "dup2-of-cloexec=%d", dup2of);
    snprintf(a[5], 32, "F_SETFD-cloexec=%d", setfd);
    snprintf(a[6], 32, "F_SETFD-cleared=%d", cleared);
    snprintf(a[7], 32, "plain-pipe=%d", pp[0]);
    snprintf(a[8], 32, "pipe2-O_CLOEXEC=%d", pc[0]);
    snprintf(a[9], 32, "never-opened=%d", 40);
    char *argv[] = {(char *)self, "--child", "fds", a[0], a[1], a[2], a[3], a[4],
                    a[5],         a[6],     a[7],  a[8], a[9], NULL};
    fflush(stdout);
    execve(self, argv, environ);
    printf("execve: %s\n", errname(errno));
}

static void on_sig(int sig) { (void)sig; }

static void t_signals(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_sig;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGUSR2, SIG_IGN);
    static char altstack[65536];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGHUP, &sa, NULL);
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGTERM);
    sigaddset(&m, SIGINT);
    sigprocmask(SIG_BLOCK, &m, NULL);
    kill(getpid(), SIGINT);  /* pending across exec */
    kill(getpid(), SIGUSR2); /* ignored: discarded */
    alarm(100);
    char *argv[] = {(char *)self, "--child", "signals", NULL};
    fflush(stdout);
    execve(self, argv, environ);
    printf("execve: %s\n", errname(errno));
}

static void t_lost_stdio(void)
{
    printf("this buffered line is lost at exec\n"); /* no fflush */
    char *argv[] = {(char *)self, "--child", "nothing", NULL};
    execve(self, argv, environ);
    printf("execve: %s\n", errname(errno));
}

/* `count` arguments of `len` bytes each (one shared buffer). */
static int try_big(size_t count, size_t len, int in_env)
{
    char *s = malloc(len + 1);
    memset(s, 'x', len);
    s[len] = 0;
    char **v = calloc(count + 4, sizeof *v);
    size_t i = 0;
    v[i++] = (char *)self;
    v[i++] = "--child";
    v[i++] = "nothing";
    char **e = environ;
    if (in_env) {
        e = calloc(count + 1, sizeof *e);
        s[0] = 'V', s[1] = '=';
        for (size_t k = 0; k < count; k++) e[k] = s;
    } else {
        for (size_t k = 0; k < count; k++) v[i++] = s;
    }
    int st = -1;
    pid_t pid = xfork();
    if (pid == 0) {
        execve(self, v, e);
        _exit(errno == E2BIG ? 100 : 101);
    }
    waitpid(pid, &st, 0);
    free(s);
    free(v);
    if (in_env) free(e);
    return st;
}

static void report_big(const char *label, int st)
{
    const char *r = !WIFEXITED(st)              ? "killed"
                    : WEXITSTATUS(st) == 100    ? "E2BIG"
                    : WEXITSTATUS(st) == 101    ? "another error"
                    : WEXITSTATUS(st) == 0      ? "ran"
                                                : "?";
    printf("%s: %s\n", label, r);
}

static void t_e2big(void)
{
    /* The limit is a quarter of RLIMIT_STACK (at most 6 MiB); fix RLIMIT_STACK at 8 MiB. */
    struct rlimit rl;
    getrlimit(RLIMIT_STACK, &rl);
    rl.rlim_cur = 8 << 20;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur) rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_STACK, &rl) < 0) printf("setrlimit: %s\n", errname(errno));
    printf("sysconf(_SC_ARG_MAX): %ld\n", sysconf(_SC_ARG_MAX));
    report_big("1 MiB of arguments (1024 x 1 KiB)", try_big(1024, 1023, 0));
    report_big("3 MiB of arguments (3072 x 1 KiB)", try_big(3072, 1023, 0));
    report_big("7.5 MiB of arguments (60 x 128 KiB)", try_big(60, 131071, 0));
    report_big("one argument of 128 KiB - 1", try_big(1, 131071, 0));
    report_big("one argument of 128 KiB", try_big(1, 131072, 0));
    report_big("3 MiB of environment", try_big(3072, 1023, 1));
    report_big("200000 empty arguments", try_big(200000, 0, 0));
}

static void show_exec(const char *label, const char *path)
{
    char *argv[] = {(char *)path, "--child", "nothing", NULL};
    errno = 0;
    execve(path, argv, environ);
    printf("%s: %s\n", label, errname(errno));
}

static void t_errors(void)
{
    char noexec[64], garbage[64], empty[64], badinterp[64], loop[64], notdir[80], dir[64];
    tmpname(noexec, sizeof noexec, "noexec");
    tmpname(garbage, sizeof garbage, "garbage");
    tmpname(empty, sizeof empty, "empty");
    tmpname(badinterp, sizeof badinterp, "badinterp");
    tmpname(loop, sizeof loop, "loop");
    tmpname(dir, sizeof dir, "dir");
    write_file(noexec, "#!/bin/sh\n", 0644);
    write_file(garbage, "this is not a program\n", 0755);
    write_file(empty, "", 0755);
    write_file(badinterp, "#!/nonexistent/interpreter\n", 0755);
    char text[128];
    snprintf(text, sizeof text, "#!%s\n", loop);
    write_file(loop, text, 0755);
    mkdir(dir, 0755);
    snprintf(notdir, sizeof notdir, "%s/x", garbage);
    show_exec("a missing file", "/nonexistent/program");
    show_exec("a missing directory component", "/nonexistent/dir/program");
    show_exec("a file used as a directory", notdir);
    show_exec("a directory", dir);
    show_exec("a file without execute permission", noexec);
    show_exec("an executable text file without #!", garbage);
    show_exec("an empty executable file", empty);
    show_exec("#! with a missing interpreter", badinterp);
    show_exec("#! naming itself (endless)", loop);
    char longp[PATH_MAX + 100];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = 0;
    show_exec("a path longer than PATH_MAX", longp);
    show_exec("an empty path", "");
    errno = 0;
    syscall(SYS_execve, self, (char **)8, environ);
    printf("argv pointing to unmapped memory: %s\n", errname(errno));
    char *bad[] = {(char *)self, (char *)8, NULL};
    errno = 0;
    execve(self, bad, environ);
    printf("an argument pointing to unmapped memory: %s\n", errname(errno));
    unlink(noexec), unlink(garbage), unlink(empty), unlink(badinterp), unlink(loop), rmdir(dir);
    printf("still running after the failures: yes\n");
}

static void t_execveat_empty(void)
{
    int fd = open(self, O_RDONLY);
    char *argv[] = {"execveat-argv0", "--child", "hello", "AT_EMPTY_PATH", NULL};
    fflush(stdout);
    syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
    printf("execveat(fd, \"\", AT_EMPTY_PATH): %s\n", errname(errno));
}

static void t_execveat_cloexec_fd(void)
{
    int fd = open(self, O_RDONLY | O_CLOEXEC);
    char *argv[] = {"execveat-argv0", "--child", "hello", "AT_EMPTY_PATH on an O_CLOEXEC fd", NULL};
    fflush(stdout);
    syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
    printf("execveat(O_CLOEXEC fd): %s\n", errname(errno));
}

static void t_execveat_opath(void)
{
    int fd = open(self, O_PATH);
    char *argv[] = {"execveat-argv0", "--child", "hello", "AT_EMPTY_PATH on an O_PATH fd", NULL};
    fflush(stdout);
    syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
    printf("execveat(O_PATH fd): %s\n", errname(errno));
}

static void t_execveat_dirfd(void)
{
    char d[PATH_MAX], b[PATH_MAX];
    snprintf(d, sizeof d, "%s", self);
    snprintf(b, sizeof b, "%s", self);
    int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY);
    char *argv[] = {"execveat-argv0", "--child", "hello", "dirfd + relative name", NULL};
    fflush(stdout);
    syscall(SYS_execveat, dfd, basename(b), argv, environ, 0);
    printf("execveat(dirfd, name): %s\n", errname(errno));
}

static void t_execveat_errors(void)
{
    char link[64];
    tmpname(link, sizeof link, "link");
    unlink(link);
    if (symlink(self, link) < 0) printf("symlink: %s\n", errname(errno));
    char *argv[] = {"x", "--child", "nothing", NULL};
    errno = 0;
    syscall(SYS_execveat, AT_FDCWD, link, argv, environ, AT_SYMLINK_NOFOLLOW);
    printf("execveat(symlink, AT_SYMLINK_NOFOLLOW): %s\n", errname(errno));
    errno = 0;
    syscall(SYS_execveat, 999, "", argv, environ, AT_EMPTY_PATH);
    printf("execveat(bad fd, AT_EMPTY_PATH): %s\n", errname(errno));
    errno = 0;
    syscall(SYS_execveat, AT_FDCWD, self, argv, environ, 0x8000000);
    printf("execveat(unknown flag): %s\n", errname(errno));
    int fd = open("/tmp", O_RDONLY | O_DIRECTORY);
    errno = 0;
    syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
    printf("execveat(a directory fd, AT_EMPTY_PATH): %s\n", errname(errno));
    errno = 0;
    syscall(SYS_execveat, fd, "", argv, environ, 0);
    printf("execveat(fd, \"\") without AT_EMPTY_PATH: %s\n", errname(errno));
    /* A symlink is followed by plain execve. */
    char *argv2[] = {"via-symlink", "--child", "hello", "execve through a symlink", NULL};
    fflush(stdout);
    execve(link, argv2, environ);
    printf("execve(symlink): %s\n", errname(errno));
}

static void t_fexecve(void)
{
    int fd = open(self, O_RDONLY);
    char *argv[] = {"fexecve-argv0", "--child", "hello", "fexecve", NULL};
    fflush(stdout);
    fexecve(fd, argv, environ);
    printf("fexecve: %s\n", errname(errno));
}

static char script_path[80];

static void script_exec(const char *path, const char *optarg)
{
    char senv[128];
    snprintf(senv, sizeof senv, "SCRIPT=%s", path);
    char *envp[] = {"EXEC_MODE=script", senv, optarg ? "OPTARG=1" : NULL, NULL};
    char *argv[] = {"ignored-argv0", "x", "two words", "", NULL};
    fflush(stdout);
    execve(path, argv, envp);
    printf("execve(script): %s\n", errname(errno));
}

static void t_script_optarg(void)
{
    char text[PATH_MAX + 64];
    snprintf(text, sizeof text, "#!%s one two\nthe rest is not read\n", self);
    write_file(script_path, text, 0755);
    script_exec(script_path, "1");
}

static void t_script_noarg(void)
{
    char text[PATH_MAX + 64];
    snprintf(text, sizeof text, "#!%s\n", self);
    write_file(script_path, text, 0755);
    script_exec(script_path, NULL);
}

static void t_script_spaces(void)
{
    char text[PATH_MAX + 64];
    snprintf(text, sizeof text, "#! \t%s   spaced \t inner  \t \n", self);
    write_file(script_path, text, 0755);
    script_exec(script_path, "1");
}

static void t_script_relative(void)
{
    char text[PATH_MAX + 64];
    snprintf(text, sizeof text, "#!%s rel\n", self);
    write_file(script_path, text, 0755);
    if (chdir("/tmp") < 0) printf("chdir: %s\n", errname(errno));
    char rel[96];
    snprintf(rel, sizeof rel, "./%s", script_path + 5);
    script_exec(rel, "1");
}

static void t_script_noexec(void)
{
    char text[PATH_MAX + 64];
    snprintf(text, sizeof text, "#!%s\n", self);
    write_file(script_path, text, 0644);
    script_exec(script_path, NULL);
}

int main(int argc, char **argv)
{
    self = argv[0];
    if (getenv("EXEC_MODE") && !strcmp(getenv("EXEC_MODE"), "script"))
        return mode_script(argc, argv);
    if (argc >= 3 && !strcmp(argv[1], "--child")) {
        const char *m = argv[2];
        if (!strcmp(m, "show")) return mode_show(argc, argv);
        if (!strcmp(m, "fds")) return mode_fds(argc, argv);
        if (!strcmp(m, "signals")) return mode_signals();
        if (!strcmp(m, "final")) return mode_final(argv);
        if (!strcmp(m, "nothing")) return 0;
        if (!strcmp(m, "hello")) {
            printf("new image: hello (%s), argv[0]=[%s]\n", argc > 3 ? argv[3] : "",
                   argv[0]);
            fflush(stdout);
            return 0;
        }
        fprintf(stderr, "exec: unknown mode %s\n", m);
        return 2;
    }
    if (self[0] != '/') {
        fprintf(stderr, "exec: argv[0] must be an absolute path, not %s\n", self);
        return 2;
    }
    signal(SIGCHLD, SIG_DFL);
    start_watchdog();
    tmpname(script_path, sizeof script_path, "script");

    section("execve passes argv and envp");
    in_child("child", t_argv_envp);
    section("execve with an empty environment");
    in_child("child", t_empty_env);
    section("close-on-exec");
    in_child("child", t_cloexec);
    section("signal dispositions, mask, pending signals and alarm across exec");
    in_child("child", t_signals);
    section("unflushed stdio output is lost at exec");
    in_child("child", t_lost_stdio);
    section("E2BIG");
    in_child("child", t_e2big);
    section("exec errors");
    in_child("child", t_errors);
    section("execveat AT_EMPTY_PATH");
    in_child("child", t_execveat_empty);
    section("execveat AT_EMPTY_PATH on an O_CLOEXEC fd");
    in_child("child", t_execveat_cloexec_fd);
    section("execveat AT_EMPTY_PATH on an O_PATH fd");
    in_child("child", t_execveat_opath);
    section("execveat with a directory fd");
    in_child("child", t_execveat_dirfd);
    section("execveat errors and symlinks");
    in_child("child", t_execveat_errors);
    section("fexecve");
    in_child("child", t_fexecve);
    section("#! script with an optional argument");
    in_child("child", t_script_optarg);
    section("#! script without an optional argument");
    in_child("child", t_script_noarg);
    section("#! script with blanks around the interpreter and argument");
    in_child("child", t_script_spaces);
    section("#! script by a relative path");
    in_child("child", t_script_relative);
    section("#! script without execute permission");
    in_child("child", t_script_noexec);
    unlink(script_path);
    {
        char link[64];
        tmpname(link, sizeof link, "link");
        unlink(link);
    }

    section("the initial process execs");
    char n[16], pid[16];
    snprintf(n, sizeof n, "%d", guest_failures);
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    char *args[] = {(char *)self, "--child", "final", n, pid, NULL};
    fflush(stdout);
    execve(self, args, environ);
    printf("execve: %s\n", errname(errno));
    return 1;
}
