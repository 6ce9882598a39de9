/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "builder.h"
#include "dsvm/cli.h"
#include "dsvm/install.h"
#include "dsvm/lock.h"
#include "internal.h"

static void help(void)
{
	printf("Usage: dsvm-build install LOCK --root DIR [--cache DIR] [OPTIONS]\n\n"
	       "Install a lock's components into the system under DIR, from the cache that\n"
	       "'dsvm-build fetch' filled. Every artifact is hashed again as it is read; a cache\n"
	       "file that no longer matches the lock is refused. Each step is journaled in\n"
	       "DIR/var/lib/dsvm/journal/: if a run is killed, the next run skips the steps that\n"
	       "were done and redoes the one in flight. A second run changes nothing.\n\n"
	       "What goes where (action 'install'):\n"
	       "  archive        extracted securely, then renamed to /opt/NAME-VERSION\n"
	       "  nvidia-redist  each archive's top directory merged into /usr/local/cuda-M.m\n"
	       "                 (the toolkit's M.m); the toolkit points /usr/local/cuda there\n"
	       "  file           copied to its 'dest', mode 0644\n"
	       "  service        enabled or disabled with 'systemctl --root' (or, with\n"
	       "                 --no-systemctl or without systemctl, the same .wants link)\n"
	       "Action 'stage' (other driver kinds): artifacts copied to\n"
	       "/var/lib/dsvm/repo/SHA256 for firstboot to install offline.\n"
	       "Then the lock and its SBOM: /usr/share/dsvm/lock.json, /usr/share/dsvm/sbom.json.\n"
	       "Not done yet, reported as deferred with the reason: apt, pip, conda, runfile,\n"
	       "script, the Windows kinds, and staged apt driver stacks.\n\n"
	       "Every file is written to a temporary, synced and renamed into place: a failure\n"
	       "(disk full, I/O error) leaves the previous file, never a partial one.\n\n"
	       "  -r, --root DIR       the system to install into (required; '/' is allowed)\n"
	       "  -c, --cache DIR      the fetch cache (default /var/cache/dsvm as root, else\n"
	       "                       $XDG_CACHE_HOME/dsvm or ~/.cache/dsvm)\n"
	       "      --no-systemctl   write the .wants links directly, even where systemctl is\n"
	       "                       installed\n"
	       "      --json           print the summary as one JSON object on standard output\n"
	       "  -v, --verbose        log each decision\n\n"
	       "Example:\n"
	       "  dsvm-build fetch lock.json --cache cache\n"
	       "  dsvm-build install lock.json --cache cache --root /mnt/image\n\n"
	       "Exit: 0 installed, 65 an artifact does not match the lock or an archive was\n"
	       "refused, 66 missing lock or artifact (run fetch), 73 cannot create the root,\n"
	       "74 I/O error (disk full: free space and run again; it resumes), 75 another\n"
	       "install holds the root, 1 other failures.\n");
}

static const char *const outcome_words[] = {
	[DSVM_INSTALL_DONE] = "done",
	[DSVM_INSTALL_UNCHANGED] = "unchanged",
	[DSVM_INSTALL_SKIPPED] = "resumed",
	[DSVM_INSTALL_DEFERRED] = "deferred",
};

struct summary {
	json_t *deferred; /* [{name, kind, reason}] for --json */
};

static void on_event(void *userdata, const struct dsvm_install_event *e)
{
	struct summary *s = userdata;

	if (e->outcome == DSVM_INSTALL_DEFERRED) {
		fprintf(stderr, "deferred   %s (%s): %s\n", e->name, e->kind, e->reason);
		if (s->deferred)
			json_array_append_new(s->deferred,
					      json_pack("{s:s, s:s, s:s}", "name", e->name, "kind",
							e->kind, "reason", e->reason));
		return;
	}
	if (e->outcome == DSVM_INSTALL_SKIPPED) {
		fprintf(stderr, "[%u/%u] %-9s %s: done by the interrupted run\n", e->step,
			e->n_steps, outcome_words[e->outcome], e->name);
		return;
	}
	fprintf(stderr, "[%u/%u] %-9s %s %s (%s) -> %s\n", e->step, e->n_steps,
		outcome_words[e->outcome], e->action, e->name, e->kind, e->dest ? e->dest : "");
}

