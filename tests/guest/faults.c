/* Faults: `faults KIND` prints "about to KIND", flushes, then does something that must kill
 * the process with a signal. The exit status (128 + signal) is what the test compares:
 *   null       read through a NULL pointer               SIGSEGV 139
 *   wild       write to a non-canonical address          SIGSEGV 139
 *   rodata     write to a string literal (read-only page) SIGSEGV 139
 *   mprotect   write to a page made PROT_READ             SIGSEGV 139
 *   protnone   read a PROT_NONE page                      SIGSEGV 139
 *   munmap     read a page after munmap                   SIGSEGV 139
 *   exec-nx    jump into a non-executable page            SIGSEGV 139
 *   ud2        undefined instruction                      SIGILL  132
 *   div0       integer divide by zero                     SIGFPE  136
 *   int3       breakpoint                                 SIGTRAP 133
 *   stack      unbounded recursion                        SIGSEGV 139
 *   abort      abort()                                    SIGABRT 134
 *   kernel     read the top 2 GiB (Linux's kernel; uno's libOS on the native backend,
 *              supervisor-only there; readable on cpl3, where the libOS runs at CPL 3)
 *   none       no fault: exits 0 */
#include "guest.h"
#include <sys/mman.h>
#include <unistd.h>

static volatile int zero = 0;
static volatile int depth_limit = 1 << 30;

__attribute__((noinline)) static int recurse(volatile char *prev, int depth)
{
    volatile char buf[4096];
    buf[0] = (char)depth;
    buf[4095] = prev ? prev[0] : 0;
    if (depth >= depth_limit) return buf[100];
    return recurse(buf, depth + 1) + buf[100];
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: faults KIND\n");
        return 2;
    }
    const char *k = argv[1];
    printf("about to %s\n", k);
    fflush(stdout);
    if (!strcmp(k, "null")) {
        volatile int *p = NULL;
        return *p;
    } else if (!strcmp(k, "kernel")) {
        volatile int *p = (volatile int *)0xffffffff80000000ull;
        return *p;
    } else if (!strcmp(k, "wild")) {
        volatile int *p = (volatile int *)0x8000000000000000ull;
        *p = 1;
    } else if (!strcmp(k, "rodata")) {
        volatile char *s = (volatile char *)"constant";
        s[0] = 'C';
    } else if (!strcmp(k, "mprotect")) {
        volatile char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        p[0] = 1;
        mprotect((void *)p, 4096, PROT_READ);
        printf("still readable: %d\n", p[0]);
        fflush(stdout);
        p[0] = 2;
    } else if (!strcmp(k, "protnone")) {
        volatile char *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p[0];
    } else if (!strcmp(k, "munmap")) {
        volatile char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        p[0] = 1;
        munmap((void *)p, 4096);
        return p[0];
    } else if (!strcmp(k, "exec-nx")) {
        unsigned char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        p[0] = 0xc3; /* ret */
        void (*fn)(void) = (void (*)(void))p;
        fn();
    } else if (!strcmp(k, "ud2")) {
        __asm__ volatile("ud2");
    } else if (!strcmp(k, "div0")) {
        int q = 1, hi = 0, d = zero;
        __asm__ volatile("idivl %2" : "+a"(q), "+d"(hi) : "r"(d));
        return q;
    } else if (!strcmp(k, "int3")) {
        __asm__ volatile("int3");
    } else if (!strcmp(k, "stack")) {
        return recurse(NULL, 0);
    } else if (!strcmp(k, "abort")) {
        abort();
    } else if (!strcmp(k, "none")) {
        return 0;
    } else {
        fprintf(stderr, "unknown kind %s\n", k);
        return 2;
    }
    printf("survived %s\n", k);
    return 0;
}
