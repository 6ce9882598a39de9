#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""T6 (TESTING.md): walk one image root through resizes with `dsvm-firstboot run`.

Usage: resize-walk.py --root ROOT --fixtures DIR --firstboot BIN --work DIR [--short]

ROOT is an image root that `dsvm-build image` built from the sample mirror
(tests/tools/make-sample-mirror.py) with every driver kind staged; DIR holds the fixture
sysroots of tests/tools/make-sysroot.py. Each "boot" copies a fixture to a fresh sysroot, gives
it a new boot id and the /sys/module/<module>/version that a successful load of what the
previous boot installed would show, runs the agent, and checks, from outside: the right kind
in force and recorded, exactly that kind's packages installed and held (GPU -> CPU keeps a
signed prebuilt kind installed, RECONCILE.md 9.5; every other kind is purged), no library of
another driver version, the kernel-module marker of that kind only, services (persistenced
with NVIDIA, fabric manager only with NVSwitch, peermem only with InfiniBand), the nouveau
blacklist, the framework build and /usr/local/cuda, /etc/profile.d; then a second run with
the same fixture must be a no-op that changes nothing in the whole tree.

The full walk is an Eulerian circuit of the complete directed graph on the profiles: every
ordered pair once (90 boots for 10 profiles). --short walks CPU -> T4 -> MI300X -> CPU (for
the sanitizer build, which runs the suite a second time). Then the health gate: a module at
the wrong version three boots in a row ends in the CPU fallback, settled until the hardware
changes; a size that shows fewer GPUs than it has fails the gate (exit 1) until the fallback;
Secure Boot with a kind whose module is built on the VM is blocked (CPU mode, exit 0).
Prints one figure line last. Exit 0 when every check held, 1 otherwise. DSVM_WALK=a,b,c in
the environment walks those profiles instead (to chase one transition by hand).
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

# profile: (fixture case, driver kind expected with the sample image, InfiniBand, NVSwitch)
PROFILES = {
    "cpu": ("cpu-only", "none", False, False),
    "k80": ("k80", "nvidia-legacy-470", False, False),
    "p100": ("p100", "nvidia-proprietary", False, False),
    "v100": ("v100", "nvidia-proprietary", False, False),
    "t4": ("t4", "nvidia-open", False, False),
    "a10-grid": ("a10-grid", "nvidia-grid", False, False),
    "nd-a100-v4": ("nd-a100-v4", "nvidia-open", True, True),
    "h100": ("h100-nvl", "nvidia-open", False, False),
    "mi300x": ("mi300x", "amd-rocm", True, False),
    # A real NVIDIA device the catalog does not list, size unknown: PCI decides.
    "unknown-nvidia": ("unknown-nvidia", "nvidia-open", False, False),
}
ORDER = list(PROFILES)
PREBUILT = ("nvidia-open", "nvidia-proprietary")
NVIDIA = ("nvidia-open", "nvidia-proprietary", "nvidia-legacy-470", "nvidia-grid")
APT_KINDS = {"nvidia-open": "580", "nvidia-proprietary": "580", "nvidia-legacy-470": "470",
             "amd-rocm": "6.4"}
LIBDIR = "usr/lib/x86_64-linux-gnu"

checks = 0
failures = []


def check(ok, what):
    global checks
    checks += 1
    if not ok:
        failures.append(what)
        print("FAIL " + what, flush=True)
    return ok


def eulerian_circuit(nodes):
    """Every ordered pair (a, b), a != b, once: Hierholzer on the complete digraph."""
    out = {n: [m for m in reversed(nodes) if m != n] for n in nodes}
    stack, circuit = [nodes[0]], []
    while stack:
        v = stack[-1]
        if out[v]:
            stack.append(out[v].pop())
        else:
            circuit.append(stack.pop())
    return circuit[::-1]


def dpkg_packages(root):
    """{package: (status word, version)} of the dsvm-sample packages dpkg knows."""
    pkgs, cur = {}, {}
    with open(os.path.join(root, "var/lib/dpkg/status")) as f:
        for line in f.read().split("\n") + [""]:
            if not line:
                if cur.get("Package", "").startswith("dsvm-sample-"):
                    pkgs[cur["Package"]] = (cur.get("Status", ""), cur.get("Version", ""))
                cur = {}
            elif ":" in line and not line.startswith(" "):
                k, v = line.split(":", 1)
                cur[k] = v.strip()
    return pkgs


