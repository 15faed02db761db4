/* Signal state. This issue keeps the state honestly (actions, mask, alternate stack) and
 * applies default actions to faults; delivery to handlers arrives with the processes
 * issue. */
#include "proc.h"
#include "core/kernel.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "sys/syscalls.h"

#define SIG_BLOCK 0
#define SIG_UNBLOCK 1
#define SIG_SETMASK 2
#define SIGKILL 9
#define SIGSTOP 19
#define SS_ONSTACK 1
#define SS_DISABLE 2
#define MINSIGSTKSZ 2048

static u64 unblockable(void) { return (1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)); }

i64 sys_rt_sigaction(u64 sig, u64 act, u64 old, u64 size)
{
    if (size != 8)
        return -EINVAL;
    if (sig < 1 || sig > NSIG)
        return -EINVAL;
    if (act && (sig == SIGKILL || sig == SIGSTOP))
        return -EINVAL;
    struct k_sigaction *ka = &proc.sigactions[sig - 1];
    if (act && !user_ok((void *)act, sizeof *ka, PROT_READ))
        return -EFAULT;
    if (old && !user_ok((void *)old, sizeof *ka, PROT_WRITE))
        return -EFAULT;
    struct k_sigaction n;
    if (act && copy_from_user(&n, (void *)act, sizeof n))
        return -EFAULT;
    if (old && copy_to_user((void *)old, ka, sizeof *ka))
        return -EFAULT;
    if (act) {
        n.mask &= ~unblockable();
        *ka = n;
    }
    return 0;
}

i64 sys_rt_sigprocmask(u64 how, u64 set, u64 old, u64 size)
{
    if (size != 8)
        return -EINVAL;
    if (old && !user_ok((void *)old, 8, PROT_WRITE))
        return -EFAULT;
    u64 prev = proc.sigmask;
    if (set) {
        u64 s;
        if (copy_from_user(&s, (void *)set, 8))
            return -EFAULT;
        switch (how) {
        case SIG_BLOCK: proc.sigmask |= s; break;
        case SIG_UNBLOCK: proc.sigmask &= ~s; break;
        case SIG_SETMASK: proc.sigmask = s; break;
        default: return -EINVAL;
        }
        proc.sigmask &= ~unblockable();
    }
    if (old && copy_to_user((void *)old, &prev, 8))
        return -EFAULT;
    return 0;
}

static struct {
    u64 sp;
    i32 flags;
    u32 pad;
    u64 size;
} altstack = {.flags = SS_DISABLE};

i64 sys_sigaltstack(u64 ss, u64 old)
{
    typeof(altstack) n;
    if (ss && copy_from_user(&n, (void *)ss, 24))
        return -EFAULT;
    if (old && copy_to_user((void *)old, &altstack, 24))
        return -EFAULT;
    if (ss) {
        if (n.flags & ~(SS_DISABLE | (1 << 31) /* SS_AUTODISARM */))
            return -EINVAL;
        if (!(n.flags & SS_DISABLE) && n.size < MINSIGSTKSZ)
            return -ENOMEM;
        altstack = n;
    }
    return 0;
}
