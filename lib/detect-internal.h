/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The parsers behind dsvm_hw_detect(), private to libdsvm and exposed here for the unit tests
 * and the fuzz targets. Each takes a buffer and its size (not trusting a NUL), returns 0 with
 * the value, or -EBADMSG for anything it does not fully understand, and never reads past size.
 */

#include "dsvm/detect.h"
#include "internal.h"

/* Longest sysfs attribute the PCI scan reads ("0x030200\n" is 9 bytes). */
#define SYSFS_ATTR_MAX 64
/* /proc/sys/kernel/osrelease: utsname.release is 65 bytes with its NUL. */
#define KERNEL_RELEASE_MAX 64
/* /proc/driver/nvidia/version is two short lines. */
#define NVIDIA_VERSION_FILE_MAX 4096
/* cloud-init's instance-data.json holds IMDS's whole answer (userData may be 64 KiB). */
#define INSTANCE_DATA_MAX (4u << 20)

/*
 * A sysfs hex attribute: "0x10de\n". An optional 0x, exactly digits hex digits (4 for ids, 6
 * for a class), at most one trailing newline.
 */
int sysfs_parse_hex(const char *buf, size_t size, unsigned digits, uint32_t *ret);

/* "0000:00:1f.3" and Hyper-V's "0001:00:00.0"; domains of 4 to 8 hex digits. */
bool pci_address_is_valid(const char *name);

/*
 * An efivarfs file: 4 bytes of attributes then the data. SecureBoot's data is one byte, 1 or 0
 * (UEFI spec 2.10, 3.3 "Globally Defined Variables").
 */
int efivar_parse_bool(const void *buf, size_t size, bool *ret);

/* One line of printable characters without spaces; returns a new string. */
int kernel_release_parse(const char *buf, size_t size, char **ret);

/*
 * The first line of /proc/driver/nvidia/version:
 * "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu Oct 19 ..." or
 * "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.95.05  Release Build ...".
 * The version is the first word made only of digits and dots with at least one dot.
 */
int nvidia_version_parse(const char *buf, size_t size, char ret_version[32], bool *ret_open);

/*
 * ds.meta_data.imds.compute.vmSize from cloud-init's instance-data.json (keys case-sensitive).
 * -ENOENT when the key is absent (cloud-init writes {} when IMDS failed), -EBADMSG for
 * malformed JSON or a value that is not a valid size name. Returns a new string.
 */
int instance_data_parse_vm_size(struct dsvm_ctx *ctx, const char *buf, size_t size, char **ret);

/*
 * vmSize from IMDS's compute document (or the whole instance document, under "compute").
 * -EBADMSG for anything but a JSON object holding a valid size name as a string.
 */
int imds_parse_vm_size(struct dsvm_ctx *ctx, const char *buf, size_t size, char **ret);

/* Read a small file relative to dirfd into buf (NUL-terminated); -EFBIG past bufsize - 1. */
int read_small_at(int dirfd, const char *name, char *buf, size_t bufsize, size_t *ret_size);

/* The PCI and InfiniBand part of the scan, filled into the counters below. */
struct pci_scan {
	struct dsvm_gpu *gpus; /* NVIDIA and AMD display and accelerator functions */
	size_t n_gpus;
	size_t alloc_gpus;
	struct dsvm_gpu *displays; /* every other vendor's display function (BMC, virtual VGA) */
	size_t n_displays;
	size_t alloc_displays;
	size_t n_devices;
	unsigned n_nvswitches;
	unsigned n_ib_pci;
	unsigned n_ib_ports;
	unsigned n_ib_devices; /* /sys/class/infiniband entries that are InfiniBand (see ib_scan) */
};

int pci_scan(struct dsvm_ctx *ctx, struct pci_scan *scan);
int ib_scan(struct dsvm_ctx *ctx, struct pci_scan *scan);
void pci_scan_done(struct pci_scan *scan);
