/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "dsvm/cli.h"
#include "dsvm/lock.h"
#include "dsvm/target.h"
#include "internal.h"
#include "target-args.h"

static void help(void)
{
	printf("Usage: dsvm-build resolve EDITION [TARGET] [--all-driver-kinds] -o LOCK\n\n"
	       "Resolve an edition for one target and write the lock: every component with its\n"
	       "exact version, source, sha256, size, install order and the reason it was chosen\n"
	       "or dropped. The same inputs always give a byte-identical "
	       "lock.\n\n" TARGET_OPTIONS_HELP "\n"
	       "Options:\n"
	       "  --all-driver-kinds  also stage the driver stacks of every other kind the "
	       "edition\n"
	       "                      serves (action \"stage\"), so firstboot can switch offline\n"
	       "  --allow-unsealed    write signer-pinned artifacts the seal file lacks with\n"
	       "                      \"seal\": \"awaiting\" (a lock fetch and install refuse)\n"
	       "                      instead of failing; see 'dsvm-build seal --help'\n"
	       "  -o, --output LOCK   where to write the lock ('-' for standard output)\n"
	       "  --verbose           log each decision\n\n"
	       "Example:\n"
	       "  dsvm-build resolve manifests/editions/ubuntu-22.04.yaml \\\n"
	       "      --vm-size Standard_NC24ads_A100_v4 --all-driver-kinds -o lock.json\n\n"
	       "Exit: 0 written, 65 bad or unsatisfiable manifest, 66 missing file, 64 usage,\n"
	       "73 cannot write the lock.\n");
}

struct resolve_args {
	struct target_args target;
	const char *edition;
	const char *output;
	bool all_kinds, allow_unsealed, verbose;
};

static int parse_args(int argc, char **argv, struct resolve_args *a)
{
	enum {
		OPT_ALL = 256,
		OPT_UNSEALED,
	};
	static const struct option options[] = {
		TARGET_LONG_OPTIONS,
		{ "all-driver-kinds", no_argument, NULL, OPT_ALL },
		{ "allow-unsealed", no_argument, NULL, OPT_UNSEALED },
		{ "output", required_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c;

	while ((c = getopt_long(argc, argv, "o:vh", options, NULL)) >= 0) {
		if (target_args_option(c, optarg, &a->target))
			continue;
		switch (c) {
		case OPT_ALL:
			a->all_kinds = true;
			break;
		case OPT_UNSEALED:
			a->allow_unsealed = true;
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
	return target_args_check("resolve", &a->target);
}

void builder_print_resolved(const struct dsvm_lock *lock, const struct dsvm_target *t,
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
	_cleanup_free_ char *text = NULL;
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
	r = target_args_resolve(ctx, &a.target, a.edition,
				(a.all_kinds ? DSVM_RESOLVE_ALL_DRIVER_KINDS : 0) |
					(a.allow_unsealed ? DSVM_RESOLVE_ALLOW_UNSEALED : 0),
				&t, &lock);
	if (r >= 0)
		r = dsvm_lock_to_string(lock, &text);
	if (r >= 0)
		r = builder_write_output(ctx, a.output, text);
	if (r >= 0)
		builder_print_resolved(lock, &t, a.output);
	rc = r < 0 ? dsvm_cli_fail(BUILDER_PROGRAM, ctx, r) : DSVM_EXIT_OK;
	dsvm_lock_free(lock);
	dsvm_ctx_free(ctx);
	return rc;
}
