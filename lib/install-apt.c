/* SPDX-License-Identifier: MIT */
/*
 * apt: a pinned package from a signed repository, installed by apt-get running inside the root
 * and held with everything it brought from that repository; or, for a driver kind the image
 * does not run, the same packages staged into the image's offline repository (REPO_DIR/apt) for
 * firstboot to install with no network.
 *
 * Which packages: the pinned package=version and, recursively, each of its Depends and
 * Pre-Depends that the root does not already meet, taken from the same repository at the
 * pinned family's version (lib/debian.c). apt is given every one of them as name=version: given
 * only the top package, it takes the newest library the repository has, the driver/library
 * version mismatch FIELD-NOTES describes. The set is recorded in the receipt
 * (INSTALLED_DIR/<name>.json) before dpkg changes anything, so a run killed half-way and redone
 * installs, holds and reports the same set; packages recorded there do not count as the root's
 * own when the set is worked out again for a new pin.
 *
 * apt-get only ever reads the component's own source for `update` (a private sources list, the
 * other lists kept), verifies the repository's signature with the key from the lock (signed-by
 * a file under KEYS_DIR), and verifies every .deb against the signed index.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "apt-internal.h"
#include "install-internal.h"
#include "internal.h"

#define POLICY_RC_D "/usr/sbin/policy-rc.d"
#define KEYS_DIR "/etc/dsvm/keys"
/*
 * Receipts of what is staged in the offline repository, apart from INSTALLED_DIR's: a driver
 * component the image installs is staged too, and each record must outlive the other.
 */
#define STAGED_DIR "/var/lib/dsvm/staged"
#define SOURCES_DIR "/etc/apt/sources.list.d"
#define APT_REPO OFFLINE_REPO
/* A step's private apt state (lists, downloads), inside the root, removed when it ends. */
#define APT_WORK DSVM_JOURNAL_DIR "/apt"
#define MAX_LIST_BYTES (512u << 20)
#define MAX_RECEIPT_BYTES (16u << 20)
#define MAX_REPO_WORDS 16
/* A repository's .deb file name, and the offline repository's: 16 hex digits, '-', that name. */
#define DEB_NAME_MAX 200
#define STAGED_NAME_MAX (17 + DEB_NAME_MAX)
/* policy-rc.d files carrying this line are ours: a leftover of a killed run is removed. */
#define POLICY_MARK "# dsvm-build: no service starts in a root being built"

struct pin {
	char *package;
	char *version;
	/* From the signed index, what apt verifies the .deb against (NULL/0: not known). */
	char *architecture;
	char *sha256;
	uint64_t size;
};

struct apt_job {
	struct installer *in;
	const json_t *c;
	const char *name, *package, *version, *repository;
	bool stage;
	const json_t *key;  /* the key artifact, or NULL: the root's trusted keys */
	char *key_img;	    /* KEYS_DIR/<key name> */
	char *line;	    /* the sources line */
	char *sources_img;  /* install: SOURCES_DIR/dsvm-<id>.list; stage: under APT_WORK */
	char *receipt_path; /* under --root */
	char *arch;
	struct deb_list repo;	/* the repository's Packages */
	struct deb_list status; /* the root's dpkg status */
	struct pin *set; /* what the component installs or stages, the pinned package first */
	size_t n_set;
	struct pin *remove; /* install: an earlier pin's packages this one replaces */
	size_t n_remove;
	json_t *staged; /* stage: [{package, version, architecture, filename, size, sha256, stanza}] */
};

static void pins_free(struct pin *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].package);
		free(v[i].version);
		free(v[i].architecture);
		free(v[i].sha256);
	}
	free(v);
}

static void job_done(struct apt_job *j)
{
	free(j->key_img);
	free(j->line);
	free(j->sources_img);
	free(j->receipt_path);
	free(j->arch);
	deb_list_done(&j->repo);
	deb_list_done(&j->status);
	pins_free(j->set, j->n_set);
	pins_free(j->remove, j->n_remove);
	json_decref(j->staged);
}

/*
 * What apt's words say went wrong, as the -errno whose exit code fits: a signature or hash apt
 * could not verify is bad data (65), an unreachable repository 69, a held lock 75. Anything
 * else is apt-get or dpkg running and failing (a maintainer script, a conflict): the job
 * failed, -ECHILD (1) as for every other program run in the root, never "bad data".
 */
static int apt_failure(const char *out)
{
	static const char *const unreachable[] = { "Could not connect", "Failed to connect",
						   "Unable to connect",
						   "Temporary failure resolving",
						   "Could not resolve" };

	if (apt_output_is_unverified(out))
		return -EBADMSG;
	for (size_t i = 0; out && i < ARRAY_SIZE(unreachable); i++)
		if (strstr(out, unreachable[i]))
			return -EHOSTUNREACH;
	if (out && strstr(out, "Could not get lock"))
		return -EBUSY;
	return -ECHILD;
}

static const char *failure_hint(int e)
{
	switch (e) {
	case -EBADMSG:
		return ": apt could not verify the repository's signature with the lock's key, or "
		       "a "
		       "file against the signed index; check the key and what the server serves";
	case -EHOSTUNREACH:
		return ": the repository is unreachable; check the network or proxy";
	case -EBUSY:
		return ": another apt or dpkg holds the lock; run again when it is done";
	default:
		return "";
	}
}

/*
 * Run a->v inside the root. A non-zero exit is an error naming the component, its pin, the
 * repository and the end of what the program said. *ret_output (may be NULL) gets the output.
 */
static int run_in_root(struct apt_job *j, const char *what, struct args *a, char **ret_output)
{
	_cleanup_free_ char *out = NULL;
	int r;

	if (a->oom)
		return -ENOMEM;
	r = installer_run(j->in, a->v, NULL, &out);
	if (r < 0)
		return r;
	if (r != 0) {
		int e = apt_failure(out);

		return dsvm_set_error(j->in->ctx, e,
				      "'%s': %s for %s=%s from '%s' failed (exit status %d)%s; its "
				      "output ended:\n%s",
				      j->name, what, j->package, j->version, j->repository, r,
				      failure_hint(e), apt_output_tail(out));
	}
	if (ret_output)
		*ret_output = TAKE_PTR(out);
	return 0;
}

/* The options every apt-get call takes. */
static void add_apt_get(struct args *a)
{
	args_add(a, APT_GET);
	args_add(a, "-q");
	args_add(a, "-oDPkg::Lock::Timeout=60");
	args_add(a, "-oDpkg::Use-Pty=0");
}

/* Options that make apt read the component's source alone, and (stage) keep its state private. */
static void add_source_options(struct args *a, const struct apt_job *j)
{
	args_addf(a, "-oDir::Etc::sourcelist=%s", j->sources_img);
	args_add(a, "-oDir::Etc::sourceparts=-");
	/* Without this, an update of one source deletes every other source's lists. */
	args_add(a, "-oAPT::Get::List-Cleanup=0");
	args_add(a, "-oAcquire::GzipIndexes=false");
	args_add(a, "-oAcquire::Languages=none");
	if (j->stage) {
		args_add(a, "-oDir::State::Lists=" APT_WORK "/lists");
		args_add(a, "-oDir::Cache=" APT_WORK "/cache");
	}
}

static bool is_sources_word(const char *w, size_t n, bool url)
{
	static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789._/+~-";

	for (size_t i = 0; i < n; i++)
		if (!strchr(plain, w[i]) && !(url && strchr(":@%?=&,;", w[i])))
			return false;
	return n > 0 && w[0] != '-';
}

