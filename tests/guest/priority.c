/* Nice values, as a container has them (no CAP_SYS_NICE): getpriority/setpriority/nice for
 * the process and its threads, made nicer but never less nice, clamped to 19, inherited by
 * a new thread; an unknown pid is ESRCH. Compared with the same program run natively in a
 * user namespace (where CAP_SYS_NICE does not reach the host either). */
#include "guest.h"
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

static const char *res(int r) { return r < 0 ? errname(errno) : "ok"; }

static void *thread_main(void *arg)
{
    (void)arg;
    errno = 0;
    printf("a new thread's nice: %d\n", getpriority(PRIO_PROCESS, 0));
    printf("the thread makes itself nicer (8): %s\n", res(setpriority(PRIO_PROCESS, 0, 8)));
    printf("the thread's nice: %d\n", getpriority(PRIO_PROCESS, 0));
    return NULL;
}

int main(void)
{
    section("nice values");
    errno = 0;
    printf("nice at start: %d\n", getpriority(PRIO_PROCESS, 0));
    printf("setpriority 5: %s\n", res(setpriority(PRIO_PROCESS, 0, 5)));
    printf("getpriority(pid): %d\n", getpriority(PRIO_PROCESS, getpid()));
    pthread_t t;
    pthread_create(&t, NULL, thread_main, NULL);
    pthread_join(t, NULL);
    printf("the main thread's is still: %d\n", getpriority(PRIO_PROCESS, 0));
    printf("setpriority 3 (less nice): %s\n", res(setpriority(PRIO_PROCESS, 0, 3)));
    printf("setpriority 30: %s\n", res(setpriority(PRIO_PROCESS, 0, 30)));
    printf("clamped to: %d\n", getpriority(PRIO_PROCESS, 0));
    errno = 0;
    int r = getpriority(PRIO_PROCESS, 999999);
    printf("an unknown pid: %d %s\n", r, errname(errno));
    errno = 0;
    printf("nice(1) at 19: %d %s\n", nice(1), errname(errno));
    return 0;
}
