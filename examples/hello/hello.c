/* The bundled example: a static program that shows where it runs. Built by `make` into
 * build/examples/hello and run with `bin/uno run build/examples/hello`. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static long meminfo_kb(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, strlen(key)))
            sscanf(line + strlen(key), ": %ld", &v);
    if (f)
        fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    struct utsname u;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uname(&u);
    printf("Hello from uno!\n");
    printf("  kernel    %s %s (%s)\n", u.sysname, u.release, u.machine);
    printf("  hostname  %s\n", u.nodename);
    printf("  pid       %d\n", (int)getpid());
    printf("  memory    %ld MiB\n", meminfo_kb("MemTotal") / 1024);
    printf("  args     ");
    for (int i = 1; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n");
    FILE *f = fopen("/tmp/greeting", "w+");
    char back[64] = "";
    if (f && fputs("written to the writable layer", f) >= 0 && !fseek(f, 0, SEEK_SET))
        fgets(back, sizeof back, f);
    printf("  /tmp      %s\n", back[0] ? back : "(not writable)");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("  took      %.1f us\n", (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3);
    return 0;
}
