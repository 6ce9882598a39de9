/* SPDX-License-Identifier: MIT */
/*
 * Driver kinds switched from the image's offline repository in one apt transaction
 * (include/dsvm/apt-offline.h). What is in place is read from dpkg's status file directly, so a
 * boot with nothing to do runs no program at all.
 */
#include <dirent.h>
#include <sys/stat.h>

#include <jansson.h>

#include "apt-internal.h"
#include "dsvm/apt-offline.h"
#include "dsvm/exec.h"
#include "internal.h"

#define INDEX_JSON OFFLINE_REPO "/index.json"
#define MAX_INDEX_BYTES (16u << 20)
#define MAX_NAMES 1024
#define PRIVATE_SOURCES OFFLINE_STATE "/sources.list.d"
#define PRIVATE_SOURCES_FILE "dsvm-offline.list"
#define PRIVATE_LISTS OFFLINE_STATE "/lists"
#define PRIVATE_CACHE OFFLINE_STATE "/cache"
#define PRIVATE_PREFERENCES OFFLINE_STATE "/preferences.d"
#define WHO "offline switch"

/* A package of a set; the strings belong to the index. */
struct pkgver {
	const char *name;
	const char *version;
};

struct plan {
	json_t *index;
	struct pkgver *install;
	size_t n_install;
	const char **remove;
	size_t n_remove;
	struct deb_list status;
};

static void plan_done(struct plan *p)
{
	json_decref(p->index);
	free(p->install);
	free(p->remove);
	deb_list_done(&p->status);
}

static int load_index(struct dsvm_ctx *ctx, json_t **ret)
{
	_cleanup_free_ char *path = dsvm_root_path(ctx, INDEX_JSON), *text = NULL;
	json_error_t err;
	json_t *index;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_file_capped(path, MAX_INDEX_BYTES, &text, NULL);
	if (r < 0)
		return dsvm_set_error(ctx, r,
				      "cannot read the offline repository's index '%s': %s (the "
				      "image was built without staged driver packages?)",
				      path, strerror(-r));
	index = json_loads(text, 0, &err);
	if (!index || !json_is_array(json_object_get(index, "components"))) {
		json_decref(index);
		return dsvm_set_error(ctx, -EBADMSG,
				      "'%s' is not the offline repository's index (%s): rebuild "
				      "the image",
				      path, index ? "no components list" : err.text);
	}
	*ret = index;
	return 0;
}

/* The packages index.json records for component, each checked as a name and a version. */
static int component_packages(struct dsvm_ctx *ctx, const json_t *index, const char *component,
			      const json_t **ret)
{
	const json_t *c, *pkgs = NULL, *e;
	size_t i;

	json_array_foreach(json_object_get(index, "components"), i, c)
	{
		const char *name = json_string_value(json_object_get(c, "name"));

		if (name && component && streq(name, component)) {
			pkgs = json_object_get(c, "packages");
			break;
		}
	}
	if (!pkgs)
		return dsvm_set_error(ctx, -ENOENT,
				      "component '%s' is not in the offline repository's index "
				      "'%s' "
				      "(the image did not stage it)",
				      component ? component : "", INDEX_JSON);
	if (json_array_size(pkgs) == 0)
		return dsvm_set_error(ctx, -EBADMSG, "'%s' records no packages for component '%s'",
				      INDEX_JSON, component);
	json_array_foreach(pkgs, i, e)
	{
		const char *p = json_string_value(json_object_get(e, "package"));
		const char *v = json_string_value(json_object_get(e, "version"));

		if (!deb_name_is_valid(p) || !deb_version_is_valid(v))
			return dsvm_set_error(ctx, -EBADMSG,
					      "'%s': component '%s' has a package without a valid "
					      "name and version (package %zu)",
					      INDEX_JSON, component, i + 1);
	}
	*ret = pkgs;
	return 0;
}

static const struct pkgver *find_pkg(const struct pkgver *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(v[i].name, name))
			return &v[i];
	return NULL;
}

