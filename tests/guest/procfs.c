/* /proc: self/exe, self/fd, self/maps, self/cmdline, meminfo, cpuinfo, uptime, self/task,
 * and /proc/PID of another process (a child that runs this program with --sleeper).
 * Run with any arguments: they are checked against /proc/self/cmdline. */
#include "guest.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <unistd.h>

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a whole (small, synthetic) file into a NUL-terminated malloc'd buffer. */
static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("open %s: %s\n", path, errname(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *b = malloc(cap + 1);
    ssize_t r;
    /* small reads on purpose: synthetic files must support partial reads */
    while ((r = read(fd, b + n, 100)) > 0) {
        n += (size_t)r;
        if (n + 100 > cap) b = realloc(b, (cap *= 2) + 1);
    }
    close(fd);
    b[n] = 0;
    if (len) *len = n;
    return b;
}

static pthread_barrier_t started, finish;
static pid_t tids[3];

static void *waiter(void *arg)
{
    tids[(long)arg] = (pid_t)syscall(SYS_gettid);
    pthread_barrier_wait(&started);
    pthread_barrier_wait(&finish);
    return NULL;
}

static int count_tasks(int *has_main, int *has_all)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0, seen[3] = {0};
    *has_main = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int tid = atoi(e->d_name);
        n++;
        *has_main |= tid == getpid();
        for (int i = 0; i < 3; i++)
            seen[i] |= tid == tids[i];
    }
    closedir(d);
    *has_all = seen[0] && seen[1] && seen[2];
    return n;
}

/* /proc/self/task: one directory per thread, with its stat, status and comm. */
static void task_tests(void)
{
    printf("== /proc/self/task\n");
    pthread_barrier_init(&started, NULL, 4);
    pthread_barrier_init(&finish, NULL, 4);
    pthread_t t[3];
    for (long i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, waiter, (void *)i);
    pthread_barrier_wait(&started);
    int has_main, has_all;
    int n = count_tasks(&has_main, &has_all);
    printf("tasks: %d, the main thread's: %s, each thread's: %s\n", n, yesno(has_main),
           yesno(has_all));
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tids[1]);
    char *st = slurp(path, NULL);
    int id = 0, threads = 0;
    if (st) {
        char *after = strrchr(st, ')');
        sscanf(st, "%d", &id);
        /* after ") ": field 3 (state) is the first; num_threads is field 20 */
        char *p = after ? after + 2 : st;
        for (int f = 3; f < 20 && p; f++) {
            p = strchr(p, ' ');
            if (p)
                p++;
        }
        if (p)
            threads = atoi(p);
    }
    printf("task stat: its tid %s, num_threads %d\n", yesno(id == tids[1]), threads);
    free(st);
    snprintf(path, sizeof path, "/proc/self/task/%d/status", tids[2]);
    char *status = slurp(path, NULL);
    char want[32];
    snprintf(want, sizeof want, "\nPid:\t%d\n", tids[2]);
    printf("task status: its Pid %s, Threads: 4 %s\n", yesno(status && strstr(status, want)),
           yesno(status && strstr(status, "\nThreads:\t4\n")));
    free(status);
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", tids[0]);
    char *c1 = slurp(path, NULL), *c2 = slurp("/proc/self/comm", NULL);
    printf("task comm is the process's: %s\n", yesno(c1 && c2 && !strcmp(c1, c2)));
    free(c1);
    free(c2);
    snprintf(path, sizeof path, "/proc/self/task/%d/nonexistent", tids[0]);
    printf("open a missing task file: %s\n", open(path, O_RDONLY) < 0 ? errname(errno) : "ok");
    pthread_barrier_wait(&finish);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    /* Joined threads leave the list (natively perhaps a moment later). */
    for (int tries = 0; tries < 100 && count_tasks(&has_main, &has_all) != 1; tries++)
        usleep(10000);
    printf("after join: %d task(s)\n", count_tasks(&has_main, &has_all));
    snprintf(path, sizeof path, "/proc/self/task/%d", tids[0]);
    printf("a joined thread's directory: %s\n", open(path, O_RDONLY) < 0 ? errname(errno) : "ok");
}