/*
 * "URL SUITE [COMPONENT...]" into the sources line: a flat repository ("URL ./", a suite ending
 * in '/') has no components, any other needs one.
 */
static int sources_line(struct apt_job *j)
{
	const char *s = j->repository, *words[MAX_REPO_WORDS];
	size_t lens[MAX_REPO_WORDS], n = 0;
	_cleanup_free_ char *opts = NULL, *tail = NULL;

	while (*s) {
		size_t len;

		s += strspn(s, " \t");
		len = strcspn(s, " \t");
		if (len == 0)
			break;
		if (n == MAX_REPO_WORDS || !is_sources_word(s, len, n == 0))
			goto bad;
		words[n] = s;
		lens[n++] = len;
		s += len;
	}
	if (n < 2 || (strncmp(words[0], "https://", 8) != 0 &&
		      strncmp(words[0], "http://", 7) != 0 && strncmp(words[0], "file:", 5) != 0))
		goto bad;
	if ((words[1][lens[1] - 1] == '/') != (n == 2))
		goto bad;
	tail = strdup_printf("%.*s", (int)(words[n - 1] + lens[n - 1] - words[0]), words[0]);
	opts = j->key_img ? strdup_printf("[signed-by=%s] ", j->key_img) : strdup("");
	if (!tail || !opts)
		return -ENOMEM;
	j->line = strdup_printf("deb %s%s\n", opts, tail);
	return j->line ? 0 : -ENOMEM;
bad:
	return dsvm_set_error(j->in->ctx, -EBADMSG,
			      "'%s': repository '%s' is not 'URL SUITE COMPONENT...' or 'URL ./' "
			      "(http, https or file URL; words of letters, digits and ._/+~-)",
			      j->name, j->repository);
}

static bool is_key_name(const char *s)
{
	return s && *s && *s != '.' && strlen(s) < 128 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-") ==
		       strlen(s);
}

static int job_init(struct installer *in, const json_t *c, bool stage, struct apt_job *j)
{
	const json_t *src = json_object_get(c, "source"), *arts = json_object_get(c, "artifacts");
	_cleanup_free_ char *receipt = NULL;
	char id[65];
	int r;

	*j = (struct apt_job){ .in = in, .c = c, .name = str_of(c, "name"), .stage = stage };
	j->package = str_of(src, "package");
	j->version = str_of(src, "version");
	j->repository = str_of(src, "repository");
	if (!deb_name_is_valid(j->package) || !deb_version_is_valid(j->version) || !j->repository)
		return dsvm_set_error(in->ctx, -EBADMSG,
				      "'%s': an apt source needs a package name, an exact Debian "
				      "version and a repository (got package '%s', version '%s')",
				      j->name, j->package ? j->package : "",
				      j->version ? j->version : "");
	if (json_array_size(arts) > 1)
		return dsvm_set_error(in->ctx, -EBADMSG,
				      "'%s': an apt component has at most one artifact, its "
				      "repository's key",
				      j->name);
	if (json_array_size(arts) == 1) {
		j->key = json_array_get(arts, 0);
		if (!is_key_name(str_of(j->key, "name")))
			return dsvm_set_error(in->ctx, -EBADMSG, "'%s': key file name '%s' refused",
					      j->name,
					      str_of(j->key, "name") ? str_of(j->key, "name") : "");
		j->key_img = strdup_printf(KEYS_DIR "/%s", str_of(j->key, "name"));
		if (!j->key_img)
			return -ENOMEM;
	}
	r = sources_line(j);
	if (r < 0 || !j->line)
		return r < 0 ? r : -ENOMEM;
	r = sha256_buffer_hex(j->line, strlen(j->line), id);
	if (r < 0)
		return r;
	j->sources_img = stage ? strdup(APT_WORK "/sources.list")
			       : strdup_printf(SOURCES_DIR "/dsvm-%.12s.list", id);
	receipt = strdup_printf("%s/%s.json", stage ? STAGED_DIR : INSTALLED_DIR, j->name);
	j->receipt_path = receipt ? installer_root_path(in, receipt) : NULL;
	return j->sources_img && j->receipt_path ? 0 : -ENOMEM;
}

/* img resolved inside the root (a link there never leads out); NULL with the error set. */
static char *host_path(struct apt_job *j, const char *img)
{
	return installer_root_path(j->in, img);
}

static int require_apt(struct apt_job *j)
{
	_cleanup_free_ char *p = host_path(j, APT_GET);

	if (!p)
		return -ENOMEM;
	if (access(p, X_OK) < 0)
		return dsvm_set_error(j->in->ctx, -ENOPKG,
				      "'%s': no apt-get in the root '%s' ('%s' is missing): apt "
				      "components install into a Debian or Ubuntu root (make one "
				      "with debootstrap, or build on the VM itself with --root /)",
				      j->name, dsvm_ctx_get_root(j->in->ctx), APT_GET);
	return 0;
}

static int remove_if_exists(struct apt_job *j, const char *host)
{
	if (unlink(host) == 0) {
		j->in->changed = true;
		return installer_sync_dir_of(j->in, host);
	}
	if (errno != ENOENT)
		return dsvm_set_error(j->in->ctx, -errno, "cannot remove '%s': %m", host);
	return 0;
}

/*
 * Write a file the step removes again (policy-rc.d, stage's sources list) without the step's
 * crash point, so that DSVM_CRASH_AT=k:mid kills where the work is, after apt-get.
 */
static int write_scratch(struct apt_job *j, const char *host, const char *text, unsigned mode)
{
	int r = write_file_atomic(host, text, strlen(text), mode);

	if (r < 0)
		return dsvm_set_error(j->in->ctx, r, "cannot write '%s': %s", host, strerror(-r));
	j->in->changed = true;
	return 0;
}

/* Remove our policy-rc.d (a killed run's leftover, or this run's); leave anyone else's. */
static int policy_off(struct apt_job *j)
{
	_cleanup_free_ char *p = host_path(j, POLICY_RC_D), *text = NULL;

	if (!p)
		return -ENOMEM;
	if (read_file_capped(p, 4096, &text, NULL) < 0 || !strstr(text, POLICY_MARK))
		return 0;
	return remove_if_exists(j, p);
}

/*
 * Maintainer scripts must not start services in a root that is not running: invoke-rc.d asks
 * policy-rc.d, and 101 forbids. Not on --root /, where starting them is the point; an image's
 * own policy-rc.d is left as it is.
 */
static int policy_on(struct apt_job *j)
{
	static const char text[] = "#!/bin/sh\n" POLICY_MARK "\nexit 101\n";
	_cleanup_free_ char *p = host_path(j, POLICY_RC_D);

	if (!p)
		return -ENOMEM;
	if (streq(dsvm_ctx_get_root(j->in->ctx), "/") || access(p, F_OK) == 0)
		return 0;
	return write_scratch(j, p, text, 0755);
}

static int make_dirs(struct apt_job *j, const char *const *dirs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *p = host_path(j, dirs[i]);
		int r = p ? mkdir_parents(p, 0755) : -ENOMEM;

		if (r < 0)
			return dsvm_set_error(j->in->ctx, r, "cannot create '%s': %s",
					      p ? p : dirs[i], strerror(-r));
	}
	return 0;
}

