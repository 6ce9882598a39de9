#!/bin/sh
# T1 (TESTING.md) for `dsvm-firstboot run`: an image root built by `dsvm-build image` from the
# sample mirror (nvidia-open installed, the other kinds staged) goes through two switches that
# between them take every kind of step: A100 -> A10 under GRID (services stopped, apt purge,
# the GRID runfile, services enabled) and A10 GRID -> MI300X (the runfile's own uninstaller and
# its leftovers, apt install of another vendor, the framework build switched). For each switch
# the run is killed at every journal step k (DSVM_CRASH_AT=k, right after the step's begin
# record) and in its middle (k:mid); the next run must resume and end in the tree of an
# uninterrupted run (tests/tools/root-state.py: files, links, modes, hashes, dpkg's view), and a
# further run must be a no-op. Needs root (chroot), debootstrap's cache, python3 and jq.
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${DSVM_BUILD:-$top/build}
fb=$build/dsvm-firstboot
. "$top/tests/tools/image-root.sh"
image_setup jq
. "$top/tests/tools/check.sh"
image_root "$work/base0"
python3 "$top/tests/tools/make-sysroot.py" "$work/fixtures" a100-pcie a10-grid mi300x >/dev/null

run() { # ROOT FIXTURE [ENV...]
	r=$1
	s=$work/fixtures/$2
	shift 2
	env "$@" "$fb" run --root "$r" --sysroot "$s" --no-imds --json
}

points=0
ok=0
total_steps=0
base=$work/base0
i=0
# Under the sanitizer build (the suite's second run) the first switch is enough.
switches="a100-pcie:a10-grid a10-grid:mi300x"
[ -z "${DSVM_SANITIZED:-}" ] || switches=a100-pcie:a10-grid
for switch in $switches; do
	from=${switch%%:*}
	to=${switch#*:}
	i=$((i + 1))
	# The starting point: the base after a boot on the first fixture, uninterrupted.
	start=$work/start$i
	fresh_root "$base" "$work/s$i"
	run "$work/s$i" "$from" >/dev/null 2>"$work/err" || { echo "FAIL: boot on $from: $(tail -n 5 "$work/err")"; exit 1; }
	cp -a "$work/s$i" "$start"
	umount "$work/s$i" 2>/dev/null || true
	# The uninterrupted switch.
	fresh_root "$start" "$work/u"
	run "$work/u" "$to" >"$work/u.json" 2>"$work/err" || { echo "FAIL: $from -> $to: $(tail -n 5 "$work/err")"; exit 1; }
	n=$(jq '.steps | length' "$work/u.json")
	total_steps=$((total_steps + n))
	python3 "$top/tests/tools/root-state.py" "$work/u" >"$work/u.state"
	check "$from -> $to: to $(jq -r .to "$work/u.json")" [ "$(jq -r .outcome "$work/u.json")" = pending ]
	k=1
	while [ "$k" -le "$n" ]; do
		for at in "$k" "$k:mid"; do
			points=$((points + 1))
			fresh_root "$start" "$work/r"
			rc=0
			run "$work/r" "$to" DSVM_CRASH_AT="$at" >/dev/null 2>"$work/err" || rc=$?
			if [ "$rc" -ne 137 ]; then
				no "$from -> $to, DSVM_CRASH_AT=$at: exit $rc, not killed: $(tail -n 3 "$work/err")"
				continue
			fi
			if ! run "$work/r" "$to" >"$work/re.json" 2>"$work/err"; then
				no "$from -> $to, DSVM_CRASH_AT=$at: rerun failed: $(tail -n 5 "$work/err")"
				continue
			fi
			python3 "$top/tests/tools/root-state.py" "$work/r" >"$work/r.state"
			if ! cmp -s "$work/u.state" "$work/r.state"; then
				no "$from -> $to, DSVM_CRASH_AT=$at: tree differs: $(diff "$work/u.state" "$work/r.state" | head -n 6)"
				continue
			fi
			if [ "$(run "$work/r" "$to" 2>/dev/null | jq -r .outcome)" != no-op ]; then
				no "$from -> $to, DSVM_CRASH_AT=$at: a further run is not a no-op"
				continue
			fi
			ok=$((ok + 1))
		done
		k=$((k + 1))
	done
	umount "$work/u" 2>/dev/null || true
	base=$start
done
[ "$fail" -eq 0 ] || { echo "firstboot crash: $fail failures"; exit 1; }
echo "T1 firstboot: $ok/$points crash points over $total_steps steps of $(echo $switches | wc -w) switches end in the uninterrupted tree; a further run changes nothing"
