/* SPDX-License-Identifier: MIT */
#pragma once

/* One function per verb, each in its own firstboot/cmd-<verb>.c; shared helpers in common.c. */

#include <stdbool.h>

#include "dsvm/reconcile.h"

#define FIRSTBOOT_PROGRAM "dsvm-firstboot"
#define FIRSTBOOT_INSTALLED_CATALOG "/usr/share/dsvm/manifests/hardware"

int cmd_detect(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_reset(int argc, char **argv);

/*
 * The catalog when --catalog is not given: beside the binary in a build tree or an install
 * prefix, else FIRSTBOOT_INSTALLED_CATALOG. Caller frees; NULL on OOM.
 */
char *firstboot_default_catalog(void);

/* The options `plan` and `run` share. */
struct reconcile_args {
	const char *root;
	const char *sysroot;
	struct dsvm_reconcile_options opts;
	bool json;
	bool verbose;
};

/*
 * Parse plan/run options (verb names the verb for messages; usage is its --help text).
 * Returns 0, 1 after printing --help, or -EINVAL after a usage message.
 */
int reconcile_args_parse(const char *verb, const char *usage, int argc, char **argv,
			 struct reconcile_args *a);

/*
 * A context with the log on stderr (journald levels under systemd) and --root/--sysroot set.
 * Returns 0 and *ret, or -errno with the error printed.
 */
int firstboot_context(const struct reconcile_args *a, struct dsvm_ctx **ret);

/* The catalog for plan/run when --catalog is not given: the image's, else the default. */
char *reconcile_catalog(struct dsvm_ctx *ctx, const char *given);
