/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "unit.h"

#include "dsvm/catalog.h"
#include "dsvm/select.h"
#include "dsvm/target.h"

#define CATALOG_DIR DSVM_SRCDIR "/manifests/hardware"
#define NV 0x10de
#define AMD 0x1002

static struct dsvm_catalog *cat;
static struct dsvm_ctx *ctx;

static int group_setup(void **state)
{
	(void)state;
	ctx = unit_ctx();
	if (dsvm_catalog_load(ctx, CATALOG_DIR, &cat) < 0)
		fail_msg("catalog did not load: %s", dsvm_ctx_get_error(ctx));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	dsvm_catalog_free(cat);
	dsvm_ctx_free(ctx);
	return 0;
}

/* Select for a size (or NULL) and n copies of one PCI id. */
static struct dsvm_choice pick(const char *vm_size, uint16_t vendor, uint16_t device, size_t n,
			       bool ib, bool nvswitch)
{
	struct dsvm_hw_gpu gpus[16];
	struct dsvm_hw_summary hw = {
		.vm_size = vm_size,
		.gpus = gpus,
		.n_gpus = n,
		.infiniband = ib,
		.nvswitch = nvswitch,
	};
	struct dsvm_choice c;

	assert_true(n <= 16);
	for (size_t i = 0; i < n; i++)
		gpus[i] = (struct dsvm_hw_gpu){ vendor, device, 0 };
	assert_int_equal(dsvm_driver_select(ctx, cat, &hw, &c), 0);
	return c;
}

static void assert_no_warnings(const struct dsvm_choice *c)
{
	if (c->n_warnings)
		fail_msg("unexpected warning: %s", c->warnings[0].text);
}

static void assert_reason(const struct dsvm_choice *c, const char *needle)
{
	if (!strstr(c->reason, needle))
		fail_msg("reason '%s' does not contain '%s'", c->reason, needle);
}

static void test_a10_grid_by_size_open_by_pci(void **state)
{
	struct dsvm_choice c;

	(void)state;
	/* Under NVadsA10 v5 the A10 is served with GRID, pinned to the size's vGPU branch. */
	c = pick("Standard_NV36ads_A10_v5", NV, 0x2236, 1, false, false);
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_GRID);
	assert_string_equal(c.branch, "570");
	assert_string_equal(c.cuda_max, "12.8.1");
	assert_string_equal(c.size->family, "NVadsA10_v5");
	assert_string_equal(c.gpu->key, "a10");
	assert_reason(&c, "as Azure serves this size");
	assert_no_warnings(&c);

	/* A sixth of an A10 is one virtual function: still exactly what the size promises. */
	c = pick("standard_nv6ads_a10_v5", NV, 0x2236, 1, false, false);
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_GRID);
	assert_no_warnings(&c);

	/* The same A10 with no size: PCI decides, datacenter open driver. */
	c = pick(NULL, NV, 0x2236, 1, false, false);
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_OPEN);
	assert_string_equal(c.branch, "595");
	assert_string_equal(c.cuda_max, "13.2.2");
	assert_null(c.size);
	assert_reason(&c, "VM size unknown");
	assert_no_warnings(&c);

	/* An uncatalogued size with a GPU on PCI: PCI decides and the size is reported. */
	c = pick("Standard_NV9ads_A10_v9", NV, 0x2236, 1, false, false);
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_OPEN);
	assert_true(dsvm_choice_has_warning(&c, DSVM_SELECT_WARN_UNKNOWN_SIZE));
	assert_int_equal(c.n_warnings, 1);
}

