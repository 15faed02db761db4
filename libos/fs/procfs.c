/* /proc: the process this VM runs, seen the way Linux shows it, and the instance's others.
 *
 * Most entries sit in a fixed table (name, parent directory, kind, mode, generator); some
 * kinds of entries are made on the fly: /proc/<pid> (ours in full; the instance's other
 * processes with stat, status, cmdline and comm, from what each told its VMM: the process
 * table's UNO_PROC_INFO) and the descriptors in /proc/<pid>/fd. A text file's contents are
 * generated whole when it is opened and kept in f->priv, so reads at any offset see one
 * consistent snapshot.
 *
 * special_kind numbers every entry uniquely (vfs_stat derives inode numbers from it);
 * descriptor links are PK_FD0 + fd, another process's entries PK_OPID + pid * 8 + OP_*. */
#include "devfs.h"
#include "core/kernel.h"
#include "core/kheap.h"
#include "io/ring.h"
#include "libos/fmt.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "proc/proc.h"
#include "proc/thread.h"
#include "sys/syscalls.h"
#include <stdarg.h>

enum {
    PK_ROOT = 1,
    PK_SELF,
    PK_MOUNTS_LINK,
    PK_MEMINFO,
    PK_CPUINFO,
    PK_UPTIME,
    PK_LOADAVG,
    PK_VERSION,
    PK_STAT,
    PK_FILESYSTEMS,
    PK_SYS = 20,
    PK_SYS_KERNEL,
    PK_SYS_RANDOM,
    PK_SYS_VM,
    PK_SYS_FS,
    PK_HOSTNAME,
    PK_OSRELEASE,
    PK_OSTYPE,
    PK_PID_MAX,
    PK_UUID,
    PK_BOOT_ID,
    PK_OVERCOMMIT,
    PK_NR_OPEN,
    PK_PID = 100,
    PK_EXE,
    PK_CWD,
    PK_ROOTLINK,
    PK_FD,
    PK_MAPS,
    PK_CMDLINE,
    PK_ENVIRON,
    PK_PSTAT,
    PK_STATM,
    PK_STATUS,
    PK_COMM,
    PK_PMOUNTS,
    PK_MOUNTINFO,
    PK_TASK,
    PK_TID0 = 200,     /* + vCPU index: task/TID */
    PK_TSTAT0 = 300,   /* + vCPU index: task/TID/stat */
    PK_TSTATUS0 = 400, /* + vCPU index: task/TID/status */
    PK_TCOMM0 = 500,   /* + vCPU index: task/TID/comm */
    PK_FD0 = 1000,     /* + fd number */
    PK_OPID = 1 << 24, /* + pid * 8 + OP_*: another process of the instance */
};

/* The files of another process's directory, by OP_* (OP_DIR: the directory itself). */
enum { OP_DIR, OP_STAT, OP_STATUS, OP_CMDLINE, OP_COMM, OP_N };
static const char *const other_files[OP_N] = {NULL, "stat", "status", "cmdline", "comm"};
#define OPID_MAX (1 << 20) /* larger pids are never ours to show */

static bool other_kind(int kind, int *pid, int *sub)
{
    if (kind < PK_OPID || kind >= PK_OPID + OPID_MAX * 8)
        return false;
    *pid = (kind - PK_OPID) / 8;
    *sub = (kind - PK_OPID) % 8;
    return *sub < OP_N;
}

/* Another process of the instance whose entries our kinds can number. */
static bool other_info(int pid, struct uno_procinfo *out)
{
    return pid < OPID_MAX && proc_info_of(pid, out);
}

/* The thread a task/TID file describes while it is generated; NULL: the process. */
static struct cpu *gen_thread;

/* Kind k in [base, base + UNO_MAX_VCPUS): that vCPU's thread, if one runs there. */
static struct cpu *task_of(int k, int base)
{
    if (k < base || k >= base + UNO_MAX_VCPUS)
        return NULL;
    struct cpu *c = cpus[k - base];
    return c && c->state == CPU_RUNNING ? c : NULL;
}

/* ------------------------------------------------------------------ text buffers ------ */

struct tbuf {
    char *p;
    u64 len, cap;
    bool oom;
};

