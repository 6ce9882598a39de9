/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <strings.h>

#include "unit.h"

#include "catalog-index.h"
#include "dsvm/catalog.h"

#define CATALOG_DIR DSVM_SRCDIR "/manifests/hardware"
#define BAD_DIR DSVM_SRCDIR "/tests/fixtures/catalog-bad"

struct fixture {
	struct dsvm_ctx *ctx;
	struct dsvm_catalog *cat;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int r;

	assert_non_null(f);
	f->ctx = unit_ctx();
	r = dsvm_catalog_load(f->ctx, CATALOG_DIR, &f->cat);
	if (r < 0)
		fail_msg("catalog did not load: %s", dsvm_ctx_get_error(f->ctx));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dsvm_catalog_free(f->cat);
	dsvm_ctx_free(f->ctx);
	free(f);
	return 0;
}

static const struct dsvm_gpu_info *gpu(const struct dsvm_catalog *cat, uint16_t v, uint16_t d)
{
	const struct dsvm_gpu_info *g = NULL;

	if (dsvm_catalog_find_gpu(cat, v, d, &g) < 0)
		fail_msg("PCI %04x:%04x not in the catalog", v, d);
	return g;
}

static const struct dsvm_size_info *size(const struct dsvm_catalog *cat, const char *name)
{
	const struct dsvm_size_info *s = NULL;

	if (dsvm_catalog_find_size(cat, name, &s) < 0)
		fail_msg("size '%s' not in the catalog", name);
	return s;
}

static void test_every_size_is_consistent(void **state)
{
	struct fixture *f = *state;
	size_t n = dsvm_catalog_n_sizes(f->cat);

	/* The brief's families, current and retired: far more than a token few. */
	assert_true(n >= 60);
	for (size_t i = 0; i < n; i++) {
		const struct dsvm_size_info *s = dsvm_catalog_size_at(f->cat, i);
		const struct dsvm_size_info *again = NULL;
		char lower[64];

		assert_non_null(s);
		assert_non_null(s->gpu);
		assert_false(s->gpu->switch_only);
		assert_true(s->driver_kind > DSVM_DRIVER_NONE);
		assert_true(s->driver_kind < _DSVM_DRIVER_KIND_MAX);
		assert_int_equal(dsvm_driver_kind_vendor(s->driver_kind), s->gpu->vendor);
		assert_true(s->gpus_num >= 1 && s->gpus_den >= 1);
		assert_true(s->pci_gpus >= 1);
		assert_non_null(s->family);
		assert_non_null(s->series);
		assert_int_equal(strncmp(s->name, "Standard_", 9), 0);

		/* Every size is found by its own name, lower-cased and without the prefix. */
		for (size_t j = 0; s->name[j] && j + 1 < sizeof(lower); j++) {
			lower[j] = (char)tolower((unsigned char)s->name[j]);
			lower[j + 1] = '\0';
		}
		assert_int_equal(dsvm_catalog_find_size(f->cat, lower + 9, &again), 0);
		assert_ptr_equal(again, s);
		assert_int_equal(dsvm_catalog_find_size(f->cat, lower, &again), 0);
		assert_ptr_equal(again, s);
	}
	assert_null(dsvm_catalog_size_at(f->cat, n));
}

static void test_every_gpu_is_consistent(void **state)
{
	struct fixture *f = *state;
	size_t n = dsvm_catalog_n_gpus(f->cat);

	assert_true(n >= 30);
	for (size_t i = 0; i < n; i++) {
		const struct dsvm_gpu_info *g = dsvm_catalog_gpu_at(f->cat, i);

		assert_true(g->n_device_ids >= 1);
		for (size_t j = 0; j < g->n_device_ids; j++)
			assert_ptr_equal(gpu(f->cat, g->vendor_id, g->device_ids[j]), g);
		if (g->vendor == DSVM_VENDOR_NVIDIA && !g->switch_only)
			assert_non_null(g->compute_capability);
		if (g->vendor == DSVM_VENDOR_AMD)
			assert_null(g->compute_capability);
		/* Turing and newer: the open module; older: never. */
		if (g->driver_kind == DSVM_DRIVER_NVIDIA_OPEN)
			assert_true(g->open_module);
		if (g->driver_kind == DSVM_DRIVER_NVIDIA_PROPRIETARY ||
		    g->driver_kind == DSVM_DRIVER_NVIDIA_LEGACY_470)
			assert_false(g->open_module);
	}
}

