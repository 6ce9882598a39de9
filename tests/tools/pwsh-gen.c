/* SPDX-License-Identifier: MIT */
/*
 * pwsh-gen LOCK CATALOG_DIR OUT_DIR: write the Windows scripts of a lock (dsvm_pwsh_write) and
 * print the provisioning steps, one a line: "order name kind action may_reboot codes,...".
 * For test-pwsh.sh; `dsvm-build packer` writes the same files for a template.
 */
#include <errno.h>
#include <stdio.h>

#include "dsvm/catalog.h"
#include "dsvm/lock.h"
#include "dsvm/pwsh.h"

int main(int argc, char **argv)
{
	struct dsvm_ctx *ctx = dsvm_ctx_new();
	struct dsvm_catalog *cat = NULL;
	struct dsvm_lock *lock = NULL;
	int r;

	if (argc != 4 || !ctx) {
		fprintf(stderr, "usage: pwsh-gen LOCK CATALOG_DIR OUT_DIR\n");
		return 64;
	}
	r = dsvm_lock_load(ctx, argv[1], &lock);
	if (r == 0)
		r = dsvm_catalog_load(ctx, argv[2], &cat);
	if (r == 0)
		r = dsvm_pwsh_write(ctx, lock, cat, argv[3]);
	if (r < 0) {
		fprintf(stderr, "pwsh-gen: %s\n", dsvm_ctx_get_error(ctx));
		dsvm_lock_free(lock);
		dsvm_catalog_free(cat);
		dsvm_ctx_free(ctx);
		return r == -EBADMSG ? 65 : 1;
	}
	for (size_t i = 0; i < dsvm_pwsh_n_steps(lock); i++) {
		struct dsvm_pwsh_step s;

		if (dsvm_pwsh_get_step(lock, i, &s) < 0)
			break;
		printf("%u %s %s %s %d ", s.order, s.name, s.kind, s.action, s.may_reboot);
		for (size_t j = 0; j < s.n_valid_exit_codes; j++)
			printf("%s%d", j ? "," : "", s.valid_exit_codes[j]);
		printf("\n");
	}
	dsvm_lock_free(lock);
	dsvm_catalog_free(cat);
	dsvm_ctx_free(ctx);
	return 0;
}
