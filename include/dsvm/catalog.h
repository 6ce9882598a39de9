/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The hardware catalog: the YAML data under manifests/hardware/ (gpus.yaml, sizes.yaml,
 * cuda-drivers.yaml, and the generated device tables pci-devices.yaml; schema in
 * manifests/hardware/README.md) loaded into a read-only index.
 *
 * PCI vendor:device -> GPU model, architecture, compute capability, the driver branches that
 * support it; Azure VM size -> family, GPU model and count, InfiniBand, NVSwitch, driver kind;
 * CUDA toolkit -> minimum driver, and the NVIDIA datacenter branches the project knows.
 *
 * Every record handed out (struct dsvm_gpu_info, dsvm_size_info, dsvm_branch_info) and every
 * string in it is owned by the catalog and stays valid until dsvm_catalog_free(). Lookups need
 * no context: they return 0 and set *ret, or -ENOENT and leave *ret alone.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsvm/context.h"
#include "dsvm/target.h"

#define DSVM_PCI_VENDOR_NVIDIA 0x10de
#define DSVM_PCI_VENDOR_AMD 0x1002

struct dsvm_catalog;

struct dsvm_gpu_info {
	const char *key;	     /* "a100-80gb-pcie", unique; sizes.yaml refers to it */
	enum dsvm_gpu_vendor vendor; /* nvidia or amd */
	uint16_t vendor_id;	     /* 0x10de, 0x1002 */
	const uint16_t *device_ids;  /* every PCI device id of the model, n_device_ids of them */
	size_t n_device_ids;
	const char *model;		/* "A100 80GB PCIe" */
	const char *architecture;	/* "ampere", "cdna3", ... */
	const char *compute_capability; /* "8.0"; NULL for AMD */
	const char *max_branch;		/* newest branch that supports it ("470"); NULL: current */
	const char *min_branch;		/* oldest branch that supports it ("570"); NULL: any */
	bool open_module;		/* NVIDIA's open kernel module supports it (Turing+) */
	bool proprietary_module;	/* the proprietary module supports it (not Blackwell) */
	bool switch_only;		/* an NVSwitch bridge, not a compute GPU */
	bool generated; /* not a gpus.yaml entry: the record pci-devices.yaml gives an architecture
			 * (no device ids, no compute capability, model "NVIDIA pascal GPU") */
	enum dsvm_driver_kind driver_kind; /* the kind when PCI alone decides; may be none for a
					    * generated record (Fermi and older) */
};

/* What the catalog knows of one PCI device (dsvm_catalog_classify_gpu()). */
struct dsvm_gpu_class {
	const struct dsvm_gpu_info *info; /* the gpus.yaml entry, else its architecture's record */
	const char *name; /* the device tables' name ("GP102 [GeForce GTX 1080 Ti]"),
					   * or NULL when they do not list it */
	bool catalogued;  /* info is a gpus.yaml entry */
};

struct dsvm_size_info {
	const char *name;		 /* canonical "Standard_NC24ads_A100_v4" */
	const char *family;		 /* "NCads_A100_v4" (struct dsvm_target.vm_family) */
	const char *series;		 /* Azure's name for it: "NC A100 v4" */
	const struct dsvm_gpu_info *gpu; /* NULL never: every listed size has a GPU */
	unsigned gpus_num;		 /* GPU count as a fraction: 1/6 of an A10 is 1 and 6, */
	unsigned gpus_den;		 /* eight H100s are 8 and 1 */
	unsigned pci_gpus; /* GPU functions the guest sees on PCI (1 for a partial GPU) */
	bool infiniband;
	bool nvswitch;
	bool retired;
	enum dsvm_driver_kind driver_kind; /* how Azure serves it (GRID for NVadsA10 v5, ...) */
	const char *branch; /* the branch Azure serves it with ("570"); NULL: the GPU's */
};

struct dsvm_branch_info {
	const char *branch;	     /* "580" */
	const char *track;	     /* "production", "lts", "new-feature", "legacy" or "grid" */
	const char *linux_version;   /* newest Linux release of the branch the catalog knows */
	const char *windows_version; /* newest Windows release, or NULL */
};

/*
 * Load every catalog file from dir (gpus.yaml, sizes.yaml, cuda-drivers.yaml, and
 * pci-devices.yaml when present: from the built-in index when the file holds exactly the bytes
 * it was compiled from, else parsed). Errors are
 * -EBADMSG with "file:line:col: ..." in the context (unknown keys, wrong types, a malformed or
 * duplicate PCI id, a duplicate size name, a size naming an unknown GPU), or -errno for a file
 * that cannot be read. The caller frees *ret with dsvm_catalog_free().
 */
int dsvm_catalog_load(struct dsvm_ctx *ctx, const char *dir, struct dsvm_catalog **ret);

