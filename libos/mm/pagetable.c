/* The app's page tables (lower half of the one address space). Mapping is eager: a new
 * page-table page is filled completely before it is linked with a single write, because
 * every write to a live table can trap into the host's shadow MMU (PVM.md). */
#include "mm.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "libos/string.h"

static u64 *pml4(void) { return phys_to_virt(UNO_GPA_PGTABLE); }
static u64 *table(u64 e) { return phys_to_virt(e & PTE_ADDR); }

u64 prot_to_pte(int prot)
{
    u64 f = PTE_P | PTE_U;
    if (prot & PROT_WRITE)
        f |= PTE_W;
    if (!(prot & PROT_EXEC))
        f |= PTE_NX;
    if (!(prot & (PROT_READ | PROT_WRITE | PROT_EXEC)))
        f &= ~(PTE_P | PTE_U); /* PROT_NONE: not present, frame kept in the PTE */
    return f;
}

/* The PD entry covering va, allocating PDPT/PD on the way. NULL when out of memory. */
static u64 *pde_for(u64 va)
{
    u64 *t = pml4();
    for (int shift = 39; shift > 21; shift -= 9) {
        u64 *e = &t[(va >> shift) & 511];
        if (!(*e & PTE_P)) {
            u64 pa = frame_alloc_table();
            if (!pa)
                return NULL;
            *e = pa | PTE_P | PTE_W | PTE_U;
        }
        t = table(*e);
    }
    return &t[(va >> 21) & 511];
}

static u64 *pte_of(u64 va)
{
    u64 *t = pml4();
    for (int shift = 39; shift > 12; shift -= 9) {
        u64 e = t[(va >> shift) & 511];
        if (!(e & PTE_P) || (e & PTE_PS))
            return NULL;
        t = table(e);
    }
    return &t[(va >> 12) & 511];
}

/* A PTE whose frame belongs to us (RAM) rather than to the image or shared region. */
static bool owned(u64 pte) { return (pte & PTE_ADDR) && (pte & PTE_ADDR) < UNO_GPA_SHARED; }

/* Keep the frame of a PROT_NONE page: a non-present PTE with the address still in it. */
static bool has_frame(u64 pte) { return (pte & PTE_ADDR) != 0; }

/* The frame behind a PTE that goes away: ours back to the allocator, a shared page's or a
 * file window's reference dropped, image pages left alone. */
static void release(u64 pte)
{
    if (!has_frame(pte))
        return;
    if (owned(pte))
        frame_free(pte & PTE_ADDR);
    else if (shared_page(pte & PTE_ADDR))
        shared_put(pte & PTE_ADDR);
    else
        filemap_put(pte & PTE_ADDR);
}

int pt_map(u64 va, u64 n, u64 flags, pa_fn pa_of, void *ctx)
{
    u64 i = 0;
    while (i < n) {
        u64 v = va + i * PAGE_SIZE;
        u64 *pde = pde_for(v);
        if (!pde)
            goto oom;
        u64 chunk = MIN(n - i, 512 - ((v >> 12) & 511));
        bool fresh = !(*pde & PTE_P);
        u64 pt_pa = fresh ? frame_alloc_table() : (*pde & PTE_ADDR);
        if (!pt_pa)
            goto oom;
        u64 *pt = phys_to_virt(pt_pa);
        for (u64 k = 0; k < chunk; k++) {
            u64 idx = ((v >> 12) & 511) + k;
            u64 pa = pa_of ? pa_of(ctx, i + k) : 0;
            if (pa == PA_NONE) {
                /* No page here (a file mapping past the end of its file): SIGBUS. */
                release(pt[idx]);
                pt[idx] = 0;
                continue;
            }
            if (pa == PA_FAIL || (!pa && !(pa = frame_alloc()))) {
                if (fresh) {
                    *pde = pt_pa | PTE_P | PTE_W | PTE_U;
                    pt_unmap(va, i + k);
                } else {
                    pt_unmap(va, i + k);
                }
                return -ENOMEM;
            }
            release(pt[idx]);
            pt[idx] = pa | flags;
        }
        if (fresh)
            *pde = pt_pa | PTE_P | PTE_W | PTE_U; /* link the filled table: one write */
        i += chunk;
    }
    return 0;
oom:
    pt_unmap(va, i);
    return -ENOMEM;
}

