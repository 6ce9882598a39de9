/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>

#include "dsvm/lock.h"

/* Wrap a lock JSON object (a reference is taken). */
int dsvm_lock_new_from_json(json_t *json, struct dsvm_lock **ret);

/* The lock's JSON, borrowed. */
const json_t *dsvm_lock_json(const struct dsvm_lock *lock);
