/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A YAML file as a small tree that remembers where each node came from, so every complaint can
 * name file:line:col. Built with libyaml's document API and then copied out, which is where the
 * limits are enforced: file size, nesting depth, and the node count after alias expansion (an
 * alias bomb is a few lines that expand to millions of nodes).
 *
 * Scalars stay text: `12.10` is the string "12.10", never the float 12.1.
 */

#include <stdbool.h>
#include <stddef.h>

#include "dsvm/context.h"

#define YDOC_MAX_BYTES (1024 * 1024)
#define YDOC_MAX_DEPTH 64
#define YDOC_MAX_NODES 200000
#define YDOC_MAX_EXPANDED_BYTES (16 * 1024 * 1024)

enum ynode_kind {
	YNODE_SCALAR,
	YNODE_SEQUENCE,
	YNODE_MAPPING,
};

struct ynode {
	enum ynode_kind kind;
	unsigned line;	      /* 1-based */
	unsigned column;      /* 1-based */
	bool plain;	      /* scalar written without quotes */
	char *value;	      /* scalar text */
	size_t n;	      /* sequence items or mapping pairs */
	struct ynode **items; /* sequence items, or mapping values */
	struct ynode **keys;  /* mapping keys (always scalars) */
};

struct arena_chunk;

struct ydoc {
	char *path; /* as given, used in messages */
	struct ynode *root;
	char *text; /* the bytes parsed, kept for ydoc_sha256() */
	size_t size;
	struct arena_chunk *arena;
};

/* Read a file for parsing (capped at YDOC_MAX_BYTES): -EFBIG or -errno with the message set. */
int ydoc_read(struct dsvm_ctx *ctx, const char *path, char **ret_buf, size_t *ret_size);

/* Parse a file (capped at YDOC_MAX_BYTES). Errors are -EBADMSG/-EFBIG/-errno with file:line:col. */
int ydoc_load(struct dsvm_ctx *ctx, const char *path, struct ydoc **ret_doc);

/* Parse a buffer; name is used in messages. The fuzz target enters here. */
int ydoc_parse(struct dsvm_ctx *ctx, const char *name, const char *buf, size_t size,
	       struct ydoc **ret_doc);

void ydoc_free(struct ydoc *doc);

/* Zeroed memory owned by doc, freed with it (for trees built without parsing). NULL if none. */
void *ydoc_alloc(struct ydoc *doc, size_t size);

/*
 * SHA-256 of the bytes the document was parsed from, as lowercase hex, without reading the file
 * again. Computed on demand: most loads (the catalog at boot) never need it.
 */
int ydoc_sha256(const struct ydoc *doc, char ret_hex[65]);

const char *ynode_kind_name(enum ynode_kind kind);

/* Value for key in a mapping, or NULL (also when map is NULL or not a mapping). */
struct ynode *ymap_get(const struct ynode *map, const char *key);

/*
 * Record "file:line:col: message" for node (or the document start when node is NULL) and
 * return -EBADMSG.
 */
int yerror(struct dsvm_ctx *ctx, const struct ydoc *doc, const struct ynode *node, const char *fmt,
	   ...) __attribute__((format(printf, 4, 5)));

/* Fail unless node has the kind; what names the thing expected ("the 'when' block"). */
int yexpect(struct dsvm_ctx *ctx, const struct ydoc *doc, const struct ynode *node,
	    enum ynode_kind kind, const char *what);

/* Fail on the first key not in the NULL-terminated allowed list, naming the valid keys. */
int ymap_check_keys(struct dsvm_ctx *ctx, const struct ydoc *doc, const struct ynode *map,
		    const char *const *allowed);

/*
 * Typed getters. A missing optional key leaves *ret untouched and returns 0; a missing required
 * key, or a value of the wrong type, fails with the key's position and what was expected.
 * Returned strings are owned by the document.
 */
int yget_str(struct dsvm_ctx *ctx, const struct ydoc *doc, const struct ynode *map, const char *key,
	     bool required, const char **ret);
int yget_bool(struct dsvm_ctx *ctx, const struct ydoc *doc, const struct ynode *map,
	      const char *key, bool *ret);
int yget_uint(struct dsvm_ctx *ctx, const struct ydoc *doc, const struct ynode *map,
	      const char *key, bool required, unsigned long long max, unsigned long long *ret);

/*
 * A list of strings: a sequence of scalars, or one scalar taken as a list of one. Returns the
 * count in *ret_n and a newly allocated array of document-owned strings in *ret (caller frees
 * the array only); a missing key gives 0 and NULL.
 */
int yget_str_list(struct dsvm_ctx *ctx, const struct ydoc *doc, const struct ynode *map,
		  const char *key, const char ***ret, size_t *ret_n);
