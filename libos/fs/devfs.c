/* /dev: a fixed table of entries. Memory devices (null, zero, full, random, urandom) are
 * served here; tty and console are the console's (console.c); stdin/stdout/stderr/fd are
 * symlinks into /proc/self/fd, as on Linux.
 *
 * A char device's special_kind is its Linux device number (what stat shows as st_rdev);
 * directories and symlinks use small numbers below any device number, so kinds stay unique
 * and vfs_stat can turn them into inode numbers. */
#include "devfs.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "libos/string.h"

#define MKDEV(ma, mi) (((ma) << 8) | (mi))

enum {
    DK_ROOT = 1,
    DK_SHM,
    DK_PTS,
    DK_STDIN,
    DK_STDOUT,
    DK_STDERR,
    DK_FD,
    DK_NULL = MKDEV(1, 3),
    DK_ZERO = MKDEV(1, 5),
    DK_FULL = MKDEV(1, 7),
    DK_RANDOM = MKDEV(1, 8),
    DK_URANDOM = MKDEV(1, 9),
    DK_TTY = MKDEV(5, 0),
    DK_CONSOLE = MKDEV(5, 1),
    DK_PTS0 = MKDEV(136, 0),
};

struct dent {
    const char *name;
    int parent;         /* kind of the directory holding it (0: /dev itself) */
    int kind;
    u32 mode;
    const char *target; /* symlinks */
};

static const struct dent dents[] = {
    {"", 0, DK_ROOT, S_IFDIR | 0755, NULL},
    {"null", DK_ROOT, DK_NULL, S_IFCHR | 0666, NULL},
    {"zero", DK_ROOT, DK_ZERO, S_IFCHR | 0666, NULL},
    {"full", DK_ROOT, DK_FULL, S_IFCHR | 0666, NULL},
    {"random", DK_ROOT, DK_RANDOM, S_IFCHR | 0666, NULL},
    {"urandom", DK_ROOT, DK_URANDOM, S_IFCHR | 0666, NULL},
    {"tty", DK_ROOT, DK_TTY, S_IFCHR | 0666, NULL},
    {"console", DK_ROOT, DK_CONSOLE, S_IFCHR | 0600, NULL},
    {"stdin", DK_ROOT, DK_STDIN, S_IFLNK | 0777, "/proc/self/fd/0"},
    {"stdout", DK_ROOT, DK_STDOUT, S_IFLNK | 0777, "/proc/self/fd/1"},
    {"stderr", DK_ROOT, DK_STDERR, S_IFLNK | 0777, "/proc/self/fd/2"},
    {"fd", DK_ROOT, DK_FD, S_IFLNK | 0777, "/proc/self/fd"},
    {"shm", DK_ROOT, DK_SHM, S_IFDIR | 01777, NULL},
    {"pts", DK_ROOT, DK_PTS, S_IFDIR | 0755, NULL},
    /* The terminal, when there is one: the console's descriptors name it in /proc/self/fd,
     * so following /dev/stdin there must reach something that opens. */
    {"0", DK_PTS, DK_PTS0, S_IFCHR | 0620, NULL},
};

static bool have_tty(void)
{
    return (bootinfo->flags & (UNO_BOOT_STDIN_TTY | UNO_BOOT_STDOUT_TTY | UNO_BOOT_STDERR_TTY)) != 0;
}

static bool visible(const struct dent *d) { return d->kind != DK_PTS0 || have_tty(); }

static const struct dent *by_kind(int kind)
{
    for (size_t i = 0; i < ARRAY_LEN(dents); i++)
        if (dents[i].kind == kind)
            return &dents[i];
    return NULL;
}

static const struct dent *child(int dir, const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_LEN(dents); i++) {
        const struct dent *d = &dents[i];
        if (d->parent == dir && visible(d) && strlen(d->name) == len && !memcmp(d->name, name, len))
            return d;
    }
    return NULL;
}

int devfs_lookup(const char *rel, struct node *n)
{
    const struct dent *d = &dents[0];
    const char *p = rel, *name;
    size_t len;
    while ((name = path_next(&p, &len))) {
        if (!S_ISDIR(d->mode))
            return -ENOENT;
        d = child(d->kind, name, len);
        if (!d)
            return -ENOENT;
    }
    n->mode = d->mode;
    n->special_kind = d->kind;
    return 0;
}

int devfs_readlink(const struct node *n, char *buf, u64 size)
{
    const struct dent *d = by_kind(n->special_kind);
    if (!d || !S_ISLNK(d->mode))
        return -EINVAL;
    u64 len = MIN((u64)strlen(d->target), size);
    memcpy(buf, d->target, len);
    return (int)len;
}

