/* SPDX-License-Identifier: MIT */
#include <jansson.h>

#include "detect-internal.h"
#include "dsvm/catalog.h"
#include "dsvm/disk.h"
#include "dsvm/select.h"

/* jansson's own cleanup helper (json_auto_t), under the project's cleanup spelling. */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* json_string() of NULL is NULL, which json_object_set_new() refuses: map it to null. */
static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

static json_t *hex4(unsigned v)
{
	char buf[8];

	snprintf(buf, sizeof(buf), "%04x", v & 0xffff);
	return json_string(buf);
}

/* Every set below goes through here so one failed allocation fails the whole report. */
static bool set(json_t *obj, const char *key, json_t *value)
{
	return value && json_object_set_new(obj, key, value) == 0;
}

static json_t *gpu_json(const struct dsvm_gpu *g, const struct dsvm_catalog *cat)
{
	_cleanup_json_ json_t *o = json_object();
	struct dsvm_gpu_class gc = { 0 };
	const struct dsvm_gpu_info *info = NULL, *curated = NULL;
	char class_code[8];

	if (!o)
		return NULL;
	if (cat && dsvm_catalog_classify_gpu(cat, g->vendor_id, g->device_id, &gc) == 0) {
		info = gc.info;
		curated = gc.catalogued ? info : NULL;
	}
	snprintf(class_code, sizeof(class_code), "%06x", g->class_code & 0xffffff);
	/*
	 * model and compute_capability come from gpus.yaml only (null for a device only the
	 * generated tables place); architecture from either; table_name is the tables' name.
	 */
	if (!set(o, "address", json_string(g->address)) ||
	    !set(o, "vendor", json_string(dsvm_gpu_vendor_to_string(g->vendor))) ||
	    !set(o, "vendor_id", hex4(g->vendor_id)) || !set(o, "device_id", hex4(g->device_id)) ||
	    !set(o, "subsystem_vendor_id", hex4(g->subsystem_vendor_id)) ||
	    !set(o, "subsystem_device_id", hex4(g->subsystem_device_id)) ||
	    !set(o, "class", json_string(class_code)) ||
	    !set(o, "model", str_or_null(curated ? curated->model : NULL)) ||
	    !set(o, "architecture", str_or_null(info ? info->architecture : NULL)) ||
	    !set(o, "compute_capability",
		 str_or_null(curated ? curated->compute_capability : NULL)) ||
	    !set(o, "table_name", str_or_null(gc.name)) ||
	    !set(o, "catalogued", json_boolean(gc.catalogued)))
		return NULL;
	return TAKE_PTR(o);
}

/* A display function no driver kind serves: ids and class, nothing the catalog says. */
static json_t *display_json(const struct dsvm_gpu *g)
{
	char class_code[8];

	snprintf(class_code, sizeof(class_code), "%06x", g->class_code & 0xffffff);
	return json_pack("{s:s, s:o, s:o, s:s}", "address", g->address, "vendor_id",
			 hex4(g->vendor_id), "device_id", hex4(g->device_id), "class", class_code);
}

static json_t *driver_json(const struct dsvm_choice *c)
{
	_cleanup_json_ json_t *o = json_object();
	_cleanup_json_ json_t *warnings = json_array();

	if (!o || !warnings)
		return NULL;
	for (size_t i = 0; i < c->n_warnings && i < DSVM_SELECT_MAX_WARNINGS; i++) {
		json_t *w = json_object();

		if (!w || json_array_append_new(warnings, w) < 0 ||
		    !set(w, "code",
			 json_string(dsvm_select_warning_to_string(c->warnings[i].code))) ||
		    !set(w, "text", json_string(c->warnings[i].text)))
			return NULL;
	}
	if (!set(o, "kind", json_string(dsvm_driver_kind_to_string(c->kind))) ||
	    !set(o, "branch", str_or_null(c->branch)) ||
	    !set(o, "cuda_max", str_or_null(c->cuda_max)) ||
	    !set(o, "reason", json_string(c->reason)) ||
	    !set(o, "size_family", str_or_null(c->size ? c->size->family : NULL)) ||
	    !set(o, "warnings", TAKE_PTR(warnings)))
		return NULL;
	return TAKE_PTR(o);
}

