#!/bin/sh
# `dsvm-firstboot detect --json` on every generated sysroot (tests/tools/make-sysroot.py):
# (model names belong to the catalog, so they are matched by their distinctive part)
# each case asserts the facts that decide the driver (GPU count, vendor, model, NVSwitch,
# InfiniBand, Secure Boot, size source) and the driver kind, with jq. The catalog is the source
# tree's manifests/hardware, found from the build tree.
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${DSVM_BUILD:-$top/build}/dsvm-firstboot
for tool in python3 jq; do
	command -v "$tool" >/dev/null || { echo "skip: $tool is not installed (make deps)"; exit 77; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$top/tests/tools/make-sysroot.py" "$work"
fails=0
checks=0

# Contract keys of DESIGN.md ("detect --json prints one object with at least these keys").
contract='has("vm_size") and has("vm_size_source") and has("gpus") and has("gpu_count")
	and has("infiniband") and has("nvswitch") and has("secure_boot") and has("kernel")
	and has("driver") and (.driver == null or (.driver | has("kind") and has("branch")
	and has("reason")))
	and all(.gpus[]; has("address") and has("vendor") and has("vendor_id") and has("device_id")
		and has("model") and has("architecture") and has("compute_capability"))'

# expect CASE JQ-FILTER: the filter must print true.
expect() {
	checks=$((checks + 1))
	case=$1 filter=$2
	if ! "$bin" detect --sysroot "$work/$case" --no-imds --no-disks --json >"$work/$case.json" \
		2>"$work/$case.err"; then
		echo "FAIL $case: exit $?"
		cat "$work/$case.err"
		fails=$((fails + 1))
		return
	fi
	if jq -e "($contract) and ($filter)" "$work/$case.json" >/dev/null; then
		echo "ok   $case"
	else
		echo "FAIL $case: not ($filter)"
		jq -c . "$work/$case.json" | cut -c1-600
		fails=$((fails + 1))
	fi
}

nv='all(.gpus[]; .vendor == "nvidia" and .vendor_id == "10de")'
no_fabric='.nvswitch == false and .infiniband == false'
common='.kernel == "6.8.0-1017-azure" and .vm_size_source == "cloud-init"'

expect cpu-only "$common and .gpu_count == 0 and .gpus == [] and $no_fabric
	and .secure_boot == true and .driver.kind == \"none\" and .pci_devices == 2
	and .vm_size == \"Standard_D4s_v5\""
expect k80 "$common and .gpu_count == 1 and $nv and .gpus[0].device_id == \"102d\"
	and (.gpus[0].model // \"\" | test(\"K80\")) and .gpus[0].compute_capability == \"3.7\"
	and $no_fabric and .secure_boot == false and .driver.kind == \"nvidia-legacy-470\"
	and .driver.branch == \"470\"
	and .nvidia_driver_loaded == {\"version\": \"535.216.03\", \"open\": false}"
expect p100 "$common and .gpu_count == 1 and $nv and (.gpus[0].model // \"\" | test(\"P100\"))
	and .gpus[0].architecture == \"pascal\" and .driver.kind == \"nvidia-proprietary\""
expect v100 "$common and .gpu_count == 1 and (.gpus[0].model // \"\" | test(\"V100\"))
	and .gpus[0].compute_capability == \"7.0\" and .driver.kind == \"nvidia-proprietary\""
expect t4 "$common and .gpu_count == 1 and (.gpus[0].model // \"\" | test(\"T4\"))
	and .gpus[0].architecture == \"turing\" and .secure_boot == true
	and .driver.kind == \"nvidia-open\""
expect a10-grid "$common and .gpu_count == 1 and (.gpus[0].model // \"\" | test(\"A10\"))
	and .gpus[0].subsystem_device_id == \"1482\" and .driver.kind == \"nvidia-grid\"
	and .vm_size == \"Standard_NV6ads_A10_v5\""
expect a100-pcie "$common and .gpu_count == 1 and .gpus[0].address == \"0001:00:00.0\"
	and .gpus[0].device_id == \"20b5\" and (.gpus[0].model // \"\" | test(\"A100.*80GB|80GB.*A100\"))
	and .gpus[0].architecture == \"ampere\" and .gpus[0].compute_capability == \"8.0\"
	and $no_fabric and .driver.kind == \"nvidia-open\"
	and .nvidia_driver_loaded == {\"version\": \"580.95.05\", \"open\": true}"
expect nd-a100-v4 "$common and .gpu_count == 8 and $nv
	and all(.gpus[]; (.model // \"\" | test(\"A100\"))) and .nvswitch == true
	and .nvswitch_count == 6 and .infiniband == true and .infiniband_pci == 8
	and .infiniband_ports == 8 and .driver.kind == \"nvidia-open\"
	and ([.gpus[].address] == ([.gpus[].address] | sort))"
expect h100-nvl "$common and .gpu_count == 1 and (.gpus[0].model // \"\" | test(\"H100 NVL\"))
	and .gpus[0].compute_capability == \"9.0\" and $no_fabric and .driver.kind == \"nvidia-open\""
expect nd-h100-v5 "$common and .gpu_count == 8 and all(.gpus[]; (.model // \"\" | test(\"H100\")))
	and .nvswitch == true and .nvswitch_count == 4 and .infiniband == true
	and .infiniband_ports == 8 and .driver.kind == \"nvidia-open\""
expect h200 "$common and .gpu_count == 8 and all(.gpus[]; .device_id == \"2335\"
	and .architecture == \"hopper\") and .nvswitch_count == 4 and .infiniband_pci == 8
	and .driver.kind == \"nvidia-open\""
expect gb200 ".kernel == \"6.8.0-1017-azure-nvidia\" and .gpu_count == 4
	and all(.gpus[]; (.model // \"\" | test(\"GB200\")) and .architecture == \"blackwell\")
	and .nvswitch == false and .infiniband == true and .infiniband_ports == 4
	and .driver.kind == \"nvidia-open\""
expect mi300x "$common and .gpu_count == 8
	and all(.gpus[]; .vendor == \"amd\" and .vendor_id == \"1002\" and .device_id == \"74a1\"
		and .class == \"120000\" and (.model // \"\" | test(\"MI300X\"))
		and .compute_capability == null)
	and .nvswitch == false and .infiniband == true and .infiniband_ports == 8
	and .driver.kind == \"amd-rocm\" and .driver.branch == null"
expect v620 "$common and .gpu_count == 1 and .gpus[0].vendor == \"amd\"
	and .gpus[0].class == \"038000\" and (.gpus[0].model // \"\" | test(\"V620\"))
	and .driver.kind == \"amd-radeon-pro\""
# A device in no table at all (10de:2ffe): assumed newer than every table, and said so.
expect unknown-nvidia ".vm_size == null and .vm_size_source == \"none\" and .gpu_count == 1
	and .gpus[0].vendor == \"nvidia\" and .gpus[0].device_id == \"2ffe\"
	and .gpus[0].model == null and .gpus[0].architecture == null
	and .gpus[0].catalogued == false and .gpus[0].table_name == null
	and .secure_boot == null and .driver.kind == \"nvidia-open\"
	and (.driver.reason | test(\"newer than every table\"))"
# A device gpus.yaml does not list still appears, model null, placed by the generated tables.
expect pascal-gtx1080ti ".gpu_count == 1 and .gpus[0].device_id == \"1b06\"
	and .gpus[0].model == null and .gpus[0].architecture == \"pascal\"
	and .gpus[0].catalogued == false and (.gpus[0].table_name | test(\"1080 Ti\"))
	and .driver.kind == \"nvidia-proprietary\"
	and .driver.branch == \"580\" and (.driver.reason | test(\"public device tables\"))"

# T10: one GPU model per case, from public ids, beside BMC and virtual VGA and other fabrics.
# expect_hw CASE KIND ARCHITECTURE GPU_COUNT DISPLAY_ADAPTERS INFINIBAND [MORE-JQ]
# (ARCHITECTURE null: in no table; every GPU of the case has it.)
expect_hw() {
	arch=null
	[ "$3" = null ] || arch="\"$3\""
	expect "$1" ".driver.kind == \"$2\" and .gpu_count == $4 and (.gpus | length) == $4
		and all(.gpus[]; .architecture == $arch and (.vendor == \"nvidia\" or .vendor == \"amd\"))
		and (.display_adapters | length) == $5 and .infiniband == $6 ${7:+and $7}"
}
expect_hw kepler-gtx680 nvidia-legacy-470 kepler 1 1 false '.driver.branch == "470"
	and .display_adapters[0].vendor_id == "1234" and .display_adapters[0].device_id == "1111"'
expect_hw kepler-k40c nvidia-legacy-470 kepler 1 1 false '.display_adapters[0].vendor_id == "1a03"'
expect_hw maxwell-m40 nvidia-proprietary maxwell 2 1 false '.driver.branch == "580"
	and .display_adapters[0].vendor_id == "102b"'
expect_hw maxwell-gtx970 nvidia-proprietary maxwell 1 0 false
expect_hw pascal-p4 nvidia-proprietary pascal 1 1 false '(.gpus[0].table_name | test("Tesla P4"))'
expect_hw pascal-gtx1080ti nvidia-proprietary pascal 1 0 false
expect_hw volta-gv100 nvidia-proprietary volta 1 1 false '.display_adapters[0].vendor_id == "15ad"'
expect_hw fermi-c2050 none fermi 1 1 false '.driver.branch == null
	and (.driver.reason | test("no driver branch"))'
expect_hw turing-rtx2080ti nvidia-open turing 1 0 false
expect_hw turing-rtx6000 nvidia-open turing 1 1 false '.display_adapters[0].vendor_id == "1013"'
expect_hw ampere-rtx3090 nvidia-open ampere 1 0 false
expect_hw ada-rtx4090 nvidia-open ada 1 1 false
expect_hw hopper-h800 nvidia-open hopper 2 1 false
expect_hw blackwell-rtx5090 nvidia-open blackwell 1 0 false
expect_hw cdna1-mi100 amd-rocm cdna1 1 1 true '.infiniband_pci == 1 and .infiniband_ports == 1
	and .gpus[0].class == "038000"'
expect_hw cdna2-mi210 amd-rocm cdna2 4 1 false '.gpus[0].model != null'
expect_hw cdna3-mi325x amd-rocm null 8 1 true '(.driver.reason | test("newer than every table"))
	and any(.driver.warnings[]; .code == "unknown-device")'
expect_hw rdna2-w6800 amd-radeon-pro rdna2 1 0 false
expect_hw rdna3-rx7900xtx none null 1 0 false '(.driver.reason | test("neither Instinct nor Radeon PRO"))'
expect_hw qlogic-ib none null 0 1 true '.infiniband_pci == 1 and .infiniband_ports == 0
	and .infiniband_devices == 1'
expect_hw vmware-cpu none null 0 1 false '(.driver.reason | test("CPU only"))'
# A GPU some kind serves decides over an older one no kind serves, and the Hyper-V VGA is listed.
expect fermi-with-t4 ".gpu_count == 2 and .driver.kind == \"nvidia-open\"
	and (.gpus | map(.architecture) | sort) == [\"fermi\", \"turing\"]
	and .display_adapters == [{\"address\": \"0000:00:08.0\", \"vendor_id\": \"1414\",
		\"device_id\": \"5353\", \"class\": \"030000\"}]"
# The accelerated-networking VF (RoCE) is an RDMA device and is still not InfiniBand.
expect cpu-only ".infiniband == false and .infiniband_devices == 0 and .gpu_count == 0
	and (.display_adapters | length) == 1"

# Without the generated table (a catalog of gpus.yaml alone) the GTX 1080 Ti is in no table:
# assumed newer than every table, and the reason says so. With an edited table (not the bytes
# the build's index was made from) the YAML is parsed and decides the same as the index.
mkdir "$work/cat-none" "$work/cat-edited"
for f in gpus.yaml sizes.yaml cuda-drivers.yaml; do
	cp "$top/manifests/hardware/$f" "$work/cat-none/"
	cp "$top/manifests/hardware/$f" "$work/cat-edited/"
done
{ cat "$top/manifests/hardware/pci-devices.yaml"; echo "# edited"; } >"$work/cat-edited/pci-devices.yaml"
checks=$((checks + 2))
out=$("$bin" detect --catalog "$work/cat-none" --sysroot "$work/pascal-gtx1080ti" --no-imds --no-disks --json)
echo "$out" | jq -e '.driver.kind == "nvidia-open" and (.driver.reason | test("newer than every table"))
	and .gpus[0].architecture == null' >/dev/null ||
	{ echo "FAIL no table: $out" | cut -c1-600; fails=$((fails + 1)); }
out=$("$bin" detect -v --catalog "$work/cat-edited" --sysroot "$work/pascal-gtx1080ti" --no-imds --no-disks --json 2>"$work/edited.err")
if ! { echo "$out" | jq -e '.driver.kind == "nvidia-proprietary" and .gpus[0].architecture == "pascal"' >/dev/null &&
	grep -q "parsing it" "$work/edited.err"; }; then
	echo "FAIL edited table: $out" | cut -c1-600
	cat "$work/edited.err"
	fails=$((fails + 1))
fi

# The committed table is what the generator makes from its recorded sources (when this machine's
# pci.ids is the one recorded: another version would rightly give another table).
checks=$((checks + 1))
want_sha=$(sed -n 's/^#.*pci.ids .*, sha256 \([0-9a-f]*\)$/\1/p' "$top/manifests/hardware/pci-devices.yaml")
if [ -r /usr/share/misc/pci.ids ] && [ "$(sha256sum </usr/share/misc/pci.ids | cut -d' ' -f1)" = "$want_sha" ]; then
	python3 "$top/tools/gen-gpu-tables.py" --check || { echo "FAIL pci-devices.yaml is stale"; fails=$((fails + 1)); }
else
	echo "note: /usr/share/misc/pci.ids is not the recorded one; table regeneration not compared"
fi

# The RoCE trap: cpu-only has an mlx5 RDMA device with an Ethernet link layer, not InfiniBand.
[ -d "$work/cpu-only/sys/class/infiniband/mlx5_0" ] || { echo "FAIL: fixture lost mlx5_0"; fails=$((fails + 1)); }

# The human output names the same facts.
"$bin" detect --sysroot "$work/nd-a100-v4" --no-imds --no-disks >"$work/human"
for want in "GPUs: *8" "A100 SXM4 40GB" "NVSwitch: *yes \\(6\\)" "InfiniBand: *yes" \
	"Driver: *nvidia-open"; do
	grep -Eq "$want" "$work/human" || { echo "FAIL human output lacks /$want/"; fails=$((fails + 1)); }
done

# --vm-size overrides cloud-init; an impossible one is a usage error (64).
out=$("$bin" detect --sysroot "$work/a10-grid" --no-imds --no-disks --vm-size Standard_NC8ads_A10_v4 --json)
echo "$out" | jq -e '.vm_size_source == "override" and .vm_size == "Standard_NC8ads_A10_v4"' \
	>/dev/null || { echo "FAIL --vm-size override: $out"; fails=$((fails + 1)); }
set +e
"$bin" detect --sysroot "$work/a10-grid" --no-imds --vm-size 'Standard NC6' >/dev/null 2>"$work/err"
rc=$?
"$bin" detect --sysroot relative/path --no-imds >/dev/null 2>>"$work/err"
rc2=$?
"$bin" detect --catalog "$work/no-such-catalog" --sysroot "$work/k80" --no-imds >/dev/null 2>>"$work/err"
rc3=$?
"$bin" detect --help >"$work/help"
rc4=$?
set -e
if ! { [ "$rc" -eq 64 ] && grep -q "'Standard NC6'" "$work/err"; }; then
	echo "FAIL bad --vm-size: exit $rc"
	fails=$((fails + 1))
fi
[ "$rc2" -eq 64 ] || { echo "FAIL relative --sysroot: exit $rc2"; fails=$((fails + 1)); }
[ "$rc3" -eq 66 ] || { echo "FAIL missing catalog: exit $rc3"; cat "$work/err"; fails=$((fails + 1)); }
if ! { [ "$rc4" -eq 0 ] && grep -q -- "--sysroot DIR" "$work/help"; }; then
	echo "FAIL --help"
	fails=$((fails + 1))
fi

echo "detect: $checks fixture sysroots checked field by field, $fails failures"
[ "$fails" -eq 0 ]
