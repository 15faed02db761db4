/* Memory: malloc, brk, anonymous and file mmap, munmap, mprotect, mremap, MAP_FIXED,
 * MAP_FIXED_NOREPLACE, madvise(MADV_DONTNEED), PROT_NONE reservations. Touching memory that
 * must fault is left to the `faults` program. Exits 1 if a CHECK failed. */
#include "guest.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define PG 4096ul
#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

static int all_bytes(const void *p, size_t n, unsigned char v)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != v) return 0;
    return 1;
}

static void malloc_tests(void)
{
    section("malloc");
    enum { N = 2000 };
    static unsigned char *blocks[N];
    static size_t sizes[N];
    uint64_t x = 12345;
    size_t total = 0;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        sizes[i] = (i % 100 == 99) ? 200000 + x % 300000 : 1 + x % 3000;
        blocks[i] = malloc(sizes[i]);
        if (!blocks[i]) break;
        memset(blocks[i], (unsigned char)i, sizes[i]);
        total += sizes[i];
    }
    int ok = 1;
    for (int i = 0; i < N; i++)
        if (!blocks[i] || !all_bytes(blocks[i], sizes[i], (unsigned char)i)) ok = 0;
    printf("allocated %d blocks, %zu bytes\n", N, total);
    CHECK("all blocks intact", ok);
    /* Free every other block, allocate again, check the survivors. */
    for (int i = 0; i < N; i += 2) free(blocks[i]), blocks[i] = NULL;
    for (int i = 0; i < N; i += 2) {
        blocks[i] = malloc(sizes[i]);
        if (blocks[i]) memset(blocks[i], 0xee, sizes[i]);
    }
    ok = 1;
    for (int i = 1; i < N; i += 2)
        if (!all_bytes(blocks[i], sizes[i], (unsigned char)i)) ok = 0;
    CHECK("survivors intact after free/malloc churn", ok);
    for (int i = 0; i < N; i++) free(blocks[i]);
    /* calloc returns zeroed memory, also when reusing freed memory. */
    unsigned char *c = calloc(1, 1 << 20);
    CHECK("calloc 1 MiB zeroed", c && all_bytes(c, 1 << 20, 0));
    free(c);
    /* realloc keeps contents. */
    unsigned char *r = malloc(100);
    fill_pattern(r, 100, 7);
    uint64_t h = fnv1a(r, 100, FNV_INIT);
    r = realloc(r, 5 << 20);
    CHECK("realloc to 5 MiB keeps contents", r && fnv1a(r, 100, FNV_INIT) == h);
    memset(r + 100, 1, (5 << 20) - 100);
    uint64_t h50 = fnv1a(r, 50, FNV_INIT);
    r = realloc(r, 50);
    CHECK("realloc shrink keeps contents", r && fnv1a(r, 50, FNV_INIT) == h50);
    free(r);
    /* A big allocation: 48 MiB. */
    size_t big = 48ul << 20;
    unsigned char *b = malloc(big);
    if (b) {
        for (size_t i = 0; i < big; i += PG) b[i] = (unsigned char)(i / PG);
        int bok = 1;
        for (size_t i = 0; i < big; i += PG)
            if (b[i] != (unsigned char)(i / PG)) bok = 0;
        CHECK("48 MiB malloc usable", bok);
    } else {
        CHECK("48 MiB malloc usable", 0);
    }
    free(b);
}

static void brk_tests(void)
{
    section("brk");
    char *b0 = (char *)syscall(SYS_brk, 0);
    CHECK("brk(0) returns the break", b0 != (char *)-1 && b0 != NULL);
    char *b1 = (char *)syscall(SYS_brk, b0 + (1 << 20));
    CHECK("brk grows by 1 MiB", b1 == b0 + (1 << 20));
    CHECK("new heap memory is zero", all_bytes(b0, 1 << 20, 0));
    memset(b0, 0xab, 1 << 20);
    CHECK("heap memory writable", all_bytes(b0, 1 << 20, 0xab));
    char *b2 = (char *)syscall(SYS_brk, b0 + 4096);
    CHECK("brk shrinks", b2 == b0 + 4096);
    CHECK("kept part intact", all_bytes(b0, 4096, 0xab));
    char *b3 = (char *)syscall(SYS_brk, b0 + 8192);
    CHECK("brk grows again", b3 == b0 + 8192);
    CHECK("regrown page is zero", all_bytes(b0 + 4096, 4096, 0));
    char *b4 = (char *)syscall(SYS_brk, (char *)1);
    CHECK("brk below start returns the current break", b4 == b3);
    char *b5 = (char *)syscall(SYS_brk, (char *)0x7ffffffff000);
    CHECK("absurd brk fails (returns the current break)", b5 == b3);
    syscall(SYS_brk, b0);
    /* sbrk-style use through the libc */
    /* (musl's sbrk refuses non-zero increments with ENOMEM; glibc's moves the break.) */
    void *s0 = sbrk(0);
    errno = 0;
    void *s1 = sbrk(65536);
    if (s1 == (void *)-1) {
        printf("sbrk(65536): %s\n", errname(errno));
    } else {
        void *s2 = sbrk(0);
        CHECK("sbrk(65536) moves the break", s1 == s0 && (char *)s2 == (char *)s0 + 65536);
        memset(s1, 1, 65536);
        sbrk(-65536);
    }
}

