/* The one process this VM runs: its identity, limits, signal state and program. Later
 * issues add threads and the process table (kept by the VMMs). */
#ifndef PROC_PROC_H
#define PROC_PROC_H
#include "libos/types.h"

#define NSIG 64
#define RLIMIT_NLIMITS 16

struct k_sigaction {
    u64 handler;
    u64 flags;
    u64 restorer;
    u64 mask;
};

struct rlimit64 {
    u64 cur, max;
};

struct altstack {
    u64 sp;
    i32 flags;
    u32 _pad;
    u64 size;
};

#define NGROUPS_MAX 64 /* of the guest's; Linux allows 65536 */

struct proc {
    int pid, ppid, pgid, sid;
    u32 uid, gid, euid, egid;
    u32 suid, sgid, fsuid, fsgid;  /* saved and file-system ids (proc/cred.c) */
    u32 groups[NGROUPS_MAX];       /* supplementary groups */
    int ngroups;
    char comm[16];                 /* the command name: set at exec (proc_set_comm), PR_SET_NAME */
    int dumpable;                  /* PR_SET_DUMPABLE (1 at exec) */
    bool no_new_privs, keepcaps;   /* PR_SET_NO_NEW_PRIVS, PR_SET_KEEPCAPS */
    u64 timerslack_ns;
    u32 umask;
    char exe[4096];              /* absolute path of the running program */
    u64 clear_child_tid;
    u64 robust_list, robust_len;
    struct k_sigaction sigactions[NSIG];
    u64 sigmask;
    u64 sigpending;
    u64 saved_mask;              /* sigsuspend: the mask to restore */
    bool has_saved_mask;
    struct altstack altstack;
    u64 child_utime_us, child_stime_us, child_maxrss_kb; /* of children waited for */
    struct rlimit64 rlimits[RLIMIT_NLIMITS];
    u64 start_ns;                /* CLOCK_MONOTONIC at start, for /proc and times() */
    int argc;
    u64 arg_start, arg_end, env_start, env_end; /* in the app's stack, for /proc/self/cmdline */
};

extern struct proc proc;

void proc_init(void);
void proc_set_comm(const char *path);
void proc_publish(void); /* what /proc/PID shows the instance's other processes */
struct uno_procinfo;
bool proc_info_of(int pid, struct uno_procinfo *out); /* another process of the instance */

/* fork.c: the in-place vfork child (running in its parent's VM). */
bool vfork_child_running(void);
NORETURN void vfork_child_exit(int status);
int vfork_child_exec(void);

/* clone flags (fork.c, thread.c), as Linux numbers them. */
#define CLONE_VM 0x100
#define CLONE_FS 0x200
#define CLONE_FILES 0x400
#define CLONE_SIGHAND 0x800
#define CLONE_PIDFD 0x1000
#define CLONE_VFORK 0x4000
#define CLONE_PARENT 0x8000
#define CLONE_THREAD 0x10000
#define CLONE_SYSVSEM 0x40000
#define CLONE_SETTLS 0x80000
#define CLONE_PARENT_SETTID 0x100000
#define CLONE_CHILD_CLEARTID 0x200000
#define CLONE_DETACHED 0x400000
#define CLONE_CHILD_SETTID 0x1000000
#define CLONE_NAMESPACES 0xfe020080ull /* NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME */

#endif
