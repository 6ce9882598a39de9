/* SPDX-License-Identifier: MIT */
#include <stdarg.h>

#include "dsvm/select.h"
#include "internal.h"

#define MAX_GPUS 4096
#define MAX_MODELS 8
#define MAX_UNKNOWN 4

static const char *const warning_names[_DSVM_SELECT_WARN_MAX] = {
	[DSVM_SELECT_WARN_UNKNOWN_SIZE] = "unknown-size",
	[DSVM_SELECT_WARN_UNKNOWN_DEVICE] = "unknown-device",
	[DSVM_SELECT_WARN_GPU_MISSING] = "gpu-missing",
	[DSVM_SELECT_WARN_GPU_MISMATCH] = "gpu-mismatch",
	[DSVM_SELECT_WARN_UNEXPECTED_GPU] = "unexpected-gpu",
	[DSVM_SELECT_WARN_MIXED_GPUS] = "mixed-gpus",
	[DSVM_SELECT_WARN_FABRIC_MISMATCH] = "fabric-mismatch",
	[DSVM_SELECT_WARN_SECURE_BOOT] = "secure-boot",
};

const char *dsvm_select_warning_to_string(enum dsvm_select_warning_code code)
{
	if ((int)code < 0 || code >= _DSVM_SELECT_WARN_MAX)
		return NULL;
	return warning_names[code];
}

bool dsvm_choice_has_warning(const struct dsvm_choice *choice, enum dsvm_select_warning_code code)
{
	for (size_t i = 0; choice && i < choice->n_warnings; i++)
		if (choice->warnings[i].code == code)
			return true;
	return false;
}

static void add_warningv(struct dsvm_choice *c, enum dsvm_select_warning_code code, const char *fmt,
			 va_list ap) __attribute__((format(printf, 3, 0)));
static void add_warningv(struct dsvm_choice *c, enum dsvm_select_warning_code code, const char *fmt,
			 va_list ap)
{
	struct dsvm_select_warning *w;

	/* The list is bounded; past it the reason and the earlier warnings still stand. */
	if (c->n_warnings >= DSVM_SELECT_MAX_WARNINGS)
		return;
	w = &c->warnings[c->n_warnings++];
	w->code = code;
	vsnprintf(w->text, sizeof(w->text), fmt, ap);
}

static void add_warning(struct dsvm_choice *c, enum dsvm_select_warning_code code, const char *fmt,
			...) __attribute__((format(printf, 3, 4)));
static void add_warning(struct dsvm_choice *c, enum dsvm_select_warning_code code, const char *fmt,
			...)
{
	va_list ap;

	va_start(ap, fmt);
	add_warningv(c, code, fmt, ap);
	va_end(ap);
}

/* What PCI shows, sorted into catalogued models, NVSwitches and unknown devices. */
struct pci_tally {
	const struct dsvm_gpu_info *models[MAX_MODELS]; /* gpus.yaml entries or table records */
	const char *names[MAX_MODELS]; /* the first device's name in the tables, or NULL */
	unsigned counts[MAX_MODELS];
	size_t n_models;
	unsigned gpus;	   /* catalogued compute GPUs */
	unsigned switches; /* catalogued NVSwitch functions */
	struct dsvm_hw_gpu unknown[MAX_UNKNOWN];
	unsigned unknown_counts[MAX_UNKNOWN];
	size_t n_unknown;
	unsigned unknown_nvidia;
	unsigned unknown_amd;
	unsigned unknown_amd_accel; /* of which in the processing-accelerator class (0x12) */
};

