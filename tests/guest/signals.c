/* Signals within one process: sigaction with SA_SIGINFO (si_code of kill, sigqueue, raise,
 * tgkill, tkill), SA_RESETHAND, SA_NODEFER, sa_mask, masks and pending sets, coalescing and
 * queueing (real-time signals), delivery order, sigaltstack with SA_ONSTACK, sigwaitinfo and
 * sigtimedwait on signals sent to itself, faults caught by handlers with their siginfo
 * (SIGSEGV MAPERR/ACCERR, SIGBUS, SIGFPE, SIGILL, SIGTRAP), siglongjmp out of a handler,
 * a handler changing the interrupted context, stack overflow caught on the alternate stack,
 * and default actions (in children: the initial process is PID 1 in uno, which Linux protects
 * from default actions). Exits 1 (with a message on stderr) if a check failed. */
#include "guest.h"
#include <fcntl.h>
#include <setjmp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static const char *codename(int sig, int code)
{
    static char b[32];
    switch (code) {
    case SI_USER: return "SI_USER";
    case SI_KERNEL: return "SI_KERNEL";
    case SI_QUEUE: return "SI_QUEUE";
    case SI_TKILL: return "SI_TKILL";
    case SI_TIMER: return "SI_TIMER";
    }
    if (sig == SIGSEGV && code == SEGV_MAPERR) return "SEGV_MAPERR";
    if (sig == SIGSEGV && code == SEGV_ACCERR) return "SEGV_ACCERR";
    if (sig == SIGBUS && code == BUS_ADRERR) return "BUS_ADRERR";
    if (sig == SIGBUS && code == BUS_ADRALN) return "BUS_ADRALN";
    if (sig == SIGFPE && code == FPE_INTDIV) return "FPE_INTDIV";
    if (sig == SIGFPE && code == FPE_INTOVF) return "FPE_INTOVF";
    if (sig == SIGILL && code == ILL_ILLOPN) return "ILL_ILLOPN";
    if (sig == SIGTRAP && code == TRAP_BRKPT) return "TRAP_BRKPT";
    snprintf(b, sizeof b, "code %d", code);
    return b;
}

/* ---- what handlers record ---- */
static volatile sig_atomic_t hits, depth, max_depth;
static volatile int last_signo, last_code, last_pid, last_uid, last_value, last_errno;
static volatile int order[16], norder;
static sigset_t mask_in_handler;

static void on_info(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    hits++;
    last_signo = si->si_signo;
    last_code = si->si_code;
    last_pid = si->si_pid;
    last_uid = (int)si->si_uid;
    last_value = si->si_value.sival_int;
    last_errno = si->si_errno;
    if (norder < 16) order[norder++] = sig;
    sigprocmask(SIG_SETMASK, NULL, &mask_in_handler);
}

static void on_plain(int sig)
{
    hits++;
    if (norder < 16) order[norder++] = sig;
    sigprocmask(SIG_SETMASK, NULL, &mask_in_handler);
}

static void on_nested(int sig)
{
    hits++;
    depth++;
    if (depth > max_depth) max_depth = depth;
    if (hits == 1) raise(sig); /* once, from inside the handler */
    depth--;
}

static void reset_rec(void)
{
    hits = depth = max_depth = 0;
    last_signo = last_code = last_pid = last_uid = last_value = last_errno = 0;
    norder = 0;
}

static void set_handler(int sig, void (*fn)(int, siginfo_t *, void *), int flags)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) < 0) {
        fprintf(stderr, "sigaction(%d): %s\n", sig, strerror(errno));
        guest_failures++;
    }
}

