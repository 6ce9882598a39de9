/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "dsvm/apt-offline.h"
#include "dsvm/catalog.h"
#include "dsvm/detect.h"
#include "dsvm/exec.h"
#include "internal.h"
#include "reconcile-internal.h"
#include "stacks-internal.h"

#define REPO_DIR "/var/lib/dsvm/repo"
#define RECEIPTS_DIR "/var/lib/dsvm/firstboot"
#define OFFLINE_INDEX "/var/lib/dsvm/repo/apt/index.json"
#define ENVS_DIR "/opt/dsvm/envs"
#define PROFILE_ENV "/etc/profile.d/dsvm-env.sh"
#define PROFILE_LOGIN "/etc/profile.d/dsvm-login.sh"
#define KERNEL_JSON "/usr/local/share/jupyter/kernels/dsvm-default/kernel.json"
#define CDI_SPEC "/etc/cdi/nvidia.yaml"
/* NVIDIA's runfile installs its uninstaller here (RECONCILE.md §3, nvidia-installer). */
#define NVIDIA_UNINSTALL "/usr/bin/nvidia-uninstall"

static const char *str_of(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* --- small root-relative helpers -------------------------------------------------------------- */

static char *in_root(struct reconcile *rc, const char *img)
{
	return root_path_resolved(rc->ctx, img);
}

static bool exists_in_root(struct reconcile *rc, const char *img)
{
	_cleanup_free_ char *p = in_root(rc, img);

	return p && access(p, F_OK) == 0;
}

/* Paths matching an image pattern, as image paths; the count. */
static size_t glob_root(struct reconcile *rc, const char *pattern, glob_t *g)
{
	_cleanup_free_ char *p = in_root(rc, pattern);

	memset(g, 0, sizeof(*g));
	if (!p || glob(p, 0, NULL, g) != 0)
		return 0;
	return g->gl_pathc;
}

/* Write text to an image path unless it already holds it. Returns 1 when written, 0, -errno. */
static int write_if_changed(struct reconcile *rc, const char *img, const char *text, unsigned mode)
{
	_cleanup_free_ char *p = in_root(rc, img), *old = NULL, *dir = NULL;
	int r;

	if (!p || !(dir = path_dirname(p)))
		return -ENOMEM;
	if (read_file_capped(p, 1u << 20, &old, NULL) >= 0 && streq(old, text))
		return 0;
	r = mkdir_parents(dir, 0755);
	if (r >= 0)
		r = write_file_atomic(p, text, strlen(text), mode);
	if (r < 0)
		return dsvm_set_error(rc->ctx, r, "cannot write '%s': %s", p, strerror(-r));
	return 1;
}

/* Remove an image path if it is there. Returns 1 when removed, 0, -errno. */
static int remove_if_there(struct reconcile *rc, const char *img)
{
	_cleanup_free_ char *p = in_root(rc, img);

	if (!p)
		return -ENOMEM;
	if (unlink(p) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return dsvm_set_error(rc->ctx, -errno, "cannot remove '%s': %m", p);
}

int reconcile_login_message(struct dsvm_ctx *ctx, const char *text)
{
	/* The profile hook is static; the message it shows is the agent's. */
	static const char hook[] =
		"# Written by dsvm-firstboot: shows what the driver agent wants people to know "
		"at login.\n"
		"if [ -s " DSVM_LOGIN_MESSAGE " ]; then cat " DSVM_LOGIN_MESSAGE " >&2; fi\n";
	struct reconcile rc = { .ctx = ctx };
	_cleanup_free_ char *line = NULL;
	int r;

	r = write_if_changed(&rc, PROFILE_LOGIN, hook, 0644);
	if (r < 0)
		return r;
	if (!text[0])
		return remove_if_there(&rc, DSVM_LOGIN_MESSAGE);
	line = strdup_printf("%s\n", text);
	return line ? write_if_changed(&rc, DSVM_LOGIN_MESSAGE, line, 0644) : -ENOMEM;
}

/* Programs run on this machine (systemctl, modprobe), their time counted as external. */
static int host_run(struct reconcile *rc, const char *const *argv)
{
	double t0 = reconcile_now_s();
	int r = dsvm_host_run(rc->ctx, argv, NULL, rc->conf.program_timeout_s, NULL);

	rc->external_s += reconcile_now_s() - t0;
	return r;
}

/*
 * While apt runs, maintainer scripts must not start services: on a booting VM a blocking
 * `deb-systemd-invoke start` of a unit ordered after dsvm-firstboot waits for this very unit
 * (a deadlock until the unit's timeout). policy-rc.d answering 101 forbids it; the services step
 * starts them afterwards with --no-block. Someone else's policy-rc.d is left alone; ours, also a
 * killed run's, is recognised by its marker line and removed.
 */
#define POLICY_RC_D "/usr/sbin/policy-rc.d"
#define POLICY_MARK "# dsvm-firstboot: services start after the driver switch, not from apt"

static int policy_rc_off(struct reconcile *rc)
{
	_cleanup_free_ char *p = in_root(rc, POLICY_RC_D), *text = NULL;

	if (!p)
		return -ENOMEM;
	if (read_file_capped(p, 4096, &text, NULL) < 0 || !strstr(text, POLICY_MARK))
		return 0;
	return remove_if_there(rc, POLICY_RC_D);
}

static int policy_rc_on(struct reconcile *rc)
{
	int r = policy_rc_off(rc);

	if (r < 0 || exists_in_root(rc, POLICY_RC_D))
		return r < 0 ? r : 0;
	return write_if_changed(rc, POLICY_RC_D, "#!/bin/sh\n" POLICY_MARK "\nexit 101\n", 0755);
}

static int run_in_root(struct reconcile *rc, struct step *s, const char *const *argv,
		       char **ret_output)
{
	double t0 = reconcile_now_s();
	int r = dsvm_root_run(rc->ctx, argv, NULL, rc->conf.program_timeout_s, ret_output);

	rc->external_s += reconcile_now_s() - t0;

	if (r > 0) {
		snprintf(s->note, sizeof(s->note), "'%s' exited with status %d: %s", argv[0], r,
			 dsvm_ctx_get_error(rc->ctx));
		return dsvm_set_error(rc->ctx, -EIO, "%s", s->note);
	}
	return r;
}

static const char *systemctl_path(void)
{
	return access("/usr/bin/systemctl", X_OK) == 0 ? "/usr/bin/systemctl" : "/bin/systemctl";
}

/* systemctl on the running systemd (live only), without waiting for the job. */
static int systemctl_live(struct reconcile *rc, const char *verb, const char *unit)
{
	const char *argv[] = { systemctl_path(), verb, "--no-block", unit, NULL };

	if (streq(verb, "daemon-reload"))
		argv[2] = NULL;
	return host_run(rc, argv);
}

/* --- shared with the run (lib/reconcile.c) --------------------------------------------------- */

/* A short sysfs or procfs value under --sysroot, trailing newline dropped; "" when absent. */
void reconcile_read_sys(struct dsvm_ctx *ctx, const char *path, char *buf, size_t size)
{
	_cleanup_free_ char *full = dsvm_sysroot_path(ctx, path), *text = NULL;

	buf[0] = '\0';
	if (!full || read_file_capped(full, 4096, &text, NULL) < 0)
		return;
	text[strcspn(text, "\n")] = '\0';
	snprintf(buf, size, "%s", text);
}

const char *reconcile_module_of(enum dsvm_driver_kind kind)
{
	switch (dsvm_driver_kind_vendor(kind)) {
	case DSVM_VENDOR_NVIDIA:
		return "nvidia";
	case DSVM_VENDOR_AMD:
		return "amdgpu";
	default:
		return NULL;
	}
}

void reconcile_loaded_version(struct dsvm_ctx *ctx, enum dsvm_driver_kind kind, char *buf,
			      size_t size)
{
	const char *module = reconcile_module_of(kind);
	char path[128];

	buf[0] = '\0';
	if (!module)
		return;
	snprintf(path, sizeof(path), "/sys/module/%s/version", module);
	reconcile_read_sys(ctx, path, buf, size);
}

double reconcile_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int reconcile_record(struct reconcile *rc, enum dsvm_state_result result, const char *reason)
{
	/*
	 * A failed run records the stack it started from: the next run then plans the same
	 * switch again (same journal), and the old stack's removal is never forgotten.
	 */
	bool failed = result == DSVM_RESULT_FAILED;
	struct dsvm_state st = {
		.has_fingerprint = true,
		.fp = rc->fp,
		.kind = failed ? rc->from : rc->disk_kind,
		.mode = failed ? rc->from : rc->mode,
		.result = result,
		.reboot_needed = rc->reboot_needed,
	};

	snprintf(st.branch, sizeof(st.branch), "%s", failed ? rc->from_branch : rc->disk_branch);
	snprintf(st.version, sizeof(st.version), "%s",
		 failed ? rc->from_version : rc->disk_version);
	snprintf(st.reason, sizeof(st.reason), "%s", reason);
	snprintf(st.boot_id, sizeof(st.boot_id), "%s", rc->boot_id);
	snprintf(st.pci_inventory, sizeof(st.pci_inventory), "%s", rc->pci_inventory);
	return dsvm_state_save(rc->ctx, &st);
}

/* --- the plan ------------------------------------------------------------------------------ */

static bool item_in(const struct item_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (streq(str_of(l->v[i], "name"), name))
			return true;
	return false;
}

static void item_add(struct item_list *l, const json_t *c)
{
	if (l->n < RECONCILE_MAX_ITEMS && !item_in(l, str_of(c, "name")))
		l->v[l->n++] = c;
}

static size_t items_of_kind(const struct item_list *l, const char *kind)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		n += streq(str_of(l->v[i], "kind"), kind);
	return n;
}

/* Does a stack member apply to this machine (the conditions the stack left open)? */
static bool applies_here(struct reconcile *rc, const json_t *member)
{
	const json_t *when = json_object_get(member, "when"), *v;
	const char *family = rc->choice.size ? rc->choice.size->family : NULL;
	size_t i;
	bool found = false;

	if ((v = json_object_get(when, "nvswitch")) && json_is_true(v) != rc->fp.nvswitch)
		return false;
	if ((v = json_object_get(when, "infiniband")) && json_is_true(v) != rc->fp.infiniband)
		return false;
	if (!(v = json_object_get(when, "vm_family")))
		return true;
	json_array_foreach(v, i, when) found |=
		family && json_string_value(when) && streq(json_string_value(when), family);
	return found;
}

/* The lock's component entries of a stack's members that pass filter (or all). */
static void stack_items(struct reconcile *rc, const json_t *stack, bool only_applicable,
			struct item_list *out)
{
	const json_t *m;
	size_t i;

	json_array_foreach(json_object_get(stack, "components"), i, m)
	{
		const json_t *c = stacks_component(rc->lock_json, str_of(m, "name"));

		if (!c || (only_applicable && !applies_here(rc, m)))
			continue;
		if (streq(str_of(m, "remove") ?: "", "keep"))
			continue;
		item_add(out, c);
	}
}

/* Is every apt member of the stack installed at its version (dpkg's status)? */
static bool stack_apt_installed(struct reconcile *rc, const json_t *stack)
{
	struct item_list items = {};

	stack_items(rc, stack, true, &items);
	for (size_t i = 0; i < items.n; i++) {
		bool ok = false;

		if (streq(str_of(items.v[i], "kind"), "apt") &&
		    (dsvm_apt_offline_is_installed(rc->ctx, str_of(items.v[i], "name"), &ok) < 0 ||
		     !ok))
			return false;
	}
	return true;
}

static bool is_prebuilt_kind(enum dsvm_driver_kind k)
{
	return k == DSVM_DRIVER_NVIDIA_OPEN || k == DSVM_DRIVER_NVIDIA_PROPRIETARY;
}

static void add_step(struct reconcile *rc, const char *name,
		     int (*run)(struct reconcile *, struct step *), const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add_step(struct reconcile *rc, const char *name,
		     int (*run)(struct reconcile *, struct step *), const char *fmt, ...)
{
	struct step *s;
	va_list ap;

	if (rc->n_steps >= RECONCILE_MAX_STEPS)
		return;
	s = &rc->steps[rc->n_steps++];
	*s = (struct step){ .name = name, .run = run };
	va_start(ap, fmt);
	vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
	va_end(ap);
}

static void list_names(const struct item_list *l, const char *kind, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		if (kind && !streq(str_of(l->v[i], "kind"), kind))
			continue;
		len += (size_t)snprintf(buf + len, len < size ? size - len : 0, "%s%s",
					len ? ", " : "", str_of(l->v[i], "name"));
	}
	if (!buf[0])
		snprintf(buf, size, "nothing");
}

static bool provides_any_of(const json_t *c, const json_t *names)
{
	const json_t *p, *n;
	size_t i, j;

	json_array_foreach(json_object_get(c, "provides"), i, p)
		json_array_foreach(names, j, n) if (json_equal(p, n)) return true;
	return false;
}

/*
 * A framework build the new stack installs displaces the other builds of the same thing (the
 * ROCm PyTorch when the CUDA one comes back), whichever stack, or none, last installed them.
 */
static void add_displaced_alternatives(struct reconcile *rc)
{
	for (size_t i = 0; i < rc->install.n; i++) {
		const json_t *want = rc->install.v[i], *c;
		const json_t *provides = json_object_get(want, "provides");
		size_t k;

		if (!streq(str_of(want, "kind"), "pip") || !json_array_size(provides))
			continue;
		json_array_foreach(json_object_get(rc->lock_json, "components"), k,
				   c) if (streq(str_of(c, "kind") ?: "", "pip") &&
					  !item_in(&rc->install, str_of(c, "name")) &&
					  provides_any_of(c, provides)) item_add(&rc->remove, c);
	}
}

/* Step bodies, defined below. */
static int step_notice(struct reconcile *rc, struct step *s);
static int step_stop_services(struct reconcile *rc, struct step *s);
static int step_unload_modules(struct reconcile *rc, struct step *s);
static int step_uninstall_runfile(struct reconcile *rc, struct step *s);
static int step_clear_dkms(struct reconcile *rc, struct step *s);
static int step_packages(struct reconcile *rc, struct step *s);
static int step_install_runfile(struct reconcile *rc, struct step *s);
static int step_files(struct reconcile *rc, struct step *s);
static int step_frameworks(struct reconcile *rc, struct step *s);
static int step_initramfs(struct reconcile *rc, struct step *s);
static int step_depmod(struct reconcile *rc, struct step *s);
static int step_services(struct reconcile *rc, struct step *s);
static int step_cdi(struct reconcile *rc, struct step *s);
static int step_load_modules(struct reconcile *rc, struct step *s);
static int step_health(struct reconcile *rc, struct step *s);
static int step_record(struct reconcile *rc, struct step *s);

int reconcile_plan(struct reconcile *rc)
{
	const char *to = dsvm_driver_kind_to_string(rc->mode);
	const char *from = dsvm_driver_kind_to_string(rc->from);
	bool kind_changes = rc->from != rc->mode || (rc->mode != DSVM_DRIVER_NONE &&
						     !streq(rc->from_branch, rc->target.branch));
	const json_t *stack;
	char names[512];
	size_t k;

	rc->to_stack = rc->mode != DSVM_DRIVER_NONE
			       ? stacks_find(rc->lock_json, rc->target.kind, rc->target.branch)
			       : NULL;
	rc->from_stack = rc->from != DSVM_DRIVER_NONE
				 ? stacks_find(rc->lock_json, rc->from, rc->from_branch)
				 : NULL;
	if (rc->mode != DSVM_DRIVER_NONE && !rc->to_stack)
		return dsvm_set_error(rc->ctx, -EBADMSG, "the image's lock has no stack for %s %s",
				      to, rc->target.branch);
	rc->keep_from = rc->mode == DSVM_DRIVER_NONE && is_prebuilt_kind(rc->from) &&
			rc->from_stack && stack_apt_installed(rc, rc->from_stack);
	if (rc->to_stack)
		stack_items(rc, rc->to_stack, true, &rc->install);
	/*
	 * What goes is every other stack's (and this stack's members that do not apply here),
	 * whatever the state says was on disk: a switch that failed half-way, or an image built
	 * for another kind, leaves no stack behind. Removing what is not there does nothing.
	 */
	/*
	 * CPU mode keeps a signed prebuilt stack (no device, so nothing loads; RECONCILE.md §9.5)
	 * as far as it applies to this machine: fabric manager and peermem go with the fabric.
	 */
	if (rc->keep_from)
		stack_items(rc, rc->from_stack, true, &rc->kept);
	json_array_foreach(json_object_get(rc->lock_json, "stacks"), k, stack)
	{
		struct item_list had = {};

		stack_items(rc, stack, false, &had);
		for (size_t i = 0; i < had.n; i++) {
			const char *kind = str_of(had.v[i], "kind");
			const char *name = str_of(had.v[i], "name");

			if (item_in(&rc->install, name))
				continue;
			if (streq(kind, "service"))
				item_add(&rc->disable, had.v[i]);
			/* Every framework build stays on CPU: a CUDA build runs there (§8). */
			if (streq(kind, "service") || item_in(&rc->kept, name) ||
			    (rc->mode == DSVM_DRIVER_NONE && streq(kind, "pip")))
				continue;
			item_add(&rc->remove, had.v[i]);
		}
	}
	add_displaced_alternatives(rc);
	if (rc->mode != DSVM_DRIVER_NONE) {
		rc->disk_kind = rc->mode;
		snprintf(rc->disk_branch, sizeof(rc->disk_branch), "%s", rc->target.branch);
		snprintf(rc->disk_version, sizeof(rc->disk_version), "%s", rc->target.version);
	} else if (rc->keep_from) {
		rc->disk_kind = rc->from;
		snprintf(rc->disk_branch, sizeof(rc->disk_branch), "%s", rc->from_branch);
		snprintf(rc->disk_version, sizeof(rc->disk_version), "%s", rc->from_version);
	} else {
		rc->disk_kind = DSVM_DRIVER_NONE;
	}

	add_step(rc, "notice", step_notice, "say at login that the driver stack is changing");
	if (rc->disable.n) {
		list_names(&rc->disable, NULL, names, sizeof(names));
		add_step(rc, "stop-services", step_stop_services, "stop and disable %s", names);
	}
	if (rc->from != DSVM_DRIVER_NONE && kind_changes)
		add_step(rc, "unload-modules", step_unload_modules,
			 "unload the %s module of %s if it is loaded and idle",
			 reconcile_module_of(rc->from), from);
	if (items_of_kind(&rc->remove, "runfile")) {
		list_names(&rc->remove, "runfile", names, sizeof(names));
		add_step(rc, "uninstall-runfile", step_uninstall_runfile,
			 "run %s's own uninstaller, then remove what it left", names);
	}
	if (kind_changes)
		add_step(rc, "clear-dkms", step_clear_dkms,
			 "remove DKMS modules left in /lib/modules/*/updates/dkms (they shadow "
			 "prebuilt ones)");
	if (items_of_kind(&rc->install, "apt") || items_of_kind(&rc->remove, "apt") ||
	    items_of_kind(&rc->kept, "apt")) {
		char gone[256];

		list_names(&rc->install, "apt", names, sizeof(names));
		list_names(&rc->remove, "apt", gone, sizeof(gone));
		add_step(rc, "packages", step_packages,
			 "one apt transaction from the offline repository: install %s, purge %s; "
			 "hold the new set",
			 names, gone);
	}
	if (items_of_kind(&rc->install, "runfile")) {
		list_names(&rc->install, "runfile", names, sizeof(names));
		add_step(rc, "install-runfile", step_install_runfile,
			 "run the staged %s with its arguments", names);
	}
	if (items_of_kind(&rc->install, "file") || items_of_kind(&rc->remove, "file"))
		add_step(rc, "files", step_files, "write the stack's files, remove the old one's");
	add_step(rc, "frameworks", step_frameworks,
		 "framework builds for %s; /usr/local/cuda, the default Jupyter kernel and "
		 "/etc/profile.d point at the environment that works here",
		 dsvm_accelerator_to_string(dsvm_driver_kind_accelerator(rc->mode)));
	if (rc->mode != DSVM_DRIVER_NONE && dsvm_driver_kind_vendor(rc->mode) == DSVM_VENDOR_NVIDIA)
		add_step(rc, "initramfs", step_initramfs,
			 "rebuild the initramfs only if nouveau is in it");
	if (kind_changes)
		add_step(rc, "depmod", step_depmod, "depmod for kernel %s",
			 rc->fp.kernel[0] ? rc->fp.kernel : "(unknown)");
	if (items_of_kind(&rc->install, "service")) {
		list_names(&rc->install, "service", names, sizeof(names));
		add_step(rc, "services", step_services, "enable and start %s", names);
	}
	add_step(rc, "cdi", step_cdi, "regenerate the container toolkit's CDI spec for %s", to);
	if (rc->mode != DSVM_DRIVER_NONE)
		add_step(rc, "load-modules", step_load_modules, "load the %s module",
			 reconcile_module_of(rc->mode));
	add_step(rc, "health", step_health,
		 "health gate: GPU count as the size says, fabric manager with NVSwitch, module "
		 "version = library version");
	add_step(rc, "record", step_record,
		 "record the fingerprint and the installed kind (last, so a failure retries)");
	return 0;
}

/* --- the steps -------------------------------------------------------------------------------- */

static int step_notice(struct reconcile *rc, struct step *s)
{
	char msg[768];
	int r;

	(void)s;
	r = policy_rc_off(rc);
	if (r < 0)
		return r;
	snprintf(msg, sizeof(msg),
		 "dsvm-firstboot: switching the GPU driver stack from %s to %s (started at boot); "
		 "GPU tools may not work until it finishes: see 'dsvm-firstboot status'",
		 dsvm_driver_kind_to_string(rc->from), dsvm_driver_kind_to_string(rc->mode));
	r = reconcile_login_message(rc->ctx, msg);
	return r < 0 ? r : r > 0 ? DSVM_STEP_DONE : DSVM_STEP_UNCHANGED;
}

static const char *unit_of(const json_t *c)
{
	return str_of(json_object_get(c, "source"), "unit");
}

/* Remove the links `systemctl enable` made for unit. Returns how many. */
static int remove_unit_links(struct reconcile *rc, const char *unit)
{
	_cleanup_free_ char *pattern = strdup_printf("/etc/systemd/system/*.wants/%s", unit);
	glob_t g;
	int n = 0;

	if (!pattern)
		return -ENOMEM;
	glob_root(rc, pattern, &g);
	for (size_t i = 0; i < g.gl_pathc; i++)
		if (unlink(g.gl_pathv[i]) == 0)
			n++;
	globfree(&g);
	return n;
}

/*
 * Enabled: a .wants link whose unit file is there. A link left dangling (a runfile's uninstaller
 * took the unit file it pointed at) is removed, so `systemctl enable` makes it again for the
 * unit file the new stack brings. The link's target is an image path: resolved in the root.
 */
static bool unit_enabled(struct reconcile *rc, const char *unit)
{
	_cleanup_free_ char *pattern = strdup_printf("/etc/systemd/system/*.wants/%s", unit);
	bool found = false;
	glob_t g;

	if (!pattern)
		return false;
	glob_root(rc, pattern, &g);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		char target[PATH_MAX];
		ssize_t n = readlink(g.gl_pathv[i], target, sizeof(target) - 1);

		if (n > 0) {
			target[n] = '\0';
			if (target[0] == '/' && !exists_in_root(rc, target)) {
				(void)unlink(g.gl_pathv[i]);
				continue;
			}
		}
		found = true;
	}
	globfree(&g);
	return found;
}

