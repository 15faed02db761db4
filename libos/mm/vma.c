/* The app's address space as a sorted array of areas. Small and simple: programs have tens
 * of areas, and the array keeps /proc/self/maps and user-pointer checks trivial. */
#include "mm.h"
#include "libos/string.h"
#include "core/kernel.h"
#include "fs/file.h"

static struct vma vmas[MAX_VMAS];
static int nvmas;

int vma_count(void) { return nvmas; }
struct vma *vma_at(int i) { return &vmas[i]; }
/* Drop the whole address space (exec). */
void vma_reset(void)
{
    for (int i = 0; i < nvmas; i++) {
        pt_unmap(vmas[i].start, (vmas[i].end - vmas[i].start) / PAGE_SIZE);
        if (vmas[i].file)
            file_put(vmas[i].file);
    }
    nvmas = 0;
}

struct vma *vma_find(u64 addr)
{
    int lo = 0, hi = nvmas - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (addr < vmas[mid].start)
            hi = mid - 1;
        else if (addr >= vmas[mid].end)
            lo = mid + 1;
        else
            return &vmas[mid];
    }
    return NULL;
}

bool vma_range_free(u64 start, u64 end)
{
    for (int i = 0; i < nvmas; i++)
        if (vmas[i].start < end && start < vmas[i].end)
            return false;
    return true;
}

/* Every area in the array holds its own reference to its file: a split makes two. */
static void insert_at(int i, const struct vma *v)
{
    memmove(&vmas[i + 1], &vmas[i], (size_t)(nvmas - i) * sizeof *v);
    vmas[i] = *v;
    if (v->file)
        file_get(v->file);
    nvmas++;
}

static void delete_at(int i)
{
    if (vmas[i].file)
        file_put(vmas[i].file);
    memmove(&vmas[i], &vmas[i + 1], (size_t)(nvmas - i - 1) * sizeof vmas[0]);
    nvmas--;
}

static bool same_kind(const struct vma *a, const struct vma *b)
{
    return a->prot == b->prot && a->flags == b->flags && a->kind == b->kind &&
           a->kind != VMA_FILE && a->kind != VMA_ELF && !strcmp(a->name, b->name);
}

int vma_add(u64 start, u64 end, int prot, int flags, u8 kind, u64 off, const char *name)
{
    return vma_add_file(start, end, prot, flags, kind, off, name, NULL);
}

int vma_add_file(u64 start, u64 end, int prot, int flags, u8 kind, u64 off, const char *name,
                 struct file *file)
{
    if (nvmas >= MAX_VMAS - 2)
        return -ENOMEM;
    struct vma v = {.start = start, .end = end, .prot = prot, .flags = flags, .kind = kind,
                    .off = off, .file = file};
    if (name) {
        size_t n = strnlen(name, sizeof v.name - 1);
        memcpy(v.name, name, n);
        v.name[n] = 0;
    }
    int i = 0;
    while (i < nvmas && vmas[i].start < start)
        i++;
    /* Merge with an identical anonymous neighbour (brk growth, adjacent mmaps). */
    if (i > 0 && vmas[i - 1].end == start && same_kind(&vmas[i - 1], &v)) {
        vmas[i - 1].end = end;
        return 0;
    }
    if (i < nvmas && vmas[i].start == end && same_kind(&vmas[i], &v)) {
        vmas[i].start = start;
        return 0;
    }
    insert_at(i, &v);
    return 0;
}

/* Remove [start, end) from the area list, splitting areas that straddle it, and unmap. */
void vma_remove(u64 start, u64 end)
{
    for (int i = 0; i < nvmas; i++) {
        struct vma *v = &vmas[i];
        if (v->end <= start || v->start >= end)
            continue;
        u64 cs = MAX(v->start, start), ce = MIN(v->end, end);
        pt_unmap(cs, (ce - cs) / PAGE_SIZE);
        if (v->start < start && v->end > end) { /* split in two */
            struct vma tail = *v;
            tail.start = end;
            if (tail.kind == VMA_FILE || tail.kind == VMA_ELF)
                tail.off += end - v->start;
            v->end = start;
            insert_at(i + 1, &tail);
            return;
        }
        if (v->start < start) {
            v->end = start;
        } else if (v->end > end) {
            if (v->kind == VMA_FILE || v->kind == VMA_ELF)
                v->off += end - v->start;
            v->start = end;
        } else {
            delete_at(i);
            i--;
        }
    }
}

