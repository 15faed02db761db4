/* Loading a program: ELF (static, static-PIE, and dynamic ones through the interpreter their
 * PT_INTERP names, which is loaded beside them as Linux does) and "#!" scripts, the stack
 * Linux builds (argc, argv, envp, auxv), and the register frame that enters it. */
#include "proc/thread.h"
#include "sys/syscalls.h"
#include "exec.h"
#include "elf.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "core/kheap.h"
#include "fs/vfs.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "proc/proc.h"
#include "fs/devfs.h"

#define AT_NULL 0
#define AT_PHDR 3
#define AT_PHENT 4
#define AT_PHNUM 5
#define AT_PAGESZ 6
#define AT_BASE 7
#define AT_FLAGS 8
#define AT_ENTRY 9
#define AT_UID 11
#define AT_EUID 12
#define AT_GID 13
#define AT_EGID 14
#define AT_PLATFORM 15
#define AT_HWCAP 16
#define AT_CLKTCK 17
#define AT_SECURE 23
#define AT_RANDOM 25
#define AT_HWCAP2 26
#define AT_EXECFN 31
#define AT_SYSINFO_EHDR 33

#define MAX_SCRIPT_DEPTH 4

static u8 hdr[4096];
bool exec_committed; /* set once the old address space is gone */

