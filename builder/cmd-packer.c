/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder.h"
#include "dsvm/catalog.h"
#include "dsvm/cli.h"
#include "dsvm/lock.h"
#include "dsvm/manifest.h"
#include "dsvm/packer.h"
#include "dsvm/pwsh.h"
#include "internal.h"
#include "target-args.h"

#define MAX_TARGETS 32

static void help(void)
{
	printf("Usage: dsvm-build packer EDITION [TARGET...] --out DIR [OPTIONS]\n\n"
	       "Write Packer templates (HCL2, the azure-arm builder) that build EDITION on Azure,\n"
	       "one source per TARGET, so one `packer build DIR` starts a build VM per target in\n"
	       "parallel. DIR gets variables.pkr.hcl, sources.pkr.hcl, build.pkr.hcl (and\n"
	       "packer_config.pkr.hcl for Packer >= 1.7), the scripts the build runs, and\n"
	       "DIR/payload/, what the templates upload: the dsvm binaries and unit (bin/), the\n"
	       "edition's manifests and catalog (manifests/), the lock of each target\n"
	       "(locks/<source>.lock.json: the build VM must resolve the same one) and a cache\n"
	       "seed (cache/). Paths in the templates are relative to ${path.root}: run packer\n"
	       "from anywhere.\n\n"
	       "Ubuntu editions: the build VM runs scripts/dsvm-ubuntu.sh, one step per shell\n"
	       "provisioner (cloud-init wait, install the agent, `dsvm-build image --root /` for\n"
	       "the target, enable dsvm-firstboot.service, `dsvm-firstboot reset`), then\n"
	       "`waagent -deprovision+user`. Windows: WinRM, one powershell provisioner per lock\n"
	       "component in install order (a step that may reboot accepts 3010 and is followed\n"
	       "by windows-restart), the first-boot task, then sysprep.\n\n"
	       "TARGET (default: universal):\n"
	       "  universal          a CPU first boot with every driver kind staged: "
	       "dsvm-firstboot\n"
	       "                     picks the kind on each VM made from the image\n"
	       "  Standard_SIZE      the kind, family and fabric the catalog gives that Azure "
	       "size\n"
	       "                     (built on a CPU VM: nothing needs the GPU at build time)\n"
	       "  KIND               a driver kind: none, nvidia-open, nvidia-proprietary,\n"
	       "                     nvidia-legacy-470, nvidia-grid, amd-rocm, amd-radeon-pro\n"
	       "  auto:Standard_SIZE `--gpu auto` on a build VM of that (GPU) size: the kind is\n"
	       "                     detected there, so no lock is reviewed in advance\n\n"
	       "Options:\n"
	       "  -o, --out DIR            where to write (created; files there are replaced)\n"
	       "      --packer-version V   the Packer that will run the templates (default 1.11):\n"
	       "                           1.6.x (Debian 12's packer) gets no packer {} block and\n"
	       "                           none of the newer azure-arm arguments; >= 1.7 gets\n"
	       "                           required_plugins and Trusted Launch on the gallery "
	       "path\n"
	       "      --bin-dir DIR        where dsvm-build and dsvm-firstboot to upload are\n"
	       "                           (default: beside this dsvm-build); build them for the\n"
	       "                           edition's OS\n"
	       "      --unit FILE          the dsvm-firstboot unit to install (default: the\n"
	       "                           source tree's firstboot/dsvm-firstboot.service)\n"
	       "      --cache-seed DIR     a dsvm artifact cache: the artifacts the locks name "
	       "are\n"
	       "                           copied into payload/cache (none by default)\n"
	       "      --catalog DIR        hardware catalog (default: ../hardware beside EDITION)\n"
	       "      --allow-unsealed     Windows: resolve signer-pinned artifacts the seal file\n"
	       "                           lacks (the generated steps refuse them before\n"
	       "                           downloading; seal them for a build that works)\n"
	       "  -v, --verbose            log each decision\n\n"
	       "Example:\n"
	       "  dsvm-build packer manifests/editions/ubuntu-22.04.yaml universal \\\n"
	       "      Standard_NC24ads_A100_v4 --out out/packer\n"
	       "  cd out/packer && packer init . && packer build -var subscription_id=... .\n\n"
	       "Variables (packer -var NAME=VALUE): subscription_id, tenant_id, client_id and\n"
	       "client_secret (empty: the managed identity), use_azure_cli_auth, location or\n"
	       "build_resource_group, image_resource_group, image_name, image_version,\n"
	       "gallery_name (empty: managed images; set: gallery image versions),\n"
	       "gallery_replication_regions, build_vm_size, os_disk_size_gb (default: what the\n"
	       "locks' payloads need, with room to spare), mirror (Ubuntu).\n\n"
	       "Exit: 0 written, 64 usage, 65 bad manifest or unsatisfiable target, 66 missing\n"
	       "input (edition, binaries, unit), 73 cannot create DIR, 74 I/O error, 1 other.\n");
}

