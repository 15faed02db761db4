/* Anonymous memory mapped on first touch. Memory is eager by default (mmap.c): a page fault
 * costs an exit and emulated ring-0 code on these machines, so hot paths must not take one.
 * But an area programs reserve and mostly never touch (mm_lazy_choice) gets its frames when
 * first touched, a chunk at a time, as Linux overcommits: such an area is VMA_F_LAZY. The
 * libOS's own accesses to the app's memory go through user_ok, which fills the range first,
 * so only the app itself faults. */
#include "mm.h"
#include "libos/errno.h"

#define LAZY_CHUNK (64ull << 10) /* filled per fault: 16 pages, one exit for a stack's 64 KiB */

/* Whether a new anonymous area (mmap, or a reservation mprotect makes accessible) is lazy:
 * what programs reserve and mostly leave untouched — thread stacks (MAP_STACK: glibc's are
 * 8 MiB each) and MAP_NORESERVE areas (glibc's 64 MiB malloc arenas). Everything else stays
 * eager, and fails with ENOMEM when memory cannot back it, which programs handle (liblzma
 * asking for a 64 MiB dictionary, say) where an overcommitted area would end them later:
 * the VM's memory is small. On these machines a guest fault per 64 KiB costs about as much
 * as the host's own first touch of fresh memory, but twice that of recycled frames. */
bool mm_lazy_choice(int flags)
{
    return flags & (MAP_STACK | MAP_NORESERVE);
}

/* Give the absent pages of [start, end) (inside the lazy area v) their zeroed frames. */
int mm_fill(const struct vma *v, u64 start, u64 end)
{
    u64 pte = prot_to_pte(v->prot);
    for (u64 a = start & PAGE_MASK; a < end; a += PAGE_SIZE) {
        if (pt_lookup(a) & PTE_ADDR)
            continue;
        int r = pt_map(a, 1, pte, NULL, NULL);
        if (r)
            return r;
    }
    return 0;
}

/* A fault of the app at addr (not-present page; write/exec as the error code says): 1 when it
 * was a lazy page, now filled; 0 when it is a real fault; -ENOMEM when memory ran out. */
int mm_fault_in(u64 addr, bool write, bool exec)
{
    struct vma *v = vma_find(addr);
    if (!v || !(v->flags & VMA_F_LAZY) || !(v->prot & (PROT_READ | PROT_WRITE | PROT_EXEC)))
        return 0;
    if ((write && !(v->prot & PROT_WRITE)) || (exec && !(v->prot & PROT_EXEC)))
        return 0;
    u64 start = MAX(v->start, addr & ~(LAZY_CHUNK - 1));
    u64 end = MIN(v->end, (addr & ~(LAZY_CHUNK - 1)) + LAZY_CHUNK);
    return mm_fill(v, start, end) ? -ENOMEM : 1;
}
