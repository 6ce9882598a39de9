/* SPDX-License-Identifier: MIT */
/*
 * T4 hostile archives (TESTING.md) and the extractor's contract. The archives are generated at
 * test time by tests/tools/make-hostile-archives.py (python3 tarfile/zipfile); each is extracted
 * into ROOT/a/b/stage next to a sentinel tree ROOT/outside that the hostile ones aim at. Every
 * hostile case must be refused with its own reason, the staging tree must be gone, and no byte
 * may change anywhere under ROOT; every benign case must extract and commit.
 */
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "unit.h"
#include "dsvm/extract.h"

#define BUDGET_ENTRIES 500
#define BUDGET_BYTES (16u << 20)

static char work[64];
static char root[96];
static char archives[96];
static bool have_archives;

/* nftw has no user pointer: the snapshot being built lives here. */
static char *snap;
static size_t snap_len;

static int snap_add(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	char line[PATH_MAX + 96];
	int n;
	char *p;

	(void)type;
	(void)ftw;
	n = snprintf(line, sizeof(line), "%s %o %lld %lld.%09ld\n", path, (unsigned)st->st_mode,
		     (long long)st->st_size, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	p = realloc(snap, snap_len + (size_t)n + 1);
	assert_non_null(p);
	snap = p;
	memcpy(snap + snap_len, line, (size_t)n + 1);
	snap_len += (size_t)n;
	return 0;
}

/* Every path under dir with mode, size and mtime, one per line. Caller frees. */
static char *snapshot(const char *dir)
{
	snap = NULL;
	snap_len = 0;
	assert_int_equal(nftw(dir, snap_add, 16, FTW_PHYS), 0);
	return snap;
}

/*
 * Bytes of non-directories in after that are new or changed relative to before (+1 each, so an
 * empty new file counts too); fails on any path that did not exist before. Directories' own
 * mtimes change when the stage inside them is removed, and are not bytes written.
 */
static uint64_t bytes_changed(const char *name, const char *before, const char *after)
{
	uint64_t bytes = 0;

	for (const char *l = after; *l;) {
		const char *end = strchr(l, '\n');
		char *line = strndup(l, (size_t)(end - l) + 1);
		char *sp, *path;
		unsigned mode;

		assert_non_null(line);
		sp = strchr(line, ' ');
		path = strndup(line, (size_t)(sp - line) + 1); /* "path " */
		assert_non_null(path);
		if (!strstr(before, path))
			fail_msg("%s: '%s' appeared outside the target", name, path);
		mode = (unsigned)strtoul(sp + 1, &sp, 8);
		if (!S_ISDIR(mode) && !strstr(before, line))
			bytes += strtoull(sp + 1, NULL, 10) + 1;
		free(path);
		free(line);
		l = end + 1;
	}
	return bytes;
}

static int setup(void **state)
{
	char outside[PATH_MAX + 16], secret[PATH_MAX + 32];
	char *argv[] = { (char *)"python3",
			 (char *)DSVM_SRCDIR "/tests/tools/make-hostile-archives.py",
			 (char *)"--outside",
			 outside,
			 archives,
			 NULL };
	int fd;

	(void)state;
	snprintf(work, sizeof(work), "/tmp/dsvm-test-extract.XXXXXX");
	assert_non_null(mkdtemp(work));
	snprintf(root, sizeof(root), "%s/root", work);
	snprintf(archives, sizeof(archives), "%s/archives", work);
	snprintf(outside, sizeof(outside), "%s/outside", root);
	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(mkdir(outside, 0755), 0);
	snprintf(secret, sizeof(secret), "%s/secret", outside);
	fd = open(secret, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "sentinel\n", 9), 9);
	close(fd);
	snprintf(secret, sizeof(secret), "%s/a", root);
	assert_int_equal(mkdir(secret, 0755), 0);
	snprintf(secret, sizeof(secret), "%s/a/b", root);
	assert_int_equal(mkdir(secret, 0755), 0);
	if (access("/usr/bin/python3", X_OK) == 0) {
		unit_run(argv);
		have_archives = true;
	}
	return 0;
}

static int teardown(void **state)
{
	char *argv[] = { (char *)"rm", (char *)"-rf", work, NULL };

	(void)state;
	unit_run(argv);
	return 0;
}

