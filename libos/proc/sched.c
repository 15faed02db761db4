/* The CPUs a process sees: `uno run --cpus N` gives the VM N CPUs (host CPUs its vCPU
 * threads may run on); a thread's affinity picks among them for real (the VMM sets the host
 * affinity of its vCPU's thread). membarrier: every other thread of the process passes a
 * full barrier, which the VMM forces by kicking their vCPUs out of the guest once. */
#include "thread.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "sys/syscalls.h"

#define MEMBARRIER_CMD_QUERY 0
#define MEMBARRIER_CMD_PRIVATE_EXPEDITED 8
#define MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED 16
#define MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE 32
#define MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE 64

static u64 all_cpus(void)
{
    u32 n = bootinfo->ncpus ? bootinfo->ncpus : 1;
    return n >= 64 ? ~0ull : (1ull << n) - 1;
}

static u64 affinity[UNO_MAX_VCPUS]; /* per vCPU; 0: all CPUs */

static struct cpu *thread_of(u64 pid)
{
    if (pid == 0)
        return this_cpu();
    return thread_find((int)pid);
}

u64 sched_affinity(void) { return affinity[this_cpu()->index]; }

i64 sys_sched_getaffinity(u64 pid, u64 len, u64 mask)
{
    if (len < 8 || (len & 7))
        return -EINVAL;
    struct cpu *t = thread_of(pid);
    u64 m;
    if (t) {
        m = affinity[t->index];
    } else {
        /* Another process of the instance: what it published (proc_publish). */
        struct uno_procinfo info;
        if (!proc_info_of((int)pid, &info))
            return -ESRCH;
        m = info.name.affinity & all_cpus();
    }
    m = m ? m : all_cpus();
    return copy_to_user((void *)mask, &m, 8) ? -EFAULT : 8;
}

i64 sys_sched_setaffinity(u64 pid, u64 len, u64 mask)
{
    u64 m = 0;
    if (copy_from_user(&m, (const void *)mask, MIN(len, 8ull)))
        return -EFAULT;
    m &= all_cpus();
    if (!m)
        return -EINVAL;
    struct cpu *t = thread_of(pid);
    if (!t)
        return -ESRCH;
    struct uno_hcall *hc = platform_hcall_block();
    hc->arg[0] = (u64)t->index;
    hc->arg[1] = m;
    platform_hypercall(UNO_HC_AFFINITY);
    if (hc->ret < 0)
        return hc->ret;
    affinity[t->index] = m == all_cpus() ? 0 : m;
    if (t == this_cpu())
        proc_publish();
    return 0;
}

/* The CPU a thread runs on: the one its affinity names, else its vCPU's place among the
 * VM's CPUs (the host may move it among them: getcpu is a hint on Linux too). */
i64 sys_getcpu(u64 cpu, u64 node, u64 cache)
{
    (void)cache;
    struct cpu *c = this_cpu();
    u32 n = bootinfo->ncpus ? bootinfo->ncpus : 1;
    u64 m = affinity[c->index];
    u32 id = m ? (u32)__builtin_ctzll(m) : (u32)c->index % n, zero = 0;
    if (cpu && copy_to_user((void *)cpu, &id, 4))
        return -EFAULT;
    if (node && copy_to_user((void *)node, &zero, 4))
        return -EFAULT;
    return 0;
}

/* Nice values: per thread, as on Linux, and real: each is its vCPU thread's host nice, set
 * by the VMM. A container's rule (no CAP_SYS_NICE), whoever asks: a thread may be made
 * nicer, never less nice than it is (EACCES). Other processes' and PRIO_PGRP/PRIO_USER
 * are not offered (docs/architecture.md). */
#define PRIO_PROCESS 0
#define PRIO_USER 2
static int nice_of[UNO_MAX_VCPUS];   /* the thread's nice */
static int host_nice[UNO_MAX_VCPUS]; /* what its vCPU thread has on the host */

static i64 set_host_nice(int index, int nice)
{
    struct uno_hcall *hc = platform_hcall_block();
    hc->arg[0] = (u64)index;
    hc->arg[1] = (u64)(i64)nice;
    platform_hypercall(UNO_HC_NICE);
    if (hc->ret == 0)
        host_nice[index] = nice;
    return hc->ret;
}

/* The thread PRIO_PROCESS's `who` names: 0 is the caller, the pid the main thread. */
static i64 prio_target(u64 which, u64 who, struct cpu **t)
{
    if (which > PRIO_USER)
        return -EINVAL;
    if (which != PRIO_PROCESS)
        return -EINVAL; /* groups and users: not offered */
    if ((i64)(int)who < 0)
        return -ESRCH;
    *t = who == 0 ? this_cpu() : thread_find((int)who);
    if (!*t && (int)who == proc.pid)
        *t = this_cpu(); /* the main thread has exited: Linux still answers for the group */
    if (*t)
        return 0;
    /* Another process of the instance exists but is not ours to change; else none. */
    struct ring_op op = {.op = UNO_OP_PROC, .arg = {UNO_PROC_GETPGID, who, 0}};
    return ring_call(&op) < 0 ? -ESRCH : -EPERM;
}

i64 sys_getpriority(u64 which, u64 who)
{
    struct cpu *t;
    i64 r = prio_target(which, who, &t);
    return r ? r : 20 - nice_of[t->index]; /* the system call's form: 40..1 */
}

i64 sys_setpriority(u64 which, u64 who, u64 prio)
{
    struct cpu *t;
    i64 r = prio_target(which, who, &t);
    if (r)
        return r;
    int nice = (int)MAX(-20, MIN(19, (i64)(int)prio));
    if (nice < nice_of[t->index])
        return -EACCES;
    if (nice != host_nice[t->index] && (r = set_host_nice(t->index, nice)))
        return r;
    nice_of[t->index] = nice;
    return 0;
}

/* The first thread: the nice uno-vmm was started with. */
void sched_init(void)
{
    nice_of[0] = host_nice[0] = bootinfo->nice;
}

/* A new thread has its creator's nice (clone copies it); a reused vCPU's host thread may
 * still have its last thread's. */
void sched_thread_start(const struct cpu *parent, const struct cpu *child)
{
    int want = nice_of[parent->index];
    nice_of[child->index] = want;
    if (host_nice[child->index] != want)
        set_host_nice(child->index, want);
}

void sched_fork_child(void)
{
    u64 mine = affinity[this_cpu()->index];
    memset(affinity, 0, sizeof affinity);
    affinity[this_cpu()->index] = mine;
}

static u32 registered;

i64 sys_membarrier(u64 cmd, u64 flags, u64 cpu_id)
{
    (void)cpu_id;
    const u32 supported = MEMBARRIER_CMD_PRIVATE_EXPEDITED |
                          MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED |
                          MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE |
                          MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE;
    if (flags)
        return -EINVAL;
    switch (cmd) {
    case MEMBARRIER_CMD_QUERY:
        return supported;
    case MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED:
    case MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE:
        registered |= (u32)cmd;
        return 0;
    case MEMBARRIER_CMD_PRIVATE_EXPEDITED:
    case MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE:
        if (!(registered & (u32)(cmd << 1)))
            return -EPERM;
        mb();
        if (nthreads > 1)
            platform_hypercall(UNO_HC_MEMBARRIER);
        return 0;
    default:
        /* The GLOBAL commands would have to reach other processes' VMs. */
        return -EINVAL;
    }
}
