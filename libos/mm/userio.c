/* Guest-physical scatter lists of user buffers, for I/O the host does in place (a socket's
 * data moves between the host kernel and the app's pages with one copy, as on Linux). The
 * pages are faulted in first — for writing, each becomes this process's own frame (a
 * copy-on-write page is copied) — so that the host writes exactly where the app reads.
 * Valid while the caller holds the big lock: no other thread can unmap them meanwhile. */
#include "mm.h"
#include "arch/x86_64/platform.h"
#include "libos/errno.h"
#include "uno_abi.h"

/* One byte of the page at va read (or atomically left as it is, for writing): a fault the
 * usual handler serves if the page is not there yet. */
static void touch(u64 va, bool write)
{
    platform_user_access_begin();
    if (write)
        __atomic_fetch_add((volatile u8 *)va, 0, __ATOMIC_RELAXED);
    else
        (void)*(volatile u8 *)va;
    platform_user_access_end();
}

int user_io_list(u64 va, u64 len, bool write, struct uno_iov *out, int max)
{
    if (!user_ok((const void *)va, len, write ? PROT_WRITE : PROT_READ))
        return -EFAULT;
    int n = 0;
    while (len) {
        u64 in_page = PAGE_SIZE - (va & (PAGE_SIZE - 1));
        u64 chunk = MIN(in_page, len);
        touch(va, write);
        u64 pte = pt_lookup(va);
        if (!(pte & PTE_P) || (write && !(pte & PTE_W)))
            return -EFAULT;
        u64 gpa = (pte & PTE_ADDR) + (va & (PAGE_SIZE - 1));
        if (n && out[n - 1].gpa + out[n - 1].len == gpa) {
            out[n - 1].len += chunk; /* contiguous frames: one segment */
        } else {
            if (n == max)
                return n; /* the rest another time: a short transfer */
            out[n++] = (struct uno_iov){.gpa = gpa, .len = chunk};
        }
        va += chunk;
        len -= chunk;
    }
    return n;
}
