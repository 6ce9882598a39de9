/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Install a lock into a target root (--root), from the verified cache that `fetch` filled, as a
 * journaled run of idempotent steps (include/dsvm/journal.h, journal name "install"; the plan id
 * is the SHA-256 of the lock's text). Every artifact is hashed again as it is read from the
 * cache: a cache file that no longer matches the lock is refused (-EBADMSG), never installed.
 *
 * Steps, in lock order, one per component with work to do, then two more:
 *   archive        every artifact extracted (lib/extract.c: links as links wherever they point,
 *                  setuid and setgid bits stripped unless the component says allow_setuid, said
 *                  in the event's note; the expansion held to the artifacts' unpacked_size or
 *                  extract.h's default ratio to their size) into a staging directory under
 *                  <root>/var/lib/dsvm/journal/, then renamed to /opt/<name>-<version>; an
 *                  existing directory there is swapped out in one rename and removed.
 *   nvidia-redist  every artifact extracted into staging; the contents of each archive's top
 *                  directory are merged, file by file with rename, into /usr/local/cuda-<M.m>.
 *                  M.m is the component's version for the component that provides
 *                  'cuda-toolkit'; other redist components (cuDNN) go into that toolkit's
 *                  directory. The toolkit also points /usr/local/cuda at 'cuda-<M.m>' (a
 *                  relative link, so it resolves under --root and in the image alike), replaced
 *                  by renaming a temporary link over it.
 *   file           the artifact copied to source.dest with mode 0644 (temporary file, fsync,
 *                  rename, fsync of the directory).
 *   service        the links systemctl would make: <target>.wants/<unit> in /etc/systemd/system
 *                  for each WantedBy= of the unit file found in the root (/etc/systemd/system,
 *                  /usr/lib/systemd/system, /lib/systemd/system; without one, multi-user.target),
 *                  pointing at the unit file (else /lib/systemd/system/<unit>). Nothing runs
 *                  when they are already as asked. Otherwise, when opts->systemctl is set and
 *                  the unit file is in the root, `systemctl --root=<root> enable|disable` makes
 *                  the change; without the unit file systemctl can only fail (the unit comes
 *                  with a component not installed yet), so the links are made here, like that.
 *   stage          (action "stage") every artifact copied to /var/lib/dsvm/repo/<sha256>.
 *   apt            (lib/install-apt.c; the root must hold apt: a debootstrap root, or --root /)
 *                  the repository's key to /etc/dsvm/keys/, its line to
 *                  /etc/apt/sources.list.d/dsvm-<hash>.list; apt-get, chrooted, updates that
 *                  source alone and installs the pinned package with what it needs from that
 *                  repository, every one as name=version, then holds them all (receipt: the
 *                  set). Staged (action "stage"), and installed components of a driver stack
 *                  (the lock gives them driver_kinds) too: the same set downloaded through the
 *                  signed repository into /var/lib/dsvm/repo/apt/ (receipt apart, in
 *                  /var/lib/dsvm/staged/<name>.json) with Packages, index.json and Release,
 *                  signed when it changes by a fresh ed25519 key made on the build host
 *                  (InRelease, Release.gpg; public key /etc/dsvm/keys/offline-repo.gpg, the
 *                  private key destroyed), for include/dsvm/apt-offline.h.
 *   pip            (lib/install-exec.c) the component's verified wheels, copied into the root,
 *                  installed by <env>/bin/python -m pip install --no-index --no-deps into
 *                  /opt/dsvm/envs/<environment>, made first with the root's Python
 *                  (/opt/conda/bin/python3, else /usr/bin/python3) -m venv when missing.
 *   runfile,       the one artifact copied into the root and run once with /bin/sh and the
 *   script         component's args; a kill redoes it, so it must tolerate a second run.
 *   Programs run chrooted into --root (unless it is /), stdin /dev/null, a fixed environment;
 *   their output goes into the error when they fail. Staged pip/runfile/script artifacts go
 *   to /var/lib/dsvm/repo/<sha256> like any other.
 *   lock, sbom     /usr/share/dsvm/lock.json and /usr/share/dsvm/sbom.json, and in the same
 *                  step /usr/share/dsvm/packages.json (DSVM_IMAGE_PACKAGES): what install
 *                  observed, each .deb installed or staged with the sha256 of the signed index
 *                  apt verified it against; the SBOM lists those .debs under their components.
 * Every path in the image is resolved inside --root (openat2 RESOLVE_IN_ROOT): a link in the
 * root, absolute or not, never leads a write out of it.
 * archive and nvidia-redist steps leave a receipt, /var/lib/dsvm/installed/<name>.json (kind,
 * version, destination, artifact hashes); a step whose receipt and destination are already
 * there does nothing. Every other step compares what is there with what it would write.
 *
 * Not executed in this version, reported as deferred with the reason: conda and the Windows
 * kinds; staged components without artifacts (other than apt).
 *
 * Every write is temporary file, fsync, rename, fsync of the directory: a failure (ENOSPC, EIO)
 * leaves what was there before and no partial file at a final path, and the error names the path.
 */

#include <stdbool.h>
#include <stddef.h>

#include "dsvm/context.h"

/* The image's record of the packages its build installed and staged (JSON, record_version 1). */
#define DSVM_IMAGE_PACKAGES "/usr/share/dsvm/packages.json"

struct dsvm_lock;

enum dsvm_install_outcome {
	DSVM_INSTALL_DONE,	/* changed the root */
	DSVM_INSTALL_UNCHANGED, /* already in place: nothing written */
	DSVM_INSTALL_SKIPPED,	/* done by the interrupted run this one resumes */
	DSVM_INSTALL_DEFERRED,	/* not done by this version: see reason */
};

/* One line of the install report; valid only during the callback. */
struct dsvm_install_event {
	unsigned step; /* 1-based; 0 for a deferred component (no step) */
	unsigned n_steps;
	const char *name;   /* component name, or "lock.json" / "sbom.json" */
	const char *kind;   /* component kind, or "metadata" */
	const char *action; /* "install", "stage", "write" */
	const char *dest;   /* where it went, root-relative; NULL when deferred */
	enum dsvm_install_outcome outcome;
	const char *reason; /* deferred: why; otherwise NULL */
	const char *note;   /* what the step changed on the way (setuid bits stripped), or NULL */
};

typedef void (*dsvm_install_report_fn)(void *userdata, const struct dsvm_install_event *e);

struct dsvm_install_options {
	const char *cache_dir; /* required: fetch's content-addressed cache */
	/* Run this systemctl (with --root) for services; NULL writes the links itself. */
	const char *systemctl;
	dsvm_install_report_fn report; /* after each step and for each deferred component */
	void *report_userdata;
};

struct dsvm_install_stats {
	unsigned steps;	     /* steps in the plan */
	unsigned installed;  /* install steps that changed the root */
	unsigned staged;     /* stage steps that changed the root */
	unsigned unchanged;  /* steps that found everything in place */
	unsigned skipped;    /* steps the resumed journal recorded done */
	unsigned deferred;   /* components not done by this version */
	unsigned resumed_at; /* the step a killed run was in (redone), 0 when none */
};

/*
 * Install lock into the context's root. Returns 0; -EBADMSG for a cache file whose hash does not
 * match the lock, a refused archive, or a lock this cannot install (the component in the error);
 * -ENOENT for an artifact missing from the cache (run fetch); -EBUSY when another install holds
 * the root's journal; -ENOSPC/-EIO/-EROFS and others for I/O, the path in the error. After a
 * failure or a kill the journal stays, and the next call resumes. *ret_stats may be NULL; it is
 * written on success only.
 */
int dsvm_install_lock(struct dsvm_ctx *ctx, const struct dsvm_lock *lock,
		      const struct dsvm_install_options *opts,
		      struct dsvm_install_stats *ret_stats);

struct dsvm_fetch_options;
struct dsvm_prepare_stats;

/*
 * The one-pass path, for a caller with network (dsvm-build image): fetch every archive and
 * nvidia-redist artifact of the lock's install components that are not in place yet and extract
 * it from the download stream itself (include/dsvm/prepare.h: network -> SHA-256 -> cache and
 * decompressor -> disk, several artifacts in parallel, a tree kept only when the hash matched),
 * into <root>/var/lib/dsvm/journal/prepared/<sha256>. The trees are written under
 * prepared.tmp and the directory renamed when every item succeeded, so a kill leaves nothing
 * dsvm_install_lock would take. dsvm_install_lock then moves those trees into place instead of
 * extracting the cache files again, and removes the directory when it completes. Trees an
 * earlier call left are removed first. fetch: as for dsvm_fetch_items (cache_dir required).
 * Returns 0 or the failure of dsvm_prepare_items; *ret_stats (may be NULL) as it gives them.
 */
int dsvm_install_prepare(struct dsvm_ctx *ctx, const struct dsvm_lock *lock,
			 const struct dsvm_fetch_options *fetch,
			 struct dsvm_prepare_stats *ret_stats);

/*
 * Copy the hardware catalog the lock was resolved with into the image, as
 * /usr/share/dsvm/hardware/<file> (firstboot decides kinds with it): each file named among the
 * lock's inputs ("catalog/<file>") is read from catalog_dir, checked against the lock's sha256
 * and written atomically unless already there. *ret_written (may be NULL): files written.
 * Returns 0; -EBADMSG for a file that is not the one the lock names, or a lock without catalog
 * inputs; -errno for I/O, the path in the error.
 */
int dsvm_install_catalog(struct dsvm_ctx *ctx, const struct dsvm_lock *lock,
			 const char *catalog_dir, unsigned *ret_written);

/* Number of journaled steps dsvm_install_lock would run for lock (for T1: kill at each). */
unsigned dsvm_install_count_steps(const struct dsvm_lock *lock);
