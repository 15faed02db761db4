/* /sys: only what programs read to learn the machine — the CPUs. glibc's get_nprocs() and
 * sysconf(_SC_NPROCESSORS_*) read /sys/devices/system/cpu/{online,possible}; the VM's CPUs
 * are all possible, present and online from boot. Read-only, like a container's /sys. */
#include "vfs.h"
#include "core/kernel.h"
#include "libos/fmt.h"
#include "libos/string.h"

enum { SK_ROOT = 1, SK_DEVICES, SK_SYSTEM, SK_CPU, SK_ONLINE, SK_POSSIBLE, SK_PRESENT };

struct sent {
    const char *name;
    int parent, kind;
    u32 mode;
};

static const struct sent sents[] = {
    {"devices", SK_ROOT, SK_DEVICES, S_IFDIR | 0755},
    {"system", SK_DEVICES, SK_SYSTEM, S_IFDIR | 0755},
    {"cpu", SK_SYSTEM, SK_CPU, S_IFDIR | 0755},
    {"online", SK_CPU, SK_ONLINE, S_IFREG | 0444},
    {"possible", SK_CPU, SK_POSSIBLE, S_IFREG | 0444},
    {"present", SK_CPU, SK_PRESENT, S_IFREG | 0444},
};

static const struct sent *by_kind(int kind)
{
    for (size_t i = 0; i < ARRAY_LEN(sents); i++)
        if (sents[i].kind == kind)
            return &sents[i];
    return NULL;
}

int sysfs_lookup(const char *rel, struct node *n)
{
    int kind = SK_ROOT;
    u32 mode = S_IFDIR | 0755;
    const char *p = rel, *name;
    size_t len;
    while ((name = path_next(&p, &len))) {
        const struct sent *found = NULL;
        for (size_t i = 0; i < ARRAY_LEN(sents) && !found; i++)
            if (sents[i].parent == kind && strlen(sents[i].name) == len &&
                !memcmp(sents[i].name, name, len))
                found = &sents[i];
        if (!S_ISDIR(mode) || !found)
            return -ENOENT;
        kind = found->kind;
        mode = found->mode;
    }
    n->mode = mode;
    n->special_kind = kind;
    return 0;
}

static int sys_stat(struct file *f, struct linux_stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_dev = 6;
    st->st_ino = (u64)f->kind + 2;
    st->st_mode = f->mode;
    st->st_nlink = S_ISDIR(f->mode) ? 2 : 1;
    st->st_size = S_ISDIR(f->mode) ? 0 : 4096; /* sysfs shows a page for attributes */
    st->st_blksize = 4096;
    i64 boot = (i64)(bootinfo->wall_ns / 1000000000ull);
    st->st_atime_sec = st->st_mtime_sec = st->st_ctime_sec = boot;
    return 0;
}

static int dir_getdents(struct file *f, struct dirent_sink *sink)
{
    u64 start = sink->used;
    for (;; f->dir_pos++) {
        bool ok;
        if (f->dir_pos < 2) {
            const struct sent *d = by_kind(f->kind);
            u64 ino = f->dir_pos == 0 ? (u64)f->kind + 2 : (u64)(d ? d->parent : SK_ROOT) + 2;
            ok = dirent_emit(sink, ino, DT_DIR, "..", (size_t)f->dir_pos + 1);
        } else if (f->dir_pos - 2 < ARRAY_LEN(sents)) {
            const struct sent *d = &sents[f->dir_pos - 2];
            if (d->parent != f->kind)
                continue;
            ok = dirent_emit(sink, (u64)d->kind + 2, S_ISDIR(d->mode) ? DT_DIR : DT_REG,
                             d->name, strlen(d->name));
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
    .stat = sys_stat,
    .lseek = file_dir_index_lseek,
    .getdents = dir_getdents,
};

static const struct file_ops text_ops = {
    .read = text_read,
    .stat = sys_stat,
    .lseek = text_lseek,
    .release = text_release,
};

int sysfs_open(const struct node *n, int flags, struct file **out)
{
    if (S_ISDIR(n->mode))
        return special_open(&dir_ops, n, flags, out);
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
        return -EACCES;
    /* online, possible, present: the CPU list "0" or "0-N". */
    char text[32];
    u32 cpus = bootinfo->ncpus ? bootinfo->ncpus : 1;
    int len = cpus > 1 ? snprintf_l(text, sizeof text, "0-%u\n", cpus - 1)
                       : snprintf_l(text, sizeof text, "0\n");
    return text_open(&text_ops, n, flags, text, (u64)len, out);
}