/* ------------------------------------------------------------------ random ------------ */
/* ChaCha20 (RFC 8439's block function) as a generator: the key comes from the host's seed,
 * and after every request the key is replaced by fresh keystream ("fast key erasure"), so
 * a later look at libOS memory does not reveal bytes already handed out. */

static u32 rng[16];
static bool rng_ready;

#define ROTL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
#define QR(a, b, c, d)                                                                         \
    do {                                                                                       \
        a += b; d ^= a; d = ROTL(d, 16);                                                       \
        c += d; b ^= c; b = ROTL(b, 12);                                                       \
        a += b; d ^= a; d = ROTL(d, 8);                                                        \
        c += d; b ^= c; b = ROTL(b, 7);                                                        \
    } while (0)

static void chacha_block(const u32 in[16], u8 out[64])
{
    u32 x[16];
    memcpy(x, in, sizeof x);
    for (int i = 0; i < 10; i++) {
        QR(x[0], x[4], x[8], x[12]);
        QR(x[1], x[5], x[9], x[13]);
        QR(x[2], x[6], x[10], x[14]);
        QR(x[3], x[7], x[11], x[15]);
        QR(x[0], x[5], x[10], x[15]);
        QR(x[1], x[6], x[11], x[12]);
        QR(x[2], x[7], x[8], x[13]);
        QR(x[3], x[4], x[9], x[14]);
    }
    for (int i = 0; i < 16; i++) {
        u32 v = x[i] + in[i];
        out[4 * i] = (u8)v;
        out[4 * i + 1] = (u8)(v >> 8);
        out[4 * i + 2] = (u8)(v >> 16);
        out[4 * i + 3] = (u8)(v >> 24);
    }
}

static u32 le32(const u8 *p) { return p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24; }

/* Next keystream block; words 12-13 are a 64-bit block counter. */
static void rng_next(u8 out[64])
{
    chacha_block(rng, out);
    if (++rng[12] == 0)
        rng[13]++;
}

/* Replace the key with unused keystream and restart the counter. */
static void rng_rekey(void)
{
    u8 blk[64];
    rng_next(blk);
    for (int i = 0; i < 8; i++)
        rng[4 + i] = le32(blk + 4 * i);
    rng[12] = rng[13] = 0;
    memset(blk, 0, sizeof blk);
}

static void rng_init(void)
{
    static const char sigma[16] = "expand 32-byte k";
    const u8 *seed = bootinfo->random;
    for (int i = 0; i < 4; i++)
        rng[i] = le32((const u8 *)sigma + 4 * i);
    for (int i = 0; i < 8; i++)
        rng[4 + i] = le32(seed + 4 * i);
    /* The nonce takes the rest of the seed and the TSC; the seed stays secret either way. */
    u64 t = platform_rdtsc();
    rng[14] = le32(seed + 32) ^ le32(seed + 40) ^ le32(seed + 48) ^ le32(seed + 56) ^ (u32)t;
    rng[15] = le32(seed + 36) ^ le32(seed + 44) ^ le32(seed + 52) ^ le32(seed + 60) ^ (u32)(t >> 32);
    rng_ready = true;
    rng_rekey();
}

void devfs_random(void *buf, u64 len)
{
    if (!rng_ready)
        rng_init();
    u8 blk[64], *p = buf;
    while (len) {
        rng_next(blk);
        u64 n = MIN(len, (u64)sizeof blk);
        memcpy(p, blk, n);
        p += n;
        len -= n;
    }
    memset(blk, 0, sizeof blk);
    rng_rekey();
}

static void rng_mix(const u8 *p, u64 len);

/* A forked child must not repeat its parent's stream: mix in its pid and the time. */
void devfs_random_fork(u32 pid)
{
    u64 t = platform_rdtsc();
    u8 m[12];
    memcpy(m, &t, 8);
    memcpy(m + 8, &pid, 4);
    rng_mix(m, sizeof m);
}

/* Writing to /dev/random adds to the key, as Linux mixes written data into its pool;
 * the rekey afterwards makes the mix non-linear. */
static void rng_mix(const u8 *p, u64 len)
{
    if (!rng_ready)
        rng_init();
    for (u64 i = 0; i < len; i++)
        rng[4 + (i / 4) % 8] ^= (u32)p[i] << (8 * (i % 4));
    rng_rekey();
}

/* ------------------------------------------------------------------ files ------------- */

