/* SPDX-License-Identifier: MIT */
#include <sys/stat.h>

#include <jansson.h>

#include "dsvm/catalog.h"
#include "dsvm/lock.h"
#include "internal.h"
#include "lock-internal.h"
#include "manifest-internal.h"

/* At most this many (driver kind, branch) stacks are staged besides the build target's. */
#define MAX_STAGED 32

/* NVIDIA's redistrib JSON files are a few hundred KiB; the cap stops a runaway file. */
#define REDIST_MAX_BYTES (8 * 1024 * 1024)

/* One component's fate for one target. */
struct choice {
	const struct component *c;
	struct fields eff;
	bool applies; /* its when (and driver kind) match the target */
	bool chosen;
	bool constraint_failed;
	const struct ynode *failed_at;
	char why[512]; /* reason chosen, or reason dropped */
};

struct resolution {
	struct dsvm_ctx *ctx;
	const struct dsvm_manifest *m;
	const struct dsvm_catalog *cat;
	struct dsvm_target t;
	bool staging; /* fabric and family left open: resolving a kind to stage */
	enum dsvm_gpu_vendor vendor;
	enum dsvm_accelerator accel;
	struct choice *v;
	size_t n;
	const struct choice *driver;
	const struct choice *cuda_toolkit;
	char cuda_max[16];
};

struct redist_cache {
	char *path;
	json_t *json;
};

struct resolver {
	struct dsvm_ctx *ctx;
	const struct dsvm_manifest *m;
	struct redist_cache *redist;
	size_t n_redist;
	json_t *inputs;
	unsigned flags;
};

static const char *pos(const struct choice *ch, const struct ynode *node, char *buf, size_t size)
{
	return node_position(ch->c->doc, node ? node : ch->c->node, buf, size);
}

/*
 * Where a component is defined, as the lock records it: relative to the repository, so that the
 * lock does not depend on where the repository is checked out (messages keep the path as given).
 */
static const char *lock_position(const struct resolver *rv, const struct choice *ch, char *buf,
				 size_t size)
{
	const struct ynode *node = ch->c->node;

	snprintf(buf, size, "%s:%u:%u", manifest_doc_repo_path(rv->m, ch->c->doc),
		 node ? node->line : 1, node ? node->column : 1);
	return buf;
}

/* A repository file's name in the lock: relative to the repository (as given without one). */
static int lock_file_name(struct resolver *rv, const char *path, char **ret)
{
	int r = manifest_repo_path(rv->m->root, path, ret);

	if (r == -ENOENT && !rv->m->root) {
		*ret = strdup(path);
		return *ret ? 0 : -ENOMEM;
	}
	if (r < 0 && r != -ENOMEM)
		return dsvm_set_error(rv->ctx, r, "cannot name '%s' inside the repository '%s': %s",
				      path, rv->m->root, strerror(-r));
	return r;
}

/*
 * A condition list matches when the value is listed, or when the list only excludes ("!x") and
 * does not exclude the value. An empty list matches everything.
 */
static bool list_matches(const struct str_list *l, const char *value)
{
	bool positive = false, listed = false;

	for (size_t i = 0; i < l->n; i++) {
		const char *w = l->v[i];

		if (w[0] == '!') {
			if (streq(w + 1, value))
				return false;
			continue;
		}
		positive = true;
		if (streq(w, value))
			listed = true;
	}
	return !positive || listed;
}

static void join_list(const struct str_list *l, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < l->n && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", l->v[i]);
}

static bool when_list(struct choice *ch, const struct str_list *l, const char *key,
		      const char *value)
{
	char list[256];

	if (list_matches(l, value))
		return true;
	join_list(l, list, sizeof(list));
	snprintf(ch->why, sizeof(ch->why), "when.%s [%s] excludes '%s'", key, list,
		 value[0] ? value : "(unknown)");
	return false;
}

static bool when_bool(struct choice *ch, int want, enum dsvm_tristate have, const char *key)
{
	if (want < 0 || have == DSVM_ANY || (want == 1) == (have == DSVM_YES))
		return true;
	snprintf(ch->why, sizeof(ch->why), "when.%s is %s but the target has %s", key,
		 want ? "true" : "false", have == DSVM_YES ? "it" : "none");
	return false;
}

static bool applies(struct resolution *res, struct choice *ch)
{
	const struct when *w = &ch->c->when;
	const struct dsvm_target *t = &res->t;

	if (!when_list(ch, &w->os, "os", t->os) || !when_list(ch, &w->arch, "arch", t->arch) ||
	    !when_list(ch, &w->gpu_vendor, "gpu_vendor", dsvm_gpu_vendor_to_string(res->vendor)) ||
	    !when_list(ch, &w->driver_kind, "driver_kind",
		       dsvm_driver_kind_to_string(t->driver_kind)) ||
	    !when_list(ch, &w->accelerator, "accelerator",
		       dsvm_accelerator_to_string(res->accel)) ||
	    !when_bool(ch, w->infiniband, t->infiniband, "infiniband") ||
	    !when_bool(ch, w->nvswitch, t->nvswitch, "nvswitch"))
		return false;
	/* A family is only known from a VM size; staging for "any machine" leaves it open. */
	if (!(res->staging && !t->vm_family[0]) &&
	    !when_list(ch, &w->vm_family, "vm_family", t->vm_family))
		return false;
	if (ch->eff.has_driver && ch->eff.driver.kind != t->driver_kind) {
		snprintf(ch->why, sizeof(ch->why), "driver for %s, not the target's kind '%s'",
			 dsvm_driver_kind_to_string(ch->eff.driver.kind),
			 dsvm_driver_kind_to_string(t->driver_kind));
		return false;
	}
	return true;
}

static void describe_when(const struct choice *ch, char *buf, size_t size)
{
	const struct when *w = &ch->c->when;
	static const char *const names[] = { "os",	    "arch",	   "gpu_vendor",
					     "driver_kind", "accelerator", "vm_family" };
	const struct str_list *lists[] = { &w->os,	    &w->arch,	     &w->gpu_vendor,
					   &w->driver_kind, &w->accelerator, &w->vm_family };
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		char list[160];

		if (!lists[i]->n)
			continue;
		join_list(lists[i], list, sizeof(list));
		len += (size_t)snprintf(buf + len, size > len ? size - len : 0, "%s%s [%s]",
					len ? ", " : "", names[i], list);
	}
	if (w->infiniband >= 0)
		len += (size_t)snprintf(buf + len, size > len ? size - len : 0, "%sinfiniband %s",
					len ? ", " : "", w->infiniband ? "true" : "false");
	if (w->nvswitch >= 0)
		snprintf(buf + len, size > len ? size - len : 0, "%snvswitch %s", len ? ", " : "",
			 w->nvswitch ? "true" : "false");
}

