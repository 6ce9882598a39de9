/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "curl-dlopen.h"
#include "dsvm/fetch.h"
#include "internal.h"
#include "lock-internal.h"

/* libcurl 7.88 follows redirects without limit by default (FIELD-NOTES.md). */
#define MAX_REDIRECTS 5L
#define BACKOFF_CAP_MS 30000u
#define RETRY_AFTER_CAP_S 60L
#define STALL_BYTES_PER_S 1024L
#define COPY_BLOCK 65536
#define MIN(a, b) ((a) < (b) ? (a) : (b))

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

/* curl_global_init is not thread-safe; curl_easy_init would call it implicitly, unguarded. */
static void curl_init(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

char *dsvm_fetch_cache_path(const char *cache_dir, const char *sha256)
{
	return strdup_printf("%s/%s", cache_dir, sha256);
}

int dsvm_fetch_prepare_cache(struct dsvm_ctx *ctx, const char *cache_dir)
{
	int r;

	if (!cache_dir || !cache_dir[0])
		return dsvm_set_error(ctx, -EINVAL, "no cache directory given");
	r = mkdir_parents(cache_dir, 0755);
	if (r < 0)
		return dsvm_set_error(ctx, r, "cannot create cache directory '%s': %s", cache_dir,
				      strerror(-r));
	if (access(cache_dir, W_OK | X_OK) < 0)
		return dsvm_set_error(ctx, -errno, "cache directory '%s' is not writable: %m",
				      cache_dir);
	return 0;
}

/*
 * The transport rule: https anywhere, plain http only to the loopback host (the project's test
 * servers). Returns the scheme to allow for redirects ("https" or "http"), or NULL.
 */
static const char *url_allowed_scheme(const char *url)
{
	static const char *const loopback[] = { "127.0.0.1", "localhost", "[::1]" };
	const char *allowed = NULL;
	char *scheme = NULL, *host = NULL;
	CURLU *u = curl_url();

	if (!u)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		if (streq(scheme, "https"))
			allowed = "https";
		for (size_t i = 0; !allowed && streq(scheme, "http") && i < ARRAY_SIZE(loopback);
		     i++)
			if (strcasecmp(host, loopback[i]) == 0)
				allowed = "http";
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return allowed;
}

/* ---- the default sink: <cache>/<hex>.part, renamed to <cache>/<hex> on commit ---- */

struct cache_sink {
	char *part;
	char *final;
	const char *dir;
	int fd;
};

static int cache_open(struct cache_sink *s)
{
	/*
	 * Between our open and our lock, another fetch of the same artifact may finish, verify and
	 * rename the .part to its final name: we would then hold a lock on the verified file and
	 * truncate it. After locking, the fd must still be what the .part name points at.
	 */
	for (int attempt = 0; attempt < 3; attempt++) {
		struct stat fst, pst;
		int fd, r;

		if (s->fd >= 0)
			return 0;
		/* O_NOFOLLOW: a link planted at the .part name must not redirect the write. */
		fd = open(s->part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			r = errno == EWOULDBLOCK ? -EBUSY : -errno;
			close(fd);
			return r;
		}
		if (fstat(fd, &fst) == 0 && lstat(s->part, &pst) == 0 && fst.st_nlink > 0 &&
		    fst.st_dev == pst.st_dev && fst.st_ino == pst.st_ino) {
			s->fd = fd;
			return 0;
		}
		close(fd); /* renamed or replaced under us: open the .part name again */
	}
	return -EBUSY;
}

static int cache_restart(void *userdata, uint64_t max_keep, dsvm_fetch_feed_fn feed,
			 void *feed_userdata, uint64_t *ret_offset)
{
	struct cache_sink *s = userdata;
	unsigned char buf[COPY_BLOCK];
	uint64_t kept = 0;
	struct stat st;
	int r;

	r = cache_open(s);
	if (r < 0)
		return r;
	if (fstat(s->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > max_keep) {
		if (ftruncate(s->fd, 0) < 0)
			return -errno;
		st.st_size = 0;
	}
	if (lseek(s->fd, 0, SEEK_SET) < 0)
		return -errno;
	/* The digest must cover the kept bytes too: the hash is of the whole file, not the tail. */
	while (kept < (uint64_t)st.st_size) {
		ssize_t n = read(s->fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		r = feed(feed_userdata, buf, (size_t)n);
		if (r < 0)
			return r;
		kept += (uint64_t)n;
	}
	if (ftruncate(s->fd, (off_t)kept) < 0 || lseek(s->fd, (off_t)kept, SEEK_SET) < 0)
		return -errno;
	*ret_offset = kept;
	return 0;
}

static int cache_write(void *userdata, const void *buf, size_t size)
{
	struct cache_sink *s = userdata;

	return write_all(s->fd, buf, size);
}

static int fsync_dir(const char *dir)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0 || fsync(dfd) < 0)
		return -errno;
	return 0;
}

static int cache_commit(void *userdata)
{
	struct cache_sink *s = userdata;
	int r = 0;

	if (s->fd < 0)
		return -EBADF;
	if (fsync(s->fd) < 0)
		r = -errno;
	/* Rename while still holding the lock, so nobody reopens the .part in between. */
	if (r == 0 && rename(s->part, s->final) < 0)
		r = -errno;
	close(s->fd);
	s->fd = -1;
	if (r == 0)
		r = fsync_dir(s->dir);
	return r;
}

static void cache_abandon(void *userdata, bool keep_partial)
{
	struct cache_sink *s = userdata;

	if (s->fd < 0)
		return;
	if (!keep_partial)
		unlink(s->part);
	close(s->fd);
	s->fd = -1;
}

static const struct dsvm_fetch_sink_ops cache_sink_ops = {
	.restart = cache_restart,
	.write = cache_write,
	.commit = cache_commit,
	.abandon = cache_abandon,
};

/* ---- one artifact ---- */

enum job_phase {
	JOB_WAITING,
	JOB_RUNNING,
	JOB_FINISHED
};

struct fetcher;

/* Ordered by size, not by topic: a few hundred of these live at once. */
struct job {
	struct fetcher *f;
	const struct dsvm_fetch_item *item;
	size_t index;
	char **sources; /* mirrors' content-addressed URLs, then the item's URL */
	char **shown;	/* the same, redacted for messages (no user-info, no query) */
	size_t n_sources;
	size_t source;
	uint64_t due_ms;
	struct dsvm_fetch_sink sink;
	struct cache_sink cache;
	struct sha256 *md;
	bool unknown_digest; /* sealing: computed and reported, not compared */
	uint64_t cap;
	CURL *easy;
	long status; /* status line of the response being received */
	uint64_t range_start;
	long retry_after_s;
	uint64_t offset; /* where this attempt started */
	uint64_t have;	 /* bytes in the sink */
	uint64_t transferred;
	uint64_t tee_pos; /* bytes the tee took */
	uint64_t feed_at; /* bytes a sink's restart fed back so far */
	char *abort_msg;
	char *error;
	enum job_phase phase;
	unsigned attempt; /* attempts made on the current source */
	int abort_r;	  /* set by a callback that stopped the transfer */
	int result;
	unsigned char want[32];
	char errbuf[CURL_ERROR_SIZE];
	bool from_zero; /* the next attempt must not keep earlier bytes */
	bool sink_open;
	bool has_range;
	bool checked; /* status, range and final URL checked before the first byte */
	bool abort_transient;
	bool tee_done;	 /* its commit or abandon was called */
	bool tee_failed; /* it refused bytes or failed to commit: no other source can help */
};

struct fetcher {
	struct dsvm_ctx *ctx;
	char *cache_dir; /* absolute: messages name the file wherever they are read */
	const struct dsvm_fetch_options *o;
	CURLM *multi;
	unsigned running;
	struct dsvm_fetch_stats stats;
};

/* The URL libcurl is given. Never put it in a message: it may carry a token. */
static const char *job_url(const struct job *j)
{
	if (j->item->path)
		return j->item->path;
	return j->source < j->n_sources ? j->sources[j->source] : j->item->url;
}

/* The same source as messages and progress show it. */
static const char *job_source(const struct job *j)
{
	if (j->item->path)
		return j->item->path;
	return j->source < j->n_sources ? j->shown[j->source] : j->item->url;
}

/*
 * A URL fit for logs: "https://user:secret@host/p?sig=x" becomes "https://host/p?...". Mirrors
 * are often private blob containers reached with a SAS token in the query.
 */
static char *redact_url(const char *url)
{
	const char *auth = strstr(url, "://"), *at, *end, *query;

	auth = auth ? auth + 3 : url;
	end = auth + strcspn(auth, "/?#");
	at = memchr(auth, '@', (size_t)(end - auth));
	query = strpbrk(url, "?#");
	if (at)
		return strdup_printf("%.*s%.*s%s", (int)(auth - url), url,
				     (int)((query ? query : url + strlen(url)) - (at + 1)), at + 1,
				     query ? "?..." : "");
	return strdup_printf("%.*s%s", (int)((query ? query : url + strlen(url)) - url), url,
			     query ? "?..." : "");
}

/* MIRROR/sha256/<hex>, with the mirror's query (a SAS token, say) kept after the path. */
static char *mirror_url(const char *mirror, const char *hex)
{
	size_t base = strcspn(mirror, "?#");

	while (base > 0 && mirror[base - 1] == '/')
		base--;
	return strdup_printf("%.*s/sha256/%s%s", (int)base, mirror, hex,
			     mirror + strcspn(mirror, "?#"));
}

static const char *job_name(const struct job *j)
{
	return j->item->name ? j->item->name : j->item->sha256;
}

static void report(struct job *j, enum dsvm_fetch_state state, const char *error)
{
	const struct dsvm_fetch_options *o = j->f->o;
	struct dsvm_fetch_progress p = {
		.index = j->index,
		.name = job_name(j),
		.state = state,
		.done = j->have,
		.total = j->item->size,
		.transferred = j->transferred,
		.resumed = j->offset,
		.source = state == DSVM_FETCH_CACHED ? NULL : job_source(j),
		.error = error,
	};

	if (o->progress)
		o->progress(o->progress_userdata, &p);
}

/* ---- the tee ---- */

static int tee_write(struct job *j, const void *buf, size_t size)
{
	const struct dsvm_fetch_tee *tee = j->item->tee;
	int r;

	if (!tee || size == 0)
		return 0;
	r = tee->ops->write(tee->userdata, buf, size);
	if (r < 0) {
		j->tee_failed = true;
		return r;
	}
	j->tee_pos += size;
	return 0;
}

static int tee_commit(struct job *j)
{
	const struct dsvm_fetch_tee *tee = j->item->tee;
	int r;

	if (!tee)
		return 0;
	j->tee_done = true;
	r = tee->ops->commit(tee->userdata);
	if (r < 0)
		j->tee_failed = true;
	return r;
}

static void tee_abandon(struct job *j)
{
	const struct dsvm_fetch_tee *tee = j->item ? j->item->tee : NULL;

	if (!tee || j->tee_done)
		return;
	j->tee_done = true;
	tee->ops->abandon(tee->userdata);
}

/* Bytes a sink kept, in order from byte 0: into the digest, and to the tee past what it took. */
static int job_feed(void *userdata, const void *buf, size_t size)
{
	struct job *j = userdata;
	uint64_t at = j->feed_at;
	size_t skip;

	if (sha256_update(j->md, buf, size) < 0)
		return -EIO;
	j->feed_at += size;
	if (j->feed_at <= j->tee_pos)
		return 0;
	skip = j->tee_pos > at ? (size_t)(j->tee_pos - at) : 0;
	return tee_write(j, (const unsigned char *)buf + skip, size - skip);
}

/*
 * Start the digest over and let the sink keep at most max_keep bytes, stored in *ret_offset.
 * -ESPIPE when it kept fewer than the tee already took: the tee cannot go back.
 */
static int sink_restart(struct job *j, uint64_t max_keep, uint64_t *ret_offset)
{
	uint64_t offset = 0;
	int r;

	if (sha256_restart(j->md) < 0)
		return -EIO;
	j->feed_at = 0;
	r = j->sink.ops->restart(j->sink.userdata, max_keep, job_feed, j, &offset);
	if (r < 0)
		return r;
	*ret_offset = offset;
	return offset < j->tee_pos ? -ESPIPE : 0;
}

/* Bytes that arrived: into the sink, then to the tee. The caller updated the digest. */
static int job_write(struct job *j, const void *buf, size_t size)
{
	int r = j->sink.ops->write(j->sink.userdata, buf, size);

	return r < 0 ? r : tee_write(j, buf, size);
}

static int hex_decode32(const char *hex, unsigned char out[32])
{
	if (!is_sha256_hex(hex))
		return -EINVAL;
	for (size_t i = 0; i < 32; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (unsigned char)v;
	}
	return 0;
}

static int job_fail(struct job *j, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int job_fail(struct job *j, int r, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	free(j->error);
	j->error = msg;
	j->result = r;
	return r;
}

/*
 * Start the digest over and let the sink keep what it may. Returns 1 when the bytes kept already
 * make the whole artifact (a run stopped between the last byte and the rename), 0 to transfer.
 */
static int job_restart(struct job *j)
{
	uint64_t offset = 0;
	unsigned char got[32];
	int r;

	r = sink_restart(j, j->from_zero ? 0 : j->cap, &offset);
	if (r == -ESPIPE)
		return job_fail(j, r,
				"'%s' has to be transferred again from byte %" PRIu64 ", but "
				"%" PRIu64 " bytes already went on to be extracted; its .part "
				"is kept for a plain fetch",
				job_name(j), offset, j->tee_pos);
	if (r == -EBUSY)
		return job_fail(j, r,
				"'%s' is being downloaded by another process sharing the cache "
				"(it holds the lock on '%s'); run again when it is done",
				job_name(j), j->cache.part);
	if (r < 0)
		return job_fail(j, r, "cannot write the download of '%s' to '%s': %s", job_name(j),
				j->cache.part ? j->cache.part : "its sink", strerror(-r));
	j->sink_open = true;
	j->from_zero = false;
	j->offset = j->have = offset;
	if (offset > 0 && (j->item->size == 0 || offset == j->item->size) &&
	    sha256_peek(j->md, got) == 0 && sha256_equal(got, j->want))
		return 1;
	if (offset > 0 && j->item->size && offset >= j->item->size) {
		/* Complete but wrong: the kept bytes are bad, fetch them again. */
		j->from_zero = true;
		return job_restart(j);
	}
	return 0;
}

/* The tee's commit, once every byte was verified; its failure fails the item. */
static int job_tee_commit(struct job *j)
{
	int r = tee_commit(j);

	if (r < 0)
		return job_fail(j, r, "'%s' was verified, but extracting it failed: %s",
				job_name(j), strerror(-r));
	return 0;
}

static int job_commit(struct job *j)
{
	int r = job_tee_commit(j);

	if (r < 0) {
		/* What took the bytes failed (a refused archive): keep nothing of this item. */
		j->sink.ops->abandon(j->sink.userdata, false);
		j->sink_open = false;
		return r;
	}
	r = j->sink.ops->commit(j->sink.userdata);
	j->sink_open = false;
	if (r < 0)
		return job_fail(j, r, "cannot store the verified '%s' at '%s': %s", job_name(j),
				j->cache.final ? j->cache.final : "its sink", strerror(-r));
	return 0;
}

static void job_finish(struct job *j, int r)
{
	if (j->sink_open) {
		/*
		 * A transient failure may resume in a later run, and a tee that could not continue
		 * leaves the .part to a plain fetch; anything else leaves nothing.
		 */
		bool keep =
			!j->tee_failed && (r == -EAGAIN || r == -ETIMEDOUT || r == -ECONNREFUSED ||
					   r == -EHOSTUNREACH || r == -ESPIPE);

		j->sink.ops->abandon(j->sink.userdata, keep);
		j->sink_open = false;
	}
	tee_abandon(j);
	j->phase = JOB_FINISHED;
	if (r < 0) {
		j->f->stats.failed++;
		/* A tee that cannot go back is not the end: its caller fetches the item again. */
		report(j, r == -ESPIPE ? DSVM_FETCH_RETRY : DSVM_FETCH_FAILED, j->error);
		return;
	}
	j->result = 0;
	j->f->stats.fetched++;
	j->f->stats.bytes += j->have;
	report(j, DSVM_FETCH_DONE, NULL);
}

/* ---- curl callbacks ---- */

static size_t abort_transfer(struct job *j, int r, bool transient, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static size_t abort_transfer(struct job *j, int r, bool transient, const char *fmt, ...)
{
	va_list ap;

	free(j->abort_msg);
	va_start(ap, fmt);
	if (vasprintf(&j->abort_msg, fmt, ap) < 0)
		j->abort_msg = NULL;
	va_end(ap);
	j->abort_r = r;
	j->abort_transient = transient;
	return 0; /* any count other than the one given makes libcurl stop with CURLE_WRITE_ERROR */
}

static size_t header_cb(char *buf, size_t size, size_t n, void *userdata)
{
	struct job *j = userdata;
	size_t len = size * n;
	char line[256];
	unsigned long long a, b;

	snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) ? len : sizeof(line) - 1),
		 buf);
	/* Each response of a redirect chain starts with its status line: forget the previous. */
	if (strncmp(line, "HTTP/", 5) == 0) {
		const char *sp = strchr(line, ' ');

		j->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		j->has_range = false;
		j->retry_after_s = 0;
	} else if (strncasecmp(line, "Content-Range:", 14) == 0) {
		if (sscanf(line + 14, " bytes %llu-%llu", &a, &b) == 2) {
			j->has_range = true;
			j->range_start = a;
		}
	} else if (strncasecmp(line, "Retry-After:", 12) == 0) {
		long s = strtol(line + 12, NULL, 10);

		j->retry_after_s = s < 0 ? 0 : s > RETRY_AFTER_CAP_S ? RETRY_AFTER_CAP_S : s;
	} else if (strncasecmp(line, "Content-Length:", 15) == 0 &&
		   (j->status == 200 || j->status == 206)) {
		a = strtoull(line + 15, NULL, 10);
		if ((j->status == 206 ? j->offset : 0) + a > j->cap)
			return abort_transfer(j, -EFBIG, false,
					      "'%s' announces %llu bytes, more than the %" PRIu64
					      " the lock allows; refused",
					      job_source(j), a, j->cap);
	}
	return len;
}

