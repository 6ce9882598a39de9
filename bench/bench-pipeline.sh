#!/bin/sh
# One-pass fetch + verify + extract (dsvm_prepare_items) of ~300 MB of tar.xz and tar.zst served
# from loopback by the project's server, against what bounds it and against the plain shell way,
# all in this run:
#   OURS      bench-pipeline, cold cache: every artifact fetched, hashed, cached and extracted
#   BOUND     the larger of: decompressing every artifact to /dev/null (xz -T2 -dc, zstd -dc,
#             one after the other) and GNU tar extracting the same content uncompressed
#   BASELINE  for each artifact in turn: curl -o, sha256sum, tar -x
# Targets: OURS <= 1.15 x BOUND; BASELINE / OURS >= 1.5; OURS peak RSS <= 64 MiB whatever the
# size; a rerun with a warm cache transfers 0 bytes. Figures only: a MISS does not fail.
# BENCH_PIPELINE_MB scales the data (default 300; generated once under $DSVM_BUILD/bench-data),
# BENCH_PIPELINE_J sets the items in flight (default 2, one per core here). BENCH_PIPELINE_SET
# picks the shape (bench/make-pipeline-data.py --set, default mixed) and BENCH_PIPELINE_TARGET
# the OURS/BOUND target (default 1.15); bench-pipeline-xz.sh runs this on the xz-dominant set.
set -eu
top=${DSVM_TOP:?}
build=${DSVM_BUILD:?}
bin=$build/bench/bench-pipeline
mb=${BENCH_PIPELINE_MB:-300}
jobs=${BENCH_PIPELINE_J:-2}
set_name=${BENCH_PIPELINE_SET:-mixed}
target=${BENCH_PIPELINE_TARGET:-1.15}
for tool in python3 xz zstd curl sha256sum tar; do
	command -v "$tool" >/dev/null || { echo "pipeline: skipped, $tool is not installed (make deps)"; exit 0; }
done

data=$build/bench-data/pipeline-$mb
[ "$set_name" = mixed ] || data=$build/bench-data/pipeline-$set_name-$mb
if [ ! -s "$data/artifacts.txt" ]; then
	echo "generating ~$mb MB of artifacts ($set_name) in $data (once)"
	python3 "$top/bench/make-pipeline-data.py" --set "$set_name" --mb "$mb" "$data"
fi

# Scratch (the cache, the baseline's downloads) beside the build.
work=$(mktemp -d "$build/bench-pipeline.XXXXXX")
testhttpd_pid=
xroot=
trap '[ -z "$testhttpd_pid" ] || kill "$testhttpd_pid" 2>/dev/null; rm -rf "$work"; case $xroot in /dev/shm/*) rm -rf "$xroot" ;; esac' EXIT
. "$top/tests/tools/testhttpd.sh"
testhttpd_start "$work" --dir "$data/files" || exit 1
base="http://127.0.0.1:$testhttpd_port/files"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
# Where every phase writes its tree (x/): a tmpfs (/dev/shm) when it has room for two trees,
# else beside the build (BENCH_PIPELINE_ON_DISK=1 forces that). Each phase writes the same
# files to the same place, so the ratios compare the pipelines; the tmpfs keeps out what a disk
# adds for reasons of its own: on an ext4 without a journal (this machine's root) the kernel
# skips every inode freed in the last 60 s when it allocates one (fs/ext4/ialloc.c,
# recently_deleted(), checked only when s_journal is NULL), so creating 10,000 files after
# anything removed 10,000 (a test, another bench) costs seconds of system time.
need_kb=$(awk '{ s += $4 } END { printf "%d", 2 * s / 1024 }' "$data/artifacts.txt")
xroot=$work
if [ -z "${BENCH_PIPELINE_ON_DISK:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] &&
	[ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -gt "$need_kb" ]; then
	xroot=$(mktemp -d /dev/shm/dsvm-bench.XXXXXX)
fi
x=$xroot/x
echo "  (trees written under $xroot)"
# On the disk, the tree of the phase before is set aside, not removed, until make bench ends
# (bench/run.sh gives the benches one DSVM_BENCH_TRASH); on the tmpfs it is removed.
trash=${DSVM_BENCH_TRASH:-$work}
set_aside() {
	[ -d "$x" ] || return 0
	if [ "$xroot" != "$work" ]; then
		rm -rf "$x"
		return 0
	fi
	mkdir -p "$trash"
	mv "$x" "$(mktemp -d "$trash/old.XXXXXX")/"
}
# Before each timed phase: an empty x/, written back, and the machine quiet for a second (at
# most 10 s of waiting).
fresh() {
	set_aside
	mkdir "$x"
	sync
	i=0
	while [ "$i" -lt 10 ]; do
		b=$(busy)
		sleep 1
		[ $(($(busy) - b)) -lt 30 ] && break
		i=$((i + 1))
	done
}

# OURS, cold cache; then again with the cache warm.
ours() { "$bin" "$work/cache" "$x" "$base" "$jobs" "$data/artifacts.txt" || echo failed; }
fresh
out=$(ours)
[ "$out" != failed ] || exit 1
set -- $out
ours=$1 ours_bytes=$2 extracted=$3 entries=$4 rss=$5
fresh
out=$(ours)
[ "$out" != failed ] || exit 1
set -- $out
warm=$1 warm_bytes=$2 warm_cached=$6 warm_rss=$5
rm -rf "$work/cache"

# BOUND: decompression alone, then extraction alone (tars decompressed beforehand, untimed).
unpack() {
	case $1 in
	*.xz) xz -T2 -dc "$data/files/$1" ;;
	*) zstd -q -dc "$data/files/$1" ;;
	esac
}
fresh
t=$(now)
while read -r name rest; do
	unpack "$name" >/dev/null
