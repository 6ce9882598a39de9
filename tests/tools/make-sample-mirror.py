#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate dsvm's sample mirror and the sample edition that builds from it.

Usage: make-sample-mirror.py --out DIR --base-url URL [--apt-repo-script SCRIPT]

URL is where DIR/www is served (tests/tools/testhttpd.py --dir DIR/www serves it at
http://127.0.0.1:PORT/files; tests/tools/sample-mirror.sh starts both). Writes:

  DIR/www/                         what the server serves
    redist/                        a CUDA 12.8.1 toolkit subset laid out like NVIDIA's redist
                                   tree (<pkg>/linux-x86_64/<pkg>-linux-x86_64-<ver>-archive.tar.xz)
                                   and its redistrib_12.8.1.json
    cudnn/redist/                  cuDNN 9.8.0 (cuda11 and cuda12 builds), redistrib_9.8.0.json
    apt/                           flat signed apt repository: per apt driver kind a
                                   kernel-module package, a user-space library package and a
                                   meta package; a fabric-manager package for the R580 kinds
    wheels/                        pure-Python wheels (py3-none-any)
    extras/                        a systemd unit, a README, an installer script (runfile kind),
                                   a GRID-like driver runfile (the nvidia-grid kind)
    sha256/<hex>                   every URL artifact again by content (a `fetch --mirror` tree)
  DIR/keys/                        the archive signing key (the apt-repo script's KEY_DIR)
  DIR/sample/                      a repository holding the sample edition:
    manifests/editions/sample-ubuntu-22.04.yaml, manifests/components/*.yaml (+ files/),
    manifests/nvidia/ (the redistrib JSONs), manifests/keys/sample-archive-key.gpg,
    manifests/hardware/ (a copy of this checkout's catalog)

Every payload is a small text file that says it is a dsvm sample; nothing here is, or pretends to
be, NVIDIA's or AMD's software. The artifacts are rebuilt only when this script or the apt-repo
script changed (DIR/.stamp holds their hashes); DIR/sample is rewritten for URL on every run and
files are written only when their bytes change. The same inputs give the same bytes, except the
repository's signatures and key. Prints the edition's path on stdout. Exit codes: 0; 64 usage
(a --base-url the manifests cannot take); 65 the apt-repo script's repository does not list the
packages; 66 no such apt-repo script; 69 no dpkg-deb; 1 a tool failed (its output is shown).
Python standard library and Debian's dpkg-deb only (the apt-repo script brings its own tools).
"""

import argparse
import base64
import fcntl
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import zipfile

# Every timestamp in every artifact (tar entries, .deb members, zip entries): 2025-03-06, the
# release date the sample toolkit's redistrib JSON gives.
EPOCH = 1741219200
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EDITION = "sample-ubuntu-22.04"
GENERATOR = "tests/tools/make-sample-mirror.py"

# --- What the sample edition serves -------------------------------------------------------------

CUDA_RELEASE = "12.8.1"
CUDA_MAJOR_MINOR = "12.8"
# (redist key, NVIDIA's display name, package version); files come from redist_files().
CUDA_PACKAGES = [
    ("cuda_cudart", "CUDA Runtime (cudart)", "12.8.90"),
    ("cuda_nvcc", "CUDA NVCC", "12.8.93"),
    ("cuda_nvrtc", "CUDA NVRTC", "12.8.93"),
    ("libcublas", "CUDA cuBLAS", "12.8.4.1"),
]
CUDNN_RELEASE = "9.8.0"
CUDNN_VERSION = "9.8.0.87"
CUDNN_VARIANTS = ["11", "12"]

# Driver kinds: (kind, branch, driver version, Debian version, kernel modules, user-space libs,
# what it stands in for).
DRIVERS = [
    ("nvidia-open", "580", "580.95.05", "580.95.05-0dsvm1", ["nvidia", "nvidia-uvm"],
     ["libnvidia-ml.so", "libcuda.so"], "the NVIDIA R580 driver with open kernel modules"),
    ("nvidia-proprietary", "580", "580.95.05", "580.95.05-0dsvm1", ["nvidia", "nvidia-uvm"],
     ["libnvidia-ml.so", "libcuda.so"], "the NVIDIA R580 driver with proprietary kernel modules"),
    ("amd-rocm", "6.4", "6.4.4", "6.4.4-0dsvm1", ["amdgpu"],
     ["libamdhip64.so", "librocm_smi64.so"], "AMD's amdgpu driver and ROCm 6.4.4 runtime"),
    # R470 is the last branch for Kepler (K80); 470.256.02 is the version Ubuntu's archive
    # publishes (nvidia-graphics-drivers-470-server 470.256.02-0ubuntu0.22.04.1, pinned in
    # manifests/components/nvidia-driver.yaml).
    ("nvidia-legacy-470", "470", "470.256.02", "470.256.02-0dsvm1", ["nvidia", "nvidia-uvm"],
     ["libnvidia-ml.so", "libcuda.so"], "the NVIDIA R470 server driver (Kepler)"),
]

# The GRID kind is Microsoft's runfile on Azure, not a package. 595.58.03 is the GRID driver
# Azure/azhpc-images installs (its versions.json, "nvidia_grid", which
# manifests/components/nvidia-driver.yaml pins): the sample runfile stands in for it.
GRID_BRANCH = "595"
GRID_VERSION = "595.58.03"
GRID_RUNFILE = "dsvm-sample-nvidia-grid-%s.run" % GRID_VERSION
# Fabric manager for the R580 datacenter kinds, at the driver's exact version.
FM_PACKAGE = "dsvm-sample-nvidia-fabricmanager-580"

# Wheels: (distribution, version, module, what it stands in for).
WHEELS = [
    ("dsvm_sample_numpy", "2.2.6", "dsvm_sample_numpy", "NumPy 2.2.6"),
    ("dsvm_sample_torch_cuda", "2.7.1", "dsvm_sample_torch_cuda", "PyTorch 2.7.1, CUDA 12 build"),
    ("dsvm_sample_torch_rocm", "2.7.1", "dsvm_sample_torch_rocm", "PyTorch 2.7.1, ROCm build"),
    ("dsvm_sample_torch_cpu", "2.7.1", "dsvm_sample_torch_cpu", "PyTorch 2.7.1, CPU build"),
]

TOOLS_VERSION = "1.0.0"
UNIT = "dsvm-sample-notebook.service"


def comment(text):
    """text as '# ' comment lines of at most 100 columns."""
    return textwrap.fill(text, 98, initial_indent="# ", subsequent_indent="# ",
                         break_on_hyphens=False)


def sample_note(what):
    return ("dsvm sample payload, generated by %s. It stands in for %s so that dsvm's "
            "pipeline can be exercised offline; it is not that software and contains none of it."
            % (GENERATOR, what))


# --- Small helpers ------------------------------------------------------------------------------

def die(code, msg):
    print("make-sample-mirror: " + msg, file=sys.stderr)
    sys.exit(code)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def md5_file(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def write(path, data, mode=0o644):
    """Write bytes (or text) at path with a fixed mode and mtime."""
    if isinstance(data, str):
        data = data.encode()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    os.utime(path, (EPOCH, EPOCH))


def write_if_changed(path, data, written):
    """Write path unless it already holds these bytes (its mtime then stays); record it."""
    if isinstance(data, str):
        data = data.encode()
    written.add(os.path.abspath(path))
    try:
        with open(path, "rb") as f:
            if f.read() == data:
                return
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def fill(template, **kw):
    """Dedent template and replace each @name@ by kw[name] (shell and YAML keep their $ and {})."""
    text = textwrap.dedent(template).lstrip("\n")
    for k, v in kw.items():
        text = text.replace("@%s@" % k, str(v))
    left = re.search(r"@[a-z_]+@", text)
    if left:
        raise KeyError(left.group(0))
    return text


def run(argv, **kw):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    except OSError as e:
        die(1, "cannot run '%s': %s" % (argv[0], e))
    if p.returncode != 0:
        die(1, "'%s' failed (exit %d):\n%s" % (" ".join(argv), p.returncode,
                                               p.stdout.decode(errors="replace").rstrip()))
    return p.stdout


# --- NVIDIA-shaped redist archives --------------------------------------------------------------

def tar_xz(path, entries):
    """entries: (name, 'dir'|'file'|'sym', data or link target, mode), written in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, kind, arg, mode in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = EPOCH
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            ti.mode = mode
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            elif kind == "sym":
                ti.type = tarfile.SYMTYPE
                ti.linkname = arg
                t.addfile(ti)
            else:
                data = arg.encode() if isinstance(arg, str) else arg
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    write(path, lzma.compress(buf.getvalue(), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                              preset=6))


def tree_entries(top, files):
    """Directory entries (parents first) and files under top/, sorted: tar order is fixed."""
    dirs = {top}
    for name, _, _, _ in files:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add(top + "/" + "/".join(parts[:i]))
    out = [(d + "/", "dir", None, 0o755) for d in sorted(dirs)]
    out += [(top + "/" + n, k, a, m) for n, k, a, m in sorted(files)]
    return out


def shared_lib(name, version, soname_version, what):
    """A text stand-in for lib/<name>.<version> with the usual soname and dev links."""
    real = "%s.%s" % (name, version)
    text = ("dsvm sample payload: stands in for %s (%s). This is a text file, not a shared "
            "library and not NVIDIA software.\n" % (real, what))
    return [("lib/" + real, "file", text, 0o644),
            ("lib/%s.%s" % (name, soname_version), "sym", real, 0o777),
            ("lib/" + name, "sym", "%s.%s" % (name, soname_version), 0o777)]


def c_header(name, what, macro, value):
    return ("include/" + name, "file",
            "/* dsvm sample payload: stands in for %s (%s); not NVIDIA's header. */\n"
            "#define DSVM_SAMPLE_%s %s\n" % (name, what, macro, value), 0o644)


def redist_files(pkg, name, version, variant=None):
    what = "%s %s" % (name, version) + (" for CUDA %s" % variant if variant else "")
    lic = ("LICENSE", "file", sample_note(what) + "\nLicense: MIT, like dsvm itself.\n", 0o644)
    major = version.split(".")[0]
    if pkg == "cuda_cudart":
        return [lic, c_header("cuda_runtime.h", what, "CUDART_VERSION", "12080"),
                c_header("cuda_runtime_api.h", what, "CUDART_API_VERSION", "12080")] + \
            shared_lib("libcudart.so", version, major, what)
    if pkg == "cuda_nvcc":
        nvcc = ("#!/bin/sh\n%s\n"
                "if [ \"${1:-}\" = --version ]; then\n"
                "\techo 'dsvm sample stand-in for nvcc %s (CUDA %s); it compiles nothing'\n"
                "\texit 0\nfi\n"
                "echo 'nvcc: this is a dsvm sample payload, not NVIDIA'\"'\"'s compiler' >&2\n"
                "exit 1\n" % (comment(sample_note(what)), version, CUDA_MAJOR_MINOR))
        return [lic, ("bin/nvcc", "file", nvcc, 0o755),
                c_header("crt/host_config.h", what, "HOST_CONFIG", "1"),
                ("nvvm/libdevice/libdevice.10.bc.sample", "file", sample_note(what) + "\n",
                 0o644)]
    if pkg == "cuda_nvrtc":
        return [lic, c_header("nvrtc.h", what, "NVRTC_VERSION", "12080")] + \
            shared_lib("libnvrtc.so", version, major, what)
    if pkg == "libcublas":
        return [lic, c_header("cublas_v2.h", what, "CUBLAS_VERSION", "120804"),
                c_header("cublas_api.h", what, "CUBLAS_API_VERSION", "120804")] + \
            shared_lib("libcublas.so", version, major, what) + \
            shared_lib("libcublasLt.so", version, major, what)
    if pkg == "cudnn":
        return [lic, c_header("cudnn.h", what, "CUDNN_MAJOR", "9"),
                c_header("cudnn_version.h", what, "CUDNN_VERSION", "90800")] + \
            shared_lib("libcudnn.so", "9.8.0", "9", what)
    raise ValueError(pkg)


def redist_build(root, pkg, version, variant=None):
    """Write one archive under root; return the JSON entry of its build."""
    suffix = "_cuda%s" % variant if variant else ""
    top = "%s-linux-x86_64-%s%s-archive" % (pkg, version, suffix)
    rel = "%s/linux-x86_64/%s.tar.xz" % (pkg, top)
    path = os.path.join(root, rel)
    name = dict((p, n) for p, n, _ in CUDA_PACKAGES).get(pkg, "NVIDIA cuDNN")
    tar_xz(path, tree_entries(top, redist_files(pkg, name, version, variant)))
    return {"relative_path": rel, "sha256": sha256_file(path), "md5": md5_file(path),
            "size": str(os.path.getsize(path))}


def redist_entry(root, pkg, name, version, build):
    write(os.path.join(root, pkg, "LICENSE.txt"), sample_note(name) + "\n")
    return {"name": name + " (dsvm sample payload)", "license": "dsvm sample (MIT)",
            "license_path": pkg + "/LICENSE.txt", "version": version, "linux-x86_64": build}


def redist_json(doc):
    # NVIDIA's layout: 4-space indent, no trailing newline.
    return json.dumps(doc, indent=4)


def make_redist(www):
    root = os.path.join(www, "redist")
    doc = {"release_date": "2025-03-06", "release_label": CUDA_RELEASE, "release_product": "cuda"}
    for pkg, name, version in CUDA_PACKAGES:
        doc[pkg] = redist_entry(root, pkg, name, version, redist_build(root, pkg, version))
    write(os.path.join(root, "redistrib_%s.json" % CUDA_RELEASE), redist_json(doc))

    root = os.path.join(www, "cudnn", "redist")
    builds = {"cuda" + v: redist_build(root, "cudnn", CUDNN_VERSION, v) for v in CUDNN_VARIANTS}
    entry = redist_entry(root, "cudnn", "NVIDIA CUDA Deep Neural Network library", CUDNN_VERSION,
                         builds)
    entry["cuda_variant"] = CUDNN_VARIANTS
    doc = {"release_date": "2025-03-04", "release_label": CUDNN_RELEASE,
           "release_product": "cudnn", "cudnn": entry}
    write(os.path.join(root, "redistrib_%s.json" % CUDNN_RELEASE), redist_json(doc))


# --- Debian packages ----------------------------------------------------------------------------

def deb_names(kind, branch):
    base = "dsvm-sample-%s" % kind
    return {"kernel": "%s-kernel-%s" % (base, branch), "libs": "%s-libs-%s" % (base, branch),
            "meta": "%s-%s" % (base, branch)}


def build_deb(work, outdir, fields, files, scripts=None):
    """files: {absolute path: text}; scripts: {postinst|postrm: text}. Returns the .deb path."""
    pkg = fields["Package"]
    stage = os.path.join(work, pkg)
    files = dict(files)
    doc = "/usr/share/doc/%s" % pkg
    files[doc + "/copyright"] = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        "Upstream-Name: %s\nComment: %s\n\nFiles: *\nCopyright: dsvm authors\nLicense: MIT\n"
        % (pkg, sample_note(fields["X-Dsvm-Stands-In-For"])))
    kib = 0
    for path, text in sorted(files.items()):
        write(stage + path, text)
        kib += (len(text.encode()) + 1023) // 1024
    os.makedirs(os.path.join(stage, "DEBIAN"))
    for name, text in sorted((scripts or {}).items()):
        write(os.path.join(stage, "DEBIAN", name), text, 0o755)
    control = "".join("%s: %s\n" % (k, v) for k, v in fields.items()
                      if not k.startswith("X-Dsvm"))
    control += "Installed-Size: %d\n" % max(kib, 1)
    write(os.path.join(stage, "DEBIAN", "control"), control)
    for d, subdirs, _ in os.walk(stage, topdown=False):
        for s in subdirs:
            os.chmod(os.path.join(d, s), 0o755)
            os.utime(os.path.join(d, s), (EPOCH, EPOCH))
    os.chmod(stage, 0o755)
    out = os.path.join(outdir, "%s_%s_%s.deb" % (pkg, fields["Version"], fields["Architecture"]))
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH))
    run(["dpkg-deb", "--root-owner-group", "-Zxz", "-z6", "--threads-max=1", "--build", stage,
         out], env=env)
    return out


