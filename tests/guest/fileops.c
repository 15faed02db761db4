/* File operations under a fresh directory given as argv[1] (it must not exist yet; the
 * program creates it, works inside it and removes everything at the end). Natively it is a
 * new temp dir, inside uno a path like /tmp/work or /work, so both runs do the same thing.
 * Prints each result (value or errno name); exits 1 if a CHECK failed. */
#include "guest.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static const char *ftype(mode_t m)
{
    if (S_ISREG(m)) return "reg";
    if (S_ISDIR(m)) return "dir";
    if (S_ISLNK(m)) return "lnk";
    if (S_ISCHR(m)) return "chr";
    if (S_ISBLK(m)) return "blk";
    if (S_ISFIFO(m)) return "fifo";
    if (S_ISSOCK(m)) return "sock";
    return "?";
}

/* Prints the comparable fields of a stat result (sizes only for non-directories: a
 * directory's size depends on the file system). */
static void show_stat(const char *label, int r, const struct stat *st)
{
    if (r < 0) {
        printf("%s: -1 %s\n", label, errname(errno));
        return;
    }
    printf("%s: type=%s mode=%04o", label, ftype(st->st_mode), (unsigned)(st->st_mode & 07777));
    if (!S_ISDIR(st->st_mode))
        printf(" size=%lld nlink=%lu", (long long)st->st_size, (unsigned long)st->st_nlink);
    printf("\n");
}

static void stat_path(const char *p)
{
    struct stat st;
    char label[PATH_MAX + 16];
    snprintf(label, sizeof label, "stat %s", p);
    int r = stat(p, &st);
    show_stat(label, r, &st);
}

static void lstat_path(const char *p)
{
    struct stat st;
    char label[PATH_MAX + 16];
    snprintf(label, sizeof label, "lstat %s", p);
    int r = lstat(p, &st);
    show_stat(label, r, &st);
}

static void write_file(const char *p, const char *s)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s) || close(fd) < 0) {
        printf("write_file %s: %s\n", p, errname(errno));
        guest_failures++;
    }
}

/* Prints a file's contents, escaped, or the error. */
static void cat(const char *p)
{
    char buf[4096];
    int fd = open(p, O_RDONLY);
    if (fd < 0) {
        printf("cat %s: -1 %s\n", p, errname(errno));
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 0) {
        printf("cat %s: read -1 %s\n", p, errname(errno));
        return;
    }
    printf("cat %s: %zd \"", p, n);
    for (ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            putchar(c);
        else
            printf("\\x%02x", c);
    }
    printf("\"\n");
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *dtype(unsigned char t)
{
    switch (t) {
    case DT_REG: return "reg";
    case DT_DIR: return "dir";
    case DT_LNK: return "lnk";
    case DT_UNKNOWN: return "unknown";
    default: return "other";
    }
}

/* Prints a directory's entries, sorted by name, with their d_type. */
static void list_dir(const char *p)
{
    DIR *d = opendir(p);
    if (!d) {
        printf("ls %s: %s\n", p, errname(errno));
        return;
    }
    char *names[512];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 512) {
        size_t len = strlen(e->d_name);
        names[n] = malloc(len + 16);
        snprintf(names[n], len + 16, "%s(%s)", e->d_name, dtype(e->d_type));
        n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmpstr);
    printf("ls %s:", p);
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

/* Removes a tree (files, symlinks, dirs) below and including p. */
static void remove_tree(const char *p)
{
    struct stat st;
    if (lstat(p, &st) < 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(p);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char sub[PATH_MAX];
                snprintf(sub, sizeof sub, "%s/%s", p, e->d_name);
                remove_tree(sub);
            }
            closedir(d);
        }
        if (rmdir(p) < 0) printf("rmdir %s: %s\n", p, errname(errno));
    } else if (unlink(p) < 0) {
        printf("unlink %s: %s\n", p, errname(errno));
    }
}

/* statx without depending on the libc having a wrapper (musl 1.2.3 has none). */
struct guest_statx_ts {
    int64_t tv_sec;
    uint32_t tv_nsec;
    int32_t reserved;
};
struct guest_statx {
    uint32_t stx_mask, stx_blksize;
    uint64_t stx_attributes;
    uint32_t stx_nlink, stx_uid, stx_gid;
    uint16_t stx_mode, pad1;
    uint64_t stx_ino, stx_size, stx_blocks, stx_attributes_mask;
    struct guest_statx_ts stx_atime, stx_btime, stx_ctime, stx_mtime;
    uint32_t stx_rdev_major, stx_rdev_minor, stx_dev_major, stx_dev_minor;
    uint64_t spare[14];
};
#ifndef SYS_statx
#define SYS_statx 332
#endif

