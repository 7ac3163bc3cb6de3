#!/bin/sh
# CLI tests of `unhosted tokenize`: ids match the reference vectors, --bos/--special/--pieces,
# -f takes bytes exactly, and errors/usage give the right exit status.
# Prints one "PASS name" / "FAIL name" line per case. Run from the repository root.
set -u
. tests/lib.sh
V=$TD/tokenizer

expect() { # name, want, got
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "want: $2" "got:  $3"; fi
}

# ---- ids, compared with the vectors (case 11 is "Hello world" in every .inp) ----
for name in gpt-2 llama-bpe qwen2 deepseek-coder falcon bert-bge llama-spm; do
    want=$(sed -n 12p "$V/ggml-vocab-$name.gguf.out" | sed 's/^ //')
    got=$($UH tokenize "$V/ggml-vocab-$name.gguf" "Hello world" 2>"$T/err")
    expect "tokenize_vector_$name" "$want" "$got"
done

# ---- options ----
got=$($UH tokenize "$V/ggml-vocab-llama-bpe.gguf" --bos --special "Hello world<|eot_id|>")
expect tokenize_bos_special "128000 9906 1917 128009" "$got"
got=$($UH tokenize "$V/ggml-vocab-llama-bpe.gguf" "Hello world<|eot_id|>")
case " $got " in
*" 128009 "* | *" 128000 "*) fail tokenize_special_off "got: $got" ;;
*) pass tokenize_special_off ;;
esac
got=$($UH tokenize "$V/ggml-vocab-bert-bge.gguf" --bos "Hello world")
expect tokenize_bert_cls_sep "101 7592 2088 102" "$got"

got=$($UH tokenize --pieces "$V/ggml-vocab-gpt-2.gguf" "$(printf 'Hi\n\tit'"'"'s')")
want=$(printf "%s\n" "17250 'Hi'" "198 '\\n'" "197 '\\t'" "270 'it'" "338 '\\'s'")
expect tokenize_pieces "$want" "$got"

# -f: bytes exactly, trailing newline included
printf 'Hello world\n' >"$T/in.txt"
got=$($UH tokenize "$V/ggml-vocab-gpt-2.gguf" -f "$T/in.txt")
want="$($UH tokenize "$V/ggml-vocab-gpt-2.gguf" "Hello world") 198"
expect tokenize_file_bytes "$want" "$got"
printf 'a\377b' >"$T/bad.txt"
got=$($UH tokenize --pieces "$V/ggml-vocab-gpt-2.gguf" -f "$T/bad.txt")
want=$(printf "%s\n" "64 'a'" "187 '\\xff'" "65 'b'")
expect tokenize_file_invalid_utf8 "$want" "$got"
: >"$T/empty.txt"
got=$($UH tokenize "$V/ggml-vocab-gpt-2.gguf" -f "$T/empty.txt")
expect tokenize_empty "" "$got"

# ---- errors ----
$UH tokenize "$V/ggml-vocab-gpt-2.gguf" >/dev/null 2>&1
expect tokenize_usage_exit 2 $?
$UH tokenize "$V/ggml-vocab-gpt-2.gguf" "a" "b" >/dev/null 2>&1
expect tokenize_extra_arg_exit 2 $?
$UH tokenize "$V/ggml-vocab-gpt-2.gguf" --bogus "a" >/dev/null 2>&1
expect tokenize_unknown_option_exit 2 $?
$UH tokenize "$T/missing.gguf" "a" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "^unhosted tokenize: " "$T/err"; then pass tokenize_missing_model; else
    fail tokenize_missing_model "exit $rc" "$(cat "$T/err")"; fi
$UH tokenize "$V/ggml-vocab-gpt-2.gguf" -f "$T/missing.txt" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "^unhosted tokenize: .*missing.txt" "$T/err"; then
    pass tokenize_missing_file; else fail tokenize_missing_file "exit $rc" "$(cat "$T/err")"; fi