MARKER = "/var/lib/dsvm-sample/kernel-module"

POSTINST = """
    #!/bin/sh
    # dsvm sample payload: a real kernel-module package would run depmod here; this one records
    # which stand-in is configured.
    set -e
    if [ "$1" = configure ]; then
    	mkdir -p /var/lib/dsvm-sample
    	echo '@kind@ @version@' >@marker@
    fi
    exit 0
"""

# Forget the stand-in module, unless another kind's package recorded its own meanwhile (on a
# kind switch dpkg may configure the new package before it removes the old one).
POSTRM = """
    #!/bin/sh
    # dsvm sample payload: forgets the stand-in module this package recorded.
    set -e
    if [ "$1" = remove ] || [ "$1" = purge ]; then
    	if [ -f @marker@ ]; then
    		read -r kind rest <@marker@ || true
    		if [ "$kind" = '@kind@' ]; then rm -f @marker@; fi
    	fi
    	if [ "$1" = purge ]; then rmdir /var/lib/dsvm-sample 2>/dev/null || true; fi
    fi
    exit 0
"""


def kernel_scripts(kind, version):
    return {"postinst": fill(POSTINST, kind=kind, version=version, marker=MARKER),
            "postrm": fill(POSTRM, kind=kind, marker=MARKER)}


