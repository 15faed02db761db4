# Guest test programs: every tests/guest/*.c built five times: static with musl, static with
# glibc, static-PIE with glibc, dynamic with glibc and dynamic with musl, into
# build/guest/{musl,glibc,glibc-pie,glibc-dyn,musl-dyn}/NAME. tests/ts/guest.test.ts runs
# each one natively and inside uno and compares stdout and exit status.
#   make -f tests/guest/guest.mk guest-progs      (or `include` this file and `make guest-progs`)
GUEST_SRC_DIR := tests/guest
GUEST_OUT_DIR := build/guest
GUEST_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -Werror
GUEST_MUSL_CC ?= musl-gcc
GUEST_GLIBC_CC ?= gcc
GUEST_NAMES := $(basename $(notdir $(wildcard $(GUEST_SRC_DIR)/*.c)))
GUEST_MUSL := $(GUEST_NAMES:%=$(GUEST_OUT_DIR)/musl/%)
GUEST_GLIBC := $(GUEST_NAMES:%=$(GUEST_OUT_DIR)/glibc/%)
GUEST_PIE := $(GUEST_NAMES:%=$(GUEST_OUT_DIR)/glibc-pie/%)
GUEST_GLIBC_DYN := $(GUEST_NAMES:%=$(GUEST_OUT_DIR)/glibc-dyn/%)
GUEST_MUSL_DYN := $(GUEST_NAMES:%=$(GUEST_OUT_DIR)/musl-dyn/%)

.PHONY: guest-progs
guest-progs: $(GUEST_MUSL) $(GUEST_GLIBC) $(GUEST_PIE) $(GUEST_GLIBC_DYN) $(GUEST_MUSL_DYN)

$(GUEST_OUT_DIR)/musl/%: $(GUEST_SRC_DIR)/%.c $(GUEST_SRC_DIR)/guest.h
	@mkdir -p $(dir $@)
	@echo "  CC   $@"
	@$(GUEST_MUSL_CC) -static $(GUEST_CFLAGS) -o $@ $<

$(GUEST_OUT_DIR)/glibc/%: $(GUEST_SRC_DIR)/%.c $(GUEST_SRC_DIR)/guest.h
	@mkdir -p $(dir $@)
	@echo "  CC   $@"
	@$(GUEST_GLIBC_CC) -static $(GUEST_CFLAGS) -o $@ $<

# static-PIE (glibc): loaded at a random base by the libOS, relocating itself.
$(GUEST_OUT_DIR)/glibc-pie/%: $(GUEST_SRC_DIR)/%.c $(GUEST_SRC_DIR)/guest.h
	@mkdir -p $(dir $@)
	@echo "  CC   $@"
	@$(GUEST_GLIBC_CC) -static-pie -fPIE $(GUEST_CFLAGS) -o $@ $<

# Dynamically linked: glibc (a PIE, Debian's default) and musl (its ld-musl-x86_64.so.1).
# `uno run` packs each with its interpreter and libraries; the libOS loads PT_INTERP.
$(GUEST_OUT_DIR)/glibc-dyn/%: $(GUEST_SRC_DIR)/%.c $(GUEST_SRC_DIR)/guest.h
	@mkdir -p $(dir $@)
	@echo "  CC   $@"
	@$(GUEST_GLIBC_CC) $(GUEST_CFLAGS) -o $@ $<

$(GUEST_OUT_DIR)/musl-dyn/%: $(GUEST_SRC_DIR)/%.c $(GUEST_SRC_DIR)/guest.h
	@mkdir -p $(dir $@)
	@echo "  CC   $@"
	@$(GUEST_MUSL_CC) $(GUEST_CFLAGS) -o $@ $<
