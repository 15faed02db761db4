/* Threads: pthread create/join, many threads (more than at once), mutexes and condition
 * variables, thread-local storage, per-thread signal masks, process signals taken by a thread
 * that does not block them, tgkill/pthread_kill, exit of one thread vs exit_group, the
 * status of a process whose threads all called exit, fork and execve from a threaded
 * process, sched_getaffinity/getcpu/membarrier. Prints only relations, never tids or times.
 *   threads            run every section
 *   threads execd PID  (the image execve'd by a thread: checks it kept the process's pid) */
#include "guest.h"
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define yesno(c) ((c) ? "yes" : "no")

static pid_t gettid_(void) { return (pid_t)syscall(SYS_gettid); }

/* ---------------------------------------------------------------- create / join ------ */

struct work {
    int n;
    long result;
    pid_t tid;
    pid_t pid;
};

static void *square_sum(void *arg)
{
    struct work *w = arg;
    long s = 0;
    for (int i = 1; i <= w->n; i++)
        s += (long)i * i;
    w->result = s;
    w->tid = gettid_();
    w->pid = getpid();
    return (void *)(long)w->n;
}

static void create_join(void)
{
    puts("== create-join");
    enum { N = 8 };
    pthread_t th[N];
    struct work w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct work){.n = 1000 * (i + 1)};
        if (pthread_create(&th[i], NULL, square_sum, &w[i]))
            printf("pthread_create %d failed\n", i);
    }
    bool tids_distinct = true, pid_same = true, ret_ok = true;
    for (int i = 0; i < N; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        ret_ok &= (long)ret == w[i].n;
        pid_same &= w[i].pid == getpid();
        tids_distinct &= w[i].tid != getpid() && w[i].tid > 0;
        for (int j = 0; j < i; j++)
            tids_distinct &= w[i].tid != w[j].tid;
        printf("thread %d: sum of squares to %d = %ld\n", i, w[i].n, w[i].result);
    }
    printf("join returned each thread's value: %s\n", yesno(ret_ok));
    printf("getpid() in threads is the process's: %s\n", yesno(pid_same));
    printf("gettid() distinct and not the pid: %s\n", yesno(tids_distinct));
    printf("main thread's tid is the pid: %s\n", yesno(gettid_() == getpid()));
}

/* ---------------------------------------------------------------- many threads ------- */

static int counter;
static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;

static void *add_many(void *arg)
{
    int n = (int)(long)arg;
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&counter_lock);
        counter++;
        pthread_mutex_unlock(&counter_lock);
    }
    return NULL;
}

static void many(void)
{
    puts("== many");
    /* 3 rounds of 20: a thread's vCPU is used again by later threads. */
    int failed = 0;
    for (int round = 0; round < 3; round++) {
        pthread_t th[20];
        for (int i = 0; i < 20; i++)
            failed += pthread_create(&th[i], NULL, add_many, (void *)2000L) != 0;
        for (int i = 0; i < 20; i++)
            pthread_join(th[i], NULL);
    }
    printf("60 threads created, failures: %d\n", failed);
    printf("counter under a mutex: %d (expected %d)\n", counter, 60 * 2000);
    /* Detached threads that end on their own. */
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    counter = 0;
    for (int i = 0; i < 10; i++) {
        pthread_t t;
        failed += pthread_create(&t, &a, add_many, (void *)100L) != 0;
    }
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&counter_lock);
        int c = counter;
        pthread_mutex_unlock(&counter_lock);
        if (c == 1000)
            break;
        usleep(1000);
    }
    printf("10 detached threads done: %s\n", yesno(counter == 1000));
}

/* ---------------------------------------------------------------- condvar ------------ */

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_nonempty = PTHREAD_COND_INITIALIZER, q_nonfull = PTHREAD_COND_INITIALIZER;
static int queue[8], q_head, q_tail;
static long consumed_sum;

