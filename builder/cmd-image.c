/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "builder.h"
#include "dsvm/cli.h"
#include "dsvm/fetch.h"
#include "dsvm/install.h"
#include "dsvm/kernel-hold.h"
#include "dsvm/lock.h"
#include "dsvm/prepare.h"
#include "fetch-ui.h"
#include "install-ui.h"
#include "internal.h"
#include "target-args.h"

static void help(void)
{
	printf("Usage: dsvm-build image EDITION --root DIR [TARGET] [OPTIONS]\n\n"
	       "Build an image root in one run: resolve EDITION for the target with every other\n"
	       "driver kind staged (what 'resolve --all-driver-kinds' writes), fetch and verify\n"
	       "every artifact into the cache, then install the lock into DIR (what 'fetch' and\n"
	       "'install' do; see their --help). The install is journaled in\n"
	       "DIR/var/lib/dsvm/journal/: after a kill or a failure, the same command resumes\n"
	       "(the same inputs resolve to the same lock, the cache keeps what was verified, and\n"
	       "the journal skips the steps that were done). A second run changes nothing.\n\n"
	       "The image carries its lock and SBOM (/usr/share/dsvm/) and, in\n"
	       "/var/lib/dsvm/repo/, the payloads of every driver kind the edition serves, so\n"
	       "dsvm-firstboot can switch kinds after a resize with no "
	       "network.\n\n" TARGET_OPTIONS_HELP "\nFetch:\n" FETCH_OPTIONS_HELP "\nOptions:\n"
	       "  -r, --root DIR       the system to build into (required)\n"
	       "  -o, --lock FILE      also write the lock here\n"
	       "      --no-systemctl   write .wants links directly, even where systemctl exists\n"
	       "      --no-hold-kernel leave the root's kernel packages unheld (by default they\n"
	       "                       are held: a driver module serves one kernel, and\n"
	       "                       unattended upgrades would install another)\n"
	       "      --json           print the install summary as JSON on standard output\n"
	       "  -v, --verbose        log each decision\n\n"
	       "Example:\n"
	       "  dsvm-build image manifests/editions/ubuntu-22.04.yaml --root /mnt/image \\\n"
	       "      --vm-size Standard_NC24ads_A100_v4 --mirror https://mirror.example/dsvm\n\n"
	       "Exit: as resolve, fetch and install: 0 built, 64 usage, 65 bad manifest or an\n"
	       "artifact that does not match, 66 missing input, 69 network unavailable, 73 cannot\n"
	       "create the root or cache, 74 I/O error (free space and run again: it resumes),\n"
	       "75 transient failures outlasted the retries or another run holds the root, 77 a\n"
	       "step must run as root (chroot), 1 other failures.\n");
}

struct image_args {
	struct target_args target;
	struct fetch_args fetch;
	const char *edition;
	const char *root;
	const char *lock_out;
	bool no_systemctl, no_hold_kernel, json, verbose;
};

