/* Console printing and panic. */
#include <stdarg.h>
#include "kernel.h"
#include "proc/proc.h"
#include "libos/fmt.h"
#include "io/ring.h"
#include "arch/x86_64/platform.h"

void kprintf(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf_l(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ring_write_async(UNO_HANDLE_STDERR, buf, (size_t)MIN(n, (int)sizeof buf - 1));
}

void panic(const char *fmt, ...)
{
    static char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf_l(buf, sizeof buf, fmt, ap);
    va_end(ap);
    struct uno_hcall *hc = platform_hcall_block();
    /* buf lives in the libOS image: its GPA is libos_phys + (va - UNO_VA_LIBOS). */
    hc->arg[0] = bootinfo->libos_phys + ((u64)buf - UNO_VA_LIBOS);
    hc->arg[1] = (u64)MIN(n, (int)sizeof buf - 1);
    for (;;)
        platform_hypercall(UNO_HC_PANIC);
}

void libos_exit(int status)
{
    if (vfork_child_running())
        vfork_child_exit((status & 0xff) << 8);
    ring_flush();
    platform_halt((status & 0xff) << 8);
}

void libos_die(int sig)
{
    if (vfork_child_running())
        vfork_child_exit(sig & 0x7f);
    ring_flush();
    platform_halt(sig & 0x7f);
}