static int step_stop_services(struct reconcile *rc, struct step *s)
{
	int changed = 0;

	for (size_t i = 0; i < rc->disable.n; i++) {
		const char *unit = unit_of(rc->disable.v[i]);
		int n;

		if (!unit)
			continue;
		if (rc->live_systemd)
			(void)systemctl_live(rc, "stop", unit);
		n = remove_unit_links(rc, unit);
		if (n < 0)
			return n;
		changed += n;
	}
	if (!rc->live_systemd)
		snprintf(s->note, sizeof(s->note),
			 "disabled through the root; not stopped: systemd is not running in '%s'",
			 dsvm_ctx_get_root(rc->ctx));
	return changed ? DSVM_STEP_DONE : DSVM_STEP_UNCHANGED;
}

static int step_unload_modules(struct reconcile *rc, struct step *s)
{
	static const char *const nvidia[] = { "nvidia_peermem", "nvidia_uvm", "nvidia_drm",
					      "nvidia_modeset", "nvidia" };
	static const char *const amd[] = { "amdgpu" };
	bool is_nvidia = dsvm_driver_kind_vendor(rc->from) == DSVM_VENDOR_NVIDIA;
	const char *const *mods = is_nvidia ? nvidia : amd;
	size_t n = is_nvidia ? ARRAY_SIZE(nvidia) : ARRAY_SIZE(amd);
	int changed = 0;

	if (!rc->live_kernel) {
		snprintf(s->note, sizeof(s->note),
			 "not this machine's kernel (hardware read from '%s'): the old module goes "
			 "with the reboot",
			 dsvm_ctx_get_sysroot(rc->ctx));
		return DSVM_STEP_NOT_PERFORMED;
	}
	for (size_t i = 0; i < n; i++) {
		char path[128], refcnt[32] = "";
		const char *argv[] = { "/sbin/rmmod", mods[i], NULL };
		_cleanup_free_ char *t = NULL;

		snprintf(path, sizeof(path), "/sys/module/%s/refcnt", mods[i]);
		if (access(path, F_OK) != 0)
			continue;
		if (read_file_capped(path, sizeof(refcnt), &t, NULL) >= 0)
			snprintf(refcnt, sizeof(refcnt), "%s", t);
		if (atoi(refcnt) != 0 || host_run(rc, argv) != 0) {
			rc->reboot_needed = true;
			snprintf(s->note, sizeof(s->note),
				 "'%s' is in use: the package work goes on and a reboot finishes "
				 "the switch",
				 mods[i]);
			continue;
		}
		changed++;
	}
	return changed ? DSVM_STEP_DONE : DSVM_STEP_UNCHANGED;
}

