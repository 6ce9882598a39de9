#!/bin/sh
# Regenerate the Packer templates of the shipped editions (`make packer` runs this):
#   packer/generate.sh [MODERN_DIR [LEGACY_DIR]]
# MODERN_DIR (default packer/) gets one folder per edition in the default dialect (Packer >= 1.7:
# what `packer init` and `packer build` of a current Packer take), with the payload the templates
# upload laid out beside them (ignored by git). LEGACY_DIR (default tests/fixtures/packer/1.6.6/)
# gets the same templates for Debian 12's packer 1.6.6, which tests/integration/test-packer.sh
# validates; only the templates are kept there. The hand-written scripts
# under packer/scripts/ are read, never written. Targets: Ubuntu, a universal image and one
# image per driver family a GPU size picks (A100: nvidia-open; MI300X: ROCm) and the GRID kind;
# Windows, a universal image.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
modern=${1:-$top/packer}
legacy=${2:-$top/tests/fixtures/packer/1.6.6}
bin=${DSVM_BUILD:-$top/${BUILD:-build}}
cd "$top"
for edition in manifests/editions/*.yaml; do
	name=$(basename "$edition" .yaml)
	# Windows drivers pinned by their signer may await a maintainer's seal (dsvm-build seal):
	# the generated steps refuse such artifacts before downloading them.
	case $name in
	windows-*) targets="universal --allow-unsealed" ;;
	*) targets="universal Standard_NC24ads_A100_v4 nvidia-grid Standard_ND96isr_MI300X_v5" ;;
	esac
	# shellcheck disable=SC2086 # targets are words
	"$bin/dsvm-build" packer "$edition" $targets --bin-dir "$bin" --out "$modern/$name"
	tmp=$(mktemp -d)
	# shellcheck disable=SC2086
	"$bin/dsvm-build" packer "$edition" $targets --bin-dir "$bin" --packer-version 1.6.6 \
		--out "$tmp/$name" 2>/dev/null
	rm -rf "${legacy:?}/$name"
	mkdir -p "$legacy/$name"
	# The step script does not depend on the dialect: packer/<edition>/ holds its golden.
	cp "$tmp/$name"/*.pkr.hcl "$legacy/$name/"
	rm -rf "$tmp"
done
