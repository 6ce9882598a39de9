#!/bin/sh
# Install the Debian packages named on the command line, once. Idempotent: when every package is
# already installed it changes nothing and needs no network; otherwise it runs `apt-get update`
# first (package lists may be stale or absent on a fresh machine) and installs what is missing.
set -eu

missing=""
for pkg in "$@"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	case "$status" in
	*"ok installed") ;;
	*) missing="$missing $pkg" ;;
	esac
done

if [ -z "$missing" ]; then
	echo "deps: all $# Debian packages present"
	exit 0
fi

run_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "deps: missing packages:$missing" >&2
		echo "deps: run 'make deps' as root (apt-get needs it)" >&2
		exit 77
	fi
}

echo "deps: installing$missing"
# Another apt (unattended upgrades, a second make) may hold the locks: wait for it, not fail.
wait_lock=-oDPkg::Lock::Timeout=600
run_root apt-get "$wait_lock" update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
run_root env DEBIAN_FRONTEND=noninteractive apt-get "$wait_lock" install -y -qq --no-install-recommends $missing
