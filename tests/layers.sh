#!/bin/sh
# The folder order of src/ (docs/architecture.md): a file includes headers of its own folder and
# of folders below it, never above. Reads every #include "..." under src/ and fails on a
# wrong-way one, naming the file, the line and the two layers. The public engine header
# (include/unhosted.h) belongs to the engine: base/ and gguf/ may include only unhosted_base.h.
# Prints one "PASS name" / "FAIL name" line.
set -u
ORDER="base gguf text kernels engine models exec net cluster swarm router server cli"
SRC=${1:-src}

rank() { # folder -> its place in ORDER (1-based); 0 when unknown
    i=1
    for l in $ORDER; do
        [ "$l" = "$1" ] && echo $i && return
        i=$((i + 1))
    done
    echo 0
}

bad=$(mktemp)
trap 'rm -f "$bad"' EXIT
for f in $(find "$SRC" -name '*.[ch]' | sort); do
    rel=${f#"$SRC"/}
    case $rel in
    */*) layer=${rel%%/*} ;;
    *) layer=cli ;; # src/main.c
    esac
    lr=$(rank "$layer")
    if [ "$lr" -eq 0 ]; then
        echo "  $f: folder $layer is not in the layer order" >>"$bad"
        continue
    fi
    grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
        sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1 \2/' |
        while read -r line inc; do
            case $inc in
            unhosted.h) tl=$(rank engine) ;;
            unhosted_base.h) tl=1 ;;
            */*) tl=$(rank "${inc%%/*}") ;;
            *) tl=$lr ;; # a header beside the file
            esac
            if [ "$tl" -eq 0 ]; then
                echo "  $f:$line: includes $inc from an unknown folder" >>"$bad"
            elif [ "$tl" -gt "$lr" ]; then
                echo "  $f:$line: $layer/ includes $inc, a layer above it" >>"$bad"
            fi
        done
done
if [ -s "$bad" ]; then
    echo "FAIL include_order"
    cat "$bad"
    exit 1
fi
echo "PASS include_order"
