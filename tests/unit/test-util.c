/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "internal.h"

static char dir[] = "/tmp/dsvm-util-XXXXXX";

static int setup(void **state)
{
	(void)state;
	strcpy(dir + strlen(dir) - 6, "XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static size_t count_entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void touch(const char *path)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs("partial", f);
	fclose(f);
}

static void test_write_file_atomic(void **state)
{
	char path[256], *buf = NULL;
	size_t size = 0;
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	assert_int_equal(write_file_atomic(path, "one", 3, 0644), 0);
	assert_int_equal(write_file_atomic(path, "second", 6, 0640), 0);
	assert_int_equal(read_file_capped(path, 100, &buf, &size), 0);
	assert_int_equal(size, 6);
	assert_string_equal(buf, "second");
	free(buf);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* Only the file: no temporary left behind. */
	assert_int_equal(count_entries(), 1);
	/* Failure leaves nothing: the directory does not exist. */
	snprintf(path, sizeof(path), "%s/missing/state.json", dir);
	assert_int_equal(write_file_atomic(path, "x", 1, 0644), -ENOENT);
	assert_int_equal(count_entries(), 1);
}

/*
 * A write killed between creating its temporary and renaming it leaves <target>.tmp.XXXXXX: the
 * next write of that target removes it (and any other of that target nobody is writing), and
 * leaves alone the temporaries of other targets and names that only look alike.
 */
static void test_write_file_atomic_stale(void **state)
{
	static const char *const kept[] = { "state.json.tmp.toolong7", "state.json.tmp.Ab1",
					    "other.json.tmp.Ab12Cd", "state.json.tmpAb12Cd",
					    "state.json.tmp.Ab-2Cd" };
	char path[256], p[320], live[320], *buf = NULL;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	assert_int_equal(write_file_atomic(path, "one", 3, 0644), 0);
	snprintf(p, sizeof(p), "%s.tmp.Ab12Cd", path);
	touch(p);
	snprintf(p, sizeof(p), "%s.tmp.Zz9Yy8", path);
	touch(p);
	for (size_t i = 0; i < ARRAY_SIZE(kept); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, kept[i]);
		touch(p);
	}
	/* Another process in the middle of its write: it holds its temporary's lock. */
	snprintf(live, sizeof(live), "%s.tmp.Live01", path);
	touch(live);
	fd = open(live, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);

	assert_int_equal(write_file_atomic(path, "second", 6, 0644), 0);
	assert_int_equal(read_file_capped(path, 100, &buf, NULL), 0);
	assert_string_equal(buf, "second");
	free(buf);
	/* The target, the live writer's temporary and the look-alikes; the stale two are gone. */
	assert_int_equal(count_entries(), 2 + ARRAY_SIZE(kept));
	assert_int_equal(access(live, F_OK), 0);
	for (size_t i = 0; i < ARRAY_SIZE(kept); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, kept[i]);
		assert_int_equal(access(p, F_OK), 0);
	}
	/* That writer died: the next write removes its temporary too. */
	close(fd);
	assert_int_equal(write_file_atomic(path, "third", 5, 0644), 0);
	assert_int_equal(access(live, F_OK), -1);
	assert_int_equal(count_entries(), 1 + ARRAY_SIZE(kept));
}

/* Writers of one target at once: each write whole, none removes another's temporary. */
static void test_write_file_atomic_concurrent(void **state)
{
	enum {
		WRITERS = 6,
		WRITES = 150
	};
	char path[256], *buf = NULL;
	pid_t pids[WRITERS];

	(void)state;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0) {
			char text[64];
			int failed = 0;

			for (int i = 0; i < WRITES; i++) {
				snprintf(text, sizeof(text), "writer %d write %d %.*s", w, i,
					 i % 20, "xxxxxxxxxxxxxxxxxxxx");
				failed |= write_file_atomic(path, text, strlen(text), 0644) != 0;
			}
			_exit(failed);
		}
	}
	for (int w = 0; w < WRITERS; w++) {
		int status;

		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(read_file_capped(path, 100, &buf, NULL), 0);
	assert_int_equal(strncmp(buf, "writer ", 7), 0);
	assert_non_null(strstr(buf, " write 149 "));
	free(buf);
	assert_int_equal(count_entries(), 1);
}

static void test_read_file_capped(void **state)
{
	char path[256], *buf = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/big", dir);
	assert_int_equal(write_file_atomic(path, "0123456789", 10, 0644), 0);
	assert_int_equal(read_file_capped(path, 9, &buf, NULL), -EFBIG);
	assert_null(buf);
	assert_int_equal(read_file_capped(path, 10, &buf, NULL), 0);
	free(buf);
	assert_int_equal(read_file_capped(dir, 10, &buf, NULL), -EISDIR);
}

