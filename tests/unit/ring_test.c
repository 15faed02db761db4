/* Host unit test of uno-vmm's guest-input boundary: ring_decode() (vmm/ring.c), the
 * operations hostop_exec() runs on a real temporary writable layer (vmm/hostops.c), and
 * ring_serve() over a fake ring in a fake guest RAM buffer (vmm/memory.c's gpa_ptr).
 *
 * No VM is involved: a zeroed struct vmm gets a RAM buffer of exactly the size the ring
 * needs (so ASan sees any access past the ring), a console whose stdout is a file, and an
 * upper directory under /tmp. Beside the upper directory lies "outside", which host-made
 * symlinks inside the upper layer point at; the test checks nothing there ever changes.
 * Read-only probes also go through a symlink to /etc.
 *
 * Build with ASan/UBSan (tests/unit/vmm.mk). Prints "N passed, M failed" last; exits 1 on
 * any failure. `ring_test --write-seeds DIR` writes seed inputs for ring_fuzz instead. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include "net.h"
#include <arpa/inet.h>

#include "check.h"

/* Exact result check: prints both sides on failure. */
#define EQ(expr, want)                                                                          \
    do {                                                                                        \
        long long got_ = (long long)(expr), want_ = (long long)(want);                          \
        CHECK(got_ == want_, "%s = %lld (%s), want %s = %lld", #expr, got_,                     \
              got_ < 0 ? strerror((int)-got_) : "", #want, want_);                              \
    } while (0)


static void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ring_test: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, ": %s\n", strerror(errno));
    va_end(ap);
    exit(2);
}

/* ---------------------------------------------------------------- fixture */
static struct vmm V;
static uint8_t *slot;          /* one slot's data buffer, exactly UNO_RING_SLOT bytes */
static struct ring_req req;
static char base[64], upper[128], outside[128], console_path[128];
static struct stat secret_st0; /* outside/secret as created */

static const char secret_text[] = "top secret\n";

static void hpath(char *out, size_t sz, const char *rel)
{
    snprintf(out, sz, "%s/%s", upper, rel);
}

static bool host_exists(const char *rel)
{
    char p[8192];
    struct stat st;
    hpath(p, sizeof p, rel);
    return lstat(p, &st) == 0;
}

static mode_t host_mode(const char *rel)
{
    char p[8192];
    struct stat st;
    hpath(p, sizeof p, rel);
    return lstat(p, &st) == 0 ? st.st_mode : 0;
}

static long host_read(const char *path, char *buf, size_t sz)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    buf[0] = 0;
    if (fd < 0)
        return -errno;
    long n = read(fd, buf, sz - 1);
    close(fd);
    buf[n < 0 ? 0 : n] = 0;
    return n;
}

static void host_write(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        fatal("write %s", path);
    close(fd);
}

static void rm_rf_at(int dfd, const char *name)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                rm_rf_at(dirfd(d), e->d_name);
        if (d)
            closedir(d);
        unlinkat(dfd, name, AT_REMOVEDIR);
    } else {
        unlinkat(dfd, name, 0);
    }
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n - 1; /* the directory's own fd */
}