def make_debs(work, outdir):
    debs = []
    for kind, branch, version, debver, modules, libs, what in DRIVERS:
        names = deb_names(kind, branch)
        others = [deb_names(k, b) for k, b, *_ in DRIVERS if k != kind]
        common = {"Version": debver, "Architecture": "amd64",
                  "Maintainer": "dsvm sample mirror <dsvm-sample@example.invalid>",
                  "Priority": "optional"}

        def rel(role):
            return ", ".join(o[role] for o in others)

        def fields(role, section, summary, extra):
            f = {"Package": names[role]}
            f.update(common)
            f["Section"] = section
            f.update(extra)
            f["Conflicts"] = rel(role)
            f["Replaces"] = rel(role)
            f["Description"] = ("dsvm sample: %s (stand-in, not a driver)\n %s"
                                % (summary, sample_note(what)))
            f["X-Dsvm-Stands-In-For"] = what
            return f

        kfiles = {"/lib/modules/dsvm-sample/%s/%s.ko.sample" % (kind, m):
                  "dsvm sample payload: stands in for the %s kernel module of %s (%s). A text "
                  "file, not a module.\n" % (m, what, version) for m in modules}
        debs.append(build_deb(work, outdir,
                              fields("kernel", "kernel", "%s kernel modules" % kind, {}),
                              kfiles, kernel_scripts(kind, debver)))
        lfiles = {"/usr/lib/x86_64-linux-gnu/%s.%s.sample" % (lib, version):
                  "dsvm sample payload: stands in for %s.%s of %s (driver kind %s). A text file, "
                  "not a library.\n" % (lib, version, what, kind) for lib in libs}
        lfiles["/usr/share/dsvm-sample/driver/%s" % kind] = (
            "dsvm sample driver stand-in: %s branch %s version %s\n" % (kind, branch, version))
        if kind.startswith("nvidia"):
            # As distribution driver packages do: NVIDIA's runfile refuses to install over it.
            lfiles["/usr/lib/nvidia/alternate-install-present"] = (
                "dsvm sample: %s %s is installed by the package manager\n" % (kind, version))
            lfiles["/lib/systemd/system/nvidia-persistenced.service"] = fill(
                SAMPLE_UNIT, what="nvidia-persistenced.service of %s" % what)
        debs.append(build_deb(work, outdir,
                              fields("libs", "libs", "%s user-space libraries" % kind, {}),
                              lfiles))
        depends = "%s (= %s), %s (= %s)" % (names["kernel"], debver, names["libs"], debver)
        debs.append(build_deb(work, outdir,
                              fields("meta", "metapackages", "%s driver stack" % kind,
                                     {"Depends": depends}), {}))
    debs.append(fabric_manager_deb(work, outdir))
    return debs


def fabric_manager_deb(work, outdir):
    """Fabric manager for the R580 kinds: the exact driver version, either kernel module."""
    version, debver = next((v, d) for k, _, v, d, *_ in DRIVERS if k == "nvidia-open")
    what = "NVIDIA Fabric Manager %s (NVSwitch systems)" % version
    kernels = " | ".join("%s (= %s)" % (deb_names(k, "580")["kernel"], debver)
                         for k in ("nvidia-open", "nvidia-proprietary"))
    fields = {"Package": FM_PACKAGE, "Version": debver, "Architecture": "amd64",
              "Maintainer": "dsvm sample mirror <dsvm-sample@example.invalid>",
              "Priority": "optional", "Section": "utils", "Depends": kernels,
              "Description": "dsvm sample: fabric manager (stand-in, not a driver)\n %s"
                             % sample_note(what),
              "X-Dsvm-Stands-In-For": what}
    files = {"/lib/systemd/system/nvidia-fabricmanager.service":
             fill(SAMPLE_UNIT, what="nvidia-fabricmanager.service of %s" % what)}
    return build_deb(work, outdir, fields, files, {"postinst": fill(FM_POSTINST)})


