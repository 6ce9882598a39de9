/* SPDX-License-Identifier: MIT */
#pragma once

/* One function per verb, each in its own firstboot/cmd-<verb>.c. */

#define FIRSTBOOT_PROGRAM "dsvm-firstboot"

int cmd_detect(int argc, char **argv);