static void test_gpu_lookup(void **state)
{
	struct fixture *f = *state;
	const struct dsvm_gpu_info *g, *none = NULL;

	g = gpu(f->cat, 0x10de, 0x20b5);
	assert_string_equal(g->key, "a100-pcie-80gb");
	assert_string_equal(g->architecture, "ampere");
	assert_string_equal(g->compute_capability, "8.0");
	assert_int_equal(g->driver_kind, DSVM_DRIVER_NVIDIA_OPEN);

	g = gpu(f->cat, 0x10de, 0x102d);
	assert_string_equal(g->model, "Tesla K80");
	assert_string_equal(g->architecture, "kepler");
	assert_string_equal(g->compute_capability, "3.7");
	assert_string_equal(g->max_branch, "470");
	assert_int_equal(g->driver_kind, DSVM_DRIVER_NVIDIA_LEGACY_470);

	g = gpu(f->cat, 0x10de, 0x2901);
	assert_string_equal(g->architecture, "blackwell");
	assert_false(g->proprietary_module);
	assert_string_equal(g->min_branch, "570");

	g = gpu(f->cat, 0x1002, 0x74a1);
	assert_string_equal(g->key, "mi300x");
	assert_int_equal(g->vendor, DSVM_VENDOR_AMD);
	assert_int_equal(g->driver_kind, DSVM_DRIVER_AMD_ROCM);
	/* The MI300X virtual function is the same model. */
	assert_ptr_equal(gpu(f->cat, 0x1002, 0x74b5), g);

	g = gpu(f->cat, 0x10de, 0x22a3);
	assert_true(g->switch_only);
	assert_int_equal(g->driver_kind, DSVM_DRIVER_NONE);

	/* The same device id under the other vendor is not the same GPU. */
	assert_int_equal(dsvm_catalog_find_gpu(f->cat, 0x1002, 0x20b5, &none), -ENOENT);
	assert_int_equal(dsvm_catalog_find_gpu(f->cat, 0x10de, 0xffff, &none), -ENOENT);
	assert_null(none);

	assert_int_equal(dsvm_catalog_get_gpu(f->cat, "h100-sxm5", &g), 0);
	assert_ptr_equal(g, gpu(f->cat, 0x10de, 0x2330));
	assert_int_equal(dsvm_catalog_get_gpu(f->cat, "h100-sxm6", &g), -ENOENT);
}

static void test_size_lookup(void **state)
{
	struct fixture *f = *state;
	const struct dsvm_size_info *s = size(f->cat, "Standard_NC24ads_A100_v4"), *none = NULL;

	assert_ptr_equal(size(f->cat, "standard_nc24ads_a100_v4"), s);
	assert_ptr_equal(size(f->cat, "NC24ads_A100_v4"), s);
	assert_ptr_equal(size(f->cat, "STANDARD_NC24ADS_A100_V4"), s);
	assert_string_equal(s->family, "NCads_A100_v4");
	assert_string_equal(s->gpu->key, "a100-pcie-80gb");
	assert_int_equal(s->gpus_num, 1);
	assert_int_equal(s->gpus_den, 1);
	assert_false(s->infiniband);
	assert_false(s->nvswitch);

	s = size(f->cat, "Standard_ND96isr_H100_v5");
	assert_int_equal(s->gpus_num, 8);
	assert_int_equal(s->pci_gpus, 8);
	assert_true(s->infiniband);
	assert_true(s->nvswitch);

	/* An alias finds the same record, under its canonical name. */
	s = size(f->cat, "Standard_ND96asr_A100_v4");
	assert_string_equal(s->name, "Standard_ND96asr_v4");

	/* Per-size InfiniBand overrides the family's default. */
	assert_false(size(f->cat, "Standard_NC24")->infiniband);
	assert_true(size(f->cat, "Standard_NC24r")->infiniband);
	assert_true(size(f->cat, "Standard_NC24r")->retired);

	assert_int_equal(dsvm_catalog_find_size(f->cat, "Standard_D4s_v5", &none), -ENOENT);
	assert_int_equal(dsvm_catalog_find_size(f->cat, "Standard_", &none), -ENOENT);
	assert_int_equal(dsvm_catalog_find_size(f->cat, "", &none), -ENOENT);
	assert_int_equal(dsvm_catalog_find_size(f->cat, "Standard_NC24ads_A100_v4x", &none),
			 -ENOENT);
	assert_null(none);
}