static void tally_unknown(struct pci_tally *t, const struct dsvm_hw_gpu *g)
{
	if (g->vendor_id == DSVM_PCI_VENDOR_NVIDIA) {
		t->unknown_nvidia++;
	} else {
		t->unknown_amd++;
		/* Instinct parts show as "Processing accelerators"; Radeon as display classes. */
		if (g->class_code >> 16 == 0x12)
			t->unknown_amd_accel++;
	}
	for (size_t i = 0; i < t->n_unknown; i++)
		if (t->unknown[i].vendor_id == g->vendor_id &&
		    t->unknown[i].device_id == g->device_id) {
			t->unknown_counts[i]++;
			return;
		}
	if (t->n_unknown < MAX_UNKNOWN) {
		t->unknown[t->n_unknown] = *g;
		t->unknown_counts[t->n_unknown++] = 1;
	}
}

static void tally_pci(const struct dsvm_catalog *cat, const struct dsvm_hw_summary *hw,
		      struct pci_tally *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < hw->n_gpus; i++) {
		const struct dsvm_hw_gpu *g = &hw->gpus[i];
		const struct dsvm_gpu_info *info;
		struct dsvm_gpu_class gc;
		size_t m;

		/* Only the two GPU vendors matter; a Hyper-V video function is not a GPU. */
		if (g->vendor_id != DSVM_PCI_VENDOR_NVIDIA && g->vendor_id != DSVM_PCI_VENDOR_AMD)
			continue;
		if (dsvm_catalog_classify_gpu(cat, g->vendor_id, g->device_id, &gc) < 0) {
			tally_unknown(t, g);
			continue;
		}
		info = gc.info;
		if (info->switch_only) {
			t->switches++;
			continue;
		}
		t->gpus++;
		for (m = 0; m < t->n_models; m++)
			if (t->models[m] == info)
				break;
		if (m == t->n_models) {
			if (m == MAX_MODELS)
				continue;
			t->names[m] = gc.name;
			t->models[t->n_models++] = info;
		}
		t->counts[m]++;
	}
}

/*
 * The model PCI shows most of among those a driver kind serves (the first seen wins a tie), else
 * among the rest; NULL when there is none.
 */
static const struct dsvm_gpu_info *tally_main_model(const struct pci_tally *t, unsigned *ret_n)
{
	size_t best = 0;

	if (t->n_models == 0)
		return NULL;
	/* A device some kind drives outranks any number the tables place in no kind. */
	for (size_t m = 1; m < t->n_models; m++) {
		bool served = t->models[m]->driver_kind != DSVM_DRIVER_NONE;
		bool best_served = t->models[best]->driver_kind != DSVM_DRIVER_NONE;

		if (served != best_served ? served : t->counts[m] > t->counts[best])
			best = m;
	}
	*ret_n = t->counts[best];
	return t->models[best];
}

/* How a reason names a model: gpus.yaml's model, or the tables' name of the device seen. */
static const char *tally_name_of(const struct pci_tally *t, const struct dsvm_gpu_info *gpu)
{
	for (size_t m = 0; m < t->n_models; m++)
		if (t->models[m] == gpu && gpu->generated && t->names[m])
			return t->names[m];
	return gpu->model;
}

static unsigned tally_count_of(const struct pci_tally *t, const struct dsvm_gpu_info *gpu)
{
	for (size_t m = 0; m < t->n_models; m++)
		if (t->models[m] == gpu)
			return t->counts[m];
	return 0;
}

static void format_count(const struct dsvm_size_info *s, char *buf, size_t len)
{
	if (s->gpus_den == 1)
		snprintf(buf, len, "%u", s->gpus_num);
	else
		snprintf(buf, len, "%u/%u", s->gpus_num, s->gpus_den);
}

/*
 * The branch for a kind on a GPU: the size's pinned branch, else the newest grid branch for
 * GRID, else the newest datacenter branch the GPU supports. "" for AMD and none.
 */