static u64 rand_u64(void)
{
    /* xorshift over the boot seed: layout randomization, not secrets */
    static u64 s;
    if (!s)
        memcpy(&s, bootinfo->random + 32, 8), s |= 1;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

struct seg_map {
    struct file *f;
    const struct elf_phdr *ph;
    u64 seg_va;   /* page-aligned VA of the segment start (relocated) */
    u64 bias;
    bool in_place;
    int err;
};

/* Page i of a segment: the file bytes it covers, zeros beyond p_filesz. */
static u64 seg_page(void *ctx, u64 i)
{
    struct seg_map *m = ctx;
    u64 va = m->seg_va + i * PAGE_SIZE;
    u64 file_lo = m->ph->vaddr + m->bias, file_hi = file_lo + m->ph->filesz;
    u64 off = m->ph->offset + (va - file_lo); /* file offset of this page (may underflow) */
    if (m->in_place && va >= file_lo && va + PAGE_SIZE <= file_hi) {
        u64 gpa = lower_page_gpa(m->f, off);
        if (gpa)
            return gpa;
    }
    u64 pa = frame_alloc();
    if (!pa)
        return 0;
    u64 lo = MAX(va, file_lo), hi = MIN(va + PAGE_SIZE, file_hi);
    if (lo < hi) {
        i64 n = m->f->ops->read(m->f, (u8 *)phys_to_virt(pa) + (lo - va), hi - lo,
                                (i64)(m->ph->offset + (lo - file_lo)));
        if (n != (i64)(hi - lo))
            m->err = n < 0 ? (int)n : -EIO;
    }
    return pa;
}

static int load_segments(struct file *f, const struct elf_info *e, u64 bias, u64 *brk)
{
    u64 end = 0;
    for (int i = 0; i < e->phnum; i++) {
        const struct elf_phdr *ph = &e->ph[i];
        if (ph->type != PT_LOAD || ph->memsz == 0)
            continue;
        int prot = (ph->flags & PF_R ? PROT_READ : 0) | (ph->flags & PF_W ? PROT_WRITE : 0) |
                   (ph->flags & PF_X ? PROT_EXEC : 0);
        u64 lo = ALIGN_DOWN(ph->vaddr + bias, PAGE_SIZE);
        u64 hi = ALIGN_UP(ph->vaddr + bias + ph->memsz, PAGE_SIZE);
        struct seg_map m = {.f = f, .ph = ph, .seg_va = lo, .bias = bias,
                            .in_place = !(ph->flags & PF_W)}; /* lower_page_gpa decides */
        vma_remove(lo, hi); /* like MAP_FIXED: a later segment replaces a shared page */
        int r = pt_map(lo, (hi - lo) / PAGE_SIZE, prot_to_pte(prot ? prot : PROT_READ),
                       seg_page, &m);
        if (r || m.err)
            return r ? r : m.err;
        r = vma_add(lo, hi, prot, MAP_PRIVATE, VMA_ELF, ph->offset & PAGE_MASK, f->path);
        if (r)
            return r;
        if (hi > end)
            end = hi;
    }
    *brk = end;
    return 0;
}

/* Copy a string onto the new stack (growing down). */
static u64 push_str(u64 *sp, const char *s)
{
    u64 n = strlen(s) + 1;
    *sp -= n;
    memcpy((void *)*sp, s, n);
    return *sp;
}

/* The loaded program: its headers and load bias, and the interpreter's (base 0: none). */
struct loaded {
    const struct elf_info *e;
    u64 bias;
    u64 interp_base, interp_entry;
    u64 vdso;     /* AT_SYSINFO_EHDR; 0: none (glibc and musl read 0 as absent) */
};

static int build_stack(const struct loaded *l, const char *execfn, char *const argv[],
                       char *const envp[], struct regs *frame)
{
    /* The top of the stack first: its frames then come right after the page tables and the
     * other boot allocations, in guest RAM the host has already backed, instead of 8 MiB
     * further on (a fresh 2 MiB host page costs ~0.1 ms to fault in). */
    const u64 hot = 128 << 10;
    /* Populated (never lazy): the arguments are written below through plain stores. */
    i64 r = mm_mmap_anon(STACK_TOP - hot, hot, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_GROWSDOWN | MAP_POPULATE, VMA_STACK, "[stack]");
    if (r >= 0)
        r = mm_mmap_anon(STACK_TOP - STACK_SIZE, STACK_SIZE - hot, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_GROWSDOWN | MAP_POPULATE, VMA_STACK, "[stack]");
    if (r < 0)
        return (int)r;
    int argc = 0, envc = 0;
    u64 total = 0;
    while (argv[argc])
        total += strlen(argv[argc++]) + 1;
    while (envp[envc])
        total += strlen(envp[envc++]) + 1;
    if (total > MAX_ARGS_BYTES)
        return -E2BIG;

    u64 sp = STACK_TOP - 16;
    u64 fn = push_str(&sp, execfn);
    u64 plat = push_str(&sp, "x86_64");
    /* Strings in the order Linux puts them: argv then envp, contiguous (for cmdline). */
    u64 *argp = kmalloc(((u64)argc + (u64)envc + 2) * sizeof(u64));
    if (!argp)
        return -ENOMEM;
    u64 *envpp = argp + argc + 1;
    sp -= total;
    u64 s = sp;
    proc.arg_start = s;
    for (int i = 0; i < argc; i++) {
        u64 n = strlen(argv[i]) + 1;
        memcpy((void *)s, argv[i], n);
        argp[i] = s;
        s += n;
    }
    proc.arg_end = proc.env_start = s;
    for (int i = 0; i < envc; i++) {
        u64 n = strlen(envp[i]) + 1;
        memcpy((void *)s, envp[i], n);
        envpp[i] = s;
        s += n;
    }
    proc.env_end = s;
    sp &= ~15ull;
    sp -= 16;
    u64 rnd = sp;
    devfs_random((void *)rnd, 16);

    u32 a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    const struct elf_info *e = l->e;
    u64 bias = l->bias;
    u64 auxv[][2] = {
        {AT_SYSINFO_EHDR, l->vdso},
        {AT_PHDR, e->phdr_vaddr ? e->phdr_vaddr + bias : 0},
        {AT_PHENT, 56},
        {AT_PHNUM, e->phnum},
        {AT_PAGESZ, PAGE_SIZE},
        {AT_BASE, l->interp_base},
        {AT_FLAGS, 0},
        {AT_ENTRY, e->entry + bias},
        {AT_UID, proc.uid},
        {AT_EUID, proc.euid},
        {AT_GID, proc.gid},
        {AT_EGID, proc.egid},
        {AT_PLATFORM, plat},
        {AT_HWCAP, d},
        {AT_CLKTCK, 100},
        {AT_SECURE, 0},
        {AT_RANDOM, rnd},
        /* FSGSBASE (wrfsbase works in user mode here), but not while GS is the way rewritten
         * syscall sites enter the libOS (arch/x86_64/rewrite.c). */
        {AT_HWCAP2, rewrite_on() ? 0 : 0x2},
        {AT_EXECFN, fn},
        {AT_NULL, 0},
    };
    u64 words = 1 + (u64)argc + 1 + (u64)envc + 1 + 2 * ARRAY_LEN(auxv);
    sp -= words * 8;
    sp &= ~15ull; /* rsp is 16-byte aligned at the entry point, as the ABI wants */
    u64 *w = (u64 *)sp;
    *w++ = (u64)argc;
    for (int i = 0; i < argc; i++)
        *w++ = argp[i];
    *w++ = 0;
    for (int i = 0; i < envc; i++)
        *w++ = envpp[i];
    *w++ = 0;
    memcpy(w, auxv, sizeof auxv);

    kfree(argp);
    memset(frame, 0, sizeof *frame);
    frame->rip = l->interp_base ? l->interp_entry : e->entry + bias;
    frame->rsp = sp;
    frame->rflags = 0x202;
    proc.argc = argc;
    return 0;
}

/* "#!interp [arg]": returns the interpreter and its optional argument in place. */
static int parse_shebang(u8 *buf, u64 len, char **interp, char **arg)
{
    u64 end = 2;
    while (end < len && buf[end] != '\n')
        end++;
    if (end == len && len == sizeof hdr)
        return -ENOEXEC; /* line too long */
    buf[end] = 0;
    char *p = (char *)buf + 2;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return -ENOEXEC;
    *interp = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    *arg = NULL;
    if (*p) {
        *p++ = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p) {
            *arg = p;
            char *t = p + strlen(p);
            while (t > p && (t[-1] == ' ' || t[-1] == '\t' || t[-1] == '\r'))
                *--t = 0;
        }
    }
    return 0;
}

