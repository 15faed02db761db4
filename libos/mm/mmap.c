/* The mmap family: brk, mmap, munmap, mprotect, mremap, madvise. Memory is mapped eagerly
 * (frames allocated at mmap time) so the app never takes a page fault on a hot path; pages
 * of files in the image are mapped straight from the image slot when they can be. */
#include "mm.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "fs/vfs.h"
#include "libos/string.h"
#include "sys/syscalls.h"

#define MREMAP_MAYMOVE 1
#define MREMAP_FIXED 2
#define MREMAP_DONTUNMAP 4

#define MADV_NORMAL 0
#define MADV_RANDOM 1
#define MADV_SEQUENTIAL 2
#define MADV_WILLNEED 3
#define MADV_DONTNEED 4
#define MADV_FREE 8

u64 mm_brk_start, mm_brk_cur;

void mm_init(u64 brk_start)
{
    mm_brk_start = mm_brk_cur = brk_start;
}

i64 mm_mmap_anon(u64 addr, u64 len, int prot, int flags, u8 kind, const char *name)
{
    /* PROT_NONE reservations get no frames until mprotect makes them accessible. Memory
     * that is mostly never touched (lazy.c) is filled on first touch, unless the caller
     * wants it there at once. */
    bool must = flags & (MAP_POPULATE | MAP_LOCKED);
    if (!must && mm_lazy_choice(flags))
        flags |= VMA_F_LAZY;
    if ((prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) && !(flags & VMA_F_LAZY)) {
        int r = pt_map(addr, len / PAGE_SIZE, prot_to_pte(prot), NULL, NULL);
        if (r)
            return r;
    }
    int r = vma_add(addr, addr + len, prot, flags, kind, 0, name);
    if (r) {
        pt_unmap(addr, len / PAGE_SIZE);
        return r;
    }
    return (i64)addr;
}

i64 sys_brk(u64 addr)
{
    if (addr < mm_brk_start)
        return (i64)mm_brk_cur;
    u64 old_end = ALIGN_UP(mm_brk_cur, PAGE_SIZE), new_end = ALIGN_UP(addr, PAGE_SIZE);
    if (new_end > old_end) {
        if (new_end > MMAP_TOP || !vma_range_free(old_end, new_end))
            return (i64)mm_brk_cur;
        if (mm_mmap_anon(old_end, new_end - old_end, PROT_READ | PROT_WRITE, MAP_PRIVATE,
                         VMA_HEAP, "[heap]") < 0)
            return (i64)mm_brk_cur;
    } else if (new_end < old_end) {
        vma_remove(new_end, old_end);
    }
    mm_brk_cur = addr;
    return (i64)addr;
}

/* Pages of a file mapping: straight from the image when whole and readable in place,
 * otherwise a private frame filled from the file. */
struct file_map {
    struct file *f;
    u64 off;        /* file offset of the first page */
    u64 size;       /* the file's size: pages past it stay unmapped */
    bool in_place;  /* image pages may be mapped directly */
    int err;
};

static u64 file_page(void *ctx, u64 i)
{
    struct file_map *m = ctx;
    u64 off = m->off + i * PAGE_SIZE;
    if (off >= m->size)
        return PA_NONE; /* wholly past the end of the file: touching it is SIGBUS */
    if (m->in_place) {
        u64 gpa = lower_page_gpa(m->f, off);
        if (gpa)
            return gpa;
    }
    u64 pa = frame_alloc();
    if (!pa)
        return 0;
    i64 n = m->f->ops->read(m->f, phys_to_virt(pa), PAGE_SIZE, (i64)off);
    if (n < 0)
        m->err = (int)n;
    return pa;
}

/* MAP_SHARED of a host file (the writable layer): the VMM maps the file itself. */
static i64 map_file_shared(u64 addr, u64 len, int prot, int flags, struct file *f, u64 off,
                           u64 size)
{
    i64 r = filemap_map(addr, len, prot, f, off, size);
    if (r)
        return r;
    if ((f->flags & O_ACCMODE) == O_RDWR)
        flags |= VMA_F_MAYWRITE;
    r = vma_add(addr, addr + len, prot, flags, VMA_FILE, off, f->path);
    if (r) {
        pt_unmap(addr, len / PAGE_SIZE);
        return r;
    }
    return (i64)addr;
}

