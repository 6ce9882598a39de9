/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "dsvm/catalog.h"
#include "dsvm/exec.h"
#include "dsvm/journal.h"
#include "dsvm/lock.h"
#include "dsvm/reconcile.h"
#include "dsvm/select.h"
#include "dsvm/state.h"
#include "internal.h"
#include "lock-internal.h"
#include "reconcile-internal.h"
#include "stacks-internal.h"

#define JOURNAL_NAME "firstboot"

static const char *const outcome_names[_DSVM_RECONCILE_MAX] = {
	[DSVM_RECONCILE_NOOP] = "no-op",      [DSVM_RECONCILE_CONVERGED] = "converged",
	[DSVM_RECONCILE_PENDING] = "pending", [DSVM_RECONCILE_FALLBACK] = "fallback",
	[DSVM_RECONCILE_BLOCKED] = "blocked", [DSVM_RECONCILE_FAILED] = "failed",
};

const char *dsvm_reconcile_outcome_to_string(enum dsvm_reconcile_outcome o)
{
	return o >= 0 && o < _DSVM_RECONCILE_MAX ? outcome_names[o] : "failed";
}

const char *dsvm_step_outcome_to_string(enum dsvm_step_outcome o)
{
	static const char *const names[] = { "planned", "done",		 "unchanged",
					     "skipped", "not performed", "failed" };

	return o < ARRAY_SIZE(names) ? names[o] : "failed";
}

/* --- reading the machine ------------------------------------------------------------------ */

/* Healthy as recorded: CPU mode, or the mode's module loaded at the recorded version. */
static bool module_matches(struct dsvm_ctx *ctx, const struct dsvm_state *st, char *why,
			   size_t size)
{
	char loaded[64];

	if (st->mode == DSVM_DRIVER_NONE)
		return true;
	reconcile_loaded_version(ctx, st->mode, loaded, sizeof(loaded));
	if (streq(loaded, st->version))
		return true;
	if (loaded[0])
		snprintf(why, size,
			 "health: the loaded %s module is version '%s' but the installed %s stack "
			 "is "
			 "'%s' (driver/library version mismatch)",
			 reconcile_module_of(st->mode), loaded,
			 dsvm_driver_kind_to_string(st->mode), st->version);
	else
		snprintf(why, size, "health: the %s module of %s %s is not loaded",
			 reconcile_module_of(st->mode), dsvm_driver_kind_to_string(st->mode),
			 st->version);
	return false;
}

static bool journal_pending(struct dsvm_ctx *ctx)
{
	_cleanup_free_ char *path = root_path_resolved(ctx, DSVM_JOURNAL_DIR "/" JOURNAL_NAME ".jou"
									     "rna"
									     "l");

	return path && access(path, F_OK) == 0;
}

static bool path_is_slash(const char *p)
{
	return !p || streq(p, "/");
}

/* --- the run --------------------------------------------------------------------------------- */

static void fill_summary(struct dsvm_reconcile_summary *sum, const struct dsvm_state *st,
			 enum dsvm_reconcile_outcome o, const struct dsvm_fingerprint *fp)
{
	bool cpu = st->mode == DSVM_DRIVER_NONE;

	sum->outcome = o;
	sum->to = st->mode;
	snprintf(sum->branch, sizeof(sum->branch), "%s", cpu ? "" : st->branch);
	snprintf(sum->version, sizeof(sum->version), "%s", cpu ? "" : st->version);
	snprintf(sum->reason, sizeof(sum->reason), "%s", st->reason);
	sum->reboot_needed = st->reboot_needed;
	dsvm_fingerprint_describe(fp, sum->fingerprint, sizeof(sum->fingerprint));
}

/*
 * The fast path. Returns 1 (done: *sum filled) when nothing needs doing, 0 when a reconcile is
 * needed (health_failure set when the recorded stack is not healthy), or -errno.
 */
