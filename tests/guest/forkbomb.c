/* Forks until fork fails (at most 64 children), each child waiting on a pipe; prints how
 * many forks succeeded and the errno of the failure, then releases and reaps them all.
 * Run only inside uno with a small --pids-limit (tests/ts/vmm.test.ts; the differential suite does not run it): natively the bound
 * would be the host's RLIMIT_NPROC. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    int p[2];
    if (pipe(p) < 0)
        return 2;
    int n = 0, err = 0;
    for (; n < 64; n++) {
        pid_t pid = fork();
        if (pid < 0) {
            err = errno;
            break;
        }
        if (pid == 0) {
            char c;
            close(p[1]);
            while (read(p[0], &c, 1) > 0) {}
            _exit(0);
        }
    }
    close(p[1]); /* EOF for every child */
    int reaped = 0;
    while (wait(NULL) > 0)
        reaped++;
    printf("forked %d, then %s; reaped %d\n", n, err ? strerror(err) : "no failure", reaped);
    return err == EAGAIN ? 0 : 1;
}
