#!/bin/sh
# The generated Windows scripts (lib/pwsh.c) and the hand-written ones under packer/scripts:
#   golden files for the generated scripts and catalog JSON (tests/fixtures/pwsh/golden);
#   a real syntax check of every .ps1 with the tree-sitter-pwsh grammar (tests/tools/pwsh-grammar.sh
#   installs it), and every deliberately broken fixture must fail it;
#   a token check that keeps them inside Windows PowerShell 5.1, every PowerShell 7 fixture must
#   fail it; every artifact verified before use, every install silent, every exit code declared,
#   and each check failing on a mutant;
#   the first-boot decision table against lib/select.c (pwsh-select) and dsvm-firstboot detect;
#   the committed Windows template (if any): each step that may reboot declares its exit codes and
#   is followed by windows-restart.
# Nothing here runs PowerShell: no PowerShell exists on this machine (WINDOWS.md section 5).
set -eu
top=${DSVM_TOP:?}
build=${DSVM_BUILD:?}
gen=$build/tools/pwsh-gen
sel=$build/tools/pwsh-select
lint="python3 $top/tests/tools/pwsh-lint.py"
decide="python3 $top/tests/tools/pwsh-decide.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "FAIL $*"
	exit 1
}
cd "$top"

rc=0
sh tests/tools/pwsh-grammar.sh >"$tmp/grammar.log" 2>&1 || rc=$?
if [ "$rc" -eq 77 ]; then
	cat "$tmp/grammar.log"
	echo "skip: the tree-sitter-pwsh grammar is not installed and npm cannot fetch it: run 'make deps' with network"
	exit 77
fi
[ "$rc" -eq 0 ] || { cat "$tmp/grammar.log"; fail "pwsh-grammar.sh exited $rc"; }
check=${DSVM_PWSH_GRAMMAR_DIR:-$top/.deps/tree-sitter-pwsh-0.38.1}/ps1check

# The embedded bodies are the .ps1 sources under lib/pwsh.
python3 tests/tools/pwsh-embed.py --check "$top" || fail "lib/pwsh-text.c is stale"

# 1. Golden files.
BUILD=$(basename "$build") sh tests/tools/pwsh-golden.sh "$tmp/golden" >/dev/null
golden=0
for f in $(cd tests/fixtures/pwsh/golden && find . -type f | sort); do
	golden=$((golden + 1))
	[ -f "$tmp/golden/$f" ] || fail "$f: not produced any more"
	cmp -s "tests/fixtures/pwsh/golden/$f" "$tmp/golden/$f" || {
		diff -u "tests/fixtures/pwsh/golden/$f" "$tmp/golden/$f" | head -30
		fail "$f differs from its golden file (make golden, then review the diff)"
	}
done
for f in $(cd "$tmp/golden" && find . -type f | sort); do
	[ -f "tests/fixtures/pwsh/golden/$f" ] || fail "$f: new output without a golden file (make golden)"
done
[ "$golden" -ge 10 ] || fail "only $golden golden files"

# The same inputs give the same bytes.
BUILD=$(basename "$build") sh tests/tools/pwsh-golden.sh "$tmp/again" >/dev/null
diff -r "$tmp/golden" "$tmp/again" >/dev/null || fail "two generations of the same lock differ"

# 2. Syntax: every script, generated and hand-written.
generated=$(find "$tmp/golden" -name '*.ps1' | sort)
handwritten=$(find packer lib/pwsh -name '*.ps1' | sort)
n_syntax=0
for f in $generated $handwritten; do
	n_syntax=$((n_syntax + 1))
	"$check" "$f" || fail "$f: syntax error (above)"
