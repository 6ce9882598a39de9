/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "builder.h"
#include "dsvm/cli.h"
#include "dsvm/install.h"
#include "dsvm/lock.h"
#include "internal.h"

static void help(void)
{
	printf("Usage: dsvm-build sbom LOCK [--packages FILE] [-o FILE]\n\n"
	       "Write a CycloneDX 1.5 JSON SBOM of a lock: one component per locked component,\n"
	       "with its package URL (deb, pypi, conda, generic) and the SHA-256 of every "
	       "artifact.\n"
	       "The same lock always gives the same SBOM (no timestamp; the serial number derives\n"
	       "from the lock's hash).\n\n"
	       "An apt component's artifact is its repository's key; the packages themselves are\n"
	       "known once installed: --packages takes the record an image holds\n"
	       "(ROOT" DSVM_IMAGE_PACKAGES ", written by 'dsvm-build install' with the image's "
	       "own\n"
	       "SBOM) and lists each .deb installed or staged, with the sha256 apt verified.\n\n"
	       "  -p, --packages FILE  the image's package record\n"
	       "  -o, --output FILE    write there atomically instead of standard output\n\n"
	       "Exit: 0 written, 65 bad lock or record, 66 missing lock or record, 73 cannot "
	       "write.\n");
}

int cmd_sbom(int argc, char **argv)
{
	static const struct option options[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "packages", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *output = "-", *packages = NULL;
	_cleanup_free_ char *text = NULL, *record = NULL;
	struct dsvm_lock *lock = NULL;
	struct dsvm_ctx *ctx;
	int c, r;

	while ((c = getopt_long(argc, argv, "o:p:h", options, NULL)) >= 0) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'p':
			packages = optarg;
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
	if (r >= 0 && packages && (r = read_file_capped(packages, 64u << 20, &record, NULL)) < 0)
		dsvm_set_error(ctx, r, "cannot read the package record '%s': %s", packages,
			       strerror(-r));
	if (r >= 0)
		r = dsvm_lock_to_sbom_with_packages(ctx, lock, record, &text);
	if (r >= 0)
		r = builder_write_output(ctx, output, text);
	c = r < 0 ? dsvm_cli_fail(BUILDER_PROGRAM, ctx, r) : DSVM_EXIT_OK;
	dsvm_lock_free(lock);
	dsvm_ctx_free(ctx);
	return c;
}