static void mmap_tests(void)
{
    section("mmap anonymous");
    size_t n = 64 * PG;
    unsigned char *p = mmap(NULL, n, RW, ANON, -1, 0);
    CHECK("mmap 256 KiB", p != MAP_FAILED);
    CHECK("page aligned", ((uintptr_t)p & (PG - 1)) == 0);
    CHECK("zero filled", all_bytes(p, n, 0));
    memset(p, 0x11, n);
    CHECK("writable", all_bytes(p, n, 0x11));
    /* munmap a hole in the middle, the rest stays */
    CHECK("munmap middle 16 pages ok", munmap(p + 16 * PG, 16 * PG) == 0);
    CHECK("head intact", all_bytes(p, 16 * PG, 0x11));
    CHECK("tail intact", all_bytes(p + 32 * PG, 32 * PG, 0x11));
    /* the hole can be mapped again at that address, fresh */
    unsigned char *h = mmap(p + 16 * PG, 16 * PG, RW, ANON | MAP_FIXED, -1, 0);
    CHECK("MAP_FIXED into the hole", h == p + 16 * PG);
    CHECK("refilled hole is zero", all_bytes(h, 16 * PG, 0));
    /* MAP_FIXED over a live mapping replaces it with zeroes */
    unsigned char *f = mmap(p + 40 * PG, 4 * PG, RW, ANON | MAP_FIXED, -1, 0);
    CHECK("MAP_FIXED over live pages", f == p + 40 * PG);
    CHECK("replaced pages zero", all_bytes(f, 4 * PG, 0));
    CHECK("neighbours intact", all_bytes(p + 32 * PG, 8 * PG, 0x11) &&
                                   all_bytes(p + 44 * PG, 20 * PG, 0x11));
    /* MAP_FIXED_NOREPLACE over a live mapping: EEXIST */
    errno = 0;
    void *nr = mmap(p + 50 * PG, PG, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0);
    printf("MAP_FIXED_NOREPLACE over live pages: %s\n",
           nr == MAP_FAILED ? errname(errno) : "mapped");
    CHECK("live page untouched by NOREPLACE", all_bytes(p + 50 * PG, PG, 0x11));
    munmap(p, n);
    /* NOREPLACE into a free range works */
    nr = mmap(p, PG, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0);
    CHECK("MAP_FIXED_NOREPLACE into a free range", nr == p);
    munmap(p, PG);
    /* A fresh mapping after munmap of a bigger one is zero, wherever it lands. */
    unsigned char *a = mmap(NULL, 0x101000, RW, ANON, -1, 0);
    memset(a, 0x5a, 0x101000);
    munmap(a, 0x101000);
    unsigned char *d = mmap(NULL, 2 * PG, RW, ANON, -1, 0);
    CHECK("fresh mapping after munmap is zero", d != MAP_FAILED && all_bytes(d, 2 * PG, 0));
    munmap(d, 2 * PG);
    for (int i = 0; i < 50; i++) {
        unsigned char *q = mmap(NULL, (size_t)(i % 7 + 1) * PG, RW, ANON, -1, 0);
        if (q == MAP_FAILED || !all_bytes(q, (size_t)(i % 7 + 1) * PG, 0)) {
            CHECK("50 map/fill/unmap rounds give zeroed memory", 0);
            break;
        }
        memset(q, 0x77, (size_t)(i % 7 + 1) * PG);
        munmap(q, (size_t)(i % 7 + 1) * PG);
        if (i == 49) CHECK("50 map/fill/unmap rounds give zeroed memory", 1);
    }
    /* Errors */
    errno = 0;
    printf("mmap len 0: %s\n", mmap(NULL, 0, RW, ANON, -1, 0) == MAP_FAILED ? errname(errno) : "ok");
    errno = 0;
    printf("mmap unaligned offset: %s\n",
           mmap(NULL, PG, RW, ANON, -1, 1) == MAP_FAILED ? errname(errno) : "ok");
    errno = 0;
    printf("mmap bad fd: %s\n",
           mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 99, 0) == MAP_FAILED ? errname(errno) : "ok");
    errno = 0;
    printf("mmap no type: %s\n",
           mmap(NULL, PG, RW, MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? errname(errno) : "ok");
    errno = 0;
    printf("munmap unaligned: %s\n", munmap((void *)(p + 1), PG) < 0 ? errname(errno) : "ok");
    errno = 0;
    printf("munmap of an unmapped range: %s\n", munmap(p, PG) < 0 ? errname(errno) : "ok");
    /* A hint is honoured when free (Linux does not promise it; both here do). */
    unsigned char *hint = mmap(NULL, 4 * PG, RW, ANON, -1, 0);
    munmap(hint, 4 * PG);
    unsigned char *hinted = mmap(hint, 4 * PG, RW, ANON, -1, 0);
    CHECK("free hint honoured", hinted == hint);
    munmap(hinted, 4 * PG);
    /* Many mappings at once. */
    void *maps[200];
    int mok = 1;
    for (int i = 0; i < 200; i++) {
        maps[i] = mmap(NULL, PG, RW, ANON, -1, 0);
        if (maps[i] == MAP_FAILED) {
            mok = 0;
            break;
        }
        memset(maps[i], i, PG);
    }
    for (int i = 0; mok && i < 200; i++)
        if (!all_bytes(maps[i], PG, (unsigned char)i)) mok = 0;
    CHECK("200 one-page mappings distinct", mok);
    for (int i = 0; mok && i < 200; i++) munmap(maps[i], PG);
}

