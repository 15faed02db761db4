/* What the VMM's socket code shares between its two halves: the instance's network (netcfg.c:
 * its loopback's names, published ports, egress policy) and the guest's sockets (net.c). */
#ifndef VMM_NET_H
#define VMM_NET_H
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "vmm.h"

#define NET_MAX_PUBLISH 256
#define NET_MAX_ALLOW 32

/* One published port: the host listener (TCP) or bound socket (UDP) uno-vmm opened for it.
 * Shared by every process of the instance (inherited through fork). */
struct published {
    int proto;         /* SOCK_STREAM or SOCK_DGRAM */
    uint16_t guest_port, host_port;
    int fd;
    char host_ip[128]; /* for messages */
};

struct cidr {
    int family;        /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    int bits;
};

enum egress { EGRESS_DEFAULT, EGRESS_NONE, EGRESS_ALLOW };

struct net {
    char token[24];       /* the instance's loopback names begin "uno-<token>/" */
    struct published pub[NET_MAX_PUBLISH];
    int npub;
    enum egress egress;
    struct cidr allow[NET_MAX_ALLOW];
    int nallow;
    uint16_t next_port;   /* the next ephemeral port to try */
};

/* netcfg.c */
bool net_is_loopback(const struct sockaddr *sa);        /* the instance's own addresses */
int net_egress_check(struct net *n, const struct sockaddr *sa); /* 0 or -ENETUNREACH */
/* The published sockets for a guest port: up to max fds, how many. */
int net_published(struct net *n, int proto, uint16_t guest_port, int *fds, int max);
/* The abstract AF_UNIX address of a loopback name ("t80"): "\0uno-<token>/t80". */
socklen_t net_path(struct net *n, const char *name, struct sockaddr_un *sun);
/* Only the instance's own processes (our user's) may come in through its loopback. */
bool net_peer_ok(int fd);
uint16_t net_ephemeral(struct net *n);

#endif
