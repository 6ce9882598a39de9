/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Sealing signer-pinned artifacts (manifests/SCHEMA.md, "Artifacts without a published digest"):
 * where a publisher prints no sha256 for a Windows installer, the manifest pins its Authenticode
 * signer, file version and size, and a maintainer runs `dsvm-build seal EDITION`, which fetches
 * each such artifact, checks it against its pin and writes its exact sha256 into the edition's
 * seal file (committed, as Go commits go.sum). resolve reads that file; nothing floats.
 *
 * The signature is checked by osslsigncode (Debian's package; its `verify` output is parsed in
 * the forms of version 2.5, Debian 12's, and 2.9, bookworm-backports'), run as a program under
 * a time limit; the version resource is read by dsvm/pe.h.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsvm/context.h"

struct dsvm_manifest;

/* Why a file fails its pin; each has its own message. */
enum dsvm_authenticode_verdict {
	DSVM_AUTHENTICODE_OK,
	DSVM_AUTHENTICODE_UNSIGNED,	 /* no signature at all */
	DSVM_AUTHENTICODE_TAMPERED,	 /* the signed digest does not match the file */
	DSVM_AUTHENTICODE_UNTRUSTED,	 /* the chain does not end at a trusted CA */
	DSVM_AUTHENTICODE_WRONG_SIGNER,	 /* valid, but another subject */
	DSVM_AUTHENTICODE_WRONG_CHAIN,	 /* valid, but issued through other CAs */
	DSVM_AUTHENTICODE_WRONG_VERSION, /* the version resource says another version */
	DSVM_AUTHENTICODE_WRONG_SIZE,	 /* not the pinned size */
	DSVM_AUTHENTICODE_FAILED,	 /* verification failed for another reason */
};

/* What `osslsigncode verify` said about the primary signature. Strings owned by the struct. */
struct dsvm_authenticode {
	enum dsvm_authenticode_verdict verdict; /* OK, UNSIGNED, TAMPERED, UNTRUSTED or FAILED */
	char *subject;				/* leaf subject, one-line form "/C=US/.../CN=x" */
	char *chain[8];				/* issuer common names, nearest first */
	size_t n_chain;
};

/*
 * Read osslsigncode's `verify` output (either version's form) and its exit status into *ret.
 * Returns 0, -ENOMEM; an output it cannot read gives verdict FAILED. Free with
 * dsvm_authenticode_clear().
 */
int dsvm_authenticode_parse(const char *output, int status, struct dsvm_authenticode *ret);
void dsvm_authenticode_clear(struct dsvm_authenticode *a);

struct dsvm_seal_options {
	const char *work_dir;	  /* required: downloads go here (created if missing) */
	const char *ca_file;	  /* trust anchors for signatures; NULL: the system's bundle */
	const char *tls_ca_file;  /* trust for https downloads (tests); NULL: the system's */
	const char *osslsigncode; /* absolute path; NULL: /usr/bin/osslsigncode */
	unsigned timeout_s;	  /* per osslsigncode run; 0 means 300 */
};

struct dsvm_seal_result {
	size_t sealed;	/* artifacts newly sealed */
	size_t kept;	/* artifacts whose existing seal still holds */
	size_t dropped; /* lines of the old seal file no longer named by the manifest */
};

/*
 * Seal every signer-pinned artifact of the edition (every override layer, every driver kind)
 * and rewrite its seal file atomically. Each artifact is fetched, its size, signature (subject
 * and chain), and version resource checked against its pin; one already sealed must have the
 * same sha256 as before. Returns 0; on the first artifact that fails, -EBADMSG (a pin not met:
 * the message names the component, the manifest position and what differed; the seal file is
 * left as it was) or the fetch's or the program's -errno.
 */
int dsvm_seal_edition(struct dsvm_ctx *ctx, const struct dsvm_manifest *m,
		      const struct dsvm_seal_options *opts, struct dsvm_seal_result *ret);