/* The field after "(comm) " of /proc/PID/stat: the state letter, or '?'. */
static char state_of(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY);
    char b[512] = {0};
    ssize_t n = fd < 0 ? -1 : read(fd, b, sizeof b - 1);
    if (fd >= 0) close(fd);
    char *p = n > 0 ? strrchr(b, ')') : NULL;
    return p && p[1] == ' ' ? p[2] : '?';
}

static bool in_proc_listing(int pid)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    bool found = false;
    while (d && (e = readdir(d)))
        found |= atoi(e->d_name) == pid;
    if (d) closedir(d);
    return found;
}

static void other_process(const char *self)
{
    printf("== /proc/PID of another process\n");
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        execl(self, self, "--sleeper", "two words", (char *)NULL);
        _exit(127);
    }
    char path[64], *cl = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "/proc/%d/cmdline", c);
    for (int i = 0; i < 400; i++) { /* until the child has exec'd */
        free(cl);
        cl = slurp(path, &len);
        if (cl && len > 0 && memmem(cl, len, "--sleeper", 9))
            break;
        usleep(5000);
    }
    size_t a0 = cl ? strnlen(cl, len) + 1 : 0; /* argv[0] is a path that differs */
    printf("cmdline after argv[0]:");
    for (size_t i = a0; cl && i < len; i++) putchar(cl[i] ? cl[i] : '|');
    printf("\n");
    free(cl);
    CHECK("listed in /proc", in_proc_listing(c));
    snprintf(path, sizeof path, "/proc/%d/comm", c);
    char *comm = slurp(path, NULL);
    printf("comm: %s", comm ? comm : "?\n");
    snprintf(path, sizeof path, "/proc/%d/stat", c);
    char *st = slurp(path, NULL);
    int pid = 0, ppid = 0, pgid = 0, sid = 0;
    char name[64] = "", state = 0;
    if (st) sscanf(st, "%d (%63[^)]) %c %d %d %d", &pid, name, &state, &ppid, &pgid, &sid);
    printf("stat: pid ok %d, name %s, state %c, ppid ok %d, pgid ok %d, sid ok %d\n",
           pid == c, name, state, ppid == getpid(), pgid == getpgrp(), sid == getsid(0));
    free(st);
    snprintf(path, sizeof path, "/proc/%d/status", c);
    char *stt = slurp(path, NULL), want[64];
    snprintf(want, sizeof want, "\nPPid:\t%d\n", getpid());
    CHECK("status names the parent", stt && strstr(stt, want));
    snprintf(want, sizeof want, "\nUid:\t%u\t", geteuid());
    CHECK("status has the uid", stt && strstr(stt, want));
    free(stt);
    cpu_set_t m;
    CHECK("sched_getaffinity of it", sched_getaffinity(c, sizeof m, &m) == 0 && CPU_COUNT(&m) > 0);
    kill(c, SIGKILL);
    char z = '?';
    for (int i = 0; i < 400 && (z = state_of(c)) != 'Z'; i++)
        usleep(5000);
    printf("killed, not reaped: state %c\n", z);
    waitpid(c, NULL, 0);
    snprintf(path, sizeof path, "/proc/%d", c);
    struct stat sb;
    printf("reaped: stat /proc/PID: %s\n", stat(path, &sb) < 0 ? errname(errno) : "exists");
    CHECK("no longer listed", !in_proc_listing(c));
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--sleeper")) {
        sleep(30);
        return 0;
    }
    char buf[PATH_MAX], real[PATH_MAX];
    printf("== /proc/self/exe\n");
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n < 0) {
        printf("readlink /proc/self/exe: %s\n", errname(errno));
        guest_failures++;
    } else {
        buf[n] = 0;
        CHECK("exe is absolute", buf[0] == '/');
        CHECK("exe equals realpath(argv[0])", realpath(argv[0], real) && !strcmp(buf, real));
    }
    int fd = open("/proc/self/exe", O_RDONLY);
    char magic[4] = {0};
    CHECK("exe opens and is an ELF", fd >= 0 && read(fd, magic, 4) == 4 && !memcmp(magic, "\177ELF", 4));
    if (fd >= 0) close(fd);

    printf("== /proc/self/fd\n");
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        printf("opendir: %s\n", errname(errno));
        guest_failures++;
    } else {
        char *names[64];
        int k = 0;
        struct dirent *e;
        while ((e = readdir(d)) && k < 64) names[k++] = strdup(e->d_name);
        qsort(names, (size_t)k, sizeof names[0], cmpstr);
        printf("entries:");
        for (int i = 0; i < k; i++) printf(" %s", names[i]);
        printf("\n");
        char self[16];
        snprintf(self, sizeof self, "%d", dirfd(d));
        int found = 0;
        for (int i = 0; i < k; i++) found |= !strcmp(names[i], self);
        CHECK("the directory's own fd is listed", found);
        closedir(d);
    }
    fd = open("/proc/self/exe", O_RDONLY);
    snprintf(buf, sizeof buf, "/proc/self/fd/%d", fd);
    n = readlink(buf, real, sizeof real - 1);
    if (n >= 0) real[n] = 0;
    char exe[PATH_MAX];
    ssize_t en = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (en >= 0) exe[en] = 0;
    CHECK("/proc/self/fd/N of an open file names it", n > 0 && en > 0 && !strcmp(real, exe));
    close(fd);
    errno = 0;
    n = readlink("/proc/self/fd/77", real, sizeof real);
    printf("readlink closed fd: %s\n", n < 0 ? errname(errno) : "ok");

    printf("== /proc/self/maps\n");
    char *maps = slurp("/proc/self/maps", NULL);
    CHECK("maps has [stack]", maps && strstr(maps, "[stack]"));
    CHECK("maps has an r-xp line", maps && strstr(maps, " r-xp "));
    /* every line starts with lo-hi in hex, lo < hi */
    int lines_ok = maps != NULL, lines = 0;
    for (char *l = maps; l && *l; lines++) {
        unsigned long lo, hi;
        if (sscanf(l, "%lx-%lx ", &lo, &hi) != 2 || lo >= hi) lines_ok = 0;
        char *nl = strchr(l, '\n');
        if (!nl) break;
        l = nl + 1;
    }
    CHECK("maps lines are well formed", lines_ok && lines > 2);
    free(maps);

    printf("== /proc/self/cmdline\n");
    size_t clen;
    char *cmd = slurp("/proc/self/cmdline", &clen);
    size_t want = 0;
    for (int i = 0; i < argc; i++) want += strlen(argv[i]) + 1;
    int same = cmd && clen == want;
    size_t off = 0;
    for (int i = 0; same && i < argc; i++) {
        if (strcmp(cmd + off, argv[i])) same = 0;
        off += strlen(argv[i]) + 1;
    }
    CHECK("cmdline equals argv", same);
    free(cmd);

    printf("== /proc/meminfo, cpuinfo, uptime\n");
    char *mi = slurp("/proc/meminfo", NULL);
    unsigned long total = 0, avail = 0;
    char *p = mi ? strstr(mi, "MemTotal:") : NULL;
    if (p) sscanf(p, "MemTotal: %lu kB", &total);
    p = mi ? strstr(mi, "MemAvailable:") : NULL;
    if (p) sscanf(p, "MemAvailable: %lu kB", &avail);
    CHECK("meminfo has MemTotal > 0 kB", total > 0);
    CHECK("meminfo has MemFree", mi && strstr(mi, "MemFree:"));
    CHECK("MemAvailable <= MemTotal", avail <= total);
    free(mi);
    char *ci = slurp("/proc/cpuinfo", NULL);
    CHECK("cpuinfo has processor", ci && strstr(ci, "processor"));
    CHECK("cpuinfo has flags", ci && strstr(ci, "flags"));
    free(ci);
    char *up = slurp("/proc/uptime", NULL);
    double u1 = -1, u2 = -1;
    CHECK("uptime has two numbers", up && sscanf(up, "%lf %lf", &u1, &u2) == 2 && u1 >= 0 && u2 >= 0);
    free(up);
    errno = 0;
    fd = open("/proc/self/nonexistent", O_RDONLY);
    printf("open /proc/self/nonexistent: %s\n", fd < 0 ? errname(errno) : "ok");
    task_tests();
    other_process(argv[0]);
    return guest_failures ? 1 : 0;
}