static struct dsvm_extract *new_extract(struct dsvm_ctx *ctx, const char *stage)
{
	struct dsvm_extract_options o = { .max_bytes = BUDGET_BYTES,
					  .max_entries = BUDGET_ENTRIES };
	struct dsvm_extract *ex = NULL;

	assert_ok(ctx, dsvm_extract_new(ctx, stage, &o, &ex));
	return ex;
}

/* The benign payload's shape, after commit. */
static void check_benign(const char *dir)
{
	char p[PATH_MAX + 64];
	struct stat st, st2;

	snprintf(p, sizeof(p), "%s/pkg/lib/libfoo.so", dir);
	assert_int_equal(stat(p, &st), 0); /* follows libfoo.so -> .so.1 -> .so.1.2 */
	assert_int_equal(st.st_size, 4100);
	assert_int_equal(st.st_nlink, 2);
	snprintf(p, sizeof(p), "%s/pkg/lib/libfoo-copy.so.1.2", dir);
	assert_int_equal(stat(p, &st2), 0);
	assert_int_equal(st.st_ino, st2.st_ino);
	snprintf(p, sizeof(p), "%s/pkg/bin/tool", dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0111, 0111);
	snprintf(p, sizeof(p), "%s/pkg/include/libfoo.so.1.2", dir);
	assert_int_equal(stat(p, &st), 0);
	snprintf(p, sizeof(p), "%s/pkg/readonly/LICENSE", dir);
	assert_int_equal(stat(p, &st), 0);
	/* Times come from the archive: files, links, and directories once the archive ended. */
	assert_int_equal(st.st_mtime, 1700000000);
	snprintf(p, sizeof(p), "%s/pkg/lib/libfoo.so", dir);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mtime, 1700000000);
	snprintf(p, sizeof(p), "%s/pkg/lib", dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mtime, 1700000000);
}

/* path (under dir) is a symbolic link to target. */
static void assert_link(const char *dir, const char *path, const char *target)
{
	char p[PATH_MAX + 64], buf[PATH_MAX];
	ssize_t n;

	snprintf(p, sizeof(p), "%s/%s", dir, path);
	n = readlink(p, buf, sizeof(buf) - 1);
	if (n < 0)
		fail_msg("'%s' is not a symbolic link: %s", p, strerror(errno));
	buf[n] = '\0';
	assert_string_equal(buf, target);
}

/* path (under dir) exists, not a link, without setuid or setgid bits, with mode & 0777 perm. */
static void assert_stripped(const char *dir, const char *path, unsigned perm)
{
	mode_t mask = umask(0);
	char p[PATH_MAX + 64];
	struct stat st;

	umask(mask);
	snprintf(p, sizeof(p), "%s/%s", dir, path);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & (S_ISUID | S_ISGID), 0);
	assert_int_equal(st.st_mode & 0777, perm & ~(unsigned)mask);
}

/* Every link of the system paths the real-system archive holds came out with its target. */
static void check_real_system(const char *dest, struct dsvm_extract *ex)
{
	static const char *const links[] = {
		"usr/lib/x86_64-linux-gnu/libz.so",
		"usr/lib/x86_64-linux-gnu/libbz2.so",
		"usr/lib/x86_64-linux-gnu/libyaml.so",
		"usr/lib/clang/14/include",
		"usr/lib/gold-ld/ld",
	};
	unsigned checked = 0;

	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		char sys[PATH_MAX], target[PATH_MAX];
		ssize_t n;

		snprintf(sys, sizeof(sys), "/%s", links[i]);
		n = readlink(sys, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		assert_link(dest, links[i], target);
		checked++;
	}
	assert_true(checked >= 3);
	if (access("/usr/bin/passwd", F_OK) == 0) {
		char p[PATH_MAX + 32];
		struct stat st;

		snprintf(p, sizeof(p), "%s/usr/bin/passwd", dest);
		assert_int_equal(lstat(p, &st), 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_mode & (S_ISUID | S_ISGID), 0);
		assert_true(dsvm_extract_get_stripped(ex, NULL) >= 1);
	}
}

