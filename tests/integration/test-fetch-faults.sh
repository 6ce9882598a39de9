#!/bin/sh
# T3 network faults (TESTING.md): `dsvm-build fetch` against the loopback servers
# (tests/tools/testhttpd.py, and testhttpsd.py for TLS). Every fault must be rejected with its own
# message and exit code, with a bounded number of requests, and no byte that failed verification
# may ever sit at a final cache path. Also: 429 is retried and then succeeds, a private CA given
# explicitly is accepted, mirrors are tried in order, a warm cache transfers nothing, an
# interrupted (SIGKILLed) download resumes with a range request, a server ignoring the range or
# kept bytes that are wrong end in a clean re-download, repository files are copied, -j runs
# transfers in parallel, and a cache that cannot be created is exit 73.
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${DSVM_BUILD:-$top/build}/dsvm-build
for tool in python3 openssl sha256sum; do
	command -v "$tool" >/dev/null || { echo "skip: $tool is not installed (make deps)"; exit 77; }
done

work=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

. "$top/tests/tools/testhttpd.sh"

mkdir -p "$work/files/mirror/sha256" "$work/cache"
head -c 1500000 /dev/urandom >"$work/files/pay.bin"
pay_sha=$(sha256sum "$work/files/pay.bin" | cut -d' ' -f1)
pay_size=$(stat -c %s "$work/files/pay.bin")
other_sha=$(printf 'something else' | sha256sum | cut -d' ' -f1)
cp "$work/files/pay.bin" "$work/files/mirror/sha256/$pay_sha"

# A certificate for 127.0.0.1 nobody trusts, made now; it is also its own CA for the positive case.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" \
	>/dev/null 2>&1

mkdir -p "$work/http" "$work/https"
testhttpd_start "$work/http" --dir "$work/files" --log "$work/requests" || exit 1
pids="$pids $testhttpd_pid"
base="http://127.0.0.1:$testhttpd_port"
testhttpd_script=testhttpsd.py
testhttpd_start "$work/https" --cert "$work/cert.pem" --key "$work/key.pem" --dir "$work/files" \
	--log "$work/tlsrequests" || exit 1
unset testhttpd_script
pids="$pids $testhttpd_pid"
tls="https://127.0.0.1:$testhttpd_port"

# lock FILE NAME URL SHA [SIZE]: a lock with one artifact (a 'path' when URL has no scheme).
lock() {
	if [ -n "${5:-}" ]; then size=", \"size\": $5"; else size=""; fi
	case $3 in
	*://*) src="\"url\": \"$3\"" ;;
	*) src="\"path\": \"$3\"" ;;
	esac
	cat >"$1" <<EOF
{"lock_version": 1, "edition": "t3", "components": [{"order": 1, "name": "$2", "kind": "archive",
 "action": "install", "artifacts": [{"name": "$2", $src, "sha256": "$4"$size}]}]}
EOF
}

requests() { grep -c " $1 " "$work/requests" || true; }

fetch() { # run dsvm-build fetch with short timeouts; sets rc, leaves out/err
	set +e
	"$bin" fetch --cache "$work/cache" --retries 2 --stall-timeout 1 --connect-timeout 3 \
		--json "$@" >"$work/out" 2>"$work/err"
	rc=$?
	set -e
}

fails=0
rejected=0
faults=0
bad() {
	echo "FAIL $1:$2"
	sed 's/^/    stderr: /' "$work/err"
	fails=$((fails + 1))
}

# fault NAME PATH SHA SIZE RC REGEX REQUESTS [fetch args]: must exit RC, say REGEX, make exactly
# REQUESTS requests, and leave neither a final file nor (unless retryable) a .part.
fault() {
	name=$1 path=$2 sha=$3 size=$4 want_rc=$5 regex=$6 want_n=$7
	shift 7
	faults=$((faults + 1))
	lock "$work/$name.lock" "$name" "$base/$path" "$sha" "$size"
	fetch "$work/$name.lock" "$@"
	why=""
	[ "$rc" -eq "$want_rc" ] || why="$why exit $rc, not $want_rc;"
	grep -Eq -- "$regex" "$work/err" || why="$why stderr lacks /$regex/;"
	[ ! -e "$work/cache/$sha" ] || why="$why a file sits at the final path;"
	n=$(requests "/$path")
	[ "$n" -eq "$want_n" ] || why="$why $n requests, not $want_n;"
	if [ -z "$why" ]; then
		rejected=$((rejected + 1))
		echo "ok   $name: exit $rc: $(tail -n 1 "$work/err" | cut -c1-150)"
	else
		bad "$name" "$why"
	fi
}

