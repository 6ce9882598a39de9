#!/bin/sh
# T9 (TESTING.md): the image root booted under a real systemd. `dsvm-build image` builds the
# sample edition (tests/tools/make-sample-mirror.py) into a Debian root that has systemd-sysv;
# dsvm-firstboot and its unit (firstboot/dsvm-firstboot.service) go in as an image build puts
# them; a test drop-in points the unit's --sysroot at a fixture bound into the container at
# /fixture, and a test unit powers the container off once multi-user.target is reached
# (tests/tools/boot-root.sh). Each boot is `systemd-nspawn -b` of the root. The walk: CPU ->
# T4 -> ND A100 v4 (NVSwitch + InfiniBand) -> A10 under GRID -> MI300X -> CPU, each followed by
# a boot on the same machine that checks the module the switch installed (pending -> ok) and
# one more that must be a no-op; one boot killed in the middle of a switch
# (DSVM_CRASH_AT) whose next boot finishes it; one Secure Boot boot that must end blocked in
# CPU mode. Checked from outside after each boot, in the root's own journal and files: the unit
# ran and finished before the units it must precede started, the new kind's services started in
# the boot that installed them, status and state, the no-op boots.
# Needs root, systemd-nspawn (make deps), debootstrap's cache, python3, jq.
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${DSVM_BUILD:-$top/build}
. "$top/tests/tools/image-root.sh"
image_setup systemd-nspawn journalctl jq
. "$top/tests/tools/check.sh"
root=$work/root
image_root "$root"
[ -x "$root/lib/systemd/systemd" ] || { echo "FAIL: the root has no systemd to boot"; exit 1; }

# The agent and its unit, as an image build installs them; the journal kept on disk.
install -D -m 0755 "$build/dsvm-firstboot" "$root/usr/sbin/dsvm-firstboot"
install -D -m 0644 "$top/firstboot/dsvm-firstboot.service" "$root/etc/systemd/system/dsvm-firstboot.service"
systemctl --root="$root" enable dsvm-firstboot.service >/dev/null 2>&1
mkdir -p "$root/var/log/journal" "$root/etc/systemd/system/dsvm-firstboot.service.d"
python3 "$top/tests/tools/make-sysroot.py" "$work/fx" cpu-only t4 nd-a100-v4 a10-grid a10-grid-sb mi300x >/dev/null

