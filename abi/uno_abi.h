/*
 * uno_abi.h — the one contract between the libOS (inside the VM) and uno-vmm (beside it).
 *
 * Everything the two sides share lives here: the guest memory map, the boot-info block the
 * VMM fills before the vCPU starts, the hypercall block used for the few calls that need the
 * vCPU to stop (wait, exit, fault, sleep), and the hostio ring: submission/completion queues
 * in guest RAM with per-slot data buffers.
 *
 * The guest is untrusted. Nothing in a structure below is believed by the VMM without a
 * check: see vmm/ring.c (ring_decode) — the single place guest input is validated.
 *
 * Bump UNO_ABI_VERSION on any incompatible change; the libOS refuses to run on a mismatch.
 */
#ifndef UNO_ABI_H
#define UNO_ABI_H

#include <stdint.h>

#define UNO_ABI_VERSION 4u
#define UNO_BOOT_MAGIC 0x554e4f424f4f5431ull /* "UNOBOOT1" */

/* ---------------------------------------------------------------- guest memory map ---- */
/* Guest-physical layout. RAM starts at 0; the other regions sit far above any RAM size. */
#define UNO_GPA_SHARED 0x1000000000ull  /* 64 GiB: memfd-backed region, MAP_SHARED memory */
#define UNO_GPA_IMAGE 0x2000000000ull   /* 128 GiB: the EROFS root image, read-only slot */
#define UNO_GPA_MMIO 0x3000000000ull    /* 192 GiB: doorbell + hypercall page, no memslot */
/* 256 GiB up: host files mapped MAP_SHARED by the VMM (UNO_OP_FMAP), one window each. */
#define UNO_GPA_FILEMAP 0x4000000000ull
#define UNO_FMAP_WINDOW (16ull << 30)   /* the largest shared file mapping */
#define UNO_FMAP_MAX 256                /* shared file mappings a process may hold at once */

/* The shared region begins with what the whole instance shares: every VMM of the instance
 * maps the same region (fork inherits it, exec keeps it); the libOS's own use of the region
 * starts after UNO_SHARED_HDR_BYTES.
 * - upper_gen counts changes to the names of the writable layer: a VMM adds 1 before and
 *   after each operation that may create, remove or hide a name there (whoever asked for
 *   it), so a libOS may keep "this path is not in the layer" for as long as upper_gen stays
 *   what it read before asking the host.
 * - reuseport: the VMMs' table of loopback TCP ports shared by listeners that set
 *   SO_REUSEPORT (vmm/net.c): key = (1 for IPv4 connections, 2 for IPv6-only) << 16 | port,
 *   0 for a free entry; bit k of members: the port's k-th listener name is held. Only the
 *   VMMs write it; they read it as a hint (what a name's bind or connect says wins). */
#define UNO_REUSEPORT_PORTS 32
#define UNO_REUSEPORT_MEMBERS 8
struct uno_reuseport {
    uint32_t key;
    uint32_t members;
};
struct uno_shared_hdr {
    uint64_t upper_gen;
    uint64_t reserved[7];
    struct uno_reuseport reuseport[UNO_REUSEPORT_PORTS];
};
#define UNO_SHARED_HDR_BYTES 1024u
#define UNO_FMAP_SLOT0 8                /* their KVM memory slots: UNO_FMAP_SLOT0 + index */
#define UNO_MMIO_DOORBELL (UNO_GPA_MMIO + 0x0)   /* write: ioeventfd, no user-space exit */
#define UNO_MMIO_HYPERCALL (UNO_GPA_MMIO + 0x1000) /* write: exits to the VMM's vCPU thread */

/* Guest-virtual layout. The lower half belongs to the application. */
#define UNO_VA_DMAP 0xffff888000000000ull /* direct map: VA = UNO_VA_DMAP + GPA (PML4 slot 256 faults on this KVM) */
#define UNO_VA_LIBOS 0xffffffff80000000ull  /* libOS image (linked here) */

/* Fixed guest-physical pages inside RAM, set up by the VMM. */
#define UNO_GPA_BOOTINFO 0x1000ull          /* struct uno_bootinfo, one page */
#define UNO_GPA_HCALL 0x2000ull             /* struct uno_hcall[UNO_MAX_VCPUS] */
#define UNO_GPA_CPU 0x3000ull               /* GDT, TSS, IDT (one page each) */
#define UNO_GPA_ARGS 0x8000ull              /* argv/envp strings, UNO_ARGS_MAX bytes */
#define UNO_ARGS_MAX 0x38000ull
#define UNO_GPA_PGTABLE 0x40000ull          /* VMM-built page tables (grows up) */
#define UNO_PGTABLE_MAX 0xc0000ull
#define UNO_GPA_RING 0x100000ull            /* hostio ring, UNO_RING_BYTES */
#define UNO_GPA_LIBOS 0x400000ull           /* libOS image, 2 MiB aligned */

/* vCPUs per VM: one per guest thread (docs/architecture.md, "Threads"). vCPU n's syscall
 * entry (MSR_LSTAR) is header.syscall_entry + n * UNO_SYSCALL_STRIDE: a stub that knows
 * which vCPU it runs on, so the libOS finds its per-vCPU stack without a free register. */
#define UNO_MAX_VCPUS 64
#define UNO_SYSCALL_STRIDE 32
/* write: wakes vCPU n out of UNO_HC_BLOCK (an ioeventfd per vCPU: no exit to user space) */
#define UNO_MMIO_WAKE(n) (UNO_GPA_MMIO + 0x2000 + 8ull * (n))

/* Segment selectors (GDT built by the VMM). */
#define UNO_SEL_KCODE 0x08
#define UNO_SEL_KDATA 0x10
#define UNO_SEL_UCODE32 0x18
#define UNO_SEL_UDATA 0x23
#define UNO_SEL_UCODE 0x2b
#define UNO_SEL_TSS 0x30

