/* The CPUs a process sees: `uno run --cpus N` gives the VM N CPUs (host CPUs its vCPU
 * threads may run on); a thread's affinity picks among them for real (the VMM sets the host
 * affinity of its vCPU's thread). membarrier: every other thread of the process passes a
 * full barrier, which the VMM forces by kicking their vCPUs out of the guest once. */
#include "thread.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
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

i64 sys_sched_getaffinity(u64 pid, u64 len, u64 mask)
{
    if (len < 8 || (len & 7))
        return -EINVAL;
    struct cpu *t = thread_of(pid);
    if (!t)
        return -ESRCH;
    u64 m = affinity[t->index] ? affinity[t->index] : all_cpus();
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
