/* KVM plumbing, all in one place: open /dev/kvm, create the VM and its memory slots, set up
 * the one vCPU so it starts at CPL 3 directly in the libOS, and run it. The run loop handles
 * the few exits the guest makes on purpose (hypercalls) and reports everything else. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "vmm.h"

#define MSR_EFER 0xc0000080
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SFMASK 0xc0000084
#define MSR_FS_BASE 0xc0000100
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_IA32_TSC 0x10

#define EFER_SCE (1u << 0)
#define EFER_LME (1u << 8)
#define EFER_LMA (1u << 10)
#define EFER_NXE (1u << 11)

#define CR0_PE (1u << 0)
#define CR0_MP (1u << 1)
#define CR0_ET (1u << 4)
#define CR0_NE (1u << 5)
#define CR0_WP (1u << 16)
#define CR0_AM (1u << 18)
#define CR0_PG (1u << 31)
#define CR4_PAE (1u << 5)
#define CR4_OSFXSR (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)
#define CR4_FSGSBASE (1u << 16)
#define CR4_OSXSAVE (1u << 18)
#define CR4_UMIP (1u << 11)
#define CR4_SMEP (1u << 20)
#define CR4_SMAP (1u << 21)

int kvm_open(struct vmm *v)
{
    v->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (v->kvm_fd < 0) {
        if (errno == ENOENT)
            fprintf(stderr, "uno-vmm: /dev/kvm not found: this machine has no KVM. Enable "
                            "virtualization or run on a host with KVM.\n");
        else if (errno == EACCES || errno == EPERM)
            fprintf(stderr, "uno-vmm: no permission to open /dev/kvm: add your user to the "
                            "'kvm' group (sudo usermod -aG kvm $USER) and log in again.\n");
        else
            fprintf(stderr, "uno-vmm: cannot open /dev/kvm: %s\n", strerror(errno));
        return -1;
    }
    int ver = ioctl(v->kvm_fd, KVM_GET_API_VERSION, 0);
    if (ver != KVM_API_VERSION) {
        fprintf(stderr, "uno-vmm: /dev/kvm speaks API version %d, need %d\n", ver,
                KVM_API_VERSION);
        return -1;
    }
    static const struct { int cap; const char *name; } need[] = {
        {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
        {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
        {KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM"},
    };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        if (ioctl(v->kvm_fd, KVM_CHECK_EXTENSION, need[i].cap) <= 0) {
            fprintf(stderr, "uno-vmm: this host's KVM lacks %s, which uno needs\n", need[i].name);
            return -1;
        }
    }
    v->vm_fd = ioctl(v->kvm_fd, KVM_CREATE_VM, 0);
    if (v->vm_fd < 0) {
        fprintf(stderr, "uno-vmm: KVM_CREATE_VM failed: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

const char *backend_name(int backend)
{
    return backend == UNO_BACKEND_NATIVE ? "native" : "cpl3";
}

static bool have_module(const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "/sys/module/%s", name);
    return access(path, F_OK) == 0;
}

/* Which kind of KVM is this? Hardware KVM (kvm_intel / kvm_amd) runs guest ring 0 natively:
 * the native backend. The PVM-style KVM of the development machines (kvm_pvm) runs only
 * CPL 3 natively: the cpl3 backend (PVM.md). */
int kvm_choose_backend(struct vmm *v)
{
    bool hw = have_module("kvm_intel") || have_module("kvm_amd");
    bool pvm = have_module("kvm_pvm");
    if (v->cfg.backend) {
        v->backend = v->cfg.backend;
        v->backend_why = "chosen with --backend";
        /* UNO_EMULATED_RING0=1 lets a developer boot the native backend under kvm_pvm's
         * emulated ring 0 anyway: it gets as far as the app's first syscall. */
        if (v->backend == UNO_BACKEND_NATIVE && pvm && !hw && !getenv("UNO_EMULATED_RING0")) {
            fprintf(stderr, "uno-vmm: --backend native needs hardware KVM (VT-x/AMD-V); this "
                            "host's KVM is kvm_pvm, which emulates guest ring 0: use the "
                            "cpl3 backend\n");
            return -1;
        }
        return 0;
    }
    if (hw) {
        v->backend = UNO_BACKEND_NATIVE;
        v->backend_why = have_module("kvm_intel") ? "kvm_intel: hardware KVM"
                                                  : "kvm_amd: hardware KVM";
    } else {
        v->backend = UNO_BACKEND_CPL3;
        v->backend_why = pvm ? "kvm_pvm: guest CPL 3 native, CPL 0 emulated"
                             : "unknown KVM module: the backend that needs least";
    }
    return 0;
}

