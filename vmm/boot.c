/* Guest layout, built before the vCPU runs so the guest needs no privileged instruction:
 * the libOS image copied to its physical home, page tables (direct map of all guest-physical
 * regions and the libOS, 2 MiB pages), GDT/TSS/IDT, and the boot-info block. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <sys/resource.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "vmm.h"

#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_U 0x4ull
#define PTE_PS 0x80ull
#define PTE_NX (1ull << 63)
#define MB2 (2ull << 20)

static int load_error(const char *path, const char *why)
{
    fprintf(stderr, "uno-vmm: libOS image %s: %s\n", path, why);
    return -1;
}

/* The libOS file is ours, but a broken build must give an error, not a wild write. */
/* The libOS file is ours, but a broken build must give an error, not a wild write. Only
 * the headers are read into a buffer; segments go straight into guest RAM. */
int boot_load_libos(struct vmm *v, struct libos_image *li)
{
    const char *path = v->cfg.libos_path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return load_error(path, strerror(errno));
    Elf64_Ehdr eh;
    Elf64_Phdr ph[32];
    int err = 0;
    if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
        eh.e_machine != EM_X86_64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 32 ||
        pread(fd, ph, eh.e_phnum * sizeof ph[0], (off_t)eh.e_phoff) !=
            (ssize_t)(eh.e_phnum * sizeof ph[0])) {
        close(fd);
        return load_error(path, "not an x86-64 ELF");
    }
    uint64_t end = 0;
    li->phys = UNO_GPA_LIBOS;
    for (int i = 0; i < eh.e_phnum && !err; i++) {
        if (ph[i].p_type != PT_LOAD)
            continue;
        uint64_t off = ph[i].p_vaddr - UNO_VA_LIBOS;
        uint8_t *dst = gpa_ptr(v, li->phys + off, ph[i].p_memsz);
        if (ph[i].p_vaddr < UNO_VA_LIBOS || off > UNO_LIBOS_MAX ||
            ph[i].p_memsz > UNO_LIBOS_MAX - off || ph[i].p_filesz > ph[i].p_memsz ||
            ph[i].p_offset + ph[i].p_filesz > (uint64_t)st.st_size || !dst) {
            err = load_error(path, "segment out of range or too large for guest memory");
            break;
        }
        if (pread(fd, dst, ph[i].p_filesz, (off_t)ph[i].p_offset) != (ssize_t)ph[i].p_filesz)
            err = load_error(path, "short read");
        if (off + ph[i].p_memsz > end)
            end = off + ph[i].p_memsz;
    }
    close(fd);
    if (err)
        return err;
    li->size = (end + MB2 - 1) & ~(MB2 - 1);
    struct uno_libos_header *h = gpa_ptr(v, li->phys, sizeof *h);
    if (!h || h->magic != UNO_LIBOS_MAGIC)
        return load_error(path, "no uno libOS header at its start");
    if (h->abi_version != UNO_ABI_VERSION)
        return load_error(path, "built for another ABI version: rebuild with `make`");
    li->entry = h->entry;
    li->syscall_entry = h->syscall_entry;
    li->exc_table = h->exc_table;
    li->exc_stride = h->exc_stride;
    li->boot_stack = h->boot_stack_top;
    li->exc_stack = h->exc_stack_top;
    li->bp_gate = h->bp_gate;
    li->upcall_entry = h->upcall_entry;
    li->upcall_stack = h->upcall_stack;
    if (li->upcall_entry < UNO_VA_LIBOS || li->upcall_stack < UNO_VA_LIBOS)
        return load_error(path, "bad upcall entry in its header");
    v->upcall_entry = li->upcall_entry;
    v->upcall_stack = li->upcall_stack;
    v->syscall_entry = li->syscall_entry;
    /* vCPU 0's struct uno_vcpu lives in the libOS image: its guest-physical address. */
    if (h->vcpu0 < UNO_VA_LIBOS || h->vcpu0 - UNO_VA_LIBOS + sizeof(struct uno_vcpu) > li->size)
        return load_error(path, "bad vCPU block in its header");
    v->vcpus[0].vc_gpa = li->phys + (h->vcpu0 - UNO_VA_LIBOS);
    return 0;
}

