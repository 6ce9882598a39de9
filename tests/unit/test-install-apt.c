/* SPDX-License-Identifier: MIT */
/*
 * lib/install-apt.c without apt: the receipts it reads back from the root
 * (/var/lib/dsvm/installed/<name>.json). A receipt is data on a disk anyone with root could have
 * edited, or a killed run could have left from another version: one that lacks a field, or
 * holds one of the wrong type, must count as absent (the step is redone), never reach strcmp or
 * strlen as NULL.
 */
#include <jansson.h>

#include "unit.h"
#include "install-internal.h"
#include "internal.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A complete receipt of each action, as write_receipt() writes them. */
static json_t *receipt(const char *action)
{
	bool stage = streq(action, "stage");
	json_t *pkg =
		stage ? json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "package",
				  "dsvm-test-kmod-b", "version", "1.0-1", "architecture", "amd64",
				  "filename", "0123456789abcdef-dsvm-test-kmod-b_1.0-1_amd64.deb",
				  "size", (json_int_t)1234, "sha256", SHA, "stanza",
				  "Package: dsvm-test-kmod-b\nVersion: 1.0-1\n")
		      : json_pack("{s:s, s:s}", "package", "dsvm-test-kmod-a", "version", "1.0-1");
	json_t *rc = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[o]}", "name", "test-driver", "kind",
		"apt", "version", "580.95.05", "action", action, "package", "dsvm-test-driver",
		"package_version", "1.0-1", "repository", "https://repo.test/apt ./", "sources",
		stage ? "/var/lib/dsvm/repo/apt" : "/etc/apt/sources.list.d/dsvm-0123456789ab.list",
		"packages", pkg);

	assert_non_null(rc);
	if (!stage)
		assert_int_equal(json_object_set_new(rc, "replaces",
						     json_pack("[{s:s, s:s}]", "package",
							       "dsvm-test-old", "version",
							       "0.9-1")),
				 0);
	return rc;
}

static const json_t *first_package(const json_t *rc)
{
	return json_array_get(json_object_get(rc, "packages"), 0);
}

/* Every top-level field and every field of a package entry is required: remove each in turn. */
static void check_each_field_required(const char *action, const char *const *top, size_t n_top,
				      const char *const *entry, size_t n_entry)
{
	json_t *rc = receipt(action);

	assert_true(installer_apt_receipt_is_valid(rc));
	json_decref(rc);
	for (size_t i = 0; i < n_top; i++) {
		rc = receipt(action);
		assert_int_equal(json_object_del(rc, top[i]), 0);
		if (installer_apt_receipt_is_valid(rc))
			fail_msg("%s receipt without '%s' taken as valid", action, top[i]);
		json_decref(rc);
		/* The wrong type is no better than absent. */
		rc = receipt(action);
		assert_int_equal(json_object_set_new(rc, top[i], json_integer(7)), 0);
		if (installer_apt_receipt_is_valid(rc))
			fail_msg("%s receipt with a number for '%s' taken as valid", action,
				 top[i]);
		json_decref(rc);
	}
	for (size_t i = 0; i < n_entry; i++) {
		rc = receipt(action);
		assert_int_equal(json_object_del((json_t *)first_package(rc), entry[i]), 0);
		if (installer_apt_receipt_is_valid(rc))
			fail_msg("%s receipt with a package without '%s' taken as valid", action,
				 entry[i]);
		json_decref(rc);
		rc = receipt(action);
		assert_int_equal(json_object_set_new((json_t *)first_package(rc), entry[i],
						     json_is_integer(json_object_get(
							     first_package(rc), entry[i]))
							     ? json_string("7")
							     : json_integer(7)),
				 0);
		if (installer_apt_receipt_is_valid(rc))
			fail_msg("%s receipt with a package's '%s' of the wrong type taken as "
				 "valid",
				 action, entry[i]);
		json_decref(rc);
	}
}

static void test_install_receipt_fields(void **state)
{
	static const char *const top[] = {
		"name",	      "kind",	 "action",  "package", "package_version",
		"repository", "sources", "packages"
	};
	static const char *const entry[] = { "package", "version" };

	(void)state;
	check_each_field_required("install", top, ARRAY_SIZE(top), entry, ARRAY_SIZE(entry));
}

static void test_stage_receipt_fields(void **state)
{
	static const char *const top[] = {
		"name",	      "kind",	 "action",  "package", "package_version",
		"repository", "sources", "packages"
	};
	static const char *const entry[] = { "package", "version", "filename",
					     "size",	"sha256",  "stanza" };

	(void)state;
	check_each_field_required("stage", top, ARRAY_SIZE(top), entry, ARRAY_SIZE(entry));
}

