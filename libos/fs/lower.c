/* Files and directories of the image (the lower layer), read in place, and directories
 * that merge the writable layer over the image. */
#include "vfs.h"
#include "core/kernel.h"
#include "core/kheap.h"
#include "io/ring.h"
#include "libos/string.h"
#include "arch/x86_64/platform.h"

static i64 lower_read(struct file *f, void *buf, u64 len, i64 off)
{
    u64 o = off < 0 ? (u64)f->off : (u64)off;
    i64 n = erofs_read(&rootfs, &f->ino, buf, o, len);
    if (n > 0 && off < 0)
        f->off += n;
    return n;
}

static i64 lower_write(struct file *f, const void *buf, u64 len, i64 off)
{
    (void)f, (void)buf, (void)len, (void)off;
    return -EBADF; /* opened read-only: writers get a copy-up at open */
}

static int lower_stat(struct file *f, struct linux_stat *st)
{
    stat_from_erofs(&f->ino, st);
    return 0;
}

static i64 lower_lseek(struct file *f, i64 off, int whence)
{
    return file_generic_lseek(f, off, whence, f->ino.size);
}

u64 lower_page_gpa(const struct file *f, u64 off)
{
    if (!f->has_lower || f->has_upper || (off & 4095) || off + 4096 > f->ino.size)
        return 0;
    u64 avail;
    const u8 *p = erofs_data(&rootfs, &f->ino, off, &avail);
    if (!p || avail < 4096 || ((u64)p & 4095))
        return 0;
    return virt_to_phys_dmap(p);
}

int lower_io_list(const struct file *f, u64 off, u64 len, struct uno_iov *out, int max)
{
    if (!f->has_lower || f->has_upper || off >= f->ino.size)
        return 0;
    len = MIN(len, f->ino.size - off);
    int n = 0;
    while (len && n < max) {
        u64 avail;
        const u8 *p = erofs_data(&rootfs, &f->ino, off, &avail);
        if (!p || !avail)
            break;
        u64 take = MIN(avail, len);
        out[n++] = (struct uno_iov){.gpa = virt_to_phys_dmap(p), .len = take};
        off += take;
        len -= take;
    }
    return n;
}

static const struct file_ops lower_ops = {
    .read = lower_read,
    .write = lower_write,
    .stat = lower_stat,
    .lseek = lower_lseek,
};

int lower_open(const struct node *n, int flags, struct file **out)
{
    struct file *f = file_alloc(&lower_ops, flags, n->mode, n->path);
    if (!f)
        return -ENFILE;
    f->ino = n->lower;
    f->has_lower = true;
    *out = f;
    return 0;
}

/* ---- directories ---- */

struct emit_ctx {
    struct dirent_sink *sink;
};

static int emit_lower(void *ctx, const char *name, size_t len, u64 nid, u8 type)
{
    struct emit_ctx *c = ctx;
    return dirent_emit(c->sink, nid, type, name, len) ? 0 : 1;
}

/* A growable list of names, for merging. */
struct namelist {
    u8 *buf;
    u64 used, cap;
};

static bool nl_add(struct namelist *l, u64 ino, u8 type, u8 wh, const char *name, size_t len)
{
    u64 need = 12 + len;
    if (l->used + need > l->cap) {
        u64 cap = l->cap ? l->cap * 2 : 8192;
        while (cap < l->used + need)
            cap *= 2;
        u8 *nb = kmalloc(cap);
        if (!nb)
            return false;
        if (l->buf) {
            memcpy(nb, l->buf, l->used);
            kfree(l->buf);
        }
        l->buf = nb;
        l->cap = cap;
    }
    u8 *p = l->buf + l->used;
    memcpy(p, &ino, 8);
    p[8] = type;
    p[9] = wh;
    p[10] = (u8)(len & 0xff);
    p[11] = (u8)(len >> 8);
    memcpy(p + 12, name, len);
    l->used += need;
    return true;
}

static u32 hash_name(const char *s, size_t len)
{
    u32 h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (u8)s[i]) * 16777619u;
    return h;
}