static void remove_work(struct apt_job *j)
{
	_cleanup_free_ char *p = host_path(j, APT_WORK);

	if (p)
		remove_tree(p);
}

/* The key into KEYS_DIR and the sources list where apt-get will read it. */
static int write_source(struct apt_job *j)
{
	_cleanup_free_ char *host = host_path(j, j->sources_img);
	_cleanup_free_ char *text = NULL;
	int r;

	if (!host)
		return -ENOMEM;
	if (j->key) {
		r = installer_copy_to_image(j->in, j->key, j->key_img);
		if (r < 0)
			return r;
	}
	text = strdup_printf("# Written by dsvm-build: the signed repository of pinned packages.\n"
			     "%s",
			     j->line);
	if (!text)
		return -ENOMEM;
	if (!j->stage)
		return installer_write_if_changed(j->in, host, text, 0644);
	return write_scratch(j, host, text, 0644);
}

static int read_status(struct apt_job *j)
{
	return dpkg_status_read(j->in->ctx, &j->status);
}

static int recover_dpkg(struct apt_job *j)
{
	_cleanup_free_ char *who = strdup_printf("'%s'", j->name);
	bool ran = false;
	int r = who ? dpkg_recover(j->in->ctx, &j->status, 0, who, &ran) : -ENOMEM;

	if (ran)
		j->in->changed = true;
	return r;
}

/* apt-get update of the component's source alone (--error-on=any: a bad signature fails). */
static int update_lists(struct apt_job *j)
{
	struct args a = { 0 };
	int r;

	add_apt_get(&a);
	add_source_options(&a, j);
	args_add(&a, "--error-on=any");
	args_add(&a, "update");
	r = run_in_root(j, "apt-get update", &a, NULL);
	args_done(&a);
	return r;
}

static int read_index_file(struct apt_job *j, const char *img)
{
	_cleanup_free_ char *p = host_path(j, img), *text = NULL;
	size_t len = 0;
	int r;

	if (!p)
		return -ENOMEM;
	r = read_file_capped(p, MAX_LIST_BYTES, &text, &len);
	if (r == -ENOENT)
		return 0; /* an optional index the repository does not have */
	if (r < 0)
		return dsvm_set_error(j->in->ctx, r, "'%s': cannot read the package index '%s': %s",
				      j->name, p, strerror(-r));
	return deb_list_parse(&j->repo, text, len);
}

/* The repository's Packages, where `update` put them (apt-get indextargets says). */
static int load_index(struct apt_job *j)
{
	_cleanup_free_ char *out = NULL;
	struct args a = { 0 };
	char *line, *save = NULL;
	int r;

	add_apt_get(&a);
	add_source_options(&a, j);
	args_add(&a, "indextargets");
	args_add(&a, "--format");
	args_add(&a, "$(FILENAME)");
	args_add(&a, "Created-By: Packages");
	r = run_in_root(j, "apt-get indextargets", &a, &out);
	args_done(&a);
	for (line = r == 0 ? strtok_r(out, "\n", &save) : NULL; line && r == 0;
	     line = strtok_r(NULL, "\n", &save))
		if (installer_is_clean_absolute(line))
			r = read_index_file(j, line);
	if (r == 0 && j->repo.n == 0)
		r = dsvm_set_error(j->in->ctx, -EBADMSG,
				   "'%s': repository '%s' lists no packages for this root", j->name,
				   j->repository);
	return r;
}

static int read_arch(struct apt_job *j)
{
	_cleanup_free_ char *out = NULL;
	struct args a = { 0 };
	int r;

	args_add(&a, DPKG);
	args_add(&a, "--print-architecture");
	r = run_in_root(j, "dpkg --print-architecture", &a, &out);
	args_done(&a);
	if (r < 0 || !out)
		return r < 0 ? r : -ENOMEM;
	out[strcspn(out, " \t\n")] = '\0';
	if (!deb_name_is_valid(out) && !streq(out, "i386"))
		return dsvm_set_error(j->in->ctx, -EBADMSG,
				      "'%s': dpkg's architecture '%s' refused", j->name, out);
	j->arch = TAKE_PTR(out);
	return 0;
}

/* A .deb's file name, safe as one path component: not hidden, letters, digits and ._+~%-. */
static bool is_deb_file_name(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	return n >= 5 && n <= max && s[0] != '.' && streq(s + n - 4, ".deb") &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+~%-") ==
		       n;
}

/* A receipt's package=version, and for a staged one its file in the offline repository. */
static bool receipt_pin_is_valid(const json_t *e, bool staged)
{
	const json_t *arch = json_object_get(e, "architecture"), *size = json_object_get(e, "size");
	const char *sha = str_of(e, "sha256");

	if (!json_is_object(e) || !deb_name_is_valid(str_of(e, "package")) ||
	    !deb_version_is_valid(str_of(e, "version")) || (sha && !is_sha256_hex(sha)))
		return false;
	return !staged ||
	       (is_deb_file_name(str_of(e, "filename"), STAGED_NAME_MAX) && sha &&
		is_sha256_hex(sha) && json_is_integer(size) && json_integer_value(size) >= 0 &&
		str_of(e, "stanza") && (!arch || json_is_null(arch) || json_is_string(arch)));
}

static bool receipt_pins_are_valid(const json_t *list, bool staged)
{
	const json_t *e;
	size_t i;

	if (!json_is_array(list))
		return false;
	json_array_foreach(list, i, e)
	{
		if (!receipt_pin_is_valid(e, staged))
			return false;
	}
	return true;
}

/* Every field write_receipt() writes, so that no reader meets NULL where it wrote a string. */
bool installer_apt_receipt_is_valid(const json_t *rc)
{
	const char *kind = str_of(rc, "kind"), *action = str_of(rc, "action");
	const json_t *version = json_object_get(rc, "version");
	const json_t *replaces = json_object_get(rc, "replaces");
	bool staged;

	if (!json_is_object(rc) || !kind || !streq(kind, "apt") || !action ||
	    (!streq(action, "install") && !streq(action, "stage")))
		return false;
	staged = streq(action, "stage");
	return str_of(rc, "name") && deb_name_is_valid(str_of(rc, "package")) &&
	       deb_version_is_valid(str_of(rc, "package_version")) && str_of(rc, "repository") &&
	       str_of(rc, "sources") &&
	       (!version || json_is_null(version) || json_is_string(version)) &&
	       json_array_size(json_object_get(rc, "packages")) > 0 &&
	       receipt_pins_are_valid(json_object_get(rc, "packages"), staged) &&
	       (!replaces || receipt_pins_are_valid(replaces, false));
}

/* A receipt of an earlier run, or NULL when there is none or it is not whole (redo the step). */
static json_t *read_receipt(const char *path)
{
	_cleanup_free_ char *text = NULL;
	json_t *rc;

	if (read_file_capped(path, MAX_RECEIPT_BYTES, &text, NULL) < 0)
		return NULL;
	rc = json_loads(text, 0, NULL);
	if (rc && !installer_apt_receipt_is_valid(rc)) {
		json_decref(rc);
		return NULL;
	}
	return rc;
}

/* A receipt of this component written for this same pin. */
static bool receipt_matches(const struct apt_job *j, const json_t *rc)
{
	const char *pkg = str_of(rc, "package"), *ver = str_of(rc, "package_version");
	const char *repo = str_of(rc, "repository"), *action = str_of(rc, "action");

	return pkg && ver && repo && action && streq(pkg, j->package) && streq(ver, j->version) &&
	       streq(repo, j->repository) && streq(action, j->stage ? "stage" : "install");
}

