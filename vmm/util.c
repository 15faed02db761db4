/* Small helpers every part of uno-vmm uses: the clock and --verbose logging. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "vmm.h"

uint64_t now_ns(int clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void vmm_log(struct vmm *v, const char *fmt, ...)
{
    if (!v->cfg.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "uno-vmm: [%7.3f ms] ", (double)(now_ns(CLOCK_MONOTONIC) - v->t_start_ns) / 1e6);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
