/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dsvm/cli.h"
#include "reconcile-cli.h"

struct printer {
	bool plan_only;
	bool json;
	bool journal; /* under systemd: "<6>" prefixes */
	json_t *steps;
};

static void on_step(void *userdata, const struct dsvm_reconcile_event *e)
{
	struct printer *p = userdata;
	FILE *out = p->plan_only ? stdout : stderr;

	if (p->json) {
		json_t *o = json_pack("{s:i, s:s, s:s, s:s}", "step", e->step, "name", e->name,
				      "detail", e->detail, "outcome",
				      dsvm_step_outcome_to_string(e->outcome));

		if (o && e->note)
			json_object_set_new(o, "note", json_string(e->note));
		if (o && !p->plan_only)
			json_object_set_new(o, "seconds", json_real(e->seconds));
		json_array_append_new(p->steps, o);
		if (p->plan_only)
			return;
	}
	if (p->plan_only) {
		fprintf(out, "  %2u. %-17s %s\n", e->step, e->name, e->detail);
		return;
	}
	fprintf(out, "%s%s: [%u/%u] %-17s %s (%.2f s)%s%s\n",
		p->journal ? (e->outcome == DSVM_STEP_FAILED ? "<3>" : "<6>") : "",
		FIRSTBOOT_PROGRAM, e->step, e->n_steps, e->name,
		dsvm_step_outcome_to_string(e->outcome), e->seconds, e->note ? ": " : "",
		e->note ? e->note : "");
}

static void print_summary(const struct printer *p, const struct dsvm_reconcile_summary *s)
{
	const char *from = dsvm_driver_kind_to_string(s->from);
	const char *to = dsvm_driver_kind_to_string(s->to);

	if (p->json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:i, s:f, s:f, "
				      "s:O}",
				      "outcome", dsvm_reconcile_outcome_to_string(s->outcome),
				      "from", from, "to", to, "branch", s->branch, "version",
				      s->version, "reason", s->reason, "fingerprint",
				      s->fingerprint, "reboot_needed", s->reboot_needed, "attempts",
				      s->attempts, "seconds", s->seconds, "external_seconds",
				      s->external_seconds, "steps", p->steps);
		char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

		if (text)
			puts(text);
		free(text);
		json_decref(o);
		return;
	}
	if (s->outcome == DSVM_RECONCILE_NOOP) {
		printf("no-op: %s; %s%s%s as recorded (%s)\n", s->fingerprint, to,
		       s->branch[0] ? " " : "", s->branch, s->reason);
		return;
	}
	printf("%s: %s -> %s%s%s%s%s\n  machine: %s\n  why: %s\n",
	       p->plan_only ? (s->outcome == DSVM_RECONCILE_CONVERGED
				       ? "plan"
				       : dsvm_reconcile_outcome_to_string(s->outcome))
			    : dsvm_reconcile_outcome_to_string(s->outcome),
	       from, to, s->branch[0] ? " " : "", s->branch, s->version[0] ? " " : "", s->version,
	       s->fingerprint, s->reason);
	if (s->attempts)
		printf("  failed attempts: %u\n", s->attempts);
	if (s->reboot_needed)
		printf("  a reboot is needed to finish the switch\n");
}

int reconcile_main(const char *verb, const char *usage, bool plan_only, int argc, char **argv)
{
	struct firstboot_args a = { 0 };
	struct printer p = { .plan_only = plan_only };
	struct dsvm_reconcile_summary sum;
	struct dsvm_ctx *ctx = NULL;
	char *catalog = NULL;
	int r, rc;

	r = firstboot_args_parse(verb, usage,
				 FB_OPT_ROOT | FB_OPT_SYSROOT | FB_OPT_CATALOG | FB_OPT_LOCK |
					 FB_OPT_HW | FB_OPT_JSON | FB_OPT_VERBOSE,
				 argc, argv, &a);
	if (r != 0)
		return r > 0 ? DSVM_EXIT_OK : DSVM_EXIT_USAGE;
	r = firstboot_context(&a, &ctx);
	if (r < 0)
		return DSVM_EXIT_USAGE;
	p.json = a.json;
	p.journal = getenv("JOURNAL_STREAM") != NULL;
	p.steps = json_array();
	catalog = reconcile_catalog(ctx, a.opts.catalog_dir);
	if (!catalog || !p.steps) {
		r = -ENOMEM;
		goto out;
	}
	a.opts.catalog_dir = catalog;
	a.opts.plan_only = plan_only;
	a.opts.report = on_step;
	a.opts.report_userdata = &p;
	if (plan_only && !a.json)
		printf("plan for %s:\n", a.root ? a.root : "/");
	r = dsvm_reconcile(ctx, &a.opts, &sum);
	if (r < 0)
		goto out;
	print_summary(&p, &sum);
	if (fflush(stdout) != 0)
		r = dsvm_set_error(ctx, -EIO, "cannot write to stdout: %s", strerror(errno));
out:
	if (r < 0)
		rc = dsvm_cli_fail(FIRSTBOOT_PROGRAM, ctx, r);
	else
		/* A deliberate CPU mode is a decision, not a failure; a failed step is. */
		rc = sum.outcome == DSVM_RECONCILE_FAILED ? DSVM_EXIT_FAILURE : DSVM_EXIT_OK;
	json_decref(p.steps);
	free(catalog);
	dsvm_ctx_free(ctx);
	return rc;
}
