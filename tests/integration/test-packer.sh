#!/bin/sh
# dsvm-build packer, judged by the real Packer (Debian's 1.6.6): the templates of every shipped
# edition are generated in both dialects (packer/generate.sh into a scratch folder) and must
# equal the committed ones (packer/<edition>/ for Packer >= 1.7, tests/fixtures/packer/1.6.6/
# for 1.6.6: `make packer` regenerates both); every one passes `packer fmt -check`; every 1.6.6
# template passes the full `packer validate` (not -syntax-only) as generated, on the gallery
# path and with an existing build resource group. Mutants that validate must reject: a misspelt
# azure-arm argument, a Trusted Launch argument 1.6.6 does not know, the >= 1.7 packer {} block,
# and a misformatted file for fmt. The order rules: Ubuntu deprovisions last with skip_clean
# and waits for cloud-init only under a timeout; Windows follows every step that may reboot
# with windows-restart and runs sysprep last. Command-line errors exit as documented.
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${DSVM_BUILD:-$top/build}
for tool in packer jq; do
	command -v "$tool" >/dev/null || { echo "skip: $tool is not installed (make deps)"; exit 77; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$top/tests/tools/check.sh"

DSVM_BUILD=$build sh "$top/packer/generate.sh" "$work/modern" "$work/legacy" 2>"$work/gen.err" ||
	{ echo "FAIL: packer/generate.sh: $(cat "$work/gen.err")"; exit 1; }

# Golden: the generated templates and step scripts equal the committed ones, file for file.
golden() { # GENERATED COMMITTED NAME-PATTERN
	(cd "$1" && find . -path ./payload -prune -o -type f -name "$3" -print | sort) >"$work/gen.list"
	(cd "$2" && find . -type f -name "$3" -print | sort) >"$work/com.list"
	cmp -s "$work/gen.list" "$work/com.list" || return 1
	while read -r f; do cmp -s "$1/$f" "$2/$f" || return 1; done <"$work/gen.list"
}
editions=0
for dir in "$work/modern"/*/; do
	name=$(basename "$dir")
	editions=$((editions + 1))
	check "golden >= 1.7: $name equals packer/$name (make packer; review the diff)" golden "$dir" "$top/packer/$name" '*.pkr.hcl'
	check "golden step script: $name" golden "$dir" "$top/packer/$name" 'dsvm-ubuntu.sh'
	check "golden 1.6.6: $name equals tests/fixtures/packer/1.6.6/$name" golden "$work/legacy/$name" "$top/tests/fixtures/packer/1.6.6/$name" '*.pkr.hcl'
	check "packer fmt -check: packer/$name" packer fmt -check "$dir"
	check "the >= 1.7 dialect has required_plugins for the Azure plugin" \
		grep -q 'source  = "github.com/hashicorp/azure"' "$dir/packer_config.pkr.hcl"
	check "the >= 1.7 dialect has Trusted Launch on the gallery path" \
		grep -q 'security_type *= var.gallery_name == "" ? null : "TrustedLaunch"' "$dir/sources.pkr.hcl"
done
check "three shipped editions generated ($editions)" [ "$editions" -ge 3 ]

# The full validate of every 1.6.6 template, laid out with its payload.
validated=0
for edition in "$top"/manifests/editions/*.yaml; do
	name=$(basename "$edition" .yaml)
	tdir=$work/v/$name
	case $name in
	windows-*) targets="universal --allow-unsealed" ;;
	*) targets="universal Standard_NC24ads_A100_v4 nvidia-grid Standard_ND96isr_MI300X_v5" ;;
	esac
	# shellcheck disable=SC2086
	(cd "$top" && "$build/dsvm-build" packer "manifests/editions/$name.yaml" $targets \
		--packer-version 1.6.6 --bin-dir "$build" --out "$tdir") 2>"$work/err" ||
		{ no "dsvm-build packer $name: $(cat "$work/err")"; continue; }
	check "1.6.6 writes no packer {} block ($name)" [ ! -e "$tdir/packer_config.pkr.hcl" ]
	check "1.6.6 has no Trusted Launch argument ($name)" sh -c "! grep -qE 'security_type|secure_boot_enabled|vtpm_enabled' '$tdir/sources.pkr.hcl'"
	check "packer fmt -check (1.6.6): $name" packer fmt -check "$tdir"
	for vars in "" "-var gallery_name=g" "-var build_resource_group=rg -var gallery_name=g"; do
		# shellcheck disable=SC2086
		if packer validate $vars "$tdir" >"$work/val" 2>&1; then
			validated=$((validated + 1))
		else
			no "packer validate $vars $name: $(head -n 5 "$work/val")"
		fi
	done
done

# Mutants on the Ubuntu 22.04 1.6.6 template: each must be rejected.
m=$work/v/ubuntu-22.04
mutant() { # DESCRIPTION SED-EXPRESSION FILE
	rm -rf "$work/mut"
	cp -r "$m" "$work/mut"
	sed -i "$2" "$work/mut/$3"
	checks=$((checks + 1))
	if cmp -s "$m/$3" "$work/mut/$3"; then
		no "mutant '$1' changed nothing"
	elif packer validate "$work/mut" >"$work/mut.out" 2>&1; then
		no "packer validate accepted the mutant: $1"
	fi
}
mutant "misspelt argument os_disk_size_gbs" 's/^  os_disk_size_gb /  os_disk_size_gbs/' sources.pkr.hcl
mutant "Trusted Launch argument in the 1.6.6 dialect" 's/^  image_sku \(.*\)$/  image_sku \1\n  vtpm_enabled = true/' sources.pkr.hcl
mutant "misspelt provisioner argument skip_clean" 's/skip_clean /skip_cleanup /' build.pkr.hcl
rm -rf "$work/mut"
cp -r "$m" "$work/mut"
cp "$work/modern/ubuntu-22.04/packer_config.pkr.hcl" "$work/mut/"
rc=0; packer validate "$work/mut" >/dev/null 2>&1 || rc=$?
check "1.6.6 rejects the >= 1.7 packer {} block (exit $rc)" [ "$rc" -ne 0 ]
sed -i 's/^  sources = /  sources    = /' "$work/mut/build.pkr.hcl"
rc=0; packer fmt -check "$work/mut" >/dev/null 2>&1 || rc=$?
check "packer fmt -check rejects a misaligned file (exit $rc, want 3)" [ "$rc" -eq 3 ]

# Order rules, read from the generated files.
for tdir in "$work/v"/ubuntu-*; do
	last=$(awk '/provisioner "/ { p = $0; body = "" } { body = body $0 "\n" } END { printf "%s", body }' "$tdir/build.pkr.hcl")
	check "$(basename "$tdir"): the last provisioner deprovisions with waagent and skip_clean" \
		sh -c "printf '%s' '$last' | grep -q 'waagent -force -deprovision+user' && printf '%s' '$last' | grep -q 'skip_clean *= true'"
	check "$(basename "$tdir"): cloud-init status --wait only under a timeout" \
		sh -c "grep 'cloud-init status --wait' '$tdir/scripts/dsvm-ubuntu.sh' | grep -q '^[[:space:]]*timeout '"
	check "$(basename "$tdir"): the file provisioners upload from \${path.root}" \
		sh -c "! grep 'source *=' '$tdir/build.pkr.hcl' | grep -v 'path.root'"
	for p in bin/dsvm-build bin/dsvm-firstboot bin/dsvm-firstboot.service locks/universal.lock.json; do
		check "$(basename "$tdir"): payload/$p laid out" [ -s "$tdir/payload/$p" ]
	done
done
w=$work/v/windows-server-2022
if [ -e "$w/build.pkr.hcl" ]; then
	check "windows: WinRM" grep -q 'communicator *= "winrm"' "$w/sources.pkr.hcl"
	check "windows: every step with valid_exit_codes is followed by windows-restart" awk '
		/valid_exit_codes/ { want = 1; next }
		want && /provisioner "windows-restart"/ { want = 0 }
		want && /provisioner "powershell"/ { exit 1 }
		END { exit want }' "$w/build.pkr.hcl"
	check "windows: one powershell step per lock step" [ "$(grep -c -- "-Step '" "$w/build.pkr.hcl")" -ge 1 ]
	check "windows: sysprep last, after the guest agent runs, waiting for RESEAL_TO_OOBE" awk '
		/provisioner "/ { last = "" } { last = last $0 "\n" }
		END { exit !(last ~ /WindowsAzureGuestAgent/ && last ~ /Sysprep.exe \/oobe \/generalize/ && last ~ /IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE/ && index(last, "WindowsAzureGuestAgent") < index(last, "Sysprep.exe")) }' "$w/build.pkr.hcl"
	check "windows: the generated provisioning script is there" [ -s "$w/scripts/dsvm-provision.ps1" ]
fi

# Command-line contracts.
cli() { # WANT ARGS...
	want=$1
	shift
	rc=0
	"$build/dsvm-build" packer "$@" >/dev/null 2>"$work/cli.err" || rc=$?
	check "dsvm-build packer $*: exit $rc, want $want: $(head -c 200 "$work/cli.err")" [ "$rc" -eq "$want" ]
}
ed=$top/manifests/editions/ubuntu-22.04.yaml
cli 0 --help
cli 64 "$ed"
cli 64 "$ed" Bogus_size --out "$work/c"
cli 64 "$ed" --out "$work/c" --packer-version 1.5.0
cli 64 "$ed" universal universal --out "$work/c"
cli 66 "$work/none.yaml" --out "$work/c"
cli 66 "$ed" --out "$work/c" --bin-dir "$work/none"
mkdir -p "$work/empty-bin"
cli 66 "$ed" --out "$work/c" --bin-dir "$work/empty-bin"
: >"$work/file"
cli 73 "$ed" --out "$work/file/sub"

# The cache seed: only the artifacts a lock names are laid out for upload.
mkdir -p "$work/seed"
named=$(jq -r '[.components[].artifacts[]?.sha256][0]' "$work/v/ubuntu-22.04/payload/locks/universal.lock.json")
: >"$work/seed/$named"
: >"$work/seed/$(printf '%064d' 0)"
"$build/dsvm-build" packer "$ed" --out "$work/s" --bin-dir "$build" --cache-seed "$work/seed" 2>/dev/null
check "cache seed: the named artifact laid out, the other not: $(ls "$work/s/payload/cache" | tr '\n' ' ')" \
	[ "$(ls "$work/s/payload/cache")" = "$named" ]

[ "$fail" -eq 0 ] || exit 1
echo "packer: $checks checks hold; $editions editions x 2 dialects equal their goldens and pass fmt -check; $validated full validates by packer 1.6.6; 4 mutants rejected"
