/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Disks, read only: which block device is the OS disk, which is Azure's resource disk, which are
 * local NVMe disks, and what each holds. Nothing here ever writes to a disk; the decision to
 * format one belongs to the caller, and every doubt classifies as "holds data".
 *
 * Roles follow the udev rules Azure ships (WALinuxAgent 66-azure-storage.rules, azure-vm-utils
 * 80-azure-disk.rules): on Hyper-V SCSI the VMBus device_id "?00000000-0000-*" is the OS disk
 * and "?00000000-0001-*" the resource disk (Gen2: controller {f8b3781a-...} LUN 0 and 1); NVMe
 * "Microsoft NVMe Direct Disk" (and "... v2") namespaces are local disks, "MSFT NVMe Accelerator
 * v1.0" namespace 1 is the OS disk. A disk whose NTFS partition is labelled "Temporary Storage"
 * is taken as the resource disk when sysfs says nothing better.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsvm/context.h"

/* At most this many entries of /sys/class/block are looked at. */
#define DSVM_DISK_MAX_BLOCK_DEVICES 1024
/* The label Azure gives the resource disk's NTFS ("Temporary Storage", 17 bytes: not ext4). */
#define DSVM_RESOURCE_DISK_LABEL "Temporary Storage"
/* The one file a fresh resource disk holds (cloud-init compares it case-insensitively). */
#define DSVM_RESOURCE_DISK_WARNING_FILE "dataloss_warning_readme.txt"

enum dsvm_disk_content {
	DSVM_DISK_CONTENT_UNKNOWN,    /* unreadable, ambiguous or corrupt: treat as holding data */
	DSVM_DISK_CONTENT_BLANK,      /* no filesystem or table signature, or an empty table */
	DSVM_DISK_CONTENT_NTFS_FRESH, /* NTFS holding nothing but the data-loss warning file */
	DSVM_DISK_CONTENT_NTFS_DATA,  /* NTFS holding anything else */
	DSVM_DISK_CONTENT_EXT4,	      /* ext4 (ours from an earlier boot, or someone's data) */
	DSVM_DISK_CONTENT_OTHER,      /* another filesystem, swap or RAID member: data */
	_DSVM_DISK_CONTENT_MAX,
};

enum dsvm_disk_role {
	DSVM_DISK_ROLE_OTHER,
	DSVM_DISK_ROLE_OS,
	DSVM_DISK_ROLE_RESOURCE,
	DSVM_DISK_ROLE_LOCAL_NVME,
	DSVM_DISK_ROLE_DATA,
	_DSVM_DISK_ROLE_MAX,
};

/* What a device or image file holds. */
struct dsvm_disk_probe {
	enum dsvm_disk_content content;
	char pttype[8]; /* "dos", "gpt", or "" without a partition table */
	unsigned n_partitions;
	unsigned fs_partition; /* 1-based partition the content describes; 0: the whole disk */
	char fstype[16];       /* "ntfs", "ext4", ... or "" */
	char label[64];	       /* filesystem label, or "" */
	unsigned n_files;      /* NTFS: root entries other than the warning file (capped) */
	bool warning_file;     /* NTFS: dataloss_warning_readme.txt is there */
};

/* "unknown", "blank", "ntfs-fresh", "ntfs-data", "ext4", "other". */
const char *dsvm_disk_content_to_string(enum dsvm_disk_content content);
/* "other", "os", "resource", "local-nvme", "data". */
const char *dsvm_disk_role_to_string(enum dsvm_disk_role role);

/*
 * Classify a block device or an image file, read only, with libblkid. Follows cloud-init's
 * rule for the resource disk: with a partition table, one partition (or two, the second being
 * the candidate, behind a Microsoft reserved partition) is looked at; an NTFS there is listed
 * (its root directory, read in place, no mount) and is "fresh" only when it holds nothing but
 * the warning file. Returns 0 with *ret filled (content unknown for anything unreadable inside
 * the device), or -errno when path cannot be opened at all.
 */
int dsvm_disk_classify(struct dsvm_ctx *ctx, const char *path, struct dsvm_disk_probe *ret);

struct dsvm_disk {
	char name[32];	  /* "sdb", "nvme0n1" */
	char devnode[48]; /* "/dev/sdb", without the sysroot */
	enum dsvm_disk_role role;
	uint64_t size_bytes;
	char model[48]; /* trimmed sysfs model, or "" */
	bool probed;	/* probe is valid (the device node could be opened) */
	struct dsvm_disk_probe probe;
};

/*
 * List whole disks under <sysroot>/sys/class/block (no partitions, loop, ram, sr, zram, md or
 * device-mapper nodes), sorted by name, with their roles. With probe, the resource disk and
 * local NVMe disks are classified through <sysroot>/dev/NAME (a device, or an image file in a
 * test sysroot). Returns 0 with *ret (caller frees with free()) and *ret_n; a missing
 * /sys/class/block is an empty list.
 */
int dsvm_disks_scan(struct dsvm_ctx *ctx, bool probe, struct dsvm_disk **ret, size_t *ret_n);
