/* What the libOS publishes to the vDSO: the page mapped read-only right below the vDSO's
 * code. Shared by libos/vdso/vdso.c (reads it) and libos/exec/vdso.c (fills it). */
#ifndef VDSO_DATA_H
#define VDSO_DATA_H

struct vdso_data {
    unsigned long long tsc_base;   /* TSC at the boot readings */
    unsigned long long mono_base;  /* CLOCK_MONOTONIC ns at tsc_base */
    unsigned long long wall_base;  /* CLOCK_REALTIME ns at tsc_base */
    unsigned int mult, shift;      /* ns = (tsc - tsc_base) * mult >> shift */
};

#define VDSO_CLOCK_REALTIME 0
#define VDSO_CLOCK_MONOTONIC 1
#define VDSO_CLOCK_MONOTONIC_RAW 4
#define VDSO_CLOCK_REALTIME_COARSE 5
#define VDSO_CLOCK_MONOTONIC_COARSE 6
#define VDSO_CLOCK_BOOTTIME 7

#define VDSO_NR_GETTIMEOFDAY 96
#define VDSO_NR_CLOCK_GETTIME 228
#define VDSO_NR_CLOCK_GETRES 229
#define VDSO_NR_GETCPU 309

#endif
