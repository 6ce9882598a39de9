/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The installer's per-kind handlers that run programs in the root, used by lib/install.c (the
 * journaled runner, with the file, archive, redist, service and stage steps): lib/install-exec.c
 * (running a command with the root as /; pip, runfile, script) and lib/install-apt.c (apt).
 * Their state and file primitives are lib/install-files.h. Never included outside lib/.
 */

#include <stdbool.h>

#include <jansson.h>

#include "dsvm/install.h"
#include "dsvm/journal.h"

#include "install-files.h"

/*
 * Run argv[0] (an absolute path inside the root) with the root as '/': chroot(2) into --root
 * unless it is '/', working directory '/', standard input /dev/null, and an environment of
 * PATH, LC_ALL=C, HOME=/root and DEBIAN_FRONTEND=noninteractive plus env (NULL-terminated
 * "NAME=value" entries, may be NULL). Its output (stdout and stderr together) is captured: the
 * last few KiB go into the error when it fails, and the whole of stdout-and-stderr, capped at
 * 1 MiB, into *ret_output when ret_output is not NULL. Returns the exit status (0..255) -- the
 * caller decides what a non-zero status means -- or -errno when it could not run; -EPERM when
 * --root is not '/' and this process may not chroot (run as root).
 */
int installer_run(struct installer *in, const char *const *argv, const char *const *env,
		  char **ret_output);

/* apt (lib/install-apt.c): install exact versions and hold them; stage a kind's packages. */
int installer_apt_install(struct installer *in, const json_t *c, char **ret_dest);
int installer_apt_stage(struct installer *in, const json_t *c, char **ret_dest);
/*
 * The image's record of its .deb files (DSVM_IMAGE_PACKAGES, beside the lock): every package
 * the lock's apt components installed or staged, from their receipts, with the architecture,
 * size and sha256 of the signed index apt verified each download against. JSON text in *ret.
 */
int installer_apt_record(struct installer *in, char **ret);
/*
 * Whether rc, an apt receipt read back from INSTALLED_DIR, has every field its action writes,
 * each of the right type and shape. One that does not counts as absent: the step is redone.
 */
bool installer_apt_receipt_is_valid(const json_t *rc);
/*
 * The file in dir (host path) whose SHA-256 is want[i] (lowercase hex), for each of the n, into
 * ret_paths[i] (newly allocated; NULL where no file has it). Each file of dir is hashed once
 * however many are wanted; *ret_hashed (may be NULL) says how many were. Returns 0 or -errno.
 */
int installer_find_by_sha256(const char *dir, const char *const *want, size_t n, char **ret_paths,
			     size_t *ret_hashed);

/* lib/install-exec.c: wheels into an environment, runfiles, scripts. */
int installer_pip_install(struct installer *in, const json_t *c, char **ret_dest);
/* runfile and script: the one artifact run once with /bin/sh inside the root, with args. */
int installer_run_program(struct installer *in, const json_t *c, char **ret_dest);