static i64 map_file(u64 addr, u64 len, int prot, int flags, struct file *f, u64 off)
{
    if (!f->ops->read || S_ISDIR(f->mode))
        return -ENODEV;
    int acc = f->flags & O_ACCMODE;
    if (acc == O_WRONLY)
        return -EACCES;
    bool shared = !(flags & MAP_PRIVATE);
    if (shared && (prot & PROT_WRITE) && acc != O_RDWR)
        return -EACCES;
    struct linux_stat st;
    u64 size = ~0ull;
    if (f->ops->stat && f->ops->stat(f, &st) == 0 && S_ISREG(st.st_mode))
        size = (u64)st.st_size;
    if (shared && f->has_upper && S_ISREG(f->mode))
        return map_file_shared(addr, len, prot, flags, f, off, size);
    /* The image never changes, so a shared read-only mapping of it is its pages in place;
     * anything else shared (a /proc file, say) cannot be. */
    if (shared && (prot & PROT_WRITE))
        return -ENODEV;
    struct file_map m = {.f = f, .off = off, .size = size,
                         .in_place = !(prot & PROT_WRITE)}; /* lower_page_gpa decides */
    u64 flags_pte = prot_to_pte(prot);
    if (!(flags_pte & PTE_P))
        flags_pte = prot_to_pte(PROT_READ) & ~(PTE_P | PTE_U); /* keep frames, not present */
    int r = pt_map(addr, len / PAGE_SIZE, flags_pte, file_page, &m);
    if (r)
        return r;
    if (m.err) {
        pt_unmap(addr, len / PAGE_SIZE);
        return m.err;
    }
    r = vma_add_file(addr, addr + len, prot, flags, VMA_FILE, off, f->path, f);
    if (r) {
        pt_unmap(addr, len / PAGE_SIZE);
        return r;
    }
    return (i64)addr;
}

i64 sys_mmap(u64 addr, u64 len, u64 prot, u64 flags, u64 fd, u64 off)
{
    int type = (int)(flags & MAP_SHARED_VALIDATE);
    if (type != MAP_SHARED && type != MAP_PRIVATE && type != MAP_SHARED_VALIDATE)
        return -EINVAL;
    if (!len || (off & (PAGE_SIZE - 1)) || (prot & ~7ull))
        return -EINVAL;
    if (type == MAP_SHARED_VALIDATE) {
        /* Flags Linux knows; MAP_SYNC (0x80000) needs DAX memory, which this is not. */
        if (flags & ~(u64)(0x3 | MAP_FIXED | MAP_ANONYMOUS | MAP_GROWSDOWN | MAP_DENYWRITE |
                           MAP_EXECUTABLE | MAP_LOCKED | MAP_NORESERVE | MAP_POPULATE |
                           MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB | MAP_FIXED_NOREPLACE |
                           (0x3full << 26)))
            return -EOPNOTSUPP;
        type = MAP_SHARED;
        flags = (flags & ~(u64)MAP_SHARED_VALIDATE) | MAP_SHARED;
    }
    len = ALIGN_UP(len, PAGE_SIZE);
    if (len == 0 || len > USER_TOP)
        return -ENOMEM;
    struct file *f = NULL;
    if (!(flags & MAP_ANONYMOUS)) {
        f = fd_get((int)fd);
        if (!f)
            return -EBADF;
        if (off + len < off)
            return -EOVERFLOW;
    }
    if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
        if (addr & (PAGE_SIZE - 1))
            return -EINVAL;
        if (addr < USER_MIN || addr + len > USER_TOP || addr + len < addr)
            return -ENOMEM;
        if (!vma_range_free(addr, addr + len)) {
            if (flags & MAP_FIXED_NOREPLACE)
                return -EEXIST;
            vma_remove(addr, addr + len);
        }
    } else {
        addr = vma_find_free(len, ALIGN_DOWN(addr, PAGE_SIZE));
        if (!addr)
            return -ENOMEM;
    }
    /* MAP_SHARED anonymous memory comes from the region that stays shared across fork. */
    if (!f && type != MAP_PRIVATE && (prot & (PROT_READ | PROT_WRITE | PROT_EXEC)))
        return mm_mmap_shared_anon(addr, len, (int)prot, (int)flags);
    /* /dev/zero and other devices: anonymous memory (shared: the shared region), as Linux. */
    if (f && (f->mode & S_IFMT) == S_IFCHR && type != MAP_PRIVATE &&
        (prot & (PROT_READ | PROT_WRITE | PROT_EXEC)))
        return mm_mmap_shared_anon(addr, len, (int)prot, (int)flags);
    if (!f || (f->mode & S_IFMT) == S_IFCHR)
        return mm_mmap_anon(addr, len, (int)prot, (int)flags,
                            (flags & MAP_GROWSDOWN) ? VMA_STACK : VMA_ANON, NULL);
    return map_file(addr, len, (int)prot, (int)flags, f, off);
}