static void *producer(void *arg)
{
    int base = (int)(long)arg;
    for (int i = 1; i <= 500; i++) {
        pthread_mutex_lock(&q_lock);
        while (q_tail - q_head == 8)
            pthread_cond_wait(&q_nonfull, &q_lock);
        queue[q_tail++ % 8] = base + i;
        pthread_cond_signal(&q_nonempty);
        pthread_mutex_unlock(&q_lock);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    int n = (int)(long)arg;
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&q_lock);
        while (q_tail == q_head)
            pthread_cond_wait(&q_nonempty, &q_lock);
        consumed_sum += queue[q_head++ % 8];
        pthread_cond_signal(&q_nonfull);
        pthread_mutex_unlock(&q_lock);
    }
    return NULL;
}

static pthread_barrier_t barrier;
static int arrived;

static void *at_barrier(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&arrived, 1, __ATOMIC_SEQ_CST);
    int r = pthread_barrier_wait(&barrier);
    return (void *)(long)(r == PTHREAD_BARRIER_SERIAL_THREAD);
}

static void condvar(void)
{
    puts("== mutex-condvar");
    pthread_t p[2], c[2];
    pthread_create(&p[0], NULL, producer, (void *)0L);
    pthread_create(&p[1], NULL, producer, (void *)1000L);
    pthread_create(&c[0], NULL, consumer, (void *)600L);
    pthread_create(&c[1], NULL, consumer, (void *)400L);
    for (int i = 0; i < 2; i++) {
        pthread_join(p[i], NULL);
        pthread_join(c[i], NULL);
    }
    printf("bounded queue: consumed sum %ld (expected %ld)\n", consumed_sum,
           2L * 500 * 501 / 2 + 1000L * 500);
    pthread_barrier_init(&barrier, NULL, 5);
    pthread_t b[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&b[i], NULL, at_barrier, NULL);
    int serial = pthread_barrier_wait(&barrier) == PTHREAD_BARRIER_SERIAL_THREAD;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(b[i], &r);
        serial += (int)(long)r;
    }
    printf("barrier of 5: all arrived %s, one serial thread %s\n", yesno(arrived == 4),
           yesno(serial == 1));
    /* A timed wait that times out. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 20000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&q_lock);
    int r = pthread_cond_timedwait(&q_nonempty, &q_lock, &ts);
    pthread_mutex_unlock(&q_lock);
    printf("pthread_cond_timedwait with nobody signalling: %s\n", errname(r));
}

/* ---------------------------------------------------------------- TLS ---------------- */

static __thread int tls_value = 42;
static __thread char tls_buf[64];

static void *tls_thread(void *arg)
{
    int id = (int)(long)arg;
    int initial = tls_value;
    tls_value = id * 100;
    snprintf(tls_buf, sizeof tls_buf, "thread-%d", id);
    usleep(5000);
    int ok = tls_value == id * 100;
    char want[16];
    snprintf(want, sizeof want, "thread-%d", id);
    ok = ok && !strcmp(tls_buf, want);
    return (void *)(long)(initial == 42 && ok);
}

static void tls(void)
{
    puts("== tls");
    tls_value = 7;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, tls_thread, (void *)(long)(i + 1));
    int good = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        good += (int)(long)r;
    }
    printf("threads saw the initial TLS value and kept their own: %d of 4\n", good);
    printf("main's TLS value untouched: %s\n", yesno(tls_value == 7));
}

/* ---------------------------------------------------------------- signals ------------ */

static volatile pid_t handled_by;
static volatile int handled_sig;

static void on_usr(int sig)
{
    handled_by = gettid_();
    handled_sig = sig;
}

static volatile int stop_waiter;
static volatile pid_t waiter_tid;