def tree(root):
    """Every path under root with type, mode, size, mtime and link: what a write changes."""
    out = {}
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        if rel in ("proc", "sys", "dev", "run", "tmp"):
            dirs[:] = []
            continue
        for name in dirs + files:
            p = os.path.join(d, name)
            st = os.lstat(p)
            link = os.readlink(p) if os.path.islink(p) else ""
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_size, st.st_mtime_ns, link)
    return out


class Walk:
    def __init__(self, a):
        self.a = a
        self.boot = 0
        self.loaded = None  # (module, version) the previous boot left to load

    def sysroot(self, case, module=None):
        self.boot += 1
        dst = os.path.join(self.a.work, "sys-%03d" % self.boot)
        shutil.copytree(os.path.join(self.a.fixtures, case), dst, symlinks=True)
        bid = os.path.join(dst, "proc/sys/kernel/random/boot_id")
        os.makedirs(os.path.dirname(bid), exist_ok=True)
        with open(bid, "w") as f:
            f.write(str(uuid.uuid4()) + "\n")
        loaded = module or self.loaded
        if loaded:
            mod = os.path.join(dst, "sys/module", loaded[0])
            os.makedirs(mod, exist_ok=True)
            with open(os.path.join(mod, "version"), "w") as f:
                f.write(loaded[1] + "\n")
        return dst

    def same_boot(self, sysroot):
        """The same boot again (same boot id)."""
        return sysroot

    def run(self, sysroot, verb="run"):
        p = subprocess.run([self.a.firstboot, verb, "--root", self.a.root, "--sysroot",
                            sysroot, "--no-imds", "--json"],
                           capture_output=True, text=True, timeout=600)
        try:
            out = json.loads(p.stdout) if p.stdout.strip() else {}
        except ValueError:
            out = {}
        return p.returncode, out, p.stderr

    def status(self):
        p = subprocess.run([self.a.firstboot, "status", "--root", self.a.root, "--json"],
                           capture_output=True, text=True, timeout=60)
        return json.loads(p.stdout)

    def remember_load(self, st):
        """What the next boot's kernel would show after loading what this one installed."""
        mode = st.get("mode")
        if mode in NVIDIA:
            self.loaded = ("nvidia", st["version"])
        elif mode == "amd-rocm":
            self.loaded = ("amdgpu", st["version"])
        else:
            self.loaded = None


def exists(root, rel):
    return os.path.lexists(os.path.join(root, rel))


def enabled(root, unit):
    return bool(glob.glob(os.path.join(root, "etc/systemd/system/*.wants", unit)))


