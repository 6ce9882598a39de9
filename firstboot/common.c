/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsvm/cli.h"
#include "firstboot.h"

static bool is_dir(const char *path)
{
	return access(path, R_OK | X_OK) == 0;
}

/*
 * A binary in a build tree (<src>/build/) uses <src>/manifests/hardware, so a fresh build never
 * reads an older installed catalog; an installed one finds <prefix>/share/dsvm beside
 * <prefix>/sbin; the image's fixed place last.
 */
char *firstboot_default_catalog(void)
{
	static const char *const relative[] = { "/../manifests/hardware", "/../share/dsvm/"
									  "manifests/hardware" };
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			for (size_t i = 0; i < sizeof(relative) / sizeof(relative[0]); i++) {
				char *dir;

				if (asprintf(&dir, "%s%s", exe, relative[i]) < 0)
					return NULL;
				if (is_dir(dir))
					return dir;
				free(dir);
			}
		}
	}
	return strdup(FIRSTBOOT_INSTALLED_CATALOG);
}

char *reconcile_catalog(struct dsvm_ctx *ctx, const char *given)
{
	char *image;

	if (given)
		return strdup(given);
	image = dsvm_root_path(ctx, DSVM_IMAGE_CATALOG);
	if (image && is_dir(image))
		return image;
	free(image);
	return firstboot_default_catalog();
}

int firstboot_args_parse(const char *verb, const char *usage, unsigned allowed, int argc,
			 char **argv, struct firstboot_args *a)
{
	enum {
		OPT_ROOT = 256,
		OPT_SYSROOT,
		OPT_CATALOG,
		OPT_LOCK,
		OPT_VM_SIZE,
		OPT_IMDS,
		OPT_NO_IMDS,
		OPT_NO_DISKS,
		OPT_JSON
	};
	static const struct {
		struct option option;
		unsigned set;
	} table[] = {
		{ { "root", required_argument, NULL, OPT_ROOT }, FB_OPT_ROOT },
		{ { "sysroot", required_argument, NULL, OPT_SYSROOT }, FB_OPT_SYSROOT },
		{ { "catalog", required_argument, NULL, OPT_CATALOG }, FB_OPT_CATALOG },
		{ { "lock", required_argument, NULL, OPT_LOCK }, FB_OPT_LOCK },
		{ { "vm-size", required_argument, NULL, OPT_VM_SIZE }, FB_OPT_HW },
		{ { "imds", required_argument, NULL, OPT_IMDS }, FB_OPT_HW },
		{ { "no-imds", no_argument, NULL, OPT_NO_IMDS }, FB_OPT_HW },
		{ { "no-disks", no_argument, NULL, OPT_NO_DISKS }, FB_OPT_NO_DISKS },
		{ { "json", no_argument, NULL, OPT_JSON }, FB_OPT_JSON },
		{ { "verbose", no_argument, NULL, 'v' }, FB_OPT_VERBOSE },
		{ { "help", no_argument, NULL, 'h' }, ~0u },
	};
	/* Only the verb's options exist for getopt: another verb's is an unknown option here. */
	struct option options[sizeof(table) / sizeof(table[0]) + 1] = {};
	size_t n = 0;
	int c;

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].set & allowed)
			options[n++] = table[i].option;
	optind = 1;
	while ((c = getopt_long(argc, argv, allowed & FB_OPT_VERBOSE ? "vh" : "h", options,
				NULL)) != -1) {
		switch (c) {
		case OPT_ROOT:
			a->root = optarg;
			break;
		case OPT_SYSROOT:
			a->sysroot = optarg;
			break;
		case OPT_CATALOG:
			a->opts.catalog_dir = optarg;
			break;
		case OPT_LOCK:
			a->opts.lock_path = optarg;
			break;
		case OPT_VM_SIZE:
			a->opts.hw.vm_size = optarg;
			break;
		case OPT_IMDS:
			a->opts.hw.imds_url = optarg;
			break;
		case OPT_NO_IMDS:
			a->opts.hw.no_imds = true;
			break;
		case OPT_NO_DISKS:
			a->no_disks = true;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case 'v':
			a->verbose = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		default:
			fprintf(stderr, "%s: run '%s %s --help' for the options\n",
				FIRSTBOOT_PROGRAM, FIRSTBOOT_PROGRAM, verb);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: %s takes no arguments ('%s'); see '%s %s --help'\n",
			FIRSTBOOT_PROGRAM, verb, argv[optind], FIRSTBOOT_PROGRAM, verb);
		return -EINVAL;
	}
	if (a->opts.hw.imds_url && strncmp(a->opts.hw.imds_url, "http://", 7) != 0) {
		fprintf(stderr, "%s: --imds '%s' must be an http:// URL (IMDS has no TLS)\n",
			FIRSTBOOT_PROGRAM, a->opts.hw.imds_url);
		return -EINVAL;
	}
	if (a->opts.hw.no_imds && a->opts.hw.imds_url) {
		fprintf(stderr, "%s: --imds and --no-imds contradict each other; pick one\n",
			FIRSTBOOT_PROGRAM);
		return -EINVAL;
	}
	return 0;
}

int firstboot_context(const struct firstboot_args *a, struct dsvm_ctx **ret)
{
	static struct dsvm_cli_log log = { FIRSTBOOT_PROGRAM, false };
	struct dsvm_ctx *ctx = dsvm_ctx_new();
	int r;

	if (!ctx) {
		fprintf(stderr, "%s: out of memory\n", FIRSTBOOT_PROGRAM);
		return -ENOMEM;
	}
	log.journal_prefix = getenv("JOURNAL_STREAM") != NULL;
	dsvm_ctx_set_log(ctx, dsvm_cli_log_stderr, &log,
			 a->verbose ? DSVM_LOG_DEBUG : DSVM_LOG_WARNING);
	r = dsvm_ctx_set_root(ctx, a->root);
	if (r < 0) {
		fprintf(stderr, "%s: --root '%s' must be an absolute path\n", FIRSTBOOT_PROGRAM,
			a->root);
		dsvm_ctx_free(ctx);
		return r;
	}
	r = dsvm_ctx_set_sysroot(ctx, a->sysroot);
	if (r < 0) {
		fprintf(stderr, "%s: --sysroot '%s' must be an absolute path\n", FIRSTBOOT_PROGRAM,
			a->sysroot);
		dsvm_ctx_free(ctx);
		return r;
	}
	*ret = ctx;
	return 0;
}
