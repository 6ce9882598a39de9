/* SPDX-License-Identifier: MIT */

/*
 * Just enough NTFS to list a root directory without mounting: the boot sector, MFT record 5 (the
 * root), its $INDEX_ROOT and, for a larger directory, the INDX blocks of its $INDEX_ALLOCATION.
 * Layouts follow the NTFS documentation of the Linux-NTFS project and ntfs-3g's layout.h.
 *
 * Why not libntfs-3g or ntfsls: libntfs-3g is GPL-2+ (Debian's copyright file), which would
 * make every dsvm binary GPL; ntfsls cannot open a partition inside an image file, and lib never
 * runs programs. Every field read here is bounds-checked; anything unexpected is -EBADMSG,
 * which the classifier reports as "unknown" (holds data), never as "fresh".
 */

#include <ctype.h>

#include "disk-internal.h"

#define NTFS_RECORD_MAX 4096		 /* MFT records are 1 KiB, 4 KiB on 4Kn disks */
#define NTFS_INDEX_BLOCK_MAX 65536	 /* index blocks are 4 KiB */
#define NTFS_INDEX_BYTES_MAX (16u << 20) /* read at most this much of a root index */
#define NTFS_RUNS_MAX 1024
#define NTFS_FIXUP_STRIDE 512 /* the update sequence protects every 512 bytes */
#define NTFS_ROOT_RECORD 5
#define NTFS_FIRST_USER_RECORD 16 /* records 0-15 are the metadata files */

#define NTFS_MAX_RECORDS 16 /* extension records of the root that are followed */
#define NTFS_ATTR_LIST_MAX (256u << 10)

#define AT_ATTRIBUTE_LIST 0x20
#define AT_DATA 0x80
#define AT_INDEX_ROOT 0x90
#define AT_INDEX_ALLOCATION 0xa0
#define AT_END 0xffffffffu

#define INDEX_ENTRY_NODE 0x01
#define INDEX_ENTRY_END 0x02
#define LARGE_INDEX 0x01
#define FILE_NAME_DOS 2

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

int ntfs_mem_read(void *userdata, uint64_t off, void *buf, size_t size)
{
	const struct ntfs_mem *m = userdata;

	if (off > m->size || size > m->size - off)
		return -EIO;
	memcpy(buf, m->data + off, size);
	return 0;
}

static int io_read(const struct ntfs_io *io, uint64_t off, void *buf, size_t size)
{
	if (off > io->size || size > io->size - off)
		return -EBADMSG; /* a pointer past the end of the volume: corrupt */
	return io->read(io->userdata, off, buf, size);
}

/* A size stored as "clusters if positive, 2^-n bytes if negative" (boot sector 0x40, 0x44). */
static int record_size(int8_t v, uint32_t cluster, uint32_t *ret)
{
	uint64_t n;

	if (v < 0) {
		if (v < -31)
			return -EBADMSG;
		n = 1ull << -v;
	} else {
		n = (uint64_t)v * cluster;
	}
	if (n < NTFS_FIXUP_STRIDE || n > NTFS_INDEX_BLOCK_MAX || (n & (n - 1)))
		return -EBADMSG;
	*ret = (uint32_t)n;
	return 0;
}

/* Check the magic and undo the update sequence; a torn or forged record is -EBADMSG. */
static int apply_fixups(uint8_t *rec, uint32_t size, const char magic[4])
{
	uint16_t usa_ofs, usa_count;

	if (memcmp(rec, magic, 4) != 0)
		return -EBADMSG;
	usa_ofs = le16(rec + 4);
	usa_count = le16(rec + 6);
	if (usa_count != size / NTFS_FIXUP_STRIDE + 1 || (usa_ofs & 1) ||
	    (uint32_t)usa_ofs + usa_count * 2u > size)
		return -EBADMSG;
	for (uint16_t i = 1; i < usa_count; i++) {
		uint8_t *end = rec + i * NTFS_FIXUP_STRIDE - 2;

		if (memcmp(end, rec + usa_ofs, 2) != 0)
			return -EBADMSG;
		memcpy(end, rec + usa_ofs + 2 * i, 2);
	}
	return 0;
}

static bool name_is_warning_file(const uint8_t *name, unsigned len)
{
	static const char want[] = DSVM_RESOURCE_DISK_WARNING_FILE;

	if (len != sizeof(want) - 1)
		return false;
	for (unsigned i = 0; i < len; i++) {
		uint16_t c = le16(name + 2 * i);

		if (c > 0x7f || tolower(c) != want[i])
			return false;
	}
	return true;
}

