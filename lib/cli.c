/* SPDX-License-Identifier: MIT */
#include "dsvm/cli.h"
#include "internal.h"

void dsvm_cli_log_stderr(void *userdata, int priority, const char *msg)
{
	const struct dsvm_cli_log *log = userdata;
	const char *level = "";

	if (priority <= DSVM_LOG_ERR)
		level = "error: ";
	else if (priority == DSVM_LOG_WARNING)
		level = "warning: ";
	if (log->journal_prefix)
		fprintf(stderr, "<%d>%s: %s%s\n", priority, log->program, level, msg);
	else
		fprintf(stderr, "%s: %s%s\n", log->program, level, msg);
}

int dsvm_cli_fail(const char *program, struct dsvm_ctx *ctx, int r)
{
	const char *text = ctx ? dsvm_ctx_get_error(ctx) : "";

	if (text[0])
		fprintf(stderr, "%s: %s\n", program, text);
	else
		fprintf(stderr, "%s: %s\n", program, strerror(-r));
	return dsvm_exit_code(r);
}

static void usage(FILE *out, const char *program, const char *intro, const struct dsvm_verb *verbs)
{
	fprintf(out, "%s\n\nUsage: %s VERB [OPTIONS...]\n\nVerbs:\n", intro, program);
	for (const struct dsvm_verb *v = verbs; v->name; v++)
		fprintf(out, "  %-10s %s\n", v->name, v->summary);
	fprintf(out,
		"\n'%s VERB --help' explains a verb. Exit codes: 0 ok, 1 failed, 64 usage, "
		"65 bad data, 66 missing input,\n69 service unavailable, 73 cannot create "
		"output, 74 I/O error, 75 try again, 77 permission.\n",
		program);
}

int dsvm_cli_dispatch(const char *program, const char *intro, const struct dsvm_verb *verbs,
		      int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr, program, intro, verbs);
		return DSVM_EXIT_USAGE;
	}
	if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
		usage(stdout, program, intro, verbs);
		return DSVM_EXIT_OK;
	}
	for (const struct dsvm_verb *v = verbs; v->name; v++)
		if (streq(v->name, argv[1]))
			return v->run(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown verb '%s'; run '%s --help' for the list\n", program, argv[1],
		program);
	return DSVM_EXIT_USAGE;
}
