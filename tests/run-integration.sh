#!/bin/sh
# Run every tests/integration/test-*.sh with the built binaries on PATH. A test exits 0 (pass),
# 77 (skip: it prints why) or anything else (fail). One summary line at the end.
set -u
BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
export DSVM_TOP="$top"
export DSVM_BUILD="$top/$BUILD"
export PATH="$top/$BUILD:$top/$BUILD/tools:$PATH"
pass=0
fail=0
skip=0
for t in "$top"/tests/integration/test-*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	log=$(mktemp)
	start=$(date +%s)
	if sh "$t" >"$log" 2>&1; then
		pass=$((pass + 1))
		# Each test ends with its figure (TESTING.md): show it, and what it cost.
		echo "ok   $name ($(($(date +%s) - start)) s): $(tail -n 1 "$log")"
	else
		rc=$?
		if [ "$rc" -eq 77 ]; then
			skip=$((skip + 1))
			echo "skip $name: $(tail -n 1 "$log")"
		else
			fail=$((fail + 1))
			echo "FAIL $name (exit $rc, $(($(date +%s) - start)) s)"
			sed 's/^/    /' "$log" | tail -n 40
		fi
	fi
	rm -f "$log"
done
echo "integration: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
