/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The image's offline apt repository, /var/lib/dsvm/repo/apt (written at build time by the apt
 * install steps, include/dsvm/install.h): every driver stack's .debs, Packages, Release signed
 * by the image's own key (InRelease, Release.gpg; the public key is
 * /etc/dsvm/keys/offline-repo.gpg) and index.json, which records per lock component the exact
 * package set (name, version) that component installs.
 *
 * Switching driver kinds with no network is one apt-get transaction from that repository alone.
 * apt's state for it is private, under /var/lib/dsvm/apt/ in the root: sources.list.d/ (one file
 * naming the offline repository, signed-by the image key), lists/, cache/ and an empty
 * preferences.d/; the system's sources, lists and pins are neither read nor changed. dpkg's
 * status and apt's extended_states are the system's. Everything runs inside the context's root
 * (chroot(2) unless it is '/'), reads dpkg's status file directly, and links neither libcurl nor
 * libarchive.
 */

#include <stdbool.h>
#include <stddef.h>

#include "dsvm/context.h"

/*
 * Install the package sets that index.json records for the components in `install` and purge
 * those recorded for `remove` (packages not also in an install set), in ONE apt-get run from
 * the offline repository only, with apt's state private to it (own sources dir, lists, cache:
 * -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=<private> -o Dir::State::Lists=<private>
 * -o Dir::Cache=<private> ...), -o DPkg::Lock::Timeout=60, --purge --allow-change-held-packages,
 * every new package as name=version, every removed one as name-; then holds the whole new set
 * and unholds what was removed. Components are lock component names (index.json keys them).
 * Nothing to do (every install set at its version and held, nothing of remove installed) runs
 * no apt at all and sets *ret_changed false. Runs inside the context's root (chroot unless '/'),
 * each program under timeout_s. Returns 0; -ENOENT (component not in index.json, error names
 * it); -EBADMSG (repository refused: signature, hash); -EIO/other for apt failures with apt's
 * output tail in the error.
 *
 * Also: an interrupted dpkg (a kill or power loss mid-switch) is finished first with
 * `dpkg --configure -a`, so a rerun converges. timeout_s 0 means no limit; a program past it is
 * stopped (include/dsvm/exec.h) and the call returns -ETIME. -EBUSY: another apt or dpkg kept
 * the lock past 60 s. -EBADMSG also for an index.json that is not what the build writes, or
 * two install sets that pin one package at different versions. *ret_changed (may be NULL) is
 * written on success only: true when anything ran.
 */
int dsvm_apt_offline_switch(struct dsvm_ctx *ctx, const char *const *install, size_t n_install,
			    const char *const *remove, size_t n_remove, unsigned timeout_s,
			    bool *ret_changed);

/*
 * The packages (name, version) index.json records for component; for status and tests.
 * *ret_names and *ret_versions are NULL-terminated arrays of *ret_n strings, the caller frees
 * each string and both arrays. Returns 0, -ENOENT (no index.json, or component not in it),
 * -EBADMSG (index.json malformed), -ENOMEM.
 */
int dsvm_apt_offline_packages(struct dsvm_ctx *ctx, const char *component, char ***ret_names,
			      char ***ret_versions, size_t *ret_n);

/*
 * True when every package of component's set is installed (dpkg status 'ii') at its version.
 * A held package ('hi') counts as installed. Returns 0, or the errors of
 * dsvm_apt_offline_packages and -EIO/-ENOENT when dpkg's status cannot be read.
 */
int dsvm_apt_offline_is_installed(struct dsvm_ctx *ctx, const char *component, bool *ret);
