/* uno-vmm: one host process per guest process. Parses the command line, builds the VM
 * (memory, libOS, page tables, boot info), starts the I/O thread and runs the vCPU. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

static struct vmm the_vmm;

static void usage(FILE *f)
{
    fprintf(f, "usage: uno-vmm --image FILE --upper DIR [--libos FILE] [--memory BYTES]\n"
               "               [--env KEY=VALUE]... [--cwd DIR] [--hostname NAME]\n"
               "               [--cpuid-cache FILE] [--backend cpl3|native|auto]\n"
               "               [--pids-limit N] [--cpus N] [--tty] [--trace] [--verbose]\n"
               "               [--no-syscall-rewrite] [--publish HOSTIP:HOSTPORT:GUESTPORT/PROTO]...\n"
               "               [--network default|none|allow=CIDR,...]\n"
               "               [--user UID:GID[:GID,...]]\n"
               "       uno-vmm --probe     (which kind of KVM this host has)\n"
               "               -- PROGRAM [ARGS...]\n");
}

static uint64_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno || end == s)
        return 0;
    switch (*end) {
    case 'k': case 'K': n <<= 10; end++; break;
    case 'm': case 'M': n <<= 20; end++; break;
    case 'g': case 'G': n <<= 30; end++; break;
    default: break;
    }
    return *end ? 0 : n;
}

static char *default_libos(const char *argv0)
{
    static char path[PATH_MAX];
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        snprintf(self, sizeof self, "%s", argv0);
        n = (ssize_t)strlen(self);
    }
    self[n] = 0;
    snprintf(path, sizeof path, "%s/libos.elf", dirname(self));
    return path;
}

/* One id: a decimal number below 2^32 - 1 (which Linux reserves as "no id"), followed by
 * one of `ends` or the end of the string. */
static int parse_id(const char **s, const char *ends, uint32_t *id)
{
    char *e;
    if (**s < '0' || **s > '9')
        return -1;
    errno = 0;
    unsigned long long n = strtoull(*s, &e, 10);
    if (errno || n >= 0xffffffffull || !strchr(ends, *e))
        return -1;
    *id = (uint32_t)n;
    *s = e;
    return 0;
}

/* --user UID:GID[:GROUP,...]: uno resolves names from the image; here only numbers. */
static int parse_user(struct vmm_config *c, const char *s)
{
    if (parse_id(&s, ":", &c->uid) || *s++ != ':' || parse_id(&s, ":", &c->gid))
        return -1;
    c->ngroups = 0;
    if (!*s++)
        return 0;
    for (;;) {
        if (c->ngroups == UNO_BOOT_GROUPS_MAX || parse_id(&s, ",", &c->groups[c->ngroups++]))
            return -1;
        if (!*s++)
            return 0;
    }
}

