/* Host unit test for the libOS EROFS reader (libos/fs/erofs.c).
 *
 * First a hand-assembled image covers what mkfs.erofs 1.5 cannot make (255-byte names,
 * which it fails on) or rarely does (a name ending exactly at a block end, a two-block
 * directory with an inline tail, inodes in the image's last slot), each byte of it then
 * changed to a few values and the result walked.
 *
 * Then it builds a source tree (254-byte names, 50-level deep directories, short and
 * 3000-byte symlinks, files of 0/1/4000/4095/4096/4097/8191/~1 MiB bytes with patterns, a
 * 10,000-entry directory, hard links, uid 70000 / gid 80000 owners, odd mtimes including
 * pre-1970 ones, xattrs (inline and shared), devices, a fifo and a socket), turns it into
 * images with mkfs.erofs in several variants (default = inline tails + per-file mtimes,
 * -E noinline_data, -T fixed time = compact inodes, -E force-inode-extended), and checks
 * every lookup, stat field, listing and content byte against the tree. Then corrupts
 * images (truncation, superblock fields, targeted inode/dirent damage, random flips)
 * and checks for errors, never crashes (build with ASan/UBSan; images are copied into
 * exact-size heap buffers so any overread is caught).
 *
 * Needs root (chown, mknod) and mkfs.erofs. Prints "N passed, M failed" last. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fs/erofs.h"

/* Linux errno values are what the reader returns; the host's are the same on Linux. */

struct erofs_walk_stats {
    uint64_t inodes, errors, entries, bytes;
};
int erofs_fuzz_walk(const uint8_t *data, size_t size, struct erofs_walk_stats *st);

#include "check.h"

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static char g_tmp[256];
static char g_tree[300];

#define T_FIXED 1234567890LL
#define MANY_N 10000
#define DEEP_N 50
#define BIG_SIZE (1048576 + 123)
/* mkfs.erofs 1.5 fails on 255-byte names ("Could not format the device: No such file or
 * directory"): the source tree uses 254; 255 is covered by a synthetic image. */
#define MKFS_NAME_MAX 254

/* ---------------------------------------------------------------- tree building */

static uint8_t pat(uint64_t i, unsigned seed)
{
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)seed * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return (uint8_t)(x ^ (x >> 17));
}

static void path_join(char *out, size_t outsz, const char *a, const char *b)
{
    if ((size_t)snprintf(out, outsz, "%s/%s", a, b) >= outsz) {
        fprintf(stderr, "path too long\n");
        exit(2);
    }
}

static void mkfile(const char *dir, const char *name, size_t size, unsigned seed, mode_t mode)
{
    char p[4096];
    path_join(p, sizeof(p), dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die(p);
    static uint8_t buf[65536];
    for (size_t off = 0; off < size;) {
        size_t n = size - off < sizeof(buf) ? size - off : sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = pat(off + i, seed);
        if (write(fd, buf, n) != (ssize_t)n)
            die("write");
        off += n;
    }
    if (fchmod(fd, mode) < 0)
        die("fchmod");
    close(fd);
}

static void mkd(const char *dir, const char *name, mode_t mode)
{
    char p[4096];
    path_join(p, sizeof(p), dir, name);
    if (mkdir(p, mode) < 0 || chmod(p, mode) < 0)
        die(p);
}

static void mksym(const char *dir, const char *name, const char *target)
{
    char p[4096];
    path_join(p, sizeof(p), dir, name);
    if (symlink(target, p) < 0)
        die(p);
}

static void settime(const char *path, int64_t sec, long nsec)
{
    struct timespec ts[2] = {{.tv_sec = sec, .tv_nsec = nsec}, {.tv_sec = sec, .tv_nsec = nsec}};
    if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
        die(path);
}

static void build_tree(const char *t)
{
    char p[4096], q[4096];
    if (mkdir(t, 0755) < 0)
        die(t);
    mkfile(t, "empty", 0, 1, 0644);
    mkfile(t, "f1", 1, 2, 0644);
    mkfile(t, "f4000", 4000, 3, 0644);
    mkfile(t, "f4095", 4095, 4, 0644);
    mkfile(t, "f4096", 4096, 5, 0644);
    mkfile(t, "f4097", 4097, 6, 0644);
    mkfile(t, "f8191", 8191, 7, 0600);
    mkfile(t, "big", BIG_SIZE, 8, 0755);

    /* Names sorting before "." and "..": '-' (0x2d) and '!' (0x21) < '.' (0x2e). */
    mkfile(t, "-dash", 3, 9, 0644);
    mkfile(t, "!bang", 4, 10, 0644);

    /* longest names mkfs.erofs 1.5 can store (255 is tested on a synthetic image) */
    char name[256];
    memset(name, 'L', MKFS_NAME_MAX);
    name[MKFS_NAME_MAX] = 0;
    mkfile(t, name, 10, 11, 0644);
    mkd(t, "names", 0755);
    path_join(p, sizeof(p), t, "names");
    for (int i = 0; i < 3; i++) {
        memset(name, 'a' + i, MKFS_NAME_MAX);
        mkfile(p, name, 100 * (size_t)i, 12 + (unsigned)i, 0644);
    }
    memset(name, 'z', MKFS_NAME_MAX);
    mkd(p, name, 0700);

    /* 50-level deep directories */
    mkd(t, "deep", 0755);
    path_join(p, sizeof(p), t, "deep");
    for (int i = 0; i < DEEP_N; i++) {
        char d[8];
        snprintf(d, sizeof(d), "l%02d", i);
        mkd(p, d, 0755);
        path_join(q, sizeof(q), p, d);
        strcpy(p, q);
    }
    mkfile(p, "leaf", 77, 20, 0644);

    /* symlinks */
    mksym(t, "sym_short", "f1");
    static char longtarget[3001];
    for (int i = 0; i < 3000; i++)
        longtarget[i] = (i % 3 == 2) ? '/' : (char)('a' + i % 26);
    longtarget[3000] = 0;
    mksym(t, "sym_long", longtarget);
    mksym(t, "sym_abs", "/etc/passwd");
    mksym(t, "sym_dir", "deep/l00");

    /* hard links: hl_a, hl_b, names/hl_c */
    mkfile(t, "hl_a", 5000, 21, 0644);
    path_join(p, sizeof(p), t, "hl_a");
    path_join(q, sizeof(q), t, "hl_b");
    if (link(p, q) < 0)
        die("link");
    path_join(q, sizeof(q), t, "names/hl_c");
    if (link(p, q) < 0)
        die("link");

    /* owners beyond 16 bits force extended inodes */
    mkd(t, "owned", 0750);
    path_join(p, sizeof(p), t, "owned");
    mkfile(p, "f", 4097, 22, 0640);
    mkfile(p, "small", 33, 23, 0640);
    mksym(p, "sym", "f");
    path_join(q, sizeof(q), p, "f");
    if (chown(q, 70000, 80000) < 0)
        die("chown");
    path_join(q, sizeof(q), p, "small");
    if (chown(q, 65536, 12) < 0)
        die("chown");
    path_join(q, sizeof(q), p, "sym");
    if (lchown(q, 70001, 70002) < 0)
        die("lchown");
    if (chown(p, 70000, 80000) < 0)
        die("chown");

    /* permission bits */
    mkd(t, "perms", 0755);
    path_join(p, sizeof(p), t, "perms");
    mkfile(p, "suid", 10, 24, 04755);
    mkfile(p, "none", 10, 25, 0);
    mkfile(p, "sgid", 10, 26, 02711);
    mkd(p, "sticky", 01777);

    /* xattrs: a shared one (on many inodes) and private ones; they shift inline data */
    mkd(t, "xattr", 0755);
    path_join(p, sizeof(p), t, "xattr");
    const char *xf[] = {"xa", "xb", "xc", "xd"};
    size_t xs[] = {100, 3000, 5000, 0};
    for (int i = 0; i < 4; i++) {
        mkfile(p, xf[i], xs[i], 30 + (unsigned)i, 0644);
        path_join(q, sizeof(q), p, xf[i]);
        if (setxattr(q, "user.common", "shared", 6, 0) < 0)
            die("setxattr");
        if (i >= 1) {
            char v[200];
            memset(v, 'v' + i, sizeof(v));
            if (setxattr(q, "user.private", v, sizeof(v), 0) < 0)
                die("setxattr");
        }
    }
    mkd(p, "xdir", 0755);
    path_join(q, sizeof(q), p, "xdir");
    if (setxattr(q, "user.d", "1", 1, 0) < 0 || setxattr(q, "user.common", "shared", 6, 0) < 0)
        die("setxattr");
    mkfile(q, "inner", 10, 40, 0644);

    /* special files */
    mkd(t, "special", 0755);
    path_join(p, sizeof(p), t, "special");
    path_join(q, sizeof(q), p, "fifo");
    if (mkfifo(q, 0620) < 0)
        die("mkfifo");
    path_join(q, sizeof(q), p, "null");
    if (mknod(q, S_IFCHR | 0666, makedev(1, 3)) < 0)
        die("mknod");
    path_join(q, sizeof(q), p, "sda");
    if (mknod(q, S_IFBLK | 0660, makedev(8, 0)) < 0)
        die("mknod");
    path_join(q, sizeof(q), p, "bigdev");
    if (mknod(q, S_IFCHR | 0600, makedev(300, 70000)) < 0)
        die("mknod");
    path_join(q, sizeof(q), p, "sock");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (s < 0 || strlen(q) >= sizeof(sa.sun_path))
        die("socket");
    strcpy(sa.sun_path, q);
    if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("bind");
    close(s);

    /* 10,000 entries: files of various name lengths, some dirs and symlinks */
    mkd(t, "many", 0755);
    path_join(p, sizeof(p), t, "many");
    static const char *pfx[] = {"", "a", "file_with_a_rather_longer_name_", "-", "Z", "~"};
    for (int i = 0; i < MANY_N; i++) {
        char n[256];
        if (i % 1000 == 999) {
            memset(n, 'q', MKFS_NAME_MAX);
            snprintf(n + MKFS_NAME_MAX - 5, 6, "%05d", i);
        } else {
            snprintf(n, sizeof(n), "%s%d", pfx[i % 6], i);
        }
        if (i % 97 == 0)
            mkd(p, n, 0755);
        else if (i % 89 == 0)
            mksym(p, n, "target");
        else
            mkfile(p, n, (size_t)(i % 53 == 0 ? i % 300 : 0), (unsigned)i, 0644);
    }

    /* odd mtimes (set last: creating entries changes directory mtimes) */
    mkd(t, "times", 0755);
    path_join(p, sizeof(p), t, "times");
    struct {
        const char *n;
        int64_t s;
        long ns;
    } tm[] = {{"t_neg", -1000000, 500000000},
              {"t_big", (1LL << 33) + 7, 999999999},
              {"t_zero", 0, 0},
              {"t_1ns", 1, 1},
              {"t_2038", 2147483648LL, 123}};
    for (size_t i = 0; i < sizeof(tm) / sizeof(tm[0]); i++) {
        mkfile(p, tm[i].n, 4097, 50 + (unsigned)i, 0644);
        path_join(q, sizeof(q), p, tm[i].n);
        settime(q, tm[i].s, tm[i].ns);
    }
    mksym(p, "t_sym", "t_neg");
    path_join(q, sizeof(q), p, "t_sym");
    settime(q, -5, 7);
    settime(p, 1600000000, 42);
    path_join(q, sizeof(q), t, "deep");
    settime(q, 1000000000, 1);
}

/* ---------------------------------------------------------------- image helpers */

struct image {
    uint8_t *data; /* exact-size heap copy: ASan flags any overread */
    size_t size;
};

static struct image load_image(const char *path)
{
    struct image im = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die(path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        die("fstat");
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
        die("mmap");
    im.size = (size_t)st.st_size;
    im.data = malloc(im.size);
    if (!im.data)
        die("malloc");
    memcpy(im.data, m, im.size);
    munmap(m, im.size);
    close(fd);
    return im;
}

static struct image dup_image(const struct image *src, size_t size)
{
    struct image im = {.size = size, .data = malloc(size ? size : 1)};
    if (!im.data)
        die("malloc");
    memcpy(im.data, src->data, size < src->size ? size : src->size);
    return im;
}

static int mkfs(const char *img, const char *opts, const char *tree)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "mkfs.erofs --quiet %s '%s' '%s' >'%s.log' 2>&1", opts, img,
             tree, img);
    int r = system(cmd);
    if (r != 0) {
        snprintf(cmd, sizeof(cmd), "tail -5 '%s.log' >&2", img);
        if (system(cmd) != 0)
            fprintf(stderr, "(no mkfs log)\n");
    }
    return r;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}
