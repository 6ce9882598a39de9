/* SPDX-License-Identifier: MIT */
#include "internal.h"
#include "lock-internal.h"

/* A lock lists a few hundred components; 16 MiB leaves room and still bounds a bad file. */
#define LOCK_MAX_BYTES (16 * 1024 * 1024)

struct dsvm_lock {
	json_t *json;
	json_t *files; /* repository path -> the file to read, under the repository set */
};

int dsvm_lock_new_from_json(json_t *json, struct dsvm_lock **ret)
{
	struct dsvm_lock *lock = calloc(1, sizeof(*lock));

	if (!lock)
		return -ENOMEM;
	lock->json = json_incref(json);
	*ret = lock;
	return 0;
}

void dsvm_lock_free(struct dsvm_lock *lock)
{
	if (!lock)
		return;
	json_decref(lock->json);
	json_decref(lock->files);
	free(lock);
}

int dsvm_lock_set_repository(struct dsvm_lock *lock, const char *dir)
{
	json_t *files = json_object(), *c, *a;
	size_t i, j;

	if (!files)
		return -ENOMEM;
	json_array_foreach(json_object_get(lock->json, "components"), i, c)
	{
		json_array_foreach(json_object_get(c, "artifacts"), j, a)
		{
			const char *name = json_string_value(json_object_get(a, "path"));
			_cleanup_free_ char *file = NULL;

			if (!name || json_object_get(files, name))
				continue;
			file = path_join_relative(dir, name);
			if (!file || json_object_set_new(files, name, json_string(file)) < 0) {
				json_decref(files);
				return -ENOMEM;
			}
		}
	}
	json_decref(lock->files);
	lock->files = files;
	return 0;
}

const char *dsvm_lock_file_path(const struct dsvm_lock *lock, const char *name)
{
	const char *file = name ? json_string_value(json_object_get(lock->files, name)) : NULL;

	return file ? file : name;
}

int dsvm_lock_check_files(struct dsvm_ctx *ctx, const struct dsvm_lock *lock)
{
	const char *name;
	json_t *file;

	json_object_foreach(lock->files, name, file)
	{
		const char *path = json_string_value(file);

		if (access(path, R_OK) < 0)
			return dsvm_set_error(ctx, -errno,
					      "cannot read '%s'%s%s%s (a file the lock names "
					      "relative "
					      "to the manifests' repository): %m; give that "
					      "repository "
					      "(the folder holding manifests/) with --repo DIR, or "
					      "run "
					      "from it",
					      path, streq(path, name) ? "" : " ('",
					      streq(path, name) ? "" : name,
					      streq(path, name) ? "" : "')");
	}
	return 0;
}

const json_t *dsvm_lock_json(const struct dsvm_lock *lock)
{
	return lock->json;
}

int dsvm_lock_to_string(const struct dsvm_lock *lock, char **ret)
{
	char *text = json_dumps(lock->json, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	char *out;

	if (!text)
		return -ENOMEM;
	out = strdup_printf("%s\n", text);
	free(text);
	if (!out)
		return -ENOMEM;
	*ret = out;
	return 0;
}

int dsvm_lock_write(struct dsvm_ctx *ctx, const struct dsvm_lock *lock, const char *path)
{
	_cleanup_free_ char *text = NULL;
	int r;

	r = dsvm_lock_to_string(lock, &text);
	if (r < 0)
		return r;
	r = write_file_atomic(path, text, strlen(text), 0644);
	if (r < 0)
		return dsvm_set_error(ctx, r, "cannot write lock '%s': %s", path, strerror(-r));
	return 0;
}

static int bad(struct dsvm_ctx *ctx, const char *path, const char *where, const char *what)
{
	return dsvm_set_error(ctx, -EBADMSG, "%s: %s: %s; regenerate it with 'dsvm-build resolve'",
			      path, where, what);
}

/* Whether a '/'-separated path has a ".." component. */
static bool has_dotdot(const char *p)
{
	for (;;) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return true;
		if (!p[n])
			return false;
		p += n + 1;
	}
}

static int check_artifact(struct dsvm_ctx *ctx, const char *path, size_t ci, size_t ai,
			  const json_t *a)
{
	const char *url = json_string_value(json_object_get(a, "url"));
	const char *file = json_string_value(json_object_get(a, "path"));
	const char *sha = json_string_value(json_object_get(a, "sha256"));
	char where[96];

	snprintf(where, sizeof(where), "components[%zu].artifacts[%zu]", ci, ai);
	if (!json_is_object(a))
		return bad(ctx, path, where, "not an object");
	/* resolve --allow-unsealed: readable for review, never fetched or installed. */
	if (json_is_string(json_object_get(a, "seal")) &&
	    streq(json_string_value(json_object_get(a, "seal")), "awaiting"))
		return dsvm_set_error(ctx, -EBADMSG,
				      "%s: %s ('%s') is pinned by its signer and awaits its seal: "
				      "run 'dsvm-build seal EDITION', commit the seal file and "
				      "resolve again",
				      path, where, url ? url : "?");
	if (!sha || !is_sha256_hex(sha))
		return bad(ctx, path, where, "sha256 missing or not 64 lowercase hex characters");
	if (json_object_get(a, "unpacked_size") &&
	    json_integer_value(json_object_get(a, "unpacked_size")) <= 0)
		return bad(ctx, path, where, "unpacked_size is not a positive integer");
	if (!url == !file)
		return bad(ctx, path, where, "needs exactly one of 'url' and 'path'");
	/* Repository paths stay inside it; only a hand-written lock names an absolute path. */
	if (file && file[0] != '/' && has_dotdot(file))
		return bad(ctx, path, where, "'path' climbs out of the repository with '..'");
	if (url && strncmp(url, "https://", 8) != 0 && strncmp(url, "http://127.0.0.1", 16) != 0 &&
	    strncmp(url, "http://localhost", 16) != 0)
		return bad(ctx, path, where, "url is not https://");
	return 0;
}

