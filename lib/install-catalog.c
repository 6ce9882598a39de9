/* SPDX-License-Identifier: MIT */
#include <jansson.h>

#include "dsvm/install.h"
#include "dsvm/lock.h"
#include "dsvm/reconcile.h"
#include "internal.h"
#include "lock-internal.h"

#define CATALOG_MAX_BYTES (16u << 20)

int dsvm_install_catalog(struct dsvm_ctx *ctx, const struct dsvm_lock *lock,
			 const char *catalog_dir, unsigned *ret_written)
{
	const json_t *in;
	unsigned written = 0, n = 0;
	size_t i;

	json_array_foreach(json_object_get(dsvm_lock_json(lock), "inputs"), i, in)
	{
		const char *path = json_string_value(json_object_get(in, "path"));
		const char *sha = json_string_value(json_object_get(in, "sha256"));
		_cleanup_free_ char *src = NULL, *dst = NULL, *dir = NULL, *text = NULL;
		_cleanup_free_ char *old = NULL;
		char have[65];
		size_t size = 0;
		int r;

		if (!path || strncmp(path, "catalog/", 8) != 0)
			continue;
		if (strchr(path + 8, '/') || !sha)
			return dsvm_set_error(ctx, -EBADMSG,
					      "lock input '%s' is not a catalog file", path);
		n++;
		src = strdup_printf("%s/%s", catalog_dir, path + 8);
		dst = strdup_printf("%s/%s", DSVM_IMAGE_CATALOG, path + 8);
		if (!src || !dst)
			return -ENOMEM;
		r = read_file_capped(src, CATALOG_MAX_BYTES, &text, &size);
		if (r < 0)
			return dsvm_set_error(ctx, r, "cannot read '%s': %s", src, strerror(-r));
		r = sha256_buffer_hex(text, size, have);
		if (r < 0)
			return r;
		if (!streq(have, sha))
			return dsvm_set_error(ctx, -EBADMSG,
					      "'%s' is not the catalog file the lock was resolved "
					      "with (sha256 %s, the lock says %s): resolve again "
					      "with "
					      "this catalog",
					      src, have, sha);
		{
			_cleanup_free_ char *host = dst ? root_path_resolved(ctx, dst) : NULL;

			if (!host || !(dir = path_dirname(host)))
				return -ENOMEM;
			if (read_file_capped(host, CATALOG_MAX_BYTES, &old, NULL) >= 0 &&
			    streq(old, text))
				continue;
			r = mkdir_parents(dir, 0755);
			if (r >= 0)
				r = write_file_atomic(host, text, size, 0644);
			if (r < 0)
				return dsvm_set_error(ctx, r, "cannot write '%s': %s", host,
						      strerror(-r));
		}
		written++;
	}
	if (!n)
		return dsvm_set_error(ctx, -EBADMSG,
				      "the lock names no catalog files among its inputs: resolve "
				      "it again with this dsvm-build");
	if (ret_written)
		*ret_written = written;
	return 0;
}
