/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include <lzma.h>

#include "internal.h"
#include "xz-stream.h"

#define IN_BLOCK 65536
/* Workers beyond this decode blocks faster than one extraction thread writes them. */
#define MAX_WORKERS 8

/* The .xz Stream Header's Header Magic Bytes (.xz file format 1.1.0, section 2.1.1.1). */
static const unsigned char xz_magic[6] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };

/*
 * Large buffers (a block's input and output, the dictionary) are mapped and unmapped, never
 * kept by malloc: glibc raises its mmap threshold after each large free, and then serves the
 * next blocks from heaps that stay resident, per thread, after the stream is done.
 */
#define MAP_THRESHOLD (256u << 10)
#define HEADER 16 /* keeps malloc's alignment */

static void *xz_alloc(void *opaque, size_t nmemb, size_t size)
{
	size_t total;
	unsigned char *p;

	(void)opaque;
	if (__builtin_mul_overflow(nmemb, size, &total) ||
	    __builtin_add_overflow(total, HEADER, &total))
		return NULL;
	if (total < MAP_THRESHOLD) {
		p = malloc(total);
	} else {
		p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			p = NULL;
	}
	if (!p)
		return NULL;
	memcpy(p, &total, sizeof(total));
	return p + HEADER;
}

static void xz_free(void *opaque, void *ptr)
{
	unsigned char *p = ptr;
	size_t total;

	(void)opaque;
	if (!p)
		return;
	p -= HEADER;
	memcpy(&total, p, sizeof(total));
	if (total < MAP_THRESHOLD)
		free(p);
	else
		munmap(p, total);
}

static const lzma_allocator allocator = { .alloc = xz_alloc, .free = xz_free };

/* Taken by the stream that decodes with threads; the others decode in their own thread. */
static atomic_bool threading_taken;

enum mode {
	MODE_UNKNOWN, /* nothing read yet */
	MODE_PLAIN,   /* not .xz: the peeked bytes, then the source */
	MODE_XZ,
	MODE_END,
};

struct xz_reader {
	dsvm_extract_read_fn read_fn;
	void *userdata;
	lzma_stream strm;
	enum mode mode;
	bool has_budget; /* holds threading_taken */
	bool source_done;
	unsigned threads;
	uint64_t peak_memory;
	size_t head_len, head_pos; /* MODE_PLAIN: peeked bytes not yet handed out */
	char error[256];
	unsigned char in[IN_BLOCK];
};

bool xz_is_magic(const void *buf, size_t size)
{
	return size >= sizeof(xz_magic) && memcmp(buf, xz_magic, sizeof(xz_magic)) == 0;
}

struct xz_reader *xz_reader_new(dsvm_extract_read_fn read_fn, void *userdata)
{
	struct xz_reader *xr = calloc(1, sizeof(*xr));

	if (!xr)
		return NULL;
	xr->read_fn = read_fn;
	xr->userdata = userdata;
	xr->strm = (lzma_stream)LZMA_STREAM_INIT;
	xr->strm.allocator = &allocator;
	return xr;
}

void xz_reader_free(struct xz_reader *xr)
{
	if (!xr)
		return;
	/* lzma_end stops the workers and joins them, also in the middle of a block. */
	lzma_end(&xr->strm);
	if (xr->has_budget)
		atomic_store(&threading_taken, false);
	free(xr);
}

bool xz_reader_is_xz(const struct xz_reader *xr)
{
	return xr->mode == MODE_XZ || (xr->mode == MODE_END && xr->strm.total_in > 0);
}

unsigned xz_reader_get_threads(const struct xz_reader *xr)
{
	return xr->threads;
}

uint64_t xz_reader_get_peak_memory(const struct xz_reader *xr)
{
	return xr->peak_memory;
}

const char *xz_reader_error(const struct xz_reader *xr, int r)
{
	return xr->error[0] ? xr->error : strerror(-r);
}

static int fail(struct xz_reader *xr, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct xz_reader *xr, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(xr->error, sizeof(xr->error), fmt, ap);
	va_end(ap);
	return r;
}

/* Fill xr->in from the source, up to want bytes past what it holds; 0 at its end. */
static ssize_t fill(struct xz_reader *xr, size_t have, size_t want)
{
	ssize_t n = xr->read_fn(xr->userdata, xr->in + have, want - have);

	if (n == 0)
		xr->source_done = true;
	return n;
}

/*
 * lzma_stream_decoder_mt() is liblzma 5.4's (version node XZ_5.4): Ubuntu 22.04 ships 5.2.5, where
 * a binary that links it does not start at all (tests/integration/test-abi.sh). It is looked up
 * in the liblzma already loaded, pinned to that node; without it every stream decodes in the
 * calling thread, as the threaded decoder does with a stream it cannot split.
 */
typedef lzma_ret (*decoder_mt_fn)(lzma_stream *strm, const lzma_mt *options);
static decoder_mt_fn decoder_mt;
static pthread_once_t decoder_mt_once = PTHREAD_ONCE_INIT;
static atomic_bool decoder_mt_hidden;

static void find_decoder_mt(void)
{
	void *sym = dlvsym(RTLD_DEFAULT, "lzma_stream_decoder_mt", "XZ_5.4");

	memcpy(&decoder_mt, &sym, sizeof(decoder_mt));
}

void xz_hide_threaded_decoder(bool hide)
{
	atomic_store(&decoder_mt_hidden, hide);
}

