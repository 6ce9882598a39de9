/* SPDX-License-Identifier: MIT */
/* lib/packer.c: the dialect chosen per Packer version, the OS disk size, and rendering rules. */
#include "unit.h"

#include "dsvm/packer.h"

static void test_dialect(void **state)
{
	static const struct {
		const char *version;
		int r;
		enum dsvm_packer_dialect dialect;
	} cases[] = {
		{ "1.6.6", 0, DSVM_PACKER_LEGACY },
		{ "v1.6.0", 0, DSVM_PACKER_LEGACY },
		{ "1.7", 0, DSVM_PACKER_PLUGIN },
		{ "1.11.2", 0, DSVM_PACKER_PLUGIN },
		{ "1.10.0-dev", 0, DSVM_PACKER_PLUGIN },
		{ "2.0.0", 0, DSVM_PACKER_PLUGIN },
		{ "1.5.6", -EINVAL, 0 },
		{ "0.12", -EINVAL, 0 },
		{ "1", -EINVAL, 0 },
		{ "1.x", -EINVAL, 0 },
		{ "latest", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "1.7a", -EINVAL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum dsvm_packer_dialect d = 99;
		int r = dsvm_packer_dialect_from_version(cases[i].version, &d);

		if (r != cases[i].r)
			fail_msg("'%s': %d, want %d", cases[i].version, r, cases[i].r);
		if (r == 0 && d != cases[i].dialect)
			fail_msg("'%s': dialect %d, want %d", cases[i].version, d,
				 cases[i].dialect);
		if (r < 0 && d != 99)
			fail_msg("'%s': output written on failure", cases[i].version);
	}
}

static void test_disk_size(void **state)
{
	const uint64_t gib = 1024ull * 1024 * 1024;

	(void)state;
	/* Nothing to stage: the marketplace disk with a quarter spare, in steps of 16 GB. */
	assert_int_equal(dsvm_packer_disk_size_gb(0), 48);
	/* 5 GiB of payloads: 30 + 15, a quarter more (56.25), rounded up to 64. */
	assert_int_equal(dsvm_packer_disk_size_gb(5 * gib), 64);
	assert_true(dsvm_packer_disk_size_gb(100 * gib) >= 30 + 300);
	assert_int_equal(dsvm_packer_disk_size_gb(UINT64_MAX / 8), 4095);
	for (uint64_t b = 0; b < 40 * gib; b += gib / 3)
		assert_true(dsvm_packer_disk_size_gb(b) % 16 == 0 &&
			    dsvm_packer_disk_size_gb(b) >= 30 + 3 * b / gib);
}

static void test_render_rules(void **state)
{
	struct dsvm_packer_source src = {
		.name = "nc24ads-a100-v4",
		.target_args = "--vm-size Standard_NC24ads_A100_v4",
		.lock = "locks/nc24ads-a100-v4.lock.json",
		.description = "an A100",
	};
	struct dsvm_packer_spec spec = {
		.edition = "ubuntu-22.04",
		.edition_path = "manifests/editions/ubuntu-22.04.yaml",
		.os = "ubuntu-22.04",
		.platform = "linux",
		.sources = &src,
		.n_sources = 1,
		.os_disk_size_gb = 64,
		.dialect = DSVM_PACKER_LEGACY,
	};
	struct dsvm_packer_files f = { 0 };
	struct dsvm_ctx *ctx = unit_ctx();

	(void)state;
	assert_int_equal(dsvm_packer_render(ctx, &spec, &f), 0);
	assert_null(f.config);
	assert_null(strstr(f.sources, "security_type"));
	assert_non_null(strstr(f.variables, "default     = 64"));
	assert_non_null(strstr(f.steps, "nc24ads-a100-v4) target='--vm-size "
					"Standard_NC24ads_A100_v4'"));
	/* The deprovisioning is the last provisioner. */
	assert_true(strrchr(f.build, '{') < strstr(f.build, "waagent"));
	dsvm_packer_files_clear(&f);

	spec.dialect = DSVM_PACKER_PLUGIN;
	assert_int_equal(dsvm_packer_render(ctx, &spec, &f), 0);
	assert_non_null(strstr(f.config, "github.com/hashicorp/azure"));
	assert_non_null(strstr(f.sources, "\"TrustedLaunch\""));
	dsvm_packer_files_clear(&f);

	/* Names and values that could break out of HCL or shell quoting are refused. */
	src.name = "Bad_Name";
	assert_int_equal(dsvm_packer_render(ctx, &spec, &f), -EINVAL);
	src.name = "ok";
	src.target_args = "--vm-size 'x'; rm -rf /";
	assert_int_equal(dsvm_packer_render(ctx, &spec, &f), -EINVAL);
	src.target_args = "";
	spec.os = "centos-7";
	assert_int_equal(dsvm_packer_render(ctx, &spec, &f), -EINVAL);
	assert_error_contains(ctx, "centos-7");
	assert_null(f.build);
	dsvm_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dialect),
		cmocka_unit_test(test_disk_size),
		cmocka_unit_test(test_render_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
