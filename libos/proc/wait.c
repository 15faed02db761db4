/* wait4 and waitid: the instance's process table is the VMMs' (vmm/proc.c); one ring
 * operation asks for a child's news and, unless WNOHANG, sleeps in the host until there
 * is some or a signal arrives. */
#include "proc.h"
#include "signal.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "sys/syscalls.h"

#define WNOHANG 1
#define WUNTRACED 2
#define WSTOPPED 2
#define WEXITED 4
#define WCONTINUED 8
#define WNOWAIT 0x1000000
#define __WNOTHREAD 0x20000000
#define __WALL 0x40000000
#define __WCLONE 0x80000000u
#define P_ALL 0
#define P_PID 1
#define P_PGID 2

struct k_rusage {
    i64 utime_sec, utime_usec, stime_sec, stime_usec;
    i64 maxrss, ixrss, idrss, isrss, minflt, majflt, nswap, inblock, oublock, msgsnd, msgrcv,
        nsignals, nvcsw, nivcsw;
};

static i64 wait_host(int idtype, int id, int opts, struct uno_waitinfo *wi)
{
    struct ring_op op = {.op = UNO_OP_PROC, .arg = {UNO_PROC_WAIT, (u64)idtype, (u64)id,
                                                    (u64)opts},
                         .in = wi, .in_len = sizeof *wi, .out = wi, .out_len = sizeof *wi,
                         .blocking = !(opts & WNOHANG), .out_fixed = true};
    memset(wi, 0, sizeof *wi);
    i64 r = ring_call(&op);
    if (r > 0 && wi->code != 5 && wi->code != 6 && !(opts & WNOWAIT)) {
        /* Reaped: its usage now counts as our children's (RUSAGE_CHILDREN, times). */
        proc.child_utime_us += (u64)wi->utime_us;
        proc.child_stime_us += (u64)wi->stime_us;
        if ((u64)wi->maxrss_kb > proc.child_maxrss_kb)
            proc.child_maxrss_kb = (u64)wi->maxrss_kb;
    }
    return r;
}

static int put_rusage(u64 uaddr, const struct uno_waitinfo *wi)
{
    if (!uaddr)
        return 0;
    struct k_rusage ru;
    memset(&ru, 0, sizeof ru);
    ru.utime_sec = wi->utime_us / 1000000;
    ru.utime_usec = wi->utime_us % 1000000;
    ru.stime_sec = wi->stime_us / 1000000;
    ru.stime_usec = wi->stime_us % 1000000;
    ru.maxrss = wi->maxrss_kb;
    return copy_to_user((void *)uaddr, &ru, sizeof ru) ? -EFAULT : 0;
}

i64 sys_wait4(u64 upid, u64 wstatus, u64 uoptions, u64 rusage)
{
    int pid = (int)upid;
    u64 options = (u32)uoptions;
    if (options & ~(u64)(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WALL | __WCLONE))
        return -EINVAL;
    int idtype = pid < -1 ? P_PGID : pid == -1 ? P_ALL : pid == 0 ? P_PGID : P_PID;
    int id = pid < -1 ? -pid : pid == 0 ? 0 : pid;
    if (pid == (int)0x80000000)
        return -ESRCH;
    int opts = WEXITED | (int)(options & (WNOHANG | WUNTRACED | WCONTINUED | __WALL | __WCLONE));
    struct uno_waitinfo wi;
    i64 r = wait_host(idtype, id, opts, &wi);
    if (r <= 0)
        return r;
    if (wstatus && copy_to_user((void *)wstatus, &wi.status, sizeof(int)))
        return -EFAULT;
    if (put_rusage(rusage, &wi))
        return -EFAULT;
    return r;
}

i64 sys_waitid(u64 idtype, u64 id, u64 infop, u64 uoptions, u64 rusage)
{
    u64 options = (u32)uoptions;
    if (options & ~(u64)(WNOHANG | WSTOPPED | WEXITED | WCONTINUED | WNOWAIT | __WNOTHREAD |
                         __WALL | __WCLONE))
        return -EINVAL;
    if (!(options & (WEXITED | WSTOPPED | WCONTINUED)))
        return -EINVAL;
    if (idtype > P_PGID)
        return idtype == 3 /* P_PIDFD */ ? -ENOSYS : -EINVAL;
    if (idtype == P_PID && (int)id <= 0)
        return -EINVAL;
    if (idtype == P_PGID && (int)id < 0)
        return -EINVAL;
    struct uno_waitinfo wi;
    i64 r = wait_host((int)idtype, (int)id,
                      (int)(options & (WNOHANG | WSTOPPED | WEXITED | WCONTINUED | WNOWAIT |
                                       __WALL | __WCLONE)), &wi);
    if (r < 0)
        return r;
    if (infop) {
        struct k_siginfo si;
        memset(&si, 0, sizeof si);
        if (r > 0) {
            si.si_signo = SIGCHLD;
            si.si_code = wi.code;
            si.kill.pid = wi.pid;
            si.kill.uid = (u32)wi.uid;
            si.kill.status = wi.sig;
        }
        if (copy_to_user((void *)infop, &si, sizeof si))
            return -EFAULT;
    }
    if (r > 0 && put_rusage(rusage, &wi))
        return -EFAULT;
    return 0;
}
