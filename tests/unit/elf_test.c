/* Host unit test of the libOS ELF parser (libos/exec/elf.c, elf_parse).
 *
 * Real programs built by tests/unit/vmm.mk (gcc -static with ld.bfd in two layouts, gold and
 * lld, gcc -static-pie, musl-gcc -static and dynamic, gcc dynamic PIE and non-PIE, and the
 * host's /bin/true, /bin/ls, /usr/bin/env) are parsed as exec does (the first 4 KiB,
 * the file's size) and compared field by field with an independent reading through the
 * host's <elf.h>; then every truncation of their header page and of their file size is
 * checked. Hand-made headers cover each rejection rule (truncated, wrong magic, class,
 * byte order, machine, type, phentsize, phnum 0 / 65 / 0xffff, phoff past the data or
 * overflowing, segments past the file or overflowing, filesz > memsz, non-congruent
 * vaddr/offset, ET_EXEC below 64 KiB, vaddr + memsz overflow and above 2^46, ET_DYN span,
 * no PT_LOAD, bad PT_INTERP) and every single-byte change of a valid header. Every call
 * gets a heap buffer of exactly the length it is told, so an overread is an ASan error.
 *
 * Usage: elf_test DIR (the programs; a missing one is reported as skipped);
 *        elf_test --write-seeds DIR (hand-made headers as elf_fuzz seeds).
 * Prints "N passed, M failed" last; exits 1 on any failure. */
#define _DEFAULT_SOURCE
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The parser's header names the ELF constants it uses; the host's <elf.h> has them too. */
#undef PT_LOAD
#undef PT_INTERP
#undef PT_PHDR
#undef PT_TLS
#undef PT_GNU_STACK
#undef PF_X
#undef PF_W
#undef PF_R
#undef ET_EXEC
#undef ET_DYN
#include "exec/elf.h"

#include "check.h"

static struct elf_info info;

/* elf_parse on an exact-size copy of the first `len` bytes. */
static int parse(const uint8_t *data, uint64_t len, uint64_t file_size)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (len)
        memcpy(copy, data, len);
    int r = elf_parse(copy, len, file_size, &info);
    free(copy);
    if (r)
        CHECK(r == -ENOEXEC && elf_error() && elf_error()[0], "error %d, reason \"%s\"", r,
              elf_error() ? elf_error() : "(null)");
    return r;
}

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || st.st_size <= 0) {
        fclose(f);
        return NULL;
    }
    uint8_t *buf = malloc((size_t)st.st_size);
    *size = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    return buf;
}

/* ---------------------------------------------------------------- real programs */
enum { ANY = -1 };

