/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Running an external program: the bottom layer under the install steps (lib/install-*.c) and
 * the offline apt switch (include/dsvm/apt-offline.h), usable by both binaries.
 *
 * The program runs with standard input /dev/null, working directory '/', and an environment of
 * PATH, LC_ALL=C, HOME=/root and DEBIAN_FRONTEND=noninteractive, the caller's http_proxy,
 * https_proxy and no_proxy when set, plus env (NULL-terminated "NAME=value" entries, may be
 * NULL). It runs in a process group of its own, so a time limit stops everything it started.
 * Its output (stdout and stderr together) is captured: the last few KiB go into the context's
 * error when it fails, and the whole of it, capped at 1 MiB, into *ret_output when ret_output is
 * not NULL (the caller frees it; "" when it said nothing).
 *
 * timeout_s: 0 for no limit; otherwise, when the program has not finished after timeout_s
 * seconds, its process group gets SIGTERM and, after a grace of a quarter of timeout_s (at least
 * 1 s, at most 10 s), SIGKILL, and the call returns -ETIME with the error saying so. Nothing
 * outside can hold the caller longer than timeout_s plus the grace (and a second for output).
 *
 * Returns the exit status (0..255; the caller decides what a non-zero one means: no error is set
 * for it), or -errno when it could not run or did not end by itself: -ENOENT (exit 127: the
 * program is missing in the root), -ECHILD (exit 126: it could not be started), -ETIME (time
 * limit), -EINTR (killed by a signal), -EPERM (chroot(2) needs root), -ENOMEM; each with the
 * error set, naming the command line and the root.
 */

#include "dsvm/context.h"

/*
 * argv[0], an absolute path inside the context's root, with the root as '/': chroot(2) into it
 * unless it is '/'.
 */
int dsvm_root_run(struct dsvm_ctx *ctx, const char *const *argv, const char *const *env,
		  unsigned timeout_s, char **ret_output);

/*
 * argv[0], an absolute path on the machine this runs on, whatever the context's root (the
 * builder's own tools, such as gpg for signing the image's offline repository).
 */
int dsvm_host_run(struct dsvm_ctx *ctx, const char *const *argv, const char *const *env,
		  unsigned timeout_s, char **ret_output);
