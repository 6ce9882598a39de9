/* SPDX-License-Identifier: MIT */
/*
 * Debian metadata (lib/debian.c): control-format stanzas (continuations, case-insensitive
 * names, the stanza text kept), dpkg's version order, names and versions accepted, dpkg
 * status words, and the closure of a pinned package: the pinned family preferred over newer
 * versions, alternatives, Provides, the root's own packages left alone unless an earlier run
 * put them there, other architectures ignored.
 */
#include "unit.h"

#include "debian-internal.h"
#include "internal.h"

static void parse(struct deb_list *l, const char *text)
{
	assert_int_equal(deb_list_parse(l, text, strlen(text)), 0);
}

static void test_parse(void **state)
{
	struct deb_list l = { 0 };

	(void)state;
	parse(&l, "Package: a\nVersion: 1.0-1\nArchitecture: amd64\nDepends: b (>= 1),\n c\n"
		  "Filename: ./a_1.0-1_amd64.deb\nsize: 123\nSHA256: ab\nDescription: x\n y\n\n"
		  "\n \nVersion: 9\n\npackage: b\nVersion: 2\nPackage: ignored\nStatus: hold ok "
		  "installed");
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].package, "a");
	assert_string_equal(l.v[0].depends, "b (>= 1), c");
	assert_string_equal(l.v[0].filename, "./a_1.0-1_amd64.deb");
	assert_int_equal(l.v[0].size, 123);
	assert_true(strncmp(l.v[0].stanza, "Package: a\n", 11) == 0);
	assert_true(strstr(l.v[0].stanza, " y\n") != NULL);
	assert_null(strstr(l.v[0].stanza, "\n\n"));
	/* A stanza without Package is skipped; a repeated field keeps its first value. */
	assert_string_equal(l.v[1].package, "b");
	assert_true(deb_pkg_is_installed(&l.v[1]));
	assert_true(deb_pkg_is_held(&l.v[1]));
	assert_false(deb_pkg_is_installed(&l.v[0]));
	parse(&l, "Package: c\nVersion: 1\nStatus: install ok unpacked\n");
	assert_int_equal(l.n, 3);
	assert_true(deb_pkg_is_half_done(&l.v[2]));
	assert_false(deb_pkg_is_half_done(&l.v[1]));
	assert_ptr_equal(deb_list_find_installed(&l, "b", "2"), &l.v[1]);
	assert_null(deb_list_find_installed(&l, "b", "3"));
	assert_null(deb_list_find_installed(&l, "c", NULL));
	deb_list_done(&l);
}

