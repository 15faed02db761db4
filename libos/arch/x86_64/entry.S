/*
 * Entry points of the libOS (cpl3 backend): boot, syscall, exceptions.
 *
 * On this KVM the app's `syscall` lands at MSR_LSTAR still at CPL 3 (PVM.md). We switch to
 * the libOS stack, save a struct regs, call C, and return WITHOUT sysret (it faults here):
 * restore the flags with popfq on our own stack, load the app's rsp and jump to rcx. The
 * app's red zone below its rsp is never touched.
 */
/* The libOS header the VMM reads (struct uno_libos_header) is in header.c. */

#define EXC_STRIDE 16 /* keep equal to header.c */
/* Per-vCPU blocks (libos/proc/thread.h): keep equal to CPU_BLOCK, CPU_EXC_TOP,
 * CPU_KSTACK_TOP there. */
#define CPU_BLOCK 0x20000
#define CPU_EXC_TOP 0xc000
#define CPU_KSTACK_TOP (CPU_BLOCK - 64)
#define MAX_VCPUS 64        /* UNO_MAX_VCPUS */
#define SYSCALL_STRIDE 32   /* UNO_SYSCALL_STRIDE */

    .section .text.entry, "ax"
    .globl libos_start
libos_start:
    /* rdi = boot info, rsp = boot_stack_top (set by the VMM) */
    xor %ebp, %ebp
    call libos_main
    ud2

/* Push/pop the GPRs in struct regs order (r15 lowest). */
.macro SAVE_GPRS
    push %rdi
    push %rsi
    push %rdx
    push %rcx
    push %rax
    push %r8
    push %r9
    push %r10
    push %r11
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
.endm
.macro RESTORE_GPRS
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rax
    pop %rcx
    pop %rdx
    pop %rsi
    pop %rdi
.endm

/*
 * vCPU n's MSR_LSTAR is syscall_entry + n * SYSCALL_STRIDE: a stub that knows n, so it can
 * save the app's rsp and find its own stack (percpu_entry[n], set when the thread starts)
 * without a free register. The common part follows the stubs' table.
 */
syscall_common:
    push %r11                           /* rflags */
    sub $8, %rsp                        /* cs slot */
    push %rcx                           /* rip */
    pushq $0                            /* error */
    pushq $-1                           /* vector: -1 marks a syscall frame */
    SAVE_GPRS
    mov %rsp, %rdi
    call syscall_dispatch
    jmp syscall_return

    .globl syscall_entry
    .balign SYSCALL_STRIDE
syscall_entry:
.set cpu, 0
.rept MAX_VCPUS
    .balign SYSCALL_STRIDE
    mov %rsp, percpu_entry + 16 * cpu(%rip)         /* the app's rsp */
    mov percpu_entry + 16 * cpu + 8(%rip), %rsp     /* this vCPU's kernel stack */
    sub $8, %rsp                                    /* ss slot */
    pushq percpu_entry + 16 * cpu(%rip)             /* rsp */
    jmp syscall_common
.set cpu, cpu + 1
.endr
    .balign SYSCALL_STRIDE
    .globl syscall_entry_end
syscall_entry_end:

    .globl syscall_return
syscall_return:
    RESTORE_GPRS
    add $16, %rsp                       /* vector, error */
    mov 0(%rsp), %rcx                   /* rip: Linux returns it in rcx too */
    mov 16(%rsp), %r11                  /* rflags: and these in r11 */
    cmpb $0, platform_native_mode(%rip)
    jne 1f
    /* cpl3: no sysret (it faults here); flags from our stack, then the app's rsp. */
    pushq 16(%rsp)
    popfq
    mov 24(%rsp), %rsp
    jmp *%rcx
1:  /* native: sysretq, unless rip is not a canonical user address (sysret would fault in
     * ring 0 on the user stack): then iretq with the user segments. */
    bt $47, %rcx
    jc 2f
    mov 24(%rsp), %rsp
    sysretq
2:  movq $0x2b, 8(%rsp)                 /* cs: UNO_SEL_UCODE */
    movq $0x23, 32(%rsp)                /* ss: UNO_SEL_UDATA */
    iretq