static int try_noop(struct dsvm_ctx *ctx, const struct dsvm_state *st,
		    const struct dsvm_fingerprint *fp, const char *boot_id, bool plan_only,
		    char *health_failure, size_t size, struct dsvm_reconcile_summary *sum)
{
	struct dsvm_state verified;

	if (!st->has_fingerprint || !dsvm_fingerprint_matches(&st->fp, fp) || journal_pending(ctx))
		return 0;
	switch (st->result) {
	case DSVM_RESULT_FALLBACK:
	case DSVM_RESULT_BLOCKED:
		fill_summary(sum, st, DSVM_RECONCILE_NOOP, fp);
		return 1;
	case DSVM_RESULT_OK:
		if (!module_matches(ctx, st, health_failure, size))
			return 0;
		fill_summary(sum, st, DSVM_RECONCILE_NOOP, fp);
		return 1;
	case DSVM_RESULT_PENDING:
		/* The module of a switch that could not load it is checked after the next boot. */
		if (streq(boot_id, st->boot_id)) {
			fill_summary(sum, st, DSVM_RECONCILE_NOOP, fp);
			return 1;
		}
		if (!module_matches(ctx, st, health_failure, size))
			return 0;
		verified = *st;
		verified.result = DSVM_RESULT_OK;
		verified.reboot_needed = false;
		snprintf(verified.boot_id, sizeof(verified.boot_id), "%s", boot_id);
		snprintf(verified.reason, sizeof(verified.reason),
			 "%s %s: module loaded at the installed version after the reboot",
			 dsvm_driver_kind_to_string(st->mode), st->version);
		if (!plan_only) {
			int r = dsvm_state_save(ctx, &verified);

			if (r < 0)
				return r;
			(void)dsvm_attempts_clear(ctx);
			(void)reconcile_login_message(ctx, "");
		}
		fill_summary(sum, &verified, DSVM_RECONCILE_CONVERGED, fp);
		return 1;
	default:
		return 0;
	}
}

static int load_inputs(struct reconcile *rc, const struct dsvm_reconcile_options *opts)
{
	struct dsvm_ctx *ctx = rc->ctx;
	_cleanup_free_ char *lock_path = opts->lock_path ? strdup(opts->lock_path)
							 : root_path_resolved(ctx, DSVM_IMAGE_LOCK);
	_cleanup_free_ char *catalog = opts->catalog_dir
					       ? strdup(opts->catalog_dir)
					       : root_path_resolved(ctx, DSVM_IMAGE_CATALOG);
	int r;

	if (!lock_path || !catalog)
		return -ENOMEM;
	r = dsvm_lock_load(ctx, lock_path, &rc->lock);
	if (r < 0)
		return r;
	rc->lock_json = dsvm_lock_json(rc->lock);
	r = dsvm_catalog_load(ctx, catalog, &rc->catalog);
	if (r < 0)
		return r;
	return dsvm_firstboot_conf_load(ctx, &rc->conf);
}

/* What a full scan would have found, as recorded: the inventory key says it is unchanged. */
static void fingerprint_keep_pci(struct dsvm_fingerprint *now, const struct dsvm_fingerprint *was)
{
	snprintf(now->gpus, sizeof(now->gpus), "%s", was->gpus);
	now->infiniband = was->infiniband;
	now->nvswitch = was->nvswitch;
}

/*
 * A no-op after a full scan, with a key the state lacks (a state from before the key, or a PCI
 * change that left the fingerprint as it was): record the key, so the next boot skips the scan.
 */
static void remember_inventory(struct reconcile *rc)
{
	struct dsvm_state st = rc->state;
	char again[DSVM_INVENTORY_KEY_SIZE];

	if (!rc->pci_inventory[0] || streq(rc->pci_inventory, st.pci_inventory) ||
	    dsvm_pci_inventory_key(rc->ctx, again) < 0 || !streq(again, rc->pci_inventory))
		return;
	snprintf(st.pci_inventory, sizeof(st.pci_inventory), "%s", rc->pci_inventory);
	if (dsvm_state_save(rc->ctx, &st) < 0)
		dsvm_warn(rc->ctx, "%s", dsvm_ctx_get_error(rc->ctx));
}