static void test_fractional_sizes(void **state)
{
	struct fixture *f = *state;
	const struct dsvm_size_info *s;

	s = size(f->cat, "Standard_NV6ads_A10_v5");
	assert_int_equal(s->gpus_num, 1);
	assert_int_equal(s->gpus_den, 6);
	assert_int_equal(s->pci_gpus, 1);
	assert_int_equal(s->driver_kind, DSVM_DRIVER_NVIDIA_GRID);
	assert_string_equal(s->branch, "570");

	s = size(f->cat, "Standard_NV72ads_A10_v5");
	assert_int_equal(s->gpus_num, 2);
	assert_int_equal(s->gpus_den, 1);
	assert_int_equal(s->pci_gpus, 2);

	s = size(f->cat, "Standard_NV4as_v4");
	assert_int_equal(s->gpus_num, 1);
	assert_int_equal(s->gpus_den, 8);
	assert_string_equal(s->gpu->key, "mi25");

	s = size(f->cat, "Standard_NV4ads_V710_v5");
	assert_int_equal(s->gpus_den, 6);
	assert_int_equal(s->driver_kind, DSVM_DRIVER_AMD_ROCM);
}

static void expect_cuda(const struct dsvm_catalog *cat, const char *platform, const char *driver,
			const char *want)
{
	char cuda[16] = "";
	int r = dsvm_catalog_cuda_max(cat, platform, driver, cuda);

	if (r < 0 || strcmp(cuda, want) != 0)
		fail_msg("%s driver %s: got %d '%s', want '%s'", platform, driver, r, cuda, want);
}

static void test_cuda_max(void **state)
{
	struct fixture *f = *state;
	char cuda[16] = "untouched";

	/* Straight from NVIDIA's table: exactly at and just under a toolkit's minimum. */
	expect_cuda(f->cat, "linux", "580.95.05", "13.0.2");
	expect_cuda(f->cat, "linux", "580.65.06", "13.0.0");
	expect_cuda(f->cat, "linux", "580.65.05", "12.9.1");
	expect_cuda(f->cat, "linux", "570.124.06", "12.8.1");
	expect_cuda(f->cat, "linux", "570.26", "12.8.0");
	expect_cuda(f->cat, "linux", "525.60.13", "12.0.0");
	expect_cuda(f->cat, "linux", "470.256.02", "11.4.4");
	expect_cuda(f->cat, "linux", "455.23", "11.1.0");
	/* Numeric, not textual: 535.104.05 is newer than 535.86.09. */
	expect_cuda(f->cat, "linux", "535.104.05", "12.2.2");
	expect_cuda(f->cat, "linux", "535.86.10", "12.2.1");
	/* A branch stands for its newest known release. */
	expect_cuda(f->cat, "linux", "470", "11.4.4");
	expect_cuda(f->cat, "linux", "580", "13.0.2");
	expect_cuda(f->cat, "linux", "595", "13.2.2");
	expect_cuda(f->cat, "linux", "570", "12.8.1");
	/* An uncatalogued branch stands for its highest release. */
	expect_cuda(f->cat, "linux", "575", "12.9.1");
	/* Windows: the table lists no 13.x driver, so 12.9 Update 1 is the newest. */
	expect_cuda(f->cat, "windows", "576.57", "12.9.1");
	expect_cuda(f->cat, "windows", "581.42", "12.9.1");
	expect_cuda(f->cat, "windows", "572.60", "12.8.0");

	assert_int_equal(dsvm_catalog_cuda_max(f->cat, "linux", "450.36.05", cuda), -ENOENT);
	assert_int_equal(dsvm_catalog_cuda_max(f->cat, "macos", "580.95.05", cuda), -EINVAL);
	assert_int_equal(dsvm_catalog_cuda_max(f->cat, NULL, "580.95.05", cuda), -EINVAL);
	assert_int_equal(dsvm_catalog_cuda_max(f->cat, "linux", "latest", cuda), -EINVAL);
	assert_int_equal(dsvm_catalog_cuda_max(f->cat, "linux", "580..95", cuda), -EINVAL);
	assert_int_equal(dsvm_catalog_cuda_max(f->cat, "linux", "", cuda), -EINVAL);
	assert_string_equal(cuda, "untouched");
}