static void setup(void)
{
    umask(022);
    strcpy(base, "/tmp/uno-ring-test.XXXXXX");
    if (!mkdtemp(base))
        fatal("mkdtemp");
    snprintf(upper, sizeof upper, "%s/upper", base);
    snprintf(outside, sizeof outside, "%s/outside", base);
    snprintf(console_path, sizeof console_path, "%s/console", base);
    if (mkdir(outside, 0755) < 0)
        fatal("mkdir %s", outside);
    char p[256];
    snprintf(p, sizeof p, "%s/secret", outside);
    host_write(p, secret_text, 0640);
    if (lstat(p, &secret_st0) < 0)
        fatal("stat %s", p);

    V.cfg.upper_dir = upper;
    if (hostops_init(&V) < 0)
        fatal("hostops_init");
    /* Console: stdin reads EOF, stdout lands in a file the test reads, stderr is dropped. */
    V.handles[0].fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    V.handles[1].fd = open(console_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    V.handles[2].fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (V.handles[0].fd < 0 || V.handles[1].fd < 0 || V.handles[2].fd < 0)
        fatal("console");
    /* Guest RAM: just up to the end of the ring's data slots. */
    V.mem.ram_size = UNO_GPA_RING + UNO_RING_BYTES;
    V.mem.ram = calloc(1, V.mem.ram_size);
    slot = malloc(UNO_RING_SLOT);
    if (!V.mem.ram || !slot)
        fatal("malloc");
    pthread_mutex_init(&V.ring_lock, NULL);
}

static void teardown(void)
{
    for (int h = 0; h < UNO_MAX_HANDLES; h++)
        if (V.handles[h].fd >= 0)
            close(V.handles[h].fd);
    close(V.upper_fd);
    pthread_mutex_destroy(&V.ring_lock);
    free(V.mem.ram);
    free(slot);
    rm_rf_at(AT_FDCWD, base);
}

/* ---------------------------------------------------------------- request helpers */
/* Decode a request whose slot holds exactly `dlen` bytes (a heap buffer of that size, so a
 * read past the data the guest described is an ASan error) and `len` says `len` bytes. */
static int decode_exact(uint16_t op, uint32_t handle, const void *data, size_t dlen,
                        uint64_t len)
{
    struct uno_sqe sqe = {.op = op, .handle = handle, .len = len, .off = -1};
    uint8_t *buf = malloc(dlen ? dlen : 1);
    memcpy(buf, data, dlen);
    int r = ring_decode(&sqe, buf, &req);
    free(buf);
    req.data = NULL;
    return r;
}

static int decode_path(uint16_t op, const char *path)
{
    size_t n = strlen(path) + 1;
    return decode_exact(op, 0, path, n, n);
}

static int decode_two(uint16_t op, const char *a, const char *b)
{
    size_t na = strlen(a) + 1, nb = strlen(b) + 1;
    char *buf = malloc(na + nb);
    memcpy(buf, a, na);
    memcpy(buf + na, b, nb);
    int r = decode_exact(op, 0, buf, na + nb, na + nb);
    free(buf);
    return r;
}

/* Decode into the fixture's slot and execute, as ring_serve does. */
static int64_t submit(const struct uno_sqe *sqe, const void *data, size_t dlen)
{
    memset(slot, 0, UNO_RING_SLOT);
    if (dlen)
        memcpy(slot, data, dlen);
    int r = ring_decode(sqe, slot, &req);
    if (r)
        return r;
    return hostop_exec(&V, &req);
}

static int64_t path_op(uint16_t op, const char *path, uint64_t a0, uint64_t a1)
{
    struct uno_sqe sqe = {.op = op, .len = strlen(path) + 1, .arg = {a0, a1}};
    return submit(&sqe, path, strlen(path) + 1);
}

static int64_t two_op(uint16_t op, const char *a, const char *b)
{
    char buf[16384];
    size_t na = strlen(a) + 1, nb = strlen(b) + 1;
    memcpy(buf, a, na);
    memcpy(buf + na, b, nb);
    struct uno_sqe sqe = {.op = op, .len = na + nb};
    return submit(&sqe, buf, na + nb);
}

static int64_t h_op(uint16_t op, uint32_t h, int64_t off, uint64_t len, uint64_t a0)
{
    struct uno_sqe sqe = {.op = op, .handle = h, .off = off, .len = len, .arg = {a0}};
    return submit(&sqe, NULL, 0);
}

static int64_t write_op(uint32_t h, int64_t off, const char *text)
{
    struct uno_sqe sqe = {.op = UNO_OP_WRITE, .handle = h, .off = off, .len = strlen(text)};
    return submit(&sqe, text, strlen(text));
}

static int64_t open_op(const char *path, uint64_t flags, uint64_t mode)
{
    return path_op(UNO_OP_OPEN, path, flags, mode);
}

/* Create an empty file and close it again; returns 0 or the open's error. */
static int64_t touch_op(const char *path)
{
    int64_t h = open_op(path, UNO_O_CREAT | 1, 0644);
    if (h < 0)
        return h;
    return h_op(UNO_OP_CLOSE, (uint32_t)h, 0, 0, 0);
}

static struct uno_stat stat_of(const char *path, int64_t *res)
{
    struct uno_stat st;
    *res = path_op(UNO_OP_STAT, path, 0, 0);
    memcpy(&st, slot, sizeof st);
    return st;
}

/* UNO_OP_GETDENTS output, checked for well-formedness while it is collected. */
struct dent {
    char name[256];
    uint8_t type, whiteout;
    uint64_t ino;
};
static struct dent dents[4096];
static int ndents;

static bool parse_dents(const uint8_t *buf, int64_t n)
{
    for (int64_t pos = 0; pos < n;) {
        const struct uno_dirent *d = (const struct uno_dirent *)(buf + pos);
        if (n - pos < (int64_t)sizeof *d || d->reclen % 8 || d->reclen > n - pos ||
            d->reclen < sizeof *d + d->namelen + 1 || d->name[d->namelen] ||
            strlen(d->name) != d->namelen || d->namelen > 255 || strchr(d->name, '/')) {
            fprintf(stderr, "bad dirent record at %lld of %lld\n", (long long)pos,
                    (long long)n);
            return false;
        }
        if (ndents < (int)(sizeof dents / sizeof dents[0])) {
            struct dent *e = &dents[ndents++];
            memcpy(e->name, d->name, d->namelen + 1);
            e->type = d->type;
            e->whiteout = d->whiteout;
            e->ino = d->ino;
        }
        pos += d->reclen;
    }
    return true;
}

/* Read a whole directory through a handle; returns the number of GETDENTS calls. */
static int list_dir(const char *path, bool *ok)
{
    ndents = 0;
    *ok = true;
    int64_t h = open_op(path, UNO_O_DIRECTORY, 0);
    if (h < 0) {
        *ok = false;
        return 0;
    }
    int calls = 0;
    for (;;) {
        int64_t n = h_op(UNO_OP_GETDENTS, (uint32_t)h, 0, UNO_RING_SLOT, 0);
        calls++;
        if (n < 0 || n > UNO_RING_SLOT || !parse_dents(slot, n)) {
            *ok = false;
            break;
        }
        if (n == 0 || calls > 10000)
            break;
    }
    h_op(UNO_OP_CLOSE, (uint32_t)h, 0, 0, 0);
    return calls;
}

static const struct dent *find_dent(const char *name, uint8_t whiteout)
{
    for (int i = 0; i < ndents; i++)
        if (!strcmp(dents[i].name, name) && dents[i].whiteout == whiteout)
            return &dents[i];
    return NULL;
}

/* ---------------------------------------------------------------- ring_decode */
static void test_decode(void)
{
    /* Operations. */
    EQ(decode_exact(UNO_OP_NOP, 0, "", 0, 0), 0);
    EQ(decode_exact(UNO_OP_MAX, 0, "", 0, 0), -ENOSYS);
    EQ(decode_exact(UNO_OP_MAX + 1, 0, "", 0, 0), -ENOSYS);
    EQ(decode_exact(0xffff, 0, "", 0, 0), -ENOSYS);
    EQ(decode_exact(UNO_OP_NOP, 0, "", 0, 1ull << 40), 0); /* NOP ignores its fields */

    /* Data length. */
    EQ(decode_exact(UNO_OP_READ, 3, "", 0, UNO_RING_SLOT), 0);
    EQ(decode_exact(UNO_OP_READ, 3, "", 0, UNO_RING_SLOT + 1), -EINVAL);
    EQ(decode_exact(UNO_OP_WRITE, 3, "", 0, ~0ull), -EINVAL);
    EQ(decode_exact(UNO_OP_OPEN, 0, "", 0, 1ull << 63), -EINVAL);

    /* Handles. */
    EQ(decode_exact(UNO_OP_READ, UNO_MAX_HANDLES - 1, "", 0, 1), 0);
    static const uint16_t hops[] = {UNO_OP_WRITE, UNO_OP_READ, UNO_OP_CLOSE, UNO_OP_FSTAT,
                                    UNO_OP_GETDENTS, UNO_OP_LSEEK, UNO_OP_FTRUNCATE,
                                    UNO_OP_FSYNC};
    for (size_t i = 0; i < sizeof hops / sizeof hops[0]; i++) {
        EQ(decode_exact(hops[i], UNO_MAX_HANDLES, "", 0, 0), -EBADF);
        EQ(decode_exact(hops[i], 0xffffffffu, "", 0, 0), -EBADF);
    }

    /* The decoded copy is the guest's request, path copied out of the slot. */
    struct uno_sqe sqe = {.op = UNO_OP_OPEN, .handle = 77, .off = -5, .len = 6,
                          .arg = {1, 2, 3, 4}, .user_data = 99};
    uint8_t data[UNO_RING_SLOT] = "a/b/c";
    EQ(ring_decode(&sqe, data, &req), 0);
    CHECK(req.op == UNO_OP_OPEN && req.handle == 77 && req.off == -5 && req.len == 6 &&
              req.arg[0] == 1 && req.arg[3] == 4 && req.data == data &&
              !strcmp(req.path, "a/b/c") && req.path2[0] == 0,
          "decoded request fields");

    /* Paths: NUL within len. */
    EQ(decode_exact(UNO_OP_STAT, 0, "abc", 3, 3), -ENAMETOOLONG);
    EQ(decode_exact(UNO_OP_STAT, 0, "abc", 4, 3), -ENAMETOOLONG); /* NUL just past len */
    EQ(decode_exact(UNO_OP_STAT, 0, "abc", 4, 4), 0);
    EQ(decode_exact(UNO_OP_STAT, 0, "", 0, 0), -ENAMETOOLONG);    /* len 0: no string */
    EQ(decode_exact(UNO_OP_STAT, 0, "", 1, 1), 0);                /* "" is the root */
    CHECK(req.path[0] == 0, "root path decodes to \"\"");
    EQ(decode_exact(UNO_OP_STAT, 0, "ab\0cd", 6, 6), 0);          /* stops at the NUL */
    CHECK(!strcmp(req.path, "ab"), "path cut at the first NUL");
    {
        uint8_t *full = malloc(UNO_RING_SLOT);
        memset(full, 'a', UNO_RING_SLOT); /* no NUL anywhere in the slot */
        struct uno_sqe s2 = {.op = UNO_OP_OPEN, .len = UNO_RING_SLOT};
        EQ(ring_decode(&s2, full, &req), -ENAMETOOLONG);
        s2.op = UNO_OP_RENAME;
        full[10] = 0; /* first path fine, second runs to the end of the slot */
        EQ(ring_decode(&s2, full, &req), -ENAMETOOLONG);
        s2.op = UNO_OP_SYMLINK;
        EQ(ring_decode(&s2, full, &req), -ENAMETOOLONG);
        free(full);
    }

    /* Path shape. */
    static const struct {
        const char *path;
        int want;
    } cases[] = {
        {"a", 0}, {"a/b", 0}, {"dir/sub/file.txt", 0}, {"...", 0}, {".a", 0}, {"..a", 0},
        {"a..", 0}, {".wh", 0}, {"x.wh.y", 0}, {"a/.wh", 0}, {"wh.a", 0}, {" ", 0},
        {"/", -EINVAL}, {"/a", -EINVAL}, {"/etc/passwd", -EINVAL}, {"a/", -EINVAL},
        {"a/b/", -EINVAL}, {"a//b", -EINVAL}, {"//a", -EINVAL}, {".", -EINVAL},
        {"..", -EINVAL}, {"./a", -EINVAL}, {"a/.", -EINVAL}, {"a/./b", -EINVAL},
        {"../a", -EINVAL}, {"a/..", -EINVAL}, {"a/../b", -EINVAL}, {"a/../../etc", -EINVAL},
        {".wh.a", -EPERM}, {"a/.wh.b", -EPERM}, {".wh..wh..opq", -EPERM},
        {"a/.wh..wh..opq", -EPERM}, {".wh.", -EPERM}, {".wh..", -EPERM},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = decode_path(UNO_OP_STAT, cases[i].path);
        CHECK(got == cases[i].want, "decode \"%s\" = %d, want %d", cases[i].path, got,
              cases[i].want);
        if (got == 0)
            CHECK(!strcmp(req.path, cases[i].path), "decoded \"%s\" as \"%s\"",
                  cases[i].path, req.path);
    }
    /* Every path op applies the same rules. */
    static const uint16_t pops[] = {UNO_OP_OPEN, UNO_OP_STAT, UNO_OP_MKDIR, UNO_OP_UNLINK,
                                    UNO_OP_READLINK, UNO_OP_WHITEOUT, UNO_OP_CHMOD,
                                    UNO_OP_UTIMENS};
    for (size_t i = 0; i < sizeof pops / sizeof pops[0]; i++) {
        EQ(decode_path(pops[i], "../x"), -EINVAL);
        EQ(decode_path(pops[i], "/x"), -EINVAL);
        EQ(decode_path(pops[i], ".wh.x"), -EPERM);
        EQ(decode_path(pops[i], "ok/x"), 0);
    }

    /* Name and path lengths. */
    char name[300], path[5000];
    memset(name, 'n', 255);
    name[255] = 0;
    EQ(decode_path(UNO_OP_OPEN, name), 0);
    snprintf(path, sizeof path, "d/%s/e", name);
    EQ(decode_path(UNO_OP_OPEN, path), 0);
    name[255] = 'n';
    name[256] = 0;
    EQ(decode_path(UNO_OP_OPEN, name), -ENAMETOOLONG);
    snprintf(path, sizeof path, "d/%s/e", name);
    EQ(decode_path(UNO_OP_OPEN, path), -ENAMETOOLONG);
    /* 4095 bytes (+ NUL) fit req.path; 4096 do not. Components of 99 + '/'. */
    for (int i = 0; i < 4096; i++)
        path[i] = (i % 100 == 99) ? '/' : 'p';
    path[4095] = 0;
    EQ(decode_path(UNO_OP_MKDIR, path), 0);
    CHECK(strlen(req.path) == 4095, "4095-byte path kept whole");
    path[4095] = 'p';
    path[4096] = 0;
    EQ(decode_path(UNO_OP_MKDIR, path), -ENAMETOOLONG);
    memset(path, 'q', 4999);
    path[4999] = 0; /* one 4999-byte component, still within the slot */
    CHECK(decode_path(UNO_OP_MKDIR, path) == -ENAMETOOLONG, "4999-byte path");

    /* RENAME: two checked paths. */
    EQ(decode_two(UNO_OP_RENAME, "a", "b/c"), 0);
    CHECK(!strcmp(req.path, "a") && !strcmp(req.path2, "b/c"), "rename paths");
    EQ(decode_two(UNO_OP_RENAME, "a", ""), 0); /* decodes; the op refuses the root */
    EQ(decode_exact(UNO_OP_RENAME, 0, "a", 2, 2), -ENAMETOOLONG);  /* no second path */
    EQ(decode_exact(UNO_OP_RENAME, 0, "a\0b", 3, 3), -ENAMETOOLONG); /* unterminated */
    EQ(decode_exact(UNO_OP_RENAME, 0, "a\0b", 4, 3), -ENAMETOOLONG); /* NUL past len */
    EQ(decode_two(UNO_OP_RENAME, "a", "/b"), -EINVAL);
    EQ(decode_two(UNO_OP_RENAME, "a", "../b"), -EINVAL);
    EQ(decode_two(UNO_OP_RENAME, "a", "b/"), -EINVAL);
    EQ(decode_two(UNO_OP_RENAME, "a", ".wh.b"), -EPERM);
    EQ(decode_two(UNO_OP_RENAME, "/a", "b"), -EINVAL);
    EQ(decode_two(UNO_OP_RENAME, "..", "b"), -EINVAL);
    EQ(decode_two(UNO_OP_RENAME, ".wh.a", "b"), -EPERM);
    memset(name, 'n', 255);
    name[255] = 0;
    EQ(decode_two(UNO_OP_RENAME, "a", name), 0);
    name[255] = 'n';
    name[256] = 0;
    EQ(decode_two(UNO_OP_RENAME, "a", name), -ENAMETOOLONG);

    /* SYMLINK: the target is any non-empty string up to PATH_MAX-1 (absolute, "..", even
     * ".wh." names: it is only stored); the link path follows the path rules. */
    EQ(decode_two(UNO_OP_SYMLINK, "target", "dir/link"), 0);
    CHECK(!strcmp(req.path, "target") && !strcmp(req.path2, "dir/link"), "symlink paths");
    EQ(decode_two(UNO_OP_SYMLINK, "/usr/bin/env", "l"), 0);
    CHECK(!strcmp(req.path, "/usr/bin/env"), "absolute symlink target kept");
    EQ(decode_two(UNO_OP_SYMLINK, "../../lib/x.so", "l"), 0);
    EQ(decode_two(UNO_OP_SYMLINK, "a//b/./c/", "l"), 0);
    EQ(decode_two(UNO_OP_SYMLINK, ".wh.x", "l"), 0);
    EQ(decode_two(UNO_OP_SYMLINK, "", "l"), -EINVAL);
    EQ(decode_two(UNO_OP_SYMLINK, "t", "/l"), -EINVAL);
    EQ(decode_two(UNO_OP_SYMLINK, "t", "../l"), -EINVAL);
    EQ(decode_two(UNO_OP_SYMLINK, "t", ".wh.l"), -EPERM);
    EQ(decode_two(UNO_OP_SYMLINK, "t", "d/.wh..wh..opq"), -EPERM);
    EQ(decode_exact(UNO_OP_SYMLINK, 0, "t", 2, 2) < 0, 1);          /* no link path */
    EQ(decode_exact(UNO_OP_SYMLINK, 0, "t\0l", 3, 3) < 0, 1);       /* unterminated */
    EQ(decode_exact(UNO_OP_SYMLINK, 0, "tgt", 3, 3), -EINVAL);     /* unterminated target */
    memset(path, 't', 4095);
    path[4095] = 0;
    EQ(decode_two(UNO_OP_SYMLINK, path, "l"), 0);
    CHECK(strlen(req.path) == 4095, "4095-byte symlink target kept");
    path[4095] = 't';
    path[4096] = 0;
    EQ(decode_two(UNO_OP_SYMLINK, path, "l"), -ENAMETOOLONG); /* would not fit req.path */

    /* Handle operations do not look at the data as a path. */
    EQ(decode_exact(UNO_OP_WRITE, 1, "/../.wh.x", 9, 9), 0);
}

/* ---------------------------------------------------------------- file operations */
static void test_files(void)
{
    char buf[256], p[512];
    int64_t r, h = open_op("f", UNO_O_CREAT | 2 /* O_RDWR */, 0644);
    CHECK(h >= 3 && h < UNO_MAX_HANDLES, "open f = %lld", (long long)h);
    EQ(host_mode("f"), S_IFREG | 0644);
    EQ(write_op((uint32_t)h, -1, "hello world"), 11);
    hpath(p, sizeof p, "f");
    EQ(host_read(p, buf, sizeof buf), 11);
    CHECK(!strcmp(buf, "hello world"), "host sees \"%s\"", buf);

    r = h_op(UNO_OP_FSTAT, (uint32_t)h, 0, 0, 0);
    EQ(r, sizeof(struct uno_stat));
    struct uno_stat us;
    memcpy(&us, slot, sizeof us);
    CHECK(S_ISREG(us.mode) && (us.mode & 07777) == 0644 && us.size == 11 && us.nlink == 1 &&
              us.uid == 0 && us.gid == 0 && us.flags == 0,
          "fstat mode %o size %llu", us.mode, (unsigned long long)us.size);

    /* read(): current offset; pread(): off >= 0, offset unchanged. */
    EQ(h_op(UNO_OP_LSEEK, (uint32_t)h, 0, 0, SEEK_SET), 0);
    EQ(h_op(UNO_OP_READ, (uint32_t)h, -1, 5, 0), 5);
    CHECK(!memcmp(slot, "hello", 5), "read hello");
    EQ(h_op(UNO_OP_READ, (uint32_t)h, 6, 100, 0), 5);
    CHECK(!memcmp(slot, "world", 5), "pread world");
    EQ(h_op(UNO_OP_READ, (uint32_t)h, -1, 1, 0), 1);
    CHECK(slot[0] == ' ', "read continues at the file offset");
    EQ(h_op(UNO_OP_READ, (uint32_t)h, 100, 10, 0), 0); /* past the end */
    EQ(h_op(UNO_OP_READ, (uint32_t)h, -1, 0, 0), 0);
    EQ(h_op(UNO_OP_READ, (uint32_t)h, 0, UNO_RING_SLOT, 0), 11);

    /* pwrite at an offset, then lseek variants. */
    EQ(write_op((uint32_t)h, 6, "WORLD"), 5);
    host_read(p, buf, sizeof buf);
    CHECK(!strcmp(buf, "hello WORLD"), "pwrite: \"%s\"", buf);
    EQ(h_op(UNO_OP_LSEEK, (uint32_t)h, 0, 0, SEEK_END), 11);
    EQ(h_op(UNO_OP_LSEEK, (uint32_t)h, -2, 0, SEEK_CUR), 9);
    EQ(h_op(UNO_OP_LSEEK, (uint32_t)h, -100, 0, SEEK_SET), -EINVAL);
    EQ(h_op(UNO_OP_LSEEK, (uint32_t)h, 0, 0, 5), -EINVAL);
    EQ(h_op(UNO_OP_LSEEK, (uint32_t)h, 0, 0, (uint64_t)-1), -EINVAL);
    EQ(h_op(UNO_OP_LSEEK, (uint32_t)h, 0, 0, SEEK_DATA), 0);
    EQ(h_op(UNO_OP_LSEEK, (uint32_t)h, 0, 0, SEEK_HOLE), 11);
    r = write_op((uint32_t)h, INT64_MAX - 2, "abcdef"); /* at the largest file size */
    CHECK(r < 0 || r <= 2, "write at INT64_MAX - 2 = %lld", (long long)r);
    EQ(write_op((uint32_t)h, -1, ""), 0);

    EQ(h_op(UNO_OP_FTRUNCATE, (uint32_t)h, 3, 0, 0), 0);
    EQ(h_op(UNO_OP_FTRUNCATE, (uint32_t)h, -1, 0, 0), -EINVAL);
    EQ(h_op(UNO_OP_FSYNC, (uint32_t)h, 0, 0, 0), 0);
    host_read(p, buf, sizeof buf);
    CHECK(!strcmp(buf, "hel"), "ftruncate: \"%s\"", buf);
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)h, 0, 0, 0), 0);

    /* A closed handle is gone for every handle operation. */
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)h, 0, 0, 0), -EBADF);
    EQ(h_op(UNO_OP_READ, (uint32_t)h, -1, 1, 0), -EBADF);
    EQ(write_op((uint32_t)h, -1, "x"), -EBADF);
    EQ(h_op(UNO_OP_FSTAT, (uint32_t)h, 0, 0, 0), -EBADF);
    EQ(h_op(UNO_OP_LSEEK, (uint32_t)h, 0, 0, 0), -EBADF);
    EQ(h_op(UNO_OP_FTRUNCATE, (uint32_t)h, 0, 0, 0), -EBADF);
    EQ(h_op(UNO_OP_FSYNC, (uint32_t)h, 0, 0, 0), -EBADF);
    EQ(h_op(UNO_OP_GETDENTS, (uint32_t)h, 0, 0, 0), -EBADF);
    EQ(h_op(UNO_OP_READ, 1000, -1, 1, 0), -EBADF); /* never opened */
    /* hostop_exec on its own (bypassing ring_decode) still refuses a wild handle. */
    memset(&req, 0, sizeof req);
    req.data = slot;
    req.len = 1;
    req.off = -1;
    static const uint16_t hops[] = {UNO_OP_READ, UNO_OP_WRITE, UNO_OP_CLOSE, UNO_OP_FSTAT,
                                    UNO_OP_GETDENTS, UNO_OP_LSEEK, UNO_OP_FTRUNCATE,
                                    UNO_OP_FSYNC};
    for (size_t i = 0; i < sizeof hops / sizeof hops[0]; i++) {
        req.op = hops[i];
        req.handle = UNO_MAX_HANDLES + 5;
        EQ(hostop_exec(&V, &req), -EBADF);
        req.handle = 0xffffffffu;
        EQ(hostop_exec(&V, &req), -EBADF);
    }
    req.op = UNO_OP_MAX;
    EQ(hostop_exec(&V, &req), -ENOSYS);
    req.op = UNO_OP_NOP;
    EQ(hostop_exec(&V, &req), 0);

    /* O_APPEND, O_TRUNC, O_EXCL, access modes. */
    h = open_op("f", 1 /* O_WRONLY */ | UNO_O_APPEND, 0);
    CHECK(h >= 3, "open append");
    EQ(write_op((uint32_t)h, -1, "xyz"), 3);
    host_read(p, buf, sizeof buf);
    CHECK(!strcmp(buf, "helxyz"), "append: \"%s\"", buf);
    EQ(h_op(UNO_OP_READ, (uint32_t)h, -1, 1, 0), -EBADF); /* write-only */
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)h, 0, 0, 0), 0);
    h = open_op("f", 0 /* O_RDONLY */, 0);
    EQ(write_op((uint32_t)h, -1, "x"), -EBADF); /* read-only */
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)h, 0, 0, 0), 0);
    EQ(open_op("f", UNO_O_CREAT | UNO_O_EXCL | 1, 0644), -EEXIST);
    EQ(open_op("f", 3, 0), -EINVAL); /* O_ACCMODE 3 */
    EQ(open_op("missing", 0, 0), -ENOENT);
    EQ(open_op("missing/x", UNO_O_CREAT | 1, 0644), -ENOENT);
    EQ(open_op("f/x", 0, 0), -ENOTDIR);
    EQ(open_op("f", UNO_O_DIRECTORY, 0), -ENOTDIR);
    h = open_op("f", 1 | UNO_O_TRUNC, 0);
    CHECK(h >= 3, "open trunc");
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)h, 0, 0, 0), 0);
    host_read(p, buf, sizeof buf);
    CHECK(buf[0] == 0, "O_TRUNC emptied the file");
    /* Flags outside the carried set are dropped (O_NONBLOCK, O_SYNC, O_PATH, O_TMPFILE...) */
    h = open_op("f", 2 | 04000 | 04010000 | 010000000 | 020000000, 0);
    CHECK(h >= 3, "unknown flags ignored: %lld", (long long)h);
    EQ(write_op((uint32_t)h, -1, "w"), 1);
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)h, 0, 0, 0), 0);
    /* Mode: permission bits only (no file type from the guest). */
    h = open_op("m", UNO_O_CREAT | 1, S_IFCHR | 0600);
    EQ(host_mode("m"), S_IFREG | 0600);
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)h, 0, 0, 0), 0);

    /* The root of the layer as a directory handle. */
    h = open_op("", 0, 0);
    CHECK(h >= 3, "open root");
    EQ(h_op(UNO_OP_READ, (uint32_t)h, -1, 1, 0), -EISDIR);
    EQ(write_op((uint32_t)h, -1, "x"), -EISDIR);
    EQ(h_op(UNO_OP_FSTAT, (uint32_t)h, 0, 0, 0), sizeof(struct uno_stat));
    memcpy(&us, slot, sizeof us);
    CHECK(S_ISDIR(us.mode), "root is a directory");
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)h, 0, 0, 0), 0);
    EQ(open_op("", 1, 0), -EISDIR);
    EQ(open_op("", UNO_O_CREAT | 1, 0644) < 0, 1);

    /* chmod, utimens. */
    EQ(path_op(UNO_OP_CHMOD, "f", 0, 0604), 0);
    EQ(host_mode("f"), S_IFREG | 0604);
    EQ(path_op(UNO_OP_CHMOD, "f", 0, 0177777), 0); /* file-type bits are not the guest's */
    EQ(host_mode("f"), S_IFREG | 01777);             /* nor set-user/group-ID on the host */
    EQ(path_op(UNO_OP_CHMOD, "f", 0, 0644), 0);
    EQ(path_op(UNO_OP_CHMOD, "missing", 0, 0644), -ENOENT);
    EQ(path_op(UNO_OP_CHMOD, "", 0, 0755), -EINVAL);
    EQ(path_op(UNO_OP_UTIMENS, "f", 1000000000ll * 1000 + 5, 1000000000ll * 2000 + 7), 0);
    struct stat hs;
    lstat(p, &hs);
    CHECK(hs.st_atim.tv_sec == 1000 && hs.st_atim.tv_nsec == 5 && hs.st_mtim.tv_sec == 2000 &&
              hs.st_mtim.tv_nsec == 7,
          "utimens set %ld.%ld / %ld.%ld", (long)hs.st_atim.tv_sec, hs.st_atim.tv_nsec,
          (long)hs.st_mtim.tv_sec, hs.st_mtim.tv_nsec);
    EQ(path_op(UNO_OP_UTIMENS, "f", (uint64_t)-1, 1000000000ll * 3000), 0);
    lstat(p, &hs);
    CHECK(hs.st_atim.tv_sec == 1000 && hs.st_mtim.tv_sec == 3000, "utimens -1 leaves atime");
    EQ(path_op(UNO_OP_UTIMENS, "f", (uint64_t)INT64_MIN, (uint64_t)INT64_MAX) <= 0, 1);

    /* Console handles: writes reach the host's stdout; closing them is refused. */
    EQ(write_op(UNO_HANDLE_STDOUT, -1, "to the console\n"), 15);
    for (uint32_t c = 0; c < 3; c++)
        EQ(h_op(UNO_OP_CLOSE, c, 0, 0, 0), -EBADF);
    EQ(write_op(UNO_HANDLE_STDOUT, -1, "still open\n"), 11);
    EQ(h_op(UNO_OP_READ, UNO_HANDLE_STDIN, -1, 10, 0), 0); /* /dev/null here */
    host_read(console_path, buf, sizeof buf);
    CHECK(!strcmp(buf, "to the console\nstill open\n"), "console got \"%s\"", buf);
}

