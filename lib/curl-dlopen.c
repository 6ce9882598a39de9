/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <pthread.h>

#include "curl-dlopen.h"
#include "internal.h"

static struct curl_api api;
static char load_error[256];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void)
{
	static const struct {
		const char *name;
		size_t offset;
	} symbols[] = {
		{ "curl_easy_init", offsetof(struct curl_api, easy_init) },
		{ "curl_easy_cleanup", offsetof(struct curl_api, easy_cleanup) },
		{ "curl_easy_setopt", offsetof(struct curl_api, easy_setopt) },
		{ "curl_easy_perform", offsetof(struct curl_api, easy_perform) },
		{ "curl_easy_getinfo", offsetof(struct curl_api, easy_getinfo) },
		{ "curl_easy_strerror", offsetof(struct curl_api, easy_strerror) },
		{ "curl_slist_append", offsetof(struct curl_api, slist_append) },
		{ "curl_slist_free_all", offsetof(struct curl_api, slist_free_all) },
	};
	struct curl_api loaded;
	void *handle;

	/* By soname, from the system's library path only: never a relative or user path. */
	handle = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		snprintf(load_error, sizeof(load_error), "cannot load libcurl.so.4: %s", dlerror());
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(symbols); i++) {
		void *sym = dlsym(handle, symbols[i].name);

		if (!sym) {
			snprintf(load_error, sizeof(load_error), "libcurl.so.4 lacks %s",
				 symbols[i].name);
			dlclose(handle);
			return;
		}
		memcpy((char *)&loaded + symbols[i].offset, &sym, sizeof(sym));
	}
	api = loaded;
}

int curl_api_get(struct dsvm_ctx *ctx, const struct curl_api **ret)
{
	pthread_once(&load_once, load);
	if (!api.easy_init)
		return dsvm_set_error(ctx, -ENOPKG, "%s (install libcurl4)", load_error);
	*ret = &api;
	return 0;
}
