/* Host side of the hostio ring. ring_decode() is the boundary: every submission the guest
 * makes is copied out of guest memory and checked here before anything acts on it. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

/* A guest path for the writable layer: relative, NUL-terminated within the buffer, no "."
 * or ".." components, no empty components, no names the layer reserves (".wh." prefix). The
 * libOS normalizes paths before it sends them; anything else is hostile or a bug. */
int check_path(const char *s, size_t max, char *out, size_t outsz, size_t *used)
{
    size_t n = strnlen(s, max);
    if (n == max || n >= outsz)
        return -ENAMETOOLONG;
    if (n > 0 && (s[0] == '/' || s[n - 1] == '/'))
        return -EINVAL;
    const char *c = s;
    while (n > 0 && *c) {
        const char *slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);
        if (len == 0 || len > 255)
            return len ? -ENAMETOOLONG : -EINVAL;
        if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return -EINVAL;
        if (len >= 4 && memcmp(c, ".wh.", 4) == 0)
            return -EPERM;
        c += len + (slash ? 1 : 0);
    }
    memcpy(out, s, n + 1);
    if (used)
        *used = n + 1;
    return 0;
}

static bool op_has_path(uint16_t op)
{
    switch (op) {
    case UNO_OP_OPEN: case UNO_OP_STAT: case UNO_OP_MKDIR: case UNO_OP_UNLINK:
    case UNO_OP_RENAME: case UNO_OP_SYMLINK: case UNO_OP_READLINK: case UNO_OP_WHITEOUT:
    case UNO_OP_CHMOD: case UNO_OP_UTIMENS: case UNO_OP_OPAQUE: case UNO_OP_CHOWN:
    case UNO_OP_LINK: case UNO_OP_MKNOD:
        return true;
    default:
        return false;
    }
}

static bool op_has_handle(uint16_t op)
{
    switch (op) {
    case UNO_OP_WRITE: case UNO_OP_READ: case UNO_OP_CLOSE: case UNO_OP_FSTAT:
    case UNO_OP_GETDENTS: case UNO_OP_LSEEK: case UNO_OP_FTRUNCATE: case UNO_OP_FSYNC:
    case UNO_OP_SETFL: case UNO_OP_TTY: case UNO_OP_PIPECTL: case UNO_OP_FALLOCATE: case UNO_OP_SPLICE:
    case UNO_OP_TEE: case UNO_OP_SEND_ASYNC:
    case UNO_OP_EPOLL: case UNO_OP_TIMERFD: case UNO_OP_SIGNALFD:
        return true;
    default:
        return false;
    }
}

int ring_decode(const struct uno_sqe *sqe, uint8_t *slot, struct ring_req *r)
{
    memset(r, 0, offsetof(struct ring_req, path));
    r->path[0] = r->path2[0] = 0;
    r->op = sqe->op;
    r->handle = sqe->handle;
    r->off = sqe->off;
    r->len = sqe->len;
    memcpy(r->arg, sqe->arg, sizeof r->arg);
    r->data = slot;
    r->flags = sqe->flags;
    if (r->op == UNO_OP_NOP || r->op >= UNO_OP_MAX)
        return r->op == UNO_OP_NOP ? 0 : -ENOSYS;
    if (r->len > UNO_RING_SLOT)
        return -EINVAL;
    if (op_has_handle(r->op) && r->handle >= UNO_MAX_HANDLES)
        return -EBADF;
    if (r->op == UNO_OP_SYMLINK) {
        /* path = the target: any non-empty string (absolute, "..": it is only stored, the
         * host never follows it); path2 = where the link goes (a checked path). */
        size_t n = strnlen((const char *)slot, r->len);
        if (n == r->len || n == 0)
            return -EINVAL;
        if (n >= sizeof r->path)
            return -ENAMETOOLONG;
        memcpy(r->path, slot, n + 1);
        return check_path((const char *)slot + n + 1, r->len - n - 1, r->path2,
                          sizeof r->path2, NULL);
    }
    if (r->op == UNO_OP_MEMFD) {
        /* A name only shown in the host's /proc, never a path: at most 249 bytes (Linux's
         * limit for memfd names). */
        size_t n = strnlen((const char *)slot, r->len);
        if (n == r->len || n > 249)
            return -EINVAL;
        memcpy(r->path, slot, n + 1);
        return 0;
    }
    if (op_has_path(r->op)) {
        size_t used = 0;
        int err = check_path((const char *)slot, r->len, r->path, sizeof r->path, &used);
        if (err)
            return err;
        if (r->op == UNO_OP_RENAME || r->op == UNO_OP_LINK) {
            err = check_path((const char *)slot + used, r->len - used, r->path2,
                             sizeof r->path2, NULL);
            if (err)
                return err;
        }
    }
    return 0;
}

/* Drain the submission queue. Called by the I/O thread and by the vCPU thread when the
 * guest waits, under ring_lock. */