struct count {
	unsigned other;
	bool warning;
};

/* Walk the index entries in buf[start, end). */
static int count_entries(const uint8_t *buf, size_t start, size_t end, struct count *c)
{
	size_t off = start;

	while (off + 16 <= end) {
		const uint8_t *e = buf + off;
		uint16_t len = le16(e + 8), key_len = le16(e + 10), flags = le16(e + 12);
		uint64_t mft = le64(e) & 0xffffffffffffull;

		if (len < 16 || len % 8 || off + len > end)
			return -EBADMSG;
		if (flags & INDEX_ENTRY_END)
			return 0;
		/* The key is a $FILE_NAME: name length at 0x40, namespace 0x41, name 0x42. */
		if (key_len < 0x42 || 16u + key_len > len)
			return -EBADMSG;
		{
			const uint8_t *fn = e + 16;
			unsigned name_len = fn[0x40];

			if (0x42u + 2 * name_len > key_len)
				return -EBADMSG;
			/* DOS 8.3 aliases repeat a long name already counted in its Win32 entry. */
			if (mft >= NTFS_FIRST_USER_RECORD && fn[0x41] != FILE_NAME_DOS) {
				if (name_is_warning_file(fn + 0x42, name_len))
					c->warning = true;
				else if (c->other < NTFS_MAX_COUNTED)
					c->other++;
			}
		}
		off += len;
	}
	return -EBADMSG; /* no end entry */
}

/* An index header (at h, inside buf of size n): entries from h+first to h+length. */
static int count_index(const uint8_t *buf, size_t n, size_t h, struct count *c)
{
	uint32_t first, length;

	if (h + 16 > n)
		return -EBADMSG;
	first = le32(buf + h);
	length = le32(buf + h + 4);
	if (first < 16 || first > length || length > n - h)
		return -EBADMSG;
	return count_entries(buf, h + first, h + length, c);
}

struct run {
	uint64_t vcn;
	int64_t lcn; /* -1: sparse */
	uint64_t len;
};

/* Decode a mapping-pairs array (attribute header 0x20) into runs of clusters. */
static int decode_runs(const uint8_t *p, size_t n, struct run *out, size_t max, size_t *ret_n)
{
	uint64_t vcn = 0;
	int64_t lcn = 0;
	size_t i = 0, k = 0;

	while (i < n && p[i] != 0) {
		unsigned lsize = p[i] & 0x0f, osize = p[i] >> 4;
		uint64_t len = 0;
		int64_t delta = 0;

		if (k == max || lsize == 0 || lsize > 8 || osize > 8 || i + 1 + lsize + osize > n)
			return -EBADMSG;
		for (unsigned b = 0; b < lsize; b++)
			len |= (uint64_t)p[i + 1 + b] << (8 * b);
		for (unsigned b = 0; b < osize; b++)
			delta |= (int64_t)((uint64_t)p[i + 1 + lsize + b] << (8 * b));
		if (osize > 0 && osize < 8 && (p[i + lsize + osize] & 0x80))
			delta -= (int64_t)1 << (8 * osize); /* sign-extend */
		i += 1 + lsize + osize;
		out[k].vcn = vcn;
		out[k].len = len;
		if (osize == 0) {
			out[k].lcn = -1;
		} else {
			if (__builtin_add_overflow(lcn, delta, &lcn) || lcn < 0)
				return -EBADMSG;
			out[k].lcn = lcn;
		}
		if (len == 0 || __builtin_add_overflow(vcn, len, &vcn))
			return -EBADMSG;
		k++;
	}
	*ret_n = k;
	return 0;
}

struct vol {
	const struct ntfs_io *io;
	uint32_t cluster;
	uint32_t mft_size;
	struct run *mft_runs; /* $MFT's own $DATA: where record N lives */
	size_t n_mft_runs;
};

