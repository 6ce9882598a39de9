#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate manifests/hardware/pci-devices.yaml: every NVIDIA device and every AMD Instinct and
Radeon PRO device of the public device tables, each placed in an architecture.

Usage: tools/gen-gpu-tables.py [--pci-ids FILE] [--open-list FILE] [-o FILE] [--check]

Inputs (defaults):
  /usr/share/misc/pci.ids                        Debian package pci.ids (the PCI ID Repository)
  manifests/sources/nvidia-open-supported-gpus.txt
                                                 NVIDIA/open-gpu-kernel-modules README.md,
                                                 "Compatible GPUs" (commit in its header)
--check   exit 1 if the output file differs from what would be written (CI: the committed table
          is what the generator makes from the committed sources).

NVIDIA: the architecture comes from the chip code that starts the pci.ids name (GK210GL ->
kepler); a device missing from pci.ids but on NVIDIA's open-modules list is Turing or newer and
takes its architecture from an unambiguous product name when there is one. AMD: devices whose
pci.ids name says Instinct or Radeon Pro, the architecture from the chip's code name.
Only Debian's python3 is needed (no YAML library: the output is written as text).
"""

import argparse
import hashlib
import os
import re
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PCI_IDS = "/usr/share/misc/pci.ids"
DEFAULT_OPEN = os.path.join(TOP, "manifests", "sources", "nvidia-open-supported-gpus.txt")
DEFAULT_OUT = os.path.join(TOP, "manifests", "hardware", "pci-devices.yaml")

# NVIDIA chip-code prefixes (FIELD-NOTES "Public device data"; pci.ids names such as
# "102d GK210GL [Tesla K80]"). GN20/GN21 are the notebook codes pci.ids uses for Ampere and Ada
# laptop parts (its names: "GN20-P0-R-K2 [GeForce RTX 3050 6GB Laptop GPU]", "GN21-X11 [GeForce
# RTX 4090 Laptop GPU]"). Everything before Fermi (NV1x..NV4x Celsius to Curie, G8x/G9x/GT2xx
# Tesla, the C5x..C7x/MCP chipset graphics) is one bucket: no driver kind serves any of it.
NVIDIA_CHIPS = [
    (r"^GB\d", "blackwell"),
    (r"^GH\d", "hopper"),
    (r"^AD\d", "ada"),
    (r"^GN21", "ada"),
    (r"^GA\d", "ampere"),
    (r"^GN20", "ampere"),
    (r"^TU\d", "turing"),
    (r"^GV\d", "volta"),
    (r"^GP\d", "pascal"),
    (r"^GM\d", "maxwell"),
    (r"^GK\d", "kepler"),
    (r"^GF\d", "fermi"),
    (r"^(NV\d|G\d|GT\d|C\d|MCP)", "pre-fermi"),
]

# Product names on NVIDIA's open-modules list for devices pci.ids 2023.04 does not have yet.
# Only names that say the generation outright; the rest stay "turing-or-newer", which is all the
# list itself promises.
OPEN_NAMES = [
    (r"Blackwell|\bG?B[123]00\b|\bGB\d+\b|RTX 50\d0", "blackwell"),
    (r"\bGH200\b|\bH(20|100|200|800)\b", "hopper"),
    (r"Ada Generation|RTX 40\d0|\bL(2|4|20|40|40S)\b", "ada"),
    (r"\bA800\b|RTX A\d{3,4}\b", "ampere"),
]

# AMD chip code names in pci.ids -> architecture. AMD, "GPU specifications"
# (rocm.docs.amd.com/en/latest/reference/gpu-specs.html): MI100 CDNA, MI210/MI250 CDNA2,
# MI300 CDNA3, MI50/MI60/Radeon Pro VII GCN5.1 (Vega 20), MI25 GCN5 (Vega 10), Radeon Pro
# V620/W6800 RDNA2 (Navi 21), Radeon Pro W5500/W5700 RDNA1 (Navi 14/10), W7800/W7900 RDNA3.
AMD_CHIPS = [
    (r"^Aqua Vanjaram", "cdna3"),
    (r"^Aldebaran", "cdna2"),
    (r"^Arcturus", "cdna1"),
    (r"^Vega (10|12|20)", "gcn5"),
    (r"^Navi 3\d", "rdna3"),
    (r"^Navi 2\d", "rdna2"),
    (r"^Navi 1\d", "rdna1"),
    (r"^(Ellesmere|Baffin|Lexa|Polaris)", "gcn4"),
]


def read_pci_ids(path):
    """{vendor: {device: name}} and the file's "Version:" line."""
    devices, version, vendor = {}, None, None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.match(r"#\s*Version:\s*(\S+)", line)
            if m and version is None:
                version = m.group(1)
            if line.startswith("C "):
                vendor = None  # the class list at the end of the file
                continue
            m = re.match(r"^([0-9a-f]{4})  ", line)
            if m:
                vendor = m.group(1)
                continue
            m = re.match(r"^\t([0-9a-f]{4})  (.+)$", line)
            if m and vendor in ("10de", "1002"):
                devices.setdefault(vendor, {})[m.group(1)] = m.group(2).strip()
    return devices, version


