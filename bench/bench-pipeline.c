/* SPDX-License-Identifier: MIT */
/*
 * Fetches, verifies and extracts artifacts in one pass with dsvm_prepare_items, once, and prints
 * one line: seconds, bytes transferred, bytes extracted, entries, peak RSS (KiB), items cached,
 * fetched, fallback. Usage:
 *   bench-pipeline CACHE_DIR STAGE_DIR BASE_URL PARALLEL ARTIFACTS_TXT
 * ARTIFACTS_TXT lines are "name sha256 size ..." (bench/make-pipeline-data.py); each artifact is
 * BASE_URL/name, extracted into STAGE_DIR/name (STAGE_DIR must exist).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "dsvm/prepare.h"

#define MAX_ITEMS 64

int main(int argc, char **argv)
{
	static char names[MAX_ITEMS][128], shas[MAX_ITEMS][65], urls[MAX_ITEMS][512],
		stages[MAX_ITEMS][512];
	struct dsvm_prepare_item items[MAX_ITEMS];
	struct dsvm_fetch_options o = { 0 };
	struct dsvm_prepare_stats st;
	struct dsvm_ctx *ctx = dsvm_ctx_new();
	unsigned long long size;
	struct rusage ru;
	char line[1024];
	size_t n = 0;
	double start;
	FILE *f;

	if (argc != 6 || !ctx)
		return 64;
	f = fopen(argv[5], "re");
	if (!f)
		return 66;
	while (n < MAX_ITEMS && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %64s %llu", names[n], shas[n], &size) != 3)
			continue;
		snprintf(urls[n], sizeof(urls[n]), "%s/%s", argv[3], names[n]);
		snprintf(stages[n], sizeof(stages[n]), "%s/%s", argv[2], names[n]);
		items[n] = (struct dsvm_prepare_item){
			.fetch = { .name = names[n],
				   .url = urls[n],
				   .sha256 = shas[n],
				   .size = size },
			.staging_dir = stages[n],
		};
		n++;
	}
	fclose(f);
	o.cache_dir = argv[1];
	o.parallel = (unsigned)atoi(argv[4]);
	start = bench_now_us();
	if (dsvm_prepare_items(ctx, &o, items, n, NULL, &st) < 0) {
		fprintf(stderr, "bench-pipeline: %s\n", dsvm_ctx_get_error(ctx));
		return 1;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("%.3f %llu %llu %llu %ld %zu %zu %zu\n", (bench_now_us() - start) / 1e6,
	       (unsigned long long)st.transferred, (unsigned long long)st.extracted,
	       (unsigned long long)st.entries, ru.ru_maxrss, st.cached, st.fetched, st.fallback);
	dsvm_ctx_free(ctx);
	return 0;
}
