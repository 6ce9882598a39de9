/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "builder.h"

int cmd_resolve(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "dsvm-build: resolve: not built yet\n");
	return 1;
}
