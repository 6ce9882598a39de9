/* SPDX-License-Identifier: MIT */
/* The PE version resource parser, osslsigncode's verify output (2.5 and 2.9), signer pins. */
#include "unit.h"

#include "dsvm/pe.h"
#include "dsvm/seal.h"
#include "internal.h"
#include "seal-internal.h"

#define RSRC_FILE 0x200
#define RSRC_RVA 0x1000
#define VS_AT 0x58
#define VS_LEN 92

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

/* A directory with one id entry pointing at target (with the subdirectory bit when dir). */
static void put_dir(uint8_t *p, unsigned id, uint32_t target, bool dir)
{
	put16(p + 14, 1);
	put32(p + 16, id);
	put32(p + 20, target | (dir ? 0x80000000u : 0));
}

/*
 * A minimal PE32+ image with one .rsrc section holding RT_VERSION/1/0x409 and a VS_VERSIONINFO
 * of version 1.2.3.4, as the PE/COFF layout has it. Returns its size.
 */
static size_t make_pe(uint8_t *b, size_t cap)
{
	const char key[] = "VS_VERSION_INFO";
	uint8_t *opt = b + 0x58, *sec, *rs = b + RSRC_FILE;
	size_t size = RSRC_FILE + VS_AT + VS_LEN;

	assert_true(cap >= size);
	memset(b, 0, size);
	memcpy(b, "MZ", 2);
	put32(b + 0x3c, 0x40);
	memcpy(b + 0x40, "PE\0\0", 4);
	put16(b + 0x44, 0x8664);
	put16(b + 0x46, 1);   /* sections */
	put16(b + 0x54, 240); /* optional header: 112 + 16 directories */
	put16(opt, 0x20b);
	put32(opt + 108, 16);
	put32(opt + 112 + 2 * 8, RSRC_RVA);
	put32(opt + 112 + 2 * 8 + 4, VS_AT + VS_LEN);
	sec = opt + 240;
	memcpy(sec, ".rsrc", 5);
	put32(sec + 8, VS_AT + VS_LEN);
	put32(sec + 12, RSRC_RVA);
	put32(sec + 16, VS_AT + VS_LEN);
	put32(sec + 20, RSRC_FILE);
	put_dir(rs, 16, 0x18, true);
	put_dir(rs + 0x18, 1, 0x30, true);
	put_dir(rs + 0x30, 0x409, 0x48, false);
	put32(rs + 0x48, RSRC_RVA + VS_AT);
	put32(rs + 0x4c, VS_LEN);
	put16(rs + VS_AT, VS_LEN);
	put16(rs + VS_AT + 2, 52);
	for (size_t i = 0; i < sizeof(key); i++)
		put16(rs + VS_AT + 6 + 2 * i, (uint8_t)key[i]);
	put32(rs + VS_AT + 40, 0xfeef04bd);
	put32(rs + VS_AT + 48, 1u << 16 | 2);
	put32(rs + VS_AT + 52, 3u << 16 | 4);
	return size;
}

