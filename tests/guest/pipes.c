/* Pipes between processes: pipe/pipe2 flags, data both ways, EOF when the last writer closes,
 * EPIPE and SIGPIPE, PIPE_BUF atomicity with several writers, F_GETPIPE_SZ/F_SETPIPE_SZ,
 * O_NONBLOCK (EAGAIN on an empty read and a full write), a blocking 1 MiB write, dup2 onto
 * stdin/stdout, a 5-stage pipeline of forked children, and a filter that is this program
 * re-executed (`pipes --upper`). Exits 1 (with a message on stderr) if a check failed. */
#include "guest.h"
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#define F_GETPIPE_SZ 1032
#endif

/* reap, and a failure (with a message on stderr) unless the child exited with status 0. */
static int reap_ok(const char *label, pid_t pid)
{
    int st = reap(label, pid);
    if (st >= 0 && (!WIFEXITED(st) || WEXITSTATUS(st))) {
        fprintf(stderr, "%s: %s\n", label, wstr(st));
        guest_failures++;
    }
    return st;
}

/* Writes all of buf (retrying short writes); returns the bytes written. */
static size_t write_all(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, (const char *)buf + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    return done;
}

/* Reads until EOF (or n bytes); returns the bytes read. */
static size_t read_all(int fd, void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = read(fd, (char *)buf + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        done += (size_t)r;
    }
    return done;
}

static void basics(void)
{
    section("pipe and pipe2 flags");
    int p[2];
    xpipe(p);
    struct stat st;
    fstat(p[0], &st);
    printf("read end is a FIFO: %s\n", yesno(S_ISFIFO(st.st_mode)));
    printf("read end O_ACCMODE is O_RDONLY: %s\n", yesno((fcntl(p[0], F_GETFL) & O_ACCMODE) == O_RDONLY));
    printf("write end O_ACCMODE is O_WRONLY: %s\n", yesno((fcntl(p[1], F_GETFL) & O_ACCMODE) == O_WRONLY));
    printf("no FD_CLOEXEC, no O_NONBLOCK: %s\n",
           yesno(fcntl(p[0], F_GETFD) == 0 && !(fcntl(p[0], F_GETFL) & O_NONBLOCK)));
    SHOW("write 5", write(p[1], "hello", 5));
    int avail = -1;
    ioctl(p[0], FIONREAD, &avail);
    printf("FIONREAD: %d\n", avail);
    char buf[64] = {0};
    SHOW("read (asks 64)", read(p[0], buf, sizeof buf));
    printf("got: %s\n", buf);
    SHOW("lseek on a pipe", lseek(p[0], 0, SEEK_CUR));
    SHOW("write to the read end", write(p[0], "x", 1));
    SHOW("read from the write end", read(p[1], buf, 1));
    SHOW("pread on a pipe", pread(p[0], buf, 1, 0));
    close(p[0]);
    close(p[1]);

    int q[2];
    OKAY("pipe2(O_CLOEXEC|O_NONBLOCK)", pipe2(q, O_CLOEXEC | O_NONBLOCK));
    printf("FD_CLOEXEC on both: %s\n",
           yesno((fcntl(q[0], F_GETFD) & FD_CLOEXEC) && (fcntl(q[1], F_GETFD) & FD_CLOEXEC)));
    printf("O_NONBLOCK on both: %s\n",
           yesno((fcntl(q[0], F_GETFL) & O_NONBLOCK) && (fcntl(q[1], F_GETFL) & O_NONBLOCK)));
    SHOW("read from the empty non-blocking pipe", read(q[0], buf, 1));
    close(q[1]);
    SHOW("read with no writer left (EOF, not EAGAIN)", read(q[0], buf, 1));
    close(q[0]);
    OKAY("pipe2 with an invalid flag", pipe2(q, O_APPEND));
    OKAY("pipe into unmapped memory", syscall(SYS_pipe, (int *)8));
}