static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* Raw on-disk inode (test-side knowledge of the format). */
static uint8_t *raw_inode(const struct erofs_fs *fs, uint8_t *base, uint64_t nid)
{
    return base + fs->meta_off + nid * 32;
}

/* Resolve a '/'-separated path from the root, no symlink following. */
static int resolve(const struct erofs_fs *fs, const char *path, struct erofs_inode *out)
{
    int r = erofs_iget(fs, fs->root_nid, out);
    while (r == 0 && *path) {
        const char *e = strchr(path, '/');
        size_t n = e ? (size_t)(e - path) : strlen(path);
        uint64_t nid;
        uint8_t type;
        if (n) {
            r = erofs_lookup(fs, out, path, n, &nid, &type);
            if (r == 0)
                r = erofs_iget(fs, nid, out);
        }
        path += n + (e != NULL);
    }
    return r;
}

/* ---------------------------------------------------------------- listing helpers */

struct ent {
    char name[256];
    size_t len;
    uint64_t nid;
    uint8_t type;
};

struct list {
    struct ent *e;
    size_t n, cap;
    size_t stop_every; /* stop (return 1) once this many were taken in one call */
    size_t taken;
};

static int list_cb(void *ctx, const char *name, size_t namelen, uint64_t nid, uint8_t type)
{
    struct list *l = ctx;
    if (l->stop_every && l->taken == l->stop_every)
        return 1;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->e = realloc(l->e, l->cap * sizeof(*l->e));
        if (!l->e)
            die("realloc");
    }
    struct ent *e = &l->e[l->n++];
    if (namelen > 255)
        namelen = 255; /* checked by caller via len */
    memcpy(e->name, name, namelen);
    e->name[namelen] = 0;
    e->len = namelen;
    e->nid = nid;
    e->type = type;
    l->taken++;
    return 0;
}

/* Full listing in batches of `batch` (0 = one call); returns readdir's final result. */
static int list_dir(const struct erofs_fs *fs, const struct erofs_inode *dir, struct list *l,
                    size_t batch)
{
    memset(l, 0, sizeof(*l));
    l->stop_every = batch;
    uint64_t pos = 0;
    for (int guard = 0; guard < 1000000; guard++) {
        l->taken = 0;
        int r = erofs_readdir(fs, dir, &pos, list_cb, l);
        if (r != 1)
            return r;
        if (l->taken == 0)
            return -1000; /* no progress */
    }
    return -1001;
}

static int namecmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static int strptrcmp(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    return namecmp(x, strlen(x), y, strlen(y));
}

static uint8_t dt_of_mode(mode_t m)
{
    switch (m & S_IFMT) {
    case S_IFREG: return EROFS_DT_REG;
    case S_IFDIR: return EROFS_DT_DIR;
    case S_IFLNK: return EROFS_DT_LNK;
    case S_IFCHR: return EROFS_DT_CHR;
    case S_IFBLK: return EROFS_DT_BLK;
    case S_IFIFO: return EROFS_DT_FIFO;
    case S_IFSOCK: return EROFS_DT_SOCK;
    }
    return 0xff;
}

/* ---------------------------------------------------------------- tree verification */

struct variant {
    const char *name;
    const char *opts;
    bool fixed_time;    /* -T: every mtime is T_FIXED */
    bool noinline_reg;  /* regular files never FLAT_INLINE */
    bool all_extended;  /* every inode 64 bytes */
    bool want_inline;   /* some regular file FLAT_INLINE */
    bool want_compact;  /* some compact inode */
};

struct vstate {
    const struct variant *v;
    struct erofs_fs fs;
    struct image im;
    long n_inline_reg, n_plain_reg, n_compact, n_extended, n_xattr_inline, n_inodes;
    long n_twice; /* inline files seen with two erofs_data runs */
    struct {
        ino_t host;
        uint64_t nid;
    } links[64];
    int nlinks;
};

static uint8_t *g_hostbuf, *g_rdbuf;

/* Compare the inode's bytes with the host's: file content, or symlink target. */
static void check_content(struct vstate *s, const char *hpath, const struct erofs_inode *ino)
{
    const struct erofs_fs *fs = &s->fs;
    ssize_t hn;
    if (erofs_is_dir(ino) || (ino->mode & EROFS_S_IFMT) != EROFS_S_IFLNK) {
        int fd = open(hpath, O_RDONLY);
        if (fd < 0)
            die(hpath);
        hn = read(fd, g_hostbuf, BIG_SIZE + 1);
        close(fd);
    } else {
        hn = readlink(hpath, (char *)g_hostbuf, BIG_SIZE);
    }
    CHECK(hn >= 0 && (uint64_t)hn == ino->size, "%s: host %zd vs size %llu", hpath, hn,
          (unsigned long long)ino->size);
    if (hn < 0 || (uint64_t)hn != ino->size)
        return;

    memset(g_rdbuf, 0xA5, (size_t)hn + 16);
    int64_t r = erofs_read(fs, ino, g_rdbuf, 0, (uint64_t)hn + 16);
    CHECK(r == hn && memcmp(g_rdbuf, g_hostbuf, (size_t)hn) == 0, "%s: content (r=%lld)",
          hpath, (long long)r);

    /* zero-copy runs cover the file exactly, from inside the image */
    uint64_t off = 0, avail;
    int runs = 0;
    bool ok = true;
    while (off < ino->size && runs < 3) {
        const uint8_t *p = erofs_data(fs, ino, off, &avail);
        if (!p || !avail || avail > ino->size - off || p < s->im.data ||
            p + avail > s->im.data + s->im.size || memcmp(p, g_hostbuf + off, avail) != 0) {
            ok = false;
            break;
        }
        off += avail;
        runs++;
    }
    CHECK(ok && off == ino->size, "%s: erofs_data runs", hpath);
    if (ino->layout == EROFS_LAYOUT_FLAT_PLAIN)
        CHECK(runs == (ino->size ? 1 : 0), "%s: plain file in %d runs", hpath, runs);
    else {
        uint64_t tail_start = ino->size ? (ino->size - 1) / 4096 * 4096 : 0;
        CHECK(runs == (ino->size ? 1 : 0) + (tail_start ? 1 : 0), "%s: inline runs %d", hpath,
              runs);
        if (runs == 2)
            s->n_twice++;
        if (ino->size) {
            CHECK(ino->inline_off % 4096 + (ino->size - tail_start) <= 4096,
                  "%s: tail crosses block", hpath);
        }
    }
    if (ino->layout == EROFS_LAYOUT_FLAT_PLAIN && ino->size)
        CHECK(ino->data_off % 4096 == 0, "%s: data not block aligned", hpath);
    CHECK(erofs_data(fs, ino, ino->size, &avail) == NULL && avail == 0, "%s: data at EOF", hpath);
    CHECK(erofs_data(fs, ino, ino->size + 4096, &avail) == NULL && avail == 0, "%s: past EOF",
          hpath);

    /* reads at awkward offsets and lengths */
    static const uint64_t offs[] = {0, 1, 4095, 4096, 4097, 8191, 8192, 12345};
    static const uint64_t lens[] = {1, 2, 100, 4095, 4096, 4097, 10000};
    ok = true;
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]) + 3; i++) {
        uint64_t o = i < sizeof(offs) / sizeof(offs[0])
                         ? offs[i]
                         : ino->size - (ino->size ? i - sizeof(offs) / sizeof(offs[0]) : 0);
        for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
            uint64_t want = o < ino->size ? ino->size - o : 0;
            if (want > lens[j])
                want = lens[j];
            r = erofs_read(fs, ino, g_rdbuf, o, lens[j]);
            if (r != (int64_t)want || memcmp(g_rdbuf, g_hostbuf + (o < ino->size ? o : 0),
                                             (size_t)want) != 0)
                ok = false;
        }
    }
    CHECK(ok, "%s: partial reads", hpath);
}

