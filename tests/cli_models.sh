#!/bin/sh
# CLI tests of the model store commands: import, models, show, run by name, rm, and errors.
# Prints one "PASS name" / "FAIL name" line per case. Run from the repository root. No network.
set -u
. tests/lib.sh
export UNHOSTED_HOME="$T/home"
export HOME="$T/userhome"
unset OLLAMA_MODELS
mkdir -p "$HOME"

check() { # name, condition command...
    name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name" "command: $*"; fi
}

STORIES=$TD/models/stories260K.gguf
cp "$STORIES" "$T/Stories-260K.gguf"

# ---- import ----
out=$($UH import "$T/Stories-260K.gguf" 2>"$T/err")
rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "imported stories-260k:latest"; then
    pass import_default_name; else fail import_default_name "exit $rc" "$out" "$(cat "$T/err")"; fi
$UH import "$T/Stories-260K.gguf" tiny:v1 >/dev/null 2>"$T/err"
check import_named [ $? -eq 0 ]
nblobs=$(ls "$UNHOSTED_HOME/data/models/blobs" | wc -l)
check import_two_names_one_blob [ "$nblobs" -eq 1 ]
links=$(stat -c %h "$T/Stories-260K.gguf")
check import_hard_links_no_copy [ "$links" -eq 2 ]

# ---- models ----
out=$($UH models 2>/dev/null)
if echo "$out" | grep -q "^NAME .*SIZE .*ARCH .*QUANT .*PARAMS .*SOURCE" &&
    echo "$out" | grep -q "^tiny:v1 .*1.2 MB .*llama .*F32 .*293K .*imported"; then
    pass models_table; else fail models_table "$out"; fi
out=$($UH models --json 2>/dev/null)
if echo "$out" | grep -q '"name":[[:space:]]*"tiny:v1"' && echo "$out" | grep -q '"size":[[:space:]]*1185376'; then
    pass models_json; else fail models_json "$out"; fi
out=$($UH models --available 2>/dev/null)
if echo "$out" | grep -q "^llama3.2:1b " && echo "$out" | grep -q "^phi3.5:3.8b .*unsupported"; then
    pass models_available; else fail models_available "$out"; fi

# ---- show ----
out=$($UH show tiny:v1 2>"$T/err")
rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "architecture *llama" && echo "$out" | grep -q "context *2048" &&
    echo "$out" | grep -q "sha256 *[0-9a-f]\{64\}" && echo "$out" | grep -q "chat template"; then
    pass show_metadata; else fail show_metadata "exit $rc" "$out" "$(cat "$T/err")"; fi

# ---- run by name ----
a=$($UH run tiny:v1 -p hi -n 4 --temp 0 2>"$T/err")
rc=$?
b=$($UH run "$STORIES" -p hi -n 4 --temp 0 2>/dev/null)
if [ $rc -eq 0 ] && [ -n "$a" ] && [ "$a" = "$b" ]; then pass run_by_store_name; else
    fail run_by_store_name "exit $rc" "by name: $a" "by path: $b" "$(cat "$T/err")"; fi

# ---- discovered: an Ollama store under $HOME ----
OM="$HOME/.ollama/models"
mkdir -p "$OM/blobs" "$OM/manifests/registry.ollama.ai/library/stories"
sha=$(sha256sum "$STORIES" | cut -d' ' -f1)
cp "$STORIES" "$OM/blobs/sha256-$sha"
size=$(wc -c <"$STORIES")
printf '{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:%s","size":%s}]}' \
    "$sha" "$size" >"$OM/manifests/registry.ollama.ai/library/stories/260k"
chmod -R a-w "$OM"
out=$($UH models 2>/dev/null)
if echo "$out" | grep -q "^ollama/stories:260k .*llama .*ollama"; then
    pass models_lists_ollama; else fail models_lists_ollama "$out"; fi
a=$($UH run ollama/stories:260k -p hi -n 4 --temp 0 2>"$T/err")
rc=$?
if [ $rc -eq 0 ] && [ "$a" = "$b" ]; then pass run_ollama_model; else
    fail run_ollama_model "exit $rc" "$a" "$(cat "$T/err")"; fi
$UH rm ollama/stories:260k >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && [ -f "$OM/blobs/sha256-$sha" ]; then pass rm_refuses_other_stores; else
    fail rm_refuses_other_stores "exit $rc"; fi
chmod -R u+w "$OM"

# ---- rm ----
$UH rm tiny:v1 >/dev/null 2>&1
check rm_one_name [ $? -eq 0 ]
nblobs=$(ls "$UNHOSTED_HOME/data/models/blobs" | wc -l)
check rm_keeps_shared_blob [ "$nblobs" -eq 1 ]
$UH rm stories-260k >/dev/null 2>&1
nblobs=$(ls "$UNHOSTED_HOME/data/models/blobs" | wc -l)
if [ "$nblobs" -eq 0 ] && [ -f "$T/Stories-260K.gguf" ]; then pass rm_last_name_frees_blob; else
    fail rm_last_name_frees_blob "blobs: $nblobs"; fi

# ---- errors ----
$UH rm tiny:v1 >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "no model tiny:v1" "$T/err"; then pass rm_missing; else
    fail rm_missing "exit $rc" "$(cat "$T/err")"; fi
$UH rm ../etc >/dev/null 2>&1
check rm_bad_name_is_usage_error [ $? -eq 2 ]
printf 'not a gguf' >"$T/bad.gguf"
$UH import "$T/bad.gguf" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && [ -z "$(ls "$UNHOSTED_HOME/data/models/manifests")" ]; then
    pass import_rejects_non_gguf; else fail import_rejects_non_gguf "exit $rc" "$(cat "$T/err")"; fi
$UH import "$T/nope.gguf" >/dev/null 2>&1
check import_missing_file [ $? -eq 1 ]
$UH show qwen2.5:0.5b >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "unhosted pull qwen2.5:0.5b" "$T/err"; then pass show_not_pulled_hint; else
    fail show_not_pulled_hint "exit $rc" "$(cat "$T/err")"; fi
$UH show phi3.5:3.8b >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "phi3.5:3.8b is a phi3 model" "$T/err"; then
    pass unsupported_arch_refused; else fail unsupported_arch_refused "exit $rc" "$(cat "$T/err")"; fi
