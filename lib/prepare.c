/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>

#include <archive.h>
#include <archive_entry.h>

#include "dsvm/prepare.h"
#include "internal.h"
#include "xz-stream.h"

/*
 * Each of an item's two buffers: enough to ride out bursts on either side (make bench: 1 MiB
 * is as fast as 2 on both sets, and leaves the threaded xz decoder its third block; the
 * peak RSS target is 64 MiB).
 */
#define RING_SIZE (1u << 20)
#define READ_BLOCK 65536
#define DEFAULT_PARALLEL 4
#define NO_ITEM SIZE_MAX
#define MIN(a, b) ((a) < (b) ? (a) : (b))

/*
 * A bounded byte buffer from one writer thread (the transfer, through fetch's tee) to one reader
 * thread (the extraction). The writer waits while it is full; the reader while it is empty.
 */
struct ring {
	pthread_mutex_t lock;
	pthread_cond_t can_read;
	pthread_cond_t can_write;
	unsigned char *buf; /* RING_SIZE bytes, mapped: freed memory goes back to the system */
	size_t head;	    /* next byte to read */
	size_t len;	    /* bytes held */
	int close_r;	    /* the writer's last word: 0 end of stream, -errno abort */
	bool closed;
	bool reader_done; /* the reader wants no more: what is written is dropped */
};

