/* The console: descriptors 0, 1, 2 at start are the VMM's own stdin/stdout/stderr. Output
 * is queued on the ring without waiting (no exit while the host keeps up); input is a
 * synchronous ring read. */
#include "vfs.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "proc/proc.h"

#define TCGETS 0x5401
#define TCSETS 0x5402
#define TCSETSW 0x5403
#define TCSETSF 0x5404
#define TIOCGPGRP 0x540f
#define TIOCSPGRP 0x5410
#define TIOCGWINSZ 0x5413
#define FIONREAD 0x541b
#define TIOCSCTTY 0x540e
#define TIOCNOTTY 0x5422

static bool is_tty(int which) { return (bootinfo->flags & (UNO_BOOT_STDIN_TTY << which)) != 0; }

static i64 con_read(struct file *f, void *buf, u64 len, i64 off)
{
    (void)off;
    bool nb = (file_status(f) & O_NONBLOCK) != 0;
    struct ring_op op = {.op = UNO_OP_READ, .handle = (u32)f->kind, .off = -1, .out = buf,
                         .out_len = MIN(len, (u64)RING_MAX_IO), .blocking = !nb,
                         .nonblock = nb};
    if (len == 0)
        return 0;
    ring_flush(); /* a prompt written before the read must be out first */
    return ring_call(&op);
}

static i64 con_write(struct file *f, const void *buf, u64 len, i64 off)
{
    (void)off;
    ring_write_async((u32)f->kind, buf, len);
    return (i64)len;
}

static int con_stat(struct file *f, struct linux_stat *st)
{
    memset(st, 0, sizeof *st);
    bool tty = is_tty(f->kind);
    st->st_dev = tty ? 0x16 : 0xe;
    st->st_ino = (u64)(f->kind + 3);
    st->st_mode = tty ? (S_IFCHR | 0620) : (S_IFIFO | 0600);
    st->st_rdev = tty ? ((136u << 8) | 0) : 0;
    st->st_nlink = 1;
    st->st_blksize = tty ? 1024 : 4096;
    u64 now = time_wall_ns();
    st->st_atime_sec = st->st_mtime_sec = st->st_ctime_sec = (i64)(now / 1000000000ull);
    return 0;
}

static i64 con_lseek(struct file *f, i64 off, int whence)
{
    (void)f, (void)off, (void)whence;
    return -ESPIPE;
}

/* Terminal requests go to the host's terminal: what the program sets (raw mode, echo) must
 * really change it, and what it reads must be the real settings. */
static i64 tty_request(struct file *f, u64 what, void *ubuf, u64 in_len, u64 out_len)
{
    u8 buf[64];
    if (in_len && copy_from_user(buf, ubuf, in_len))
        return -EFAULT;
    struct ring_op op = {.op = UNO_OP_TTY, .handle = (u32)f->kind, .arg = {what},
                         .in = in_len ? buf : NULL, .in_len = in_len,
                         .out = out_len ? buf : NULL, .out_len = out_len};
    i64 r = ring_call(&op);
    if (r < 0)
        return r;
    return out_len ? copy_to_user(ubuf, buf, out_len) : 0;
}

static i64 con_ioctl(struct file *f, u64 cmd, u64 arg)
{
    if (!is_tty(f->kind))
        return -ENOTTY;
    void *p = (void *)arg;
    switch (cmd) {
    case TCGETS:
        if (!user_ok(p, UNO_TERMIOS_SIZE, PROT_WRITE))
            return -EFAULT;
        return tty_request(f, UNO_TTY_GET, p, 0, UNO_TERMIOS_SIZE);
    case TCSETS:
    case TCSETSW:
    case TCSETSF:
        if (!user_ok(p, UNO_TERMIOS_SIZE, PROT_READ))
            return -EFAULT;
        ring_flush(); /* output written before the change goes out under the old settings */
        return tty_request(f, cmd == TCSETS    ? UNO_TTY_SET
                              : cmd == TCSETSW ? UNO_TTY_SET_DRAIN
                                               : UNO_TTY_SET_FLUSH,
                           p, UNO_TERMIOS_SIZE, 0);
    case TIOCGWINSZ:
        if (!user_ok(p, UNO_WINSIZE_SIZE, PROT_WRITE))
            return -EFAULT;
        return tty_request(f, UNO_TTY_WINSIZE, p, 0, UNO_WINSIZE_SIZE);
    case TIOCGPGRP: {
        struct ring_op op = {.op = UNO_OP_PROC, .arg = {UNO_PROC_TCGETPGRP}};
        i32 pgid = (i32)ring_call(&op);
        return copy_to_user(p, &pgid, sizeof pgid) ? -EFAULT : 0;
    }
    case TIOCSPGRP: {
        i32 pgid;
        if (copy_from_user(&pgid, p, sizeof pgid))
            return -EFAULT;
        if (pgid < 0)
            return -EINVAL;
        struct ring_op op = {.op = UNO_OP_PROC, .arg = {UNO_PROC_TCSETPGRP, (u64)pgid}};
        return ring_call(&op);
    }
    case TIOCSCTTY:
    case TIOCNOTTY:
        return 0; /* the console is every process's controlling terminal */
    default:
        return -ENOTTY; /* what Linux answers for an ioctl a device does not know */
    }
}

static const struct file_ops con_ops = {
    .read = con_read,
    .write = con_write,
    .stat = con_stat,
    .lseek = con_lseek,
    .ioctl = con_ioctl,
};

int console_open(int which, int flags, struct file **out)
{
    static const char *const pipes[3] = {"pipe:[0]", "pipe:[1]", "pipe:[2]"};
    const char *path = is_tty(which) ? "/dev/pts/0" : pipes[which];
    struct file *f = file_alloc(&con_ops, flags, is_tty(which) ? (S_IFCHR | 0620) : (S_IFIFO | 0600),
                                path);
    if (!f)
        return -ENFILE;
    f->kind = which;
    f->handle = (u32)which; /* the console's host handles are 0, 1, 2 */
    f->host_polled = true;
    f->stream = true;
    *out = f;
    return 0;
}

bool file_is_console(const struct file *f, u32 *handle)
{
    if (f->ops != &con_ops)
        return false;
    *handle = (u32)f->kind;
    return true;
}