static void pipe_size(void)
{
    section("F_GETPIPE_SZ and a full pipe");
    int p[2];
    xpipe(p);
    int sz = fcntl(p[1], F_GETPIPE_SZ);
    printf("F_GETPIPE_SZ >= 4096: %s\n", yesno(sz >= 4096));
    int nsz = fcntl(p[1], F_SETPIPE_SZ, 65536);
    printf("F_SETPIPE_SZ 65536 returned >= 65536: %s\n", yesno(nsz >= 65536));
    sz = fcntl(p[0], F_GETPIPE_SZ);
    printf("F_GETPIPE_SZ on the read end equals it: %s\n", yesno(sz == nsz));
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    static char chunk[4096];
    memset(chunk, 'f', sizeof chunk);
    long total = 0;
    ssize_t w;
    while ((w = write(p[1], chunk, sizeof chunk)) > 0) total += w;
    printf("filling stopped with: %s\n", errname(errno));
    printf("bytes held == F_GETPIPE_SZ: %s\n", yesno(total == sz));
    SHOW("one more byte", write(p[1], "x", 1));
    char buf[4096];
    SHOW("read 4096", read(p[0], buf, sizeof buf));
    SHOW("then write 100 (fits again)", write(p[1], chunk, 100));
    int avail = 0;
    ioctl(p[0], FIONREAD, &avail);
    printf("FIONREAD == held bytes: %s\n", yesno(avail == total - 4096 + 100));
    close(p[0]);
    close(p[1]);
}

static void both_ways(void)
{
    section("parent to child");
    enum { N = 100 * 1024 };
    static unsigned char data[1 << 20];
    fill_pattern(data, sizeof data, 99);
    int down[2], up[2];
    xpipe(down);
    xpipe(up);
    pid_t pid = xfork();
    if (pid == 0) {
        close(down[1]);
        close(up[0]);
        static unsigned char got[N + 10];
        size_t n = read_all(down[0], got, sizeof got);
        uint64_t h = fnv1a(got, n, FNV_INIT);
        char line[64];
        int len = snprintf(line, sizeof line, "%zu %016llx", n, (unsigned long long)h);
        write_all(up[1], line, (size_t)len);
        _exit(0);
    }
    close(down[0]);
    close(up[1]);
    size_t w = write_all(down[1], data, N);
    close(down[1]);
    char line[64] = {0};
    read_all(up[0], line, sizeof line - 1);
    close(up[0]);
    reap_ok("child", pid);
    char want[64];
    snprintf(want, sizeof want, "%d %016llx", N, (unsigned long long)fnv1a(data, N, FNV_INIT));
    printf("parent wrote: %zu\n", w);
    printf("child read everything up to EOF, checksum matches: %s\n", yesno(!strcmp(line, want)));

    section("child to parent");
    xpipe(up);
    pid = xfork();
    if (pid == 0) {
        close(up[0]);
        /* in odd-sized pieces */
        size_t off = 0, step = 1;
        while (off < sizeof data) {
            size_t n = step < sizeof data - off ? step : sizeof data - off;
            write_all(up[1], data + off, n);
            off += n;
            step = step * 3 + 1;
            if (step > 70000) step = 7;
        }
        _exit(0);
    }
    close(up[1]);
    static unsigned char got[(1 << 20) + 10];
    size_t n = read_all(up[0], got, sizeof got);
    close(up[0]);
    reap_ok("child", pid);
    printf("parent read %zu bytes, checksum matches: %s\n", n,
           yesno(n == sizeof data && !memcmp(got, data, n)));

    section("a blocking 1 MiB write is done in full");
    xpipe(up);
    pid = xfork();
    if (pid == 0) {
        close(up[0]);
        ssize_t r = write(up[1], data, sizeof data);
        _exit(r == (ssize_t)sizeof data ? 0 : 1);
    }
    close(up[1]);
    /* small reads while the writer is blocked */
    size_t total = 0;
    ssize_t r;
    char small[333];
    uint64_t h = FNV_INIT;
    while ((r = read(up[0], small, sizeof small)) > 0) {
        h = fnv1a(small, (size_t)r, h);
        total += (size_t)r;
    }
    close(up[0]);
    reap_ok("writer (exits 0 if write returned 1 MiB)", pid);
    printf("read %zu bytes, checksum matches: %s\n", total, yesno(h == fnv1a(data, sizeof data, FNV_INIT)));
}

