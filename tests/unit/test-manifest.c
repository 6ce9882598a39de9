/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include "dsvm/manifest.h"
#include "manifest-internal.h"
#include "yamldoc.h"

#define MINI DSVM_SRCDIR "/tests/fixtures/manifests/good/editions/mini.yaml"
#define GOOD DSVM_SRCDIR "/tests/fixtures/manifests/good"

static const struct component *find(const struct dsvm_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->n_components; i++)
		if (strcmp(m->components[i].name, name) == 0)
			return &m->components[i];
	fail_msg("no component '%s'", name);
	return NULL;
}

static void test_load_edition(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_manifest *m = NULL;

	(void)state;
	assert_ok(ctx, dsvm_manifest_load(ctx, MINI, &m));
	assert_string_equal(dsvm_manifest_get_edition(m), "mini");
	assert_string_equal(dsvm_manifest_get_os(m), "ubuntu-22.04");
	assert_string_equal(dsvm_manifest_get_arch(m), "x86_64");
	assert_true(dsvm_manifest_has_arch(m, "aarch64"));
	assert_false(dsvm_manifest_has_arch(m, "ppc64le"));
	assert_int_equal(dsvm_manifest_count_driver_kinds(m), 7);
	assert_true(dsvm_manifest_supports_driver_kind(m, DSVM_DRIVER_AMD_ROCM));
	assert_true(dsvm_manifest_supports_driver_kind(m, DSVM_DRIVER_NVIDIA_GRID));
	/* Components keep include order, then file order: drivers.yaml comes first. */
	assert_int_equal(dsvm_manifest_count_components(m), 22);
	assert_string_equal(m->components[0].name, "nvidia-driver-580-open");
	assert_string_equal(m->components[12].name, "cuda-toolkit-13-0");
	dsvm_manifest_free(m);
	dsvm_ctx_free(ctx);
}

static void test_overrides_order(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_manifest *m = NULL;
	const struct component *c;
	struct dsvm_target t;
	struct fields f;

	(void)state;
	assert_ok(ctx, dsvm_manifest_load(ctx, MINI, &m));
	c = find(m, "nvidia-driver-580-open");

	dsvm_target_init(&t, "ubuntu-22.04", "x86_64");
	component_effective(c, &t, &f);
	assert_string_equal(f.source.version, "580.95.05-0ubuntu1");

	/* The os layer replaces the whole source for 24.04 and leaves other fields common. */
	dsvm_target_init(&t, "ubuntu-24.04", "x86_64");
	component_effective(c, &t, &f);
	assert_string_equal(f.source.version, "580.95.05-0ubuntu2");
	assert_string_equal(f.source.repository, "https://archive.example.test/ubuntu noble "
						 "restricted");
	assert_string_equal(f.version, "580.95.05");
	dsvm_manifest_free(m);
	dsvm_ctx_free(ctx);
}

