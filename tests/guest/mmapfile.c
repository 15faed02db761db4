/* File mappings beyond the basics in `memory`: MAP_SHARED of a writable file (stores reach the
 * file, read()/write() and the mapping see each other, another mapping sees them, a fork
 * shares them), msync, mincore, partial munmap and mprotect of a file mapping, MAP_FIXED over
 * part of one, MAP_SHARED_VALIDATE, mprotect(PROT_WRITE) refused on a read-only shared
 * mapping, SIGBUS past the end of the file, MAP_SHARED /dev/zero across fork, MAP_POPULATE
 * and MAP_NORESERVE, MADV_DONTNEED on private file mappings. The files live in a fresh directory under /tmp. Exits 1 if a CHECK
 * failed. */
#include "guest.h"
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define PG 4096ul
#define RW (PROT_READ | PROT_WRITE)

static char dir[64];

/* A file of n pages, page i filled with the byte 'a' + i. */
static int make_file(const char *name, int pages, int flags)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        printf("open %s: %s\n", name, errname(errno));
        exit(1);
    }
    char page[PG];
    for (int i = 0; i < pages; i++) {
        memset(page, 'a' + i, PG);
        if (write(fd, page, PG) != (ssize_t)PG) {
            printf("write: %s\n", errname(errno));
            exit(1);
        }
    }
    if (flags != O_RDWR) {
        close(fd);
        fd = open(path, flags);
    }
    return fd;
}

static void shared_rw(void)
{
    section("MAP_SHARED of a writable file");
    int fd = make_file("shared", 3, O_RDWR);
    char *m = mmap(NULL, 3 * PG, RW, MAP_SHARED, fd, 0);
    CHECK("mmap MAP_SHARED RW", m != MAP_FAILED);
    if (m == MAP_FAILED)
        return;
    CHECK("the mapping holds the file", m[0] == 'a' && m[PG] == 'b' && m[2 * PG + 5] == 'c');
    memcpy(m + 10, "stored", 6);
    char buf[8] = {0};
    pread(fd, buf, 6, 10);
    CHECK("a store is seen by pread", !memcmp(buf, "stored", 6));
    pwrite(fd, "written", 7, PG + 100);
    CHECK("a pwrite is seen by the mapping", !memcmp(m + PG + 100, "written", 7));
    char *m2 = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, PG);
    CHECK("a second mapping at an offset sees it too",
          m2 != MAP_FAILED && !memcmp(m2 + 100, "written", 7));
    char *p = mmap(NULL, PG, RW, MAP_PRIVATE, fd, 0);
    CHECK("a private mapping starts with the stores", p != MAP_FAILED && !memcmp(p + 10, "stored", 6));
    if (p != MAP_FAILED) {
        p[10] = 'S';
        CHECK("its own store stays private", m[10] == 's');
        munmap(p, PG);
    }
    printf("msync MS_SYNC: %s\n", msync(m, 3 * PG, MS_SYNC) ? errname(errno) : "ok");
    printf("msync MS_ASYNC: %s\n", msync(m, PG, MS_ASYNC) ? errname(errno) : "ok");
    printf("msync both flags: %s\n", msync(m, PG, MS_ASYNC | MS_SYNC) ? errname(errno) : "ok");
    printf("msync unaligned: %s\n", msync(m + 1, PG, MS_SYNC) ? errname(errno) : "ok");
    /* Partial munmap: the middle page goes, the others stay the file's. */
    CHECK("munmap the middle page", munmap(m + PG, PG) == 0);
    m[2 * PG] = 'Z';
    pread(fd, buf, 1, 2 * PG);
    CHECK("the last page is still the file's", buf[0] == 'Z');
    printf("msync over the hole: %s\n", msync(m, 3 * PG, MS_SYNC) ? errname(errno) : "ok");
    /* Partial mprotect. */
    CHECK("mprotect the first page read-only", mprotect(m, PG, PROT_READ) == 0);
    m[2 * PG + 1] = 'Y';
    pread(fd, buf, 1, 2 * PG + 1);
    CHECK("the other page stays writable and shared", buf[0] == 'Y');
    munmap(m, 3 * PG);
    if (m2 != MAP_FAILED)
        munmap(m2, PG);
    close(fd);
}

