/* Sockets (socket.c): Linux's numbers for what the socket calls take. */
#ifndef NET_SOCKET_H
#define NET_SOCKET_H
#include "libos/types.h"

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10

#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define SOCK_SEQPACKET 5
#define SOCK_NONBLOCK 04000
#define SOCK_CLOEXEC 02000000

#define SOL_SOCKET 1
#define SO_ERROR 4
#define SO_KEEPALIVE 9
#define SO_LINGER 13
#define SO_RCVTIMEO_OLD 20
#define SO_SNDTIMEO_OLD 21

#define IPPROTO_TCP 6
#define TCP_NODELAY 1
#define TCP_CORK 3
#define TCP_QUICKACK 12

#define MSG_OOB 0x1
#define MSG_PEEK 0x2
#define MSG_TRUNC 0x20
#define MSG_DONTWAIT 0x40
#define MSG_WAITALL 0x100
#define MSG_ERRQUEUE 0x2000
#define MSG_NOSIGNAL 0x4000

/* One buffer of a scatter/gather list, as readv and msghdr give them. */
struct k_iovec {
    void *base;
    u64 len;
};

struct file;
bool file_is_socket(const struct file *f);
/* readv/writev of a socket: one message, however many buffers. */
i64 sock_iov(struct file *f, const struct k_iovec *iov, u64 n, bool write);
/* sendfile from a file of the image or the writable layer to a socket, with no copy
 * through the libOS; *off < 0: the file's own position. -EOPNOTSUPP for other files. */
i64 sock_sendfile(struct file *out, struct file *in, i64 *off, u64 count);
/* Receiving ahead (rxahead.c): turned on or off as the socket now suits it (epoll_ctl, every
 * receive), and whether bytes received ahead are waiting (poll). False for other files. */
void sock_rx_update(struct file *f);
bool sock_first_epoll_add(struct file *f); /* its answer is known: no need to wait */
bool sock_rx_ready(struct file *f);
#endif