/* UNO_OP_FMAP: every guest value checked (handle, alignment, window), and with a real VM
 * (KVM without vCPUs is enough for memory slots) the windows handed out and released. */
static int64_t fmap_op(uint64_t what, uint32_t h, int64_t off, uint64_t a1, uint64_t a2)
{
    struct uno_sqe sqe = {.op = UNO_OP_FMAP, .handle = h, .off = off, .arg = {what, a1, a2}};
    return submit(&sqe, NULL, 0);
}

static void test_filemap(void)
{
    int64_t h = open_op("fmap", UNO_O_CREAT | 2, 0644);
    CHECK(h >= 3, "open fmap: %lld", (long long)h);
    char page[8192];
    memset(page, 'x', sizeof page);
    struct uno_sqe w = {.op = UNO_OP_WRITE, .handle = (uint32_t)h, .off = 0, .len = 8192};
    EQ(submit(&w, page, sizeof page), 8192);
    EQ(path_op(UNO_OP_MKDIR, "fmapdir", 0, 0755), 0);
    int64_t d = open_op("fmapdir", 0, 0);
    CHECK(d >= 3, "open fmapdir: %lld", (long long)d);
    /* Rejected before anything is mapped. */
    EQ(fmap_op(UNO_FMAP_MAP, UNO_MAX_HANDLES + 5, 0, 4096, 1), -EBADF);
    EQ(fmap_op(UNO_FMAP_MAP, 77, 0, 4096, 1), -EBADF);
    EQ(fmap_op(UNO_FMAP_MAP, (uint32_t)d, 0, 4096, 0), -ENODEV);
    EQ(fmap_op(UNO_FMAP_MAP, (uint32_t)h, 100, 4096, 1), -EINVAL);
    EQ(fmap_op(UNO_FMAP_MAP, (uint32_t)h, -4096, 4096, 1), -EINVAL);
    EQ(fmap_op(UNO_FMAP_MAP, (uint32_t)h, 0, 4095, 1), -EINVAL);
    EQ(fmap_op(UNO_FMAP_MAP, (uint32_t)h, 0, 0, 1), -EINVAL);
    EQ(fmap_op(UNO_FMAP_MAP, (uint32_t)h, 0, UNO_FMAP_WINDOW + 4096, 1), -EINVAL);
    EQ(fmap_op(UNO_FMAP_MAP, (uint32_t)h, 0, 4096, 7), -EINVAL);
    EQ(fmap_op(99, (uint32_t)h, 0, 4096, 1), -EINVAL);
    EQ(fmap_op(UNO_FMAP_UNMAP, 0, 0, UNO_GPA_FILEMAP, 0), -EINVAL);   /* never mapped */
    EQ(fmap_op(UNO_FMAP_UNMAP, 0, 0, UNO_GPA_FILEMAP + 4096, 0), -EINVAL);
    EQ(fmap_op(UNO_FMAP_UNMAP, 0, 0, 0, 0), -EINVAL);
    EQ(fmap_op(UNO_FMAP_SYNC, 0, 0, UNO_GPA_FILEMAP, 4096), -EINVAL);
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    V.vm_fd = kvm >= 0 ? ioctl(kvm, KVM_CREATE_VM, 0) : -1;
    if (V.vm_fd < 0) {
        /* No KVM here: the slot cannot be made, and the mapping is undone. */
        EQ(fmap_op(UNO_FMAP_MAP, (uint32_t)h, 0, 8192, 1), -ENOMEM);
    } else {
        int64_t a = fmap_op(UNO_FMAP_MAP, (uint32_t)h, 0, 8192, 1);
        int64_t b = fmap_op(UNO_FMAP_MAP, (uint32_t)h, 4096, 4096, 0);
        EQ(a, (int64_t)UNO_GPA_FILEMAP);
        EQ(b, (int64_t)(UNO_GPA_FILEMAP + UNO_FMAP_WINDOW));
        EQ(fmap_op(UNO_FMAP_SYNC, 0, 4096, (uint64_t)a, 4096), 0);
        EQ(fmap_op(UNO_FMAP_SYNC, 0, 4096, (uint64_t)a, 8192), -EINVAL); /* past the window */
        EQ(fmap_op(UNO_FMAP_SYNC, 0, -1, (uint64_t)a, 1), -EINVAL);
        EQ(fmap_op(UNO_FMAP_UNMAP, 0, 0, (uint64_t)a, 0), 0);
        EQ(fmap_op(UNO_FMAP_UNMAP, 0, 0, (uint64_t)a, 0), -EINVAL);       /* twice */
        EQ(fmap_op(UNO_FMAP_MAP, (uint32_t)h, 0, 4096, 1), a);             /* reused */
        int n = 2;
        while (fmap_op(UNO_FMAP_MAP, (uint32_t)h, 0, 4096, 1) >= 0)
            n++;
        EQ(n, UNO_FMAP_MAX);                                              /* then -ENOMEM */
        for (int i = 0; i < UNO_FMAP_MAX; i++)
            EQ(fmap_op(UNO_FMAP_UNMAP, 0, 0, UNO_GPA_FILEMAP + (uint64_t)i * UNO_FMAP_WINDOW, 0),
               0);
        close(V.vm_fd);
    }
    if (kvm >= 0)
        close(kvm);
    V.vm_fd = -1;
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)h, 0, 0, 0), 0);
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)d, 0, 0, 0), 0);
}

static void test_dirs(void)
{
    int64_t r;
    struct uno_stat st;
    EQ(path_op(UNO_OP_MKDIR, "d", 0, 0750), 0);
    EQ(host_mode("d"), S_IFDIR | 0750);
    EQ(path_op(UNO_OP_MKDIR, "d", 0, 0755), -EEXIST);
    EQ(path_op(UNO_OP_MKDIR, "d/e", 0, 0755), 0);
    EQ(path_op(UNO_OP_MKDIR, "nope/e", 0, 0755), -ENOENT);
    EQ(path_op(UNO_OP_MKDIR, "", 0, 0755), -EINVAL);
    EQ(path_op(UNO_OP_MKDIR, "f/x", 0, 0755), -ENOTDIR);

    st = stat_of("d", &r);
    EQ(r, sizeof st);
    CHECK(S_ISDIR(st.mode) && st.flags == 0, "stat d: mode %o flags %u", st.mode, st.flags);
    st = stat_of("", &r);
    EQ(r, sizeof st);
    CHECK(S_ISDIR(st.mode), "stat root");
    st = stat_of("missing", &r);
    EQ(r, -ENOENT);
    st = stat_of("missing/x", &r);
    EQ(r, -ENOENT);

    /* unlink / rmdir */
    EQ(path_op(UNO_OP_UNLINK, "d", 0, 0), -EISDIR);
    EQ(path_op(UNO_OP_UNLINK, "d", 1, 0), -ENOTEMPTY);
    EQ(path_op(UNO_OP_UNLINK, "d/e", 1, 0), 0);
    CHECK(!host_exists("d/e"), "rmdir d/e");
    EQ(touch_op("d/file"), 0);
    EQ(path_op(UNO_OP_UNLINK, "d/file", 1, 0), -ENOTDIR);
    EQ(path_op(UNO_OP_UNLINK, "d/file", 0, 0), 0);
    EQ(path_op(UNO_OP_UNLINK, "d/file", 0, 0), -ENOENT);
    EQ(path_op(UNO_OP_UNLINK, "", 1, 0), -EINVAL);
    EQ(path_op(UNO_OP_UNLINK, "d", 1, 0), 0);
    CHECK(!host_exists("d"), "rmdir d");

    /* rename */
    EQ(touch_op("a"), 0);
    EQ(path_op(UNO_OP_MKDIR, "r", 0, 0755), 0);
    EQ(two_op(UNO_OP_RENAME, "a", "b"), 0);
    CHECK(!host_exists("a") && host_exists("b"), "rename a b");
    EQ(two_op(UNO_OP_RENAME, "b", "r/c"), 0);
    CHECK(host_exists("r/c"), "rename into a directory");
    EQ(two_op(UNO_OP_RENAME, "missing", "x"), -ENOENT);
    EQ(two_op(UNO_OP_RENAME, "r/c", "nope/c"), -ENOENT);
    EQ(two_op(UNO_OP_RENAME, "r", "r/sub"), -EINVAL);
    EQ(two_op(UNO_OP_RENAME, "r/c", ""), -EINVAL); /* onto the root */
    EQ(two_op(UNO_OP_RENAME, "", "x"), -EINVAL);   /* the root itself */
    EQ(two_op(UNO_OP_RENAME, "r", "moved"), 0);
    CHECK(host_exists("moved/c"), "rename a directory");

    /* symlink + readlink */
    EQ(two_op(UNO_OP_SYMLINK, "moved/c", "rel_link"), 0);
    EQ(two_op(UNO_OP_SYMLINK, "/usr/bin/env", "abs_link"), 0);
    EQ(two_op(UNO_OP_SYMLINK, "../../../x", "moved/up_link"), 0);
    EQ(two_op(UNO_OP_SYMLINK, "t", "abs_link"), -EEXIST);
    EQ(two_op(UNO_OP_SYMLINK, "t", "nope/l"), -ENOENT);
    EQ(path_op(UNO_OP_READLINK, "rel_link", 0, 0), 7);
    CHECK(!memcmp(slot, "moved/c", 7), "readlink rel_link");
    EQ(path_op(UNO_OP_READLINK, "abs_link", 0, 0), 12);
    CHECK(!memcmp(slot, "/usr/bin/env", 12), "readlink abs_link");
    EQ(path_op(UNO_OP_READLINK, "moved/up_link", 0, 0), 10);
    EQ(path_op(UNO_OP_READLINK, "moved/c", 0, 0), -EINVAL);
    EQ(path_op(UNO_OP_READLINK, "missing", 0, 0), -ENOENT);
    EQ(path_op(UNO_OP_READLINK, "", 0, 0), -EINVAL);
    char target[4096];
    memset(target, 'T', 4095);
    target[4095] = 0;
    EQ(two_op(UNO_OP_SYMLINK, target, "long_link"), 0);
    EQ(path_op(UNO_OP_READLINK, "long_link", 0, 0), 4095);
    st = stat_of("abs_link", &r);
    EQ(r, sizeof st);
    CHECK(S_ISLNK(st.mode) && st.size == 12, "stat does not follow a symlink");
    /* Symlinks are never followed by the host, whatever they point at. */
    EQ(open_op("rel_link", 0, 0), -ELOOP);
    EQ(open_op("abs_link", 0, 0), -ELOOP);
    EQ(path_op(UNO_OP_MKDIR, "rel_link/x", 0, 0755), -ELOOP);
    EQ(path_op(UNO_OP_UNLINK, "abs_link", 0, 0), 0); /* the link itself */
    CHECK(!host_exists("abs_link"), "unlink removes the symlink");

    /* A large directory read in several GETDENTS calls: every name exactly once. */
    EQ(path_op(UNO_OP_MKDIR, "big", 0, 0755), 0);
    char name[300], p[600];
    for (int i = 0; i < 400; i++) {
        memset(name, 'a' + i % 26, 200);
        snprintf(name + 200, 50, "-%d", i);
        snprintf(p, sizeof p, "big/%s", name);
        int64_t t = touch_op(p);
        CHECK(t == 0, "create %s: %lld", p, (long long)t);
    }
    bool ok;
    int calls = list_dir("big", &ok);
    CHECK(ok, "getdents big well-formed");
    CHECK(calls > 3, "big directory took %d GETDENTS calls", calls);
    EQ(ndents, 400);
    int seen = 0;
    for (int i = 0; i < ndents; i++) {
        const char *dash = strrchr(dents[i].name, '-');
        int k = dash ? atoi(dash + 1) : -1;
        seen += strlen(dents[i].name) > 200 && dents[i].whiteout == 0 && k >= 0 && k < 400 &&
                dents[i].type == DT_REG;
    }
    EQ(seen, 400);
}