/*
 * The key recorded with this run's fingerprint must describe the PCI functions the scan saw: a
 * device that came or went during the scan leaves no key, and the next boot scans again.
 */
static void inventory_settled(struct reconcile *rc)
{
	char again[DSVM_INVENTORY_KEY_SIZE];

	if (rc->pci_inventory[0] &&
	    (dsvm_pci_inventory_key(rc->ctx, again) < 0 || !streq(again, rc->pci_inventory)))
		rc->pci_inventory[0] = '\0';
}

/* The full detection: IMDS is asked only now, when the size is unknown and a change is likely. */
static int detect_for_plan(struct reconcile *rc, const struct dsvm_reconcile_options *opts)
{
	struct dsvm_hw_summary hs;
	int r;

	if (!dsvm_hw_get_vm_size(rc->hw) && !opts->hw.no_imds && !opts->hw.vm_size) {
		struct dsvm_hw *again = NULL;

		if (dsvm_hw_detect(rc->ctx, &opts->hw, &again) >= 0) {
			dsvm_hw_free(rc->hw);
			rc->hw = again;
			dsvm_fingerprint_from_hw(rc->hw, &rc->fp);
		}
	}
	dsvm_hw_get_summary(rc->hw, &hs);
	r = dsvm_driver_select(rc->ctx, rc->catalog, &hs, &rc->choice);
	if (r < 0)
		return r;
	return dsvm_stack_choose(rc->ctx, rc->lock, &rc->choice, &rc->target);
}

/* Where the driver stack on disk comes from: the state, else what the build installed. */
static void current_stack(struct reconcile *rc)
{
	const json_t *s;

	if (rc->has_state) {
		rc->from = rc->state.kind;
		snprintf(rc->from_branch, sizeof(rc->from_branch), "%s", rc->state.branch);
		snprintf(rc->from_version, sizeof(rc->from_version), "%s", rc->state.version);
		return;
	}
	s = stacks_installed(rc->lock_json);
	rc->from = s ? dsvm_driver_kind_from_string(json_string_value(json_object_get(s, "driver_"
											 "kind")))
		     : DSVM_DRIVER_NONE;
	snprintf(rc->from_branch, sizeof(rc->from_branch), "%s",
		 s ? json_string_value(json_object_get(s, "branch")) ?: "" : "");
	snprintf(rc->from_version, sizeof(rc->from_version), "%s",
		 s ? json_string_value(json_object_get(s, "version")) ?: "" : "");
}

/*
 * Secure Boot and the attempt counter may turn the target into CPU mode (RECONCILE.md §6, §10:
 * DKMS and runfile modules are not signed by a key the platform trusts, and there is no console
 * on Azure to enrol one, so no MOK enrolment is ever queued).
 */
/* Whether the tree at dir holds <module>.ko (plain or compressed), at most depth levels down. */
static bool module_in_tree(const char *dir, const char *module, unsigned depth)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	size_t len = strlen(module);
	const struct dirent *de;

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *sub = NULL;

		if (de->d_name[0] == '.')
			continue;
		if (strncmp(de->d_name, module, len) == 0 &&
		    (streq(de->d_name + len, ".ko") || strncmp(de->d_name + len, ".ko.", 4) == 0))
			return true;
		if (de->d_type != DT_DIR || depth == 0 || streq(de->d_name, "build") ||
		    streq(de->d_name, "source"))
			continue;
		sub = strdup_printf("%s/%s", dir, de->d_name);
		if (sub && module_in_tree(sub, module, depth - 1))
			return true;
	}
	return false;
}

/*
 * A kernel other than the one the state recorded: the stack's module may not exist for it (an
 * unattended upgrade of an image whose kernel was not held). Returns true, with the reason in
 * rc, when the kind cannot come up on this kernel from what the image carries: no module for
 * it, and no way to build one offline (only a runfile rebuilds its module on install, and only
 * with the kernel's headers).
 */