static void check_accepted(const char *name, const char *dest, struct dsvm_extract *ex)
{
	char p[PATH_MAX + 64];
	struct stat st;
	const char *first = NULL;

	if (strcmp(name, "setuid-stripped") != 0 && strcmp(name, "zip-setuid-stripped") != 0 &&
	    strcmp(name, "real-system") != 0)
		assert_int_equal(dsvm_extract_get_stripped(ex, NULL), 0);
	if (strcmp(name, "links-out") == 0) {
		char want[PATH_MAX + 32];

		snprintf(want, sizeof(want), "%s/outside/secret", root);
		assert_link(dest, "lib/libz.so", want);
		assert_link(dest, "include/x", "../../../outside/secret");
		assert_link(dest, "a/x", "up/../..");
		assert_link(dest, "a/up", "..");
		snprintf(p, sizeof(p), "%s/lib/libz.so.1", dest);
		assert_int_equal(lstat(p, &st), 0);
		assert_true(S_ISREG(st.st_mode));
		/* Delayed links get their times too. */
		snprintf(p, sizeof(p), "%s/lib/libz.so", dest);
		assert_int_equal(lstat(p, &st), 0);
		assert_int_equal(st.st_mtime, 1700000000);
	} else if (strcmp(name, "links-out-two-archives") == 0) {
		assert_link(dest, "a/l", "b/../..");
		assert_link(dest, "a/b", "..");
	} else if (strcmp(name, "zip-link-out") == 0) {
		assert_link(dest, "l", "../../../outside/secret");
	} else if (strcmp(name, "setuid-stripped") == 0) {
		assert_stripped(dest, "bin/su2", 0755);
		assert_stripped(dest, "bin/helper", 0755);
		assert_stripped(dest, "shared", 0775);
		assert_int_equal(dsvm_extract_get_stripped(ex, &first), 3);
		assert_string_equal(first, "bin/su2");
	} else if (strcmp(name, "zip-setuid-stripped") == 0) {
		assert_stripped(dest, "tool", 0755);
		assert_int_equal(dsvm_extract_get_stripped(ex, &first), 1);
		assert_string_equal(first, "tool");
	} else if (strcmp(name, "real-system") == 0) {
		check_real_system(dest, ex);
	} else if (strncmp(name, "benign-tar", 10) == 0) {
		check_benign(dest);
	} else if (strcmp(name, "benign-zip") == 0) {
		snprintf(p, sizeof(p), "%s/pkg/b", dest);
		assert_int_equal(lstat(p, &st), 0);
		assert_true(S_ISLNK(st.st_mode));
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_size, 1);
	} else if (strcmp(name, "benign-replace") == 0) {
		char buf[8] = "";
		int fd;

		snprintf(p, sizeof(p), "%s/pkg/a", dest);
		fd = open(p, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(read(fd, buf, sizeof(buf)), 2);
		close(fd);
		assert_string_equal(buf, "22");
	} else if (strcmp(name, "benign-two-archives") == 0) {
		/* The second archive wrote under usr/lib, never through the planted 'lib' link. */
		snprintf(p, sizeof(p), "%s/lib/libbar.so", dest);
		assert_int_equal(stat(p, &st), 0);
	}
}