static bool have_name(const char *const *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(v[i], name))
			return true;
	return false;
}

/* Every package named in the sets of components (their total, for the arrays). */
static int count_packages(struct dsvm_ctx *ctx, const json_t *index, const char *const *components,
			  size_t n, size_t *total)
{
	for (size_t i = 0; i < n; i++) {
		const json_t *pkgs;
		int r = component_packages(ctx, index, components[i], &pkgs);

		if (r < 0)
			return r;
		*total += json_array_size(pkgs);
	}
	return 0;
}

/* The install set (name=version, once each) and the names to purge (not in the install set). */
static int make_plan(struct dsvm_ctx *ctx, const char *const *install, size_t n_install,
		     const char *const *remove, size_t n_remove, struct plan *p)
{
	size_t n_in = 0, n_out = 0;
	const json_t *pkgs, *e;
	size_t k;
	int r;

	if (n_install > MAX_NAMES || n_remove > MAX_NAMES)
		return dsvm_set_error(ctx, -E2BIG, "more than %u components to switch", MAX_NAMES);
	r = load_index(ctx, &p->index);
	if (r == 0)
		r = count_packages(ctx, p->index, install, n_install, &n_in);
	if (r == 0)
		r = count_packages(ctx, p->index, remove, n_remove, &n_out);
	if (r < 0)
		return r;
	p->install = calloc(n_in + 1, sizeof(*p->install));
	p->remove = calloc(n_out + 1, sizeof(*p->remove));
	if (!p->install || !p->remove)
		return -ENOMEM;
	for (size_t i = 0; i < n_install; i++) {
		(void)component_packages(ctx, p->index, install[i], &pkgs);
		json_array_foreach(pkgs, k, e)
		{
			const char *name = json_string_value(json_object_get(e, "package"));
			const char *ver = json_string_value(json_object_get(e, "version"));
			const struct pkgver *seen = find_pkg(p->install, p->n_install, name);

			if (seen && !streq(seen->version, ver))
				return dsvm_set_error(ctx, -EBADMSG,
						      "the sets to install pin '%s' at both '%s' "
						      "and '%s' (component '%s')",
						      name, seen->version, ver, install[i]);
			if (!seen)
				p->install[p->n_install++] = (struct pkgver){ name, ver };
		}
	}
	for (size_t i = 0; i < n_remove; i++) {
		(void)component_packages(ctx, p->index, remove[i], &pkgs);
		json_array_foreach(pkgs, k, e)
		{
			const char *name = json_string_value(json_object_get(e, "package"));

			if (!find_pkg(p->install, p->n_install, name) &&
			    !have_name(p->remove, p->n_remove, name))
				p->remove[p->n_remove++] = name;
		}
	}
	return 0;
}

/* Something of name is left for dpkg: installed in any state, config files, or a hold. */
static bool is_present(const struct deb_list *status, const char *name)
{
	for (size_t i = 0; i < status->n; i++) {
		const struct deb_pkg *q = &status->v[i];

		if (q->package && streq(q->package, name) &&
		    (!deb_pkg_is_not_installed(q) || deb_pkg_is_held(q)))
			return true;
	}
	return false;
}

/* The first package of the plan that is not as it should be, or NULL. */
static const char *first_out_of_place(const struct plan *p)
{
	for (size_t i = 0; i < p->n_install; i++) {
		const struct deb_pkg *q = deb_list_find_installed(&p->status, p->install[i].name,
								  p->install[i].version);

		if (!q || !deb_pkg_is_held(q))
			return p->install[i].name;
	}
	for (size_t i = 0; i < p->n_remove; i++)
		if (is_present(&p->status, p->remove[i]))
			return p->remove[i];
	return NULL;
}

