/* SPDX-License-Identifier: MIT */
#include <stddef.h>

#include "dsvm/cli.h"
#include "firstboot.h"

static const struct dsvm_verb verbs[] = {
	{ "detect", "detect the VM size, GPUs, fabric and disks; choose the driver kind",
	  cmd_detect },
	{ NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
	return dsvm_cli_dispatch(FIRSTBOOT_PROGRAM,
				 "dsvm-firstboot: detect what this VM is now and converge its "
				 "driver stack, offline.",
				 verbs, argc, argv);
}