static bool kernel_strands_module(struct reconcile *rc)
{
	const char *kernel = rc->fp.kernel, *module = reconcile_module_of(rc->target.kind);
	const json_t *stack = stacks_find(rc->lock_json, rc->target.kind, rc->target.branch);
	const char *driver =
		stack ? json_string_value(json_object_get(stack, "driver_component")) : NULL;
	const char *how = NULL;
	_cleanup_free_ char *img = NULL, *tree = NULL, *build = NULL;
	const json_t *c;
	size_t i;

	if (!rc->has_state || !rc->state.has_fingerprint || !rc->state.fp.kernel[0] || !kernel[0] ||
	    streq(kernel, rc->state.fp.kernel) || !module)
		return false;
	img = strdup_printf("/lib/modules/%s", kernel);
	tree = img ? root_path_resolved(rc->ctx, img) : NULL;
	build = tree ? strdup_printf("%s/build", tree) : NULL;
	if (!build || module_in_tree(tree, module, 8))
		return false;
	json_array_foreach(stack ? json_object_get(stack, "components") : NULL, i,
			   c) if (driver &&
				  streq(json_string_value(json_object_get(c, "name")), driver))
		how = json_string_value(json_object_get(c, "kind"));
	if (how && streq(how, "runfile") && access(build, F_OK) == 0)
		return false; /* the staged runfile builds it again, for this kernel */
	snprintf(rc->reason, sizeof(rc->reason),
		 "blocked: kernel %s: no %s module for it in %s and %s; CPU mode. The stack was "
		 "installed for kernel %s. Way out: boot kernel %s again, or install the kernel's "
		 "%s, then run 'dsvm-firstboot reset' and reboot; `dsvm-build image` holds the "
		 "image's kernel packages so that unattended upgrades do not do this",
		 kernel, module, img,
		 how && streq(how, "runfile") ? "no headers to build one offline"
					      : "the image carries none for this kernel",
		 rc->state.fp.kernel, rc->state.fp.kernel,
		 how && streq(how, "runfile") ? "headers (linux-headers-<release>)"
					      : "module package");
	return true;
}

static void decide_mode(struct reconcile *rc)
{
	rc->mode = rc->target.kind;
	rc->result = DSVM_RESULT_OK;
	snprintf(rc->reason, sizeof(rc->reason), "%s", rc->target.reason);
	if (rc->attempts >= rc->conf.max_attempts && rc->target.kind != DSVM_DRIVER_NONE) {
		rc->mode = DSVM_DRIVER_NONE;
		rc->result = DSVM_RESULT_FALLBACK;
		snprintf(rc->reason, sizeof(rc->reason),
			 "fallback: %u failed attempts to bring up %s %s (last: %.600s); CPU mode "
			 "with "
			 "the GPU services disabled until the hardware changes (max_attempts in "
			 "/etc/dsvm/firstboot.conf)",
			 rc->attempts, dsvm_driver_kind_to_string(rc->target.kind),
			 rc->target.branch, rc->last_failure[0] ? rc->last_failure : "unknown");
		return;
	}
	if (rc->fp.secure_boot && dsvm_driver_kind_builds_module(rc->target.kind)) {
		rc->mode = DSVM_DRIVER_NONE;
		rc->result = DSVM_RESULT_BLOCKED;
		snprintf(rc->reason, sizeof(rc->reason),
			 "blocked: secure boot: %s %s needs a module built on this VM (DKMS or "
			 "runfile), which no key this VM trusts has signed; CPU mode. Way out: "
			 "turn "
			 "Secure Boot off in the VM's security settings (Trusted Launch) and "
			 "reboot, or use an image whose %s module is signed by a key in the VM's "
			 "db",
			 dsvm_driver_kind_to_string(rc->target.kind), rc->target.branch,
			 dsvm_driver_kind_to_string(rc->target.kind));
		return;
	}
	if (rc->mode != DSVM_DRIVER_NONE && kernel_strands_module(rc)) {
		rc->mode = DSVM_DRIVER_NONE;
		rc->result = DSVM_RESULT_BLOCKED;
	}
}

