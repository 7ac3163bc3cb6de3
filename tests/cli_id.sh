#!/bin/sh
# CLI tests of `unhosted id`: the device id is created once and stays, its key file is private,
# --json is JSON, --name renames, and a damaged key file is an error that names it.
# Prints one "PASS name" / "FAIL name" line per case. Run from the repository root.
set -u
. tests/lib.sh
H="$T/home"
unset UNHOSTED_HOME

ID_RE='^[A-Z2-7]\{7\}\(-[A-Z2-7]\{7\}\)\{7\}$'

out1=$($UH id --home "$H" 2>"$T/err")
rc=$?
id1=$(echo "$out1" | sed -n 's/^id  *//p')
if [ $rc -eq 0 ] && echo "$id1" | grep -q "$ID_RE" && echo "$out1" | grep -q '^name  *.'; then
    pass id_created; else fail id_created "exit $rc" "$out1" "$(cat "$T/err")"; fi

id2=$($UH --home "$H" id 2>/dev/null | sed -n 's/^id  *//p')
if [ -n "$id1" ] && [ "$id1" = "$id2" ]; then pass id_stable; else fail id_stable "$id1" "$id2"; fi

key="$H/config/identity.key"
mode=$(stat -c %a "$key" 2>/dev/null)
if [ "$mode" = "600" ]; then pass id_key_mode_0600; else fail id_key_mode_0600 "mode $mode"; fi

json=$($UH id --home "$H" --json 2>&1)
if printf '%s' "$json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["id"] == sys.argv[1] and d["short"] == sys.argv[1][:7] and d["name"]
' "$id1"; then pass id_json; else fail id_json "$json"; fi

$UH id --home "$H" --name "kitchen laptop" >/dev/null 2>&1
json=$($UH id --home "$H" --json 2>&1)
if echo "$json" | grep -q '"name":"kitchen laptop"' && echo "$json" | grep -q "\"id\":\"$id1\""; then
    pass id_rename_persists; else fail id_rename_persists "$json"; fi

$UH id --home "$H" --name "" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "device name" "$T/err"; then pass id_bad_name_refused
else fail id_bad_name_refused "exit $rc" "$(cat "$T/err")"; fi

chmod 644 "$key"
$UH id --home "$H" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "chmod 600" "$T/err"; then pass id_open_key_refused
else fail id_open_key_refused "exit $rc" "$(cat "$T/err")"; fi
chmod 600 "$key"

printf '{"version":1,"sign_sk":"broken"' >"$key"
$UH id --home "$H" >"$T/out" 2>"$T/err"
rc=$?
after=$(cat "$key")
if [ $rc -eq 1 ] && grep -q "identity.key" "$T/err" && grep -q "malformed" "$T/err" &&
    [ ! -s "$T/out" ] && [ "$after" = '{"version":1,"sign_sk":"broken"' ]; then
    pass id_corrupt_key_error; else fail id_corrupt_key_error "exit $rc" "$(cat "$T/err")"; fi

$UH id --home "$H" --bogus >/dev/null 2>&1
rc=$?
if [ $rc -eq 2 ]; then pass id_unknown_option; else fail id_unknown_option "exit $rc"; fi
