/* SPDX-License-Identifier: MIT */
/*
 * Times loading + resolving an edition, in process, N times; prints the median in microseconds.
 * Usage: bench-resolve EDITION CATALOG_DIR RUNS
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "dsvm/catalog.h"
#include "dsvm/lock.h"
#include "dsvm/manifest.h"

int main(int argc, char **argv)
{
	struct dsvm_ctx *ctx = dsvm_ctx_new();
	struct dsvm_catalog *cat = NULL;
	double *t;
	int runs;

	if (argc != 4 || !ctx)
		return 64;
	runs = atoi(argv[3]);
	if (runs < 1 || runs > 100000)
		return 64;
	t = calloc((size_t)runs, sizeof(*t));
	if (!t || dsvm_catalog_load(ctx, argv[2], &cat) < 0) {
		fprintf(stderr, "bench-resolve: %s\n", dsvm_ctx_get_error(ctx));
		return 1;
	}
	for (int i = 0; i < runs; i++) {
		struct dsvm_manifest *m = NULL;
		struct dsvm_lock *lock = NULL;
		struct dsvm_target target;
		char *text = NULL;
		double start = bench_now_us();

		if (dsvm_manifest_load(ctx, argv[1], &m) < 0) {
			fprintf(stderr, "bench-resolve: %s\n", dsvm_ctx_get_error(ctx));
			return 1;
		}
		dsvm_target_init(&target, dsvm_manifest_get_os(m), dsvm_manifest_get_arch(m));
		target.driver_kind = DSVM_DRIVER_NONE;
		if (dsvm_resolve(ctx, m, cat, &target, DSVM_RESOLVE_ALL_DRIVER_KINDS, &lock) < 0 ||
		    dsvm_lock_to_string(lock, &text) < 0) {
			fprintf(stderr, "bench-resolve: %s\n", dsvm_ctx_get_error(ctx));
			return 1;
		}
		t[i] = bench_now_us() - start;
		free(text);
		dsvm_lock_free(lock);
		dsvm_manifest_free(m);
	}
	printf("%.1f\n", bench_median(t, (size_t)runs));
	free(t);
	dsvm_catalog_free(cat);
	dsvm_ctx_free(ctx);
	return 0;
}
