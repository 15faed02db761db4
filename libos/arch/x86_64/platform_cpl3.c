/* cpl3 backend: KVM runs guest CPL 3 natively and CPL 0 through an emulator (PVM.md), so
 * the libOS never leaves CPL 3. Privileged state was set up by the VMM before boot; what is
 * left is reachable from CPL 3: wrfsbase (CR4.FSGSBASE is on), rdtsc, and writes to the
 * doorbell and hypercall addresses. */
#include "platform.h"

static volatile u32 *doorbell;
static volatile u32 *hcall_port;

void platform_init(const struct uno_bootinfo *bi)
{
    (void)bi;
    doorbell = phys_to_virt(UNO_MMIO_DOORBELL);
    hcall_port = phys_to_virt(UNO_MMIO_HYPERCALL);
}

const char *platform_name(void) { return "cpl3"; }

struct uno_hcall *platform_hcall_block(void) { return phys_to_virt(UNO_GPA_HCALL); }

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

/* invlpg and mov-to-CR3 are privileged, and the host's shadow MMU does not notice writes
 * to live page-table entries: after changing (not adding) translations, reload CR3 through
 * the #BP gate (entry.S), ~10 us. */
void arch_tlb_flush(void);

void platform_tlb_flush(u64 va, u64 len)
{
    (void)va;
    (void)len;
    arch_tlb_flush();
}
