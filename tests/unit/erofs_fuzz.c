/* libFuzzer target for the EROFS reader (libos/fs/erofs.c), host-side.
 *
 * erofs_fuzz_walk() mounts the input as an image and walks it breadth-first with bounded
 * work: every inode reachable from the root is read through each accessor, every
 * directory is listed (in batches, exercising the resume cookie) and every listed name is
 * looked up again. Besides relying on ASan/UBSan for out-of-bounds reads, it abort()s
 * when the reader breaks a promise of its API (pointer outside the image, short read,
 * invalid name, cookie not advancing...). The unit test links this file too and runs the
 * walker over corrupted images. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/erofs.h"
#include "libos/errno.h"

struct erofs_walk_stats {
    uint64_t inodes;  /* inodes read successfully */
    uint64_t errors;  /* errors returned by the reader */
    uint64_t entries; /* directory entries listed */
    uint64_t bytes;   /* file bytes seen through erofs_data */
};

int erofs_fuzz_walk(const uint8_t *data, size_t size, struct erofs_walk_stats *st);

#define WALK_MAX_INODES 2048
#define WALK_QUEUE 512
#define WALK_BATCH 32
#define WALK_SEEN 4096 /* power of two, > WALK_MAX_INODES */

#define REQUIRE(c)                                                                              \
    do {                                                                                        \
        if (!(c))                                                                               \
            abort();                                                                            \
    } while (0)

struct batch {
    unsigned n;
    uint64_t nid[WALK_BATCH];
    uint8_t type[WALK_BATCH];
    size_t len[WALK_BATCH];
    char name[WALK_BATCH][EROFS_NAME_LEN];
};

static int batch_cb(void *ctx, const char *name, size_t namelen, uint64_t nid, uint8_t type)
{
    struct batch *b = ctx;
    if (b->n == WALK_BATCH)
        return 1; /* full: stop, this entry must be given to us again */
    REQUIRE(namelen >= 1 && namelen <= EROFS_NAME_LEN);
    REQUIRE(!memchr(name, 0, namelen) && !memchr(name, '/', namelen));
    memcpy(b->name[b->n], name, namelen);
    b->len[b->n] = namelen;
    b->nid[b->n] = nid;
    b->type[b->n] = type;
    b->n++;
    return 0;
}

/* Open-addressing set of visited nids (hard links and corrupt dirents pointing back up
 * would otherwise make the walk revisit the same directories). Returns true if new. */
static bool seen_add(uint64_t *set, uint64_t nid)
{
    uint64_t key = nid + 1; /* 0 marks a free slot */
    for (uint64_t h = (key * 0x9E3779B97F4A7C15ull) >> 52;; h = (h + 1) & (WALK_SEEN - 1)) {
        if (set[h] == key)
            return false;
        if (set[h] == 0) {
            set[h] = key;
            return true;
        }
    }
}

static void in_image(const struct erofs_fs *fs, const void *p, uint64_t n)
{
    const uint8_t *q = p;
    REQUIRE(q >= fs->base && n <= fs->size && (uint64_t)(q - fs->base) <= fs->size - n);
}

static void walk_data(const struct erofs_fs *fs, const struct erofs_inode *ino,
                      struct erofs_walk_stats *st)
{
    uint8_t buf[256];
    bool data = (ino->mode & EROFS_S_IFMT) == EROFS_S_IFREG ||
                (ino->mode & EROFS_S_IFMT) == EROFS_S_IFDIR ||
                (ino->mode & EROFS_S_IFMT) == EROFS_S_IFLNK;
    uint64_t avail = 1;
    if (!data) {
        REQUIRE(erofs_data(fs, ino, 0, &avail) == NULL && avail == 0);
        REQUIRE(erofs_read(fs, ino, buf, 0, sizeof(buf)) == -EINVAL);
        return;
    }
    /* A flat inode is at most two contiguous runs, ending exactly at EOF. */
    uint64_t off = 0;
    int runs = 0;
    while (off < ino->size) {
        const uint8_t *p = erofs_data(fs, ino, off, &avail);
        REQUIRE(p && avail > 0 && avail <= ino->size - off);
        in_image(fs, p, avail);
        volatile uint8_t sink = p[0]; /* touch both ends */
        sink = p[avail - 1];
        (void)sink;
        st->bytes += avail;
        off += avail;
        REQUIRE(++runs <= 2);
    }
    REQUIRE(erofs_data(fs, ino, ino->size, &avail) == NULL && avail == 0);

