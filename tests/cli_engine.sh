#!/bin/sh
# CLI tests of the engine commands: run, logits, inspect, and bad input through the ASan build.
# Prints one "PASS name" / "FAIL name" line per case. Run from the repository root.
set -u
. tests/lib.sh
ASAN_UH=${ASAN_UH:-build/asan/unhosted}
export UNHOSTED_HOME="$T/home"

check() { # name, condition command...
    name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name" "command: $*"; fi
}

STORIES=$TD/models/stories260K.gguf
REF=", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.
Lily's mom said"

# ---- run ----
out=$($UH run "$STORIES" -p "Once upon a time" -n 64 --temp 0 2>"$T/err")
if [ "$out" = "$REF" ]; then pass run_stories_greedy_text; else fail run_stories_greedy_text "got: $out"; fi
check run_prints_speed grep -q "load .* ms | prompt 5 tokens, .* tok/s | generated 64 tokens" "$T/err"

a=$($UH run "$STORIES" -p "Once" -n 40 --temp 1 --seed 7 2>/dev/null)
b=$($UH run "$STORIES" -p "Once" -n 40 --temp 1 --seed 7 2>/dev/null)
c=$($UH run "$STORIES" -p "Once" -n 40 --temp 1 --seed 8 2>/dev/null)
if [ "$a" = "$b" ] && [ "$a" != "$c" ] && [ -n "$a" ]; then pass run_seed_repeats; else
    fail run_seed_repeats "seed 7: $a" "seed 7 again: $b" "seed 8: $c"; fi

$UH run "$STORIES" -p "Once upon a time" -n 100 --temp 0 -c 16 >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 0 ] && grep -q "stop: context full" "$T/err"; then pass run_context_full_stops; else
    fail run_context_full_stops "exit $rc" "$(cat "$T/err")"; fi

# context options reach the generation: on a quantized model float32 activations (--exact) and an
# f16 cache change the greedy text; the thread count never does
Q=$TD/models/llama-s1-Q4_K_M.gguf
a=$($UH run "$Q" -p "Once upon a time" -n 32 --temp 0 2>/dev/null)
b=$($UH run "$Q" -p "Once upon a time" -n 32 --temp 0 --exact 2>/dev/null)
c=$($UH run "$Q" -p "Once upon a time" -n 32 --temp 0 --kv f16 2>/dev/null)
d=$($UH run "$Q" -p "Once upon a time" -n 32 --temp 0 -t 1 2>/dev/null)
if [ -n "$a" ] && [ -n "$b" ] && [ -n "$c" ] && [ "$a" != "$b" ] && [ "$a" != "$c" ] &&
    [ "$a" = "$d" ]; then pass run_context_options_apply; else
    fail run_context_options_apply "default: $a" "--exact: $b" "--kv f16: $c" "-t 1: $d"; fi

printf 'Once upon a time' >"$T/prompt.txt"
out=$($UH run "$STORIES" -f "$T/prompt.txt" -n 64 --temp 0 2>/dev/null)
if [ "$out" = "$REF" ]; then pass run_prompt_file; else fail run_prompt_file "got: $out"; fi

# ---- logits ----
$UH logits "$STORIES" --tokens 1,403,407,261,378 -o "$T/a.f32" &&
    $UH logits "$STORIES" --tokens 1,403,407,261,378 --decode -o "$T/b.f32" &&
    $UH logits "$STORIES" -p "Once upon a time" -o "$T/c.f32" && $UH logits "$STORIES" \
    --tokens 1,403,407,261,378 --kv f16 --decode -o "$T/d.f32"
rc=$?
size=$(wc -c <"$T/a.f32" 2>/dev/null || echo 0)
if [ $rc -eq 0 ] && [ "$size" -eq $((5 * 512 * 4)) ] && cmp -s "$T/a.f32" "$T/c.f32"; then
    pass logits_file_layout; else fail logits_file_layout "exit $rc, size $size"; fi
# batch and decode: same numbers (the forward pass writes the cache before attending)
if cmp -s "$T/a.f32" "$T/b.f32"; then pass logits_batch_equals_decode; else
    fail logits_batch_equals_decode; fi

$UH logits "$STORIES" --tokens 1,999 -o "$T/e.f32" 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "token id 999" "$T/err" && [ ! -e "$T/e.f32" ]; then
    pass logits_bad_token_refused; else fail logits_bad_token_refused "exit $rc" "$(cat "$T/err")"; fi
$UH logits "$STORIES" --tokens 1,x -o "$T/e.f32" 2>/dev/null
check logits_usage_error [ $? -eq 2 ]

# ---- usage ----
$UH run "$STORIES" >/dev/null 2>&1
check run_without_prompt_is_usage_error [ $? -eq 2 ]
$UH frobnicate >/dev/null 2>&1
check unknown_command_is_usage_error [ $? -eq 2 ]
$UH --help | grep -q "usage: unhosted"
check help_lists_commands [ $? -eq 0 ]

# ---- home directory ----
$UH --home "$T/h2" inspect "$STORIES" >/dev/null 2>&1
check home_option_creates_dir [ -d "$T/h2" ]

# ---- generated models ----
if $GEN --type Q4_K_M --seed 5 -o "$T/gen.gguf" && $GEN --type Q4_K_M --seed 5 -o "$T/gen2.gguf" &&
    cmp -s "$T/gen.gguf" "$T/gen2.gguf"; then pass gen_is_reproducible; else fail gen_is_reproducible; fi
