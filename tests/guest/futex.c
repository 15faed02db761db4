/* futex(2) op by op, through the raw system call: WAIT/WAKE (private and not), relative and
 * absolute timeouts on both clocks, WAIT_BITSET/WAKE_BITSET, REQUEUE/CMP_REQUEUE, WAKE_OP,
 * EINTR and SA_RESTART, errors; robust mutexes whose owner dies. Prints only results and
 * relations, never times or tids. */
#include "guest.h"
#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>

#define yesno(c) ((c) ? "yes" : "no")

/* <linux/futex.h>, which musl's toolchain does not ship. */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_REQUEUE 3
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_OP 5
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | FUTEX_PRIVATE_FLAG)
#define FUTEX_REQUEUE_PRIVATE (FUTEX_REQUEUE | FUTEX_PRIVATE_FLAG)
#define FUTEX_CMP_REQUEUE_PRIVATE (FUTEX_CMP_REQUEUE | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_OP_PRIVATE (FUTEX_WAKE_OP | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAIT_BITSET_PRIVATE (FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_BITSET_PRIVATE (FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG)
#define FUTEX_BITSET_MATCH_ANY 0xffffffffu
#define FUTEX_OP_SET 0
#define FUTEX_OP_ADD 1
#define FUTEX_OP_OR 2
#define FUTEX_OP_ANDN 3
#define FUTEX_OP_XOR 4
#define FUTEX_OP_OPARG_SHIFT 8
#define FUTEX_OP_CMP_EQ 0
#define FUTEX_OP_CMP_NE 1
#define FUTEX_OP_CMP_LT 2
#define FUTEX_OP_CMP_LE 3
#define FUTEX_OP_CMP_GT 4
#define FUTEX_OP_CMP_GE 5
#define FUTEX_OP(op, oparg, cmp, cmparg)                                                    \
    ((((op)&0xf) << 28) | (((cmp)&0xf) << 24) | (((oparg)&0xfff) << 12) | ((cmparg)&0xfff))

static long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts,
                  uint32_t *uaddr2, uint32_t val3)
{
    return syscall(SYS_futex, uaddr, op, val, ts, uaddr2, val3);
}

static const char *res(long r) { return r < 0 ? errname(errno) : "OK"; }

static uint64_t now(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct timespec at(clockid_t c, uint64_t ns_from_now)
{
    uint64_t t = now(c) + ns_from_now;
    return (struct timespec){(time_t)(t / 1000000000ull), (long)(t % 1000000000ull)};
}

/* A thread waiting on a futex word; `entered` counts the waiters about to wait. */
struct waiter {
    uint32_t *word;
    int op;
    uint32_t val, bitset;
    long ret;
    int err;
    volatile int done;
};
static volatile int entered;

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    __atomic_fetch_add(&entered, 1, __ATOMIC_SEQ_CST);
    w->ret = futex(w->word, w->op, w->val, NULL, NULL, w->bitset);
    w->err = w->ret < 0 ? errno : 0;
    w->done = 1;
    return NULL;
}

static void start_waiters(pthread_t *t, struct waiter *w, int n)
{
    entered = 0;
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, wait_thread, &w[i]);
    while (entered < n)
        usleep(1000);
    usleep(50000); /* they are in futex_wait by now */
}

/* Wake until one waiter is woken (it may not have reached the kernel yet). */
static long wake_one(uint32_t *word, int op, uint32_t bitset)
{
    for (int i = 0; i < 2000; i++) {
        long n = futex(word, op, 1, NULL, NULL, bitset);
        if (n != 0)
            return n;
        usleep(1000);
    }
    return 0;
}

