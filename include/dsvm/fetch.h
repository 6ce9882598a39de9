/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Download and verify a lock's artifacts into a content-addressed cache (DESIGN.md "Rules that
 * hold everywhere").
 *
 * The cache holds one file per artifact, named by its SHA-256 (<cache>/<64 hex>); a file appears
 * there only after every byte was hashed while it streamed and the digest matched, so nothing
 * unverified ever sits at a final path. A download in progress is <cache>/<hex>.part, locked with
 * flock() so two fetches sharing a cache do not write one file twice; it survives an interrupted
 * run and the next run resumes it with an HTTP range request.
 *
 * Sources, in order: each mirror, then the artifact's own URL. A mirror is content-addressed:
 * MIRROR/sha256/<hex> (any web server or blob container holding files named by their hash), so
 * the same mirror serves every edition. A mirror that answers 404, refuses, or serves bytes with
 * the wrong hash is skipped; the hash decides, never the source.
 *
 * Transport rules, with no switch to loosen them: https only (plain http only to 127.0.0.1,
 * localhost and [::1], for loopback tests); redirects followed at most 5 times and never to another
 * scheme; TLS peer and host verification always on; a byte cap per artifact (the lock's size,
 * else 8 GiB). Transient failures (connection refused or reset, timeouts, truncated bodies, HTTP
 * 408, 429 and 5xx) are retried with exponential backoff; 404, TLS failures, redirect faults and
 * hash mismatches are not.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dsvm/context.h"

struct dsvm_lock;

/* Without a size in the lock, no artifact may exceed this. */
#define DSVM_FETCH_DEFAULT_MAX_BYTES (UINT64_C(8) << 30)

/* Feeds bytes a sink kept from an earlier attempt into the digest (see restart below). */
typedef int (*dsvm_fetch_feed_fn)(void *feed_userdata, const void *buf, size_t size);

/*
 * Where an artifact's bytes go while they stream. The default sink is the cache's .part file; a
 * caller may supply its own (for example one that decompresses and extracts as bytes arrive) and
 * gets the same contract: bytes are written only after the digest started over them, and commit
 * is called only when the digest of every byte matched the lock. Each op returns 0 or -errno.
 */
struct dsvm_fetch_sink_ops {
	/*
	 * Called before every attempt. A sink holding at most max_keep bytes from an earlier
	 * attempt may keep them: it passes them to feed() in order and stores their count in
	 * *ret_offset, and the transfer continues after them. A sink that cannot continue (a
	 * decompressor) drops everything and stores 0. max_keep 0 means start over.
	 */
	int (*restart)(void *userdata, uint64_t max_keep, dsvm_fetch_feed_fn feed,
		       void *feed_userdata, uint64_t *ret_offset);
	int (*write)(void *userdata, const void *buf, size_t size);
	/* Every byte arrived and the digest matched: make the result final and durable. */
	int (*commit)(void *userdata);
	/*
	 * The artifact is finished without success. keep_partial is true after transient failures
	 * (a later run may resume); false after a hash mismatch or a permanent refusal, and then
	 * nothing the sink wrote may remain.
	 */
	void (*abandon)(void *userdata, bool keep_partial);
};

struct dsvm_fetch_sink {
	const struct dsvm_fetch_sink_ops *ops;
	void *userdata;
};

/*
 * An observer of an artifact's bytes beside the cache (one-pass extraction: dsvm/prepare.h). It
 * gets the artifact once, in order from byte 0, wherever the bytes come from: the warm cache
 * (read once, hashed while read), a .part kept from an earlier run or attempt, the network, or a
 * repository file. Bytes reach it before the digest is known: it must hold back its result until
 * commit. A resumed transfer continues the tee where it stopped; when a transfer has to fetch
 * again bytes the tee already took (the next source after one that served other bytes, a server
 * that ignored the range request, kept bytes that proved wrong, a cached file that no longer
 * matches its name), the item fails with -ESPIPE and the .part is kept, so that a plain fetch can
 * finish it. Each op returns 0 or -errno; an error from write or commit fails the item at once (no
 * other source is tried) and removes its .part.
 */
struct dsvm_fetch_tee_ops {
	int (*write)(void *userdata, const void *buf, size_t size);
	/* Every byte went through write and matched the digest; called before the rename. */
	int (*commit)(void *userdata);
	/* The item ends without success, or before every byte went through write. */
	void (*abandon)(void *userdata);
};

struct dsvm_fetch_tee {
	const struct dsvm_fetch_tee_ops *ops;
	void *userdata;
};

/* One artifact to fetch. Strings are borrowed for the duration of the call. */
struct dsvm_fetch_item {
	const char *name;   /* for messages and progress */
	const char *url;    /* exactly one of url and path */
	const char *path;   /* a local file (the lock's repository files), hashed and copied */
	const char *sha256; /* 64 lowercase hex characters; NULL only with ret_sha256 */
	/*
	 * Sealing (dsvm/seal.h): a download whose digest nobody published yet. With sha256 NULL,
	 * a url and a sink, the digest is computed but not compared, no mirror is tried (they are
	 * addressed by digest), and the digest is written here (65 bytes) before the sink's
	 * commit. NULL otherwise.
	 */
	char *ret_sha256;
	uint64_t size; /* exact size when known, else 0 (then the cap is 8 GiB) */
	/* NULL: the content-addressed cache. Otherwise the cache is neither read nor written. */
	const struct dsvm_fetch_sink *sink;
	/*
	 * Also hand the bytes to this observer (with the cache only: sink must be NULL). fetch
	 * calls its commit or abandon at most once; not at all when the call fails before the item
	 * is tried (a malformed item, a cache that cannot be created).
	 */
	const struct dsvm_fetch_tee *tee;
};

