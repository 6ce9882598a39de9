/* SPDX-License-Identifier: MIT */
/*
 * lib/xz-stream.c: .xz decoded with liblzma's threaded decoder in front of libarchive. One tree of
 * generated files (text and half-random blobs, like payloads) is packed once with tar and
 * compressed at test time with xz(1) in several ways: many blocks (xz -T2 --block-size), one
 * block (xz -T1), large blocks, damaged and truncated copies. Each must extract to the same tree
 * as the source, through a file, a stream and the one-pass pipeline with its digest; damage is
 * refused with a sentence that says so and leaves nothing behind; memory stays under the budget.
 */
#include <dirent.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <lzma.h>
#include <openssl/evp.h>

#include "unit.h"
#include "dsvm/extract.h"
#include "dsvm/prepare.h"
#include "internal.h"
#include "xz-stream.h"

static char work[64];
static char path_buf[8][PATH_MAX];

static const char *at(int slot, const char *name)
{
	snprintf(path_buf[slot], sizeof(path_buf[slot]), "%s/%s", work, name);
	return path_buf[slot];
}

static uint64_t rnd_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static const char *const words[] = { "cuda",   "driver", "kernel", "module", "library",
				     "tensor", "azure",	 "nvidia", "stream", "device",
				     "memory", "launch", "graph",  "warp",   "block" };

static void write_text(const char *path, size_t size)
{
	FILE *f = fopen(path, "we");
	size_t n = 0;

	assert_non_null(f);
	while (n < size) {
		const char *w = words[rnd() % ARRAY_SIZE(words)];

		n += (size_t)fprintf(f, "%s%s", w, rnd() % 9 ? " " : "\n");
	}
	assert_int_equal(fclose(f), 0);
}

/* Half random, half repeats of earlier bytes, as fatbins and compressed resources are. */
static void write_blob(const char *path, size_t size)
{
	unsigned char *b = malloc(size);
	int fd;

	assert_non_null(b);
	for (size_t i = 0; i < size; i += 4096) {
		size_t len = size - i < 4096 ? size - i : 4096;

		if (i > 0 && rnd() % 2)
			memmove(b + i, b + rnd() % i / 2, len);
		else
			for (size_t k = 0; k < len; k++)
				b[i + k] = (unsigned char)rnd();
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, b, size), 0);
	close(fd);
	free(b);
}

/* A payload-like tree of about text_kib KiB of text files plus a few blobs. */
static void make_tree(const char *dir, size_t text_kib)
{
	char p[PATH_MAX];

	assert_int_equal(mkdir(dir, 0755), 0);
	for (int d = 0; d < 4; d++) {
		snprintf(p, sizeof(p), "%s/d%d", dir, d);
		assert_int_equal(mkdir(p, 0755), 0);
		for (int i = 0; i < 16; i++) {
			snprintf(p, sizeof(p), "%s/d%d/f%02d.txt", dir, d, i);
			write_text(p, text_kib * 1024 / 64 + rnd() % 4096);
		}
		snprintf(p, sizeof(p), "%s/d%d/lib%d.so.1", dir, d, d);
		write_blob(p, 96 * 1024 + rnd() % 65536);
	}
}

static void sh(const char *cmd)
{
	char *argv[] = { (char *)"sh", (char *)"-ec", (char *)cmd, NULL };

	unit_run(argv);
}

/* The source tree and the archives, made once. */
static int setup(void **state)
{
	char cmd[4 * PATH_MAX];

	(void)state;
	snprintf(work, sizeof(work), "%s/dsvm-xz.XXXXXX", getenv("TMPDIR") ?: "/tmp");
	assert_non_null(mkdtemp(work));
	make_tree(at(0, "src"), 6 * 1024);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && tar -C src -cf pay.tar . && "
		 "xz -T2 -1 --block-size=256KiB -c pay.tar > multi.tar.xz && "
		 "xz -T1 -1 -c pay.tar > single.tar.xz && "
		 "xz -l multi.tar.xz | awk 'NR == 2 { exit !($2 > 8) }' && "
		 "xz -l single.tar.xz | awk 'NR == 2 { exit !($2 == 1) }'",
		 work);
	sh(cmd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	remove_tree(work);
	return 0;
}

static void same_tree(const char *a, const char *b)
{
	char *argv[] = { (char *)"diff", (char *)"-r", (char *)a, (char *)b, NULL };

	assert_int_equal(unit_run_status(argv), 0);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* A source over a file that counts the threads of the process while the decoder runs. */
struct counting_source {
	int fd;
	unsigned max_threads;
	size_t reads;
	ssize_t fail_after; /* fail with -ECANCELED after this many reads (-1: never) */
};

static unsigned thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	unsigned n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2; /* "." and ".." */
}

