/* libFuzzer target for uno-vmm's guest-input boundary: ring_decode() (vmm/ring.c) and
 * hostop_exec() (vmm/hostops.c) on a real writable layer, directly or through ring_serve()
 * over a fake ring in fake guest RAM.
 *
 * Input: byte 0 = mode (bit 0: submit through ring_serve; bit 1: skew the guest's sq_tail
 * by (int8) byte 1 and bit 2: skew its cq_head by (int8) byte 2, on the first batch), then
 * records until the input ends: a struct uno_sqe image (64 bytes), a 16-bit little-endian
 * data length (taken modulo UNO_RING_SLOT + 1), that many data bytes (fewer if the input
 * ends) copied to the start of the record's zeroed slot. ring_test --write-seeds makes seeds.
 *
 * The layer lives in a temporary directory made once per process, next to "sentinel",
 * which holds one file, "canary". Before every input the layer is emptied and host-made
 * symlinks are planted in it: esc -> sentinel (absolute), esc_rel -> ../sentinel,
 * canary_link -> sentinel/canary, up -> "..". After every input the harness aborts if
 * sentinel gained or lost an entry, canary changed in any way (mode, times, size, inode),
 * anything appeared beside the layer, or a host fd on the layer outlived its handle (all
 * handles are closed after each input); and it checks every result
 * against the ABI (sizes within the slot, well-formed getdents records, errno range).
 *
 * Safety net when run as root: the process moves into a private mount namespace where "/"
 * is read-only except the temporary directory and the working directory (for corpus and
 * artifacts), so a confinement bug does not write to the real system while being found.
 * RING_FUZZ_NO_SANDBOX=1 turns that off; RING_FUZZ_RESET_EVERY=N empties the layer only
 * every N inputs (default 1: every input, so a crash reproduces from its input alone). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"


#define FAIL(...)                                                                               \
    do {                                                                                        \
        fprintf(stderr, "ring_fuzz: " __VA_ARGS__);                                             \
        fputc('\n', stderr);                                                                    \
        abort();                                                                                \
    } while (0)

static struct vmm V;
static uint8_t *slot; /* direct mode's slot, exactly UNO_RING_SLOT bytes */
static struct ring_req req;
static char base[128], upper[192], sentinel[192], canary[256];
static struct stat canary_st0;
static unsigned long reset_every = 1, inputs;

static const char canary_text[] = "canary: must never change\n";

/* ---------------------------------------------------------------- layer management */
static void rm_contents(int dfd)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            continue;
        int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) {
            fchmod(sub, 0700);
            rm_contents(sub);
            if (unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) < 0)
                FAIL("cannot remove %s: %s", e->d_name, strerror(errno));
        }
    }
    closedir(d);
}

static void plant(const char *name, const char *target)
{
    if (symlinkat(target, V.upper_fd, name) < 0)
        FAIL("plant %s: %s", name, strerror(errno));
}

static void reset_upper(void)
{
    int fd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        FAIL("open %s: %s", upper, strerror(errno));
    rm_contents(fd);
    plant("esc", sentinel);
    plant("esc_rel", "../sentinel");
    plant("canary_link", canary);
    plant("up", "..");
}

static void reset_handles(void)
{
    for (int h = 3; h < UNO_MAX_HANDLES; h++) {
        if (V.handles[h].fd >= 0)
            close(V.handles[h].fd);
        V.handles[h].fd = -1;
    }
}

static void cleanup(void)
{
    reset_handles();
    if (base[0]) {
        int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0)
            rm_contents(fd);
        umount2(base, MNT_DETACH); /* the sandbox's bind mount, if any */
        rmdir(base);
    }
}

