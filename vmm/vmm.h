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
    int cpus;      /* --cpus: host CPUs the guest's threads may run on at once */
    /* Networking (net.c): --publish [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp] (one port each),
     * --network default|none|allow=CIDR[,CIDR...]. */
    const char **publish;
    int npublish;
    const char *network;
    /* --user UID:GID[:GROUP,...]: the first process's credentials (default root). */
    uint32_t uid, gid;
    uint32_t ngroups;
    uint32_t groups[UNO_BOOT_GROUPS_MAX];
};

/* One vCPU = one guest thread = one host thread of this process (vcpu.c). */
enum { VCPU_NONE = 0, VCPU_RUNNING, VCPU_PARKED };
struct vcpu {
    int index, fd;
    void *run;                   /* struct kvm_run */
    volatile int state;          /* VCPU_* (under vmm.vcpu_lock) */
    pthread_t thread;
    pid_t host_tid;
    int wake_fd;                 /* eventfd behind UNO_MMIO_WAKE(index) */
    uint64_t vc_gpa;             /* its struct uno_vcpu in guest RAM */
    uint64_t upcall_stack;
    struct proc_entry *tid_entry; /* its tid in the process table (NULL: the tid is the pid) */
    volatile uint64_t exits;     /* KVM_RUN returns, for membarrier */
    volatile int in_guest;       /* inside KVM_RUN */
    struct ring_req *req;        /* UNO_HC_HOSTCALL's decoded operation */
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

struct vsock;
struct net;

struct host_handle {
    int fd;                /* -1: free */
    bool is_dir;
    bool stream;           /* pipe or console: reads and writes may wait */
    struct vsock *sock;    /* a guest socket (net.c): the host descriptors behind it */
    uint32_t gen;          /* bumped whenever the host descriptors behind it change */
};

struct vmm {
    struct vmm_config cfg;
    struct guest_mem mem;
    int kvm_fd, vm_fd;
    size_t run_size;
    struct vcpu vcpus[UNO_MAX_VCPUS];
    pthread_mutex_t vcpu_lock;
    pthread_cond_t vcpu_cond;    /* a vCPU parked or was restarted */
    int cpu_list[UNO_MAX_VCPUS]; /* host CPU of each guest CPU (--cpus) */
    int ncpus;
    uint64_t syscall_entry;      /* vCPU n's LSTAR: + n * UNO_SYSCALL_STRIDE */
    void (*finish)(struct vmm *v, int status); /* the VM is over (main.c vmm_finish) */
    int doorbell_fd;       /* ioeventfd */
    int upper_fd;          /* O_PATH dir of the writable layer */
    struct net *net;       /* sockets: the instance directory, published ports (net.c) */
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
    volatile uint64_t ring_busy_ns; /* CLOCK_MONOTONIC when ring_serve last did work */
};

/* memory.c — guest memory and the checked GPA accessors: the one place that turns a
 * guest-physical range into a host pointer. */
int mem_setup(struct vmm *v);
void *gpa_ptr(struct vmm *v, uint64_t gpa, uint64_t len); /* NULL if not all RAM */
void *gpa_io_ptr(struct vmm *v, uint64_t gpa, uint64_t len, bool write); /* RAM, shared, image */
struct uno_shared_hdr *shared_hdr(struct vmm *v); /* the instance's; NULL without a region */

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
int kvm_run_loop(struct vmm *v, struct vcpu *c);
int kvm_create_vcpu(struct vmm *v, struct vcpu *c);
/* A new thread's vCPU: the caller's state with these registers (vcpu.c). */
int kvm_clone_vcpu(struct vmm *v, struct vcpu *from, struct vcpu *to, uint64_t rip,
                   uint64_t rsp, uint64_t tss);

/* vcpu.c — threads: vCPUs started, parked and woken on the guest's behalf */
extern __thread struct vcpu *this_vcpu;
int vcpu_init(struct vmm *v);            /* vCPU 0 and --cpus */
int64_t vcpu_start(struct vmm *v, struct uno_hcall *hc);
void vcpu_exit(struct vmm *v);           /* never returns while the vCPU stays parked */
int64_t vcpu_block(struct vmm *v, struct uno_hcall *hc);
int64_t vcpu_kick(struct vmm *v, uint64_t n);
int64_t vcpu_membarrier(struct vmm *v);
int64_t vcpu_affinity(struct vmm *v, uint64_t n, uint64_t mask);
int64_t vcpu_cputime(struct vmm *v, uint64_t which, uint64_t n, uint64_t *sys_ns);
int64_t vcpu_nice(struct vmm *v, uint64_t n, int64_t nice);
int64_t vcpu_hostcall(struct vmm *v);
struct uno_vcpu *vcpu_shared(struct vmm *v, struct vcpu *c); /* NULL if misplaced */
void vcpu_route_signals(struct vmm *v);  /* process signals to a thread that takes them */
void vcpu_forget_others(struct vmm *v);  /* fork child: only this_vcpu exists */

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
int ring_serve(struct vmm *v, bool vcpu); /* drain the submission queue: entries served */
bool ring_has_work(struct vmm *v);         /* submissions not served yet */
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
    bool ring_locked;       /* served from the ring, under ring_lock */
    char path[4096];        /* path ops: validated copy (relative to the upper layer) */
    char path2[4096];       /* rename: new path; symlink: link path (target is in path) */
};
int ring_decode(const struct uno_sqe *sqe, uint8_t *slot_data, struct ring_req *out);
int64_t hostop_exec(struct vmm *v, struct ring_req *r);
void upper_gen_bump(struct vmm *v); /* the writable layer's names changed (abi: uno_shared_hdr) */
int alloc_handle(struct vmm *v, int fd, bool is_dir); /* -EMFILE; takes fd either way */
int alloc_stream_handle(struct vmm *v, int fd);       /* the same, reads and writes may wait */
/* A guest path of the writable layer checked (ring.c: relative, no "..", NUL within max). */
int check_path(const char *s, size_t max, char *out, size_t outsz, size_t *used);
/* The parent directory of a checked path (O_PATH, beneath the layer); *name: its last part. */
int parent_of(struct vmm *v, const char *path, const char **name);
int drop_whiteout(int dfd, const char *name); /* an entry is made there: 1 if one was hidden */
int handle_fd(struct vmm *v, uint32_t h);             /* -1 if not open */
/* The host descriptors whose readiness is handle h's (a listening socket may have several:
 * the instance's own listener and the published ports' ones): how many, at most max; 0 if
 * the handle is not open. */
