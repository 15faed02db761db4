/* stdin: reads all of stdin (in reads of growing sizes) and prints its length, line count
 * and FNV-1a checksum. */
#include "guest.h"
#include <unistd.h>

int main(void)
{
    static char buf[1 << 16];
    uint64_t h = FNV_INIT;
    size_t total = 0, lines = 0, calls = 0, sz = 1;
    for (;;) {
        ssize_t n = read(0, buf, sz);
        if (n < 0) {
            printf("read error: %s\n", errname(errno));
            return 1;
        }
        if (n == 0) break;
        calls++;
        h = fnv1a(buf, (size_t)n, h);
        total += (size_t)n;
        for (ssize_t i = 0; i < n; i++) lines += buf[i] == '\n';
        sz = sz * 2 > sizeof buf ? sizeof buf : sz * 2 + 1;
        if (sz > sizeof buf) sz = sizeof buf;
    }
    printf("bytes=%zu lines=%zu fnv=%016llx\n", total, lines, (unsigned long long)h);
    ssize_t again = read(0, buf, 10);
    printf("read after EOF: %zd\n", again);
    return 0;
}