/* Best effort: a private mount namespace with a read-only root. */
static void sandbox(void)
{
    char cwd[4096];
    if (getenv("RING_FUZZ_NO_SANDBOX") || geteuid() != 0 || !getcwd(cwd, sizeof cwd))
        return;
    if (unshare(CLONE_NEWNS) < 0) {
        fprintf(stderr, "ring_fuzz: no mount namespace (%s); running without it\n",
                strerror(errno));
        return;
    }
    /* Private propagation first, so nothing below reaches the host's mounts. Only then
     * per-mount flags (MS_BIND with MS_REMOUNT: never the shared superblock). */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount(base, base, NULL, MS_BIND, NULL) < 0 || mount(cwd, cwd, NULL, MS_BIND, NULL) < 0 ||
        mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0) {
        fprintf(stderr, "ring_fuzz: mount sandbox incomplete (%s)\n", strerror(errno));
        return;
    }
    /* The old working directory is the read-only mount's: step onto the writable one. */
    if (chdir(cwd) < 0)
        FAIL("chdir %s: %s", cwd, strerror(errno));
    fprintf(stderr, "ring_fuzz: sandboxed: / read-only except %s and %s\n", base, cwd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    umask(022);
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(base, sizeof base, "%s/uno-ring-fuzz.XXXXXX", tmp);
    if (!mkdtemp(base))
        FAIL("mkdtemp: %s", strerror(errno));
    atexit(cleanup);
    snprintf(upper, sizeof upper, "%s/upper", base);
    snprintf(sentinel, sizeof sentinel, "%s/sentinel", base);
    snprintf(canary, sizeof canary, "%s/canary", sentinel);
    if (mkdir(sentinel, 0755) < 0)
        FAIL("mkdir %s: %s", sentinel, strerror(errno));
    int fd = open(canary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0 || write(fd, canary_text, strlen(canary_text)) != (ssize_t)strlen(canary_text))
        FAIL("canary: %s", strerror(errno));
    close(fd);
    if (lstat(canary, &canary_st0) < 0)
        FAIL("stat canary: %s", strerror(errno));
    sandbox();

    V.cfg.upper_dir = upper;
    if (hostops_init(&V) < 0)
        FAIL("hostops_init");
    /* The console: reads see EOF, writes vanish (the fuzzer's own output stays readable). */
    for (int h = 0; h < 3; h++)
        if ((V.handles[h].fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
            FAIL("/dev/null: %s", strerror(errno));
    V.mem.ram_size = UNO_GPA_RING + UNO_RING_BYTES; /* RAM ends where the ring does */
    V.mem.ram = calloc(1, V.mem.ram_size);
    slot = malloc(UNO_RING_SLOT);
    if (!V.mem.ram || !slot)
        FAIL("out of memory");
    pthread_mutex_init(&V.ring_lock, NULL);
    const char *e = getenv("RING_FUZZ_RESET_EVERY");
    if (e && atol(e) > 0)
        reset_every = (unsigned long)atol(e);
    reset_upper();
    return 0;
}

/* ---------------------------------------------------------------- checks */
static void check_dirents(const uint8_t *buf, int64_t n)
{
    for (int64_t pos = 0; pos < n;) {
        const struct uno_dirent *d = (const struct uno_dirent *)(buf + pos);
        if (n - pos < (int64_t)sizeof *d || d->reclen % 8 || d->reclen > n - pos ||
            d->reclen < sizeof *d + d->namelen + 1 || d->name[d->namelen] ||
            strlen(d->name) != d->namelen || d->namelen > 255 || strchr(d->name, '/'))
            FAIL("malformed dirent record at %lld of %lld", (long long)pos, (long long)n);
        if (d->whiteout > 2 || (d->whiteout == 2) != (d->namelen == 0))
            FAIL("dirent whiteout %u with name \"%s\"", d->whiteout, d->name);
        if (!strcmp(d->name, ".") || !strcmp(d->name, ".."))
            FAIL("getdents emitted \"%s\"", d->name);
        if (d->whiteout == 0 && !strncmp(d->name, ".wh.", 4))
            FAIL("getdents leaked the raw whiteout name \"%s\"", d->name);
        pos += d->reclen;
    }
}

/* A result against the ABI; data = the slot the operation used. */
static void check_result(const struct uno_sqe *sqe, int64_t res, const uint8_t *data)
{
    if (res < -4095)
        FAIL("op %u: result %lld is not -errno", sqe->op, (long long)res);
    if (res < 0)
        return;
    switch (sqe->op) {
    case UNO_OP_READ:
    case UNO_OP_WRITE:
        if ((uint64_t)res > sqe->len)
            FAIL("op %u: %lld bytes for len %llu", sqe->op, (long long)res,
                 (unsigned long long)sqe->len);
        break;
    case UNO_OP_OPEN:
        if (res < 3 || res >= UNO_MAX_HANDLES)
            FAIL("open returned handle %lld", (long long)res);
        break;
    case UNO_OP_STAT:
    case UNO_OP_FSTAT:
        if (res != sizeof(struct uno_stat))
            FAIL("stat returned %lld", (long long)res);
        break;
    case UNO_OP_READLINK:
        if (res > UNO_RING_SLOT)
            FAIL("readlink returned %lld", (long long)res);
        break;
    case UNO_OP_GETDENTS:
        if (res > UNO_RING_SLOT)
            FAIL("getdents returned %lld", (long long)res);
        check_dirents(data, res);
        break;
    case UNO_OP_LSEEK:
        break;
    case UNO_OP_POLL:
        if ((uint64_t)res > sqe->len / sizeof(struct uno_pollfd))
            FAIL("poll: %lld ready of %llu", (long long)res,
                 (unsigned long long)(sqe->len / sizeof(struct uno_pollfd)));
        break;
    case UNO_OP_PIPE:
        if (res != 8)
            FAIL("pipe returned %lld", (long long)res);
        break;
    case UNO_OP_MEMFD:
    case UNO_OP_EVENTFD:
        if (res < 3 || res >= UNO_MAX_HANDLES)
            FAIL("op %u returned handle %lld", sqe->op, (long long)res);
        break;
    case UNO_OP_PROC:     /* pids, groups, counts */
    case UNO_OP_PIPECTL:  /* sizes */
    case UNO_OP_STATFS:
    case UNO_OP_TTY:
    case UNO_OP_FMAP:     /* a window's address */
        break;
    case UNO_OP_EPOLL:
    case UNO_OP_TIMERFD:
    case UNO_OP_SIGNALFD:
        if (sqe->arg[0] == 1 /* UNO_*_CREATE */) {
            if (res < 3 || res >= UNO_MAX_HANDLES)
                FAIL("op %u create returned handle %lld", sqe->op, (long long)res);
        } else if (sqe->op == UNO_OP_EPOLL && sqe->arg[0] == UNO_EPOLL_WAIT) {
            if ((uint64_t)res > sqe->arg[1] || (uint64_t)res > UNO_EPOLL_MAX_EVENTS)
                FAIL("epoll wait: %lld events for maxevents %llu", (long long)res,
                     (unsigned long long)sqe->arg[1]);
        } else if (sqe->op == UNO_OP_TIMERFD) {
            if (res != sizeof(struct uno_itimerspec))
                FAIL("timerfd op %llu returned %lld", (unsigned long long)sqe->arg[0],
                     (long long)res);
        } else if (res != 0) {
            FAIL("op %u/%llu returned %lld", sqe->op, (unsigned long long)sqe->arg[0],
                 (long long)res);
        }
        break;
    default:
        if (res != 0)
            FAIL("op %u returned %lld", sqe->op, (long long)res);
    }
}

static bool same_stat(const struct stat *a, const struct stat *b)
{
    return a->st_mode == b->st_mode && a->st_size == b->st_size && a->st_ino == b->st_ino &&
           a->st_nlink == b->st_nlink && a->st_uid == b->st_uid && a->st_gid == b->st_gid &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Exactly the entries `names` (NULL-terminated) in dir. */
static void check_listing(const char *dir, const char *const *names)
{
    DIR *d = opendir(dir);
    if (!d)
        FAIL("opendir %s: %s", dir, strerror(errno));
    struct dirent *e;
    int found = 0, want = 0;
    while (names[want])
        want++;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        int i = 0;
        while (names[i] && strcmp(names[i], e->d_name))
            i++;
        if (!names[i])
            FAIL("escape: %s/%s appeared", dir, e->d_name);
        found++;
    }
    closedir(d);
    if (found != want)
        FAIL("escape: %s lost an entry", dir);
}

static void check_confined(void)
{
    static const char *const in_base[] = {"upper", "sentinel", NULL};
    static const char *const in_sentinel[] = {"canary", NULL};
    check_listing(base, in_base);
    check_listing(sentinel, in_sentinel);
    struct stat st;
    if (lstat(canary, &st) < 0 || !same_stat(&st, &canary_st0))
        FAIL("escape: the canary changed (mode %o size %lld)", st.st_mode,
             (long long)st.st_size);
    struct stat us;
    if (fstat(V.upper_fd, &us) < 0 || !S_ISDIR(us.st_mode))
        FAIL("the layer's directory is gone");
}

/* With every handle closed, no host fd may refer to anything in the temporary directory
 * (fds of the sanitizers' symbolizer and of libFuzzer itself are not counted). */
static void check_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    struct dirent *e;
    size_t bl = strlen(base);
    while ((e = readdir(d))) {
        char link[64], target[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0 || atoi(e->d_name) == dirfd(d) || atoi(e->d_name) == V.upper_fd)
            continue;
        target[n] = 0;
        if (!strncmp(target, base, bl) && (target[bl] == '/' || target[bl] == 0))
            FAIL("host fd leak: fd %s -> %s", e->d_name, target);
    }
    closedir(d);
}

/* ---------------------------------------------------------------- input */
struct rec {
    struct uno_sqe sqe;
    const uint8_t *data;
    size_t dlen;
};
#define MAX_RECS 512
static struct rec recs[MAX_RECS];

static int parse(const uint8_t *p, size_t n)
{
    int k = 0;
    size_t pos = 3;
    while (k < MAX_RECS && n - pos >= sizeof(struct uno_sqe) + 2) {
        struct rec *r = &recs[k++];
        memcpy(&r->sqe, p + pos, sizeof r->sqe);
        pos += sizeof r->sqe;
        /* A submission that may wait is the vCPU thread's: the I/O thread (as here) stops at
         * it, and with nothing to interrupt a wait there is no vCPU thread to serve it. */
        r->sqe.flags &= (uint16_t)~UNO_SQE_BLOCKING;
        size_t dl = (size_t)(p[pos] | p[pos + 1] << 8) % (UNO_RING_SLOT + 1);
        pos += 2;
        if (dl > n - pos)
            dl = n - pos;
        r->data = p + pos;
        r->dlen = dl;
        pos += dl;
    }
    return k;
}

static void run_direct(int k)
{
    for (int i = 0; i < k; i++) {
        memset(slot, 0, UNO_RING_SLOT);
        memcpy(slot, recs[i].data, recs[i].dlen);
        int64_t res = ring_decode(&recs[i].sqe, slot, &req);
        if (res == 0)
            res = hostop_exec(&V, &req);
        else if (res != -ENOSYS && res != -EINVAL && res != -EBADF && res != -EPERM &&
                 res != -ENAMETOOLONG)
            FAIL("ring_decode returned %lld", (long long)res);
        check_result(&recs[i].sqe, res, slot);
    }
}

static void run_ring(int k, uint8_t mode, int8_t skew_sq, int8_t skew_cq)
{
    struct uno_ring *ring = (struct uno_ring *)(V.mem.ram + UNO_GPA_RING);
    uint8_t *data = V.mem.ram + UNO_RING_DATA_GPA;
    const uint32_t start = 0xfffffff0u; /* every input crosses the 32-bit wrap */
    memset(ring, 0, UNO_RING_HDR_BYTES);
    V.sq_head = V.cq_tail = start;
    ring->sq_head = ring->cq_tail = ring->sq_tail = ring->cq_head = start;
    uint32_t tail = start;
    static struct uno_sqe queued[UNO_RING_ENTRIES]; /* = ring->sq, what the guest wrote */
    memset(queued, 0, sizeof queued);
    for (int i = 0, batch = 0; i < k; batch++) {
        int nb = k - i < (int)UNO_RING_ENTRIES ? k - i : (int)UNO_RING_ENTRIES;
        for (int j = 0; j < nb; j++, i++) {
            uint32_t idx = (tail + (uint32_t)j) & (UNO_RING_ENTRIES - 1);
            uint8_t *s = data + (uint64_t)idx * UNO_RING_SLOT;
            memset(s, 0, UNO_RING_SLOT);
            memcpy(s, recs[i].data, recs[i].dlen);
            ring->sq[idx] = recs[i].sqe;
            queued[idx] = recs[i].sqe;
        }
        tail += (uint32_t)nb;
        bool skewed = batch == 0 && (mode & 6);
        uint32_t pub_tail = tail + (batch == 0 && (mode & 2) ? (uint32_t)(int32_t)skew_sq : 0);
        uint32_t pub_cqh = V.cq_tail + (batch == 0 && (mode & 4) ? (uint32_t)(int32_t)skew_cq : 0);
        __atomic_store_n(&ring->cq_head, pub_cqh, __ATOMIC_RELEASE);
        __atomic_store_n(&ring->sq_tail, pub_tail, __ATOMIC_RELEASE);
        uint32_t head0 = V.sq_head, cq0 = V.cq_tail;
        ring_serve(&V, false);
        uint32_t done = V.sq_head - head0;
        if (ring->sq_head != V.sq_head || ring->cq_tail != V.cq_tail || V.cq_tail - cq0 != done)
            FAIL("ring counters inconsistent after serve");
        if (done > UNO_RING_ENTRIES || (!skewed && done != (uint32_t)nb))
            FAIL("served %u of %d", done, nb);
        for (uint32_t j = 0; j < done; j++) {
            uint32_t idx = (head0 + j) & (UNO_RING_ENTRIES - 1);
            const struct uno_cqe *c = &ring->cq[(cq0 + j) & (UNO_RING_CQ_ENTRIES - 1)];
            if (c->user_data != queued[idx].user_data)
                FAIL("cqe %u: user_data %llx, want %llx", j,
                     (unsigned long long)c->user_data,
                     (unsigned long long)queued[idx].user_data);
            check_result(&queued[idx], c->res, data + (uint64_t)idx * UNO_RING_SLOT);
        }
        /* The guest reaps everything and, after a skew, puts its counters right; entries
         * a skewed tail kept from the host are dropped (later records take their place). */
        tail = V.sq_head;
        __atomic_store_n(&ring->sq_tail, tail, __ATOMIC_RELEASE);
        __atomic_store_n(&ring->cq_head, V.cq_tail, __ATOMIC_RELEASE);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
    if (n < 3)
        return 0;
    int k = parse(p, n);
    if (p[0] & 1)
        run_ring(k, p[0], (int8_t)p[1], (int8_t)p[2]);
    else
        run_direct(k);
    reset_handles();
    check_confined();
    check_fds();
    if (++inputs % reset_every == 0)
        reset_upper();
    return 0;
}
