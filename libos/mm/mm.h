/* Memory: physical frames (frame.c), page tables (pagetable.c), the app's address space as
 * a list of areas (vma.c), and the mmap family of syscalls (mmap.c). */
#ifndef MM_MM_H
#define MM_MM_H
#include "libos/types.h"
#include "arch/x86_64/platform.h"

#define PAGE_SIZE 4096ull
#define PAGE_MASK (~(PAGE_SIZE - 1))

/* Linux PROT_ and MAP_ values. */
#define PROT_READ 0x1
#define PROT_WRITE 0x2
#define PROT_EXEC 0x4
#define MAP_SHARED 0x01
#define MAP_PRIVATE 0x02
#define MAP_SHARED_VALIDATE 0x03
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_GROWSDOWN 0x0100
#define MAP_DENYWRITE 0x0800
#define MAP_EXECUTABLE 0x1000
#define MAP_LOCKED 0x2000
#define MAP_NORESERVE 0x4000
#define MAP_POPULATE 0x8000
#define MAP_NONBLOCK 0x10000
#define MAP_STACK 0x20000
#define MAP_HUGETLB 0x40000
#define MAP_FIXED_NOREPLACE 0x100000
/* In struct vma's flags only: a shared file mapping whose file is open for writing, so
 * mprotect may add PROT_WRITE (Linux's VM_MAYWRITE). */
#define VMA_F_MAYWRITE 0x40000000
/* In struct vma's flags only: pages may be absent, filled on first touch (lazy.c). */
#define VMA_F_LAZY 0x20000000

/* User address space bounds (47-bit, as Linux x86-64 without 5-level paging). */
#define USER_MIN 0x10000ull
#define USER_TOP 0x7ffffffff000ull
#define STACK_TOP 0x7ffffffde000ull
#define STACK_SIZE (8ull << 20)
#define MMAP_TOP (STACK_TOP - STACK_SIZE - (1ull << 30))
#define PIE_BASE 0x555555554000ull

/* frame.c */
void frame_init(u64 start, u64 end);
u64 frame_alloc(void);            /* zeroed 4 KiB frame (GPA), 0 when out of memory */
u64 frame_alloc_table(void);      /* the same, for a page-table page */
void frame_free(u64 pa);
u64 frame_alloc_block(u64 n);     /* n contiguous zeroed frames, aligned to n; 0 if none */
u64 frame_free_count(void);
u64 frame_total(void);
void frame_discard_free_tail(void); /* exec: give the free top of RAM back to the host */

/* pagetable.c */
#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_U 0x4ull
#define PTE_PS 0x80ull
#define PTE_NX (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull
u64 prot_to_pte(int prot);
/* Map n pages at va; page i gets frame pa_of(ctx, i) (0: allocate a zeroed frame).
 * Returns 0 or -ENOMEM (then nothing new stays mapped). */
typedef u64 (*pa_fn)(void *ctx, u64 i); /* 0: a fresh frame; PA_FAIL: out of memory */
#define PA_FAIL (~0ull)
#define PA_NONE (~1ull) /* leave the page unmapped */
int pt_map(u64 va, u64 n, u64 pte_flags, pa_fn pa_of, void *ctx);
/* Unmap pages; frames in RAM are freed, image pages are not. */
void pt_unmap(u64 va, u64 n);
/* Set the flags of mapped pages; pages without a frame get a zeroed one when the new flags
 * make them accessible and `fill` says so (not in a lazy area), and image pages get a private copy when they become writable. */
int pt_protect(u64 va, u64 n, u64 pte_flags, bool fill);
/* Move n pages' frames from old to new (mremap), leaving old unmapped. */
int pt_move(u64 old, u64 new, u64 n);
u64 pt_lookup(u64 va); /* the PTE, 0 if none */
int pt_make_private(u64 va); /* this process's own frame at va (copy of an image page) */
bool pt_private_frame(u64 va); /* va's frame is this process's own RAM (not the image's) */

/* vma.c */
enum vma_kind { VMA_ANON, VMA_FILE, VMA_STACK, VMA_HEAP, VMA_ELF, VMA_SHARED };