/* Remove every image path matching pattern; add their count to *n. */
static int remove_matching(struct reconcile *rc, const char *pattern, int *n)
{
	glob_t g;

	glob_root(rc, pattern, &g);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		if (unlink(g.gl_pathv[i]) < 0 && errno != ENOENT) {
			int r = dsvm_set_error(rc->ctx, -errno, "cannot remove '%s': %m",
					       g.gl_pathv[i]);

			globfree(&g);
			return r;
		}
		(*n)++;
	}
	globfree(&g);
	return 0;
}

static int step_uninstall_runfile(struct reconcile *rc, struct step *s)
{
	/* What NVIDIA's uninstaller must not leave (RECONCILE.md §3, "Runfile"). */
	static const char *const leftovers[] = {
		"/usr/lib/nvidia/alternate-install-present",
		"/etc/nvidia/gridd.conf",
		"/lib/modules/*/kernel/drivers/video/nvidia*.ko*",
	};
	int ran = 0, left = 0, r;

	for (size_t i = 0; i < rc->remove.n; i++) {
		const json_t *c = rc->remove.v[i];
		const char *version = str_of(c, "version");
		_cleanup_free_ char *receipt = NULL;
		bool installed;

		if (!streq(str_of(c, "kind"), "runfile"))
			continue;
		receipt = strdup_printf(RECEIPTS_DIR "/%s.installed", str_of(c, "name"));
		if (!receipt)
			return -ENOMEM;
		/* Only a runfile that is there is taken away: the paths below may be a package's. */
		installed = exists_in_root(rc, receipt) || exists_in_root(rc, NVIDIA_UNINSTALL);
		if (!installed)
			continue;
		if (exists_in_root(rc, NVIDIA_UNINSTALL)) {
			const char *argv[] = { NVIDIA_UNINSTALL, "--silent", NULL };

			r = run_in_root(rc, s, argv, NULL);
			if (r < 0)
				return r;
			ran++;
		}
		for (size_t j = 0; j < ARRAY_SIZE(leftovers); j++) {
			r = remove_matching(rc, leftovers[j], &left);
			if (r < 0)
				return r;
		}
		if (version && *version && !strchr(version, '/')) {
			char pattern[256];

			snprintf(pattern, sizeof(pattern),
				 "/usr/lib/x86_64-linux-gnu/lib*nvidia*.so.%s*", version);
			r = remove_matching(rc, pattern, &left);
			if (r >= 0) {
				snprintf(pattern, sizeof(pattern),
					 "/usr/lib/x86_64-linux-gnu/libcuda.so.%s*", version);
				r = remove_matching(rc, pattern, &left);
			}
			if (r < 0)
				return r;
		}
		r = remove_if_there(rc, receipt);
		if (r < 0)
			return r;
		ran++;
	}
	if (left)
		snprintf(s->note, sizeof(s->note), "removed %d file%s the uninstaller left behind",
			 left, left == 1 ? "" : "s");
	return ran || left ? DSVM_STEP_DONE : DSVM_STEP_UNCHANGED;
}

