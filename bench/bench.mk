# Benchmarks of issue 2 §8 (boot, syscalls, file write) and issue 4 §9 (procs), each in uno
# and natively.
# Use from the repository root:
#   make bench                              # when the top Makefile has `include bench/bench.mk`
#   make -f Makefile -f bench/bench.mk bench   # otherwise
#   node dist/bench/run.js [boot] [syscalls] [file] [procs] [threads] [python] [servers] [netloop]
#                          [--runs N] [--out FILE]   # after bench-build (servers: root, wrk)
# Results and how to read them: docs/benchmarks.md. Everything is built into build/bench/.
# Including this file does not change the including Makefile's default goal.

BENCH_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

BENCH_BUILD ?= build/bench
BENCH_CC ?= gcc
BENCH_MUSL_CC ?= musl-gcc
BENCH_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -Werror
BENCH_ARGS ?=
BENCH_GUEST := hello syscalls filewrite procs threads netloop
BENCH_GUEST_BINS := $(foreach p,$(BENCH_GUEST),$(BENCH_BUILD)/$(p)-musl $(BENCH_BUILD)/$(p)-glibc)

.PHONY: bench bench-build

# The guest programs run unmodified both natively and in uno: static, musl and glibc.
$(BENCH_BUILD)/%-musl: bench/guest/%.c bench/guest/benchutil.h bench/bench.mk
	@mkdir -p $(@D)
	@echo "  CC   $@"
	@$(BENCH_MUSL_CC) -static $(BENCH_CFLAGS) -o $@ $<

$(BENCH_BUILD)/%-glibc: bench/guest/%.c bench/guest/benchutil.h bench/bench.mk
	@mkdir -p $(@D)
	@echo "  CC   $@"
	@$(BENCH_CC) -static $(BENCH_CFLAGS) -o $@ $<

# The host-side clock of the boot benchmark.
$(BENCH_BUILD)/boot-timer: bench/boot_timer.c bench/bench.mk
	@mkdir -p $(@D)
	@echo "  CC   $@"
	@$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $<

bench-build: $(BENCH_GUEST_BINS) $(BENCH_BUILD)/boot-timer

# `all` builds uno-vmm, the libOS and the TypeScript (tsconfig includes bench/**/*.ts, so
# dist/bench/run.js comes with it).
bench: all bench-build
	node dist/bench/run.js $(BENCH_ARGS)

.DEFAULT_GOAL := $(BENCH_SAVED_DEFAULT_GOAL)
