/* SPDX-License-Identifier: MIT */

/*
 * libFuzzer target for the sysfs/procfs parsers of hardware detection. The first byte picks
 * the parser, the rest is the file's content, exactly as read_small_at()/read_file_capped()
 * would hand it over (no NUL termination is relied on: the buffer is copied to its own size).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, version[32], *s = NULL;
	uint32_t v;
	bool b;

	if (size < 1)
		return 0;
	/* An exact-size copy, so ASan catches any read past the end. */
	buf = malloc(size - 1 ? size - 1 : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	size--;
	switch (data[0] % 6) {
	case 0:
		(void)sysfs_parse_hex(buf, size, 4, &v);
		(void)sysfs_parse_hex(buf, size, 6, &v);
		break;
	case 1:
		(void)efivar_parse_bool(buf, size, &b);
		break;
	case 2:
		if (kernel_release_parse(buf, size, &s) == 0)
			free(s);
		break;
	case 3:
		(void)nvidia_version_parse(buf, size, version, &b);
		break;
	case 4: {
		/* pci_address_is_valid() takes a directory name: NUL-terminated. */
		char *name = strndup(buf, size);

		if (name)
			(void)pci_address_is_valid(name);
		free(name);
		break;
	}
	default: {
		char *name = strndup(buf, size);

		if (name)
			(void)dsvm_vm_size_is_valid(name);
		free(name);
		break;
	}
	}
	free(buf);
	return 0;
}
