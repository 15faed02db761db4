# Host tests of the VMM's guest-input boundary (vmm/ring.c ring_decode/ring_serve,
# vmm/hostops.c hostop_exec) and of the libOS ELF parser (libos/exec/elf.c), with
# sanitizers, plus libFuzzer targets. Use from the repository root:
#   make -f tests/unit/vmm.mk ring-test   # ASan+UBSan unit test of the hostio ring boundary
#   make -f tests/unit/vmm.mk elf-test    # ASan+UBSan unit test of elf_parse (gcc, musl-gcc)
#   make -f tests/unit/vmm.mk ring-fuzz   # libFuzzer, RING_FUZZ_TIME seconds (default 20)
#   make -f tests/unit/vmm.mk elf-fuzz    # libFuzzer, ELF_FUZZ_TIME seconds (default 20)
# or `include tests/unit/vmm.mk` from the top Makefile. Everything goes to build/unit/.
# Including this file does not change the including Makefile's default goal.

VMMT_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

VMMT_BUILD ?= build/unit
VMMT_CC ?= cc
VMMT_FUZZ_CC ?= clang
RING_FUZZ_TIME ?= 20
ELF_FUZZ_TIME ?= 20
VMMT_WARN := -Wall -Wextra -Werror
VMMT_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g
VMMT_FUZZ_SAN := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1 \
	-Wno-gnu-variable-sized-type-not-at-end
VMMT_RUN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# The VMM side: the same language mode as the VMM build, -Ivmm so tests say "vmm.h".
RING_CFLAGS := -std=gnu11 $(VMMT_WARN) -Iabi -Ivmm -pthread
RING_SRC := vmm/ring.c vmm/hostops.c vmm/net.c vmm/netcfg.c vmm/epoll.c vmm/filemap.c vmm/lock.c \
	vmm/memory.c vmm/util.c vmm/proc.c vmm/block.c vmm/kvm.c vmm/vcpu.c vmm/sendq.c vmm/rxahead.c
RING_DEPS := $(RING_SRC) vmm/vmm.h vmm/net.h abi/uno_abi.h tests/unit/vmm.mk
# The libOS side is freestanding code; on the host it links against libc's mem*/str*.
ELF_CFLAGS := -std=c11 $(VMMT_WARN) -Ilibos/include -Ilibos
ELF_DEPS := libos/exec/elf.c libos/exec/elf.h libos/include/libos/types.h \
	libos/include/libos/errno.h libos/include/libos/string.h tests/unit/vmm.mk

ELF_BINS := $(VMMT_BUILD)/elf-bins
RING_SEEDS := $(VMMT_BUILD)/ring-seeds
RING_CORPUS := $(VMMT_BUILD)/ring-corpus
ELF_SEEDS := $(VMMT_BUILD)/elf-seeds
ELF_CORPUS := $(VMMT_BUILD)/elf-corpus

.PHONY: ring-test elf-test ring-fuzz elf-fuzz ring-fuzz-build elf-fuzz-build \
	ring-seeds elf-seeds elf-bins

# ---------------------------------------------------------------- hostio ring
$(VMMT_BUILD)/ring_test: tests/unit/ring_test.c $(RING_DEPS)
	@mkdir -p $(@D)
	$(VMMT_CC) $(RING_CFLAGS) $(VMMT_SAN) -o $@ tests/unit/ring_test.c $(RING_SRC)

ring-test: $(VMMT_BUILD)/ring_test
	$(VMMT_RUN_ENV) $(VMMT_BUILD)/ring_test </dev/null

$(VMMT_BUILD)/ring_fuzz: tests/unit/ring_fuzz.c $(RING_DEPS)
	@mkdir -p $(@D)
	$(VMMT_FUZZ_CC) $(RING_CFLAGS) $(VMMT_FUZZ_SAN) -o $@ tests/unit/ring_fuzz.c $(RING_SRC)

ring-fuzz-build: $(VMMT_BUILD)/ring_fuzz

# Seeds: well-formed request sequences (open/write/read/stat/getdents/rename/symlink/...,
# paths through the host-made escape symlinks the harness plants) from the unit test.
ring-seeds: $(VMMT_BUILD)/ring_test
	@rm -rf $(RING_SEEDS)
	@mkdir -p $(RING_SEEDS)
	$(VMMT_RUN_ENV) $(VMMT_BUILD)/ring_test --write-seeds $(RING_SEEDS)

