/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "unit.h"

#include "detect-internal.h"
#include "dsvm/detect.h"
#include "dsvm/state.h"
#include "test-detect-tmpdir.h"

static void pci_dev(const char *addr, const char *vendor, const char *device, const char *class)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/vendor", addr);
	tmpdir_puts(rel, vendor);
	snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/device", addr);
	tmpdir_puts(rel, device);
	snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/class", addr);
	tmpdir_puts(rel, class);
}

static struct dsvm_hw *detect(struct dsvm_ctx *ctx, const struct dsvm_hw_options *opts)
{
	struct dsvm_hw *hw = NULL;

	assert_int_equal(dsvm_ctx_set_sysroot(ctx, tmpdir), 0);
	assert_int_equal(dsvm_hw_detect(ctx, opts, &hw), 0);
	assert_non_null(hw);
	return hw;
}

static void test_parse_hex(void **state)
{
	uint32_t v = 0;

	(void)state;
	assert_int_equal(sysfs_parse_hex("0x10de\n", 7, 4, &v), 0);
	assert_int_equal(v, 0x10de);
	assert_int_equal(sysfs_parse_hex("0x030200", 8, 6, &v), 0);
	assert_int_equal(v, 0x030200);
	assert_int_equal(sysfs_parse_hex("0x10DE", 6, 4, &v), 0);
	assert_int_equal(v, 0x10de);
	v = 7;
	assert_int_equal(sysfs_parse_hex("", 0, 4, &v), -EBADMSG);
	assert_int_equal(sysfs_parse_hex("0x", 2, 4, &v), -EBADMSG);
	assert_int_equal(sysfs_parse_hex("0x\n", 3, 4, &v), -EBADMSG);
	assert_int_equal(sysfs_parse_hex("0x10", 4, 4, &v), -EBADMSG); /* truncated */
	assert_int_equal(sysfs_parse_hex("0x0302", 6, 6, &v), -EBADMSG);
	assert_int_equal(sysfs_parse_hex("0x10dg\n", 7, 4, &v), -EBADMSG);
	assert_int_equal(sysfs_parse_hex("0x10de\n\n", 8, 4, &v), -EBADMSG);
	assert_int_equal(sysfs_parse_hex(" 0x10de", 7, 4, &v), -EBADMSG);
	assert_int_equal(sysfs_parse_hex("0x110de\n", 8, 4, &v), -EBADMSG);
	assert_int_equal(sysfs_parse_hex("0x123456789", 11, 9, &v), -EBADMSG);
	/* A NUL inside the size is garbage, not the end of the string. */
	assert_int_equal(sysfs_parse_hex("0x10\0d", 7, 4, &v), -EBADMSG);
	assert_int_equal(v, 7); /* never written on failure */
}

static void test_pci_address(void **state)
{
	(void)state;
	assert_true(pci_address_is_valid("0000:00:1f.3"));
	assert_true(pci_address_is_valid("0001:00:00.0"));
	assert_true(pci_address_is_valid("10000:00:00.0"));
	assert_false(pci_address_is_valid("000:00:00.0"));
	assert_false(pci_address_is_valid("0000:00:00.8"));
	assert_false(pci_address_is_valid("0000:00:00"));
	assert_false(pci_address_is_valid("0000-00:00.0"));
	assert_false(pci_address_is_valid("0000:00:00.0x"));
	assert_false(pci_address_is_valid("pci0000:00"));
	assert_false(pci_address_is_valid(""));
}

static void test_parse_efivar(void **state)
{
	static const unsigned char on[] = { 6, 0, 0, 0, 1 }, off[] = { 6, 0, 0, 0, 0 },
				   two[] = { 6, 0, 0, 0, 2 }, longer[] = { 6, 0, 0, 0, 1, 0 };
	bool b = false;

	(void)state;
	assert_int_equal(efivar_parse_bool(on, sizeof(on), &b), 0);
	assert_true(b);
	assert_int_equal(efivar_parse_bool(off, sizeof(off), &b), 0);
	assert_false(b);
	assert_int_equal(efivar_parse_bool(on, 4, &b), -EBADMSG);
	assert_int_equal(efivar_parse_bool(on, 0, &b), -EBADMSG);
	assert_int_equal(efivar_parse_bool(two, sizeof(two), &b), -EBADMSG);
	assert_int_equal(efivar_parse_bool(longer, sizeof(longer), &b), -EBADMSG);
}

