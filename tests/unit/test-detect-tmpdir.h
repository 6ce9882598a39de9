/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A scratch directory per test (created by tmpdir_setup, removed with everything in it by
 * tmpdir_teardown) and helpers that write files below it: the fake sysroots and disk images of
 * test-detect.c and test-disk.c. Include after unit.h and internal.h.
 */

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/dsvm-unit-XXXXXX";

static inline int tmpdir_rm_entry(const char *path, const struct stat *st, int flag,
				  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline int tmpdir_setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/dsvm-unit-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static inline int tmpdir_teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, tmpdir_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write size bytes at tmpdir + rel (rel starts with '/'), creating directories. */
static inline void tmpdir_put(const char *rel, const void *data, size_t size)
{
	char path[4096], *slash;
	int fd;

	snprintf(path, sizeof(path), "%s%s", tmpdir, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	assert_int_equal(mkdir_parents(path, 0755), 0);
	*slash = '/';
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	if (size)
		assert_int_equal(write(fd, data, size), (ssize_t)size);
	close(fd);
}

static inline void tmpdir_puts(const char *rel, const char *text)
{
	tmpdir_put(rel, text, strlen(text));
}
