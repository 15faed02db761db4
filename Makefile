# One build for everything: the libOS, uno-vmm and the TypeScript CLI. No warnings allowed.
CC ?= gcc
BUILD := build
CWARN := -Wall -Wextra -Werror
VMM_CFLAGS := -std=gnu11 -O2 -g $(CWARN) -Iabi -pthread
LIBOS_CFLAGS := -std=gnu11 -O2 -g $(CWARN) -ffreestanding -fno-builtin -nostdlib -nostdinc \
	-isystem $(shell $(CC) -print-file-name=include) \
	-mcmodel=kernel -mno-red-zone -fno-pic -fno-pie -fno-stack-protector \
	-fno-asynchronous-unwind-tables -fno-omit-frame-pointer -mgeneral-regs-only \
	-Ilibos/include -Ilibos -Iabi -MMD

VMM_SRC := $(wildcard vmm/*.c)
VMM_OBJ := $(VMM_SRC:%.c=$(BUILD)/%.o)
LIBOS_C := $(shell find libos -name '*.c' -not -path 'libos/vdso/*')
LIBOS_S := $(shell find libos -name '*.S')
LIBOS_OBJ := $(LIBOS_C:%.c=$(BUILD)/%.o) $(LIBOS_S:%.S=$(BUILD)/%.o)

.PHONY: all c ts test test-unit test-ts test-servers test-svm test-busybox-suite test-python-suite fuzz examples clean
all: c ts

# Tests: host-side C unit tests (sanitizers), then the TypeScript suites, which run the
# guest programs and Debian's binaries natively and inside uno and compare.
test: all test-unit test-ts test-servers test-svm test-busybox-suite test-python-suite
	node scripts/compat.mjs --check

# Python's regression tests (Debian's libpython3.11-testsuite) inside uno, from the Debian root
# of scripts/debian-root.sh; fails when a module passes fewer tests than docs/compatibility.md
# records. All eleven modules the issue names (~3 minutes here).
PYTHON_SUITE_MODULES = test_json test_thread test_threading test_time test_tempfile test_select test_mmap \
	test_os test_shutil test_signal test_subprocess
test-python-suite: all
	MODULE_TIMEOUT=300 scripts/python-testsuite.sh --uno --check $(PYTHON_SUITE_MODULES)

# Debian's busybox testsuite against Debian's busybox-static, natively and inside uno; fails
# when uno passes fewer tests than docs/compatibility.md records.
BUSYBOX_SUITE_MIN_PASS = $(shell sed -n 's/^| busybox testsuite (uno) | [^|]* | \([0-9]*\) |.*/\1/p' docs/compatibility.md)
test-busybox-suite: all
	scripts/busybox-testsuite.sh --markdown
	scripts/busybox-testsuite.sh --uno --markdown $(if $(BUSYBOX_SUITE_MIN_PASS),--min-pass $(BUSYBOX_SUITE_MIN_PASS))

# The native backend on hardware-style KVM: Debian's cloud kernel under QEMU with emulated
# AMD-V, a smoke suite of uno-vmm inside (tests/qemu-svm/run.sh).
test-svm: all guest-progs
	tests/qemu-svm/run.sh

test-unit: erofs-test ring-test elf-test

# Every suite of dist/tests/ts but servers.test.js, which has a target of its own.
TS_TESTS = $(filter-out dist/tests/ts/servers.test.js,$(wildcard dist/tests/ts/*.test.js))
test-ts: all guest-progs
	scripts/node-test.sh $(BUILD)/test-ts.spec $(TS_TESTS)

# nginx and redis-server from the Debian root serving real traffic, natively in network
# namespaces the test makes and in uno with published ports (tests/ts/servers.test.ts; needs
# root, KVM, curl and redis-tools).
test-servers: all
	scripts/node-test.sh $(BUILD)/test-servers.spec dist/tests/ts/servers.test.js

fuzz: erofs-fuzz ring-fuzz elf-fuzz
c: $(BUILD)/uno-vmm $(BUILD)/libos.elf

$(BUILD)/uno-vmm: $(VMM_OBJ)
	@echo "  LD   $@"
	@$(CC) $(VMM_CFLAGS) -static -o $@ $^

$(BUILD)/vmm/%.o: vmm/%.c vmm/vmm.h abi/uno_abi.h
	@mkdir -p $(dir $@)
	@echo "  CC   $<"
	@$(CC) $(VMM_CFLAGS) -c -o $@ $<

$(BUILD)/libos.elf: $(LIBOS_OBJ) libos/libos.ld
	@echo "  LD   $@"
	@$(LD) -nostdlib -static -z max-page-size=4096 -T libos/libos.ld -o $@ $(LIBOS_OBJ)

# The vDSO: a small shared object of its own (position-independent, user code), carried
# inside the libOS by libos/exec/vdso_blob.S.
VDSO_CFLAGS := -std=gnu11 -O2 $(CWARN) -fPIC -fno-stack-protector -fno-asynchronous-unwind-tables \
	-nostdlib -shared -Wl,-T,libos/vdso/vdso.lds -Wl,--hash-style=both \
	-Wl,-soname=linux-vdso.so.1 -Wl,--build-id=none -Wl,-z,max-page-size=4096 -Wl,--no-undefined
$(BUILD)/vdso.so: libos/vdso/vdso.c libos/vdso/vdso_data.h libos/vdso/vdso.lds
	@mkdir -p $(dir $@)
	@echo "  LD   $@"
	@$(CC) $(VDSO_CFLAGS) -o $@ libos/vdso/vdso.c
$(BUILD)/libos/exec/vdso_blob.o: $(BUILD)/vdso.so

$(BUILD)/libos/%.o: libos/%.c
	@mkdir -p $(dir $@)
	@echo "  CC   $<"
	@$(CC) $(LIBOS_CFLAGS) -c -o $@ $<

$(BUILD)/libos/%.o: libos/%.S
	@mkdir -p $(dir $@)
	@echo "  AS   $<"
	@$(CC) $(LIBOS_CFLAGS) -c -o $@ $<

# The bundled example app (README's first command runs it).
examples: $(BUILD)/examples/hello
$(BUILD)/examples/hello: examples/hello/hello.c
	@mkdir -p $(dir $@)
	@echo "  CC   $<"
	@musl-gcc -static -O2 $(CWARN) -o $@ $<

ts: node_modules
	npx tsc -p tsconfig.json

node_modules: package-lock.json
	npm ci
	@touch $@

clean:
	rm -rf $(BUILD) dist

include tests/guest/guest.mk
include bench/bench.mk
include tests/unit/erofs.mk
include tests/unit/vmm.mk

-include $(shell find $(BUILD)/libos $(BUILD)/vmm $(BUILD)/unit -name '*.d' -type f 2>/dev/null)
