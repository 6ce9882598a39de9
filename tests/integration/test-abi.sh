#!/bin/sh
# The binaries packer/<edition>/ uploads are built here (Debian 12) and run on the build VM: they
# must load, and find what they look up, on each Ubuntu edition's release, which this machine
# does not have. tests/tools/abi-check.py compares their dynamic imports (NEEDED sonames, versioned
# and unversioned symbols) and what the sources dlopen and set in libcurl with
# tests/fixtures/abi/ubuntu-22.04.txt and ubuntu-24.04.txt, facts from public records. Asserts:
# dsvm-build and dsvm-firstboot pass for both releases (and the check saw enough to mean it);
# dsvm-build looks the threaded .xz decoder up at run time instead of importing it; mutants are
# rejected with the binary (or file), symbol, version and release named: a binary importing a
# glibc 2.36 symbol, one importing liblzma 5.4's lzma_stream_decoder_mt, a release file whose
# liblzma is older than what we need, one without libarchive, a source setting a curl 7.85 option
# without a fallback; and a download through dsvm-build with libcurl made to refuse the curl 7.85
# options as 22.04's 7.81 does still succeeds (and fails when the older option is refused too).
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${DSVM_BUILD:-$top/build}
for tool in readelf nm ldd python3 cc sha256sum; do
	command -v "$tool" >/dev/null || { echo "skip: $tool is not installed (make deps)"; exit 77; }
done
. "$top/tests/tools/check.sh"
# What Packer uploads is the plain build. The sanitizer pass (DSVM_SANITIZED=1, make asan) links
# its runtime's libraries, which no image carries: there the import checks read the plain
# build's binaries, and the download below runs the sanitized dsvm-build.
uploaded=$build
[ -z "${DSVM_SANITIZED:-}" ] || uploaded=${DSVM_PLAIN_BUILD:-$top/build}
for f in "$build/dsvm-build" "$uploaded/dsvm-build" "$uploaded/dsvm-firstboot"; do
	[ -x "$f" ] || { echo "FAIL: '$f' is not built (make all)"; exit 1; }
done

work=$(mktemp -d)
srv=""
trap 'if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

fx=$top/tests/fixtures/abi
jammy=$fx/ubuntu-22.04.txt
noble=$fx/ubuntu-24.04.txt
# abi RELEASE-FILE ARGS...: run the checker; its output in $work/out, its status in $rc.
abi() {
	_rel=$1
	shift
	set +e
	python3 "$top/tests/tools/abi-check.py" --release "$_rel" --common "$fx/common.txt" "$@" \
		>"$work/out" 2>&1
	rc=$?
	set -e
}
says() { grep -qF -- "$1" "$work/out"; }

# The uploaded binaries and the code they run, on each release.
for rel in "$jammy" "$noble"; do
	name=$(basename "$rel" .txt)
	abi "$rel" --src "$top/lib" --src "$top/builder" --src "$top/firstboot" \
		"$uploaded/dsvm-build" "$uploaded/dsvm-firstboot"
	cp "$work/out" "$work/real-$name"
	check "dsvm-build and dsvm-firstboot load on $name: $(grep FAIL "$work/out" | tr '\n' ' ')" \
		[ "$rc" -eq 0 ]
	n=$(sed -n "s/^$name: \([0-9]*\) checks.*/\1/p" "$work/out")
	check "the $name check saw the imports ($n checks, want 300 or more)" [ "${n:-0}" -ge 300 ]
done

# The threaded decoder is found at run time (lib/xz-stream.c), so 22.04's liblzma 5.2 loads it.
check "dsvm-build does not import lzma_stream_decoder_mt" \
	sh -c '! readelf --dyn-syms -W "$1" | grep -q " UND lzma_stream_decoder_mt"' sh "$uploaded/dsvm-build"
check "dsvm-build looks it up with dlvsym" \
	sh -c 'readelf --dyn-syms -W "$1" | grep -q " UND dlvsym@"' sh "$uploaded/dsvm-build"