static void set_plain(int sig, void (*fn)(int), int flags)
{
    struct sigaction sa = {0};
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static int is_pending(int sig)
{
    sigset_t p;
    sigpending(&p);
    return sigismember(&p, sig);
}

static void siginfo_tests(void)
{
    section("SA_SIGINFO: kill to itself");
    set_handler(SIGUSR1, on_info, 0);
    reset_rec();
    kill(getpid(), SIGUSR1);
    printf("handler ran before kill returned: %s\n", yesno(hits == 1));
    printf("si_signo=%d si_code=%s si_errno=%d\n", last_signo, codename(SIGUSR1, last_code),
           last_errno);
    EXPECT("si_pid==getpid()", last_pid == getpid());
    EXPECT("si_uid==getuid()", last_uid == (int)getuid());

    section("sigqueue");
    reset_rec();
    union sigval v = {.sival_int = 4242};
    sigqueue(getpid(), SIGUSR1, v);
    printf("si_code=%s si_value=%d si_pid ok: %s\n", codename(SIGUSR1, last_code), last_value,
           yesno(last_pid == getpid()));

    section("raise, tgkill, tkill");
    reset_rec();
    raise(SIGUSR1);
    printf("raise: hits=%d si_code=%s si_pid ok: %s\n", hits, codename(SIGUSR1, last_code),
           yesno(last_pid == getpid()));
    pid_t tid = (pid_t)syscall(SYS_gettid);
    printf("gettid()==getpid() (single-threaded): %s\n", yesno(tid == getpid()));
    reset_rec();
    long r = syscall(SYS_tgkill, getpid(), tid, SIGUSR1);
    printf("tgkill: %ld hits=%d si_code=%s\n", r, hits, codename(SIGUSR1, last_code));
    reset_rec();
    r = syscall(SYS_tkill, tid, SIGUSR1);
    printf("tkill: %ld hits=%d si_code=%s\n", r, hits, codename(SIGUSR1, last_code));
    errno = 0;
    r = syscall(SYS_tgkill, getpid() + 100000, tid, SIGUSR1);
    printf("tgkill with a wrong tgid: %s\n", r < 0 ? errname(errno) : "ok");
    errno = 0;
    r = syscall(SYS_tgkill, getpid(), tid, 0);
    printf("tgkill signal 0: %s\n", r < 0 ? errname(errno) : "ok");
    errno = 0;
    r = syscall(SYS_tkill, -1, SIGUSR1);
    printf("tkill(-1): %s\n", r < 0 ? errname(errno) : "ok");

    section("kill errors and signal 0");
    OKAY("kill(self, 0)", kill(getpid(), 0));
    OKAY("kill(self, 65)", kill(getpid(), 65));
    OKAY("kill(self, -1)", kill(getpid(), -1));
    pid_t pid = xfork();
    if (pid == 0) _exit(0);
    waitpid(pid, NULL, 0);
    OKAY("kill(a reaped child, 0)", kill(pid, 0));
    OKAY("kill(a reaped child, SIGTERM)", kill(pid, SIGTERM));
    OKAY("kill(INT_MIN, 0)", kill(-2147483647 - 1, 0));
}

static void flag_tests(void)
{
    section("SA_RESETHAND");
    reset_rec();
    set_plain(SIGUSR2, on_plain, SA_RESETHAND);
    raise(SIGUSR2);
    struct sigaction old;
    sigaction(SIGUSR2, NULL, &old);
    printf("ran once: %s\n", yesno(hits == 1));
    printf("disposition is SIG_DFL afterwards: %s\n", yesno(old.sa_handler == SIG_DFL));
    printf("the signal was blocked in the handler: %s\n", yesno(sigismember(&mask_in_handler, SIGUSR2)));

    section("without SA_NODEFER: a signal raised in its handler waits");
    reset_rec();
    set_plain(SIGUSR2, on_nested, 0);
    raise(SIGUSR2);
    printf("handler runs: %d, deepest nesting: %d\n", hits, max_depth);

    section("SA_NODEFER: a signal raised in its handler nests");
    reset_rec();
    set_plain(SIGUSR2, on_nested, SA_NODEFER);
    raise(SIGUSR2);
    printf("handler runs: %d, deepest nesting: %d\n", hits, max_depth);

    section("sa_mask and the mask in a handler");
    reset_rec();
    struct sigaction sa = {0};
    sa.sa_handler = on_plain;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGHUP);
    sigaddset(&sa.sa_mask, SIGRTMIN + 2);
    sigaction(SIGUSR2, &sa, NULL);
    block(SIGWINCH, SIG_BLOCK);
    raise(SIGUSR2);
    printf("in the handler: SIGUSR2 %s, SIGHUP %s, SIGRTMIN+2 %s, SIGWINCH %s, SIGINT %s\n",
           sigismember(&mask_in_handler, SIGUSR2) ? "blocked" : "open",
           sigismember(&mask_in_handler, SIGHUP) ? "blocked" : "open",
           sigismember(&mask_in_handler, SIGRTMIN + 2) ? "blocked" : "open",
           sigismember(&mask_in_handler, SIGWINCH) ? "blocked" : "open",
           sigismember(&mask_in_handler, SIGINT) ? "blocked" : "open");
    sigset_t now;
    sigprocmask(SIG_SETMASK, NULL, &now);
    printf("after it: SIGUSR2 %s, SIGHUP %s, SIGWINCH %s\n",
           sigismember(&now, SIGUSR2) ? "blocked" : "open",
           sigismember(&now, SIGHUP) ? "blocked" : "open",
           sigismember(&now, SIGWINCH) ? "blocked" : "open");
    block(SIGWINCH, SIG_UNBLOCK);

    section("sigaction flags read back");
    set_plain(SIGUSR2, on_plain, SA_RESTART | SA_NODEFER);
    sigaction(SIGUSR2, NULL, &old);
    printf("SA_RESTART: %s, SA_NODEFER: %s, SA_SIGINFO: %s\n", yesno(old.sa_flags & SA_RESTART),
           yesno(old.sa_flags & SA_NODEFER), yesno(old.sa_flags & SA_SIGINFO));
    signal(SIGUSR2, on_plain);
    sigaction(SIGUSR2, NULL, &old);
    printf("signal() installs SA_RESTART: %s\n", yesno(old.sa_flags & SA_RESTART));
    signal(SIGUSR2, SIG_DFL);

    section("sigaction errors");
    sa.sa_handler = on_plain;
    OKAY("sigaction(SIGKILL)", sigaction(SIGKILL, &sa, NULL));
    OKAY("sigaction(SIGSTOP)", sigaction(SIGSTOP, &sa, NULL));
    OKAY("sigaction(SIGKILL, NULL, &old)", sigaction(SIGKILL, NULL, &old));
    OKAY("sigaction(0)", sigaction(0, &sa, NULL));
    OKAY("sigaction(65)", sigaction(65, &sa, NULL));
    OKAY("rt_sigaction with a wrong sigsetsize",
         syscall(SYS_rt_sigaction, SIGUSR2, NULL, &old, 4));
    OKAY("sigprocmask with a bad how", syscall(SYS_rt_sigprocmask, 99, &now, NULL, 8));
}