static void test_kind_by_architecture(void **state)
{
	struct dsvm_choice c;

	(void)state;
	c = pick(NULL, NV, 0x102d, 2, false, false); /* K80 */
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_LEGACY_470);
	assert_string_equal(c.branch, "470");
	assert_string_equal(c.cuda_max, "11.4.4");
	assert_reason(&c, "kepler");

	c = pick("Standard_NC12", NV, 0x102d, 2, false, false);
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_LEGACY_470);
	assert_string_equal(c.branch, "470");
	assert_no_warnings(&c);

	c = pick(NULL, NV, 0x1db4, 1, false, false); /* V100 PCIe 16GB */
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_PROPRIETARY);
	assert_string_equal(c.branch, "580");
	assert_string_equal(c.cuda_max, "13.0.2");

	c = pick("Standard_ND40rs_v2", NV, 0x1db5, 8, true, false); /* V100 SXM2 32GB */
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_PROPRIETARY);
	assert_string_equal(c.branch, "580");
	assert_no_warnings(&c);

	c = pick(NULL, NV, 0x2331, 1, false, false); /* H100 PCIe */
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_OPEN);
	assert_string_equal(c.branch, "595");

	c = pick(NULL, NV, 0x2901, 8, false, false); /* B200 */
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_OPEN);
	assert_string_equal(c.gpu->architecture, "blackwell");

	c = pick("Standard_ND128isr_NDR_GB200_v6", NV, 0x2941, 4, true, false); /* GB200 */
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_OPEN);
	assert_string_equal(c.branch, "595");
	assert_no_warnings(&c);

	c = pick(NULL, NV, 0x1eb8, 1, false, false); /* T4: Turing, the first open GPU */
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_OPEN);
}

static void test_amd(void **state)
{
	struct dsvm_choice c;

	(void)state;
	c = pick("Standard_ND96isr_MI300X_v5", AMD, 0x74a1, 8, true, false);
	assert_int_equal(c.kind, DSVM_DRIVER_AMD_ROCM);
	assert_string_equal(c.branch, "");
	assert_string_equal(c.cuda_max, "");
	assert_no_warnings(&c);

	c = pick(NULL, AMD, 0x74b5, 1, false, false); /* MI300X VF */
	assert_int_equal(c.kind, DSVM_DRIVER_AMD_ROCM);

	c = pick(NULL, AMD, 0x73a1, 1, false, false); /* V620 */
	assert_int_equal(c.kind, DSVM_DRIVER_AMD_RADEON_PRO);
	c = pick("Standard_NG8ads_V620_v1", AMD, 0x73ae, 1, false, false);
	assert_int_equal(c.kind, DSVM_DRIVER_AMD_RADEON_PRO);
	assert_no_warnings(&c);

	/* V710: Radeon PRO by PCI, ROCm where the size says Azure serves it so. */
	c = pick(NULL, AMD, 0x7461, 1, false, false);
	assert_int_equal(c.kind, DSVM_DRIVER_AMD_RADEON_PRO);
	c = pick("Standard_NV12ads_V710_v5", AMD, 0x7461, 1, false, false);
	assert_int_equal(c.kind, DSVM_DRIVER_AMD_ROCM);
	assert_no_warnings(&c);
}

static void test_fabric(void **state)
{
	struct dsvm_hw_gpu gpus[12];
	struct dsvm_hw_summary hw = { .vm_size = "Standard_ND96isr_H100_v5", .gpus = gpus };
	struct dsvm_choice c;

	(void)state;
	/* Eight H100s and four NVSwitch functions: the switches are fabric, not GPUs. */
	for (size_t i = 0; i < 8; i++)
		gpus[hw.n_gpus++] = (struct dsvm_hw_gpu){ NV, 0x2330, 0 };
	for (size_t i = 0; i < 4; i++)
		gpus[hw.n_gpus++] = (struct dsvm_hw_gpu){ NV, 0x22a3, 0 };
	hw.infiniband = true;
	assert_int_equal(dsvm_driver_select(ctx, cat, &hw, &c), 0);
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_OPEN);
	assert_string_equal(c.gpu->key, "h100-sxm5");
	assert_no_warnings(&c);

	/* No InfiniBand and no NVSwitch where the size has both: two fabric warnings. */
	c = pick("Standard_ND96isr_H100_v5", NV, 0x2330, 8, false, false);
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_OPEN);
	assert_int_equal(c.n_warnings, 2);
	assert_int_equal(c.warnings[0].code, DSVM_SELECT_WARN_FABRIC_MISMATCH);
	assert_int_equal(c.warnings[1].code, DSVM_SELECT_WARN_FABRIC_MISMATCH);

	/* InfiniBand where the catalog has none. */
	c = pick("Standard_NC24ads_A100_v4", NV, 0x20b5, 1, true, false);
	assert_true(dsvm_choice_has_warning(&c, DSVM_SELECT_WARN_FABRIC_MISMATCH));
	assert_string_equal(c.warnings[0].text, "InfiniBand was detected on "
						"'Standard_NC24ads_A100_v4', which the catalog "
						"lists without it");
}