/* Byte offset of [vcn * cluster + skip, + size) when one run holds all of it. */
static int run_offset(const struct vol *v, const struct run *runs, size_t n, uint64_t byte,
		      size_t size, uint64_t *ret)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t start, end;

		if (runs[i].lcn < 0 || runs[i].vcn > UINT64_MAX / v->cluster ||
		    runs[i].len > UINT64_MAX / v->cluster - runs[i].vcn)
			continue;
		start = runs[i].vcn * v->cluster;
		end = start + runs[i].len * v->cluster;
		if (byte < start || byte >= end)
			continue;
		if (size > end - byte || (uint64_t)runs[i].lcn > UINT64_MAX / v->cluster)
			return -EBADMSG;
		*ret = (uint64_t)runs[i].lcn * v->cluster + (byte - start);
		return 0;
	}
	return -EBADMSG;
}

static int read_record(const struct vol *v, uint64_t recno, uint8_t *buf)
{
	uint64_t off;
	int r;

	r = run_offset(v, v->mft_runs, v->n_mft_runs, recno * v->mft_size, v->mft_size, &off);
	if (r < 0)
		return r;
	r = io_read(v->io, off, buf, v->mft_size);
	if (r < 0)
		return r;
	return apply_fixups(buf, v->mft_size, "FILE");
}

struct root {
	struct count c;
	bool have_root, large;
	uint32_t index_size;
	const uint8_t *alloc[NTFS_MAX_RECORDS + 1]; /* $INDEX_ALLOCATION pieces (mapping pairs) */
	size_t alloc_len[NTFS_MAX_RECORDS + 1];
	size_t n_alloc;
	uint8_t *recs[NTFS_MAX_RECORDS]; /* extension records, kept for the pieces above */
	uint64_t recnos[NTFS_MAX_RECORDS];
	size_t n_recs;
};

static void root_done(struct root *st)
{
	for (size_t i = 0; i < st->n_recs; i++)
		free(st->recs[i]);
}

static int follow_attribute_list(const struct vol *v, const uint8_t *a, uint32_t len,
				 struct root *st);

/* The attributes of one record of the root directory; base is record 5 itself. */
static int root_attributes(const struct vol *v, const uint8_t *rec, bool base, struct root *st)
{
	size_t off = le16(rec + 0x14);
	int r;

	while (off + 16 <= v->mft_size) {
		const uint8_t *a = rec + off;
		uint32_t type = le32(a), len;

		if (type == AT_END)
			return 0;
		len = le32(a + 4);
		if (len < 16 || len % 8 || len > v->mft_size - off)
			return -EBADMSG;
		if (type == AT_INDEX_ROOT && a[8] == 0) {
			uint32_t vlen;
			uint16_t voff;

			/* The header's length first: the fields below lie past byte 16. */
			if (st->have_root || len < 0x18)
				return -EBADMSG;
			vlen = le32(a + 0x10);
			voff = le16(a + 0x14);
			if (voff > len || vlen > len - voff || vlen < 32)
				return -EBADMSG;
			st->index_size = le32(a + voff + 8);
			st->large = a[voff + 16 + 12] & LARGE_INDEX;
			r = count_index(a + voff, vlen, 16, &st->c);
			if (r < 0)
				return r;
			st->have_root = true;
		} else if (type == AT_INDEX_ALLOCATION && a[8] == 1) {
			uint16_t runs;

			if (len < 0x40 || st->n_alloc == ARRAY_SIZE(st->alloc))
				return -EBADMSG;
			runs = le16(a + 0x20);
			if (runs >= len)
				return -EBADMSG;
			st->alloc[st->n_alloc] = a + runs;
			st->alloc_len[st->n_alloc++] = len - runs;
		} else if (type == AT_ATTRIBUTE_LIST && base) {
			/* A big directory moves its index attributes into extension records. */
			r = follow_attribute_list(v, a, len, st);
			if (r < 0)
				return r;
		}
		off += len;
	}
	return -EBADMSG; /* no end marker */
}