static bool status_transient(long status)
{
	return status == 408 || status == 429 || status >= 500;
}

/* Decide, before the first byte is kept, whether this response may be written at all. */
static int check_response(struct job *j)
{
	const char *eff = NULL;
	int r;

	j->checked = true;
	if (j->status == 416 && j->offset > 0) {
		/* The kept bytes do not fit what the server has: they cannot be trusted, start over. */
		j->from_zero = true;
		abort_transfer(j, -EAGAIN, true, "'%s' refused to resume at byte %" PRIu64,
			       job_source(j), j->offset);
		return -EAGAIN;
	}
	if (j->status != 200 && j->status != 206) {
		if (j->status == 404 || j->status == 410)
			r = -ENOENT;
		else
			r = status_transient(j->status) ? -EAGAIN : -EREMOTEIO;
		abort_transfer(j, r, status_transient(j->status), "'%s' answered HTTP %ld%s",
			       job_source(j), j->status,
			       j->status == 404 || j->status == 410 ? " (not found)" : "");
		return r;
	}
	/* Redirects keep the scheme (REDIR_PROTOCOLS); plain http must also stay on loopback. */
	if (curl_easy_getinfo(j->easy, CURLINFO_EFFECTIVE_URL, &eff) != CURLE_OK || !eff ||
	    !url_allowed_scheme(eff)) {
		_cleanup_free_ char *shown = eff ? redact_url(eff) : NULL;

		abort_transfer(j, -EPROTO, false, "'%s' redirected to '%s', which is not allowed",
			       job_source(j), shown ? shown : "?");
		return -EPROTO;
	}
	if (j->status == 200 && j->offset > 0) {
		uint64_t offset = 0;

		/* The server ignored the range: start over from byte 0 in this same response. */
		dsvm_debug(j->f->ctx, "'%s' ignored the range request; starting over",
			   job_source(j));
		r = sink_restart(j, 0, &offset);
		if (r == -ESPIPE) {
			abort_transfer(j, r, false,
				       "'%s' ignored the range request, and %" PRIu64
				       " bytes already went on to be extracted; its .part is kept "
				       "for a plain fetch",
				       job_source(j), j->tee_pos);
			return r;
		}
		if (r < 0) {
			abort_transfer(j, r, false, "cannot restart the download of '%s': %s",
				       job_source(j), strerror(-r));
			return r;
		}
		j->offset = j->have = 0;
	} else if (j->status == 206 && (!j->has_range || j->range_start != j->offset)) {
		abort_transfer(j, -EPROTO, true,
			       "'%s' answered a range request with the wrong range", job_source(j));
		j->from_zero = true;
		return -EPROTO;
	}
	return 0;
}

