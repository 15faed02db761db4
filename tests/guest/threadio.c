/* Host calls of several threads at once: one thread blocked in poll on a pipe while another
 * reads it (each gets its own result: a hypercall's result once crossed threads here), and a
 * fork from a thread while the main thread is blocked reading a pipe the child writes.
 * Exits 1 if a CHECK failed. */
#include "guest.h"
#include <pthread.h>
#include <sys/wait.h>

static int p[2];

static void *poller(void *arg)
{
    (void)arg;
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    int n = poll(&pf, 1, 3000);
    return (void *)(long)(n == 1 && (pf.revents & POLLIN));
}

static void *reader(void *arg)
{
    (void)arg;
    char b[8];
    return (void *)(long)read(p[0], b, 3);
}

static void poll_and_read(void)
{
    section("one thread polls a pipe, another reads it");
    int ok = 0;
    for (int round = 0; round < 20; round++) {
        if (pipe(p))
            break;
        pthread_t a, b;
        pthread_create(&a, NULL, poller, NULL);
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
        pthread_create(&b, NULL, reader, NULL);
        nanosleep(&ts, NULL);
        /* Six bytes, of which the reader takes three: the rest keeps the pipe readable,
         * so poll must see it whichever thread the write wakes first (with exactly three, a
         * poller that looks after the read finds the pipe empty again and sleeps on, on
         * Linux too). */
        if (write(p[1], "heyhey", 6) != 6)
            break;
        void *ra, *rb;
        pthread_join(b, &rb);
        pthread_join(a, &ra);
        ok += (long)rb == 3 && (long)ra == 1;
        close(p[0]);
        close(p[1]);
    }
    printf("the reader got its 3 bytes and poll returned, 20 times: %s\n", yesno(ok == 20));
    fflush(stdout);
}

static void *forker(void *arg)
{
    (void)arg;
    pid_t c = fork();
    if (c == 0) {
        if (write(p[1], "OK", 2) != 2)
            _exit(1);
        _exit(0);
    }
    int st = 0;
    waitpid(c, &st, 0);
    return (void *)(long)(WIFEXITED(st) ? WEXITSTATUS(st) : 99);
}

static void fork_from_thread(void)
{
    section("fork from a thread while the main thread reads a pipe");
    if (pipe(p))
        return;
    pthread_t t;
    pthread_create(&t, NULL, forker, NULL);
    char b[3] = {0};
    ssize_t n = read(p[0], b, 2);
    void *r;
    pthread_join(t, &r);
    printf("main read the child's bytes: %s\n", yesno(n == 2 && !strcmp(b, "OK")));
    printf("the child exited 0: %s\n", yesno((long)r == 0));
    fflush(stdout);
}

int main(void)
{
    signal(SIGALRM, on_watchdog); /* the watchdog, sooner than guest.h's 20 s */
    alarm(5);
    fork_from_thread();
    poll_and_read();
    printf("failures: %d\n", guest_failures);
    return guest_failures ? 1 : 0;
}
