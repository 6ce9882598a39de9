/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "dsvm/journal.h"
#include "internal.h"

#define JOURNAL_MAGIC "dsvm-journal 1 "
/* A plan has at most this many steps; a journal is at most this big. */
#define MAX_STEPS 100000u
#define MAX_JOURNAL_BYTES (16u << 20)
#define MAX_LABEL 200

struct dsvm_journal {
	struct dsvm_ctx *ctx;
	char *dir;
	char *path;
	int fd;
	int lock_fd;
	bool resumed;
	unsigned interrupted;
	bool *done; /* done[k] for k in 1..MAX_STEPS, grown on demand */
	size_t n_done;
	unsigned crash_at;
	bool crash_mid;
};

static bool is_word(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
			return false;
	return true;
}

static int mark_done(struct dsvm_journal *j, unsigned k)
{
	if (k >= j->n_done) {
		size_t n = (size_t)k + 64;
		bool *p = realloc(j->done, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		memset(p + j->n_done, 0, (n - j->n_done) * sizeof(*p));
		j->done = p;
		j->n_done = n;
	}
	j->done[k] = true;
	return 0;
}

/* Parse the records after the header; a last line without its newline was never written. */
static int replay(struct dsvm_journal *j, char *text)
{
	unsigned begun = 0;
	char *line = text, *nl;

	while ((nl = strchr(line, '\n'))) {
		char word[8], label[MAX_LABEL + 1];
		unsigned k;
		int used = 0;

		*nl = '\0';
		if (sscanf(line, "%7s %u %200s%n", word, &k, label, &used) != 3 ||
		    line[used] != '\0' || k == 0 || k > MAX_STEPS)
			return dsvm_set_error(j->ctx, -EBADMSG, "'%s': damaged record '%s'",
					      j->path, line);
		if (streq(word, "begin")) {
			begun = k;
		} else if (streq(word, "done")) {
			int r = mark_done(j, k);

			if (r < 0)
				return r;
			if (begun == k)
				begun = 0;
		} else {
			return dsvm_set_error(j->ctx, -EBADMSG, "'%s': damaged record '%s'",
					      j->path, line);
		}
		line = nl + 1;
	}
	j->interrupted = begun;
	return 0;
}

static int fsync_dir(struct dsvm_journal *j)
{
	_cleanup_close_ int dfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0 || fsync(dfd) < 0)
		return dsvm_set_error(j->ctx, -errno, "cannot sync '%s': %m", j->dir);
	return 0;
}

/* Start a new journal for plan_id, replacing whatever the file held. */
static int start_fresh(struct dsvm_journal *j, const char *plan_id)
{
	_cleanup_free_ char *header = strdup_printf(JOURNAL_MAGIC "%s\n", plan_id);
	int r;

	if (!header)
		return -ENOMEM;
	if (j->fd >= 0)
		close(j->fd);
	j->fd = open(j->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
		     0644);
	if (j->fd < 0)
		return dsvm_set_error(j->ctx, -errno, "cannot create '%s': %m", j->path);
	r = write_all(j->fd, header, strlen(header));
	if (r == 0 && fdatasync(j->fd) < 0)
		r = -errno;
	if (r < 0)
		return dsvm_set_error(j->ctx, r, "cannot write '%s': %s", j->path, strerror(-r));
	return fsync_dir(j);
}

static void parse_crash_env(struct dsvm_journal *j)
{
	const char *s = getenv("DSVM_CRASH_AT");
	char *end;
	unsigned long k;

	if (!s || !*s)
		return;
	k = strtoul(s, &end, 10);
	if (end == s || k == 0 || k > MAX_STEPS)
		return;
	if (*end == '\0')
		j->crash_at = (unsigned)k;
	else if (streq(end, ":mid")) {
		j->crash_at = (unsigned)k;
		j->crash_mid = true;
	}
}

