#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Print what a run may change in an image root, one line per path, for comparing two roots.

Usage: root-state.py ROOT

Every path under /etc, /usr (but /usr/share/doc and /usr/share/man), /opt, /lib/modules,
/var/lib/dsvm (not its journal and not apt's private state under /var/lib/dsvm/apt, which apt
rebuilds from the repository) and /var/lib/dsvm-sample: type, mode, and size with sha256 for a
file or the target for a link. Python's compiled __pycache__ files by name only (they embed
times); state.json without its "updated" time. Then dpkg's view of every package: status,
version, and the selection (hold or install). Two roots that print the same are the same for
the first-boot agent.
"""

import hashlib
import json
import os
import stat
import sys

TOPS = ("etc", "usr", "opt", "lib/modules", "var/lib/dsvm", "var/lib/dsvm-sample")
SKIP = ("usr/share/doc", "usr/share/man", "usr/share/locale", "var/lib/dsvm/journal",
        "var/lib/dsvm/apt", "etc/ld.so.cache")


def main(root):
    for top in TOPS:
        for d, dirs, files in os.walk(os.path.join(root, top)):
            rel = os.path.relpath(d, root)
            if rel.startswith(SKIP):
                dirs[:] = []
                continue
            dirs.sort()
            for name in sorted(dirs + files):
                p = os.path.join(d, name)
                r = os.path.relpath(p, root)
                if r in SKIP:
                    continue
                st = os.lstat(p)
                line = "%s %o %s" % (r, stat.S_IMODE(st.st_mode), stat.S_IFMT(st.st_mode))
                if "__pycache__" in p:
                    print(line)
                elif stat.S_ISLNK(st.st_mode):
                    print(line, os.readlink(p))
                elif stat.S_ISREG(st.st_mode):
                    with open(p, "rb") as f:
                        data = f.read()
                    if r == "var/lib/dsvm/state.json":
                        doc = json.loads(data)
                        doc.pop("updated", None)
                        data = json.dumps(doc, sort_keys=True).encode()
                    print(line, len(data), hashlib.sha256(data).hexdigest())
                else:
                    print(line)
    with open(os.path.join(root, "var/lib/dpkg/status")) as f:
        for stanza in f.read().split("\n\n"):
            fields = dict(l.split(": ", 1) for l in stanza.splitlines()
                          if ": " in l and not l.startswith(" "))
            if "Package" in fields:
                print("dpkg", fields["Package"], fields.get("Status"), fields.get("Version"))


if __name__ == "__main__":
    main(sys.argv[1])
