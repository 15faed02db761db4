/* CPU-time clocks: CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, the clocks of
 * clock_getcpuclockid and pthread_getcpuclockid, getrusage (RUSAGE_SELF, RUSAGE_THREAD) and
 * times: they grow while the program computes and stand still while it sleeps, per thread.
 * Bounds are loose (the machine may be shared); each line is yes/no. Exits 1 if one fails. */
#include "guest.h"
#include <pthread.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000LL

static long long clock_ns(clockid_t c)
{
    struct timespec t;
    if (clock_gettime(c, &t))
        return -1;
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Compute for `ms` of wall time. */
/* Computes for `ms` of wall time and at least half of it in this thread's CPU time, so a
 * loaded machine (where the thread gets a share of a core) still gives the clocks something
 * to count; at most 5 s, so a clock that does not count ends the loop too. */
static void spin(long long ms)
{
    long long w0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    volatile unsigned long x = 0;
    for (;;) {
        long long w = clock_ns(CLOCK_MONOTONIC) - w0;
        if (w >= 5000 * MS || (w >= ms * MS && clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0 >= ms * MS / 2))
            break;
        for (int i = 0; i < 10000; i++)
            x += (unsigned long)i;
    }
}

static long long rusage_ns(int who)
{
    struct rusage r;
    if (getrusage(who, &r))
        return -1;
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000000000LL +
           (r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1000LL;
}

static long long other_thread_cpu;
static long long other_thread_own_clock;

static void *worker(void *arg)
{
    (void)arg;
    long long t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    spin(150);
    other_thread_cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
    clockid_t mine;
    if (pthread_getcpuclockid(pthread_self(), &mine) == 0)
        other_thread_own_clock = clock_ns(mine);
    return NULL;
}

int main(void)
{
    section("computing counts, sleeping does not");
    long long p0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    long long r0 = rusage_ns(RUSAGE_SELF), rt0 = rusage_ns(RUSAGE_THREAD);
    struct tms tm0;
    times(&tm0);
    spin(150);
    long long p1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), t1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    long long r1 = rusage_ns(RUSAGE_SELF), rt1 = rusage_ns(RUSAGE_THREAD);
    struct tms tm1;
    times(&tm1);
    EXPECT("process clock grew by 40..1000 ms", p1 - p0 >= 40 * MS && p1 - p0 <= 1000 * MS);
    EXPECT("thread clock grew by 40..1000 ms", t1 - t0 >= 40 * MS && t1 - t0 <= 1000 * MS);
    EXPECT("getrusage(RUSAGE_SELF) grew by 40 ms or more", r1 - r0 >= 40 * MS);
    EXPECT("getrusage(RUSAGE_THREAD) grew by 40 ms or more", rt1 - rt0 >= 40 * MS);
    long hz = sysconf(_SC_CLK_TCK);
    long ticks = (long)((tm1.tms_utime + tm1.tms_stime) - (tm0.tms_utime + tm0.tms_stime));
    EXPECT("times() grew by 40 ms or more", ticks * 1000 / hz >= 40);
    usleep(200000);
    long long p2 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), t2 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    EXPECT("200 ms asleep: process clock grew by less than 50 ms", p2 - p1 < 50 * MS);
    EXPECT("200 ms asleep: thread clock grew by less than 50 ms", t2 - t1 < 50 * MS);

    section("clock ids for a process and a thread");
    clockid_t pc, tc;
    EXPECT("clock_getcpuclockid(0)", clock_getcpuclockid(0, &pc) == 0);
    long long a = clock_ns(CLOCK_PROCESS_CPUTIME_ID), b = clock_ns(pc);
    EXPECT("it reads the process clock", b >= a && b - a < 50 * MS);
    EXPECT("pthread_getcpuclockid(self)", pthread_getcpuclockid(pthread_self(), &tc) == 0);
    a = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    b = clock_ns(tc);
    EXPECT("it reads the thread clock", b >= a && b - a < 50 * MS);
    struct timespec res;
    EXPECT("clock_getres(CLOCK_PROCESS_CPUTIME_ID) is 1 ns",
           clock_getres(CLOCK_PROCESS_CPUTIME_ID, &res) == 0 && res.tv_sec == 0 &&
               res.tv_nsec == 1);

    section("each thread its own clock");
    long long main_t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), proc_t0 = clock_ns(pc);
    pthread_t th;
    if (pthread_create(&th, NULL, worker, NULL)) {
        printf("pthread_create failed\n");
        return 1;
    }
    pthread_join(th, NULL);
    long long main_dt = clock_ns(CLOCK_THREAD_CPUTIME_ID) - main_t0;
    long long proc_dt = clock_ns(pc) - proc_t0;
    EXPECT("the worker's clock grew by 40 ms or more", other_thread_cpu >= 40 * MS);
    EXPECT("its pthread_getcpuclockid clock too", other_thread_own_clock >= 40 * MS);
    EXPECT("the joining thread's grew by less than 50 ms", main_dt < 50 * MS);
    EXPECT("the process clock counts the worker", proc_dt >= 40 * MS);
    return guest_failures ? 1 : 0;
}