static void basics(void)
{
    char buf[256];
    section("create, write, read");
    int fd = SHOW("open a.txt O_CREAT|O_EXCL", open("a.txt", O_CREAT | O_WRONLY | O_EXCL, 0644));
    SHOW("write hello", write(fd, "hello\n", 6));
    SHOW("read on O_WRONLY", read(fd, buf, sizeof buf));
    OKAY("close", close(fd));
    OKAY("close again", close(fd));
    SHOW("open a.txt O_EXCL again", open("a.txt", O_CREAT | O_WRONLY | O_EXCL, 0644));
    fd = SHOW("open a.txt O_RDONLY", open("a.txt", O_RDONLY));
    memset(buf, 0, sizeof buf);
    SHOW("read", read(fd, buf, sizeof buf));
    printf("content: [%s]\n", buf);
    SHOW("read at EOF", read(fd, buf, sizeof buf));
    SHOW("write on O_RDONLY", write(fd, "x", 1));
    SHOW("read 0 bytes", read(fd, buf, 0));
    close(fd);
    SHOW("read on closed fd", read(fd, buf, 1));
    SHOW("write on fd 99", write(99, "x", 1));

    section("pread, pwrite, lseek");
    fd = SHOW("open b.bin O_RDWR|O_CREAT|O_TRUNC", open("b.bin", O_RDWR | O_CREAT | O_TRUNC, 0600));
    SHOW("write digits", write(fd, "0123456789", 10));
    SHOW("pwrite AB at 3", pwrite(fd, "AB", 2, 3));
    memset(buf, 0, sizeof buf);
    SHOW("pread 4 at 2", pread(fd, buf, 4, 2));
    printf("pread got [%s]\n", buf);
    SHOW("offset unchanged", lseek(fd, 0, SEEK_CUR));
    SHOW("pwrite Z at 20", pwrite(fd, "Z", 1, 20));
    SHOW("lseek SEEK_END -1", lseek(fd, -1, SEEK_END));
    SHOW("lseek SEEK_SET 8", lseek(fd, 8, SEEK_SET));
    memset(buf, 0x55, sizeof buf);
    SHOW("read 13", read(fd, buf, 13));
    printf("hole bytes zero: %s, last is Z: %s\n",
           yesno(buf[2] == 0 && buf[11] == 0), yesno(buf[12] == 'Z'));
    SHOW("lseek SEEK_CUR -100", lseek(fd, -100, SEEK_CUR));
    SHOW("lseek whence 7", lseek(fd, 0, 7));
    SHOW("lseek past end", lseek(fd, 1000, SEEK_SET));
    SHOW("read past end", read(fd, buf, 10));
    SHOW("pread negative offset", pread(fd, buf, 1, -1));
    struct stat st;
    show_stat("fstat b.bin", fstat(fd, &st), &st);

    section("ftruncate, truncate");
    OKAY("ftruncate 5", ftruncate(fd, 5));
    memset(buf, 0, sizeof buf);
    SHOW("pread all", pread(fd, buf, sizeof buf, 0));
    printf("content: [%s]\n", buf);
    OKAY("ftruncate 8", ftruncate(fd, 8));
    memset(buf, 0x55, sizeof buf);
    SHOW("pread all", pread(fd, buf, sizeof buf, 0));
    printf("grown bytes zero: %s\n", yesno(buf[5] == 0 && buf[6] == 0 && buf[7] == 0));
    OKAY("ftruncate -1", ftruncate(fd, -1));
    close(fd);
    OKAY("truncate b.bin 2", truncate("b.bin", 2));
    stat_path("b.bin");
    OKAY("truncate missing", truncate("missing", 2));
    fd = open("b.bin", O_RDONLY);
    OKAY("ftruncate on O_RDONLY", ftruncate(fd, 0));
    close(fd);

    section("O_APPEND, O_TRUNC");
    fd = SHOW("open a.txt O_WRONLY|O_APPEND", open("a.txt", O_WRONLY | O_APPEND));
    SHOW("lseek 0", lseek(fd, 0, SEEK_SET));
    SHOW("write more", write(fd, "more\n", 5));
    SHOW("offset after append", lseek(fd, 0, SEEK_CUR));
    SHOW("pwrite at 0 with O_APPEND", pwrite(fd, "X", 1, 0));
    close(fd);
    cat("a.txt");
    fd = SHOW("open a.txt O_RDWR|O_TRUNC", open("a.txt", O_RDWR | O_TRUNC));
    show_stat("fstat after O_TRUNC", fstat(fd, &st), &st);
    SHOW("write new", write(fd, "new\n", 4));
    close(fd);
    cat("a.txt");
    fd = SHOW("creat c.txt", creat("c.txt", 0644));
    SHOW("write", write(fd, "c\n", 2));
    SHOW("read on creat fd", read(fd, buf, 1));
    close(fd);
    stat_path("c.txt");
    fd = SHOW("open O_RDONLY|O_TRUNC", open("c.txt", O_RDONLY | O_TRUNC));
    close(fd);
    stat_path("c.txt");
}

