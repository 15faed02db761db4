/* execve and execveat: the program is replaced inside the same VM (no new VM: the address
 * space is reset and the new program loaded, which costs far less than building a VM).
 * Arguments are copied into the libOS first, limits checked (E2BIG), then the file is
 * opened and checked; only then is the old program dropped. After that: descriptors marked
 * close-on-exec closed, handlers reset, FPU state reset, and the VMM told (which ends a
 * vfork parent's wait). */
#include "exec.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "core/kheap.h"
#include "libos/fmt.h"
#include "fs/vfs.h"
#include "io/ring.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "proc/proc.h"
#include "proc/signal.h"
#include "sys/syscalls.h"

#define AT_SYMLINK_NOFOLLOW 0x100
#define MAX_ARGC (MAX_ARGS_BYTES / sizeof(char *))

extern struct regs *current_frame;

/* user_str_ok reads the app's string where it is: with user memory open (SMAP). */
static bool user_str_ok_open(const char *s, u64 max, u64 *len)
{
    platform_user_access_begin();
    bool ok = user_str_ok(s, max, len);
    platform_user_access_end();
    return ok;
}

/* Copy a NULL-terminated array of user strings into one block: out[0..n) point into it,
 * out[n] = NULL; the block is *out itself, for kfree. *bytes grows by what they take
 * (strings and pointers, as Linux counts them against ARG_MAX). */
static i64 copy_strings(u64 uarr, char ***out, u64 *bytes)
{
    u64 n = 0, total = 0;
    for (; uarr; n++) {
        u64 p, len;
        if (n >= MAX_ARGC)
            return -E2BIG;
        if (copy_from_user(&p, (void *)(uarr + n * 8), 8))
            return -EFAULT;
        if (!p)
            break;
        if (!user_str_ok_open((const char *)p, MAX_ARG_STRLEN, &len))
            return user_ok((void *)p, 1, PROT_READ) ? -E2BIG : -EFAULT;
        total += len + 1;
        *bytes += len + 1 + sizeof(char *);
        if (*bytes > MAX_ARGS_BYTES)
            return -E2BIG;
    }
    char **arr = kmalloc((n + 1) * sizeof(char *) + total);
    if (!arr)
        return -ENOMEM;
    *out = arr;
    char *base = (char *)(arr + n + 1), *s = base;
    for (u64 i = 0; i < n; i++) {
        u64 p, len;
        if (copy_from_user(&p, (void *)(uarr + i * 8), 8) ||
            !user_str_ok_open((const char *)p, MAX_ARG_STRLEN, &len) ||
            (u64)(s - base) + len + 1 > total || copy_from_user(s, (void *)p, len + 1))
            return -EFAULT; /* changed under us */
        s[len] = 0;
        arr[i] = s;
        s += len + 1;
    }
    arr[n] = NULL;
    return 0;
}

/* The FPU/SSE/AVX state a new program starts with: xrstor of an all-init area. */
static void fpu_reset(void)
{
    static u8 area[4096] __attribute__((aligned(64)));
    u32 mxcsr = 0x1f80;
    memcpy(area + 24, &mxcsr, 4);
    __asm__ volatile("xrstor64 (%0)" ::"r"(area), "a"(~0u), "d"(~0u) : "memory");
}

static i64 do_execve(int dirfd, u64 upath, u64 uargv, u64 uenvp, int flags)
{
    static char path[PATH_MAX];
    if (flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
        return -EINVAL;
    i64 n = strncpy_from_user(path, (const char *)upath, sizeof path);
    if (n < 0)
        return n;
    if (n >= (i64)sizeof path)
        return -ENAMETOOLONG;
    if (path[0] != '/' && dirfd != AT_FDCWD) {
        struct file *d = fd_get(dirfd);
        if (!d)
            return -EBADF;
        static char full[PATH_MAX];
        if (!path[0]) {
            if (!(flags & AT_EMPTY_PATH))
                return -ENOENT;
            snprintf_l(full, sizeof full, "%s", d->path);
        } else {
            if (!S_ISDIR(d->mode))
                return -ENOTDIR;
            if (snprintf_l(full, sizeof full, "%s/%s", d->path, path) >= (int)sizeof full)
                return -ENAMETOOLONG;
        }
        memcpy(path, full, strlen(full) + 1);
    }
    if (!path[0])
        return -ENOENT;
    if (flags & AT_SYMLINK_NOFOLLOW) {
        struct node nd;
        int r = vfs_resolve(AT_FDCWD, path, 0, &nd);
        if (r)
            return r;
        if (S_ISLNK(nd.mode))
            return -ELOOP;
    }
    char **argv = NULL, **envp = NULL;
    u64 bytes = 0;
    i64 r = copy_strings(uargv, &argv, &bytes);
    if (!r)
        r = copy_strings(uenvp, &envp, &bytes);
    if (!r) {
        exec_committed = false;
        platform_user_access_begin(); /* exec builds the new program's stack in place */
        r = exec_load(path, argv, envp, current_frame);
        platform_user_access_end();
        if (r && exec_committed) {
            kprintf("uno: exec %s failed after the old program was gone (error %ld)\n", path, r);
            syscall_report_enosys();
            libos_die(SIGSEGV);
        }
    }
    kfree(argv);
    kfree(envp);
    if (r)
        return r;
    /* The VMM first (setpgid's EACCES from now on, a vfork parent released), then the
     * descriptors: whoever watches a close-on-exec pipe sees the exec complete. */
    struct ring_op op = {.op = UNO_OP_PROC, .arg = {UNO_PROC_EXECED}};
    ring_call(&op);
    fd_close_on_exec();
    signal_exec_reset();
    proc_set_comm(path); /* the new program's name, as Linux sets it at exec */
    proc_publish();
    proc.dumpable = 1;
    fpu_reset();
    return 0;
}

i64 sys_execve(u64 path, u64 argv, u64 envp)
{
    return do_execve(AT_FDCWD, path, argv, envp, 0);
}

i64 sys_execveat(u64 dirfd, u64 path, u64 argv, u64 envp, u64 flags)
{
    return do_execve((int)dirfd, path, argv, envp, (int)flags);
}
