/* Overlay semantics: changes to files and directories that come from the image.
 *
 *   overlay --setup DIR   creates the test tree under DIR/data (run natively by the test
 *                         to build the root directory that uno packs into an image)
 *   overlay PREFIX        modifies the tree under PREFIX/data and prints what it sees
 *
 * Inside uno PREFIX is "" (or "/"): the tree is the read-only image and every change goes
 * to the writable layer (copy-up, whiteouts, opaque directories). Natively PREFIX is a
 * throwaway copy of the same directory, so both runs must print the same thing. */
#include "guest.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char prefix[1024];

/* PREFIX/data/REL */
static const char *P(const char *rel)
{
    static char bufs[4][sizeof prefix + PATH_MAX + 16];
    static int i;
    char *b = bufs[i++ & 3];
    snprintf(b, sizeof bufs[0], "%s/data%s%s", prefix, rel[0] ? "/" : "", rel);
    return b;
}

static void put(const char *path, const char *s, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s) || close(fd) < 0) {
        fprintf(stderr, "setup: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    chmod(path, mode);
}

static void mk(const char *path)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "setup: mkdir %s: %s\n", path, strerror(errno));
        exit(2);
    }
}

static int setup(const char *dir)
{
    snprintf(prefix, sizeof prefix, "%s", dir);
    mk(P(""));
    put(P("file.txt"), "original file\n", 0644);
    put(P("append.txt"), "line1\n", 0644);
    put(P("patch.txt"), "0123456789", 0644);
    put(P("todelete.txt"), "delete me\n", 0644);
    put(P("renameme.txt"), "rename me\n", 0644);
    put(P("over.txt"), "over\n", 0644);
    put(P("target.txt"), "target\n", 0644);
    put(P("mode.txt"), "mode\n", 0644);
    put(P("trunc.txt"), "truncate me\n", 0644);
    put(P("exec.sh"), "#!/bin/sh\n", 0755);
    put(P("empty"), "", 0644);
    mk(P("dir"));
    put(P("dir/sub.txt"), "sub\n", 0644);
    put(P("dir/sub2.txt"), "sub2\n", 0600);
    mk(P("emptydir"));
    mk(P("deep"));
    mk(P("deep/a"));
    mk(P("deep/a/b"));
    put(P("deep/a/b/c.txt"), "deep\n", 0644);
    mk(P("movedir"));
    put(P("movedir/x.txt"), "x\n", 0644);
    mk(P("movedir/inner"));
    put(P("movedir/inner/y.txt"), "y\n", 0644);
    if (symlink("file.txt", P("link")) < 0 && errno != EEXIST) return 2;
    /* 3 pages and a bit, to check partial copy-up of bigger files */
    char big[13000];
    for (size_t i = 0; i < sizeof big - 1; i++) big[i] = (char)('a' + i % 26);
    big[sizeof big - 1] = 0;
    put(P("big.txt"), big, 0644);
    put(P("seen.txt"), "seen\n", 0644);
    put(P("gone.txt"), "gone\n", 0644);
    return 0;
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *ftype(mode_t m)
{
    return S_ISREG(m) ? "reg" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "lnk" : "other";
}

/* One line per entry, sorted: name type mode [size fnv | -> target]. Recursive. */
static void tree(const char *rel, int depth)
{
    DIR *d = opendir(P(rel));
    if (!d) {
        printf("%*sopendir %s: %s\n", depth * 2, "", rel[0] ? rel : ".", errname(errno));
        return;
    }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmpstr);
    if (!n) printf("%*s(empty)\n", depth * 2, "");
    for (int i = 0; i < n; i++) {
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
        struct stat st;
        if (lstat(P(sub), &st) < 0) {
            printf("%*s%s: lstat %s\n", depth * 2, "", names[i], errname(errno));
            continue;
        }
        printf("%*s%s %s %04o", depth * 2, "", names[i], ftype(st.st_mode),
               (unsigned)(st.st_mode & 07777));
        if (S_ISREG(st.st_mode)) {
            char buf[16384];
            int fd = open(P(sub), O_RDONLY);
            ssize_t got = fd < 0 ? -1 : read(fd, buf, sizeof buf);
            if (fd >= 0) close(fd);
            printf(" size=%lld read=%zd fnv=%016llx", (long long)st.st_size, got,
                   (unsigned long long)(got < 0 ? 0 : fnv1a(buf, (size_t)got, FNV_INIT)));
        } else if (S_ISLNK(st.st_mode)) {
            char t[PATH_MAX];
            ssize_t l = readlink(P(sub), t, sizeof t - 1);
            printf(" -> %.*s", (int)(l < 0 ? 0 : l), t);
        }
        printf("\n");
        if (S_ISDIR(st.st_mode)) tree(sub, depth + 1);
        free(names[i]);
    }
}

static void cat(const char *rel)
{
    char buf[256];
    int fd = open(P(rel), O_RDONLY);
    if (fd < 0) {
        printf("cat %s: %s\n", rel, errname(errno));
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        printf("cat %s: read %s\n", rel, errname(errno));
        return;
    }
    buf[n] = 0;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\n') buf[i] = '|';
    printf("cat %s: [%s]\n", rel, buf);
}