struct packer_args {
	const char *edition;
	const char *out;
	const char *version;
	const char *bin_dir;
	const char *unit;
	const char *cache_seed;
	const char *catalog;
	const char *targets[MAX_TARGETS];
	size_t n_targets;
	bool allow_unsealed, verbose;
};

static int parse_args(int argc, char **argv, struct packer_args *a)
{
	enum {
		OPT_VERSION = 256,
		OPT_BIN_DIR,
		OPT_UNIT,
		OPT_SEED,
		OPT_CATALOG,
		OPT_UNSEALED,
	};
	static const struct option options[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "packer-version", required_argument, NULL, OPT_VERSION },
		{ "bin-dir", required_argument, NULL, OPT_BIN_DIR },
		{ "unit", required_argument, NULL, OPT_UNIT },
		{ "cache-seed", required_argument, NULL, OPT_SEED },
		{ "catalog", required_argument, NULL, OPT_CATALOG },
		{ "allow-unsealed", no_argument, NULL, OPT_UNSEALED },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c;

	while ((c = getopt_long(argc, argv, "o:vh", options, NULL)) >= 0) {
		switch (c) {
		case 'o':
			a->out = optarg;
			break;
		case OPT_VERSION:
			a->version = optarg;
			break;
		case OPT_BIN_DIR:
			a->bin_dir = optarg;
			break;
		case OPT_UNIT:
			a->unit = optarg;
			break;
		case OPT_SEED:
			a->cache_seed = optarg;
			break;
		case OPT_CATALOG:
			a->catalog = optarg;
			break;
		case OPT_UNSEALED:
			a->allow_unsealed = true;
			break;
		case 'v':
			a->verbose = true;
			break;
		case 'h':
			help();
			return 1;
		default:
			return -EINVAL;
		}
	}
	if (optind >= argc || !a->out) {
		fprintf(stderr, "dsvm-build packer: name an edition file and --out DIR; see "
				"--help\n");
		return -EINVAL;
	}
	a->edition = argv[optind++];
	if (argc - optind > MAX_TARGETS) {
		fprintf(stderr, "dsvm-build packer: at most %d targets in one template\n",
			MAX_TARGETS);
		return -EINVAL;
	}
	while (optind < argc)
		a->targets[a->n_targets++] = argv[optind++];
	if (a->n_targets == 0)
		a->targets[a->n_targets++] = "universal";
	return 0;
}

/* One target: its source, and the options resolve takes for it. */
struct target {
	struct dsvm_packer_source src;
	struct target_args ta;
	char name[80], args[160], desc[200], lock[120], size[80];
};

/* "Standard_NC24ads_A100_v4" -> "nc24ads-a100-v4". */
static void size_to_name(const char *prefix, const char *size, char *out, size_t n)
{
	size_t i = strlen(prefix), j = 0;

	snprintf(out, n, "%s", prefix);
	if (strncmp(size, "Standard_", 9) == 0)
		size += 9;
	for (; size[j] && i + 1 < n; j++, i++)
		out[i] = size[j] == '_'
				 ? '-'
				 : (char)(size[j] | (size[j] >= 'A' && size[j] <= 'Z' ? 0x20 : 0));
	out[i] = '\0';
}

