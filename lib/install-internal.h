/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The installer's state and helpers, shared by lib/install.c (the journaled run and the file,
 * archive, redist, service and stage steps) and the modules for the kinds that run programs in
 * the root: lib/install-exec.c (running a command with the root as /; pip, runfile, script) and
 * lib/install-apt.c (apt). Never included outside lib/.
 */

#include <stdbool.h>

#include <jansson.h>

#include "dsvm/install.h"
#include "dsvm/journal.h"

#define INSTALLED_DIR "/var/lib/dsvm/installed"
#define REPO_DIR "/var/lib/dsvm/repo"
#define SYSTEMD_ETC "/etc/systemd/system"
#define MAX_UNIT_BYTES (64u << 10)
#define MAX_WANTED_BY 8

enum step_kind {
	STEP_NONE,
	STEP_ARCHIVE,
	STEP_REDIST,
	STEP_FILE,
	STEP_SERVICE,
	STEP_STAGE,
	STEP_APT,
	STEP_APT_STAGE,
	STEP_PIP,
	STEP_RUNFILE,
	STEP_SCRIPT,
};

struct installer {
	struct dsvm_ctx *ctx;
	const struct dsvm_install_options *opts;
	const json_t *lock;
	struct dsvm_journal *journal;
	char *staging;	/* <root>/var/lib/dsvm/journal/staging */
	char *prepared; /* <root>/var/lib/dsvm/journal/prepared: trees dsvm_install_prepare made */
	unsigned step;
	unsigned n_steps;
	bool changed;	/* set by the step's helpers when they write */
	char *note;	/* for this step's report line (setuid bits stripped), or NULL */
	char *packages; /* the text of DSVM_IMAGE_PACKAGES, written with sbom.json */
	struct dsvm_install_stats stats;
};

static inline const char *str_of(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Where a tree-installing step puts things, and whether its receipt says it is done. */
struct tree_dest {
	char *host;	    /* the destination under --root */
	char *receipt;	    /* the receipt's text */
	char *receipt_path; /* under --root */
	bool in_place;	    /* receipt and destination there: nothing to do */
};

/*
 * The receipt (/var/lib/dsvm/installed/<name>.json: kind, version, dest, artifact hashes) of c
 * for a destination dest in the image; in_place when the receipt is there with this text and
 * dest is a directory. Free with installer_tree_dest_done.
 */
int installer_tree_dest_init(struct installer *in, const json_t *c, const char *dest,
			     struct tree_dest *t);
void installer_tree_dest_done(struct tree_dest *t);

/*
 * The host path of img (absolute, in the image), its existing directories resolved inside
 * --root (openat2 RESOLVE_IN_ROOT), so a link in the root never leads a write out of it. NULL
 * on OOM or, with the error set, when it cannot be resolved.
 */
char *installer_root_path(struct installer *in, const char *img);

int installer_sync_dir_of(struct installer *in, const char *path);
/* Write data to path (a host path) atomically unless it already holds exactly data and mode. */
int installer_write_if_changed(struct installer *in, const char *path, const char *data,
			       unsigned mode);
int installer_copy_to_image(struct installer *in, const json_t *art, const char *img);
/* An absolute path without empty, "." or ".." components and without a trailing '/'. */
bool installer_is_clean_absolute(const char *p);

/*
 * Run argv[0] (an absolute path inside the root) with the root as '/': chroot(2) into --root
 * unless it is '/', working directory '/', standard input /dev/null, and an environment of
 * PATH, LC_ALL=C, HOME=/root and DEBIAN_FRONTEND=noninteractive plus env (NULL-terminated
 * "NAME=value" entries, may be NULL). Its output (stdout and stderr together) is captured: the
 * last few KiB go into the error when it fails, and the whole of stdout-and-stderr, capped at
 * 1 MiB, into *ret_output when ret_output is not NULL. Returns the exit status (0..255) -- the
 * caller decides what a non-zero status means -- or -errno when it could not run; -EPERM when
 * --root is not '/' and this process may not chroot (run as root).
 */
int installer_run(struct installer *in, const char *const *argv, const char *const *env,
		  char **ret_output);

/* apt (lib/install-apt.c): install exact versions and hold them; stage a kind's packages. */
int installer_apt_install(struct installer *in, const json_t *c, char **ret_dest);
int installer_apt_stage(struct installer *in, const json_t *c, char **ret_dest);
/*
 * The image's record of its .deb files (DSVM_IMAGE_PACKAGES, beside the lock): every package
 * the lock's apt components installed or staged, from their receipts, with the architecture,
 * size and sha256 of the signed index apt verified each download against. JSON text in *ret.
 */
int installer_apt_record(struct installer *in, char **ret);
/*
 * Whether rc, an apt receipt read back from INSTALLED_DIR, has every field its action writes,
 * each of the right type and shape. One that does not counts as absent: the step is redone.
 */
bool installer_apt_receipt_is_valid(const json_t *rc);
/*
 * The file in dir (host path) whose SHA-256 is want[i] (lowercase hex), for each of the n, into
 * ret_paths[i] (newly allocated; NULL where no file has it). Each file of dir is hashed once
 * however many are wanted; *ret_hashed (may be NULL) says how many were. Returns 0 or -errno.
 */
int installer_find_by_sha256(const char *dir, const char *const *want, size_t n, char **ret_paths,
			     size_t *ret_hashed);

/* lib/install-exec.c: wheels into an environment, runfiles, scripts. */
int installer_pip_install(struct installer *in, const json_t *c, char **ret_dest);
/* runfile and script: the one artifact run once with /bin/sh inside the root, with args. */
int installer_run_program(struct installer *in, const json_t *c, char **ret_dest);
