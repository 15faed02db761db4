/* The platform seam: everything that differs between KVM kinds sits behind these calls
 * (platform.c: the cpl3 and native backends). Nothing above libos/arch/ knows which backend
 * runs. */
#ifndef ARCH_PLATFORM_H
#define ARCH_PLATFORM_H
#include "libos/types.h"
#include "../../abi/uno_abi.h"
#include "regs.h"

/* Pointer to guest-physical memory through the direct map. */
static inline void *phys_to_virt(u64 gpa) { return (void *)(UNO_VA_DMAP + gpa); }
static inline u64 virt_to_phys_dmap(const void *va) { return (u64)va - UNO_VA_DMAP; }

/* Returns NULL, or why the backend the VMM chose does not match what the libOS sees. */
const char *platform_init(const struct uno_bootinfo *bi);
const char *platform_name(void);

/* Around code that reads or writes the app's memory through its own addresses (syscall
 * handlers, building the initial stack): opens it under SMAP on the native backend. */
void platform_user_access_begin(void);
void platform_user_access_end(void);

/* Stop the vCPU and ask the VMM: nr = enum uno_hcall_nr; args in/out through the block. */
struct uno_hcall *platform_hcall_block(void);
void platform_hypercall(u32 nr);
void platform_doorbell(void);
NORETURN void platform_halt(int status);

static inline u64 platform_rdtsc(void)
{
    u32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((u64)hi << 32) | lo;
}

/* The app's TLS base (arch_prctl). */
void platform_set_fs(u64 base);
u64 platform_get_fs(void);
void platform_set_gs(u64 base);
u64 platform_get_gs(void);

/* First entry into the app, with a prepared frame. */
NORETURN void arch_enter_user(struct regs *frame);
/* Back to the app with every register of the frame (rcx and r11 too). */
NORETURN void arch_return_full(struct regs *frame);
/* Can arch_return_full(frame) run now? On cpl3 it stores rflags and rip just below the app's
 * red zone, so those 16 bytes must be writable app memory (a lazy stack's are filled). */
bool platform_return_full_ok(const struct regs *frame);

/* After changing live page-table entries: make the change visible to this vCPU. */
void platform_tlb_flush(u64 va, u64 len);
/* rewrite.c: syscall sites of the app rewritten into jumps to the libOS (cpl3). */
struct regs;
void rewrite_site(const struct regs *r); /* the site r's syscall came from, if it can be */
void rewrite_reset(void);                /* exec: the old program's stubs are gone */
bool rewrite_on(void);                   /* rewriting is enabled for this VM */
u64 rewrite_gs_base(int cpu);            /* vCPU cpu's GS base (0 once the app owns GS) */
void rewrite_app_takes_gs(void);         /* arch_prctl(ARCH_SET_GS): sites restored, off */
extern u64 rewrite_count;

static inline void cpu_relax(void) { __asm__ volatile("pause"); }
static inline void mb(void) { __asm__ volatile("mfence" ::: "memory"); }

#endif