/* ---------------------------------------------------------------- boot info ---------- */
enum uno_backend {
    UNO_BACKEND_CPL3 = 1,   /* KVM runs guest CPL 3 natively, CPL 0 emulated (PVM-style) */
    UNO_BACKEND_NATIVE = 2, /* hardware VT-x / AMD-V: guest ring 0 native */
};

#define UNO_BOOT_TRACE 0x1u       /* print every syscall (uno run --trace) */
#define UNO_BOOT_UPPER_EMPTY 0x2u /* the writable layer held nothing at start */
#define UNO_BOOT_STDIN_TTY 0x4u   /* host fd 0 is a terminal */
#define UNO_BOOT_STDOUT_TTY 0x8u
#define UNO_BOOT_STDERR_TTY 0x10u
#define UNO_BOOT_VERBOSE 0x20u    /* print libOS boot phases (uno run --verbose) */
#define UNO_BOOT_NO_REWRITE 0x40u /* leave syscall sites alone (uno run --no-syscall-rewrite) */

#define UNO_BOOT_GROUPS_MAX 32
struct uno_bootinfo {
    uint64_t magic;           /* UNO_BOOT_MAGIC */
    uint32_t abi_version;     /* UNO_ABI_VERSION */
    uint32_t backend;         /* enum uno_backend */
    uint32_t flags;           /* UNO_BOOT_* */
    uint32_t ncpus;
    uint64_t ram_size;        /* bytes of RAM at GPA 0 */
    uint64_t free_start;      /* first GPA the libOS may allocate (after its image) */
    uint64_t shared_size;     /* bytes at UNO_GPA_SHARED */
    uint64_t image_size;      /* bytes of EROFS image at UNO_GPA_IMAGE */
    uint64_t libos_phys;      /* GPA of the libOS image */
    uint64_t libos_size;
    /* argv/envp as NUL-separated strings at UNO_GPA_ARGS. */
    uint32_t argc, envc;
    uint64_t args_len;
    uint64_t exec_path_off;   /* offset in the args area of the program path in the image */
    uint64_t cwd_off;         /* offset in the args area of the working directory */
    /* Clock: guest ns = wall_ns + (rdtsc - tsc_base) * tsc_mult >> tsc_shift. */
    uint64_t tsc_base;
    uint64_t mono_ns;         /* CLOCK_MONOTONIC at tsc_base */
    uint64_t wall_ns;         /* CLOCK_REALTIME at tsc_base */
    uint32_t tsc_mult, tsc_shift;
    uint64_t tsc_khz;
    uint8_t random[64];       /* seed from the host's getrandom */
    uint32_t uid, gid;
    uint32_t tty_rows, tty_cols; /* console size, 0 when not a terminal */
    char uname_release[32];
    char hostname[64];
    char nameservers[128];    /* the host's non-loopback DNS servers, space-separated */
    int32_t nice;             /* the host nice uno-vmm started with: the first thread's */
    uint32_t ngroups;         /* supplementary groups of the first process (--user) */
    uint32_t groups[UNO_BOOT_GROUPS_MAX];
};

/* ---------------------------------------------------------------- libOS image -------- */
/* The libOS is an ELF linked at UNO_VA_LIBOS; this header is the first thing in it. */
#define UNO_LIBOS_MAGIC 0x534f42494c4f4e55ull /* "UNOLIBOS" */
#define UNO_LIBOS_MAX (32ull << 20)
struct uno_libos_header {
    uint64_t magic;
    uint32_t abi_version;
    uint32_t exc_stride;      /* bytes between exception stubs */
    uint64_t entry;           /* boot entry: rdi = VA of struct uno_bootinfo */
    uint64_t syscall_entry;   /* MSR_LSTAR */
    uint64_t exc_table;       /* stub for vector 0; vector n at exc_table + n * exc_stride */
    uint64_t boot_stack_top;
    uint64_t exc_stack_top;   /* TSS IST1 and RSP0 */
    uint64_t bp_gate;         /* CPL 0 handler of #BP (vector 3): the TLB flush, see below */
    uint64_t upcall_entry;    /* where the VMM redirects a vCPU running app code to deliver
                               * a signal (struct uno_sigpage holds the app's registers) */
    uint64_t upcall_stack;    /* rsp for upcall_entry */
    uint64_t vcpu0;           /* VA (in the libOS image) of vCPU 0's struct uno_vcpu */
};

/* On the cpl3 backend a CPL 3 guest cannot flush its TLB, and the host's shadow MMU does not
 * notice writes to live page-table entries. `int n` is refused here (#UD), but int3 is
 * delivered through the IDT: its gate leads to a tiny CPL 0 stub that reloads CR3 when the
 * int3 is the libOS's flush site, and hands any other int3 to the CPL 3 exception path. */

/* ---------------------------------------------------------------- hypercalls --------- */
/*
 * A hypercall is a 4-byte write of its number to UNO_MMIO_HYPERCALL: an exit to the VMM's
 * vCPU thread (~23 µs here), so the libOS uses it only to stop (wait for the host, sleep,
 * exit, report a fault). Arguments and the result live in the vCPU's struct uno_hcall.
 */