static void test_whiteouts(void)
{
    int64_t r;
    struct uno_stat st;
    bool ok;

    /* A whiteout stats as such and is not an openable file. */
    EQ(path_op(UNO_OP_WHITEOUT, "gone", 0, 0), 0);
    CHECK(host_exists(".wh.gone"), "whiteout stored as .wh.gone");
    st = stat_of("gone", &r);
    EQ(r, sizeof st);
    EQ(st.flags, UNO_STAT_WHITEOUT);
    EQ(open_op("gone", 0, 0), -ENOENT);
    EQ(path_op(UNO_OP_WHITEOUT, "gone", 0, 0), 0); /* idempotent */
    EQ(path_op(UNO_OP_WHITEOUT, "nope/gone", 0, 0), -ENOENT);
    EQ(path_op(UNO_OP_WHITEOUT, "", 0, 0), -EINVAL);
    /* Creating the name drops the whiteout. */
    int64_t h = open_op("gone", UNO_O_CREAT | 1, 0644);
    CHECK(h >= 3, "create over a whiteout");
    h_op(UNO_OP_CLOSE, (uint32_t)h, 0, 0, 0);
    CHECK(!host_exists(".wh.gone"), "whiteout dropped by create");
    st = stat_of("gone", &r);
    CHECK(r == sizeof st && st.flags == 0 && S_ISREG(st.mode), "stat recreated file");
    /* So do symlink and rename onto it. */
    EQ(path_op(UNO_OP_WHITEOUT, "sl", 0, 0), 0);
    EQ(two_op(UNO_OP_SYMLINK, "t", "sl"), 0);
    CHECK(!host_exists(".wh.sl"), "whiteout dropped by symlink");
    EQ(path_op(UNO_OP_WHITEOUT, "rn", 0, 0), 0);
    EQ(two_op(UNO_OP_RENAME, "gone", "rn"), 0);
    CHECK(!host_exists(".wh.rn") && host_exists("rn"), "whiteout dropped by rename");
    st = stat_of("rn", &r);
    CHECK(r == sizeof st && S_ISREG(st.mode) && st.flags == 0, "file renamed over a whiteout");
    /* A directory moved over a whiteout hides the deleted lower one, as mkdir's does. */
    EQ(path_op(UNO_OP_WHITEOUT, "rd", 0, 0), 0);
    EQ(path_op(UNO_OP_MKDIR, "newdir", 0, 0755), 0);
    EQ(touch_op("newdir/inside"), 0);
    EQ(two_op(UNO_OP_RENAME, "newdir", "rd"), 0);
    st = stat_of("rd", &r);
    CHECK(r == sizeof st && S_ISDIR(st.mode) && st.flags == UNO_STAT_OPAQUE,
          "directory renamed over a whiteout: flags %u", st.flags);
    CHECK(!host_exists(".wh.rd") && host_exists("rd/inside"), "rename kept the contents");
    EQ(path_op(UNO_OP_MKDIR, "plain2", 0, 0755), 0);
    EQ(two_op(UNO_OP_RENAME, "plain2", "plain3"), 0);
    st = stat_of("plain3", &r);
    EQ(st.flags, 0); /* no whiteout there: not opaque */
    /* A create that fails leaves the whiteout (the lower entry stays hidden). */
    EQ(path_op(UNO_OP_WHITEOUT, "keep", 0, 0), 0);
    EQ(two_op(UNO_OP_RENAME, "missing", "keep"), -ENOENT);
    st = stat_of("keep", &r);
    CHECK(r == sizeof st && st.flags == UNO_STAT_WHITEOUT,
          "failed rename keeps the whiteout (stat = %lld, flags %u)", (long long)r, st.flags);
    EQ(open_op("keep", UNO_O_CREAT | UNO_O_DIRECTORY, 0755) < 0, 1);
    st = stat_of("keep", &r);
    CHECK(r == sizeof st && st.flags == UNO_STAT_WHITEOUT,
          "failed open(O_CREAT) keeps the whiteout (stat = %lld, flags %u)", (long long)r,
          st.flags);

    /* mkdir over a whiteout: an opaque directory; without one: a plain directory. */
    EQ(path_op(UNO_OP_WHITEOUT, "wd", 0, 0), 0);
    EQ(path_op(UNO_OP_MKDIR, "wd", 0, 0755), 0);
    CHECK(!host_exists(".wh.wd") && host_exists("wd/.wh..wh..opq"), "opaque marker");
    st = stat_of("wd", &r);
    EQ(r, sizeof st);
    CHECK(S_ISDIR(st.mode) && st.flags == UNO_STAT_OPAQUE, "stat wd flags %u", st.flags);
    EQ(path_op(UNO_OP_MKDIR, "plain", 0, 0755), 0);
    st = stat_of("plain", &r);
    EQ(st.flags, 0);
    EQ(path_op(UNO_OP_MKDIR, "wd/sub", 0, 0755), 0);
    st = stat_of("wd/sub", &r);
    EQ(st.flags, 0);

    /* getdents: ".wh.x" becomes a whiteout record for x, the opaque marker a record with
     * whiteout 2 and no name; "." and ".." never appear. */
    EQ(path_op(UNO_OP_WHITEOUT, "wd/x", 0, 0), 0);
    EQ(touch_op("wd/y"), 0);
    list_dir("wd", &ok);
    CHECK(ok, "getdents wd well-formed");
    EQ(ndents, 4);
    CHECK(find_dent("x", 1) != NULL, "whiteout record for x");
    CHECK(find_dent("y", 0) && find_dent("y", 0)->type == DT_REG, "file y");
    CHECK(find_dent("sub", 0) && find_dent("sub", 0)->type == DT_DIR, "dir sub");
    CHECK(find_dent("", 2) != NULL, "opaque record");
    CHECK(!find_dent(".", 0) && !find_dent("..", 0), "no . or ..");
    for (int i = 0; i < ndents; i++)
        CHECK(strncmp(dents[i].name, ".wh.", 4), "raw whiteout name %s", dents[i].name);
    list_dir("", &ok);
    CHECK(ok && !find_dent(".", 0) && !find_dent("..", 0), "root: no . or ..");
    CHECK(find_dent("keep", 1) && find_dent("wd", 0), "root lists whiteouts and dirs");
    EQ(h_op(UNO_OP_GETDENTS, 1, 0, 0, 0), -ENOTDIR); /* a file handle: the console */

    /* A directory holding only whiteouts (and the opaque marker) is empty to the guest. */
    EQ(path_op(UNO_OP_MKDIR, "onlywh", 0, 0755), 0);
    EQ(path_op(UNO_OP_WHITEOUT, "onlywh/a", 0, 0), 0);
    EQ(path_op(UNO_OP_WHITEOUT, "onlywh/b", 0, 0), 0);
    EQ(path_op(UNO_OP_UNLINK, "onlywh", 1, 0), 0);
    CHECK(!host_exists("onlywh"), "whiteout-only directory removed");
    EQ(path_op(UNO_OP_UNLINK, "wd/sub", 1, 0), 0);
    EQ(path_op(UNO_OP_UNLINK, "wd", 1, 0), -ENOTEMPTY); /* y is real */
    CHECK(host_exists("wd/.wh.x") && host_exists("wd/.wh..wh..opq"),
          "a refused rmdir leaves the whiteouts");
    EQ(path_op(UNO_OP_UNLINK, "wd/y", 0, 0), 0);
    EQ(path_op(UNO_OP_UNLINK, "wd", 1, 0), 0);
    CHECK(!host_exists("wd"), "opaque directory with whiteouts removed");
    EQ(path_op(UNO_OP_UNLINK, "keep", 0, 0), -ENOENT); /* whiteouts are not entries */
}

/* Host-made symlinks inside the layer that point outside it: nothing goes through them. */
static void test_confinement(void)
{
    char p[512], q[512], buf[256];
    snprintf(q, sizeof q, "%s/secret", outside);
    hpath(p, sizeof p, "etc");
    CHECK(symlink("/etc", p) == 0, "plant etc -> /etc");
    hpath(p, sizeof p, "out");
    CHECK(symlink(outside, p) == 0, "plant out -> outside");
    hpath(p, sizeof p, "out_rel");
    CHECK(symlink("../outside", p) == 0, "plant out_rel -> ../outside");
    hpath(p, sizeof p, "secret_link");
    CHECK(symlink(q, p) == 0, "plant secret_link -> outside/secret");
    hpath(p, sizeof p, "dangling");
    snprintf(buf, sizeof buf, "%s/created", outside);
    CHECK(symlink(buf, p) == 0, "plant dangling -> outside/created");
    EQ(path_op(UNO_OP_MKDIR, "sub", 0, 0755), 0);
    hpath(p, sizeof p, "sub/up");
    CHECK(symlink("..", p) == 0, "plant sub/up -> ..");
    hpath(p, sizeof p, "sub/up2");
    CHECK(symlink("../../outside", p) == 0, "plant sub/up2 -> ../../outside");

    /* Read-only probes through /etc. */
    EQ(open_op("etc/passwd", 0, 0), -ELOOP);
    EQ(open_op("etc", 0, 0), -ELOOP);
    CHECK(open_op("etc", UNO_O_DIRECTORY, 0) < 0, "opendir through etc");
    int64_t r;
    stat_of("etc/passwd", &r);
    EQ(r, -ELOOP);
    stat_of("etc/hostname", &r);
    EQ(r, -ELOOP);
    struct uno_stat st = stat_of("etc", &r);
    CHECK(r == sizeof st && S_ISLNK(st.mode), "stat etc is the link itself");
    EQ(path_op(UNO_OP_READLINK, "etc/passwd", 0, 0), -ELOOP);

    /* Every operation through links to "outside" fails; nothing there changes. */
    static const char *const via[] = {"out", "out_rel", "sub/up/out", "sub/up2"};
    for (size_t i = 0; i < sizeof via / sizeof via[0]; i++) {
        char a[128], b[128];
        snprintf(a, sizeof a, "%s/secret", via[i]);
        snprintf(b, sizeof b, "%s/created", via[i]);
        CHECK(open_op(a, 0, 0) < 0, "open %s", a);
        CHECK(open_op(a, 2 | UNO_O_TRUNC, 0) < 0, "open trunc %s", a);
        CHECK(open_op(b, UNO_O_CREAT | 1, 0644) < 0, "create %s", b);
        CHECK(open_op(via[i], UNO_O_DIRECTORY, 0) < 0, "opendir %s", via[i]);
        stat_of(a, &r);
        CHECK(r < 0, "stat %s = %lld", a, (long long)r);
        CHECK(path_op(UNO_OP_MKDIR, b, 0, 0755) < 0, "mkdir %s", b);
        CHECK(path_op(UNO_OP_UNLINK, a, 0, 0) < 0, "unlink %s", a);
        CHECK(path_op(UNO_OP_UNLINK, via[i], 1, 0) < 0, "rmdir %s", via[i]);
        CHECK(path_op(UNO_OP_WHITEOUT, a, 0, 0) < 0, "whiteout %s", a);
        CHECK(path_op(UNO_OP_CHMOD, a, 0, 0777) < 0, "chmod %s", a);
        CHECK(path_op(UNO_OP_UTIMENS, a, 0, 0) < 0, "utimens %s", a);
        CHECK(path_op(UNO_OP_READLINK, a, 0, 0) < 0, "readlink %s", a);
        CHECK(two_op(UNO_OP_RENAME, a, "stolen") < 0, "rename %s away", a);
        CHECK(two_op(UNO_OP_RENAME, "sub", b) < 0, "rename into %s", b);
        CHECK(two_op(UNO_OP_SYMLINK, "x", b) < 0, "symlink at %s", b);
    }
    /* Operations on the final component do not follow it either. */
    EQ(open_op("secret_link", 0, 0), -ELOOP);
    EQ(open_op("secret_link", 2 | UNO_O_TRUNC, 0), -ELOOP);
    EQ(open_op("dangling", UNO_O_CREAT | 1, 0644), -ELOOP);
    EQ(open_op("dangling", UNO_O_CREAT | UNO_O_EXCL | 1, 0644), -EEXIST);
    CHECK(path_op(UNO_OP_CHMOD, "secret_link", 0, 0777) < 0, "chmod through a symlink");
    CHECK(path_op(UNO_OP_CHMOD, "out", 0, 0777) < 0, "chmod a symlink to a directory");
    EQ(path_op(UNO_OP_UTIMENS, "secret_link", 0, 0), 0); /* the link's own times */
    EQ(path_op(UNO_OP_MKDIR, "out", 0, 0755), -EEXIST);
    EQ(path_op(UNO_OP_WHITEOUT, "out", 0, 0), 0); /* .wh.out, a new file in the layer */
    EQ(two_op(UNO_OP_SYMLINK, "x", "dangling"), -EEXIST);
    EQ(two_op(UNO_OP_RENAME, "secret_link", "renamed_link"), 0); /* moves the link only */
    CHECK(host_exists("renamed_link"), "link renamed inside the layer");

    /* Defense in depth: even a request ring_decode would refuse cannot leave the layer. */
    memset(&req, 0, sizeof req);
    req.data = slot;
    req.op = UNO_OP_OPEN;
    strcpy(req.path, "../outside/secret");
    EQ(hostop_exec(&V, &req), -EXDEV);
    strcpy(req.path, q); /* absolute */
    EQ(hostop_exec(&V, &req), -EXDEV);
    req.arg[0] = UNO_O_CREAT | 1;
    strcpy(req.path, "../outside/created");
    EQ(hostop_exec(&V, &req), -EXDEV);
    req.op = UNO_OP_MKDIR;
    strcpy(req.path, "../outside/d/x");
    EQ(hostop_exec(&V, &req), -EXDEV);
    req.op = UNO_OP_STAT;
    strcpy(req.path, "../outside/secret");
    EQ(hostop_exec(&V, &req), -EXDEV);
    req.op = UNO_OP_RENAME;
    strcpy(req.path, "../outside/secret");
    strcpy(req.path2, "stolen");
    EQ(hostop_exec(&V, &req), -EXDEV);

    /* Nothing outside the layer changed or appeared. */
    struct stat now;
    CHECK(lstat(q, &now) == 0 && now.st_mode == secret_st0.st_mode &&
              now.st_size == secret_st0.st_size && now.st_ino == secret_st0.st_ino &&
              now.st_mtim.tv_sec == secret_st0.st_mtim.tv_sec &&
              now.st_mtim.tv_nsec == secret_st0.st_mtim.tv_nsec &&
              now.st_ctim.tv_sec == secret_st0.st_ctim.tv_sec &&
              now.st_ctim.tv_nsec == secret_st0.st_ctim.tv_nsec,
          "outside/secret untouched (mode %o)", now.st_mode);
    CHECK(host_read(q, buf, sizeof buf) == (long)strlen(secret_text) &&
              !strcmp(buf, secret_text),
          "outside/secret content");
    DIR *d = opendir(outside);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            CHECK(!strcmp(e->d_name, "secret") && ++n, "unexpected outside/%s", e->d_name);
    if (d)
        closedir(d);
    EQ(n, 1);
    d = opendir(base);
    while (d && (e = readdir(d)))
        CHECK(!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
                  !strcmp(e->d_name, "upper") || !strcmp(e->d_name, "outside") ||
                  !strcmp(e->d_name, "console"),
              "unexpected %s/%s", base, e->d_name);
    if (d)
        closedir(d);
}

