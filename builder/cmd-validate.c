/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>

#include "builder.h"
#include "dsvm/catalog.h"
#include "dsvm/cli.h"
#include "dsvm/lock.h"
#include "dsvm/manifest.h"
#include "internal.h"

static void help(void)
{
	printf("Usage: dsvm-build validate [--catalog DIR] [--verbose] MANIFEST...\n\n"
	       "Check edition and component files against manifests/SCHEMA.md. An edition is\n"
	       "loaded with its includes and then resolved for every driver kind it lists, so\n"
	       "constraints (CUDA vs driver, fabric manager == driver, cuDNN for the CUDA major)\n"
	       "are checked too. Errors name file:line:col, the value and what would be valid.\n\n"
	       "  --catalog DIR  hardware catalog (default: ../hardware beside the edition)\n"
	       "  --verbose      log what is checked\n\n"
	       "Exit: 0 all valid, 65 a file is invalid, 66 a file is missing, 64 usage.\n");
}

/* Resolve an edition for each driver kind it serves: the constraint half of validation. */
static int check_edition(struct dsvm_ctx *ctx, const char *path, struct dsvm_manifest *m,
			 const char *catalog_opt)
{
	_cleanup_free_ char *catalog_dir = builder_catalog_dir(catalog_opt, path);
	struct dsvm_catalog *cat = NULL;
	int r;

	r = catalog_dir ? dsvm_catalog_load(ctx, catalog_dir, &cat) : -ENOMEM;
	for (size_t i = 0; r >= 0 && i < dsvm_manifest_count_driver_kinds(m); i++) {
		struct dsvm_target t;
		struct dsvm_lock *lock = NULL;

		dsvm_target_init(&t, dsvm_manifest_get_os(m), dsvm_manifest_get_arch(m));
		t.driver_kind = dsvm_manifest_get_driver_kind(m, i);
		/* Validation is of the manifests: an artifact awaiting its seal is said, not fatal. */
		r = dsvm_resolve(ctx, m, cat, &t, DSVM_RESOLVE_ALLOW_UNSEALED, &lock);
		if (r >= 0 && dsvm_lock_count_unsealed(lock))
			fprintf(stderr,
				"dsvm-build validate: %s: %zu artifact(s) of driver kind %s are "
				"pinned "
				"by their signer and await 'dsvm-build seal %s'\n",
				path, dsvm_lock_count_unsealed(lock),
				dsvm_driver_kind_to_string(t.driver_kind), path);
		dsvm_lock_free(lock);
	}
	dsvm_catalog_free(cat);
	return r;
}

int cmd_validate(int argc, char **argv)
{
	static const struct option options[] = {
		{ "catalog", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *catalog = NULL;
	bool verbose = false;
	struct dsvm_ctx *ctx;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "c:vh", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			catalog = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			help();
			return DSVM_EXIT_OK;
		default:
			return DSVM_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "dsvm-build validate: name at least one manifest file\n");
		return DSVM_EXIT_USAGE;
	}
	ctx = builder_ctx_new(verbose);
	if (!ctx)
		return DSVM_EXIT_FAILURE;
	/* Check every file and report each failure; the exit code is the first failure's. */
	for (int i = optind; i < argc; i++) {
		struct dsvm_manifest *m = NULL;
		int r = dsvm_manifest_validate_file(ctx, argv[i], &m);

		if (r == 1)
			r = check_edition(ctx, argv[i], m, catalog);
		dsvm_manifest_free(m);
		if (r < 0) {
			int code = dsvm_cli_fail(BUILDER_PROGRAM, ctx, r);

			if (!rc)
				rc = code;
		} else {
			fprintf(stderr, "%s: ok\n", argv[i]);
		}
	}
	dsvm_ctx_free(ctx);
	return rc;
}