static void test_cuda_min_driver(void **state)
{
	struct fixture *f = *state;
	const char *drv = NULL;

	assert_int_equal(dsvm_catalog_cuda_min_driver(f->cat, "linux", "12.4", &drv), 0);
	assert_string_equal(drv, "550.54.14");
	assert_int_equal(dsvm_catalog_cuda_min_driver(f->cat, "linux", "13.0.2", &drv), 0);
	assert_string_equal(drv, "580.95.05");
	assert_int_equal(dsvm_catalog_cuda_min_driver(f->cat, "windows", "12.8.1", &drv), 0);
	assert_string_equal(drv, "572.61");
	drv = NULL;
	assert_int_equal(dsvm_catalog_cuda_min_driver(f->cat, "windows", "13.0", &drv), -ENOENT);
	assert_int_equal(dsvm_catalog_cuda_min_driver(f->cat, "linux", "12.7", &drv), -ENOENT);
	assert_int_equal(dsvm_catalog_cuda_min_driver(f->cat, "linux", "twelve", &drv), -EINVAL);
	assert_null(drv);
}

static void expect_branch(const struct dsvm_catalog *cat, uint16_t dev, bool grid, const char *want)
{
	char branch[16] = "";
	const struct dsvm_gpu_info *g = gpu(cat, 0x10de, dev);
	int r = grid ? dsvm_catalog_grid_branch(cat, g, branch)
		     : dsvm_catalog_newest_branch(cat, g, branch);

	if (r < 0 || strcmp(branch, want) != 0)
		fail_msg("%s: got %d '%s', want '%s'", g->key, r, branch, want);
}

static void test_branches(void **state)
{
	struct fixture *f = *state;
	char branch[16] = "";
	bool seen_lts = false;

	expect_branch(f->cat, 0x102d, false, "470"); /* K80 */
	expect_branch(f->cat, 0x1db4, false, "580"); /* V100 */
	expect_branch(f->cat, 0x15f8, false, "580"); /* P100 */
	expect_branch(f->cat, 0x13f2, false, "580"); /* M60 */
	expect_branch(f->cat, 0x2330, false, "595"); /* H100: the production branch */
	expect_branch(f->cat, 0x2901, false, "595"); /* B200 */
	expect_branch(f->cat, 0x2236, true, "595");  /* A10 under GRID, no size pin */
	expect_branch(f->cat, 0x13f2, true, "570");  /* M60 under GRID: not above 580 */

	/* AMD and NVSwitch records have no NVIDIA branch. */
	assert_int_equal(dsvm_catalog_newest_branch(f->cat, gpu(f->cat, 0x1002, 0x74a1), branch),
			 -ENOENT);
	assert_int_equal(dsvm_catalog_newest_branch(f->cat, gpu(f->cat, 0x10de, 0x22a3), branch),
			 -ENOENT);
	assert_string_equal(branch, "");

	for (size_t i = 0; i < dsvm_catalog_n_branches(f->cat); i++) {
		const struct dsvm_branch_info *b = dsvm_catalog_branch_at(f->cat, i);

		/* Each release belongs to its branch ("580.173.02" to "580"). */
		assert_int_equal(strncmp(b->linux_version, b->branch, strlen(b->branch)), 0);
		seen_lts = seen_lts || strcmp(b->track, "lts") == 0;
	}
	assert_true(seen_lts);
}

