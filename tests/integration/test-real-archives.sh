#!/bin/sh
# T10 real archives and the expansion budget (issue 9, sections 2 and 5), through
# `dsvm-build image` (one pass: download -> hash -> extract) and `dsvm-build install` (from the
# cache), served on loopback:
# - an archive cut from this system (shared libraries with absolute and relative .so links, links
#   climbing out with '..', a setuid and setgid programs) installs: every link a link with its
#   target, never followed; the bits stripped and said in the install report; a component with
#   allow_setuid keeps them;
# - a pinned tar.xz of 4 GiB of zeros (about 6,800:1, made with xz from zeros) is refused with
#   65, naming the artifact, the ratio and unpacked_size, and nothing is left in the root;
# - 256 MiB of zeros allowed by unpacked_size installs (extracted again once verified: it is past
#   the budget for bytes extracted before the digest is known); a mirror serving other bytes of
#   the same size is stopped at that budget, skipped, and the upstream bytes install.
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
for tool in python3 sha256sum tar xz jq; do
	command -v "$tool" >/dev/null || { echo "skip: $tool is not installed (make deps)"; exit 77; }
done
. "$top/tests/tools/check.sh"
. "$top/tests/tools/testhttpd.sh"
bin=${DSVM_BUILD:-$top/build}/dsvm-build
work=$(mktemp -d)
testhttpd_pid=
trap '[ -z "$testhttpd_pid" ] || kill "$testhttpd_pid" 2>/dev/null; rm -rf "$work"' EXIT
f=$work/files
mkdir -p "$f" "$work/m/editions" "$work/m/components" "$work/src/bin"
testhttpd_start "$work" --dir "$f" || exit 1
base="http://127.0.0.1:$testhttpd_port/files"
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
gen=$top/tests/tools/make-hostile-archives.py

# Cut from this system: the paths that exist here (Debian 12).
real=
for p in usr/lib/x86_64-linux-gnu/libz.so usr/lib/x86_64-linux-gnu/libz.so.1 \
	usr/lib/x86_64-linux-gnu/libbz2.so usr/lib/x86_64-linux-gnu/libyaml.so \
	usr/lib/x86_64-linux-gnu/libyaml-0.so.2 usr/lib/clang/14 usr/lib/gold-ld \
	usr/lib/x86_64-linux-gnu/utempter usr/bin/passwd usr/bin/chage; do
	if [ -e "/$p" ] || [ -L "/$p" ]; then real="$real $p"; fi
done
# shellcheck disable=SC2086 # a list of paths
tar -C / -cJf "$f/syslibs.tar.xz" $real
printf '#!/bin/sh\necho helper\n' >"$work/src/bin/helper"
chmod 4755 "$work/src/bin/helper"
tar -C "$work/src" -czf "$f/suid.tar.gz" bin
python3 "$gen" --zero-bomb 4096 "$f" >/dev/null
python3 "$gen" --zero-bomb 256 "$f" >/dev/null
mkdir -p "$work/other"
python3 "$gen" --zero-bomb 256 --bomb-name zeroz.bin "$work/other" >/dev/null

cat >"$work/m/editions/real.yaml" <<YAML
edition: real
os: ubuntu-22.04
platform: linux
arch: [x86_64]
driver_kinds: [none]
include: [../components/real.yaml]
YAML
cat >"$work/m/components/real.yaml" <<YAML
components:
  - name: syslibs
    kind: archive
    version: "1"
    source: {url: "$base/syslibs.tar.xz", sha256: "$(sha "$f/syslibs.tar.xz")", size: $(size "$f/syslibs.tar.xz")}
  - name: suid
    kind: archive
    version: "1"
    allow_setuid: true
    source: {url: "$base/suid.tar.gz", sha256: "$(sha "$f/suid.tar.gz")", size: $(size "$f/suid.tar.gz")}
  - name: zeros
    kind: archive
    version: "1"
    source: {url: "$base/zeros-256.tar.xz", sha256: "$(sha "$f/zeros-256.tar.xz")", size: $(size "$f/zeros-256.tar.xz"), unpacked_size: 268435456}
YAML
cp "$work/m/editions/real.yaml" "$work/m/editions/bomb.yaml"
sed -i 's/^edition: real/edition: bomb/; s/real.yaml/bomb.yaml/' "$work/m/editions/bomb.yaml"
cat >"$work/m/components/bomb.yaml" <<YAML
components:
  - name: bomb
    kind: archive
    version: "1"
    source: {url: "$base/zeros-4096.tar.xz", sha256: "$(sha "$f/zeros-4096.tar.xz")", size: $(size "$f/zeros-4096.tar.xz")}
YAML

# 1. The real archive, a setuid archive that is allowed, and an allowed expansion.
root=$work/root
rc=0
"$bin" image "$work/m/editions/real.yaml" --catalog "$top/manifests/hardware" --root "$root" --cache "$work/cache" -v \
	>"$work/out" 2>"$work/err" || rc=$?