enum uno_hcall_nr {
    UNO_HC_WAIT = 1,  /* serve the ring now; return when cq has an entry for arg[0] */
    UNO_HC_EXIT = 2,  /* arg[0] = exit status (0..255) or 128+signal; never returns */
    UNO_HC_FAULT = 3, /* arg[0..]= vector, error code, rip, rsp, rflags; VMM reports + exits */
    UNO_HC_PANIC = 4, /* arg[0] = GPA of message, arg[1] = length */
    UNO_HC_SLEEP = 5, /* arg[0] = clock id, arg[1] = deadline ns (absolute); ret 0, or
                       * -EINTR when a signal of interest arrived first */
    UNO_HC_CLOCK = 6, /* ret = CLOCK_REALTIME ns, arg[0] out = CLOCK_MONOTONIC ns */
    UNO_HC_FORK = 7,  /* arg[0] = UNO_FORK_*, arg[1] = child's rsp (0: same); the VMM forks
                       * itself and builds a VM over the copy. ret = child pid in the parent,
                       * 0 in the child (arg[2] out = the child's pid, arg[3] = parent's) */
    UNO_HC_CR2 = 8,   /* ret = the vCPU's CR2 (a CPL 3 guest cannot read it) */
    UNO_HC_STOP = 9,  /* arg[0] = signal: stop this process (job control) until SIGCONT */
    UNO_HC_VFORK_END = 10, /* the in-place vfork child ended: arg[0] = its wait status; the
                            * VM is the parent's again */
    UNO_HC_DISCARD = 11, /* arg[0] = GPA, arg[1] = length (pages of RAM): the guest no longer
                          * needs their contents; they read as zero from now on */
    /* Threads: one vCPU each. */
    UNO_HC_VCPU_START = 12, /* arg[0] = vCPU n (free or parked), arg[1] = GPA of its struct
                             * uno_vcpu, arg[2] = rip, arg[3] = rsp (also its upcall stack),
                             * arg[4] = VA of its TSS. It starts with the caller's segments,
                             * control registers and FPU state. ret = the new thread's tid */
    UNO_HC_VCPU_EXIT = 13,  /* this vCPU's thread ended: free its tid, park the vCPU */
    UNO_HC_BLOCK = 14,      /* arg[0] = clock id, arg[1] = absolute deadline ns (0: none),
                             * arg[2] = 1: signals do not interrupt. Sleep until a write to
                             * UNO_MMIO_WAKE(this vCPU): ret 0; -ETIMEDOUT; -EINTR */
    UNO_HC_KICK = 15,       /* arg[0] = vCPU n: make it look at uno_vcpu.wake now (an upcall
                             * if it runs app code, -EINTR if it waits in the host) */
    UNO_HC_HOSTCALL = 16,   /* one ring operation that may wait, from uno_vcpu.sqe and the
                             * data at uno_vcpu.data_gpa; the ring's earlier submissions are
                             * served first. ret = its result */
    UNO_HC_MEMBARRIER = 17, /* every other running vCPU passes a full barrier before ret */
    UNO_HC_AFFINITY = 18,   /* arg[0] = vCPU n, arg[1] = mask of the VM's CPUs (--cpus) */
    UNO_HC_CPUTIME = 19,    /* CPU time the host counted: arg[0] = UNO_CPUTIME_PROCESS (this
                             * process's VMM, every thread), or UNO_CPUTIME_VCPU with arg[1] =
                             * vCPU n (its thread); ret = CPU ns in all, arg[2] out = the part
                             * that was the host kernel's (system time; 0 for another vCPU) */
    UNO_HC_NICE = 20,       /* arg[0] = vCPU n, arg[1] = nice (-20..19): its thread's host nice;
                             * only ever raised (a container has no CAP_SYS_NICE): -EACCES */
};
#define UNO_CPUTIME_PROCESS 0u
#define UNO_CPUTIME_VCPU 1u

#define UNO_FORK_VFORK 0x1u   /* the parent sleeps until the child execs or exits */
/* vfork in place: no new VM yet. The child runs in this VM, in the parent's memory, as the
 * new pid; it gets its own VM only when it execs (UNO_FORK_VFORK_EXEC: the VMM forks, the
 * child's VM continues the exec, the parent's VM resumes the parent: ret > 0) or never, if
 * it exits first (UNO_HC_VFORK_END). This is vfork's shared memory, as Linux has it. */
#define UNO_FORK_INPLACE 0x2u
#define UNO_FORK_VFORK_EXEC 0x4u

/* The signal page: how the VMM and the libOS of one VM exchange asynchronous signals.
 * Another process's kill (or a timer) reaches the VMM, which ORs the signal into `pending`
 * and, if the vCPU is running app code, redirects it to the libOS's upcall entry with the
 * interrupted registers in `frame`. The libOS publishes `interest`: the signals that would
 * run a handler or end the process now (not blocked, not ignored), i.e. those that must
 * interrupt a blocking host operation with -EINTR. */
#define UNO_GPA_SIGPAGE (UNO_GPA_HCALL + 0x800)
#define UNO_SIGQ_LEN 32
struct uno_sigpage {
    volatile uint64_t pending;   /* bit n-1 = signal n; the VMM ORs, the libOS takes */
    volatile uint64_t interest;  /* written by the libOS */
    volatile uint64_t upcall;    /* the VMM sets 1 when it redirected the vCPU; libOS clears */
    uint64_t _pad;
    /* The app's registers at the upcall (r15..rdi, rip, rflags, rsp: struct regs order). */
    uint64_t frame[18];
    int32_t sender[64];          /* pid that sent each signal (0: the system) */
    int32_t code[64];            /* its si_code (SI_USER, SI_QUEUE, CLD_*) */
    uint64_t value[64];          /* sigqueue's value, or a child's status for SIGCHLD */
    /* Further instances of real-time signals already pending (they queue, in order): the VMM
     * appends at q_tail, the libOS takes from q_head. */
    volatile uint32_t q_head, q_tail;
    struct uno_sigq {
        int32_t sig, sender, code, _pad;
        uint64_t value;
    } q[UNO_SIGQ_LEN];
};

struct uno_hcall {
    uint64_t nr;
    uint64_t arg[6];
    int64_t ret;
};