done
n_broken=0
for f in tests/fixtures/pwsh/broken/*.ps1; do
	n_broken=$((n_broken + 1))
	if "$check" "$f" >"$tmp/out" 2>&1; then
		fail "$f is broken on purpose but the grammar accepted it"
	fi
	grep -q "^$f:[0-9]*:[0-9]*: " "$tmp/out" || fail "$f: no file:row:col in '$(cat "$tmp/out")'"
done
[ "$n_broken" -ge 8 ] || fail "only $n_broken broken fixtures"

# 3. Windows PowerShell 5.1 only.
$lint ps51 $generated $handwritten || fail "PowerShell 6/7 syntax above"
n_ps7=0
for f in tests/fixtures/pwsh/ps7/*.ps1; do
	n_ps7=$((n_ps7 + 1))
	$lint ps51 "$f" >/dev/null && fail "$f uses PowerShell 7 only, but the token check passed it"
done

# 4. Verified before use, silent, exit codes; and each check catches its mutant.
$lint verify $generated || fail "a file used before it is verified (above)"
for f in "$tmp"/golden/*/scripts/dsvm-provision.ps1; do
	$lint steps "$f" || fail "$f: step data (above)"
done
prov=$tmp/golden/windows-server-2022-drivers/scripts/dsvm-provision.ps1
fb=$tmp/golden/windows-server-2022-drivers/scripts/dsvm-firstboot.ps1
grep -q 'Test-DsvmSigner -Path $Path -Pin $Artifact.Authenticode' "$prov" ||
	fail "the provisioning script does not check Authenticode pins"
grep -q "Subject = @('CN=Example Vendor Inc', 'O=Example Vendor Inc', 'C=US')" "$prov" ||
	fail "the fixture's signer pin is not in the provisioning data"
n_mut=0
mutant() { # NAME SED FILE MODE
	n_mut=$((n_mut + 1))
	sed "$2" "$3" >"$tmp/$1.ps1"
	cmp -s "$3" "$tmp/$1.ps1" && fail "mutant $1 changed nothing"
	$lint "$4" "$tmp/$1.ps1" >/dev/null && fail "mutant $1 passed the $4 check"
	return 0
}
mutant no-verify-download '/^    try {$/,/^    }/s/^        Test-DsvmArtifact .*/        Write-Host skipped/' "$prov" verify
mutant no-verify-upload '0,/^        Test-DsvmArtifact -Path $path -Artifact $Artifact$/s//        Write-Host skipped/' "$prov" verify
mutant no-verify-payload 's/^            Test-DsvmArtifact -Path $path -Artifact $artifact$/            Write-Host skipped/' "$fb" verify
mutant no-hash 's/Get-FileHash -Algorithm SHA256/Get-Item/' "$prov" verify
mutant not-silent "s/Args = @('\/VERYSILENT', /Args = @(/" "$prov" steps
mutant no-3010 's/ValidExitCodes = @(0, 3010)/ValidExitCodes = @(0)/' "$prov" steps
mutant unsealed "0,/Sha256 = '[0-9a-f]*'/s//Sha256 = ''/" "$prov" steps
mutant seal-unchecked 's/if (-not $Artifact.Sealed -or /if (/' "$prov" verify
# An installer without its silent switch is staged but marked for no unattended run: the AMD
# driver's switch taken away, the mark must be there, and the check catches it flipped.
jq '(.components[] | select(.name == "windows-amd-radeon-pro")) |= del(.args)' \
	tests/golden/windows-server-2022/all-kinds.lock.json >"$tmp/no-args.lock.json"
"$gen" "$tmp/no-args.lock.json" manifests/hardware "$tmp/no-args.out" >/dev/null ||
	fail "pwsh-gen refused a lock whose AMD installer has no switches"
grep -q 'Unattended = $false' "$tmp/no-args.out/scripts/dsvm-provision.ps1" ||
	fail "an installer without a silent switch is not marked Unattended = \$false"
mutant unattended-unmarked 's/Unattended = $false/Unattended = $true/' "$tmp/no-args.out/scripts/dsvm-provision.ps1" steps

