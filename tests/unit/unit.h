/* SPDX-License-Identifier: MIT */
#pragma once

/* Common includes and helpers for the cmocka unit tests (one binary per module). */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "dsvm/context.h"

/* Source tree root, so tests find fixtures wherever they are run from. */
#ifndef DSVM_SRCDIR
#define DSVM_SRCDIR "."
#endif

static inline struct dsvm_ctx *unit_ctx(void)
{
	struct dsvm_ctx *ctx = dsvm_ctx_new();

	assert_non_null(ctx);
	return ctx;
}

/* Assert the context's error text contains needle, and print it when it does not. */
#define assert_error_contains(ctx, needle)                                                         \
	do {                                                                                       \
		const char *_e = dsvm_ctx_get_error(ctx);                                          \
		if (!strstr(_e, (needle)))                                                         \
			fail_msg("error '%s' does not contain '%s'", _e, (needle));                \
	} while (0)

/* Assert a library call succeeded, printing the context's error text when it did not. */
#define assert_ok(ctx, expr)                                                                       \
	do {                                                                                       \
		int _r = (expr);                                                                   \
		if (_r < 0)                                                                        \
			fail_msg("%s = %d: %s", #expr, _r, dsvm_ctx_get_error(ctx));               \
	} while (0)

/* Run a program (argv[0] looked up in PATH) with stdout on /dev/null; returns its exit status. */
static inline int unit_run_status(char *const argv[])
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* The same, and the program must succeed. */
static inline void unit_run(char *const argv[])
{
	assert_int_equal(unit_run_status(argv), 0);
}