static void mask_tests(void)
{
    section("blocked, pending, delivered on unblock");
    set_handler(SIGUSR1, on_info, 0);
    reset_rec();
    block(SIGUSR1, SIG_BLOCK);
    kill(getpid(), SIGUSR1);
    printf("delivered while blocked: %s\n", yesno(hits));
    printf("pending: %s\n", yesno(is_pending(SIGUSR1)));
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR1);
    block(SIGUSR1, SIG_UNBLOCK);
    printf("after unblocking, handler runs (standard signals coalesce): %d\n", hits);
    printf("pending afterwards: %s\n", yesno(is_pending(SIGUSR1)));

    section("real-time signals queue, in order");
    int rt = SIGRTMIN + 1;
    set_handler(rt, on_info, 0);
    reset_rec();
    block(rt, SIG_BLOCK);
    static int values[3];
    for (int i = 0; i < 3; i++) {
        union sigval v = {.sival_int = 10 + i};
        sigqueue(getpid(), rt, v);
    }
    /* the values as the handler sees them, one per run */
    struct sigaction sa = {0};
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, rt);
    for (int i = 0; i < 3; i++) {
        siginfo_t si;
        struct timespec z = {0, 0};
        values[i] = sigtimedwait(&one, &si, &z) == rt ? si.si_value.sival_int : -1;
    }
    printf("queued values taken in order: %d %d %d\n", values[0], values[1], values[2]);
    for (int i = 0; i < 3; i++) sigqueue(getpid(), rt, (union sigval){.sival_int = i});
    block(rt, SIG_UNBLOCK);
    printf("handler runs after unblocking: %d\n", hits);
    (void)sa;

    sigset_t m, old;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    sigaddset(&m, SIGUSR2);
    sigaddset(&m, SIGHUP);
    sigaddset(&m, SIGRTMIN);
    sigaddset(&m, SIGRTMIN + 3);
    for (int nested = 0; nested < 2; nested++) {
        /* With every signal in sa_mask, handlers run one after the other, lowest number
         * first; with an empty sa_mask, Linux sets up all the frames at once, lowest number
         * first, so the handlers start in the reverse order. */
        section(nested ? "delivery order of pending signals, empty sa_mask (nested frames)"
                       : "delivery order of pending signals, full sa_mask");
        int sigs[] = {SIGUSR1, SIGUSR2, SIGHUP, SIGRTMIN, SIGRTMIN + 3};
        for (int i = 0; i < 5; i++) {
            struct sigaction a = {0};
            a.sa_sigaction = on_info;
            a.sa_flags = SA_SIGINFO;
            if (nested) sigemptyset(&a.sa_mask);
            else sigfillset(&a.sa_mask);
            sigaction(sigs[i], &a, NULL);
        }
        reset_rec();
        sigprocmask(SIG_BLOCK, &m, &old);
        kill(getpid(), SIGRTMIN + 3);
        kill(getpid(), SIGUSR2);
        kill(getpid(), SIGRTMIN);
        kill(getpid(), SIGUSR1);
        kill(getpid(), SIGHUP);
        sigprocmask(SIG_SETMASK, &old, NULL);
        printf("order:");
        for (int i = 0; i < norder; i++) {
            int s = order[i];
            if (s >= SIGRTMIN) printf(" RTMIN+%d", s - SIGRTMIN);
            else printf(" %d", s);
        }
        printf("\n");
    }

    section("SIGKILL and SIGSTOP cannot be blocked");
    sigfillset(&m);
    sigprocmask(SIG_SETMASK, &m, &old);
    sigset_t now;
    sigprocmask(SIG_SETMASK, &old, &now);
    printf("SIGKILL in the mask: %s, SIGSTOP: %s, SIGTERM: %s\n", yesno(sigismember(&now, SIGKILL)),
           yesno(sigismember(&now, SIGSTOP)), yesno(sigismember(&now, SIGTERM)));

    section("ignoring a pending signal discards it");
    block(SIGUSR2, SIG_BLOCK);
    raise(SIGUSR2);
    printf("pending: %s\n", yesno(is_pending(SIGUSR2)));
    signal(SIGUSR2, SIG_IGN);
    printf("pending after SIG_IGN: %s\n", yesno(is_pending(SIGUSR2)));
    block(SIGUSR2, SIG_UNBLOCK);
    raise(SIGUSR2);
    printf("an ignored signal is not even queued while blocked: %s\n", yesno(!is_pending(SIGUSR2)));
    signal(SIGUSR2, SIG_DFL);
}

