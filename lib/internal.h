/* SPDX-License-Identifier: MIT */
#pragma once

/* Helpers shared by libdsvm's modules; never installed, never included by the binaries. */

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsvm/context.h"

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

#define _cleanup_(x) __attribute__((cleanup(x)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define streq(a, b) (strcmp((a), (b)) == 0)

/* Steal a pointer out of a cleanup variable. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tmp = (p);                                                          \
		(p) = NULL;                                                                        \
		_tmp;                                                                              \
	})

#define dsvm_debug(ctx, ...) dsvm_log(ctx, DSVM_LOG_DEBUG, __VA_ARGS__)
#define dsvm_info(ctx, ...) dsvm_log(ctx, DSVM_LOG_INFO, __VA_ARGS__)
#define dsvm_warn(ctx, ...) dsvm_log(ctx, DSVM_LOG_WARNING, __VA_ARGS__)

/*
 * Read a whole file into a NUL-terminated buffer, refusing files over max_bytes with -EFBIG.
 * The size read is stored in *ret_size when not NULL. Caller frees *ret_buf.
 */
int read_file_capped(const char *path, size_t max_bytes, char **ret_buf, size_t *ret_size);

/* write(2) until all of data is written, retrying on EINTR. */
int write_all(int fd, const void *data, size_t size);

/*
 * Replace path atomically with data: write a temporary file beside it, fsync, rename, fsync the
 * directory. On failure the old file is untouched and no temporary is left behind; the
 * temporaries of path a killed write left (<path>.tmp.XXXXXX) are removed by the next one.
 */
int write_file_atomic(const char *path, const void *data, size_t size, unsigned mode);

/*
 * The host path of img (absolute, in the image) under root, every directory of it that exists
 * resolved inside root as the image sees it (openat2 RESOLVE_IN_ROOT): a link in the root never
 * leads out of it, and one that points at nothing inside it is followed to where its target
 * would be made there. The last component is not followed. root NULL or "/": img, cleaned.
 * Newly allocated in *ret_host. Returns 0 or -errno (-ELOOP past 40 links).
 */
int path_in_root(const char *root, const char *img, char **ret_host);

/* path_in_root() for the context's --root; NULL when it cannot be resolved (or OOM). */
char *root_path_resolved(const struct dsvm_ctx *ctx, const char *img);

/* rm -rf, best effort, never following symlinks and with a bounded number of open fds. */
void remove_tree(const char *path);

/* "4.0 GiB", "512 B": a size for messages, binary units, into buf; returns buf. */
const char *human_size(uint64_t bytes, char *buf, size_t size);

/* mkdir -p with mode for the directories it creates. */
int mkdir_parents(const char *path, unsigned mode);

/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void hex_encode(const unsigned char *in, size_t len, char *out);

#include "sha256.h"

/* True for exactly 64 lowercase hex characters. */
bool is_sha256_hex(const char *s);

/* strdup that also accepts NULL. */
char *strdup_or_null(const char *s);

/* asprintf returning the string or NULL on OOM. */
char *strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Compare dotted version strings numerically ("12.10" > "12.9"); non-digits compare bytewise. */
int version_compare(const char *a, const char *b);

/* Join "dir" and a relative "name"; when name is absolute it is returned as is. */
char *path_join_relative(const char *dir, const char *name);

/* Directory part of a path ("." for a bare name); newly allocated. */
char *path_dirname(const char *path);
