/* File-system breadth the usual Debian programs lean on: /etc's user and host databases,
 * /proc/self/{status,stat,cmdline}, /proc/stat, random UUIDs, /sys's CPU lists, the sync
 * family, fallocate, ftruncate/truncate, the utime family, chmod/chown, statfs, memfd_create
 * and eventfd. What differs natively and in uno by nature (pids, the host's /etc contents,
 * CPU counts, file system types) is printed as relations between two views of the same fact.
 *
 *   fsbreadth DIR        the differential sections (DIR: a directory to create and work in)
 *   fsbreadth --uno-etc  uno only: the generated /etc files and changes to them
 *   fsbreadth --cat FILE...  print files (what an image's own /etc holds) */
#include "guest.h"
#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>

static char work[4096];

static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap + 1);
    ssize_t r;
    while ((r = read(fd, b + n, cap - n)) > 0) {
        n += (size_t)r;
        if (n == cap) b = realloc(b, (cap *= 2) + 1);
    }
    close(fd);
    b[n] = 0;
    if (len) *len = n;
    return b;
}

static const char *at(const char *name)
{
    static char p[2][4200];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", work, name);
    return p[k];
}

/* The value after "Key:" in a /proc status-like text, or NULL. */
static const char *field(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, key, kl) && l[kl] == ':') return l + kl + 1;
    return NULL;
}

static long num_field(const char *text, const char *key)
{
    const char *v = field(text, key);
    return v ? strtol(v, NULL, 10) : -1;
}

static unsigned long long hex_field(const char *text, const char *key)
{
    const char *v = field(text, key);
    return v ? strtoull(v, NULL, 16) : 0;
}

/* ------------------------------------------------------------------ /etc -------------- */

/* Does a colon-separated database hold an entry with this id (field 3) and name (field 1)?
 * Name NULL: any name. */
static int db_has(const char *text, long id, const char *name, const char *home)
{
    if (!text) return 0;
    for (const char *l = text; *l;) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) : strlen(l);
        char line[512];
        if (len < sizeof line) {
            memcpy(line, l, len);
            line[len] = 0;
            char *f[7] = {0};
            int n = 0;
            for (char *s = line, *c; n < 7 && s; s = c ? c + 1 : NULL) {
                c = strchr(s, ':');
                if (c) *c = 0;
                f[n++] = s;
            }
            if (n >= 3 && strtol(f[2], NULL, 10) == id && (!name || !strcmp(f[0], name)) &&
                (!home || (n >= 6 && !strcmp(f[5], home))))
                return 1;
        }
        l += len + (e ? 1 : 0);
    }
    return 0;
}

/* Does /etc/hosts map `addr` to `name`? */
static int hosts_maps(const char *text, const char *addr, const char *name)
{
    if (!text) return 0;
    for (const char *l = text; *l;) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) : strlen(l);
        char line[512];
        if (len < sizeof line) {
            memcpy(line, l, len);
            line[len] = 0;
            char *hash = strchr(line, '#');
            if (hash) *hash = 0;
            char *save, *tok = strtok_r(line, " \t", &save);
            if (tok && !strcmp(tok, addr))
                while ((tok = strtok_r(NULL, " \t", &save)))
                    if (!strcmp(tok, name)) return 1;
        }
        l += len + (e ? 1 : 0);
    }
    return 0;
}

/* How many times a directory listing names `name`. */
static int dir_lists(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d))) found += !strcmp(e->d_name, name);
    closedir(d);
    return found;
}