/* ---------------------------------------------------------------- hostio ring -------- */
/*
 * One submission queue (guest produces, host consumes) and one completion queue (host
 * produces, guest consumes). Each SQ slot owns a fixed data buffer of UNO_RING_SLOT bytes;
 * an SQE's buffer is described by (slot data, sqe.len), never by a guest pointer, so the
 * host touches only the ring region. The host advances sq_head only after the operation
 * has completed and its CQE is posted, so the guest may reuse a slot once sq_head passes it.
 *
 * Notification suppression: the host's I/O thread polls while busy and sets
 * UNO_RING_NEED_WAKEUP in host_flags before it sleeps; only then does the guest ring the
 * doorbell. Asynchronous work (console output) thus costs no exit at all while output flows.
 * While the ring has been busy lately (UNO_RING_DOZE_IDLE_MS), the I/O thread sleeps only
 * UNO_RING_DOZE_MS at a time and says so with UNO_RING_DOZING instead: asynchronous work
 * then rings no doorbell at all. It is done at the guest's next exit, which serves the ring
 * first whatever the exit is for (a server's next epoll_wait, mostly), or by the dozing
 * thread within UNO_RING_DOZE_MS if the guest computes on. A call that waits for its answer
 * exits at once (UNO_HC_WAIT) when the host thread is not polling (host_flags != 0).
 */
#define UNO_RING_ENTRIES 64u              /* power of two */
#define UNO_RING_CQ_ENTRIES 128u          /* >= 2 * ENTRIES: host never blocks on a full CQ */
#define UNO_RING_SLOT 16384u              /* bytes of data per SQ slot */
#define UNO_RING_NEED_WAKEUP 0x1u
#define UNO_RING_DOZING 0x2u
#define UNO_RING_DOZE_MS 1
#define UNO_RING_DOZE_IDLE_MS 100

enum uno_op {
    UNO_OP_NOP = 0,
    UNO_OP_WRITE = 1,     /* handle, data[0..len), off (-1: current offset) -> bytes */
    UNO_OP_READ = 2,      /* handle, len, off (-1: current offset) -> bytes into data */
    UNO_OP_OPEN = 3,      /* upper-layer path in data, arg0 = O_ flags, arg1 = mode -> handle */
    UNO_OP_CLOSE = 4,     /* handle */
    UNO_OP_FSTAT = 5,     /* handle -> struct uno_stat in data */
    UNO_OP_STAT = 6,      /* upper path -> struct uno_stat (lstat semantics) */
    UNO_OP_MKDIR = 7,     /* upper path, arg1 = mode */
    UNO_OP_UNLINK = 8,    /* upper path, arg0 = 1 to remove a directory */
    UNO_OP_RENAME = 9,    /* "old\0new\0" in data */
    UNO_OP_GETDENTS = 10, /* handle -> struct uno_dirent records in data */
    UNO_OP_LSEEK = 11,    /* handle, off, arg0 = whence -> new offset */
    UNO_OP_FTRUNCATE = 12,/* handle, off = length */
    UNO_OP_SYMLINK = 13,  /* "target\0linkpath\0" */
    UNO_OP_READLINK = 14, /* upper path -> target bytes in data */
    UNO_OP_WHITEOUT = 15, /* upper path: hide the lower entry of that name */
    UNO_OP_FSYNC = 16,    /* handle, arg0 = UNO_FSYNC_DATA for fdatasync */
    UNO_OP_CHMOD = 17,    /* upper path, arg1 = mode */
    UNO_OP_UTIMENS = 18,  /* upper path, arg0 = atime ns, arg1 = mtime ns (-1: leave) */
    UNO_OP_SETFL = 19,    /* handle, arg0 = UNO_O_APPEND or 0: the host file's append mode;
                           * arg1 = UNO_SETFL_ASYNC: instead, arg0 = 1/0 turns signal-driven
                           * I/O on/off (the host's SIGIO comes to this process) */
    UNO_OP_OPAQUE = 20,   /* upper path of a directory: hide the lower one from now on */
    UNO_OP_CHOWN = 21,    /* upper path, arg0 = uid, arg1 = gid: the owner the guest sees */
    UNO_OP_TTY = 22,      /* console handle, arg0 = UNO_TTY_*: terminal settings in data */
    UNO_OP_PIPE = 23,     /* arg0 = 0 -> data: two u32 handles (read end, write end) */
    UNO_OP_POLL = 24,     /* data: struct uno_pollfd[len / 8], arg0 = timeout ns (-1: none)
                           * -> count ready, revents filled in data */
    UNO_OP_PROC = 25,     /* arg0 = UNO_PROC_*, arg1..3 = its arguments (see below) */
    UNO_OP_PIPECTL = 26,  /* pipe/console handle, arg0 = UNO_PIPECTL_*, arg1 = size */
    UNO_OP_LINK = 27,     /* "old\0new\0" in data: a hard link in the writable layer */
    UNO_OP_FMAP = 28,     /* arg0 = UNO_FMAP_*: shared file mappings (see below) */
    UNO_OP_LOCK = 29,     /* handle, arg0 = UNO_LOCK_*: file locks of the host file (below) */
    UNO_OP_FALLOCATE = 30,/* handle, arg0 = mode (0 or UNO_FALLOC_KEEP_SIZE), arg1 = offset,
                           * arg2 = length */
    UNO_OP_STATFS = 31,   /* -> struct uno_statfs in data: the writable layer's file system */
    UNO_OP_SYNCFS = 32,   /* flush the writable layer's file system */
    UNO_OP_MEMFD = 33,    /* name in data (for the host's /proc only), arg0 = UNO_MFD_* ->
                           * handle of a new anonymous host file (memfd) */
    UNO_OP_EVENTFD = 34,  /* arg0 = initial count, arg1 = UNO_EFD_SEMAPHORE or 0 -> handle
                           * of a host eventfd (a stream: READ/WRITE of 8 bytes may wait) */
    UNO_OP_SOCKET = 35,   /* arg0 = family, arg1 = type (no flags), arg2 = protocol, as Linux
                           * numbers them -> handle of a guest socket (see "Sockets") */
    UNO_OP_SOCKPAIR = 36, /* arg0 = family (AF_UNIX), arg1 = type, arg2 = protocol -> data:
                           * two u32 handles */
    UNO_OP_SOCK = 37,     /* handle, arg0 = UNO_SOCK_*: bind, listen, connect, accept,
                           * shutdown, names, options (see below) */
    UNO_OP_SENDMSG = 38,  /* handle, data: struct uno_msg... -> bytes sent; never waits */
    UNO_OP_RECVMSG = 39,  /* handle, data: struct uno_msg... -> bytes received, the header,
                           * address and control data written back; never waits */
    UNO_OP_EPOLL = 40,    /* arg0 = UNO_EPOLL_*: a host epoll instance (see "epoll") */
    UNO_OP_TIMERFD = 41,  /* arg0 = UNO_TIMERFD_*: a host timerfd (see "timerfd") */
    UNO_OP_SIGNALFD = 42, /* arg0 = UNO_SIGNALFD_*: see "signalfd" */
    UNO_OP_SPLICE = 43,   /* handle = from, arg0 = to (handles; one a pipe), arg1/arg2 =
                           * their offsets (-1: none, or the file's own), arg3 = length ->
                           * bytes moved by the host's splice; never waits */
    UNO_OP_MKNOD = 44,    /* upper path, arg1 = mode: a FIFO, a socket node or an empty file
                           * (S_IFIFO/S_IFSOCK/S_IFREG | permissions); devices: -EPERM */
    UNO_OP_TEE = 45,      /* handle = from, arg0 = to (pipes), arg3 = length -> bytes the
                           * host's tee copied; never waits */
    UNO_OP_SEND_ASYNC = 46, /* handle (a connected stream socket), data[0..len) -> len; no
                           * one waits for it: see "Asynchronous sends" */
    UNO_OP_MAX
};

