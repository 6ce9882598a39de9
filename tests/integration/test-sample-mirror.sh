#!/bin/sh
# The sample mirror (tests/tools/make-sample-mirror.py behind tests/tools/sample-mirror.sh): the
# sample edition validates; resolve picks the expected driver, toolkit and PyTorch build for a CPU
# VM, an A100 VM (nvidia-open, every other kind staged), a V100 VM (nvidia-proprietary), an ND
# A100 v4 VM (fabric manager and peermem too), amd-rocm, nvidia-legacy-470 and nvidia-grid; fetch
# verifies every artifact from the loopback server, also through the content-addressed --mirror
# tree, and refuses a payload changed on the server; the generator is deterministic (a rerun
# changes no byte, a fresh build gives the same artifacts, a new base URL changes only the
# manifests); every .deb is a valid package whose files all say they are samples, the apt
# repository is signed by the sample key and apt resolves its stacks (and refuses two kinds at
# once); the GRID runfile installs, reinstalls, refuses a packaged driver and uninstalls leaving
# its alternate-install-present behind; every wheel is a valid zip whose RECORD matches and pip
# installs it offline; every redist archive has NVIDIA's layout and matches its redistrib JSON.
# shellcheck disable=SC2016 # jq programs and sh -c scripts are single-quoted on purpose
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
PATH="${DSVM_BUILD:-$top/build}:$PATH"
apt_script=$top/tests/tools/make-apt-repo.sh
for tool in dpkg-deb gpgv apt-get jq python3 sha256sum; do
	command -v "$tool" >/dev/null || { echo "skip: $tool is not installed (make deps)"; exit 77; }
done
[ -f "$apt_script" ] || { echo "FAIL: '$apt_script' does not exist"; exit 1; }

tmp=$(mktemp -d)
m=$tmp/m
trap 'sh "$top/tests/tools/sample-mirror.sh" stop "$m"; rm -rf "$tmp"' EXIT
. "$top/tests/tools/check.sh"
# Every file under the given trees of DIR: path, mode, sha256.
snapshot() {
	d=$1
	shift
	(cd "$d" && find "$@" -type f -printf '%p %m ' -exec sha256sum {} \; | sort)
}
gen() { python3 "$top/tests/tools/make-sample-mirror.py" --apt-repo-script "$apt_script" "$@"; }

sh "$top/tests/tools/sample-mirror.sh" start "$m" --apt-repo-script "$apt_script" >"$tmp/start" \
	2>"$tmp/err" || { echo "FAIL: sample-mirror.sh start: $(cat "$tmp/err")"; exit 1; }
base=$(cat "$m/base-url")
edition=$(sed -n 2p "$tmp/start")
check "start prints the base URL, then the edition" [ "$(sed -n 1p "$tmp/start")" = "$base" ]
check "edition path" [ "$edition" = "$m/sample/manifests/editions/sample-ubuntu-22.04.yaml" ]
check "server.pid names a live process" kill -0 "$(cat "$m/server.pid")"

# 1. validate.
rc=0
dsvm-build validate "$edition" >"$tmp/out" 2>&1 || rc=$?
check "validate exited $rc: $(cat "$tmp/out")" [ "$rc" -eq 0 ]

