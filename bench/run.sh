#!/bin/sh
# Run every bench/bench-*.sh; each prints its figures and ratios against its baseline.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
export DSVM_TOP="$top"
export DSVM_BUILD="$top/${BUILD:-build}"
export PATH="$DSVM_BUILD:$DSVM_BUILD/tools:$PATH"
export runs=${BENCH_RUNS:-50}
# Trees the benches extracted, removed only at the end (bench-pipeline.sh says why).
export DSVM_BENCH_TRASH="$DSVM_BUILD/bench-trash"
trap 'rm -rf "$DSVM_BENCH_TRASH"' EXIT
status=0
for b in "$top"/bench/bench-*.sh; do
	echo "== $(basename "$b" .sh)"
	sh "$b" || status=1
done
exit $status
