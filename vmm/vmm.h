/* uno-vmm internal interfaces. One host process per guest process. */
#ifndef VMM_H
#define VMM_H

#include <pthread.h>
#include <signal.h>
#include <sys/types.h>
#include <time.h>
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
    bool no_rewrite;       /* --no-syscall-rewrite */
    bool verbose;
    bool tty;      /* --tty: the console is the guest's terminal (uno run -t) */
    int pids_limit;
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
    bool stream;           /* pipe or console: reads and writes may wait */
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
    uint64_t upcall_entry, upcall_stack; /* where signals enter the libOS (cpl3) */
    struct proc_entry *self;     /* this process in the instance's table (proc.c) */
    struct proc_entry *vfork_parent; /* while an in-place vfork child runs: its parent */
    int vfork_fd;                /* child of a vfork: closing it releases the parent */
    pid_t vcpu_tid;
    clockid_t vcpu_clock;        /* CPU time of the vCPU thread (ITIMER_VIRTUAL/PROF) */
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
/* A KVM memory slot (size 0 deletes it); -1 with a message on failure. */
int kvm_set_slot(struct vmm *v, uint32_t slot, uint64_t gpa, uint64_t size, const void *host,
                 uint32_t flags);
int kvm_setup_vcpu(struct vmm *v, uint64_t entry, uint64_t stack, uint64_t arg,
                   uint64_t syscall_entry);
int kvm_run_loop(struct vmm *v);

/* boot.c — guest layout: page tables, GDT/TSS/IDT, libOS image, boot info */
struct libos_image {
    uint64_t entry, syscall_entry, exc_table, exc_stride, boot_stack, exc_stack, bp_gate;
    uint64_t upcall_entry, upcall_stack;
    uint64_t phys, size;
};
int boot_load_libos(struct vmm *v, struct libos_image *li);
int boot_build_tables(struct vmm *v, const struct libos_image *li);
int boot_fill_info(struct vmm *v, const struct libos_image *li);
void resolv_host_servers(char *out, size_t size); /* resolv.c */

/* ring.c — host side of the hostio ring */
void ring_serve(struct vmm *v, bool vcpu); /* drain the submission queue */
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
    uint16_t flags;         /* UNO_SQE_* */
    bool may_block;         /* served by the vCPU thread and the guest allows waiting */
    char path[4096];        /* path ops: validated copy (relative to the upper layer) */
    char path2[4096];       /* rename: new path; symlink: link path (target is in path) */
};
int ring_decode(const struct uno_sqe *sqe, uint8_t *slot_data, struct ring_req *out);
int64_t hostop_exec(struct vmm *v, struct ring_req *r);

/* filemap.c — shared file mappings (UNO_OP_FMAP); fd: the handle's host file for MAP */
int64_t filemap_op(struct vmm *v, const struct ring_req *r, int fd);
int filemap_restore(struct vmm *v); /* after fork: the inherited windows in the new VM */

/* lock.c — file locks on host files (UNO_OP_LOCK); fd: the handle's host file */
int64_t lock_op(const struct ring_req *r, int fd);
int hostops_init(struct vmm *v);
void hostops_close_all(struct vmm *v);

/* proc.c — the instance's processes: each guest process is a uno-vmm; the table of all
 * of them (pids, parents, groups, sessions, statuses, pending signals) lives in a memfd
 * every VMM of the instance maps. */
struct proc_entry;
int proc_init_instance(struct vmm *v, int pids_limit);
int64_t proc_fork(struct vmm *v, struct uno_hcall *hc);
int64_t proc_op(struct vmm *v, struct ring_req *r);
void proc_exit(struct vmm *v, int status); /* status as wait4 encodes it */
int64_t proc_stop(struct vmm *v, int sig);
int64_t proc_vfork_end(struct vmm *v, int32_t status);
void proc_take_signals(struct vmm *v);     /* table -> the guest's signal page */
bool proc_signal_wanted(struct vmm *v);    /* a pending signal the guest must see now */
void proc_host_signal(struct vmm *v, int guest_sig); /* from outside: to the guest PID 1 */
void proc_timer_fired(struct vmm *v, int which); /* the guest's interval timer expired */
int proc_fg_pgrp(void);
int proc_guest_pid_of_host(int host_pid); /* 0: not one of the instance's */
bool proc_is_init(struct vmm *v);          /* the instance's PID 1 */
void proc_signal_group(int pgrp, int sig);

/* block.c — waiting for the host on behalf of the guest, interruptible by its signals. */
#define SIGKICK (SIGRTMIN + 2)
void block_init_thread(void);              /* SIGKICK blocked in the calling thread */
int block_install(struct vmm *v);          /* the handler; KVM_SET_SIGNAL_MASK */
void block_eat_kicks(struct vmm *v);       /* after KVM_RUN's EINTR */
/* Wait for fds (may be NULL/0) until deadline (CLOCK_MONOTONIC ns, 0 = forever).
 * Returns poll's count, 0 on timeout, -EINTR when a signal the guest must see arrived,
 * or 1 with no fds when merely kicked and `kick_returns`. */
struct pollfd;
int block_wait(struct vmm *v, struct pollfd *fds, int nfds, uint64_t deadline, bool kick_returns);
int kvm_rebuild_after_fork(struct vmm *v, const void *state);
void *kvm_save_state(struct vmm *v);

uint64_t now_ns(int clock);
void vmm_log(struct vmm *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
