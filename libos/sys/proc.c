/* System calls about the process itself: identity, limits, exit, uname, randomness. */
#include "syscalls.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "proc/proc.h"
#include "proc/thread.h"
#include "fs/devfs.h"

#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define ARCH_GET_GS 0x1004
#define ARCH_GET_CPUID 0x1011
#define ARCH_SET_CPUID 0x1012
#define GRND_NONBLOCK 1
#define GRND_RANDOM 2
#define GRND_INSECURE 4

NORETURN static void exit_all(int status)
{
    shared_exit();
    syscall_report_enosys();
    libos_exit(status & 0xff);
}

/* The process table is the VMMs' (vmm/proc.c). */
static i64 proc_call(u64 what, u64 a1, u64 a2)
{
    struct ring_op op = {.op = UNO_OP_PROC, .arg = {what, a1, a2}};
    return ring_call(&op);
}

i64 sys_exit(u64 status)
{
    /* One thread ends; the last one leaving ends the process (with its status). */
    if (nthreads > 1)
        thread_exit((int)status);
    exit_all((int)status);
}

i64 sys_exit_group(u64 status) { exit_all((int)status); }

i64 sys_getpid(void) { return proc.pid; }
i64 sys_getppid(void) { return proc_call(UNO_PROC_GETPPID, 0, 0); }
i64 sys_getuid(void) { return proc.uid; }
i64 sys_geteuid(void) { return proc.euid; }
i64 sys_getgid(void) { return proc.gid; }
i64 sys_getegid(void) { return proc.egid; }
i64 sys_getpgrp(void) { return proc_call(UNO_PROC_GETPGID, 0, 0); }
i64 sys_getpgid(u64 pid) { return (int)pid < 0 ? -ESRCH : proc_call(UNO_PROC_GETPGID, pid, 0); }
i64 sys_getsid(u64 pid) { return (int)pid < 0 ? -ESRCH : proc_call(UNO_PROC_GETSID, pid, 0); }
i64 sys_setpgid(u64 upid, u64 upgid)
{
    int pid = (int)upid, pgid = (int)upgid;
    if (!pgid)
        pgid = pid; /* 0 and 0: the caller's own pid, which the VMM fills in */
    if (pgid < 0)
        return -EINVAL;
    if (pid < 0)
        return -ESRCH;
    return proc_call(UNO_PROC_SETPGID, (u64)pid, (u64)pgid);
}
i64 sys_setsid(void) { return proc_call(UNO_PROC_SETSID, 0, 0); }

i64 sys_set_robust_list(u64 head, u64 len)
{
    if (len != 24)
        return -EINVAL;
    proc.robust_list = head;
    proc.robust_len = len;
    return 0;
}

i64 sys_prlimit64(u64 pid, u64 res, u64 new, u64 old)
{
    if (pid && (int)pid != proc.pid)
        return -ESRCH;
    if (res >= RLIMIT_NLIMITS)
        return -EINVAL;
    struct rlimit64 *rl = &proc.rlimits[res];
    if (old) {
        if (!user_ok((void *)old, sizeof *rl, PROT_WRITE))
            return -EFAULT;
    }
    struct rlimit64 n;
    if (new) {
        if (copy_from_user(&n, (void *)new, sizeof n))
            return -EFAULT;
        if (n.cur > n.max)
            return -EINVAL;
    }
    if (old && copy_to_user((void *)old, rl, sizeof *rl))
        return -EFAULT;
    if (new) {
        /* Limits are recorded and reported back; the ones uno enforces are RLIMIT_NOFILE
         * (descriptor table size) and RLIMIT_STACK (at exec). */
        *rl = n;
    }
    return 0;
}

i64 sys_getrlimit(u64 res, u64 old) { return sys_prlimit64(0, res, 0, old); }
i64 sys_setrlimit(u64 res, u64 new) { return sys_prlimit64(0, res, new, 0); }

static bool app_gs_set; /* the app has its own GS base (ARCH_SET_GS); until exec */

void arch_prctl_exec_reset(void) { app_gs_set = false; }

i64 sys_arch_prctl(u64 code, u64 addr)
{
    switch (code) {
    case ARCH_SET_FS:
        if (addr >= USER_TOP)
            return -EPERM;
        platform_set_fs(addr);
        return 0;
    case ARCH_GET_FS: {
        u64 base = platform_get_fs();
        return copy_to_user((void *)addr, &base, 8);
    }
    case ARCH_SET_GS:
        if (addr >= USER_TOP)
            return -EPERM;
        if (!app_gs_set) {
            app_gs_set = true;
            rewrite_app_takes_gs(); /* GS was rewritten sites' way into the libOS */
        }
        platform_set_gs(addr);
        return 0;
    case ARCH_GET_GS: {
        /* Until the app sets GS, it is the libOS's (syscall-site rewriting): 0, as Linux. */
        u64 base = app_gs_set ? platform_get_gs() : 0;
        return copy_to_user((void *)addr, &base, 8);
    }
    default:
        return -EINVAL;
    }
}

