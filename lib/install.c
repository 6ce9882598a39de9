/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <jansson.h>

#include "dsvm/extract.h"
#include "dsvm/fetch.h"
#include "dsvm/install.h"
#include "dsvm/journal.h"
#include "dsvm/state.h"
#include "dsvm/prepare.h"
#include "install-internal.h"
#include "internal.h"
#include "lock-internal.h"

/* What a component asks of this version, or why it is deferred (*ret_reason). */
static enum step_kind classify(const json_t *c, const char **ret_reason)
{
	const char *kind = str_of(c, "kind"), *action = str_of(c, "action");
	static const struct {
		const char *kind;
		enum step_kind install;
		enum step_kind stage;
	} kinds[] = {
		{ "archive", STEP_ARCHIVE, STEP_STAGE },
		{ "nvidia-redist", STEP_REDIST, STEP_STAGE },
		{ "file", STEP_FILE, STEP_STAGE },
		{ "service", STEP_SERVICE, STEP_NONE },
		{ "apt", STEP_APT, STEP_APT_STAGE },
		{ "pip", STEP_PIP, STEP_STAGE },
		{ "runfile", STEP_RUNFILE, STEP_STAGE },
		{ "script", STEP_SCRIPT, STEP_STAGE },
	};
	static const struct {
		const char *kind;
		const char *reason;
	} deferred[] = {
		{ "conda", "conda packages are not installed by this version: no conda in the "
			   "build root to link them (pip wheels are)" },
		{ "msi", "Windows installers run in the Windows build" },
		{ "exe", "Windows installers run in the Windows build" },
		{ "zip", "Windows archives install in the Windows build" },
		{ "powershell", "PowerShell scripts run in the Windows build" },
	};
	bool stage;

	*ret_reason = NULL;
	if (!kind || !action || (!streq(action, "install") && !streq(action, "stage"))) {
		*ret_reason = "the lock gives no kind, or an action other than install or stage";
		return STEP_NONE;
	}
	stage = streq(action, "stage");
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		if (!streq(kind, kinds[i].kind))
			continue;
		if (stage && kinds[i].stage == STEP_STAGE &&
		    json_array_size(json_object_get(c, "artifacts")) == 0) {
			*ret_reason = "a staged component without artifacts has nothing to stage";
			return STEP_NONE;
		}
		/* A staged service has no payload: firstboot enables it from the lock (ret_reason
		 * stays NULL: nothing deferred, nothing to do). */
		return stage ? kinds[i].stage : kinds[i].install;
	}
	for (size_t i = 0; i < ARRAY_SIZE(deferred); i++)
		if (streq(kind, deferred[i].kind)) {
			*ret_reason = deferred[i].reason;
			return STEP_NONE;
		}
	*ret_reason = "a kind this version does not know";
	return STEP_NONE;
}

static void report(struct installer *in, const json_t *c, const char *name, const char *kind,
		   const char *dest, enum dsvm_install_outcome outcome, const char *reason)
{
	struct dsvm_install_event e = {
		.step = outcome == DSVM_INSTALL_DEFERRED ? 0 : in->step,
		.n_steps = in->n_steps,
		.name = name,
		.kind = kind,
		.action = c ? str_of(c, "action") : "write",
		.dest = dest,
		.outcome = outcome,
		.reason = reason,
		.note = in->note,
	};

	if (in->opts->report)
		in->opts->report(in->opts->report_userdata, &e);
}

