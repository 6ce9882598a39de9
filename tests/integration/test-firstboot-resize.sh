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
. "$top/tests/tools/image-root.sh"
image_setup jq
image_root "$work/root"
python3 "$top/tests/tools/make-sysroot.py" "$work/fixtures" >/dev/null
short=
[ -z "${DSVM_SANITIZED:-}" ] || short=--short
walk_rc=0
python3 "$top/tests/tools/resize-walk.py" --root "$work/root" --fixtures "$work/fixtures" \
	--firstboot "$build/dsvm-firstboot" --work "$work" $short >"$work/walk.out" || walk_rc=$?
cat "$work/walk.out"
[ "$walk_rc" -eq 0 ] || exit "$walk_rc"
walk=$(tail -n 1 "$work/walk.out")

# A kernel update under a runfile stack (GRID on an A10): no module for the new kernel and no
# headers to build one is blocked (CPU mode, the way out said) and stays so; with the headers
# there, the staged runfile runs again, for that kernel.
. "$top/tests/tools/check.sh"
fb=$build/dsvm-firstboot
k2=6.8.0-1099-azure
fx=$work/fixtures/a10-grid
cp -a "$fx" "$work/a10-grid-k2"
echo "$k2" >"$work/a10-grid-k2/proc/sys/kernel/osrelease"
kernel_run() { # SYSROOT NAME
	"$fb" run --root "$work/root" --sysroot "$1" --no-imds --json >"$work/$2.json" 2>"$work/$2.err" || true
	jq -r '.outcome + " " + .to' "$work/$2.json"
}
out=$(kernel_run "$fx" k0)
check "GRID on the image's kernel: '$out'" sh -c "echo '$out' | grep -Eq '^(converged|pending|no-op) nvidia-grid$'"
out=$(kernel_run "$work/a10-grid-k2" k1)
check "new kernel, no module, no headers: '$out', want blocked none" [ "$out" = "blocked none" ]
check "blocked: the reason names the kernel and the way out: $(jq -r .reason "$work/k1.json")" \
	sh -c "jq -r .reason '$work/k1.json' | grep -q \"kernel $k2: no nvidia module\" && jq -r .reason '$work/k1.json' | grep -q 'dsvm-firstboot reset'"
out=$(kernel_run "$work/a10-grid-k2" k2)
check "blocked stays blocked without a change: '$out'" [ "$out" = "no-op none" ]
mkdir -p "$work/root/lib/modules/$k2/build"
"$fb" reset --root "$work/root" 2>/dev/null
out=$(kernel_run "$work/a10-grid-k2" k3)
check "headers there: the runfile builds for $k2: '$out'" sh -c "echo '$out' | grep -Eq '^(converged|pending) nvidia-grid$'"
check "the runfile ran again: $(jq -c '[.steps[] | select(.name == "install-runfile") | .outcome]' "$work/k3.json")" \
	[ "$(jq -r '.steps[] | select(.name == "install-runfile") | .outcome' "$work/k3.json")" = done ]
out=$(kernel_run "$work/a10-grid-k2" k4)
check "then a no-op: '$out'" [ "$out" = "no-op nvidia-grid" ]
[ "$fail" -eq 0 ] || { echo "kernel update: $fail of $checks checks failed"; exit 1; }
echo "$walk; kernel update: $checks/$checks checks (blocked without module or headers, runfile rebuilt with headers)"
