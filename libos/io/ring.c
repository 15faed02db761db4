/* Guest side of the hostio ring. Single producer: the thread holding the big lock
 * (proc/biglock.c), so the ring needs no lock of its own. An operation that may wait (a pipe
 * read, wait4, pause) does not go through the ring: it is a UNO_HC_HOSTCALL of its thread's
 * own, made without the big lock, so one waiting thread never holds up the ring for the
 * others; the VMM serves the ring's earlier submissions first. A synchronous call
 * costs one exit at most: if the host's I/O thread is still polling we spin briefly for the
 * completion, otherwise we go straight to UNO_HC_WAIT, which has the vCPU thread serve the
 * ring itself — cheaper than a doorbell plus waking a sleeping thread. */
#include "ring.h"
#include "arch/x86_64/platform.h"
#include "libos/string.h"
#include "libos/errno.h"
#include "proc/thread.h"

static struct uno_ring *ring;
static u8 *slots;
static u64 next_id = 1;

#define SPIN_TSC 60000 /* ~20 µs at 3 GHz: the I/O thread polls for 50 µs after work */

void ring_init(void)
{
    ring = phys_to_virt(UNO_GPA_RING);
    slots = phys_to_virt(UNO_RING_DATA_GPA);
}

static void wait_host(void)
{
    platform_hypercall(UNO_HC_WAIT);
}

/* Reserve the next SQ slot, waiting for the host if all are in flight. */
static u32 slot_reserve(void)
{
    while (ring->sq_tail - __atomic_load_n(&ring->sq_head, __ATOMIC_ACQUIRE) >= UNO_RING_ENTRIES)
        wait_host();
    return ring->sq_tail & (UNO_RING_ENTRIES - 1);
}

/* Reap completions up to (and including) `id`: true with its result in *res once seen.
 * Completions are in submission order, so everything before it is done (console writes,
 * whose results nobody waits for). */
static bool reap(u64 id, i64 *res)
{
    u32 tail = __atomic_load_n(&ring->cq_tail, __ATOMIC_ACQUIRE);
    while (ring->cq_head != tail) {
        struct uno_cqe *c = &ring->cq[ring->cq_head & (UNO_RING_CQ_ENTRIES - 1)];
        u64 ud = c->user_data;
        i64 r = c->res;
        __atomic_store_n(&ring->cq_head, ring->cq_head + 1, __ATOMIC_RELEASE);
        if (ud == id) {
            *res = r;
            return true;
        }
    }
    return false;
}

static u64 submit(const struct uno_sqe *tmpl, u32 idx)
{
    struct uno_sqe *s = &ring->sq[idx];
    *s = *tmpl;
    s->user_data = next_id++;
    __atomic_store_n(&ring->sq_tail, ring->sq_tail + 1, __ATOMIC_RELEASE);
    return s->user_data;
}

/* A blocking operation: this thread's data buffer and hypercall, without the big lock. */
static i64 hostcall(struct ring_op *op)
{
    struct cpu *c = this_cpu();
    u8 *data = (u8 *)c + CPU_DATA_OFF;
    if (op->in_len + op->in2_len > UNO_RING_SLOT || op->out_len > UNO_RING_SLOT)
        return -EINVAL;
    struct uno_sqe *s = &c->vc.sqe;
    memset(s, 0, sizeof *s);
    s->op = op->op;
    s->handle = op->handle;
    s->off = op->off;
    s->flags = (u16)(UNO_SQE_BLOCKING | (op->nonblock ? UNO_SQE_NONBLOCK : 0));
    for (int i = 0; i < 4; i++)
        s->arg[i] = op->arg[i];
    if (op->in_len)
        memcpy(data, op->in, op->in_len);
    if (op->in2_len)
        memcpy(data + op->in_len, op->in2, op->in2_len);
    s->len = op->in_len + op->in2_len;
    if (!s->len)
        s->len = op->out_len;
    hypercall_unlocked(UNO_HC_HOSTCALL);
    i64 res = c->vc.hc.ret;
    i64 ignored;
    reap(0, &ignored); /* the ring's completions the VMM posted first */
    if (op->out && op->out_fixed && res >= 0)
        memcpy(op->out, data, op->out_len);
    else if (op->out && res > 0)
        memcpy(op->out, data, MIN((u64)res, (u64)op->out_len));
    return res;
}