static void st(const char *rel)
{
    struct stat s;
    if (lstat(P(rel), &s) < 0)
        printf("stat %s: %s\n", rel, errname(errno));
    else if (S_ISDIR(s.st_mode))
        printf("stat %s: dir %04o\n", rel, (unsigned)(s.st_mode & 07777));
    else
        printf("stat %s: %s %04o size=%lld\n", rel, ftype(s.st_mode),
               (unsigned)(s.st_mode & 07777), (long long)s.st_size);
}

static void ls(const char *rel)
{
    DIR *d = opendir(P(rel));
    if (!d) {
        printf("ls %s: %s\n", rel[0] ? rel : ".", errname(errno));
        return;
    }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmpstr);
    printf("ls %s:", rel[0] ? rel : ".");
    for (int i = 0; i < n; i++) printf(" %s", names[i]), free(names[i]);
    printf("\n");
}

/* Whether REL is a socket node (its mode depends on the umask: not printed). */
static void sockname(const char *rel)
{
    struct stat s;
    if (lstat(P(rel), &s) < 0)
        printf("stat %s: %s\n", rel, errname(errno));
    else
        printf("stat %s: %s\n", rel, S_ISSOCK(s.st_mode) ? "socket" : ftype(s.st_mode));
}

static void wr(const char *rel, int flags, const char *s)
{
    int fd = open(P(rel), flags, 0644);
    if (fd < 0) {
        printf("open %s: %s\n", rel, errname(errno));
        return;
    }
    ssize_t n = write(fd, s, strlen(s));
    printf("write %s: %zd\n", rel, n);
    close(fd);
}