static void shared_fork(void)
{
    section("MAP_SHARED file across fork");
    int fd = make_file("forked", 1, O_RDWR);
    volatile char *m = mmap(NULL, PG, RW, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        printf("mmap: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    close(fd);
    pid_t pid = fork();
    if (pid == 0) {
        m[0] = 'C';
        _exit(m[1] == 'a' ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    CHECK("child exited 0", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK("the parent sees the child's store", m[0] == 'C');
    m[1] = 'P';
    pid = fork();
    if (pid == 0)
        _exit(m[1] == 'P' ? 0 : 1);
    waitpid(pid, &st, 0);
    CHECK("a child sees the parent's store", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    munmap((void *)m, PG);

    section("MAP_SHARED /dev/zero across fork");
    int z = open("/dev/zero", O_RDWR);
    volatile int *c = mmap(NULL, PG, RW, MAP_SHARED, z, 0);
    close(z);
    CHECK("mmap /dev/zero MAP_SHARED", c != MAP_FAILED);
    if (c == MAP_FAILED)
        return;
    CHECK("zero-filled", c[0] == 0 && c[1023] == 0);
    pid = fork();
    if (pid == 0) {
        c[5] = 42;
        _exit(0);
    }
    waitpid(pid, &st, 0);
    CHECK("the parent sees the child's store", c[5] == 42);
    munmap((void *)c, PG);
}

static void access_rules(void)
{
    section("access rules");
    int ro = make_file("ro", 1, O_RDONLY);
    void *m = mmap(NULL, PG, PROT_READ, MAP_SHARED, ro, 0);
    CHECK("MAP_SHARED PROT_READ of a read-only fd", m != MAP_FAILED);
    errno = 0;
    printf("mprotect(PROT_WRITE) on it: %s\n",
           m != MAP_FAILED && mprotect(m, PG, RW) ? errname(errno) : "ok");
    void *w = mmap(NULL, PG, RW, MAP_SHARED, ro, 0);
    printf("MAP_SHARED PROT_WRITE of a read-only fd: %s\n", w == MAP_FAILED ? errname(errno) : "ok");
    void *p = mmap(NULL, PG, RW, MAP_PRIVATE, ro, 0);
    CHECK("MAP_PRIVATE PROT_WRITE of a read-only fd", p != MAP_FAILED);
    void *v = mmap(NULL, PG, PROT_READ, MAP_SHARED_VALIDATE, ro, 0);
    CHECK("MAP_SHARED_VALIDATE with known flags", v != MAP_FAILED);
    void *bad = mmap(NULL, PG, PROT_READ, MAP_SHARED_VALIDATE | 0x80000 /* MAP_SYNC */, ro, 0);
    printf("MAP_SHARED_VALIDATE | MAP_SYNC: %s\n", bad == MAP_FAILED ? errname(errno) : "ok");
    int wo = make_file("wo", 1, O_WRONLY);
    void *x = mmap(NULL, PG, PROT_READ, MAP_SHARED, wo, 0);
    printf("mmap of a write-only fd: %s\n", x == MAP_FAILED ? errname(errno) : "ok");
    close(ro);
    close(wo);
}

static void residency(void)
{
    section("mincore, MAP_POPULATE, MAP_NORESERVE, MAP_FIXED over a file mapping");
    int fd = make_file("core", 4, O_RDWR);
    char *m = mmap(NULL, 4 * PG, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    CHECK("MAP_POPULATE mapping", m != MAP_FAILED);
    unsigned char vec[4] = {9, 9, 9, 9};
    CHECK("mincore ok", mincore(m, 4 * PG, vec) == 0);
    CHECK("every page resident", vec[0] == 1 && vec[1] == 1 && vec[2] == 1 && vec[3] == 1);
    printf("mincore unaligned: %s\n", mincore(m + 1, PG, vec) ? errname(errno) : "ok");
    munmap(m + 3 * PG, PG);
    printf("mincore over an unmapped page: %s\n", mincore(m, 4 * PG, vec) ? errname(errno) : "ok");
    /* MAP_FIXED of anonymous memory over the middle of the file mapping. */
    char *a = mmap(m + PG, PG, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK("MAP_FIXED over the middle", a == m + PG);
    CHECK("anonymous in the middle, the file around it", a[0] == 0 && m[0] == 'a' && m[2 * PG] == 'c');
    void *nr = mmap(m, PG, PROT_READ, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0);
    printf("MAP_FIXED_NOREPLACE over it: %s\n", nr == MAP_FAILED ? errname(errno) : "ok");
    munmap(m, 3 * PG);
    char *big = mmap(NULL, 64 << 20, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK("64 MiB MAP_NORESERVE", big != MAP_FAILED);
    if (big != MAP_FAILED) {
        big[(64 << 20) - 1] = 1;
        munmap(big, 64 << 20);
    }
    close(fd);
}

static sigjmp_buf jb;
static void on_bus(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    printf("signal %s, si_code %s\n", sig == SIGBUS ? "SIGBUS" : "other",
           si->si_code == BUS_ADRERR ? "BUS_ADRERR" : "other");
    siglongjmp(jb, 1);
}

static void past_eof(void)
{
    section("past the end of the file");
    int fd = make_file("short", 1, O_RDWR);
    char *m = mmap(NULL, 3 * PG, RW, MAP_SHARED, fd, 0);
    CHECK("mapping longer than the file", m != MAP_FAILED);
    if (m == MAP_FAILED)
        return;
    struct sigaction sa = {.sa_sigaction = on_bus, .sa_flags = SA_SIGINFO};
    sigaction(SIGBUS, &sa, NULL);
    if (!sigsetjmp(jb, 1)) {
        volatile char c = m[PG + 1];
        (void)c;
        printf("no signal\n");
    }
    signal(SIGBUS, SIG_DFL);
    munmap(m, 3 * PG);
    close(fd);
}

/* MADV_DONTNEED on a private file mapping: the private copies go, the file's bytes come
 * back (also after the descriptor is closed), and the file never changed. */
static void private_dontneed(const char *self)
{
    section("MADV_DONTNEED on private file mappings");
    int fd = make_file("private", 3, O_RDWR);
    unsigned char *p = mmap(NULL, 3 * PG, RW, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        printf("mmap: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    memset(p + PG, 'X', PG);
    p[2 * PG + 5] = 'Y';
    close(fd);
    EXPECT("madvise(MADV_DONTNEED) of two pages", madvise(p + PG, 2 * PG, MADV_DONTNEED) == 0);
    EXPECT("page 1 is the file's again", p[PG] == 'b' && p[2 * PG - 1] == 'b');
    EXPECT("page 2 is the file's again", p[2 * PG + 5] == 'c');
    EXPECT("page 0 untouched", p[0] == 'a');
    char path[128], buf[8];
    snprintf(path, sizeof path, "%s/private", dir);
    fd = open(path, O_RDONLY);
    EXPECT("the file kept its bytes", pread(fd, buf, 1, PG) == 1 && buf[0] == 'b');
    close(fd);
    munmap(p, 3 * PG);

    /* A file of the image (this program): a private copy of its first page, dropped. */
    fd = open(self, O_RDONLY);
    unsigned char *e = mmap(NULL, PG, RW, MAP_PRIVATE, fd, 0);
    close(fd);
    if (e == MAP_FAILED) {
        printf("mmap %s: %s\n", self, errname(errno));
        guest_failures++;
        return;
    }
    unsigned char first = e[0];
    e[0] = (unsigned char)~first;
    EXPECT("madvise on the program's own file", madvise(e, PG, MADV_DONTNEED) == 0);
    EXPECT("its first byte is the file's again (0x7f of ELF)", e[0] == first && first == 0x7f);
    munmap(e, PG);
}

int main(int argc, char **argv)
{
    (void)argc;
    snprintf(dir, sizeof dir, "/tmp/mmapfile.XXXXXX");
    if (!mkdtemp(dir)) {
        printf("mkdtemp: %s\n", errname(errno));
        return 1;
    }
    shared_rw();
    shared_fork();
    access_rules();
    residency();
    past_eof();
    private_dontneed(argv[0]);
    const char *names[] = {"shared", "forked", "ro", "wo", "core", "short", "private"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    printf("failures: %d\n", guest_failures);
    return guest_failures ? 1 : 0;
}
