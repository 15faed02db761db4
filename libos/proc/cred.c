/* Credentials: real, effective, saved and file-system user and group ids, supplementary
 * groups, with Linux's rules for who may change what (an effective uid of 0 may set any;
 * others only swap among the ids they have). They are the guest's own: the host runs every
 * VMM as the user who ran uno, so they decide what programs see (getuid, /proc, AT_*UID,
 * SCM_CREDENTIALS) and what the libOS checks, not what the host lets the VMM do. */
#include "proc.h"
#include "core/kernel.h"
#include "libos/errno.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "sys/syscalls.h"

#define KEEP ((u32)-1)

static bool privileged(void) { return proc.euid == 0; }

/* An id the caller may take without privilege: one of the three it has. */
static bool one_of(u32 id, u32 a, u32 b, u32 c) { return id == a || id == b || id == c; }

i64 sys_setresuid(u64 ur, u64 ue, u64 us)
{
    u32 r = (u32)ur, e = (u32)ue, s = (u32)us;
    if (!privileged()) {
        if ((r != KEEP && !one_of(r, proc.uid, proc.euid, proc.suid)) ||
            (e != KEEP && !one_of(e, proc.uid, proc.euid, proc.suid)) ||
            (s != KEEP && !one_of(s, proc.uid, proc.euid, proc.suid)))
            return -EPERM;
    }
    if (r != KEEP)
        proc.uid = r;
    if (e != KEEP)
        proc.euid = e;
    if (s != KEEP)
        proc.suid = s;
    proc.fsuid = proc.euid;
    proc_publish();
    return 0;
}

i64 sys_setresgid(u64 ur, u64 ue, u64 us)
{
    u32 r = (u32)ur, e = (u32)ue, s = (u32)us;
    if (!privileged()) {
        if ((r != KEEP && !one_of(r, proc.gid, proc.egid, proc.sgid)) ||
            (e != KEEP && !one_of(e, proc.gid, proc.egid, proc.sgid)) ||
            (s != KEEP && !one_of(s, proc.gid, proc.egid, proc.sgid)))
            return -EPERM;
    }
    if (r != KEEP)
        proc.gid = r;
    if (e != KEEP)
        proc.egid = e;
    if (s != KEEP)
        proc.sgid = s;
    proc.fsgid = proc.egid;
    proc_publish();
    return 0;
}

/* setuid: privileged, all three; otherwise only the effective one, to the real or saved. */
i64 sys_setuid(u64 uid)
{
    u32 id = (u32)uid;
    if (id == KEEP)
        return -EINVAL;
    if (privileged())
        return sys_setresuid(id, id, id);
    if (id != proc.uid && id != proc.suid)
        return -EPERM;
    return sys_setresuid(KEEP, id, KEEP);
}

i64 sys_setgid(u64 gid)
{
    u32 id = (u32)gid;
    if (id == KEEP)
        return -EINVAL;
    if (privileged())
        return sys_setresgid(id, id, id);
    if (id != proc.gid && id != proc.sgid)
        return -EPERM;
    return sys_setresgid(KEEP, id, KEEP);
}

/* setreuid: the saved id follows the new effective one when the real one is set or the
 * effective one changes to something other than the old real id, as Linux does. */
i64 sys_setreuid(u64 ur, u64 ue)
{
    u32 r = (u32)ur, e = (u32)ue, old_r = proc.uid;
    if (!privileged() && ((r != KEEP && r != proc.uid && r != proc.euid) ||
                          (e != KEEP && !one_of(e, proc.uid, proc.euid, proc.suid))))
        return -EPERM;
    u32 s = (r != KEEP || (e != KEEP && e != old_r)) ? (e != KEEP ? e : proc.euid) : KEEP;
    proc.euid = e != KEEP ? e : proc.euid; /* checked above: set all three at once */
    if (r != KEEP)
        proc.uid = r;
    if (s != KEEP)
        proc.suid = s;
    proc.fsuid = proc.euid;
    proc_publish();
    return 0;
}

i64 sys_setregid(u64 ur, u64 ue)
{
    u32 r = (u32)ur, e = (u32)ue, old_r = proc.gid;
    if (!privileged() && ((r != KEEP && r != proc.gid && r != proc.egid) ||
                          (e != KEEP && !one_of(e, proc.gid, proc.egid, proc.sgid))))
        return -EPERM;
    u32 s = (r != KEEP || (e != KEEP && e != old_r)) ? (e != KEEP ? e : proc.egid) : KEEP;
    proc.egid = e != KEEP ? e : proc.egid;
    if (r != KEEP)
        proc.gid = r;
    if (s != KEEP)
        proc.sgid = s;
    proc.fsgid = proc.egid;
    proc_publish();
    return 0;
}

/* setfsuid/setfsgid answer the old id whether or not they changed it (Linux's interface). */
i64 sys_setfsuid(u64 uid)
{
    u32 old = proc.fsuid, id = (u32)uid;
    if (id != KEEP && (privileged() || one_of(id, proc.uid, proc.euid, proc.suid) || id == proc.fsuid))
        proc.fsuid = id;
    return old;
}

i64 sys_setfsgid(u64 gid)
{
    u32 old = proc.fsgid, id = (u32)gid;
    if (id != KEEP && (privileged() || one_of(id, proc.gid, proc.egid, proc.sgid) || id == proc.fsgid))
        proc.fsgid = id;
    return old;
}

static i64 put3(u64 a, u64 b, u64 c, u32 x, u32 y, u32 z)
{
    if (!user_ok((void *)a, 4, PROT_WRITE) || !user_ok((void *)b, 4, PROT_WRITE) ||
        !user_ok((void *)c, 4, PROT_WRITE))
        return -EFAULT;
    return copy_to_user((void *)a, &x, 4) ?: copy_to_user((void *)b, &y, 4)
                                             ?: copy_to_user((void *)c, &z, 4);
}

i64 sys_getresuid(u64 r, u64 e, u64 s) { return put3(r, e, s, proc.uid, proc.euid, proc.suid); }
i64 sys_getresgid(u64 r, u64 e, u64 s) { return put3(r, e, s, proc.gid, proc.egid, proc.sgid); }

i64 sys_setgroups(u64 size, u64 list)
{
    if (!privileged())
        return -EPERM;
    if (size > NGROUPS_MAX)
        return -EINVAL; /* more than the guest keeps: said, not truncated */
    u32 g[NGROUPS_MAX];
    if (size && copy_from_user(g, (void *)list, size * 4))
        return -EFAULT;
    memcpy(proc.groups, g, size * 4);
    proc.ngroups = (int)size;
    return 0;
}

i64 sys_getgroups(u64 size, u64 list)
{
    if ((int)size < 0)
        return -EINVAL;
    if (size == 0)
        return proc.ngroups;
    if ((int)size < proc.ngroups)
        return -EINVAL;
    return copy_to_user((void *)list, proc.groups, (u64)proc.ngroups * 4) ?: proc.ngroups;
}
