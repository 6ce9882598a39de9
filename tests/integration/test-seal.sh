#!/bin/sh
# Windows installers pinned by their Authenticode signer, offline: small executables built with
# mingw-w64 (a VERSIONINFO resource from windres), signed by osslsigncode with a test CA made here
# with openssl (no key is ever committed), served from the loopback server. `dsvm-build seal`
# seals the right file and refuses, each with its own message, a wrong signer, an unsigned
# file, another version, a chain to an untrusted root, a file changed after signing, and a file
# changed after sealing; resolve refuses an unsealed artifact (or marks it awaiting, which fetch
# refuses), reads the seal into the lock, and notices a stale seal; fetch refuses bytes that
# changed after sealing. The seal runs with every osslsigncode given: the system's, and Debian
# 12's 2.5 when DSVM_OSSLSIGNCODE_25 names one (its output is also parsed in tests/unit/test-seal).
# Then the real Windows edition resolves for a T4, an A10 and a CPU size with the kinds Azure's
# extensions choose.
set -eu
top=${DSVM_TOP:?}
for tool in x86_64-w64-mingw32-gcc x86_64-w64-mingw32-windres osslsigncode openssl; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool missing (make deps installs it)"; exit 77; }
done
work=$(mktemp -d)
testhttpd_pid=
trap '[ -z "$testhttpd_pid" ] || kill "$testhttpd_pid" 2>/dev/null; rm -rf "$work"' EXIT
. "$top/tests/tools/testhttpd.sh"
fail=0
checks=0
no() { echo "FAIL $*"; fail=$((fail + 1)); }
# expect RC NEEDLE CMD...: the command exits RC and says NEEDLE on stderr.
expect() {
	want=$1 needle=$2
	shift 2
	checks=$((checks + 1))
	set +e
	"$@" >"$work/out" 2>"$work/err"
	rc=$?
	set -e
	if [ "$rc" -ne "$want" ] || ! grep -qF -- "$needle" "$work/err"; then
		no "$* -> rc $rc (want $want, '$needle'): $(cat "$work/err")"
	fi
}

# 1. The executables and the CA (root -> code signing CA -> two leaves), made now.
x=$work/x
mkdir -p "$work/www"
sh "$top/tests/tools/make-signed-exes.sh" "$x"
cmp -s "$x/good.exe" "$x/good-again.exe" && no "two signatures of one file are byte-identical"
size=$(stat -c %s "$x/good.exe")
sha=$(sha256sum "$x/good.exe" | cut -d' ' -f1)
serve() { cp "$x/$1" "$work/www/setup.exe"; }
serve good.exe
testhttpd_start "$work" --dir "$work/www" || exit 1
url=http://127.0.0.1:$testhttpd_port/files/setup.exe

# 2. A repository with one Windows edition whose driver is pinned by its signer.
repo=$work/repo
mkdir -p "$repo/manifests/editions" "$repo/manifests/components"
cp -r "$top/manifests/hardware" "$repo/manifests/hardware"
edition=$repo/manifests/editions/win-test.yaml
seal=$repo/manifests/editions/win-test.seal
cat >"$edition" <<'EOF'
edition: win-test
os: windows-server-2022
platform: windows
arch: [x86_64]
driver_kinds: [none, nvidia-datacenter]
include: [../components/driver.yaml]
EOF
write_component() { # write_component FILE_VERSION SIZE|- [SUBJECT]
	size_line="size: $2"
	[ "$2" != - ] || size_line="# no size pinned"
	cat >"$repo/manifests/components/driver.yaml" <<EOF
components:
  - name: test-datacenter-driver
    kind: exe
    version: "580.88"
    driver: {kind: nvidia-datacenter, branch: "580"}
    stage: true
    args: ["-s", "-noreboot"]
    source:
      url: $url
      $size_line
      authenticode:
        subject: "${3:-CN=dsvm Test Vendor, O=dsvm Test Vendor, C=US}"
        chain: ["dsvm Test Code Signing CA", "dsvm Test Root CA"]
        file_version: "$1"
EOF
}
write_component 1.2.3.4 "$size"
B="dsvm-build"
res() { $B resolve "$edition" --catalog "$repo/manifests/hardware" "$@"; }
sealit() { $B seal "$edition" --ca "$x/root.pem" --work-dir "$work/seal" "$@"; }