static int open_exec(const char *path, struct file **out, struct node *n)
{
    int r = vfs_resolve(AT_FDCWD, path, RESOLVE_FOLLOW, n);
    if (r)
        return r;
    if (!S_ISREG(n->mode))
        return -EACCES; /* directories and devices alike, as execve(2) */
    if (!(n->mode & 0111))
        return -EACCES;
    return vfs_open(AT_FDCWD, path, O_RDONLY, 0, out);
}

/* The interpreter a dynamic program names in PT_INTERP (ld.so): opened and its headers
 * checked before the old program is dropped, so a missing or bad one fails the exec cleanly
 * (ENOENT, as Linux, when it does not exist). */
static int open_interp(const struct elf_info *e, struct file **out, struct elf_info *ie)
{
    static char path[PATH_MAX];
    static u8 ihdr[4096];
    static struct node in;
    if (e->interp_len >= PATH_MAX || hdr[e->interp_off + e->interp_len - 1] != 0)
        return -ENOEXEC;
    memcpy(path, hdr + e->interp_off, e->interp_len);
    int r = open_exec(path, out, &in);
    if (r)
        return r == -EACCES && S_ISREG(in.mode) ? -EACCES : r;
    struct file *f = *out;
    struct linux_stat st;
    i64 len = f->ops->read(f, ihdr, sizeof ihdr, 0);
    r = len < 0 ? (int)len : f->ops->stat(f, &st);
    if (!r)
        r = elf_parse(ihdr, (u64)len, (u64)st.st_size, ie);
    if (!r && (ie->has_interp || ie->type != ET_DYN))
        r = -ELIBBAD; /* an interpreter is itself position-independent and has none */
    if (r) {
        file_put(f);
        *out = NULL;
    }
    return r;
}

/* The interpreter goes where mmap would put it (top-down below the stack gap), at a random
 * page offset, as Linux places ld.so. */
static int load_interp(struct file *f, const struct elf_info *ie, struct loaded *l)
{
    u64 span = ie->hi - ie->lo;
    u64 slack = (rand_u64() % 256) * PAGE_SIZE;
    u64 at = vma_find_free(span + slack, 0);
    if (!at)
        return -ENOMEM;
    u64 bias = at + slack - ie->lo, ignored;
    int r = load_segments(f, ie, bias, &ignored);
    if (r)
        return r;
    l->interp_base = bias + ie->lo;
    l->interp_entry = ie->entry + bias;
    return 0;
}