static void test_handles(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < UNO_MAX_HANDLES + 64 && rl.rlim_max >= UNO_MAX_HANDLES + 64) {
        rl.rlim_cur = UNO_MAX_HANDLES + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < UNO_MAX_HANDLES + 64) {
        fprintf(stderr, "SKIP handle exhaustion: RLIMIT_NOFILE %llu\n",
                (unsigned long long)rl.rlim_cur);
        return;
    }
    int fds0 = count_fds();
    static int64_t hs[UNO_MAX_HANDLES];
    int n = 0;
    int64_t r;
    while ((r = open_op("", 0, 0)) >= 0 && n < UNO_MAX_HANDLES)
        hs[n++] = r;
    EQ(r, -EMFILE);
    EQ(n, UNO_MAX_HANDLES - 3);
    EQ(count_fds(), fds0 + n);
    for (int i = 0; i < 10; i++)
        EQ(open_op("", 0, 0), -EMFILE);
    EQ(count_fds(), fds0 + n); /* the refused opens closed their host fds */
    bool unique = true;
    for (int i = 0; i < n; i++)
        unique &= hs[i] >= 3 && hs[i] < UNO_MAX_HANDLES && (i == 0 || hs[i] > hs[i - 1]);
    CHECK(unique, "handles distinct and in range");
    /* A freed handle is reused. */
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)hs[100], 0, 0, 0), 0);
    EQ(open_op("", 0, 0), hs[100]);
    for (int i = 0; i < n; i++)
        EQ(h_op(UNO_OP_CLOSE, (uint32_t)hs[i], 0, 0, 0), 0);
    EQ(count_fds(), fds0);
}

/* ---------------------------------------------------------------- ring_serve */
static struct uno_ring *ring;
static uint8_t *ring_data;
static uint32_t g_tail, g_cqh; /* the guest's own counters */

static void ring_reset(uint32_t start)
{
    memset(V.mem.ram + UNO_GPA_RING, 0, UNO_RING_BYTES);
    ring = (struct uno_ring *)(V.mem.ram + UNO_GPA_RING);
    ring_data = V.mem.ram + UNO_RING_DATA_GPA;
    V.sq_head = V.cq_tail = start;
    ring->sq_head = ring->cq_tail = ring->sq_tail = ring->cq_head = start;
    g_tail = g_cqh = start;
    V.ring_bad = 0;
}

/* Guest side: fill the slot, then the SQE, then publish the tail. */
static void guest_queue(uint16_t op, uint32_t handle, int64_t off, const void *data,
                        uint64_t dlen, uint64_t len, uint64_t a0, uint64_t a1, uint64_t ud)
{
    uint32_t idx = g_tail & (UNO_RING_ENTRIES - 1);
    if (dlen)
        memcpy(ring_data + (uint64_t)idx * UNO_RING_SLOT, data, dlen);
    struct uno_sqe *s = &ring->sq[idx];
    memset(s, 0, sizeof *s);
    s->op = op;
    s->handle = handle;
    s->off = off;
    s->len = len;
    s->arg[0] = a0;
    s->arg[1] = a1;
    s->user_data = ud;
    g_tail++;
}

static void guest_publish(void)
{
    __atomic_store_n(&ring->sq_tail, g_tail, __ATOMIC_RELEASE);
}

/* Reap one completion; false if none. */
static bool guest_reap(struct uno_cqe *out)
{
    if (__atomic_load_n(&ring->cq_tail, __ATOMIC_ACQUIRE) == g_cqh)
        return false;
    *out = ring->cq[g_cqh & (UNO_RING_CQ_ENTRIES - 1)];
    g_cqh++;
    __atomic_store_n(&ring->cq_head, g_cqh, __ATOMIC_RELEASE);
    return true;
}

static uint8_t *guest_slot(uint32_t seq)
{
    return ring_data + (uint64_t)(seq & (UNO_RING_ENTRIES - 1)) * UNO_RING_SLOT;
}

static void test_ring_serve(void)
{
    struct uno_cqe c;
    ring_reset(0);

    /* Nothing queued: nothing happens. */
    ring_serve(&V, false);
    EQ(ring->sq_head, 0);
    EQ(ring->cq_tail, 0);

    /* One open, then a batch that uses the handle. */
    guest_queue(UNO_OP_OPEN, 0, 0, "ring.txt", 9, 9, UNO_O_CREAT | 2, 0644, 100);
    guest_publish();
    ring_serve(&V, false);
    EQ(ring->sq_head, 1);
    EQ(ring->cq_tail, 1);
    CHECK(guest_reap(&c) && c.user_data == 100 && c.res >= 3, "open cqe res %lld",
          (long long)c.res);
    uint32_t h = (uint32_t)c.res;
    uint32_t seq_read;
    guest_queue(UNO_OP_WRITE, h, -1, "ring data", 9, 9, 0, 0, 101);
    guest_queue(UNO_OP_LSEEK, h, 0, NULL, 0, 0, SEEK_SET, 0, 102);
    seq_read = g_tail;
    guest_queue(UNO_OP_READ, h, -1, NULL, 0, 4, 0, 0, 103);
    guest_queue(UNO_OP_FSTAT, h, 0, NULL, 0, 0, 0, 0, 104);
    guest_queue(99, 0, 0, NULL, 0, 0, 0, 0, 105);
    guest_queue(UNO_OP_NOP, 0, 0, NULL, 0, 0, 0, 0, 106);
    guest_queue(UNO_OP_READ, h, -1, NULL, 0, UNO_RING_SLOT + 1, 0, 0, 107);
    guest_queue(UNO_OP_STAT, 0, 0, "../etc", 7, 7, 0, 0, 108);
    guest_queue(UNO_OP_STAT, 0, 0, "unterminated", 12, 12, 0, 0, 109);
    guest_queue(UNO_OP_CLOSE, h, 0, NULL, 0, 0, 0, 0, 110);
    guest_queue(UNO_OP_CLOSE, h, 0, NULL, 0, 0, 0, 0, 111);
    guest_queue(UNO_OP_READ, 0xffffffffu, -1, NULL, 0, 1, 0, 0, 112);
    guest_publish();
    ring_serve(&V, false);
    EQ(ring->sq_head, 13);
    EQ(ring->cq_tail, 13);
    static const int64_t want[] = {9, 0, 4, sizeof(struct uno_stat), -ENOSYS, 0, -EINVAL,
                                   -EINVAL, -ENAMETOOLONG, 0, -EBADF, -EBADF};
    for (int i = 0; i < 12; i++) {
        bool got = guest_reap(&c);
        CHECK(got && c.user_data == 101u + (unsigned)i && c.res == want[i],
              "cqe %d: user_data %llu res %lld, want %lld", i, (unsigned long long)c.user_data,
              (long long)c.res, (long long)want[i]);
    }
    CHECK(!memcmp(guest_slot(seq_read), "ring", 4), "READ landed in its slot");
    CHECK(!guest_reap(&c), "no extra completion");

    /* Wrap-around of the 32-bit counters and of both queues. */
    ring_reset(0xffffffd0u);
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 50; i++)
            guest_queue(UNO_OP_NOP, 0, 0, NULL, 0, 0, 0, 0, 1000u + (unsigned)(round * 50 + i));
        guest_publish();
        ring_serve(&V, false);
        int ok = 0;
        for (int i = 0; i < 50; i++)
            ok += guest_reap(&c) && c.user_data == 1000u + (unsigned)(round * 50 + i) &&
                  c.res == 0;
        EQ(ok, 50);
    }
    EQ(ring->sq_head, 0xffffffd0u + 250);
    EQ(ring->cq_tail, 0xffffffd0u + 250);
    EQ(V.ring_bad, 0);

    /* A full SQ (ENTRIES) is served; a full CQ stops the host until the guest reaps. */
    ring_reset(7);
    for (unsigned i = 0; i < UNO_RING_ENTRIES; i++)
        guest_queue(UNO_OP_NOP, 0, 0, NULL, 0, 0, 0, 0, i);
    guest_publish();
    ring_serve(&V, false);
    EQ(ring->sq_head, 7 + UNO_RING_ENTRIES);
    for (unsigned i = 0; i < UNO_RING_ENTRIES; i++)
        guest_queue(UNO_OP_NOP, 0, 0, NULL, 0, 0, 0, 0, 64 + i);
    guest_publish();
    ring_serve(&V, false);
    EQ(ring->cq_tail - ring->cq_head, UNO_RING_CQ_ENTRIES); /* CQ now full */
    guest_queue(UNO_OP_NOP, 0, 0, NULL, 0, 0, 0, 0, 500);
    guest_publish();
    ring_serve(&V, false);
    EQ(ring->sq_head, 7 + UNO_RING_CQ_ENTRIES); /* not served: no room for its CQE */
    CHECK(guest_reap(&c) && c.user_data == 0, "oldest CQE intact");
    ring_serve(&V, false);
    EQ(ring->sq_head, 7 + UNO_RING_CQ_ENTRIES + 1);
    unsigned okc = 0;
    while (guest_reap(&c))
        okc += c.user_data == okc + 1 || (okc == UNO_RING_CQ_ENTRIES - 1 && c.user_data == 500);
    EQ(okc, UNO_RING_CQ_ENTRIES);

    /* Hostile: sq_tail far ahead of sq_head, or behind it. Nothing runs, nothing breaks. */
    ring_reset(1000);
    for (int i = 0; i < 10; i++)
        guest_queue(UNO_OP_NOP, 0, 0, NULL, 0, 0, 0, 0, 1);
    static const uint32_t bad_tails[] = {1000 + UNO_RING_ENTRIES + 1, 1000 + 100000,
                                         1000 - 1, 0, 0x80000000u, 999 + 0x80000000u};
    for (size_t i = 0; i < sizeof bad_tails / sizeof bad_tails[0]; i++) {
        __atomic_store_n(&ring->sq_tail, bad_tails[i], __ATOMIC_RELEASE);
        ring_serve(&V, false);
        CHECK(ring->sq_head == 1000 && ring->cq_tail == 1000 && V.sq_head == 1000,
              "corrupt tail %u: head %u", bad_tails[i], ring->sq_head);
    }
    CHECK(V.ring_bad >= 1, "corruption counted");
    /* Exactly ENTRIES ahead is legal (a full queue). */
    __atomic_store_n(&ring->sq_tail, 1000 + UNO_RING_ENTRIES, __ATOMIC_RELEASE);
    ring_serve(&V, false);
    EQ(ring->sq_head, 1000 + UNO_RING_ENTRIES);

    /* Hostile: cq_head ahead of cq_tail (or far behind). The host must not treat the CQ as
     * having room and overwrite completions the guest has not reaped. */
    ring_reset(50);
    for (unsigned i = 0; i < UNO_RING_CQ_ENTRIES; i++) {
        ring->cq[i].user_data = 0xc0ffee;
        ring->cq[i].res = 0x5a5a;
    }
    static const uint32_t bad_heads[] = {51, 50 + 5, 50 + UNO_RING_CQ_ENTRIES * 3,
                                         50 - UNO_RING_CQ_ENTRIES, 50 - 1000, 0x80000000u};
    guest_queue(UNO_OP_NOP, 0, 0, NULL, 0, 0, 0, 0, 77);
    guest_publish();
    for (size_t i = 0; i < sizeof bad_heads / sizeof bad_heads[0]; i++) {
        __atomic_store_n(&ring->cq_head, bad_heads[i], __ATOMIC_RELEASE);
        ring_serve(&V, false);
        CHECK(ring->sq_head == 50 && ring->cq_tail == 50, "bogus cq_head %u: served",
              bad_heads[i]);
    }
    bool intact = true;
    for (unsigned i = 0; i < UNO_RING_CQ_ENTRIES; i++)
        intact &= ring->cq[i].user_data == 0xc0ffee && ring->cq[i].res == 0x5a5a;
    CHECK(intact, "no CQE written while cq_head is bogus");
    /* cq_head exactly CQ_ENTRIES behind = full: also nothing. Then sane again: served. */
    __atomic_store_n(&ring->cq_head, 50 - UNO_RING_CQ_ENTRIES, __ATOMIC_RELEASE);
    ring_serve(&V, false);
    EQ(ring->sq_head, 50);
    __atomic_store_n(&ring->cq_head, 50, __ATOMIC_RELEASE);
    ring_serve(&V, false);
    EQ(ring->sq_head, 51);
    CHECK(guest_reap(&c) && c.user_data == 77, "served after cq_head repaired");

    /* The last slot's data ends at the end of guest RAM: full-size I/O there stays inside
     * (RAM here is exactly as large as the ring, so ASan would catch an overrun). */
    ring_reset(UNO_RING_ENTRIES - 1);
    int64_t hh = open_op("ring.txt", 2, 0);
    CHECK(hh >= 3, "reopen ring.txt");
    memset(slot, 'z', UNO_RING_SLOT);
    struct uno_sqe ws = {.op = UNO_OP_WRITE, .handle = (uint32_t)hh, .off = 0,
                         .len = UNO_RING_SLOT};
    EQ(ring_decode(&ws, slot, &req), 0);
    EQ(hostop_exec(&V, &req), UNO_RING_SLOT);
    guest_queue(UNO_OP_READ, (uint32_t)hh, 0, NULL, 0, UNO_RING_SLOT, 0, 0, 1);
    guest_queue(UNO_OP_GETDENTS, (uint32_t)hh, 0, NULL, 0, UNO_RING_SLOT, 0, 0, 2);
    guest_queue(UNO_OP_READLINK, 0, 0, "long_link", 10, 10, 0, 0, 3);
    guest_publish();
    ring_serve(&V, false);
    CHECK(guest_reap(&c) && c.res == UNO_RING_SLOT, "full-slot read in the last slot");
    CHECK(ring_data[(uint64_t)UNO_RING_ENTRIES * UNO_RING_SLOT - 1] == 'z', "last byte");
    CHECK(guest_reap(&c) && c.res == -ENOTDIR, "getdents on a file");
    CHECK(guest_reap(&c) && c.res == 4095, "readlink into slot 1");
    h_op(UNO_OP_CLOSE, (uint32_t)hh, 0, 0, 0);
}

/* The I/O thread: serves without a doorbell while busy, asks for one (NEED_WAKEUP) when it
 * goes to sleep, and wakes on it. Guest side: ring the doorbell only when asked. */
static bool wait_for(volatile uint32_t *p, uint32_t mask, uint32_t want)
{
    for (int i = 0; i < 5000; i++) {
        if ((__atomic_load_n(p, __ATOMIC_ACQUIRE) & mask) == want)
            return true;
        usleep(1000);
    }
    return false;
}

static void test_io_thread(void)
{
    struct uno_cqe c;
    ring_reset(0);
    V.doorbell_fd = eventfd(0, EFD_CLOEXEC);
    V.stopping = 0;
    pthread_mutex_destroy(&V.ring_lock); /* ring_start_io_thread initializes it */
    if (V.doorbell_fd < 0 || ring_start_io_thread(&V) < 0) {
        CHECK(0, "start the I/O thread");
        pthread_mutex_init(&V.ring_lock, NULL);
        return;
    }
    CHECK(wait_for(&ring->host_flags, UNO_RING_NEED_WAKEUP, UNO_RING_NEED_WAKEUP),
          "idle I/O thread asks for a doorbell");
    unsigned done = 0, rung = 0;
    for (unsigned i = 0; i < 300; i++) {
        guest_queue(UNO_OP_NOP, 0, 0, NULL, 0, 0, 0, 0, 9000 + i);
        guest_publish();
        if (__atomic_load_n(&ring->host_flags, __ATOMIC_SEQ_CST) & UNO_RING_NEED_WAKEUP) {
            uint64_t one = 1;
            rung += write(V.doorbell_fd, &one, sizeof one) == sizeof one;
        }
        if (!wait_for(&ring->cq_tail, ~0u, g_tail))
            break;
        while (guest_reap(&c))
            done += c.user_data == 9000 + done && c.res == 0;
        if (i % 100 == 99)
            usleep(20000); /* let it fall asleep now and then */
    }
    EQ(done, 300);
    CHECK(rung >= 1, "doorbell rung %u times", rung);
    ring_stop_io_thread(&V);
    close(V.doorbell_fd);
    V.doorbell_fd = -1;
}