static int write_if_different(struct dsvm_ctx *ctx, const char *path, const char *text)
{
	_cleanup_free_ char *old = NULL;
	int r;

	if (read_file_capped(path, 65536, &old, NULL) == 0 && streq(old, text))
		return 0;
	r = write_file_atomic(path, text, strlen(text), 0644);
	return r < 0 ? dsvm_set_error(ctx, r, "cannot write '%s': %s", path, strerror(-r)) : 0;
}

/*
 * apt's private state: its directories, lists emptied, and a sources directory holding the
 * offline repository's line alone (anything else found there is removed: it would be read too).
 */
static int prepare_state(struct dsvm_ctx *ctx)
{
	static const char *const dirs[] = { PRIVATE_SOURCES, PRIVATE_LISTS "/partial",
					    PRIVATE_CACHE "/archives/partial",
					    PRIVATE_PREFERENCES };
	static const char text[] = "# Written by dsvm: the image's offline repository, signed by "
				   "its own key.\n" OFFLINE_SOURCES_LINE "\n";
	_cleanup_free_ char *key = dsvm_root_path(ctx, OFFLINE_REPO_KEY);
	_cleanup_free_ char *sources = dsvm_root_path(ctx, PRIVATE_SOURCES), *file = NULL;
	_cleanup_free_ char *lists = dsvm_root_path(ctx, PRIVATE_LISTS);
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (!key || !sources || !lists)
		return -ENOMEM;
	/* Every switch reads and verifies the repository afresh: nothing earlier is trusted. */
	remove_tree(lists);
	if (access(key, R_OK) < 0)
		return dsvm_set_error(ctx, -EBADMSG,
				      "the offline repository's key '%s' is missing (%m): apt "
				      "would refuse the repository; rebuild the image",
				      key);
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		_cleanup_free_ char *p = dsvm_root_path(ctx, dirs[i]);

		r = p ? mkdir_parents(p, 0755) : -ENOMEM;
		if (r < 0)
			return dsvm_set_error(ctx, r, "cannot create '%s': %s", p ? p : dirs[i],
					      strerror(-r));
	}
	d = opendir(sources);
	while (d && r == 0 && (de = readdir(d))) {
		_cleanup_free_ char *p = NULL;

		if (streq(de->d_name, ".") || streq(de->d_name, "..") ||
		    streq(de->d_name, PRIVATE_SOURCES_FILE))
			continue;
		p = strdup_printf("%s/%s", sources, de->d_name);
		if (!p)
			r = -ENOMEM;
		else if (unlink(p) < 0 && errno != ENOENT)
			r = dsvm_set_error(ctx, -errno, "cannot remove '%s': %m", p);
	}
	if (d)
		closedir(d);
	file = strdup_printf("%s/%s", sources, PRIVATE_SOURCES_FILE);
	if (r == 0)
		r = file ? write_if_different(ctx, file, text) : -ENOMEM;
	return r;
}

/* The options that keep apt to the offline repository and its own state. */
static void add_private_options(struct args *a)
{
	args_add(a, "-q");
	args_add(a, "-oDPkg::Lock::Timeout=60");
	args_add(a, "-oDpkg::Use-Pty=0");
	args_add(a, "-oDir::Etc::SourceList=/dev/null");
	args_add(a, "-oDir::Etc::SourceParts=" PRIVATE_SOURCES);
	args_add(a, "-oDir::State::Lists=" PRIVATE_LISTS);
	args_add(a, "-oDir::Cache=" PRIVATE_CACHE);
	/* The system's pins were written for its own sources; name=version decides here. */
	args_add(a, "-oDir::Etc::Preferences=/dev/null");
	args_add(a, "-oDir::Etc::PreferencesParts=" PRIVATE_PREFERENCES);
	args_add(a, "-oAcquire::Languages=none");
	args_add(a, "-oAcquire::GzipIndexes=false");
}