static void test_mismatches(void **state)
{
	struct dsvm_hw_gpu mixed[3] = { { NV, 0x20b5, 0 }, { NV, 0x20b5, 0 }, { NV, 0x1eb8, 0 } };
	struct dsvm_hw_summary hw = { .gpus = mixed, .n_gpus = 3 };
	struct dsvm_choice c;

	(void)state;
	/* The size says A100 but PCI shows nothing: reported, driver still from the size. */
	c = pick("Standard_NC24ads_A100_v4", 0, 0, 0, false, false);
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_OPEN);
	assert_true(dsvm_choice_has_warning(&c, DSVM_SELECT_WARN_GPU_MISSING));
	assert_non_null(strstr(c.warnings[0].text, "shows 0"));

	/* Half the GPUs missing. */
	c = pick("Standard_ND96isr_H100_v5", NV, 0x2330, 4, true, true);
	assert_true(dsvm_choice_has_warning(&c, DSVM_SELECT_WARN_GPU_MISSING));

	/* More GPUs than the size carries. */
	c = pick("Standard_NC24ads_A100_v4", NV, 0x20b5, 2, false, false);
	assert_true(dsvm_choice_has_warning(&c, DSVM_SELECT_WARN_UNEXPECTED_GPU));

	/* The size says A100, PCI shows an H100: PCI is what the driver must load on. */
	c = pick("Standard_NC24ads_A100_v4", NV, 0x2331, 1, false, false);
	assert_true(dsvm_choice_has_warning(&c, DSVM_SELECT_WARN_GPU_MISMATCH));
	assert_string_equal(c.gpu->key, "h100-pcie");
	assert_ptr_not_equal(c.size, NULL);

	/* The size says K80 (legacy) but PCI shows a V100: the kind follows the hardware. */
	c = pick("Standard_NC6", NV, 0x1db4, 1, false, false);
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_PROPRIETARY);
	assert_string_equal(c.branch, "580");

	/* Two models on PCI: the majority decides, the other is reported. */
	assert_int_equal(dsvm_driver_select(ctx, cat, &hw, &c), 0);
	assert_string_equal(c.gpu->key, "a100-pcie-80gb");
	assert_true(dsvm_choice_has_warning(&c, DSVM_SELECT_WARN_MIXED_GPUS));
}

static void test_unknown_devices(void **state)
{
	struct dsvm_hw_gpu gpus[3] = { { NV, 0x2fff, 0 }, { NV, 0x2fff, 0 }, { NV, 0x2ffe, 0 } };
	struct dsvm_hw_summary hw = { .gpus = gpus, .n_gpus = 3 };
	struct dsvm_choice c;

	(void)state;
	/* Reported per distinct id, not hidden; the guess is the open driver. */
	assert_int_equal(dsvm_driver_select(ctx, cat, &hw, &c), 0);
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_OPEN);
	assert_null(c.gpu);
	assert_int_equal(c.n_warnings, 2);
	assert_int_equal(c.warnings[0].code, DSVM_SELECT_WARN_UNKNOWN_DEVICE);
	assert_non_null(strstr(c.warnings[0].text, "10de:2fff (x2)"));
	assert_non_null(strstr(c.warnings[1].text, "10de:2ffe (x1)"));
	assert_reason(&c, "in no device table");
	assert_reason(&c, "newer than every table");
	assert_string_equal(c.branch, "595");

	/* An unknown AMD display device: reported, and no driver guessed. */
	c = pick(NULL, AMD, 0x7fff, 1, false, false);
	assert_int_equal(c.kind, DSVM_DRIVER_NONE);
	assert_true(dsvm_choice_has_warning(&c, DSVM_SELECT_WARN_UNKNOWN_DEVICE));

	/* An unknown device next to a known GPU: the known one decides, the other is reported. */
	gpus[2] = (struct dsvm_hw_gpu){ NV, 0x20b5, 0 };
	assert_int_equal(dsvm_driver_select(ctx, cat, &hw, &c), 0);
	assert_string_equal(c.gpu->key, "a100-pcie-80gb");
	assert_true(dsvm_choice_has_warning(&c, DSVM_SELECT_WARN_UNKNOWN_DEVICE));
}

