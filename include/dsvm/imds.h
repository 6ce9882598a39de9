/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Azure Instance Metadata Service, only as far as firstboot needs it: the VM size.
 *
 * The request follows Microsoft's IMDS documentation: plain http to 169.254.169.254, header
 * "Metadata: true", never through a proxy. Off Azure a network filter may answer 403 (or
 * nothing), so only HTTP 200 with a JSON object holding vmSize as a string counts. 404, 410,
 * 429 and 5xx are retried a bounded number of times with doubling backoff; everything else is
 * final at once, so a machine without IMDS costs one connect timeout at boot, not minutes.
 */

#include "dsvm/context.h"

/* The compute node of the instance document; its JSON holds "vmSize" at the top. */
#define DSVM_IMDS_URL "http://169.254.169.254/metadata/instance/compute?api-version=2021-02-01"

struct dsvm_imds_options {
	const char *url;	     /* NULL: DSVM_IMDS_URL. http:// only */
	unsigned connect_timeout_ms; /* 0: 2000 */
	unsigned timeout_ms;	     /* per attempt, 0: 3000 */
	unsigned max_attempts;	     /* 0: 4 */
	unsigned backoff_ms;	     /* first pause between attempts, doubled each time; 0: 250 */
	size_t max_body;	     /* 0: 1 MiB */
};

/*
 * Ask IMDS for the VM size. opts may be NULL. Returns 0 and *ret_vm_size (caller frees), or:
 * -EHOSTUNREACH no IMDS here (cannot connect, or 403 from a filter), -ETIMEDOUT it stalled,
 * -EAGAIN it kept answering 404/410/429/5xx, -EPROTO another HTTP status (400: the header was
 * refused), -EBADMSG the body is not a JSON object with a valid vmSize, -EFBIG the body is over
 * max_body, -ECONNRESET the connection broke, -EINVAL a URL that is not http://. The context
 * holds a sentence naming the URL and what happened.
 */
int dsvm_imds_get_vm_size(struct dsvm_ctx *ctx, const struct dsvm_imds_options *opts,
			  char **ret_vm_size);
