/* SPDX-License-Identifier: MIT */

/*
 * kernel-hold: dsvm_hold_kernel (include/dsvm/kernel-hold.h) on the command line, for
 * tests/integration/test-kernel-hold.sh, as `dsvm-build image` calls it at its end:
 *   kernel-hold --root DIR      prints the packages it newly held, one a line
 *   kernel-hold --is NAME       exit 0 when NAME is a kernel package, 1 when not
 * Exit 0, 64 for usage, else dsvm_exit_code() of the failure (the error on stderr).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsvm/kernel-hold.h"

int main(int argc, char **argv)
{
	struct dsvm_ctx *ctx;
	char **held = NULL;
	int r;

	if (argc == 3 && strcmp(argv[1], "--is") == 0)
		return dsvm_is_kernel_package(argv[2]) ? 0 : 1;
	if (argc != 3 || strcmp(argv[1], "--root") != 0) {
		fprintf(stderr, "usage: kernel-hold --root DIR | --is NAME\n");
		return 64;
	}
	ctx = dsvm_ctx_new();
	if (!ctx || dsvm_ctx_set_root(ctx, argv[2]) < 0) {
		fprintf(stderr, "kernel-hold: bad root '%s'\n", argv[2]);
		return 64;
	}
	r = dsvm_hold_kernel(ctx, 120, &held);
	if (r < 0) {
		fprintf(stderr, "kernel-hold: %s\n", dsvm_ctx_get_error(ctx));
		r = dsvm_exit_code(r);
	} else {
		for (size_t i = 0; held && held[i]; i++) {
			puts(held[i]);
			free(held[i]);
		}
		r = 0;
	}
	free(held);
	dsvm_ctx_free(ctx);
	return r;
}