int handle_poll_fds(struct vmm *v, uint32_t h, int *fds, int max);
#define HANDLE_POLL_MAX 8

/* Sockets (net.c). */
int net_init(struct vmm *v);                    /* the instance's name, published ports */
int64_t net_op(struct vmm *v, struct ring_req *r); /* UNO_OP_SOCKET ... UNO_OP_RECVMSG */
int net_poll_fds(struct vmm *v, struct vsock *s, int *fds, int max);
void net_close(struct vmm *v, uint32_t h, struct vsock *s);
int net_rx_fd(struct vmm *v, uint32_t h); /* a connected TCP socket's data descriptor, or -1 */

/* Receiving ahead (rxahead.c). */
void rx_fill(struct vmm *v, uint32_t h, bool ring_locked); /* receive into h's buffer */
bool rx_pending(struct vmm *v, uint32_t h);                /* bytes wait in h's buffer */
int rx_taken_error(struct vmm *v, uint32_t h);            /* an error a fill took, once */
uint64_t rx_fills(void);                                   /* fills that got bytes */
int net_before_write(struct vmm *v, uint32_t h); /* a socket's queued sends go first */

/* sendq.c — asynchronous sends: queues of what host sockets could not take yet */
void sendq_established(struct vmm *v, uint32_t h, int fd); /* asynchronous sends allowed */
void sendq_sent(struct vmm *v, uint32_t h, int fd);        /* a synchronous send went out */
int64_t sendq_async(struct vmm *v, uint32_t h, int fd, const uint8_t *data, size_t len);
int sendq_before_send(struct vmm *v, uint32_t h); /* 0, -EAGAIN, or a deferred error */
int sendq_shutdown(struct vmm *v, uint32_t h, int how); /* 1: the write side waits */
bool sendq_close(struct vmm *v, uint32_t h, int fd);    /* true: the queue closes fd */
int sendq_start(struct vmm *v);          /* the I/O thread's epoll set (again after fork) */
void sendq_forget_all(struct vmm *v);    /* a fork child: the queues are the parent's */
int sendq_wait(struct vmm *v, int timeout_ms); /* 1: the instance ended; -1: error */
bool sendq_busy(void);
void sendq_drain_all(struct vmm *v, uint64_t budget_ns); /* before fork: send it all */
void sendq_exit(struct vmm *v); /* at exit: a process of its own sends what is left */

/* epoll.c — readiness: host epoll instances, timerfds, and the host eventfds that make
 * signalfds readable (UNO_OP_EPOLL, UNO_OP_TIMERFD, UNO_OP_SIGNALFD) */
int64_t epoll_op(struct vmm *v, struct ring_req *r);
int64_t timerfd_op(struct vmm *v, struct ring_req *r);
int64_t signalfd_op(struct vmm *v, struct ring_req *r);
void signalfd_posted(struct vmm *v, uint64_t bits); /* signals reached the guest (proc.c) */

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
extern int instance_pidfd; /* PID 1's VMM (-1: unknown); its end is the instance's end */
int64_t proc_fork(struct vmm *v, struct uno_hcall *hc);
int64_t proc_op(struct vmm *v, struct ring_req *r);
void proc_exit(struct vmm *v, int status); /* status as wait4 encodes it */
int64_t proc_stop(struct vmm *v, int sig);
int64_t proc_vfork_end(struct vmm *v, int32_t status);
void proc_take_signals(struct vmm *v);     /* table -> the guest's signal page */
bool proc_signal_wanted(struct vmm *v);    /* a pending signal this vCPU's thread must see now */
bool proc_signal_wanted_by(struct vmm *v, struct vcpu *c);
int32_t proc_thread_alloc(struct vmm *v, struct vcpu *c); /* a tid, or -EAGAIN */
void proc_thread_free(struct vmm *v, struct vcpu *c);
void proc_move_kick_target(struct vmm *v, pid_t from, pid_t to); /* if it was `from` */
void proc_host_signal(struct vmm *v, int guest_sig); /* from outside: to the guest PID 1 */
void proc_timer_fired(struct vmm *v, int which); /* the guest's interval timer expired */
int proc_fg_pgrp(void);
int proc_guest_pid_of_host(int host_pid); /* 0: not one of the instance's */
int proc_self_pid(struct vmm *v);         /* this process's guest pid (0: gone) */
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
int block_set_mask(struct vcpu *c);        /* the kick opens inside this vCPU's KVM_RUN */
void vmm_finish(struct vmm *v, int status); /* the VM is over: never returns */
void *kvm_save_state(struct vmm *v);

uint64_t now_ns(int clock);
void vmm_log(struct vmm *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
