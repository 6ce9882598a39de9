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
#include "internal.h"

#define MAX_MIRRORS 16
#define MAX_JOBS 64
#define REDRAW_MS 100

static void help(void)
{
	printf("Usage: dsvm-build fetch LOCK [--cache DIR] [--mirror URL]... [-j N] [OPTIONS]\n\n"
	       "Download every artifact of a lock into a content-addressed cache (one file per\n"
	       "artifact, named by its SHA-256), hashing each byte as it streams. A file reaches\n"
	       "its final name only when its hash matches the lock; a mismatch deletes it. Files\n"
	       "already in the cache are verified and not downloaded again; an interrupted\n"
	       "download (DIR/<sha256>.part) resumes where it stopped. Artifacts with a 'path'\n"
	       "(files from this repository) are hashed and copied into the cache too.\n\n"
	       "Only https:// is fetched (plain http only from 127.0.0.1, localhost, [::1]); TLS\n"
	       "certificates are always verified; at most 5 redirects, never to another scheme.\n"
	       "Connection failures, resets, stalls, truncated bodies, HTTP 429 and 5xx are\n"
	       "retried with backoff; 404, TLS failures and hash mismatches are not.\n\n"
	       "  -c, --cache DIR          cache directory (default /var/cache/dsvm as root,\n"
	       "                           else $XDG_CACHE_HOME/dsvm or ~/.cache/dsvm)\n"
	       "  -m, --mirror URL         try URL/sha256/<sha256> first (repeat: in order); any\n"
	       "                           web server or blob container holding files named by\n"
	       "                           their hash, e.g. a copy of another build's cache\n"
	       "  -j, --jobs N             parallel transfers (default 4, at most %d)\n"
	       "      --retries N          attempts per source on transient errors (default 4)\n"
	       "      --connect-timeout S  give up connecting after S seconds (default 30)\n"
	       "      --stall-timeout S    abort a transfer slower than 1 KiB/s for S seconds\n"
	       "                           (default 60); it is then retried and resumed\n"
	       "      --ca-file FILE       trust this CA bundle instead of the system's (private\n"
	       "                           mirrors, tests); verification stays on\n"
	       "      --json               print a summary object on standard output\n"
	       "  -v, --verbose            log each request and retry\n\n"
	       "On a terminal each transfer shows bytes, rate and ETA; in a log, one line per\n"
	       "artifact and a total.\n\n"
	       "Exit: 0 all verified, 65 hash mismatch or refused data (oversize, bad redirect,\n"
	       "bad lock), 66 missing lock or HTTP 404, 69 network unavailable, 73 cannot create\n"
	       "the cache, 74 I/O error, 75 transient failures outlasted the retries (run again:\n"
	       "it resumes), 1 other failures (TLS verification, other HTTP errors).\n",
	       MAX_JOBS);
}

struct art {
	const char *name; /* owned by the lock */
	enum dsvm_fetch_state state;
	bool seen;
	uint64_t done, total, transferred;
	uint64_t start_ms;
};

struct ui {
	bool tty;
	bool verbose;
	struct art *arts;
	size_t n;
	size_t finished;
	unsigned live_lines;
	uint64_t start_ms;
	uint64_t last_draw_ms;
};

static uint64_t clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *human(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}

static double rate_of(const struct art *a, uint64_t now)
{
	uint64_t ms = now > a->start_ms ? now - a->start_ms : 0;

	return ms ? (double)a->transferred * 1000.0 / (double)ms : 0;
}

static void print_total(const struct ui *ui, uint64_t now)
{
	uint64_t transferred = 0, ms = now - ui->start_ms;
	size_t cached = 0;
	char b[32], r[32];

	for (size_t i = 0; i < ui->n; i++) {
		transferred += ui->arts[i].transferred;
		cached += ui->arts[i].state == DSVM_FETCH_CACHED;
	}
	fprintf(stderr, "total: %zu/%zu artifacts, %zu cached, %s transferred in %.1f s (%s/s)\n",
		ui->finished, ui->n, cached, human(transferred, b, sizeof(b)), (double)ms / 1000.0,
		human(ms ? transferred * 1000 / ms : 0, r, sizeof(r)));
}

/* Erase the live lines drawn last time, so permanent lines scroll above the new ones. */
static void clear_live(struct ui *ui)
{
	if (ui->live_lines)
		fprintf(stderr, "\033[%uA\033[J", ui->live_lines);
	ui->live_lines = 0;
}

static void draw_live(struct ui *ui, uint64_t now)
{
	for (size_t i = 0; i < ui->n; i++) {
		const struct art *a = &ui->arts[i];
		char d[32], t[32], r[32], eta[32] = "";
		double rate = rate_of(a, now);

		if (a->state != DSVM_FETCH_RUNNING && a->state != DSVM_FETCH_RETRY)
			continue;
		if (!a->seen)
			continue;
		if (a->total && rate > 0) {
			uint64_t s =
				(uint64_t)((double)(a->total -
						    (a->done < a->total ? a->done : a->total)) /
					   rate);

			snprintf(eta, sizeof(eta), "  ETA %" PRIu64 ":%02" PRIu64, s / 60, s % 60);
		}
		fprintf(stderr, "  %s  %s / %s  %s/s%s%s\n", a->name, human(a->done, d, sizeof(d)),
			a->total ? human(a->total, t, sizeof(t)) : "?",
			human((uint64_t)rate, r, sizeof(r)), eta,
			a->state == DSVM_FETCH_RETRY ? "  (waiting to retry)" : "");
		ui->live_lines++;
	}
	print_total(ui, now);
	ui->live_lines++;
}