static int parse_target(const char *arg, const char *catalog, struct target *t)
{
	memset(t, 0, sizeof(*t));
	t->ta.catalog = catalog;
	if (streq(arg, "universal")) {
		snprintf(t->name, sizeof(t->name), "universal");
		snprintf(t->desc, sizeof(t->desc),
			 "universal: a CPU first boot with every driver kind staged; "
			 "dsvm-firstboot picks the kind on each VM");
	} else if (strncmp(arg, "Standard_", 9) == 0) {
		t->ta.vm_size = arg;
		size_to_name("", arg, t->name, sizeof(t->name));
		snprintf(t->args, sizeof(t->args), "--vm-size %s", arg);
		snprintf(t->desc, sizeof(t->desc),
			 "%s: the driver kind the catalog gives that size, every other kind "
			 "staged; built on a CPU VM",
			 arg);
	} else if (strncmp(arg, "auto:", 5) == 0 && strncmp(arg + 5, "Standard_", 9) == 0) {
		t->ta.gpu = "auto";
		size_to_name("auto-", arg + 5, t->name, sizeof(t->name));
		snprintf(t->args, sizeof(t->args), "--gpu auto");
		snprintf(t->size, sizeof(t->size), "%s", arg + 5);
		snprintf(t->desc, sizeof(t->desc),
			 "--gpu auto on a %s build VM: the kind is detected there", arg + 5);
	} else if (dsvm_driver_kind_from_string(arg) != DSVM_DRIVER_INVALID) {
		t->ta.driver_kind = arg;
		snprintf(t->name, sizeof(t->name), "%s", arg);
		snprintf(t->args, sizeof(t->args), "--driver-kind %s", arg);
		snprintf(t->desc, sizeof(t->desc),
			 "driver kind %s, every other kind staged; built on a CPU VM", arg);
	} else {
		fprintf(stderr,
			"dsvm-build packer: '%s' is not a target: give universal, an Azure size "
			"(Standard_NC24ads_A100_v4), a driver kind (nvidia-open) or "
			"auto:Standard_SIZE; see --help\n",
			arg);
		return -EINVAL;
	}
	t->src.name = t->name;
	t->src.target_args = t->args;
	t->src.description = t->desc;
	t->src.build_vm_size = t->size[0] ? t->size : NULL;
	if (!t->ta.gpu) {
		snprintf(t->lock, sizeof(t->lock), "locks/%s.lock.json", t->name);
		t->src.lock = t->lock;
	}
	return 0;
}

/* close() that leaves -1 behind, so the cleanup handler does not close the number again. */
static int close_fd(int *fd)
{
	int r = close(*fd);

	*fd = -1;
	return r;
}

static int copy_file(struct dsvm_ctx *ctx, const char *from, const char *to, unsigned mode)
{
	_cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *tmp = strdup_printf("%s.tmp", to);
	_cleanup_close_ int out = -1;
	char buf[65536];
	ssize_t n;

	if (!tmp)
		return -ENOMEM;
	if (in < 0)
		return dsvm_set_error(ctx, -errno, "cannot open '%s': %m", from);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (out < 0)
		return dsvm_set_error(ctx, -EROFS, "cannot create '%s': %m", tmp);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write_all(out, buf, (size_t)n) < 0)
			return dsvm_set_error(ctx, -EIO, "cannot write '%s': %m", tmp);
	if (n < 0)
		return dsvm_set_error(ctx, -EIO, "cannot read '%s': %m", from);
	if (fchmod(out, mode) < 0 || close_fd(&out) < 0)
		return dsvm_set_error(ctx, -EIO, "cannot write '%s': %m", tmp);
	if (rename(tmp, to) < 0)
		return dsvm_set_error(ctx, -EIO, "cannot rename '%s': %m", tmp);
	return 0;
}

/* Copy the directories and regular files of one tree into another (links are not followed). */
static int copy_tree(struct dsvm_ctx *ctx, const char *from, const char *to, unsigned depth)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *e;
	int r = 0;

	if (depth > 16)
		return dsvm_set_error(ctx, -ELOOP, "'%s' is nested too deep to copy", from);
	d = opendir(from);
	if (!d)
		return dsvm_set_error(ctx, -errno, "cannot read the folder '%s': %m", from);
	if (mkdir_parents(to, 0755) < 0)
		return dsvm_set_error(ctx, -EROFS, "cannot create '%s': %m", to);
	while (r == 0 && (e = readdir(d))) {
		_cleanup_free_ char *src = NULL, *dst = NULL;
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		src = strdup_printf("%s/%s", from, e->d_name);
		dst = strdup_printf("%s/%s", to, e->d_name);
		if (!src || !dst)
			return -ENOMEM;
		if (lstat(src, &st) < 0)
			return dsvm_set_error(ctx, -errno, "cannot read '%s': %m", src);
		if (S_ISDIR(st.st_mode))
			r = copy_tree(ctx, src, dst, depth + 1);
		else if (S_ISREG(st.st_mode))
			r = copy_file(ctx, src, dst, st.st_mode & 0755);
	}
	return r;
}

