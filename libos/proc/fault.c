/* CPU exceptions. An exception in the app ends it with the signal Linux would send (its
 * default action: this issue has no handler delivery yet); the VMM prints the report, with
 * the fault address it reads from CR2 (CPL 3 code cannot). An exception inside the libOS is
 * a libOS bug: panic with the details. */
#include "proc.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "sys/syscalls.h"
#include "signal.h"
#include "mm/mm.h"
#include "thread.h"


static int vector_signal(u64 v)
{
    switch (v) {
    case 0: case 16: case 19: return SIGFPE;  /* divide error, x87, SIMD */
    case 1: case 3: return SIGTRAP;           /* debug, int3 */
    case 6: return SIGILL;                    /* invalid opcode */
    case 12: case 17: return SIGBUS;          /* stack segment, alignment check */
    default: return SIGSEGV;                  /* #GP, #PF and the rest */
    }
}

/* si_code of a fault, as Linux reports it. */
#define SEGV_MAPERR 1
#define SEGV_ACCERR 2
#define FPE_INTDIV 1
#define ILL_ILLOPN 2
#define BUS_ADRALN 1
#define BUS_ADRERR 2

void exception_dispatch(struct regs *r)
{
    /* Before the lock: the libOS faulting holds it already, and would wait for itself. */
    if (r->rip >= UNO_VA_LIBOS)
        panic("exception %lu (error 0x%lx) in the libOS at rip 0x%lx, rsp 0x%lx", r->vector,
              r->error, r->rip, r->rsp);
    big_lock();
    int sig = vector_signal(r->vector);
    int code = SI_KERNEL;
    u64 addr = 0;
    switch (r->vector) {
    case 14: { /* #PF: the address is in CR2, which only the VMM can read here */
        struct uno_hcall *hc = platform_hcall_block();
        platform_hypercall(UNO_HC_CR2);
        addr = (u64)hc->ret;
        /* A page of a lazy area, touched first: filled, and the app goes on. */
        int filled = (r->error & 1) ? 0 : mm_fault_in(addr, r->error & 2, r->error & 16);
        /* Every register as it was (not a syscall's return, which clobbers rcx and r11). */
        if (filled > 0 && platform_return_full_ok(r)) {
            big_unlock();
            arch_return_full(r);
        }
        if (filled < 0) {
            /* Linux's OOM killer would end it too; say why. */
            kprintf("uno: out of guest memory at 0x%lx (pid %d); uno run --memory gives "
                    "more\n", addr, proc.pid);
            sig = SIGKILL;
            break;
        }
        /* Present-but-forbidden, or not present inside an area (PROT_NONE): ACCERR. A page of
         * a file mapping past the end of the file: SIGBUS, as Linux. */
        struct vma *v = vma_find(addr);
        if (v && v->kind == VMA_FILE && !(r->error & 1) && !(pt_lookup(addr) & PTE_ADDR)) {
            sig = SIGBUS;
            code = BUS_ADRERR;
            break;
        }
        code = (r->error & 1) || v ? SEGV_ACCERR : SEGV_MAPERR;
        break;
    }
    case 0: code = FPE_INTDIV; addr = r->rip; break;
    case 6: code = ILL_ILLOPN; addr = r->rip; break;
    case 17: code = BUS_ADRALN; break;
    default: break;
    }
    signal_fault(r, sig, code, addr);
}
