/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The version resource of a Windows executable (PE/COFF, 32- or 64-bit): the fixed part of its
 * VS_VERSIONINFO (VS_FIXEDFILEINFO), which is what Windows shows as the file version and what a
 * signer pin compares (manifests/SCHEMA.md, "Artifacts without a published digest").
 *
 * The parser reads only the bytes it is given: every offset and length in the file is checked
 * against the buffer before use, so any input (a truncated download, a hostile file) ends in an
 * error, never in a read outside it. No context, no allocation.
 */

#include <stddef.h>

/* "65535.65535.65535.65535" and its terminator. */
#define DSVM_PE_VERSION_MAX 24

/*
 * The FileVersion of the first RT_VERSION resource (first name, first language) of the PE image
 * in buf, written "a.b.c.d" into ret. Returns 0; -ENOENT when the image has no version resource
 * (or no resource section); -EBADMSG when buf is not a PE image or its headers, resource
 * directory or version block are malformed or point outside buf. ret is written only on success.
 */
int dsvm_pe_file_version(const void *buf, size_t size, char ret[DSVM_PE_VERSION_MAX]);
