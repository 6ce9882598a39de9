#!/bin/sh
# Make (or update) a signed flat apt repository for tests:
#   make-apt-repo.sh REPO_DIR KEY_DIR DEB...
# Copies the .debs into REPO_DIR (debs already there stay), writes Packages, Packages.gz and
# Release with apt-ftparchive, and signs them (InRelease, Release.gpg) with the test key kept in
# KEY_DIR: KEY_DIR/gnupg holds it (created on first use: ed25519, no passphrase) and
# KEY_DIR/test-archive-key.gpg is its public key, binary, for `deb [signed-by=...] URL ./`.
# Idempotent: when the debs, the index and the key are unchanged, nothing is rewritten. Prints
# nothing but errors. Needs gpg, gpgv, apt-ftparchive (apt-utils) and gzip.
set -eu
[ $# -ge 3 ] || { echo "usage: make-apt-repo.sh REPO_DIR KEY_DIR DEB..." >&2; exit 64; }
repo=$1
keys=$2
shift 2
for tool in gpg gpgv gpgconf apt-ftparchive gzip; do
	command -v "$tool" >/dev/null || { echo "make-apt-repo: $tool is not installed (make deps)" >&2; exit 69; }
done
mkdir -p "$repo" "$keys"
repo=$(cd "$repo" && pwd)
keys=$(cd "$keys" && pwd)
home=$keys/gnupg
pub=$keys/test-archive-key.gpg
log=$(mktemp)
trap 'gpgconf --homedir "$home" --kill gpg-agent >/dev/null 2>&1 || true; rm -f "$log"' EXIT

# Run a command with its standard output to FILE and its messages kept; on failure show them.
quiet_to() { # FILE COMMAND...
	_out=$1
	shift
	"$@" >"$_out" 2>"$log" || { echo "make-apt-repo: '$*' failed:" >&2; cat "$log" >&2; exit 1; }
}
quiet() { quiet_to /dev/null "$@"; }
gpgq() { quiet gpg --batch --quiet --homedir "$home" --pinentry-mode loopback --passphrase '' "$@"; }

# Replace $2 by $1 when they differ; say whether it did (0) or not (1).
replace() {
	if cmp -s "$1" "$2"; then
		rm -f "$1"
		return 1
	fi
	mv "$1" "$2"
}

if [ ! -d "$home" ] || [ -z "$(gpg --batch --homedir "$home" --list-secret-keys 2>/dev/null)" ]; then
	mkdir -p "$home"
	chmod 700 "$home"
	gpgq --quick-generate-key 'dsvm test archive <test-archive@dsvm.invalid>' ed25519 sign never
fi
gpg --batch --homedir "$home" --export >"$pub.tmp" 2>"$log" && [ -s "$pub.tmp" ] ||
	{ echo "make-apt-repo: cannot export the public key from $home" >&2; cat "$log" >&2; exit 1; }
replace "$pub.tmp" "$pub" || true

for deb in "$@"; do
	case $deb in
	*.deb) ;;
	*) echo "make-apt-repo: '$deb' is not a .deb" >&2; exit 65 ;;
	esac
	[ -f "$deb" ] || { echo "make-apt-repo: '$deb' does not exist" >&2; exit 66; }
	name=$(basename "$deb")
	cmp -s "$deb" "$repo/$name" || { cp "$deb" "$repo/.$name.tmp" && mv "$repo/.$name.tmp" "$repo/$name"; }
done

cd "$repo"
quiet_to Packages.tmp apt-ftparchive packages .
changed=0
replace Packages.tmp Packages && changed=1
gzip -9nc Packages >Packages.gz.tmp
replace Packages.gz.tmp Packages.gz && changed=1
# The signatures are redone when the index changed or they no longer verify with the key.
if [ "$changed" -eq 1 ] || [ ! -s InRelease ] || [ ! -s Release.gpg ] ||
	! gpgv --keyring "$pub" InRelease >/dev/null 2>&1 ||
	! gpgv --keyring "$pub" Release.gpg Release >/dev/null 2>&1; then
	rm -f Release InRelease Release.gpg
	quiet_to Release.tmp apt-ftparchive -o APT::FTPArchive::Release::Origin=dsvm-test \
		-o APT::FTPArchive::Release::Label=dsvm-test release .
	mv Release.tmp Release
	gpgq --yes --local-user test-archive@dsvm.invalid --clearsign -o InRelease.tmp Release
	gpgq --yes --local-user test-archive@dsvm.invalid --detach-sign --armor -o Release.gpg.tmp Release
	mv InRelease.tmp InRelease
	mv Release.gpg.tmp Release.gpg
fi
