#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate the pipeline benchmark's artifacts (bench/bench-pipeline.sh), standard library only.

Usage: make-pipeline-data.py [--set mixed|xz-dominant] --mb MB OUTDIR

Writes about MB megabytes of compressed archives into OUTDIR/files/ and one line per archive to
OUTDIR/artifacts.txt: "name sha256 size raw_size entries". Shaped like driver and CUDA payloads:
six archives of unequal sizes, alternately tar.xz (xz -T2, so multi-block, decodable in
parallel) and tar.zst; each a tree of many files of mixed sizes: copies of this machine's
/usr/lib files (real binaries, scripts, data), generated text, and generated binary blobs that
are half incompressible, with relative symlinks beside the shared libraries. The file choice is
seeded, so a rerun on the same machine gives the same archives.

--set xz-dominant makes the shape of the largest real payloads (cuBLAS, cuDNN: one tar.xz of
hundreds of MB): one multi-block tar.xz of 90% of the bytes, then three small tar.zst.
"""

import argparse
import hashlib
import io
import os
import random
import subprocess
import sys
import tarfile

# Per set: (share of the compressed bytes, kind) of each archive, largest first.
SETS = {
    "mixed": [(s, "xz" if i % 2 == 0 else "zst")
              for i, s in enumerate((0.28, 0.22, 0.16, 0.14, 0.11, 0.09))],
    "xz-dominant": [(0.90, "xz"), (0.04, "zst"), (0.03, "zst"), (0.03, "zst")],
}
# Raw bytes per compressed byte, first guess; corrected after each archive of a kind.
RATIO = {"xz": 3.0, "zst": 2.8}
COMPRESSOR = {
    # -3: xz's default -6 compresses at ~3 MB/s here, too slow to generate on every machine;
    # decoding speed barely depends on the preset. -T2 cuts 12 MiB blocks.
    "xz": ["xz", "-T2", "-3", "-c"],
    "zst": ["zstd", "-q", "-T2", "-3", "-c"],
}
WORDS = (b"cuda driver kernel module library tensor azure nvidia runtime compiler device "
         b"memory stream launch context graph event sync thread block grid warp").split()
MAX_SOURCE = 24 << 20


def sources():
    out = []
    for top in ("/usr/lib", "/usr/libexec", "/usr/share/perl", "/usr/share/doc"):
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for f in sorted(filenames):
                p = os.path.join(dirpath, f)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if os.path.isfile(p) and not os.path.islink(p) and 0 < st.st_size <= MAX_SOURCE \
                        and os.access(p, os.R_OK):
                    out.append((p, st.st_size))
    random.Random(1).shuffle(out)
    return out


def corpus(rnd, size):
    parts, n = [], 0
    while n < size:
        line = b" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(4, 16))) + b"\n"
        parts.append(line)
        n += len(line)
    return b"".join(parts)


def text(rnd, words, size):
    start = rnd.randrange(0, len(words) - size)
    return words[start:start + size]


def blob(rnd, size):
    # Half random, half repeats of earlier blocks: like fatbins and compressed resources.
    out = bytearray()
    while len(out) < size:
        if out and rnd.random() < 0.5:
            start = rnd.randrange(0, len(out))
            out += out[start:start + 4096]
        else:
            out += rnd.randbytes(4096)
    return bytes(out[:size])


class Archive:
    def __init__(self, path, kind):
        self.out = open(path, "wb")
        self.proc = subprocess.Popen(COMPRESSOR[kind], stdin=subprocess.PIPE, stdout=self.out)
        self.tar = tarfile.open(fileobj=self.proc.stdin, mode="w|", format=tarfile.GNU_FORMAT)
        self.raw = 0
        self.entries = 0
        self.dirs = set()
        self.names = set()

    def info(self, name, kind=tarfile.REGTYPE, size=0, mode=0o644, link=""):
        ti = tarfile.TarInfo(name)
        ti.type, ti.size, ti.mode, ti.linkname = kind, size, mode, link
        ti.mtime, ti.uname, ti.gname = 1700000000, "root", "root"
        return ti

    def parents(self, name):
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                self.tar.addfile(self.info(d + "/", tarfile.DIRTYPE, mode=0o755))
                self.entries += 1

    def add(self, name, data, mode=0o644):
        if name in self.names:
            return
        self.names.add(name)
        self.parents(name)
        self.tar.addfile(self.info(name, size=len(data), mode=mode), io.BytesIO(data))
        self.raw += len(data) + 512
        self.entries += 1

    def link(self, name, target):
        if name in self.names:
            return
        self.names.add(name)
        self.parents(name)
        self.tar.addfile(self.info(name, tarfile.SYMTYPE, mode=0o777, link=target))
        self.entries += 1

    def close(self):
        self.tar.close()
        self.proc.stdin.close()
        if self.proc.wait() != 0:
            sys.exit("compressor failed")
        self.out.close()


def build(path, kind, top, raw_budget, pool, rnd, words):
    a = Archive(path, kind)
    while a.raw < raw_budget and pool:
        src, size = pool.pop()
        try:
            with open(src, "rb") as f:
                data = f.read()
        except OSError:
            continue
        name = top + src
        mode = 0o755 if os.access(src, os.X_OK) else 0o644
        a.add(name, data, mode)
        base = os.path.basename(src)
        if ".so." in base:
            a.link(name[: name.index(".so.") + 3], base)
        r = rnd.random()
        if r < 0.10:
            a.add("%s/share/doc/gen-%06d.txt" % (top, a.entries),
                  text(rnd, words, rnd.randint(1 << 10, 256 << 10)))
        elif r < 0.12:
            a.add("%s/lib/gen-%06d.bin" % (top, a.entries),
                  blob(rnd, rnd.randint(64 << 10, 2 << 20)), 0o755)
    a.close()
    return a


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=300)
    ap.add_argument("--set", choices=sorted(SETS), default="mixed")
    ap.add_argument("outdir")
    args = ap.parse_args()
    files = os.path.join(args.outdir, "files")
    os.makedirs(files, exist_ok=True)
    pool = sources()
    rnd = random.Random(2)
    words = corpus(rnd, 8 << 20)
    ratio = dict(RATIO)
    lines = []
    for i, (share, kind) in enumerate(SETS[args.set]):
        name = "pkg-%02d.tar.%s" % (i + 1, kind)
        path = os.path.join(files, name)
        target = share * args.mb * 1e6
        a = build(path, kind, "pkg-%02d" % (i + 1), target * ratio[kind], pool, rnd, words)
        size = os.path.getsize(path)
        ratio[kind] = a.raw / size
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        lines.append("%s %s %d %d %d" % (name, digest, size, a.raw, a.entries))
        print("  %s: %.1f MB compressed, %.1f MB raw, %d entries" %
              (name, size / 1e6, a.raw / 1e6, a.entries), file=sys.stderr)
    with open(os.path.join(args.outdir, "artifacts.txt.tmp"), "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(os.path.join(args.outdir, "artifacts.txt.tmp"),
              os.path.join(args.outdir, "artifacts.txt"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
