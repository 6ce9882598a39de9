/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "builder.h"
#include "dsvm/cli.h"
#include "dsvm/lock.h"
#include "internal.h"

static void help(void)
{
	printf("Usage: dsvm-build sbom LOCK [-o FILE]\n\n"
	       "Write a CycloneDX 1.5 JSON SBOM of a lock: one component per locked component,\n"
	       "with its package URL (deb, pypi, conda, generic) and the SHA-256 of every "
	       "artifact.\n"
	       "The same lock always gives the same SBOM (no timestamp; the serial number derives\n"
	       "from the lock's hash).\n\n"
	       "  -o, --output FILE  write there atomically instead of standard output\n\n"
	       "Exit: 0 written, 65 bad lock, 66 missing lock, 73 cannot write.\n");
}

int cmd_sbom(int argc, char **argv)
{
	static const struct option options[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *output = "-";
	_cleanup_free_ char *text = NULL;
	struct dsvm_lock *lock = NULL;
	struct dsvm_ctx *ctx;
	int c, r;

	while ((c = getopt_long(argc, argv, "o:h", options, NULL)) >= 0) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'h':
			help();
			return DSVM_EXIT_OK;
		default:
			return DSVM_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "dsvm-build sbom: name exactly one lock file; see --help\n");
		return DSVM_EXIT_USAGE;
	}
	ctx = builder_ctx_new(false);
	if (!ctx)
		return DSVM_EXIT_FAILURE;
	r = dsvm_lock_load(ctx, argv[optind], &lock);
	if (r >= 0)
		r = dsvm_lock_to_sbom(ctx, lock, &text);
	if (r >= 0)
		r = builder_write_output(ctx, output, text);
	c = r < 0 ? dsvm_cli_fail(BUILDER_PROGRAM, ctx, r) : DSVM_EXIT_OK;
	dsvm_lock_free(lock);
	dsvm_ctx_free(ctx);
	return c;
}