/* "12.8.1" -> "12.8": CUDA compatibility is decided on major.minor. */
static void major_minor(const char *v, char *out, size_t size)
{
	const char *dot = strchr(v, '.');

	if (dot)
		dot = strchr(dot + 1, '.');
	snprintf(out, size, "%.*s", dot ? (int)(dot - v) : (int)strlen(v), v);
}

static void cuda_major_of(const char *v, char *out, size_t size)
{
	snprintf(out, size, "%.*s", (int)strcspn(v, "."), v);
}

/* Check one choice's constraints; on failure fill why and failed_at and return false. */
static bool constraints_hold(struct resolution *res, struct choice *ch)
{
	const struct constraints *k = &ch->eff.constraints;
	char have[16], want[16];

	if (!ch->eff.has_constraints)
		return true;
	if (k->accelerator.n &&
	    !list_matches(&k->accelerator, dsvm_accelerator_to_string(res->accel))) {
		char list[64];

		join_list(&k->accelerator, list, sizeof(list));
		snprintf(ch->why, sizeof(ch->why),
			 "constraint accelerator [%s] does not include the target's '%s'", list,
			 dsvm_accelerator_to_string(res->accel));
		ch->failed_at = k->accelerator.node;
		return false;
	}
	if (k->cuda) {
		if (!res->cuda_max[0]) {
			snprintf(ch->why, sizeof(ch->why),
				 "constraint cuda %s needs an NVIDIA driver, and the target's kind "
				 "is '%s'",
				 k->cuda, dsvm_driver_kind_to_string(res->t.driver_kind));
			ch->failed_at = k->cuda_node;
			return false;
		}
		major_minor(k->cuda, want, sizeof(want));
		major_minor(res->cuda_max, have, sizeof(have));
		if (version_compare(want, have) > 0) {
			snprintf(ch->why, sizeof(ch->why),
				 "constraint cuda %s exceeds CUDA %s, the newest driver %s "
				 "supports",
				 k->cuda, have, res->driver->eff.version);
			ch->failed_at = k->cuda_node;
			return false;
		}
	}
	if (k->driver_version_match) {
		if (!res->driver || !streq(res->driver->eff.version, ch->eff.version)) {
			snprintf(ch->why, sizeof(ch->why),
				 "constraint driver_version match: version '%s' differs from the "
				 "driver's '%s'",
				 ch->eff.version,
				 res->driver ? res->driver->eff.version : "(none)");
			ch->failed_at = k->driver_version_node;
			return false;
		}
	}
	if (k->cuda_major) {
		if (!res->cuda_toolkit) {
			snprintf(ch->why, sizeof(ch->why),
				 "constraint cuda_major %s needs a cuda-toolkit, and none is "
				 "selected",
				 k->cuda_major);
			ch->failed_at = k->cuda_major_node;
			return false;
		}
		cuda_major_of(res->cuda_toolkit->eff.version, have, sizeof(have));
		if (!streq(have, k->cuda_major)) {
			snprintf(ch->why, sizeof(ch->why),
				 "constraint cuda_major %s differs from the selected cuda-toolkit "
				 "'%s' %s",
				 k->cuda_major, res->cuda_toolkit->c->name,
				 res->cuda_toolkit->eff.version);
			ch->failed_at = k->cuda_major_node;
			return false;
		}
	}
	return true;
}

static bool provides_name(const struct choice *ch, const char *name)
{
	if (streq(ch->c->name, name))
		return true;
	for (size_t i = 0; i < ch->c->provides.n; i++)
		if (streq(ch->c->provides.v[i], name))
			return true;
	if (ch->eff.has_driver) {
		enum dsvm_gpu_vendor v = dsvm_driver_kind_vendor(ch->eff.driver.kind);

		if ((v == DSVM_VENDOR_NVIDIA && streq(name, "nvidia-driver")) ||
		    (v == DSVM_VENDOR_AMD && streq(name, "amd-driver")))
			return true;
	}
	return false;
}

/* The chosen component that already provides one of ch's names, if any. */
static const struct choice *chosen_alternative(const struct resolution *res,
					       const struct choice *ch)
{
	for (size_t i = 0; i < res->n; i++) {
		const struct choice *o = &res->v[i];

		if (!o->chosen || o == ch)
			continue;
		for (size_t j = 0; j < ch->c->provides.n; j++)
			if (provides_name(o, ch->c->provides.v[j]))
				return o;
	}
	return NULL;
}

static const struct choice *find_chosen(const struct resolution *res, const char *name)
{
	for (size_t i = 0; i < res->n; i++)
		if (res->v[i].chosen && provides_name(&res->v[i], name))
			return &res->v[i];
	return NULL;
}

static int choose_driver(struct resolution *res)
{
	const char *platform = dsvm_manifest_get_platform(res->m);
	struct choice *driver = NULL;
	int r;

	if (res->t.driver_kind == DSVM_DRIVER_NONE)
		return 0;
	for (size_t i = 0; i < res->n; i++) {
		struct choice *ch = &res->v[i];

		if (!ch->applies || !ch->eff.has_driver)
			continue;
		if (driver) {
			snprintf(ch->why, sizeof(ch->why), "driver '%s' %s comes first for %s",
				 driver->c->name, driver->eff.version,
				 dsvm_driver_kind_to_string(res->t.driver_kind));
			ch->applies = false;
			continue;
		}
		if (res->t.driver_branch[0] &&
		    !streq(ch->eff.driver.branch, res->t.driver_branch)) {
			snprintf(ch->why, sizeof(ch->why), "branch %s, not the requested %s",
				 ch->eff.driver.branch, res->t.driver_branch);
			ch->applies = false;
			continue;
		}
		/* The GPU bounds the branch: a K80 stops at R470, Blackwell starts at R570. */
		if (res->t.driver_branch_max[0] &&
		    version_compare(ch->eff.driver.branch, res->t.driver_branch_max) > 0) {
			snprintf(ch->why, sizeof(ch->why),
				 "branch %s is newer than %s, the newest this GPU supports",
				 ch->eff.driver.branch, res->t.driver_branch_max);
			ch->applies = false;
			continue;
		}
		if (res->t.driver_branch_min[0] &&
		    version_compare(ch->eff.driver.branch, res->t.driver_branch_min) < 0) {
			snprintf(ch->why, sizeof(ch->why),
				 "branch %s is older than %s, the oldest this GPU supports",
				 ch->eff.driver.branch, res->t.driver_branch_min);
			ch->applies = false;
			continue;
		}
		driver = ch;
	}
	if (!driver)
		return dsvm_set_error(res->ctx, -EBADMSG,
				      "%s: edition '%s' has no driver component of kind "
				      "'%s'%s%s%s%s%s%s; add one "
				      "or pick another kind",
				      res->m->edition_doc->path, res->m->edition,
				      dsvm_driver_kind_to_string(res->t.driver_kind),
				      res->t.driver_branch[0] ? " and branch " : "",
				      res->t.driver_branch,
				      res->t.driver_branch_min[0] ? ", branch at least " : "",
				      res->t.driver_branch_min,
				      res->t.driver_branch_max[0] ? ", branch at most " : "",
				      res->t.driver_branch_max);
	driver->chosen = true;
	snprintf(driver->why, sizeof(driver->why), "driver for %s, branch %s",
		 dsvm_driver_kind_to_string(res->t.driver_kind), driver->eff.driver.branch);
	res->driver = driver;

	if (res->vendor != DSVM_VENDOR_NVIDIA)
		return 0;
	r = dsvm_catalog_cuda_max(res->cat, platform, driver->eff.version, res->cuda_max);
	if (r < 0) {
		char at[512];

		return dsvm_set_error(res->ctx, -EBADMSG,
				      "%s: driver version '%s' is older than every CUDA toolkit in "
				      "the catalog's cuda-drivers.yaml, or not a driver version",
				      pos(driver, driver->eff.version_node, at, sizeof(at)),
				      driver->eff.version);
	}
	return 0;
}

