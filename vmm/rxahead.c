/* Receiving ahead (abi/uno_abi.h, "Receiving ahead"): the bytes of a TCP socket an epoll
 * wait reports readable are received there and then into the guest's buffer for its handle.
 *
 * Why: an event loop's read of a ready socket is otherwise one more trip to the host per
 * socket, after the wait that reported it (~25-45 us each on this host). Receiving in the
 * wait turns the 20 reads after one redis epoll_wait into none.
 *
 * Order: a guest receive on the handle is served under the ring lock, and so is every fill
 * (rx_fill takes it when the caller does not hold it), so a receive never overtakes bytes
 * already in the buffer: it answers UNO_RX_PENDING while any are there. An error the fill's
 * receive took from the host socket (a reset) is the next receive's or SO_ERROR's answer,
 * as it would have been without us. The buffer's place is the guest's to say and is checked
 * at every fill; its counts are the guest's own business (a wrong one spoils only its data). */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "vmm.h"

static struct {
    uint32_t gen;  /* the handle's gen when the error was taken */
    int err;       /* positive errno; 0: none */
} taken[UNO_MAX_HANDLES];
static uint64_t nfills; /* under the ring lock */

uint64_t rx_fills(void) { return nfills; }

static struct uno_rx *entry(struct vmm *v, uint32_t h)
{
    struct uno_ring *ring = gpa_ptr(v, UNO_GPA_RING, sizeof *ring);
    return ring && h < UNO_MAX_HANDLES ? &ring->rx[h] : NULL;
}

bool rx_pending(struct vmm *v, uint32_t h)
{
    struct uno_rx *e = entry(v, h);
    return e && __atomic_load_n(&e->produced, __ATOMIC_ACQUIRE) !=
                    __atomic_load_n(&e->consumed, __ATOMIC_ACQUIRE);
}

int rx_taken_error(struct vmm *v, uint32_t h)
{
    if (h >= UNO_MAX_HANDLES || !taken[h].err || taken[h].gen != v->handles[h].gen)
        return 0;
    int e = taken[h].err;
    taken[h].err = 0;
    return e;
}

static void fill(struct vmm *v, uint32_t h)
{
    struct uno_rx *e = entry(v, h);
    if (!e)
        return;
    uint64_t gpa = __atomic_load_n(&e->gpa, __ATOMIC_ACQUIRE);
    uint32_t prod = e->produced, used = prod - __atomic_load_n(&e->consumed, __ATOMIC_ACQUIRE);
    if (!gpa || used >= UNO_RX_BYTES || (taken[h].err && taken[h].gen == v->handles[h].gen))
        return; /* (an error not reported yet: this socket's bytes wait behind it) */
    int fd = net_rx_fd(v, h);
    uint8_t *buf = fd >= 0 ? gpa_ptr(v, gpa, UNO_RX_BYTES) : NULL;
    if (!buf)
        return;
    uint32_t off = prod & (UNO_RX_BYTES - 1), room = UNO_RX_BYTES - used;
    uint32_t first = room < UNO_RX_BYTES - off ? room : UNO_RX_BYTES - off;
    struct iovec iov[2] = {{buf + off, first}, {buf, room - first}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = room > first ? 2 : 1};
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
    if (n > 0) {
        __atomic_store_n(&e->produced, prod + (uint32_t)n, __ATOMIC_RELEASE);
        nfills++;
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        taken[h].gen = v->handles[h].gen;
        taken[h].err = errno;
    }
}

void rx_fill(struct vmm *v, uint32_t h, bool ring_locked)
{
    if (!ring_locked)
        pthread_mutex_lock(&v->ring_lock);
    fill(v, h);
    if (!ring_locked)
        pthread_mutex_unlock(&v->ring_lock);
}
