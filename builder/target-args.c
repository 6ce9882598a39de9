/* SPDX-License-Identifier: MIT */
/* The target options (--driver-kind, --vm-size, --gpu ...) and resolution shared by `resolve`
 * and `image`. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "builder.h"
#include "dsvm/catalog.h"
#include "dsvm/detect.h"
#include "dsvm/manifest.h"
#include "dsvm/select.h"
#include "internal.h"
#include "target-args.h"

int target_args_option(int c, const char *arg, struct target_args *a)
{
	switch (c) {
	case TARGET_OPT_KIND:
		a->driver_kind = arg;
		return 1;
	case TARGET_OPT_BRANCH:
		a->branch = arg;
		return 1;
	case TARGET_OPT_SIZE:
		a->vm_size = arg;
		return 1;
	case TARGET_OPT_GPU:
		a->gpu = arg;
		return 1;
	case TARGET_OPT_ARCH:
		a->arch = arg;
		return 1;
	case TARGET_OPT_IB:
		a->infiniband = true;
		return 1;
	case TARGET_OPT_NVS:
		a->nvswitch = true;
		return 1;
	case TARGET_OPT_CATALOG:
		a->catalog = arg;
		return 1;
	case TARGET_OPT_SYSROOT:
		a->sysroot = arg;
		return 1;
	default:
		return 0;
	}
}

int target_args_check(const char *verb, const struct target_args *a)
{
	if (!!a->driver_kind + !!a->vm_size + !!a->gpu > 1) {
		fprintf(stderr, "dsvm-build %s: give one of --driver-kind, --vm-size, --gpu\n",
			verb);
		return -EINVAL;
	}
	if (a->gpu && strcmp(a->gpu, "none") != 0 && strcmp(a->gpu, "auto") != 0) {
		fprintf(stderr, "dsvm-build %s: --gpu takes 'auto' or 'none' ('%s' given)\n", verb,
			a->gpu);
		return -EINVAL;
	}
	if (a->sysroot && !(a->gpu && strcmp(a->gpu, "auto") == 0)) {
		fprintf(stderr, "dsvm-build %s: --sysroot goes with --gpu auto\n", verb);
		return -EINVAL;
	}
	if (a->driver_kind && dsvm_driver_kind_from_string(a->driver_kind) == DSVM_DRIVER_INVALID) {
		fprintf(stderr,
			"dsvm-build %s: '%s' is not a driver kind; use none, nvidia-open, "
			"nvidia-proprietary, nvidia-legacy-470, nvidia-grid, amd-rocm, "
			"amd-radeon-pro or (Windows) nvidia-datacenter\n",
			verb, a->driver_kind);
		return -EINVAL;
	}
	if (a->branch && !a->driver_kind) {
		fprintf(stderr, "dsvm-build %s: --branch goes with --driver-kind\n", verb);
		return -EINVAL;
	}
	return 0;
}

/* --gpu auto: detect this machine and choose the way dsvm-firstboot does. */
static int detect_target(struct dsvm_ctx *ctx, const struct target_args *a,
			 const struct dsvm_catalog *cat, struct dsvm_target *t)
{
	struct dsvm_hw_options opts = { .no_imds = true };
	struct dsvm_hw_summary summary;
	struct dsvm_choice choice;
	struct dsvm_hw *hw = NULL;
	int r;

	r = dsvm_ctx_set_sysroot(ctx, a->sysroot);
	if (r < 0)
		return dsvm_set_error(ctx, r, "--sysroot '%s' must be an absolute path",
				      a->sysroot);
	r = dsvm_hw_detect(ctx, &opts, &hw);
	if (r < 0)
		return r;
	dsvm_hw_get_summary(hw, &summary);
	r = dsvm_driver_select(ctx, cat, &summary, &choice);
	if (r >= 0) {
		for (size_t i = 0; i < choice.n_warnings; i++)
			dsvm_log(ctx, DSVM_LOG_WARNING, "%s", choice.warnings[i].text);
		dsvm_target_from_choice(&choice, &summary, t);
		dsvm_target_apply_branch_policy(t);
	}
	dsvm_hw_free(hw);
	return r;
}

/* Build the target from the arguments; the catalog decides for --vm-size. */
static int make_target(struct dsvm_ctx *ctx, const struct target_args *a,
		       const struct dsvm_manifest *m, const struct dsvm_catalog *cat,
		       struct dsvm_target *t)
{
	dsvm_target_init(t, dsvm_manifest_get_os(m), a->arch ? a->arch : dsvm_manifest_get_arch(m));
	snprintf(t->reason, sizeof(t->reason), "default: a CPU machine");
	if (a->driver_kind) {
		t->driver_kind = dsvm_driver_kind_from_string(a->driver_kind);
		snprintf(t->driver_branch, sizeof(t->driver_branch), "%s",
			 a->branch ? a->branch : "");
		snprintf(t->reason, sizeof(t->reason), "--driver-kind %s%s%s", a->driver_kind,
			 a->branch ? " --branch " : "", a->branch ? a->branch : "");
	} else if (a->vm_size) {
		int r = dsvm_target_from_size(ctx, cat, a->vm_size, t);

		if (r < 0)
			return r;
		dsvm_target_apply_branch_policy(t);
	} else if (a->gpu && strcmp(a->gpu, "auto") == 0) {
		int r = detect_target(ctx, a, cat, t);

		if (r < 0)
			return r;
	} else if (a->gpu) {
		snprintf(t->reason, sizeof(t->reason), "--gpu none");
	}
	/* --driver-kind is taken as written; the catalog's and detection's kinds are Linux kinds. */
	if (!a->driver_kind)
		dsvm_target_for_platform(t, dsvm_manifest_get_platform(m));
	if (a->infiniband)
		t->infiniband = DSVM_YES;
	if (a->nvswitch)
		t->nvswitch = DSVM_YES;
	return 0;
}

int target_args_resolve(struct dsvm_ctx *ctx, const struct target_args *a, const char *edition,
			unsigned flags, struct dsvm_target *ret_target, struct dsvm_lock **ret_lock)
{
	_cleanup_free_ char *catalog_dir = builder_catalog_dir(a->catalog, edition);
	struct dsvm_manifest *m = NULL;
	struct dsvm_catalog *cat = NULL;
	int r = catalog_dir ? 0 : -ENOMEM;

	if (r >= 0)
		r = dsvm_manifest_load(ctx, edition, &m);
	if (r >= 0)
		r = dsvm_catalog_load(ctx, catalog_dir, &cat);
	if (r >= 0)
		r = make_target(ctx, a, m, cat, ret_target);
	if (r >= 0)
		r = dsvm_resolve(ctx, m, cat, ret_target, flags, ret_lock);
	dsvm_catalog_free(cat);
	dsvm_manifest_free(m);
	return r;
}
