/* SPDX-License-Identifier: MIT */
#include "reconcile-cli.h"

static const char usage_text[] =
	"Usage: " FIRSTBOOT_PROGRAM " plan [OPTIONS]\n"
	"\n"
	"Show what 'run' would do now, step by step, and why, without changing anything.\n"
	"\n"
	"  --root DIR     the system 'run' would change (default /)\n"
	"  --sysroot DIR  read /sys, /proc and /run under DIR\n"
	"  --lock FILE    the image's lock (default <root>" DSVM_IMAGE_LOCK ")\n"
	"  --catalog DIR  hardware catalog (default <root>" DSVM_IMAGE_CATALOG ")\n"
	"  --vm-size S    take S as the VM size\n"
	"  --imds URL     ask this URL for the size (http only)\n"
	"  --no-imds      never ask IMDS\n"
	"  --json         one JSON object on stdout: outcome, from, to, reason, steps\n"
	"  -v, --verbose  log every decision on stderr\n"
	"  -h, --help     show this text\n"
	"\n"
	"Examples:\n"
	"  " FIRSTBOOT_PROGRAM " plan\n"
	"  " FIRSTBOOT_PROGRAM " plan --root /mnt/image --sysroot /tmp/capture --json\n"
	"\n"
	"Exit status: as for 'run' (0 when a plan was made).\n";

int cmd_plan(int argc, char **argv)
{
	return reconcile_main("plan", usage_text, true, argc, argv);
}
