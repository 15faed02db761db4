/* The environment: `env NAME...` prints NAME=VALUE (or "NAME unset") for each NAME, then
 * checks that environ and getenv agree and that every entry has an '='. */
#include "guest.h"
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *v = getenv(argv[i]);
        if (v)
            printf("%s=[%s] len=%zu\n", argv[i], v, strlen(v));
        else
            printf("%s unset\n", argv[i]);
    }
    int n = 0, all_have_eq = 1, agree = 1;
    for (char **e = environ; *e; e++, n++) {
        const char *eq = strchr(*e, '=');
        if (!eq) {
            all_have_eq = 0;
            continue;
        }
        char name[256];
        size_t len = (size_t)(eq - *e);
        if (len >= sizeof name) continue;
        memcpy(name, *e, len);
        name[len] = 0;
        const char *v = getenv(name);
        if (!v || strcmp(v, eq + 1) != 0) agree = 0;
    }
    CHECK("environ non-empty", n > 0);
    CHECK("every entry has '='", all_have_eq);
    CHECK("getenv agrees with environ", agree);
    /* setenv/unsetenv work on the process's own copy. */
    setenv("GUEST_NEW", "set-in-guest", 1);
    printf("after setenv: %s\n", getenv("GUEST_NEW"));
    unsetenv("GUEST_NEW");
    printf("after unsetenv: %s\n", getenv("GUEST_NEW") ? "still set" : "unset");
    return guest_failures ? 1 : 0;
}
