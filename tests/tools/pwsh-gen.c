/* SPDX-License-Identifier: MIT */
/*
 * pwsh-gen LOCK CATALOG_DIR OUT_DIR: write the Windows scripts of a lock (dsvm_pwsh_write) and
 * print the provisioning steps, one a line: "order name kind action may_reboot codes,...".
 * For test-pwsh.sh; `dsvm-build packer` writes the same files for a template. The lock is read
 * as JSON without dsvm_lock_load()'s checks, which refuse a lock resolved with --allow-unsealed:
 * templates are generated from such locks for review, and the scripts must refuse what awaits a
 * seal themselves.
 */
#include <errno.h>
#include <stdio.h>

#include "dsvm/catalog.h"
#include "dsvm/lock.h"
#include "dsvm/pwsh.h"
#include "lock-internal.h"

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
	json_error_t jerr;
	json_t *json = json_load_file(argv[1], 0, &jerr);

	if (!json) {
		fprintf(stderr, "pwsh-gen: %s:%d: %s\n", argv[1], jerr.line, jerr.text);
		dsvm_ctx_free(ctx);
		return 65;
	}
	r = dsvm_lock_new_from_json(json, &lock);
	json_decref(json);
	if (r < 0)
		dsvm_set_error(ctx, r, "cannot wrap '%s'", argv[1]);
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