# As debhelper's dh_installsystemd has package scripts do: start the unit when systemd runs.
# deb-systemd-invoke blocks until the start job is done and asks policy-rc.d first; on a
# booting VM the unit is ordered after dsvm-firstboot, so only policy-rc.d keeps this from
# waiting for the very switch that runs it.
FM_POSTINST = """
    #!/bin/sh
    # dsvm sample payload: starts the stand-in unit as a packaged service's script would.
    set -e
    if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
    	deb-systemd-invoke start nvidia-fabricmanager.service >/dev/null || true
    fi
    exit 0
"""


def check_apt_repo(repo, debs):
    """The apt-repo script's Packages must list every .deb, by a file under repo with its hash."""
    try:
        with open(os.path.join(repo, "Packages")) as f:
            stanzas = [s for s in f.read().split("\n\n") if s.strip()]
    except OSError as e:
        die(65, "the apt-repo script wrote no '%s/Packages': %s" % (repo, e))
    listed = {}
    for s in stanzas:
        fields = dict(line.split(": ", 1) for line in s.splitlines() if ": " in line)
        listed[fields.get("SHA256")] = fields.get("Filename", "")
    for deb in debs:
        h = sha256_file(deb)
        rel = listed.get(h)
        if rel is None:
            die(65, "'%s/Packages' does not list %s (sha256 %s)" % (repo, os.path.basename(deb), h))
        path = os.path.normpath(os.path.join(repo, rel))
        if not path.startswith(os.path.abspath(repo) + os.sep):
            die(65, "'%s/Packages' places %s outside the repository" % (repo, rel))
        if not os.path.isfile(path):
            # The script indexed the files where they were: put them where Packages says.
            os.makedirs(os.path.dirname(path), exist_ok=True)
            shutil.copyfile(deb, path)
        if sha256_file(path) != h:
            die(65, "'%s' does not match its Packages entry" % path)
    for name in ("Packages.gz", "Release", "InRelease", "Release.gpg"):
        if not os.path.isfile(os.path.join(repo, name)):
            die(65, "the apt-repo script wrote no '%s/%s'" % (repo, name))


# --- Wheels -------------------------------------------------------------------------------------

def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(outdir, dist, version, module, what):
    build = {"cpu": "cpu", "cuda": "cuda", "rocm": "rocm"}.get(dist.rsplit("_", 1)[-1], "any")
    init = ('"""%s"""\n\n__version__ = "%s"\nSAMPLE = True\nBUILD = "%s"\n\n\n'
            'def describe():\n    return "dsvm sample stand-in for %s (build: %s)"\n'
            % (textwrap.fill(sample_note(what), 96, break_on_hyphens=False), version, build,
               what, build))
    info = "%s-%s.dist-info" % (dist, version)
    files = [
        (module + "/__init__.py", init),
        (info + "/METADATA",
         "Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: dsvm sample stand-in for %s\n"
         "License: MIT\nRequires-Python: >=3.8\n\n%s\n"
         % (dist.replace("_", "-"), version, what, sample_note(what))),
        (info + "/WHEEL", "Wheel-Version: 1.0\nGenerator: dsvm make-sample-mirror\n"
         "Root-Is-Purelib: true\nTag: py3-none-any\n"),
        (info + "/top_level.txt", module + "\n"),
    ]
    record = "".join("%s,%s,%d\n" % (n, record_hash(t.encode()), len(t.encode()))
                     for n, t in files) + info + "/RECORD,,\n"
    files.append((info + "/RECORD", record))
    path = os.path.join(outdir, "%s-%s-py3-none-any.whl" % (dist, version))
    os.makedirs(outdir, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files:
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            zi.create_system = 3
            zi.external_attr = (0o100644 << 16)
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, text)
    os.utime(path, (EPOCH, EPOCH))
    return path


# --- Plain files --------------------------------------------------------------------------------

NOTEBOOK_UNIT = """
    @note@
    # Installed by dsvm's sample edition (sample-tools.yaml); the interpreter is the py312
    # environment the sample wheels are installed into.
    [Unit]
    Description=dsvm sample notebook server (a stand-in for JupyterHub)
    After=network.target

    [Service]
    Type=simple
    DynamicUser=yes
    StateDirectory=dsvm-sample-notebooks
    WorkingDirectory=/var/lib/dsvm-sample-notebooks
    ExecStart=/opt/dsvm/envs/py312/bin/python -m http.server 8888 --bind 127.0.0.1
    Restart=on-failure
    RestartSec=5

    [Install]
    WantedBy=multi-user.target
"""

# The runfile kind: dsvm runs it once with /bin/sh inside the image, with the component's args.
TOOLS_RUNFILE = """
    #!/bin/sh
    @note@
    #
    # A self-contained installer in the manner of a vendor's .run file. Running it again over a
    # finished or half-finished install gives the same result.
    set -eu
    prefix=/usr/local
    for arg in "$@"; do
    	case $arg in
    	--prefix=*) prefix=${arg#--prefix=} ;;
    	*) echo "dsvm-sample-tools: unknown option '$arg'" >&2; exit 64 ;;
    	esac
    done
    mkdir -p "$prefix/bin" "$prefix/share/doc/dsvm-sample-tools"
    cat >"$prefix/bin/dsvm-sample-info.tmp" <<'INFO'
    #!/bin/sh
    # dsvm sample payload: says what the sample edition installed.
    echo 'dsvm sample tools @version@'
    for f in /etc/dsvm-sample/setup.done /var/lib/dsvm-sample/kernel-module; do
    	if [ -r "$f" ]; then printf '%s: ' "$f"; cat "$f"; fi
    done
    for f in /usr/share/dsvm-sample/driver/*; do
    	if [ -r "$f" ]; then cat "$f"; fi
    done
    exit 0
    INFO
    chmod 0755 "$prefix/bin/dsvm-sample-info.tmp"
    mv -f "$prefix/bin/dsvm-sample-info.tmp" "$prefix/bin/dsvm-sample-info"
    echo 'dsvm sample tools @version@: a sample payload, not a product' \\
    	>"$prefix/share/doc/dsvm-sample-tools/README"
    echo "dsvm-sample-tools @version@ installed into $prefix"
"""

README = """
    dsvm sample edition
    ===================

    @note@

    This image was built from the sample edition @edition@ against a loopback mirror. Every
    package, archive and wheel in it is a small text stand-in: the drivers load nothing, the CUDA
    toolkit compiles nothing.
"""

# The script kind: a file of this repository, run once with /bin/sh inside the image.
SETUP_SCRIPT = """
    #!/bin/sh
    @note@
    # Run once inside the image by the sample edition's script component; idempotent.
    set -eu
    mkdir -p /etc/dsvm-sample
    echo 'dsvm sample edition @edition@ set up' >/etc/dsvm-sample/setup.done
"""

# The services a driver stack brings (persistenced, fabric manager, gridd): oneshot units that
# run nothing and stay active, so enabling, starting and checking them works under a real systemd
# without a GPU (the real daemons fail or loop there).
SAMPLE_UNIT = """
    # dsvm sample payload: stands in for @what@; it runs nothing.
    [Unit]
    Description=dsvm sample stand-in for @what@

    [Service]
    Type=oneshot
    RemainAfterExit=yes
    ExecStart=/bin/true

    [Install]
    WantedBy=multi-user.target
"""

