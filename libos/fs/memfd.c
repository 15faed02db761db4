/* memfd_create: an anonymous file. It is a host memfd the VMM holds, served by the same
 * operations as a file of the writable layer (upper.c): read, write, lseek, ftruncate,
 * fallocate, fstat. Being a host object, it is shared across fork with its offset exactly as
 * Linux shares it, and its pages are host pages: a MAP_PRIVATE mapping copies them into the
 * guest (mm/mmap.c reads the file), and a MAP_SHARED mapping could map the host memfd into
 * guest-physical memory the way shared file mappings will be. */
#include "vfs.h"
#include "core/kernel.h"
#include "io/ring.h"
#include "libos/fmt.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "sys/syscalls.h"

#define MFD_CLOEXEC 0x1u
#define MFD_ALLOW_SEALING 0x2u
#define MFD_NAME_MAX 249 /* Linux: NAME_MAX minus "memfd:" */

i64 sys_memfd_create(u64 uname, u64 flags)
{
    /* MFD_HUGETLB and the exec-sealing flags of later kernels are refused, as a 6.1 kernel
     * without hugetlbfs pages would. */
    if (flags & ~(u64)(MFD_CLOEXEC | MFD_ALLOW_SEALING))
        return -EINVAL;
    static char name[MFD_NAME_MAX + 1];
    i64 n = strncpy_from_user(name, (const char *)uname, sizeof name);
    if (n < 0)
        return n == -ENAMETOOLONG ? -EINVAL : n;
    struct ring_op op = {.op = UNO_OP_MEMFD, .in = name, .in_len = (size_t)n + 1,
                         .arg = {(flags & MFD_ALLOW_SEALING) ? UNO_MFD_ALLOW_SEALING : 0}};
    i64 h = ring_call(&op);
    if (h < 0)
        return h;
    char path[FILE_NAME_MAX];
    snprintf_l(path, sizeof path, "/memfd:%s (deleted)", name); /* as /proc/self/fd shows */
    struct file *f = upper_file_from_handle((u32)h, O_RDWR, S_IFREG | 0777, path);
    if (f)
        f->anon = true;
    if (!f) {
        handle_close((u32)h);
        return -ENFILE;
    }
    int fd = fd_install(f, 0, (flags & MFD_CLOEXEC) != 0);
    if (fd < 0)
        file_put(f);
    return fd;
}
