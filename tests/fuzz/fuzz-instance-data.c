/* SPDX-License-Identifier: MIT */

/*
 * libFuzzer target for the two JSON documents that carry the VM size: cloud-init's
 * instance-data.json and IMDS's compute answer. Both parsers get the same bytes.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dsvm_ctx *ctx;
	char *buf, *s = NULL;

	if (!ctx && !(ctx = dsvm_ctx_new()))
		return 0;
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (instance_data_parse_vm_size(ctx, buf, size, &s) == 0) {
		if (!dsvm_vm_size_is_valid(s))
			abort();
		free(s);
		s = NULL;
	}
	if (imds_parse_vm_size(ctx, buf, size, &s) == 0) {
		if (!dsvm_vm_size_is_valid(s))
			abort();
		free(s);
	}
	free(buf);
	return 0;
}
