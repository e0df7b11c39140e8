# fuzz.mk: libFuzzer targets (included from the Makefile).
#
#   make fuzz FUZZ_SECONDS=N   build both targets, run each for N seconds
#                              (default 60); `make -j2 fuzz` runs them at once
#   make fuzz-front / fuzz-npy one of them
#   make fuzz-smoke            a few thousand runs each plus every regression
#                              input: seconds, for CI
#   make fuzz-build            only build build-fuzz/fuzz_front, build-fuzz/fuzz_npy
#   make fuzz-clean            remove build-fuzz/
#
# fuzz_front (fuzz/fuzz_front.c) drives the whole front half on a .grad file:
# lexer, parser, checker, normalizer, differentiator, every printer, the
# print/parse round trip and the reference evaluator. fuzz_npy
# (fuzz/fuzz_npy.c) drives the .npy reader of runtime/npy.c.
#
# Everything is compiled with clang-19 -fsanitize=fuzzer,address,undefined
# into $(FUZZ_BUILD). The working corpora live in $(FUZZ_BUILD)/corpus/ and
# grow from run to run; they are seeded, at every run, from examples/,
# tests/grad, tests/diag and tests/fuzz-regress (front) and fuzz/corpus/npy
# (npy), so the source tree is never written. A finding is written to
# $(FUZZ_BUILD)/artifacts/ and fails the target; reproduce it with
#   build-fuzz/fuzz_front build-fuzz/artifacts/front-crash-...
#
# Variables: FUZZ_SECONDS, FUZZ_SMOKE_RUNS, FUZZ_MAX_LEN (largest input, bytes),
# FUZZ_LEN_CONTROL (libFuzzer's -len_control for fuzz_front: lower reaches
# long inputs sooner, 10 gets to FUZZ_MAX_LEN within a minute),
# FUZZ_TIMEOUT (seconds one input may take before it counts as a hang),
# FUZZ_OPTS (more libFuzzer options), FUZZ_CC.

FUZZ_CC ?= clang-19
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_RUNS ?= 2000
FUZZ_MAX_LEN ?= 8192
FUZZ_TIMEOUT ?= 10
FUZZ_LEN_CONTROL ?= 10
FUZZ_OPTS ?=
LLVM_TOOLS ?= /usr/lib/llvm-19/bin

FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -g -O1 -std=c11 -Wall -Wextra $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	-D_POSIX_C_SOURCE=200809L -Icompiler -Iruntime -I$(FUZZ_BUILD)/gen
FUZZ_LDFLAGS := $(FUZZ_SAN) -fsanitize=fuzzer