static int pins_from_json(const json_t *list, struct pin **ret, size_t *ret_n)
{
	size_t i, n = 0;
	const json_t *e;
	struct pin *v = calloc(json_array_size(list) + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	json_array_foreach(list, i, e)
	{
		const char *p = str_of(e, "package"), *ver = str_of(e, "version");
		const char *arch = str_of(e, "architecture"), *sha = str_of(e, "sha256");

		if (!deb_name_is_valid(p) || !deb_version_is_valid(ver))
			continue;
		if (sha && !is_sha256_hex(sha))
			sha = NULL;
		v[n].package = strdup(p);
		v[n].version = strdup(ver);
		v[n].architecture = arch ? strdup(arch) : NULL;
		v[n].sha256 = sha ? strdup(sha) : NULL;
		v[n].size = (uint64_t)json_integer_value(json_object_get(e, "size"));
		if (!v[n].package || !v[n].version || (arch && !v[n].architecture) ||
		    (sha && !v[n].sha256)) {
			pins_free(v, n + 1);
			return -ENOMEM;
		}
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static bool pins_have(const struct pin *v, size_t n, const char *package)
{
	for (size_t i = 0; i < n; i++)
		if (streq(v[i].package, package))
			return true;
	return false;
}

/* Append the apt receipts in dir (in the image) to all. */
static void add_receipts(struct apt_job *j, const char *img, json_t *all)
{
	_cleanup_free_ char *dir = host_path(j, img);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;

	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		_cleanup_free_ char *p = NULL;
		json_t *rc;

		if (de->d_name[0] == '.' || n < 6 || !streq(de->d_name + n - 5, ".json"))
			continue;
		p = strdup_printf("%s/%s", dir, de->d_name);
		rc = p ? read_receipt(p) : NULL;
		if (rc && str_of(rc, "kind") && streq(str_of(rc, "kind"), "apt"))
			json_array_append(all, rc);
		json_decref(rc);
	}
	if (d)
		closedir(d);
}

/* Every apt receipt in the root (what earlier runs installed or staged), as a JSON array. */
static json_t *apt_receipts(struct apt_job *j)
{
	json_t *all = json_array();

	if (all) {
		add_receipts(j, INSTALLED_DIR, all);
		add_receipts(j, STAGED_DIR, all);
	}
	return all;
}

/*
 * Remove the sources files this program wrote (SOURCES_DIR/dsvm-*.list) that no other
 * component's receipt names: what a component used before its repository changed, or a failed
 * attempt left. apt-get install reads every source, and a stale one may serve other bytes.
 */
static int remove_stale_sources(struct apt_job *j, const json_t *receipts)
{
	_cleanup_free_ char *dir = host_path(j, SOURCES_DIR);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;
	int r = 0;

	while (d && r == 0 && (de = readdir(d))) {
		_cleanup_free_ char *img = NULL, *p = NULL;
		bool used = false;
		const json_t *rc;
		size_t i;

		if (strncmp(de->d_name, "dsvm-", 5) != 0 || !strstr(de->d_name, ".list"))
			continue;
		img = strdup_printf(SOURCES_DIR "/%s", de->d_name);
		if (!img)
			return -ENOMEM;
		json_array_foreach(receipts, i, rc) used |=
			!streq(str_of(rc, "name") ? str_of(rc, "name") : "", j->name) &&
			str_of(rc, "sources") && streq(str_of(rc, "sources"), img);
		if (used || (j->sources_img && streq(img, j->sources_img)))
			continue;
		p = strdup_printf("%s/%s", dir, de->d_name);
		r = p ? remove_if_exists(j, p) : -ENOMEM;
	}
	if (d)
		closedir(d);
	return r;
}

/* The set: the index's stanzas idx[0..n). */
static int set_from_index(struct apt_job *j, const size_t *idx, size_t n)
{
	pins_free(j->set, j->n_set);
	j->n_set = 0;
	j->set = calloc(n, sizeof(*j->set));
	if (!j->set)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct deb_pkg *p = &j->repo.v[idx[i]];
		bool sha = p->sha256 && is_sha256_hex(p->sha256);

		j->set[i].package = strdup(p->package);
		j->set[i].version = strdup(p->version);
		j->set[i].architecture = p->architecture ? strdup(p->architecture) : NULL;
		j->set[i].sha256 = sha ? strdup(p->sha256) : NULL;
		j->set[i].size = p->size;
		j->n_set++;
		if (!j->set[i].package || !j->set[i].version ||
		    (p->architecture && !j->set[i].architecture) || (sha && !j->set[i].sha256))
			return -ENOMEM;
	}
	return 0;
}

/* Work the set out from the repository's index and the root's status (lib/debian.c). */
static int compute_set(struct apt_job *j, size_t **ret_idx)
{
	json_t *receipts = apt_receipts(j);
	struct deb_closure_input ci = { .repo = &j->repo,
					.installed = &j->status,
					.arch = j->arch };
	const char **ours = NULL;
	const json_t *rc, *e;
	size_t *idx = NULL, i, k, total = 0;
	int n, r;

	/* Packages an earlier run installed do not count as the root's own. */
	json_array_foreach(receipts, i, rc) total += json_array_size(json_object_get(rc, "package"
											 "s"));
	ours = calloc(total + 1, sizeof(char *));
	json_array_foreach(receipts, i, rc) json_array_foreach(json_object_get(rc, "packages"), k,
							       e) if (ours && str_of(e, "package"))
		ours[ci.n_ours++] = str_of(e, "package");
	ci.ours = ours;
	n = receipts && ours ? deb_closure(&ci, j->package, j->version, &idx) : -ENOMEM;
	free(ours);
	json_decref(receipts);
	if (n == -ENOENT)
		return dsvm_set_error(j->in->ctx, -ENOENT,
				      "'%s': %s=%s (architecture %s or all) is not in repository "
				      "'%s': check the pin against the repository's Packages",
				      j->name, j->package, j->version, j->arch, j->repository);
	if (n < 0)
		return n;
	r = set_from_index(j, idx, (size_t)n);
	if (r < 0) {
		free(idx);
		return r;
	}
	*ret_idx = idx;
	return 0;
}

static int write_json(struct installer *in, const char *path, json_t *o)
{
	_cleanup_free_ char *text = NULL, *line = NULL;

	if (!o)
		return -ENOMEM;
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	line = text ? strdup_printf("%s\n", text) : NULL;
	return line ? installer_write_if_changed(in, path, line, 0644) : -ENOMEM;
}

/* Each pin, with the architecture, size and sha256 the signed index gives its .deb. */
static json_t *pins_json(const struct pin *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++) {
		json_t *o = json_pack("{s:s, s:s, s:s?}", "package", v[i].package, "version",
				      v[i].version, "architecture", v[i].architecture);

		if (o && v[i].sha256) {
			json_object_set_new(o, "size", json_integer((json_int_t)v[i].size));
			json_object_set_new(o, "sha256", json_string(v[i].sha256));
		}
		json_array_append_new(a, o);
	}
	return a;
}