static void test_pe_version(void **state)
{
	uint8_t b[1024];
	char v[DSVM_PE_VERSION_MAX] = "unchanged";
	size_t n = make_pe(b, sizeof(b));

	(void)state;
	assert_int_equal(dsvm_pe_file_version(b, n, v), 0);
	assert_string_equal(v, "1.2.3.4");

	/* Every truncation fails cleanly and leaves the output alone. */
	for (size_t k = 0; k < n; k++) {
		char w[DSVM_PE_VERSION_MAX] = "unchanged";
		int r = dsvm_pe_file_version(b, k, w);

		assert_true(r == -EBADMSG || r == -ENOENT);
		assert_string_equal(w, "unchanged");
	}
	/* Not PE, a bad signature, a resource directory pointing outside the file. */
	b[0] = 'X';
	assert_int_equal(dsvm_pe_file_version(b, n, v), -EBADMSG);
	make_pe(b, sizeof(b));
	put32(b + RSRC_FILE + VS_AT + 40, 0x12345678);
	assert_int_equal(dsvm_pe_file_version(b, n, v), -EBADMSG);
	make_pe(b, sizeof(b));
	put32(b + RSRC_FILE + 20, 0x80000000u | 0x7ffffff0u);
	assert_int_equal(dsvm_pe_file_version(b, n, v), -EBADMSG);
	/* A data entry whose RVA lies outside every section. */
	make_pe(b, sizeof(b));
	put32(b + RSRC_FILE + 0x48, 0x9000);
	assert_int_equal(dsvm_pe_file_version(b, n, v), -EBADMSG);
	/* No RT_VERSION (another type id), no resource directory at all. */
	make_pe(b, sizeof(b));
	put32(b + RSRC_FILE + 16, 24);
	assert_int_equal(dsvm_pe_file_version(b, n, v), -ENOENT);
	make_pe(b, sizeof(b));
	put32(b + 0x58 + 112 + 16, 0);
	assert_int_equal(dsvm_pe_file_version(b, n, v), -ENOENT);
	/* Every single byte flipped: never a crash (run under ASan in make asan). */
	for (size_t k = 0; k < n; k++) {
		make_pe(b, sizeof(b));
		b[k] ^= 0xff;
		(void)dsvm_pe_file_version(b, n, v);
	}
}

static char *fixture(const char *name)
{
	_cleanup_free_ char *path =
		strdup_printf("%s/tests/fixtures/authenticode/%s", DSVM_SRCDIR, name);
	char *buf = NULL;

	assert_non_null(path);
	assert_int_equal(read_file_capped(path, 1 << 20, &buf, NULL), 0);
	return buf;
}

static void check_parse(const char *name, int status, enum dsvm_authenticode_verdict want)
{
	_cleanup_free_ char *out = fixture(name);
	struct dsvm_authenticode a;

	assert_int_equal(dsvm_authenticode_parse(out, status, &a), 0);
	if (a.verdict != want)
		fail_msg("%s: verdict %d, want %d", name, a.verdict, want);
	if (want == DSVM_AUTHENTICODE_OK || want == DSVM_AUTHENTICODE_UNTRUSTED) {
		assert_non_null(a.subject);
		assert_string_equal(a.subject, "/C=US/ST=Washington/L=Redmond/O=dsvm Test Vendor/"
					       "OU=Build 7/CN=dsvm Test Vendor");
		assert_int_equal(a.n_chain, 2);
		assert_string_equal(a.chain[0], "dsvm Test Code Signing CA");
		assert_string_equal(a.chain[1], "dsvm Test Root CA");
	}
	dsvm_authenticode_clear(&a);
}

static void test_authenticode_parse(void **state)
{
	(void)state;
	for (int v = 25; v <= 29; v += 4) {
		char name[32];

		snprintf(name, sizeof(name), "ok-%d.txt", v);
		check_parse(name, 0, DSVM_AUTHENTICODE_OK);
		/* A success text with a failing exit status is not a success. */
		{
			_cleanup_free_ char *out = fixture(name);
			struct dsvm_authenticode a;

			assert_int_equal(dsvm_authenticode_parse(out, 1, &a), 0);
			assert_int_equal(a.verdict, DSVM_AUTHENTICODE_FAILED);
			dsvm_authenticode_clear(&a);
		}
		snprintf(name, sizeof(name), "unsigned-%d.txt", v);
		check_parse(name, 1, DSVM_AUTHENTICODE_UNSIGNED);
		snprintf(name, sizeof(name), "untrusted-%d.txt", v);
		check_parse(name, 1, DSVM_AUTHENTICODE_UNTRUSTED);
		snprintf(name, sizeof(name), "tampered-%d.txt", v);
		check_parse(name, 1, DSVM_AUTHENTICODE_TAMPERED);
	}
	/* Output this parser does not know is never a success. */
	{
		struct dsvm_authenticode a;

		assert_int_equal(dsvm_authenticode_parse("Succeeded\n", 0, &a), 0);
		assert_int_equal(a.verdict, DSVM_AUTHENTICODE_FAILED);
		dsvm_authenticode_clear(&a);
	}
}