/* ---------------------------------------------------------------- fuzz seeds */
/* ring_fuzz input: byte 0 mode (bit 0: through ring_serve; bit 1: skew sq_tail by byte 1;
 * bit 2: skew cq_head by byte 2), bytes 1-2 the skews (int8), then records: a struct
 * uno_sqe image, a 16-bit little-endian data length, the data. See ring_fuzz.c. */
static uint8_t seed[65536];
static size_t seed_len;

static void seed_begin(uint8_t mode)
{
    seed_len = 0;
    seed[seed_len++] = mode;
    seed[seed_len++] = 0;
    seed[seed_len++] = 0;
}

static void seed_rec(uint16_t op, uint32_t handle, int64_t off, uint64_t len, uint64_t a0,
                     uint64_t a1, const void *data, size_t dlen)
{
    struct uno_sqe s = {.op = op, .handle = handle, .off = off, .len = len,
                        .arg = {a0, a1}, .user_data = seed_len};
    memcpy(seed + seed_len, &s, sizeof s);
    seed_len += sizeof s;
    seed[seed_len++] = (uint8_t)dlen;
    seed[seed_len++] = (uint8_t)(dlen >> 8);
    if (dlen)
        memcpy(seed + seed_len, data, dlen);
    seed_len += dlen;
}

static void seed_path(uint16_t op, const char *path, uint64_t a0, uint64_t a1)
{
    seed_rec(op, 0, 0, strlen(path) + 1, a0, a1, path, strlen(path) + 1);
}

static void seed_two(uint16_t op, const char *a, const char *b)
{
    char buf[1024];
    size_t na = strlen(a) + 1, nb = strlen(b) + 1;
    memcpy(buf, a, na);
    memcpy(buf + na, b, nb);
    seed_rec(op, 0, 0, na + nb, 0, 0, buf, na + nb);
}

static void seed_write(const char *dir, const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(seed, 1, seed_len, f) != seed_len)
        fatal("write %s", p);
    fclose(f);
}

static void write_seeds(const char *dir)
{
    for (uint8_t mode = 0; mode < 2; mode++) {
        char name[64];
        /* files: handle 3 is the first one a fresh handle table gives out */
        seed_begin(mode);
        seed_path(UNO_OP_OPEN, "f", UNO_O_CREAT | 2, 0644);
        seed_rec(UNO_OP_WRITE, 3, -1, 5, 0, 0, "hello", 5);
        seed_rec(UNO_OP_WRITE, 3, 100, 3, 0, 0, "abc", 3);
        seed_rec(UNO_OP_LSEEK, 3, 0, 0, SEEK_SET, 0, NULL, 0);
        seed_rec(UNO_OP_READ, 3, -1, 5, 0, 0, NULL, 0);
        seed_rec(UNO_OP_READ, 3, 2, 100, 0, 0, NULL, 0);
        seed_rec(UNO_OP_FSTAT, 3, 0, 0, 0, 0, NULL, 0);
        seed_rec(UNO_OP_FTRUNCATE, 3, 2, 0, 0, 0, NULL, 0);
        seed_rec(UNO_OP_FSYNC, 3, 0, 0, 0, 0, NULL, 0);
        seed_rec(UNO_OP_CLOSE, 3, 0, 0, 0, 0, NULL, 0);
        seed_rec(UNO_OP_CLOSE, 3, 0, 0, 0, 0, NULL, 0);
        snprintf(name, sizeof name, "files-%u", mode);
        seed_write(dir, name);

        /* directories and whiteouts */
        seed_begin(mode);
        seed_path(UNO_OP_MKDIR, "d", 0, 0755);
        seed_path(UNO_OP_OPEN, "d/x", UNO_O_CREAT | 1, 0644);
        seed_path(UNO_OP_MKDIR, "d/e", 0, 0755);
        seed_path(UNO_OP_WHITEOUT, "d/w", 0, 0);
        seed_path(UNO_OP_WHITEOUT, "o", 0, 0);
        seed_path(UNO_OP_MKDIR, "o", 0, 0755);
        seed_path(UNO_OP_STAT, "o", 0, 0);
        seed_path(UNO_OP_OPEN, "d", UNO_O_DIRECTORY, 0);
        seed_rec(UNO_OP_GETDENTS, 4, 0, UNO_RING_SLOT, 0, 0, NULL, 0);
        seed_rec(UNO_OP_GETDENTS, 4, 0, UNO_RING_SLOT, 0, 0, NULL, 0);
        seed_path(UNO_OP_STAT, "d/w", 0, 0);
        seed_path(UNO_OP_UNLINK, "d/x", 0, 0);
        seed_path(UNO_OP_UNLINK, "d/e", 1, 0);
        seed_path(UNO_OP_UNLINK, "d", 1, 0);
        seed_path(UNO_OP_STAT, "", 0, 0);
        snprintf(name, sizeof name, "dirs-%u", mode);
        seed_write(dir, name);

        /* names: rename, symlink, readlink, chmod, utimens */
        seed_begin(mode);
        seed_path(UNO_OP_OPEN, "a", UNO_O_CREAT | 1, 0644);
        seed_two(UNO_OP_RENAME, "a", "b");
        seed_two(UNO_OP_SYMLINK, "/abs/target", "l");
        seed_two(UNO_OP_SYMLINK, "../rel", "l2");
        seed_path(UNO_OP_READLINK, "l", 0, 0);
        seed_path(UNO_OP_CHMOD, "b", 0, 0600);
        seed_path(UNO_OP_CHMOD, "l", 0, 0777);
        seed_path(UNO_OP_UTIMENS, "b", 5000000000ull, (uint64_t)-1);
        seed_path(UNO_OP_STAT, "l", 0, 0);
        seed_path(UNO_OP_OPEN, "l", 0, 0);
        snprintf(name, sizeof name, "names-%u", mode);
        seed_write(dir, name);

        /* escapes through the links the fuzz harness plants */
        seed_begin(mode);
        seed_path(UNO_OP_OPEN, "esc/canary", 2, 0);
        seed_path(UNO_OP_OPEN, "esc_rel/new", UNO_O_CREAT | 1, 0644);
        seed_path(UNO_OP_OPEN, "canary_link", 2 | UNO_O_TRUNC, 0);
        seed_path(UNO_OP_STAT, "esc/canary", 0, 0);
        seed_path(UNO_OP_CHMOD, "canary_link", 0, 0777);
        seed_path(UNO_OP_CHMOD, "esc/canary", 0, 0777);
        seed_path(UNO_OP_UTIMENS, "canary_link", 0, 0);
        seed_path(UNO_OP_UTIMENS, "esc/canary", 0, 0);
        seed_two(UNO_OP_RENAME, "esc/canary", "x");
        seed_two(UNO_OP_RENAME, "canary_link", "esc/y");
        seed_path(UNO_OP_MKDIR, "esc_rel/d", 0, 0755);
        seed_path(UNO_OP_UNLINK, "esc/canary", 0, 0);
        seed_path(UNO_OP_WHITEOUT, "esc/canary", 0, 0);
        seed_two(UNO_OP_SYMLINK, "x", "esc/z");
        seed_path(UNO_OP_READLINK, "esc/canary", 0, 0);
        seed_path(UNO_OP_OPEN, "esc", UNO_O_DIRECTORY, 0);
        snprintf(name, sizeof name, "escape-%u", mode);
        seed_write(dir, name);

        /* malformed */
        seed_begin(mode);
        seed_rec(UNO_OP_MAX, 0, 0, 0, 0, 0, NULL, 0);
        seed_rec(UNO_OP_READ, 0xffffffffu, -1, 1, 0, 0, NULL, 0);
        seed_rec(UNO_OP_READ, 3, -1, UNO_RING_SLOT + 1, 0, 0, NULL, 0);
        seed_rec(UNO_OP_OPEN, 0, 0, 3, 0, 0, "abc", 3);
        seed_path(UNO_OP_STAT, "../x", 0, 0);
        seed_path(UNO_OP_STAT, ".wh.x", 0, 0);
        seed_rec(UNO_OP_RENAME, 0, 0, 2, 0, 0, "a", 2);
        seed_rec(UNO_OP_SYMLINK, 0, 0, 3, 0, 0, "\0l", 3);
        snprintf(name, sizeof name, "bad-%u", mode);
        seed_write(dir, name);
    }
    /* ring counters skewed */
    seed_begin(1 | 2 | 4);
    seed[1] = 100;
    seed[2] = (uint8_t)-3;
    seed_rec(UNO_OP_NOP, 0, 0, 0, 0, 0, NULL, 0);
    seed_path(UNO_OP_MKDIR, "s", 0, 0755);
    seed_write(dir, "skew");
}

/* The file-system breadth operations: fallocate's modes and ranges, statfs and syncfs of the
 * layer, memfd names, eventfd arguments. */
static void test_breadth_ops(void)
{
    int64_t h = open_op("fa", UNO_O_CREAT | 2, 0644);
    CHECK(h >= 3, "open fa = %lld", (long long)h);
    struct uno_sqe fa = {.op = UNO_OP_FALLOCATE, .handle = (uint32_t)h, .arg = {0, 0, 8192}};
    EQ(submit(&fa, NULL, 0), 0);
    struct stat st;
    char p[512];
    hpath(p, sizeof p, "fa");
    CHECK(stat(p, &st) == 0 && st.st_size == 8192, "fallocate grew the file");
    fa.arg[0] = UNO_FALLOC_KEEP_SIZE;
    fa.arg[1] = 16384;
    EQ(submit(&fa, NULL, 0), 0);
    CHECK(stat(p, &st) == 0 && st.st_size == 8192, "KEEP_SIZE kept the size");
    fa.arg[0] = 2; /* FALLOC_FL_PUNCH_HOLE: not offered */
    EQ(submit(&fa, NULL, 0), -EOPNOTSUPP);
    fa.arg[0] = 0;
    fa.arg[2] = 0;
    EQ(submit(&fa, NULL, 0), -EINVAL);
    fa.arg[1] = (uint64_t)-1;
    fa.arg[2] = 10;
    EQ(submit(&fa, NULL, 0), -EINVAL);
    fa.arg[1] = (uint64_t)INT64_MAX;
    EQ(submit(&fa, NULL, 0), -EFBIG);
    fa.handle = UNO_MAX_HANDLES;
    EQ(submit(&fa, NULL, 0), -EBADF);
    fa.handle = 900; /* in range, not open */
    fa.arg[1] = 0;
    EQ(submit(&fa, NULL, 0), -EBADF);
    EQ(h_op(UNO_OP_FSYNC, (uint32_t)h, 0, 0, UNO_FSYNC_DATA), 0);
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)h, 0, 0, 0), 0);

    struct uno_sqe sf = {.op = UNO_OP_STATFS, .len = sizeof(struct uno_statfs)};
    EQ(submit(&sf, NULL, 0), sizeof(struct uno_statfs));
    struct uno_statfs u;
    memcpy(&u, slot, sizeof u);
    CHECK(u.bsize > 0 && u.bfree <= u.blocks, "statfs: bsize %llu", (unsigned long long)u.bsize);
    sf.len = 8;
    EQ(submit(&sf, NULL, 0), -EINVAL);
    struct uno_sqe sy = {.op = UNO_OP_SYNCFS};
    EQ(submit(&sy, NULL, 0), 0);

    struct uno_sqe mf = {.op = UNO_OP_MEMFD, .len = 4};
    int64_t m = submit(&mf, "abc", 4);
    CHECK(m >= 3 && m < UNO_MAX_HANDLES, "memfd handle %lld", (long long)m);
    EQ(write_op((uint32_t)m, -1, "data"), 4);
    EQ(h_op(UNO_OP_READ, (uint32_t)m, 0, 10, 0), 4);
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)m, 0, 0, 0), 0);
    mf.len = 3; /* no NUL within the data */
    EQ(submit(&mf, "abc", 3), -EINVAL);
    static char name[300];
    memset(name, 'n', 299);
    mf.len = 300;
    EQ(submit(&mf, name, 300), -EINVAL);
    mf.len = 4;
    mf.arg[0] = 0x4; /* MFD_HUGETLB */
    EQ(submit(&mf, "abc", 4), -EINVAL);

    struct uno_sqe ev = {.op = UNO_OP_EVENTFD, .arg = {3, UNO_EFD_SEMAPHORE}};
    int64_t e = submit(&ev, NULL, 0);
    CHECK(e >= 3 && e < UNO_MAX_HANDLES, "eventfd handle %lld", (long long)e);
    EQ(h_op(UNO_OP_READ, (uint32_t)e, -1, 8, 0), 8);
    uint64_t v;
    memcpy(&v, slot, 8);
    EQ(v, 1);
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)e, 0, 0, 0), 0);
    ev.arg[0] = (uint64_t)UINT32_MAX + 1;
    EQ(submit(&ev, NULL, 0), -EINVAL);
    ev.arg[0] = 0;
    ev.arg[1] = 2;
    EQ(submit(&ev, NULL, 0), -EINVAL);
}

/* ---------------------------------------------------------------- sockets (net.c) */
static int64_t sock_op(uint32_t h, uint64_t what, uint64_t a1, uint64_t a2, const void *data,
                       size_t dlen, uint64_t len)
{
    struct uno_sqe sqe = {.op = UNO_OP_SOCK, .handle = h, .len = len, .arg = {what, a1, a2}};
    return submit(&sqe, data, dlen);
}

/* A UNO_OP_SENDMSG/RECVMSG whose one segment is `n` bytes of guest RAM at `gpa`. */
static int64_t msg_op(uint16_t op, uint32_t h, uint64_t gpa, uint64_t n, uint32_t niov,
                      uint32_t namelen)
{
    uint8_t buf[512] = {0};
    struct uno_msg m = {.flags = 0, .namelen = namelen, .niov = niov};
    memcpy(buf, &m, sizeof m);
    struct uno_iov iov = {gpa, n};
    memcpy(buf + sizeof m + namelen, &iov, sizeof iov);
    size_t len = sizeof m + namelen + (niov ? sizeof iov : 0);
    struct uno_sqe sqe = {.op = op, .handle = h, .len = niov > 1 ? sizeof buf : len};
    return submit(&sqe, buf, sizeof buf);
}

