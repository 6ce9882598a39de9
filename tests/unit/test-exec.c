/* SPDX-License-Identifier: MIT */
/* lib/exec.c: output, exit status, the time limit, on the host (root '/'). */
#include <time.h>

#include "dsvm/exec.h"
#include "unit.h"

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_output_and_status(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	const char *argv[] = { "/bin/sh", "-c",
			       "echo out; echo err >&2; echo \"$X $LC_ALL\"; exit 3", NULL };
	const char *env[] = { "X=set", NULL };
	char *out = NULL;

	(void)state;
	assert_int_equal(dsvm_root_run(ctx, argv, env, 5, &out), 3);
	assert_string_equal(out, "out\nerr\nset C\n");
	free(out);
	dsvm_ctx_free(ctx);
}

static void test_stdin_is_null(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	const char *argv[] = { "/bin/sh", "-c", "cat; echo done", NULL };
	char *out = NULL;

	(void)state;
	assert_int_equal(dsvm_host_run(ctx, argv, NULL, 5, &out), 0);
	assert_string_equal(out, "done\n");
	free(out);
	dsvm_ctx_free(ctx);
}

static void test_missing_program(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	const char *argv[] = { "/nonexistent/program", NULL };

	(void)state;
	assert_int_equal(dsvm_root_run(ctx, argv, NULL, 0, NULL), -ENOENT);
	assert_error_contains(ctx, "/nonexistent/program");
	dsvm_ctx_free(ctx);
}

/* Past the limit: SIGTERM to the group (the shell and its sleep), -ETIME, quickly. */
static void test_timeout_term(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	const char *argv[] = { "/bin/sh", "-c", "echo started; sleep 30; echo never", NULL };
	struct timespec t0;
	char *out = NULL;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(dsvm_root_run(ctx, argv, NULL, 1, &out), -ETIME);
	assert_null(out);
	assert_true(seconds_since(&t0) < 3.0);
	assert_error_contains(ctx, "did not finish within 1 s");
	assert_error_contains(ctx, "started");
	dsvm_ctx_free(ctx);
}

/* A program that ignores SIGTERM gets SIGKILL after the grace (1 s for a 1 s limit). */
static void test_timeout_kill(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	const char *argv[] = { "/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.1; done", NULL };
	struct timespec t0;
	double took;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(dsvm_root_run(ctx, argv, NULL, 1, NULL), -ETIME);
	took = seconds_since(&t0);
	assert_true(took >= 1.9 && took < 4.0);
	assert_error_contains(ctx, "SIGKILL after 1 s");
	dsvm_ctx_free(ctx);
}

/* It ends, but a child it left keeps the output open: the status counts, the child is killed. */
static void test_leftover_holds_output(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	const char *argv[] = { "/bin/sh", "-c", "sleep 30 & echo bye", NULL };
	struct timespec t0;
	char *out = NULL;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(dsvm_root_run(ctx, argv, NULL, 1, &out), 0);
	assert_string_equal(out, "bye\n");
	assert_true(seconds_since(&t0) < 3.0);
	free(out);
	dsvm_ctx_free(ctx);
}

/* Output closed, still running: the limit holds too. */
static void test_timeout_closed_output(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	const char *argv[] = { "/bin/sh", "-c", "exec >/dev/null 2>&1; sleep 30", NULL };
	struct timespec t0;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(dsvm_root_run(ctx, argv, NULL, 1, NULL), -ETIME);
	assert_true(seconds_since(&t0) < 3.0);
	dsvm_ctx_free(ctx);
}

/* Output past the cap is read (the child does not block) and dropped. */
static void test_output_cap(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	const char *argv[] = { "/bin/sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x", NULL };
	char *out = NULL;

	(void)state;
	assert_int_equal(dsvm_root_run(ctx, argv, NULL, 20, &out), 0);
	assert_int_equal(strlen(out), 1u << 20);
	free(out);
	dsvm_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output_and_status),
		cmocka_unit_test(test_stdin_is_null),
		cmocka_unit_test(test_missing_program),
		cmocka_unit_test(test_timeout_term),
		cmocka_unit_test(test_timeout_kill),
		cmocka_unit_test(test_leftover_holds_output),
		cmocka_unit_test(test_timeout_closed_output),
		cmocka_unit_test(test_output_cap),
	};

	return cmocka_run_group_tests_name("exec", tests, NULL, NULL);
}
