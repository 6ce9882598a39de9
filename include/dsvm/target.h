/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What a manifest is resolved for: the OS and arch of the edition, and the machine (driver kind,
 * GPU vendor, VM family, fabric). The driver kind is the first decision, the branch the second
 * (DESIGN.md "Driver kind").
 */

#include <stdbool.h>

enum dsvm_driver_kind {
	DSVM_DRIVER_NONE,
	DSVM_DRIVER_NVIDIA_OPEN,
	DSVM_DRIVER_NVIDIA_PROPRIETARY,
	DSVM_DRIVER_NVIDIA_LEGACY_470,
	DSVM_DRIVER_NVIDIA_GRID,
	DSVM_DRIVER_AMD_ROCM,
	DSVM_DRIVER_AMD_RADEON_PRO,
	/* Windows: NVIDIA's data-center ("CUDA") driver; one package, no open/proprietary split */
	DSVM_DRIVER_NVIDIA_DATACENTER,
	_DSVM_DRIVER_KIND_MAX,
	DSVM_DRIVER_INVALID = -1,
};

enum dsvm_gpu_vendor {
	DSVM_VENDOR_NONE,
	DSVM_VENDOR_NVIDIA,
	DSVM_VENDOR_AMD,
	DSVM_VENDOR_OTHER,
	_DSVM_VENDOR_MAX,
	DSVM_VENDOR_INVALID = -1,
};

/* The framework build a driver kind calls for: CUDA, ROCm, or CPU only. */
enum dsvm_accelerator {
	DSVM_ACCEL_CPU,
	DSVM_ACCEL_CUDA,
	DSVM_ACCEL_ROCM,
	_DSVM_ACCEL_MAX,
	DSVM_ACCEL_INVALID = -1,
};

/* Tri-state for facts a target may leave open (staging for "any machine"). */
enum dsvm_tristate {
	DSVM_NO,
	DSVM_YES,
	DSVM_ANY,
};

struct dsvm_target {
	char os[48];	    /* "ubuntu-22.04", from the edition */
	char arch[16];	    /* "x86_64" */
	char vm_size[64];   /* "Standard_NC24ads_A100_v4", or "" */
	char vm_family[64]; /* "NCads_A100_v4", or "" */
	enum dsvm_driver_kind driver_kind;
	char driver_branch[16];	    /* "580": exactly this branch; "" for any */
	char driver_branch_min[16]; /* oldest branch the GPU needs ("570" for Blackwell) */
	char driver_branch_max[16]; /* newest branch the GPU supports ("470" for K80) */
	enum dsvm_tristate infiniband;
	enum dsvm_tristate nvswitch;
	char reason[256]; /* why this target (for the lock), may be "" */
};

/* "nvidia-open" etc.; returns DSVM_DRIVER_INVALID for an unknown name. */
enum dsvm_driver_kind dsvm_driver_kind_from_string(const char *s);
const char *dsvm_driver_kind_to_string(enum dsvm_driver_kind kind);

enum dsvm_gpu_vendor dsvm_gpu_vendor_from_string(const char *s);
const char *dsvm_gpu_vendor_to_string(enum dsvm_gpu_vendor vendor);

enum dsvm_accelerator dsvm_accelerator_from_string(const char *s);
const char *dsvm_accelerator_to_string(enum dsvm_accelerator accel);

/* The vendor and the framework build a driver kind implies. */
enum dsvm_gpu_vendor dsvm_driver_kind_vendor(enum dsvm_driver_kind kind);
enum dsvm_accelerator dsvm_driver_kind_accelerator(enum dsvm_driver_kind kind);

/*
 * True for the kinds whose kernel module is built on the VM (DKMS, or NVIDIA's runfile) rather
 * than shipped prebuilt and signed: under Secure Boot they load only with an enrolled key.
 */
bool dsvm_driver_kind_builds_module(enum dsvm_driver_kind kind);

/*
 * The catalog speaks of Linux driver kinds; on a Windows edition (platform "windows") a target
 * takes the kind Azure's Windows GPU driver extensions install for the same size: NVIDIA's
 * data-center ("CUDA") driver where Linux has nvidia-open, nvidia-proprietary or
 * nvidia-legacy-470; GRID stays GRID; AMD's Windows driver (amd-radeon-pro) where Linux has
 * ROCm. The reason says so. Other platforms leave t as it is.
 */
void dsvm_target_for_platform(struct dsvm_target *t, const char *platform);

/* A target for the edition's OS and arch with driver kind none and no fabric. */
void dsvm_target_init(struct dsvm_target *t, const char *os, const char *arch);

/*
 * The branch policy for a target chosen from the catalog (by size or by detection), after
 * dsvm_target_from_size() or dsvm_target_from_choice() filled it: GRID keeps its exact branch,
 * because Azure's host vGPU manager decides which guest driver works; datacenter kinds drop the
 * catalog's suggestion and keep only the GPU's range, so the edition's first driver of the kind
 * within that range is chosen (the edition's order is its preference).
 */
void dsvm_target_apply_branch_policy(struct dsvm_target *t);
