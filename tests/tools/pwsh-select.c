/* SPDX-License-Identifier: MIT */
/*
 * pwsh-select CATALOG_DIR: for each stdin line "SIZE ID..." (SIZE "-" when unknown, each ID
 * "vvvv:dddd" in hex) print the driver kind dsvm_driver_select() chooses, one a line. For
 * test-pwsh.sh, which compares it with the Windows first-boot decision table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsvm/catalog.h"
#include "dsvm/select.h"

#define MAX_IDS 64

int main(int argc, char **argv)
{
	struct dsvm_ctx *ctx = dsvm_ctx_new();
	struct dsvm_catalog *cat = NULL;
	char line[4096];

	if (argc != 2 || !ctx) {
		fprintf(stderr, "usage: pwsh-select CATALOG_DIR < cases\n");
		return 64;
	}
	if (dsvm_catalog_load(ctx, argv[1], &cat) < 0) {
		fprintf(stderr, "pwsh-select: %s\n", dsvm_ctx_get_error(ctx));
		dsvm_ctx_free(ctx);
		return 66;
	}
	while (fgets(line, sizeof(line), stdin)) {
		struct dsvm_hw_gpu gpus[MAX_IDS];
		struct dsvm_hw_summary hw = { .gpus = gpus };
		struct dsvm_choice choice;
		char *save = NULL, *tok = strtok_r(line, " \n", &save);
		unsigned v, d;

		if (!tok)
			continue;
		hw.vm_size = strcmp(tok, "-") == 0 ? NULL : tok;
		while ((tok = strtok_r(NULL, " \n", &save)) && hw.n_gpus < MAX_IDS) {
			if (sscanf(tok, "%4x:%4x", &v, &d) != 2) {
				fprintf(stderr, "pwsh-select: '%s' is not vvvv:dddd\n", tok);
				return 65;
			}
			gpus[hw.n_gpus++] = (struct dsvm_hw_gpu){ .vendor_id = (uint16_t)v,
								  .device_id = (uint16_t)d };
		}
		if (dsvm_driver_select(ctx, cat, &hw, &choice) < 0) {
			fprintf(stderr, "pwsh-select: %s\n", dsvm_ctx_get_error(ctx));
			return 1;
		}
		printf("%s\n", dsvm_driver_kind_to_string(choice.kind));
	}
	dsvm_catalog_free(cat);
	dsvm_ctx_free(ctx);
	return 0;
}
