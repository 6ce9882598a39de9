/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder.h"
#include "dsvm/cli.h"
#include "dsvm/manifest.h"
#include "dsvm/seal.h"
#include "internal.h"

static void help(void)
{
	printf("Usage: dsvm-build seal EDITION [--ca FILE] [--work-dir DIR]\n\n"
	       "Seal the artifacts the edition pins by their Authenticode signer (sources with an\n"
	       "'authenticode' block: Windows installers whose publisher prints no sha256). Each\n"
	       "is downloaded, its size, signature (subject and issuing chain, checked by\n"
	       "'osslsigncode verify') and version resource compared with the pin, and its exact\n"
	       "sha256 written into the seal file beside the edition (EDITION with '.seal' for\n"
	       "'.yaml'), which resolve reads. Commit the seal file as Go commits go.sum: a\n"
	       "file that changes under a sealed URL is refused.\n\n"
	       "Options:\n"
	       "  --ca FILE            trust anchors for signatures (default: the system's "
	       "bundle)\n"
	       "  --tls-ca FILE        trust anchors for https downloads (default: the system's)\n"
	       "  --osslsigncode PATH  the osslsigncode program (default /usr/bin/osslsigncode)\n"
	       "  --work-dir DIR       where downloads are checked (default: a folder in $TMPDIR)\n"
	       "  --timeout SECONDS    time limit of each signature check (default 300)\n"
	       "  --verbose            log each step\n\n"
	       "Example:\n"
	       "  dsvm-build seal manifests/editions/windows-server-2022.yaml\n\n"
	       "Exit: 0 sealed, 65 an artifact fails its pin (wrong signer, unsigned, another\n"
	       "version or size, changed after sealing) or a bad manifest or seal file, 66 "
	       "missing\n"
	       "file, 69 download failed, 64 usage, 73 cannot write the seal file.\n");
}

int cmd_seal(int argc, char **argv)
{
	enum {
		OPT_CA = 256,
		OPT_TLS_CA,
		OPT_TOOL,
		OPT_WORK,
		OPT_TIMEOUT,
	};
	static const struct option options[] = {
		{ "ca", required_argument, NULL, OPT_CA },
		{ "tls-ca", required_argument, NULL, OPT_TLS_CA },
		{ "osslsigncode", required_argument, NULL, OPT_TOOL },
		{ "work-dir", required_argument, NULL, OPT_WORK },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct dsvm_seal_options o = { 0 };
	struct dsvm_seal_result res = { 0 };
	_cleanup_free_ char *work = NULL;
	struct dsvm_manifest *m = NULL;
	struct dsvm_ctx *ctx;
	bool verbose = false;
	char *end;
	int c, r;

	while ((c = getopt_long(argc, argv, "vh", options, NULL)) >= 0) {
		switch (c) {
		case OPT_CA:
			o.ca_file = optarg;
			break;
		case OPT_TLS_CA:
			o.tls_ca_file = optarg;
			break;
		case OPT_TOOL:
			if (optarg[0] != '/') {
				fprintf(stderr,
					"dsvm-build seal: --osslsigncode takes an absolute "
					"path ('%s' given)\n",
					optarg);
				return DSVM_EXIT_USAGE;
			}
			o.osslsigncode = optarg;
			break;
		case OPT_WORK:
			o.work_dir = optarg;
			break;
		case OPT_TIMEOUT:
			o.timeout_s = (unsigned)strtoul(optarg, &end, 10);
			if (*end || o.timeout_s == 0 || o.timeout_s > 86400) {
				fprintf(stderr,
					"dsvm-build seal: --timeout takes 1..86400 seconds "
					"('%s' given)\n",
					optarg);
				return DSVM_EXIT_USAGE;
			}
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
	if (optind + 1 != argc) {
		fprintf(stderr, "dsvm-build seal: name exactly one edition file; see --help\n");
		return DSVM_EXIT_USAGE;
	}
	if (!o.work_dir) {
		const char *tmp = getenv("TMPDIR");

		work = strdup_printf("%s/dsvm-seal.%ld", tmp && *tmp ? tmp : "/tmp",
				     (long)getpid());
		if (!work)
			return DSVM_EXIT_FAILURE;
		o.work_dir = work;
	}
	ctx = builder_ctx_new(verbose);
	if (!ctx)
		return DSVM_EXIT_FAILURE;
	r = dsvm_manifest_load(ctx, argv[optind], &m);
	if (r >= 0)
		r = dsvm_seal_edition(ctx, m, &o, &res);
	if (r >= 0)
		fprintf(stderr,
			"dsvm-build: sealed %zu new, %zu unchanged, %zu dropped -> %s; review and "
			"commit it\n",
			res.sealed, res.kept, res.dropped, dsvm_manifest_get_seal_path(m));
	if (work)
		remove_tree(work);
	c = r < 0 ? dsvm_cli_fail(BUILDER_PROGRAM, ctx, r) : DSVM_EXIT_OK;
	dsvm_manifest_free(m);
	dsvm_ctx_free(ctx);
	return c;
}
