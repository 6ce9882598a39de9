/* SPDX-License-Identifier: MIT */
#include "detect-internal.h"
#include "dsvm/imds.h"
#include "dsvm/select.h"

/* efivarfs name: the SecureBoot variable in the EFI global variable GUID (UEFI spec 2.10, 3.3). */
#define EFIVAR_SECURE_BOOT                                                                         \
	"/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"

struct dsvm_hw {
	struct pci_scan pci;
	struct dsvm_hw_gpu *summary_gpus; /* the GPUs' ids, as dsvm_driver_select() takes them */
	int secure_boot;
	char *kernel;
	char nvidia_driver[32];
	bool nvidia_open;
	char *vm_size;
	enum dsvm_vm_size_source vm_size_source;
};

static const char *const vm_size_source_names[_DSVM_VM_SIZE_SOURCE_MAX] = {
	[DSVM_VM_SIZE_SOURCE_NONE] = "none",
	[DSVM_VM_SIZE_SOURCE_OVERRIDE] = "override",
	[DSVM_VM_SIZE_SOURCE_CLOUD_INIT] = "cloud-init",
	[DSVM_VM_SIZE_SOURCE_IMDS] = "imds",
};

const char *dsvm_vm_size_source_to_string(enum dsvm_vm_size_source source)
{
	if ((unsigned)source >= _DSVM_VM_SIZE_SOURCE_MAX)
		return NULL;
	return vm_size_source_names[source];
}

/*
 * Read a file under the sysroot with a cap. Returns 0 and the buffer, or -errno after a debug
 * line: every caller turns a failure into "unknown", never into a failed detection.
 */
static int read_sysroot(struct dsvm_ctx *ctx, const char *path, size_t max, char **ret,
			size_t *ret_size)
{
	_cleanup_free_ char *full = dsvm_sysroot_path(ctx, path);
	int r;

	if (!full)
		return -ENOMEM;
	r = read_file_capped(full, max, ret, ret_size);
	if (r < 0)
		dsvm_debug(ctx, "'%s': %s", full, strerror(-r));
	return r;
}

static int detect_secure_boot(struct dsvm_ctx *ctx)
{
	_cleanup_free_ char *efi = dsvm_sysroot_path(ctx, "/sys/firmware/efi");
	_cleanup_free_ char *buf = NULL;
	size_t size;
	bool on;
	int r;

	if (!efi)
		return -ENOMEM;
	/* A BIOS boot (Azure generation 1 VM) has no EFI and so no Secure Boot. */
	if (access(efi, F_OK) < 0 && errno == ENOENT)
		return 0;
	r = read_sysroot(ctx, EFIVAR_SECURE_BOOT, 64, &buf, &size);
	if (r == -ENOENT) {
		_cleanup_free_ char *efivars = dsvm_sysroot_path(ctx, "/sys/firmware/efi/efivars");

		if (!efivars)
			return -ENOMEM;
		/* EFI without efivarfs mounted says nothing; with it, no variable means no SB. */
		if (access(efivars, F_OK) < 0) {
			dsvm_debug(ctx, "Secure Boot state unknown: efivarfs is not mounted");
			return -ENODATA;
		}
		return 0;
	}
	if (r == -ENOMEM)
		return r;
	if (r < 0 || efivar_parse_bool(buf, size, &on) < 0) {
		dsvm_debug(ctx, "Secure Boot state unknown: '%s' unreadable or malformed",
			   EFIVAR_SECURE_BOOT);
		return -ENODATA;
	}
	return on;
}

static int detect_kernel(struct dsvm_ctx *ctx, struct dsvm_hw *hw)
{
	_cleanup_free_ char *buf = NULL;
	size_t size;
	int r;

	r = read_sysroot(ctx, "/proc/sys/kernel/osrelease", KERNEL_RELEASE_MAX + 2, &buf, &size);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return 0;
	r = kernel_release_parse(buf, size, &hw->kernel);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		dsvm_debug(ctx, "kernel release unknown: osrelease is malformed");
	return 0;
}