check "image: exit $rc: $(tail -5 "$work/err")" [ "$rc" -eq 0 ]
links=0
for p in $real; do
	[ -L "/$p" ] || continue
	# The archive's single top directory (usr/) is stripped: /opt/<name>-<version>/lib/...
	check "link $p" [ "$(readlink "$root/opt/syslibs-1/${p#usr/}")" = "$(readlink "/$p")" ]
	links=$((links + 1))
done
check "at least 4 links out of the tree ($links)" [ "$links" -ge 4 ]
check "absolute .so link kept as a link" [ -L "$root/opt/syslibs-1/lib/x86_64-linux-gnu/libz.so" ]
if [ -e /usr/bin/passwd ]; then
	check "passwd installed" [ -f "$root/opt/syslibs-1/bin/passwd" ]
	check "passwd without setuid" [ "$(stat -c %a "$root/opt/syslibs-1/bin/passwd")" = 755 ]
	check "report says bits were stripped" grep -q "note: setuid/setgid bits stripped from .* entr.*'allow_setuid: true' on component 'syslibs'" "$work/err"
fi
check "allowed setuid kept" [ "$(stat -c %a "$root/opt/suid-1/helper")" = 4755 ]
check "allowed expansion installed" [ "$(stat -c %s "$root/opt/zeros-1/zeros.bin")" = 268435456 ]
check "extracted again once verified" grep -q "before the archive's digest is known.*extracting 'zeros-256.tar.xz' again once verified" "$work/err"
check "nothing prepared or staged left" [ ! -e "$root/var/lib/dsvm/journal/prepared" ] && [ ! -e "$root/var/lib/dsvm/journal/staging" ]
rc=0
"$bin" image "$work/m/editions/real.yaml" --catalog "$top/manifests/hardware" --root "$root" --cache "$work/cache" >"$work/out2" 2>"$work/err2" || rc=$?
check "second image: unchanged" [ "$rc" -eq 0 ] && ! grep -q "done  *install" "$work/err2"

# 2. A mirror serving other bytes of the same size: stopped at the unverified budget, skipped.
# Its first answer is cut after 20,000 bytes (the tar header is in them) and resumed after the
# retry's backoff, so the extraction has read the header before the digest shows the mismatch.
zsha=$(sha "$f/zeros-256.tar.xz")
mkdir -p "$f/mirror/sha256"
cp "$work/other/zeros-256.tar.xz" "$f/mirror/sha256/$zsha"
check "mirror bytes: same size, other bytes" [ "$(size "$f/mirror/sha256/$zsha")" = "$(size "$f/zeros-256.tar.xz")" ]
rc=0
"$bin" image "$work/m/editions/real.yaml" --catalog "$top/manifests/hardware" --root "$work/root2" --cache "$work/cache2" \
	--mirror "http://127.0.0.1:$testhttpd_port/cut=20000/files/mirror" -v >"$work/out3" \
	2>"$work/err3" || rc=$?
check "image through a bad mirror: exit $rc: $(tail -3 "$work/err3")" [ "$rc" -eq 0 ]
check "mirror's archive stopped at the budget" grep -q "zeroz.bin' would take the files past 64.0 MiB before the archive's digest is known" "$work/err3"
check "upstream bytes installed" [ -f "$work/root2/opt/zeros-1/zeros.bin" ] && [ ! -e "$work/root2/opt/zeros-1/zeroz.bin" ]

# 3. The bomb: refused with the ratio and the way to allow it; nothing left in the root.
for how in image install; do
	rc=0
	if [ "$how" = image ]; then
		"$bin" image "$work/m/editions/bomb.yaml" --catalog "$top/manifests/hardware" --root "$work/broot" --cache "$work/cache" \
			-o "$work/bomb.lock" >"$work/bout" 2>"$work/berr" || rc=$?
	else
		"$bin" fetch "$work/bomb.lock" --cache "$work/cache" >/dev/null 2>&1 ||
			no "fetch of the bomb"
		"$bin" install "$work/bomb.lock" --root "$work/broot" --cache "$work/cache" \
			>"$work/bout" 2>"$work/berr" || rc=$?
	fi
	check "bomb ($how): exit $rc, want 65: $(tail -2 "$work/berr")" [ "$rc" -eq 65 ]
	check "bomb ($how): names the artifact and the ratio" grep -q "archive 'zeros-4096.tar.xz'.*: entry 'zeros.bin' would expand the archive's 618.7 KiB to at least 4.0 GiB ([0-9]*:1)" "$work/berr"
	check "bomb ($how): says how to allow it" grep -q "state 'unpacked_size: 4294967296'" "$work/berr"
	check "bomb ($how): nothing in /opt" [ -z "$(ls -A "$work/broot/opt" 2>/dev/null)" ]
	check "bomb ($how): no file bytes left" [ -z "$(find "$work/broot" -type f -size +1M)" ]
done

[ "$fail" -eq 0 ] || exit 1
echo "real archives: $checks checks hold; $links links out of the tree kept as links, setuid stripped and reported; a $(size "$f/zeros-4096.tar.xz")-byte tar.xz of 4 GiB refused, 0 bytes left; a bad mirror stopped at 64 MiB"