static int step_clear_dkms(struct reconcile *rc, struct step *s)
{
	int n = 0, r;

	r = remove_matching(rc, "/lib/modules/*/updates/dkms/nvidia*.ko*", &n);
	if (r >= 0)
		r = remove_matching(rc, "/lib/modules/*/updates/dkms/amdgpu*.ko*", &n);
	if (r < 0)
		return r;
	if (n)
		snprintf(s->note, sizeof(s->note), "removed %d stale DKMS module%s", n,
			 n == 1 ? "" : "s");
	return n ? DSVM_STEP_DONE : DSVM_STEP_UNCHANGED;
}

static size_t names_of_kind(const struct item_list *l, const char *kind, const char **out)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		if (streq(str_of(l->v[i], "kind"), kind))
			out[n++] = str_of(l->v[i], "name");
	return n;
}

static int step_packages(struct reconcile *rc, struct step *s)
{
	const char *install[2 * RECONCILE_MAX_ITEMS], *remove[RECONCILE_MAX_ITEMS];
	size_t ni = names_of_kind(&rc->install, "apt", install);
	size_t nr = names_of_kind(&rc->remove, "apt", remove);

	/* A kept stack is named too: apt keeps it installed and held while the rest goes. */
	ni += names_of_kind(&rc->kept, "apt", install + ni);
	/* A root without the offline repository has no driver package to take away either. */
	if (!ni && !exists_in_root(rc, OFFLINE_INDEX)) {
		snprintf(s->note, sizeof(s->note),
			 "no offline repository (%s) in the root: nothing "
			 "to install or purge",
			 OFFLINE_INDEX);
		return DSVM_STEP_UNCHANGED;
	}
	bool changed = false;
	double t0;
	int r;

	r = policy_rc_on(rc);
	if (r < 0)
		return r;
	t0 = reconcile_now_s();
	r = dsvm_apt_offline_switch(rc->ctx, install, ni, remove, nr, rc->conf.program_timeout_s,
				    &changed);
	rc->external_s += reconcile_now_s() - t0;
	{
		int r2 = policy_rc_off(rc);

		if (r >= 0)
			r = r2;
	}
	if (r < 0)
		return r;
	return changed ? DSVM_STEP_DONE : DSVM_STEP_UNCHANGED;
}