# Mutant: a binary importing a glibc 2.36 symbol (this machine's glibc has it; 22.04's 2.35 not).
cat >"$work/newglibc.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
int main(void) { printf("%u\n", arc4random()); return 0; }
EOF
cc -o "$work/newglibc" "$work/newglibc.c"
check "the glibc mutant imports arc4random@GLIBC_2.36" \
	sh -c 'readelf --dyn-syms -W "$1" | grep -q " UND arc4random@GLIBC_2.36"' sh "$work/newglibc"
abi "$jammy" "$work/newglibc"
check "a glibc 2.36 import is rejected for 22.04, naming binary, symbol, version and release" \
	sh -c '[ "$1" -eq 1 ] && grep -q "^FAIL ubuntu-22.04: $2 imports arc4random@GLIBC_2.36 from libc.so.6; .*newest node is GLIBC_2.35" "$3"' \
	sh "$rc" "$work/newglibc" "$work/out"
abi "$noble" "$work/newglibc"
check "the same binary passes for 24.04 (glibc 2.39)" [ "$rc" -eq 0 ]

# Mutant: the import today's main had, lzma_stream_decoder_mt (liblzma 5.4's XZ_5.4).
cat >"$work/newlzma.c" <<'EOF'
#include <lzma.h>
int main(void)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_mt mt = { .threads = 1, .memlimit_stop = UINT64_MAX };
	return lzma_stream_decoder_mt(&s, &mt) != LZMA_OK;
}
EOF
cc -o "$work/newlzma" "$work/newlzma.c" -llzma
abi "$jammy" "$work/newlzma"
check "lzma_stream_decoder_mt@XZ_5.4 is rejected for 22.04 (liblzma 5.2.5)" \
	sh -c '[ "$1" -eq 1 ] && grep -q "^FAIL ubuntu-22.04: $2 imports lzma_stream_decoder_mt@XZ_5.4 from liblzma.so.5; ubuntu-22.04 ships liblzma5 5.2.5" "$3"' \
	sh "$rc" "$work/newlzma" "$work/out"
abi "$noble" "$work/newlzma"
check "and passes for 24.04 (liblzma 5.4.5)" [ "$rc" -eq 0 ]

# Mutant: a release file lower than what dsvm-build needs (liblzma without XZ_5.2), and one
# without libarchive at all.
sed 's/^node liblzma.so.5 XZ_ 5.4/node liblzma.so.5 XZ_ 5.0/' "$noble" >"$work/old-lzma.txt"
check "the old-liblzma release file differs" sh -c '! cmp -s "$1" "$2"' sh "$noble" "$work/old-lzma.txt"
abi "$work/old-lzma.txt" "$uploaded/dsvm-build"
check "dsvm-build's lzma_cputhreads@XZ_5.2 is rejected where liblzma has only XZ_5.0" \
	sh -c '[ "$1" -eq 1 ] && grep -q "^FAIL ubuntu-24.04: $2 imports lzma_cputhreads@XZ_5.2 from liblzma.so.5" "$3"' \
	sh "$rc" "$uploaded/dsvm-build" "$work/out"
grep -v '^lib libarchive.so.13 ' "$noble" >"$work/no-archive.txt"
abi "$work/no-archive.txt" "$uploaded/dsvm-build"
check "dsvm-build is rejected where libarchive.so.13 is missing" \
	sh -c '[ "$1" -eq 1 ] && grep -q "^FAIL ubuntu-24.04: $2 needs libarchive.so.13, which ubuntu-24.04 does not ship" "$3"' \
	sh "$rc" "$uploaded/dsvm-build" "$work/out"