enum dsvm_fetch_state {
	DSVM_FETCH_RUNNING, /* bytes are arriving */
	DSVM_FETCH_RETRY,   /* an attempt failed; waiting for the next (error says why); also
			     * the last report of an item whose tee could not go on (-ESPIPE) */
	DSVM_FETCH_CACHED,  /* already in the cache and verified: nothing transferred */
	DSVM_FETCH_DONE,    /* fetched and verified */
	DSVM_FETCH_FAILED,  /* given up (error says why) */
};

struct dsvm_fetch_progress {
	size_t index; /* into the items array */
	const char *name;
	enum dsvm_fetch_state state;
	uint64_t done;	      /* bytes held so far, resumed bytes included */
	uint64_t total;	      /* expected size, 0 when unknown */
	uint64_t transferred; /* bytes received over the network for this item in this call */
	uint64_t resumed;     /* bytes kept from an earlier attempt or run */
	const char *source;   /* the URL or path being read; NULL when cached */
	const char *error;    /* for RETRY and FAILED */
};

/*
 * Called from the calling thread, often during transfers (after each block received) and once
 * at each state change. The struct is valid only during the call.
 */
typedef void (*dsvm_fetch_progress_fn)(void *userdata, const struct dsvm_fetch_progress *p);

struct dsvm_fetch_options {
	const char *cache_dir;	    /* required; created if missing */
	const char *const *mirrors; /* NULL-terminated base URLs, tried in order; may be NULL */
	unsigned parallel;	    /* concurrent transfers; 0 means 4 */
	unsigned attempts;	    /* per source for transient failures; 0 means 4 */
	unsigned backoff_ms;	    /* first retry delay, doubled each time (cap 30 s); 0: 1000 */
	unsigned connect_timeout_s; /* 0 means 30 */
	unsigned stall_timeout_s;   /* abort below 1 KiB/s for this long; 0 means 60 */
	/*
	 * Trust this CA bundle instead of the system's. For tests with a private CA: verification
	 * stays on, and there is no way to turn it off.
	 */
	const char *ca_file;
	dsvm_fetch_progress_fn progress;
	void *progress_userdata;
};

struct dsvm_fetch_stats {
	size_t cached;	      /* items already in the cache (or their sink) and verified */
	size_t fetched;	      /* items downloaded or copied and verified */
	size_t failed;	      /* items given up */
	uint64_t transferred; /* bytes received over the network */
	uint64_t bytes;	      /* bytes of every item that ended verified */
};

/*
 * Create the cache directory (and its parents) when missing and check it is writable. Returns 0,
 * or -errno with the error set; the binaries report this as "cannot create output" (73).
 */
int dsvm_fetch_prepare_cache(struct dsvm_ctx *ctx, const char *cache_dir);

/*
 * Fetch n items (distinct sha256 values where they share the cache). Every item is attempted even
 * when another fails; the return value is 0 when all ended verified, else the failure of the
 * first failed item in array order, whose sentence is in the context (it names the URL or path;
 * for a hash mismatch also the expected and actual digests). -EBADMSG hash mismatch, -EFBIG over
 * the cap, -ENOENT HTTP 404/410 or a missing file, -ELOOP too many redirects, -EPROTO a refused
 * URL, scheme or redirect, -EKEYREJECTED TLS verification failed, -EREMOTEIO another HTTP error,
 * -ECONNREFUSED/-EHOSTUNREACH no connection after every attempt, -EAGAIN/-ETIMEDOUT transient
 * failures outlasted the attempts (the .part is kept for the next run), -EIO/-ENOSPC local I/O,
 * -EBUSY another process holds the .part, -EINVAL a malformed item, -ESPIPE a tee cannot be
 * continued (see struct dsvm_fetch_tee_ops). *ret_stats (may be NULL) is written whenever the call
 * got as far as trying the items.
 *
 * Calls in several threads at once are safe when each has its own ctx (and its progress callback
 * copes with being called from those threads); two of them must not fetch the same sha256 into
 * one cache at the same time (the second fails with -EBUSY).
 */
int dsvm_fetch_items(struct dsvm_ctx *ctx, const struct dsvm_fetch_options *opts,
		     const struct dsvm_fetch_item *items, size_t n,
		     struct dsvm_fetch_stats *ret_stats);

/*
 * Fetch every artifact of a lock (each artifact once, however many components list it). 'path'
 * artifacts are read from the lock's repository (dsvm_lock_set_repository()).
 */
int dsvm_fetch_lock(struct dsvm_ctx *ctx, const struct dsvm_fetch_options *opts,
		    const struct dsvm_lock *lock, struct dsvm_fetch_stats *ret_stats);

/* Number of distinct artifacts fetch_lock would fetch (progress displays size their totals). */
size_t dsvm_fetch_lock_count(const struct dsvm_lock *lock);

/* <cache_dir>/<sha256>, newly allocated; NULL on OOM. */
char *dsvm_fetch_cache_path(const char *cache_dir, const char *sha256);