static void errors_and_dirs(void)
{
    char buf[64];
    section("directories and errors");
    OKAY("mkdir d", mkdir("d", 0755));
    OKAY("mkdir d again", mkdir("d", 0755));
    OKAY("mkdir nope/x", mkdir("nope/x", 0755));
    OKAY("mkdir a.txt/x", mkdir("a.txt/x", 0755));
    OKAY("mkdir empty name", mkdir("", 0755));
    OKAY("mkdir a.txt", mkdir("a.txt", 0755));
    SHOW("open d O_WRONLY", open("d", O_WRONLY));
    SHOW("open d O_RDWR", open("d", O_RDWR));
    SHOW("open missing", open("missing", O_RDONLY));
    SHOW("open missing/x O_CREAT", open("missing/x", O_WRONLY | O_CREAT, 0644));
    SHOW("open a.txt/", open("a.txt/", O_RDONLY));
    SHOW("open a.txt/x", open("a.txt/x", O_RDONLY));
    SHOW("open a.txt O_DIRECTORY", open("a.txt", O_RDONLY | O_DIRECTORY));
    SHOW("open empty path", open("", O_RDONLY));
    int dfd = SHOW("open d O_DIRECTORY", open("d", O_RDONLY | O_DIRECTORY));
    SHOW("read on a dir", read(dfd, buf, sizeof buf));
    SHOW("write on a dir", write(dfd, buf, 1));
    SHOW("lseek on dir fd", lseek(dfd, 0, SEEK_SET));
    close(dfd);
    write_file("d/f", "f");
    OKAY("rmdir d (not empty)", rmdir("d"));
    OKAY("rmdir a.txt", rmdir("a.txt"));
    OKAY("rmdir missing", rmdir("missing"));
    OKAY("rmdir .", rmdir("."));
    OKAY("rmdir d/f/", rmdir("d/f/"));
    OKAY("unlink d", unlink("d"));
    OKAY("unlink missing", unlink("missing"));
    OKAY("unlink a.txt/", unlink("a.txt/"));
    OKAY("unlink d/f", unlink("d/f"));
    OKAY("rmdir d", rmdir("d"));
    OKAY("rmdir d again", rmdir("d"));
    stat_path("d");
    char longname[300];
    memset(longname, 'n', 255);
    longname[255] = 0;
    int fd = SHOW("open 255-char name", open(longname, O_WRONLY | O_CREAT, 0644));
    close(fd);
    OKAY("unlink 255-char name", unlink(longname));
    memset(longname, 'n', 256);
    longname[256] = 0;
    SHOW("open 256-char name", open(longname, O_WRONLY | O_CREAT, 0644));
    OKAY("mkdir -p style deep", mkdir("p", 0755) | mkdir("p/q", 0755) | mkdir("p/q/r", 0755));
    write_file("p/q/r/deep.txt", "deep\n");
    cat("p/q/r/deep.txt");
    cat("p/q/../q/./r/deep.txt");
    cat("./p//q/r/deep.txt");
}

