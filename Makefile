# Thin wrapper over CMake for the README commands. `make help` lists the targets.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
INSTALL_BUILD ?= build-install
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake
PREFIX ?= /usr/local

.PHONY: all setup refs build demo test test-fast test-asan fuzz bench clean help install uninstall

all: build

help:
	@echo "make setup   install missing Debian build dependencies (apt-get)"
	@echo "make build   configure and build into $(BUILD)/ (tools in $(BUILD)/bin)"
	@echo "make demo    set up, build, and run a local demonstration"
	@echo "make test    the whole suite: normal build, ASan+UBSan build, short fuzz run"
	@echo "make bench   run the benchmarks (figures only, never fails on timing)"
	@echo "make install install libraries, header, setowire.pc, tools, man pages into"
	@echo "             PREFIX (default /usr/local; DESTDIR honoured); make uninstall."
	@echo "             Builds in $(INSTALL_BUILD)/ without tests or benchmarks; no setup"

setup:
	@bash scripts/setup.sh

build: setup
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	$(CMAKE) --build $(BUILD) -j$(JOBS)

demo: build
	@bash scripts/demo.sh $(BUILD)/bin

refs:
	@bash scripts/refs.sh

test-fast: build refs
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-asan: setup refs
	$(CMAKE) -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSW_SANITIZE=ON -DSW_BENCH=OFF >/dev/null
	$(CMAKE) --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j$(JOBS)

fuzz: setup
	CC=clang $(CMAKE) -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSW_FUZZ=ON -DSW_TESTS=OFF -DSW_BENCH=OFF >/dev/null
	$(CMAKE) --build $(FUZZ_BUILD) -j$(JOBS)
	@bash scripts/fuzz-short.sh $(FUZZ_BUILD)/bin

test: test-fast fuzz test-asan

bench: build
	@bash bench/run.sh $(BUILD)/bin

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(INSTALL_BUILD)

# Libraries, header, setowire.pc, tools and man pages (cmake/install.cmake). DESTDIR
# stages the files for a package; setowire.pc still names PREFIX. Its own build folder,
# configured without the tests and benchmarks (so no cmocka), and no `make setup`: it
# installs no package and fetches nothing, the build dependencies must be present.
install:
	$(CMAKE) -S . -B $(INSTALL_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSW_TESTS=OFF \
		-DSW_BENCH=OFF -DSW_FUZZ=OFF -DSW_SANITIZE=OFF >/dev/null
	$(CMAKE) --build $(INSTALL_BUILD) -j$(JOBS)
	DESTDIR="$(DESTDIR)" $(CMAKE) --install $(INSTALL_BUILD) --prefix "$(PREFIX)"

# Removes what the last `make install` installed (the manifest in $(INSTALL_BUILD)/).
uninstall:
	@test -f $(INSTALL_BUILD)/install_manifest.txt || { echo "nothing installed from $(INSTALL_BUILD)/"; exit 1; }
	@while IFS= read -r f || [ -n "$$f" ]; do rm -fv "$(DESTDIR)$$f"; done < $(INSTALL_BUILD)/install_manifest.txt
