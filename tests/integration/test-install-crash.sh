#!/bin/sh
# T1 crash safety (TESTING.md) for dsvm-build install. The steps of a clean run are counted
# (N); then for every step k a fresh root is installed with DSVM_CRASH_AT=k (SIGKILL right
# after step k's begin record) and with DSVM_CRASH_AT=k:mid (SIGKILL in the middle of its work:
# a temporary written but not renamed, an archive committed but its receipt not written, a
# redist half merged). Each run must die by SIGKILL; the rerun without the hook must resume
# (the journal names step k as interrupted), exit 0, and leave exactly the tree of the
# uninterrupted run (types, modes, sizes, link targets, sha256 of every file); a further run
# must change nothing. A crash point a step never reaches (a step with no midpoint) counts
# only if the run then completes with the same tree.
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/fixtures/install/setup.sh"
install_setup
inst() { "$bin" install "$lock" --cache "$cache" --no-systemctl "$@"; }

inst --root "$work/clean" --json >"$work/clean.json" 2>"$work/err" ||
	{ echo "FAIL: clean install: $(cat "$work/err")"; exit 1; }
n=$(jq .steps "$work/clean.json")
snapshot "$work/clean" >"$work/clean.tree"
[ "$n" -ge 5 ] || { echo "FAIL: only $n steps"; exit 1; }

fail=0
points=0
ok=0
killed_mid=0
k=1
while [ "$k" -le "$n" ]; do
	for at in "$k" "$k:mid"; do
		points=$((points + 1))
		root=$work/r
		rm -rf "$root"
		rc=0
		DSVM_CRASH_AT=$at inst --root "$root" >/dev/null 2>"$work/err" || rc=$?
		if [ "$at" = "$k" ] && [ "$rc" -ne 137 ]; then
			echo "FAIL: DSVM_CRASH_AT=$at: exit $rc, not killed: $(tail -n 3 "$work/err")"
			fail=$((fail + 1))
			continue
		fi
		if [ "$rc" -eq 137 ]; then
			[ "$at" = "$k" ] || killed_mid=$((killed_mid + 1))
			[ -s "$root/var/lib/dsvm/journal/install.journal" ] ||
				{ echo "FAIL: DSVM_CRASH_AT=$at: no journal left"; fail=$((fail + 1)); continue; }
			if ! inst --root "$root" --json >"$work/re.json" 2>"$work/err"; then
				echo "FAIL: DSVM_CRASH_AT=$at: rerun failed: $(tail -n 3 "$work/err")"
				fail=$((fail + 1))
				continue
			fi
			got=$(jq -c '[.resumed_at, .resumed]' "$work/re.json")
			if [ "$got" != "[$k,$((k - 1))]" ]; then
				echo "FAIL: DSVM_CRASH_AT=$at: rerun resumed $got, want [$k,$((k - 1))]"
				fail=$((fail + 1))
				continue
			fi
		elif [ "$rc" -ne 0 ]; then
			echo "FAIL: DSVM_CRASH_AT=$at: exit $rc: $(tail -n 3 "$work/err")"
			fail=$((fail + 1))
			continue
		fi
		snapshot "$root" >"$work/tree"
		if ! cmp -s "$work/clean.tree" "$work/tree"; then
			echo "FAIL: DSVM_CRASH_AT=$at: tree differs from the uninterrupted run:"
			diff "$work/clean.tree" "$work/tree" | head -10
			fail=$((fail + 1))
			continue
		fi
		inst --root "$root" --json >"$work/again.json" 2>"$work/err" || true
		snapshot "$root" >"$work/tree2"
		if ! cmp -s "$work/tree" "$work/tree2" ||
			[ "$(jq -c '[.installed, .staged, .unchanged]' "$work/again.json")" != "[0,0,$n]" ]; then
			echo "FAIL: DSVM_CRASH_AT=$at: a further run changed something"
			fail=$((fail + 1))
			continue
		fi
		ok=$((ok + 1))
	done
	k=$((k + 1))
done
[ "$killed_mid" -ge 4 ] || { echo "FAIL: only $killed_mid steps have a midpoint"; fail=$((fail + 1)); }
[ "$fail" -eq 0 ] || { echo "$fail of $points crash points failed"; exit 1; }
echo "T1: $ok/$points crash points end in the same tree and state; a further run changes nothing ($n steps, $killed_mid killed mid-step)"