struct pt_alloc {
    struct vmm *v;
    uint64_t next;
    uint64_t user; /* PTE_U or 0 for the tables the VMM builds (all in the upper half) */
};

static uint64_t *pt_new(struct pt_alloc *a, uint64_t *gpa_out)
{
    if (a->next + 4096 > UNO_GPA_PGTABLE + UNO_PGTABLE_MAX)
        return NULL;
    uint64_t *p = gpa_ptr(a->v, a->next, 4096);
    memset(p, 0, 4096);
    *gpa_out = a->next;
    a->next += 4096;
    return p;
}

/* Table below entry `e` (allocating it). */
static uint64_t *pt_next(struct pt_alloc *a, uint64_t *e)
{
    if (*e & PTE_P)
        return gpa_ptr(a->v, *e & 0x000ffffffffff000ull, 4096);
    uint64_t gpa;
    uint64_t *t = pt_new(a, &gpa);
    if (t)
        *e = gpa | PTE_P | PTE_W | a->user; /* a supervisor PML4 entry hides all below */
    return t;
}

/* Map [va, va+len) to [gpa, ...) with 2 MiB pages. */
static int map_2m(struct pt_alloc *a, uint64_t *pml4, uint64_t va, uint64_t gpa, uint64_t len,
                  uint64_t flags)
{
    for (uint64_t o = 0; o < len; o += MB2) {
        uint64_t x = va + o;
        uint64_t *pdpt = pt_next(a, &pml4[(x >> 39) & 511]);
        uint64_t *pd = pdpt ? pt_next(a, &pdpt[(x >> 30) & 511]) : NULL;
        if (!pd)
            return -1;
        pd[(x >> 21) & 511] = (gpa + o) | flags | PTE_PS | PTE_P;
    }
    return 0;
}

static uint64_t up2m(uint64_t x) { return (x + MB2 - 1) & ~(MB2 - 1); }

static void gdt_tss_idt(struct vmm *v, const struct libos_image *li)
{
    uint64_t *gdt = gpa_ptr(v, UNO_GPA_CPU, 4096);
    uint8_t *tss = gpa_ptr(v, UNO_GPA_CPU + 0x1000, 4096);
    uint64_t *idt = gpa_ptr(v, UNO_GPA_CPU + 0x2000, 4096);
    memset(gdt, 0, 3 * 4096);
    gdt[1] = 0x00af9a000000ffffull; /* kernel code 64 */
    gdt[2] = 0x00cf92000000ffffull; /* kernel data */
    gdt[3] = 0x00cffa000000ffffull; /* user code 32 (sysret base) */
    gdt[4] = 0x00cff2000000ffffull; /* user data */
    gdt[5] = 0x00affa000000ffffull; /* user code 64 */
    uint64_t tb = UNO_VA_DMAP + UNO_GPA_CPU + 0x1000;
    gdt[6] = 0x67 | ((tb & 0xffffff) << 16) | (0x8bull << 40) | (((tb >> 24) & 0xff) << 56);
    gdt[7] = tb >> 32;

    /* TSS: IST1 is the exception stack, so a fault never runs on the app's stack. */
    memcpy(tss + 4, &li->exc_stack, 8);       /* rsp0 */
    memcpy(tss + 0x24, &li->exc_stack, 8);    /* ist1 */
    uint16_t iomap = 0x68;
    memcpy(tss + 0x66, &iomap, 2);

    if (v->backend == UNO_BACKEND_NATIVE) {
        /* Ring 0 takes every exception in the kernel code segment on IST1; only int3 (and
         * into) may be raised by user code on purpose, so only their gates are DPL 3. */
        for (uint64_t vec = 0; vec < 32; vec++) {
            uint64_t h = li->exc_table + vec * li->exc_stride;
            uint64_t dpl = (vec == 3 || vec == 4) ? 3 : 0;
            idt[vec * 2] = (h & 0xffff) | ((uint64_t)UNO_SEL_KCODE << 16) | (1ull << 32) |
                           ((0x8eull | dpl << 5) << 40) | (((h >> 16) & 0xffff) << 48);
            idt[vec * 2 + 1] = h >> 32;
        }
        return;
    }
    /* cpl3: exceptions 0..31 go to libOS stubs; the gates and their code segment are DPL 3
     * so a CPL 3 guest can take them here (see PVM.md). */
    for (uint64_t vec = 0; vec < 32; vec++) {
        uint64_t h = li->exc_table + vec * li->exc_stride;
        idt[vec * 2] = (h & 0xffff) | ((uint64_t)UNO_SEL_UCODE << 16) | (1ull << 32) /* IST1 */ |
                       (0xeeull << 40) /* P, DPL 3, interrupt gate */ |
                       (((h >> 16) & 0xffff) << 48);
        idt[vec * 2 + 1] = h >> 32;
    }
    /* #BP runs at CPL 0 (kernel code segment; emulated on PVM, a few instructions) on the
     * RSP0 stack: it is how the libOS flushes its TLB (abi/uno_abi.h). */
    uint64_t f = li->bp_gate;
    idt[3 * 2] = (f & 0xffff) | ((uint64_t)UNO_SEL_KCODE << 16) | (0xeeull << 40) |
                 (((f >> 16) & 0xffff) << 48);
    idt[3 * 2 + 1] = f >> 32;
}

