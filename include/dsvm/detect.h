/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Hardware detection: what this VM is now. Every path is read through --sysroot
 * (dsvm_sysroot_path()), so a captured or generated tree replays exactly: the PCI bus
 * (/sys/bus/pci/devices), InfiniBand ports (/sys/class/infiniband), Secure Boot (efivarfs), the
 * running kernel (/proc/sys/kernel/osrelease), the loaded NVIDIA module
 * (/proc/driver/nvidia/version) and the VM size (--vm-size, cloud-init's instance data, IMDS).
 *
 * Detection never fails on a strange machine: a garbage, truncated or unreadable file makes that
 * one fact "unknown" (logged at debug) and the rest goes on. dsvm_hw_detect() fails only when
 * memory runs out or the PCI bus itself cannot be listed for a reason other than its absence.
 *
 * The result is an opaque, read-only struct dsvm_hw. Strings and records it hands out are owned
 * by it and stay valid until dsvm_hw_free().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsvm/context.h"
#include "dsvm/target.h"

/* At most this many PCI functions are looked at; a real Azure VM has well under 300. */
#define DSVM_DETECT_MAX_PCI_DEVICES 4096
/* At most this many entries under /sys/class/infiniband, and ports per entry. */
#define DSVM_DETECT_MAX_IB_DEVICES 256
#define DSVM_DETECT_MAX_IB_PORTS 16

/* PCI class codes (base << 16 | sub << 8 | prog-if), from pci.ids "C" lines. */
#define DSVM_PCI_CLASS_VGA 0x0300	/* "VGA compatible controller" */
#define DSVM_PCI_CLASS_3D 0x0302	/* "3D controller" */
#define DSVM_PCI_CLASS_DISPLAY 0x0380	/* "Display controller": Radeon PRO V620 */
#define DSVM_PCI_CLASS_ACCEL 0x1200	/* "Processing accelerators": Instinct MI300X */
#define DSVM_PCI_CLASS_BRIDGE 0x0680	/* "Bridge": NVSwitch reports this */
#define DSVM_PCI_CLASS_IB 0x0207	/* "Infiniband controller" */
#define DSVM_PCI_CLASS_IB_SERIAL 0x0c06 /* "Serial bus controller: InfiniBand" (mlx4, QLogic) */
#define DSVM_PCI_VENDOR_MELLANOX 0x15b3

enum dsvm_vm_size_source {
	DSVM_VM_SIZE_SOURCE_NONE,
	DSVM_VM_SIZE_SOURCE_OVERRIDE,	/* --vm-size */
	DSVM_VM_SIZE_SOURCE_CLOUD_INIT, /* /run/cloud-init/instance-data.json */
	DSVM_VM_SIZE_SOURCE_IMDS,	/* Azure Instance Metadata Service */
	_DSVM_VM_SIZE_SOURCE_MAX,
};

/* "none", "override", "cloud-init", "imds". */
const char *dsvm_vm_size_source_to_string(enum dsvm_vm_size_source source);

/* One GPU function on the PCI bus, as sysfs describes it. */
struct dsvm_gpu {
	char address[32];	      /* "0001:00:00.0", the sysfs name (moves between hosts) */
	enum dsvm_gpu_vendor vendor;  /* nvidia, amd or other */
	uint16_t vendor_id;	      /* 0x10de */
	uint16_t device_id;	      /* 0x20b5 */
	uint16_t subsystem_vendor_id; /* 0 when sysfs did not say */
	uint16_t subsystem_device_id;
	uint32_t class_code; /* 0x030200 */
};

struct dsvm_hw_options {
	const char *vm_size;  /* --vm-size; NULL to look it up */
	const char *imds_url; /* NULL for Azure's (DSVM_IMDS_URL in dsvm/imds.h) */
	bool no_imds;	      /* never ask IMDS (cloud-init's copy is still read) */
	/* Neither PCI nor InfiniBand is looked at (no GPUs, no fabric): the no-op boot, whose PCI
	 * inventory key says they are as recorded (dsvm_pci_inventory_key in dsvm/state.h). */
	bool skip_pci;
};

struct dsvm_hw;

/*
 * Detect the hardware under the context's sysroot. opts may be NULL (all defaults). Returns 0
 * and *ret (caller frees with dsvm_hw_free()); -ENOMEM; -EINVAL for a --vm-size that cannot be
 * an Azure size name; -errno when /sys/bus/pci/devices exists but cannot be listed. An IMDS that
 * does not answer is not an error: the size source is then "none" and a warning is logged.
 */
int dsvm_hw_detect(struct dsvm_ctx *ctx, const struct dsvm_hw_options *opts, struct dsvm_hw **ret);
void dsvm_hw_free(struct dsvm_hw *hw);

/*
 * GPUs sorted by PCI address; i < the count, else NULL. These are the NVIDIA and AMD display
 * and accelerator functions: what a driver kind serves, and what the fingerprint and the health
 * gate count.
 */
size_t dsvm_hw_get_n_gpus(const struct dsvm_hw *hw);
const struct dsvm_gpu *dsvm_hw_get_gpu(const struct dsvm_hw *hw, size_t i);

/*
 * Display functions of every other vendor (BMC VGA such as ASPEED or Matrox, virtual VGA of
 * Hyper-V, QEMU, VMware), sorted by address: never GPUs, never counted.
 */
size_t dsvm_hw_get_n_display_adapters(const struct dsvm_hw *hw);
const struct dsvm_gpu *dsvm_hw_get_display_adapter(const struct dsvm_hw *hw, size_t i);

/* PCI functions looked at (after the cap), for diagnostics and the benchmark. */
size_t dsvm_hw_get_n_pci_devices(const struct dsvm_hw *hw);

/* NVIDIA functions of the bridge class (0x0680): the NVSwitches the guest sees. */
unsigned dsvm_hw_get_n_nvswitches(const struct dsvm_hw *hw);

/*
 * InfiniBand: PCI functions of the InfiniBand classes (0x0207 "Infiniband controller", 0x0c06
 * serial-bus InfiniBand: ConnectX-3 mlx4, QLogic/Intel), any vendor; ports under
 * /sys/class/infiniband whose link_layer is "InfiniBand"; and entries there that are
 * InfiniBand (a port says so, or no port has a link_layer at all, as with drivers older than
 * the attribute). An entry whose ports all say "Ethernet" is RoCE (accelerated networking's
 * mlx5 VF), not InfiniBand. has_infiniband is any of these being non-zero.
 */
unsigned dsvm_hw_get_n_ib_pci(const struct dsvm_hw *hw);
unsigned dsvm_hw_get_n_ib_ports(const struct dsvm_hw *hw);
unsigned dsvm_hw_get_n_ib_devices(const struct dsvm_hw *hw);
bool dsvm_hw_has_infiniband(const struct dsvm_hw *hw);

/* 1 enabled, 0 disabled (or no EFI at all), -ENODATA unknown (unreadable or malformed). */
int dsvm_hw_get_secure_boot(const struct dsvm_hw *hw);

/* Kernel release ("6.8.0-1017-azure"), or NULL when unknown. */
const char *dsvm_hw_get_kernel(const struct dsvm_hw *hw);

/*
 * The NVIDIA kernel module loaded now ("580.95.05"), or NULL when none is loaded or the file
 * could not be read; *ret_open (may be NULL) says whether it is the open module.
 */
const char *dsvm_hw_get_nvidia_driver(const struct dsvm_hw *hw, bool *ret_open);

/* The VM size ("Standard_NC24ads_A100_v4") or NULL, and where it came from. */
const char *dsvm_hw_get_vm_size(const struct dsvm_hw *hw);
enum dsvm_vm_size_source dsvm_hw_get_vm_size_source(const struct dsvm_hw *hw);

/* True for a string that can be an Azure VM size name: [A-Za-z0-9_-], 1..63 bytes. */
bool dsvm_vm_size_is_valid(const char *s);

struct dsvm_hw_summary; /* dsvm/select.h */
struct dsvm_catalog;	/* dsvm/catalog.h */
struct dsvm_choice;	/* dsvm/select.h */
struct dsvm_disk;	/* dsvm/disk.h */

/*
 * The input of dsvm_driver_select(), pointing into hw (valid until dsvm_hw_free()): the VM
 * size, the GPUs' PCI ids, fabric and Secure Boot (unknown counts as off).
 */
void dsvm_hw_get_summary(const struct dsvm_hw *hw, struct dsvm_hw_summary *ret);

/* Everything `dsvm-firstboot detect --json` prints; only hw is required. */
struct dsvm_detect_report {
	const struct dsvm_hw *hw;
	const struct dsvm_catalog *catalog; /* NULL: every model, architecture... is null */
	const struct dsvm_choice *choice;   /* NULL: "driver" is null */
	const struct dsvm_disk *disks;	    /* n_disks of them, may be NULL */
	size_t n_disks;
};

/*
 * The JSON object of DESIGN.md's detect contract (keys may be added, never renamed), one line,
 * no trailing newline. Returns 0 and *ret (caller frees), or -ENOMEM.
 */
int dsvm_detect_report_to_json(const struct dsvm_detect_report *report, char **ret);