static int detect_nvidia_driver(struct dsvm_ctx *ctx, struct dsvm_hw *hw)
{
	_cleanup_free_ char *buf = NULL;
	size_t size;
	int r;

	r = read_sysroot(ctx, "/proc/driver/nvidia/version", NVIDIA_VERSION_FILE_MAX, &buf, &size);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return 0; /* no module loaded: the usual case on a new size */
	if (nvidia_version_parse(buf, size, hw->nvidia_driver, &hw->nvidia_open) < 0) {
		hw->nvidia_driver[0] = '\0';
		dsvm_debug(ctx, "loaded NVIDIA driver unknown: /proc/driver/nvidia/version is "
				"malformed");
	}
	return 0;
}

static int vm_size_from_cloud_init(struct dsvm_ctx *ctx, char **ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t size;
	int r;

	r = read_sysroot(ctx, "/run/cloud-init/instance-data.json", INSTANCE_DATA_MAX, &buf, &size);
	if (r < 0)
		return r;
	r = instance_data_parse_vm_size(ctx, buf, size, ret);
	if (r < 0 && r != -ENOMEM) {
		dsvm_debug(ctx, "no VM size from cloud-init: %s", dsvm_ctx_get_error(ctx));
		dsvm_ctx_clear_error(ctx);
	}
	return r;
}

static int detect_vm_size(struct dsvm_ctx *ctx, const struct dsvm_hw_options *opts,
			  struct dsvm_hw *hw)
{
	struct dsvm_imds_options imds = { .url = opts->imds_url };
	int r;

	if (opts->vm_size) {
		if (!dsvm_vm_size_is_valid(opts->vm_size))
			return dsvm_set_error(ctx, -EINVAL,
					      "'%s' is not a VM size name (letters, digits, '_' "
					      "and '-', e.g. 'Standard_NC24ads_A100_v4')",
					      opts->vm_size);
		hw->vm_size = strdup(opts->vm_size);
		if (!hw->vm_size)
			return -ENOMEM;
		hw->vm_size_source = DSVM_VM_SIZE_SOURCE_OVERRIDE;
		return 0;
	}

	r = vm_size_from_cloud_init(ctx, &hw->vm_size);
	if (r == -ENOMEM)
		return r;
	if (r == 0) {
		hw->vm_size_source = DSVM_VM_SIZE_SOURCE_CLOUD_INIT;
		return 0;
	}
	if (opts->no_imds)
		return 0;

	r = dsvm_imds_get_vm_size(ctx, &imds, &hw->vm_size);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		/* Not fatal: PCI still decides the driver kind; the binary prints this line. */
		dsvm_warn(ctx, "VM size unknown: %s", dsvm_ctx_get_error(ctx));
		dsvm_ctx_clear_error(ctx);
		return 0;
	}
	hw->vm_size_source = DSVM_VM_SIZE_SOURCE_IMDS;
	return 0;
}

int dsvm_hw_detect(struct dsvm_ctx *ctx, const struct dsvm_hw_options *opts, struct dsvm_hw **ret)
{
	static const struct dsvm_hw_options defaults;
	struct dsvm_hw *hw;
	int r;

	if (!opts)
		opts = &defaults;
	hw = calloc(1, sizeof(*hw));
	if (!hw)
		return -ENOMEM;
	r = opts->skip_pci ? 0 : pci_scan(ctx, &hw->pci);
	if (r >= 0 && !opts->skip_pci)
		r = ib_scan(ctx, &hw->pci);
	if (r >= 0) {
		hw->secure_boot = detect_secure_boot(ctx);
		if (hw->secure_boot == -ENOMEM)
			r = -ENOMEM;
	}
	if (r >= 0)
		r = detect_kernel(ctx, hw);
	if (r >= 0)
		r = detect_nvidia_driver(ctx, hw);
	if (r >= 0)
		r = detect_vm_size(ctx, opts, hw);
	if (r >= 0 && hw->pci.n_gpus > 0) {
		hw->summary_gpus = calloc(hw->pci.n_gpus, sizeof(*hw->summary_gpus));
		if (!hw->summary_gpus)
			r = -ENOMEM;
		for (size_t i = 0; r >= 0 && i < hw->pci.n_gpus; i++) {
			hw->summary_gpus[i].vendor_id = hw->pci.gpus[i].vendor_id;
			hw->summary_gpus[i].device_id = hw->pci.gpus[i].device_id;
			hw->summary_gpus[i].class_code = hw->pci.gpus[i].class_code;
		}
	}
	if (r < 0) {
		dsvm_hw_free(hw);
		return r;
	}
	*ret = hw;
	return 0;
}

