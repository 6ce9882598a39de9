/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "dlopen-api.h"
#include "internal.h"
#include "sha256.h"

/*
 * OpenSSL's SHA-256, with libcrypto loaded on first use. Linked, libcrypto costs every
 * dsvm-firstboot start about 1.3 ms of relocations (its no-op boot needs no digest at all);
 * loaded here, only a run that hashes pays, once. The types stay opaque: these are the five
 * EVP calls a digest needs, resolved by name from libcrypto.so.3 (OpenSSL 3's soname).
 */
struct crypto_api {
	void *(*md_fetch)(void *libctx, const char *algorithm, const char *properties);
	void *(*ctx_new)(void);
	void (*ctx_free)(void *md_ctx);
	int (*ctx_copy)(void *out, const void *in);
	int (*init)(void *md_ctx, const void *md, const void *params);
	int (*update)(void *md_ctx, const void *data, size_t size);
	int (*final)(void *md_ctx, unsigned char *out, unsigned int *size);
};

struct sha256 {
	void *md_ctx;
};

static struct crypto_api api;
static void *sha256_md;
static char load_error[256];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void)
{
	static const struct dlopen_symbol symbols[] = {
		{ "EVP_MD_fetch", offsetof(struct crypto_api, md_fetch) },
		{ "EVP_MD_CTX_new", offsetof(struct crypto_api, ctx_new) },
		{ "EVP_MD_CTX_free", offsetof(struct crypto_api, ctx_free) },
		{ "EVP_MD_CTX_copy_ex", offsetof(struct crypto_api, ctx_copy) },
		{ "EVP_DigestInit_ex2", offsetof(struct crypto_api, init) },
		{ "EVP_DigestUpdate", offsetof(struct crypto_api, update) },
		{ "EVP_DigestFinal_ex", offsetof(struct crypto_api, final) },
	};
	struct crypto_api loaded;

	if (dlopen_api("libcrypto.so.3", symbols, ARRAY_SIZE(symbols), &loaded, sizeof(loaded),
		       load_error, sizeof(load_error)) < 0)
		return;
	/* OpenSSL 3 looks an algorithm up in its provider tables on every EVP_sha256() use;
	 * fetch it once, for the process. */
	sha256_md = loaded.md_fetch(NULL, "SHA256", NULL);
	if (!sha256_md) {
		snprintf(load_error, sizeof(load_error), "libcrypto.so.3 has no SHA-256");
		return;
	}
	api = loaded;
}

int sha256_available(const char **ret_reason)
{
	pthread_once(&load_once, load);
	if (sha256_md)
		return 0;
	if (ret_reason)
		*ret_reason = load_error;
	return -ENOPKG;
}

int sha256_new(struct sha256 **ret)
{
	struct sha256 *s;

	if (sha256_available(NULL) < 0)
		return -ENOPKG;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->md_ctx = api.ctx_new();
	if (!s->md_ctx || api.init(s->md_ctx, sha256_md, NULL) != 1) {
		sha256_free(s);
		return -EIO;
	}
	*ret = s;
	return 0;
}

int sha256_restart(struct sha256 *s)
{
	return api.init(s->md_ctx, sha256_md, NULL) == 1 ? 0 : -EIO;
}

int sha256_update(struct sha256 *s, const void *data, size_t size)
{
	return api.update(s->md_ctx, data, size) == 1 ? 0 : -EIO;
}

int sha256_final(struct sha256 *s, unsigned char out[SHA256_SIZE])
{
	unsigned int len = 0;

	return api.final(s->md_ctx, out, &len) == 1 && len == SHA256_SIZE ? 0 : -EIO;
}

int sha256_peek(const struct sha256 *s, unsigned char out[SHA256_SIZE])
{
	struct sha256 copy = { .md_ctx = api.ctx_new() };
	int r = -EIO;

	if (!copy.md_ctx)
		return -ENOMEM;
	if (api.ctx_copy(copy.md_ctx, s->md_ctx) == 1)
		r = sha256_final(&copy, out);
	api.ctx_free(copy.md_ctx);
	return r;
}

void sha256_free(struct sha256 *s)
{
	if (!s)
		return;
	if (s->md_ctx)
		api.ctx_free(s->md_ctx);
	free(s);
}

bool sha256_equal(const unsigned char a[SHA256_SIZE], const unsigned char b[SHA256_SIZE])
{
	unsigned char diff = 0;

	/* Constant time: how much of a digest matched tells nothing. */
	for (size_t i = 0; i < SHA256_SIZE; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

int sha256_buffer_hex(const void *data, size_t size, char ret_hex[65])
{
	_cleanup_(sha256_freep) struct sha256 *s = NULL;
	unsigned char md[SHA256_SIZE];
	int r;

	r = sha256_new(&s);
	if (r == 0)
		r = sha256_update(s, data, size);
	if (r == 0)
		r = sha256_final(s, md);
	if (r == 0)
		hex_encode(md, sizeof(md), ret_hex);
	return r;
}

int sha256_fd_copy_hex(int in_fd, int out_fd, char ret_hex[65], bool *write_failed)
{
	_cleanup_(sha256_freep) struct sha256 *s = NULL;
	unsigned char md[SHA256_SIZE];
	unsigned char buf[65536];
	bool failed_writing = false;
	int r;

	r = sha256_new(&s);
	while (r == 0) {
		ssize_t n = read(in_fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		r = sha256_update(s, buf, (size_t)n);
		if (r == 0 && out_fd >= 0 && (r = write_all(out_fd, buf, (size_t)n)) < 0)
			failed_writing = true;
	}
	if (r == 0)
		r = sha256_final(s, md);
	if (r == 0)
		hex_encode(md, sizeof(md), ret_hex);
	if (write_failed)
		*write_failed = failed_writing;
	return r;
}

int sha256_file_hex(const char *path, char ret_hex[65])
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return sha256_fd_copy_hex(fd, -1, ret_hex, NULL);
}