/*
 * The i-th file the catalog was loaded from: its name ("gpus.yaml", owned by the library) and
 * the SHA-256 of the bytes parsed, for the lock's inputs. Returns 0, or -ERANGE past the end.
 */
int dsvm_catalog_get_input(const struct dsvm_catalog *cat, size_t i, const char **ret_name,
			   char ret_sha256[65]);
void dsvm_catalog_free(struct dsvm_catalog *cat);

/* GPU by PCI ids (numbers, 0x10de:0x20b5). 0, or -ENOENT for an uncatalogued device. */
int dsvm_catalog_find_gpu(const struct dsvm_catalog *cat, uint16_t vendor_id, uint16_t device_id,
			  const struct dsvm_gpu_info **ret);

/*
 * Every device the catalog can place: a gpus.yaml entry first (it stays authoritative), else the
 * generated tables' row, whose architecture decides the kind (see struct dsvm_gpu_info
 * .generated). 0 and *ret, or -ENOENT for a device no table lists (newer than all of them).
 */
int dsvm_catalog_classify_gpu(const struct dsvm_catalog *cat, uint16_t vendor_id,
			      uint16_t device_id, struct dsvm_gpu_class *ret);

/*
 * Rows in the generated device tables (0 when pci-devices.yaml is absent); *ret_from_index (may
 * be NULL) says whether they came from the index compiled into this build rather than the YAML.
 */
size_t dsvm_catalog_n_table_devices(const struct dsvm_catalog *cat, bool *ret_from_index);

/* GPU by its key in gpus.yaml ("h100-sxm5"). 0 or -ENOENT. */
int dsvm_catalog_get_gpu(const struct dsvm_catalog *cat, const char *key,
			 const struct dsvm_gpu_info **ret);

/*
 * Size by name, case-insensitive, the "Standard_" prefix optional: "standard_nc24ads_a100_v4"
 * and "NC24ads_A100_v4" both find Standard_NC24ads_A100_v4. 0, or -ENOENT for a size the
 * catalog does not list (which means a CPU size unless PCI shows a GPU).
 */
int dsvm_catalog_find_size(const struct dsvm_catalog *cat, const char *name,
			   const struct dsvm_size_info **ret);

/* Iteration, in file order; i < the count, else NULL. */
size_t dsvm_catalog_n_gpus(const struct dsvm_catalog *cat);
const struct dsvm_gpu_info *dsvm_catalog_gpu_at(const struct dsvm_catalog *cat, size_t i);
size_t dsvm_catalog_n_sizes(const struct dsvm_catalog *cat);
const struct dsvm_size_info *dsvm_catalog_size_at(const struct dsvm_catalog *cat, size_t i);
size_t dsvm_catalog_n_branches(const struct dsvm_catalog *cat);
const struct dsvm_branch_info *dsvm_catalog_branch_at(const struct dsvm_catalog *cat, size_t i);

/*
 * The newest datacenter branch (track production, lts or legacy; never new-feature or grid) that
 * supports gpu: not above gpu->max_branch, not below gpu->min_branch. Copies "580" into
 * ret_branch and returns 0; -ENOENT when no catalogued branch fits (or gpu is not NVIDIA).
 */
int dsvm_catalog_newest_branch(const struct dsvm_catalog *cat, const struct dsvm_gpu_info *gpu,
			       char ret_branch[16]);

/*
 * The newest grid-track branch (the vGPU guest drivers Azure redistributes) within gpu's
 * max_branch/min_branch, or the newest of all when gpu is NULL. 0 or -ENOENT, as above.
 */
int dsvm_catalog_grid_branch(const struct dsvm_catalog *cat, const struct dsvm_gpu_info *gpu,
			     char ret_branch[16]);

/*
 * Newest CUDA toolkit a driver supports, from NVIDIA's "CUDA Toolkit and Corresponding Driver
 * Versions" table: the newest toolkit whose minimum driver for platform ("linux" or "windows")
 * is at most driver. driver is a full version ("580.95.05") or a branch ("580"), which stands
 * for the branch's newest known release (or the branch's highest possible one when the catalog
 * does not list it). Writes the toolkit version as NVIDIA numbers releases ("13.0.2", "12.8.1")
 * and returns 0; -ENOENT when the driver is older than every toolkit listed, -EINVAL for a
 * platform or driver string it cannot read.
 */
int dsvm_catalog_cuda_max(const struct dsvm_catalog *cat, const char *platform, const char *driver,
			  char ret_cuda[16]);

/* Minimum driver for a toolkit version ("12.4" means 12.4.0). 0, -ENOENT, -EINVAL. */
int dsvm_catalog_cuda_min_driver(const struct dsvm_catalog *cat, const char *platform,
				 const char *cuda, const char **ret_driver);