static void eof(void)
{
    section("EOF when the last writer closes");
    int p[2], go[2];
    xpipe(p);
    xpipe(go);
    pid_t pid = xfork();
    if (pid == 0) {
        close(p[0]);
        close(go[1]);
        char c;
        if (read(go[0], &c, 1) != 1) _exit(1);
        write_all(p[1], "last words", 10);
        _exit(0); /* closes the last write end */
    }
    close(p[1]);
    close(go[0]);
    write_all(go[1], "g", 1);
    char buf[64] = {0};
    size_t n = read_all(p[0], buf, sizeof buf - 1);
    printf("read until EOF: %zu [%s]\n", n, buf);
    SHOW("read again", read(p[0], buf, 1));
    reap_ok("child", pid);
    close(p[0]);
    close(go[1]);

    /* A write end kept open by a child delays EOF. */
    xpipe(p);
    xpipe(go);
    pid = xfork();
    if (pid == 0) {
        close(p[0]);
        close(go[1]);
        char c;
        if (read(go[0], &c, 1) != 1) {}
        _exit(0);
    }
    close(p[1]);
    close(go[0]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    SHOW("parent closed its write end, the child still has one", read(p[0], buf, 1));
    write_all(go[1], "g", 1);
    reap_ok("child", pid);
    SHOW("after the child exited", read(p[0], buf, 1));
    close(p[0]);
    close(go[1]);
}

static volatile sig_atomic_t got_sigpipe;
static void on_sigpipe(int s) { got_sigpipe = s; }

static void epipe(void)
{
    section("EPIPE and SIGPIPE");
    int p[2];
    xpipe(p);
    close(p[0]); /* no reader anywhere */
    pid_t pid = xfork();
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        ssize_t r = write(p[1], "x", 1);
        (void)r;
        _exit(100); /* not reached: SIGPIPE kills */
    }
    int st;
    waitpid(pid, &st, 0);
    printf("default action: %s\n", wstr(st));
    EXPECT("killed by SIGPIPE", WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE);

    signal(SIGPIPE, SIG_IGN);
    SHOW("SIG_IGN: write", write(p[1], "x", 1));

    struct sigaction sa = {0};
    sa.sa_handler = on_sigpipe;
    sigaction(SIGPIPE, &sa, NULL);
    got_sigpipe = 0;
    SHOW("handler: write", write(p[1], "x", 1));
    printf("handler ran: %s\n", yesno(got_sigpipe == SIGPIPE));

    signal(SIGPIPE, SIG_DFL);
    sigset_t m, pend;
    sigemptyset(&m);
    sigaddset(&m, SIGPIPE);
    sigprocmask(SIG_BLOCK, &m, NULL);
    SHOW("blocked: write", write(p[1], "x", 1));
    sigpending(&pend);
    printf("SIGPIPE pending: %s\n", yesno(sigismember(&pend, SIGPIPE)));
    signal(SIGPIPE, SIG_IGN); /* discards the pending one */
    sigprocmask(SIG_UNBLOCK, &m, NULL);
    signal(SIGPIPE, SIG_DFL);
    close(p[1]);

    /* The reader goes away while the writer is blocked on a full pipe. */
    xpipe(p);
    int go[2];
    xpipe(go);
    pid = xfork();
    if (pid == 0) {
        close(p[0]);
        close(go[0]);
        signal(SIGPIPE, SIG_IGN);
        static char big[1 << 20];
        write_all(go[1], "s", 1);
        ssize_t r = write(p[1], big, sizeof big); /* blocks when the pipe is full */
        _exit(r < 0 && errno == EPIPE ? 20 : r > 0 ? 21 : 22);
    }
    close(p[1]);
    close(go[1]);
    char c;
    if (read(go[0], &c, 1) != 1) guest_failures++;
    char buf[4096];
    SHOW("parent read some", read(p[0], buf, sizeof buf) > 0);
    close(p[0]); /* the writer wakes up */
    waitpid(pid, &st, 0);
    printf("blocked writer after the reader closed: %s (20: EPIPE, 21: a partial count)\n",
           wstr(st));
    close(go[0]);
}

static void atomicity(void)
{
    section("PIPE_BUF atomicity with 4 writers");
    printf("PIPE_BUF: %d\n", PIPE_BUF);
    enum { WRITERS = 4, RECORDS = 200, REC = PIPE_BUF };
    int p[2];
    xpipe(p);
    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = xfork();
        if (pids[w] == 0) {
            close(p[0]);
            static unsigned char rec[REC];
            for (int i = 0; i < RECORDS; i++) {
                memset(rec, 'A' + w, REC);
                memcpy(rec + 1, &i, sizeof i);
                if (write(p[1], rec, REC) != REC) _exit(1);
            }
            _exit(0);
        }
    }
    close(p[1]);
    static unsigned char rec[REC];
    int count[WRITERS] = {0}, torn = 0, order = 1;
    size_t n;
    while ((n = read_all(p[0], rec, REC)) == REC) {
        int w = rec[0] - 'A';
        if (w < 0 || w >= WRITERS) {
            torn++;
            continue;
        }
        for (int i = 5; i < REC; i++)
            if (rec[i] != rec[0]) {
                torn++;
                break;
            }
        int seq;
        memcpy(&seq, rec + 1, sizeof seq);
        if (seq != count[w]) order = 0;
        count[w]++;
    }
    close(p[0]);
    int all_exited = 1;
    for (int w = 0; w < WRITERS; w++) {
        int st;
        waitpid(pids[w], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st)) all_exited = 0;
    }
    printf("leftover bytes: %zu\n", n);
    printf("records per writer: %d %d %d %d\n", count[0], count[1], count[2], count[3]);
    EXPECT("no torn record", torn == 0);
    EXPECT("each writer's records in order", order);
    EXPECT("all writers exited 0", all_exited);
}