    /* erofs_read agrees with erofs_data at a few offsets. */
    uint64_t offs[4] = {0, ino->size / 2, ino->size ? ino->size - 1 : 0, ino->size + 3};
    for (int i = 0; i < 4; i++) {
        int64_t r = erofs_read(fs, ino, buf, offs[i], sizeof(buf));
        uint64_t want = offs[i] < ino->size ? ino->size - offs[i] : 0;
        if (want > sizeof(buf))
            want = sizeof(buf);
        REQUIRE(r >= 0 && (uint64_t)r == want);
        for (uint64_t k = 0; k < want;) {
            const uint8_t *p = erofs_data(fs, ino, offs[i] + k, &avail);
            REQUIRE(p && avail);
            uint64_t n = avail < want - k ? avail : want - k;
            REQUIRE(memcmp(p, buf + k, n) == 0);
            k += n;
        }
    }

    char link[EROFS_SYMLINK_MAX + 1];
    int64_t r = erofs_readlink(fs, ino, link, sizeof(link));
    if ((ino->mode & EROFS_S_IFMT) != EROFS_S_IFLNK)
        REQUIRE(r == -EINVAL);
    else if (ino->size == 0 || ino->size > EROFS_SYMLINK_MAX)
        REQUIRE(r == -EIO);
    else
        REQUIRE(r == (int64_t)ino->size);
    if (r == -EIO)
        st->errors++;
}

int erofs_fuzz_walk(const uint8_t *data, size_t size, struct erofs_walk_stats *st)
{
    struct erofs_fs fs;
    int r = erofs_mount(&fs, data, size);
    if (r < 0) {
        REQUIRE(r == -EINVAL || r == -EIO || r == -EOPNOTSUPP);
        return r;
    }
    REQUIRE(fs.blksz == 4096 && fs.base == data && fs.size == size);

    uint64_t queue[WALK_QUEUE];
    unsigned qh = 0, qt = 0; /* ring, qt - qh entries */
    queue[qt++ % WALK_QUEUE] = fs.root_nid;
    static const char big[EROFS_NAME_LEN + 1] = {0};
    uint64_t seen[WALK_SEEN] = {0};
    unsigned visits = 0;

    while (qh != qt && visits < WALK_MAX_INODES) {
        uint64_t nid = queue[qh++ % WALK_QUEUE];
        if (!seen_add(seen, nid))
            continue;
        visits++;
        struct erofs_inode ino;
        r = erofs_iget(&fs, nid, &ino);
        if (r < 0) {
            REQUIRE(r == -EIO || r == -EOPNOTSUPP);
            st->errors++;
            continue;
        }
        REQUIRE(ino.nid == nid);
        st->inodes++;
        walk_data(&fs, &ino, st);

        uint64_t lnid;
        uint8_t ltype;
        if (!erofs_is_dir(&ino)) {
            REQUIRE(erofs_lookup(&fs, &ino, "a", 1, &lnid, &ltype) == -ENOTDIR);
            uint64_t pos = 0;
            REQUIRE(erofs_readdir(&fs, &ino, &pos, batch_cb, NULL) == -ENOTDIR);
            continue;
        }
        REQUIRE(erofs_lookup(&fs, &ino, big, sizeof(big), &lnid, &ltype) == -ENAMETOOLONG);
        REQUIRE(erofs_lookup(&fs, &ino, "", 0, &lnid, &ltype) == -ENOENT);
        r = erofs_lookup(&fs, &ino, "..", 2, &lnid, &ltype);
        REQUIRE(r == 0 || r == -ENOENT || r == -EIO);

        struct batch b;
        uint64_t pos = 0;
        for (unsigned calls = 0; calls < 4096; calls++) {
            b.n = 0;
            uint64_t before = pos;
            r = erofs_readdir(&fs, &ino, &pos, batch_cb, &b);
            REQUIRE(r <= 1);
            if (r == 1)
                REQUIRE(b.n == WALK_BATCH && pos > before);
            if (b.n)
                REQUIRE(pos > before);
            st->entries += b.n;
            for (unsigned i = 0; i < b.n; i++) {
                int lr = erofs_lookup(&fs, &ino, b.name[i], b.len[i], &lnid, &ltype);
                REQUIRE(lr == 0 || lr == -ENOENT || lr == -EIO);
                bool dot = (b.len[i] == 1 && b.name[i][0] == '.') ||
                           (b.len[i] == 2 && b.name[i][0] == '.' && b.name[i][1] == '.');
                if (!dot && qt - qh < WALK_QUEUE)
                    queue[qt++ % WALK_QUEUE] = b.nid[i];
            }
            if (r != 1) {
                if (r < 0)
                    st->errors++;
                break;
            }
        }
    }
    return 0;
}

#ifndef EROFS_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct erofs_walk_stats st = {0};
    erofs_fuzz_walk(data, size, &st);
    return 0;
}
#endif