/*
 * Choose among the applicable components in manifest order. The CUDA toolkit is chosen first
 * (toolkit_pass), because cuda_major constraints elsewhere depend on it; everything else follows
 * in one pass, so the first alternative that satisfies its constraints always wins.
 */
static void choose_pass(struct resolution *res, bool toolkit_pass)
{
	for (size_t i = 0; i < res->n; i++) {
		struct choice *ch = &res->v[i];
		const struct choice *alt;
		char when[320];

		if (!ch->applies || ch->chosen || ch->constraint_failed || ch->eff.has_driver)
			continue;
		if (toolkit_pass && !provides_name(ch, "cuda-toolkit"))
			continue;
		alt = chosen_alternative(res, ch);
		if (alt) {
			snprintf(ch->why, sizeof(ch->why),
				 "alternative '%s' was chosen first for what this provides",
				 alt->c->name);
			continue;
		}
		if (!constraints_hold(res, ch)) {
			ch->constraint_failed = true;
			continue;
		}
		ch->chosen = true;
		describe_when(ch, when, sizeof(when));
		snprintf(ch->why, sizeof(ch->why), "%s%s%s", when[0] ? "when " : "always",
			 when[0] ? when : "", ch->eff.has_constraints ? "; constraints hold" : "");
		if (!res->cuda_toolkit && provides_name(ch, "cuda-toolkit"))
			res->cuda_toolkit = ch;
	}
}

static int unsatisfiable(struct resolution *res, const struct choice *ch)
{
	char at[512];

	return dsvm_set_error(res->ctx, -EBADMSG,
			      "%s: '%s' cannot be satisfied for target %s/%s: %s",
			      pos(ch, ch->failed_at, at, sizeof(at)), ch->c->name, res->t.os,
			      dsvm_driver_kind_to_string(res->t.driver_kind), ch->why);
}

static int check_constraint_failures(struct resolution *res)
{
	for (size_t i = 0; i < res->n; i++) {
		const struct choice *ch = &res->v[i];
		bool served = false;

		if (!ch->constraint_failed)
			continue;
		for (size_t j = 0; j < ch->c->provides.n && !served; j++)
			served = find_chosen(res, ch->c->provides.v[j]) != NULL;
		if (!served)
			return unsatisfiable(res, ch);
	}
	return 0;
}

static int check_requires_conflicts(struct resolution *res)
{
	for (size_t i = 0; i < res->n; i++) {
		const struct choice *ch = &res->v[i];
		char at[512];

		if (!ch->chosen)
			continue;
		for (size_t j = 0; j < ch->eff.requires.n; j++) {
			const char *name = ch->eff.requires.v[j];

			if (!find_chosen(res, name))
				return dsvm_set_error(
					res->ctx, -EBADMSG,
					"%s: '%s' requires '%s', which nothing selected for target "
					"%s/%s provides; add a component providing it or narrow "
					"'%s' with 'when'",
					pos(ch, ch->eff.requires.node, at, sizeof(at)), ch->c->name,
					name, res->t.os,
					dsvm_driver_kind_to_string(res->t.driver_kind),
					ch->c->name);
		}
		for (size_t j = 0; j < ch->eff.conflicts.n; j++) {
			const struct choice *o = find_chosen(res, ch->eff.conflicts.v[j]);

			if (o && o != ch)
				return dsvm_set_error(
					res->ctx, -EBADMSG,
					"%s: '%s' conflicts with '%s', and both are "
					"selected for target %s/%s",
					pos(ch, ch->eff.conflicts.node, at, sizeof(at)),
					ch->c->name, o->c->name, res->t.os,
					dsvm_driver_kind_to_string(res->t.driver_kind));
		}
	}
	return 0;
}

static int resolution_run(struct resolution *res)
{
	int r;

	res->vendor = dsvm_driver_kind_vendor(res->t.driver_kind);
	res->accel = dsvm_driver_kind_accelerator(res->t.driver_kind);
	res->n = res->m->n_components;
	res->v = calloc(res->n ? res->n : 1, sizeof(*res->v));
	if (!res->v)
		return -ENOMEM;
	for (size_t i = 0; i < res->n; i++) {
		struct choice *ch = &res->v[i];

		ch->c = &res->m->components[i];
		component_effective(ch->c, &res->t, &ch->eff);
		ch->applies = applies(res, ch);
	}
	r = choose_driver(res);
	if (r < 0)
		return r;
	choose_pass(res, true);
	choose_pass(res, false);
	r = check_constraint_failures(res);
	if (r < 0)
		return r;
	return check_requires_conflicts(res);
}

/*
 * Order the chosen components so that each follows what it requires (Kahn's algorithm, ties in
 * manifest order). A cycle is reported with its members.
 */
