/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* SHA-256 through OpenSSL's libcrypto, loaded on the first digest (lib/sha256.c). */

#define SHA256_SIZE 32

struct sha256;

/* 0 when libcrypto and its SHA-256 are there; else -ENOPKG and *ret_reason (may be NULL) says why. */
int sha256_available(const char **ret_reason);

/* A running digest: new, then update any number of times, then final (once). -errno on failure. */
int sha256_new(struct sha256 **ret);
int sha256_update(struct sha256 *s, const void *data, size_t size);
int sha256_final(struct sha256 *s, unsigned char out[SHA256_SIZE]);
/* Start over, as if new. */
int sha256_restart(struct sha256 *s);
/* The digest of what was fed so far, leaving the running digest as it was. */
int sha256_peek(const struct sha256 *s, unsigned char out[SHA256_SIZE]);
void sha256_free(struct sha256 *s);
static inline void sha256_freep(struct sha256 **s)
{
	sha256_free(*s);
}

/* Compares two digests in constant time. */
bool sha256_equal(const unsigned char a[SHA256_SIZE], const unsigned char b[SHA256_SIZE]);

/* SHA-256 of a buffer and of a file, as 64 lowercase hex characters plus NUL. */
int sha256_buffer_hex(const void *data, size_t size, char ret_hex[65]);
int sha256_file_hex(const char *path, char ret_hex[65]);

/*
 * SHA-256 of everything read from in_fd, also written to out_fd unless it is -1 (copy and hash
 * in one pass). Returns 0 or -errno; *write_failed (may be NULL) is set on every return, true
 * when the error came from writing: the caller names the right file.
 */
int sha256_fd_copy_hex(int in_fd, int out_fd, char ret_hex[65], bool *write_failed);