static size_t write_cb(char *buf, size_t size, size_t n, void *userdata)
{
	struct job *j = userdata;
	size_t len = size * n;
	int r;

	if (!j->checked && check_response(j) < 0)
		return 0;
	if (j->have + len > j->cap)
		return abort_transfer(j, -EFBIG, false,
				      "'%s' sent more than %" PRIu64 " bytes (%s); refused",
				      job_source(j), j->cap,
				      j->item->size ? "the size in the lock" : "the 8 GiB cap");
	if (sha256_update(j->md, buf, len) < 0)
		return abort_transfer(j, -EIO, false, "SHA-256 failed");
	r = job_write(j, buf, len);
	if (r < 0)
		return abort_transfer(j, r, false, "cannot write the download of '%s': %s",
				      job_source(j), strerror(-r));
	j->have += len;
	j->transferred += len;
	j->f->stats.transferred += len;
	report(j, DSVM_FETCH_RUNNING, NULL);
	return len;
}

/* ---- attempts ---- */

static int setup_easy(struct job *j, const char *scheme)
{
	const struct dsvm_fetch_options *o = j->f->o;
	const char *url = job_url(j);
	char range[32];
	CURL *c = curl_easy_init();

	if (!c)
		return -ENOMEM;
	j->easy = c;
	snprintf(range, sizeof(range), "%" PRIu64 "-", j->offset);
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_api_set_protocols((curl_easy_setopt), c, scheme) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAXREDIRS, MAX_REDIRECTS) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)(o->connect_timeout_s ?: 30)) !=
		    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, STALL_BYTES_PER_S) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)(o->stall_timeout_s ?: 60)) !=
		    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "dsvm-fetch/1") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, j->errbuf) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERDATA, j) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, j) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PRIVATE, j) != CURLE_OK)
		return -EINVAL;
	/* Loopback test servers must never be reached through a proxy from the environment. */
	if (streq(scheme, "http") && curl_easy_setopt(c, CURLOPT_NOPROXY, "*") != CURLE_OK)
		return -EINVAL;
	if (o->ca_file && curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file) != CURLE_OK)
		return -EINVAL;
	if (j->offset > 0 && curl_easy_setopt(c, CURLOPT_RANGE, range) != CURLE_OK)
		return -EINVAL;
	return 0;
}

