# Backdoors: one Makefile for everything. `make help` lists the targets.
#
# make / make all   build bdnicd, bdmon, bdbench and the lab tests into build/
# make test         install what is missing, then every test: fuzz smoke runs,
#                   cmocka unit tests under ASan+UBSan, and the soft-RoCE lab
# make demo         boot the lab, bdmon watch host2, panic it: the alarm, the
#                   saved report, the dead kernel read through its NIC
# make bench        bdmon against perftest on the same lab link, with ratios;
#                   watch's detection latency per fault kind (bench/detect);
#                   repair time per persistent fault against a reboot (bench/repair);
#                   dumps filtered at the source against perftest and makedumpfile
#                   (bench/dump); resurrection against a reboot (bench/resurrect);
#                   libbdagent's overhead and checkpoints' cost (bench/checkpoint);
#                   one monitor and many targets (bench/fleet)
# make lab          build the lab image (lab/bdlab up boots it)
# make fuzz         longer fuzzing runs (FUZZ_SECONDS each, default 300)
# make soak         bdmon watch under load with no fault, 30 min, then idle,
#                   10 min: no alarm; then 20 panics and resets in a row,
#                   each healthy again; then 30 min of sick targets beside
#                   host2 (p99 interval)
# make unit         only the unit tests (no lab, no QEMU)
# make format       clang-format every C file
# make deps         install the Debian packages the project needs
# make install      (PREFIX=/usr/local, DESTDIR) the programs, repair scripts,
#                   manual pages, bash completion, systemd units, logrotate
# make package      the Debian packages (dpkg-buildpackage -b) in build/pkg/

CC      ?= gcc
CLANG   ?= clang
BUILD   := build
CSTD    := -std=c11 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wno-format-truncation
CFLAGS  ?= -O2 -g
DEPFLAGS = -MMD -MP
# The test flavour: one clang build of the library serves the unit tests and
# the fuzz targets, instrumented for libFuzzer's coverage feedback as well.
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
TFLAGS  := -O1 -g -fno-omit-frame-pointer $(SAN) -Wno-unknown-warning-option
LUA_CFLAGS := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
# Where make install puts things. bdmon looks for its repair scripts and
# stored layouts under DATADIR, compiled in (a change of PREFIX rebuilds).
PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
DATADIR ?= $(PREFIX)/share/backdoors
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/backdoors
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
# Debian 12 keeps units in /lib (not yet /usr/lib).
UNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
DEFS    := -DBD_DATADIR='"$(DATADIR)"'
# Generated code (CRIU's image formats) is included as <criu/NAME.pb-c.h>.
GEN     := $(BUILD)/gen
INCS    := $(LUA_CFLAGS) -I$(GEN)
CRIU_GEN := $(GEN)/criu/images.c
LIBS    := -lrdmacm -libverbs -lsodium -lpci -lbpf -llua5.4 -ljson-c -lprotobuf-c -lz -lzstd
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 15

