/*
 * Entry points of the libOS (cpl3 backend): boot, syscall, exceptions.
 *
 * On this KVM the app's `syscall` lands at MSR_LSTAR still at CPL 3 (PVM.md). We switch to
 * the libOS stack, save a struct regs, call C, and return WITHOUT sysret (it faults here):
 * restore the flags with popfq on our own stack, load the app's rsp and jump to rcx. The
 * app's red zone below its rsp is never touched.
 */
/* The libOS header the VMM reads (struct uno_libos_header) is in header.c. */

#define KSTACK_SIZE 65536
#define EXC_STRIDE 16 /* keep equal to header.c */

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

    .globl syscall_entry
    .align 16
syscall_entry:
    mov %rsp, syscall_user_rsp(%rip)
    lea kstack_top(%rip), %rsp
    sub $8, %rsp                        /* ss slot */
    pushq syscall_user_rsp(%rip)        /* rsp */
    push %r11                           /* rflags */
    sub $8, %rsp                        /* cs slot */
    push %rcx                           /* rip */
    pushq $0                            /* error */
    pushq $-1                           /* vector: -1 marks a syscall frame */
    SAVE_GPRS
    mov %rsp, %rdi
    call syscall_dispatch
    /* fall through: return to the app with the (possibly changed) frame */
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
    mov %rax, return_full_sp(%rip)
    RESTORE_GPRS
    mov return_full_sp(%rip), %rsp
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
    pushq $exc_stack_top - 40           /* rsp: the app's frame */
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
    .align 16
    .globl syscall_user_rsp
syscall_user_rsp: .quad 0
return_full_sp: .quad 0
    .align 4096
    .space KSTACK_SIZE
    .globl kstack_top
kstack_top:
    .space 16384
    .globl boot_stack_top
boot_stack_top:
    .space 16384
    .globl exc_stack_top
exc_stack_top:
    .section .note.GNU-stack,"",@progbits
