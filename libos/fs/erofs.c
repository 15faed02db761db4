/* EROFS reader (see erofs.h). Written from the on-disk format description:
 *
 *   superblock at byte 1024 (all fields little-endian):
 *     +0 magic  +8 feature_compat  +12 blkszbits  +14 root_nid(16)  +16 inos(64)
 *     +24 build_time(64)  +32 build_time_nsec  +36 blocks  +40 meta_blkaddr
 *     +80 feature_incompat  +86 extra_devices(16)  +90 dirblkbits(8)
 *   inode `nid` at meta_blkaddr * blksz + nid * 32:
 *     compact (32 B):  +0 format +2 xattr_icount +4 mode +6 nlink(16) +8 size(32)
 *                      +16 blkaddr/rdev +20 ino +24 uid(16) +26 gid(16)
 *     extended (64 B): +0 format +2 xattr_icount +4 mode +8 size(64) +16 blkaddr/rdev
 *                      +20 ino +24 uid +28 gid +32 mtime(64) +40 mtime_nsec +44 nlink
 *     format: bit 0 = extended, bits 1..3 = data layout.
 *     xattrs (skipped) follow the inode: 12 + 4 * (icount - 1) bytes when icount != 0.
 *   FLAT_PLAIN: data in consecutive blocks from blkaddr.
 *   FLAT_INLINE: all blocks but the last from blkaddr; the last (partial) block right
 *     after the inode's xattrs, within the same block.
 *   directory block: dirents {nid(64), nameoff(16), file_type(8), reserved(8)}, then
 *     the names (not NUL-terminated); the first nameoff / 12 = number of dirents; the
 *     last name ends at the first NUL or at the block's (or directory's) end. Names are
 *     sorted (bytewise, shorter first on a tie) within and across blocks.
 */
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include "libos/types.h"
#include "libos/errno.h"
#include "libos/string.h"
#include "erofs.h"

#define SB_SIZE 128u
#define NID_SHIFT 5 /* inode slots are 32 bytes */
#define COMPACT_ISIZE 32u
#define EXTENDED_ISIZE 64u
#define DIRENT_SIZE 12u

/* feature_incompat bits we can live with: they only concern compressed or chunk-based
 * inodes (refused per inode with -EOPNOTSUPP) or xattrs (skipped):
 * 0x01 zero padding, 0x02 compression configs / big pclusters, 0x04 chunked files,
 * 0x10 ztailpacking, 0x20 fragments / dedupe, 0x40 xattr name prefixes.
 * Refused: 0x08 device table (flat block addresses may then point into other devices)
 * and anything newer (e.g. 48-bit layouts change the inode format). */
#define INCOMPAT_OK 0x77u

