/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include <dirent.h>
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

static void test_write_file_atomic(void **state)
{
	char path[256], stale[300], *buf = NULL;
	size_t size = 0;
	struct stat st;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/state.json", dir);
	assert_int_equal(write_file_atomic(path, "one", 3, 0644), 0);
	/* A temporary left by a killed run under our own PID must not block the next write. */
	snprintf(stale, sizeof(stale), "%s.tmp.%ld", path, (long)getpid());
	f = fopen(stale, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(write_file_atomic(path, "second", 6, 0640), 0);
	assert_int_equal(read_file_capped(path, 100, &buf, &size), 0);
	assert_int_equal(size, 6);
	assert_string_equal(buf, "second");
	free(buf);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* Only the file and the stale temporary: no new temporary left behind. */
	assert_int_equal(count_entries(), 2);
	/* Failure leaves nothing: the directory does not exist. */
	snprintf(path, sizeof(path), "%s/missing/state.json", dir);
	assert_int_equal(write_file_atomic(path, "x", 1, 0644), -ENOENT);
	assert_int_equal(count_entries(), 2);
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
		cmocka_unit_test_setup_teardown(test_read_file_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_tree, setup, teardown),
		cmocka_unit_test(test_version_compare),
		cmocka_unit_test(test_sha256),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
