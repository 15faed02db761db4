/* Shared file mappings (UNO_OP_FMAP). A guest mmap(MAP_SHARED) of a file in the writable
 * layer becomes a host mmap(MAP_SHARED) of the host file, registered as a KVM memory slot in
 * a window of guest-physical space; the libOS points the app's page tables at it. Stores go
 * straight to the host page cache, so read()/write() through the file, the other processes
 * mapping it and the file on disk all see the same bytes, as on Linux. A fork keeps the
 * host mapping (MAP_SHARED survives fork), and the child VM gets the same slots again.
 *
 * Every value here comes from the guest: the handle must be an open regular file, offset
 * and length page-aligned and within a window, and a window named for UNMAP/SYNC must be one
 * this process mapped. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmm.h"

struct fmap {
    void *host;      /* NULL: free */
    uint64_t len;
    uint32_t slot_flags;  /* KVM_MEM_READONLY for a read-only mapping */
};

/* Static, not in struct vmm: a forked VMM inherits the table with the host mappings. */
static struct fmap maps[UNO_FMAP_MAX];

static uint64_t window_gpa(int i) { return UNO_GPA_FILEMAP + (uint64_t)i * UNO_FMAP_WINDOW; }

static int window_of(uint64_t gpa)
{
    if (gpa < UNO_GPA_FILEMAP || (gpa - UNO_GPA_FILEMAP) % UNO_FMAP_WINDOW)
        return -1;
    uint64_t i = (gpa - UNO_GPA_FILEMAP) / UNO_FMAP_WINDOW;
    return i < UNO_FMAP_MAX && maps[i].host ? (int)i : -1;
}

static int64_t fmap_map(struct vmm *v, int fd, int64_t off, uint64_t len, uint64_t writable)
{
    struct stat st;
    const uint64_t page = 4096;
    if (fd < 0)
        return -EBADF;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return -ENODEV;
    if (off < 0 || ((uint64_t)off | len) & (page - 1) || !len || len > UNO_FMAP_WINDOW ||
        writable > 1)
        return -EINVAL;
    int i = 0;
    while (i < UNO_FMAP_MAX && maps[i].host)
        i++;
    if (i == UNO_FMAP_MAX)
        return -ENOMEM;
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    void *host = mmap(NULL, len, prot, MAP_SHARED, fd, off);
    if (host == MAP_FAILED)
        return -errno;
    uint32_t flags = writable ? 0 : KVM_MEM_READONLY;
    if (kvm_set_slot(v, UNO_FMAP_SLOT0 + (uint32_t)i, window_gpa(i), len, host, flags)) {
        munmap(host, len);
        return -ENOMEM;
    }
    maps[i] = (struct fmap){.host = host, .len = len, .slot_flags = flags};
    return (int64_t)window_gpa(i);
}

static int64_t fmap_unmap(struct vmm *v, uint64_t gpa)
{
    int i = window_of(gpa);
    if (i < 0)
        return -EINVAL;
    kvm_set_slot(v, UNO_FMAP_SLOT0 + (uint32_t)i, gpa, 0, NULL, 0); /* delete the slot */
    munmap(maps[i].host, maps[i].len);
    maps[i].host = NULL;
    return 0;
}

static int64_t fmap_sync(uint64_t gpa, int64_t off, uint64_t len)
{
    int i = window_of(gpa);
    if (i < 0 || off < 0 || (uint64_t)off > maps[i].len || len > maps[i].len - (uint64_t)off)
        return -EINVAL;
    uint64_t start = (uint64_t)off & ~4095ull;
    return msync((uint8_t *)maps[i].host + start, len + ((uint64_t)off - start), MS_SYNC) < 0
               ? -errno
               : 0;
}

int64_t filemap_op(struct vmm *v, const struct ring_req *r, int fd)
{
    switch (r->arg[0]) {
    case UNO_FMAP_MAP:
        return fmap_map(v, fd, r->off, r->arg[1], r->arg[2]);
    case UNO_FMAP_UNMAP:
        return fmap_unmap(v, r->arg[1]);
    case UNO_FMAP_SYNC:
        return fmap_sync(r->arg[1], r->off, r->arg[2]);
    default:
        return -EINVAL;
    }
}

/* A new VM over the same host memory (after fork): the windows this process had. */
int filemap_restore(struct vmm *v)
{
    for (int i = 0; i < UNO_FMAP_MAX; i++)
        if (maps[i].host && kvm_set_slot(v, UNO_FMAP_SLOT0 + (uint32_t)i, window_gpa(i),
                                         maps[i].len, maps[i].host, maps[i].slot_flags))
            return -1;
    return 0;
}
