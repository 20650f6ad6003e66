# Troupe: one non-recursive Makefile. `make test` and `make demo` install missing Debian
# packages first (scripts/deps.sh), then re-enter make so pkg-config sees them.
#
#   make                 build build/troupe and the tests
#   make test            deps + build + run every test program (overall N passed, N failed)
#   make test-long       the long end-to-end checks (tests/long_*.c; about 16 minutes on 2
#                        cores): the reward model's 90% held-out target of docs/rlhf.md
#   make demo            deps + build + run the pipeline on the embedded default data
#   make reproduce       the same from nothing into reproduce-out/, ending in the eval table
#                        checked against configs/eval/reproduce.yaml's reference
#   make SANITIZE=address,undefined test    the same in build/san-address-undefined/
#   make CC=clang        any C11 compiler; WERROR=1 turns warnings into errors (CI)
#   make install PREFIX=/usr/local          troupe, configs and docs
#   make format          clang-format every C file in place

.DEFAULT_GOAL := all
.SUFFIXES:

PREFIX   ?= /usr/local
SANITIZE ?=
WERROR   ?=
V        ?=

ifeq ($(SANITIZE),)
BUILD ?= build
else
BUILD ?= build/san-$(subst $(comma),-,$(SANITIZE))
endif
comma := ,

PKGS := openblas hdf5-serial sndfile samplerate fftw3f libsodium yaml-0.1 jansson ompi-c
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
        -Wundef -Wcast-qual -Wwrite-strings -Wno-unused-parameter
# gcc's -Wformat-truncation flags every bounded snprintf into a fixed buffer, which is how
# messages are built on purpose; clang does not know the option.
ifneq ($(findstring clang,$(shell $(CC) --version 2>/dev/null | head -n 1)),clang)
WARN += -Wno-format-truncation
endif
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(CFLAGS) $(WARN) $(PKG_CFLAGS) -I. -MMD -MP -pthread
ALL_LDFLAGS := $(LDFLAGS) -pthread
ifneq ($(WERROR),)
ALL_CFLAGS += -Werror
endif
ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
ALL_LDFLAGS += -fsanitize=$(SANITIZE)
endif
LIBS := $(PKG_LIBS) -lm

ifeq ($(V),)
Q := @
say = @printf '  %-6s %s\n' $(1) $(2);
else
Q :=
say :=
endif

MODULES := core persona data train rlhf eval
LIB_SRC := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
CLI_SRC := $(wildcard cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
LONG_SRC := $(wildcard tests/long_*.c)
BENCH_SRC := $(wildcard bench/*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LONG    := $(LONG_SRC:tests/%.c=$(BUILD)/tests/%)
BENCHES := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
LIB     := $(BUILD)/libtroupe.a
TROUPE  := $(BUILD)/troupe

.PHONY: all deps test test-long check demo reproduce bench install format clean
all: $(TROUPE) $(TESTS) $(LONG)

deps:
	@scripts/deps.sh

test: deps
	@$(MAKE) --no-print-directory check

check: $(TROUPE) $(TESTS)
	@SANITIZE='$(SANITIZE)' scripts/run-tests.sh $(TESTS)

test-long: deps
	@$(MAKE) --no-print-directory $(TROUPE) $(LONG)
	@SANITIZE='$(SANITIZE)' scripts/run-tests.sh $(LONG)

demo: deps
	@$(MAKE) --no-print-directory $(TROUPE)
	@scripts/demo.sh $(TROUPE)

# The whole pipeline from nothing with fixed seeds, ending in the eval table; fails when a
# score is outside the reference tolerance of configs/eval/reproduce.yaml (docs/eval.md).
reproduce: deps
	@$(MAKE) --no-print-directory $(TROUPE)
	@rm -rf reproduce-out
	@DEMO_OUT=reproduce-out EVAL_SPEC=configs/eval/reproduce.yaml scripts/demo.sh $(TROUPE)

# Benchmarks: speed and memory beside the peers, never part of `make test`.
bench: deps
	@TROUPE_EXTRA_PKGS="python3-numpy python3-h5py python3-torch python3-torchaudio time bc" scripts/deps.sh
	@$(MAKE) --no-print-directory $(TROUPE) $(BENCHES)
	@bench/persona.sh $(BUILD)
	@bench/logmel.sh $(BUILD)
	@bench/ingest.sh $(BUILD)
	@EXTRA_RATE=16000 EXTRA_CHANNELS=1 bench/ingest.sh $(BUILD)
	@bench/train.sh $(BUILD)
	@bench/dist.sh $(BUILD)
	@bench/generate.sh $(BUILD)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	$(call say,LINK,$@)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^

$(TROUPE): $(CLI_OBJ) $(LIB)
	$(call say,LINK,$@)$(CC) $(ALL_LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(LIB)
	$(call say,LINK,$@)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LIBS)

install: $(TROUPE)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/troupe \
	    $(DESTDIR)$(PREFIX)/share/doc/troupe
	install -m 755 $(TROUPE) $(DESTDIR)$(PREFIX)/bin/troupe
	cp -R configs $(DESTDIR)$(PREFIX)/share/troupe/
	cp -R docs/. README.md $(DESTDIR)$(PREFIX)/share/doc/troupe/

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(LONG_SRC) $(BENCH_SRC) $(wildcard */*.h)

clean:
	rm -rf build

.SECONDARY: $(TESTS:%=%.o) $(LONG:%=%.o) $(BENCHES:%=%.o)
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