static int lock_journal(struct dsvm_journal *j, const char *name)
{
	_cleanup_free_ char *lock = strdup_printf("%s/%s.lock", j->dir, name);

	if (!lock)
		return -ENOMEM;
	j->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (j->lock_fd < 0)
		return dsvm_set_error(j->ctx, -errno, "cannot open '%s': %m", lock);
	if (flock(j->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return dsvm_set_error(j->ctx, -EBUSY,
					      "another run holds '%s'; wait for it to finish",
					      lock);
		return dsvm_set_error(j->ctx, -errno, "cannot lock '%s': %m", lock);
	}
	return 0;
}

static int load(struct dsvm_journal *j, const char *plan_id)
{
	_cleanup_free_ char *text = NULL;
	size_t size = 0, hlen;
	char *nl;
	int r;

	r = read_file_capped(j->path, MAX_JOURNAL_BYTES, &text, &size);
	if (r == -ENOENT)
		return start_fresh(j, plan_id);
	if (r < 0)
		return dsvm_set_error(j->ctx, r, "cannot read '%s': %s", j->path, strerror(-r));
	/*
	 * A header that is torn, foreign, or names another plan: the killed run's steps belong to
	 * another plan, and this plan's steps check for themselves what is needed.
	 */
	nl = memchr(text, '\n', size);
	hlen = strlen(JOURNAL_MAGIC);
	if (!nl || strncmp(text, JOURNAL_MAGIC, hlen) != 0 ||
	    (size_t)(nl - text - (ptrdiff_t)hlen) != strlen(plan_id) ||
	    strncmp(text + hlen, plan_id, strlen(plan_id)) != 0) {
		if (size > 0)
			dsvm_warn(j->ctx, "discarding '%s': an unfinished run of another plan",
				  j->path);
		return start_fresh(j, plan_id);
	}
	r = replay(j, nl + 1);
	if (r < 0)
		return r;
	j->resumed = true;
	j->fd = open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (j->fd < 0)
		return dsvm_set_error(j->ctx, -errno, "cannot open '%s': %m", j->path);
	return 0;
}

/*
 * <root>/var/lib/dsvm/journal/<name>.journal resolved inside the root, as the image sees it: a
 * link planted there (/var/lib/dsvm -> /elsewhere) leads to <root>/elsewhere, never out of it.
 */
static int journal_path(struct dsvm_ctx *ctx, const char *name, char **ret)
{
	char *img = strdup_printf(DSVM_JOURNAL_DIR "/%s.journal", name);
	int r;

	if (!img)
		return -ENOMEM;
	r = path_in_root(dsvm_ctx_get_root(ctx), img, ret);
	if (r < 0 && r != -ENOMEM)
		r = dsvm_set_error(ctx, r, "cannot resolve '%s' in '%s': %s", img,
				   dsvm_ctx_get_root(ctx), strerror(-r));
	free(img);
	return r;
}

int dsvm_journal_open(struct dsvm_ctx *ctx, const char *name, const char *plan_id,
		      struct dsvm_journal **ret)
{
	struct dsvm_journal *j;
	int r;

	if (!is_word(name, 64) || strchr(name, '/') || !is_word(plan_id, 256))
		return dsvm_set_error(ctx, -EINVAL, "bad journal name '%s' or plan '%s'", name,
				      plan_id);
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->ctx = ctx;
	j->fd = -1;
	j->lock_fd = -1;
	r = journal_path(ctx, name, &j->path);
	if (r < 0)
		goto fail;
	j->dir = path_dirname(j->path);
	if (!j->dir) {
		r = -ENOMEM;
		goto fail;
	}
	r = mkdir_parents(j->dir, 0755);
	if (r < 0) {
		r = dsvm_set_error(ctx, r, "cannot create '%s': %s", j->dir, strerror(-r));
		goto fail;
	}
	r = lock_journal(j, name);
	if (r < 0)
		goto fail;
	r = load(j, plan_id);
	if (r < 0)
		goto fail;
	parse_crash_env(j);
	*ret = j;
	return 0;
fail:
	dsvm_journal_free(j);
	return r;
}

void dsvm_journal_free(struct dsvm_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (j->lock_fd >= 0)
		close(j->lock_fd);
	free(j->done);
	free(j->path);
	free(j->dir);
	free(j);
}

bool dsvm_journal_is_resumed(const struct dsvm_journal *j)
{
	return j->resumed;
}

bool dsvm_journal_is_done(const struct dsvm_journal *j, unsigned k)
{
	return k < j->n_done && j->done[k];
}

unsigned dsvm_journal_get_interrupted(const struct dsvm_journal *j)
{
	return j->interrupted;
}

const char *dsvm_journal_get_dir(const struct dsvm_journal *j)
{
	return j->dir;
}

static int append(struct dsvm_journal *j, const char *word, unsigned k, const char *label)
{
	char line[MAX_LABEL + 32];
	int n, r;

	if (k == 0 || k > MAX_STEPS || !is_word(label, MAX_LABEL))
		return dsvm_set_error(j->ctx, -EINVAL, "bad journal step %u '%s'", k, label);
	n = snprintf(line, sizeof(line), "%s %u %s\n", word, k, label);
	/* One write per record: after a kill the line is wholly there or not at all. */
	r = write_all(j->fd, line, (size_t)n);
	if (r == 0 && fdatasync(j->fd) < 0)
		r = -errno;
	if (r < 0)
		return dsvm_set_error(j->ctx, r, "cannot write '%s': %s", j->path, strerror(-r));
	return 0;
}

int dsvm_journal_begin(struct dsvm_journal *j, unsigned k, const char *label)
{
	int r = append(j, "begin", k, label);

	if (r < 0)
		return r;
	if (j->crash_at == k && !j->crash_mid)
		raise(SIGKILL);
	return 0;
}

void dsvm_journal_crash_point(const struct dsvm_journal *j, unsigned k)
{
	if (j->crash_at == k && j->crash_mid)
		raise(SIGKILL);
}

int dsvm_journal_done(struct dsvm_journal *j, unsigned k, const char *label)
{
	int r = append(j, "done", k, label);

	if (r < 0)
		return r;
	return mark_done(j, k);
}

int dsvm_journal_finish(struct dsvm_journal *j)
{
	if (unlink(j->path) < 0 && errno != ENOENT)
		return dsvm_set_error(j->ctx, -errno, "cannot remove '%s': %m", j->path);
	return fsync_dir(j);
}