static void mprotect_tests(void)
{
    section("mprotect");
    unsigned char *p = mmap(NULL, 4 * PG, RW, ANON, -1, 0);
    memset(p, 0x22, 4 * PG);
    CHECK("mprotect RW->R ok", mprotect(p, 4 * PG, PROT_READ) == 0);
    CHECK("readable after R", all_bytes(p, 4 * PG, 0x22));
    CHECK("mprotect R->RW ok", mprotect(p, 4 * PG, RW) == 0);
    memset(p, 0x33, 4 * PG);
    CHECK("writable again", all_bytes(p, 4 * PG, 0x33));
    CHECK("mprotect one page NONE and back", mprotect(p + PG, PG, PROT_NONE) == 0 &&
                                                 mprotect(p + PG, PG, RW) == 0);
    CHECK("contents kept across PROT_NONE", all_bytes(p, 4 * PG, 0x33));
    errno = 0;
    printf("mprotect unaligned: %s\n", mprotect(p + 1, PG, PROT_READ) < 0 ? errname(errno) : "ok");
    errno = 0;
    printf("mprotect bad prot: %s\n", mprotect(p, PG, 0x1000) < 0 ? errname(errno) : "ok");
    munmap(p, 4 * PG);
    errno = 0;
    printf("mprotect unmapped: %s\n", mprotect(p, PG, PROT_READ) < 0 ? errname(errno) : "ok");

    section("PROT_NONE reservation");
    size_t n = 256 * PG;
    unsigned char *r = mmap(NULL, n, PROT_NONE, ANON, -1, 0);
    CHECK("reserve 1 MiB PROT_NONE", r != MAP_FAILED);
    CHECK("mprotect middle 16 pages RW", mprotect(r + 100 * PG, 16 * PG, RW) == 0);
    CHECK("opened pages are zero", all_bytes(r + 100 * PG, 16 * PG, 0));
    memset(r + 100 * PG, 0x44, 16 * PG);
    CHECK("opened pages writable", all_bytes(r + 100 * PG, 16 * PG, 0x44));
    CHECK("grow the opening", mprotect(r + 116 * PG, 16 * PG, RW) == 0);
    CHECK("grown part zero, old part kept",
          all_bytes(r + 116 * PG, 16 * PG, 0) && all_bytes(r + 100 * PG, 16 * PG, 0x44));
    /* MAP_FIXED inside the reservation (how allocators commit) */
    unsigned char *c = mmap(r + 200 * PG, 8 * PG, RW, ANON | MAP_FIXED, -1, 0);
    CHECK("MAP_FIXED commit inside reservation", c == r + 200 * PG && all_bytes(c, 8 * PG, 0));
    memset(c, 0x55, 8 * PG);
    CHECK("munmap whole reservation", munmap(r, n) == 0);
}