static void job_release_easy(struct job *j)
{
	if (!j->easy)
		return;
	curl_multi_remove_handle(j->f->multi, j->easy);
	curl_easy_cleanup(j->easy);
	j->easy = NULL;
}

static void job_start(struct job *j)
{
	const char *scheme = url_allowed_scheme(job_url(j));
	int r;

	if (!scheme) {
		job_fail(j, -EPROTO,
			 "'%s' is not an https:// URL (plain http is allowed only to 127.0.0.1, "
			 "localhost and [::1]); refused",
			 job_source(j));
		j->attempt = UINT_MAX; /* permanent for this source */
		j->due_ms = 0;
		return;
	}
	j->attempt++;
	r = job_restart(j);
	if (r < 0) {
		job_finish(j, r);
		return;
	}
	if (r == 1) {
		dsvm_debug(j->f->ctx, "'%s': the kept .part is already complete", job_name(j));
		r = job_commit(j);
		job_finish(j, r);
		return;
	}
	j->status = 0;
	j->checked = false;
	j->abort_r = 0;
	j->errbuf[0] = '\0';
	r = setup_easy(j, scheme);
	if (r == 0 && curl_multi_add_handle(j->f->multi, j->easy) != CURLM_OK)
		r = -ENOMEM;
	if (r < 0) {
		job_release_easy(j);
		job_finish(j, job_fail(j, r, "cannot set up the transfer of '%s'", job_source(j)));
		return;
	}
	j->phase = JOB_RUNNING;
	j->f->running++;
	dsvm_debug(j->f->ctx, "GET %s (attempt %u%s)", job_source(j), j->attempt,
		   j->offset ? ", resuming" : "");
	report(j, DSVM_FETCH_RUNNING, NULL);
}

