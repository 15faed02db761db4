/* Every system call the libOS serves, by family. The one table is in sys/table.c. */
#ifndef SYS_SYSCALLS_H
#define SYS_SYSCALLS_H
#include "libos/types.h"
#include "arch/x86_64/regs.h"

#define NR_SYSCALLS 512
extern const char *const syscall_names[NR_SYSCALLS];

void syscall_dispatch(struct regs *r);
void syscall_report_enosys(void);
bool trace_enabled(void);

/* mm/mmap.c */
i64 sys_brk(u64 addr);
i64 sys_mmap(u64 addr, u64 len, u64 prot, u64 flags, u64 fd, u64 off);
i64 sys_munmap(u64 addr, u64 len);
i64 sys_mprotect(u64 addr, u64 len, u64 prot);
i64 sys_mremap(u64 old, u64 old_len, u64 new_len, u64 flags, u64 new_addr);
i64 sys_madvise(u64 addr, u64 len, u64 advice);
i64 sys_msync(u64 addr, u64 len, u64 flags);
i64 sys_flock(u64 fd, u64 op);
/* xattr.c */
i64 sys_getxattr(u64 path, u64 name, u64 value, u64 size);
i64 sys_lgetxattr(u64 path, u64 name, u64 value, u64 size);
i64 sys_fgetxattr(u64 fd, u64 name, u64 value, u64 size);
i64 sys_listxattr(u64 path, u64 list, u64 size);
i64 sys_llistxattr(u64 path, u64 list, u64 size);
i64 sys_flistxattr(u64 fd, u64 list, u64 size);
i64 sys_setxattr(u64 path, u64 name, u64 value, u64 size, u64 flags);
i64 sys_lsetxattr(u64 path, u64 name, u64 value, u64 size, u64 flags);
i64 sys_fsetxattr(u64 fd, u64 name, u64 value, u64 size, u64 flags);
i64 sys_removexattr(u64 path, u64 name);
i64 sys_lremovexattr(u64 path, u64 name);
i64 sys_fremovexattr(u64 fd, u64 name);
void arch_prctl_exec_reset(void); /* sys/proc.c: GS is the libOS's again after exec */
struct file;
i64 file_lock_fcntl(struct file *f, u64 cmd, u64 uarg); /* fs/lock.c */
int sleep_for_ns(u64 ns); /* sys/time.c: -EINTR when a signal interrupts it */
/* sys/time.c: CPU time of this process (thread false) or this thread, as the host counted it:
 * ns in all, *sys_ns the system part. */
u64 cpu_time_ns(bool thread, u64 *sys_ns);
u64 vcpu_time_ns(int index); /* another thread's, in all (no user/system split) */
i64 sys_mincore(u64 addr, u64 len, u64 vec);

/* sys/file.c: descriptors and I/O */
i64 sys_read(u64 fd, u64 buf, u64 len);
i64 sys_write(u64 fd, u64 buf, u64 len);
i64 sys_readv(u64 fd, u64 iov, u64 cnt);
i64 sys_writev(u64 fd, u64 iov, u64 cnt);
i64 sys_pread64(u64 fd, u64 buf, u64 len, u64 off);
i64 sys_pwrite64(u64 fd, u64 buf, u64 len, u64 off);
i64 sys_preadv(u64 fd, u64 iov, u64 cnt, u64 off);
i64 sys_pwritev(u64 fd, u64 iov, u64 cnt, u64 off);
i64 sys_close(u64 fd);
i64 sys_lseek(u64 fd, u64 off, u64 whence);
i64 sys_fstat(u64 fd, u64 st);
i64 sys_getdents64(u64 fd, u64 buf, u64 len);
i64 sys_ioctl(u64 fd, u64 cmd, u64 arg);
i64 sys_fcntl(u64 fd, u64 cmd, u64 arg);
i64 sys_dup(u64 fd);
i64 sys_dup2(u64 fd, u64 newfd);
i64 sys_dup3(u64 fd, u64 newfd, u64 flags);
i64 sys_ftruncate(u64 fd, u64 len);
i64 sys_fsync(u64 fd);
i64 sys_fdatasync(u64 fd);
i64 sys_sync(void);
i64 sys_syncfs(u64 fd);
i64 sys_fallocate(u64 fd, u64 mode, u64 off, u64 len);
i64 sys_fchdir(u64 fd);
i64 sys_fchmod(u64 fd, u64 mode);
i64 sys_sendfile(u64 out, u64 in, u64 offp, u64 count);
i64 sys_fchown(u64 fd, u64 uid, u64 gid);