/* shared.c: MAP_SHARED|MAP_ANONYMOUS memory in the region that stays shared across fork. */
void shared_init(void);
u64 shared_upper_gen(void); /* abi: uno_shared_hdr.upper_gen */
bool shared_page(u64 pa);
u64 shared_alloc(void);
void shared_get(u64 pa);
void shared_put(u64 pa);
i64 mm_mmap_shared_anon(u64 addr, u64 len, int prot, int flags);
void shared_fork(void);
void shared_fork_failed(void);
void shared_exit(void);
u32 *shared_word_alloc(u32 init); /* NULL when the region is full */
void shared_word_get(u32 *word);
void shared_word_put(u32 *word);
/* filemap.c: MAP_SHARED file mappings, host files mapped by the VMM (UNO_OP_FMAP). */
struct file;
bool filemap_page(u64 pa);
void filemap_get(u64 pa);
void filemap_put(u64 pa);
i64 filemap_map(u64 addr, u64 len, int prot, struct file *f, u64 off, u64 file_size);
int filemap_sync(u64 addr, u64 len);

struct vma {
    u64 start, end;
    int prot, flags;
    u8 kind;
    u64 off;          /* file offset of start */
    char name[64];    /* for /proc/self/maps */
    struct file *file; /* a private file mapping's file (a reference): MADV_DONTNEED refills */
};
#define MAX_VMAS 1024
struct vma *vma_find(u64 addr);                 /* area containing addr */
int vma_add(u64 start, u64 end, int prot, int flags, u8 kind, u64 off, const char *name);
/* The same, holding a reference to `file` (may be NULL) for as long as any part is mapped. */
int vma_add_file(u64 start, u64 end, int prot, int flags, u8 kind, u64 off, const char *name,
                 struct file *file);
void vma_remove(u64 start, u64 end);            /* split/trim areas; unmap their pages */
int vma_protect(u64 start, u64 end, int prot);  /* -ENOMEM if a hole; PTEs too */
u64 vma_find_free(u64 len, u64 hint);           /* top-down below MMAP_TOP, 0 if none */
u64 vma_find_free_near(u64 len, u64 addr, u64 dist); /* within dist of addr, 0 if none */
bool vma_range_free(u64 start, u64 end);
int vma_count(void);
struct vma *vma_at(int i);
void vma_reset(void);

/* uaccess: check that [p, p+len) is mapped with the access wanted. */
bool user_ok(const void *p, u64 len, int prot);
bool user_str_ok(const char *s, u64 max, u64 *len_out);
/* The only ways the libOS touches the app's memory through the app's addresses: each checks
 * the range against the address space, then opens user access just for the copy (SMAP on the
 * native backend). 0 or -EFAULT. */
int copy_to_user(void *dst, const void *src, u64 n);
int copy_from_user(void *dst, const void *src, u64 n);
/* A NUL-terminated string of at most max-1 bytes: its length, -EFAULT, or -ENAMETOOLONG. */
i64 strncpy_from_user(char *dst, const char *src, u64 max);
/* Run an operation that reads or writes app memory itself (a file read into the app's
 * buffer, a directory listing): the caller has checked the range. */
#define WITH_USER_ACCESS(expr)                                                                  \
    ({                                                                                          \
        platform_user_access_begin();                                                           \
        __typeof__(expr) _r = (expr);                                                           \
        platform_user_access_end();                                                             \
        _r;                                                                                     \
    })

/* lazy.c: anonymous memory filled on first touch (thread stacks, MAP_NORESERVE). */
bool mm_lazy_choice(int flags);
int mm_fill(const struct vma *v, u64 start, u64 end);
int mm_fault_in(u64 addr, bool write, bool exec);
/* mmap.c */
void mm_init(u64 brk_start);
i64 mm_mmap_anon(u64 addr, u64 len, int prot, int flags, u8 kind, const char *name);
extern u64 mm_brk_start, mm_brk_cur;

/* userio.c: the guest-physical segments of a user buffer (faulted in, and made this
 * process's own for writing), at most max; how many (fewer cover less: a short transfer). */
struct uno_iov;
int user_io_list(u64 va, u64 len, bool write, struct uno_iov *out, int max);

#endif
