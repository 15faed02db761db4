/* File locks: fcntl record locks (F_GETLK/F_SETLK/F_SETLKW), open-file-description locks
 * (F_OFD_*) and flock(2). A file of the writable layer is a host file, and the lock is taken
 * on it by this process's VMM (UNO_OP_LOCK, vmm/lock.c), so the instance's processes — one
 * VMM each — conflict with each other exactly as Linux processes do. A blocking request is
 * retried here every few milliseconds, sleeping in the host between tries, so a signal
 * interrupts it (EINTR, or a restart under SA_RESTART). Files of the image have no host
 * file to lock: they get ENOLCK, honestly, rather than a lock nobody else would see. */
#include "file.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "mm/mm.h"
#include "proc/signal.h"
#include "sys/syscalls.h"

#define F_GETLK 5
#define F_SETLK 6
#define F_SETLKW 7
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#define F_OFD_SETLKW 38
#define F_RDLCK 0
#define F_WRLCK 1
#define F_UNLCK 2
#define LOCK_SH 1
#define LOCK_EX 2
#define LOCK_NB 4
#define LOCK_UN 8
#define RETRY_NS 2000000ull /* between tries of a blocking lock */

struct linux_flock {
    i16 type, whence;
    u32 pad0;
    i64 start, len;
    i32 pid;
    u32 pad1;
};

static i64 lock_call(struct file *f, u64 what, u64 arg, struct uno_flock *io)
{
    struct ring_op op = {.op = UNO_OP_LOCK, .handle = f->handle, .arg = {what, arg},
                         .in = io, .in_len = io ? sizeof *io : 0,
                         .out = io, .out_len = io ? sizeof *io : 0, .out_fixed = true};
    return ring_call(&op);
}

/* Try `attempt` until it is not a conflict; between tries sleep, unless a signal came. */
static i64 retry_blocking(i64 (*attempt)(struct file *, void *), struct file *f, void *ctx)
{
    for (;;) {
        i64 r = attempt(f, ctx);
        if (r != -EAGAIN && r != -EACCES)
            return r;
        if (signal_pending() || sleep_for_ns(RETRY_NS) == -EINTR)
            return -EINTR;
    }
}

static i64 try_record(struct file *f, void *ctx)
{
    struct uno_flock *u = ctx;
    u64 what = u->pid == -1 ? UNO_LOCK_OFD_SET : UNO_LOCK_SET;
    struct uno_flock copy = *u;
    copy.pid = 0;
    return lock_call(f, what, 0, &copy);
}

static bool lockable(struct file *f) { return f->has_upper && S_ISREG(f->mode); }

i64 file_lock_fcntl(struct file *f, u64 cmd, u64 uarg)
{
    struct linux_flock fl;
    if (copy_from_user(&fl, (void *)uarg, sizeof fl))
        return -EFAULT;
    bool ofd = cmd >= F_OFD_GETLK;
    if (fl.type != F_RDLCK && fl.type != F_WRLCK && fl.type != F_UNLCK)
        return -EINVAL;
    if (ofd && fl.pid != 0)
        return -EINVAL; /* Linux wants l_pid 0 for OFD locks */
    int acc = f->flags & O_ACCMODE;
    if (cmd != F_GETLK && cmd != F_OFD_GETLK &&
        ((fl.type == F_RDLCK && acc == O_WRONLY) || (fl.type == F_WRLCK && acc == O_RDONLY)))
        return -EBADF;
    if (!lockable(f))
        return -ENOLCK;
    struct uno_flock u = {.type = fl.type, .whence = fl.whence, .pid = ofd ? -1 : 0,
                          .start = fl.start, .len = fl.len};
    if (cmd == F_GETLK || cmd == F_OFD_GETLK) {
        i64 r = lock_call(f, ofd ? UNO_LOCK_OFD_GET : UNO_LOCK_GET, 0, &u);
        if (r)
            return r;
        fl.type = u.type;
        fl.whence = u.whence;
        fl.start = u.start;
        fl.len = u.len;
        fl.pid = u.pid;
        return copy_to_user((void *)uarg, &fl, sizeof fl);
    }
    if (cmd == F_SETLKW || cmd == F_OFD_SETLKW)
        return retry_blocking(try_record, f, &u);
    return try_record(f, &u);
}

static i64 try_flock(struct file *f, void *ctx)
{
    return lock_call(f, UNO_LOCK_FLOCK, *(u64 *)ctx, NULL);
}

i64 sys_flock(u64 fd, u64 op)
{
    struct file *f = fd_get((int)fd);
    if (!f)
        return -EBADF;
    u64 kind = op & ~(u64)LOCK_NB;
    if (kind != LOCK_SH && kind != LOCK_EX && kind != LOCK_UN)
        return -EINVAL;
    if (!lockable(f))
        return S_ISDIR(f->mode) ? -EOPNOTSUPP : -ENOLCK;
    i64 r = (op & LOCK_NB) || kind == LOCK_UN ? try_flock(f, &kind)
                                              : retry_blocking(try_flock, f, &kind);
    return r; /* EWOULDBLOCK is EAGAIN */
}
