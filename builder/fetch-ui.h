/* SPDX-License-Identifier: MIT */
#pragma once

/* The fetch options and the progress display shared by `dsvm-build fetch` and `image`. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsvm/fetch.h"

#define FETCH_MAX_MIRRORS 16
#define FETCH_MAX_JOBS 64

enum {
	FETCH_OPT_RETRIES = 1000,
	FETCH_OPT_CONNECT,
	FETCH_OPT_STALL,
	FETCH_OPT_CA,
};

/* getopt_long entries for the options below; short options "c:m:j:". */
#define FETCH_LONG_OPTIONS                                                                         \
	{ "cache", required_argument, NULL, 'c' }, { "mirror", required_argument, NULL, 'm' },     \
		{ "jobs", required_argument, NULL, 'j' },                                          \
		{ "retries", required_argument, NULL, FETCH_OPT_RETRIES },                         \
		{ "connect-timeout", required_argument, NULL, FETCH_OPT_CONNECT },                 \
		{ "stall-timeout", required_argument, NULL, FETCH_OPT_STALL },                     \
	{                                                                                          \
		"ca-file", required_argument, NULL, FETCH_OPT_CA                                   \
	}

/* What the --help of fetch and image say about those options. */
#define FETCH_OPTIONS_HELP                                                                         \
	"  -c, --cache DIR          cache directory (default /var/cache/dsvm as root,\n"           \
	"                           else $XDG_CACHE_HOME/dsvm or ~/.cache/dsvm)\n"                 \
	"  -m, --mirror URL         try URL/sha256/<sha256> first (repeat: in order); any\n"       \
	"                           web server or blob container holding files named by\n"         \
	"                           their hash, e.g. a copy of another build's cache\n"            \
	"  -j, --jobs N             parallel transfers (default 4, at most 64)\n"                  \
	"      --retries N          attempts per source on transient errors (default 4)\n"         \
	"      --connect-timeout S  give up connecting after S seconds (default 30)\n"             \
	"      --stall-timeout S    abort a transfer slower than 1 KiB/s for S seconds\n"          \
	"                           (default 60); it is then retried and resumed\n"                \
	"      --ca-file FILE       trust this CA bundle instead of the system's (private\n"       \
	"                           mirrors, tests); verification stays on\n"

struct fetch_args {
	const char *cache; /* NULL: builder_default_cache() */
	const char *mirrors[FETCH_MAX_MIRRORS + 1];
	size_t n_mirrors;
	struct dsvm_fetch_options o;
};

/*
 * Take one getopt result if it is a fetch option: returns 1 when taken, 0 when it is not one,
 * -EINVAL after printing what is wrong (exit 64).
 */
int fetch_args_option(const char *verb, int c, const char *arg, struct fetch_args *a);

/* A number from 1 to max for option opt of verb, or -EINVAL after printing why. */
int builder_parse_uint(const char *verb, const char *opt, const char *s, unsigned max,
		       unsigned *ret);

struct art {
	const char *name; /* owned by the lock */
	enum dsvm_fetch_state state;
	bool seen;
	uint64_t done, total, transferred;
	uint64_t start_ms;
};

struct fetch_ui {
	bool tty;
	bool verbose;
	struct art *arts;
	size_t n;
	size_t finished;
	unsigned live_lines;
	uint64_t start_ms;
	uint64_t last_draw_ms;
};

/* Progress for n artifacts (arts: n zeroed entries the caller owns). */
void fetch_ui_init(struct fetch_ui *ui, size_t n, struct art *arts, bool verbose);
/* The dsvm_fetch_progress_fn: on a terminal live lines per transfer, else a line per artifact. */
void fetch_ui_progress(void *userdata, const struct dsvm_fetch_progress *p);
/* Erase the live lines (a terminal); fetch_ui_finish also prints the total line. */
void fetch_ui_clear(struct fetch_ui *ui);
void fetch_ui_finish(struct fetch_ui *ui);

uint64_t builder_clock_ms(void);
/* "1.5 MiB" into buf. */
const char *builder_human_size(uint64_t bytes, char *buf, size_t size);