static void choose_branch(const struct dsvm_catalog *cat, enum dsvm_driver_kind kind,
			  const struct dsvm_gpu_info *gpu, const struct dsvm_size_info *size,
			  char ret_branch[16])
{
	ret_branch[0] = '\0';
	if (dsvm_driver_kind_vendor(kind) != DSVM_VENDOR_NVIDIA)
		return;
	if (size && size->branch && size->gpu == gpu) {
		snprintf(ret_branch, 16, "%s", size->branch);
		return;
	}
	if (kind == DSVM_DRIVER_NVIDIA_GRID) {
		(void)dsvm_catalog_grid_branch(cat, gpu, ret_branch);
		return;
	}
	if (gpu) {
		(void)dsvm_catalog_newest_branch(cat, gpu, ret_branch);
		return;
	}
	/* An NVIDIA GPU the catalog does not know: the newest datacenter branch of all. */
	for (size_t i = 0; i < dsvm_catalog_n_branches(cat); i++) {
		const struct dsvm_branch_info *b = dsvm_catalog_branch_at(cat, i);

		if (!streq(b->track, "production") && !streq(b->track, "lts"))
			continue;
		if (!ret_branch[0] || version_compare(b->branch, ret_branch) > 0)
			snprintf(ret_branch, 16, "%s", b->branch);
	}
}

static void finish_choice(const struct dsvm_catalog *cat, struct dsvm_choice *c)
{
	c->cuda_max[0] = '\0';
	if (c->branch[0] && dsvm_catalog_cuda_max(cat, "linux", c->branch, c->cuda_max) < 0)
		c->cuda_max[0] = '\0';
}

static void warn_unknown_devices(struct dsvm_choice *c, const struct pci_tally *t)
{
	for (size_t i = 0; i < t->n_unknown; i++) {
		const struct dsvm_hw_gpu *g = &t->unknown[i];

		add_warning(c, DSVM_SELECT_WARN_UNKNOWN_DEVICE,
			    "PCI device %04x:%04x (x%u) is an %s device in no device table "
			    "(gpus.yaml, pci-devices.yaml); add it to gpus.yaml or regenerate "
			    "pci-devices.yaml from newer sources (tools/gen-gpu-tables.py)",
			    g->vendor_id, g->device_id, t->unknown_counts[i],
			    g->vendor_id == DSVM_PCI_VENDOR_NVIDIA ? "NVIDIA" : "AMD");
	}
}

static void warn_mixed(struct dsvm_choice *c, const struct pci_tally *t,
		       const struct dsvm_gpu_info *chosen)
{
	for (size_t m = 0; m < t->n_models; m++) {
		if (t->models[m] == chosen)
			continue;
		add_warning(c, DSVM_SELECT_WARN_MIXED_GPUS,
			    "PCI also shows %u x '%s'; the driver is chosen for '%s' only",
			    t->counts[m], t->models[m]->model, chosen->model);
	}
}

static void check_fabric(struct dsvm_choice *c, const struct dsvm_size_info *s,
			 const struct dsvm_hw_summary *hw, const struct pci_tally *t)
{
	bool nvswitch = hw->nvswitch || t->switches > 0;

	if (s->infiniband && !hw->infiniband)
		add_warning(c, DSVM_SELECT_WARN_FABRIC_MISMATCH,
			    "'%s' has InfiniBand but none was detected; check that the IB "
			    "driver is loaded",
			    s->name);
	else if (!s->infiniband && hw->infiniband)
		add_warning(c, DSVM_SELECT_WARN_FABRIC_MISMATCH,
			    "InfiniBand was detected on '%s', which the catalog lists without it",
			    s->name);
	if (s->nvswitch && !nvswitch)
		add_warning(c, DSVM_SELECT_WARN_FABRIC_MISMATCH,
			    "'%s' has NVSwitch but PCI shows none; Fabric Manager will not start",
			    s->name);
	else if (!s->nvswitch && nvswitch)
		add_warning(c, DSVM_SELECT_WARN_FABRIC_MISMATCH,
			    "NVSwitch was detected on '%s', which the catalog lists without it",
			    s->name);
}