/* SQE flags. */
#define UNO_SQE_BLOCKING 0x1u /* may wait: served only by the vCPU thread (UNO_HC_WAIT), and
                               * a signal for the guest interrupts it with -EINTR */
#define UNO_SQE_NONBLOCK 0x2u /* READ/WRITE of a pipe or the console: never wait (-EAGAIN) */

struct uno_pollfd {
    uint32_t handle;
    uint16_t events, revents; /* POLL* bits as Linux numbers them */
};

#define UNO_FSYNC_DATA 0x1u      /* UNO_OP_FSYNC arg0: fdatasync */
#define UNO_FALLOC_KEEP_SIZE 0x1u /* UNO_OP_FALLOCATE mode: FALLOC_FL_KEEP_SIZE */
#define UNO_MFD_ALLOW_SEALING 0x2u
#define UNO_EFD_SEMAPHORE 0x1u
struct uno_statfs {
    uint64_t type, bsize, blocks, bfree, bavail, files, ffree, namelen, frsize, flags;
};

#define UNO_PIPECTL_NREAD 1   /* -> bytes waiting (FIONREAD) */
#define UNO_PIPECTL_GETSZ 2   /* -> capacity (F_GETPIPE_SZ) */
#define UNO_PIPECTL_SETSZ 3   /* arg1 = wanted capacity -> new capacity (F_SETPIPE_SZ) */

/* UNO_OP_FMAP: a host file mapped MAP_SHARED into a window of guest-physical memory, so
 * the guest's stores reach the file (and every process mapping it) with no copy. */
#define UNO_FMAP_MAP 1    /* handle, off (page-aligned), arg1 = length, arg2 = 1 writable
                           * -> the window's GPA; pages past the end of the file must not be
                           * touched (the guest maps only what the file holds) */
#define UNO_FMAP_UNMAP 2  /* arg1 = GPA of a window: released */
#define UNO_FMAP_SYNC 3   /* arg1 = GPA of a window, off = byte offset in it, arg2 = length:
                           * written back to the file (msync MS_SYNC) */

/* UNO_OP_LOCK: record locks (fcntl) and flock locks are the host file's, held by this
 * process's VMM, which is exactly the guest process: the host kernel does the conflicts
 * between the instance's processes. The VMM never waits for a lock: blocking requests are
 * retried by the guest, so a signal can interrupt them. */
#define UNO_LOCK_GET 1     /* data: struct uno_flock in/out (F_GETLK; pid: the guest's) */
#define UNO_LOCK_SET 2     /* data: struct uno_flock (F_SETLK) */
#define UNO_LOCK_OFD_GET 3 /* the same, open-file-description locks (F_OFD_GETLK) */
#define UNO_LOCK_OFD_SET 4 /* F_OFD_SETLK */
#define UNO_LOCK_FLOCK 5   /* arg1 = LOCK_SH/LOCK_EX/LOCK_UN as Linux numbers them */
struct uno_flock {
    int16_t type, whence;  /* F_RDLCK 0, F_WRLCK 1, F_UNLCK 2; SEEK_* */
    int32_t pid;
    int64_t start, len;
};