static int run_apt(struct dsvm_ctx *ctx, const char *what, struct args *a, unsigned timeout_s)
{
	_cleanup_free_ char *out = NULL;
	const char *hint = "";
	int r, e = -EIO;

	if (a->oom)
		return -ENOMEM;
	r = dsvm_root_run(ctx, a->v, NULL, timeout_s, &out);
	if (r <= 0)
		return r;
	if (apt_output_is_unverified(out)) {
		e = -EBADMSG;
		hint = ": apt refused the offline repository (signature or hash): the image's "
		       "repository or its key was changed; rebuild the image";
	} else if (strstr(out, "Could not get lock")) {
		e = -EBUSY;
		hint = ": another apt or dpkg kept the lock for over 60 s; try again when it is "
		       "done";
	}
	return dsvm_set_error(ctx, e,
			      WHO ": '%s' in '%s' failed (exit status %d)%s; its output ended:\n%s",
			      what, dsvm_ctx_get_root(ctx), r, hint, apt_output_tail(out));
}

static int apt_update(struct dsvm_ctx *ctx, unsigned timeout_s)
{
	struct args a = { 0 };
	int r;

	args_add(&a, APT_GET);
	add_private_options(&a);
	/* A bad signature is only a warning for apt-get update without this. */
	args_add(&a, "--error-on=any");
	args_add(&a, "update");
	r = run_apt(ctx, "apt-get update", &a, timeout_s);
	args_done(&a);
	return r;
}

static int apt_install(struct dsvm_ctx *ctx, const struct plan *p, unsigned timeout_s)
{
	struct args a = { 0 };
	int r;

	args_add(&a, APT_GET);
	add_private_options(&a);
	args_add(&a, "-y");
	args_add(&a, "--no-install-recommends");
	args_add(&a, "--allow-downgrades");
	args_add(&a, "--allow-change-held-packages");
	args_add(&a, "--purge");
	args_add(&a, "-oDpkg::Options::=--force-confdef");
	args_add(&a, "-oDpkg::Options::=--force-confold");
	args_add(&a, "install");
	for (size_t i = 0; i < p->n_install; i++)
		args_addf(&a, "%s=%s", p->install[i].name, p->install[i].version);
	for (size_t i = 0; i < p->n_remove; i++)
		if (is_present(&p->status, p->remove[i]))
			args_addf(&a, "%s-", p->remove[i]);
	r = run_apt(ctx, "apt-get install", &a, timeout_s);
	args_done(&a);
	return r;
}

/* apt-mark hold of the install set not held yet, unhold of what was removed and still held. */
static int apt_marks(struct dsvm_ctx *ctx, const struct plan *p, unsigned timeout_s)
{
	struct args hold = { 0 }, unhold = { 0 };
	size_t n_hold = 0, n_unhold = 0;
	int r;

	args_add(&hold, APT_MARK);
	add_private_options(&hold);
	args_add(&hold, "hold");
	args_add(&unhold, APT_MARK);
	add_private_options(&unhold);
	args_add(&unhold, "unhold");
	for (size_t i = 0; i < p->n_install; i++) {
		const struct deb_pkg *q =
			deb_list_find_installed(&p->status, p->install[i].name, NULL);

		if (!q || !deb_pkg_is_held(q)) {
			args_add(&hold, p->install[i].name);
			n_hold++;
		}
	}
	for (size_t i = 0; i < p->n_remove; i++)
		for (size_t k = 0; k < p->status.n; k++)
			if (p->status.v[k].package && streq(p->status.v[k].package, p->remove[i]) &&
			    deb_pkg_is_held(&p->status.v[k])) {
				args_add(&unhold, p->remove[i]);
				n_unhold++;
				break;
			}
	r = n_hold ? run_apt(ctx, "apt-mark hold", &hold, timeout_s) : 0;
	if (r == 0 && n_unhold)
		r = run_apt(ctx, "apt-mark unhold", &unhold, timeout_s);
	args_done(&hold);
	args_done(&unhold);
	return r;
}