i64 ring_call(struct ring_op *op)
{
    if (op->blocking)
        return hostcall(op);
    u32 idx = slot_reserve();
    u8 *data = slots + (u64)idx * UNO_RING_SLOT;
    struct uno_sqe s = {.op = op->op, .handle = op->handle, .off = op->off};
    s.flags = (u16)((op->blocking ? UNO_SQE_BLOCKING : 0) | (op->nonblock ? UNO_SQE_NONBLOCK : 0));
    for (int i = 0; i < 4; i++)
        s.arg[i] = op->arg[i];
    if (op->in_len + op->in2_len > UNO_RING_SLOT || op->out_len > UNO_RING_SLOT)
        return -EINVAL;
    if (op->in_len)
        memcpy(data, op->in, op->in_len);
    if (op->in2_len)
        memcpy(data + op->in_len, op->in2, op->in2_len);
    s.len = op->in_len + op->in2_len;
    if (!s.len)
        s.len = op->out_len;
    u64 id = submit(&s, idx);
    mb();
    i64 res;
    /* A blocking operation is the vCPU thread's: go straight to it. */
    if (!op->blocking && !ring->host_flags) { /* polling, neither asleep nor dozing */
        u64 until = platform_rdtsc() + SPIN_TSC;
        while (platform_rdtsc() < until) {
            if (reap(id, &res))
                goto done;
            cpu_relax();
        }
    }
    while (!reap(id, &res))
        wait_host();
done:
    if (op->out && op->out_fixed && res >= 0)
        memcpy(op->out, data, op->out_len);
    else if (op->out && res > 0)
        memcpy(op->out, data, MIN((u64)res, (u64)op->out_len));
    return res;
}

/* After queueing asynchronous work: ring the doorbell if the host sleeps (not if it dozes:
 * then our next exit or its next look does the work, abi/uno_abi.h). Take the flag as we
 * ring: one doorbell per host sleep, however many submissions follow before the I/O thread
 * is scheduled again. Completions of async work are reaped by whoever waits next. */
static void async_kick(void)
{
    mb();
    if ((ring->host_flags & UNO_RING_NEED_WAKEUP) &&
        (__atomic_exchange_n(&ring->host_flags, 0, __ATOMIC_SEQ_CST) & UNO_RING_NEED_WAKEUP))
        platform_doorbell();
    i64 ignored;
    reap(0, &ignored);
}

void ring_write_async(u32 handle, const void *buf, size_t len)
{
    const u8 *p = buf;
    while (len) {
        size_t n = MIN(len, (size_t)UNO_RING_SLOT);
        u32 idx = slot_reserve();
        memcpy(slots + (u64)idx * UNO_RING_SLOT, p, n);
        struct uno_sqe s = {.op = UNO_OP_WRITE, .handle = handle, .off = -1, .len = n};
        submit(&s, idx);
        p += n;
        len -= n;
    }
    async_kick();
}

void *ring_async_slot(u32 *idx)
{
    *idx = slot_reserve();
    return slots + (u64)*idx * UNO_RING_SLOT;
}

void ring_async_submit(u32 idx, u16 op, u32 handle, u64 len, const u64 arg[4])
{
    struct uno_sqe s = {.op = op, .handle = handle, .off = -1, .len = len};
    for (int i = 0; i < 4; i++)
        s.arg[i] = arg[i];
    submit(&s, idx);
    async_kick();
}

bool ring_host_asleep(void)
{
    return __atomic_load_n(&ring->host_flags, __ATOMIC_ACQUIRE) != 0; /* or dozing */
}

bool ring_sock_async(u32 handle)
{
    return handle < UNO_MAX_HANDLES &&
           (__atomic_load_n(&ring->sock_state[handle], __ATOMIC_ACQUIRE) & UNO_SOCKST_ASYNC);
}

void ring_flush(void)
{
    while (__atomic_load_n(&ring->sq_head, __ATOMIC_ACQUIRE) != ring->sq_tail)
        wait_host();
    i64 ignored;
    reap(0, &ignored);
}
