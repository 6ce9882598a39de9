#!/bin/sh
# Run one libFuzzer binary for a fixed number of seconds over its seed corpus.
# Usage: run.sh BINARY SECONDS
set -eu
bin=$1
secs=$2
name=$(basename "$bin")
seeds="$(dirname "$0")/corpus/${name#fuzz-}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -d "$seeds" ] && cp -r "$seeds"/. "$work"/ 2>/dev/null || true
if "$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 "$work" >"$work.log" 2>&1; then
	echo "fuzz $name: $(grep -Eo 'Done [0-9]+ runs' "$work.log" | tail -n 1) in ${secs}s, 0 crashes"
	rm -f "$work.log"
else
	tail -n 60 "$work.log"
	rm -f "$work.log"
	echo "fuzz $name: crash (see above)" >&2
	exit 1
fi
