/* fork and its relatives: fork, vfork, raw clone without CLONE_VM, posix_spawn (glibc and musl
 * use clone(CLONE_VM|CLONE_VFORK) for it), private memory after fork (parent and child writing
 * the same page), a fork with 100 MiB touched, MAP_SHARED memory (anonymous and file) seen by
 * both, descriptors shared with their offsets and status flags, stdio buffers duplicated.
 * Children print only while the parent waits for them, so the output is deterministic.
 * Exits 1 (with a message on stderr) if a check failed. `fork --spawned ARGS` is the program
 * posix_spawn starts. */
#include "guest.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void fork_basics(void)
{
    section("fork");
    pid_t me = getpid(), pgrp = getpgrp(), sid = getsid(0);
    pid_t pid = xfork();
    if (pid == 0) {
        EXPECT("child: fork returned 0 in the child", 1);
        EXPECT("child: getppid()==parent", getppid() == me);
        EXPECT("child: getpid()!=parent", getpid() != me);
        EXPECT("child: same process group", getpgrp() == pgrp);
        EXPECT("child: same session", getsid(0) == sid);
        /* A grandchild's parent is the child. */
        pid_t child = getpid();
        pid_t g = xfork();
        if (g == 0) {
            EXPECT("grandchild: getppid()==child", getppid() == child);
            fflush(stdout);
            _exit(guest_failures ? 1 : 9);
        }
        reap("child: grandchild", g);
        fflush(stdout);
        _exit(guest_failures ? 1 : 7);
    }
    int st = reap("child", pid);
    EXPECT("child pid > 0", pid > 0);
    EXPECT("child pid != own pid", pid != me);
    EXPECT("child exited 7", WIFEXITED(st) && WEXITSTATUS(st) == 7);

    /* Many children at once, each exiting with its index; reaped by pid in reverse order. */
    enum { N = 20 };
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        kids[i] = xfork();
        if (kids[i] == 0) _exit(i + 100);
    }
    int ok = 1;
    for (int i = N - 1; i >= 0; i--) {
        int s = 0;
        if (waitpid(kids[i], &s, 0) != kids[i] || !WIFEXITED(s) || WEXITSTATUS(s) != i + 100) ok = 0;
    }
    EXPECT("20 children reaped by pid with their statuses", ok);
    int all_distinct = 1;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            if (kids[i] == kids[j]) all_distinct = 0;
    EXPECT("20 distinct pids", all_distinct);
    errno = 0;
    EXPECT("then waitpid(-1) fails with ECHILD", waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
}

static volatile int vfork_var;

