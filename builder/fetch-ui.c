/* SPDX-License-Identifier: MIT */
/* The fetch options and progress display that `fetch` and `image` share. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "builder.h"
#include "fetch-ui.h"
#include "internal.h"

#define REDRAW_MS 100

int builder_parse_uint(const char *verb, const char *opt, const char *s, unsigned max,
		       unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > max) {
		fprintf(stderr, "dsvm-build %s: %s wants a number from 1 to %u, not '%s'\n", verb,
			opt, max, s);
		return -EINVAL;
	}
	*ret = (unsigned)v;
	return 0;
}

int fetch_args_option(const char *verb, int c, const char *arg, struct fetch_args *a)
{
	switch (c) {
	case 'c':
		a->cache = arg;
		return 1;
	case 'm':
		if (a->n_mirrors == FETCH_MAX_MIRRORS) {
			fprintf(stderr, "dsvm-build %s: at most %d mirrors\n", verb,
				FETCH_MAX_MIRRORS);
			return -EINVAL;
		}
		a->mirrors[a->n_mirrors++] = arg;
		return 1;
	case 'j':
		return builder_parse_uint(verb, "--jobs", arg, FETCH_MAX_JOBS, &a->o.parallel) < 0
			       ? -EINVAL
			       : 1;
	case FETCH_OPT_RETRIES:
		return builder_parse_uint(verb, "--retries", arg, 100, &a->o.attempts) < 0 ? -EINVAL
											   : 1;
	case FETCH_OPT_CONNECT:
		return builder_parse_uint(verb, "--connect-timeout", arg, 3600,
					  &a->o.connect_timeout_s) < 0
			       ? -EINVAL
			       : 1;
	case FETCH_OPT_STALL:
		return builder_parse_uint(verb, "--stall-timeout", arg, 3600,
					  &a->o.stall_timeout_s) < 0
			       ? -EINVAL
			       : 1;
	case FETCH_OPT_CA:
		a->o.ca_file = arg;
		return 1;
	default:
		return 0;
	}
}

uint64_t builder_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *builder_human_size(uint64_t bytes, char *buf, size_t size)
{
	return human_size(bytes, buf, size);
}

static double rate_of(const struct art *a, uint64_t now)
{
	uint64_t ms = now > a->start_ms ? now - a->start_ms : 0;

	return ms ? (double)a->transferred * 1000.0 / (double)ms : 0;
}

static void print_total(const struct fetch_ui *ui, uint64_t now)
{
	uint64_t transferred = 0, ms = now - ui->start_ms;
	size_t cached = 0;
	char b[32], r[32];

	for (size_t i = 0; i < ui->n; i++) {
		transferred += ui->arts[i].transferred;
		cached += ui->arts[i].state == DSVM_FETCH_CACHED;
	}
	fprintf(stderr, "total: %zu/%zu artifacts, %zu cached, %s transferred in %.1f s (%s/s)\n",
		ui->finished, ui->n, cached, builder_human_size(transferred, b, sizeof(b)),
		(double)ms / 1000.0,
		builder_human_size(ms ? transferred * 1000 / ms : 0, r, sizeof(r)));
}

/* Erase the live lines drawn last time, so permanent lines scroll above the new ones. */
static void clear_live(struct fetch_ui *ui)
{
	if (ui->live_lines)
		fprintf(stderr, "\033[%uA\033[J", ui->live_lines);
	ui->live_lines = 0;
}

static void draw_live(struct fetch_ui *ui, uint64_t now)
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
		fprintf(stderr, "  %s  %s / %s  %s/s%s%s\n", a->name,
			builder_human_size(a->done, d, sizeof(d)),
			a->total ? builder_human_size(a->total, t, sizeof(t)) : "?",
			builder_human_size((uint64_t)rate, r, sizeof(r)), eta,
			a->state == DSVM_FETCH_RETRY ? "  (waiting to retry)" : "");
		ui->live_lines++;
	}
	print_total(ui, now);
	ui->live_lines++;
}

void fetch_ui_progress(void *userdata, const struct dsvm_fetch_progress *p)
{
	struct fetch_ui *ui = userdata;
	struct art *a;
	uint64_t now = builder_clock_ms();
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
				builder_human_size(p->done, b, sizeof(b)));
		else if (p->state == DSVM_FETCH_DONE)
			fprintf(stderr, "fetched  %s  %s in %.1f s (%s/s)%s\n", p->name,
				builder_human_size(p->done, b, sizeof(b)),
				(double)(now - a->start_ms) / 1000.0,
				builder_human_size((uint64_t)rate_of(a, now), r, sizeof(r)),
				p->resumed ? ", resumed" : "");
		else
			fprintf(stderr, "FAILED   %s: %s\n", p->name, p->error ? p->error : "?");
	}
	if (ui->tty) {
		draw_live(ui, now);
		ui->last_draw_ms = now;
	}
}

void fetch_ui_init(struct fetch_ui *ui, size_t n, struct art *arts, bool verbose)
{
	*ui = (struct fetch_ui){
		.tty = isatty(STDERR_FILENO), .verbose = verbose, .arts = arts, .n = n
	};
	ui->start_ms = builder_clock_ms();
}

void fetch_ui_clear(struct fetch_ui *ui)
{
	if (ui->tty)
		clear_live(ui);
}

void fetch_ui_finish(struct fetch_ui *ui)
{
	if (ui->tty)
		clear_live(ui);
	print_total(ui, builder_clock_ms());
}
