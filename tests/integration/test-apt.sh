#!/bin/sh
# apt components, end to end, with the real dsvm-build on a real Debian root: small .debs built
# here (two driver kinds, each a kernel-module package, a library and a meta package depending
# on both at the same version, versions 1.0-1 and 2.0-1, Conflicts between the kinds), a flat
# repository signed by tests/tools/make-apt-repo.sh and served on 127.0.0.1, an edition written
# here whose kind-a driver is installed and kind-b driver staged (--all-driver-kinds), and a
# `debootstrap --variant=minbase` root (tests/tools/debootstrap-root.sh, cached).
# Asserts: a tampered .deb and a repository signed by another key are refused with nothing
# installed and no policy-rc.d left (exit 65, bad data); an apt-get that runs and fails (a
# maintainer script exits 1) is the job failing (exit 1) with apt's words; the pinned 1.0-1 set is installed (not the newer 2.0-1)
# and held, services were forbidden while it installed, the root's other apt lists survive;
# both kinds' .debs (kind a installed, kind b staged) are in the offline repository with
# Packages, Release and index.json that match them, Release signed by a key made for the image
# (InRelease, Release.gpg, the public key alone in /etc/dsvm/keys/offline-repo.gpg, no private
# key anywhere); a second run changes nothing (no new signature) and asks the server for
# nothing; a held 2.0-1 is switched back to the pin; a kill after apt-get and before the hold, a
# kill at the step's start and one mid-step, and a half-unpacked package all end installed and
# held after a rerun. Then, with the server stopped and no network, the offline switch
# (tests/tools/apt-switch: dsvm_apt_offline_switch) swaps kind a for kind b and back in one
# transaction each: the old kind purged, the new one at its version and held, the system's apt
# lists untouched, a second call runs no apt; a SIGKILL mid-dpkg and a time limit mid-dpkg both
# converge on the rerun; a tampered Packages, a changed .deb and a wrong key are refused (65).
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${DSVM_BUILD:-$top/build}/dsvm-build
for tool in debootstrap apt-ftparchive gpg dpkg-deb zstd jq python3 flock unshare chroot; do
	command -v "$tool" >/dev/null || { echo "skip: $tool is not installed (make deps)"; exit 77; }
done
[ "$(id -u)" -eq 0 ] || { echo "skip: apt runs chrooted into a debootstrap root: needs root"; exit 77; }
start=$(date +%s)
work=$(mktemp -d)
# The signing home is made under TMPDIR: this test's own, so "none left" speaks of this run only,
# not of another run on the machine killed mid-signing.
TMPDIR=$work/tmp
mkdir -p "$TMPDIR"
export TMPDIR
testhttpd_pid=
trap '[ -z "$testhttpd_pid" ] || kill "$testhttpd_pid" 2>/dev/null; rm -rf "$work"' EXIT
. "$top/tests/tools/testhttpd.sh"
. "$top/tests/tools/check.sh"
in_root() { # ROOT COMMAND...: run in the root as apt would see it
	_r=$1
	shift
	chroot "$_r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive "$@"
}
# "version status-abbrev" of a package in a root ("ii" installed, "hi" installed and held).
state() { in_root "$1" dpkg-query -W -f '${Version} ${db:Status-Abbrev}' "$2" 2>/dev/null | sed 's/ *$//' || true; }
held() { in_root "$1" apt-mark showhold | sort | tr '\n' ' ' | sed 's/ $//'; }
new_root() {
	sh "$top/tests/tools/debootstrap-root.sh" "$1" || {
		rc=$?
		[ "$rc" -ne 69 ] || { echo "skip: cannot make a debootstrap root (deb.debian.org unreachable?)"; exit 77; }
		echo "FAIL: debootstrap-root.sh: exit $rc"
		exit 1
	}
}

# The packages: kinds a and b, versions 1.0-1 and 2.0-1. The module's postinst asks
# policy-rc.d whether it may start a service and records the answer.
debs=$work/debs
mkdir -p "$debs"
mkdeb() { # NAME VERSION ARCH DEPENDS CONFLICTS [POSTINST]
	d=$work/pkg
	rm -rf "$d"
	mkdir -p "$d/DEBIAN" "$d/usr/share/dsvm-test"
	printf '%s %s\n' "$1" "$2" >"$d/usr/share/dsvm-test/$1"
	{
		echo "Package: $1"
		echo "Version: $2"
		echo "Architecture: $3"
		echo "Maintainer: dsvm tests <tests@dsvm.invalid>"
		[ -z "$4" ] || echo "Depends: $4"
		echo "Conflicts: $5"
		echo "Description: dsvm test package $1"
	} >"$d/DEBIAN/control"
	if [ -n "${6:-}" ]; then
		printf '%s\n' "$6" >"$d/DEBIAN/postinst"
		chmod 0755 "$d/DEBIAN/postinst"
	fi
	dpkg-deb --root-owner-group -Zgzip -b "$d" "$debs/$1_$2_$3.deb" >/dev/null
}
postinst='#!/bin/sh
set -e
mkdir -p /var/lib/dsvm-test
if [ -x /usr/sbin/policy-rc.d ]; then
	rc=0
	/usr/sbin/policy-rc.d dsvm-test.service start || rc=$?
	echo "$rc" >/var/lib/dsvm-test/policy
