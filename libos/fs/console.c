/* The console: descriptors 0, 1, 2 at start are the VMM's own stdin/stdout/stderr. Output
 * is queued on the ring without waiting (no exit while the host keeps up); input is a
 * synchronous ring read. */
#include "vfs.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"

#define TCGETS 0x5401
#define TCSETS 0x5402
#define TIOCGPGRP 0x540f
#define TIOCSPGRP 0x5410
#define TIOCGWINSZ 0x5413
#define FIONREAD 0x541b

struct linux_termios {
    u32 c_iflag, c_oflag, c_cflag, c_lflag;
    u8 c_line;
    u8 c_cc[19];
};

static bool is_tty(int which) { return (bootinfo->flags & (UNO_BOOT_STDIN_TTY << which)) != 0; }

static i64 con_read(struct file *f, void *buf, u64 len, i64 off)
{
    (void)off;
    struct ring_op op = {.op = UNO_OP_READ, .handle = (u32)f->kind, .off = -1, .out = buf,
                         .out_len = MIN(len, (u64)RING_MAX_IO)};
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

static i64 con_ioctl(struct file *f, u64 cmd, u64 arg)
{
    if (!is_tty(f->kind))
        return -ENOTTY;
    switch (cmd) {
    case TCGETS: {
        if (!user_ok((void *)arg, sizeof(struct linux_termios), PROT_WRITE))
            return -EFAULT;
        /* The settings a fresh Linux terminal has (stty sane). */
        struct linux_termios t = {.c_iflag = 0x2d02, .c_oflag = 0x5, .c_cflag = 0xbf,
                                  .c_lflag = 0x8a3b};
        static const u8 cc[19] = {3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0};
        memcpy(t.c_cc, cc, sizeof cc);
        memcpy((void *)arg, &t, sizeof t);
        return 0;
    }
    case TIOCGWINSZ: {
        if (!user_ok((void *)arg, 8, PROT_WRITE))
            return -EFAULT;
        u16 ws[4] = {(u16)bootinfo->tty_rows, (u16)bootinfo->tty_cols, 0, 0};
        memcpy((void *)arg, ws, sizeof ws);
        return 0;
    }
    case TIOCGPGRP: {
        if (!user_ok((void *)arg, 4, PROT_WRITE))
            return -EFAULT;
        *(i32 *)arg = 1;
        return 0;
    }
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
    f->stream = true;
    *out = f;
    return 0;
}
