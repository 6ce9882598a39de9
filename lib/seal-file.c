/* SPDX-License-Identifier: MIT */
/*
 * The seal file of an edition and the signer pins' syntax (lib/seal-internal.h): read by the
 * manifest loader and resolve, written by dsvm-build seal (lib/seal.c). Knows nothing of
 * manifests, so both can use it.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "seal-internal.h"

#define SUBJECT_KEYS_MAX 16

char *seal_path_for_edition(const char *edition_path)
{
	size_t n = strlen(edition_path);

	if (n > 5 && streq(edition_path + n - 5, ".yaml"))
		return strdup_printf("%.*s.seal", (int)(n - 5), edition_path);
	return strdup_printf("%s.seal", edition_path);
}

bool file_version_is_valid(const char *s)
{
	for (int part = 0; part < 4; part++) {
		unsigned long v = 0;
		int digits = 0;

		for (; isdigit((unsigned char)*s) && digits < 6; s++, digits++)
			v = v * 10 + (unsigned long)(*s - '0');
		if (digits == 0 || v > 65535 || (digits > 1 && s[-digits] == '0'))
			return false;
		if (part < 3 && *s++ != '.')
			return false;
	}
	return *s == '\0';
}

static bool is_subject_key(const char *k, size_t n)
{
	static const char *const keys[] = { "CN", "O", "OU", "L", "S", "ST", "C", NULL };

	for (size_t i = 0; keys[i]; i++)
		if (strlen(keys[i]) == n && strncmp(keys[i], k, n) == 0)
			return true;
	return false;
}

/* S and ST are the same attribute (stateOrProvinceName), written either way. */
static bool same_key(const char *a, size_t an, const char *b, size_t bn)
{
	bool a_st = (an == 1 && a[0] == 'S') || (an == 2 && strncmp(a, "ST", 2) == 0);
	bool b_st = (bn == 1 && b[0] == 'S') || (bn == 2 && strncmp(b, "ST", 2) == 0);

	if (a_st || b_st)
		return a_st && b_st;
	return an == bn && strncmp(a, b, an) == 0;
}

struct attr {
	const char *key, *value;
	size_t key_len, value_len;
};

/* Split "K=v<sep>K=v..." into attributes; false when an item has no '=' or too many items. */
static bool split_attrs(const char *s, const char *sep, struct attr *v, size_t *n)
{
	size_t sep_len = strlen(sep);

	*n = 0;
	while (*s) {
		const char *end = strstr(s, sep), *eq;

		if (!end)
			end = s + strlen(s);
		eq = memchr(s, '=', (size_t)(end - s));
		if (!eq || *n == SUBJECT_KEYS_MAX)
			return false;
		v[*n] = (struct attr){ .key = s,
				       .key_len = (size_t)(eq - s),
				       .value = eq + 1,
				       .value_len = (size_t)(end - eq - 1) };
		(*n)++;
		s = *end ? end + sep_len : end;
	}
	return true;
}

const char *signer_subject_check(const char *pin)
{
	struct attr v[SUBJECT_KEYS_MAX];
	bool cn = false;
	size_t n;

	if (!split_attrs(pin, ", ", v, &n) || n == 0)
		return "is not a list of KEY=value attributes separated by ', '";
	for (size_t i = 0; i < n; i++) {
		if (!is_subject_key(v[i].key, v[i].key_len))
			return "names an attribute other than CN, O, OU, L, S, ST or C";
		if (v[i].value_len == 0 || memchr(v[i].value, '/', v[i].value_len))
			return "has an empty value or a value with '/'";
		cn = cn || (v[i].key_len == 2 && strncmp(v[i].key, "CN", 2) == 0);
	}
	return cn ? NULL : "has no CN";
}

bool signer_subject_matches(const char *pin, const char *subject)
{
	struct attr want[SUBJECT_KEYS_MAX], have[SUBJECT_KEYS_MAX];
	size_t n_want, n_have;

	if (!subject || subject[0] != '/' || signer_subject_check(pin) ||
	    !split_attrs(pin, ", ", want, &n_want) || !split_attrs(subject + 1, "/", have, &n_have))
		return false;
	for (size_t i = 0; i < n_want; i++) {
		bool found = false;

		for (size_t k = 0; k < n_have && !found; k++)
			found = same_key(want[i].key, want[i].key_len, have[k].key,
					 have[k].key_len) &&
				want[i].value_len == have[k].value_len &&
				memcmp(want[i].value, have[k].value, want[i].value_len) == 0;
		if (!found)
			return false;
	}
	return true;
}

/* The seal file. */

void seal_file_clear(struct seal_file *sf)
{
	for (size_t i = 0; i < sf->n; i++) {
		free(sf->v[i].component);
		free(sf->v[i].url);
	}
	free(sf->v);
	free(sf->path);
	*sf = (struct seal_file){ 0 };
}

