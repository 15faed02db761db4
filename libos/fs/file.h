/* Open files and the descriptor table. A struct file is what a descriptor points at; its
 * ops say who serves it: the image (lower.c), the host through the ring (upper.c), the
 * console (console.c), or a synthetic file of /dev or /proc (devfs.c, procfs.c). */
#ifndef FS_FILE_H
#define FS_FILE_H
#include "libos/types.h"
#include "erofs.h"

/* Linux open flags (x86-64). */
#define O_RDONLY 0
#define O_WRONLY 1
#define O_RDWR 2
#define O_ACCMODE 3
#define O_CREAT 0100
#define O_EXCL 0200
#define O_NOCTTY 0400
#define O_TRUNC 01000
#define O_APPEND 02000
#define O_NONBLOCK 04000
#define O_DSYNC 010000
#define O_DIRECTORY 0200000
#define O_NOFOLLOW 0400000
#define O_CLOEXEC 02000000
#define O_PATH 010000000
#define O_TMPFILE 020200000

#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define S_IFLNK 0120000
#define S_IFREG 0100000
#define S_IFBLK 0060000
#define S_IFDIR 0040000
#define S_IFCHR 0020000
#define S_IFIFO 0010000
#define S_ISDIR(m) (((m)&S_IFMT) == S_IFDIR)
#define S_ISREG(m) (((m)&S_IFMT) == S_IFREG)
#define S_ISLNK(m) (((m)&S_IFMT) == S_IFLNK)
#define S_ISSOCK(m) (((m)&S_IFMT) == S_IFSOCK)
#define S_ISFIFO(m) (((m)&S_IFMT) == S_IFIFO)

#define DT_UNKNOWN 0
#define DT_FIFO 1
#define DT_CHR 2
#define DT_DIR 4
#define DT_BLK 6
#define DT_REG 8
#define DT_LNK 10
#define DT_SOCK 12

#define SEEK_SET 0
#define SEEK_CUR 1
#define SEEK_END 2

/* struct stat as Linux x86-64 lays it out. */
struct linux_stat {
    u64 st_dev, st_ino, st_nlink;
    u32 st_mode, st_uid, st_gid, __pad0;
    u64 st_rdev;
    i64 st_size, st_blksize, st_blocks;
    i64 st_atime_sec, st_atime_nsec, st_mtime_sec, st_mtime_nsec, st_ctime_sec, st_ctime_nsec;
    i64 __unused[3];
};

struct file;
struct dirent_sink; /* getdents output, see vfs.h */

struct file_ops {
    i64 (*read)(struct file *f, void *buf, u64 len, i64 off);   /* off < 0: use f->off */
    i64 (*write)(struct file *f, const void *buf, u64 len, i64 off);
    int (*stat)(struct file *f, struct linux_stat *st);
    i64 (*lseek)(struct file *f, i64 off, int whence);          /* NULL: generic */
    int (*getdents)(struct file *f, struct dirent_sink *sink);   /* directories */
    i64 (*ioctl)(struct file *f, u64 cmd, u64 arg);
    void (*release)(struct file *f);
    int (*truncate)(struct file *f, u64 len);
    int (*sync)(struct file *f, bool data_only);  /* fsync, or fdatasync */
};

#define FILE_NAME_MAX 256

struct file {
    int refs;
    int flags;                /* O_ flags given at open (status flags may change: fcntl) */
    i64 off;
    const struct file_ops *ops;
    u32 mode;                 /* S_IF* of what is open */
    char path[FILE_NAME_MAX]; /* absolute path at open (for /proc/self/fd, tracing) */
    /* per kind */
    struct erofs_inode ino;   /* lower files, and the lower side of merged directories */
    bool has_lower;
    u32 handle;               /* upper: host handle */
    bool has_upper;
    u64 dir_pos;              /* directory iteration state */
    u8 dir_phase;
    bool etc_defaults;        /* the merged /etc: list the generated defaults too (etc.c) */
    bool anon;                /* no name in the namespace (memfd): path is only for show */
    void *priv;               /* synthetic files: generated contents */
    u64 priv_len;
    int kind;                 /* synthetic: which device/proc file */
    bool stream;              /* no file position: pread/pwrite/lseek give ESPIPE */
    int owner;                /* F_SETOWN: the pid (or -pgid) SIGIO is for */
    bool host_polled;         /* readiness is the host's: the VMM polls `handle` (pipes,
                               * sockets, eventfds, the console...) for poll/select/epoll */
    u32 *shared_status;       /* after a fork: the status flags, shared with the other
                               * processes holding this open file (mm/shared.c) */
    bool fork_marked;         /* fd_share_for_fork's visit mark */
};

