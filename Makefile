# unhosted - build. `make` builds the CLI, the library and the tools; `make test` runs the suite.
#
# Layout: src/<layer>/*.c -> build/libunhosted.a; src/main.c + src/cli -> build/unhosted;
# tools/*.c -> build/<tool>; tests/test_*.c -> build/tests/<name> (and an ASan+UBSan copy in
# build/asan/tests/, the threaded ones under TSan in build/tsan/tests/); fuzz/fuzz_*.c ->
# build/fuzz/<name> (clang libFuzzer).

CC      ?= cc
FUZZCC  ?= clang
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2
CSTD    := -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L
OPT     ?= -O2 -g
CPPFLAGS := -Iinclude -Isrc
CFLAGS  ?=
ALLCFLAGS = $(CSTD) $(OPT) $(WARN) $(CPPFLAGS) $(CFLAGS) -pthread -MMD -MP
# Library dependencies (Debian -dev packages, installed by scripts/install-deps).
DEP_PKGS := libcjson libpcre2-8 libedit libcurl libsodium libcrypto libmicrohttpd
DEP_CFLAGS := $(shell pkg-config --cflags $(DEP_PKGS) 2>/dev/null)
DEP_LIBS   := $(shell pkg-config --libs $(DEP_PKGS) 2>/dev/null || echo -lcjson -lpcre2-8 -ledit -lcurl -lsodium -lcrypto -lmicrohttpd)
CPPFLAGS += $(DEP_CFLAGS)
LDLIBS  := $(DEP_LIBS) -lm -lpthread
CJSON_CFLAGS :=
CJSON_LIBS   :=
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
TSAN    := -fsanitize=thread -fno-omit-frame-pointer

