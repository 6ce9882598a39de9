#!/bin/sh
# dsvm-build resolve from the command line: every catalogued Azure size resolves (to the kind,
# family and fabric the catalog gives), --gpu auto chooses the right kind on each fixture
# sysroot, the exit codes hold, and the SBOM is CycloneDX 1.5 with a purl and a hash per
# artifact.
set -eu
top=${DSVM_TOP:?}
mini="$top/tests/fixtures/manifests/good/editions/mini.yaml"
catalog="$top/manifests/hardware"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
no() { echo "FAIL $*"; fail=$((fail + 1)); }

# 1. Every size in the catalog, against the fixture edition that serves every driver kind.
python3 - "$catalog/sizes.yaml" >"$tmp/sizes" <<'PY'
import sys, yaml
for fam in yaml.safe_load(open(sys.argv[1]))["families"]:
    for s in fam["sizes"]:
        ib = s.get("infiniband", fam.get("infiniband", False))
        nvs = s.get("nvswitch", fam.get("nvswitch", False))
        print(s["name"], fam["family"], s.get("driver", fam["driver"]), str(ib).lower(), str(nvs).lower())
PY
n_sizes=0
while read -r size family kind ib nvs; do
	n_sizes=$((n_sizes + 1))
	if ! dsvm-build resolve "$mini" --catalog "$catalog" --vm-size "$size" -o "$tmp/l.json" 2>"$tmp/err"; then
		no "--vm-size $size: $(cat "$tmp/err")"
		continue
	fi
	got=$(jq -r '[.target.vm_size, .target.vm_family, .target.driver_kind, .target.infiniband, .target.nvswitch] | join(" ")' "$tmp/l.json")
	[ "$got" = "$size $family $kind $ib $nvs" ] || no "--vm-size $size: got '$got', want '$size $family $kind $ib $nvs'"
done <"$tmp/sizes"
[ "$n_sizes" -ge 40 ] || no "only $n_sizes sizes in the catalog"

# A size the catalog does not list is a CPU size; case and the Standard_ prefix do not matter.
dsvm-build resolve "$mini" --catalog "$catalog" --vm-size Standard_D4s_v5 -o "$tmp/l.json" 2>/dev/null
[ "$(jq -r .target.driver_kind "$tmp/l.json")" = none ] || no "unlisted size is not CPU"
dsvm-build resolve "$mini" --catalog "$catalog" --vm-size nc24ads_a100_v4 -o "$tmp/l.json" 2>/dev/null
[ "$(jq -r .target.vm_size "$tmp/l.json")" = Standard_NC24ads_A100_v4 ] || no "size lookup is case-sensitive"

# The real Ubuntu editions on an A10 size (a headline resize target): Azure serves NVadsA10_v5
# with GRID R570 only (vGPU 20 / R595 is not supported there), so the driver chosen must be an
# R570 GRID one; while the editions carry no hashed R570 GRID runfile, resolve must refuse
# (exit 65, naming the missing kind and branch) rather than fall back to the 595 one.
n_a10=0
for ed in ubuntu-22.04 ubuntu-24.04; do
	n_a10=$((n_a10 + 1))
	rc=0
	dsvm-build resolve "$top/manifests/editions/$ed.yaml" --vm-size Standard_NV36ads_A10_v5 \
		-o "$tmp/a10.json" 2>"$tmp/err" || rc=$?
	if [ "$rc" -eq 0 ]; then
		got=$(jq -r '[.target.driver_kind, .target.driver_branch,
			(.components[] | select(.driver) | .driver.branch)] | unique | join(" ")' "$tmp/a10.json")
		[ "$got" = "570 nvidia-grid" ] || no "$ed on Standard_NV36ads_A10_v5: driver '$got', want nvidia-grid 570 only"
	elif [ "$rc" -ne 65 ] || ! grep -q "nvidia-grid' and branch 570" "$tmp/err"; then
		no "$ed on Standard_NV36ads_A10_v5: exit $rc: $(cat "$tmp/err")"
	fi
done

