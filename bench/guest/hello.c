/* Boot benchmark payload: the smallest honest "hello". It writes straight to fd 1 with
 * write(2) (no stdio buffering), so the first byte the driver sees on its pipe is the
 * program's first output, not an exit-time flush. Same source built with musl and glibc. */
#include <unistd.h>

int main(void)
{
    static const char msg[] = "hello\n";
    return write(1, msg, sizeof msg - 1) == (ssize_t)(sizeof msg - 1) ? 0 : 1;
}
