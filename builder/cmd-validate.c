/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "builder.h"

int cmd_validate(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "dsvm-build: validate: not built yet\n");
	return 1;
}
