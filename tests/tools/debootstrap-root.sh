#!/bin/sh
# Make DEST a fresh Debian 12 root with apt in it, for tests that run apt inside a root:
#   debootstrap-root.sh DEST
# The root is `debootstrap --variant=minbase --include=python3-venv,systemd-sysv,libyaml-0-2,
# libjansson4 bookworm` from deb.debian.org: bootable under systemd-nspawn (systemd-sysv), with
# the libraries dsvm-firstboot needs at run time, as an image that carries the agent has them.
# It is built once (about a minute) into a cache outside the checkout, so fresh clones reuse it:
# ${DSVM_ROOT_CACHE:-/var/cache/dsvm-test}/bookworm-minbase-<hash>.tar.zst, the hash being that
# of the options, so changing them builds a new one. A lock keeps two runs from building it at
# once. Later runs only unpack it (a few seconds). DEST must not exist or be empty. Needs root
# (debootstrap, and the files' owners), debootstrap, tar, zstd and flock.
set -eu
[ $# -eq 1 ] || { echo "usage: debootstrap-root.sh DEST" >&2; exit 64; }
dest=$1
suite=bookworm
mirror=http://deb.debian.org/debian
options="--variant=minbase --include=python3-venv,systemd-sysv,libyaml-0-2,libjansson4"
cache=${DSVM_ROOT_CACHE:-/var/cache/dsvm-test}
hash=$(printf '%s\n' "$options $suite $mirror" | sha256sum | cut -c1-12)
image=$cache/$suite-minbase-$hash.tar.zst

for tool in debootstrap tar zstd flock; do
	command -v "$tool" >/dev/null || { echo "debootstrap-root: $tool is not installed (make deps)" >&2; exit 69; }
done
[ "$(id -u)" -eq 0 ] || { echo "debootstrap-root: needs root (debootstrap, file owners)" >&2; exit 77; }
if [ -e "$dest" ] && [ -n "$(ls -A "$dest")" ]; then
	echo "debootstrap-root: '$dest' is not empty" >&2
	exit 73
fi

build() {
	tmp=$cache/.build-$hash
	rm -rf "$tmp" "$image.tmp"
	echo "debootstrap-root: building $suite minbase into $image (about a minute, once)" >&2
	# shellcheck disable=SC2086 # the option list is split on purpose
	if ! debootstrap $options "$suite" "$tmp" "$mirror" >"$cache/.build-$hash.log" 2>&1; then
		echo "debootstrap-root: debootstrap failed; its log ends:" >&2
		tail -n 20 "$cache/.build-$hash.log" >&2
		rm -rf "$tmp"
		exit 69
	fi
	# debootstrap keeps the downloaded .debs in the root's apt cache: not part of the root.
	rm -f "$tmp"/var/cache/apt/archives/*.deb
	tar -C "$tmp" --numeric-owner --xattrs -cf - . | zstd -q -T0 -o "$image.tmp"
	sync "$image.tmp"
	mv "$image.tmp" "$image"
	rm -rf "$tmp" "$cache/.build-$hash.log"
}

mkdir -p "$cache"
(
	flock 9
	[ -s "$image" ] || build
) 9>"$cache/.$suite-minbase-$hash.lock"
mkdir -p "$dest"
zstd -q -dc "$image" | tar -C "$dest" --numeric-owner --xattrs -xpf -
