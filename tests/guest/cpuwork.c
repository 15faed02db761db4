/* CPU-bound threads, for the SMP tests and benches (not a differential program: it prints
 * times). Modes:
 *   cpuwork ratio ITERS     the same work twice in one thread, then once in each of two
 *                           threads at once: prints "seq_ns par_ns"
 *   cpuwork starve          a thread spins in app code (no system calls) while another
 *                           sleeps and works in small steps: prints "worker done" if it
 *                           finished (the spinner must not starve it on one CPU)
 *   cpuwork pingpong ROUNDS two threads hand a token back and forth through futexes:
 *                           prints "ns_per_round" */
#include "guest.h"
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static volatile uint64_t sink;

static void *work(void *arg)
{
    uint64_t n = (uint64_t)(uintptr_t)arg, x = 1;
    for (uint64_t i = 0; i < n; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    sink += x;
    return NULL;
}

static int ratio(uint64_t iters)
{
    void *arg = (void *)(uintptr_t)iters;
    uint64_t t0 = now_ns();
    work(arg);
    work(arg);
    uint64_t seq = now_ns() - t0;
    pthread_t a, b;
    t0 = now_ns();
    pthread_create(&a, NULL, work, arg);
    pthread_create(&b, NULL, work, arg);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    uint64_t par = now_ns() - t0;
    printf("%llu %llu\n", (unsigned long long)seq, (unsigned long long)par);
    return 0;
}

static volatile int stop;

static void *spinner(void *arg)
{
    (void)arg;
    while (!stop)
        __asm__ volatile("pause" ::: "memory");
    return NULL;
}

static void *stepper(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++) {
        usleep(1000);
        work((void *)(uintptr_t)100000);
    }
    return NULL;
}

static int starve(void)
{
    pthread_t s, w;
    pthread_create(&s, NULL, spinner, NULL);
    usleep(10000); /* the spinner is spinning */
    pthread_create(&w, NULL, stepper, NULL);
    pthread_join(w, NULL);
    stop = 1;
    pthread_join(s, NULL);
    puts("worker done");
    return 0;
}

static uint32_t turn; /* 0: ping's turn, 1: pong's */
static long rounds;

static void pass(uint32_t mine, uint32_t next)
{
    while (__atomic_load_n(&turn, __ATOMIC_ACQUIRE) != mine)
        syscall(SYS_futex, &turn, 128 /* FUTEX_WAIT_PRIVATE */, next, NULL, NULL, 0);
    __atomic_store_n(&turn, next, __ATOMIC_RELEASE);
    syscall(SYS_futex, &turn, 129 /* FUTEX_WAKE_PRIVATE */, 1, NULL, NULL, 0);
}

static void *pong(void *arg)
{
    (void)arg;
    for (long i = 0; i < rounds; i++)
        pass(1, 0);
    return NULL;
}

static int pingpong(long n)
{
    rounds = n;
    pthread_t t;
    pthread_create(&t, NULL, pong, NULL);
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++)
        pass(0, 1);
    pthread_join(t, NULL);
    printf("%llu\n", (unsigned long long)((now_ns() - t0) / (uint64_t)n));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "ratio"))
        return ratio(strtoull(argv[2], NULL, 10));
    if (argc == 2 && !strcmp(argv[1], "starve"))
        return starve();
    if (argc == 3 && !strcmp(argv[1], "pingpong"))
        return pingpong(atol(argv[2]));
    fprintf(stderr, "usage: cpuwork ratio ITERS | starve | pingpong ROUNDS\n");
    return 2;
}
