/* argv and exit statuses.
 *   args [ARGS...]            prints argc, the basename of argv[0] and each argument
 *                             (length and bytes, non-printable ones escaped); status 0
 *   args --exit N             exit(N)
 *   args --return N           return N from main
 *   args --_exit N            _exit(N) (no stdio flush: prints nothing before)
 *   args --exit-flush N       prints a line without newline, then exit(N): stdio must flush */
#include "guest.h"
#include <unistd.h>

static void show_arg(int i, const char *s)
{
    printf("argv[%d] len=%zu \"", i, strlen(s));
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x20 && *p < 0x7f && *p != '\\' && *p != '"')
            putchar(*p);
        else
            printf("\\x%02x", *p);
    }
    printf("\"\n");
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--exit") == 0) exit(atoi(argv[2]));
    if (argc == 3 && strcmp(argv[1], "--return") == 0) return atoi(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--_exit") == 0) _exit(atoi(argv[2]));
    if (argc == 3 && strcmp(argv[1], "--exit-flush") == 0) {
        printf("flushed at exit");
        exit(atoi(argv[2]));
    }
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    printf("argc=%d\n", argc);
    printf("argv[0] basename=%s absolute=%s\n", base, yesno(argv[0][0] == '/'));
    for (int i = 1; i < argc; i++) show_arg(i, argv[i]);
    printf("argv[argc] is NULL: %s\n", yesno(argv[argc] == NULL));
    return 0;
}
