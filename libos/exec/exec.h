#ifndef EXEC_EXEC_H
#define EXEC_EXEC_H
#include "libos/types.h"
#include "arch/x86_64/regs.h"

/* Load the program at `path` with argv/envp (libOS memory, NULL-terminated arrays) into a
 * fresh address space and fill `frame` to enter it. On error nothing of the old address
 * space has been touched if the error is in the file itself (-ENOENT, -EACCES, -ENOEXEC). */
int exec_load(const char *path, char *const argv[], char *const envp[], struct regs *frame);
/* vdso.c: map the vDSO (and its data page) near hint; the vDSO's address, 0 on failure. */
u64 vdso_map(u64 hint);
extern bool exec_committed; /* an error after this was set leaves nothing to return to */
#define MAX_ARG_STRLEN (32 * 4096)
#define MAX_ARGS_BYTES (2u << 20)

#endif
