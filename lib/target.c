/* SPDX-License-Identifier: MIT */
#include "dsvm/target.h"
#include "internal.h"

static const char *const driver_kind_names[_DSVM_DRIVER_KIND_MAX] = {
	[DSVM_DRIVER_NONE] = "none",
	[DSVM_DRIVER_NVIDIA_OPEN] = "nvidia-open",
	[DSVM_DRIVER_NVIDIA_PROPRIETARY] = "nvidia-proprietary",
	[DSVM_DRIVER_NVIDIA_LEGACY_470] = "nvidia-legacy-470",
	[DSVM_DRIVER_NVIDIA_GRID] = "nvidia-grid",
	[DSVM_DRIVER_AMD_ROCM] = "amd-rocm",
	[DSVM_DRIVER_AMD_RADEON_PRO] = "amd-radeon-pro",
	[DSVM_DRIVER_NVIDIA_DATACENTER] = "nvidia-datacenter",
};

static const char *const vendor_names[_DSVM_VENDOR_MAX] = {
	[DSVM_VENDOR_NONE] = "none",
	[DSVM_VENDOR_NVIDIA] = "nvidia",
	[DSVM_VENDOR_AMD] = "amd",
	[DSVM_VENDOR_OTHER] = "other",
};

static const char *const accel_names[_DSVM_ACCEL_MAX] = {
	[DSVM_ACCEL_CPU] = "cpu",
	[DSVM_ACCEL_CUDA] = "cuda",
	[DSVM_ACCEL_ROCM] = "rocm",
};

static int lookup(const char *const *names, int n, const char *s)
{
	for (int i = 0; s && i < n; i++)
		if (streq(names[i], s))
			return i;
	return -1;
}

enum dsvm_driver_kind dsvm_driver_kind_from_string(const char *s)
{
	return (enum dsvm_driver_kind)lookup(driver_kind_names, _DSVM_DRIVER_KIND_MAX, s);
}

const char *dsvm_driver_kind_to_string(enum dsvm_driver_kind kind)
{
	if (kind < 0 || kind >= _DSVM_DRIVER_KIND_MAX)
		return NULL;
	return driver_kind_names[kind];
}

enum dsvm_gpu_vendor dsvm_gpu_vendor_from_string(const char *s)
{
	return (enum dsvm_gpu_vendor)lookup(vendor_names, _DSVM_VENDOR_MAX, s);
}

const char *dsvm_gpu_vendor_to_string(enum dsvm_gpu_vendor vendor)
{
	if (vendor < 0 || vendor >= _DSVM_VENDOR_MAX)
		return NULL;
	return vendor_names[vendor];
}

enum dsvm_accelerator dsvm_accelerator_from_string(const char *s)
{
	return (enum dsvm_accelerator)lookup(accel_names, _DSVM_ACCEL_MAX, s);
}

const char *dsvm_accelerator_to_string(enum dsvm_accelerator accel)
{
	if (accel < 0 || accel >= _DSVM_ACCEL_MAX)
		return NULL;
	return accel_names[accel];
}

enum dsvm_gpu_vendor dsvm_driver_kind_vendor(enum dsvm_driver_kind kind)
{
	switch (kind) {
	case DSVM_DRIVER_NVIDIA_OPEN:
	case DSVM_DRIVER_NVIDIA_PROPRIETARY:
	case DSVM_DRIVER_NVIDIA_LEGACY_470:
	case DSVM_DRIVER_NVIDIA_GRID:
	case DSVM_DRIVER_NVIDIA_DATACENTER:
		return DSVM_VENDOR_NVIDIA;
	case DSVM_DRIVER_AMD_ROCM:
	case DSVM_DRIVER_AMD_RADEON_PRO:
		return DSVM_VENDOR_AMD;
	default:
		return DSVM_VENDOR_NONE;
	}
}

/* FIELD-NOTES and RECONCILE.md §10: Ubuntu's signed prebuilt modules exist for nvidia-open
 * and nvidia-proprietary; legacy 470 (DKMS on 24.04), GRID (Microsoft's runfile) and amdgpu
 * are built on the VM. */