done <"$data/artifacts.txt"
decomp=$(since "$t")
untar=0
while read -r name rest; do
	unpack "$name" >"$work/plain.tar"
	fresh
	t=$(now)
	tar -xf "$work/plain.tar" -C "$x"
	untar=$(awk -v a="$untar" -v b="$(since "$t")" 'BEGIN { print a + b }')
done <"$data/artifacts.txt"
rm -f "$work/plain.tar"

# BASELINE: the shell way, one artifact after another.
fresh
t=$(now)
while read -r name sha size raw entries_n; do
	curl -sf -o "$work/$name" "$base/$name"
	[ "$(sha256sum "$work/$name" | cut -d' ' -f1)" = "$sha" ] || { echo "pipeline: baseline hash mismatch"; exit 1; }
	mkdir "$x/$name"
	tar -xf "$work/$name" -C "$x/$name"
	rm -f "$work/$name"
done <"$data/artifacts.txt"
baseline=$(since "$t")
set_aside

awk -v ours="$ours" -v decomp="$decomp" -v untar="$untar" -v baseline="$baseline" \
	-v rss="$rss" -v warm="$warm" -v warm_bytes="$warm_bytes" -v warm_cached="$warm_cached" \
	-v ours_bytes="$ours_bytes" -v extracted="$extracted" -v entries="$entries" -v jobs="$jobs" \
	-v n="$(wc -l <"$data/artifacts.txt")" -v warm_rss="$warm_rss" -v set="$set_name" \
	-v target="$target" 'BEGIN {
	bound = decomp > untar ? decomp : untar
	printf "pipeline (%s): %d artifacts, %.1f MB compressed -> %.1f MB in %d entries, %d in flight\n", set, n, ours_bytes / 1e6, extracted / 1e6, entries, jobs
	printf "  OURS     fetch + verify + extract, cold cache: %.2f s\n", ours
	printf "  BOUND    max(xz -T2 -dc, zstd -dc to /dev/null %.2f s, GNU tar extract uncompressed %.2f s) = %.2f s -> OURS/BOUND %.2f (target <= %s: %s)\n", decomp, untar, bound, ours / bound, target, (ours / bound <= target + 0) ? "PASS" : "MISS"
	printf "  BASELINE curl -o; sha256sum; tar -x, in turn: %.2f s -> BASELINE/OURS %.2f (target >= 1.5: %s)\n", baseline, baseline / ours, (baseline / ours >= 1.5) ? "PASS" : "MISS"
	printf "  peak RSS of OURS: %.1f MiB (warm run %.1f MiB) (target <= 64 MiB: %s)\n", rss / 1024, warm_rss / 1024, (rss <= 65536) ? "PASS" : "MISS"
	printf "  warm cache rerun: %.2f s, %d bytes transferred, %d of %d from the cache (target 0 bytes: %s)\n", warm, warm_bytes, warm_cached, n, (warm_bytes == 0 && warm_cached == n) ? "PASS" : "MISS"
}'