static decoder_mt_fn threaded_decoder(void)
{
	pthread_once(&decoder_mt_once, find_decoder_mt);
	return atomic_load(&decoder_mt_hidden) ? NULL : decoder_mt;
}

static int start_decoder(struct xz_reader *xr)
{
	decoder_mt_fn start_mt = threaded_decoder();
	bool expected = false;
	lzma_mt mt = {
		/* As xz -dc: a file of several streams (xz -c a b > c) is one. */
		.flags = LZMA_CONCATENATED | LZMA_FAIL_FAST,
		.threads = 1,
		.memlimit_threading = 1,
		.memlimit_stop = UINT64_MAX,
		.timeout = 0, /* block in lzma_code until there is output: the source blocks too */
	};
	lzma_ret ret;

	if (start_mt && atomic_compare_exchange_strong(&threading_taken, &expected, true)) {
		uint32_t cpus = lzma_cputhreads();

		xr->has_budget = true;
		mt.threads = cpus == 0 ? 1 : cpus > MAX_WORKERS ? MAX_WORKERS : cpus;
		mt.memlimit_threading = XZ_THREADING_MEMLIMIT;
		xr->threads = mt.threads;
	}
	/* LZMA_FAIL_FAST came with 5.3.3alpha; 5.2, which has no threaded decoder, refuses it. */
	ret = start_mt ? start_mt(&xr->strm, &mt)
		       : lzma_stream_decoder(&xr->strm, UINT64_MAX, LZMA_CONCATENATED);
	if (ret == LZMA_MEM_ERROR)
		return -ENOMEM;
	if (ret != LZMA_OK)
		return fail(xr, -EINVAL, "cannot start the .xz decoder (liblzma error %d)", ret);
	return 0;
}

/* The first bytes decide the mode: up to 6 bytes peeked, kept for the plain mode. */
static ssize_t peek(struct xz_reader *xr)
{
	size_t have = 0;

	while (have < sizeof(xz_magic) && !xr->source_done) {
		ssize_t n = fill(xr, have, sizeof(xz_magic));

		if (n < 0)
			return n;
		have += (size_t)n;
	}
	if (xz_is_magic(xr->in, have)) {
		int r = start_decoder(xr);

		if (r < 0)
			return r;
		xr->strm.next_in = xr->in;
		xr->strm.avail_in = have;
		xr->mode = MODE_XZ;
	} else {
		xr->head_len = have;
		xr->mode = MODE_PLAIN;
	}
	return 0;
}

static ssize_t read_plain(struct xz_reader *xr, void *buf, size_t size)
{
	ssize_t n;

	if (xr->head_pos < xr->head_len) {
		size_t k = xr->head_len - xr->head_pos;

		k = k < size ? k : size;
		memcpy(buf, xr->in + xr->head_pos, k);
		xr->head_pos += k;
		return (ssize_t)k;
	}
	if (xr->source_done)
		return 0;
	n = xr->read_fn(xr->userdata, buf, size);
	if (n == 0)
		xr->source_done = true;
	return n;
}

static const char *lzma_words(lzma_ret ret)
{
	switch (ret) {
	case LZMA_DATA_ERROR:
		return "the data is damaged (a block does not decode or fails its check)";
	case LZMA_BUF_ERROR:
		return "the data ends in the middle of a stream (truncated)";
	case LZMA_FORMAT_ERROR:
		return "a stream does not start with the .xz header";
	case LZMA_OPTIONS_ERROR:
		return "a block uses filters or options liblzma cannot decode";
	default:
		return "liblzma failed";
	}
}

static ssize_t read_xz(struct xz_reader *xr, void *buf, size_t size)
{
	lzma_stream *s = &xr->strm;

	s->next_out = buf;
	s->avail_out = size;
	/* Until some output: a whole block may arrive before its first decoded byte. */
	while (s->avail_out == size) {
		lzma_ret ret;
		uint64_t mem;

		if (s->avail_in == 0 && !xr->source_done) {
			ssize_t n = fill(xr, 0, sizeof(xr->in));

			if (n < 0)
				return n;
			s->next_in = xr->in;
			s->avail_in = (size_t)n;
		}
		ret = lzma_code(s, xr->source_done ? LZMA_FINISH : LZMA_RUN);
		mem = lzma_memusage(s);
		if (mem > xr->peak_memory)
			xr->peak_memory = mem;
		if (ret == LZMA_STREAM_END) {
			xr->mode = MODE_END;
			break;
		}
		if (ret == LZMA_MEM_ERROR)
			return -ENOMEM;
		if (ret != LZMA_OK)
			return fail(xr, -EBADMSG,
				    ".xz: %s, near compressed byte %" PRIu64 " (decoded byte "
				    "%" PRIu64 "); fetch "
				    "the "
				    "archive "
				    "again or "
				    "check its source",
				    lzma_words(ret), (uint64_t)s->total_in, (uint64_t)s->total_out);
	}
	return (ssize_t)(size - s->avail_out);
}

ssize_t xz_reader_read(void *userdata, void *buf, size_t size)
{
	struct xz_reader *xr = userdata;

	if (size == 0)
		return 0;
	if (xr->mode == MODE_UNKNOWN) {
		ssize_t r = peek(xr);

		if (r < 0)
			return r;
	}
	switch (xr->mode) {
	case MODE_PLAIN:
		return read_plain(xr, buf, size);
	case MODE_XZ:
		return read_xz(xr, buf, size);
	default:
		return 0;
	}
}