static void mremap_tests(void)
{
    section("mremap");
    unsigned char *p = mmap(NULL, 4 * PG, RW, ANON, -1, 0);
    fill_pattern(p, 4 * PG, 99);
    uint64_t h4 = fnv1a(p, 4 * PG, FNV_INIT), h2 = fnv1a(p, 2 * PG, FNV_INIT);
    unsigned char *g = mremap(p, 4 * PG, 64 * PG, MREMAP_MAYMOVE);
    CHECK("grow 4->64 pages", g != MAP_FAILED);
    CHECK("contents preserved on grow", fnv1a(g, 4 * PG, FNV_INIT) == h4);
    CHECK("grown part zero", all_bytes(g + 4 * PG, 60 * PG, 0));
    memset(g + 4 * PG, 0x66, 60 * PG);
    unsigned char *s = mremap(g, 64 * PG, 2 * PG, 0);
    CHECK("shrink in place", s == g);
    CHECK("contents preserved on shrink", fnv1a(s, 2 * PG, FNV_INIT) == h2);
    /* grow without MAYMOVE where the next pages are taken: ENOMEM */
    unsigned char *blk = mmap(s + 2 * PG, PG, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0);
    if (blk == s + 2 * PG) {
        errno = 0;
        void *x = mremap(s, 2 * PG, 3 * PG, 0);
        printf("grow in place into a used page: %s\n", x == MAP_FAILED ? errname(errno) : "ok");
        x = mremap(s, 2 * PG, 3 * PG, MREMAP_MAYMOVE);
        CHECK("grow with MAYMOVE moves", x != MAP_FAILED && x != s);
        CHECK("moved contents preserved", x != MAP_FAILED && fnv1a(x, 2 * PG, FNV_INIT) == h2);
        CHECK("blocking page untouched", all_bytes(blk, PG, 0));
        s = x;
        munmap(blk, PG);
    } else {
        printf("could not place blocking page\n");
        guest_failures++;
    }
    /* move to a fixed address */
    unsigned char *dst = mmap(NULL, 8 * PG, RW, ANON, -1, 0);
    memset(dst, 0x77, 8 * PG);
    unsigned char *m = mremap(s, 3 * PG, 3 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst + 2 * PG);
    CHECK("MREMAP_FIXED to a chosen address", m == dst + 2 * PG);
    CHECK("moved contents preserved", fnv1a(m, 2 * PG, FNV_INIT) == h2);
    CHECK("pages around the target untouched",
          all_bytes(dst, 2 * PG, 0x77) && all_bytes(dst + 5 * PG, 3 * PG, 0x77));
    errno = 0;
    void *bad = mremap(dst, 8 * PG, 16 * PG, 0x40);
    printf("mremap bad flags: %s\n", bad == MAP_FAILED ? errname(errno) : "ok");
    errno = 0;
    bad = mremap((char *)dst + 1, PG, 2 * PG, MREMAP_MAYMOVE);
    printf("mremap unaligned: %s\n", bad == MAP_FAILED ? errname(errno) : "ok");
    munmap(dst, 8 * PG);
    /* A big block through realloc-like growth: 1 MiB -> 16 MiB. */
    unsigned char *big = mmap(NULL, 1 << 20, RW, ANON, -1, 0);
    fill_pattern(big, 1 << 20, 5);
    uint64_t hb = fnv1a(big, 1 << 20, FNV_INIT);
    unsigned char *big2 = mremap(big, 1 << 20, 16 << 20, MREMAP_MAYMOVE);
    CHECK("grow 1 MiB -> 16 MiB preserves", big2 != MAP_FAILED && fnv1a(big2, 1 << 20, FNV_INIT) == hb);
    if (big2 != MAP_FAILED) {
        memset(big2 + (1 << 20), 1, 15 << 20);
        munmap(big2, 16 << 20);
    }
}

