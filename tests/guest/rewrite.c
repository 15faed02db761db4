/* What syscall-site rewriting (libos/arch/x86_64/rewrite.c) must not change, each checked on
 * the first call of a site (which traps) and on later calls (rewritten in uno): the red zone
 * below rsp survives a syscall, rcx/r11 are clobbered as `syscall` clobbers them and nothing
 * else is, a signal arriving in a loop of syscalls, a read restarted under SA_RESTART, fork
 * and vfork children running rewritten sites, code generated at run time (and generated
 * again with another system call at the same place), and code on a shared file mapping.
 * Natively everything traps; the output must be the same. Exits 1 if a CHECK failed. */
#include "guest.h"
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

/* A leaf function that keeps a value in the red zone across `mov $39, %eax; syscall`
 * (getpid) and returns what it finds there afterwards. */
__attribute__((noinline)) static long red_zone_getpid(long *pid)
{
    long kept, ret;
    __asm__ volatile("movq $0x1122334455667788, %%rdx\n\t"
                     "movq %%rdx, -8(%%rsp)\n\t"
                     "movq %%rdx, -16(%%rsp)\n\t"
                     "mov $39, %%eax\n\t"
                     "syscall\n\t"
                     "movq -8(%%rsp), %%rdx\n\t"
                     "xorq -16(%%rsp), %%rdx\n\t"
                     "addq -8(%%rsp), %%rdx\n\t"
                     : "=a"(ret), "=d"(kept)
                     :
                     : "rcx", "r11", "memory");
    *pid = ret;
    return kept;
}

/* Registers other than rax, rcx and r11 survive the call; returns how many changed. */
__attribute__((noinline)) static int regs_kept(void)
{
    long out[6];
    __asm__ volatile("mov $0x101, %%rdi\n\t"
                     "mov $0x202, %%rsi\n\t"
                     "mov $0x303, %%rdx\n\t"
                     "mov $0x404, %%r8\n\t"
                     "mov $0x505, %%r9\n\t"
                     "mov $0x606, %%r10\n\t"
                     "mov $39, %%eax\n\t"
                     "syscall\n\t"
                     "mov %%rdi, 0(%[o])\n\t"
                     "mov %%rsi, 8(%[o])\n\t"
                     "mov %%rdx, 16(%[o])\n\t"
                     "mov %%r8, 24(%[o])\n\t"
                     "mov %%r9, 32(%[o])\n\t"
                     "mov %%r10, 40(%[o])\n\t"
                     :
                     : [o] "r"(out)
                     : "rax", "rcx", "r11", "rdi", "rsi", "rdx", "r8", "r9", "r10", "memory");
    int changed = 0;
    for (int i = 0; i < 6; i++)
        changed += out[i] != (long)(0x101 * (i + 1));
    return changed;
}

static void red_zone(void)
{
    section("the red zone and registers across a syscall site");
    int bad = 0, badregs = 0;
    for (int i = 0; i < 1000; i++) {
        long pid;
        if (red_zone_getpid(&pid) != 0x1122334455667788 || pid != getpid())
            bad++;
        badregs += regs_kept();
    }
    printf("red zone intact on every call: %s\n", yesno(bad == 0));
    printf("rdi..r10 kept on every call: %s\n", yesno(badregs == 0));
}

static volatile sig_atomic_t ticks;
static void on_tick(int sig) { (void)sig; ticks++; }

static void signals(void)
{
    section("signals while syscall sites run");
    struct sigaction sa = {.sa_handler = on_tick, .sa_flags = SA_RESTART};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 2000}, {0, 2000}};
    setitimer(ITIMER_REAL, &it, NULL);
    long sum = 0;
    pid_t me = getpid();
    for (long i = 0; i < 100000000 && ticks < 20; i++)
        sum += getpid() == me;
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("signals arrived during a loop of getpid: %s\n", yesno(ticks >= 20));
    printf("every getpid right: %s\n", yesno(sum > 0));
    /* A read restarted after a handler (SA_RESTART): the rewritten site's restart. */
    int p[2];
    if (pipe(p))
        guest_failures++;
    char c = 0;
    for (int round = 0; round < 3; round++) {
        pid_t child = fork();
        if (child == 0) {
            struct timespec ts = {0, 50000000};
            nanosleep(&ts, NULL);
            kill(getppid(), SIGALRM);
            nanosleep(&ts, NULL);
            if (write(p[1], "x", 1) != 1)
                _exit(1);
            _exit(0);
        }
        ticks = 0;
        ssize_t n = read(p[0], &c, 1);
        waitpid(child, NULL, 0);
        printf("round %d: read restarted after the handler: %s\n", round,
               yesno(n == 1 && c == 'x' && ticks == 1));
    }
    close(p[0]);
    close(p[1]);
}