static inline uint16_t ld16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static inline uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t ld64(const uint8_t *p)
{
    return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

/* [off, off + len) lies inside the image (overflow-safe). */
static inline bool in_image(const struct erofs_fs *fs, uint64_t off, uint64_t len)
{
    return off <= fs->size && len <= fs->size - off;
}

static inline bool has_data(uint16_t mode)
{
    uint16_t t = mode & EROFS_S_IFMT;
    return t == EROFS_S_IFREG || t == EROFS_S_IFDIR || t == EROFS_S_IFLNK;
}

/* File offset where the inline tail of a FLAT_INLINE inode starts (size > 0). */
static inline uint64_t tail_start(const struct erofs_fs *fs, uint64_t size)
{
    return (size - 1) / fs->blksz * fs->blksz;
}

int erofs_mount(struct erofs_fs *fs, const void *base, uint64_t size)
{
    if (!fs || !base)
        return -EINVAL;
    memset(fs, 0, sizeof(*fs));
    if (size < EROFS_SUPER_OFFSET + SB_SIZE)
        return -EINVAL;
    const uint8_t *sb = (const uint8_t *)base + EROFS_SUPER_OFFSET;
    if (ld32(sb) != EROFS_SUPER_MAGIC)
        return -EINVAL;
    if (sb[12] != 12) /* blkszbits: 4 KiB blocks only */
        return -EINVAL;
    if (ld32(sb + 80) & ~INCOMPAT_OK)
        return -EINVAL;
    if (ld16(sb + 86) != 0 || sb[90] != 0) /* extra devices; directory block size */
        return -EINVAL;

    struct erofs_fs f;
    f.base = (const uint8_t *)base;
    f.size = size;
    f.blksz = 4096;
    f.root_nid = ld16(sb + 14);
    f.inos = ld64(sb + 16);
    f.build_time = ld64(sb + 24);
    f.build_time_nsec = ld32(sb + 32);
    f.meta_off = (uint64_t)ld32(sb + 40) * f.blksz;

    uint64_t blocks = ld32(sb + 36);
    if (blocks * f.blksz > size) /* truncated image */
        return -EIO;
    if (f.meta_off >= size)
        return -EIO;

    struct erofs_inode root;
    int r = erofs_iget(&f, f.root_nid, &root);
    if (r < 0)
        return r == -EOPNOTSUPP ? r : -EIO;
    if (!erofs_is_dir(&root))
        return -EIO;
    *fs = f;
    return 0;
}

int erofs_iget(const struct erofs_fs *fs, uint64_t nid, struct erofs_inode *out)
{
    if (!fs || !out || fs->meta_off >= fs->size)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    if (nid > (fs->size - fs->meta_off) >> NID_SHIFT)
        return -EIO;
    uint64_t ioff = fs->meta_off + (nid << NID_SHIFT);
    if (!in_image(fs, ioff, COMPACT_ISIZE))
        return -EIO;
    const uint8_t *p = fs->base + ioff;

    uint16_t fmt = ld16(p);
    if (fmt & ~0xFu)
        return -EOPNOTSUPP; /* unknown i_format bits */
    bool ext = fmt & 1;
    uint16_t layout = (fmt >> 1) & 7;
    uint32_t isize = ext ? EXTENDED_ISIZE : COMPACT_ISIZE;
    if (!in_image(fs, ioff, isize))
        return -EIO;
    uint16_t xcount = ld16(p + 2);
    uint32_t xsize = xcount ? 12u + 4u * (uint32_t)(xcount - 1) : 0;

    out->nid = nid;
    out->extended = ext;
    out->layout = layout;
    out->mode = ld16(p + 4);
    out->ino = ld32(p + 20);
    uint32_t iu = ld32(p + 16);
    if (ext) {
        out->size = ld64(p + 8);
        out->uid = ld32(p + 24);
        out->gid = ld32(p + 28);
        out->mtime = (int64_t)ld64(p + 32);
        out->mtime_nsec = ld32(p + 40);
        out->nlink = ld32(p + 44);
    } else {
        out->nlink = ld16(p + 6);
        out->size = ld32(p + 8);
        out->uid = ld16(p + 24);
        out->gid = ld16(p + 26);
        out->mtime = (int64_t)fs->build_time;
        out->mtime_nsec = fs->build_time_nsec;
    }

    switch (out->mode & EROFS_S_IFMT) {
    case EROFS_S_IFREG:
    case EROFS_S_IFDIR:
    case EROFS_S_IFLNK:
        break;
    case EROFS_S_IFCHR:
    case EROFS_S_IFBLK:
        out->rdev = iu;
        return 0;
    case EROFS_S_IFIFO:
    case EROFS_S_IFSOCK:
        return 0;
    default:
        return -EIO;
    }

    uint64_t size = out->size;
    if (layout == EROFS_LAYOUT_COMPRESSED_FULL || layout == EROFS_LAYOUT_COMPRESSED_COMPACT ||
        layout == EROFS_LAYOUT_CHUNK_BASED)
        return -EOPNOTSUPP;
    if (layout != EROFS_LAYOUT_FLAT_PLAIN && layout != EROFS_LAYOUT_FLAT_INLINE)
        return -EIO;
    if (size > fs->size)
        return -EIO;

    uint64_t blocks_len = size; /* bytes stored in blocks at blkaddr */
    if (layout == EROFS_LAYOUT_FLAT_INLINE) {
        blocks_len = size ? tail_start(fs, size) : 0;
        if (!in_image(fs, ioff, (uint64_t)isize + xsize))
            return -EIO;
        out->inline_off = ioff + isize + xsize;
        if (size) {
            uint64_t tail = size - blocks_len;
            if (!in_image(fs, out->inline_off, tail))
                return -EIO;
            if (out->inline_off % fs->blksz + tail > fs->blksz)
                return -EIO; /* inline tail crosses a block boundary */
        }
    }
    out->data_off = (uint64_t)iu * fs->blksz;
    if (blocks_len && !in_image(fs, out->data_off, blocks_len))
        return -EIO;
    return 0;
}

const void *erofs_data(const struct erofs_fs *fs, const struct erofs_inode *ino, uint64_t off,
                       uint64_t *avail)
{
    uint64_t dummy;
    if (!avail)
        avail = &dummy;
    *avail = 0;
    if (!fs || !ino || !has_data(ino->mode) || off >= ino->size)
        return NULL;

    uint64_t start, n;
    if (ino->layout == EROFS_LAYOUT_FLAT_PLAIN) {
        if (!in_image(fs, ino->data_off, off))
            return NULL;
        start = ino->data_off + off;
        n = ino->size - off;
    } else if (ino->layout == EROFS_LAYOUT_FLAT_INLINE) {
        uint64_t ts = tail_start(fs, ino->size);
        if (off < ts) {
            if (!in_image(fs, ino->data_off, off))
                return NULL;
            start = ino->data_off + off;
            n = ts - off;
        } else {
            if (!in_image(fs, ino->inline_off, off - ts))
                return NULL;
            start = ino->inline_off + (off - ts);
            n = ino->size - off;
        }
    } else {
        return NULL;
    }
    /* iget validated this; re-check in case the inode did not come from it. */
    if (!in_image(fs, start, n))
        return NULL;
    *avail = n;
    return fs->base + start;
}

int64_t erofs_read(const struct erofs_fs *fs, const struct erofs_inode *ino, void *buf,
                   uint64_t off, uint64_t len)
{
    if (!fs || !ino)
        return -EINVAL;
    if (!has_data(ino->mode))
        return -EINVAL;
    if (off >= ino->size)
        return 0;
    if (len > ino->size - off)
        len = ino->size - off;
    if (len > (uint64_t)INT64_MAX)
        len = (uint64_t)INT64_MAX;
    uint8_t *dst = buf;
    uint64_t done = 0;
    while (done < len) {
        uint64_t avail;
        const void *src = erofs_data(fs, ino, off + done, &avail);
        if (!src || !avail)
            return -EIO;
        uint64_t n = MIN(avail, len - done);
        memcpy(dst + done, src, (size_t)n);
        done += n;
    }
    return (int64_t)done;
}

int64_t erofs_readlink(const struct erofs_fs *fs, const struct erofs_inode *ino, char *buf,
                       size_t bufsz)
{
    if (!fs || !ino)
        return -EINVAL;
    if ((ino->mode & EROFS_S_IFMT) != EROFS_S_IFLNK)
        return -EINVAL;
    if (ino->size == 0 || ino->size > EROFS_SYMLINK_MAX)
        return -EIO;
    uint64_t n = MIN((uint64_t)bufsz, ino->size);
    if (n == 0)
        return 0;
    return erofs_read(fs, ino, buf, 0, n);
}

/* ---- directories ---- */

struct dirblk {
    const uint8_t *p;
    uint32_t len;   /* valid bytes in this block */
    uint32_t names; /* offset of the first name */
    uint32_t n;     /* number of dirents */
};

static inline uint64_t dir_nblocks(const struct erofs_fs *fs, const struct erofs_inode *dir)
{
    return dir->size / fs->blksz + (dir->size % fs->blksz != 0);
}

static int dirblk_get(const struct erofs_fs *fs, const struct erofs_inode *dir, uint64_t blk,
                      struct dirblk *db)
{
    uint64_t off = blk * fs->blksz; /* blk < dir_nblocks, and size <= image size */
    if (off >= dir->size)
        return -EIO;
    uint64_t len = MIN((uint64_t)fs->blksz, dir->size - off);
    uint64_t avail;
    const uint8_t *p = erofs_data(fs, dir, off, &avail);
    if (!p || avail < len || len < DIRENT_SIZE)
        return -EIO;
    uint32_t names = ld16(p + 8);
    if (names < DIRENT_SIZE || names >= len)
        return -EIO;
    db->p = p;
    db->len = (uint32_t)len;
    db->names = names;
    db->n = names / DIRENT_SIZE;
    return 0;
}

/* Entry i of a block: name, validated to lie in the name area, to be 1..255 bytes with
 * no NUL or '/'. */
static int dirent_name(const struct dirblk *db, uint32_t i, const char **name, size_t *namelen)
{
    const uint8_t *de = db->p + (size_t)i * DIRENT_SIZE;
    uint32_t start = ld16(de + 8);
    if (start < db->names || start >= db->len)
        return -EIO;
    uint32_t end;
    if (i + 1 < db->n) {
        end = ld16(de + DIRENT_SIZE + 8);
        if (end <= start || end > db->len)
            return -EIO;
    } else {
        end = start + (uint32_t)strnlen((const char *)db->p + start, db->len - start);
        if (end == start)
            return -EIO;
    }
    uint32_t len = end - start;
    if (len > EROFS_NAME_LEN)
        return -EIO;
    const uint8_t *s = db->p + start;
    for (uint32_t k = 0; k < len; k++)
        if (s[k] == 0 || s[k] == '/')
            return -EIO;
    *name = (const char *)s;
    *namelen = len;
    return 0;
}

static inline uint64_t dirent_nid(const struct dirblk *db, uint32_t i)
{
    return ld64(db->p + (size_t)i * DIRENT_SIZE);
}

static uint8_t dirent_type(const struct dirblk *db, uint32_t i)
{
    static const uint8_t ft_to_dt[8] = {
        EROFS_DT_UNKNOWN, EROFS_DT_REG,  EROFS_DT_DIR,  EROFS_DT_CHR,
        EROFS_DT_BLK,     EROFS_DT_FIFO, EROFS_DT_SOCK, EROFS_DT_LNK,
    };
    uint8_t ft = db->p[(size_t)i * DIRENT_SIZE + 10];
    return ft < 8 ? ft_to_dt[ft] : EROFS_DT_UNKNOWN;
}

/* Bytewise order, a prefix sorts first (strcmp order for NUL-free names). */
static int namecmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, MIN(alen, blen));
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