/*
 * Devices gpus.yaml does not list, placed by the generated tables (pci-devices.yaml, from
 * pci.ids and NVIDIA's open-modules list): each gets its architecture's kind and limits.
 */
static void test_table_devices(void **state)
{
	static const struct {
		uint16_t vendor, device;
		uint32_t class_code;
		enum dsvm_driver_kind kind;
		const char *arch, *branch, *reason;
	} cases[] = {
		/* pci.ids: 1180 GK104 [GeForce GTX 680]: Kepler ends at R470. */
		{ NV, 0x1180, 0x030000, DSVM_DRIVER_NVIDIA_LEGACY_470, "kepler", "470", "GTX 680" },
		/* 13c2 GM204 [GeForce GTX 970], 1b06 GP102 [GeForce GTX 1080 Ti], 1dba GV100GL
		 * [Quadro GV100]: proprietary, the last branch 580. */
		{ NV, 0x13c2, 0x030000, DSVM_DRIVER_NVIDIA_PROPRIETARY, "maxwell", "580",
		  "GTX 970" },
		{ NV, 0x1b06, 0x030000, DSVM_DRIVER_NVIDIA_PROPRIETARY, "pascal", "580",
		  "1080 Ti" },
		{ NV, 0x1dba, 0x030000, DSVM_DRIVER_NVIDIA_PROPRIETARY, "volta", "580", "GV100" },
		/* 06d1 GF100GL [Tesla C2050 / C2070]: nothing dsvm carries drives Fermi. */
		{ NV, 0x06d1, 0x030200, DSVM_DRIVER_NONE, "fermi", "", "no driver branch" },
		/* 1e04 TU102 [GeForce RTX 2080 Ti], 2204 GA102 [GeForce RTX 3090], 2684 AD102
		 * [GeForce RTX 4090]; 2b85 "NVIDIA GeForce RTX 5090" is only on NVIDIA's list. */
		{ NV, 0x1e04, 0x030000, DSVM_DRIVER_NVIDIA_OPEN, "turing", "595", "RTX 2080 Ti" },
		{ NV, 0x2204, 0x030000, DSVM_DRIVER_NVIDIA_OPEN, "ampere", "595", "RTX 3090" },
		{ NV, 0x2684, 0x030000, DSVM_DRIVER_NVIDIA_OPEN, "ada", "595", "RTX 4090" },
		{ NV, 0x2b85, 0x030000, DSVM_DRIVER_NVIDIA_OPEN, "blackwell", "595", "RTX 5090" },
		/* 738c Arcturus GL-XL [Instinct MI100]; 73a3 Navi 21 GL-XL [Radeon PRO W6800]. */
		{ AMD, 0x738c, 0x038000, DSVM_DRIVER_AMD_ROCM, "cdna1", "", "MI100" },
		{ AMD, 0x73a3, 0x030000, DSVM_DRIVER_AMD_RADEON_PRO, "rdna2", "", "W6800" },
		/* 74a0 [Instinct MI300A] is newer than pci.ids 2023.04: an accelerator in no table. */
		{ AMD, 0x74a0, 0x120000, DSVM_DRIVER_AMD_ROCM, NULL, "", "newer than every table" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dsvm_hw_gpu g = { cases[i].vendor, cases[i].device, cases[i].class_code };
		struct dsvm_hw_summary hw = { .gpus = &g, .n_gpus = 1 };
		struct dsvm_choice c;

		assert_int_equal(dsvm_driver_select(ctx, cat, &hw, &c), 0);
		if (c.kind != cases[i].kind)
			fail_msg("%04x:%04x: kind %s, want %s (%s)", cases[i].vendor,
				 cases[i].device, dsvm_driver_kind_to_string(c.kind),
				 dsvm_driver_kind_to_string(cases[i].kind), c.reason);
		assert_string_equal(c.branch, cases[i].branch);
		assert_reason(&c, cases[i].reason);
		if (cases[i].arch) {
			assert_non_null(c.gpu);
			assert_true(c.gpu->generated);
			assert_string_equal(c.gpu->architecture, cases[i].arch);
			assert_reason(&c, "public device tables");
		} else {
			assert_null(c.gpu);
		}
	}
}

/* A served GPU decides over any number of devices the tables place in no kind. */
static void test_served_outranks_unserved(void **state)
{
	struct dsvm_hw_gpu gpus[3] = { { NV, 0x06d1, 0x030200 },
				       { NV, 0x06d1, 0x030200 },
				       { NV, 0x1eb8, 0x030200 } };
	struct dsvm_hw_summary hw = { .gpus = gpus, .n_gpus = 3 };
	struct dsvm_choice c;

	(void)state;
	assert_int_equal(dsvm_driver_select(ctx, cat, &hw, &c), 0);
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_OPEN);
	assert_string_equal(c.gpu->key, "tesla-t4");
	assert_true(dsvm_choice_has_warning(&c, DSVM_SELECT_WARN_MIXED_GPUS));
}

