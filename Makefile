# Weft build.  Plain GNU Make, out-of-tree: every variant builds into
# build/<variant>/ so sanitized, release and fuzz objects never mix.
#
#   make                 release binaries (build/release/bin)
#   make check           deps, format check, ASan+UBSan build, every test
#   make demo            deps, release build, the namespace demo
#   make bench           every benchmark; make bench-<area> for one area
#   make fuzz            libFuzzer targets (clang)
#   make format          reformat the tree with clang-format
#
# Source discovery is by directory, so adding a file needs no Makefile edit:
#   src/<dir>/*.c          -> lib<dir>.a   (files named *-main.c excluded)
#   src/agent/agent-main.c -> weft-agent, src/api/weftd-main.c -> weftd,
#   src/cli/weft-main.c    -> weft
#   tests/unit/test-*.c    -> one test binary each (+ tests/unit/testlib.c)
#   tests/fuzz/fuzz-*.c    -> one libFuzzer binary each

VARIANT ?= release
NPROC := $(shell nproc 2>/dev/null || echo 2)
O := build/$(VARIANT)

CC_release := gcc
CC_asan := gcc
CC_fuzz := clang
CC := $(CC_$(VARIANT))

WARN := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
        -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
BASE_CFLAGS := -std=gnu11 -g -D_GNU_SOURCE -Isrc -Itests/unit -MMD -MP $(WARN)
CFLAGS_release := -O2 -march=x86-64-v2
# The sanitizer build targets the release build's x86-64-v2 too, so the
# tests run the same SIMD paths (flowcache.h's key compare) it ships.
CFLAGS_asan := -O1 -march=x86-64-v2 -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined
CFLAGS_fuzz := -O1 -fno-omit-frame-pointer \
               -fsanitize=fuzzer-no-link,address,undefined -DWEFT_FUZZING
LDFLAGS_asan := -fsanitize=address,undefined
LDFLAGS_fuzz := -fsanitize=address,undefined
ALL_CFLAGS := $(BASE_CFLAGS) -I$(O)/gen $(CFLAGS_$(VARIANT)) $(EXTRA_CFLAGS)
ALL_LDFLAGS := $(LDFLAGS_$(VARIANT)) $(EXTRA_LDFLAGS)

# System libraries per binary.
LIBS_agent := -ljansson -lprotobuf-c -lssl -lcrypto -lbpf -lpthread
LIBS_weftd := -lsqlite3 -ljansson -lmicrohttpd -lprotobuf-c -lssl -lcrypto \
              -lpthread
LIBS_weft := -ljansson -lcurl
LIBS_test := -lsqlite3 -ljansson -lmicrohttpd -lprotobuf-c -lssl -lcrypto \
             -lcurl -lbpf -lpthread

# Link order: dependents first.
LIBDIRS := agent api cli controller store proto datapath lib