static void check_stat(struct vstate *s, const char *hpath, const struct erofs_inode *ino)
{
    struct stat st;
    if (lstat(hpath, &st) < 0)
        die(hpath);
    s->n_inodes++;
    if (ino->extended)
        s->n_extended++;
    else
        s->n_compact++;
    if (get16(raw_inode(&s->fs, s->im.data, ino->nid) + 2))
        s->n_xattr_inline++;
    if (S_ISREG(st.st_mode))
        (*(ino->layout == EROFS_LAYOUT_FLAT_INLINE ? &s->n_inline_reg : &s->n_plain_reg))++;

    CHECK(ino->mode == (uint16_t)st.st_mode, "%s: mode %o vs %o", hpath, ino->mode,
          (unsigned)st.st_mode);
    CHECK(ino->uid == st.st_uid && ino->gid == st.st_gid, "%s: owner %u:%u vs %u:%u", hpath,
          ino->uid, ino->gid, st.st_uid, st.st_gid);
    if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))
        CHECK(ino->size == (uint64_t)st.st_size, "%s: size %llu vs %lld", hpath,
              (unsigned long long)ino->size, (long long)st.st_size);
    if (S_ISDIR(st.st_mode))
        CHECK(ino->size > 0, "%s: dir size 0", hpath);
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
        CHECK(ino->rdev == st.st_rdev, "%s: rdev %#x vs %#llx", hpath, ino->rdev,
              (unsigned long long)st.st_rdev);
    CHECK(ino->nlink == st.st_nlink, "%s: nlink %u vs %lu", hpath, ino->nlink,
          (unsigned long)st.st_nlink);
    int64_t ms = s->v->fixed_time ? T_FIXED : (int64_t)st.st_mtim.tv_sec;
    uint32_t mns = s->v->fixed_time ? 0 : (uint32_t)st.st_mtim.tv_nsec;
    CHECK(ino->mtime == ms && ino->mtime_nsec == mns, "%s: mtime %lld.%09u vs %lld.%09u", hpath,
          (long long)ino->mtime, ino->mtime_nsec, (long long)ms, mns);
    if (!ino->extended)
        CHECK(ino->mtime == (int64_t)s->fs.build_time &&
                  ino->mtime_nsec == s->fs.build_time_nsec,
              "%s: compact inode mtime is not build time", hpath);
    if (s->v->all_extended)
        CHECK(ino->extended, "%s: not extended", hpath);
    if (s->v->noinline_reg && S_ISREG(st.st_mode))
        CHECK(ino->layout == EROFS_LAYOUT_FLAT_PLAIN, "%s: inline with noinline_data", hpath);
    if (ino->uid > 65535 || ino->gid > 65535)
        CHECK(ino->extended, "%s: big owner in compact inode", hpath);

    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
        int k;
        for (k = 0; k < s->nlinks; k++)
            if (s->links[k].host == st.st_ino)
                break;
        if (k == s->nlinks && s->nlinks < 64) {
            s->links[s->nlinks].host = st.st_ino;
            s->links[s->nlinks++].nid = ino->nid;
        } else if (k < s->nlinks) {
            CHECK(s->links[k].nid == ino->nid, "%s: hard link has nid %llu not %llu", hpath,
                  (unsigned long long)ino->nid, (unsigned long long)s->links[k].nid);
        }
    }

    uint64_t avail = 7;
    int64_t rr;
    char lbuf[4096];
    switch (st.st_mode & S_IFMT) {
    case S_IFREG:
        check_content(s, hpath, ino);
        CHECK(erofs_readlink(&s->fs, ino, lbuf, sizeof(lbuf)) == -EINVAL, "%s: readlink", hpath);
        break;
    case S_IFLNK: {
        char want[4096];
        ssize_t wn = readlink(hpath, want, sizeof(want));
        rr = erofs_readlink(&s->fs, ino, lbuf, sizeof(lbuf));
        CHECK(rr == wn && memcmp(lbuf, want, (size_t)wn) == 0, "%s: readlink %lld vs %zd",
              hpath, (long long)rr, wn);
        rr = erofs_readlink(&s->fs, ino, lbuf, 2);
        CHECK(rr == (wn < 2 ? wn : 2) && memcmp(lbuf, want, (size_t)rr) == 0,
              "%s: truncated readlink", hpath);
        CHECK(erofs_readlink(&s->fs, ino, lbuf, 0) == 0, "%s: readlink into 0 bytes", hpath);
        check_content(s, hpath, ino); /* symlink body through the data path too */
        break;
    }
    case S_IFDIR:
        break;
    default:
        CHECK(erofs_data(&s->fs, ino, 0, &avail) == NULL && avail == 0, "%s: data", hpath);
        CHECK(erofs_read(&s->fs, ino, lbuf, 0, 10) == -EINVAL, "%s: read special", hpath);
        CHECK(erofs_readlink(&s->fs, ino, lbuf, sizeof(lbuf)) == -EINVAL, "%s: readlink", hpath);
        break;
    }
}

