/* SPDX-License-Identifier: MIT */
/*
 * The install/reconcile journal (include/dsvm/journal.h): a fresh journal, replay after an
 * unfinished run (done steps reported, the step in flight named), a journal of another plan
 * discarded, torn last lines and torn headers ignored, damaged records refused, one run per
 * root, and the DSVM_CRASH_AT hook killing exactly where it says.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "unit.h"
#include "dsvm/journal.h"

static char root[64];
static char path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/dsvm-journal-XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s%s/install.journal", root, DSVM_JOURNAL_DIR);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static struct dsvm_ctx *root_ctx(void)
{
	struct dsvm_ctx *ctx = unit_ctx();

	assert_ok(ctx, dsvm_ctx_set_root(ctx, root));
	return ctx;
}

static struct dsvm_journal *open_journal(struct dsvm_ctx *ctx, const char *plan)
{
	struct dsvm_journal *j = NULL;

	assert_ok(ctx, dsvm_journal_open(ctx, "install", plan, &j));
	assert_non_null(j);
	return j;
}

static void append_raw(const char *text)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void write_raw(const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_fresh_and_finish(void **state)
{
	struct dsvm_ctx *ctx = root_ctx();
	struct dsvm_journal *j = open_journal(ctx, "plan-a");
	char dir[128];

	(void)state;
	assert_false(dsvm_journal_is_resumed(j));
	assert_false(dsvm_journal_is_done(j, 1));
	assert_int_equal(dsvm_journal_get_interrupted(j), 0);
	snprintf(dir, sizeof(dir), "%s%s", root, DSVM_JOURNAL_DIR);
	assert_string_equal(dsvm_journal_get_dir(j), dir);
	assert_ok(ctx, dsvm_journal_begin(j, 1, "tool"));
	assert_ok(ctx, dsvm_journal_done(j, 1, "tool"));
	assert_true(dsvm_journal_is_done(j, 1));
	/* Bad records are refused before anything is written. */
	assert_int_equal(dsvm_journal_begin(j, 2, "two words"), -EINVAL);
	assert_int_equal(dsvm_journal_begin(j, 0, "zero"), -EINVAL);
	assert_int_equal(dsvm_journal_begin(j, 2, ""), -EINVAL);
	assert_int_equal(access(path, F_OK), 0);
	assert_ok(ctx, dsvm_journal_finish(j));
	assert_int_equal(access(path, F_OK), -1);
	dsvm_journal_free(j);
	/* After a finished run the next one starts clean. */
	j = open_journal(ctx, "plan-a");
	assert_false(dsvm_journal_is_resumed(j));
	assert_false(dsvm_journal_is_done(j, 1));
	assert_ok(ctx, dsvm_journal_finish(j));
	dsvm_journal_free(j);
	dsvm_ctx_free(ctx);
}

static void test_replay(void **state)
{
	struct dsvm_ctx *ctx = root_ctx();
	struct dsvm_journal *j = open_journal(ctx, "plan-a");

	(void)state;
	assert_ok(ctx, dsvm_journal_begin(j, 1, "a"));
	assert_ok(ctx, dsvm_journal_done(j, 1, "a"));
	assert_ok(ctx, dsvm_journal_begin(j, 2, "b"));
	dsvm_journal_free(j); /* killed in step 2 */

	j = open_journal(ctx, "plan-a");
	assert_true(dsvm_journal_is_resumed(j));
	assert_true(dsvm_journal_is_done(j, 1));
	assert_false(dsvm_journal_is_done(j, 2));
	assert_false(dsvm_journal_is_done(j, 3));
	assert_false(dsvm_journal_is_done(j, 100000));
	assert_int_equal(dsvm_journal_get_interrupted(j), 2);
	/* The resumed run redoes step 2 and is killed again, in step 3 this time. */
	assert_ok(ctx, dsvm_journal_begin(j, 2, "b"));
	assert_ok(ctx, dsvm_journal_done(j, 2, "b"));
	assert_ok(ctx, dsvm_journal_begin(j, 3, "c"));
	dsvm_journal_free(j);

	j = open_journal(ctx, "plan-a");
	assert_true(dsvm_journal_is_done(j, 1));
	assert_true(dsvm_journal_is_done(j, 2));
	assert_int_equal(dsvm_journal_get_interrupted(j), 3);
	/* Killed between two steps: nothing in flight. */
	assert_ok(ctx, dsvm_journal_begin(j, 3, "c"));
	assert_ok(ctx, dsvm_journal_done(j, 3, "c"));
	dsvm_journal_free(j);
	j = open_journal(ctx, "plan-a");
	assert_true(dsvm_journal_is_done(j, 3));
	assert_int_equal(dsvm_journal_get_interrupted(j), 0);

	/* A torn last record (power cut mid-append) was never written. */
	dsvm_journal_free(j);
	append_raw("begin 4 d\ndone 4 d");
	j = open_journal(ctx, "plan-a");
	assert_false(dsvm_journal_is_done(j, 4));
	assert_int_equal(dsvm_journal_get_interrupted(j), 4);
	assert_ok(ctx, dsvm_journal_finish(j));
	dsvm_journal_free(j);
	dsvm_ctx_free(ctx);
}