static int mkdir_parents_in(const char *dir, const char *name)
{
	_cleanup_free_ char *path = strdup_printf("%s/%s", dir, name);

	return path ? mkdir_parents(path, 0755) : -ENOMEM;
}

static char *self_dir(void)
{
	_cleanup_free_ char *exe = realpath("/proc/self/exe", NULL);

	return exe ? path_dirname(exe) : NULL;
}

static int write_text(struct dsvm_ctx *ctx, const char *dir, const char *name, const char *text,
		      unsigned mode)
{
	_cleanup_free_ char *path = strdup_printf("%s/%s", dir, name);
	_cleanup_free_ char *parent = NULL;
	int r;

	if (!path || !(parent = path_dirname(path)))
		return -ENOMEM;
	if (mkdir_parents(parent, 0755) < 0)
		return dsvm_set_error(ctx, -EROFS, "cannot create '%s': %m", parent);
	if (!text) {
		if (unlink(path) < 0 && errno != ENOENT)
			return dsvm_set_error(ctx, -EIO, "cannot remove '%s': %m", path);
		return 0;
	}
	r = write_file_atomic(path, text, strlen(text), mode);
	if (r < 0)
		return dsvm_set_error(ctx, r == -ENOSPC || r == -EIO ? r : -EROFS,
				      "cannot write '%s': %s", path, strerror(-r));
	return 0;
}

/* The binaries and the unit the templates upload. */
static int lay_out_bin(struct dsvm_ctx *ctx, const struct packer_args *a, const char *payload)
{
	_cleanup_free_ char *bin = a->bin_dir ? strdup(a->bin_dir) : self_dir();
	_cleanup_free_ char *dir = strdup_printf("%s/bin", payload);
	const char *unit = a->unit ? a->unit : DSVM_SRCDIR "/firstboot/dsvm-firstboot.service";
	static const char *const names[] = { "dsvm-build", "dsvm-firstboot" };
	int r;

	if (!bin || !dir)
		return -ENOMEM;
	if (mkdir_parents(dir, 0755) < 0)
		return dsvm_set_error(ctx, -EROFS, "cannot create '%s': %m", dir);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		_cleanup_free_ char *from = strdup_printf("%s/%s", bin, names[i]);
		_cleanup_free_ char *to = strdup_printf("%s/%s", dir, names[i]);

		if (!from || !to)
			return -ENOMEM;
		if (access(from, X_OK) < 0)
			return dsvm_set_error(ctx, -ENOENT,
					      "no '%s' to upload: build it (make) or give "
					      "--bin-dir",
					      from);
		r = copy_file(ctx, from, to, 0755);
		if (r < 0)
			return r;
	}
	{
		_cleanup_free_ char *to = strdup_printf("%s/dsvm-firstboot.service", dir);

		if (!to)
			return -ENOMEM;
		if (access(unit, R_OK) < 0)
			return dsvm_set_error(ctx, -ENOENT, "no unit '%s' to upload: give --unit",
					      unit);
		return copy_file(ctx, unit, to, 0644);
	}
}

/* The artifacts of the seed cache that a lock names. */
static int lay_out_cache(struct dsvm_ctx *ctx, const char *seed, struct dsvm_lock *const *locks,
			 size_t n_locks, const char *payload, size_t *ret_n)
{
	_cleanup_free_ char *dir = strdup_printf("%s/cache", payload);
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *e;
	int r;

	*ret_n = 0;
	if (!dir)
		return -ENOMEM;
	remove_tree(dir);
	if (mkdir_parents(dir, 0755) < 0)
		return dsvm_set_error(ctx, -EROFS, "cannot create '%s': %m", dir);
	if (!seed)
		return 0;
	d = opendir(seed);
	if (!d)
		return dsvm_set_error(ctx, -errno, "cannot read the cache seed '%s': %m", seed);
	while ((e = readdir(d))) {
		_cleanup_free_ char *from = NULL, *to = NULL;
		bool named = false;

		if (!is_sha256_hex(e->d_name))
			continue;
		for (size_t i = 0; i < n_locks && !named; i++)
			named = locks[i] && dsvm_packer_lock_names_artifact(locks[i], e->d_name);
		if (!named)
			continue;
		from = strdup_printf("%s/%s", seed, e->d_name);
		to = strdup_printf("%s/%s", dir, e->d_name);
		if (!from || !to)
			return -ENOMEM;
		/* A hard link costs nothing where both sit on one file system. */
		if (link(from, to) < 0 && (r = copy_file(ctx, from, to, 0644)) < 0)
			return r;
		(*ret_n)++;
	}
	return 0;
}

