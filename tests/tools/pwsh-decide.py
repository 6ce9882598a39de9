#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The Windows first-boot decision, read back from what the generator wrote, checked against C.

  pwsh-decide.py cases CATALOG_JSON SYSROOT_DIR  print the (size, PCI ids) cases: every fixture
                                                 sysroot's ids under every catalogued size, a
                                                 CPU size and no size; every device alone; each
                                                 size with its own GPU, another GPU, an unknown
                                                 NVIDIA and an unknown AMD device
  pwsh-decide.py ids SYSROOT...                  print each SYSROOT and its NVIDIA and AMD PCI ids
  pwsh-decide.py compare CATALOG_JSON FIRSTBOOT_PS1 CASES C_KINDS
                                                 decide each case as Select-DsvmDriverKind does,
                                                 on the table in CATALOG_JSON, and compare with
                                                 C_KINDS (pwsh-select's Linux kinds, one a line,
                                                 mapped to Windows kinds); print the count

The decision below is a line-for-line reading of Select-DsvmDriverKind in the generated
dsvm-firstboot.ps1; `compare` first checks that the script still carries the statements this
reading follows, so a change to one without the other fails.
"""

import json
import os
import re
import sys

# lib/pwsh.c windows_kind(): the Windows names of the Linux kinds.
WINDOWS_KIND = {"nvidia-open": "nvidia-datacenter", "nvidia-proprietary": "nvidia-datacenter",
                "nvidia-legacy-470": "nvidia-datacenter", "amd-rocm": "none"}

# The statements of Select-DsvmDriverKind this reading follows, in order.
PS_SHAPE = [
    r"\$device = \$Table\.devices\.PSObject\.Properties\[\$id\]",
    r"if \(\$id\.StartsWith\('10de:'\)\)",
    r"if \(\$Table\.gpus\.PSObject\.Properties\[\$gpu\]\.Value\.switch\)",
    r"\$served = \$Table\.gpus\.PSObject\.Properties\[\$model\]\.Value\.served",
    r"if \(\$served -ne \$mainServed\)",
    r"\} elseif \(\$counts\[\$model\] -gt \$counts\[\$main\]\)",
    r"\$key = \$Size\.ToLowerInvariant\(\) -replace '\^standard_', ''",
    r"if \(\$null -eq \$main -or \$counts\.ContainsKey\(\$sized\.Value\.gpu\)\)",
    r"Kind = \$Table\.unknown_nvidia_kind",
    r"Kind = \$Table\.unknown_amd_kind",
    r"return @\{ Kind = 'none'",
]


def decide(table, size, ids):
    models, counts = [], {}
    unknown_nvidia = unknown_amd = 0
    for i in ids:
        gpu = table["devices"].get(i)
        if gpu is None:
            if i.startswith("10de:"):
                unknown_nvidia += 1
            else:
                unknown_amd += 1
            continue
        if table["gpus"][gpu]["switch"]:
            continue
        if gpu not in counts:
            counts[gpu] = 0
            models.append(gpu)
        counts[gpu] += 1
    main = None
    for m in models:
        if main is None:
            main = m
            continue
        served, main_served = table["gpus"][m]["served"], table["gpus"][main]["served"]
        if served != main_served:
            if served:
                main = m
        elif counts[m] > counts[main]:
            main = m
    key = re.sub(r"^standard_", "", size.lower())
    sized = table["sizes"].get(key) if key else None
    if sized is not None:
        if main is None or sized["gpu"] in counts:
            return sized["kind"]
        return table["gpus"][main]["kind"]
    if main is not None:
        return table["gpus"][main]["kind"]
    if unknown_nvidia:
        return table["unknown_nvidia_kind"]
    if unknown_amd:
        return table["unknown_amd_kind"]
    return "none"


def sysroot_ids(root):
    base = os.path.join(root, "sys/bus/pci/devices")
    ids = []
    for addr in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        v = open(os.path.join(base, addr, "vendor")).read().strip().lower().replace("0x", "")
        d = open(os.path.join(base, addr, "device")).read().strip().lower().replace("0x", "")
        if v in ("10de", "1002"):
            ids.append("%s:%s" % (v, d))
    return ids


def cases(table, sysroots):
    sizes = [s["name"] for s in table["sizes"].values()]
    out = []
    id_sets = [sysroot_ids(os.path.join(sysroots, c)) for c in sorted(os.listdir(sysroots))]
    for ids in id_sets:
        for size in sizes + ["Standard_D4s_v5", "-"]:
            out.append((size, ids))
    for dev in table["devices"]:
        out.append(("-", [dev]))
    gpu_dev = {}
    for dev, gpu in table["devices"].items():
        gpu_dev.setdefault(gpu, dev)
    others = list(gpu_dev.values())
    for n, s in enumerate(table["sizes"].values()):
        own = gpu_dev.get(s["gpu"])
        other = others[(n * 7) % len(others)]
        if own:
            out.append((s["name"], [own]))
            out.append((s["name"].lower().replace("standard_", ""), [own, own]))
        out.append((s["name"], [other]))
        out.append((s["name"], ["10de:fffe"]))
        out.append((s["name"], ["1002:fffe"]))
    out += [("-", ["10de:fffe"]), ("-", ["1002:fffe"]), ("-", ["1002:fffe", "10de:fffe"]),
            ("Standard_D4s_v5", []), ("-", [])]
    return out


def main():
    a = sys.argv[1:]
    if len(a) >= 2 and a[0] == "ids":
        for root in a[1:]:
            print(" ".join([root] + sysroot_ids(root)))
    elif len(a) == 3 and a[0] == "cases":
        table = json.load(open(a[1]))
        for size, ids in cases(table, a[2]):
            print(" ".join([size] + ids))
    elif len(a) == 5 and a[0] == "compare":
        table = json.load(open(a[1]))
        ps = open(a[2]).read()
        pos = 0
        for rx in PS_SHAPE:
            m = re.compile(rx).search(ps, pos)
            if not m:
                print("FAIL %s: Select-DsvmDriverKind no longer has /%s/ where this reading "
                      "expects it; update tests/tools/pwsh-decide.py with it" % (a[2], rx))
                sys.exit(1)
            pos = m.end()
        lines = [l.split() for l in open(a[3]) if l.strip()]
        kinds = [l.strip() for l in open(a[4]) if l.strip()]
        if len(lines) != len(kinds):
            print("FAIL %d cases but %d answers from C" % (len(lines), len(kinds)))
            sys.exit(1)
        bad = 0
        for parts, ckind in zip(lines, kinds):
            size = "" if parts[0] == "-" else parts[0]
            want = WINDOWS_KIND.get(ckind, ckind)
            got = decide(table, size, parts[1:])
            if got != want:
                bad += 1
                if bad <= 10:
                    print("FAIL size '%s' PCI %s: the generated table gives %s, C gives %s (%s)"
                          % (size, parts[1:], got, want, ckind))
        print("%d cases, %d differ" % (len(lines), bad))
        sys.exit(1 if bad else 0)
    else:
        raise SystemExit(__doc__)


main()