/* The staged payload of a component's one artifact, as an image path; NULL when it has none. */
static char *payload_of(const json_t *c)
{
	const char *sha = str_of(json_array_get(json_object_get(c, "artifacts"), 0), "sha256");

	return sha && is_sha256_hex(sha) ? strdup_printf(REPO_DIR "/%s", sha) : NULL;
}

static int missing_payload(struct reconcile *rc, const json_t *c, const char *payload)
{
	return dsvm_set_error(rc->ctx, -ENOENT,
			      "the payload of '%s' is not in the image ('%s'): it was built "
			      "without this driver stack staged; rebuild it with every driver kind",
			      str_of(c, "name"), payload ? payload : "no artifact");
}

static int step_install_runfile(struct reconcile *rc, struct step *s)
{
	int changed = 0;

	for (size_t i = 0; i < rc->install.n; i++) {
		const json_t *c = rc->install.v[i], *arg;
		_cleanup_free_ char *payload = NULL, *receipt = NULL, *mark = NULL, *old = NULL;
		_cleanup_free_ char *host = NULL;
		const char *argv[16] = { "/bin/sh" };
		size_t n = 1, k;
		int r;

		if (!streq(str_of(c, "kind"), "runfile"))
			continue;
		payload = payload_of(c);
		receipt = strdup_printf(RECEIPTS_DIR "/%s.installed", str_of(c, "name"));
		if (!receipt)
			return -ENOMEM;
		/* The module a runfile builds is for one kernel: another kernel runs it again. */
		mark = strdup_printf("%s\nkernel %s\n", payload ? payload : "", rc->fp.kernel);
		host = in_root(rc, receipt);
		if (!mark || !host)
			return -ENOMEM;
		if (read_file_capped(host, 4096, &old, NULL) >= 0 && streq(old, mark))
			continue;
		if (!payload || !exists_in_root(rc, payload))
			return missing_payload(rc, c, payload);
		argv[n++] = payload;
		json_array_foreach(json_object_get(c, "args"), k,
				   arg) if (n < ARRAY_SIZE(argv) - 1 && json_string_value(arg))
			argv[n++] = json_string_value(arg);
		argv[n] = NULL;
		r = run_in_root(rc, s, argv, NULL);
		if (r < 0)
			return r;
		r = write_if_changed(rc, receipt, mark, 0644);
		if (r < 0)
			return r;
		changed++;
	}
	return changed ? DSVM_STEP_DONE : DSVM_STEP_UNCHANGED;
}

