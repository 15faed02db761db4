/* Writes argv[1] (default 2000) short lines with one write(2) each: console output must
 * reach the host without an exit per write (tests/ts/vmm.test.ts counts the exits). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    char buf[64];
    for (int i = 0; i < n; i++) {
        int len = snprintf(buf, sizeof buf, "line %d\n", i);
        if (write(1, buf, (size_t)len) != len)
            return 1;
    }
    return 0;
}