static void test_parse_kernel(void **state)
{
	char *s = NULL;
	char big[100];

	(void)state;
	assert_int_equal(kernel_release_parse("6.8.0-1017-azure\n", 17, &s), 0);
	assert_string_equal(s, "6.8.0-1017-azure");
	free(s);
	s = NULL;
	assert_int_equal(kernel_release_parse("\n", 1, &s), -EBADMSG);
	assert_int_equal(kernel_release_parse("6.8 0\n", 6, &s), -EBADMSG);
	assert_int_equal(kernel_release_parse("6.8\n\n", 5, &s), -EBADMSG);
	assert_int_equal(kernel_release_parse("\x01\x02", 2, &s), -EBADMSG);
	memset(big, 'a', sizeof(big));
	assert_int_equal(kernel_release_parse(big, sizeof(big), &s), -EBADMSG);
	assert_null(s);
}

static void test_parse_nvidia_version(void **state)
{
	static const char prop[] = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.216.03  "
				   "Thu "
				   "Apr  3 01:14:19 UTC 2025\nGCC version:  gcc 12\n";
	static const char open[] = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  "
				   "580.142  Release Build  (dvs-builder@U22)  Tue Mar  3 2026\n";
	static const char arm[] = "NVRM version: NVIDIA UNIX Kernel Module for aarch64  34.1.1  "
				  "Release Build\n";
	char v[32] = "";
	bool is_open = true;

	(void)state;
	assert_int_equal(nvidia_version_parse(prop, sizeof(prop) - 1, v, &is_open), 0);
	assert_string_equal(v, "535.216.03");
	assert_false(is_open);
	assert_int_equal(nvidia_version_parse(open, sizeof(open) - 1, v, &is_open), 0);
	assert_string_equal(v, "580.142");
	assert_true(is_open);
	assert_int_equal(nvidia_version_parse(arm, sizeof(arm) - 1, v, NULL), 0);
	assert_string_equal(v, "34.1.1");
	/* Truncated before the version, garbage, versions on the second line only. */
	assert_int_equal(nvidia_version_parse(open, 40, v, NULL), -EBADMSG);
	assert_int_equal(nvidia_version_parse("garbage 1.2\n", 12, v, NULL), -EBADMSG);
	assert_int_equal(nvidia_version_parse("NVRM version: x\n1.2.3", 21, v, NULL), -EBADMSG);
	assert_int_equal(nvidia_version_parse("NVRM version: 1..2 3.", 21, v, NULL), -EBADMSG);
	assert_int_equal(nvidia_version_parse("", 0, v, NULL), -EBADMSG);
}

static void test_parse_instance_data(void **state)
{
	static const char good[] = "{\"ds\":{\"meta_data\":{\"imds\":{\"compute\":{\"vmSize\":"
				   "\"Standard_NC6s_v3\"}}}}}";
	static const char empty_imds[] = "{\"ds\":{\"meta_data\":{\"imds\":{}}}}";
	static const char wrong_case[] = "{\"ds\":{\"meta_data\":{\"imds\":{\"compute\":{"
					 "\"vmsize\":\"Standard_NC6s_v3\"}}}}}";
	static const char not_string[] = "{\"ds\":{\"meta_data\":{\"imds\":{\"compute\":{"
					 "\"vmSize\":6}}}}}";
	static const char bad_name[] = "{\"ds\":{\"meta_data\":{\"imds\":{\"compute\":{\"vmSize\":"
				       "\"a b\"}}}}}";
	static const char dup[] = "{\"ds\":{},\"ds\":{}}";
	struct dsvm_ctx *ctx = unit_ctx();
	char *s = NULL;

	(void)state;
	assert_int_equal(instance_data_parse_vm_size(ctx, good, sizeof(good) - 1, &s), 0);
	assert_string_equal(s, "Standard_NC6s_v3");
	free(s);
	s = NULL;
	assert_int_equal(instance_data_parse_vm_size(ctx, empty_imds, strlen(empty_imds), &s),
			 -ENOENT);
	assert_int_equal(instance_data_parse_vm_size(ctx, wrong_case, strlen(wrong_case), &s),
			 -ENOENT);
	assert_int_equal(instance_data_parse_vm_size(ctx, not_string, strlen(not_string), &s),
			 -EBADMSG);
	assert_int_equal(instance_data_parse_vm_size(ctx, bad_name, strlen(bad_name), &s),
			 -EBADMSG);
	assert_int_equal(instance_data_parse_vm_size(ctx, good, 30, &s), -EBADMSG);
	assert_int_equal(instance_data_parse_vm_size(ctx, dup, strlen(dup), &s), -EBADMSG);
	assert_int_equal(instance_data_parse_vm_size(ctx, "[]", 2, &s), -ENOENT);
	assert_int_equal(instance_data_parse_vm_size(ctx, "", 0, &s), -EBADMSG);
	assert_error_contains(ctx, "instance-data.json");
	assert_null(s);
	dsvm_ctx_free(ctx);
}

