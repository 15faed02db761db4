/* ELF64 parsing for exec: pure functions over a byte buffer, tested on the host. */
#ifndef EXEC_ELF_H
#define EXEC_ELF_H
#include "libos/types.h"

#define ELF_MAX_PHDRS 64
#define PT_LOAD 1
#define PT_INTERP 3
#define PT_PHDR 6
#define PT_TLS 7
#define PT_GNU_STACK 0x6474e551
#define PF_X 1
#define PF_W 2
#define PF_R 4
#define ET_EXEC 2
#define ET_DYN 3

struct elf_phdr {
    u32 type, flags;
    u64 offset, vaddr, paddr, filesz, memsz, align;
};

struct elf_info {
    u16 type;            /* ET_EXEC or ET_DYN */
    u64 entry;
    u64 phoff;
    u16 phnum;
    struct elf_phdr ph[ELF_MAX_PHDRS];
    u64 lo, hi;          /* page-aligned span of PT_LOAD segments (unrelocated) */
    u64 phdr_vaddr;      /* where the program headers are in memory (unrelocated), 0: none */
    bool has_interp;
    u64 interp_off, interp_len;
};

/* Parse the first `len` bytes of a file of `file_size` bytes (the program-header table
 * must lie within them). Errors: -ENOEXEC (not an ELF, wrong class/machine/type, corrupt
 * headers); elf_error() says which. */
int elf_parse(const u8 *buf, u64 len, u64 file_size, struct elf_info *out);
const char *elf_error(void); /* why the last elf_parse failed, for messages */

#endif