static int order_chosen(struct resolution *res, size_t **ret_order, size_t *ret_n)
{
	_cleanup_free_ size_t *order = calloc(res->n ? res->n : 1, sizeof(size_t));
	_cleanup_free_ bool *done = calloc(res->n ? res->n : 1, sizeof(bool));
	size_t n_chosen = 0, n = 0;

	if (!order || !done)
		return -ENOMEM;
	for (size_t i = 0; i < res->n; i++)
		n_chosen += res->v[i].chosen;
	while (n < n_chosen) {
		bool progress = false;

		for (size_t i = 0; i < res->n; i++) {
			const struct choice *ch = &res->v[i];
			bool ready = true;

			if (!ch->chosen || done[i])
				continue;
			for (size_t j = 0; j < ch->eff.requires.n && ready; j++) {
				const struct choice *dep = find_chosen(res, ch->eff.requires.v[j]);

				ready = !dep || dep == ch || done[dep - res->v];
			}
			if (!ready)
				continue;
			done[i] = true;
			order[n++] = i;
			progress = true;
			break; /* restart from the top: ties go to manifest order */
		}
		if (!progress) {
			char cycle[1024] = "";
			size_t len = 0;
			const struct choice *first = NULL;
			char at[512];

			for (size_t i = 0; i < res->n && len < sizeof(cycle); i++) {
				if (!res->v[i].chosen || done[i])
					continue;
				if (!first)
					first = &res->v[i];
				len += (size_t)snprintf(cycle + len, sizeof(cycle) - len, "%s%s",
							len ? " -> " : "", res->v[i].c->name);
			}
			return dsvm_set_error(res->ctx, -EBADMSG,
					      "%s: requirements form a cycle among: %s; break it "
					      "by "
					      "removing one 'requires'",
					      pos(first, first->eff.requires.node, at, sizeof(at)),
					      cycle);
		}
	}
	*ret_order = TAKE_PTR(order);
	*ret_n = n;
	return 0;
}

static void resolution_free(struct resolution *res)
{
	free(res->v);
}

/* ---- lock assembly ---- */

/* Record a file the lock depends on, by its name in the lock, with the sha256 of its bytes. */
static int add_input(struct resolver *rv, const char *name, const char *sha256)
{
	size_t i;

	for (i = 0; i < json_array_size(rv->inputs); i++)
		if (streq(json_string_value(json_object_get(json_array_get(rv->inputs, i), "path")),
			  name))
			return 0;
	return json_array_append_new(rv->inputs,
				     json_pack("{s:s, s:s}", "path", name, "sha256", sha256)) < 0
		       ? -ENOMEM
		       : 0;
}

static json_t *str_list_json(const struct str_list *l)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

static const char *redist_platform(const struct resolution *res)
{
	if (streq(dsvm_manifest_get_platform(res->m), "windows"))
		return "windows-x86_64";
	if (streq(res->t.arch, "aarch64"))
		return "linux-sbsa";
	return "linux-x86_64";
}

static int load_redist(struct resolver *rv, const struct choice *ch, const char *path, json_t **ret)
{
	_cleanup_free_ char *buf = NULL;
	json_error_t jerr;
	struct redist_cache *cache;
	json_t *json;
	size_t size;
	char at[512];
	int r;

	for (size_t i = 0; i < rv->n_redist; i++)
		if (streq(rv->redist[i].path, path)) {
			*ret = rv->redist[i].json;
			return 0;
		}
	r = read_file_capped(path, REDIST_MAX_BYTES, &buf, &size);
	if (r < 0)
		return dsvm_set_error(rv->ctx, r, "%s: cannot read redistrib file '%s': %s",
				      pos(ch, ch->eff.source.node, at, sizeof(at)), path,
				      strerror(-r));
	json = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &jerr);
	if (!json || !json_is_object(json)) {
		json_decref(json);
		return dsvm_set_error(rv->ctx, -EBADMSG,
				      "%s:%d:%d: not an NVIDIA redistrib JSON: %s", path, jerr.line,
				      jerr.column, json ? "not an object" : jerr.text);
	}
	cache = realloc(rv->redist, (rv->n_redist + 1) * sizeof(*cache));
	if (!cache) {
		json_decref(json);
		return -ENOMEM;
	}
	rv->redist = cache;
	cache[rv->n_redist].path = strdup(path);
	cache[rv->n_redist].json = json;
	if (!cache[rv->n_redist].path) {
		json_decref(json);
		return -ENOMEM;
	}
	rv->n_redist++;
	{
		_cleanup_free_ char *name = NULL;
		char hex[65];

		r = sha256_buffer_hex(buf, size, hex);
		if (r >= 0)
			r = lock_file_name(rv, path, &name);
		if (r >= 0)
			r = add_input(rv, name, hex);
		if (r < 0)
			return r;
	}
	*ret = json;
	return 0;
}

static const struct ynode *list_item(const struct str_list *l, size_t i)
{
	return l->node && l->node->kind == YNODE_SEQUENCE ? l->node->items[i] : l->node;
}

/* Artifacts of an nvidia-redist component: URL, sha256 and size from NVIDIA's JSON. */
static int redist_artifacts(struct resolver *rv, const struct resolution *res,
			    const struct choice *ch, json_t *source, json_t *artifacts)
{
	const struct source *s = &ch->eff.source;
	_cleanup_free_ char *dir = path_dirname(ch->c->doc->path);
	_cleanup_free_ char *path = NULL;
	const char *platform = redist_platform(res), *label;
	char variant[16] = "", at[512];
	json_t *json = NULL;
	int r;

	if (!dir || !(path = path_join_relative(dir, s->redist)))
		return -ENOMEM;
	r = load_redist(rv, ch, path, &json);
	if (r < 0)
		return r;
	label = json_string_value(json_object_get(json, "release_label"));
	if (!label || !streq(label, ch->eff.version))
		return dsvm_set_error(rv->ctx, -EBADMSG,
				      "%s: version '%s' differs from release_label '%s' of '%s'",
				      pos(ch, ch->eff.version_node, at, sizeof(at)),
				      ch->eff.version, label ? label : "(missing)", path);
	json_object_set_new(source, "platform", json_string(platform));
	for (size_t i = 0; i < s->packages.n; i++) {
		const char *pkg = s->packages.v[i], *rel, *sha, *size_text, *version;
		json_t *entry = json_object_get(json, pkg), *build;
		unsigned long long size;
		char *end;

		if (!json_is_object(entry))
			return dsvm_set_error(rv->ctx, -EBADMSG,
					      "%s: package '%s' is not in '%s' (release %s)",
					      pos(ch, list_item(&s->packages, i), at, sizeof(at)),
					      pkg, path, label);
		build = json_object_get(entry, platform);
		if (!json_is_object(build))
			return dsvm_set_error(rv->ctx, -EBADMSG,
					      "%s: package '%s' has no '%s' build in '%s'",
					      pos(ch, list_item(&s->packages, i), at, sizeof(at)),
					      pkg, platform, path);
		/* cuDNN and friends publish one build per CUDA major: follow the chosen toolkit. */
		if (!json_object_get(build, "relative_path")) {
			char major[8];

			if (!res->cuda_toolkit)
				return dsvm_set_error(
					rv->ctx, -EBADMSG,
					"%s: package '%s' is built per CUDA major, and "
					"no cuda-toolkit is selected to pick one",
					pos(ch, list_item(&s->packages, i), at, sizeof(at)), pkg);
			cuda_major_of(res->cuda_toolkit->eff.version, major, sizeof(major));
			snprintf(variant, sizeof(variant), "cuda%s", major);
			build = json_object_get(build, variant);
			if (!json_is_object(build))
				return dsvm_set_error(
					rv->ctx, -EBADMSG,
					"%s: package '%s' has no build for CUDA %s in "
					"'%s'",
					pos(ch, list_item(&s->packages, i), at, sizeof(at)), pkg,
					major, path);
		}
		rel = json_string_value(json_object_get(build, "relative_path"));
		sha = json_string_value(json_object_get(build, "sha256"));
		size_text = json_string_value(json_object_get(build, "size"));
		version = json_string_value(json_object_get(entry, "version"));
		if (!rel || !sha || !is_sha256_hex(sha) || !size_text || !version ||
		    strstr(rel, "..") || rel[0] == '/')
			return dsvm_set_error(rv->ctx, -EBADMSG,
					      "%s: entry '%s' (%s) lacks a safe relative_path, a "
					      "sha256 or a size",
					      path, pkg, platform);
		errno = 0;
		size = strtoull(size_text, &end, 10);
		if (errno || *end || size == 0)
			return dsvm_set_error(rv->ctx, -EBADMSG, "%s: entry '%s' has size '%s'",
					      path, pkg, size_text);
		{
			_cleanup_free_ char *url = strdup_printf(
				"%s%s%s", s->base_url,
				s->base_url[strlen(s->base_url) - 1] == '/' ? "" : "/", rel);

			if (!url)
				return -ENOMEM;
			json_array_append_new(artifacts,
					      json_pack("{s:s, s:s, s:s, s:s, s:I}", "name", pkg,
							"version", version, "url", url, "sha256",
							sha, "size", (json_int_t)size));
		}
	}
	if (variant[0])
		json_object_set_new(source, "cuda_variant", json_string(variant));
	return 0;
}

