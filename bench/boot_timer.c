/* boot-timer: host-side clock for the boot benchmark, in C so the measurement carries no
 * runtime's scheduling noise. For each command it spawns the program with stdout and
 * stderr on pipes and records, in CLOCK_MONOTONIC ns since just before posix_spawn():
 *   - when the first byte arrives on stdout ("exec -> first byte"),
 *   - when each stderr line starts arriving (uno-vmm --verbose phase lines), with its text,
 *   - when the process has exited and been reaped.
 * Commands run round-robin (A B C A B C ...), so slow drift of the machine affects them
 * alike; WARMUP rounds are run first and not reported.
 *
 *   usage: boot-timer RUNS WARMUP CMD ARGS... [::: CMD ARGS...]...
 *
 * Output: one JSON line per measured run on stdout:
 *   {"cmd":K,"run":I,"status":S,"first_byte_ns":T,"exit_ns":T,"stdout_bytes":N,
 *    "stderr":[[T,"line"],...]}
 * status is the exit code, or 128+signal; first_byte_ns is -1 if nothing was written. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_LINES 64
#define LINE_MAX_LEN 256

struct line {
    int64_t t;
    size_t len;
    char text[LINE_MAX_LEN];
};

struct result {
    int status;
    int64_t first_byte, exit;
    size_t out_bytes;
    int nlines;
    struct line lines[MAX_LINES];
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "boot-timer: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* Appends stderr bytes to the line list; a line's time is when its first byte arrived
 * (uno-vmm prints the timestamp at the very start of the line). */
static void take_err(struct result *r, const char *p, size_t n, int64_t t, int *at_start)
{
    for (size_t i = 0; i < n; i++) {
        if (*at_start) {
            if (r->nlines == MAX_LINES)
                return;
            struct line *l = &r->lines[r->nlines++];
            l->t = t;
            l->len = 0;
            *at_start = 0;
        }
        struct line *l = &r->lines[r->nlines - 1];
        if (p[i] == '\n') {
            *at_start = 1;
            continue;
        }
        if (l->len < LINE_MAX_LEN - 1)
            l->text[l->len++] = p[i];
    }
}

static void run_once(char **argv, struct result *r)
{
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
        die("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    memset(r, 0, sizeof *r);
    r->first_byte = -1;

    pid_t pid;
    int64_t t0 = now_ns();
    int e = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    if (e) {
        errno = e;
        die(argv[0]);
    }
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(err[1]);

    struct pollfd pf[2] = {{.fd = out[0], .events = POLLIN}, {.fd = err[0], .events = POLLIN}};
    int open_fds = 2, at_start = 1;
    char buf[4096];
    while (open_fds) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        int64_t t = now_ns() - t0;
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(pf[i].fd, buf, sizeof buf);
            if (n <= 0) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_fds--;
                continue;
            }
            if (i == 0) {
                if (r->first_byte < 0)
                    r->first_byte = t;
                r->out_bytes += (size_t)n;
            } else {
                take_err(r, buf, (size_t)n, t, &at_start);
            }
        }
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    r->exit = now_ns() - t0;
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void put_json_string(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void report(int cmd, int run, const struct result *r)
{
    printf("{\"cmd\":%d,\"run\":%d,\"status\":%d,\"first_byte_ns\":%lld,\"exit_ns\":%lld,"
           "\"stdout_bytes\":%zu,\"stderr\":[",
           cmd, run, r->status, (long long)r->first_byte, (long long)r->exit, r->out_bytes);
    for (int i = 0; i < r->nlines; i++) {
        printf("%s[%lld,", i ? "," : "", (long long)r->lines[i].t);
        put_json_string(r->lines[i].text, r->lines[i].len);
        putchar(']');
    }
    printf("]}\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: boot-timer RUNS WARMUP CMD ARGS... [::: CMD ARGS...]...\n");
        return 2;
    }
    int runs = atoi(argv[1]), warmup = atoi(argv[2]);
    char **cmds[16];
    int ncmds = 0;
    cmds[ncmds++] = &argv[3];
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], ":::") == 0) {
            argv[i] = NULL;
            if (i + 1 >= argc || ncmds == 16) {
                fprintf(stderr, "boot-timer: empty or too many commands\n");
                return 2;
            }
            cmds[ncmds++] = &argv[i + 1];
        }
    }
    static struct result r;
    for (int round = -warmup; round < runs; round++)
        for (int c = 0; c < ncmds; c++) {
            run_once(cmds[c], &r);
            if (round >= 0)
                report(c, round, &r);
        }
    return 0;
}
