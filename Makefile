# dsvm: plain make. `make help` lists the targets.
#
# `make test` and `make run` install their Debian dependencies first (`make deps`) and then
# re-enter make, so pkg-config is only asked once the -dev packages exist.

# Debian's tools first: the tests and benchmarks use Debian's python3 with python3-yaml (what
# `make deps` installs), not an interpreter a user's PATH may put ahead of it.
export PATH := /usr/bin:$(PATH)

CC       ?= cc
CLANG    ?= clang
PREFIX   ?= /usr/local
BUILD    ?= build
PKGS      = yaml-0.1 jansson libcurl openssl libarchive blkid liblzma

WARNINGS  = -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wvla -Wwrite-strings
HARDEN    = -fstack-protector-strong -D_FORTIFY_SOURCE=2
OPT      ?= -O2 -g
# CI sets CI=true: warnings are errors there, as STYLE.md asks.
WERROR   := $(if $(CI),-Werror,)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(OPT) $(WARNINGS) $(WERROR) $(HARDEN) -Iinclude -Ilib -DDSVM_SRCDIR=\"$(CURDIR)\" $(PKG_CFLAGS) $(CFLAGS)
# Load only the libraries a binary references: firstboot must not pay for libarchive at boot.
ALL_LDFLAGS = -Wl,--as-needed $(LDFLAGS)

