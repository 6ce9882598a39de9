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
#include "install-ui.h"
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
	       "  apt            exact version with apt-get chrooted into DIR (its own sources\n"
	       "                 entry, key in /etc/dsvm/keys/), then apt-mark hold\n"
	       "  pip            the locked wheels into /opt/dsvm/envs/ENV (a venv of the root's\n"
	       "                 Python when missing), offline, without dependencies\n"
	       "  runfile, script  run once with /bin/sh inside DIR, with the component's args\n"
	       "Action 'stage' (other driver kinds): apt packages into the local repository\n"
	       "/var/lib/dsvm/repo/apt (with its index), other artifacts to\n"
	       "/var/lib/dsvm/repo/SHA256, for firstboot to install offline.\n"
	       "Then the lock and its SBOM: /usr/share/dsvm/lock.json, /usr/share/dsvm/sbom.json.\n"
	       "Deferred, with the reason: conda and the Windows kinds.\n"
	       "Steps that run programs (apt, pip, runfile, script) in a DIR other than / need\n"
	       "root (chroot).\n\n"
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
	       "Exit: 0 installed; 1 the job failed: a program it ran (apt-get, dpkg, pip, a\n"
	       "runfile, a script, systemctl) exited non-zero, its output is in the message;\n"
	       "65 an artifact does not match the lock, an archive was refused, or apt could not\n"
	       "verify a repository's signature or a package's hash; 66 missing lock or artifact\n"
	       "(run fetch); 69 an apt repository is unreachable; 73 cannot create the root;\n"
	       "74 I/O error (disk full: free space and run again; it resumes); 75 another\n"
	       "install, apt or dpkg holds the root; 77 not root where a step must chroot.\n");
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
	struct install_ui sum = { 0 };
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
	cache = cache_opt ? strdup(cache_opt) : builder_default_cache();
	ctx = builder_ctx_new(verbose);
	sum.deferred = json_array();
	if (!cache || !ctx || !sum.deferred) {
		rc = DSVM_EXIT_FAILURE;
		goto out;
	}
	/* The lock first: a run that cannot start must not leave a new root directory behind. */
	r = dsvm_lock_load(ctx, argv[optind], &lock);
	if (r < 0) {
		rc = dsvm_cli_fail(BUILDER_PROGRAM, ctx, r);
		goto out;
	}
	if (builder_make_root("install", root, &root_abs) < 0) {
		rc = DSVM_EXIT_CANTCREAT;
		goto out;
	}
	r = dsvm_ctx_set_root(ctx, streq(root_abs, "/") ? NULL : root_abs);
	if (r < 0) {
		rc = dsvm_cli_fail(BUILDER_PROGRAM, ctx, r);
		goto out;
	}
	o.cache_dir = cache;
	o.systemctl = no_systemctl ? NULL : builder_find_systemctl();
	o.report = install_ui_event;
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
		install_ui_print_json(root_abs, &st, sum.deferred);
	rc = DSVM_EXIT_OK;
out:
	json_decref(sum.deferred);
	dsvm_lock_free(lock);
	dsvm_ctx_free(ctx);
	return rc;
}
