/* SPDX-License-Identifier: MIT */
#pragma once

/* One function per verb, each in its own builder/cmd-<verb>.c. */

#define BUILDER_PROGRAM "dsvm-build"

int cmd_validate(int argc, char **argv);
int cmd_resolve(int argc, char **argv);
int cmd_sbom(int argc, char **argv);
