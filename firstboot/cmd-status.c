/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "dsvm/cli.h"
#include "dsvm/state.h"
#include "firstboot.h"

static const char usage_text[] =
	"Usage: " FIRSTBOOT_PROGRAM " status [--root DIR] [--json]\n"
	"\n"
	"Say what the first-boot agent last did: the machine it saw (size, GPUs, fabric, kernel,\n"
	"Secure Boot), the driver stack on disk and the mode in force, when, the result and why,\n"
	"failed attempts, whether a reboot is needed, and whether a switch is in progress.\n"
	"\n"
	"Results: ok (healthy), pending (switched; the module is checked after the next boot),\n"
	"failed (the next boot retries), fallback (CPU mode after too many failed boots; a change\n"
	"of hardware tries again), blocked (CPU mode: Secure Boot refuses the kind's module; the\n"
	"reason says the way out), none (never ran, or reset).\n"
	"\n"
	"  --root DIR  the system to look at (default /)\n"
	"  --json      one JSON object on stdout\n"
	"  -h, --help  show this text\n"
	"\n"
	"Exit status: 0; 65 a state file this agent did not write; 64 usage.\n";

static char *read_login_message(struct dsvm_ctx *ctx)
{
	char *path = dsvm_root_path(ctx, DSVM_LOGIN_MESSAGE), *line = NULL;
	size_t cap = 0;
	FILE *f = path ? fopen(path, "re") : NULL;

	free(path);
	if (!f)
		return NULL;
	if (getline(&line, &cap, f) < 0) {
		free(line);
		line = NULL;
	} else {
		line[strcspn(line, "\n")] = '\0';
	}
	fclose(f);
	return line;
}

static bool journal_in_progress(struct dsvm_ctx *ctx)
{
	char *path = dsvm_root_path(ctx, "/var/lib/dsvm/journal/firstboot.journal");
	bool there = path && access(path, F_OK) == 0;

	free(path);
	return there;
}

int cmd_status(int argc, char **argv)
{
	struct firstboot_args a = { 0 };
	struct dsvm_state st = { 0 };
	struct dsvm_ctx *ctx = NULL;
	char *json = NULL, *message = NULL, fp[768];
	bool has_state, switching;
	unsigned attempts;
	int r, rc;

	r = firstboot_args_parse("status", usage_text, FB_OPT_ROOT | FB_OPT_JSON, argc, argv, &a);
	if (r != 0)
		return r > 0 ? DSVM_EXIT_OK : DSVM_EXIT_USAGE;
	if (firstboot_context(&a, &ctx) < 0)
		return DSVM_EXIT_USAGE;
	r = dsvm_state_load(ctx, &st);
	has_state = r >= 0;
	if (r < 0 && r != -ENOENT)
		goto out;
	r = 0;
	attempts = dsvm_attempts_get(ctx);
	switching = journal_in_progress(ctx);
	message = read_login_message(ctx);
	if (a.json) {
		json_t *o = NULL;

		if (has_state) {
			r = dsvm_state_to_json(&st, &json);
			if (r < 0)
				goto out;
			o = json_loads(json, 0, NULL);
		} else {
			o = json_pack("{s:n, s:s}", "fingerprint", "result", "none");
		}
		if (!o) {
			r = -ENOMEM;
			goto out;
		}
		json_object_set_new(o, "attempts", json_integer(attempts));
		json_object_set_new(o, "switch_in_progress", json_boolean(switching));
		json_object_set_new(o, "login_message",
				    message ? json_string(message) : json_null());
		free(json);
		json = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
		json_decref(o);
		if (!json) {
			r = -ENOMEM;
			goto out;
		}
		puts(json);
	} else if (!has_state) {
		printf("result:     none (the agent has not run on this root)\n");
	} else {
		dsvm_fingerprint_describe(&st.fp, fp, sizeof(fp));
		printf("result:     %s\n", dsvm_state_result_to_string(st.result));
		printf("machine:    %s\n",
		       st.has_fingerprint ? fp : "(reset: the next boot reconciles)");
		printf("installed:  %s%s%s%s%s\n", dsvm_driver_kind_to_string(st.kind),
		       st.branch[0] ? " " : "", st.branch, st.version[0] ? " " : "", st.version);
		printf("mode:       %s\n",
		       st.mode == DSVM_DRIVER_NONE ? "CPU" : dsvm_driver_kind_to_string(st.mode));
		printf("when:       %s\n", st.updated);
		printf("why:        %s\n", st.reason);
		printf("attempts:   %u failed\n", attempts);
		printf("reboot:     %s\n", st.reboot_needed ? "needed" : "not needed");
	}
	if (!a.json) {
		if (switching)
			printf("switching:  a switch is in progress (or was interrupted: the next "
			       "run "
			       "finishes it)\n");
		if (message)
			printf("login:      %s\n", message);
	}
	if (fflush(stdout) != 0)
		r = dsvm_set_error(ctx, -EIO, "cannot write to stdout: %s", strerror(errno));
out:
	rc = r < 0 ? dsvm_cli_fail(FIRSTBOOT_PROGRAM, ctx, r) : DSVM_EXIT_OK;
	free(json);
	free(message);
	dsvm_ctx_free(ctx);
	return rc;
}
