/* SPDX-License-Identifier: MIT */
#pragma once

#include "dsvm/state.h"
#include "firstboot.h"

/* plan and run: parse, reconcile (or plan), print the steps and the outcome; the exit code. */
int reconcile_main(const char *verb, const char *usage, bool plan_only, int argc, char **argv);