static void synth_stat(struct linux_stat *st, int kind, u32 mode)
{
    memset(st, 0, sizeof *st);
    st->st_dev = 5;
    st->st_ino = (u64)(kind + 2); /* as vfs_stat numbers our nodes */
    st->st_mode = mode;
    st->st_nlink = S_ISDIR(mode) ? 2 : 1;
    st->st_blksize = 4096;
    if ((mode & S_IFMT) == S_IFCHR)
        st->st_rdev = (u64)kind;
    u64 now = time_wall_ns();
    st->st_atime_sec = st->st_mtime_sec = st->st_ctime_sec = (i64)(now / 1000000000ull);
    st->st_atime_nsec = st->st_mtime_nsec = st->st_ctime_nsec = (i64)(now % 1000000000ull);
}

static int dev_stat(struct file *f, struct linux_stat *st)
{
    synth_stat(st, f->kind, f->mode);
    return 0;
}

static i64 mem_read(struct file *f, void *buf, u64 len, i64 off)
{
    (void)off;
    switch (f->kind) {
    case DK_NULL:
        return 0;
    case DK_RANDOM:
    case DK_URANDOM:
        devfs_random(buf, len);
        return (i64)len;
    default: /* zero, full */
        memset(buf, 0, len);
        return (i64)len;
    }
}

static i64 mem_write(struct file *f, const void *buf, u64 len, i64 off)
{
    (void)off;
    if (f->kind == DK_FULL)
        return -ENOSPC;
    if (f->kind == DK_RANDOM || f->kind == DK_URANDOM)
        rng_mix(buf, len);
    return (i64)len;
}

/* Linux lets these devices seek anywhere and reports position 0. */
static i64 mem_lseek(struct file *f, i64 off, int whence)
{
    (void)off;
    if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END)
        return -EINVAL;
    f->off = 0;
    return 0;
}

static const struct file_ops mem_ops = {
    .read = mem_read,
    .write = mem_write,
    .stat = dev_stat,
    .lseek = mem_lseek,
};

/* Directories: dir_pos 0 is ".", 1 is "..", then 2 + i stands for dents[i]. */
static u8 dtype(u32 mode)
{
    switch (mode & S_IFMT) {
    case S_IFDIR: return DT_DIR;
    case S_IFCHR: return DT_CHR;
    case S_IFLNK: return DT_LNK;
    default: return DT_REG;
    }
}

static int dir_getdents(struct file *f, struct dirent_sink *sink)
{
    u64 start = sink->used;
    for (;; f->dir_pos++) {
        bool ok;
        if (f->dir_pos == 0) {
            ok = dirent_emit(sink, (u64)f->kind + 2, DT_DIR, ".", 1);
        } else if (f->dir_pos == 1) {
            const struct dent *d = by_kind(f->kind);
            u64 ino = d && d->parent ? (u64)d->parent + 2 : 2;
            ok = dirent_emit(sink, ino, DT_DIR, "..", 2);
        } else if (f->dir_pos - 2 < ARRAY_LEN(dents)) {
            const struct dent *d = &dents[f->dir_pos - 2];
            if (d->parent != f->kind || !visible(d))
                continue;
            ok = dirent_emit(sink, (u64)d->kind + 2, dtype(d->mode), d->name, strlen(d->name));
        } else {
            return 0;
        }
        if (!ok)
            return sink->used == start ? -EINVAL : 0; /* not even one entry fits */
    }
}

static const struct file_ops dir_ops = {
    .read = file_read_isdir,
    .write = file_write_isdir,
    .stat = dev_stat,
    .lseek = file_dir_index_lseek,
    .getdents = dir_getdents,
};

/* The console stream for a terminal device: stdin when opened read-only, else stdout; but
 * a stream that is the terminal beats one that is not (as with `prog </dev/null`). */
static int open_console(int flags, struct file **out)
{
    int which = (flags & O_ACCMODE) == O_RDONLY ? 0 : 1;
    if (!(bootinfo->flags & (UNO_BOOT_STDIN_TTY << which))) {
        for (int i = 0; i < 3; i++) {
            if (bootinfo->flags & (UNO_BOOT_STDIN_TTY << i)) {
                which = i;
                break;
            }
        }
    }
    return console_open(which, flags, out);
}

int devfs_open(const struct node *n, int flags, struct file **out)
{
    switch (n->special_kind) {
    case DK_ROOT:
    case DK_SHM:
    case DK_PTS:
        return special_open(&dir_ops, n, flags, out);
    case DK_NULL:
    case DK_ZERO:
    case DK_FULL:
    case DK_RANDOM:
    case DK_URANDOM:
        return special_open(&mem_ops, n, flags, out);
    case DK_TTY:
    case DK_PTS0:
        if (!have_tty())
            return -ENXIO; /* no controlling terminal */
        return open_console(flags, out);
    case DK_CONSOLE:
        return open_console(flags, out);
    default:
        return S_ISLNK(n->mode) ? -ELOOP : -ENOENT;
    }
}