static void verify_dir(struct vstate *s, const char *hpath, uint64_t nid, uint64_t parent,
                       int depth)
{
    const struct erofs_fs *fs = &s->fs;
    struct erofs_inode dir;
    int r = erofs_iget(fs, nid, &dir);
    CHECK(r == 0 && erofs_is_dir(&dir), "%s: iget dir %d", hpath, r);
    if (r)
        return;

    /* host listing, sorted bytewise */
    DIR *d = opendir(hpath);
    if (!d)
        die(hpath);
    size_t hn = 0, hcap = 64, subdirs = 0;
    char **hnames = malloc(hcap * sizeof(char *));
    struct dirent *de;
    while ((de = readdir(d))) {
        if (hn == hcap)
            hnames = realloc(hnames, (hcap *= 2) * sizeof(char *));
        hnames[hn++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(hnames, hn, sizeof(char *), strptrcmp);

    struct list l;
    r = list_dir(fs, &dir, &l, 0);
    CHECK(r == 0, "%s: readdir %d", hpath, r);
    CHECK(l.n == hn, "%s: %zu entries vs %zu on host", hpath, l.n, hn);
    bool same = l.n == hn;
    for (size_t i = 0; same && i < hn; i++)
        same = strcmp(l.e[i].name, hnames[i]) == 0 && l.e[i].len == strlen(hnames[i]);
    CHECK(same, "%s: listing differs from host (or not sorted)", hpath);

    char child[4096];
    for (size_t i = 0; i < l.n; i++) {
        struct ent *e = &l.e[i];
        uint64_t lnid = ~0ull;
        uint8_t ltype = 0xee;
        r = erofs_lookup(fs, &dir, e->name, e->len, &lnid, &ltype);
        CHECK(r == 0 && lnid == e->nid && ltype == e->type, "%s/%s: lookup %d", hpath, e->name,
              r);
        if (!strcmp(e->name, ".")) {
            CHECK(e->nid == nid && e->type == EROFS_DT_DIR, "%s: '.' wrong", hpath);
            continue;
        }
        if (!strcmp(e->name, "..")) {
            CHECK(e->nid == parent && e->type == EROFS_DT_DIR, "%s: '..' wrong", hpath);
            continue;
        }
        path_join(child, sizeof(child), hpath, e->name);
        struct stat st;
        if (lstat(child, &st) < 0)
            continue; /* counted as a listing mismatch above */
        CHECK(e->type == dt_of_mode(st.st_mode), "%s: type %u", child, e->type);
        struct erofs_inode ino;
        r = erofs_iget(fs, e->nid, &ino);
        CHECK(r == 0 && ino.nid == e->nid, "%s: iget %d", child, r);
        if (r)
            continue;
        if (S_ISDIR(st.st_mode)) {
            subdirs++;
            if (depth < 100)
                verify_dir(s, child, e->nid, nid, depth + 1);
        }
        check_stat(s, child, &ino);
        /* lookup must also reject near-misses */
        char miss[260];
        memcpy(miss, e->name, e->len);
        miss[e->len] = '\x01';
        r = erofs_lookup(fs, &dir, miss, e->len + 1, &lnid, &ltype);
        CHECK(r == -ENOENT || (r == -ENAMETOOLONG && e->len == 255), "%s: near miss+ %d",
              child, r);
        if (e->len > 1) {
            r = erofs_lookup(fs, &dir, e->name, e->len - 1, &lnid, &ltype);
            char pfx[256], *key = pfx;
            memcpy(pfx, e->name, e->len - 1);
            pfx[e->len - 1] = 0;
            bool prefix_exists = bsearch(&key, hnames, hn, sizeof(char *), strptrcmp) != NULL;
            CHECK(prefix_exists ? r == 0 : r == -ENOENT, "%s: prefix lookup %d", child, r);
        }
    }
    (void)subdirs;

    /* misses before the first and after the last name */
    uint64_t lnid;
    uint8_t ltype;
    CHECK(erofs_lookup(fs, &dir, "\x01", 1, &lnid, &ltype) == -ENOENT, "%s: miss low", hpath);
    CHECK(erofs_lookup(fs, &dir, "\xff\xff", 2, &lnid, &ltype) == -ENOENT, "%s: miss high",
          hpath);

    for (size_t i = 0; i < hn; i++)
        free(hnames[i]);
    free(hnames);
    free(l.e);
}

static void verify_readdir_batches(struct vstate *s, const char *path)
{
    const struct erofs_fs *fs = &s->fs;
    struct erofs_inode dir;
    CHECK(resolve(fs, path, &dir) == 0, "resolve %s", path);
    struct list full, part;
    CHECK(list_dir(fs, &dir, &full, 0) == 0, "list %s", path);
    static const size_t batches[] = {1, 2, 7, 64, 333, 4096};
    for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
        int r = list_dir(fs, &dir, &part, batches[b]);
        bool same = r == 0 && part.n == full.n;
        for (size_t i = 0; same && i < full.n; i++)
            same = part.e[i].nid == full.e[i].nid && part.e[i].type == full.e[i].type &&
                   !strcmp(part.e[i].name, full.e[i].name);
        CHECK(same, "%s: batch %zu listing differs (r=%d n=%zu/%zu)", path, batches[b], r,
              part.n, full.n);
        free(part.e);
    }
    /* a callback refusing the first entry: returns 1, consumes nothing */
    struct list none = {.stop_every = 0};
    none.stop_every = 1;
    none.taken = 1;
    uint64_t pos = 0;
    CHECK(erofs_readdir(fs, &dir, &pos, list_cb, &none) == 1 && pos == 0 && none.n == 0,
          "%s: refused entry consumed", path);
    pos = 5;
    CHECK(erofs_readdir(fs, &dir, &pos, list_cb, &none) == -EINVAL, "%s: bad cookie", path);
    pos = dir.size;
    none.taken = 0;
    CHECK(erofs_readdir(fs, &dir, &pos, list_cb, &none) == 0 && none.n == 0, "%s: end", path);
    pos = ~0ull;
    CHECK(erofs_readdir(fs, &dir, &pos, list_cb, &none) == 0 && none.n == 0, "%s: far", path);
    free(full.e);
}

static void verify_variant(const struct variant *v, const char *img)
{
    struct vstate *s = calloc(1, sizeof(*s));
    s->v = v;
    s->im = load_image(img);
    int r = erofs_mount(&s->fs, s->im.data, s->im.size);
    CHECK(r == 0, "[%s] mount %d", v->name, r);
    if (r)
        return;
    const struct erofs_fs *fs = &s->fs;
    CHECK(fs->blksz == 4096 && fs->base == s->im.data && fs->size == s->im.size,
          "[%s] fs fields", v->name);
    if (v->fixed_time)
        CHECK(fs->build_time == (uint64_t)T_FIXED, "[%s] build time %llu", v->name,
              (unsigned long long)fs->build_time);

    struct erofs_inode root;
    CHECK(erofs_iget(fs, fs->root_nid, &root) == 0 && erofs_is_dir(&root), "[%s] root",
          v->name);
    check_stat(s, g_tree, &root);
    long before = g_fail;
    verify_dir(s, g_tree, fs->root_nid, fs->root_nid, 0);
    CHECK(fs->inos == 0 || (long)fs->inos <= s->n_inodes, "[%s] inos %llu vs %ld", v->name,
          (unsigned long long)fs->inos, s->n_inodes);
    printf("[%s] %ld inodes (%ld compact, %ld extended, %ld with xattrs), regular files: "
           "%ld inline / %ld plain, %ld in two runs; %s\n",
           v->name, s->n_inodes, s->n_compact, s->n_extended, s->n_xattr_inline,
           s->n_inline_reg, s->n_plain_reg, s->n_twice,
           g_fail == before ? "tree matches" : "MISMATCHES");

    /* coverage this variant is meant to give */
    if (v->want_inline)
        CHECK(s->n_inline_reg > 0 && s->n_twice > 0, "[%s] no inline regular files", v->name);
    CHECK(s->n_plain_reg > 0, "[%s] no plain regular files", v->name);
    if (v->want_compact)
        CHECK(s->n_compact > 0, "[%s] no compact inodes", v->name);
    CHECK(s->n_extended > 0, "[%s] no extended inodes", v->name);
    CHECK(s->n_xattr_inline > 0, "[%s] no inode with xattrs", v->name);

    /* path resolution and API errors */
    struct erofs_inode ino;
    char deep[1024] = "deep";
    for (int i = 0; i < DEEP_N; i++)
        snprintf(deep + strlen(deep), sizeof(deep) - strlen(deep), "/l%02d", i);
    strcat(deep, "/leaf");
    CHECK(resolve(fs, deep, &ino) == 0 && ino.size == 77, "[%s] deep leaf", v->name);
    CHECK(resolve(fs, "f1", &ino) == 0, "[%s] f1", v->name);
    uint64_t nid;
    uint8_t type;
    CHECK(erofs_lookup(fs, &ino, "x", 1, &nid, &type) == -ENOTDIR, "[%s] ENOTDIR", v->name);
    char lb[16];
    CHECK(erofs_readlink(fs, &ino, lb, sizeof(lb)) == -EINVAL, "[%s] readlink file", v->name);
    uint64_t pos = 0;
    CHECK(erofs_readdir(fs, &ino, &pos, list_cb, NULL) == -ENOTDIR, "[%s] readdir file",
          v->name);
    char n256[256];
    memset(n256, 'L', 256);
    CHECK(erofs_lookup(fs, &root, n256, 256, &nid, &type) == -ENAMETOOLONG, "[%s] 256",
          v->name);
    CHECK(erofs_lookup(fs, &root, n256, 255, &nid, &type) == -ENOENT, "[%s] 255", v->name);
    CHECK(erofs_lookup(fs, &root, n256, 254, &nid, &type) == 0 && type == EROFS_DT_REG,
          "[%s] 254", v->name);
    CHECK(erofs_lookup(fs, &root, n256, 253, &nid, &type) == -ENOENT, "[%s] 253", v->name);
    CHECK(erofs_lookup(fs, &root, "", 0, &nid, &type) == -ENOENT, "[%s] empty", v->name);
    CHECK(erofs_lookup(fs, &root, "f1", 2, NULL, NULL) == 0, "[%s] NULL outs", v->name);
    CHECK(erofs_lookup(fs, &root, "f1/", 3, &nid, &type) == -ENOENT, "[%s] slash", v->name);
    CHECK(erofs_iget(fs, (s->im.size / 32) + 1, &ino) == -EIO, "[%s] nid past end", v->name);
    CHECK(erofs_iget(fs, ~0ull, &ino) == -EIO, "[%s] nid ~0", v->name);
    CHECK(erofs_iget(fs, 1ull << 59, &ino) == -EIO, "[%s] nid 2^59", v->name);

    /* lookup every one of the 10,000 names, plus misses between them */
    struct erofs_inode many;
    CHECK(resolve(fs, "many", &many) == 0 && many.size > 40 * 4096, "[%s] many", v->name);
    long hits = 0, misses = 0;
    for (int i = 0; i < MANY_N; i++) {
        static const char *pfx[] = {"", "a", "file_with_a_rather_longer_name_", "-", "Z", "~"};
        char n[300];
        if (i % 1000 == 999) {
            memset(n, 'q', MKFS_NAME_MAX);
            snprintf(n + MKFS_NAME_MAX - 5, 6, "%05d", i);
        } else {
            snprintf(n, sizeof(n), "%s%d", pfx[i % 6], i);
        }
        uint8_t want = i % 97 == 0 ? EROFS_DT_DIR : i % 89 == 0 ? EROFS_DT_LNK : EROFS_DT_REG;
        if (erofs_lookup(fs, &many, n, strlen(n), &nid, &type) == 0 && type == want)
            hits++;
        strcat(n, "!");
        if (strlen(n) <= 255 && erofs_lookup(fs, &many, n, strlen(n), &nid, &type) == -ENOENT)
            misses++;
        else if (strlen(n) > 255)
            misses++;
    }
    CHECK(hits == MANY_N, "[%s] many: %ld/%d found", v->name, hits, MANY_N);
    CHECK(misses == MANY_N, "[%s] many: %ld/%d misses right", v->name, misses, MANY_N);

    verify_readdir_batches(s, "many");
    verify_readdir_batches(s, "");
    verify_readdir_batches(s, "special");

    free(s->im.data);
    free(s);
}

/* ---------------------------------------------------------------- corruption */

static void walk_ok(const struct image *im, const char *what)
{
    struct erofs_walk_stats st = {0};
    erofs_fuzz_walk(im->data, im->size, &st); /* aborts on an API violation */
    (void)what;
}

/* An xattr count that moves an inline tail (if >= 5 bytes) to block offset 4092, so that
 * it crosses into the next block. */
static uint16_t cross_count(const struct erofs_fs *fs, const struct erofs_inode *ino)
{
    uint64_t ioff = fs->meta_off + ino->nid * 32 + (ino->extended ? 64 : 32);
    /* want (ioff + 12 + 4 * (c - 1)) % 4096 == 4092 */
    uint64_t c = ((4084 + 4096 - ioff % 4096) % 4096) / 4;
    uint64_t tail = ino->size - (ino->size - 1) / 4096 * 4096;
    if (!ino->size || tail < 5)
        fprintf(stderr, "cross_count: tail too short on nid %llu\n", (unsigned long long)ino->nid);
    return (uint16_t)(c ? c : 1024);
}

static void corrupt_tests(const char *img)
{
    struct image base = load_image(img);
    struct erofs_fs fs;
    CHECK(erofs_mount(&fs, base.data, base.size) == 0, "corrupt: base mounts");
    struct erofs_walk_stats st0 = {0};
    CHECK(erofs_fuzz_walk(base.data, base.size, &st0) == 0 && st0.errors == 0 &&
              st0.inodes > 100,
          "walker on intact image: %llu inodes %llu errors", (unsigned long long)st0.inodes,
          (unsigned long long)st0.errors);

    struct erofs_inode big, f4097, root, many, symlong, symshort, fifo, xc;
    CHECK(resolve(&fs, "big", &big) == 0 && resolve(&fs, "f4097", &f4097) == 0 &&
              resolve(&fs, "", &root) == 0 && resolve(&fs, "many", &many) == 0 &&
              resolve(&fs, "sym_long", &symlong) == 0 &&
              resolve(&fs, "sym_short", &symshort) == 0 &&
              resolve(&fs, "special/fifo", &fifo) == 0 && resolve(&fs, "xattr/xc", &xc) == 0,
          "corrupt: resolve");
    struct erofs_fs cfs;
    struct erofs_inode ino;

    /* truncation: the superblock's block count no longer fits */
    size_t cuts[] = {0, 1, 100, 1023, 1024, 1100, 1151, 1152, 4095, 4096, 8192,
                     base.size / 2, base.size - 4096, base.size - 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        struct image t = dup_image(&base, cuts[i]);
        int r = erofs_mount(&cfs, t.data, t.size);
        int want = cuts[i] < 1152 ? -EINVAL : -EIO;
        CHECK(r == want, "truncated to %zu: mount %d, want %d", cuts[i], r, want);
        walk_ok(&t, "truncated");
        free(t.data);
    }
    /* truncated, with the block count patched to match: per-inode checks must catch it */
    {
        size_t cut = (size_t)(big.data_off + 4096);
        if (cut < base.size && big.data_off > fs.meta_off) {
            struct image t = dup_image(&base, cut);
            put32(t.data + 1024 + 36, (uint32_t)(cut / 4096));
            int r = erofs_mount(&cfs, t.data, t.size);
            CHECK(r == 0 || r == -EIO, "trunc+blocks: mount %d", r);
            if (r == 0)
                CHECK(erofs_iget(&cfs, big.nid, &ino) == -EIO, "trunc+blocks: big not EIO");
            walk_ok(&t, "trunc+blocks");
            free(t.data);
        }
    }

    /* superblock fields */
    struct {
        const char *what;
        size_t off;
        int width;
        uint64_t val;
        int want;
    } sbt[] = {
        {"bad magic", 0, 4, 0xE0F5E1E3, -EINVAL},
        {"zero magic", 0, 4, 0, -EINVAL},
        {"blkszbits 9", 12, 1, 9, -EINVAL},
        {"blkszbits 16", 12, 1, 16, -EINVAL},
        {"blkszbits 255", 12, 1, 255, -EINVAL},
        {"incompat 0x80", 80, 4, 0x80, -EINVAL},
        {"incompat 0x80000000", 80, 4, 0x80000000u, -EINVAL},
        {"incompat device table", 80, 4, 0x08, -EINVAL},
        {"incompat zero padding", 80, 4, 0x01, 0},
        {"compat garbage", 8, 4, 0xffffffff, 0},
        {"extra devices", 86, 2, 1, -EINVAL},
        {"meta_blkaddr huge", 40, 4, 0xffffffff, -EIO},
        {"meta_blkaddr at end", 40, 4, base.size / 4096, -EIO},
        {"blocks huge", 36, 4, 0xffffffff, -EIO},
        {"root is a file", 14, 2, big.nid, -EIO},
    };
    for (size_t i = 0; i < sizeof(sbt) / sizeof(sbt[0]); i++) {
        struct image t = dup_image(&base, base.size);
        uint8_t *p = t.data + 1024 + sbt[i].off;
        if (sbt[i].width == 1)
            p[0] = (uint8_t)sbt[i].val;
        else if (sbt[i].width == 2)
            put16(p, (uint16_t)sbt[i].val);
        else
            put32(p, (uint32_t)sbt[i].val);
        int r = erofs_mount(&cfs, t.data, t.size);
        CHECK(r == sbt[i].want, "sb %s: mount %d want %d", sbt[i].what, r, sbt[i].want);
        walk_ok(&t, sbt[i].what);
        free(t.data);
    }

    /* targeted inode damage; each case: patch, then iget must give `want` */
    enum { F16, F32, F64, F8 };
    struct {
        const char *what;
        uint64_t nid;
        size_t off;
        int kind;
        uint64_t val;
        int want;
    } it[] = {
        {"mode type 0", big.nid, 4, F16, 0644, -EIO},
        {"mode type 0170000", big.nid, 4, F16, 0170644, -EIO},
        {"layout compressed", big.nid, 0, F16, (uint16_t)(1 << 1) | (big.extended ? 1 : 0),
         -EOPNOTSUPP},
        {"layout compact compressed", big.nid, 0, F16, (3 << 1) | (big.extended ? 1 : 0),
         -EOPNOTSUPP},
        {"layout chunked", big.nid, 0, F16, (4 << 1) | (big.extended ? 1 : 0), -EOPNOTSUPP},
        {"layout 5", big.nid, 0, F16, (5 << 1) | (big.extended ? 1 : 0), -EIO},
        {"layout 7", big.nid, 0, F16, (7 << 1) | (big.extended ? 1 : 0), -EIO},
        {"format bit 4", big.nid, 0, F16, 0x10 | (big.extended ? 1 : 0), -EOPNOTSUPP},
        {"blkaddr past end", big.nid, 16, F32, base.size / 4096, -EIO},
        {"blkaddr ~0", big.nid, 16, F32, 0xffffffff, -EIO},
        {"blkaddr near end", big.nid, 16, F32, base.size / 4096 - 1, -EIO},
        {"root dir blkaddr ~0", root.nid, 16, F32, 0xffffffff,
         root.layout == EROFS_LAYOUT_FLAT_PLAIN || root.size > 4096 ? -EIO : 0},
        {"many blkaddr ~0", many.nid, 16, F32, 0xffffffff, -EIO},
        {"fifo blkaddr ~0", fifo.nid, 16, F32, 0xffffffff, 0},
        {"root: xattrs push tail across block", root.nid, 2, F16, cross_count(&fs, &root),
         root.layout == EROFS_LAYOUT_FLAT_INLINE ? -EIO : 0},
        {"symlink: xattrs push tail across block", symlong.nid, 2, F16,
         cross_count(&fs, &symlong), symlong.layout == EROFS_LAYOUT_FLAT_INLINE ? -EIO : 0},
        {"file: xattrs push tail across block", xc.nid, 2, F16, cross_count(&fs, &xc),
         xc.layout == EROFS_LAYOUT_FLAT_INLINE ? -EIO : 0},
    };
    for (size_t i = 0; i < sizeof(it) / sizeof(it[0]); i++) {
        struct image t = dup_image(&base, base.size);
        uint8_t *p = raw_inode(&fs, t.data, it[i].nid) + it[i].off;
        if (it[i].kind == F16)
            put16(p, (uint16_t)it[i].val);
        else if (it[i].kind == F32)
            put32(p, (uint32_t)it[i].val);
        else if (it[i].kind == F64)
            put64(p, it[i].val);
        else
            p[0] = (uint8_t)it[i].val;
        int r = erofs_mount(&cfs, t.data, t.size);
        if (it[i].nid == root.nid) {
            CHECK(r == it[i].want, "inode %s: mount %d want %d", it[i].what, r, it[i].want);
        } else {
            r = r ? r : erofs_iget(&cfs, it[i].nid, &ino);
            CHECK(r == it[i].want, "inode %s: iget %d want %d", it[i].what, r, it[i].want);
        }
        walk_ok(&t, it[i].what);
        free(t.data);
    }

    /* size fields: compact (32-bit at +8) or extended (64-bit at +8) */
    uint64_t sizes[] = {base.size, base.size + 1, 0xffffffffull, 1ull << 40, 1ull << 63,
                        ~0ull};
    const struct erofs_inode *victims[] = {&big, &f4097, &root, &many, &symlong};
    for (size_t v = 0; v < sizeof(victims) / sizeof(victims[0]); v++) {
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            if (!victims[v]->extended && sizes[i] > 0xffffffffull)
                continue;
            struct image t = dup_image(&base, base.size);
            uint8_t *p = raw_inode(&fs, t.data, victims[v]->nid) + 8;
            if (victims[v]->extended)
                put64(p, sizes[i]);
            else
                put32(p, (uint32_t)sizes[i]);
            int r = erofs_mount(&cfs, t.data, t.size);
            if (r == 0)
                r = erofs_iget(&cfs, victims[v]->nid, &ino);
            CHECK(r == -EIO, "size %#llx on nid %llu: %d", (unsigned long long)sizes[i],
                  (unsigned long long)victims[v]->nid, r);
            walk_ok(&t, "size");
            free(t.data);
        }
    }

    /* an inline tail that would cross its block */
    if (f4097.layout == EROFS_LAYOUT_FLAT_INLINE) {
        struct image t = dup_image(&base, base.size);
        uint8_t *p = raw_inode(&fs, t.data, f4097.nid);
        uint64_t room = 4096 - f4097.inline_off % 4096; /* tail bytes that fit */
        uint64_t nsz = 4096 + room + 1;
        if (f4097.extended)
            put64(p + 8, nsz);
        else
            put32(p + 8, (uint32_t)nsz);
        CHECK(erofs_mount(&cfs, t.data, t.size) == 0 && erofs_iget(&cfs, f4097.nid, &ino) == -EIO,
              "inline tail crossing block accepted");
        if (f4097.extended)
            put64(p + 8, 4096 + room);
        else
            put32(p + 8, (uint32_t)(4096 + room));
        CHECK(erofs_iget(&cfs, f4097.nid, &ino) == 0, "inline tail filling block refused");
        free(t.data);
    }

    /* symlink bodies: empty / too long */
    {
        struct image t = dup_image(&base, base.size);
        uint8_t *p = raw_inode(&fs, t.data, symshort.nid) + 8;
        char buf[64];
        if (symshort.extended)
            put64(p, 0);
        else
            put32(p, 0);
        CHECK(erofs_mount(&cfs, t.data, t.size) == 0 && erofs_iget(&cfs, symshort.nid, &ino) == 0 &&
                  erofs_readlink(&cfs, &ino, buf, sizeof(buf)) == -EIO,
              "empty symlink not EIO");
        free(t.data);
    }

    /* directory entries: find the raw block of "many" and of the root */
    {
        uint64_t avail;
        const uint8_t *blk0 = erofs_data(&fs, &many, 0, &avail);
        size_t boff = (size_t)(blk0 - base.data);
        uint16_t n0 = get16(blk0 + 8);
        uint16_t lastoff = get16(blk0 + 8 + (n0 - 12u));
        enum { E_EIO, E_BADNID, E_UNKNOWN_TYPE, E_LASTNAME };
        struct {
            const char *what;
            size_t off; /* within block 0 */
            uint64_t val;
            int w; /* bytes written; 0: special */
            int want;
        } dt[] = {
            {"nameoff0 = 0", 8, 0, 2, E_EIO},
            {"nameoff0 = 11", 8, 11, 2, E_EIO},
            {"nameoff0 = 4096", 8, 4096, 2, E_EIO},
            {"nameoff0 = 0xffff", 8, 0xffff, 2, E_EIO},
            {"nameoff1 beyond block", 12 + 8, 0xfff0, 2, E_EIO},
            {"nameoff1 before nameoff0", 12 + 8, n0 - 12u, 2, E_EIO},
            {"nameoff1 = nameoff0 (empty name)", 12 + 8, n0, 2, E_EIO},
            {"nameoff2 < nameoff1", 24 + 8, n0, 2, E_EIO},
            {"last nameoff past block", n0 - 12u + 8, 4096, 2, E_EIO},
            {"nid huge", 12, 0xffffffffffffull, 8, E_BADNID},
            {"file type 200", 12 + 10, 200, 1, E_UNKNOWN_TYPE},
            {"name has slash", 0, '/', 0, E_EIO},
            {"name has NUL", 0, 0, 0, E_EIO},
            {"last name runs to block end", 1, 0, 0, E_LASTNAME},
        };
        for (size_t i = 0; i < sizeof(dt) / sizeof(dt[0]); i++) {
            struct image t = dup_image(&base, base.size);
            uint8_t *b = t.data + boff;
            if (dt[i].w == 2)
                put16(b + dt[i].off, (uint16_t)dt[i].val);
            else if (dt[i].w == 8)
                put64(b + dt[i].off, dt[i].val);
            else if (dt[i].w == 1)
                b[dt[i].off] = (uint8_t)dt[i].val;
            else if (dt[i].off == 0)
                b[get16(b + 12 + 8) + 1] = (uint8_t)dt[i].val; /* 2nd name, 2nd byte */
            else
                memset(b + lastoff, 'x', 4096u - lastoff);
            int r = erofs_mount(&cfs, t.data, t.size);
            CHECK(r == 0, "dirent %s: mount %d", dt[i].what, r);
            struct list l;
            r = list_dir(&cfs, &many, &l, 0);
            if (dt[i].want == E_EIO)
                CHECK(r == -EIO, "dirent %s: readdir %d", dt[i].what, r);
            else if (dt[i].want == E_BADNID)
                CHECK(r == 0 && erofs_iget(&cfs, l.e[1].nid, &ino) == -EIO,
                      "dirent %s: readdir %d", dt[i].what, r);
            else if (dt[i].want == E_UNKNOWN_TYPE)
                CHECK(r == 0 && l.e[1].type == EROFS_DT_UNKNOWN, "dirent %s: %d", dt[i].what, r);
            else /* the last name now fills the block: corrupt if that is > 255 bytes */
                CHECK(r == (4096u - lastoff > 255 ? -EIO : 0), "dirent %s (%u bytes): readdir %d",
                      dt[i].what, 4096u - lastoff, r);
            free(l.e);
            /* lookups over the damaged directory: errors or answers, never a crash */
            uint64_t nid;
            uint8_t type;
            r = erofs_lookup(&cfs, &many, "a1", 2, &nid, &type);
            CHECK(r == 0 || r == -ENOENT || r == -EIO, "dirent %s: lookup %d", dt[i].what, r);
            walk_ok(&t, dt[i].what);
            free(t.data);
        }
    }

    /* random byte flips over the metadata (inode area and directory blocks) */
    {
        uint64_t lo = fs.meta_off, hi = base.size;
        if (big.data_off > lo && big.data_off < hi)
            hi = big.data_off; /* mkfs puts metadata first; skip the 1 MiB body */
        uint64_t rng = 0x12345678abcdefull;
        long mounted = 0, runs = 100;
        for (long k = 0; k < runs; k++) {
            struct image t = dup_image(&base, base.size);
            int flips = 1 + (int)(k % 16);
            for (int f = 0; f < flips; f++) {
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                uint64_t at = lo + rng % (hi - lo);
                t.data[at] ^= (uint8_t)(1u << (rng >> 40) % 8) | (uint8_t)(rng >> 48);
            }
            struct erofs_walk_stats st = {0};
            if (erofs_fuzz_walk(t.data, t.size, &st) == 0)
                mounted++;
            free(t.data);
        }
        CHECK(mounted > 0, "flips: never mounted");
        printf("random flips: %ld/%ld damaged images mounted and were walked\n", mounted, runs);
    }
    free(base.data);
}

