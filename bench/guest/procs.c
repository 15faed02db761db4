/* Process costs (issue 4 §9), timed inside one program so that nothing but the measured
 * operation is in the loop. Prints one JSON line: ns per iteration, min/median/max over the
 * repetitions (after one warm-up repetition of N/10+1 iterations).
 *   usage: procs fork N REPS [MIB]       fork + child _exit(0) + waitpid; MIB MiB written by
 *                                        the parent first (0: a small process)
 *          procs exec N REPS PATH [ARG]...  fork + child execve(PATH, [PATH, ARG...]) + waitpid
 *                                        (the child's stdout is /dev/null)
 *          procs pipe N REPS             1 byte parent -> child -> parent over two pipes, per
 *                                        round trip (one child serves every round trip)
 * The same static binary runs natively and in uno. */
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchutil.h"

extern char **environ;

static long g_mib;
static int g_null = -1; /* exec: the child's stdout, so an exec'd program's output is dropped */
static char *const *g_argv; /* for exec: PATH ARG... (NULL-terminated, as main's argv is) */

static void reap(pid_t pid)
{
    int st;
    pid_t r;
    while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    if (r != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "procs: child %d: waitpid %d, status %#x\n", (int)pid, (int)r, st);
        exit(1);
    }
}

static pid_t do_fork(void)
{
    pid_t pid = fork();
    if (pid < 0) {
        perror("procs: fork");
        exit(1);
    }
    return pid;
}

static double time_fork(long n)
{
    uint64_t t0 = mono_ns();
    for (long i = 0; i < n; i++) {
        pid_t pid = do_fork();
        if (pid == 0)
            _exit(0);
        reap(pid);
    }
    return (double)(mono_ns() - t0) / (double)n;
}

static double time_exec(long n)
{
    uint64_t t0 = mono_ns();
    for (long i = 0; i < n; i++) {
        pid_t pid = do_fork();
        if (pid == 0) {
            if (g_null >= 0)
                dup2(g_null, 1);
            execve(g_argv[0], g_argv, environ);
            _exit(127);
        }
        reap(pid);
    }
    return (double)(mono_ns() - t0) / (double)n;
}

static int to_child[2], from_child[2];

static void xfer(int fd, int wr)
{
    char b = 'x';
    ssize_t r;
    while ((r = wr ? write(fd, &b, 1) : read(fd, &b, 1)) < 0 && errno == EINTR)
        ;
    if (r != 1) {
        fprintf(stderr, "procs: pipe %s: %zd\n", wr ? "write" : "read", r);
        exit(1);
    }
}

static double time_pipe(long n)
{
    uint64_t t0 = mono_ns();
    for (long i = 0; i < n; i++) {
        xfer(to_child[1], 1);
        xfer(from_child[0], 0);
    }
    return (double)(mono_ns() - t0) / (double)n;
}

typedef double (*bench_fn)(long);

static struct stats run(bench_fn f, long n, int reps)
{
    double *v = calloc((size_t)reps, sizeof *v);
    f(n / 10 + 1);
    for (int r = 0; r < reps; r++)
        v[r] = f(n);
    struct stats s = stats_of(v, reps);
    free(v);
    return s;
}

static int usage(void)
{
    fprintf(stderr, "usage: procs fork N REPS [MIB] | exec N REPS PATH [ARG]... | pipe N REPS\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return usage();
    const char *mode = argv[1];
    long n = arg_long(argc, argv, 2, 0);
    int reps = (int)arg_long(argc, argv, 3, 0);
    struct stats s;
    pid_t server = -1;
    if (!strcmp(mode, "fork")) {
        g_mib = argc > 4 ? strtol(argv[4], NULL, 10) : 0;
        if (g_mib > 0) {
            char *m = malloc((size_t)g_mib << 20);
            if (!m) {
                fprintf(stderr, "procs: cannot allocate %ld MiB\n", g_mib);
                return 1;
            }
            memset(m, 0x5a, (size_t)g_mib << 20); /* every page written: private, resident */
            __asm__ volatile("" : : "r"(m) : "memory");
        }
        s = run(time_fork, n, reps);
    } else if (!strcmp(mode, "exec")) {
        if (argc < 5)
            return usage();
        g_argv = argv + 4;
        g_null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        s = run(time_exec, n, reps);
    } else if (!strcmp(mode, "pipe")) {
        if (pipe(to_child) || pipe(from_child)) {
            perror("procs: pipe");
            return 1;
        }
        server = do_fork();
        if (server == 0) {
            close(to_child[1]);
            close(from_child[0]);
            char b;
            ssize_t r;
            for (;;) {
                while ((r = read(to_child[0], &b, 1)) < 0 && errno == EINTR)
                    ;
                if (r <= 0)
                    _exit(r == 0 ? 0 : 1);
                xfer(from_child[1], 1);
            }
        }
        close(to_child[0]);
        close(from_child[1]);
        s = run(time_pipe, n, reps);
        close(to_child[1]);
        reap(server);
    } else {
        return usage();
    }
    printf("{\"prog\":\"procs\",\"libc\":\"%s\",\"mode\":\"%s\",\"n\":%ld,\"reps\":%d,"
           "\"mib\":%ld,\"min_ns\":%.1f,\"median_ns\":%.1f,\"max_ns\":%.1f}\n",
           BENCH_LIBC, mode, n, reps, g_mib, s.min, s.median, s.max);
    return 0;
}