/* A file from the repository (scripts, local files): hashed now, fetched from disk later. */
static int path_artifact(struct resolver *rv, const struct choice *ch, const char *rel,
			 json_t *artifacts)
{
	_cleanup_free_ char *dir = path_dirname(ch->c->doc->path);
	_cleanup_free_ char *path = NULL, *name = NULL;
	const char *base;
	char hex[65];
	struct stat st;
	int r;

	if (!dir || !(path = path_join_relative(dir, rel)))
		return -ENOMEM;
	r = sha256_file_hex(path, hex);
	if (r < 0 || stat(path, &st) < 0)
		return dsvm_set_error(rv->ctx, r < 0 ? r : -errno, "cannot hash '%s'", path);
	r = lock_file_name(rv, path, &name);
	if (r >= 0)
		r = add_input(rv, name, hex);
	if (r < 0)
		return r;
	base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
	return json_array_append_new(artifacts,
				     json_pack("{s:s, s:s, s:s, s:I}", "name", base, "path", name,
					       "sha256", hex, "size", (json_int_t)st.st_size));
}

/*
 * A signer-pinned artifact: its digest, size and version come from the edition's seal file
 * (SCHEMA.md, "Artifacts without a published digest"); the pin goes along for the Windows side.
 */
static int sealed_artifact(struct resolver *rv, const struct choice *ch, const struct source *s,
			   json_t *o)
{
	const struct authenticode_pin *pin = &s->authenticode;
	const struct artifact *a = &s->artifacts[0];
	const struct seal_entry *e = seal_file_find(&rv->m->seal, ch->c->name, a->url);
	const char *stale = NULL;
	json_t *chain = json_array();
	char at[256];

	if (!chain)
		return -ENOMEM;
	for (size_t i = 0; i < pin->chain.n; i++)
		json_array_append_new(chain, json_string(pin->chain.v[i]));
	json_object_set_new(o, "authenticode",
			    json_pack("{s:s, s:o, s:s?}", "subject", pin->subject, "chain", chain,
				      "file_version",
				      e && e->file_version[0] ? e->file_version
							      : pin->file_version));
	if (e && a->has_size && e->size != a->size)
		stale = "its size";
	else if (e && pin->file_version && !streq(pin->file_version, e->file_version))
		stale = "its file version";
	if (e && !stale) {
		json_object_set_new(o, "sha256", json_string(e->sha256));
		json_object_set_new(o, "size", json_integer((json_int_t)e->size));
		json_object_set_new(o, "seal", json_string("sealed"));
		return 0;
	}
	if (rv->flags & DSVM_RESOLVE_ALLOW_UNSEALED) {
		json_object_set_new(o, "seal", json_string("awaiting"));
		return 0;
	}
	pos(ch, a->node, at, sizeof(at));
	if (stale)
		return dsvm_set_error(rv->ctx, -EBADMSG,
				      "%s: '%s' (%s): the seal at %s:%u was made for another "
				      "pin (%s differs); run 'dsvm-build seal %s' to seal it again",
				      at, ch->c->name, a->url, rv->m->seal.path, e->line, stale,
				      manifest_doc_repo_path(rv->m, rv->m->edition_doc));
	return dsvm_set_error(rv->ctx, -EBADMSG,
			      "%s: '%s' (%s) is pinned by its signer but not sealed in '%s'; run "
			      "'dsvm-build seal %s' where it can be downloaded, review and commit "
			      "the seal file (or resolve with --allow-unsealed for a lock that "
			      "fetch refuses)",
			      at, ch->c->name, a->url, rv->m->seal.path,
			      manifest_doc_repo_path(rv->m, rv->m->edition_doc));
}

static int url_artifact_json(struct resolver *rv, const struct choice *ch, const struct source *s,
			     const struct artifact *a, json_t *artifacts)
{
	const char *base = strrchr(a->url, '/') + 1;
	json_t *o = json_pack("{s:s, s:s}", "name", a->name ? a->name : base, "url", a->url);
	int r = 0;

	if (!o)
		return -ENOMEM;
	if (a->sha256)
		json_object_set_new(o, "sha256", json_string(a->sha256));
	if (a->has_size)
		json_object_set_new(o, "size", json_integer((json_int_t)a->size));
	if (a->unpacked_size)
		json_object_set_new(o, "unpacked_size", json_integer((json_int_t)a->unpacked_size));
	/* What the Windows side runs each file as (exe, msi, zip). */
	if (ch->c->kind == KIND_EXE || ch->c->kind == KIND_MSI || ch->c->kind == KIND_ZIP)
		json_object_set_new(o, "installer",
				    json_string(component_kind_to_string(ch->c->kind)));
	if (s->authenticode.node)
		r = sealed_artifact(rv, ch, s, o);
	if (r < 0) {
		json_decref(o);
		return r;
	}
	return json_array_append_new(artifacts, o);
}

