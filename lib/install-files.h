/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The installer's state and its file primitives (lib/install-files.c): the bottom layer, under
 * the per-kind handlers (lib/install-apt.c, lib/install-exec.c) and the journaled runner
 * (lib/install.c). Never included outside lib/.
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
/* A symbolic link at linkpath (a host path in the root) to target, swapped in atomically. */
int installer_set_symlink(struct installer *in, const char *linkpath, const char *target);
/* mkdir -p of the directory that holds path (a host path in the root). */
int installer_make_parent(struct installer *in, const char *path);
/* The temporary beside path that replacing it writes first; a fixed name, so a step redone
 * after a kill replaces what the killed attempt left. */
char *installer_temp_path(const char *path);
/* fsync of every file and directory under path (before any of it is renamed into place). */
int installer_sync_tree(struct installer *in, const char *path);
/* An artifact's cache file (*ret_path), its hash checked against the lock: the fd, rewound. */
int installer_open_artifact(struct installer *in, const json_t *art, char **ret_path);
/* An absolute path without empty, "." or ".." components and without a trailing '/'. */
bool installer_is_clean_absolute(const char *p);
