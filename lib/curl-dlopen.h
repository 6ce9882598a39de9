/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * libcurl loaded on first use. Linking it costs every process its ~28 dependent libraries
 * (Kerberos, LDAP, GnuTLS, ...), about 3 ms at each start; dsvm-firstboot needs it only when
 * cloud-init has no VM size and IMDS must be asked, so it resolves these symbols then.
 */

#include <curl/curl.h>

#include "dsvm/context.h"

struct curl_api {
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *curl);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_perform)(CURL *curl);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode code);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
};

/*
 * The loaded API (process-wide, loaded once, never unloaded), or -ENOPKG
 * when libcurl.so.4 or one of its symbols is missing, with the reason in ctx.
 */
int curl_api_get(struct dsvm_ctx *ctx, const struct curl_api **ret);

/*
 * Limit a transfer and its redirects to one scheme, "http" or "https". setopt is libcurl's
 * curl_easy_setopt, linked or loaded: CURLOPT_PROTOCOLS_STR is curl 7.85's, and where libcurl
 * answers CURLE_UNKNOWN_OPTION (Ubuntu 22.04's 7.81) the older bit mask says the same.
 */
CURLcode curl_api_set_protocols(CURLcode (*setopt)(CURL *curl, CURLoption option, ...), CURL *c,
				const char *scheme);