static void test_other_plan_and_damage(void **state)
{
	struct dsvm_ctx *ctx = root_ctx();
	struct dsvm_journal *j = open_journal(ctx, "plan-a");

	(void)state;
	assert_ok(ctx, dsvm_journal_begin(j, 1, "a"));
	assert_ok(ctx, dsvm_journal_done(j, 1, "a"));
	dsvm_journal_free(j);
	/* Another lock: its steps are not this plan's. */
	j = open_journal(ctx, "plan-b");
	assert_false(dsvm_journal_is_resumed(j));
	assert_false(dsvm_journal_is_done(j, 1));
	dsvm_journal_free(j);
	/* A plan id that only starts like the recorded one is another plan. */
	j = open_journal(ctx, "plan-bb");
	assert_false(dsvm_journal_is_resumed(j));
	dsvm_journal_free(j);

	/* A torn header: the run died while creating the journal; start over. */
	write_raw("dsvm-jour");
	j = open_journal(ctx, "plan-a");
	assert_false(dsvm_journal_is_resumed(j));
	dsvm_journal_free(j);
	write_raw("");
	j = open_journal(ctx, "plan-a");
	assert_false(dsvm_journal_is_resumed(j));
	dsvm_journal_free(j);

	/* A whole line that is no record: refused, naming the file. */
	write_raw("dsvm-journal 1 plan-a\nbegin 1 a\nwhatever 1 a\n");
	assert_int_equal(dsvm_journal_open(ctx, "install", "plan-a", &j), -EBADMSG);
	assert_error_contains(ctx, path);
	assert_error_contains(ctx, "whatever");
	write_raw("dsvm-journal 1 plan-a\nbegin 0 a\n");
	assert_int_equal(dsvm_journal_open(ctx, "install", "plan-a", &j), -EBADMSG);
	write_raw("dsvm-journal 1 plan-a\nbegin 1 a b\n");
	assert_int_equal(dsvm_journal_open(ctx, "install", "plan-a", &j), -EBADMSG);
	unlink(path);

	/* Names and plans that could not be written as records or paths. */
	assert_int_equal(dsvm_journal_open(ctx, "../x", "p", &j), -EINVAL);
	assert_int_equal(dsvm_journal_open(ctx, "install", "two words", &j), -EINVAL);
	dsvm_ctx_free(ctx);
}

static void test_busy(void **state)
{
	struct dsvm_ctx *ctx = root_ctx();
	struct dsvm_journal *j = open_journal(ctx, "plan-a"), *j2 = NULL;

	(void)state;
	assert_int_equal(dsvm_journal_open(ctx, "install", "plan-a", &j2), -EBUSY);
	assert_null(j2);
	assert_error_contains(ctx, "another run holds");
	/* Another journal name is another run. */
	assert_ok(ctx, dsvm_journal_open(ctx, "reconcile", "plan-a", &j2));
	assert_ok(ctx, dsvm_journal_finish(j2));
	dsvm_journal_free(j2);
	assert_ok(ctx, dsvm_journal_finish(j));
	dsvm_journal_free(j);
	dsvm_ctx_free(ctx);
}

