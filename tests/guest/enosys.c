/* Calls system calls that do not exist (number 1000) or that uno does not implement yet
 * (io_uring_setup, 425) and prints what came back: -ENOSYS, never a fake success. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void try(const char *what, long nr)
{
    errno = 0;
    long r = syscall(nr, 0, 0, 0, 0, 0, 0);
    printf("%s: %ld %s\n", what, r, r < 0 ? (errno == ENOSYS ? "ENOSYS" : strerror(errno)) : "ok");
}

int main(int argc, char **argv)
{
    (void)argv;
    try("syscall 1000", 1000);
    if (argc > 1)
        try("io_uring_setup", 425);
    return 0;
}