/* The receipt: the pin, its repository, and the set (stage: with the staged files). */
static int write_receipt(struct apt_job *j)
{
	json_t *o = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:s, s:s, s:o}", "name", j->name,
			      "kind", "apt", "version", str_of(j->c, "version"), "action",
			      j->stage ? "stage" : "install", "package", j->package,
			      "package_version", j->version, "repository", j->repository, "sources",
			      j->stage ? APT_REPO : j->sources_img, "packages",
			      j->stage ? json_incref(j->staged) : pins_json(j->set, j->n_set));

	if (o && j->n_remove)
		json_object_set_new(o, "replaces", pins_json(j->remove, j->n_remove));
	return write_json(j->in, j->receipt_path, o);
}

/* Install: every package of the set installed at its version and held. */
static bool set_in_place(struct apt_job *j)
{
	_cleanup_free_ char *p = host_path(j, DPKG_STATUS);

	if (!p || j->n_set == 0 || read_status(j) < 0 ||
	    dpkg_is_interrupted(j->in->ctx, &j->status))
		return false;
	for (size_t i = 0; i < j->n_set; i++) {
		const struct deb_pkg *q =
			deb_list_find_installed(&j->status, j->set[i].package, j->set[i].version);

		if (!q || !deb_pkg_is_held(q))
			return false;
	}
	for (size_t i = 0; i < j->n_remove; i++)
		if (deb_list_find_installed(&j->status, j->remove[i].package, NULL))
			return false;
	return true;
}

/* apt-mark hold/unhold of the named packages. */
static int apt_mark(struct apt_job *j, const char *verb, const struct pin *v, size_t n,
		    bool only_held)
{
	struct args a = { 0 };
	size_t k = 0;
	int r;

	args_add(&a, APT_MARK);
	args_add(&a, verb);
	for (size_t i = 0; i < n; i++) {
		const struct deb_pkg *q = deb_list_find_installed(&j->status, v[i].package, NULL);

		if (only_held && !(q && deb_pkg_is_held(q)))
			continue;
		args_add(&a, v[i].package);
		k++;
	}
	r = k ? run_in_root(j, verb[0] == 'h' ? "apt-mark hold" : "apt-mark unhold", &a, NULL) : 0;
	args_done(&a);
	return r;
}

/*
 * apt-get install of the whole set as name=version (downgrades allowed: the pin is the truth),
 * and name- for an earlier pin's packages, in one transaction. Downloads go to a private
 * directory, not the image's apt cache.
 */
static int apt_get_install(struct apt_job *j)
{
	static const char *const dirs[] = { APT_WORK "/archives/partial" };
	struct args a = { 0 };
	int r = make_dirs(j, dirs, ARRAY_SIZE(dirs));

	if (r < 0)
		return r;
	add_apt_get(&a);
	args_add(&a, "-y");
	args_add(&a, "--no-install-recommends");
	args_add(&a, "--allow-downgrades");
	args_add(&a, "-oDir::Cache::archives=" APT_WORK "/archives/");
	args_add(&a, "-oDpkg::Options::=--force-confdef");
	args_add(&a, "-oDpkg::Options::=--force-confold");
	args_add(&a, "install");
	for (size_t i = 0; i < j->n_set; i++)
		args_addf(&a, "%s=%s", j->set[i].package, j->set[i].version);
	for (size_t i = 0; i < j->n_remove; i++)
		if (deb_list_find_installed(&j->status, j->remove[i].package, NULL))
			args_addf(&a, "%s-", j->remove[i].package);
	r = run_in_root(j, "apt-get install", &a, NULL);
	args_done(&a);
	return r;
}

/* Load the set (and what it replaces) from a receipt written for this same pin. */
static int pins_from_receipt(struct apt_job *j, const json_t *old)
{
	int r;

	if (!old || !receipt_matches(j, old))
		return 0;
	r = pins_from_json(json_object_get(old, "packages"), &j->set, &j->n_set);
	return r < 0 ? r
		     : pins_from_json(json_object_get(old, "replaces"), &j->remove, &j->n_remove);
}

/*
 * The set and what it replaces: the receipt's when it was written for this pin (a redone step
 * installs what the first attempt meant to); otherwise worked out now, with an earlier pin's
 * packages that are not in it to be removed, and recorded before anything changes.
 */
static int plan_install(struct apt_job *j, const json_t *old)
{
	struct pin *prev = NULL;
	size_t *idx = NULL, n_prev = 0;
	int r;

	if (j->n_set > 0)
		return 0;
	r = load_index(j);
	if (r == 0)
		r = compute_set(j, &idx);
	free(idx);
	if (r == 0 && old && str_of(old, "action") && streq(str_of(old, "action"), "install"))
		r = pins_from_json(json_object_get(old, "packages"), &prev, &n_prev);
	if (r == 0) {
		pins_free(j->remove, j->n_remove);
		j->n_remove = 0;
		j->remove = calloc(n_prev + 1, sizeof(*j->remove));
		r = j->remove ? 0 : -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < n_prev; i++)
		if (!pins_have(j->set, j->n_set, prev[i].package)) {
			j->remove[j->n_remove++] = prev[i];
			prev[i] = (struct pin){ 0 };
		}
	pins_free(prev, n_prev);
	return r < 0 ? r : write_receipt(j);
}

static int install_set(struct apt_job *j, const json_t *old)
{
	int r = read_status(j);

	if (r == 0)
		r = recover_dpkg(j);
	if (r == 0)
		r = update_lists(j);
	if (r == 0)
		r = read_arch(j);
	if (r == 0)
		r = plan_install(j, old);
	/* A hold from an earlier pin would make apt refuse the change. */
	if (r == 0)
		r = apt_mark(j, "unhold", j->set, j->n_set, true);
	if (r == 0)
		r = apt_mark(j, "unhold", j->remove, j->n_remove, true);
	if (r == 0)
		r = apt_get_install(j);
	if (r < 0)
		return r;
	j->in->changed = true;
	dsvm_journal_crash_point(j->in->journal, j->in->step);
	/* The whole set: the top package held alone lets an upgrade split module and libraries. */
	return apt_mark(j, "hold", j->set, j->n_set, false);
}

/* Append the packages of one receipt (dir/<name>.json in the image) to list, when it exists. */
static int record_receipt(struct installer *in, const json_t *c, const char *dir,
			  const char *action, json_t *list)
{
	_cleanup_free_ char *img = strdup_printf("%s/%s.json", dir, str_of(c, "name"));
	_cleanup_free_ char *path = img ? installer_root_path(in, img) : NULL;
	json_t *rc = path ? read_receipt(path) : NULL;
	const json_t *e;
	size_t i;
	int r = 0;

	if (!path)
		return -ENOMEM;
	json_array_foreach(json_object_get(rc, "packages"), i, e)
	{
		const json_t *size = json_object_get(e, "size");
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:O?, s:s?, s:s?}", "component",
				      str_of(c, "name"), "action", action, "package",
				      str_of(e, "package"), "version", str_of(e, "version"),
				      "architecture", str_of(e, "architecture"), "size",
				      json_is_integer(size) ? size : NULL, "sha256",
				      str_of(e, "sha256"), "filename", str_of(e, "filename"));

		if (!o || json_array_append_new(list, o) < 0) {
			r = -ENOMEM;
			break;
		}
	}
	json_decref(rc);
	return r;
}