/* The size is catalogued: it decides, unless PCI shows a different catalogued GPU instead. */
static void select_by_size(const struct dsvm_catalog *cat, const struct dsvm_hw_summary *hw,
			   const struct pci_tally *t, const struct dsvm_size_info *s,
			   struct dsvm_choice *c)
{
	unsigned seen = tally_count_of(t, s->gpu), other_n = 0;
	const struct dsvm_gpu_info *other = tally_main_model(t, &other_n);
	char count[16];

	format_count(s, count, sizeof(count));
	c->size = s;

	if (seen == 0 && other) {
		/* The hardware is the truth the driver has to load on; the size record is not. */
		c->gpu = other;
		c->kind = other->driver_kind;
		choose_branch(cat, c->kind, other, NULL, c->branch);
		add_warning(c, DSVM_SELECT_WARN_GPU_MISMATCH,
			    "'%s' should carry '%s' but PCI shows %u x '%s'; following PCI",
			    s->name, s->gpu->model, other_n, other->model);
		snprintf(c->reason, sizeof(c->reason),
			 "PCI shows %u x %s (%s) on %s, which should carry %s: %s%s%s", other_n,
			 other->model, other->architecture, s->name, s->gpu->model,
			 dsvm_driver_kind_to_string(c->kind), c->branch[0] ? " " : "", c->branch);
		warn_mixed(c, t, other);
		check_fabric(c, s, hw, t);
		return;
	}

	c->gpu = s->gpu;
	c->kind = s->driver_kind;
	choose_branch(cat, c->kind, s->gpu, s, c->branch);
	snprintf(c->reason, sizeof(c->reason), "%s (%s) carries %s x %s (%s): %s%s%s%s", s->name,
		 s->family, count, s->gpu->model, s->gpu->architecture,
		 dsvm_driver_kind_to_string(c->kind), c->branch[0] ? " " : "", c->branch,
		 c->kind != s->gpu->driver_kind ? ", as Azure serves this size" : "");

	if (seen < s->pci_gpus)
		add_warning(c, DSVM_SELECT_WARN_GPU_MISSING,
			    "'%s' should show %u x '%s' on PCI but shows %u; the driver is chosen "
			    "from the size",
			    s->name, s->pci_gpus, s->gpu->model, seen);
	else if (seen > s->pci_gpus)
		add_warning(c, DSVM_SELECT_WARN_UNEXPECTED_GPU,
			    "'%s' should show %u x '%s' on PCI but shows %u", s->name, s->pci_gpus,
			    s->gpu->model, seen);
	warn_mixed(c, t, s->gpu);
	check_fabric(c, s, hw, t);
}