lib_srcs = $(filter-out %-main.c,$(wildcard src/$(1)/*.c))
lib_file = $(if $(call lib_srcs,$(1)),$(O)/lib/lib$(1).a)
LIBFILES := $(foreach d,$(LIBDIRS),$(call lib_file,$(d)))

define lib_rule
$(O)/lib/lib$(1).a: $(patsubst %.c,$(O)/obj/%.o,$(call lib_srcs,$(1)))
	@mkdir -p $$(@D)
	@rm -f $$@
	ar rcs $$@ $$^
endef
$(foreach d,$(LIBDIRS),$(if $(call lib_srcs,$(d)),$(eval $(call lib_rule,$(d)))))

# The control protocol's protobuf-c code is generated from
# src/proto/*.proto into $(O)/gen/proto (never committed: protoc-c is a
# build dependency) and archived into libproto.a.  Every object waits for
# the generated headers (order-only), since any of them may include one.
PROTOS := $(wildcard src/proto/*.proto)
PROTO_GEN_C := $(patsubst src/proto/%.proto,$(O)/gen/proto/%.pb-c.c,$(PROTOS))
PROTO_GEN_H := $(PROTO_GEN_C:.c=.h)
PROTO_GEN_O := $(patsubst $(O)/gen/%.c,$(O)/obj/gen/%.o,$(PROTO_GEN_C))
$(O)/gen/proto/%.pb-c.c $(O)/gen/proto/%.pb-c.h: src/proto/%.proto
	@mkdir -p $(@D)
	protoc-c --c_out=$(@D) --proto_path=src/proto $<
$(O)/obj/gen/%.o: $(O)/gen/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@
$(O)/lib/libproto.a: $(PROTO_GEN_O)

$(O)/obj/%.o: %.c | $(PROTO_GEN_H)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The kernel fast path's BPF programs (src/bpf/*.bpf.c, decision 70):
# compiled by clang for the BPF target and embedded into kfp.o (.incbin),
# so the agent stays one file.
BPF_CFLAGS := -O2 -g -Wall -Wextra -Werror -target bpf -Isrc \
              -I/usr/include/$(shell gcc -dumpmachine 2>/dev/null)
$(O)/bpf/%.bpf.o: src/bpf/%.bpf.c src/datapath/kfp-abi.h
	@mkdir -p $(@D)
	clang $(BPF_CFLAGS) -c $< -o $@
$(O)/obj/src/datapath/kfp.o: $(O)/bpf/kfp.bpf.o
$(O)/obj/src/datapath/kfp.o: ALL_CFLAGS += -DKFP_BPF_OBJ='"$(O)/bpf/kfp.bpf.o"'

BINS :=
ifneq ($(wildcard src/agent/agent-main.c),)
BINS += $(O)/bin/weft-agent
$(O)/bin/weft-agent: $(O)/obj/src/agent/agent-main.o $(LIBFILES)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBFILES) $(LIBS_agent)
endif
ifneq ($(wildcard src/api/weftd-main.c),)
BINS += $(O)/bin/weftd
$(O)/bin/weftd: $(O)/obj/src/api/weftd-main.o $(LIBFILES)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBFILES) $(LIBS_weftd)
endif
ifneq ($(wildcard src/cli/weft-main.c),)
BINS += $(O)/bin/weft
$(O)/bin/weft: $(O)/obj/src/cli/weft-main.o $(LIBFILES)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBFILES) $(LIBS_weft)
endif

UNIT_SRCS := $(wildcard tests/unit/test-*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))
$(O)/tests/%: $(O)/obj/tests/unit/%.o $(O)/obj/tests/unit/testlib.o $(LIBFILES)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(O)/obj/tests/unit/testlib.o $(LIBFILES) $(LIBS_test)

BENCH_SRCS := $(wildcard bench/bench-*.c)
BENCH_BINS := $(patsubst bench/%.c,$(O)/bench/%,$(BENCH_SRCS))
$(O)/bench/%: $(O)/obj/bench/%.o $(LIBFILES)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBFILES) $(LIBS_test)

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(O)/fuzz/%,$(FUZZ_SRCS))
$(O)/fuzz/%: $(O)/obj/tests/fuzz/%.o $(LIBFILES)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $< $(LIBFILES) $(LIBS_test)

.PHONY: all build deps check demo bench fuzz format format-check clean \
        unit-tests bench-bins fuzz-bins
.DEFAULT_GOAL := all
.SECONDARY:

all:
	@$(MAKE) --no-print-directory -j$(NPROC) VARIANT=release build

build: $(BINS) $(UNIT_BINS) $(BENCH_BINS)
ifeq ($(VARIANT),fuzz)
build: $(FUZZ_BINS)
endif

deps:
	@bash scripts/install-deps.sh

FORMAT_FILES = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h')
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	@bash scripts/format-check.sh

check: deps
	@bash scripts/format-check.sh
	@$(MAKE) --no-print-directory -j$(NPROC) VARIANT=release build
	@$(MAKE) --no-print-directory -j$(NPROC) VARIANT=asan build
	@$(MAKE) --no-print-directory -j$(NPROC) VARIANT=fuzz build
	@bash tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory -j$(NPROC) VARIANT=release build
	@bash scripts/demo.sh

fuzz: deps
	@$(MAKE) --no-print-directory -j$(NPROC) VARIANT=fuzz build

bench: deps
	@$(MAKE) --no-print-directory -j$(NPROC) VARIANT=release build
	@for s in bench/bench-*.sh; do bash "$$s" || exit 1; done

# One phony target per bench/bench-<area>.sh (a static pattern, so it can
# never match a file such as build/release/bench/bench-dp).
BENCH_AREAS := $(patsubst bench/bench-%.sh,%,$(wildcard bench/bench-*.sh))
BENCH_TARGETS := $(addprefix bench-,$(BENCH_AREAS))
.PHONY: $(BENCH_TARGETS)
$(BENCH_TARGETS): bench-%: deps
	@$(MAKE) --no-print-directory -j$(NPROC) VARIANT=release build
	@bash bench/bench-$*.sh

clean:
	rm -rf build

-include $(shell find $(O)/obj -name '*.d' 2>/dev/null)