struct merge {
    struct namelist upper;
    u32 *table; /* offsets+1 into upper.buf, open addressing */
    u32 mask;
    struct dirent_sink *out;
};

static bool in_upper_set(struct merge *m, const char *name, size_t len)
{
    if (!m->table)
        return false;
    for (u32 i = hash_name(name, len) & m->mask;; i = (i + 1) & m->mask) {
        u32 v = m->table[i];
        if (!v)
            return false;
        const u8 *p = m->upper.buf + v - 1;
        size_t l = (size_t)(p[10] | p[11] << 8);
        if (l == len && !memcmp(p + 12, name, len))
            return true;
    }
}

static int merge_lower_cb(void *ctx, const char *name, size_t len, u64 nid, u8 type)
{
    struct merge *m = ctx;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return 0;
    if (in_upper_set(m, name, len))
        return 0;
    return dirent_emit(m->out, nid, type, name, len) ? 0 : -ENOMEM;
}

static int read_upper_dir(struct file *f, struct namelist *l)
{
    struct ring_op op = {.op = UNO_OP_OPEN, .arg = {O_RDONLY | O_DIRECTORY, 0}};
    const char *rel = upper_rel(f->path);
    op.in = rel;
    op.in_len = strlen(rel) + 1;
    i64 h = ring_call(&op);
    if (h < 0)
        return (int)h;
    static u8 buf[UNO_RING_SLOT];
    int err = 0;
    for (;;) {
        struct ring_op g = {.op = UNO_OP_GETDENTS, .handle = (u32)h, .out = buf,
                            .out_len = sizeof buf};
        i64 n = ring_call(&g);
        if (n <= 0) {
            err = (int)n;
            break;
        }
        for (i64 o = 0; o + (i64)sizeof(struct uno_dirent) <= n;) {
            struct uno_dirent *d = (struct uno_dirent *)(buf + o);
            if (d->reclen < sizeof *d || o + d->reclen > n || d->namelen > 255)
                break;
            if (!nl_add(l, d->ino, d->type, d->whiteout, d->name, d->namelen)) {
                err = -ENOMEM;
                break;
            }
            o += d->reclen;
        }
        if (err)
            break;
    }
    handle_close((u32)h);
    return err;
}

/* /etc: the generated defaults (etc.c) for the names neither layer has nor hides. */
static bool emit_etc_defaults(struct merge *m, const struct file *f, bool opaque)
{
    for (int k = 1; k <= ETC_DEFAULTS; k++) {
        const char *name = etc_default_name(k);
        size_t len = strlen(name);
        u64 nid;
        if (in_upper_set(m, name, len))
            continue; /* there, or deleted */
        if (f->has_lower && !opaque && erofs_lookup(&rootfs, &f->ino, name, len, &nid, NULL) == 0)
            continue;
        if (!dirent_emit(m->out, 0xffff0000ull + (u64)k, DT_REG, name, len))
            return false;
    }
    return true;
}