/* No catalogued size: PCI decides. */
static void select_by_pci(const struct dsvm_catalog *cat, const struct dsvm_hw_summary *hw,
			  const struct pci_tally *t, struct dsvm_choice *c)
{
	const char *size = hw->vm_size && *hw->vm_size ? hw->vm_size : NULL;
	unsigned n = 0;
	const struct dsvm_gpu_info *gpu = tally_main_model(t, &n);
	char where[96];

	if (size)
		snprintf(where, sizeof(where), "'%s' is not in the catalog", size);
	else
		snprintf(where, sizeof(where), "VM size unknown");

	if (gpu) {
		c->gpu = gpu;
		c->kind = gpu->driver_kind;
		choose_branch(cat, c->kind, gpu, NULL, c->branch);
		if (!gpu->generated)
			snprintf(c->reason, sizeof(c->reason), "%s; PCI shows %u x %s (%s): %s%s%s",
				 where, n, gpu->model, gpu->architecture,
				 dsvm_driver_kind_to_string(c->kind), c->branch[0] ? " " : "",
				 c->branch);
		else if (c->kind == DSVM_DRIVER_NONE)
			snprintf(c->reason, sizeof(c->reason),
				 "%s; PCI shows %u x %s, %s by the public device tables: no driver "
				 "branch dsvm carries supports it, none chosen",
				 where, n, tally_name_of(t, gpu), gpu->architecture);
		else
			snprintf(c->reason, sizeof(c->reason),
				 "%s; PCI shows %u x %s, %s by the public device tables (not in "
				 "gpus.yaml): %s%s%s",
				 where, n, tally_name_of(t, gpu), gpu->architecture,
				 dsvm_driver_kind_to_string(c->kind), c->branch[0] ? " " : "",
				 c->branch);
		warn_mixed(c, t, gpu);
	} else if (t->unknown_nvidia > 0) {
		/* A device newer than the catalog is far likelier than an older one, and every
		 * NVIDIA GPU from Blackwell on needs the open modules. */
		c->kind = DSVM_DRIVER_NVIDIA_OPEN;
		choose_branch(cat, c->kind, NULL, NULL, c->branch);
		snprintf(c->reason, sizeof(c->reason),
			 "%s; PCI shows %u NVIDIA device(s) in no device table: assuming a GPU "
			 "newer than every table, %s%s%s",
			 where, t->unknown_nvidia, dsvm_driver_kind_to_string(c->kind),
			 c->branch[0] ? " " : "", c->branch);
	} else if (t->unknown_amd_accel > 0) {
		c->kind = DSVM_DRIVER_AMD_ROCM;
		snprintf(c->reason, sizeof(c->reason),
			 "%s; PCI shows %u AMD accelerator(s) in no device table: assuming an "
			 "Instinct newer than every table, %s",
			 where, t->unknown_amd_accel, dsvm_driver_kind_to_string(c->kind));
	} else if (t->unknown_amd > 0) {
		c->kind = DSVM_DRIVER_NONE;
		snprintf(c->reason, sizeof(c->reason),
			 "%s; PCI shows %u AMD display device(s) in no device table (neither "
			 "Instinct nor Radeon PRO): no driver chosen",
			 where, t->unknown_amd);
	} else {
		c->kind = DSVM_DRIVER_NONE;
		if (size)
			snprintf(c->reason, sizeof(c->reason),
				 "'%s' is not a GPU size in the catalog and PCI shows no GPU: CPU "
				 "only",
				 size);
		else
			snprintf(c->reason, sizeof(c->reason),
				 "VM size unknown and PCI shows no GPU: CPU only");
		return;
	}
	if (size)
		add_warning(c, DSVM_SELECT_WARN_UNKNOWN_SIZE,
			    "'%s' is not in the hardware catalog but PCI shows a GPU; add the size "
			    "to sizes.yaml",
			    size);
}

int dsvm_driver_select(struct dsvm_ctx *ctx, const struct dsvm_catalog *cat,
		       const struct dsvm_hw_summary *hw, struct dsvm_choice *ret)
{
	const struct dsvm_size_info *size = NULL;
	struct dsvm_choice c = { .kind = DSVM_DRIVER_NONE };
	struct pci_tally t;

	if (!cat || !hw || !ret || (hw->n_gpus > 0 && !hw->gpus))
		return ctx ? dsvm_set_error(ctx, -EINVAL,
					    "driver selection needs a catalog and hardware")
			   : -EINVAL;
	if (hw->n_gpus > MAX_GPUS)
		return ctx ? dsvm_set_error(ctx, -EINVAL,
					    "%zu GPUs on PCI is more than the %d selection reads",
					    hw->n_gpus, MAX_GPUS)
			   : -EINVAL;

	tally_pci(cat, hw, &t);
	warn_unknown_devices(&c, &t);
	if (hw->vm_size && *hw->vm_size && dsvm_catalog_find_size(cat, hw->vm_size, &size) == 0)
		select_by_size(cat, hw, &t, size, &c);
	else
		select_by_pci(cat, hw, &t, &c);
	finish_choice(cat, &c);

	if (hw->secure_boot && dsvm_driver_kind_builds_module(c.kind))
		add_warning(&c, DSVM_SELECT_WARN_SECURE_BOOT,
			    "Secure Boot is on and %s is built with DKMS: its module loads only if "
			    "its signing key is enrolled",
			    dsvm_driver_kind_to_string(c.kind));
	if (ctx)
		dsvm_debug(ctx, "driver selection: %s", c.reason);
	*ret = c;
	return 0;
}