static void nonblocking_shared(void)
{
    section("O_NONBLOCK set by a child is shared");
    int p[2];
    xpipe(p);
    pid_t pid = xfork();
    if (pid == 0) {
        fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
        _exit(0);
    }
    reap_ok("child", pid);
    int shared = !!(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    printf("parent sees O_NONBLOCK: %s\n", yesno(shared));
    char c;
    if (shared) SHOW("parent's read on the empty pipe", read(p[0], &c, 1)); /* else: blocks */
    close(p[0]);
    close(p[1]);
}

static void redirect(void)
{
    section("dup2 onto stdin and stdout");
    int in[2], out[2];
    xpipe(in);
    xpipe(out);
    pid_t pid = xfork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        char line[256];
        int n = 0;
        while (fgets(line, sizeof line, stdin)) {
            for (char *c = line; *c; c++)
                if (*c >= 'a' && *c <= 'z') *c -= 32;
            printf("%d:%s", ++n, line);
        }
        printf("lines: %d\n", n);
        fflush(stdout);
        _exit(0);
    }
    close(in[0]);
    close(out[1]);
    const char *text = "first line\nsecond line\nthird, without newline";
    write_all(in[1], text, strlen(text));
    close(in[1]);
    char buf[512] = {0};
    read_all(out[0], buf, sizeof buf - 1);
    close(out[0]);
    reap_ok("child", pid);
    printf("%s", buf);
}

static void exec_filter(const char *self)
{
    section("a re-executed filter between two pipes");
    int in[2], out[2];
    xpipe(in);
    xpipe(out);
    pid_t pid = xfork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        char *argv[] = {(char *)self, "--upper", NULL};
        execv(self, argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    /* more than a pipe holds, so the filter runs while we write */
    static char text[200000];
    for (size_t i = 0; i < sizeof text; i++) text[i] = "abc xyz\n"[i % 8];
    pid_t w = xfork();
    if (w == 0) {
        close(out[0]);
        write_all(in[1], text, sizeof text);
        _exit(0);
    }
    close(in[1]);
    static char got[sizeof text + 10];
    size_t n = read_all(out[0], got, sizeof got);
    close(out[0]);
    reap_ok("writer", w);
    reap_ok("filter", pid);
    int ok = n == sizeof text;
    for (size_t i = 0; ok && i < n; i++)
        if (got[i] != "ABC XYZ\n"[i % 8]) ok = 0;
    printf("filtered %zu bytes, all upper case: %s\n", n, yesno(ok));
}

static int upper_main(void)
{
    char buf[4096];
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] >= 'a' && buf[i] <= 'z') buf[i] -= 32;
        if (write_all(1, buf, (size_t)n) != (size_t)n) return 1;
    }
    return n < 0 ? 1 : 0;
}