fault truncated truncate/t.json "$other_sha" "" 75 'before the whole body arrived \(truncated\)' 2
fault reset reset/r.json "$other_sha" "" 75 'was reset or dropped' 2
fault stall stall=30/s.json "$other_sha" "" 75 'stalled or timed out' 2
fault http-404 status=404/n.bin "$other_sha" "" 66 "answered HTTP 404 \\(not found\\)" 1
fault http-500 status=500/e.bin "$other_sha" "" 75 'answered HTTP 500.*gave up after 2 attempts' 2
fault http-429 status=429/q.bin "$other_sha" "" 75 'answered HTTP 429.*gave up after 2 attempts' 2
# The first request and 5 redirects followed, then refused.
fault redirect-loop redirect=loop/l.bin "$other_sha" "" 65 'redirected more than 5 times' 6
fault redirect-scheme redirect-scheme/h.bin "$other_sha" "" 65 'redirected to another scheme' 1
fault hash-mismatch files/pay.bin "$other_sha" "" 65 \
	"hash mismatch for '$base/files/pay.bin': expected $other_sha, got $pay_sha" 1
fault oversize huge=100000/big.bin "$other_sha" 1000 65 'announces 100000 bytes, more than the 1000' 1
[ ! -e "$work/cache/$other_sha.part" ] || bad oversize " a .part was left behind"

# Bad TLS certificate: refused with the system's CAs, accepted with the test CA given explicitly.
faults=$((faults + 1))
lock "$work/tls.lock" tls "$tls/files/pay.bin" "$pay_sha" "$pay_size"
fetch "$work/tls.lock"
if [ "$rc" -eq 1 ] && grep -q "TLS certificate of '$tls/files/pay.bin' failed verification" \
	"$work/err" && [ ! -e "$work/cache/$pay_sha" ]; then
	rejected=$((rejected + 1))
	echo "ok   bad-tls: exit $rc: $(tail -n 1 "$work/err" | cut -c1-150)"
else
	bad bad-tls " exit $rc"
fi
fetch "$work/tls.lock" --ca-file "$work/cert.pem"
[ "$rc" -eq 0 ] && [ -e "$work/cache/$pay_sha" ] || bad tls-test-ca " exit $rc with --ca-file"
echo "ok   tls-test-ca: accepted with the explicit test CA (verification on)"
rm -f "$work/cache/$pay_sha"

# 429, then 200: retried once and fetched.
lock "$work/retry.lock" retry "$base/seq=429,200/files/pay.bin" "$pay_sha" "$pay_size"
fetch "$work/retry.lock"
n=$(requests "/seq=429,200/files/pay.bin")
if [ "$rc" -eq 0 ] && [ "$n" -eq 2 ] && [ -e "$work/cache/$pay_sha" ]; then
	echo "ok   429-then-200: retried, fetched in $n requests"
else
	bad 429-then-200 " exit $rc, $n requests"
fi

# A warm cache transfers nothing and asks nobody.
before=$(wc -l <"$work/requests")
fetch "$work/retry.lock"
after=$(wc -l <"$work/requests")
if [ "$rc" -eq 0 ] && [ "$before" -eq "$after" ] && grep -q '"transferred": 0' "$work/out"; then
	echo "ok   warm-cache: 0 bytes transferred, 0 requests"
else
	bad warm-cache " exit $rc, $((after - before)) requests, $(cat "$work/out")"
fi
rm -f "$work/cache/$pay_sha"

# Mirrors in order: the first lacks the file (404), the second has it; upstream is never asked.
lock "$work/mirror.lock" mirror "$base/status=500/upstream.bin" "$pay_sha" "$pay_size"
fetch "$work/mirror.lock" --mirror "$base/files/nomirror/" --mirror "$base/files/mirror"
m1=$(grep -n "/files/nomirror/sha256/$pay_sha" "$work/requests" | cut -d: -f1 | head -n 1)
m2=$(grep -n "/files/mirror/sha256/$pay_sha" "$work/requests" | cut -d: -f1 | head -n 1)
up=$(requests "/status=500/upstream.bin")
if [ "$rc" -eq 0 ] && [ -n "$m1" ] && [ -n "$m2" ] && [ "$m1" -lt "$m2" ] && [ "$up" -eq 0 ]; then
	echo "ok   mirrors: tried in order, upstream not asked"
else
	bad mirrors " exit $rc, m1=$m1 m2=$m2 upstream=$up"
fi
rm -f "$work/cache/$pay_sha"

# Interrupted download: the server sends half the body and stalls; the fetch is killed (SIGKILL,
# no cleanup). The .part survives, and the next run resumes it with a range request from a
# mirror holding the same content (the hash decides, not the source).
body='{"location": "eastus", "name": "vm", "vmSize": "Standard_NC24ads_A100_v4", "zone": ""}'
printf '%s' "$body" >"$work/body"
body_sha=$(sha256sum "$work/body" | cut -d' ' -f1)
body_size=$(stat -c %s "$work/body")
cp "$work/body" "$work/files/mirror/sha256/$body_sha"
lock "$work/resume.lock" resume "$base/stallbody=30/body.json" "$body_sha" "$body_size"
"$bin" fetch --cache "$work/cache" "$work/resume.lock" >/dev/null 2>&1 &
victim=$!
i=0
while [ ! -s "$work/cache/$body_sha.part" ] && [ "$i" -lt 100 ]; do
	i=$((i + 1))
	sleep 0.05
