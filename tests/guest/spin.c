/* A child computing in a tight loop (no system calls) is interrupted by a signal from its
 * parent: its handler runs and ends the loop. The emulated-AMD-V smoke suite runs it (the
 * native backend's upcall); the differential suite covers the same in sigasync. */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_usr1(int sig) { (void)sig; stop = 1; }

int main(void)
{
    int ready[2];
    if (pipe(ready) < 0)
        return 2;
    signal(SIGUSR1, on_usr1);
    pid_t pid = fork();
    if (pid == 0) {
        volatile unsigned long n = 0;
        close(ready[0]);
        if (write(ready[1], "r", 1) != 1)
            _exit(3);
        while (!stop)
            n++;
        _exit(n > 0 ? 5 : 4);
    }
    char c;
    close(ready[1]);
    if (read(ready[0], &c, 1) != 1)
        return 2;
    usleep(100000); /* let it spin */
    kill(pid, SIGUSR1);
    int st;
    waitpid(pid, &st, 0);
    printf("spinning child: %s %d\n", WIFEXITED(st) ? "exited" : "signaled",
           WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    return 0;
}
