/* Receiving ahead, the guest's side (abi/uno_abi.h, "Receiving ahead"; vmm/rxahead.c).
 *
 * A non-blocking TCP socket gets a one-page buffer that the VMM fills when an epoll wait
 * reports the socket readable; the app's next read takes its bytes from there without
 * leaving the VM. Only non-blocking sockets: a thread blocked in a receive waits in the host
 * for the host socket, which a fill by another thread's wait would leave empty. The page
 * of a handle is kept for the handle's next sockets (never freed: at most one page per
 * handle), so a fill the VMM is making as the socket closes never lands in memory that is
 * something else by then.
 *
 * What differs from Linux (docs/architecture.md): bytes already received ahead belong to
 * this process: a fork child does not see them (as if the parent had read them just before
 * the fork), nor does the receiver of the socket passed with SCM_RIGHTS. */
#include "rxahead.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"

static u64 pages[UNO_MAX_HANDLES]; /* GPA of each handle's buffer, 0: none yet */

static struct uno_rx *entry(u32 h)
{
    return &((struct uno_ring *)phys_to_virt(UNO_GPA_RING))->rx[h];
}

static u32 consumed_is_produced(struct uno_rx *e)
{
    u32 p = __atomic_load_n(&e->produced, __ATOMIC_ACQUIRE);
    __atomic_store_n(&e->consumed, p, __ATOMIC_RELEASE);
    return p;
}

void rx_enable(u32 h)
{
    if (h >= UNO_MAX_HANDLES || entry(h)->gpa)
        return;
    if (!pages[h] && !(pages[h] = frame_alloc()))
        return; /* no memory: every read goes to the host, as before */
    consumed_is_produced(entry(h)); /* nothing of an earlier socket of this handle */
    __atomic_store_n(&entry(h)->gpa, pages[h], __ATOMIC_RELEASE);
}

void rx_disable(u32 h)
{
    if (h < UNO_MAX_HANDLES)
        __atomic_store_n(&entry(h)->gpa, 0, __ATOMIC_RELEASE);
}

void rx_close(u32 h)
{
    if (h >= UNO_MAX_HANDLES)
        return;
    rx_disable(h);
    consumed_is_produced(entry(h));
}

u64 rx_avail(u32 h)
{
    if (h >= UNO_MAX_HANDLES || !pages[h])
        return 0;
    struct uno_rx *e = entry(h);
    u32 n = __atomic_load_n(&e->produced, __ATOMIC_ACQUIRE) - e->consumed;
    return n <= UNO_RX_BYTES ? n : 0;
}

i64 rx_take(u32 h, const struct k_iovec *iov, u64 niov, u64 skip, bool user, bool peek)
{
    u64 avail = rx_avail(h), done = 0;
    if (!avail)
        return 0;
    struct uno_rx *e = entry(h);
    const u8 *buf = phys_to_virt(pages[h]);
    u32 at = e->consumed;
    for (u64 i = 0; i < niov && done < avail; i++) {
        u64 len = iov[i].len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        u8 *dst = (u8 *)iov[i].base + skip;
        len -= skip;
        skip = 0;
        while (len && done < avail) {
            u32 off = (at + (u32)done) & (UNO_RX_BYTES - 1);
            u64 n = MIN(MIN(len, avail - done), (u64)(UNO_RX_BYTES - off));
            if (!user)
                memcpy(dst, buf + off, n);
            else if (copy_to_user(dst, buf + off, n))
                return done ? (i64)done : -EFAULT;
            dst += n;
            len -= n;
            done += n;
        }
    }
    if (!peek)
        __atomic_store_n(&e->consumed, at + (u32)done, __ATOMIC_RELEASE);
    return (i64)done;
}

u64 rx_discard(u32 h, u64 len)
{
    u64 n = MIN(len, rx_avail(h));
    if (n)
        __atomic_store_n(&entry(h)->consumed, entry(h)->consumed + (u32)n, __ATOMIC_RELEASE);
    return n;
}

void rx_fork_child(void)
{
    for (u32 h = 0; h < UNO_MAX_HANDLES; h++)
        if (pages[h])
            consumed_is_produced(entry(h));
}
