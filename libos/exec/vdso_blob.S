/* The vDSO (libos/vdso/), built as its own shared object and carried inside the libOS. */
    .section .rodata.vdso, "a"
    .balign 4096
    .globl vdso_image, vdso_image_end
vdso_image:
    .incbin "build/vdso.so"
vdso_image_end:
    .section .note.GNU-stack, "", @progbits
