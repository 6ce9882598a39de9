/* SPDX-License-Identifier: MIT */
#pragma once

/* The NTFS root-directory reader behind dsvm_disk_classify(), exposed for tests and fuzzing. */

#include "dsvm/disk.h"
#include "internal.h"

/* Reads size bytes at off (relative to the volume) into buf; 0 or -errno (short read: -EIO). */
struct ntfs_io {
	int (*read)(void *userdata, uint64_t off, void *buf, size_t size);
	void *userdata;
	uint64_t size; /* of the volume, so no read goes past it */
};

/* Stop counting here: one other file already means "holds data". */
#define NTFS_MAX_COUNTED 1000

/*
 * Read the root directory of the NTFS volume behind io, in place, and count its entries that are
 * not NTFS metadata files (MFT records 0-15) and not the data-loss warning file. Returns 0 with
 * *ret_other and *ret_warning, or -EBADMSG for anything it cannot follow (the caller then says
 * "unknown", which counts as data), or the read callback's error.
 */
int ntfs_root_scan(const struct ntfs_io *io, unsigned *ret_other, bool *ret_warning);

/* An ntfs_io over a memory buffer (userdata is a struct ntfs_mem). */
struct ntfs_mem {
	const uint8_t *data;
	size_t size;
};
int ntfs_mem_read(void *userdata, uint64_t off, void *buf, size_t size);