static int check_lock(struct dsvm_ctx *ctx, const char *path, const json_t *root)
{
	const json_t *components = json_object_get(root, "components");
	size_t i;
	json_t *c;

	if (!json_is_object(root))
		return bad(ctx, path, "top level", "not a JSON object");
	if (json_integer_value(json_object_get(root, "lock_version")) != 1)
		return bad(ctx, path, "lock_version", "not 1 (this dsvm reads version 1)");
	if (!json_is_string(json_object_get(root, "edition")))
		return bad(ctx, path, "edition", "missing");
	if (!json_is_array(components))
		return bad(ctx, path, "components", "missing or not an array");
	json_array_foreach(components, i, c)
	{
		const char *action = json_string_value(json_object_get(c, "action"));
		const json_t *artifacts = json_object_get(c, "artifacts");
		char where[64];
		size_t j;
		json_t *a;
		int r;

		snprintf(where, sizeof(where), "components[%zu]", i);
		if (!json_is_string(json_object_get(c, "name")) ||
		    !json_is_string(json_object_get(c, "kind")))
			return bad(ctx, path, where, "needs 'name' and 'kind'");
		if ((size_t)json_integer_value(json_object_get(c, "order")) != i + 1)
			return bad(ctx, path, where, "'order' is not its position");
		if (!action || (!streq(action, "install") && !streq(action, "stage")))
			return bad(ctx, path, where, "'action' must be install or stage");
		if (!json_is_array(artifacts))
			return bad(ctx, path, where, "'artifacts' missing");
		json_array_foreach(artifacts, j, a)
		{
			r = check_artifact(ctx, path, i, j, a);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int dsvm_lock_load(struct dsvm_ctx *ctx, const char *path, struct dsvm_lock **ret)
{
	_cleanup_free_ char *buf = NULL;
	json_error_t jerr;
	json_t *json;
	size_t size;
	int r;

	r = read_file_capped(path, LOCK_MAX_BYTES, &buf, &size);
	if (r < 0)
		return dsvm_set_error(ctx, r, "cannot read lock '%s': %s", path, strerror(-r));
	json = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &jerr);
	if (!json)
		return dsvm_set_error(ctx, -EBADMSG, "%s:%d:%d: %s", path, jerr.line, jerr.column,
				      jerr.text);
	r = check_lock(ctx, path, json);
	if (r >= 0)
		r = dsvm_lock_new_from_json(json, ret);
	json_decref(json);
	return r;
}

size_t dsvm_lock_count_unsealed(const struct dsvm_lock *lock)
{
	size_t n = 0, i, j;
	json_t *c, *a;

	json_array_foreach(json_object_get(lock->json, "components"), i, c)
	{
		json_array_foreach(json_object_get(c, "artifacts"), j, a)
		{
			const char *seal = json_string_value(json_object_get(a, "seal"));

			n += seal && streq(seal, "awaiting");
		}
	}
	return n;
}

size_t dsvm_lock_count_components(const struct dsvm_lock *lock)
{
	return json_array_size(json_object_get(lock->json, "components"));
}

const char *dsvm_lock_get_edition(const struct dsvm_lock *lock)
{
	return json_string_value(json_object_get(lock->json, "edition"));
}

int dsvm_lock_get_entry(const struct dsvm_lock *lock, size_t i, struct dsvm_lock_entry *ret)
{
	const json_t *c = json_array_get(json_object_get(lock->json, "components"), i);

	if (!c)
		return -ERANGE;
	*ret = (struct dsvm_lock_entry){
		.order = (unsigned)json_integer_value(json_object_get(c, "order")),
		.name = json_string_value(json_object_get(c, "name")),
		.kind = json_string_value(json_object_get(c, "kind")),
		.version = json_string_value(json_object_get(c, "version")),
		.action = json_string_value(json_object_get(c, "action")),
		.reason = json_string_value(json_object_get(c, "reason")),
		.n_artifacts = json_array_size(json_object_get(c, "artifacts")),
	};
	return 0;
}

const char *dsvm_lock_get_driver_field(const struct dsvm_lock *lock, const char *field)
{
	const char *v =
		json_string_value(json_object_get(json_object_get(lock->json, "driver"), field));

	return v ? v : "";
}
