/* SPDX-License-Identifier: MIT */

/*
 * libFuzzer target for the NTFS root-directory reader of the disk classifier. The input is the
 * start of a volume; the volume is 4 MiB and reads past the input return zeros, so a 64 KiB
 * seed (boot sector plus the first MFT records of a small mkntfs volume) reaches every path.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "disk-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct padded {
	const uint8_t *data;
	size_t size;
};

static int padded_read(void *userdata, uint64_t off, void *buf, size_t size)
{
	const struct padded *p = userdata;

	memset(buf, 0, size);
	if (off < p->size)
		memcpy(buf, p->data + off, size < p->size - off ? size : p->size - off);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct padded p = { data, size };
	struct ntfs_io io = { padded_read, &p, 4u << 20 };
	unsigned other = 0;
	bool warning = false;

	(void)ntfs_root_scan(&io, &other, &warning);
	return 0;
}