/* Windows: the generated scripts, and the steps the template runs. */
static int windows_steps(struct dsvm_ctx *ctx, const struct packer_args *a, const char *out,
			 const char *edition, struct dsvm_lock *const *locks,
			 struct dsvm_pwsh_step **ret, size_t *ret_n)
{
	const struct dsvm_lock *lock = locks[0];
	_cleanup_free_ char *catalog_dir = builder_catalog_dir(a->catalog, edition);
	size_t n = dsvm_pwsh_n_steps(lock);
	struct dsvm_pwsh_step *steps = calloc(n ? n : 1, sizeof(*steps));
	struct dsvm_catalog *cat = NULL;
	int r = catalog_dir && steps ? 0 : -ENOMEM;

	for (size_t i = 0; r == 0 && i < n; i++)
		r = dsvm_pwsh_get_step(lock, i, &steps[i]);
	/* One build block serves every source: each target must run the same steps. */
	for (size_t k = 1; r == 0 && k < a->n_targets; k++) {
		struct dsvm_pwsh_step other;
		bool same = dsvm_pwsh_n_steps(locks[k]) == n;

		for (size_t i = 0; same && i < n; i++)
			same = dsvm_pwsh_get_step(locks[k], i, &other) == 0 &&
			       streq(other.name, steps[i].name) &&
			       other.may_reboot == steps[i].may_reboot;
		if (!same)
			r = dsvm_set_error(ctx, -EINVAL,
					   "targets '%s' and '%s' install different steps on "
					   "Windows: "
					   "write one template for each",
					   a->targets[0], a->targets[k]);
	}
	/* The hand-written scripts of powershell components go beside the generated ones. */
	if (r == 0 && n > 0 && mkdir_parents_in(out, "scripts") < 0)
		r = dsvm_set_error(ctx, -EROFS, "cannot create '%s/scripts': %m", out);
	for (size_t i = 0; r == 0 && i < n; i++) {
		_cleanup_free_ char *to = NULL;

		if (!steps[i].script_path)
			continue;
		to = strdup_printf("%s/scripts/%s", out,
				   strrchr(steps[i].script_path, '/')
					   ? strrchr(steps[i].script_path, '/') + 1
					   : steps[i].script_path);
		r = to ? copy_file(ctx, steps[i].script_path, to, 0644) : -ENOMEM;
	}
	if (r == 0)
		r = dsvm_catalog_load(ctx, catalog_dir, &cat);
	if (r == 0)
		r = dsvm_pwsh_write(ctx, lock, cat, out);
	dsvm_catalog_free(cat);
	if (r < 0) {
		free(steps);
		return r;
	}
	*ret = steps;
	*ret_n = n;
	return 0;
}

