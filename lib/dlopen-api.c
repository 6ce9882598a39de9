/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlopen-api.h"

int dlopen_api(const char *soname, const struct dlopen_symbol *symbols, size_t n, void *api,
	       size_t api_size, char *error, size_t error_size)
{
	void *handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	char *loaded;

	if (!handle) {
		snprintf(error, error_size, "cannot load %s: %s", soname, dlerror());
		return -1;
	}
	loaded = calloc(1, api_size);
	if (!loaded) {
		snprintf(error, error_size, "out of memory loading %s", soname);
		dlclose(handle);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		void *sym = dlsym(handle, symbols[i].name);

		if (!sym || symbols[i].offset + sizeof(sym) > api_size) {
			snprintf(error, error_size, "%s lacks %s", soname, symbols[i].name);
			free(loaded);
			dlclose(handle);
			return -1;
		}
		memcpy(loaded + symbols[i].offset, &sym, sizeof(sym));
	}
	memcpy(api, loaded, api_size);
	free(loaded);
	return 0; /* the library stays loaded for the process */
}