/* The parse must agree with a reading of the same file through <elf.h>. */
static void check_real(const char *dir, const char *name, int want_type, int want_interp)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t size = 0;
    uint8_t *file = read_file(path, &size);
    if (!file) {
        fprintf(stderr, "SKIP %s: not built (compiler missing?)\n", path);
        return;
    }
    Elf64_Ehdr eh;
    memcpy(&eh, file, sizeof eh);
    uint64_t len = size < 4096 ? size : 4096;
    int r = parse(file, len, size);
    CHECK(r == 0, "%s: elf_parse = %d (%s)", name, r, elf_error());
    if (r) {
        free(file);
        return;
    }
    CHECK(info.type == eh.e_type && info.entry == eh.e_entry && info.phoff == eh.e_phoff &&
              info.phnum == eh.e_phnum,
          "%s: header fields", name);
    if (want_type != ANY)
        CHECK(info.type == want_type, "%s: type %u, want %d", name, info.type, want_type);
    uint64_t lo = ~0ull, hi = 0, interp_off = 0, interp_len = 0, phdr = 0, need = 64;
    uint64_t file_end = 0;
    bool interp = false;
    int loads = 0;
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, file + eh.e_phoff + (size_t)i * sizeof ph, sizeof ph);
        const struct elf_phdr *p = &info.ph[i];
        CHECK(p->type == ph.p_type && p->flags == ph.p_flags && p->offset == ph.p_offset &&
                  p->vaddr == ph.p_vaddr && p->paddr == ph.p_paddr &&
                  p->filesz == ph.p_filesz && p->memsz == ph.p_memsz && p->align == ph.p_align,
              "%s: phdr %d", name, i);
        if (ph.p_type == 3 /* PT_INTERP */) {
            interp = true;
            interp_off = ph.p_offset;
            interp_len = ph.p_filesz;
        }
        if (ph.p_type == 6 /* PT_PHDR */)
            phdr = ph.p_vaddr;
        if (ph.p_type == 1 /* PT_LOAD */) {
            loads++;
            if ((ph.p_vaddr & ~4095ull) < lo)
                lo = ph.p_vaddr & ~4095ull;
            if (((ph.p_vaddr + ph.p_memsz + 4095) & ~4095ull) > hi)
                hi = (ph.p_vaddr + ph.p_memsz + 4095) & ~4095ull;
            if (ph.p_offset + ph.p_filesz > file_end)
                file_end = ph.p_offset + ph.p_filesz;
            if (!phdr && ph.p_offset <= eh.e_phoff &&
                eh.e_phoff + (uint64_t)eh.e_phnum * sizeof ph <= ph.p_offset + ph.p_filesz)
                phdr = ph.p_vaddr + eh.e_phoff - ph.p_offset;
        }
    }
    CHECK(loads >= 1, "%s: %d PT_LOAD", name, loads);
    CHECK(info.lo == lo && info.hi == hi, "%s: span %llx-%llx, want %llx-%llx", name,
          (unsigned long long)info.lo, (unsigned long long)info.hi, (unsigned long long)lo,
          (unsigned long long)hi);
    CHECK(info.entry >= info.lo && info.entry < info.hi, "%s: entry outside the image", name);
    CHECK(info.has_interp == interp, "%s: has_interp %d", name, info.has_interp);
    if (want_interp != ANY)
        CHECK(info.has_interp == want_interp, "%s: has_interp %d, want %d", name,
              info.has_interp, want_interp);
    if (interp) {
        CHECK(info.interp_off == interp_off && info.interp_len == interp_len,
              "%s: interp at %llu+%llu", name, (unsigned long long)info.interp_off,
              (unsigned long long)info.interp_len);
        const char *s = (const char *)file + info.interp_off;
        CHECK(s[0] == '/' && s[info.interp_len - 1] == 0, "%s: interp \"%.*s\"", name,
              (int)info.interp_len, s);
        if (interp_off + interp_len > need)
            need = interp_off + interp_len;
    }
    CHECK(info.phdr_vaddr == phdr && phdr != 0, "%s: phdr_vaddr %llx, want %llx", name,
          (unsigned long long)info.phdr_vaddr, (unsigned long long)phdr);
    if (info.type == 2)
        CHECK(info.lo >= 0x10000, "%s: ET_EXEC at %llx", name, (unsigned long long)info.lo);

    /* The whole file as the buffer parses the same. */
    struct elf_info first = info;
    CHECK(parse(file, size, size) == 0 && !memcmp(&first, &info, sizeof info),
          "%s: whole-file parse differs", name);

    /* Every truncation of the header data: fine exactly when the headers (and the
     * interpreter name) are inside it. */
    if (eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > need)
        need = eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);
    int wrong = 0;
    for (uint64_t l = 0; l <= need + 64 && l <= size; l++)
        wrong += (parse(file, l, size) == 0) != (l >= need);
    CHECK(wrong == 0, "%s: %d truncations judged wrongly (need %llu)", name, wrong,
          (unsigned long long)need);
    /* A file shorter than its segments is refused; exactly long enough is fine. */
    CHECK(parse(file, len < file_end - 1 ? len : file_end - 1, file_end - 1) != 0,
          "%s: file of %llu bytes, segments end at %llu", name,
          (unsigned long long)file_end - 1, (unsigned long long)file_end);
    CHECK(parse(file, len < file_end ? len : file_end, file_end) == 0, "%s: exact file size",
          name);
    /* A larger file (trailing debug info, say) changes nothing. */
    CHECK(parse(file, len, size + (1ull << 30)) == 0 && !memcmp(&first, &info, sizeof info),
          "%s: larger file", name);
    printf("ok %-18s type %u, %d PT_LOAD, span %#llx-%#llx%s\n", name, info.type, loads,
           (unsigned long long)info.lo, (unsigned long long)info.hi,
           info.has_interp ? ", PT_INTERP" : "");
    free(file);
}