static char *alt;
static size_t alt_size;
static volatile int on_alt, alt_flags;

static void on_stack(int sig)
{
    (void)sig;
    char local;
    on_alt = &local >= alt && &local < alt + alt_size;
    stack_t cur;
    sigaltstack(NULL, &cur);
    alt_flags = cur.ss_flags;
}

static void altstack_tests(void)
{
    section("sigaltstack and SA_ONSTACK");
    stack_t ss, old;
    sigaltstack(NULL, &old);
    printf("initially disabled: %s\n", yesno(old.ss_flags & SS_DISABLE));
    alt_size = 64 * 1024;
    alt = mmap(NULL, alt_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ss.ss_sp = alt;
    ss.ss_size = 1024;
    ss.ss_flags = 0;
    OKAY("a stack below MINSIGSTKSZ", sigaltstack(&ss, NULL));
    ss.ss_size = alt_size;
    ss.ss_flags = 0x1234;
    OKAY("unknown flags", sigaltstack(&ss, NULL));
    ss.ss_flags = 0;
    OKAY("sigaltstack", sigaltstack(&ss, NULL));
    sigaltstack(NULL, &old);
    printf("read back: same size %s, same base %s, flags %d\n", yesno(old.ss_size == alt_size),
           yesno(old.ss_sp == alt), old.ss_flags);
    set_plain(SIGUSR2, on_stack, SA_ONSTACK);
    raise(SIGUSR2);
    printf("SA_ONSTACK handler ran on the alternate stack: %s, SS_ONSTACK set there: %s\n",
           yesno(on_alt), yesno(alt_flags & SS_ONSTACK));
    set_plain(SIGUSR2, on_stack, 0);
    raise(SIGUSR2);
    printf("without SA_ONSTACK: on the alternate stack: %s\n", yesno(on_alt));
    ss.ss_flags = SS_DISABLE;
    OKAY("disable", sigaltstack(&ss, NULL));
    set_plain(SIGUSR2, on_stack, SA_ONSTACK);
    raise(SIGUSR2);
    printf("SA_ONSTACK with the stack disabled: on it: %s\n", yesno(on_alt));
    signal(SIGUSR2, SIG_DFL);
}

static void sigwait_tests(void)
{
    section("sigwaitinfo and sigtimedwait");
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    sigaddset(&m, SIGUSR2);
    sigprocmask(SIG_BLOCK, &m, NULL);
    kill(getpid(), SIGUSR2);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r = sigwaitinfo(&m, &si);
    printf("sigwaitinfo: %d si_code=%s si_pid ok: %s\n", r, codename(r, si.si_code),
           yesno(si.si_pid == getpid()));
    printf("no longer pending: %s\n", yesno(!is_pending(SIGUSR2)));
    struct timespec z = {0, 0};
    errno = 0;
    r = sigtimedwait(&m, &si, &z);
    printf("sigtimedwait with nothing pending, zero timeout: %s\n", r < 0 ? errname(errno) : "a signal");
    struct timespec t0, t1, ts = {0, 30 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    errno = 0;
    r = sigtimedwait(&m, &si, &ts);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    printf("sigtimedwait 30 ms: %s, waited >= 29 ms: %s\n", r < 0 ? errname(errno) : "a signal",
           yesno(ms >= 29));
    sigqueue(getpid(), SIGUSR1, (union sigval){.sival_int = 7});
    r = sigtimedwait(&m, &si, &z);
    printf("sigtimedwait on a queued SIGUSR1: %d si_code=%s value=%d\n", r, codename(r, si.si_code),
           si.si_value.sival_int);
    sigprocmask(SIG_UNBLOCK, &m, NULL);
}

/* ---- faults ---- */
static sigjmp_buf jb;
static volatile void *fault_addr;
static volatile int fault_sig, fault_code;
static volatile unsigned long fault_rip;
static volatile int resume, skip_bytes; /* resume: return (RIP += skip_bytes), else siglongjmp */

static void on_fault(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    fault_sig = sig;
    fault_code = si->si_code;
    fault_addr = si->si_addr;
    fault_rip = (unsigned long)uc->uc_mcontext.gregs[REG_RIP];
    if (resume) {
        uc->uc_mcontext.gregs[REG_RIP] += skip_bytes; /* resume after the instruction */
        return;
    }
    siglongjmp(jb, 1);
}

static void show_fault(const char *what, const void *want_addr)
{
    printf("%s: sig=%d %s si_addr is the address: %s\n", what, fault_sig,
           codename(fault_sig, fault_code), yesno(fault_addr == want_addr));
}

static volatile int sink;

/* A pointer the compiler cannot see through (it would warn about constant addresses). */
static volatile int *at_addr(uintptr_t a)
{
    volatile uintptr_t x = a;
    return (volatile int *)x;
}

static void fault_tests(void)
{
    set_handler(SIGSEGV, on_fault, 0);
    set_handler(SIGBUS, on_fault, 0);
    set_handler(SIGFPE, on_fault, 0);
    set_handler(SIGILL, on_fault, 0);
    set_handler(SIGTRAP, on_fault, 0);

    section("SIGSEGV caught: unmapped address (SEGV_MAPERR)");
    resume = 0;
    fault_sig = 0;
    if (sigsetjmp(jb, 1) == 0) {
        sink = *at_addr(0x10);
        printf("no fault\n");
    }
    show_fault("read of 0x10", (void *)0x10);
    char *gap = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(gap + 4096, 4096);
    fault_sig = 0;
    if (sigsetjmp(jb, 1) == 0) {
        gap[4096 + 123] = 1;
        printf("no fault\n");
    }
    show_fault("write into an unmapped hole", gap + 4096 + 123);
    sigset_t now;
    sigprocmask(SIG_SETMASK, NULL, &now);
    printf("SIGSEGV unblocked after siglongjmp (savesigs=1): %s\n", yesno(!sigismember(&now, SIGSEGV)));

    section("SIGSEGV caught: protection (SEGV_ACCERR)");
    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fault_sig = 0;
    if (sigsetjmp(jb, 1) == 0) {
        ((volatile char *)ro)[8] = 1;
        printf("no fault\n");
    }
    show_fault("write to a PROT_READ page", ro + 8);
    char *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fault_sig = 0;
    if (sigsetjmp(jb, 1) == 0) {
        sink = ((volatile char *)none)[100];
        printf("no fault\n");
    }
    show_fault("read of a PROT_NONE page", none + 100);
    static const char lit[] = "read-only data";
    fault_sig = 0;
    if (sigsetjmp(jb, 1) == 0) {
        ((volatile char *)lit)[2] = 'X';
        printf("no fault\n");
    }
    show_fault("write to .rodata", lit + 2);
    char *nx = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    nx[0] = (char)0xc3; /* ret */
    fault_sig = 0;
    if (sigsetjmp(jb, 1) == 0) {
        ((void (*)(void))nx)();
        printf("no fault\n");
    }
    show_fault("call into a non-executable page", nx);
    printf("RIP at the fault is the page: %s\n", yesno(fault_rip == (unsigned long)nx));

    section("SIGSEGV caught: non-canonical address (general protection)");
    fault_sig = 0;
    if (sigsetjmp(jb, 1) == 0) {
        sink = *at_addr(0x8000000000000000ull);
        printf("no fault\n");
    }
    printf("sig=%d %s si_addr is 0: %s\n", fault_sig, codename(fault_sig, fault_code),
           yesno(fault_addr == NULL));

    section("SIGSEGV from kill() is SI_USER");
    fault_sig = 0;
    if (sigsetjmp(jb, 1) == 0) {
        kill(getpid(), SIGSEGV);
        printf("no signal\n");
    }
    printf("sig=%d %s\n", fault_sig, codename(fault_sig, fault_code));

    section("SIGBUS caught: mapping past the end of a file");
    char path[64];
    snprintf(path, sizeof path, "/tmp/uno-signals-%d", (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    unlink(path);
    if (fd < 0 || ftruncate(fd, 100) < 0) printf("file: %s\n", errname(errno));
    char *fm = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    fault_sig = 0;
    if (sigsetjmp(jb, 1) == 0) {
        sink = ((volatile char *)fm)[200]; /* same page as the end of file: fine */
        sink = ((volatile char *)fm)[4096 + 5];
        printf("no fault\n");
    }
    show_fault("read of the page after the end of file", fm + 4096 + 5);
    munmap(fm, 2 * 4096);
    close(fd);

    section("SIGFPE caught, resumed after the instruction");
    resume = 1;
    skip_bytes = 2;
    fault_sig = 0;
    unsigned long at;
    __asm__ volatile("lea 1f(%%rip), %0\n\t"
                     "xor %%ecx, %%ecx\n\t"
                     "mov $1, %%eax\n\t"
                     "cltd\n"
                     "1:\tidivl %%ecx\n\t" /* f7 f9: 2 bytes */
                     : "=r"(at)
                     :
                     : "eax", "ecx", "edx", "cc");
    printf("divide by zero: sig=%d %s si_addr is the instruction: %s RIP too: %s\n", fault_sig,
           codename(fault_sig, fault_code), yesno(fault_addr == (void *)at),
           yesno(fault_rip == at));
    fault_sig = 0;
    __asm__ volatile("lea 1f(%%rip), %0\n\t"
                     "mov $-1, %%ecx\n\t"
                     "mov $0x80000000, %%eax\n\t"
                     "cltd\n"
                     "1:\tidivl %%ecx\n\t"
                     : "=r"(at)
                     :
                     : "eax", "ecx", "edx", "cc");
    printf("INT_MIN / -1: sig=%d %s\n", fault_sig, codename(fault_sig, fault_code));

    section("SIGILL caught, resumed after the instruction");
    fault_sig = 0;
    __asm__ volatile("lea 1f(%%rip), %0\n"
                     "1:\tud2\n\t" /* 0f 0b: 2 bytes */
                     : "=r"(at));
    printf("ud2: sig=%d %s si_addr is the instruction: %s RIP too: %s\n", fault_sig,
           codename(fault_sig, fault_code), yesno(fault_addr == (void *)at),
           yesno(fault_rip == at));

    section("SIGTRAP caught: int3");
    resume = 1;
    skip_bytes = 0;
    fault_sig = 0;
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGTRAP, &sa, NULL);
    /* int3 traps after the instruction: returning from the handler continues. */
    volatile int after = 0;
    __asm__ volatile("lea 1f(%%rip), %0\n\t"
                     "int3\n"
                     "1:\n\t"
                     : "=r"(at));
    after = 1;
    printf("int3: sig=%d %s RIP after the int3: %s continued: %s\n", fault_sig,
           codename(fault_sig, fault_code), yesno(fault_rip == at), yesno(after));

    section("siglongjmp without a saved mask leaves SIGSEGV blocked");
    resume = 0;
    fault_sig = 0;
    if (sigsetjmp(jb, 0) == 0) {
        sink = *at_addr(0x18);
    }
    sigprocmask(SIG_SETMASK, NULL, &now);
    printf("caught: %s, SIGSEGV blocked now: %s\n", yesno(fault_sig == SIGSEGV),
           yesno(sigismember(&now, SIGSEGV)));
    block(SIGSEGV, SIG_UNBLOCK);

    section("registers preserved across a fault handler");
    resume = 1;
    skip_bytes = 2;
    fault_sig = 0;
    sigprocmask(SIG_SETMASK, NULL, &now);
    sa.sa_sigaction = on_fault;
    sigaction(SIGILL, &sa, NULL);
    unsigned long rbx_before = 0x1111, rbx_after;
    __asm__ volatile("mov %1, %%rbx\n\t"
                     "ud2\n\t"
                     "mov %%rbx, %0\n\t"
                     : "=r"(rbx_after)
                     : "r"(rbx_before)
                     : "rbx");
    printf("registers preserved across the handler: %s\n", yesno(rbx_after == 0x1111));
    resume = skip_bytes = 0;
    munmap(gap, 3 * 4096);
    munmap(ro, 4096);
    munmap(none, 4096);
    munmap(nx, 4096);
}

static volatile int overflow_depth, depth_limit = 1 << 30;
__attribute__((noinline)) static int recurse(volatile char *prev)
{
    volatile char buf[1024];
    buf[0] = prev ? prev[0] + 1 : 0;
    if (++overflow_depth >= depth_limit) return 0;
    return recurse(buf) + buf[10];
}

static void overflow_test(void)
{
    section("stack overflow caught on the alternate stack");
    stack_t ss = {.ss_sp = alt, .ss_size = alt_size, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    resume = 0;
    fault_sig = 0;
    overflow_depth = 0;
    if (sigsetjmp(jb, 1) == 0) {
        recurse(NULL);
        printf("no fault\n");
    }
    printf("caught SIGSEGV: %s, recursed more than 1000 frames: %s\n",
           yesno(fault_sig == SIGSEGV), yesno(overflow_depth > 1000));
    /* and once more: the alternate stack is usable again */
    fault_sig = 0;
    overflow_depth = 0;
    if (sigsetjmp(jb, 1) == 0) recurse(NULL);
    printf("caught again: %s\n", yesno(fault_sig == SIGSEGV));
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    signal(SIGSEGV, SIG_DFL);
}

static void no_core(void)
{
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
}

static void defaults(void)
{
    section("default actions (in children)");
    struct {
        const char *name;
        int sig;
    } cases[] = {{"SIGTERM", SIGTERM}, {"SIGUSR1", SIGUSR1}, {"SIGALRM", SIGALRM},
                 {"SIGHUP", SIGHUP},   {"SIGINT", SIGINT},   {"SIGPIPE", SIGPIPE},
                 {"SIGQUIT", SIGQUIT}, {"SIGCHLD", SIGCHLD}, {"SIGWINCH", SIGWINCH},
                 {"SIGURG", SIGURG},   {"SIGCONT", SIGCONT}, {"SIGRTMIN", 0},
                 {"SIGSYS", SIGSYS},   {"SIGXCPU", SIGXCPU}, {"SIGVTALRM", SIGVTALRM}};
    for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++) {
        int sig = cases[i].sig ? cases[i].sig : SIGRTMIN;
        pid_t pid = xfork();
        if (pid == 0) {
            no_core();
            signal(sig, SIG_DFL);
            kill(getpid(), sig);
            _exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
        printf("%s: %s\n", cases[i].name, wstr(st));
    }
    pid_t pid = xfork();
    if (pid == 0) {
        block(SIGTERM, SIG_BLOCK);
        raise(SIGTERM);
        if (write(1, "", 0) < 0) {}
        block(SIGTERM, SIG_UNBLOCK); /* dies here */
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("SIGTERM blocked, then unblocked: %s\n", wstr(st));
    pid = xfork();
    if (pid == 0) {
        signal(SIGTERM, SIG_IGN);
        raise(SIGTERM);
        _exit(3);
    }
    waitpid(pid, &st, 0);
    printf("SIGTERM ignored: %s\n", wstr(st));
    pid = xfork();
    if (pid == 0) {
        signal(SIGKILL, SIG_IGN); /* refused */
        raise(SIGKILL);
        _exit(3);
    }
    waitpid(pid, &st, 0);
    printf("SIGKILL after trying to ignore it: %s\n", wstr(st));
    pid = xfork();
    if (pid == 0) {
        no_core();
        signal(SIGSEGV, SIG_IGN); /* a fault's SIGSEGV still kills */
        sink = *at_addr(0x20);
        _exit(3);
    }
    waitpid(pid, &st, 0);
    printf("a fault with SIGSEGV ignored: %s\n", wstr(st));
    pid = xfork();
    if (pid == 0) {
        no_core();
        block(SIGSEGV, SIG_BLOCK); /* a fault's SIGSEGV still kills */
        sink = *at_addr(0x20);
        _exit(3);
    }
    waitpid(pid, &st, 0);
    printf("a fault with SIGSEGV blocked: %s\n", wstr(st));
}

int main(void)
{
    default_signals();
    start_watchdog_child();
    siginfo_tests();
    flag_tests();
    mask_tests();
    altstack_tests();
    sigwait_tests();
    fault_tests();
    overflow_test();
    defaults();
    stop_watchdog_child();
    if (guest_failures) fprintf(stderr, "signals: %d check(s) failed\n", guest_failures);
    return guest_failures ? 1 : 0;
}
