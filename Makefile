# moat: non-recursive build.  `make V=1` shows commands, `make SAN=1` builds
# and tests under ASan+UBSan in build/san/.
.DEFAULT_GOAL := all
.SUFFIXES:
.DELETE_ON_ERROR:

VERSION := 0.1.0
PREFIX ?= /usr/local
CC ?= cc
FUZZ_CC ?= clang
PKGS := yaml-0.1 jansson libseccomp libcap libbpf libcrypto zlib

ifeq ($(V),1)
Q :=
else
Q := @
endif

ifeq ($(SAN),1)
BUILD := build/san
OPT := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_LD := -fsanitize=address,undefined
else
BUILD := build
# _FORTIFY_SOURCE needs the optimiser, and fights ASan, so it lives here.
OPT := -O2 -g -D_FORTIFY_SOURCE=3
SAN_LD :=
endif

WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wimplicit-fallthrough -Wno-missing-field-initializers
ifneq ($(WERROR),0)
WARN += -Werror
endif
HARDEN := -fstack-protector-strong -fstack-clash-protection -fcf-protection -fPIE
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --static --libs $(PKGS) 2>/dev/null || echo -lyaml -ljansson) -lm

MOAT_CFLAGS := -std=gnu11 -D_GNU_SOURCE -DMOAT_VERSION='"$(VERSION)"' -I. -Ibuild/gen \
	$(OPT) $(WARN) $(HARDEN) $(PKG_CFLAGS) $(CFLAGS)
# Linked static-pie (still position-independent, so ASLR and full RELRO hold):
# moat starts in a third less time, which is most of what a bench run costs.
# The sanitizers need the dynamic loader, so SAN=1 links dynamically.
ifeq ($(SAN),1)
LINK := -pie
else
LINK := -static-pie
endif
MOAT_LDFLAGS := $(LINK) -pthread -Wl,-z,relro,-z,now,-z,noexecstack -Wl,--as-needed $(SAN_LD) $(LDFLAGS)

