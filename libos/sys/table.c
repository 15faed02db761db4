/* The system call table and its dispatcher. The app's `syscall` lands in entry.S, which
 * saves a struct regs and calls syscall_dispatch(). A number without an entry returns
 * -ENOSYS, is counted, and is reported by `uno run --trace`. */
#include "syscalls.h"
#include "core/kernel.h"
#include "libos/fmt.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "io/ring.h"
#include "arch/x86_64/platform.h"
#include "proc/signal.h"
#include "proc/thread.h"

typedef i64 (*sys_fn)(u64, u64, u64, u64, u64, u64);

struct syscall_desc {
    sys_fn fn;
    const char *args; /* one letter an argument, for --trace: d int, x hex, s string, p ptr */
};

#define SYS(nr, name, a) [nr] = {(sys_fn)(void (*)(void))sys_##name, a}

static const struct syscall_desc table[NR_SYSCALLS] = {
    SYS(0, read, "dpu"),
    SYS(1, write, "dpu"),
    SYS(2, open, "sxo"),
    SYS(3, close, "d"),
    SYS(4, stat, "sp"),
    SYS(5, fstat, "dp"),
    SYS(6, lstat, "sp"),
    SYS(8, lseek, "ddd"),
    SYS(9, mmap, "pxxxdx"),
    SYS(10, mprotect, "pxx"),
    SYS(11, munmap, "px"),
    SYS(12, brk, "p"),
    SYS(13, rt_sigaction, "dppu"),
    SYS(14, rt_sigprocmask, "dppu"),
    SYS(15, rt_sigreturn, ""),
    SYS(7, poll, "pud"),
    SYS(16, ioctl, "dxx"),
    SYS(17, pread64, "dpud"),
    SYS(18, pwrite64, "dpud"),
    SYS(19, readv, "dpd"),
    SYS(20, writev, "dpd"),
    SYS(22, pipe, "p"),
    SYS(23, select, "dpppp"),
    SYS(21, access, "so"),
    SYS(24, sched_yield, ""),
    SYS(25, mremap, "pxxxp"),
    SYS(26, msync, "pxx"),
    SYS(73, flock, "dx"),
    SYS(188, setxattr, "ssxux"),
    SYS(189, lsetxattr, "ssxux"),
    SYS(190, fsetxattr, "dsxux"),
    SYS(191, getxattr, "sspu"),
    SYS(192, lgetxattr, "sspu"),
    SYS(193, fgetxattr, "dspu"),
    SYS(194, listxattr, "spu"),
    SYS(195, llistxattr, "spu"),
    SYS(196, flistxattr, "dpu"),
    SYS(197, removexattr, "ss"),
    SYS(198, lremovexattr, "ss"),
    SYS(199, fremovexattr, "ds"),
    SYS(27, mincore, "pxp"),
    SYS(28, madvise, "pxd"),
    SYS(32, dup, "d"),
    SYS(33, dup2, "dd"),
    SYS(35, nanosleep, "pp"),
    SYS(34, pause, ""),
    SYS(37, alarm, "u"),
    SYS(36, getitimer, "dp"),
    SYS(38, setitimer, "dpp"),
    SYS(39, getpid, ""),
    SYS(40, sendfile, "ddpu"),
    SYS(275, splice, "dpdpux"),
    SYS(276, tee, "ddux"),
    SYS(278, vmsplice, "dpux"),
    /* sockets (net/socket.c) */
    SYS(41, socket, "ddd"),
    SYS(42, connect, "dpd"),
    SYS(43, accept, "dpp"),
    SYS(44, sendto, "dpuxpd"),
    SYS(45, recvfrom, "dpuxpp"),
    SYS(46, sendmsg, "dpx"),
    SYS(47, recvmsg, "dpx"),
    SYS(48, shutdown, "dd"),
    SYS(49, bind, "dpd"),
    SYS(50, listen, "dd"),
    SYS(51, getsockname, "dpp"),
    SYS(52, getpeername, "dpp"),
    SYS(53, socketpair, "dddp"),
    SYS(54, setsockopt, "dddpd"),
    SYS(55, getsockopt, "dddpp"),
    SYS(288, accept4, "dppx"),
    SYS(299, recvmmsg, "dpuxp"),
    SYS(307, sendmmsg, "dpux"),
    SYS(56, clone, "xppp"),
    SYS(57, fork, ""),
    SYS(58, vfork, ""),
    SYS(59, execve, "spp"),
    SYS(60, exit, "d"),
    SYS(61, wait4, "dpxp"),
    SYS(62, kill, "dd"),
    SYS(63, uname, "p"),
    SYS(72, fcntl, "ddx"),
    SYS(74, fsync, "d"),
    SYS(75, fdatasync, "d"),
    SYS(76, truncate, "sd"),
    SYS(77, ftruncate, "dd"),
    SYS(79, getcwd, "pu"),
    SYS(80, chdir, "s"),
    SYS(81, fchdir, "d"),
    SYS(82, rename, "ss"),
    SYS(83, mkdir, "so"),
    SYS(84, rmdir, "s"),
    SYS(85, creat, "so"),
    SYS(87, unlink, "s"),
    SYS(86, link, "ss"),
    SYS(88, symlink, "ss"),
    SYS(89, readlink, "spu"),
    SYS(90, chmod, "so"),
    SYS(91, fchmod, "do"),
    SYS(92, chown, "sdd"),
    SYS(93, fchown, "ddd"),
    SYS(94, lchown, "sdd"),
    SYS(95, umask, "o"),
    SYS(96, gettimeofday, "pp"),
    SYS(97, getrlimit, "dp"),
    SYS(98, getrusage, "dp"),
    SYS(99, sysinfo, "p"),
    SYS(100, times, "p"),
    SYS(102, getuid, ""),
    SYS(104, getgid, ""),
    SYS(107, geteuid, ""),
    SYS(108, getegid, ""),
    SYS(109, setpgid, "dd"),
    SYS(110, getppid, ""),
    SYS(111, getpgrp, ""),
    SYS(112, setsid, ""),
    SYS(115, getgroups, "dp"),
    /* credentials (proc/cred.c) */
    SYS(105, setuid, "d"),
    SYS(106, setgid, "d"),
    SYS(113, setreuid, "dd"),
    SYS(114, setregid, "dd"),
    SYS(116, setgroups, "dp"),
    SYS(117, setresuid, "ddd"),
    SYS(119, setresgid, "ddd"),
    SYS(122, setfsuid, "d"),
    SYS(123, setfsgid, "d"),
    SYS(118, getresuid, "ppp"),
    SYS(120, getresgid, "ppp"),
    SYS(121, getpgid, "d"),
    SYS(124, getsid, "d"),
    SYS(127, rt_sigpending, "pu"),
    SYS(128, rt_sigtimedwait, "pppu"),
    SYS(129, rt_sigqueueinfo, "ddp"),
    SYS(130, rt_sigsuspend, "pu"),
    SYS(131, sigaltstack, "pp"),
    SYS(133, mknod, "sox"),
    SYS(137, statfs, "sp"),
    SYS(140, getpriority, "dd"),
    SYS(141, setpriority, "ddd"),
    SYS(138, fstatfs, "dp"),
    SYS(158, arch_prctl, "xp"),
    SYS(157, prctl, "dxxxx"),
    SYS(160, setrlimit, "dp"),
    SYS(164, settimeofday, "pp"),
    SYS(186, gettid, ""),
    SYS(200, tkill, "dd"),
    SYS(201, time, "p"),
    SYS(218, set_tid_address, "p"),
    SYS(227, clock_settime, "dp"),
    SYS(228, clock_gettime, "dp"),
    SYS(229, clock_getres, "dp"),
    SYS(230, clock_nanosleep, "dxpp"),
    SYS(231, exit_group, "d"),
    SYS(234, tgkill, "ddd"),
    SYS(247, waitid, "ddpxp"),
    SYS(217, getdents64, "dpu"),
    SYS(257, openat, "dsxo"),
    SYS(258, mkdirat, "dso"),
    SYS(259, mknodat, "dsox"),
    SYS(262, newfstatat, "dspx"),
    SYS(260, fchownat, "dsddx"),
    SYS(263, unlinkat, "dsx"),
    SYS(264, renameat, "dsds"),
    SYS(265, linkat, "dsdsx"),
    SYS(266, symlinkat, "sds"),
    SYS(267, readlinkat, "dspu"),
    SYS(268, fchmodat, "dso"),
    SYS(269, faccessat, "dso"),
    SYS(270, pselect6, "dppppp"),
    SYS(271, ppoll, "pupp"),
    SYS(273, set_robust_list, "pu"),
    SYS(274, get_robust_list, "dpp"),
    SYS(202, futex, "pdxppx"),
    SYS(203, sched_setaffinity, "dup"),
    SYS(204, sched_getaffinity, "dup"),
    SYS(309, getcpu, "ppp"),
    SYS(324, membarrier, "dxd"),
    SYS(280, utimensat, "dspx"),
    SYS(292, dup3, "ddx"),
    SYS(293, pipe2, "px"),
    SYS(297, rt_tgsigqueueinfo, "dddp"),
    SYS(295, preadv, "dpdd"),
    SYS(296, pwritev, "dpdd"),
    SYS(302, prlimit64, "ddpp"),
    SYS(316, renameat2, "dsdsx"),
    SYS(318, getrandom, "pux"),
    SYS(332, statx, "dsxxp"),
    SYS(322, execveat, "dsppx"),
    SYS(435, clone3, "pu"),
    SYS(439, faccessat2, "dsox"),
    SYS(162, sync, ""),
    SYS(306, syncfs, "d"),
    SYS(285, fallocate, "dxdd"),
    SYS(319, memfd_create, "sx"),
    SYS(284, eventfd, "u"),
    SYS(290, eventfd2, "ux"),
    SYS(213, epoll_create, "d"),
    SYS(291, epoll_create1, "x"),
    SYS(233, epoll_ctl, "dddp"),
    SYS(232, epoll_wait, "dpdd"),
    SYS(281, epoll_pwait, "dpddpu"),
    SYS(441, epoll_pwait2, "dpdppu"),
    SYS(283, timerfd_create, "dx"),
    SYS(286, timerfd_settime, "dxpp"),
    SYS(287, timerfd_gettime, "dp"),
    SYS(282, signalfd, "dpu"),
    SYS(289, signalfd4, "dpux"),
    SYS(132, utime, "sp"),
    SYS(235, utimes, "sp"),
    SYS(261, futimesat, "dsp"),
};