# The nvidia-grid kind's stand-in for Microsoft's GRID runfile. Like NVIDIA's .run it installs
# outside the package manager and leaves an uninstaller, /usr/bin/nvidia-uninstall. Like
# nvidia-installer under --silent (misc.c check_for_alternate_install), it stops where a packaged
# driver left alternate-install-present. It writes that file itself and its uninstaller leaves it
# behind, the kind of leftover a kind switch must find and clear (RECONCILE.md section 3).
GRID_RUNFILE_TEXT = """
    #!/bin/sh
    @note@
    #
    # Usage: sh THIS --silent. Running it again over its own install gives the same result.
    # DSVM_SAMPLE_ROOT, when set, is a directory to install under instead of / (tests that are not
    # root use it; dsvm runs the file chrooted into the image, without it).
    set -eu
    r=${DSVM_SAMPLE_ROOT:-}
    silent=
    for arg in "$@"; do
    	case $arg in
    	-s | --silent) silent=1 ;;
    	*) echo "dsvm-sample-grid: unknown option '$arg'" >&2; exit 64 ;;
    	esac
    done
    if [ -z "$silent" ]; then
    	echo "dsvm-sample-grid: only --silent installs are supported" >&2
    	exit 64
    fi
    # Ours names nvidia-grid; a packaged driver's (or anything else) means another install.
    alt=$r/usr/lib/nvidia/alternate-install-present
    if [ -e "$alt" ] && ! grep -q '^dsvm sample: nvidia-grid ' "$alt"; then
    	echo "ERROR: An alternate method of installing the NVIDIA driver was detected" >&2
    	exit 1
    fi
    # put PATH [MODE]: stdin into PATH by way of a temporary name, so a killed run leaves no
    # half-written file.
    put() {
    	mkdir -p "$(dirname "$1")"
    	cat >"$1.dsvm-tmp"
    	chmod "${2:-0644}" "$1.dsvm-tmp"
    	mv -f "$1.dsvm-tmp" "$1"
    }
    for l in libnvidia-ml.so libcuda.so; do
    	echo "dsvm sample payload: stands in for $l.@version@ of @what@. A text file." |
    		put "$r/usr/lib/x86_64-linux-gnu/$l.@version@.sample"
    done
    echo 'dsvm sample payload: stands in for the nvidia kernel module of @what@.' |
    	put "$r/lib/modules/dsvm-sample/nvidia-grid/nvidia.ko.sample"
    put "$r/etc/nvidia/gridd.conf.template" <<'TEMPLATE'
    @gridd_template@
    TEMPLATE
    # As Azure's GRID set-up does: the template without FeatureType=0, licensing from the host
    # (IgnoreSP=FALSE), no tray UI (EnableUI=FALSE).
    t=$r/etc/nvidia/gridd.conf.template
    { echo "# dsvm sample payload: made from gridd.conf.template as Azure's GRID set-up does."
      grep -v -e '^FeatureType=0$' -e '^# dsvm sample payload' "$t" || true # no line left: fine
      echo IgnoreSP=FALSE
      echo EnableUI=FALSE; } | put "$r/etc/nvidia/gridd.conf"
    put "$r/etc/systemd/system/nvidia-gridd.service" <<'UNIT'
    @gridd_unit@
    UNIT
    put "$r/etc/systemd/system/nvidia-persistenced.service" <<'UNIT'
    @persistenced_unit@
    UNIT
    put "$r/usr/bin/nvidia-uninstall" 0755 <<'UNINSTALL'
    #!/bin/sh
    # dsvm sample payload: stands in for the uninstaller of @what@. It removes what the runfile
    # installed but keeps /usr/lib/nvidia/alternate-install-present, on purpose: a leftover the
    # next install has to deal with. DSVM_SAMPLE_ROOT as for the runfile.
    set -eu
    r=${DSVM_SAMPLE_ROOT:-}
    for arg in "$@"; do
    	case $arg in
    	-s | --silent) ;;
    	*) echo "nvidia-uninstall (dsvm sample): unknown option '$arg'" >&2; exit 64 ;;
    	esac
    done
    rm -f "$r/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.@version@.sample" \\
    	"$r/usr/lib/x86_64-linux-gnu/libcuda.so.@version@.sample" \\
    	"$r/lib/modules/dsvm-sample/nvidia-grid/nvidia.ko.sample" \\
    	"$r/etc/nvidia/gridd.conf" "$r/etc/nvidia/gridd.conf.template" \\
    	"$r/etc/systemd/system/nvidia-gridd.service" \\
    	"$r/etc/systemd/system/nvidia-persistenced.service"
    # Another kind's package may have recorded its module meanwhile: that record stays.
    m=$r/var/lib/dsvm-sample/kernel-module
    if [ -f "$m" ] && read -r kind rest <"$m" && [ "$kind" = nvidia-grid ]; then
    	rm -f "$m"
    fi
    for d in lib/modules/dsvm-sample/nvidia-grid lib/modules/dsvm-sample etc/nvidia \\
    	var/lib/dsvm-sample; do
    	rmdir "$r/$d" 2>/dev/null || true
    done
    rm -f "$r/usr/bin/nvidia-uninstall"
    echo 'dsvm sample GRID driver @version@ uninstalled'
    UNINSTALL
    echo 'nvidia-grid @version@' | put "$r/var/lib/dsvm-sample/kernel-module"
    # Last: a run killed earlier leaves no alternate-install-present, only files the next run
    # overwrites.
    echo 'dsvm sample: nvidia-grid @version@ installed by its runfile' | put "$alt"
    echo "dsvm sample GRID driver @version@ installed (uninstall: nvidia-uninstall --silent)"
"""

GRIDD_TEMPLATE = """
    # dsvm sample payload: stands in for the GRID driver's gridd.conf.template.
    FeatureType=0
"""

PEERMEM = """
    # dsvm sample payload: load nvidia-peermem on InfiniBand sizes (GPUDirect RDMA).
    nvidia-peermem
"""

NOUVEAU = """
    # Installed by dsvm's sample edition: the NVIDIA driver needs the GPU to itself.
    blacklist nouveau
    options nouveau modeset=0
"""


def make_files(www):
    write(os.path.join(www, "extras", UNIT),
          fill(NOTEBOOK_UNIT, note=comment(sample_note("a Jupyter-like notebook service"))))
    write(os.path.join(www, "extras", "dsvm-sample-README.txt"),
          fill(README, note=textwrap.fill(sample_note("a Data Science VM's software"), 98,
                                             break_on_hyphens=False),
               edition=EDITION))
    write(os.path.join(www, "extras", "dsvm-sample-tools-%s.run" % TOOLS_VERSION),
          fill(TOOLS_RUNFILE, note=comment(sample_note("a vendor's self-extracting installer")),
               version=TOOLS_VERSION))
    grid = "the NVIDIA GRID driver %s for Azure" % GRID_VERSION

    def unit(service):
        return fill(SAMPLE_UNIT, what="%s.service of %s" % (service, grid)).rstrip("\n")

    write(os.path.join(www, "extras", GRID_RUNFILE),
          fill(GRID_RUNFILE_TEXT, note=comment(sample_note(
              "Microsoft's GRID driver runfile for Azure, NVIDIA-Linux-x86_64-%s-grid-azure.run"
              % GRID_VERSION)), version=GRID_VERSION, what=grid,
               gridd_template=fill(GRIDD_TEMPLATE).rstrip("\n"), gridd_unit=unit("nvidia-gridd"),
               persistenced_unit=unit("nvidia-persistenced")))


