#!/bin/sh
# `make run`: the main job on the built-in defaults, on one machine with no internet.
#
# 1. Generates the sample mirror (tests/tools/make-sample-mirror.py: redist-shaped CUDA/cuDNN
#    archives, a signed apt repository of per-kind driver packages, wheels, a sample Ubuntu
#    edition with their hashes) and serves it on 127.0.0.1 with the project's own server.
# 2. Makes a fresh Debian minbase root (debootstrap, cached between runs) as the image root,
#    ./out/image.
# 3. Builds the sample edition into it for an A100 VM (Standard_NC24ads_A100_v4) with
#    `dsvm-build image`: resolve (every other driver kind staged), fetch + verify, install
#    (apt in the root, redist archives, wheels into a venv, files, services, scripts), journaled.
# 4. Runs the same command again: nothing changes.
# 5. Prints what the image now holds.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build="$top/${BUILD:-build}"
out="$top/out"
mirror="$out/mirror"
image="$out/image"
size=${DSVM_DEMO_VM_SIZE:-Standard_NC24ads_A100_v4}
PATH="$build:$PATH"
export PATH

step() { printf '\n== %s\n' "$*"; }

mkdir -p "$out"
step "validate the shipped editions"
dsvm-build validate "$top"/manifests/editions/*.yaml

step "sample mirror on loopback (generated; nothing in it is a real NVIDIA binary)"
sh "$top/tests/tools/sample-mirror.sh" start "$mirror"
trap 'sh "$top/tests/tools/sample-mirror.sh" stop "$mirror"' EXIT INT TERM
base=$(cat "$mirror/base-url")
edition="$mirror/sample/manifests/editions/sample-ubuntu-22.04.yaml"
echo "serving $base; edition $edition"

step "fresh image root: Debian minbase (debootstrap, cached) -> $image"
rm -rf "$image"
sh "$top/tests/tools/debootstrap-root.sh" "$image"

step "dsvm-build image for $size"
start=$(date +%s.%N)
dsvm-build image "$edition" --root "$image" --vm-size "$size" --cache "$out/cache" \
	--lock "$out/lock.json" --no-systemctl
end=$(date +%s.%N)
awk -v a="$start" -v b="$end" 'BEGIN { printf "built in %.1f s\n", b - a }' 

step "the same command again: every step unchanged"
dsvm-build image "$edition" --root "$image" --vm-size "$size" --cache "$out/cache" \
	--no-systemctl 2>&1 | grep -E '^dsvm-build: image|unchanged' | tail -n 3

step "what the image holds"
echo "/usr/local/cuda -> $(readlink "$image/usr/local/cuda")"
ls "$image/usr/local/cuda/lib" 2>/dev/null | head -n 5 | sed 's/^/  lib: /'
echo "driver packages (held so upgrades cannot split module and libraries):"
chroot "$image" dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version}\n' 'dsvm-sample-*' 2>/dev/null |
	awk '$1 ~ /^[hi]i/ { print "  " $2 " " $3 }' || true
chroot "$image" apt-mark showhold | sed 's/^/  held: /'
echo "offline repository for the other driver kinds (/var/lib/dsvm/repo):"
find "$image/var/lib/dsvm/repo" -maxdepth 2 -type f -name '*.deb' -printf '  %f\n' | sort
echo "python environments:"
for env in "$image"/opt/dsvm/envs/*; do
	[ -d "$env" ] || continue
	echo "  $(basename "$env"): $(chroot "$image" "/opt/dsvm/envs/$(basename "$env")/bin/python" -m pip list --format=freeze 2>/dev/null | grep -i dsvm | tr '\n' ' ')"
done
echo "lock and SBOM: $(ls "$image/usr/share/dsvm" | tr '\n' ' ')"
step "first boots after resizes (dsvm-firstboot; hardware from generated sysroots)"
# Generated afresh each run, as the image is: make-sysroot.py writes into an empty folder.
rm -rf "$out/machines"
python3 "$top/tests/tools/make-sysroot.py" "$out/machines" cpu-only t4 nd-a100-v4 a10-grid mi300x >/dev/null
for machine in cpu-only t4 nd-a100-v4 a10-grid mi300x cpu-only; do
	printf '\n-- boot on %s\n' "$machine"
	dsvm-firstboot plan --root "$image" --sysroot "$out/machines/$machine" --no-imds
	dsvm-firstboot run --root "$image" --sysroot "$out/machines/$machine" --no-imds
	echo "the same boot again:"
	dsvm-firstboot run --root "$image" --sysroot "$out/machines/$machine" --no-imds
done
echo
dsvm-firstboot status --root "$image"

echo
echo "make run: the sample image root is in $image (lock: $out/lock.json)"
