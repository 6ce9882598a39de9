/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the first-boot agent remembers between boots, on the OS disk (DESIGN.md "Image layout"):
 *
 *   /var/lib/dsvm/state.json     the last fingerprint, the driver stack on disk, the result
 *   /var/lib/dsvm/attempts+N     failed attempts since the hardware last changed: an empty file
 *                                whose name is the count, moved on by rename(2) as systemd's
 *                                boot counting does, so a power cut leaves N or N+1, never junk
 *   /etc/dsvm/firstboot.conf     the administrator's settings (key=value lines)
 *
 * All under --root. Every write is atomic (temporary file, fsync, rename, fsync of the directory).
 */

#include <stdbool.h>
#include <stddef.h>

#include "dsvm/context.h"
#include "dsvm/target.h"

struct dsvm_hw;

#define DSVM_STATE_PATH "/var/lib/dsvm/state.json"
#define DSVM_STATE_DIR "/var/lib/dsvm"
#define DSVM_FIRSTBOOT_CONF "/etc/dsvm/firstboot.conf"
#define DSVM_ROOT_LOCK "/run/dsvm.lock"

/*
 * Take the root-wide lock (<root>/run/dsvm.lock, created when missing) that a first-boot
 * reconcile and `dsvm-build install` both hold, so they never interleave. wait: block until it
 * is free; otherwise -EBUSY at once when another process holds it. Returns an fd the caller
 * closes to release it, or -errno with the error set.
 */
int dsvm_root_lock(struct dsvm_ctx *ctx, bool wait);

/*
 * The hardware as a reconcile compares it: never PCI addresses (they move between hosts), GPUs
 * as "vendor:device" with a count, sorted. An empty vm_size means unknown: it then matches any
 * recorded size (an IMDS outage is not a resize; PCI decides).
 */
struct dsvm_fingerprint {
	char vm_size[64];
	char gpus[512]; /* "10de:20b0x8,10de:1af1x6"; "" for none */
	bool infiniband;
	bool nvswitch;
	char kernel[128];
	bool secure_boot;
};

/*
 * The PCI inventory key: 16 hex digits over the bus address and vendor:device of every PCI
 * function in <sysroot>/proc/bus/pci/devices (one read, however many functions) and the names
 * under /sys/class/infiniband. Equal keys mean the GPUs, NVSwitches and InfiniBand the
 * fingerprint recorded are still there, so the no-op boot need not read each function's class
 * from sysfs; a different key only means the full scan runs. Returns 0, or -errno (e.g. -ENOENT
 * without /proc/bus/pci/devices: then there is no key and the scan always runs).
 */
#define DSVM_INVENTORY_KEY_SIZE 17
int dsvm_pci_inventory_key(struct dsvm_ctx *ctx, char ret[DSVM_INVENTORY_KEY_SIZE]);

/* Fill fp from what detection found. */
void dsvm_fingerprint_from_hw(const struct dsvm_hw *hw, struct dsvm_fingerprint *ret);

/* True when now is the machine recorded was (an unknown size in now matches any size). */
bool dsvm_fingerprint_matches(const struct dsvm_fingerprint *recorded,
			      const struct dsvm_fingerprint *now);

/* One line for people: "Standard_ND96asr_v4, 10de:20b0x8, NVSwitch, InfiniBand, ...". */
void dsvm_fingerprint_describe(const struct dsvm_fingerprint *fp, char *buf, size_t size);

enum dsvm_state_result {
	DSVM_RESULT_NONE,     /* never reconciled (or reset) */
	DSVM_RESULT_OK,	      /* converged and healthy */
	DSVM_RESULT_PENDING,  /* converged; the module loads and is checked on the next boot */
	DSVM_RESULT_FAILED,   /* a step or the health gate failed; the next boot retries */
	DSVM_RESULT_FALLBACK, /* settled in CPU mode after too many failed attempts */
	DSVM_RESULT_BLOCKED,  /* Secure Boot refuses the kind's module: CPU mode */
	_DSVM_RESULT_MAX,
};

const char *dsvm_state_result_to_string(enum dsvm_state_result r);
enum dsvm_state_result dsvm_state_result_from_string(const char *s);

struct dsvm_state {
	bool has_fingerprint;
	struct dsvm_fingerprint fp;
	/* The driver stack on disk (installed packages); kind none when there is none. */
	enum dsvm_driver_kind kind;
	char branch[16];
	char version[64]; /* the driver's version, what /sys/module/<module>/version must say */
	/* The mode in force: the stack's kind, or none (CPU mode) after a fallback or a block. */
	enum dsvm_driver_kind mode;
	enum dsvm_state_result result;
	char reason[1024];
	char boot_id[64]; /* the boot that recorded this (a pending check waits for another) */
	bool reboot_needed;
	char updated[32]; /* UTC, ISO 8601 */
	/* dsvm_pci_inventory_key when the fingerprint was taken; "" when there was none. */
	char pci_inventory[DSVM_INVENTORY_KEY_SIZE];
};

/*
 * Read <root>/var/lib/dsvm/state.json. Returns 0 (with *ret), -ENOENT when there is none, or
 * -EBADMSG naming the file and the key for a state that cannot be read (the caller treats the
 * machine as never reconciled).
 */
int dsvm_state_load(struct dsvm_ctx *ctx, struct dsvm_state *ret);

/* Write it atomically; updated is set to now. */
int dsvm_state_save(struct dsvm_ctx *ctx, struct dsvm_state *st);

/* The state as a JSON object (for status --json). Caller frees. */
int dsvm_state_to_json(const struct dsvm_state *st, char **ret);

/* Failed attempts recorded (0 when none). */
unsigned dsvm_attempts_get(struct dsvm_ctx *ctx);
/* Count one more failed attempt (rename attempts+N to attempts+N+1); returns the new count. */
int dsvm_attempts_bump(struct dsvm_ctx *ctx);
/* Forget them (the hardware changed, or a run succeeded). */
int dsvm_attempts_clear(struct dsvm_ctx *ctx);

enum dsvm_reboot_policy {
	DSVM_REBOOT_NEVER,
	DSVM_REBOOT_AUTO,
};

struct dsvm_firstboot_conf {
	unsigned max_attempts;		/* failed boots before CPU fallback; default 3 */
	enum dsvm_reboot_policy reboot; /* default never */
	unsigned deadline_s;		/* the whole run; default 900 */
	unsigned program_timeout_s;	/* each external program; default 600 */
};

/*
 * Read <root>/etc/dsvm/firstboot.conf into *ret (defaults where absent; a missing file is all
 * defaults). Lines are key=value, '#' comments. Returns 0, or -EBADMSG with "file:line: ..."
 * naming the key and value for an unknown key or a bad value.
 */
int dsvm_firstboot_conf_load(struct dsvm_ctx *ctx, struct dsvm_firstboot_conf *ret);