static void etc_files(void)
{
    section("etc databases");
    char *pw = slurp("/etc/passwd", NULL), *gr = slurp("/etc/group", NULL);
    char *hosts = slurp("/etc/hosts", NULL);
    CHECK("passwd: root is uid 0 with home /root", db_has(pw, 0, "root", "/root"));
    CHECK("passwd: uid 65534 exists", db_has(pw, 65534, NULL, NULL));
    CHECK("group: root is gid 0", db_has(gr, 0, "root", NULL));
    CHECK("group: gid 65534 exists", db_has(gr, 65534, NULL, NULL));
    CHECK("hosts: 127.0.0.1 is localhost", hosts_maps(hosts, "127.0.0.1", "localhost"));
    CHECK("resolv.conf opens", access("/etc/resolv.conf", R_OK) == 0);
    struct stat st;
    CHECK("passwd is a regular file", stat("/etc/passwd", &st) == 0 && S_ISREG(st.st_mode));
    size_t len = 0;
    free(slurp("/etc/passwd", &len));
    CHECK("passwd: stat size is what reads give", (size_t)st.st_size == len);
    for (const char *n = "passwd\0group\0hosts\0resolv.conf\0"; *n; n += strlen(n) + 1) {
        char label[64];
        snprintf(label, sizeof label, "/etc lists %s", n);
        CHECK(label, dir_lists("/etc", n) == 1);
    }
    free(pw);
    free(gr);
    free(hosts);
}

/* uno only: the generated defaults themselves, and what writing and deleting them does. */
static int uno_etc(void)
{
    struct utsname u;
    uname(&u);
    char *hosts = slurp("/etc/hosts", NULL);
    printf("== passwd\n%s", slurp("/etc/passwd", NULL));
    printf("== group\n%s", slurp("/etc/group", NULL));
    printf("== hosts\n");
    CHECK("127.0.0.1 localhost", hosts_maps(hosts, "127.0.0.1", "localhost"));
    CHECK("::1 localhost", hosts_maps(hosts, "::1", "localhost"));
    CHECK("the host name", hosts_maps(hosts, "127.0.1.1", u.nodename));
    printf("== resolv.conf\n%s", slurp("/etc/resolv.conf", NULL));
    printf("== changes\n");
    int fd = open("/etc/hosts", O_WRONLY | O_APPEND);
    CHECK("hosts opens for writing", fd >= 0);
    CHECK("append", write(fd, "10.0.0.1\tdb\n", 12) == 12);
    close(fd);
    char *again = slurp("/etc/hosts", NULL);
    CHECK("the appended line is read back", hosts_maps(again, "10.0.0.1", "db"));
    CHECK("and the generated lines stay", hosts_maps(again, "127.0.0.1", "localhost"));
    OKAY("unlink /etc/resolv.conf", unlink("/etc/resolv.conf"));
    OKAY("open it again", open("/etc/resolv.conf", O_RDONLY));
    CHECK("no longer listed", !dir_lists("/etc", "resolv.conf"));
    CHECK("hosts still listed once", dir_lists("/etc", "hosts") == 1);
    CHECK("passwd listed once", dir_lists("/etc", "passwd") == 1);
    OKAY("chmod /etc/group 0600", chmod("/etc/group", 0600));
    struct stat st;
    CHECK("its mode is 0600", stat("/etc/group", &st) == 0 && (st.st_mode & 07777) == 0600);
    printf("== inotify\n");
    SHOW("inotify_init1", syscall(SYS_inotify_init1, 0));
    return guest_failures ? 1 : 0;
}

/* ------------------------------------------------------------------ /proc, /sys ------- */

static void on_alarm(int sig) { (void)sig; }

