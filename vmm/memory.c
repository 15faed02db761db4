/* Guest memory: RAM (private, copy-on-write across a host fork), the shared region (a memfd,
 * stays shared across fork) and the read-only EROFS image (the host's page cache, shared by
 * every VM of the image). gpa_ptr() is the only way the VMM turns a guest-physical range
 * into a pointer: it refuses anything not wholly inside RAM. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm.h"

#define SHARED_DEFAULT (16ull << 20)

static int map_ram(struct vmm *v)
{
    struct guest_mem *m = &v->mem;
    m->ram = mmap(NULL, m->ram_size, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m->ram == MAP_FAILED) {
        fprintf(stderr, "uno-vmm: cannot reserve %llu MiB of guest memory: %s\n",
                (unsigned long long)(m->ram_size >> 20), strerror(errno));
        return -1;
    }
    /* 2 MiB host pages under the guest's 2 MiB mappings: fewer TLB misses, faster fork. */
    madvise(m->ram, m->ram_size, MADV_HUGEPAGE);
    return 0;
}

static int map_shared(struct vmm *v)
{
    struct guest_mem *m = &v->mem;
    m->shared_size = SHARED_DEFAULT;
    m->shared_fd = memfd_create("uno-shared", MFD_CLOEXEC);
    if (m->shared_fd < 0 || ftruncate(m->shared_fd, (off_t)m->shared_size) < 0) {
        fprintf(stderr, "uno-vmm: cannot create the shared memory region: %s\n", strerror(errno));
        return -1;
    }
    m->shared = mmap(NULL, m->shared_size, PROT_READ | PROT_WRITE, MAP_SHARED, m->shared_fd, 0);
    if (m->shared == MAP_FAILED) {
        fprintf(stderr, "uno-vmm: cannot map the shared memory region: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

static int map_image(struct vmm *v)
{
    struct guest_mem *m = &v->mem;
    int fd = open(v->cfg.image_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "uno-vmm: cannot open image %s: %s\n", v->cfg.image_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (st.st_size < 4096 || (uint64_t)st.st_size > (UNO_GPA_MMIO - UNO_GPA_IMAGE)) {
        fprintf(stderr, "uno-vmm: %s: not a usable root image (size %lld)\n", v->cfg.image_path,
                (long long)st.st_size);
        close(fd);
        return -1;
    }
    m->image_size = (uint64_t)st.st_size;
    m->image_map_size = (m->image_size + 4095) & ~4095ull;
    m->image = mmap(NULL, m->image_map_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m->image == MAP_FAILED) {
        fprintf(stderr, "uno-vmm: cannot map image: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

int mem_setup(struct vmm *v)
{
    v->mem.ram_size = v->cfg.mem_size;
    if (map_ram(v) || map_shared(v) || map_image(v))
        return -1;
    return 0;
}

void *gpa_ptr(struct vmm *v, uint64_t gpa, uint64_t len)
{
    if (gpa >= v->mem.ram_size || len > v->mem.ram_size - gpa)
        return NULL;
    return v->mem.ram + gpa;
}

/* A range of guest memory an I/O may use in place (sockets' scatter lists): RAM, the shared
 * region, or — for reading only — the image. NULL if not wholly inside one of them. */
void *gpa_io_ptr(struct vmm *v, uint64_t gpa, uint64_t len, bool write)
{
    struct guest_mem *m = &v->mem;
    if (gpa < m->ram_size)
        return gpa_ptr(v, gpa, len);
    if (gpa >= UNO_GPA_SHARED && gpa - UNO_GPA_SHARED < m->shared_size &&
        len <= m->shared_size - (gpa - UNO_GPA_SHARED))
        return m->shared + (gpa - UNO_GPA_SHARED);
    if (!write && gpa >= UNO_GPA_IMAGE && gpa - UNO_GPA_IMAGE < m->image_size &&
        len <= m->image_size - (gpa - UNO_GPA_IMAGE))
        return (void *)(m->image + (gpa - UNO_GPA_IMAGE));
    return NULL;
}

/* The instance's header at the start of the shared region (abi: struct uno_shared_hdr), which
 * every VMM of the instance maps; NULL without a region (the host-side unit tests). */
struct uno_shared_hdr *shared_hdr(struct vmm *v)
{
    struct guest_mem *m = &v->mem;
    return m->shared && m->shared_size >= UNO_SHARED_HDR_BYTES ? (struct uno_shared_hdr *)m->shared
                                                               : NULL;
}
