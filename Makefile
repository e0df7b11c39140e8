# gradc: a compiler for matrix-expression programs with symbolic gradients.
#
#   make            build build/gradc
#   make demo       set up (if needed) and run gradc on an example
#   make test       set up (if needed), build and run the whole test suite
#   make check-asan the test suite under AddressSanitizer + UBSan
#   make install    build/gradc to $(PREFIX)/bin, its runtime to $(PREFIX)/lib/gradc
#
# BUILD selects the build directory; SAN adds sanitizer flags, e.g.
#   make BUILD=build-asan SAN="-fsanitize=address,undefined"

LLVM_CONFIG ?= llvm-config-19
CC ?= cc
BISON ?= bison
FLEX ?= flex
BUILD ?= build
SAN ?=
OPT ?= -O2 -g

WARN := -std=c11 -Wall -Wextra -Werror
CPPFLAGS := -D_POSIX_C_SOURCE=200809L -Icompiler -Iruntime -I$(BUILD)/gen
CFLAGS_ALL = $(OPT) $(WARN) $(SAN) $(CPPFLAGS) $(CFLAGS)

# Files that include LLVM headers get LLVM's preprocessor flags; no other does.
LLVM_SRCS := $(wildcard compiler/lower.c compiler/jit.c compiler/emit.c)
LLVM_CPPFLAGS = $(shell $(LLVM_CONFIG) --cflags 2>/dev/null | tr ' ' '\n' | grep -E '^-(I|D)' | tr '\n' ' ')
LLVM_LDFLAGS = $(shell $(LLVM_CONFIG) --ldflags 2>/dev/null) $(shell $(LLVM_CONFIG) --libs 2>/dev/null) $(shell $(LLVM_CONFIG) --system-libs 2>/dev/null)

FRONT_SRCS := $(filter-out compiler/main.c $(LLVM_SRCS),$(wildcard compiler/*.c))
RT_SRCS := $(wildcard runtime/*.c)
GEN_SRCS := $(BUILD)/gen/parser.c $(BUILD)/gen/lexer.c

FRONT_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(FRONT_SRCS)) $(BUILD)/gen/parser.o $(BUILD)/gen/lexer.o
LLVM_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(LLVM_SRCS))
RT_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(RT_SRCS))

GRADC := $(BUILD)/gradc
LIBFRONT := $(BUILD)/libgradc-front.a
LIBRT := $(BUILD)/libgradcrt.a

.PHONY: all clean demo test check-asan setup install
PREFIX ?= /usr/local
all: $(GRADC)

$(BUILD)/gen/parser.c $(BUILD)/gen/parser.h: grammar/parser.y
	@mkdir -p $(BUILD)/gen
	$(BISON) -Wall -Werror --defines=$(BUILD)/gen/parser.h -o $(BUILD)/gen/parser.c $<

$(BUILD)/gen/lexer.c $(BUILD)/gen/lexer.h: grammar/lexer.l
	@mkdir -p $(BUILD)/gen
	$(FLEX) --header-file=$(BUILD)/gen/lexer.h -o $(BUILD)/gen/lexer.c $<

# Generated code: same warnings, minus the ones flex's skeleton trips.
$(BUILD)/gen/%.o: $(BUILD)/gen/%.c $(BUILD)/gen/parser.h $(BUILD)/gen/lexer.h
	$(CC) $(CFLAGS_ALL) -Wno-unused-function -Wno-sign-compare -Wno-unused-parameter -Igrammar -c -o $@ $<

$(BUILD)/compiler/%.o: compiler/%.c compiler/gradc.h compiler/ops.h $(BUILD)/gen/parser.h $(BUILD)/gen/lexer.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(if $(filter $<,$(LLVM_SRCS)),$(LLVM_CPPFLAGS)) -c -o $@ $<

$(BUILD)/runtime/%.o: runtime/%.c $(wildcard runtime/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC -c -o $@ $<

$(LIBFRONT): $(FRONT_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(LIBRT): $(RT_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(GRADC): $(BUILD)/compiler/main.o $(LLVM_OBJS) $(LIBFRONT) $(LIBRT)
	$(CC) $(OPT) $(SAN) -o $@ $^ $(if $(LLVM_OBJS),$(LLVM_LDFLAGS)) -lm

# gradc finds its runtime (for products that call the matmul kernel) in
# ../lib/gradc next to the binary.
install: $(GRADC) $(LIBRT)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/gradc
	install -m 755 $(GRADC) $(DESTDIR)$(PREFIX)/bin/gradc
	install -m 644 $(LIBRT) $(DESTDIR)$(PREFIX)/lib/gradc/libgradcrt.a

clean:
	rm -rf build build-asan build-fuzz

-include tests/tests.mk
-include fuzz/fuzz.mk