int exec_load(const char *path, char *const argv[], char *const envp[], struct regs *frame)
{
    static struct node n;
    static char **script_argv[MAX_SCRIPT_DEPTH]; /* one array a level: each reads the last */
    static char interp_buf[MAX_SCRIPT_DEPTH][256], arg_buf[MAX_SCRIPT_DEPTH][256];
    static char path_buf[MAX_SCRIPT_DEPTH][PATH_MAX];
    const char *execfn = path;
    for (int depth = 0;; depth++) {
        struct file *f;
        int r = open_exec(path, &f, &n);
        if (r)
            return r;
        i64 len = f->ops->read(f, hdr, sizeof hdr, 0);
        if (len < 0) {
            file_put(f);
            return (int)len;
        }
        if (len >= 2 && hdr[0] == '#' && hdr[1] == '!') {
            file_put(f);
            char *interp, *arg;
            if (depth >= MAX_SCRIPT_DEPTH || parse_shebang(hdr, (u64)len, &interp, &arg))
                return depth >= MAX_SCRIPT_DEPTH ? -ELOOP : -ENOEXEC;
            if (strlen(interp) >= 256 || (arg && strlen(arg) >= 256) || strlen(path) >= PATH_MAX)
                return -ENAMETOOLONG;
            memcpy(interp_buf[depth], interp, strlen(interp) + 1);
            memcpy(path_buf[depth], path, strlen(path) + 1);
            int argc = 0;
            while (argv[argc])
                argc++;
            kfree(script_argv[depth]);
            char **nargv = script_argv[depth] = kmalloc(((u64)argc + 3) * sizeof(char *));
            if (!nargv)
                return -ENOMEM;
            int k = 0;
            nargv[k++] = interp_buf[depth];
            if (arg) {
                memcpy(arg_buf[depth], arg, strlen(arg) + 1);
                nargv[k++] = arg_buf[depth];
            }
            nargv[k++] = path_buf[depth];
            for (int i = 1; i < argc; i++)
                nargv[k++] = argv[i];
            nargv[k] = NULL;
            argv = nargv;
            path = interp_buf[depth];
            continue;
        }
        static struct elf_info e;
        struct linux_stat st;
        r = f->ops->stat(f, &st);
        if (!r)
            r = elf_parse(hdr, (u64)len, (u64)st.st_size, &e);
        if (r) {
            file_put(f);
            return r;
        }
        static struct elf_info ie;
        struct file *interp = NULL;
        if (e.has_interp) {
            r = open_interp(&e, &interp, &ie);
            if (r) {
                file_put(f);
                return r;
            }
        }
        /* A vfork child borrows its parent's memory: it needs its own VM before that memory
         * is replaced. The parent's VM goes back to the parent there. */
        if (vfork_child_running()) {
            r = vfork_child_exec();
            if (r) {
                file_put(f);
                return r;
            }
        }
        /* Point of no return: the old address space goes, and the other threads first. */
        thread_kill_others();
        exec_committed = true;
        vma_reset();
        rewrite_reset();
        frame_discard_free_tail();
        struct loaded l = {.e = &e};
        if (e.type == ET_DYN)
            l.bias = PIE_BASE - e.lo + (rand_u64() % 4096) * PAGE_SIZE;
        u64 brk = 0;
        r = load_segments(f, &e, l.bias, &brk);
        if (!r && interp)
            r = load_interp(interp, &ie, &l);
        if (!r) {
            mm_init(brk + (rand_u64() % 1024) * PAGE_SIZE);
            l.vdso = vdso_map(0);
            r = build_stack(&l, execfn, argv, envp, frame);
        }
        if (interp)
            file_put(interp);
        size_t pl = strlen(n.path);
        memcpy(proc.exe, n.path, pl + 1);
        file_put(f);
        platform_set_fs(0);
        arch_prctl_exec_reset();
        platform_set_gs(rewrite_gs_base(this_cpu()->index)); /* rewritten sites jump via GS */
        return r;
    }
}