int installer_apt_record(struct installer *in, char **ret)
{
	json_t *list = json_array(), *o;
	const json_t *c;
	size_t i;
	char *text, *out;
	int r = list ? 0 : -ENOMEM;

	json_array_foreach(json_object_get(in->lock, "components"), i, c)
	{
		const char *kind = str_of(c, "kind"), *action = str_of(c, "action");

		if (r < 0 || !kind || !streq(kind, "apt") || !action)
			continue;
		if (streq(action, "install")) {
			r = record_receipt(in, c, INSTALLED_DIR, "install", list);
			/* A driver stack the image runs is in the offline repository too. */
			if (r == 0 && json_array_size(json_object_get(c, "driver_kinds")) > 0)
				r = record_receipt(in, c, STAGED_DIR, "stage", list);
		} else if (streq(action, "stage")) {
			r = record_receipt(in, c, STAGED_DIR, "stage", list);
		}
	}
	if (r < 0) {
		json_decref(list);
		return r;
	}
	/* The list's reference goes to the object, also when packing fails. */
	o = json_pack("{s:i, s:o}", "record_version", 1, "packages", list);
	if (!o)
		return -ENOMEM;
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	out = text ? strdup_printf("%s\n", text) : NULL;
	free(text);
	if (!out)
		return -ENOMEM;
	*ret = out;
	return 0;
}

/* The lock marks a driver stack's components (stage: true in the manifest) with driver_kinds. */
static bool is_driver_stack(const json_t *c)
{
	return json_array_size(json_object_get(c, "driver_kinds")) > 0;
}

static int stage_component(struct installer *in, const json_t *c);
static int rebuild_repo_index(struct installer *in);

int installer_apt_install(struct installer *in, const json_t *c, char **ret_dest)
{
	struct apt_job j;
	json_t *old = NULL;
	int r = job_init(in, c, false, &j), r2;

	if (r == 0)
		r = require_apt(&j);
	if (r == 0)
		r = policy_off(&j);
	if (r == 0) {
		json_t *receipts = apt_receipts(&j);

		r = receipts ? remove_stale_sources(&j, receipts) : -ENOMEM;
		json_decref(receipts);
	}
	if (r == 0)
		r = write_source(&j);
	if (r == 0) {
		old = read_receipt(j.receipt_path);
		r = pins_from_receipt(&j, old);
	}
	if (r == 0 && !set_in_place(&j)) {
		remove_work(&j);
		r = policy_on(&j);
		if (r == 0)
			r = install_set(&j, old);
		/* Also after a failure: the image must not keep forbidding services. */
		r2 = policy_off(&j);
		if (r == 0)
			r = r2;
		remove_work(&j);
	}
	json_decref(old);
	/* A driver stack's payload goes into the offline repository too: firstboot may come back. */
	if (r == 0 && is_driver_stack(c)) {
		r = stage_component(in, c);
		if (r == 0)
			r = rebuild_repo_index(in);
	}
	if (r == 0 && !(*ret_dest = strdup_printf(INSTALLED_DIR "/%s.json", j.name)))
		r = -ENOMEM;
	job_done(&j);
	return r;
}

/* The offline repository's name for a .deb: its hash's start and the repository's file name. */
static char *staged_name(const struct deb_pkg *p)
{
	const char *base = p->filename ? strrchr(p->filename, '/') : NULL;

	base = base ? base + 1 : p->filename;
	if (!is_deb_file_name(base, DEB_NAME_MAX))
		return NULL;
	return strdup_printf("%.16s-%s", p->sha256, base);
}

/* The stanza as the repository signed it, with Filename pointing into the offline repository. */
static char *stanza_with_filename(const char *stanza, const char *name)
{
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);

	if (!f)
		return NULL;
	for (const char *s = stanza; *s;) {
		size_t n = strcspn(s, "\n");

		if (strncasecmp(s, "Filename:", 9) == 0)
			fprintf(f, "Filename: ./%s\n", name);
		else
			fprintf(f, "%.*s\n", (int)n, s);
		s += n + (s[n] == '\n');
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* apt-get download of the set into APT_WORK/debs; apt checks each file against the index. */
static int download_set(struct apt_job *j)
{
	struct args a = { 0 };
	int r;

	/* apt-get download writes to its working directory. */
	args_add(&a, "/bin/sh");
	args_add(&a, "-c");
	args_add(&a, "cd \"$1\" && shift && exec \"$@\"");
	args_add(&a, "sh");
	args_add(&a, APT_WORK "/debs");
	add_apt_get(&a);
	add_source_options(&a, j);
	/* The fetcher runs as _apt, which may not write into this root-owned directory. */
	args_add(&a, "-oAPT::Sandbox::User=root");
	args_add(&a, "download");
	for (size_t i = 0; i < j->n_set; i++)
		args_addf(&a, "%s=%s", j->set[i].package, j->set[i].version);
	r = run_in_root(j, "apt-get download", &a, NULL);
	args_done(&a);
	return r;
}

/* fsync a file, then rename it to dest (both host paths). */
static int move_into_repo(struct apt_job *j, const char *src, const char *dest)
{
	_cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 || fsync(fd) < 0)
		return dsvm_set_error(j->in->ctx, -errno, "cannot sync '%s': %m", src);
	dsvm_journal_crash_point(j->in->journal, j->in->step);
	if (rename(src, dest) < 0)
		return dsvm_set_error(j->in->ctx, -errno, "cannot move '%s' into place: %m", dest);
	j->in->changed = true;
	return installer_sync_dir_of(j->in, dest);
}

struct file_digest {
	char hex[65];
	char *path;
};

static int cmp_digest(const void *a, const void *b)
{
	return strcmp(((const struct file_digest *)a)->hex, ((const struct file_digest *)b)->hex);
}

static void file_digests_free(struct file_digest *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

/* Every visible regular file of dir with its sha256, sorted by digest. */
static int hash_dir(const char *dir, struct file_digest **ret, size_t *ret_n)
{
	_cleanup_(closedirp) DIR *d = opendir(dir);
	struct file_digest *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char *p;

		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			struct file_digest *nv = reallocarray(v, cap ? cap * 2 : 16, sizeof(*v));

			if (!nv) {
				file_digests_free(v, n);
				return -ENOMEM;
			}
			v = nv;
			cap = cap ? cap * 2 : 16;
		}
		p = strdup_printf("%s/%s", dir, de->d_name);
		if (!p) {
			file_digests_free(v, n);
			return -ENOMEM;
		}
		/* Not a regular file, or gone: no digest, never a match. */
		if (sha256_file_hex(p, v[n].hex) < 0) {
			free(p);
			continue;
		}
		v[n++].path = p;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_digest);
	*ret = v;
	*ret_n = n;
	return 0;
}

int installer_find_by_sha256(const char *dir, const char *const *want, size_t n, char **ret_paths,
			     size_t *ret_hashed)
{
	struct file_digest *v = NULL;
	size_t m = 0;
	int r = hash_dir(dir, &v, &m);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct file_digest key = { .path = NULL }, *hit;

		snprintf(key.hex, sizeof(key.hex), "%s", want[i]);
		hit = m ? bsearch(&key, v, m, sizeof(*v), cmp_digest) : NULL;
		ret_paths[i] = hit ? strdup(hit->path) : NULL;
		if (hit && !ret_paths[i]) {
			while (i > 0)
				free(ret_paths[--i]);
			r = -ENOMEM;
			break;
		}
	}
	file_digests_free(v, m);
	if (r == 0 && ret_hashed)
		*ret_hashed = m;
	return r;
}