#define TRACE_NO_RETURN (-99999)

static u32 enosys_count[NR_SYSCALLS];
static u32 enosys_other;
static bool tracing;

bool trace_enabled(void) { return tracing; }

static const char *errno_name(i64 e)
{
    static const char *const names[] = {
        [1] = "EPERM", [2] = "ENOENT", [3] = "ESRCH", [4] = "EINTR", [5] = "EIO",
        [6] = "ENXIO", [7] = "E2BIG", [8] = "ENOEXEC", [9] = "EBADF", [10] = "ECHILD",
        [11] = "EAGAIN", [12] = "ENOMEM", [13] = "EACCES", [14] = "EFAULT", [16] = "EBUSY",
        [17] = "EEXIST", [18] = "EXDEV", [19] = "ENODEV", [20] = "ENOTDIR", [21] = "EISDIR",
        [22] = "EINVAL", [23] = "ENFILE", [24] = "EMFILE", [25] = "ENOTTY", [27] = "EFBIG",
        [28] = "ENOSPC", [29] = "ESPIPE", [30] = "EROFS", [32] = "EPIPE", [34] = "ERANGE",
        [36] = "ENAMETOOLONG", [38] = "ENOSYS", [39] = "ENOTEMPTY", [40] = "ELOOP",
        [61] = "ENODATA", [75] = "EOVERFLOW", [95] = "EOPNOTSUPP",
    };
    if (e > 0 && e < (i64)ARRAY_LEN(names) && names[e])
        return names[e];
    return "E?";
}

