/* Boot: the VMM starts the vCPU here at CPL 3 with the boot info in rdi. Set up memory,
 * the ring, the namespace and the console descriptors, then load the program and enter
 * it. There is no init process: the program is the process. */
#include "kernel.h"
#include "kheap.h"
#include "arch/x86_64/platform.h"
#include "exec/elf.h"
#include "exec/exec.h"
#include "fs/vfs.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "proc/proc.h"
#include "proc/signal.h"
#include "proc/thread.h"

const struct uno_bootinfo *bootinfo;
extern char libos_end[]; /* libos.ld */

#define MAX_BOOT_ARGS 4096
static char *boot_argv[MAX_BOOT_ARGS + 1], *boot_envp[MAX_BOOT_ARGS + 1];
static struct regs entry_frame;

static void split_args(const struct uno_bootinfo *bi)
{
    char *area = phys_to_virt(UNO_GPA_ARGS);
    u64 off = 0;
    if (bi->argc > MAX_BOOT_ARGS || bi->envc > MAX_BOOT_ARGS || bi->args_len > UNO_ARGS_MAX)
        panic("too many arguments");
    for (u32 i = 0; i < bi->argc + bi->envc; i++) {
        char *s = area + off;
        off += strnlen(s, bi->args_len - off) + 1;
        if (off > bi->args_len)
            panic("malformed argument area");
        if (i < bi->argc)
            boot_argv[i] = s;
        else
            boot_envp[i - bi->argc] = s;
    }
    boot_argv[bi->argc] = NULL;
    boot_envp[bi->envc] = NULL;
}

static void open_console(void)
{
    for (int i = 0; i < 3; i++) {
        struct file *f;
        if (console_open(i, i == 0 ? O_RDONLY : O_WRONLY, &f) || fd_install(f, i, false) != i)
            panic("cannot open the console");
    }
}

/* docker run -w creates the directory when it is missing; so do we. */
static void enter_cwd(const char *dir)
{
    static struct node n;
    if (vfs_resolve(AT_FDCWD, dir, RESOLVE_FOLLOW, &n) == 0 && n.exists && S_ISDIR(n.mode)) {
        memcpy(cwd_path, n.path, strlen(n.path) + 1);
        return;
    }
    static char prefix[PATH_MAX];
    size_t len = strnlen(dir, PATH_MAX - 1);
    for (size_t i = 1; i <= len; i++) {
        if (dir[i] != '/' && dir[i] != 0)
            continue;
        memcpy(prefix, dir, i);
        prefix[i] = 0;
        int r = vfs_mkdir(AT_FDCWD, prefix, 0755);
        if (r && r != -EEXIST) {
            kprintf("uno: cannot create working directory %s: error %d\n", dir, r);
            libos_exit(125);
        }
    }
    if (vfs_resolve(AT_FDCWD, dir, RESOLVE_FOLLOW, &n) || !S_ISDIR(n.mode)) {
        kprintf("uno: working directory %s is not a directory\n", dir);
        libos_exit(125);
    }
    memcpy(cwd_path, n.path, strlen(n.path) + 1);
}

static NORETURN void exec_failed(const char *path, int err)
{
    const char *why = err == -ENOENT    ? "no such file or directory"
                      : err == -EACCES  ? "permission denied (not an executable file)"
                      : err == -ENOEXEC ? "exec format error"
                      : err == -ENOTDIR ? "not a directory"
                      : err == -ENOMEM  ? "out of memory (raise --memory)"
                      : err == -ELOOP   ? "too many levels of symbolic links"
                      : err == -E2BIG   ? "argument list too long"
                                        : "cannot execute";
    if (err == -ENOEXEC && elf_error()[0])
        kprintf("uno: exec %s: %s: %s\n", path, why, elf_error());
    else
        kprintf("uno: exec %s: %s\n", path, why);
    libos_exit(err == -ENOENT || err == -ENOTDIR ? 127 : 126);
}

/* --verbose: where the libOS's boot time goes, in microseconds since its first instruction. */
static u64 t_boot;
static void phase(const char *what)
{
    if (bootinfo->flags & UNO_BOOT_VERBOSE)
        kprintf("uno-libos: [%6lu us] %s\n",
                (time_mono_ns() - t_boot) / 1000, what);
}

void libos_main(const struct uno_bootinfo *bi)
{
    bootinfo = bi;
    const char *mismatch = platform_init(bi);
    ring_init();
    if (bi->magic != UNO_BOOT_MAGIC || bi->abi_version != UNO_ABI_VERSION)
        panic("boot info from an incompatible uno-vmm (ABI %u, libOS %u)", bi->abi_version,
              UNO_ABI_VERSION);
    if (mismatch)
        panic("backend mismatch: %s", mismatch);
    time_init();
    t_boot = time_mono_ns();

    /* The libOS heap: first what is left of the libOS's own 2 MiB pages (the host backs them
     * already: each fresh 2 MiB page costs ~0.1 ms to fault in), then a region at the top of
     * RAM. Every frame between goes to the app, starting right after the libOS. */
    u64 first = ALIGN_UP((u64)libos_end, 64);
    u64 first_end = UNO_VA_LIBOS + bi->libos_size;
    u64 heap_size = MIN(MAX(bi->ram_size / 16, 1ull << 20), 16ull << 20);
    kheap_init((void *)first, first_end - first);
    kheap_add(phys_to_virt(bi->ram_size - heap_size), heap_size);
    frame_init(bi->free_start, bi->ram_size - heap_size);
    shared_init();

    phase("memory ready");
    proc_init();
    thread_init();
    sched_init();
    signal_init();
    vfs_init();
    open_console();
    split_args(bi);
    enter_cwd((const char *)phys_to_virt(UNO_GPA_ARGS) + bi->cwd_off);

    const char *path = boot_argv[0];
    phase("namespace ready");
    platform_user_access_begin(); /* exec writes the app's initial stack */
    int r = exec_load(path, boot_argv, boot_envp, &entry_frame);
    proc_set_comm(path);
    platform_user_access_end();
    if (r)
        exec_failed(path, r);
    proc_publish();
    phase(platform_name()[0] == 'n' ? "program loaded; entering it (native backend)"
                                    : "program loaded; entering it (cpl3 backend)");
    thread_boot_done();
    arch_enter_user(&entry_frame);
}