static void test_hostile_archives(void **state)
{
	char cases[PATH_MAX + 16], stage[PATH_MAX + 16], dest[PATH_MAX + 16];
	unsigned hostile = 0, rejected = 0, benign = 0, accepted = 0;
	uint64_t outside_bytes = 0;
	char line[4096];
	FILE *f;

	(void)state;
	if (!have_archives)
		skip();
	snprintf(cases, sizeof(cases), "%s/cases.txt", archives);
	snprintf(stage, sizeof(stage), "%s/a/b/stage", root);
	snprintf(dest, sizeof(dest), "%s/a/b/done", root);
	f = fopen(cases, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *expect = strtok(line, "\t\n"), *name = strtok(NULL, "\t\n");
		char *list = strtok(NULL, "\t\n"), *text = strtok(NULL, "\t\n");
		bool reject = strcmp(expect, "reject") == 0;
		struct dsvm_ctx *ctx = unit_ctx();
		struct dsvm_extract *ex = new_extract(ctx, stage);
		char *before = snapshot(root);
		char *after, *save = NULL;
		int r = 0;

		for (char *a = strtok_r(list, "+", &save); a && r == 0;
		     a = strtok_r(NULL, "+", &save)) {
			char path[PATH_MAX + 300];

			snprintf(path, sizeof(path), "%s/%s", archives, a);
			r = dsvm_extract_file(ex, path);
		}
		if (reject) {
			hostile++;
			if (r >= 0)
				fail_msg("%s: extracted, expected a refusal with '%s'", name, text);
			assert_error_contains(ctx, text);
			/* The error names the archive and the entry. */
			assert_error_contains(ctx, "archive '");
			assert_int_equal(access(stage, F_OK), -1);
			after = snapshot(root);
			outside_bytes += bytes_changed(name, before, after);
			free(after);
			rejected++;
			printf("    rejected %-30s %s\n", name, dsvm_ctx_get_error(ctx));
		} else {
			benign++;
			assert_ok(ctx, r);
			assert_ok(ctx, dsvm_extract_commit(ex, dest));
			check_accepted(name, dest, ex);
			{
				char *argv[] = { (char *)"rm", (char *)"-rf", dest, NULL };

				unit_run(argv);
			}
			after = snapshot(root);
			outside_bytes += bytes_changed(name, before, after);
			free(after);
			accepted++;
		}
		dsvm_extract_free(ex);
		free(before);
		dsvm_ctx_free(ctx);
	}
	fclose(f);
	assert_true(hostile >= 25);
	assert_true(benign >= 12);
	assert_int_equal(rejected, hostile);
	assert_int_equal(accepted, benign);
	assert_int_equal(outside_bytes, 0);
	printf("T4: %u/%u hostile archives rejected, %" PRIu64 " bytes outside the target (%u/%u "
	       "benign archives extracted)\n",
	       rejected, hostile, outside_bytes, accepted, benign);
}

static ssize_t fd_read(void *userdata, void *buf, size_t size)
{
	ssize_t n = read(*(int *)userdata, buf, size);

	return n < 0 ? -errno : n;
}

/* The one-pass path reads through a callback: same checks, same result. */
static void test_stream(void **state)
{
	char path[PATH_MAX + 32], stage[PATH_MAX + 16], dest[PATH_MAX + 16];
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_extract *ex;
	int fd;

	(void)state;
	if (!have_archives)
		skip();
	snprintf(stage, sizeof(stage), "%s/a/b/stream", root);
	snprintf(dest, sizeof(dest), "%s/a/b/stream-done", root);
	snprintf(path, sizeof(path), "%s/benign.tar.xz", archives);
	ex = new_extract(ctx, stage);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_ok(ctx, dsvm_extract_stream(ex, "benign.tar.xz", fd_read, &fd));
	close(fd);
	assert_true(dsvm_extract_get_bytes(ex) >= 4100 + 18 + 4);
	assert_int_equal(dsvm_extract_get_entries(ex), 12);
	assert_ok(ctx, dsvm_extract_commit(ex, dest));
	check_benign(dest);
	/* Committed once: a second commit or extraction is refused. */
	assert_int_equal(dsvm_extract_commit(ex, dest), -ESTALE);
	dsvm_extract_free(ex);
	assert_int_equal(access(dest, F_OK), 0); /* free keeps a committed tree */

	/* The same hostile stream is refused as from a file. */
	snprintf(path, sizeof(path), "%s/zip-slip.zip", archives);
	ex = new_extract(ctx, stage);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(dsvm_extract_stream(ex, "zip-slip.zip", fd_read, &fd), -EBADMSG);
	assert_error_contains(ctx, "archive 'zip-slip.zip': entry '../../../outside/pwned.txt'");
	close(fd);
	assert_int_equal(access(stage, F_OK), -1);
	dsvm_extract_free(ex);
	dsvm_ctx_free(ctx);
}

