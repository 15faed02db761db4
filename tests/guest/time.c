/* Time: `time HOST_EPOCH_SECONDS` checks the clocks against each other and against the
 * host's realtime clock read by the test just before starting the program. */
#include "guest.h"
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double ts(const struct timespec *t) { return (double)t->tv_sec + t->tv_nsec / 1e9; }

static double elapsed_ms(const struct timespec *a, const struct timespec *b)
{
    return (ts(b) - ts(a)) * 1000.0;
}

static void clock_ok(const char *name, clockid_t id)
{
    struct timespec t, r;
    errno = 0;
    int g = clock_gettime(id, &t);
    int e1 = errno;
    errno = 0;
    int s = clock_getres(id, &r);
    int e2 = errno;
    printf("%s: gettime %s, getres %s", name, g ? errname(e1) : "ok", s ? errname(e2) : "ok");
    if (!s) printf(", resolution <= 10ms: %s", yesno(r.tv_sec == 0 && r.tv_nsec <= 10000000));
    if (!g) printf(", nsec in range: %s", yesno(t.tv_nsec >= 0 && t.tv_nsec < 1000000000));
    printf("\n");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: time HOST_EPOCH_SECONDS\n");
        return 2;
    }
    long long host = atoll(argv[1]);
    struct timespec a, b;

    clock_gettime(CLOCK_MONOTONIC, &a);
    int increases = 1;
    struct timespec prev = a;
    for (int i = 0; i < 10000; i++) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (ts(&t) < ts(&prev)) increases = 0;
        prev = t;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    CHECK("monotonic never goes back", increases);
    CHECK("monotonic increases over 10000 reads", ts(&b) > ts(&a));

    clock_ok("CLOCK_REALTIME", CLOCK_REALTIME);
    clock_ok("CLOCK_MONOTONIC", CLOCK_MONOTONIC);
    clock_ok("CLOCK_MONOTONIC_RAW", CLOCK_MONOTONIC_RAW);
    clock_ok("CLOCK_REALTIME_COARSE", CLOCK_REALTIME_COARSE);
    clock_ok("CLOCK_MONOTONIC_COARSE", CLOCK_MONOTONIC_COARSE);
    clock_ok("CLOCK_BOOTTIME", CLOCK_BOOTTIME);
    clock_ok("CLOCK_PROCESS_CPUTIME_ID", CLOCK_PROCESS_CPUTIME_ID);
    clock_ok("CLOCK_THREAD_CPUTIME_ID", CLOCK_THREAD_CPUTIME_ID);
    struct timespec bad;
    errno = 0;
    printf("clock_gettime(1234): %s\n", clock_gettime(1234, &bad) ? errname(errno) : "ok");

    /* nanosleep 50 ms */
    struct timespec req = {0, 50 * 1000 * 1000}, rem = {9, 9};
    clock_gettime(CLOCK_MONOTONIC, &a);
    int r = nanosleep(&req, &rem);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = elapsed_ms(&a, &b);
    printf("nanosleep 50ms: %s\n", r ? errname(errno) : "ok");
    CHECK("nanosleep 50ms took 45..500 ms", ms >= 45 && ms <= 500);
    if (ms < 45 || ms > 500) fprintf(stderr, "nanosleep took %.1f ms\n", ms);

    /* clock_nanosleep relative and absolute */
    clock_gettime(CLOCK_MONOTONIC, &a);
    req.tv_sec = 0;
    req.tv_nsec = 30 * 1000 * 1000;
    r = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ms = elapsed_ms(&a, &b);
    printf("clock_nanosleep relative: %s\n", r ? errname(r) : "ok");
    CHECK("clock_nanosleep 30ms took 25..500 ms", ms >= 25 && ms <= 500);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &a);
    until = a;
    until.tv_nsec += 40 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
    r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ms = elapsed_ms(&a, &b);
    printf("clock_nanosleep absolute: %s\n", r ? errname(r) : "ok");
    CHECK("woke at or after the deadline", ts(&b) >= ts(&until) && ms <= 500);
    /* an absolute time in the past returns at once */
    clock_gettime(CLOCK_MONOTONIC, &a);
    until.tv_sec = a.tv_sec - 5;
    r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    CHECK("past deadline returns at once", r == 0 && elapsed_ms(&a, &b) < 20);
    req.tv_sec = 0;
    req.tv_nsec = 1000000000;
    errno = 0;
    printf("nanosleep tv_nsec=1e9: %s\n", nanosleep(&req, NULL) ? errname(errno) : "ok");
    req.tv_sec = -1;
    req.tv_nsec = 0;
    errno = 0;
    printf("nanosleep negative: %s\n", nanosleep(&req, NULL) ? errname(errno) : "ok");
    req.tv_sec = 0;
    req.tv_nsec = 0;
    printf("nanosleep 0: %s\n", nanosleep(&req, NULL) ? errname(errno) : "ok");
    usleep(1000);
    printf("usleep returned\n");

    /* wall clocks agree */
    struct timeval tv;
    gettimeofday(&tv, NULL);
    time_t t = time(NULL);
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    CHECK("gettimeofday and time agree within 2 s", llabs((long long)tv.tv_sec - (long long)t) <= 2);
    CHECK("gettimeofday usec in range", tv.tv_usec >= 0 && tv.tv_usec < 1000000);
    CHECK("CLOCK_REALTIME and time agree within 2 s", llabs((long long)rt.tv_sec - (long long)t) <= 2);
    long long diff = (long long)t - host;
    CHECK("realtime within 5 s of the host's", llabs(diff) <= 5);
    if (llabs(diff) > 5) fprintf(stderr, "guest time %lld, host %lld\n", (long long)t, host);
    struct timespec bt, mt;
    clock_gettime(CLOCK_BOOTTIME, &bt);
    clock_gettime(CLOCK_MONOTONIC, &mt);
    CHECK("boottime >= monotonic", ts(&bt) + 0.001 >= ts(&mt));
    /* localtime/gmtime do not crash and agree on the date */
    struct tm g;
    gmtime_r(&t, &g);
    CHECK("gmtime year >= 2024", g.tm_year + 1900 >= 2024);
    /* CPU time is small and non-negative */
    struct timespec cpu;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == 0)
        CHECK("process CPU time in 0..60 s", cpu.tv_sec >= 0 && cpu.tv_sec < 60);
    return guest_failures ? 1 : 0;
}