static void wait_wake(void)
{
    puts("== wait-wake");
    static uint32_t word = 1;
    printf("WAIT with a stale value: %s\n", res(futex(&word, FUTEX_WAIT, 2, NULL, NULL, 0)));
    printf("WAKE with nobody waiting: %ld\n", futex(&word, FUTEX_WAKE, 1, NULL, NULL, 0));
    for (int priv = 0; priv < 2; priv++) {
        int p = priv ? FUTEX_PRIVATE_FLAG : 0;
        pthread_t t;
        struct waiter w = {.word = &word, .op = FUTEX_WAIT | p, .val = 1};
        pthread_create(&t, NULL, wait_thread, &w);
        long n = wake_one(&word, FUTEX_WAKE | p, 0);
        pthread_join(t, NULL);
        printf("%sWAKE woke %ld; the waiter returned %s\n", priv ? "private " : "", n,
               w.ret == 0 ? "0" : errname(w.err));
    }
    /* Wake counts: three waiters, wake 2, then the rest. */
    pthread_t t[3];
    struct waiter w[3];
    for (int i = 0; i < 3; i++)
        w[i] = (struct waiter){.word = &word, .op = FUTEX_WAIT_PRIVATE, .val = 1};
    start_waiters(t, w, 3);
    long a = futex(&word, FUTEX_WAKE_PRIVATE, 2, NULL, NULL, 0);
    long b = futex(&word, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    printf("three waiters: WAKE 2 woke %ld, WAKE 10 woke %ld\n", a, b);
}

static void timeouts(void)
{
    puts("== timeouts");
    static uint32_t word;
    struct timespec rel = {0, 20000000};
    uint64_t t0 = now(CLOCK_MONOTONIC);
    long r = futex(&word, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0);
    printf("WAIT, relative 20 ms: %s, waited at least that long %s\n", res(r),
           yesno(now(CLOCK_MONOTONIC) - t0 >= 20000000));
    t0 = now(CLOCK_MONOTONIC);
    r = futex(&word, FUTEX_WAIT_PRIVATE | FUTEX_CLOCK_REALTIME, 0, &rel, NULL, 0);
    printf("WAIT, CLOCK_REALTIME flag, relative 20 ms: %s, waited %s\n", res(r),
           yesno(now(CLOCK_MONOTONIC) - t0 >= 20000000));
    struct timespec abs = at(CLOCK_MONOTONIC, 20000000);
    t0 = now(CLOCK_MONOTONIC);
    r = futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, &abs, NULL, FUTEX_BITSET_MATCH_ANY);
    printf("WAIT_BITSET, absolute monotonic +20 ms: %s, waited %s\n", res(r),
           yesno(now(CLOCK_MONOTONIC) >= (uint64_t)abs.tv_sec * 1000000000ull + abs.tv_nsec));
    abs = at(CLOCK_REALTIME, 20000000);
    r = futex(&word, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 0, &abs, NULL,
              FUTEX_BITSET_MATCH_ANY);
    printf("WAIT_BITSET, absolute realtime +20 ms: %s, waited %s\n", res(r),
           yesno(now(CLOCK_REALTIME) >= (uint64_t)abs.tv_sec * 1000000000ull + abs.tv_nsec));
    struct timespec past = {1, 0};
    r = futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, &past, NULL, FUTEX_BITSET_MATCH_ANY);
    printf("WAIT_BITSET, deadline long past: %s\n", res(r));
    struct timespec bad = {0, 1000000000};
    r = futex(&word, FUTEX_WAIT_PRIVATE, 0, &bad, NULL, 0);
    printf("WAIT, tv_nsec = 1e9: %s\n", res(r));
    bad = (struct timespec){-1, 0};
    r = futex(&word, FUTEX_WAIT_PRIVATE, 0, &bad, NULL, 0);
    printf("WAIT, negative timeout: %s\n", res(r));
}

static void bitsets(void)
{
    puts("== bitset");
    static uint32_t word;
    pthread_t t[2];
    struct waiter w[2] = {
        {.word = &word, .op = FUTEX_WAIT_BITSET_PRIVATE, .val = 0, .bitset = 1},
        {.word = &word, .op = FUTEX_WAIT_BITSET_PRIVATE, .val = 0, .bitset = 2},
    };
    start_waiters(t, w, 2);
    long n = futex(&word, FUTEX_WAKE_BITSET_PRIVATE, 10, NULL, NULL, 2);
    usleep(20000);
    printf("WAKE_BITSET 2 woke %ld: the bitset-2 waiter %s, the bitset-1 waiter %s\n", n,
           w[1].done ? "returned" : "waits", w[0].done ? "returned" : "waits");
    n = futex(&word, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0);
    printf("plain WAKE (all bits) woke %ld\n", n);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    printf("WAIT_BITSET with bitset 0: %s\n",
           res(futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, NULL, 0)));
    printf("WAKE_BITSET with bitset 0: %s\n",
           res(futex(&word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0)));
}

