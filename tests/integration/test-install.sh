#!/bin/sh
# dsvm-build install: an edition made at test time (tests/fixtures/install/make-fixture.sh) is
# resolved, fetched from the loopback server and installed into a fresh root. Asserts the tree:
# the archive under /opt, the redist archives merged into /usr/local/cuda-13.0 with the
# /usr/local/cuda link, the file with mode 0644, the service's .wants link, the staged runfile
# in /var/lib/dsvm/repo/<sha256>, lock.json (the lock byte for byte) and sbom.json, receipts,
# no journal or temporary left; the deferred kind (conda) reported with its reason and not
# installed; an apt component in this root without apt fails and says so (exit 1).
# A second run changes nothing (full listing with modes, sizes, link targets and hashes), a
# unit file's WantedBy= is honoured, systemctl --root is used where it and the unit file exist, a tampered cache file is refused (65) before it reaches
# the root, a missing artifact is 66, and a missing --root is a usage error (64). A lock that
# cannot be loaded (66) leaves no new --root directory behind. A root whose /var/lib/dsvm is an
# absolute link to a directory of the build machine gets its journal, receipts and staged
# payloads where the link leads inside the root; nothing is written outside it.
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/fixtures/install/setup.sh"
. "$top/tests/tools/check.sh"
install_setup
root=$work/root

"$bin" install "$lock" --cache "$cache" --root "$root" --no-systemctl --json >"$work/out.json" \
	2>"$work/err" || { echo "FAIL: install: $(cat "$work/err")"; exit 1; }
steps=$(jq .steps "$work/out.json")
check "steps: $(cat "$work/out.json")" [ "$(jq -c '[.steps, .installed, .staged, .unchanged, .deferred]' "$work/out.json")" = "[9,8,1,0,1]" ]
check "driver archive" [ -f "$root/opt/nvidia-driver-580-open-580.95.05/README" ]
check "tool script" [ -x "$root/opt/tool-1.2.3/bin/tool" ]
check "tool doc" grep -q 'Tool, for tests' "$root/opt/tool-1.2.3/share/doc/README"
check "tool link" [ "$(readlink "$root/opt/tool-1.2.3/bin/t")" = tool ]
check "cuda link" [ "$(readlink "$root/usr/local/cuda")" = cuda-13.0 ]
check "nvcc merged" [ -x "$root/usr/local/cuda/bin/nvcc" ]
check "cudart merged" [ "$(readlink "$root/usr/local/cuda-13.0/lib/libcudart.so.13")" = libcudart.so.13.0.48 ]
check "cudnn merged into the toolkit" [ -f "$root/usr/local/cuda-13.0/include/cudnn.h" ]
check "redist top directories stripped" [ ! -e "$root/usr/local/cuda-13.0/cuda_nvcc-linux-x86_64-13.0.48-archive" ]
check "file content" cmp -s "$work/files/blacklist-nouveau.conf" "$root/etc/modprobe.d/blacklist-nouveau.conf"
check "file mode" [ "$(stat -c %a "$root/etc/modprobe.d/blacklist-nouveau.conf")" = 644 ]
check "wants link" [ "$(readlink "$root/etc/systemd/system/multi-user.target.wants/jupyter.service")" = /lib/systemd/system/jupyter.service ]
grid=$(sha256sum "$work/files/grid.run" | cut -d' ' -f1)
check "staged runfile" cmp -s "$work/files/grid.run" "$root/var/lib/dsvm/repo/$grid"
check "repo holds only the staged payload" [ "$(ls "$root/var/lib/dsvm/repo")" = "$grid" ]
check "lock.json is the lock" cmp -s "$lock" "$root/usr/share/dsvm/lock.json"
check "sbom.json" [ "$(jq -r .bomFormat "$root/usr/share/dsvm/sbom.json")" = CycloneDX ]
check "receipt" [ "$(jq -r .dest "$root/var/lib/dsvm/installed/cuda-toolkit-13-0.json")" = /usr/local/cuda-13.0 ]
check "journal removed after a complete run" [ ! -e "$root/var/lib/dsvm/journal/install.journal" ]
check "no staging left" [ ! -e "$root/var/lib/dsvm/journal/staging" ]
check "no temporary left" [ -z "$(find "$root" -name '*.dsvm-tmp*')" ]
check "conda not installed" [ -z "$(find "$root" -name '*.conda')" ]
check "deferred with reasons" grep -q "deferred   some-conda (conda): conda packages are not installed" "$work/err"
check "deferred in --json" [ "$(jq -r '[.deferred_components[].name] | join(" ")' "$work/out.json")" = "some-conda" ]

# apt runs inside the root: in one without apt the step fails, naming what is missing.
jq '.components = [{"order": 1, "name": "apt-driver", "kind": "apt", "version": "1", "action": "install",
	"source": {"package": "dsvm-test-driver", "version": "1.0-1", "repository": "https://archive.example.test/ubuntu ./"},
	"artifacts": []}]' "$lock" >"$work/lock-apt.json"
rc=0
"$bin" install "$work/lock-apt.json" --cache "$cache" --root "$work/noapt" --no-systemctl 2>"$work/err7" || rc=$?
check "apt without apt-get: exit $rc, want 1" [ "$rc" -eq 1 ]
check "apt without apt-get: message: $(cat "$work/err7")" grep -q "'apt-driver': no apt-get in the root '$work/noapt'" "$work/err7"
check "apt without apt-get: nothing written but the journal and the root lock" [ "$(cd "$work/noapt" && find . -type f | sort | tr '\n' ' ')" = "./run/dsvm.lock ./var/lib/dsvm/journal/install.journal ./var/lib/dsvm/journal/install.lock " ]