/* The bad-catalog corpus: each case is rejected at its own file:line:col. */
static const struct {
	const char *dir;
	const char *where; /* file:line:col */
	const char *what;
} bad_cases[] = {
	{ "duplicate-pci-id", "gpus.yaml:14:10", "duplicate PCI id 10de:20b5" },
	{ "unknown-key", "gpus.yaml:11:5", "unknown key 'colour'" },
	{ "wrong-type", "sizes.yaml:6:17", "expected true or false for 'infiniband'" },
	{ "bad-pci-format", "gpus.yaml:6:11", "bad PCI device id '0x20b5'" },
	{ "pci-not-a-list", "gpus.yaml:6:10", "expected a sequence" },
	{ "duplicate-size", "sizes.yaml:8:16", "duplicate size name 'Standard_NC24ADS_A100_v4'" },
	{ "unknown-gpu-ref", "sizes.yaml:4:10", "unknown GPU 'a100-pcie-96gb'" },
	{ "bad-gpu-count", "sizes.yaml:7:48", "bad GPU count '0/3'" },
	{ "unknown-driver-kind", "gpus.yaml:9:13", "unknown driver kind 'nvidia-closed'" },
	{ "kind-vendor-mismatch", "sizes.yaml:5:13", "'amd-rocm' does not drive GPU" },
	{ "open-without-module", "gpus.yaml:9:13", "nvidia-open needs 'open_module: true'" },
	{ "duplicate-toolkit", "cuda-drivers.yaml:3:12", "duplicate toolkit '13.0.0'" },
	{ "bad-driver-version", "cuda-drivers.yaml:2:29", "got '580..65'" },
	{ "unknown-branch-pin", "sizes.yaml:6:13", "branch 999 is not a datacenter branch" },
	{ "bad-size-name", "sizes.yaml:7:16", "bad size name 'NC24ads A100'" },
	{ "missing-key", "gpus.yaml:3:5", "missing required key 'architecture'" },
	{ "syntax-error", "sizes.yaml:8:1", "YAML syntax error" },
};

static void test_bad_catalogs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct dsvm_ctx *ctx = unit_ctx();
		struct dsvm_catalog *cat = NULL;
		char dir[512], where[600];
		int r;

		snprintf(dir, sizeof(dir), "%s/%s", BAD_DIR, bad_cases[i].dir);
		snprintf(where, sizeof(where), "%s/%s: ", dir, bad_cases[i].where);
		r = dsvm_catalog_load(ctx, dir, &cat);
		if (r != -EBADMSG)
			fail_msg("%s: loaded with %d, want -EBADMSG (%s)", bad_cases[i].dir, r,
				 dsvm_ctx_get_error(ctx));
		assert_null(cat);
		assert_error_contains(ctx, where);
		assert_error_contains(ctx, bad_cases[i].what);
		dsvm_ctx_free(ctx);
	}
}

static void test_base_of_bad_corpus_loads(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_catalog *cat = NULL;

	(void)state;
	assert_int_equal(dsvm_catalog_load(ctx, BAD_DIR "/0-base-valid", &cat), 0);
	assert_int_equal(dsvm_catalog_n_sizes(cat), 1);
	dsvm_catalog_free(cat);
	dsvm_ctx_free(ctx);
}

static void test_missing_directory(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_catalog *cat = NULL;

	(void)state;
	assert_int_equal(dsvm_catalog_load(ctx, DSVM_SRCDIR "/tests/fixtures/no-such-dir", &cat),
			 -ENOENT);
	assert_null(cat);
	assert_error_contains(ctx, "gpus.yaml");
	assert_int_equal(dsvm_catalog_load(ctx, NULL, &cat), -EINVAL);
	dsvm_catalog_free(NULL);
	dsvm_ctx_free(ctx);
}

static char *read_text(const char *path, size_t *ret_size);

/*
 * A scratch catalog: the tree's curated files (edited: with a comment added, so they are not the
 * bytes the build's index was made from), and pci-devices.yaml as given (NULL: none).
 */
