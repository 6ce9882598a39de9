#!/bin/sh
# `make run`: the main job on the built-in defaults. Resolves the shipped Ubuntu 22.04 edition for
# a CPU VM and for an A100 VM (Standard_NC24ads_A100_v4, every other driver kind staged for
# offline switching), writes each lock and SBOM under out/, and prints the two plans side by side.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build="$top/${BUILD:-build}"
out="$top/out"
edition="$top/manifests/editions/ubuntu-22.04.yaml"
mkdir -p "$out"
PATH="$build:$PATH"

echo "== validate the shipped editions"
dsvm-build validate "$top"/manifests/editions/*.yaml

echo
echo "== resolve $(basename "$edition") for a CPU VM and for an A100 VM"
dsvm-build resolve "$edition" --gpu none -o "$out/lock-cpu.json"
dsvm-build resolve "$edition" --vm-size Standard_NC24ads_A100_v4 --all-driver-kinds \
	-o "$out/lock-a100.json"
dsvm-build sbom "$out/lock-a100.json" -o "$out/sbom-a100.json"

echo
echo "== plan side by side (install = into the image, stage = offline payload for firstboot, - = dropped)"
jq -r -n --slurpfile cpu "$out/lock-cpu.json" --slurpfile gpu "$out/lock-a100.json" '
	def act($lock; $n): ([$lock.components[] | select(.name == $n) | .action] | first) // "-";
	def ver($n): ([$cpu[0].components[], $gpu[0].components[] | select(.name == $n) | .version] | first) // "";
	([$cpu[0].components[].name, $gpu[0].components[].name] | unique) as $names
	| (["component", "version", "CPU", "A100"] | @tsv),
	  ($names[] | [., ver(.), act($cpu[0]; .), act($gpu[0]; .)] | @tsv)
' | column -t -s "$(printf '\t')"

echo
jq -r '"A100 target: \(.target.reason)\n  driver \(.driver.component) \(.driver.version) (branch \(.driver.branch)), CUDA up to \(.driver.cuda_max)"' "$out/lock-a100.json"
echo "locks and SBOM written to $out/ (lock-cpu.json, lock-a100.json, sbom-a100.json)"