# Mutant: a source setting a curl 7.85 option with no fallback (what lib/fetch.c did).
mkdir -p "$work/src"
cat >"$work/src/bare.c" <<'EOF'
static int setup(CURL *c) { return curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https"); }
EOF
abi "$jammy" --src "$work/src"
check "CURLOPT_PROTOCOLS_STR without a fallback is rejected for 22.04 (curl 7.81.0)" \
	sh -c '[ "$1" -eq 1 ] && grep -q "^FAIL ubuntu-22.04: $2 uses CURLOPT_PROTOCOLS_STR from libcurl.so.4, added in 7.85.0; ubuntu-22.04 ships libcurl4 7.81.0" "$3"' \
	sh "$rc" "$work/src/bare.c" "$work/out"
abi "$noble" --src "$work/src"
check "and passes for 24.04 (curl 8.5.0)" [ "$rc" -eq 0 ]

# libcurl refusing the 7.85 options as 22.04's does (CURLE_UNKNOWN_OPTION): a download still
# works through the older option; refusing that one too, it must not.
cat >"$work/curl781.c" <<'EOF'
#define _GNU_SOURCE
#define CURL_DISABLE_TYPECHECK /* the macro would hide the definition below */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <curl/curl.h>
typedef CURLcode (*setopt_fn)(CURL *, CURLoption, ...);
/* As curl 7.81 answers options it does not know; logs each refusal and each protocol mask. */
CURLcode curl_easy_setopt(CURL *c, CURLoption o, ...)
{
	static setopt_fn real;
	const char *log = getenv("CURL781_LOG");
	FILE *f = log ? fopen(log, "a") : NULL;
	void *arg;
	va_list ap;

	if (!real)
		real = (setopt_fn)dlsym(RTLD_NEXT, "curl_easy_setopt");
	va_start(ap, o);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (o == 10318 || o == 10319 || (getenv("CURL781_NO_MASK") && (o == 181 || o == 182))) {
		if (f)
			fprintf(f, "refused %d\n", (int)o);
		if (f)
			fclose(f);
		return CURLE_UNKNOWN_OPTION;
	}
	if (f && (o == 181 || o == 182))
		fprintf(f, "mask %d %ld\n", (int)o, (long)arg);
	if (f)
		fclose(f);
	return real(c, o, arg);
}
EOF
cc -shared -fPIC -o "$work/curl781.so" "$work/curl781.c" -ldl
. "$top/tests/tools/testhttpd.sh"
mkdir -p "$work/files" "$work/http"
head -c 300000 /dev/urandom >"$work/files/pay.bin"
sha=$(sha256sum "$work/files/pay.bin" | cut -d' ' -f1)
testhttpd_start "$work/http" --dir "$work/files" || exit 1
srv=$testhttpd_pid
cat >"$work/pay.lock" <<EOF
{"lock_version": 1, "edition": "abi", "components": [{"order": 1, "name": "pay", "kind": "archive",
 "action": "install", "artifacts": [{"name": "pay", "url": "http://127.0.0.1:$testhttpd_port/files/pay.bin",
 "sha256": "$sha"}]}]}
EOF
# fetch781 CACHE [ENV...]: dsvm-build fetch with the 7.81 stand-in preloaded; status in $rc.
fetch781() {
	_cache=$1
	shift
	set +e
	env CURL781_LOG="$work/curl781.log" LD_PRELOAD="$work/curl781.so" "$@" "$build/dsvm-build" \
		fetch --cache "$_cache" --retries 1 --connect-timeout 3 "$work/pay.lock" \
		>"$work/fetch.out" 2>&1
	rc=$?
	set -e
}
fetch781 "$work/cache"
check "a download works with libcurl refusing CURLOPT_PROTOCOLS_STR: $(tail -n 2 "$work/fetch.out" | tr '\n' ' ')" \
	[ "$rc" -eq 0 ]
check "the refusal happened and the http mask was set instead" \
	sh -c 'grep -q "^refused 10318" "$1" && grep -q "^mask 181 1$" "$1" && grep -q "^mask 182 1$" "$1"' \
	sh "$work/curl781.log"
check "the downloaded bytes are in the cache" \
	sh -c 'find "$1" -type f -exec sha256sum {} + | grep -q "^$2 "' sh "$work/cache" "$sha"
fetch781 "$work/cache2" CURL781_NO_MASK=1
check "refusing CURLOPT_PROTOCOLS too, the download fails (the fallback is what works)" \
	[ "$rc" -ne 0 ]

[ "$fail" -eq 0 ] || { echo "$fail of $checks checks failed"; exit 1; }
u22=$(sed -n 's/.*failed; \([0-9]*\) imports.*/\1/p' "$work/real-ubuntu-22.04")
u24=$(sed -n 's/.*failed; \([0-9]*\) imports.*/\1/p' "$work/real-ubuntu-24.04")
echo "abi: $checks/$checks checks hold; dsvm-build and dsvm-firstboot load on Ubuntu 22.04 and 24.04 ($u22 and $u24 imports and uses without a sourced record, left unchecked)"