static void test_versions(void **state)
{
	static const struct {
		const char *a, *b;
		int sign;
	} cases[] = {
		{ "1.0", "1.0", 0 },
		{ "1.0-1", "1.0-2", -1 },
		{ "1.10", "1.9", 1 },
		{ "1.0~rc1", "1.0", -1 },
		{ "1:0.1", "2.0", 1 },
		{ "1.0", "1.0-0", 0 },
		{ "2.0a", "2.0", 1 },
		{ "2.0+x", "2.0a", 1 },
		{ "580.95.05-0ubuntu1", "580.126.20-0ubuntu1", -1 },
		{ "1.0-1ubuntu1", "1.0-1", 1 },
		{ "0:1.0", "1.0", 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int c = deb_version_compare(cases[i].a, cases[i].b);
		int got = (c > 0) - (c < 0);

		if (got != cases[i].sign)
			fail_msg("'%s' vs '%s': %d, want %d", cases[i].a, cases[i].b, got,
				 cases[i].sign);
		c = deb_version_compare(cases[i].b, cases[i].a);
		assert_int_equal((c > 0) - (c < 0), -cases[i].sign);
	}
	assert_true(deb_version_is_valid("1:470.256.02-0ubuntu0.22.04.1"));
	assert_true(deb_version_is_valid("1.0~rc1+dfsg-2"));
	assert_false(deb_version_is_valid(""));
	assert_false(deb_version_is_valid("-o"));
	assert_false(deb_version_is_valid("1.0 2"));
	assert_false(deb_version_is_valid("x1.0"));
	assert_false(deb_version_is_valid("a:1.0"));
	assert_false(deb_version_is_valid("1.0-"));
	assert_true(deb_name_is_valid("nvidia-driver-470-server"));
	assert_true(deb_name_is_valid("libstdc++6"));
	assert_false(deb_name_is_valid("-oDebug=1"));
	assert_false(deb_name_is_valid("Foo"));
	assert_false(deb_name_is_valid("a"));
	assert_false(deb_name_is_valid("a=1"));
}

static const char repo_text[] =
	"Package: drv\nVersion: 1.0-1\nArchitecture: all\n"
	"Depends: kmod (= 1.0-1), lib (>= 1.0-1), base (>= 2), gl-provider | mesa\n\n"
	"Package: drv\nVersion: 2.0-1\nArchitecture: all\nDepends: kmod (= 2.0-1)\n\n"
	"Package: kmod\nVersion: 1.0-1\nArchitecture: amd64\nPre-Depends: tool:any\n\n"
	"Package: kmod\nVersion: 2.0-1\nArchitecture: amd64\n\n"
	"Package: kmod\nVersion: 1.0-1\nArchitecture: arm64\n\n"
	"Package: lib\nVersion: 2.0-1\nArchitecture: all\n\n"
	"Package: lib\nVersion: 1.0-1\nArchitecture: all\n\n"
	"Package: lib\nVersion: 1.5-1\nArchitecture: all\n\n"
	"Package: base\nVersion: 3\nArchitecture: all\n\n"
	"Package: tool\nVersion: 1\nArchitecture: amd64\n\n"
	"Package: gl\nVersion: 1\nArchitecture: all\nProvides: gl-provider\n\n"
	"Package: mesa\nVersion: 1\nArchitecture: all\n";

static char *closure_names(const struct deb_list *repo, const struct deb_list *installed,
			   const char *const *ours, size_t n_ours, const char *pkg, const char *ver)
{
	struct deb_closure_input in = { .repo = repo,
					.installed = installed,
					.arch = "amd64",
					.ours = ours,
					.n_ours = n_ours };
	size_t *idx = NULL;
	char buf[512] = "";
	int n = deb_closure(&in, pkg, ver, &idx);

	if (n < 0)
		return strdup_printf("%d", n);
	for (int i = 0; i < n; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s=%s", i ? " " : "",
			 repo->v[idx[i]].package, repo->v[idx[i]].version);
	free(idx);
	return strdup(buf);
}

static void check_closure(const struct deb_list *repo, const struct deb_list *installed,
			  const char *const *ours, size_t n_ours, const char *pkg, const char *ver,
			  const char *want)
{
	char *got = closure_names(repo, installed, ours, n_ours, pkg, ver);

	assert_non_null(got);
	if (!streq(got, want))
		fail_msg("closure of %s=%s: '%s', want '%s'", pkg, ver, got, want);
	free(got);
}

static void test_closure(void **state)
{
	struct deb_list repo = { 0 }, inst = { 0 };
	static const char *const ours[] = { "kmod" };

	(void)state;
	parse(&repo, repo_text);
	/* Nothing installed: lib at the pinned family's version, not the highest; base from the
	 * repository; gl through Provides; tool from the kmod's Pre-Depends. */
	check_closure(&repo, NULL, NULL, 0, "drv", "1.0-1",
		      "drv=1.0-1 kmod=1.0-1 lib=1.0-1 base=3 gl=1 tool=1");
	check_closure(&repo, NULL, NULL, 0, "drv", "2.0-1", "drv=2.0-1 kmod=2.0-1");
	check_closure(&repo, NULL, NULL, 0, "drv", "3.0-1", "-2");
	check_closure(&repo, NULL, NULL, 0, "nothing", "1", "-2");
	/* The root's own packages meet what they can; an earlier run's (ours) do not count. */
	parse(&inst, "Package: base\nVersion: 2\nStatus: install ok installed\n\n"
		     "Package: mesa\nVersion: 1\nStatus: install ok installed\n\n"
		     "Package: tool\nVersion: 1\nStatus: deinstall ok config-files\n\n"
		     "Package: kmod\nVersion: 1.0-1\nStatus: hold ok installed\n");
	check_closure(&repo, &inst, NULL, 0, "drv", "1.0-1", "drv=1.0-1 lib=1.0-1");
	check_closure(&repo, &inst, ours, 1, "drv", "1.0-1",
		      "drv=1.0-1 kmod=1.0-1 lib=1.0-1 tool=1");
	deb_list_done(&repo);
	deb_list_done(&inst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_closure),
	};

	return cmocka_run_group_tests_name("debian", tests, NULL, NULL);
}
