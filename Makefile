# tapctl: `make` builds the release binary at .build/release/tapctl,
# `make check` runs every test, `make demo` shows the main job in a throwaway
# network namespace. All of them install libcap-dev with apt when it is missing.

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
# systemd reads units from /usr/local/lib/systemd/system as well as /lib's.
UNITDIR ?= $(PREFIX)/lib/systemd/system
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
DOCDIR ?= $(PREFIX)/share/doc/tapctl
SWIFT ?= swift
BIN := .build/release/tapctl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build docs deps demo-deps check-deps install-missing guest check fuzz demo bench install uninstall deb clean

all: build

# Debian packages, installed only when missing: `deps` for the build,
# `check-deps` for every program the tests run. ../shared/tools/deps-audit
# checks this list against what `make check` really runs.
deps:
	@$(MAKE) --no-print-directory install-missing PACKAGES="$$(pkg-config --exists libcap 2>/dev/null || echo libcap-dev) \
		$$(command -v pkg-config >/dev/null || echo pkgconf)"

# What the demo shows tapctl beside: iproute2 and ethtool.
demo-deps: deps
	@$(MAKE) --no-print-directory install-missing PACKAGES="$$(command -v ip >/dev/null || echo iproute2) \
		$$(command -v ethtool >/dev/null || echo ethtool)"

# PROGRAM:PACKAGE for each program the tests run: mandoc lints the man page;
# ip, setpriv, sysctl and unshare set up namespaces and users; ethtool is
# what tapctl is checked against; setcap makes the helper-mode copies; QEMU
# is a real consumer of the descriptors; ping answers TapResponder; the
# rest check what `make install` and `make deb` put on a host (completion,
# the unit, the man page, lintian, a minimal Debian root) and validate the
# libvirt recipe; podman (with runc and conmon, which it runs), containernetworking-plugins' bridge
# and host-local, nsenter and tc are the runtime and the plugins the CNI
# tests chain tapctl with. Installing them, apt runs programs of their dependencies
# (libxml-sax-perl's update-perl-sax-parsers, for lintian), which come with
# the packages that need them.
CHECK_TOOLS := mandoc:mandoc ip:iproute2 setpriv:util-linux unshare:util-linux sysctl:procps \
	ethtool:ethtool setcap:libcap2-bin qemu-system-x86_64:qemu-system-x86 ping:iputils-ping \
	systemd-analyze:systemd man:man-db lintian:lintian mmdebstrap:mmdebstrap \
	virt-xml-validate:libvirt-clients xmllint:libxml2-utils sha256sum:coreutils \
	nsenter:util-linux tc:iproute2 dpkg-deb:dpkg podman:podman runc:runc conmon:conmon
check-deps: deps
	@$(MAKE) --no-print-directory install-missing PACKAGES="$(foreach t,$(CHECK_TOOLS),$$(command -v $(firstword $(subst :, ,$t)) >/dev/null || echo $(lastword $(subst :, ,$t)))) \
		$$(test -e /usr/share/bash-completion/bash_completion || echo bash-completion) \
		$$(test -x /usr/lib/cni/host-local || echo containernetworking-plugins)"

install-missing:
	@if [ -n "$$(echo $(PACKAGES))" ]; then \
		echo "installing: $(PACKAGES)"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(PACKAGES) >/dev/null; \
	fi

# The Swift runtime is linked statically, and so is libstdc++: the toolchain
# asks for the shared one, whose symbol lookups dominate a short command's
# start-up (docs/benchmark.md). A linker script named libstdc++.so, found first, points the
# linker at the archive. glibc stays shared, for NSS (getpwnam and friends
# crash in a static glibc here). No local rpath: nothing to search at start.
STDCXX_A := $(shell g++ -print-file-name=libstdc++.a 2>/dev/null)
STDCXX_DIR := .build/static-libstdc++
STDCXX_FLAGS := $(if $(filter /%,$(STDCXX_A)),-Xlinker -L$(CURDIR)/$(STDCXX_DIR))

build: deps
	@if [ -n "$(STDCXX_FLAGS)" ]; then mkdir -p $(STDCXX_DIR) && echo "INPUT($(STDCXX_A))" > $(STDCXX_DIR)/libstdc++.so; fi
	$(SWIFT) build -c release --product tapctl --static-swift-stdlib --disable-local-rpath $(STDCXX_FLAGS) \
		-Xlinker --version-script=$(CURDIR)/scripts/tapctl.exports

# A minimal Debian root the package tests install tapctl into, never this
# host: made once (the tests run in a namespace without network) and kept.
DEBROOT := .build/debroot/bookworm-minbase.tar
$(DEBROOT):
	mkdir -p $(dir $@)
	mmdebstrap --quiet --variant=minbase --include=man-db,libcap2 bookworm $@.tmp.tar
	mv $@.tmp.tar $@

