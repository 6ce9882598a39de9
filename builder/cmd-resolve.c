/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "dsvm/catalog.h"
#include "dsvm/detect.h"
#include "dsvm/cli.h"
#include "dsvm/lock.h"
#include "dsvm/manifest.h"
#include "dsvm/select.h"
#include "dsvm/target.h"
#include "internal.h"

static void help(void)
{
	printf("Usage: dsvm-build resolve EDITION [TARGET] [--all-driver-kinds] -o LOCK\n\n"
	       "Resolve an edition for one target and write the lock: every component with its\n"
	       "exact version, source, sha256, size, install order and the reason it was chosen\n"
	       "or dropped. The same inputs always give a byte-identical lock.\n\n"
	       "Target (default: a CPU machine, driver kind none):\n"
	       "  --driver-kind KIND  none, nvidia-open, nvidia-proprietary, nvidia-legacy-470,\n"
	       "                      nvidia-grid, amd-rocm, amd-radeon-pro\n"
	       "  --branch B          driver branch within the kind (e.g. 580)\n"
	       "  --vm-size S         an Azure size (Standard_NC24ads_A100_v4): kind, family and\n"
	       "                      fabric from the hardware catalog\n"
	       "  --gpu auto          detect this machine (PCI and cloud-init's instance data "
	       "under\n"
	       "                      --sysroot; IMDS is not asked) and choose as firstboot would\n"
	       "  --gpu none          the same as --driver-kind none\n"
	       "  --sysroot DIR       where --gpu auto reads /sys, /proc and /run (default /)\n"
	       "  --infiniband, --nvswitch   the target has that fabric\n"
	       "  --arch A            architecture (default: the edition's first)\n\n"
	       "Options:\n"
	       "  --all-driver-kinds  also stage the driver stacks of every other kind the "
	       "edition\n"
	       "                      serves (action \"stage\"), so firstboot can switch offline\n"
	       "  --catalog DIR       hardware catalog (default: ../hardware beside the edition)\n"
	       "  -o, --output LOCK   where to write the lock ('-' for standard output)\n"
	       "  --verbose           log each decision\n\n"
	       "Example:\n"
	       "  dsvm-build resolve manifests/editions/ubuntu-22.04.yaml \\\n"
	       "      --vm-size Standard_NC24ads_A100_v4 --all-driver-kinds -o lock.json\n\n"
	       "Exit: 0 written, 65 bad or unsatisfiable manifest, 66 missing file, 64 usage,\n"
	       "73 cannot write the lock.\n");
}

struct resolve_args {
	const char *edition;
	const char *output;
	const char *catalog;
	const char *driver_kind;
	const char *branch;
	const char *vm_size;
	const char *gpu;
	const char *arch;
	const char *sysroot;
	bool infiniband, nvswitch, all_kinds, verbose;
};

