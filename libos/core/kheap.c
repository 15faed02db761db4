/* First-fit allocator over a free list sorted by address, coalescing on free. */
#include "kheap.h"
#include "kernel.h"

struct chunk {
    u64 size;             /* bytes including this header */
    struct chunk *next;   /* free list only */
};

static struct chunk *free_list;

void kheap_init(void *base, u64 size)
{
    free_list = base;
    free_list->size = size & ~15ull;
    free_list->next = NULL;
}

static void *reserve;
static u64 reserve_size;

/* The extra region is only written (so only backed by the host) once it is needed. */
void kheap_add(void *base, u64 size)
{
    reserve = base;
    reserve_size = size & ~15ull;
}

static bool take_reserve(void)
{
    if (!reserve)
        return false;
    struct chunk *c = reserve;
    c->size = reserve_size;
    reserve = NULL;
    kfree((u8 *)c + 16);
    return true;
}

static void *alloc(u64 size);

void *kmalloc(u64 size)
{
    void *p = alloc(size);
    if (!p && take_reserve())
        p = alloc(size);
    return p;
}

static void *alloc(u64 size)
{
    u64 need = ALIGN_UP(size + 16, 16);
    struct chunk **pp = &free_list;
    for (struct chunk *c = *pp; c; pp = &c->next, c = c->next) {
        if (c->size < need)
            continue;
        if (c->size - need >= 64) {
            struct chunk *rest = (struct chunk *)((u8 *)c + need);
            rest->size = c->size - need;
            rest->next = c->next;
            *pp = rest;
            c->size = need;
        } else {
            *pp = c->next;
        }
        return (u8 *)c + 16;
    }
    return NULL;
}

void kfree(void *p)
{
    if (!p)
        return;
    struct chunk *c = (struct chunk *)((u8 *)p - 16);
    struct chunk **pp = &free_list;
    while (*pp && *pp < c)
        pp = &(*pp)->next;
    c->next = *pp;
    *pp = c;
    if (c->next && (u8 *)c + c->size == (u8 *)c->next) {
        c->size += c->next->size;
        c->next = c->next->next;
    }
    /* merge with the previous chunk */
    if (pp != &free_list) {
        struct chunk *prev = (struct chunk *)((u8 *)pp - offsetof(struct chunk, next));
        if ((u8 *)prev + prev->size == (u8 *)c) {
            prev->size += c->size;
            prev->next = c->next;
        }
    }
}