/* systemctl on PATH, or NULL. */
static const char *find_systemctl(void)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = path ? strdup(path) : NULL;
	char *dir, *save = NULL;

	for (dir = copy ? strtok_r(copy, ":", &save) : NULL; dir;
	     dir = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *p = strdup_printf("%s/systemctl", dir);

		if (p && access(p, X_OK) == 0)
			return "systemctl";
	}
	return NULL;
}

static void print_json(const char *root, const struct dsvm_install_stats *st, json_t *deferred)
{
	json_t *o =
		json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:O}", "root", root, "steps",
			  st->steps, "installed", st->installed, "staged", st->staged, "unchanged",
			  st->unchanged, "resumed", st->skipped, "resumed_at", st->resumed_at,
			  "deferred", st->deferred, "deferred_components", deferred);
	char *text = o ? json_dumps(o, JSON_PRESERVE_ORDER) : NULL;

	if (text)
		printf("%s\n", text);
	free(text);
	json_decref(o);
}

int cmd_install(int argc, char **argv)
{
	enum {
		OPT_NO_SYSTEMCTL = 256,
		OPT_JSON
	};
	static const struct option options[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "cache", required_argument, NULL, 'c' },
		{ "no-systemctl", no_argument, NULL, OPT_NO_SYSTEMCTL },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct dsvm_install_options o = { 0 };
	struct dsvm_install_stats st = { 0 };
	struct summary sum = { 0 };
	const char *root = NULL, *cache_opt = NULL;
	bool json = false, verbose = false, no_systemctl = false;
	_cleanup_free_ char *cache = NULL, *root_abs = NULL;
	struct dsvm_lock *lock = NULL;
	struct dsvm_ctx *ctx = NULL;
	int c, r, rc;

	while ((c = getopt_long(argc, argv, "r:c:vh", options, NULL)) >= 0) {
		switch (c) {
		case 'r':
			root = optarg;
			break;
		case 'c':
			cache_opt = optarg;
			break;
		case OPT_NO_SYSTEMCTL:
			no_systemctl = true;
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			help();
			return DSVM_EXIT_OK;
		default:
			return DSVM_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || !root) {
		fprintf(stderr, "dsvm-build install: name one lock file and --root DIR; see "
				"--help\n");
		return DSVM_EXIT_USAGE;
	}
	if (mkdir_parents(root, 0755) < 0 || !(root_abs = realpath(root, NULL))) {
		fprintf(stderr, "dsvm-build install: cannot create the root '%s': %m\n", root);
		return DSVM_EXIT_CANTCREAT;
	}
	cache = cache_opt ? strdup(cache_opt) : builder_default_cache();
	ctx = builder_ctx_new(verbose);
	sum.deferred = json_array();
	if (!cache || !ctx || !sum.deferred) {
		rc = DSVM_EXIT_FAILURE;
		goto out;
	}
	r = dsvm_ctx_set_root(ctx, streq(root_abs, "/") ? NULL : root_abs);
	if (r == 0)
		r = dsvm_lock_load(ctx, argv[optind], &lock);
	if (r < 0) {
		rc = dsvm_cli_fail(BUILDER_PROGRAM, ctx, r);
		goto out;
	}
	o.cache_dir = cache;
	o.systemctl = no_systemctl ? NULL : find_systemctl();
	o.report = on_event;
	o.report_userdata = &sum;
	r = dsvm_install_lock(ctx, lock, &o, &st);
	if (r < 0) {
		rc = dsvm_cli_fail(BUILDER_PROGRAM, ctx, r);
		fprintf(stderr,
			"dsvm-build install: stopped; the journal in '%s/var/lib/dsvm/journal'"
			" lets the next run resume\n",
			root_abs);
		goto out;
	}
	fprintf(stderr,
		"dsvm-build: %u steps into '%s': %u installed, %u staged, %u unchanged, %u "
		"resumed; "
		"%u deferred\n",
		st.steps, root_abs, st.installed, st.staged, st.unchanged, st.skipped, st.deferred);
	if (json)
		print_json(root_abs, &st, sum.deferred);
	rc = DSVM_EXIT_OK;
out:
	json_decref(sum.deferred);
	dsvm_lock_free(lock);
	dsvm_ctx_free(ctx);
	return rc;
}
