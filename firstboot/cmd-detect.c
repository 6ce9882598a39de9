/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsvm/catalog.h"
#include "dsvm/cli.h"
#include "dsvm/detect.h"
#include "dsvm/disk.h"
#include "dsvm/select.h"
#include "firstboot.h"

static const char usage_text[] =
	"Usage: " FIRSTBOOT_PROGRAM " detect [OPTIONS]\n"
	"\n"
	"Find out what this VM is now: its size, GPUs, NVSwitch, InfiniBand, Secure Boot, kernel,\n"
	"loaded NVIDIA module and disks, then choose the driver kind and branch for it. Reads "
	"only;\n"
	"changes nothing.\n"
	"\n"
	"  --sysroot DIR  read /sys, /proc, /run and /dev under DIR (a captured or generated "
	"tree)\n"
	"  --catalog DIR  hardware catalog (gpus.yaml, sizes.yaml, cuda-drivers.yaml); default:\n"
	"                 the source tree's manifests/hardware when run from a build tree, else\n"
	"                 ../share/dsvm/manifests/hardware beside the binary, else\n"
	"                 " FIRSTBOOT_INSTALLED_CATALOG "\n"
	"  --vm-size S    take S as the VM size (e.g. Standard_NC24ads_A100_v4)\n"
	"  --imds URL     ask this URL instead of Azure's IMDS (http only; tests use a loopback "
	"server)\n"
	"  --no-imds      never ask IMDS; cloud-init's copy is still read\n"
	"  --no-disks     do not probe the resource and local NVMe disks\n"
	"  --json         print one JSON object on stdout\n"
	"  -v, --verbose  log every decision on stderr\n"
	"  -h, --help     show this text\n"
	"\n"
	"The VM size comes from --vm-size, else /run/cloud-init/instance-data.json\n"
	"(ds.meta_data.imds.compute.vmSize), else IMDS, else none: PCI then decides alone.\n"
	"\n"
	"Examples:\n"
	"  " FIRSTBOOT_PROGRAM " detect\n"
	"  " FIRSTBOOT_PROGRAM " detect --json --no-imds | jq .driver\n"
	"  " FIRSTBOOT_PROGRAM " detect --sysroot /tmp/capture --vm-size Standard_ND96asr_v4\n"
	"\n"
	"Exit status: 0 detected, 64 usage, 65 bad catalog, 66 missing catalog, 1 other failure.\n";

static const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

static void print_human(const struct dsvm_hw *hw, const struct dsvm_catalog *cat,
			const struct dsvm_choice *choice, const struct dsvm_disk *disks,
			size_t n_disks)
{
	const char *vm = dsvm_hw_get_vm_size(hw), *kernel = dsvm_hw_get_kernel(hw), *nv;
	int sb = dsvm_hw_get_secure_boot(hw);
	bool open = false;

	printf("VM size:       %s (%s)\n", vm ? vm : "unknown",
	       dsvm_vm_size_source_to_string(dsvm_hw_get_vm_size_source(hw)));
	printf("GPUs:          %zu\n", dsvm_hw_get_n_gpus(hw));
	for (size_t i = 0; i < dsvm_hw_get_n_gpus(hw); i++) {
		const struct dsvm_gpu *g = dsvm_hw_get_gpu(hw, i);
		struct dsvm_gpu_class gc;
		const struct dsvm_gpu_info *info = NULL;

		if (dsvm_catalog_classify_gpu(cat, g->vendor_id, g->device_id, &gc) == 0)
			info = gc.info;
		printf("  %-12s %04x:%04x %s", g->address, g->vendor_id, g->device_id,
		       !info	       ? "(in no device table)"
		       : gc.catalogued ? info->model
		       : gc.name       ? gc.name
				       : info->model);
		if (info)
			printf(", %s%s%s%s", info->architecture,
			       gc.catalogued ? "" : " (public device tables)",
			       info->compute_capability ? ", compute " : "",
			       info->compute_capability ? info->compute_capability : "");
		putchar('\n');
	}
	for (size_t i = 0; i < dsvm_hw_get_n_display_adapters(hw); i++) {
		const struct dsvm_gpu *g = dsvm_hw_get_display_adapter(hw, i);

		printf("Display:       %s %04x:%04x (not a GPU)\n", g->address, g->vendor_id,
		       g->device_id);
	}
	printf("NVSwitch:      %s (%u)\n", yes_no(dsvm_hw_get_n_nvswitches(hw) > 0),
	       dsvm_hw_get_n_nvswitches(hw));
	printf("InfiniBand:    %s (%u PCI functions, %u ports)\n",
	       yes_no(dsvm_hw_has_infiniband(hw)), dsvm_hw_get_n_ib_pci(hw),
	       dsvm_hw_get_n_ib_ports(hw));
	printf("Secure Boot:   %s\n", sb < 0 ? "unknown" : sb ? "on" : "off");
	printf("Kernel:        %s\n", kernel ? kernel : "unknown");
	nv = dsvm_hw_get_nvidia_driver(hw, &open);
	if (nv)
		printf("NVIDIA module: %s (%s) loaded\n", nv, open ? "open" : "proprietary");
	else
		printf("NVIDIA module: none loaded\n");
	printf("Driver:        %s%s%s", dsvm_driver_kind_to_string(choice->kind),
	       choice->branch[0] ? " " : "", choice->branch);
	if (choice->cuda_max[0])
		printf(" (CUDA up to %s)", choice->cuda_max);
	printf("\nReason:        %s\n", choice->reason);
	for (size_t i = 0; i < choice->n_warnings && i < DSVM_SELECT_MAX_WARNINGS; i++)
		printf("Warning:       %s\n", choice->warnings[i].text);
	for (size_t i = 0; i < n_disks; i++) {
		const struct dsvm_disk *d = &disks[i];

		printf("Disk:          %-10s %-10s %llu MiB%s%s", d->name,
		       dsvm_disk_role_to_string(d->role), (unsigned long long)(d->size_bytes >> 20),
		       d->model[0] ? ", " : "", d->model);
		if (d->probed)
			printf(", %s", dsvm_disk_content_to_string(d->probe.content));
		putchar('\n');
	}
}

