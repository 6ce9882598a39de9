/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Secure extraction of verified archives (tar, tar.gz, tar.xz, tar.zst, tar.bz2, zip, cpio;
 * the format and compression are detected) into a fresh staging directory, then one rename into
 * place (DESIGN.md "Rules that hold everywhere").
 *
 * libarchive only reads; the entries are written by this module, every system call relative to
 * the staging directory's descriptor (mkdirat, openat with O_EXCL and O_NOFOLLOW, symlinkat,
 * linkat, utimensat), never through the working directory. Every entry is checked before
 * anything is written: refused are names that are absolute or contain '..'; symbolic links whose
 * target, resolved through the links already in the staging tree, leaves it; hard links to
 * anything but a regular file already extracted into the tree; device nodes, FIFOs and sockets;
 * setuid and setgid bits (refused, not stripped: a payload that asks for them is not one this
 * project ships, and a silent strip would change how it runs); entries whose parent path in the
 * tree is a symlink or not a directory, that would replace a symlink (writing through a link
 * planted earlier, by this archive or an earlier one into the same staging tree) or a directory;
 * names nesting deeper than 128 levels; and anything past the entry or byte budget, counted
 * across every archive extracted into the staging tree. Ownership is never restored; modes are
 * the archive's permission bits under the process umask, directories always owner-writable so
 * the tree can be removed; modification times are restored (directories' once their archive
 * ends). A later entry of the same name replaces an earlier file or link.
 *
 * On any refusal or error (a failed write(2) included: ENOSPC, EIO) the whole staging tree is
 * removed and the error names the archive and the entry, or the path and the cause. Nothing is
 * written outside the staging tree at any time. Files are not synced one by one: a caller that
 * needs them durable syncs them before renaming them to a final path.
 *
 * One struct dsvm_extract is used by one thread at a time; extractions into different staging
 * trees may run in parallel threads of one process.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dsvm/context.h"

struct dsvm_extract;

/* Budgets: 0 selects the default. */
#define DSVM_EXTRACT_DEFAULT_MAX_BYTES (UINT64_C(64) << 30)
#define DSVM_EXTRACT_DEFAULT_MAX_ENTRIES UINT64_C(1000000)

struct dsvm_extract_options {
	uint64_t max_bytes;   /* file bytes written, all archives together */
	uint64_t max_entries; /* entries of every kind, all archives together */
};

/*
 * Create the staging directory (it must not exist; its parent must) and an extraction into it.
 * opts may be NULL. Returns 0, -EEXIST when staging_dir exists, other -errno.
 */
int dsvm_extract_new(struct dsvm_ctx *ctx, const char *staging_dir,
		     const struct dsvm_extract_options *opts, struct dsvm_extract **ret);

/* Removes the staging tree unless it was committed. Accepts NULL. */
void dsvm_extract_free(struct dsvm_extract *ex);

/*
 * Extract the archive at path into the staging tree. Returns 0; -EBADMSG for a refused entry or
 * a damaged or unknown archive, -EFBIG/-E2BIG past the byte/entry budget, other
 * -errno for I/O. After a failure the staging tree is gone and later calls return -ESTALE.
 */
int dsvm_extract_file(struct dsvm_extract *ex, const char *path);

/*
 * Pull reader for dsvm_extract_stream: store up to size bytes in buf and return their count, 0 at
 * the end, or -errno.
 */
typedef ssize_t (*dsvm_extract_read_fn)(void *userdata, void *buf, size_t size);

/*
 * Extract an archive read through read_fn (a pipe, or bytes as a download delivers them); name is
 * used in messages. Same results as dsvm_extract_file. Zip archives whose directory is only at
 * the end may need dsvm_extract_file.
 */
int dsvm_extract_stream(struct dsvm_extract *ex, const char *name, dsvm_extract_read_fn read_fn,
			void *userdata);

/*
 * Move the staging tree to dest with one rename (same file system; dest must not exist), then
 * fsync dest's parent. Returns 0, -EEXIST when dest exists, -EXDEV across file systems.
 */
int dsvm_extract_commit(struct dsvm_extract *ex, const char *dest);

/*
 * Keep the staging tree where it is, for a caller that takes its entries from there itself: sync
 * the staging directory; afterwards free() leaves the tree and other calls return -ESTALE.
 * Returns 0 or -errno.
 */
int dsvm_extract_keep(struct dsvm_extract *ex);

/* Totals so far, all archives together. */
uint64_t dsvm_extract_get_bytes(const struct dsvm_extract *ex);
uint64_t dsvm_extract_get_entries(const struct dsvm_extract *ex);