static void requeue(void)
{
    puts("== requeue");
    static uint32_t f1 = 7, f2 = 0;
    pthread_t t[3];
    struct waiter w[3];
    for (int i = 0; i < 3; i++)
        w[i] = (struct waiter){.word = &f1, .op = FUTEX_WAIT_PRIVATE, .val = 7};
    start_waiters(t, w, 3);
    long r = syscall(SYS_futex, &f1, FUTEX_CMP_REQUEUE_PRIVATE, 1, (long)2, &f2, 8);
    printf("CMP_REQUEUE with a stale value: %s\n", res(r));
    r = syscall(SYS_futex, &f1, FUTEX_CMP_REQUEUE_PRIVATE, 1, (long)2, &f2, 7);
    printf("CMP_REQUEUE wake 1, move 2: %ld\n", r);
    usleep(20000);
    int done = 0;
    for (int i = 0; i < 3; i++)
        done += w[i].done;
    printf("returned so far: %d\n", done);
    printf("WAKE on the first word: %ld\n", futex(&f1, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0));
    printf("WAKE on the second word: %ld\n", futex(&f2, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0));
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    /* FUTEX_REQUEUE returns only the number woken. */
    for (int i = 0; i < 3; i++)
        w[i] = (struct waiter){.word = &f1, .op = FUTEX_WAIT_PRIVATE, .val = 7};
    start_waiters(t, w, 3);
    r = syscall(SYS_futex, &f1, FUTEX_REQUEUE_PRIVATE, 1, (long)1, &f2, 0);
    printf("REQUEUE wake 1, move 1: %ld\n", r);
    printf("then WAKE first: %ld, WAKE second: %ld\n",
           futex(&f1, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0),
           futex(&f2, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0));
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
}

static void wake_op(void)
{
    puts("== wake-op");
    static uint32_t f1, f2;
    pthread_t t[2];
    struct waiter w[2] = {
        {.word = &f1, .op = FUTEX_WAIT_PRIVATE, .val = 0},
        {.word = &f2, .op = FUTEX_WAIT_PRIVATE, .val = 0},
    };
    start_waiters(t, w, 2);
    /* f2 += 5; wake f2's waiters too if f2 was 0. */
    long r = syscall(SYS_futex, &f1, FUTEX_WAKE_OP_PRIVATE, 1, (long)1, &f2,
                     FUTEX_OP(FUTEX_OP_ADD, 5, FUTEX_OP_CMP_EQ, 0));
    printf("WAKE_OP add 5 if old == 0: woke %ld, word now %u\n", r, f2);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    w[0] = (struct waiter){.word = &f1, .op = FUTEX_WAIT_PRIVATE, .val = 0};
    w[1] = (struct waiter){.word = &f2, .op = FUTEX_WAIT_PRIVATE, .val = 5};
    start_waiters(t, w, 2);
    r = syscall(SYS_futex, &f1, FUTEX_WAKE_OP_PRIVATE, 1, (long)1, &f2,
                FUTEX_OP(FUTEX_OP_OR, 8, FUTEX_OP_CMP_GT, 10));
    printf("WAKE_OP or 8 if old > 10: woke %ld, word now %u\n", r, f2);
    f2 = 13;
    r = futex(&f2, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    printf("the other waiter woken by WAKE: %ld\n", r);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    f2 = 6;
    r = syscall(SYS_futex, &f1, FUTEX_WAKE_OP_PRIVATE, 1, (long)1, &f2,
                FUTEX_OP(FUTEX_OP_ANDN, 2, FUTEX_OP_CMP_NE, 0));
    printf("WAKE_OP andn 2 with nobody waiting: %ld, word now %u\n", r, f2);
    r = syscall(SYS_futex, &f1, FUTEX_WAKE_OP_PRIVATE, 1, (long)1, &f2,
                FUTEX_OP(FUTEX_OP_XOR | FUTEX_OP_OPARG_SHIFT, 3, FUTEX_OP_CMP_LT, 0));
    printf("WAKE_OP xor 1<<3: word now %u\n", f2);
    r = syscall(SYS_futex, &f1, FUTEX_WAKE_OP_PRIVATE, 1, (long)1, &f2,
                FUTEX_OP(FUTEX_OP_SET, 1, 9, 0));
    printf("WAKE_OP with an unknown comparison: %s\n", res(r));
}

static void on_usr1(int sig) { (void)sig; }

static void eintr(void)
{
    puts("== eintr");
    static uint32_t word;
    for (int restart = 0; restart < 2; restart++) {
        struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = restart ? SA_RESTART : 0};
        sigaction(SIGUSR1, &sa, NULL);
        pthread_t t;
        struct waiter w = {.word = &word, .op = FUTEX_WAIT_PRIVATE, .val = 0};
        start_waiters(&t, &w, 1);
        pthread_kill(t, SIGUSR1);
        usleep(50000);
        bool returned = w.done;
        if (!returned)
            wake_one(&word, FUTEX_WAKE_PRIVATE, 0);
        pthread_join(t, NULL);
        printf("%s: a signal during WAIT %s (%s)\n", restart ? "SA_RESTART" : "no SA_RESTART",
               returned ? "ended it" : "did not end it",
               w.ret == 0 ? "then woken: 0" : errname(w.err));
    }
    /* A timed wait interrupted returns EINTR even with SA_RESTART. */
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
    sigaction(SIGUSR1, &sa, NULL);
    alarm(0);
    struct itimerval it = {.it_value = {0, 30000}};
    sigaction(SIGALRM, &sa, NULL);
    setitimer(ITIMER_REAL, &it, NULL);
    struct timespec abs = at(CLOCK_MONOTONIC, 2000000000ull);
    long r = futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, &abs, NULL, FUTEX_BITSET_MATCH_ANY);
    printf("WAIT_BITSET with a deadline, SIGALRM handler: %s, before the deadline %s\n", res(r),
           yesno(now(CLOCK_MONOTONIC) < (uint64_t)abs.tv_sec * 1000000000ull + abs.tv_nsec));
}