# 3. Before any seal: resolve refuses, --allow-unsealed marks it, fetch refuses that lock.
expect 65 "is pinned by its signer but not sealed" res --driver-kind nvidia-datacenter -o "$work/l.json"
expect 65 "run 'dsvm-build seal" res --driver-kind nvidia-datacenter -o "$work/l.json"
expect 0 "" res --driver-kind nvidia-datacenter --allow-unsealed -o "$work/u.json"
[ "$(jq -r '.components[] | select(.name == "test-datacenter-driver") | .artifacts[0].seal' "$work/u.json")" = awaiting ] ||
	no "the unsealed lock does not mark the artifact awaiting"
expect 65 "awaits its seal" $B fetch "$work/u.json" --cache "$work/cache"
[ ! -d "$work/cache" ] || [ -z "$(ls "$work/cache")" ] || no "fetch of an unsealed lock left files in the cache"
expect 0 "" res --driver-kind none -o "$work/none.json"

# 4. Each rejection, with its own words; the seal file is never written by a failed seal. The
# size is left unpinned here, so that each check reaches the one it is about.
write_component 1.2.3.4 -
check_reject() { # check_reject FILE NEEDLE
	serve "$1"
	expect 65 "$2" sealit
	[ ! -e "$seal" ] || no "a refused seal ($1) wrote $seal"
}
check_reject unsigned.exe "is not signed at all"
check_reject impostor.exe "is signed by '/C=US/O=Impostor Corp/CN=dsvm Test Vendor Inc', not by the pinned signer"
check_reject stray.exe "does not end at a trusted CA"
check_reject tampered.exe "was changed after it was signed"
check_reject newer.exe "has file version '2.0.0.0', the pin says '1.2.3.4'"
write_component 1.2.3.4 - "CN=dsvm Test Vendor, O=dsvm Test Vendor, C=US, OU=Build 8"
check_reject good.exe "not by the pinned signer"
write_component 1.2.3.4 $((size + 1))
check_reject good.exe "the pin says $((size + 1))"
write_component 1.2.3.4 -
sed -i 's/"dsvm Test Root CA"/"Another Root"/' "$repo/manifests/components/driver.yaml"
check_reject good.exe "is issued through 'dsvm Test Root CA' where the pin says 'Another Root'"
write_component 1.2.3.4 "$size"

# 5. Seal the right file, with each osslsigncode at hand.
serve good.exe
tools=/usr/bin/osslsigncode
[ -z "${DSVM_OSSLSIGNCODE_25:-}" ] || tools="$tools $DSVM_OSSLSIGNCODE_25"
for t in $tools; do
	rm -f "$seal"
	expect 0 "sealed 1 new, 0 unchanged" sealit --osslsigncode "$t"
	line=$(grep -v '^#' "$seal")
	[ "$line" = "test-datacenter-driver $url $sha $size 1.2.3.4" ] ||
		no "seal with $t ($($t --version 2>&1 | head -n 1)): '$line'"
done
expect 0 "sealed 0 new, 1 unchanged" sealit
expect 0 "" res --driver-kind nvidia-datacenter -o "$work/l.json"
jq -e --arg sha "$sha" --argjson size "$size" '.components[] | select(.name == "test-datacenter-driver")
	| .artifacts[0] | .sha256 == $sha and .size == $size and .seal == "sealed" and .installer == "exe"
	and .authenticode.file_version == "1.2.3.4" and .authenticode.chain == ["dsvm Test Code Signing CA", "dsvm Test Root CA"]
	and (.authenticode.subject | startswith("CN=dsvm Test Vendor"))' "$work/l.json" >/dev/null ||
	no "the lock does not carry the sealed artifact: $(jq -c '.components[] | select(.name == "test-datacenter-driver") | .artifacts' "$work/l.json")"
