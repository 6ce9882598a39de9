/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "builder.h"

int cmd_sbom(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "dsvm-build: sbom: not built yet\n");
	return 1;
}
