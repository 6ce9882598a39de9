#!/bin/sh
# IMDS faults: `dsvm-firstboot detect --imds URL --json` against the loopback server
# (tests/tools/testhttpd.py). Every fault must end in its defined result: exit 0 (a missing VM
# size is not fatal), vm_size_source "imds" or "none", one clear sentence on stderr, a bounded
# number of requests, and bounded time.
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${DSVM_BUILD:-$top/build}/dsvm-firstboot
for tool in python3 jq; do
	command -v "$tool" >/dev/null || { echo "skip: $tool is not installed (make deps)"; exit 77; }
done

work=$(mktemp -d)
testhttpd_pid=""
cleanup() {
	[ -n "$testhttpd_pid" ] && kill "$testhttpd_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

. "$top/tests/tools/testhttpd.sh"
testhttpd_start "$work" || exit 1
port=$testhttpd_port
base="http://127.0.0.1:$port"
mkdir -p "$work/empty" # a sysroot with no cloud-init data: IMDS is asked
fails=0
checks=0

now_ms() { date +%s%3N; }

# check NAME KNOBS SOURCE VMSIZE STDERR-REGEX MAX-MS REQUESTS
check() {
	checks=$((checks + 1))
	name=$1 knobs=$2 want_src=$3 want_vm=$4 want_err=$5 max_ms=$6 want_n=$7
	start=$(now_ms)
	set +e
	"$bin" detect --sysroot "$work/empty" --no-disks --imds "$base/$knobs" --json \
		>"$work/out" 2>"$work/err"
	rc=$?
	set -e
	took=$(($(now_ms) - start))
	src=$(jq -r .vm_size_source "$work/out" 2>/dev/null || echo "no-json")
	vm=$(jq -r .vm_size "$work/out" 2>/dev/null || echo "no-json")
	n=$(grep -c " /$knobs " "$testhttpd_log" || true)
	why=""
	[ "$rc" -eq 0 ] || why="$why exit $rc;"
	[ "$src" = "$want_src" ] || why="$why source '$src' not '$want_src';"
	[ "$vm" = "$want_vm" ] || why="$why vm_size '$vm' not '$want_vm';"
	if [ -n "$want_err" ]; then
		grep -Eq "$want_err" "$work/err" || why="$why stderr lacks /$want_err/;"
	else
		[ ! -s "$work/err" ] || why="$why unexpected stderr;"
	fi
	[ "$took" -le "$max_ms" ] || why="$why took ${took} ms > $max_ms;"
	[ "$n" -eq "$want_n" ] || why="$why $n requests, not $want_n;"
	if [ -n "$why" ]; then
		echo "FAIL $name:$why"
		sed 's/^/    stderr: /' "$work/err"
		fails=$((fails + 1))
	else
		echo "ok   $name (${took} ms, $n requests)"
	fi
}

A100=Standard_NC24ads_A100_v4
check "200 with vmSize" "metadata/ok" imds "$A100" "" 2000 1
check "200, other size" "metadata/vm=Standard_ND96asr_v4" imds Standard_ND96asr_v4 "" 2000 1
check "whole instance document" "metadata/json=whole" imds "$A100" "" 2000 1
check "403 from a filter" "status=403" none null "HTTP 403, a filter" 2000 1
check "404 retried, then none" "status=404" none null "HTTP 404 after 4 attempts" 5000 4
check "410 retried, then none" "status=410" none null "HTTP 410 after 4 attempts" 5000 4
check "429 retried, then none" "status=429" none null "HTTP 429 after 4 attempts" 5000 4
check "500 retried, then none" "status=500" none null "HTTP 500 after 4 attempts" 5000 4
check "2x500 then 200" "metadata/seq=500,500,200" imds "$A100" "" 3000 3
check "400 is final" "status=400" none null "HTTP 400 \\(the Metadata header" 2000 1
check "HTML page" "html" none null "HTTP 200 but the answer is not a JSON object" 2000 1
check "truncated body" "truncate" none null "transfer closed|Transferred a partial" 2000 1
check "huge body" "huge=8000000" none null "answer larger than 1048576 bytes" 3000 1
check "stall before answer" "stall=20" none null "timed out" 5000 1
check "stall mid-body" "stallbody=20" none null "timed out" 5000 1
check "connection reset" "reset" none null "reset|Empty reply|Recv failure" 2000 1
check "no vmSize" "json=novmsize" none null "has no vmSize" 2000 1
check "vmSize not a string" "json=number" none null "not a VM size name" 2000 1
check "JSON array" "json=array" none null "not a JSON object" 2000 1
check "redirect not followed" "redirect=2" none null "HTTP 302 \\(IMDS never redirects" 2000 1
check "redirect to https" "redirect-scheme" none null "HTTP 302" 2000 1

# Nothing listening: one attempt, no retries, a clear sentence.
start=$(now_ms)
"$bin" detect --sysroot "$work/empty" --no-disks --imds "http://127.0.0.1:9/" --json \
	>"$work/out" 2>"$work/err"
took=$(($(now_ms) - start))
if jq -e '.vm_size_source == "none"' "$work/out" >/dev/null &&
	grep -Eq "onnect|refused" "$work/err" && [ "$took" -le 3000 ]; then
	echo "ok   nothing listening (${took} ms)"
else
	echo "FAIL nothing listening: $(cat "$work/err") (${took} ms)"
	fails=$((fails + 1))
fi

# Every request carried "Metadata: true" and no X-Forwarded-For.
if grep -v " metadata=true xff=- " "$testhttpd_log" >"$work/bad"; then
	echo "FAIL: requests without 'Metadata: true' or with X-Forwarded-For:"
	cat "$work/bad"
	fails=$((fails + 1))
else
	echo "ok   every request had 'Metadata: true' and no X-Forwarded-For"
fi

# A proxy in the environment is never used (CURLOPT_NOPROXY "*").
if http_proxy=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 ALL_PROXY=http://127.0.0.1:9 \
	"$bin" detect --sysroot "$work/empty" --no-disks --imds "$base/metadata/proxy" --json \
	2>"$work/err" | jq -e '.vm_size_source == "imds"' >/dev/null; then
	echo "ok   proxy variables ignored"
else
	echo "FAIL: a proxy in the environment changed the IMDS request"
	cat "$work/err"
	fails=$((fails + 1))
fi

# cloud-init's copy wins: IMDS is not asked at all.
mkdir -p "$work/ci/run/cloud-init"
echo '{"ds":{"meta_data":{"imds":{"compute":{"vmSize":"Standard_NC6s_v3"}}}}}' \
	>"$work/ci/run/cloud-init/instance-data.json"
out=$("$bin" detect --sysroot "$work/ci" --no-disks --imds "$base/status=500/ci" --json)
if [ "$(echo "$out" | jq -r '.vm_size_source + " " + .vm_size')" = "cloud-init Standard_NC6s_v3" ] &&
	! grep -q "/ci " "$testhttpd_log"; then
	echo "ok   cloud-init instance data preferred, IMDS not asked"
else
	echo "FAIL: cloud-init data not preferred: $out"
	fails=$((fails + 1))
fi

# Options: --imds must be http://; --imds with --no-imds is a usage error (64).
for args in "--imds https://169.254.169.254/" "--imds $base/x --no-imds" "--imds"; do
	set +e
	# shellcheck disable=SC2086 # the arguments are meant to split
	"$bin" detect --sysroot "$work/empty" $args --json >/dev/null 2>"$work/err"
	rc=$?
	set -e
	if [ "$rc" -eq 64 ] && [ -s "$work/err" ]; then
		echo "ok   usage error for: $args"
	else
		echo "FAIL: '$args' gave exit $rc"
		fails=$((fails + 1))
	fi
done

echo "imds: $checks fault cases, $fails failures"
[ "$fails" -eq 0 ]
