/* SPDX-License-Identifier: MIT */
#pragma once

/* The loaded manifest model, shared by manifest.c (loading, schema) and resolve.c. */

#include "dsvm/manifest.h"
#include "dsvm/target.h"
#include "seal-internal.h"
#include "yamldoc.h"

enum component_kind {
	KIND_APT,
	KIND_ARCHIVE,
	KIND_NVIDIA_REDIST,
	KIND_RUNFILE,
	KIND_PIP,
	KIND_CONDA,
	KIND_FILE,
	KIND_SERVICE,
	KIND_SCRIPT,
	KIND_MSI,
	KIND_EXE,
	KIND_ZIP,
	KIND_POWERSHELL,
	_KIND_MAX,
};

const char *component_kind_to_string(enum component_kind kind);

/* A list of strings from the document, with the node for error positions. */
struct str_list {
	const char **v;
	size_t n;
	const struct ynode *node;
};

struct artifact {
	const char *name;
	const char *url;
	const char *sha256;
	unsigned long long size;
	bool has_size;
	unsigned long long unpacked_size; /* what the archive may expand to; 0 not stated */
	const struct ynode *node;
};

/* A signer pin (manifests/SCHEMA.md, "Artifacts without a published digest"). */
struct authenticode_pin {
	const struct ynode *node; /* NULL: the source has a published sha256 instead */
	const char *subject;
	struct str_list chain;
	const char *file_version; /* NULL: not pinned (an msi, or no public record of it) */
};

struct source {
	const struct ynode *node;
	struct authenticode_pin authenticode;
	const char *package;
	const char *version;
	const char *repository;
	const char *key;
	const char *environment;
	const char *redist;
	const char *base_url;
	struct str_list packages;
	const char *path;
	const char *dest;
	const char *unit;
	bool enable;
	struct artifact *artifacts;
	size_t n_artifacts;
};

struct constraints {
	const struct ynode *node;
	const char *cuda;
	const struct ynode *cuda_node;
	const char *cuda_major;
	const struct ynode *cuda_major_node;
	bool driver_version_match;
	const struct ynode *driver_version_node;
	struct str_list accelerator;
};

struct driver_info {
	const struct ynode *node;
	enum dsvm_driver_kind kind;
	const char *branch;
};

/* Fields an override layer may replace; has_* says whether this layer sets it. */
struct fields {
	const struct ynode *node;
	const char *version;
	const struct ynode *version_node;
	const char *description;
	const char *record;
	struct source source;
	struct str_list requires;
	struct str_list conflicts;
	struct str_list args;
	struct constraints constraints;
	struct driver_info driver;
	bool has_version, has_description, has_record, has_source, has_requires, has_conflicts,
		has_args, has_constraints, has_driver;
};

struct when {
	const struct ynode *node;
	struct str_list os, arch, gpu_vendor, driver_kind, accelerator, vm_family;
	int infiniband; /* -1 unset, 0, 1 */
	int nvswitch;
	const struct ynode *infiniband_node, *nvswitch_node;
};

struct override {
	const char *key; /* the os, arch or vm family it applies to */
	struct fields fields;
};

struct override_layer {
	struct override *v;
	size_t n;
};

struct component {
	const struct ydoc *doc;
	const struct ynode *node;
	size_t index; /* manifest order */
	const char *name;
	enum component_kind kind;
	bool allow_setuid; /* archives keep their setuid and setgid bits */
	struct str_list provides;
	struct when when;
	bool stage;
	struct fields common;
	struct override_layer os, arch, vm_family;
	struct fields defaults;
	bool has_defaults;
};

struct dsvm_manifest {
	char *dir;
	char *root; /* the repository: files the manifests name must stay under it */
	struct ydoc *edition_doc;
	const char *edition;
	const char *description;
	const char *os;
	const char *platform;
	struct str_list arch;
	enum dsvm_driver_kind driver_kinds[_DSVM_DRIVER_KIND_MAX];
	size_t n_driver_kinds;
	struct ydoc **docs; /* component files, in include order */
	size_t n_docs;
	struct component *components;
	size_t n_components;
	struct seal_file seal;	 /* the edition's seal file (empty when there is none) */
	char *edition_repo_path; /* the edition's and each doc's path relative to root (or NULL) */
	char **doc_repo_paths;
};

/* The fields in force for a target: overrides first, in the fixed order, then the common. */
void component_effective(const struct component *c, const struct dsvm_target *t,
			 struct fields *ret);

/* "file:line:col" of a node, into buf. */
const char *node_position(const struct ydoc *doc, const struct ynode *node, char *buf, size_t size);

/*
 * path (a file the manifests name, as opened) relative to the repository root: '/'-separated,
 * without '.' or '..', what the lock records so that it does not depend on where the repository
 * is checked out. Returns 0 and a new string, -EXDEV when path is outside root, -ENOENT without
 * a root, -errno when its directory cannot be resolved.
 */
int manifest_repo_path(const char *root, const char *path, char **ret);

/* The repository path of one of m's documents (its path as given where none is known). */
const char *manifest_doc_repo_path(const struct dsvm_manifest *m, const struct ydoc *doc);
