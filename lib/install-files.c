/* SPDX-License-Identifier: MIT */
/*
 * The installer's file primitives, the bottom of its layers (lib/install-internal.h): paths
 * resolved inside the root, atomic writes through a temporary and a rename, symlink swaps,
 * directory and tree fsync, artifact copies out of the cache, and the receipts of installed
 * trees. The per-kind handlers (install-apt.c, install-exec.c) and the runner (install.c) use
 * these; these use nothing of theirs.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>

#include <jansson.h>

#include "dsvm/fetch.h"
#include "dsvm/journal.h"
#include "install-files.h"
#include "internal.h"

/*
 * The host path of img (an absolute path in the image) with every directory of it that exists
 * resolved inside --root, the way the image will see it: a link in the root such as
 * /usr/local -> /srv/local means <root>/srv/local, never the build machine's /srv/local
 * (path_in_root). The last component is not followed (a step replaces a link there itself).
 * NULL with the error set when it cannot be resolved.
 */
char *installer_root_path(struct installer *in, const char *img)
{
	const char *root = dsvm_ctx_get_root(in->ctx);
	char *host = NULL;
	int r;

	if (!img)
		return NULL;
	r = path_in_root(root, img, &host);
	if (r == -ENOMEM)
		return NULL;
	if (r < 0) {
		dsvm_set_error(in->ctx, r, "cannot resolve '%s' in '%s': %s", img, root,
			       strerror(-r));
		return NULL;
	}
	return host;
}

static int sync_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	int fd, r = 0;

	(void)ftw;
	if (type != FTW_F && type != FTW_D && type != FTW_DP)
		return 0;
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fsync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	errno = -r;
	return r < 0 ? 1 : 0;
}

/*
 * The extractor syncs only the staging directory: the files it wrote are synced here, before
 * any of them is renamed to a final path, so a power cut cannot leave an empty file there.
 */
int installer_sync_tree(struct installer *in, const char *path)
{
	if (nftw(path, sync_entry, 16, FTW_PHYS | FTW_DEPTH) != 0)
		return dsvm_set_error(in->ctx, errno ? -errno : -EIO, "cannot sync '%s': %m", path);
	return 0;
}

int installer_sync_dir_of(struct installer *in, const char *path)
{
	_cleanup_free_ char *dir = path_dirname(path);
	_cleanup_close_ int fd = -1;

	if (!dir)
		return -ENOMEM;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		return dsvm_set_error(in->ctx, -errno, "cannot sync '%s': %m", dir);
	return 0;
}

int installer_make_parent(struct installer *in, const char *path)
{
	_cleanup_free_ char *dir = path_dirname(path);
	int r;

	if (!dir)
		return -ENOMEM;
	r = mkdir_parents(dir, 0755);
	if (r < 0)
		return dsvm_set_error(in->ctx, r, "cannot create '%s': %s", dir, strerror(-r));
	return 0;
}

/*
 * The temporary beside a final path. Its name is fixed, not per process, so a step redone after
 * a kill replaces what the killed attempt left instead of leaving it in the image.
 */
char *installer_temp_path(const char *path)
{
	_cleanup_free_ char *dir = path_dirname(path);
	const char *base = strrchr(path, '/');

	return dir ? strdup_printf("%s/.%s.dsvm-tmp", dir, base ? base + 1 : path) : NULL;
}

static int installer_open_temp(struct installer *in, const char *path, const char *tmp,
			       unsigned mode)
{
	int fd, r = installer_make_parent(in, path);

	if (r < 0)
		return r;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return dsvm_set_error(in->ctx, -errno, "cannot create '%s': %m", path);
	if (fchmod(fd, mode) < 0) {
		r = dsvm_set_error(in->ctx, -errno, "cannot set the mode of '%s': %m", path);
		close(fd);
		unlink(tmp);
		return r;
	}
	return fd;
}

