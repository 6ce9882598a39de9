/* SPDX-License-Identifier: MIT */
#include <pthread.h>

#include "curl-dlopen.h"
#include "dlopen-api.h"
#include "internal.h"

static struct curl_api api;
static char load_error[256];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void)
{
	static const struct dlopen_symbol symbols[] = {
		{ "curl_easy_init", offsetof(struct curl_api, easy_init) },
		{ "curl_easy_cleanup", offsetof(struct curl_api, easy_cleanup) },
		{ "curl_easy_setopt", offsetof(struct curl_api, easy_setopt) },
		{ "curl_easy_perform", offsetof(struct curl_api, easy_perform) },
		{ "curl_easy_getinfo", offsetof(struct curl_api, easy_getinfo) },
		{ "curl_easy_strerror", offsetof(struct curl_api, easy_strerror) },
		{ "curl_slist_append", offsetof(struct curl_api, slist_append) },
		{ "curl_slist_free_all", offsetof(struct curl_api, slist_free_all) },
	};

	dlopen_api("libcurl.so.4", symbols, ARRAY_SIZE(symbols), &api, sizeof(api), load_error,
		   sizeof(load_error));
}

int curl_api_get(struct dsvm_ctx *ctx, const struct curl_api **ret)
{
	pthread_once(&load_once, load);
	if (!api.easy_init)
		return dsvm_set_error(ctx, -ENOPKG, "%s (install libcurl4)", load_error);
	*ret = &api;
	return 0;
}

CURLcode curl_api_set_protocols(CURLcode (*setopt)(CURL *curl, CURLoption option, ...), CURL *c,
				const char *scheme)
{
	long mask = streq(scheme, "https") ? CURLPROTO_HTTPS : CURLPROTO_HTTP;
	CURLcode cc = setopt(c, CURLOPT_PROTOCOLS_STR, scheme);

	if (cc == CURLE_OK)
		cc = setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, scheme);
	if (cc != CURLE_UNKNOWN_OPTION)
		return cc;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	cc = setopt(c, CURLOPT_PROTOCOLS, mask);
	if (cc == CURLE_OK)
		cc = setopt(c, CURLOPT_REDIR_PROTOCOLS, mask);
#pragma GCC diagnostic pop
	return cc;
}
