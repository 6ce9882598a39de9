/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Prepare artifacts for installation in one pass: network -> SHA-256 -> cache .part and, at the
 * same time, decompression and extraction into a staging tree per artifact, several artifacts in
 * parallel (DESIGN.md "Rules that hold everywhere"; fetch.h and extract.h give the rules each
 * half keeps).
 *
 * For each item, up to opts->parallel at once, each in its own threads:
 *
 *  - In the cache (opts->cache_dir/<sha256>): the file is read once, hashed as it is read, and
 *    extracted from those bytes. Nothing is transferred.
 *  - Not in the cache: it is fetched with every rule of dsvm_fetch_items (mirrors in order, then
 *    the URL; https only; redirects, size cap, TLS verification, retries with backoff; a
 *    repository 'path' is copied) and each byte, once hashed, goes both to the cache's .part and
 *    through a bounded buffer to a thread that decompresses it, then through a second one to a
 *    thread that extracts it (decompressing and writing files overlap). A transfer that fails
 *    part-way resumes with a range request and the extraction continues where it stopped. The
 *    .part becomes the cache file, and the staging tree is kept, only when the digest of every
 *    byte matched and the extraction succeeded. When the extraction refuses the archive, the
 *    transfer still runs to its end (the bytes only hashed and written to the .part), so that the
 *    digest tells a damaged or hostile archive (refused with the extraction's reason, nothing of
 *    it kept) from a source serving other bytes than the lock's (the transfer's verdict, as
 *    below).
 *  - When the transfer has to take again bytes the extraction already consumed (a source that
 *    served other bytes, so the next source starts from byte 0; a server that ignores range
 *    requests; kept bytes that proved wrong; a cached file that no longer matches its name), the
 *    staging tree is removed and the item is done the long way: fetched into the cache with every
 *    source tried again in order (resuming the .part), then extracted from the cache as above.
 *
 * Memory stays flat whatever the artifact sizes: per item in flight, two 2 MiB buffers, the
 * decompressor's window (8 MiB for xz's default preset) and libarchive's blocks; and for one
 * multi-block .xz at a time in the process, decoded on several cores, the blocks in flight
 * within 40 MiB (lib/xz-stream.h; the other .xz decode in one thread each meanwhile).
 *
 * The extraction runs on bytes whose digest is not known yet: a source serving other bytes than
 * the lock's (a hostile mirror) gets its archive parsed, with every check of extract.h, and
 * written into the staging tree until the mismatch shows, which then removes the tree. What bounds
 * that meanwhile is the size cap of the transfer, the unverified budget tied to the artifact
 * (extract.h: DSVM_EXTRACT_UNVERIFIED_RATIO times its pinned size, at least 64 MiB; past it the
 * extraction stops, the transfer runs to its end and, once the digest matched, the archive is
 * extracted again from the verified cache file), the budget given here (bytes and entries per
 * tree) and the decompressor's window as the stream declares it.
 *
 * Contract of a staging tree, for the caller that moves it into place:
 *  - item->staging_dir must not exist; its parent must, on the file system where the tree will be
 *    renamed to (a rename is atomic only within one file system).
 *  - On success it holds exactly the archive's entries, checked and written as extract.h says
 *    (no '..', no absolute names, nothing written through a link, no device nodes, setuid and
 *    setgid bits stripped unless allowed, the budgets held), built from bytes whose SHA-256 matched item->fetch.sha256. Its own directory
 *    is synced; the files in it are not (they are in the page cache): sync what you rename to a
 *    final path first, as the installer does with its staging trees.
 *  - On failure it does not exist (also when the failure was an earlier item's or a later one's:
 *    each item stands alone), and nothing of that item is at a final cache path.
 *  - When setuid or setgid bits were stripped (extract.h), the file <staging_dir>.stripped
 *    beside it says how many and the first entry's name ("N NAME\n"), for the caller's report.
 *  - It belongs to the caller from then on: prepare never touches it again, and a later call
 *    refuses an existing staging_dir with -EEXIST rather than replacing it.
 *  - Entries of one artifact only: a component with several archives gets one tree per archive,
 *    and the caller merges them (and checks links across them, as extract.h does within one
 *    tree).
 */

#include <stddef.h>
#include <stdint.h>

#include "dsvm/context.h"
#include "dsvm/extract.h"
#include "dsvm/fetch.h"

struct dsvm_prepare_item {
	/*
	 * What to fetch, as for dsvm_fetch_items; .sink and .tee must be NULL. Several items may
	 * share a sha256 (one artifact into several trees): the later ones wait for the first and
	 * read it from the cache.
	 */
	struct dsvm_fetch_item fetch;
	const char *staging_dir; /* must not exist; its parent must */
	/*
	 * What the archive may expand to (the manifest's unpacked_size; 0: not stated, then
	 * extract.h's default ratio to fetch.size), and whether it keeps setuid and setgid bits.
	 * Bytes extracted before the digest is known stay within extract.h's unverified budget:
	 * an archive that needs more is extracted again once its digest matched.
	 */
	uint64_t unpacked_size;
	bool allow_setuid;
};

struct dsvm_prepare_stats {
	size_t cached;	      /* items extracted from the cache, nothing transferred */
	size_t fetched;	      /* items fetched (or copied) and extracted in the same pass */
	size_t fallback;      /* items that had to be fetched first and extracted afterwards */
	size_t failed;	      /* items given up; their staging trees do not exist */
	uint64_t transferred; /* bytes received over the network, every attempt included */
	uint64_t bytes;	      /* compressed bytes of the items that ended verified */
	uint64_t extracted;   /* file bytes written into the staging trees that were kept */
	uint64_t entries;     /* archive entries in those trees */
	uint64_t stripped;    /* entries whose setuid or setgid bits were stripped */
};

/*
 * Prepare n items. opts is that of dsvm_fetch_items: cache_dir is required; parallel (0: 4) is
 * the number of items in flight at once, each with a transfer, a decompression and an extraction
 * thread (on a machine with few cores, as many as cores is best: extraction is mostly CPU spent
 * in the kernel creating files). The progress callback is called from those threads, one call at
 * a time (never two at once), with index into items; states are fetch's: CACHED when the item
 * came from the cache, DONE when it was fetched and extracted, FAILED once per item given up; an
 * item going the long way reports RETRY for its one-pass attempt, then its plain fetch, then
 * CACHED. The context's log callback is likewise called from those threads, one call at a time.
 * budget applies to each staging tree (NULL: extract.h's defaults).
 *
 * Every item is attempted even when another fails. Returns 0 when every item ended with its tree,
 * else the failure of the first failed item in array order, its sentence in ctx (naming the
 * URL, path, archive entry or file): the codes of dsvm_fetch_items and dsvm_extract_stream, and
 * -EEXIST when a staging_dir exists, -EINVAL for a malformed item. *ret_stats (may be NULL) is
 * written whenever the items were tried.
 */
int dsvm_prepare_items(struct dsvm_ctx *ctx, const struct dsvm_fetch_options *opts,
		       const struct dsvm_prepare_item *items, size_t n,
		       const struct dsvm_extract_options *budget,
		       struct dsvm_prepare_stats *ret_stats);