COMPONENTS := core policy bench enforcer runtime attest
LIB_SRCS := $(filter-out core/main.c,$(foreach c,$(COMPONENTS),$(wildcard $(c)/*.c)))
# bench's controls are data, turned into C at build time by bench/gen-defs
# (which runs the same loader moat does, so a bad control fails the build):
# moat starts with them in memory.  --checks-dir adds to them at run time.
BENCH_DATA := bench/components.yaml $(sort $(wildcard bench/*/*.yaml))
BENCH_GEN_SRCS := bench/gen-defs.c bench/defs.c $(filter-out core/main.c,$(wildcard core/*.c))
BENCH_BUILTIN := build/gen/bench_builtin.c
LIB_SRCS := $(filter-out bench/gen-defs.c %.bpf.c attest/tpm.c,$(LIB_SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/bench_builtin.o

HDRS := $(foreach c,$(COMPONENTS),$(wildcard $(c)/*.h))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
PERF_BINS := $(BUILD)/perf/yaml_events $(BUILD)/perf/getpid_loop $(BUILD)/perf/xdp_rules \
	$(BUILD)/perf/verity_tree
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)

# moat-tpm: the node side of `moat attest` (enroll, quote).  Debian ships
# tpm2-tss only as shared objects, and moat is static, so the TPM calls live
# in this small dynamically linked helper that moat runs beside itself.
# Without libtss2-dev it is not built and `moat attest enroll|quote` say so.
TPM_PKGS := tss2-esys tss2-tctildr tss2-mu tss2-rc libcrypto jansson
TPM_HELPER := $(if $(wildcard attest/tpm.c),$(if $(shell pkg-config --exists $(TPM_PKGS) 2>/dev/null && echo y),$(BUILD)/moat-tpm))
TPM_SRCS := attest/tpm.c attest/quote.c attest/alg.c core/util.c core/fs.c
all: $(BUILD)/moat $(TPM_HELPER)

$(BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(MOAT_CFLAGS) -c -o $@ $<

build/gen/gen-defs: $(BENCH_GEN_SRCS) $(HDRS) build/gen/empty.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -I. -O1 -o $@ $(BENCH_GEN_SRCS) build/gen/empty.c $(PKG_CFLAGS) $(PKG_LIBS)

build/gen/empty.c:
	@mkdir -p $(@D)
	$(Q)printf '#include "bench/bench.h"\nconst struct bench_defs bench_builtin;\n' >$@

$(BENCH_BUILTIN): build/gen/gen-defs $(BENCH_DATA)
	@$(if $(Q),echo "  GEN     $@")
	$(Q)build/gen/gen-defs $(BENCH_DATA) >$@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/bench_builtin.o: $(BENCH_BUILTIN) $(HDRS)
	@mkdir -p $(@D)
	$(Q)$(CC) $(MOAT_CFLAGS) -Wno-missing-field-initializers -c -o $@ $<

# The XDP filter: compiled for the BPF target against the kernel's UAPI
# headers, then wrapped by bpftool into a skeleton header that carries the
# object, so moat loads it with nothing installed beside it.
# filter: the management NIC and host cgroups; podnet: the port groups' TC
# programs (runtime/net.c attaches them to the taps).
build/gen/%.bpf.o: enforcer/%.bpf.c enforcer/%.h
	@mkdir -p $(@D)
	@$(if $(Q),echo "  BPF     $@")
	$(Q)clang -O2 -g -target bpf -Wall -Werror -I/usr/include/$(shell gcc -dumpmachine) \
		-Ienforcer -c -o $@ $<

build/gen/%.skel.h: build/gen/%.bpf.o
	@$(if $(Q),echo "  SKEL    $@")
	$(Q)bpftool gen skeleton $< name $*_skel >$@.tmp && mv $@.tmp $@

.PRECIOUS: build/gen/%.bpf.o
$(BUILD)/obj/enforcer/filter.o: build/gen/filter.skel.h
$(BUILD)/obj/enforcer/podnet.o: build/gen/podnet.skel.h

$(BUILD)/libmoat.a: $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/moat: $(BUILD)/obj/core/main.o $(BUILD)/libmoat.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(MOAT_CFLAGS) -o $@ $^ $(MOAT_LDFLAGS) $(PKG_LIBS)

$(BUILD)/moat-tpm: $(TPM_SRCS) $(HDRS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -DMOAT_VERSION='"$(VERSION)"' -I. $(OPT) $(WARN) $(HARDEN) \
		$(shell pkg-config --cflags $(TPM_PKGS)) -pie -Wl,-z,relro,-z,now,-z,noexecstack $(SAN_LD) \
		-o $@ $(TPM_SRCS) $(shell pkg-config --libs $(TPM_PKGS))

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(BUILD)/libmoat.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(MOAT_CFLAGS) -o $@ $< $(BUILD)/libmoat.a $(MOAT_LDFLAGS) $(PKG_LIBS)

$(BUILD)/perf/%: tests/perf/%.c $(BUILD)/libmoat.a
	@mkdir -p $(@D)
	$(Q)$(CC) $(MOAT_CFLAGS) -o $@ $< $(BUILD)/libmoat.a $(MOAT_LDFLAGS) $(PKG_LIBS)

# libFuzzer harnesses: clang, with the library compiled once under its
# instrumentation (fuzzer-no-link) and each harness linked against it.
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -DMOAT_VERSION='"$(VERSION)"' -I. -Ibuild/gen -g -O1 \
	-fno-sanitize-recover=all $(PKG_CFLAGS)
FUZZ_OBJS := $(LIB_SRCS:%.c=build/fuzz/obj/%.o) build/fuzz/obj/gen/bench_builtin.o
build/fuzz/obj/%.o: %.c $(HDRS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<
build/fuzz/obj/gen/bench_builtin.o: $(BENCH_BUILTIN) $(HDRS)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<
build/fuzz/obj/enforcer/filter.o: build/gen/filter.skel.h
build/fuzz/obj/enforcer/podnet.o: build/gen/podnet.skel.h
build/fuzz/libmoat-fuzz.a: $(FUZZ_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^
build/fuzz/%: tests/fuzz/%.c build/fuzz/libmoat-fuzz.a
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< \
		build/fuzz/libmoat-fuzz.a $(PKG_LIBS)

fuzz: $(FUZZ_BINS)

# The guest: moat's agent, static, as a pod VM's /init, and Debian's cloud
# kernel unpacked beside it (runtime/guest/mkguest).  Pod tests skip, saying
# why, when the kernel cannot be fetched.
# The agent is built from its own few sources, never sanitized (it is static).
AGENT_SRCS := runtime/agent/agent.c runtime/agent/net.c runtime/agent/dm.c runtime/agent/disk.c \
	runtime/proto.c core/util.c core/fs.c enforcer/caps.c
AGENT_LIBS := $(shell pkg-config --static --libs jansson libcap 2>/dev/null)
build/guest/moat-agent: $(AGENT_SRCS) $(HDRS) $(wildcard runtime/agent/*.h)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -I. -O2 -D_FORTIFY_SOURCE=2 $(WARN) $(HARDEN) -static \
		-Wl,--gc-sections -o $@ $(AGENT_SRCS) $(AGENT_LIBS)

build/guest/initrd.img: build/guest/moat-agent runtime/guest/mkguest
	@$(if $(Q),echo "  GUEST   $@")
	$(Q)runtime/guest/mkguest build/guest/moat-agent build/guest || \
		echo "make guest: no guest kernel; the pod tests will skip, saying so"

guest: build/guest/initrd.img

# Everything moat and its tests need, from Debian.  Quiet when all is there.
DEPS := build-essential pkg-config clang libclang-rt-14-dev libyaml-dev libjansson-dev \
	libseccomp-dev libcap-dev libbpf-dev bpftool python3-yaml \
	iproute2 nftables iperf3 iputils-ping socat \
	libssl-dev zlib1g-dev qemu-system-x86 erofs-utils e2fsprogs cpio umoci skopeo busybox-static \
	cryptsetup-bin swtpm swtpm-tools tpm2-tools libtss2-dev \
	bats bats-assert bats-support python3 python3-jsonschema
deps:
	@missing=$$(for p in $(DEPS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
			|| echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing" $$missing; \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# check, perf and demo re-read this file after deps: what pkg-config finds
# (and so whether moat-tpm is built) depends on what deps installed.
check: deps
	$(Q)$(MAKE) --no-print-directory -j$(shell nproc 2>/dev/null || echo 2) run-check
run-check: all $(UNIT_BINS) fuzz guest
	$(Q)MOAT_BUILD=$(BUILD) SAN=$(SAN) tests/run

perf: deps
	$(Q)$(MAKE) --no-print-directory run-perf
run-perf: all $(PERF_BINS)
	$(Q)for t in tests/perf/*; do case $$t in *.c|*.sh) continue;; esac; \
		MOAT_BUILD=$(BUILD) $$t || exit 1; done

demo: deps
	$(Q)$(MAKE) --no-print-directory run-demo
run-demo: all guest
	$(Q)MOAT=$(BUILD)/moat examples/demo

MAN_PAGES := $(wildcard docs/*.1)
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(BUILD)/moat $(DESTDIR)$(PREFIX)/bin/moat
	$(if $(TPM_HELPER),install -d $(DESTDIR)$(PREFIX)/libexec/moat && \
		install -m 0755 $(TPM_HELPER) $(DESTDIR)$(PREFIX)/libexec/moat/moat-tpm)
	$(if $(MAN_PAGES),install -m 0644 $(MAN_PAGES) $(DESTDIR)$(PREFIX)/share/man/man1/)

clean:
	rm -rf build

.PHONY: all check clean demo deps fuzz guest install perf run-check run-perf run-demo