# A link planted in the root: /var/lib/dsvm -> a directory that exists outside the root.
linked=$work/linked
outside=$work/outside
mkdir -p "$linked/var/lib" "$outside"
ln -s "$outside" "$linked/var/lib/dsvm"
rc=0
"$bin" install "$lock" --cache "$cache" --root "$linked" --no-systemctl 2>"$work/err9" || rc=$?
check "linked /var/lib/dsvm: exit $rc: $(cat "$work/err9")" [ "$rc" -eq 0 ]
check "linked /var/lib/dsvm: nothing written outside the root: $(find "$outside" -mindepth 1 | head -3)" \
	[ -z "$(find "$outside" -mindepth 1)" ]
check "linked /var/lib/dsvm: receipt where the link leads in the root" \
	[ "$(jq -r .dest "$linked$outside/installed/cuda-toolkit-13-0.json")" = /usr/local/cuda-13.0 ]
check "linked /var/lib/dsvm: staged runfile where the link leads in the root" cmp -s "$work/files/grid.run" "$linked$outside/repo/$grid"
check "linked /var/lib/dsvm: the link kept" [ "$(readlink "$linked/var/lib/dsvm")" = "$outside" ]

# A second run changes nothing.
snapshot "$root" >"$work/before"
"$bin" install "$lock" --cache "$cache" --root "$root" --no-systemctl --json >"$work/out2.json" 2>"$work/err2" ||
	no "second install: $(cat "$work/err2")"
snapshot "$root" >"$work/after"
check "second run changed the tree: $(diff "$work/before" "$work/after" | head -5)" cmp -s "$work/before" "$work/after"
check "second run reports unchanged" [ "$(jq -c '[.installed, .staged, .unchanged]' "$work/out2.json")" = "[0,0,$steps]" ]
files=$(grep -c '^f ' "$work/before")

# A unit file in the root: its WantedBy= decides the link and its path is the target.
root2=$work/root2
mkdir -p "$root2/usr/lib/systemd/system"
printf '[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=graphical.target  default.target\n' \
	>"$root2/usr/lib/systemd/system/jupyter.service"
"$bin" install "$lock" --cache "$cache" --root "$root2" --no-systemctl 2>"$work/err3" || no "install with a unit file: $(cat "$work/err3")"
for t in graphical.target default.target; do
	check "WantedBy $t" [ "$(readlink "$root2/etc/systemd/system/$t.wants/jupyter.service")" = /usr/lib/systemd/system/jupyter.service ]
done
check "no default link when WantedBy= is given" [ ! -e "$root2/etc/systemd/system/multi-user.target.wants" ]

# With systemctl installed and the unit file in the root, systemctl --root makes the same link,
# and a second run finds it in place and runs nothing.
if command -v systemctl >/dev/null; then
	root3=$work/root3
	mkdir -p "$root3/lib/systemd/system"
	printf '[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n' \
		>"$root3/lib/systemd/system/jupyter.service"
	"$bin" install "$lock" --cache "$cache" --root "$root3" 2>"$work/err6" || no "install with systemctl: $(cat "$work/err6")"
	check "systemctl link" [ "$(readlink "$root3/etc/systemd/system/multi-user.target.wants/jupyter.service")" = /lib/systemd/system/jupyter.service ]
	"$bin" install "$lock" --cache "$cache" --root "$root3" 2>"$work/err6" || no "second install with systemctl"
	check "systemctl not run again" grep -q 'unchanged install jupyter-service' "$work/err6"
fi

# A cache file changed after fetch is refused, and nothing of it reaches the root.
conf=$(sha256sum "$work/files/blacklist-nouveau.conf" | cut -d' ' -f1)
chmod u+w "$cache/$conf"
printf 'blacklist nothing\n' >"$cache/$conf"
rm "$root/etc/modprobe.d/blacklist-nouveau.conf"
snapshot "$root" >"$work/before"
rc=0
"$bin" install "$lock" --cache "$cache" --root "$root" --no-systemctl 2>"$work/err4" || rc=$?
check "tampered cache: exit $rc, want 65" [ "$rc" -eq 65 ]
check "tampered cache message: $(cat "$work/err4")" grep -q "no longer matches the lock" "$work/err4"
check "tampered file not installed" [ ! -e "$root/etc/modprobe.d/blacklist-nouveau.conf" ]
snapshot "$root" | grep -v 'journal/install.journal' >"$work/after"
grep -v 'journal/install.journal' "$work/before" >"$work/before2"
check "tampered cache changed the tree" cmp -s "$work/before2" "$work/after"

# A missing artifact is 66 and names fetch; no --root is 64.
rm "$cache/$conf"
rc=0
"$bin" install "$lock" --cache "$cache" --root "$root" --no-systemctl 2>"$work/err5" || rc=$?
check "missing artifact: exit $rc, want 66" [ "$rc" -eq 66 ]
check "missing artifact names fetch" grep -q "run 'dsvm-build fetch' first" "$work/err5"
rc=0
"$bin" install "$lock" --cache "$cache" 2>/dev/null || rc=$?
check "no --root: exit $rc, want 64" [ "$rc" -eq 64 ]
rc=0
"$bin" install "$work/nonexistent.json" --cache "$cache" --root "$work/x-new/root" 2>"$work/err8" || rc=$?
check "missing lock: exit $rc, want 66" [ "$rc" -eq 66 ]
check "missing lock: message: $(cat "$work/err8")" grep -q "nonexistent.json" "$work/err8"
check "missing lock: no root created" [ ! -e "$work/x-new" ]

[ "$fail" -eq 0 ] || { echo "$fail of $checks checks failed"; exit 1; }
echo "install: $steps steps, $files files in the tree, $checks checks hold; a second run changes nothing"
