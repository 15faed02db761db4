/* The header at the very start of the libOS image: how the VMM finds our entry points,
 * exception stubs and stacks (abi/uno_abi.h, struct uno_libos_header). */
#include "libos/types.h"
#include "../../../abi/uno_abi.h"

extern char libos_start[], syscall_entry[], exc_table[], boot_stack_top[], exc_stack_top[],
    bp_gate[], upcall_entry[], kstack_top[], cpu0_block[];

__attribute__((section(".libos_header"), used)) const struct uno_libos_header libos_header = {
    .magic = UNO_LIBOS_MAGIC,
    .abi_version = UNO_ABI_VERSION,
    .exc_stride = 16, /* EXC_STRIDE in entry.S */
    .entry = (u64)libos_start,
    .syscall_entry = (u64)syscall_entry,
    .exc_table = (u64)exc_table,
    .boot_stack_top = (u64)boot_stack_top,
    .exc_stack_top = (u64)exc_stack_top,
    .bp_gate = (u64)bp_gate,
    .upcall_entry = (u64)upcall_entry,
    .upcall_stack = (u64)kstack_top,
    .vcpu0 = (u64)cpu0_block, /* struct cpu begins with its struct uno_vcpu */
};
