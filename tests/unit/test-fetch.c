/* SPDX-License-Identifier: MIT */
/*
 * The fetcher's contract without a network: the URL rule, repository files, the warm cache, a
 * .part completed by an earlier run, the pluggable sink and its commit/abandon calls, and the
 * cache's failure modes. The network faults (T3) are in tests/integration/test-fetch-faults.sh,
 * against the loopback servers.
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "unit.h"
#include "dsvm/fetch.h"

static char work[64];
static char cache[96];
static char payload[96];
static char payload_sha[65];
static const size_t payload_size = 200000;

/* A port nothing listens on: any connection attempt would fail, so success proves none was made. */
#define NOWHERE "http://127.0.0.1:1/never"

static void write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, size), (ssize_t)size);
	close(fd);
}

static int setup(void **state)
{
	unsigned char *data = malloc(payload_size);
	char cmd[128];
	FILE *p;

	(void)state;
	assert_non_null(data);
	for (size_t i = 0; i < payload_size; i++)
		data[i] = (unsigned char)(i * 7919 >> 3);
	snprintf(work, sizeof(work), "/tmp/dsvm-test-fetch.XXXXXX");
	assert_non_null(mkdtemp(work));
	snprintf(cache, sizeof(cache), "%s/cache", work);
	snprintf(payload, sizeof(payload), "%s/payload.bin", work);
	write_file(payload, data, payload_size);
	free(data);
	snprintf(cmd, sizeof(cmd), "sha256sum %s", payload);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%64s", payload_sha), 1);
	pclose(p);
	return 0;
}

static int teardown(void **state)
{
	char cmd[96];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", work);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static char *cached(void)
{
	char *p = dsvm_fetch_cache_path(cache, payload_sha);

	assert_non_null(p);
	return p;
}

struct seen {
	unsigned cached, done, failed, running;
};

static void count_progress(void *userdata, const struct dsvm_fetch_progress *p)
{
	struct seen *s = userdata;

	assert_true(p->total == 0 || p->done <= p->total);
	switch (p->state) {
	case DSVM_FETCH_CACHED:
		s->cached++;
		break;
	case DSVM_FETCH_DONE:
		s->done++;
		break;
	case DSVM_FETCH_FAILED:
		assert_non_null(p->error);
		s->failed++;
		break;
	default:
		s->running++;
	}
}

static void test_url_rule(void **state)
{
	static const char *const refused[] = {
		"ftp://127.0.0.1/x",	     "http://example.com/x", "file:///etc/passwd",
		"http://127.0.0.1.nip.io/x", "gopher://127.0.0.1/x", "not a url",
	};
	struct dsvm_fetch_options o = { .cache_dir = cache };
	struct dsvm_ctx *ctx = unit_ctx();

	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct dsvm_fetch_item it = { .name = "x",
					      .url = refused[i],
					      .sha256 = payload_sha };

		assert_int_equal(dsvm_fetch_items(ctx, &o, &it, 1, NULL), -EPROTO);
		assert_error_contains(ctx, "is not an https:// URL");
		assert_error_contains(ctx, refused[i]);
	}
	dsvm_ctx_free(ctx);
}

static void test_path_and_warm_cache(void **state)
{
	struct seen seen = { 0 };
	struct dsvm_fetch_options o = { .cache_dir = cache,
					.progress = count_progress,
					.progress_userdata = &seen };
	struct dsvm_fetch_item it = {
		.name = "payload", .path = payload, .sha256 = payload_sha, .size = payload_size
	};
	struct dsvm_fetch_stats st;
	struct dsvm_ctx *ctx = unit_ctx();
	char *final = cached();
	struct stat sb;

	(void)state;
	assert_ok(ctx, dsvm_fetch_items(ctx, &o, &it, 1, &st));
	assert_int_equal(st.fetched, 1);
	assert_int_equal(st.transferred, 0);
	assert_int_equal(st.bytes, payload_size);
	assert_int_equal(stat(final, &sb), 0);
	assert_int_equal(sb.st_size, payload_size);
	assert_int_equal(seen.done, 1);

	/* Warm: verified, nothing copied. */
	assert_ok(ctx, dsvm_fetch_items(ctx, &o, &it, 1, &st));
	assert_int_equal(st.cached, 1);
	assert_int_equal(st.fetched, 0);
	assert_int_equal(seen.cached, 1);

	/* A cached file that no longer matches its name is replaced, never trusted. */
	write_file(final, "tampered", 8);
	assert_ok(ctx, dsvm_fetch_items(ctx, &o, &it, 1, &st));
	assert_int_equal(st.fetched, 1);
	assert_int_equal(stat(final, &sb), 0);
	assert_int_equal(sb.st_size, payload_size);
	free(final);
	dsvm_ctx_free(ctx);
}