static void readdir_tests(void)
{
    section("readdir");
    mkdir("ls", 0755);
    write_file("ls/c", "c");
    write_file("ls/a", "aa");
    write_file("ls/b", "bbb");
    mkdir("ls/sub", 0755);
    symlink("a", "ls/link");
    list_dir("ls");
    list_dir("ls/sub");
    list_dir("missing");
    list_dir("a.txt");
    /* Many entries: several getdents64 calls. */
    mkdir("many", 0755);
    for (int i = 0; i < 300; i++) {
        char p[64];
        snprintf(p, sizeof p, "many/file-with-a-longish-name-%03d", i);
        int fd = open(p, O_WRONLY | O_CREAT, 0644);
        if (fd < 0) {
            printf("create %s: %s\n", p, errname(errno));
            break;
        }
        close(fd);
    }
    DIR *d = opendir("many");
    int count = 0, seen[300] = {0}, dup = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        int i;
        if (sscanf(e->d_name, "file-with-a-longish-name-%d", &i) == 1 && i >= 0 && i < 300) {
            if (seen[i]++) dup = 1;
            count++;
        }
    }
    if (d) closedir(d);
    printf("many: %d entries, duplicates: %s\n", count, yesno(dup));
    /* rewinddir starts again. */
    d = opendir("ls");
    int first = 0, second = 0;
    while (d && readdir(d)) first++;
    if (d) rewinddir(d);
    while (d && readdir(d)) second++;
    if (d) closedir(d);
    printf("rewinddir: %d then %d\n", first, second);
    /* getdents64 on a file. */
    int fd = open("a.txt", O_RDONLY);
    char dbuf[1024];
    SHOW("getdents64 on a file", syscall(SYS_getdents64, fd, dbuf, sizeof dbuf));
    close(fd);
    /* An entry deleted while the directory is open no longer shows up once rewound. */
    d = opendir("ls");
    unlink("ls/c");
    if (d) rewinddir(d);
    int hasc = 0;
    while (d && (e = readdir(d)))
        if (!strcmp(e->d_name, "c")) hasc = 1;
    if (d) closedir(d);
    printf("deleted entry listed after rewind: %s\n", yesno(hasc));
}

