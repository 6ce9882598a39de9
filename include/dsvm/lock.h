/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Resolution of an edition for a target, and the lock it produces (manifests/SCHEMA.md,
 * "Resolution" and "Lock"). The lock is the only input of fetch and install; the same inputs
 * always give a byte-identical lock.
 */

#include <stdbool.h>
#include <stddef.h>

#include "dsvm/context.h"
#include "dsvm/manifest.h"
#include "dsvm/target.h"

struct dsvm_catalog;
struct dsvm_lock;

enum dsvm_resolve_flags {
	/* Also stage the driver-stack payloads of every other driver kind the edition lists. */
	DSVM_RESOLVE_ALL_DRIVER_KINDS = 1 << 0,
	/*
	 * Write signer-pinned artifacts the edition's seal file lacks with "seal": "awaiting"
	 * and no sha256, instead of failing; dsvm_lock_load() refuses such a lock (SCHEMA.md).
	 */
	DSVM_RESOLVE_ALLOW_UNSEALED = 1 << 1,
};

/*
 * Resolve m for target t. The catalog supplies the CUDA version each driver supports.
 * Returns 0 and a new lock, -EBADMSG when the edition is unsatisfiable for the target (the
 * error names the constraint or requirement and its file:line:col), -ENOENT for a missing
 * referenced file.
 */
int dsvm_resolve(struct dsvm_ctx *ctx, const struct dsvm_manifest *m,
		 const struct dsvm_catalog *catalog, const struct dsvm_target *t, unsigned flags,
		 struct dsvm_lock **ret);

void dsvm_lock_free(struct dsvm_lock *lock);

/* The lock as JSON text, newline-terminated. Caller frees *ret. */
int dsvm_lock_to_string(const struct dsvm_lock *lock, char **ret);

/* Write atomically (temporary file, fsync, rename). */
int dsvm_lock_write(struct dsvm_ctx *ctx, const struct dsvm_lock *lock, const char *path);

/* Read and check a lock written by dsvm_lock_write() (-EBADMSG with the path on bad data). */
int dsvm_lock_load(struct dsvm_ctx *ctx, const char *path, struct dsvm_lock **ret);

/*
 * The lock names repository files ('path' artifacts: keys, scripts, local files) relative to the
 * repository the manifests live in (the directory holding manifests/), so that it does not depend
 * on where that is checked out. Set dir as the repository those names are read from (NULL: the
 * working directory). dsvm_resolve() sets the manifests' own repository; a loaded lock starts
 * without one. Returns 0 or -ENOMEM.
 */
int dsvm_lock_set_repository(struct dsvm_lock *lock, const char *dir);

/* The file to read for a repository path the lock names: owned by the lock, or name itself. */
const char *dsvm_lock_file_path(const struct dsvm_lock *lock, const char *name);

/* Whether every repository file the lock names can be read there (-errno naming the first not). */
int dsvm_lock_check_files(struct dsvm_ctx *ctx, const struct dsvm_lock *lock);

/* Artifacts whose "seal" is "awaiting" (resolve --allow-unsealed); such a lock never loads. */
size_t dsvm_lock_count_unsealed(const struct dsvm_lock *lock);

/* Summary accessors. Strings are owned by the lock. */
size_t dsvm_lock_count_components(const struct dsvm_lock *lock);
const char *dsvm_lock_get_edition(const struct dsvm_lock *lock);

struct dsvm_lock_entry {
	unsigned order;
	const char *name;
	const char *kind;
	const char *version;
	const char *action; /* "install" or "stage" */
	const char *reason;
	size_t n_artifacts;
};

/* The i-th component in install order; returns -ERANGE past the end. */
int dsvm_lock_get_entry(const struct dsvm_lock *lock, size_t i, struct dsvm_lock_entry *ret);

/* Driver summary of the lock: kind, branch, version, cuda_max ("" where none). */
const char *dsvm_lock_get_driver_field(const struct dsvm_lock *lock, const char *field);

/* CycloneDX 1.5 JSON of the lock, newline-terminated. Caller frees *ret. */
int dsvm_lock_to_sbom(struct dsvm_ctx *ctx, const struct dsvm_lock *lock, char **ret);

/*
 * The same, with what an image's build observed: packages_json is the text of its package record
 * (DSVM_IMAGE_PACKAGES, include/dsvm/install.h), or NULL. Each apt component then lists the .deb
 * files installed or staged for it, each with the sha256 apt verified against its signed index;
 * the serial number follows the record too. -EBADMSG when packages_json is not such a record.
 */
int dsvm_lock_to_sbom_with_packages(struct dsvm_ctx *ctx, const struct dsvm_lock *lock,
				    const char *packages_json, char **ret);