static void report(struct reconcile *rc, const struct step *s, unsigned k, enum dsvm_step_outcome o,
		   double seconds)
{
	struct dsvm_reconcile_event e = {
		.step = k,
		.n_steps = rc->n_steps,
		.name = s->name,
		.detail = s->detail,
		.outcome = o,
		.note = s->note[0] ? s->note : NULL,
		.seconds = seconds,
	};

	if (rc->opts->report)
		rc->opts->report(rc->opts->report_userdata, &e);
}

/* A plan id for the journal: the same decision on the same machine gives the same id. */
static int plan_id(struct reconcile *rc, char hex[65])
{
	_cleanup_free_ char *text = NULL;
	char fp[768];
	size_t len = 0;
	char buf[2048];

	dsvm_fingerprint_describe(&rc->fp, fp, sizeof(fp));
	len += (size_t)snprintf(buf, sizeof(buf), "%s|%s %s|%s %s|%d", fp,
				dsvm_driver_kind_to_string(rc->from), rc->from_branch,
				dsvm_driver_kind_to_string(rc->mode), rc->target.branch,
				rc->result);
	for (unsigned k = 0; k < rc->n_steps && len < sizeof(buf); k++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "|%s", rc->steps[k].name);
	(void)text;
	return sha256_buffer_hex(buf, strlen(buf), hex);
}

/* A step failed or the gate refused: count the attempt and record it for the next boot. */
static int fail_attempt(struct reconcile *rc, const char *what)
{
	char msg[1280];
	int n = dsvm_attempts_bump(rc->ctx);

	rc->attempts = n > 0 ? (unsigned)n : rc->attempts + 1;
	snprintf(rc->summary_reason, sizeof(rc->summary_reason), "%s", what);
	(void)reconcile_record(rc, DSVM_RESULT_FAILED, what);
	snprintf(msg, sizeof(msg),
		 "dsvm-firstboot: the GPU driver switch to %s failed (%s); attempt %u of %u, the "
		 "next boot retries",
		 dsvm_driver_kind_to_string(rc->target.kind), what, rc->attempts,
		 rc->conf.max_attempts);
	(void)reconcile_login_message(rc->ctx, msg);
	return 0;
}

static void dsvm_journal_freep(struct dsvm_journal **j)
{
	dsvm_journal_free(*j);
}

static int run_steps(struct reconcile *rc)
{
	_cleanup_(dsvm_journal_freep) struct dsvm_journal *j = NULL;
	double start = reconcile_now_s();
	char id[65];
	int r;

	r = plan_id(rc, id);
	if (r < 0)
		return r;
	r = dsvm_journal_open(rc->ctx, JOURNAL_NAME, id, &j);
	if (r < 0)
		return r;
	for (unsigned k = 1; k <= rc->n_steps; k++) {
		struct step *s = &rc->steps[k - 1];
		double t0 = reconcile_now_s();

		if (dsvm_journal_is_done(j, k)) {
			report(rc, s, k, DSVM_STEP_SKIPPED, 0);
			continue;
		}
		if (reconcile_now_s() - start > rc->conf.deadline_s) {
			snprintf(s->note, sizeof(s->note),
				 "the run's deadline (%u s, deadline_s) passed before this step",
				 rc->conf.deadline_s);
			report(rc, s, k, DSVM_STEP_FAILED, 0);
			return fail_attempt(rc, s->note);
		}
		r = dsvm_journal_begin(j, k, s->name);
		if (r < 0)
			return r;
		s->note[0] = '\0';
		r = s->run(rc, s);
		/* k:mid: the step's work is done and not yet recorded: the rerun redoes it. */
		if (r >= 0)
			dsvm_journal_crash_point(j, k);
		if (r < 0) {
			char what[640];

			if (!s->note[0])
				snprintf(s->note, sizeof(s->note), "%s",
					 dsvm_ctx_get_error(rc->ctx));
			report(rc, s, k, DSVM_STEP_FAILED, reconcile_now_s() - t0);
			snprintf(what, sizeof(what), "step '%s': %s", s->name, s->note);
			return fail_attempt(rc, what);
		}
		report(rc, s, k, (enum dsvm_step_outcome)r, reconcile_now_s() - t0);
		r = dsvm_journal_done(j, k, s->name);
		if (r < 0)
			return r;
	}
	r = dsvm_journal_finish(j);
	if (r < 0)
		return r;
	rc->completed = true;
	return 0;
}

