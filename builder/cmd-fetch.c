/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "builder.h"
#include "dsvm/cli.h"
#include "dsvm/fetch.h"
#include "dsvm/lock.h"
#include "fetch-ui.h"
#include "internal.h"

static void help(void)
{
	printf("Usage: dsvm-build fetch LOCK [--cache DIR] [--mirror URL]... [-j N] [OPTIONS]\n\n"
	       "Download every artifact of a lock into a content-addressed cache (one file per\n"
	       "artifact, named by its SHA-256), hashing each byte as it streams. A file reaches\n"
	       "its final name only when its hash matches the lock; a mismatch deletes it. Files\n"
	       "already in the cache are verified and not downloaded again; an interrupted\n"
	       "download (DIR/<sha256>.part) resumes where it stopped. Artifacts with a 'path'\n"
	       "(files of the manifests' repository, named relative to it) are hashed and copied\n"
	       "into the cache too.\n\n"
	       "Only https:// is fetched (plain http only from 127.0.0.1, localhost, [::1]); TLS\n"
	       "certificates are always verified; at most 5 redirects, never to another scheme.\n"
	       "Connection failures, resets, stalls, truncated bodies, HTTP 429 and 5xx are\n"
	       "retried with backoff; 404, TLS failures and hash mismatches are "
	       "not.\n\n" FETCH_OPTIONS_HELP "      --repo DIR           the manifests' repository "
	       "(the directory holding\n"
	       "                           manifests/) that 'path' artifacts are read from\n"
	       "                           (default: the current directory)\n"
	       "      --json               print a summary object on standard output\n"
	       "  -v, --verbose            log each request and retry\n\n"
	       "On a terminal each transfer shows bytes, rate and ETA; in a log, one line per\n"
	       "artifact and a total.\n\n"
	       "Exit: 0 all verified, 65 hash mismatch or refused data (oversize, bad redirect,\n"
	       "bad lock), 66 missing lock or HTTP 404, 69 network unavailable, 73 cannot create\n"
	       "the cache, 74 I/O error, 75 transient failures outlasted the retries (run again:\n"
	       "it resumes), 1 other failures (TLS verification, other HTTP errors).\n");
}

static void print_json(const char *cache, size_t n, const struct dsvm_fetch_stats *s)
{
	json_t *o =
		json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "cache", cache, "artifacts",
			  (json_int_t)n, "cached", (json_int_t)s->cached, "fetched",
			  (json_int_t)s->fetched, "failed", (json_int_t)s->failed, "transferred",
			  (json_int_t)s->transferred, "bytes", (json_int_t)s->bytes);
	char *text = o ? json_dumps(o, JSON_PRESERVE_ORDER) : NULL;

	if (text)
		printf("%s\n", text);
	free(text);
	json_decref(o);
}

int cmd_fetch(int argc, char **argv)
{
	enum {
		OPT_JSON = 256,
		OPT_REPO,
	};
	static const struct option options[] = {
		FETCH_LONG_OPTIONS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "repo", required_argument, NULL, OPT_REPO },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct fetch_args fa = { 0 };
	struct dsvm_fetch_stats stats = { 0 };
	_cleanup_free_ char *cache = NULL;
	_cleanup_free_ struct art *arts = NULL;
	struct fetch_ui ui;
	struct dsvm_lock *lock = NULL;
	struct dsvm_ctx *ctx = NULL;
	const char *repo = NULL;
	bool json = false, verbose = false;
	size_t n;
	int c, r, rc;

	while ((c = getopt_long(argc, argv, "c:m:j:vh", options, NULL)) >= 0) {
		r = fetch_args_option("fetch", c, optarg, &fa);
		if (r < 0)
			return DSVM_EXIT_USAGE;
		if (r > 0)
			continue;
		switch (c) {
		case OPT_JSON:
			json = true;
			break;
		case OPT_REPO:
			repo = optarg;
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
	if (optind + 1 != argc) {
		fprintf(stderr, "dsvm-build fetch: name exactly one lock file; see --help\n");
		return DSVM_EXIT_USAGE;
	}
	cache = fa.cache ? strdup(fa.cache) : builder_default_cache();
	ctx = builder_ctx_new(verbose);
	if (!cache || !ctx) {
		rc = DSVM_EXIT_FAILURE;
		goto out;
	}
	r = dsvm_lock_load(ctx, argv[optind], &lock);
	if (r >= 0)
		r = dsvm_lock_set_repository(lock, repo);
	if (r >= 0)
		r = dsvm_lock_check_files(ctx, lock);
	if (r < 0) {
		rc = dsvm_cli_fail(BUILDER_PROGRAM, ctx, r);
		goto out;
	}
	r = dsvm_fetch_prepare_cache(ctx, cache);
	if (r < 0) {
		dsvm_cli_fail(BUILDER_PROGRAM, ctx, r);
		rc = DSVM_EXIT_CANTCREAT;
		goto out;
	}
	n = dsvm_fetch_lock_count(lock);
	arts = calloc(n ? n : 1, sizeof(*arts));
	if (!arts) {
		rc = DSVM_EXIT_FAILURE;
		goto out;
	}
	fetch_ui_init(&ui, n, arts, verbose);
	fa.o.cache_dir = cache;
	fa.o.mirrors = fa.mirrors;
	fa.o.progress = fetch_ui_progress;
	fa.o.progress_userdata = &ui;
	r = dsvm_fetch_lock(ctx, &fa.o, lock, &stats);
	fetch_ui_finish(&ui);
	if (json)
		print_json(cache, n, &stats);
	rc = r < 0 ? dsvm_cli_fail(BUILDER_PROGRAM, ctx, r) : DSVM_EXIT_OK;
out:
	dsvm_lock_free(lock);
	dsvm_ctx_free(ctx);
	return rc;
}
