#!/bin/sh
# dsvm-build image end to end, and T1 (TESTING.md) for it: the sample edition
# (tests/tools/make-sample-mirror.py) served on loopback is built for an A100 VM into a Debian
# minbase root (tests/tools/debootstrap-root.sh) with the real apt-get, dpkg, python -m venv and
# pip inside the root. Asserts what the image holds (driver packages at the locked version and
# held, the other kinds' packages staged in the offline repository, /usr/local/cuda, wheels in
# the py312 environment, the unit enabled, the runfile's and script's work, lock and SBOM), that
# a second run changes nothing, and then kills `image` at every journal step k (DSVM_CRASH_AT=k
# and k:mid) in a fresh root: the rerun must resume and end in the state of the uninterrupted
# run. The state compared: every path under /usr/local, /opt, /etc, /usr/lib/modules,
# /var/lib/dsvm (not its journal) and /usr/share/dsvm with type, mode, size, link target and
# sha256 (Python's compiled __pycache__ files by name only: they embed times; the offline
# repository's signatures and public key by name only: every build signs with a key of its own,
# so those are checked by verifying InRelease with the root's key instead), plus dpkg's view of
# the driver packages (status, version, hold). Needs root (chroot) and debootstrap's cache.
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${DSVM_BUILD:-$top/build}/dsvm-build
for tool in jq python3 debootstrap zstd; do
	command -v "$tool" >/dev/null || { echo "skip: $tool is not installed (make deps)"; exit 77; }
done
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root: image runs apt-get chrooted into the root"; exit 1; }
work=$(mktemp -d)
mirror=$work/mirror
mounted=
cleanup() {
	rc=$?
	for m in $mounted; do
		umount "$m" 2>/dev/null || true
	done
	sh "$top/tests/tools/sample-mirror.sh" stop "$mirror" >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
sh "$top/tests/tools/sample-mirror.sh" start "$mirror" >"$work/mirror.out" 2>&1 ||
	{ echo "FAIL: sample mirror: $(cat "$work/mirror.out")"; exit 1; }
edition=$mirror/sample/manifests/editions/sample-ubuntu-22.04.yaml
sh "$top/tests/tools/debootstrap-root.sh" "$work/base" 2>"$work/base.err" ||
	{ echo "FAIL: debootstrap root: $(cat "$work/base.err")"; exit 1; }

. "$top/tests/tools/check.sh"
image() { # ROOT [ARGS...]
	r=$1
	shift
	"$bin" image "$edition" --root "$r" --vm-size Standard_NC24ads_A100_v4 \
		--cache "$work/cache" --no-systemctl "$@"
}
# A fresh root: an overlay on the base root where the kernel allows it (instant), else a copy.
overlay=
fresh() { # ROOT
	if [ -n "$overlay" ]; then
		umount "$1" 2>/dev/null || true
	fi
	rm -rf "$1" "$1.upper" "$1.work"
	if [ "$overlay" != no ] && mkdir -p "$1" "$1.upper" "$1.work" &&
		mount -t overlay overlay -o "lowerdir=$work/base,upperdir=$1.upper,workdir=$1.work" "$1" 2>/dev/null; then
		overlay=yes
		case " $mounted " in *" $1 "*) ;; *) mounted="$mounted $1" ;; esac
		return
	fi
	overlay=no
	rm -rf "$1" "$1.upper" "$1.work"
	cp -a "$work/base" "$1"
}
state() { # ROOT
	python3 - "$1" <<'EOF'
import hashlib, os, stat, sys
root = sys.argv[1]
signed = ("var/lib/dsvm/repo/apt/InRelease", "var/lib/dsvm/repo/apt/Release.gpg",
          "etc/dsvm/keys/offline-repo.gpg")
for top in ("usr/local", "opt", "etc", "usr/lib/modules", "var/lib/dsvm", "usr/share/dsvm"):
    for d, dirs, files in os.walk(os.path.join(root, top)):
        rel = os.path.relpath(d, root)
        if rel == "var/lib/dsvm/journal":
            dirs[:] = []
            continue
        dirs.sort()
        for name in sorted(dirs + files):
            p = os.path.join(d, name)
            st = os.lstat(p)
            line = "%s %o %s" % (os.path.relpath(p, root), stat.S_IMODE(st.st_mode), stat.S_IFMT(st.st_mode))
            if "__pycache__" in p or os.path.relpath(p, root) in signed:
                print(line)
            elif stat.S_ISLNK(st.st_mode):
                print(line, os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    print(line, st.st_size, hashlib.sha256(f.read()).hexdigest())
            else:
                print(line)
EOF
	chroot "$1" gpgv --keyring /etc/dsvm/keys/offline-repo.gpg /var/lib/dsvm/repo/apt/InRelease >/dev/null 2>&1 &&
		echo "InRelease verifies with the image key" || echo "InRelease does NOT verify"
	chroot "$1" dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version}\n' 'dsvm-sample-*'
}