static void reconcile_free(struct reconcile *rc)
{
	dsvm_lock_free(rc->lock);
	dsvm_catalog_free(rc->catalog);
	dsvm_hw_free(rc->hw);
}

int dsvm_reconcile(struct dsvm_ctx *ctx, const struct dsvm_reconcile_options *opts,
		   struct dsvm_reconcile_summary *ret_summary)
{
	static const struct dsvm_reconcile_options defaults = {};
	/*
	 * On the heap: most of it (the plan's items and steps, 35 KiB) is used only when something
	 * changed, and fresh heap pages are not touched before, where a zeroed stack variable
	 * faults in every page of it on the no-op boot.
	 */
	_cleanup_free_ struct reconcile *rc = NULL;
	struct dsvm_reconcile_summary sum = {};
	struct dsvm_hw_options quick;
	_cleanup_close_ int lock_fd = -1;
	enum dsvm_reconcile_outcome outcome;
	double start = reconcile_now_s();
	int r;

	if (!opts)
		opts = &defaults;
	lock_fd = dsvm_root_lock(ctx, false);
	if (lock_fd < 0)
		return lock_fd;
	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return -ENOMEM;
	rc->ctx = ctx;
	rc->opts = opts;
	rc->live_kernel =
		path_is_slash(dsvm_ctx_get_root(ctx)) && path_is_slash(dsvm_ctx_get_sysroot(ctx));
	rc->live_systemd =
		path_is_slash(dsvm_ctx_get_root(ctx)) && access("/run/systemd/system", F_OK) == 0;

	reconcile_read_sys(ctx, "/proc/sys/kernel/random/boot_id", rc->boot_id,
			   sizeof(rc->boot_id));
	r = dsvm_state_load(ctx, &rc->state);
	if (r >= 0)
		rc->has_state = true;
	else if (r != -ENOENT)
		dsvm_warn(ctx, "%s", dsvm_ctx_get_error(ctx));

	/*
	 * Detection without IMDS: cloud-init's copy of the size, or none; PCI decides. When the
	 * PCI inventory is the one recorded, the GPUs and fabric are too: the scan of every
	 * function's class is skipped and the recorded ones stand in.
	 */
	quick = opts->hw;
	quick.no_imds = true;
	if (dsvm_pci_inventory_key(ctx, rc->pci_inventory) < 0)
		rc->pci_inventory[0] = '\0';
	quick.skip_pci = rc->has_state && rc->state.has_fingerprint && rc->pci_inventory[0] &&
			 streq(rc->pci_inventory, rc->state.pci_inventory);
	for (;;) {
		r = dsvm_hw_detect(ctx, &quick, &rc->hw);
		if (r < 0)
			goto out;
		dsvm_fingerprint_from_hw(rc->hw, &rc->fp);
		if (quick.skip_pci)
			fingerprint_keep_pci(&rc->fp, &rc->state.fp);
		if (rc->has_state) {
			r = try_noop(ctx, &rc->state, &rc->fp, rc->boot_id, opts->plan_only,
				     rc->last_failure, sizeof(rc->last_failure), &sum);
			if (r != 0) {
				if (r > 0 && !quick.skip_pci && !opts->plan_only)
					remember_inventory(rc);
				sum.from = rc->state.kind;
				goto out;
			}
		}
		if (!quick.skip_pci)
			break;
		/* Something else changed: the plan needs the GPUs as they are. */
		quick.skip_pci = false;
		dsvm_hw_free(rc->hw);
		rc->hw = NULL;
	}
	inventory_settled(rc);

	r = load_inputs(rc, opts);
	if (r < 0)
		goto out;
	r = detect_for_plan(rc, opts);
	if (r < 0)
		goto out;
	current_stack(rc);