# --- Artifacts: build, check, swap in -----------------------------------------------------------

WINDOWS_EXES = ("good.exe", "good-again.exe", "newer.exe", "impostor.exe", "stray.exe",
                "unsigned.exe", "tampered.exe")
SIGNED_EXES_SCRIPT = os.path.join(TOP, "tests/tools/make-signed-exes.sh")


def make_windows(scratch, www, keys):
    """Signed Windows test installers for the signer pins (manifests/SCHEMA.md), made by
    tests/tools/make-signed-exes.sh with a test CA created now, when mingw-w64 and osslsigncode
    are installed (make deps): www/windows/*.exe and keys/windows-test-root.pem. The CA's keys
    stay in the scratch tree and are deleted with it."""
    tools = ("x86_64-w64-mingw32-gcc", "x86_64-w64-mingw32-windres", "osslsigncode", "openssl")
    if not all(shutil.which(t) for t in tools):
        return
    work = os.path.join(scratch, "windows")
    run(["sh", SIGNED_EXES_SCRIPT, work])
    os.makedirs(os.path.join(www, "windows"))
    for name in WINDOWS_EXES:
        shutil.copyfile(os.path.join(work, name), os.path.join(www, "windows", name))
    shutil.copyfile(os.path.join(work, "root.pem"), os.path.join(keys, "windows-test-root.pem"))


def build_artifacts(out, apt_script):
    """Build DIR/www from nothing in a scratch tree, then swap it in whole."""
    scratch = tempfile.mkdtemp(prefix=".build-", dir=out)
    try:
        www = os.path.join(scratch, "www")
        make_redist(www)
        make_files(www)
        for dist, version, module, what in WHEELS:
            build_wheel(os.path.join(www, "wheels"), dist, version, module, what)
        debdir = os.path.join(scratch, "debs")
        os.makedirs(debdir)
        debs = make_debs(os.path.join(scratch, "stage"), debdir)
        repo = os.path.join(www, "apt")
        keys = os.path.join(out, "keys")
        os.makedirs(repo)
        os.makedirs(keys, exist_ok=True)
        make_windows(scratch, www, keys)
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH))
        run(["sh", apt_script, repo, keys] + debs, env=env)
        check_apt_repo(repo, debs)
        if not os.path.isfile(os.path.join(keys, "test-archive-key.gpg")):
            die(65, "the apt-repo script exported no '%s/test-archive-key.gpg'" % keys)
        # A content-addressed copy of every URL artifact: what `dsvm-build fetch --mirror` reads.
        cas = os.path.join(www, "sha256")
        os.makedirs(cas)
        for path in artifact_files(www):
            dst = os.path.join(cas, sha256_file(path))
            if not os.path.exists(dst):
                os.link(path, dst)
        old = os.path.join(out, "www")
        if os.path.isdir(old):
            os.rename(old, os.path.join(scratch, "old-www"))
        os.rename(www, old)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def artifact_files(www):
    """Every file the manifests point at by URL (redist JSONs included)."""
    out = []
    for d, _, files in os.walk(www):
        if os.path.relpath(d, www).split(os.sep)[0] in ("apt", "sha256"):
            continue
        out += [os.path.join(d, f) for f in files]
    return sorted(out)


# --- The sample repository (manifests), rewritten every run -------------------------------------

def q(s):
    """A YAML double-quoted scalar (JSON's string syntax is valid YAML)."""
    return json.dumps(s)


def url_source(base, www, rel):
    """url, sha256 and size of DIR/www/REL, as a source's first lines."""
    path = os.path.join(www, rel)
    if not os.path.isfile(path):
        die(1, "'%s' is missing: delete '%s' and run again" % (path, os.path.dirname(www)))
    return ("      url: %s\n      sha256: %s\n      size: %d"
            % (q(base + "/" + rel), sha256_file(path), os.path.getsize(path)))


HEADER = """
    # Generated by @generator@ for the mirror at @base@:
    # every run rewrites it. A sample: each payload is a small text stand-in.
"""

EDITION_YAML = """
    edition: @edition@
    description: dsvm sample Ubuntu 22.04 edition (stand-in payloads from a loopback mirror)
    os: ubuntu-22.04
    platform: linux
    arch: [x86_64]
    driver_kinds:
      - none
    @kinds@
    include:
      - ../components/sample-drivers.yaml
      - ../components/sample-cuda.yaml
      - ../components/sample-python.yaml
      - ../components/sample-tools.yaml
"""

DRIVERS_YAML = """
    # Driver stacks, one per kind: the apt kinds from the sample apt repository (a meta package
    # depending on a kernel-module and a library package at exact versions), nvidia-grid from a
    # runfile; with them fabric manager, persistenced and peermem where they apply. Each is
    # staged, so an image built for one kind carries the others for firstboot.
    components:
      - name: nouveau-blacklist
        kind: file
        version: "1"
        description: modprobe blacklist for nouveau (sample edition)
        stage: true
        when:
          gpu_vendor: [nvidia]
        source:
          path: files/blacklist-nouveau.conf
          dest: /etc/modprobe.d/blacklist-nouveau.conf
"""

DRIVER_YAML = """
      - name: @name@
        kind: apt
        version: @version@
        description: @description@
        driver:
          kind: @kind@
          branch: @branch@
    @requires@    stage: true
        when:
          arch: [x86_64]
        source:
          package: @name@
          version: @debver@
          repository: @repository@
          key: ../keys/sample-archive-key.gpg
"""