/* The GPU's branch range, so a resolver can pick its own driver of the kind within it. */
static void set_branch_limits(struct dsvm_target *t, const struct dsvm_gpu_info *gpu)
{
	snprintf(t->driver_branch_min, sizeof(t->driver_branch_min), "%s",
		 gpu && gpu->min_branch ? gpu->min_branch : "");
	snprintf(t->driver_branch_max, sizeof(t->driver_branch_max), "%s",
		 gpu && gpu->max_branch ? gpu->max_branch : "");
}

int dsvm_target_from_size(struct dsvm_ctx *ctx, const struct dsvm_catalog *cat, const char *vm_size,
			  struct dsvm_target *t)
{
	const struct dsvm_size_info *s = NULL;
	char count[16];

	if (!cat || !t || !vm_size || !*vm_size)
		return ctx ? dsvm_set_error(ctx, -EINVAL, "a VM size is needed") : -EINVAL;
	if (strlen(vm_size) >= sizeof(t->vm_size))
		return ctx ? dsvm_set_error(ctx, -EINVAL, "VM size '%.64s...' is too long", vm_size)
			   : -EINVAL;

	if (dsvm_catalog_find_size(cat, vm_size, &s) < 0) {
		snprintf(t->vm_size, sizeof(t->vm_size), "%s", vm_size);
		t->vm_family[0] = '\0';
		t->driver_kind = DSVM_DRIVER_NONE;
		t->driver_branch[0] = '\0';
		set_branch_limits(t, NULL);
		t->infiniband = DSVM_NO;
		t->nvswitch = DSVM_NO;
		snprintf(t->reason, sizeof(t->reason),
			 "'%s' is not a GPU size in the hardware catalog: CPU only", vm_size);
		return 0;
	}
	format_count(s, count, sizeof(count));
	snprintf(t->vm_size, sizeof(t->vm_size), "%s", s->name);
	snprintf(t->vm_family, sizeof(t->vm_family), "%s", s->family);
	t->driver_kind = s->driver_kind;
	choose_branch(cat, s->driver_kind, s->gpu, s, t->driver_branch);
	set_branch_limits(t, s->gpu);
	t->infiniband = s->infiniband ? DSVM_YES : DSVM_NO;
	t->nvswitch = s->nvswitch ? DSVM_YES : DSVM_NO;
	snprintf(t->reason, sizeof(t->reason), "%s (%s) carries %s x %s: %s%s%s", s->name,
		 s->family, count, s->gpu->model, dsvm_driver_kind_to_string(s->driver_kind),
		 t->driver_branch[0] ? " " : "", t->driver_branch);
	return 0;
}

void dsvm_target_from_choice(const struct dsvm_choice *choice, const struct dsvm_hw_summary *hw,
			     struct dsvm_target *t)
{
	const char *size = choice->size ? choice->size->name : hw ? hw->vm_size : NULL;

	snprintf(t->vm_size, sizeof(t->vm_size), "%s", size ? size : "");
	snprintf(t->vm_family, sizeof(t->vm_family), "%s",
		 choice->size ? choice->size->family : "");
	t->driver_kind = choice->kind;
	snprintf(t->driver_branch, sizeof(t->driver_branch), "%s", choice->branch);
	set_branch_limits(t, choice->gpu);
	t->infiniband = hw && hw->infiniband ? DSVM_YES : DSVM_NO;
	t->nvswitch = hw && hw->nvswitch ? DSVM_YES : DSVM_NO;
	snprintf(t->reason, sizeof(t->reason), "%s", choice->reason);
}
