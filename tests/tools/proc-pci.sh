#!/bin/sh
# Write SYSROOT/proc/bus/pci/devices from the PCI functions under SYSROOT/sys/bus/pci/devices,
# as the kernel lists them: "BBDD<TAB>VVVVDDDD<TAB>irq" with BB the bus and DD the devfn
# (device << 3 | function), all hex; the kernel adds BARs and the driver, which nothing here
# reads. Usage: proc-pci.sh SYSROOT
set -eu
sr=$1
mkdir -p "$sr/proc/bus/pci"
out=$sr/proc/bus/pci/devices
: >"$out.tmp"
for d in "$sr"/sys/bus/pci/devices/*; do
	[ -e "$d/vendor" ] || continue
	bdf=${d##*/}          # DOMAIN:BB:DD.F
	bus=${bdf#*:}; bus=${bus%%:*}
	slot=${bdf##*:}; dev=${slot%.*}; fn=${slot#*.}
	vendor=$(cat "$d/vendor"); device=$(cat "$d/device")
	printf '%s%02x\t%s%s\t0\n' "$bus" $((0x$dev << 3 | fn)) "${vendor#0x}" "${device#0x}" >>"$out.tmp"
done
mv "$out.tmp" "$out"
