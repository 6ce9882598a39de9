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

/* The options of the verbs; each verb takes the set it names (-h/--help always). */
enum firstboot_option {
	FB_OPT_ROOT = 1 << 0,	  /* --root DIR */
	FB_OPT_SYSROOT = 1 << 1,  /* --sysroot DIR */
	FB_OPT_CATALOG = 1 << 2,  /* --catalog DIR */
	FB_OPT_LOCK = 1 << 3,	  /* --lock FILE */
	FB_OPT_HW = 1 << 4,	  /* --vm-size S, --imds URL, --no-imds */
	FB_OPT_NO_DISKS = 1 << 5, /* --no-disks */
	FB_OPT_JSON = 1 << 6,	  /* --json */
	FB_OPT_VERBOSE = 1 << 7,  /* -v, --verbose */
};

struct firstboot_args {
	const char *root;
	const char *sysroot;
	struct dsvm_reconcile_options opts; /* catalog_dir, lock_path and hw are options */
	bool no_disks;
	bool json;
	bool verbose;
};

/*
 * Parse a verb's options (allowed: its enum firstboot_option set; verb names it in messages;
 * usage is its --help text). Returns 0, 1 after printing --help, or -EINVAL after a usage
 * message on stderr.
 */
int firstboot_args_parse(const char *verb, const char *usage, unsigned allowed, int argc,
			 char **argv, struct firstboot_args *a);

/*
 * A context with the log on stderr (journald levels under systemd) and --root/--sysroot set.
 * Returns 0 and *ret, or -errno with the error printed.
 */
int firstboot_context(const struct firstboot_args *a, struct dsvm_ctx **ret);

/* The catalog for plan/run when --catalog is not given: the image's, else the default. */
char *reconcile_catalog(struct dsvm_ctx *ctx, const char *given);
