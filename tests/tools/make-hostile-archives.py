#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate T4's hostile archives (and the benign ones that must still extract), at test time.

Usage: make-hostile-archives.py --outside DIR OUTDIR
       make-hostile-archives.py --zero-bomb MIB OUTDIR

DIR is the absolute path of the sentinel tree the hostile archives aim at; the relative escapes
assume the staging directory is DIR/../a/b/stage. Writes the archives into OUTDIR and
OUTDIR/cases.txt, one case per line, tab-separated:

    reject|accept <TAB> name <TAB> archive[+archive...] <TAB> text the error must contain

Archives joined by '+' are extracted in order into one staging tree (cross-archive attacks: the
first is harmless alone, the second is refused). The extractor runs with an entry budget of 500
and a byte budget of 16 MiB. Standard library only (tarfile, zipfile); a .tar.zst case is added
when the zstd program exists.
"""

import argparse
import io
import os
import shutil
import stat
import struct
import subprocess
import sys
import tarfile
import zipfile

ENTRY_BUDGET = 500
BYTE_BUDGET = 16 << 20


def tar(path, entries, mode="w"):
    """entries: (name, kind, data_or_target, perm) with kind file|dir|sym|hard|chr|fifo."""
    with tarfile.open(path, mode, format=tarfile.GNU_FORMAT) as t:
        for name, kind, arg, perm in entries:
            ti = tarfile.TarInfo(name)
            ti.mode = perm
            ti.mtime = 1700000000
            data = None
            if kind == "file":
                data = arg if isinstance(arg, bytes) else arg.encode()
                ti.size = len(data)
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, arg
            elif kind == "hard":
                ti.type, ti.linkname = tarfile.LNKTYPE, arg
            elif kind == "chr":
                ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            t.addfile(ti, io.BytesIO(data) if data is not None else None)


def zip_(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, kind, arg, perm in entries:
            zi = zipfile.ZipInfo(name, (2023, 11, 14, 22, 13, 20))
            if kind == "sym":
                zi.external_attr = (stat.S_IFLNK | 0o777) << 16
                z.writestr(zi, arg)
            elif kind == "dir":
                zi.external_attr = (stat.S_IFDIR | perm) << 16
                z.writestr(zi, b"")
            else:
                zi.external_attr = (stat.S_IFREG | perm) << 16
                z.writestr(zi, arg)


def cpio(path, entries):
    """newc cpio, written by hand (Python has no cpio module): regular files only."""
    out = bytearray()

    def rec(name, mode, data, ino):
        nb = name.encode() + b"\0"
        hdr = b"070701" + b"".join(b"%08X" % v for v in (
            ino, mode, 0, 0, 1, 1700000000, len(data), 0, 0, 0, 0, len(nb), 0))
        out.extend(hdr + nb)
        out.extend(b"\0" * ((4 - len(out) % 4) % 4))
        out.extend(data)
        out.extend(b"\0" * ((4 - len(out) % 4) % 4))

    for i, (name, data) in enumerate(entries, 1):
        rec(name, stat.S_IFREG | 0o644, data, i)
    rec("TRAILER!!!", 0, b"", 0)
    with open(path, "wb") as f:
        f.write(out)


def zero_bomb(path, size, name="zeros.bin", chunk=64 << 20):
    """A tar.xz holding one file of size zero bytes (size a multiple of chunk), ratio ~6,700:1.

    Made cheaply: xz compresses one chunk of zeros once (xz -0), and the archive is that
    stream repeated (a concatenation of xz streams is one valid .xz, xz(1) "--single-stream"),
    after a first stream that starts with the tar header.
    """
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = size, 0o644, 1700000000
    header = ti.tobuf(format=tarfile.GNU_FORMAT)

    def xz(data):
        return subprocess.run(["xz", "-0", "-T1", "-c"], input=data, check=True,
                              stdout=subprocess.PIPE).stdout

    zeros = xz(bytes(chunk))
    with open(path, "wb") as f:
        f.write(xz(header))
        for _ in range(size // chunk):
            f.write(zeros)
        f.write(xz(bytes(10240)))  # end-of-archive blocks and record padding


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outside")
    ap.add_argument("--zero-bomb", metavar="MIB", type=int,
                    help="write only OUTDIR/zeros-MIB.tar.xz: MIB MiB of zeros (a multiple of 64)")
    ap.add_argument("--bomb-name", default="zeros.bin",
                    help="with --zero-bomb: the file's name (another name, other bytes)")
    ap.add_argument("outdir")
    args = ap.parse_args()
    if args.zero_bomb:
        os.makedirs(args.outdir, exist_ok=True)
        zero_bomb(os.path.join(args.outdir, "zeros-%d.tar.xz" % args.zero_bomb),
                  args.zero_bomb << 20, args.bomb_name)
        return 0
    if not args.outside:
        ap.error("--outside is required")
    out, outside = args.outdir, os.path.abspath(args.outside)
    os.makedirs(out, exist_ok=True)
    up = "../../../outside"  # from DIR/../a/b/stage to DIR
    cases = []

    def case(expect, name, archives, text):
        cases.append("\t".join((expect, name, "+".join(archives), text)))

    def p(name):
        return os.path.join(out, name)

    tar(p("dotdot.tar"), [("ok.txt", "file", "fine", 0o644),
                          (up + "/pwned.txt", "file", "pwned", 0o644)])
    case("reject", "dotdot", ["dotdot.tar"], "has a '..' component")

    tar(p("dotdot-inner.tar.gz"), [("a/", "dir", None, 0o755),
                                   ("a/../../../../outside/pwned.txt", "file", "x", 0o644)],
        "w:gz")
    case("reject", "dotdot-inner", ["dotdot-inner.tar.gz"], "has a '..' component")

    tar(p("absolute.tar"), [(outside + "/pwned.txt", "file", "pwned", 0o644)])
    case("reject", "absolute", ["absolute.tar"], "is an absolute path")

    # Links may point anywhere (they are content); writing through one never happens. A link
    # that could lead out is delayed (GNU tar's model): until its archive ends it is a
    # placeholder, so every later entry that would use it is refused as for any link.
    tar(p("symlink-then-file.tar"), [("link", "sym", up, 0o777),
                                     ("link/pwned.txt", "file", "pwned", 0o644)])
    case("reject", "symlink-then-file", ["symlink-then-file.tar"],
         "written through a symbolic link")

    tar(p("symlink-abs.tar.xz"), [("etc", "sym", outside, 0o777),
                                  ("etc/pwned.txt", "file", "pwned", 0o644)], "w:xz")
    case("reject", "symlink-absolute-then-file", ["symlink-abs.tar.xz"],
         "written through a symbolic link")

    tar(p("symlink-abs-replace.tar"), [("secret", "sym", outside + "/secret", 0o777),
                                       ("secret", "file", "pwned", 0o644)])
    case("reject", "file-over-delayed-link", ["symlink-abs-replace.tar"],
         "would replace a symbolic link")

    tar(p("symlink-abs-dir.tar"), [("d", "sym", outside, 0o777), ("d/", "dir", None, 0o755),
                                   ("d/pwned.txt", "file", "pwned", 0o644)])
    case("reject", "dir-over-delayed-link", ["symlink-abs-dir.tar"],
         "would replace a symbolic link")

    tar(p("hardlink-to-delayed.tar"), [("s", "sym", outside + "/secret", 0o777),
                                       ("h", "hard", "s", 0o644)])
    case("reject", "hardlink-to-delayed-link", ["hardlink-to-delayed.tar"],
         "not a file already extracted")

    # A link inside the tree, then a file written through it: refused even though it stays in.
    tar(p("through-link.tar"), [("real/", "dir", None, 0o755), ("alias", "sym", "real", 0o777),
                                ("alias/x.txt", "file", "x", 0o644)])
    case("reject", "write-through-link", ["through-link.tar"],
         "written through a symbolic link")

    # A chain that only leads out once a later link exists, then a file through it.
    tar(p("link-chain.tar"), [("a/", "dir", None, 0o755), ("a/x", "sym", "up/../..", 0o777),
                              ("a/up", "sym", "..", 0o777),
                              ("a/x/outside/pwned.txt", "file", "pwned", 0o644)])
    case("reject", "link-chain-then-file", ["link-chain.tar"],
         "written through a symbolic link")

    # Across two archives into one staging tree: the first plants, the second uses.
    tar(p("cross1-a.tar"), [("lib/", "dir", None, 0o755), ("usrlib", "sym", "lib", 0o777)])
    tar(p("cross1-b.tar"), [("usrlib/pwned.so", "file", "pwned", 0o644)])
    case("reject", "cross-archive-write-through", ["cross1-a.tar", "cross1-b.tar"],
         "written through a symbolic link")
    tar(p("cross2-a.tar"), [("etc", "sym", outside, 0o777)])
    tar(p("cross2-b.tar"), [("etc/pwned.txt", "file", "pwned", 0o644)])
    case("reject", "cross-archive-through-absolute-link", ["cross2-a.tar", "cross2-b.tar"],
         "written through a symbolic link")
    tar(p("cross3-b.tar"), [("etc", "file", "pwned", 0o644)])
    case("reject", "cross-archive-replace-link", ["cross2-a.tar", "cross3-b.tar"],
         "would replace a symbolic link")

    tar(p("hardlink-out.tar"), [("h", "hard", outside + "/secret", 0o644)])
    case("reject", "hardlink-absolute", ["hardlink-out.tar"], "is an absolute path")
    tar(p("hardlink-dotdot.tar"), [("h", "hard", up + "/secret", 0o644)])
    case("reject", "hardlink-dotdot", ["hardlink-dotdot.tar"], "has a '..' component")
    tar(p("hardlink-missing.tar"), [("h", "hard", "later.txt", 0o644),
                                    ("later.txt", "file", "x", 0o644)])
    case("reject", "hardlink-not-yet-extracted", ["hardlink-missing.tar"],
         "not a file already extracted")
    tar(p("hardlink-via-link.tar"), [("l", "sym", ".", 0o777), ("f", "file", "x", 0o644),
                                     ("h", "hard", "l/f", 0o644)])
    case("reject", "hardlink-through-symlink", ["hardlink-via-link.tar"],
         "written through a symbolic link")

    tar(p("device.tar"), [("dev/", "dir", None, 0o755), ("dev/mem2", "chr", None, 0o600)])
    case("reject", "device-node", ["device.tar"], "is a device node")
    tar(p("fifo.tar"), [("pipe", "fifo", None, 0o644)])
    case("reject", "fifo", ["fifo.tar"], "is a FIFO")

    tar(p("bomb-entries.tar.gz"),
        [("f%05d" % i, "file", b"", 0o644) for i in range(ENTRY_BUDGET + 100)], "w:gz")
    case("reject", "bomb-entries", ["bomb-entries.tar.gz"], "past the entry budget")
    tar(p("bomb-bytes.tar.gz"), [("zeros.bin", "file", bytes(BYTE_BUDGET * 4), 0o644)], "w:gz")
    case("reject", "bomb-bytes", ["bomb-bytes.tar.gz"], "past the byte budget")
    # Many files each within budget that add up past it.
    tar(p("bomb-sum.tar.xz"),
        [("z%02d.bin" % i, "file", bytes(BYTE_BUDGET // 8), 0o644) for i in range(12)], "w:xz")
    case("reject", "bomb-bytes-sum", ["bomb-sum.tar.xz"], "past the byte budget")

    # A tree so deep that removing it one open directory per level would run out of fds.
    deep = "/".join(["a"] * 1500)
    tar(p("deep.tar"), [(deep + "/f", "file", "x", 0o644)])
    case("reject", "deep-tree", ["deep.tar"], "nests too deep")

    # A later entry replacing a link (inside the tree) by a file: refused, never unlinked.
    tar(p("replace-link.tar"), [("d/", "dir", None, 0o755), ("l", "sym", "d", 0o777),
                                ("l", "file", "x", 0o644)])
    case("reject", "file-over-symlink", ["replace-link.tar"], "would replace a symbolic link")

    # A later entry turning a directory (already holding entries) into a file.
    tar(p("file-over-dir.tar"), [("d/", "dir", None, 0o755), ("d/x", "file", "x", 0o644),
                                 ("d", "file", "replaced", 0o644)])
    case("reject", "file-over-directory", ["file-over-dir.tar"], "would replace a directory")

    zip_(p("zip-slip.zip"), [("ok.txt", "file", "ok", 0o644),
                             (up + "/pwned.txt", "file", "pwned", 0o644)])
    case("reject", "zip-dotdot", ["zip-slip.zip"], "has a '..' component")
    zip_(p("zip-symlink.zip"), [("l", "sym", up, 0o777), ("l/pwned.txt", "file", "x", 0o644)])
    case("reject", "zip-symlink-then-file", ["zip-symlink.zip"],
         "written through a symbolic link")

    cpio(p("cpio-dotdot.cpio"), [("ok.txt", b"ok"), (up + "/pwned.txt", b"pwned")])
    case("reject", "cpio-dotdot", ["cpio-dotdot.cpio"], "has a '..' component")

    # Benign: a payload shaped like a CUDA redistributable, with links that stay inside.
    benign = [("./", "dir", None, 0o755), ("pkg/", "dir", None, 0o755),
              ("pkg/lib/", "dir", None, 0o755),
              ("pkg/lib/libfoo.so.1.2", "file", b"\x7fELF" + bytes(4096), 0o755),
              ("pkg/lib/libfoo.so.1", "sym", "libfoo.so.1.2", 0o777),
              ("pkg/lib/libfoo.so", "sym", "libfoo.so.1", 0o777),
              ("pkg/lib/libfoo-copy.so.1.2", "hard", "pkg/lib/libfoo.so.1.2", 0o755),
              ("pkg/bin/", "dir", None, 0o700),
              ("pkg/bin/tool", "file", "#!/bin/sh\necho ok\n", 0o755),
              ("pkg/include", "sym", "../pkg/lib/../lib", 0o777),
              ("pkg/readonly/", "dir", None, 0o555),
              ("pkg/readonly/LICENSE", "file", "MIT\n", 0o444)]
    tar(p("benign.tar.gz"), benign, "w:gz")
    case("accept", "benign-tar-gz", ["benign.tar.gz"], "")
    tar(p("benign.tar.xz"), benign, "w:xz")
    case("accept", "benign-tar-xz", ["benign.tar.xz"], "")
    zip_(p("benign.zip"), [("pkg/", "dir", None, 0o755), ("pkg/a.txt", "file", "a", 0o644),
                           ("pkg/b", "sym", "a.txt", 0o777)])
    case("accept", "benign-zip", ["benign.zip"], "")
    # A later entry of the same name replaces an earlier file (what tar does on extraction).
    tar(p("replace.tar"), [("pkg/", "dir", None, 0o755), ("pkg/a", "file", "1", 0o644),
                           ("pkg/a", "file", "22", 0o600)])
    case("accept", "benign-replace", ["replace.tar"], "")
    tar(p("overlay-a.tar"), [("usr/", "dir", None, 0o755), ("usr/lib/", "dir", None, 0o755),
                             ("lib", "sym", "usr/lib", 0o777)])
    tar(p("overlay-b.tar"), [("usr/lib/libbar.so", "file", "bar", 0o644)])
    case("accept", "benign-two-archives", ["overlay-a.tar", "overlay-b.tar"], "")
    # Links out of the tree are ordinary content: extracted as links, never followed.
    tar(p("links-out.tar.xz"), [("lib/", "dir", None, 0o755),
                                ("lib/libz.so", "sym", outside + "/secret", 0o777),
                                ("include/", "dir", None, 0o755),
                                ("include/x", "sym", up + "/secret", 0o777),
                                ("a/", "dir", None, 0o755), ("a/x", "sym", "up/../..", 0o777),
                                ("a/up", "sym", "..", 0o777),
                                ("lib/libz.so.1", "file", "z", 0o644)], "w:xz")
    case("accept", "links-out", ["links-out.tar.xz"], "")
    tar(p("cross4-a.tar"), [("a/", "dir", None, 0o755), ("a/l", "sym", "b/../..", 0o777)])
    tar(p("cross4-b.tar"), [("a/b", "sym", "..", 0o777)])
    case("accept", "links-out-two-archives", ["cross4-a.tar", "cross4-b.tar"], "")
    zip_(p("zip-link-out.zip"), [("l", "sym", up + "/secret", 0o777)])
    case("accept", "zip-link-out", ["zip-link-out.zip"], "")

    # setuid and setgid bits are stripped, the files installed (and counted for the report).
    tar(p("setuid.tar"), [("bin/", "dir", None, 0o755), ("bin/su2", "file", "x", 0o4755),
                          ("shared/", "dir", None, 0o2775),
                          ("bin/helper", "file", "y", 0o2755)])
    case("accept", "setuid-stripped", ["setuid.tar"], "")
    zip_(p("zip-setuid.zip"), [("tool", "file", "x", 0o4755)])
    case("accept", "zip-setuid-stripped", ["zip-setuid.zip"], "")

    # Cut from this system (T10): shared libraries with their .so links (absolute and
    # relative), links climbing out with '..', setuid and setgid programs.
    real = [f for f in ("usr/lib/x86_64-linux-gnu/libz.so", "usr/lib/x86_64-linux-gnu/libz.so.1",
                        "usr/lib/x86_64-linux-gnu/libbz2.so", "usr/lib/x86_64-linux-gnu/libbz2.so.1.0",
                        "usr/lib/x86_64-linux-gnu/libyaml.so",
                        "usr/lib/x86_64-linux-gnu/libyaml-0.so.2",
                        "usr/lib/clang/14", "usr/lib/gold-ld",
                        "usr/lib/x86_64-linux-gnu/utempter", "usr/bin/passwd", "usr/bin/chage")
            if os.path.lexists("/" + f)]
    if shutil.which("tar") and real:
        subprocess.run(["tar", "-C", "/", "-cJf", p("real-system.tar.xz")] + real, check=True)
        case("accept", "real-system", ["real-system.tar.xz"], "")

    if shutil.which("zstd"):
        tar(p("benign.tar"), benign)
        subprocess.run(["zstd", "-q", "-f", "--rm", p("benign.tar"), "-o", p("benign.tar.zst")],
                       check=True)
        case("accept", "benign-tar-zst", ["benign.tar.zst"], "")
        tar(p("dotdot-z.tar"), [(up + "/pwned.txt", "file", "pwned", 0o644)])
        subprocess.run(["zstd", "-q", "-f", "--rm", p("dotdot-z.tar"), "-o",
                        p("dotdot.tar.zst")], check=True)
        case("reject", "zstd-dotdot", ["dotdot.tar.zst"], "has a '..' component")

    with open(p("cases.txt"), "w") as f:
        f.write("\n".join(cases) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
