/* CPU exceptions. An exception in the app ends it with the signal Linux would send (its
 * default action: this issue has no handler delivery yet); the VMM prints the report, with
 * the fault address it reads from CR2 (CPL 3 code cannot). An exception inside the libOS is
 * a libOS bug: panic with the details. */
#include "proc.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "sys/syscalls.h"

#define SIGILL 4
#define SIGTRAP 5
#define SIGBUS 7
#define SIGFPE 8
#define SIGSEGV 11

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

void exception_dispatch(struct regs *r)
{
    if (r->rip >= UNO_VA_LIBOS)
        panic("exception %lu (error 0x%lx) in the libOS at rip 0x%lx, rsp 0x%lx", r->vector,
              r->error, r->rip, r->rsp);
    int sig = vector_signal(r->vector);
    syscall_report_enosys();
    ring_flush();
    struct uno_hcall *hc = platform_hcall_block();
    hc->arg[0] = (u64)sig;
    hc->arg[1] = r->vector;
    hc->arg[2] = r->error;
    hc->arg[3] = r->rip;
    hc->arg[4] = r->rsp;
    for (;;)
        platform_hypercall(UNO_HC_FAULT);
}