/* sys/path.c: the namespace */
i64 sys_open(u64 path, u64 flags, u64 mode);
i64 sys_openat(u64 dirfd, u64 path, u64 flags, u64 mode);
i64 sys_creat(u64 path, u64 mode);
i64 sys_stat(u64 path, u64 st);
i64 sys_lstat(u64 path, u64 st);
i64 sys_newfstatat(u64 dirfd, u64 path, u64 st, u64 flags);
i64 sys_statx(u64 dirfd, u64 path, u64 flags, u64 mask, u64 buf);
i64 sys_readlink(u64 path, u64 buf, u64 size);
i64 sys_readlinkat(u64 dirfd, u64 path, u64 buf, u64 size);
i64 sys_access(u64 path, u64 mode);
i64 sys_faccessat(u64 dirfd, u64 path, u64 mode);
i64 sys_faccessat2(u64 dirfd, u64 path, u64 mode, u64 flags);
i64 sys_getcwd(u64 buf, u64 size);
i64 sys_chdir(u64 path);
i64 sys_mkdir(u64 path, u64 mode);
i64 sys_mkdirat(u64 dirfd, u64 path, u64 mode);
i64 sys_mknod(u64 path, u64 mode, u64 dev);
i64 sys_clock_settime(u64 clock, u64 ts);
i64 sys_tee(u64 fd_in, u64 fd_out, u64 len, u64 flags);
i64 sys_getpriority(u64 which, u64 who);
i64 sys_setpriority(u64 which, u64 who, u64 prio);
i64 sys_vmsplice(u64 fd, u64 iov, u64 nr_segs, u64 flags);
i64 sys_settimeofday(u64 tv, u64 tz);
i64 sys_mknodat(u64 dirfd, u64 path, u64 mode, u64 dev);
i64 sys_unlink(u64 path);
i64 sys_unlinkat(u64 dirfd, u64 path, u64 flags);
i64 sys_rmdir(u64 path);
i64 sys_rename(u64 old, u64 new);
i64 sys_renameat(u64 olddir, u64 old, u64 newdir, u64 new);
i64 sys_renameat2(u64 olddir, u64 old, u64 newdir, u64 new, u64 flags);
i64 sys_symlink(u64 target, u64 path);
i64 sys_link(u64 old, u64 new);
i64 sys_linkat(u64 olddir, u64 old, u64 newdir, u64 new, u64 flags);
i64 sys_symlinkat(u64 target, u64 dirfd, u64 path);
i64 sys_chmod(u64 path, u64 mode);
i64 sys_fchmodat(u64 dirfd, u64 path, u64 mode);
i64 sys_chown(u64 path, u64 uid, u64 gid);
i64 sys_lchown(u64 path, u64 uid, u64 gid);
i64 sys_fchownat(u64 dirfd, u64 path, u64 uid, u64 gid, u64 flags);
i64 sys_utimensat(u64 dirfd, u64 path, u64 times, u64 flags);
i64 sys_futimesat(u64 dirfd, u64 path, u64 times);
i64 sys_utimes(u64 path, u64 times);
i64 sys_utime(u64 path, u64 times);
i64 sys_truncate(u64 path, u64 len);
i64 sys_umask(u64 mask);
/* sys/statfs.c */
i64 sys_statfs(u64 path, u64 buf);
i64 sys_fstatfs(u64 fd, u64 buf);

