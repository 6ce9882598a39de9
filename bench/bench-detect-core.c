/* SPDX-License-Identifier: MIT */
/*
 * In-process cost of one detection: the catalog loaded (as a long-lived caller would, once; timed
 * over up to 50 loads), then PCI/InfiniBand/efivars/kernel scan + driver selection + the --json
 * report, N times. Prints both medians in microseconds, one per line.
 * Usage: bench-detect-core SYSROOT CATALOG_DIR RUNS
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "dsvm/catalog.h"
#include "dsvm/detect.h"
#include "dsvm/select.h"

int main(int argc, char **argv)
{
	struct dsvm_hw_options opts = { .no_imds = true };
	struct dsvm_ctx *ctx = dsvm_ctx_new();
	struct dsvm_catalog *cat = NULL;
	double start, catalog_us, *t;
	int runs;

	if (argc != 4 || !ctx || dsvm_ctx_set_sysroot(ctx, argv[1]) < 0)
		return 64;
	runs = atoi(argv[3]);
	if (runs < 1 || runs > 100000 || !(t = calloc((size_t)runs, sizeof(*t))))
		return 64;
	/* The catalog load, as the median of up to 50 (one sample is mostly noise). */
	for (int i = 0; i < runs && i < 50; i++) {
		dsvm_catalog_free(cat);
		cat = NULL;
		start = bench_now_us();
		if (dsvm_catalog_load(ctx, argv[2], &cat) < 0) {
			fprintf(stderr, "bench-detect-core: %s\n", dsvm_ctx_get_error(ctx));
			return 1;
		}
		t[i] = bench_now_us() - start;
	}
	catalog_us = bench_median(t, (size_t)(runs < 50 ? runs : 50));
	for (int i = 0; i < runs; i++) {
		struct dsvm_hw_summary summary;
		struct dsvm_choice choice;
		struct dsvm_hw *hw = NULL;
		char *json = NULL;

		start = bench_now_us();
		if (dsvm_hw_detect(ctx, &opts, &hw) < 0) {
			fprintf(stderr, "bench-detect-core: %s\n", dsvm_ctx_get_error(ctx));
			return 1;
		}
		dsvm_hw_get_summary(hw, &summary);
		if (dsvm_driver_select(ctx, cat, &summary, &choice) < 0 ||
		    dsvm_detect_report_to_json(
			    &(struct dsvm_detect_report){ hw, cat, &choice, NULL, 0 }, &json) < 0) {
			fprintf(stderr, "bench-detect-core: %s\n", dsvm_ctx_get_error(ctx));
			return 1;
		}
		t[i] = bench_now_us() - start;
		free(json);
		dsvm_hw_free(hw);
	}
	printf("%.1f\n%.1f\n", bench_median(t, (size_t)runs), catalog_us);
	free(t);
	dsvm_catalog_free(cat);
	dsvm_ctx_free(ctx);
	return 0;
}
