/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The reconcile's state during one run, shared by lib/reconcile.c (the run: fast path,
 * decision, journal) and lib/reconcile-steps.c (the plan and what each step does).
 */

#include <jansson.h>

#include "dsvm/reconcile.h"
#include "dsvm/select.h"
#include "dsvm/state.h"

#define RECONCILE_MAX_STEPS 24
#define RECONCILE_MAX_ITEMS 64

struct reconcile;

struct step {
	const char *name; /* journal label: [a-z-]+ */
	char detail[512];
	char note[512];
	/* Returns DSVM_STEP_DONE, _UNCHANGED or _NOT_PERFORMED (note says why), or -errno. */
	int (*run)(struct reconcile *rc, struct step *s);
};

/* Component entries of the lock (borrowed), sorted into what the plan does with them. */
struct item_list {
	const json_t *v[RECONCILE_MAX_ITEMS];
	size_t n;
};

struct reconcile {
	struct dsvm_ctx *ctx;
	const struct dsvm_reconcile_options *opts;
	struct dsvm_firstboot_conf conf;
	struct dsvm_lock *lock;
	const json_t *lock_json;
	struct dsvm_catalog *catalog;
	struct dsvm_hw *hw;
	struct dsvm_fingerprint fp;
	char pci_inventory[DSVM_INVENTORY_KEY_SIZE]; /* "" when there is none */
	char boot_id[64];
	bool live_kernel;  /* --root and --sysroot are '/': modprobe and rmmod act */
	bool live_systemd; /* --root is '/' and systemd runs: start and stop act */

	struct dsvm_state state;
	bool has_state;
	unsigned attempts;
	char last_failure[1024];

	struct dsvm_choice choice;
	struct dsvm_stack_choice target;
	enum dsvm_driver_kind from; /* the stack on disk before */
	char from_branch[16];
	char from_version[64];
	enum dsvm_driver_kind mode; /* what this run brings up: target.kind, or none */
	enum dsvm_state_result result;
	char reason[1024];

	/* What the plan does. */
	const json_t *from_stack, *to_stack;
	struct item_list install, remove, disable;
	struct item_list kept; /* CPU mode: the prebuilt stack that stays, as far as it applies */
	bool keep_from; /* CPU mode keeps a signed prebuilt stack installed (RECONCILE.md §9.5) */
	enum dsvm_driver_kind disk_kind; /* the stack on disk after the run */
	char disk_branch[16];
	char disk_version[64];

	struct step steps[RECONCILE_MAX_STEPS];
	unsigned n_steps;

	/* Outcome. */
	bool completed;
	bool reboot_needed;
	bool modules_loaded;
	double external_s; /* waiting on programs: apt, dpkg, pip, runfiles, systemctl */
	enum dsvm_state_result final;
	char summary_reason[768];
};

/* A short sysfs or procfs value under --sysroot, newline dropped; "" when absent. */
void reconcile_read_sys(struct dsvm_ctx *ctx, const char *path, char *buf, size_t size);

/* CLOCK_MONOTONIC in seconds. */
double reconcile_now_s(void);

/* Plan the steps for rc's decision (lib/reconcile-steps.c). */
int reconcile_plan(struct reconcile *rc);

/* Write the state for this run's decision (a failure records the stack it started from). */
int reconcile_record(struct reconcile *rc, enum dsvm_state_result result, const char *reason);

/* "nvidia" or "amdgpu" for a kind, NULL for none. */
const char *reconcile_module_of(enum dsvm_driver_kind kind);

/* The version of kind's module as loaded now (/sys/module/<module>/version), "" when none. */
void reconcile_loaded_version(struct dsvm_ctx *ctx, enum dsvm_driver_kind kind, char *buf,
			      size_t size);

/* Write (or with "" remove) the line shown at login, /etc/dsvm/login-message. */
int reconcile_login_message(struct dsvm_ctx *ctx, const char *text);