/* The $ATTRIBUTE_LIST value, resident or not, into a new buffer of *ret_size bytes. */
static int attribute_list_value(const struct vol *v, const uint8_t *a, uint32_t len, uint8_t **ret,
				size_t *ret_size)
{
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_free_ struct run *runs = NULL;
	size_t n_runs = 0, size;
	int r;

	if (a[8] == 0) {
		uint32_t vlen;
		uint16_t voff;

		if (len < 0x18)
			return -EBADMSG;
		vlen = le32(a + 0x10);
		voff = le16(a + 0x14);
		if (voff > len || vlen > len - voff)
			return -EBADMSG;
		buf = calloc(1, vlen ? vlen : 1);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, a + voff, vlen);
		*ret_size = vlen;
		*ret = TAKE_PTR(buf);
		return 0;
	}
	if (len < 0x40 || le16(a + 0x20) >= len || le64(a + 0x30) > NTFS_ATTR_LIST_MAX)
		return -EBADMSG;
	size = (size_t)le64(a + 0x30);
	runs = calloc(NTFS_RUNS_MAX, sizeof(*runs));
	buf = calloc(1, size ? size : 1);
	if (!runs || !buf)
		return -ENOMEM;
	r = decode_runs(a + le16(a + 0x20), len - le16(a + 0x20), runs, NTFS_RUNS_MAX, &n_runs);
	for (size_t done = 0; r == 0 && done < size;) {
		uint64_t off;
		size_t chunk = v->cluster - done % v->cluster;

		if (chunk > size - done)
			chunk = size - done;
		r = run_offset(v, runs, n_runs, done, chunk, &off);
		if (r == 0)
			r = io_read(v->io, off, buf + done, chunk);
		done += chunk;
	}
	if (r < 0)
		return r;
	*ret_size = size;
	*ret = TAKE_PTR(buf);
	return 0;
}

static int follow_attribute_list(const struct vol *v, const uint8_t *a, uint32_t len,
				 struct root *st)
{
	_cleanup_free_ uint8_t *list = NULL;
	size_t size = 0, off = 0;
	int r;