static ssize_t read_fd(void *userdata, void *buf, size_t size)
{
	ssize_t n;

	do
		n = read(*(int *)userdata, buf, size);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* The tree dsvm_prepare_items made for an artifact (see install.h), newly allocated. */
static char *prepared_path(struct installer *in, const json_t *art)
{
	return strdup_printf("%s/%s", in->prepared, str_of(art, "sha256"));
}

/*
 * Move the prepared tree of every artifact of c into in->staging, entry by entry at the top.
 * Returns 1 when done, 0 when some artifact has no prepared tree or two trees share a top
 * entry (then in->staging is removed and the caller extracts from the cache, where the
 * cross-archive checks of extract.h run), -errno on failure.
 */
static int assemble_prepared(struct installer *in, const json_t *c)
{
	const json_t *art;
	size_t i;
	int r = 0;

	if (!in->prepared)
		return 0;
	json_array_foreach(json_object_get(c, "artifacts"), i, art)
	{
		_cleanup_free_ char *tree = prepared_path(in, art);
		struct stat st;

		if (!tree)
			return -ENOMEM;
		if (lstat(tree, &st) < 0 || !S_ISDIR(st.st_mode))
			return 0;
	}
	if (mkdir(in->staging, 0755) < 0)
		return dsvm_set_error(in->ctx, -errno, "cannot create '%s': %m", in->staging);
	json_array_foreach(json_object_get(c, "artifacts"), i, art)
	{
		_cleanup_free_ char *tree = prepared_path(in, art);
		_cleanup_(closedirp) DIR *d = tree ? opendir(tree) : NULL;
		struct dirent *de;

		if (!d)
			return tree ? dsvm_set_error(in->ctx, -errno, "cannot read '%s': %m", tree)
				    : -ENOMEM;
		while ((de = readdir(d))) {
			_cleanup_free_ char *from = NULL, *to = NULL;

			if (streq(de->d_name, ".") || streq(de->d_name, ".."))
				continue;
			from = strdup_printf("%s/%s", tree, de->d_name);
			to = strdup_printf("%s/%s", in->staging, de->d_name);
			if (!from || !to)
				return -ENOMEM;
			if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
				continue;
			r = errno == EEXIST
				    ? 0
				    : dsvm_set_error(in->ctx, -errno, "cannot move '%s': %m", from);
			remove_tree(in->staging);
			return r;
		}
	}
	return 1;
}

/*
 * The extraction options of c's archives together (extract.h): what they may expand to (the sum
 * of their unpacked_size, the default ratio to the size of those that state none) and whether
 * they keep setuid bits. The cache files are verified before they are read: no unverified budget.
 */
static void component_extract_options(const json_t *c, struct dsvm_extract_options *o)
{
	uint64_t size = 0, unpacked = 0;
	bool stated = false;
	const json_t *art;
	size_t i;

	json_array_foreach(json_object_get(c, "artifacts"), i, art)
	{
		uint64_t s = (uint64_t)json_integer_value(json_object_get(art, "size"));
		uint64_t u = (uint64_t)json_integer_value(json_object_get(art, "unpacked_size"));

		size += s;
		unpacked += u ? u : s * DSVM_EXTRACT_DEFAULT_RATIO;
		stated |= u > 0;
	}
	*o = (struct dsvm_extract_options){ 0 };
	o->allow_setuid = json_is_true(json_object_get(c, "allow_setuid"));
	dsvm_extract_options_for_artifact(o, size, stated ? unpacked : 0);
	o->unverified_bytes = 0;
}

/* The report's note when n entries (the first one named first) lost setuid or setgid bits. */
static int note_stripped(struct installer *in, const json_t *c, uint64_t n, const char *first)
{
	if (!n)
		return 0;
	free(in->note);
	in->note = strdup_printf("setuid/setgid bits stripped from %" PRIu64 " entr%s (first "
				 "'%s'); "
				 "'allow_setuid: true' on component '%s' keeps them",
				 n, n == 1 ? "y" : "ies", first ? first : "?", str_of(c, "name"));
	return in->note ? 0 : -ENOMEM;
}

/* The stripped entries dsvm_prepare_items noted beside c's prepared trees (prepare.h). */
static int note_prepared(struct installer *in, const json_t *c)
{
	_cleanup_free_ char *first = NULL;
	const json_t *art;
	uint64_t total = 0;
	size_t i;

	json_array_foreach(json_object_get(c, "artifacts"), i, art)
	{
		_cleanup_free_ char *tree = prepared_path(in, art);
		_cleanup_free_ char *path = tree ? strdup_printf("%s.stripped", tree) : NULL;
		_cleanup_free_ char *text = NULL;
		char name[256] = "";
		unsigned long long n = 0;

		if (!path)
			return -ENOMEM;
		if (read_file_capped(path, 4096, &text, NULL) < 0 ||
		    sscanf(text, "%llu %255[^\n]", &n, name) < 1)
			continue;
		total += n;
		if (!first && name[0] && !(first = strdup(name)))
			return -ENOMEM;
	}
	return note_stripped(in, c, total, first);
}

/*
 * Put the tree of every artifact of c at in->staging: the trees prepared from the download
 * stream when there are, else extracted now from the verified cache files.
 */
static int extract_all(struct installer *in, const json_t *c)
{
	_cleanup_free_ char *tmp = strdup_printf("%s.x", in->staging);
	struct dsvm_extract_options o;
	struct dsvm_extract *ex = NULL;
	const json_t *art;
	size_t i;
	int r;

	if (!tmp)
		return -ENOMEM;
	remove_tree(in->staging);
	remove_tree(tmp);
	r = assemble_prepared(in, c);
	if (r > 0)
		return note_prepared(in, c) ?: installer_sync_tree(in, in->staging);
	if (r < 0)
		return r;
	component_extract_options(c, &o);
	r = dsvm_extract_new(in->ctx, tmp, &o, &ex);
	if (r < 0)
		return r;
	json_array_foreach(json_object_get(c, "artifacts"), i, art)
	{
		_cleanup_free_ char *src = NULL, *label = NULL;
		int fd = installer_open_artifact(in, art, &src);

		if (fd < 0) {
			r = fd;
			break;
		}
		/* Messages name the artifact, as the one-pass path does, and the file read. */
		label = strdup_printf("%s' ('%s)", str_of(art, "name") ? str_of(art, "name") : "?",
				      src);
		r = label ? dsvm_extract_stream(ex, label, read_fd, &fd) : -ENOMEM;
		close(fd);
		if (r < 0)
			break;
	}
	if (r == 0) {
		const char *first = NULL;
		uint64_t n = dsvm_extract_get_stripped(ex, &first);

		r = note_stripped(in, c, n, first);
	}
	if (r == 0)
		r = installer_sync_tree(in, tmp);
	if (r == 0)
		r = dsvm_extract_commit(ex, in->staging);
	dsvm_extract_free(ex);
	return r;
}

/* The single directory a tree holds (newly allocated), or NULL when it holds anything else. */
static char *single_top_dir(const char *dir)
{
	_cleanup_(closedirp) DIR *d = opendir(dir);
	char *top = NULL;
	struct dirent *de;
	struct stat st;

	while (d && (de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (top) {
			free(top);
			return NULL;
		}
		top = strdup_printf("%s/%s", dir, de->d_name);
		if (!top || lstat(top, &st) < 0 || !S_ISDIR(st.st_mode)) {
			free(top);
			return NULL;
		}
	}
	return top;
}

/*
 * Move the committed tree (or its single top directory) to host; an old tree there is exchanged
 * out in the same rename and left in swap for the caller to remove.
 */
static int swap_into_place(struct installer *in, const char *swap, const char *host)
{
	_cleanup_free_ char *top = single_top_dir(swap);
	const char *tree = top ? top : swap;

	if (access(host, F_OK) == 0 ? renameat2(AT_FDCWD, tree, AT_FDCWD, host, RENAME_EXCHANGE) < 0
				    : rename(tree, host) < 0)
		return dsvm_set_error(in->ctx, -errno, "cannot move '%s' into place: %m", host);
	in->changed = true;
	return installer_sync_dir_of(in, host);
}

/* The lock's CUDA toolkit (the install component providing cuda-toolkit), or NULL. */
static const json_t *cuda_toolkit(const json_t *lock)
{
	const json_t *c, *p;
	size_t i, j;

	json_array_foreach(json_object_get(lock, "components"), i, c)
	{
		if (!str_of(c, "action") || !streq(str_of(c, "action"), "install"))
			continue;
		json_array_foreach(json_object_get(c, "provides"), j,
				   p) if (json_string_value(p) &&
					  streq(json_string_value(p), "cuda-toolkit")) return c;
	}
	return NULL;
}

/* "cuda-13.0" for version "13.0.0". */
static char *cuda_dir_name(const char *version)
{
	const char *dot = version ? strchr(version, '.') : NULL;
	size_t n;

	if (!dot)
		return NULL;
	n = strcspn(dot + 1, ".");
	return strdup_printf("cuda-%.*s", (int)(dot + 1 - version + n), version);
}

/*
 * Where an archive (/opt/<name>-<version>) or nvidia-redist component (/usr/local/cuda-<M.m> of
 * the lock's toolkit) goes in the image; *ret_dir (may be NULL) is the redist's "cuda-M.m".
 */
static int component_tree_dest(struct installer *in, const json_t *c, char **ret_dest,
			       char **ret_dir)
{
	const json_t *toolkit;
	_cleanup_free_ char *dir = NULL;

	if (streq(str_of(c, "kind"), "archive")) {
		*ret_dest = strdup_printf("/opt/%s-%s", str_of(c, "name"),
					  str_of(c, "version") ? str_of(c, "version") : "0");
		return *ret_dest ? 0 : -ENOMEM;
	}
	toolkit = cuda_toolkit(in->lock);
	if (!toolkit)
		return dsvm_set_error(in->ctx, -EBADMSG,
				      "'%s': no component of the lock provides cuda-toolkit",
				      str_of(c, "name"));
	dir = cuda_dir_name(str_of(toolkit, "version"));
	if (!dir)
		return dsvm_set_error(in->ctx, -EBADMSG, "'%s': version '%s' is not M.m[.p]",
				      str_of(toolkit, "name"), str_of(toolkit, "version"));
	*ret_dest = strdup_printf("/usr/local/%s", dir);
	if (!*ret_dest)
		return -ENOMEM;
	if (ret_dir)
		*ret_dir = TAKE_PTR(dir);
	return 0;
}

/*
 * archive: /opt/<name>-<version>, swapped in whole. An archive holding one top directory (the
 * usual tool-1.2.3/ tarball) has it stripped, so the tool's bin/ is /opt/<name>-<version>/bin.
 */
static int install_archive(struct installer *in, const json_t *c, char **ret_dest)
{
	_cleanup_(installer_tree_dest_done) struct tree_dest t = { 0 };
	_cleanup_free_ char *dest = NULL, *swap = NULL;
	int r = component_tree_dest(in, c, &dest, NULL);

	if (r < 0)
		return r;
	r = installer_tree_dest_init(in, c, dest, &t);
	if (r < 0)
		return r;
	swap = installer_temp_path(t.host);
	if (!swap)
		return -ENOMEM;
	remove_tree(swap);
	if (!t.in_place) {
		r = installer_make_parent(in, t.host);
		if (r < 0)
			return r;
		r = extract_all(in, c);
		if (r < 0)
			return r;
		/* Moved beside the destination, so the last move is one rename. */
		if (rename(in->staging, swap) < 0)
			r = dsvm_set_error(in->ctx, -errno, "cannot move '%s' to '%s': %m",
					   in->staging, swap);
		if (r == 0)
			r = swap_into_place(in, swap, t.host);
		if (r == 0)
			dsvm_journal_crash_point(in->journal, in->step);
		/* Whatever happened, nothing is left beside the destination. */
		remove_tree(swap);
		if (r < 0)
			return r;
	}
	r = installer_write_if_changed(in, t.receipt_path, t.receipt, 0644);
	if (r < 0)
		return r;
	*ret_dest = TAKE_PTR(dest);
	return 0;
}

/* Move every entry under src into dst (created as needed), replacing files by rename. */
static int merge_tree(struct installer *in, const char *src, const char *dst)
{
	DIR *d = opendir(src);
	struct dirent *de;
	struct stat st;
	int r = 0;

	if (!d)
		return dsvm_set_error(in->ctx, -errno, "cannot read '%s': %m", src);
	if (mkdir(dst, 0755) < 0 && errno != EEXIST)
		r = dsvm_set_error(in->ctx, -errno, "cannot create '%s': %m", dst);
	else if (lstat(dst, &st) < 0 || !S_ISDIR(st.st_mode))
		r = dsvm_set_error(in->ctx, -ENOTDIR, "cannot merge into '%s': not a directory",
				   dst);
	while (r == 0 && (de = readdir(d))) {
		_cleanup_free_ char *s = NULL, *t = NULL;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		s = strdup_printf("%s/%s", src, de->d_name);
		t = strdup_printf("%s/%s", dst, de->d_name);
		if (!s || !t) {
			r = -ENOMEM;
			break;
		}
		if (lstat(s, &st) < 0)
			r = dsvm_set_error(in->ctx, -errno, "cannot read '%s': %m", s);
		else if (S_ISDIR(st.st_mode))
			r = merge_tree(in, s, t);
		else if (rename(s, t) < 0)
			r = dsvm_set_error(in->ctx, -errno, "cannot move '%s' into place: %m", t);
		else
			in->changed = true;
	}
	closedir(d);
	if (r == 0) {
		_cleanup_close_ int fd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0 || fsync(fd) < 0)
			r = dsvm_set_error(in->ctx, -errno, "cannot sync '%s': %m", dst);
	}
	return r;
}

static int no_dots(const struct dirent *de)
{
	return !streq(de->d_name, ".") && !streq(de->d_name, "..");
}

static int merge_top(struct installer *in, const json_t *c, const char *name, const char *host)
{
	_cleanup_free_ char *top = strdup_printf("%s/%s", in->staging, name);
	struct stat st;
	int r;

	if (!top)
		return -ENOMEM;
	if (lstat(top, &st) < 0 || !S_ISDIR(st.st_mode))
		return dsvm_set_error(in->ctx, -EBADMSG,
				      "'%s': '%s' is not a redist archive directory",
				      str_of(c, "name"), name);
	r = merge_tree(in, top, host);
	if (r == 0)
		dsvm_journal_crash_point(in->journal, in->step);
	return r;
}

/*
 * Extract c's archives and merge each one's top directory (<package>-<platform>-<version>-
 * archive) into host. They are merged in name order, so where two archives ship the same file
 * (each has a LICENSE) the same one wins on every machine, whatever readdir's order.
 */
static int merge_redist(struct installer *in, const json_t *c, const char *host)
{
	struct dirent **tops = NULL;
	int n, r = extract_all(in, c);

	if (r < 0)
		return r;
	n = scandir(in->staging, &tops, no_dots, alphasort);
	if (n < 0)
		r = dsvm_set_error(in->ctx, -errno, "cannot read '%s': %m", in->staging);
	else
		r = installer_make_parent(in, host);
	for (int i = 0; i < n; i++) {
		if (r == 0)
			r = merge_top(in, c, tops[i]->d_name, host);
		free(tops[i]);
	}
	free(tops);
	remove_tree(in->staging);
	return r;
}

/* nvidia-redist: merged into /usr/local/cuda-<M.m>; the toolkit also sets /usr/local/cuda. */
static int install_redist(struct installer *in, const json_t *c, char **ret_dest)
{
	const json_t *toolkit = cuda_toolkit(in->lock);
	_cleanup_(installer_tree_dest_done) struct tree_dest t = { 0 };
	_cleanup_free_ char *dir = NULL, *dest = NULL, *link = NULL;
	int r;

	r = component_tree_dest(in, c, &dest, &dir);
	if (r < 0)
		return r;
	r = installer_tree_dest_init(in, c, dest, &t);
	if (r == 0 && !t.in_place)
		r = merge_redist(in, c, t.host);
	if (r == 0)
		r = installer_write_if_changed(in, t.receipt_path, t.receipt, 0644);
	if (r == 0 && c == toolkit) {
		link = installer_root_path(in, "/usr/local/cuda");
		r = link ? installer_set_symlink(in, link, dir) : -ENOMEM;
	}
	if (r < 0)
		return r;
	*ret_dest = TAKE_PTR(dest);
	return 0;
}

static int install_file(struct installer *in, const json_t *c, char **ret_dest)
{
	const char *dest = str_of(json_object_get(c, "source"), "dest");
	const json_t *arts = json_object_get(c, "artifacts");
	int r;

	if (json_array_size(arts) != 1)
		return dsvm_set_error(in->ctx, -EBADMSG,
				      "'%s': a file component needs one artifact",
				      str_of(c, "name"));
	if (!installer_is_clean_absolute(dest))
		return dsvm_set_error(in->ctx, -EBADMSG,
				      "'%s': dest '%s' is not a clean absolute path",
				      str_of(c, "name"), dest ? dest : "");
	r = installer_copy_to_image(in, json_array_get(arts, 0), dest);
	if (r < 0)
		return r;
	*ret_dest = strdup(dest);
	return *ret_dest ? 0 : -ENOMEM;
}

struct unit_info {
	char *path; /* the unit file in the image */
	bool found; /* it exists in the root */
	char *wanted[MAX_WANTED_BY];
	size_t n_wanted;
};

static void unit_info_done(struct unit_info *u)
{
	free(u->path);
	for (size_t i = 0; i < u->n_wanted; i++)
		free(u->wanted[i]);
}

/* Where the unit file is in the image, and the targets its [Install] section wants it by. */
static int unit_info_read(struct installer *in, const char *unit, struct unit_info *u)
{
	static const char *const dirs[] = { SYSTEMD_ETC, "/usr/lib/systemd/system",
					    "/lib/systemd/system" };
	_cleanup_free_ char *text = NULL;
	char *line, *save = NULL;
	bool install = false;

	for (size_t i = 0; i < ARRAY_SIZE(dirs) && !u->path; i++) {
		_cleanup_free_ char *img = strdup_printf("%s/%s", dirs[i], unit), *host = NULL;

		host = img ? installer_root_path(in, img) : NULL;
		if (!host)
			return -ENOMEM;
		if (read_file_capped(host, MAX_UNIT_BYTES, &text, NULL) == 0)
			u->path = TAKE_PTR(img);
	}
	u->found = u->path != NULL;
	if (!u->path)
		u->path = strdup_printf("/lib/systemd/system/%s", unit);
	if (!u->path)
		return -ENOMEM;
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *tok, *s2 = NULL;

		line += strspn(line, " \t");
		if (line[0] == '[')
			install = strncmp(line, "[Install]", 9) == 0;
		if (!install || strncmp(line, "WantedBy=", 9) != 0)
			continue;
		for (tok = strtok_r(line + 9, " \t", &s2); tok && u->n_wanted < MAX_WANTED_BY;
		     tok = strtok_r(NULL, " \t", &s2))
			if (!strchr(tok, '/') && tok[0] != '.' &&
			    (u->wanted[u->n_wanted] = strdup(tok)))
				u->n_wanted++;
	}
	if (u->n_wanted == 0 && (u->wanted[0] = strdup("multi-user.target")))
		u->n_wanted = 1;
	return u->n_wanted ? 0 : -ENOMEM;
}

