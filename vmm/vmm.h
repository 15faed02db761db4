/* uno-vmm internal interfaces. One host process per guest process. */
#ifndef VMM_H
#define VMM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../abi/uno_abi.h"

#define VMM_EXIT_ERROR 125 /* uno-vmm's own failure, docker's convention */

struct vmm_config {
    const char *image_path;
    const char *upper_dir;
    const char *libos_path;
    uint64_t mem_size;
    const char *cwd;
    const char *hostname;
    const char *cpuid_cache; /* file caching KVM_GET_SUPPORTED_CPUID, or NULL */
    int backend;             /* enum uno_backend, 0 = detect */
    bool probe;              /* --probe: report the host's KVM and exit */
    const char **env;
    int envc;
    char **argv; /* argv[0] = program path in the image */
    int argc;
    bool trace;
    bool verbose;
};

/* Guest memory as the host sees it. */
struct guest_mem {
    uint8_t *ram;          /* GPA 0 .. ram_size */
    uint64_t ram_size;
    uint8_t *shared;       /* GPA UNO_GPA_SHARED .. + shared_size (memfd) */
    uint64_t shared_size;
    int shared_fd;
    const uint8_t *image;  /* GPA UNO_GPA_IMAGE .. + image_size, read-only */
    uint64_t image_size;
    uint64_t image_map_size;
};

struct host_handle {
    int fd;                /* -1: free */
    bool is_dir;
};

struct vmm {
    struct vmm_config cfg;
    struct guest_mem mem;
    int kvm_fd, vm_fd, vcpu_fd;
    void *run;             /* struct kvm_run */
    size_t run_size;
    int doorbell_fd;       /* ioeventfd */
    int upper_fd;          /* O_PATH dir of the writable layer */
    struct host_handle handles[UNO_MAX_HANDLES];
    pthread_mutex_t ring_lock;
    uint32_t sq_head, cq_tail;   /* the host's own copies; the guest's are not trusted */
    uint64_t ring_bad;           /* malformed submissions seen (reported once) */
    pthread_t io_thread;
    volatile int stopping;
    uint64_t t_start_ns;
    int exit_status;
    int backend;                 /* enum uno_backend chosen for this VM */
    const char *backend_why;     /* how it was chosen, for --verbose */
    uint32_t cpu_feat7_ebx, cpu_feat7_ecx; /* CPUID leaf 7 as given to the vCPU */
    uint64_t xcr0;               /* the XCR0 the vCPU starts with */
    uint64_t hypercalls;         /* exits to this process the guest asked for */
    uint64_t doorbells;          /* doorbell wake-ups of the I/O thread (no exit) */
};

/* memory.c — guest memory and the checked GPA accessors: the one place that turns a
 * guest-physical range into a host pointer. */
int mem_setup(struct vmm *v);
void *gpa_ptr(struct vmm *v, uint64_t gpa, uint64_t len); /* NULL if not all RAM */

/* kvm.c — KVM plumbing */
int kvm_open(struct vmm *v);
int kvm_choose_backend(struct vmm *v); /* sets v->backend; -1 with a message if impossible */
const char *backend_name(int backend);
int kvm_setup_memory(struct vmm *v);
int kvm_setup_vcpu(struct vmm *v, uint64_t entry, uint64_t stack, uint64_t arg,
                   uint64_t syscall_entry);
int kvm_run_loop(struct vmm *v);

/* boot.c — guest layout: page tables, GDT/TSS/IDT, libOS image, boot info */
struct libos_image {
    uint64_t entry, syscall_entry, exc_table, exc_stride, boot_stack, exc_stack, bp_gate;
    uint64_t phys, size;
};
int boot_load_libos(struct vmm *v, struct libos_image *li);
int boot_build_tables(struct vmm *v, const struct libos_image *li);
int boot_fill_info(struct vmm *v, const struct libos_image *li);

/* ring.c — host side of the hostio ring */
void ring_serve(struct vmm *v);         /* drain the submission queue */
int ring_start_io_thread(struct vmm *v);
void ring_stop_io_thread(struct vmm *v);

/* hostops.c — the operations the ring carries, on validated arguments */
struct ring_req {
    uint16_t op;
    uint32_t handle;
    int64_t off;
    uint64_t len;
    uint64_t arg[4];
    uint8_t *data;          /* this slot's data buffer, UNO_RING_SLOT bytes */
    char path[4096];        /* path ops: validated copy (relative to the upper layer) */
    char path2[4096];       /* rename: new path; symlink: link path (target is in path) */
};
int ring_decode(const struct uno_sqe *sqe, uint8_t *slot_data, struct ring_req *out);
int64_t hostop_exec(struct vmm *v, struct ring_req *r);
int hostops_init(struct vmm *v);

uint64_t now_ns(int clock);
void vmm_log(struct vmm *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
