/* Shared file mappings. mmap(MAP_SHARED) of a file in the writable layer asks the VMM to map
 * the host file into a window of guest-physical memory (UNO_OP_FMAP, vmm/filemap.c) and
 * points the app's page tables at that window: no copy, stores reach the file, and the
 * other processes mapping it (other VMs) see them. Each window is counted here by the
 * page-table entries that point into it, so splitting, partial munmap and mremap need no
 * bookkeeping of their own: the window goes back to the VMM when its last page is unmapped
 * (or at exec, when the whole address space goes). The counts are per process: a fork
 * copies them with the page tables, and the child's VMM has the same windows. */
#include "mm.h"
#include "core/kernel.h"
#include "fs/file.h"
#include "io/ring.h"

static u32 pages[UNO_FMAP_MAX]; /* PTEs pointing into window i */

static int window_index(u64 pa)
{
    if (pa < UNO_GPA_FILEMAP || pa >= UNO_GPA_FILEMAP + UNO_FMAP_MAX * UNO_FMAP_WINDOW)
        return -1;
    return (int)((pa - UNO_GPA_FILEMAP) / UNO_FMAP_WINDOW);
}

bool filemap_page(u64 pa) { return window_index(pa) >= 0; }

static i64 fmap_call(u64 what, u32 handle, i64 off, u64 a1, u64 a2)
{
    struct ring_op op = {.op = UNO_OP_FMAP, .handle = handle, .off = off,
                         .arg = {what, a1, a2}};
    return ring_call(&op);
}

void filemap_get(u64 pa)
{
    int i = window_index(pa);
    if (i >= 0)
        pages[i]++;
}

void filemap_put(u64 pa)
{
    int i = window_index(pa);
    if (i < 0 || !pages[i] || --pages[i])
        return;
    fmap_call(UNO_FMAP_UNMAP, 0, 0, UNO_GPA_FILEMAP + (u64)i * UNO_FMAP_WINDOW, 0);
}

struct window_map {
    u64 gpa;      /* the window */
    u64 npages;   /* pages the file holds from the mapping's offset: the rest stay unmapped */
};

static u64 window_page(void *ctx, u64 i)
{
    struct window_map *m = ctx;
    if (i >= m->npages)
        return PA_NONE; /* past the end of the file: touching it is SIGBUS, as on Linux */
    filemap_get(m->gpa + i * PAGE_SIZE);
    return m->gpa + i * PAGE_SIZE;
}

/* Map [addr, addr+len) to the host file behind f from offset off; the caller has checked
 * access and owns the address range. The file's size at this moment bounds what is mapped. */
i64 filemap_map(u64 addr, u64 len, int prot, struct file *f, u64 off, u64 file_size)
{
    bool writable = (f->flags & O_ACCMODE) == O_RDWR;
    if (len > UNO_FMAP_WINDOW)
        return -ENOMEM;
    i64 gpa = fmap_call(UNO_FMAP_MAP, f->handle, (i64)off, len, writable);
    if (gpa < 0)
        return gpa;
    u64 held = file_size > off ? ALIGN_UP(file_size - off, PAGE_SIZE) / PAGE_SIZE : 0;
    struct window_map m = {.gpa = (u64)gpa, .npages = MIN(held, len / PAGE_SIZE)};
    u64 pte = prot_to_pte(prot);
    if (!(pte & PTE_P))
        pte = prot_to_pte(PROT_READ) & ~(PTE_P | PTE_U); /* PROT_NONE: keep the address */
    /* Hold the window while mapping, so a failure half-way releases it exactly once. */
    filemap_get((u64)gpa);
    int r = pt_map(addr, len / PAGE_SIZE, pte, window_page, &m);
    filemap_put((u64)gpa);
    return r ? r : 0;
}

/* msync: write the window's pages in [addr, addr+len) back to the file, one host call per
 * run of pages that are consecutive in the same window. */
int filemap_sync(u64 addr, u64 len)
{
    u64 run_base = 0, run_off = 0, run_len = 0;
    for (u64 a = addr; a <= addr + len; a += PAGE_SIZE) {
        u64 pa = a < addr + len ? pt_lookup(a) & PTE_ADDR : 0;
        int i = window_index(pa);
        u64 base = i < 0 ? 0 : UNO_GPA_FILEMAP + (u64)i * UNO_FMAP_WINDOW;
        if (run_len && (base != run_base || pa - base != run_off + run_len)) {
            i64 r = fmap_call(UNO_FMAP_SYNC, 0, (i64)run_off, run_base, run_len);
            if (r < 0)
                return (int)r;
            run_len = 0;
        }
        if (i < 0)
            continue;
        if (!run_len) {
            run_base = base;
            run_off = pa - base;
        }
        run_len += PAGE_SIZE;
    }
    return 0;
}
