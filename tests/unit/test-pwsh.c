/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <jansson.h>
#include <sys/stat.h>

#include "unit.h"

#include "dsvm/catalog.h"
#include "dsvm/pwsh.h"
#include "lock-internal.h"

#define CATALOG_DIR DSVM_SRCDIR "/manifests/hardware"
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* A Windows lock of the given components (a JSON array text), or another platform. */
static struct dsvm_lock *make_lock(const char *platform, const char *components)
{
	json_error_t err;
	json_t *c = json_loads(components, 0, &err), *root;
	struct dsvm_lock *lock = NULL;

	if (!c)
		fail_msg("bad test JSON: %s", err.text);
	root = json_pack("{s:s, s:s, s:i, s:o, s:{s:s}}", "edition", "unit", "platform", platform,
			 "lock_version", 1, "components", c, "target", "driver_kind", "none");
	assert_non_null(root);
	assert_int_equal(dsvm_lock_new_from_json(root, &lock), 0);
	json_decref(root);
	return lock;
}

#define ART(name)                                                                                  \
	"[{\"name\": \"" name "\", \"url\": \"https://example.com/" name "\", \"sha256\": "        \
	"\"" SHA_A "\", "                                                                          \
	"\"size\": "                                                                               \
	"1}]"

static void test_steps_exit_codes(void **state)
{
	struct dsvm_lock *lock = make_lock(
		"windows",
		"[{\"name\": \"cli\", \"kind\": \"msi\", \"action\": \"install\", \"args\": "
		"[\"/qn\"], "
		"\"artifacts\": " ART(
			"cli.msi") "},"
				   " {\"name\": \"app\", \"kind\": \"exe\", \"action\": "
				   "\"install\", \"args\": [\"/S\"], "
				   "\"artifacts\": " ART(
					   "app.exe") "},"
						      " {\"name\": \"drv\", \"kind\": \"exe\", "
						      "\"action\": \"install\", \"args\": "
						      "[\"-s\"], "
						      "\"driver\": {\"kind\": \"nvidia-grid\"}, "
						      "\"artifacts\": " ART(
							      "drv.exe") "},"
									 " {\"name\": \"staged\", "
									 "\"kind\": \"msi\", "
									 "\"action\": \"stage\", "
									 "\"args\": [\"/qn\"], "
									 "\"driver\": {\"kind\": "
									 "\"amd-radeon-pro\"}, "
									 "\"artifacts\": " ART(
										 "s.msi") "},"
											  " {"
											  "\"name\""
											  ": "
											  "\"cfg\","
											  " \"kind"
											  "\": "
											  "\"powers"
											  "hell\", "
											  "\"action"
											  "\": "
											  "\"instal"
											  "l\", "
											  "\"artifa"
											  "cts\": "
											  "[{"
											  "\"name\""
											  ": "
											  "\"c."
											  "ps1\", "
											  "\"path\""
											  ": "
											  "\"packer"
											  "/scripts"
											  "/c."
											  "ps1\", "
											  "\"sha256"
											  "\": "
											  "\"" SHA_A
											  "\"}]}]");
	struct dsvm_pwsh_step s;

	(void)state;
	assert_int_equal(dsvm_pwsh_n_steps(lock), 5);
	/* MSI passes 3010 on and may reboot. */
	assert_int_equal(dsvm_pwsh_get_step(lock, 0, &s), 0);
	assert_int_equal(s.order, 1);
	assert_string_equal(s.name, "cli");
	assert_true(s.may_reboot);
	assert_int_equal(s.n_valid_exit_codes, 2);
	assert_int_equal(s.valid_exit_codes[0], 0);
	assert_int_equal(s.valid_exit_codes[1], 3010);
	/* An Inno/NSIS installer never returns 3010. */
	assert_int_equal(dsvm_pwsh_get_step(lock, 1, &s), 0);
	assert_false(s.may_reboot);
	assert_int_equal(s.n_valid_exit_codes, 1);
	/* A driver installed at build time wants a restart whatever it returns. */
	assert_int_equal(dsvm_pwsh_get_step(lock, 2, &s), 0);
	assert_true(s.may_reboot);
	assert_int_equal(s.n_valid_exit_codes, 1);
	/* A staged payload runs nothing at build time. */
	assert_int_equal(dsvm_pwsh_get_step(lock, 3, &s), 0);
	assert_string_equal(s.action, "stage");
	assert_false(s.may_reboot);
	assert_int_equal(s.n_valid_exit_codes, 1);
	/* A repository script names the file the template uploads. */
	assert_int_equal(dsvm_pwsh_get_step(lock, 4, &s), 0);
	assert_string_equal(s.script_path, "packer/scripts/c.ps1");
	s.order = 99;
	assert_int_equal(dsvm_pwsh_get_step(lock, 5, &s), -ERANGE);
	assert_int_equal(s.order, 99);
	dsvm_lock_free(lock);
}