#define DO(label, expr) OKAY(label, expr)

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--setup")) return setup(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: overlay PREFIX | overlay --setup DIR\n");
        return 2;
    }
    snprintf(prefix, sizeof prefix, "%s", argv[1]);
    size_t pl = strlen(prefix);
    while (pl > 0 && prefix[pl - 1] == '/') prefix[--pl] = 0;

    printf("== the image as found\n");
    tree("", 0);

    printf("== modify image files (copy-up)\n");
    cat("file.txt");
    wr("file.txt", O_WRONLY | O_TRUNC, "modified\n");
    cat("file.txt");
    st("file.txt");
    wr("append.txt", O_WRONLY | O_APPEND, "line2\n");
    cat("append.txt");
    int fd = open(P("patch.txt"), O_RDWR);
    SHOW("pwrite AB at 4", pwrite(fd, "AB", 2, 4));
    char buf[64] = {0};
    SHOW("pread back", pread(fd, buf, sizeof buf - 1, 0));
    printf("patch.txt via same fd: [%s]\n", buf);
    close(fd);
    cat("patch.txt");
    /* a page in the middle of a bigger file */
    fd = open(P("big.txt"), O_RDWR);
    SHOW("pwrite into big.txt at 5000", pwrite(fd, "XYZ", 3, 5000));
    close(fd);
    fd = open(P("big.txt"), O_RDONLY);
    memset(buf, 0, sizeof buf);
    pread(fd, buf, 8, 4998);
    printf("big.txt around 5000: [%s]\n", buf);
    pread(fd, buf, 4, 12995);
    buf[4] = 0;
    printf("big.txt tail: [%s]\n", buf);
    close(fd);
    st("big.txt");
    DO("truncate trunc.txt 3", truncate(P("trunc.txt"), 3));
    cat("trunc.txt");
    DO("truncate big.txt 5001", truncate(P("big.txt"), 5001));
    st("big.txt");
    DO("chmod mode.txt 0600", chmod(P("mode.txt"), 0600));
    st("mode.txt");
    cat("mode.txt");
    DO("chmod exec.sh 0700", chmod(P("exec.sh"), 0700));
    st("exec.sh");
    DO("chmod dir 0700", chmod(P("dir"), 0700));
    st("dir");
    DO("chmod dir 0755", chmod(P("dir"), 0755));
    struct timespec ts[2] = {{1111111111, 0}, {1222222222, 0}};
    DO("utimensat file.txt", utimensat(AT_FDCWD, P("file.txt"), ts, 0));
    struct stat s;
    stat(P("file.txt"), &s);
    printf("file.txt mtime: %lld\n", (long long)s.st_mtim.tv_sec);
    wr("empty", O_WRONLY | O_APPEND, "no longer empty\n");
    cat("empty");

    printf("== delete image files (whiteouts)\n");
    DO("unlink todelete.txt", unlink(P("todelete.txt")));
    st("todelete.txt");
    cat("todelete.txt");
    DO("unlink todelete.txt again", unlink(P("todelete.txt")));
    ls("");
    DO("access todelete.txt", access(P("todelete.txt"), F_OK));
    wr("todelete.txt", O_WRONLY | O_CREAT | O_EXCL, "new content\n");
    cat("todelete.txt");
    st("todelete.txt");
    ls("");
    /* deleting the new file must not bring the image's file back */
    DO("unlink the recreated todelete.txt", unlink(P("todelete.txt")));
    st("todelete.txt");
    cat("todelete.txt");
    wr("todelete.txt", O_WRONLY | O_CREAT | O_EXCL, "third\n");
    cat("todelete.txt");

    printf("== directories of the image\n");
    DO("rmdir dir (not empty)", rmdir(P("dir")));
    DO("unlink dir/sub.txt", unlink(P("dir/sub.txt")));
    ls("dir");
    DO("unlink dir/sub2.txt", unlink(P("dir/sub2.txt")));
    ls("dir");
    DO("rmdir dir", rmdir(P("dir")));
    st("dir");
    ls("dir");
    DO("mkdir dir", mkdir(P("dir"), 0755));
    ls("dir");
    st("dir/sub.txt");
    wr("dir/new.txt", O_WRONLY | O_CREAT, "new in dir\n");
    ls("dir");
    DO("rmdir emptydir", rmdir(P("emptydir")));
    st("emptydir");
    wr("emptydir", O_WRONLY | O_CREAT | O_EXCL, "now a file\n");
    st("emptydir");
    DO("mkdir over a file", mkdir(P("emptydir"), 0755));
    DO("unlink emptydir (file)", unlink(P("emptydir")));
    DO("mkdir emptydir again", mkdir(P("emptydir"), 0700));
    st("emptydir");
    DO("rmdir deep (not empty)", rmdir(P("deep")));
    wr("deep/a/b/c.txt", O_WRONLY | O_APPEND, "more\n");
    cat("deep/a/b/c.txt");
    st("deep");
    st("deep/a");
    ls("deep/a/b");
    wr("deep/a/new.txt", O_WRONLY | O_CREAT, "new deep\n");
    ls("deep/a");

    printf("== rename\n");
    DO("rename renameme.txt renamed.txt", rename(P("renameme.txt"), P("renamed.txt")));
    st("renameme.txt");
    cat("renamed.txt");
    DO("rename over.txt over target.txt", rename(P("over.txt"), P("target.txt")));
    st("over.txt");
    cat("target.txt");
    DO("rename renamed.txt back", rename(P("renamed.txt"), P("renameme.txt")));
    cat("renameme.txt");
    DO("rename image dir movedir moveddir", rename(P("movedir"), P("moveddir")));
    st("movedir");
    ls("moveddir");
    cat("moveddir/x.txt");
    cat("moveddir/inner/y.txt");
    DO("rename file into image dir", rename(P("trunc.txt"), P("moveddir/inner/trunc.txt")));
    ls("moveddir/inner");
    DO("mkdir movedir (old name)", mkdir(P("movedir"), 0755));
    ls("movedir");

    printf("== symlinks\n");
    char t[PATH_MAX];
    ssize_t l = readlink(P("link"), t, sizeof t - 1);
    printf("readlink link: %.*s\n", (int)(l < 0 ? 0 : l), t);
    cat("link");
    DO("unlink link", unlink(P("link")));
    DO("symlink link -> append.txt", symlink("append.txt", P("link")));
    l = readlink(P("link"), t, sizeof t - 1);
    printf("readlink link: %.*s\n", (int)(l < 0 ? 0 : l), t);
    cat("link");

    printf("== new files next to the image's\n");
    wr("brand-new.txt", O_WRONLY | O_CREAT | O_EXCL, "brand new\n");
    DO("mkdir newdir", mkdir(P("newdir"), 0755));
    wr("newdir/f", O_WRONLY | O_CREAT, "f\n");
    wr("file.txt", O_WRONLY | O_CREAT | O_EXCL, "should fail\n");

    printf("== names another process changes\n");
    /* Each looked up here first (uno then knows it is not in its writable layer), changed by
     * a child, looked up here again: the child's changes must show here at once. */
    cat("seen.txt");
    cat("gone.txt");
    st("unseen.txt");
    st("kid");
    st("kid/inside.txt");
    sockname("sock");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        wr("seen.txt", O_WRONLY | O_TRUNC, "changed by a child\n");
        DO("child: unlink gone.txt", unlink(P("gone.txt")));
        wr("unseen.txt.tmp", O_WRONLY | O_CREAT | O_EXCL, "made by a child\n");
        DO("child: rename unseen.txt.tmp unseen.txt", rename(P("unseen.txt.tmp"), P("unseen.txt")));
        DO("child: mkdir kid", mkdir(P("kid"), 0755));
        wr("kid/inside.txt", O_WRONLY | O_CREAT | O_EXCL, "inside\n");
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof a.sun_path, "%s", P("sock"));
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        DO("child: bind sock", bind(fd, (struct sockaddr *)&a, sizeof a));
        close(fd);
        fflush(stdout);
        _exit(0);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    printf("child status %d\n", status);
    cat("seen.txt");
    cat("gone.txt");
    cat("unseen.txt");
    st("kid");
    cat("kid/inside.txt");
    sockname("sock");
    DO("unlink sock", unlink(P("sock")));

    printf("== the tree at the end\n");
    tree("", 0);
    return 0;
}
