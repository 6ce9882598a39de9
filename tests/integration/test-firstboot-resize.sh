#!/bin/sh
# T6 (TESTING.md): one image root, built by `dsvm-build image` from the sample mirror for an A100
# VM with every other driver kind staged, walked by `dsvm-firstboot run` through resizes: every
# ordered pair of ten hardware profiles once (an Eulerian circuit, 90 boots), each boot checked
# from outside and followed by a second run that must change nothing; then the health gate
# (three boots with a module at the wrong version end in the CPU fallback; a size showing fewer
# GPUs than it has fails until the fallback) and Secure Boot (a kind whose module is built on
# the VM is blocked). The checks are tests/tools/resize-walk.py's. Real apt and dpkg run in the
# root. Under the sanitizer build (DSVM_SANITIZED=1) the suite runs a second time: there the
# walk is CPU -> T4 -> MI300X -> CPU plus the gate, so the 90 boots run once.
# Needs root (chroot), debootstrap's cache, python3.
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${DSVM_BUILD:-$top/build}
for tool in python3 debootstrap zstd; do
	command -v "$tool" >/dev/null || { echo "skip: $tool is not installed (make deps)"; exit 77; }
done
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root: apt-get and dpkg run chrooted into the root"; exit 1; }
work=$(mktemp -d)
mirror=$work/mirror
cleanup() {
	rc=$?
	sh "$top/tests/tools/sample-mirror.sh" stop "$mirror" >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
sh "$top/tests/tools/sample-mirror.sh" start "$mirror" >"$work/mirror.out" 2>&1 ||
	{ echo "FAIL: sample mirror: $(cat "$work/mirror.out")"; exit 1; }
edition=$mirror/sample/manifests/editions/sample-ubuntu-22.04.yaml
sh "$top/tests/tools/debootstrap-root.sh" "$work/root" 2>"$work/root.err" ||
	{ echo "FAIL: debootstrap root: $(cat "$work/root.err")"; exit 1; }
"$build/dsvm-build" image "$edition" --root "$work/root" --vm-size Standard_NC24ads_A100_v4 \
	--cache "$work/cache" --no-systemctl >"$work/image.out" 2>&1 ||
	{ echo "FAIL: dsvm-build image:"; tail -n 20 "$work/image.out"; exit 1; }
python3 "$top/tests/tools/make-sysroot.py" "$work/fixtures" >/dev/null
short=
[ -z "${DSVM_SANITIZED:-}" ] || short=--short
python3 "$top/tests/tools/resize-walk.py" --root "$work/root" --fixtures "$work/fixtures" \
	--firstboot "$build/dsvm-firstboot" --work "$work" $short
