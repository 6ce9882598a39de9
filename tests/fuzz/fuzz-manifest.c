/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the YAML layer and the component-file schema checks, on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "dsvm/context.h"
#include "dsvm/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dsvm_ctx *ctx = dsvm_ctx_new();

	if (!ctx)
		return 0;
	(void)dsvm_manifest_parse_components(ctx, "fuzz.yaml", (const char *)data, size);
	dsvm_ctx_free(ctx);
	return 0;
}