/* sys/proc.c: identity, limits, exit */
i64 sys_exit(u64 status);
i64 sys_exit_group(u64 status);
i64 sys_getpid(void);
i64 sys_getppid(void);
i64 sys_gettid(void);
i64 sys_getuid(void);
i64 sys_geteuid(void);
i64 sys_getgid(void);
i64 sys_getegid(void);
i64 sys_getpgrp(void);
i64 sys_getpgid(u64 pid);
i64 sys_getsid(u64 pid);
i64 sys_getgroups(u64 size, u64 list);
i64 sys_setgroups(u64 size, u64 list);
i64 sys_setuid(u64 uid);
i64 sys_setgid(u64 gid);
i64 sys_setreuid(u64 r, u64 e);
i64 sys_setregid(u64 r, u64 e);
i64 sys_setresuid(u64 r, u64 e, u64 s);
i64 sys_setresgid(u64 r, u64 e, u64 s);
i64 sys_setfsuid(u64 uid);
i64 sys_setfsgid(u64 gid);
i64 sys_prctl(u64 option, u64 a2, u64 a3, u64 a4, u64 a5);
i64 sys_getresuid(u64 r, u64 e, u64 s);
i64 sys_getresgid(u64 r, u64 e, u64 s);
i64 sys_set_tid_address(u64 p);
i64 sys_set_robust_list(u64 head, u64 len);
/* threads (proc/thread.c, futex.c, sched.c) */
i64 sys_futex(u64 uaddr, u64 op, u64 val, u64 uts, u64 uaddr2, u64 val3);
i64 sys_get_robust_list(u64 tid, u64 head_ptr, u64 len_ptr);
i64 sys_sched_getaffinity(u64 pid, u64 len, u64 mask);
i64 sys_sched_setaffinity(u64 pid, u64 len, u64 mask);
i64 sys_getcpu(u64 cpu, u64 node, u64 cache);
i64 sys_membarrier(u64 cmd, u64 flags, u64 cpu_id);
i64 sys_prlimit64(u64 pid, u64 res, u64 new, u64 old);
i64 sys_getrlimit(u64 res, u64 old);
i64 sys_setrlimit(u64 res, u64 new);
i64 sys_arch_prctl(u64 code, u64 addr);
i64 sys_uname(u64 buf);
i64 sys_sysinfo(u64 buf);
i64 sys_sched_yield(void);
i64 sys_getrandom(u64 buf, u64 len, u64 flags);
i64 sys_getrusage(u64 who, u64 usage);
i64 sys_times(u64 buf);

/* sys/time.c */
i64 sys_clock_gettime(u64 clock, u64 ts);
i64 sys_clock_getres(u64 clock, u64 ts);
i64 sys_gettimeofday(u64 tv, u64 tz);
i64 sys_time(u64 t);
i64 sys_nanosleep(u64 req, u64 rem);
i64 sys_clock_nanosleep(u64 clock, u64 flags, u64 req, u64 rem);

i64 sys_setpgid(u64 pid, u64 pgid);
i64 sys_setsid(void);

/* proc/fork.c, proc/wait.c, proc/itimer.c, exec/execve.c */
i64 sys_fork(void);
i64 sys_vfork(void);
i64 sys_clone(u64 flags, u64 newsp, u64 ptid, u64 ctid, u64 tls);
i64 sys_clone3(u64 args, u64 size);
i64 sys_wait4(u64 pid, u64 wstatus, u64 options, u64 rusage);
i64 sys_waitid(u64 idtype, u64 id, u64 infop, u64 options, u64 rusage);
i64 sys_alarm(u64 seconds);
i64 sys_getitimer(u64 which, u64 val);
i64 sys_setitimer(u64 which, u64 nval, u64 oval);
i64 sys_execve(u64 path, u64 argv, u64 envp);
i64 sys_execveat(u64 dirfd, u64 path, u64 argv, u64 envp, u64 flags);

/* fs/memfd.c, fs/eventfd.c */
i64 sys_memfd_create(u64 name, u64 flags);
i64 sys_eventfd(u64 initval);
i64 sys_eventfd2(u64 initval, u64 flags);

