/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dsvm/pe.h"

/* Layout constants from the PE/COFF specification (Microsoft, "PE Format"). */
#define DOS_LFANEW 0x3c
#define COFF_SIZE 20
#define SECTION_SIZE 40
#define RESOURCE_DIRECTORY 2
#define RT_VERSION 16
#define FIXED_SIGNATURE 0xfeef04bdu
/* Directory nesting is type, name, language; a subdirectory flag deeper than that is bogus. */
#define RESOURCE_LEVELS 3

struct image {
	const uint8_t *p;
	size_t size;
	const uint8_t *sections;
	unsigned n_sections;
};

/* True when [off, off + len) lies inside the buffer (no overflow). */
static bool in_range(size_t size, uint64_t off, uint64_t len)
{
	return off <= size && len <= size - off;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The file offset of len bytes at rva, inside one section's raw data; -EBADMSG otherwise. */
static int rva_to_offset(const struct image *im, uint32_t rva, uint32_t len, size_t *ret)
{
	for (unsigned i = 0; i < im->n_sections; i++) {
		const uint8_t *s = im->sections + (size_t)i * SECTION_SIZE;
		uint32_t va = le32(s + 12), raw_size = le32(s + 16), raw = le32(s + 20);

		if (rva < va || (uint64_t)rva - va >= raw_size)
			continue;
		if ((uint64_t)rva - va + len > raw_size ||
		    !in_range(im->size, (uint64_t)raw + (rva - va), len))
			return -EBADMSG;
		*ret = (size_t)raw + (rva - va);
		return 0;
	}
	return -EBADMSG;
}

/*
 * The entry of the resource directory at dir_off (relative to the resource section at base)
 * whose integer id is id, or the first entry when id is negative. Returns the entry's offset
 * word, or -ENOENT / -EBADMSG.
 */
static int64_t find_entry(const struct image *im, size_t base, size_t rsrc_len, uint32_t dir_off,
			  int64_t id)
{
	uint32_t n_named, n_ids;
	const uint8_t *d;

	if (!in_range(rsrc_len, dir_off, 16))
		return -EBADMSG;
	d = im->p + base + dir_off;
	n_named = le16(d + 12);
	n_ids = le16(d + 14);
	if (!in_range(rsrc_len, (uint64_t)dir_off + 16, ((uint64_t)n_named + n_ids) * 8))
		return -EBADMSG;
	for (uint32_t i = 0; i < n_named + n_ids; i++) {
		const uint8_t *e = d + 16 + (size_t)i * 8;
		uint32_t name = le32(e);

		if (id < 0 || (!(name & 0x80000000u) && name == (uint32_t)id))
			return le32(e + 4);
	}
	return -ENOENT;
}

static int version_block(const struct image *im, size_t off, uint32_t len,
			 char ret[DSVM_PE_VERSION_MAX])
{
	static const char key[] = "VS_VERSION_INFO";
	const uint8_t *b = im->p + off;
	uint32_t ms, ls;
	size_t fixed;

	/* wLength, wValueLength, wType, the UTF-16 key and its terminator, padding to 4. */
	fixed = (6 + sizeof(key) * 2 + 3) & ~(size_t)3;
	if (len < fixed + 52 || le16(b) < fixed + 52 || le16(b) > len || le16(b + 2) < 52)
		return -EBADMSG;
	for (size_t i = 0; i < sizeof(key); i++)
		if (le16(b + 6 + i * 2) != (uint8_t)key[i])
			return -EBADMSG;
	if (le32(b + fixed) != FIXED_SIGNATURE)
		return -EBADMSG;
	ms = le32(b + fixed + 8);
	ls = le32(b + fixed + 12);
	snprintf(ret, DSVM_PE_VERSION_MAX, "%u.%u.%u.%u", ms >> 16, ms & 0xffffu, ls >> 16,
		 ls & 0xffffu);
	return 0;
}

int dsvm_pe_file_version(const void *buf, size_t size, char ret[DSVM_PE_VERSION_MAX])
{
	struct image im = { .p = buf, .size = size };
	uint32_t pe, opt_size, n_dirs, rsrc_rva, rsrc_len, dirs_at, data_len;
	size_t opt, rsrc, data_off;
	uint16_t magic;
	int64_t e;
	int r;

	if (!buf || !in_range(size, 0, DOS_LFANEW + 4) || memcmp(im.p, "MZ", 2) != 0)
		return -EBADMSG;
	pe = le32(im.p + DOS_LFANEW);
	if (!in_range(size, pe, 4 + COFF_SIZE) || memcmp(im.p + pe, "PE\0\0", 4) != 0)
		return -EBADMSG;
	im.n_sections = le16(im.p + pe + 6);
	opt_size = le16(im.p + pe + 20);
	opt = (size_t)pe + 4 + COFF_SIZE;
	if (!in_range(size, opt, opt_size) || opt_size < 2)
		return -EBADMSG;
	magic = le16(im.p + opt);
	if (magic == 0x10b)
		dirs_at = 96;
	else if (magic == 0x20b)
		dirs_at = 112;
	else
		return -EBADMSG;
	if (opt_size < dirs_at)
		return -EBADMSG;
	n_dirs = le32(im.p + opt + dirs_at - 4);
	if (!in_range(size, opt + opt_size, (uint64_t)im.n_sections * SECTION_SIZE))
		return -EBADMSG;
	im.sections = im.p + opt + opt_size;
	if (n_dirs <= RESOURCE_DIRECTORY ||
	    (uint64_t)dirs_at + (RESOURCE_DIRECTORY + 1) * 8 > opt_size)
		return -ENOENT;
	rsrc_rva = le32(im.p + opt + dirs_at + RESOURCE_DIRECTORY * 8);
	rsrc_len = le32(im.p + opt + dirs_at + RESOURCE_DIRECTORY * 8 + 4);
	if (rsrc_rva == 0 || rsrc_len == 0)
		return -ENOENT;
	r = rva_to_offset(&im, rsrc_rva, rsrc_len, &rsrc);
	if (r < 0)
		return r;

	/* Type RT_VERSION, then its first name, then that name's first language. */
	e = find_entry(&im, rsrc, rsrc_len, 0, RT_VERSION);
	for (int level = 1; level < RESOURCE_LEVELS && e >= 0; level++) {
		if (!(e & 0x80000000))
			return -EBADMSG;
		e = find_entry(&im, rsrc, rsrc_len, (uint32_t)(e & 0x7fffffff), -1);
	}
	if (e < 0)
		return (int)e;
	/* A leaf: IMAGE_RESOURCE_DATA_ENTRY, whose data is addressed by RVA, not by offset. */
	if ((e & 0x80000000) || !in_range(rsrc_len, (uint64_t)e, 16))
		return -EBADMSG;
	data_len = le32(im.p + rsrc + e + 4);
	r = rva_to_offset(&im, le32(im.p + rsrc + e), data_len, &data_off);
	if (r < 0)
		return r;
	return version_block(&im, data_off, data_len, ret);
}
