/*
 * The platform layer's two backends, chosen at boot from the boot info; nothing outside
 * libos/arch/ knows which one runs.
 *
 * cpl3 — KVM runs guest CPL 3 natively and CPL 0 through an emulator (PVM.md), so the libOS
 *   never leaves CPL 3. Privileged state was set up by the VMM before boot; what is left is
 *   reachable from CPL 3: wrfsbase (CR4.FSGSBASE is on), rdtsc, writes to the doorbell and
 *   hypercall addresses, and the #BP gate for TLB flushes.
 * native — hardware KVM (VT-x/AMD-V): the libOS is a ring-0 kernel. The app's syscall enters
 *   at CPL 0 and returns with sysretq; TLB flushes are a CR3 reload; libOS pages are
 *   supervisor-only; with SMAP on, user access is opened (stac/clac) only around each copy
 *   to or from the app's memory (mm/vma.c copy_to_user and friends, and the file operations
 *   that read into or write from the app's buffer), after the range was checked.
 */
#include "platform.h"
#include "proc/thread.h"
#include "mm/mm.h"

u8 platform_native_mode; /* read by entry.S to pick the return path */
static bool smap;
static volatile u32 *doorbell;
static volatile u32 *hcall_port;

static u64 current_cpl(void)
{
    u64 cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    return cs & 3;
}

const char *platform_init(const struct uno_bootinfo *bi)
{
    doorbell = phys_to_virt(UNO_MMIO_DOORBELL);
    hcall_port = phys_to_virt(UNO_MMIO_HYPERCALL);
    u64 cpl = current_cpl();
    if (bi->backend == UNO_BACKEND_NATIVE) {
        if (cpl != 0)
            return "the VMM chose the native backend but the libOS runs at CPL 3";
        platform_native_mode = 1;
        u64 cr4;
        __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
        smap = (cr4 >> 21) & 1;
        return NULL;
    }
    if (bi->backend == UNO_BACKEND_CPL3) {
        if (cpl != 3)
            return "the VMM chose the cpl3 backend but the libOS runs at CPL 0";
        return NULL;
    }
    return "the VMM asked for an unknown backend";
}

const char *platform_name(void) { return platform_native_mode ? "native" : "cpl3"; }

bool platform_return_full_ok(const struct regs *frame)
{
    return platform_native_mode || user_ok((void *)(frame->rsp - 144), 16, PROT_WRITE);
}

void platform_user_access_begin(void)
{
    if (smap)
        __asm__ volatile("stac" ::: "memory");
}

void platform_user_access_end(void)
{
    if (smap)
        __asm__ volatile("clac" ::: "memory");
}

/* Each vCPU has its own (proc/thread.h, struct cpu). */
struct uno_hcall *platform_hcall_block(void) { return &this_cpu()->vc.hc; }

void platform_hypercall(u32 nr)
{
    __asm__ volatile("movl %1, %0" : "=m"(*hcall_port) : "r"(nr) : "memory");
}

void platform_doorbell(void)
{
    __asm__ volatile("movl %1, %0" : "=m"(*doorbell) : "r"(1u) : "memory");
}

void platform_halt(int status)
{
    struct uno_hcall *hc = platform_hcall_block();
    hc->arg[0] = (u64)status;
    for (;;)
        platform_hypercall(UNO_HC_EXIT);
}

void platform_set_fs(u64 base) { __asm__ volatile("wrfsbase %0" ::"r"(base)); }
u64 platform_get_fs(void)
{
    u64 b;
    __asm__ volatile("rdfsbase %0" : "=r"(b));
    return b;
}
void platform_set_gs(u64 base) { __asm__ volatile("wrgsbase %0" ::"r"(base)); }
u64 platform_get_gs(void)
{
    u64 b;
    __asm__ volatile("rdgsbase %0" : "=r"(b));
    return b;
}

/* After changing (not adding) translations. cpl3: invlpg and mov-to-CR3 are privileged,
 * and the host's shadow MMU does not notice writes to live page-table entries: reload CR3
 * through the #BP gate (entry.S), ~10 us. native: reload CR3. */
void arch_tlb_flush(void);

void platform_tlb_flush(u64 va, u64 len)
{
    (void)va;
    (void)len;
    if (platform_native_mode) {
        u64 cr3;
        __asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
        return;
    }
    arch_tlb_flush();
}