static void test_remove_tree(void **state)
{
	char tree[256], sub[300], file[320], outside[256], link[320];
	struct stat st;

	(void)state;
	snprintf(tree, sizeof(tree), "%s/tree", dir);
	snprintf(sub, sizeof(sub), "%s/ro", tree);
	snprintf(file, sizeof(file), "%s/f", sub);
	snprintf(outside, sizeof(outside), "%s/outside", dir);
	snprintf(link, sizeof(link), "%s/to-outside", tree);
	assert_int_equal(mkdir_parents(sub, 0755), 0);
	assert_int_equal(write_file_atomic(file, "x", 1, 0644), 0);
	assert_int_equal(mkdir_parents(outside, 0755), 0);
	assert_int_equal(symlink(outside, link), 0);
	/* A read-only directory, as an archive may leave one: its file must still go. */
	assert_int_equal(chmod(sub, 0555), 0);
	remove_tree(tree);
	assert_int_equal(lstat(tree, &st), -1);
	/* The link went, what it pointed at did not. */
	assert_int_equal(stat(outside, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
}

static void expect_in_root(const char *r, const char *img, const char *want_in_root)
{
	char want[512], *host = NULL;

	snprintf(want, sizeof(want), "%s%s", r, want_in_root);
	assert_int_equal(path_in_root(r, img, &host), 0);
	assert_string_equal(host, want);
	free(host);
}

/*
 * path_in_root: links in the root are followed as the image would follow them, inside the root,
 * also where they point at nothing yet (absolute, relative, through "..", chained); the last
 * component is never followed; a loop ends in -ELOOP.
 */
static void test_path_in_root(void **state)
{
	char r[256], p[512], *host = NULL;

	(void)state;
	snprintf(r, sizeof(r), "%s/root", dir);
	snprintf(p, sizeof(p), "%s/var/lib", r);
	assert_int_equal(mkdir_parents(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/srv", r);
	assert_int_equal(mkdir_parents(p, 0755), 0);
	/* Plain: existing and missing directories, the last component as given. */
	expect_in_root(r, "/var/lib/x/y.json", "/var/lib/x/y.json");
	expect_in_root(r, "/var//lib/./z/../y.json", "/var/lib/y.json");
	/* An absolute link to the build machine's /tmp: the root's /tmp, which is not there. */
	snprintf(p, sizeof(p), "%s/var/lib/dsvm", r);
	assert_int_equal(symlink(dir, p), 0);
	snprintf(p, sizeof(p), "%s/journal/x.journal", dir);
	expect_in_root(r, "/var/lib/dsvm/journal/x.journal", p);
	/* Relative, through "..", past the root's top: clamped at the root. */
	snprintf(p, sizeof(p), "%s/var/lib/rel", r);
	assert_int_equal(symlink("../../../../srv/data", p), 0);
	expect_in_root(r, "/var/lib/rel/a/b", "/srv/data/a/b");
	/* A link to an existing directory, and a chain of two. */
	snprintf(p, sizeof(p), "%s/var/lib/srv", r);
	assert_int_equal(symlink("/srv", p), 0);
	expect_in_root(r, "/var/lib/srv/f", "/srv/f");
	snprintf(p, sizeof(p), "%s/var/lib/chain", r);
	assert_int_equal(symlink("rel/c", p), 0);
	expect_in_root(r, "/var/lib/chain/f", "/srv/data/c/f");
	/* The last component is the caller's: a link there is left as it is. */
	expect_in_root(r, "/var/lib/dsvm", "/var/lib/dsvm");
	/* A loop. */
	snprintf(p, sizeof(p), "%s/var/lib/loop", r);
	assert_int_equal(symlink("/var/lib/loop/x", p), 0);
	assert_int_equal(path_in_root(r, "/var/lib/loop/f", &host), -ELOOP);
	/* '/' and no root: the image path itself, cleaned. */
	assert_int_equal(path_in_root("/", "/a//b/./c", &host), 0);
	assert_string_equal(host, "/a/b/c");
	free(host);
	assert_int_equal(path_in_root(r, "relative", &host), -EINVAL);
}

static void test_version_compare(void **state)
{
	(void)state;
	assert_true(version_compare("12.10", "12.9") > 0);
	assert_true(version_compare("580.95.05", "580.126.20") < 0);
	assert_true(version_compare("13.0", "13.0.2") < 0);
	assert_int_equal(version_compare("470", "470"), 0);
	assert_true(version_compare("2.8.0+rocm6.4", "2.8.0") > 0);
}

static void test_sha256(void **state)
{
	char hex[65];

	(void)state;
	/* FIPS 180-2 test vector for "abc". */
	assert_int_equal(sha256_buffer_hex("abc", 3, hex), 0);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a"
				 "d");
	assert_true(is_sha256_hex(hex));
	assert_false(is_sha256_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015A"
				   "D"));
	assert_false(is_sha256_hex("ba78"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_file_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_file_atomic_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_file_atomic_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_file_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_in_root, setup, teardown),
		cmocka_unit_test(test_version_compare),
		cmocka_unit_test(test_sha256),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