static void test_cpu_only(void **state)
{
	struct dsvm_hw_gpu video = { 0x1414, 0x5353, 0 }; /* Hyper-V video: not a GPU vendor */
	struct dsvm_hw_summary hw = { .vm_size = "Standard_D4s_v5", .gpus = &video, .n_gpus = 1 };
	struct dsvm_choice c;

	(void)state;
	assert_int_equal(dsvm_driver_select(ctx, cat, &hw, &c), 0);
	assert_int_equal(c.kind, DSVM_DRIVER_NONE);
	assert_string_equal(c.branch, "");
	assert_reason(&c, "'Standard_D4s_v5' is not a GPU size");
	assert_reason(&c, "CPU only");
	assert_no_warnings(&c);

	c = pick(NULL, 0, 0, 0, false, false);
	assert_int_equal(c.kind, DSVM_DRIVER_NONE);
	assert_no_warnings(&c);
}

static void test_secure_boot(void **state)
{
	struct dsvm_hw_gpu a10 = { NV, 0x2236, 0 };
	struct dsvm_hw_summary hw = {
		.vm_size = "Standard_NV36ads_A10_v5", .gpus = &a10, .n_gpus = 1, .secure_boot = true
	};
	struct dsvm_choice c;

	(void)state;
	assert_int_equal(dsvm_driver_select(ctx, cat, &hw, &c), 0);
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_GRID);
	assert_true(dsvm_choice_has_warning(&c, DSVM_SELECT_WARN_SECURE_BOOT));

	/* The open driver ships as signed prebuilt modules: no warning. */
	hw.vm_size = NULL;
	assert_int_equal(dsvm_driver_select(ctx, cat, &hw, &c), 0);
	assert_int_equal(c.kind, DSVM_DRIVER_NVIDIA_OPEN);
	assert_false(dsvm_choice_has_warning(&c, DSVM_SELECT_WARN_SECURE_BOOT));
}