static void test_path_mismatch(void **state)
{
	static const char wrong[] = "00000000000000000000000000000000000000000000000000000000000000"
				    "00";
	struct dsvm_fetch_options o = { .cache_dir = cache };
	struct dsvm_fetch_item it = { .name = "payload", .path = payload, .sha256 = wrong };
	struct dsvm_fetch_stats st;
	struct dsvm_ctx *ctx = unit_ctx();
	char *final = dsvm_fetch_cache_path(cache, wrong);
	char part[256];

	(void)state;
	assert_non_null(final);
	snprintf(part, sizeof(part), "%s.part", final);
	assert_int_equal(dsvm_fetch_items(ctx, &o, &it, 1, &st), -EBADMSG);
	assert_error_contains(ctx, "hash mismatch for '");
	assert_error_contains(ctx, wrong);
	assert_error_contains(ctx, payload_sha);
	assert_int_equal(st.failed, 1);
	/* Nothing left behind: neither the final name nor the .part. */
	assert_int_equal(access(final, F_OK), -1);
	assert_int_equal(access(part, F_OK), -1);
	free(final);
	dsvm_ctx_free(ctx);
}

static void test_part_already_complete(void **state)
{
	struct dsvm_fetch_options o = { .cache_dir = cache };
	struct dsvm_fetch_item it = {
		.name = "payload", .url = NOWHERE, .sha256 = payload_sha, .size = payload_size
	};
	struct dsvm_fetch_stats st;
	struct dsvm_ctx *ctx = unit_ctx();
	char *final = cached();
	char part[256], cmd[512];

	(void)state;
	/* A run that stopped between the last byte and the rename left a complete .part. */
	unlink(final);
	snprintf(part, sizeof(part), "%s.part", final);
	snprintf(cmd, sizeof(cmd), "cp %s %s", payload, part);
	assert_int_equal(system(cmd), 0);
	assert_ok(ctx, dsvm_fetch_items(ctx, &o, &it, 1, &st));
	assert_int_equal(st.transferred, 0);
	assert_int_equal(st.fetched, 1);
	assert_int_equal(access(part, F_OK), -1);
	assert_int_equal(access(final, F_OK), 0);

	/* A .part holding wrong bytes is not committed: it is fetched again (and fails here). */
	unlink(final);
	write_file(part, "x", 1);
	o.attempts = 1;
	o.connect_timeout_s = 2;
	assert_int_equal(dsvm_fetch_items(ctx, &o, &it, 1, &st), -ECONNREFUSED);
	assert_error_contains(ctx, "cannot connect to '" NOWHERE "'");
	assert_int_equal(access(final, F_OK), -1);
	free(final);
	dsvm_ctx_free(ctx);
}

/* A sink that keeps bytes in memory and cannot resume, like a streaming extractor. */
struct mem_sink {
	unsigned char *buf;
	size_t len;
	unsigned restarts, commits, abandons;
	bool kept_partial;
};

static int mem_restart(void *userdata, uint64_t max_keep, dsvm_fetch_feed_fn feed,
		       void *feed_userdata, uint64_t *ret_offset)
{
	struct mem_sink *s = userdata;

	(void)max_keep;
	(void)feed;
	(void)feed_userdata;
	s->restarts++;
	s->len = 0;
	*ret_offset = 0;
	return 0;
}

static int mem_write(void *userdata, const void *buf, size_t size)
{
	struct mem_sink *s = userdata;
	unsigned char *p = realloc(s->buf, s->len + size);

	if (!p)
		return -ENOMEM;
	s->buf = p;
	memcpy(s->buf + s->len, buf, size);
	s->len += size;
	return 0;
}

static int mem_commit(void *userdata)
{
	((struct mem_sink *)userdata)->commits++;
	return 0;
}

