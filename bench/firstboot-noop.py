#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench-firstboot's timing loop for the no-op boot (see bench/bench-firstboot.sh).

Usage: firstboot-noop.py RUNS FIRSTBOOT ROOT SYSROOT EMPTY_FILE CLOUD_INIT(yes|"")

Runs `dsvm-firstboot run` (no-op), /bin/true and, when CLOUD_INIT is "yes", `cloud-init query`
alternately in one loop, so the harness costs the same for each; prints the medians, the
ratios against their targets, and the no-op's peak RSS measured in a process of its own.
"""

import statistics
import subprocess
import sys
import time


def main():
    runs, fb, root, sr, empty, cloud_init = sys.argv[1:7]
    runs = int(runs)
    cmds = {
        "dsvm": [fb, "run", "--root", root, "--sysroot", sr, "--no-imds"],
        "true": ["/bin/true"],
    }
    if cloud_init:
        cmds["cloud-init"] = ["cloud-init", "query", "--instance-data",
                              sr + "/run/cloud-init/instance-data.json", "--user-data", empty,
                              "--vendor-data", empty, "ds.meta_data.imds.compute.vmSize"]
    times = {k: [] for k in cmds}
    slow_runs = max(5, runs // 20)  # cloud-init takes most of a second: fewer runs suffice
    for i in range(runs):
        for name, cmd in cmds.items():
            if name == "cloud-init" and i >= slow_runs:
                continue
            t0 = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times[name].append((time.perf_counter() - t0) * 1000)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["dsvm"] / med["true"]
    print("bench-firstboot: no-op boot, %d runs: dsvm-firstboot run median %.2f ms, /bin/true "
          "%.2f ms, ratio %.2f (target <= 2: %s)"
          % (runs, med["dsvm"], med["true"], ratio, "met" if ratio <= 2 else "MISSED"))
    if "cloud-init" in med:
        speed = med["cloud-init"] / med["dsvm"]
        print("bench-firstboot: cloud-init query vmSize median %.0f ms (%d runs): the no-op is "
              "%.0fx faster (target >= 100x: %s)"
              % (med["cloud-init"], len(times["cloud-init"]), speed,
                 "met" if speed >= 100 else "MISSED"))
    else:
        print("bench-firstboot: no cloud-init baseline: cloud-init is not installed (make deps)")
    # Peak RSS of the no-op alone, measured by GNU time (a small parent: a Python parent's own
    # memory would count in the child's maximum up to its exec).
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmds["dsvm"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, check=True)
    mib = int(p.stderr.strip().splitlines()[-1]) / 1024.0
    print("bench-firstboot: no-op peak RSS %.1f MiB (target <= 8 MiB: %s)"
          % (mib, "met" if mib <= 8 else "MISSED"))


if __name__ == "__main__":
    main()