# The generator itself refuses what the scripts could not do safely.
base=tests/golden/windows-server-2022/all-kinds.lock.json
n_lock=0
refuse() { # NAME JQ-FILTER MESSAGE
	n_lock=$((n_lock + 1))
	jq "$2" "$base" >"$tmp/$1.lock.json"
	rc=0
	"$gen" "$tmp/$1.lock.json" manifests/hardware "$tmp/$1.out" >/dev/null 2>"$tmp/$1.err" || rc=$?
	[ "$rc" -eq 65 ] || fail "lock mutant $1: pwsh-gen exited $rc, not 65"
	grep -q "$3" "$tmp/$1.err" || fail "lock mutant $1: '$(cat "$tmp/$1.err")' lacks '$3'"
	[ ! -e "$tmp/$1.out" ] || fail "lock mutant $1 left output behind"
}
refuse no-silent '(.components[] | select(.kind == "exe" and .action == "install") | .args) |= map(select(. != "/VERYSILENT" and . != "/S"))' 'no silent switch'
refuse space-arg '(.components[] | select(.name == "vscode") | .args) += ["/DIR=C:\\Program Files\\x"]' 'would split'
refuse quote-inject '(.components[] | select(.name == "vscode") | .args) += ["/X='"'"'; Remove-Item C:\\"]' 'would split'
# A lock resolved with --allow-unsealed gives scripts (for review) that refuse the artifact.
jq '(.components[] | select(.name == "vscode") | .artifacts[0]) |= (del(.sha256) + {seal: "awaiting"})' "$base" >"$tmp/awaiting.lock.json"
"$gen" "$tmp/awaiting.lock.json" manifests/hardware "$tmp/awaiting.out" >/dev/null || fail "an unsealed lock gave no scripts"
grep -q "Name = 'VSCodeSetup-x64-1.105.1.exe'; Url = '[^']*'; Sha256 = ''; Size = 0; Sealed = \$false" "$tmp/awaiting.out/scripts/dsvm-provision.ps1" ||
	fail "the artifact awaiting its seal is not marked Sealed = \$false"
$lint steps "$tmp/awaiting.out/scripts/dsvm-provision.ps1" || fail "an unsealed step failed the step check"
refuse http '(.components[] | select(.name == "vscode") | .artifacts[0].url) = "http://example.com/x.exe"' 'not https'
refuse no-silent-kind '(.components[] | select(.name == "vscode") | .kind) = "deb"' 'no silent install'
refuse non-ascii '(.components[] | select(.name == "vscode") | .args) += ["/X=caf\u00e9"]' 'printable ASCII'
n_lock=$((n_lock + 1))
jq '.platform = "linux"' "$base" >"$tmp/linux.lock.json"
"$gen" "$tmp/linux.lock.json" manifests/hardware "$tmp/linux.out" >/dev/null 2>&1 &&
	fail "a Linux lock got PowerShell scripts"