static void test_contract(void **state)
{
	char stage[PATH_MAX + 16], dest[PATH_MAX + 16], cwd[PATH_MAX], cwd2[PATH_MAX],
		p[PATH_MAX + 64];
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_extract *ex = NULL;

	(void)state;
	if (!have_archives)
		skip();
	snprintf(stage, sizeof(stage), "%s/a/b/c", root);
	snprintf(dest, sizeof(dest), "%s/outside", root);
	ex = new_extract(ctx, stage);
	/* An existing staging directory is refused: it must start empty. */
	assert_int_equal(dsvm_extract_new(ctx, stage, NULL, &ex), -EEXIST);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(p, sizeof(p), "%s/benign.zip", archives);
	assert_ok(ctx, dsvm_extract_file(ex, p));
	assert_non_null(getcwd(cwd2, sizeof(cwd2)));
	assert_string_equal(cwd, cwd2); /* the working directory is given back */
	/* A destination that exists is never replaced. */
	assert_int_equal(dsvm_extract_commit(ex, dest), -EEXIST);
	/* Not an archive: refused, and the staging tree goes. */
	snprintf(p, sizeof(p), "%s/cases.txt", archives);
	assert_int_equal(dsvm_extract_file(ex, p), -EBADMSG);
	assert_int_equal(access(stage, F_OK), -1);
	assert_int_equal(dsvm_extract_file(ex, p), -ESTALE);
	dsvm_extract_free(ex);
	/* Freed without commit: the staging tree is removed. */
	ex = new_extract(ctx, stage);
	snprintf(p, sizeof(p), "%s/benign.tar.gz", archives);
	assert_ok(ctx, dsvm_extract_file(ex, p));
	dsvm_extract_free(ex);
	assert_int_equal(access(stage, F_OK), -1);
	dsvm_ctx_free(ctx);
}

struct thread_job {
	char stage[PATH_MAX + 16];
	char dest[PATH_MAX + 16];
	int rounds;
	int result;
	char error[512];
};

static void *extract_thread(void *userdata)
{
	struct thread_job *t = userdata;
	struct dsvm_ctx *ctx = dsvm_ctx_new();
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/benign.tar.xz", archives);
	for (int i = 0; ctx && i < t->rounds && t->result == 0; i++) {
		struct dsvm_extract *ex = NULL;

		t->result = dsvm_extract_new(ctx, t->stage, NULL, &ex);
		if (t->result == 0)
			t->result = dsvm_extract_file(ex, path);
		if (t->result == 0 && i + 1 == t->rounds)
			t->result = dsvm_extract_commit(ex, t->dest);
		dsvm_extract_free(ex);
	}
	if (ctx)
		snprintf(t->error, sizeof(t->error), "%s", dsvm_ctx_get_error(ctx));
	dsvm_ctx_free(ctx);
	return NULL;
}