int erofs_lookup(const struct erofs_fs *fs, const struct erofs_inode *dir, const char *name,
                 size_t namelen, uint64_t *nid_out, uint8_t *type_out)
{
    if (!fs || !dir || (!name && namelen))
        return -EINVAL;
    if (!erofs_is_dir(dir))
        return -ENOTDIR;
    if (namelen == 0)
        return -ENOENT;
    if (namelen > EROFS_NAME_LEN)
        return -ENAMETOOLONG;
    uint64_t nblocks = dir_nblocks(fs, dir);
    if (nblocks == 0)
        return -ENOENT;

    struct dirblk db;
    const char *s;
    size_t slen;
    int r, c;

    /* Last block whose first name is <= name: invariant first(lo) <= name < first(hi),
     * block 0 taken as a lower bound. */
    uint64_t lo = 0, hi = nblocks;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if ((r = dirblk_get(fs, dir, mid, &db)) < 0 || (r = dirent_name(&db, 0, &s, &slen)) < 0)
            return r;
        c = namecmp(name, namelen, s, slen);
        if (c == 0) {
            lo = mid;
            break;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid;
    }

    if ((r = dirblk_get(fs, dir, lo, &db)) < 0)
        return r;
    uint32_t l = 0, h = db.n; /* search [l, h) */
    while (l < h) {
        uint32_t m = l + (h - l) / 2;
        if ((r = dirent_name(&db, m, &s, &slen)) < 0)
            return r;
        c = namecmp(name, namelen, s, slen);
        if (c == 0) {
            if (nid_out)
                *nid_out = dirent_nid(&db, m);
            if (type_out)
                *type_out = dirent_type(&db, m);
            return 0;
        }
        if (c < 0)
            h = m;
        else
            l = m + 1;
    }
    return -ENOENT;
}