bool dsvm_driver_kind_builds_module(enum dsvm_driver_kind kind)
{
	return kind == DSVM_DRIVER_NVIDIA_LEGACY_470 || kind == DSVM_DRIVER_NVIDIA_GRID ||
	       kind == DSVM_DRIVER_AMD_ROCM || kind == DSVM_DRIVER_AMD_RADEON_PRO;
}

enum dsvm_accelerator dsvm_driver_kind_accelerator(enum dsvm_driver_kind kind)
{
	switch (dsvm_driver_kind_vendor(kind)) {
	case DSVM_VENDOR_NVIDIA:
		return DSVM_ACCEL_CUDA;
	case DSVM_VENDOR_AMD:
		/* Radeon PRO (V620) is a workstation/VDI driver: no ROCm frameworks on it. Azure serves
		 * the V710 sizes with ROCm, so the catalog gives them amd-rocm. */
		return kind == DSVM_DRIVER_AMD_ROCM ? DSVM_ACCEL_ROCM : DSVM_ACCEL_CPU;
	default:
		return DSVM_ACCEL_CPU;
	}
}

/*
 * Azure/azhpc-extensions NvidiaGPU/Nvidia-GPU-Windows-Resources.json, DefaultSelectionsPerVMFamily:
 * the NC families (NC, NCv2, NCv3, NC_A100_v4, NCasT4_v3) get "CUDA", NVv3 and NVadsA10_v5 get
 * "GRID"; Microsoft Learn, "Install NVIDIA GPU drivers on N-series VMs running Windows" (ms.date
 * 05/06/2026) adds CUDA for NCads_H100_v5 and GRID for NCv6 RTX PRO 6000 BSE; "Install AMD GPU
 * drivers on N-series VMs running Windows" serves NVv4, NGads V620 and NVads V710 v5 with AMD's
 * Windows driver. The catalog already gives those GRID and AMD families their kinds.
 */
void dsvm_target_for_platform(struct dsvm_target *t, const char *platform)
{
	enum dsvm_driver_kind was = t->driver_kind, kind = was;
	size_t len;

	if (!platform || !streq(platform, "windows"))
		return;
	if (was == DSVM_DRIVER_NVIDIA_OPEN || was == DSVM_DRIVER_NVIDIA_PROPRIETARY ||
	    was == DSVM_DRIVER_NVIDIA_LEGACY_470)
		kind = DSVM_DRIVER_NVIDIA_DATACENTER;
	else if (was == DSVM_DRIVER_AMD_ROCM)
		kind = DSVM_DRIVER_AMD_RADEON_PRO;
	if (kind == was)
		return;
	t->driver_kind = kind;
	len = strlen(t->reason);
	snprintf(t->reason + len, sizeof(t->reason) - len,
		 "; on Windows %s, as Azure's %s driver "
		 "extension installs it",
		 dsvm_driver_kind_to_string(kind),
		 kind == DSVM_DRIVER_AMD_RADEON_PRO ? "AMD GPU" : "NVIDIA GPU");
}

void dsvm_target_init(struct dsvm_target *t, const char *os, const char *arch)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->os, sizeof(t->os), "%s", os ? os : "");
	snprintf(t->arch, sizeof(t->arch), "%s", arch ? arch : "x86_64");
	t->driver_kind = DSVM_DRIVER_NONE;
	t->infiniband = DSVM_NO;
	t->nvswitch = DSVM_NO;
}

void dsvm_target_apply_branch_policy(struct dsvm_target *t)
{
	size_t len;

	if (t->driver_kind == DSVM_DRIVER_NVIDIA_GRID || !t->driver_branch[0])
		return;
	/* Say so in the reason, which named the catalog's branch. */
	len = strlen(t->reason);
	snprintf(t->reason + len, sizeof(t->reason) - len,
		 " (newest the GPU supports; the edition's first driver of the kind in range is "
		 "used)");
	t->driver_branch[0] = '\0';
}
