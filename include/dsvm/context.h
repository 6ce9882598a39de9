/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The library context: error detail, logging, and the two path prefixes every module reads
 * through (--root for the system being changed, --sysroot for the hardware being detected).
 *
 * Conventions for all of libdsvm: functions return int, >= 0 on success and -errno on failure,
 * with a sentence for a human kept in the context (dsvm_ctx_get_error()). Constructors return
 * NULL only when memory runs out. Output parameters are named ret_* and are written only on
 * success. _free() functions accept NULL.
 */

#include <stdarg.h>
#include <stdbool.h>

struct dsvm_ctx;

/* syslog-style priorities, so the binaries can prefix <3>..<7> for journald. */
enum dsvm_log_priority {
	DSVM_LOG_ERR = 3,
	DSVM_LOG_WARNING = 4,
	DSVM_LOG_NOTICE = 5,
	DSVM_LOG_INFO = 6,
	DSVM_LOG_DEBUG = 7,
};

typedef void (*dsvm_log_fn)(void *userdata, int priority, const char *msg);

/* Returns a new context (root "/" and sysroot "/"), or NULL on OOM. Caller frees. */
struct dsvm_ctx *dsvm_ctx_new(void);
void dsvm_ctx_free(struct dsvm_ctx *ctx);

/* Messages at or below max_priority reach fn; the default is no callback at all. */
void dsvm_ctx_set_log(struct dsvm_ctx *ctx, dsvm_log_fn fn, void *userdata, int max_priority);

/* Both accept NULL for "/". Returns 0, -EINVAL for a relative path, -ENOMEM. */
int dsvm_ctx_set_root(struct dsvm_ctx *ctx, const char *root);
int dsvm_ctx_set_sysroot(struct dsvm_ctx *ctx, const char *sysroot);
const char *dsvm_ctx_get_root(const struct dsvm_ctx *ctx);
const char *dsvm_ctx_get_sysroot(const struct dsvm_ctx *ctx);

/*
 * Prefix an absolute path with --root or --sysroot. Returns a newly allocated string the caller
 * frees, or NULL on OOM. The path must start with '/'.
 */
char *dsvm_root_path(const struct dsvm_ctx *ctx, const char *path);
char *dsvm_sysroot_path(const struct dsvm_ctx *ctx, const char *path);

/*
 * Record what failed, for the binary to print. Returns r unchanged, so callers write
 * `return dsvm_set_error(ctx, -EBADMSG, "%s:%u:%u: ...", ...)`. A later call replaces the text.
 */
int dsvm_set_error(struct dsvm_ctx *ctx, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int dsvm_set_errorv(struct dsvm_ctx *ctx, int r, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* The last error text, "" when none. Owned by ctx, valid until the next set or free. */
const char *dsvm_ctx_get_error(const struct dsvm_ctx *ctx);
void dsvm_ctx_clear_error(struct dsvm_ctx *ctx);

/* Send a message through the context's log callback. */
void dsvm_log(struct dsvm_ctx *ctx, int priority, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Exit codes (sysexits), documented in the README and stable. */
enum dsvm_exit {
	DSVM_EXIT_OK = 0,
	DSVM_EXIT_FAILURE = 1,
	DSVM_EXIT_USAGE = 64,
	DSVM_EXIT_DATAERR = 65,
	DSVM_EXIT_NOINPUT = 66,
	DSVM_EXIT_UNAVAILABLE = 69,
	DSVM_EXIT_CANTCREAT = 73,
	DSVM_EXIT_IOERR = 74,
	DSVM_EXIT_TEMPFAIL = 75,
	DSVM_EXIT_NOPERM = 77,
};

/*
 * Map a library error (-errno) to the exit code scripts rely on:
 * -EBADMSG/-EILSEQ/-EPROTO/-EOVERFLOW/-E2BIG/-ELOOP -> 65, -ENOENT/-ENOTDIR -> 66,
 * -EHOSTUNREACH/-ENETUNREACH/-ECONNREFUSED/-ECONNRESET -> 69, -EROFS/-EEXIST -> 73,
 * -EIO/-ENOSPC/-EDQUOT -> 74, -EAGAIN/-ETIMEDOUT/-EBUSY -> 75, -EACCES/-EPERM -> 77,
 * -EINVAL -> 64, 0 and positive -> 0, anything else -> 1.
 */
int dsvm_exit_code(int r);