static void small_flips(const char *img)
{
    struct image base = load_image(img);
    uint64_t rng = 0xfeedface12345ull;
    long mounted = 0, runs = 4000;
    for (long k = 0; k < runs; k++) {
        struct image t = dup_image(&base, base.size);
        int flips = 1 + (int)(k % 8);
        for (int f = 0; f < flips; f++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            /* mostly past the superblock's magic, so that most images still mount */
            uint64_t at = 1024 + 8 + rng % (base.size - 1032);
            t.data[at] = (uint8_t)(rng >> 32);
        }
        struct erofs_walk_stats st = {0};
        if (erofs_fuzz_walk(t.data, t.size, &st) == 0)
            mounted++;
        free(t.data);
    }
    CHECK(mounted > runs / 10, "small flips: %ld mounted", mounted);
    printf("small image flips: %ld/%ld mounted and walked\n", mounted, runs);
    free(base.data);
}

/* ---------------------------------------------------------------- synthetic image */

/* A hand-assembled image for what mkfs.erofs 1.5 cannot produce or rarely does:
 *   block 0: superblock (meta_blkaddr 1, build time 777.5, 5 blocks)
 *   block 1: inodes. nid 0 root: compact dir, FLAT_INLINE, size 4096 + 293, first block
 *            at block 2, tail inline at byte 32 of block 1 holding "b", 255 x 'c', "x"
 *            (the last name ends at the directory's end, no NUL);
 *            nid 16: extended file "ccc..." (255-byte name), uid 70000, mtime -5.000000001,
 *            FLAT_INLINE, 10 bytes inline; nid 20: compact symlink "x" -> "abc";
 *            nid 24: compact file "b", FLAT_PLAIN, 5000 bytes in blocks 3-4.
 *   block 2: root's first block: ".", "..", "A00aaa..." ... "A15aaa..." (hard links to
 *            "b"), the last name ending exactly at the block end. */