static int ring_init(struct ring *rg)
{
	void *p = mmap(NULL, RING_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	rg->buf = p;
	pthread_mutex_init(&rg->lock, NULL);
	pthread_cond_init(&rg->can_read, NULL);
	pthread_cond_init(&rg->can_write, NULL);
	return 0;
}

static void ring_fini(struct ring *rg)
{
	if (!rg->buf)
		return;
	munmap(rg->buf, RING_SIZE);
	rg->buf = NULL;
	pthread_mutex_destroy(&rg->lock);
	pthread_cond_destroy(&rg->can_read);
	pthread_cond_destroy(&rg->can_write);
}

/*
 * Append size bytes, waiting for room. Once the reader is done, bytes are dropped: it reached the
 * end of the archive (what follows is padding), or it failed, and then the transfer still runs to
 * its end so that the digest tells a source serving other bytes (not the archive's fault) from a
 * damaged or hostile archive (its fault).
 */
static void ring_write(struct ring *rg, const void *data, size_t size)
{
	const unsigned char *p = data;

	pthread_mutex_lock(&rg->lock);
	while (size > 0) {
		size_t tail, n;

		if (rg->reader_done)
			break;
		if (rg->len == RING_SIZE) {
			pthread_cond_wait(&rg->can_write, &rg->lock);
			continue;
		}
		tail = (rg->head + rg->len) % RING_SIZE;
		n = MIN(size, RING_SIZE - rg->len);
		n = MIN(n, RING_SIZE - tail);
		memcpy(rg->buf + tail, p, n);
		rg->len += n;
		p += n;
		size -= n;
		pthread_cond_signal(&rg->can_read);
	}
	pthread_mutex_unlock(&rg->lock);
}

/* The writer is done: r 0 is the end of the stream, -errno an abort the reader sees at once. */
static void ring_close(struct ring *rg, int r)
{
	pthread_mutex_lock(&rg->lock);
	if (!rg->closed) {
		rg->closed = true;
		rg->close_r = r;
	}
	pthread_cond_broadcast(&rg->can_read);
	pthread_mutex_unlock(&rg->lock);
}

/* dsvm_extract_read_fn: up to size bytes, 0 at the end of the stream, -errno after an abort. */
static ssize_t ring_read(void *userdata, void *buf, size_t size)
{
	struct ring *rg = userdata;
	ssize_t n;

	pthread_mutex_lock(&rg->lock);
	while (rg->len == 0 && !rg->closed)
		pthread_cond_wait(&rg->can_read, &rg->lock);
	if (rg->closed && (rg->close_r < 0 || rg->len == 0)) {
		n = rg->close_r;
	} else {
		size_t k = MIN(size, rg->len);

		k = MIN(k, RING_SIZE - rg->head);
		memcpy(buf, rg->buf + rg->head, k);
		rg->head = (rg->head + k) % RING_SIZE;
		rg->len -= k;
		pthread_cond_signal(&rg->can_write);
		n = (ssize_t)k;
	}
	pthread_mutex_unlock(&rg->lock);
	return n;
}

static bool ring_is_reader_done(struct ring *rg)
{
	bool done;

	pthread_mutex_lock(&rg->lock);
	done = rg->reader_done;
	pthread_mutex_unlock(&rg->lock);
	return done;
}

static void ring_reader_done(struct ring *rg)
{
	pthread_mutex_lock(&rg->lock);
	rg->reader_done = true;
	pthread_cond_broadcast(&rg->can_write);
	pthread_mutex_unlock(&rg->lock);
}

/*
 * ---- one item: fetch's tee -> ring "in" -> decompression thread -> ring "plain" -> extraction
 * thread. Decompressing in its own thread overlaps it with writing the files: the two costs
 * of an archive (xz is bound by the first, zstd by the second) add up in one thread.
 */

struct stream {
	struct ring in;	   /* compressed, as verified bytes arrive */
	struct ring plain; /* decompressed: the archive itself */
	struct dsvm_extract *ex;
	const char *name;
	struct xz_reader *xz; /* "in" as the decompression reads it: .xz decoded in parallel */
	pthread_t decoder;
	pthread_t extractor;
	int decode_r;
	int extract_r;
	char decode_error[512];
	unsigned char in_buf[READ_BLOCK]; /* what libarchive's decompression reads */
	bool decoding;			  /* the decompression thread was started and not joined */
	bool extracting;		  /* the same for the extraction thread */
	bool verified;			  /* fetch committed: every byte matched the digest */
};

static la_ssize_t in_read(struct archive *a, void *userdata, const void **ret_buf)
{
	struct stream *st = userdata;
	ssize_t n = xz_reader_read(st->xz, st->in_buf, sizeof(st->in_buf));

	if (n < 0) {
		archive_set_error(a, (int)-n, "%s",
				  n == -EBADMSG ? xz_reader_error(st->xz, (int)n)
						: "the transfer stopped");
		return -1;
	}
	*ret_buf = st->in_buf;
	return n;
}

/*
 * Undo the compression, whichever (libarchive's filters, bid on the first bytes; an archive
 * stored without compression passes through), and stop once the extraction needs no more.
 */
static int decode(struct stream *st, struct archive *a)
{
	struct archive_entry *e;

	if (archive_read_open(a, st, NULL, in_read, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK)
		return -EBADMSG;
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t offset;
		int x = archive_read_data_block(a, &buf, &size, &offset);

		if (x == ARCHIVE_EOF)
			return 0;
		if (x < ARCHIVE_WARN)
			return -EBADMSG;
		ring_write(&st->plain, buf, size);
		/* The extraction ended (the archive did, or it failed): decompress no further. */
		if (ring_is_reader_done(&st->plain))
			return 0;
	}
}

static void *decode_main(void *userdata)
{
	struct stream *st = userdata;
	struct archive *a = archive_read_new();
	int r = -ENOMEM;

	st->xz = xz_reader_new(ring_read, &st->in);
	if (a && st->xz) {
		/* The filters payloads use, as extract.c's; never the external programs. */
		archive_read_support_filter_gzip(a);
		archive_read_support_filter_xz(a);
		archive_read_support_filter_zstd(a);
		archive_read_support_filter_bzip2(a);
		archive_read_support_filter_lzma(a);
		archive_read_support_format_raw(a);
		r = decode(st, a);
		if (r == -EBADMSG)
			snprintf(st->decode_error, sizeof(st->decode_error), "%s",
				 archive_error_string(a) ? archive_error_string(a) : "damaged");
	}
	archive_read_free(a);
	xz_reader_free(st->xz); /* joins the decoder's workers */
	st->xz = NULL;
	st->decode_r = r;
	ring_close(&st->plain, r < 0 ? -ECANCELED : 0);
	ring_reader_done(&st->in);
	return NULL;
}

static void *extract_main(void *userdata)
{
	struct stream *st = userdata;

	st->extract_r = dsvm_extract_stream(st->ex, st->name, ring_read, &st->plain);
	ring_reader_done(&st->plain);
	return NULL;
}

static int stream_start(struct stream *st)
{
	int r = ring_init(&st->in);

	if (r == 0)
		r = ring_init(&st->plain);
	if (r == 0) {
		r = -pthread_create(&st->extractor, NULL, extract_main, st);
		st->extracting = r == 0;
	}
	if (r == 0) {
		r = -pthread_create(&st->decoder, NULL, decode_main, st);
		st->decoding = r == 0;
	}
	return r;
}

/* Stop feeding (r 0: the end; -errno: abort), wait for both threads, free the buffers. */
static void stream_stop(struct stream *st, int r)
{
	ring_close(&st->in, r);
	if (!st->decoding)
		ring_close(&st->plain, -ECANCELED);
	if (st->decoding)
		pthread_join(st->decoder, NULL);
	if (st->extracting)
		pthread_join(st->extractor, NULL);
	st->decoding = st->extracting = false;
}

static void stream_free(struct stream *st)
{
	ring_fini(&st->in);
	ring_fini(&st->plain);
}

/*
 * Into ctx, the failure of an archive whose bytes were verified, in the words of the part that
 * failed: the decompression (its failure cancels the extraction, which then only says that), else
 * the extraction (a refused entry, a full disk; the decompression then stops without a failure
 * of its own). Else 0: the transfer's verdict stands (with other bytes than the lock's, any
 * archive can look damaged).
 */
static int stream_failure(struct stream *st, struct dsvm_ctx *ctx, struct dsvm_ctx *ectx)
{
	if (!st->verified)
		return 0;
	if (st->decode_r < 0)
		return dsvm_set_error(ctx, st->decode_r, "cannot decompress '%s': %s", st->name,
				      st->decode_error);
	if (st->extract_r < 0)
		return dsvm_set_error(ctx, st->extract_r, "%s", dsvm_ctx_get_error(ectx));
	return 0;
}

static int tee_write(void *userdata, const void *buf, size_t size)
{
	struct stream *st = userdata;

	ring_write(&st->in, buf, size);
	return 0;
}

/*
 * Every byte was verified: let the extraction finish, and say how it went. An extraction that
 * stopped at the unverified budget is no failure of the artifact: the verified file goes into
 * the cache, and stream_item() tells its caller to extract it from there.
 */
static int tee_commit(void *userdata)
{
	struct stream *st = userdata;

	st->verified = true;
	stream_stop(st, 0);
	if (st->extract_r == -EAGAIN)
		return 0;
	if (st->extract_r < 0)
		return st->extract_r;
	return st->decode_r;
}

static void tee_abandon(void *userdata)
{
	struct stream *st = userdata;

	ring_close(&st->in, -ECANCELED);
}

static const struct dsvm_fetch_tee_ops tee_ops = {
	.write = tee_write,
	.commit = tee_commit,
	.abandon = tee_abandon,
};

/* ---- the items, shared by the workers ---- */

enum how {
	HOW_CACHED,
	HOW_FETCHED,
	HOW_FALLBACK,
};

struct result {
	char *error; /* the sentence of a failure */
	uint64_t transferred, bytes, extracted, entries, stripped;
	enum how how;
	int r;
	bool done; /* under shared.lock */
};

struct shared {
	struct dsvm_ctx *ctx; /* the caller's; logged to under report_lock only */
	const struct dsvm_fetch_options *opts;
	const struct dsvm_prepare_item *items;
	const struct dsvm_extract_options *budget;
	size_t n;
	size_t *order;	  /* dispatch order: largest first, so the last to finish is small */
	size_t *first_of; /* an item dispatched earlier with the same sha256, or NO_ITEM */
	struct result *results;
	size_t next; /* into order, under lock */
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	pthread_mutex_t report_lock; /* one progress or log call at a time */
};

struct worker {
	struct shared *sh;
	struct dsvm_ctx *fctx; /* the transfer's errors, and the item's final sentence */
	struct dsvm_ctx *ectx; /* the extraction's errors */
	struct dsvm_fetch_options opts;
	size_t index; /* the item in hand, for progress */
	pthread_t thread;
	bool started;
};

static void forward_progress(void *userdata, const struct dsvm_fetch_progress *p)
{
	struct worker *w = userdata;
	struct dsvm_fetch_progress q = *p;

	q.index = w->index;
	pthread_mutex_lock(&w->sh->report_lock);
	w->sh->opts->progress(w->sh->opts->progress_userdata, &q);
	pthread_mutex_unlock(&w->sh->report_lock);
}

static void forward_log(void *userdata, int priority, const char *msg)
{
	struct shared *sh = userdata;

	pthread_mutex_lock(&sh->report_lock);
	dsvm_log(sh->ctx, priority, "%s", msg);
	pthread_mutex_unlock(&sh->report_lock);
}

static const char *item_name(const struct dsvm_prepare_item *it)
{
	if (it->fetch.name)
		return it->fetch.name;
	return it->fetch.url ? it->fetch.url : it->fetch.path;
}

/* Beside a kept tree: how many entries lost setuid or setgid bits, and the first (prepare.h). */
static int note_stripped(struct worker *w, const struct dsvm_prepare_item *it,
			 struct dsvm_extract *ex, struct result *res)
{
	const char *first = NULL;
	_cleanup_free_ char *path = NULL, *text = NULL;
	int r;

	res->stripped = dsvm_extract_get_stripped(ex, &first);
	if (!res->stripped)
		return 0;
	path = strdup_printf("%s.stripped", it->staging_dir);
	text = strdup_printf("%" PRIu64 " %s\n", res->stripped, first ? first : "?");
	if (!path || !text)
		return -ENOMEM;
	r = write_file_atomic(path, text, strlen(text), 0644);
	return r < 0 ? dsvm_set_error(w->fctx, r, "cannot write '%s': %s", path, strerror(-r)) : 0;
}

/*
 * One pass: fetch (or read the cache) with a tee into an extraction thread. The staging tree is
 * kept only when both halves succeeded; the sentence of a failure ends up in w->fctx. verified:
 * the cache already holds the artifact, verified, so the unverified budget does not apply.
 * -EAGAIN: the extraction stopped at the unverified budget and the artifact is now in the cache.
 */
static int stream_item(struct worker *w, const struct dsvm_prepare_item *it, struct result *res,
		       bool verified)
{
	struct dsvm_fetch_item fi = it->fetch;
	struct dsvm_fetch_stats fst = { 0 };
	struct stream st = { .name = item_name(it) };
	struct dsvm_fetch_tee tee = { .ops = &tee_ops, .userdata = &st };
	struct dsvm_extract_options o = { 0 };
	int r;

	if (w->sh->budget)
		o = *w->sh->budget;
	dsvm_extract_options_for_artifact(&o, it->fetch.size, it->unpacked_size);
	o.allow_setuid = it->allow_setuid;
	if (verified)
		o.unverified_bytes = 0;
	r = dsvm_extract_new(w->ectx, it->staging_dir, &o, &st.ex);
	if (r < 0)
		return dsvm_set_error(w->fctx, r, "%s", dsvm_ctx_get_error(w->ectx));
	r = stream_start(&st);
	if (r < 0) {
		stream_stop(&st, -ECANCELED);
		dsvm_set_error(w->fctx, r, "cannot start extracting '%s': %s", st.name,
			       strerror(-r));
	} else {
		fi.tee = &tee;
		r = dsvm_fetch_items(w->fctx, &w->opts, &fi, 1, &fst);
		stream_stop(&st, r < 0 ? -ECANCELED : 0);
		res->transferred += fst.transferred;
		if (r < 0)
			r = stream_failure(&st, w->fctx, w->ectx) ?: r;
		else if (st.extract_r == -EAGAIN)
			r = dsvm_set_error(w->fctx, -EAGAIN, "%s", dsvm_ctx_get_error(w->ectx));
	}
	if (r == 0) {
		r = dsvm_extract_keep(st.ex);
		if (r < 0)
			dsvm_set_error(w->fctx, r, "%s", dsvm_ctx_get_error(w->ectx));
	}
	if (r == 0)
		r = note_stripped(w, it, st.ex, res);
	if (r == 0) {
		res->how = fst.cached ? HOW_CACHED : HOW_FETCHED;
		res->bytes = fst.bytes;
		res->extracted = dsvm_extract_get_bytes(st.ex);
		res->entries = dsvm_extract_get_entries(st.ex);
	}
	dsvm_extract_free(st.ex); /* removes the tree unless it was kept */
	stream_free(&st);
	return r;
}

static void prepare_one(struct worker *w, size_t i)
{
	const struct dsvm_prepare_item *it = &w->sh->items[i];
	struct result *res = &w->sh->results[i];
	int r;

	w->index = i;
	dsvm_ctx_clear_error(w->fctx);
	dsvm_ctx_clear_error(w->ectx);
	r = stream_item(w, it, res, false);
	if (r == -EAGAIN) {
		/*
		 * The archive expands past what may be extracted before its digest is known: the
		 * transfer went on into the cache, and it is extracted again from the verified file.
		 */
		dsvm_info(w->fctx, "%s; extracting '%s' again once verified",
			  dsvm_ctx_get_error(w->fctx), item_name(it));
		r = stream_item(w, it, res, true);
		res->how = HOW_FALLBACK;
	} else if (r == -ESPIPE) {
		/* The transfer had to go back over bytes already extracted: the long way round. */
		struct dsvm_fetch_item plain = it->fetch;
		struct dsvm_fetch_stats fst = { 0 };

		dsvm_info(w->fctx, "%s; fetching '%s' first, then extracting it",
			  dsvm_ctx_get_error(w->fctx), item_name(it));
		r = dsvm_fetch_items(w->fctx, &w->opts, &plain, 1, &fst);
		res->transferred += fst.transferred;
		if (r == 0)
			r = stream_item(w, it, res, true);
		res->how = HOW_FALLBACK;
	}
	res->r = r;
	if (r < 0) {
		res->error = strdup(dsvm_ctx_get_error(w->fctx));
		if (!res->error)
			res->r = -ENOMEM;
	}
}

static void *worker_main(void *userdata)
{
	struct worker *w = userdata;
	struct shared *sh = w->sh;

	for (;;) {
		size_t i, first;

		pthread_mutex_lock(&sh->lock);
		if (sh->next == sh->n) {
			pthread_mutex_unlock(&sh->lock);
			return NULL;
		}
		i = sh->order[sh->next++];
		first = sh->first_of[i];
		/*
		 * One artifact into several trees: the first fills the cache, the others then
		 * read it. The first was dispatched earlier and waits for nobody: no deadlock.
		 */
		while (first != NO_ITEM && !sh->results[first].done)
			pthread_cond_wait(&sh->done_cond, &sh->lock);
		pthread_mutex_unlock(&sh->lock);
		prepare_one(w, i);
		pthread_mutex_lock(&sh->lock);
		sh->results[i].done = true;
		pthread_cond_broadcast(&sh->done_cond);
		pthread_mutex_unlock(&sh->lock);
	}
}

/* ---- the call ---- */

static int check_items(struct dsvm_ctx *ctx, const struct dsvm_prepare_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *name = item_name(&items[i]) ? item_name(&items[i]) : "?";

		if (!items[i].staging_dir || !items[i].staging_dir[0])
			return dsvm_set_error(ctx, -EINVAL,
					      "artifact '%s' has no staging directory", name);
		if (items[i].fetch.sink || items[i].fetch.tee)
			return dsvm_set_error(ctx, -EINVAL,
					      "artifact '%s' has its own sink or tee; prepare "
					      "brings "
					      "its own",
					      name);
		if (!items[i].fetch.sha256 || !is_sha256_hex(items[i].fetch.sha256))
			return dsvm_set_error(ctx, -EINVAL, "artifact '%s' has no valid sha256",
					      name);
	}
	return 0;
}

