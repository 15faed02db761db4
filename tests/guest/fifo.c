/* Named pipes and mknod under a fresh directory given as argv[1] (it must not exist yet):
 * mkfifo/mknod and their errors, open of a FIFO with and without O_NONBLOCK (a writer waits
 * for a reader, as Linux's does), data and EOF through it, two processes meeting at one, and
 * mknod of a regular file. Exits 1 if a CHECK failed. */
#include "guest.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ERR(expr) ((errno = 0, (expr)) < 0 ? errname(errno) : "ok")

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static void make_and_stat(void)
{
    section("mkfifo and mknod");
    umask(022);
    printf("mkfifo f 0666: %s\n", ERR(mkfifo("f", 0666)));
    struct stat st;
    EXPECT("stat f", stat("f", &st) == 0);
    printf("a FIFO: %s, mode %o, size %lld\n", yesno(S_ISFIFO(st.st_mode)),
           (unsigned)(st.st_mode & 07777), (long long)st.st_size);
    printf("mkfifo f again: %s\n", ERR(mkfifo("f", 0666)));
    printf("mkfifo in a missing directory: %s\n", ERR(mkfifo("nodir/f", 0666)));
    printf("mknod S_IFIFO g: %s\n", ERR(mknod("g", S_IFIFO | 0640, 0)));
    EXPECT("stat g", stat("g", &st) == 0);
    printf("g a FIFO: %s, mode %o\n", yesno(S_ISFIFO(st.st_mode)), (unsigned)(st.st_mode & 0777));
    printf("mknod regular r: %s\n", ERR(mknod("r", S_IFREG | 0600, 0)));
    EXPECT("stat r", stat("r", &st) == 0);
    printf("r regular: %s, size %lld\n", yesno(S_ISREG(st.st_mode)), (long long)st.st_size);
    printf("mknod with type 0: %s\n", ERR(mknod("r0", 0644, 0)));
    printf("mknod with a bad type: %s\n", ERR(mknod("bad", 0170000 | 0644, 0)));
    printf("mknodat: %s\n", ERR(mknodat(AT_FDCWD, "h", S_IFIFO | 0600, 0)));
}

static void open_rules(void)
{
    section("opening a FIFO");
    printf("O_WRONLY|O_NONBLOCK without a reader: %s\n", ERR(open("f", O_WRONLY | O_NONBLOCK)));
    int r = open("f", O_RDONLY | O_NONBLOCK);
    printf("O_RDONLY|O_NONBLOCK: %s\n", r >= 0 ? "ok" : errname(errno));
    char buf[64];
    printf("read with no writer yet: %s\n", ERR(read(r, buf, sizeof buf)));
    int w = open("f", O_WRONLY); /* a reader exists: no wait */
    printf("O_WRONLY with a reader: %s\n", w >= 0 ? "ok" : errname(errno));
    EXPECT("write", write(w, "hello", 5) == 5);
    ssize_t n = read(r, buf, sizeof buf);
    printf("read: %zd \"%.*s\"\n", n, (int)(n > 0 ? n : 0), buf);
    printf("read with the writer there, empty: %s\n", ERR(read(r, buf, sizeof buf)));
    close(w);
    printf("read after the writer closed: %zd\n", read(r, buf, sizeof buf));
    close(r);
    int rw = open("f", O_RDWR);
    printf("O_RDWR: %s\n", rw >= 0 ? "ok" : errname(errno));
    EXPECT("O_RDWR write", write(rw, "x", 1) == 1);
    EXPECT("O_RDWR read back", read(rw, buf, 1) == 1 && buf[0] == 'x');
    struct stat st;
    EXPECT("fstat of the open FIFO", fstat(rw, &st) == 0 && S_ISFIFO(st.st_mode));
    close(rw);
}

static void two_processes(void)
{
    section("two processes meet at a FIFO");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int w = open("g", O_WRONLY); /* waits for the parent's open */
        if (w < 0)
            _exit(2);
        static char block[4096];
        for (int i = 0; i < 64; i++) {
            memset(block, 'a' + i % 26, sizeof block);
            if (write(w, block, sizeof block) != (ssize_t)sizeof block)
                _exit(3);
        }
        _exit(0);
    }
    long long t0 = now_ms();
    usleep(200000); /* the child is waiting in open meanwhile */
    int r = open("g", O_RDONLY);
    printf("open for reading: %s\n", r >= 0 ? "ok" : errname(errno));
    long long total = 0, sum = 0;
    char buf[8192];
    ssize_t n;
    while ((n = read(r, buf, sizeof buf)) > 0) {
        total += n;
        for (ssize_t i = 0; i < n; i++)
            sum += buf[i];
    }
    close(r);
    int st = 0;
    waitpid(pid, &st, 0);
    printf("bytes: %lld, checksum %lld\n", total, sum);
    EXPECT("the writer waited for the reader and ended well",
           WIFEXITED(st) && WEXITSTATUS(st) == 0 && now_ms() - t0 >= 150);
}

int main(int argc, char **argv)
{
    if (argc < 2 || mkdir(argv[1], 0755) || chdir(argv[1])) {
        fprintf(stderr, "usage: fifo NEW-DIRECTORY\n");
        return 2;
    }
    make_and_stat();
    open_rules();
    two_processes();
    unlink("f");
    unlink("g");
    unlink("h");
    unlink("r");
    unlink("r0");
    chdir("/");
    printf("rmdir: %s\n", ERR(rmdir(argv[1])));
    return guest_failures ? 1 : 0;
}
