/* Extras of the synthetic file systems (devfs.c, procfs.c) that vfs.h does not declare. */
#ifndef FS_DEVFS_H
#define FS_DEVFS_H
#include "vfs.h"

/* The target of a /dev symlink (stdin, stdout, stderr, fd): no NUL, truncated to size;
 * returns the length, or -EINVAL when n is not a symlink. */
int devfs_readlink(const struct node *n, char *buf, u64 size);

/* Bytes from the libOS's ChaCha20 generator (keyed by the host's seed), the source of
 * /dev/random and /dev/urandom; usable for getrandom(2) and AT_RANDOM as well. */
void devfs_random(void *buf, u64 len);
void devfs_random_fork(u32 pid);

/* For a /proc/<pid>/fd/N node: the open file behind it (NULL otherwise), so that opening
 * the link can reuse the file as Linux's "magic" links do (pipes, sockets, deleted files). */
struct file *procfs_fd_file(const struct node *n);

#endif