static void make_catalog_edited(char dir[64], const char *pci_text, size_t pci_size, bool edited)
{
	static const char *const names[] = { "gpus.yaml", "sizes.yaml", "cuda-drivers.yaml" };
	char path[128], src[512];

	snprintf(dir, 64, "/tmp/dsvm-test-catalog.XXXXXX");
	assert_non_null(mkdtemp(dir));
	for (size_t i = 0; i < 3; i++) {
		snprintf(src, sizeof(src), "%s/%s", CATALOG_DIR, names[i]);
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (edited) {
			size_t size;
			char *text = read_text(src, &size);
			FILE *f = fopen(path, "w");

			assert_non_null(f);
			assert_int_equal(fwrite(text, 1, size, f), size);
			assert_true(fputs("# edited\n", f) >= 0);
			assert_int_equal(fclose(f), 0);
			free(text);
		} else {
			assert_int_equal(symlink(src, path), 0);
		}
	}
	if (pci_text) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/pci-devices.yaml", dir);
		f = fopen(path, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(pci_text, 1, pci_size, f), pci_size);
		assert_int_equal(fclose(f), 0);
	}
}

static void make_catalog(char dir[64], const char *pci_text, size_t pci_size)
{
	make_catalog_edited(dir, pci_text, pci_size, false);
}

static void remove_catalog(const char *dir)
{
	static const char *const names[] = { "gpus.yaml", "sizes.yaml", "cuda-drivers.yaml",
					     "pci-devices.yaml" };
	char path[128];

	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static char *read_text(const char *path, size_t *ret_size)
{
	FILE *f = fopen(path, "r");
	char *buf = malloc(1 << 22);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 22) - 64, f);
	assert_true(n > 0 && feof(f));
	fclose(f);
	*ret_size = n;
	return buf;
}

/*
 * The compiled-in index and the YAML it was made from classify every device id alike; an edited
 * table (one comment more) is not the index's, so it is parsed; an absent table places nothing.
 */
static void test_device_index_matches_yaml(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_catalog *fast = NULL, *slow = NULL, *none = NULL;
	struct dsvm_gpu_class a, b;
	size_t size, rows = 0;
	bool from_index = false;
	char dir[64], hex[65];
	const char *name;
	char *text;

	(void)state;
	text = read_text(CATALOG_DIR "/pci-devices.yaml", &size);
	assert_ok(ctx, dsvm_catalog_load(ctx, CATALOG_DIR, &fast));
	rows = dsvm_catalog_n_table_devices(fast, &from_index);
	assert_true(from_index);
	assert_true(rows > 1500);

	memcpy(text + size, "# edited\n", 9);
	make_catalog(dir, text, size + 9);
	assert_ok(ctx, dsvm_catalog_load(ctx, dir, &slow));
	assert_int_equal(dsvm_catalog_n_table_devices(slow, &from_index), rows);
	assert_false(from_index);
	for (uint32_t key = 0; key < 0x20000; key++) {
		uint16_t vendor = key >> 16 ? DSVM_PCI_VENDOR_AMD : DSVM_PCI_VENDOR_NVIDIA;
		int ra = dsvm_catalog_classify_gpu(fast, vendor, key & 0xffff, &a);
		int rb = dsvm_catalog_classify_gpu(slow, vendor, key & 0xffff, &b);

		assert_int_equal(ra, rb);
		if (ra < 0)
			continue;
		assert_string_equal(a.info->architecture, b.info->architecture);
		assert_int_equal(a.info->driver_kind, b.info->driver_kind);
		assert_int_equal(a.catalogued, b.catalogued);
		assert_true((a.name == NULL) == (b.name == NULL));
		if (a.name)
			assert_string_equal(a.name, b.name);
	}
	/* The table is an input of the lock, whichever way it was read. */
	assert_int_equal(dsvm_catalog_get_input(slow, 3, &name, hex), 0);
	assert_string_equal(name, "pci-devices.yaml");
	assert_int_equal(dsvm_catalog_get_input(fast, 3, &name, hex), 0);
	assert_int_equal(dsvm_catalog_get_input(fast, 4, &name, hex), -ERANGE);
	remove_catalog(dir);

	make_catalog(dir, NULL, 0);
	assert_ok(ctx, dsvm_catalog_load(ctx, dir, &none));
	assert_int_equal(dsvm_catalog_n_table_devices(none, NULL), 0);
	assert_int_equal(dsvm_catalog_classify_gpu(none, DSVM_PCI_VENDOR_NVIDIA, 0x1b06, &a),
			 -ENOENT);
	assert_int_equal(dsvm_catalog_classify_gpu(none, DSVM_PCI_VENDOR_NVIDIA, 0x20b5, &a), 0);
	assert_true(a.catalogued);
	assert_int_equal(dsvm_catalog_get_input(none, 3, &name, hex), -ERANGE);
	remove_catalog(dir);

	dsvm_catalog_free(fast);
	dsvm_catalog_free(slow);
	dsvm_catalog_free(none);
	free(text);
	dsvm_ctx_free(ctx);
}

