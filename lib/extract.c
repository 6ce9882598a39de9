/* SPDX-License-Identifier: MIT */
/* renameat2() and RENAME_NOREPLACE; the Makefile defines it too, tools that parse alone may not. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>

#include "dsvm/extract.h"
#include "internal.h"

/* Links followed while resolving a symlink target, as the kernel's MAXSYMLINKS. */
#define MAX_LINK_HOPS 40
#define READ_BLOCK 65536

struct dsvm_extract {
	struct dsvm_ctx *ctx;
	char *staging; /* absolute */
	int dirfd;
	uint64_t max_bytes;
	uint64_t max_entries;
	uint64_t bytes;
	uint64_t entries;
	char **links; /* every symlink written, checked again once an archive is complete */
	size_t n_links;
	bool failed;
	bool committed;
};

int dsvm_extract_new(struct dsvm_ctx *ctx, const char *staging_dir,
		     const struct dsvm_extract_options *opts, struct dsvm_extract **ret)
{
	struct dsvm_extract *ex;

	if (mkdir(staging_dir, 0755) < 0)
		return dsvm_set_error(ctx, -errno, "cannot create staging directory '%s': %m",
				      staging_dir);
	ex = calloc(1, sizeof(*ex));
	if (!ex) {
		rmdir(staging_dir);
		return -ENOMEM;
	}
	ex->ctx = ctx;
	ex->dirfd = -1;
	ex->max_bytes = opts && opts->max_bytes ? opts->max_bytes : DSVM_EXTRACT_DEFAULT_MAX_BYTES;
	ex->max_entries =
		opts && opts->max_entries ? opts->max_entries : DSVM_EXTRACT_DEFAULT_MAX_ENTRIES;
	ex->staging = realpath(staging_dir, NULL);
	if (ex->staging)
		ex->dirfd = open(ex->staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (!ex->staging || ex->dirfd < 0) {
		int r = -errno;

		rmdir(staging_dir);
		free(ex->staging);
		free(ex);
		return dsvm_set_error(ctx, r, "cannot open staging directory '%s': %s", staging_dir,
				      strerror(-r));
	}
	*ret = ex;
	return 0;
}

void dsvm_extract_free(struct dsvm_extract *ex)
{
	if (!ex)
		return;
	if (ex->dirfd >= 0)
		close(ex->dirfd);
	if (!ex->committed && !ex->failed)
		remove_tree(ex->staging);
	for (size_t i = 0; i < ex->n_links; i++)
		free(ex->links[i]);
	free(ex->links);
	free(ex->staging);
	free(ex);
}

uint64_t dsvm_extract_get_bytes(const struct dsvm_extract *ex)
{
	return ex->bytes;
}

uint64_t dsvm_extract_get_entries(const struct dsvm_extract *ex)
{
	return ex->entries;
}

/*
 * Normalise an entry name into out: "./a//b/" becomes "a/b". Refuses absolute names and any ".."
 * component; "" is the archive's own top directory.
 */
/* Directory levels an entry name may have. */
#define EXTRACT_MAX_DEPTH 128

static const char *clean_name(const char *name, char *out, size_t size)
{
	size_t o = 0, depth = 0;

	if (!name)
		return "has no name";
	if (name[0] == '/')
		return "is an absolute path";
	for (const char *p = name; *p;) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return "has a '..' component";
		if (len > 0 && !(len == 1 && p[0] == '.')) {
			if (o + len + 2 > size)
				return "is too long";
			/*
			 * Real payloads nest a dozen levels; a very deep tree is a way to exhaust file
			 * descriptors when the staging tree is removed, leaving it behind.
			 */
			if (++depth > EXTRACT_MAX_DEPTH)
				return "nests too deep";
			if (o > 0)
				out[o++] = '/';
			memcpy(out + o, p, len);
			o += len;
		}
		p += len;
		while (*p == '/')
			p++;
	}
	out[o] = '\0';
	return NULL;
}

