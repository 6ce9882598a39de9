/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Debian package metadata, for the apt steps (lib/install-apt.c): control-format lists (an apt
 * repository's Packages index, dpkg's status file), version ordering as dpkg defines it, and the
 * set of packages an exact package=version needs from one repository. Pure functions over text:
 * no I/O, no context. Never included outside lib/.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One stanza of a control-format list; every string is owned, NULL when the field is absent. */
struct deb_pkg {
	char *package;
	char *version;
	char *architecture;
	char *depends;	   /* continuation lines joined with a space */
	char *pre_depends; /* likewise */
	char *provides;
	char *filename; /* Packages: the path in the repository */
	char *sha256;	/* Packages */
	char *size_text;
	char *status;  /* dpkg status: "want flag status" */
	uint64_t size; /* Packages: Size as a number, 0 when absent */
	char *stanza;  /* the stanza as read, each line ending in '\n', no blank line */
};

struct deb_list {
	struct deb_pkg *v;
	size_t n;
	size_t cap;
};

/*
 * Append the stanzas of text (len bytes, need not be NUL-terminated) to l. Stanzas without a
 * Package field are skipped. Returns 0, or -ENOMEM (l keeps the stanzas appended so far).
 */
int deb_list_parse(struct deb_list *l, const char *text, size_t len);
void deb_list_done(struct deb_list *l);

/* dpkg's ordering of versions ([epoch:]upstream[-revision], '~' before everything): <0, 0, >0. */
int deb_version_compare(const char *a, const char *b);

/* A version apt and dpkg accept: [epoch:]upstream[-revision], upstream starting with a digit. */
bool deb_version_is_valid(const char *v);

/* A package name: [a-z0-9][a-z0-9+.-]+ (Debian policy 5.6.1). */
bool deb_name_is_valid(const char *name);

/* Status "... ok installed" (any selection); "hold ok installed" for is_held. */
bool deb_pkg_is_installed(const struct deb_pkg *p);
bool deb_pkg_is_held(const struct deb_pkg *p);
/* Status "... not-installed": only a selection (or a hold) is left of it; purged. */
bool deb_pkg_is_not_installed(const struct deb_pkg *p);
/* Unpacked, half-configured, half-installed or awaiting triggers: dpkg did not finish. */
bool deb_pkg_is_half_done(const struct deb_pkg *p);

/* The installed stanza for name at version (or any version when version is NULL), or NULL. */
const struct deb_pkg *deb_list_find_installed(const struct deb_list *installed, const char *name,
					      const char *version);

struct deb_closure_input {
	const struct deb_list *repo;	  /* the repository's Packages stanzas */
	const struct deb_list *installed; /* the root's dpkg status; NULL: nothing installed */
	const char *arch;		  /* the root's architecture; "all" always matches */
	/* Installed packages that do not count as the root's own (an earlier run installed them). */
	const char *const *ours;
	size_t n_ours;
};

/*
 * What installing package=version from in->repo takes: that package, then, for each of its
 * Pre-Depends and Depends (recursively) not already met by a chosen package or by an installed
 * package of the root (one not in in->ours), the first alternative the repository can meet: the
 * stanza of that name (or providing it) whose version satisfies the relation, preferring
 * version itself (a driver's packages share its version), else the highest. Dependencies the
 * repository cannot meet are left to apt. Returns the number of packages, with *ret_idx (indices
 * into in->repo->v, package=version first; the caller frees), or -ENOENT when in->repo has no
 * package=version for in->arch, -ENOMEM.
 */
int deb_closure(const struct deb_closure_input *in, const char *package, const char *version,
		size_t **ret_idx);