i64 sys_munmap(u64 addr, u64 len)
{
    if ((addr & (PAGE_SIZE - 1)) || !len)
        return -EINVAL;
    len = ALIGN_UP(len, PAGE_SIZE);
    if (addr + len > USER_TOP || addr + len < addr)
        return -EINVAL;
    vma_remove(addr, addr + len);
    return 0;
}

i64 sys_mprotect(u64 addr, u64 len, u64 prot)
{
    if (addr & (PAGE_SIZE - 1))
        return -EINVAL;
    if (prot & ~7ull)
        return -EINVAL;
    len = ALIGN_UP(len, PAGE_SIZE);
    if (!len)
        return 0;
    if (addr + len < addr || addr + len > USER_TOP)
        return -ENOMEM;
    return vma_protect(addr, addr + len, (int)prot);
}

i64 sys_mremap(u64 old, u64 old_len, u64 new_len, u64 flags, u64 new_addr)
{
    if ((old & (PAGE_SIZE - 1)) || (flags & ~7ull) || !new_len)
        return -EINVAL;
    if ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE))
        return -EINVAL;
    if (flags & MREMAP_DONTUNMAP)
        return -EINVAL; /* not supported: Linux also refuses it for most mappings */
    old_len = ALIGN_UP(old_len, PAGE_SIZE);
    new_len = ALIGN_UP(new_len, PAGE_SIZE);
    struct vma *v = vma_find(old);
    if (!v || old_len == 0 || old + old_len > v->end)
        return -EFAULT;
    struct vma copy = *v;
    if (!(flags & MREMAP_FIXED)) {
        if (new_len <= old_len) {
            if (new_len < old_len)
                vma_remove(old + new_len, old + old_len);
            return (i64)old;
        }
        if (vma_range_free(old + old_len, old + new_len) && old + new_len <= MMAP_TOP &&
            copy.kind != VMA_FILE) {
            i64 r = mm_mmap_anon(old + old_len, new_len - old_len, copy.prot, copy.flags,
                                 copy.kind, copy.name[0] ? copy.name : NULL);
            return r < 0 ? r : (i64)old;
        }
        if (!(flags & MREMAP_MAYMOVE))
            return -ENOMEM;
        new_addr = vma_find_free(new_len, 0);
        if (!new_addr)
            return -ENOMEM;
    } else {
        if ((new_addr & (PAGE_SIZE - 1)) || new_addr < USER_MIN || new_addr + new_len > USER_TOP)
            return -EINVAL;
        if (new_addr < old + old_len && old < new_addr + new_len)
            return -EINVAL;
        vma_remove(new_addr, new_addr + new_len);
    }
    u64 keep = MIN(old_len, new_len);
    int r = pt_move(old, new_addr, keep / PAGE_SIZE);
    if (r)
        return r;
    if (new_len > keep && copy.prot && !(copy.flags & VMA_F_LAZY) && pt_map(new_addr + keep, (new_len - keep) / PAGE_SIZE,
                                              prot_to_pte(copy.prot), NULL, NULL))
        return -ENOMEM;
    r = vma_add_file(new_addr, new_addr + new_len, copy.prot, copy.flags, copy.kind,
                     copy.off + (old - copy.start), copy.name[0] ? copy.name : NULL, copy.file);
    if (r)
        return r;
    vma_remove(old, old + old_len); /* its PTEs are already empty: nothing is freed twice */
    return (i64)new_addr;
}