static void vfork_tests(void)
{
    section("vfork");
    pid_t me = getpid();
    vfork_var = 1;
    fflush(stdout);
    pid_t pid = vfork();
    if (pid == 0) {
        /* Only async-signal-safe work here: the parent's memory is borrowed. */
        _exit(getppid() == me ? 42 : 1);
    }
    if (pid < 0) {
        printf("vfork: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    EXPECT("vfork returned a pid", pid > 0);
    int st = reap("vfork child", pid);
    EXPECT("vfork child saw getppid()==parent", WIFEXITED(st) && WEXITSTATUS(st) == 42);

    section("vfork shares memory until exec or exit");
    fflush(stdout);
    pid = vfork();
    if (pid == 0) {
        vfork_var = 2; /* visible to the parent: vfork does not copy memory */
        _exit(0);
    }
    if (pid < 0) {
        printf("vfork: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    reap("vfork child", pid);
    printf("parent sees the child's write: %s\n", yesno(vfork_var == 2));

    section("vfork then execve");
    char *args[] = {(char *)"/nonexistent/program", NULL};
    fflush(stdout);
    pid = vfork();
    if (pid == 0) {
        execve(args[0], args, environ);
        _exit(errno == ENOENT ? 127 : 126);
    }
    if (pid < 0) {
        printf("vfork: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    reap("vfork+failed execve child", pid);

    /* busybox timeout: the vfork child forks a watcher and exits; the watcher lives on
     * after the parent has resumed, and its exit must end only itself. */
    section("a vfork child forks a process that outlives it");
    prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L); /* natively; in uno we are PID 1 */
    int go[2], res[2];
    if (pipe(go) || pipe(res)) {
        printf("pipe: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    fflush(stdout);
    pid = vfork();
    if (pid == 0) {
        if (syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L) == 0) {
            char b;
            close(go[1]);
            close(res[0]);
            if (read(go[0], &b, 1) == 1 && write(res[1], "watcher ran\n", 12) == 12)
                _exit(0);
            _exit(1);
        }
        _exit(3);
    }
    close(go[0]);
    close(res[1]);
    st = reap("vfork child that forked", pid);
    EXPECT("the vfork child's status", WIFEXITED(st) && WEXITSTATUS(st) == 3);
    EXPECT("the parent resumed once, as itself", getpid() == me);
    if (write(go[1], "x", 1) != 1)
        guest_failures++;
    close(go[1]);
    char got[64];
    ssize_t n, len = 0;
    while ((n = read(res[0], got + len, sizeof got - 1 - (size_t)len)) > 0)
        len += n;
    close(res[0]);
    got[len < 0 ? 0 : len] = 0;
    printf("from the watcher: %s", got);
    /* Orphaned, it is ours to reap: in uno we are PID 1, natively the subreaper. */
    pid_t w = waitpid(-1, &st, 0);
    printf("the orphaned watcher reaped: %s\n",
           w < 0 ? errname(errno) : WIFEXITED(st) ? "exited" : "other status");
}

static void clone_raw(void)
{
    section("clone without CLONE_VM");
    pid_t me = getpid();
    static int private_var = 5;
    fflush(stdout);
    long r = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
    if (r < 0) {
        printf("clone: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    if (r == 0) {
        /* Raw syscalls only: the C library's thread data still describes the parent. */
        private_var = 6;
        long pp = syscall(SYS_getppid);
        _exit(pp == me ? 33 : 1);
    }
    int st = reap("clone child", (pid_t)r);
    EXPECT("clone child saw getppid()==parent", WIFEXITED(st) && WEXITSTATUS(st) == 33);
    EXPECT("the child's write stayed in the child", private_var == 5);

    /* The C library's fork-like clone: CLONE_CHILD_SETTID stores the child's tid in the child. */
    static volatile pid_t child_tid;
    child_tid = 0;
    fflush(stdout);
    r = syscall(SYS_clone, (long)(CLONE_CHILD_SETTID | SIGCHLD), 0L, 0L, (long)&child_tid, 0L);
    if (r == 0) _exit(child_tid == (pid_t)syscall(SYS_gettid) ? 0 : 1);
    st = reap("clone(CLONE_CHILD_SETTID) child", (pid_t)r);
    EXPECT("the parent's copy of child_tid is untouched", child_tid == 0);
}

static int spawned_main(int argc, char **argv)
{
    printf("spawned: argc=%d", argc);
    for (int i = 2; i < argc; i++) printf(" [%s]", argv[i]);
    printf("\n");
    printf("spawned: SPAWN_VAR=%s\n", getenv("SPAWN_VAR") ? getenv("SPAWN_VAR") : "(unset)");
    fflush(stdout);
    return 5;
}

static void spawn_tests(const char *self)
{
    section("posix_spawn");
    pid_t pid = 0;
    char *argv[] = {(char *)self, (char *)"--spawned", (char *)"one", (char *)"two words", NULL};
    char *envp[] = {(char *)"SPAWN_VAR=hello", NULL};
    fflush(stdout);
    int r = posix_spawn(&pid, self, NULL, NULL, argv, envp);
    /* The spawned program prints: wait for it before printing anything. */
    int st = 0;
    if (r == 0) waitpid(pid, &st, 0);
    printf("posix_spawn: %s\n", errname(r));
    if (r == 0) {
        EXPECT("spawned pid > 0", pid > 0);
        printf("spawned: %s\n", wstr(st));
    }

    /* stdout of the spawned program redirected into a pipe with a file action. */
    int p[2];
    xpipe(p);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    posix_spawn_file_actions_addclose(&fa, p[1]);
    fflush(stdout);
    r = posix_spawn(&pid, self, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    printf("posix_spawn with dup2 file action: %s\n", errname(r));
    char buf[512];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof buf - 1 && (k = read(p[0], buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)k;
    buf[n] = 0;
    close(p[0]);
    printf("read through the pipe: %s%s", buf, n && buf[n - 1] == '\n' ? "" : "\n");
    if (r == 0) reap("spawned", pid);

    /* A program that does not exist: the error comes back from posix_spawn itself (glibc
     * through the memory it shares with the CLONE_VM child, musl through a pipe). */
    char *bad[] = {(char *)"/nonexistent/program", NULL};
    fflush(stdout);
    r = posix_spawn(&pid, bad[0], NULL, NULL, bad, envp);
    printf("posix_spawn of a missing program: %s\n", errname(r));
    errno = 0;
    int w = waitpid(-1, NULL, WNOHANG);
    printf("then waitpid(-1, WNOHANG): %s\n", w < 0 ? errname(errno) : "a child was left");
}

static int same_page_var = 1;

static void private_memory(void)
{
    section("parent and child write the same page");
    int *heap = malloc(64 * sizeof *heap);
    for (int i = 0; i < 64; i++) heap[i] = i;
    volatile int stack_var = 1;
    same_page_var = 1;
    int to_child[2], to_parent[2];
    xpipe(to_child);
    xpipe(to_parent);
    pid_t pid = xfork();
    if (pid == 0) {
        same_page_var = 2;
        stack_var = 2;
        heap[10] = -2;
        put_byte(to_parent[1], 'c'); /* written */
        get_byte(to_child[0]);       /* the parent wrote too */
        printf("child: global=%d stack=%d heap[10]=%d heap[11]=%d\n", same_page_var, stack_var,
               heap[10], heap[11]);
        child_done();
    }
    same_page_var = 3;
    stack_var = 3;
    heap[10] = -3;
    get_byte(to_parent[0]);
    put_byte(to_child[1], 'p');
    reap("child", pid);
    printf("parent: global=%d stack=%d heap[10]=%d heap[11]=%d\n", same_page_var, stack_var,
           heap[10], heap[11]);
    EXPECT("each sees only its own write", same_page_var == 3 && stack_var == 3 && heap[10] == -3);
    free(heap);
    close(to_child[0]), close(to_child[1]), close(to_parent[0]), close(to_parent[1]);

    section("memory written before fork is inherited");
    size_t len = 4 << 20;
    unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fill_pattern(m, len, 77);
    uint64_t h = fnv1a(m, len, FNV_INIT);
    pid = xfork();
    if (pid == 0) {
        EXPECT("child: 4 MiB checksum matches", fnv1a(m, len, FNV_INIT) == h);
        memset(m, 0, len);
        child_done();
    }
    reap("child", pid);
    EXPECT("parent: unchanged after the child zeroed its copy", fnv1a(m, len, FNV_INIT) == h);
    munmap(m, len);
}

/* xorshift64 per 8-byte word: quick enough for 100 MiB. */
static void fill64(uint64_t *w, size_t n, uint64_t x)
{
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w[i] = x;
    }
}

static uint64_t sum64(const uint64_t *w, size_t n)
{
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) h = (h ^ w[i]) * 0x100000001b3ull + (h >> 29);
    return h;
}

static void big_fork(void)
{
    section("fork with 100 MiB touched");
    size_t len = 100ul << 20, n = len / 8;
    uint64_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        printf("mmap 100 MiB: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    fill64(m, n, 0x1234567);
    uint64_t h = sum64(m, n);
    pid_t pid = xfork();
    if (pid == 0) {
        EXPECT("child: checksum of the 100 MiB matches", sum64(m, n) == h);
        /* Write one word in every page of the first 20 MiB (copy-on-write in the child). */
        for (size_t i = 0; i < (20ul << 20) / 8; i += 512) m[i] = ~m[i];
        EXPECT("child: its writes changed its checksum", sum64(m, n) != h);
        child_done();
    }
    reap("child", pid);
    EXPECT("parent: checksum unchanged", sum64(m, n) == h);
    munmap(m, len);
}

static void shared_memory(void)
{
    section("MAP_SHARED|MAP_ANONYMOUS after fork");
    size_t len = 1 << 20;
    volatile unsigned char *s =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    volatile unsigned char *p =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED || p == MAP_FAILED) {
        printf("mmap: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    s[0] = 1;
    p[0] = 1;
    int to_child[2], to_parent[2];
    xpipe(to_child);
    xpipe(to_parent);
    pid_t pid = xfork();
    if (pid == 0) {
        EXPECT("child: sees the value written before fork", s[0] == 1);
        get_byte(to_child[0]); /* the parent wrote s[1] */
        EXPECT("child: sees the parent's write after fork", s[1] == 0x55);
        for (size_t i = 4096; i < len; i += 4096) s[i] = (unsigned char)(i >> 12);
        s[2] = 0x66;
        p[0] = 9;
        put_byte(to_parent[1], 'c');
        child_done();
    }
    s[1] = 0x55;
    put_byte(to_child[1], 'p');
    get_byte(to_parent[0]);
    int seen_alive = s[2] == 0x66;
    reap("child", pid);
    printf("parent sees the child's write (child still alive): %s\n", yesno(seen_alive));
    int ok = 1;
    for (size_t i = 4096; i < len; i += 4096)
        if (s[i] != (unsigned char)(i >> 12)) ok = 0;
    EXPECT("parent sees the child's writes on all 255 pages", ok);
    EXPECT("MAP_PRIVATE page not shared", p[0] == 1);
    close(to_child[0]), close(to_child[1]), close(to_parent[0]), close(to_parent[1]);

    /* Shared across two generations: a grandchild's write reaches the grandparent. */
    pid = xfork();
    if (pid == 0) {
        pid_t g = xfork();
        if (g == 0) {
            s[3] = 0x77;
            _exit(0);
        }
        waitpid(g, NULL, 0);
        _exit(0);
    }
    reap("child", pid);
    EXPECT("grandchild's write seen", s[3] == 0x77);
    munmap((void *)s, len);
    munmap((void *)p, 4096);

    section("MAP_SHARED file mapping after fork");
    char path[64];
    snprintf(path, sizeof path, "/tmp/uno-fork-%d.map", (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 8192) < 0) {
        printf("create %s: %s\n", "map file", errname(errno));
        guest_failures++;
        return;
    }
    unlink(path);
    volatile char *f = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (f == MAP_FAILED) {
        printf("mmap MAP_SHARED of a file: %s\n", errname(errno));
        guest_failures++;
        close(fd);
        return;
    }
    pid = xfork();
    if (pid == 0) {
        memcpy((char *)f + 4096, "from the child", 15);
        _exit(0);
    }
    reap("child", pid);
    printf("parent's mapping: %s\n", (const char *)f + 4096);
    char buf[16] = {0};
    EXPECT("pread sees it", pread(fd, buf, 15, 4096) == 15 && !strcmp(buf, "from the child"));
    munmap((void *)f, 8192);
    close(fd);
}

static void read_all_at(int fd, char *buf, size_t cap)
{
    ssize_t n = pread(fd, buf, cap - 1, 0);
    buf[n < 0 ? 0 : n] = 0;
}

static void shared_fds(void)
{
    char path[64], buf[128];
    snprintf(path, sizeof path, "/tmp/uno-fork-%d.txt", (int)getpid());

    section("file offsets shared after fork");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        printf("open: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    if (write(fd, "abc", 3) != 3) guest_failures++;
    pid_t pid = xfork();
    if (pid == 0) {
        if (write(fd, "defgh", 5) != 5) _exit(1);
        _exit(0);
    }
    reap("child wrote 5 bytes", pid);
    SHOW("parent's lseek(fd, 0, SEEK_CUR)", lseek(fd, 0, SEEK_CUR));
    read_all_at(fd, buf, sizeof buf);
    printf("contents: %s\n", buf);
    /* The parent seeks; the child reads from the new offset. */
    lseek(fd, 1, SEEK_SET);
    pid = xfork();
    if (pid == 0) {
        char b[4] = {0};
        ssize_t n = read(fd, b, 3);
        printf("child read at the parent's offset: %zd [%s]\n", n, b);
        child_done();
    }
    reap("child", pid);
    SHOW("parent's offset after the child read 3", lseek(fd, 0, SEEK_CUR));
    /* A descriptor the child opens itself has its own offset. */
    pid = xfork();
    if (pid == 0) {
        int own = open(path, O_RDWR);
        lseek(own, 0, SEEK_END);
        close(fd); /* closing the child's copy leaves the parent's open */
        _exit(own >= 0 ? 0 : 1);
    }
    reap("child", pid);
    SHOW("parent's offset after the child's own open and close", lseek(fd, 0, SEEK_CUR));
    SHOW("parent's fd still open (F_GETFD)", fcntl(fd, F_GETFD));

    section("status flags shared, descriptor flags not");
    pid = xfork();
    if (pid == 0) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_APPEND);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        _exit(0);
    }
    reap("child set O_APPEND and FD_CLOEXEC", pid);
    printf("parent sees O_APPEND: %s\n", yesno(fcntl(fd, F_GETFL) & O_APPEND));
    printf("parent sees FD_CLOEXEC: %s\n", yesno(fcntl(fd, F_GETFD) & FD_CLOEXEC));
    lseek(fd, 0, SEEK_SET);
    if (write(fd, "+", 1) != 1) guest_failures++;
    read_all_at(fd, buf, sizeof buf);
    printf("parent's write went to the end: %s\n", buf);
    close(fd);

    section("O_APPEND from parent and child");
    fd = open(path, O_WRONLY | O_TRUNC | O_APPEND);
    int sync[2];
    xpipe(sync);
    pid = xfork();
    if (pid == 0) {
        for (int i = 0; i < 50; i++)
            if (write(fd, "c", 1) != 1) _exit(1);
        _exit(0);
    }
    for (int i = 0; i < 50; i++)
        if (write(fd, "p", 1) != 1) guest_failures++;
    reap("child", pid);
    int rfd = open(path, O_RDONLY);
    ssize_t n = read(rfd, buf, sizeof buf);
    int c = 0, p = 0;
    for (ssize_t i = 0; i < n; i++) c += buf[i] == 'c', p += buf[i] == 'p';
    printf("file size %zd: %d from the child, %d from the parent\n", n, c, p);
    close(rfd);
    close(fd);
    close(sync[0]), close(sync[1]);
    unlink(path);
}

static void stdio_buffers(void)
{
    section("unflushed stdio buffer is copied");
    printf("this line was buffered before fork\n"); /* stdout is a pipe: fully buffered */
    pid_t pid = fork();                              /* no fflush on purpose */
    if (pid == 0) exit(0);                           /* exit() flushes the child's copy */
    int st;
    waitpid(pid, &st, 0);
    printf("parent after the child: %s\n", wstr(st));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "--spawned")) return spawned_main(argc, argv);
    signal(SIGCHLD, SIG_DFL);
    start_watchdog();
    fork_basics();
    vfork_tests();
    clone_raw();
    spawn_tests(argv[0]);
    private_memory();
    big_fork();
    shared_memory();
    shared_fds();
    stdio_buffers();
    if (guest_failures) fprintf(stderr, "fork: %d check(s) failed\n", guest_failures);
    return guest_failures ? 1 : 0;
}
