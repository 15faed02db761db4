# EROFS reader (libos/fs/erofs.c): host unit test and libFuzzer target.
# Use from the repository root:
#   make -f tests/unit/erofs.mk erofs-test      # ASan+UBSan unit test (needs root, mkfs.erofs)
#   make -f tests/unit/erofs.mk erofs-fuzz      # libFuzzer, EROFS_FUZZ_TIME seconds (default 20)
# or `include tests/unit/erofs.mk` from the top Makefile. Everything goes to build/unit/.
# Including this file does not change the including Makefile's default goal.

EROFS_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

EROFS_BUILD ?= build/unit
EROFS_CC ?= cc
EROFS_FUZZ_CC ?= clang
EROFS_FUZZ_TIME ?= 20
EROFS_SAN_CFLAGS := -std=c11 -Wall -Wextra -Werror -fsanitize=address,undefined \
	-fno-sanitize-recover=all -g -Ilibos/include -Ilibos
EROFS_DEPS := libos/fs/erofs.c libos/fs/erofs.h libos/include/libos/types.h \
	libos/include/libos/errno.h libos/include/libos/string.h tests/unit/erofs_fuzz.c \
	tests/unit/erofs.mk
EROFS_SEEDS := $(EROFS_BUILD)/erofs-seeds
EROFS_CORPUS := $(EROFS_BUILD)/erofs-corpus

.PHONY: erofs-test erofs-fuzz erofs-fuzz-build erofs-seeds

$(EROFS_BUILD)/erofs_test: tests/unit/erofs_test.c $(EROFS_DEPS)
	@mkdir -p $(@D)
	$(EROFS_CC) $(EROFS_SAN_CFLAGS) -DEROFS_FUZZ_NO_MAIN -o $@ \
		tests/unit/erofs_test.c tests/unit/erofs_fuzz.c libos/fs/erofs.c

erofs-test: $(EROFS_BUILD)/erofs_test
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		$(EROFS_BUILD)/erofs_test

$(EROFS_BUILD)/erofs_fuzz: $(EROFS_DEPS)
	@mkdir -p $(@D)
	$(EROFS_FUZZ_CC) -std=c11 -Wall -Wextra -Werror -g -O1 \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Ilibos/include -Ilibos -o $@ tests/unit/erofs_fuzz.c libos/fs/erofs.c

erofs-fuzz-build: $(EROFS_BUILD)/erofs_fuzz

# Seeds: small real images from mkfs.erofs (inline and plain, compact and extended
# inodes, a multi-block directory, a symlink, a hard link, a device node, xattrs), plus
# the unit test's hand-made image (255-byte name, 2-block directory with inline tail).
erofs-seeds: $(EROFS_BUILD)/erofs_test
	@rm -rf $(EROFS_SEEDS) $(EROFS_BUILD)/erofs-seed-tree
	@mkdir -p $(EROFS_SEEDS) $(EROFS_BUILD)/erofs-seed-tree/d/e $(EROFS_BUILD)/erofs-seed-tree/m
	@set -e; cd $(EROFS_BUILD)/erofs-seed-tree; \
	printf hello > a; seq 1 2000 | head -c 4500 > b; : > empty; ln -s a l; ln a d/h; \
	echo deep > d/e/f; mknod d/null c 1 3 2>/dev/null || true; \
	setfattr -n user.x -v y a 2>/dev/null || true; \
	i=0; while [ $$i -lt 300 ]; do : > m/entry_with_name_$$i; i=$$((i+1)); done; \
	chown 70000:70000 d/e/f 2>/dev/null || true
	@set -e; t=$(EROFS_BUILD)/erofs-seed-tree; s=$(EROFS_SEEDS); \
	mkfs.erofs --quiet $$s/default.erofs $$t >/dev/null; \
	mkfs.erofs --quiet -E noinline_data $$s/noinline.erofs $$t >/dev/null; \
	mkfs.erofs --quiet -T 1000 $$s/compact.erofs $$t >/dev/null; \
	mkfs.erofs --quiet -E force-inode-extended $$s/extended.erofs $$t >/dev/null; \
	rm -rf $$t/m; mkfs.erofs --quiet -T 1 $$s/tiny.erofs $$t >/dev/null; \
	rm -rf $$t; $(EROFS_BUILD)/erofs_test --write-synth $$s/synthetic.erofs
	@ls -l $(EROFS_SEEDS)

erofs-fuzz: $(EROFS_BUILD)/erofs_fuzz erofs-seeds
	@mkdir -p $(EROFS_CORPUS)
	$(EROFS_BUILD)/erofs_fuzz -max_total_time=$(EROFS_FUZZ_TIME) -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=$(EROFS_BUILD)/erofs-fuzz- \
		$(EROFS_CORPUS) $(EROFS_SEEDS)

# Standalone (make -f tests/unit/erofs.mk): default to the unit test; included: leave the
# includer's default goal alone.
ifeq ($(notdir $(firstword $(MAKEFILE_LIST))),erofs.mk)
.DEFAULT_GOAL := erofs-test
else
.DEFAULT_GOAL := $(EROFS_SAVED_DEFAULT_GOAL)
endif
