/* SPDX-License-Identifier: MIT */

/*
 * apt-switch: the offline switch (include/dsvm/apt-offline.h) on the command line, for
 * tests/integration/test-apt.sh.
 *   apt-switch [--root DIR] [--timeout S] switch [--install COMPONENT]... [--remove COMPONENT]...
 *       prints {"changed": true|false}
 *   apt-switch [--root DIR] packages COMPONENT      prints "name version" lines
 *   apt-switch [--root DIR] installed COMPONENT     prints yes or no
 * Exit 0, 64 for usage, else dsvm_exit_code() of the failure (the error on stderr).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsvm/apt-offline.h"

static int usage(void)
{
	fprintf(stderr, "usage: apt-switch [--root DIR] [--timeout S] switch [--install C]... "
			"[--remove C]... | packages C | installed C\n");
	return 64;
}

static int fail(struct dsvm_ctx *ctx, int r)
{
	fprintf(stderr, "apt-switch: %s\n", dsvm_ctx_get_error(ctx));
	return dsvm_exit_code(r);
}

static int cmd_switch(struct dsvm_ctx *ctx, unsigned timeout_s, int argc, char **argv)
{
	const char **install = calloc((size_t)argc + 1, sizeof(char *));
	const char **remove = calloc((size_t)argc + 1, sizeof(char *));
	size_t n_install = 0, n_remove = 0;
	bool changed = false, bad = !install || !remove;
	int r;

	for (int i = 0; i < argc && !bad; i++) {
		if (strcmp(argv[i], "--install") == 0 && i + 1 < argc)
			install[n_install++] = argv[++i];
		else if (strcmp(argv[i], "--remove") == 0 && i + 1 < argc)
			remove[n_remove++] = argv[++i];
		else
			bad = true;
	}
	r = bad ? -EINVAL
		: dsvm_apt_offline_switch(ctx, install, n_install, remove, n_remove, timeout_s,
					  &changed);
	free(install);
	free(remove);
	if (bad)
		return usage();
	if (r < 0)
		return fail(ctx, r);
	printf("{\"changed\": %s}\n", changed ? "true" : "false");
	return 0;
}

static int cmd_packages(struct dsvm_ctx *ctx, const char *component)
{
	char **names = NULL, **versions = NULL;
	size_t n = 0;
	int r = dsvm_apt_offline_packages(ctx, component, &names, &versions, &n);

	if (r < 0)
		return fail(ctx, r);
	for (size_t i = 0; i < n; i++) {
		printf("%s %s\n", names[i], versions[i]);
		free(names[i]);
		free(versions[i]);
	}
	free(names);
	free(versions);
	return 0;
}

static int cmd_installed(struct dsvm_ctx *ctx, const char *component)
{
	bool yes = false;
	int r = dsvm_apt_offline_is_installed(ctx, component, &yes);

	if (r < 0)
		return fail(ctx, r);
	puts(yes ? "yes" : "no");
	return 0;
}

int main(int argc, char **argv)
{
	struct dsvm_ctx *ctx = dsvm_ctx_new();
	unsigned timeout_s = 300;
	int i = 1, rc;

	if (!ctx)
		return 1;
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--root") == 0 && dsvm_ctx_set_root(ctx, argv[i + 1]) == 0)
			continue;
		if (strcmp(argv[i], "--timeout") == 0) {
			timeout_s = (unsigned)strtoul(argv[i + 1], NULL, 10);
			continue;
		}
		dsvm_ctx_free(ctx);
		return usage();
	}
	if (i < argc && strcmp(argv[i], "switch") == 0)
		rc = cmd_switch(ctx, timeout_s, argc - i - 1, argv + i + 1);
	else if (i + 2 == argc && strcmp(argv[i], "packages") == 0)
		rc = cmd_packages(ctx, argv[i + 1]);
	else if (i + 2 == argc && strcmp(argv[i], "installed") == 0)
		rc = cmd_installed(ctx, argv[i + 1]);
	else
		rc = usage();
	dsvm_ctx_free(ctx);
	return rc;
}