static int step_files(struct reconcile *rc, struct step *s)
{
	int changed = 0, r;

	(void)s;
	for (size_t i = 0; i < rc->remove.n; i++) {
		const char *dest = str_of(json_object_get(rc->remove.v[i], "source"), "dest");

		if (!streq(str_of(rc->remove.v[i], "kind"), "file") || !dest)
			continue;
		r = remove_if_there(rc, dest);
		if (r < 0)
			return r;
		changed += r;
	}
	for (size_t i = 0; i < rc->install.n; i++) {
		const json_t *c = rc->install.v[i];
		const char *dest = str_of(json_object_get(c, "source"), "dest");
		const char *sha = str_of(json_array_get(json_object_get(c, "artifacts"), 0), "sha25"
											     "6");
		_cleanup_free_ char *payload = payload_of(c), *host = NULL, *text = NULL;
		_cleanup_free_ char *p = NULL;
		char have[65];

		if (!streq(str_of(c, "kind"), "file") || !dest)
			continue;
		host = in_root(rc, dest);
		if (!host)
			return -ENOMEM;
		if (sha && sha256_file_hex(host, have) >= 0 && streq(have, sha))
			continue;
		p = payload ? in_root(rc, payload) : NULL;
		if (!p || read_file_capped(p, 16u << 20, &text, NULL) < 0)
			return missing_payload(rc, c, payload);
		r = write_if_changed(rc, dest, text, 0644);
		if (r < 0)
			return r;
		changed++;
	}
	return changed ? DSVM_STEP_DONE : DSVM_STEP_UNCHANGED;
}

/* Is the wheel's distribution installed (at version, or any when NULL) in the environment? */
static bool wheel_installed(struct reconcile *rc, const char *env, const char *package,
			    const char *version)
{
	_cleanup_free_ char *norm = strdup(package), *pattern = NULL;
	glob_t g;
	size_t n;

	if (!norm)
		return false;
	for (char *p = norm; *p; p++)
		if (*p == '-' || *p == '.')
			*p = '_';
	pattern = strdup_printf(ENVS_DIR "/%s/lib/python3*/site-packages/%s-%s.dist-info", env,
				norm, version ? version : "*");
	if (!pattern)
		return false;
	n = glob_root(rc, pattern, &g);
	globfree(&g);
	return n > 0;
}

static int pip_remove(struct reconcile *rc, struct step *s, const json_t *c, int *changed)
{
	const json_t *src = json_object_get(c, "source");
	const char *env = str_of(src, "environment"), *pkg = str_of(src, "package");
	_cleanup_free_ char *python = NULL;
	int r;

	if (!env || !pkg || !wheel_installed(rc, env, pkg, NULL))
		return 0;
	python = strdup_printf(ENVS_DIR "/%s/bin/python", env);
	if (!python)
		return -ENOMEM;
	{
		const char *argv[] = { python,	"-m",	   "pip", "uninstall",
				       "--yes", "--quiet", pkg,	  NULL };

		r = run_in_root(rc, s, argv, NULL);
	}
	if (r < 0)
		return r;
	(*changed)++;
	return 0;
}

static int pip_install(struct reconcile *rc, struct step *s, const json_t *c, int *changed)
{
	const json_t *src = json_object_get(c, "source");
	const char *env = str_of(src, "environment"), *pkg = str_of(src, "package");
	const char *name = str_of(json_array_get(json_object_get(c, "artifacts"), 0), "name");
	_cleanup_free_ char *payload = payload_of(c), *python = NULL, *wheel = NULL;
	_cleanup_free_ char *text = NULL, *p = NULL, *host = NULL, *dir = NULL;
	size_t size = 0;
	int r;

	if (!env || !pkg || !name || strchr(name, '/') ||
	    wheel_installed(rc, env, pkg, str_of(src, "version")))
		return 0;
	python = strdup_printf(ENVS_DIR "/%s/bin/python", env);
	wheel = strdup_printf(RECEIPTS_DIR "/wheels/%s", name);
	if (!python || !wheel)
		return -ENOMEM;
	if (!exists_in_root(rc, python)) {
		snprintf(s->note, sizeof(s->note), "environment '%s' is not in the image", env);
		return 0;
	}
	p = payload ? in_root(rc, payload) : NULL;
	if (!p || read_file_capped(p, 1u << 30, &text, &size) < 0)
		return missing_payload(rc, c, payload);
	/* pip needs the wheel's own file name; the repository names payloads by hash. */
	host = in_root(rc, wheel);
	if (!host || !(dir = path_dirname(host)))
		return -ENOMEM;
	r = mkdir_parents(dir, 0755);
	if (r >= 0)
		r = write_file_atomic(host, text, size, 0644);
	if (r < 0)
		return dsvm_set_error(rc->ctx, r, "cannot write '%s': %s", host, strerror(-r));
	{
		const char *argv[] = { python,	    "-m",      "pip", "install", "--no-index",
				       "--no-deps", "--quiet", wheel, NULL };

		r = run_in_root(rc, s, argv, NULL);
	}
	(void)remove_if_there(rc, wheel);
	if (r < 0)
		return r;
	(*changed)++;
	return 0;
}

/* The environment the lock's framework builds go into ("py312"), or NULL. */
static const char *default_env(struct reconcile *rc)
{
	const json_t *c;
	size_t i;

	json_array_foreach(json_object_get(rc->lock_json, "components"), i,
			   c) if (streq(str_of(c, "kind") ?: "", "pip") &&
				  str_of(json_object_get(c, "source"),
					 "environment")) return str_of(json_object_get(c, "source"),
								       "environment");
	return NULL;
}

/* /usr/local/cuda -> the newest cuda-M.m in the image on NVIDIA and CPU; gone on AMD. */
static int cuda_link(struct reconcile *rc, int *changed)
{
	_cleanup_free_ char *link = in_root(rc, "/usr/local/cuda"), *tmp = NULL;
	char have[256] = "", want[256] = "";
	glob_t g;
	ssize_t n;

	if (!link)
		return -ENOMEM;
	n = readlink(link, have, sizeof(have) - 1);
	if (n >= 0)
		have[n] = '\0';
	else if (errno != ENOENT)
		return 0; /* a directory someone made: not ours to replace */
	if (dsvm_driver_kind_vendor(rc->mode) != DSVM_VENDOR_AMD) {
		glob_root(rc, "/usr/local/cuda-[0-9]*", &g);
		for (size_t i = 0; i < g.gl_pathc; i++) {
			const char *base = strrchr(g.gl_pathv[i], '/') + 1;

			if (!want[0] || version_compare(base + 5, want + 5) > 0)
				snprintf(want, sizeof(want), "%s", base);
		}
		globfree(&g);
	}
	if (streq(have, want))
		return 0;
	if (!want[0]) {
		if (unlink(link) < 0 && errno != ENOENT)
			return dsvm_set_error(rc->ctx, -errno, "cannot remove '%s': %m", link);
		(*changed)++;
		return 0;
	}
	tmp = strdup_printf("%s.dsvm-new", link);
	if (!tmp)
		return -ENOMEM;
	(void)unlink(tmp);
	if (symlink(want, tmp) < 0 || rename(tmp, link) < 0)
		return dsvm_set_error(rc->ctx, -errno, "cannot point '%s' at '%s': %m", link, want);
	(*changed)++;
	return 0;
}