static void madvise_tests(void)
{
    section("madvise");
    unsigned char *p = mmap(NULL, 8 * PG, RW, ANON, -1, 0);
    memset(p, 0x88, 8 * PG);
    CHECK("MADV_DONTNEED ok", madvise(p + 2 * PG, 4 * PG, MADV_DONTNEED) == 0);
    CHECK("dropped pages read as zero", all_bytes(p + 2 * PG, 4 * PG, 0));
    CHECK("other pages kept", all_bytes(p, 2 * PG, 0x88) && all_bytes(p + 6 * PG, 2 * PG, 0x88));
    memset(p + 2 * PG, 0x99, 4 * PG);
    CHECK("dropped pages usable again", all_bytes(p + 2 * PG, 4 * PG, 0x99));
    CHECK("MADV_WILLNEED ok", madvise(p, 8 * PG, MADV_WILLNEED) == 0);
    CHECK("MADV_NORMAL ok", madvise(p, 8 * PG, MADV_NORMAL) == 0);
    CHECK("contents unchanged by advice", all_bytes(p, 2 * PG, 0x88) &&
                                              all_bytes(p + 2 * PG, 4 * PG, 0x99));
    errno = 0;
    printf("madvise unaligned: %s\n", madvise(p + 1, PG, MADV_NORMAL) < 0 ? errname(errno) : "ok");
    errno = 0;
    printf("madvise bad advice: %s\n", madvise(p, PG, 12345) < 0 ? errname(errno) : "ok");
    munmap(p, 8 * PG);
}

static void file_mmap_tests(const char *self)
{
    section("file mmap");
    int fd = open(self, O_RDONLY);
    CHECK("open own executable read-only", fd >= 0);
    if (fd < 0) return;
    struct stat st;
    fstat(fd, &st);
    size_t size = (size_t)st.st_size;
    unsigned char *buf = malloc(size);
    size_t got = 0;
    ssize_t r;
    while (got < size && (r = pread(fd, buf + got, size - got, (off_t)got)) > 0) got += (size_t)r;
    CHECK("read whole file", got == size);
    unsigned char *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    CHECK("mmap PROT_READ MAP_PRIVATE", m != MAP_FAILED);
    if (m == MAP_FAILED) return;
    CHECK("starts with ELF magic", !memcmp(m, "\177ELF", 4));
    CHECK("mapping equals read()", !memcmp(m, buf, size));
    /* bytes past EOF in the last page are zero */
    size_t tail = (size + PG - 1) / PG * PG - size;
    CHECK("tail of last page zero", all_bytes(m + size, tail, 0));
    munmap(m, size);
    /* at an offset */
    if (size > 3 * PG) {
        unsigned char *o = mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE, fd, 2 * PG);
        CHECK("mmap at offset 2 pages equals read()", o != MAP_FAILED && !memcmp(o, buf + 2 * PG, 2 * PG));
        if (o != MAP_FAILED) munmap(o, 2 * PG);
    }
    /* private writable mapping: writes stay private */
    unsigned char *w = mmap(NULL, size, RW, MAP_PRIVATE, fd, 0);
    CHECK("mmap RW MAP_PRIVATE of a read-only fd", w != MAP_FAILED);
    if (w != MAP_FAILED) {
        memset(w, 0, 64);
        unsigned char again[64];
        pread(fd, again, 64, 0);
        CHECK("private writes do not reach the file", !memcmp(again, buf, 64));
        unsigned char *m2 = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0);
        CHECK("another mapping sees the file, not the private copy",
              m2 != MAP_FAILED && !memcmp(m2, buf, 64));
        if (m2 != MAP_FAILED) munmap(m2, PG);
        munmap(w, size);
    }
    /* mprotect a read-only private file mapping to RW: allowed (copy-on-write) */
    unsigned char *cw = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0);
    CHECK("mprotect file mapping R->RW", cw != MAP_FAILED && mprotect(cw, PG, RW) == 0);
    if (cw != MAP_FAILED) {
        cw[0] = 'X';
        unsigned char b0;
        pread(fd, &b0, 1, 0);
        CHECK("file unchanged", b0 == 0x7f && cw[0] == 'X');
        munmap(cw, PG);
    }
    errno = 0;
    void *sw = mmap(NULL, PG, RW, MAP_SHARED, fd, 0);
    printf("MAP_SHARED PROT_WRITE on O_RDONLY fd: %s\n", sw == MAP_FAILED ? errname(errno) : "ok");
    close(fd);
    /* mapping stays valid after close */
    fd = open(self, O_RDONLY);
    unsigned char *k = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    CHECK("mapping readable after close", k != MAP_FAILED && !memcmp(k, buf, PG));
    if (k != MAP_FAILED) munmap(k, PG);
    /* directories cannot be mapped */
    fd = open("/", O_RDONLY | O_DIRECTORY);
    errno = 0;
    void *dm = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("mmap a directory: %s\n", dm == MAP_FAILED ? errname(errno) : "ok");
    close(fd);
    free(buf);
}

