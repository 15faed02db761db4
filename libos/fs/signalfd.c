/* signalfd: reading one takes this process's pending signals of its mask, as struct
 * signalfd_siginfo records. Signals are the libOS's own (proc/signal.c), so the reading is
 * done here; what the host provides is readiness. Each signalfd has a host eventfd
 * (UNO_OP_SIGNALFD) that is readable while a signal of the mask may be pending, so that
 * poll, select, epoll and a blocking read, which all wait in the VMM, wake up for it:
 *   - a signal from another process or a timer reaches the guest through the VMM, which
 *     writes the eventfd of every signalfd whose mask has it (vmm/epoll.c signalfd_posted),
 *     even while every thread of ours waits in the host;
 *   - a signal this process raises itself (raise, tgkill, SIGPIPE...) is written here
 *     (signalfd_raised, from signal.c);
 *   - once one is taken (a read here, a handler, sigwaitinfo), the eventfd is drained and
 *     written again if another of the mask is still pending (signalfd_taken).
 * Difference from Linux: after a fork the eventfd is shared by both processes (the file is),
 * so a signal for one may make the other's signalfd look readable until a read finds
 * nothing (reads are always right: each process reads its own signals). */
#include "vfs.h"
#include "core/kernel.h"
#include "core/kheap.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "proc/proc.h"
#include "proc/signal.h"
#include "proc/thread.h"
#include "sys/syscalls.h"

#define SFD_NONBLOCK O_NONBLOCK
#define SFD_CLOEXEC O_CLOEXEC
#define SIGPOLL 29
#define SIGSYS 31
#define SI_TIMER (-2)
#define SI_SIGIO (-5)

/* struct signalfd_siginfo (128 bytes). */
struct k_signalfd_siginfo {
    u32 signo;
    i32 err, code;
    u32 pid, uid;
    i32 fd;
    u32 tid, band, overrun, trapno;
    i32 status, int_;
    u64 ptr, utime, stime, addr;
    u16 addr_lsb, _pad2;
    i32 syscall;
    u64 call_addr;
    u32 arch;
    u8 _pad[28];
};
_Static_assert(sizeof(struct k_signalfd_siginfo) == 128, "signalfd_siginfo is 128 bytes");

struct sfd {
    struct sfd *next;
    struct file *f;
    u64 mask;
};

static const struct file_ops signalfd_ops;
static struct sfd *sfds;   /* every open signalfd of this process */
static u64 watched;        /* the union of their masks */

static void rewatch(void)
{
    watched = 0;
    for (struct sfd *s = sfds; s; s = s->next)
        watched |= s->mask;
}

static void efd_write_one(u32 h)
{
    u64 one = 1;
    struct ring_op op = {.op = UNO_OP_WRITE, .handle = h, .off = -1, .in = &one, .in_len = 8,
                         .nonblock = true};
    ring_call(&op);
}

/* Readable exactly when a signal of the mask is pending: drain first, then look, so that a
 * write the VMM makes meanwhile (after putting its signal where we look) is never lost. */
static void sync_one(struct sfd *s)
{
    u64 cnt;
    struct ring_op op = {.op = UNO_OP_READ, .handle = s->f->handle, .off = -1, .out = &cnt,
                         .out_len = 8, .nonblock = true};
    ring_call(&op);
    if (signal_pending_set() & s->mask)
        efd_write_one(s->f->handle);
}

void signalfd_raised(int sig)
{
    if (!(watched & SIGBIT(sig)))
        return;
    for (struct sfd *s = sfds; s; s = s->next)
        if (s->mask & SIGBIT(sig))
            efd_write_one(s->f->handle);
}

void signalfd_taken(int sig)
{
    if (!(watched & SIGBIT(sig)))
        return;
    for (struct sfd *s = sfds; s; s = s->next)
        if (s->mask & SIGBIT(sig))
            sync_one(s);
}

/* Linux's signalfd_copyinfo: which fields a record carries follows the siginfo's layout. */
static void to_record(const struct k_siginfo *si, struct k_signalfd_siginfo *o)
{
    memset(o, 0, sizeof *o);
    o->signo = (u32)si->si_signo;
    o->err = si->si_errno;
    o->code = si->si_code;
    int sig = si->si_signo, code = si->si_code;
    u64 u64_at8, u64_at16, u64_at24;
    memcpy(&u64_at8, si->_bytes + 8, 8);
    memcpy(&u64_at16, si->_bytes + 16, 8);
    memcpy(&u64_at24, si->_bytes + 24, 8);
    if (code > SI_USER && code < SI_KERNEL) {
        switch (sig) {
        case SIGCHLD:
            o->pid = (u32)si->kill.pid;
            o->uid = si->kill.uid;
            o->status = si->kill.status;
            o->utime = u64_at16;
            o->stime = u64_at24;
            return;
        case SIGILL: case SIGFPE: case SIGSEGV: case SIGBUS: case SIGTRAP:
            o->addr = si->fault.addr;
            return;
        case SIGPOLL:
            memcpy(&o->band, si->_bytes, 4);
            memcpy(&o->fd, si->_bytes + 8, 4);
            return;
        case SIGSYS:
            o->call_addr = si->fault.addr;
            memcpy(&o->syscall, si->_bytes + 8, 4);
            memcpy(&o->arch, si->_bytes + 12, 4);
            return;
        default:
            break;
        }
    } else if (code == SI_TIMER) {
        memcpy(&o->tid, si->_bytes, 4);
        memcpy(&o->overrun, si->_bytes + 4, 4);
        o->ptr = u64_at8;
        o->int_ = (i32)u64_at8;
        return;
    } else if (code == SI_SIGIO) {
        memcpy(&o->band, si->_bytes, 4);
        memcpy(&o->fd, si->_bytes + 8, 4);
        return;
    } else if (code < 0) {
        o->pid = (u32)si->rt.pid;
        o->uid = si->rt.uid;
        o->ptr = si->rt.value;
        o->int_ = (i32)si->rt.value;
        return;
    }
    o->pid = (u32)si->kill.pid;
    o->uid = si->kill.uid;
}