/*
 * Return to the app restoring every register of a struct regs (rdi), rcx and r11 included:
 * after a signal handler (rt_sigreturn) and after an upcall, where the app did not expect
 * a syscall to clobber them. cpl3: rflags and rip go just below the app's red zone (the
 * 128 bytes under rsp that the ABI lets leaf code use), then popfq and `ret $128` land on
 * the app's own rsp. native: iretq.
 */
    .globl arch_return_full
arch_return_full:
    mov %rdi, %rsp
    cmpb $0, platform_native_mode(%rip)
    jne 1f
    mov 160(%rsp), %rax                 /* the app's rsp */
    sub $144, %rax
    mov 152(%rsp), %rcx
    mov %rcx, (%rax)                    /* rflags */
    mov 136(%rsp), %rcx
    mov %rcx, 8(%rax)                   /* rip */
    mov %rax, 120(%rsp)                 /* the vector slot: where rsp goes */
    RESTORE_GPRS
    mov (%rsp), %rsp
    popfq
    ret $128
1:  RESTORE_GPRS
    add $16, %rsp                       /* vector, error */
    movq $0x2b, 8(%rsp)                 /* cs: UNO_SEL_UCODE */
    movq $0x23, 32(%rsp)                /* ss: UNO_SEL_UDATA */
    iretq

/* The VMM stopped the vCPU in app code to deliver a signal and sent it here, on the libOS
 * stack, with the app's registers in the signal page (struct uno_sigpage). */
    .globl upcall_entry
    .align 16
upcall_entry:
    sub $176, %rsp                      /* a struct regs */
    mov %rsp, %rdi
    call upcall_dispatch
    ud2

/* Enter the app for the first time: rdi = struct regs* (a frame built by exec). */
    .globl arch_enter_user
arch_enter_user:
    mov %rdi, %rsp
    jmp syscall_return

/*
 * #BP at CPL 0: the only libOS code that runs at ring 0 on this backend, and every
 * instruction of it is emulated by the host (~2 us each), so it is as short as it can be.
 * The int3 at flush_site is the libOS asking for a TLB flush: reload CR3 and return. Any
 * other int3 is the app's: re-enter the CPL 3 stub for vector 3 with the app's frame, which
 * the CPU left at exc_stack_top - 40 (RSP0 = IST1 = exc_stack_top), as if it had been taken
 * at CPL 3.
 */
    .align 16
    .globl bp_gate
bp_gate:
    cmpq $flush_site_end, (%rsp)
    jne 1f
    push %rax
    mov %cr3, %rax
    mov %rax, %cr3
    pop %rax
    iretq
1:  pushq $0x23                         /* ss: UNO_SEL_UDATA */
    push %rsp                           /* rsp: the app's frame, just above ss */
    addq $8, (%rsp)
    pushq $0x2                          /* rflags */
    pushq $0x2b                         /* cs: UNO_SEL_UCODE */
    pushq $exc_table + 3 * EXC_STRIDE   /* rip: the CPL 3 stub for #BP */
    iretq

    .globl arch_tlb_flush
arch_tlb_flush:
    int3
flush_site_end:
    ret

/* Exception stubs, one every EXC_STRIDE bytes; the CPU pushes an error code for some. */
    .align 16
    .globl exc_table
exc_table:
.set vec, 0
.rept 32
    .align EXC_STRIDE
    .if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    pushq $vec
    .else
    pushq $0
    pushq $vec
    .endif
    jmp exc_common
.set vec, vec + 1
.endr

exc_common:
    SAVE_GPRS
    mov %rsp, %rdi
    and $-16, %rsp
    call exception_dispatch
    ud2

    .bss
    .balign 16
    .globl percpu_entry
percpu_entry: .space 16 * MAX_VCPUS    /* per vCPU: the app's rsp, the kernel stack top */
/* vCPU 0's block (struct cpu, exception stack, kernel stack); it boots on that stack. */
    .balign CPU_BLOCK
    .globl cpu0_block
cpu0_block: .space CPU_BLOCK
    .globl kstack_top, boot_stack_top, exc_stack_top
    .set kstack_top, cpu0_block + CPU_KSTACK_TOP
    .set boot_stack_top, cpu0_block + CPU_KSTACK_TOP
    .set exc_stack_top, cpu0_block + CPU_EXC_TOP
    .section .note.GNU-stack,"",@progbits
