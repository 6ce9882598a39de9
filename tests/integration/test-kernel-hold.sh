#!/bin/sh
# dsvm-build image holds the root's kernel packages (include/dsvm/kernel-hold.h), through
# tests/tools/kernel-hold, which calls what image calls. A Debian root gets small packages named
# as Ubuntu's kernel packages are (an image, its modules, headers, the linux-azure meta that
# pulls new kernels in), an NVIDIA prebuilt module package and an unrelated one, installed with
# dpkg. Asserts: exactly the kernel packages are held (not the NVIDIA one, which the driver
# switch owns, nor the other); a second run holds nothing more; apt-mark showhold agrees; the
# name rule on Ubuntu's and Debian's kernel package names. Needs root and debootstrap's cache.
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${DSVM_BUILD:-$top/build}
tool=$build/tools/kernel-hold
for t in debootstrap zstd dpkg-deb; do
	command -v "$t" >/dev/null || { echo "skip: $t is not installed (make deps)"; exit 77; }
done
[ "$(id -u)" -eq 0 ] || { echo "FAIL: needs root: dpkg and apt-mark run chrooted into the root"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$top/tests/tools/check.sh"

root=$work/root
sh "$top/tests/tools/debootstrap-root.sh" "$root" 2>"$work/root.err" ||
	{ echo "FAIL: debootstrap root: $(cat "$work/root.err")"; exit 1; }
kver=6.8.0-1017-azure
deb() { # NAME [DEPENDS]
	d=$work/pkg/$1
	mkdir -p "$d/DEBIAN" "$d/usr/share/doc/$1"
	{
		echo "Package: $1"
		echo "Version: 1.0-1"
		echo "Architecture: all"
		echo "Maintainer: dsvm tests <tests@dsvm.invalid>"
		[ -z "${2:-}" ] || echo "Depends: $2"
		echo "Description: dsvm test package named as a kernel package is"
	} >"$d/DEBIAN/control"
	echo "$1" >"$d/usr/share/doc/$1/README"
	dpkg-deb --build --root-owner-group "$d" "$root/tmp/$1.deb" >/dev/null
}
deb "linux-modules-$kver"
deb "linux-image-$kver" "linux-modules-$kver"
deb "linux-headers-$kver"
deb linux-azure "linux-image-$kver, linux-headers-$kver"
deb "linux-modules-nvidia-580-server-open-$kver" "linux-image-$kver"
deb dsvm-test-other
chroot "$root" sh -c 'dpkg -i /tmp/*.deb' >"$work/dpkg.out" 2>&1 ||
	{ echo "FAIL: dpkg -i: $(tail -n 5 "$work/dpkg.out")"; exit 1; }

"$tool" --root "$root" >"$work/held1" 2>"$work/err" || no "kernel-hold: $(cat "$work/err")"
want="linux-azure linux-headers-$kver linux-image-$kver linux-modules-$kver"
got=$(sort "$work/held1" | tr '\n' ' ' | sed 's/ $//')
check "held exactly the kernel packages: '$got'" [ "$got" = "$want" ]
shown=$(chroot "$root" apt-mark showhold | sort | tr '\n' ' ' | sed 's/ $//')
check "apt-mark showhold agrees: '$shown'" [ "$shown" = "$want" ]
"$tool" --root "$root" >"$work/held2" 2>"$work/err" || no "second kernel-hold: $(cat "$work/err")"
check "a second run holds nothing more: '$(cat "$work/held2")'" [ ! -s "$work/held2" ]
for name in linux-image-6.8.0-1017-azure linux-image-amd64 linux-azure linux-azure-lts-22.04 \
	linux-generic-hwe-22.04 linux-headers-amd64 linux-modules-extra-6.8.0-1017-azure; do
	check "$name is a kernel package" "$tool" --is "$name"
done
for name in linux-modules-nvidia-580-server-open-6.8.0-1017-azure linux-firmware libc6 \
	nvidia-dkms-580; do
	check "$name is not one" sh -c '! "$1" --is "$2"' sh "$tool" "$name"
done
rm -f "$root/usr/bin/dpkg-query"
check "a root without dpkg: nothing held, exit 0" sh -c '"$1" --root "$2" >"$3" && [ ! -s "$3" ]' sh "$tool" "$root" "$work/held3"
[ "$fail" -eq 0 ] || { echo "$fail of $checks checks failed"; exit 1; }
echo "kernel hold: $checks/$checks checks hold (the 4 kernel packages held, the NVIDIA module package and the rest not)"