/* ---------------------------------------------------------------- hand-made headers */
#define IMG 0x2000
static uint8_t img[IMG];

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint8_t *ph_at(int i) { return img + 64 + i * 56; }

static void set_ph(int i, uint32_t type, uint32_t flags, uint64_t off, uint64_t vaddr,
                   uint64_t filesz, uint64_t memsz)
{
    uint8_t *p = ph_at(i);
    put32(p, type);
    put32(p + 4, flags);
    put64(p + 8, off);
    put64(p + 16, vaddr);
    put64(p + 24, vaddr);
    put64(p + 32, filesz);
    put64(p + 40, memsz);
    put64(p + 48, 0x1000);
}

/* A small valid static program: text at 0x400000 (file 0..0x1000, holding the headers),
 * data at 0x401800 (file 0x1800..0x1900, 0x2000 bytes in memory), a PT_GNU_STACK. */
static void make_valid(uint16_t type)
{
    memset(img, 0, sizeof img);
    memcpy(img, "\177ELF", 4);
    img[4] = 2; /* ELFCLASS64 */
    img[5] = 1; /* little-endian */
    img[6] = 1; /* EV_CURRENT */
    put16(img + 16, type);
    put16(img + 18, 62); /* EM_X86_64 */
    put32(img + 20, 1);
    put64(img + 24, type == 2 ? 0x400100 : 0x100); /* entry */
    put64(img + 32, 64);                           /* phoff */
    put16(img + 52, 64);                           /* ehsize */
    put16(img + 54, 56);                           /* phentsize */
    put16(img + 56, 3);                            /* phnum */
    uint64_t b = type == 2 ? 0x400000 : 0;
    set_ph(0, 1, 5, 0, b, 0x1000, 0x1000);
    set_ph(1, 1, 6, 0x1800, b + 0x1800, 0x100, 0x2000);
    set_ph(2, 0x6474e551, 6, 0, 0, 0, 0);
}

static uint16_t phnum(void) { return (uint16_t)(img[56] | img[57] << 8); }

/* Parse the hand-made image: header data = whole image, file = IMG bytes. */
static int parse_img(void) { return parse(img, IMG, IMG); }

#define REJECT(what)                                                                            \
    do {                                                                                        \
        int r_ = parse_img();                                                                   \
        CHECK(r_ == -ENOEXEC, "%s: accepted (%d)", what, r_);                                   \
    } while (0)
#define ACCEPT(what)                                                                            \
    do {                                                                                        \
        int r_ = parse_img();                                                                   \
        CHECK(r_ == 0, "%s: rejected (%s)", what, elf_error());                                 \
    } while (0)