B := build
LIB_SRC  := $(wildcard src/base/*.c src/gguf/*.c src/kernels/*.c src/engine/*.c src/exec/*.c src/text/*.c src/models/*.c src/net/*.c src/cluster/*.c src/router/*.c src/server/*.c)
CLI_SRC  := src/main.c $(wildcard src/cli/*.c)
TOOL_SRC := $(wildcard tools/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
BENCH_SRC := $(wildcard bench/*.c)

# The dashboard (web/*) embedded as C arrays by tools/embed_web.sh, part of the library.
WEB_SRC  := $(sort $(wildcard web/*))
WEB_GEN  := $(B)/gen/web_assets.c
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/obj/%.o) $(B)/obj/gen/web_assets.o
CLI_OBJ  := $(CLI_SRC:%.c=$(B)/obj/%.o)
ASAN_LIB_OBJ := $(LIB_SRC:%.c=$(B)/asan/obj/%.o) $(B)/asan/obj/gen/web_assets.o
TOOLS    := $(TOOL_SRC:tools/%.c=$(B)/%)
TESTS    := $(TEST_SRC:tests/%.c=$(B)/tests/%)
ASAN_TESTS := $(TEST_SRC:tests/%.c=$(B)/asan/tests/%)
# the tests that exercise threads, again under ThreadSanitizer
TSAN_LIB_OBJ := $(LIB_SRC:%.c=$(B)/tsan/obj/%.o) $(B)/tsan/obj/gen/web_assets.o
TSAN_TESTS := $(B)/tsan/tests/test_threadpool $(B)/tsan/tests/test_parallel $(B)/tsan/tests/test_sched $(B)/tsan/tests/test_http $(B)/tsan/tests/test_chan $(B)/tsan/tests/test_trust
FUZZERS  := $(FUZZ_SRC:fuzz/%.c=$(B)/fuzz/%)
BENCHES  := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

.PHONY: all test tests asan tsan fuzz bench demo clean format
.SECONDARY:
all: $(B)/unhosted $(B)/libunhosted.a $(TOOLS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -c $< -o $@

$(B)/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(SAN) -c $< -o $@

$(WEB_GEN): $(WEB_SRC) tools/embed_web.sh
	@mkdir -p $(dir $@)
	sh tools/embed_web.sh $@ $(WEB_SRC)

$(B)/obj/gen/web_assets.o: $(WEB_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -c $< -o $@

$(B)/asan/obj/gen/web_assets.o: $(WEB_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(SAN) -c $< -o $@

$(B)/tsan/obj/gen/web_assets.o: $(WEB_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(TSAN) -c $< -o $@

$(B)/libunhosted.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/asan/libunhosted.a: $(ASAN_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/unhosted: $(CLI_OBJ) $(B)/libunhosted.a
	$(CC) $(ALLCFLAGS) -o $@ $(CLI_OBJ) $(B)/libunhosted.a $(LDLIBS)

$(B)/%: $(B)/obj/tools/%.o $(B)/libunhosted.a
	$(CC) $(ALLCFLAGS) -o $@ $< $(B)/libunhosted.a $(LDLIBS)

$(B)/obj/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(CJSON_CFLAGS) -c $< -o $@

$(B)/asan/obj/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(SAN) $(CJSON_CFLAGS) -c $< -o $@

$(B)/tests/%: $(B)/obj/tests/%.o $(B)/libunhosted.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -o $@ $< $(B)/libunhosted.a $(CJSON_LIBS) $(LDLIBS)

$(B)/asan/tests/%: $(B)/asan/obj/tests/%.o $(B)/asan/libunhosted.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(SAN) -o $@ $< $(B)/asan/libunhosted.a $(CJSON_LIBS) $(LDLIBS)

# The library is compiled once for all fuzzers (instrumented for libFuzzer, not linked with its
# main), each fuzzer then only compiles its own file and links.
FUZZ_FLAGS   := $(CSTD) -O1 -g $(CPPFLAGS) -MMD -MP -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(B)/fuzzlib/obj/%.o) $(B)/fuzzlib/obj/gen/web_assets.o
$(B)/fuzzlib/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(B)/fuzzlib/obj/gen/web_assets.o: $(WEB_GEN)
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(B)/fuzzlib/libunhosted.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(B)/fuzz/%: fuzz/%.c $(B)/fuzzlib/libunhosted.a
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(B)/fuzzlib/libunhosted.a $(LDLIBS)

$(B)/bench/%: bench/%.c $(B)/libunhosted.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -o $@ $< $(B)/libunhosted.a $(LDLIBS)

tests: all $(TESTS)
asan: $(ASAN_TESTS) $(B)/asan/unhosted
tsan: $(TSAN_TESTS)

$(B)/tsan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(TSAN) -c $< -o $@

$(B)/tsan/libunhosted.a: $(TSAN_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/tsan/tests/%: $(B)/tsan/obj/tests/%.o $(B)/tsan/libunhosted.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(TSAN) -o $@ $< $(B)/tsan/libunhosted.a $(CJSON_LIBS) $(LDLIBS)
fuzz: $(FUZZERS)
bench: $(BENCHES)

# AArch64 tests, cross-built so tests/run.sh can run them under qemu-aarch64 (with and without
# dotprod): test_simd (only the type table and kernels) and test_threadpool (the pool's handshakes
# under weak memory ordering), both static; test_numerics against an AArch64 build of the engine
# and text layers, linked with Debian's arm64 cJSON and PCRE2, which scripts/fetch-aarch64-libs
# unpacks into a private folder (the machine itself is not changed).
A64CC   ?= aarch64-linux-gnu-gcc
A64AR   ?= aarch64-linux-gnu-ar
A64_SRC := src/kernels/qtypes.c $(wildcard src/kernels/quant_*.c src/kernels/simd_*.c) src/base/log.c
A64_SYSROOT := $(B)/aarch64/sysroot
A64_LIBDIR  := $(A64_SYSROOT)/usr/lib/aarch64-linux-gnu
A64_LIB_SRC := $(filter-out src/base/sha256.c,$(wildcard src/base/*.c)) \
               $(wildcard src/gguf/*.c src/kernels/*.c src/engine/*.c src/text/*.c)
.PHONY: aarch64-tests
aarch64-tests: $(B)/aarch64/tests/test_simd $(B)/aarch64/tests/test_threadpool \
               $(B)/aarch64/tests/test_numerics
$(B)/aarch64/tests/test_simd: tests/test_simd.c $(A64_SRC) $(wildcard src/kernels/*.h)
	@mkdir -p $(dir $@)
	$(A64CC) $(CSTD) $(OPT) $(WARN) -Iinclude -Isrc -static -pthread -o $@ tests/test_simd.c \
	    $(A64_SRC) -lm
$(B)/aarch64/tests/test_threadpool: tests/test_threadpool.c src/base/threadpool.c \
                                    src/base/clock.c src/base/threadpool.h src/base/clock.h \
                                    tests/check.h
	@mkdir -p $(dir $@)
	$(A64CC) $(CSTD) $(OPT) $(WARN) -Iinclude -Isrc -static -pthread -o $@ $(filter %.c,$^)
$(A64_SYSROOT)/.ok: scripts/fetch-aarch64-libs
	scripts/fetch-aarch64-libs $(A64_SYSROOT)
$(B)/aarch64/obj/%.o: %.c | $(A64_SYSROOT)/.ok
	@mkdir -p $(dir $@)
	$(A64CC) $(CSTD) $(OPT) $(WARN) -Iinclude -Isrc -isystem $(A64_SYSROOT)/usr/include -pthread \
	    -MMD -MP -c $< -o $@
$(B)/aarch64/libunhosted-engine.a: $(A64_LIB_SRC:%.c=$(B)/aarch64/obj/%.o)
	$(A64AR) rcs $@ $^
$(B)/aarch64/tests/test_numerics: $(B)/aarch64/obj/tests/test_numerics.o \
                                  $(B)/aarch64/libunhosted-engine.a
	@mkdir -p $(dir $@)
	$(A64CC) -pthread -o $@ $^ -L$(A64_LIBDIR) -Wl,-rpath,$(abspath $(A64_LIBDIR)) \
	    -Wl,-Bstatic -lpcre2-8 -Wl,-Bdynamic -lcjson -lm
ifneq ($(shell command -v $(A64CC) 2>/dev/null),)
test: aarch64-tests
endif

$(B)/asan/unhosted: $(CLI_SRC:%.c=$(B)/asan/obj/%.o) $(B)/asan/libunhosted.a
	$(CC) $(ALLCFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

# The whole suite: unit tests, the same tests under ASan+UBSan, CLI tests, bounded fuzzing
# (the serve soak drives the server with bench_serve).
test: tests asan tsan fuzz $(B)/bench/bench_serve
	@sh tests/run.sh

# The main job on a built-in default: generate a small random model and generate text with it.
demo: all
	@sh scripts/demo

clean:
	rm -rf $(B)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

-include $(shell find $(B) -name '*.d' 2>/dev/null)