static int component_source_json(struct resolver *rv, const struct resolution *res,
				 const struct choice *ch, json_t *source, json_t *artifacts)
{
	const struct source *s = &ch->eff.source;

	if (s->package)
		json_object_set_new(source, "package", json_string(s->package));
	if (s->version)
		json_object_set_new(source, "version", json_string(s->version));
	if (s->repository)
		json_object_set_new(source, "repository", json_string(s->repository));
	if (s->environment)
		json_object_set_new(source, "environment", json_string(s->environment));
	if (s->unit) {
		json_object_set_new(source, "unit", json_string(s->unit));
		json_object_set_new(source, "enable", json_boolean(s->enable));
	}
	if (s->dest)
		json_object_set_new(source, "dest", json_string(s->dest));
	for (size_t i = 0; i < s->n_artifacts; i++) {
		int r = url_artifact_json(rv, ch, s, &s->artifacts[i], artifacts);

		if (r < 0)
			return r;
	}
	if (s->key) {
		int r = path_artifact(rv, ch, s->key, artifacts);

		if (r < 0)
			return r;
	}
	if (s->path) {
		int r = path_artifact(rv, ch, s->path, artifacts);

		if (r < 0)
			return r;
	}
	if (s->redist) {
		json_object_set_new(source, "redist", json_string(s->redist));
		json_object_set_new(source, "base_url", json_string(s->base_url));
		json_object_set_new(source, "packages", str_list_json(&s->packages));
		return redist_artifacts(rv, res, ch, source, artifacts);
	}
	return 0;
}

static json_t *driver_kinds_json(const bool *kinds)
{
	json_t *a = json_array();

	for (int k = 0; a && k < _DSVM_DRIVER_KIND_MAX; k++)
		if (kinds[k])
			json_array_append_new(a, json_string(dsvm_driver_kind_to_string(k)));
	return a;
}

/* Per component: the kinds it serves when staged, and whether it is installed. */
struct lock_slot {
	const struct choice *install; /* chosen for the build target */
	const struct choice *stage;   /* chosen for another kind (first seen) */
	const struct resolution *stage_res;
	bool kinds[_DSVM_DRIVER_KIND_MAX];
};

static int component_json(struct resolver *rv, const struct resolution *res,
			  const struct choice *ch, const struct lock_slot *slot, unsigned order,
			  json_t **ret)
{
	json_t *o, *source = json_object(), *artifacts = json_array();
	char at[512];
	int r;

	if (!source || !artifacts) {
		json_decref(source);
		json_decref(artifacts);
		return -ENOMEM;
	}
	r = component_source_json(rv, res, ch, source, artifacts);
	if (r < 0) {
		json_decref(source);
		json_decref(artifacts);
		return r;
	}
	o = json_object();
	if (!o) {
		json_decref(source);
		json_decref(artifacts);
		return -ENOMEM;
	}
	json_object_set_new(o, "order", json_integer(order));
	json_object_set_new(o, "name", json_string(ch->c->name));
	json_object_set_new(o, "kind", json_string(component_kind_to_string(ch->c->kind)));
	json_object_set_new(o, "version",
			    ch->eff.version ? json_string(ch->eff.version) : json_null());
	json_object_set_new(o, "action", json_string(slot->install ? "install" : "stage"));
	if (ch->c->stage)
		json_object_set_new(o, "driver_kinds", driver_kinds_json(slot->kinds));
	if (ch->c->allow_setuid)
		json_object_set_new(o, "allow_setuid", json_true());
	if (ch->eff.has_driver)
		json_object_set_new(o, "driver",
				    json_pack("{s:s, s:s}", "kind",
					      dsvm_driver_kind_to_string(ch->eff.driver.kind),
					      "branch", ch->eff.driver.branch));
	json_object_set_new(o, "provides", str_list_json(&ch->c->provides));
	json_object_set_new(o, "requires", str_list_json(&ch->eff.requires));
	if (ch->eff.has_args)
		json_object_set_new(o, "args", str_list_json(&ch->eff.args));
	json_object_set_new(o, "source", source);
	json_object_set_new(o, "artifacts", artifacts);
	if (ch->eff.description)
		json_object_set_new(o, "description", json_string(ch->eff.description));
	json_object_set_new(o, "record",
			    ch->eff.record ? json_string(ch->eff.record) : json_null());
	json_object_set_new(o, "defined_at", json_string(lock_position(rv, ch, at, sizeof(at))));
	if (slot->install)
		json_object_set_new(o, "reason", json_string(ch->why));
	else
		json_object_set_new(o, "reason",
				    json_string("staged offline for another driver kind"));
	*ret = o;
	return 0;
}

static json_t *target_json(const struct resolution *res)
{
	const struct dsvm_target *t = &res->t;

#define OPT(x) ((x)[0] ? (x) : NULL)
	return json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s, s:s, s:b, s:b, s:s}",
			 "driver_kind", dsvm_driver_kind_to_string(t->driver_kind), "driver_branch",
			 OPT(t->driver_branch), "driver_branch_min", OPT(t->driver_branch_min),
			 "driver_branch_max", OPT(t->driver_branch_max), "vm_size", OPT(t->vm_size),
			 "vm_family", OPT(t->vm_family), "gpu_vendor",
			 dsvm_gpu_vendor_to_string(res->vendor), "accelerator",
			 dsvm_accelerator_to_string(res->accel), "infiniband",
			 t->infiniband == DSVM_YES, "nvswitch", t->nvswitch == DSVM_YES, "reason",
			 t->reason);
#undef OPT
}

static json_t *driver_json(const struct resolution *res)
{
	const struct choice *d = res->driver;

	if (!d)
		return json_null();
	return json_pack("{s:s, s:s, s:s, s:s?, s:s}", "kind",
			 dsvm_driver_kind_to_string(d->eff.driver.kind), "branch",
			 d->eff.driver.branch, "version", d->eff.version, "cuda_max",
			 res->cuda_max[0] ? res->cuda_max : NULL, "component", d->c->name);
}

/*
 * The staged-only components, each after what it requires (looked up in the resolution that
 * staged it; installed components come earlier anyway), ties in manifest order. Replaces
 * *order with the new list.
 */
static int order_staged(struct dsvm_ctx *ctx, const struct dsvm_manifest *m,
			const struct lock_slot *slots, size_t **order, size_t *n_order)
{
	_cleanup_free_ size_t *out = calloc(m->n_components ? m->n_components : 1, sizeof(size_t));
	_cleanup_free_ bool *done = calloc(m->n_components ? m->n_components : 1, sizeof(bool));
	size_t n = 0, want = 0;

	if (!out || !done)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_components; i++)
		want += !slots[i].install && slots[i].stage;
	while (n < want) {
		bool progress = false;

		for (size_t i = 0; i < m->n_components && !progress; i++) {
			const struct choice *ch = slots[i].stage;
			bool ready = true;

			if (slots[i].install || !ch || done[i])
				continue;
			for (size_t j = 0; j < ch->eff.requires.n && ready; j++) {
				const struct choice *dep =
					find_chosen(slots[i].stage_res, ch->eff.requires.v[j]);
				size_t d = dep ? (size_t)(dep - slots[i].stage_res->v) : i;

				ready = d == i || slots[d].install || !slots[d].stage || done[d];
			}
			if (ready) {
				done[i] = true;
				out[n++] = i;
				progress = true;
			}
		}
		if (!progress)
			return dsvm_set_error(ctx, -EBADMSG,
					      "%s: the staged components' requirements form a "
					      "cycle",
					      m->edition_doc->path);
	}
	free(*order);
	*order = TAKE_PTR(out);
	*n_order = n;
	return 0;
}