/* As many pending signals of the mask as fit; none: EAGAIN, or wait for the eventfd (a
 * signal of interest interrupts that: -EINTR, which read's SA_RESTART rule then handles,
 * as Linux's -ERESTARTSYS). */
static i64 sfd_read_held(struct file *f, void *buf, u64 room);

static i64 sfd_read(struct file *f, void *buf, u64 len, i64 off)
{
    (void)off;
    u64 room = len / sizeof(struct k_signalfd_siginfo);
    if (!room)
        return -EINVAL;
    /* Another thread may close the descriptor while we wait without the big lock: our
     * reference keeps the file (and its mask) until we are done, as Linux's fdget does. */
    file_get(f);
    i64 r = sfd_read_held(f, buf, room);
    file_put(f);
    return r;
}

static i64 sfd_read_held(struct file *f, void *buf, u64 room)
{
    struct sfd *s = f->priv;
    for (;;) {
        u64 n = 0;
        struct k_siginfo si;
        while (n < room && signal_dequeue(s->mask, &si)) {
            struct k_signalfd_siginfo rec;
            to_record(&si, &rec);
            memcpy((u8 *)buf + n * sizeof rec, &rec, sizeof rec); /* checked by read(2) */
            n++;
        }
        if (n)
            return (i64)(n * sizeof(struct k_signalfd_siginfo));
        if (file_status(f) & O_NONBLOCK)
            return -EAGAIN;
        u64 cnt;
        struct ring_op op = {.op = UNO_OP_READ, .handle = f->handle, .off = -1, .out = &cnt,
                             .out_len = 8, .blocking = true};
        i64 r = ring_call(&op);
        if (r < 0 && r != -EAGAIN)
            return r;
    }
}

static i64 sfd_write(struct file *f, const void *buf, u64 len, i64 off)
{
    (void)f, (void)buf, (void)len, (void)off;
    return -EINVAL;
}

static void sfd_release(struct file *f)
{
    struct sfd *s = f->priv;
    for (struct sfd **pp = &sfds; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    kfree(s);
    rewatch();
    file_close_handle(f);
}

static const struct file_ops signalfd_ops = {
    .read = sfd_read,
    .write = sfd_write,
    .stat = upper_fstat,
    .lseek = file_lseek_noop,
    .release = sfd_release,
};

static i64 set_mask(struct sfd *s, u64 mask)
{
    struct ring_op op = {.op = UNO_OP_SIGNALFD, .handle = s->f->handle,
                         .arg = {UNO_SIGNALFD_MASK, mask}};
    i64 r = ring_call(&op);
    if (r < 0)
        return r;
    s->mask = mask;
    rewatch();
    sync_one(s);
    return 0;
}

i64 sys_signalfd4(u64 ufd, u64 umask, u64 size, u64 flags)
{
    u64 mask;
    if (size != 8)
        return -EINVAL;
    if (copy_from_user(&mask, (void *)umask, 8))
        return -EFAULT;
    if (flags & ~(u64)(SFD_NONBLOCK | SFD_CLOEXEC))
        return -EINVAL;
    mask &= ~(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP));
    if ((int)ufd != -1) {
        struct file *f = fd_get((int)ufd);
        if (!f)
            return -EBADF;
        if (f->ops != &signalfd_ops)
            return -EINVAL;
        i64 r = set_mask(f->priv, mask);
        return r < 0 ? r : (i64)(int)ufd;
    }
    struct sfd *s = kmalloc(sizeof *s);
    if (!s)
        return -ENOMEM;
    struct ring_op op = {.op = UNO_OP_SIGNALFD, .arg = {UNO_SIGNALFD_CREATE, mask}};
    i64 h = ring_call(&op);
    if (h < 0) {
        kfree(s);
        return h;
    }
    struct file *f = file_for_handle(&signalfd_ops, (u32)h, O_RDWR | (int)(flags & SFD_NONBLOCK),
                                     0600, "anon_inode:[signalfd]");
    if (!f) {
        kfree(s);
        handle_close((u32)h);
        return -ENFILE;
    }
    f->priv = s;
    *s = (struct sfd){.next = sfds, .f = f, .mask = mask};
    sfds = s;
    rewatch();
    sync_one(s);
    int fd = fd_install(f, 0, (flags & SFD_CLOEXEC) != 0);
    if (fd < 0)
        file_put(f);
    return fd;
}

i64 sys_signalfd(u64 ufd, u64 umask, u64 size) { return sys_signalfd4(ufd, umask, size, 0); }