static void mem_abandon(void *userdata, bool keep_partial)
{
	struct mem_sink *s = userdata;

	s->abandons++;
	s->kept_partial = keep_partial;
}

static const struct dsvm_fetch_sink_ops mem_ops = {
	.restart = mem_restart,
	.write = mem_write,
	.commit = mem_commit,
	.abandon = mem_abandon,
};

static void test_custom_sink(void **state)
{
	static const char wrong[] = "11111111111111111111111111111111111111111111111111111111111111"
				    "11";
	struct mem_sink ms = { 0 };
	struct dsvm_fetch_sink sink = { .ops = &mem_ops, .userdata = &ms };
	struct dsvm_fetch_options o = { .cache_dir = cache };
	struct dsvm_fetch_item it = {
		.name = "payload", .path = payload, .sha256 = payload_sha, .sink = &sink
	};
	struct dsvm_fetch_stats st;
	struct dsvm_ctx *ctx = unit_ctx();
	char *final = dsvm_fetch_cache_path(cache, wrong);

	(void)state;
	assert_non_null(final);
	/* Committed once, after every byte went through it; the cache is not involved. */
	assert_ok(ctx, dsvm_fetch_items(ctx, &o, &it, 1, &st));
	assert_int_equal(ms.len, payload_size);
	assert_int_equal(ms.commits, 1);
	assert_int_equal(ms.abandons, 0);

	/* A mismatch abandons the sink and says nothing may be kept; no commit. */
	it.sha256 = wrong;
	ms.commits = 0;
	assert_int_equal(dsvm_fetch_items(ctx, &o, &it, 1, &st), -EBADMSG);
	assert_int_equal(ms.commits, 0);
	assert_int_equal(ms.abandons, 1);
	assert_false(ms.kept_partial);
	assert_int_equal(access(final, F_OK), -1);
	free(final);
	free(ms.buf);
	dsvm_ctx_free(ctx);
}

/* A tee that keeps what it is given, and can be told to refuse bytes or its commit. */
struct mem_tee {
	unsigned char *buf;
	size_t len;
	unsigned commits, abandons;
	int fail_write_at; /* refuse the write that would pass this many bytes (0: never) */
	int fail_commit;
};

static int tee_write(void *userdata, const void *buf, size_t size)
{
	struct mem_tee *t = userdata;
	unsigned char *p;

	if (t->fail_write_at && t->len + size > (size_t)t->fail_write_at)
		return -ECANCELED;
	p = realloc(t->buf, t->len + size);
	if (!p)
		return -ENOMEM;
	t->buf = p;
	memcpy(t->buf + t->len, buf, size);
	t->len += size;
	return 0;
}

static int tee_commit(void *userdata)
{
	struct mem_tee *t = userdata;

	t->commits++;
	return t->fail_commit;
}

static void tee_abandon(void *userdata)
{
	((struct mem_tee *)userdata)->abandons++;
}

static const struct dsvm_fetch_tee_ops tee_ops = {
	.write = tee_write,
	.commit = tee_commit,
	.abandon = tee_abandon,
};

