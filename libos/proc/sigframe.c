/* The frame a signal handler runs on, laid out exactly as Linux x86-64 builds it
 * (struct rt_sigframe: return address, ucontext, siginfo, then the FPU state), so
 * programs that read their ucontext (or unwind through it) see what they expect, and
 * rt_sigreturn, which restores everything from it.
 *
 * The libOS never touches the FPU/SSE/AVX registers (-mgeneral-regs-only), so at any entry
 * they still hold the app's state: xsave puts it in the frame, xrstor brings it back. */
#include "signal.h"
#include "proc.h"
#include "arch/x86_64/platform.h"
#include "core/kernel.h"
#include "libos/string.h"
#include "mm/mm.h"
#include "sys/syscalls.h"

#define SS_ONSTACK 1
#define SS_DISABLE 2
#define UC_FP_XSTATE 0x1
#define UC_SIGCONTEXT_SS 0x2
#define FP_XSTATE_MAGIC1 0x46505853u
#define FP_XSTATE_MAGIC2 0x46505845u

struct k_sigcontext {
    u64 r8, r9, r10, r11, r12, r13, r14, r15;
    u64 rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
    u16 cs, gs, fs, ss;
    u64 err, trapno, oldmask, cr2;
    u64 fpstate;
    u64 reserved1[8];
};

struct k_ucontext {
    u64 uc_flags;
    u64 uc_link;
    struct altstack uc_stack;
    struct k_sigcontext uc_mcontext;
    u64 uc_sigmask;
};

struct rt_sigframe {
    u64 pretcode;
    struct k_ucontext uc;
    struct k_siginfo info;
};

/* The software-reserved bytes of the fxsave area that tell readers an xsave area follows. */
struct fpx_sw_bytes {
    u32 magic1, extended_size;
    u64 xfeatures;
    u32 xstate_size, padding[7];
};

static u32 xstate_size; /* bytes xsave writes for the features XCR0 enables */
static u64 xfeatures;

static void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

void sigframe_init(void)
{
    u32 a, b, c, d;
    cpuid(0xd, 0, &a, &b, &c, &d);
    xstate_size = b >= 576 ? b : 576;
    u32 lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xfeatures = ((u64)hi << 32) | lo;
}

static void xsave_to(void *area)
{
    __asm__ volatile("xsave64 (%0)" ::"r"(area), "a"((u32)xfeatures), "d"((u32)(xfeatures >> 32))
                     : "memory");
}

static void xrstor_from(const void *area)
{
    __asm__ volatile("xrstor64 (%0)" ::"r"(area), "a"((u32)xfeatures),
                     "d"((u32)(xfeatures >> 32))
                     : "memory");
}

/* An xsave area from the app: xrstor faults on a bad one, so check what it checks. */
static bool xstate_ok(const u8 *area)
{
    u32 mxcsr, mask;
    u64 bv, comp;
    memcpy(&mxcsr, area + 24, 4);
    memcpy(&mask, area + 28, 4);
    memcpy(&bv, area + 512, 8);
    memcpy(&comp, area + 520, 8);
    if (!mask)
        mask = 0xffbf;
    if (mxcsr & ~mask)
        return false;
    if ((bv & ~xfeatures) || comp)
        return false;
    for (int i = 528; i < 576; i++)
        if (area[i])
            return false;
    return true;
}

bool on_altstack(u64 sp)
{
    const struct altstack *a = &proc.altstack;
    return !(a->flags & SS_DISABLE) && a->size && sp > a->sp && sp <= a->sp + a->size;
}

