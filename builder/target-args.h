/* SPDX-License-Identifier: MIT */
#pragma once

/* The target options of `dsvm-build resolve` and `image`, and resolving an edition with them. */

#include <stdbool.h>

#include "dsvm/context.h"
#include "dsvm/lock.h"
#include "dsvm/target.h"

enum {
	TARGET_OPT_KIND = 1100,
	TARGET_OPT_BRANCH,
	TARGET_OPT_SIZE,
	TARGET_OPT_GPU,
	TARGET_OPT_ARCH,
	TARGET_OPT_IB,
	TARGET_OPT_NVS,
	TARGET_OPT_CATALOG,
	TARGET_OPT_SYSROOT,
};

#define TARGET_LONG_OPTIONS                                                                        \
	{ "driver-kind", required_argument, NULL, TARGET_OPT_KIND },                               \
		{ "branch", required_argument, NULL, TARGET_OPT_BRANCH },                          \
		{ "vm-size", required_argument, NULL, TARGET_OPT_SIZE },                           \
		{ "gpu", required_argument, NULL, TARGET_OPT_GPU },                                \
		{ "arch", required_argument, NULL, TARGET_OPT_ARCH },                              \
		{ "infiniband", no_argument, NULL, TARGET_OPT_IB },                                \
		{ "nvswitch", no_argument, NULL, TARGET_OPT_NVS },                                 \
		{ "catalog", required_argument, NULL, TARGET_OPT_CATALOG },                        \
	{                                                                                          \
		"sysroot", required_argument, NULL, TARGET_OPT_SYSROOT                             \
	}

#define TARGET_OPTIONS_HELP                                                                        \
	"Target (default: a CPU machine, driver kind none):\n"                                     \
	"  --driver-kind KIND  none, nvidia-open, nvidia-proprietary, nvidia-legacy-470,\n"        \
	"                      nvidia-grid, amd-rocm, amd-radeon-pro\n"                            \
	"  --branch B          driver branch within the kind (e.g. 580)\n"                         \
	"  --vm-size S         an Azure size (Standard_NC24ads_A100_v4): kind, family and\n"       \
	"                      fabric from the hardware catalog\n"                                 \
	"  --gpu auto          detect this machine (PCI and cloud-init's instance data under\n"    \
	"                      --sysroot; IMDS is not asked) and choose as firstboot would\n"      \
	"  --gpu none          the same as --driver-kind none\n"                                   \
	"  --sysroot DIR       where --gpu auto reads /sys, /proc and /run (default /)\n"          \
	"  --infiniband, --nvswitch   the target has that fabric\n"                                \
	"  --arch A            architecture (default: the edition's first)\n"                      \
	"  --catalog DIR       hardware catalog (default: ../hardware beside the edition)\n"

struct target_args {
	const char *catalog;
	const char *driver_kind;
	const char *branch;
	const char *vm_size;
	const char *gpu;
	const char *arch;
	const char *sysroot;
	bool infiniband, nvswitch;
};

/* Take one getopt result if it is a target option: 1 taken, 0 not one. */
int target_args_option(int c, const char *arg, struct target_args *a);

/* Options that do not go together, or bad values: prints why and returns -EINVAL. */
int target_args_check(const char *verb, const struct target_args *a);

/* Load the edition and its catalog, build the target, resolve (flags: enum dsvm_resolve_flags). */
int target_args_resolve(struct dsvm_ctx *ctx, const struct target_args *a, const char *edition,
			unsigned flags, struct dsvm_target *ret_target,
			struct dsvm_lock **ret_lock);