static ssize_t counting_read(void *userdata, void *buf, size_t size)
{
	struct counting_source *s = userdata;
	unsigned t = thread_count();
	ssize_t n;

	if (t > s->max_threads)
		s->max_threads = t;
	if (s->fail_after >= 0 && s->reads >= (size_t)s->fail_after)
		return -ECANCELED;
	s->reads++;
	n = read(s->fd, buf, size);
	return n < 0 ? -errno : n;
}

static void extract_stream_ok(const char *archive, const char *stage, unsigned *ret_threads)
{
	struct counting_source src = { .fail_after = -1 };
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_extract *ex;
	unsigned before = thread_count();

	src.fd = open(at(0, archive), O_RDONLY | O_CLOEXEC);
	assert_true(src.fd >= 0);
	assert_ok(ctx, dsvm_extract_new(ctx, at(1, stage), NULL, &ex));
	assert_ok(ctx, dsvm_extract_stream(ex, archive, counting_read, &src));
	assert_ok(ctx, dsvm_extract_keep(ex));
	dsvm_extract_free(ex);
	close(src.fd);
	same_tree(at(0, "src"), at(1, stage));
	/* Every worker was joined. */
	assert_int_equal(thread_count(), before);
	*ret_threads = src.max_threads - before;
	dsvm_ctx_free(ctx);
}

/*
 * Many blocks and one block give the same tree; the many-block stream is decoded by worker
 * threads (at least two where there are two CPUs), the one-block stream (no sizes in its block
 * header) by the calling thread alone.
 */
static void test_multi_and_single_block(void **state)
{
	unsigned multi_workers, single_workers;

	(void)state;
	extract_stream_ok("multi.tar.xz", "x-multi", &multi_workers);
	extract_stream_ok("single.tar.xz", "x-single", &single_workers);
	same_tree(at(0, "x-multi"), at(1, "x-single"));
	if (lzma_cputhreads() >= 2)
		assert_true(multi_workers >= 2);
	assert_int_equal(single_workers, 0);
}

/* dsvm_extract_file finds .xz by its magic, whatever the file is called. */
static void test_file_by_magic(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_extract *ex;
	char cmd[2 * PATH_MAX];

	(void)state;
	snprintf(cmd, sizeof(cmd), "cp %s/multi.tar.xz %s/payload.bin", work, work);
	sh(cmd);
	assert_ok(ctx, dsvm_extract_new(ctx, at(1, "x-file"), NULL, &ex));
	assert_ok(ctx, dsvm_extract_file(ex, at(0, "payload.bin")));
	assert_ok(ctx, dsvm_extract_keep(ex));
	dsvm_extract_free(ex);
	same_tree(at(0, "src"), at(1, "x-file"));
	dsvm_ctx_free(ctx);
}

/* The one-pass pipeline: the digest is of the compressed bytes, and a wrong one is refused. */
static void prepare_one(const char *archive, const char *sha, const char *stage, int want)
{
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_fetch_options o = { .cache_dir = at(2, "cache"), .parallel = 1 };
	struct dsvm_prepare_item it = {
		.fetch = { .name = archive, .path = at(0, archive), .sha256 = sha },
		.staging_dir = at(1, stage),
	};
	int r = dsvm_prepare_items(ctx, &o, &it, 1, NULL, NULL);

	if (want == 0)
		assert_ok(ctx, r);
	else
		assert_int_equal(r, want);
	if (want < 0)
		assert_false(exists(at(1, stage)));
	dsvm_ctx_free(ctx);
}

static void test_pipeline_digest(void **state)
{
	char sha[65], wrong[65];

	(void)state;
	assert_int_equal(sha256_file_hex(at(0, "multi.tar.xz"), sha), 0);
	prepare_one("multi.tar.xz", sha, "x-prep", 0);
	same_tree(at(0, "src"), at(1, "x-prep"));
	memcpy(wrong, sha, sizeof(wrong));
	wrong[10] = wrong[10] == '0' ? '1' : '0';
	prepare_one("multi.tar.xz", wrong, "x-prep-wrong", -EBADMSG);
}

