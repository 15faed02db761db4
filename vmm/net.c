/* Sockets: see abi/uno_abi.h, "Sockets". (Being written.) */
#define _GNU_SOURCE
#include <errno.h>
#include "vmm.h"

int net_init(struct vmm *v) { (void)v; return 0; }
void net_finish(struct vmm *v) { (void)v; }
int64_t net_op(struct vmm *v, struct ring_req *r) { (void)v; (void)r; return -ENOSYS; }
int net_poll_fds(struct vmm *v, struct vsock *s, int *fds, int max)
{
    (void)v, (void)s, (void)fds, (void)max;
    return 0;
}
void net_close(struct vmm *v, struct vsock *s) { (void)v, (void)s; }
