#!/bin/sh
# Resolve the full Ubuntu 22.04 edition (all driver kinds staged) in process, against merely
# loading the same YAML files with python3 + PyYAML, side by side. Targets (issue 2): median
# <= 10 ms and >= 10x faster than PyYAML's SafeLoader.
set -eu
top=${DSVM_TOP:?}
bin=${DSVM_BUILD:?}/bench/bench-resolve
edition="$top/manifests/editions/ubuntu-22.04.yaml"
runs=${BENCH_RUNS:-50}

ours=$("$bin" "$edition" "$top/manifests/hardware" "$runs")
set -- $(python3 "$top/bench/pyyaml-load.py" "$edition" "$runs")
awk -v ours="$ours" -v py="$1" -v pyc="$2" -v runs="$runs" 'BEGIN {
	printf "resolve ubuntu-22.04 (load + resolve + lock, every kind staged, %d runs): median %.2f ms (target <= 10 ms: %s)\n", runs, ours / 1000, (ours <= 10000) ? "met" : "MISSED"
	printf "  baseline python3 PyYAML SafeLoader, load only: median %.2f ms -> %.1fx faster (target >= 10x: %s)\n", py / 1000, py / ours, (py / ours >= 10) ? "met" : "MISSED"
	if (pyc != "nan")
		printf "  for reference, PyYAML CSafeLoader (libyaml), load only: median %.2f ms -> %.1fx\n", pyc / 1000, pyc / ours
}'
