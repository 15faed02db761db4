/* The register frame saved on syscall and exception entry (arch/x86_64/entry.S). */
#ifndef ARCH_REGS_H
#define ARCH_REGS_H
#include "libos/types.h"

struct regs {
    u64 r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8, rax, rcx, rdx, rsi, rdi;
    u64 vector, error;        /* exceptions only */
    u64 rip, cs, rflags, rsp, ss; /* syscall frames fill rip, rflags, rsp */
};

#endif