static void stat_tests(void)
{
    struct stat st;
    section("stat, chmod");
    stat_path("a.txt");
    stat_path("ls");
    stat_path("missing");
    stat_path("a.txt/x");
    OKAY("chmod a.txt 0600", chmod("a.txt", 0600));
    stat_path("a.txt");
    int fd = open("a.txt", O_RDONLY);
    OKAY("fchmod 0640", fchmod(fd, 0640));
    show_stat("fstat", fstat(fd, &st), &st);
    close(fd);
    OKAY("fchmodat 04755", fchmodat(AT_FDCWD, "a.txt", 04755, 0));
    stat_path("a.txt");
    OKAY("chmod 0644", chmod("a.txt", 0644));
    OKAY("chmod missing", chmod("missing", 0644));
    OKAY("chmod dir 0700", chmod("ls/sub", 0700));
    stat_path("ls/sub");
    OKAY("fstat bad fd", fstat(42, &st));
    int dfd = open("ls", O_RDONLY | O_DIRECTORY);
    int r = fstatat(dfd, "b", &st, 0);
    show_stat("fstatat dirfd b", r, &st);
    r = fstatat(dfd, "link", &st, AT_SYMLINK_NOFOLLOW);
    show_stat("fstatat link NOFOLLOW", r, &st);
    r = fstatat(dfd, "link", &st, 0);
    show_stat("fstatat link follow", r, &st);
    r = fstatat(dfd, "", &st, AT_EMPTY_PATH);
    show_stat("fstatat AT_EMPTY_PATH", r, &st);
    r = fstatat(42, "b", &st, 0);
    show_stat("fstatat bad dirfd", r, &st);
    r = fstatat(42, "/", &st, 0);
    show_stat("fstatat bad dirfd absolute", r, &st);
    struct guest_statx sx;
    memset(&sx, 0, sizeof sx);
    long sr = syscall(SYS_statx, dfd, "b", 0, 0x7ff /* STATX_BASIC_STATS */, &sx);
    if (sr < 0)
        printf("statx b: %s\n", errname(errno));
    else
        printf("statx b: basic stats=%s type=%s mode=%04o size=%llu nlink=%u\n",
               yesno((sx.stx_mask & 0x7ff) == 0x7ff), ftype(sx.stx_mode), sx.stx_mode & 07777,
               (unsigned long long)sx.stx_size, sx.stx_nlink);
    close(dfd);
    struct statfs sfs;
    OKAY("statfs .", statfs(".", &sfs));
    OKAY("statfs missing", statfs("missing", &sfs));

    section("utimensat");
    struct timespec ts[2] = {{1000000000, 0}, {1234567890, 500}};
    OKAY("utimensat", utimensat(AT_FDCWD, "a.txt", ts, 0));
    stat("a.txt", &st);
    printf("atime %lld.%09ld mtime %lld.%09ld\n", (long long)st.st_atim.tv_sec,
           st.st_atim.tv_nsec, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    struct timespec ts2[2] = {{0, UTIME_OMIT}, {1500000000, 0}};
    OKAY("utimensat omit atime", utimensat(AT_FDCWD, "a.txt", ts2, 0));
    stat("a.txt", &st);
    printf("atime %lld mtime %lld\n", (long long)st.st_atim.tv_sec, (long long)st.st_mtim.tv_sec);
    fd = open("a.txt", O_RDONLY);
    struct timespec ts3[2] = {{1600000000, 0}, {1700000000, 0}};
    OKAY("futimens", futimens(fd, ts3));
    fstat(fd, &st);
    printf("atime %lld mtime %lld\n", (long long)st.st_atim.tv_sec, (long long)st.st_mtim.tv_sec);
    close(fd);
    OKAY("utimensat missing", utimensat(AT_FDCWD, "missing", ts, 0));
    OKAY("utimensat now", utimensat(AT_FDCWD, "a.txt", NULL, 0));
    stat("a.txt", &st);
    printf("mtime now is after 2020: %s\n", yesno(st.st_mtim.tv_sec > 1577836800));
}

static void link_tests(void)
{
    char buf[256];
    section("symlink, readlink");
    OKAY("symlink a.txt ln", symlink("a.txt", "ln"));
    OKAY("symlink again", symlink("a.txt", "ln"));
    ssize_t n = SHOW("readlink ln", readlink("ln", buf, sizeof buf));
    if (n >= 0) printf("target [%.*s]\n", (int)n, buf);
    memset(buf, 'Z', sizeof buf);
    SHOW("readlink short buffer", readlink("ln", buf, 3));
    printf("truncated [%.3s], rest untouched: %s\n", buf, yesno(buf[3] == 'Z' && buf[4] == 'Z'));
    SHOW("readlink on a file", readlink("a.txt", buf, sizeof buf));
    SHOW("readlink missing", readlink("missing", buf, sizeof buf));
    cat("ln");
    lstat_path("ln");
    stat_path("ln");
    OKAY("symlink dangling", symlink("nowhere", "dl"));
    stat_path("dl");
    lstat_path("dl");
    SHOW("open dangling", open("dl", O_RDONLY));
    int fd = SHOW("open dangling O_CREAT", open("dl", O_WRONLY | O_CREAT, 0644));
    if (fd >= 0) close(fd);
    stat_path("nowhere");
    OKAY("symlink loop1", symlink("loop2", "loop1"));
    OKAY("symlink loop2", symlink("loop1", "loop2"));
    SHOW("open loop", open("loop1", O_RDONLY));
    stat_path("loop1");
    SHOW("open ln O_NOFOLLOW", open("ln", O_RDONLY | O_NOFOLLOW));
    OKAY("symlink to dir", symlink("p/q", "dirlink"));
    cat("dirlink/r/deep.txt");
    OKAY("symlink absolute /etc", symlink("/etc", "etclink"));
    lstat_path("etclink");
    stat_path("etclink");
    OKAY("symlink absolute /", symlink("/", "rootlink"));
    lstat_path("rootlink");
    stat_path("rootlink");
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    OKAY("symlinkat", symlinkat("b.bin", dfd, "ln2"));
    n = SHOW("readlinkat", readlinkat(dfd, "ln2", buf, sizeof buf));
    if (n >= 0) printf("target [%.*s]\n", (int)n, buf);
    close(dfd);
    OKAY("unlink ln (the link, not the target)", unlink("ln"));
    stat_path("a.txt");
    OKAY("rmdir dirlink", rmdir("dirlink"));
    OKAY("unlink dirlink", unlink("dirlink"));
    unlink("dl");
    unlink("nowhere");
    unlink("loop1");
    unlink("loop2");
    unlink("rootlink");
    unlink("etclink");
    unlink("ln2");

    section("access");
    OKAY("access a.txt F_OK", access("a.txt", F_OK));
    OKAY("access a.txt R_OK", access("a.txt", R_OK));
    OKAY("access a.txt X_OK", access("a.txt", X_OK));
    OKAY("access missing", access("missing", F_OK));
    OKAY("access a.txt/x", access("a.txt/x", F_OK));
    OKAY("access dir X_OK", access("ls", X_OK));
    chmod("c.txt", 0755);
    OKAY("access 0755 file X_OK", access("c.txt", X_OK));
    OKAY("faccessat", faccessat(AT_FDCWD, "a.txt", R_OK, 0));
    OKAY("access bad mode", access("a.txt", 0x40));
}

static void rename_tests(void)
{
    section("rename");
    write_file("r1", "one");
    write_file("r2", "two");
    OKAY("rename r1 r3", rename("r1", "r3"));
    stat_path("r1");
    cat("r3");
    OKAY("rename r3 over r2", rename("r3", "r2"));
    cat("r2");
    stat_path("r3");
    OKAY("rename missing", rename("missing", "x"));
    OKAY("rename to missing dir", rename("r2", "nodir/r2"));
    OKAY("rename to itself", rename("r2", "r2"));
    cat("r2");
    mkdir("rd", 0755);
    mkdir("rd/inner", 0755);
    write_file("rd/inner/f", "inner");
    mkdir("rd2", 0755);
    OKAY("rename dir into itself", rename("rd", "rd/inner/x"));
    OKAY("rename file over dir", rename("r2", "rd2"));
    OKAY("rename dir over file", rename("rd2", "r2"));
    OKAY("rename dir over non-empty dir", rename("rd2", "rd"));
    OKAY("rename dir over empty dir", rename("rd", "rd2"));
    stat_path("rd");
    cat("rd2/inner/f");
    OKAY("rename file into subdir", rename("r2", "rd2/inner/r2"));
    list_dir("rd2/inner");
    int dfd = open("rd2", O_RDONLY | O_DIRECTORY);
    OKAY("renameat", renameat(dfd, "inner/r2", AT_FDCWD, "r2back"));
    close(dfd);
    cat("r2back");
    /* An open file survives being renamed. */
    int fd = open("r2back", O_RDONLY);
    rename("r2back", "r2moved");
    char buf[16] = {0};
    SHOW("read after rename", read(fd, buf, sizeof buf - 1));
    printf("content [%s]\n", buf);
    close(fd);
    unlink("r2moved");
    remove_tree("rd2");
}

static void unlink_open_file(void)
{
    section("unlink an open file");
    write_file("gone", "still here");
    int fd = open("gone", O_RDWR);
    OKAY("unlink", unlink("gone"));
    stat_path("gone");
    char buf[32] = {0};
    SHOW("read after unlink", read(fd, buf, sizeof buf - 1));
    printf("content [%s]\n", buf);
    SHOW("write after unlink", write(fd, "!", 1));
    struct stat st;
    show_stat("fstat after unlink", fstat(fd, &st), &st);
    close(fd);
    /* A new file of the same name is a different file. */
    write_file("gone", "new");
    cat("gone");
    unlink("gone");
}

static void fd_tests(void)
{
    char buf[32];
    section("dup, fcntl");
    write_file("dupf", "abcdefgh");
    int fd = SHOW("open dupf O_RDWR", open("dupf", O_RDWR));
    int d1 = SHOW("dup", dup(fd));
    SHOW("read 2 via dup", read(d1, buf, 2));
    SHOW("offset shared", lseek(fd, 0, SEEK_CUR));
    SHOW("dup2 to 10", dup2(fd, 10));
    SHOW("dup2 to itself", dup2(fd, fd));
    SHOW("dup2 bad oldfd", dup2(77, 11));
    SHOW("dup3 to itself", dup3(fd, fd, 0));
    SHOW("dup3 to 11 O_CLOEXEC", dup3(fd, 11, O_CLOEXEC));
    SHOW("dup3 bad flags", dup3(fd, 12, 0x4));
    SHOW("F_GETFD 11", fcntl(11, F_GETFD));
    SHOW("F_GETFD 10", fcntl(10, F_GETFD));
    SHOW("F_SETFD 10 FD_CLOEXEC", fcntl(10, F_SETFD, FD_CLOEXEC));
    SHOW("F_GETFD 10", fcntl(10, F_GETFD));
    SHOW("F_GETFL & O_ACCMODE", fcntl(fd, F_GETFL) & O_ACCMODE);
    SHOW("F_GETFL & O_APPEND", fcntl(fd, F_GETFL) & O_APPEND);
    SHOW("F_SETFL O_APPEND", fcntl(fd, F_SETFL, O_APPEND));
    SHOW("F_GETFL & O_APPEND", fcntl(fd, F_GETFL) & O_APPEND);
    SHOW("F_GETFL & O_APPEND on dup (shared)", fcntl(d1, F_GETFL) & O_APPEND);
    SHOW("F_SETFL 0", fcntl(fd, F_SETFL, 0));
    SHOW("F_DUPFD 20", fcntl(fd, F_DUPFD, 20));
    SHOW("F_DUPFD 20 again", fcntl(fd, F_DUPFD, 20));
    SHOW("F_DUPFD_CLOEXEC 30", fcntl(fd, F_DUPFD_CLOEXEC, 30));
    SHOW("F_GETFD 30", fcntl(30, F_GETFD));
    SHOW("F_GETFD on bad fd", fcntl(55, F_GETFD));
    SHOW("fcntl bad cmd", fcntl(fd, 0x7777));
    int cfd = SHOW("open O_CLOEXEC", open("dupf", O_RDONLY | O_CLOEXEC));
    SHOW("F_GETFD", fcntl(cfd, F_GETFD));
    int wfd = open("dupf", O_WRONLY);
    SHOW("F_GETFL O_WRONLY & O_ACCMODE", fcntl(wfd, F_GETFL) & O_ACCMODE);
    SHOW("dup lowest free", dup(fd));
    OKAY("close 10", close(10));
    OKAY("close 11", close(11));
    OKAY("close 20", close(20));
    OKAY("close 21", close(21));
    OKAY("close 30", close(30));
    OKAY("close 10 again", close(10));
    SHOW("dup2 to 10 after close", dup2(fd, 10));
    memset(buf, 0, sizeof buf);
    lseek(fd, 0, SEEK_SET);
    SHOW("read via 10", read(10, buf, 3));
    printf("got [%s]\n", buf);
    close(10);
    close(d1);
    close(cfd);
    close(wfd);
    /* All of these are closed now: the next open gets the lowest free number again. */
    for (int i = 3; i < 64; i++)
        if (i != fd) close(i);
    close(fd);
    fd = SHOW("next open (lowest free)", open("dupf", O_RDONLY));
    close(fd);
    unlink("dupf");
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) SHOW("dup2 to RLIMIT_NOFILE", dup2(0, (int)rl.rlim_cur));
}

