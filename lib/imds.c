/* SPDX-License-Identifier: MIT */
#include <strings.h>
#include <time.h>

#include "curl-dlopen.h"
#include "detect-internal.h"
#include "dsvm/imds.h"

struct body {
	char *data;
	size_t size;
	size_t max;
	bool too_big;
};

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct body *b = userdata;
	size_t n = size * nmemb;
	char *p;

	if (n > b->max - b->size) {
		b->too_big = true;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	p = realloc(b->data, b->size + n + 1);
	if (!p)
		return 0;
	b->data = p;
	memcpy(b->data + b->size, ptr, n);
	b->size += n;
	b->data[b->size] = '\0';
	return n;
}

/* Set once libcurl is loaded; the cleanup helpers below run only after that. */
static const struct curl_api *curl;

static void curl_easy_cleanupp(CURL **c)
{
	if (*c)
		curl->easy_cleanup(*c);
}

static void curl_slist_free_allp(struct curl_slist **l)
{
	curl->slist_free_all(*l);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool status_is_retryable(long status)
{
	/* IMDS documentation: 404 element not yet available, 410 retry, 429 rate limit, 5xx. */
	return status == 404 || status == 410 || status == 429 || (status >= 500 && status < 600);
}

static int map_curl_error(struct dsvm_ctx *ctx, const char *url, CURLcode c, const char *detail)
{
	int r;

	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		r = -EHOSTUNREACH;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		r = -ETIMEDOUT;
		break;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		r = -ECONNRESET;
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		r = -EINVAL;
		break;
	default:
		r = -EIO;
		break;
	}
	return dsvm_set_error(ctx, r, "IMDS '%s': %s", url,
			      detail[0] ? detail : curl->easy_strerror(c));
}

/* One GET. Returns 0 with the HTTP status in *ret_status, or a mapped -errno. */
static int imds_get_once(struct dsvm_ctx *ctx, const struct dsvm_imds_options *o, struct body *b,
			 long *ret_status)
{
	_cleanup_(curl_easy_cleanupp) CURL *c = curl->easy_init();
	_cleanup_(curl_slist_free_allp) struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode cc;

	if (!c)
		return -ENOMEM;
	hdrs = curl->slist_append(NULL, "Metadata: true");
	if (!hdrs)
		return -ENOMEM;
	/* Every option below is a rule from IMDS's documentation or FIELD-NOTES' libcurl traps. */
	if (curl->easy_setopt(c, CURLOPT_URL, o->url) != CURLE_OK ||
	    curl_api_set_protocols(curl->easy_setopt, c, "http") != CURLE_OK ||
	    curl->easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl->easy_setopt(c, CURLOPT_NOPROXY, "*") != CURLE_OK ||
	    curl->easy_setopt(c, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    curl->easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms) !=
		    CURLE_OK ||
	    curl->easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms) != CURLE_OK ||
	    curl->easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body) != CURLE_OK ||
	    curl->easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl->easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
	    curl->easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write) != CURLE_OK ||
	    curl->easy_setopt(c, CURLOPT_WRITEDATA, b) != CURLE_OK)
		return dsvm_set_error(ctx, -EIO, "IMDS: cannot set up libcurl");

	cc = curl->easy_perform(c);
	if (b->too_big || cc == CURLE_FILESIZE_EXCEEDED)
		return dsvm_set_error(ctx, -EFBIG, "IMDS '%s': answer larger than %zu bytes",
				      o->url, o->max_body);
	if (cc != CURLE_OK)
		return map_curl_error(ctx, o->url, cc, errbuf);
	curl->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	*ret_status = status;
	return 0;
}

int dsvm_imds_get_vm_size(struct dsvm_ctx *ctx, const struct dsvm_imds_options *opts,
			  char **ret_vm_size)
{
	struct dsvm_imds_options o = opts ? *opts : (struct dsvm_imds_options){ 0 };
	unsigned pause;
	long status = 0;
	int r = 0;

	if (!o.url)
		o.url = DSVM_IMDS_URL;
	if (!o.connect_timeout_ms)
		o.connect_timeout_ms = 2000;
	if (!o.timeout_ms)
		o.timeout_ms = 3000;
	if (!o.max_attempts)
		o.max_attempts = 4;
	if (!o.backoff_ms)
		o.backoff_ms = 250;
	if (!o.max_body)
		o.max_body = 1u << 20;
	if (strncasecmp(o.url, "http://", 7) != 0)
		return dsvm_set_error(ctx, -EINVAL, "IMDS URL '%s' is not http://", o.url);
	r = curl_api_get(ctx, &curl);
	if (r < 0)
		return r;

	pause = o.backoff_ms;
	for (unsigned attempt = 1; attempt <= o.max_attempts; attempt++) {
		struct body b = { .max = o.max_body };

		r = imds_get_once(ctx, &o, &b, &status);
		if (r == 0 && status == 200) {
			char why[256];

			r = imds_parse_vm_size(ctx, b.data ? b.data : "", b.size, ret_vm_size);
			free(b.data);
			if (r == 0 || r == -ENOMEM)
				return r;
			/* Copy first: the context's text is both the source and the target here. */
			snprintf(why, sizeof(why), "%s", dsvm_ctx_get_error(ctx));
			return dsvm_set_error(ctx, -EBADMSG, "IMDS '%s': HTTP 200 but %s", o.url,
					      why);
		}
		free(b.data);
		if (r < 0)
			return r;
		if (status == 403)
			return dsvm_set_error(ctx, -EHOSTUNREACH,
					      "IMDS '%s': HTTP 403, a filter between this VM and "
					      "IMDS (not Azure, or a proxy rule)",
					      o.url);
		if (!status_is_retryable(status))
			return dsvm_set_error(ctx, -EPROTO, "IMDS '%s': HTTP %ld%s", o.url, status,
					      status == 400 ? " (the Metadata header was refused)"
					      : status / 100 == 3 ? " (IMDS never redirects; not "
								    "followed)"
								  : "");
		dsvm_debug(ctx, "IMDS '%s': HTTP %ld (attempt %u of %u)", o.url, status, attempt,
			   o.max_attempts);
		if (attempt < o.max_attempts) {
			sleep_ms(pause);
			pause *= 2;
		}
	}
	return dsvm_set_error(ctx, -EAGAIN, "IMDS '%s': HTTP %ld after %u attempts", o.url, status,
			      o.max_attempts);
}