	/* A new machine starts counting afresh; the same machine keeps its failures. */
	if (!rc->has_state || !rc->state.has_fingerprint ||
	    !dsvm_fingerprint_matches(&rc->state.fp, &rc->fp)) {
		if (!opts->plan_only)
			(void)dsvm_attempts_clear(ctx);
		rc->attempts = 0;
	} else {
		rc->attempts = dsvm_attempts_get(ctx);
		if (rc->last_failure[0] && !opts->plan_only) {
			int n = dsvm_attempts_bump(ctx);

			rc->attempts = n > 0 ? (unsigned)n : rc->attempts + 1;
		} else if (rc->state.result == DSVM_RESULT_FAILED && !rc->last_failure[0])
			snprintf(rc->last_failure, sizeof(rc->last_failure), "%s",
				 rc->state.reason);
	}
	decide_mode(rc);
	r = reconcile_plan(rc);
	if (r < 0)
		goto out;

	if (opts->plan_only) {
		for (unsigned k = 1; k <= rc->n_steps; k++)
			report(rc, &rc->steps[k - 1], k, DSVM_STEP_PLANNED, 0);
		outcome = rc->result == DSVM_RESULT_FALLBACK  ? DSVM_RECONCILE_FALLBACK
			  : rc->result == DSVM_RESULT_BLOCKED ? DSVM_RECONCILE_BLOCKED
							      : DSVM_RECONCILE_CONVERGED;
		snprintf(sum.reason, sizeof(sum.reason), "%s", rc->reason);
		sum.outcome = outcome;
		goto summary;
	}

	r = run_steps(rc);
	if (r < 0)
		goto out;
	if (!rc->completed) {
		sum.outcome = DSVM_RECONCILE_FAILED;
		snprintf(sum.reason, sizeof(sum.reason), "%s", rc->summary_reason);
		goto summary;
	}
	sum.outcome = rc->result == DSVM_RESULT_FALLBACK  ? DSVM_RECONCILE_FALLBACK
		      : rc->result == DSVM_RESULT_BLOCKED ? DSVM_RECONCILE_BLOCKED
		      : rc->final == DSVM_RESULT_PENDING  ? DSVM_RECONCILE_PENDING
							  : DSVM_RECONCILE_CONVERGED;
	snprintf(sum.reason, sizeof(sum.reason), "%s", rc->reason);
summary:
	sum.from = rc->from;
	sum.to = rc->mode;
	snprintf(sum.branch, sizeof(sum.branch), "%s",
		 rc->mode == DSVM_DRIVER_NONE ? "" : rc->target.branch);
	snprintf(sum.version, sizeof(sum.version), "%s",
		 rc->mode == DSVM_DRIVER_NONE ? "" : rc->target.version);
	dsvm_fingerprint_describe(&rc->fp, sum.fingerprint, sizeof(sum.fingerprint));
	sum.reboot_needed = rc->reboot_needed;
	sum.attempts = rc->attempts;
	sum.n_steps = rc->n_steps;
	r = 0;
out:
	sum.seconds = reconcile_now_s() - start;
	sum.external_seconds = rc->external_s;
	if (r >= 0 && ret_summary)
		*ret_summary = sum;
	reconcile_free(rc);
	return r;
}

int dsvm_reconcile_reset(struct dsvm_ctx *ctx)
{
	struct dsvm_state st;
	int r = dsvm_state_load(ctx, &st);

	if (r == -ENOENT)
		return dsvm_attempts_clear(ctx);
	if (r < 0)
		return r;
	st.has_fingerprint = false;
	st.result = DSVM_RESULT_NONE;
	st.reboot_needed = false;
	st.boot_id[0] = '\0';
	st.pci_inventory[0] = '\0';
	snprintf(st.reason, sizeof(st.reason),
		 "reset: the next boot reconciles for whatever hardware it finds");
	r = dsvm_state_save(ctx, &st);
	if (r >= 0)
		r = dsvm_attempts_clear(ctx);
	if (r >= 0)
		r = reconcile_login_message(ctx, "");
	return r;
}