/* Each downloaded .deb, checked against the signed index once more, into the offline repository. */
static int stage_files(struct apt_job *j, const size_t *idx)
{
	_cleanup_free_ char *debs = host_path(j, APT_WORK "/debs"), *repo = host_path(j, APT_REPO);
	_cleanup_free_ const char **want = calloc(j->n_set + 1, sizeof(*want));
	_cleanup_free_ char **src = calloc(j->n_set + 1, sizeof(*src));
	int r;

	if (!debs || !repo || !want || !src || !(j->staged = json_array()))
		return -ENOMEM;
	for (size_t i = 0; i < j->n_set; i++) {
		const struct deb_pkg *p = &j->repo.v[idx[i]];

		if (!p->sha256 || !is_sha256_hex(p->sha256))
			return dsvm_set_error(j->in->ctx, -EBADMSG,
					      "'%s': repository '%s' gives %s=%s no usable SHA256 "
					      "and Filename",
					      j->name, j->repository, p->package, p->version);
		want[i] = p->sha256;
	}
	/* Each download is hashed once and matched by its digest, not hashed again per package. */
	r = installer_find_by_sha256(debs, want, j->n_set, src, NULL);
	for (size_t i = 0; r == 0 && i < j->n_set; i++) {
		const struct deb_pkg *p = &j->repo.v[idx[i]];
		_cleanup_free_ char *name = staged_name(p), *dest = NULL, *stanza = NULL;

		if (!name)
			r = dsvm_set_error(j->in->ctx, -EBADMSG,
					   "'%s': repository '%s' gives %s=%s no usable SHA256 "
					   "and Filename",
					   j->name, j->repository, p->package, p->version);
		else if (!src[i])
			r = dsvm_set_error(j->in->ctx, -EBADMSG,
					   "'%s': apt-get download gave no file with the sha256 "
					   "of %s=%s (%s) in repository '%s'",
					   j->name, p->package, p->version, p->sha256,
					   j->repository);
		else if (!(dest = strdup_printf("%s/%s", repo, name)) ||
			 !(stanza = stanza_with_filename(p->stanza, name)))
			r = -ENOMEM;
		else
			r = move_into_repo(j, src[i], dest);
		if (r == 0)
			json_array_append_new(
				j->staged, json_pack("{s:s, s:s, s:s?, s:s, s:I, s:s, s:s}",
						     "package", p->package, "version", p->version,
						     "architecture", p->architecture, "filename",
						     name, "size", (json_int_t)p->size, "sha256",
						     p->sha256, "stanza", stanza));
	}
	for (size_t i = 0; i < j->n_set; i++)
		free(src[i]);
	return r;
}

/* A stage receipt for this pin whose files are all in the offline repository, unchanged. */
static bool staged_in_place(struct apt_job *j, const json_t *old)
{
	_cleanup_free_ char *repo = host_path(j, APT_REPO);
	const json_t *e;
	size_t i;

	if (!repo || !old || !receipt_matches(j, old) ||
	    json_array_size(json_object_get(old, "packages")) == 0)
		return false;
	json_array_foreach(json_object_get(old, "packages"), i, e)
	{
		const char *name = str_of(e, "filename"), *sha = str_of(e, "sha256");
		_cleanup_free_ char *p = NULL;
		char hex[65];

		if (!name || strchr(name, '/') || !sha ||
		    !(p = strdup_printf("%s/%s", repo, name)) || sha256_file_hex(p, hex) < 0 ||
		    !streq(hex, sha))
			return false;
	}
	return true;
}

static int stage_set(struct apt_job *j)
{
	static const char *const dirs[] = { APT_WORK "/lists/partial",
					    APT_WORK "/cache/archives/partial", APT_WORK "/debs",
					    APT_REPO };
	size_t *idx = NULL;
	int r = make_dirs(j, dirs, ARRAY_SIZE(dirs));

	if (r == 0)
		r = write_source(j);
	if (r == 0)
		r = update_lists(j);
	if (r == 0)
		r = load_index(j);
	if (r == 0)
		r = read_status(j);
	if (r == 0)
		r = read_arch(j);
	if (r == 0)
		r = compute_set(j, &idx);
	if (r == 0)
		r = download_set(j);
	if (r == 0)
		r = stage_files(j, idx);
	free(idx);
	return r < 0 ? r : write_receipt(j);
}

/* A staged component's receipt written for what the lock now pins, or NULL. */
static json_t *current_stage_receipt(struct installer *in, const json_t *c)
{
	struct apt_job j;
	_cleanup_free_ char *img = strdup_printf(STAGED_DIR "/%s.json", str_of(c, "name"));
	_cleanup_free_ char *path = img ? installer_root_path(in, img) : NULL;
	json_t *rc = path ? read_receipt(path) : NULL;
	const json_t *src = json_object_get(c, "source");

	j = (struct apt_job){ .package = str_of(src, "package"),
			      .version = str_of(src, "version"),
			      .repository = str_of(src, "repository"),
			      .stage = true };
	if (rc && j.package && j.version && j.repository && receipt_matches(&j, rc))
		return rc;
	json_decref(rc);
	return NULL;
}

static int cmp_stanza(const void *a, const void *b)
{
	return strcmp(str_of(*(json_t *const *)a, "filename"), str_of(*(json_t *const *)b, "filenam"
											   "e"));
}

/* Packages: every staged stanza once, in file name order. */
static char *packages_text(const json_t *entries)
{
	size_t n = json_array_size(entries), len = 1;
	const json_t **v = calloc(n + 1, sizeof(*v));
	char *text;

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		v[i] = json_array_get(entries, i);
		len += strlen(str_of(v[i], "stanza")) + 1;
	}
	qsort(v, n, sizeof(*v), cmp_stanza);
	text = calloc(1, len);
	for (size_t i = 0; text && i < n; i++) {
		if (i > 0 && streq(str_of(v[i], "filename"), str_of(v[i - 1], "filename")))
			continue;
		if (*text)
			strcat(text, "\n");
		strcat(text, str_of(v[i], "stanza"));
	}
	free(v);
	return text;
}

/* The repository's file name (in the image), on the host; NULL on OOM. */
static char *repo_file(struct installer *in, const char *name)
{
	_cleanup_free_ char *img = strdup_printf(APT_REPO "/%s", name);

	return img ? installer_root_path(in, img) : NULL;
}

static int write_repo_file(struct installer *in, const char *name, const char *text)
{
	_cleanup_free_ char *host = repo_file(in, name);

	return host ? installer_write_if_changed(in, host, text, 0644) : -ENOMEM;
}

