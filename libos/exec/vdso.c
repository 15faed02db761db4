/* Mapping the vDSO into a new program (libos/vdso/vdso.c is the code it runs): a read-only
 * data page with the clock parameters, then the vDSO's own pages, read-only and executable,
 * at a random place in the mmap area as Linux puts them. Both are private copies (two
 * pages): the libOS's own pages must never be handed to the app. */
#include "exec.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "vdso/vdso_data.h"

extern const u8 vdso_image[], vdso_image_end[];

struct vdso_fill {
    u64 data_pa; /* the data page, filled first */
};

static u64 vdso_page(void *ctx, u64 i)
{
    struct vdso_fill *f = ctx;
    u64 pa = frame_alloc();
    if (!pa)
        return PA_FAIL;
    if (i == 0) {
        f->data_pa = pa;
        return pa;
    }
    u64 off = (i - 1) * PAGE_SIZE, size = (u64)(vdso_image_end - vdso_image);
    memcpy(phys_to_virt(pa), vdso_image + off, MIN(PAGE_SIZE, size - off));
    return pa;
}

static void fill_data(struct vdso_data *d)
{
    d->tsc_base = bootinfo->tsc_base;
    d->mono_base = bootinfo->mono_ns;
    d->wall_base = bootinfo->wall_ns;
    d->mult = bootinfo->tsc_mult;
    d->shift = bootinfo->tsc_shift;
}

u64 vdso_map(u64 hint)
{
    u64 text = ALIGN_UP((u64)(vdso_image_end - vdso_image), PAGE_SIZE) / PAGE_SIZE;
    u64 at = vma_find_free((1 + text) * PAGE_SIZE, hint);
    if (!at)
        return 0;
    struct vdso_fill f = {0};
    /* The libOS fills the pages through its direct map; the app sees them read-only. */
    if (pt_map(at, 1 + text, prot_to_pte(PROT_READ), vdso_page, &f))
        return 0;
    fill_data(phys_to_virt(f.data_pa));
    pt_protect(at + PAGE_SIZE, text, prot_to_pte(PROT_READ | PROT_EXEC), true);
    if (vma_add(at, at + PAGE_SIZE, PROT_READ, MAP_PRIVATE, VMA_ANON, 0, "[vvar]") ||
        vma_add(at + PAGE_SIZE, at + (1 + text) * PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE,
                VMA_ANON, 0, "[vdso]")) {
        vma_remove(at, at + (1 + text) * PAGE_SIZE);
        return 0;
    }
    return at + PAGE_SIZE;
}