static void test_sockets(void)
{
    EQ(net_init(&V), 0);
    int fds0 = count_fds();

    struct uno_sqe so = {.op = UNO_OP_SOCKET, .arg = {AF_INET, SOCK_STREAM, 0}};
    int64_t l = submit(&so, NULL, 0);
    CHECK(l >= 3 && l < UNO_MAX_HANDLES, "socket = %lld", (long long)l);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    EQ(sock_op((uint32_t)l, UNO_SOCK_BIND, 0, 0, &a, 4, 4), -EINVAL); /* too short */
    EQ(sock_op((uint32_t)l, UNO_SOCK_BIND, 0, 0, &a, sizeof a, sizeof a), 0);
    EQ(sock_op((uint32_t)l, UNO_SOCK_BIND, 0, 0, &a, sizeof a, sizeof a), -EINVAL); /* again */
    EQ(sock_op((uint32_t)l, UNO_SOCK_LISTEN, 8, 0, NULL, 0, 0), 0);
    EQ(sock_op((uint32_t)l, UNO_SOCK_GETNAME, 0, 0, NULL, 0, 4 + sizeof a), 0);
    struct sockaddr_in got;
    memcpy(&got, slot + 4, sizeof got);
    CHECK(got.sin_family == AF_INET && got.sin_port != 0, "an ephemeral port was chosen");
    a.sin_port = got.sin_port;
    char name[64], unix_table[1 << 16];
    snprintf(name, sizeof name, "@uno-%s/t%u", V.net->token, ntohs(got.sin_port));
    host_read("/proc/net/unix", unix_table, sizeof unix_table);
    CHECK(strstr(unix_table, name) != NULL, "the listener is %s", name);

    int64_t l2 = submit(&so, NULL, 0);
    EQ(sock_op((uint32_t)l2, UNO_SOCK_BIND, 0, 0, &a, sizeof a, sizeof a), -EADDRINUSE);
    EQ(sock_op((uint32_t)l2, UNO_SOCK_ACCEPT, 0, 0, NULL, 0, 132), -EINVAL); /* not listening */
    EQ(sock_op((uint32_t)l, UNO_SOCK_ACCEPT, 0, 0, NULL, 0, 132), -EAGAIN);

    int64_t c = submit(&so, NULL, 0);
    EQ(sock_op((uint32_t)c, UNO_SOCK_CONNECT, 0, 0, &a, sizeof a, sizeof a), 0);
    EQ(sock_op((uint32_t)c, UNO_SOCK_CONNECT, 0, 0, &a, sizeof a, sizeof a), -EISCONN);
    int64_t s = sock_op((uint32_t)l, UNO_SOCK_ACCEPT, 0, 0, NULL, 0, 132);
    CHECK(s >= 3 && s < UNO_MAX_HANDLES, "accept = %lld", (long long)s);
    uint32_t alen;
    memcpy(&alen, slot, 4);
    memcpy(&got, slot + 4, sizeof got);
    CHECK(alen == sizeof got && got.sin_addr.s_addr == htonl(INADDR_LOOPBACK),
          "the peer is 127.0.0.1");

    /* Data in place: from one range of guest RAM into another. */
    memcpy(V.mem.ram + 4096, "in place", 8);
    EQ(msg_op(UNO_OP_SENDMSG, (uint32_t)c, 4096, 8, 1, 0), 8);
    EQ(msg_op(UNO_OP_RECVMSG, (uint32_t)s, 8192, 64, 1, 0), 8);
    CHECK(!memcmp(V.mem.ram + 8192, "in place", 8), "received where asked");
    /* Hostile scatter lists and headers. */
    EQ(msg_op(UNO_OP_SENDMSG, (uint32_t)c, V.mem.ram_size - 4, 8, 1, 0), -EFAULT);
    EQ(msg_op(UNO_OP_SENDMSG, (uint32_t)c, UINT64_MAX - 4, 16, 1, 0), -EFAULT);
    EQ(msg_op(UNO_OP_RECVMSG, (uint32_t)s, UNO_GPA_IMAGE, 16, 1, 0), -EFAULT);
    EQ(msg_op(UNO_OP_SENDMSG, (uint32_t)c, 4096, 8, 100000, 0), -EINVAL);
    EQ(msg_op(UNO_OP_SENDMSG, (uint32_t)c, 4096, 8, 1, 200), -EINVAL);
    struct uno_sqe tiny = {.op = UNO_OP_SENDMSG, .handle = (uint32_t)c, .len = 4};
    EQ(submit(&tiny, "abcd", 4), -EINVAL);
    tiny.handle = 900;
    EQ(submit(&tiny, "abcd", 4), -EBADF);
    EQ(sock_op(900, UNO_SOCK_LISTEN, 1, 0, NULL, 0, 0), -EBADF);
    EQ(sock_op(UNO_MAX_HANDLES + 5, UNO_SOCK_LISTEN, 1, 0, NULL, 0, 0), -EBADF);
    EQ(sock_op(1, UNO_SOCK_LISTEN, 1, 0, NULL, 0, 0), -ENOTSOCK); /* the console */
    EQ(sock_op((uint32_t)c, 99, 0, 0, NULL, 0, 0), -EINVAL);
    EQ(sock_op((uint32_t)c, UNO_SOCK_SETOPT, SOL_SOCKET, SO_KEEPALIVE, "\1\0\0\0", 4, 300), -EINVAL);
    EQ(sock_op((uint32_t)c, UNO_SOCK_SHUTDOWN, 7, 0, NULL, 0, 0), -EINVAL);

    /* Bad arguments to socket(). */
    struct uno_sqe bad = {.op = UNO_OP_SOCKET, .arg = {AF_PACKET, SOCK_STREAM, 0}};
    EQ(submit(&bad, NULL, 0), -EAFNOSUPPORT);
    bad.arg[0] = AF_INET;
    bad.arg[1] = SOCK_RAW;
    EQ(submit(&bad, NULL, 0), -ESOCKTNOSUPPORT);
    bad.arg[1] = SOCK_STREAM;
    bad.arg[2] = IPPROTO_UDP;
    EQ(submit(&bad, NULL, 0), -EPROTONOSUPPORT);
    bad.arg[0] = 1ull << 40;
    EQ(submit(&bad, NULL, 0), -EINVAL);

    /* Egress policy. */
    struct sockaddr_in out = {.sin_family = AF_INET};
    out.sin_addr.s_addr = inet_addr("169.254.169.254");
    EQ(net_egress_check(V.net, (struct sockaddr *)&out), -ENETUNREACH);
    out.sin_addr.s_addr = inet_addr("127.0.0.53");
    EQ(net_egress_check(V.net, (struct sockaddr *)&out), -ENETUNREACH);
    out.sin_addr.s_addr = inet_addr("192.0.2.7");
    EQ(net_egress_check(V.net, (struct sockaddr *)&out), 0);
    CHECK(net_is_loopback((struct sockaddr *)&a), "127.0.0.1 is the instance's own");
    CHECK(!net_is_loopback((struct sockaddr *)&out), "192.0.2.7 is not");

    uint32_t hs[] = {(uint32_t)l, (uint32_t)l2, (uint32_t)c, (uint32_t)s};
    for (int i = 0; i < 4; i++)
        EQ(h_op(UNO_OP_CLOSE, hs[i], 0, 0, 0), 0);
    int64_t again = submit(&so, NULL, 0);
    EQ(sock_op((uint32_t)again, UNO_SOCK_BIND, 0, 0, &a, sizeof a, sizeof a), 0); /* port free */
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)again, 0, 0, 0), 0);
    EQ(count_fds(), fds0); /* every host descriptor of the sockets closed */
}

/* ---------------------------------------------------------------- asynchronous sends */
static uint8_t sq_byte(uint64_t i) { return (uint8_t)(i * 7 + (i >> 11)); }

/* Reads what the host socket fd has (non-blocking), checking the byte stream from *at. */
static bool sq_read_checked(int fd, uint64_t *at, bool *eof)
{
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            *eof = true;
        if (n <= 0)
            return true;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != sq_byte(*at + (uint64_t)i))
                return false;
        *at += (uint64_t)n;
    }
}

static int64_t sq_send(uint32_t h, uint64_t from, size_t len)
{
    uint8_t buf[UNO_RING_SLOT];
    for (size_t i = 0; i < len; i++)
        buf[i] = sq_byte(from + i);
    struct uno_sqe sqe = {.op = UNO_OP_SEND_ASYNC, .handle = h, .len = len};
    return submit(&sqe, buf, len);
}

static void test_sendq(void)
{
    int fds0 = count_fds();
    struct uno_ring *ring = gpa_ptr(&V, UNO_GPA_RING, sizeof *ring);
    struct uno_sqe sp = {.op = UNO_OP_SOCKPAIR, .arg = {AF_UNIX, SOCK_STREAM, 0}, .len = 8};
    EQ(submit(&sp, NULL, 0), 8);
    uint32_t h[2];
    memcpy(h, slot, sizeof h);
    CHECK(ring->sock_state[h[0]] & UNO_SOCKST_ASYNC, "a socketpair's end may send asynchronously");
    int peer = V.handles[h[1]].fd;

    /* Hostile submissions. */
    struct uno_sqe bad = {.op = UNO_OP_SEND_ASYNC, .handle = 900, .len = 4};
    EQ(submit(&bad, "abcd", 4), -EBADF);
    bad.handle = 1;
    EQ(submit(&bad, "abcd", 4), -ENOTSOCK);
    bad.handle = UNO_MAX_HANDLES + 3;
    EQ(submit(&bad, "abcd", 4), -EBADF);
    bad.handle = h[0];
    bad.len = UNO_RING_SLOT + 1;
    EQ(submit(&bad, "abcd", 4), -EINVAL);
    struct uno_sqe so = {.op = UNO_OP_SOCKET, .arg = {AF_INET, SOCK_STREAM, 0}};
    int64_t lone = submit(&so, NULL, 0);
    CHECK(!(ring->sock_state[lone] & UNO_SOCKST_ASYNC), "an unconnected socket may not");
    EQ(sq_send((uint32_t)lone, 0, 16), -ENOTCONN);
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)lone, 0, 0, 0), 0);

    /* A reader that does not read: everything is accepted until the queue is long, then the
     * handle's sends must be synchronous, and a synchronous one waits for the queue. */
    uint64_t sent = 0;
    while ((ring->sock_state[h[0]] & UNO_SOCKST_ASYNC) && sent < (64u << 20)) {
        EQ(sq_send(h[0], sent, 16384), 16384);
        sent += 16384;
    }
    CHECK(sent > 256u << 10 && sent < (64u << 20), "the queue took %llu bytes, then said stop",
          (unsigned long long)sent);
    memcpy(V.mem.ram + 4096, "x", 1);
    EQ(msg_op(UNO_OP_SENDMSG, h[0], 4096, 1, 1, 0), -EAGAIN);
    /* The reader reads: each synchronous attempt moves the queue on, in order. */
    uint64_t got = 0;
    bool eof = false, ok = true;
    for (int i = 0; i < 10000 && got < sent; i++) {
        ok = ok && sq_read_checked(peer, &got, &eof);
        msg_op(UNO_OP_SENDMSG, h[0], 4096, 0, 1, 0); /* an empty send: the queue goes first */
    }
    ok = ok && sq_read_checked(peer, &got, &eof);
    CHECK(ok && got == sent, "the reader got %llu of %llu bytes, in order: %s",
          (unsigned long long)got, (unsigned long long)sent, ok ? "yes" : "no");
    CHECK(ring->sock_state[h[0]] & UNO_SOCKST_ASYNC, "with the queue empty, asynchronous again");

    /* Closed with a queue: the bytes still arrive, then the end of file. */
    uint64_t more = sent;
    while (more < sent + (1u << 20)) {
        EQ(sq_send(h[0], more, 16384), 16384);
        more += 16384;
    }
    EQ(h_op(UNO_OP_CLOSE, h[0], 0, 0, 0), 0);
    CHECK(!(ring->sock_state[h[0]] & UNO_SOCKST_ASYNC), "a closed handle's state is cleared");
    for (int i = 0; i < 10000 && !eof; i++) {
        ok = ok && sq_read_checked(peer, &got, &eof);
        sendq_drain_all(&V, 0); /* what the I/O thread does on EPOLLOUT */
    }
    CHECK(ok && eof && got == more, "after close: %llu of %llu bytes, then EOF: %s",
          (unsigned long long)got, (unsigned long long)more, eof ? "yes" : "no");
    EQ(h_op(UNO_OP_CLOSE, h[1], 0, 0, 0), 0);

    /* The peer gone: the asynchronous send fails, the next send reports it. */
    EQ(submit(&sp, NULL, 0), 8);
    memcpy(h, slot, sizeof h);
    EQ(h_op(UNO_OP_CLOSE, h[1], 0, 0, 0), 0);
    EQ(sq_send(h[0], 0, 100), -EPIPE);
    CHECK(!(ring->sock_state[h[0]] & UNO_SOCKST_ASYNC), "a broken connection sends synchronously");
    EQ(msg_op(UNO_OP_SENDMSG, h[0], 4096, 1, 1, 0), -EPIPE);
    EQ(h_op(UNO_OP_CLOSE, h[0], 0, 0, 0), 0);
    EQ(count_fds(), fds0);
}

/* ---------------------------------------------------------------- receiving ahead */
/* An epoll wait receives a ready TCP socket's bytes into the guest's buffer (rxahead.c): in
 * order around the ring's end, never past the buffer or outside RAM whatever the guest
 * wrote in its entry, and a receive while bytes wait there says UNO_RX_PENDING. */
static int64_t rx_wait(int64_t ep, struct uno_epoll_event *got)
{
    struct uno_sqe w = {.op = UNO_OP_EPOLL, .handle = (uint32_t)ep,
                        .len = 4 * sizeof(struct uno_epoll_event), .arg = {UNO_EPOLL_WAIT, 4, 0}};
    int64_t n = submit(&w, NULL, 0);
    if (n > 0)
        memcpy(got, slot, sizeof *got);
    return n;
}

