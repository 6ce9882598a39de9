#!/bin/sh
# Benchmark: `dsvm-firstboot detect --no-imds --no-disks --json` against `lspci -n` reading the
# same generated sysroot (8 GPUs, 8 InfiniBand ports, 4 NVSwitches, 100 other PCI functions;
# tests/tools/make-sysroot.py case "bench"). Both are whole processes, run alternately N times;
# the medians and their ratio are printed, with the cost of merely starting the binary (its
# --help) for scale. Targets (issue 9): the whole detect within 2x the median of /bin/true and
# faster than lspci -n, side by side in the same run; the catalog comes from the index `make`
# compiled from its YAML (lib/catalog-index.h), and the in-process line shows what parsing the
# YAML instead would cost.
# lspci's sysfs access method and its path parameter: `lspci -A linux-sysfs -O sysfs.path=DIR`
# (listed by `lspci -O help`: "sysfs.path  Path to the sysfs device tree (/sys/bus/pci)").
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
bin=$build/dsvm-firstboot
runs=${BENCH_RUNS:-200}
for tool in python3 lspci; do
	command -v "$tool" >/dev/null || { echo "bench-detect: skip, $tool is not installed (make deps)"; exit 0; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$top/tests/tools/make-sysroot.py" "$work" bench
sr=$work/bench

# Sanity: both see the same tree (120 functions), and detect finds what was generated.
n_lspci=$(lspci -n -A linux-sysfs -O "sysfs.path=$sr/sys/bus/pci" | wc -l)
"$bin" detect --sysroot "$sr" --no-imds --no-disks --json >"$work/out.json"
if command -v jq >/dev/null; then
	jq -e '.gpu_count == 8 and .nvswitch_count == 4 and .infiniband_ports == 8
		and .pci_devices == 120' "$work/out.json" >/dev/null ||
		{ echo "bench-detect: detect output is wrong: $(cat "$work/out.json")"; exit 1; }
fi

# One timing loop in Python for both commands, so the harness costs the same for each.
python3 - "$runs" "$n_lspci" "$bin" "$sr" <<'EOF'
import statistics, subprocess, sys, time
runs, n_lspci, binary, sr = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
cmds = {
    "dsvm": [binary, "detect", "--sysroot", sr, "--no-imds", "--no-disks", "--json"],
    "lspci": ["lspci", "-n", "-A", "linux-sysfs", "-O", "sysfs.path=%s/sys/bus/pci" % sr],
    # The floor under both: starting the binary (dynamic linking) and exiting, no work.
    "startup": [binary, "--help"],
    # The harness's own floor: fork, exec and wait for a program that does nothing.
    "true": ["/bin/true"],
}
times = {k: [] for k in cmds}
for _ in range(runs):
    for name, cmd in cmds.items():
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times[name].append((time.perf_counter() - t0) * 1000)
med = {k: statistics.median(v) for k, v in times.items()}
print("bench-detect: %d PCI functions, %d runs each" % (n_lspci, runs))
print("bench-detect: dsvm-firstboot detect median %.2f ms, lspci -n median %.2f ms, ratio %.2f"
      % (med["dsvm"], med["lspci"], med["dsvm"] / med["lspci"]))
print("bench-detect: of which starting %s (dynamic linking, exit) median %.2f ms; /bin/true %.2f ms"
      % (binary.rsplit("/", 1)[-1], med["startup"], med["true"]))
# Issue 9's targets, as ratios in this run: the whole detect within 2x /bin/true, and faster
# than lspci -n on the same tree.
r_true, r_lspci = med["dsvm"] / med["true"], med["dsvm"] / med["lspci"]
print("bench-detect: whole process, detect / /bin/true %.2f (target <= 2: %s), detect / lspci -n "
      "%.2f (target < 1: %s)" % (r_true, "met" if r_true <= 2 else "MISSED", r_lspci,
                                  "met" if r_lspci < 1 else "MISSED"))
EOF

# In process: what a long-lived caller pays per detection, and the catalog load it pays once:
# from the index, and from a copy whose files differ by a comment (so every one is parsed).
mkdir "$work/parsed"
for f in "$top"/manifests/hardware/*.yaml; do
	{ cat "$f"; echo "# not the indexed bytes"; } >"$work/parsed/${f##*/}"
done
set -- $("$build/bench/bench-detect-core" "$sr" "$top/manifests/hardware" "$runs") \
	$("$build/bench/bench-detect-core" "$sr" "$work/parsed" 20)
awk -v core="$1" -v cat="$2" -v parsed="$4" 'BEGIN {
	printf "bench-detect: in process, detect + select + JSON median %.2f ms (target <= 2 ms: %s); catalog load %.2f ms from the index, %.2f ms parsing the YAML (ratio %.1f)\n", core / 1000, (core <= 2000) ? "met" : "MISSED", cat / 1000, parsed / 1000, parsed / cat
}'