static bool tb_grow(struct tbuf *b, u64 need)
{
    if (b->oom)
        return false;
    u64 cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap *= 2;
    char *p = kmalloc(cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    if (b->p) {
        memcpy(p, b->p, b->len);
        kfree(b->p);
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void tb_put(struct tbuf *b, const void *data, u64 len)
{
    if (b->len + len > b->cap && !tb_grow(b, b->len + len))
        return;
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

static void tb_printf(struct tbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_printf(struct tbuf *b, const char *fmt, ...)
{
    for (;;) {
        if (b->len + 1 > b->cap && !tb_grow(b, b->len + 1))
            return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf_l(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((u64)n < b->cap - b->len) {
            b->len += (u64)n;
            return;
        }
        if (!tb_grow(b, b->len + (u64)n + 1)) /* too long: grow and format again */
            return;
    }
}

/* Pad with spaces up to column `col` of the current line. */
static void tb_pad(struct tbuf *b, u64 col)
{
    u64 start = b->len;
    while (start > 0 && b->p[start - 1] != '\n')
        start--;
    while (b->len - start < col && !b->oom)
        tb_put(b, " ", 1);
}

/* ------------------------------------------------------------------ process facts ----- */

/* The command name: what exec set (proc_set_comm) or PR_SET_NAME gave, at most 15 bytes. */
static void comm_of(char out[16])
{
    memcpy(out, proc.comm, 16);
    out[15] = 0;
}

struct memuse {
    u64 size, data, stack, exe, rss; /* bytes */
};

static void mem_usage(struct memuse *m)
{
    memset(m, 0, sizeof *m);
    for (int i = 0; i < vma_count(); i++) {
        struct vma *v = vma_at(i);
        u64 len = v->end - v->start;
        m->size += len;
        if (v->kind == VMA_STACK)
            m->stack += len;
        else if ((v->prot & PROT_WRITE) && (v->flags & MAP_SHARED) == 0)
            m->data += len;
        if (v->kind == VMA_ELF && (v->prot & PROT_EXEC))
            m->exe += len;
    }
    /* Frames in use belong to the app, apart from the libOS's own few. */
    m->rss = MIN((frame_total() - frame_free_count()) * 4096, m->size);
}

/* Lowest start and highest end of the program's areas with (or without) PROT_EXEC. */
static void elf_range(bool exec, u64 *start, u64 *end)
{
    *start = *end = 0;
    for (int i = 0; i < vma_count(); i++) {
        struct vma *v = vma_at(i);
        if (v->kind != VMA_ELF || ((v->prot & PROT_EXEC) != 0) != exec)
            continue;
        if (!*start || v->start < *start)
            *start = v->start;
        *end = MAX(*end, v->end);
    }
}

/* Signal sets from the handlers: sigactions[i] is signal i + 1, mask bit i. */
static void sig_sets(u64 *ignored, u64 *caught)
{
    *ignored = *caught = 0;
    for (int i = 0; i < NSIG; i++) {
        u64 h = proc.sigactions[i].handler;
        if (h == 1)
            *ignored |= 1ull << i;
        else if (h > 1)
            *caught |= 1ull << i;
    }
}

static u64 pages(u64 bytes) { return bytes / PAGE_SIZE; }

#define ALL_CAPS 0x1fffffffffful /* the capability bits Linux 6 knows */

static u64 uptime_ns(void) { return time_mono_ns() - proc.start_ns; }

static bool have_tty(void)
{
    return (bootinfo->flags & (UNO_BOOT_STDIN_TTY | UNO_BOOT_STDOUT_TTY | UNO_BOOT_STDERR_TTY)) != 0;
}

/* ------------------------------------------------------------------ per-process files - */

static void gen_maps(struct tbuf *b)
{
    for (int i = 0; i < vma_count(); i++) {
        struct vma *v = vma_at(i);
        const char *name = v->name;
        if (!name[0])
            name = v->kind == VMA_STACK ? "[stack]" : v->kind == VMA_HEAP ? "[heap]" : "";
        tb_printf(b, "%08lx-%08lx %c%c%c%c %08lx 00:00 0 ", v->start, v->end,
                  v->prot & PROT_READ ? 'r' : '-', v->prot & PROT_WRITE ? 'w' : '-',
                  v->prot & PROT_EXEC ? 'x' : '-', (v->flags & MAP_SHARED) ? 's' : 'p', v->off);
        if (name[0]) {
            tb_pad(b, 72); /* names start in column 73, as Linux aligns them */
            tb_printf(b, " %s", name);
        }
        tb_put(b, "\n", 1);
    }
}

/* argv or envp: NUL-separated strings still on the app's stack. */
static void gen_user_range(struct tbuf *b, u64 start, u64 end)
{
    if (end <= start || !user_ok((const void *)start, end - start, PROT_READ))
        return;
    platform_user_access_begin();
    tb_put(b, (const void *)start, end - start);
    platform_user_access_end();
}

static void gen_cmdline(struct tbuf *b) { gen_user_range(b, proc.arg_start, proc.arg_end); }
static void gen_environ(struct tbuf *b) { gen_user_range(b, proc.env_start, proc.env_end); }

static void gen_comm(struct tbuf *b)
{
    char comm[16];
    comm_of(comm);
    tb_printf(b, "%s\n", comm);
}

static void gen_pstat(struct tbuf *b)
{
    char comm[16];
    comm_of(comm);
    struct memuse m;
    mem_usage(&m);
    u64 code0, code1, data0, data1, ign, catch;
    elf_range(true, &code0, &code1);
    elf_range(false, &data0, &data1);
    sig_sets(&ign, &catch);
    /* CPU time in USER_HZ (100) ticks: the process's, or the thread's (task/TID/stat). */
    u64 sys = 0, all;
    if (!gen_thread)
        all = cpu_time_ns(false, &sys);
    else if (gen_thread == this_cpu())
        all = cpu_time_ns(true, &sys);
    else
        all = vcpu_time_ns(gen_thread->index); /* all of it counted as user time */
    int tty = have_tty() ? 0x8800 : 0;     /* pts/0 */
    int id = gen_thread ? gen_thread->tid : proc.pid;
    /* Fields 1-13: pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt
     * majflt cmajflt. */
    tb_printf(b, "%d (%s) R %d %d %d %d %d %u 0 0 0 0 ", id, comm, proc.ppid, proc.pgid,
              proc.sid, tty, tty ? proc.pgid : -1, 0x400000u);
    /* 14-25: utime stime cutime cstime priority nice num_threads itrealvalue starttime
     * vsize rss rsslim. */
    tb_printf(b, "%lu %lu %lu %lu 20 0 %d 0 0 %lu %lu %lu ", (u64)((all - sys) / 10000000u),
              (u64)(sys / 10000000u), proc.child_utime_us / 10000, proc.child_stime_us / 10000,
              nthreads, m.size, pages(m.rss), proc.rlimits[5].cur);
    /* 26-38: startcode endcode startstack kstkesp kstkeip signal blocked sigignore sigcatch
     * wchan nswap cnswap exit_signal. */
    tb_printf(b, "%lu %lu %lu 0 0 %lu %lu %lu %lu 0 0 0 17 ", code0, code1, proc.arg_start,
              proc.sigpending & 0xffffffffu, proc.sigmask & 0xffffffffu, ign & 0xffffffffu,
              catch & 0xffffffffu);
    /* 39-52: processor rt_priority policy delayacct_blkio_ticks guest_time cguest_time
     * start_data end_data start_brk arg_start arg_end env_start env_end exit_code. */
    tb_printf(b, "0 0 0 0 0 0 %lu %lu %lu %lu %lu %lu %lu 0\n", data0, data1, mm_brk_start,
              proc.arg_start, proc.arg_end, proc.env_start, proc.env_end);
}

/* Another process's files: from its table entry (gen_other), as much as the table knows. */
static const struct uno_procinfo *gen_other;

static const char *other_state(void)
{
    return gen_other->state == 'T' ? "T (stopped)" : gen_other->state == 'Z' ? "Z (zombie)"
                                                                             : "S (sleeping)";
}

static void gen_other_stat(struct tbuf *b)
{
    const struct uno_procinfo *o = gen_other;
    tb_printf(b, "%d (%s) %c %d %d %d 0 -1 %u 0 0 0 0 ", o->pid, o->name.comm,
              other_state()[0], o->ppid, o->pgid, o->sid, 0x400000u);
    tb_printf(b, "%lu %lu 0 0 20 0 1 0 0 0 0 18446744073709551615 ", (u64)o->utime_us / 10000,
              (u64)o->stime_us / 10000);
    tb_printf(b, "0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
}

static void gen_other_status(struct tbuf *b)
{
    const struct uno_procinfo *o = gen_other;
    tb_printf(b, "Name:\t%s\nState:\t%s\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\n"
                 "TracerPid:\t0\n",
              o->name.comm, other_state(), o->pid, o->pid, o->ppid);
    tb_printf(b, "Uid:\t%u\t%u\t%u\t%u\nGid:\t%u\t%u\t%u\t%u\n", o->name.uid, o->name.uid,
              o->name.uid, o->name.uid, o->name.gid, o->name.gid, o->name.gid, o->name.gid);
    tb_printf(b, "NStgid:\t%d\nNSpid:\t%d\nNSpgid:\t%d\nNSsid:\t%d\nThreads:\t1\n", o->pid,
              o->pid, o->pgid, o->sid);
}

static void gen_other_cmdline(struct tbuf *b)
{
    tb_put(b, gen_other->name.cmdline, gen_other->name.cmdline_len);
}

static void gen_other_comm(struct tbuf *b) { tb_printf(b, "%s\n", gen_other->name.comm); }

static void (*const other_gens[OP_N])(struct tbuf *b) = {
    NULL, gen_other_stat, gen_other_status, gen_other_cmdline, gen_other_comm};

static void gen_statm(struct tbuf *b)
{
    struct memuse m;
    mem_usage(&m);
    tb_printf(b, "%lu %lu 0 %lu 0 %lu 0\n", pages(m.size), pages(m.rss),
              pages(m.exe), pages(m.data + m.stack));
}

static void kb_line(struct tbuf *b, const char *key, u64 bytes)
{
    tb_printf(b, "%s:\t%8lu kB\n", key, bytes / 1024);
}

static void gen_status(struct tbuf *b)
{
    char comm[16];
    comm_of(comm);
    struct memuse m;
    mem_usage(&m);
    u64 ign, catch;
    sig_sets(&ign, &catch);
    u64 caps = proc.euid == 0 ? ALL_CAPS : 0;
    tb_printf(b, "Name:\t%s\nUmask:\t%04o\nState:\tR (running)\nTgid:\t%d\nNgid:\t0\n"
                 "Pid:\t%d\nPPid:\t%d\nTracerPid:\t0\n",
              comm, proc.umask, proc.pid, gen_thread ? gen_thread->tid : proc.pid, proc.ppid);
    tb_printf(b, "Uid:\t%u\t%u\t%u\t%u\nGid:\t%u\t%u\t%u\t%u\nFDSize:\t%d\nGroups:\t",
              proc.uid, proc.euid, proc.suid, proc.fsuid, proc.gid, proc.egid, proc.sgid,
              proc.fsgid, fd_max());
    for (int i = 0; i < proc.ngroups; i++)
        tb_printf(b, "%u ", proc.groups[i]);
    tb_printf(b, "\n");
    tb_printf(b, "NStgid:\t%d\nNSpid:\t%d\nNSpgid:\t%d\nNSsid:\t%d\n", proc.pid, proc.pid,
              proc.pgid, proc.sid);
    kb_line(b, "VmPeak", m.size);
    kb_line(b, "VmSize", m.size);
    kb_line(b, "VmLck", 0);
    kb_line(b, "VmPin", 0);
    kb_line(b, "VmHWM", m.rss);
    kb_line(b, "VmRSS", m.rss);
    kb_line(b, "RssAnon", m.rss);
    kb_line(b, "RssFile", 0);
    kb_line(b, "RssShmem", 0);
    kb_line(b, "VmData", m.data);
    kb_line(b, "VmStk", m.stack);
    kb_line(b, "VmExe", m.exe);
    kb_line(b, "VmLib", 0);
    kb_line(b, "VmPTE", 0);
    kb_line(b, "VmSwap", 0);
    tb_printf(b, "Threads:\t%d\nSigQ:\t0/%lu\nSigPnd:\t%016lx\nShdPnd:\t%016lx\n"
                 "SigBlk:\t%016lx\nSigIgn:\t%016lx\nSigCgt:\t%016lx\n",
              nthreads, proc.rlimits[11].cur, proc.sigpending, proc.sigpending, proc.sigmask,
              ign, catch);
    tb_printf(b, "CapInh:\t%016lx\nCapPrm:\t%016lx\nCapEff:\t%016lx\nCapBnd:\t%016lx\n"
                 "CapAmb:\t%016lx\nNoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n",
              0ul, caps, caps, ALL_CAPS, 0ul);
    u32 n = bootinfo->ncpus ? bootinfo->ncpus : 1;
    tb_printf(b, "Cpus_allowed:\t%lx\nCpus_allowed_list:\t0", n >= 64 ? ~0ul : (1ul << n) - 1);
    if (n > 1)
        tb_printf(b, "-%u", n - 1);
    tb_printf(b, "\nMems_allowed:\t1\nMems_allowed_list:\t0\n"
                 "voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n");
}

/* One overlay root plus the synthetic file systems. Device numbers match st_dev:
 * 0x5500 for the image, 4 for /proc, 5 for /dev, 6 for /sys. */
static void gen_mounts(struct tbuf *b)
{
    tb_printf(b, "overlay / overlay rw,relatime 0 0\n"
                 "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"
                 "devtmpfs /dev devtmpfs rw,nosuid 0 0\n"
                 "sysfs /sys sysfs ro,nosuid,nodev,noexec,relatime 0 0\n");
}

static void gen_mountinfo(struct tbuf *b)
{
    tb_printf(b, "1 0 85:0 / / rw,relatime - overlay overlay rw\n"
                 "2 1 0:4 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"
                 "3 1 0:5 / /dev rw,nosuid - devtmpfs devtmpfs rw\n"
                 "4 1 0:6 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro\n");
}

/* ------------------------------------------------------------------ system files ------ */

static void gen_meminfo(struct tbuf *b)
{
    u64 total = frame_total() * PAGE_SIZE, avail = frame_free_count() * PAGE_SIZE;
    static const char *const zero[] = {
        "Buffers", "Cached", "SwapCached", "Active", "Inactive", "Active(anon)",
        "Inactive(anon)", "Active(file)", "Inactive(file)", "Unevictable", "Mlocked",
        "SwapTotal", "SwapFree", "Dirty", "Writeback", "AnonPages", "Mapped", "Shmem",
        "KReclaimable", "Slab", "SReclaimable", "SUnreclaim", "KernelStack", "PageTables",
        "NFS_Unstable", "Bounce", "WritebackTmp",
    };
    tb_printf(b, "%-16s%8lu kB\n", "MemTotal:", total / 1024);
    tb_printf(b, "%-16s%8lu kB\n", "MemFree:", avail / 1024);
    tb_printf(b, "%-16s%8lu kB\n", "MemAvailable:", avail / 1024);
    for (size_t i = 0; i < ARRAY_LEN(zero); i++) {
        char key[32];
        snprintf_l(key, sizeof key, "%s:", zero[i]);
        tb_printf(b, "%-16s%8lu kB\n", key, 0ul);
    }
    tb_printf(b, "%-16s%8lu kB\n", "CommitLimit:", total / 1024);
    tb_printf(b, "%-16s%8lu kB\n", "Committed_AS:", (total - avail) / 1024);
    tb_printf(b, "%-16s%8lu kB\n", "VmallocTotal:", 34359738367ul);
    tb_printf(b, "HugePages_Total:       0\nHugePages_Free:        0\n"
                 "HugePages_Rsvd:        0\nHugePages_Surp:        0\n");
    tb_printf(b, "%-16s%8lu kB\n", "Hugepagesize:", 2048ul);
}

static void cpuid(u32 leaf, u32 sub, u32 r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

/* Feature names as /proc/cpuinfo spells them, per CPUID register bit (NULL: not shown). */
static const char *const f1_edx[32] = {
    "fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", NULL, "sep",
    "mtrr", "pge", "mca", "cmov", "pat", "pse36", "pn", "clflush", NULL, "dts", "acpi", "mmx",
    "fxsr", "sse", "sse2", "ss", "ht", "tm", "ia64", "pbe"};
static const char *const f1_ecx[32] = {
    "pni", "pclmulqdq", "dtes64", "monitor", "ds_cpl", "vmx", "smx", "est", "tm2", "ssse3",
    "cid", "sdbg", "fma", "cx16", "xtpr", "pdcm", NULL, "pcid", "dca", "sse4_1", "sse4_2",
    "x2apic", "movbe", "popcnt", "tsc_deadline_timer", "aes", "xsave", NULL, "avx", "f16c",
    "rdrand", "hypervisor"};
static const char *const x1_edx[32] = {
    [11] = "syscall", [19] = "mp", [20] = "nx", [22] = "mmxext", [25] = "fxsr_opt",
    [26] = "pdpe1gb", [27] = "rdtscp", [29] = "lm", [30] = "3dnowext", [31] = "3dnow"};
static const char *const x1_ecx[32] = {
    "lahf_lm", "cmp_legacy", "svm", "extapic", "cr8_legacy", "abm", "sse4a", "misalignsse",
    "3dnowprefetch", "osvw", "ibs", "xop", "skinit", "wdt", NULL, "lwp", "fma4", "tce", NULL,
    "nodeid_msr", NULL, "tbm", "topoext", "perfctr_core", "perfctr_nb", NULL, "bpext", "ptsc",
    "perfctr_llc", "mwaitx"};
static const char *const f7_ebx[32] = {
    "fsgsbase", "tsc_adjust", "sgx", "bmi1", "hle", "avx2", NULL, "smep", "bmi2", "erms",
    "invpcid", "rtm", "cqm", NULL, "mpx", "rdt_a", "avx512f", "avx512dq", "rdseed", "adx",
    "smap", "avx512ifma", NULL, "clflushopt", "clwb", "intel_pt", "avx512pf", "avx512er",
    "avx512cd", "sha_ni", "avx512bw", "avx512vl"};
static const char *const fd_eax[32] = {"xsaveopt", "xsavec", "xgetbv1", "xsaves"};
static const char *const f7_ecx[32] = {
    [1] = "avx512vbmi", [2] = "umip", [3] = "pku", [4] = "ospke", [5] = "waitpkg",
    [6] = "avx512_vbmi2", [8] = "gfni", [9] = "vaes", [10] = "vpclmulqdq",
    [11] = "avx512_vnni", [12] = "avx512_bitalg", [13] = "tme", [14] = "avx512_vpopcntdq",
    [16] = "la57", [22] = "rdpid", [24] = "bus_lock_detect", [25] = "cldemote",
    [27] = "movdiri", [28] = "movdir64b", [29] = "enqcmd", [30] = "sgx_lc"};
static const char *const f7_edx[32] = {
    [2] = "avx512_4vnniw", [3] = "avx512_4fmaps", [4] = "fsrm", [8] = "avx512_vp2intersect",
    [10] = "md_clear", [14] = "serialize", [16] = "tsxldtrk", [18] = "pconfig",
    [19] = "arch_lbr", [20] = "ibt", [22] = "amx_bf16", [23] = "avx512_fp16",
    [24] = "amx_tile", [25] = "amx_int8", [28] = "flush_l1d", [29] = "arch_capabilities"};

static void put_flags(struct tbuf *b, const char *const names[32], u32 bits)
{
    for (int i = 0; i < 32; i++)
        if ((bits >> i) & 1 && names[i])
            tb_printf(b, " %s", names[i]);
}

struct cpu_facts {
    char vendor[13], model[49];
    u32 family, modelno, stepping, max_leaf, max_ext, cache_kb, phys_bits, virt_bits;
    u32 sig[4], ext[4], l7[4], ld[4], pm[4];
};

/* Largest cache: Intel's deterministic cache leaf, else AMD's L2 leaf. */
static u32 cache_kb(const struct cpu_facts *c)
{
    u32 r[4], best = 0;
    if (!strcmp(c->vendor, "GenuineIntel") && c->max_leaf >= 4) {
        for (u32 sub = 0; sub < 16; sub++) {
            cpuid(4, sub, r);
            if ((r[0] & 0x1f) == 0)
                break;
            u64 size = (u64)((r[1] >> 22) + 1) * (((r[1] >> 12) & 0x3ff) + 1) *
                       ((r[1] & 0xfff) + 1) * ((u64)r[2] + 1);
            best = MAX(best, (u32)(size / 1024));
        }
    } else if (c->max_ext >= 0x80000006) {
        cpuid(0x80000006, 0, r);
        best = r[2] >> 16;
    }
    return best;
}

static void cpu_facts(struct cpu_facts *c)
{
    u32 r[4];
    memset(c, 0, sizeof *c);
    cpuid(0, 0, r);
    c->max_leaf = r[0];
    memcpy(c->vendor, &r[1], 4);
    memcpy(c->vendor + 4, &r[3], 4);
    memcpy(c->vendor + 8, &r[2], 4);
    cpuid(1, 0, c->sig);
    u32 eax = c->sig[0];
    c->stepping = eax & 0xf;
    c->modelno = (eax >> 4) & 0xf;
    c->family = (eax >> 8) & 0xf;
    if (c->family == 0xf)
        c->family += (eax >> 20) & 0xff;
    if (c->family >= 6)
        c->modelno += ((eax >> 16) & 0xf) << 4;
    if (c->max_leaf >= 7)
        cpuid(7, 0, c->l7);
    if (c->max_leaf >= 0xd)
        cpuid(0xd, 1, c->ld);
    cpuid(0x80000000, 0, r);
    c->max_ext = r[0] >= 0x80000000 && r[0] < 0x8000ffff ? r[0] : 0;
    if (c->max_ext >= 0x80000001)
        cpuid(0x80000001, 0, c->ext);
    if (c->max_ext >= 0x80000007)
        cpuid(0x80000007, 0, c->pm);
    if (c->max_ext >= 0x80000004) {
        for (u32 i = 0; i < 3; i++) {
            cpuid(0x80000002 + i, 0, r);
            memcpy(c->model + 16 * i, r, 16);
        }
    }
    c->phys_bits = 36;
    c->virt_bits = 48;
    if (c->max_ext >= 0x80000008) {
        cpuid(0x80000008, 0, r);
        c->phys_bits = r[0] & 0xff;
        c->virt_bits = (r[0] >> 8) & 0xff;
    }
    c->cache_kb = cache_kb(c);
}

static void gen_cpuinfo(struct tbuf *b)
{
    static struct cpu_facts c;
    cpu_facts(&c);
    const char *model = c.model;
    while (*model == ' ')
        model++;
    u64 khz = bootinfo->tsc_khz;
    u32 n = bootinfo->ncpus ? bootinfo->ncpus : 1;
    for (u32 cpu = 0; cpu < n; cpu++) {
        tb_printf(b, "processor\t: %u\nvendor_id\t: %s\ncpu family\t: %u\nmodel\t\t: %u\n"
                     "model name\t: %s\nstepping\t: %u\nmicrocode\t: 0x1\n",
                  cpu, c.vendor, c.family, c.modelno, model, c.stepping);
        tb_printf(b, "cpu MHz\t\t: %lu.%03lu\ncache size\t: %u KB\nphysical id\t: 0\n"
                     "siblings\t: %u\ncore id\t\t: %u\ncpu cores\t: %u\napicid\t\t: %u\n"
                     "initial apicid\t: %u\nfpu\t\t: yes\nfpu_exception\t: yes\n"
                     "cpuid level\t: %u\nwp\t\t: yes\nflags\t\t:",
                  khz / 1000, khz % 1000, c.cache_kb, n, cpu, n, cpu, cpu, c.max_leaf);
        /* In the order Linux keeps its feature words. */
        put_flags(b, f1_edx, c.sig[3]);
        put_flags(b, x1_edx, c.ext[3]);
        if (c.pm[3] & (1u << 8))
            tb_printf(b, " constant_tsc nonstop_tsc");
        put_flags(b, f1_ecx, c.sig[2]);
        put_flags(b, x1_ecx, c.ext[2]);
        put_flags(b, f7_ebx, c.l7[1]);
        put_flags(b, fd_eax, c.ld[0]);
        put_flags(b, f7_ecx, c.l7[2]);
        put_flags(b, f7_edx, c.l7[3]);
        u64 bogo = khz * 2 / 10; /* in hundredths */
        tb_printf(b, "\nbugs\t\t:\nbogomips\t: %lu.%02lu\nclflush size\t: %u\n"
                     "cache_alignment\t: %u\naddress sizes\t: %u bits physical, %u bits virtual\n"
                     "power management:\n\n",
                  bogo / 100, bogo % 100, ((c.sig[1] >> 8) & 0xff) * 8,
                  ((c.sig[1] >> 8) & 0xff) * 8, c.phys_bits, c.virt_bits);
    }
}

static void gen_uptime(struct tbuf *b)
{
    u64 cs = uptime_ns() / 10000000ull; /* hundredths of a second */
    tb_printf(b, "%lu.%02lu 0.00\n", cs / 100, cs % 100);
}

static void gen_loadavg(struct tbuf *b) { tb_printf(b, "0.00 0.00 0.00 1/1 %d\n", proc.pid); }

static const char *release(void)
{
    return bootinfo->uname_release[0] ? bootinfo->uname_release : "6.1.0";
}

static void gen_version(struct tbuf *b)
{
    tb_printf(b, "Linux version %.32s (uno@uno) (gcc) #1 SMP PREEMPT_DYNAMIC\n", release());
}

/* The app has run on CPU 0 since boot; the others have been idle. */
static void gen_stat(struct tbuf *b)
{
    u64 up = uptime_ns(), ticks = up / 10000000ull;
    u32 n = bootinfo->ncpus ? bootinfo->ncpus : 1;
    tb_printf(b, "cpu  %lu 0 0 %lu 0 0 0 0 0 0\n", ticks, ticks * (n - 1));
    for (u32 i = 0; i < n; i++)
        tb_printf(b, "cpu%u %lu 0 0 %lu 0 0 0 0 0 0\n", i, i ? 0 : ticks, i ? ticks : 0);
    tb_printf(b, "intr 0\nctxt 0\nbtime %lu\nprocesses 1\nprocs_running 1\nprocs_blocked 0\n"
                 "softirq 0 0 0 0 0 0 0 0 0 0 0\n",
              (time_wall_ns() - up) / 1000000000ul);
}

static void gen_filesystems(struct tbuf *b)
{
    tb_printf(b, "nodev\tsysfs\nnodev\tproc\nnodev\tdevtmpfs\nnodev\ttmpfs\nnodev\toverlay\n\terofs\n");
}

static void gen_hostname(struct tbuf *b)
{
    tb_printf(b, "%.64s\n", bootinfo->hostname[0] ? bootinfo->hostname : "localhost");
}

static void gen_osrelease(struct tbuf *b) { tb_printf(b, "%.32s\n", release()); }
static void gen_ostype(struct tbuf *b) { tb_printf(b, "Linux\n"); }
static void gen_pid_max(struct tbuf *b) { tb_printf(b, "4194304\n"); }
static void gen_overcommit(struct tbuf *b) { tb_printf(b, "0\n"); }
static void gen_nr_open(struct tbuf *b) { tb_printf(b, "%d\n", fd_max()); }

/* A random (version 4) UUID. */
static void put_uuid(struct tbuf *b, u8 u[16])
{
    u[6] = (u8)((u[6] & 0x0f) | 0x40);
    u[8] = (u8)((u[8] & 0x3f) | 0x80);
    for (int i = 0; i < 16; i++) {
        tb_printf(b, "%02x", u[i]);
        if (i == 3 || i == 5 || i == 7 || i == 9)
            tb_put(b, "-", 1);
    }
    tb_put(b, "\n", 1);
}

static void gen_uuid(struct tbuf *b)
{
    u8 u[16];
    devfs_random(u, sizeof u);
    put_uuid(b, u);
}

/* The same for the whole boot. */
static void gen_boot_id(struct tbuf *b)
{
    static u8 id[16];
    static bool made;
    if (!made)
        devfs_random(id, sizeof id);
    made = true;
    put_uuid(b, id);
}

/* ------------------------------------------------------------------ the tree ---------- */

typedef void (*gen_fn)(struct tbuf *b);

struct pent {
    const char *name;
    int parent, kind;
    u32 mode;
    gen_fn gen; /* regular files */
};

#define REG (S_IFREG | 0444)
#define DIR (S_IFDIR | 0555)
#define LNK (S_IFLNK | 0777)

static const struct pent pents[] = {
    {"self", PK_ROOT, PK_SELF, LNK, NULL},
    {"mounts", PK_ROOT, PK_MOUNTS_LINK, LNK, NULL},
    {"meminfo", PK_ROOT, PK_MEMINFO, REG, gen_meminfo},
    {"cpuinfo", PK_ROOT, PK_CPUINFO, REG, gen_cpuinfo},
    {"uptime", PK_ROOT, PK_UPTIME, REG, gen_uptime},
    {"loadavg", PK_ROOT, PK_LOADAVG, REG, gen_loadavg},
    {"version", PK_ROOT, PK_VERSION, REG, gen_version},
    {"stat", PK_ROOT, PK_STAT, REG, gen_stat},
    {"filesystems", PK_ROOT, PK_FILESYSTEMS, REG, gen_filesystems},
    {"sys", PK_ROOT, PK_SYS, DIR, NULL},
    {"kernel", PK_SYS, PK_SYS_KERNEL, DIR, NULL},
    {"vm", PK_SYS, PK_SYS_VM, DIR, NULL},
    {"fs", PK_SYS, PK_SYS_FS, DIR, NULL},
    {"hostname", PK_SYS_KERNEL, PK_HOSTNAME, REG, gen_hostname},
    {"osrelease", PK_SYS_KERNEL, PK_OSRELEASE, REG, gen_osrelease},
    {"ostype", PK_SYS_KERNEL, PK_OSTYPE, REG, gen_ostype},
    {"pid_max", PK_SYS_KERNEL, PK_PID_MAX, REG, gen_pid_max},
    {"random", PK_SYS_KERNEL, PK_SYS_RANDOM, DIR, NULL},
    {"uuid", PK_SYS_RANDOM, PK_UUID, REG, gen_uuid},
    {"boot_id", PK_SYS_RANDOM, PK_BOOT_ID, REG, gen_boot_id},
    {"overcommit_memory", PK_SYS_VM, PK_OVERCOMMIT, REG, gen_overcommit},
    {"nr_open", PK_SYS_FS, PK_NR_OPEN, REG, gen_nr_open},
    {"exe", PK_PID, PK_EXE, LNK, NULL},
    {"cwd", PK_PID, PK_CWD, LNK, NULL},
    {"root", PK_PID, PK_ROOTLINK, LNK, NULL},
    {"fd", PK_PID, PK_FD, S_IFDIR | 0500, NULL},
    {"maps", PK_PID, PK_MAPS, REG, gen_maps},
    {"cmdline", PK_PID, PK_CMDLINE, REG, gen_cmdline},
    {"environ", PK_PID, PK_ENVIRON, S_IFREG | 0400, gen_environ},
    {"stat", PK_PID, PK_PSTAT, REG, gen_pstat},
    {"statm", PK_PID, PK_STATM, REG, gen_statm},
    {"status", PK_PID, PK_STATUS, REG, gen_status},
    {"comm", PK_PID, PK_COMM, REG, gen_comm},
    {"mounts", PK_PID, PK_PMOUNTS, REG, gen_mounts},
    {"mountinfo", PK_PID, PK_MOUNTINFO, REG, gen_mountinfo},
    {"task", PK_PID, PK_TASK, DIR, NULL},
};

/* The files of a task/TID directory: name, kind base, generator. */
static const struct {
    const char *name;
    int base;
    gen_fn gen;
} task_files[] = {
    {"stat", PK_TSTAT0, gen_pstat},
    {"status", PK_TSTATUS0, gen_status},
    {"comm", PK_TCOMM0, gen_comm},
};

static const struct pent *by_kind(int kind)
{
    for (size_t i = 0; i < ARRAY_LEN(pents); i++)
        if (pents[i].kind == kind)
            return &pents[i];
    return NULL;
}

/* A decimal name without leading zeros, as /proc spells numbers; -1 if not one. */
static int parse_num(const char *s, size_t len)
{
    if (len == 0 || len > 9 || (s[0] == '0' && len > 1))
        return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Find `name` in directory `dir`: its kind and mode, or false. */
static bool child(int dir, const char *name, size_t len, int *kind, u32 *mode)
{
    for (size_t i = 0; i < ARRAY_LEN(pents); i++) {
        const struct pent *p = &pents[i];
        if (p->parent == dir && strlen(p->name) == len && !memcmp(p->name, name, len)) {
            *kind = p->kind;
            *mode = p->mode;
            return true;
        }
    }
    int v = parse_num(name, len);
    if (dir == PK_ROOT && v >= 0 && v == proc.pid) {
        *kind = PK_PID;
        *mode = DIR;
        return true;
    }
    struct uno_procinfo info;
    if (dir == PK_ROOT && other_info(v, &info)) {
        *kind = PK_OPID + v * 8 + OP_DIR;
        *mode = DIR;
        return true;
    }
    int opid, sub;
    if (other_kind(dir, &opid, &sub) && sub == OP_DIR) {
        for (int i = OP_DIR + 1; i < OP_N; i++) {
            if (strlen(other_files[i]) == len && !memcmp(other_files[i], name, len)) {
                *kind = dir + i;
                *mode = REG;
                return true;
            }
        }
    }
    struct cpu *t = dir == PK_TASK && v > 0 ? thread_find(v) : NULL;
    if (t) {
        *kind = PK_TID0 + t->index;
        *mode = DIR;
        return true;
    }
    if (task_of(dir, PK_TID0)) {
        for (size_t i = 0; i < ARRAY_LEN(task_files); i++) {
            if (strlen(task_files[i].name) == len && !memcmp(task_files[i].name, name, len)) {
                *kind = task_files[i].base + (dir - PK_TID0);
                *mode = REG;
                return true;
            }
        }
    }
    if (dir == PK_FD && v >= 0 && v < fd_max() && fd_get(v)) {
        *kind = PK_FD0 + v;
        *mode = S_IFLNK | 0700;
        return true;
    }
    return false;
}

int procfs_lookup(const char *rel, struct node *n)
{
    int kind = PK_ROOT;
    u32 mode = DIR;
    const char *p = rel, *name;
    size_t len;
    while ((name = path_next(&p, &len))) {
        if (!S_ISDIR(mode) || !child(kind, name, len, &kind, &mode))
            return -ENOENT;
    }
    n->mode = mode;
    n->special_kind = kind;
    return 0;
}

struct file *procfs_fd_file(const struct node *n)
{
    if (n->special != SP_PROC || n->special_kind < PK_FD0 || n->special_kind >= PK_FD0 + fd_max())
        return NULL;
    return fd_get(n->special_kind - PK_FD0);
}

int procfs_readlink(const struct node *n, char *buf, u64 size)
{
    char num[16];
    const char *t;
    switch (n->special_kind) {
    case PK_SELF:
        snprintf_l(num, sizeof num, "%d", proc.pid);
        t = num;
        break;
    case PK_MOUNTS_LINK: t = "self/mounts"; break;
    case PK_EXE: t = proc.exe; break;
    case PK_CWD: t = cwd_path; break;
    case PK_ROOTLINK: t = "/"; break;
    default: {
        if (n->special_kind < PK_FD0)
            return -EINVAL;
        struct file *f = procfs_fd_file(n);
        if (!f)
            return -ENOENT; /* closed since the lookup */
        t = f->path;
    }
    }
    u64 len = MIN((u64)strlen(t), size);
    memcpy(buf, t, len);
    return (int)len;
}

/* ------------------------------------------------------------------ open files -------- */

static void synth_stat(struct linux_stat *st, int kind, u32 mode)
{
    memset(st, 0, sizeof *st);
    st->st_dev = 4;
    st->st_ino = (u64)(kind + 2); /* as vfs_stat numbers our nodes */
    st->st_mode = mode;
    st->st_nlink = S_ISDIR(mode) ? 2 : 1;
    st->st_blksize = 4096;
    u64 now = time_wall_ns();
    st->st_atime_sec = st->st_mtime_sec = st->st_ctime_sec = (i64)(now / 1000000000ull);
    st->st_atime_nsec = st->st_mtime_nsec = st->st_ctime_nsec = (i64)(now % 1000000000ull);
}

static int proc_stat(struct file *f, struct linux_stat *st)
{
    synth_stat(st, f->kind, f->mode);
    return 0; /* size 0, as Linux shows for generated files */
}

static i64 text_write(struct file *f, const void *buf, u64 len, i64 off)
{
    (void)f, (void)buf, (void)len, (void)off;
    return -EACCES;
}

static const struct file_ops text_ops = {
    .read = text_read,
    .write = text_write,
    .stat = proc_stat,
    .lseek = text_lseek,
    .release = text_release,
};

/* A directory entry in listing order: dir_pos 0 is ".", 1 "..", 2 + i is pents[i], and
 * past the table come our pid and the instance's others (in /proc: listed_pids, fetched
 * for each getdents) or the descriptors (in fd). */
static i32 *listed_pids;
static u64 listed_n;
struct listed {
    char name[16];
    const char *namep;
    u64 ino;
    u8 type;
};

static u8 dtype(u32 mode)
{
    return S_ISDIR(mode) ? DT_DIR : S_ISLNK(mode) ? DT_LNK : DT_REG;
}

/* 1: *e is the entry at pos; 0: nothing at pos (skip it); -1: past the end. */
static int dir_entry(int dir, u64 pos, struct listed *e)
{
    u64 base = 2 + ARRAY_LEN(pents);
    e->namep = e->name;
    e->type = DT_DIR;
    if (pos < 2) {
        const struct pent *p = by_kind(dir);
        e->namep = pos == 0 ? "." : "..";
        e->ino = (u64)(pos == 0 ? dir : dir == PK_PID ? PK_ROOT : p ? p->parent : 1) + 2;
        return 1;
    }
    if (pos < base) {
        const struct pent *p = &pents[pos - 2];
        if (p->parent != dir)
            return 0;
        e->namep = p->name;
        e->ino = (u64)p->kind + 2;
        e->type = dtype(p->mode);
        return 1;
    }
    if (dir == PK_ROOT) { /* the pids, ascending (only ours when the table cannot say) */
        u64 i = pos - base;
        if (i >= (listed_n ? listed_n : 1))
            return -1;
        int pid = listed_n ? listed_pids[i] : proc.pid;
        if (pid <= 0 || pid >= OPID_MAX)
            return 0;
        snprintf_l(e->name, sizeof e->name, "%d", pid);
        e->ino = (u64)(pid == proc.pid ? PK_PID : PK_OPID + pid * 8) + 2;
        return 1;
    }
    int opid, sub;
    if (other_kind(dir, &opid, &sub) && sub == OP_DIR && pos - base < OP_N - 1) {
        e->namep = other_files[pos - base + 1];
        e->ino = (u64)dir + (pos - base + 1) + 2;
        e->type = DT_REG;
        return 1;
    }
    if (dir == PK_TASK && pos - base < UNO_MAX_VCPUS) {
        struct cpu *c = task_of(PK_TID0 + (int)(pos - base), PK_TID0);
        if (!c)
            return 0;
        snprintf_l(e->name, sizeof e->name, "%d", c->tid);
        e->ino = (u64)(PK_TID0 + c->index) + 2;
        return 1;
    }
    if (task_of(dir, PK_TID0) && pos - base < ARRAY_LEN(task_files)) {
        e->namep = task_files[pos - base].name;
        e->ino = (u64)(task_files[pos - base].base + (dir - PK_TID0)) + 2;
        e->type = DT_REG;
        return 1;
    }
    if (dir == PK_FD && pos - base < (u64)fd_max()) {
        int fd = (int)(pos - base);
        if (!fd_get(fd))
            return 0;
        snprintf_l(e->name, sizeof e->name, "%d", fd);
        e->ino = (u64)(PK_FD0 + fd) + 2;
        e->type = DT_LNK;
        return 1;
    }
    return -1;
}

/* The instance's pids, ascending, for listing /proc (none when the table cannot say). */
static void list_pids(void)
{
    listed_n = 0;
    if (!listed_pids && !(listed_pids = kmalloc(UNO_RING_SLOT)))
        return;
    struct ring_op op = {.op = UNO_OP_PROC, .arg = {UNO_PROC_LIST}, .out = listed_pids,
                         .out_len = UNO_RING_SLOT, .out_fixed = true};
    i64 n = ring_call(&op);
    listed_n = n > 0 ? MIN((u64)n, (u64)(UNO_RING_SLOT / sizeof(i32))) : 0;
}

static int dir_getdents(struct file *f, struct dirent_sink *sink)
{
    u64 start = sink->used;
    if (f->kind == PK_ROOT)
        list_pids();
    for (;; f->dir_pos++) {
        struct listed e;
        int r = dir_entry(f->kind, f->dir_pos, &e);
        if (r < 0)
            return 0;
        if (r == 0)
            continue;
        if (!dirent_emit(sink, e.ino, e.type, e.namep, strlen(e.namep)))
            return sink->used == start ? -EINVAL : 0; /* not even one entry fits */
    }
}

static const struct file_ops dir_ops = {
    .read = file_read_isdir,
    .write = text_write,
    .stat = proc_stat,
    .lseek = file_dir_index_lseek,
    .getdents = dir_getdents,
};

int procfs_open(const struct node *n, int flags, struct file **out)
{
    if (S_ISDIR(n->mode))
        return special_open(&dir_ops, n, flags, out);
    if (S_ISLNK(n->mode))
        return -ELOOP;
    const struct pent *p = by_kind(n->special_kind);
    gen_fn gen = p ? p->gen : NULL;
    struct cpu *t = NULL;
    struct uno_procinfo info;
    int opid, sub;
    if (other_kind(n->special_kind, &opid, &sub)) {
        if (!other_info(opid, &info))
            return -ENOENT; /* gone since the lookup */
        gen = other_gens[sub];
    }
    for (size_t i = 0; i < ARRAY_LEN(task_files) && !gen; i++) {
        t = task_of(n->special_kind, task_files[i].base);
        if (t)
            gen = task_files[i].gen;
    }
    if (!gen)
        return -ENOENT;
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
        return -EACCES;
    struct tbuf b = {0};
    if (!tb_grow(&b, 4096))
        return -ENOMEM;
    gen_thread = t;
    gen_other = &info;
    gen(&b);
    gen_thread = NULL;
    gen_other = NULL;
    if (b.oom) {
        kfree(b.p);
        return -ENOMEM;
    }
    int r = special_open(&text_ops, n, flags, out);
    if (r) {
        kfree(b.p);
        return r;
    }
    (*out)->priv = b.p;
    (*out)->priv_len = b.len;
    return 0;
}