/* A copy of the many-block archive with one byte changed in the middle, or cut short. */
static const char *damaged(const char *name, bool truncate)
{
	struct stat st;
	int fd;
	char cmd[2 * PATH_MAX];

	snprintf(cmd, sizeof(cmd), "cp %s/multi.tar.xz %s/%s", work, work, name);
	sh(cmd);
	fd = open(at(3, name), O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	if (truncate) {
		assert_int_equal(ftruncate(fd, st.st_size * 2 / 3), 0);
	} else {
		unsigned char c;

		assert_int_equal(pread(fd, &c, 1, st.st_size / 2), 1);
		c ^= 0x55;
		assert_int_equal(pwrite(fd, &c, 1, st.st_size / 2), 1);
	}
	close(fd);
	return path_buf[3];
}

/* Refused with -EBADMSG and the words of the decoder; no staging tree is left. */
static void refused(const char *path, const char *stage, const char *words_expected)
{
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_extract *ex;
	int r;

	assert_ok(ctx, dsvm_extract_new(ctx, at(1, stage), NULL, &ex));
	r = dsvm_extract_file(ex, path);
	assert_int_equal(r, -EBADMSG);
	assert_error_contains(ctx, ".xz: ");
	assert_error_contains(ctx, words_expected);
	assert_error_contains(ctx, "was removed");
	assert_false(exists(at(1, stage)));
	dsvm_extract_free(ex);
	assert_false(exists(at(1, stage)));
	dsvm_ctx_free(ctx);
}

static void test_damaged(void **state)
{
	char sha[65];

	(void)state;
	refused(damaged("corrupt.tar.xz", false), "x-corrupt", "damaged");
	refused(damaged("short.tar.xz", true), "x-short", "near compressed byte");
	/* Verified bytes that are damaged: the pipeline says the decompression failed, and why. */
	assert_int_equal(sha256_file_hex(damaged("corrupt2.tar.xz", false), sha), 0);
	{
		struct dsvm_ctx *ctx = unit_ctx();
		struct dsvm_fetch_options o = { .cache_dir = at(2, "cache"), .parallel = 1 };
		struct dsvm_prepare_item it = {
			.fetch = { .name = "corrupt2.tar.xz",
				   .path = at(3, "corrupt2.tar.xz"),
				   .sha256 = sha },
			.staging_dir = at(1, "x-corrupt2"),
		};

		assert_int_equal(dsvm_prepare_items(ctx, &o, &it, 1, NULL, NULL), -EBADMSG);
		assert_error_contains(ctx, ".xz: the data is damaged");
		assert_false(exists(at(1, "x-corrupt2")));
		dsvm_ctx_free(ctx);
	}
}

/* Stopped mid-stream (the source fails, or the reader is dropped): workers joined, no leak. */
static void test_cancel(void **state)
{
	unsigned before = thread_count();
	unsigned char buf[65536];

	(void)state;
	for (int drop = 0; drop < 2; drop++) {
		struct counting_source src = { .fail_after = 8 };
		struct xz_reader *xr;
		ssize_t n = 0;

		src.fd = open(at(0, "multi.tar.xz"), O_RDONLY | O_CLOEXEC);
		assert_true(src.fd >= 0);
		xr = xz_reader_new(counting_read, &src);
		assert_non_null(xr);
		for (int i = 0; i < (drop ? 2 : 1000); i++) {
			n = xz_reader_read(xr, buf, sizeof(buf));
			if (n <= 0)
				break;
		}
		if (drop)
			assert_true(n > 0);
		else
			assert_int_equal(n, -ECANCELED);
		assert_true(xz_reader_is_xz(xr));
		xz_reader_free(xr);
		close(src.fd);
		assert_int_equal(thread_count(), before);
	}
}

/* Decode a file through the reader; return its decoded SHA-256, threads and peak memory. */
static void decode_file(const char *path, char hex[65], unsigned *threads, uint64_t *peak)
{
	struct counting_source src = { .fail_after = -1 };
	unsigned char buf[65536], md[32];
	struct xz_reader *xr;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned len;
	ssize_t n;

	src.fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(src.fd >= 0);
	xr = xz_reader_new(counting_read, &src);
	assert_non_null(xr);
	assert_non_null(c);
	assert_int_equal(EVP_DigestInit_ex(c, EVP_sha256(), NULL), 1);
	while ((n = xz_reader_read(xr, buf, sizeof(buf))) > 0)
		assert_int_equal(EVP_DigestUpdate(c, buf, (size_t)n), 1);
	assert_int_equal(n, 0);
	assert_int_equal(EVP_DigestFinal_ex(c, md, &len), 1);
	hex_encode(md, 32, hex);
	*threads = xz_reader_get_threads(xr);
	*peak = xz_reader_get_peak_memory(xr);
	xz_reader_free(xr);
	EVP_MD_CTX_free(c);
	close(src.fd);
}

/*
 * Blocks of 24 MiB (xz -6's size under -T): two workers would hold about 60 MiB, more than the
 * budget, so liblzma runs fewer. The decoded bytes are the tar's; liblzma's own count stays
 * within XZ_THREADING_MEMLIMIT; a second reader at the same time gets no threads at all.
 */
static void test_memory_bounded(void **state)
{
	struct counting_source src = { .fail_after = -1 };
	char want[65], got[65], cmd[4 * PATH_MAX];
	unsigned char buf[64];
	struct xz_reader *holder;
	unsigned threads;
	uint64_t peak;

	(void)state;
	make_tree(at(0, "big"), 56 * 1024);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && tar -C big -cf big.tar . && "
		 "xz -T2 -0 --block-size=24MiB -c big.tar > big.tar.xz && "
		 "xz -l big.tar.xz | awk 'NR == 2 { exit !($2 >= 2) }'",
		 work);
	sh(cmd);
	assert_int_equal(sha256_file_hex(at(0, "big.tar"), want), 0);
	decode_file(at(0, "big.tar.xz"), got, &threads, &peak);
	assert_string_equal(got, want);
	assert_true(threads >= 1);
	assert_true(peak > 0);
	if (peak > XZ_THREADING_MEMLIMIT)
		fail_msg("liblzma used %" PRIu64 " bytes, over the %" PRIu64 " budget", peak,
			 XZ_THREADING_MEMLIMIT);
	/* The budget is the process's: while one reader holds it, another decodes alone. */
	src.fd = open(at(0, "multi.tar.xz"), O_RDONLY | O_CLOEXEC);
	assert_true(src.fd >= 0);
	holder = xz_reader_new(counting_read, &src);
	assert_non_null(holder);
	assert_true(xz_reader_read(holder, buf, sizeof(buf)) > 0);
	assert_true(xz_reader_get_threads(holder) >= 1);
	decode_file(at(0, "multi.tar.xz"), got, &threads, &peak);
	assert_int_equal(threads, 0);
	assert_true(peak <= (UINT64_C(4) << 20));
	xz_reader_free(holder);
	close(src.fd);
	/* Returned: the next reader has it again. */
	decode_file(at(0, "multi.tar.xz"), got, &threads, &peak);
	assert_true(threads >= 1);
}