# What the NVIDIA stacks bring besides their driver, as the shipped fabric-manager.yaml and
# RECONCILE.md have it; then the GRID driver, a runfile.
STACK_EXTRAS_YAML = """

      # Fabric manager only where there is an NVSwitch, at exactly the driver's version, for the
      # datacenter kinds (GRID and R470 GPUs have no NVSwitch). Its package depends on either R580
      # kernel-module package, so it serves the open and the proprietary stack alike.
      - name: @fm@
        kind: apt
        version: @fm_version@
        description: sample stand-in for NVIDIA Fabric Manager (the R580 driver's exact version)
        requires: [nvidia-driver]
        stage: true
        when:
          arch: [x86_64]
          nvswitch: true
          driver_kind: [nvidia-open, nvidia-proprietary]
        constraints:
          driver_version: match
        source:
          package: @fm@
          version: @fm_debver@
          repository: @repository@
          key: ../keys/sample-archive-key.gpg

      - name: sample-nvidia-fabricmanager-service
        kind: service
        version: "1"
        description: enable nvidia-fabricmanager.service where there is an NVSwitch
        requires: [@fm@]
        stage: true
        when:
          arch: [x86_64]
          nvswitch: true
          driver_kind: [nvidia-open, nvidia-proprietary]
        source:
          unit: nvidia-fabricmanager.service
          enable: true

      # persistenced with every NVIDIA kind: the apt kinds' library packages and the GRID runfile
      # each bring the unit. Never without a GPU, where the real daemon loops.
      - name: sample-nvidia-persistenced-service
        kind: service
        version: "1"
        description: enable nvidia-persistenced.service (every NVIDIA driver kind)
        requires: [nvidia-driver]
        stage: true
        when:
          driver_kind: [nvidia-open, nvidia-proprietary, nvidia-legacy-470, nvidia-grid]
        source:
          unit: nvidia-persistenced.service
          enable: true

      # GPUDirect RDMA: only on InfiniBand sizes, and never with GRID.
      - name: sample-nvidia-peermem
        kind: file
        version: "1"
        description: load nvidia-peermem at boot on InfiniBand sizes
        stage: true
        when:
          infiniband: true
          driver_kind: [nvidia-open, nvidia-proprietary]
        source:
          path: files/nvidia-peermem.conf
          dest: /etc/modules-load.d/nvidia-peermem.conf

      # Stands in for Microsoft's GRID runfile for Azure at the version below
      # (NVIDIA-Linux-x86_64-<version>-grid-azure.run), which Azure/azhpc-images installs. Like
      # every driver component it provides nvidia-driver implicitly (SCHEMA.md "Drivers").
      # --silent: nobody answers questions on a VM's first boot.
      - name: sample-nvidia-grid-driver
        kind: runfile
        version: @grid_version@
        description: sample stand-in for Microsoft's GRID driver runfile for Azure
        driver:
          kind: nvidia-grid
          branch: @grid_branch@
        requires: [nouveau-blacklist]
        stage: true
        args: ["--silent"]
        when:
          arch: [x86_64]
        source:
    @grid_url@
"""

CUDA_YAML = """
    # A CUDA toolkit subset and cuDNN in NVIDIA's redist layout; the redistrib JSONs (NVIDIA's
    # format) are the generator's. For the kinds whose drivers run CUDA 12.8 (R580, GRID R595), as
    # in cuda.yaml; none for nvidia-legacy-470, whose R470 stops at CUDA 11.4.
    components:
      - name: sample-cuda-toolkit-12-8
        kind: nvidia-redist
        version: @cuda_release@
        description: sample stand-in for CUDA Toolkit 12.8 Update 1 (runtime, nvcc, NVRTC, cuBLAS)
        provides: [cuda-toolkit]
        requires: [nvidia-driver]
        stage: true
        when:
          arch: [x86_64]
          driver_kind: [nvidia-open, nvidia-proprietary, nvidia-grid]
        constraints:
          cuda: @cuda@
        source:
          redist: ../nvidia/redistrib_@cuda_release_bare@.json
          base_url: @cuda_base@
          packages: [@packages@]

      - name: sample-cudnn-9
        kind: nvidia-redist
        version: @cudnn_release@
        description: sample stand-in for cuDNN @cudnn_version@ (the toolkit's CUDA major)
        provides: [cudnn]
        requires: [cuda-toolkit]
        stage: true
        when:
          arch: [x86_64]
          driver_kind: [nvidia-open, nvidia-proprietary, nvidia-grid]
        constraints:
          cuda_major: "12"
        source:
          redist: ../nvidia/cudnn/redistrib_@cudnn_release_bare@.json
          base_url: @cudnn_base@
          packages: [cudnn]
"""

PYTHON_YAML = """
    # Wheels into environment py312. PyTorch is three alternatives providing `pytorch`, chosen by
    # driver kind as in python-envs.yaml (their `when`s never overlap): the CUDA 12 build on the
    # kinds that get the CUDA 12 toolkit (nvidia-open, nvidia-proprietary, nvidia-grid), the ROCm
    # build on amd-rocm, the CPU build everywhere else. That includes nvidia-legacy-470: R470
    # supports CUDA up to 11.4 (hardware/cuda-drivers.yaml), so the CUDA build's `cuda: "12.0"`
    # cannot hold there, and the CPU build runs on a machine with any accelerator.
    components:
"""

WHEEL_YAML = """
      - name: @name@
        kind: pip
        version: @version@
        description: @description@
        provides: [@provides@]
    @extra@    source:
          package: @package@
          version: @version@
          environment: py312
    @url@
"""

TORCH_CUDA = """
    stage: true
    when:
      driver_kind: [nvidia-open, nvidia-proprietary, nvidia-grid]
    constraints:
      accelerator: [cuda]
      cuda_major: "12"
      cuda: "12.0"
"""

TORCH_ROCM = """
    stage: true
    when:
      driver_kind: [amd-rocm]
    constraints:
      accelerator: [rocm]
"""

TORCH_CPU = """
    stage: true
    when:
      driver_kind: ["!nvidia-open", "!nvidia-proprietary", "!nvidia-grid", "!amd-rocm"]
    constraints:
      accelerator: [cpu, cuda]
"""

TOOLS_YAML = """
    # The rest of an image: a notebook service (its unit installed first, then enabled), a README,
    # a vendor-style installer (runfile) and a set-up script from this repository.
    components:
      - name: sample-notebook-unit
        kind: file
        version: "1"
        description: systemd unit of the sample notebook server
        requires: [numpy]
        source:
    @unit_url@
          dest: /etc/systemd/system/@unit@

      - name: sample-notebook-service
        kind: service
        version: "1"
        description: enable @unit@
        requires: [sample-notebook-unit]
        source:
          unit: @unit@
          enable: true

      - name: sample-readme
        kind: file
        version: "1"
        description: README of the sample edition
        source:
    @readme_url@
          dest: /usr/share/doc/dsvm-sample/README

      - name: sample-tools
        kind: runfile
        version: @tools_version@
        description: sample installer in the manner of a vendor's .run file
        args: ["--prefix=/usr/local"]
        source:
    @tools_url@

      - name: sample-setup
        kind: script
        version: "1"
        description: sample set-up script from this repository
        requires: [sample-tools]
        source:
          path: files/dsvm-sample-setup.sh
"""


def indent(text, n):
    """Indent every line of text by n spaces (for a fragment placed under a key)."""
    return "".join(" " * n + line + "\n" for line in text.splitlines())


def yaml_header(base):
    return fill(HEADER, generator=GENERATOR, base=base)


def edition_yaml(base):
    kinds = "\n".join("  - %s" % k for k in [d[0] for d in DRIVERS] + ["nvidia-grid"])
    return yaml_header(base) + fill(EDITION_YAML, edition=EDITION, kinds=kinds)


def drivers_yaml(base, www):
    out = yaml_header(base) + fill(DRIVERS_YAML)
    for kind, branch, version, debver, _, _, what in DRIVERS:
        requires = "    requires: [nouveau-blacklist]\n" if kind.startswith("nvidia") else ""
        out += "\n" + fill(DRIVER_YAML, name=deb_names(kind, branch)["meta"], version=q(version),
                    description=q("sample stand-in for " + what), kind=kind, branch=q(branch),
                    requires=requires, debver=q(debver), repository=q(base + "/apt ./"))
    debver = next(d for k, _, _, d, *_ in DRIVERS if k == "nvidia-open")
    out += "\n" + fill(STACK_EXTRAS_YAML, fm=FM_PACKAGE, fm_version=q(debver.split("-")[0]),
                       fm_debver=q(debver), repository=q(base + "/apt ./"),
                       grid_version=q(GRID_VERSION), grid_branch=q(GRID_BRANCH),
                       grid_url=url_source(base, www, "extras/" + GRID_RUNFILE))
    return out