static void children(void)
{
    section("fork and vfork children on rewritten sites");
    pid_t me = getpid();
    for (int i = 0; i < 3; i++)
        getppid();
    pid_t child = fork();
    if (child == 0)
        _exit(getppid() == me && getpid() != me ? 0 : 1);
    int st;
    waitpid(child, &st, 0);
    printf("fork child: %s\n", yesno(WIFEXITED(st) && WEXITSTATUS(st) == 0));
    child = vfork();
    if (child == 0)
        _exit(getppid() == me ? 0 : 1);
    waitpid(child, &st, 0);
    printf("vfork child: %s\n", yesno(WIFEXITED(st) && WEXITSTATUS(st) == 0));
    printf("parent after both: %s\n", yesno(getpid() == me));
}

/* `mov $nr, %eax; syscall; ret` in memory we write. */
static void emit(unsigned char *code, int nr)
{
    unsigned char c[] = {0xb8, (unsigned char)nr, 0, 0, 0, 0x0f, 0x05, 0xc3};
    memcpy(code, c, sizeof c);
}

static void generated_code(void)
{
    section("code generated at run time");
    unsigned char *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) {
        printf("mmap RWX: %s\n", errname(errno));
        return;
    }
    long (*fn)(void) = (long (*)(void))code;
    emit(code + 16, SYS_getpid);
    fn = (long (*)(void))(code + 16);
    int ok = 1;
    for (int i = 0; i < 5; i++)
        ok &= fn() == getpid();
    printf("generated getpid, called 5 times: %s\n", yesno(ok));
    emit(code + 16, SYS_getppid); /* the same place, another call */
    ok = 1;
    for (int i = 0; i < 5; i++)
        ok &= fn() == getppid();
    printf("regenerated as getppid at the same place: %s\n", yesno(ok));
    munmap(code, 4096);

    char path[] = "/tmp/rewrite.XXXXXX";
    int fd = mkstemp(path);
    unsigned char page[4096] = {0};
    emit(page, SYS_getpid);
    if (write(fd, page, sizeof page) != (ssize_t)sizeof page)
        guest_failures++;
    unsigned char *shared = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    if (shared == MAP_FAILED) {
        printf("mmap shared exec: %s\n", errname(errno));
    } else {
        fn = (long (*)(void))shared;
        ok = 1;
        for (int i = 0; i < 5; i++)
            ok &= fn() == getpid();
        unsigned char now[8];
        pread(fd, now, 8, 0);
        printf("code on a shared file mapping runs: %s\n", yesno(ok));
        printf("and the file is unchanged: %s\n", yesno(memcmp(now, page, 8) == 0));
        munmap(shared, 4096);
    }
    close(fd);
    unlink(path);
}

/* The libOS writes a new page of stubs while memory is nearly all used (then new mappings
 * are filled on first touch): the stubs must be there all the same. Far from the other code,
 * so that the site needs a stub page of its own. */
static void low_memory_site(void)
{
    section("a new syscall site while memory is nearly all used");
    long free_kb = -1;
    FILE *m = fopen("/proc/meminfo", "r");
    char line[128];
    while (m && fgets(line, sizeof line, m))
        if (sscanf(line, "MemFree: %ld kB", &free_kb) == 1)
            break;
    if (m)
        fclose(m);
    if (free_kb < 4096) {
        printf("MemFree: %ld kB\n", free_kb);
        guest_failures++;
        return;
    }
    size_t take = (size_t)(free_kb - 1024) << 10;
    if (take > (256ul << 20))
        take = 256ul << 20; /* natively: enough */
    unsigned char *fill = mmap(NULL, take, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (fill == MAP_FAILED) {
        printf("mmap: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    for (size_t off = 0; off < take; off += 4096)
        fill[off] = 1;
    unsigned char *code = mmap((void *)0x300000000000ul, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) {
        printf("mmap RWX: %s\n", errname(errno));
        guest_failures++;
    } else {
        /* rax = -1 before the site: code that is not the stub faults on it at once. */
        static const unsigned char bad_rax[] = {0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff};
        memcpy(code, bad_rax, sizeof bad_rax);
        emit(code + sizeof bad_rax, SYS_getpid);
        long (*fn)(void) = (long (*)(void))code;
        int ok = 1;
        for (int i = 0; i < 5; i++)
            ok &= fn() == getpid();
        printf("generated getpid far away, called 5 times: %s\n", yesno(ok));
        munmap(code, 4096);
    }
    munmap(fill, take);
}

int main(void)
{
    red_zone();
    signals();
    children();
    generated_code();
    low_memory_site();
    printf("failures: %d\n", guest_failures);
    return guest_failures ? 1 : 0;
}