def check_state(w, name, kind, ib, nvswitch, st, prev_disk):
    root = w.a.root
    tag = "boot %d (%s)" % (w.boot, name)
    check(st.get("mode") == kind, "%s: mode %s, expected %s" % (tag, st.get("mode"), kind))
    check(st.get("result") in ("ok", "pending"), "%s: result %s" % (tag, st.get("result")))
    # The stack on disk: the kind in force; on CPU a prebuilt kind stays (RECONCILE.md 9.5).
    disk = kind if kind != "none" else (prev_disk if prev_disk in PREBUILT else "none")
    check(st.get("driver_kind") == disk,
          "%s: driver on disk %s, expected %s" % (tag, st.get("driver_kind"), disk))
    want = set()
    if disk in APT_KINDS:
        base = "dsvm-sample-%s" % disk
        br = APT_KINDS[disk]
        want = {"%s-%s" % (base, br), "%s-kernel-%s" % (base, br), "%s-libs-%s" % (base, br)}
        if nvswitch and kind in PREBUILT:
            want.add("dsvm-sample-nvidia-fabricmanager-580")
    pk = dpkg_packages(root)
    have = {p for p, (s, _) in pk.items() if s.endswith(" ok installed")}
    held = {p for p, (s, _) in pk.items() if s.startswith("hold ") and s.endswith("installed")}
    check(have == want, "%s: packages %s, expected %s" % (tag, sorted(have), sorted(want)))
    check(held == want, "%s: held %s, expected %s" % (tag, sorted(held), sorted(want)))
    leftover = {p for p, (s, _) in pk.items() if not s.endswith("not-installed") and p not in want
                and not s.startswith("purge ok not-installed")}
    check(not {p for p in leftover if pk[p][0].endswith("config-files")},
          "%s: packages left with config files (removed, not purged): %s" % (tag, sorted(leftover)))
    marker = os.path.join(root, "var/lib/dsvm-sample/kernel-module")
    mk = open(marker).read().split()[0] if os.path.exists(marker) else "none"
    check(mk == disk, "%s: kernel-module marker %s, expected %s" % (tag, mk, disk))
    nvlibs = glob.glob(os.path.join(root, LIBDIR, "libnvidia-ml.so.*.sample")) + \
        glob.glob(os.path.join(root, LIBDIR, "libcuda.so.*.sample"))
    versions = {os.path.basename(p).split(".so.")[1][:-len(".sample")] for p in nvlibs}
    want_v = {st.get("version")} if disk in NVIDIA else set()
    check(versions == want_v, "%s: NVIDIA libraries of versions %s, expected %s"
          % (tag, sorted(versions), sorted(want_v)))
    amd = glob.glob(os.path.join(root, LIBDIR, "libamdhip64.so.*.sample"))
    check(bool(amd) == (disk == "amd-rocm"), "%s: ROCm libraries %s with %s" % (tag, amd, disk))
    check(exists(root, "usr/lib/nvidia/alternate-install-present") == (disk in NVIDIA),
          "%s: alternate-install-present wrong for %s" % (tag, disk))
    check(enabled(root, "nvidia-persistenced.service") == (kind in NVIDIA),
          "%s: persistenced enabled=%s with %s" % (tag, not kind in NVIDIA, kind))
    fm = nvswitch and kind in PREBUILT
    check(enabled(root, "nvidia-fabricmanager.service") == fm,
          "%s: fabric manager enabled should be %s" % (tag, fm))
    peer = ib and kind in PREBUILT
    check(exists(root, "etc/modules-load.d/nvidia-peermem.conf") == peer,
          "%s: peermem config should be %s" % (tag, peer))
    check(exists(root, "etc/modprobe.d/blacklist-nouveau.conf") == (disk in NVIDIA),
          "%s: nouveau blacklist wrong for %s" % (tag, disk))
    cuda = os.path.islink(os.path.join(root, "usr/local/cuda"))
    check(cuda == (kind != "amd-rocm"), "%s: /usr/local/cuda link=%s with %s" % (tag, cuda, kind))
    env = open(os.path.join(root, "etc/profile.d/dsvm-env.sh")).read()
    accel = {"none": "cpu", "amd-rocm": "rocm"}.get(kind, "cuda")
    check("DSVM_ACCELERATOR=%s\n" % accel in env, "%s: profile.d says %s" % (tag, env.split()[:6]))
    site = glob.glob(os.path.join(root, "opt/dsvm/envs/py312/lib/python3*/site-packages"))
    if site:
        rocm = bool(glob.glob(os.path.join(site[0], "dsvm_sample_torch_rocm-*.dist-info")))
        cudaw = bool(glob.glob(os.path.join(site[0], "dsvm_sample_torch_cuda-*.dist-info")))
        if kind == "amd-rocm":
            check(rocm and not cudaw, "%s: ROCm build expected (rocm=%s cuda=%s)" % (tag, rocm, cudaw))
        elif kind in ("nvidia-open", "nvidia-proprietary", "nvidia-grid"):
            check(cudaw and not rocm, "%s: CUDA build expected (rocm=%s cuda=%s)" % (tag, rocm, cudaw))
    return disk


def boot(w, name, prev_disk, expect_rc=0):
    case, kind, ib, nvswitch = PROFILES[name]
    sysroot = w.sysroot(case)
    rc, out, err = w.run(sysroot)
    tag = "boot %d (%s)" % (w.boot, name)
    if not check(rc == expect_rc, "%s: exit %d, expected %d: %s" % (tag, rc, expect_rc, err[-600:])):
        return prev_disk, sysroot
    st = w.status()
    disk = check_state(w, name, kind, ib, nvswitch, st, prev_disk)
    before = tree(w.a.root)
    rc2, out2, err2 = w.run(w.same_boot(sysroot))
    check(rc2 == 0 and out2.get("outcome") == "no-op",
          "%s: second run not a no-op: %s %s" % (tag, out2.get("outcome"), err2[-300:]))
    after = tree(w.a.root)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    check(not changed, "%s: second run changed %s" % (tag, changed[:5]))
    w.remember_load(st)
    return disk, sysroot