static int step_frameworks(struct reconcile *rc, struct step *s)
{
	const char *accel = dsvm_accelerator_to_string(dsvm_driver_kind_accelerator(rc->mode));
	const char *env = default_env(rc);
	_cleanup_free_ char *profile = NULL, *kernel = NULL;
	int changed = 0, r = 0;

	for (size_t i = 0; r >= 0 && i < rc->remove.n; i++)
		if (streq(str_of(rc->remove.v[i], "kind"), "pip"))
			r = pip_remove(rc, s, rc->remove.v[i], &changed);
	for (size_t i = 0; r >= 0 && i < rc->install.n; i++)
		if (streq(str_of(rc->install.v[i], "kind"), "pip"))
			r = pip_install(rc, s, rc->install.v[i], &changed);
	if (r >= 0)
		r = cuda_link(rc, &changed);
	if (r < 0)
		return r;
	if (!env)
		return changed ? DSVM_STEP_DONE : DSVM_STEP_UNCHANGED;
	/* On CPU the CUDA build stays the default: it runs there (RECONCILE.md §8). */
	profile = strdup_printf("# Written by dsvm-firstboot: the framework environment that works "
				"on this VM.\n"
				"export DSVM_ACCELERATOR=%s\n"
				"export DSVM_DEFAULT_ENV=" ENVS_DIR "/%s\n"
				"case \":$PATH:\" in *\":" ENVS_DIR "/%s/bin:\"*) ;; *) "
				"PATH=\"" ENVS_DIR "/%s/"
				"bin:$"
				"PATH\" ;; "
				"esac\n",
				accel, env, env, env);
	kernel = strdup_printf("{\n  \"argv\": [\"" ENVS_DIR "/%s/bin/python\", \"-m\", "
			       "\"ipykernel_launcher\", \"-f\", \"{connection_file}\"],\n"
			       "  \"display_name\": \"Python (%s, %s)\",\n"
			       "  \"language\": \"python\"\n}\n",
			       env, env, accel);
	if (!profile || !kernel)
		return -ENOMEM;
	r = write_if_changed(rc, PROFILE_ENV, profile, 0644);
	if (r >= 0)
		changed += r;
	if (r >= 0)
		r = write_if_changed(rc, KERNEL_JSON, kernel, 0644);
	if (r < 0)
		return r;
	changed += r;
	return changed ? DSVM_STEP_DONE : DSVM_STEP_UNCHANGED;
}

static int step_initramfs(struct reconcile *rc, struct step *s)
{
	_cleanup_free_ char *initrd = strdup_printf("/boot/initrd.img-%s", rc->fp.kernel);
	_cleanup_free_ char *out = NULL;
	int r;

	if (!initrd)
		return -ENOMEM;
	if (!rc->fp.kernel[0] || !exists_in_root(rc, initrd) ||
	    !exists_in_root(rc, "/usr/bin/lsinitramfs")) {
		snprintf(s->note, sizeof(s->note),
			 "no initramfs for kernel '%s' in the root: the nouveau blacklist in "
			 "/etc/modprobe.d applies when modules load",
			 rc->fp.kernel);
		return DSVM_STEP_UNCHANGED;
	}
	{
		const char *argv[] = { "/usr/bin/lsinitramfs", initrd, NULL };

		r = run_in_root(rc, s, argv, &out);
	}
	if (r < 0)
		return r;
	if (!out || !strstr(out, "nouveau")) {
		snprintf(s->note, sizeof(s->note), "nouveau is not in %s: no rebuild needed",
			 initrd);
		return DSVM_STEP_UNCHANGED;
	}
	{
		const char *argv[] = { "/usr/sbin/update-initramfs", "-u", "-k", rc->fp.kernel,
				       NULL };

		r = run_in_root(rc, s, argv, NULL);
	}
	return r < 0 ? r : DSVM_STEP_DONE;
}

static int step_depmod(struct reconcile *rc, struct step *s)
{
	_cleanup_free_ char *dir = strdup_printf("/lib/modules/%s", rc->fp.kernel);
	const char *depmod =
		exists_in_root(rc, "/usr/sbin/depmod") ? "/usr/sbin/depmod" : "/sbin/depmod";
	int r;

	if (!dir)
		return -ENOMEM;
	if (!rc->fp.kernel[0] || !exists_in_root(rc, dir) || !exists_in_root(rc, depmod)) {
		snprintf(s->note, sizeof(s->note), "no %s (or no depmod) in the root",
			 rc->fp.kernel[0] ? dir : "/lib/modules/<kernel>");
		return DSVM_STEP_NOT_PERFORMED;
	}
	{
		const char *argv[] = { depmod, "-a", rc->fp.kernel, NULL };

		r = run_in_root(rc, s, argv, NULL);
	}
	return r < 0 ? r : DSVM_STEP_DONE;
}

static int step_services(struct reconcile *rc, struct step *s)
{
	_cleanup_free_ char *root_opt = strdup_printf("--root=%s", dsvm_ctx_get_root(rc->ctx));
	int changed = 0, r;

	if (!root_opt)
		return -ENOMEM;
	if (rc->live_systemd)
		(void)systemctl_live(rc, "daemon-reload", NULL);
	for (size_t i = 0; i < rc->install.n; i++) {
		const char *unit = unit_of(rc->install.v[i]);

		if (!streq(str_of(rc->install.v[i], "kind"), "service") || !unit)
			continue;
		if (!unit_enabled(rc, unit)) {
			const char *argv[] = { systemctl_path(), root_opt, "enable", unit, NULL };

			r = host_run(rc, argv);
			if (r != 0) {
				snprintf(s->note, sizeof(s->note), "cannot enable '%s': %s", unit,
					 dsvm_ctx_get_error(rc->ctx));
				return dsvm_set_error(rc->ctx, r < 0 ? r : -EIO, "%s", s->note);
			}
			changed++;
		}
		/* --no-block: the unit is ordered after this one, which is still running. */
		if (rc->live_systemd)
			(void)systemctl_live(rc, "start", unit);
	}
	if (!rc->live_systemd)
		snprintf(s->note, sizeof(s->note),
			 "enabled through the root; not started: systemd is not running in '%s'",
			 dsvm_ctx_get_root(rc->ctx));
	return changed ? DSVM_STEP_DONE : DSVM_STEP_UNCHANGED;
}

