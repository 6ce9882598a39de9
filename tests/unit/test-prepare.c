/* SPDX-License-Identifier: MIT */
/*
 * One-pass fetch + verify + extract (lib/prepare.c) against the project's loopback server
 * (tests/tools/testhttpd.py, started here on a free port): a streamed tar.xz and tar.zst end in
 * the same tree as extracting the cached file; a warm cache transfers nothing; a hash mismatch
 * leaves neither a staging tree nor a cache file; a body cut or reset mid-stream resumes with a
 * range request and still gives the right tree; a server that then ignores the range makes the
 * item go the long way round and still end right; a hostile archive streamed is refused and
 * leaves nothing; several items run in parallel, one artifact into two trees, progress calls
 * never overlap, and one failure does not stop the others.
 */
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "unit.h"
#include "dsvm/prepare.h"

struct artifact {
	const char *file; /* under files/ */
	char sha[65];
	uint64_t size;
};

static char work[64];
static char files[96];
static char cache[96];
static char logpath[96];
static char base[64];
static pid_t server = -1;
static unsigned stage_seq;

static struct artifact xz = { .file = "pay.tar.xz" };
static struct artifact zst = { .file = "pay.tar.zst" };
static struct artifact other = { .file = "other.tar.zst" };
static struct artifact hostile = { .file = "hostile.tar.zst" };

/* Payload: nested directories, text and binary files of mixed sizes (several MiB compressed,
 * more than the 4 MiB between transfer and extraction), links, a hard link, an empty file. */
static const char generator[] =
	"import os, random, subprocess, sys, tarfile\n"
	"out = sys.argv[1]\n"
	"rnd = random.Random(7)\n"
	"words = [b'cuda', b'driver', b'kernel', b'module', b'library', b'tensor', b'azure']\n"
	"def tree(top, n_bin):\n"
	"    for d in ('bin', 'lib/x86_64', 'share/doc/pkg', 'include/pkg/detail'):\n"
	"        os.makedirs(os.path.join(top, d), exist_ok=True)\n"
	"    for i in range(60):\n"
	"        text = b' '.join(rnd.choice(words) for _ in range(rnd.randint(10, 4000)))\n"
	"        d = ('share/doc/pkg', 'include/pkg', 'include/pkg/detail')[i % 3]\n"
	"        open(os.path.join(top, d, 'f%02d.txt' % i), 'wb').write(text)\n"
	"    for i in range(n_bin):\n"
	"        blob = rnd.randbytes(rnd.randint(1 << 20, 3 << 20))\n"
	"        open(os.path.join(top, 'lib/x86_64/libx%d.so.1' % i), 'wb').write(blob + "
	"blob[:65536])\n"
	"        os.chmod(os.path.join(top, 'lib/x86_64/libx%d.so.1' % i), 0o755)\n"
	"    os.symlink('libx0.so.1', os.path.join(top, 'lib/x86_64/libx0.so'))\n"
	"    os.link(os.path.join(top, 'lib/x86_64/libx0.so.1'), os.path.join(top, 'bin/tool'))\n"
	"    open(os.path.join(top, 'share/doc/pkg/EMPTY'), 'wb').close()\n"
	"    os.utime(os.path.join(top, 'bin/tool'), (1700000000, 1700000000))\n"
	"def pack(top, name):\n"
	"    tar = os.path.join(out, name)\n"
	"    with tarfile.open(tar, 'w', format=tarfile.GNU_FORMAT) as t:\n"
	"        t.add(top, arcname='pkg')\n"
	"    return tar\n"
	"os.makedirs(os.path.join(out, 'files'), exist_ok=True)\n"
	"tree(os.path.join(out, 'src'), 3)\n"
	"tar = pack(os.path.join(out, 'src'), 'pay.tar')\n"
	"subprocess.run(['xz', '-T2', '-q', '-k', '-c', tar], check=True,\n"
	"               stdout=open(os.path.join(out, 'files/pay.tar.xz'), 'wb'))\n"
	"subprocess.run(['zstd', '-q', '-f', tar, '-o', os.path.join(out, 'files/pay.tar.zst')],\n"
	"               check=True)\n"
	"tree(os.path.join(out, 'src2'), 1)\n"
	"tar = pack(os.path.join(out, 'src2'), 'other.tar')\n"
	"subprocess.run(['zstd', '-q', '-f', tar, '-o', os.path.join(out, "
	"'files/other.tar.zst')],\n"
	"               check=True)\n"
	"tar = os.path.join(out, 'hostile.tar')\n"
	"with tarfile.open(tar, 'w', format=tarfile.GNU_FORMAT) as t:\n"
	"    ti = tarfile.TarInfo('big.bin')\n"
	"    blob = rnd.randbytes(6 << 20)\n"
	"    ti.size = len(blob)\n"
	"    import io\n"
	"    t.addfile(ti, io.BytesIO(blob))\n"
	"    ti = tarfile.TarInfo('../../outside/pwned.txt')\n"
	"    ti.size = 5\n"
	"    t.addfile(ti, io.BytesIO(b'pwned'))\n"
	"subprocess.run(['zstd', '-q', '-f', tar, '-o', os.path.join(out, "
	"'files/hostile.tar.zst')],\n"
	"               check=True)\n";