static int parse_args(int argc, char **argv, struct resolve_args *a)
{
	enum {
		OPT_KIND = 256,
		OPT_BRANCH,
		OPT_SIZE,
		OPT_GPU,
		OPT_ARCH,
		OPT_IB,
		OPT_NVS,
		OPT_ALL,
		OPT_CATALOG,
		OPT_SYSROOT
	};
	static const struct option options[] = {
		{ "driver-kind", required_argument, NULL, OPT_KIND },
		{ "branch", required_argument, NULL, OPT_BRANCH },
		{ "vm-size", required_argument, NULL, OPT_SIZE },
		{ "gpu", required_argument, NULL, OPT_GPU },
		{ "arch", required_argument, NULL, OPT_ARCH },
		{ "infiniband", no_argument, NULL, OPT_IB },
		{ "nvswitch", no_argument, NULL, OPT_NVS },
		{ "all-driver-kinds", no_argument, NULL, OPT_ALL },
		{ "catalog", required_argument, NULL, OPT_CATALOG },
		{ "sysroot", required_argument, NULL, OPT_SYSROOT },
		{ "output", required_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c;

	while ((c = getopt_long(argc, argv, "o:vh", options, NULL)) >= 0) {
		switch (c) {
		case OPT_KIND:
			a->driver_kind = optarg;
			break;
		case OPT_BRANCH:
			a->branch = optarg;
			break;
		case OPT_SIZE:
			a->vm_size = optarg;
			break;
		case OPT_GPU:
			a->gpu = optarg;
			break;
		case OPT_ARCH:
			a->arch = optarg;
			break;
		case OPT_IB:
			a->infiniband = true;
			break;
		case OPT_NVS:
			a->nvswitch = true;
			break;
		case OPT_ALL:
			a->all_kinds = true;
			break;
		case OPT_CATALOG:
			a->catalog = optarg;
			break;
		case OPT_SYSROOT:
			a->sysroot = optarg;
			break;
		case 'o':
			a->output = optarg;
			break;
		case 'v':
			a->verbose = true;
			break;
		case 'h':
			help();
			return 1;
		default:
			return -EINVAL;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "dsvm-build resolve: name exactly one edition file; see --help\n");
		return -EINVAL;
	}
	a->edition = argv[optind];
	if (!a->output) {
		fprintf(stderr, "dsvm-build resolve: -o LOCK is required ('-' for stdout)\n");
		return -EINVAL;
	}
	if (!!a->driver_kind + !!a->vm_size + !!a->gpu > 1) {
		fprintf(stderr, "dsvm-build resolve: give one of --driver-kind, --vm-size, "
				"--gpu\n");
		return -EINVAL;
	}
	if (a->gpu && strcmp(a->gpu, "none") != 0 && strcmp(a->gpu, "auto") != 0) {
		fprintf(stderr, "dsvm-build resolve: --gpu takes 'auto' or 'none' ('%s' given)\n",
			a->gpu);
		return -EINVAL;
	}
	if (a->sysroot && !(a->gpu && strcmp(a->gpu, "auto") == 0)) {
		fprintf(stderr, "dsvm-build resolve: --sysroot goes with --gpu auto\n");
		return -EINVAL;
	}
	if (a->driver_kind && dsvm_driver_kind_from_string(a->driver_kind) == DSVM_DRIVER_INVALID) {
		fprintf(stderr,
			"dsvm-build resolve: '%s' is not a driver kind; use none, nvidia-open, "
			"nvidia-proprietary, nvidia-legacy-470, nvidia-grid, amd-rocm or "
			"amd-radeon-pro\n",
			a->driver_kind);
		return -EINVAL;
	}
	if (a->branch && !a->driver_kind) {
		fprintf(stderr, "dsvm-build resolve: --branch goes with --driver-kind\n");
		return -EINVAL;
	}
	return 0;
}

/* --gpu auto: detect this machine and choose the way dsvm-firstboot does. */
static int detect_target(struct dsvm_ctx *ctx, const struct resolve_args *a,
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
static int make_target(struct dsvm_ctx *ctx, const struct resolve_args *a,
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
	if (a->infiniband)
		t->infiniband = DSVM_YES;
	if (a->nvswitch)
		t->nvswitch = DSVM_YES;
	return 0;
}

static void print_summary(const struct dsvm_lock *lock, const struct dsvm_target *t,
			  const char *output)
{
	size_t n = dsvm_lock_count_components(lock), installed = 0;
	const char *version = dsvm_lock_get_driver_field(lock, "version");
	const char *cuda = dsvm_lock_get_driver_field(lock, "cuda_max");
	char driver[96] = "no driver";

	for (size_t i = 0; i < n; i++) {
		struct dsvm_lock_entry e;

		if (dsvm_lock_get_entry(lock, i, &e) >= 0 && strcmp(e.action, "install") == 0)
			installed++;
	}
	if (version[0])
		snprintf(driver, sizeof(driver), "driver %s%s%s", version,
			 cuda[0] ? ", CUDA up to " : "", cuda);
	fprintf(stderr, "dsvm-build: %s for %s%s%s: %zu to install, %zu staged; %s -> %s\n",
		dsvm_lock_get_edition(lock), dsvm_driver_kind_to_string(t->driver_kind),
		t->vm_size[0] ? " on " : "", t->vm_size, installed, n - installed, driver, output);
}

int cmd_resolve(int argc, char **argv)
{
	struct resolve_args a = {};
	_cleanup_free_ char *catalog_dir = NULL, *text = NULL;
	struct dsvm_manifest *m = NULL;
	struct dsvm_catalog *cat = NULL;
	struct dsvm_lock *lock = NULL;
	struct dsvm_ctx *ctx;
	struct dsvm_target t;
	int r, rc;

	r = parse_args(argc, argv, &a);
	if (r != 0)
		return r > 0 ? DSVM_EXIT_OK : DSVM_EXIT_USAGE;
	ctx = builder_ctx_new(a.verbose);
	if (!ctx)
		return DSVM_EXIT_FAILURE;
	catalog_dir = builder_catalog_dir(a.catalog, a.edition);
	r = catalog_dir ? 0 : -ENOMEM;
	if (r >= 0)
		r = dsvm_manifest_load(ctx, a.edition, &m);
	if (r >= 0)
		r = dsvm_catalog_load(ctx, catalog_dir, &cat);
	if (r >= 0)
		r = make_target(ctx, &a, m, cat, &t);
	if (r >= 0)
		r = dsvm_resolve(ctx, m, cat, &t, a.all_kinds ? DSVM_RESOLVE_ALL_DRIVER_KINDS : 0,
				 &lock);
	if (r >= 0)
		r = dsvm_lock_to_string(lock, &text);
	if (r >= 0)
		r = builder_write_output(ctx, a.output, text);
	if (r >= 0)
		print_summary(lock, &t, a.output);
	rc = r < 0 ? dsvm_cli_fail(BUILDER_PROGRAM, ctx, r) : DSVM_EXIT_OK;
	dsvm_lock_free(lock);
	dsvm_catalog_free(cat);
	dsvm_manifest_free(m);
	dsvm_ctx_free(ctx);
	return rc;
}