static int parse_args(struct vmm *v, int argc, char **argv)
{
    static const struct option opts[] = {
        {"image", required_argument, 0, 'i'}, {"upper", required_argument, 0, 'u'},
        {"libos", required_argument, 0, 'l'}, {"memory", required_argument, 0, 'm'},
        {"env", required_argument, 0, 'e'},   {"cwd", required_argument, 0, 'w'},
        {"trace", no_argument, 0, 't'},       {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},        {"hostname", required_argument, 0, 'n'},
        {"cpuid-cache", required_argument, 0, 'c'},
        {"backend", required_argument, 0, 'b'}, {"probe", no_argument, 0, 'p'},
        {"pids-limit", required_argument, 0, 'P'}, {"tty", no_argument, 0, 'T'},
        {"no-syscall-rewrite", no_argument, 0, 'R'},
        {"cpus", required_argument, 0, 'C'},
        {"publish", required_argument, 0, 'o'}, {"network", required_argument, 0, 'N'},
        {"user", required_argument, 0, 'U'},
        {0, 0, 0, 0},
    };
    struct vmm_config *c = &v->cfg;
    c->mem_size = 128ull << 20;
    c->pids_limit = 1024;
    c->cwd = "/";
    c->hostname = "uno";
    c->env = calloc((size_t)argc, sizeof *c->env);
    c->publish = calloc((size_t)argc, sizeof *c->publish);
    int o;
    while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (o) {
        case 'i': c->image_path = optarg; break;
        case 'u': c->upper_dir = optarg; break;
        case 'l': c->libos_path = optarg; break;
        case 'm':
            c->mem_size = parse_size(optarg);
            if (c->mem_size < (16ull << 20) || c->mem_size > (64ull << 30)) {
                fprintf(stderr, "uno-vmm: --memory %s: need 16M to 64G\n", optarg);
                return -1;
            }
            c->mem_size = (c->mem_size + (2ull << 20) - 1) & ~((2ull << 20) - 1);
            break;
        case 'e':
            if (!strchr(optarg, '=')) {
                fprintf(stderr, "uno-vmm: --env %s: expected KEY=VALUE\n", optarg);
                return -1;
            }
            c->env[c->envc++] = optarg;
            break;
        case 'w':
            if (optarg[0] != '/') {
                fprintf(stderr, "uno-vmm: --cwd %s: must be an absolute path\n", optarg);
                return -1;
            }
            c->cwd = optarg;
            break;
        case 'n':
            if (!*optarg || strlen(optarg) > 63) {
                fprintf(stderr, "uno-vmm: --hostname %s: need 1 to 63 characters\n", optarg);
                return -1;
            }
            c->hostname = optarg;
            break;
        case 'c': c->cpuid_cache = optarg; break;
        case 'o': c->publish[c->npublish++] = optarg; break; /* checked by net_init */
        case 'N': c->network = optarg; break;
        case 'U':
            if (parse_user(c, optarg)) {
                fprintf(stderr, "uno-vmm: --user %s: expected UID:GID[:GID,...] (numbers, at "
                                "most %d groups)\n", optarg, UNO_BOOT_GROUPS_MAX);
                return -1;
            }
            break;
        case 'b':
            if (!strcmp(optarg, "cpl3"))
                c->backend = UNO_BACKEND_CPL3;
            else if (!strcmp(optarg, "native"))
                c->backend = UNO_BACKEND_NATIVE;
            else if (strcmp(optarg, "auto")) {
                fprintf(stderr, "uno-vmm: --backend %s: expected cpl3, native or auto\n", optarg);
                return -1;
            }
            break;
        case 'p': c->probe = true; break;
        case 'P': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 4096) {
                fprintf(stderr, "uno-vmm: --pids-limit %s: need 1 to 4096\n", optarg);
                return -1;
            }
            c->pids_limit = (int)n;
            break;
        }
        case 'T': c->tty = true; break;
        case 'C': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > UNO_MAX_VCPUS) {
                fprintf(stderr, "uno-vmm: --cpus %s: need 1 to %d\n", optarg, UNO_MAX_VCPUS);
                return -1;
            }
            c->cpus = (int)n;
            break;
        }
        case 't': c->trace = true; break;
        case 'R': c->no_rewrite = true; break;
        case 'v': c->verbose = true; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (c->probe)
        return 0;
    if (!c->image_path || !c->upper_dir || optind >= argc) {
        usage(stderr);
        return -1;
    }
    if (argv[optind][0] != '/') {
        fprintf(stderr, "uno-vmm: program %s: must be an absolute path in the image\n",
                argv[optind]);
        return -1;
    }
    if (!c->libos_path)
        c->libos_path = default_libos(argv[0]);
    c->argv = argv + optind;
    c->argc = argc - optind;
    return 0;
}

static bool dir_empty(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    bool empty = true;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            empty = false;
    if (d)
        closedir(d);
    return empty;
}

/* Destroying a KVM VM costs the host ~10 ms (SRCU grace periods when the VM's memory and
 * descriptors go away) at our exit. A helper that shares our address space (CLONE_VM) and
 * holds a copy of our descriptors outlives us until it sees our end of a pipe close, so that
 * cost is paid after our caller's wait() has returned our status. */
static int exit_pipe[2];
static char reaper_stack[16384] __attribute__((aligned(16)));

static int reaper(void *arg)
{
    (void)arg;
    char b;
    /* Keep only what holds the VM: our caller must see EOF on our output when we exit. */
    close(0);
    close(1);
    close(2);
    close(exit_pipe[1]);
    while (read(exit_pipe[0], &b, 1) < 0 && errno == EINTR)
        ;
    _exit(0);
}

/* Signals from outside the instance become the guest's: SIGTERM, SIGHUP, SIGUSR1/2 go to
 * its PID 1 (as `docker kill` sends them); a terminal's ^C, ^\\ and ^Z (with --tty) go to
 * the console's foreground process group. */
