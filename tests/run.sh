#!/bin/sh
# Runs the whole suite and ends with "N passed, N failed".
#
# Every test binary and script prints one "PASS name" / "FAIL name" line per case. A binary that
# dies without reporting (crash, sanitizer abort) counts as one failure of its own.
# Run from the repository root after `make tests asan tsan fuzz` (what `make test` does).
set -u
export UNHOSTED_TESTDATA="${UNHOSTED_TESTDATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/testdata}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
pass=0
fail=0
failed_names=""

report() { # name, log file, exit status
    p=$(grep -c '^PASS ' "$2")
    f=$(grep -c '^FAIL ' "$2")
    if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "FAIL $1 (exit status $3, no failed case reported)" >>"$2"
    fi
    pass=$((pass + p))
    fail=$((fail + f))
    if [ "$f" -ne 0 ]; then
        failed_names="$failed_names $1"
        cat "$2"
    else
        echo "ok   $1 ($p cases)"
    fi
}

run() { # name, command...
    name=$1
    shift
    log="$OUT/$(echo "$name" | tr '/ ' '__').log"
    "$@" >"$log" 2>&1
    report "$name" "$log" $?
}

run layers sh tests/layers.sh
for t in build/tests/test_*; do
    [ -x "$t" ] && run "$(basename "$t")" "$t"
done
for t in build/asan/tests/test_*; do
    [ -x "$t" ] && run "asan/$(basename "$t")" "$t"
done
for t in build/tsan/tests/test_*; do
    [ -x "$t" ] && run "tsan/$(basename "$t")" "$t"
done
# The numerics once per kernel set the CPU has (the runs above use the best one), named by set;
# the AArch64 kernel, thread-pool and numerics tests under qemu, with SDOT (-cpu max) and without
# (cortex-a57). Each numerics run checks that the set it asked for is the one in use.
sets="scalar:scalar"
grep -qw avx2 /proc/cpuinfo 2>/dev/null && sets="$sets avx2:avx2"
grep -qw avx512_vnni /proc/cpuinfo 2>/dev/null && sets="$sets avx512:avx512-vnni"
[ "$(uname -m)" = aarch64 ] && sets="$sets neon:"
for k in $sets; do
    t=build/tests/test_numerics
    [ -x $t ] && run "test_numerics[${k%%:*}]" \
        env UNHOSTED_KERNELS="${k%%:*}" UNHOSTED_EXPECT_KERNELS="${k#*:}" $t
done
if command -v qemu-aarch64 >/dev/null; then
    a64=build/aarch64/tests
    for cpu in max:neon-dotprod cortex-a57:neon; do
        for t in test_simd test_threadpool; do
            [ -x $a64/$t ] && run "aarch64/$t[${cpu#*:}]" qemu-aarch64 -cpu "${cpu%%:*}" $a64/$t
        done
        [ -x $a64/test_numerics ] &&
            run "aarch64/test_numerics[${cpu#*:}]" qemu-aarch64 -cpu "${cpu%%:*}" \
                -L /usr/aarch64-linux-gnu -E UNHOSTED_EXPECT_KERNELS="${cpu#*:}" $a64/test_numerics
    done
fi
for t in tests/cli_*.sh; do
    [ -f "$t" ] && run "$(basename "$t")" sh "$t"
done
for fz in build/fuzz/fuzz_*; do
    [ -x "$fz" ] && run "$(basename "$fz")" sh tests/fuzz.sh "$fz"
done

[ -n "$failed_names" ] && echo "failed:$failed_names"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