static void progress(void *userdata, const struct dsvm_fetch_progress *p)
{
	struct ui *ui = userdata;
	struct art *a;
	uint64_t now = clock_ms();
	bool final = p->state == DSVM_FETCH_CACHED || p->state == DSVM_FETCH_DONE ||
		     p->state == DSVM_FETCH_FAILED;
	char b[32], r[32];

	if (p->index >= ui->n)
		return;
	a = &ui->arts[p->index];
	if (!a->seen) {
		a->seen = true;
		a->start_ms = now;
		a->name = p->name;
	}
	if (p->state == DSVM_FETCH_RETRY && ui->verbose && !ui->tty)
		fprintf(stderr, "%s: retrying: %s\n", p->name, p->error);
	a->state = p->state;
	a->done = p->done;
	a->total = p->total;
	a->transferred = p->transferred;
	if (!final && (!ui->tty || now - ui->last_draw_ms < REDRAW_MS))
		return;
	if (ui->tty)
		clear_live(ui);
	if (final) {
		ui->finished++;
		if (p->state == DSVM_FETCH_CACHED)
			fprintf(stderr, "cached   %s  %s (verified)\n", p->name,
				human(p->done, b, sizeof(b)));
		else if (p->state == DSVM_FETCH_DONE)
			fprintf(stderr, "fetched  %s  %s in %.1f s (%s/s)%s\n", p->name,
				human(p->done, b, sizeof(b)), (double)(now - a->start_ms) / 1000.0,
				human((uint64_t)rate_of(a, now), r, sizeof(r)),
				p->resumed ? ", resumed" : "");
		else
			fprintf(stderr, "FAILED   %s: %s\n", p->name, p->error ? p->error : "?");
	}
	if (ui->tty) {
		draw_live(ui, now);
		ui->last_draw_ms = now;
	}
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

static int parse_uint(const char *opt, const char *s, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > max) {
		fprintf(stderr, "dsvm-build fetch: %s wants a number from 1 to %u, not '%s'\n", opt,
			max, s);
		return -EINVAL;
	}
	*ret = (unsigned)v;
	return 0;
}

int cmd_fetch(int argc, char **argv)
{
	enum {
		OPT_RETRIES = 256,
		OPT_CONNECT,
		OPT_STALL,
		OPT_CA,
		OPT_JSON
	};
	static const struct option options[] = {
		{ "cache", required_argument, NULL, 'c' },
		{ "mirror", required_argument, NULL, 'm' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "retries", required_argument, NULL, OPT_RETRIES },
		{ "connect-timeout", required_argument, NULL, OPT_CONNECT },
		{ "stall-timeout", required_argument, NULL, OPT_STALL },
		{ "ca-file", required_argument, NULL, OPT_CA },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *mirrors[MAX_MIRRORS + 1] = { NULL };
	struct dsvm_fetch_options o = { 0 };
	struct dsvm_fetch_stats stats = { 0 };
	const char *cache_opt = NULL;
	char *cache = NULL;
	struct ui ui = { .tty = isatty(STDERR_FILENO) };
	struct dsvm_lock *lock = NULL;
	struct dsvm_ctx *ctx = NULL;
	bool json = false;
	size_t n_mirrors = 0;
	int c, r, rc;

	while ((c = getopt_long(argc, argv, "c:m:j:vh", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			cache_opt = optarg;
			break;
		case 'm':
			if (n_mirrors == MAX_MIRRORS) {
				fprintf(stderr, "dsvm-build fetch: at most %d mirrors\n",
					MAX_MIRRORS);
				return DSVM_EXIT_USAGE;
			}
			mirrors[n_mirrors++] = optarg;
			break;
		case 'j':
			if (parse_uint("--jobs", optarg, MAX_JOBS, &o.parallel) < 0)
				return DSVM_EXIT_USAGE;
			break;
		case OPT_RETRIES:
			if (parse_uint("--retries", optarg, 100, &o.attempts) < 0)
				return DSVM_EXIT_USAGE;
			break;
		case OPT_CONNECT:
			if (parse_uint("--connect-timeout", optarg, 3600, &o.connect_timeout_s) < 0)
				return DSVM_EXIT_USAGE;
			break;
		case OPT_STALL:
			if (parse_uint("--stall-timeout", optarg, 3600, &o.stall_timeout_s) < 0)
				return DSVM_EXIT_USAGE;
			break;
		case OPT_CA:
			o.ca_file = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'v':
			ui.verbose = true;
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
	cache = cache_opt ? strdup(cache_opt) : builder_default_cache();
	ctx = builder_ctx_new(ui.verbose);
	if (!cache || !ctx) {
		rc = DSVM_EXIT_FAILURE;
		goto out;
	}
	r = dsvm_lock_load(ctx, argv[optind], &lock);
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
	ui.n = dsvm_fetch_lock_count(lock);
	ui.arts = calloc(ui.n ? ui.n : 1, sizeof(*ui.arts));
	if (!ui.arts) {
		rc = DSVM_EXIT_FAILURE;
		goto out;
	}
	ui.start_ms = clock_ms();
	o.cache_dir = cache;
	o.mirrors = mirrors;
	o.progress = progress;
	o.progress_userdata = &ui;
	r = dsvm_fetch_lock(ctx, &o, lock, &stats);
	if (ui.tty)
		clear_live(&ui);
	print_total(&ui, clock_ms());
	if (json)
		print_json(cache, ui.n, &stats);
	rc = r < 0 ? dsvm_cli_fail(BUILDER_PROGRAM, ctx, r) : DSVM_EXIT_OK;
out:
	free(cache);
	free(ui.arts);
	dsvm_lock_free(lock);
	dsvm_ctx_free(ctx);
	return rc;
}