def read_open_list(path):
    """{device: first product name}, and the header lines (they name the commit)."""
    names, header = {}, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                header.append(line[1:].strip())
                continue
            m = re.match(r"^([0-9A-Fa-f]{4})(?: [0-9A-Fa-f]{4} [0-9A-Fa-f]{4})?\s+(.+)$",
                         line.strip())
            if m:
                names.setdefault(m.group(1).lower(), m.group(2).strip())
    return names, header


def classify(rules, name, default):
    for pattern, arch in rules:
        if re.search(pattern, name):
            return arch
    return default


def nvidia_rows(pci, open_names):
    rows = []
    for dev in sorted(set(pci) | set(open_names)):
        on_list = dev in open_names
        if dev in pci:
            name = pci[dev]
            chip = re.match(r"[A-Z]+\d*", name)
            arch = classify(NVIDIA_CHIPS, chip.group(0), None) if chip else None
            if arch is None and on_list:
                arch = classify(OPEN_NAMES, open_names[dev], "turing-or-newer")
        else:
            name = open_names[dev]
            arch = classify(OPEN_NAMES, name, "turing-or-newer")
        # No chip code (nForce bridges, Tegra, audio functions): known to pci.ids, no GPU.
        row = {"id": dev, "name": name, "architecture": arch or "unknown"}
        if on_list:
            row["open_module"] = True
        if "NVSwitch" in name:
            row["switch"] = True
        rows.append(row)
    return rows


def amd_rows(pci):
    rows = []
    for dev, name in sorted(pci.items()):
        if re.search(r"Instinct", name):
            family = "instinct"
        elif re.search(r"Radeon Pro\b", name, re.I):
            family = "radeon-pro"
        else:
            continue
        rows.append({"id": dev, "name": name, "architecture": classify(AMD_CHIPS, name, "unknown"),
                     "family": family})
    return rows


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def row_text(r):
    parts = ["id: " + quote(r["id"]), "name: " + quote(r["name"]),
             "architecture: " + r["architecture"]]
    for key in ("family",):
        if key in r:
            parts.append("%s: %s" % (key, r[key]))
    for key in ("open_module", "switch"):
        if r.get(key):
            parts.append("%s: true" % key)
    return "  - {" + ", ".join(parts) + "}\n"


def package_version():
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "pci.ids"],
                             capture_output=True, text=True, check=False)
        return out.stdout.strip() or None
    except OSError:
        return None


def render(args):
    pci, version = read_pci_ids(args.pci_ids)
    open_names, open_header = read_open_list(args.open_list)
    with open(args.pci_ids, "rb") as f:
        pci_sha = hashlib.sha256(f.read()).hexdigest()
    with open(args.open_list, "rb") as f:
        open_sha = hashlib.sha256(f.read()).hexdigest()
    nv = nvidia_rows(pci.get("10de", {}), open_names)
    amd = amd_rows(pci.get("1002", {}))
    commit = next((h for h in open_header if "commit" in h), "")
    pkg = args.pci_ids_package or package_version() or "unknown"
    out = [
        "# GENERATED by tools/gen-gpu-tables.py; do not edit. Regenerate with\n",
        "#   python3 tools/gen-gpu-tables.py\n",
        "# and review the diff. Schema: manifests/hardware/README.md (\"pci-devices.yaml\").\n",
        "#\n",
        "# Sources:\n",
        "#  pci.ids (PCI ID Repository, https://pci-ids.ucw.cz/), Version %s, Debian package\n" % version,
        "#    pci.ids %s, sha256 %s\n" % (pkg, pci_sha),
        "#  manifests/sources/nvidia-open-supported-gpus.txt, sha256 %s:\n" % open_sha,
        "#    %s\n" % commit[:110],
        "#\n",
        "# NVIDIA: %d devices (%d on the open-modules list); AMD: %d Instinct and Radeon PRO devices.\n"
        % (len(nv), sum(1 for r in nv if r.get("open_module")), len(amd)),
        "# gpus.yaml stays authoritative for the devices it lists; these rows place every other one.\n",
        "nvidia:\n",
    ]
    out += [row_text(r) for r in nv]
    out.append("amd:\n")
    out += [row_text(r) for r in amd]
    return "".join(out)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pci-ids", default=DEFAULT_PCI_IDS)
    p.add_argument("--pci-ids-package", help="the pci.ids package version to record "
                   "(default: dpkg-query's)")
    p.add_argument("--open-list", default=DEFAULT_OPEN)
    p.add_argument("-o", "--output", default=DEFAULT_OUT)
    p.add_argument("--check", action="store_true")
    args = p.parse_args(argv[1:])
    for path in (args.pci_ids, args.open_list):
        if not os.path.isfile(path):
            print("gen-gpu-tables: '%s' does not exist (install Debian's pci.ids, or pass "
                  "--pci-ids/--open-list)" % path, file=sys.stderr)
            return 66
    text = render(args)
    if args.check:
        try:
            with open(args.output, encoding="utf-8") as f:
                same = f.read() == text
        except OSError:
            same = False
        if not same:
            print("gen-gpu-tables: '%s' is not what the generator makes from its sources; "
                  "run python3 tools/gen-gpu-tables.py" % args.output, file=sys.stderr)
            return 1
        return 0
    tmp = args.output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