done
sleep 0.2
kill -KILL "$victim" 2>/dev/null || true
wait "$victim" 2>/dev/null || true
part=$(stat -c %s "$work/cache/$body_sha.part" 2>/dev/null || echo 0)
fetch "$work/resume.lock" --mirror "$base/files/mirror"
moved=$(sed -n 's/.*"transferred": \([0-9]*\).*/\1/p' "$work/out")
if [ "$part" -gt 0 ] && [ "$part" -lt "$body_size" ] && [ "$rc" -eq 0 ] &&
	[ "$moved" -eq $((body_size - part)) ] && grep -q 'resumed' "$work/err" &&
	[ "$(sha256sum "$work/cache/$body_sha" | cut -d' ' -f1)" = "$body_sha" ]; then
	echo "ok   resume: killed at $part of $body_size bytes; resumed, $moved bytes transferred"
else
	bad resume " part=$part rc=$rc transferred=$moved"
fi

# A server that ignores the range answers 200 with the whole body: the kept bytes are dropped
# and the download starts over in the same response.
rm -f "$work/cache/$body_sha"
printf 'junk' >"$work/cache/$body_sha.part"
lock "$work/norange.lock" norange "$base/norange/body.json" "$body_sha" "$body_size"
fetch "$work/norange.lock"
moved=$(sed -n 's/.*"transferred": \([0-9]*\).*/\1/p' "$work/out")
if [ "$rc" -eq 0 ] && [ "$moved" -eq "$body_size" ] && [ ! -e "$work/cache/$body_sha.part" ]; then
	echo "ok   range-ignored: started over, $moved bytes"
else
	bad range-ignored " exit $rc, transferred $moved"
fi

# Kept bytes that are wrong, resumed from a server that honours the range: the whole is a
# mismatch, so it is fetched once more from byte 0, and only then verified and installed.
rm -f "$work/cache/$body_sha"
printf 'junk' >"$work/cache/$body_sha.part"
lock "$work/badpart.lock" badpart "$base/files/mirror/sha256/$body_sha" "$body_sha" "$body_size"
fetch "$work/badpart.lock"
moved=$(sed -n 's/.*"transferred": \([0-9]*\).*/\1/p' "$work/out")
if [ "$rc" -eq 0 ] && [ "$moved" -eq $((body_size - 4 + body_size)) ] &&
	[ "$(sha256sum "$work/cache/$body_sha" | cut -d' ' -f1)" = "$body_sha" ]; then
	echo "ok   bad-part: resumed, mismatched, refetched from 0 ($moved bytes)"
else
	bad bad-part " exit $rc, transferred $moved"
fi

# Repository files ('path' artifacts) are hashed and copied; a changed file is refused.
lock "$work/path.lock" path "$work/files/pay.bin" "$pay_sha" "$pay_size"
fetch "$work/path.lock"
[ "$rc" -eq 0 ] && cmp -s "$work/cache/$pay_sha" "$work/files/pay.bin" || bad path " exit $rc"
lock "$work/path-bad.lock" path-bad "$work/files/pay.bin" "$other_sha"
fetch "$work/path-bad.lock"
[ "$rc" -eq 65 ] && grep -q 'the file changed since the lock was written' "$work/err" ||
	bad path-mismatch " exit $rc"
echo "ok   path artifacts: copied when they match, refused when changed"

# Parallel transfers: several artifacts, -j 3, all verified.
printf '{"lock_version": 1, "edition": "t3", "components": [' >"$work/many.lock"
for k in 1 2 3 4 5 6; do
	head -c $((k * 100000)) /dev/urandom >"$work/files/p$k.bin"
	s=$(sha256sum "$work/files/p$k.bin" | cut -d' ' -f1)
	[ "$k" -eq 1 ] || printf ',' >>"$work/many.lock"
	printf '{"order": %d, "name": "p%d", "kind": "archive", "action": "install", "artifacts":
 [{"name": "p%d.bin", "url": "%s/files/p%d.bin", "sha256": "%s"}]}' \
		"$k" "$k" "$k" "$base" "$k" "$s" >>"$work/many.lock"
done
printf ']}\n' >>"$work/many.lock"
fetch "$work/many.lock" -j 3
grep -q '"fetched": 6' "$work/out" && [ "$rc" -eq 0 ] || bad parallel " exit $rc $(cat "$work/out")"
echo "ok   parallel: 6 artifacts with -j 3"

# A cache that cannot be created is exit 73.
set +e
"$bin" fetch --cache /proc/dsvm-cache "$work/many.lock" >/dev/null 2>"$work/err"
rc=$?
set -e
[ "$rc" -eq 73 ] || bad cache-create " exit $rc, not 73"

# No byte that failed verification may sit at a final path: every final name is its hash.
unverified=0
for f in "$work/cache"/*; do
	n=$(basename "$f")
	case $n in *.part) continue ;; esac
	[ "$(sha256sum "$f" | cut -d' ' -f1)" = "$n" ] || unverified=$((unverified + $(stat -c %s "$f")))
done

echo "T3: $rejected/$faults network faults rejected, $unverified unverified bytes installed"
[ "$fails" -eq 0 ] && [ "$rejected" -eq "$faults" ] && [ "$unverified" -eq 0 ]
