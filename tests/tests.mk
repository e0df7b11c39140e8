# tests.mk: the test suite and the one-command targets (included by Makefile).
#
#   make setup       check / install the Debian packages (scripts/setup.sh)
#   make demo        setup, build, print the derived program of the SPEC's example
#   make test        setup, build, then lit (tests/) and the C unit tests (tests/unit)
#   make check-asan  the same suite built in build-asan with ASan + UBSan; any
#                    sanitizer report (leaks included) fails the test it happens in
#   make check-valgrind  the generated .so of every example (and of every
#                    tests/backend/ops program) driven under Valgrind memcheck:
#                    no invalid access, no uninitialised read, no leak
#   make check-tsan  the generated .so of the examples called from 4 threads
#                    at once by a driver built with -fsanitize=thread, the
#                    two-thread test (use_seed_conv.c) under TSan, and the
#                    same calls under Valgrind's helgrind
#                    (both: tests/sanitize/check.sh, which describes them)
#   make test-suite  build and run the suite in $(BUILD) without running setup
#
# Variables: SETUP=: skips the package check; LIT_OPTS adds lit options
# (e.g. LIT_OPTS="--filter diag"); PYTHON is the interpreter for lit.

LLVM_TOOLS ?= /usr/lib/llvm-19/bin
LIT ?= /usr/lib/llvm-19/build/utils/lit/lit.py
PYTHON ?= /usr/bin/python3
SETUP ?= bash scripts/setup.sh
LIT_OPTS ?=
# lit's per-test timeout needs psutil; use it where it is installed.
LIT_TIMEOUT := $(shell $(PYTHON) -c 'import psutil' >/dev/null 2>&1 && echo --timeout=300)

ASAN_BUILD ?= build-asan
ASAN_SAN ?= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# abort_on_error turns every report into SIGABRT, so even `not gradc ...` (which
# expects a failure) fails: LLVM's `not` treats a crash as an error.
# LSan suppressions (tests/lsan.supp) are for leaks inside system libraries only.
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1 \
	LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0 \
	ASAN_SYMBOLIZER_PATH=$(LLVM_TOOLS)/llvm-symbolizer

UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))

# check-valgrind and check-tsan work in $(BUILD)/sanitize/; TSAN_CC compiles
# the TSan programs (clang-19: its runtime re-executes the program when the
# kernel's address-space randomisation is too high for TSan; gcc 12's cannot).
SANITIZE_DIR = $(BUILD)/sanitize
TSAN_CC ?= clang-19

.PHONY: setup demo test test-suite check-asan check-valgrind check-tsan unit lit

setup:
	@$(SETUP)

demo: setup
	@$(MAKE) --no-print-directory all
	$(GRADC) grad examples/seed_conv.grad

test: setup
	@$(MAKE) --no-print-directory test-suite

check-asan: setup
	@$(ASAN_ENV) $(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) SAN="$(ASAN_SAN)" \
	    OPT="-O1 -g" test-suite

check-valgrind: setup
	@$(MAKE) --no-print-directory all
	GRADC=$(abspath $(GRADC)) CC="$(CC)" bash tests/sanitize/check.sh valgrind $(SANITIZE_DIR)/valgrind

check-tsan: setup
	@$(MAKE) --no-print-directory all
	GRADC=$(abspath $(GRADC)) CC="$(CC)" TSAN_CC="$(TSAN_CC)" \
	    bash tests/sanitize/check.sh tsan $(SANITIZE_DIR)/tsan

# Both halves run even when the first fails; the target fails if either did.
test-suite: all $(UNIT_BINS)
	@status=0; \
	$(MAKE) --no-print-directory lit || status=1; \
	$(MAKE) --no-print-directory unit || status=1; \
	exit $$status

lit: all
	$(PYTHON) $(LIT) -sv $(LIT_TIMEOUT) \
	    --param gradc=$(abspath $(GRADC)) \
	    --param build=$(abspath $(BUILD)) \
	    --param llvm_tools=$(LLVM_TOOLS) \
	    --param python=$(PYTHON) \
	    --param sanitizers=$(if $(strip $(SAN)),1,0) \
	    --param check=1 \
	    $(LIT_OPTS) tests

# Every tests/unit/*.c is a program that links with the front end and the
# runtime and exits 0 when all its checks pass.
$(BUILD)/tests/unit/%: tests/unit/%.c $(LIBFRONT) $(LIBRT) compiler/gradc.h compiler/ops.h \
		$(wildcard tests/unit/*.h runtime/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -o $@ $< $(LIBFRONT) $(LIBRT) -lm

unit: $(UNIT_BINS)
	@pass=0; fail=0; \
	for t in $(UNIT_BINS); do \
	    if "$$t"; then pass=$$((pass + 1)); \
	    else echo "FAIL: $$t (exit status $$?)"; fail=$$((fail + 1)); fi; \
	done; \
	echo "unit tests: $$pass passed, $$fail failed"; \
	test $$fail -eq 0