/* fsync, close and rename the temporary over path; on failure it is gone and path untouched. */
static int installer_commit_temp(struct installer *in, int fd, const char *tmp, const char *path)
{
	int r = 0;

	if (fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return dsvm_set_error(in->ctx, r, "cannot write '%s': %s", path, strerror(-r));
	}
	dsvm_journal_crash_point(in->journal, in->step);
	if (rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
		return dsvm_set_error(in->ctx, r, "cannot move '%s' into place: %s", path,
				      strerror(-r));
	}
	in->changed = true;
	return installer_sync_dir_of(in, path);
}

/* Write data to path atomically unless path already holds exactly data with this mode. */
int installer_write_if_changed(struct installer *in, const char *path, const char *data,
			       unsigned mode)
{
	_cleanup_free_ char *old = NULL, *tmp = installer_temp_path(path);
	size_t size = strlen(data), old_size = 0;
	struct stat st;
	int fd, r;

	if (!tmp)
		return -ENOMEM;
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == mode &&
	    (size_t)st.st_size == size && read_file_capped(path, size, &old, &old_size) == 0 &&
	    old_size == size && memcmp(old, data, size) == 0)
		return 0;
	fd = installer_open_temp(in, path, tmp, mode);
	if (fd < 0)
		return fd;
	r = write_all(fd, data, size);
	if (r < 0) {
		close(fd);
		unlink(tmp);
		return dsvm_set_error(in->ctx, r, "cannot write '%s': %s", path, strerror(-r));
	}
	return installer_commit_temp(in, fd, tmp, path);
}

/*
 * Open an artifact's cache file and check its hash against the lock (the cache is a directory
 * anyone with write access could have changed since fetch). Returns the fd, rewound, or -errno.
 */
int installer_open_artifact(struct installer *in, const json_t *art, char **ret_path)
{
	const char *sha = str_of(art, "sha256");
	_cleanup_free_ char *path = NULL;
	char hex[65];
	int fd, r;

	if (!sha || !is_sha256_hex(sha))
		return dsvm_set_error(in->ctx, -EBADMSG, "artifact '%s' has no valid sha256",
				      str_of(art, "name") ? str_of(art, "name") : "?");
	path = dsvm_fetch_cache_path(in->opts->cache_dir, sha);
	if (!path)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return dsvm_set_error(in->ctx, -errno, "cannot open '%s' (artifact '%s'): %m%s",
				      path, str_of(art, "name"),
				      errno == ENOENT ? "; run 'dsvm-build fetch' first" : "");
	r = sha256_fd_copy_hex(fd, -1, hex, NULL);
	if (r == 0 && !streq(hex, sha))
		r = dsvm_set_error(in->ctx, -EBADMSG,
				   "'%s' no longer matches the lock (sha256 %s, expected %s); "
				   "remove it and run 'dsvm-build fetch' again",
				   path, hex, sha);
	else if (r < 0)
		r = dsvm_set_error(in->ctx, r, "cannot read '%s': %s", path, strerror(-r));
	if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = dsvm_set_error(in->ctx, -errno, "cannot rewind '%s': %m", path);
	if (r < 0) {
		close(fd);
		return r;
	}
	if (ret_path)
		*ret_path = TAKE_PTR(path);
	return fd;
}