static void assert_same_str(const char *a, const char *b)
{
	assert_true((a == NULL) == (b == NULL));
	if (a)
		assert_string_equal(a, b);
}

static void assert_same_node(const struct ynode *a, const struct ynode *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->line, b->line);
	assert_int_equal(a->column, b->column);
	assert_int_equal(a->n, b->n);
	if (a->kind == YNODE_SCALAR) {
		assert_int_equal(a->plain, b->plain);
		assert_string_equal(a->value, b->value);
		return;
	}
	for (size_t i = 0; i < a->n; i++) {
		assert_same_node(a->items[i], b->items[i]);
		if (a->kind == YNODE_MAPPING)
			assert_same_node(a->keys[i], b->keys[i]);
	}
}

/* Each compiled snapshot, made into a tree, is node for node what libyaml parses. */
static void test_snapshot_tree_matches_parse(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();

	(void)state;
	assert_true(dsvm_catalog_n_snapshots >= 3);
	for (size_t i = 0; i < dsvm_catalog_n_snapshots; i++) {
		const struct ydoc_snapshot *s = &dsvm_catalog_snapshots[i];
		struct ydoc *parsed = NULL, *snap = calloc(1, sizeof(*snap));
		char path[256];

		snprintf(path, sizeof(path), "%s/%s", CATALOG_DIR, dsvm_catalog_pool + s->name);
		assert_ok(ctx, ydoc_load(ctx, path, &parsed));
		assert_non_null(snap);
		assert_int_equal(ydoc_snapshot_tree(snap, s), 0);
		assert_same_node(snap->root, parsed->root);
		ydoc_free(snap);
		ydoc_free(parsed);
	}
	dsvm_ctx_free(ctx);
}

/*
 * The hand-written files through the compiled node trees and through libyaml load the same
 * catalog, field by field (the loaders and their checks are the same; only the parse differs).
 */