/* Extractions in parallel threads: nothing depends on the working directory any more. */
static void test_threads(void **state)
{
	struct thread_job jobs[3];
	pthread_t tids[3];
	char cwd[PATH_MAX], cwd2[PATH_MAX];

	(void)state;
	if (!have_archives)
		skip();
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	for (int i = 0; i < 3; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		snprintf(jobs[i].stage, sizeof(jobs[i].stage), "%s/a/b/thread%d", root, i);
		snprintf(jobs[i].dest, sizeof(jobs[i].dest), "%s/a/b/thread%d-done", root, i);
		jobs[i].rounds = 20;
		assert_int_equal(pthread_create(&tids[i], NULL, extract_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		char *argv[] = { (char *)"rm", (char *)"-rf", jobs[i].dest, NULL };

		assert_int_equal(pthread_join(tids[i], NULL), 0);
		if (jobs[i].result < 0)
			fail_msg("thread %d: %d: %s", i, jobs[i].result, jobs[i].error);
		check_benign(jobs[i].dest);
		unit_run(argv);
	}
	assert_non_null(getcwd(cwd2, sizeof(cwd2)));
	assert_string_equal(cwd, cwd2);
}

/*
 * A write that fails (here EFBIG from RLIMIT_FSIZE, standing for ENOSPC or EIO, which need a
 * full or broken file system) fails the extraction naming the path and the cause, and no short
 * file is left anywhere.
 */
static void test_write_error(void **state)
{
	char path[PATH_MAX + 32], stage[PATH_MAX + 16], want[PATH_MAX + 64];
	struct dsvm_ctx *ctx = unit_ctx();
	struct rlimit old, small;
	struct dsvm_extract *ex;
	int r;

	(void)state;
	if (!have_archives)
		skip();
	snprintf(stage, sizeof(stage), "%s/a/b/wfail", root);
	snprintf(path, sizeof(path), "%s/benign.tar.gz", archives);
	ex = new_extract(ctx, stage);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 1000; /* libfoo.so.1.2 holds 4100 bytes */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	r = dsvm_extract_file(ex, path);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(r, -EFBIG);
	snprintf(want, sizeof(want), "cannot write '%s/pkg/lib/libfoo.so.1.2'", stage);
	assert_error_contains(ctx, want);
	assert_error_contains(ctx, "File too large; the staging tree was removed");
	assert_int_equal(access(stage, F_OK), -1);
	dsvm_extract_free(ex);
	dsvm_ctx_free(ctx);
}

/* A sparse file (GNU tar -S) comes back with its holes and its full size, tail hole included. */
static void test_sparse(void **state)
{
	char dir[PATH_MAX + 16], file[PATH_MAX + 32], tarball[PATH_MAX + 32], stage[PATH_MAX + 16];
	char *argv[] = { (char *)"tar", (char *)"-S", (char *)"-C",	dir,
			 (char *)"-cf", tarball,      (char *)"sparse", NULL };
	static const char mark[] = "middle of nowhere";
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_extract *ex;
	char buf[sizeof(mark)];
	struct stat st;
	int fd;

	(void)state;
	if (access("/usr/bin/tar", X_OK) < 0 && access("/bin/tar", X_OK) < 0)
		skip();
	snprintf(dir, sizeof(dir), "%s/sparse-src", work);
	snprintf(file, sizeof(file), "%s/sparse", dir);
	snprintf(tarball, sizeof(tarball), "%s/sparse.tar", work);
	snprintf(stage, sizeof(stage), "%s/a/b/sparse", root);
	assert_int_equal(mkdir(dir, 0755), 0);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, mark, sizeof(mark), 1 << 20), (ssize_t)sizeof(mark));
	assert_int_equal(ftruncate(fd, 3 << 20), 0);
	close(fd);
	unit_run(argv);
	ex = new_extract(ctx, stage);
	assert_ok(ctx, dsvm_extract_file(ex, tarball));
	snprintf(file, sizeof(file), "%s/sparse", stage);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_size, 3 << 20);
	assert_true(dsvm_extract_get_bytes(ex) >= (3u << 20));
	fd = open(file, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), 1 << 20), (ssize_t)sizeof(buf));
	assert_memory_equal(buf, mark, sizeof(mark));
	assert_int_equal(pread(fd, buf, 4, (2 << 20) + 5), 4);
	assert_memory_equal(buf, "\0\0\0\0", 4);
	close(fd);
	/* Kept in place: free leaves the tree, and it can no longer be used. */
	assert_ok(ctx, dsvm_extract_keep(ex));
	assert_int_equal(dsvm_extract_file(ex, tarball), -ESTALE);
	dsvm_extract_free(ex);
	assert_int_equal(stat(file, &st), 0);
	{
		char *rm[] = { (char *)"rm", (char *)"-rf", stage, NULL };

		unit_run(rm);
	}
	dsvm_ctx_free(ctx);
}

/* A setuid payload the component allows keeps its bits; nothing is counted as stripped. */
static void test_allow_setuid(void **state)
{
	char path[PATH_MAX + 32], stage[PATH_MAX + 16];
	struct dsvm_extract_options o = { .allow_setuid = true };
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_extract *ex = NULL;
	struct stat st;

	(void)state;
	if (!have_archives)
		skip();
	snprintf(stage, sizeof(stage), "%s/a/b/setuid", root);
	snprintf(path, sizeof(path), "%s/setuid.tar", archives);
	assert_ok(ctx, dsvm_extract_new(ctx, stage, &o, &ex));
	assert_ok(ctx, dsvm_extract_file(ex, path));
	assert_int_equal(dsvm_extract_get_stripped(ex, NULL), 0);
	snprintf(path, sizeof(path), "%s/bin/su2", stage);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07000, S_ISUID);
	snprintf(path, sizeof(path), "%s/shared", stage);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07000, S_ISGID);
	dsvm_extract_free(ex);
	assert_int_equal(access(stage, F_OK), -1);
	dsvm_ctx_free(ctx);
}

/* A zero bomb of mib MiB (tests/tools/make-hostile-archives.py --zero-bomb) into path. */
static void make_bomb(unsigned mib, char *path, size_t size)
{
	char arg[16];
	char *argv[] = { (char *)"python3",
			 (char *)DSVM_SRCDIR "/tests/tools/make-hostile-archives.py",
			 (char *)"--zero-bomb",
			 arg,
			 archives,
			 NULL };

	snprintf(arg, sizeof(arg), "%u", mib);
	snprintf(path, size, "%s/zeros-%u.tar.xz", archives, mib);
	if (access(path, F_OK) < 0)
		unit_run(argv);
}