/* UNO_OP_PROC: the process table of the instance, kept by the VMMs. */
enum uno_proc_op {
    UNO_PROC_GETPPID = 1,  /* -> parent's pid */
    UNO_PROC_SETPGID = 2,  /* arg1 = pid (0: self), arg2 = pgid (0: pid) */
    UNO_PROC_GETPGID = 3,  /* arg1 = pid (0: self) -> pgid */
    UNO_PROC_SETSID = 4,   /* -> new session id */
    UNO_PROC_GETSID = 5,   /* arg1 = pid (0: self) -> sid */
    UNO_PROC_KILL = 6,     /* arg1 = pid as kill(2) takes it, arg2 = signal (0: check)
                            * | si_code << 16 (SI_USER 0, SI_QUEUE -1...), arg3 = value */
    UNO_PROC_WAIT = 7,     /* arg1 = idtype (P_ALL/P_PID/P_PGID), arg2 = id, arg3 = options
                            * -> pid (0: WNOHANG, none ready); data out: struct uno_waitinfo */
    UNO_PROC_EXECED = 8,   /* this process replaced its program (ends a vfork) */
    UNO_PROC_PAUSE = 9,    /* sleep until a signal of interest arrives -> -EINTR */
    UNO_PROC_ITIMER = 10,  /* arg1 = which (0 = ITIMER_REAL), data in/out: 4 x u64 ns
                            * (new value, new interval) -> (old value, old interval) */
    UNO_PROC_TCGETPGRP = 11, /* console's foreground process group */
    UNO_PROC_TCSETPGRP = 12, /* arg1 = pgid */
    UNO_PROC_SIGCHLD = 13, /* arg1 = UNO_CHLD_*: how this process takes its children's news */
    UNO_PROC_SETNAME = 14, /* data: struct uno_procname: what the instance's other processes
                            * see of this one in /proc (sent at start, exec, credentials) */
    UNO_PROC_LIST = 15,    /* -> how many processes the instance has; data out: their pids
                            * (int32_t, ascending), as many as fit */
    UNO_PROC_INFO = 16,    /* arg1 = pid -> data out: struct uno_procinfo; -ESRCH */
};
#define UNO_PROC_CMDLINE 200
struct uno_procname {
    char comm[16];
    uint64_t affinity;            /* the CPUs of the VM it may run on (sched_setaffinity);
                                   * 0: all */
    uint32_t uid, gid;            /* effective */
    uint32_t cmdline_len;         /* bytes of cmdline used: the arguments, NUL-terminated */
    char cmdline[UNO_PROC_CMDLINE];
};
struct uno_procinfo {
    int32_t pid, ppid, pgid, sid;
    int32_t state;                /* 'R' (running or sleeping), 'T' (stopped), 'Z' (exited) */
    int32_t _pad;
    int64_t utime_us, stime_us;   /* of an exited one */
    struct uno_procname name;
};
#define UNO_CHLD_NOCLDWAIT 0x1 /* SIGCHLD ignored or SA_NOCLDWAIT: no zombies, no SIGCHLD */
#define UNO_CHLD_NOCLDSTOP 0x2 /* no SIGCHLD for stops and continues */
/* UNO_HC_FORK arg[0]: bits 8..15 = the child's exit signal (SIGCHLD for fork; other values
 * make a "clone" child for __WCLONE) */
#define UNO_WAIT_WALL 0x40000000
#define UNO_WAIT_WCLONE 0x80000000u

struct uno_waitinfo {
    int32_t pid, status;   /* status encoded as wait4 gives it */
    int32_t code, sig;     /* siginfo for waitid: CLD_*, and si_status */
    int32_t uid, _pad;
    int64_t utime_us, stime_us, maxrss_kb; /* rusage of the child */
};

/* Sockets. A guest socket is an object of the VMM with the host descriptors behind it:
 * a host TCP/UDP socket for traffic leaving the instance (egress policy applied), a host
 * AF_UNIX socket in the instance's private directory for the instance's own loopback
 * (127.0.0.0/8, ::1, and connections to the unspecified address), and the host listeners of
 * the ports published to its port. Addresses are struct sockaddr as Linux lays them out.
 * No socket operation waits in the VMM: a blocking call is the guest's loop of a
 * non-blocking attempt and a UNO_OP_POLL of the handle, so signals, timeouts and other
 * threads work as they do for pipes. Data moves between the host socket and guest pages
 * directly: struct uno_iov gives guest-physical segments. */
enum uno_sock_op {
    UNO_SOCK_BIND = 1,        /* data: sockaddr (len bytes) */
    UNO_SOCK_LISTEN = 2,      /* arg1 = backlog */
    UNO_SOCK_CONNECT = 3,     /* data: sockaddr -> 0, or -EINPROGRESS (the guest waits for
                               * POLLOUT and reads UNO_SOCK_ERROR) */
    UNO_SOCK_ACCEPT = 4,      /* -> new handle (-EAGAIN: none waiting); data out:
                               * u32 length + the peer's sockaddr */
    UNO_SOCK_SHUTDOWN = 5,    /* arg1 = SHUT_RD/WR/RDWR */
    UNO_SOCK_GETNAME = 6,     /* arg1 = 0 own address, 1 peer's -> data: u32 len + sockaddr */
    UNO_SOCK_SETOPT = 7,      /* arg1 = level, arg2 = name, data: the value (len bytes) */
    UNO_SOCK_GETOPT = 8,      /* arg1 = level, arg2 = name, len = room -> value in data,
                               * result = its length */
    UNO_SOCK_ERROR = 9,       /* -> the pending error (SO_ERROR), cleared */
    UNO_SOCK_NREAD = 10,      /* -> bytes waiting to be read (FIONREAD) */
    UNO_SOCK_INFO = 11,       /* -> data: struct uno_sockinfo */
    UNO_SOCK_SENDFILE = 12,   /* arg1 = a file's handle, arg2 = offset (-1: the file's own),
                               * arg3 = count -> bytes sent by the host's sendfile (no copy
                               * through the guest); never waits */
};
#define UNO_SOCKADDR_MAX 128 /* sizeof(struct sockaddr_storage) */
struct uno_sockinfo {
    int32_t family, type, protocol, listening;
};
/* UNO_OP_SENDMSG / RECVMSG data: this header, then namelen bytes of address, controllen
 * bytes of control data (cmsghdr as Linux lays them out; SCM_RIGHTS carries u32 handles),
 * then, from the next multiple of 8, niov struct uno_iov. RECVMSG: namelen/controllen say
 * the room in, the lengths out;
 * flags are MSG_* in (the call's) and out (msg_flags). */
