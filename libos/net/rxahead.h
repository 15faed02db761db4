/* Receiving ahead (rxahead.c): bytes of a non-blocking TCP socket the VMM received into the
 * guest during an epoll wait, by handle. */
#ifndef NET_RXAHEAD_H
#define NET_RXAHEAD_H
#include "libos/types.h"
#include "socket.h"

void rx_enable(u32 h);  /* the VMM may receive ahead for this handle from now on */
void rx_disable(u32 h); /* no more (bytes already there stay) */
void rx_close(u32 h);   /* the handle closes: no more, and what is there is dropped */
u64 rx_avail(u32 h);    /* bytes waiting */
/* Up to the iovec's room past `skip` bytes, from what is waiting: bytes copied (0: none
 * waiting), or -EFAULT when nothing could be. peek: they stay. */
i64 rx_take(u32 h, const struct k_iovec *iov, u64 niov, u64 skip, bool user, bool peek);
u64 rx_discard(u32 h, u64 len); /* MSG_TRUNC on a stream: taken without copying */
void rx_fork_child(void);       /* a fork child: the bytes waiting are the parent's */
#endif