/* Drop the last component of a relative path in place ("a/b" -> "a", "a" -> ""). */
static void drop_last(char *path)
{
	char *slash = strrchr(path, '/');

	if (slash)
		*slash = '\0';
	else
		path[0] = '\0';
}

/*
 * Does a symlink in directory dir (relative to the staging root) with this target stay inside
 * the tree? Resolves through the links already in the tree, because a chain of links that each
 * look harmless lexically can climb out ("a/up -> .." then "a/x -> up/../..").
 */
static bool link_stays_inside(int rootfd, const char *dir, const char *target)
{
	char cur[PATH_MAX], rest[2 * PATH_MAX], link[PATH_MAX];
	unsigned hops = 0;
	const char *p;

	if (!target[0] || target[0] == '/')
		return false;
	snprintf(cur, sizeof(cur), "%s", dir);
	snprintf(rest, sizeof(rest), "%s", target);
	p = rest;
	while (*p) {
		size_t len = strcspn(p, "/"), cl = strlen(cur);
		struct stat st;
		ssize_t n;

		if (len == 0 || (len == 1 && p[0] == '.')) {
			p += len + (p[len] == '/');
			continue;
		}
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (!cur[0])
				return false;
			drop_last(cur);
			p += len + (p[len] == '/');
			continue;
		}
		if (cl + len + 2 > sizeof(cur))
			return false;
		if (cl)
			cur[cl++] = '/';
		memcpy(cur + cl, p, len);
		cur[cl + len] = '\0';
		p += len + (p[len] == '/');
		if (fstatat(rootfd, cur, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode))
			continue;
		if (++hops > MAX_LINK_HOPS)
			return false;
		n = readlinkat(rootfd, cur, link, sizeof(link) - 1);
		if (n <= 0 || link[0] == '/')
			return false;
		link[n] = '\0';
		drop_last(cur);
		/* Walk the link's target, then what was left after the link. */
		{
			char next[2 * PATH_MAX];

			if ((size_t)snprintf(next, sizeof(next), "%s/%s", link, p) >= sizeof(next))
				return false;
			snprintf(rest, sizeof(rest), "%s", next);
			p = rest;
		}
	}
	return true;
}