static void test_rxahead(void)
{
    int fds0 = count_fds();
    struct uno_ring *ring = gpa_ptr(&V, UNO_GPA_RING, sizeof *ring);
    struct uno_sqe so = {.op = UNO_OP_SOCKET, .arg = {AF_INET, SOCK_STREAM, 0}};
    int64_t l = submit(&so, NULL, 0), c = submit(&so, NULL, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    EQ(sock_op((uint32_t)l, UNO_SOCK_BIND, 0, 0, &a, sizeof a, sizeof a), 0);
    EQ(sock_op((uint32_t)l, UNO_SOCK_LISTEN, 8, 0, NULL, 0, 0), 0);
    EQ(sock_op((uint32_t)l, UNO_SOCK_GETNAME, 0, 0, NULL, 0, 4 + sizeof a), 0);
    memcpy(&a, slot + 4, sizeof a);
    EQ(sock_op((uint32_t)c, UNO_SOCK_CONNECT, 0, 0, &a, sizeof a, sizeof a), 0);
    int64_t s = sock_op((uint32_t)l, UNO_SOCK_ACCEPT, 0, 0, NULL, 0, 132);
    CHECK(s >= 3 && s < UNO_MAX_HANDLES, "accept = %lld", (long long)s);
    struct uno_sqe mk = {.op = UNO_OP_EPOLL, .arg = {UNO_EPOLL_CREATE}};
    int64_t ep = submit(&mk, NULL, 0);
    struct uno_epoll_event ue = {.events = 1 /* EPOLLIN */, .data = 77}, got;
    struct uno_sqe ctl = {.op = UNO_OP_EPOLL, .handle = (uint32_t)ep, .len = sizeof ue,
                          .arg = {UNO_EPOLL_CTL, 1 /* ADD */, (uint64_t)s}};
    EQ(submit(&ctl, &ue, sizeof ue), 0);

    struct uno_rx *rx = &ring->rx[s];
    const uint64_t buf = 64 << 10;
    uint8_t *b = V.mem.ram + buf;
    rx->gpa = buf;
    rx->produced = rx->consumed = UNO_RX_BYTES - 2; /* the next bytes go round the end */
    memcpy(V.mem.ram + 4096, "hello", 5);
    EQ(msg_op(UNO_OP_SENDMSG, (uint32_t)c, 4096, 5, 1, 0), 5);
    EQ(rx_wait(ep, &got), 1);
    EQ(got.data, 77);
    EQ(rx->produced - rx->consumed, 5);
    CHECK(!memcmp(b + UNO_RX_BYTES - 2, "he", 2) && !memcmp(b, "llo", 3), "in order round the end");
    EQ(msg_op(UNO_OP_RECVMSG, (uint32_t)s, 8192, 64, 1, 0), UNO_RX_PENDING);
    EQ(rx_wait(ep, &got), 1); /* level-triggered: the buffer is not empty */
    EQ(got.events, 1);
    rx->consumed += 5;
    EQ(rx_wait(ep, &got), 0);
    EQ(msg_op(UNO_OP_RECVMSG, (uint32_t)s, 8192, 64, 1, 0), -EAGAIN);

    /* What the guest may have written in its entry: a buffer past RAM's end, in the image,
     * a count that says more is unread than the buffer holds, a full buffer. Nothing is
     * received ahead; the bytes stay in the host socket for an ordinary receive. */
    const uint64_t bad_gpa[] = {V.mem.ram_size - 100, UNO_GPA_IMAGE, UINT64_MAX - 10, 0};
    for (size_t i = 0; i < sizeof bad_gpa / sizeof bad_gpa[0]; i++) {
        rx->gpa = bad_gpa[i];
        uint32_t before = rx->produced;
        EQ(msg_op(UNO_OP_SENDMSG, (uint32_t)c, 4096, 1, 1, 0), 1);
        EQ(rx_wait(ep, &got), 1);
        EQ(rx->produced, before);
        EQ(msg_op(UNO_OP_RECVMSG, (uint32_t)s, 8192, 64, 1, 0), 1);
    }
    rx->gpa = buf;
    for (uint32_t used = UNO_RX_BYTES; used != 0; used = used == UNO_RX_BYTES ? (uint32_t)-10 : 0) {
        rx->consumed = rx->produced - used;
        uint32_t before = rx->produced;
        EQ(msg_op(UNO_OP_SENDMSG, (uint32_t)c, 4096, 1, 1, 0), 1);
        rx_wait(ep, &got);
        EQ(rx->produced, before);
        rx->consumed = rx->produced;
        EQ(msg_op(UNO_OP_RECVMSG, (uint32_t)s, 8192, 64, 1, 0), 1);
    }

    /* More than the buffer holds: a buffer's worth ahead, the rest for later waits. */
    static uint8_t big[3 * UNO_RX_BYTES];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7 + 1);
    memcpy(V.mem.ram + 4096, big, sizeof big);
    EQ(msg_op(UNO_OP_SENDMSG, (uint32_t)c, 4096, sizeof big, 1, 0), (int64_t)sizeof big);
    size_t taken = 0;
    bool same = true;
    for (int i = 0; i < 10 && taken < sizeof big; i++) {
        EQ(rx_wait(ep, &got), 1);
        uint32_t n = rx->produced - rx->consumed;
        CHECK(n <= UNO_RX_BYTES, "%u bytes ahead", n);
        for (uint32_t k = 0; k < n && taken + k < sizeof big; k++)
            same = same && b[(rx->consumed + k) & (UNO_RX_BYTES - 1)] == big[taken + k];
        taken += n;
        rx->consumed = rx->produced;
    }
    CHECK(same && taken == sizeof big, "%zu of %zu bytes ahead, in order", taken, sizeof big);

    /* An error a fill takes (the peer went away with our bytes unread: a reset) is the next
     * receive's answer, once; a later socket on the same handle is filled again. */
    EQ(msg_op(UNO_OP_SENDMSG, (uint32_t)s, 4096, 8, 1, 0), 8);
    usleep(10000);
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)c, 0, 0, 0), 0);
    EQ(rx_wait(ep, &got), 1); /* EPOLLERR: not filled */
    rx_fill(&V, (uint32_t)s, false); /* as if the reset came just after the wait */
    EQ(rx->produced - rx->consumed, 0);
    EQ(msg_op(UNO_OP_RECVMSG, (uint32_t)s, 8192, 64, 1, 0), -ECONNRESET);
    EQ(msg_op(UNO_OP_RECVMSG, (uint32_t)s, 8192, 64, 1, 0), 0);
    /* Closed with such an error not reported: the next socket on the handle is filled. */
    for (int round = 0; round < 2; round++) {
        rx->gpa = 0;
        EQ(h_op(UNO_OP_CLOSE, (uint32_t)s, 0, 0, 0), 0);
        c = submit(&so, NULL, 0);
        EQ(sock_op((uint32_t)c, UNO_SOCK_CONNECT, 0, 0, &a, sizeof a, sizeof a), 0);
        int64_t s2 = sock_op((uint32_t)l, UNO_SOCK_ACCEPT, 0, 0, NULL, 0, 132);
        CHECK(s2 == s, "the handle is reused (%lld, %lld)", (long long)s2, (long long)s);
        EQ(submit(&ctl, &ue, sizeof ue), 0);
        rx->gpa = buf;
        rx->consumed = rx->produced;
        if (round == 0) { /* a reset the fill takes, never received */
            EQ(msg_op(UNO_OP_SENDMSG, (uint32_t)s, 4096, 8, 1, 0), 8);
            usleep(10000);
            EQ(h_op(UNO_OP_CLOSE, (uint32_t)c, 0, 0, 0), 0);
            rx_fill(&V, (uint32_t)s, false);
            EQ(rx->produced - rx->consumed, 0);
            continue;
        }
        EQ(msg_op(UNO_OP_SENDMSG, (uint32_t)c, 4096, 3, 1, 0), 3);
        EQ(rx_wait(ep, &got), 1);
        EQ(rx->produced - rx->consumed, 3);
        rx->consumed = rx->produced;
    }

    rx->gpa = 0;
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)s, 0, 0, 0), 0);
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)c, 0, 0, 0), 0);
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)l, 0, 0, 0), 0);
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)ep, 0, 0, 0), 0);
    EQ(count_fds(), fds0);
}

/* ---------------------------------------------------------------- readiness */
/* epoll, timerfd, signalfd: every handle, count, length and sub-op the guest gives is
 * checked; nothing leaks a host descriptor. */
static void test_readiness(void)
{
    int fds0 = count_fds();
    struct uno_sqe c = {.op = UNO_OP_EPOLL, .arg = {UNO_EPOLL_CREATE}};
    int64_t ep = submit(&c, NULL, 0);
    CHECK(ep >= 3 && ep < UNO_MAX_HANDLES, "epoll handle %lld", (long long)ep);
    struct uno_sqe pp = {.op = UNO_OP_PIPE, .len = 8};
    EQ(submit(&pp, NULL, 0), 8);
    uint32_t hs[2];
    memcpy(hs, slot, 8);
    struct uno_epoll_event ue = {.events = 1 /* EPOLLIN */, .data = 0x123456789abcull};
    struct uno_sqe ctl = {.op = UNO_OP_EPOLL, .handle = (uint32_t)ep, .len = sizeof ue,
                          .arg = {UNO_EPOLL_CTL, 1 /* ADD */, hs[0]}};
    EQ(submit(&ctl, &ue, sizeof ue), 0);
    EQ(submit(&ctl, &ue, sizeof ue), -EEXIST);
    struct uno_sqe bad = ctl;
    bad.arg[2] = UNO_MAX_HANDLES;
    EQ(submit(&bad, &ue, sizeof ue), -EBADF);
    bad.arg[2] = 1ull << 40;
    EQ(submit(&bad, &ue, sizeof ue), -EBADF);
    bad.arg[2] = 900;
    EQ(submit(&bad, &ue, sizeof ue), -EBADF);
    bad = ctl;
    bad.handle = hs[1]; /* not an epoll */
    EQ(submit(&bad, &ue, sizeof ue), -EINVAL);
    bad.handle = 900;
    EQ(submit(&bad, &ue, sizeof ue), -EBADF);
    bad.handle = UNO_MAX_HANDLES;
    EQ(submit(&bad, &ue, sizeof ue), -EBADF);
    bad = ctl;
    for (uint64_t op = 0; op < 6; op += 4) {
        bad.arg[1] = op;
        EQ(submit(&bad, &ue, sizeof ue), -EINVAL);
    }
    bad.arg[1] = 1ull << 33 | 1; /* ADD in the low bits only */
    EQ(submit(&bad, &ue, sizeof ue), -EINVAL);
    bad.arg[1] = 3; /* MOD with too little data */
    bad.len = 4;
    EQ(submit(&bad, &ue, 4), -EINVAL);
    bad.arg[0] = 99;
    EQ(submit(&bad, &ue, sizeof ue), -EINVAL);

    struct uno_sqe w = {.op = UNO_OP_EPOLL, .handle = (uint32_t)ep,
                        .len = 4 * sizeof(struct uno_epoll_event), .arg = {UNO_EPOLL_WAIT, 4, 0}};
    EQ(submit(&w, NULL, 0), 0);
    EQ(write_op(hs[1], -1, "x"), 1);
    EQ(submit(&w, NULL, 0), 1);
    struct uno_epoll_event got;
    memcpy(&got, slot, sizeof got);
    EQ(got.data, 0x123456789abcull);
    EQ(got.events, 1);
    /* A wait that may not block (no UNO_SQE_BLOCKING) never waits, whatever its timeout. */
    EQ(h_op(UNO_OP_READ, hs[0], -1, 1, 0), 1);
    w.arg[2] = (uint64_t)-1;
    EQ(submit(&w, NULL, 0), 0);
    w.arg[2] = 0;
    struct uno_sqe bw = w;
    bw.arg[1] = 0;
    EQ(submit(&bw, NULL, 0), -EINVAL);
    bw.arg[1] = UNO_EPOLL_MAX_EVENTS + 1;
    bw.len = UNO_RING_SLOT;
    EQ(submit(&bw, NULL, 0), -EINVAL);
    bw.arg[1] = 5; /* more than the data length holds */
    bw.len = 4 * sizeof(struct uno_epoll_event);
    EQ(submit(&bw, NULL, 0), -EINVAL);
    bw = w;
    bw.handle = hs[0];
    EQ(submit(&bw, NULL, 0), -EINVAL);
    bw.handle = 900;
    EQ(submit(&bw, NULL, 0), -EBADF);
    /* DEL, and a closed target is forgotten. */
    struct uno_sqe del = ctl;
    del.arg[1] = 2;
    del.len = 0;
    EQ(submit(&del, NULL, 0), 0);
    EQ(submit(&del, NULL, 0), -ENOENT);
    EQ(submit(&ctl, &ue, sizeof ue), 0);
    EQ(write_op(hs[1], -1, "y"), 1);
    EQ(h_op(UNO_OP_CLOSE, hs[0], 0, 0, 0), 0);
    EQ(submit(&w, NULL, 0), 0);

    /* timerfd */
    struct uno_sqe tc = {.op = UNO_OP_TIMERFD, .arg = {UNO_TIMERFD_CREATE, 99}};
    EQ(submit(&tc, NULL, 0), -EINVAL);
    tc.arg[1] = 1ull << 32 | 1;
    EQ(submit(&tc, NULL, 0), -EINVAL);
    tc.arg[1] = 1; /* CLOCK_MONOTONIC */
    int64_t t = submit(&tc, NULL, 0);
    CHECK(t >= 3 && t < UNO_MAX_HANDLES, "timerfd handle %lld", (long long)t);
    struct uno_itimerspec its = {0, 0, 0, 1000}; /* 1 µs */
    struct uno_sqe ts = {.op = UNO_OP_TIMERFD, .handle = (uint32_t)t, .len = sizeof its,
                         .arg = {UNO_TIMERFD_SET, 0}};
    EQ(submit(&ts, &its, sizeof its), sizeof its);
    usleep(2000);
    EQ(h_op(UNO_OP_READ, (uint32_t)t, -1, 8, 0), 8);
    struct uno_sqe tb = ts;
    tb.arg[1] = 4;
    EQ(submit(&tb, &its, sizeof its), -EINVAL);
    tb.arg[1] = 0;
    tb.len = 8;
    EQ(submit(&tb, &its, 8), -EINVAL);
    struct uno_itimerspec neg = {0, 0, 0, 1000000000};
    EQ(submit(&ts, &neg, sizeof neg), -EINVAL);
    tb = ts;
    tb.handle = hs[1]; /* a pipe */
    EQ(submit(&tb, &its, sizeof its), -EINVAL);
    tb.handle = 900;
    EQ(submit(&tb, &its, sizeof its), -EBADF);
    struct uno_sqe tg = {.op = UNO_OP_TIMERFD, .handle = (uint32_t)t, .len = sizeof its,
                         .arg = {UNO_TIMERFD_GET}};
    EQ(submit(&tg, NULL, 0), sizeof its);
    tg.arg[0] = 7;
    EQ(submit(&tg, NULL, 0), -EINVAL);

    /* signalfd: the VMM's signal delivery makes it readable. */
    struct uno_sqe sc = {.op = UNO_OP_SIGNALFD, .arg = {UNO_SIGNALFD_CREATE, 1ull << 9}};
    int64_t sf = submit(&sc, NULL, 0);
    CHECK(sf >= 3 && sf < UNO_MAX_HANDLES, "signalfd handle %lld", (long long)sf);
    struct uno_sqe rd = {.op = UNO_OP_READ, .handle = (uint32_t)sf, .off = -1, .len = 8,
                         .flags = UNO_SQE_NONBLOCK};
    EQ(submit(&rd, NULL, 0), -EAGAIN);
    signalfd_posted(&V, 1ull << 11); /* not in the mask */
    EQ(submit(&rd, NULL, 0), -EAGAIN);
    signalfd_posted(&V, 1ull << 9);
    EQ(submit(&rd, NULL, 0), 8);
    struct uno_sqe sm = {.op = UNO_OP_SIGNALFD, .handle = (uint32_t)sf,
                         .arg = {UNO_SIGNALFD_MASK, 1ull << 11}};
    EQ(submit(&sm, NULL, 0), 0);
    signalfd_posted(&V, 1ull << 11);
    EQ(submit(&rd, NULL, 0), 8);
    sm.handle = hs[1];
    EQ(submit(&sm, NULL, 0), -EINVAL);
    sm.handle = UNO_MAX_HANDLES;
    EQ(submit(&sm, NULL, 0), -EBADF);
    sm.arg[0] = 9;
    sm.handle = (uint32_t)sf;
    EQ(submit(&sm, NULL, 0), -EINVAL);
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)sf, 0, 0, 0), 0);
    sm.arg[0] = UNO_SIGNALFD_MASK;
    EQ(submit(&sm, NULL, 0), -EINVAL); /* closed: no longer a signalfd */
    signalfd_posted(&V, ~0ull);         /* and nothing is written anywhere */

    EQ(h_op(UNO_OP_CLOSE, (uint32_t)t, 0, 0, 0), 0);
    EQ(h_op(UNO_OP_CLOSE, hs[1], 0, 0, 0), 0);
    EQ(h_op(UNO_OP_CLOSE, (uint32_t)ep, 0, 0, 0), 0);
    EQ(submit(&w, NULL, 0), -EBADF);
    EQ(count_fds(), fds0);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--write-seeds")) {
        write_seeds(argv[2]);
        return 0;
    }
    setup();
    test_decode();
    test_files();
    test_filemap();
    test_dirs();
    test_whiteouts();
    test_confinement();
    test_handles();
    test_breadth_ops();
    test_sockets();
    test_sendq();
    test_rxahead();
    test_readiness();
    test_ring_serve();
    test_io_thread();
    teardown();
    printf("%ld passed, %ld failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
