#!/bin/sh
# Mirrors are often private (credentials in the URL, or an Azure SAS token in the query): the
# content path goes before the query, the download works through such a mirror, and no secret
# reaches a message, a progress line or --json output, verbose or not.
set -eu
top=${DSVM_TOP:?}
. "$top/tests/tools/testhttpd.sh"
work=$(mktemp -d)
testhttpd_pid=
trap '[ -n "$testhttpd_pid" ] && kill "$testhttpd_pid" 2>/dev/null; rm -rf "$work"' EXIT
fail=0
no() { echo "FAIL $*"; fail=$((fail + 1)); }

mkdir -p "$work/mirror/sha256"
head -c 5000 /dev/urandom >"$work/payload"
hex=$(sha256sum "$work/payload" | cut -d' ' -f1)
cp "$work/payload" "$work/mirror/sha256/$hex"
testhttpd_start "$work" --dir "$work/mirror"
base="http://127.0.0.1:$testhttpd_port"
cat >"$work/lock.json" <<JSON
{"lock_version": 1, "edition": "t", "components": [{"order": 1, "name": "p", "kind": "archive",
 "action": "install", "artifacts": [{"name": "p", "url": "$base/status=404/p", "sha256": "$hex",
 "size": 5000}]}]}
JSON
mirror="http://mirroruser:S3cretToken@127.0.0.1:$testhttpd_port/files?sv=2024&sig=SIGSECRET"

dsvm-build fetch "$work/lock.json" --cache "$work/cache" --mirror "$mirror" -v >"$work/out" 2>&1 ||
	no "fetch through the mirror failed: $(cat "$work/out")"
cmp -s "$work/payload" "$work/cache/$hex" || no "cached file differs from the mirror's"
grep -q "GET /files/sha256/$hex" "$testhttpd_log" || no "mirror path not placed before the query: $(cat "$testhttpd_log")"

# A failing run prints more (errors, retries): no secret there either.
rm -rf "$work/cache"
dsvm-build fetch "$work/lock.json" --cache "$work/cache" --retries 1 --json \
	--mirror "http://mirroruser:S3cretToken@127.0.0.1:1/x?sig=SIGSECRET" -v >>"$work/out" 2>&1 || true
if grep -E "S3cretToken|SIGSECRET|mirroruser" "$work/out"; then
	no "a secret reached the output"
fi
grep -q '?\.\.\.' "$work/out" || no "redacted form not shown"
echo "fetch secrets: mirror with credentials and a query used, 0 secrets in $(wc -l <"$work/out") output lines, $fail failures"
[ "$fail" -eq 0 ]
