/* Physical frames: a bitmap over the RAM the libOS owns. RAM from the host starts zeroed,
 * so frames above the high-water mark need no clearing; a reused frame is cleared when it
 * is handed out again. */
#include "mm.h"
#include "arch/x86_64/platform.h"
#include "libos/string.h"
#include "core/kernel.h"
#include "core/kheap.h"

static u64 *bitmap; /* 1 = in use */
static u64 base, nframes, hint, hwm, nfree;

void frame_init(u64 start, u64 end)
{
    base = ALIGN_UP(start, PAGE_SIZE);
    nframes = (end - base) / PAGE_SIZE;
    u64 words = (nframes + 63) / 64;
    bitmap = kmalloc(words * 8);
    if (!bitmap)
        panic("no room for the frame bitmap (%lu frames)", nframes);
    memset(bitmap, 0, words * 8);
    hint = hwm = 0;
    nfree = nframes;
}

u64 frame_alloc(void)
{
    for (u64 n = 0; n < nframes; n++) {
        u64 i = hint + n;
        if (i >= nframes)
            i -= nframes;
        u64 w = bitmap[i / 64];
        if (w == ~0ull) {
            n += 63 - i % 64;
            continue;
        }
        if (w & (1ull << (i % 64)))
            continue;
        bitmap[i / 64] = w | (1ull << (i % 64));
        hint = i + 1;
        nfree--;
        u64 pa = base + i * PAGE_SIZE;
        if (i < hwm)
            memset(phys_to_virt(pa), 0, PAGE_SIZE);
        else
            hwm = i + 1;
        return pa;
    }
    return 0;
}

void frame_free(u64 pa)
{
    if (pa < base || pa >= base + nframes * PAGE_SIZE)
        panic("frame_free of foreign page %lx", pa);
    u64 i = (pa - base) / PAGE_SIZE;
    if (!(bitmap[i / 64] & (1ull << (i % 64))))
        panic("double free of frame %lx", pa);
    bitmap[i / 64] &= ~(1ull << (i % 64));
    nfree++;
    if (i < hint)
        hint = i;
}

u64 frame_free_count(void) { return nfree; }
u64 frame_total(void) { return nframes; }
