/* SPDX-License-Identifier: MIT */
#pragma once

/* The core of include/dsvm/exec.h, for lib/ modules that need more than its two calls. */

#include "dsvm/exec.h"

enum run_flags {
	/* A non-zero exit status is an error (-ECHILD) naming the command and its output's end. */
	RUN_MUST_SUCCEED = 1u << 0,
};

/* As dsvm_root_run, with root given ("/": no chroot) and flags. */
int run_program(struct dsvm_ctx *ctx, const char *root, const char *const *argv,
		const char *const *env, unsigned timeout_s, unsigned flags, char **ret_output);