def health_gate(w, disk):
    """Three boots with the module at the wrong version end in the CPU fallback."""
    disk, _ = boot(w, "nd-a100-v4", disk)
    wrong = ("nvidia", "1.0.0-not-the-installed-one")
    results = []
    for _ in range(3):
        s = w.sysroot("nd-a100-v4", module=wrong)
        rc, out, err = w.run(s)
        results.append((rc, out.get("outcome"), w.status()))
    st = results[-1][2]
    check([r[0] for r in results] == [0, 0, 0], "health: exits %s" % [r[0] for r in results])
    check([r[2]["attempts"] for r in results[:2]] == [1, 2],
          "health: attempts %s" % [r[2]["attempts"] for r in results])
    check(results[-1][1] == "fallback" and st["mode"] == "none" and st["result"] == "fallback",
          "health: third mismatch ended in %s, mode %s" % (results[-1][1], st["mode"]))
    check("fallback" in st["reason"] and "version" in st["reason"],
          "health: reason does not say why: %s" % st["reason"])
    check(not enabled(w.a.root, "nvidia-fabricmanager.service") and
          not enabled(w.a.root, "nvidia-persistenced.service"),
          "health: GPU services still enabled in the fallback")
    check(st.get("login_message") and "CPU mode" in st["login_message"],
          "health: no login line for the fallback: %s" % st.get("login_message"))
    s = w.sysroot("nd-a100-v4", module=wrong)
    rc, out, err = w.run(s)
    check(rc == 0 and out.get("outcome") == "no-op", "health: the fallback is not settled: %s"
          % out.get("outcome"))
    w.loaded = None
    disk, _ = boot(w, "t4", "nvidia-open")
    check(w.status()["attempts"] == 0, "health: a hardware change does not start afresh")

    # A size that shows fewer GPUs than it has: the gate fails the attempt (exit 1), the next
    # boots retry, and the fourth settles in CPU mode.
    w.loaded = None
    codes = []
    for _ in range(4):
        s = w.sysroot("nd-a100-v4-7gpu")
        rc, out, err = w.run(s)
        codes.append((rc, out.get("outcome")))
    check(codes[:3] == [(1, "failed")] * 3, "gpu count: first three boots %s" % codes[:3])
    check(codes[3] == (0, "fallback"), "gpu count: fourth boot %s" % (codes[3],))
    check("GPU" in w.status()["reason"], "gpu count: reason %s" % w.status()["reason"])
    return "nvidia-open"


def secure_boot(w):
    w.loaded = None
    s = w.sysroot("a10-grid-sb")
    rc, out, err = w.run(s)
    st = w.status()
    check(rc == 0 and out.get("outcome") == "blocked", "secure boot: exit %d outcome %s %s"
          % (rc, out.get("outcome"), err[-300:]))
    check(st["mode"] == "none" and st["result"] == "blocked", "secure boot: state %s" % st)
    check("blocked: secure boot" in st["reason"] and "Way out" in st["reason"],
          "secure boot: reason %s" % st["reason"])
    check(not exists(w.a.root, "usr/bin/nvidia-uninstall"),
          "secure boot: the GRID runfile was installed anyway")
    rc, out, err = w.run(w.same_boot(s))
    check(out.get("outcome") == "no-op", "secure boot: not settled: %s" % out.get("outcome"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--firstboot", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--short", action="store_true")
    a = ap.parse_args()
    w = Walk(a)
    seq = ["cpu", "t4", "mi300x", "cpu"] if a.short else eulerian_circuit(ORDER)
    if os.environ.get("DSVM_WALK"):
        seq = os.environ["DSVM_WALK"].split(",")
    pairs = set(zip(seq, seq[1:]))
    if not a.short and not os.environ.get("DSVM_WALK"):
        check(len(pairs) == len(ORDER) * (len(ORDER) - 1) == len(seq) - 1,
              "the walk covers %d ordered pairs in %d boots" % (len(pairs), len(seq) - 1))
    start = time.monotonic()
    disk = "nvidia-open"  # the sample image is built for an A100: nvidia-open installed
    for name in seq:
        disk, _ = boot(w, name, disk)
    walk_s = time.monotonic() - start
    transitions = len(seq) - 1
    disk = health_gate(w, disk)
    secure_boot(w)
    bad = {f.split(" ")[1] for f in failures if f.startswith("boot ")}
    ok = sum(1 for b in range(2, len(seq) + 1) if str(b) not in bad)
    print("T6: %d/%d transitions over %d profiles end in the right kind with the old kind's "
          "module and libraries gone, and a second run that changes nothing (%.0f s); health "
          "gate: 3 bad module versions -> CPU fallback, short GPU count -> fallback; Secure "
          "Boot blocked; %d checks, %d failed"
          % (ok, transitions, len(set(seq)), walk_s, checks, len(failures)))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