static void proc_status(const char *argv0)
{
    section("/proc/self/status");
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    sigprocmask(SIG_BLOCK, &m, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGUSR2, on_alarm); /* caught (never sent) */
    char *s = slurp("/proc/self/status", NULL);
    if (!s) {
        printf("open: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    const char *base = strrchr(argv0, '/') ? strrchr(argv0, '/') + 1 : argv0;
    char comm[16];
    snprintf(comm, sizeof comm, "%s", base);
    const char *name = field(s, "Name");
    CHECK("Name is the program's name", name && !strncmp(name + 1, comm, strlen(comm)) &&
                                            name[1 + strlen(comm)] == '\n');
    const char *state = field(s, "State");
    CHECK("State is R (running)", state && !strncmp(state, "\tR (running)", 12));
    CHECK("Tgid is getpid()", num_field(s, "Tgid") == getpid());
    CHECK("Pid is getpid()", num_field(s, "Pid") == getpid());
    CHECK("PPid is getppid()", num_field(s, "PPid") == getppid());
    CHECK("Uid is getuid()", num_field(s, "Uid") == (long)getuid());
    CHECK("Gid is getgid()", num_field(s, "Gid") == (long)getgid());
    long rss = num_field(s, "VmRSS"), size = num_field(s, "VmSize");
    CHECK("VmRSS is positive", rss > 0);
    CHECK("VmSize is at least VmRSS", size >= rss);
    CHECK("Threads is 1", num_field(s, "Threads") == 1);
    CHECK("SigBlk has SIGUSR1", hex_field(s, "SigBlk") & (1ull << (SIGUSR1 - 1)));
    CHECK("SigIgn has SIGPIPE", hex_field(s, "SigIgn") & (1ull << (SIGPIPE - 1)));
    CHECK("SigCgt has SIGUSR2", hex_field(s, "SigCgt") & (1ull << (SIGUSR2 - 1)));
    CHECK("SigCgt lacks SIGUSR1", !(hex_field(s, "SigCgt") & (1ull << (SIGUSR1 - 1))));
    signal(SIGUSR2, SIG_DFL);
    sigprocmask(SIG_UNBLOCK, &m, NULL);
    free(s);
}

static void proc_stat_self(void)
{
    section("/proc/self/stat");
    char *s = slurp("/proc/self/stat", NULL);
    if (!s) {
        printf("open: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    char *lp = strchr(s, '('), *rp = strrchr(s, ')');
    CHECK("comm is in parentheses", lp && rp && rp > lp);
    if (!lp || !rp) return;
    long f[64] = {0};
    char state = 0;
    int n = 2;
    f[1] = strtol(s, NULL, 10);
    char *p = rp + 1;
    while (*p == ' ') p++;
    state = *p;
    n = 3;
    p++;
    while (*p && *p != '\n') {
        while (*p == ' ') p++;
        if (!*p || *p == '\n') break;
        char *e;
        long v = strtol(p, &e, 10);
        if (n + 1 < 64) f[++n] = v;
        else ++n;
        p = e;
        while (*p && *p != ' ' && *p != '\n') p++;
    }
    printf("fields: %d\n", n);
    CHECK("pid", f[1] == getpid());
    CHECK("state R", state == 'R');
    CHECK("ppid", f[4] == getppid());
    CHECK("pgrp", f[5] == getpgrp());
    CHECK("session", f[6] == getsid(0));
    CHECK("num_threads 1", f[20] == 1);
    CHECK("vsize positive", f[23] > 0);
    CHECK("rss fits in vsize", f[24] >= 0 && f[24] * 4096 <= f[23]);
    CHECK("exit_code 0", n >= 52 && f[52] == 0);
    free(s);
}

static void proc_cmdline(int argc, char **argv)
{
    section("/proc/self/cmdline");
    size_t len = 0;
    char *s = slurp("/proc/self/cmdline", &len);
    size_t want = 0;
    for (int i = 0; i < argc; i++) want += strlen(argv[i]) + 1;
    CHECK("length is the arguments' with their NULs", len == want);
    size_t off = 0;
    int same = s != NULL;
    for (int i = 0; i < argc && same; i++) {
        same = off < len && !strcmp(s + off, argv[i]);
        off += strlen(argv[i]) + 1;
    }
    CHECK("each argument in order", same);
    free(s);
}

/* "0", "0-3", "0,2-3": how many CPUs, -1 if malformed. */
static int cpu_list_count(const char *s)
{
    if (!s) return -1;
    int count = 0;
    while (*s && *s != '\n') {
        char *e;
        long a = strtol(s, &e, 10), b = a;
        if (e == s) return -1;
        if (*e == '-') {
            s = e + 1;
            b = strtol(s, &e, 10);
            if (e == s || b < a) return -1;
        }
        count += (int)(b - a + 1);
        s = e;
        if (*s == ',') s++;
    }
    return count;
}

static int online_cpus(void)
{
    char *s = slurp("/sys/devices/system/cpu/online", NULL);
    int n = cpu_list_count(s);
    free(s);
    return n;
}

static void proc_stat_sys(void)
{
    section("/proc/stat");
    char *s = slurp("/proc/stat", NULL);
    if (!s) {
        printf("open: %s\n", errname(errno));
        guest_failures++;
        return;
    }
    int fields = 0;
    if (!strncmp(s, "cpu ", 4))
        for (char *p = s + 4; *p && *p != '\n'; p++)
            if (*p != ' ' && (p[-1] == ' ')) fields++;
    printf("first line: cpu with %d numbers\n", fields);
    int cpus = 0;
    for (char *l = s; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, "cpu", 3) && l[3] >= '0' && l[3] <= '9') cpus++;
    CHECK("one cpuN line per online CPU", cpus == online_cpus());
    const char *b = strstr(s, "\nbtime ");
    long btime = b ? strtol(b + 7, NULL, 10) : -1;
    CHECK("btime is in the past", btime > 0 && btime <= (long)time(NULL));
    CHECK("has processes and procs_running",
          strstr(s, "\nprocesses ") && strstr(s, "\nprocs_running "));
    free(s);
}

static int uuid_ok(const char *u)
{
    if (!u || strlen(u) != 37 || u[36] != '\n') return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash != (u[i] == '-')) return 0;
        if (!dash && !strchr("0123456789abcdef", u[i])) return 0;
    }
    return u[14] == '4' && strchr("89ab", u[19]) != NULL;
}

static void proc_uuid(void)
{
    section("/proc/sys/kernel/random/uuid");
    char *a = slurp("/proc/sys/kernel/random/uuid", NULL);
    char *b = slurp("/proc/sys/kernel/random/uuid", NULL);
    CHECK("a version 4 UUID", uuid_ok(a));
    CHECK("the next read is another", uuid_ok(b) && strcmp(a, b));
    free(a);
    free(b);
}

static void sys_cpus(void)
{
    section("/sys/devices/system/cpu");
    char *on = slurp("/sys/devices/system/cpu/online", NULL);
    char *pos = slurp("/sys/devices/system/cpu/possible", NULL);
    int n_on = cpu_list_count(on), n_pos = cpu_list_count(pos);
    CHECK("online is a CPU list", n_on > 0);
    CHECK("possible is a CPU list, no shorter", n_pos >= n_on);
    CHECK("present exists", access("/sys/devices/system/cpu/present", R_OK) == 0);
    CHECK("sysconf(_SC_NPROCESSORS_ONLN) agrees", sysconf(_SC_NPROCESSORS_ONLN) == n_on);
    char *ci = slurp("/proc/cpuinfo", NULL);
    int procs = 0;
    for (char *l = ci; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, "processor", 9)) procs++;
    CHECK("/proc/cpuinfo has one entry per online CPU", procs == n_on);
    CHECK("the directory lists online", dir_lists("/sys/devices/system/cpu", "online") == 1);
    OKAY("writing online", open("/sys/devices/system/cpu/online", O_WRONLY));
    free(on);
    free(pos);
    free(ci);
}