static void test_not_windows(void **state)
{
	struct dsvm_lock *lock = make_lock("linux", "[]");
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_catalog *cat = NULL;

	(void)state;
	assert_int_equal(dsvm_pwsh_n_steps(lock), 0);
	assert_int_equal(dsvm_catalog_load(ctx, CATALOG_DIR, &cat), 0);
	assert_int_equal(dsvm_pwsh_write(ctx, lock, cat, "/nonexistent/never"), -EINVAL);
	assert_error_contains(ctx, "not a Windows edition");
	dsvm_catalog_free(cat);
	dsvm_lock_free(lock);
	dsvm_ctx_free(ctx);
}

/* What a PowerShell literal cannot carry is refused, naming the component; nothing is written. */
static void test_refusals(void **state)
{
	static const struct {
		const char *components, *needle;
	} cases[] = {
		{ "[{\"name\": \"x\", \"kind\": \"exe\", \"action\": \"install\", \"args\": "
		  "[\"/NORESTART\"], "
		  "\"artifacts\": " ART("x.exe") "}]",
		  "no silent switch" },
		{ "[{\"name\": \"x\", \"kind\": \"exe\", \"action\": \"install\", \"args\": "
		  "[\"/S\", \"/D=C:\\\\a b\"], "
		  "\"artifacts\": " ART("x.exe") "}]",
		  "would split" },
		{ "[{\"name\": \"x\", \"kind\": \"exe\", \"action\": \"install\", \"args\": "
		  "[\"/S\", \"/X=\\u2019\"], "
		  "\"artifacts\": " ART("x.exe") "}]",
		  "printable ASCII" },
		{ "[{\"name\": \"x\", \"kind\": \"deb\", \"action\": \"install\", "
		  "\"artifacts\": " ART("x.deb") "}]",
		  "no silent install" },
		{ "[{\"name\": \"x\", \"kind\": \"exe\", \"action\": \"install\", \"args\": "
		  "[\"/S\"], "
		  "\"artifacts\": [{\"name\": \"x\", \"url\": \"https://e.com/x.exe\", \"sha256\": "
		  "\"abc\"}]}]",
		  "no sha256" },
	};
	struct dsvm_catalog *cat = NULL;
	struct dsvm_ctx *ctx = unit_ctx();
	char dir[] = "/tmp/test-pwsh-XXXXXX";
	struct stat st;

	(void)state;
	assert_int_equal(dsvm_catalog_load(ctx, CATALOG_DIR, &cat), 0);
	assert_non_null(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dsvm_lock *lock = make_lock("windows", cases[i].components);
		char out[64];

		snprintf(out, sizeof(out), "%s/out", dir);
		assert_int_equal(dsvm_pwsh_write(ctx, lock, cat, out), -EBADMSG);
		assert_error_contains(ctx, cases[i].needle);
		assert_error_contains(ctx, "'x'");
		assert_int_equal(stat(out, &st), -1);
		dsvm_lock_free(lock);
	}
	assert_int_equal(rmdir(dir), 0);
	dsvm_catalog_free(cat);
	dsvm_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steps_exit_codes),
		cmocka_unit_test(test_not_windows),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
