/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Shared plumbing of the two command-line programs: the stderr log sink, verb dispatch, and the
 * exit-code mapping. Only the binaries call these; the library itself never prints.
 */

#include <stdbool.h>

#include "dsvm/context.h"

struct dsvm_verb {
	const char *name;
	const char *summary; /* one line for --help */
	int (*run)(int argc, char **argv);
};

struct dsvm_cli_log {
	const char *program;
	bool journal_prefix; /* "<3>" .. "<7>" so journald keeps the level */
};

/* A dsvm_log_fn writing "program: message" to stderr; userdata is a struct dsvm_cli_log. */
void dsvm_cli_log_stderr(void *userdata, int priority, const char *msg);

/* Print "program: error text" for r to stderr and return its exit code. */
int dsvm_cli_fail(const char *program, struct dsvm_ctx *ctx, int r);

/*
 * Run the verb named by argv[1] from the NULL-terminated table; prints usage on --help, no verb
 * or an unknown verb (exit 64 for the latter two). intro is printed above the verb list.
 */
int dsvm_cli_dispatch(const char *program, const char *intro, const struct dsvm_verb *verbs,
		      int argc, char **argv);
