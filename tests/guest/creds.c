/* Credentials and prctl: a root process gives up its ids (setgroups, setresgid, setresuid,
 * setuid, setreuid, setfsuid) in a child, which then cannot take them back; getresuid,
 * getgroups, /proc/self/status; prctl's name, dumpable, no_new_privs and an unknown option.
 * Run as root (natively and in uno). Exits 1 if a CHECK failed. */
#include "guest.h"
#include <grp.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>

static void status_ids(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4) || !strncmp(line, "Groups:", 7))
            fputs(line, stdout);
    if (f)
        fclose(f);
}

int main(void)
{
    start_watchdog();
    section("ids");
    printf("root: %s\n", yesno(getuid() == 0 && geteuid() == 0));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        gid_t gs[2] = {44, 45};
        OKAY("setgroups", setgroups(2, gs));
        gid_t back[4];
        int ng = getgroups(4, back);
        printf("getgroups: %d %d %d\n", ng, (int)back[0], (int)back[1]);
        SHOW("getgroups with too little room", getgroups(1, back));
        OKAY("setresgid(100, 101, 102)", setresgid(100, 101, 102));
        OKAY("setresuid(1000, 1001, 1002)", setresuid(1000, 1001, 1002));
        uid_t r, e, s;
        getresuid(&r, &e, &s);
        printf("getresuid: %u %u %u\n", r, e, s);
        gid_t gr, ge, gsv;
        getresgid(&gr, &ge, &gsv);
        printf("getresgid: %u %u %u\n", gr, ge, gsv);
        status_ids();
        OKAY("seteuid to the saved uid", seteuid(1002));
        SHOW("setuid(0) without privilege", setuid(0));
        SHOW("setgroups without privilege", setgroups(0, NULL));
        OKAY("setreuid(-1, 1000)", setreuid((uid_t)-1, 1000));
        getresuid(&r, &e, &s);
        printf("getresuid: %u %u %u\n", r, e, s);
        int old = setfsuid(5);
        int now = setfsuid(1000);
        printf("setfsuid(5) answers the old: %d, then: %d\n", old, now);
        OKAY("setuid to the real uid", setuid(1000));
        getresuid(&r, &e, &s);
        printf("getresuid: %u %u %u\n", r, e, s);
        fflush(stdout);
        _exit(guest_failures);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    printf("child status: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 99);
    printf("the parent is still root: %s\n", yesno(getuid() == 0 && geteuid() == 0));

    section("prctl");
    OKAY("PR_SET_NAME", prctl(PR_SET_NAME, "a-very-long-thread-name", 0, 0, 0));
    char name[32] = {0};
    OKAY("PR_GET_NAME", prctl(PR_GET_NAME, name, 0, 0, 0));
    printf("name: %s\n", name);
    FILE *f = fopen("/proc/self/comm", "r");
    char comm[32] = {0};
    if (f && fgets(comm, sizeof comm, f))
        printf("/proc/self/comm: %s", comm);
    if (f)
        fclose(f);
    SHOW("PR_GET_DUMPABLE", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
    OKAY("PR_SET_DUMPABLE 0", prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
    SHOW("PR_GET_DUMPABLE", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
    SHOW("PR_SET_DUMPABLE 7", prctl(PR_SET_DUMPABLE, 7, 0, 0, 0));
    OKAY("PR_SET_NO_NEW_PRIVS", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    SHOW("PR_GET_NO_NEW_PRIVS", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    SHOW("PR_GET_SECCOMP", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
    SHOW("an unknown option", prctl(12345, 0, 0, 0, 0));
    printf("failures: %d\n", guest_failures);
    return guest_failures != 0;
}