int kvm_set_slot(struct vmm *v, uint32_t slot, uint64_t gpa, uint64_t size, const void *host,
                 uint32_t flags)
{
    struct kvm_userspace_memory_region r = {
        .slot = slot, .flags = flags, .guest_phys_addr = gpa, .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)host,
    };
    if (ioctl(v->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
        fprintf(stderr, "uno-vmm: KVM_SET_USER_MEMORY_REGION(slot %u): %s\n", slot,
                strerror(errno));
        return -1;
    }
    return 0;
}

int kvm_setup_memory(struct vmm *v)
{
    struct guest_mem *m = &v->mem;
    if (kvm_set_slot(v, 0, 0, m->ram_size, m->ram, 0) ||
        kvm_set_slot(v, 1, UNO_GPA_SHARED, m->shared_size, m->shared, 0) ||
        kvm_set_slot(v, 2, UNO_GPA_IMAGE, m->image_map_size, m->image, KVM_MEM_READONLY) ||
        filemap_restore(v))
        return -1;
    /* The doorbell: a guest write here signals the eventfd inside the host kernel, with no
     * exit to this process. */
    v->doorbell_fd = eventfd(0, EFD_CLOEXEC);
    struct kvm_ioeventfd io = {.addr = UNO_MMIO_DOORBELL, .len = 4, .fd = v->doorbell_fd};
    if (v->doorbell_fd < 0 || ioctl(v->vm_fd, KVM_IOEVENTFD, &io) < 0) {
        fprintf(stderr, "uno-vmm: cannot register the doorbell ioeventfd: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, uint8_t dpl, bool code)
{
    memset(s, 0, sizeof *s);
    s->selector = sel;
    s->base = 0;
    s->limit = 0xffffffff;
    s->type = type;
    s->present = 1;
    s->dpl = dpl;
    s->s = 1;
    s->l = code ? 1 : 0;
    s->db = code ? 0 : 1;
    s->g = 1;
}

static int set_msrs(struct vmm *v, int fd, uint64_t syscall_entry)
{
    (void)v;
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[8];
    } msrs;
    memset(&msrs, 0, sizeof msrs);
    /* STAR: syscall CS = KCODE; sysret would use UCODE32 + 16 = UCODE, +8 = UDATA. */
    uint64_t star = ((uint64_t)(UNO_SEL_UCODE32 | 3) << 48) | ((uint64_t)UNO_SEL_KCODE << 32);
    struct kvm_msr_entry e[] = {
        {.index = MSR_STAR, .data = star},
        {.index = MSR_LSTAR, .data = syscall_entry},
        {.index = MSR_CSTAR, .data = 0},
        /* Clear TF, IF, DF, AC, NT on entry: the libOS runs with the flags Linux gives. */
        {.index = MSR_SFMASK, .data = 0x47700},
        {.index = MSR_FS_BASE, .data = 0},
        {.index = MSR_GS_BASE, .data = 0},
        {.index = MSR_KERNEL_GS_BASE, .data = 0},
        /* Same TSC as the host so the boot-info clock pair holds in the guest. */
        {.index = MSR_IA32_TSC, .data = __rdtsc()},
    };
    memcpy(msrs.e, e, sizeof e);
    msrs.hdr.nmsrs = sizeof e / sizeof e[0];
    int n = ioctl(fd, KVM_SET_MSRS, &msrs);
    if (n != (int)msrs.hdr.nmsrs) {
        fprintf(stderr, "uno-vmm: KVM_SET_MSRS set %d of %u MSRs\n", n, msrs.hdr.nmsrs);
        return -1;
    }
    return 0;
}

/* The vCPU's CPUID decides what KVM lets the guest use: NX, the physical address width
 * (the image and shared slots sit above 64 GiB), XSAVE. Give it what KVM supports. Asking
 * KVM costs ~0.4 ms here (each host cpuid traps to the machine's own hypervisor), a tenth of
 * a boot, and the answer only changes with the host: with --cpuid-cache the table is kept
 * in a file (the caller names it per host boot) and read back next time. */
#define CPUID_MAX 256
#define CPUID_CACHE_MAGIC 0x44495550434f4e55ull /* "UNOCPUID" */

static struct kvm_cpuid2 *cpuid_alloc(void)
{
    struct kvm_cpuid2 *c =
        calloc(1, sizeof *c + (size_t)CPUID_MAX * sizeof(struct kvm_cpuid_entry2));
    if (c)
        c->nent = CPUID_MAX;
    return c;
}

static bool cpuid_cache_read(const char *path, struct kvm_cpuid2 *c)
{
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0)
        return false;
    uint64_t magic = 0;
    uint32_t n = 0;
    bool ok = read(fd, &magic, 8) == 8 && magic == CPUID_CACHE_MAGIC && read(fd, &n, 4) == 4 &&
              n > 0 && n <= CPUID_MAX &&
              read(fd, c->entries, n * sizeof c->entries[0]) == (ssize_t)(n * sizeof c->entries[0]);
    close(fd);
    if (ok)
        c->nent = n;
    return ok;
}

static void cpuid_cache_write(const char *path, const struct kvm_cpuid2 *c)
{
    char tmp[4096];
    if (!path || snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof tmp)
        return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    uint64_t magic = CPUID_CACHE_MAGIC;
    bool ok = write(fd, &magic, 8) == 8 && write(fd, &c->nent, 4) == 4 &&
              write(fd, c->entries, c->nent * sizeof c->entries[0]) ==
                  (ssize_t)(c->nent * sizeof c->entries[0]);
    close(fd);
    if (!ok || rename(tmp, path) < 0)
        unlink(tmp);
}

/* What the libOS does not support is not offered to the program (on the native backend the
 * program's cpuid sees this table; on cpl3 it sees the host's): no 5-level paging, no
 * protection keys, no user-mode wait or AMX state the libOS does not manage; XSAVE state
 * limited to x87/SSE/AVX/AVX-512, which XCR0 enables. Also note what the VMM needs. */
static void cpuid_adjust(struct vmm *v, struct kvm_cpuid2 *c)
{
    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        if (e->function == 7 && e->index == 0) {
            e->ecx &= ~((1u << 16) /* LA57 */ | (1u << 3) /* PKU */ | (1u << 4) /* OSPKE */ |
                        (1u << 5) /* WAITPKG */);
            e->edx &= ~((1u << 22) /* AMX-BF16 */ | (1u << 24) /* AMX-TILE */ |
                        (1u << 25) /* AMX-INT8 */);
            v->cpu_feat7_ebx = e->ebx;
            v->cpu_feat7_ecx = e->ecx;
        }
        if (e->function == 0xd && e->index == 0) {
            e->eax &= 0xe7; /* x87, SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM */
            v->xcr0 = e->eax;
        }
    }
}

