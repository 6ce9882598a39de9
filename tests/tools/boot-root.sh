#!/bin/sh
# Boot an image root under a real systemd until it reaches multi-user.target, then power off:
#   boot-root.sh ROOT TIMEOUT [systemd-nspawn options...]
# Installs into ROOT (idempotently) dsvm-test-poweroff.service, a oneshot ordered after
# multi-user.target and wanted by default.target, that runs `systemctl poweroff --no-block`, then
# runs `systemd-nspawn -D ROOT -b --register=no --keep-unit --console=passive` (no host systemd
# or D-Bus needed; FIELD-NOTES) under `timeout TIMEOUT` with stdin from /dev/null and the extra
# options (e.g. --bind-ro=HOST:/fixture). The console goes to stdout. Exit status: nspawn's (0
# when the container powered off), 124 when it did not within TIMEOUT seconds, 64 usage, 69 no
# systemd-nspawn. Needs root.
set -eu
[ $# -ge 2 ] || { echo "usage: boot-root.sh ROOT TIMEOUT [systemd-nspawn options...]" >&2; exit 64; }
root=$1
limit=$2
shift 2
command -v systemd-nspawn >/dev/null || { echo "boot-root: systemd-nspawn is not installed (make deps)" >&2; exit 69; }
unit=$root/etc/systemd/system/dsvm-test-poweroff.service
mkdir -p "$root/etc/systemd/system/default.target.wants"
cat >"$unit" <<'UNIT'
[Unit]
Description=dsvm test: power off once multi-user.target is reached
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/systemctl poweroff --no-block
UNIT
ln -sfn /etc/systemd/system/dsvm-test-poweroff.service \
	"$root/etc/systemd/system/default.target.wants/dsvm-test-poweroff.service"
exec timeout "$limit" systemd-nspawn -D "$root" -b --register=no --keep-unit --console=passive \
	"$@" </dev/null
