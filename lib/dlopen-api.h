/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A library loaded on first use rather than linked (lib/curl-dlopen.c, lib/sha256.c): its
 * functions resolved by name into a struct of function pointers.
 */

#include <stddef.h>

struct dlopen_symbol {
	const char *name;
	size_t offset; /* of its function pointer in the API struct */
};

/*
 * dlopen(soname) from the system's library path only (never a relative or user path) and fill
 * api (an API struct) with the n symbols. Returns 0, or -1 with the reason in error (e.g.
 * "libcurl.so.4 lacks curl_easy_init"); api is then untouched and the library closed.
 */
int dlopen_api(const char *soname, const struct dlopen_symbol *symbols, size_t n, void *api,
	       size_t api_size, char *error, size_t error_size);