/* Fields the writer may leave out or null, and values no writer makes. */
static void test_receipt_values(void **state)
{
	json_t *rc;

	(void)state;
	/* Optional: the component's version (s:s?), a package's architecture, replaces. */
	rc = receipt("stage");
	json_object_del(rc, "version");
	json_object_set_new((json_t *)first_package(rc), "architecture", json_null());
	assert_true(installer_apt_receipt_is_valid(rc));
	json_object_set_new(rc, "version", json_null());
	json_object_del((json_t *)first_package(rc), "architecture");
	assert_true(installer_apt_receipt_is_valid(rc));
	json_decref(rc);
	rc = receipt("install");
	json_object_del(rc, "replaces");
	assert_true(installer_apt_receipt_is_valid(rc));
	json_decref(rc);

	/* Not a receipt of ours: another kind, another action, not an object, no packages. */
	assert_false(installer_apt_receipt_is_valid(NULL));
	rc = json_array();
	assert_false(installer_apt_receipt_is_valid(rc));
	json_decref(rc);
	rc = receipt("install");
	json_object_set_new(rc, "kind", json_string("archive"));
	assert_false(installer_apt_receipt_is_valid(rc));
	json_decref(rc);
	rc = receipt("install");
	json_object_set_new(rc, "action", json_string("remove"));
	assert_false(installer_apt_receipt_is_valid(rc));
	json_decref(rc);
	rc = receipt("install");
	json_array_clear(json_object_get(rc, "packages"));
	assert_false(installer_apt_receipt_is_valid(rc));
	json_decref(rc);

	/* A replaced pin without its version, a package entry that is not an object. */
	rc = receipt("install");
	json_object_del(json_array_get(json_object_get(rc, "replaces"), 0), "version");
	assert_false(installer_apt_receipt_is_valid(rc));
	json_decref(rc);
	rc = receipt("install");
	json_array_append_new(json_object_get(rc, "packages"), json_string("dsvm-test-x"));
	assert_false(installer_apt_receipt_is_valid(rc));
	json_decref(rc);

	/* Staged files are names in the repository directory, their hashes hex, sizes >= 0. */
	rc = receipt("stage");
	json_object_set_new((json_t *)first_package(rc), "filename",
			    json_string("../../etc/passwd.deb"));
	assert_false(installer_apt_receipt_is_valid(rc));
	json_object_set_new((json_t *)first_package(rc), "filename", json_string(".deb"));
	assert_false(installer_apt_receipt_is_valid(rc));
	json_decref(rc);
	rc = receipt("stage");
	json_object_set_new((json_t *)first_package(rc), "sha256", json_string("abc"));
	assert_false(installer_apt_receipt_is_valid(rc));
	json_decref(rc);
	rc = receipt("stage");
	json_object_set_new((json_t *)first_package(rc), "size", json_integer(-1));
	assert_false(installer_apt_receipt_is_valid(rc));
	json_decref(rc);
}

/*
 * Staging matches each package of the set to the file apt-get download wrote by its hash: every
 * file is hashed once, not once per package (n packages cost n hashes, not n^2/2).
 */
static void test_find_by_sha256(void **state)
{
	enum {
		N = 40
	};
	char dir[] = "/tmp/dsvm-install-apt-XXXXXX", path[128], cmd[128];
	char hex[N][65], *found[N + 1];
	const char *want[N + 1];
	size_t hashed = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (int i = 0; i < N; i++) {
		char text[32];
		FILE *f;

		snprintf(text, sizeof(text), "deb %d\n", i);
		snprintf(path, sizeof(path), "%s/p%02d_1.0-1_all.deb", dir, i);
		f = fopen(path, "w");
		assert_non_null(f);
		fputs(text, f);
		fclose(f);
		assert_int_equal(sha256_buffer_hex(text, strlen(text), hex[i]), 0);
	}
	/* Wanted in the reverse of any order: a scan per package would hash most files each time. */
	for (int i = 0; i < N; i++)
		want[i] = hex[N - 1 - i];
	want[N] = SHA; /* no file has it */
	assert_int_equal(installer_find_by_sha256(dir, want, N + 1, found, &hashed), 0);
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "%s/p%02d_1.0-1_all.deb", dir, N - 1 - i);
		assert_non_null(found[i]);
		assert_string_equal(found[i], path);
		free(found[i]);
	}
	assert_null(found[N]);
	assert_int_equal(hashed, N);

	/* A missing directory holds nothing. */
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(installer_find_by_sha256(path, want, 1, found, &hashed), 0);
	assert_null(found[0]);
	assert_int_equal(hashed, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_install_receipt_fields),
		cmocka_unit_test(test_stage_receipt_fields),
		cmocka_unit_test(test_receipt_values),
		cmocka_unit_test(test_find_by_sha256),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