static int generate(struct dsvm_ctx *ctx, const struct packer_args *a, const char *out,
		    const char *origin)
{
	struct target targets[MAX_TARGETS];
	struct dsvm_packer_source sources[MAX_TARGETS];
	struct dsvm_lock *locks[MAX_TARGETS + 1] = { NULL };
	struct dsvm_packer_files files = { 0 };
	struct dsvm_pwsh_step *steps = NULL;
	struct dsvm_manifest *m = NULL;
	_cleanup_free_ char *payload = strdup_printf("%s/payload", out);
	_cleanup_free_ char *manifests_src = NULL, *edition_dir = NULL, *edition_rel = NULL;
	_cleanup_free_ char *manifests_dst = NULL, *repo = NULL, *seed = NULL;
	struct dsvm_packer_spec spec = { 0 };
	uint64_t biggest = 0;
	size_t n_steps = 0, n_seeded = 0;
	bool windows;
	int r;

	if (!payload)
		return -ENOMEM;
	r = dsvm_packer_dialect_from_version(a->version ? a->version : "1.11", &spec.dialect);
	if (r < 0) {
		fprintf(stderr,
			"dsvm-build packer: --packer-version '%s' is not a Packer version with "
			"HCL2 builds (1.6.6, 1.11.2, ...)\n",
			a->version);
		return -EINVAL;
	}
	if (a->cache_seed && !(seed = realpath(a->cache_seed, NULL)))
		return dsvm_set_error(ctx, -ENOENT, "no cache seed folder '%s'", a->cache_seed);
	/*
	 * The edition is EDITIONS/NAME.yaml in a manifests folder MANIFESTS, in a repository REPO
	 * (paths in manifests may lead out of MANIFESTS into REPO: the Windows scripts do).
	 */
	edition_dir = path_dirname(origin);
	manifests_src = edition_dir ? path_dirname(edition_dir) : NULL;
	repo = manifests_src ? path_dirname(manifests_src) : NULL;
	manifests_dst = strdup_printf("%s/manifests", payload);
	if (!repo || !manifests_dst)
		return -ENOMEM;
	edition_rel = strdup_printf("%s/%s/%s", strrchr(manifests_src, '/') + 1,
				    strrchr(edition_dir, '/') + 1, strrchr(origin, '/') + 1);
	if (!edition_rel)
		return -ENOMEM;
	r = dsvm_manifest_load(ctx, origin, &m);
	if (r < 0)
		return r;
	windows = streq(dsvm_manifest_get_platform(m), "windows");
	spec.edition = dsvm_manifest_get_edition(m);
	spec.edition_path = edition_rel;
	spec.os = dsvm_manifest_get_os(m);
	spec.platform = dsvm_manifest_get_platform(m);
	/*
	 * Ubuntu: resolve from the payload, as the build VM will, so the locks name the same
	 * paths. Windows: the build VM runs the scripts generated from the lock, and nothing
	 * resolves there; resolve from the repository, as the golden locks do.
	 */
	remove_tree(payload);
	if (!windows) {
		r = copy_tree(ctx, manifests_src, manifests_dst, 0);
		if (r < 0)
			goto out;
		if (!streq(strrchr(manifests_src, '/') + 1, "manifests")) {
			free(edition_rel);
			edition_rel =
				strdup_printf("manifests/%s/%s", strrchr(edition_dir, '/') + 1,
					      strrchr(origin, '/') + 1);
			if (!edition_rel) {
				r = -ENOMEM;
				goto out;
			}
			spec.edition_path = edition_rel;
		}
	}
	if (chdir(windows ? repo : payload) < 0) {
		r = dsvm_set_error(ctx, -EROFS, "cannot enter '%s': %m", windows ? repo : payload);
		goto out;
	}
	for (size_t i = 0; r == 0 && i < a->n_targets; i++) {
		struct dsvm_target t;
		struct target_args sizing = { .catalog = a->catalog };

		r = parse_target(a->targets[i], a->catalog, &targets[i]);
		if (r < 0)
			break;
		if (windows)
			targets[i].src.lock = NULL;
		sources[i] = targets[i].src;
		/* --gpu auto is decided on the build VM: size its disk for every kind staged. */
		r = target_args_resolve(
			ctx, targets[i].ta.gpu ? &sizing : &targets[i].ta, edition_rel,
			DSVM_RESOLVE_ALL_DRIVER_KINDS |
				(a->allow_unsealed ? DSVM_RESOLVE_ALLOW_UNSEALED : 0),
			&t, &locks[i]);
		if (r == 0 && dsvm_lock_count_unsealed(locks[i]) > 0)
			fprintf(stderr,
				"dsvm-build packer: warning: target '%s' has %zu unsealed "
				"artifacts: "
				"the build refuses them; run 'dsvm-build seal' and regenerate\n",
				a->targets[i], dsvm_lock_count_unsealed(locks[i]));
		if (r == 0 && targets[i].src.lock) {
			if (mkdir_parents("locks", 0755) < 0)
				r = dsvm_set_error(ctx, -EROFS, "cannot create '%s/locks': %m",
						   payload);
			else
				r = dsvm_lock_write(ctx, locks[i], targets[i].src.lock);
		}
		if (r == 0 && dsvm_packer_lock_payload_bytes(locks[i]) > biggest)
			biggest = dsvm_packer_lock_payload_bytes(locks[i]);
	}
	if (r == 0 && windows)
		r = windows_steps(ctx, a, out, edition_rel, locks, &steps, &n_steps);
	if (r == 0 && !windows)
		r = lay_out_bin(ctx, a, payload);
	if (r == 0 && !windows)
		r = lay_out_cache(ctx, seed, locks, a->n_targets, payload, &n_seeded);
	if (r == 0) {
		spec.sources = sources;
		spec.n_sources = a->n_targets;
		spec.os_disk_size_gb = dsvm_packer_disk_size_gb(biggest);
		spec.windows_steps = steps;
		spec.n_windows_steps = n_steps;
		r = dsvm_packer_render(ctx, &spec, &files);
	}
	if (r == 0)
		r = write_text(ctx, out, "packer_config.pkr.hcl", files.config, 0644);
	if (r == 0)
		r = write_text(ctx, out, "variables.pkr.hcl", files.variables, 0644);
	if (r == 0)
		r = write_text(ctx, out, "sources.pkr.hcl", files.sources, 0644);
	if (r == 0)
		r = write_text(ctx, out, "build.pkr.hcl", files.build, 0644);
	if (r == 0)
		r = write_text(ctx, out, "scripts/dsvm-ubuntu.sh", files.steps, 0755);
	if (r == 0)
		fprintf(stderr,
			"dsvm-build: %s: %zu source%s for Packer %s (os disk %u GB, %zu artifacts "
			"seeded) -> %s\n",
			spec.edition, a->n_targets, a->n_targets == 1 ? "" : "s",
			spec.dialect == DSVM_PACKER_LEGACY ? "1.6" : ">= 1.7", spec.os_disk_size_gb,
			n_seeded, out);
out:
	dsvm_packer_files_clear(&files);
	for (size_t i = 0; i < a->n_targets; i++)
		dsvm_lock_free(locks[i]);
	dsvm_manifest_free(m);
	free(steps);
	return r;
}