/* How firstboot takes a component of a stack away again (the lock's "stacks" entries). */
static const char *removal_of(enum component_kind kind)
{
	switch (kind) {
	case KIND_APT:
		return "apt-purge";
	case KIND_RUNFILE:
		return "runfile-uninstall";
	case KIND_FILE:
		return "delete";
	case KIND_SERVICE:
		return "disable";
	case KIND_PIP:
		return "pip-uninstall";
	case KIND_ARCHIVE:
	case KIND_NVIDIA_REDIST:
		return "keep";
	default:
		return "none";
	}
}

/*
 * The conditions a staged stack leaves open (fabric, family), as the component states them:
 * firstboot decides them on the machine it finds.
 */
static json_t *open_when_json(const struct component *c)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (c->when.nvswitch >= 0)
		json_object_set_new(o, "nvswitch", json_boolean(c->when.nvswitch));
	if (c->when.infiniband >= 0)
		json_object_set_new(o, "infiniband", json_boolean(c->when.infiniband));
	if (c->when.vm_family.n)
		json_object_set_new(o, "vm_family", str_list_json(&c->when.vm_family));
	return o;
}

/*
 * One entry per (driver kind, branch) stack the image carries: its driver, whether the build
 * installed it, and its components in lock order, each with the conditions left open and how it
 * is removed. Payloads and hashes are in the components list, by name.
 */
static json_t *stacks_json(const struct resolution *main_res, const struct resolution *staged,
			   size_t n_staged, const json_t *components)
{
	json_t *stacks = json_array();

	for (size_t s = 0; stacks && s < n_staged; s++) {
		const struct resolution *res = &staged[s];
		const struct choice *d = res->driver;
		json_t *list = json_array(), *c;
		size_t k;

		if (!d || !list) {
			json_decref(list);
			continue;
		}
		json_array_foreach(components, k, c)
		{
			const char *name = json_string_value(json_object_get(c, "name"));

			for (size_t i = 0; i < res->n; i++) {
				const struct choice *ch = &res->v[i];

				if (!ch->chosen || !ch->c->stage || !streq(ch->c->name, name))
					continue;
				json_array_append_new(
					list,
					json_pack("{s:s, s:s, s:o*, s:s}", "name", name, "kind",
						  component_kind_to_string(ch->c->kind), "when",
						  open_when_json(ch->c), "remove",
						  removal_of(ch->c->kind)));
			}
		}
		json_array_append_new(
			stacks, json_pack("{s:s, s:s, s:s?, s:s, s:s?, s:b, s:o}", "driver_kind",
					  dsvm_driver_kind_to_string(res->t.driver_kind), "branch",
					  d->eff.driver.branch, "version", d->eff.version,
					  "driver_component", d->c->name, "cuda_max",
					  res->cuda_max[0] ? res->cuda_max : NULL, "installed",
					  main_res->driver &&
						  main_res->t.driver_kind == res->t.driver_kind &&
						  streq(main_res->driver->eff.driver.branch,
							d->eff.driver.branch),
					  "components", list));
	}
	return stacks;
}

static int build_lock(struct resolver *rv, struct resolution *main_res, struct resolution *staged,
		      size_t n_staged, json_t **ret)
{
	const struct dsvm_manifest *m = rv->m;
	_cleanup_free_ struct lock_slot *slots =
		calloc(m->n_components ? m->n_components : 1, sizeof(*slots));
	_cleanup_free_ size_t *order = NULL;
	size_t n_order = 0;
	json_t *lock, *components, *dropped;
	unsigned next = 1;
	int r;

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_components; i++)
		if (main_res->v[i].chosen) {
			slots[i].install = &main_res->v[i];
			slots[i].kinds[main_res->t.driver_kind] = true;
		}
	for (size_t s = 0; s < n_staged; s++)
		for (size_t i = 0; i < m->n_components; i++) {
			const struct choice *ch = &staged[s].v[i];

			if (!ch->chosen || !ch->c->stage)
				continue;
			slots[i].kinds[staged[s].t.driver_kind] = true;
			if (!slots[i].stage) {
				slots[i].stage = ch;
				slots[i].stage_res = &staged[s];
			}
		}

	r = order_chosen(main_res, &order, &n_order);
	if (r < 0)
		return r;

	lock = json_object();
	components = json_array();
	dropped = json_array();
	if (!lock || !components || !dropped) {
		json_decref(lock);
		json_decref(components);
		json_decref(dropped);
		return -ENOMEM;
	}
	json_object_set_new(lock, "lock_version", json_integer(1));
	json_object_set_new(lock, "edition", json_string(m->edition));
	json_object_set_new(lock, "os", json_string(m->os));
	json_object_set_new(lock, "platform", json_string(m->platform));
	json_object_set_new(lock, "arch", json_string(main_res->t.arch));
	json_object_set_new(lock, "target", target_json(main_res));
	json_object_set_new(lock, "driver", driver_json(main_res));
	json_object_set_new(lock, "inputs", json_incref(rv->inputs));
	json_object_set_new(lock, "components", components);
	json_object_set_new(lock, "dropped", dropped);

	/* Installed components in dependency order, then staged payloads, also in that order. */
	for (size_t k = 0; k < n_order && r >= 0; k++) {
		size_t i = order[k];
		json_t *o = NULL;

		r = component_json(rv, main_res, slots[i].install, &slots[i], next++, &o);
		if (r >= 0)
			json_array_append_new(components, o);
	}
	if (r >= 0)
		r = order_staged(main_res->ctx, m, slots, &order, &n_order);
	for (size_t k = 0; k < n_order && r >= 0; k++) {
		size_t i = order[k];
		json_t *o = NULL;

		r = component_json(rv, slots[i].stage_res, slots[i].stage, &slots[i], next++, &o);
		if (r >= 0)
			json_array_append_new(components, o);
	}
	for (size_t i = 0; i < m->n_components && r >= 0; i++) {
		const struct choice *ch = &main_res->v[i];
		char at[512];

		if (slots[i].install || slots[i].stage)
			continue;
		json_array_append_new(dropped,
				      json_pack("{s:s, s:s, s:s}", "name", ch->c->name,
						"defined_at", lock_position(rv, ch, at, sizeof(at)),
						"reason", ch->why));
	}
	if (r >= 0 && n_staged) {
		json_t *stacks = stacks_json(main_res, staged, n_staged, components);

		r = stacks ? json_object_set_new(lock, "stacks", stacks) : -ENOMEM;
	}
	if (r < 0) {
		json_decref(lock);
		return r;
	}
	*ret = lock;
	return 0;
}