int erofs_readdir(const struct erofs_fs *fs, const struct erofs_inode *dir, uint64_t *pos,
                  erofs_dir_cb cb, void *ctx)
{
    if (!fs || !dir || !pos || !cb)
        return -EINVAL;
    if (!erofs_is_dir(dir))
        return -ENOTDIR;
    if (*pos >= dir->size)
        return 0;
    uint64_t blk = *pos / fs->blksz;
    uint32_t ofs = (uint32_t)(*pos % fs->blksz);
    if (ofs % DIRENT_SIZE)
        return -EINVAL;
    uint64_t nblocks = dir_nblocks(fs, dir);
    for (; blk < nblocks; blk++, ofs = 0) {
        struct dirblk db;
        int r = dirblk_get(fs, dir, blk, &db);
        if (r < 0)
            return r;
        uint64_t boff = blk * fs->blksz;
        for (uint32_t i = ofs / DIRENT_SIZE; i < db.n; i++) {
            const char *name;
            size_t namelen;
            if ((r = dirent_name(&db, i, &name, &namelen)) < 0)
                return r;
            if (cb(ctx, name, namelen, dirent_nid(&db, i), dirent_type(&db, i)))
                return 1;
            *pos = boff + (uint64_t)(i + 1) * DIRENT_SIZE;
        }
        *pos = boff + fs->blksz;
    }
    return 0;
}
