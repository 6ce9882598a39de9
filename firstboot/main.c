/* SPDX-License-Identifier: MIT */
#include <stddef.h>

#include "dsvm/cli.h"
#include "firstboot.h"

static const struct dsvm_verb verbs[] = {
	{ "detect", "detect the VM size, GPUs, fabric and disks; choose the driver kind",
	  cmd_detect },
	{ "plan", "show what 'run' would change now, step by step, and why", cmd_plan },
	{ "run", "converge the driver stack to this VM's hardware (every boot)", cmd_run },
	{ "status", "what the agent last did: machine, driver, result, attempts", cmd_status },
	{ "reset", "forget the recorded machine so the next boot reconciles (images)", cmd_reset },
	{ NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
	return dsvm_cli_dispatch(FIRSTBOOT_PROGRAM,
				 "dsvm-firstboot: detect what this VM is now and converge its "
				 "driver stack, offline.",
				 verbs, argc, argv);
}
