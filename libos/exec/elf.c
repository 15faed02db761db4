/* ELF64 header and program-header validation. The file is untrusted: every field that
 * becomes an offset, an address or a size is checked before use. */
#include "elf.h"
#include "libos/errno.h"
#include "libos/string.h"

static const char *why = "";

const char *elf_error(void) { return why; }

static int bad(const char *reason)
{
    why = reason;
    return -ENOEXEC;
}

static u16 rd16(const u8 *p) { return (u16)(p[0] | p[1] << 8); }
static u32 rd32(const u8 *p) { return (u32)rd16(p) | (u32)rd16(p + 2) << 16; }
static u64 rd64(const u8 *p) { return (u64)rd32(p) | (u64)rd32(p + 4) << 32; }

int elf_parse(const u8 *b, u64 len, u64 size, struct elf_info *e)
{
    memset(e, 0, sizeof *e);
    if (len > size)
        len = size;
    if (len < 64 || memcmp(b, "\177ELF", 4))
        return bad("not an ELF file");
    if (b[4] != 2)
        return bad("not a 64-bit ELF file");
    if (b[5] != 1)
        return bad("not little-endian");
    e->type = rd16(b + 16);
    if (rd16(b + 18) != 62)
        return bad("not an x86-64 program");
    if (e->type != ET_EXEC && e->type != ET_DYN)
        return bad("not an executable (ELF type is not EXEC or DYN)");
    e->entry = rd64(b + 24);
    e->phoff = rd64(b + 32);
    u16 phentsize = rd16(b + 54);
    e->phnum = rd16(b + 56);
    if (phentsize != 56 || e->phnum == 0 || e->phnum > ELF_MAX_PHDRS)
        return bad("bad program header table");
    if (e->phoff > len || (u64)e->phnum * 56 > len - e->phoff)
        return bad("program headers lie outside the file's first page");
    e->lo = ~0ull;
    bool any_load = false;
    for (int i = 0; i < e->phnum; i++) {
        const u8 *p = b + e->phoff + (u64)i * 56;
        struct elf_phdr *ph = &e->ph[i];
        ph->type = rd32(p);
        ph->flags = rd32(p + 4);
        ph->offset = rd64(p + 8);
        ph->vaddr = rd64(p + 16);
        ph->paddr = rd64(p + 24);
        ph->filesz = rd64(p + 32);
        ph->memsz = rd64(p + 40);
        ph->align = rd64(p + 48);
        if (ph->type == PT_INTERP) {
            if (ph->offset > len || ph->filesz > len - ph->offset || ph->filesz < 2 ||
                ph->filesz > 4096)
                return bad("bad PT_INTERP");
            e->has_interp = true;
            e->interp_off = ph->offset;
            e->interp_len = ph->filesz;
        }
        if (ph->type == PT_PHDR)
            e->phdr_vaddr = ph->vaddr;
        if (ph->type != PT_LOAD)
            continue;
        if (ph->filesz > ph->memsz || ph->offset > size || ph->filesz > size - ph->offset)
            return bad("a segment lies outside the file");
        if ((ph->vaddr & 4095) != (ph->offset & 4095))
            return bad("a segment is not page-congruent with its file offset");
        if (ph->vaddr + ph->memsz < ph->vaddr || ph->vaddr + ph->memsz > (1ull << 46))
            return bad("a segment lies outside the user address space");
        u64 lo = ph->vaddr & ~4095ull, hi = (ph->vaddr + ph->memsz + 4095) & ~4095ull;
        if (lo < e->lo)
            e->lo = lo;
        if (hi > e->hi)
            e->hi = hi;
        /* The headers are mapped when some segment's file range holds them. */
        if (!e->phdr_vaddr && ph->offset <= e->phoff &&
            e->phoff + (u64)e->phnum * 56 <= ph->offset + ph->filesz)
            e->phdr_vaddr = ph->vaddr + (e->phoff - ph->offset);
        any_load = true;
    }
    if (!any_load)
        return bad("no loadable segment");
    if (e->type == ET_EXEC && e->lo < 0x10000)
        return bad("a segment is below the lowest mappable address (64 KiB)");
    if (e->type == ET_DYN && e->hi - e->lo > (1ull << 40))
        return bad("segments span too much address space");
    return 0;
}
