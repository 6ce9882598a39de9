/* SPDX-License-Identifier: MIT */
/* renameat2() and RENAME_NOREPLACE; the Makefile defines it too, tools that parse alone may not. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <search.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>

#include "dsvm/extract.h"
#include "internal.h"
#include "xz-stream.h"

#define READ_BLOCK 65536

/*
 * What a delayed link points at until its archive ends: relative, without '..', and never
 * created by anything else, so the entry is a symbolic link from the start (every check that
 * refuses a path through a link, or replacing one, holds for it) that leads nowhere.
 */
#define DELAYED_PLACEHOLDER ".dsvm-delayed-link"

/* Names of entries whose setuid or setgid bits were stripped, kept for the report. */
#define STRIPPED_NAMES_KEPT 8

struct dir_time {
	char *name;
	struct timespec times[2]; /* atime, mtime as utimensat takes them */
};

/* A symbolic link that could be followed out of the tree, created when its archive ends. */
struct delayed_link {
	char *name;
	char *target;
	struct timespec times[2];
};

struct dsvm_extract {
	struct dsvm_ctx *ctx;
	char *staging; /* absolute */
	int dirfd;
	uint64_t max_bytes;
	uint64_t max_entries;
	uint64_t unverified_bytes; /* 0: no limit of its own */
	uint64_t archive_size;	   /* for messages about the expansion; 0 unknown */
	bool allow_setuid;
	uint64_t bytes;
	uint64_t entries;
	struct delayed_link *delayed; /* this archive's links that point out or up */
	size_t n_delayed;
	char *stripped[STRIPPED_NAMES_KEPT]; /* the first entries whose bits were stripped */
	uint64_t n_stripped;
	struct dir_time *dir_times; /* this archive's directories, their times set at its end */
	size_t n_dir_times;
	/*
	 * Paths check_parents() found to be real directories, or that this writer created as
	 * such (a tsearch tree of strings). Nothing this writer does turns a directory into
	 * anything else (see create_failed), so each answer holds for the life of the tree.
	 */
	void *dirs;
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
	if (opts) {
		ex->unverified_bytes = opts->unverified_bytes;
		ex->archive_size = opts->archive_size;
		ex->allow_setuid = opts->allow_setuid;
	}
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
	for (size_t i = 0; i < ex->n_delayed; i++) {
		free(ex->delayed[i].name);
		free(ex->delayed[i].target);
	}
	free(ex->delayed);
	for (size_t i = 0; i < STRIPPED_NAMES_KEPT; i++)
		free(ex->stripped[i]);
	for (size_t i = 0; i < ex->n_dir_times; i++)
		free(ex->dir_times[i].name);
	free(ex->dir_times);
	tdestroy(ex->dirs, free);
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

void dsvm_extract_options_for_artifact(struct dsvm_extract_options *o, uint64_t size,
				       uint64_t unpacked_size)
{
	uint64_t allowed = unpacked_size, unverified;

	if (!allowed && size)
		allowed = size > UINT64_MAX / DSVM_EXTRACT_DEFAULT_RATIO
				  ? UINT64_MAX
				  : size * DSVM_EXTRACT_DEFAULT_RATIO;
	if (allowed && allowed < DSVM_EXTRACT_RATIO_FLOOR)
		allowed = DSVM_EXTRACT_RATIO_FLOOR;
	if (allowed && (!o->max_bytes || allowed < o->max_bytes))
		o->max_bytes = allowed;
	unverified = size > UINT64_MAX / DSVM_EXTRACT_UNVERIFIED_RATIO
			     ? UINT64_MAX
			     : size * DSVM_EXTRACT_UNVERIFIED_RATIO;
	if (unverified < DSVM_EXTRACT_UNVERIFIED_FLOOR)
		unverified = DSVM_EXTRACT_UNVERIFIED_FLOOR;
	o->unverified_bytes = unverified;
	o->archive_size = size;
}

uint64_t dsvm_extract_get_stripped(const struct dsvm_extract *ex, const char **ret_first)
{
	if (ret_first)
		*ret_first = ex->stripped[0];
	return ex->n_stripped;
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

/*
 * GNU tar's test for a link it delays: one whose target is absolute or climbs with '..' could be
 * followed out of the tree, now or once later links exist.
 */
static bool link_could_leave(const char *target)
{
	if (target[0] == '/')
		return true;
	for (const char *p = target; *p;) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return true;
		p += len;
		while (*p == '/')
			p++;
	}
	return false;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(a, b);
}

static bool dir_is_known(struct dsvm_extract *ex, const char *path)
{
	return tfind(path, &ex->dirs, compare_names) != NULL;
}

/* Remember a real directory. Only a cache: out of memory, it is stat'ed again next time. */
static void dir_remember(struct dsvm_extract *ex, const char *path)
{
	char *copy = strdup(path);
	void *node = copy ? tsearch(copy, &ex->dirs, compare_names) : NULL;

	if (!node || *(char **)node != copy)
		free(copy);
}

/* Every existing parent of name inside the tree must be a real directory, never a link. */
static const char *check_parents(struct dsvm_extract *ex, const char *name)
{
	char prefix[PATH_MAX];
	struct stat st;

	for (const char *s = strchr(name, '/'); s; s = strchr(s + 1, '/')) {
		snprintf(prefix, sizeof(prefix), "%.*s", (int)(s - name), name);
		if (dir_is_known(ex, prefix))
			continue;
		if (fstatat(ex->dirfd, prefix, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return NULL; /* the rest does not exist yet: the writer creates directories */
		if (S_ISLNK(st.st_mode))
			return "would be written through a symbolic link in its path";
		if (!S_ISDIR(st.st_mode))
			return "has a parent that is not a directory";
		dir_remember(ex, prefix);
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

/*
 * Would add more file bytes than the budgets allow? The byte budget is what the caller allows
 * the archive to expand to; the unverified budget, where one is set, stops an extraction that
 * runs ahead of the archive's digest (-EAGAIN: the caller extracts again once it is verified).
 */
static int check_budget(struct dsvm_extract *ex, const char *archive, const char *entry,
			uint64_t add)
{
	char have[32], cap[32], packed[32], why[512];

	/* ex->bytes never passes the unverified budget: every addition is checked here. */
	if (ex->unverified_bytes && ex->unverified_bytes < ex->max_bytes &&
	    add > ex->unverified_bytes - ex->bytes) {
		human_size(ex->unverified_bytes, cap, sizeof(cap));
		snprintf(why, sizeof(why),
			 "would take the files past %s before the archive's digest is known "
			 "(the budget for unverified bytes)",
			 cap);
		return refuse(ex, -EAGAIN, archive, entry, why);
	}
	if (add <= ex->max_bytes - ex->bytes)
		return 0;
	if (!ex->archive_size)
		return refuse(ex, -EFBIG, archive, entry, "is past the byte budget");
	human_size(ex->bytes + add, have, sizeof(have));
	human_size(ex->max_bytes, cap, sizeof(cap));
	human_size(ex->archive_size, packed, sizeof(packed));
	snprintf(why, sizeof(why),
		 "would expand the archive's %s to at least %s (%" PRIu64 ":1), past the %s "
		 "(%" PRIu64 ":1) its component allows; if that is what the archive holds, state "
		 "'unpacked_size: %" PRIu64 "' (bytes, at least) beside its sha256 in the manifest",
		 packed, have, (ex->bytes + add) / ex->archive_size, cap,
		 ex->max_bytes / ex->archive_size, ex->bytes + add);
	return refuse(ex, -EFBIG, archive, entry, why);
}

/*
 * A verified archive may carry setuid or setgid bits (a setgid helper such as utempter): the
 * file is installed without them, and the count and first names go to the report.
 */
static int strip_setuid(struct dsvm_extract *ex, const char *archive, struct archive_entry *e,
			const char *name)
{
	archive_entry_set_perm(e, archive_entry_perm(e) & 0777);
	if (ex->n_stripped < STRIPPED_NAMES_KEPT) {
		ex->stripped[ex->n_stripped] = strdup(name);
		if (!ex->stripped[ex->n_stripped])
			return -ENOMEM;
	}
	ex->n_stripped++;
	dsvm_log(ex->ctx, DSVM_LOG_NOTICE,
		 "archive '%s': entry '%.160s': setuid/setgid bits stripped (the component does "
		 "not allow them)",
		 archive, name);
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
	why = check_parents(ex, name);
	if (why)
		return refuse(ex, -EBADMSG, archive, raw, why);
	if (type != AE_IFLNK && (mode & (S_ISUID | S_ISGID)) && !ex->allow_setuid) {
		int r = strip_setuid(ex, archive, e, name);

		if (r < 0)
			return r;
	}
	if (hardlink) {
		char target[PATH_MAX];

		/* libarchive does not validate hard link targets (FIELD-NOTES.md). */
		why = clean_name(hardlink, target, sizeof(target));
		if (!why && !target[0])
			why = "is a hard link to the top directory";
		if (!why)
			why = check_parents(ex, target);
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
		if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0)
			return check_budget(ex, archive, raw, (uint64_t)archive_entry_size(e));
		break;
	case AE_IFDIR:
		/* The tree must stay removable whatever modes the archive asks for. */
		archive_entry_set_perm(e, (archive_entry_perm(e) | 0700) & 07777);
		break;
	case AE_IFLNK:
		/*
		 * A link is content and may point anywhere (/usr/lib/..., ../../lib/...): nothing
		 * is ever written through one (check_parents, create_failed, O_NOFOLLOW), and one
		 * that could lead out is only created once its archive ended (write_symlink).
		 */
		if (!archive_entry_symlink(e) || !archive_entry_symlink(e)[0])
			return refuse(ex, -EBADMSG, archive, raw,
				      "is a symbolic link with an empty target");
		break;
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

/*
 * The writer. Every call is relative to the staging directory's descriptor (ex->dirfd), never to
 * the working directory, so extractions in several threads do not disturb each other or the
 * process. Names reaching it are cleaned and checked by check_entry(): relative, no '..', no link
 * or non-directory among their existing parents.
 */

static int write_error(struct dsvm_extract *ex, int r, const char *what, const char *archive,
		       const char *name)
{
	return dsvm_set_error(ex->ctx, r,
			      "cannot %s '%s/%.160s' (from archive '%s'): %s; the staging tree was "
			      "removed",
			      what, ex->staging, name, archive, strerror(-r));
}

/* Create the missing directories above name (an archive may list only files), 0755. */
static int make_parents(struct dsvm_extract *ex, const char *name)
{
	char prefix[PATH_MAX];

	for (const char *s = strchr(name, '/'); s; s = strchr(s + 1, '/')) {
		snprintf(prefix, sizeof(prefix), "%.*s", (int)(s - name), name);
		if (mkdirat(ex->dirfd, prefix, 0755) == 0)
			dir_remember(ex, prefix);
		else if (errno != EEXIST)
			return -errno;
	}
	return 0;
}

/*
 * Creating name failed with err. ENOENT: make its parents; EEXIST: remove the file in the way (a
 * later entry of the same name replaces an earlier one). Each once per entry, tracked in *tried.
 * Returns 1 to try again, or -errno with the error set. Never removed, and refused instead: a
 * symbolic link (an entry written in its place could have been meant to go through it) and a
 * directory (an archive that turns one into a file is damaged; keeping directories is also what
 * lets check_parents() trust a parent it checked once). Checking here, when the create found
 * something in the way, costs nothing for the entries that are new.
 */
static int create_failed(struct dsvm_extract *ex, const char *archive, const char *name, int err,
			 unsigned *tried)
{
	struct stat st;

	if (err == ENOENT && !(*tried & 1)) {
		int r = make_parents(ex, name);

		*tried |= 1;
		return r < 0 ? write_error(ex, r, "create the parents of", archive, name) : 1;
	}
	if (err == EEXIST && !(*tried & 2)) {
		*tried |= 2;
		if (fstatat(ex->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			return refuse(ex, -EBADMSG, archive, name, "would replace a symbolic link");
		if (unlinkat(ex->dirfd, name, 0) == 0 || errno == ENOENT)
			return 1;
		if (errno == EISDIR)
			return refuse(ex, -EBADMSG, archive, name, "would replace a directory");
		return write_error(ex, -errno, "replace", archive, name);
	}
	return write_error(ex, -err, "create", archive, name);
}

/* The entry's times as utimensat takes them; what the archive lacks is left alone. */
static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[0] = (struct timespec){ .tv_nsec = UTIME_OMIT };
	ts[1] = (struct timespec){ .tv_nsec = UTIME_OMIT };
	if (archive_entry_atime_is_set(e))
		ts[0] = (struct timespec){ archive_entry_atime(e), archive_entry_atime_nsec(e) };
	if (archive_entry_mtime_is_set(e))
		ts[1] = (struct timespec){ archive_entry_mtime(e), archive_entry_mtime_nsec(e) };
}

static bool has_times(const struct timespec ts[2])
{
	return ts[0].tv_nsec != UTIME_OMIT || ts[1].tv_nsec != UTIME_OMIT;
}

static int write_dir(struct dsvm_extract *ex, const char *archive, const char *name,
		     struct archive_entry *e)
{
	struct dir_time *dt;
	unsigned tried = 0;
	struct stat st;
	int r;

	/* check_entry made the mode owner-writable, so the tree stays removable. */
	while (mkdirat(ex->dirfd, name, archive_entry_perm(e)) < 0) {
		int err = errno;

		/* Listed twice, or made earlier as a parent: keep it. */
		if (err == EEXIST && fstatat(ex->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode))
			break;
		r = create_failed(ex, archive, name, err, &tried);
		if (r < 0)
			return r;
	}
	dir_remember(ex, name);
	/* A setgid directory, where the component allows it (mkdir's mode leaves the bit out). */
	if ((archive_entry_perm(e) & (S_ISUID | S_ISGID)) &&
	    fchmodat(ex->dirfd, name, archive_entry_perm(e) & 07777, 0) < 0)
		return write_error(ex, -errno, "set the mode of", archive, name);
	/* Writing entries into a directory changes its mtime: its times are set at the end. */
	dt = realloc(ex->dir_times, (ex->n_dir_times + 1) * sizeof(*dt));
	if (!dt)
		return -ENOMEM;
	ex->dir_times = dt;
	dt += ex->n_dir_times;
	entry_times(e, dt->times);
	if (!has_times(dt->times))
		return 0;
	dt->name = strdup(name);
	if (!dt->name)
		return -ENOMEM;
	ex->n_dir_times++;
	return 0;
}

/* Set the times of this archive's directories (unless apply is false) and forget them. */
static int set_dir_times(struct dsvm_extract *ex, const char *archive, bool apply)
{
	int r = 0;

	for (size_t i = 0; i < ex->n_dir_times; i++) {
		struct dir_time *dt = &ex->dir_times[i];

		if (apply && r == 0 &&
		    utimensat(ex->dirfd, dt->name, dt->times, AT_SYMLINK_NOFOLLOW) < 0)
			r = write_error(ex, -errno, "set the times of", archive, dt->name);
		free(dt->name);
	}
	ex->n_dir_times = 0;
	return r;
}

/*
 * A link whose target could lead out of the tree is delayed, as GNU tar delays it: until its
 * archive ends the entry is a placeholder link that leads nowhere, so no later entry of the
 * archive can use the real one (a path through it, a hard link to it and an entry replacing it
 * are refused as for any link), and create_delayed() makes the real link last.
 */
static int write_symlink(struct dsvm_extract *ex, const char *archive, const char *name,
			 struct archive_entry *e)
{
	const char *target = archive_entry_symlink(e);
	bool delay = link_could_leave(target);
	struct timespec ts[2];
	unsigned tried = 0;
	int r;

	while (symlinkat(delay ? DELAYED_PLACEHOLDER : target, ex->dirfd, name) < 0) {
		r = create_failed(ex, archive, name, errno, &tried);
		if (r < 0)
			return r;
	}
	entry_times(e, ts);
	if (delay) {
		struct delayed_link *d =
			realloc(ex->delayed, (ex->n_delayed + 1) * sizeof(*ex->delayed));

		if (!d)
			return -ENOMEM;
		ex->delayed = d;
		d += ex->n_delayed;
		d->name = strdup(name);
		d->target = strdup(target);
		memcpy(d->times, ts, sizeof(ts));
		if (!d->name || !d->target) {
			free(d->name);
			free(d->target);
			return -ENOMEM;
		}
		ex->n_delayed++;
		return 0;
	}
	if (has_times(ts) && utimensat(ex->dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return write_error(ex, -errno, "set the times of", archive, name);
	return 0;
}

/*
 * The archive ended: replace each placeholder by its real link (unless create is false) and
 * forget them. A placeholder is still in place: nothing replaces a link (create_failed).
 */
static int create_delayed(struct dsvm_extract *ex, const char *archive, bool create)
{
	int r = 0;

	for (size_t i = 0; i < ex->n_delayed; i++) {
		struct delayed_link *d = &ex->delayed[i];

		if (create && r == 0) {
			if (unlinkat(ex->dirfd, d->name, 0) < 0 ||
			    symlinkat(d->target, ex->dirfd, d->name) < 0)
				r = write_error(ex, -errno, "create", archive, d->name);
			else if (has_times(d->times) &&
				 utimensat(ex->dirfd, d->name, d->times, AT_SYMLINK_NOFOLLOW) < 0)
				r = write_error(ex, -errno, "set the times of", archive, d->name);
		}
		free(d->name);
		free(d->target);
	}
	ex->n_delayed = 0;
	return r;
}

/*
 * Write a block at offset. Blocks of a file that is not sparse arrive in order; past a hole the
 * file offset moves on first (the hole stays unallocated). Plain write(2), never pwrite(2): fault
 * injection by system call name (the T2 tier: strace -e inject=write) must reach extraction as
 * it reaches every other write.
 */
static int write_block(int fd, const void *buf, size_t size, uint64_t offset, uint64_t *pos)
{
	int r;

	if (offset != *pos && lseek(fd, (off_t)offset, SEEK_SET) < 0)
		return -errno;
	r = write_all(fd, buf, size);
	if (r < 0)
		return r;
	*pos = offset + size;
	return 0;
}

/* Copy the entry's data into fd, counting it against the byte budget. */
static int write_data(struct dsvm_extract *ex, const char *archive, const char *name,
		      struct archive *in, int fd, uint64_t *ret_end)
{
	uint64_t written = 0, pos = 0;

	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t offset;
		int a = archive_read_data_block(in, &buf, &size, &offset);
		int r;

		if (a == ARCHIVE_EOF)
			break;
		if (a < ARCHIVE_WARN)
			return refuse(ex, -EBADMSG, archive, name, archive_error_string(in));
		/* An empty block only marks where a sparse file ends: its size says so too. */
		if (size == 0)
			continue;
		if (offset < 0)
			offset = (la_int64_t)written;
		/* Count the end offset, so sparse holes count too: that is what a reader sees. */
		if ((uint64_t)offset + size > written) {
			uint64_t end = (uint64_t)offset + size;

			r = check_budget(ex, archive, name, end - written);
			if (r < 0)
				return r;
			ex->bytes += end - written;
			written = end;
		}
		r = write_block(fd, buf, size, (uint64_t)offset, &pos);
		if (r < 0)
			return write_error(ex, r, "write", archive, name);
	}
	*ret_end = written;
	return 0;
}

/* The data, the size of a sparse tail and the times of a regular file just created as fd. */
static int fill_file(struct dsvm_extract *ex, const char *archive, const char *name,
		     struct archive *in, struct archive_entry *e, int fd)
{
	bool has_size = archive_entry_size_is_set(e);
	int64_t size = archive_entry_size(e);
	struct timespec ts[2];
	uint64_t end = 0;
	int r;

	if (!has_size || size > 0) {
		r = write_data(ex, archive, name, in, fd, &end);
		if (r < 0)
			return r;
	}
	/* A hole at the end of a sparse file has no block: the size says where it ends. */
	if (has_size && size > 0 && (uint64_t)size > end) {
		r = check_budget(ex, archive, name, (uint64_t)size - end);
		if (r < 0)
			return r;
		ex->bytes += (uint64_t)size - end;
		if (ftruncate(fd, (off_t)size) < 0)
			return write_error(ex, -errno, "write", archive, name);
	}
	/* Only a component that allows them gets here with the bits (check_entry). */
	if ((archive_entry_perm(e) & (S_ISUID | S_ISGID)) &&
	    fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		return write_error(ex, -errno, "set the mode of", archive, name);
	entry_times(e, ts);
	if (has_times(ts) && futimens(fd, ts) < 0)
		return write_error(ex, -errno, "set the times of", archive, name);
	return 0;
}

/* close(2) of a file written: some file systems report a failed write-back only here. */
static int close_written(struct dsvm_extract *ex, const char *archive, const char *name, int fd,
			 int r)
{
	if (close(fd) < 0 && errno != EINTR && r == 0)
		r = write_error(ex, -errno, "write", archive, name);
	return r;
}

static int write_file(struct dsvm_extract *ex, const char *archive, const char *name,
		      struct archive *in, struct archive_entry *e)
{
	unsigned tried = 0;
	int fd, r;

	/* O_NOFOLLOW: a link in place of the file must never redirect the write. */
	while ((fd = openat(ex->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    archive_entry_perm(e) & 0777)) < 0) {
		r = create_failed(ex, archive, name, errno, &tried);
		if (r < 0)
			return r;
	}
	return close_written(ex, archive, name, fd, fill_file(ex, archive, name, in, e, fd));
}

/*
 * A hard link to a regular file check_entry found in the tree. Without data it carries no
 * metadata of its own; new cpio and pax formats may give it data, which replaces the file's.
 */
static int write_hardlink(struct dsvm_extract *ex, const char *archive, const char *name,
			  struct archive *in, struct archive_entry *e)
{
	const char *target = archive_entry_hardlink(e);
	unsigned tried = 0;
	int fd, r;

	while (linkat(ex->dirfd, target, ex->dirfd, name, 0) < 0) {
		r = create_failed(ex, archive, name, errno, &tried);
		if (r < 0)
			return r;
	}
	if (!archive_entry_size_is_set(e) || archive_entry_size(e) <= 0)
		return 0;
	fd = openat(ex->dirfd, name, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return write_error(ex, -errno, "write", archive, name);
	return close_written(ex, archive, name, fd, fill_file(ex, archive, name, in, e, fd));
}

static int write_entry(struct dsvm_extract *ex, const char *archive, const char *name,
		       struct archive *in, struct archive_entry *e)
{
	if (archive_entry_hardlink(e))
		return write_hardlink(ex, archive, name, in, e);
	switch (archive_entry_filetype(e)) {
	case AE_IFDIR:
		return write_dir(ex, archive, name, e);
	case AE_IFLNK:
		return write_symlink(ex, archive, name, e);
	case AE_IFREG:
		return write_file(ex, archive, name, in, e);
	default:
		/* check_entry refused every other type. */
		return refuse(ex, -EBADMSG, archive, name, "has an unknown file type");
	}
}

static int extract_entries(struct dsvm_extract *ex, const char *archive, struct archive *in)
{
	struct archive_entry *e;
	char name[PATH_MAX];
	int r = 0;

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
		if (r < 0)
			break;
		if (skip)
			continue;
		r = write_entry(ex, archive, name, in, e);
		if (r < 0)
			break;
	}
	/* Links first: creating them changes their directories' times. */
	r = create_delayed(ex, archive, r == 0) ?: r;
	r = set_dir_times(ex, archive, r == 0) ?: r;
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
	int r;

	if (opened != ARCHIVE_OK)
		r = dsvm_set_error(ex->ctx, -EBADMSG, "cannot read archive '%s': %s", archive,
				   archive_error_string(in));
	else
		r = extract_entries(ex, archive, in);
	archive_read_free(in);
	if (r < 0) {
		dsvm_debug(ex->ctx, "removing staging tree '%s'", ex->staging);
		remove_tree(ex->staging);
		ex->failed = true;
	}
	return r;
}

struct stream {
	struct xz_reader *xz; /* the caller's reader, .xz decoded in parallel (xz-stream.h) */
	unsigned char buf[READ_BLOCK];
};

static la_ssize_t stream_read(struct archive *a, void *userdata, const void **ret_buf)
{
	struct stream *s = userdata;
	ssize_t n = xz_reader_read(s->xz, s->buf, sizeof(s->buf));

	if (n < 0) {
		archive_set_error(a, (int)-n, "reading the stream failed: %s",
				  xz_reader_error(s->xz, (int)n));
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
	if (s)
		s->xz = xz_reader_new(read_fn, userdata);
	if (!s || !s->xz || !in) {
		archive_read_free(in);
		if (s)
			xz_reader_free(s->xz);
		return -ENOMEM;
	}
	r = extract_from(ex, name, in, archive_read_open(in, s, NULL, stream_read, NULL));
	xz_reader_free(s->xz);
	return r;
}

static ssize_t fd_read(void *userdata, void *buf, size_t size)
{
	ssize_t n;

	do
		n = read(*(int *)userdata, buf, size);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

int dsvm_extract_file(struct dsvm_extract *ex, const char *path)
{
	_cleanup_close_ int fd = -1;
	unsigned char head[6];
	struct archive *in;
	int r = check_usable(ex);

	if (r < 0)
		return r;
	/*
	 * .xz, by its magic, goes through the threaded decoder; everything else is read as
	 * libarchive reads files (seeking, for a zip whose directory is at its end).
	 */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && pread(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head) &&
	    xz_is_magic(head, sizeof(head)))
		return dsvm_extract_stream(ex, path, fd_read, &fd);
	in = reader_new();
	if (!in)
		return -ENOMEM;
	return extract_from(ex, path, in, archive_read_open_filename(in, path, READ_BLOCK));
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

int dsvm_extract_keep(struct dsvm_extract *ex)
{
	int r = check_usable(ex);

	if (r < 0)
		return r;
	if (fsync(ex->dirfd) < 0)
		return dsvm_set_error(ex->ctx, -errno, "cannot sync '%s': %m", ex->staging);
	ex->committed = true;
	return 0;
}
