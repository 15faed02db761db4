/* Syscall-site rewriting (cpl3 backend). On this KVM the app's `syscall` instruction traps
 * through the host before it reaches the libOS (~2 µs, PVM.md). The first time a site traps,
 * the libOS rewrites it so that later calls jump into the libOS directly.
 *
 * Which sites: the common `mov $NR, %eax; syscall` (b8 imm32 0f 05), glibc's wrappers and
 * much of the rest. The 5-byte `mov` becomes a `jmp rel32` to a stub of our own, and the
 * stub does what the two instructions did plus what `syscall` itself does to registers:
 *     mov $NR, %eax; lea SITE+7(%rip), %rcx; mov $0x202, %r11d; jmp *syscall_entry
 * so the libOS's entry sees exactly the frame a trapped `syscall` gives (rcx = the return
 * address, r11 = flags; flags are not preserved across a syscall by any compiler's
 * assumption). The jump goes through %gs:0: each vCPU's GS base points at its own slot of
 * rewrite_gs[], which holds that vCPU's syscall entry (entry.S: one stub per vCPU), so a
 * thread enters on its own kernel stack. The app does not get GS: AT_HWCAP2 does not offer
 * FSGSBASE, ARCH_GET_GS reads 0 until the app sets one, and a process that sets its own GS
 * (arch_prctl ARCH_SET_GS) gets every rewritten site put back and rewriting turned off. Unlike the zpoline `call *%rax` rewrite, nothing is pushed on the app's stack:
 * the 128-byte red zone below rsp stays intact. The `syscall` bytes after the jump are left
 * as they were, so a thread that had already executed the old `mov`, and a syscall restart
 * (which re-executes rip-2), still take the ordinary trapping path and are correct.
 *
 * Where the code lives: a page of the image (mapped in place, shared) gets a private copy
 * first; a shared mapping (a file, the shared region) is never written. Stubs sit in pages
 * of their own within ±2 GiB of the sites (rel32), mapped read+exec for the app and written
 * by the libOS through its direct map. The patch is one 8-byte compare-and-swap when the 5
 * bytes lie in one aligned word, so another vCPU never fetches half of it; other sites are
 * rewritten only while the process has a single thread.
 *
 * Off with `uno run --no-syscall-rewrite` (UNO_BOOT_NO_REWRITE), and on the native backend,
 * where `syscall` never leaves the guest. */
#include "platform.h"
#include "core/kernel.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "proc/thread.h"

extern char syscall_entry[];

#define STUB_SIZE 32
#define SYSCALL_STRIDE 32 /* entry.S: vCPU n's syscall entry is syscall_entry + n * 32 */
#define MAX_SITES 4096
#define MAX_AREAS 64
#define NEAR (1ull << 31)

struct stub_area {
    u64 start;   /* a page of stubs, [uno-syscall] in /proc/self/maps; 0: unused */
    u64 used;    /* bytes of it handed out */
};

static struct stub_area areas[MAX_AREAS];

/* What each rewritten site held, to put it back (a process taking GS for itself). */
struct site {
    u64 addr;
    u8 orig[5];
};
static struct site sites[MAX_SITES];
static int nsites;

/* vCPU n's GS base is &rewrite_gs[n], which holds its syscall entry. */
u64 rewrite_gs[UNO_MAX_VCPUS];
static bool app_gs; /* the app set GS itself: no rewriting */

u64 rewrite_gs_base(int cpu)
{
    rewrite_gs[cpu] = (u64)syscall_entry + (u64)cpu * SYSCALL_STRIDE;
    return app_gs ? 0 : (u64)&rewrite_gs[cpu];
}

/* A site whose five bytes straddle an aligned word cannot be changed in one store; it is
 * rewritten only when no other thread can be executing it. (The caller holds the big lock,
 * so no thread is being created meanwhile.) */
static bool rewrite_single_threaded(void) { return nthreads <= 1; }
static bool enabled, decided;
bool rewrite_on(void)
{
    if (!decided) {
        decided = true;
        extern u8 platform_native_mode;
        enabled = !platform_native_mode && !(bootinfo->flags & UNO_BOOT_NO_REWRITE);
    }
    return enabled;
}
u64 rewrite_count; /* sites rewritten (for --verbose and tests) */

void rewrite_reset(void)
{
    memset(areas, 0, sizeof areas);
    nsites = 0;
    app_gs = false;
}

/* The process takes GS for itself: every rewritten site gets its `mov` back (the stubs
 * jump through GS), and no more are rewritten until exec. The caller holds the big lock;
 * other threads may be running app code, so each site is restored with one store where
 * its bytes lie in one word, as it was rewritten. */
void rewrite_app_takes_gs(void)
{
    app_gs = true;
    for (int i = 0; i < nsites; i++) {
        u64 site = sites[i].addr;
        for (int k = 0; k < 5; k++) {
            u64 va = site + (u64)k;
            *(u8 *)phys_to_virt((pt_lookup(va) & PTE_ADDR) + (va & (PAGE_SIZE - 1))) =
                sites[i].orig[k];
        }
        platform_tlb_flush(site & PAGE_MASK, 2 * PAGE_SIZE);
    }
    nsites = 0;
}

/* The byte at app address va, read through the page tables (no user access needed); false
 * if unmapped, or in a shared file mapping (its window is not in the libOS's direct map,
 * and such code is never rewritten). */