void pt_unmap(u64 va, u64 n)
{
    for (u64 i = 0; i < n; i++) {
        u64 *pte = pte_of(va + i * PAGE_SIZE);
        if (!pte) {
            /* skip the rest of this 2 MiB: no table */
            u64 v = va + i * PAGE_SIZE;
            u64 skip = 512 - ((v >> 12) & 511);
            i += skip - 1;
            continue;
        }
        release(*pte);
        *pte = 0;
    }
    platform_tlb_flush(va, n * PAGE_SIZE);
}

int pt_protect(u64 va, u64 n, u64 flags, bool fill)
{
    for (u64 i = 0; i < n; i++) {
        u64 v = va + i * PAGE_SIZE;
        u64 *pte = pte_of(v);
        if (!pte || !has_frame(*pte)) {
            if (!(flags & PTE_P) || !fill)
                continue;
            int r = pt_map(v, 1, flags, NULL, NULL);
            if (r)
                return r;
            continue;
        }
        u64 pa = *pte & PTE_ADDR;
        if ((flags & PTE_W) && !owned(*pte) && !shared_page(pa) && !filemap_page(pa)) {
            /* A page of the image becoming writable: give it a private copy. */
            u64 copy = frame_alloc();
            if (!copy)
                return -ENOMEM;
            memcpy(phys_to_virt(copy), phys_to_virt(pa), PAGE_SIZE);
            pa = copy;
        }
        *pte = pa | flags;
    }
    platform_tlb_flush(va, n * PAGE_SIZE);
    return 0;
}

int pt_move(u64 old, u64 new, u64 n)
{
    for (u64 i = 0; i < n; i++) {
        u64 *src = pte_of(old + i * PAGE_SIZE);
        u64 e = src ? *src : 0;
        if (!e)
            continue;
        if (src)
            *src = 0;
        u64 pa = e & PTE_ADDR;
        int r = pt_map(new + i * PAGE_SIZE, 1, e & ~PTE_ADDR, NULL, NULL);
        if (r)
            return r;
        u64 *dst = pte_of(new + i * PAGE_SIZE);
        frame_free(*dst & PTE_ADDR); /* the fresh frame pt_map gave */
        *dst = pa | (e & ~PTE_ADDR);
    }
    platform_tlb_flush(old, n * PAGE_SIZE);
    return 0;
}

bool pt_private_frame(u64 va)
{
    u64 *pte = pte_of(va);
    return pte && owned(*pte);
}

u64 pt_lookup(u64 va)
{
    u64 *pte = pte_of(va);
    return pte ? *pte : 0;
}

/* The page at va made this process's own frame, for the libOS to write into (syscall-site
 * rewriting): an image page gets a private copy with the same flags. -EPERM for pages that
 * are shared on purpose (the shared region, a shared file mapping), -EFAULT if unmapped. */
int pt_make_private(u64 va)
{
    u64 *pte = pte_of(va);
    if (!pte || !(*pte & PTE_ADDR))
        return -EFAULT;
    u64 pa = *pte & PTE_ADDR;
    if (owned(*pte))
        return 0;
    if (shared_page(pa) || filemap_page(pa))
        return -EPERM;
    u64 copy = frame_alloc();
    if (!copy)
        return -ENOMEM;
    memcpy(phys_to_virt(copy), phys_to_virt(pa), PAGE_SIZE);
    *pte = copy | (*pte & ~PTE_ADDR);
    platform_tlb_flush(va, PAGE_SIZE);
    return 0;
}
