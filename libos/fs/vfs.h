/* The file namespace: one tree made of the EROFS image (lower), the writable layer held by
 * the VMM (upper, overlay semantics: copy-up, whiteouts, opaque directories), and the
 * synthetic /dev and /proc. Paths are resolved here, in the libOS; the host sees only
 * normalized relative paths of the writable layer. */
#ifndef FS_VFS_H
#define FS_VFS_H
#include "file.h"
#include "erofs.h"
#include "../../abi/uno_abi.h"

#define PATH_MAX 4096
#define AT_FDCWD (-100)
#define AT_SYMLINK_NOFOLLOW 0x100
#define AT_REMOVEDIR 0x200
#define AT_SYMLINK_FOLLOW 0x400
#define AT_EMPTY_PATH 0x1000

enum special { SP_NONE, SP_DEV, SP_PROC, SP_SYS };

struct node {
    char path[PATH_MAX];     /* absolute, normalized ("/" or "/a/b") */
    bool exists;
    u32 mode;                /* S_IF* | permissions of what is visible */
    bool in_upper;           /* the visible entry is in the writable layer */
    bool opaque;             /* upper directory hides the lower one */
    bool has_lower;          /* `lower` is valid (and visible unless opaque) */
    bool lower_exists;       /* the image has an entry of this name (maybe shadowed by the
                                upper one): removing the name needs a whiteout */
    struct erofs_inode lower;
    struct uno_stat ust;     /* upper entry's attributes when in_upper */
    enum special special;    /* under /dev or /proc */
    int special_kind;        /* which synthetic file (devfs.c / procfs.c) */
    bool magic;              /* a followed /proc/self/fd/N: means the open file itself */
    int etc_default;         /* a generated /etc file standing in for a missing one (etc.c) */
};

#define RESOLVE_FOLLOW 0x1   /* follow a symlink in the last component */
#define RESOLVE_PARENT_OK 0x2 /* a missing last component is fine (exists = false) */

extern struct erofs_fs rootfs;

void vfs_init(void);
/* Resolve (dirfd, path) into *out. -ENOENT, -ENOTDIR, -ELOOP, -ENAMETOOLONG, -EACCES. */
int vfs_resolve(int dirfd, const char *path, int flags, struct node *out);
/* Open a resolved path (creating it when O_CREAT). */
int vfs_open(int dirfd, const char *path, int flags, u32 mode, struct file **out);
int vfs_stat(const struct node *n, struct linux_stat *st);
int vfs_readlink(const struct node *n, char *buf, u64 size);
int vfs_mknod(int dirfd, const char *path, u32 mode);
int vfs_mkdir(int dirfd, const char *path, u32 mode);
/* bind of an AF_UNIX path: the name must not exist (-EADDRINUSE); its directory is made to
 * exist in the writable layer, where the VMM makes the socket node. */
int vfs_prepare_socket(const char *path, struct node *n);
int vfs_unlink(int dirfd, const char *path, int flags);
int vfs_rename(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
int vfs_link(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, bool follow);
int vfs_symlink(const char *target, int dirfd, const char *linkpath);
int vfs_chmod(const struct node *n, u32 mode);
int vfs_utimens(const struct node *n, i64 atime_ns, i64 mtime_ns);
int vfs_chown(const struct node *n, u32 uid, u32 gid); /* (u32)-1: leave unchanged */
/* Make every directory of `path` (absolute) exist in the writable layer. */
int vfs_copy_up_dirs(const char *path);
/* The writable-layer path of an absolute path ("/a/b" -> "a/b", "/" -> ""). */
const char *upper_rel(const char *abs);
/* Attributes of an absolute path in the writable layer (UNO_OP_STAT). */
i64 upper_stat(const char *abs, struct uno_stat *st);
i64 upper_lookup(const char *abs, struct uno_stat *st); /* absent.c: upper_stat, remembering absence */
/* The writable layer may hold something (false while it is known empty). */
bool upper_active(void);
void upper_mark_active(void);

/* Directory listing output, shared by all directory kinds (getdents64 format). */
struct dirent_sink {
    u8 *buf;
    u64 size, used;
};
/* Append one entry; returns false when it does not fit (caller stops, keeps position). */
bool dirent_emit(struct dirent_sink *s, u64 ino, u8 type, const char *name, size_t len);

/* A synthetic file (/dev, /proc, /sys, generated /etc files) for node n. */
int special_open(const struct file_ops *ops, const struct node *n, int flags, struct file **out);
/* Generated contents (textfile.c): a copy of text[0..len) served by text_read/text_lseek,
 * freed by text_release; ops supplies the stat. */
int text_open(const struct file_ops *ops, const struct node *n, int flags, const char *text,
              u64 len, struct file **out);
i64 text_read(struct file *f, void *buf, u64 len, i64 off);
i64 text_lseek(struct file *f, i64 off, int whence);
void text_release(struct file *f);
/* The next component of a path: skips slashes, returns its start (NULL at the end) and
 * length, and advances *p past it. */
const char *path_next(const char **p, size_t *len);
/* The guest-physical address of the image page holding file offset `off` (page-aligned),
 * when the whole page lies in the file and can be mapped in place; 0 otherwise. */
u64 lower_page_gpa(const struct file *f, u64 off);
/* The image's bytes of a file of the image, [off, off+len), as guest-physical segments (for
 * sending them with no copy): how many, covering at most len; 0 if none can be given. */
int lower_io_list(const struct file *f, u64 off, u64 len, struct uno_iov *out, int max);

/* Per-kind file operations and openers. */
int lower_open(const struct node *n, int flags, struct file **out);
int upper_open(const struct node *n, int flags, u32 mode, struct file **out);
int upper_fifo_open(const struct node *n, int flags, struct file **out);
struct file *upper_file_from_handle(u32 handle, int flags, u32 mode, const char *name);
int dir_open_merged(const struct node *n, int flags, struct file **out);
int console_open(int which, int flags, struct file **out);
int devfs_lookup(const char *rel, struct node *n);          /* rel: after "/dev" */
int devfs_open(const struct node *n, int flags, struct file **out);
int procfs_lookup(const char *rel, struct node *n);         /* rel: after "/proc" */
int procfs_open(const struct node *n, int flags, struct file **out);
int procfs_readlink(const struct node *n, char *buf, u64 size);
/* Default /etc files (etc.c): ETC_* kinds, 0 for a name that has none. */
enum { ETC_PASSWD = 1, ETC_GROUP, ETC_HOSTS, ETC_RESOLV, ETC_DEFAULTS = ETC_RESOLV };
int etc_default_kind(const char *dir, const char *name, size_t len);
const char *etc_default_name(int kind);
int etc_default_text(int kind, char *buf, u64 size);   /* length, or -errno */
void etc_default_stat(int kind, u64 size, struct linux_stat *st);
int etc_default_open(const struct node *n, int flags, struct file **out);
int sysfs_lookup(const char *rel, struct node *n);          /* rel: after "/sys" */
int sysfs_open(const struct node *n, int flags, struct file **out);

/* The current working directory (absolute, normalized). */
extern char cwd_path[PATH_MAX];

#endif
