/* SPDX-License-Identifier: MIT */

/*
 * libFuzzer target for the PE version resource parser (dsvm/pe.h) that `dsvm-build seal` runs on
 * downloaded Windows installers, and for the osslsigncode output reader beside it: the first
 * byte picks which, the rest is the input, copied to its exact size so ASan sees any overread.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsvm/pe.h"
#include "dsvm/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char version[DSVM_PE_VERSION_MAX];
	struct dsvm_authenticode a;
	uint8_t *buf;

	if (size < 1)
		return 0;
	buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	if (data[0] & 1) {
		(void)dsvm_pe_file_version(buf, size - 1, version);
	} else {
		buf[size - 1] = '\0'; /* osslsigncode's output arrives NUL-terminated */
		if (dsvm_authenticode_parse((const char *)buf, data[0] >> 1 & 1, &a) == 0)
			dsvm_authenticode_clear(&a);
	}
	free(buf);
	return 0;
}