/* ------------------------------------------------------------------ data ops ---------- */

static long fsize(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (long)st.st_size : -1;
}

static void sync_family(void)
{
    section("sync family");
    int fd = open(at("s"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK("create", fd >= 0);
    CHECK("write", write(fd, "data\n", 5) == 5);
    OKAY("fsync", fsync(fd));
    OKAY("fdatasync", fdatasync(fd));
    OKAY("syncfs", syncfs(fd));
    sync();
    printf("sync: returned\n");
    int dfd = open(work, O_RDONLY | O_DIRECTORY);
    OKAY("fsync of a directory", fsync(dfd));
    close(dfd);
    int p[2];
    xpipe(p);
    OKAY("fsync of a pipe", fsync(p[1]));
    OKAY("fdatasync of /dev/null", fdatasync(open("/dev/null", O_WRONLY)));
    OKAY("fsync of a closed descriptor", fsync(999));
    OKAY("syncfs of a closed descriptor", syncfs(999));
    close(p[0]);
    close(p[1]);
    close(fd);
}

static void fallocate_truncate(void)
{
    section("fallocate");
    int fd = open(at("f"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    OKAY("mode 0, 8192 bytes", fallocate(fd, 0, 0, 8192));
    SHOW("size", fsize(fd));
    char z[8192], zero[8192] = {0};
    CHECK("reads as zeros", pread(fd, z, sizeof z, 0) == 8192 && !memcmp(z, zero, sizeof z));
    struct stat st;
    fstat(fd, &st);
    long blocks = (long)st.st_blocks;
    CHECK("blocks allocated", blocks >= 16);
    OKAY("KEEP_SIZE beyond the end", fallocate(fd, FALLOC_FL_KEEP_SIZE, 16384, 8192));
    fstat(fd, &st);
    SHOW("size", (long)st.st_size);
    CHECK("more blocks", (long)st.st_blocks > blocks);
    OKAY("mode 0 inside the file", fallocate(fd, 0, 100, 100));
    SHOW("size", fsize(fd));
    OKAY("length 0", fallocate(fd, 0, 0, 0));
    OKAY("negative offset", fallocate(fd, 0, -1, 10));
    OKAY("an unknown mode bit", fallocate(fd, 0x100, 0, 10));
    int ro = open(at("f"), O_RDONLY);
    OKAY("read-only descriptor", fallocate(ro, 0, 0, 10));
    int p[2];
    xpipe(p);
    OKAY("pipe", fallocate(p[1], 0, 0, 10));
    OKAY("/dev/null", fallocate(open("/dev/null", O_WRONLY), 0, 0, 10));
    OKAY("closed descriptor", fallocate(999, 0, 0, 10));
    close(p[0]);
    close(p[1]);

    section("truncate");
    OKAY("ftruncate to 10000", ftruncate(fd, 10000));
    SHOW("size", fsize(fd));
    OKAY("ftruncate to 100", ftruncate(fd, 100));
    SHOW("size", fsize(fd));
    OKAY("ftruncate negative", ftruncate(fd, -1));
    OKAY("ftruncate read-only", ftruncate(ro, 10));
    OKAY("truncate path to 50", truncate(at("f"), 50));
    SHOW("size", fsize(fd));
    OKAY("truncate a directory", truncate(work, 0));
    OKAY("truncate a missing file", truncate(at("missing"), 0));
    close(ro);
    close(fd);
}

/* struct timeval pairs, as utimes/futimesat take them (raw system calls: C libraries may
 * implement these wrappers with utimensat). */
struct tv {
    long sec, usec;
};

static void times_family(void)
{
    section("utime family");
    const char *f = at("t");
    close(open(f, O_WRONLY | O_CREAT | O_TRUNC, 0644));
    struct stat st;
    struct timespec ts[2] = {{1000000000, 123456789}, {1500000000, 987654321}};
    OKAY("utimensat", utimensat(AT_FDCWD, f, ts, 0));
    stat(f, &st);
    printf("atime %ld.%09ld mtime %ld.%09ld\n", (long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
           (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    struct timespec omit_now[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    OKAY("utimensat OMIT, NOW", utimensat(AT_FDCWD, f, omit_now, 0));
    stat(f, &st);
    CHECK("atime kept", st.st_atim.tv_sec == 1000000000 && st.st_atim.tv_nsec == 123456789);
    CHECK("mtime is now", labs((long)st.st_mtim.tv_sec - (long)time(NULL)) < 10);
    struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
    OKAY("utimensat bad nsec", utimensat(AT_FDCWD, f, bad, 0));
    OKAY("utimensat bad flags", utimensat(AT_FDCWD, f, ts, 0x8));
    struct tv tv[2] = {{2000000000, 5}, {2000000001, 7}};
    OKAY("utimes", syscall(SYS_utimes, f, tv));
    stat(f, &st);
    printf("atime %ld.%09ld mtime %ld.%09ld\n", (long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
           (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    struct tv badtv[2] = {{0, 1000000}, {0, 0}};
    OKAY("utimes bad usec", syscall(SYS_utimes, f, badtv));
    int dfd = open(work, O_RDONLY | O_DIRECTORY);
    struct tv tv2[2] = {{1200000000, 0}, {1300000000, 0}};
    OKAY("futimesat", syscall(SYS_futimesat, dfd, "t", tv2));
    stat(f, &st);
    printf("atime %ld mtime %ld\n", (long)st.st_atim.tv_sec, (long)st.st_mtim.tv_sec);
    long ub[2] = {1100000000, 1110000000};
    OKAY("utime", syscall(SYS_utime, f, ub));
    stat(f, &st);
    printf("atime %ld mtime %ld\n", (long)st.st_atim.tv_sec, (long)st.st_mtim.tv_sec);
    OKAY("utime NULL (now)", syscall(SYS_utime, f, NULL));
    stat(f, &st);
    CHECK("mtime is now", labs((long)st.st_mtim.tv_sec - (long)time(NULL)) < 10);
    int fd = open(f, O_RDONLY);
    OKAY("futimens", futimens(fd, ts));
    fstat(fd, &st);
    printf("mtime %ld.%09ld\n", (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    OKAY("utimensat missing file", utimensat(AT_FDCWD, at("missing"), ts, 0));
    close(fd);
    close(dfd);
}

static void modes_owners(void)
{
    section("chmod and chown");
    const char *f = at("m");
    close(open(f, O_WRONLY | O_CREAT | O_TRUNC, 0644));
    struct stat st;
    OKAY("chmod 0640", chmod(f, 0640));
    stat(f, &st);
    printf("mode %04o\n", st.st_mode & 07777);
    int fd = open(f, O_RDONLY);
    OKAY("fchmod 0600", fchmod(fd, 0600));
    fstat(fd, &st);
    printf("mode %04o\n", st.st_mode & 07777);
    int dfd = open(work, O_RDONLY | O_DIRECTORY);
    OKAY("fchmodat 0755", fchmodat(dfd, "m", 0755, 0));
    stat(f, &st);
    printf("mode %04o\n", st.st_mode & 07777);
    int root = geteuid() == 0;
    int r = chown(f, 1000, 1001);
    CHECK("chown works as root, EPERM otherwise", root ? r == 0 : (r < 0 && errno == EPERM));
    if (root) {
        stat(f, &st);
        printf("owner %u:%u\n", (unsigned)st.st_uid, (unsigned)st.st_gid);
        OKAY("fchown -1, 1002", fchown(fd, (uid_t)-1, 1002));
        fstat(fd, &st);
        printf("owner %u:%u\n", (unsigned)st.st_uid, (unsigned)st.st_gid);
        OKAY("fchownat 0, 0", fchownat(dfd, "m", 0, 0, 0));
        symlink("m", at("mlink"));
        OKAY("lchown of a symlink to 0, 0", lchown(at("mlink"), 0, 0));
        stat(f, &st);
        printf("owner %u:%u\n", (unsigned)st.st_uid, (unsigned)st.st_gid);
    }
    OKAY("chmod a missing file", chmod(at("missing"), 0644));
    close(fd);
    close(dfd);
}

static void statfs_checks(void)
{
    section("statfs");
    struct statfs a, b, p;
    OKAY("statfs DIR", statfs(work, &a));
    CHECK("block size positive", a.f_bsize > 0);
    CHECK("free <= total, available <= free", a.f_bfree <= a.f_blocks && a.f_bavail <= a.f_bfree);
    CHECK("some space free", a.f_bavail > 0);
    CHECK("inodes free <= total", a.f_ffree <= a.f_files);
    CHECK("namelen 255", a.f_namelen == 255);
    int fd = open(work, O_RDONLY | O_DIRECTORY);
    OKAY("fstatfs DIR", fstatfs(fd, &b));
    CHECK("the same file system", a.f_type == b.f_type && a.f_blocks == b.f_blocks);
    close(fd);
    OKAY("statfs /proc", statfs("/proc", &p));
    CHECK("/proc is procfs", p.f_type == 0x9fa0);
    OKAY("statfs missing", statfs(at("missing"), &p));
    int e = eventfd(0, 0);
    OKAY("fstatfs eventfd", fstatfs(e, &p));
    CHECK("anon inode fs", p.f_type == 0x09041934);
    close(e);
}

/* ------------------------------------------------------------------ memfd, eventfd ---- */

static void memfd_checks(void)
{
    section("memfd_create");
    int fd = memfd_create("fsb", MFD_CLOEXEC);
    CHECK("created", fd >= 0);
    CHECK("close-on-exec", fcntl(fd, F_GETFD) == FD_CLOEXEC);
    static char buf[10000], back[10000];
    fill_pattern(buf, sizeof buf, 7);
    SHOW("write", write(fd, buf, sizeof buf));
    SHOW("lseek 0", lseek(fd, 0, SEEK_SET));
    CHECK("read back", read(fd, back, sizeof back) == (ssize_t)sizeof back &&
                           !memcmp(buf, back, sizeof buf));
    struct stat st;
    fstat(fd, &st);
    CHECK("a regular file", S_ISREG(st.st_mode));
    printf("mode %04o size %ld\n", st.st_mode & 07777, (long)st.st_size);
    char link[128], want[] = "/memfd:fsb (deleted)";
    snprintf(back, sizeof back, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(back, link, sizeof link - 1);
    CHECK("/proc/self/fd names it", n == (ssize_t)strlen(want) && !memcmp(link, want, (size_t)n));
    OKAY("ftruncate 4096", ftruncate(fd, 4096));
    SHOW("size", fsize(fd));
    SHOW("pread at 4000", pread(fd, back, 1000, 4000));
    char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK("mmap MAP_PRIVATE", m != MAP_FAILED);
    if (m != MAP_FAILED) {
        CHECK("the mapping holds the data", !memcmp(m, buf, 4096));
        m[0] ^= 1;
        CHECK("a private write leaves the file alone",
              pread(fd, back, 1, 0) == 1 && back[0] == buf[0]);
        munmap(m, 4096);
    }
    OKAY("fallocate to 8192", fallocate(fd, 0, 0, 8192));
    SHOW("size", fsize(fd));
    /* Forked, the child shares the open file and its offset, as Linux does. */
    lseek(fd, 0, SEEK_SET);
    pid_t c = xfork();
    if (c == 0) {
        if (write(fd, "child", 5) != 5) guest_failures++;
        child_done();
    }
    reap("child", c);
    SHOW("offset after the child's write", lseek(fd, 0, SEEK_CUR));
    CHECK("the child's data", pread(fd, back, 5, 0) == 5 && !memcmp(back, "child", 5));
    close(fd);
    SHOW("unknown flag", memfd_create("x", 0x100));
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    SHOW("a 299-byte name", memfd_create(longname, 0));
    SHOW("a bad name pointer", syscall(SYS_memfd_create, (void *)8, 0));
}

/* One read of the counter, as text: its value or the errno name. */
static const char *efd_read(int fd)
{
    static char b[32];
    uint64_t v = 0;
    if (read(fd, &v, sizeof v) < 0) return errname(errno);
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    return b;
}

static int efd_write(int fd, uint64_t v)
{
    return write(fd, &v, sizeof v) == 8 ? 0 : -1;
}

static int readable(int fd, int timeout)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
    int r = poll(&p, 1, timeout);
    return r < 0 ? -1 : p.revents & (POLLIN | POLLOUT);
}

static void eventfd_checks(void)
{
    section("eventfd counter");
    int fd = eventfd(5, EFD_NONBLOCK | EFD_CLOEXEC);
    CHECK("created", fd >= 0);
    CHECK("close-on-exec", fcntl(fd, F_GETFD) == FD_CLOEXEC);
    CHECK("non-blocking", fcntl(fd, F_GETFL) & O_NONBLOCK);
    printf("poll: %#x\n", readable(fd, 0));
    printf("read: %s\n", efd_read(fd));
    printf("read: %s\n", efd_read(fd));
    printf("poll: %#x\n", readable(fd, 0));
    OKAY("write 3", efd_write(fd, 3));
    OKAY("write 4", efd_write(fd, 4));
    printf("read: %s\n", efd_read(fd));
    OKAY("write UINT64_MAX", efd_write(fd, UINT64_MAX));
    OKAY("write the maximum", efd_write(fd, UINT64_MAX - 1));
    printf("poll: %#x\n", readable(fd, 0));
    OKAY("write 1 more", efd_write(fd, 1));
    uint32_t small;
    SHOW("read 4 bytes", read(fd, &small, sizeof small));
    SHOW("write 4 bytes", write(fd, &small, sizeof small));
    uint64_t two[2] = {1, 1};
    printf("read: %s\n", efd_read(fd));
    SHOW("write 16 bytes", write(fd, two, sizeof two));
    SHOW("read 16 bytes", read(fd, two, sizeof two));
    OKAY("write 9", efd_write(fd, 9));
    SHOW("read 16 bytes", read(fd, two, sizeof two));
    printf("value %llu\n", (unsigned long long)two[0]);
    SHOW("lseek", lseek(fd, 0, SEEK_SET));
    SHOW("pread", pread(fd, two, 8, 0));
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    char t[64] = {0};
    ssize_t n = readlink(link, t, sizeof t - 1);
    printf("link: %s\n", n > 0 ? t : errname(errno));
    close(fd);
    SHOW("unknown flag", eventfd(0, 0x10));

    section("eventfd semaphore");
    fd = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
    for (int i = 0; i < 4; i++) printf("read: %s\n", efd_read(fd));
    OKAY("write 2", efd_write(fd, 2));
    printf("read: %s\n", efd_read(fd));
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(fd, &rs);
    struct timeval tv0 = {0, 0};
    SHOW("select readable", select(fd + 1, &rs, NULL, NULL, &tv0));
    close(fd);

    section("eventfd blocking");
    fd = eventfd(0, 0);
    pid_t c = xfork();
    if (c == 0) {
        usleep(100000);
        efd_write(fd, 42);
        child_done();
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    printf("blocking read: %s\n", efd_read(fd));
    CHECK("it waited for the child", ms_since(&t0) >= 50);
    reap("child", c);
    c = xfork();
    if (c == 0) {
        usleep(100000);
        efd_write(fd, 7);
        child_done();
    }
    printf("poll waits: %#x\n", readable(fd, 5000));
    printf("read: %s\n", efd_read(fd));
    reap("child", c);
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm; /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 100000}};
    setitimer(ITIMER_REAL, &it, NULL);
    printf("read interrupted: %s\n", efd_read(fd));
    signal(SIGALRM, SIG_DFL);
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--uno-etc")) return uno_etc();
    if (argc >= 2 && !strcmp(argv[1], "--cat")) {
        for (int i = 2; i < argc; i++) {
            char *t = slurp(argv[i], NULL);
            printf("== %s\n%s", argv[i], t ? t : "(missing)\n");
            free(t);
        }
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: fsbreadth DIR | --uno-etc\n");
        return 2;
    }
    snprintf(work, sizeof work, "%s", argv[1]);
    if (mkdir(work, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "mkdir %s: %s\n", work, strerror(errno));
        return 2;
    }
    etc_files();
    proc_status(argv[0]);
    proc_stat_self();
    proc_cmdline(argc, argv);
    proc_stat_sys();
    proc_uuid();
    sys_cpus();
    sync_family();
    fallocate_truncate();
    times_family();
    modes_owners();
    statfs_checks();
    memfd_checks();
    eventfd_checks();
    fflush(stdout);
    return guest_failures ? 1 : 0;
}