# 2. --gpu auto on the detection fixtures (PCI + cloud-init instance data, no IMDS).
n_sysroots=0
python3 "$top/tests/tools/make-sysroot.py" "$tmp/sys" >/dev/null
for want in cpu-only:none k80:nvidia-legacy-470 p100:nvidia-proprietary v100:nvidia-proprietary \
	t4:nvidia-open a10-grid:nvidia-grid a100-pcie:nvidia-open nd-a100-v4:nvidia-open \
	h100-nvl:nvidia-open nd-h100-v5:nvidia-open h200:nvidia-open gb200:nvidia-open \
	mi300x:amd-rocm v620:amd-radeon-pro; do
	n_sysroots=$((n_sysroots + 1))
	case=${want%%:*}
	kind=${want#*:}
	if ! dsvm-build resolve "$mini" --catalog "$catalog" --gpu auto --sysroot "$tmp/sys/$case" \
		-o "$tmp/l.json" 2>"$tmp/err"; then
		no "--gpu auto on $case: $(cat "$tmp/err")"
		continue
	fi
	got=$(jq -r .target.driver_kind "$tmp/l.json")
	[ "$got" = "$kind" ] || no "--gpu auto on $case: kind $got, want $kind"
done
dsvm-build resolve "$mini" --catalog "$catalog" --gpu auto --sysroot "$tmp/sys/nd-a100-v4" -o "$tmp/l.json" 2>/dev/null
[ "$(jq -r '[.target.infiniband, .target.nvswitch, (.components | map(.name) | index("fabric-manager") != null)] | join(" ")' "$tmp/l.json")" = "true true true" ] ||
	no "ND A100 v4: fabric not detected or fabric manager not selected"

# 3. Exit codes.
n_codes=0
expect_rc() {
	n_codes=$((n_codes + 1))
	want=$1
	shift
	rc=0
	"$@" >/dev/null 2>"$tmp/err" || rc=$?
	[ "$rc" -eq "$want" ] || no "'$*' exited $rc, want $want: $(cat "$tmp/err")"
}
expect_rc 64 dsvm-build resolve "$mini"
expect_rc 64 dsvm-build resolve "$mini" --driver-kind nvidia-cuda -o "$tmp/x.json"
expect_rc 64 dsvm-build resolve "$mini" --gpu maybe -o "$tmp/x.json"
expect_rc 64 dsvm-build resolve "$mini" --driver-kind none --vm-size Standard_NC6 -o "$tmp/x.json"
expect_rc 64 dsvm-build bogus-verb
expect_rc 66 dsvm-build resolve "$tmp/missing.yaml" -o "$tmp/x.json"
expect_rc 66 dsvm-build sbom "$tmp/missing.json"
expect_rc 73 dsvm-build resolve "$mini" --catalog "$catalog" -o "$tmp/no/such/dir/x.json"
expect_rc 0 dsvm-build resolve --help
[ ! -e "$tmp/x.json" ] || no "a failed resolve left an output file"

# 4. SBOM.
dsvm-build resolve "$mini" --catalog "$catalog" --driver-kind nvidia-open --all-driver-kinds -o "$tmp/l.json" 2>/dev/null
dsvm-build sbom "$tmp/l.json" -o "$tmp/sbom.json"
jq -e '.bomFormat == "CycloneDX" and .specVersion == "1.5" and (.components | length) > 0
	and all(.components[]; .purl != null)
	and all(.components[] | select(.hashes) | .hashes[]; .alg == "SHA-256" and (.content | length) == 64)' \
	"$tmp/sbom.json" >/dev/null || no "SBOM shape"
n_art=$(jq '[.components[].artifacts[]] | length' "$tmp/l.json")
n_hash=$(jq '[.components[] | (.hashes // []), (.components // [] | map(.hashes[]))] | flatten | length' "$tmp/sbom.json")
[ "$n_art" -eq "$n_hash" ] || no "SBOM carries $n_hash hashes for $n_art artifacts"

echo "resolve cli: $n_sizes catalogued sizes, $n_a10 editions on A10, $n_sysroots sysroots, $n_codes exit codes, SBOM checked; $fail failures"
[ "$fail" -eq 0 ]
