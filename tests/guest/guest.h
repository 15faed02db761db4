/* Helpers shared by the guest test programs (tests/guest/NAME.c). Each program is built twice,
 * static with musl and static with glibc, run natively and inside uno, and the two runs'
 * stdout and exit status are compared by tests/ts/guest.test.ts. So everything printed
 * here must be deterministic: print derived facts ("yes"/"no", sizes, errno names), never
 * addresses, pids, inode numbers or times. */
#ifndef GUEST_H
#define GUEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The symbolic name of an errno value ("E123" for one not listed). */
static inline const char *errname(int e)
{
    static char other[16];
    switch (e) {
    case 0: return "OK";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case E2BIG: return "E2BIG";
    case ENOEXEC: return "ENOEXEC";
    case EBADF: return "EBADF";
    case ECHILD: return "ECHILD";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case EFBIG: return "EFBIG";
    case ENOSPC: return "ENOSPC";
    case ESPIPE: return "ESPIPE";
    case EROFS: return "EROFS";
    case EMLINK: return "EMLINK";
    case EPIPE: return "EPIPE";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ELOOP: return "ELOOP";
    case EOVERFLOW: return "EOVERFLOW";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENOTSOCK: return "ENOTSOCK";
    case EDESTADDRREQ: return "EDESTADDRREQ";
    case EMSGSIZE: return "EMSGSIZE";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRINUSE: return "EADDRINUSE";
    case ENETUNREACH: return "ENETUNREACH";
    case ECONNRESET: return "ECONNRESET";
    case EISCONN: return "EISCONN";
    case ENOTCONN: return "ENOTCONN";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EINPROGRESS: return "EINPROGRESS";
    default: snprintf(other, sizeof other, "E%d", e); return other;
    }
}

/* Runs `expr` (a syscall wrapper returning -1 + errno on failure) and prints
 * "label: VALUE" or "label: -1 ENAME". Evaluates to the result. */
#define SHOW(label, expr)                                                                  \
    ({                                                                                     \
        errno = 0;                                                                         \
        long show_r_ = (long)(expr);                                                       \
        if (show_r_ < 0)                                                                   \
            printf("%s: -1 %s\n", (label), errname(errno));                                \
        else                                                                               \
            printf("%s: %ld\n", (label), show_r_);                                         \
        show_r_;                                                                           \
    })

/* Like SHOW, but for calls returning 0 on success: prints "ok" or the errno name. */
#define OKAY(label, expr)                                                                  \
    ({                                                                                     \
        errno = 0;                                                                         \
        long okay_r_ = (long)(expr);                                                       \
        printf("%s: %s\n", (label), okay_r_ < 0 ? errname(errno) : "ok");                  \
        okay_r_;                                                                           \
    })

static inline const char *yesno(int b) { return b ? "yes" : "no"; }

/* 64-bit FNV-1a, continued from `h` (start with FNV_INIT). */
#define FNV_INIT 0xcbf29ce484222325ull
static inline uint64_t fnv1a(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* A deterministic byte pattern (xorshift64). */
static inline void fill_pattern(void *p, size_t n, uint64_t seed)
{
    unsigned char *b = p;
    uint64_t x = seed ? seed : 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[i] = (unsigned char)x;
    }
}

/* Failure counter: programs exit with status 1 when a CHECK failed. */
static int guest_failures __attribute__((unused));
#define CHECK(label, cond)                                                                 \
    do {                                                                                   \
        int check_ok_ = !!(cond);                                                          \
        printf("%s: %s\n", (label), check_ok_ ? "yes" : "no");                            \
        if (!check_ok_) guest_failures++;                                                  \
    } while (0)

/* The file name of a path (for messages naming a source file: __FILE__ has the directory). */
static inline const char *guest_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* CHECK, plus "NAME.c:LINE: check failed: label" on stderr when the check fails. */
#define EXPECT(label, cond)                                                                  \
    do {                                                                                     \
        int expect_ok_ = !!(cond);                                                           \
        CHECK(label, expect_ok_);                                                            \
        if (!expect_ok_)                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", guest_basename(__FILE__), __LINE__, \
                    (label));                                                                \
    } while (0)

/* Prints a section header "== name" (flushed: children forked later must not repeat it). */
static inline void section(const char *name)
{
    printf("== %s\n", name);
    fflush(stdout);
}

/* ---- sockets ---- */

/* A connected TCP pair over 127.0.0.1: sv[0] the client, sv[1] the accepted end (accept4
 * with `accept_flags`, e.g. SOCK_NONBLOCK). 0, or -1 with errno set. */
static inline int tcp_pair(int sv[2], int accept_flags)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
        getsockname(l, (struct sockaddr *)&a, &al))
        return -1;
    sv[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&a, sizeof a))
        return -1;
    sv[1] = accept4(l, NULL, NULL, accept_flags);
    close(l);
    return sv[1] < 0 ? -1 : 0;
}

/* ---- processes (fork, wait, pipes) ---- */