/*
 * liblzma 5.2 (Ubuntu 22.04's) has no threaded decoder: the many-block stream, and two streams
 * one after the other, decode in the calling thread to the same bytes; damage is still refused;
 * the threading budget is never taken, so the next reader with the decoder has its threads.
 */
static void test_one_thread_fallback(void **state)
{
	char want[65], got[65], cmd[4 * PATH_MAX];
	unsigned threads, workers;
	uint64_t peak;

	(void)state;
	snprintf(cmd, sizeof(cmd),
		 "cd %s && cat multi.tar.xz single.tar.xz > two.xz && cat pay.tar pay.tar > two",
		 work);
	sh(cmd);
	xz_hide_threaded_decoder(true);
	extract_stream_ok("multi.tar.xz", "x-fallback", &workers);
	assert_int_equal(workers, 0);
	assert_int_equal(sha256_file_hex(at(0, "pay.tar"), want), 0);
	decode_file(at(0, "multi.tar.xz"), got, &threads, &peak);
	assert_string_equal(got, want);
	assert_int_equal(threads, 0);
	assert_int_equal(sha256_file_hex(at(0, "two"), want), 0);
	decode_file(at(0, "two.xz"), got, &threads, &peak);
	assert_string_equal(got, want);
	refused(damaged("corrupt-1t.tar.xz", false), "x-corrupt-1t", "damaged");
	refused(damaged("short-1t.tar.xz", true), "x-short-1t", "near compressed byte");
	xz_hide_threaded_decoder(false);
	decode_file(at(0, "multi.tar.xz"), got, &threads, &peak);
	assert_true(threads >= 1);
}

/* Anything that is not .xz passes through byte for byte, also shorter than the magic. */
static void test_passthrough(void **state)
{
	char want[65], got[65];
	unsigned threads;
	uint64_t peak;
	char cmd[2 * PATH_MAX];

	(void)state;
	snprintf(cmd, sizeof(cmd), "cd %s && printf 'abc' > tiny && : > empty", work);
	sh(cmd);
	for (int i = 0; i < 3; i++) {
		const char *name = i == 0 ? "pay.tar" : i == 1 ? "tiny" : "empty";

		assert_int_equal(sha256_file_hex(at(4, name), want), 0);
		decode_file(at(4, name), got, &threads, &peak);
		assert_string_equal(got, want);
		assert_int_equal(threads, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multi_and_single_block),
		cmocka_unit_test(test_file_by_magic),
		cmocka_unit_test(test_pipeline_digest),
		cmocka_unit_test(test_damaged),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_passthrough),
		cmocka_unit_test(test_memory_bounded),
		cmocka_unit_test(test_one_thread_fallback),
	};

	if (access("/usr/bin/xz", X_OK) < 0 || access("/usr/bin/tar", X_OK) < 0) {
		printf("skip: test-xz-stream needs xz and tar (make deps)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