static void test_parse_imds(void **state)
{
	static const char leaf[] = "{\"location\":\"eastus\",\"vmSize\":\"Standard_ND96asr_v4\"}";
	static const char whole[] = "{\"compute\":{\"vmSize\":\"Standard_D4s_v5\"},\"network\":{}}";
	static const char html[] = "<html><body>403</body></html>";
	struct dsvm_ctx *ctx = unit_ctx();
	char *s = NULL;

	(void)state;
	assert_int_equal(imds_parse_vm_size(ctx, leaf, strlen(leaf), &s), 0);
	assert_string_equal(s, "Standard_ND96asr_v4");
	free(s);
	assert_int_equal(imds_parse_vm_size(ctx, whole, strlen(whole), &s), 0);
	assert_string_equal(s, "Standard_D4s_v5");
	free(s);
	s = NULL;
	assert_int_equal(imds_parse_vm_size(ctx, html, strlen(html), &s), -EBADMSG);
	assert_int_equal(imds_parse_vm_size(ctx, "\"x\"", 3, &s), -EBADMSG);
	assert_int_equal(imds_parse_vm_size(ctx, "{}", 2, &s), -ENOENT);
	assert_int_equal(imds_parse_vm_size(ctx, leaf, 20, &s), -EBADMSG);
	assert_null(s);
	dsvm_ctx_free(ctx);
}

static void test_vm_size_valid(void **state)
{
	(void)state;
	assert_true(dsvm_vm_size_is_valid("Standard_NC24ads_A100_v4"));
	assert_false(dsvm_vm_size_is_valid(""));
	assert_false(dsvm_vm_size_is_valid(NULL));
	assert_false(dsvm_vm_size_is_valid("Standard NC6"));
	assert_false(dsvm_vm_size_is_valid("../../etc"));
	assert_false(dsvm_vm_size_is_valid("Standard_"
					   "0123456789012345678901234567890123456789012345678901234"
					   "567890"));
}

/* An empty tmpdir: no PCI, no EFI, nothing known, and detection still succeeds. */
static void test_detect_empty(void **state)
{
	struct dsvm_hw_options opts = { .no_imds = true };
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_hw *hw;

	(void)state;
	hw = detect(ctx, &opts);
	assert_int_equal(dsvm_hw_get_n_gpus(hw), 0);
	assert_null(dsvm_hw_get_gpu(hw, 0));
	assert_int_equal(dsvm_hw_get_n_pci_devices(hw), 0);
	assert_false(dsvm_hw_has_infiniband(hw));
	assert_int_equal(dsvm_hw_get_secure_boot(hw), 0); /* no EFI: no Secure Boot */
	assert_null(dsvm_hw_get_kernel(hw));
	assert_null(dsvm_hw_get_nvidia_driver(hw, NULL));
	assert_null(dsvm_hw_get_vm_size(hw));
	assert_int_equal(dsvm_hw_get_vm_size_source(hw), DSVM_VM_SIZE_SOURCE_NONE);
	assert_string_equal(dsvm_vm_size_source_to_string(dsvm_hw_get_vm_size_source(hw)), "none");
	dsvm_hw_free(hw);
	dsvm_ctx_free(ctx);
}