dropin() { # [ENV]
	{
		echo "[Service]"
		echo "ExecStart="
		echo "ExecStart=/usr/sbin/dsvm-firstboot run --sysroot /fixture --no-imds"
		[ -z "${1:-}" ] || echo "Environment=$1"
	} >"$root/etc/systemd/system/dsvm-firstboot.service.d/test.conf"
}
loaded=
n=0
# boot MACHINE [ENV]: a new boot id, the module a load of the last install would show, boot.
boot() {
	n=$((n + 1))
	sr=$work/boot$n
	rm -rf "$sr"
	cp -a "$work/fx/$1" "$sr"
	mkdir -p "$sr/proc/sys/kernel/random"
	cat /proc/sys/kernel/random/uuid >"$sr/proc/sys/kernel/random/boot_id"
	if [ -n "$loaded" ]; then
		mkdir -p "$sr/sys/module/${loaded%%=*}"
		echo "${loaded#*=}" >"$sr/sys/module/${loaded%%=*}/version"
	fi
	dropin "${2:-}"
	rc=0
	sh "$top/tests/tools/boot-root.sh" "$root" 120 --bind-ro="$sr:/fixture" >"$work/console$n" 2>&1 || rc=$?
	check "boot $n ($1): nspawn exit $rc: $(tail -n 5 "$work/console$n")" [ "$rc" -eq 0 ]
	journalctl -D "$root/var/log/journal" -b -o short-monotonic --no-pager >"$work/journal$n" 2>/dev/null || true
	"$build/dsvm-firstboot" status --root "$root" --json >"$work/status$n.json"
	case $(jq -r .mode "$work/status$n.json") in
	nvidia-*) loaded="nvidia=$(jq -r .version "$work/status$n.json")" ;;
	amd-*) loaded="amdgpu=$(jq -r .version "$work/status$n.json")" ;;
	*) loaded= ;;
	esac
}
# Monotonic time of the first journal line matching a pattern in this boot's journal.
at() { # PATTERN
	grep -m 1 -- "$1" "$work/journal$n" | sed 's/^\[ *\([0-9.]*\)\].*/\1/'
}
before() { # PATTERN-A PATTERN-B: A happened, and before B (or B never did)
	a=$(at "$1")
	b=$(at "$2")
	[ -n "$a" ] && { [ -z "$b" ] || awk -v a="$a" -v b="$b" 'BEGIN { exit !(a < b) }'; }
}
expect() { # MACHINE MODE RESULT SERVICE...: state and services after this boot
	machine=$1 mode=$2 result=$3
	shift 3
	s=$work/status$n.json
	check "boot $n ($machine): mode $(jq -r .mode "$s"), want $mode" [ "$(jq -r .mode "$s")" = "$mode" ]
	check "boot $n ($machine): result $(jq -r .result "$s"), want $result" [ "$(jq -r .result "$s")" = "$result" ]
	check "boot $n ($machine): the agent ran to its end: $(grep dsvm-firstboot "$work/journal$n" | tail -n 3)" \
		grep -q 'Finished dsvm-firstboot.service' "$work/journal$n"
	check "boot $n ($machine): the agent finished before multi-user.target" \
		before 'Finished dsvm-firstboot.service' 'Reached target multi-user.target'
	for unit in "$@"; do
		check "boot $n ($machine): $unit started after the agent finished, in this boot" \
			before 'Finished dsvm-firstboot.service' "Start.* $unit"
		check "boot $n ($machine): $unit active in the boot that installed it" \
			grep -q "Finished $unit\|Started $unit" "$work/journal$n"
	done
}
verified() { # MACHINE: the boot after a switch checks the module it installed, then settles
	boot "$1"
	check "boot $n ($1 again): the module checked after the reboot: $(grep 'dsvm-firstboot\[' "$work/journal$n" | tail -n 2)" \
		grep -q 'module loaded at the installed version after the reboot' "$work/journal$n"
	check "boot $n ($1 again): now ok" [ "$(jq -r .result "$work/status$n.json")" = ok ]
}
noop() { # MACHINE
	boot "$1"
	check "boot $n ($1 again): a no-op: $(grep 'dsvm-firstboot\[' "$work/journal$n" | tail -n 2)" \
		grep -q 'dsvm-firstboot\[[0-9]*\]: no-op' "$work/journal$n"
}

boot cpu-only
expect cpu-only none ok
noop cpu-only
boot t4
expect t4 nvidia-open pending nvidia-persistenced.service
verified t4
noop t4
boot nd-a100-v4
expect nd-a100-v4 nvidia-open pending nvidia-fabricmanager.service
verified nd-a100-v4
noop nd-a100-v4
boot a10-grid
expect a10-grid nvidia-grid pending nvidia-persistenced.service
verified a10-grid
noop a10-grid
# Killed in the middle of the switch to MI300X: boot goes on; the next boot finishes it.
boot mi300x DSVM_CRASH_AT=4:mid
check "boot $n (mi300x, killed): the boot still reached multi-user.target" grep -q 'Reached target multi-user.target' "$work/journal$n"
check "boot $n (mi300x, killed): the unit failed, it did not hang" grep -q 'Failed to start dsvm-firstboot.service\|dsvm-firstboot.service: Main process exited' "$work/journal$n"
check "boot $n (mi300x, killed): a switch is left in progress" [ "$(jq -r .switch_in_progress "$work/status$n.json")" = true ]
boot mi300x
expect mi300x amd-rocm pending
verified mi300x
noop mi300x
boot cpu-only
expect cpu-only none ok
noop cpu-only
# Secure Boot on an A10 under GRID: its module is built on the VM, so CPU mode, blocked.
boot a10-grid-sb
expect a10-grid-sb none blocked
check "boot $n (secure boot): status says the way out" sh -c "jq -r .reason '$work/status$n.json' | grep -q 'Way out'"
noop a10-grid-sb

[ "$fail" -eq 0 ] || { echo "boot: $fail of $checks checks failed"; exit 1; }
echo "T9 boot: $n boots of the image under systemd-nspawn (CPU -> T4 -> ND A100 v4 -> A10 GRID -> MI300X, one killed mid-switch -> CPU, Secure Boot blocked), $checks checks hold, every repeat boot a no-op"