void dsvm_hw_free(struct dsvm_hw *hw)
{
	if (!hw)
		return;
	pci_scan_done(&hw->pci);
	free(hw->summary_gpus);
	free(hw->kernel);
	free(hw->vm_size);
	free(hw);
}

size_t dsvm_hw_get_n_gpus(const struct dsvm_hw *hw)
{
	return hw->pci.n_gpus;
}

const struct dsvm_gpu *dsvm_hw_get_gpu(const struct dsvm_hw *hw, size_t i)
{
	return i < hw->pci.n_gpus ? &hw->pci.gpus[i] : NULL;
}

size_t dsvm_hw_get_n_display_adapters(const struct dsvm_hw *hw)
{
	return hw->pci.n_displays;
}

const struct dsvm_gpu *dsvm_hw_get_display_adapter(const struct dsvm_hw *hw, size_t i)
{
	return i < hw->pci.n_displays ? &hw->pci.displays[i] : NULL;
}

size_t dsvm_hw_get_n_pci_devices(const struct dsvm_hw *hw)
{
	return hw->pci.n_devices;
}

unsigned dsvm_hw_get_n_nvswitches(const struct dsvm_hw *hw)
{
	return hw->pci.n_nvswitches;
}

unsigned dsvm_hw_get_n_ib_pci(const struct dsvm_hw *hw)
{
	return hw->pci.n_ib_pci;
}

unsigned dsvm_hw_get_n_ib_ports(const struct dsvm_hw *hw)
{
	return hw->pci.n_ib_ports;
}

unsigned dsvm_hw_get_n_ib_devices(const struct dsvm_hw *hw)
{
	return hw->pci.n_ib_devices;
}

bool dsvm_hw_has_infiniband(const struct dsvm_hw *hw)
{
	return hw->pci.n_ib_pci > 0 || hw->pci.n_ib_ports > 0 || hw->pci.n_ib_devices > 0;
}

int dsvm_hw_get_secure_boot(const struct dsvm_hw *hw)
{
	return hw->secure_boot;
}

const char *dsvm_hw_get_kernel(const struct dsvm_hw *hw)
{
	return hw->kernel;
}

const char *dsvm_hw_get_nvidia_driver(const struct dsvm_hw *hw, bool *ret_open)
{
	if (!hw->nvidia_driver[0])
		return NULL;
	if (ret_open)
		*ret_open = hw->nvidia_open;
	return hw->nvidia_driver;
}

const char *dsvm_hw_get_vm_size(const struct dsvm_hw *hw)
{
	return hw->vm_size;
}

enum dsvm_vm_size_source dsvm_hw_get_vm_size_source(const struct dsvm_hw *hw)
{
	return hw->vm_size_source;
}

void dsvm_hw_get_summary(const struct dsvm_hw *hw, struct dsvm_hw_summary *ret)
{
	*ret = (struct dsvm_hw_summary){
		.vm_size = hw->vm_size,
		.gpus = hw->summary_gpus,
		.n_gpus = hw->pci.n_gpus,
		.infiniband = dsvm_hw_has_infiniband(hw),
		.nvswitch = hw->pci.n_nvswitches > 0,
		.secure_boot = hw->secure_boot > 0,
	};
}
