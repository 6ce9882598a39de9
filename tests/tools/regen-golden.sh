#!/bin/sh
# Regenerate the golden files: one lock per shipped edition and driver kind it serves, one lock
# with every kind staged, and the SBOM of that lock. Run from anywhere; paths inside the locks are
# relative to the repository root, so the goldens do not depend on where the clone lives.
# Review `git diff tests/golden` before committing: a golden change is a behaviour change.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/tests/golden}
PATH="$top/${BUILD:-build}:$PATH"
cd "$top"
for edition in manifests/editions/*.yaml; do
	name=$(basename "$edition" .yaml)
	mkdir -p "$out/$name"
	kinds=$(python3 -c 'import sys, yaml; print(" ".join(yaml.safe_load(open(sys.argv[1]))["driver_kinds"]))' "$edition")
	# --allow-unsealed: an edition's signer-pinned drivers that no maintainer has sealed yet
	# (manifests/SCHEMA.md) appear as "awaiting" instead of failing the whole edition.
	for kind in $kinds; do
		dsvm-build resolve "$edition" --driver-kind "$kind" --allow-unsealed \
			-o "$out/$name/$kind.lock.json" 2>/dev/null
	done
	dsvm-build resolve "$edition" --all-driver-kinds --allow-unsealed \
		-o "$out/$name/all-kinds.lock.json" 2>/dev/null
	# A lock with an artifact awaiting its seal is refused by every reader of locks, sbom
	# included: the edition's SBOM golden is then the one of its driverless lock.
	if grep -q '"awaiting"' "$out/$name/all-kinds.lock.json"; then
		dsvm-build sbom "$out/$name/none.lock.json" -o "$out/$name/none.sbom.json"
	else
		dsvm-build sbom "$out/$name/all-kinds.lock.json" -o "$out/$name/all-kinds.sbom.json"
	fi
done
echo "golden files written under $out"