ring-fuzz: $(VMMT_BUILD)/ring_fuzz ring-seeds
	@mkdir -p $(RING_CORPUS) $(VMMT_BUILD)/ring-artifacts
	$(VMMT_BUILD)/ring_fuzz -max_total_time=$(RING_FUZZ_TIME) -timeout=10 -max_len=65536 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix=$(VMMT_BUILD)/ring-artifacts/ $(RING_CORPUS) $(RING_SEEDS) </dev/null

# ---------------------------------------------------------------- ELF parser
# Real programs: static (ET_EXEC; also with -z noseparate-code, 2 MiB pages, gold, lld),
# static-pie (ET_DYN), musl static, dynamic glibc/musl PIE and non-PIE (PT_INTERP). A
# missing compiler or linker leaves its binary out; the test reports it as skipped.
# (Debian's musl-gcc cannot make a working -static-pie, so there is none.)
elf-bins: $(ELF_BINS)/.stamp

$(ELF_BINS)/.stamp: tests/unit/vmm.mk
	@rm -rf $(ELF_BINS)
	@mkdir -p $(ELF_BINS)
	@printf '#include <stdio.h>\nint counter = 42;\nint main(void) { printf("hi %%d\\n", counter); return 0; }\n' \
		> $(ELF_BINS)/hello.c
	gcc -O1 -static -o $(ELF_BINS)/static $(ELF_BINS)/hello.c
	gcc -O1 -static-pie -fPIE -o $(ELF_BINS)/static-pie $(ELF_BINS)/hello.c
	gcc -O1 -o $(ELF_BINS)/dynamic $(ELF_BINS)/hello.c
	gcc -O1 -no-pie -o $(ELF_BINS)/dynamic-nopie $(ELF_BINS)/hello.c
	gcc -O1 -static -Wl,-z,noseparate-code -o $(ELF_BINS)/static-noseparate $(ELF_BINS)/hello.c
	gcc -O1 -static -Wl,-z,max-page-size=0x200000 -o $(ELF_BINS)/static-2m $(ELF_BINS)/hello.c
	-musl-gcc -O1 -static -o $(ELF_BINS)/musl-static $(ELF_BINS)/hello.c
	-musl-gcc -O1 -o $(ELF_BINS)/musl-dynamic $(ELF_BINS)/hello.c
	-gcc -O1 -static -fuse-ld=gold -o $(ELF_BINS)/static-gold $(ELF_BINS)/hello.c
	-gcc -O1 -static -fuse-ld=lld -o $(ELF_BINS)/static-lld $(ELF_BINS)/hello.c
	@touch $@

$(VMMT_BUILD)/elf_test: tests/unit/elf_test.c $(ELF_DEPS)
	@mkdir -p $(@D)
	$(VMMT_CC) $(ELF_CFLAGS) $(VMMT_SAN) -o $@ tests/unit/elf_test.c libos/exec/elf.c

elf-test: $(VMMT_BUILD)/elf_test elf-bins
	$(VMMT_RUN_ENV) $(VMMT_BUILD)/elf_test $(ELF_BINS)

$(VMMT_BUILD)/elf_fuzz: tests/unit/elf_fuzz.c $(ELF_DEPS)
	@mkdir -p $(@D)
	$(VMMT_FUZZ_CC) $(ELF_CFLAGS) $(VMMT_FUZZ_SAN) -o $@ tests/unit/elf_fuzz.c libos/exec/elf.c

elf-fuzz-build: $(VMMT_BUILD)/elf_fuzz

# Seeds: the first page of each real program (the parser sees no more) and the unit
# test's hand-made headers.
elf-seeds: $(VMMT_BUILD)/elf_test elf-bins
	@rm -rf $(ELF_SEEDS)
	@mkdir -p $(ELF_SEEDS)
	@for f in $(ELF_BINS)/*; do case $$f in *.c) continue;; esac; \
		head -c 4096 $$f > $(ELF_SEEDS)/$$(basename $$f); done
	$(VMMT_RUN_ENV) $(VMMT_BUILD)/elf_test --write-seeds $(ELF_SEEDS)

elf-fuzz: $(VMMT_BUILD)/elf_fuzz elf-seeds
	@mkdir -p $(ELF_CORPUS) $(VMMT_BUILD)/elf-artifacts
	$(VMMT_BUILD)/elf_fuzz -max_total_time=$(ELF_FUZZ_TIME) -timeout=10 -max_len=8192 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix=$(VMMT_BUILD)/elf-artifacts/ $(ELF_CORPUS) $(ELF_SEEDS)

.DEFAULT_GOAL := $(VMMT_SAVED_DEFAULT_GOAL)