static const char *sys_name(u64 nr)
{
    return nr < NR_SYSCALLS && syscall_names[nr] ? syscall_names[nr] : "?";
}

static int fmt_arg(char *buf, size_t size, char kind, u64 v)
{
    switch (kind) {
    case 'd':
        return snprintf_l(buf, size, "%ld", (i64)(int)v);
    case 'u':
        return snprintf_l(buf, size, "%lu", v);
    case 'o':
        return snprintf_l(buf, size, "0%lo", v);
    case 's': {
        u64 len;
        int n;
        platform_user_access_begin(); /* the app's string, read where it is */
        if (!user_str_ok((const char *)v, 4096, &len))
            n = snprintf_l(buf, size, "%p", (void *)v);
        else
            n = snprintf_l(buf, size, "\"%.*s\"%s", (int)MIN(len, 64ul), (const char *)v,
                           len > 64 ? "..." : "");
        platform_user_access_end();
        return n;
    }
    case 'p':
        return v ? snprintf_l(buf, size, "%p", (void *)v) : snprintf_l(buf, size, "NULL");
    default:
        return snprintf_l(buf, size, "0x%lx", v);
    }
}

static void trace(u64 nr, const u64 a[6], i64 ret)
{
    char line[512];
    int n = snprintf_l(line, sizeof line, "[uno] %s(", sys_name(nr));
    const char *args = nr < NR_SYSCALLS && table[nr].fn ? table[nr].args : "xxxxxx";
    for (int i = 0; args[i] && i < 6; i++) {
        if (n >= (int)sizeof line - 1)
            break;
        if (i)
            n += snprintf_l(line + n, sizeof line - (size_t)n, ", ");
        if (n >= (int)sizeof line - 1)
            break;
        n += fmt_arg(line + n, sizeof line - (size_t)n, args[i], a[i]);
    }
    if (n < (int)sizeof line) {
        if (ret == TRACE_NO_RETURN)
            n += snprintf_l(line + n, sizeof line - (size_t)n, ") = ?\n");
        else if (ret < 0 && ret > -4096)
            n += snprintf_l(line + n, sizeof line - (size_t)n, ") = -1 %s (%ld)\n",
                            errno_name(-ret), ret);
        else if (ret > 4096 || ret < -4096)
            n += snprintf_l(line + n, sizeof line - (size_t)n, ") = 0x%lx\n", (u64)ret);
        else
            n += snprintf_l(line + n, sizeof line - (size_t)n, ") = %ld\n", ret);
    }
    if (n >= (int)sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    ring_write_async(2, line, (size_t)n);
}

struct regs *current_frame; /* the app's registers of the system call being served */

/* How a call interrupted by a signal resumes (Linux's -ERESTARTSYS / -ERESTARTNOHAND). */
static enum restart restart_kind(u64 nr, const u64 a[6])
{
    switch (nr) {
    case 202: /* futex: a wait with a timeout is not restarted once a handler ran */
        return a[3] ? RESTART_NOHAND : RESTART_SYS;
    case 0: case 1: case 16: case 17: case 18: case 19: case 20: case 40: case 61:
    case 72: case 73: case 247: case 295: case 296:
    case 42: case 43: case 44: case 45: case 46: case 47: case 288: case 299: case 307: case 275:
        return RESTART_SYS;
    case 7: case 23: case 34: case 35: case 130: case 230: case 270: case 271:
        return RESTART_NOHAND;
    default:
        return RESTART_NONE;
    }
}

/* rt_sigreturn: everything comes back from the handler's frame; no ordinary return. */
static NORETURN void do_sigreturn(struct regs *r)
{
    u64 mask;
    platform_user_access_begin();
    if (sigframe_restore(r, &mask)) {
        kprintf("uno: rt_sigreturn with a bad signal frame\n");
        syscall_report_enosys();
        libos_die(SIGSEGV);
    }
    signal_set_mask(mask);
    signal_deliver(r, 0, RESTART_NONE);
    platform_user_access_end();
    big_unlock();
    arch_return_full(r);
}

void syscall_dispatch(struct regs *r)
{
    big_lock();
    static bool first = true;
    if (first) {
        first = false;
        tracing = (bootinfo->flags & UNO_BOOT_TRACE) != 0;
    }
    u64 nr = r->rax;
    u64 a[6] = {r->rdi, r->rsi, r->rdx, r->r10, r->r8, r->r9};
    current_frame = r;
    if (nr == 15)
        do_sigreturn(r);
    rewrite_site(r);
    i64 ret;
    if (nr < NR_SYSCALLS && table[nr].fn) {
        if (tracing && (nr == 60 || nr == 231)) /* exit never returns: print it now */
            trace(nr, a, TRACE_NO_RETURN);
        ret = table[nr].fn(a[0], a[1], a[2], a[3], a[4], a[5]);
    } else {
        ret = -ENOSYS;
    }
    if (ret == -ENOSYS) {
        if (nr < NR_SYSCALLS)
            enosys_count[nr]++;
        else
            enosys_other++;
    }
    if (tracing)
        trace(nr, a, ret);
    r->rax = (u64)ret;
    if (signal_pending()) {
        platform_user_access_begin();
        signal_deliver(r, nr, restart_kind(nr, a));
        platform_user_access_end();
    }
    big_unlock();
}

void syscall_report_enosys(void)
{
    if (!tracing)
        return;
    u32 total = enosys_other;
    for (int i = 0; i < NR_SYSCALLS; i++)
        total += enosys_count[i];
    if (!total) {
        kprintf("[uno] trace summary: no system call returned -ENOSYS\n");
        return;
    }
    kprintf("[uno] trace summary: %u call%s returned -ENOSYS (not implemented):\n", total,
            total == 1 ? "" : "s");
    for (int i = 0; i < NR_SYSCALLS; i++)
        if (enosys_count[i])
            kprintf("[uno]   %-20s (%3d) x%u\n", sys_name((u64)i), i, enosys_count[i]);
    if (enosys_other)
        kprintf("[uno]   numbers beyond %d x%u\n", NR_SYSCALLS - 1, enosys_other);
}
