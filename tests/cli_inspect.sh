#!/bin/sh
# CLI tests of `unhosted inspect`: header lines, metadata lines (types, quoting, abbreviated and
# nested arrays), the tensor table and totals, and the exit codes of errors and usage mistakes.
# Prints one "PASS name" / "FAIL name" line per case. Run from the repository root.
set -u
. tests/lib.sh
SEEDS=fuzz/corpus/gguf

# has NAME FILE FIXED-STRING: the output file contains the line fragment
has() {
    if grep -qF -- "$3" "$2"; then pass "$1"; else fail "$1" "missing: $3" "in: $(head -c 2000 "$2")"; fi
}

$UH inspect "$TD/models/stories260K.gguf" >"$T/s.out" 2>"$T/s.err"
rc=$?
if [ $rc -eq 0 ] && [ ! -s "$T/s.err" ]; then pass inspect_stories_ok; else fail inspect_stories_ok "rc $rc" "$(cat "$T/s.err")"; fi
has inspect_header_version "$T/s.out" "version:     3"
has inspect_header_size "$T/s.out" "file size:   1185376"
has inspect_str_value "$T/s.out" 'general.architecture (str) = "llama"'
has inspect_f32_value "$T/s.out" "llama.attention.layer_norm_rms_epsilon (f32) = 1e-05"
has inspect_array_abbreviated "$T/s.out" \
    'tokenizer.ggml.tokens (array[str], 512) = ["<unk>", "<s>", "</s>", "<0x00>", "<0x01>", "<0x02>", "<0x03>", "<0x04>", ... (512 elements)]'
has inspect_tensor_row "$T/s.out" "token_embd.weight         F32     [64, 512]"
has inspect_totals "$T/s.out" "totals: 48 tensors, 293 K parameters (292800)"
has inspect_bits_per_weight "$T/s.out" "32.00 bits per weight"

$UH inspect "$TD/models/llama-s1-Q4_K_M.gguf" >"$T/q.out" 2>&1
has inspect_quant_types "$T/q.out" "output.weight             Q6_K    [256, 1024]"
has inspect_quant_totals "$T/q.out" "2.10 M parameters (2098432)"

$UH inspect "$SEEDS/values_nested.gguf" >"$T/v.out" 2>&1
has inspect_escapes "$T/v.out" 's.ctrl (str) = "line1\nline2\ttab \"q\" \\ \x01\x7f é \xff"'
has inspect_nested "$T/v.out" 'nested (array[array], 4) = [[1, 2, 3], [], [["x", "yz"]], [[[[7]]]]]'
has inspect_empty_array "$T/v.out" "a.empty (array[f32], 0) = []"
has inspect_i64 "$T/v.out" "i64 (i64) = -1099511627776"
$UH inspect --all "$SEEDS/values_nested.gguf" >"$T/all.out" 2>&1
has inspect_all_elements "$T/all.out" "a.i16 (array[i16], 10) = [-1, 2, -3, 4, -5, 6, -7, 8, -9, 10]"
$UH inspect "$SEEDS/v2_small.gguf" >"$T/v2.out" 2>&1
has inspect_v2 "$T/v2.out" "version:     2"

# errors: runtime problems exit 1 with "unhosted inspect: <message>", usage mistakes exit 2
head -c 100 "$SEEDS/v2_small.gguf" >"$T/cut.gguf"
$UH inspect "$T/cut.gguf" >/dev/null 2>"$T/e1"
rc=$?
if [ $rc -eq 1 ] && grep -q "^unhosted inspect: gguf: .*cut.gguf: n_tensors" "$T/e1"; then
    pass inspect_truncated_exit_1
else fail inspect_truncated_exit_1 "rc $rc" "$(cat "$T/e1")"; fi
$UH inspect "$T/missing.gguf" >/dev/null 2>"$T/e2"
rc=$?
if [ $rc -eq 1 ] && grep -q "^unhosted inspect: .*missing.gguf" "$T/e2"; then pass inspect_missing_exit_1; else
    fail inspect_missing_exit_1 "rc $rc" "$(cat "$T/e2")"; fi
$UH inspect >/dev/null 2>&1
rc1=$?
$UH inspect --bogus "$SEEDS/empty.gguf" >/dev/null 2>&1
rc2=$?
$UH inspect "$SEEDS/empty.gguf" "$SEEDS/empty.gguf" >/dev/null 2>&1
rc3=$?
if [ $rc1 -eq 2 ] && [ $rc2 -eq 2 ] && [ $rc3 -eq 2 ]; then pass inspect_usage_exit_2; else
    fail inspect_usage_exit_2 "no file: $rc1, bad option: $rc2, two files: $rc3"; fi
if $UH inspect --help | grep -q "usage: unhosted inspect"; then pass inspect_help; else fail inspect_help; fi
