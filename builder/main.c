/* SPDX-License-Identifier: MIT */
#include <stddef.h>

#include "builder.h"
#include "dsvm/cli.h"

static const struct dsvm_verb verbs[] = {
	{ "validate", "check manifests: schema and constraints, file:line:col errors",
	  cmd_validate },
	{ "resolve", "resolve an edition for a target and write the lock", cmd_resolve },
	{ "sbom", "write a CycloneDX 1.5 SBOM of a lock", cmd_sbom },
	{ "fetch", "download and verify a lock's artifacts into a content-addressed cache",
	  cmd_fetch },
	{ "install", "install a lock into a root from the cache, journaled and resumable",
	  cmd_install },
	{ "image", "resolve, fetch and install an edition into a root in one resumable run",
	  cmd_image },
	{ "packer", "write Packer templates (azure-arm) that build an edition on Azure",
	  cmd_packer },
	{ "seal", "seal the Windows installers an edition pins by their signer (the seal file)",
	  cmd_seal },
	{ NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
	return dsvm_cli_dispatch(BUILDER_PROGRAM,
				 "dsvm-build: assemble Azure Data Science VM images from pinned, "
				 "verified manifests.",
				 verbs, argc, argv);
}
