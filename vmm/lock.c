/* File locks (UNO_OP_LOCK): the guest's fcntl record locks, open-file-description locks and
 * flock locks, taken on the host file itself. POSIX record locks belong to a process, and a
 * guest process is exactly one uno-vmm process, so the host's rules (conflicts between
 * processes, release on close, inheritance across fork for flock and OFD locks only) are
 * the guest's. Requests never wait here: the guest retries a blocking one, so signals can
 * interrupt it. Guest values are checked: the handle, the lock type and whence. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>

#include "vmm.h"

static int64_t record_lock(int fd, struct uno_flock *u, int cmd, bool get)
{
    if (u->type < F_RDLCK || u->type > F_UNLCK || u->whence < SEEK_SET || u->whence > SEEK_END)
        return -EINVAL;
    struct flock fl = {.l_type = u->type, .l_whence = u->whence, .l_start = u->start,
                       .l_len = u->len, .l_pid = 0};
    if (fcntl(fd, cmd, &fl) < 0)
        return -errno;
    if (get) {
        u->type = (int16_t)fl.l_type;
        u->whence = (int16_t)fl.l_whence;
        u->start = fl.l_start;
        u->len = fl.l_len;
        /* The holder as the guest knows it (a process of the instance), -1 for OFD locks. */
        u->pid = fl.l_pid > 0 ? proc_guest_pid_of_host(fl.l_pid) : fl.l_pid;
    }
    return 0;
}

int64_t lock_op(const struct ring_req *r, int fd)
{
    if (fd < 0)
        return -EBADF;
    struct uno_flock *u = (struct uno_flock *)r->data;
    if (r->arg[0] != UNO_LOCK_FLOCK && r->len < sizeof *u)
        return -EINVAL;
    switch (r->arg[0]) {
    case UNO_LOCK_GET:
        return record_lock(fd, u, F_GETLK, true);
    case UNO_LOCK_SET:
        return record_lock(fd, u, F_SETLK, false);
    case UNO_LOCK_OFD_GET:
        return record_lock(fd, u, F_OFD_GETLK, true);
    case UNO_LOCK_OFD_SET:
        return record_lock(fd, u, F_OFD_SETLK, false);
    case UNO_LOCK_FLOCK: {
        uint64_t op = r->arg[1];
        if (op != LOCK_SH && op != LOCK_EX && op != LOCK_UN)
            return -EINVAL;
        return flock(fd, (int)op | LOCK_NB) < 0 ? -errno : 0;
    }
    default:
        return -EINVAL;
    }
}