def cuda_yaml(base):
    return yaml_header(base) + fill(
        CUDA_YAML, cuda_release=q(CUDA_RELEASE), cuda_release_bare=CUDA_RELEASE,
        cuda=q(CUDA_MAJOR_MINOR), cuda_base=q(base + "/redist/"),
        packages=", ".join(p for p, _, _ in CUDA_PACKAGES), cudnn_release=q(CUDNN_RELEASE),
        cudnn_release_bare=CUDNN_RELEASE, cudnn_version=CUDNN_VERSION,
        cudnn_base=q(base + "/cudnn/redist/"))


def python_yaml(base, www):
    items = []
    extras = {"dsvm_sample_torch_cuda": TORCH_CUDA, "dsvm_sample_torch_rocm": TORCH_ROCM,
              "dsvm_sample_torch_cpu": TORCH_CPU}
    for dist, version, _, what in WHEELS:
        name = dist.replace("dsvm_sample_", "sample-").replace("_", "-")
        extra = extras.get(dist)
        items.append(fill(WHEEL_YAML, name=name, version=q(version),
                    description=q("sample stand-in for " + what),
                    provides="pytorch" if extra else dist.replace("dsvm_sample_", ""),
                    extra=indent(fill(extra), 4) if extra else "",
                    package=dist.replace("_", "-"),
                    url=url_source(base, www, "wheels/%s-%s-py3-none-any.whl" % (dist, version))))
    return yaml_header(base) + fill(PYTHON_YAML) + "\n".join(items)


def tools_yaml(base, www):
    return yaml_header(base) + fill(
        TOOLS_YAML, unit=UNIT, unit_url=url_source(base, www, "extras/" + UNIT),
        readme_url=url_source(base, www, "extras/dsvm-sample-README.txt"),
        tools_version=q(TOOLS_VERSION),
        tools_url=url_source(base, www, "extras/dsvm-sample-tools-%s.run" % TOOLS_VERSION))


def write_sample(out, base):
    www = os.path.join(out, "www")
    m = os.path.join(out, "sample", "manifests")
    written = set()
    with open(os.path.join(out, "keys", "test-archive-key.gpg"), "rb") as f:
        write_if_changed(os.path.join(m, "keys", "sample-archive-key.gpg"), f.read(), written)
    for rel, dst in (("redist/redistrib_%s.json" % CUDA_RELEASE,
                      "nvidia/redistrib_%s.json" % CUDA_RELEASE),
                     ("cudnn/redist/redistrib_%s.json" % CUDNN_RELEASE,
                      "nvidia/cudnn/redistrib_%s.json" % CUDNN_RELEASE)):
        with open(os.path.join(www, rel), "rb") as f:
            write_if_changed(os.path.join(m, dst), f.read(), written)
    catalog = os.path.join(TOP, "manifests", "hardware")
    for name in sorted(os.listdir(catalog)):
        with open(os.path.join(catalog, name), "rb") as f:
            write_if_changed(os.path.join(m, "hardware", name), f.read(), written)
    c = os.path.join(m, "components")
    write_if_changed(os.path.join(c, "files", "blacklist-nouveau.conf"), fill(NOUVEAU), written)
    write_if_changed(os.path.join(c, "files", "dsvm-sample-setup.sh"),
                     fill(SETUP_SCRIPT, note=comment(sample_note("an edition's set-up script")),
                          edition=EDITION), written)
    write_if_changed(os.path.join(c, "files", "nvidia-peermem.conf"), fill(PEERMEM), written)
    write_if_changed(os.path.join(c, "sample-drivers.yaml"), drivers_yaml(base, www), written)
    write_if_changed(os.path.join(c, "sample-cuda.yaml"), cuda_yaml(base), written)
    write_if_changed(os.path.join(c, "sample-python.yaml"), python_yaml(base, www), written)
    write_if_changed(os.path.join(c, "sample-tools.yaml"), tools_yaml(base, www), written)
    edition = os.path.join(m, "editions", EDITION + ".yaml")
    write_if_changed(edition, edition_yaml(base), written)
    # Files an older generator wrote and this one does not: gone, so the tree is exactly ours.
    for d, _, files in os.walk(os.path.join(out, "sample"), topdown=False):
        for f in files:
            if os.path.abspath(os.path.join(d, f)) not in written:
                os.unlink(os.path.join(d, f))
        if not os.listdir(d):
            os.rmdir(d)
    return edition


# --- Main ---------------------------------------------------------------------------------------

def check_base_url(base):
    for prefix in ("https://", "http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:",
                   "http://localhost/", "http://[::1]:", "http://[::1]/"):
        if base.startswith(prefix) and not any(c in base for c in " \t\n\"'#?"):
            return base.rstrip("/")
    die(64, "--base-url '%s' must be https:// or http:// on a loopback host "
        "(http://127.0.0.1:PORT/files for testhttpd.py)" % base)


def main():
    ap = argparse.ArgumentParser(description="Generate dsvm's sample mirror and sample edition.")
    ap.add_argument("--out", required=True, help="output directory (created)")
    ap.add_argument("--base-url", required=True, help="URL at which OUT/www is served")
    ap.add_argument("--apt-repo-script", default=os.path.join(TOP, "tests/tools/make-apt-repo.sh"),
                    help="make-apt-repo.sh REPO_DIR KEY_DIR DEB... (default: %(default)s)")
    args = ap.parse_args()
    base = check_base_url(args.base_url)
    if not os.path.isfile(args.apt_repo_script):
        die(66, "apt-repo script '%s' does not exist" % args.apt_repo_script)
    if shutil.which("dpkg-deb") is None:
        die(69, "dpkg-deb is not installed (make deps)")
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)

    with open(os.path.join(out, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp_path = os.path.join(out, ".stamp")
        stamp = json.dumps({"generator": sha256_file(os.path.abspath(__file__)),
                            "apt_repo_script": sha256_file(args.apt_repo_script),
                            "signed_exes": sha256_file(SIGNED_EXES_SCRIPT)},
                           sort_keys=True) + "\n"
        try:
            with open(stamp_path) as f:
                fresh = f.read() == stamp
        except OSError:
            fresh = False
        fresh = fresh and os.path.isdir(os.path.join(out, "www")) and \
            os.path.isfile(os.path.join(out, "keys", "test-archive-key.gpg"))
        if not fresh:
            try:
                os.unlink(stamp_path)
            except FileNotFoundError:
                pass
            build_artifacts(out, os.path.abspath(args.apt_repo_script))
            with open(stamp_path + ".tmp", "w") as f:
                f.write(stamp)
            os.replace(stamp_path + ".tmp", stamp_path)
        edition = write_sample(out, base)
    print(edition)
    print("make-sample-mirror: %s artifacts in %s, edition written for %s"
          % ("built" if not fresh else "cached", os.path.join(out, "www"), base), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