/* Map a finished transfer to -errno, a sentence, and whether trying again may help. */
static int classify(struct job *j, CURLcode rc, bool *ret_transient)
{
	const char *url = job_source(j);
	const char *why = j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc);

	*ret_transient = false;
	if (j->abort_r < 0) {
		*ret_transient = j->abort_transient;
		return job_fail(j, j->abort_r, "%s", j->abort_msg ? j->abort_msg : "aborted");
	}
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		*ret_transient = true;
		return job_fail(j, -EHOSTUNREACH, "cannot resolve the host of '%s': %s", url, why);
	case CURLE_COULDNT_CONNECT:
		*ret_transient = true;
		return job_fail(j, -ECONNREFUSED, "cannot connect to '%s': %s", url, why);
	case CURLE_OPERATION_TIMEDOUT:
		*ret_transient = true;
		return job_fail(j, -ETIMEDOUT, "'%s' stalled or timed out: %s", url, why);
	case CURLE_PARTIAL_FILE:
		*ret_transient = true;
		return job_fail(j, -EAGAIN,
				"'%s' closed the connection before the whole body "
				"arrived (truncated): %s",
				url, why);
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		*ret_transient = true;
		return job_fail(j, -EAGAIN, "connection to '%s' was reset or dropped: %s", url,
				why);
	case CURLE_TOO_MANY_REDIRECTS:
		return job_fail(j, -ELOOP, "'%s' redirected more than %ld times (a redirect loop?)",
				url, MAX_REDIRECTS);
	case CURLE_UNSUPPORTED_PROTOCOL:
		return job_fail(j, -EPROTO,
				"'%s' redirected to another scheme; only %s is followed: %s", url,
				url_allowed_scheme(url) ? url_allowed_scheme(url) : "https", why);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return job_fail(j, -EKEYREJECTED, "TLS certificate of '%s' failed verification: %s",
				url, why);
	case CURLE_FILESIZE_EXCEEDED:
		return job_fail(j, -EFBIG,
				"'%s' is larger than the %" PRIu64 " bytes allowed; refused", url,
				j->cap);
	default:
		return job_fail(j, -EREMOTEIO, "cannot fetch '%s': %s", url, why);
	}
}

static uint64_t backoff_ms(const struct job *j)
{
	unsigned base = j->f->o->backoff_ms ?: 1000;
	uint64_t d = base;

	for (unsigned i = 1; i < j->attempt && d < BACKOFF_CAP_MS; i++)
		d *= 2;
	if (d > BACKOFF_CAP_MS)
		d = BACKOFF_CAP_MS;
	/* Spread parallel builds a little so they do not retry in lockstep. */
	d += (now_ms() ^ (j->index * 2654435761u)) % (d / 4 + 1);
	if ((uint64_t)j->retry_after_s * 1000 > d)
		d = (uint64_t)j->retry_after_s * 1000;
	return d;
}

