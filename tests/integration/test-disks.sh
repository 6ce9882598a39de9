#!/bin/sh
# T7 disks: images made here with truncate + sfdisk + mkntfs/ntfscp (ntfs-3g) + mkfs.ext4, each
# classified by dsvm_disk_classify() (build/tools/disk-classify) with libblkid and dsvm's NTFS
# root reader, and a sysroot whose dev/ nodes are such images through `detect --json`.
# The rule under test: only Azure's fresh layout (partition table, 1 or 2 partitions, NTFS
# holding nothing but dataloss_warning_readme.txt) may be "ntfs-fresh"; anything holding data,
# or anything in doubt, never is. Nothing here writes to a real disk.
set -eu
top=${DSVM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${DSVM_BUILD:-$top/build}
classify=$build/tools/disk-classify
for tool in truncate sfdisk mkntfs ntfscp ntfsls mkfs.ext4 mkswap jq python3; do
	command -v "$tool" >/dev/null ||
		{ echo "skip: '$tool' is not installed (make deps installs e2fsprogs, ntfs-3g, fdisk)"; exit 77; }
done
[ -x "$classify" ] || { echo "FAIL: $classify not built (make all)"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
checks=0
echo "WARNING: THIS IS A TEMPORARY DISK." >warning.txt

# ntfs_part FILE SIZE [FILE-TO-ADD...]: an NTFS filesystem image labelled like Azure's.
ntfs_part() {
	out=$1 size=$2
	shift 2
	truncate -s "$size" "$out"
	mkntfs -F -Q -q -L "Temporary Storage" "$out" >/dev/null 2>&1
	for name in "$@"; do
		ntfscp -f "$out" warning.txt "$name" >/dev/null 2>&1
	done
}

# disk_with OUT TABLE PART...: a disk image with an sfdisk script, partitions copied in at
# their start sectors (sfdisk's "start=" in 512-byte sectors).
disk_with() {
	out=$1 table=$2
	shift 2
	truncate -s 80M "$out"
	printf '%b' "$table" | sfdisk -q "$out" >/dev/null
	start=2048
	for part in "$@"; do
		dd if="$part" of="$out" bs=512 seek="$start" conv=notrunc status=none
		start=$((start + $(stat -c %s "$part") / 512))
	done
}

# expect IMAGE JQ-FILTER
expect() {
	checks=$((checks + 1))
	if ! "$classify" "$1" >"$1.json" 2>"$1.err"; then
		echo "FAIL $1: disk-classify failed: $(cat "$1.err")"
		fails=$((fails + 1))
	elif jq -e "$2" "$1.json" >/dev/null; then
		echo "ok   $1: $(jq -r .content "$1.json")"
	else
		echo "FAIL $1: not ($2): $(cat "$1.json")"
		fails=$((fails + 1))
	fi
}

# Azure's fresh resource disk: MBR, one NTFS partition, only the warning file.
ntfs_part p-fresh.img 64M DATALOSS_WARNING_README.txt
disk_with fresh-mbr.img 'label: dos\nstart=2048, size=131072, type=7\n' p-fresh.img
expect fresh-mbr.img '.content == "ntfs-fresh" and .pttype == "dos" and .partitions == 1
	and .fstype == "ntfs" and .label == "Temporary Storage" and .ntfs_warning_file == true
	and .ntfs_other_files == 0'

# Large sizes: GPT with Microsoft's reserved partition first, NTFS second (LP: #1686514).
truncate -s 1M msr.img
disk_with fresh-gpt.img 'label: gpt\nstart=2048, size=2048, type=E3C9E316-0B5C-4DB8-817D-F92DF00215AE\nstart=4096, size=131072, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n' msr.img p-fresh.img
expect fresh-gpt.img '.content == "ntfs-fresh" and .pttype == "gpt" and .partitions == 2
	and .fs_partition == 2'

# A fresh NTFS without even the warning file is still Azure's (cloud-init counts 0 files).
ntfs_part p-empty.img 64M
disk_with empty-ntfs.img 'label: dos\nstart=2048, size=131072, type=7\n' p-empty.img
expect empty-ntfs.img '.content == "ntfs-fresh" and .ntfs_warning_file == false'

# NTFS holding data: one more file; and 300 files, which moves the root index into INDX blocks
# and (ntfs-3g does this past about 100 names) the index attributes into an extension record
# behind an $ATTRIBUTE_LIST.
ntfs_part p-data.img 64M DATALOSS_WARNING_README.txt model.safetensors
disk_with ntfs-data.img 'label: dos\nstart=2048, size=131072, type=7\n' p-data.img
expect ntfs-data.img '.content == "ntfs-data" and .ntfs_other_files == 1'
ntfs_part p-many.img 64M DATALOSS_WARNING_README.txt
i=0
while [ "$i" -lt 300 ]; do
	i=$((i + 1))
	ntfscp -f p-many.img warning.txt "checkpoint-$i.pt" >/dev/null 2>&1
done
disk_with ntfs-many.img 'label: dos\nstart=2048, size=131072, type=7\n' p-many.img
expect ntfs-many.img '.content == "ntfs-data" and .ntfs_other_files == 300'
# Cross-check the reader against ntfs-3g's own listing of the same volume.
n3g=$(ntfsls -f p-many.img | grep -cvi '^dataloss_warning_readme.txt$')
[ "$n3g" -eq 300 ] || { echo "FAIL ntfsls sees $n3g other files"; fails=$((fails + 1)); }

# NTFS on the whole disk, no partition table: not Azure's layout, so never "fresh".
expect p-fresh.img '.content == "ntfs-data" and .pttype == ""'

# ext4 with data in a partition, and on the whole disk.
mkdir -p tree/data && echo weights >tree/data/model.bin
truncate -s 64M p-ext4.img
mkfs.ext4 -q -F -L scratch -d tree p-ext4.img
disk_with ext4-data.img 'label: dos\nstart=2048, size=131072, type=83\n' p-ext4.img
expect ext4-data.img '.content == "ext4" and .fstype == "ext4" and .label == "scratch"'
cp p-ext4.img ext4-whole.img
expect ext4-whole.img '.content == "ext4" and .partitions == 0'

# Blank: never written, or a partition table with nothing in it.
truncate -s 64M blank.img
expect blank.img '.content == "blank" and .fstype == ""'
truncate -s 64M empty-table.img
printf 'label: gpt\n' | sfdisk -q empty-table.img >/dev/null
expect empty-table.img '.content == "blank" and .pttype == "gpt" and .partitions == 0'

# Something else: swap, three partitions, random bytes, a corrupt NTFS.
truncate -s 64M swap.img
mkswap -q swap.img >/dev/null 2>&1
expect swap.img '.content == "other" and .fstype == "swap"'
disk_with three.img 'label: dos\nstart=2048, size=2048, type=7\nstart=4096, size=2048, type=7\nstart=6144, size=2048, type=7\n'
expect three.img '.content == "other" and .partitions == 3'
head -c 4194304 /dev/urandom >random.img
expect random.img '.content == "unknown"'
# Corrupt: Azure's label and boot sector, but the MFT (and all after the boot sector) is gone.
cp p-fresh.img p-corrupt.img
dd if=/dev/zero of=p-corrupt.img bs=4096 seek=1 count=16383 conv=notrunc status=none
disk_with corrupt.img 'label: dos\nstart=2048, size=131072, type=7\n' p-corrupt.img
expect corrupt.img '.content != "ntfs-fresh" and .content != "blank"'
# A partition entry pointing past the end of the image.
cp fresh-mbr.img short.img
truncate -s 8M short.img
expect short.img '.content != "ntfs-fresh" and .content != "blank"'

# A path that does not exist is an error (66), not a classification.
if "$classify" "$work/nope.img" >/dev/null 2>&1; then
	echo "FAIL missing image classified"
	fails=$((fails + 1))
fi

# The images are untouched by classification (read only).
sum_before=$(sha256sum fresh-mbr.img ntfs-data.img | sha256sum)
"$classify" fresh-mbr.img ntfs-data.img >/dev/null
[ "$(sha256sum fresh-mbr.img ntfs-data.img | sha256sum)" = "$sum_before" ] ||
	{ echo "FAIL classification changed an image"; fails=$((fails + 1)); }

# Through detect: roles from sysfs (Gen2 LUNs, data disk, local NVMe), images as device nodes.
python3 "$top/tests/tools/make-sysroot.py" "$work/sr" disks disks-gen1
mkdir -p sr/disks/dev sr/disks-gen1/dev
cp fresh-mbr.img sr/disks/dev/sdb
cp blank.img sr/disks/dev/nvme0n1
cp ntfs-data.img sr/disks-gen1/dev/sdb
"$build/dsvm-firstboot" detect --sysroot "$work/sr/disks" --no-imds --json >d.json
"$build/dsvm-firstboot" detect --sysroot "$work/sr/disks-gen1" --no-imds --json >d1.json
check() {
	checks=$((checks + 1))
	if jq -e "$2" "$1" >/dev/null; then
		echo "ok   detect $1: $3"
	else
		echo "FAIL detect $1: $3: $(jq -c .disks "$1")"
		fails=$((fails + 1))
	fi
}
check d.json '[.disks[].name] == ["nvme0n1", "sda", "sdb", "sdc"]' "whole disks only, sorted"
check d.json '.disks[] | select(.name == "sda") | .role == "os" and .content == null' "OS disk"
check d.json '.disks[] | select(.name == "sdb") | .role == "resource" and .content == "ntfs-fresh"
	and .size_bytes == 67108864' "resource disk fresh"
check d.json '.disks[] | select(.name == "sdc") | .role == "data" and .content == null' "data disk not probed"
check d.json '.disks[] | select(.name == "nvme0n1") | .role == "local-nvme" and .content == "blank"' "local NVMe blank"
check d1.json '.disks[] | select(.name == "sdb") | .role == "resource" and .content == "ntfs-data"' "Gen1 resource disk with data"
check d1.json '.disks[] | select(.name == "sda") | .role == "os"' "Gen1 OS disk"

echo "T7 disks: $checks classifications of generated images, $fails failures, images unchanged by probing"
[ "$fails" -eq 0 ]
