# tapctl: `make` builds the release binary at .build/release/tapctl,
# `make check` runs every test, `make demo` shows the main job in a throwaway
# network namespace. All of them install libcap-dev with apt when it is missing.

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
SWIFT ?= swift
BIN := .build/release/tapctl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build deps check demo install clean

all: build

# Debian packages the build and the tests need, installed only when missing.
deps:
	@missing=""; \
	pkg-config --exists libcap 2>/dev/null || missing="$$missing libcap-dev"; \
	command -v pkg-config >/dev/null || missing="$$missing pkgconf"; \
	command -v mandoc >/dev/null || missing="$$missing mandoc"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v setpriv >/dev/null || missing="$$missing util-linux"; \
	command -v ethtool >/dev/null || missing="$$missing ethtool"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The product links the Swift runtime statically: about 1.6 ms to start, not 3-5.
build: deps
	$(SWIFT) build -c release --static-swift-stdlib --product tapctl

# Unit tests run anywhere. The kernel tests drive $(BIN) against the real TUN
# driver inside a throwaway network namespace; without root they skip, and under
# CI (CI set) a skip is a failure.
check: build
	mandoc -Tlint -W warning man/tapctl.8
	$(SWIFT) build --build-tests
	@if [ "$$(id -u)" = 0 ]; then \
		scripts/in-netns env TAPCTL_KERNEL_TESTS=1 TAPCTL_BIN="$(CURDIR)/$(BIN)" $(SWIFT) test --skip-build --disable-swift-testing; \
	else \
		echo "not root: the kernel tests will skip"; \
		TAPCTL_BIN="$(CURDIR)/$(BIN)" $(SWIFT) test --skip-build --disable-swift-testing; \
	fi

demo: build
	$(SUDO) scripts/in-netns env TAPCTL="$(CURDIR)/$(BIN)" scripts/demo

install: build
	install -D -m 755 $(BIN) $(DESTDIR)$(SBINDIR)/tapctl
	install -D -m 644 man/tapctl.8 $(DESTDIR)$(MANDIR)/man8/tapctl.8

clean:
	rm -rf .build