/* A transfer of j ended with rc: commit, retry, move to the next source, or give up. */
static void job_done(struct job *j, CURLcode rc)
{
	unsigned attempts = j->f->o->attempts ?: 4;
	unsigned char got[32];
	bool transient = false;
	char hex[65];
	int r = 0;

	j->f->running--;
	if (rc == CURLE_OK && j->abort_r == 0 && !j->checked)
		check_response(j); /* an empty body never reached write_cb */
	if (rc != CURLE_OK || j->abort_r < 0) {
		r = classify(j, rc, &transient);
	} else if (sha256_final(j->md, got) < 0) {
		r = job_fail(j, -EIO, "SHA-256 failed");
	} else if (!j->unknown_digest && !sha256_equal(got, j->want)) {
		hex_encode(got, 32, hex);
		r = job_fail(j, -EBADMSG,
			     "hash mismatch for '%s': expected %s, got %s; the download was "
			     "deleted",
			     job_source(j), j->item->sha256, hex);
		/* The kept prefix may be what is wrong: a resumed mismatch is tried once more. */
		if (j->offset > 0) {
			transient = true;
			if (j->attempt >= attempts)
				j->attempt = attempts - 1;
		}
		j->from_zero = true;
	} else {
		if (j->unknown_digest)
			hex_encode(got, 32, j->item->ret_sha256);
		job_release_easy(j);
		job_finish(j, job_commit(j));
		return;
	}
	job_release_easy(j);
	dsvm_debug(j->f->ctx, "%s", j->error);
	/* The tee failed, or cannot go back: another attempt or source cannot help. */
	if (j->tee_failed || r == -ESPIPE) {
		job_finish(j, r);
		return;
	}
	if (transient && j->attempt < attempts) {
		j->phase = JOB_WAITING;
		j->due_ms = now_ms() + backoff_ms(j);
		report(j, DSVM_FETCH_RETRY, j->error);
		return;
	}
	if (transient && j->attempt > 1) {
		char *longer =
			strdup_printf("%s (gave up after %u attempts)", j->error, j->attempt);

		if (longer) {
			free(j->error);
			j->error = longer;
		}
	}
	if (j->source + 1 < j->n_sources) {
		dsvm_info(j->f->ctx, "%s; trying the next source", j->error);
		j->source++;
		j->attempt = 0;
		j->phase = JOB_WAITING;
		j->due_ms = 0;
		if (r == -EBADMSG || r == -EFBIG)
			j->from_zero = true;
		return;
	}
	job_finish(j, r);
}

/* ---- local files and the warm cache ---- */

/* Hash the file at path; 1 when it matches want, 0 when not, -errno when unreadable. */
static int file_matches(const char *path, const unsigned char want[32])
{
	char hex[65];
	unsigned char got[32];
	int r = sha256_file_hex(path, hex);

	if (r < 0)
		return r;
	if (hex_decode32(hex, got) < 0)
		return -EIO;
	return sha256_equal(got, want);
}

/*
 * Read fd to its end into the digest, and on to the sink and the tee (with_sink) or the tee only.
 * Returns 0 with the digest in got, or -errno with the error set (-EFBIG past the cap).
 */
static int job_read_fd(struct job *j, int fd, const char *path, bool with_sink,
		       unsigned char got[32])
{
	unsigned char buf[COPY_BLOCK];
	int r;

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return job_fail(j, -errno, "cannot read '%s': %m", path);
		if (n == 0)
			break;
		if (j->have + (uint64_t)n > j->cap)
			return job_fail(j, -EFBIG,
					"'%s' is larger than the %" PRIu64 " bytes allowed", path,
					j->cap);
		if (sha256_update(j->md, buf, (size_t)n) < 0)
			return job_fail(j, -EIO, "SHA-256 failed");
		r = with_sink ? job_write(j, buf, (size_t)n) : tee_write(j, buf, (size_t)n);
		if (r < 0)
			return job_fail(j, r, "cannot copy '%s': %s", path, strerror(-r));
		j->have += (uint64_t)n;
	}
	if (sha256_final(j->md, got) < 0)
		return job_fail(j, -EIO, "SHA-256 failed");
	return 0;
}

static int copy_local(struct job *j)
{
	const char *path = j->item->path;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char got[32];
	char hex[65];
	int r;

	if (fd < 0)
		return job_fail(j, -errno, "cannot open '%s': %m", path);
	j->from_zero = true;
	r = job_restart(j);
	if (r < 0)
		return r;
	r = job_read_fd(j, fd, path, true, got);
	if (r < 0)
		return r;
	if (!sha256_equal(got, j->want)) {
		hex_encode(got, 32, hex);
		return job_fail(j, -EBADMSG,
				"hash mismatch for '%s': expected %s, got %s; the file changed "
				"since "
				"the lock was written",
				path, j->item->sha256, hex);
	}
	return job_commit(j);
}