/* Run steps 1..3 in a child with DSVM_CRASH_AT=at; returns the signal that ended it, or 0. */
static int crash_child(const char *at)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct dsvm_ctx *ctx = root_ctx();
		struct dsvm_journal *j = NULL;

		setenv("DSVM_CRASH_AT", at, 1);
		if (dsvm_journal_open(ctx, "install", "plan-c", &j) < 0)
			_exit(2);
		for (unsigned k = 1; k <= 3; k++) {
			if (dsvm_journal_is_done(j, k))
				continue;
			if (dsvm_journal_begin(j, k, "s") < 0)
				_exit(3);
			dsvm_journal_crash_point(j, k);
			if (dsvm_journal_done(j, k, "s") < 0)
				_exit(4);
		}
		_exit(dsvm_journal_finish(j) < 0 ? 5 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return WTERMSIG(status);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return 0;
}

static void test_crash_hook(void **state)
{
	struct dsvm_ctx *ctx = root_ctx();
	struct dsvm_journal *j;
	const char *ats[] = { "2", "2:mid" };

	(void)state;
	for (size_t i = 0; i < sizeof(ats) / sizeof(ats[0]); i++) {
		assert_int_equal(crash_child(ats[i]), SIGKILL);
		j = open_journal(ctx, "plan-c");
		assert_true(dsvm_journal_is_done(j, 1));
		assert_false(dsvm_journal_is_done(j, 2));
		assert_int_equal(dsvm_journal_get_interrupted(j), 2);
		dsvm_journal_free(j);
		/* The rerun without the hook completes and removes the journal. */
		assert_int_equal(crash_child(""), 0);
		assert_int_equal(access(path, F_OK), -1);
	}
	/* Values that name no step do nothing. */
	assert_int_equal(crash_child("x"), 0);
	assert_int_equal(crash_child("2:end"), 0);
	assert_int_equal(crash_child("9"), 0);
	dsvm_ctx_free(ctx);
}

static void mkdir_p(const char *dir)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static size_t entries_in(const char *dir)
{
	char cmd[256];
	size_t n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "find '%s' -mindepth 1 | wc -l", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%zu", &n), 1);
	pclose(p);
	return n;
}

/*
 * A link planted in the root never leads the journal out of it: <root>/var/lib/dsvm is an
 * absolute link to a directory that exists on the build machine (outside the root) and, in a
 * second root, to one that exists inside the root too. The journal follows the link as the
 * image would see it, inside the root; the directory outside stays empty.
 */
static void test_links_stay_in_root(void **state)
{
	char outside[128], r[160], p[600], dir[512];
	struct dsvm_journal *j = NULL;
	struct dsvm_ctx *ctx;

	(void)state;
	snprintf(outside, sizeof(outside), "%s/outside", root);
	assert_int_equal(mkdir(outside, 0755), 0);
	for (int inside = 0; inside < 2; inside++) {
		snprintf(r, sizeof(r), "%s/linked-root-%d", root, inside);
		snprintf(p, sizeof(p), "%s/var/lib", r);
		mkdir_p(p);
		snprintf(p, sizeof(p), "%s/var/lib/dsvm", r);
		assert_int_equal(symlink(outside, p), 0);
		if (inside) {
			snprintf(p, sizeof(p), "%s%s", r, outside);
			mkdir_p(p);
		}
		ctx = unit_ctx();
		assert_ok(ctx, dsvm_ctx_set_root(ctx, r));
		assert_ok(ctx, dsvm_journal_open(ctx, "install", "plan", &j));
		assert_ok(ctx, dsvm_journal_begin(j, 1, "a"));
		assert_int_equal(entries_in(outside), 0);
		/* The journal is where the image's /var/lib/dsvm/journal leads, inside the root. */
		snprintf(dir, sizeof(dir), "%s%s/journal", r, outside);
		assert_string_equal(dsvm_journal_get_dir(j), dir);
		snprintf(p, sizeof(p), "%s/install.journal", dir);
		assert_int_equal(access(p, F_OK), 0);
		assert_ok(ctx, dsvm_journal_finish(j));
		dsvm_journal_free(j);
		dsvm_ctx_free(ctx);
		assert_int_equal(entries_in(outside), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_and_finish),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_other_plan_and_damage),
		cmocka_unit_test(test_busy),
		cmocka_unit_test(test_crash_hook),
		cmocka_unit_test(test_links_stay_in_root),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
