/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsvm/exec.h"
#include "dsvm/kernel-hold.h"
#include "internal.h"

#define MAX_KERNEL_PACKAGES 64

bool dsvm_is_kernel_package(const char *name)
{
	static const char *const prefixes[] = {
		"linux-image-",	 "linux-modules-", "linux-headers-",
		"linux-tools-",	 "linux-azure",	   "linux-generic",
		"linux-virtual", "linux-kvm",	   "linux-cloud-tools-",
	};

	if (strncmp(name, "linux-modules-nvidia-", strlen("linux-modules-nvidia-")) == 0)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

static void free_names(char **names)
{
	for (size_t i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
}

int dsvm_hold_kernel(struct dsvm_ctx *ctx, unsigned timeout_s, char ***ret_held)
{
	static const char *const query[] = { "/usr/bin/dpkg-query", "-W", "-f",
					     "${Package} ${db:Status-Abbrev}\\n", NULL };
	_cleanup_free_ char *dpkg_query = root_path_resolved(ctx, "/usr/bin/dpkg-query");
	_cleanup_free_ char *out = NULL;
	const char *argv[MAX_KERNEL_PACKAGES + 4] = { "/usr/bin/apt-mark", "hold" };
	char **held = NULL;
	size_t n = 0;
	int r;

	if (ret_held)
		*ret_held = NULL;
	if (!dpkg_query)
		return -ENOMEM;
	if (access(dpkg_query, X_OK) < 0)
		return 0; /* no Debian package manager in the root: nothing to hold */
	r = dsvm_root_run(ctx, query, NULL, timeout_s, &out);
	if (r > 0)
		return dsvm_set_error(ctx, -EIO, "dpkg-query in '%s' exited %d",
				      dsvm_ctx_get_root(ctx), r);
	if (r < 0)
		return r;
	held = calloc(MAX_KERNEL_PACKAGES + 1, sizeof(*held));
	if (!held)
		return -ENOMEM;
	/* "name ii " installed, "name hi " installed and held already: only the former. */
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		char *space = strchr(line, ' ');

		if (!space || strncmp(space + 1, "ii", 2) != 0)
			continue;
		*space = '\0';
		if (!dsvm_is_kernel_package(line))
			continue;
		if (n == MAX_KERNEL_PACKAGES) {
			free_names(held);
			return dsvm_set_error(ctx, -E2BIG,
					      "more than %d kernel packages installed in '%s'",
					      MAX_KERNEL_PACKAGES, dsvm_ctx_get_root(ctx));
		}
		held[n] = strdup(line);
		if (!held[n]) {
			free_names(held);
			return -ENOMEM;
		}
		argv[2 + n] = held[n];
		n++;
	}
	if (n > 0) {
		r = dsvm_root_run(ctx, argv, NULL, timeout_s, NULL);
		if (r > 0)
			r = dsvm_set_error(ctx, -EIO,
					   "apt-mark hold of the kernel packages in '%s' "
					   "exited %d",
					   dsvm_ctx_get_root(ctx), r);
		if (r < 0) {
			free_names(held);
			return r;
		}
	}
	if (ret_held)
		*ret_held = held;
	else
		free_names(held);
	return (int)n;
}
