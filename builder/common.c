/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "dsvm/cli.h"
#include "internal.h"

static struct dsvm_cli_log stderr_log = { .program = BUILDER_PROGRAM };

struct dsvm_ctx *builder_ctx_new(bool verbose)
{
	struct dsvm_ctx *ctx = dsvm_ctx_new();

	if (ctx)
		dsvm_ctx_set_log(ctx, dsvm_cli_log_stderr, &stderr_log,
				 verbose ? DSVM_LOG_DEBUG : DSVM_LOG_WARNING);
	return ctx;
}

char *builder_catalog_dir(const char *option, const char *edition_path)
{
	_cleanup_free_ char *dir = NULL;

	if (option)
		return strdup(option);
	dir = path_dirname(edition_path);
	if (!dir)
		return NULL;
	return path_join_relative(dir, "../hardware");
}

int builder_write_output(struct dsvm_ctx *ctx, const char *path, const char *text)
{
	int r;

	if (streq(path, "-")) {
		if (fputs(text, stdout) < 0 || fflush(stdout) != 0)
			return dsvm_set_error(ctx, -EIO, "cannot write to standard output");
		return 0;
	}
	r = write_file_atomic(path, text, strlen(text), 0644);
	if (r == -ENOSPC || r == -EIO || r == -EDQUOT)
		return dsvm_set_error(ctx, r, "cannot write '%s': %s", path, strerror(-r));
	/* Any other failure means the output cannot be created there (exit 73, not 66). */
	if (r < 0)
		return dsvm_set_error(ctx, -EROFS, "cannot create '%s': %s", path, strerror(-r));
	return 0;
}

/* Root keeps one cache for every build; a user's lives in their XDG cache. */
char *builder_default_cache(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");

	if (geteuid() == 0)
		return strdup("/var/cache/dsvm");
	if (xdg && xdg[0] == '/')
		return strdup_printf("%s/dsvm", xdg);
	if (home && home[0] == '/')
		return strdup_printf("%s/.cache/dsvm", home);
	return strdup("dsvm-cache");
}

int builder_make_root(const char *verb, const char *root, char **ret_abs)
{
	char *abs;

	if (mkdir_parents(root, 0755) < 0 || !(abs = realpath(root, NULL))) {
		fprintf(stderr, "dsvm-build %s: cannot create the root '%s': %m\n", verb, root);
		return -EROFS;
	}
	*ret_abs = abs;
	return 0;
}
