/* Formatted output into buffers (lib/fmt.c): the libOS's only printf. */
#ifndef LIBOS_FMT_H
#define LIBOS_FMT_H
#include <stdarg.h>
#include <stddef.h>
int vsnprintf_l(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf_l(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif
