#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""pwsh-fixture-lock.py BASE_LOCK OUT: BASE_LOCK (a Windows lock) plus three staged driver
components and their stacks, for the PowerShell generator's tests: an exe pinned by an
Authenticode signer with a file version, one pinned without a file version, and an msi pinned by
sha256 alone. The URLs, names and digests are made up (downloads.example.com, the sha256 of the
component's name): this lock is never fetched, only turned into scripts.
"""

import hashlib
import json
import sys

PIN = {"subject": "CN=Example Vendor Inc, O=Example Vendor Inc, C=US",
       "chain": ["Example Code Signing CA 1", "Example Root CA"], "file_version": "1.2.0.0"}
DRIVERS = [
    ("fixture-nvidia-datacenter", "exe", "nvidia-datacenter", "datacenter-setup.exe", 4096, PIN),
    ("fixture-nvidia-grid", "exe", "nvidia-grid", "grid-setup.exe", 8192, dict(PIN, file_version=None)),
    ("fixture-amd-radeon-pro", "msi", "amd-radeon-pro", "radeon-pro.msi", 2048, None),
]


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    lock = json.load(open(sys.argv[1]))
    order = len(lock["components"])
    for name, kind, dkind, file, size, pin in DRIVERS:
        order += 1
        art = {"name": file, "url": "https://downloads.example.com/fixture/" + file,
               "sha256": hashlib.sha256(name.encode()).hexdigest(), "size": size, "installer": kind}
        if pin:
            art["authenticode"] = pin
            art["seal"] = "sealed"
        lock["components"].append({
            "order": order, "name": name, "kind": kind, "version": "1.0", "action": "stage",
            "driver_kinds": [dkind], "driver": {"kind": dkind, "branch": "1"},
            "provides": [], "requires": [],
            "args": ["-s", "-noreboot"] if kind == "exe" else ["/qn", "/norestart"],
            "source": {}, "artifacts": [art], "description": "fixture driver for " + dkind,
            "record": None, "defined_at": "tests/tools/pwsh-fixture-lock.py:1:1",
            "reason": "fixture: staged for " + dkind})
    lock["edition"] = "windows-fixture"
    lock["stacks"] = [{"driver_kind": dkind, "branch": "1", "version": "1.0", "driver_component": name,
                       "cuda_max": None, "installed": False,
                       "components": [{"name": name, "kind": kind, "when": {}, "remove": "keep"}]}
                      for name, kind, dkind, _, _, _ in DRIVERS]
    with open(sys.argv[2], "w") as f:
        json.dump(lock, f, indent=2)
        f.write("\n")


main()