/* fs/epoll.c, fs/timerfd.c, fs/signalfd.c */
i64 sys_epoll_create(u64 size);
i64 sys_epoll_create1(u64 flags);
i64 sys_epoll_ctl(u64 epfd, u64 op, u64 fd, u64 event);
i64 sys_epoll_wait(u64 epfd, u64 events, u64 maxevents, u64 timeout);
i64 sys_epoll_pwait(u64 epfd, u64 events, u64 maxevents, u64 timeout, u64 mask, u64 size);
i64 sys_epoll_pwait2(u64 epfd, u64 events, u64 maxevents, u64 ts, u64 mask, u64 size);
i64 sys_timerfd_create(u64 clockid, u64 flags);
i64 sys_timerfd_settime(u64 fd, u64 flags, u64 new_value, u64 old_value);
i64 sys_timerfd_gettime(u64 fd, u64 cur);
i64 sys_signalfd(u64 fd, u64 mask, u64 size);
i64 sys_signalfd4(u64 fd, u64 mask, u64 size, u64 flags);

/* fs/pipe.c, sys/poll.c */
i64 sys_pipe(u64 fds);
i64 sys_pipe2(u64 fds, u64 flags);
i64 sys_poll(u64 fds, u64 n, u64 timeout);
i64 sys_ppoll(u64 fds, u64 n, u64 ts, u64 mask, u64 size);
i64 sys_select(u64 n, u64 r, u64 w, u64 e, u64 tv);
i64 sys_pselect6(u64 n, u64 r, u64 w, u64 e, u64 ts, u64 sig);

/* proc/signal.c, proc/sigframe.c */
i64 sys_rt_sigreturn(void);
i64 sys_rt_sigpending(u64 set, u64 size);
i64 sys_rt_sigsuspend(u64 set, u64 size);
i64 sys_rt_sigtimedwait(u64 set, u64 info, u64 ts, u64 size);
i64 sys_pause(void);
i64 sys_kill(u64 pid, u64 sig);
i64 sys_tgkill(u64 tgid, u64 tid, u64 sig);
i64 sys_tkill(u64 tid, u64 sig);
i64 sys_rt_sigqueueinfo(u64 pid, u64 sig, u64 info);
i64 sys_rt_tgsigqueueinfo(u64 tgid, u64 tid, u64 sig, u64 info);
i64 sys_rt_sigaction(u64 sig, u64 act, u64 old, u64 size);
i64 sys_rt_sigprocmask(u64 how, u64 set, u64 old, u64 size);
i64 sys_sigaltstack(u64 ss, u64 old);

/* net/socket.c */
i64 sys_socket(u64 family, u64 type, u64 protocol);
i64 sys_socketpair(u64 family, u64 type, u64 protocol, u64 usv);
i64 sys_bind(u64 fd, u64 uaddr, u64 len);
i64 sys_listen(u64 fd, u64 backlog);
i64 sys_connect(u64 fd, u64 uaddr, u64 len);
i64 sys_accept(u64 fd, u64 uaddr, u64 ulenp);
i64 sys_accept4(u64 fd, u64 uaddr, u64 ulenp, u64 flags);
i64 sys_shutdown(u64 fd, u64 how);
i64 sys_getsockname(u64 fd, u64 uaddr, u64 ulenp);
i64 sys_getpeername(u64 fd, u64 uaddr, u64 ulenp);
i64 sys_setsockopt(u64 fd, u64 level, u64 name, u64 uval, u64 len);
i64 sys_getsockopt(u64 fd, u64 level, u64 name, u64 uval, u64 ulenp);
i64 sys_sendto(u64 fd, u64 buf, u64 len, u64 flags, u64 uaddr, u64 alen);
i64 sys_recvfrom(u64 fd, u64 buf, u64 len, u64 flags, u64 uaddr, u64 ulenp);
i64 sys_sendmsg(u64 fd, u64 umsg, u64 flags);
i64 sys_recvmsg(u64 fd, u64 umsg, u64 flags);
i64 sys_sendmmsg(u64 fd, u64 uvec, u64 n, u64 flags);
i64 sys_recvmmsg(u64 fd, u64 uvec, u64 n, u64 flags, u64 utimeout);

i64 sys_splice(u64 fd_in, u64 uoff_in, u64 fd_out, u64 uoff_out, u64 len, u64 flags);

/* struct timespec as the app gives it (sys/time.c reads it): its nanoseconds (at most
 * INT64_MAX), -1 for none (NULL); -EFAULT, or -EINVAL for a negative or unnormalized one, as
 * Linux checks it. */
struct k_timespec {
    i64 sec, nsec;
};
int user_timespec_ns(u64 uts, i64 *ns);

#endif
