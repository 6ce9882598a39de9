/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <ctype.h>
#include <endian.h>
#include <strings.h>

#include "catalog-index.h"
#include "dsvm/catalog.h"
#include "internal.h"
#include "sha256.h"
#include "yamldoc.h"

/*
 * The catalog keeps the three parsed documents alive and points into them: every string a record
 * hands out is a node value, so loading copies nothing but the small index arrays.
 */

enum {
	DOC_GPUS,
	DOC_DRIVERS,
	DOC_SIZES,
	DOC_PCI, /* optional, and last: the lock lists inputs up to the first one missing */
	_DOC_MAX,
};

static const char *const doc_names[_DOC_MAX] = {
	[DOC_GPUS] = "gpus.yaml",
	[DOC_DRIVERS] = "cuda-drivers.yaml",
	[DOC_SIZES] = "sizes.yaml",
	[DOC_PCI] = "pci-devices.yaml",
};

/* pci-devices.yaml is generated from pci.ids: a few thousand rows, some 150 KiB today. */
#define PCI_TABLE_MAX_BYTES (8u << 20)

struct toolkit {
	const char *cuda; /* "12.8.1" */
	const char *linux_min;
	const char *windows_min; /* NULL: the table says N/A */
};

struct pci_entry {
	uint32_t key; /* vendor << 16 | device */
	size_t gpu;
};

struct size_key {
	const char *name; /* a canonical name or an alias, "Standard_..." */
	size_t size;
};

struct dsvm_catalog {
	struct ydoc *docs[_DOC_MAX];
	struct dsvm_gpu_info *gpus;
	uint16_t *device_ids; /* all GPUs' ids, each GPU's a slice */
	size_t n_gpus;
	struct pci_entry *pci; /* sorted by key */
	size_t n_pci;
	struct dsvm_size_info *sizes;
	size_t n_sizes;
	struct size_key *size_keys;
	size_t n_size_keys;
	struct dsvm_branch_info *branches;
	size_t n_branches;
	struct toolkit *toolkits;
	size_t n_toolkits;
	/*
	 * The generated device tables: the built-in index when pci-devices.yaml holds exactly the
	 * bytes it was compiled from, else the rows parsed from the file (docs[DOC_PCI]). pci_text
	 * is the file as read, for its SHA-256; arch_gpus has one record per group.
	 */
	char *pci_text;
	size_t pci_size;
	bool pci_from_index;
	const struct pci_index_group *pci_groups;
	size_t n_pci_groups;
	const struct pci_index_entry *pci_rows;
	size_t n_pci_rows;
	const char *pci_pool; /* the rows' and groups' strings are offsets into it */
	struct pci_index_group *pci_groups_owned;
	struct pci_index_entry *pci_rows_owned;
	char *pci_pool_owned;
	size_t pci_pool_size, pci_pool_cap;
	struct dsvm_gpu_info *arch_gpus;
	char **arch_models;
};

/* What one loader needs: the context for errors and the document being read. */
struct loader {
	struct dsvm_ctx *ctx;
	struct dsvm_catalog *cat;
	const struct ydoc *doc;
};

void dsvm_catalog_free(struct dsvm_catalog *cat)
{
	if (!cat)
		return;
	for (size_t i = 0; i < _DOC_MAX; i++)
		ydoc_free(cat->docs[i]);
	free(cat->gpus);
	free(cat->device_ids);
	free(cat->pci);
	free(cat->sizes);
	free(cat->size_keys);
	free(cat->branches);
	free(cat->toolkits);
	free(cat->pci_text);
	free(cat->pci_groups_owned);
	free(cat->pci_rows_owned);
	free(cat->pci_pool_owned);
	for (size_t i = 0; cat->arch_models && i < cat->n_pci_groups; i++)
		free(cat->arch_models[i]);
	free(cat->arch_models);
	free(cat->arch_gpus);
	free(cat);
}

/*
 * The top-level list of a document: `key:` holding a sequence of mappings. NULL, with the
 * error recorded, when the document is not shaped so.
 */
static const struct ynode *doc_list(struct loader *l, const char *key, const char *const *top_keys)
{
	const struct ynode *root = l->doc->root;
	const struct ynode *list;

	if (yexpect(l->ctx, l->doc, root, YNODE_MAPPING, "the catalog file") < 0 ||
	    ymap_check_keys(l->ctx, l->doc, root, top_keys) < 0)
		return NULL;
	list = ymap_get(root, key);
	if (!list) {
		yerror(l->ctx, l->doc, root, "missing required key '%s'", key);
		return NULL;
	}
	if (yexpect(l->ctx, l->doc, list, YNODE_SEQUENCE, key) < 0)
		return NULL;
	for (size_t i = 0; i < list->n; i++)
		if (yexpect(l->ctx, l->doc, list->items[i], YNODE_MAPPING, "an entry") < 0)
			return NULL;
	return list;
}