static int by_size_desc(const void *a, const void *b, void *userdata)
{
	const struct dsvm_prepare_item *items = userdata;
	const size_t x = *(const size_t *)a, y = *(const size_t *)b;
	uint64_t sx = items[x].fetch.size, sy = items[y].fetch.size;

	if (sx != sy)
		return sx > sy ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* Dispatch order, and for each item the first one dispatched with the same sha256. */
static void plan(struct shared *sh)
{
	for (size_t i = 0; i < sh->n; i++)
		sh->order[i] = i;
	qsort_r(sh->order, sh->n, sizeof(*sh->order), by_size_desc, (void *)sh->items);
	for (size_t p = 0; p < sh->n; p++) {
		size_t i = sh->order[p];

		sh->first_of[i] = NO_ITEM;
		for (size_t q = 0; q < p && sh->first_of[i] == NO_ITEM; q++)
			if (streq(sh->items[sh->order[q]].fetch.sha256, sh->items[i].fetch.sha256))
				sh->first_of[i] = sh->order[q];
	}
}

static int worker_init(struct worker *w, struct shared *sh)
{
	w->sh = sh;
	w->opts = *sh->opts;
	if (sh->opts->progress) {
		w->opts.progress = forward_progress;
		w->opts.progress_userdata = w;
	}
	w->fctx = dsvm_ctx_new();
	w->ectx = dsvm_ctx_new();
	if (!w->fctx || !w->ectx)
		return -ENOMEM;
	dsvm_ctx_set_log(w->fctx, forward_log, sh, DSVM_LOG_DEBUG);
	dsvm_ctx_set_log(w->ectx, forward_log, sh, DSVM_LOG_DEBUG);
	return 0;
}

static void sum_stats(const struct shared *sh, struct dsvm_prepare_stats *st)
{
	*st = (struct dsvm_prepare_stats){ 0 };
	for (size_t i = 0; i < sh->n; i++) {
		const struct result *res = &sh->results[i];

		st->transferred += res->transferred;
		if (res->r < 0) {
			st->failed++;
			continue;
		}
		st->cached += res->how == HOW_CACHED;
		st->fetched += res->how == HOW_FETCHED;
		st->fallback += res->how == HOW_FALLBACK;
		st->bytes += res->bytes;
		st->extracted += res->extracted;
		st->entries += res->entries;
		st->stripped += res->stripped;
	}
}

/* The failure of the first failed item in array order, or 0. */
static int first_failure(struct dsvm_ctx *ctx, const struct shared *sh, size_t failed)
{
	for (size_t i = 0; i < sh->n; i++) {
		const struct result *res = &sh->results[i];

		if (res->r < 0)
			return dsvm_set_error(ctx, res->r, "%s%s",
					      res->error ? res->error : "out of memory",
					      failed > 1 ? " (and other artifacts failed)" : "");
	}
	return 0;
}

/*
 * glibc raises its mmap threshold each time a large mapped block is freed (up to 32 MiB), after
 * which the decoders' large buffers (zstd windows, libarchive's read-ahead) come from per-thread
 * heaps that keep their pages after free: several MiB of peak RSS per worker. A fixed threshold
 * (mallopt(3): setting it turns the dynamic adjustment off) maps and unmaps them instead.
 */
#define FIXED_MMAP_THRESHOLD (256 * 1024)

static void fix_mmap_threshold(void)
{
	mallopt(M_MMAP_THRESHOLD, FIXED_MMAP_THRESHOLD);
}

int dsvm_prepare_items(struct dsvm_ctx *ctx, const struct dsvm_fetch_options *opts,
		       const struct dsvm_prepare_item *items, size_t n,
		       const struct dsvm_extract_options *budget,
		       struct dsvm_prepare_stats *ret_stats)
{
	struct shared sh = { .ctx = ctx, .opts = opts, .items = items, .budget = budget, .n = n };
	struct dsvm_prepare_stats stats;
	struct worker *workers = NULL;
	size_t n_workers, started = 0;
	int r;

	static pthread_once_t threshold_once = PTHREAD_ONCE_INIT;

	if (!opts || !opts->cache_dir)
		return dsvm_set_error(ctx, -EINVAL, "no cache directory given");
	pthread_once(&threshold_once, fix_mmap_threshold);
	r = check_items(ctx, items, n);
	if (r < 0)
		return r;
	r = dsvm_fetch_prepare_cache(ctx, opts->cache_dir);
	if (r < 0)
		return r;
	n_workers = MIN(opts->parallel ? opts->parallel : DEFAULT_PARALLEL, n);
	sh.order = calloc(n ? n : 1, sizeof(*sh.order));
	sh.first_of = calloc(n ? n : 1, sizeof(*sh.first_of));
	sh.results = calloc(n ? n : 1, sizeof(*sh.results));
	workers = calloc(n_workers ? n_workers : 1, sizeof(*workers));
	if (!sh.order || !sh.first_of || !sh.results || !workers) {
		r = -ENOMEM;
		goto out;
	}
	plan(&sh);
	pthread_mutex_init(&sh.lock, NULL);
	pthread_cond_init(&sh.done_cond, NULL);
	pthread_mutex_init(&sh.report_lock, NULL);
	for (size_t k = 0; k < n_workers && r == 0; k++) {
		r = worker_init(&workers[k], &sh);
		if (r == 0)
			r = -pthread_create(&workers[k].thread, NULL, worker_main, &workers[k]);
		workers[k].started = r == 0;
		started += r == 0;
	}
	/* Started workers take every item between them, even when starting another failed. */
	for (size_t k = 0; k < n_workers; k++)
		if (workers[k].started)
			pthread_join(workers[k].thread, NULL);
	if (n > 0 && started == 0) {
		r = dsvm_set_error(ctx, r, "cannot start preparing: %s", strerror(-r));
	} else {
		sum_stats(&sh, &stats);
		r = first_failure(ctx, &sh, stats.failed);
		if (ret_stats)
			*ret_stats = stats;
	}
	pthread_mutex_destroy(&sh.lock);
	pthread_cond_destroy(&sh.done_cond);
	pthread_mutex_destroy(&sh.report_lock);
out:
	for (size_t k = 0; workers && k < n_workers; k++) {
		dsvm_ctx_free(workers[k].fctx);
		dsvm_ctx_free(workers[k].ectx);
	}
	for (size_t i = 0; sh.results && i < n; i++)
		free(sh.results[i].error);
	free(workers);
	free(sh.results);
	free(sh.first_of);
	free(sh.order);
	return r;
}