int sigframe_setup(struct regs *r, int sig, const struct k_siginfo *info, u64 handler,
                   u64 flags, u64 restorer, u64 oldmask)
{
    u64 sp = r->rsp;
    bool was_on = on_altstack(sp);
    if ((flags & SA_ONSTACK) && !(proc.altstack.flags & SS_DISABLE) && proc.altstack.size &&
        !was_on)
        sp = proc.altstack.sp + proc.altstack.size;
    else
        sp -= 128; /* the red zone */
    u64 fp = (sp - xstate_size - 4) & ~63ull;
    u64 frame = ((fp - sizeof(struct rt_sigframe)) & ~15ull) - 8;
    if (!(flags & SA_RESTORER) || !user_ok((void *)frame, fp + xstate_size + 4 - frame,
                                            PROT_READ | PROT_WRITE))
        return -EFAULT;

    u8 *area = (u8 *)fp;
    memset(area + 512, 0, 64); /* xsave reads the header's reserved bytes as zero */
    xsave_to(area);
    struct fpx_sw_bytes sw = {.magic1 = FP_XSTATE_MAGIC1, .extended_size = xstate_size + 4,
                              .xfeatures = xfeatures, .xstate_size = xstate_size};
    memcpy(area + 464, &sw, sizeof sw);
    u32 m2 = FP_XSTATE_MAGIC2;
    memcpy(area + xstate_size, &m2, 4);

    struct rt_sigframe *f = (struct rt_sigframe *)frame;
    memset(f, 0, sizeof *f);
    f->pretcode = restorer;
    f->uc.uc_flags = UC_FP_XSTATE | UC_SIGCONTEXT_SS;
    f->uc.uc_stack = proc.altstack;
    f->uc.uc_stack.flags = was_on ? SS_ONSTACK : proc.altstack.flags;
    struct k_sigcontext *c = &f->uc.uc_mcontext;
    c->r8 = r->r8; c->r9 = r->r9; c->r10 = r->r10; c->r11 = r->r11;
    c->r12 = r->r12; c->r13 = r->r13; c->r14 = r->r14; c->r15 = r->r15;
    c->rdi = r->rdi; c->rsi = r->rsi; c->rbp = r->rbp; c->rbx = r->rbx;
    c->rdx = r->rdx; c->rax = r->rax; c->rcx = r->rcx; c->rsp = r->rsp;
    c->rip = r->rip; c->eflags = r->rflags;
    c->cs = UNO_SEL_UCODE;
    c->ss = UNO_SEL_UDATA;
    c->err = r->vector == (u64)-1 ? 0 : r->error;
    c->trapno = r->vector == (u64)-1 ? 0 : r->vector;
    c->oldmask = oldmask;
    c->cr2 = info->si_signo == SIGSEGV || info->si_signo == SIGBUS ? info->fault.addr : 0;
    c->fpstate = fp;
    f->uc.uc_sigmask = oldmask;
    f->info = *info;
    f->info.si_signo = sig;

    r->rdi = (u64)sig;
    r->rsi = (u64)&f->info;
    r->rdx = (u64)&f->uc;
    r->rax = 0;
    r->rsp = frame;
    r->rip = handler;
    r->rflags &= ~(0x100ull | 0x400ull | 0x40000ull); /* TF, DF, AC */
    return 0;
}

/* rt_sigreturn: the handler returned into its restorer, which made this call with rsp just
 * past the return address, i.e. at the frame's ucontext. */
int sigframe_restore(struct regs *r, u64 *mask)
{
    struct rt_sigframe *f = (struct rt_sigframe *)(r->rsp - 8);
    if (!user_ok(f, sizeof *f, PROT_READ))
        return -EFAULT;
    const struct k_sigcontext *c = &f->uc.uc_mcontext;
    if (c->rip >= 0x800000000000ull || c->rsp >= 0x800000000000ull)
        return -EFAULT;
    if (c->fpstate) {
        if ((c->fpstate & 63) || !user_ok((void *)c->fpstate, xstate_size, PROT_READ) ||
            !xstate_ok((const u8 *)c->fpstate))
            return -EFAULT;
        xrstor_from((const void *)c->fpstate);
    }
    r->r8 = c->r8; r->r9 = c->r9; r->r10 = c->r10; r->r11 = c->r11;
    r->r12 = c->r12; r->r13 = c->r13; r->r14 = c->r14; r->r15 = c->r15;
    r->rdi = c->rdi; r->rsi = c->rsi; r->rbp = c->rbp; r->rbx = c->rbx;
    r->rdx = c->rdx; r->rax = c->rax; r->rcx = c->rcx; r->rsp = c->rsp;
    r->rip = c->rip;
    /* The app may change the arithmetic flags, not IOPL, IF or the like. */
    r->rflags = (r->rflags & ~0x0dd5ull) | (c->eflags & 0x0dd5ull);
    r->rflags |= 0x202;
    *mask = f->uc.uc_sigmask;
    return 0;
}

/* rt_sigreturn never returns through the ordinary syscall path: every register is the
 * interrupted code's, rcx and r11 included (see table.c). */
i64 sys_rt_sigreturn(void) { return 0; }