/* Every existing parent of name inside the tree must be a real directory, never a link. */
static const char *check_parents(int rootfd, const char *name)
{
	char prefix[PATH_MAX];
	struct stat st;

	for (const char *s = strchr(name, '/'); s; s = strchr(s + 1, '/')) {
		snprintf(prefix, sizeof(prefix), "%.*s", (int)(s - name), name);
		if (fstatat(rootfd, prefix, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return NULL; /* the rest does not exist yet: libarchive creates directories */
		if (S_ISLNK(st.st_mode))
			return "would be written through a symbolic link in its path";
		if (!S_ISDIR(st.st_mode))
			return "has a parent that is not a directory";
	}
	return NULL;
}

static int refuse(struct dsvm_extract *ex, int r, const char *archive, const char *entry,
		  const char *why)
{
	size_t len = entry ? strlen(entry) : 0;

	/* A hostile name can be kilobytes long: keep the reason readable. */
	return dsvm_set_error(ex->ctx, r,
			      "archive '%s': entry '%.160s%s' %s; refused, and the staging tree "
			      "'%s' "
			      "was removed",
			      archive, entry ? entry : "?", len > 160 ? "..." : "", why,
			      ex->staging);
}

static int remember_link(struct dsvm_extract *ex, const char *name)
{
	char **p = realloc(ex->links, (ex->n_links + 1) * sizeof(char *));

	if (!p)
		return -ENOMEM;
	ex->links = p;
	ex->links[ex->n_links] = strdup(name);
	if (!ex->links[ex->n_links])
		return -ENOMEM;
	ex->n_links++;
	return 0;
}

/* Check one entry before anything is written, and rewrite its names to the cleaned ones. */
static int check_entry(struct dsvm_extract *ex, const char *archive, struct archive_entry *e,
		       char *name, size_t size, bool *ret_skip)
{
	const char *raw = archive_entry_pathname(e);
	const char *hardlink = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	mode_t mode = archive_entry_mode(e);
	const char *why;
	struct stat st;

	*ret_skip = false;
	if (++ex->entries > ex->max_entries)
		return refuse(ex, -E2BIG, archive, raw, "is past the entry budget");
	why = clean_name(raw, name, size);
	if (why)
		return refuse(ex, -EBADMSG, archive, raw, why);
	if (!name[0]) {
		/* "./" itself: the staging directory already stands for it. */
		if (type == AE_IFDIR && !hardlink) {
			*ret_skip = true;
			return 0;
		}
		return refuse(ex, -EBADMSG, archive, raw, "has an empty name");
	}
	why = check_parents(ex->dirfd, name);
	if (why)
		return refuse(ex, -EBADMSG, archive, raw, why);
	if (fstatat(ex->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		return refuse(ex, -EBADMSG, archive, raw, "would replace a symbolic link");
	if (type != AE_IFLNK && (mode & (S_ISUID | S_ISGID)))
		return refuse(ex, -EBADMSG, archive, raw, "has the setuid or setgid bit");
	if (hardlink) {
		char target[PATH_MAX];

		/* libarchive does not validate hard link targets (FIELD-NOTES.md). */
		why = clean_name(hardlink, target, sizeof(target));
		if (!why && !target[0])
			why = "is a hard link to the top directory";
		if (!why)
			why = check_parents(ex->dirfd, target);
		if (!why && (fstatat(ex->dirfd, target, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			     !S_ISREG(st.st_mode)))
			why = "is a hard link to something that is not a file already extracted";
		if (why)
			return refuse(ex, -EBADMSG, archive, raw, why);
		archive_entry_set_hardlink(e, target);
		archive_entry_set_pathname(e, name);
		return 0;
	}
	switch (type) {
	case AE_IFREG:
		if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0 &&
		    (uint64_t)archive_entry_size(e) > ex->max_bytes - ex->bytes)
			return refuse(ex, -EFBIG, archive, raw, "is past the byte budget");
		break;
	case AE_IFDIR:
		/* The tree must stay removable whatever modes the archive asks for. */
		archive_entry_set_perm(e, (archive_entry_perm(e) | 0700) & 0777);
		break;
	case AE_IFLNK: {
		_cleanup_free_ char *dir = strdup(name);
		const char *target = archive_entry_symlink(e);

		if (!dir)
			return -ENOMEM;
		drop_last(dir);
		if (!target || !link_stays_inside(ex->dirfd, dir, target))
			return refuse(ex, -EBADMSG, archive, raw,
				      "is a symbolic link that leaves the target directory");
		break;
	}
	case AE_IFCHR:
	case AE_IFBLK:
		return refuse(ex, -EBADMSG, archive, raw, "is a device node");
	case AE_IFIFO:
		return refuse(ex, -EBADMSG, archive, raw, "is a FIFO");
	case AE_IFSOCK:
		return refuse(ex, -EBADMSG, archive, raw, "is a socket");
	default:
		return refuse(ex, -EBADMSG, archive, raw, "has an unknown file type");
	}
	archive_entry_set_pathname(e, name);
	return 0;
}

static int copy_data(struct dsvm_extract *ex, const char *archive, const char *name,
		     struct archive *in, struct archive *out)
{
	uint64_t written = 0;

	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t offset;
		int a = archive_read_data_block(in, &buf, &size, &offset);

		if (a == ARCHIVE_EOF)
			return 0;
		if (a < ARCHIVE_WARN)
			return refuse(ex, -EBADMSG, archive, name, archive_error_string(in));
		/* Count the end offset, so sparse holes count too: that is what a reader sees. */
		if (offset < 0 || (uint64_t)offset + size > written) {
			uint64_t end = (uint64_t)(offset < 0 ? 0 : offset) + size;

			if (end - written > ex->max_bytes - ex->bytes)
				return refuse(ex, -EFBIG, archive, name, "is past the byte budget");
			ex->bytes += end - written;
			written = end;
		}
		/*
		 * libarchive reports a failed write(2) (ENOSPC, EIO) as ARCHIVE_WARN: anything but OK
		 * would leave a file of the right size full of zeros.
		 */
		if (archive_write_data_block(out, buf, size, offset) != ARCHIVE_OK) {
			int e = archive_errno(out) > 0 ? archive_errno(out) : EIO;

			return dsvm_set_error(ex->ctx, -e,
					      "cannot write '%s/%.160s' (from archive '%s'): %s; "
					      "the "
					      "staging tree was removed",
					      ex->staging, name, archive, strerror(e));
		}
	}
}

/* Run with the working directory inside the staging tree (see extract.h). */
static int extract_entries(struct dsvm_extract *ex, const char *archive, struct archive *in)
{
	struct archive *out = archive_write_disk_new();
	struct archive_entry *e;
	char name[PATH_MAX];
	int r = 0;

	if (!out)
		return -ENOMEM;
	archive_write_disk_set_options(out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
						    ARCHIVE_EXTRACT_SECURE_SYMLINKS |
						    ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
	for (;;) {
		bool skip;
		int a = archive_read_next_header(in, &e);

		if (a == ARCHIVE_EOF)
			break;
		if (a < ARCHIVE_WARN) {
			r = dsvm_set_error(ex->ctx, -EBADMSG,
					   "archive '%s': %s; the staging tree '%s' was removed",
					   archive, archive_error_string(in), ex->staging);
			break;
		}
		r = check_entry(ex, archive, e, name, sizeof(name), &skip);
		if (r < 0 || skip) {
			if (r < 0)
				break;
			continue;
		}
		if (archive_write_header(out, e) < ARCHIVE_WARN) {
			r = refuse(ex, -EBADMSG, archive, name, archive_error_string(out));
			break;
		}
		if (archive_entry_filetype(e) == AE_IFLNK && !archive_entry_hardlink(e) &&
		    (r = remember_link(ex, name)) < 0)
			break;
		if (archive_entry_size(e) > 0 || !archive_entry_size_is_set(e)) {
			r = copy_data(ex, archive, name, in, out);
			if (r < 0)
				break;
		}
		if (archive_write_finish_entry(out) < ARCHIVE_WARN) {
			r = refuse(ex, -EIO, archive, name, archive_error_string(out));
			break;
		}
	}
	if (archive_write_close(out) < ARCHIVE_WARN && r == 0)
		r = refuse(ex, -EIO, archive, "(closing)", archive_error_string(out));
	archive_write_free(out);
	/* Links written earlier may now resolve through links written later: check them all. */
	for (size_t i = 0; r == 0 && i < ex->n_links; i++) {
		char target[PATH_MAX];
		_cleanup_free_ char *dir = strdup(ex->links[i]);
		ssize_t n = readlinkat(ex->dirfd, ex->links[i], target, sizeof(target) - 1);

		if (!dir)
			return -ENOMEM;
		if (n < 0)
			continue; /* replaced by a later entry, which was checked itself */
		target[n] = '\0';
		drop_last(dir);
		if (!link_stays_inside(ex->dirfd, dir, target))
			r = refuse(ex, -EBADMSG, archive, ex->links[i],
				   "is a symbolic link that, through links extracted later, leaves "
				   "the target directory");
	}
	return r;
}

static struct archive *reader_new(void)
{
	struct archive *in = archive_read_new();

	if (!in)
		return NULL;
	/*
	 * Only the formats and filters payloads use: every extra parser is attack surface, and
	 * support_filter_all would also run external programs (lrzip, lzop, grzip).
	 */
	archive_read_support_filter_gzip(in);
	archive_read_support_filter_xz(in);
	archive_read_support_filter_zstd(in);
	archive_read_support_filter_bzip2(in);
	archive_read_support_filter_lzma(in);
	archive_read_support_format_tar(in);
	archive_read_support_format_gnutar(in);
	archive_read_support_format_zip(in);
	archive_read_support_format_cpio(in);
	return in;
}

static int check_usable(struct dsvm_extract *ex)
{
	if (ex->failed || ex->committed)
		return dsvm_set_error(ex->ctx, -ESTALE, "staging tree '%s' is no longer usable",
				      ex->staging);
	return 0;
}

/* Extract from an opened reader (opened: archive_read_open*'s result) and free it. */
static int extract_from(struct dsvm_extract *ex, const char *archive, struct archive *in,
			int opened)
{
	_cleanup_close_ int cwd = -1;
	int r;

	if (opened != ARCHIVE_OK) {
		r = dsvm_set_error(ex->ctx, -EBADMSG, "cannot read archive '%s': %s", archive,
				   archive_error_string(in));
	} else {
		cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cwd < 0 || fchdir(ex->dirfd) < 0) {
			r = dsvm_set_error(ex->ctx, -errno, "cannot enter staging tree '%s': %m",
					   ex->staging);
		} else {
			r = extract_entries(ex, archive, in);
			if (fchdir(cwd) < 0 && r == 0)
				r = dsvm_set_error(ex->ctx, -errno,
						   "cannot return to the working directory: %m");
		}
	}
	archive_read_free(in);
	if (r < 0) {
		dsvm_debug(ex->ctx, "removing staging tree '%s'", ex->staging);
		remove_tree(ex->staging);
		ex->failed = true;
	}
	return r;
}

int dsvm_extract_file(struct dsvm_extract *ex, const char *path)
{
	struct archive *in;
	int r = check_usable(ex);

	if (r < 0)
		return r;
	in = reader_new();
	if (!in)
		return -ENOMEM;
	return extract_from(ex, path, in, archive_read_open_filename(in, path, READ_BLOCK));
}

struct stream {
	dsvm_extract_read_fn fn;
	void *userdata;
	unsigned char buf[READ_BLOCK];
};

static la_ssize_t stream_read(struct archive *a, void *userdata, const void **ret_buf)
{
	struct stream *s = userdata;
	ssize_t n = s->fn(s->userdata, s->buf, sizeof(s->buf));

	if (n < 0) {
		archive_set_error(a, (int)-n, "reading the stream failed: %s", strerror((int)-n));
		return -1;
	}
	*ret_buf = s->buf;
	return n;
}

int dsvm_extract_stream(struct dsvm_extract *ex, const char *name, dsvm_extract_read_fn read_fn,
			void *userdata)
{
	_cleanup_free_ struct stream *s = NULL;
	struct archive *in;
	int r = check_usable(ex);

	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	in = reader_new();
	if (!s || !in) {
		archive_read_free(in);
		return -ENOMEM;
	}
	s->fn = read_fn;
	s->userdata = userdata;
	return extract_from(ex, name, in, archive_read_open(in, s, NULL, stream_read, NULL));
}

int dsvm_extract_commit(struct dsvm_extract *ex, const char *dest)
{
	_cleanup_free_ char *parent = NULL;
	_cleanup_close_ int pfd = -1;
	int r = check_usable(ex);

	if (r < 0)
		return r;
	if (fsync(ex->dirfd) < 0)
		return dsvm_set_error(ex->ctx, -errno, "cannot sync '%s': %m", ex->staging);
	if (renameat2(AT_FDCWD, ex->staging, AT_FDCWD, dest, RENAME_NOREPLACE) < 0)
		return dsvm_set_error(ex->ctx, -errno, "cannot move '%s' to '%s': %m", ex->staging,
				      dest);
	ex->committed = true;
	parent = path_dirname(dest);
	if (!parent)
		return -ENOMEM;
	pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0 || fsync(pfd) < 0)
		return dsvm_set_error(ex->ctx, -errno, "cannot sync '%s': %m", parent);
	return 0;
}
