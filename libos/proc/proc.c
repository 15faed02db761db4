/* The process's identity at start: PID 1 of its instance, as in a container. */
#include "proc.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "thread.h"

struct proc proc;

#define RLIM_INFINITY (~0ull)

void proc_init(void)
{
    memset(&proc, 0, sizeof proc);
    proc.pid = 1;
    proc.ppid = 0;
    proc.pgid = 1;
    proc.sid = 1;
    proc.uid = proc.euid = proc.suid = proc.fsuid = bootinfo->uid;
    proc.gid = proc.egid = proc.sgid = proc.fsgid = bootinfo->gid;
    proc.ngroups = (int)MIN(bootinfo->ngroups, UNO_BOOT_GROUPS_MAX);
    memcpy(proc.groups, bootinfo->groups, (u64)proc.ngroups * 4);
    proc.umask = 022;
    proc.dumpable = 1;
    proc.timerslack_ns = 50000;
    for (int i = 0; i < RLIMIT_NLIMITS; i++)
        proc.rlimits[i].cur = proc.rlimits[i].max = RLIM_INFINITY;
    proc.rlimits[3].cur = 8ull << 20;  /* RLIMIT_STACK */
    proc.rlimits[7].cur = proc.rlimits[7].max = 1024; /* RLIMIT_NOFILE = NR_OPEN */
    proc.rlimits[4].cur = 0;           /* RLIMIT_CORE */
    proc.start_ns = time_mono_ns();
    proc.altstack.flags = 2; /* SS_DISABLE */
}

/* The command name a new program gets, as Linux sets it at exec: the base name of the path
 * given (a symlink's own name: python3, not python3.11), at most 15 bytes. */
void proc_set_comm(const char *path)
{
    const char *base = path;
    for (const char *q = path; *q; q++)
        if (*q == '/' && q[1])
            base = q + 1;
    memset(proc.comm, 0, sizeof proc.comm);
    for (int i = 0; i < 15 && base[i] && base[i] != '/'; i++)
        proc.comm[i] = base[i];
}

/* What the instance's other processes see of this one in /proc/PID (UNO_PROC_SETNAME): the
 * command name, the effective ids and the first UNO_PROC_CMDLINE bytes of the arguments as
 * exec laid them out. Sent without waiting (no exit): at start, after exec, when the name or
 * the credentials change. A program that rewrites its argv later (nginx's process titles)
 * shows the new one in its own /proc/self/cmdline only. */
void proc_publish(void)
{
    u32 idx;
    struct uno_procname *n = ring_async_slot(&idx);
    memset(n, 0, sizeof *n);
    memcpy(n->comm, proc.comm, sizeof n->comm);
    n->comm[15] = 0;
    n->affinity = sched_affinity();
    n->uid = proc.euid;
    n->gid = proc.egid;
    u64 len = MIN(proc.arg_end - proc.arg_start, (u64)UNO_PROC_CMDLINE);
    if (proc.arg_end > proc.arg_start && !copy_from_user(n->cmdline, (void *)proc.arg_start, len)) {
        n->cmdline[UNO_PROC_CMDLINE - 1] = 0; /* cut short: still NUL-terminated */
        n->cmdline_len = (u32)len;
    }
    u64 args[4] = {UNO_PROC_SETNAME};
    ring_async_submit(idx, UNO_OP_PROC, 0, sizeof *n, args);
}

/* What the process table says of pid, another process of the instance (UNO_PROC_INFO). */
bool proc_info_of(int pid, struct uno_procinfo *out)
{
    if (pid <= 0 || pid == proc.pid)
        return false;
    struct ring_op op = {.op = UNO_OP_PROC, .arg = {UNO_PROC_INFO, (u64)pid}, .out = out,
                         .out_len = sizeof *out};
    return ring_call(&op) == (i64)sizeof *out && out->pid == pid;
}
