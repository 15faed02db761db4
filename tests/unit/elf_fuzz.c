/* libFuzzer target for the libOS ELF parser (libos/exec/elf.c, elf_parse).
 *
 * The input is the start of a file. It is parsed three ways: as a whole file (data = file),
 * as exec sees a big file (the first 4 KiB of data, file size 4 GiB: segments may lie past
 * the data), and with a file size of half the data (the data length is clamped). Each call
 * gets an exact-size heap buffer, so an overread is an ASan error. An accepted header must
 * satisfy the rules the loader relies on (checked here independently); a refused one must
 * say why. Seeds: the first page of real programs and elf_test --write-seeds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/elf.h"
#include "libos/errno.h"

#define FAIL(...)                                                                               \
    do {                                                                                        \
        fprintf(stderr, "elf_fuzz: " __VA_ARGS__);                                              \
        fputc('\n', stderr);                                                                    \
        abort();                                                                                \
    } while (0)

static struct elf_info info;

static void check_accepted(const struct elf_info *e, u64 len, u64 size)
{
    if (len > size)
        len = size;
    if (e->type != ET_EXEC && e->type != ET_DYN)
        FAIL("type %u accepted", e->type);
    if (e->phnum < 1 || e->phnum > ELF_MAX_PHDRS)
        FAIL("phnum %u accepted", e->phnum);
    if (e->phoff > len || (u64)e->phnum * 56 > len - e->phoff)
        FAIL("program headers %llu+%u*56 outside %llu bytes", (unsigned long long)e->phoff,
             e->phnum, (unsigned long long)len);
    if (e->lo & 4095 || e->hi & 4095 || e->lo > e->hi || e->hi > (1ull << 46))
        FAIL("span %llx-%llx", (unsigned long long)e->lo, (unsigned long long)e->hi);
    if (e->type == ET_EXEC && e->lo < 0x10000)
        FAIL("ET_EXEC at %llx", (unsigned long long)e->lo);
    if (e->type == ET_DYN && e->hi - e->lo > (1ull << 40))
        FAIL("ET_DYN spans %llx", (unsigned long long)(e->hi - e->lo));
    int loads = 0;
    for (int i = 0; i < e->phnum; i++) {
        const struct elf_phdr *p = &e->ph[i];
        if (p->type != PT_LOAD)
            continue;
        loads++;
        if (p->filesz > p->memsz || p->offset > size || p->filesz > size - p->offset)
            FAIL("segment %d: file range %llx+%llx of %llu", i, (unsigned long long)p->offset,
                 (unsigned long long)p->filesz, (unsigned long long)size);
        if ((p->vaddr & 4095) != (p->offset & 4095))
            FAIL("segment %d not congruent", i);
        if (p->vaddr < e->lo || p->memsz > e->hi - p->vaddr)
            FAIL("segment %d outside the span", i);
    }
    if (!loads)
        FAIL("no PT_LOAD accepted");
    if (e->has_interp && (e->interp_len < 2 || e->interp_len > 4096 || e->interp_off > len ||
                          e->interp_len > len - e->interp_off))
        FAIL("interp %llu+%llu outside %llu bytes", (unsigned long long)e->interp_off,
             (unsigned long long)e->interp_len, (unsigned long long)len);
}

static void run(const uint8_t *data, u64 len, u64 size)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (len)
        memcpy(copy, data, len);
    int r = elf_parse(copy, len, size, &info);
    free(copy);
    if (r == 0)
        check_accepted(&info, len, size);
    else if (r != -ENOEXEC || !elf_error() || !elf_error()[0])
        FAIL("elf_parse returned %d (\"%s\")", r, elf_error() ? elf_error() : "(null)");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size, size);
    run(data, size < 4096 ? size : 4096, 1ull << 32);
    run(data, size, size / 2);
    return 0;
}
