/* SPDX-License-Identifier: MIT */
#include <jansson.h>

#include "dsvm/catalog.h"
#include "dsvm/lock.h"
#include "dsvm/reconcile.h"
#include "dsvm/select.h"
#include "internal.h"
#include "lock-internal.h"
#include "stacks-internal.h"

const json_t *stacks_find(const json_t *lock, enum dsvm_driver_kind kind, const char *branch)
{
	const json_t *s;
	size_t i;

	json_array_foreach(json_object_get(lock, "stacks"), i, s)
	{
		const char *k = json_string_value(json_object_get(s, "driver_kind"));
		const char *b = json_string_value(json_object_get(s, "branch"));

		if (k && b && dsvm_driver_kind_from_string(k) == kind && streq(b, branch))
			return s;
	}
	return NULL;
}

const json_t *stacks_installed(const json_t *lock)
{
	const json_t *s;
	size_t i;

	json_array_foreach(json_object_get(lock, "stacks"), i,
			   s) if (json_is_true(json_object_get(s, "installed"))) return s;
	return NULL;
}

const json_t *stacks_component(const json_t *lock, const char *name)
{
	const json_t *c;
	size_t i;

	json_array_foreach(json_object_get(lock, "components"), i, c)
	{
		const char *n = json_string_value(json_object_get(c, "name"));

		if (n && streq(n, name))
			return c;
	}
	return NULL;
}

static bool in_limits(const char *branch, const struct dsvm_gpu_info *gpu)
{
	if (!gpu)
		return true;
	if (gpu->min_branch && version_compare(branch, gpu->min_branch) < 0)
		return false;
	return !gpu->max_branch || version_compare(branch, gpu->max_branch) <= 0;
}

int dsvm_stack_choose(struct dsvm_ctx *ctx, const struct dsvm_lock *lock,
		      const struct dsvm_choice *choice, struct dsvm_stack_choice *ret)
{
	const json_t *l = dsvm_lock_json(lock), *stacks = json_object_get(l, "stacks"), *s;
	const json_t *best = NULL;
	struct dsvm_stack_choice out = { .kind = DSVM_DRIVER_NONE };
	char carried[256] = "";
	size_t i, len = 0;

	if (!json_is_array(stacks))
		return dsvm_set_error(ctx, -EBADMSG,
				      "the image's lock has no 'stacks' list: it was built by an "
				      "older dsvm-build; rebuild the image to let firstboot switch "
				      "drivers");
	if (choice->kind == DSVM_DRIVER_NONE) {
		snprintf(out.reason, sizeof(out.reason), "%s", choice->reason);
		*ret = out;
		return 0;
	}
	json_array_foreach(stacks, i, s)
	{
		const char *k = json_string_value(json_object_get(s, "driver_kind"));
		const char *b = json_string_value(json_object_get(s, "branch"));

		if (!k || !b)
			return dsvm_set_error(ctx, -EBADMSG,
					      "the image's lock has a stack without driver_kind or "
					      "branch (entry %zu)",
					      i + 1);
		len += (size_t)snprintf(carried + len,
					len < sizeof(carried) ? sizeof(carried) - len : 0,
					"%s%s %s", len ? ", " : "", k, b);
		if (dsvm_driver_kind_from_string(k) != choice->kind)
			continue;
		if (streq(b, choice->branch)) {
			best = s;
			break;
		}
		if (in_limits(b, choice->gpu) &&
		    (!best ||
		     version_compare(b, json_string_value(json_object_get(best, "branch"))) > 0))
			best = s;
	}
	if (!best) {
		snprintf(out.reason, sizeof(out.reason),
			 "the hardware needs %s%s%s (%s) but this image carries only: %s; CPU mode",
			 dsvm_driver_kind_to_string(choice->kind), choice->branch[0] ? " " : "",
			 choice->branch, choice->reason, carried[0] ? carried : "no driver stack");
		*ret = out;
		return 0;
	}
	out.kind = choice->kind;
	snprintf(out.branch, sizeof(out.branch), "%s",
		 json_string_value(json_object_get(best, "branch")));
	snprintf(out.version, sizeof(out.version), "%s",
		 json_string_value(json_object_get(best, "version")) ?: "");
	if (streq(out.branch, choice->branch) || !choice->branch[0])
		snprintf(out.reason, sizeof(out.reason), "%s", choice->reason);
	else
		snprintf(out.reason, sizeof(out.reason),
			 "%s; the catalog's branch %s is not in this image, which carries %s %s "
			 "within the GPU's limits",
			 choice->reason, choice->branch, dsvm_driver_kind_to_string(out.kind),
			 out.branch);
	*ret = out;
	return 0;
}
