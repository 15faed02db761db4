/* The DNS servers a guest's generated /etc/resolv.conf names (libos/fs/etc.c): the host's,
 * minus loopback addresses. A loopback server (systemd-resolved's 127.0.0.53, a local
 * dnsmasq) is the host's own and cannot be reached from the guest, whose loopback is the
 * instance's; then the servers systemd-resolved itself uses are taken, as docker does. No
 * usable server: none at all, and the guest's resolver fails rather than asking the wrong
 * machine. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "vmm.h"

#define MAX_NS 3 /* what glibc's resolver reads (MAXNS) */

static bool is_loopback(const char *addr)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, addr, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) ||
               (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return true; /* not an address (a zone suffix, garbage): not usable either */
}

/* Append the usable "nameserver" addresses of `file` to out; returns how many. */
static int read_servers(const char *file, char *out, size_t size)
{
    FILE *f = fopen(file, "re");
    if (!f)
        return 0;
    char line[256], addr[64];
    int n = 0;
    while (n < MAX_NS && fgets(line, sizeof line, f)) {
        if (sscanf(line, " nameserver %63s", addr) != 1 || is_loopback(addr))
            continue;
        size_t used = strlen(out), al = strlen(addr);
        if (used + al + 2 > size)
            break;
        if (used)
            out[used++] = ' ';
        memcpy(out + used, addr, al + 1);
        n++;
    }
    fclose(f);
    return n;
}

void resolv_host_servers(char *out, size_t size)
{
    out[0] = 0;
    if (!read_servers("/etc/resolv.conf", out, size))
        read_servers("/run/systemd/resolve/resolv.conf", out, size);
}
