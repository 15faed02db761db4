/* Extended attributes: uno's file systems do not offer them to the app (the image's EROFS
 * attributes are not read; the writable layer's host attributes hold uno's own bookkeeping).
 * So every xattr call answers as Linux does on a file system without xattr support: the
 * path or descriptor is checked first (ENOENT, EBADF…), then EOPNOTSUPP. Programs such as
 * `ls -l` and `cp -a` take that as "no attributes here". */
#include "syscalls.h"
#include "fs/file.h"
#include "fs/vfs.h"
#include "libos/errno.h"
#include "mm/mm.h"

static i64 by_path(u64 upath, bool follow)
{
    static char path[PATH_MAX];
    i64 r = strncpy_from_user(path, (const char *)upath, PATH_MAX);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    struct node n;
    int e = vfs_resolve(AT_FDCWD, path, follow ? RESOLVE_FOLLOW : 0, &n);
    if (e)
        return e;
    return n.exists ? -EOPNOTSUPP : -ENOENT;
}

static i64 by_fd(u64 fd) { return fd_get((int)fd) ? -EOPNOTSUPP : -EBADF; }

i64 sys_getxattr(u64 path, u64 name, u64 value, u64 size)
{
    (void)name, (void)value, (void)size;
    return by_path(path, true);
}

i64 sys_lgetxattr(u64 path, u64 name, u64 value, u64 size)
{
    (void)name, (void)value, (void)size;
    return by_path(path, false);
}

i64 sys_fgetxattr(u64 fd, u64 name, u64 value, u64 size)
{
    (void)name, (void)value, (void)size;
    return by_fd(fd);
}

i64 sys_listxattr(u64 path, u64 list, u64 size)
{
    (void)list, (void)size;
    return by_path(path, true);
}

i64 sys_llistxattr(u64 path, u64 list, u64 size)
{
    (void)list, (void)size;
    return by_path(path, false);
}

i64 sys_flistxattr(u64 fd, u64 list, u64 size)
{
    (void)list, (void)size;
    return by_fd(fd);
}

i64 sys_setxattr(u64 path, u64 name, u64 value, u64 size, u64 flags)
{
    (void)name, (void)value, (void)size, (void)flags;
    return by_path(path, true);
}

i64 sys_lsetxattr(u64 path, u64 name, u64 value, u64 size, u64 flags)
{
    (void)name, (void)value, (void)size, (void)flags;
    return by_path(path, false);
}

i64 sys_fsetxattr(u64 fd, u64 name, u64 value, u64 size, u64 flags)
{
    (void)name, (void)value, (void)size, (void)flags;
    return by_fd(fd);
}

i64 sys_removexattr(u64 path, u64 name)
{
    (void)name;
    return by_path(path, true);
}

i64 sys_lremovexattr(u64 path, u64 name)
{
    (void)name;
    return by_path(path, false);
}

i64 sys_fremovexattr(u64 fd, u64 name)
{
    (void)name;
    return by_fd(fd);
}
