/* SPDX-License-Identifier: MIT */
#pragma once

/* The install report shared by `dsvm-build install` and `image`. */

#include <jansson.h>

#include "dsvm/install.h"

struct install_ui {
	json_t *deferred; /* [{name, kind, reason}] for --json */
};

/* The dsvm_install_report_fn: one line per step on stderr; deferred ones kept for --json. */
void install_ui_event(void *userdata, const struct dsvm_install_event *e);

/* The summary object of --json on stdout. */
void install_ui_print_json(const char *root, const struct dsvm_install_stats *st, json_t *deferred);

/* "systemctl" when it is on PATH, else NULL. */
const char *builder_find_systemctl(void);
