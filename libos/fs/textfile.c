/* Files whose whole contents are made when they are opened (generated /sys and /etc files):
 * f->priv holds the bytes (kmalloc'd), f->priv_len their length, so reads at any offset see
 * one consistent snapshot. Each user supplies its own stat. */
#include "vfs.h"
#include "core/kernel.h"
#include "core/kheap.h"
#include "libos/string.h"

i64 text_read(struct file *f, void *buf, u64 len, i64 off)
{
    u64 pos = off >= 0 ? (u64)off : (u64)f->off;
    if (pos >= f->priv_len)
        return 0;
    u64 n = MIN(len, f->priv_len - pos);
    memcpy(buf, (const char *)f->priv + pos, n);
    if (off < 0)
        f->off += (i64)n;
    return (i64)n;
}

i64 text_lseek(struct file *f, i64 off, int whence)
{
    return file_generic_lseek(f, off, whence, f->priv_len);
}

void text_release(struct file *f)
{
    kfree(f->priv);
    f->priv = NULL;
}

int text_open(const struct file_ops *ops, const struct node *n, int flags, const char *text,
              u64 len, struct file **out)
{
    char *copy = kmalloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, text, len);
    int r = special_open(ops, n, flags, out);
    if (r) {
        kfree(copy);
        return r;
    }
    (*out)->priv = copy;
    (*out)->priv_len = len;
    return 0;
}