static void test_handmade(void)
{
    make_valid(2);
    ACCEPT("valid ET_EXEC");
    CHECK(info.type == 2 && info.entry == 0x400100 && info.phnum == 3 && info.lo == 0x400000 &&
              info.hi == 0x404000 && info.phdr_vaddr == 0x400040 && !info.has_interp,
          "valid ET_EXEC fields: lo %llx hi %llx phdr %llx", (unsigned long long)info.lo,
          (unsigned long long)info.hi, (unsigned long long)info.phdr_vaddr);
    make_valid(3);
    ACCEPT("valid ET_DYN");
    CHECK(info.type == 3 && info.lo == 0 && info.hi == 0x4000 && info.phdr_vaddr == 0x40,
          "valid ET_DYN fields");

    /* Truncated: fewer than 64 bytes, or the program headers cut. */
    make_valid(2);
    for (uint64_t l = 0; l < 64 + 3 * 56; l++)
        CHECK(parse(img, l, IMG) == -ENOEXEC, "header data of %llu bytes accepted",
              (unsigned long long)l);
    CHECK(parse(img, 64 + 3 * 56, IMG) == 0, "exactly the headers");
    CHECK(parse(img, IMG, 63) == -ENOEXEC, "file of 63 bytes"); /* len clamped to size */
    CHECK(parse(img, 64 + 3 * 56, 64 + 3 * 56) == -ENOEXEC, "file shorter than a segment");

    /* Identification. */
    for (int i = 0; i < 4; i++) {
        make_valid(2);
        img[i] ^= 0x20;
        REJECT("bad magic");
    }
    static const uint8_t classes[] = {0, 1, 3, 0xff};
    for (size_t i = 0; i < sizeof classes; i++) {
        make_valid(2);
        img[4] = classes[i];
        REJECT("class");
    }
    static const uint8_t datas[] = {0, 2, 3};
    for (size_t i = 0; i < sizeof datas; i++) {
        make_valid(2);
        img[5] = datas[i];
        REJECT("byte order");
    }
    static const uint16_t machines[] = {0, 3 /* i386 */, 40 /* ARM */, 183 /* AArch64 */,
                                        243 /* RISC-V */, 62 << 8, 0xffff};
    for (size_t i = 0; i < sizeof machines / sizeof machines[0]; i++) {
        make_valid(2);
        put16(img + 18, machines[i]);
        REJECT("machine");
    }
    static const uint16_t types[] = {0, 1 /* REL */, 4 /* CORE */, 0xfe00, 0xffff, 2 << 8};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        make_valid(2);
        put16(img + 16, types[i]);
        REJECT("type");
    }

    /* Program-header table. */
    static const uint16_t phents[] = {0, 32, 55, 57, 64, 0xffff};
    for (size_t i = 0; i < sizeof phents / sizeof phents[0]; i++) {
        make_valid(2);
        put16(img + 54, phents[i]);
        REJECT("phentsize");
    }
    make_valid(2);
    put16(img + 56, 0);
    REJECT("phnum 0");
    put16(img + 56, ELF_MAX_PHDRS + 1);
    REJECT("phnum 65");
    put16(img + 56, 0xffff); /* PN_XNUM: the real count would be in section 0 */
    REJECT("phnum 0xffff");
    make_valid(2);
    put16(img + 56, ELF_MAX_PHDRS); /* 64 entries: the rest PT_NULL */
    ACCEPT("phnum 64");
    CHECK(info.phnum == 64 && info.ph[63].type == 0, "64 entries read");
    CHECK(parse(img, 64 + 64 * 56 - 1, IMG) == -ENOEXEC, "64 entries, one byte short");
    static const uint64_t phoffs[] = {IMG, IMG - 3 * 56 + 1, IMG - 1, 1ull << 32, 1ull << 63,
                                      ~0ull, ~0ull - 55, ~0ull - 3 * 56 + 1};
    for (size_t i = 0; i < sizeof phoffs / sizeof phoffs[0]; i++) {
        make_valid(2);
        put64(img + 32, phoffs[i]);
        REJECT("phoff");
    }
    make_valid(2); /* headers moved to the end of the data: still fine */
    memcpy(img + IMG - 3 * 56, ph_at(0), 3 * 56);
    put64(img + 32, IMG - 3 * 56);
    ACCEPT("phoff at the end");

    /* Segments against the file. */
    struct {
        const char *what;
        uint64_t off, filesz, memsz;
    } segs[] = {
        {"offset past the file", IMG + 0x800, 0x100, 0x2000},
        {"file range past the end", 0x1800, IMG - 0x1800 + 1, 0x2000},
        {"filesz huge", 0x1800, ~0ull - 0x1000, ~0ull},
        {"offset + filesz overflows", ~0ull - 0x7ff, 0x1000, 0x2000},
        {"filesz > memsz", 0x1800, 0x100, 0xff},
    };
    for (size_t i = 0; i < sizeof segs / sizeof segs[0]; i++) {
        make_valid(2);
        put64(ph_at(1) + 8, segs[i].off);
        put64(ph_at(1) + 16, 0x401000 + (segs[i].off & 0xfff));
        put64(ph_at(1) + 32, segs[i].filesz);
        put64(ph_at(1) + 40, segs[i].memsz);
        REJECT(segs[i].what);
    }
    make_valid(2);
    put64(ph_at(1) + 32, IMG - 0x1800); /* to the last byte of the file */
    ACCEPT("segment to the end of the file");
    make_valid(2);
    put64(ph_at(1) + 32, 0); /* bss only */
    ACCEPT("filesz 0");
    make_valid(2);
    put64(ph_at(1) + 16, 0x401801);
    REJECT("vaddr not congruent with offset");
    make_valid(2);
    put64(ph_at(1) + 8, 0x1801);
    REJECT("offset not congruent with vaddr");
    make_valid(2);
    put64(ph_at(1) + 16, 0x402800); /* different page, same page offset: fine */
    ACCEPT("congruent in another page");

    /* Addresses. */
    static const uint64_t low[] = {0, 0x1000, 0xf000, 0xffff};
    for (size_t i = 0; i < sizeof low / sizeof low[0]; i++) {
        make_valid(2);
        put64(ph_at(0) + 16, low[i]);
        REJECT("ET_EXEC below 64 KiB");
    }
    make_valid(2);
    put64(ph_at(0) + 16, 0x10000);
    ACCEPT("ET_EXEC at 64 KiB");
    make_valid(3);
    ACCEPT("ET_DYN at 0");
    struct {
        const char *what;
        uint64_t vaddr, memsz;
        bool ok;
    } addrs[] = {
        {"vaddr + memsz wraps", 0xfffffffffffff800ull, 0x1000, false},
        {"memsz wraps", 0x401800, ~0ull - 0x100, false},
        {"memsz = 2^64 - vaddr", 0x401800, 0ull - 0x401800, false},
        {"kernel half", 0xffffffff80000800ull, 0x1000, false},
        {"ends past 2^46", (1ull << 46) - 0x800, 0x801, false},
        {"ends at 2^46", (1ull << 46) - 0x800, 0x800, true},
        {"starts at 2^46", (1ull << 46) + 0x800, 0x100, false},
        {"non-canonical", 0x0000800000000800ull, 0x100, false},
    };
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        make_valid(2);
        put64(ph_at(1) + 16, addrs[i].vaddr);
        put64(ph_at(1) + 40, addrs[i].memsz);
        int r = parse_img();
        CHECK((r == 0) == addrs[i].ok, "%s: %d", addrs[i].what, r);
        if (r == 0)
            CHECK(info.hi <= (1ull << 46) && info.lo <= info.hi, "%s: span", addrs[i].what);
    }
    make_valid(3);
    put64(ph_at(1) + 16, (1ull << 40) + 0x1800);
    REJECT("ET_DYN spanning more than 2^40");
    make_valid(3);
    put64(ph_at(1) + 16, (1ull << 40) - 0x3000 + 0x800);
    put64(ph_at(1) + 40, 0x2000);
    ACCEPT("ET_DYN spanning 2^40");

    /* Segment kinds. */
    make_valid(2);
    put32(ph_at(0), 4);
    put32(ph_at(1), 4); /* PT_NOTE */
    REJECT("no PT_LOAD");
    make_valid(2);
    put32(ph_at(0), 0x6fffffff);
    put64(ph_at(0) + 8, ~0ull); /* odd types with wild fields are ignored */
    ACCEPT("unknown segment type");
    make_valid(2);
    set_ph(2, 3, 4, 0x200, 0x400200, 28, 28);
    memcpy(img + 0x200, "/lib64/ld-linux-x86-64.so.2", 28);
    ACCEPT("PT_INTERP");
    CHECK(info.has_interp && info.interp_off == 0x200 && info.interp_len == 28,
          "PT_INTERP fields");
    struct {
        const char *what;
        uint64_t off, len;
    } interps[] = {
        {"PT_INTERP of 1 byte", 0x200, 1}, {"PT_INTERP of 0 bytes", 0x200, 0},
        {"PT_INTERP over 4096 bytes", 0, 4097}, {"PT_INTERP past the data", IMG, 2},
        {"PT_INTERP end past the data", IMG - 10, 11}, {"PT_INTERP offset wraps", ~0ull, 2},
        {"PT_INTERP length wraps", 0x200, ~0ull},
    };
    for (size_t i = 0; i < sizeof interps / sizeof interps[0]; i++) {
        make_valid(2);
        set_ph(2, 3, 4, interps[i].off, 0x400200, interps[i].len, interps[i].len);
        REJECT(interps[i].what);
    }
    make_valid(2);
    set_ph(2, 3, 4, 0x200, 0, 28, 28);
    CHECK(parse(img, 0x200 + 27, IMG) == -ENOEXEC, "PT_INTERP past the header data");
    CHECK(parse(img, 0x200 + 28, IMG) == 0, "PT_INTERP just inside the header data");
    make_valid(2);
    set_ph(2, 6, 4, 64, 0x400040, 3 * 56, 3 * 56);
    put64(ph_at(2) + 16, 0x400abc);
    ACCEPT("PT_PHDR");
    CHECK(info.phdr_vaddr == 0x400abc, "PT_PHDR wins: %llx",
          (unsigned long long)info.phdr_vaddr);
    make_valid(2); /* headers outside every PT_LOAD's file range: not mapped */
    put64(ph_at(0) + 32, 0x40);
    put64(ph_at(0) + 40, 0x40);
    ACCEPT("headers unmapped");
    CHECK(info.phdr_vaddr == 0, "phdr_vaddr %llx for unmapped headers",
          (unsigned long long)info.phdr_vaddr);

    /* Every single-byte change of the header and the program headers: no crash, and an
     * accepted result still satisfies the rules. */
    static const uint8_t vals[] = {0, 1, 2, 3, 0x7f, 0x80, 0xfe, 0xff};
    int bad = 0;
    for (int t = 2; t <= 3; t++) {
        for (int pos = 0; pos < 64 + 3 * 56; pos++) {
            for (size_t v = 0; v < sizeof vals; v++) {
                make_valid((uint16_t)t);
                img[pos] = vals[v];
                if (parse_img())
                    continue;
                bool ok = info.phnum >= 1 && info.phnum <= ELF_MAX_PHDRS && info.lo <= info.hi &&
                          info.hi <= (1ull << 46) && (info.type != 2 || info.lo >= 0x10000);
                for (int i = 0; i < info.phnum; i++) {
                    const struct elf_phdr *p = &info.ph[i];
                    if (p->type != 1)
                        continue;
                    ok &= p->filesz <= p->memsz && p->offset <= IMG &&
                          p->filesz <= IMG - p->offset &&
                          (p->vaddr & 4095) == (p->offset & 4095) && p->vaddr >= info.lo &&
                          p->vaddr + p->memsz <= info.hi;
                }
                bad += !ok;
            }
        }
    }
    CHECK(bad == 0, "%d mutated headers accepted against the rules", bad);
    (void)phnum;
}

