/* Things every part of the libOS uses: panic, console printing, the boot info. */
#ifndef CORE_KERNEL_H
#define CORE_KERNEL_H
#include "libos/types.h"
#include "libos/errno.h"
#include "../../abi/uno_abi.h"

extern const struct uno_bootinfo *bootinfo;

NORETURN void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print to the host's stderr (through the ring, asynchronously). */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Exit the whole VM: flush output, report status to the VMM. */
NORETURN void libos_exit(int status);
/* End the process as killed by signal `sig` (its default action). */
NORETURN void libos_die(int sig);

/* Time (core/time.c). */
u64 time_mono_ns(void);
u64 time_wall_ns(void);
void time_init(void);

#endif