/* MADV_DONTNEED on a private file mapping: the page is the file's again. A private copy is
 * read afresh from the file (zero past its end); a page still the image's own is already. */
static int refill_from_file(const struct vma *v, u64 a)
{
    if (!pt_private_frame(a))
        return 0;
    u8 *page = phys_to_virt(pt_lookup(a) & PTE_ADDR);
    memset(page, 0, PAGE_SIZE);
    i64 n = v->file->ops->read(v->file, page, PAGE_SIZE, (i64)(v->off + (a - v->start)));
    return n < 0 ? (int)n : 0;
}

i64 sys_madvise(u64 addr, u64 len, u64 advice)
{
    if (addr & (PAGE_SIZE - 1))
        return -EINVAL;
    len = ALIGN_UP(len, PAGE_SIZE);
    switch (advice) {
    case MADV_NORMAL: case MADV_RANDOM: case MADV_SEQUENTIAL: case MADV_WILLNEED:
    case MADV_FREE: case 14: case 15: /* HUGEPAGE, NOHUGEPAGE */
    case 16: case 17:                 /* DONTDUMP, DODUMP */
        return user_ok((void *)addr, len, 0) ? 0 : -ENOMEM;
    case MADV_DONTNEED:
        for (u64 a = addr; a < addr + len; a += PAGE_SIZE) {
            struct vma *v = vma_find(a);
            if (!v)
                return -ENOMEM;
            u64 pte = pt_lookup(a);
            if (filemap_page(pte & PTE_ADDR) || shared_page(pte & PTE_ADDR))
                continue; /* shared pages are the file's (or the region's): nothing to drop */
            if (v->kind == VMA_FILE && v->file) {
                int e = refill_from_file(v, a);
                if (e)
                    return e;
                continue;
            }
            if (v->kind == VMA_FILE || v->kind == VMA_ELF)
                return -EINVAL; /* a program's own segments (data and bss in one area) */
            if ((pte & PTE_ADDR) && (v->flags & VMA_F_LAZY))
                pt_unmap(a, 1); /* back to untouched: the frame goes back to the pool */
            else if (pte & PTE_ADDR)
                memset(phys_to_virt(pte & PTE_ADDR), 0, PAGE_SIZE);
        }
        return 0;
    default:
        return -EINVAL;
    }
}

#define MS_ASYNC 1
#define MS_INVALIDATE 2
#define MS_SYNC 4

/* Range checks msync and mincore share: aligned start, and every page mapped. */
static int check_mapped(u64 addr, u64 len)
{
    if (addr & (PAGE_SIZE - 1))
        return -EINVAL;
    if (addr + len < addr || addr + len > USER_TOP)
        return -ENOMEM;
    for (u64 a = addr; a < addr + len;) {
        struct vma *v = vma_find(a);
        if (!v)
            return -ENOMEM;
        a = v->end;
    }
    return 0;
}

i64 sys_msync(u64 addr, u64 len, u64 flags)
{
    if ((flags & ~(u64)(MS_ASYNC | MS_INVALIDATE | MS_SYNC)) ||
        ((flags & MS_ASYNC) && (flags & MS_SYNC)))
        return -EINVAL;
    len = ALIGN_UP(len, PAGE_SIZE);
    int r = check_mapped(addr, len);
    if (r)
        return r;
    /* Stores to a shared file mapping are in the host's page cache already; MS_SYNC also
     * waits for the disk, as Linux does. */
    return (flags & MS_SYNC) ? filemap_sync(addr, len) : 0;
}

i64 sys_mincore(u64 addr, u64 len, u64 vec)
{
    len = ALIGN_UP(len, PAGE_SIZE);
    int r = check_mapped(addr, len);
    if (r)
        return r;
    u64 n = len / PAGE_SIZE;
    if (!user_ok((void *)vec, n, PROT_WRITE))
        return -EFAULT;
    /* Memory is mapped eagerly: a page is resident when it has a frame (pages of a file
     * mapping past the end of the file have none). */
    for (u64 i = 0; i < n; i++) {
        u8 in = (pt_lookup(addr + i * PAGE_SIZE) & PTE_ADDR) != 0;
        r = copy_to_user((u8 *)vec + i, &in, 1);
        if (r)
            return r;
    }
    return 0;
}
