/* SPDX-License-Identifier: MIT */
#pragma once

/* One function per verb, each in its own builder/cmd-<verb>.c, plus the few helpers they share. */

#include <stdbool.h>

#include "dsvm/context.h"

#define BUILDER_PROGRAM "dsvm-build"

int cmd_validate(int argc, char **argv);
int cmd_resolve(int argc, char **argv);
int cmd_sbom(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_install(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_packer(int argc, char **argv);
int cmd_seal(int argc, char **argv);

struct dsvm_lock;
struct dsvm_target;

/* "dsvm-build: EDITION for KIND on SIZE: N to install, M staged; driver ... -> OUTPUT" */
void builder_print_resolved(const struct dsvm_lock *lock, const struct dsvm_target *t,
			    const char *output);

/* A context logging to stderr: warnings always, debug with --verbose. NULL on OOM. */
struct dsvm_ctx *builder_ctx_new(bool verbose);

/*
 * The hardware catalog directory for an edition: --catalog when given, else the 'hardware'
 * folder beside the edition's 'editions' folder (the source tree and /usr/share/dsvm/manifests
 * share that layout). Newly allocated.
 */
char *builder_catalog_dir(const char *option, const char *edition_path);

/* The artifact cache when --cache is not given (/var/cache/dsvm for root). Newly allocated. */
char *builder_default_cache(void);

/*
 * Create the root directory (and parents) when missing; *ret_abs is its absolute path. Prints
 * why it cannot (exit 73) and returns -EROFS.
 */
int builder_make_root(const char *verb, const char *root, char **ret_abs);

/* Write text to path atomically, or to stdout for "-". Returns 0 or -errno (error set). */
int builder_write_output(struct dsvm_ctx *ctx, const char *path, const char *text);