/*
 * Has (kind, branch) been staged already? The build target's own stack is staged too, with the
 * fabric left open: after a resize to a size with NVSwitch the same kind needs what the build
 * machine did not (fabric manager), and the lock must say what applies only there.
 */
static bool stack_seen(const struct resolution *staged, size_t n_staged, enum dsvm_driver_kind kind,
		       const char *branch)
{
	for (size_t i = 0; i < n_staged; i++)
		if (staged[i].t.driver_kind == kind && streq(staged[i].t.driver_branch, branch))
			return true;
	return false;
}

/*
 * Resolve every (driver kind, branch) the edition offers for this OS and arch, with the fabric
 * and family left open, so the image carries what firstboot needs after any resize: another
 * kind, or another branch of the same kind (an M60 needs a branch an H100 image may not use).
 */
static int stage_driver_stacks(struct dsvm_ctx *ctx, const struct dsvm_manifest *m,
			       const struct dsvm_catalog *catalog,
			       const struct resolution *main_res, struct resolution *staged,
			       size_t *n_staged)
{
	for (size_t i = 0; i < m->n_components; i++) {
		const struct component *c = &m->components[i];
		struct resolution *s;
		struct fields eff;
		int r;

		component_effective(c, &main_res->t, &eff);
		/* Only drivers this OS and arch can take; the rest of 'when' is the machine's. */
		if (!list_matches(&c->when.os, main_res->t.os) ||
		    !list_matches(&c->when.arch, main_res->t.arch))
			continue;
		if (!eff.has_driver || !dsvm_manifest_supports_driver_kind(m, eff.driver.kind) ||
		    stack_seen(staged, *n_staged, eff.driver.kind, eff.driver.branch))
			continue;
		if (*n_staged >= MAX_STAGED)
			return dsvm_set_error(ctx, -E2BIG,
					      "%s: more than %d driver kind and branch pairs to "
					      "stage",
					      m->edition_doc->path, MAX_STAGED);
		s = &staged[(*n_staged)++];
		*s = (struct resolution){
			.ctx = ctx, .m = m, .cat = catalog, .t = main_res->t, .staging = true
		};
		s->t.driver_kind = eff.driver.kind;
		snprintf(s->t.driver_branch, sizeof(s->t.driver_branch), "%s", eff.driver.branch);
		s->t.driver_branch_min[0] = '\0';
		s->t.driver_branch_max[0] = '\0';
		s->t.vm_family[0] = '\0';
		s->t.infiniband = DSVM_ANY;
		s->t.nvswitch = DSVM_ANY;
		r = resolution_run(s);
		if (r < 0)
			return r;
	}
	return 0;
}

static int resolver_add_manifest_inputs(struct resolver *rv)
{
	char hex[65];
	int r = ydoc_sha256(rv->m->edition_doc, hex);

	if (r >= 0)
		r = add_input(rv, manifest_doc_repo_path(rv->m, rv->m->edition_doc), hex);
	for (size_t i = 0; r >= 0 && i < rv->m->n_docs; i++) {
		r = ydoc_sha256(rv->m->docs[i], hex);
		if (r >= 0)
			r = add_input(rv, manifest_doc_repo_path(rv->m, rv->m->docs[i]), hex);
	}
	/* The seal file decides signer-pinned digests: the lock depends on it too. */
	if (r >= 0 && rv->m->seal.exists) {
		_cleanup_free_ char *name = NULL;

		r = manifest_repo_path(rv->m->root, rv->m->seal.path, &name);
		r = add_input(rv, r >= 0 ? name : rv->m->seal.path, rv->m->seal.sha256);
	}
	return r;
}

int dsvm_resolve(struct dsvm_ctx *ctx, const struct dsvm_manifest *m,
		 const struct dsvm_catalog *catalog, const struct dsvm_target *t, unsigned flags,
		 struct dsvm_lock **ret)
{
	struct resolver rv = { .ctx = ctx, .m = m, .inputs = json_array(), .flags = flags };
	struct resolution main_res = { .ctx = ctx, .m = m, .cat = catalog, .t = *t };
	struct resolution staged[MAX_STAGED] = {};
	size_t n_staged = 0;
	json_t *lock_json = NULL;
	struct dsvm_lock *lock = NULL;
	int r;

	if (!rv.inputs)
		return -ENOMEM;
	if (!dsvm_manifest_supports_driver_kind(m, t->driver_kind)) {
		r = dsvm_set_error(ctx, -EBADMSG,
				   "%s: edition '%s' does not serve driver kind '%s' (its "
				   "driver_kinds list)",
				   m->edition_doc->path, m->edition,
				   dsvm_driver_kind_to_string(t->driver_kind));
		goto out;
	}
	if (!dsvm_manifest_has_arch(m, t->arch)) {
		r = dsvm_set_error(ctx, -EBADMSG, "%s: edition '%s' is not built for arch '%s'",
				   m->edition_doc->path, m->edition, t->arch);
		goto out;
	}
	r = resolution_run(&main_res);
	if (r < 0)
		goto out;
	if (flags & DSVM_RESOLVE_ALL_DRIVER_KINDS) {
		r = stage_driver_stacks(ctx, m, catalog, &main_res, staged, &n_staged);
		if (r < 0)
			goto out;
	}
	r = resolver_add_manifest_inputs(&rv);
	/*
	 * The catalog decides kinds and branches as much as the manifests do: its files are inputs
	 * too, by name only, so the lock does not depend on where the catalog was read from.
	 */
	for (size_t i = 0; r >= 0; i++) {
		const char *name;
		char hex[65], path[64];

		if (dsvm_catalog_get_input(catalog, i, &name, hex) < 0)
			break;
		snprintf(path, sizeof(path), "catalog/%s", name);
		r = add_input(&rv, path, hex);
	}
	if (r < 0)
		goto out;
	r = build_lock(&rv, &main_res, staged, n_staged, &lock_json);
	if (r < 0)
		goto out;
	r = dsvm_lock_new_from_json(lock_json, &lock);
	if (r >= 0 && m->root)
		r = dsvm_lock_set_repository(lock, m->root);
	if (r >= 0)
		*ret = TAKE_PTR(lock);
out:
	dsvm_lock_free(lock);
	json_decref(lock_json);
	resolution_free(&main_res);
	for (size_t i = 0; i < n_staged; i++)
		resolution_free(&staged[i]);
	for (size_t i = 0; i < rv.n_redist; i++) {
		free(rv.redist[i].path);
		json_decref(rv.redist[i].json);
	}
	free(rv.redist);
	json_decref(rv.inputs);
	return r;
}