int boot_build_tables(struct vmm *v, const struct libos_image *li)
{
    struct pt_alloc a = {.v = v, .next = UNO_GPA_PGTABLE,
                         .user = v->backend == UNO_BACKEND_NATIVE ? 0 : PTE_U};
    uint64_t pml4_gpa;
    uint64_t *pml4 = pt_new(&a, &pml4_gpa);
    /* On the native backend the libOS is a kernel: its pages (the direct map, its image)
     * are supervisor-only, so the app can neither read nor write them. On cpl3 the libOS runs
     * at CPL 3 and must reach them. */
    const uint64_t user = v->backend == UNO_BACKEND_NATIVE ? 0 : PTE_U;
    const uint64_t rw = PTE_W | user | PTE_NX;
    struct guest_mem *m = &v->mem;
    /* The direct map: every guest-physical region at UNO_VA_DMAP + GPA. The MMIO page is
     * mapped too, but has no memory slot: touching it exits. */
    if (!pml4 || map_2m(&a, pml4, UNO_VA_DMAP, 0, up2m(m->ram_size), rw) ||
        map_2m(&a, pml4, UNO_VA_DMAP + UNO_GPA_SHARED, UNO_GPA_SHARED, up2m(m->shared_size), rw) ||
        map_2m(&a, pml4, UNO_VA_DMAP + UNO_GPA_IMAGE, UNO_GPA_IMAGE, up2m(m->image_map_size),
               user | PTE_NX) ||
        map_2m(&a, pml4, UNO_VA_DMAP + UNO_GPA_MMIO, UNO_GPA_MMIO, MB2, rw) ||
        map_2m(&a, pml4, UNO_VA_LIBOS, li->phys, li->size, PTE_W | user)) {
        fprintf(stderr, "uno-vmm: guest page tables do not fit: memory or image too large\n");
        return -1;
    }
    gdt_tss_idt(v, li);
    return 0;
}

static uint64_t args_put(uint8_t *area, uint64_t *len, const char *s)
{
    uint64_t off = *len, n = strlen(s) + 1;
    if (off + n > UNO_ARGS_MAX)
        return UINT64_MAX;
    memcpy(area + off, s, n);
    *len += n;
    return off;
}

