/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The seal file of an edition (manifests/editions/NAME.seal, manifests/SCHEMA.md "Artifacts
 * without a published digest") and the signer subjects of authenticode pins (lib/seal-file.c),
 * shared by manifest.c (loading, schema), resolve.c (the lock) and seal.c (dsvm-build seal).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsvm/context.h"
#include "dsvm/pe.h"

/* A seal file over this is refused: an edition seals a handful of installers. */
#define SEAL_FILE_MAX (1u << 20)

struct seal_entry {
	char *component;
	char *url;
	char sha256[65];
	uint64_t size;
	char file_version[DSVM_PE_VERSION_MAX]; /* "" where the file has none (an msi) */
	unsigned line;
};

struct seal_file {
	char *path;	 /* as opened */
	bool exists;	 /* false: no seal file yet (nothing is sealed) */
	char sha256[65]; /* of the bytes parsed, for the lock's inputs */
	struct seal_entry *v;
	size_t n;
};

/* The seal file beside an edition: its path with '.yaml' replaced by '.seal'. */
char *seal_path_for_edition(const char *edition_path);

/*
 * Read path into *ret. A missing file is no error (ret->exists false). -EBADMSG with
 * "path:line: ..." in the context for a malformed line, a duplicate entry or lines out of order.
 */
int seal_file_load(struct dsvm_ctx *ctx, const char *path, struct seal_file *ret);
void seal_file_clear(struct seal_file *sf);
/* qsort order of a seal file's lines: by component, then URL. */
int seal_entry_qsort_cmp(const void *a, const void *b);
const struct seal_entry *seal_file_find(const struct seal_file *sf, const char *component,
					const char *url);

/*
 * A subject pin ("CN=NVIDIA Corporation, O=NVIDIA Corporation, C=US"): NULL when valid, else a
 * static text saying what is wrong with it.
 */
const char *signer_subject_check(const char *pin);

/*
 * True when every attribute of the pin appears in the certificate subject, written as OpenSSL's
 * one-line form ("/C=US/O=NVIDIA Corporation/CN=NVIDIA Corporation"), with that exact value.
 */
bool signer_subject_matches(const char *pin, const char *subject);

/* "a.b.c.d", each part at most 65535, as a pin's file_version must be written. */
bool file_version_is_valid(const char *s);