/* Every catalogued size, shown the hardware it promises, selects its own kind silently. */
static void test_every_size_selects_its_kind(void **state)
{
	(void)state;
	for (size_t i = 0; i < dsvm_catalog_n_sizes(cat); i++) {
		const struct dsvm_size_info *s = dsvm_catalog_size_at(cat, i);
		struct dsvm_choice c = pick(s->name, s->gpu->vendor_id, s->gpu->device_ids[0],
					    s->pci_gpus, s->infiniband, s->nvswitch);

		if (c.kind != s->driver_kind || c.n_warnings)
			fail_msg("%s: kind %s, %zu warning(s) (%s)", s->name,
				 dsvm_driver_kind_to_string(c.kind), c.n_warnings,
				 c.n_warnings ? c.warnings[0].text : "");
		assert_ptr_equal(c.size, s);
		if (dsvm_driver_kind_vendor(c.kind) == DSVM_VENDOR_NVIDIA) {
			assert_true(c.branch[0] != '\0');
			assert_true(c.cuda_max[0] != '\0');
		} else {
			assert_string_equal(c.branch, "");
		}
	}
}

static void test_target_from_size(void **state)
{
	struct dsvm_target t;

	(void)state;
	dsvm_target_init(&t, "ubuntu-24.04", "x86_64");
	assert_int_equal(dsvm_target_from_size(ctx, cat, "nc24ads_a100_v4", &t), 0);
	assert_string_equal(t.os, "ubuntu-24.04");
	assert_string_equal(t.vm_size, "Standard_NC24ads_A100_v4");
	assert_string_equal(t.vm_family, "NCads_A100_v4");
	assert_int_equal(t.driver_kind, DSVM_DRIVER_NVIDIA_OPEN);
	assert_string_equal(t.driver_branch, "595");
	assert_int_equal(t.infiniband, DSVM_NO);
	assert_int_equal(t.nvswitch, DSVM_NO);

	assert_int_equal(dsvm_target_from_size(ctx, cat, "Standard_ND96amsr_A100_v4", &t), 0);
	assert_int_equal(t.infiniband, DSVM_YES);
	assert_int_equal(t.nvswitch, DSVM_YES);
	assert_string_equal(t.vm_family, "NDm_A100_v4");

	assert_string_equal(t.driver_branch_min, "");
	assert_string_equal(t.driver_branch_max, "");

	assert_int_equal(dsvm_target_from_size(ctx, cat, "Standard_NC6", &t), 0);
	assert_int_equal(t.driver_kind, DSVM_DRIVER_NVIDIA_LEGACY_470);
	assert_string_equal(t.driver_branch, "470");
	assert_string_equal(t.driver_branch_max, "470");

	assert_int_equal(dsvm_target_from_size(ctx, cat, "Standard_ND128isr_NDR_GB200_v6", &t), 0);
	assert_string_equal(t.driver_branch_min, "570");
	assert_string_equal(t.driver_branch_max, "");

	assert_int_equal(dsvm_target_from_size(ctx, cat, "Standard_NV12ads_A10_v5", &t), 0);
	assert_int_equal(t.driver_kind, DSVM_DRIVER_NVIDIA_GRID);
	assert_string_equal(t.driver_branch, "570");

	assert_int_equal(dsvm_target_from_size(ctx, cat, "Standard_D4s_v5", &t), 0);
	assert_int_equal(t.driver_kind, DSVM_DRIVER_NONE);
	assert_string_equal(t.vm_family, "");
	assert_string_equal(t.driver_branch, "");
	assert_string_equal(t.vm_size, "Standard_D4s_v5");
	assert_string_equal(t.driver_branch_min, "");
	assert_non_null(strstr(t.reason, "CPU only"));

	/* Failures leave the target alone. */
	assert_int_equal(dsvm_target_from_size(ctx, cat, "", &t), -EINVAL);
	assert_int_equal(dsvm_target_from_size(ctx, cat, NULL, &t), -EINVAL);
	assert_string_equal(t.vm_size, "Standard_D4s_v5");
}