	r = attribute_list_value(v, a, len, &list, &size);
	if (r < 0)
		return r;
	/* Entries: type 0, length 4, MFT reference 0x10 (ntfs-3g layout.h ATTR_LIST_ENTRY). */
	while (off + 0x1a <= size) {
		uint32_t type = le32(list + off);
		uint16_t elen = le16(list + off + 4);
		uint64_t recno = le64(list + off + 0x10) & 0xffffffffffffull;
		bool seen = recno == NTFS_ROOT_RECORD;
		uint8_t *ext;

		if (elen < 0x1a || elen > size - off)
			return -EBADMSG;
		off += elen;
		if (type != AT_INDEX_ROOT && type != AT_INDEX_ALLOCATION)
			continue;
		for (size_t i = 0; i < st->n_recs; i++)
			seen = seen || st->recnos[i] == recno;
		if (seen)
			continue;
		if (st->n_recs == NTFS_MAX_RECORDS)
			return -EBADMSG;
		ext = calloc(1, v->mft_size);
		if (!ext)
			return -ENOMEM;
		st->recs[st->n_recs] = ext;
		st->recnos[st->n_recs++] = recno;
		r = read_record(v, recno, ext);
		if (r < 0)
			return r;
		/* An extension record names its base record (offset 0x20): it must be the root. */
		if ((le64(ext + 0x20) & 0xffffffffffffull) != NTFS_ROOT_RECORD)
			return -EBADMSG;
		r = root_attributes(v, ext, false, st);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Read every INDX block of one $INDEX_ALLOCATION piece. */
static bool is_all_zero(const uint8_t *buf, size_t size)
{
	for (size_t i = 0; i < size; i++)
		if (buf[i])
			return false;
	return true;
}

static int count_allocation(const struct vol *v, const uint8_t *pairs, size_t n, uint32_t block,
			    uint64_t *total, struct count *c)
{
	_cleanup_free_ uint8_t *buf = calloc(1, block);
	_cleanup_free_ struct run *runs = calloc(NTFS_RUNS_MAX, sizeof(*runs));
	size_t n_runs = 0;
	int r;

	if (!buf || !runs)
		return -ENOMEM;
	r = decode_runs(pairs, n, runs, NTFS_RUNS_MAX, &n_runs);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_runs; i++) {
		if (runs[i].lcn < 0)
			continue; /* a sparse run holds no index blocks */
		if (runs[i].len > NTFS_INDEX_BYTES_MAX / v->cluster)
			return -EBADMSG;
		for (uint64_t off = 0; off + block <= runs[i].len * v->cluster; off += block) {
			if ((*total += block) > NTFS_INDEX_BYTES_MAX ||
			    (uint64_t)runs[i].lcn > (UINT64_MAX - off) / v->cluster)
				return -EBADMSG;
			r = io_read(v->io, (uint64_t)runs[i].lcn * v->cluster + off, buf, block);
			if (r < 0)
				return r;
			/*
			 * A block that does not pass its update-sequence check may be a torn block
			 * holding the only names of the user's files: skipping it would call a disk
			 * with data "fresh". Only an all-zero (never written) block is skipped; any
			 * other unreadable block makes the answer unknown, which reads as data.
			 */
			if (apply_fixups(buf, block, "INDX") < 0) {
				if (is_all_zero(buf, block))
					continue;
				return -EBADMSG;
			}
			r = count_index(buf, block, 0x18, c);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* $MFT's own run list, from its $DATA attribute in record 0 (read at the boot sector's LCN). */
static int load_mft_runs(struct vol *v, uint64_t mft_lcn)
{
	_cleanup_free_ uint8_t *rec = calloc(1, v->mft_size);
	size_t off;
	int r;

	if (!rec)
		return -ENOMEM;
	if (mft_lcn > v->io->size / v->cluster)
		return -EBADMSG;
	r = io_read(v->io, mft_lcn * v->cluster, rec, v->mft_size);
	if (r < 0)
		return r;
	r = apply_fixups(rec, v->mft_size, "FILE");
	if (r < 0)
		return r;
	off = le16(rec + 0x14);
	while (off + 16 <= v->mft_size) {
		const uint8_t *a = rec + off;
		uint32_t type = le32(a), len = le32(a + 4);

		if (type == AT_END || len < 16 || len % 8 || len > v->mft_size - off)
			break;
		if (type == AT_DATA && a[8] == 1 && a[9] == 0 && len >= 0x40 &&
		    le16(a + 0x20) < len) {
			v->mft_runs = calloc(NTFS_RUNS_MAX, sizeof(*v->mft_runs));
			if (!v->mft_runs)
				return -ENOMEM;
			return decode_runs(a + le16(a + 0x20), len - le16(a + 0x20), v->mft_runs,
					   NTFS_RUNS_MAX, &v->n_mft_runs);
		}
		off += len;
	}
	return -EBADMSG;
}

int ntfs_root_scan(const struct ntfs_io *io, unsigned *ret_other, bool *ret_warning)
{
	uint8_t boot[512] = { 0 };
	_cleanup_free_ uint8_t *rec = NULL;
	struct vol v = { .io = io };
	struct root st;
	uint32_t sector;
	uint64_t total = 0;
	int r;

	memset(&st, 0, sizeof(st));
	r = io_read(io, 0, boot, sizeof(boot));
	if (r < 0)
		return r;
	if (memcmp(boot + 3, "NTFS    ", 8) != 0)
		return -EBADMSG;
	sector = le16(boot + 0x0b);
	if (sector < 256 || sector > 4096 || (sector & (sector - 1)))
		return -EBADMSG;
	/* Sectors per cluster; above 0x80 it is a negative power of two (clusters > 64 KiB). */
	if (boot[0x0d] > 0x80) {
		if (256 - boot[0x0d] > 24)
			return -EBADMSG;
		v.cluster = 1u << (256 - boot[0x0d]);
	} else {
		v.cluster = sector * boot[0x0d];
	}
	if (v.cluster == 0 || v.cluster > (2u << 20))
		return -EBADMSG;
	r = record_size((int8_t)boot[0x40], v.cluster, &v.mft_size);
	if (r < 0 || v.mft_size > NTFS_RECORD_MAX)
		return -EBADMSG;
	r = load_mft_runs(&v, le64(boot + 0x30));
	rec = calloc(1, v.mft_size);
	if (r == 0 && !rec)
		r = -ENOMEM;
	if (r == 0)
		r = read_record(&v, NTFS_ROOT_RECORD, rec);
	if (r == 0 && !(le16(rec + 0x16) & 0x02))
		r = -EBADMSG; /* not a directory */
	if (r == 0)
		r = root_attributes(&v, rec, true, &st);
	if (r == 0 && !st.have_root)
		r = -EBADMSG;
	if (r == 0 && st.large &&
	    (st.n_alloc == 0 || st.index_size < NTFS_FIXUP_STRIDE ||
	     st.index_size > NTFS_INDEX_BLOCK_MAX || (st.index_size & (st.index_size - 1))))
		r = -EBADMSG;
	for (size_t i = 0; r == 0 && st.large && i < st.n_alloc; i++)
		r = count_allocation(&v, st.alloc[i], st.alloc_len[i], st.index_size, &total,
				     &st.c);
	root_done(&st);
	free(v.mft_runs);
	if (r < 0)
		return r;
	*ret_other = st.c.other;
	*ret_warning = st.c.warning;
	return 0;
}