/* Release as given, and the signatures and the key of the run that wrote it, all there. */
static bool signed_in_place(struct installer *in, const char *release)
{
	_cleanup_free_ char *rel = repo_file(in, "Release"), *inrel = repo_file(in, "InRelease");
	_cleanup_free_ char *det = repo_file(in, "Release.gpg"), *text = NULL, *signed_text = NULL;
	_cleanup_free_ char *key = installer_root_path(in, OFFLINE_REPO_KEY);
	struct stat st;

	return rel && inrel && det && key &&
	       read_file_capped(rel, MAX_LIST_BYTES, &text, NULL) == 0 && streq(text, release) &&
	       read_file_capped(inrel, MAX_LIST_BYTES, &signed_text, NULL) == 0 &&
	       strstr(signed_text, release) && stat(det, &st) == 0 && st.st_size > 0 &&
	       stat(key, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

/* The public key, binary, where the sources line's signed-by names it. */
static int write_repo_key(struct installer *in, const char *data, size_t len)
{
	_cleanup_free_ char *host = installer_root_path(in, OFFLINE_REPO_KEY), *dir = NULL;
	int r;

	if (!host || !(dir = path_dirname(host)))
		return -ENOMEM;
	r = mkdir_parents(dir, 0755);
	if (r == 0)
		r = write_file_atomic(host, data, len, 0644);
	if (r < 0)
		return dsvm_set_error(in->ctx, r, "cannot write '%s': %s", host, strerror(-r));
	in->changed = true;
	return 0;
}

/*
 * Release signed (InRelease, Release.gpg) by a key made now for it alone, its public half in
 * the image (OFFLINE_REPO_KEY), its private half gone with gpg's temporary home. Unchanged
 * Release text: nothing is signed again, so a second build changes nothing. Release is removed
 * first and written last: a run killed in between finds no Release and signs again.
 */
static int sign_repo(struct installer *in, const char *release)
{
	_cleanup_free_ char *rel = repo_file(in, "Release");
	struct repo_signature sig = { 0 };
	int r;

	if (!rel)
		return -ENOMEM;
	if (signed_in_place(in, release))
		return 0;
	if (unlink(rel) < 0 && errno != ENOENT)
		return dsvm_set_error(in->ctx, -errno, "cannot remove '%s': %m", rel);
	r = apt_repo_sign(in->ctx, release, &sig);
	if (r == 0)
		r = write_repo_key(in, sig.key, sig.key_len);
	if (r == 0)
		r = write_repo_file(in, "InRelease", sig.inrelease);
	if (r == 0)
		r = write_repo_file(in, "Release.gpg", sig.release_gpg);
	if (r == 0)
		r = write_repo_file(in, "Release", release);
	repo_signature_done(&sig);
	return r;
}

/*
 * Packages and Release for apt, Release signed by the image's own key (sign_repo; every stanza
 * is the upstream repository's, so apt checks each .deb's SHA256 against what upstream signed),
 * and index.json for firstboot: per component, its packages with file, size and sha256.
 * Release has a fixed Date: apt warns without one, and the same files give the same bytes.
 */
static int write_repo_index(struct installer *in, const json_t *entries, json_t *components)
{
	_cleanup_free_ char *packages = packages_text(entries), *release = NULL;
	json_t *index;
	char hex[65];
	int r;

	if (!packages || sha256_buffer_hex(packages, strlen(packages), hex) < 0) {
		json_decref(components);
		return -ENOMEM;
	}
	release = strdup_printf("Origin: dsvm\nLabel: dsvm offline driver packages\n"
				"Suite: dsvm-offline\nCodename: dsvm-offline\n"
				"Date: Thu, 01 Jan 1970 00:00:00 UTC\n"
				"SHA256:\n %s %zu Packages\n",
				hex, strlen(packages));
	index = json_pack("{s:s, s:o}", "sources", OFFLINE_SOURCES_LINE, "components", components);
	if (!release || !index) {
		json_decref(index);
		return -ENOMEM;
	}
	r = write_repo_file(in, "Packages", packages);
	if (r == 0)
		r = sign_repo(in, release);
	if (r < 0) {
		json_decref(index);
		return r;
	}
	{
		_cleanup_free_ char *host = repo_file(in, "index.json");

		return host ? write_json(in, host, index) : (json_decref(index), -ENOMEM);
	}
}

static bool is_referenced(const json_t *entries, const char *name)
{
	const json_t *e;
	size_t i;

	json_array_foreach(entries, i, e) if (streq(str_of(e, "filename"), name)) return true;
	return false;
}

/* Remove .debs no staged component of the lock refers to any more (an earlier pin's). */
static int remove_unreferenced(struct installer *in, const json_t *entries)
{
	_cleanup_free_ char *repo = installer_root_path(in, APT_REPO);
	DIR *d = repo ? opendir(repo) : NULL;
	struct dirent *de;
	int r = 0;

	while (d && r == 0 && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		_cleanup_free_ char *p = NULL;

		if (n < 5 || !streq(de->d_name + n - 4, ".deb") ||
		    is_referenced(entries, de->d_name))
			continue;
		p = strdup_printf("%s/%s", repo, de->d_name);
		if (!p)
			r = -ENOMEM;
		else if (unlink(p) < 0)
			r = dsvm_set_error(in->ctx, -errno, "cannot remove '%s': %m", p);
		else
			in->changed = true;
	}
	if (d)
		closedir(d);
	return r == 0 && repo ? installer_sync_dir_of(in, repo) : r;
}

/* The offline repository's index, from the receipts of every component the lock stages. */
static int rebuild_repo_index(struct installer *in)
{
	json_t *entries = json_array(), *components = json_array();
	const json_t *c;
	size_t i;
	int r;

	if (!entries || !components) {
		json_decref(entries);
		json_decref(components);
		return -ENOMEM;
	}
	json_array_foreach(json_object_get(in->lock, "components"), i, c)
	{
		const char *kind = str_of(c, "kind"), *action = str_of(c, "action");
		json_t *rc, *pkgs;
		const json_t *e;
		size_t k;

		if (!kind || !action || !streq(kind, "apt") ||
		    !(streq(action, "stage") || is_driver_stack(c)) ||
		    !(rc = current_stage_receipt(in, c)))
			continue;
		pkgs = json_array();
		json_array_foreach(json_object_get(rc, "packages"), k, e)
		{
			json_array_append(entries, (json_t *)e);
			json_array_append_new(
				pkgs, json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "package",
						json_object_get(e, "package"), "version",
						json_object_get(e, "version"), "architecture",
						json_object_get(e, "architecture"), "filename",
						json_object_get(e, "filename"), "size",
						json_object_get(e, "size"), "sha256",
						json_object_get(e, "sha256")));
		}
		json_array_append_new(components,
				      json_pack("{s:s, s:s, s:O?, s:s, s:s, s:o}", "name",
						str_of(c, "name"), "action", action, "driver_kinds",
						json_object_get(c, "driver_kinds"), "package",
						str_of(rc, "package"), "version",
						str_of(rc, "package_version"), "packages", pkgs));
		json_decref(rc);
	}
	r = write_repo_index(in, entries, components);
	if (r == 0)
		r = remove_unreferenced(in, entries);
	json_decref(entries);
	return r;
}

/* c's set downloaded into the offline repository, unless its stage receipt says it is there. */
static int stage_component(struct installer *in, const json_t *c)
{
	struct apt_job j;
	json_t *old = NULL;
	int r = job_init(in, c, true, &j);

	if (r == 0)
		r = require_apt(&j);
	if (r == 0)
		r = policy_off(&j);
	if (r == 0) {
		old = read_receipt(j.receipt_path);
		if (!staged_in_place(&j, old)) {
			remove_work(&j);
			r = stage_set(&j);
			remove_work(&j);
		}
		json_decref(old);
	}
	job_done(&j);
	return r;
}

int installer_apt_stage(struct installer *in, const json_t *c, char **ret_dest)
{
	int r = stage_component(in, c);

	if (r == 0) {
		dsvm_journal_crash_point(in->journal, in->step);
		r = rebuild_repo_index(in);
	}
	if (r == 0 && !(*ret_dest = strdup(APT_REPO)))
		r = -ENOMEM;
	return r;
}