/* Write a one-file edition into a temporary directory; returns the edition's path. */
static char *write_edition(char *dir, const char *components)
{
	char path[512];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/parts.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(components, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/edition.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("edition: t\nos: ubuntu-22.04\nplatform: linux\narch: [x86_64]\n"
	      "driver_kinds: [none]\ninclude: [parts.yaml]\n",
	      f);
	fclose(f);
	return strdup(path);
}

static const char *description_for(const struct component *c, const char *os, const char *arch,
				   const char *family)
{
	struct dsvm_target t;
	struct fields f;

	dsvm_target_init(&t, os, arch);
	snprintf(t.vm_family, sizeof(t.vm_family), "%s", family);
	component_effective(c, &t, &f);
	return f.description;
}

/* The fixed order is os -> arch -> vm family -> default -> common: the first that sets wins. */
static void test_override_precedence(void **state)
{
	static const char yaml[] = "components:\n"
				   "  - name: t\n"
				   "    kind: service\n"
				   "    description: common\n"
				   "    source: {unit: t.service}\n"
				   "    overrides:\n"
				   "      default: {description: default}\n"
				   "      vm_family: {NDv2: {description: family}}\n"
				   "      arch: {aarch64: {description: arch}}\n"
				   "      os: {ubuntu-24.04: {description: os}}\n"
				   "  - name: u\n"
				   "    kind: service\n"
				   "    description: common\n"
				   "    source: {unit: u.service}\n"
				   "    overrides:\n"
				   "      arch: {aarch64: {source: {unit: v.service}}}\n";
	char dir[] = "/tmp/dsvm-unit-XXXXXX";
	char *path = write_edition(dir, yaml);
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_manifest *m = NULL;
	const struct component *t, *u;

	(void)state;
	assert_int_equal(dsvm_manifest_load(ctx, path, &m), 0);
	t = find(m, "t");
	u = find(m, "u");
	assert_string_equal(description_for(t, "ubuntu-24.04", "aarch64", "NDv2"), "os");
	assert_string_equal(description_for(t, "ubuntu-22.04", "aarch64", "NDv2"), "arch");
	assert_string_equal(description_for(t, "ubuntu-22.04", "x86_64", "NDv2"), "family");
	assert_string_equal(description_for(t, "ubuntu-22.04", "x86_64", ""), "default");
	/* A layer that sets another field leaves this one to the common value. */
	assert_string_equal(description_for(u, "ubuntu-22.04", "aarch64", ""), "common");
	dsvm_manifest_free(m);
	dsvm_ctx_free(ctx);
	free(path);
}

static void test_scalars_stay_text(void **state)
{
	static const char yaml[] = "v: 12.10\nq: \"12.10\"\n";
	struct dsvm_ctx *ctx = unit_ctx();
	struct ydoc *doc = NULL;
	const char *v = NULL;

	(void)state;
	assert_int_equal(ydoc_parse(ctx, "mem.yaml", yaml, sizeof(yaml) - 1, &doc), 0);
	assert_int_equal(yget_str(ctx, doc, doc->root, "v", true, &v), 0);
	assert_string_equal(v, "12.10");
	assert_int_equal(yget_str(ctx, doc, doc->root, "q", true, &v), 0);
	assert_string_equal(v, "12.10");
	ydoc_free(doc);
	dsvm_ctx_free(ctx);
}

static void test_validate_file_kinds(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();

	(void)state;
	assert_int_equal(dsvm_manifest_validate_file(ctx, MINI, NULL), 1);
	assert_int_equal(dsvm_manifest_validate_file(ctx, GOOD "/components/apps.yaml", NULL), 0);
	assert_int_equal(dsvm_manifest_validate_file(ctx, GOOD "/components/missing.yaml", NULL),
			 -ENOENT);
	assert_error_contains(ctx, "missing.yaml");
	dsvm_ctx_free(ctx);
}

static void test_error_positions(void **state)
{
	static const char dup[] = "components:\n"
				  "  - name: a\n"
				  "    kind: service\n"
				  "    name: b\n";
	static const char unknown[] = "components:\n"
				      "  - {name: a, kind: service, colour: red, source: {unit: "
				      "a.s}}\n";
	struct dsvm_ctx *ctx = unit_ctx();

	(void)state;
	assert_int_equal(dsvm_manifest_parse_components(ctx, "d.yaml", dup, sizeof(dup) - 1),
			 -EBADMSG);
	assert_error_contains(ctx, "d.yaml:4:5: duplicate key 'name' (first at line 2)");
	assert_int_equal(dsvm_manifest_parse_components(ctx, "u.yaml", unknown,
							sizeof(unknown) - 1),
			 -EBADMSG);
	assert_error_contains(ctx, "u.yaml:2:30: unknown key 'colour'; valid keys here: name");
	dsvm_ctx_free(ctx);
}

static void test_floating_versions(void **state)
{
	static const char *const floating[] = {
		"latest", "LATEST", "main", "*",	  "1.*",
		">=1.0",  "~1.2",   "^3",   "1.0 || 2.0", "nightly"
	};
	struct dsvm_ctx *ctx = unit_ctx();

	(void)state;
	for (size_t i = 0; i < sizeof(floating) / sizeof(floating[0]); i++) {
		char yaml[256];

		snprintf(yaml, sizeof(yaml),
			 "components:\n  - {name: a, kind: apt, version: '%s', source: {package: "
			 "a, "
			 "version: '1', repository: 'https://x.test/u jammy main'}}\n",
			 floating[i]);
		assert_int_equal(dsvm_manifest_parse_components(ctx, "f.yaml", yaml, strlen(yaml)),
				 -EBADMSG);
		assert_error_contains(ctx, "floats");
	}
	dsvm_ctx_free(ctx);
}

/* The names the lock records: relative to the repository, whatever path reached the file. */
static void test_repo_paths(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_manifest *m = NULL;
	char *root = realpath(GOOD, NULL), *out = NULL, via[4096], inside[4096];

	(void)state;
	assert_non_null(root);
	/* The edition reached through a detour with '..' is still named the same. */
	snprintf(via, sizeof(via), "%s/components/../editions/mini.yaml", GOOD);
	assert_ok(ctx, dsvm_manifest_load(ctx, via, &m));
	assert_string_equal(manifest_doc_repo_path(m, m->edition_doc), "good/editions/mini.yaml");
	assert_true(m->n_docs > 0);
	assert_null(strstr(manifest_doc_repo_path(m, m->docs[0]), ".."));
	assert_string_equal(manifest_doc_repo_path(m, m->docs[0]), "good/components/drivers.yaml");
	dsvm_manifest_free(m);

	snprintf(inside, sizeof(inside), "%s/components/../editions/mini.yaml", root);
	assert_int_equal(manifest_repo_path(root, inside, &out), 0);
	assert_string_equal(out, "editions/mini.yaml");
	free(out);
	out = NULL;
	assert_int_equal(manifest_repo_path(root, "/etc/passwd", &out), -EXDEV);
	assert_int_equal(manifest_repo_path(NULL, inside, &out), -ENOENT);
	assert_int_equal(manifest_repo_path("/", "/etc/passwd", &out), 0);
	assert_string_equal(out, "etc/passwd");
	free(out);
	free(root);
	dsvm_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_edition),
		cmocka_unit_test(test_overrides_order),
		cmocka_unit_test(test_override_precedence),
		cmocka_unit_test(test_scalars_stay_text),
		cmocka_unit_test(test_validate_file_kinds),
		cmocka_unit_test(test_error_positions),
		cmocka_unit_test(test_floating_versions),
		cmocka_unit_test(test_repo_paths),
	};

	return cmocka_run_group_tests_name("manifest", tests, NULL, NULL);
}