int cmd_detect(int argc, char **argv)
{
	struct firstboot_args a = { 0 };
	struct dsvm_cli_log log = { FIRSTBOOT_PROGRAM, getenv("JOURNAL_STREAM") != NULL };
	struct dsvm_ctx *ctx = NULL;
	struct dsvm_catalog *cat = NULL;
	struct dsvm_hw *hw = NULL;
	struct dsvm_disk *disks = NULL;
	struct dsvm_hw_summary summary;
	struct dsvm_choice choice;
	char *catalog_dir = NULL, *json = NULL;
	size_t n_disks = 0;
	int r, rc;

	r = firstboot_args_parse("detect", usage_text,
				 FB_OPT_SYSROOT | FB_OPT_CATALOG | FB_OPT_HW | FB_OPT_NO_DISKS |
					 FB_OPT_JSON | FB_OPT_VERBOSE,
				 argc, argv, &a);
	if (r != 0)
		return r > 0 ? DSVM_EXIT_OK : DSVM_EXIT_USAGE;

	ctx = dsvm_ctx_new();
	catalog_dir = a.opts.catalog_dir ? strdup(a.opts.catalog_dir) : firstboot_default_catalog();
	if (!ctx || !catalog_dir) {
		r = -ENOMEM;
		goto out;
	}
	dsvm_ctx_set_log(ctx, dsvm_cli_log_stderr, &log,
			 a.verbose ? DSVM_LOG_DEBUG : DSVM_LOG_WARNING);
	r = dsvm_ctx_set_sysroot(ctx, a.sysroot);
	if (r < 0) {
		dsvm_set_error(ctx, r, "--sysroot '%s' must be an absolute path", a.sysroot);
		goto out;
	}
	r = dsvm_catalog_load(ctx, catalog_dir, &cat);
	if (r < 0)
		goto out;
	r = dsvm_hw_detect(ctx, &a.opts.hw, &hw);
	if (r < 0)
		goto out;
	dsvm_hw_get_summary(hw, &summary);
	r = dsvm_driver_select(ctx, cat, &summary, &choice);
	if (r < 0)
		goto out;
	if (!a.no_disks) {
		r = dsvm_disks_scan(ctx, true, &disks, &n_disks);
		if (r < 0)
			goto out;
	}

	if (a.json) {
		struct dsvm_detect_report rep = { hw, cat, &choice, disks, n_disks };

		r = dsvm_detect_report_to_json(&rep, &json);
		if (r < 0)
			goto out;
		puts(json);
	} else {
		print_human(hw, cat, &choice, disks, n_disks);
	}
	if (fflush(stdout) != 0)
		r = dsvm_set_error(ctx, -EIO, "cannot write to stdout: %s", strerror(errno));
out:
	rc = r < 0 ? dsvm_cli_fail(FIRSTBOOT_PROGRAM, ctx, r) : DSVM_EXIT_OK;
	free(json);
	free(disks);
	dsvm_hw_free(hw);
	dsvm_catalog_free(cat);
	free(catalog_dir);
	dsvm_ctx_free(ctx);
	return rc;
}
