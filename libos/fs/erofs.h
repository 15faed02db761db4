/* EROFS reader for the libOS: the root image is mapped read-only into guest memory and
 * read in place (zero-copy). The image is untrusted: every offset and length taken from
 * it is bounds-checked against the mapping, a corrupt image yields -EIO, never an
 * out-of-bounds read. No allocation, no global state: `struct erofs_fs` carries all.
 *
 * Supported: 4 KiB blocks, compact (32-byte) and extended (64-byte) inodes, data layouts
 * FLAT_PLAIN and FLAT_INLINE (compressed and chunk-based inodes give -EOPNOTSUPP),
 * directories (sorted, binary-searched), symlinks, device/fifo/socket inodes. Extended
 * attributes are skipped (only their size is used, to find inline data).
 *
 * Errors are negative Linux errno values: -EINVAL (not an EROFS image / unsupported
 * superblock), -EIO (corrupt image or out-of-range nid), -EOPNOTSUPP (unsupported data
 * layout), -ENOENT, -ENOTDIR, -ENAMETOOLONG. */
#ifndef LIBOS_FS_EROFS_H
#define LIBOS_FS_EROFS_H
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#define EROFS_SUPER_OFFSET 1024u
#define EROFS_SUPER_MAGIC 0xE0F5E1E2u
#define EROFS_NAME_LEN 255u
#define EROFS_SYMLINK_MAX 4095u /* PATH_MAX - 1 */

/* i_format data layouts */
#define EROFS_LAYOUT_FLAT_PLAIN 0
#define EROFS_LAYOUT_COMPRESSED_FULL 1
#define EROFS_LAYOUT_FLAT_INLINE 2
#define EROFS_LAYOUT_COMPRESSED_COMPACT 3
#define EROFS_LAYOUT_CHUNK_BASED 4

/* Mode bits (Linux values). */
#define EROFS_S_IFMT 0170000
#define EROFS_S_IFSOCK 0140000
#define EROFS_S_IFLNK 0120000
#define EROFS_S_IFREG 0100000
#define EROFS_S_IFBLK 0060000
#define EROFS_S_IFDIR 0040000
#define EROFS_S_IFCHR 0020000
#define EROFS_S_IFIFO 0010000

/* Entry types reported by erofs_lookup / erofs_readdir: Linux d_type (DT_*) values. */
#define EROFS_DT_UNKNOWN 0
#define EROFS_DT_FIFO 1
#define EROFS_DT_CHR 2
#define EROFS_DT_DIR 4
#define EROFS_DT_BLK 6
#define EROFS_DT_REG 8
#define EROFS_DT_LNK 10
#define EROFS_DT_SOCK 12

struct erofs_fs {
    const uint8_t *base;      /* the mapped image */
    uint64_t size;            /* bytes mapped */
    uint64_t meta_off;        /* byte offset of the inode area (meta_blkaddr * blksz) */
    uint64_t root_nid;
    uint64_t build_time;      /* mtime of compact inodes */
    uint32_t build_time_nsec;
    uint32_t blksz;           /* always 4096 */
    uint64_t inos;            /* inode count from the superblock (informational) */
};

struct erofs_inode {
    uint64_t nid;
    uint16_t mode;        /* S_IF* | permission bits, Linux values */
    uint16_t layout;      /* EROFS_LAYOUT_FLAT_PLAIN or EROFS_LAYOUT_FLAT_INLINE */
    uint32_t nlink;
    uint32_t uid, gid;
    uint64_t size;
    int64_t mtime;
    uint32_t mtime_nsec;
    uint32_t ino;         /* the inode's i_ino field */
    uint64_t data_off;    /* FLAT_PLAIN: byte offset in image of block data;
                             FLAT_INLINE: of the non-tail blocks */
    uint64_t inline_off;  /* FLAT_INLINE: byte offset in image of the tail */
    uint32_t rdev;        /* character/block devices: Linux "new" dev_t encoding, as in
                             st_rdev ((minor & 0xff) | major << 8 | (minor & ~0xff) << 12) */
    bool extended;        /* 64-byte on-disk inode */
};

/* Validate the superblock and the root inode (must be a directory). `base` must stay
 * mapped while `fs` is used. -EINVAL: not EROFS / unsupported block size or feature;
 * -EIO: inconsistent (e.g. truncated) image. */
int erofs_mount(struct erofs_fs *fs, const void *base, uint64_t size);

/* Read and validate inode `nid` (data bounds included, so the data accessors below never
 * leave the image). -EIO if nid is out of range or the inode is corrupt. */
int erofs_iget(const struct erofs_fs *fs, uint64_t nid, struct erofs_inode *out);

/* Pointer to file bytes at `off`; *avail = bytes contiguous from there (to end of file or
 * of the contiguous run). NULL + *avail=0 at/after EOF and for inodes without data
 * (devices, fifos, sockets). Data is zero-copy from the image. */
const void *erofs_data(const struct erofs_fs *fs, const struct erofs_inode *ino, uint64_t off,
                       uint64_t *avail);

/* Copy up to `len` bytes from `off`; returns bytes copied (0 at/after EOF). */
int64_t erofs_read(const struct erofs_fs *fs, const struct erofs_inode *ino, void *buf,
                   uint64_t off, uint64_t len);

/* Look one name up in directory `dir` ("." and ".." included, as stored in the image).
 * *type_out gets the entry's DT_* type (may be NULL). */
int erofs_lookup(const struct erofs_fs *fs, const struct erofs_inode *dir, const char *name,
                 size_t namelen, uint64_t *nid_out, uint8_t *type_out);

/* Iterate entries starting at *pos (opaque cookie; 0 = start; includes "." and ".."),
 * in on-disk (sorted) order. Calls cb for each; `name` points into the image and is NOT
 * NUL-terminated. If cb returns nonzero, stop WITHOUT consuming that entry and return 1.
 * Returns 0 at end, <0 on error (-EINVAL for a malformed cookie). *pos is updated past
 * consumed entries. */
typedef int (*erofs_dir_cb)(void *ctx, const char *name, size_t namelen, uint64_t nid,
                            uint8_t type);
int erofs_readdir(const struct erofs_fs *fs, const struct erofs_inode *dir, uint64_t *pos,
                  erofs_dir_cb cb, void *ctx);

/* Copy the symlink target into buf (no NUL added; truncated to bufsz like readlink(2)).
 * Returns bytes copied; -EINVAL if not a symlink; -EIO if the target is empty or longer
 * than EROFS_SYMLINK_MAX. */
int64_t erofs_readlink(const struct erofs_fs *fs, const struct erofs_inode *ino, char *buf,
                       size_t bufsz);

static inline bool erofs_is_dir(const struct erofs_inode *ino)
{
    return (ino->mode & EROFS_S_IFMT) == EROFS_S_IFDIR;
}

#endif
