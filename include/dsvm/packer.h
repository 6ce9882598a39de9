/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Packer templates (HCL2, the azure-arm builder) for an edition, and the step script the Ubuntu
 * templates run on the build VM (DESIGN.md "Scale": one build VM per target, fanned out by one
 * `packer build`). Rendering is pure text: laying out the files the templates upload is the
 * caller's job (dsvm-build packer).
 *
 * Two dialects. Debian's packer 1.6.6 has azure-arm built in and rejects a `packer {}` block and
 * the newer azure-arm arguments (Trusted Launch); Packer >= 1.7 loads azure-arm as a plugin and
 * (from 1.10) cannot build without `required_plugins`. The modern dialect adds
 * packer_config.pkr.hcl and the Trusted Launch arguments on the gallery path.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsvm/context.h"

struct dsvm_lock;
struct dsvm_pwsh_step;

enum dsvm_packer_dialect {
	DSVM_PACKER_LEGACY, /* Packer 1.6.x: azure-arm built in */
	DSVM_PACKER_PLUGIN, /* Packer >= 1.7: required_plugins, newer azure-arm arguments */
};

/*
 * The dialect for a Packer version ("1.6.6", "1.11.2", "v1.7.0"). Returns 0, or -EINVAL for a
 * version that is not dotted numbers or is older than 1.6 (no HCL2 builds).
 */
int dsvm_packer_dialect_from_version(const char *version, enum dsvm_packer_dialect *ret);

/* One `source` block: one build VM, one image. */
struct dsvm_packer_source {
	const char *name;	   /* HCL label: [a-z][a-z0-9-]*, unique in the template */
	const char *target_args;   /* `dsvm-build image` target options, shell words */
	const char *build_vm_size; /* NULL: var.build_vm_size (the target needs no GPU to build) */
	const char *lock; /* the expected lock, relative to the payload; NULL: none (gpu auto) */
	const char *description; /* one line for the comment above the block */
};

struct dsvm_packer_spec {
	const char *edition;	  /* the edition's name (ubuntu-22.04) */
	const char *edition_path; /* relative to the payload (manifests/editions/ubuntu-22.04.yaml) */
	const char *os;		  /* the edition's os: picks the marketplace image */
	const char *platform;	  /* "linux" or "windows" */
	const struct dsvm_packer_source *sources;
	size_t n_sources;
	unsigned os_disk_size_gb; /* the variable's default: dsvm_packer_disk_size_gb() */
	enum dsvm_packer_dialect dialect;
	/* Windows: the provisioning steps in order (dsvm/pwsh.h), one powershell provisioner
	 * each; the same for every source (each source's lock lists the same components). */
	const struct dsvm_pwsh_step *windows_steps;
	size_t n_windows_steps;
};

/* What dsvm_packer_render() writes; each NULL where the dialect or platform has none. */
struct dsvm_packer_files {
	char *config;	 /* packer_config.pkr.hcl */
	char *variables; /* variables.pkr.hcl */
	char *sources;	 /* sources.pkr.hcl */
	char *build;	 /* build.pkr.hcl */
	char *steps;	 /* scripts/dsvm-ubuntu.sh (Ubuntu) */
};

/*
 * Render the template files. Returns 0 and fills *ret (the caller frees with
 * dsvm_packer_files_clear()), -EINVAL for an unknown os or a bad source name (error set),
 * -ENOMEM.
 */
int dsvm_packer_render(struct dsvm_ctx *ctx, const struct dsvm_packer_spec *spec,
		       struct dsvm_packer_files *ret);

void dsvm_packer_files_clear(struct dsvm_packer_files *f);

/* Whether an artifact of the lock has that sha256 (64 lower-case hex digits). */
bool dsvm_packer_lock_names_artifact(const struct dsvm_lock *lock, const char *sha256);

/* Bytes of every artifact a lock names (installed and staged), as the lock records them. */
uint64_t dsvm_packer_lock_payload_bytes(const struct dsvm_lock *lock);

/*
 * The OS disk (GB) a build VM needs for payloads of that many bytes: the marketplace image's
 * 30 GB, plus each payload three times over (the download cache, the staged copy in the offline
 * repository and what is unpacked), plus a quarter for what the lock cannot size (apt packages),
 * rounded up to a multiple of 16.
 */
unsigned dsvm_packer_disk_size_gb(uint64_t payload_bytes);

/* The steps the Ubuntu build runs (scripts/dsvm-ubuntu.sh STEP), in order. */
struct dsvm_packer_step {
	const char *name;
	const char *what;
};
extern const struct dsvm_packer_step dsvm_packer_ubuntu_steps[];
extern const size_t dsvm_packer_n_ubuntu_steps;