static void test_target_from_choice(void **state)
{
	struct dsvm_hw_gpu gpus[8];
	struct dsvm_hw_summary hw = { .vm_size = "Standard_ND96isr_H200_v5",
				      .gpus = gpus,
				      .n_gpus = 8,
				      .infiniband = true,
				      .nvswitch = true };
	struct dsvm_choice c;
	struct dsvm_target t;

	(void)state;
	for (size_t i = 0; i < 8; i++)
		gpus[i] = (struct dsvm_hw_gpu){ NV, 0x2335, 0 };
	assert_int_equal(dsvm_driver_select(ctx, cat, &hw, &c), 0);
	assert_no_warnings(&c);
	dsvm_target_init(&t, "ubuntu-22.04", "x86_64");
	dsvm_target_from_choice(&c, &hw, &t);
	assert_string_equal(t.vm_family, "ND_H200_v5");
	assert_int_equal(t.driver_kind, DSVM_DRIVER_NVIDIA_OPEN);
	assert_string_equal(t.driver_branch, c.branch);
	assert_string_equal(t.driver_branch_min, "");
	assert_string_equal(t.driver_branch_max, "");
	assert_int_equal(t.infiniband, DSVM_YES);
	assert_int_equal(t.nvswitch, DSVM_YES);
	assert_string_equal(t.reason, c.reason);
	assert_string_equal(t.os, "ubuntu-22.04");
}

static void test_target_limits_from_choice(void **state)
{
	struct dsvm_choice c = pick(NULL, NV, 0x102d, 1, false, false);
	struct dsvm_target t;

	(void)state;
	dsvm_target_init(&t, "ubuntu-22.04", "x86_64");
	dsvm_target_from_choice(&c, NULL, &t);
	assert_int_equal(t.driver_kind, DSVM_DRIVER_NVIDIA_LEGACY_470);
	assert_string_equal(t.driver_branch_max, "470");
	assert_string_equal(t.vm_size, "");
	assert_int_equal(t.infiniband, DSVM_NO);
}

static void test_bad_arguments(void **state)
{
	struct dsvm_hw_summary hw = { .n_gpus = 1 };
	struct dsvm_choice c;

	(void)state;
	assert_int_equal(dsvm_driver_select(ctx, cat, NULL, &c), -EINVAL);
	assert_int_equal(dsvm_driver_select(ctx, NULL, &hw, &c), -EINVAL);
	/* n_gpus without an array, and an absurd count. */
	assert_int_equal(dsvm_driver_select(ctx, cat, &hw, &c), -EINVAL);
	hw.gpus = (const struct dsvm_hw_gpu[]){ { NV, 0x20b5, 0 } };
	hw.n_gpus = 5000;
	assert_int_equal(dsvm_driver_select(ctx, cat, &hw, &c), -EINVAL);
	assert_error_contains(ctx, "5000");
	assert_int_equal(dsvm_driver_select(NULL, cat, NULL, &c), -EINVAL);

	for (int code = 0; code < _DSVM_SELECT_WARN_MAX; code++)
		assert_non_null(dsvm_select_warning_to_string(code));
	assert_null(dsvm_select_warning_to_string(_DSVM_SELECT_WARN_MAX));
	assert_false(dsvm_choice_has_warning(NULL, DSVM_SELECT_WARN_UNKNOWN_SIZE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a10_grid_by_size_open_by_pci),
		cmocka_unit_test(test_kind_by_architecture),
		cmocka_unit_test(test_amd),
		cmocka_unit_test(test_fabric),
		cmocka_unit_test(test_mismatches),
		cmocka_unit_test(test_unknown_devices),
		cmocka_unit_test(test_cpu_only),
		cmocka_unit_test(test_secure_boot),
		cmocka_unit_test(test_every_size_selects_its_kind),
		cmocka_unit_test(test_target_from_size),
		cmocka_unit_test(test_target_from_choice),
		cmocka_unit_test(test_target_limits_from_choice),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_table_devices),
		cmocka_unit_test(test_served_outranks_unserved),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