static void *unblocked_waiter(void *arg)
{
    (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigaddset(&s, SIGUSR2);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
    waiter_tid = gettid_();
    while (!stop_waiter)
        usleep(1000);
    return NULL;
}

static void *spinning_target(void *arg)
{
    (void)arg;
    waiter_tid = gettid_();
    while (!stop_waiter)
        __asm__ volatile("" ::: "memory"); /* app code, no system call */
    return NULL;
}

static bool wait_handled(int sig)
{
    for (int i = 0; i < 2000 && handled_sig != sig; i++)
        usleep(1000);
    return handled_sig == sig;
}

static void masks(void)
{
    puts("== signal-masks");
    struct sigaction sa = {.sa_handler = on_usr};
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigaddset(&s, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &s, &old);
    pthread_t t;
    stop_waiter = 0;
    waiter_tid = 0;
    pthread_create(&t, NULL, unblocked_waiter, NULL);
    while (!waiter_tid)
        usleep(1000);
    /* To the process: main blocks it, so the thread that does not must take it. */
    kill(getpid(), SIGUSR1);
    bool got = wait_handled(SIGUSR1);
    printf("kill(getpid()) taken by the thread that does not block it: %s\n",
           yesno(got && handled_by == waiter_tid));
    /* To one thread. */
    handled_sig = 0;
    pthread_kill(t, SIGUSR2);
    got = wait_handled(SIGUSR2);
    printf("pthread_kill runs the handler in that thread: %s\n",
           yesno(got && handled_by == waiter_tid));
    handled_sig = 0;
    syscall(SYS_tgkill, getpid(), waiter_tid, SIGUSR1);
    got = wait_handled(SIGUSR1);
    printf("tgkill to a tid: %s\n", yesno(got && handled_by == waiter_tid));
    stop_waiter = 1;
    pthread_join(t, NULL);
    /* The mask is per thread: main's is still what it set. */
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    printf("main still blocks SIGUSR1: %s\n", yesno(sigismember(&now, SIGUSR1)));
    /* A blocked thread-directed signal stays pending for that thread only. */
    handled_sig = 0;
    pthread_kill(pthread_self(), SIGUSR2);
    sigset_t pend;
    sigpending(&pend);
    printf("pthread_kill to self while blocked: pending %s, handled %s\n",
           yesno(sigismember(&pend, SIGUSR2)), yesno(handled_sig != 0));
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    printf("handled once unblocked: %s\n", yesno(handled_sig == SIGUSR2 && handled_by == gettid_()));
    /* A thread busy in app code (no system calls) is interrupted for its signal. */
    pthread_sigmask(SIG_BLOCK, &s, &old);
    stop_waiter = 0;
    waiter_tid = 0;
    handled_sig = 0;
    sigset_t unb;
    sigemptyset(&unb);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_sigmask(SIG_SETMASK, &old, NULL); /* the new thread inherits an open mask */
    pthread_create(&t, &a, spinning_target, NULL);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    while (!waiter_tid)
        usleep(1000);
    pthread_kill(t, SIGUSR1);
    got = wait_handled(SIGUSR1);
    printf("a thread spinning in app code gets its signal: %s\n",
           yesno(got && handled_by == waiter_tid));
    stop_waiter = 1;
    pthread_join(t, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    (void)unb;
}

/* ---------------------------------------------------------------- exit --------------- */

static void *exit_later(void *arg)
{
    usleep(50000);
    syscall(SYS_exit, (int)(long)arg);
    return NULL;
}

static void *pthread_exit_later(void *arg)
{
    usleep(20000);
    pthread_exit(arg);
}

static void *exit_group_later(void *arg)
{
    usleep(20000);
    exit((int)(long)arg);
}

static void *sleeper(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

static int child_status(pid_t p)
{
    int st = 0;
    waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void exits(void)
{
    puts("== exit");
    fflush(stdout);
    /* One thread's exit: the others go on; pthread_join sees it gone. */
    pthread_t t;
    void *ret = NULL;
    pthread_create(&t, NULL, pthread_exit_later, (void *)3L);
    int r = pthread_join(t, &ret);
    printf("pthread_exit in a thread ends only it, join: %s, value %ld\n", errname(r), (long)ret);
    /* Every thread calls exit: the process's status is the main thread's. */
    pid_t p = fork();
    if (p == 0) {
        pthread_t u;
        pthread_create(&u, NULL, exit_later, (void *)3L);
        syscall(SYS_exit, 5);
    }
    printf("all threads exit (main with 5, last with 3): status %d\n", child_status(p));
    /* exit() in a thread (exit_group) ends the process while main waits. */
    p = fork();
    if (p == 0) {
        pthread_t u, v;
        pthread_create(&v, NULL, sleeper, NULL);
        pthread_create(&u, NULL, exit_group_later, (void *)4L);
        pthread_join(u, NULL);
        _exit(99);
    }
    printf("exit(4) in a thread while others sleep: status %d\n", child_status(p));
    /* A fatal signal to one thread ends the process. */
    p = fork();
    if (p == 0) {
        pthread_t u;
        pthread_create(&u, NULL, sleeper, NULL);
        usleep(10000);
        pthread_kill(u, SIGTERM);
        for (;;)
            pause();
    }
    printf("SIGTERM to one thread (default action): status %d\n", child_status(p));
}

/* ---------------------------------------------------------------- fork --------------- */

static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int holder_ready;

static void *hold_lock(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&held_lock);
    holder_ready = 1;
    while (holder_ready != 2)
        usleep(1000);
    pthread_mutex_unlock(&held_lock);
    return NULL;
}

static void forks(void)
{
    puts("== fork");
    fflush(stdout);
    pthread_t t[3];
    pthread_create(&t[0], NULL, hold_lock, NULL);
    stop_waiter = 0;
    pthread_create(&t[1], NULL, unblocked_waiter, NULL);
    pthread_create(&t[2], NULL, unblocked_waiter, NULL);
    while (!holder_ready)
        usleep(1000);
    pid_t p = fork();
    if (p == 0) {
        /* Only the forking thread exists here; the lock another thread held stays held. */
        bool me = gettid_() == getpid();
        bool busy = pthread_mutex_trylock(&held_lock) == EBUSY;
        pthread_t u;
        struct work w = {.n = 10};
        bool newthread = pthread_create(&u, NULL, square_sum, &w) == 0 &&
                         pthread_join(u, NULL) == 0 && w.result == 385 && w.pid == getpid();
        printf("child: its tid is its pid %s, other thread's lock still held %s, new threads "
               "work %s\n",
               yesno(me), yesno(busy), yesno(newthread));
        fflush(stdout);
        _exit(0);
    }
    printf("child status %d\n", child_status(p));
    holder_ready = 2;
    stop_waiter = 1;
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    printf("parent's threads went on: yes\n");
}

/* ---------------------------------------------------------------- exec --------------- */

static const char *self_path;

static void *exec_from_thread(void *arg)
{
    (void)arg;
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    char *argv[] = {(char *)self_path, "execd", pid, NULL};
    execv(self_path, argv);
    printf("execv: %s\n", errname(errno));
    return NULL;
}

static void exec_section(void)
{
    puts("== exec");
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) {
        pthread_t t[3];
        stop_waiter = 0;
        pthread_create(&t[0], NULL, sleeper, NULL);
        pthread_create(&t[1], NULL, spinning_target, NULL);
        pthread_create(&t[2], NULL, exec_from_thread, NULL);
        for (;;)
            pause();
    }
    printf("exec'd child status %d\n", child_status(p));
}

static int execd(const char *pid)
{
    printf("new image after execve in a thread: same pid %s, tid is pid %s\n",
           yesno(atoi(pid) == getpid()), yesno(gettid_() == getpid()));
    /* Only one thread left: a new one works. */
    pthread_t u;
    struct work w = {.n = 3};
    bool ok = pthread_create(&u, NULL, square_sum, &w) == 0 && pthread_join(u, NULL) == 0 &&
              w.result == 14;
    printf("threads work in the new image: %s\n", yesno(ok));
    return 6;
}

/* ---------------------------------------------------------------- address space ------ */

static volatile int *shared_page;
static volatile int reader_state; /* 1 reading, 2 faulted */
static sigjmp_buf reader_jmp;

static void on_segv(int sig)
{
    (void)sig;
    siglongjmp(reader_jmp, 1);
}

static void *reader(void *arg)
{
    (void)arg;
    if (sigsetjmp(reader_jmp, 1)) {
        reader_state = 2;
        return NULL;
    }
    reader_state = 1;
    for (;;)
        (void)*shared_page; /* app code only: a stale translation would go on working */
}

/* Another thread's munmap/mprotect takes effect in a thread that keeps reading the page. */
static void address_space(void)
{
    puts("== address-space");
    struct sigaction sa = {.sa_handler = on_segv};
    sigaction(SIGSEGV, &sa, NULL);
    for (int how = 0; how < 2; how++) {
        int *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        p[0] = 1;
        shared_page = p;
        reader_state = 0;
        pthread_t t;
        pthread_create(&t, NULL, reader, NULL);
        while (reader_state != 1)
            usleep(1000);
        usleep(5000);
        if (how == 0)
            munmap(p, 4096);
        else
            mprotect(p, 4096, PROT_NONE);
        for (int i = 0; i < 3000 && reader_state != 2; i++)
            usleep(1000);
        printf("%s by another thread: the reading thread faults %s\n",
               how == 0 ? "munmap" : "mprotect PROT_NONE", yesno(reader_state == 2));
        if (reader_state == 2)
            pthread_join(t, NULL);
        if (how == 1)
            munmap(p, 4096);
    }
    signal(SIGSEGV, SIG_DFL);
}

/* ---------------------------------------------------------------- CPUs --------------- */

static void cpus(void)
{
    puts("== cpus");
    cpu_set_t set;
    CPU_ZERO(&set);
    int r = sched_getaffinity(0, sizeof set, &set);
    printf("sched_getaffinity: %s, at least one CPU %s\n", r == 0 ? "OK" : errname(errno),
           yesno(CPU_COUNT(&set) >= 1));
    int first = -1;
    for (int i = 0; i < CPU_SETSIZE && first < 0; i++)
        if (CPU_ISSET(i, &set))
            first = i;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    r = sched_setaffinity(0, sizeof one, &one);
    unsigned cpu = 99, node = 99;
    int g = (int)syscall(SYS_getcpu, &cpu, &node, NULL);
    printf("pinned to one CPU: %s, getcpu %s and names it %s\n", r == 0 ? "OK" : errname(errno),
           g == 0 ? "OK" : errname(errno), yesno((int)cpu == first));
    sched_setaffinity(0, sizeof set, &set);
    CPU_ZERO(&one);
    r = sched_setaffinity(0, sizeof one, &one);
    printf("empty mask: %s\n", r == 0 ? "OK" : errname(errno));
    long q = syscall(SYS_membarrier, 0 /* QUERY */, 0, 0);
    printf("membarrier QUERY has PRIVATE_EXPEDITED: %s\n", yesno(q > 0 && (q & 8)));
    long e1 = syscall(SYS_membarrier, 8, 0, 0);
    printf("PRIVATE_EXPEDITED before registering: %s\n", e1 == 0 ? "OK" : errname(errno));
    long reg = syscall(SYS_membarrier, 16, 0, 0);
    pthread_t t;
    stop_waiter = 0;
    pthread_create(&t, NULL, spinning_target, NULL);
    long e2 = syscall(SYS_membarrier, 8, 0, 0);
    stop_waiter = 1;
    pthread_join(t, NULL);
    printf("register: %s, then PRIVATE_EXPEDITED with a busy thread: %s\n",
           reg == 0 ? "OK" : errname(errno), e2 == 0 ? "OK" : errname(errno));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && !strcmp(argv[1], "execd"))
        return execd(argv[2]);
    self_path = argv[0];
    create_join();
    many();
    condvar();
    tls();
    masks();
    exits();
    forks();
    exec_section();
    address_space();
    cpus();
    return 0;
}
