/* SPDX-License-Identifier: MIT */
/* The install report shared by `dsvm-build install` and `image`. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "builder.h"
#include "install-ui.h"
#include "internal.h"

static const char *const outcome_words[] = {
	[DSVM_INSTALL_DONE] = "done",
	[DSVM_INSTALL_UNCHANGED] = "unchanged",
	[DSVM_INSTALL_SKIPPED] = "resumed",
	[DSVM_INSTALL_DEFERRED] = "deferred",
};

void install_ui_event(void *userdata, const struct dsvm_install_event *e)
{
	struct install_ui *s = userdata;

	if (e->outcome == DSVM_INSTALL_DEFERRED) {
		fprintf(stderr, "deferred   %s (%s): %s\n", e->name, e->kind, e->reason);
		if (s->deferred)
			json_array_append_new(s->deferred,
					      json_pack("{s:s, s:s, s:s}", "name", e->name, "kind",
							e->kind, "reason", e->reason));
		return;
	}
	if (e->outcome == DSVM_INSTALL_SKIPPED) {
		fprintf(stderr, "[%u/%u] %-9s %s: done by the interrupted run\n", e->step,
			e->n_steps, outcome_words[e->outcome], e->name);
		return;
	}
	fprintf(stderr, "[%u/%u] %-9s %s %s (%s) -> %s\n", e->step, e->n_steps,
		outcome_words[e->outcome], e->action, e->name, e->kind, e->dest ? e->dest : "");
	if (e->note)
		fprintf(stderr, "           note: %s\n", e->note);
}

/* systemctl on PATH, or NULL. */
const char *builder_find_systemctl(void)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = path ? strdup(path) : NULL;
	char *dir, *save = NULL;

	for (dir = copy ? strtok_r(copy, ":", &save) : NULL; dir;
	     dir = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *p = strdup_printf("%s/systemctl", dir);

		if (p && access(p, X_OK) == 0)
			return "systemctl";
	}
	return NULL;
}

void install_ui_print_json(const char *root, const struct dsvm_install_stats *st, json_t *deferred)
{
	json_t *o =
		json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:O}", "root", root, "steps",
			  st->steps, "installed", st->installed, "staged", st->staged, "unchanged",
			  st->unchanged, "resumed", st->skipped, "resumed_at", st->resumed_at,
			  "deferred", st->deferred, "deferred_components", deferred);
	char *text = o ? json_dumps(o, JSON_PRESERVE_ORDER) : NULL;

	if (text)
		printf("%s\n", text);
	free(text);
	json_decref(o);
}