#define SYN_SIZE (5 * 4096)
#define SYN_TAIL 293
#define SYN_NA 16

static void syn_name_a(int i, char *out, size_t *len)
{
    size_t n = i == SYN_NA - 1 ? 247 : 242;
    memset(out, 'a', n);
    out[0] = 'A';
    out[1] = (char)('0' + i / 10);
    out[2] = (char)('0' + i % 10);
    *len = n;
}

static uint8_t *build_synth(void)
{
    uint8_t *img = calloc(1, SYN_SIZE);
    if (!img)
        die("calloc");
    uint8_t *sb = img + 1024;
    put32(sb, EROFS_SUPER_MAGIC);
    sb[12] = 12;
    put16(sb + 14, 0);
    put64(sb + 16, 4);
    put64(sb + 24, 777);
    put32(sb + 32, 5);
    put32(sb + 36, 5);
    put32(sb + 40, 1);

    uint8_t *m = img + 4096;
    /* root */
    put16(m, EROFS_LAYOUT_FLAT_INLINE << 1);
    put16(m + 4, 040755);
    put16(m + 6, 2);
    put32(m + 8, 4096 + SYN_TAIL);
    put32(m + 16, 2);
    put32(m + 20, 1);
    /* root tail: 3 dirents + "b" + c*255 + "x" */
    uint8_t *t = m + 32;
    put64(t, 24), put16(t + 8, 36), t[10] = 1;
    put64(t + 12, 16), put16(t + 20, 37), t[22] = 1;
    put64(t + 24, 20), put16(t + 32, 292), t[34] = 7;
    t[36] = 'b';
    memset(t + 37, 'c', 255);
    t[292] = 'x';
    /* nid 16: extended inline file */
    uint8_t *f = m + 16 * 32;
    put16(f, 1 | EROFS_LAYOUT_FLAT_INLINE << 1);
    put16(f + 4, 0100640);
    put64(f + 8, 10);
    put32(f + 16, 0xdeadbeef); /* no full blocks: ignored */
    put32(f + 20, 2);
    put32(f + 24, 70000);
    put32(f + 28, 5);
    put64(f + 32, (uint64_t)-5);
    put32(f + 40, 1);
    put32(f + 44, 1);
    memcpy(f + 64, "0123456789", 10);
    /* nid 20: symlink */
    uint8_t *l = m + 20 * 32;
    put16(l, EROFS_LAYOUT_FLAT_INLINE << 1);
    put16(l + 4, 0120777);
    put16(l + 6, 1);
    put32(l + 8, 3);
    put32(l + 20, 3);
    memcpy(l + 32, "abc", 3);
    /* nid 24: plain file in blocks 3-4 */
    uint8_t *b = m + 24 * 32;
    put16(b, EROFS_LAYOUT_FLAT_PLAIN << 1);
    put16(b + 4, 0100644);
    put16(b + 6, 1 + SYN_NA);
    put32(b + 8, 5000);
    put32(b + 16, 3);
    put32(b + 20, 4);
    put16(b + 24, 1000);
    put16(b + 26, 1001);
    for (int i = 0; i < 5000; i++)
        img[3 * 4096 + i] = pat((uint64_t)i, 99);
    /* root block 0 */
    uint8_t *d = img + 2 * 4096;
    int n = 2 + SYN_NA;
    uint16_t off = (uint16_t)(12 * n);
    for (int i = 0; i < n; i++) {
        uint8_t *de = d + 12 * i;
        put64(de, i < 2 ? 0 : 24);
        put16(de + 8, off);
        de[10] = i < 2 ? 2 : 1;
        if (i < 2) {
            memcpy(d + off, "..", (size_t)i + 1);
            off = (uint16_t)(off + i + 1);
        } else {
            size_t len;
            syn_name_a(i - 2, (char *)d + off, &len);
            off = (uint16_t)(off + len);
        }
    }
    if (off != 4096) {
        fprintf(stderr, "synthetic directory block is %u bytes\n", off);
        exit(2);
    }
    return img;
}

