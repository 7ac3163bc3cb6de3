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
# the AArch64 kernels under qemu, with SDOT (qemu's default CPU) and without (cortex-a57).
sets="scalar"
grep -qw avx2 /proc/cpuinfo 2>/dev/null && sets="$sets avx2"
grep -qw avx512_vnni /proc/cpuinfo 2>/dev/null && sets="$sets avx512"
[ "$(uname -m)" = aarch64 ] && sets="$sets neon"
for k in $sets; do
    t=build/tests/test_numerics
    [ -x $t ] && run "test_numerics[$k]" env UNHOSTED_KERNELS=$k $t
done
if [ -x build/aarch64/tests/test_simd ] && command -v qemu-aarch64 >/dev/null; then
    run "aarch64/test_simd[neon-dotprod]" qemu-aarch64 build/aarch64/tests/test_simd
    run "aarch64/test_simd[neon]" qemu-aarch64 -cpu cortex-a57 build/aarch64/tests/test_simd
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