/* ---------------------------------------------------------------- seeds */
static void write_seed(const char *dir, const char *name, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(img, 1, len, f) != len) {
        perror(path);
        exit(2);
    }
    fclose(f);
}

static void write_seeds(const char *dir)
{
    make_valid(2);
    write_seed(dir, "exec", IMG);
    make_valid(3);
    write_seed(dir, "dyn", IMG);
    make_valid(2);
    set_ph(2, 3, 4, 0x200, 0x400200, 28, 28);
    memcpy(img + 0x200, "/lib64/ld-linux-x86-64.so.2", 28);
    write_seed(dir, "interp", IMG);
    make_valid(2);
    set_ph(2, 6, 4, 64, 0x400040, 3 * 56, 3 * 56);
    write_seed(dir, "phdr", IMG);
    make_valid(3);
    put16(img + 56, ELF_MAX_PHDRS);
    write_seed(dir, "phnum64", IMG);
    make_valid(2);
    write_seed(dir, "headers-only", 64 + 3 * 56);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--write-seeds")) {
        write_seeds(argv[2]);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: elf_test DIR | elf_test --write-seeds DIR\n");
        return 2;
    }
    test_handmade();
    check_real(argv[1], "static", 2, 0);
    check_real(argv[1], "static-pie", 3, 0);
    check_real(argv[1], "dynamic", 3, 1);
    check_real(argv[1], "dynamic-nopie", 2, 1);
    check_real(argv[1], "static-noseparate", 2, 0);
    check_real(argv[1], "static-2m", 2, 0);
    check_real(argv[1], "static-gold", 2, 0);
    check_real(argv[1], "static-lld", 2, 0);
    check_real(argv[1], "musl-static", ANY, 0);
    check_real(argv[1], "musl-dynamic", ANY, 1);
    /* Whatever the host has: other toolchains, other linkers. */
    static const char *const host[] = {"/bin/true", "/bin/ls", "/usr/bin/env"};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        check_real("", host[i] + 1, ANY, ANY);
    printf("%ld passed, %ld failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