static void big_io(void)
{
    section("large write, readv, writev, sendfile");
    size_t n = 1 << 20;
    char *big = malloc(n), *back = malloc(n + 100);
    fill_pattern(big, n, 42);
    uint64_t want = fnv1a(big, n, FNV_INIT);
    int fd = SHOW("open big", open("big", O_WRONLY | O_CREAT | O_TRUNC, 0644));
    SHOW("write 1 MiB", write(fd, big, n));
    OKAY("fsync", fsync(fd));
    OKAY("fdatasync", fdatasync(fd));
    close(fd);
    stat_path("big");
    fd = open("big", O_RDONLY);
    size_t got = 0;
    size_t chunk = 4096 + 7;
    for (;;) {
        ssize_t r = read(fd, back + got, chunk);
        if (r <= 0) break;
        got += (size_t)r;
        chunk = chunk * 2 + 1;
        if (got + chunk > n + 100) chunk = n + 100 - got;
        if (!chunk) break;
    }
    close(fd);
    printf("read back %zu bytes, checksum %016llx, matches: %s\n", got,
           (unsigned long long)fnv1a(back, got, FNV_INIT), yesno(got == n && fnv1a(back, got, FNV_INIT) == want));
    /* sendfile file to file */
    int in = open("big", O_RDONLY), out = open("big2", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    off_t off = 1000;
    SHOW("sendfile from offset 1000", sendfile(out, in, &off, n));
    printf("offset after sendfile: %lld\n", (long long)off);
    SHOW("input offset unchanged", lseek(in, 0, SEEK_CUR));
    SHOW("sendfile with NULL offset", sendfile(out, in, NULL, 500));
    SHOW("input offset advanced", lseek(in, 0, SEEK_CUR));
    close(in);
    close(out);
    fd = open("big2", O_RDONLY);
    got = 0;
    ssize_t r;
    while ((r = read(fd, back + got, n + 100 - got)) > 0) got += (size_t)r;
    close(fd);
    uint64_t want2 = fnv1a(big, 500, fnv1a(big + 1000, n - 1000, FNV_INIT));
    printf("big2 %zu bytes, matches: %s\n", got, yesno(fnv1a(back, got, FNV_INIT) == want2));
    unlink("big2");

    /* writev then readv */
    fd = open("vec", O_RDWR | O_CREAT | O_TRUNC, 0644);
    struct iovec wv[4] = {{"alpha ", 6}, {"", 0}, {"beta ", 5}, {big, 3000}};
    SHOW("writev", writev(fd, wv, 4));
    lseek(fd, 0, SEEK_SET);
    char a[4] = {0}, b[8] = {0}, *c = malloc(4000);
    struct iovec rv[3] = {{a, 3}, {b, 7}, {c, 4000}};
    SHOW("readv", readv(fd, rv, 3));
    printf("readv parts [%s] [%s] rest matches: %s\n", a, b,
           yesno(c[0] == ' ' && memcmp(c + 1, big, 3000) == 0));
    struct iovec pv[2] = {{a, 2}, {b, 3}};
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    SHOW("preadv at 6", preadv(fd, pv, 2, 6));
    printf("preadv parts [%s] [%s]\n", a, b);
    struct iovec pw[2] = {{"XY", 2}, {"Z", 1}};
    SHOW("pwritev at 1", pwritev(fd, pw, 2, 1));
    SHOW("offset after pwritev", lseek(fd, 0, SEEK_CUR));
    SHOW("writev zero iovecs", writev(fd, wv, 0));
    SHOW("writev negative count", syscall(SYS_writev, fd, wv, -1));
    OKAY("ftruncate 11", ftruncate(fd, 11));
    close(fd);
    cat("vec");
    unlink("vec");
    /* readv of the 1 MiB file in 16 pieces */
    fd = open("big", O_RDONLY);
    struct iovec pieces[16];
    for (int i = 0; i < 16; i++) {
        pieces[i].iov_base = back + (size_t)i * (n / 16);
        pieces[i].iov_len = n / 16;
    }
    memset(back, 0, n);
    SHOW("readv 16 pieces", readv(fd, pieces, 16));
    printf("readv 1 MiB matches: %s\n", yesno(fnv1a(back, n, FNV_INIT) == want));
    close(fd);
    /* writev of 16 pieces then read back */
    fd = open("big3", O_RDWR | O_CREAT | O_TRUNC, 0644);
    for (int i = 0; i < 16; i++) pieces[i].iov_base = big + (size_t)i * (n / 16);
    SHOW("writev 16 pieces", writev(fd, pieces, 16));
    memset(back, 0, n);
    SHOW("pread 1 MiB", pread(fd, back, n, 0));
    printf("writev 1 MiB matches: %s\n", yesno(fnv1a(back, n, FNV_INIT) == want));
    close(fd);
    unlink("big3");
    unlink("big");
    free(big);
    free(back);
    free(c);
}

static void cwd_tests(const char *base)
{
    char buf[PATH_MAX];
    section("cwd");
    printf("getcwd is the base: %s\n", yesno(getcwd(buf, sizeof buf) && !strcmp(buf, base)));
    OKAY("chdir p/q", chdir("p/q"));
    printf("getcwd is base/p/q: %s\n",
           yesno(getcwd(buf, sizeof buf) && !strncmp(buf, base, strlen(base)) &&
                 !strcmp(buf + strlen(base), "/p/q")));
    cat("r/deep.txt");
    cat("../../a.txt");
    OKAY("chdir ..", chdir(".."));
    OKAY("chdir missing", chdir("missing"));
    OKAY("chdir to a file", chdir("../a.txt"));
    int dfd = open("..", O_RDONLY | O_DIRECTORY);
    OKAY("fchdir", fchdir(dfd));
    printf("back at base: %s\n", yesno(getcwd(buf, sizeof buf) && !strcmp(buf, base)));
    int ffd = open("a.txt", O_RDONLY);
    OKAY("fchdir to a file", fchdir(ffd));
    OKAY("fchdir bad fd", fchdir(99));
    close(ffd);
    close(dfd);
    SHOW("getcwd too small", (long)(getcwd(buf, 2) ? 0 : -1));
    OKAY("chdir /", chdir("/"));
    printf("getcwd is /: %s\n", yesno(getcwd(buf, sizeof buf) && !strcmp(buf, "/")));
    OKAY("chdir base", chdir(base));
}

int main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] != '/') {
        fprintf(stderr, "usage: fileops /absolute/new/dir\n");
        return 2;
    }
    const char *base = argv[1];
    umask(022);
    /* Never work anywhere else than in the new directory. */
    if (OKAY("mkdir base", mkdir(base, 0755)) < 0) return 3;
    if (OKAY("chdir base", chdir(base)) < 0) return 3;
    basics();
    errors_and_dirs();
    readdir_tests();
    stat_tests();
    link_tests();
    rename_tests();
    unlink_open_file();
    fd_tests();
    big_io();
    cwd_tests(base);
    section("umask");
    SHOW("umask 077 (old)", umask(077));
    int fd = open("masked", O_WRONLY | O_CREAT, 0666);
    close(fd);
    stat_path("masked");
    mkdir("maskeddir", 0777);
    stat_path("maskeddir");
    /* A umask looser than the host's usual 022: group write stays. */
    umask(002);
    fd = open("masked002", O_WRONLY | O_CREAT, 0666);
    close(fd);
    stat_path("masked002");
    mkdir("maskeddir002", 0777);
    stat_path("maskeddir002");
    umask(022);
    section("cleanup");
    list_dir(".");
    chdir("/");
    remove_tree(base);
    struct stat st;
    show_stat("stat base after cleanup", stat(base, &st), &st);
    return guest_failures ? 1 : 0;
}