static int parse_args(int argc, char **argv, struct image_args *a)
{
	enum {
		OPT_NO_SYSTEMCTL = 256,
		OPT_NO_HOLD_KERNEL,
		OPT_JSON,
	};
	static const struct option options[] = {
		TARGET_LONG_OPTIONS,
		FETCH_LONG_OPTIONS,
		{ "root", required_argument, NULL, 'r' },
		{ "lock", required_argument, NULL, 'o' },
		{ "no-systemctl", no_argument, NULL, OPT_NO_SYSTEMCTL },
		{ "no-hold-kernel", no_argument, NULL, OPT_NO_HOLD_KERNEL },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c, r;

	while ((c = getopt_long(argc, argv, "c:m:j:r:o:vh", options, NULL)) >= 0) {
		if (target_args_option(c, optarg, &a->target))
			continue;
		r = fetch_args_option("image", c, optarg, &a->fetch);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		switch (c) {
		case 'r':
			a->root = optarg;
			break;
		case 'o':
			a->lock_out = optarg;
			break;
		case OPT_NO_SYSTEMCTL:
			a->no_systemctl = true;
			break;
		case OPT_NO_HOLD_KERNEL:
			a->no_hold_kernel = true;
			break;
		case OPT_JSON:
			a->json = true;
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
	if (optind + 1 != argc || !a->root) {
		fprintf(stderr, "dsvm-build image: name one edition file and --root DIR; see "
				"--help\n");
		return -EINVAL;
	}
	a->edition = argv[optind];
	return target_args_check("image", &a->target);
}

/* What went into the image and why: one line per component of the lock. */
static void print_plan(const struct dsvm_lock *lock)
{
	size_t n = dsvm_lock_count_components(lock);

	for (size_t i = 0; i < n; i++) {
		struct dsvm_lock_entry e;

		if (dsvm_lock_get_entry(lock, i, &e) < 0)
			continue;
		fprintf(stderr, "  %-9s %s %s (%s): %s\n",
			streq(e.action, "stage") ? "staged" : "installed", e.name,
			e.version ? e.version : "", e.kind, e.reason ? e.reason : "");
	}
}

/*
 * Fetch in two passes over the network, each artifact once: the archives of the components to
 * install stream straight into their trees (dsvm_install_prepare: one pass from network to
 * disk), then every other artifact into the cache (the archives are then verified cache hits).
 */
static int fetch_all(struct dsvm_ctx *ctx, struct image_args *a, const char *cache,
		     const struct dsvm_lock *lock)
{
	size_t n = dsvm_fetch_lock_count(lock);
	_cleanup_free_ struct art *arts = calloc(n ? n : 1, sizeof(*arts));
	struct dsvm_fetch_stats stats = { 0 };
	struct dsvm_prepare_stats prep = { 0 };
	struct fetch_ui ui;
	uint64_t start;
	char b1[32], b2[32];
	int r;

	if (!arts)
		return -ENOMEM;
	r = dsvm_fetch_prepare_cache(ctx, cache);
	if (r < 0)
		return r;
	a->fetch.o.cache_dir = cache;
	a->fetch.o.mirrors = a->fetch.mirrors;
	a->fetch.o.progress = fetch_ui_progress;
	a->fetch.o.progress_userdata = &ui;
	fetch_ui_init(&ui, n, arts, a->verbose);
	start = builder_clock_ms();
	r = dsvm_install_prepare(ctx, lock, &a->fetch.o, &prep);
	fetch_ui_clear(&ui);
	if (r < 0)
		return r;
	if (prep.cached + prep.fetched + prep.fallback)
		fprintf(stderr,
			"streamed %zu archives into their trees (%zu from the cache): %s "
			"transferred, %s extracted in %.1f s\n",
			prep.cached + prep.fetched + prep.fallback, prep.cached,
			builder_human_size(prep.transferred, b1, sizeof(b1)),
			builder_human_size(prep.extracted, b2, sizeof(b2)),
			(double)(builder_clock_ms() - start) / 1000.0);
	memset(arts, 0, n * sizeof(*arts));
	fetch_ui_init(&ui, n, arts, a->verbose);
	r = dsvm_fetch_lock(ctx, &a->fetch.o, lock, &stats);
	fetch_ui_finish(&ui);
	return r;
}

/* The kernel the driver modules were installed for stays the image's (dsvm/kernel-hold.h). */
static int hold_kernel(struct dsvm_ctx *ctx, const char *root)
{
	char **held = NULL;
	int r = dsvm_hold_kernel(ctx, 600, &held);

	if (r > 0) {
		fprintf(stderr, "dsvm-build: held the kernel packages of '%s':", root);
		for (size_t i = 0; held[i]; i++) {
			fprintf(stderr, " %s", held[i]);
			free(held[i]);
		}
		fputc('\n', stderr);
	}
	free(held);
	return r < 0 ? r : 0;
}

static int install_all(struct dsvm_ctx *ctx, const struct image_args *a, const char *cache,
		       const char *root, const struct dsvm_lock *lock)
{
	struct install_ui sum = { .deferred = json_array() };
	struct dsvm_install_options o = {
		.cache_dir = cache,
		.systemctl = a->no_systemctl ? NULL : builder_find_systemctl(),
		.report = install_ui_event,
		.report_userdata = &sum,
	};
	struct dsvm_install_stats st = { 0 };
	int r;

	if (!sum.deferred)
		return -ENOMEM;
	r = dsvm_install_lock(ctx, lock, &o, &st);
	if (r >= 0) {
		/* firstboot chooses among the image's stacks with the catalog resolve used. */
		_cleanup_free_ char *catalog = builder_catalog_dir(a->target.catalog, a->edition);

		r = catalog ? dsvm_install_catalog(ctx, lock, catalog, NULL) : -ENOMEM;
	}
	if (r >= 0 && !a->no_hold_kernel)
		r = hold_kernel(ctx, root);
	if (r < 0) {
		fprintf(stderr,
			"dsvm-build image: stopped; run the same command again to resume (journal "
			"in '%s/var/lib/dsvm/journal')\n",
			root);
	} else {
		fprintf(stderr,
			"dsvm-build: image '%s': %u steps, %u installed, %u staged, %u unchanged, "
			"%u resumed, %u deferred\n",
			root, st.steps, st.installed, st.staged, st.unchanged, st.skipped,
			st.deferred);
		if (a->json)
			install_ui_print_json(root, &st, sum.deferred);
	}
	json_decref(sum.deferred);
	return r;
}

int cmd_image(int argc, char **argv)
{
	struct image_args a = { 0 };
	_cleanup_free_ char *root = NULL, *cache = NULL, *text = NULL;
	struct dsvm_lock *lock = NULL;
	struct dsvm_ctx *ctx = NULL;
	struct dsvm_target t;
	int r, rc;

	r = parse_args(argc, argv, &a);
	if (r != 0)
		return r > 0 ? DSVM_EXIT_OK : DSVM_EXIT_USAGE;
	if (builder_make_root("image", a.root, &root) < 0)
		return DSVM_EXIT_CANTCREAT;
	cache = a.fetch.cache ? strdup(a.fetch.cache) : builder_default_cache();
	ctx = builder_ctx_new(a.verbose);
	if (!cache || !ctx) {
		rc = DSVM_EXIT_FAILURE;
		goto out;
	}
	r = dsvm_ctx_set_root(ctx, streq(root, "/") ? NULL : root);
	if (r == 0)
		r = target_args_resolve(ctx, &a.target, a.edition, DSVM_RESOLVE_ALL_DRIVER_KINDS,
					&t, &lock);
	if (r == 0 && a.lock_out && (r = dsvm_lock_to_string(lock, &text)) == 0)
		r = builder_write_output(ctx, a.lock_out, text);
	if (r == 0) {
		builder_print_resolved(lock, &t, a.lock_out ? a.lock_out : "(in the image)");
		r = fetch_all(ctx, &a, cache, lock);
	}
	if (r == 0)
		r = install_all(ctx, &a, cache, root, lock);
	if (r == 0) {
		fprintf(stderr, "dsvm-build: in '%s', and why:\n", root);
		print_plan(lock);
	}
	rc = r < 0 ? dsvm_cli_fail(BUILDER_PROGRAM, ctx, r) : DSVM_EXIT_OK;
out:
	dsvm_lock_free(lock);
	dsvm_ctx_free(ctx);
	return rc;
}
