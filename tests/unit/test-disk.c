/* SPDX-License-Identifier: MIT */

/*
 * Disk classification without external tools: blank and garbage images, a hand-built minimal
 * NTFS volume for the root-directory reader (and damaged copies of it), and disk roles from a
 * fake /sys/class/block. Images made with mkntfs, mkfs.ext4 and sfdisk are covered by
 * tests/integration/test-disks.sh.
 */

#include <errno.h>

#include "unit.h"

#include "disk-internal.h"
#include "dsvm/disk.h"
#include "test-detect-tmpdir.h"

static char *write_image(const char *name, const void *data, size_t size, size_t total)
{
	char *path = strdup_printf("%s/%s", tmpdir, name);
	int fd;

	assert_non_null(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	if (size)
		assert_int_equal(write(fd, data, size), (ssize_t)size);
	assert_int_equal(ftruncate(fd, (off_t)total), 0);
	close(fd);
	return path;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/*
 * A minimal NTFS volume of 64 KiB: 512-byte sectors and clusters, MFT at cluster 8 with
 * 1 KiB records; record 0 ($MFT) maps the MFT with one run, record 5 (the root) holds a
 * resident $INDEX_ROOT with the given names (record numbers from 64) and the end entry.
 */
#define VOL_SIZE 65536
#define MFT_LCN 8

static void apply_usa(uint8_t *rec, size_t size)
{
	/* Update sequence at 0x30: number 1, then the saved last two bytes of each sector. */
	put16(rec + 4, 0x30);
	put16(rec + 6, (uint16_t)(size / 512 + 1));
	put16(rec + 0x30, 1);
	for (size_t i = 1; i <= size / 512; i++) {
		memcpy(rec + 0x30 + 2 * i, rec + i * 512 - 2, 2);
		put16(rec + i * 512 - 2, 1);
	}
}

static size_t add_entry(uint8_t *p, uint64_t mft, const char *name, uint8_t ns)
{
	size_t n = strlen(name), key = 0x42 + 2 * n, len = (16 + key + 7) & ~(size_t)7;

	memset(p, 0, len);
	put64(p, mft);
	put16(p + 8, (uint16_t)len);
	put16(p + 10, (uint16_t)key);
	p[16 + 0x40] = (uint8_t)n;
	p[16 + 0x41] = ns;
	for (size_t i = 0; i < n; i++)
		put16(p + 16 + 0x42 + 2 * i, (uint8_t)name[i]);
	return len;
}

static uint8_t *make_ntfs(const char *const *names, size_t n_names)
{
	uint8_t *v = calloc(1, VOL_SIZE), *mft0, *root, *a, *ih;
	uint32_t alen;
	size_t off;

	assert_non_null(v);
	memcpy(v + 3, "NTFS    ", 8);
	put16(v + 0x0b, 512);
	v[0x0d] = 1;
	put64(v + 0x30, MFT_LCN);
	v[0x40] = (uint8_t)-10; /* 2^10 = 1 KiB records */
	v[0x44] = 1;

	mft0 = v + MFT_LCN * 512;
	memcpy(mft0, "FILE", 4);
	put16(mft0 + 0x14, 0x38);
	put16(mft0 + 0x16, 1);
	a = mft0 + 0x38; /* $DATA, non-resident: one run of 32 clusters at MFT_LCN */
	put32(a, 0x80);
	put32(a + 4, 0x48);
	a[8] = 1;
	put16(a + 0x20, 0x40);
	a[0x40] = 0x11;
	a[0x41] = 32;
	a[0x42] = MFT_LCN;
	put32(a + 0x48, 0xffffffff);
	apply_usa(mft0, 1024);

	root = mft0 + 5 * 1024;
	memcpy(root, "FILE", 4);
	put16(root + 0x14, 0x38);
	put16(root + 0x16, 3); /* in use, directory */
	a = root + 0x38;
	put32(a, 0x90);
	a[8] = 0;
	put16(a + 0x14, 0x20);
	ih = a + 0x20 + 16; /* index root: 16-byte header, then the index header */
	put32(a + 0x20 + 8, 4096);
	off = 16;
	for (size_t i = 0; i < n_names; i++)
		off += add_entry(ih + off, 64 + i, names[i], 1);
	/* The "." entry of the root itself (record 5) and the end entry. */
	off += add_entry(ih + off, 5, ".", 3);
	memset(ih + off, 0, 16);
	put16(ih + off + 8, 16);
	put16(ih + off + 12, 2);
	off += 16;
	put32(ih, 16);
	put32(ih + 4, (uint32_t)off);
	put32(ih + 8, (uint32_t)off);
	put32(a + 0x10, (uint32_t)(16 + off));
	alen = (uint32_t)((0x20 + 16 + off + 7) & ~(size_t)7);
	put32(a + 4, alen);
	put32(a + alen, 0xffffffff);
	apply_usa(root, 1024);
	return v;
}

static int scan(const uint8_t *vol, size_t size, unsigned *other, bool *warning)
{
	struct ntfs_mem m = { vol, size };
	struct ntfs_io io = { ntfs_mem_read, &m, size };

	return ntfs_root_scan(&io, other, warning);
}

static void test_ntfs_root(void **state)
{
	static const char *const fresh[] = { "DataLoss_Warning_ReadMe.txt" };
	static const char *const data[] = { "dataloss_warning_readme.txt", "model.bin" };
	static const char *const model[] = { "checkpoint.safetensors" };
	static const struct {
		const char *const *names;
		size_t n_names;
		unsigned other;
		bool warning;
	} cases[] = {
		{ fresh, 1, 0, true }, /* the name compares case-insensitively */
		{ data, 2, 1, true },
		{ NULL, 0, 0, false },
		{ model, 1, 1, false },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t *v = make_ntfs(cases[i].names, cases[i].n_names);
		unsigned other = 99;
		bool warning = !cases[i].warning;

		assert_int_equal(scan(v, VOL_SIZE, &other, &warning), 0);
		assert_int_equal(other, cases[i].other);
		assert_int_equal(warning, cases[i].warning);
		free(v);
	}
}

/* Every single-byte corruption of the boot sector and the two records is handled. */
static void test_ntfs_damage(void **state)
{
	static const char *const fresh[] = { "dataloss_warning_readme.txt" };
	uint8_t *good = make_ntfs(fresh, 1), *v = malloc(VOL_SIZE);
	size_t regions[][2] = { { 0, 512 },
				{ MFT_LCN * 512, 1024 },
				{ MFT_LCN * 512 + 5120, 1024 } };
	unsigned other;
	bool warning;

	(void)state;
	assert_non_null(v);
	for (size_t r = 0; r < ARRAY_SIZE(regions); r++) {
		for (size_t i = regions[r][0]; i < regions[r][0] + regions[r][1]; i++) {
			static const uint8_t values[] = { 0x00, 0xff, 0x80, 0x7f };

			for (size_t k = 0; k < ARRAY_SIZE(values); k++) {
				memcpy(v, good, VOL_SIZE);
				v[i] ^= values[k] ? values[k] : 0x01;
				other = 0;
				warning = false;
				if (scan(v, VOL_SIZE, &other, &warning) == 0)
					assert_true(other <= NTFS_MAX_COUNTED);
			}
		}
	}
	/* Truncated volumes: every prefix length of the interesting part. */
	for (size_t len = 0; len < MFT_LCN * 512 + 6144; len += 97)
		(void)scan(good, len, &other, &warning);
	/* A torn record (fixup mismatch) is never read as valid. */
	memcpy(v, good, VOL_SIZE);
	v[MFT_LCN * 512 + 5120 + 510] ^= 0x55;
	assert_int_equal(scan(v, VOL_SIZE, &other, &warning), -EBADMSG);
	free(v);
	free(good);
}

/*
 * A root directory whose index lives in one $INDEX_ALLOCATION block (LCN 16, 4 KiB clusters)
 * naming one user file. torn: one sector of that block fails its update-sequence check.
 */
static uint8_t *make_large_root(bool torn)
{
	uint8_t *img = calloc(1, 64 * 4096), *r0, *r5, *a, *v, *e, *ix;

	assert_non_null(img);
	memcpy(img + 3, "NTFS    ", 8);
	put16(img + 0x0b, 512);
	img[0x0d] = 8;
	put64(img + 0x30, 1);
	img[0x40] = (uint8_t)-10; /* 1 KiB MFT records */
	r0 = img + 4096;
	put16(r0 + 0x14, 0x38);
	a = r0 + 0x38; /* $MFT's $DATA: 8 clusters at LCN 1 */
	put32(a, 0x80);
	put32(a + 4, 0x48);
	a[8] = 1;
	put16(a + 0x20, 0x40);
	a[0x40] = 0x11;
	a[0x41] = 8;
	a[0x42] = 1;
	put32(a + 0x48, 0xffffffff);
	memcpy(r0, "FILE", 4);
	apply_usa(r0, 1024);

	r5 = img + 4096 + 5 * 1024;
	put16(r5 + 0x14, 0x38);
	put16(r5 + 0x16, 0x03);
	a = r5 + 0x38; /* $INDEX_ROOT with the large-index flag and only an end entry */
	put32(a, 0x90);
	put32(a + 4, 0x18 + 56);
	put32(a + 0x10, 56);
	put16(a + 0x14, 0x18);
	v = a + 0x18;
	put32(v, 0x30);
	put32(v + 8, 4096);
	v[12] = 1;
	put32(v + 16, 16);
	put32(v + 20, 40);
	put32(v + 24, 40);
	v[16 + 12] = 1;
	e = v + 32;
	put16(e + 8, 24);
	put16(e + 12, 3);
	a = r5 + 0x38 + 0x18 + 56; /* $INDEX_ALLOCATION: one cluster at LCN 16 */
	put32(a, 0xa0);
	put32(a + 4, 0x48);
	a[8] = 1;
	put16(a + 0x20, 0x40);
	a[0x40] = 0x11;
	a[0x41] = 1;
	a[0x42] = 16;
	put32(a + 0x48, 0xffffffff);
	memcpy(r5, "FILE", 4);
	apply_usa(r5, 1024);

	ix = img + 16 * 4096; /* the block naming "data.csv" (MFT record 64) */
	put32(ix + 0x18, 0x40);
	put32(ix + 0x1c, 0x40 + 0x68 + 16);
	put32(ix + 0x20, 4096 - 0x18);
	e = ix + 0x18 + 0x40;
	put64(e, 64);
	put16(e + 8, 0x68);
	put16(e + 10, 0x42 + 2 * 8);
	e[16 + 0x40] = 8;
	e[16 + 0x41] = 1;
	for (int i = 0; i < 8; i++)
		put16(e + 16 + 0x42 + 2 * i, (uint16_t) "data.csv"[i]);
	e += 0x68;
	put16(e + 8, 16);
	put16(e + 12, 2);
	memcpy(ix, "INDX", 4);
	apply_usa(ix, 4096);
	if (torn)
		put16(ix + 3 * 512 - 2, 0x0202);
	return img;
}

/* A torn index block may hide the user's files: never "nothing but the warning file". */
static void test_ntfs_torn_index_block(void **state)
{
	uint8_t *intact = make_large_root(false), *torn = make_large_root(true);
	unsigned other = 99;
	bool warning = true;

	(void)state;
	assert_int_equal(scan(intact, 64 * 4096, &other, &warning), 0);
	assert_int_equal(other, 1);
	assert_false(warning);
	assert_int_equal(scan(torn, 64 * 4096, &other, &warning), -EBADMSG);
	free(intact);
	free(torn);
}

/* An attribute too short for its fields is refused before any field is read (ASan checks). */
static void test_ntfs_short_attribute(void **state)
{
	uint8_t *img = make_large_root(false), *r5 = img + 4096 + 5 * 1024, *a;
	unsigned other = 0;
	bool warning = false;

	(void)state;
	memset(r5, 0, 1024);
	put16(r5 + 0x14, 0x38);
	put16(r5 + 0x16, 0x03);
	a = r5 + 0x38; /* filler up to byte 1008, then a 16-byte $INDEX_ALLOCATION */
	put32(a, 0x10);
	put32(a + 4, 1008 - 0x38);
	a = r5 + 1008;
	put32(a, 0xa0);
	put32(a + 4, 16);
	a[8] = 1;
	memcpy(r5, "FILE", 4);
	apply_usa(r5, 1024);
	assert_int_equal(scan(img, 64 * 4096, &other, &warning), -EBADMSG);
	free(img);
}

static void test_classify_blank_and_garbage(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_disk_probe p;
	_cleanup_free_ char *blank = write_image("blank.img", NULL, 0, 8 << 20);
	_cleanup_free_ char *empty = write_image("empty.img", NULL, 0, 0);
	_cleanup_free_ char *noise = NULL;
	uint8_t junk[8192];

	(void)state;
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	noise = write_image("noise.img", junk, sizeof(junk), 8 << 20);
	assert_int_equal(dsvm_disk_classify(ctx, blank, &p), 0);
	assert_int_equal(p.content, DSVM_DISK_CONTENT_BLANK);
	assert_string_equal(dsvm_disk_content_to_string(p.content), "blank");
	assert_int_equal(dsvm_disk_classify(ctx, noise, &p), 0);
	assert_int_equal(p.content, DSVM_DISK_CONTENT_UNKNOWN);
	assert_int_equal(dsvm_disk_classify(ctx, empty, &p), 0);
	assert_true(p.content == DSVM_DISK_CONTENT_BLANK || p.content == DSVM_DISK_CONTENT_UNKNOWN);
	assert_int_equal(dsvm_disk_classify(ctx, "/nonexistent/disk.img", &p), -ENOENT);
	assert_error_contains(ctx, "'/nonexistent/disk.img'");
	dsvm_ctx_free(ctx);
}

/* A whole-disk NTFS (no partition table) is never Azure's fresh disk. */
static void test_classify_whole_ntfs(void **state)
{
	static const char *const fresh[] = { "dataloss_warning_readme.txt" };
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_disk_probe p;
	uint8_t *v = make_ntfs(fresh, 1);
	_cleanup_free_ char *path = write_image("ntfs.img", v, VOL_SIZE, 8 << 20);

	(void)state;
	assert_int_equal(dsvm_disk_classify(ctx, path, &p), 0);
	/* libblkid may not take this minimal volume for NTFS; either way it is not "fresh". */
	assert_int_not_equal(p.content, DSVM_DISK_CONTENT_NTFS_FRESH);
	assert_int_not_equal(p.content, DSVM_DISK_CONTENT_BLANK);
	free(v);
	dsvm_ctx_free(ctx);
}

static void test_disks_scan(void **state)
{
	struct dsvm_ctx *ctx = unit_ctx();
	struct dsvm_disk *disks = NULL;
	size_t n = 99;

	(void)state;
	assert_int_equal(dsvm_ctx_set_sysroot(ctx, tmpdir), 0);
	/* No /sys/class/block at all: an empty list. */
	assert_int_equal(dsvm_disks_scan(ctx, true, &disks, &n), 0);
	assert_int_equal(n, 0);
	free(disks);

	/* Plain directories (no Hyper-V ancestors): NVMe by model, partitions skipped. */
	tmpdir_puts("/sys/class/block/nvme0n1/size", "131072\n");
	tmpdir_puts("/sys/class/block/nvme0n1/device/model", "Microsoft NVMe Direct Disk           "
							     "   "
							     "\n");
	tmpdir_puts("/sys/class/block/nvme1n1/size", "garbage\n");
	tmpdir_puts("/sys/class/block/nvme1n1/nsid", "1\n");
	tmpdir_puts("/sys/class/block/nvme1n1/device/model", "MSFT NVMe Accelerator v1.0           "
							     "   "
							     "\n");
	tmpdir_puts("/sys/class/block/nvme1n1p1/partition", "1\n");
	tmpdir_puts("/sys/class/block/sda/size", "100\n");
	tmpdir_puts("/sys/class/block/sda/device/vendor", "ATA     \n");
	tmpdir_puts("/sys/class/block/sda/device/model", "Some Disk\n");
	tmpdir_puts("/sys/class/block/loop0/size", "8\n");
	tmpdir_puts("/sys/class/block/dm-0/size", "8\n");
	assert_int_equal(dsvm_disks_scan(ctx, true, &disks, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(disks[0].name, "nvme0n1");
	assert_int_equal(disks[0].role, DSVM_DISK_ROLE_LOCAL_NVME);
	assert_string_equal(dsvm_disk_role_to_string(disks[0].role), "local-nvme");
	assert_int_equal(disks[0].size_bytes, 131072ull * 512);
	assert_false(disks[0].probed); /* no dev/nvme0n1 in this sysroot */
	assert_string_equal(disks[1].name, "nvme1n1");
	assert_int_equal(disks[1].role, DSVM_DISK_ROLE_OS);
	assert_int_equal(disks[1].size_bytes, 0);
	assert_string_equal(disks[2].name, "sda");
	assert_int_equal(disks[2].role, DSVM_DISK_ROLE_OTHER);
	assert_string_equal(disks[2].devnode, "/dev/sda");
	free(disks);
	dsvm_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ntfs_root),
		cmocka_unit_test(test_ntfs_damage),
		cmocka_unit_test(test_ntfs_torn_index_block),
		cmocka_unit_test(test_ntfs_short_attribute),
		cmocka_unit_test_setup_teardown(test_classify_blank_and_garbage, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_classify_whole_ntfs, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_disks_scan, tmpdir_setup, tmpdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
