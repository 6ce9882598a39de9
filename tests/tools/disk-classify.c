/* SPDX-License-Identifier: MIT */

/*
 * disk-classify PATH...: run dsvm_disk_classify() on block devices or image files and print one
 * JSON object per path, for tests/integration/test-disks.sh. Exit 0, or 66 when a path cannot
 * be opened.
 */

#include <stdio.h>

#include <jansson.h>

#include "dsvm/disk.h"

int main(int argc, char **argv)
{
	struct dsvm_ctx *ctx = dsvm_ctx_new();
	int rc = 0;

	if (!ctx)
		return 1;
	if (argc < 2) {
		fprintf(stderr, "usage: disk-classify PATH...\n");
		dsvm_ctx_free(ctx);
		return 64;
	}
	for (int i = 1; i < argc; i++) {
		struct dsvm_disk_probe p;
		json_t *o;
		char *text;
		int r = dsvm_disk_classify(ctx, argv[i], &p);

		if (r < 0) {
			fprintf(stderr, "disk-classify: %s\n", dsvm_ctx_get_error(ctx));
			rc = dsvm_exit_code(r);
			continue;
		}
		o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:i, s:b}", "path", argv[i],
			      "content", dsvm_disk_content_to_string(p.content), "pttype", p.pttype,
			      "partitions", (int)p.n_partitions, "fs_partition",
			      (int)p.fs_partition, "fstype", p.fstype, "label", p.label,
			      "ntfs_other_files", (int)p.n_files, "ntfs_warning_file",
			      p.warning_file);
		text = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (!text) {
			json_decref(o);
			dsvm_ctx_free(ctx);
			return 1;
		}
		puts(text);
		free(text);
		json_decref(o);
	}
	dsvm_ctx_free(ctx);
	return rc;
}
