#!/bin/sh
# Boot an image root under a real systemd until it reaches multi-user.target, then power off:
#   boot-root.sh ROOT [TIMEOUT [systemd-nspawn options...]]
# ROOT is a root with systemd as its init (tests/tools/debootstrap-root.sh makes one).
# Installs into ROOT, idempotently:
# - dsvm-test-poweroff.service, wanted by and ordered after multi-user.target, with
#   SuccessAction=poweroff: once the target is reached it appends "<boot id> <uptime>" to
#   ROOT/var/lib/dsvm-test/reached-multi-user and systemd powers the container off. A unit
#   wanted by a target may be ordered after it: the target does not wait for it. Units that
#   multi-user.target does not wait for (DefaultDependencies=no without Before=multi-user.target)
#   may still be running then, and are stopped by the poweroff.
# - ROOT/var/log/journal, so that the root's journal is kept on disk, to be read afterwards with
#   `journalctl -D ROOT/var/log/journal -b -o short-monotonic` (or -o json: UNIT, JOB_TYPE,
#   JOB_RESULT, __MONOTONIC_TIMESTAMP). The container shares the host's clocks: the journal's
#   monotonic timestamps are the host's, and /proc/uptime read inside agrees with them (to the
#   100th of a second here) unless the host has been suspended.
# Then runs `systemd-nspawn -D ROOT -b --register=no --keep-unit --console=passive` with stdin
# from /dev/null, the extra options (e.g. --bind-ro=HOST:/fixture), under `timeout TIMEOUT`
# (default 120 s). --register=no --keep-unit: no host systemd or D-Bus is needed (without them
# nspawn fails with "Failed to open system bus"). The console (boot messages) goes to stdout,
# nspawn's own messages to stderr.
# Exit status: nspawn's (0 when the container powered off; a container that powers off for
# another reason also gives 0: check reached-multi-user), 124 when it did not power off within
# TIMEOUT seconds (it is then told to halt, and killed 10 s later), 64 usage, 66 ROOT has no
# systemd, 69 no systemd-nspawn (make deps).
# Needs root.
set -eu
[ $# -ge 1 ] || { echo "usage: boot-root.sh ROOT [TIMEOUT [systemd-nspawn options...]]" >&2; exit 64; }
root=$1
limit=${2:-120}
[ $# -lt 2 ] || shift
shift
case $limit in
'' | *[!0-9]*) echo "boot-root: TIMEOUT '$limit' is not a number of seconds" >&2; exit 64 ;;
esac
command -v systemd-nspawn >/dev/null || { echo "boot-root: systemd-nspawn is not installed (make deps)" >&2; exit 69; }
[ -x "$root/lib/systemd/systemd" ] || [ -x "$root/usr/lib/systemd/systemd" ] ||
	{ echo "boot-root: '$root' has no systemd to boot (debootstrap --include=systemd-sysv)" >&2; exit 66; }

units=$root/etc/systemd/system
mkdir -p "$units/multi-user.target.wants" "$root/var/log/journal" "$root/var/lib/dsvm-test"
cat >"$units/dsvm-test-poweroff.service.tmp" <<'UNIT'
# Installed by tests/tools/boot-root.sh: power the test container off once it has booted.
[Unit]
Description=dsvm test: power off once multi-user.target is reached
After=multi-user.target
# Also after the rest of the boot, which the poweroff would otherwise kill in passing (seen:
# systemd-update-utmp-runlevel.service "Failed with result 'signal'").
After=graphical.target systemd-update-utmp-runlevel.service
# Cleaner than running `systemctl poweroff --no-block`, whose job stops this unit while it is
# still activating ("Failed with result 'signal'" in the journal).
SuccessAction=poweroff
FailureAction=poweroff

[Service]
Type=oneshot
# $$ is systemd's escape for a literal $.
ExecStart=/bin/sh -c 'read -r id </proc/sys/kernel/random/boot_id; read -r up _ </proc/uptime; \
	echo "$$id $$up" >>/var/lib/dsvm-test/reached-multi-user'

[Install]
WantedBy=multi-user.target
UNIT
mv "$units/dsvm-test-poweroff.service.tmp" "$units/dsvm-test-poweroff.service"
ln -sfn ../dsvm-test-poweroff.service "$units/multi-user.target.wants/dsvm-test-poweroff.service"

# On TERM from timeout nspawn asks the container to halt; KILL 10 s later if it has not.
exec timeout -k 10 "$limit" systemd-nspawn -D "$root" -b --register=no --keep-unit \
	--console=passive "$@" </dev/null
