/* File I/O cost: N pwrite()s of 4 KiB at offset 0 of one file per repetition (in uno a file
 * of the writable layer: each is a hostio ring round trip to the VMM), then the same with
 * pread(). Prints one JSON line: ns per op, min/median/max over the repetitions.
 *   usage: filewrite PATH [N] [REPS] */
#include <fcntl.h>
#include <unistd.h>

#include "benchutil.h"

static char buf[4096];

static double time_op(int fd, long n, int write)
{
    uint64_t t0 = mono_ns();
    for (long i = 0; i < n; i++) {
        ssize_t r = write ? pwrite(fd, buf, sizeof buf, 0) : pread(fd, buf, sizeof buf, 0);
        if (r != (ssize_t)sizeof buf) {
            perror(write ? "filewrite: pwrite" : "filewrite: pread");
            exit(1);
        }
    }
    return (double)(mono_ns() - t0) / (double)n;
}

static struct stats run(int fd, long n, int reps, int write)
{
    double *v = calloc((size_t)reps, sizeof *v);
    time_op(fd, n / 10 + 1, write);
    for (int r = 0; r < reps; r++)
        v[r] = time_op(fd, n, write);
    struct stats s = stats_of(v, reps);
    free(v);
    return s;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: filewrite PATH [N] [REPS]\n");
        return 2;
    }
    long n = arg_long(argc, argv, 2, 2000);
    int reps = (int)arg_long(argc, argv, 3, 11);
    memset(buf, 'u', sizeof buf);
    int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror("filewrite: open");
        return 1;
    }
    struct stats w = run(fd, n, reps, 1);
    struct stats r = run(fd, n, reps, 0);
    close(fd);
    unlink(argv[1]);
    printf("{\"prog\":\"filewrite\",\"libc\":\"%s\",\"n\":%ld,\"reps\":%d,"
           "\"pwrite_4k\":{\"min_ns\":%.1f,\"median_ns\":%.1f,\"max_ns\":%.1f},"
           "\"pread_4k\":{\"min_ns\":%.1f,\"median_ns\":%.1f,\"max_ns\":%.1f}}\n",
           BENCH_LIBC, n, reps, w.min, w.median, w.max, r.min, r.median, r.max);
    return 0;
}