/* Every garbage or truncated sysfs file loses that one device or fact, never the scan. */
static void test_detect_garbage(void **state)
{
	static const unsigned char sb_short[] = { 6, 0, 0 };
	struct dsvm_hw_options opts = { .no_imds = true };
	struct dsvm_ctx *ctx = unit_ctx();
	const struct dsvm_gpu *g;
	struct dsvm_hw *hw;
	char big[200];

	(void)state;
	pci_dev("0001:00:00.0", "0x10de\n", "0x20b5\n", "0x030200\n");
	tmpdir_puts("/sys/bus/pci/devices/0001:00:00.0/subsystem_vendor", "0x10de\n");
	tmpdir_puts("/sys/bus/pci/devices/0001:00:00.0/subsystem_device", "0x1533\n");
	pci_dev("0002:00:00.0", "0x10de\n", "0x20b5\n", "0x0302"); /* truncated class */
	pci_dev("0003:00:00.0", "0x10", "0x20b5\n", "0x030200\n"); /* truncated vendor */
	pci_dev("0004:00:00.0", "0x10de\n", "garbage", "0x030200\n");
	pci_dev("0005:00:00.0", "0x1002\n", "0x74a1\n", "0x120000\n"); /* MI300X: accelerator */
	/* Subsystem ids garbage: still a GPU, subsystem 0. */
	pci_dev("0006:00:00.0", "0x1002\n", "0x73a1\n", "0x038000\n");
	tmpdir_puts("/sys/bus/pci/devices/0006:00:00.0/subsystem_vendor", "\xff\xfe");
	memset(big, '0', sizeof(big));
	tmpdir_put("/sys/bus/pci/devices/0007:00:00.0/class", big, sizeof(big)); /* over the cap */
	tmpdir_puts("/sys/bus/pci/devices/0007:00:00.0/vendor", "0x10de\n");
	pci_dev("0008:00:00.0", "0x1414\n", "0x5353\n", "0x030000\n"); /* Hyper-V VGA */
	pci_dev("0009:00:00.0", "0x8086\n", "0x0b25\n", "0x120000\n"); /* not a GPU vendor */
	pci_dev("000a:00:00.0", "0x1a03\n", "0x2000\n", "0x030000\n"); /* ASPEED: other */
	tmpdir_puts("/sys/bus/pci/devices/not-an-address/vendor", "0x10de\n");
	assert_int_equal(mkdir_parents(strcat(strcpy(big, tmpdir), "/sys/bus/pci/devices/"
								   "000b:00:00.0"),
				       0755),
			 0); /* a device directory with no files */
	tmpdir_put("/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c",
		   sb_short, sizeof(sb_short));
	tmpdir_puts("/proc/sys/kernel/osrelease", "6.8.0 with spaces\n");
	tmpdir_puts("/proc/driver/nvidia/version", "NVRM version: truncated");
	tmpdir_puts("/run/cloud-init/instance-data.json", "{\"ds\": {\"meta_data\": ");

	hw = detect(ctx, &opts);
	assert_int_equal(dsvm_hw_get_n_pci_devices(hw), 11);
	assert_int_equal(dsvm_hw_get_n_gpus(hw), 3);
	g = dsvm_hw_get_gpu(hw, 0);
	assert_string_equal(g->address, "0001:00:00.0");
	assert_int_equal(g->vendor, DSVM_VENDOR_NVIDIA);
	assert_int_equal(g->device_id, 0x20b5);
	assert_int_equal(g->subsystem_device_id, 0x1533);
	assert_int_equal(g->class_code, 0x030200);
	g = dsvm_hw_get_gpu(hw, 1);
	assert_string_equal(g->address, "0005:00:00.0");
	assert_int_equal(g->vendor, DSVM_VENDOR_AMD);
	g = dsvm_hw_get_gpu(hw, 2);
	assert_string_equal(g->address, "0006:00:00.0");
	assert_int_equal(g->subsystem_vendor_id, 0);
	assert_null(dsvm_hw_get_gpu(hw, 3));
	/* Hyper-V's and ASPEED's VGA are display adapters, never GPUs. */
	assert_int_equal(dsvm_hw_get_n_display_adapters(hw), 2);
	g = dsvm_hw_get_display_adapter(hw, 0);
	assert_string_equal(g->address, "0008:00:00.0");
	assert_int_equal(g->vendor_id, 0x1414);
	g = dsvm_hw_get_display_adapter(hw, 1);
	assert_string_equal(g->address, "000a:00:00.0");
	assert_int_equal(g->vendor, DSVM_VENDOR_OTHER);
	assert_null(dsvm_hw_get_display_adapter(hw, 2));
	assert_int_equal(dsvm_hw_get_secure_boot(hw), -ENODATA);
	assert_null(dsvm_hw_get_kernel(hw));
	assert_null(dsvm_hw_get_nvidia_driver(hw, NULL));
	assert_int_equal(dsvm_hw_get_vm_size_source(hw), DSVM_VM_SIZE_SOURCE_NONE);
	dsvm_hw_free(hw);
	dsvm_ctx_free(ctx);
}