static void errors(void)
{
    puts("== errors");
    static uint32_t words[2];
    uint32_t *odd = (uint32_t *)((char *)words + 1);
    printf("WAIT on an unaligned word: %s\n", res(futex(odd, FUTEX_WAIT, 0, NULL, NULL, 0)));
    printf("WAKE on an unaligned word: %s\n", res(futex(odd, FUTEX_WAKE, 1, NULL, NULL, 0)));
    uint32_t *unmapped = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("WAIT on an unreadable word: %s\n",
           res(futex(unmapped, FUTEX_WAIT, 0, NULL, NULL, 0)));
    printf("WAIT with an unreadable timeout: %s\n",
           res(futex(words, FUTEX_WAIT, 0, (struct timespec *)unmapped, NULL, 0)));
    printf("an unknown operation: %s\n", res(futex(words, 99, 0, NULL, NULL, 0)));
    printf("CLOCK_REALTIME with WAKE: %s\n",
           res(futex(words, FUTEX_WAKE | FUTEX_CLOCK_REALTIME, 1, NULL, NULL, 0)));
    munmap(unmapped, 4096);
}

/* ---------------------------------------------------------------- robust -------------- */

static pthread_mutex_t robust;
static volatile int owner_ready;

static void *lock_and_die(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&robust);
    owner_ready = 1;
    usleep(30000);
    pthread_exit(NULL); /* still holding it */
}

static void robust_mutexes(void)
{
    puts("== robust");
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&robust, &a);
    /* The owner dies before anyone waits. */
    pthread_t t;
    pthread_create(&t, NULL, lock_and_die, NULL);
    pthread_join(t, NULL);
    int r = pthread_mutex_lock(&robust);
    printf("lock after the owner died: %s\n", r == EOWNERDEAD ? "EOWNERDEAD" : errname(r));
    printf("consistent: %s\n", errname(pthread_mutex_consistent(&robust)));
    printf("unlock: %s\n", errname(pthread_mutex_unlock(&robust)));
    printf("lock again: %s\n", errname(pthread_mutex_lock(&robust)));
    pthread_mutex_unlock(&robust);
    /* The owner dies while we wait for it. */
    owner_ready = 0;
    pthread_create(&t, NULL, lock_and_die, NULL);
    while (!owner_ready)
        usleep(1000);
    r = pthread_mutex_lock(&robust);
    printf("waiting locker when the owner died: %s\n",
           r == EOWNERDEAD ? "EOWNERDEAD" : errname(r));
    pthread_join(t, NULL);
    /* Not made consistent: unusable from now on. */
    pthread_mutex_unlock(&robust);
    r = pthread_mutex_lock(&robust);
    printf("left inconsistent, next lock: %s\n",
           r == ENOTRECOVERABLE ? "ENOTRECOVERABLE" : errname(r));
    void *head = NULL;
    size_t len = 0;
    long g = syscall(SYS_get_robust_list, 0, &head, &len);
    printf("get_robust_list(0): %s, a head %s, length %zu\n", res(g), yesno(head != NULL), len);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    wait_wake();
    timeouts();
    bitsets();
    requeue();
    wake_op();
    eintr();
    errors();
    robust_mutexes();
    return 0;
}