jq -e '.inputs | map(.path) | index("manifests/editions/win-test.seal") != null' "$work/l.json" >/dev/null ||
	no "the seal file is not among the lock's inputs: $(jq -c .inputs "$work/l.json")"
expect 0 "" $B fetch "$work/l.json" --cache "$work/cache"

# 6. Changed after sealing: the seal refuses it, and so does fetch of the sealed lock.
serve good-again.exe
expect 65 "changed after it was sealed" sealit
grep -qF " $sha " "$seal" || no "a refused reseal changed $seal"
expect 65 "hash mismatch" $B fetch "$work/l.json" --cache "$work/cache2"

# 7. A seal made for another pin is stale: resolve says so; a bad seal file names its line.
write_component 1.2.3.5 "$size"
expect 65 "was made for another pin (its file version differs)" res --driver-kind nvidia-datacenter -o "$work/l.json"
write_component 1.2.3.4 "$size"
cp "$seal" "$work/seal.bak"
printf 'zz %s %s 1 -\n' "$url" "$sha" >>"$seal"
printf 'aa %s %s 1 -\n' "$url" "$sha" >>"$seal"
expect 65 "win-test.seal:6: 'aa $url' is a duplicate or out of order" res --driver-kind none -o "$work/l.json"
cp "$work/seal.bak" "$seal"

# 8. The real Windows edition: kinds by VM size as Azure's extensions choose them.
real=$top/manifests/editions/windows-server-2022.yaml
for pair in Standard_NC4as_T4_v3:nvidia-datacenter:windows-nvidia-datacenter-580 \
	Standard_NV36ads_A10_v5:nvidia-grid:windows-nvidia-grid-570 \
	Standard_NG32ads_V620_v1:amd-radeon-pro:windows-amd-radeon-pro \
	Standard_D4s_v5:none:; do
	size_name=${pair%%:*}
	rest=${pair#*:}
	kind=${rest%%:*}
	driver=${rest#*:}
	checks=$((checks + 1))
	if ! $B resolve "$real" --vm-size "$size_name" --allow-unsealed -o "$work/r.json" 2>"$work/err"; then
		no "windows-server-2022 --vm-size $size_name: $(cat "$work/err")"
		continue
	fi
	got=$(jq -r '.target.driver_kind' "$work/r.json")
	[ "$got" = "$kind" ] || no "windows-server-2022 on $size_name: kind '$got', want '$kind'"
	if [ -n "$driver" ]; then
		jq -e --arg d "$driver" '[.components[] | select(.action == "install") | .name] | index($d) != null' \
			"$work/r.json" >/dev/null || no "windows-server-2022 on $size_name does not install $driver"
	else
		jq -e '[.components[] | select(.driver != null)] | length == 0' "$work/r.json" >/dev/null ||
			no "windows-server-2022 on $size_name installs a driver"
	fi
done
# Without --allow-unsealed the real drivers are refused until a maintainer seals them.
expect 65 "run 'dsvm-build seal manifests/editions/windows-server-2022.yaml'" \
	$B resolve "$real" --vm-size Standard_NC4as_T4_v3 -o "$work/r.json"
# A driver record too old for the edition's CUDA is rejected by the constraint check: Azure's
# extension record 560.94 (CUDA 12.6) against CUDA 12.8.
mkdir -p "$work/old/manifests" "$work/old/packer/scripts"
cp -r "$top/manifests/." "$work/old/manifests/"
cp -r "$top/packer/scripts/windows" "$work/old/packer/scripts/"
sed -i 's/version: "580.88"/version: "560.94"/' "$work/old/manifests/components/windows-drivers.yaml"
expect 65 "constraint cuda 12.8 exceeds CUDA 12.6" $B resolve "$work/old/manifests/editions/windows-server-2022.yaml" \
	--vm-size Standard_NC4as_T4_v3 --allow-unsealed -o "$work/r.json"

[ "$fail" -eq 0 ] || { echo "seal: $fail of $checks checks failed"; exit 1; }
echo "seal: $checks checks passed (signer pins, seal, 8 rejections, resolve and fetch of sealed and unsealed artifacts, Windows kinds by size) with $(echo "$tools" | wc -w) osslsigncode version(s)"