static int run_systemctl(struct installer *in, const char *verb, const char *unit)
{
	_cleanup_free_ char *root = strdup_printf("--root=%s", dsvm_ctx_get_root(in->ctx));
	int status;
	pid_t pid;

	if (!root)
		return -ENOMEM;
	pid = fork();
	if (pid < 0)
		return dsvm_set_error(in->ctx, -errno, "cannot run '%s': %m", in->opts->systemctl);
	if (pid == 0) {
		execlp(in->opts->systemctl, in->opts->systemctl, root, "--quiet", verb, unit,
		       (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	/* A program that ran and failed: the job failed (exit 1), as for apt, pip and scripts. */
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return dsvm_set_error(in->ctx, -ECHILD, "'%s %s %s %s' failed (status %d)",
				      in->opts->systemctl, root, verb, unit, status);
	in->changed = true;
	return 0;
}

/* The i-th .wants link of a unit, under --root; NULL on OOM. */
static char *wants_link(struct installer *in, const struct unit_info *u, size_t i, const char *unit)
{
	_cleanup_free_ char *img = strdup_printf(SYSTEMD_ETC "/%s.wants/%s", u->wanted[i], unit);

	return img ? installer_root_path(in, img) : NULL;
}

/* Whether every .wants link is as enable asks (there, pointing at the unit; or absent). */
static bool links_match(struct installer *in, const struct unit_info *u, const char *unit,
			bool enable)
{
	for (size_t i = 0; i < u->n_wanted; i++) {
		_cleanup_free_ char *host = wants_link(in, u, i, unit);
		char target[PATH_MAX];
		ssize_t n = host ? readlink(host, target, sizeof(target) - 1) : -1;

		if (!host)
			return false;
		if (n >= 0)
			target[n] = '\0';
		if (enable ? n < 0 || !streq(target, u->path) : n >= 0 || errno != ENOENT)
			return false;
	}
	return true;
}

static int set_links(struct installer *in, const struct unit_info *u, const char *unit, bool enable)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < u->n_wanted; i++) {
		_cleanup_free_ char *host = wants_link(in, u, i, unit);

		if (!host)
			r = -ENOMEM;
		else if (enable)
			r = installer_set_symlink(in, host, u->path);
		else if (unlink(host) == 0)
			r = (in->changed = true, installer_sync_dir_of(in, host));
		else if (errno != ENOENT)
			r = dsvm_set_error(in->ctx, -errno, "cannot remove '%s': %m", host);
	}
	return r;
}

static int install_service(struct installer *in, const json_t *c, char **ret_dest)
{
	const json_t *src = json_object_get(c, "source");
	const char *unit = str_of(src, "unit");
	bool enable = json_is_true(json_object_get(src, "enable"));
	struct unit_info u = { 0 };
	int r;

	if (!unit || !*unit || strchr(unit, '/') || unit[0] == '.')
		return dsvm_set_error(in->ctx, -EBADMSG, "'%s': bad unit name '%s'",
				      str_of(c, "name"), unit ? unit : "");
	r = unit_info_read(in, unit, &u);
	/*
	 * systemctl reads [Install] from the unit file, so it is used only where the root has one;
	 * otherwise (a unit a deferred component will bring) the links are made as it would make
	 * them. Either way nothing runs when the links are already as asked.
	 */
	if (r == 0 && !links_match(in, &u, unit, enable)) {
		if (in->opts->systemctl && u.found)
			r = run_systemctl(in, enable ? "enable" : "disable", unit);
		else
			r = set_links(in, &u, unit, enable);
	}
	if (r == 0 && !(*ret_dest = strdup_printf(SYSTEMD_ETC "/%s.wants/%s", u.wanted[0], unit)))
		r = -ENOMEM;
	unit_info_done(&u);
	return r;
}

/* stage: every artifact into the offline repository, /var/lib/dsvm/repo/<sha256>. */
static int stage_artifacts(struct installer *in, const json_t *c, char **ret_dest)
{
	const json_t *art;
	size_t i;
	int r = 0;

	json_array_foreach(json_object_get(c, "artifacts"), i, art)
	{
		_cleanup_free_ char *img = NULL;

		/* The hash names the file: check it before it becomes a path. */
		if (!str_of(art, "sha256") || !is_sha256_hex(str_of(art, "sha256")))
			return dsvm_set_error(in->ctx, -EBADMSG, "'%s': artifact without sha256",
					      str_of(c, "name"));
		img = strdup_printf(REPO_DIR "/%s", str_of(art, "sha256"));
		r = img ? installer_copy_to_image(in, art, img) : -ENOMEM;
		if (r < 0)
			return r;
	}
	*ret_dest = strdup(REPO_DIR);
	return *ret_dest ? 0 : -ENOMEM;
}

static int run_component(struct installer *in, const json_t *c, enum step_kind kind, char **dest)
{
	switch (kind) {
	case STEP_ARCHIVE:
		return install_archive(in, c, dest);
	case STEP_REDIST:
		return install_redist(in, c, dest);
	case STEP_FILE:
		return install_file(in, c, dest);
	case STEP_SERVICE:
		return install_service(in, c, dest);
	case STEP_STAGE:
		return stage_artifacts(in, c, dest);
	case STEP_APT:
		return installer_apt_install(in, c, dest);
	case STEP_APT_STAGE:
		return installer_apt_stage(in, c, dest);
	case STEP_PIP:
		return installer_pip_install(in, c, dest);
	case STEP_RUNFILE:
	case STEP_SCRIPT:
		return installer_run_program(in, c, dest);
	default:
		return -EINVAL;
	}
}

/* The journaled frame of a step: skip when the resumed journal says done, else begin/work/done. */
static int run_step(struct installer *in, const json_t *c, enum step_kind kind, const char *name,
		    const char *text)
{
	_cleanup_free_ char *dest = NULL;
	int r;

	in->step++;
	if (dsvm_journal_is_done(in->journal, in->step)) {
		in->stats.skipped++;
		report(in, c, name, c ? str_of(c, "kind") : "metadata", NULL, DSVM_INSTALL_SKIPPED,
		       NULL);
		return 0;
	}
	r = dsvm_journal_begin(in->journal, in->step, name);
	if (r < 0)
		return r;
	in->changed = false;
	if (c) {
		r = run_component(in, c, kind, &dest);
		/*
		 * A driver stack's own payloads (the manifest marks them stage: true) also go to
		 * the offline repository when installed: after a resize to another kind and back,
		 * firstboot reinstalls them from there. apt members are staged by install-apt.c.
		 */
		if (r >= 0 && json_object_get(c, "driver_kinds") &&
		    (kind == STEP_FILE || kind == STEP_PIP || kind == STEP_RUNFILE)) {
			_cleanup_free_ char *repo = NULL;

			r = stage_artifacts(in, c, &repo);
		}
	} else {
		_cleanup_free_ char *host = NULL, *record = NULL;

		/* The SBOM is made from this record: the two are written in one step. */
		if (in->packages && streq(name, "sbom.json")) {
			record = installer_root_path(in, DSVM_IMAGE_PACKAGES);
			r = record ? installer_write_if_changed(in, record, in->packages, 0644)
				   : -ENOMEM;
			if (r < 0)
				return r;
		}
		dest = strdup_printf("/usr/share/dsvm/%s", name);
		host = dest ? installer_root_path(in, dest) : NULL;
		r = host ? installer_write_if_changed(in, host, text, 0644) : -ENOMEM;
	}
	if (r < 0)
		return r;
	r = dsvm_journal_done(in->journal, in->step, name);
	if (r < 0)
		return r;
	if (!in->changed)
		in->stats.unchanged++;
	else if (kind == STEP_STAGE || kind == STEP_APT_STAGE)
		in->stats.staged++;
	else
		in->stats.installed++;
	report(in, c, name, c ? str_of(c, "kind") : "metadata", dest,
	       in->changed ? DSVM_INSTALL_DONE : DSVM_INSTALL_UNCHANGED, NULL);
	free(in->note);
	in->note = NULL;
	return 0;
}

unsigned dsvm_install_count_steps(const struct dsvm_lock *lock)
{
	const json_t *c;
	const char *reason;
	unsigned n = 2; /* lock.json, sbom.json */
	size_t i;

	json_array_foreach(json_object_get(dsvm_lock_json(lock), "components"), i, c)
	{
		if (classify(c, &reason) != STEP_NONE)
			n++;
	}
	return n;
}

static int run_all(struct installer *in, const struct dsvm_lock *lock, const char *lock_text)
{
	_cleanup_free_ char *sbom = NULL;
	const json_t *c;
	size_t i;
	int r;

	json_array_foreach(json_object_get(in->lock, "components"), i, c)
	{
		const char *reason;
		enum step_kind kind = classify(c, &reason);

		if (kind == STEP_NONE && !reason)
			continue;
		if (kind == STEP_NONE) {
			in->stats.deferred++;
			report(in, c, str_of(c, "name"), str_of(c, "kind"), NULL,
			       DSVM_INSTALL_DEFERRED, reason);
			continue;
		}
		r = run_step(in, c, kind, str_of(c, "name"), NULL);
		if (r < 0)
			return r;
	}
	r = run_step(in, NULL, STEP_NONE, "lock.json", lock_text);
	if (r < 0)
		return r;
	r = installer_apt_record(in, &in->packages);
	if (r < 0)
		return r;
	r = dsvm_lock_to_sbom_with_packages(in->ctx, lock, in->packages, &sbom);
	if (r < 0)
		return r;
	return run_step(in, NULL, STEP_NONE, "sbom.json", sbom);
}

/* Names become journal records and paths: the lock checked them, and so does this. */
static int check_names(struct dsvm_ctx *ctx, const json_t *lock)
{
	const json_t *c;
	size_t i;

	json_array_foreach(json_object_get(lock, "components"), i, c)
	{
		const char *name = str_of(c, "name");

		if (!name || !*name || name[0] == '.' || strlen(name) > 128 ||
		    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789.+_-") != strlen(name))
			return dsvm_set_error(ctx, -EBADMSG, "lock component name '%s' refused",
					      name ? name : "");
	}
	return 0;
}

int dsvm_install_lock(struct dsvm_ctx *ctx, const struct dsvm_lock *lock,
		      const struct dsvm_install_options *opts, struct dsvm_install_stats *ret_stats)
{
	struct installer in = { .ctx = ctx, .opts = opts, .lock = dsvm_lock_json(lock) };
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int root_lock = -1;
	char plan[65];
	int r;

	if (!opts || !opts->cache_dir)
		return dsvm_set_error(ctx, -EINVAL, "install needs the cache directory");
	r = dsvm_lock_to_string(lock, &text);
	if (r < 0)
		return r;
	r = sha256_buffer_hex(text, strlen(text), plan);
	if (r < 0)
		return r;
	r = check_names(ctx, in.lock);
	if (r < 0)
		return r;
	/* Never interleave with a first-boot reconcile of the same root (DSVM_ROOT_LOCK). */
	root_lock = dsvm_root_lock(ctx, false);
	if (root_lock < 0)
		return root_lock;
	r = dsvm_journal_open(ctx, "install", plan, &in.journal);
	if (r < 0)
		return r;
	in.stats.resumed_at = dsvm_journal_get_interrupted(in.journal);
	in.n_steps = dsvm_install_count_steps(lock);
	in.stats.steps = in.n_steps;
	in.staging = strdup_printf("%s/staging", dsvm_journal_get_dir(in.journal));
	in.prepared = strdup_printf("%s/prepared", dsvm_journal_get_dir(in.journal));
	if (!in.staging || !in.prepared) {
		r = -ENOMEM;
		goto out;
	}
	r = run_all(&in, lock, text);
	if (r == 0)
		r = dsvm_journal_finish(in.journal);
	if (r == 0 && ret_stats)
		*ret_stats = in.stats;
out:
	if (in.staging)
		remove_tree(in.staging);
	/* Trees prepared for this run were used or are stale; the next prepare makes new ones. */
	if (r == 0 && in.prepared)
		remove_tree(in.prepared);
	free(in.prepared);
	free(in.staging);
	free(in.packages);
	free(in.note);
	dsvm_journal_free(in.journal);
	return r;
}

#define PREPARED_DIR DSVM_JOURNAL_DIR "/prepared"

/* The archive and redist artifacts of install components not yet in place, once per hash. */
static int prepare_collect(struct installer *in, const char *dir, struct dsvm_prepare_item **ret,
			   size_t *ret_n)
{
	struct dsvm_prepare_item *items = NULL;
	const json_t *c, *art;
	size_t i, j, n = 0;

	json_array_foreach(json_object_get(in->lock, "components"), i, c)
	{
		_cleanup_(installer_tree_dest_done) struct tree_dest t = { 0 };
		_cleanup_free_ char *dest = NULL;
		const char *reason;
		enum step_kind kind = classify(c, &reason);
		int r;

		if (kind != STEP_ARCHIVE && kind != STEP_REDIST)
			continue;
		r = component_tree_dest(in, c, &dest, NULL);
		if (r == 0)
			r = installer_tree_dest_init(in, c, dest, &t);
		if (r < 0) {
			free(items);
			return r;
		}
		if (t.in_place)
			continue;
		json_array_foreach(json_object_get(c, "artifacts"), j, art)
		{
			struct dsvm_prepare_item *p;
			const char *sha = str_of(art, "sha256");
			bool seen = false;

			if (!sha || !is_sha256_hex(sha))
				continue; /* the step itself reports it */
			for (size_t k = 0; k < n && !seen; k++)
				seen = streq(items[k].fetch.sha256, sha);
			if (seen)
				continue;
			p = realloc(items, (n + 1) * sizeof(*items));
			if (!p) {
				free(items);
				return -ENOMEM;
			}
			items = p;
			items[n] = (struct dsvm_prepare_item){
				.fetch = { .name = str_of(art, "name"),
					   .url = str_of(art, "url"),
					   .path = str_of(art, "path"),
					   .sha256 = sha,
					   .size = (uint64_t)json_integer_value(
						   json_object_get(art, "size")) },
				.staging_dir = strdup_printf("%s/%s", dir, sha),
				.unpacked_size =
					(uint64_t)json_integer_value(json_object_get(art, "unpacked"
											  "_size")),
				.allow_setuid = json_is_true(json_object_get(c, "allow_setuid")),
			};
			if (!items[n].staging_dir) {
				free(items);
				return -ENOMEM;
			}
			n++;
		}
	}
	*ret = items;
	*ret_n = n;
	return 0;
}

int dsvm_install_prepare(struct dsvm_ctx *ctx, const struct dsvm_lock *lock,
			 const struct dsvm_fetch_options *fetch,
			 struct dsvm_prepare_stats *ret_stats)
{
	struct installer in = { .ctx = ctx, .lock = dsvm_lock_json(lock) };
	_cleanup_free_ char *final = installer_root_path(&in, PREPARED_DIR);
	_cleanup_free_ char *tmp = final ? strdup_printf("%s.tmp", final) : NULL;
	struct dsvm_prepare_item *items = NULL;
	struct dsvm_prepare_stats stats = { 0 };
	size_t n = 0;
	int r;

	if (!final || !tmp)
		return -ENOMEM;
	remove_tree(final);
	remove_tree(tmp);
	r = prepare_collect(&in, tmp, &items, &n);
	if (r < 0 || n == 0)
		goto out;
	r = mkdir_parents(tmp, 0755);
	if (r < 0) {
		r = dsvm_set_error(ctx, r, "cannot create '%s': %s", tmp, strerror(-r));
		goto out;
	}
	r = dsvm_prepare_items(ctx, fetch, items, n, NULL, &stats);
	/* Only complete trees exist in tmp; the name says they are usable. */
	if (r == 0 && rename(tmp, final) < 0)
		r = dsvm_set_error(ctx, -errno, "cannot rename '%s': %m", tmp);
	if (ret_stats)
		*ret_stats = stats;
out:
	for (size_t i = 0; i < n; i++)
		free((char *)items[i].staging_dir);
	free(items);
	if (r < 0)
		remove_tree(tmp);
	return r;
}