int boot_fill_info(struct vmm *v, const struct libos_image *li)
{
    struct uno_bootinfo *bi = gpa_ptr(v, UNO_GPA_BOOTINFO, sizeof *bi);
    uint8_t *area = gpa_ptr(v, UNO_GPA_ARGS, UNO_ARGS_MAX);
    memset(bi, 0, sizeof *bi);
    bi->magic = UNO_BOOT_MAGIC;
    bi->abi_version = UNO_ABI_VERSION;
    bi->backend = (uint32_t)v->backend;
    bi->ncpus = 1;
    bi->ram_size = v->mem.ram_size;
    bi->libos_phys = li->phys;
    bi->libos_size = li->size;
    bi->free_start = li->phys + li->size;
    bi->shared_size = v->mem.shared_size;
    bi->image_size = v->mem.image_size;
    if (bi->free_start + (4ull << 20) > bi->ram_size) {
        fprintf(stderr, "uno-vmm: --memory is too small to hold the libOS\n");
        return -1;
    }

    uint64_t len = 0, off = 0;
    for (int i = 0; i < v->cfg.argc && off != UINT64_MAX; i++)
        off = args_put(area, &len, v->cfg.argv[i]);
    for (int i = 0; i < v->cfg.envc && off != UINT64_MAX; i++)
        off = args_put(area, &len, v->cfg.env[i]);
    bi->exec_path_off = 0;
    if (off != UINT64_MAX)
        off = bi->cwd_off = args_put(area, &len, v->cfg.cwd);
    if (off == UINT64_MAX) {
        fprintf(stderr, "uno-vmm: arguments and environment exceed %llu bytes\n",
                (unsigned long long)UNO_ARGS_MAX);
        return -1;
    }
    bi->argc = (uint32_t)v->cfg.argc;
    bi->envc = (uint32_t)v->cfg.envc;
    bi->args_len = len;

    if (v->cfg.trace)
        bi->flags |= UNO_BOOT_TRACE;
    if (v->cfg.no_rewrite)
        bi->flags |= UNO_BOOT_NO_REWRITE;
    if (v->cfg.verbose)
        bi->flags |= UNO_BOOT_VERBOSE;
    struct winsize ws;
    /* Without --tty (uno run -t) the console is plain streams, as docker makes it. */
    for (int fd = 0; fd < 3; fd++)
        if (v->cfg.tty && isatty(fd))
            bi->flags |= UNO_BOOT_STDIN_TTY << fd;
    if (ioctl(1, TIOCGWINSZ, &ws) == 0 || ioctl(0, TIOCGWINSZ, &ws) == 0) {
        bi->tty_rows = ws.ws_row;
        bi->tty_cols = ws.ws_col;
    }
    bi->uid = v->cfg.uid;
    bi->gid = v->cfg.gid;
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    bi->nice = nice == -1 && errno ? 0 : nice;
    bi->ngroups = v->cfg.ngroups;
    memcpy(bi->groups, v->cfg.groups, sizeof bi->groups);

    int khz = ioctl(v->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
    if (khz <= 0) {
        fprintf(stderr, "uno-vmm: cannot learn the TSC frequency from KVM\n");
        return -1;
    }
    bi->tsc_khz = (uint64_t)khz;
    uint32_t shift = 32;
    uint64_t mult = (1000000ull << shift) / (uint64_t)khz;
    while (mult >> 32) {
        shift--;
        mult = (1000000ull << shift) / (uint64_t)khz;
    }
    bi->tsc_mult = (uint32_t)mult;
    bi->tsc_shift = shift;
    bi->tsc_base = __rdtsc();
    bi->mono_ns = now_ns(CLOCK_MONOTONIC);
    bi->wall_ns = now_ns(CLOCK_REALTIME);
    if (getrandom(bi->random, sizeof bi->random, 0) != sizeof bi->random) {
        fprintf(stderr, "uno-vmm: getrandom failed\n");
        return -1;
    }
    snprintf(bi->uname_release, sizeof bi->uname_release, "6.1.0-uno");
    snprintf(bi->hostname, sizeof bi->hostname, "%s", v->cfg.hostname);
    resolv_host_servers(bi->nameservers, sizeof bi->nameservers);
    return 0;
}