else
	echo none >/var/lib/dsvm-test/policy
fi
# The kill tests: hold dpkg in this postinst while /var/lib/dsvm-test/slow exists.
if [ -e /var/lib/dsvm-test/slow ]; then
	touch /var/lib/dsvm-test/in-postinst
	sleep 60
fi'
arch=$(dpkg --print-architecture)
for k in a b; do
	o=b
	[ "$k" = a ] || o=a
	for v in 1.0-1 2.0-1; do
		mkdeb "dsvm-test-kmod-$k" "$v" "$arch" "" "dsvm-test-kmod-$o" "$postinst"
		mkdeb "libdsvm-test-$k" "$v" all "" "libdsvm-test-$o"
		mkdeb "dsvm-test-driver-$k" "$v" all "dsvm-test-kmod-$k (= $v), libdsvm-test-$k (= $v)" \
			"dsvm-test-driver-$o"
	done
done

# Repositories: the good one; the same debs signed by another key; a copy whose kind-a module
# was changed after signing (same size, other bytes).
www=$work/www
sh "$top/tests/tools/make-apt-repo.sh" "$www/repo" "$work/keys" "$debs"/*.deb
sh "$top/tests/tools/make-apt-repo.sh" "$www/otherkey" "$work/keys2" "$debs"/*.deb
cp -r "$www/repo" "$www/tampered"
printf 'X' | dd of="$www/tampered/dsvm-test-kmod-a_1.0-1_${arch}.deb" bs=1 seek=100 conv=notrunc 2>/dev/null
# And one, signed by the good key, whose kind-a module 1.0-1 fails in its postinst.
good_debs=$debs
debs=$work/debs-failing
cp -r "$good_debs" "$debs"
mkdeb dsvm-test-kmod-a 1.0-1 "$arch" "" dsvm-test-kmod-b '#!/bin/sh
echo "dsvm-test: this postinst fails on purpose" >&2
exit 1'
sh "$top/tests/tools/make-apt-repo.sh" "$www/failing" "$work/keys" "$debs"/*.deb
debs=$good_debs
check "make-apt-repo.sh is idempotent" sh -c '
	before=$(ls -l --time-style=+%s.%N "$1" | md5sum)
	sh "$2/tests/tools/make-apt-repo.sh" "$1" "$3" "$4"/*.deb
	[ "$before" = "$(ls -l --time-style=+%s.%N "$1" | md5sum)" ]' sh "$www/repo" "$top" "$work/keys" "$debs"
testhttpd_start "$work" --dir "$www" || exit 1
base=http://127.0.0.1:$testhttpd_port/files

# An edition per repository; every one pins kind a 1.0-1 (installed) and kind b 1.0-1 (staged).
edition() { # NAME REPO-DIR -> $work/NAME/lock.json, fetched into $work/cache
	m=$work/$1/manifests
	mkdir -p "$m/editions" "$m/components" "$m/keys"
	cp "$work/keys/test-archive-key.gpg" "$m/keys/"
	cat >"$m/editions/x.yaml" <<YAML
edition: apt-test
os: ubuntu-22.04
platform: linux
arch: [x86_64]
driver_kinds: [none, nvidia-open, nvidia-proprietary]
include: [../components/drivers.yaml]
YAML
	for k in a b; do
		kind=nvidia-open
		[ "$k" = a ] || kind=nvidia-proprietary
		cat <<YAML
  - name: test-driver-$k
    kind: apt
    version: "580.95.05"
    stage: true
    driver: {kind: $kind, branch: "1"}
    source:
      package: dsvm-test-driver-$k
      version: "1.0-1"
      repository: "$base/$2 ./"
      key: ../keys/test-archive-key.gpg
YAML
	done | { echo "components:"; cat; } >"$m/components/drivers.yaml"
	"$bin" resolve "$m/editions/x.yaml" --catalog "$top/manifests/hardware" \
		--driver-kind nvidia-open --all-driver-kinds -o "$work/$1/lock.json" 2>"$work/err" ||
		{ echo "FAIL: resolve $1: $(cat "$work/err")"; exit 1; }
	"$bin" fetch "$work/$1/lock.json" --repo "$work/$1" --cache "$work/cache" 2>"$work/err" ||
		{ echo "FAIL: fetch $1: $(cat "$work/err")"; exit 1; }
}
edition good repo
edition otherkey otherkey
edition tampered tampered
edition failing failing
lock=$work/good/lock.json
check "lock: a installed, b staged" [ "$(jq -c '[.components[] | [.name, .action]]' "$lock")" = \
	'[["test-driver-a","install"],["test-driver-b","stage"]]' ]
inst() { "$bin" install "$1" --cache "$work/cache" --root "$2" --no-systemctl --json; }

root=$work/root
new_root "$root"
lists_before=$(cd "$root/var/lib/apt/lists" && sha256sum deb.debian.org_*)

# Refused: a .deb changed after signing, a repository signed by another key.
rc=0
inst "$work/tampered/lock.json" "$root" >/dev/null 2>"$work/err" || rc=$?
check "tampered .deb: exit $rc, want 65" [ "$rc" -eq 65 ]
check "tampered .deb: message: $(cat "$work/err")" grep -q "Hash Sum mismatch" "$work/err"
check "tampered .deb: message names the pin" grep -q "'test-driver-a': apt-get install for dsvm-test-driver-a=1.0-1 from '$base/tampered ./'" "$work/err"
check "tampered .deb: nothing installed" [ -z "$(state "$root" dsvm-test-kmod-a)$(state "$root" dsvm-test-driver-a)" ]
check "tampered .deb: no policy-rc.d left" [ ! -e "$root/usr/sbin/policy-rc.d" ]
rc=0
inst "$work/otherkey/lock.json" "$root" >/dev/null 2>"$work/err" || rc=$?
check "other key: exit $rc, want 65" [ "$rc" -eq 65 ]
check "other key: message: $(cat "$work/err")" grep -Eq "NO_PUBKEY|not signed" "$work/err"
check "other key: nothing installed" [ -z "$(state "$root" dsvm-test-driver-a)" ]

# apt-get ran and failed (not a verification): the job failed, exit 1, as --help says. In a root
# of its own: the failed postinst leaves dpkg half done there.
root_failing=$work/root-failing
new_root "$root_failing"
rc=0
inst "$work/failing/lock.json" "$root_failing" >/dev/null 2>"$work/err" || rc=$?
check "failing postinst: exit $rc, want 1" [ "$rc" -eq 1 ]
check "failing postinst: message names the pin: $(cat "$work/err")" grep -q "'test-driver-a': apt-get install for dsvm-test-driver-a=1.0-1 from '$base/failing ./' failed" "$work/err"
check "failing postinst: message carries apt's output" grep -q "this postinst fails on purpose" "$work/err"
check "failing postinst: no policy-rc.d left" [ ! -e "$root_failing/usr/sbin/policy-rc.d" ]
rm -rf "$root_failing"

# Signing homes of earlier runs: one whose run died (its lock held by nobody, a private key in
# it), one whose run is alive (lock held), one being made (no lock yet, new): the signing that
# the install below does removes the first only.
mkdir -p "$TMPDIR/dsvm-sign-dead/private-keys-v1.d" "$TMPDIR/dsvm-sign-alive" "$TMPDIR/dsvm-sign-new"
: >"$TMPDIR/dsvm-sign-dead/lock"
: >"$TMPDIR/dsvm-sign-alive/lock"
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); open(sys.argv[2], "w").close(); time.sleep(120)' \
	"$TMPDIR/dsvm-sign-alive/lock" "$work/alive-held" &
alive=$!
for _ in $(seq 100); do [ -e "$work/alive-held" ] && break; sleep 0.1; done
# Install.
inst "$lock" "$root" >"$work/out.json" 2>"$work/err" || no "install: $(cat "$work/err")"
check "the dead run's signing home (and key) removed" [ ! -e "$TMPDIR/dsvm-sign-dead" ]
check "a live run's signing home kept" [ -e "$TMPDIR/dsvm-sign-alive/lock" ]
check "a signing home being made kept" [ -d "$TMPDIR/dsvm-sign-new" ]
kill "$alive" 2>/dev/null || true
wait "$alive" 2>/dev/null || true
rm -rf "$TMPDIR/dsvm-sign-alive" "$TMPDIR/dsvm-sign-new"
steps=$(jq .steps "$work/out.json")
check "install: $(cat "$work/out.json")" [ "$(jq -c '[.steps, .installed, .staged, .unchanged]' "$work/out.json")" = "[4,3,1,0]" ]
for p in dsvm-test-driver-a dsvm-test-kmod-a libdsvm-test-a; do
	check "$p: '$(state "$root" $p)', want pinned, installed and held" [ "$(state "$root" $p)" = "1.0-1 hi" ]
done
check "held: '$(held "$root")'" [ "$(held "$root")" = "dsvm-test-driver-a dsvm-test-kmod-a libdsvm-test-a" ]
check "services forbidden while installing" [ "$(cat "$root/var/lib/dsvm-test/policy" 2>/dev/null)" = 101 ]
check "no policy-rc.d left" [ ! -e "$root/usr/sbin/policy-rc.d" ]
check "key in /etc/dsvm/keys" cmp -s "$work/keys/test-archive-key.gpg" "$root/etc/dsvm/keys/test-archive-key.gpg"
check "one sources file, the good repository's, signed-by the key: $(cat "$root"/etc/apt/sources.list.d/dsvm-*.list)" \
	[ "$(grep -h '^deb' "$root"/etc/apt/sources.list.d/dsvm-*.list)" = "deb [signed-by=/etc/dsvm/keys/test-archive-key.gpg] $base/repo ./" ]
check "the root's other apt lists survive" [ "$lists_before" = "$(cd "$root/var/lib/apt/lists" && sha256sum deb.debian.org_*)" ]
check "no downloads left in the image" [ -z "$(find "$root/var/cache/apt/archives" "$root/var/lib/dsvm/journal" -name '*.deb')" ]
check "receipt lists the set" [ "$(jq -r '[.packages[] | .package + "=" + .version] | join(" ")' "$root/var/lib/dsvm/installed/test-driver-a.json")" = \
	"dsvm-test-driver-a=1.0-1 dsvm-test-kmod-a=1.0-1 libdsvm-test-a=1.0-1" ]

# Staged: kind b's three .debs and kind a's (installed, and staged for a switch back), the index
# matching them, each with a receipt of its own apart from the install receipts.
repo=$root/var/lib/dsvm/repo/apt
staged=$(cd "$repo" && ls -- *.deb | sed 's/^[0-9a-f]*-//' | sort | tr '\n' ' ')
check "staged: '$staged'" [ "$staged" = "dsvm-test-driver-a_1.0-1_all.deb dsvm-test-driver-b_1.0-1_all.deb dsvm-test-kmod-a_1.0-1_${arch}.deb dsvm-test-kmod-b_1.0-1_${arch}.deb libdsvm-test-a_1.0-1_all.deb libdsvm-test-b_1.0-1_all.deb " ]
check "stage receipts apart: $(ls "$root/var/lib/dsvm/staged" | tr '\n' ' ')" [ "$(ls "$root/var/lib/dsvm/staged" | tr '\n' ' ')" = "test-driver-a.json test-driver-b.json " ]
check "install receipt of a kept" [ "$(jq -r .action "$root/var/lib/dsvm/installed/test-driver-a.json")" = install ]
bad=0
for f in $(jq -r '.components[].packages[] | .filename + "=" + .sha256' "$repo/index.json"); do
	[ "$(sha256sum "$repo/${f%%=*}" | cut -d' ' -f1)" = "${f#*=}" ] || bad=$((bad + 1))
done
check "index.json: 3 entries each, each file's sha256 ($bad wrong)" [ "$bad $(jq -c '[.components[].packages | length]' "$repo/index.json")" = "0 [3,3]" ]
check "index.json names the components and their kinds: $(jq -c '[.components[] | [.name, .action, .driver_kinds]]' "$repo/index.json")" \
	[ "$(jq -c '[.components[] | [.name, .action, .driver_kinds]]' "$repo/index.json")" = '[["test-driver-a","install",["nvidia-open"]],["test-driver-b","stage",["nvidia-proprietary"]]]' ]
check "index.json: sources signed-by the image key" [ "$(jq -r .sources "$repo/index.json")" = "deb [signed-by=/etc/dsvm/keys/offline-repo.gpg] file:/var/lib/dsvm/repo/apt ./" ]
check "Packages: Filename and SHA256 of each staged file" sh -c '
	cd "$1" && for f in *.deb; do
		grep -q "^Filename: ./$f\$" Packages &&
		grep -q "^SHA256: $(sha256sum "$f" | cut -d" " -f1)\$" Packages || exit 1
	done' sh "$repo"
check "Release: the SHA256 and size of Packages" grep -q "^ $(sha256sum "$repo/Packages" | cut -d' ' -f1) $(stat -c %s "$repo/Packages") Packages\$" "$repo/Release"
imgkey=$root/etc/dsvm/keys/offline-repo.gpg
verifies() { in_root "$1" gpgv --keyring /etc/dsvm/keys/offline-repo.gpg "$2" ${3:+"$3"} >/dev/null 2>&1; }
check "InRelease verifies with the image key, in the root" verifies "$root" /var/lib/dsvm/repo/apt/InRelease
check "Release.gpg verifies with the image key" verifies "$root" /var/lib/dsvm/repo/apt/Release.gpg /var/lib/dsvm/repo/apt/Release
check "InRelease does not verify with the archive's key" sh -c '! gpgv --keyring "$1" "$2" 2>/dev/null' sh "$work/keys/test-archive-key.gpg" "$repo/InRelease"
check "the image key is binary, one public ed25519 key, no secret" sh -c '
	gpg --list-packets "$1" >"$2" 2>&1 && grep -q "^:public key packet:" "$2" && grep -q "algo 22" "$2" &&
	[ "$(grep -c "key packet:" "$2")" -eq 1 ] && ! grep -q secret "$2"' sh "$imgkey" "$work/packets"
check "no private key in the root" [ -z "$(find "$root" -xdev \( -name 'private-keys-v1.d' -o -name 'secring.gpg' -o -name 'pubring.kbx' \) -print -quit)" ]
check "no signing home left on the host" [ -z "$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'dsvm-sign-*' -print -quit)" ]

# A second run changes nothing and asks the server for nothing.
snap() { (cd "$1" && sha256sum var/lib/dpkg/status var/lib/dsvm/repo/apt/* etc/apt/sources.list.d/* var/lib/dsvm/installed/* var/lib/dsvm/staged/* etc/dsvm/keys/*) }
snap "$root" >"$work/before"
requests=$(wc -l <"$testhttpd_log")
inst "$lock" "$root" >"$work/out2.json" 2>"$work/err" || no "second install: $(cat "$work/err")"
check "second run reports unchanged: $(cat "$work/out2.json")" [ "$(jq -c '[.installed, .staged, .unchanged]' "$work/out2.json")" = "[0,0,$steps]" ]
check "second run: apt step unchanged" grep -q 'unchanged install test-driver-a' "$work/err"
snap "$root" >"$work/after"
check "second run changed the root: $(diff "$work/before" "$work/after" | head -4)" cmp -s "$work/before" "$work/after"
check "second run made $(($(wc -l <"$testhttpd_log") - requests)) requests, want 0" [ "$(wc -l <"$testhttpd_log")" -eq "$requests" ]

# Another version installed and held is switched to the pin.
printf 'deb [signed-by=/etc/dsvm/keys/test-archive-key.gpg] %s/repo ./\n' "$base" >"$root/etc/apt/sources.list.d/other.list"
in_root "$root" apt-get -q update >/dev/null 2>&1 &&
	in_root "$root" apt-get -q -y --allow-change-held-packages install dsvm-test-driver-a=2.0-1 \
		dsvm-test-kmod-a=2.0-1 libdsvm-test-a=2.0-1 >"$work/apt.log" 2>&1 &&
	in_root "$root" apt-mark hold dsvm-test-driver-a dsvm-test-kmod-a libdsvm-test-a >/dev/null ||
	no "setting up 2.0-1: $(tail -3 "$work/apt.log")"
rm "$root/etc/apt/sources.list.d/other.list"
check "2.0-1 held before: $(state "$root" dsvm-test-kmod-a)" [ "$(state "$root" dsvm-test-kmod-a)" = "2.0-1 hi" ]
inst "$lock" "$root" >"$work/out3.json" 2>"$work/err" || no "install over 2.0-1: $(cat "$work/err")"
for p in dsvm-test-driver-a dsvm-test-kmod-a libdsvm-test-a; do
	check "$p switched back: '$(state "$root" $p)'" [ "$(state "$root" $p)" = "1.0-1 hi" ]
done
check "switch reported as installed" [ "$(jq .installed "$work/out3.json")" -eq 1 ]

# Killed after apt-get installed the set and before the hold (the packages were removed first,
# so this run has work to do and reaches that point): the rerun holds them and removes the
# policy-rc.d the killed run left.
unhold() { in_root "$1" apt-get -q -y --allow-change-held-packages purge dsvm-test-driver-a dsvm-test-kmod-a libdsvm-test-a >/dev/null 2>&1; }
unhold "$root" || no "purge"
rc=0
DSVM_CRASH_AT=1:mid inst "$lock" "$root" >/dev/null 2>&1 || rc=$?
check "killed mid-step: exit $rc, want 137" [ "$rc" -eq 137 ]
check "killed after apt-get, before the hold: '$(state "$root" dsvm-test-driver-a)'" [ "$(state "$root" dsvm-test-driver-a)" = "1.0-1 ii" ]
check "the killed run left its policy-rc.d" grep -q dsvm-build "$root/usr/sbin/policy-rc.d"
inst "$lock" "$root" >/dev/null 2>"$work/err" || no "rerun after the kill: $(cat "$work/err")"
check "rerun: installed and held: '$(held "$root")'" [ "$(held "$root")" = "dsvm-test-driver-a dsvm-test-kmod-a libdsvm-test-a" ]
check "rerun removed the leftover policy-rc.d" [ ! -e "$root/usr/sbin/policy-rc.d" ]

# dpkg interrupted: a package of the set unpacked and never configured.
unhold "$root" || no "purge"
cp "$www/repo/dsvm-test-kmod-a_1.0-1_${arch}.deb" "$root/tmp/k.deb"
in_root "$root" dpkg --unpack /tmp/k.deb >/dev/null 2>&1 || no "dpkg --unpack"
check "kmod half installed: '$(state "$root" dsvm-test-kmod-a)'" [ "$(state "$root" dsvm-test-kmod-a)" = "1.0-1 iU" ]
inst "$lock" "$root" >/dev/null 2>"$work/err" || no "install after an interrupted dpkg: $(cat "$work/err")"
check "interrupted dpkg noticed: $(cat "$work/err")" grep -q "dpkg was interrupted" "$work/err"
check "after an interrupted dpkg: installed and held: '$(held "$root")'" [ "$(held "$root")" = "dsvm-test-driver-a dsvm-test-kmod-a libdsvm-test-a" ]

# On a new root: killed right after step 1 began, in step 1 (before anything is in place), and
# in step 2 after apt-get download and before the first .deb is staged.
root2=$work/root2
new_root "$root2"
rc=0
DSVM_CRASH_AT=1 inst "$lock" "$root2" >/dev/null 2>&1 || rc=$?
check "killed at step 1: exit $rc" [ "$rc" -eq 137 ]
rc=0
DSVM_CRASH_AT=1:mid inst "$lock" "$root2" >/dev/null 2>&1 || rc=$?
check "killed in step 1: exit $rc" [ "$rc" -eq 137 ]
rc=0
DSVM_CRASH_AT=2:mid inst "$lock" "$root2" >/dev/null 2>&1 || rc=$?
check "killed in step 2 (stage): exit $rc" [ "$rc" -eq 137 ]
check "killed after the download, before the first .deb of b was staged" \
	[ "$(ls "$root2/var/lib/dsvm/journal/apt/debs" | wc -l) $(ls "$root2/var/lib/dsvm/repo/apt" | grep -c -- '-b_')" = "3 0" ]
inst "$lock" "$root2" >"$work/out4.json" 2>"$work/err" || no "rerun after kills: $(cat "$work/err")"
check "rerun resumed at step 2: $(cat "$work/out4.json")" [ "$(jq -c '[.resumed_at, .resumed]' "$work/out4.json")" = "[2,1]" ]
check "after kills: installed and held: '$(held "$root2")'" [ "$(held "$root2")" = "dsvm-test-driver-a dsvm-test-kmod-a libdsvm-test-a" ]
# The same repository but for the signatures: every build signs with a key of its own.
check "after kills: the same offline repository" [ "$(cd "$root2/var/lib/dsvm/repo/apt" && sha256sum -- *[!g] | grep -v InRelease)" = "$(cd "$repo" && sha256sum -- *[!g] | grep -v InRelease)" ]
check "after kills: signed by that root's own key" verifies "$root2" /var/lib/dsvm/repo/apt/InRelease

# Offline, through the library's switch: the server stopped, no network.
kill "$testhttpd_pid"
testhttpd_pid=
sw() { unshare -n "${DSVM_BUILD:-$top/build}/tools/apt-switch" --root "$root" "$@"; }
kind_a="dsvm-test-driver-a dsvm-test-kmod-a libdsvm-test-a"
kind_b="dsvm-test-driver-b dsvm-test-kmod-b libdsvm-test-b"
# Nothing of a package is left for dpkg (purged: no status, or 'not-installed' and no hold).
purged() { # ROOT PACKAGE...
	_r=$1
	shift
	for _p; do
		case $(in_root "$_r" dpkg-query -W -f '${db:Status-Abbrev}' "$_p" 2>/dev/null || true) in
		'' | [upr]n*) ;;
		*) return 1 ;;
		esac
	done
}
at() { # ROOT WANT PACKAGE...: each package's "version status"
	_r=$1
	_w=$2
	shift 2
	for _p; do [ "$(state "$_r" "$_p")" = "$_w" ] || return 1; done
}
syslists() { (cd "$1/var/lib/apt" && find lists -type f -exec sha256sum {} + | sort; find lists -printf '%p %T@\n' | sort) }
check "packages of b: $(sw packages test-driver-b | tr '\n' ' ')" [ "$(sw packages test-driver-b | tr '\n' ' ')" = "dsvm-test-driver-b 1.0-1 dsvm-test-kmod-b 1.0-1 libdsvm-test-b 1.0-1 " ]
check "a installed, b not: $(sw installed test-driver-a) $(sw installed test-driver-b)" [ "$(sw installed test-driver-a) $(sw installed test-driver-b)" = "yes no" ]
rc=0
sw switch --install test-driver-x --remove test-driver-a >/dev/null 2>"$work/err" || rc=$?
check "unknown component: exit $rc, want 66; $(cat "$work/err")" [ "$rc" -eq 66 ]
check "unknown component named" grep -q "'test-driver-x'" "$work/err"
syslists "$root" >"$work/lists.before"

# a -> b.
t0=$(date +%s%N)
sw switch --install test-driver-b --remove test-driver-a >"$work/sw.json" 2>"$work/err" || no "switch to b: $(cat "$work/err")"
switch_ms=$((($(date +%s%N) - t0) / 1000000))
check "switch to b: changed: $(cat "$work/sw.json")" [ "$(jq .changed "$work/sw.json")" = true ]
check "b installed at its version and held: $(for p in $kind_b; do state "$root" $p; done | tr '\n' ' ')" at "$root" "1.0-1 hi" $kind_b
check "a purged: $(for p in $kind_a; do state "$root" $p; done | tr '\n' ' ')" purged "$root" $kind_a
check "held after the switch: '$(held "$root")'" [ "$(held "$root")" = "$kind_b" ]
check "installed reports b" [ "$(sw installed test-driver-a) $(sw installed test-driver-b)" = "no yes" ]
check "the system's apt lists untouched: $(diff "$work/lists.before" "$(syslists "$root" >"$work/lists.after"; echo "$work/lists.after")" | head -3)" cmp -s "$work/lists.before" "$work/lists.after"
check "private apt state: one sources file, the signed repository's" [ "$(grep -h '^deb' "$root"/var/lib/dsvm/apt/sources.list.d/*)" = "deb [signed-by=/etc/dsvm/keys/offline-repo.gpg] file:/var/lib/dsvm/repo/apt ./" ]
check "private lists hold the offline index" sh -c 'ls "$1"/var/lib/dsvm/apt/lists | grep -q InRelease' sh "$root"
check "no .deb copied into the private cache" [ -z "$(find "$root/var/lib/dsvm/apt" -name '*.deb' -print -quit)" ]

# Again: nothing to do, no apt run (the private lists are not even read again).
stamp=$(ls -la --time-style=+%s.%N "$root/var/lib/dsvm/apt/lists" "$root/var/lib/dpkg/status" | md5sum)
t0=$(date +%s%N)
sw switch --install test-driver-b --remove test-driver-a >"$work/sw.json" 2>"$work/err" || no "second switch: $(cat "$work/err")"
noop_ms=$((($(date +%s%N) - t0) / 1000000))
check "second switch: unchanged: $(cat "$work/sw.json")" [ "$(jq .changed "$work/sw.json")" = false ]
check "second switch ran no apt" [ "$stamp" = "$(ls -la --time-style=+%s.%N "$root/var/lib/dsvm/apt/lists" "$root/var/lib/dpkg/status" | md5sum)" ]

# Killed (SIGKILL to the tool, apt-get, dpkg and the postinst) while dpkg configures a's module,
# then the same call: dpkg --configure -a finishes, the switch converges.
mkdir -p "$root/var/lib/dsvm-test"
touch "$root/var/lib/dsvm-test/slow"
rm -f "$root/var/lib/dsvm-test/in-postinst"
setsid unshare -n "${DSVM_BUILD:-$top/build}/tools/apt-switch" --root "$root" switch --install test-driver-a --remove test-driver-b >/dev/null 2>&1 &
sid=$!
i=0
while [ ! -e "$root/var/lib/dsvm-test/in-postinst" ] && [ "$i" -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "the postinst was reached" [ -e "$root/var/lib/dsvm-test/in-postinst" ]
for pid in $(ps -eo pid=,sid= | awk -v s="$sid" '$2 == s { print $1 }'); do
	kill -KILL "$pid" 2>/dev/null || true
done
wait "$sid" 2>/dev/null || true
rm -f "$root/var/lib/dsvm-test/slow"
check "killed mid-dpkg: the module half configured: '$(state "$root" dsvm-test-kmod-a)'" sh -c 'case "$1" in "1.0-1 "?[FUHW]) ;; *) exit 1 ;; esac' sh "$(state "$root" dsvm-test-kmod-a)"
sw switch --install test-driver-a --remove test-driver-b >"$work/sw.json" 2>"$work/err" || no "rerun after the kill: $(cat "$work/err")"
check "after the kill: a installed and held" at "$root" "1.0-1 hi" $kind_a
check "after the kill: b purged" purged "$root" $kind_b
check "after the kill: held '$(held "$root")'" [ "$(held "$root")" = "$kind_a" ]

# A time limit while dpkg configures b's module: stopped, -ETIME (exit 1) saying so; the rerun
# converges.
touch "$root/var/lib/dsvm-test/slow"
rc=0
t0=$(date +%s)
sw --timeout 5 switch --install test-driver-b --remove test-driver-a >/dev/null 2>"$work/err" || rc=$?
took=$(($(date +%s) - t0))
rm -f "$root/var/lib/dsvm-test/slow"
check "time limit: exit $rc after ${took} s, want 1 within 10 s" sh -c '[ "$1" -eq 1 ] && [ "$2" -le 10 ]' sh "$rc" "$took"
check "time limit: the error says so: $(head -c 300 "$work/err")" grep -q "did not finish within 5 s" "$work/err"
sw switch --install test-driver-b --remove test-driver-a >/dev/null 2>"$work/err" || no "rerun after the time limit: $(cat "$work/err")"
check "after the time limit: b installed and held" at "$root" "1.0-1 hi" $kind_b
check "after the time limit: a purged" purged "$root" $kind_a

# Refused: a Packages changed after signing, a .deb changed on disk, the wrong key. Nothing
# changes; each is put back.
cp "$repo/Packages" "$work/Packages.good"
sed -i 's/^Description: dsvm test package dsvm-test-kmod-a$/Description: changed/' "$repo/Packages"
rc=0
sw switch --install test-driver-a --remove test-driver-b >/dev/null 2>"$work/err" || rc=$?
check "tampered Packages: exit $rc, want 65; $(tail -c 300 "$work/err")" [ "$rc" -eq 65 ]
check "tampered Packages: apt's words" grep -Eq "Hash Sum mismatch|File has unexpected size" "$work/err"
check "tampered Packages: b still held" at "$root" "1.0-1 hi" $kind_b
cp "$work/Packages.good" "$repo/Packages"
deb=$(ls "$repo"/*libdsvm-test-a_1.0-1_all.deb)
cp "$deb" "$work/deb.good"
printf 'X' | dd of="$deb" bs=1 seek=100 conv=notrunc 2>/dev/null
rc=0
sw switch --install test-driver-a --remove test-driver-b >/dev/null 2>"$work/err" || rc=$?
check "changed .deb: exit $rc, want 65" [ "$rc" -eq 65 ]
check "changed .deb: apt's words" grep -q "Hash Sum mismatch" "$work/err"
check "changed .deb: b still held" at "$root" "1.0-1 hi" $kind_b
cp "$work/deb.good" "$deb"
cp "$imgkey" "$work/imgkey.good"
cp "$work/keys2/test-archive-key.gpg" "$imgkey"
rc=0
sw switch --install test-driver-a --remove test-driver-b >/dev/null 2>"$work/err" || rc=$?
check "wrong key: exit $rc, want 65" [ "$rc" -eq 65 ]
check "wrong key: apt's words: $(tail -c 300 "$work/err")" grep -Eq "NO_PUBKEY|not signed|GPG error" "$work/err"
check "wrong key: b still held" at "$root" "1.0-1 hi" $kind_b
cp "$work/imgkey.good" "$imgkey"
sw switch --install test-driver-a --remove test-driver-b >/dev/null 2>"$work/err" || no "switch back to a: $(cat "$work/err")"
check "back to a: installed and held" at "$root" "1.0-1 hi" $kind_a
check "back to a: b purged" purged "$root" $kind_b

# A root without apt: the apt step fails and says so.
rc=0
inst "$lock" "$work/empty" >/dev/null 2>"$work/err" || rc=$?
check "no apt-get in the root: exit $rc, want 1" [ "$rc" -eq 1 ]
check "no apt-get in the root: message: $(cat "$work/err")" grep -q "no apt-get in the root" "$work/err"

[ "$fail" -eq 0 ] || { echo "$fail of $checks checks failed"; exit 1; }
echo "apt: $checks/$checks checks hold ($(($(date +%s) - start)) s; pinned set installed and held, both kinds staged and signed, switched offline both ways (a->b ${switch_ms} ms, nothing to do ${noop_ms} ms), refusals, kills, time limits, reruns)"
