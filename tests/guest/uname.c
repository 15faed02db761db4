/* uname(2), plus a few process facts that must hold in uno and natively alike. */
#include "guest.h"
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

int main(void)
{
    struct utsname u;
    if (uname(&u) < 0) {
        printf("uname: %s\n", errname(errno));
        return 1;
    }
    printf("sysname=%s\n", u.sysname);
    printf("machine=%s\n", u.machine);
    CHECK("release starts with a digit", u.release[0] >= '0' && u.release[0] <= '9');
    CHECK("release is at least 3.2", strverscmp(u.release, "3.2") >= 0);
    CHECK("nodename non-empty", u.nodename[0] != 0);
    CHECK("version non-empty", u.version[0] != 0);
    CHECK("getpid > 0", getpid() > 0);
    CHECK("gettid == getpid (one thread)", gettid() == getpid());
    CHECK("getppid >= 0", getppid() >= 0);
    CHECK("getuid == geteuid", getuid() == geteuid());
    CHECK("getgid == getegid", getgid() == getegid());
    struct rlimit rl;
    CHECK("getrlimit(RLIMIT_STACK)", getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur > 0);
    CHECK("getrlimit(RLIMIT_NOFILE) >= 64", getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= 64);
    struct sysinfo si;
    CHECK("sysinfo", sysinfo(&si) == 0 && si.totalram > 0 && si.mem_unit > 0);
    CHECK("sysconf(_SC_PAGESIZE) == 4096", sysconf(_SC_PAGESIZE) == 4096);
    CHECK("sysconf(_SC_NPROCESSORS_ONLN) >= 1", sysconf(_SC_NPROCESSORS_ONLN) >= 1);
    long hz = sysconf(_SC_CLK_TCK);
    CHECK("sysconf(_SC_CLK_TCK) == 100", hz == 100);
    CHECK("isatty(1) is false (stdout is a pipe)", !isatty(1));
    return guest_failures ? 1 : 0;
}