# 5. The first-boot decision: the generated table, read as Select-DsvmDriverKind reads it, against
# lib/select.c on the same cases, then against dsvm-firstboot detect on the fixture sysroots.
cat_json=$tmp/golden/windows-server-2022-drivers/dsvm-catalog.json
python3 tests/tools/make-sysroot.py "$tmp/sysroots" >/dev/null
$decide cases "$cat_json" "$tmp/sysroots" >"$tmp/cases"
"$sel" manifests/hardware <"$tmp/cases" >"$tmp/ckinds"
$decide compare "$cat_json" "$fb" "$tmp/cases" "$tmp/ckinds" >"$tmp/decide.out" || {
	cat "$tmp/decide.out"
	fail "the generated decision table and lib/select.c disagree"
}
n_cases=$(sed -n 's/^\([0-9]*\) cases, 0 differ$/\1/p' "$tmp/decide.out")
: >"$tmp/dcases"
: >"$tmp/dkinds"
$decide ids "$tmp"/sysroots/* >"$tmp/ids"
while read -r s ids; do
	for size in "" Standard_D4s_v5 Standard_NV36ads_A10_v5 Standard_NC4as_T4_v3; do
		dsvm-firstboot detect --sysroot "$s" --no-imds --no-disks --json ${size:+--vm-size "$size"} |
			jq -r '"\(.vm_size // "-") \(.driver.kind)"' >"$tmp/d.txt"
		read -r dsize dkind <"$tmp/d.txt"
		echo "$dsize $ids" >>"$tmp/dcases"
		echo "$dkind" >>"$tmp/dkinds"
	done
done <"$tmp/ids"
$decide compare "$cat_json" "$fb" "$tmp/dcases" "$tmp/dkinds" >"$tmp/detect.out" || {
	cat "$tmp/detect.out"
	fail "the generated decision table and dsvm-firstboot detect disagree"
}
n_detect=$(wc -l <"$tmp/dcases")
# The comparison can fail: the table with A10 GRID sizes served by the datacenter driver.
jq '.sizes |= with_entries(if .value.kind == "nvidia-grid" then .value.kind = "nvidia-datacenter" else . end)' \
	"$cat_json" >"$tmp/mutant.json"
$decide compare "$tmp/mutant.json" "$fb" "$tmp/cases" "$tmp/ckinds" >/dev/null &&
	fail "a table that serves GRID sizes with the datacenter driver agreed with C"
sed 's/if (\$served -ne \$mainServed) {/if ($false) {/' "$fb" >"$tmp/fb-mutant.ps1"
$decide compare "$cat_json" "$tmp/fb-mutant.ps1" "$tmp/cases" "$tmp/ckinds" >/dev/null &&
	fail "a first-boot script without the served-first ranking passed the shape check"

# 6. Templates: each step that may reboot declares its codes and is followed by windows-restart.
steps=tests/fixtures/pwsh/golden/windows-server-2022-drivers.steps
python3 - "$steps" "$tmp/ok.pkr.hcl" "$tmp/no-restart.pkr.hcl" "$tmp/no-codes.pkr.hcl" <<'EOF'
import sys
steps = [l.split() for l in open(sys.argv[1]) if l.strip()]
def hcl(restart=True, codes=True):
    out = ["build {"]
    for _, name, _, _, reboot, c in steps:
        out.append('  provisioner "powershell" {')
        out.append("    inline = [\"& 'C:\\\\Windows\\\\Temp\\\\dsvm\\\\dsvm-provision.ps1' -Step '%s'; exit $LASTEXITCODE\"]" % name)
        if reboot == "1" and codes:
            out.append("    valid_exit_codes = [%s]" % ", ".join(c.split(",")))
        out.append("  }")
        if reboot == "1" and restart:
            out.append('  provisioner "windows-restart" {\n  }')
    return "\n".join(out + ["}"]) + "\n"
for path, kw in zip(sys.argv[2:], [{}, {"restart": False}, {"codes": False}]):
    open(path, "w").write(hcl(**kw))
EOF
$lint template "$tmp/ok.pkr.hcl" "$steps" || fail "the reference template failed the template check"
$lint template "$tmp/no-restart.pkr.hcl" "$steps" >/dev/null && fail "a reboot step without windows-restart passed"
$lint template "$tmp/no-codes.pkr.hcl" "$steps" >/dev/null && fail "a reboot step without valid_exit_codes passed"
n_templates=0
for t in $(grep -l 'dsvm-provision.ps1' packer/*/*.pkr.hcl 2>/dev/null || true); do
	# The lock the template was generated from when it carries one, else the edition's
	# every-kind golden lock (the default universal target).
	edition=$(basename "$(dirname "$t")")
	lock=$(ls "$(dirname "$t")"/payload/locks/*.lock.json 2>/dev/null | head -1 || true)
	[ -n "$lock" ] || lock=tests/golden/$edition/all-kinds.lock.json
	[ -f "$lock" ] || fail "$t: no lock to take its steps from (payload/locks or $lock)"
	"$gen" "$lock" manifests/hardware "$tmp/tpl" >"$tmp/tpl.steps" || fail "$lock: pwsh-gen failed"
	$lint template "$t" "$tmp/tpl.steps" || fail "$t: reboot steps (above)"
	n_templates=$((n_templates + 1))
done

echo "pwsh: $golden golden files, $n_syntax scripts parse clean, $n_broken/$n_broken broken and $n_ps7/$n_ps7 PowerShell 7 fixtures rejected, $n_mut/$n_mut script and $n_lock/$n_lock lock mutants caught, $n_cases + $n_detect decision cases agree with C, $n_templates Windows templates under packer/ checked"
