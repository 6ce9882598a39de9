/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Manifests: an edition file and the component files it includes, loaded and checked against
 * the schema in manifests/SCHEMA.md. Every error names file:line:col and returns -EBADMSG
 * (or -EFBIG for an oversized file, -ENOENT for a missing one).
 */

#include <stdbool.h>
#include <stddef.h>

#include "dsvm/context.h"
#include "dsvm/target.h"

struct dsvm_manifest;

/* Load an edition and its includes. Caller frees *ret with dsvm_manifest_free(). */
int dsvm_manifest_load(struct dsvm_ctx *ctx, const char *edition_path, struct dsvm_manifest **ret);
void dsvm_manifest_free(struct dsvm_manifest *m);

/*
 * Check one file, edition or component file (told apart by its top-level key). An edition is
 * loaded with its includes. Returns 1 for a valid edition (handed to *ret_edition when that is
 * not NULL; the caller frees it), 0 for a valid component file, or the first error.
 */
int dsvm_manifest_validate_file(struct dsvm_ctx *ctx, const char *path,
				struct dsvm_manifest **ret_edition);

/* Parse a component file held in memory (the fuzz target's entry); name is used in messages. */
int dsvm_manifest_parse_components(struct dsvm_ctx *ctx, const char *name, const char *buf,
				   size_t size);

/* Accessors; strings are owned by the manifest. */
const char *dsvm_manifest_get_edition(const struct dsvm_manifest *m);
/* The edition's seal file (manifests/SCHEMA.md), whether or not it exists yet. */
const char *dsvm_manifest_get_seal_path(const struct dsvm_manifest *m);
const char *dsvm_manifest_get_os(const struct dsvm_manifest *m);
const char *dsvm_manifest_get_platform(const struct dsvm_manifest *m);
/* The first architecture listed, the edition's default. */
const char *dsvm_manifest_get_arch(const struct dsvm_manifest *m);
bool dsvm_manifest_has_arch(const struct dsvm_manifest *m, const char *arch);
size_t dsvm_manifest_count_components(const struct dsvm_manifest *m);
/* Driver kinds the edition serves, in the order written. */
size_t dsvm_manifest_count_driver_kinds(const struct dsvm_manifest *m);
enum dsvm_driver_kind dsvm_manifest_get_driver_kind(const struct dsvm_manifest *m, size_t i);
bool dsvm_manifest_supports_driver_kind(const struct dsvm_manifest *m, enum dsvm_driver_kind k);
/* The directory the edition file lives in ("." for a bare name). */
const char *dsvm_manifest_get_dir(const struct dsvm_manifest *m);
