/* Guest side of the hostio ring (abi/uno_abi.h). */
#ifndef IO_RING_H
#define IO_RING_H
#include "libos/types.h"

struct ring_op {
    u16 op;
    u32 handle;
    i64 off;
    u64 arg[4];
    const void *in;   /* copied into the slot (path, data to write) */
    size_t in_len;
    const void *in2;  /* appended after `in` (second path) */
    size_t in2_len;
    void *out;        /* slot bytes copied here after completion */
    size_t out_len;   /* also the sqe.len asked for when there is no input */
    bool blocking;    /* may wait in the host (UNO_SQE_BLOCKING): signals interrupt it */
    bool nonblock;    /* pipe/console I/O that must not wait (O_NONBLOCK) */
    bool out_fixed;   /* copy out_len bytes on success whatever res is (res is not a size) */
};

void ring_init(void);
/* Submit, wait for the result, copy output. Returns res (>= 0) or -errno. */
i64 ring_call(struct ring_op *op);
/* Queue a write whose result nobody waits for (console output): no exit while the host's
 * I/O thread is busy. Splits writes larger than a slot. */
void ring_write_async(u32 handle, const void *buf, size_t len);
/* Asynchronous work of another kind (UNO_OP_SEND_ASYNC): the slot's data buffer to fill
 * (nothing is submitted until ring_async_submit, so an abandoned slot costs nothing), then
 * the submission. Both under the big lock, with nothing else in between. */
void *ring_async_slot(u32 *idx);
void ring_async_submit(u32 idx, u16 op, u32 handle, u64 len, const u64 arg[4]);
/* The host's I/O thread sleeps: a call through the ring would cost an exit now. */
bool ring_host_asleep(void);
/* The host allows asynchronous sends on this socket handle now (UNO_SOCKST_ASYNC). */
bool ring_sock_async(u32 handle);
/* Wait until the host has completed everything submitted. */
void ring_flush(void);
/* Bytes one ring operation can carry. */
#define RING_MAX_IO 16384u

#endif