static int entry_cmp(const struct seal_entry *a, const struct seal_entry *b)
{
	int c = strcmp(a->component, b->component);

	return c ? c : strcmp(a->url, b->url);
}

int seal_entry_qsort_cmp(const void *a, const void *b)
{
	return entry_cmp(a, b);
}

const struct seal_entry *seal_file_find(const struct seal_file *sf, const char *component,
					const char *url)
{
	for (size_t i = 0; component && url && i < sf->n; i++)
		if (sf->v[i].component && sf->v[i].url && streq(sf->v[i].component, component) &&
		    streq(sf->v[i].url, url))
			return &sf->v[i];
	return NULL;
}

static int parse_seal_line(struct dsvm_ctx *ctx, const char *path, unsigned line, char *text,
			   struct seal_entry *e)
{
	char *field[5], *save = NULL, *end;
	size_t n = 0;

	for (char *t = strtok_r(text, " ", &save); t; t = strtok_r(NULL, " ", &save))
		if (n < 5)
			field[n++] = t;
		else
			n = 6;
	if (n != 5)
		return dsvm_set_error(ctx, -EBADMSG,
				      "%s:%u: a seal line is 'COMPONENT URL SHA256 SIZE "
				      "FILE_VERSION'; run 'dsvm-build seal' to rewrite the file",
				      path, line);
	if (!is_sha256_hex(field[2]))
		return dsvm_set_error(ctx, -EBADMSG,
				      "%s:%u: sha256 '%s' is not 64 lowercase hex characters", path,
				      line, field[2]);
	errno = 0;
	e->size = strtoull(field[3], &end, 10);
	if (errno || *end || e->size == 0 || !isdigit((unsigned char)field[3][0]))
		return dsvm_set_error(ctx, -EBADMSG, "%s:%u: size '%s' is not a byte count", path,
				      line, field[3]);
	if (!streq(field[4], "-") && !file_version_is_valid(field[4]))
		return dsvm_set_error(ctx, -EBADMSG,
				      "%s:%u: file version '%s' is neither 'a.b.c.d' nor '-'", path,
				      line, field[4]);
	e->component = strdup(field[0]);
	e->url = strdup(field[1]);
	if (!e->component || !e->url)
		return -ENOMEM;
	memcpy(e->sha256, field[2], 65);
	snprintf(e->file_version, sizeof(e->file_version), "%s",
		 streq(field[4], "-") ? "" : field[4]);
	e->line = line;
	return 0;
}

int seal_file_load(struct dsvm_ctx *ctx, const char *path, struct seal_file *ret)
{
	_cleanup_free_ char *buf = NULL;
	struct seal_file sf = { 0 };
	unsigned line = 0;
	size_t size;
	int r;

	sf.path = strdup(path);
	if (!sf.path)
		return -ENOMEM;
	r = read_file_capped(path, SEAL_FILE_MAX, &buf, &size);
	if (r == -ENOENT) {
		*ret = sf;
		return 0;
	}
	if (r < 0) {
		seal_file_clear(&sf);
		return dsvm_set_error(ctx, r, "cannot read seal file '%s': %s", path, strerror(-r));
	}
	sf.exists = true;
	r = sha256_buffer_hex(buf, size, sf.sha256);
	/* Lines split by hand: strtok would merge empty lines and shift the numbers. */
	for (char *s = buf; r >= 0 && *s;) {
		char *nl = strchr(s, '\n');
		struct seal_entry *v;

		line++;
		if (nl)
			*nl = '\0';
		if (*s && *s != '#') {
			v = realloc(sf.v, (sf.n + 1) * sizeof(*sf.v));
			if (!v) {
				r = -ENOMEM;
				break;
			}
			sf.v = v;
			memset(&sf.v[sf.n], 0, sizeof(sf.v[sf.n]));
			r = parse_seal_line(ctx, path, line, s, &sf.v[sf.n]);
			sf.n++;
			if (r >= 0 && sf.n > 1 && entry_cmp(&sf.v[sf.n - 2], &sf.v[sf.n - 1]) >= 0)
				r = dsvm_set_error(ctx, -EBADMSG,
						   "%s:%u: '%s %s' is a duplicate or out of order "
						   "(lines are sorted by component, then URL); run "
						   "'dsvm-build seal' to rewrite the file",
						   path, line, sf.v[sf.n - 1].component,
						   sf.v[sf.n - 1].url);
		}
		s = nl ? nl + 1 : s + strlen(s);
	}
	if (r < 0) {
		seal_file_clear(&sf);
		return r;
	}
	*ret = sf;
	return 0;
}