/*
 * Section 5 of issue 9: an artifact expands only as far as its budget allows (a multiple of
 * its pinned size, or the unpacked_size its manifest states), and bytes extracted before its
 * digest is known have a smaller budget of their own.
 */
static void test_expansion_budget(void **state)
{
	char bomb[PATH_MAX + 32], small[PATH_MAX + 32], stage[PATH_MAX + 16];
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_extract *ex = NULL;
	struct dsvm_extract_options o;
	uint64_t bomb_size;
	struct stat st;

	(void)state;
	if (!have_archives || access("/usr/bin/xz", X_OK) < 0)
		skip();
	make_bomb(4096, bomb, sizeof(bomb));
	make_bomb(256, small, sizeof(small));
	snprintf(stage, sizeof(stage), "%s/a/b/bomb", root);
	assert_int_equal(stat(bomb, &st), 0);
	bomb_size = (uint64_t)st.st_size;

	/* Pinned size only: 100 times it (at least 64 MiB) is allowed; 4 GiB is refused. */
	o = (struct dsvm_extract_options){ 0 };
	dsvm_extract_options_for_artifact(&o, (uint64_t)st.st_size, 0);
	assert_int_equal(o.max_bytes, UINT64_C(64) << 20);
	assert_ok(ctx, dsvm_extract_new(ctx, stage, &o, &ex));
	assert_int_equal(dsvm_extract_file(ex, bomb), -EFBIG);
	assert_error_contains(ctx, "entry 'zeros.bin' would expand the archive's");
	assert_error_contains(ctx, "to at least 4.0 GiB (");
	assert_error_contains(ctx, ":1), past the 64.0 MiB (");
	assert_error_contains(ctx, "state 'unpacked_size: 4294967296'");
	assert_int_equal(access(stage, F_OK), -1);
	assert_int_equal(dsvm_extract_get_bytes(ex), 0);
	dsvm_extract_free(ex);

	/*
	 * Allowed by unpacked_size, but still unverified: stopped at the unverified budget
	 * (-EAGAIN: extract again once the digest matched).
	 */
	o = (struct dsvm_extract_options){ 0 };
	dsvm_extract_options_for_artifact(&o, (uint64_t)st.st_size, UINT64_C(4) << 30);
	assert_int_equal(o.max_bytes, UINT64_C(4) << 30);
	assert_int_equal(o.unverified_bytes, UINT64_C(64) << 20);
	assert_ok(ctx, dsvm_extract_new(ctx, stage, &o, &ex));
	assert_int_equal(dsvm_extract_file(ex, small), -EAGAIN);
	assert_error_contains(ctx, "before the archive's digest is known");
	assert_int_equal(access(stage, F_OK), -1);
	dsvm_extract_free(ex);

	/* Verified and allowed: it extracts, every byte. */
	assert_int_equal(stat(small, &st), 0);
	o = (struct dsvm_extract_options){ 0 };
	dsvm_extract_options_for_artifact(&o, (uint64_t)st.st_size, UINT64_C(256) << 20);
	o.unverified_bytes = 0;
	assert_ok(ctx, dsvm_extract_new(ctx, stage, &o, &ex));
	assert_ok(ctx, dsvm_extract_file(ex, small));
	assert_int_equal(dsvm_extract_get_bytes(ex), UINT64_C(256) << 20);
	dsvm_extract_free(ex);
	printf("budget: a %" PRIu64 "-byte tar.xz of 4 GiB (%" PRIu64 ":1) refused with 0 bytes "
	       "written; 256 MiB allowed by unpacked_size extracted\n",
	       bomb_size, (UINT64_C(4) << 30) / bomb_size);
	dsvm_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_archives), cmocka_unit_test(test_stream),
		cmocka_unit_test(test_contract),	 cmocka_unit_test(test_threads),
		cmocka_unit_test(test_write_error),	 cmocka_unit_test(test_sparse),
		cmocka_unit_test(test_allow_setuid),	 cmocka_unit_test(test_expansion_budget),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
