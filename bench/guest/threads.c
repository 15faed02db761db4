/* Threads (issue 5 §9): a futex ping-pong between two threads (ns per round trip: each
 * thread wakes the other and waits for its turn), and a CPU-bound loop done twice by one
 * thread, then once by each of two threads at once (the parallel/sequential time ratio:
 * 0.5 is a perfect 2x). Prints one JSON line.
 *   threads [ROUNDS] [ITERS] [REPS] */
#include "benchutil.h"
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

static uint32_t turn;
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

static double pingpong_ns(void)
{
    turn = 0;
    pthread_t t;
    pthread_create(&t, NULL, pong, NULL);
    uint64_t t0 = mono_ns();
    for (long i = 0; i < rounds; i++)
        pass(0, 1);
    pthread_join(t, NULL);
    return (double)(mono_ns() - t0) / (double)rounds;
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

int main(int argc, char **argv)
{
    rounds = arg_long(argc, argv, 1, 2000);
    long iters = arg_long(argc, argv, 2, 100000000);
    int reps = (int)arg_long(argc, argv, 3, 5);
    double pp[64], ratio[64], seq[64];
    if (reps > 64)
        reps = 64;
    for (int r = 0; r < reps; r++) {
        pp[r] = pingpong_ns();
        void *arg = (void *)(uintptr_t)iters;
        uint64_t t0 = mono_ns();
        work(arg);
        work(arg);
        uint64_t s = mono_ns() - t0;
        pthread_t a, b;
        t0 = mono_ns();
        pthread_create(&a, NULL, work, arg);
        pthread_create(&b, NULL, work, arg);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        ratio[r] = (double)(mono_ns() - t0) / (double)s;
        seq[r] = (double)s;
    }
    struct stats p = stats_of(pp, reps), q = stats_of(ratio, reps), s = stats_of(seq, reps);
    printf("{\"libc\":\"%s\",\"rounds\":%ld,\"iters\":%ld,\"reps\":%d,"
           "\"pingpong\":{\"min_ns\":%.0f,\"median_ns\":%.0f,\"max_ns\":%.0f},"
           "\"par_over_seq\":{\"min\":%.3f,\"median\":%.3f,\"max\":%.3f},"
           "\"seq_ms_median\":%.1f}\n",
           BENCH_LIBC, rounds, iters, reps, p.min, p.median, p.max, q.min, q.median, q.max,
           s.median / 1e6);
    return 0;
}