static void pipeline(void)
{
    section("5-stage pipeline of forked children");
    enum { STAGES = 5, LEN = 200000 };
    static unsigned char data[LEN];
    fill_pattern(data, LEN, 5);
    int pipes[STAGES - 1][2];
    for (int i = 0; i < STAGES - 1; i++) xpipe(pipes[i]);
    int result[2];
    xpipe(result);
    pid_t pids[STAGES];
    for (int s = 0; s < STAGES; s++) {
        pids[s] = xfork();
        if (pids[s] != 0) continue;
        int in = s > 0 ? pipes[s - 1][0] : -1;
        int out = s < STAGES - 1 ? pipes[s][1] : -1;
        for (int i = 0; i < STAGES - 1; i++) {
            if (pipes[i][0] != in) close(pipes[i][0]);
            if (pipes[i][1] != out) close(pipes[i][1]);
        }
        if (s != STAGES - 1) close(result[1]);
        close(result[0]);
        if (s == 0) { /* source */
            write_all(out, data, LEN);
            _exit(0);
        }
        static unsigned char buf[7919];
        ssize_t n;
        uint64_t h = FNV_INIT;
        size_t total = 0;
        while ((n = read(in, buf, sizeof buf)) > 0) {
            for (ssize_t i = 0; i < n; i++) buf[i] = (unsigned char)(buf[i] + 1);
            total += (size_t)n;
            if (s < STAGES - 1) {
                if (write_all(out, buf, (size_t)n) != (size_t)n) _exit(1);
            } else {
                h = fnv1a(buf, (size_t)n, h);
            }
        }
        if (s == STAGES - 1) { /* sink */
            char line[64];
            int len = snprintf(line, sizeof line, "%zu %016llx", total, (unsigned long long)h);
            write_all(result[1], line, (size_t)len);
        }
        _exit(n < 0 ? 1 : 0);
    }
    for (int i = 0; i < STAGES - 1; i++) close(pipes[i][0]), close(pipes[i][1]);
    close(result[1]);
    char line[64] = {0};
    read_all(result[0], line, sizeof line - 1);
    close(result[0]);
    for (int s = 0; s < STAGES; s++) {
        char label[32];
        snprintf(label, sizeof label, "stage %d", s);
        reap_ok(label, pids[s]);
    }
    for (int i = 0; i < LEN; i++) data[i] = (unsigned char)(data[i] + STAGES - 1);
    char want[64];
    snprintf(want, sizeof want, "%d %016llx", LEN, (unsigned long long)fnv1a(data, LEN, FNV_INIT));
    EXPECT("the sink got every byte, transformed by each stage", !strcmp(line, want));
}

/* tee copies between two pipes and leaves the first one's bytes; vmsplice moves the app's
 * memory into a pipe and out of one. */
static void tee_vmsplice(void)
{
    section("tee and vmsplice");
    int a[2], b[2];
    if (pipe(a) || pipe(b)) {
        printf("pipe: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    char buf[64];
    errno = 0;
    printf("tee of an empty pipe, SPLICE_F_NONBLOCK: %s\n",
           tee(a[0], b[1], 100, SPLICE_F_NONBLOCK) < 0 ? errname(errno) : "ok");
    EXPECT("write", write(a[1], "hello world", 11) == 11);
    printf("tee: %zd\n", tee(a[0], b[1], 100, 0));
    ssize_t n = read(b[0], buf, sizeof buf);
    printf("the copy: %.*s\n", (int)(n > 0 ? n : 0), buf);
    n = read(a[0], buf, sizeof buf);
    printf("still in the first pipe: %.*s\n", (int)(n > 0 ? n : 0), buf);
    errno = 0;
    printf("tee onto the same pipe: %s\n", tee(a[0], a[1], 10, 0) < 0 ? errname(errno) : "ok");
    errno = 0;
    printf("tee from a non-pipe: %s\n", tee(0 + open("/", O_RDONLY), b[1], 10, 0) < 0 ? errname(errno) : "ok");
    errno = 0;
    printf("tee from a write end: %s\n", tee(a[1], b[1], 10, 0) < 0 ? errname(errno) : "ok");

    char p1[] = "vm", p2[] = "splice";
    struct iovec out[2] = {{p1, 2}, {p2, 6}};
    printf("vmsplice into the write end: %zd\n", vmsplice(a[1], out, 2, 0));
    char r1[3] = {0}, r2[6] = {0};
    struct iovec in[2] = {{r1, 3}, {r2, 5}};
    printf("vmsplice out of the read end: %zd (%.3s|%.5s)\n", vmsplice(a[0], in, 2, 0), r1, r2);
    errno = 0;
    printf("vmsplice of an empty pipe, SPLICE_F_NONBLOCK: %s\n",
           vmsplice(a[0], in, 1, SPLICE_F_NONBLOCK) < 0 ? errname(errno) : "ok");
    errno = 0;
    printf("vmsplice on a non-pipe: %s\n", vmsplice(1 + open("/", O_RDONLY) - 1, out, 1, 0) < 0 ? errname(errno) : "ok");
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "--upper")) return upper_main();
    signal(SIGPIPE, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    start_watchdog();
    basics();
    pipe_size();
    both_ways();
    eof();
    epipe();
    atomicity();
    nonblocking_shared();
    redirect();
    exec_filter(argv[0]);
    pipeline();
    tee_vmsplice();
    if (guest_failures) fprintf(stderr, "pipes: %d check(s) failed\n", guest_failures);
    return guest_failures ? 1 : 0;
}