static void tee_reset(struct mem_tee *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

/* The tee sees every byte once, in order, whether copied, cached, or from a tampered cache. */
static void test_tee(void **state)
{
	struct mem_tee mt = { 0 };
	struct dsvm_fetch_tee tee = { .ops = &tee_ops, .userdata = &mt };
	struct dsvm_fetch_options o = { .cache_dir = cache };
	struct dsvm_fetch_item it = { .name = "payload",
				      .path = payload,
				      .sha256 = payload_sha,
				      .size = payload_size,
				      .tee = &tee };
	struct dsvm_fetch_stats st;
	struct dsvm_ctx *ctx = unit_ctx();
	char *final = cached(), part[256];
	unsigned char *data = malloc(payload_size);
	int fd = open(payload, O_RDONLY);

	(void)state;
	assert_non_null(data);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, data, payload_size), (ssize_t)payload_size);
	close(fd);
	snprintf(part, sizeof(part), "%s.part", final);

	/* Copied: the cache gets the file, the tee the same bytes, then one commit. */
	unlink(final);
	assert_ok(ctx, dsvm_fetch_items(ctx, &o, &it, 1, &st));
	assert_int_equal(st.fetched, 1);
	assert_int_equal(mt.len, payload_size);
	assert_memory_equal(mt.buf, data, payload_size);
	assert_int_equal(mt.commits, 1);
	assert_int_equal(mt.abandons, 0);
	assert_int_equal(access(final, F_OK), 0);

	/* Warm: read once from the cache, hashed as the tee takes it. */
	tee_reset(&mt);
	assert_ok(ctx, dsvm_fetch_items(ctx, &o, &it, 1, &st));
	assert_int_equal(st.cached, 1);
	assert_int_equal(mt.len, payload_size);
	assert_memory_equal(mt.buf, data, payload_size);
	assert_int_equal(mt.commits, 1);

	/* A tampered cache: the tee already took its bytes, so the item fails, never commits. */
	tee_reset(&mt);
	write_file(final, "tampered", 8);
	assert_int_equal(dsvm_fetch_items(ctx, &o, &it, 1, &st), -ESPIPE);
	assert_error_contains(ctx, "did not match its hash and was deleted");
	assert_int_equal(mt.commits, 0);
	assert_int_equal(mt.abandons, 1);
	assert_int_equal(access(final, F_OK), -1);

	/* The tee refuses bytes part-way: the item fails at once and leaves no file. */
	tee_reset(&mt);
	mt.fail_write_at = 100000;
	assert_int_equal(dsvm_fetch_items(ctx, &o, &it, 1, &st), -ECANCELED);
	assert_int_equal(mt.commits, 0);
	assert_int_equal(mt.abandons, 1);
	assert_int_equal(access(final, F_OK), -1);
	assert_int_equal(access(part, F_OK), -1);

	/* Verified, but the tee's commit fails: nothing at the final path either. */
	tee_reset(&mt);
	mt.fail_commit = -EBADMSG;
	assert_int_equal(dsvm_fetch_items(ctx, &o, &it, 1, &st), -EBADMSG);
	assert_error_contains(ctx, "was verified, but extracting it failed");
	assert_int_equal(mt.commits, 1);
	assert_int_equal(mt.abandons, 0);
	assert_int_equal(access(final, F_OK), -1);
	assert_int_equal(access(part, F_OK), -1);

	/* A tee goes with the cache only. */
	{
		struct mem_sink ms = { 0 };
		struct dsvm_fetch_sink sink = { .ops = &mem_ops, .userdata = &ms };

		it.sink = &sink;
		assert_int_equal(dsvm_fetch_items(ctx, &o, &it, 1, NULL), -EINVAL);
		assert_error_contains(ctx, "a tee beside its own sink");
	}
	tee_reset(&mt);
	free(data);
	free(final);
	dsvm_ctx_free(ctx);
}

static void test_bad_input(void **state)
{
	struct dsvm_fetch_options o = { .cache_dir = cache };
	struct dsvm_fetch_item two[2] = {
		{ .name = "a", .path = payload, .sha256 = payload_sha },
		{ .name = "b", .path = payload, .sha256 = payload_sha },
	};
	struct dsvm_fetch_item bad = { .name = "c", .path = payload, .sha256 = "ABC" };
	struct dsvm_fetch_item none = { .name = "d", .sha256 = payload_sha };
	struct dsvm_ctx *ctx = unit_ctx();

	(void)state;
	assert_int_equal(dsvm_fetch_items(ctx, &o, two, 2, NULL), -EINVAL);
	assert_error_contains(ctx, "share sha256");
	assert_int_equal(dsvm_fetch_items(ctx, &o, &bad, 1, NULL), -EINVAL);
	assert_error_contains(ctx, "has no valid sha256");
	assert_int_equal(dsvm_fetch_items(ctx, &o, &none, 1, NULL), -EINVAL);
	assert_error_contains(ctx, "exactly one of url and path");
	/* A cache that cannot be created is reported before anything else. */
	assert_true(dsvm_fetch_prepare_cache(ctx, "/proc/dsvm-no-such-cache") < 0);
	assert_error_contains(ctx, "cannot create cache directory '/proc/dsvm-no-such-cache'");
	dsvm_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_rule),      cmocka_unit_test(test_path_and_warm_cache),
		cmocka_unit_test(test_path_mismatch), cmocka_unit_test(test_part_already_complete),
		cmocka_unit_test(test_custom_sink),   cmocka_unit_test(test_tee),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