static void test_detect_fabric(void **state)
{
	struct dsvm_hw_options opts = { .no_imds = true };
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_hw *hw;
	bool open = false;

	(void)state;
	pci_dev("0011:00:00.0", "0x10de\n", "0x22a3\n", "0x068000\n"); /* H100 NVSwitch */
	pci_dev("0012:00:00.0", "0x10de\n", "0x22a3\n", "0x068000\n");
	pci_dev("0013:00:00.0", "0x8086\n", "0x1234\n", "0x068000\n"); /* not NVIDIA */
	/* IBM's NVLink NPU bridge (1014:04ea, class 0x0680: NVIDIA's ibmnpu_export.h): neither a
	 * GPU nor an NVSwitch. */
	pci_dev("0014:00:00.0", "0x1014\n", "0x04ea\n", "0x068000\n");
	pci_dev("0101:00:00.0", "0x15b3\n", "0x101e\n", "0x020700\n"); /* IB VF */
	pci_dev("0102:00:00.0", "0x15b3\n", "0x1016\n", "0x020000\n"); /* Ethernet VF */
	tmpdir_puts("/sys/class/infiniband/mlx5_0/ports/1/link_layer", "Ethernet\n");
	tmpdir_puts("/sys/class/infiniband/mlx5_ib0/ports/1/link_layer", "InfiniBand\n");
	tmpdir_puts("/sys/class/infiniband/mlx5_ib0/ports/2/link_layer", "InfiniBandX\n");
	tmpdir_puts("/sys/class/infiniband/mlx5_ib1/ports/1/nothing", "");
	tmpdir_put("/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c",
		   "\x06\x00\x00\x00\x01", 5);
	tmpdir_puts("/proc/sys/kernel/osrelease", "6.8.0-1017-azure\n");
	tmpdir_puts("/proc/driver/nvidia/version", "NVRM version: NVIDIA UNIX Open Kernel Module "
						   "for "
						   "x86_64  580.95.05  Release Build\n");
	tmpdir_puts("/run/cloud-init/instance-data.json", "{\"ds\":{\"meta_data\":{\"imds\":{"
							  "\"compute\":{\"vmSize\":\"Standard_"
							  "ND96isr_"
							  "H100_v5\""
							  "}}}}}");
	hw = detect(ctx, &opts);
	assert_int_equal(dsvm_hw_get_n_gpus(hw), 0);
	assert_int_equal(dsvm_hw_get_n_nvswitches(hw), 2);
	assert_int_equal(dsvm_hw_get_n_ib_pci(hw), 1);
	assert_int_equal(dsvm_hw_get_n_ib_ports(hw), 1);
	/* mlx5_ib0 says InfiniBand; mlx5_ib1 says nothing (an old driver); mlx5_0 is RoCE. */
	assert_int_equal(dsvm_hw_get_n_ib_devices(hw), 2);
	assert_true(dsvm_hw_has_infiniband(hw));
	assert_int_equal(dsvm_hw_get_secure_boot(hw), 1);
	assert_string_equal(dsvm_hw_get_kernel(hw), "6.8.0-1017-azure");
	assert_string_equal(dsvm_hw_get_nvidia_driver(hw, &open), "580.95.05");
	assert_true(open);
	assert_string_equal(dsvm_hw_get_vm_size(hw), "Standard_ND96isr_H100_v5");
	assert_int_equal(dsvm_hw_get_vm_size_source(hw), DSVM_VM_SIZE_SOURCE_CLOUD_INIT);
	dsvm_hw_free(hw);

	/* --vm-size wins over cloud-init; a bad one is a usage error. */
	opts.vm_size = "Standard_NC6s_v3";
	hw = detect(ctx, &opts);
	assert_string_equal(dsvm_hw_get_vm_size(hw), "Standard_NC6s_v3");
	assert_int_equal(dsvm_hw_get_vm_size_source(hw), DSVM_VM_SIZE_SOURCE_OVERRIDE);
	dsvm_hw_free(hw);
	opts.vm_size = "Standard NC6";
	hw = NULL;
	assert_int_equal(dsvm_hw_detect(ctx, &opts, &hw), -EINVAL);
	assert_null(hw);
	assert_error_contains(ctx, "'Standard NC6'");
	dsvm_ctx_free(ctx);
}