static int step_cdi(struct reconcile *rc, struct step *s)
{
	bool nvidia = dsvm_driver_kind_vendor(rc->mode) == DSVM_VENDOR_NVIDIA;
	int r;

	if (!nvidia) {
		r = remove_if_there(rc, CDI_SPEC);
		return r < 0 ? r : r ? DSVM_STEP_DONE : DSVM_STEP_UNCHANGED;
	}
	if (!exists_in_root(rc, "/usr/bin/nvidia-ctk")) {
		snprintf(s->note, sizeof(s->note),
			 "the NVIDIA container toolkit (nvidia-ctk) is not in the image");
		return DSVM_STEP_NOT_PERFORMED;
	}
	if (!rc->live_kernel) {
		snprintf(s->note, sizeof(s->note),
			 "nvidia-ctk reads the loaded driver: regenerated on the next boot");
		return DSVM_STEP_NOT_PERFORMED;
	}
	{
		static const char output[] = "--output=" CDI_SPEC;
		const char *argv[] = { "/usr/bin/nvidia-ctk", "cdi", "generate", output, NULL };

		r = run_in_root(rc, s, argv, NULL);
	}
	return r < 0 ? r : DSVM_STEP_DONE;
}

static int step_load_modules(struct reconcile *rc, struct step *s)
{
	const char *module = reconcile_module_of(rc->mode);
	const char *argv[] = { "/sbin/modprobe", module, NULL };
	int r;

	if (!rc->live_kernel) {
		snprintf(s->note, sizeof(s->note),
			 "hardware is read from '%s', not this machine's kernel: the module loads "
			 "with the next boot and is checked then",
			 dsvm_ctx_get_sysroot(rc->ctx));
		return DSVM_STEP_NOT_PERFORMED;
	}
	if (rc->reboot_needed) {
		snprintf(s->note, sizeof(s->note),
			 "the old module is still loaded: after the reboot");
		return DSVM_STEP_NOT_PERFORMED;
	}
	r = host_run(rc, argv);
	if (r != 0) {
		snprintf(s->note, sizeof(s->note), "modprobe %s failed: %s", module,
			 dsvm_ctx_get_error(rc->ctx));
		return dsvm_set_error(rc->ctx, r < 0 ? r : -EIO, "%s", s->note);
	}
	rc->modules_loaded = true;
	return DSVM_STEP_DONE;
}

/* GPUs on PCI, NVSwitch bridges not counted. */
static unsigned pci_gpus(struct reconcile *rc)
{
	unsigned n = 0;

	for (size_t i = 0; i < dsvm_hw_get_n_gpus(rc->hw); i++) {
		const struct dsvm_gpu *g = dsvm_hw_get_gpu(rc->hw, i);

		n += (g->class_code >> 8) != DSVM_PCI_CLASS_BRIDGE;
	}
	return n;
}

static int step_health(struct reconcile *rc, struct step *s)
{
	const struct dsvm_size_info *size = rc->choice.size;
	char loaded[64];

	if (rc->mode == DSVM_DRIVER_NONE)
		return DSVM_STEP_UNCHANGED;
	if (size && size->pci_gpus && pci_gpus(rc) != size->pci_gpus) {
		snprintf(s->note, sizeof(s->note), "health: %s has %u GPU%s but PCI shows %u",
			 size->name, size->pci_gpus, size->pci_gpus == 1 ? "" : "s", pci_gpus(rc));
		return dsvm_set_error(rc->ctx, -EIO, "%s", s->note);
	}
	if (rc->fp.nvswitch && dsvm_driver_kind_vendor(rc->mode) == DSVM_VENDOR_NVIDIA &&
	    !unit_enabled(rc, "nvidia-fabricmanager.service")) {
		snprintf(s->note, sizeof(s->note),
			 "health: NVSwitch present but nvidia-fabricmanager.service is not enabled "
			 "(the image's %s stack has no fabric manager for NVSwitch)",
			 dsvm_driver_kind_to_string(rc->mode));
		return dsvm_set_error(rc->ctx, -EIO, "%s", s->note);
	}
	if (!rc->modules_loaded) {
		snprintf(s->note, sizeof(s->note),
			 "GPU count and services as the size says; the module version is checked "
			 "once the module is loaded (next boot)");
		return DSVM_STEP_DONE;
	}
	reconcile_loaded_version(rc->ctx, rc->mode, loaded, sizeof(loaded));
	if (!streq(loaded, rc->target.version)) {
		snprintf(s->note, sizeof(s->note),
			 "health: the loaded %s module is '%s', the installed libraries '%s'",
			 reconcile_module_of(rc->mode), loaded, rc->target.version);
		return dsvm_set_error(rc->ctx, -EIO, "%s", s->note);
	}
	return DSVM_STEP_DONE;
}

static int step_record(struct reconcile *rc, struct step *s)
{
	/*
	 * Decided here, not by the health step: a run resumed after a kill skips the steps the
	 * killed one finished. A module this run did not load is checked on the next boot.
	 */
	bool pending = rc->mode != DSVM_DRIVER_NONE && !rc->modules_loaded;
	enum dsvm_state_result result = rc->result != DSVM_RESULT_OK ? rc->result
					: pending		     ? DSVM_RESULT_PENDING
								     : DSVM_RESULT_OK;
	char msg[1280] = "";
	int r;

	rc->final = result;
	r = reconcile_record(rc, result, rc->reason);
	if (r < 0)
		return r;
	if (result == DSVM_RESULT_OK)
		(void)dsvm_attempts_clear(rc->ctx);
	if (result == DSVM_RESULT_FALLBACK || result == DSVM_RESULT_BLOCKED)
		snprintf(msg, sizeof(msg), "dsvm-firstboot: CPU mode: %s", rc->reason);
	else if (rc->reboot_needed)
		snprintf(msg, sizeof(msg),
			 "dsvm-firstboot: the switch to %s is installed; reboot to finish it (the "
			 "old "
			 "module is still loaded)",
			 dsvm_driver_kind_to_string(rc->mode));
	r = reconcile_login_message(rc->ctx, msg);
	if (r < 0)
		return r;
	/* reboot=auto: an old module was busy; the reboot finishes the switch (live only). */
	if (rc->reboot_needed && rc->conf.reboot == DSVM_REBOOT_AUTO && rc->live_systemd) {
		const char *argv[] = { systemctl_path(), "reboot", "--no-block", NULL };

		if (host_run(rc, argv) != 0)
			snprintf(s->note, sizeof(s->note),
				 "reboot=auto: cannot ask for a reboot: %s",
				 dsvm_ctx_get_error(rc->ctx));
		else
			snprintf(s->note, sizeof(s->note),
				 "reboot=auto: rebooting to finish the switch");
	}
	return DSVM_STEP_DONE;
}