struct uno_msg {
    uint32_t flags, namelen, controllen, niov;
};
struct uno_iov {
    uint64_t gpa, len;
};
/* Control data (AF_UNIX): SCM_RIGHTS carries u32 handles in SENDMSG and, in RECVMSG, one
 * struct uno_fdpass per descriptor received (a new handle of the receiver, and what it is);
 * SCM_CREDENTIALS carries a struct ucred of guest ids (the VMM translates). */
enum { UNO_FD_SOCKET = 1, UNO_FD_PIPE = 2, UNO_FD_EVENTFD = 3, UNO_FD_FILE = 4 };
struct uno_fdpass {
    uint32_t handle, kind;
    int32_t flags;                /* O_ACCMODE | O_APPEND | O_NONBLOCK of the description */
    int32_t family, type, listening; /* sockets */
};
#define UNO_CONTROL_MAX 4096

/* Linux O_ flags the ring carries (x86-64 values). */
#define UNO_O_ACCMODE 03
#define UNO_O_CREAT 0100
#define UNO_O_EXCL 0200
#define UNO_O_TRUNC 01000
#define UNO_O_APPEND 02000
#define UNO_SETFL_ASYNC 1
#define UNO_O_DIRECTORY 0200000
#define UNO_O_NONBLOCK 04000 /* UNO_OP_OPEN of a FIFO: do not wait for the other end */

/* UNO_OP_TTY requests on a console handle that is a terminal. Data: struct termios as the
 * kernel's TCGETS/TCSETS use it (36 bytes), or struct winsize (8 bytes). */
#define UNO_TTY_GET 1         /* -> termios */
#define UNO_TTY_SET 2         /* termios -> (TCSETS) */
#define UNO_TTY_SET_DRAIN 3   /* termios -> (TCSETSW) */
#define UNO_TTY_SET_FLUSH 4   /* termios -> (TCSETSF) */
#define UNO_TTY_WINSIZE 5     /* -> winsize */
#define UNO_TERMIOS_SIZE 36
#define UNO_WINSIZE_SIZE 8

/* Handles 0, 1, 2 are the console: stdin, stdout, stderr of uno-vmm. */
#define UNO_HANDLE_STDIN 0
#define UNO_HANDLE_STDOUT 1
#define UNO_HANDLE_STDERR 2
#define UNO_MAX_HANDLES 1024

struct uno_sqe {
    uint16_t op;
    uint16_t flags;
    uint32_t handle;
    uint64_t user_data;
    int64_t off;
    uint64_t len;       /* bytes of data used (input) or wanted (output) */
    uint64_t arg[4];
};

/* What the VMM and the libOS share about one vCPU (= one guest thread), in guest RAM where
 * the libOS put it (UNO_HC_VCPU_START; vCPU 0's is named by the libOS header). The VMM
 * re-validates every address in it at each use. */
struct uno_vcpu {
    struct uno_hcall hc;         /* this vCPU's hypercall block */
    volatile uint64_t interest;  /* signals that must interrupt this thread's host waits */
    volatile uint64_t wake;      /* set by the libOS: this thread has news (a signal for it,
                                  * or it must exit): interrupt it like a signal of interest */
    volatile uint64_t upcall;    /* the VMM sets 1 when it redirected the vCPU; libOS clears */
    volatile uint64_t parked;    /* the VMM sets 1 once the vCPU left the guest after
                                  * UNO_HC_VCPU_EXIT (its memory may be reused) */
    uint64_t frame[18];          /* the app's registers at the upcall (struct regs order) */
    struct uno_sqe sqe;          /* UNO_HC_HOSTCALL's operation */
    uint64_t data_gpa;           /* UNO_RING_SLOT bytes of data for it */
};

struct uno_cqe {
    uint64_t user_data;
    int64_t res;        /* >= 0 result, or -errno */
};

/* What UNO_OP_STAT/FSTAT return: a host stat reduced to what the guest needs. */
#define UNO_STAT_WHITEOUT 0x1u /* the name is a whiteout: hide the lower entry */
#define UNO_STAT_OPAQUE 0x2u   /* a directory that hides the lower one */
struct uno_stat {
    uint32_t mode, nlink, uid, gid;
    uint64_t size, ino, blocks;
    int64_t atime_ns, mtime_ns, ctime_ns;
    uint32_t flags, _pad;
};

/* UNO_OP_GETDENTS output: records of this header + name + NUL, 8-byte aligned. */
struct uno_dirent {
    uint64_t ino;
    uint16_t reclen;
    uint8_t type;       /* DT_* */
    uint8_t whiteout;   /* 1: a whiteout for `name` */
    uint16_t namelen;
    uint16_t _pad;
    char name[];
};

/*
 * Asynchronous sends. A send on a connected stream socket whose bytes fit in a slot need not
 * wait for the host: the libOS copies them into the ring (UNO_OP_SEND_ASYNC) and returns,
 * and the VMM sends them in submission order, keeping what the host socket cannot take yet
 * and sending it when it can (before anything else sent on that socket). The VMM says per
 * handle whether this is allowed: UNO_SOCKST_ASYNC in sock_state[handle], set once the
 * socket is established and cleared while its queue is long, after an error or a hang-up
 * (so that the app sees the host's own error on its next, synchronous, send), after
 * shutdown, and at close. The libOS only reads it; a stale bit costs nothing, since the
 * VMM queues what it accepted and reports a failed asynchronous send at the next send.
 */
#define UNO_SOCKST_ASYNC 0x1u

