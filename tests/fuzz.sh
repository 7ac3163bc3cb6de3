#!/bin/sh
# Replays a fuzzer's regression and seed inputs, then fuzzes for a bounded time.
#
# usage: tests/fuzz.sh build/fuzz/fuzz_<name>
#   inputs: fuzz/regress/<name>/ (past crashes, kept forever) and fuzz/corpus/<name>/ (seeds)
#   time:   $UNHOSTED_FUZZ_SECONDS (default 30) of fuzzing over a temporary copy of the seeds,
#           so the checked-in corpus is never modified
# Prints "PASS fuzz_<name>_replay" / "PASS fuzz_<name>_run" or FAIL lines; a new crash input is
# copied to fuzz/artifacts/ with the command that adds it to the regression set.
set -u
if [ $# -ne 1 ] || [ ! -x "$1" ]; then
    echo "usage: $0 FUZZER_BINARY" >&2
    exit 2
fi
bin=$1
name=$(basename "$bin")
name=${name#fuzz_}
root=$(cd "$(dirname "$0")/.." && pwd)
regress="$root/fuzz/regress/$name"
corpus="$root/fuzz/corpus/$name"
seconds=${UNHOSTED_FUZZ_SECONDS:-30}
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0

# Keeps a crash input where the user will find it and says how to make it a regression test.
keep_crash() { # file
    mkdir -p "$root/fuzz/artifacts"
    dest="$root/fuzz/artifacts/${name}-$(basename "$1")"
    cp "$1" "$dest"
    echo "  crash input saved as $dest"
    echo "  after fixing, keep it: cp '$dest' '$regress/'"
}

# ---- replay: every regression and seed input, one process each so a crash names its file ----
replay_fail=0
for dir in "$regress" "$corpus"; do
    [ -d "$dir" ] || continue
    for f in "$dir"/*; do
        [ -f "$f" ] || continue
        case $(basename "$f") in README*) continue ;; esac
        if ! "$bin" "$f" >"$work/replay.log" 2>&1; then
            echo "  replay crashed on $f:"
            tail -n 30 "$work/replay.log" | sed 's/^/    /'
            replay_fail=1
        fi
    done
done
if [ "$replay_fail" -eq 0 ]; then
    echo "PASS fuzz_${name}_replay"
else
    echo "FAIL fuzz_${name}_replay"
    status=1
fi

# ---- bounded fuzzing over a scratch copy of the seeds (plus the regression inputs) ----
mkdir -p "$work/corpus" "$work/artifacts" "$work/regress"
[ -d "$corpus" ] && cp "$corpus"/* "$work/corpus/" 2>/dev/null
if [ -d "$regress" ]; then
    for f in "$regress"/*; do
        case $(basename "$f") in README*) ;; *) cp "$f" "$work/regress/" ;; esac
    done
fi
if "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" "$work/regress" >"$work/run.log" 2>&1; then
    echo "PASS fuzz_${name}_run ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/run.log" |
        grep -o '[0-9]*$') runs in ${seconds}s)"
else
    echo "  fuzzing $name found a problem:"
    grep -E 'ERROR|SUMMARY|Test unit written|runtime error' "$work/run.log" | head -n 10 |
        sed 's/^/    /'
    found=0
    for f in "$work/artifacts"/*; do
        [ -f "$f" ] || continue
        keep_crash "$f"
        found=1
    done
    [ "$found" -eq 0 ] && tail -n 30 "$work/run.log" | sed 's/^/    /'
    echo "FAIL fuzz_${name}_run"
    status=1
fi
exit $status
