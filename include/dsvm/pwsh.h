/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The Windows scripts generated from a lock (WINDOWS.md sections 2 and 3), all in Windows
 * PowerShell 5.1 syntax, for Packer's powershell provisioner and the image's first boot:
 *
 *   OUT/scripts/dsvm-provision.ps1   one invocation per lock component, in lock order:
 *                                    powershell.exe -File dsvm-provision.ps1 -Step NAME
 *                                    NAME is the component's name in the lock (a step of the
 *                                    lock's "stacks" stages a driver kind's payloads). The step
 *                                    downloads each artifact (TLS 1.2), checks its size, sealed
 *                                    sha256 (Get-FileHash) and, where pinned, its Authenticode
 *                                    signer before running it, installs it silently, stages
 *                                    driver payloads under DSVM_PWSH_PAYLOAD_DIR, and exits with
 *                                    the installer's code when it is one of the step's
 *                                    valid_exit_codes (3010: reboot required), else 1. An
 *                                    unknown NAME exits 64.
 *   OUT/scripts/dsvm-firstboot.ps1   the first-boot task: PnP + IMDS detection, the decision
 *                                    table of OUT/dsvm-catalog.json, install/remove drivers from
 *                                    the staged payloads, marker, event log, at most one reboot.
 *   OUT/scripts/dsvm-register-firstboot.ps1
 *                                    copies the two files above into DSVM_PWSH_DIR and registers
 *                                    the first-boot task (at startup, as SYSTEM).
 *   OUT/dsvm-catalog.json            the decision table and the staged payloads, from the lock
 *                                    and the hardware catalog.
 *
 * The template uploads the contents of OUT/scripts and OUT/dsvm-catalog.json into
 * DSVM_PWSH_UPLOAD_DIR on the build VM (a `file` provisioner; the folder flat, no "scripts"
 * level), runs the provisioning steps from there, then DSVM_PWSH_REGISTER_SCRIPT. A component of
 * kind "powershell" expects its script (struct dsvm_pwsh_step.script_path) in the same folder
 * under its base name; the step checks its sealed sha256 before running it.
 */

#include <stdbool.h>
#include <stddef.h>

#include "dsvm/catalog.h"
#include "dsvm/context.h"
#include "dsvm/lock.h"

/* Paths on the Windows VM, as the generated scripts use them. */
#define DSVM_PWSH_UPLOAD_DIR "C:\\Windows\\Temp\\dsvm"
#define DSVM_PWSH_DIR "C:\\ProgramData\\dsvm"
#define DSVM_PWSH_PAYLOAD_DIR "C:\\ProgramData\\dsvm\\payloads"
#define DSVM_PWSH_MARKER "C:\\ProgramData\\dsvm\\firstboot-state.json"
#define DSVM_PWSH_TASK_NAME "dsvm-firstboot"

/* File names under OUT. */
#define DSVM_PWSH_PROVISION_SCRIPT "scripts/dsvm-provision.ps1"
#define DSVM_PWSH_FIRSTBOOT_SCRIPT "scripts/dsvm-firstboot.ps1"
#define DSVM_PWSH_REGISTER_SCRIPT "scripts/dsvm-register-firstboot.ps1"
#define DSVM_PWSH_CATALOG_JSON "dsvm-catalog.json"

#define DSVM_PWSH_MAX_EXIT_CODES 4

/* One provisioning step; strings are owned by the lock. */
struct dsvm_pwsh_step {
	unsigned order;		 /* 1-based, the order the template runs them in */
	const char *name;	 /* the -Step argument: the component's name */
	const char *kind;	 /* msi, exe, zip, nvidia-redist, powershell, ... */
	const char *action;	 /* "install", or "stage" (payload staged for first boot only) */
	const char *script_path; /* kind powershell: repository-relative path of the script to
				  * upload (normalized, no ".."); NULL otherwise */
	bool may_reboot;	 /* an exit code asks for a reboot: follow with windows-restart */
	size_t n_valid_exit_codes;
	int valid_exit_codes[DSVM_PWSH_MAX_EXIT_CODES]; /* for valid_exit_codes = [...], 0 first */
};

/* The number of provisioning steps for lock (0 for a lock whose platform is not windows). */
size_t dsvm_pwsh_n_steps(const struct dsvm_lock *lock);

/* The i-th step, in order. Returns 0, or -ERANGE past the end; *ret is untouched on failure. */
int dsvm_pwsh_get_step(const struct dsvm_lock *lock, size_t i, struct dsvm_pwsh_step *ret);

/*
 * Write the three scripts and the catalog JSON under out_dir (created if missing; each file
 * written atomically). The output is a pure function of the lock and the catalog: the same
 * inputs give byte-identical files. An artifact awaiting its seal (resolve --allow-unsealed)
 * and a staged installer with no silent switch are written, with a warning through the
 * context's log, as data the scripts refuse at run time (before any download, and at first boot
 * respectively). Returns 0; -EINVAL for a lock whose platform is not
 * windows; -EBADMSG for a lock entry the scripts cannot express (a component kind with no
 * silent install, a value that would need quoting PowerShell cannot take), naming the component;
 * -errno for a file that cannot be written (the error names it).
 */
int dsvm_pwsh_write(struct dsvm_ctx *ctx, const struct dsvm_lock *lock,
		    const struct dsvm_catalog *cat, const char *out_dir);