/* Copy an artifact from the cache to dest (an absolute path in the host), verifying as it goes. */
static int installer_copy_artifact(struct installer *in, const json_t *art, const char *dest,
				   unsigned mode)
{
	_cleanup_free_ char *src = NULL, *tmp = installer_temp_path(dest);
	_cleanup_close_ int in_fd = -1;
	const char *sha = str_of(art, "sha256");
	char hex[65];
	struct stat st;
	bool write_failed;
	int out_fd, r;

	if (!tmp)
		return -ENOMEM;
	if (!sha || !is_sha256_hex(sha))
		return dsvm_set_error(in->ctx, -EBADMSG, "artifact '%s' has no valid sha256",
				      str_of(art, "name") ? str_of(art, "name") : "?");
	if (lstat(dest, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == mode &&
	    sha256_file_hex(dest, hex) == 0 && streq(hex, sha))
		return 0;
	in_fd = installer_open_artifact(in, art, &src);
	if (in_fd < 0)
		return in_fd;
	out_fd = installer_open_temp(in, dest, tmp, mode);
	if (out_fd < 0)
		return out_fd;
	r = sha256_fd_copy_hex(in_fd, out_fd, hex, &write_failed);
	if (r == 0 && !streq(hex, sha))
		r = dsvm_set_error(in->ctx, -EBADMSG, "'%s' changed while it was copied", src);
	else if (r < 0)
		r = dsvm_set_error(in->ctx, r, "cannot %s '%s': %s",
				   write_failed ? "write" : "read", write_failed ? dest : src,
				   strerror(-r));
	if (r < 0) {
		close(out_fd);
		unlink(tmp);
		return r;
	}
	return installer_commit_temp(in, out_fd, tmp, dest);
}

/* Copy an artifact to a path in the image (under --root), mode 0644. */
int installer_copy_to_image(struct installer *in, const json_t *art, const char *img)
{
	_cleanup_free_ char *host = installer_root_path(in, img);

	return host ? installer_copy_artifact(in, art, host, 0644) : -ENOMEM;
}

/* Point linkpath at target, replacing what is there by renaming a temporary link over it. */
int installer_set_symlink(struct installer *in, const char *linkpath, const char *target)
{
	_cleanup_free_ char *tmp = installer_temp_path(linkpath);
	char old[PATH_MAX];
	ssize_t n = readlink(linkpath, old, sizeof(old) - 1);
	int r;

	if (!tmp)
		return -ENOMEM;
	if (n >= 0) {
		old[n] = '\0';
		if (streq(old, target))
			return 0;
	}
	r = installer_make_parent(in, linkpath);
	if (r < 0)
		return r;
	unlink(tmp);
	if (symlink(target, tmp) < 0)
		return dsvm_set_error(in->ctx, -errno, "cannot create '%s': %m", linkpath);
	dsvm_journal_crash_point(in->journal, in->step);
	if (rename(tmp, linkpath) < 0) {
		r = dsvm_set_error(in->ctx, -errno, "cannot replace '%s': %m", linkpath);
		unlink(tmp);
		return r;
	}
	in->changed = true;
	return installer_sync_dir_of(in, linkpath);
}

/* The receipt an archive or redist step leaves; newly allocated JSON text. */
static char *receipt_text(const json_t *c, const char *dest)
{
	json_t *hashes = json_array(), *o;
	const json_t *art;
	char *text;
	size_t i;

	if (!hashes)
		return NULL;
	json_array_foreach(json_object_get(c, "artifacts"), i, art)
		json_array_append_new(hashes, json_string(str_of(art, "sha256")));
	o = json_pack("{s:s?, s:s?, s:s?, s:s, s:o}", "name", str_of(c, "name"), "kind",
		      str_of(c, "kind"), "version", str_of(c, "version"), "dest", dest, "artifacts",
		      hashes);
	text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (text) {
		char *t = strdup_printf("%s\n", text);

		free(text);
		text = t;
	}
	return text;
}

static bool receipt_holds(const char *path, const char *text, const char *dest)
{
	_cleanup_free_ char *old = NULL;
	struct stat st;

	return stat(dest, &st) == 0 && S_ISDIR(st.st_mode) &&
	       read_file_capped(path, strlen(text), &old, NULL) == 0 && streq(old, text);
}

void installer_tree_dest_done(struct tree_dest *t)
{
	free(t->host);
	free(t->receipt);
	free(t->receipt_path);
}

int installer_tree_dest_init(struct installer *in, const json_t *c, const char *dest,
			     struct tree_dest *t)
{
	_cleanup_free_ char *img = strdup_printf(INSTALLED_DIR "/%s.json", str_of(c, "name"));

	t->host = installer_root_path(in, dest);
	t->receipt = receipt_text(c, dest);
	t->receipt_path = img ? installer_root_path(in, img) : NULL;
	if (!t->host || !t->receipt || !t->receipt_path)
		return -ENOMEM;
	t->in_place = receipt_holds(t->receipt_path, t->receipt, t->host);
	return 0;
}

/* An absolute path without empty, "." or ".." components and without a trailing '/'. */
bool installer_is_clean_absolute(const char *p)
{
	if (!p || p[0] != '/')
		return false;
	while (*p == '/') {
		size_t n = strcspn(++p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
	}
	return true;
}
