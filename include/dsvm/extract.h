/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Secure extraction of verified archives (tar, tar.gz, tar.xz, tar.zst, tar.bz2, zip, cpio;
 * the format and compression are detected) into a fresh staging directory, then one rename into
 * place (DESIGN.md "Rules that hold everywhere").
 *
 * libarchive only reads; the entries are written by this module, every system call relative to
 * the staging directory's descriptor (mkdirat, openat with O_EXCL and O_NOFOLLOW, symlinkat,
 * linkat, utimensat), never through the working directory. The security property is that
 * nothing is ever written through a symbolic link and nothing outside the staging tree, not
 * that links point inside: a link is content and may point anywhere
 * (libfoo.so -> /usr/lib/x86_64-linux-gnu/libfoo.so.1, include -> ../../lib/...), as GNU tar
 * extracts it. Every entry is checked before anything is written: refused are names that are
 * absolute or contain '..'; entries whose parent path in the tree is a symlink or not a
 * directory, or that would replace a symlink (writing through a link planted earlier, by this
 * archive or an earlier one into the same staging tree) or a directory; hard links to anything
 * but a regular file already extracted into the tree; device nodes, FIFOs and sockets; names
 * nesting deeper than 128 levels; and anything past the entry or byte budget, counted across
 * every archive extracted into the staging tree. Links whose target is absolute or climbs with
 * '..' are delayed, as GNU tar delays them: until their archive ends they are placeholder links
 * that lead nowhere (so every check above holds for them), and they are made real last.
 * setuid and setgid bits are stripped (the file is written, the count and the first names are
 * kept for the report: dsvm_extract_get_stripped) unless the options allow them. Ownership is
 * never restored; modes are the archive's permission bits under the process umask, directories
 * always owner-writable so the tree can be removed; modification times are restored
 * (directories' and delayed links' once their archive ends). A later entry of the same name
 * replaces an earlier file.
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

/*
 * An artifact whose manifest states no unpacked_size may expand to this many times its pinned
 * size (real payloads: 2-5 times for xz), and at least to the floor, so that a small archive of
 * text is never refused. Bytes extracted before the digest is known: this many times the
 * pinned size (at least the floor), never more than the artifact may expand to.
 */
#define DSVM_EXTRACT_DEFAULT_RATIO 100
#define DSVM_EXTRACT_RATIO_FLOOR (UINT64_C(64) << 20)
#define DSVM_EXTRACT_UNVERIFIED_RATIO 16
#define DSVM_EXTRACT_UNVERIFIED_FLOOR (UINT64_C(64) << 20)

struct dsvm_extract_options {
	uint64_t max_bytes;   /* file bytes written, all archives together */
	uint64_t max_entries; /* entries of every kind, all archives together */
	/*
	 * File bytes that may be written while the archive's digest is not known yet (0: no such
	 * limit, the input is verified). Past it the extraction fails with -EAGAIN: the caller
	 * waits for the digest and extracts the verified file.
	 */
	uint64_t unverified_bytes;
	/* The archive's pinned size, so that a refusal past max_bytes names the ratio; 0 unknown. */
	uint64_t archive_size;
	/* Keep setuid and setgid bits (the component allows them); otherwise they are stripped. */
	bool allow_setuid;
};

/*
 * Set o's byte budgets for one artifact of size bytes (0: unknown) whose manifest may state
 * unpacked_size (0: not stated; then DSVM_EXTRACT_DEFAULT_RATIO): max_bytes, unverified_bytes
 * and archive_size. A smaller max_bytes already in o is kept.
 */
void dsvm_extract_options_for_artifact(struct dsvm_extract_options *o, uint64_t size,
				       uint64_t unpacked_size);

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
 * a damaged or unknown archive, -EFBIG/-E2BIG past the byte/entry budget (the message names the
 * expansion ratio and the manifest's way to allow it when archive_size is known), -EAGAIN past
 * the unverified budget, other -errno for I/O. After a failure the staging tree is gone and later calls return -ESTALE.
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

/*
 * Entries whose setuid or setgid bits were stripped, all archives together; *ret_first (may be
 * NULL) is the first one's name, owned by ex (NULL when none).
 */
uint64_t dsvm_extract_get_stripped(const struct dsvm_extract *ex, const char **ret_first);