static void test_snapshot_matches_parse(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_catalog *fast = NULL, *slow = NULL;
	char dir[64], a_cuda[16], b_cuda[16];

	(void)state;
	assert_ok(ctx, dsvm_catalog_load(ctx, CATALOG_DIR, &fast));
	make_catalog_edited(dir, NULL, 0, true);
	assert_ok(ctx, dsvm_catalog_load(ctx, dir, &slow));
	assert_int_equal(dsvm_catalog_n_gpus(fast), dsvm_catalog_n_gpus(slow));
	for (size_t i = 0; i < dsvm_catalog_n_gpus(fast); i++) {
		const struct dsvm_gpu_info *a = dsvm_catalog_gpu_at(fast, i);
		const struct dsvm_gpu_info *b = dsvm_catalog_gpu_at(slow, i);

		assert_string_equal(a->key, b->key);
		assert_string_equal(a->model, b->model);
		assert_string_equal(a->architecture, b->architecture);
		assert_same_str(a->compute_capability, b->compute_capability);
		assert_same_str(a->max_branch, b->max_branch);
		assert_same_str(a->min_branch, b->min_branch);
		assert_int_equal(a->driver_kind, b->driver_kind);
		assert_int_equal(a->open_module, b->open_module);
		assert_int_equal(a->proprietary_module, b->proprietary_module);
		assert_int_equal(a->switch_only, b->switch_only);
		assert_int_equal(a->n_device_ids, b->n_device_ids);
		assert_memory_equal(a->device_ids, b->device_ids,
				    a->n_device_ids * sizeof(*a->device_ids));
	}
	assert_int_equal(dsvm_catalog_n_sizes(fast), dsvm_catalog_n_sizes(slow));
	for (size_t i = 0; i < dsvm_catalog_n_sizes(fast); i++) {
		const struct dsvm_size_info *a = dsvm_catalog_size_at(fast, i);
		const struct dsvm_size_info *b = dsvm_catalog_size_at(slow, i);

		assert_string_equal(a->name, b->name);
		assert_string_equal(a->family, b->family);
		assert_string_equal(a->series, b->series);
		assert_string_equal(a->gpu->key, b->gpu->key);
		assert_int_equal(a->gpus_num, b->gpus_num);
		assert_int_equal(a->gpus_den, b->gpus_den);
		assert_int_equal(a->pci_gpus, b->pci_gpus);
		assert_int_equal(a->infiniband, b->infiniband);
		assert_int_equal(a->nvswitch, b->nvswitch);
		assert_int_equal(a->retired, b->retired);
		assert_int_equal(a->driver_kind, b->driver_kind);
		assert_same_str(a->branch, b->branch);
	}
	assert_int_equal(dsvm_catalog_n_branches(fast), dsvm_catalog_n_branches(slow));
	for (size_t i = 0; i < dsvm_catalog_n_branches(fast); i++) {
		const struct dsvm_branch_info *a = dsvm_catalog_branch_at(fast, i);
		const struct dsvm_branch_info *b = dsvm_catalog_branch_at(slow, i);

		assert_string_equal(a->branch, b->branch);
		assert_string_equal(a->track, b->track);
		assert_string_equal(a->linux_version, b->linux_version);
		assert_same_str(a->windows_version, b->windows_version);
	}
	for (unsigned major = 300; major < 700; major += 5) {
		char drv[16];

		snprintf(drv, sizeof(drv), "%u", major);
		assert_int_equal(dsvm_catalog_cuda_max(fast, "linux", drv, a_cuda),
				 dsvm_catalog_cuda_max(slow, "linux", drv, b_cuda));
	}
	remove_catalog(dir);
	dsvm_catalog_free(fast);
	dsvm_catalog_free(slow);
	dsvm_ctx_free(ctx);
}

/* Table rows are checked like every other catalog file, with file:line:col. */
static void test_bad_device_tables(void **state)
{
	static const struct {
		const char *text, *where, *what;
	} cases[] = {
		{ "nvidia:\n  - {id: \"1b0\", name: x, architecture: pascal}\n",
		  "pci-devices.yaml:2:", "bad PCI device id '1b0'" },
		{ "amd:\n  - {id: \"738c\", name: x, architecture: cdna1}\n",
		  "pci-devices.yaml:2:", "needs 'family: instinct'" },
		{ "nvidia:\n  - {id: \"1b06\", name: x, architecture: pascal, colour: green}\n",
		  "pci-devices.yaml:2:", "colour" },
		{ "nvidia:\n  - {id: \"1b06\", name: x, architecture: pascal}\n  - {id: \"1B06\", "
		  "name: y, architecture: pascal}\n",
		  "pci-devices.yaml:1:", "10de:1b06 is listed twice" },
		{ "intel: []\n", "pci-devices.yaml:1:", "intel" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dsvm_ctx *ctx = unit_ctx();
		struct dsvm_catalog *cat = NULL;
		char dir[64];

		make_catalog(dir, cases[i].text, strlen(cases[i].text));
		assert_int_equal(dsvm_catalog_load(ctx, dir, &cat), -EBADMSG);
		assert_null(cat);
		assert_error_contains(ctx, cases[i].where);
		assert_error_contains(ctx, cases[i].what);
		remove_catalog(dir);
		dsvm_ctx_free(ctx);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_size_is_consistent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_gpu_is_consistent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gpu_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fractional_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cuda_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cuda_min_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_branches, setup, teardown),
		cmocka_unit_test(test_bad_catalogs),
		cmocka_unit_test(test_base_of_bad_corpus_loads),
		cmocka_unit_test(test_missing_directory),
		cmocka_unit_test(test_device_index_matches_yaml),
		cmocka_unit_test(test_bad_device_tables),
		cmocka_unit_test(test_snapshot_matches_parse),
		cmocka_unit_test(test_snapshot_tree_matches_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