int cmd_packer(int argc, char **argv)
{
	struct packer_args a = { 0 };
	_cleanup_free_ char *out = NULL, *origin = NULL, *bin_dir = NULL, *unit = NULL;
	_cleanup_free_ char *catalog = NULL;
	struct dsvm_ctx *ctx;
	int r, rc;

	r = parse_args(argc, argv, &a);
	if (r != 0)
		return r > 0 ? DSVM_EXIT_OK : DSVM_EXIT_USAGE;
	for (size_t i = 0; i < a.n_targets; i++) {
		struct target t;

		if (parse_target(a.targets[i], NULL, &t) < 0)
			return DSVM_EXIT_USAGE;
	}
	origin = realpath(a.edition, NULL);
	if (!origin) {
		fprintf(stderr, "dsvm-build packer: cannot read the edition '%s': %m\n", a.edition);
		return DSVM_EXIT_NOINPUT;
	}
	if (builder_make_root("packer", a.out, &out) < 0)
		return DSVM_EXIT_CANTCREAT;
	/* Every path given is made absolute before generate() enters the payload folder. */
	bin_dir = a.bin_dir ? realpath(a.bin_dir, NULL) : NULL;
	unit = a.unit ? realpath(a.unit, NULL) : NULL;
	catalog = a.catalog ? realpath(a.catalog, NULL) : NULL;
	if (!!a.bin_dir + !!a.unit + !!a.catalog != !!bin_dir + !!unit + !!catalog) {
		fprintf(stderr, "dsvm-build packer: cannot find --bin-dir, --unit or --catalog: "
				"%m\n");
		return DSVM_EXIT_NOINPUT;
	}
	a.bin_dir = bin_dir;
	a.unit = unit;
	a.catalog = catalog;
	ctx = builder_ctx_new(a.verbose);
	if (!ctx)
		return DSVM_EXIT_FAILURE;
	r = generate(ctx, &a, out, origin);
	rc = r == -EINVAL && !dsvm_ctx_get_error(ctx) ? DSVM_EXIT_USAGE
	     : r < 0				      ? dsvm_cli_fail(BUILDER_PROGRAM, ctx, r)
						      : DSVM_EXIT_OK;
	dsvm_ctx_free(ctx);
	return rc;
}