static int job_init(struct fetcher *f, struct job *j, const struct dsvm_fetch_item *item,
		    size_t index)
{
	const struct dsvm_fetch_options *o = f->o;
	const char *bad = NULL;
	size_t n_mirrors = 0;

	j->f = f;
	j->item = item;
	j->index = index;
	j->cache.fd = -1;
	j->cap = item->size ? item->size : DSVM_FETCH_DEFAULT_MAX_BYTES;
	if (!item->sha256 && item->ret_sha256 && item->sink && item->url)
		j->unknown_digest = true;
	else if (hex_decode32(item->sha256 ? item->sha256 : "", j->want) < 0)
		bad = "has no valid sha256";
	else if (!item->url == !item->path)
		bad = "needs exactly one of url and path";
	else if (item->sink &&
		 (!item->sink->ops || !item->sink->ops->restart || !item->sink->ops->write ||
		  !item->sink->ops->commit || !item->sink->ops->abandon))
		bad = "has an incomplete sink";
	else if (item->tee && (item->sink || !item->tee->ops || !item->tee->ops->write ||
			       !item->tee->ops->commit || !item->tee->ops->abandon))
		bad = "has an incomplete tee, or a tee beside its own sink";
	if (bad) {
		dsvm_set_error(f->ctx, -EINVAL, "artifact '%s' %s", item->name ? item->name : "?",
			       bad);
		return -EINVAL;
	}
	if (sha256_new(&j->md) < 0)
		return -ENOMEM;
	if (item->sink) {
		j->sink = *item->sink;
	} else {
		j->cache.dir = f->cache_dir;
		j->cache.final = dsvm_fetch_cache_path(f->cache_dir, item->sha256);
		j->cache.part = strdup_printf("%s/%s.part", f->cache_dir, item->sha256);
		if (!j->cache.final || !j->cache.part)
			return -ENOMEM;
		j->sink = (struct dsvm_fetch_sink){ .ops = &cache_sink_ops, .userdata = &j->cache };
	}
	if (item->path)
		return 0;
	for (const char *const *m = o->mirrors; m && *m && !j->unknown_digest; m++)
		n_mirrors++;
	j->sources = calloc(n_mirrors + 1, sizeof(char *));
	j->shown = calloc(n_mirrors + 1, sizeof(char *));
	if (!j->sources || !j->shown)
		return -ENOMEM;
	j->n_sources = n_mirrors + 1;
	for (size_t i = 0; i < n_mirrors; i++)
		j->sources[i] = mirror_url(o->mirrors[i], item->sha256);
	j->sources[n_mirrors] = strdup(item->url);
	for (size_t i = 0; i < j->n_sources; i++) {
		if (!j->sources[i])
			return -ENOMEM;
		j->shown[i] = redact_url(j->sources[i]);
		if (!j->shown[i])
			return -ENOMEM;
	}
	return 0;
}

static void job_free(struct job *j)
{
	job_release_easy(j);
	if (j->sink_open)
		j->sink.ops->abandon(j->sink.userdata, true);
	tee_abandon(j);
	for (size_t i = 0; i < j->n_sources; i++) {
		free(j->sources[i]);
		free(j->shown ? j->shown[i] : NULL);
	}
	free(j->sources);
	free(j->shown);
	free(j->cache.part);
	free(j->cache.final);
	free(j->abort_msg);
	free(j->error);
	sha256_free(j->md);
}

/*
 * A warm cache with a tee: the file is read once, hashed as the tee takes it. Returns 1 when it
 * matched and the tee committed, 0 when nothing is cached, -errno when the item failed.
 */
static int tee_cached(struct job *j)
{
	const char *path = j->cache.final;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	unsigned char got[32];
	int r;

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return job_fail(j, -errno, "cannot open the cached '%s': %m", path);
	if (sha256_restart(j->md) < 0)
		return job_fail(j, -EIO, "cannot start SHA-256");
	r = job_read_fd(j, fd, path, false, got);
	if (r < 0 && r != -EFBIG)
		return r;
	if (r == -EFBIG || !sha256_equal(got, j->want)) {
		dsvm_warn(j->f->ctx, "cached '%s' does not match its hash; deleted", path);
		unlink(path);
		return job_fail(j, -ESPIPE,
				"cached '%s' did not match its hash and was deleted, after %" PRIu64
				" bytes went on to be extracted",
				path, j->tee_pos);
	}
	r = job_tee_commit(j);
	return r < 0 ? r : 1;
}

/* A warm cache transfers nothing; a cached file that no longer matches is fetched again. */
static int job_is_cached(struct job *j)
{
	int r;

	if (j->item->sink || !j->cache.final || access(j->cache.final, F_OK) < 0)
		return 0;
	r = file_matches(j->cache.final, j->want);
	if (r == 1) {
		struct stat st;

		j->have = stat(j->cache.final, &st) == 0 ? (uint64_t)st.st_size : 0;
		return 1;
	}
	dsvm_warn(j->f->ctx, "cached '%s' does not match its hash; fetching it again",
		  j->cache.final);
	unlink(j->cache.final);
	return 0;
}

static int run_multi(struct fetcher *f, struct job *jobs, size_t n)
{
	unsigned parallel = f->o->parallel ?: 4;

	for (;;) {
		uint64_t now = now_ms(), next_due = UINT64_MAX;
		bool pending = false, finished = false;
		CURLMsg *msg;
		int still, left;
		long timeout;

		for (size_t i = 0; i < n; i++) {
			struct job *j = &jobs[i];

			if (j->phase != JOB_WAITING)
				continue;
			pending = true;
			if (j->attempt == UINT_MAX) {
				/* The URL itself was refused: move on without a transfer. */
				j->attempt = 1;
				if (j->source + 1 < j->n_sources) {
					j->source++;
					j->attempt = 0;
				} else {
					job_finish(j, j->result);
				}
				continue;
			}
			if (j->due_ms <= now && f->running < parallel)
				job_start(j);
			else if (j->due_ms < next_due)
				next_due = j->due_ms;
		}
		if (!pending && f->running == 0)
			return 0;
		if (curl_multi_perform(f->multi, &still) != CURLM_OK)
			return -EIO;
		while ((msg = curl_multi_info_read(f->multi, &left))) {
			struct job *j = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
			if (j) {
				job_done(j, msg->data.result);
				finished = true;
			}
		}
		/* A finished transfer may free a slot or move to its next source at once. */
		if (finished)
			continue;
		now = now_ms();
		timeout = 1000;
		if (next_due != UINT64_MAX)
			timeout = next_due <= now ? 0 : (long)MIN(next_due - now, 1000u);
		if (timeout > 0 &&
		    curl_multi_poll(f->multi, NULL, 0, (int)timeout, NULL) != CURLM_OK)
			return -EIO;
	}
}