static void describe(struct artifact *a)
{
	char cmd[256], path[160];
	struct stat st;
	FILE *p;

	snprintf(path, sizeof(path), "%s/%s", files, a->file);
	assert_int_equal(stat(path, &st), 0);
	a->size = (uint64_t)st.st_size;
	snprintf(cmd, sizeof(cmd), "sha256sum %s", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%64s", a->sha), 1);
	pclose(p);
}

static void start_server(void)
{
	char port_file[96], port[16] = "";
	int fd;

	snprintf(port_file, sizeof(port_file), "%s/port", work);
	server = fork();
	assert_true(server >= 0);
	if (server == 0) {
		int null = open("/dev/null", O_WRONLY);

		/* Gone with the test, even when it dies before its teardown. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);

		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execlp("python3", "python3", DSVM_SRCDIR "/tests/tools/testhttpd.py", "--port-file",
		       port_file, "--log", logpath, "--dir", files, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		fd = open(port_file, O_RDONLY);
		if (fd >= 0) {
			ssize_t n = read(fd, port, sizeof(port) - 1);

			close(fd);
			if (n > 0) {
				port[n] = '\0';
				break;
			}
		}
		usleep(50000);
	}
	assert_true(port[0] != '\0');
	port[strcspn(port, "\n")] = '\0';
	snprintf(base, sizeof(base), "http://127.0.0.1:%s", port);
}

static int setup(void **state)
{
	char *argv[] = { (char *)"python3", (char *)"-c", (char *)generator, work, NULL };
	char outside[128];

	(void)state;
	snprintf(work, sizeof(work), "/tmp/dsvm-test-prepare.XXXXXX");
	assert_non_null(mkdtemp(work));
	snprintf(files, sizeof(files), "%s/files", work);
	snprintf(cache, sizeof(cache), "%s/cache", work);
	snprintf(logpath, sizeof(logpath), "%s/requests.log", work);
	snprintf(outside, sizeof(outside), "%s/outside", work);
	assert_int_equal(mkdir(outside, 0755), 0);
	unit_run(argv);
	describe(&xz);
	describe(&zst);
	describe(&other);
	describe(&hostile);
	start_server();
	return 0;
}

static int teardown(void **state)
{
	char *argv[] = { (char *)"rm", (char *)"-rf", work, NULL };

	(void)state;
	if (server > 0) {
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
	}
	unit_run(argv);
	return 0;
}

/* A fresh staging path (not created) under work/stages. */
static char *new_stage(void)
{
	char dir[128], *p;

	snprintf(dir, sizeof(dir), "%s/stages", work);
	mkdir(dir, 0755);
	p = malloc(160);
	assert_non_null(p);
	snprintf(p, 160, "%s/s%u", dir, ++stage_seq);
	return p;
}

static char *url_of(const char *knobs, const struct artifact *a)
{
	char *u = malloc(256);

	assert_non_null(u);
	snprintf(u, 256, "%s/%sfiles/%s", base, knobs, a->file);
	return u;
}

static void clear_cache(void)
{
	char *argv[] = { (char *)"rm", (char *)"-rf", cache, NULL };

	unit_run(argv);
}

static bool in_cache(const struct artifact *a, const char *suffix)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s%s", cache, a->sha, suffix);
	return access(p, F_OK) == 0;
}

/* Requests the server logged for a path ending in tail. */
static unsigned requests(const char *tail)
{
	char line[1024];
	unsigned n = 0;
	FILE *f = fopen(logpath, "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *sp = strchr(line + 4, ' ');

		if (sp && (size_t)(sp - line) >= strlen(tail) &&
		    strncmp(sp - strlen(tail), tail, strlen(tail)) == 0)
			n++;
	}
	fclose(f);
	return n;
}

/* Two trees are the same: contents (diff -r), and each entry's type, mode, size and mtime. */
static char **listing;
static size_t listing_n;
static size_t listing_root;

static int list_add(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	char line[PATH_MAX + 96], **p;

	(void)type;
	if (ftw->level == 0)
		return 0;
	snprintf(line, sizeof(line), "%s %o %lld %lld", path + listing_root, (unsigned)st->st_mode,
		 S_ISDIR(st->st_mode) ? 0LL : (long long)st->st_size,
		 (long long)st->st_mtim.tv_sec);
	p = realloc(listing, (listing_n + 1) * sizeof(*p));
	assert_non_null(p);
	listing = p;
	listing[listing_n] = strdup(line);
	assert_non_null(listing[listing_n]);
	listing_n++;
	return 0;
}

static int cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *tree_listing(const char *dir, size_t *ret_entries)
{
	size_t len = 1;
	char *out;

	listing = NULL;
	listing_n = 0;
	listing_root = strlen(dir);
	assert_int_equal(nftw(dir, list_add, 16, FTW_PHYS), 0);
	if (listing_n > 0)
		qsort(listing, listing_n, sizeof(*listing), cmp_lines);
	for (size_t i = 0; i < listing_n; i++)
		len += strlen(listing[i]) + 1;
	out = calloc(1, len);
	assert_non_null(out);
	for (size_t i = 0; i < listing_n; i++) {
		strcat(out, listing[i]);
		strcat(out, "\n");
		free(listing[i]);
	}
	free(listing);
	*ret_entries = listing_n;
	return out;
}

static void assert_same_tree(const char *a, const char *b)
{
	char *argv[] = { (char *)"diff", (char *)"-r", (char *)"--no-dereference",
			 (char *)a,	 (char *)b,    NULL };
	size_t na, nb;
	char *la = tree_listing(a, &na), *lb = tree_listing(b, &nb);

	if (strcmp(la, lb) != 0)
		fail_msg("trees differ:\n%s\n---\n%s", la, lb);
	assert_true(na > 60);
	assert_int_equal(na, nb);
	free(la);
	free(lb);
	unit_run(argv);
}

/* The tree extracted from the cached file by the plain extractor, for comparison. */
static char *reference_tree(const struct artifact *a)
{
	char path[256];
	char *stage = new_stage();
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_extract *ex = NULL;

	snprintf(path, sizeof(path), "%s/%s", files, a->file);
	assert_ok(ctx, dsvm_extract_new(ctx, stage, NULL, &ex));
	assert_ok(ctx, dsvm_extract_file(ex, path));
	assert_ok(ctx, dsvm_extract_keep(ex));
	dsvm_extract_free(ex);
	dsvm_ctx_free(ctx);
	return stage;
}

static struct dsvm_prepare_item item_for(const struct artifact *a, const char *url,
					 const char *stage)
{
	return (struct dsvm_prepare_item){
		.fetch = { .name = a->file, .url = url, .sha256 = a->sha, .size = a->size },
		.staging_dir = stage,
	};
}

static struct dsvm_fetch_options fast_opts(void)
{
	return (struct dsvm_fetch_options){ .cache_dir = cache,
					    .attempts = 3,
					    .backoff_ms = 50,
					    .connect_timeout_s = 5,
					    .stall_timeout_s = 5 };
}

static void stream_one(const struct artifact *a)
{
	struct dsvm_fetch_options o = fast_opts();
	struct dsvm_prepare_stats st;
	struct dsvm_ctx *ctx = unit_ctx();
	char *url = url_of("", a), *stage = new_stage(), *stage2 = new_stage();
	char *ref = reference_tree(a);
	struct dsvm_prepare_item it = item_for(a, url, stage);
	unsigned before;

	clear_cache();
	/* Cold: one pass from the network. */
	assert_ok(ctx, dsvm_prepare_items(ctx, &o, &it, 1, NULL, &st));
	assert_int_equal(st.fetched, 1);
	assert_int_equal(st.cached + st.failed + st.fallback, 0);
	assert_int_equal(st.transferred, a->size);
	assert_int_equal(st.bytes, a->size);
	assert_true(st.extracted > (3u << 20));
	assert_true(in_cache(a, ""));
	assert_false(in_cache(a, ".part"));
	assert_same_tree(ref, stage);

	/* Warm: read from the cache, nothing transferred, nobody asked. */
	before = requests(a->file);
	it.staging_dir = stage2;
	assert_ok(ctx, dsvm_prepare_items(ctx, &o, &it, 1, NULL, &st));
	assert_int_equal(st.cached, 1);
	assert_int_equal(st.transferred, 0);
	assert_int_equal(requests(a->file), before);
	assert_same_tree(ref, stage2);

	/* The staging directory is the caller's now: never replaced. */
	assert_int_equal(dsvm_prepare_items(ctx, &o, &it, 1, NULL, &st), -EEXIST);
	assert_same_tree(ref, stage2);
	free(url);
	free(stage);
	free(stage2);
	free(ref);
	dsvm_ctx_free(ctx);
}

static void test_stream_xz(void **state)
{
	(void)state;
	stream_one(&xz);
}

static void test_stream_zst(void **state)
{
	(void)state;
	stream_one(&zst);
}

static void test_hash_mismatch(void **state)
{
	struct dsvm_fetch_options o = fast_opts();
	struct dsvm_prepare_stats st;
	struct dsvm_ctx *ctx = unit_ctx();
	struct artifact wrong = xz;
	char *url = url_of("", &xz), *stage = new_stage();
	struct dsvm_prepare_item it;

	(void)state;
	clear_cache();
	memcpy(wrong.sha, zst.sha, sizeof(wrong.sha));
	it = item_for(&wrong, url, stage);
	assert_int_equal(dsvm_prepare_items(ctx, &o, &it, 1, NULL, &st), -EBADMSG);
	assert_error_contains(ctx, "hash mismatch for '");
	assert_int_equal(st.failed, 1);
	assert_int_equal(access(stage, F_OK), -1);
	assert_false(in_cache(&wrong, ""));
	assert_false(in_cache(&wrong, ".part"));
	assert_false(in_cache(&xz, ""));
	free(url);
	free(stage);
	dsvm_ctx_free(ctx);
}

/* A body cut (closed or reset) mid-stream: resumed with a range, extraction carries on. */
static void resume_one(const char *knob, const struct artifact *a)
{
	struct dsvm_fetch_options o = fast_opts();
	struct dsvm_prepare_stats st;
	struct dsvm_ctx *ctx = unit_ctx();
	char knobs[64], *url, *stage = new_stage(), *ref = reference_tree(a);
	struct dsvm_prepare_item it;

	snprintf(knobs, sizeof(knobs), "%s=%" PRIu64 "/", knob, a->size / 3);
	url = url_of(knobs, a);
	it = item_for(a, url, stage);
	clear_cache();
	assert_ok(ctx, dsvm_prepare_items(ctx, &o, &it, 1, NULL, &st));
	assert_int_equal(st.fetched, 1);
	assert_int_equal(st.fallback, 0);
	/* The cut part once, the rest once: nothing transferred twice. */
	assert_int_equal(st.transferred, a->size);
	assert_int_equal(requests(url + strlen(base)), 2);
	assert_same_tree(ref, stage);
	assert_true(in_cache(a, ""));
	free(url);
	free(stage);
	free(ref);
	dsvm_ctx_free(ctx);
}

static void test_resume_truncated(void **state)
{
	(void)state;
	resume_one("cut", &xz);
}

static void test_resume_reset(void **state)
{
	(void)state;
	resume_one("cutrst", &zst);
}

/* Progress calls come from several threads, never two at once. */
struct watch {
	pthread_mutex_t lock;
	int inside;
	bool overlapped;
	unsigned done, cached, failed;
	uint64_t max_index;
};

static void watch_progress(void *userdata, const struct dsvm_fetch_progress *p)
{
	struct watch *w = userdata;
	bool overlap;

	pthread_mutex_lock(&w->lock);
	overlap = w->inside++ > 0;
	pthread_mutex_unlock(&w->lock);
	usleep(200); /* widen the window an unserialised caller would hit */
	pthread_mutex_lock(&w->lock);
	w->overlapped |= overlap;
	w->inside--;
	w->done += p->state == DSVM_FETCH_DONE;
	w->cached += p->state == DSVM_FETCH_CACHED;
	w->failed += p->state == DSVM_FETCH_FAILED;
	if (p->index > w->max_index)
		w->max_index = p->index;
	pthread_mutex_unlock(&w->lock);
}

/* Cut, then the retry is answered with the whole file from byte 0: the long way round. */
static void test_range_ignored(void **state)
{
	struct watch w = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct dsvm_fetch_options o = fast_opts();
	struct dsvm_prepare_stats st;
	struct dsvm_ctx *ctx = unit_ctx();
	char knobs[64], *url, *stage = new_stage(), *ref = reference_tree(&zst);
	struct dsvm_prepare_item it;

	(void)state;
	snprintf(knobs, sizeof(knobs), "norange/cut=%" PRIu64 "/", zst.size / 2);
	url = url_of(knobs, &zst);
	it = item_for(&zst, url, stage);
	o.progress = watch_progress;
	o.progress_userdata = &w;
	clear_cache();
	assert_ok(ctx, dsvm_prepare_items(ctx, &o, &it, 1, NULL, &st));
	assert_int_equal(st.fallback, 1);
	assert_int_equal(st.failed, 0);
	/* Never reported as failed: fetched, then extracted from the cache. */
	assert_int_equal(w.failed, 0);
	assert_int_equal(w.done, 1);
	assert_int_equal(w.cached, 1);
	assert_same_tree(ref, stage);
	assert_true(in_cache(&zst, ""));
	assert_false(in_cache(&zst, ".part"));
	free(url);
	free(stage);
	free(ref);
	dsvm_ctx_free(ctx);
}

static void test_hostile_streamed(void **state)
{
	struct dsvm_fetch_options o = fast_opts();
	struct dsvm_prepare_stats st;
	struct dsvm_ctx *ctx = unit_ctx();
	char *url = url_of("", &hostile), stage[256], outside[256];
	struct dsvm_prepare_item it;
	char *before, *after;
	size_t n;

	(void)state;
	/* Staged two levels below work/, so '../../outside' aims at work/outside. */
	snprintf(stage, sizeof(stage), "%s/stages/h", work);
	mkdir(stage, 0755);
	snprintf(stage, sizeof(stage), "%s/stages/h/stage", work);
	snprintf(outside, sizeof(outside), "%s/outside", work);
	before = tree_listing(outside, &n);
	it = item_for(&hostile, url, stage);
	clear_cache();
	assert_int_equal(dsvm_prepare_items(ctx, &o, &it, 1, NULL, &st), -EBADMSG);
	assert_error_contains(ctx, "entry '../../outside/pwned.txt' has a '..' component");
	assert_int_equal(st.failed, 1);
	assert_int_equal(access(stage, F_OK), -1);
	assert_false(in_cache(&hostile, ""));
	assert_false(in_cache(&hostile, ".part"));
	after = tree_listing(outside, &n);
	assert_string_equal(before, after);
	assert_int_equal(n, 0);
	free(before);
	free(after);
	free(url);
	dsvm_ctx_free(ctx);
}

/*
 * A mirror serving other bytes (here an archive the extraction refuses) is skipped, as fetch skips
 * it: the digest decides, not the archive's first entries. The item goes the long way round.
 */
static void test_bad_mirror(void **state)
{
	struct dsvm_fetch_options o = fast_opts();
	struct dsvm_prepare_stats st;
	struct dsvm_ctx *ctx = unit_ctx();
	char *url = url_of("", &zst), *stage = new_stage(), *stage2 = new_stage();
	char *ref = reference_tree(&zst);
	char mirror[128], dir[256], bad[384], src[256], bad_url[256];
	const char *mirrors[] = { mirror, NULL };
	char *mk[] = { (char *)"mkdir", (char *)"-p", dir, NULL };
	char *cp[] = { (char *)"cp", (char *)"-f", src, bad, NULL };
	struct dsvm_prepare_item it = item_for(&zst, url, stage);

	(void)state;
	/* MIRROR/sha256/<zst's hash> holds the hostile archive. */
	snprintf(mirror, sizeof(mirror), "%s/files/badmirror", base);
	snprintf(dir, sizeof(dir), "%s/badmirror/sha256", files);
	snprintf(bad, sizeof(bad), "%s/%s", dir, zst.sha);
	snprintf(src, sizeof(src), "%s/%s", files, hostile.file);
	snprintf(bad_url, sizeof(bad_url), "%s/sha256/%s", mirror, zst.sha);
	unit_run(mk);
	unit_run(cp);
	o.mirrors = mirrors;
	clear_cache();
	assert_ok(ctx, dsvm_prepare_items(ctx, &o, &it, 1, NULL, &st));
	assert_int_equal(st.fallback, 1);
	assert_same_tree(ref, stage);
	assert_true(in_cache(&zst, ""));

	/* With no other source, the verdict is the mismatch, not the refused entry. */
	o.mirrors = NULL;
	it.fetch.url = bad_url;
	it.staging_dir = stage2;
	clear_cache();
	assert_int_equal(dsvm_prepare_items(ctx, &o, &it, 1, NULL, &st), -EBADMSG);
	assert_error_contains(ctx, "hash mismatch for '");
	assert_int_equal(access(stage2, F_OK), -1);
	assert_false(in_cache(&zst, ""));
	free(url);
	free(stage);
	free(stage2);
	free(ref);
	dsvm_ctx_free(ctx);
}

static void test_parallel(void **state)
{
	struct watch w = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct dsvm_fetch_options o = fast_opts();
	struct dsvm_prepare_stats st;
	struct dsvm_ctx *ctx = unit_ctx();
	const struct artifact *arts[] = { &xz, &zst, &other, &zst, &xz };
	char *urls[6], *stages[6], *refs[3];
	struct dsvm_prepare_item items[6];
	char missing[256];

	(void)state;
	refs[0] = reference_tree(&xz);
	refs[1] = reference_tree(&zst);
	refs[2] = reference_tree(&other);
	for (size_t i = 0; i < 5; i++) {
		urls[i] = url_of(i == 1 ? "cut=100000/" : "", arts[i]);
		stages[i] = new_stage();
		items[i] = item_for(arts[i], urls[i], stages[i]);
	}
	/* One that fails (404) among them: the others still end with their trees. */
	snprintf(missing, sizeof(missing), "%s/files/nothing-here.tar.zst", base);
	stages[5] = new_stage();
	urls[5] = NULL;
	items[5] = item_for(&other, missing, stages[5]);
	items[5].fetch.sha256 = "00000000000000000000000000000000000000000000000000000000000000"
				"00";
	items[5].fetch.size = 0;
	items[5].fetch.name = "missing";
	o.parallel = 3;
	o.progress = watch_progress;
	o.progress_userdata = &w;
	clear_cache();
	assert_int_equal(dsvm_prepare_items(ctx, &o, items, 6, NULL, &st), -ENOENT);
	assert_error_contains(ctx, "nothing-here.tar.zst' answered HTTP 404");
	assert_int_equal(st.failed, 1);
	/* xz and zst are each fetched once; their second trees come from the cache. */
	assert_int_equal(st.fetched, 3);
	assert_int_equal(st.cached, 2);
	assert_int_equal(st.transferred, xz.size + zst.size + other.size);
	assert_false(w.overlapped);
	assert_int_equal(w.done, 3);
	assert_int_equal(w.cached, 2);
	assert_int_equal(w.failed, 1);
	assert_int_equal(w.max_index, 5);
	assert_same_tree(refs[0], stages[0]);
	assert_same_tree(refs[1], stages[1]);
	assert_same_tree(refs[2], stages[2]);
	assert_same_tree(refs[1], stages[3]);
	assert_same_tree(refs[0], stages[4]);
	assert_int_equal(access(stages[5], F_OK), -1);
	for (size_t i = 0; i < 6; i++) {
		free(urls[i]);
		free(stages[i]);
	}
	for (size_t i = 0; i < 3; i++)
		free(refs[i]);
	dsvm_ctx_free(ctx);
}

static void test_bad_items(void **state)
{
	struct dsvm_fetch_options o = fast_opts();
	struct dsvm_ctx *ctx = unit_ctx();
	char *url = url_of("", &zst), *stage = new_stage();
	struct dsvm_prepare_item it = item_for(&zst, url, stage);
	struct dsvm_fetch_tee tee = { 0 };

	(void)state;
	it.staging_dir = NULL;
	assert_int_equal(dsvm_prepare_items(ctx, &o, &it, 1, NULL, NULL), -EINVAL);
	assert_error_contains(ctx, "has no staging directory");
	it.staging_dir = stage;
	it.fetch.tee = &tee;
	assert_int_equal(dsvm_prepare_items(ctx, &o, &it, 1, NULL, NULL), -EINVAL);
	assert_error_contains(ctx, "has its own sink or tee");
	it.fetch.tee = NULL;
	it.fetch.sha256 = "abc";
	assert_int_equal(dsvm_prepare_items(ctx, &o, &it, 1, NULL, NULL), -EINVAL);
	assert_error_contains(ctx, "has no valid sha256");
	o.cache_dir = NULL;
	assert_int_equal(dsvm_prepare_items(ctx, &o, &it, 1, NULL, NULL), -EINVAL);
	/* Nothing to do is success. */
	o.cache_dir = cache;
	assert_ok(ctx, dsvm_prepare_items(ctx, &o, NULL, 0, NULL, NULL));
	assert_int_equal(access(stage, F_OK), -1);
	free(url);
	free(stage);
	dsvm_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_xz),	 cmocka_unit_test(test_stream_zst),
		cmocka_unit_test(test_hash_mismatch),	 cmocka_unit_test(test_resume_truncated),
		cmocka_unit_test(test_resume_reset),	 cmocka_unit_test(test_range_ignored),
		cmocka_unit_test(test_hostile_streamed), cmocka_unit_test(test_bad_mirror),
		cmocka_unit_test(test_parallel),	 cmocka_unit_test(test_bad_items),
	};

	if (access("/usr/bin/python3", X_OK) < 0 || access("/usr/bin/xz", X_OK) < 0 ||
	    access("/usr/bin/zstd", X_OK) < 0) {
		printf("skip: test-prepare needs python3, xz and zstd (make deps)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