static bool peek(u64 va, u8 *out)
{
    u64 pte = pt_lookup(va);
    if (!(pte & PTE_P) || !(pte & PTE_ADDR) || filemap_page(pte & PTE_ADDR))
        return false;
    *out = *(u8 *)phys_to_virt((pte & PTE_ADDR) + (va & (PAGE_SIZE - 1)));
    return true;
}

static bool near(u64 a, u64 b) { return (a > b ? a - b : b - a) < NEAR - PAGE_SIZE; }

/* Room for one stub within rel32 reach of site: an existing area, or a new page. */
static u64 stub_alloc(u64 site)
{
    struct stub_area *free_slot = NULL;
    for (int i = 0; i < MAX_AREAS; i++) {
        struct stub_area *a = &areas[i];
        if (!a->start) {
            if (!free_slot)
                free_slot = a;
            continue;
        }
        if (near(a->start, site) && a->used + STUB_SIZE <= PAGE_SIZE) {
            a->used += STUB_SIZE;
            return a->start + a->used - STUB_SIZE;
        }
    }
    if (!free_slot)
        return 0;
    u64 page = vma_find_free_near(PAGE_SIZE, site, NEAR - 2 * PAGE_SIZE);
    /* Populated: the libOS writes stubs through the direct map, so the frame must exist. */
    if (!page || mm_mmap_anon(page, PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_POPULATE,
                              VMA_ANON, "[uno-syscall]") < 0)
        return 0;
    free_slot->start = page;
    free_slot->used = STUB_SIZE;
    return page;
}

static void put32(u8 *p, u32 v) { memcpy(p, &v, 4); }

static void write_stub(u64 stub, u64 site, u32 nr)
{
    u8 code[STUB_SIZE];
    u64 ret = site + 7;
    code[0] = 0xb8; /* mov $nr, %eax */
    put32(code + 1, nr);
    code[5] = 0x48, code[6] = 0x8d, code[7] = 0x0d; /* lea ret(%rip), %rcx */
    put32(code + 8, (u32)(ret - (stub + 12)));
    code[12] = 0x41, code[13] = 0xbb; /* mov $0x202, %r11d */
    put32(code + 14, 0x202);
    code[18] = 0x65, code[19] = 0xff, code[20] = 0x24, code[21] = 0x25; /* jmp *%gs:0 */
    put32(code + 22, 0);
    memset(code + 26, 0xcc, STUB_SIZE - 26);
    u64 pte = pt_lookup(stub);
    memcpy(phys_to_virt((pte & PTE_ADDR) + (stub & (PAGE_SIZE - 1))), code, STUB_SIZE);
}

/* Make the page holding va privately ours; false for pages that are not (shared ones). */
static bool private_page(u64 va)
{
    return pt_make_private(va & PAGE_MASK) == 0;
}

static bool patch(u64 site, u64 stub)
{
    u8 jmp[5] = {0xe9};
    put32(jmp + 1, (u32)(stub - (site + 5)));
    u64 word = site & ~7ull;
    if (site - word <= 3) {
        /* All five bytes in one aligned word: one atomic store. */
        u64 *w = (u64 *)phys_to_virt((pt_lookup(word) & PTE_ADDR) + (word & (PAGE_SIZE - 1)));
        u64 old = __atomic_load_n(w, __ATOMIC_SEQ_CST), new = old;
        memcpy((u8 *)&new + (site - word), jmp, 5);
        return __atomic_compare_exchange_n(w, &old, new, false, __ATOMIC_SEQ_CST,
                                           __ATOMIC_SEQ_CST);
    }
    if (!rewrite_single_threaded())
        return false;
    for (int i = 0; i < 5; i++) {
        u64 va = site + (u64)i;
        *(u8 *)phys_to_virt((pt_lookup(va) & PTE_ADDR) + (va & (PAGE_SIZE - 1))) = jmp[i];
    }
    return true;
}

void rewrite_site(const struct regs *r)
{
    if (!rewrite_on() || app_gs || nsites == MAX_SITES)
        return;
    u64 site = r->rcx - 7;
    u8 b[7];
    for (int i = 0; i < 7; i++)
        if (!peek(site + (u64)i, &b[i]))
            return;
    if (b[0] != 0xb8 || b[5] != 0x0f || b[6] != 0x05)
        return; /* not `mov $imm32, %eax; syscall`, or rewritten already */
    u32 nr;
    memcpy(&nr, b + 1, 4);
    if (nr != r->rax || nr >= 1024)
        return; /* the mov was not what set rax (a jump to the syscall from elsewhere) */
    /* A REX prefix before b8 makes it `mov $imm32, %r8d`..`%r15d`: not ours. (b8 as a ModRM
     * byte addresses disp32(%rax), with rax a syscall number: that code would have faulted.) */
    u8 before;
    if (!peek(site - 1, &before) || (before >= 0x40 && before <= 0x4f))
        return;
    struct vma *v = vma_find(site);
    struct vma *v2 = vma_find(site + 6);
    if (!v || !v2 || !(v->prot & PROT_EXEC) || !(v2->prot & PROT_EXEC) ||
        !(v->flags & MAP_PRIVATE) || !(v2->flags & MAP_PRIVATE))
        return;
    if (!private_page(site) || !private_page(site + 4))
        return;
    u64 stub = stub_alloc(site);
    if (!stub)
        return;
    write_stub(stub, site, nr);
    struct site rec = {.addr = site};
    memcpy(rec.orig, b, 5);
    if (patch(site, stub)) {
        sites[nsites++] = rec;
        rewrite_count++;
        platform_tlb_flush(site & PAGE_MASK, 2 * PAGE_SIZE);
    }
}
