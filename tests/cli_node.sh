#!/bin/sh
# The official `openai` and `ollama` npm clients against a local `unhosted serve`
# (tests/node/api_clients.mjs): chat, streaming chat, completions, logprobs, embeddings, model
# listing and errors, greedy output equal to `unhosted run`. The packages come from the npm registry
# (versions pinned by tests/node/package-lock.json) into build/node/, reused while the lock file
# is unchanged. Only ever connects to 127.0.0.1. Prints one "PASS name" / "FAIL name" per case.
set -u
. tests/lib.sh
MODEL=$TD/models/stories260K.gguf
NODE_DIR=${NODE_DIR:-$(dirname "$UH")/node}
export UNHOSTED_HOME="$T/home"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "FAIL node_clients (node and npm are needed: install Node.js 20 or later)"
    exit 0
fi
if [ ! -f "$MODEL" ]; then
    echo "FAIL node_clients (missing $MODEL)"
    exit 0
fi
mkdir -p "$NODE_DIR"
if ! cmp -s tests/node/package-lock.json "$NODE_DIR/package-lock.json" || [ ! -d "$NODE_DIR/node_modules" ]; then
    cp tests/node/package.json tests/node/package-lock.json "$NODE_DIR/"
    if ! (cd "$NODE_DIR" && npm ci --no-audit --no-fund --ignore-scripts >"$T/npm" 2>&1); then
        echo "FAIL node_clients_install (npm ci failed)"
        sed 's/^/  /' "$T/npm" | tail -20
        rm -f "$NODE_DIR/package-lock.json"
        exit 0
    fi
fi
cp tests/node/api_clients.mjs "$NODE_DIR/"

serve_bg "$T/out" "$T/err" --listen 127.0.0.1:0 --model "$MODEL"
if [ "$PORT" -eq 0 ]; then
    echo "FAIL node_serve_starts"
    sed 's/^/  /' "$T/err"
    exit 0
fi
want=$($UH run "$MODEL" -p "Once upon a time" --temp 0 -n 16 2>/dev/null)
NO_PROXY='*' node "$NODE_DIR/api_clients.mjs" "http://127.0.0.1:$PORT" stories260K "$want"
