/* A small first-fit heap for variable-sized libOS buffers (directory listings, generated
 * /proc files). Backed by one contiguous range of guest RAM reserved at boot. */
#ifndef CORE_KHEAP_H
#define CORE_KHEAP_H
#include "libos/types.h"
void kheap_init(void *base, u64 size);
void kheap_add(void *base, u64 size); /* one more region, used when the others are full */
void *kmalloc(u64 size);   /* NULL when out of memory; 16-byte aligned */
void kfree(void *p);
#endif
