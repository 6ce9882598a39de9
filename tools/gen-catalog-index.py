#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compile the hardware catalog into C (lib/catalog-index.h), a build product `make` writes to
$(BUILD)/gen/catalog-index.c. Never edit the output; edit the YAML (or regenerate
pci-devices.yaml with tools/gen-gpu-tables.py) instead.

Usage: tools/gen-catalog-index.py PCI-DEVICES.YAML [DOC.yaml...] -o OUT.c

pci-devices.yaml becomes a sorted device table; the checks are the loader's (lib/catalog.c,
load_pci_rows()): a table the loader would refuse is refused here too, naming the row. Each
DOC.yaml (gpus.yaml, sizes.yaml, cuda-drivers.yaml) becomes the node tree lib/yamldoc.c would
build from it (same lines, columns, plain flags) in a flat form lib/catalog.c turns into a tree
when the file is loaded, so the loaders run unchanged without libyaml;
a document yamldoc treats specially (anchors and aliases, duplicate keys, several documents) is
left out and parsed at run time. The output holds no pointers (strings are offsets into one
pool), so it needs no load-time relocation and costs a process nothing until read. Exit 65 on bad data, 66 on a missing input.
"""

import os
import sys

import yaml

VENDORS = {"nvidia": 0x10DE, "amd": 0x1002}
FLAGS = {"open_module": 0x01, "switch": 0x02}
FAMILIES = {"instinct": 0x04, "radeon-pro": 0x08}
KEYS = {"id", "name", "architecture", "family", "open_module", "switch"}
MASK = (1 << 64) - 1


def index_hash(data):
    """lib/catalog-index.h pci_index_hash()."""
    h = 0xCBF29CE484222325
    padded = data + b"\0" * (-len(data) % 8)
    for i in range(0, len(padded), 8):
        h ^= int.from_bytes(padded[i:i + 8], "little")
        h = (h * 0x100000001B3) & MASK
    h ^= len(data)
    return (h * 0x100000001B3) & MASK


def c_string(s):
    out = []
    for ch in s.encode("utf-8"):
        c = chr(ch)
        if c in '"\\':
            out.append("\\" + c)
        elif 0x20 <= ch < 0x7F and c != "?":  # '?' could start a trigraph
            out.append(c)
        else:
            out.append("\\%03o" % ch)
    return '"' + "".join(out) + '"'


def fail(path, msg):
    print("gen-catalog-index: %s: %s" % (path, msg), file=sys.stderr)
    sys.exit(65)


class Pool:
    """Every string of the index in one NUL-separated array, each stored once: the tables hold
    uint32 offsets into it, so the output has no pointers and needs no load-time relocation."""

    def __init__(self):
        self.offsets = {}
        self.strings = []
        self.size = 0

    def add(self, s):
        if s not in self.offsets:
            self.offsets[s] = self.size
            self.strings.append(s)
            self.size += len(s.encode("utf-8")) + 1
            if self.size > 0xFFFFFFFF:
                raise OverflowError("string pool over 4 GiB")
        return self.offsets[s]


def snapshot(path, data, pool, nodes_out, refs_out):
    """Append the ydoc tree of one document to nodes_out/refs_out (see struct ysnap_node) and
    return its dsvm_catalog_snapshots row, or None when it must be parsed at run time."""
    text = data.decode("utf-8")
    try:
        events = list(yaml.parse(text, Loader=yaml.CSafeLoader))
        docs = list(yaml.compose_all(text, Loader=yaml.CSafeLoader))
    except yaml.YAMLError:
        return None
    if len(docs) != 1 or docs[0] is None:
        return None
    if any(isinstance(e, yaml.AliasEvent) or getattr(e, "anchor", None) for e in events):
        return None
    nodes = []

    def walk(node):
        idx = len(nodes)
        nodes.append(None)
        if isinstance(node, yaml.ScalarNode):
            if "\0" in node.value:
                raise ValueError
            nodes[idx] = ("YNODE_SCALAR", node, None, None)
        elif isinstance(node, yaml.SequenceNode):
            nodes[idx] = ("YNODE_SEQUENCE", node, [walk(i) for i in node.value], None)
        else:
            keys = []
            for k, _ in node.value:
                if not isinstance(k, yaml.ScalarNode):
                    raise ValueError
                keys.append(k.value)
            if len(set(keys)) != len(keys):
                raise ValueError
            ks = [walk(k) for k, _ in node.value]
            vs = [walk(v) for _, v in node.value]
            nodes[idx] = ("YNODE_MAPPING", node, vs, ks)
        return idx

    try:
        walk(docs[0])
    except ValueError:
        return None
    first_node, first_ref = len(nodes_out), len(refs_out)
    for kind, node, items, keys in nodes:
        if kind == "YNODE_SCALAR":
            value, n = pool.add(node.value), 0
        else:
            value, n = len(refs_out) - first_ref, len(items)
            refs_out.extend(items)
            if keys is not None:
                refs_out.extend(keys)
        nodes_out.append("\t{ %d, %d, %d, %d, %s, %d },\n"
                         % (value, n, node.start_mark.line + 1, node.start_mark.column + 1, kind,
                            kind == "YNODE_SCALAR" and node.style in ("", None)))
    return "\t{ %d, %d, %d, %d, %d, %du, 0x%016xu },\n" % (
        pool.add(os.path.basename(path)), first_node, len(nodes), first_ref,
        len(refs_out) - first_ref, len(data), index_hash(data))


def main(argv):
    args = argv[1:]
    if len(args) < 3 or args[-2] != "-o":
        print(__doc__, file=sys.stderr)
        return 64
    src, out, doc_paths = args[0], args[-1], args[1:-2]
    try:
        with open(src, "rb") as f:
            data = f.read()
        docs = []
        for p in doc_paths:
            with open(p, "rb") as f:
                docs.append((p, f.read()))
    except OSError as e:
        print("gen-catalog-index: cannot read '%s': %s" % (e.filename, e.strerror),
              file=sys.stderr)
        return 66
    # BaseLoader keeps every scalar a string, as the C loader reads them.
    doc = yaml.load(data, Loader=getattr(yaml, "CBaseLoader", yaml.BaseLoader))
    if not isinstance(doc, dict) or set(doc) - set(VENDORS):
        fail(src, "the top level must be a mapping of 'nvidia' and 'amd' lists")
    groups, group_of, entries = [], {}, []
    for vendor, vid in VENDORS.items():
        rows = doc.get(vendor) or []
        if not isinstance(rows, list):
            fail(src, "'%s' must be a list" % vendor)
        for row in rows:
            if not isinstance(row, dict) or set(row) - KEYS:
                fail(src, "%s row %r: unknown keys or not a mapping" % (vendor, row))
            dev, name, arch = row.get("id"), row.get("name"), row.get("architecture")
            if not (isinstance(dev, str) and len(dev) == 4
                    and all(c in "0123456789abcdefABCDEF" for c in dev)):
                fail(src, "%s row %r: 'id' must be four hex digits" % (vendor, row))
            if not name or not arch:
                fail(src, "%s row %s: 'name' and 'architecture' are required" % (vendor, dev))
            flags = 0
            for key, bit in FLAGS.items():
                v = row.get(key, "false")
                if v not in ("true", "false"):
                    fail(src, "%s row %s: '%s' must be true or false" % (vendor, dev, key))
                if v == "true":
                    flags |= bit
            fam = row.get("family")
            if vendor == "amd":
                if fam not in FAMILIES:
                    fail(src, "amd row %s: 'family' must be instinct or radeon-pro" % dev)
                flags |= FAMILIES[fam]
            elif fam is not None:
                fail(src, "nvidia row %s: 'family' is for AMD rows" % dev)
            key = (vid, arch, flags)
            if key not in group_of:
                group_of[key] = len(groups)
                groups.append(key)
            entries.append((vid << 16 | int(dev, 16), group_of[key], name))
    entries.sort()
    for a, b in zip(entries, entries[1:]):
        if a[0] == b[0]:
            fail(src, "device %04x:%04x is listed twice" % (a[0] >> 16, a[0] & 0xFFFF))
    pool, nodes, refs, snaps = Pool(), [], [], []
    for p, d in docs:
        row = snapshot(p, d, pool, nodes, refs)
        if row:
            snaps.append(row)
    group_rows = ["\t{ 0x%04x, 0x%02x, %d },\n" % (v, fl, pool.add(a)) for v, a, fl in groups]
    entry_rows = ["\t{ 0x%08x, %d, %d },\n" % (k, g, pool.add(n)) for k, g, n in entries]
    lines = ["/* GENERATED by tools/gen-catalog-index.py from %s; do not edit. */\n"
             % " ".join([src] + doc_paths),
             '#include "catalog-index.h"\n\n',
             "const char dsvm_catalog_pool[] =\n"]
    lines += ["\t%s\n" % c_string(s + "\0") for s in pool.strings]
    lines.append('\t"";\n\nconst struct ysnap_node dsvm_catalog_snap_nodes[] = {\n')
    lines += nodes or ["\t{ 0 },\n"]
    lines.append("};\n\nconst uint32_t dsvm_catalog_snap_refs[] = {\n")
    lines += ["\t%d,\n" % r for r in refs] or ["\t0,\n"]
    lines.append("};\n\nconst struct ydoc_snapshot dsvm_catalog_snapshots[] = {\n")
    lines += snaps or ["\t{ 0 },\n"]
    lines.append("};\n\nconst size_t dsvm_catalog_n_snapshots = %d;\n\n" % len(snaps))
    lines.append("const struct pci_index_group dsvm_pci_index_groups[] = {\n")
    lines += group_rows or ["\t{ 0 },\n"]
    lines.append("};\n\nconst struct pci_index_entry dsvm_pci_index_entries[] = {\n")
    lines += entry_rows or ["\t{ 0 },\n"]
    lines.append("};\n\nconst struct pci_index dsvm_pci_index_builtin = {\n")
    lines.append("\t.source_size = %du,\n\t.source_hash = 0x%016xu,\n" % (len(data), index_hash(data)))
    lines.append("\t.n_groups = %d,\n\t.n_entries = %d,\n};\n" % (len(groups), len(entries)))
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("".join(lines))
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