/* More memory than the VM has (uno's default is 128 MiB): a MAP_NORESERVE reservation that is
 * touched sparsely, as Linux overcommits; the libOS reading and writing such pages for the
 * app. */
#define MIB (1ul << 20)
static void overcommit_tests(void)
{
    section("MAP_NORESERVE: 1 GiB touched every 4 MiB");
    size_t len = 1024 * MIB;
    unsigned char *p = mmap(NULL, len, RW, ANON | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap 1 GiB: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    for (size_t off = 0; off < len; off += 4 * MIB)
        p[off + 123] = (unsigned char)(off / (4 * MIB));
    int ok = 1;
    for (size_t off = 0; off < len; off += 4 * MIB)
        ok &= p[off + 123] == (unsigned char)(off / (4 * MIB)) && p[off + 124] == 0;
    EXPECT("every touched byte kept, untouched bytes zero", ok);

    section("the system reads into and writes from untouched pages");
    int fds[2];
    if (pipe(fds)) {
        printf("pipe: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    unsigned char msg[3 * 4096];
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (unsigned char)(i * 7 + 1);
    unsigned char *dst = p + 512 * MIB + 4000; /* crosses into untouched pages */
    EXPECT("write to the pipe", write(fds[1], msg, sizeof msg) == (ssize_t)sizeof msg);
    EXPECT("read into untouched pages", read(fds[0], dst, sizeof msg) == (ssize_t)sizeof msg);
    EXPECT("the data arrived", memcmp(dst, msg, sizeof msg) == 0);
    unsigned char *zeros = p + 702 * MIB + 5; /* no byte touched above */
    EXPECT("write from untouched pages", write(fds[1], zeros, 9000) == 9000);
    unsigned char back[9000];
    memset(back, 0xee, sizeof back);
    EXPECT("read it back", read(fds[0], back, sizeof back) == 9000);
    EXPECT("all zero", all_bytes(back, sizeof back, 0));
    close(fds[0]);
    close(fds[1]);

    section("madvise(MADV_DONTNEED) and fork in an overcommitted area");
    p[100 * MIB] = 42;
    EXPECT("madvise", madvise(p + 100 * MIB, PG, MADV_DONTNEED) == 0);
    EXPECT("the page reads zero again", p[100 * MIB] == 0);
    p[200 * MIB] = 43;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int good = p[200 * MIB] == 43 && p[200 * MIB + 1] == 0 && dst[0] == msg[0];
        p[300 * MIB] = 1; /* the child's own page */
        _exit(good ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    EXPECT("the child sees the parent's pages", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    EXPECT("the child's write is its own", p[300 * MIB] == 0);
    EXPECT("munmap", munmap(p, len) == 0);
}

/* 24 threads alive at once with the C library's default stacks (8 MiB each: more than the
 * VM's memory, and natively never touched beyond a few pages). */
static pthread_barrier_t all_started;
static void *stack_thread(void *arg)
{
    volatile char buf[16384];
    buf[0] = (char)(long)arg;
    pthread_barrier_wait(&all_started);
    return (void *)(long)buf[0];
}

static void thread_stack_tests(void)
{
    section("24 threads with default stacks at once");
    enum { N = 24 };
    pthread_t t[N];
    pthread_barrier_init(&all_started, NULL, N + 1);
    int started = 0, ok = 1;
    for (int i = 0; i < N; i++) {
        int e = pthread_create(&t[i], NULL, stack_thread, (void *)(long)(i + 1));
        if (e) {
            printf("pthread_create #%d: %s\n", i, errname(e));
            break;
        }
        started++;
    }
    if (started < N) {
        guest_failures++;
        printf("started %d of %d\n", started, N);
        return; /* the barrier would wait forever */
    }
    pthread_barrier_wait(&all_started);
    for (int i = 0; i < N; i++) {
        void *r;
        pthread_join(t[i], &r);
        ok &= (long)r == i + 1;
    }
    EXPECT("all joined with their values", ok);
}

int main(int argc, char **argv)
{
    (void)argc;
    malloc_tests();
    brk_tests();
    mmap_tests();
    mprotect_tests();
    mremap_tests();
    madvise_tests();
    file_mmap_tests(argv[0]);
    overcommit_tests();
    thread_stack_tests();
    printf("failures: %d\n", guest_failures);
    return guest_failures ? 1 : 0;
}