LIB_SRC   := $(sort $(wildcard lib/*.c))
# The catalog index is compiled from the catalog's YAML (lib/catalog-index.h).
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/catalog-index.o
BUILD_SRC := $(sort $(wildcard builder/*.c))
FB_SRC    := $(sort $(wildcard firstboot/*.c))
UNIT_SRC  := $(sort $(wildcard tests/unit/test-*.c))
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz-*.c))
TOOL_SRC  := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN  := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

LIBDSVM   := $(BUILD)/libdsvm.a
BINS      := $(BUILD)/dsvm-build $(BUILD)/dsvm-firstboot

# Debian 12 packages for building, testing and benchmarking (DESIGN.md "Dependencies").
DEB_PACKAGES = build-essential pkg-config libyaml-dev libjansson-dev libcurl4-openssl-dev \
               libssl-dev libarchive-dev liblzma-dev libblkid-dev libcmocka-dev clang clang-format \
               clang-tidy llvm libclang-rt-14-dev valgrind python3 python3-yaml pciutils \
               e2fsprogs ntfs-3g fdisk xz-utils zstd jq curl git openssl bsdextrautils \
               strace debootstrap apt-utils gnupg dpkg-dev python3-venv systemd-container \
               cloud-init kmod time packer libtree-sitter-dev \
               mingw-w64 osslsigncode pci.ids

.PHONY: all help deps test check run demo asan lint format bench install clean fuzz \
        unit integration golden tools packer

all: $(BINS) tools

help:
	@echo 'make            build dsvm-build and dsvm-firstboot into $(BUILD)/'
	@echo 'make deps       install the Debian packages (apt-get as root; idempotent)'
	@echo 'make run        deps + the main job on the built-in defaults'
	@echo 'make test       deps + everything CI runs (unit, integration, fuzz smoke, lint, asan)'
	@echo 'make asan       unit tests under AddressSanitizer + UndefinedBehaviorSanitizer'
	@echo 'make fuzz       libFuzzer targets for FUZZ_SECONDS each (default 20)'
	@echo 'make lint       clang-format check and clang-tidy'
	@echo 'make format     rewrite sources with clang-format'
	@echo 'make bench      benchmarks against their baselines, ratios printed'
	@echo 'make golden     regenerate golden files (review the diff before committing)'
	@echo 'make packer     regenerate the Packer templates under packer/ and their 1.6.6 goldens'
	@echo 'make install    install binaries and data under PREFIX (DESTDIR honoured)'

deps:
	@sh tests/tools/install-deps.sh $(DEB_PACKAGES)
	@sh tests/tools/pwsh-grammar.sh

$(BUILD)/%.o: %.c $(wildcard include/dsvm/*.h lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

CATALOG_YAML := $(addprefix manifests/hardware/,pci-devices.yaml gpus.yaml sizes.yaml cuda-drivers.yaml)
$(BUILD)/gen/catalog-index.c build-fuzz/gen/catalog-index.c: $(CATALOG_YAML) tools/gen-catalog-index.py
	@mkdir -p $(dir $@)
	python3 tools/gen-catalog-index.py $(CATALOG_YAML) -o $@

$(BUILD)/gen/catalog-index.o: $(BUILD)/gen/catalog-index.c lib/catalog-index.h lib/yamldoc.h
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBDSVM): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/dsvm-build: $(BUILD_SRC:%.c=$(BUILD)/%.o) $(LIBDSVM)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/dsvm-firstboot: $(FB_SRC:%.c=$(BUILD)/%.o) $(LIBDSVM)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIBDSVM) tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes $(ALL_LDFLAGS) -o $@ $< $(LIBDSVM) \
		$(PKG_LIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/tools/%: tests/tools/%.c $(LIBDSVM)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBDSVM) $(PKG_LIBS)

$(BUILD)/bench/%: bench/%.c bench/bench.h $(LIBDSVM)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBDSVM) $(PKG_LIBS)

tools: $(TOOL_BIN) $(BENCH_BIN)

unit: $(UNIT_BIN)
	@sh tests/run-unit.sh $(UNIT_BIN)

integration: all
	@BUILD=$(BUILD) sh tests/run-integration.sh

# Everything CI runs. `test` installs dependencies first; `check` assumes them.
test: deps
	@$(MAKE) --no-print-directory check

check: all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory asan
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(or $(FUZZ_SECONDS),10)

run: deps
	@$(MAKE) --no-print-directory demo

demo: all
	@BUILD=$(BUILD) sh tests/tools/demo.sh

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan CC=$(CLANG) \
		OPT='-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer' \
		LDFLAGS='-fsanitize=address,undefined' all unit integration-asan

integration-asan: all
	@BUILD=$(BUILD) DSVM_SANITIZED=1 sh tests/run-integration.sh

FUZZ_SECONDS ?= 20
FUZZ_FLAGS = -std=gnu11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
             -Iinclude -Ilib $(PKG_CFLAGS)

fuzz: build-fuzz/gen/catalog-index.c
	@mkdir -p build-fuzz
	@for f in $(FUZZ_SRC); do \
		n=$$(basename $$f .c); \
		$(CLANG) $(FUZZ_FLAGS) -o build-fuzz/$$n $$f $(LIB_SRC) build-fuzz/gen/catalog-index.c $(PKG_LIBS) || exit 1; \
		sh tests/fuzz/run.sh build-fuzz/$$n $(FUZZ_SECONDS) || exit 1; \
	done

LINT_SRC = $(wildcard include/dsvm/*.h lib/*.c lib/*.h builder/*.c builder/*.h firstboot/*.c \
           firstboot/*.h tests/unit/*.c tests/unit/*.h tests/tools/*.c tests/fuzz/*.c bench/*.c)

lint:
	@clang-format --dry-run --Werror $(LINT_SRC)
	@clang-tidy --quiet $(LIB_SRC) $(BUILD_SRC) $(FB_SRC) -- -std=gnu11 -D_GNU_SOURCE -Iinclude -Ilib \
		-DDSVM_SRCDIR=\"$(CURDIR)\" \
		$(PKG_CFLAGS) 2>/dev/null | { ! grep -E 'warning:|error:'; }
	@echo 'lint: clang-format and clang-tidy clean'

format:
	clang-format -i $(LINT_SRC)

bench: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) sh bench/run.sh

golden: all
	@BUILD=$(BUILD) sh tests/tools/regen-golden.sh
	@BUILD=$(BUILD) sh tests/tools/pwsh-golden.sh

# The shipped editions' templates (packer/<edition>/, with the payload they upload) and the
# Packer 1.6.6 goldens; the hand-written packer/scripts/ are only read.
packer: all
	@BUILD=$(BUILD) sh packer/generate.sh

install: all
	install -Dm755 $(BUILD)/dsvm-build $(DESTDIR)$(PREFIX)/bin/dsvm-build
	install -Dm755 $(BUILD)/dsvm-firstboot $(DESTDIR)$(PREFIX)/sbin/dsvm-firstboot
	mkdir -p $(DESTDIR)$(PREFIX)/share/dsvm
	cp -r manifests $(DESTDIR)$(PREFIX)/share/dsvm/

clean:
	rm -rf build build-asan build-fuzz out