/* The adjusted table, kept for the VMs a fork builds. */
static struct kvm_cpuid2 *cpuid_final;

static int set_cpuid(struct vmm *v, int fd)
{
    if (cpuid_final) {
        if (ioctl(fd, KVM_SET_CPUID2, cpuid_final) < 0) {
            fprintf(stderr, "uno-vmm: cannot set the vCPU's CPUID: %s\n", strerror(errno));
            return -1;
        }
        return 0;
    }
    struct kvm_cpuid2 *c = cpuid_alloc();
    if (!c)
        return -1;
    bool cached = cpuid_cache_read(v->cfg.cpuid_cache, c);
    if (!cached) {
        c->nent = CPUID_MAX;
        if (ioctl(v->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
            fprintf(stderr, "uno-vmm: KVM_GET_SUPPORTED_CPUID: %s\n", strerror(errno));
            free(c);
            return -1;
        }
        cpuid_cache_write(v->cfg.cpuid_cache, c);
    }
    cpuid_adjust(v, c);
    if (ioctl(fd, KVM_SET_CPUID2, c) < 0) {
        fprintf(stderr, "uno-vmm: cannot set the vCPU's CPUID: %s\n", strerror(errno));
        free(c);
        return -1;
    }
    cpuid_final = c;
    return 0;
}

/* vCPU c->index of this VM, with its wake-up doorbell (UNO_MMIO_WAKE): a guest write there
 * signals c->wake_fd inside the host kernel, which UNO_HC_BLOCK waits on. */
int kvm_create_vcpu(struct vmm *v, struct vcpu *c)
{
    c->fd = ioctl(v->vm_fd, KVM_CREATE_VCPU, (unsigned long)c->index);
    if (c->fd < 0) {
        fprintf(stderr, "uno-vmm: KVM_CREATE_VCPU: %s\n", strerror(errno));
        return -1;
    }
    v->run_size = (size_t)ioctl(v->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    c->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
    if (c->run == MAP_FAILED) {
        fprintf(stderr, "uno-vmm: cannot map kvm_run: %s\n", strerror(errno));
        return -1;
    }
    c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct kvm_ioeventfd io = {.addr = UNO_MMIO_WAKE(c->index), .len = 4, .fd = c->wake_fd};
    if (c->wake_fd < 0 || ioctl(v->vm_fd, KVM_IOEVENTFD, &io) < 0) {
        fprintf(stderr, "uno-vmm: cannot register a vCPU's wake ioeventfd: %s\n",
                strerror(errno));
        return -1;
    }
    if (!c->req && !(c->req = malloc(sizeof *c->req)))
        return -1;
    return set_cpuid(v, c->fd);
}

int kvm_setup_vcpu(struct vmm *v, uint64_t entry, uint64_t stack, uint64_t arg,
                   uint64_t syscall_entry)
{
    struct vcpu *c = &v->vcpus[0];
    int fd;
    if (kvm_create_vcpu(v, c))
        return -1;
    fd = c->fd;

    struct kvm_sregs sr;
    if (ioctl(fd, KVM_GET_SREGS, &sr) < 0)
        return -1;
    if (v->backend == UNO_BACKEND_NATIVE) {
        /* Hardware KVM: the libOS is a ring-0 kernel; the vCPU starts at CPL 0. */
        seg(&sr.cs, UNO_SEL_KCODE, 0xb, 0, true);
        seg(&sr.ss, UNO_SEL_KDATA, 0x3, 0, false);
        seg(&sr.ds, UNO_SEL_KDATA, 0x3, 0, false);
        seg(&sr.es, UNO_SEL_KDATA, 0x3, 0, false);
        seg(&sr.fs, UNO_SEL_KDATA, 0x3, 0, false);
        seg(&sr.gs, UNO_SEL_KDATA, 0x3, 0, false);
    } else {
        /* 64-bit user segments: the vCPU starts at CPL 3 in the libOS. */
        seg(&sr.cs, UNO_SEL_UCODE, 0xb, 3, true);
        seg(&sr.ss, UNO_SEL_UDATA, 0x3, 3, false);
        seg(&sr.ds, UNO_SEL_UDATA, 0x3, 3, false);
        seg(&sr.es, UNO_SEL_UDATA, 0x3, 3, false);
        seg(&sr.fs, UNO_SEL_UDATA, 0x3, 3, false);
        seg(&sr.gs, UNO_SEL_UDATA, 0x3, 3, false);
    }
    memset(&sr.tr, 0, sizeof sr.tr);
    sr.tr.selector = UNO_SEL_TSS;
    sr.tr.base = UNO_VA_DMAP + UNO_GPA_CPU + 0x1000;
    sr.tr.limit = 0x67;
    sr.tr.type = 0xb; /* busy 64-bit TSS */
    sr.tr.present = 1;
    sr.gdt.base = UNO_VA_DMAP + UNO_GPA_CPU;
    sr.gdt.limit = 8 * 8 - 1;
    sr.idt.base = UNO_VA_DMAP + UNO_GPA_CPU + 0x2000;
    sr.idt.limit = 256 * 16 - 1;
    sr.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
    sr.cr3 = UNO_GPA_PGTABLE;
    sr.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_FSGSBASE | CR4_OSXSAVE;
    if (v->backend == UNO_BACKEND_NATIVE) {
        /* Ring 0 protections where the CPU has them: the libOS never executes (SMEP) or,
         * outside its accessors, touches (SMAP) user pages; user code cannot read the
         * descriptor tables (UMIP). */
        if (v->cpu_feat7_ebx & (1u << 7))
            sr.cr4 |= CR4_SMEP;
        if (v->cpu_feat7_ebx & (1u << 20))
            sr.cr4 |= CR4_SMAP;
        if (v->cpu_feat7_ecx & (1u << 2))
            sr.cr4 |= CR4_UMIP;
    }
    sr.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
    if (ioctl(fd, KVM_SET_SREGS, &sr) < 0) {
        fprintf(stderr, "uno-vmm: KVM_SET_SREGS: %s\n", strerror(errno));
        return -1;
    }

    /* x87 + SSE + AVX state enabled, as Linux enables them for user space. */
    struct kvm_xcrs xcrs = {.nr_xcrs = 1,
                            .xcrs = {{.xcr = 0, .value = v->xcr0 ? v->xcr0 : 0x7}}};
    if (ioctl(fd, KVM_SET_XCRS, &xcrs) < 0)
        vmm_log(v, "KVM_SET_XCRS failed (%s); continuing", strerror(errno));

    if (set_msrs(v, fd, syscall_entry))
        return -1;

    struct kvm_regs regs = {0};
    regs.rip = entry;
    regs.rsp = stack;
    regs.rdi = arg;
    regs.rflags = 0x2;
    if (ioctl(fd, KVM_SET_REGS, &regs) < 0) {
        fprintf(stderr, "uno-vmm: KVM_SET_REGS: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

static const char *signame(int sig)
{
    switch (sig) {
    case 4: return "SIGILL (illegal instruction)";
    case 5: return "SIGTRAP (breakpoint)";
    case 7: return "SIGBUS (bus error)";
    case 8: return "SIGFPE (arithmetic exception)";
    case 11: return "SIGSEGV (invalid memory access)";
    default: return "a signal";
    }
}

static void report_fault(struct vmm *v, struct uno_hcall *hc)
{
    struct kvm_sregs sr;
    uint64_t cr2 = 0;
    if (ioctl(this_vcpu->fd, KVM_GET_SREGS, &sr) == 0)
        cr2 = sr.cr2;
    int sig = (int)(hc->arg[0] & 0x7f);
    v->exit_status = 128 + sig;
    /* Only the instance's own status gets a report; a child's death is its parent's news,
     * as on Linux (set UNO_REPORT_ALL_FAULTS to see every one). */
    if (!proc_is_init(v) && !getenv("UNO_REPORT_ALL_FAULTS"))
        return;
    fprintf(stderr,
            "uno: %s killed by %s: exception %llu, error code 0x%llx at rip 0x%llx, "
            "rsp 0x%llx, fault address 0x%llx\n",
            v->cfg.argv[0], signame(sig), (unsigned long long)hc->arg[1],
            (unsigned long long)hc->arg[2], (unsigned long long)hc->arg[3],
            (unsigned long long)hc->arg[4], (unsigned long long)cr2);
    v->exit_status = 128 + sig;
}

/* Where the vCPU is: for failure reports and for SIGUSR1 (a debugging aid). */
static void dump_vcpu(struct vmm *v)
{
    struct kvm_regs r;
    struct kvm_sregs sr;
    (void)v;
    if (ioctl(this_vcpu->fd, KVM_GET_REGS, &r) || ioctl(this_vcpu->fd, KVM_GET_SREGS, &sr))
        return;
    fprintf(stderr,
            "uno-vmm: vCPU at rip 0x%llx rsp 0x%llx rax 0x%llx rdi 0x%llx rsi 0x%llx "
            "rflags 0x%llx cs 0x%x cr2 0x%llx\n",
            (unsigned long long)r.rip, (unsigned long long)r.rsp, (unsigned long long)r.rax,
            (unsigned long long)r.rdi, (unsigned long long)r.rsi, (unsigned long long)r.rflags,
            sr.cs.selector, (unsigned long long)sr.cr2);
}

static void report_vm_failure(struct vmm *v, const char *what)
{
    fprintf(stderr, "uno-vmm: the VM stopped: %s\n", what);
    dump_vcpu(v);
    v->exit_status = VMM_EXIT_ERROR;
}

/* ---------------------------------------------------------------- fork ---------- */

/* What a vCPU is, beyond guest memory: enough to resume it in a new VM after a fork. */
static const uint32_t saved_msrs[] = {MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK,
                                      MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE};
#define NSAVED_MSRS (sizeof saved_msrs / sizeof saved_msrs[0])
struct vcpu_state {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_xcrs xcrs;
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[NSAVED_MSRS + 1];
    } msrs;
    size_t xsave_size;
    struct kvm_xsave xsave; /* followed by the rest of a KVM_GET_XSAVE2 area */
};

static size_t xsave_size(struct vmm *v)
{
    int n = ioctl(v->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
    return n > (int)sizeof(struct kvm_xsave) ? (size_t)n : sizeof(struct kvm_xsave);
}

void *kvm_save_state(struct vmm *v)
{
    size_t xs = xsave_size(v);
    struct vcpu_state *s = calloc(1, sizeof *s - sizeof s->xsave + xs);
    if (!s)
        return NULL;
    s->xsave_size = xs;
    s->xcrs.nr_xcrs = 1;
    s->msrs.hdr.nmsrs = NSAVED_MSRS;
    for (size_t i = 0; i < NSAVED_MSRS; i++)
        s->msrs.e[i].index = saved_msrs[i];
    unsigned long get_xsave = xs > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE;
    int fd = this_vcpu->fd;
    if (ioctl(fd, KVM_GET_REGS, &s->regs) < 0 ||
        ioctl(fd, KVM_GET_SREGS, &s->sregs) < 0 ||
        ioctl(fd, KVM_GET_XCRS, &s->xcrs) < 0 ||
        ioctl(fd, KVM_GET_MSRS, &s->msrs) != (int)NSAVED_MSRS ||
        ioctl(fd, get_xsave, &s->xsave) < 0) {
        fprintf(stderr, "uno-vmm: fork: cannot read the vCPU's state: %s\n", strerror(errno));
        free(s);
        return NULL;
    }
    return s;
}

/* Write a saved vCPU state into vCPU fd (fork's child, a new thread). */
static int load_state(int fd, const struct vcpu_state *s, const struct kvm_regs *regs,
                      const struct kvm_sregs *sregs, const struct kvm_msr_entry *extra,
                      int nextra)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[NSAVED_MSRS + 4];
    } msrs;
    memcpy(&msrs, &s->msrs, sizeof s->msrs);
    msrs.e[NSAVED_MSRS] = (struct kvm_msr_entry){.index = MSR_IA32_TSC, .data = __rdtsc()};
    msrs.hdr.nmsrs = NSAVED_MSRS + 1;
    for (int i = 0; i < nextra; i++)
        msrs.e[msrs.hdr.nmsrs++] = extra[i];
    struct kvm_xcrs xcrs = s->xcrs;
    struct kvm_sregs sr = *sregs;
    struct kvm_regs r = *regs;
    if (ioctl(fd, KVM_SET_SREGS, &sr) < 0 || ioctl(fd, KVM_SET_XCRS, &xcrs) < 0 ||
        ioctl(fd, KVM_SET_MSRS, &msrs) != (int)msrs.hdr.nmsrs ||
        ioctl(fd, KVM_SET_XSAVE, &s->xsave) < 0 || ioctl(fd, KVM_SET_REGS, &r) < 0)
        return -1;
    return 0;
}

/* A new thread: vCPU `to` gets the state of `from` (the thread that called clone: segments,
 * control registers, FPU state as Linux copies it), its own syscall stub (LSTAR), TSS, and
 * the registers that start it in the libOS. Called on `from`'s host thread. */
int kvm_clone_vcpu(struct vmm *v, struct vcpu *from, struct vcpu *to, uint64_t rip,
                   uint64_t rsp, uint64_t tss)
{
    struct vcpu *saved = this_vcpu;
    this_vcpu = from;
    struct vcpu_state *s = kvm_save_state(v);
    this_vcpu = saved;
    if (!s)
        return -1;
    struct kvm_regs r = {.rip = rip, .rsp = rsp, .rflags = 0x2};
    struct kvm_sregs sr = s->sregs;
    sr.tr.base = tss;
    struct kvm_msr_entry extra[] = {
        {.index = MSR_LSTAR, .data = v->syscall_entry + (uint64_t)to->index * UNO_SYSCALL_STRIDE},
    };
    int e = load_state(to->fd, s, &r, &sr, extra, 1);
    free(s);
    return e;
}

/* In the child of a host fork: the parent's VM belongs to the parent's address space.
 * Build a new one over the same (now copy-on-write) memory and resume the saved vCPU, the
 * one that forked: the other threads do not exist in the child, as on Linux. */
int kvm_rebuild_after_fork(struct vmm *v, const void *state)
{
    const struct vcpu_state *s = state;
    for (int i = 0; i < UNO_MAX_VCPUS; i++) {
        struct vcpu *c = &v->vcpus[i];
        if (c->state == VCPU_NONE)
            continue;
        munmap(c->run, v->run_size);
        close(c->fd);
        close(c->wake_fd);
    }
    vcpu_forget_others(v);
    close(v->vm_fd);
    close(v->doorbell_fd);
    v->vm_fd = ioctl(v->kvm_fd, KVM_CREATE_VM, 0);
    if (v->vm_fd < 0) {
        fprintf(stderr, "uno-vmm: fork: KVM_CREATE_VM: %s\n", strerror(errno));
        return -1;
    }
    if (kvm_setup_memory(v) || kvm_create_vcpu(v, this_vcpu))
        return -1;
    if (load_state(this_vcpu->fd, s, &s->regs, &s->sregs, NULL, 0) < 0) {
        fprintf(stderr, "uno-vmm: fork: cannot set up the child's vCPU: %s\n", strerror(errno));
        return -1;
    }
    return block_install(v);
}

/* ---------------------------------------------------------------- hypercalls ---- */

/* Sleep until `deadline` on `clock`, or until a signal the guest must see: -EINTR. */
static int64_t sleep_until(struct vmm *v, int clock, uint64_t deadline)
{
    for (;;) {
        uint64_t now = now_ns(clock);
        if (now >= deadline)
            return 0;
        /* block_wait counts on CLOCK_MONOTONIC; a realtime deadline is re-checked. */
        uint64_t mono = now_ns(CLOCK_MONOTONIC) + (deadline - now);
        int r = block_wait(v, NULL, 0, mono, false);
        if (r == -EINTR)
            return -EINTR;
    }
}

/* A signal for this thread arrived (or the libOS asked to look at it: uno_vcpu.wake) while
 * its vCPU ran app code: enter the libOS's upcall with the app's registers in the vCPU's
 * struct uno_vcpu, as an interrupt would. On the native backend the libOS runs in ring 0:
 * the vCPU changes privilege too (the upcall returns with iretq). */
static void maybe_upcall(struct vmm *v, struct vcpu *c)
{
    struct uno_vcpu *vc = vcpu_shared(v, c);
    if (!vc || !proc_signal_wanted_by(v, c))
        return;
    struct kvm_regs r;
    struct kvm_sregs sr;
    if (ioctl(c->fd, KVM_GET_REGS, &r) < 0 || r.rip >= 0x800000000000ull)
        return; /* in the libOS: it looks at its signals before returning to the app */
    bool native = v->backend == UNO_BACKEND_NATIVE;
    if (native && (ioctl(c->fd, KVM_GET_SREGS, &sr) < 0 || sr.cs.dpl != 3))
        return;
    const uint64_t f[18] = {r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9,
                            r.r8,  r.rax, r.rcx, r.rdx, r.rsi, r.rdi, r.rip, r.rflags, r.rsp};
    memcpy(vc->frame, f, sizeof f);
    vc->upcall = 1;
    r.rip = v->upcall_entry;
    r.rsp = c->upcall_stack;
    r.rflags = 0x2;
    if (native) {
        seg(&sr.cs, UNO_SEL_KCODE, 0xb, 0, true);
        seg(&sr.ss, UNO_SEL_KDATA, 0x3, 0, false);
        if (ioctl(c->fd, KVM_SET_SREGS, &sr) < 0)
            return;
    }
    ioctl(c->fd, KVM_SET_REGS, &r);
}

/* A hypercall: the guest stopped on purpose. Returns 1 when the VM is finished. */
static int hypercall(struct vmm *v, uint32_t nr)
{
    struct uno_vcpu *vc = vcpu_shared(v, this_vcpu);
    if (!vc) {
        fprintf(stderr, "uno-vmm: a vCPU's shared block left guest RAM\n");
        v->exit_status = VMM_EXIT_ERROR;
        proc_exit(v, VMM_EXIT_ERROR << 8);
        return 1;
    }
    struct uno_hcall *hc = &vc->hc;
    /* Whatever the exit is for, what the guest queued without a doorbell goes first (a
     * sleep, a futex wait or a fork must not hold up a reply sent before it). */
    if (nr != UNO_HC_WAIT && nr != UNO_HC_HOSTCALL && ring_has_work(v))
        ring_serve(v, false);
    switch (nr) {
    case UNO_HC_WAIT:
        ring_serve(v, true);
        return 0;
    case UNO_HC_EXIT: {
        ring_serve(v, false); /* output submitted before exit must reach the console */
        int32_t st = (int32_t)(hc->arg[0] & 0xffff);
        hostops_close_all(v);
        proc_exit(v, st);
        v->exit_status = (st & 0x7f) ? 128 + (st & 0x7f) : (st >> 8) & 0xff;
        return 1;
    }
    case UNO_HC_FAULT:
        ring_serve(v, false);
        report_fault(v, hc);
        hostops_close_all(v);
        proc_exit(v, (int32_t)(hc->arg[0] & 0x7f));
        return 1;
    case UNO_HC_PANIC: {
        ring_serve(v, false);
        uint64_t len = hc->arg[1] > 4096 ? 4096 : hc->arg[1];
        const char *msg = gpa_ptr(v, hc->arg[0], len);
        fprintf(stderr, "uno-vmm: libOS panic: %.*s\n", msg ? (int)len : 0, msg ? msg : "");
        v->exit_status = VMM_EXIT_ERROR;
        proc_exit(v, VMM_EXIT_ERROR << 8);
        return 1;
    }
    case UNO_HC_SLEEP: {
        int clock = hc->arg[0] == CLOCK_REALTIME ? CLOCK_REALTIME : CLOCK_MONOTONIC;
        hc->ret = sleep_until(v, clock, hc->arg[1]);
        return 0;
    }
    case UNO_HC_CLOCK:
        hc->ret = (int64_t)now_ns(CLOCK_REALTIME);
        hc->arg[0] = now_ns(CLOCK_MONOTONIC);
        return 0;
    case UNO_HC_FORK:
        hc->ret = proc_fork(v, hc);
        return 0;
    case UNO_HC_CR2: {
        struct kvm_sregs sr;
        hc->ret = ioctl(this_vcpu->fd, KVM_GET_SREGS, &sr) == 0 ? (int64_t)sr.cr2 : 0;
        return 0;
    }
    case UNO_HC_VCPU_START:
        hc->ret = vcpu_start(v, hc);
        return 0;
    case UNO_HC_VCPU_EXIT:
        vcpu_exit(v); /* returns when the vCPU is reused by a new thread */
        return 0;
    case UNO_HC_BLOCK:
        hc->ret = vcpu_block(v, hc);
        return 0;
    case UNO_HC_KICK:
        hc->ret = vcpu_kick(v, hc->arg[0]);
        return 0;
    case UNO_HC_HOSTCALL:
        hc->ret = vcpu_hostcall(v);
        return 0;
    case UNO_HC_MEMBARRIER:
        hc->ret = vcpu_membarrier(v);
        return 0;
    case UNO_HC_NICE:
        hc->ret = vcpu_nice(v, hc->arg[0], (int64_t)hc->arg[1]);
        return 0;
    case UNO_HC_CPUTIME:
        hc->ret = vcpu_cputime(v, hc->arg[0], hc->arg[1], &hc->arg[2]);
        return 0;
    case UNO_HC_AFFINITY:
        hc->ret = vcpu_affinity(v, hc->arg[0], hc->arg[1]);
        return 0;
    case UNO_HC_DISCARD: {
        /* Freed guest memory: after a fork it is still shared copy-on-write with the parent;
         * dropping it means the next use gets a zero page instead of a copy. */
        uint64_t gpa = hc->arg[0], len = hc->arg[1];
        void *p = (gpa | len) & 4095 ? NULL : gpa_ptr(v, gpa, len);
        hc->ret = p && len && madvise(p, len, MADV_DONTNEED) == 0 ? 0 : -EINVAL;
        return 0;
    }
    case UNO_HC_VFORK_END:
        ring_serve(v, false);
        hc->ret = proc_vfork_end(v, (int32_t)(hc->arg[0] & 0xffff));
        return 0;
    case UNO_HC_STOP:
        ring_serve(v, false);
        hc->ret = proc_stop(v, (int)(hc->arg[0] & 0x7f));
        return 0;
    default:
        fprintf(stderr, "uno-vmm: guest made unknown hypercall %u\n", nr);
        v->exit_status = VMM_EXIT_ERROR;
        proc_exit(v, VMM_EXIT_ERROR << 8);
        return 1;
    }
}

/* SIGUSR1 makes the VMM print where the vCPU is (dump_vcpu): a debugging aid for hung
 * guests. */
static volatile sig_atomic_t dump_requested;
static void on_usr1(int sig) { (void)sig; dump_requested = 1; }

/* Run vCPU c on this host thread until the VM is over (its exit status). */
int kvm_run_loop(struct vmm *v, struct vcpu *c)
{
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL);
    this_vcpu = c;
    for (;;) {
        c = this_vcpu; /* a fork keeps only the vCPU that forked */
        struct kvm_run *run = c->run; /* a fork replaces it */
        c->in_guest = 1;
        int rr = ioctl(c->fd, KVM_RUN, 0);
        c->in_guest = 0;
        __atomic_fetch_add(&c->exits, 1, __ATOMIC_SEQ_CST);
        if (rr < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                if (dump_requested) {
                    dump_requested = 0;
                    dump_vcpu(v);
                }
                block_eat_kicks(v);
                vcpu_route_signals(v);
                maybe_upcall(v, c);
                continue;
            }
            fprintf(stderr, "uno-vmm: KVM_RUN: %s\n", strerror(errno));
            return VMM_EXIT_ERROR;
        }
        switch (run->exit_reason) {
        case KVM_EXIT_MMIO:
            if (run->mmio.is_write && run->mmio.phys_addr == UNO_MMIO_HYPERCALL &&
                run->mmio.len == 4) {
                uint32_t nr;
                memcpy(&nr, run->mmio.data, 4);
                v->hypercalls++;
                if (hypercall(v, nr))
                    return v->exit_status;
                continue;
            }
            fprintf(stderr, "uno-vmm: guest touched unbacked address 0x%llx (%s, %u bytes)\n",
                    (unsigned long long)run->mmio.phys_addr, run->mmio.is_write ? "write" : "read",
                    run->mmio.len);
            report_vm_failure(v, "access outside guest memory");
            return v->exit_status;
        case KVM_EXIT_SHUTDOWN:
            report_vm_failure(v, "triple fault (an exception the libOS could not take)");
            return v->exit_status;
        case KVM_EXIT_INTERNAL_ERROR: {
            char what[96];
            snprintf(what, sizeof what, "KVM internal error, suberror %u",
                     run->internal.suberror);
            report_vm_failure(v, what);
            return v->exit_status;
        }
        case KVM_EXIT_FAIL_ENTRY:
            report_vm_failure(v, "vCPU entry failed");
            return v->exit_status;
        case KVM_EXIT_HLT:
            report_vm_failure(v, "the guest halted");
            return v->exit_status;
        default: {
            char what[64];
            snprintf(what, sizeof what, "unexpected exit reason %u", run->exit_reason);
            report_vm_failure(v, what);
            return v->exit_status;
        }
        }
    }
}