# The front half: every compiler/*.c but the command line and the backend.
FUZZ_FRONT_SRCS := $(filter-out compiler/main.c compiler/backend.c $(LLVM_SRCS),$(wildcard compiler/*.c))
FUZZ_FRONT_OBJS := $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(FUZZ_FRONT_SRCS)) \
	$(FUZZ_BUILD)/gen/parser.o $(FUZZ_BUILD)/gen/lexer.o
FUZZ_RT_OBJS := $(FUZZ_BUILD)/runtime/npy.o

# The environment of every run: reports symbolized, leaks are findings.
FUZZ_ENV := ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ASAN_SYMBOLIZER_PATH=$(LLVM_TOOLS)/llvm-symbolizer

.PHONY: fuzz fuzz-build fuzz-front fuzz-npy fuzz-smoke fuzz-clean fuzz-seed

fuzz-build: $(FUZZ_BUILD)/fuzz_front $(FUZZ_BUILD)/fuzz_npy

$(FUZZ_BUILD)/gen/parser.c $(FUZZ_BUILD)/gen/parser.h &: grammar/parser.y
	@mkdir -p $(FUZZ_BUILD)/gen
	$(BISON) -Wall -Werror --defines=$(FUZZ_BUILD)/gen/parser.h -o $(FUZZ_BUILD)/gen/parser.c $<

$(FUZZ_BUILD)/gen/lexer.c $(FUZZ_BUILD)/gen/lexer.h &: grammar/lexer.l
	@mkdir -p $(FUZZ_BUILD)/gen
	$(FLEX) --header-file=$(FUZZ_BUILD)/gen/lexer.h -o $(FUZZ_BUILD)/gen/lexer.c $<

$(FUZZ_BUILD)/gen/%.o: $(FUZZ_BUILD)/gen/%.c $(FUZZ_BUILD)/gen/parser.h $(FUZZ_BUILD)/gen/lexer.h
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wno-unused-function -Wno-sign-compare -Wno-unused-parameter \
	    -Igrammar -c -o $@ $<

$(FUZZ_BUILD)/compiler/%.o: compiler/%.c compiler/gradc.h compiler/ops.h \
		$(FUZZ_BUILD)/gen/parser.h $(FUZZ_BUILD)/gen/lexer.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/runtime/%.o: runtime/%.c $(wildcard runtime/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/fuzz_front: fuzz/fuzz_front.c $(FUZZ_FRONT_OBJS) compiler/gradc.h compiler/ops.h
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_LDFLAGS) -o $@ $< $(FUZZ_FRONT_OBJS) -lm

$(FUZZ_BUILD)/fuzz_npy: fuzz/fuzz_npy.c $(FUZZ_RT_OBJS) runtime/gradc_rt.h
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_LDFLAGS) -o $@ $< $(FUZZ_RT_OBJS) -lm

# The .grad seeds (and the inputs fuzz_front found, tests/fuzz-regress/
# Inputs/*.bin), copied into directory $(1) under names made from their
# paths (examples/conv.grad -> examples_conv.grad: no two collide).
FUZZ_SEED_DIRS := examples tests/grad tests/diag tests/fuzz-regress
fuzz_seed_front = for f in $$(find $(FUZZ_SEED_DIRS) -type f -name '*.grad' -o -name '*.bin' \
	    2>/dev/null); do \
	    cp "$$f" "$(1)/$$(echo "$$f" | tr / _)"; done

# Seeds go into the working corpora (existing entries are kept).
fuzz-seed:
	@mkdir -p $(FUZZ_BUILD)/corpus/front $(FUZZ_BUILD)/corpus/npy $(FUZZ_BUILD)/artifacts
	@$(call fuzz_seed_front,$(FUZZ_BUILD)/corpus/front)
	@cp fuzz/corpus/npy/* $(FUZZ_BUILD)/corpus/npy/

FUZZ_FRONT_RUN = $(FUZZ_ENV) $(FUZZ_BUILD)/fuzz_front -dict=fuzz/grad.dict \
	-max_len=$(FUZZ_MAX_LEN) -len_control=$(FUZZ_LEN_CONTROL) -timeout=$(FUZZ_TIMEOUT) \
	-print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts/front- $(FUZZ_OPTS)
FUZZ_NPY_RUN = $(FUZZ_ENV) $(FUZZ_BUILD)/fuzz_npy -dict=fuzz/npy.dict \
	-max_len=4096 -timeout=$(FUZZ_TIMEOUT) -print_final_stats=1 \
	-artifact_prefix=$(FUZZ_BUILD)/artifacts/npy- $(FUZZ_OPTS)

fuzz: fuzz-front fuzz-npy

fuzz-front: $(FUZZ_BUILD)/fuzz_front fuzz-seed
	$(FUZZ_FRONT_RUN) -max_total_time=$(FUZZ_SECONDS) $(FUZZ_BUILD)/corpus/front

fuzz-npy: $(FUZZ_BUILD)/fuzz_npy fuzz-seed
	$(FUZZ_NPY_RUN) -max_total_time=$(FUZZ_SECONDS) $(FUZZ_BUILD)/corpus/npy

# Fixed seed, a fixed number of runs, a corpus of the seeds only: the same
# work every time. The regression inputs are run one by one first.
fuzz-smoke: fuzz-build
	@rm -rf $(FUZZ_BUILD)/smoke && mkdir -p $(FUZZ_BUILD)/smoke/front $(FUZZ_BUILD)/smoke/npy $(FUZZ_BUILD)/artifacts
	@$(call fuzz_seed_front,$(FUZZ_BUILD)/smoke/front)
	@cp fuzz/corpus/npy/* $(FUZZ_BUILD)/smoke/npy/
	@if [ -d tests/fuzz-regress ]; then \
	    $(FUZZ_FRONT_RUN) $$(find tests/fuzz-regress -type f -name '*.grad' -o -name '*.bin') \
	        >$(FUZZ_BUILD)/smoke/regress.log 2>&1 || \
	        { cat $(FUZZ_BUILD)/smoke/regress.log; exit 1; }; \
	    echo "fuzz-smoke: $$(grep -c '^Executed' $(FUZZ_BUILD)/smoke/regress.log) regression inputs pass"; fi
	$(FUZZ_FRONT_RUN) -seed=1 -runs=$(FUZZ_SMOKE_RUNS) $(FUZZ_BUILD)/smoke/front
	$(FUZZ_NPY_RUN) -seed=1 -runs=$(FUZZ_SMOKE_RUNS) $(FUZZ_BUILD)/smoke/npy

fuzz-clean:
	rm -rf $(FUZZ_BUILD)