int dsvm_apt_offline_switch(struct dsvm_ctx *ctx, const char *const *install, size_t n_install,
			    const char *const *remove, size_t n_remove, unsigned timeout_s,
			    bool *ret_changed)
{
	struct plan p = { 0 };
	const char *off;
	bool changed = false;
	int r = make_plan(ctx, install, n_install, remove, n_remove, &p);

	if (r == 0)
		r = dpkg_status_read(ctx, &p.status);
	if (r == 0 && !dpkg_is_interrupted(ctx, &p.status) && !first_out_of_place(&p)) {
		dsvm_debug(ctx, WHO ": every package already in place; apt not run");
		plan_done(&p);
		if (ret_changed)
			*ret_changed = false;
		return 0;
	}
	/* A switch killed half-way (or any interrupted dpkg) is finished before apt may run. */
	if (r == 0)
		r = dpkg_recover(ctx, &p.status, timeout_s, WHO, &changed);
	if (r == 0 && first_out_of_place(&p)) {
		r = prepare_state(ctx);
		if (r == 0)
			r = apt_update(ctx, timeout_s);
		if (r == 0)
			r = apt_install(ctx, &p, timeout_s);
		if (r == 0)
			r = dpkg_status_read(ctx, &p.status);
		if (r == 0)
			r = apt_marks(ctx, &p, timeout_s);
		if (r == 0)
			r = dpkg_status_read(ctx, &p.status);
		off = r == 0 ? first_out_of_place(&p) : NULL;
		if (off)
			r = dsvm_set_error(ctx, -EIO,
					   WHO ": apt-get succeeded, but '%s' is not as asked "
					       "(installed at its version and held, or purged)",
					   off);
		changed = true;
	}
	plan_done(&p);
	if (r == 0 && ret_changed)
		*ret_changed = changed;
	return r;
}

int dsvm_apt_offline_packages(struct dsvm_ctx *ctx, const char *component, char ***ret_names,
			      char ***ret_versions, size_t *ret_n)
{
	json_t *index = NULL;
	const json_t *pkgs = NULL, *e;
	char **names = NULL, **versions = NULL;
	size_t i, n = 0;
	int r = load_index(ctx, &index);

	if (r == 0)
		r = component_packages(ctx, index, component, &pkgs);
	if (r == 0) {
		names = calloc(json_array_size(pkgs) + 1, sizeof(char *));
		versions = calloc(json_array_size(pkgs) + 1, sizeof(char *));
		r = names && versions ? 0 : -ENOMEM;
	}
	if (r == 0)
		json_array_foreach(pkgs, i, e)
		{
			names[n] = strdup(json_string_value(json_object_get(e, "package")));
			versions[n] = strdup(json_string_value(json_object_get(e, "version")));
			n++;
			if (!names[n - 1] || !versions[n - 1]) {
				r = -ENOMEM;
				break;
			}
		}
	json_decref(index);
	if (r < 0) {
		for (i = 0; i < n; i++) {
			free(names[i]);
			free(versions[i]);
		}
		free(names);
		free(versions);
		return r;
	}
	*ret_names = names;
	*ret_versions = versions;
	*ret_n = n;
	return 0;
}

int dsvm_apt_offline_is_installed(struct dsvm_ctx *ctx, const char *component, bool *ret)
{
	struct deb_list status = { 0 };
	json_t *index = NULL;
	const json_t *pkgs = NULL, *e;
	bool all = true;
	size_t i;
	int r = load_index(ctx, &index);

	if (r == 0)
		r = component_packages(ctx, index, component, &pkgs);
	if (r == 0)
		r = dpkg_status_read(ctx, &status);
	json_array_foreach(r == 0 ? pkgs : NULL, i, e)
	{
		const char *name = json_string_value(json_object_get(e, "package"));
		const char *version = json_string_value(json_object_get(e, "version"));

		if (!deb_list_find_installed(&status, name, version))
			all = false;
	}
	deb_list_done(&status);
	json_decref(index);
	if (r == 0)
		*ret = all;
	return r;
}