/* Change protection of [start, end); the range must be fully mapped. */
int vma_protect(u64 start, u64 end, int prot)
{
    for (u64 a = start; a < end;) {
        struct vma *v = vma_find(a);
        if (!v)
            return -ENOMEM;
        if ((prot & PROT_WRITE) && v->kind == VMA_FILE && !(v->flags & MAP_PRIVATE) &&
            !(v->flags & VMA_F_MAYWRITE))
            return -EACCES; /* a shared mapping of a file not open for writing */
        a = v->end;
    }
    for (int i = 0; i < nvmas; i++) {
        struct vma *v = &vmas[i];
        if (v->end <= start || v->start >= end || v->prot == prot)
            continue;
        if (nvmas >= MAX_VMAS - 2)
            return -ENOMEM;
        if (v->start < start) { /* split off the head */
            struct vma tail = *v;
            tail.start = start;
            if (tail.kind == VMA_FILE || tail.kind == VMA_ELF)
                tail.off += start - v->start;
            v->end = start;
            insert_at(i + 1, &tail);
            continue;
        }
        if (v->end > end) { /* split off the tail */
            struct vma tail = *v;
            tail.start = end;
            if (tail.kind == VMA_FILE || tail.kind == VMA_ELF)
                tail.off += end - v->start;
            v->end = end;
            insert_at(i + 1, &tail);
        }
        /* An anonymous reservation made accessible: lazy if lazy.c says so. */
        bool anon = v->kind == VMA_ANON || v->kind == VMA_STACK || v->kind == VMA_HEAP;
        if (anon && !v->prot && prot && mm_lazy_choice(v->flags))
            v->flags |= VMA_F_LAZY;
        v->prot = prot;
        int r = pt_protect(v->start, (v->end - v->start) / PAGE_SIZE, prot_to_pte(prot),
                           !(v->flags & VMA_F_LAZY));
        if (r)
            return r;
    }
    return 0;
}

u64 vma_find_free(u64 len, u64 hint)
{
    if (hint && hint >= USER_MIN && hint + len <= MMAP_TOP && hint + len > hint &&
        vma_range_free(hint, hint + len))
        return hint;
    u64 top = MMAP_TOP;
    for (int i = nvmas - 1; i >= -1; i--) {
        u64 lo = i >= 0 ? vmas[i].end : USER_MIN;
        if (lo < top && top - lo >= len)
            return top - len;
        if (i >= 0)
            top = MIN(top, vmas[i].start);
    }
    return 0;
}

/* A free range of len bytes within dist of addr (for code that must reach addr with a
 * 32-bit displacement), the nearest below it first; 0 if none. */
u64 vma_find_free_near(u64 len, u64 addr, u64 dist)
{
    u64 lo = addr > dist + USER_MIN ? addr - dist : USER_MIN;
    u64 hi = addr + dist < USER_TOP ? addr + dist : USER_TOP;
    u64 best = 0;
    for (int i = 0; i <= nvmas; i++) {
        u64 gap_lo = i > 0 ? vmas[i - 1].end : USER_MIN;
        u64 gap_hi = i < nvmas ? vmas[i].start : MMAP_TOP;
        gap_lo = MAX(gap_lo, lo);
        gap_hi = MIN(gap_hi, hi);
        if (gap_hi <= gap_lo || gap_hi - gap_lo < len)
            continue;
        /* In this gap, the end nearest addr. */
        u64 cand = gap_hi <= addr ? gap_hi - len : gap_lo;
        u64 d = cand > addr ? cand - addr : addr - cand;
        u64 bd = best > addr ? best - addr : addr - best;
        if (!best || d < bd)
            best = cand;
    }
    return best;
}

bool user_ok(const void *p, u64 len, int prot)
{
    u64 a = (u64)p, end = a + len;
    if (len == 0)
        return true;
    if (end < a || end > USER_TOP)
        return false;
    while (a < end) {
        struct vma *v = vma_find(a);
        if (!v || (v->prot & prot) != prot)
            return false;
        /* The libOS is about to touch these pages (prot 0: only asks whether they are
         * mapped): a lazy area's get their frames now. */
        if (prot && (v->flags & VMA_F_LAZY) && mm_fill(v, a, MIN(end, v->end)))
            return false;
        a = v->end;
    }
    return true;
}

int copy_to_user(void *dst, const void *src, u64 n)
{
    if (!user_ok(dst, n, PROT_WRITE))
        return -EFAULT;
    platform_user_access_begin();
    memcpy(dst, src, n);
    platform_user_access_end();
    return 0;
}

int copy_from_user(void *dst, const void *src, u64 n)
{
    if (!user_ok(src, n, PROT_READ))
        return -EFAULT;
    platform_user_access_begin();
    memcpy(dst, src, n);
    platform_user_access_end();
    return 0;
}

i64 strncpy_from_user(char *dst, const char *src, u64 max)
{
    u64 len;
    bool ok = WITH_USER_ACCESS(user_str_ok(src, max, &len));
    if (!ok)
        return user_ok(src, 1, PROT_READ) ? -ENAMETOOLONG : -EFAULT;
    platform_user_access_begin();
    memcpy(dst, src, len + 1);
    platform_user_access_end();
    return (i64)len;
}

bool user_str_ok(const char *s, u64 max, u64 *len_out)
{
    u64 a = (u64)s;
    for (u64 n = 0; n < max;) {
        struct vma *v = vma_find(a + n);
        if (!v || !(v->prot & PROT_READ))
            return false;
        u64 avail = MIN(v->end - (a + n), max - n);
        /* A lazy area: one page at a time, filled before it is read. */
        if (v->flags & VMA_F_LAZY) {
            avail = MIN(avail, PAGE_SIZE - ((a + n) & (PAGE_SIZE - 1)));
            if (mm_fill(v, a + n, a + n + avail))
                return false;
        }
        for (u64 k = 0; k < avail; k++, n++) {
            if (s[n] == 0) {
                *len_out = n;
                return true;
            }
        }
    }
    return false;
}