COMMON_SRC  := $(wildcard common/*.c)
NIC_SRC     := $(filter-out backdoor-nic/bdnicd.c,$(wildcard backdoor-nic/*.c))
MON_SRC     := $(filter-out monitor/cli/%,$(wildcard monitor/*/*.c))
CLI_SRC     := $(wildcard monitor/cli/*.c)
LIB_SRC     := $(COMMON_SRC) $(NIC_SRC) $(MON_SRC)
AGENT_SRC   := $(wildcard host-agent/*.c)
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRC   := $(wildcard bench/*.c)

OBJ      = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
TEST_OBJ = $(patsubst %.c,$(BUILD)/test/%.o,$(1))

# Everything but the programs' main files, built once per flavour.
LIB      := $(BUILD)/libbackdoors.a
TEST_LIB := $(BUILD)/test/libbackdoors.a
# What applications on a target link (host-agent/bdagent.h).
AGENT_LIB := $(BUILD)/lib/libbdagent.a

BINS := $(BUILD)/bin/bdnicd $(BUILD)/bin/bdmon $(BUILD)/bin/bdbench $(BUILD)/bin/test_lab \
        $(BUILD)/bin/test_watch $(BUILD)/bin/test_repair $(BUILD)/bin/test_takeover \
        $(BUILD)/bin/rogue_write \
        $(BUILD)/bin/evil_peer $(BUILD)/bin/stale_read
# Repair scripts sit beside the binaries (bdmon finds them by name there,
# and the lab VMs see them in the share).
SCRIPTS := $(patsubst repair/%,$(BUILD)/repair/%,$(wildcard repair/*.lua repair/lib/*.lua))
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/test/unit/%,$(UNIT_SRC))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))

# Debian packages: build, unit tests, fuzzing, and the QEMU soft-RoCE lab.
DEBS := gcc make pkg-config clang libclang-rt-14-dev \
        libibverbs-dev librdmacm-dev libpci-dev pci.ids libsodium-dev libcmocka-dev \
        libbpf-dev libelf-dev liblua5.4-dev libjson-c-dev \
        qemu-system-x86 vde2 busybox-static cpio kmod rdma-core ibverbs-utils \
        ibverbs-providers rdmacm-utils perftest iproute2 socat zstd stress-ng gdb \
        criu protobuf-c-compiler libprotobuf-c-dev python3-protobuf nftables \
        zlib1g-dev libzstd-dev python3-drgn crash python3-libkdumpfile makedumpfile \
        help2man debhelper dpkg-dev fakeroot lintian systemd bash-completion logrotate

# Keep intermediate objects so test binaries do not rebuild the library.
.SECONDARY:

.PHONY: all test unit fuzz-smoke fuzz demo bench lab deps format clean help soak programs \
        install package FORCE
.DEFAULT_GOAL := all

# The lab's fault tools: static, since host2 runs them from the share.
FAULT_TOOLS := $(BUILD)/lab/faults/bdhog
# The lab's services (lab/apps): unoptimised and with debug information,
# since the tests read their variables back by name with gdb. Two link
# libbdagent, the library an application uses.
AGENT_APPS := $(BUILD)/bin/agentd $(BUILD)/bin/counterd
LAB_APPS := $(filter-out $(AGENT_APPS),$(patsubst lab/apps/%.c,$(BUILD)/bin/%,$(wildcard lab/apps/*.c)))

# What runs on a standby machine (a script: built means copied beside bdmon).
STANDBY := $(BUILD)/bin/bd-standby-restore

all: $(BINS) $(SCRIPTS) $(FAULT_TOOLS) $(LAB_APPS) $(AGENT_APPS) $(STANDBY) $(AGENT_LIB) programs

$(STANDBY): $(BUILD)/bin/%: standby/% $(BUILD)/defs
	@mkdir -p $(dir $@)
	sed 's/@VERSION@/$(VERSION)/' $< > $@.tmp && chmod 755 $@.tmp && mv -f $@.tmp $@

# What make install and the packages ship: no lab, no tests. Manual pages
# are made from the programs' --help (help2man; lab/bdlab's, written as a
# manual already, by man/text2man), so the help stays their one source.
MAN_PAGES := $(BUILD)/man/bdmon.8 $(BUILD)/man/bdnicd.8 $(BUILD)/man/bd-standby-restore.8 \
             $(BUILD)/man/backdoors-targets.5 $(BUILD)/man/bdlab.1
UNITS     := $(patsubst contrib/systemd/%.in,$(BUILD)/systemd/%,$(wildcard contrib/systemd/*.in))
programs: $(BUILD)/bin/bdnicd $(BUILD)/bin/bdmon $(STANDBY) $(SCRIPTS) $(MAN_PAGES) $(UNITS)

$(BUILD)/man/%.8: $(BUILD)/bin/% man/%.h2m
	@mkdir -p $(dir $@)
	help2man -N -s 8 -m "Backdoors" -i man/$*.h2m -o $@.tmp $< && mv -f $@.tmp $@
$(BUILD)/man/%.5: man/%.5
	@mkdir -p $(dir $@)
	cp $< $@
$(BUILD)/man/bdlab.1: lab/bdlab man/text2man
	@mkdir -p $(dir $@)
	lab/bdlab --help | man/text2man bdlab 1 "Backdoors lab" > $@.tmp && mv -f $@.tmp $@
$(BUILD)/systemd/%: contrib/systemd/%.in $(BUILD)/defs
	@mkdir -p $(dir $@)
	sed 's|@SBINDIR@|$(SBINDIR)|g' $< > $@.tmp && mv -f $@.tmp $@

install: programs
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(DATADIR)/repair/lib $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSCONFDIR)/logrotate.d $(DESTDIR)$(DOCDIR)/examples
	install -m 755 $(BUILD)/bin/bdnicd $(BUILD)/bin/bdmon $(STANDBY) $(DESTDIR)$(SBINDIR)
	install -m 644 repair/*.lua $(DESTDIR)$(DATADIR)/repair
	install -m 644 repair/lib/*.lua $(DESTDIR)$(DATADIR)/repair/lib
	install -m 644 $(filter %.5,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man5
	install -m 644 $(filter %.8,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man8
	install -m 644 contrib/bash-completion/* $(DESTDIR)$(BASHCOMPDIR)
	install -m 644 $(UNITS) $(DESTDIR)$(UNITDIR)
	install -m 644 contrib/logrotate/* $(DESTDIR)$(SYSCONFDIR)/logrotate.d
	install -m 644 contrib/examples/* $(DESTDIR)$(DOCDIR)/examples

# In a copy of the committed tree: dpkg-buildpackage cleans the tree it
# builds in, and the test build in build/ must survive it.
package:
	tests/build-package $(BUILD)/pkg

$(LAB_APPS): $(BUILD)/bin/%: lab/apps/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O0 -g $(WARN) -pthread -o $@.tmp $< && mv -f $@.tmp $@
$(AGENT_APPS): $(BUILD)/bin/%: lab/apps/%.c $(AGENT_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O0 -g $(WARN) -pthread -o $@.tmp $< $(AGENT_LIB) && mv -f $@.tmp $@

$(BUILD)/lab/faults/bdhog: lab/faults/bdhog.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -static -O2 $(WARN) -o $@.tmp $< && mv -f $@.tmp $@

$(BUILD)/repair/%.lua: repair/%.lua
	@mkdir -p $(dir $@)
	cp $< $@

help:
	@sed -n '2,23s/^# \{0,1\}//p' Makefile

# Every object may include a generated header (order only: no rebuild when
# the generated files are newer).
$(BUILD)/obj/%.o: %.c | $(CRIU_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(INCS) $(DEFS) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c $< -o $@
$(BUILD)/obj/monitor/cli/bdmon.o $(BUILD)/obj/backdoor-nic/bdnicd.o: DEFS += -DBD_VERSION='"$(VERSION)"'
# DATADIR and VERSION are compiled in: a change of either rebuilds.
$(BUILD)/obj/monitor/repair/run.o $(BUILD)/obj/monitor/kernel/layout.o: $(BUILD)/defs
$(BUILD)/obj/monitor/cli/bdmon.o $(BUILD)/obj/backdoor-nic/bdnicd.o: $(BUILD)/defs
$(BUILD)/test/monitor/repair/run.o $(BUILD)/test/monitor/kernel/layout.o: $(BUILD)/defs
$(BUILD)/defs: FORCE
	@mkdir -p $(dir $@)
	@echo '$(DEFS) $(VERSION)' | cmp -s - $@ || echo '$(DEFS) $(VERSION)' > $@

$(BUILD)/test/%.o: %.c | $(CRIU_GEN)
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(WARN) $(INCS) $(DEFS) $(TFLAGS) -fsanitize=fuzzer-no-link $(DEPFLAGS) -c $< -o $@

# CRIU's image formats, as C, from the criu installed here (its Python
# package carries their descriptors); one object holds them all.
$(CRIU_GEN): monitor/resurrect/criu-gen
	/usr/bin/python3 $< $(GEN)
$(BUILD)/obj/criu-images.o: $(CRIU_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(GEN)/criu -c $< -o $@
$(BUILD)/test/criu-images.o: $(CRIU_GEN)
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(WARN) $(TFLAGS) -fsanitize=fuzzer-no-link -I$(GEN)/criu -c $< -o $@

$(LIB): $(call OBJ,$(LIB_SRC)) $(BUILD)/obj/criu-images.o
	@rm -f $@
	$(AR) rcs $@ $^

$(TEST_LIB): $(call TEST_OBJ,$(LIB_SRC) $(AGENT_SRC)) $(BUILD)/test/criu-images.o
	@rm -f $@
	$(AR) rcs $@ $^

$(AGENT_LIB): $(call OBJ,$(AGENT_SRC))
	@mkdir -p $(dir $@)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/bin/bdnicd: $(call OBJ,backdoor-nic/bdnicd.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS)

$(BUILD)/bin/bdmon: $(call OBJ,$(CLI_SRC)) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS)

$(BUILD)/bin/bdbench: $(call OBJ,$(BENCH_SRC)) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS) -lm

$(BUILD)/bin/test_%: $(call OBJ,tests/lab/lab_util.c) $(BUILD)/obj/tests/lab/test_%.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ -lcmocka

# Lab tools, not cmocka tests: peers of bdnicd on the library's transport.
LAB_TOOLS := $(BUILD)/bin/rogue_write $(BUILD)/bin/evil_peer $(BUILD)/bin/stale_read
$(LAB_TOOLS): $(BUILD)/bin/%: $(BUILD)/obj/tests/lab/%.o $(BUILD)/obj/tests/lab/lab_peer.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS)

# Unit tests are not fuzzers: their own file needs no coverage hooks.
$(BUILD)/test/unit/%: tests/unit/%.c $(TEST_LIB)
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(WARN) $(INCS) $(TFLAGS) $(DEPFLAGS) -MF $@.d -MT $@ $< $(TEST_LIB) -o $@ $(LIBS) -lcmocka

$(BUILD)/fuzz/%: tests/fuzz/%.c $(TEST_LIB)
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(WARN) $(INCS) $(TFLAGS) -fsanitize=fuzzer $(DEPFLAGS) -MF $@.d -MT $@ $< $(TEST_LIB) -o $@ $(LIBS)

deps:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

unit: $(UNIT_BINS)
	tests/run --unit-only

fuzz-smoke: $(FUZZ_BINS)
fuzz: $(FUZZ_BINS)
	tests/run-fuzz $(FUZZ_SECONDS)

test: deps
	$(MAKE) all $(UNIT_BINS) $(FUZZ_BINS)
	FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) tests/run

# The watch's no-false-alarm soak, 30 minutes of load (make test: 5) and 10
# of an idle target (make test: 1), and 20 panics and resets in a row (make
# test: 2); then 30 minutes of sick targets beside a healthy one (make test:
# 30 s), whose probes' p99 interval must stay within 2x the interval.
soak: deps all
	BD_ROOT=$(CURDIR) BD_SOAK_SECONDS=$${SOAK_SECONDS:-1800} BD_IDLE_SOAK_SECONDS=$${IDLE_SOAK_SECONDS:-600} BD_PANIC_ROUNDS=$${PANIC_ROUNDS:-20} \
		$(BUILD)/bin/test_watch
	SICK_SECONDS=$${SOAK_SECONDS:-1800} SICK_P99=1 tests/lab/sick-neighbours

lab: deps all
	lab/bdlab image

demo: deps all
	lab/demo

bench: deps all
	bench/run

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)/obj $(BUILD)/test $(BUILD)/fuzz $(BUILD)/bin $(BUILD)/man $(BUILD)/systemd \
		$(BUILD)/defs $(LIB)

-include $(shell find $(BUILD)/obj $(BUILD)/test $(BUILD)/fuzz -name '*.d' 2>/dev/null)
