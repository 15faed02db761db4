/* Clocks without exits: the TSC, scaled with the pair of readings the VMM took at boot. */
#include "kernel.h"
#include "arch/x86_64/platform.h"

static u64 tsc_base, mono_base, wall_base;
static u32 mult, shift;

void time_init(void)
{
    tsc_base = bootinfo->tsc_base;
    mono_base = bootinfo->mono_ns;
    wall_base = bootinfo->wall_ns;
    mult = bootinfo->tsc_mult;
    shift = bootinfo->tsc_shift;
}

static u64 since_boot(void)
{
    u64 t = platform_rdtsc();
    if (t < tsc_base)
        return 0;
    return (u64)(((unsigned __int128)(t - tsc_base) * mult) >> shift);
}

u64 time_mono_ns(void) { return mono_base + since_boot(); }
u64 time_wall_ns(void) { return wall_base + since_boot(); }
