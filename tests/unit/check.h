/* The host unit tests' assertion: counts passes and failures and reports the first
 * failures (file, line, message) without stopping, so one run shows everything broken.
 * Each test prints "N passed, M failed" last (check_summary) and exits non-zero on failure. */
#ifndef UNIT_CHECK_H
#define UNIT_CHECK_H
#include <stdio.h>

static long g_pass, g_fail;

#define CHECK_MAX_REPORTS 100

#define CHECK(cond, ...)                                                                        \
    do {                                                                                        \
        if (cond) {                                                                             \
            g_pass++;                                                                           \
        } else if (++g_fail <= CHECK_MAX_REPORTS) {                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                \
            fprintf(stderr, __VA_ARGS__);                                                       \
            fputc('\n', stderr);                                                                \
        }                                                                                       \
    } while (0)

#endif