# --- a clean build ------------------------------------------------------------------------
clean=$work/clean
fresh "$clean"
image "$clean" --lock "$work/lock.json" --json >"$work/clean.json" 2>"$work/err" ||
	{ echo "FAIL: image: $(tail -n 20 "$work/err")"; exit 1; }
n=$(jq .steps "$work/clean.json")
lock=$work/lock.json
check "every step done: $(cat "$work/clean.json")" [ "$(jq -c '[.deferred, .unchanged, .installed + .staged == .steps]' "$work/clean.json")" = "[0,0,true]" ]
check "lock in the image is the lock" cmp -s "$lock" "$clean/usr/share/dsvm/lock.json"
check "sbom" [ "$(jq -r .bomFormat "$clean/usr/share/dsvm/sbom.json")" = CycloneDX ]
driver=$(jq -r '.components[] | select(.kind == "apt" and .action == "install") | .source.package' "$lock")
want=$(jq -r '.components[] | select(.kind == "apt" and .action == "install") | .source.version' "$lock")
check "one driver package installed: $driver" [ "$(echo "$driver" | wc -l)" -eq 1 ]
check "$driver at $want" [ "$(chroot "$clean" dpkg-query -W -f '${Version}' "$driver")" = "$want" ]
check "$driver held" sh -c "chroot '$clean' apt-mark showhold | grep -qx '$driver'"
check "its module and libraries held too" [ "$(chroot "$clean" apt-mark showhold | grep -c "^${driver%-*}-.*-${driver##*-}\$")" -eq 2 ]
for pkg in $(jq -r '.components[] | select(.kind == "apt" and .action == "stage") | .source.package' "$lock"); do
	check "$pkg staged" sh -c "ls '$clean/var/lib/dsvm/repo/apt/' | grep -q '$pkg'_"
	check "$pkg not installed" sh -c "! chroot '$clean' dpkg-query -W -f '\${db:Status-Abbrev}' '$pkg' 2>/dev/null | grep -q '^ii'"
done
check "offline index lists the staged debs" [ -s "$clean/var/lib/dsvm/repo/apt/Packages" ]
# The installed driver stack is in the offline repository too, for a switch back to it.
for name in $(jq -r '.components[] | select(.kind == "apt" and .action == "install" and (.driver_kinds | length) > 0) | .name' "$lock"); do
	check "installed $name in index.json" [ "$(jq --arg n "$name" '[.components[] | select(.name == $n and .action == "install")] | length' "$clean/var/lib/dsvm/repo/apt/index.json")" -eq 1 ]
done
check "the installed driver's .deb is in the repository" sh -c "ls '$clean/var/lib/dsvm/repo/apt/' | grep -q '$driver'_"
check "offline repository signed by the image key" sh -c "chroot '$clean' gpgv --keyring /etc/dsvm/keys/offline-repo.gpg /var/lib/dsvm/repo/apt/InRelease >/dev/null 2>&1"
check "offline sources line signed-by the image key" [ "$(jq -r .sources "$clean/var/lib/dsvm/repo/apt/index.json")" = "deb [signed-by=/etc/dsvm/keys/offline-repo.gpg] file:/var/lib/dsvm/repo/apt ./" ]
check "cuda link" [ "$(readlink "$clean/usr/local/cuda")" = cuda-12.8 ]
check "cudnn merged into the toolkit" [ -n "$(find "$clean/usr/local/cuda-12.8/include" -name 'cudnn*.h')" ]
check "py312 has the CUDA torch and numpy" sh -c "chroot '$clean' /opt/dsvm/envs/py312/bin/python -m pip list --format=freeze 2>/dev/null | sort | tr '\n' ' ' | grep -q 'dsvm-sample-numpy==2.2.6 dsvm-sample-torch-cuda==2.7.1'"
check "the ROCm torch wheel is staged, not installed" sh -c "! chroot '$clean' /opt/dsvm/envs/py312/bin/python -m pip show dsvm-sample-torch-rocm >/dev/null 2>&1"
check "unit enabled" [ -L "$clean/etc/systemd/system/multi-user.target.wants/dsvm-sample-notebook.service" ]
check "runfile ran" [ -n "$(find "$clean/usr/local" -path '*dsvm-sample-tools*' | head -n 1)" ]
check "nothing left in the run directory" [ ! -e "$clean/var/lib/dsvm/journal/run" ]
check "journal removed" [ ! -e "$clean/var/lib/dsvm/journal/install.journal" ]
check "archives streamed into their trees in one pass: $(grep streamed "$work/err")" grep -q '^streamed 5 archives into their trees (0 from the cache)' "$work/err"
check "prepared trees used and removed" [ ! -e "$clean/var/lib/dsvm/journal/prepared" ]
# What install observed: each .deb installed and staged, with the sha256 apt verified, in the
# image's package record and its SBOM (the lock stays a function of the manifests alone).
rec=$clean/usr/share/dsvm/packages.json
check "package record" [ "$(jq .record_version "$rec")" = 1 ]
n_deb=0
for e in $(jq -r '.packages[] | "\(.action)/\(.package)/\(.version)/\(.architecture)/\(.sha256)/\(.filename)"' "$rec"); do
	IFS=/
	set -- $e
	unset IFS
	n_deb=$((n_deb + 1))
	check "$1 $2=$3: the recorded sha256 is the mirror's .deb's" [ "$(sha256sum <"$mirror/www/apt/${2}_${3}_$4.deb" | cut -d' ' -f1)" = "$5" ]
	if [ "$1" = stage ]; then
		check "staged $2: the offline repository's file has it" [ "$(sha256sum <"$clean/var/lib/dsvm/repo/apt/$6" | cut -d' ' -f1)" = "$5" ]
	else
		check "installed $2 is in the root at $3" [ "$(chroot "$clean" dpkg-query -W -f '${Version}' "$2")" = "$3" ]
	fi
done
check "the record names the installed driver package" [ "$(jq --arg p "$driver" '[.packages[] | select(.action == "install" and .package == $p)] | length' "$rec")" -eq 1 ]
check "every .deb of the offline repository is recorded" [ "$(jq -r '[.packages[] | select(.action == "stage") | .filename] | unique | join(" ")' "$rec")" = "$(cd "$clean/var/lib/dsvm/repo/apt" && ls -- *.deb | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')" ]
sbom=$clean/usr/share/dsvm/sbom.json
check "SBOM: the driver's .deb under its component with the recorded sha256" [ "$(jq -r --arg p "$driver" '[.components[].components[]? | select(.purl | startswith("pkg:deb/ubuntu/" + $p + "@")) | .hashes[0].content] | unique | join(" ")' "$sbom")" = "$(jq -r --arg p "$driver" '[.packages[] | select(.package == $p) | .sha256] | unique | join(" ")' "$rec")" ]
check "SBOM: no apt component claims its repository key's hash as its own" [ "$(jq '[.components[] | select(.properties[0].value == "apt" and .hashes)] | length' "$sbom")" = 0 ]
check "SBOM: $n_deb .debs" [ "$(jq '[.components[].components[]? | select(.purl | startswith("pkg:deb/"))] | length' "$sbom")" -eq "$n_deb" ]
"$bin" sbom "$lock" --packages "$rec" -o "$work/sbom.json"
check "dsvm-build sbom --packages gives the image's SBOM" cmp -s "$work/sbom.json" "$sbom"
printf '{"record_version": 2, "packages": []}\n' >"$work/bad-record.json"
rc=0
"$bin" sbom "$lock" --packages "$work/bad-record.json" >/dev/null 2>"$work/err" || rc=$?
check "a package record of another version is refused (65): exit $rc, $(cat "$work/err")" [ "$rc" -eq 65 ]
state "$clean" >"$work/clean.state"

# --- a second run changes nothing -----------------------------------------------------------
image "$clean" --json >"$work/again.json" 2>"$work/err" || no "second run: $(tail -n 5 "$work/err")"
check "second run: all unchanged: $(cat "$work/again.json")" [ "$(jq -c '[.unchanged == .steps, .installed, .staged]' "$work/again.json")" = "[true,0,0]" ]
state "$clean" >"$work/again.state"
check "second run changed the state: $(diff "$work/clean.state" "$work/again.state" | head -n 5)" cmp -s "$work/clean.state" "$work/again.state"

# --- T1: a kill at every step, then the same command -----------------------------------------
# Under the sanitizer build (the suite's second run) the first two steps, the middle one and the
# last are enough: the resume code is the same for every step, and the whole matrix runs in the
# plain pass.
points=0
ok=0
k=1
while [ "$k" -le "$n" ]; do
	if [ -n "${DSVM_SANITIZED:-}" ] && [ "$k" -gt 2 ] && [ "$k" -ne $((n / 2)) ] && [ "$k" -ne "$n" ]; then
		k=$((k + 1))
		continue
	fi
	for at in "$k" "$k:mid"; do
		points=$((points + 1))
		root=$work/r
		fresh "$root"
		rc=0
		DSVM_CRASH_AT=$at image "$root" >/dev/null 2>"$work/err" || rc=$?
		if [ "$at" = "$k" ] && [ "$rc" -ne 137 ]; then
			no "DSVM_CRASH_AT=$at: exit $rc, not killed: $(tail -n 3 "$work/err")"
			continue
		fi
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 137 ]; then
			no "DSVM_CRASH_AT=$at: exit $rc: $(tail -n 3 "$work/err")"
			continue
		fi
		if ! image "$root" --json >"$work/re.json" 2>"$work/err"; then
			no "DSVM_CRASH_AT=$at: rerun failed: $(tail -n 5 "$work/err")"
			continue
		fi
		if [ "$rc" -eq 137 ] && [ "$(jq .resumed_at "$work/re.json")" != "$k" ]; then
			no "DSVM_CRASH_AT=$at: rerun resumed at $(jq .resumed_at "$work/re.json"), want $k"
			continue
		fi
		state "$root" >"$work/r.state"
		if ! cmp -s "$work/clean.state" "$work/r.state"; then
			no "DSVM_CRASH_AT=$at: state differs: $(diff "$work/clean.state" "$work/r.state" | head -n 6)"
			continue
		fi
		ok=$((ok + 1))
	done
	k=$((k + 1))
done

[ "$fail" -eq 0 ] || { echo "image: $fail failures"; exit 1; }
echo "image: $checks checks, $n_deb .debs recorded with the sha256 apt verified; T1 image: $ok/$points crash points over $n steps end in the uninterrupted state"