static void synth_tests(void)
{
    uint8_t *img = build_synth();
    struct image im = {.data = img, .size = SYN_SIZE};
    struct erofs_fs fs;
    struct erofs_inode root, ino;
    CHECK(erofs_mount(&fs, img, SYN_SIZE) == 0, "synth: mount");
    CHECK(fs.build_time == 777 && fs.build_time_nsec == 5 && fs.inos == 4 && fs.root_nid == 0 &&
              fs.meta_off == 4096,
          "synth: superblock fields");
    CHECK(erofs_iget(&fs, 0, &root) == 0 && root.layout == EROFS_LAYOUT_FLAT_INLINE &&
              root.size == 4096 + SYN_TAIL && root.data_off == 2 * 4096 &&
              root.inline_off == 4096 + 32 && root.mtime == 777 && root.mtime_nsec == 5 &&
              root.nlink == 2 && root.ino == 1 && !root.extended,
          "synth: root inode");

    /* listing: 2 + 16 + 3 entries, sorted, across the block and the inline tail */
    struct list l;
    CHECK(list_dir(&fs, &root, &l, 0) == 0 && l.n == 2 + SYN_NA + 3, "synth: readdir %zu", l.n);
    bool ok = l.n == 2 + SYN_NA + 3;
    for (size_t i = 0; ok && i < l.n; i++) {
        char want[256];
        size_t wl;
        if (i < 2) {
            memcpy(want, "..", i + 1);
            wl = i + 1;
        } else if (i < 2 + SYN_NA) {
            syn_name_a((int)i - 2, want, &wl);
        } else if (i == 2 + SYN_NA) {
            want[0] = 'b', wl = 1;
        } else if (i == 3 + SYN_NA) {
            memset(want, 'c', 255), wl = 255;
        } else {
            want[0] = 'x', wl = 1;
        }
        ok = l.e[i].len == wl && !memcmp(l.e[i].name, want, wl);
        uint64_t nid;
        uint8_t type;
        ok = ok && erofs_lookup(&fs, &root, want, wl, &nid, &type) == 0 && nid == l.e[i].nid &&
             type == l.e[i].type;
        if (i > 0)
            ok = ok && namecmp(l.e[i - 1].name, l.e[i - 1].len, l.e[i].name, l.e[i].len) < 0;
    }
    CHECK(ok, "synth: names, order and lookups");
    for (size_t batch = 1; batch < 25; batch += 3) {
        struct list p;
        int r = list_dir(&fs, &root, &p, batch);
        bool same = r == 0 && p.n == l.n;
        for (size_t i = 0; same && i < l.n; i++)
            same = p.e[i].len == l.e[i].len && !memcmp(p.e[i].name, l.e[i].name, l.e[i].len);
        CHECK(same, "synth: batch %zu", batch);
        free(p.e);
    }
    free(l.e);

    char c255[256], a14[256];
    size_t a14l;
    memset(c255, 'c', 255);
    syn_name_a(14, a14, &a14l);
    a14[a14l] = 0;
    uint64_t nid;
    uint8_t type;
    CHECK(erofs_lookup(&fs, &root, c255, 255, &nid, &type) == 0 && nid == 16 &&
              type == EROFS_DT_REG,
          "synth: 255-byte name");
    CHECK(erofs_lookup(&fs, &root, c255, 254, &nid, &type) == -ENOENT, "synth: 254 c");
    CHECK(erofs_lookup(&fs, &root, a14, a14l - 1, &nid, &type) == -ENOENT, "synth: A14 prefix");
    CHECK(erofs_lookup(&fs, &root, "B", 1, &nid, &type) == -ENOENT, "synth: between blocks");
    CHECK(erofs_lookup(&fs, &root, "y", 1, &nid, &type) == -ENOENT, "synth: after last");
    CHECK(erofs_lookup(&fs, &root, "-", 1, &nid, &type) == -ENOENT, "synth: before first");

    char buf[5100];
    CHECK(erofs_iget(&fs, 16, &ino) == 0 && ino.extended && ino.uid == 70000 && ino.gid == 5 &&
              ino.mtime == -5 && ino.mtime_nsec == 1 && ino.nlink == 1 && ino.mode == 0100640 &&
              ino.inline_off == 4096 + 16 * 32 + 64 && ino.ino == 2,
          "synth: extended inode");
    CHECK(erofs_read(&fs, &ino, buf, 0, sizeof(buf)) == 10 && !memcmp(buf, "0123456789", 10),
          "synth: inline file");
    CHECK(erofs_read(&fs, &ino, buf, 9, 5) == 1 && buf[0] == '9', "synth: inline tail read");
    CHECK(erofs_iget(&fs, 20, &ino) == 0 && erofs_readlink(&fs, &ino, buf, sizeof(buf)) == 3 &&
              !memcmp(buf, "abc", 3),
          "synth: symlink");
    CHECK(erofs_iget(&fs, 24, &ino) == 0 && ino.layout == EROFS_LAYOUT_FLAT_PLAIN &&
              ino.nlink == 1 + SYN_NA && ino.uid == 1000 && ino.gid == 1001 &&
              erofs_read(&fs, &ino, buf, 0, sizeof(buf)) == 5000,
          "synth: plain file");
    ok = true;
    for (int i = 0; i < 5000; i++)
        ok = ok && (uint8_t)buf[i] == pat((uint64_t)i, 99);
    CHECK(ok, "synth: plain file content");
    struct erofs_walk_stats st = {0};
    CHECK(erofs_fuzz_walk(img, SYN_SIZE, &st) == 0 && st.inodes == 4 && st.errors == 0 &&
              st.entries == 2 + SYN_NA + 3,
          "synth: walker %llu inodes %llu errors", (unsigned long long)st.inodes,
          (unsigned long long)st.errors);

    /* edges of the inode table: an empty directory at nid 28, slots at the image end */
    {
        struct image c = dup_image(&im, im.size);
        uint8_t *e = c.data + 4096 + 28 * 32;
        put16(e, EROFS_LAYOUT_FLAT_PLAIN << 1);
        put16(e + 4, 040700);
        put16(e + 6, 2);
        uint64_t last = (SYN_SIZE - 4096) / 32 - 1; /* nid of the image's last 32 bytes */
        uint8_t *z = c.data + SYN_SIZE - 32;
        memset(z, 0, 32);
        put16(z + 4, 0100600); /* compact empty file: fits */
        struct erofs_fs cfs;
        struct erofs_inode d;
        uint64_t pos = 0;
        struct list none = {0};
        CHECK(erofs_mount(&cfs, c.data, c.size) == 0 && erofs_iget(&cfs, 28, &d) == 0 &&
                  d.size == 0 && erofs_lookup(&cfs, &d, "a", 1, &nid, &type) == -ENOENT &&
                  erofs_lookup(&cfs, &d, ".", 1, &nid, &type) == -ENOENT &&
                  erofs_readdir(&cfs, &d, &pos, list_cb, &none) == 0 && none.n == 0,
              "synth: empty directory");
        CHECK(erofs_iget(&cfs, last, &ino) == 0 && ino.size == 0 &&
                  erofs_read(&cfs, &ino, buf, 0, 10) == 0,
              "synth: compact inode in the last slot");
        put16(z, 1); /* now extended: 64 bytes do not fit */
        CHECK(erofs_iget(&cfs, last, &ino) == -EIO, "synth: extended inode past the end");
        CHECK(erofs_iget(&cfs, last + 1, &ino) == -EIO, "synth: nid one past the end");
        CHECK(erofs_iget(&cfs, last + 2, &ino) == -EIO, "synth: nid two past the end");
        /* FLAT_INLINE with a whole-block tail: the inode (nid 126, extended) ends at the
         * end of block 1, so its last block is block 2, inline; block 3 holds the first. */
        uint8_t *w = c.data + 4096 + 126 * 32;
        put16(w, 1 | EROFS_LAYOUT_FLAT_INLINE << 1);
        put16(w + 4, 0100644);
        put64(w + 8, 8192);
        put32(w + 16, 3);
        put32(w + 44, 1);
        static uint8_t want[8192], got[8192];
        memcpy(want, c.data + 3 * 4096, 4096);
        memcpy(want + 4096, c.data + 2 * 4096, 4096);
        uint64_t avail;
        CHECK(erofs_iget(&cfs, 126, &ino) == 0 && ino.inline_off == 2 * 4096 &&
                  erofs_read(&cfs, &ino, got, 0, sizeof(got)) == 8192 &&
                  !memcmp(got, want, sizeof(want)) &&
                  erofs_data(&cfs, &ino, 4095, &avail) == c.data + 3 * 4096 + 4095 &&
                  avail == 1 && erofs_data(&cfs, &ino, 4096, &avail) == c.data + 2 * 4096 &&
                  avail == 4096,
              "synth: inline file with a whole-block tail");
        /* an image whose size is not a multiple of 32 or of the block size */
        struct image odd = dup_image(&c, c.size - 16);
        put32(odd.data + 1024 + 36, 4);
        CHECK(erofs_mount(&cfs, odd.data, odd.size) == 0 &&
                  erofs_iget(&cfs, last, &ino) == -EIO && erofs_iget(&cfs, 24, &ino) == 0 &&
                  erofs_read(&cfs, &ino, buf, 0, sizeof(buf)) == 5000,
              "synth: odd image size");
        walk_ok(&odd, "odd size");
        free(odd.data);
        free(c.data);
    }

    /* damage */
    struct {
        const char *what;
        size_t at;
        uint64_t val;
        int w, want_mount;
    } dmg[] = {
        {"root tail crosses block", 4096 + 8, 4096 * 2 - 31, 4, -EIO},
        {"root tail fills its block", 4096 + 8, 4096 * 2 - 32, 4, 0},
        {"root: 2 full blocks + tail", 4096 + 8, 4096 * 2 + 5, 4, 0},
        {"root block past image", 4096 + 16, 5, 4, -EIO},
        {"root block is the image's last", 4096 + 16, 4, 4, 0},
        {"image one block short", 1024 + 36, 6, 4, -EIO},
        {"meta_blkaddr 2: root nid 0 is a dirent", 1024 + 40, 2, 4, -EIO},
        {"meta_blkaddr 5: at the image end", 1024 + 40, 5, 4, -EIO},
        {"root is the symlink", 1024 + 14, 20, 2, -EIO},
        {"nid 16 size 4097", 4096 + 16 * 32 + 8, 4097, 8, 0},
    };
    for (size_t i = 0; i < sizeof(dmg) / sizeof(dmg[0]); i++) {
        struct image c = dup_image(&im, im.size);
        if (dmg[i].w == 2)
            put16(c.data + dmg[i].at, (uint16_t)dmg[i].val);
        else if (dmg[i].w == 4)
            put32(c.data + dmg[i].at, (uint32_t)dmg[i].val);
        else
            put64(c.data + dmg[i].at, dmg[i].val);
        struct erofs_fs cfs;
        int r = erofs_mount(&cfs, c.data, c.size);
        CHECK(r == dmg[i].want_mount, "synth %s: mount %d", dmg[i].what, r);
        walk_ok(&c, dmg[i].what);
        free(c.data);
    }
    /* nid 16 with size 4097: a full block at blkaddr 0xdeadbeef -> out of range */
    {
        struct image c = dup_image(&im, im.size);
        put64(c.data + 4096 + 16 * 32 + 8, 4097);
        struct erofs_fs cfs;
        CHECK(erofs_mount(&cfs, c.data, c.size) == 0 && erofs_iget(&cfs, 16, &ino) == -EIO,
              "synth: inline file with bogus blkaddr");
        free(c.data);
    }
    /* every byte of the superblock, inodes and directory blocks, set to a few values */
    long mounted = 0, runs = 0;
    for (size_t at = 1024; at < 3 * 4096; at++) {
        if (at >= 1024 + 128 && at < 4096)
            continue;
        uint8_t o = img[at];
        const uint8_t vals[] = {0,     0xff,         0x80,         0x7f,
                                o ^ 1, o ^ 0x20, (uint8_t)(o + 1), (uint8_t)(o - 1)};
        for (size_t vi = 0; vi < sizeof(vals); vi++) {
            uint8_t v = vals[vi];
            if (o == v)
                continue;
            struct image c = dup_image(&im, im.size);
            c.data[at] = (uint8_t)v;
            struct erofs_walk_stats ws = {0};
            if (erofs_fuzz_walk(c.data, c.size, &ws) == 0)
                mounted++;
            runs++;
            free(c.data);
        }
    }
    CHECK(mounted > runs / 2, "synth flips: %ld/%ld mounted", mounted, runs);
    printf("synthetic image: single-byte changes: %ld/%ld mounted and walked\n", mounted, runs);
    free(img);
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && !strcmp(argv[1], "--write-synth")) {
        /* fuzz seed: the synthetic image */
        uint8_t *img = build_synth();
        FILE *f = fopen(argv[2], "wb");
        if (!f || fwrite(img, 1, SYN_SIZE, f) != SYN_SIZE || fclose(f) != 0)
            die(argv[2]);
        free(img);
        return 0;
    }
    synth_tests();
    if (geteuid() != 0) {
        fprintf(stderr, "erofs_test: needs root (chown, mknod)\n");
        return 2;
    }
    if (system("mkfs.erofs --help >/dev/null 2>&1") != 0) {
        fprintf(stderr, "erofs_test: mkfs.erofs not found\n");
        return 2;
    }
    const char *tmpdir = getenv("TMPDIR");
    snprintf(g_tmp, sizeof(g_tmp), "%s/erofs_test.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(g_tmp))
        die("mkdtemp");
    snprintf(g_tree, sizeof(g_tree), "%s/tree", g_tmp);
    build_tree(g_tree);
    g_hostbuf = malloc(BIG_SIZE + 64);
    g_rdbuf = malloc(BIG_SIZE + 64 + 16384);

    static const struct variant variants[] = {
        {"default", "", false, false, false, true, false},
        {"noinline", "-E noinline_data", false, true, false, false, false},
        {"fixed-time", "-T 1234567890", true, false, false, true, true},
        {"extended", "-E force-inode-extended", false, false, true, true, false},
        {"extended-noinline", "-E force-inode-extended,noinline_data", false, true, true, false,
         false},
    };
    char img[512], first[512] = "";
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        snprintf(img, sizeof(img), "%s/%s.erofs", g_tmp, variants[i].name);
        int r = mkfs(img, variants[i].opts, g_tree);
        CHECK(r == 0, "mkfs.erofs %s: %d", variants[i].opts, r);
        if (r)
            continue;
        verify_variant(&variants[i], img);
        if (!first[0])
            strcpy(first, img);
    }
    if (first[0])
        corrupt_tests(first);

    /* a small image for many random corruptions */
    char small[512], simg[512], cmd[2048];
    snprintf(small, sizeof(small), "%s/small", g_tmp);
    snprintf(simg, sizeof(simg), "%s/small.erofs", g_tmp);
    snprintf(cmd, sizeof(cmd),
             "set -e; mkdir -p '%s/d/e'; cd '%s'; printf hello > a; head -c 5000 /dev/zero | "
             "tr '\\0' x > b; ln -s a l; echo 1 > d/e/f; ln a d/h",
             small, small);
    CHECK(system(cmd) == 0, "small tree");
    CHECK(mkfs(simg, "", small) == 0, "small mkfs");
    small_flips(simg);

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_tmp);
    if (getenv("EROFS_TEST_KEEP"))
        printf("kept %s\n", g_tmp);
    else if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", g_tmp);
    free(g_hostbuf);
    free(g_rdbuf);
    printf("%ld passed, %ld failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