/* In uno, while processes are being implemented, a hang must not cost the whole run: after
 * 20 s the program ends with status 124, and the sections printed so far still compare. */
static inline void on_watchdog(int sig)
{
    (void)sig;
    static const char msg[] = "watchdog: still running after 20 s, giving up\n";
    if (write(2, msg, sizeof msg - 1) < 0) {}
    fflush(stdout); /* not async-signal-safe, but the program is stuck in a system call */
    _exit(124);
}

/* The watchdog as an alarm(20) (for programs that do not use SIGALRM themselves). */
static inline void start_watchdog(void)
{
    signal(SIGALRM, on_watchdog);
    alarm(20);
}

/* The watchdog for programs that use SIGALRM themselves: a watchdog child sends SIGXFSZ after
 * 20 s. It ends by itself when its pipe reaches EOF (stop_watchdog_child, or this process
 * dying). */
static pid_t watchdog_pid __attribute__((unused)) = -1;
static int watchdog_fd __attribute__((unused)) = -1;

static inline void start_watchdog_child(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_watchdog;
    sigaction(SIGXFSZ, &sa, NULL);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return;
    pid_t main_pid = getpid();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[1]);
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        if (poll(&pf, 1, 20000) == 0) kill(main_pid, SIGXFSZ);
        _exit(0);
    }
    close(p[0]);
    if (pid < 0) {
        close(p[1]);
        return;
    }
    watchdog_pid = pid;
    watchdog_fd = p[1];
}

static inline void stop_watchdog_child(void)
{
    if (watchdog_pid < 0) return;
    close(watchdog_fd);
    while (waitpid(watchdog_pid, NULL, 0) < 0 && errno == EINTR) {}
}

/* fork with stdio flushed first (so the child does not repeat buffered output); exits 2 if
 * fork fails. The child starts with its own failure count. */
static inline pid_t xfork(void)
{
    fflush(stdout);
    fflush(stderr);
    pid_t p = fork();
    if (p < 0) {
        fprintf(stderr, "fork: %s\n", strerror(errno));
        exit(2);
    }
    if (p == 0) guest_failures = 0; /* the child counts its own */
    return p;
}

/* Ends a child: flushes stdout, exit status 1 if one of its checks failed, else 0. */
static inline void child_done(void)
{
    fflush(stdout);
    _exit(guest_failures ? 1 : 0);
}

/* pipe, or exit 2. */
static inline void xpipe(int p[2])
{
    if (pipe(p) < 0) {
        fprintf(stderr, "pipe: %s\n", strerror(errno));
        exit(2);
    }
}

/* One byte through a pipe (synchronizing parent and child); get_byte returns 0 at EOF. */
static inline void put_byte(int fd, char c)
{
    if (write(fd, &c, 1) != 1) fprintf(stderr, "write to pipe: %s\n", strerror(errno));
}

static inline char get_byte(int fd)
{
    char c = 0;
    if (read(fd, &c, 1) != 1) return 0;
    return c;
}

/* A wait status as text: "exited N", "signaled N", "stopped N", "continued" or "raw 0x…". */
static inline const char *wstr(int st)
{
    static char b[64];
    if (WIFEXITED(st)) snprintf(b, sizeof b, "exited %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) snprintf(b, sizeof b, "signaled %d", WTERMSIG(st));
    else if (WIFSTOPPED(st)) snprintf(b, sizeof b, "stopped %d", WSTOPSIG(st));
    else if (WIFCONTINUED(st)) snprintf(b, sizeof b, "continued");
    else snprintf(b, sizeof b, "raw %#x", st);
    return b;
}

/* Blocking waitpid retried on EINTR. */
static inline pid_t xwait(pid_t pid, int *st, int flags)
{
    pid_t r;
    while ((r = waitpid(pid, st, flags)) < 0 && errno == EINTR) {}
    return r;
}

/* Waits for `pid` (retrying on EINTR) and prints "label: STATUS". Returns the status, or -1
 * (counted as a failure) if waitpid failed. */
static inline int reap(const char *label, pid_t pid)
{
    int st = 0;
    pid_t r;
    while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {}
    if (r != pid) {
        printf("%s: waitpid %s\n", label, errname(errno));
        fprintf(stderr, "waitpid(%d): %s\n", (int)pid, strerror(errno));
        guest_failures++;
        return -1;
    }
    printf("%s: %s\n", label, wstr(st));
    return st;
}

/* ---- signals and time ---- */

/* Adds `sig` to (SIG_BLOCK) or removes it from (SIG_UNBLOCK) the signal mask. */
static inline void block(int sig, int how)
{
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, sig);
    sigprocmask(how, &m, NULL);
}

/* Default dispositions for the standard signals (1-31) and an empty signal mask, whatever the
 * program inherited. */
static inline void default_signals(void)
{
    for (int s = 1; s < 32; s++)
        if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Milliseconds of CLOCK_MONOTONIC since *t0. */
static inline long ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

#endif