static void on_host_signal(int sig)
{
    struct vmm *v = &the_vmm;
    if (v->cfg.tty && (sig == SIGINT || sig == SIGQUIT || sig == SIGTSTP || sig == SIGWINCH))
        proc_signal_group(proc_fg_pgrp(), sig);
    else
        proc_host_signal(v, sig);
}

static void host_signals(struct vmm *v)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL); /* a closed pipe is the guest's EPIPE, not our end */
    sa.sa_handler = on_host_signal;
    sa.sa_flags = SA_RESTART;
    /* SIGIO: the guest's signal-driven I/O (UNO_OP_SETFL with UNO_SETFL_ASYNC). */
    static const int fwd[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR2, SIGTSTP, SIGWINCH, SIGIO};
    for (size_t i = 0; i < sizeof fwd / sizeof fwd[0]; i++)
        if ((fwd[i] != SIGWINCH && fwd[i] != SIGTSTP) || v->cfg.tty)
            sigaction(fwd[i], &sa, NULL);
}

static void exit_now(int status)
{
    fflush(NULL);
    /* Only PID 1's end is waited for on the host (by uno); the others have told their guest
     * parent already (the process table), and their host parent reaps them when it can. */
    if (!proc_is_init(&the_vmm))
        _exit(status);
    if (pipe(exit_pipe) == 0)
        clone(reaper, reaper_stack + sizeof reaper_stack, CLONE_VM | SIGCHLD, NULL);
    _exit(status);
}

int main(int argc, char **argv)
{
    struct vmm *v = &the_vmm;
    struct libos_image li;
    v->t_start_ns = now_ns(CLOCK_MONOTONIC);
    if (parse_args(v, argc, argv))
        return VMM_EXIT_ERROR;
    /* The guest's umask is the libOS's, applied to every mode it sends: the host's must not
     * be applied again to what it creates in the writable layer. */
    umask(0);
    if (v->cfg.probe) {
        if (kvm_open(v) || kvm_choose_backend(v))
            return VMM_EXIT_ERROR;
        printf("kvm: ok\nbackend: %s\nwhy: %s\n", backend_name(v->backend), v->backend_why);
        return 0;
    }
    bool upper_empty = dir_empty(v->cfg.upper_dir);
    if (kvm_open(v) || kvm_choose_backend(v) || mem_setup(v) || hostops_init(v))
        return VMM_EXIT_ERROR;
    vmm_log(v, "backend %s (%s)", backend_name(v->backend), v->backend_why);
    vmm_log(v, "kvm and memory ready");
    if (boot_load_libos(v, &li) || boot_build_tables(v, &li) || kvm_setup_memory(v))
        return VMM_EXIT_ERROR;
    vmm_log(v, "libOS loaded, page tables built");
    if (kvm_setup_vcpu(v, li.entry, li.boot_stack, UNO_VA_DMAP + UNO_GPA_BOOTINFO,
                       li.syscall_entry) ||
        boot_fill_info(v, &li))
        return VMM_EXIT_ERROR;
    if (upper_empty) {
        struct uno_bootinfo *bi = gpa_ptr(v, UNO_GPA_BOOTINFO, sizeof *bi);
        bi->flags |= UNO_BOOT_UPPER_EMPTY;
    }
    if (vcpu_init(v) || proc_init_instance(v, v->cfg.pids_limit) || block_install(v) ||
        net_init(v))
        return VMM_EXIT_ERROR;
    host_signals(v);
    if (ring_start_io_thread(v))
        return VMM_EXIT_ERROR;
    vmm_log(v, "vCPU ready, backend %s; entering guest", backend_name(v->backend));
    v->finish = vmm_finish;
    vmm_finish(v, kvm_run_loop(v, &v->vcpus[0]));
}

/* The VM is over (any vCPU's thread may find out: exit_group from any guest thread). The
 * first to get here ends the process; the others wait for that. */
void vmm_finish(struct vmm *v, int status)
{
    static int finishing;
    if (__atomic_exchange_n(&finishing, 1, __ATOMIC_SEQ_CST))
        for (;;)
            pause();
    ring_stop_io_thread(v);
    vmm_log(v, "guest finished with status %d; %llu hypercall exits, %llu doorbells, %llu receives ahead (pid %d)",
            status, (unsigned long long)v->hypercalls, (unsigned long long)v->doorbells,
            (unsigned long long)rx_fills(), proc_self_pid(v));
    exit_now(status);
}
