#!/bin/sh
# The generated Ubuntu build, run offline: `dsvm-build packer` writes the templates for the sample
# edition (tests/tools/make-sample-mirror.py, served on loopback) and an A100 target; a Packer
# template with the `null` builder and `shell-local` provisioners then runs the very steps the
# azure-arm build runs (read from the generated build.pkr.hcl, in its order) with the generated
# scripts/dsvm-ubuntu.sh, against a Debian minbase root (tests/tools/debootstrap-root.sh) instead
# of the build VM's /. Asserts that the image that comes out holds the agent and its unit,
# enabled; its state reset (an attempt the build VM counted is forgotten); the lock the build
# resolved equal to the one generated with the template; the driver stack installed. Then the
# script's own guards: a lock that differs from the reviewed one, an unknown source and an
# unknown step are refused. Needs root (chroot) and packer.
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${DSVM_BUILD:-$top/build}
for tool in packer jq debootstrap zstd; do
	command -v "$tool" >/dev/null || { echo "skip: $tool is not installed (make deps)"; exit 77; }
done
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root: the image step runs apt-get chrooted into the root"; exit 1; }
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
root=$work/root
sh "$top/tests/tools/debootstrap-root.sh" "$root" 2>"$work/root.err" ||
	{ echo "FAIL: debootstrap root: $(cat "$work/root.err")"; exit 1; }
. "$top/tests/tools/check.sh"

tpl=$work/tpl
source=nc24ads-a100-v4
"$build/dsvm-build" packer "$edition" Standard_NC24ads_A100_v4 --out "$tpl" \
	--packer-version 1.6.6 --bin-dir "$build" 2>"$work/gen.err" ||
	{ echo "FAIL: dsvm-build packer: $(cat "$work/gen.err")"; exit 1; }
check "the generated 1.6.6 template validates" packer validate "$tpl"

# The steps of the azure-arm build, in its order.
steps=$(sed -n 's|.*dsvm-ubuntu\.sh \([a-z-]*\)"\].*|\1|p' "$tpl/build.pkr.hcl")
check "build.pkr.hcl runs the steps install-agent .. reset-agent: '$(echo $steps)'" \
	sh -c "echo '$(echo $steps)' | grep -q 'install-agent.* image enable-agent reset-agent'"

# A counted attempt left on the build VM: the image must not carry it.
mkdir -p "$root/var/lib/dsvm"
: >"$root/var/lib/dsvm/attempts+2"

mkdir -p "$work/null"
{
	printf 'source "null" "%s" {\n  communicator = "none"\n}\n\nbuild {\n' "$source"
	printf '  sources = ["source.null.%s"]\n' "$source"
	for step in $steps; do
		printf '\n  provisioner "shell-local" {\n'
		printf '    environment_vars = ["DSVM_SOURCE=${source.name}", "DSVM_MIRROR=", "DSVM_ROOT=%s", "DSVM_PAYLOAD=%s", "DSVM_CACHE=%s", "DSVM_IMAGE_OPTIONS=--no-systemctl"]\n' \
			"$root" "$tpl/payload" "$work/cache"
		printf '    inline           = ["sh %s %s"]\n  }\n' "$tpl/scripts/dsvm-ubuntu.sh" "$step"
	done
	printf '}\n'
} >"$work/null/build.pkr.hcl"
check "the null template is valid" packer validate "$work/null"
start=$(date +%s)
rc=0
packer build -color=false "$work/null" >"$work/build.log" 2>&1 || rc=$?
secs=$(($(date +%s) - start))
check "packer build (null builder): exit $rc: $(grep -m 3 -i 'error\|dsvm-ubuntu.sh' "$work/build.log" || true)" [ "$rc" -eq 0 ]

check "dsvm-firstboot installed where the unit runs it" [ -x "$root/usr/sbin/dsvm-firstboot" ]
check "dsvm-build installed" [ -x "$root/usr/local/bin/dsvm-build" ]
check "the unit installed" cmp -s "$root/etc/systemd/system/dsvm-firstboot.service" "$top/firstboot/dsvm-firstboot.service"
check "dsvm-firstboot.service enabled" [ -L "$root/etc/systemd/system/multi-user.target.wants/dsvm-firstboot.service" ]
check "the counted attempt is gone (reset)" [ ! -e "$root/var/lib/dsvm/attempts+2" ]
"$build/dsvm-firstboot" status --root "$root" --json >"$work/status.json" 2>/dev/null || true
check "status after reset: no fingerprint, 0 attempts: $(jq -c '[.result, .fingerprint, .attempts]' "$work/status.json")" \
	[ "$(jq -r '[(.fingerprint == null), .attempts] | map(tostring) | join(" ")' "$work/status.json")" = "true 0" ]
check "the image's lock is the one generated with the template" \
	cmp -s "$root/usr/share/dsvm/lock.json" "$tpl/payload/locks/$source.lock.json"
check "the image is for nvidia-open: $(jq -c '.target.driver_kind' "$root/usr/share/dsvm/lock.json")" \
	[ "$(jq -r '.target.driver_kind' "$root/usr/share/dsvm/lock.json")" = nvidia-open ]
pkg=$(jq -r '[.components[] | select(.kind == "apt" and .action == "install")][0].source.package' "$root/usr/share/dsvm/lock.json")
status=$(chroot "$root" dpkg-query -W -f '${Status}' "$pkg" 2>&1 || true)
check "the driver stack is installed and held in the root: $pkg: $status" [ "$status" = "hold ok installed" ]

# The script's guards, each with its own message.
script=$tpl/scripts/dsvm-ubuntu.sh
step() { # run a step with the test's environment
	DSVM_SOURCE=$source DSVM_ROOT=$root DSVM_PAYLOAD=$tpl/payload DSVM_CACHE=$work/cache \
		DSVM_IMAGE_OPTIONS=--no-systemctl sh "$script" "$@"
}
jq '.target.reason = "edited after review"' "$tpl/payload/locks/$source.lock.json" >"$work/edited.json"
cp "$work/edited.json" "$tpl/payload/locks/$source.lock.json"
rc=0; step image >"$work/guard.out" 2>&1 || rc=$?
check "a lock that differs from the reviewed one: exit $rc, want 1, says so" \
	sh -c "[ $rc -eq 1 ] && grep -q 'differs from' '$work/guard.out'"
rc=0; DSVM_SOURCE=bogus sh "$script" image >"$work/guard.out" 2>&1 || rc=$?
check "an unknown source: exit $rc, want 64, names the sources" \
	sh -c "[ $rc -eq 64 ] && grep -q '$source' '$work/guard.out'"
rc=0; step bogus >"$work/guard.out" 2>&1 || rc=$?
check "an unknown step: exit $rc, want 64" [ "$rc" -eq 64 ]

[ "$fail" -eq 0 ] || exit 1
echo "packer build: $checks/$checks checks hold; the $(echo $steps | wc -w) generated Ubuntu steps built the image offline with the null builder in ${secs} s"