# The Linux guest GuestKernelTests boots: a Debian cloud kernel and an initramfs
# of busybox-static, the virtio-net modules and the host's ethtool, fetched with
# apt-get download and unpacked, never installed (busybox-static would replace
# Debian's busybox), cached in .build/guest. Built here, not by the test: the
# test's network namespace has no way out to the mirror.
guest: check-deps
	scripts/guest-image .build/guest

# Unit tests run anywhere. The kernel tests drive $(BIN) against the real TUN
# driver inside a throwaway network namespace; without root they skip, and under
# CI (CI set) a skip is a failure.
check: build check-deps deb $(DEBROOT) guest docs
	mandoc -Tlint -W warning man/tapctl.8
	$(SWIFT) build --build-tests -Xswiftc -warnings-as-errors --explicit-target-dependency-import-check=error
	@if [ "$$(id -u)" = 0 ]; then \
		scripts/in-netns env TAPCTL_KERNEL_TESTS=1 TAPCTL_BIN="$(CURDIR)/$(BIN)" TAPCTL_GUEST="$(CURDIR)/.build/guest" $(SWIFT) test --skip-build --disable-swift-testing; \
	else \
		echo "not root: the kernel tests will skip"; \
		TAPCTL_BIN="$(CURDIR)/$(BIN)" $(SWIFT) test --skip-build --disable-swift-testing; \
	fi

# The parser fuzz of make check, run longer.
fuzz: deps
	TAPCTL_FUZZ_COUNT=200000 $(SWIFT) test --disable-swift-testing --filter FuzzTests

demo: build demo-deps
	$(SUDO) scripts/in-netns env TAPCTL="$(CURDIR)/$(BIN)" scripts/demo

# tapctl against ip in the same run; not part of check (timings are not assertions).
bench: build
	$(SWIFT) build -c release --product TapBench --static-swift-stdlib
	@$(MAKE) --no-print-directory install-missing PACKAGES="$$(command -v hyperfine >/dev/null || echo hyperfine) \
		$$(command -v cc >/dev/null || echo gcc) \
		$$(test -x /usr/bin/time || echo time) $$(command -v ip >/dev/null || echo iproute2) \
		$$(command -v perf >/dev/null || echo linux-perf) $$(command -v valgrind >/dev/null || echo valgrind)"
	$(SUDO) scripts/in-netns env TAPCTL="$(CURDIR)/$(BIN)" scripts/bench

# The binary, the man page, bash completion, the boot unit (not enabled) and
# the example configuration files; /etc is left to the administrator.
install: build
	install -D -m 755 $(BIN) $(DESTDIR)$(SBINDIR)/tapctl
	install -D -m 644 man/tapctl.8 $(DESTDIR)$(MANDIR)/man8/tapctl.8
	install -d -m 755 $(DESTDIR)$(COMPLETIONDIR) $(DESTDIR)$(UNITDIR)
	$(BIN) completion bash > $(DESTDIR)$(COMPLETIONDIR)/tapctl
	sed 's|@SBINDIR@|$(SBINDIR)|' dist/tapctl-apply.service.in > $(DESTDIR)$(UNITDIR)/tapctl-apply.service
	sed 's|@SBINDIR@|$(SBINDIR)|' dist/tapctl-apply-bridges.service.in > $(DESTDIR)$(UNITDIR)/tapctl-apply-bridges.service
	install -D -m 644 dist/taps.conf $(DESTDIR)$(DOCDIR)/examples/taps.conf
	install -D -m 644 dist/acl $(DESTDIR)$(DOCDIR)/examples/acl

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/tapctl $(DESTDIR)$(MANDIR)/man8/tapctl.8 $(DESTDIR)$(COMPLETIONDIR)/tapctl \
		$(DESTDIR)$(UNITDIR)/tapctl-apply.service $(DESTDIR)$(UNITDIR)/tapctl-apply-bridges.service \
		$(DESTDIR)$(DOCDIR)/examples/taps.conf $(DESTDIR)$(DOCDIR)/examples/acl
	-rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null

# A Debian package, tapctl_VERSION_amd64.deb, at the top of the tree
# (dpkg-deb; dpkg-shlibdeps computes Depends from the binary).
deb: build
	@$(MAKE) --no-print-directory install-missing PACKAGES="$$(command -v dpkg-shlibdeps >/dev/null || echo dpkg-dev) \
		$$(command -v fakeroot >/dev/null || echo fakeroot)"
	scripts/make-deb

clean:
	rm -rf .build

# The DocC reference of the two library products, in .build/docs; warnings fail it.
docs: deps
	rm -rf .build/docs && mkdir -p .build/docs
	for target in TapDataPath TapCore; do \
		$(SWIFT) package --allow-writing-to-directory .build/docs generate-documentation --target $$target \
			--output-path .build/docs/$$target --warnings-as-errors || exit 1; \
	done
