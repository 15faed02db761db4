/* File locks between processes: fcntl record locks (F_SETLK, F_GETLK naming the holder,
 * F_SETLKW waiting for a release and interrupted by a signal, release on close, not
 * inherited by fork), open-file-description locks, and flock (shared, exclusive, LOCK_NB,
 * inherited by fork as the open file is shared). Files in a fresh directory under /tmp.
 * Exits 1 if a CHECK failed. */
#include "guest.h"
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#ifndef F_OFD_GETLK
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#define F_OFD_SETLKW 38
#endif

static char path[64];

static int lk(int fd, int cmd, short type, off_t start, off_t len)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    return fcntl(fd, cmd, &fl) ? -errno : 0;
}

static struct flock probe(int fd, int cmd, short type, off_t start, off_t len)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    if (fcntl(fd, cmd, &fl))
        fl.l_type = -1;
    return fl;
}

/* Runs f in a child and returns its exit status. */
static int in_child(int (*f)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int r = f();
        fflush(stdout);
        _exit(r);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static pid_t parent;

static int child_sees_lock(void)
{
    int fd = open(path, O_RDWR);
    printf("child: F_SETLK write over the parent's: %s\n", errname(-lk(fd, F_SETLK, F_WRLCK, 0, 10)));
    printf("child: F_SETLK read beside it: %s\n", errname(-lk(fd, F_SETLK, F_RDLCK, 100, 10)));
    struct flock fl = probe(fd, F_GETLK, F_WRLCK, 0, 1);
    printf("child: F_GETLK names the parent: %s, type %s, start %ld len %ld\n",
           yesno(fl.l_pid == parent), fl.l_type == F_WRLCK ? "F_WRLCK" : "other",
           (long)fl.l_start, (long)fl.l_len);
    fl = probe(fd, F_GETLK, F_WRLCK, 50, 10);
    printf("child: F_GETLK where nothing conflicts: %s\n", fl.l_type == F_UNLCK ? "F_UNLCK" : "other");
    return 0;
}

static void on_alarm(int sig) { (void)sig; }

static int child_waits(void)
{
    int fd = open(path, O_RDWR);
    signal(SIGALRM, on_alarm);
    struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    printf("child: F_SETLKW interrupted by a signal: %s\n", errname(-lk(fd, F_SETLKW, F_WRLCK, 0, 10)));
    return 0;
}

static int child_blocks_until_release(void)
{
    int fd = open(path, O_RDWR);
    int r = lk(fd, F_SETLKW, F_WRLCK, 0, 10); /* the parent releases after 200 ms */
    printf("child: F_SETLKW got the lock after the release: %s\n", errname(-r));
    return 0;
}

static int child_no_inherit(void)
{
    int fd = open(path, O_RDWR);
    printf("child: a forked child does not hold the parent's lock: %s\n",
           errname(-lk(fd, F_SETLK, F_WRLCK, 0, 10)));
    return 0;
}

static void record_locks(void)
{
    section("fcntl record locks between processes");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (write(fd, "0123456789", 10) != 10)
        guest_failures++;
    printf("parent: F_SETLK write 0..10: %s\n", errname(-lk(fd, F_SETLK, F_WRLCK, 0, 10)));
    printf("child exited %d\n", in_child(child_sees_lock));
    printf("child exited %d\n", in_child(child_no_inherit));
    printf("child exited %d\n", in_child(child_waits));
    int p[2];
    if (pipe(p))
        guest_failures++;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        int r = child_blocks_until_release();
        fflush(stdout);
        _exit(r);
    }
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, NULL);
    printf("parent: unlock: %s\n", errname(-lk(fd, F_SETLK, F_UNLCK, 0, 10)));
    int st;
    waitpid(pid, &st, 0);
    printf("child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    close(p[0]);
    close(p[1]);

    section("locks go with close");
    printf("parent: F_SETLK again: %s\n", errname(-lk(fd, F_SETLK, F_WRLCK, 0, 10)));
    int other = open(path, O_RDONLY);
    close(other); /* closing any descriptor of the file drops the process's locks */
    printf("child exited %d\n", in_child(child_no_inherit));
    printf("F_SETLK write lock on a read-only descriptor: %s\n",
           errname(-lk(open(path, O_RDONLY), F_SETLK, F_WRLCK, 0, 1)));
    printf("bad lock type: %s\n", errname(-lk(fd, F_SETLK, 7, 0, 1)));
    close(fd);
}

static int ofd_fd;
static int child_ofd(void)
{
    int fd = open(path, O_RDWR);
    printf("child: OFD lock over the parent's: %s\n", errname(-lk(fd, F_OFD_SETLK, F_WRLCK, 0, 5)));
    printf("child: OFD lock through the inherited open file: %s\n",
           errname(-lk(ofd_fd, F_OFD_SETLK, F_WRLCK, 0, 5)));
    struct flock fl = probe(fd, F_OFD_GETLK, F_WRLCK, 0, 1);
    printf("child: F_OFD_GETLK l_pid: %d\n", (int)fl.l_pid);
    return 0;
}

static void ofd_locks(void)
{
    section("open file description locks");
    ofd_fd = open(path, O_RDWR);
    printf("parent: F_OFD_SETLK: %s\n", errname(-lk(ofd_fd, F_OFD_SETLK, F_WRLCK, 0, 5)));
    int again = open(path, O_RDWR);
    printf("parent: the same range through another open: %s\n",
           errname(-lk(again, F_OFD_SETLK, F_WRLCK, 0, 5)));
    printf("child exited %d\n", in_child(child_ofd));
    close(again);
    close(ofd_fd);
}

static int flock_fd;
static int child_flock(void)
{
    int fd = open(path, O_RDONLY);
    printf("child: LOCK_SH|LOCK_NB beside a shared lock: %s\n",
           errname(flock(fd, LOCK_SH | LOCK_NB) ? errno : 0));
    printf("child: LOCK_EX|LOCK_NB: %s\n", errname(flock(fd, LOCK_EX | LOCK_NB) ? errno : 0));
    printf("child: the inherited descriptor holds the same lock: %s\n",
           errname(flock(flock_fd, LOCK_EX | LOCK_NB) ? errno : 0));
    close(fd);
    return 0;
}

static void flock_locks(void)
{
    section("flock");
    flock_fd = open(path, O_RDONLY);
    printf("LOCK_SH: %s\n", errname(flock(flock_fd, LOCK_SH) ? errno : 0));
    printf("child exited %d\n", in_child(child_flock));
    printf("LOCK_UN: %s\n", errname(flock(flock_fd, LOCK_UN) ? errno : 0));
    printf("bad operation: %s\n", errname(flock(flock_fd, 0) ? errno : 0));
    printf("flock of a bad descriptor: %s\n", errname(flock(999, LOCK_SH) ? errno : 0));
    close(flock_fd);
}

int main(void)
{
    start_watchdog_child();
    parent = getpid();
    char dir[] = "/tmp/locks.XXXXXX";
    if (!mkdtemp(dir)) {
        printf("mkdtemp: %s\n", errname(errno));
        return 1;
    }
    snprintf(path, sizeof path, "%s/f", dir);
    record_locks();
    ofd_locks();
    flock_locks();
    unlink(path);
    rmdir(dir);
    stop_watchdog_child();
    printf("failures: %d\n", guest_failures);
    return guest_failures ? 1 : 0;
}