int dsvm_fetch_items(struct dsvm_ctx *ctx, const struct dsvm_fetch_options *opts,
		     const struct dsvm_fetch_item *items, size_t n,
		     struct dsvm_fetch_stats *ret_stats)
{
	struct fetcher f = { .ctx = ctx, .o = opts };
	struct job *jobs = NULL;
	const char *reason = NULL;
	int r = 0;

	if (!opts || !opts->cache_dir)
		return dsvm_set_error(ctx, -EINVAL, "no cache directory given");
	if (sha256_available(&reason) < 0)
		return dsvm_set_error(ctx, -ENOPKG, "%s (install libssl3)", reason);
	pthread_once(&curl_once, curl_init);
	if (curl_init_result != CURLE_OK)
		return dsvm_set_error(ctx, -EIO, "cannot initialise libcurl");
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < i; k++)
			if (!items[i].sink && !items[k].sink && items[i].sha256 &&
			    items[k].sha256 && streq(items[i].sha256, items[k].sha256))
				return dsvm_set_error(ctx, -EINVAL,
						      "artifacts '%s' and '%s' share sha256 %s; "
						      "list it once",
						      items[k].name ? items[k].name : "?",
						      items[i].name ? items[i].name : "?",
						      items[i].sha256);
	r = dsvm_fetch_prepare_cache(ctx, opts->cache_dir);
	if (r < 0)
		return r;
	f.cache_dir = realpath(opts->cache_dir, NULL);
	if (!f.cache_dir)
		return dsvm_set_error(ctx, -errno, "cannot resolve cache directory '%s': %m",
				      opts->cache_dir);
	jobs = calloc(n ? n : 1, sizeof(*jobs));
	f.multi = curl_multi_init();
	if (!jobs || !f.multi) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		r = job_init(&f, &jobs[i], &items[i], i);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct job *j = &jobs[i];

		int c = j->item->tee ? tee_cached(j) : job_is_cached(j);

		if (c > 0) {
			j->phase = JOB_FINISHED;
			f.stats.cached++;
			f.stats.bytes += j->have;
			report(j, DSVM_FETCH_CACHED, NULL);
		} else if (c < 0) {
			job_finish(j, c);
		} else if (j->item->path) {
			report(j, DSVM_FETCH_RUNNING, NULL);
			job_finish(j, copy_local(j));
		}
	}
	r = run_multi(&f, jobs, n);
	if (r < 0) {
		dsvm_set_error(ctx, r, "the transfer loop failed");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (jobs[i].result < 0) {
			r = dsvm_set_error(ctx, jobs[i].result, "%s%s",
					   jobs[i].error ? jobs[i].error : "fetch failed",
					   f.stats.failed > 1 ? " (and other artifacts failed)"
							      : "");
			break;
		}
	if (ret_stats)
		*ret_stats = f.stats;
out:
	for (size_t i = 0; jobs && i < n; i++)
		job_free(&jobs[i]);
	free(jobs);
	free(f.cache_dir);
	if (f.multi)
		curl_multi_cleanup(f.multi);
	return r;
}

/* ---- the lock ---- */

static int lock_items(const struct dsvm_lock *lock, struct dsvm_fetch_item **ret, size_t *ret_n)
{
	const json_t *components = json_object_get(dsvm_lock_json(lock), "components");
	struct dsvm_fetch_item *items = NULL;
	size_t n = 0, alloc = 0, i, k;
	json_t *c, *a;

	json_array_foreach(components, i,
			   c){ json_array_foreach(json_object_get(c, "artifacts"), k, a){
		const char *sha = json_string_value(json_object_get(a, "sha256"));
	json_int_t size = json_integer_value(json_object_get(a, "size"));
	bool seen = false;

	for (size_t m = 0; m < n && !seen; m++)
		seen = streq(items[m].sha256, sha);
	if (seen)
		continue;
	if (n == alloc) {
		struct dsvm_fetch_item *p;

		alloc = alloc ? alloc * 2 : 16;
		p = realloc(items, alloc * sizeof(*items));
		if (!p) {
			free(items);
			return -ENOMEM;
		}
		items = p;
	}
	items[n++] = (struct dsvm_fetch_item){
		.name = json_string_value(json_object_get(a, "name")),
		.url = json_string_value(json_object_get(a, "url")),
		.path = dsvm_lock_file_path(lock, json_string_value(json_object_get(a, "path"))),
		.sha256 = sha,
		.size = size > 0 ? (uint64_t)size : 0,
	};
}
}
*ret = items;
*ret_n = n;
return 0;
}

size_t dsvm_fetch_lock_count(const struct dsvm_lock *lock)
{
	_cleanup_free_ struct dsvm_fetch_item *items = NULL;
	size_t n = 0;

	return lock_items(lock, &items, &n) < 0 ? 0 : n;
}

int dsvm_fetch_lock(struct dsvm_ctx *ctx, const struct dsvm_fetch_options *opts,
		    const struct dsvm_lock *lock, struct dsvm_fetch_stats *ret_stats)
{
	_cleanup_free_ struct dsvm_fetch_item *items = NULL;
	size_t n = 0;
	int r;

	r = lock_items(lock, &items, &n);
	if (r < 0)
		return dsvm_set_error(ctx, r, "out of memory");
	return dsvm_fetch_items(ctx, opts, items, n, ret_stats);
}