struct utsname {
    char sysname[65], nodename[65], release[65], version[65], machine[65], domainname[65];
};

static void copy_field(char *dst, const char *src)
{
    size_t n = strnlen(src, 64);
    memcpy(dst, src, n);
    dst[n] = 0;
}

i64 sys_uname(u64 buf)
{
    if (!user_ok((void *)buf, sizeof(struct utsname), PROT_WRITE))
        return -EFAULT;
    struct utsname ku, *u = &ku;
    memset(u, 0, sizeof *u);
    copy_field(u->sysname, "Linux");
    copy_field(u->nodename, bootinfo->hostname);
    copy_field(u->release, bootinfo->uname_release);
    copy_field(u->version, "#1 SMP uno");
    copy_field(u->machine, "x86_64");
    copy_field(u->domainname, "(none)");
    return copy_to_user((void *)buf, u, sizeof *u);
}

struct sysinfo {
    i64 uptime;
    u64 loads[3];
    u64 totalram, freeram, sharedram, bufferram, totalswap, freeswap;
    u16 procs, pad;
    u64 totalhigh, freehigh;
    u32 mem_unit;
    char _f[4];
};

i64 sys_sysinfo(u64 buf)
{
    if (!user_ok((void *)buf, sizeof(struct sysinfo), PROT_WRITE))
        return -EFAULT;
    struct sysinfo ks, *s = &ks;
    memset(s, 0, sizeof *s);
    s->uptime = (i64)((time_mono_ns() - proc.start_ns) / 1000000000ull);
    s->totalram = frame_total() * PAGE_SIZE;
    s->freeram = frame_free_count() * PAGE_SIZE;
    s->procs = 1;
    s->mem_unit = 1;
    return copy_to_user((void *)buf, s, sizeof *s);
}

/* With threads, give the host CPU to another (a deadline already past: the VMM yields). */
i64 sys_sched_yield(void)
{
    if (nthreads > 1)
        thread_block(1, 1, false);
    return 0;
}

i64 sys_getrandom(u64 buf, u64 len, u64 flags)
{
    if (flags & ~(u64)(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE))
        return -EINVAL;
    if (len > 33554431)
        len = 33554431;
    if (!user_ok((void *)buf, len, PROT_WRITE))
        return -EFAULT;
    /* The same ChaCha20 stream as /dev/urandom, straight into the checked buffer. */
    platform_user_access_begin();
    devfs_random((void *)buf, len);
    platform_user_access_end();
    return (i64)len;
}

struct rusage {
    i64 utime_sec, utime_usec, stime_sec, stime_usec;
    i64 rest[14];
};

i64 sys_getrusage(u64 who, u64 usage)
{
    int w = (int)who;
    if (w != 0 && w != -1 && w != 1)
        return -EINVAL;
    if (!user_ok((void *)usage, sizeof(struct rusage), PROT_WRITE))
        return -EFAULT;
    struct rusage kr, *r = &kr;
    memset(r, 0, sizeof *r);
    if (w == -1) {
        /* RUSAGE_CHILDREN: what the children this process waited for used. */
        r->utime_sec = (i64)(proc.child_utime_us / 1000000);
        r->utime_usec = (i64)(proc.child_utime_us % 1000000);
        r->stime_sec = (i64)(proc.child_stime_us / 1000000);
        r->stime_usec = (i64)(proc.child_stime_us % 1000000);
        r->rest[0] = (i64)proc.child_maxrss_kb;
    } else {
        /* The host's count for the process (or, RUSAGE_THREAD, this thread): the libOS runs
         * in the vCPU thread with the app, so its work is user time; the host kernel's
         * (exits, host calls) is system time. */
        u64 sys, all = cpu_time_ns(w == 1, &sys);
        u64 us = (all - sys) / 1000, sus = sys / 1000;
        r->utime_sec = (i64)(us / 1000000);
        r->utime_usec = (i64)(us % 1000000);
        r->stime_sec = (i64)(sus / 1000000);
        r->stime_usec = (i64)(sus % 1000000);
        r->rest[0] = (i64)((frame_total() - frame_free_count()) * 4); /* maxrss in KiB */
    }
    return copy_to_user((void *)usage, r, sizeof *r);
}

i64 sys_times(u64 buf)
{
    if (buf) {
        u64 sys, all = cpu_time_ns(false, &sys);
        u64 t[4] = {(all - sys) / 10000000ull, sys / 10000000ull, proc.child_utime_us / 10000,
                    proc.child_stime_us / 10000};
        if (copy_to_user((void *)buf, t, sizeof t))
            return -EFAULT;
    }
    return (i64)(time_mono_ns() / 10000000ull);
}
