/* prctl: the options programs set about themselves. Each either does what Linux does here
 * or is refused with EINVAL, Linux's answer for an option it does not know; none is
 * accepted and then ignored. */
#include "proc.h"
#include "core/kernel.h"
#include "libos/errno.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "sys/syscalls.h"

#define PR_GET_DUMPABLE 3
#define PR_SET_DUMPABLE 4
#define PR_GET_KEEPCAPS 7
#define PR_SET_KEEPCAPS 8
#define PR_SET_NAME 15
#define PR_GET_NAME 16
#define PR_GET_SECCOMP 21
#define PR_CAPBSET_READ 23
#define PR_SET_TIMERSLACK 29
#define PR_GET_TIMERSLACK 30
#define PR_SET_NO_NEW_PRIVS 38
#define PR_GET_NO_NEW_PRIVS 39
#define CAP_LAST_CAP 40

static i64 flag(bool *f, u64 v)
{
    if (v > 1)
        return -EINVAL;
    *f = v != 0;
    return 0;
}

i64 sys_prctl(u64 option, u64 a2, u64 a3, u64 a4, u64 a5)
{
    (void)a3, (void)a4, (void)a5;
    switch (option) {
    case PR_SET_NAME: {
        char name[16] = {0};
        for (int i = 0; i < 15; i++) { /* longer names are cut to 15 bytes, as Linux does */
            if (copy_from_user(&name[i], (const char *)a2 + i, 1))
                return -EFAULT;
            if (!name[i])
                break;
        }
        memcpy(proc.comm, name, sizeof name);
        proc_publish();
        return 0;
    }
    case PR_GET_NAME: {
        /* Set at every exec (proc_set_comm), so there is always a name to give. */
        return copy_to_user((void *)a2, proc.comm, sizeof proc.comm);
    }
    case PR_GET_DUMPABLE:
        return proc.dumpable;
    case PR_SET_DUMPABLE: /* who may ptrace us or read our core: no debugger attaches here */
        if (a2 > 1)
            return -EINVAL;
        proc.dumpable = (int)a2;
        return 0;
    case PR_GET_KEEPCAPS:
        return proc.keepcaps;
    case PR_SET_KEEPCAPS:
        return flag(&proc.keepcaps, a2);
    case PR_GET_NO_NEW_PRIVS:
        return proc.no_new_privs;
    case PR_SET_NO_NEW_PRIVS: /* exec never raises privileges here: holds trivially */
        if (a2 != 1)
            return -EINVAL;
        proc.no_new_privs = true;
        return 0;
    case PR_GET_SECCOMP:
        return 0; /* no seccomp filter: the libOS has none */
    case PR_CAPBSET_READ:
        return a2 > CAP_LAST_CAP ? -EINVAL : 1;
    case PR_GET_TIMERSLACK:
        return (i64)proc.timerslack_ns;
    case PR_SET_TIMERSLACK:
        proc.timerslack_ns = a2 ? a2 : 50000;
        return 0;
    default:
        return -EINVAL;
    }
}
