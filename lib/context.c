/* SPDX-License-Identifier: MIT */
#include <stdarg.h>

#include "internal.h"

/* Long enough for a file:line:col, the offending value and what would be valid. */
#define ERROR_TEXT_MAX 2048

struct dsvm_ctx {
	dsvm_log_fn log_fn;
	void *log_userdata;
	int log_max_priority;
	char *root;
	char *sysroot;
	char error[ERROR_TEXT_MAX];
};

struct dsvm_ctx *dsvm_ctx_new(void)
{
	struct dsvm_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	ctx->log_max_priority = DSVM_LOG_DEBUG;
	ctx->root = strdup("/");
	ctx->sysroot = strdup("/");
	if (!ctx->root || !ctx->sysroot) {
		dsvm_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

void dsvm_ctx_free(struct dsvm_ctx *ctx)
{
	if (!ctx)
		return;
	free(ctx->root);
	free(ctx->sysroot);
	free(ctx);
}

void dsvm_ctx_set_log(struct dsvm_ctx *ctx, dsvm_log_fn fn, void *userdata, int max_priority)
{
	ctx->log_fn = fn;
	ctx->log_userdata = userdata;
	ctx->log_max_priority = max_priority;
}

static int set_prefix(char **slot, const char *dir)
{
	char *copy;
	size_t n;

	if (!dir || !*dir)
		dir = "/";
	if (dir[0] != '/')
		return -EINVAL;
	copy = strdup(dir);
	if (!copy)
		return -ENOMEM;
	/* Keep "/" but drop trailing slashes elsewhere, so joining never doubles them. */
	n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	free(*slot);
	*slot = copy;
	return 0;
}

int dsvm_ctx_set_root(struct dsvm_ctx *ctx, const char *root)
{
	return set_prefix(&ctx->root, root);
}

int dsvm_ctx_set_sysroot(struct dsvm_ctx *ctx, const char *sysroot)
{
	return set_prefix(&ctx->sysroot, sysroot);
}

const char *dsvm_ctx_get_root(const struct dsvm_ctx *ctx)
{
	return ctx->root;
}

const char *dsvm_ctx_get_sysroot(const struct dsvm_ctx *ctx)
{
	return ctx->sysroot;
}

static char *prefix_path(const char *prefix, const char *path)
{
	if (streq(prefix, "/"))
		return strdup(path);
	return strdup_printf("%s%s", prefix, path);
}

char *dsvm_root_path(const struct dsvm_ctx *ctx, const char *path)
{
	return prefix_path(ctx->root, path);
}

char *dsvm_sysroot_path(const struct dsvm_ctx *ctx, const char *path)
{
	return prefix_path(ctx->sysroot, path);
}

int dsvm_set_errorv(struct dsvm_ctx *ctx, int r, const char *fmt, va_list ap)
{
	if (ctx) {
		vsnprintf(ctx->error, sizeof(ctx->error), fmt, ap);
		dsvm_log(ctx, DSVM_LOG_DEBUG, "error: %s", ctx->error);
	}
	return r;
}

int dsvm_set_error(struct dsvm_ctx *ctx, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dsvm_set_errorv(ctx, r, fmt, ap);
	va_end(ap);
	return r;
}

const char *dsvm_ctx_get_error(const struct dsvm_ctx *ctx)
{
	return ctx->error;
}

void dsvm_ctx_clear_error(struct dsvm_ctx *ctx)
{
	ctx->error[0] = '\0';
}

void dsvm_log(struct dsvm_ctx *ctx, int priority, const char *fmt, ...)
{
	char msg[ERROR_TEXT_MAX];
	va_list ap;

	if (!ctx || !ctx->log_fn || priority > ctx->log_max_priority)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->log_fn(ctx->log_userdata, priority, msg);
}

int dsvm_exit_code(int r)
{
	if (r >= 0)
		return DSVM_EXIT_OK;
	switch (-r) {
	case EBADMSG:
	case EILSEQ:
	case EPROTO:
	case EOVERFLOW:
	case E2BIG:
	case ELOOP:
	case EFBIG:
	case EDOM:
		return DSVM_EXIT_DATAERR;
	case ENOENT:
	case ENOTDIR:
		return DSVM_EXIT_NOINPUT;
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ECONNREFUSED:
	case ECONNRESET:
		return DSVM_EXIT_UNAVAILABLE;
	case EROFS:
	case EEXIST:
		return DSVM_EXIT_CANTCREAT;
	case EIO:
	case ENOSPC:
	case EDQUOT:
		return DSVM_EXIT_IOERR;
	case EAGAIN:
	case ETIMEDOUT:
	case EBUSY:
		return DSVM_EXIT_TEMPFAIL;
	case EACCES:
	case EPERM:
		return DSVM_EXIT_NOPERM;
	case EINVAL:
		return DSVM_EXIT_USAGE;
	default:
		return DSVM_EXIT_FAILURE;
	}
}

char *root_path_resolved(const struct dsvm_ctx *ctx, const char *img)
{
	char *host = NULL;
	int r = path_in_root(dsvm_ctx_get_root(ctx), img, &host);

	/* A root that does not exist yet has no link to follow: its path is the plain join. */
	if (r == -ENOENT)
		return dsvm_root_path(ctx, img);
	return r < 0 ? NULL : host;
}