int ring_serve(struct vmm *v, bool vcpu)
{
    int served = 0;
    struct uno_ring *ring = gpa_ptr(v, UNO_GPA_RING, sizeof *ring);
    uint8_t *data = gpa_ptr(v, UNO_RING_DATA_GPA, (uint64_t)UNO_RING_ENTRIES * UNO_RING_SLOT);
    static struct ring_req req; /* large (paths); only used under ring_lock */
    pthread_mutex_lock(&v->ring_lock);
    for (;;) {
        uint32_t tail = __atomic_load_n(&ring->sq_tail, __ATOMIC_ACQUIRE);
        if (tail == v->sq_head)
            break;
        if (tail - v->sq_head > UNO_RING_ENTRIES) {
            if (!v->ring_bad++)
                fprintf(stderr, "uno-vmm: guest corrupted its ring (tail %u, head %u)\n", tail,
                        v->sq_head);
            break;
        }
        uint32_t cq_head = __atomic_load_n(&ring->cq_head, __ATOMIC_ACQUIRE);
        if (v->cq_tail - cq_head >= UNO_RING_CQ_ENTRIES)
            break; /* the guest must reap completions first */
        uint32_t idx = v->sq_head & (UNO_RING_ENTRIES - 1);
        struct uno_sqe sqe;
        memcpy(&sqe, (const void *)&ring->sq[idx], sizeof sqe); /* one copy: no TOCTOU */
        /* What may wait is the vCPU thread's to serve: there a signal can interrupt it. */
        if ((sqe.flags & UNO_SQE_BLOCKING) && !vcpu)
            break;
        int64_t res = ring_decode(&sqe, data + (uint64_t)idx * UNO_RING_SLOT, &req);
        req.may_block = vcpu && (sqe.flags & UNO_SQE_BLOCKING);
        req.ring_locked = true;
        if (res == 0)
            res = hostop_exec(v, &req);
        struct uno_cqe *cqe = &ring->cq[v->cq_tail & (UNO_RING_CQ_ENTRIES - 1)];
        cqe->user_data = sqe.user_data;
        cqe->res = res;
        v->cq_tail++;
        v->sq_head++;
        served++;
        __atomic_store_n(&ring->cq_tail, v->cq_tail, __ATOMIC_RELEASE);
        __atomic_store_n(&ring->sq_head, v->sq_head, __ATOMIC_RELEASE);
    }
    if (served)
        v->ring_busy_ns = now_ns(CLOCK_MONOTONIC);
    pthread_mutex_unlock(&v->ring_lock);
    return served;
}

bool ring_has_work(struct vmm *v)
{
    struct uno_ring *ring = gpa_ptr(v, UNO_GPA_RING, sizeof *ring);
    return ring && __atomic_load_n(&ring->sq_tail, __ATOMIC_ACQUIRE) != v->sq_head;
}

/* Work for the I/O thread: a submission that is not the vCPU thread's. */
static bool ring_pending(struct vmm *v)
{
    struct uno_ring *ring = gpa_ptr(v, UNO_GPA_RING, sizeof *ring);
    if (__atomic_load_n(&ring->sq_tail, __ATOMIC_ACQUIRE) == v->sq_head)
        return false;
    uint16_t flags = ring->sq[v->sq_head & (UNO_RING_ENTRIES - 1)].flags;
    return !(flags & UNO_SQE_BLOCKING);
}

/* The I/O thread: serves the ring while work flows, polls briefly after each batch so a
 * stream of console writes costs no doorbell, then sleeps: a doze of UNO_RING_DOZE_MS while
 * the ring was busy lately (the guest rings no doorbell then, abi/uno_abi.h), a sleep until
 * the doorbell once it has been idle for UNO_RING_DOZE_IDLE_MS (an idle instance costs
 * nothing). */
static void *io_thread(void *arg)
{
    struct vmm *v = arg;
    struct uno_ring *ring = gpa_ptr(v, UNO_GPA_RING, sizeof *ring);
    block_init_thread();
    while (!v->stopping) {
        int served = ring_serve(v, false);
        if (sendq_busy())
            sendq_wait(v, 0); /* sockets' queues move on while the ring keeps us busy */
        uint64_t now = now_ns(CLOCK_MONOTONIC), until = served ? now + 50000 : now;
        while (!ring_pending(v) && now_ns(CLOCK_MONOTONIC) < until && !v->stopping)
            __builtin_ia32_pause();
        if (ring_pending(v))
            continue;
        bool doze = now - v->ring_busy_ns < UNO_RING_DOZE_IDLE_MS * 1000000ull;
        __atomic_store_n(&ring->host_flags, doze ? UNO_RING_DOZING : UNO_RING_NEED_WAKEUP,
                         __ATOMIC_SEQ_CST);
        if (!ring_pending(v) && !v->stopping) {
            /* Wait for the doorbell (or the doze's end), a socket's queued sends (sendq.c),
             * or PID 1's VMM to end (then so does this one). */
            int w = sendq_wait(v, doze ? UNO_RING_DOZE_MS : -1);
            if (w == 1)
                _exit(128 + SIGKILL);
            if (w < 0)
                break;
        }
        __atomic_store_n(&ring->host_flags, 0, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

int ring_start_io_thread(struct vmm *v)
{
    pthread_mutex_init(&v->ring_lock, NULL);
    if (sendq_start(v)) {
        fprintf(stderr, "uno-vmm: cannot make the I/O thread's epoll set: %s\n", strerror(errno));
        return -1;
    }
    if (pthread_create(&v->io_thread, NULL, io_thread, v)) {
        fprintf(stderr, "uno-vmm: cannot start the I/O thread\n");
        return -1;
    }
    return 0;
}

void ring_stop_io_thread(struct vmm *v)
{
    uint64_t one = 1;
    v->stopping = 1;
    if (write(v->doorbell_fd, &one, sizeof one) < 0)
        return;
    pthread_join(v->io_thread, NULL);
}
