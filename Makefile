# Thin wrapper over CMake for the README commands. `make help` lists the targets.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
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
	@echo "             PREFIX (default /usr/local; DESTDIR honoured); make uninstall"

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
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

# Libraries, header, setowire.pc, tools and man pages (cmake/install.cmake). DESTDIR
# stages the files for a package; setowire.pc still names PREFIX.
install: build
	DESTDIR="$(DESTDIR)" $(CMAKE) --install $(BUILD) --prefix "$(PREFIX)"

# Removes what the last `make install` from $(BUILD) installed (its manifest).
uninstall:
	@test -f $(BUILD)/install_manifest.txt || { echo "nothing installed from $(BUILD)/"; exit 1; }
	@while IFS= read -r f || [ -n "$$f" ]; do rm -fv "$(DESTDIR)$$f"; done < $(BUILD)/install_manifest.txt