/*
 * InfiniBand by any of its marks alone: the serial-bus class (ConnectX-3, QLogic), a non-Mellanox
 * function of the Infiniband class, an RDMA device without link_layer; RoCE alone is none.
 */
static void test_detect_infiniband_kinds(void **state)
{
	struct dsvm_hw_options opts = { .no_imds = true };
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_hw *hw;

	(void)state;
	tmpdir_puts("/sys/class/infiniband/mlx5_0/ports/1/link_layer", "Ethernet\n");
	hw = detect(ctx, &opts);
	assert_false(dsvm_hw_has_infiniband(hw));
	dsvm_hw_free(hw);

	pci_dev("0000:05:00.0", "0x1077\n", "0x7322\n", "0x0c0600\n"); /* QLogic IBA7322 */
	hw = detect(ctx, &opts);
	assert_int_equal(dsvm_hw_get_n_ib_pci(hw), 1);
	assert_true(dsvm_hw_has_infiniband(hw));
	dsvm_hw_free(hw);
	dsvm_ctx_free(ctx);
}

static void test_detect_infiniband_without_link_layer(void **state)
{
	struct dsvm_hw_options opts = { .no_imds = true };
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_hw *hw;
	char path[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/sys/class/infiniband/mlx4_0/ports/1", tmpdir);
	assert_int_equal(mkdir_parents(path, 0755), 0);
	hw = detect(ctx, &opts);
	assert_int_equal(dsvm_hw_get_n_ib_pci(hw), 0);
	assert_int_equal(dsvm_hw_get_n_ib_devices(hw), 1);
	assert_true(dsvm_hw_has_infiniband(hw));
	dsvm_hw_free(hw);
	dsvm_ctx_free(ctx);
}

/* The fingerprint (and so the health gate's count) sees GPUs, not the BMC's VGA beside them. */
static void test_fingerprint_ignores_display_adapters(void **state)
{
	struct dsvm_hw_options opts = { .no_imds = true };
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_fingerprint with, without;
	struct dsvm_hw *hw;

	(void)state;
	pci_dev("0001:00:00.0", "0x10de\n", "0x20b5\n", "0x030200\n");
	hw = detect(ctx, &opts);
	dsvm_fingerprint_from_hw(hw, &without);
	dsvm_hw_free(hw);
	pci_dev("0000:02:00.0", "0x1a03\n", "0x2000\n", "0x030000\n"); /* ASPEED BMC */
	pci_dev("0000:00:02.0", "0x1234\n", "0x1111\n", "0x030000\n"); /* QEMU VGA */
	hw = detect(ctx, &opts);
	assert_int_equal(dsvm_hw_get_n_gpus(hw), 1);
	assert_int_equal(dsvm_hw_get_n_display_adapters(hw), 2);
	dsvm_fingerprint_from_hw(hw, &with);
	dsvm_hw_free(hw);
	assert_string_equal(with.gpus, "10de:20b5x1");
	assert_true(dsvm_fingerprint_matches(&without, &with));
	dsvm_ctx_free(ctx);
}

/* Files that are directories, or unreadable, are "unknown" (root reads mode 000 files). */
static void test_detect_unreadable(void **state)
{
	struct dsvm_hw_options opts = { .no_imds = true };
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_hw *hw;
	char path[4096];

	(void)state;
	snprintf(path, sizeof(path), "%s%s", tmpdir,
		 "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c");
	assert_int_equal(mkdir_parents(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/proc/sys/kernel/osrelease", tmpdir);
	assert_int_equal(mkdir_parents(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/run/cloud-init/instance-data.json", tmpdir);
	assert_int_equal(mkdir_parents(path, 0755), 0);
	/* The PCI devices directory is a file: no PCI bus, not a failure. */
	tmpdir_puts("/sys/bus/pci/devices", "not a directory");
	hw = detect(ctx, &opts);
	assert_int_equal(dsvm_hw_get_secure_boot(hw), -ENODATA);
	assert_null(dsvm_hw_get_kernel(hw));
	assert_int_equal(dsvm_hw_get_vm_size_source(hw), DSVM_VM_SIZE_SOURCE_NONE);
	assert_int_equal(dsvm_hw_get_n_pci_devices(hw), 0);
	dsvm_hw_free(hw);
	dsvm_ctx_free(ctx);
}

/* Secure Boot: BIOS (no EFI) is off; EFI without efivarfs is unknown; no variable is off. */
static void test_detect_secure_boot_states(void **state)
{
	struct dsvm_hw_options opts = { .no_imds = true };
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_hw *hw;

	(void)state;
	hw = detect(ctx, &opts);
	assert_int_equal(dsvm_hw_get_secure_boot(hw), 0);
	dsvm_hw_free(hw);
	tmpdir_puts("/sys/firmware/efi/runtime", "");
	hw = detect(ctx, &opts);
	assert_int_equal(dsvm_hw_get_secure_boot(hw), -ENODATA);
	dsvm_hw_free(hw);
	tmpdir_puts("/sys/firmware/efi/efivars/Boot0000-8be4df61-93ca-11d2-aa0d-00e098032b8c", "x");
	hw = detect(ctx, &opts);
	assert_int_equal(dsvm_hw_get_secure_boot(hw), 0);
	dsvm_hw_free(hw);
	tmpdir_put("/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c",
		   "\x07\x00\x00\x00\x01", 5);
	hw = detect(ctx, &opts);
	assert_int_equal(dsvm_hw_get_secure_boot(hw), 1);
	dsvm_hw_free(hw);
	dsvm_ctx_free(ctx);
}

/* More PCI functions than the cap: the scan stops there and says so. */
static void test_detect_cap(void **state)
{
	struct dsvm_hw_options opts = { .no_imds = true };
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_hw *hw;
	char path[4096];

	(void)state;
	for (int i = 0; i < DSVM_DETECT_MAX_PCI_DEVICES + 5; i++) {
		snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%04x:00:00.0", tmpdir, i);
		assert_int_equal(mkdir_parents(path, 0755), 0);
	}
	hw = detect(ctx, &opts);
	assert_int_equal(dsvm_hw_get_n_pci_devices(hw), DSVM_DETECT_MAX_PCI_DEVICES);
	dsvm_hw_free(hw);
	dsvm_ctx_free(ctx);
}

static void test_read_small_at(void **state)
{
	char buf[8];
	size_t size = 0;
	int dfd;

	(void)state;
	tmpdir_puts("/seven", "1234567");
	tmpdir_puts("/eight", "12345678");
	dfd = open(tmpdir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(read_small_at(dfd, "seven", buf, sizeof(buf), &size), 0);
	assert_int_equal(size, 7);
	assert_string_equal(buf, "1234567");
	assert_int_equal(read_small_at(dfd, "eight", buf, sizeof(buf), &size), -EFBIG);
	assert_int_equal(read_small_at(dfd, "missing", buf, sizeof(buf), &size), -ENOENT);
	close(dfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_hex),
		cmocka_unit_test(test_pci_address),
		cmocka_unit_test(test_parse_efivar),
		cmocka_unit_test(test_parse_kernel),
		cmocka_unit_test(test_parse_nvidia_version),
		cmocka_unit_test(test_parse_instance_data),
		cmocka_unit_test(test_parse_imds),
		cmocka_unit_test(test_vm_size_valid),
		cmocka_unit_test_setup_teardown(test_detect_empty, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_detect_garbage, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_detect_fabric, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_detect_unreadable, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_detect_secure_boot_states, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_detect_cap, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_read_small_at, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_detect_infiniband_kinds, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_detect_infiniband_without_link_layer,
						tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_fingerprint_ignores_display_adapters,
						tmpdir_setup, tmpdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
