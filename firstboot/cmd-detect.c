/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "firstboot.h"

int cmd_detect(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "dsvm-firstboot: detect: not built yet\n");
	return 1;
}