out=$($UH run "$T/gen.gguf" -p "the cat" -n 16 --seed 1 2>"$T/err")
check gen_model_runs grep -q "generated 16 tokens" "$T/err"
$GEN --type Q9_9 -o "$T/x.gguf" 2>"$T/err"
rc=$?
if [ $rc -eq 2 ] && grep -q "unknown weight type Q9_9" "$T/err"; then pass gen_rejects_bad_type; else
    fail gen_rejects_bad_type "exit $rc"; fi

# ---- bad files, through the sanitizer build: clear message, exit 1, no crash ----
if [ -x "$ASAN_UH" ]; then
    SMALL=$T/small.gguf
    $GEN --preset tiny --n-layer 1 --n-vocab 300 --type Q4_0 -o "$SMALL"
    total=$(wc -c <"$SMALL")
    bad=0
    for cut in 0 3 4 8 16 24 40 100 500 1000 3000 6000 12000 20000 $((total / 2)) $((total - 1)); do
        head -c "$cut" "$SMALL" >"$T/cut.gguf"
        for cmd in inspect run logits; do
            case $cmd in
            run) args="-p hi -n 2" ;;
            logits) args="--tokens 1,2 -o $T/o.f32" ;;
            *) args="" ;;
            esac
            $ASAN_UH $cmd "$T/cut.gguf" $args >/dev/null 2>"$T/err"
            rc=$?
            if [ $rc -ne 1 ] || ! grep -q "^unhosted $cmd: " "$T/err" ||
                grep -q -e "AddressSanitizer" -e "runtime error" "$T/err"; then
                bad=1
                echo "  $cmd on a file cut at $cut bytes: exit $rc: $(head -c 300 "$T/err")"
            fi
        done
    done
    check truncated_files_refused_cleanly [ $bad -eq 0 ]

    printf 'GGUF\003\000\000\000' >"$T/hdr.gguf"
    printf 'XXXX\003\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' >"$T/magic.gguf"
    $ASAN_UH inspect "$T/magic.gguf" >/dev/null 2>"$T/err"
    rc=$?
    if [ $rc -eq 1 ] && grep -qi "magic" "$T/err"; then pass bad_magic_refused; else
        fail bad_magic_refused "exit $rc: $(cat "$T/err")"; fi

    LC_ALL=C sed 's/llama/gemma/g' "$SMALL" >"$T/arch.gguf"
    $ASAN_UH run "$T/arch.gguf" -p hi >/dev/null 2>"$T/err"
    rc=$?
    if [ $rc -eq 1 ] && grep -q "architecture gemma is not supported yet" "$T/err"; then
        pass unsupported_architecture_says_so; else
        fail unsupported_architecture_says_so "exit $rc: $(cat "$T/err")"; fi
else
    fail asan_cli_present "missing $ASAN_UH (make asan)"
fi

# ---- mixture of experts: generated, run, and benched counting only the active experts ----
moe() { # file, used
    $GEN --arch llama --type Q8_0 --n-embd 128 --n-layer 2 --n-head 4 --n-head-kv 2 \
        --n-ff 64 --n-expert 8 --n-expert-used "$2" --n-vocab 320 -o "$1" >/dev/null 2>&1
}
bpt() { # file -> bytes_per_token, as an integer
    $UH bench "$1" -t 1 -p 0 -n 4 -r 1 --json 2>/dev/null |
        sed -n 's/.*"bytes_per_token":[ ]*\([0-9.e+]*\).*/\1/p' | awk '{ printf "%d", $1 }'
}
if moe "$T/moe2.gguf" 2 && moe "$T/moe8.gguf" 8; then
    out=$($UH run "$T/moe2.gguf" -p "the cat" -n 8 --temp 0 2>"$T/err")
    check moe_model_runs test $? -eq 0
    b2=$(bpt "$T/moe2.gguf")
    b8=$(bpt "$T/moe8.gguf")
    s2=$(wc -c <"$T/moe2.gguf")
    s8=$(wc -c <"$T/moe8.gguf")
    # the same file size; reading 2 of 8 experts per token takes 3/4 of the expert bytes (about
    # half of this file) off
    if [ "$s2" -eq "$s8" ] && [ -n "$b2" ] && [ -n "$b8" ] && [ "$b2" -lt "$b8" ] &&
        [ $((b8 - b2)) -gt $((s8 * 2 / 5)) ]; then pass bench_counts_active_experts; else
        fail bench_counts_active_experts "bytes/token 2 used: $b2, 8 used: $b8; sizes $s2 $s8"; fi
else
    fail moe_model_generates "unhosted-gen --n-expert failed"
fi

# ---- gemma: both families generated with a short window, run, and logits batch = decode ----
for a in gemma2 gemma3; do
    if $GEN --arch $a --type Q8_0 --n-embd 128 --n-layer 6 --n-head 4 --n-head-kv 2 \
        --head-dim 32 --n-ff 64 --n-vocab 320 --window 4 -o "$T/$a.gguf" >/dev/null 2>&1; then
        out=$($UH run "$T/$a.gguf" -p "the cat sat on the mat" -n 8 --temp 0 2>"$T/err")
        check ${a}_model_runs test $? -eq 0
    else
        fail ${a}_model_generates "unhosted-gen --arch $a failed"
    fi
done