static bool is_digits(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* "580.95.05", "455.23", "12.8.1": 1 to 4 dot-separated runs of up to 6 digits. */
static bool is_dotted_version(const char *s, unsigned min_parts)
{
	unsigned parts = 0;
	size_t run = 0;

	for (const char *p = s;; p++) {
		if (isdigit((unsigned char)*p)) {
			if (++run > 6)
				return false;
			continue;
		}
		if (*p != '.' && *p != '\0')
			return false;
		if (run == 0)
			return false;
		parts++;
		run = 0;
		if (*p == '\0')
			break;
	}
	return parts >= min_parts && parts <= 4;
}

/* A PCI device id as pci.ids writes it: exactly four hex digits. */
static int parse_pci_id(const char *s, uint16_t *ret)
{
	unsigned v = 0;

	if (strlen(s) != 4)
		return -EINVAL;
	for (size_t i = 0; i < 4; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return -EINVAL;
		int c = tolower((unsigned char)s[i]);

		v = v * 16 + (unsigned)(isdigit(c) ? c - '0' : c - 'a' + 10);
	}
	*ret = (uint16_t)v;
	return 0;
}

static int get_kind(struct loader *l, const struct ynode *map, const char *key,
		    enum dsvm_driver_kind *ret)
{
	const char *s = NULL;
	enum dsvm_driver_kind kind;
	int r;

	r = yget_str(l->ctx, l->doc, map, key, true, &s);
	if (r < 0)
		return r;
	kind = dsvm_driver_kind_from_string(s);
	if (kind == DSVM_DRIVER_INVALID)
		return yerror(l->ctx, l->doc, ymap_get(map, key),
			      "unknown driver kind '%s'; use none, nvidia-open, "
			      "nvidia-proprietary, nvidia-legacy-470, nvidia-grid, amd-rocm or "
			      "amd-radeon-pro",
			      s);
	*ret = kind;
	return 0;
}

/* An optional branch field: digits only ("580"). */
static int get_branch(struct loader *l, const struct ynode *map, const char *key, const char **ret)
{
	const char *s = NULL;
	int r;

	r = yget_str(l->ctx, l->doc, map, key, false, &s);
	if (r < 0)
		return r;
	if (s && !is_digits(s, 4))
		return yerror(l->ctx, l->doc, ymap_get(map, key),
			      "'%s' must be a driver branch number like '580', got '%s'", key, s);
	*ret = s;
	return 0;
}

static int pci_entry_cmp(const void *a, const void *b)
{
	const struct pci_entry *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

static int check_gpu(struct loader *l, const struct ynode *node, const struct dsvm_gpu_info *g)
{
	const char *what = NULL;

	if (g->switch_only) {
		if (g->driver_kind != DSVM_DRIVER_NONE)
			what = "an NVSwitch entry ('switch: true') takes 'driver: none'";
	} else if (g->driver_kind == DSVM_DRIVER_NONE) {
		what = "a GPU needs a driver kind other than none";
	} else if (dsvm_driver_kind_vendor(g->driver_kind) != g->vendor) {
		what = "the driver kind is for another vendor than the GPU's";
	} else if (g->vendor == DSVM_VENDOR_NVIDIA && !g->compute_capability) {
		what = "an NVIDIA GPU needs 'compute_capability'";
	} else if (g->driver_kind == DSVM_DRIVER_NVIDIA_OPEN && !g->open_module) {
		what = "driver nvidia-open needs 'open_module: true'";
	} else if ((g->driver_kind == DSVM_DRIVER_NVIDIA_PROPRIETARY ||
		    g->driver_kind == DSVM_DRIVER_NVIDIA_LEGACY_470) &&
		   !g->proprietary_module) {
		what = "a proprietary driver kind contradicts 'proprietary_module: false'";
	}
	if (!what && g->vendor != DSVM_VENDOR_NVIDIA &&
	    (g->compute_capability || g->max_branch || g->min_branch || g->open_module))
		what = "compute_capability, max_branch, min_branch and open_module are for "
		       "NVIDIA GPUs";
	if (!what && g->compute_capability && !is_dotted_version(g->compute_capability, 2))
		what = "'compute_capability' must look like '8.0'";
	if (!what && g->min_branch && g->max_branch &&
	    version_compare(g->min_branch, g->max_branch) > 0)
		what = "'min_branch' is above 'max_branch'";
	if (what)
		return yerror(l->ctx, l->doc, node, "GPU '%s': %s", g->key, what);
	return 0;
}

static int load_gpu(struct loader *l, const struct ynode *map, struct dsvm_gpu_info *g,
		    uint16_t *ids, size_t *n_ids)
{
	static const char *const keys[] = { "key",
					    "vendor",
					    "model",
					    "pci",
					    "architecture",
					    "compute_capability",
					    "driver",
					    "max_branch",
					    "min_branch",
					    "open_module",
					    "proprietary_module",
					    "switch",
					    NULL };
	const struct ynode *pci;
	const char *vendor = NULL;
	int r;

	r = ymap_check_keys(l->ctx, l->doc, map, keys);
	if (r < 0)
		return r;
	if ((r = yget_str(l->ctx, l->doc, map, "key", true, &g->key)) < 0 ||
	    (r = yget_str(l->ctx, l->doc, map, "vendor", true, &vendor)) < 0 ||
	    (r = yget_str(l->ctx, l->doc, map, "model", true, &g->model)) < 0 ||
	    (r = yget_str(l->ctx, l->doc, map, "architecture", true, &g->architecture)) < 0 ||
	    (r = yget_str(l->ctx, l->doc, map, "compute_capability", false,
			  &g->compute_capability)) < 0 ||
	    (r = get_kind(l, map, "driver", &g->driver_kind)) < 0 ||
	    (r = get_branch(l, map, "max_branch", &g->max_branch)) < 0 ||
	    (r = get_branch(l, map, "min_branch", &g->min_branch)) < 0 ||
	    (r = yget_bool(l->ctx, l->doc, map, "open_module", &g->open_module)) < 0 ||
	    (r = yget_bool(l->ctx, l->doc, map, "switch", &g->switch_only)) < 0)
		return r;

	if (streq(vendor, "nvidia")) {
		g->vendor = DSVM_VENDOR_NVIDIA;
		g->vendor_id = DSVM_PCI_VENDOR_NVIDIA;
	} else if (streq(vendor, "amd")) {
		g->vendor = DSVM_VENDOR_AMD;
		g->vendor_id = DSVM_PCI_VENDOR_AMD;
	} else {
		return yerror(l->ctx, l->doc, ymap_get(map, "vendor"),
			      "unknown vendor '%s'; use nvidia or amd", vendor);
	}
	/* The proprietary flavour is the default for NVIDIA; Blackwell and GH200 say false. */
	g->proprietary_module = g->vendor == DSVM_VENDOR_NVIDIA && !g->switch_only;
	r = yget_bool(l->ctx, l->doc, map, "proprietary_module", &g->proprietary_module);
	if (r < 0)
		return r;

	pci = ymap_get(map, "pci");
	if (!pci)
		return yerror(l->ctx, l->doc, map, "missing required key 'pci'");
	r = yexpect(l->ctx, l->doc, pci, YNODE_SEQUENCE, "'pci' (a list of device ids)");
	if (r < 0)
		return r;
	if (pci->n == 0)
		return yerror(l->ctx, l->doc, pci, "GPU '%s' lists no PCI device id", g->key);
	for (size_t i = 0; i < pci->n; i++) {
		const struct ynode *id = pci->items[i];

		if (id->kind != YNODE_SCALAR || parse_pci_id(id->value, &ids[*n_ids]) < 0)
			return yerror(l->ctx, l->doc, id,
				      "bad PCI device id '%s'; give four hex digits, quoted, as "
				      "pci.ids writes them (\"20b5\")",
				      id->kind == YNODE_SCALAR ? id->value
							       : ynode_kind_name(id->kind));
		(*n_ids)++;
	}
	return check_gpu(l, ymap_get(map, "driver"), g);
}

static int load_gpus(struct loader *l)
{
	static const char *const top[] = { "gpus", NULL };
	struct dsvm_catalog *cat = l->cat;
	const struct ynode *list;
	size_t n_ids = 0, total = 0;
	int r;

	/* The shape checks only ever fail with -EBADMSG. */
	list = doc_list(l, "gpus", top);
	if (!list)
		return -EBADMSG;
	for (size_t i = 0; i < list->n; i++) {
		const struct ynode *pci = ymap_get(list->items[i], "pci");

		if (pci && pci->kind == YNODE_SEQUENCE)
			total += pci->n;
	}
	cat->gpus = calloc(list->n ? list->n : 1, sizeof(*cat->gpus));
	cat->device_ids = calloc(total ? total : 1, sizeof(*cat->device_ids));
	cat->pci = calloc(total ? total : 1, sizeof(*cat->pci));
	if (!cat->gpus || !cat->device_ids || !cat->pci)
		return -ENOMEM;

	for (size_t i = 0; i < list->n; i++) {
		struct dsvm_gpu_info *g = &cat->gpus[i];
		size_t first = n_ids;

		/* Each GPU's ids are a slice of the shared array; pci lists larger than counted
		 * above cannot happen, the count came from the same nodes. */
		r = load_gpu(l, list->items[i], g, cat->device_ids, &n_ids);
		if (r < 0)
			return r;
		g->device_ids = cat->device_ids + first;
		g->n_device_ids = n_ids - first;
		for (size_t j = 0; j < i; j++)
			if (streq(cat->gpus[j].key, g->key))
				return yerror(l->ctx, l->doc, ymap_get(list->items[i], "key"),
					      "duplicate GPU key '%s'", g->key);
		for (size_t j = first; j < n_ids; j++)
			cat->pci[j] = (struct pci_entry){
				.key = (uint32_t)g->vendor_id << 16 | cat->device_ids[j],
				.gpu = i,
			};
		cat->n_gpus = i + 1;
	}
	cat->n_pci = n_ids;
	qsort(cat->pci, cat->n_pci, sizeof(*cat->pci), pci_entry_cmp);
	for (size_t i = 1; i < cat->n_pci; i++) {
		const struct dsvm_gpu_info *a, *b;
		const struct ynode *map;

		if (cat->pci[i].key != cat->pci[i - 1].key)
			continue;
		a = &cat->gpus[cat->pci[i - 1].gpu];
		b = &cat->gpus[cat->pci[i].gpu];
		if (cat->pci[i].gpu < cat->pci[i - 1].gpu) {
			const struct dsvm_gpu_info *t = a;

			a = b;
			b = t;
		}
		map = list->items[b - cat->gpus];
		return yerror(l->ctx, l->doc, ymap_get(map, "pci"),
			      "duplicate PCI id %04x:%04x: GPU '%s' repeats an id of GPU '%s'",
			      cat->pci[i].key >> 16, cat->pci[i].key & 0xffff, b->key, a->key);
	}
	return 0;
}

static int load_drivers(struct loader *l)
{
	static const char *const top[] = { "toolkits", "branches", NULL };
	static const char *const toolkit_keys[] = { "cuda", "linux", "windows", NULL };
	static const char *const branch_keys[] = { "branch", "track", "linux", "windows", NULL };
	static const char *const tracks[] = { "production", "lts",  "new-feature",
					      "legacy",	    "grid", NULL };
	struct dsvm_catalog *cat = l->cat;
	const struct ynode *list;
	int r;

	/* The shape checks only ever fail with -EBADMSG. */
	list = doc_list(l, "toolkits", top);
	if (!list)
		return -EBADMSG;
	cat->toolkits = calloc(list->n ? list->n : 1, sizeof(*cat->toolkits));
	if (!cat->toolkits)
		return -ENOMEM;
	for (size_t i = 0; i < list->n; i++) {
		const struct ynode *map = list->items[i];
		struct toolkit *t = &cat->toolkits[i];

		if ((r = ymap_check_keys(l->ctx, l->doc, map, toolkit_keys)) < 0 ||
		    (r = yget_str(l->ctx, l->doc, map, "cuda", true, &t->cuda)) < 0 ||
		    (r = yget_str(l->ctx, l->doc, map, "linux", true, &t->linux_min)) < 0 ||
		    (r = yget_str(l->ctx, l->doc, map, "windows", false, &t->windows_min)) < 0)
			return r;
		if (!is_dotted_version(t->cuda, 3) || strchr(t->cuda, '.') == NULL ||
		    strlen(t->cuda) >= 16)
			return yerror(l->ctx, l->doc, ymap_get(map, "cuda"),
				      "'cuda' must be a toolkit version like '12.8.1', got '%s'",
				      t->cuda);
		if (!is_dotted_version(t->linux_min, 2))
			return yerror(l->ctx, l->doc, ymap_get(map, "linux"),
				      "'linux' must be a driver version like '570.124.06', got "
				      "'%s'",
				      t->linux_min);
		if (t->windows_min && !is_dotted_version(t->windows_min, 2))
			return yerror(l->ctx, l->doc, ymap_get(map, "windows"),
				      "'windows' must be a driver version like '572.61', got '%s'",
				      t->windows_min);
		for (size_t j = 0; j < i; j++)
			if (version_compare(cat->toolkits[j].cuda, t->cuda) == 0)
				return yerror(l->ctx, l->doc, ymap_get(map, "cuda"),
					      "duplicate toolkit '%s'", t->cuda);
		cat->n_toolkits = i + 1;
	}

	list = ymap_get(l->doc->root, "branches");
	if (!list)
		return yerror(l->ctx, l->doc, l->doc->root, "missing required key 'branches'");
	r = yexpect(l->ctx, l->doc, list, YNODE_SEQUENCE, "branches");
	if (r < 0)
		return r;
	cat->branches = calloc(list->n ? list->n : 1, sizeof(*cat->branches));
	if (!cat->branches)
		return -ENOMEM;
	for (size_t i = 0; i < list->n; i++) {
		const struct ynode *map = list->items[i];
		struct dsvm_branch_info *b = &cat->branches[i];
		size_t k;

		r = yexpect(l->ctx, l->doc, map, YNODE_MAPPING, "a branch");
		if (r < 0)
			return r;
		if ((r = ymap_check_keys(l->ctx, l->doc, map, branch_keys)) < 0 ||
		    (r = get_branch(l, map, "branch", &b->branch)) < 0 ||
		    (r = yget_str(l->ctx, l->doc, map, "track", true, &b->track)) < 0 ||
		    (r = yget_str(l->ctx, l->doc, map, "linux", true, &b->linux_version)) < 0 ||
		    (r = yget_str(l->ctx, l->doc, map, "windows", false, &b->windows_version)) < 0)
			return r;
		if (!b->branch)
			return yerror(l->ctx, l->doc, map, "missing required key 'branch'");
		for (k = 0; tracks[k]; k++)
			if (streq(tracks[k], b->track))
				break;
		if (!tracks[k])
			return yerror(l->ctx, l->doc, ymap_get(map, "track"),
				      "unknown track '%s'; use production, lts, new-feature, "
				      "legacy or grid",
				      b->track);
		if (!is_dotted_version(b->linux_version, 2) ||
		    strncmp(b->linux_version, b->branch, strlen(b->branch)) != 0 ||
		    b->linux_version[strlen(b->branch)] != '.')
			return yerror(l->ctx, l->doc, ymap_get(map, "linux"),
				      "'linux' must be a release of branch %s like '%s.95.05', got "
				      "'%s'",
				      b->branch, b->branch, b->linux_version);
		if (b->windows_version && !is_dotted_version(b->windows_version, 2))
			return yerror(l->ctx, l->doc, ymap_get(map, "windows"),
				      "'windows' must be a driver version like '581.42', got '%s'",
				      b->windows_version);
		for (size_t j = 0; j < i; j++)
			if (streq(cat->branches[j].branch, b->branch) &&
			    streq(cat->branches[j].track, b->track))
				return yerror(l->ctx, l->doc, ymap_get(map, "branch"),
					      "duplicate branch %s on track %s", b->branch,
					      b->track);
		cat->n_branches = i + 1;
	}
	return 0;
}

/* "1", "2", "1/6": a GPU count, whole or a fraction of one GPU. */
static int parse_gpu_count(const char *s, unsigned *ret_num, unsigned *ret_den)
{
	unsigned long num, den = 1;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	num = strtoul(s, &end, 10);
	if (*end == '/') {
		if (!isdigit((unsigned char)end[1]))
			return -EINVAL;
		den = strtoul(end + 1, &end, 10);
	}
	if (*end || num == 0 || den == 0 || num > 64 || den > 64)
		return -EINVAL;
	*ret_num = (unsigned)num;
	*ret_den = (unsigned)den;
	return 0;
}

static bool is_size_name(const char *s)
{
	if (strncmp(s, "Standard_", 9) != 0 || !s[9] || strlen(s) >= 64)
		return false;
	for (s += 9; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

/* Skip an optional "Standard_" (any case) so lookups compare the distinctive part. */
static const char *size_short(const char *s)
{
	return strncasecmp(s, "Standard_", 9) == 0 ? s + 9 : s;
}

static int add_size_key(struct loader *l, const struct ynode *node, const char *name, size_t size)
{
	struct dsvm_catalog *cat = l->cat;

	if (!is_size_name(name))
		return yerror(l->ctx, l->doc, node,
			      "bad size name '%s'; Azure size names look like "
			      "'Standard_NC24ads_A100_v4'",
			      name);
	for (size_t i = 0; i < cat->n_size_keys; i++)
		if (strcasecmp(size_short(cat->size_keys[i].name), size_short(name)) == 0)
			return yerror(l->ctx, l->doc, node,
				      "duplicate size name '%s' (also '%s'); each size is listed "
				      "once",
				      name, cat->size_keys[i].name);
	cat->size_keys[cat->n_size_keys++] = (struct size_key){ .name = name, .size = size };
	return 0;
}

static int find_gpu_key(const struct dsvm_catalog *cat, const char *key,
			const struct dsvm_gpu_info **ret)
{
	for (size_t i = 0; i < cat->n_gpus; i++)
		if (streq(cat->gpus[i].key, key)) {
			*ret = &cat->gpus[i];
			return 0;
		}
	return -ENOENT;
}

/* The family's pinned branch must exist on the track its driver kind installs from. */
static int check_family_branch(struct loader *l, const struct ynode *node,
			       enum dsvm_driver_kind kind, const char *branch)
{
	bool grid = kind == DSVM_DRIVER_NVIDIA_GRID;

	if (dsvm_driver_kind_vendor(kind) != DSVM_VENDOR_NVIDIA)
		return yerror(l->ctx, l->doc, node, "'branch' is for NVIDIA driver kinds only");
	for (size_t i = 0; i < l->cat->n_branches; i++) {
		const struct dsvm_branch_info *b = &l->cat->branches[i];

		if (streq(b->branch, branch) && streq(b->track, "grid") == grid)
			return 0;
	}
	return yerror(l->ctx, l->doc, node,
		      "branch %s is not a %s branch in cuda-drivers.yaml; add it there first",
		      branch, grid ? "grid" : "datacenter");
}

static int load_family(struct loader *l, const struct ynode *map)
{
	static const char *const keys[] = { "family",	  "series",   "gpu",	 "driver", "branch",
					    "infiniband", "nvswitch", "retired", "sizes",  NULL };
	static const char *const size_keys[] = { "name",     "gpus",	"pci_gpus", "infiniband",
						 "nvswitch", "aliases", NULL };
	struct dsvm_catalog *cat = l->cat;
	struct dsvm_size_info proto = { 0 };
	const struct ynode *sizes;
	const char *gpu_key = NULL;
	bool ib = false, nvswitch = false;
	int r;

	if ((r = ymap_check_keys(l->ctx, l->doc, map, keys)) < 0 ||
	    (r = yget_str(l->ctx, l->doc, map, "family", true, &proto.family)) < 0 ||
	    (r = yget_str(l->ctx, l->doc, map, "series", true, &proto.series)) < 0 ||
	    (r = yget_str(l->ctx, l->doc, map, "gpu", true, &gpu_key)) < 0 ||
	    (r = get_kind(l, map, "driver", &proto.driver_kind)) < 0 ||
	    (r = get_branch(l, map, "branch", &proto.branch)) < 0 ||
	    (r = yget_bool(l->ctx, l->doc, map, "infiniband", &ib)) < 0 ||
	    (r = yget_bool(l->ctx, l->doc, map, "nvswitch", &nvswitch)) < 0 ||
	    (r = yget_bool(l->ctx, l->doc, map, "retired", &proto.retired)) < 0)
		return r;
	if (find_gpu_key(cat, gpu_key, &proto.gpu) < 0)
		return yerror(l->ctx, l->doc, ymap_get(map, "gpu"),
			      "unknown GPU '%s'; it must be a key in gpus.yaml", gpu_key);
	if (proto.gpu->switch_only)
		return yerror(l->ctx, l->doc, ymap_get(map, "gpu"),
			      "'%s' is an NVSwitch, not a GPU a size can carry", gpu_key);
	if (dsvm_driver_kind_vendor(proto.driver_kind) != proto.gpu->vendor)
		return yerror(l->ctx, l->doc, ymap_get(map, "driver"),
			      "driver kind '%s' does not drive GPU '%s' (vendor %s)",
			      dsvm_driver_kind_to_string(proto.driver_kind), gpu_key,
			      dsvm_gpu_vendor_to_string(proto.gpu->vendor));
	if (proto.branch) {
		r = check_family_branch(l, ymap_get(map, "branch"), proto.driver_kind,
					proto.branch);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < cat->n_sizes; i++)
		if (streq(cat->sizes[i].family, proto.family))
			return yerror(l->ctx, l->doc, ymap_get(map, "family"),
				      "duplicate family '%s'", proto.family);

	sizes = ymap_get(map, "sizes");
	if (!sizes)
		return yerror(l->ctx, l->doc, map, "missing required key 'sizes'");
	r = yexpect(l->ctx, l->doc, sizes, YNODE_SEQUENCE, "sizes");
	if (r < 0)
		return r;
	if (sizes->n == 0)
		return yerror(l->ctx, l->doc, sizes, "family '%s' lists no size", proto.family);

	for (size_t i = 0; i < sizes->n; i++) {
		const struct ynode *s = sizes->items[i];
		struct dsvm_size_info *info = &cat->sizes[cat->n_sizes];
		const char **aliases = NULL;
		const char *count = NULL;
		unsigned long long pci_gpus = 0;
		size_t n_aliases = 0;

		*info = proto;
		info->infiniband = ib;
		info->nvswitch = nvswitch;
		if ((r = yexpect(l->ctx, l->doc, s, YNODE_MAPPING, "a size")) < 0 ||
		    (r = ymap_check_keys(l->ctx, l->doc, s, size_keys)) < 0 ||
		    (r = yget_str(l->ctx, l->doc, s, "name", true, &info->name)) < 0 ||
		    (r = yget_str(l->ctx, l->doc, s, "gpus", true, &count)) < 0 ||
		    (r = yget_uint(l->ctx, l->doc, s, "pci_gpus", false, 64, &pci_gpus)) < 0 ||
		    (r = yget_bool(l->ctx, l->doc, s, "infiniband", &info->infiniband)) < 0 ||
		    (r = yget_bool(l->ctx, l->doc, s, "nvswitch", &info->nvswitch)) < 0)
			return r;
		if (parse_gpu_count(count, &info->gpus_num, &info->gpus_den) < 0)
			return yerror(l->ctx, l->doc, ymap_get(s, "gpus"),
				      "bad GPU count '%s'; write a whole number ('8') or a "
				      "fraction of one GPU ('1/6')",
				      count);
		/* A partial GPU is one virtual function; whole GPUs are one function each. */
		info->pci_gpus = pci_gpus ? (unsigned)pci_gpus
					  : (info->gpus_num + info->gpus_den - 1) / info->gpus_den;
		r = add_size_key(l, ymap_get(s, "name"), info->name, cat->n_sizes);
		if (r < 0)
			return r;
		r = yget_str_list(l->ctx, l->doc, s, "aliases", &aliases, &n_aliases);
		if (r < 0)
			return r;
		for (size_t j = 0; j < n_aliases && r >= 0; j++)
			r = add_size_key(l, ymap_get(s, "aliases"), aliases[j], cat->n_sizes);
		free(aliases);
		if (r < 0)
			return r;
		cat->n_sizes++;
	}
	return 0;
}

static int load_sizes(struct loader *l)
{
	static const char *const top[] = { "families", NULL };
	struct dsvm_catalog *cat = l->cat;
	const struct ynode *list;
	size_t total = 0, keys = 0;
	int r;

	/* The shape checks only ever fail with -EBADMSG. */
	list = doc_list(l, "families", top);
	if (!list)
		return -EBADMSG;
	for (size_t i = 0; i < list->n; i++) {
		const struct ynode *sizes = ymap_get(list->items[i], "sizes");

		if (!sizes || sizes->kind != YNODE_SEQUENCE)
			continue;
		total += sizes->n;
		for (size_t j = 0; j < sizes->n; j++) {
			const struct ynode *a = ymap_get(sizes->items[j], "aliases");

			keys += 1 + (a ? (a->kind == YNODE_SEQUENCE ? a->n : 1) : 0);
		}
	}
	cat->sizes = calloc(total ? total : 1, sizeof(*cat->sizes));
	cat->size_keys = calloc(keys ? keys : 1, sizeof(*cat->size_keys));
	if (!cat->sizes || !cat->size_keys)
		return -ENOMEM;
	for (size_t i = 0; i < list->n; i++) {
		r = load_family(l, list->items[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

uint64_t pci_index_hash(const void *buf, size_t size)
{
	const unsigned char *p = buf;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t off = 0; off < size; off += 8) {
		uint64_t w = 0;

		memcpy(&w, p + off, size - off < 8 ? size - off : 8);
		h = (h ^ le64toh(w)) * 0x100000001b3ull;
	}
	h ^= (uint64_t)size;
	return h * 0x100000001b3ull;
}

static int pci_index_entry_cmp(const void *a, const void *b)
{
	const struct pci_index_entry *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

/* A string of a parsed table into the owned pool: its offset in *ret. */
static int pci_pool_add(struct dsvm_catalog *cat, const char *s, uint32_t *ret)
{
	size_t len = strlen(s) + 1;

	if (cat->pci_pool_size + len > UINT32_MAX)
		return -EFBIG;
	if (cat->pci_pool_size + len > cat->pci_pool_cap) {
		size_t cap = cat->pci_pool_cap * 2 + len + 4096;
		char *p = realloc(cat->pci_pool_owned, cap);

		if (!p)
			return -ENOMEM;
		cat->pci_pool_owned = p;
		cat->pci_pool_cap = cap;
	}
	memcpy(cat->pci_pool_owned + cat->pci_pool_size, s, len);
	*ret = (uint32_t)cat->pci_pool_size;
	cat->pci_pool_size += len;
	return 0;
}

/* One row of pci-devices.yaml into rows[*n], its group found or added. */
static int load_pci_row(struct loader *l, const struct ynode *map, uint16_t vendor_id, size_t cap)
{
	static const char *const keys[] = { "id",     "name",	"architecture",
					    "family", "switch", "open_module",
					    NULL };
	struct dsvm_catalog *cat = l->cat;
	const char *id = NULL, *name = NULL, *arch = NULL, *family = NULL;
	bool open_module = false, is_switch = false;
	uint16_t device;
	uint8_t flags = 0;
	uint32_t name_off, arch_off;
	size_t g;
	int r;

	if ((r = yexpect(l->ctx, l->doc, map, YNODE_MAPPING, "a device row")) < 0 ||
	    (r = ymap_check_keys(l->ctx, l->doc, map, keys)) < 0 ||
	    (r = yget_str(l->ctx, l->doc, map, "id", true, &id)) < 0 ||
	    (r = yget_str(l->ctx, l->doc, map, "name", true, &name)) < 0 ||
	    (r = yget_str(l->ctx, l->doc, map, "architecture", true, &arch)) < 0 ||
	    (r = yget_str(l->ctx, l->doc, map, "family", false, &family)) < 0 ||
	    (r = yget_bool(l->ctx, l->doc, map, "open_module", &open_module)) < 0 ||
	    (r = yget_bool(l->ctx, l->doc, map, "switch", &is_switch)) < 0)
		return r;
	if (parse_pci_id(id, &device) < 0)
		return yerror(l->ctx, l->doc, ymap_get(map, "id"),
			      "bad PCI device id '%s'; give four hex digits, quoted", id);
	if (!*arch)
		return yerror(l->ctx, l->doc, ymap_get(map, "architecture"),
			      "'architecture' is empty");
	flags = (open_module ? PCI_GROUP_OPEN_MODULE : 0) | (is_switch ? PCI_GROUP_SWITCH : 0);
	if (vendor_id == DSVM_PCI_VENDOR_AMD && family && streq(family, "instinct"))
		flags |= PCI_GROUP_INSTINCT;
	else if (vendor_id == DSVM_PCI_VENDOR_AMD && family && streq(family, "radeon-pro"))
		flags |= PCI_GROUP_RADEON_PRO;
	else if (vendor_id == DSVM_PCI_VENDOR_AMD || family)
		return yerror(l->ctx, l->doc, family ? ymap_get(map, "family") : map,
			      "an AMD row needs 'family: instinct' or 'family: radeon-pro', and "
			      "only "
			      "AMD rows take one");
	for (g = 0; g < cat->n_pci_groups; g++)
		if (cat->pci_groups_owned[g].vendor_id == vendor_id &&
		    cat->pci_groups_owned[g].flags == flags &&
		    streq(cat->pci_pool_owned + cat->pci_groups_owned[g].architecture, arch))
			break;
	if (g == cat->n_pci_groups) {
		if (g >= cap || g > UINT16_MAX)
			return yerror(l->ctx, l->doc, map, "too many architecture groups");
		if ((r = pci_pool_add(cat, arch, &arch_off)) < 0)
			return r;
		cat->pci_groups_owned[cat->n_pci_groups++] = (struct pci_index_group){
			.vendor_id = vendor_id, .flags = flags, .architecture = arch_off
		};
	}
	if ((r = pci_pool_add(cat, name, &name_off)) < 0)
		return r;
	cat->pci_rows_owned[cat->n_pci_rows++] = (struct pci_index_entry){
		.key = (uint32_t)vendor_id << 16 | device, .group = (uint16_t)g, .name = name_off
	};
	return 0;
}

/* The slow path: pci-devices.yaml parsed, checked as tools/gen-catalog-index.py checks it. */
static int load_pci_rows(struct loader *l)
{
	static const char *const top[] = { "nvidia", "amd", NULL };
	static const uint16_t vendor_ids[] = { DSVM_PCI_VENDOR_NVIDIA, DSVM_PCI_VENDOR_AMD };
	struct dsvm_catalog *cat = l->cat;
	const struct ynode *root = l->doc->root;
	size_t total = 0;
	int r;

	if (yexpect(l->ctx, l->doc, root, YNODE_MAPPING, "the device table") < 0 ||
	    ymap_check_keys(l->ctx, l->doc, root, top) < 0)
		return -EBADMSG;
	for (size_t v = 0; v < 2; v++) {
		const struct ynode *list = ymap_get(root, top[v]);

		if (list && yexpect(l->ctx, l->doc, list, YNODE_SEQUENCE, top[v]) < 0)
			return -EBADMSG;
		total += list ? list->n : 0;
	}
	cat->pci_rows_owned = calloc(total ? total : 1, sizeof(*cat->pci_rows_owned));
	cat->pci_groups_owned = calloc(total ? total : 1, sizeof(*cat->pci_groups_owned));
	if (!cat->pci_rows_owned || !cat->pci_groups_owned)
		return -ENOMEM;
	for (size_t v = 0; v < 2; v++) {
		const struct ynode *list = ymap_get(root, top[v]);

		for (size_t i = 0; list && i < list->n; i++) {
			r = load_pci_row(l, list->items[i], vendor_ids[v], total);
			if (r < 0)
				return r;
		}
	}
	qsort(cat->pci_rows_owned, cat->n_pci_rows, sizeof(*cat->pci_rows_owned),
	      pci_index_entry_cmp);
	for (size_t i = 1; i < cat->n_pci_rows; i++)
		if (cat->pci_rows_owned[i].key == cat->pci_rows_owned[i - 1].key)
			return yerror(l->ctx, l->doc, root, "PCI id %04x:%04x is listed twice",
				      cat->pci_rows_owned[i].key >> 16,
				      cat->pci_rows_owned[i].key & 0xffff);
	cat->pci_rows = cat->pci_rows_owned;
	cat->pci_groups = cat->pci_groups_owned;
	cat->pci_pool = cat->pci_pool_owned;
	return 0;
}

/* The first gpus.yaml GPU of an architecture: it lends the architecture its kind and limits. */
static const struct dsvm_gpu_info *arch_prototype(const struct dsvm_catalog *cat,
						  uint16_t vendor_id, const char *arch)
{
	for (size_t i = 0; i < cat->n_gpus; i++)
		if (cat->gpus[i].vendor_id == vendor_id && !cat->gpus[i].switch_only &&
		    streq(cat->gpus[i].architecture, arch))
			return &cat->gpus[i];
	return NULL;
}

/*
 * One record per group, standing for every table device gpus.yaml does not list. NVIDIA: the
 * kind and branch limits of the architecture's first gpus.yaml GPU (Kepler -> legacy 470,
 * Maxwell to Volta -> proprietary, Turing on -> open); no such GPU but on the open-modules list
 * -> nvidia-open; otherwise (Fermi and older, rows without a chip code) none. AMD: Instinct ->
 * amd-rocm, Radeon PRO -> amd-radeon-pro.
 */
static int make_arch_records(struct dsvm_catalog *cat)
{
	size_t n = cat->n_pci_groups;

	cat->arch_gpus = calloc(n ? n : 1, sizeof(*cat->arch_gpus));
	cat->arch_models = calloc(n ? n : 1, sizeof(*cat->arch_models));
	if (!cat->arch_gpus || !cat->arch_models)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct pci_index_group *grp = &cat->pci_groups[i];
		struct dsvm_gpu_info *rec = &cat->arch_gpus[i];
		bool nvidia = grp->vendor_id == DSVM_PCI_VENDOR_NVIDIA;
		const char *arch = cat->pci_pool + grp->architecture;
		const struct dsvm_gpu_info *proto;

		cat->arch_models[i] = strdup_printf("%s %s GPU", nvidia ? "NVIDIA" : "AMD", arch);
		if (!cat->arch_models[i])
			return -ENOMEM;
		rec->key = arch;
		rec->model = cat->arch_models[i];
		rec->architecture = arch;
		rec->vendor_id = grp->vendor_id;
		rec->vendor = nvidia ? DSVM_VENDOR_NVIDIA : DSVM_VENDOR_AMD;
		rec->generated = true;
		rec->driver_kind = DSVM_DRIVER_NONE;
		if (!nvidia) {
			if (grp->flags & PCI_GROUP_INSTINCT)
				rec->driver_kind = DSVM_DRIVER_AMD_ROCM;
			else if (grp->flags & PCI_GROUP_RADEON_PRO)
				rec->driver_kind = DSVM_DRIVER_AMD_RADEON_PRO;
			continue;
		}
		if (grp->flags & PCI_GROUP_SWITCH) {
			rec->switch_only = true;
			continue;
		}
		proto = arch_prototype(cat, grp->vendor_id, arch);
		if (proto) {
			rec->driver_kind = proto->driver_kind;
			rec->max_branch = proto->max_branch;
			rec->min_branch = proto->min_branch;
			rec->open_module = proto->open_module;
			rec->proprietary_module = proto->proprietary_module;
		} else if (grp->flags & PCI_GROUP_OPEN_MODULE) {
			rec->driver_kind = DSVM_DRIVER_NVIDIA_OPEN;
			rec->open_module = true;
		}
	}
	return 0;
}

static int load_pci_devices(struct dsvm_ctx *ctx, struct dsvm_catalog *cat, const char *dir)
{
	const struct pci_index *ix = &dsvm_pci_index_builtin;
	_cleanup_free_ char *path = strdup_printf("%s/%s", dir, doc_names[DOC_PCI]);
	struct loader l = { .ctx = ctx, .cat = cat };
	int r;

	if (!path)
		return -ENOMEM;
	r = read_file_capped(path, PCI_TABLE_MAX_BYTES, &cat->pci_text, &cat->pci_size);
	if (r == -ENOENT) {
		dsvm_debug(ctx, "'%s' does not exist: only gpus.yaml places devices", path);
		return 0;
	}
	if (r < 0)
		return dsvm_set_error(ctx, r, "cannot read '%s': %s", path, strerror(-r));
	/*
	 * The index is a cache of this very file: used only for the bytes it was made from, so
	 * an edited or regenerated table is never shadowed by a stale build.
	 */
	if (cat->pci_size == ix->source_size &&
	    pci_index_hash(cat->pci_text, cat->pci_size) == ix->source_hash) {
		cat->pci_from_index = true;
		cat->pci_rows = dsvm_pci_index_entries;
		cat->n_pci_rows = ix->n_entries;
		cat->pci_groups = dsvm_pci_index_groups;
		cat->n_pci_groups = ix->n_groups;
		cat->pci_pool = dsvm_catalog_pool;
	} else {
		dsvm_debug(ctx,
			   "'%s' is not the file this build's device index was made from: "
			   "parsing it",
			   path);
		r = ydoc_parse(ctx, path, cat->pci_text, cat->pci_size, &cat->docs[DOC_PCI]);
		if (r < 0)
			return r;
		l.doc = cat->docs[DOC_PCI];
		r = load_pci_rows(&l);
		if (r < 0)
			return r;
	}
	return make_arch_records(cat);
}

int ydoc_snapshot_tree(struct ydoc *doc, const struct ydoc_snapshot *s)
{
	struct ynode *nodes = ydoc_alloc(doc, (s->n_nodes ? s->n_nodes : 1) * sizeof(*nodes));
	struct ynode **refs = ydoc_alloc(doc, (s->n_refs ? s->n_refs : 1) * sizeof(*refs));

	if (!nodes || !refs || !s->n_nodes)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->n_refs; i++) {
		uint32_t ref = dsvm_catalog_snap_refs[s->first_ref + i];

		assert(ref < s->n_nodes);
		refs[i] = &nodes[ref];
	}
	for (uint32_t i = 0; i < s->n_nodes; i++) {
		const struct ysnap_node *sn = &dsvm_catalog_snap_nodes[s->first_node + i];
		struct ynode *node = &nodes[i];

		node->kind = (enum ynode_kind)sn->kind;
		node->line = sn->line;
		node->column = sn->column;
		node->plain = sn->plain;
		if (node->kind == YNODE_SCALAR) {
			node->value = (char *)(dsvm_catalog_pool + sn->value);
			continue;
		}
		assert(sn->value + (node->kind == YNODE_MAPPING ? 2 : 1) * (size_t)sn->n <=
		       s->n_refs);
		node->n = sn->n;
		node->items = &refs[sn->value];
		if (node->kind == YNODE_MAPPING)
			node->keys = &refs[sn->value + sn->n];
	}
	doc->root = &nodes[0];
	return 0;
}

/*
 * One hand-written catalog file: the node tree compiled into this build when the file holds
 * exactly the bytes it was made from (no libyaml at boot), else parsed. Either way the loaders
 * read the same tree and make every check; the bytes are kept for the lock's SHA-256.
 */
static int load_doc(struct dsvm_ctx *ctx, const char *path, const char *name, struct ydoc **ret)
{
	_cleanup_free_ char *buf = NULL;
	struct ydoc *doc = NULL;
	size_t size = 0;
	uint64_t hash;
	int r;

	r = ydoc_read(ctx, path, &buf, &size);
	if (r < 0)
		return r;
	hash = pci_index_hash(buf, size);
	for (size_t i = 0; i < dsvm_catalog_n_snapshots; i++) {
		const struct ydoc_snapshot *s = &dsvm_catalog_snapshots[i];

		if (!streq(dsvm_catalog_pool + s->name, name) || s->source_size != size ||
		    s->source_hash != hash)
			continue;
		doc = calloc(1, sizeof(*doc));
		if (!doc || !(doc->path = strdup(path)) || ydoc_snapshot_tree(doc, s) < 0) {
			ydoc_free(doc);
			return -ENOMEM;
		}
		break;
	}
	if (!doc) {
		dsvm_debug(ctx, "'%s' is not the file this build's index was made from: parsing it",
			   path);
		r = ydoc_parse(ctx, path, buf, size, &doc);
		if (r < 0)
			return r;
	}
	doc->text = TAKE_PTR(buf);
	doc->size = size;
	*ret = doc;
	return 0;
}

int dsvm_catalog_get_input(const struct dsvm_catalog *cat, size_t i, const char **ret_name,
			   char ret_sha256[65])
{
	int r;

	if (!cat || i >= _DOC_MAX)
		return -ERANGE;
	if (i == DOC_PCI) {
		/* Read but not necessarily parsed: the index may have stood in for the YAML. */
		if (!cat->pci_text)
			return -ERANGE;
		r = sha256_buffer_hex(cat->pci_text, cat->pci_size, ret_sha256);
	} else if (!cat->docs[i]) {
		return -ERANGE;
	} else {
		r = ydoc_sha256(cat->docs[i], ret_sha256);
	}
	if (r < 0)
		return r;
	*ret_name = doc_names[i];
	return 0;
}

int dsvm_catalog_load(struct dsvm_ctx *ctx, const char *dir, struct dsvm_catalog **ret)
{
	static int (*const loaders[DOC_PCI])(struct loader *) = {
		[DOC_GPUS] = load_gpus,
		[DOC_DRIVERS] = load_drivers,
		[DOC_SIZES] = load_sizes,
	};
	struct dsvm_catalog *cat;
	int r = 0;

	if (!ctx || !dir || !ret)
		return -EINVAL;
	cat = calloc(1, sizeof(*cat));
	if (!cat)
		return -ENOMEM;
	/* Order matters: sizes name GPUs and branches, so those load first. */
	for (size_t i = 0; i < DOC_PCI && r >= 0; i++) {
		_cleanup_free_ char *path = strdup_printf("%s/%s", dir, doc_names[i]);
		struct loader l = { .ctx = ctx, .cat = cat };

		if (!path) {
			r = -ENOMEM;
			break;
		}
		r = load_doc(ctx, path, doc_names[i], &cat->docs[i]);
		if (r < 0)
			break;
		l.doc = cat->docs[i];
		r = loaders[i](&l);
		if (r == -ENOMEM)
			dsvm_set_error(ctx, r, "out of memory loading '%s'", path);
	}
	/* The device tables last: their records borrow kinds from gpus.yaml. */
	if (r >= 0)
		r = load_pci_devices(ctx, cat, dir);
	if (r < 0) {
		dsvm_catalog_free(cat);
		return r;
	}
	*ret = cat;
	return 0;
}

int dsvm_catalog_find_gpu(const struct dsvm_catalog *cat, uint16_t vendor_id, uint16_t device_id,
			  const struct dsvm_gpu_info **ret)
{
	struct pci_entry key = { .key = (uint32_t)vendor_id << 16 | device_id };
	const struct pci_entry *e;

	if (!cat || !ret)
		return -EINVAL;
	e = bsearch(&key, cat->pci, cat->n_pci, sizeof(*cat->pci), pci_entry_cmp);
	if (!e)
		return -ENOENT;
	*ret = &cat->gpus[e->gpu];
	return 0;
}

int dsvm_catalog_classify_gpu(const struct dsvm_catalog *cat, uint16_t vendor_id,
			      uint16_t device_id, struct dsvm_gpu_class *ret)
{
	struct pci_index_entry key = { .key = (uint32_t)vendor_id << 16 | device_id };
	const struct pci_index_entry *e;
	const struct dsvm_gpu_info *info;

	if (!cat || !ret)
		return -EINVAL;
	e = cat->n_pci_rows ? bsearch(&key, cat->pci_rows, cat->n_pci_rows, sizeof(*cat->pci_rows),
				      pci_index_entry_cmp)
			    : NULL;
	if (dsvm_catalog_find_gpu(cat, vendor_id, device_id, &info) == 0) {
		*ret = (struct dsvm_gpu_class){ .info = info,
						.name = e ? cat->pci_pool + e->name : NULL,
						.catalogued = true };
		return 0;
	}
	if (!e)
		return -ENOENT;
	*ret = (struct dsvm_gpu_class){ .info = &cat->arch_gpus[e->group],
					.name = cat->pci_pool + e->name };
	return 0;
}

size_t dsvm_catalog_n_table_devices(const struct dsvm_catalog *cat, bool *ret_from_index)
{
	if (!cat)
		return 0;
	if (ret_from_index)
		*ret_from_index = cat->pci_from_index;
	return cat->n_pci_rows;
}

int dsvm_catalog_get_gpu(const struct dsvm_catalog *cat, const char *key,
			 const struct dsvm_gpu_info **ret)
{
	if (!cat || !key || !ret)
		return -EINVAL;
	return find_gpu_key(cat, key, ret);
}

int dsvm_catalog_find_size(const struct dsvm_catalog *cat, const char *name,
			   const struct dsvm_size_info **ret)
{
	const char *want;

	if (!cat || !name || !ret)
		return -EINVAL;
	want = size_short(name);
	if (!*want)
		return -ENOENT;
	/* Some 80 names: a scan costs less than keeping a second, normalised copy sorted. */
	for (size_t i = 0; i < cat->n_size_keys; i++)
		if (strcasecmp(size_short(cat->size_keys[i].name), want) == 0) {
			*ret = &cat->sizes[cat->size_keys[i].size];
			return 0;
		}
	return -ENOENT;
}

size_t dsvm_catalog_n_gpus(const struct dsvm_catalog *cat)
{
	return cat ? cat->n_gpus : 0;
}

const struct dsvm_gpu_info *dsvm_catalog_gpu_at(const struct dsvm_catalog *cat, size_t i)
{
	return cat && i < cat->n_gpus ? &cat->gpus[i] : NULL;
}

size_t dsvm_catalog_n_sizes(const struct dsvm_catalog *cat)
{
	return cat ? cat->n_sizes : 0;
}

const struct dsvm_size_info *dsvm_catalog_size_at(const struct dsvm_catalog *cat, size_t i)
{
	return cat && i < cat->n_sizes ? &cat->sizes[i] : NULL;
}

size_t dsvm_catalog_n_branches(const struct dsvm_catalog *cat)
{
	return cat ? cat->n_branches : 0;
}

const struct dsvm_branch_info *dsvm_catalog_branch_at(const struct dsvm_catalog *cat, size_t i)
{
	return cat && i < cat->n_branches ? &cat->branches[i] : NULL;
}

static bool branch_fits(const struct dsvm_gpu_info *gpu, const char *branch)
{
	if (!gpu)
		return true;
	if (gpu->max_branch && version_compare(branch, gpu->max_branch) > 0)
		return false;
	if (gpu->min_branch && version_compare(branch, gpu->min_branch) < 0)
		return false;
	return true;
}

/* The newest branch on one of the tracks (NULL-terminated) that gpu accepts. */
static int newest_on_tracks(const struct dsvm_catalog *cat, const struct dsvm_gpu_info *gpu,
			    const char *const *tracks, char ret_branch[16])
{
	const char *best = NULL;

	for (size_t i = 0; i < cat->n_branches; i++) {
		const struct dsvm_branch_info *b = &cat->branches[i];
		bool on_track = false;

		for (size_t t = 0; tracks[t]; t++)
			on_track = on_track || streq(tracks[t], b->track);
		if (!on_track || !branch_fits(gpu, b->branch))
			continue;
		if (!best || version_compare(b->branch, best) > 0)
			best = b->branch;
	}
	if (!best)
		return -ENOENT;
	snprintf(ret_branch, 16, "%s", best);
	return 0;
}

int dsvm_catalog_newest_branch(const struct dsvm_catalog *cat, const struct dsvm_gpu_info *gpu,
			       char ret_branch[16])
{
	static const char *const datacenter[] = { "production", "lts", "legacy", NULL };

	if (!cat || !gpu || !ret_branch)
		return -EINVAL;
	if (gpu->vendor != DSVM_VENDOR_NVIDIA || gpu->switch_only)
		return -ENOENT;
	return newest_on_tracks(cat, gpu, datacenter, ret_branch);
}

int dsvm_catalog_grid_branch(const struct dsvm_catalog *cat, const struct dsvm_gpu_info *gpu,
			     char ret_branch[16])
{
	static const char *const grid[] = { "grid", NULL };

	if (!cat || !ret_branch)
		return -EINVAL;
	if (gpu && gpu->vendor != DSVM_VENDOR_NVIDIA)
		return -ENOENT;
	return newest_on_tracks(cat, gpu, grid, ret_branch);
}

static int parse_platform(const char *platform, bool *ret_windows)
{
	if (platform && streq(platform, "linux"))
		*ret_windows = false;
	else if (platform && streq(platform, "windows"))
		*ret_windows = true;
	else
		return -EINVAL;
	return 0;
}

/*
 * The driver version a branch stands for: its newest known release on the platform, preferring
 * the datacenter entry over the grid one of the same number.
 */
static const char *branch_release(const struct dsvm_catalog *cat, const char *branch, bool windows)
{
	const char *found = NULL;

	for (size_t i = 0; i < cat->n_branches; i++) {
		const struct dsvm_branch_info *b = &cat->branches[i];
		const char *v = windows ? b->windows_version : b->linux_version;

		if (!streq(b->branch, branch) || !v)
			continue;
		if (!streq(b->track, "grid"))
			return v;
		if (!found)
			found = v;
	}
	return found;
}

int dsvm_catalog_cuda_max(const struct dsvm_catalog *cat, const char *platform, const char *driver,
			  char ret_cuda[16])
{
	char synthetic[32];
	const char *best = NULL;
	bool windows;

	if (!cat || !driver || !ret_cuda || parse_platform(platform, &windows) < 0)
		return -EINVAL;
	if (is_digits(driver, 4)) {
		const char *v = branch_release(cat, driver, windows);

		/* An unknown branch stands for its highest possible release. */
		if (!v) {
			snprintf(synthetic, sizeof(synthetic), "%s.999999.999999", driver);
			v = synthetic;
		}
		driver = v;
	} else if (!is_dotted_version(driver, 2)) {
		return -EINVAL;
	}
	for (size_t i = 0; i < cat->n_toolkits; i++) {
		const struct toolkit *t = &cat->toolkits[i];
		const char *min = windows ? t->windows_min : t->linux_min;

		if (!min || version_compare(driver, min) < 0)
			continue;
		if (!best || version_compare(t->cuda, best) > 0)
			best = t->cuda;
	}
	if (!best)
		return -ENOENT;
	snprintf(ret_cuda, 16, "%s", best);
	return 0;
}

int dsvm_catalog_cuda_min_driver(const struct dsvm_catalog *cat, const char *platform,
				 const char *cuda, const char **ret_driver)
{
	char full[32];
	bool windows;
	const char *dot;

	if (!cat || !cuda || !ret_driver || parse_platform(platform, &windows) < 0 ||
	    !is_dotted_version(cuda, 2) || strlen(cuda) > 16)
		return -EINVAL;
	/* "12.4" means the GA release, 12.4.0. */
	dot = strchr(cuda, '.');
	snprintf(full, sizeof(full), "%s%s", cuda, strchr(dot + 1, '.') ? "" : ".0");
	for (size_t i = 0; i < cat->n_toolkits; i++) {
		const struct toolkit *t = &cat->toolkits[i];
		const char *min = windows ? t->windows_min : t->linux_min;

		if (version_compare(t->cuda, full) != 0)
			continue;
		if (!min)
			return -ENOENT;
		*ret_driver = min;
		return 0;
	}
	return -ENOENT;
}
