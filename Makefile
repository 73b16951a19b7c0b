# Huduma appliance - every entry point: build, run, test, bench, fmt.
#
#   make run     install missing Debian packages, build, bring up a demo register
#   make test    install missing packages, build with ASan+UBSan, run every test
#                (the benchmark programs are built too, so that they keep compiling)
#   make bench   release build, benchmarks against named peers (docs/BENCHMARKS.md)
#   make fuzz    build the libFuzzer targets (clang)
#   make fmt     clang-format every C file
#   make image       the appliance image (as root; image/build.sh, docs/operator.md)
#   make image-test  boot it in QEMU with a software TPM (minutes; image/test.sh)
#
# Builds go to build/<variant>/: rel (-O2), san (ASan+UBSan, what tests run),
# fuzz (clang, libFuzzer).  Each source folder becomes one static library; the
# programs are appliance/main_<name>.c.

VARIANT ?= rel
B := build/$(VARIANT)

ifeq ($(VARIANT),fuzz)
CC := clang
OPT := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
else ifeq ($(VARIANT),san)
CC ?= gcc
# HUDUMA_FAULTS: the fault sites of storage/fault.c, driven by the integration tests
OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
       -DHUDUMA_FAULTS
else
CC ?= gcc
OPT := -O2 -g
endif

CFLAGS := -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -I. $(OPT) $(EXTRA_CFLAGS)
LDFLAGS := $(filter -fsanitize=%,$(OPT))
LDLIBS := -lrocksdb -ljansson -lcbor -lssl -lcrypto -luring -lhttp_parser -linih -lbpf -lelf -lz \
          -ltss2-esys -ltss2-sys -ltss2-tctildr -ltss2-mu -ltss2-rc -lpthread -lm

KEYS_SRC := $(wildcard keys/*.c)
STORAGE_SRC := $(wildcard storage/*.c)
KBPF_SRC := $(filter-out %.bpf.c,$(wildcard kernel-bpf/*.c))
APPLIANCE_SRC := $(filter-out appliance/main_%.c,$(wildcard appliance/*.c))
MAINS := $(patsubst appliance/main_%.c,$(B)/bin/%,$(wildcard appliance/main_*.c))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))
TEST_TOOLS := $(patsubst tests/tools/%.c,$(B)/tools/%,$(wildcard tests/tools/*.c))
BENCHES := $(patsubst tests/bench/%.c,$(B)/bench/%,$(wildcard tests/bench/bench_*.c))
FUZZERS := $(patsubst tests/fuzz/%.c,build/fuzz/bin/%,$(wildcard tests/fuzz/fuzz_*.c))

LIBS := $(B)/libappliance.a $(B)/libkernel-bpf.a $(B)/libstorage.a $(B)/libkeys.a
HEADERS := $(wildcard */*.h)

.SECONDARY:
.PHONY: all deps build run test unit benches bench fuzz fmt clean image image-test
all: build

deps:
	@sh scripts/deps.sh

build: $(MAINS)

$(B)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/libkeys.a: $(KEYS_SRC:%.c=$(B)/%.o)
$(B)/libstorage.a: $(STORAGE_SRC:%.c=$(B)/%.o)
$(B)/libappliance.a: $(APPLIANCE_SRC:%.c=$(B)/%.o)
$(B)/libkernel-bpf.a: $(KBPF_SRC:%.c=$(B)/%.o)
$(B)/lib%.a:
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The XDP program (kernel-bpf/*.bpf.c): clang for the BPF target, against a
# vmlinux.h dumped from the running kernel's BTF, then a skeleton that embeds
# the object in the user-space side.  All three are generated into $(B).
BPFTOOL ?= bpftool
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
$(B)/kernel-bpf/vmlinux.h:
	@mkdir -p $(dir $@)
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

$(B)/kernel-bpf/%.bpf.o: kernel-bpf/%.bpf.c kernel-bpf/ratelimit.h $(B)/kernel-bpf/vmlinux.h
	clang -target bpf -mcpu=v3 -g -O2 -Wall -Werror -I$(B)/kernel-bpf -c -o $@ $<

$(B)/kernel-bpf/%.skel.h: $(B)/kernel-bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@

$(B)/kernel-bpf/ratelimit.o: $(B)/kernel-bpf/ratelimit.skel.h
$(B)/kernel-bpf/%.o: CFLAGS += -I$(B)/kernel-bpf
$(B)/tests/unit/test_ratelimit.o: $(B)/kernel-bpf/ratelimit.skel.h
$(B)/tests/unit/test_ratelimit.o: CFLAGS += -I$(B)/kernel-bpf

$(B)/bin/%: $(B)/appliance/main_%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

$(B)/tests/%: $(B)/tests/unit/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS) -lcmocka

# Helpers of the integration tests only (tests/tools/): never installed.
$(B)/tools/%: $(B)/tests/tools/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

$(B)/bench/%: $(B)/tests/bench/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

unit: $(UNIT_TESTS) $(MAINS) $(TEST_TOOLS)

benches: $(BENCHES) $(MAINS)

build/fuzz/bin/%: build/fuzz/tests/fuzz/%.o build/fuzz/libappliance.a build/fuzz/libkernel-bpf.a build/fuzz/libstorage.a build/fuzz/libkeys.a
	@mkdir -p $(dir $@)
	clang -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

ifeq ($(VARIANT),fuzz)
fuzz: $(FUZZERS)
else
fuzz:
	@$(MAKE) --no-print-directory VARIANT=fuzz fuzz
endif

run: deps
	@$(MAKE) --no-print-directory VARIANT=rel build
	@sh scripts/run-demo.sh

test: deps
	@$(MAKE) --no-print-directory VARIANT=san unit
	@$(MAKE) --no-print-directory VARIANT=rel build benches # benches: built, not run
	@$(MAKE) --no-print-directory fuzz
	@sh tests/run.sh

bench: deps
	@$(MAKE) --no-print-directory VARIANT=rel benches
	@sh tests/bench/run.sh

# The image tooling (debootstrap, squashfs-tools, veritysetup, QEMU) is
# installed by its own script: `make run` and `make test` never need it.
image:
	@sh scripts/deps-image.sh
	@sh scripts/deps.sh
	@$(MAKE) --no-print-directory VARIANT=rel build
	@sh image/build.sh

image-test:
	@sh scripts/deps-image.sh
	@sh image/test.sh

fmt:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