/*
 * Receiving ahead. When an epoll wait reports a connected TCP socket readable, the VMM
 * receives its bytes there and then into a buffer the libOS gave for that handle, so the
 * app's read that follows is served in the guest, with no exit. The buffer is a ring of
 * UNO_RX_BYTES: the host advances `produced`, the guest `consumed` (free-running counts),
 * each only its own. gpa = 0 (the libOS's choice: blocking sockets, closed handles) stops
 * new bytes; what is there stays the guest's. The VMM checks the buffer's address at each
 * use and receives into it only under the ring lock, with which every receive of the guest
 * on that handle is served: while bytes are waiting there, such a receive answers
 * UNO_RX_PENDING instead (the guest takes them first, so order is kept). A level-triggered
 * epoll registration for EPOLLIN reports a handle whose buffer is not empty.
 */
#define UNO_RX_BYTES 4096u /* power of two */
#define UNO_RX_PENDING (-4097) /* a receive's result: take the bytes in the buffer first */
struct uno_rx {
    uint64_t gpa;               /* guest: the buffer, UNO_RX_BYTES in RAM; 0: off */
    volatile uint32_t produced; /* host */
    volatile uint32_t consumed; /* guest */
};

struct uno_ring {
    /* written by the guest */
    volatile uint32_t sq_tail;
    volatile uint32_t cq_head;
    uint32_t _pad0[14];
    /* written by the host */
    volatile uint32_t sq_head;
    volatile uint32_t cq_tail;
    volatile uint32_t host_flags;
    uint32_t _pad1[13];
    struct uno_sqe sq[UNO_RING_ENTRIES];
    struct uno_cqe cq[UNO_RING_CQ_ENTRIES];
    volatile uint8_t sock_state[UNO_MAX_HANDLES]; /* written by the host: UNO_SOCKST_* */
    struct uno_rx rx[UNO_MAX_HANDLES];             /* receiving ahead, by handle */
};

#define UNO_RING_HDR_BYTES 0x8000ull
#define UNO_RING_DATA_GPA (UNO_GPA_RING + UNO_RING_HDR_BYTES)
#define UNO_RING_BYTES (UNO_RING_HDR_BYTES + (uint64_t)UNO_RING_ENTRIES * UNO_RING_SLOT)

_Static_assert(sizeof(struct uno_ring) <= UNO_RING_HDR_BYTES, "ring header too large");
_Static_assert(sizeof(struct uno_bootinfo) <= 4096, "bootinfo larger than a page");
_Static_assert(sizeof(struct uno_shared_hdr) <= UNO_SHARED_HDR_BYTES, "shared header too large");
_Static_assert(sizeof(struct uno_hcall) <= 0x800 &&
                   0x800 + sizeof(struct uno_sigpage) <= 4096,
               "hypercall blocks and signal page must share one page");
_Static_assert(UNO_GPA_RING + UNO_RING_BYTES <= UNO_GPA_LIBOS, "ring overlaps libOS");
_Static_assert(UNO_GPA_PGTABLE + UNO_PGTABLE_MAX <= UNO_GPA_RING, "page tables overlap");

/* ---------------------------------------------------------------- readiness ---------- */
/* epoll, timerfd and signalfd (docs/architecture.md, "Readiness"). All three are host
 * objects the VMM holds behind a handle, so the host kernel keeps Linux's semantics. */

/* UNO_OP_EPOLL: a host epoll instance. The guest's epoll_event.data travels unchanged as the
 * host event's data, so a wait returns it as it was given. */
#define UNO_EPOLL_CREATE 1 /* -> handle of a new host epoll instance */
#define UNO_EPOLL_CTL 2    /* handle = the epoll's, arg1 = EPOLL_CTL_ADD/DEL/MOD (1/2/3),
                            * arg2 = the target's handle; data: struct uno_epoll_event (ADD,
                            * MOD). The target's host descriptors (handle_poll_fds) are what
                            * the host instance watches. */
#define UNO_EPOLL_WAIT 3   /* handle, arg1 = maxevents (1..UNO_EPOLL_MAX_EVENTS), arg2 =
                            * timeout ns (-1: none; only a UNO_SQE_BLOCKING one waits) ->
                            * count, struct uno_epoll_event[count] in data */
struct uno_epoll_event {
    uint32_t events, _pad; /* EPOLL* bits as Linux numbers them */
    uint64_t data;
};
#define UNO_EPOLL_MAX_EVENTS (UNO_RING_SLOT / sizeof(struct uno_epoll_event))

/* UNO_OP_TIMERFD: a host timerfd (a stream: a READ of 8 bytes may wait, as for pipes). */
#define UNO_TIMERFD_CREATE 1 /* arg1 = clock id as Linux numbers them -> handle */
#define UNO_TIMERFD_SET 2    /* handle, arg1 = TFD_TIMER_ABSTIME 1 | TFD_TIMER_CANCEL_ON_SET 2,
                              * data: struct uno_itimerspec, the new setting -> the old one */
#define UNO_TIMERFD_GET 3    /* handle -> struct uno_itimerspec in data */
struct uno_itimerspec {      /* struct itimerspec as Linux x86-64 lays it out */
    int64_t interval_sec, interval_nsec, value_sec, value_nsec;
};

/* UNO_OP_SIGNALFD: the libOS owns signals and reads a signalfd itself; the VMM only holds a
 * host eventfd per signalfd that is readable while a signal of its mask may be pending, so
 * poll and epoll (and a blocking read) wake up. The VMM writes it when a signal of the mask
 * reaches the guest from the instance's table; the libOS for signals it raises itself, and
 * drains it once none is pending. */
#define UNO_SIGNALFD_CREATE 1 /* arg1 = mask (bit n-1 = signal n) -> handle of the eventfd */
#define UNO_SIGNALFD_MASK 2   /* handle, arg1 = the new mask */

_Static_assert(sizeof(struct uno_epoll_event) == 16, "uno_epoll_event layout");
_Static_assert(sizeof(struct uno_itimerspec) == 32, "uno_itimerspec layout");

#endif
