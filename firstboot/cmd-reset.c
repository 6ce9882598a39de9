/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "dsvm/cli.h"
#include "firstboot.h"

static const char usage_text[] =
	"Usage: " FIRSTBOOT_PROGRAM " reset --root DIR\n"
	"\n"
	"Forget the machine the agent last saw and its failed attempts, so that the first boot of\n"
	"every VM made from this image reconciles for whatever hardware it finds. What is "
	"installed\n"
	"stays recorded. dsvm-build and the Packer templates run it when generalizing an image.\n"
	"\n"
	"  --root DIR  the image root (required: resetting the running system is rarely meant;\n"
	"              pass --root / to do it)\n"
	"  -h, --help  show this text\n"
	"\n"
	"Exit status: 0 (also when the agent never ran there); 64 usage; 74 I/O error.\n";

int cmd_reset(int argc, char **argv)
{
	struct firstboot_args a = { 0 };
	struct dsvm_ctx *ctx = NULL;
	int r, rc;

	r = firstboot_args_parse("reset", usage_text, FB_OPT_ROOT, argc, argv, &a);
	if (r != 0)
		return r > 0 ? DSVM_EXIT_OK : DSVM_EXIT_USAGE;
	if (!a.root) {
		fprintf(stderr, "%s: reset needs --root DIR; see '%s reset --help'\n",
			FIRSTBOOT_PROGRAM, FIRSTBOOT_PROGRAM);
		return DSVM_EXIT_USAGE;
	}
	if (firstboot_context(&a, &ctx) < 0)
		return DSVM_EXIT_USAGE;
	r = dsvm_reconcile_reset(ctx);
	if (r >= 0)
		fprintf(stderr, "%s: reset '%s': the next boot reconciles\n", FIRSTBOOT_PROGRAM,
			a.root);
	rc = r < 0 ? dsvm_cli_fail(FIRSTBOOT_PROGRAM, ctx, r) : DSVM_EXIT_OK;
	dsvm_ctx_free(ctx);
	return rc;
}
