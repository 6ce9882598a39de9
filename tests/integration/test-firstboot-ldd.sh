#!/bin/sh
# dsvm-firstboot runs at boot before anything else: it must not load libcurl or libarchive
# (the builder's network and archive libraries), nor libcrypto at start (its relocations alone
# cost a no-op boot about 1.3 ms; lib/sha256.c loads it on the first digest). It links libdsvm.a with --as-needed, so this
# holds only while the objects it pulls in reference neither. Asserts: `ldd` of dsvm-firstboot
# and of tests/tools/apt-switch (the offline switch alone) names neither library; the binary
# does reach the offline switch and the program runner (the check is not vacuous); and the
# objects of the switch's layers (exec, apt-common, apt-offline, debian) reference no curl_ or
# archive_ symbol.
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${DSVM_BUILD:-$top/build}
for tool in ldd nm; do
	command -v "$tool" >/dev/null || { echo "skip: $tool is not installed"; exit 77; }
done
. "$top/tests/tools/check.sh"
fb=$build/dsvm-firstboot
sw=$build/tools/apt-switch
for f in "$fb" "$sw"; do
	[ -x "$f" ] || { echo "FAIL: '$f' is not built (make all)"; exit 1; }
done
check "dsvm-firstboot loads neither: $(ldd "$fb" | grep -E 'curl|archive' | tr -s '\t\n' '  ')" sh -c '! ldd "$1" | grep -Eq "libcurl|libarchive"' sh "$fb"
check "dsvm-firstboot does not load libcrypto at start: $(ldd "$fb" | grep -E 'crypto' | tr -s '\t\n' '  ')" sh -c '! ldd "$1" | grep -Eq "libcrypto"' sh "$fb"
check "dsvm-firstboot holds the digest it loads on first use" sh -c 'nm "$1" | grep -q " T sha256_new$"' sh "$fb"
check "apt-switch loads neither: $(ldd "$sw" | grep -E 'curl|archive' | tr -s '\t\n' '  ')" sh -c '! ldd "$1" | grep -Eq "libcurl|libarchive"' sh "$sw"
check "dsvm-firstboot holds the offline switch" sh -c 'nm "$1" | grep -q " T dsvm_apt_offline_switch$"' sh "$fb"
check "dsvm-firstboot holds the program runner" sh -c 'nm "$1" | grep -q " T dsvm_root_run$"' sh "$fb"
for o in exec apt-common apt-offline debian; do
	obj=$build/lib/$o.o
	check "$o.o references no curl/archive symbol: $(nm -u "$obj" 2>/dev/null | grep -E 'curl_|archive_' | tr '\n' ' ')" \
		sh -c '[ -s "$1" ] && ! nm -u "$1" | grep -Eq "curl_|archive_"' sh "$obj"
done
libs=$(ldd "$fb" | grep -c '=>' || true)
[ "$fail" -eq 0 ] || { echo "$fail of $checks checks failed"; exit 1; }
echo "firstboot-ldd: $checks/$checks checks hold; dsvm-firstboot loads $libs shared libraries, no libcurl, no libarchive, no libcrypto"