struct file *file_alloc(const struct file_ops *ops, int flags, u32 mode, const char *path);
void file_get(struct file *f);
void file_put(struct file *f);

/* Descriptor table (fdtable.c). */
#define NR_OPEN 1024
int fd_install(struct file *f, int min_fd, bool cloexec); /* -EMFILE */
struct file *fd_get(int fd);                                /* NULL if not open */
int fd_close(int fd);
int fd_dup(int oldfd, int newfd, bool cloexec);             /* dup2/dup3 semantics */
bool fd_cloexec(int fd);
void fd_set_cloexec(int fd, bool on);
int fd_max(void);
void fd_close_on_exec(void);
/* Status flags (O_NONBLOCK, O_APPEND…: what F_GETFL/F_SETFL see), shared across fork as
 * Linux shares an open file description's. */
int file_status(const struct file *f);
void file_set_status(struct file *f, int flags); /* only the F_SETFL-changeable bits */
int fd_share_for_fork(void);      /* before a fork: every open file's status in shared memory */
void fd_table_save(void);          /* vfork: keep the parent's table */
void fd_table_restore(void);       /* vfork child gone: the parent's table back */
void fd_table_forget_saved(void);  /* vfork child in its own VM: drop the kept table */

/* Operations several kinds of file share. */
i64 file_read_isdir(struct file *f, void *buf, u64 len, i64 off);         /* -EISDIR */
i64 file_write_isdir(struct file *f, const void *buf, u64 len, i64 off);  /* -EISDIR */
/* Directories whose positions are entry indexes (enough for rewinddir, seekdir/telldir). */
i64 file_dir_index_lseek(struct file *f, i64 off, int whence);

/* The node an open file was opened at, for the f* calls that work by path (fchmod, fchown,
 * futimens): -EOPNOTSUPP for files with no name in the namespace (pipes, eventfds, memfds,
 * the console), which Linux would change in place. */
struct node;
int file_node(const struct file *f, struct node *n);

/* Files for host handles received from another process (SCM_RIGHTS). */
struct file *pipe_file_from_handle(u32 handle, int flags);
struct file *eventfd_file_from_handle(u32 handle, int flags);

/* The host handle whose readiness is f's (f->host_polled), for poll, select and epoll. */
bool file_poll_handle(const struct file *f, u32 *h);
/* Waits, without the big lock, until a host-polled file is ready for `events` (POLL* bits):
 * 0, -EAGAIN when timeout_ns (0: none) passes, -EINTR when a signal comes (sys/poll.c). */
i64 file_wait(struct file *f, u16 events, i64 timeout_ns);

/* Shared by the files that are a host object behind a handle (pipes, sockets, epoll,
 * timerfd, signalfd: fdtable.c). */
/* A new file for host handle h: a stream (no position), polled by the host. NULL if none. */
struct file *file_for_handle(const struct file_ops *ops, u32 h, int flags, u32 mode,
                             const char *name);
void handle_close(u32 h);                                     /* UNO_OP_CLOSE of a handle */
void handle_close_async(u32 h);                               /* the same, not waited for */
void file_close_handle(struct file *f);                       /* release: handle_close */
i64 file_lseek_espipe(struct file *f, i64 off, int whence);    /* -ESPIPE (pipes, sockets) */
i64 file_lseek_noop(struct file *f, i64 off, int whence);      /* 0 (Linux's noop_llseek) */
/* stat of an object with no name: a device number, an inode from the handle, a mode. */
int file_anon_stat(struct file *f, struct linux_stat *st, u64 dev, u64 ino_base, u32 mode);

/* Generic helpers. */
i64 file_truncate(struct file *f, u64 len);
i64 file_generic_lseek(struct file *f, i64 off, int whence, u64 size);
void stat_from_erofs(const struct erofs_inode *ino, struct linux_stat *st);
struct uno_stat;
void stat_from_upper(const struct uno_stat *u, struct linux_stat *st);
int upper_fstat(struct file *f, struct linux_stat *st); /* upper.c: the host descriptor's */

#endif