static void test_subject_pins(void **state)
{
	const char *subject = "/C=US/ST=California/L=Santa Clara/O=NVIDIA Corporation/OU=2008B9F/"
			      "CN=NVIDIA Corporation";

	(void)state;
	assert_null(signer_subject_check("CN=NVIDIA Corporation, O=NVIDIA Corporation, C=US"));
	assert_non_null(signer_subject_check("O=NVIDIA Corporation"));
	assert_non_null(signer_subject_check("CN=x, E=mail@example.com"));
	assert_non_null(signer_subject_check("CN=a/b"));
	assert_non_null(signer_subject_check(""));
	assert_true(signer_subject_matches("CN=NVIDIA Corporation, O=NVIDIA Corporation, "
					   "L=Santa Clara, S=California, C=US",
					   subject));
	assert_true(signer_subject_matches("CN=NVIDIA Corporation, ST=California", subject));
	assert_false(signer_subject_matches("CN=NVIDIA Corporation, O=NVIDIA Corp", subject));
	assert_false(signer_subject_matches("CN=NVIDIA Corporation Ltd", subject));
	assert_false(signer_subject_matches("CN=NVIDIA", subject));
	assert_false(signer_subject_matches("CN=NVIDIA Corporation, OU=1-G", subject));
	assert_false(signer_subject_matches("CN=NVIDIA Corporation", NULL));

	assert_true(file_version_is_valid("580.88.0.0"));
	assert_true(file_version_is_valid("0.0.0.0"));
	assert_false(file_version_is_valid("580.88"));
	assert_false(file_version_is_valid("65536.0.0.0"));
	assert_false(file_version_is_valid("1.2.3.04"));
	assert_false(file_version_is_valid("1.2.3.4.5"));
}

static void test_seal_file(void **state)
{
	char dir[] = "/tmp/dsvm-test-seal.XXXXXX";
	_cleanup_free_ char *path = NULL;
	struct dsvm_ctx *ctx = unit_ctx();
	struct seal_file sf;
	const char *sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = strdup_printf("%s/e.seal", dir);
	assert_int_equal(seal_file_load(ctx, path, &sf), 0);
	assert_false(sf.exists);
	seal_file_clear(&sf);

	f = fopen(path, "w");
	fprintf(f, "# comment\n\na https://x/a.exe %s 10 1.2.3.4\nb https://x/b.msi %s 20 -\n", sha,
		sha);
	fclose(f);
	assert_int_equal(seal_file_load(ctx, path, &sf), 0);
	assert_true(sf.exists);
	assert_int_equal(sf.n, 2);
	assert_string_equal(seal_file_find(&sf, "b", "https://x/b.msi")->file_version, "");
	assert_int_equal(seal_file_find(&sf, "a", "https://x/a.exe")->size, 10);
	assert_int_equal(seal_file_find(&sf, "a", "https://x/a.exe")->line, 3);
	assert_null(seal_file_find(&sf, "a", "https://x/b.msi"));
	seal_file_clear(&sf);

	/* Out of order, a short line, a bad digest: each refused with the file and line. */
	f = fopen(path, "w");
	fprintf(f, "b https://x/b %s 1 -\na https://x/a %s 1 -\n", sha, sha);
	fclose(f);
	assert_int_equal(seal_file_load(ctx, path, &sf), -EBADMSG);
	assert_error_contains(ctx, "e.seal:2: 'a https://x/a' is a duplicate or out of order");
	f = fopen(path, "w");
	fprintf(f, "a https://x/a %s 1\n", sha);
	fclose(f);
	assert_int_equal(seal_file_load(ctx, path, &sf), -EBADMSG);
	assert_error_contains(ctx, "e.seal:1: a seal line is");
	f = fopen(path, "w");
	fprintf(f, "a https://x/a %.63s 1 -\n", sha);
	fclose(f);
	assert_int_equal(seal_file_load(ctx, path, &sf), -EBADMSG);
	assert_error_contains(ctx, "is not 64 lowercase hex");
	unlink(path);
	rmdir(dir);
	dsvm_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pe_version),
		cmocka_unit_test(test_authenticode_parse),
		cmocka_unit_test(test_subject_pins),
		cmocka_unit_test(test_seal_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