static json_t *disk_json(const struct dsvm_disk *d)
{
	_cleanup_json_ json_t *o = json_object();
	const struct dsvm_disk_probe *p = &d->probe;

	if (!o)
		return NULL;
	if (!set(o, "name", json_string(d->name)) || !set(o, "devnode", json_string(d->devnode)) ||
	    !set(o, "role", json_string(dsvm_disk_role_to_string(d->role))) ||
	    !set(o, "size_bytes", json_integer((json_int_t)d->size_bytes)) ||
	    !set(o, "model", str_or_null(d->model)))
		return NULL;
	if (!d->probed)
		return set(o, "content", json_null()) ? TAKE_PTR(o) : NULL;
	if (!set(o, "content", json_string(dsvm_disk_content_to_string(p->content))) ||
	    !set(o, "pttype", str_or_null(p->pttype)) ||
	    !set(o, "partitions", json_integer(p->n_partitions)) ||
	    !set(o, "fstype", str_or_null(p->fstype)) || !set(o, "label", str_or_null(p->label)))
		return NULL;
	if (streq(p->fstype, "ntfs") &&
	    (!set(o, "ntfs_other_files", json_integer(p->n_files)) ||
	     !set(o, "ntfs_warning_file", json_boolean(p->warning_file))))
		return NULL;
	return TAKE_PTR(o);
}

static json_t *loaded_driver_json(const struct dsvm_hw *hw)
{
	bool open = false;
	const char *v = dsvm_hw_get_nvidia_driver(hw, &open);
	json_t *o;

	if (!v)
		return json_null();
	o = json_pack("{s:s, s:b}", "version", v, "open", open);
	return o;
}

int dsvm_detect_report_to_json(const struct dsvm_detect_report *rep, char **ret)
{
	const struct dsvm_hw *hw = rep->hw;
	_cleanup_json_ json_t *root = json_object();
	_cleanup_json_ json_t *gpus = json_array();
	_cleanup_json_ json_t *disks = json_array();
	_cleanup_json_ json_t *displays = json_array();
	int sb = dsvm_hw_get_secure_boot(hw);
	char *text;

	if (!root || !gpus || !disks || !displays)
		return -ENOMEM;
	for (size_t i = 0; i < dsvm_hw_get_n_gpus(hw); i++)
		if (json_array_append_new(gpus, gpu_json(dsvm_hw_get_gpu(hw, i), rep->catalog)) < 0)
			return -ENOMEM;
	for (size_t i = 0; i < dsvm_hw_get_n_display_adapters(hw); i++)
		if (json_array_append_new(displays,
					  display_json(dsvm_hw_get_display_adapter(hw, i))) < 0)
			return -ENOMEM;
	for (size_t i = 0; rep->disks && i < rep->n_disks; i++)
		if (json_array_append_new(disks, disk_json(&rep->disks[i])) < 0)
			return -ENOMEM;
	if (!set(root, "vm_size", str_or_null(dsvm_hw_get_vm_size(hw))) ||
	    !set(root, "vm_size_source",
		 json_string(dsvm_vm_size_source_to_string(dsvm_hw_get_vm_size_source(hw)))) ||
	    !set(root, "gpus", TAKE_PTR(gpus)) ||
	    !set(root, "gpu_count", json_integer((json_int_t)dsvm_hw_get_n_gpus(hw))) ||
	    !set(root, "display_adapters", TAKE_PTR(displays)) ||
	    !set(root, "infiniband", json_boolean(dsvm_hw_has_infiniband(hw))) ||
	    !set(root, "infiniband_pci", json_integer(dsvm_hw_get_n_ib_pci(hw))) ||
	    !set(root, "infiniband_ports", json_integer(dsvm_hw_get_n_ib_ports(hw))) ||
	    !set(root, "infiniband_devices", json_integer(dsvm_hw_get_n_ib_devices(hw))) ||
	    !set(root, "nvswitch", json_boolean(dsvm_hw_get_n_nvswitches(hw) > 0)) ||
	    !set(root, "nvswitch_count", json_integer(dsvm_hw_get_n_nvswitches(hw))) ||
	    !set(root, "secure_boot", sb < 0 ? json_null() : json_boolean(sb > 0)) ||
	    !set(root, "kernel", str_or_null(dsvm_hw_get_kernel(hw))) ||
	    !set(root, "nvidia_driver_loaded", loaded_driver_json(hw)) ||
	    !set(root, "pci_devices", json_integer((json_int_t)dsvm_hw_get_n_pci_devices(hw))) ||
	    !set(root, "driver", rep->choice ? driver_json(rep->choice) : json_null()) ||
	    !set(root, "disks", TAKE_PTR(disks)))
		return -ENOMEM;
	text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!text)
		return -ENOMEM;
	*ret = text;
	return 0;
}
