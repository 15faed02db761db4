/* Randomness and the simple devices: getrandom, /dev/urandom, /dev/random, /dev/null,
 * /dev/zero, /dev/full. Exits 1 if a CHECK failed. */
#include "guest.h"
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int all_zero(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

static void dev_random(const char *path)
{
    unsigned char a[64], b[64];
    int fd = open(path, O_RDONLY);
    printf("open %s: %s\n", path, fd < 0 ? errname(errno) : "ok");
    if (fd < 0) {
        guest_failures++;
        return;
    }
    ssize_t n1 = read(fd, a, sizeof a), n2 = read(fd, b, sizeof b);
    printf("%s reads: %zd %zd\n", path, n1, n2);
    CHECK("not all zero", !all_zero(a, sizeof a));
    CHECK("two reads differ", memcmp(a, b, sizeof a) != 0);
    static unsigned char big[1 << 20];
    ssize_t nb = read(fd, big, sizeof big);
    printf("%s 1 MiB read: %zd\n", path, nb);
    /* every byte value shows up in 1 MiB of random data */
    int seen[256] = {0}, distinct = 0;
    for (ssize_t i = 0; i < nb; i++)
        if (!seen[big[i]]++) distinct++;
    CHECK("all 256 byte values seen", distinct == 256);
    struct stat st;
    fstat(fd, &st);
    printf("%s: chr=%s rdev=%u:%u\n", path, yesno(S_ISCHR(st.st_mode)), major(st.st_rdev),
           minor(st.st_rdev));
    close(fd);
}

int main(void)
{
    unsigned char a[64], b[64];
    printf("== getrandom\n");
    SHOW("getrandom 64", getrandom(a, sizeof a, 0));
    SHOW("getrandom 64 again", getrandom(b, sizeof b, 0));
    CHECK("not all zero", !all_zero(a, sizeof a));
    CHECK("two calls differ", memcmp(a, b, sizeof a) != 0);
    SHOW("getrandom GRND_NONBLOCK", getrandom(a, 16, GRND_NONBLOCK));
    SHOW("getrandom GRND_RANDOM", getrandom(a, 16, GRND_RANDOM));
    SHOW("getrandom 0 bytes", getrandom(a, 0, 0));
    SHOW("getrandom bad flags", getrandom(a, 16, 0x40));
    static unsigned char big[256];
    SHOW("getrandom 256", getrandom(big, sizeof big, 0));

    printf("== /dev/urandom, /dev/random\n");
    dev_random("/dev/urandom");
    dev_random("/dev/random");

    printf("== /dev/null\n");
    char buf[100];
    int fd = open("/dev/null", O_RDWR);
    SHOW("read /dev/null", read(fd, buf, sizeof buf));
    SHOW("write /dev/null", write(fd, "abc", 3));
    SHOW("write 64 KiB to /dev/null", write(fd, (char[1 << 16]){0}, 1 << 16));
    SHOW("lseek /dev/null", lseek(fd, 100, SEEK_SET));
    struct stat st;
    fstat(fd, &st);
    printf("/dev/null: chr=%s rdev=%u:%u mode=%04o\n", yesno(S_ISCHR(st.st_mode)),
           major(st.st_rdev), minor(st.st_rdev), st.st_mode & 0777);
    close(fd);

    printf("== /dev/zero\n");
    fd = open("/dev/zero", O_RDWR);
    memset(buf, 0x55, sizeof buf);
    SHOW("read /dev/zero", read(fd, buf, sizeof buf));
    CHECK("zeros", all_zero((unsigned char *)buf, sizeof buf));
    SHOW("write /dev/zero", write(fd, "abc", 3));
    fstat(fd, &st);
    printf("/dev/zero: chr=%s rdev=%u:%u\n", yesno(S_ISCHR(st.st_mode)), major(st.st_rdev),
           minor(st.st_rdev));
    close(fd);

    printf("== /dev/full\n");
    fd = open("/dev/full", O_RDWR);
    SHOW("write /dev/full", write(fd, "abc", 3));
    memset(buf, 0x55, sizeof buf);
    SHOW("read /dev/full", read(fd, buf, sizeof buf));
    CHECK("zeros", all_zero((unsigned char *)buf, sizeof buf));
    fstat(fd, &st);
    printf("/dev/full: chr=%s rdev=%u:%u\n", yesno(S_ISCHR(st.st_mode)), major(st.st_rdev),
           minor(st.st_rdev));
    close(fd);
    FILE *f = fopen("/dev/full", "w");
    fputs("hello", f);
    errno = 0;
    int fl = fflush(f);
    printf("fflush to /dev/full: %s\n", fl ? errname(errno) : "ok");
    fclose(f);

    printf("== /dev/stdout, /dev/fd\n");
    fflush(stdout);
    fd = open("/dev/stdout", O_WRONLY);
    printf("open /dev/stdout: %s\n", fd < 0 ? errname(errno) : "ok");
    fflush(stdout);
    if (fd >= 0) {
        SHOW("write via /dev/stdout", write(fd, "via /dev/stdout\n", 16));
        close(fd);
    }
    fd = open("/dev/fd/1", O_WRONLY);
    printf("open /dev/fd/1: %s\n", fd < 0 ? errname(errno) : "ok");
    fflush(stdout);
    if (fd >= 0) {
        SHOW("write via /dev/fd/1", write(fd, "via /dev/fd/1\n", 14));
        close(fd);
    }
    return guest_failures ? 1 : 0;
}
