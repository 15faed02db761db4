/* Basic freestanding types for the libOS. */
#ifndef LIBOS_TYPES_H
#define LIBOS_TYPES_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef int64_t ssize_t_l;
typedef uint64_t u64;
typedef uint32_t u32;
typedef uint16_t u16;
typedef short i16;
typedef uint8_t u8;
typedef int64_t i64;
typedef int32_t i32;

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define UNUSED __attribute__((unused))
#define NORETURN __attribute__((noreturn))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#endif
