/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Driver selection: from what detection found (VM size, GPUs on PCI, fabric, Secure Boot) and
 * the hardware catalog, the driver kind, the branch and the newest CUDA it runs, with a reason a
 * person can read and warnings for what does not add up.
 *
 * Rules (DESIGN.md "Driver kind"): the size wins where it knows more (Azure serves an A10 under
 * NVadsA10 v5 with GRID, and partial GPUs look like whole ones on PCI); PCI decides when the
 * size is unknown or not a GPU size. The kind follows the GPU's architecture (Kepler ->
 * nvidia-legacy-470, Maxwell/Pascal/Volta -> nvidia-proprietary, Turing and newer ->
 * nvidia-open, AMD Instinct -> amd-rocm, Radeon PRO -> amd-radeon-pro); the branch is the newest
 * catalogued branch the GPU supports. No GPU -> none.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsvm/catalog.h"
#include "dsvm/context.h"
#include "dsvm/target.h"

/* One GPU function seen on PCI. NVSwitch bridges may be listed too; they count as fabric. */
struct dsvm_hw_gpu {
	uint16_t vendor_id;  /* 0x10de */
	uint16_t device_id;  /* 0x20b5 */
	uint32_t class_code; /* 0x120000; 0 when unknown. An AMD device no table lists is taken
			      * for a new Instinct only in the accelerator class (0x12) */
};

/* What detection found; the caller owns everything here. */
struct dsvm_hw_summary {
	const char *vm_size; /* "Standard_NC24ads_A100_v4", any case, or NULL when unknown */
	const struct dsvm_hw_gpu *gpus;
	size_t n_gpus;
	bool infiniband;
	bool nvswitch;
	bool secure_boot;
};

enum dsvm_select_warning_code {
	DSVM_SELECT_WARN_UNKNOWN_SIZE,	  /* a size the catalog does not list, with a GPU on PCI */
	DSVM_SELECT_WARN_UNKNOWN_DEVICE,  /* an NVIDIA/AMD device id the catalog does not list */
	DSVM_SELECT_WARN_GPU_MISSING,	  /* the size has GPUs, PCI shows none (or too few) */
	DSVM_SELECT_WARN_GPU_MISMATCH,	  /* PCI shows another GPU model and none of the size's */
	DSVM_SELECT_WARN_UNEXPECTED_GPU,  /* PCI shows more of the size's GPUs than it carries */
	DSVM_SELECT_WARN_MIXED_GPUS,	  /* more than one GPU model on PCI */
	DSVM_SELECT_WARN_FABRIC_MISMATCH, /* InfiniBand or NVSwitch differs from the size */
	DSVM_SELECT_WARN_SECURE_BOOT,	  /* the kind builds with DKMS and cannot load under SB */
	_DSVM_SELECT_WARN_MAX,
};

#define DSVM_SELECT_MAX_WARNINGS 8

struct dsvm_select_warning {
	enum dsvm_select_warning_code code;
	char text[256]; /* one sentence, values quoted in single quotes */
};

struct dsvm_choice {
	enum dsvm_driver_kind kind;
	char branch[16];   /* "580"; "" for none and AMD kinds */
	char cuda_max[16]; /* newest CUDA toolkit of the branch on Linux ("13.0.2"), or "" */
	char reason[256];  /* one line: why this kind and branch */
	const struct dsvm_size_info *size; /* catalogued size, or NULL; owned by the catalog */
	const struct dsvm_gpu_info *gpu;   /* the GPU that decided, or NULL; owned by the catalog */
	size_t n_warnings;
	struct dsvm_select_warning warnings[DSVM_SELECT_MAX_WARNINGS];
};

/*
 * Choose the driver for hw. Fills *ret and returns 0 whenever a choice can be made, including
 * "none" with warnings; unknown sizes and devices are reported in ret->warnings, never hidden.
 * A catalogued size decides unless PCI shows another catalogued GPU and none of the size's
 * (then PCI decides, with GPU_MISMATCH). An unlisted size is a CPU size: no warning unless PCI
 * shows a GPU. A device gpus.yaml does not list is placed by the generated device tables
 * (pci-devices.yaml): its architecture's kind, or none for Fermi and older with the reason. A
 * device in no table is taken for one newer than all of them: NVIDIA -> nvidia-open, AMD in the
 * accelerator class -> amd-rocm, another AMD device no driver; the reason says it assumed so.
 * Vendors other than NVIDIA and AMD are ignored.
 * ctx may be NULL. Returns -EINVAL for a NULL argument or an n_gpus over 4096.
 */
int dsvm_driver_select(struct dsvm_ctx *ctx, const struct dsvm_catalog *cat,
		       const struct dsvm_hw_summary *hw, struct dsvm_choice *ret);

/* True when the choice carries a warning with this code. */
bool dsvm_choice_has_warning(const struct dsvm_choice *choice, enum dsvm_select_warning_code code);

/* "unknown-size", "unknown-device", ... for --json output. */
const char *dsvm_select_warning_to_string(enum dsvm_select_warning_code code);

/*
 * Fill the machine part of t from a catalogued VM size (for `dsvm-build resolve --vm-size S`):
 * vm_size (canonical name), vm_family, driver_kind, driver_branch (the catalog's choice),
 * driver_branch_min/max (the GPU's limits, "" for none), infiniband, nvswitch and reason; os
 * and arch are left as they are (call dsvm_target_init() first). A size the catalog
 * does not list is a CPU size: kind none, no fabric, vm_family "", and the reason says so.
 * Returns 0, or -EINVAL for an empty name; t is untouched on failure.
 */
int dsvm_target_from_size(struct dsvm_ctx *ctx, const struct dsvm_catalog *cat, const char *vm_size,
			  struct dsvm_target *t);

/*
 * Fill the machine part of t from a choice (for `--gpu auto` and firstboot): vm_family from the
 * choice's size, driver kind and branch, the branch limits of the choice's GPU, reason;
 * infiniband and nvswitch from hw.
 */
void dsvm_target_from_choice(const struct dsvm_choice *choice, const struct dsvm_hw_summary *hw,
			     struct dsvm_target *t);