# 2. resolve: the driver, the toolkit and the PyTorch build each target gets.
n_targets=0
target() { # NAME EXPECTED OPTIONS...
	name=$1
	want=$2
	shift 2
	n_targets=$((n_targets + 1))
	if ! dsvm-build resolve "$edition" "$@" -o "$tmp/lock-$name.json" 2>"$tmp/err"; then
		no "resolve $name: $(cat "$tmp/err")"
		return
	fi
	# Kind, driver component, the PyTorch build installed, the redist components installed.
	got=$(jq -r '[.components[] | select(.action == "install")] as $in
		| [.target.driver_kind, (.driver.component // "-"),
		   ($in[] | select(.provides | index("pytorch")) | .name),
		   ([$in[] | select(.kind == "nvidia-redist") | .name] | join(",") | if . == "" then "-" else . end)]
		| join(" ")' "$tmp/lock-$name.json")
	check "resolve $name: got '$got', want '$want'" [ "$got" = "$want" ]
}
target cpu "none - sample-torch-cpu -" --gpu none
cuda=sample-cuda-toolkit-12-8,sample-cudnn-9
target a100 "nvidia-open dsvm-sample-nvidia-open-580 sample-torch-cuda $cuda" \
	--vm-size Standard_NC24ads_A100_v4 --all-driver-kinds
target v100 "nvidia-proprietary dsvm-sample-nvidia-proprietary-580 sample-torch-cuda $cuda" \
	--vm-size Standard_NC6s_v3
target rocm "amd-rocm dsvm-sample-amd-rocm-6.4 sample-torch-rocm -" --driver-kind amd-rocm
# R470 stops at CUDA 11.4: no toolkit, and the CPU build of PyTorch.
target legacy470 "nvidia-legacy-470 dsvm-sample-nvidia-legacy-470-470 sample-torch-cpu -" \
	--driver-kind nvidia-legacy-470
target grid "nvidia-grid sample-nvidia-grid-driver sample-torch-cuda $cuda" --driver-kind nvidia-grid
target nda100 "nvidia-open dsvm-sample-nvidia-open-580 sample-torch-cuda $cuda" \
	--vm-size Standard_ND96asr_v4
a100=$tmp/lock-a100.json
q() { jq -r --arg b "$base" "$1" "$a100"; }
check "A100 stages the other kinds' stacks and the fabric's extras" [ "$(q '[.components[]
	| select(.action == "stage") | .name] | sort | join(" ")')" = "dsvm-sample-amd-rocm-6.4 \
dsvm-sample-nvidia-fabricmanager-580 dsvm-sample-nvidia-legacy-470-470 \
dsvm-sample-nvidia-proprietary-580 sample-nvidia-fabricmanager-service sample-nvidia-grid-driver \
sample-nvidia-peermem sample-torch-cpu sample-torch-rocm" ]
check "A100 enables persistenced, for every NVIDIA kind" [ "$(q '.components[]
	| select(.name == "sample-nvidia-persistenced-service")
	| "\(.action) \(.source.unit) \(.driver_kinds | sort | join(","))"')" = \
	"install nvidia-persistenced.service nvidia-grid,nvidia-legacy-470,nvidia-open,nvidia-proprietary" ]
check "the GRID runfile is staged by sha256, run with --silent" [ "$(q '.components[]
	| select(.name == "sample-nvidia-grid-driver") | "\(.kind) \(.args | join(" "))
	\(.artifacts[0].url | endswith("/extras/dsvm-sample-nvidia-grid-595.58.03.run"))
	\(.artifacts[0].sha256 | test("^[0-9a-f]{64}$"))"')" = "runfile --silent
	true
	true" ]
# An NVSwitch + InfiniBand size installs fabric manager (after the driver), its unit and peermem.
check "ND A100 v4: fabric manager, its service and peermem, in order" [ "$(jq -r '[.components[]
	| select(.action == "install") | .name
	| select(test("^dsvm-sample-nvidia-(open|fabric)|fabricmanager-service|peermem"))] | join(" ")' \
	"$tmp/lock-nda100.json")" = "dsvm-sample-nvidia-open-580 dsvm-sample-nvidia-fabricmanager-580 \
sample-nvidia-fabricmanager-service sample-nvidia-peermem" ]
check "no fabric manager or peermem on GRID" [ "$(jq '[.components[]
	| select(.name | test("fabric|peermem"))] | length' "$tmp/lock-grid.json")" = 0 ]
check "A100 driver 580.95.05, whose CUDA ceiling admits the 12.8 toolkit" [ "$(q '.driver
	| .version + " " + (.cuda_max | split(".") | (.[0] | tonumber) * 100 + (.[1] | tonumber) >= 1208
	| tostring)')" = "580.95.05 true" ]
check "cuDNN follows the toolkit's CUDA major" [ "$(q '.components[] | select(.name == "sample-cudnn-9")
	| "\(.source.cuda_variant) \(.artifacts[0].url | test("_cuda12-archive.tar.xz$"))"')" = "cuda12 true" ]
check "apt driver pinned to the sample repository and key" [ "$(q '.components[]
	| select(.kind == "apt" and .action == "install")
	| "\(.source.package)=\(.source.version) \(.source.repository == ($b + "/apt ./")) \(.artifacts[0].name)"')" = \
	"dsvm-sample-nvidia-open-580=580.95.05-0dsvm1 true sample-archive-key.gpg" ]
check "every URL artifact is under the base URL" [ "$(q '[.components[].artifacts[] | select(.url) | .url
	| startswith($b + "/")] | all')" = true ]

# 3. fetch: every artifact of every lock verifies; the cache holds exactly what the locks name.
n_art=0
for l in "$tmp"/lock-*.json; do
	if ! dsvm-build fetch "$l" --repo "$m/sample" --cache "$tmp/cache" --json >"$tmp/fetch.json" 2>"$tmp/err"; then
		no "fetch $(basename "$l"): $(tail -n 3 "$tmp/err")"
		continue
	fi
	check "fetch $(basename "$l") reports no failure" [ "$(jq .failed "$tmp/fetch.json")" = 0 ]
done
jq -r '.components[].artifacts[].sha256' "$tmp"/lock-*.json | sort -u >"$tmp/want"
while read -r h; do
	n_art=$((n_art + 1))
	check "cache/$h holds what its name says" \
		[ "$(sha256sum <"$tmp/cache/$h" 2>/dev/null | cut -d' ' -f1)" = "$h" ]
done <"$tmp/want"
check "the cache holds only the locks' artifacts" \
	[ "$(find "$tmp/cache" -mindepth 1 -printf '%f\n' | sort)" = "$(cat "$tmp/want")" ]
check "at least 15 distinct artifacts" [ "$n_art" -ge 15 ]

# The content-addressed tree serves as a mirror: every URL artifact comes from /sha256/.
: >"$m/server.log"
dsvm-build fetch "$a100" --repo "$m/sample" --cache "$tmp/cache-mirror" --mirror "$base" >/dev/null 2>"$tmp/err" ||
	no "fetch --mirror: $(tail -n 3 "$tmp/err")"
n_url=$(jq '[.components[].artifacts[] | select(.url) | .sha256] | unique | length' "$a100")
check "--mirror: $n_url artifacts from the sha256 tree" \
	[ "$(grep -c ' /files/sha256/' "$m/server.log")" -eq "$n_url" ]
check "--mirror: nothing from the upstream paths" \
	[ "$(grep -vc ' /files/sha256/' "$m/server.log")" -eq 0 ]

# A payload changed on the server after resolve is refused, and leaves nothing in the cache.
whl=$m/www/wheels/dsvm_sample_numpy-2.2.6-py3-none-any.whl
cp -p "$whl" "$tmp/whl.orig"
printf 'x' >>"$whl"
rc=0
dsvm-build fetch "$tmp/lock-cpu.json" --repo "$m/sample" --cache "$tmp/cache-bad" >/dev/null 2>&1 || rc=$?
check "changed payload refused with 65 (got $rc)" [ "$rc" -eq 65 ]
h=$(jq -r '.components[] | select(.name == "sample-numpy") | .artifacts[0].sha256' "$tmp/lock-cpu.json")
check "nothing kept of the changed payload" [ ! -e "$tmp/cache-bad/$h" ]
cp -p "$tmp/whl.orig" "$whl"

# 4. Determinism.
fail_before=$fail
snapshot "$m" www sample keys/test-archive-key.gpg .stamp >"$tmp/snap1"
gen --out "$m" --base-url "$base" >/dev/null 2>"$tmp/err" || no "rerun: $(cat "$tmp/err")"
check "a rerun uses the cached artifacts" grep -q 'cached artifacts' "$tmp/err"
snapshot "$m" www sample keys/test-archive-key.gpg .stamp >"$tmp/snap2"
check "a rerun changed bytes: $(diff "$tmp/snap1" "$tmp/snap2" | head -3)" \
	cmp -s "$tmp/snap1" "$tmp/snap2"
# A fresh build gives the same bytes, but for the signing key and what it signs.
gen --out "$tmp/m2" --base-url "$base" >/dev/null 2>"$tmp/err" || no "fresh build: $(cat "$tmp/err")"
# The Windows test installers are signed with a CA made afresh by each build.
unsigned='-e /apt/Release -e /apt/InRelease -e /apt/Release.gpg -e /keys/ -e /windows/ -e /sha256/'
# shellcheck disable=SC2086 # the pattern list is split on purpose
snapshot "$m" www sample | grep -v $unsigned >"$tmp/snap-a"
# shellcheck disable=SC2086
snapshot "$tmp/m2" www sample | grep -v $unsigned >"$tmp/snap-b"
check "a fresh build differs: $(diff "$tmp/snap-a" "$tmp/snap-b" | head -3)" \
	cmp -s "$tmp/snap-a" "$tmp/snap-b"
check "the comparison covered the artifacts" [ "$(wc -l <"$tmp/snap-a")" -ge 40 ]
# Another base URL rewrites the manifests only.
snapshot "$tmp/m2" www >"$tmp/www-a"
gen --out "$tmp/m2" --base-url http://127.0.0.1:9/elsewhere >/dev/null 2>&1 || no "base URL change failed"
snapshot "$tmp/m2" www >"$tmp/www-b"
check "a base URL change rebuilt artifacts" cmp -s "$tmp/www-a" "$tmp/www-b"
check "no manifest keeps the old base URL" [ -z "$(grep -rl "$base" "$tmp/m2/sample")" ]
check "the manifests use the new base URL" grep -q 'http://127.0.0.1:9/elsewhere/redist/' \
	"$tmp/m2/sample/manifests/components/sample-cuda.yaml"
# A changed generator (here: its stamp) rebuilds everything, to the same bytes.
echo stale >"$tmp/m2/.stamp"
gen --out "$tmp/m2" --base-url http://127.0.0.1:9/elsewhere >/dev/null 2>"$tmp/err" ||
	no "rebuild: $(cat "$tmp/err")"
check "a stale stamp rebuilds" grep -q 'built artifacts' "$tmp/err"
# shellcheck disable=SC2086
snapshot "$tmp/m2" www | grep -v $unsigned >"$tmp/www-c"
# shellcheck disable=SC2086
check "a rebuild differs" [ "$(grep -v $unsigned "$tmp/www-a")" = "$(cat "$tmp/www-c")" ]

det=deterministic
[ "$fail" -eq "$fail_before" ] || det="NOT deterministic"

# 5. Debian packages and the apt repository.
elf=$(printf '\177ELF')
n_deb=0
for deb in "$m"/www/apt/*.deb; do
	n_deb=$((n_deb + 1))
	b=$(basename "$deb")
	check "$b: dpkg-deb --info" dpkg-deb --info "$deb" >/dev/null
	pkg=$(dpkg-deb -f "$deb" Package)
	check "$b: sample name" [ "${pkg#dsvm-sample-}" != "$pkg" ]
	rm -rf "$tmp/x"
	dpkg-deb -R "$deb" "$tmp/x"
	find "$tmp/x" -path "$tmp/x/DEBIAN" -prune -o -type f -print >"$tmp/files"
	check "$b: ships files" [ -s "$tmp/files" ]
	while read -r f; do
		check "$b: ${f#"$tmp/x"} says it is a sample" grep -q 'dsvm sample' "$f"
		check "$b: ${f#"$tmp/x"} is not ELF" [ "$(head -c 4 "$f")" != "$elf" ]
	done <"$tmp/files"
	for s in "$tmp"/x/DEBIAN/preinst "$tmp"/x/DEBIAN/postinst "$tmp"/x/DEBIAN/prerm \
		"$tmp"/x/DEBIAN/postrm; do
		[ -e "$s" ] || continue
		check "$b: $(basename "$s") is a /bin/sh script" [ "$(head -n 1 "$s")" = '#!/bin/sh' ]
		check "$b: $(basename "$s") parses" sh -n "$s"
	done
done
check "thirteen packages (three per apt kind, and fabric manager)" [ "$n_deb" -eq 13 ]
debf() { dpkg-deb -f "$m/www/apt/$1" "$2"; }
v=580.95.05-0dsvm1
check "meta depends on exact versions" \
	[ "$(debf "dsvm-sample-nvidia-open-580_${v}_amd64.deb" Depends)" = \
	"dsvm-sample-nvidia-open-kernel-580 (= $v), dsvm-sample-nvidia-open-libs-580 (= $v)" ]
check "kinds conflict" [ "$(debf "dsvm-sample-nvidia-open-kernel-580_${v}_amd64.deb" Conflicts)" = \
	"dsvm-sample-nvidia-proprietary-kernel-580, dsvm-sample-amd-rocm-kernel-6.4, dsvm-sample-nvidia-legacy-470-kernel-470" ]
check "kinds replace" [ "$(debf "dsvm-sample-nvidia-proprietary-libs-580_${v}_amd64.deb" Replaces)" = \
	"dsvm-sample-nvidia-open-libs-580, dsvm-sample-amd-rocm-libs-6.4, dsvm-sample-nvidia-legacy-470-libs-470" ]
check "fabric manager at the driver's exact version, over either R580 module" \
	[ "$(debf "dsvm-sample-nvidia-fabricmanager-580_${v}_amd64.deb" Depends)" = \
	"dsvm-sample-nvidia-open-kernel-580 (= $v) | dsvm-sample-nvidia-proprietary-kernel-580 (= $v)" ]
check "fabric manager ships its unit" sh -c "dpkg-deb -c '$m/www/apt/dsvm-sample-nvidia-fabricmanager-580_${v}_amd64.deb' |
	grep -q ' ./lib/systemd/system/nvidia-fabricmanager.service\$'"
# The NVIDIA libraries packages carry what distribution driver packages do, and versioned names.
for lv in nvidia-open-libs-580_$v nvidia-proprietary-libs-580_$v \
	nvidia-legacy-470-libs-470_470.256.02-0dsvm1; do
	dpkg-deb -c "$m/www/apt/dsvm-sample-${lv}_amd64.deb" | awk '{print $6}' >"$tmp/contents"
	ver=${lv#*_}
	ver=${ver%-0dsvm1}
	for f in ./usr/lib/nvidia/alternate-install-present ./lib/systemd/system/nvidia-persistenced.service \
		"./usr/lib/x86_64-linux-gnu/libnvidia-ml.so.$ver.sample" "./usr/lib/x86_64-linux-gnu/libcuda.so.$ver.sample"; do
		check "${lv%_*} ships $f" grep -qx "$f" "$tmp/contents"
	done
done
key=$m/sample/manifests/keys/sample-archive-key.gpg
check "InRelease signed by the sample key" gpgv --keyring "$key" "$m/www/apt/InRelease" 2>/dev/null
check "Release.gpg signed by the sample key" \
	gpgv --keyring "$key" "$m/www/apt/Release.gpg" "$m/www/apt/Release" 2>/dev/null
check "the sample key is the exported archive key" cmp -s "$key" "$m/keys/test-archive-key.gpg"
# apt, with its state private to this test, reads the signed repository over HTTP.
a=$tmp/apt
mkdir -p "$a/lists/partial" "$a/cache/archives/partial" "$a/prefs" "$a/conf"
: >"$a/status"
echo "deb [signed-by=$key] $base/apt ./" >"$a/sources.list"
aptget() {
	apt-get -o Dir::Etc::sourcelist="$a/sources.list" -o Dir::Etc::sourceparts=- \
		-o Dir::State::Lists="$a/lists" -o Dir::Cache="$a/cache" -o Dir::State::status="$a/status" \
		-o Dir::Etc::preferencesparts="$a/prefs" -o Dir::Etc::parts="$a/conf" \
		-o APT::Architecture=amd64 -o APT::Architectures::=amd64 -o Acquire::http::Proxy=false \
		-o APT::Sandbox::User=root "$@"
}
if aptget update >"$tmp/apt.out" 2>&1 && ! grep -qE '^(E|W):' "$tmp/apt.out"; then
	for k in nvidia-open-580 nvidia-proprietary-580 amd-rocm-6.4 nvidia-legacy-470-470; do
		aptget -s install "dsvm-sample-$k" >"$tmp/apt.out" 2>&1 ||
			no "apt cannot install dsvm-sample-$k: $(tail -n 3 "$tmp/apt.out")"
		check "apt installs the $k stack (3 packages)" [ "$(grep -c '^Inst ' "$tmp/apt.out")" -eq 3 ]
	done
	checks=$((checks + 1))
	! aptget -s install dsvm-sample-nvidia-open-580 dsvm-sample-nvidia-proprietary-580 \
		>/dev/null 2>&1 || no "apt installs two driver kinds at once"
	aptget -s install dsvm-sample-nvidia-proprietary-580 dsvm-sample-nvidia-fabricmanager-580 \
		>"$tmp/apt.out" 2>&1 || no "apt cannot add fabric manager to the proprietary stack"
	check "fabric manager goes with the proprietary module (4 packages, no open one)" \
		[ "$(grep '^Inst ' "$tmp/apt.out" | grep -vc nvidia-open)" -eq 4 ]
else
	no "apt-get update against the sample repository: $(tail -n 5 "$tmp/apt.out")"
fi

# 6. The GRID runfile, under DSVM_SAMPLE_ROOT (no root needed): it refuses anything but --silent
# and a packaged driver's alternate-install-present, installs the GRID files and its uninstaller,
# runs again to the same bytes, and nvidia-uninstall removes all of it but
# alternate-install-present (a leftover a kind switch must clear), and only its own marker.
run=$m/www/extras/dsvm-sample-nvidia-grid-595.58.03.run
g=$tmp/grid
grid() { DSVM_SAMPLE_ROOT=$g sh "$@" >"$tmp/grid.out" 2>&1; }
gridfiles() { (cd "$g" && find . -type f | sort); }
alt=$g/usr/lib/nvidia/alternate-install-present
check "GRID runfile parses" sh -n "$run"
rc=0
grid "$run" || rc=$?
check "GRID runfile without --silent: 64 (got $rc)" [ "$rc" -eq 64 ]
mkdir -p "${alt%/*}"
echo 'dsvm sample: nvidia-open 580.95.05 is installed by the package manager' >"$alt"
rc=0
grid "$run" --silent || rc=$?
check "GRID runfile over a packaged driver: 1 (got $rc)" [ "$rc" -eq 1 ]
check "... with nvidia-installer's words" \
	grep -qx 'ERROR: An alternate method of installing the NVIDIA driver was detected' "$tmp/grid.out"
check "... and installs nothing" [ "$(gridfiles)" = ./usr/lib/nvidia/alternate-install-present ]
rm "$alt"
grid "$run" --silent || no "GRID runfile: $(cat "$tmp/grid.out")"
cat >"$tmp/grid.want" <<'EOF'
./etc/nvidia/gridd.conf
./etc/nvidia/gridd.conf.template
./etc/systemd/system/nvidia-gridd.service
./etc/systemd/system/nvidia-persistenced.service
./lib/modules/dsvm-sample/nvidia-grid/nvidia.ko.sample
./usr/bin/nvidia-uninstall
./usr/lib/nvidia/alternate-install-present
./usr/lib/x86_64-linux-gnu/libcuda.so.595.58.03.sample
./usr/lib/x86_64-linux-gnu/libnvidia-ml.so.595.58.03.sample
./var/lib/dsvm-sample/kernel-module
EOF
check "GRID runfile installs: $(gridfiles | diff "$tmp/grid.want" - | grep '^[<>]' | head -3)" \
	[ "$(gridfiles)" = "$(cat "$tmp/grid.want")" ]
check "gridd.conf from the template" [ "$(grep -v '^#' "$g/etc/nvidia/gridd.conf" | tr '\n' ' ')" = \
	"IgnoreSP=FALSE EnableUI=FALSE " ]
check "the kernel-module marker the apt kinds write" \
	[ "$(cat "$g/var/lib/dsvm-sample/kernel-module")" = "nvidia-grid 595.58.03" ]
check "units are the sample oneshot" sh -c 'for u in "$@"; do grep -qx Type=oneshot "$u" &&
	grep -qx "WantedBy=multi-user.target" "$u" || exit 1; done' - "$g"/etc/systemd/system/*.service
check "uninstaller is executable" [ -x "$g/usr/bin/nvidia-uninstall" ]
while read -r f; do
	check "GRID: $f says it is a sample" grep -q 'dsvm sample\|^nvidia-grid 595.58.03$' "$g/$f"
	check "GRID: $f is not ELF" [ "$(head -c 4 "$g/$f")" != "$elf" ]
done <"$tmp/grid.want"
snapshot "$g" . >"$tmp/grid1"
grid "$run" --silent || no "GRID runfile, second run: $(cat "$tmp/grid.out")"
snapshot "$g" . >"$tmp/grid2"
check "GRID runfile again: same bytes" cmp -s "$tmp/grid1" "$tmp/grid2"
echo 'nvidia-open 580.95.05-0dsvm1' >"$g/var/lib/dsvm-sample/kernel-module"
grid "$g/usr/bin/nvidia-uninstall" --silent || no "nvidia-uninstall: $(cat "$tmp/grid.out")"
check "nvidia-uninstall leaves alternate-install-present and another kind's marker" \
	[ "$(gridfiles | tr '\n' ' ')" = \
	"./usr/lib/nvidia/alternate-install-present ./var/lib/dsvm-sample/kernel-module " ]
rm "$g/var/lib/dsvm-sample/kernel-module"
grid "$run" --silent || no "GRID runfile over its own leftover: $(cat "$tmp/grid.out")"
grid "$g/usr/bin/nvidia-uninstall" -s || no "nvidia-uninstall -s: $(cat "$tmp/grid.out")"
check "nvidia-uninstall removes its own marker" [ "$(gridfiles)" = ./usr/lib/nvidia/alternate-install-present ]

# 7. Wheels: valid zips, RECORD matches, pip installs them offline and they import.
n_whl=0
for w in "$m"/www/wheels/*.whl; do
	n_whl=$((n_whl + 1))
	check "$(basename "$w"): zip test" python3 -m zipfile -t "$w" >/dev/null
	check "$(basename "$w"): RECORD" python3 - "$w" <<'PY'
import base64, hashlib, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = set(z.namelist())
record = [n for n in names if n.endswith(".dist-info/RECORD")]
assert len(record) == 1, record
rows = [line.split(",") for line in z.read(record[0]).decode().splitlines()]
listed = {r[0] for r in rows}
assert listed == names, (listed ^ names)
for path, digest, size in rows:
    if path == record[0]:
        assert digest == "" and size == "", path
        continue
    data = z.read(path)
    want = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    assert digest == want and int(size) == len(data), path
wheel = [n for n in names if n.endswith(".dist-info/WHEEL")]
assert b"Tag: py3-none-any" in z.read(wheel[0])
PY
done
check "four wheels" [ "$n_whl" -eq 4 ]
if python3 -m venv "$tmp/venv" >/dev/null 2>&1; then
	check "pip installs the wheels offline" "$tmp/venv/bin/python" -m pip install --no-index \
		--no-deps --disable-pip-version-check -q "$m"/www/wheels/*.whl
	check "the wheels import, each its own build" [ "$("$tmp/venv/bin/python" -c '
import dsvm_sample_numpy as n, dsvm_sample_torch_cpu as c
import dsvm_sample_torch_cuda as g, dsvm_sample_torch_rocm as r
print(all(m.SAMPLE for m in (n, c, g, r)), n.__version__, c.BUILD, g.BUILD, r.BUILD)')" = \
		"True 2.2.6 cpu cuda rocm" ]
else
	no "python3 -m venv failed (python3-venv missing?)"
fi

# 8. Redist archives: NVIDIA's layout, and the JSON's hash, size and md5 of each.
n_redist=0
for json in "$m/sample/manifests/nvidia/redistrib_12.8.1.json:$m/www/redist" \
	"$m/sample/manifests/nvidia/cudnn/redistrib_9.8.0.json:$m/www/cudnn/redist"; do
	j=${json%%:*}
	root=${json#*:}
	jq -r 'to_entries[] | select(.value | type == "object") | .value["linux-x86_64"]
		| if has("relative_path") then . else .[] end
		| "\(.relative_path) \(.sha256) \(.size) \(.md5)"' "$j" >"$tmp/entries"
	check "$(basename "$j") lists archives" [ -s "$tmp/entries" ]
	while read -r rel sha size md5; do
		n_redist=$((n_redist + 1))
		f=$root/$rel
		check "$rel: sha256" [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$sha" ]
		check "$rel: size" [ "$(stat -c %s "$f")" = "$size" ]
		check "$rel: md5" [ "$(md5sum <"$f" | cut -d' ' -f1)" = "$md5" ]
		topdir=$(basename "$rel" .tar.xz)
		tar -tJf "$f" >"$tmp/list"
		check "$rel: one top directory named like the archive" \
			[ "$(cut -d/ -f1 "$tmp/list" | sort -u)" = "$topdir" ]
		check "$rel: LICENSE" grep -qx "$topdir/LICENSE" "$tmp/list"
		rm -rf "$tmp/t"
		mkdir "$tmp/t"
		tar -xJf "$f" -C "$tmp/t"
		find "$tmp/t" -type f >"$tmp/files"
		while read -r x; do
			check "$rel: ${x#"$tmp/t/"} says it is a sample" grep -q 'dsvm sample' "$x"
			check "$rel: ${x#"$tmp/t/"} is not ELF" [ "$(head -c 4 "$x")" != "$elf" ]
		done <"$tmp/files"
	done <"$tmp/entries"
done
check "six redist archives (4 CUDA, 2 cuDNN)" [ "$n_redist" -eq 6 ]

# 9. A failing generator stops the server it started and passes its exit code on (66: no such
# apt-repo script); stop is idempotent and leaves no server.
rc=0
sh "$top/tests/tools/sample-mirror.sh" start "$tmp/bad" --apt-repo-script "$tmp/missing.sh" \
	>/dev/null 2>"$tmp/err" || rc=$?
check "failed start exits 66 (got $rc)" [ "$rc" -eq 66 ]
check "failed start says why" grep -q "make-sample-mirror.py failed" "$tmp/err"
check "failed start leaves no server" [ ! -e "$tmp/bad/server.pid" ]
check "failed start leaves no base-url" [ ! -e "$tmp/bad/base-url" ]
check "failed start leaves no server process" sh -c '! pgrep -f "testhttpd.py --dir $1 " >/dev/null' - \
	"$tmp/bad/www"
pid=$(cat "$m/server.pid")
sh "$top/tests/tools/sample-mirror.sh" stop "$m" || no "stop failed"
check "server stopped" sh -c '! kill -0 "$1" 2>/dev/null' - "$pid"
check "stop removes server.pid" [ ! -e "$m/server.pid" ]
check "stop removes base-url" [ ! -e "$m/base-url" ]
sh "$top/tests/tools/sample-mirror.sh" stop "$m" || no "a second stop failed"

echo "sample mirror: $n_targets targets resolved, $n_art artifacts fetched and verified," \
	"$n_deb debs, $n_whl wheels, $n_redist redist archives, $det; $checks checks, $fail failures"
[ "$fail" -eq 0 ]
