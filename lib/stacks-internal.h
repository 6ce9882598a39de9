/* SPDX-License-Identifier: MIT */
#pragma once

/* The lock's "stacks" and "components", looked up by the reconcile (lib/reconcile.c). */

#include <jansson.h>

#include "dsvm/target.h"

/* The stack entry for (kind, branch), or NULL. Borrowed from lock. */
const json_t *stacks_find(const json_t *lock, enum dsvm_driver_kind kind, const char *branch);
/* The stack the build installed, or NULL (a CPU build). */
const json_t *stacks_installed(const json_t *lock);
/* The component entry of that name, or NULL. */
const json_t *stacks_component(const json_t *lock, const char *name);
