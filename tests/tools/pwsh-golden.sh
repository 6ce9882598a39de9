#!/bin/sh
# SPDX-License-Identifier: MIT
# Write the generated Windows scripts for the golden cases into OUT (default
# tests/fixtures/pwsh/golden): the shipped Windows edition's all-kinds lock from tests/golden, and
# that lock with the fixture drivers of pwsh-fixture-lock.py. Run after regen-golden.sh (`make
# golden` runs both); review `git diff` before committing: a golden change is a behaviour change.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/tests/fixtures/pwsh/golden}
gen=$top/${BUILD:-build}/tools/pwsh-gen
mkdir -p "$out"
cd "$top"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for lock in tests/golden/windows-*/all-kinds.lock.json; do
	name=$(basename "$(dirname "$lock")")
	rm -rf "$out/$name" "$out/$name-drivers"
	"$gen" "$lock" manifests/hardware "$out/$name" >"$out/$name.steps"
	python3 tests/tools/pwsh-fixture-lock.py "$lock" "$tmp/$name-drivers.lock.json"
	"$gen" "$tmp/$name-drivers.lock.json" manifests/hardware "$out/$name-drivers" >"$out/$name-drivers.steps"
done
echo "pwsh golden files written under $out"
