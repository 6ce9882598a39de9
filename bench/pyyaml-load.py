"""Baseline for bench-resolve: only *load* an edition and its includes with PyYAML, N times.

Prints the median in microseconds for the pure-Python SafeLoader and for PyYAML's libyaml-backed
CSafeLoader (when built), one per line. Usage: pyyaml-load.py EDITION RUNS
"""
import os
import statistics
import sys
import time

import yaml


def files_of(edition):
    with open(edition) as f:
        doc = yaml.safe_load(f)
    base = os.path.dirname(edition)
    return [edition] + [os.path.join(base, p) for p in doc["include"]]


def median_us(paths, loader, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for p in paths:
            with open(p) as f:
                yaml.load(f, Loader=loader)
        times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times)


def main():
    edition, runs = sys.argv[1], int(sys.argv[2])
    paths = files_of(edition)
    print(f"{median_us(paths, yaml.SafeLoader, runs):.1f}")
    cloader = getattr(yaml, "CSafeLoader", None)
    print(f"{median_us(paths, cloader, runs):.1f}" if cloader else "nan")


main()
