/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The first-boot reconcile (DESIGN.md "Reconcile"; RECONCILE.md §9): bring the driver stack on
 * the OS disk (--root) to what the hardware now seen (--sysroot) needs, offline, from the
 * payloads the image carries (/var/lib/dsvm/repo), as ordered, idempotent, journaled steps.
 *
 * The fast path: when the fingerprint (include/dsvm/state.h) equals the recorded one and the
 * recorded stack is healthy (its module's version in /sys/module/<module>/version is the one
 * recorded; no NVML call), dsvm_reconcile() returns DSVM_RECONCILE_NOOP having read only the
 * state file and what detection reads: no lock, no catalog, no journal, no IMDS, no write.
 *
 * Otherwise the image's lock (/usr/share/dsvm/lock.json, its "stacks") and the hardware catalog
 * decide the target stack among those the image carries (dsvm_stack_choose()); Secure Boot and
 * the attempt counter may turn the target into CPU mode; and the steps run under the journal
 * "firstboot" (include/dsvm/journal.h; a kill at any step resumes on the next run). Actions on
 * the running kernel (rmmod, modprobe) happen only when both --root and --sysroot are '/';
 * actions on the running systemd (daemon-reload, start, stop) only when --root is '/' and
 * /run/systemd/system exists; otherwise the step says it was not performed and why. Enabling
 * and disabling units always happens, through the root (systemctl --root).
 *
 * One root-wide lock, <root>/run/dsvm.lock (flock), keeps a reconcile and `dsvm-build install`
 * from ever interleaving.
 */

#include <stdbool.h>

#include "dsvm/context.h"
#include "dsvm/detect.h"
#include "dsvm/target.h"

struct dsvm_lock;
struct dsvm_choice;

#define DSVM_IMAGE_LOCK "/usr/share/dsvm/lock.json"
#define DSVM_IMAGE_CATALOG "/usr/share/dsvm/hardware"

/* What the image can switch to, for detected hardware. */
struct dsvm_stack_choice {
	enum dsvm_driver_kind kind; /* none: CPU mode */
	char branch[16];
	char version[64];
	char reason[512];
};

/*
 * Choose, for the catalog's choice, among the stacks this image carries (the lock's "stacks"):
 * the same kind and branch when carried; else the newest carried branch of the kind within the
 * GPU's branch limits; else none, with a reason that names what the hardware needs and what the
 * image carries. Returns 0 (ret filled), -EBADMSG for a lock without a readable stacks list.
 */
int dsvm_stack_choose(struct dsvm_ctx *ctx, const struct dsvm_lock *lock,
		      const struct dsvm_choice *choice, struct dsvm_stack_choice *ret);

enum dsvm_step_outcome {
	DSVM_STEP_PLANNED,	 /* plan only */
	DSVM_STEP_DONE,		 /* changed the root */
	DSVM_STEP_UNCHANGED,	 /* already as wanted */
	DSVM_STEP_SKIPPED,	 /* done by the interrupted run this one resumes */
	DSVM_STEP_NOT_PERFORMED, /* not possible here (see note): fixture sysroot, no systemd */
	DSVM_STEP_FAILED,
};

const char *dsvm_step_outcome_to_string(enum dsvm_step_outcome o);

/* One step, after it ran (or as planned); valid only during the callback. */
struct dsvm_reconcile_event {
	unsigned step, n_steps;
	const char *name;   /* "packages" */
	const char *detail; /* what it does, one line */
	enum dsvm_step_outcome outcome;
	const char *note; /* why not performed, what failed, or NULL */
	double seconds;
};

typedef void (*dsvm_reconcile_report_fn)(void *userdata, const struct dsvm_reconcile_event *e);

struct dsvm_reconcile_options {
	const char *lock_path;	 /* NULL: <root>/usr/share/dsvm/lock.json */
	const char *catalog_dir; /* NULL: <root>/usr/share/dsvm/hardware */
	struct dsvm_hw_options hw;
	bool plan_only; /* report the steps; change nothing (the lock is still taken) */
	dsvm_reconcile_report_fn report;
	void *report_userdata;
};

enum dsvm_reconcile_outcome {
	DSVM_RECONCILE_NOOP,	  /* nothing changed and the stack is healthy */
	DSVM_RECONCILE_CONVERGED, /* switched (or repaired) and healthy */
	DSVM_RECONCILE_PENDING,	  /* switched; the module is checked once it is loaded */
	DSVM_RECONCILE_FALLBACK,  /* CPU mode after too many failed attempts */
	DSVM_RECONCILE_BLOCKED,	  /* CPU mode: Secure Boot refuses the kind's module */
	DSVM_RECONCILE_FAILED,	  /* a step or the health gate failed; the next boot retries */
	_DSVM_RECONCILE_MAX,
};

const char *dsvm_reconcile_outcome_to_string(enum dsvm_reconcile_outcome o);

struct dsvm_reconcile_summary {
	enum dsvm_reconcile_outcome outcome;
	enum dsvm_driver_kind from; /* the stack on disk before */
	enum dsvm_driver_kind to;   /* the mode after: the kind, or none for CPU mode */
	char branch[16];
	char version[64];
	char reason[1024]; /* why this target, or what failed */
	char fingerprint[768];
	bool reboot_needed;
	unsigned attempts; /* failed attempts counted now */
	unsigned n_steps;
	double seconds;		 /* the whole call */
	double external_seconds; /* of which waiting on programs (apt, dpkg, pip, systemctl) */
};

/*
 * Reconcile (or with opts->plan_only, only plan). Returns 0 with *ret_summary filled whenever
 * the run reached a decision, including FAILED (a step failed: the journal stays and the next
 * run retries) and the deliberate CPU modes; -EBUSY when another process holds the root lock;
 * -EBADMSG for a lock or catalog that cannot be read (the error names the file); other -errno
 * for I/O that prevents even recording the failure.
 */
int dsvm_reconcile(struct dsvm_ctx *ctx, const struct dsvm_reconcile_options *opts,
		   struct dsvm_reconcile_summary *ret_summary);

/*
 * Forget the recorded fingerprint and the attempts, so that the next boot reconciles (for
 * images: the builder and the Packer templates call it when generalizing). What is installed
 * stays recorded. Returns 0 (also when there was no state) or -errno.
 */
int dsvm_reconcile_reset(struct dsvm_ctx *ctx);

/* The login line the agent keeps (/etc/dsvm/login-message), "" when none; for status. */
#define DSVM_LOGIN_MESSAGE "/etc/dsvm/login-message"
