/* Signals: state, queueing and delivery (signal.c), the frame a handler runs on
 * (sigframe.c). */
#ifndef PROC_SIGNAL_H
#define PROC_SIGNAL_H
#include "libos/types.h"
#include "arch/x86_64/regs.h"

#define SIGHUP 1
#define SIGINT 2
#define SIGQUIT 3
#define SIGILL 4
#define SIGTRAP 5
#define SIGABRT 6
#define SIGBUS 7
#define SIGFPE 8
#define SIGKILL 9
#define SIGUSR1 10
#define SIGSEGV 11
#define SIGUSR2 12
#define SIGPIPE 13
#define SIGALRM 14
#define SIGTERM 15
#define SIGCHLD 17
#define SIGCONT 18
#define SIGSTOP 19
#define SIGTSTP 20
#define SIGTTIN 21
#define SIGTTOU 22
#define SIGURG 23
#define SIGWINCH 28

#define SA_NOCLDSTOP 0x1
#define SA_NOCLDWAIT 0x2
#define SA_SIGINFO 0x4
#define SA_RESTORER 0x04000000
#define SA_ONSTACK 0x08000000
#define SA_RESTART 0x10000000
#define SA_NODEFER 0x40000000
#define SA_RESETHAND 0x80000000ull
#define SIG_DFL 0
#define SIG_IGN 1

#define SI_USER 0
#define SI_KERNEL 0x80
#define SI_TKILL (-6)
#define SI_QUEUE (-1)
#define CLD_EXITED 1
#define SIGBIT(s) (1ull << ((s)-1))

/* siginfo_t as Linux x86-64 lays it out (128 bytes). */
struct k_siginfo {
    i32 si_signo, si_errno, si_code, _pad;
    union {
        struct { i32 pid; u32 uid; i32 status; } kill;
        struct { i32 pid; u32 uid; u64 value; } rt;
        struct { u64 addr; } fault;
        u8 _bytes[112];
    };
};

/* How an interrupted system call resumes: see signal_deliver. */
enum restart { RESTART_NONE, RESTART_SYS /* SA_RESTART decides */, RESTART_NOHAND };

void signal_init(void);
/* Queue sig for this process with its siginfo (NULL: SI_KERNEL). */
int signal_raise(int sig, const struct k_siginfo *info); /* -EAGAIN: queue full */
/* A signal that must be looked at before returning to the app. */
bool signal_pending(void);
/* At every return to the app: run handlers, apply default actions, restart or not the
 * system call the frame returns from (nr, how). */
void signal_deliver(struct regs *r, u64 nr, enum restart how);
void signal_set_mask(u64 m);
int signal_wait_mask(u64 uset, u64 size); /* sigsuspend/ppoll/pselect's temporary mask */
/* Recompute what the VMM must interrupt a wait for (after mask/action changes). */
void signal_publish_interest(void);
/* exec: handlers back to default (ignored stay ignored), alternate stack off. */
void signal_exec_reset(void);
/* fork child: nothing pending. */
void signal_fork_child(void);
void signal_vfork_save(void);
void signal_vfork_restore(void);
/* A signal for one thread (struct cpu, proc/thread.h) alone. */
struct cpu;
int signal_thread(struct cpu *t, int sig, const struct k_siginfo *info);
/* A CPU exception in the app: deliver its signal, or end the process. */
NORETURN void signal_fault(struct regs *r, int sig, int code, u64 addr);

/* signalfd (fs/signalfd.c): signal.c tells it when a signal becomes pending or is taken,
 * and it reads pending signals through these two. */
void signalfd_raised(int sig);
void signalfd_taken(int sig);
u64 signal_pending_set(void);                      /* this thread's and the process's */
int signal_dequeue(u64 mask, struct k_siginfo *info); /* a signal of mask taken, or 0 */

/* sigframe.c */
int sigframe_setup(struct regs *r, int sig, const struct k_siginfo *info, u64 handler,
                   u64 flags, u64 restorer, u64 oldmask);
int sigframe_restore(struct regs *r, u64 *mask);
bool on_altstack(u64 sp);
void sigframe_init(void);

#endif
