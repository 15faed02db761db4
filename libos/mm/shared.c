/* Memory that stays shared across fork. A fork copies guest RAM copy-on-write (the host
 * forks the VMM), so MAP_SHARED|MAP_ANONYMOUS pages come instead from the VM's shared
 * region: a host memfd that every VMM of the process tree maps shared (UNO_GPA_SHARED).
 * Its first pages hold a reference count per page, in the region itself so that all the
 * processes see them: a page is handed out again only when no process maps it any more.
 * Before them, the instance's header: the generation of the writable layer's names. */
#include "mm.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "libos/string.h"

static u16 *refs;      /* one count per page of the region */
static u64 npages, first, hint;

/* The region starts with the instance's header (abi: struct uno_shared_hdr), then the
 * counts; the pages they fill are never handed out. */
void shared_init(void)
{
    npages = bootinfo->shared_size / PAGE_SIZE;
    refs = (u16 *)((u8 *)phys_to_virt(UNO_GPA_SHARED) + UNO_SHARED_HDR_BYTES);
    first = ALIGN_UP(UNO_SHARED_HDR_BYTES + npages * sizeof(u16), PAGE_SIZE) / PAGE_SIZE;
    hint = first;
}

u64 shared_upper_gen(void)
{
    const struct uno_shared_hdr *h = phys_to_virt(UNO_GPA_SHARED);
    return __atomic_load_n(&h->upper_gen, __ATOMIC_ACQUIRE);
}

bool shared_page(u64 pa)
{
    return pa >= UNO_GPA_SHARED && pa < UNO_GPA_SHARED + npages * PAGE_SIZE;
}

/* A zeroed page of the region with one reference, or 0 when it is full. */
u64 shared_alloc(void)
{
    for (u64 n = 0; n < npages - first; n++) {
        u64 i = first + (hint - first + n) % (npages - first);
        u16 zero = 0;
        if (__atomic_compare_exchange_n(&refs[i], &zero, 1, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST)) {
            hint = i + 1 < npages ? i + 1 : first;
            u64 pa = UNO_GPA_SHARED + i * PAGE_SIZE;
            memset(phys_to_virt(pa), 0, PAGE_SIZE);
            return pa;
        }
    }
    return 0;
}

void shared_get(u64 pa)
{
    if (shared_page(pa))
        __atomic_fetch_add(&refs[(pa - UNO_GPA_SHARED) / PAGE_SIZE], 1, __ATOMIC_SEQ_CST);
}

void shared_put(u64 pa)
{
    if (shared_page(pa))
        __atomic_fetch_sub(&refs[(pa - UNO_GPA_SHARED) / PAGE_SIZE], 1, __ATOMIC_SEQ_CST);
}

static u64 shared_pa(void *ctx, u64 i)
{
    (void)ctx, (void)i;
    u64 pa = shared_alloc();
    return pa ? pa : PA_FAIL;
}

i64 mm_mmap_shared_anon(u64 addr, u64 len, int prot, int flags)
{
    int r = pt_map(addr, len / PAGE_SIZE, prot_to_pte(prot), shared_pa, NULL);
    if (r)
        return r;
    r = vma_add(addr, addr + len, prot, flags, VMA_SHARED, 0, NULL);
    if (r) {
        pt_unmap(addr, len / PAGE_SIZE);
        return r;
    }
    return (i64)addr;
}

/* Before a fork: the child will map every shared page we map. */
static void for_each_shared(void (*fn)(u64 pa))
{
    for (int k = 0; k < vma_count(); k++) {
        struct vma *v = vma_at(k);
        if (v->kind != VMA_SHARED)
            continue;
        for (u64 a = v->start; a < v->end; a += PAGE_SIZE) {
            u64 pte = pt_lookup(a);
            if (shared_page(pte & PTE_ADDR))
                fn(pte & PTE_ADDR);
        }
    }
}

void shared_fork(void) { for_each_shared(shared_get); }
void shared_fork_failed(void) { for_each_shared(shared_put); }

/* At exit: give back what we map (the rest of our memory goes with the VM). */
void shared_exit(void)
{
    for (int k = vma_count() - 1; k >= 0; k--) {
        struct vma *v = vma_at(k);
        if (v->kind == VMA_SHARED)
            vma_remove(v->start, v->end);
    }
}

/* Words that stay shared across fork, for state Linux keeps in an open file description
 * (the status flags F_SETFL changes): slots in pages of the region, each with a reference
 * count of the processes whose files use it. The pages a process knows are the ones it
 * allocated or inherited, which is all that can be shared with it. */
struct shslot {
    u32 refs;
    u32 word;
};
#define SLOTS_PER_PAGE (PAGE_SIZE / sizeof(struct shslot))
#define SLOT_PAGES 16
static struct shslot *slot_pages[SLOT_PAGES];

u32 *shared_word_alloc(u32 init)
{
    for (int p = 0; p < SLOT_PAGES; p++) {
        if (!slot_pages[p]) {
            u64 pa = shared_alloc();
            if (!pa)
                return NULL;
            slot_pages[p] = phys_to_virt(pa);
        }
        for (u64 i = 0; i < SLOTS_PER_PAGE; i++) {
            struct shslot *s = &slot_pages[p][i];
            u32 zero = 0;
            if (__atomic_compare_exchange_n(&s->refs, &zero, 1, false, __ATOMIC_SEQ_CST,
                                            __ATOMIC_SEQ_CST)) {
                __atomic_store_n(&s->word, init, __ATOMIC_SEQ_CST);
                return &s->word;
            }
        }
    }
    return NULL;
}

static struct shslot *slot_of(u32 *word) { return (struct shslot *)((u8 *)word - sizeof(u32)); }

void shared_word_get(u32 *word) { __atomic_fetch_add(&slot_of(word)->refs, 1, __ATOMIC_SEQ_CST); }
void shared_word_put(u32 *word) { __atomic_fetch_sub(&slot_of(word)->refs, 1, __ATOMIC_SEQ_CST); }