/* Build the whole merged listing once, at the first getdents. */
static int materialize(struct file *f)
{
    struct merge m = {0};
    int r = f->has_upper ? read_upper_dir(f, &m.upper) : 0;
    if (r)
        goto out;
    u64 count = 0;
    for (u64 o = 0; o < m.upper.used; count++)
        o += 12 + (u64)(m.upper.buf[o + 10] | m.upper.buf[o + 11] << 8);
    u32 size = 16;
    while (size < count * 2)
        size *= 2;
    m.mask = size - 1;
    m.table = kmalloc((u64)size * 4);
    if (!m.table) {
        r = -ENOMEM;
        goto out;
    }
    memset(m.table, 0, (u64)size * 4);
    bool opaque = false;
    for (u64 o = 0; o < m.upper.used;) {
        u8 *p = m.upper.buf + o;
        size_t len = (size_t)(p[10] | p[11] << 8);
        if (p[9] == 2)
            opaque = true;
        u32 i = hash_name((const char *)p + 12, len) & m.mask;
        while (m.table[i])
            i = (i + 1) & m.mask;
        m.table[i] = (u32)o + 1;
        o += 12 + len;
    }
    /* Size the output: every upper name + every lower name, generously. */
    u64 cap = m.upper.used * 3 + 4096 + (f->etc_defaults ? 256 : 0);
    if (f->has_lower && !opaque)
        cap += f->ino.size * 2 + 4096;
    struct dirent_sink sink = {.buf = kmalloc(cap), .size = cap};
    if (!sink.buf) {
        r = -ENOMEM;
        goto out;
    }
    m.out = &sink;
    dirent_emit(&sink, 1, DT_DIR, ".", 1);
    dirent_emit(&sink, 1, DT_DIR, "..", 2);
    for (u64 o = 0; o < m.upper.used;) {
        u8 *p = m.upper.buf + o;
        size_t len = (size_t)(p[10] | p[11] << 8);
        u64 ino;
        memcpy(&ino, p, 8);
        if (!p[9] && !dirent_emit(&sink, ino, p[8], (const char *)p + 12, len)) {
            r = -ENOMEM;
            break;
        }
        o += 12 + len;
    }
    if (!r && f->has_lower && !opaque) {
        u64 pos = 0;
        r = erofs_readdir(&rootfs, &f->ino, &pos, merge_lower_cb, &m);
    }
    if (!r && f->etc_defaults && !emit_etc_defaults(&m, f, opaque))
        r = -ENOMEM;
    if (r) {
        kfree(sink.buf);
        goto out;
    }
    f->priv = sink.buf;
    f->priv_len = sink.used;
out:
    kfree(m.upper.buf);
    kfree(m.table);
    return r;
}

static int dir_getdents(struct file *f, struct dirent_sink *sink)
{
    if (!f->has_upper && !f->etc_defaults) {
        struct emit_ctx c = {sink};
        int r = erofs_readdir(&rootfs, &f->ino, &f->dir_pos, emit_lower, &c);
        if (r == 1 && sink->used == 0)
            return -EINVAL; /* buffer too small for one entry */
        return r < 0 ? r : 0;
    }
    if (!f->priv) {
        int r = materialize(f);
        if (r)
            return r;
    }
    while (f->dir_pos < f->priv_len) {
        u8 *p = (u8 *)f->priv + f->dir_pos;
        u16 reclen = *(u16 *)(p + 16);
        if (sink->used + reclen > sink->size)
            return sink->used ? 0 : -EINVAL;
        memcpy(sink->buf + sink->used, p, reclen);
        *(i64 *)(sink->buf + sink->used + 8) = (i64)(f->dir_pos + reclen);
        sink->used += reclen;
        f->dir_pos += reclen;
    }
    return 0;
}

static int dir_stat(struct file *f, struct linux_stat *st)
{
    if (f->has_lower) {
        stat_from_erofs(&f->ino, st);
        return 0;
    }
    struct uno_stat u;
    i64 r = upper_stat(f->path, &u);
    if (r < 0)
        return (int)r;
    stat_from_upper(&u, st);
    return 0;
}

static i64 dir_lseek(struct file *f, i64 off, int whence)
{
    if (whence != SEEK_SET || off != 0)
        return -EINVAL;
    f->dir_pos = 0;
    kfree(f->priv);
    f->priv = NULL;
    return 0;
}

static void dir_release(struct file *f)
{
    kfree(f->priv);
    f->priv = NULL;
}

static const struct file_ops dir_ops = {
    .read = file_read_isdir,
    .write = file_write_isdir,
    .stat = dir_stat,
    .lseek = dir_lseek,
    .getdents = dir_getdents,
    .release = dir_release,
};

int dir_open_merged(const struct node *n, int flags, struct file **out)
{
    struct file *f = file_alloc(&dir_ops, flags, n->mode, n->path);
    if (!f)
        return -ENFILE;
    f->has_lower = n->has_lower && !n->opaque;
    if (f->has_lower)
        f->ino = n->lower;
    f->has_upper = upper_active() && n->in_upper;
    f->etc_defaults = !strcmp(n->path, "/etc") && !n->opaque;
    *out = f;
    return 0;
}
