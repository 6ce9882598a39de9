#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check that binaries built here load, and find what they look up, on another distribution's
release, from what that release is known to ship (tests/fixtures/abi/<release>.txt).

Usage: abi-check.py [-v] --release FILE [--release FILE ...] --common FILE [--src DIR ...]
                    BINARY...

Per binary, from its dynamic section (readelf): every NEEDED soname must be one the release
ships; every versioned import (name@NODE) must be a node the release's library has: numbered
nodes (GLIBC_2.34, XZ_5.4, BLKID_2_37) up to the newest the release has, named nodes
(CURL_OPENSSL_4) only where the release file lists them. Imports from libraries with one node
for every function, and the unversioned ones (libyaml, libarchive: the library is found by
which of the binary's libraries on this machine defines the name), are checked by function:
"has" in the release file, or "added" in the common file against the release's library version.
From the sources (--src): the libraries and functions loaded with dlopen_api(), and the libcurl
options and info codes used, checked the same way; an option newer than the release passes only
where the file that uses it also names its declared fallback and handles CURLE_UNKNOWN_OPTION.

What has no record is not guessed: it is counted as unchecked and listed with -v. Exit 1 when
anything fails, with one line per failure naming the binary (or source file), the symbol, its
version and the release.
"""

import os
import re
import subprocess
import sys


def vkey(v):
    """A version's sort key: 2.35 < 2.35.1 < 2.4 is wrong, so compare numbers, not text."""
    return [int(n) for n in re.findall(r"\d+", v)]


def vle(a, b):
    return vkey(a) <= vkey(b)


def read_records(path):
    """Lines of whitespace-separated words; '#' starts the source note, kept for messages."""
    records = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            words = line.split("#", 1)[0].split()
            if words:
                records.append((words, f"{path}:{lineno}"))
    return records


class Release:
    def __init__(self, path):
        self.name = None
        self.libs = {}  # soname -> (package, version)
        self.numbered = {}  # soname -> (prefix, newest node version)
        self.named = {}  # soname -> set of node names
        self.has = set()  # (soname, symbol)
        for words, where in read_records(path):
            key, args = words[0], words[1:]
            if key == "release" and len(args) == 1:
                self.name = args[0]
            elif key == "lib" and len(args) == 3:
                self.libs[args[0]] = (args[1], args[2])
            elif key == "node" and len(args) == 3:
                self.numbered[args[0]] = (args[1], args[2])
            elif key == "nodes" and len(args) >= 2:
                self.named.setdefault(args[0], set()).update(args[1:])
            elif key == "has" and len(args) >= 2:
                for sym in args[1:]:
                    self.has.add((args[0], sym))
            elif key == "unsourced":
                pass  # a fact left out on purpose; the file says why
            else:
                sys.exit(f"{where}: cannot read '{' '.join(words)}'")
        if not self.name:
            sys.exit(f"{path}: no 'release NAME' line")


class Common:
    def __init__(self, path):
        self.added = {}  # (soname, symbol) -> version
        self.fallback = {}  # (soname, symbol) -> fallback symbol
        for words, where in read_records(path):
            if words[0] == "added" and len(words) in (4, 5):
                self.added[(words[1], words[2])] = words[3]
                if len(words) == 5:
                    if not words[4].startswith("fallback="):
                        sys.exit(f"{where}: expected fallback=NAME")
                    self.fallback[(words[1], words[2])] = words[4].split("=", 1)[1]
            else:
                sys.exit(f"{where}: cannot read '{' '.join(words)}'")


def run(*argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def binary_imports(path):
    """NEEDED sonames and [(symbol, node or None, soname or None)] of one binary."""
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", run("readelf", "-d", "-W", path))
    node_file = {}
    current = None
    for line in run("readelf", "-V", "-W", path).splitlines():
        m = re.search(r"File: (\S+)", line)
        if m:
            current = m.group(1)
            continue
        m = re.search(r"Name: (\S+)", line)
        if m and current:
            node_file[m.group(1)] = current
    imports = []
    for line in run("readelf", "--dyn-syms", "-W", path).splitlines():
        f = line.split()
        if len(f) < 8 or f[6] != "UND" or f[4] == "WEAK":
            continue
        name, _, node = f[7].partition("@")
        node = node.lstrip("@") or None
        imports.append((name, node, node_file.get(node) if node else None))
    return needed, imports


def host_definitions(path, needed):
    """symbol -> soname, for the unversioned imports: which NEEDED library here defines it."""
    where = {}
    for line in run("ldd", path).splitlines():
        m = re.match(r"\s*(\S+) => (/\S+)", line)
        if not m or m.group(1) not in needed:
            continue
        for sym in run("nm", "-D", "--defined-only", m.group(2)).splitlines():
            parts = sym.split()
            if len(parts) == 3:
                where.setdefault(parts[2].split("@")[0], m.group(1))
    return where


DLOPEN = re.compile(r'dlopen_api\("([^"]+)"')
DLSYM = re.compile(r'\{\s*"(\w+)",\s*offsetof\(')
CURLNAME = re.compile(r"\b(CURL(?:OPT|INFO|UPART)_[A-Z0-9_]+)\b")


def source_uses(dirs):
    """[(file, soname, symbol, kind)] from the C sources: dlopen'ed functions, curl options."""
    uses = []
    for d in dirs:
        for root, _, files in os.walk(d):
            for fn in sorted(files):
                if not fn.endswith(".c"):
                    continue
                path = os.path.join(root, fn)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                m = DLOPEN.search(text)
                if m:
                    for sym in DLSYM.findall(text):
                        uses.append((path, m.group(1), sym, "dlopen"))
                for name in sorted(set(CURLNAME.findall(text))):
                    uses.append((path, "libcurl.so.4", name, "option"))
    return uses


class Checker:
    def __init__(self, release, common):
        self.r, self.c = release, common
        self.failures = []
        self.checked = 0
        self.unchecked = []

    def fail(self, msg):
        self.failures.append(f"FAIL {self.r.name}: {msg}")

    def lib_text(self, soname):
        pkg, ver = self.r.libs[soname]
        return f"{self.r.name} ships {pkg} {ver}"

    def function(self, who, soname, sym, node=None):
        """An import or lookup with no node to check: by record, or unchecked."""
        shown = f"{sym}@{node}" if node else sym
        if soname not in self.r.libs:
            self.fail(f"{who} needs {shown} from {soname}, which {self.r.name} does not ship")
            return
        if (soname, sym) in self.r.has:
            self.checked += 1
            return
        added = self.c.added.get((soname, sym))
        if added is None:
            self.unchecked.append(f"{who}: {shown} ({soname}): no sourced record")
            return
        self.checked += 1
        if not vle(added, self.r.libs[soname][1]):
            fb = self.c.fallback.get((soname, sym))
            if fb and os.path.isfile(who):
                with open(who, encoding="utf-8") as f:
                    text = f.read()
                if re.search(rf"\b{fb}\b", text) and "CURLE_UNKNOWN_OPTION" in text:
                    return  # refused at run time, and the file falls back
            self.fail(
                f"{who} uses {shown} from {soname}, added in {added}; {self.lib_text(soname)}"
                + (f" (no fallback to {fb} there)" if fb else "")
            )

    def binary(self, path):
        needed, imports = binary_imports(path)
        for soname in needed:
            self.checked += 1
            if soname not in self.r.libs:
                self.fail(f"{path} needs {soname}, which {self.r.name} does not ship")
        unversioned = [s for s, n, _ in imports if not n]
        defs = host_definitions(path, needed) if unversioned else {}
        for sym, node, soname in imports:
            if sym in ("__gmon_start__", "_ITM_deregisterTMCloneTable", "_ITM_registerTMCloneTable"):
                continue
            if not node:
                soname = defs.get(sym)
                if soname is None:
                    self.unchecked.append(f"{path}: {sym}: defined by none of its libraries here")
                    continue
                self.function(path, soname, sym)
                continue
            if soname not in self.r.libs:
                self.fail(f"{path} imports {sym}@{node} from {soname}, which {self.r.name} does not ship")
                continue
            if node in self.r.named.get(soname, ()):
                # One node for every function of the library: the function's record decides.
                self.checked += 1
                self.function(path, soname, sym, node)
                continue
            prefix, newest = self.r.numbered.get(soname, (None, None))
            if prefix and node.startswith(prefix) and re.match(r"\d", node[len(prefix):]):
                self.checked += 1
                if not vle(node[len(prefix):], newest):
                    self.fail(
                        f"{path} imports {sym}@{node} from {soname}; {self.lib_text(soname)}, "
                        f"whose newest node is {prefix}{newest}"
                    )
                continue
            if soname in self.r.named:
                self.fail(f"{path} imports {sym}@{node} from {soname}; {self.r.name}'s has only "
                          f"{', '.join(sorted(self.r.named[soname]))}")
                continue
            # A node the release file has no record of: the function's own record decides.
            self.function(path, soname, sym, node)

    def sources(self, uses):
        for path, soname, sym, kind in uses:
            if kind == "dlopen" and soname not in self.r.libs:
                self.fail(f"{path} loads {soname} (dlopen), which {self.r.name} does not ship")
                continue
            self.function(path, soname, sym)


def main(argv):
    verbose = False
    releases, common, srcs, bins = [], None, [], []
    it = iter(argv)
    for a in it:
        if a == "-v":
            verbose = True
        elif a == "--release":
            releases.append(next(it))
        elif a == "--common":
            common = next(it)
        elif a == "--src":
            srcs.append(next(it))
        else:
            bins.append(a)
    if not releases or not common or not (bins or srcs):
        sys.exit(__doc__)
    c = Common(common)
    uses = source_uses(srcs)
    failed = 0
    for path in releases:
        r = Release(path)
        ch = Checker(r, c)
        for b in bins:
            ch.binary(b)
        ch.sources(uses)
        for line in ch.failures:
            print(line)
        if verbose:
            for line in ch.unchecked:
                print(f"unchecked {r.name}: {line}")
        print(f"{r.name}: {ch.checked} checks, {len(ch.failures)} failed; "
              f"{len(ch.unchecked)} imports and uses without a sourced record")
        failed += len(ch.failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
