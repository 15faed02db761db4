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
static u64 table_hint; /* page tables: the first TABLE_POOL frames, then the top, down */
#define TABLE_POOL 64

void frame_init(u64 start, u64 end)
{
    base = ALIGN_UP(start, PAGE_SIZE);
    nframes = (end - base) / PAGE_SIZE;
    u64 words = (nframes + 63) / 64;
    bitmap = kmalloc(words * 8);
    if (!bitmap)
        panic("no room for the frame bitmap (%lu frames)", nframes);
    memset(bitmap, 0, words * 8);
    /* The app's frames start after a small pool for page tables: the first frames a program
     * gets and its first page tables then share one 2 MiB host page. */
    table_hint = MIN((u64)TABLE_POOL, nframes);
    hint = hwm = table_hint;
    nfree = nframes;
}

static bool used(u64 i) { return (bitmap[i / 64] >> (i % 64)) & 1; }

/* Page-table pages come from a pool below the app's frames, so that they share a few 2 MiB
 * host pages instead of each landing in a fresh one among the app's frames (a fresh 2 MiB
 * page costs the host ~0.1 ms to fault in). Pool frames are never handed out twice. */
u64 frame_alloc_table(void)
{
    while (table_hint > 0) {
        u64 i = --table_hint;
        if (used(i))
            continue;
        bitmap[i / 64] |= 1ull << (i % 64);
        nfree--;
        return base + i * PAGE_SIZE;
    }
    return frame_alloc();
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
            memset(phys_to_virt(pa), 0, PAGE_SIZE); /* reused: clear it */
        else
            hwm = i + 1;
        return pa;
    }
    return 0;
}

/* n contiguous frames, the first aligned to n frames (n a power of two): a thread's block
 * (proc/thread.c). Taken from the top of RAM down, away from the app's first frames. */
u64 frame_alloc_block(u64 n)
{
    if (!n || (n & (n - 1)))
        return 0;
    u64 first = ALIGN_UP(base / PAGE_SIZE, n) - base / PAGE_SIZE; /* index of an aligned frame */
    for (i64 i = (i64)(ALIGN_DOWN(nframes - first, n) + first) - (i64)n; i >= (i64)first;
         i -= (i64)n) {
        bool free = true;
        for (u64 k = 0; k < n && free; k++)
            free = !used((u64)i + k);
        if (!free)
            continue;
        for (u64 k = 0; k < n; k++) {
            u64 j = (u64)i + k;
            bitmap[j / 64] |= 1ull << (j % 64);
        }
        nfree -= n;
        u64 pa = base + (u64)i * PAGE_SIZE;
        memset(phys_to_virt(pa), 0, n * PAGE_SIZE);
        return pa; /* (never freed: a block is reused for the next thread on its vCPU) */
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

/* exec: most of RAM was just freed. Frames above the highest one still in use go back to the
 * host (UNO_HC_DISCARD): they read as zero again, so they need no clearing, and a page the new
 * program never touches costs nothing — after a fork it would otherwise be copied the moment
 * it is cleared. */
void frame_discard_free_tail(void)
{
    u64 top = hwm;
    while (top > table_hint && top > 0 && !used(top - 1))
        top--;
    if (top >= hwm)
        return;
    struct uno_hcall *hc = platform_hcall_block();
    hc->arg[0] = base + top * PAGE_SIZE;
    hc->arg[1] = (hwm - top) * PAGE_SIZE;
    platform_hypercall(UNO_HC_DISCARD);
    if (hc->ret == 0) {
        hwm = top;
        if (hint > top)
            hint = top;
    }
}
