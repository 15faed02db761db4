/* Names known to be absent from the writable layer.
 *
 * A lookup in a directory the writable layer has asks the host (UNO_OP_STAT), and that is a
 * VM exit whenever the I/O thread is not polling: a server that opens the same file of the
 * image for every request (nginx does) paid one exit per request for an answer that does not
 * change. "Not in the layer" stays true until some process of the instance changes the
 * layer's names, and every VMM counts those changes in the instance's upper_gen (abi: struct
 * uno_shared_hdr), before and after each. So an answer is kept with the upper_gen read before
 * the host was asked, and believed only while upper_gen still has that value. Only absence
 * is kept: what the layer has (attributes, whiteouts) is asked for every time. */
#include "vfs.h"
#include "core/kernel.h"
#include "core/kheap.h"
#include "libos/string.h"
#include "mm/mm.h"

#define SLOTS 64          /* direct-mapped by a hash of the path */
#define PATH_ROOM 232     /* longer paths are not kept */

struct absent {
    u64 gen;
    u32 len;
    bool used;
    char path[PATH_ROOM];
};

static struct absent *table; /* allocated at first use; under the big lock like all lookups */

static struct absent *slot_of(const char *abs, u64 len)
{
    u32 h = 2166136261u; /* FNV-1a */
    for (u64 i = 0; i < len; i++)
        h = (h ^ (u8)abs[i]) * 16777619u;
    return &table[h % SLOTS];
}

static bool known_absent(const char *abs, u64 len)
{
    if (!table || len >= PATH_ROOM)
        return false;
    const struct absent *a = slot_of(abs, len);
    return a->used && a->len == len && a->gen == shared_upper_gen() && !memcmp(a->path, abs, len);
}

static void note_absent(const char *abs, u64 len, u64 gen)
{
    if (len >= PATH_ROOM)
        return;
    if (!table) {
        if (!(table = kmalloc(SLOTS * sizeof *table)))
            return;
        memset(table, 0, SLOTS * sizeof *table);
    }
    struct absent *a = slot_of(abs, len);
    a->gen = gen;
    a->len = (u32)len;
    memcpy(a->path, abs, len);
    a->used = true;
}

/* upper_stat, answered from what is known absent when it can be. */
i64 upper_lookup(const char *abs, struct uno_stat *st)
{
    u64 len = strlen(abs);
    if (known_absent(abs, len))
        return -ENOENT;
    u64 gen = shared_upper_gen();
    i64 r = upper_stat(abs, st);
    if (r == -ENOENT)
        note_absent(abs, len, gen);
    return r;
}
