/* SPDX-License-Identifier: MIT */
/*
 * Debian control-format lists, dpkg version ordering and the dependency closure of one pinned
 * package within one repository (lib/debian-internal.h).
 */
#include <ctype.h>
#include <strings.h>

#include "debian-internal.h"
#include "internal.h"

#define MAX_NAME 128
#define MAX_VERSION 256

static void pkg_free(struct deb_pkg *p)
{
	free(p->package);
	free(p->version);
	free(p->architecture);
	free(p->depends);
	free(p->pre_depends);
	free(p->provides);
	free(p->filename);
	free(p->sha256);
	free(p->size_text);
	free(p->status);
	free(p->stanza);
	*p = (struct deb_pkg){ 0 };
}

void deb_list_done(struct deb_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		pkg_free(&l->v[i]);
	free(l->v);
	*l = (struct deb_list){ 0 };
}

/* The slot a field's value goes to, or NULL for a field not kept. */
static char **field_slot(struct deb_pkg *p, const char *name, size_t n)
{
	static const struct {
		const char *name;
		size_t offset;
	} fields[] = {
		{ "Package", offsetof(struct deb_pkg, package) },
		{ "Version", offsetof(struct deb_pkg, version) },
		{ "Architecture", offsetof(struct deb_pkg, architecture) },
		{ "Depends", offsetof(struct deb_pkg, depends) },
		{ "Pre-Depends", offsetof(struct deb_pkg, pre_depends) },
		{ "Provides", offsetof(struct deb_pkg, provides) },
		{ "Filename", offsetof(struct deb_pkg, filename) },
		{ "SHA256", offsetof(struct deb_pkg, sha256) },
		{ "Size", offsetof(struct deb_pkg, size_text) },
		{ "Status", offsetof(struct deb_pkg, status) },
	};

	/* Field names are case-insensitive (deb822). */
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (strlen(fields[i].name) == n && strncasecmp(fields[i].name, name, n) == 0)
			return (char **)((char *)p + fields[i].offset);
	return NULL;
}

/* Append a value line to *slot: the first sets it, continuations join with one space. */
static int add_value(char **slot, const char *v, size_t n)
{
	char *s;

	while (n && isspace((unsigned char)*v))
		v++, n--;
	while (n && isspace((unsigned char)v[n - 1]))
		n--;
	if (!*slot) {
		*slot = strndup(v, n);
		return *slot ? 0 : -ENOMEM;
	}
	if (n == 0)
		return 0;
	s = strdup_printf("%s%s%.*s", *slot, **slot ? " " : "", (int)n, v);
	if (!s)
		return -ENOMEM;
	free(*slot);
	*slot = s;
	return 0;
}

/* Move the stanza in p (from start to end) into l; p is empty afterwards, whatever happens. */
static int end_stanza(struct deb_list *l, struct deb_pkg *p, const char *start, const char *end)
{
	int r = 0;

	if (!p->package)
		goto out;
	p->stanza = strndup(start, (size_t)(end - start));
	if (!p->stanza) {
		r = -ENOMEM;
		goto out;
	}
	p->size = p->size_text ? strtoull(p->size_text, NULL, 10) : 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct deb_pkg *v = reallocarray(l->v, cap, sizeof(*v));

		if (!v) {
			r = -ENOMEM;
			goto out;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *p;
	*p = (struct deb_pkg){ 0 };
out:
	pkg_free(p);
	return r;
}

int deb_list_parse(struct deb_list *l, const char *text, size_t len)
{
	const char *p = text, *end = text + len, *start = NULL;
	struct deb_pkg cur = { 0 };
	char **slot = NULL;
	int r = 0;

	while (r == 0 && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end, *next = nl ? nl + 1 : end;
		const char *colon;
		size_t blank = 0;

		while (p + blank < eol && p[blank] && strchr(" \t\r", p[blank]))
			blank++;
		if (p + blank == eol) { /* a blank line ends the stanza */
			if (start)
				r = end_stanza(l, &cur, start, p);
			start = NULL;
			slot = NULL;
		} else if (*p == ' ' || *p == '\t') { /* continuation of the last field */
			if (slot)
				r = add_value(slot, p, (size_t)(eol - p));
		} else if ((colon = memchr(p, ':', (size_t)(eol - p)))) {
			if (!start)
				start = p;
			slot = field_slot(&cur, p, (size_t)(colon - p));
			/* A repeated field keeps its first value. */
			if (slot && *slot)
				slot = NULL;
			if (slot)
				r = add_value(slot, colon + 1, (size_t)(eol - colon - 1));
		}
		p = next;
	}
	if (r == 0 && start)
		r = end_stanza(l, &cur, start, end);
	pkg_free(&cur);
	return r;
}

static int order(int c)
{
	if (isdigit(c))
		return 0;
	if (isalpha(c))
		return c;
	if (c == '~')
		return -1;
	return c ? c + 256 : 0;
}

/* dpkg's verrevcmp: alternating non-digit and digit runs; '~' sorts before the end. */
static int verrevcmp(const char *a, const char *b)
{
	while (*a || *b) {
		int first_diff = 0;

		while ((*a && !isdigit((unsigned char)*a)) || (*b && !isdigit((unsigned char)*b))) {
			int ac = order((unsigned char)*a), bc = order((unsigned char)*b);

			if (ac != bc)
				return ac - bc;
			a++;
			b++;
		}
		while (*a == '0')
			a++;
		while (*b == '0')
			b++;
		while (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			if (!first_diff)
				first_diff = *a - *b;
			a++;
			b++;
		}
		if (isdigit((unsigned char)*a))
			return 1;
		if (isdigit((unsigned char)*b))
			return -1;
		if (first_diff)
			return first_diff;
	}
	return 0;
}

struct version_parts {
	unsigned long epoch;
	char upstream[MAX_VERSION];
	const char *revision;
};

static void split_version(const char *v, struct version_parts *p)
{
	const char *colon = strchr(v, ':'), *dash;

	p->epoch = colon ? strtoul(v, NULL, 10) : 0;
	if (colon)
		v = colon + 1;
	dash = strrchr(v, '-');
	snprintf(p->upstream, sizeof(p->upstream), "%.*s",
		 (int)(dash ? (size_t)(dash - v) : strlen(v)), v);
	p->revision = dash ? dash + 1 : "";
}

int deb_version_compare(const char *a, const char *b)
{
	struct version_parts pa, pb;
	int r;

	split_version(a, &pa);
	split_version(b, &pb);
	if (pa.epoch != pb.epoch)
		return pa.epoch < pb.epoch ? -1 : 1;
	r = verrevcmp(pa.upstream, pb.upstream);
	return r ? r : verrevcmp(pa.revision, pb.revision);
}

bool deb_version_is_valid(const char *v)
{
	const char *colon;

	if (!v || !*v || strlen(v) >= MAX_VERSION ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+~:-") !=
		    strlen(v))
		return false;
	colon = strchr(v, ':');
	if (colon) {
		if (colon == v || strspn(v, "0123456789") != (size_t)(colon - v))
			return false;
		v = colon + 1;
	}
	return isdigit((unsigned char)*v) && !strchr(v, ':') && v[strlen(v) - 1] != '-';
}

bool deb_name_is_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	return n >= 2 && n < MAX_NAME &&
	       (islower((unsigned char)name[0]) || isdigit((unsigned char)name[0])) &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789+.-") == n;
}

/* The n-th word (0-based) of p's Status, compared with want. */
static bool status_word_is(const struct deb_pkg *p, unsigned n, const char *want)
{
	const char *s = p->status;
	size_t len;

	if (!s)
		return false;
	for (;;) {
		s += strspn(s, " ");
		len = strcspn(s, " ");
		if (n-- == 0)
			return len == strlen(want) && strncmp(s, want, len) == 0;
		if (!s[len])
			return false;
		s += len;
	}
}

bool deb_pkg_is_installed(const struct deb_pkg *p)
{
	return status_word_is(p, 2, "installed");
}

bool deb_pkg_is_held(const struct deb_pkg *p)
{
	return status_word_is(p, 0, "hold");
}

bool deb_pkg_is_not_installed(const struct deb_pkg *p)
{
	return status_word_is(p, 2, "not-installed");
}

bool deb_pkg_is_half_done(const struct deb_pkg *p)
{
	static const char *const states[] = { "half-installed", "unpacked", "half-configured",
					      "triggers-awaited", "triggers-pending" };

	for (size_t i = 0; i < ARRAY_SIZE(states); i++)
		if (status_word_is(p, 2, states[i]))
			return true;
	return false;
}

const struct deb_pkg *deb_list_find_installed(const struct deb_list *installed, const char *name,
					      const char *version)
{
	for (size_t i = 0; installed && i < installed->n; i++) {
		const struct deb_pkg *p = &installed->v[i];

		if (p->package && streq(p->package, name) && deb_pkg_is_installed(p) &&
		    (!version || (p->version && deb_version_compare(p->version, version) == 0)))
			return p;
	}
	return NULL;
}

/* One alternative of a relation: "name[:arch] [(op version)]". */
struct relation {
	char name[MAX_NAME];
	char op[3]; /* "" when unversioned */
	char version[MAX_VERSION];
};

/* Parse one alternative from s (up to end); false when it is not one. */
static bool parse_relation(const char *s, const char *end, struct relation *rel)
{
	size_t n;

	*rel = (struct relation){ 0 };
	while (s < end && isspace((unsigned char)*s))
		s++;
	n = strcspn(s, " \t:(<[,|");
	if (s + n > end)
		n = (size_t)(end - s);
	if (n == 0 || n >= sizeof(rel->name))
		return false;
	memcpy(rel->name, s, n);
	s += n;
	if (s < end && *s == ':') /* an architecture qualifier (:any, :amd64) */
		s += strcspn(s, " \t(<[,|");
	while (s < end && isspace((unsigned char)*s))
		s++;
	if (s < end && *s == '(') {
		const char *close = memchr(s, ')', (size_t)(end - s));

		s++;
		while (s < end && isspace((unsigned char)*s))
			s++;
		n = strspn(s, "<=>");
		if (!close || n == 0 || n > 2)
			return false;
		memcpy(rel->op, s, n);
		s += n;
		while (s < close && isspace((unsigned char)*s))
			s++;
		n = (size_t)(close - s);
		while (n && isspace((unsigned char)s[n - 1]))
			n--;
		if (n == 0 || n >= sizeof(rel->version))
			return false;
		memcpy(rel->version, s, n);
	}
	return true;
}

/* Whether version v satisfies the relation's "(op version)". */
static bool version_satisfies(const char *v, const struct relation *rel)
{
	int c;

	if (!rel->op[0])
		return true;
	if (!v)
		return false;
	c = deb_version_compare(v, rel->version);
	if (streq(rel->op, "="))
		return c == 0;
	if (streq(rel->op, "<<"))
		return c < 0;
	if (streq(rel->op, ">>"))
		return c > 0;
	if (streq(rel->op, "<=") || streq(rel->op, "<"))
		return c <= 0;
	if (streq(rel->op, ">=") || streq(rel->op, ">"))
		return c >= 0;
	return false;
}

/* Whether p is rel's package, or provides it (a versioned relation needs a versioned Provides). */
static bool pkg_meets(const struct deb_pkg *p, const struct relation *rel)
{
	const char *s, *end;

	if (!p->package)
		return false;
	if (streq(p->package, rel->name))
		return version_satisfies(p->version, rel);
	for (s = p->provides; s && *s; s = *end ? end + 1 : end) {
		struct relation prov;

		end = s + strcspn(s, ",");
		if (!parse_relation(s, end, &prov) || !streq(prov.name, rel->name))
			continue;
		if (!rel->op[0])
			return true;
		if (streq(prov.op, "=") && version_satisfies(prov.version, rel))
			return true;
	}
	return false;
}

static bool arch_matches(const struct deb_pkg *p, const char *arch)
{
	return p->architecture && (streq(p->architecture, "all") || streq(p->architecture, arch));
}

static bool is_ours(const struct deb_closure_input *in, const char *name)
{
	for (size_t i = 0; i < in->n_ours; i++)
		if (streq(in->ours[i], name))
			return true;
	return false;
}

/* An installed package of the root's own (not in ours) meets rel. */
static bool root_meets(const struct deb_closure_input *in, const struct relation *rel)
{
	for (size_t i = 0; in->installed && i < in->installed->n; i++) {
		const struct deb_pkg *p = &in->installed->v[i];

		if (deb_pkg_is_installed(p) && !is_ours(in, p->package) && pkg_meets(p, rel))
			return true;
	}
	return false;
}

/* The repository's best stanza for rel: version `prefer` if it meets rel, else the highest. */
static ssize_t best_candidate(const struct deb_closure_input *in, const struct relation *rel,
			      const char *prefer)
{
	ssize_t best = -1;

	for (size_t i = 0; i < in->repo->n; i++) {
		const struct deb_pkg *p = &in->repo->v[i];

		if (!arch_matches(p, in->arch) || !p->version || !pkg_meets(p, rel))
			continue;
		if (streq(p->package, rel->name) && streq(p->version, prefer))
			return (ssize_t)i;
		if (best < 0 || deb_version_compare(p->version, in->repo->v[best].version) > 0)
			best = (ssize_t)i;
	}
	return best;
}

struct closure {
	const struct deb_closure_input *in;
	const char *prefer;
	size_t *idx;
	size_t n;
};

static bool chosen_meets(const struct closure *cl, const struct relation *rel)
{
	for (size_t i = 0; i < cl->n; i++)
		if (pkg_meets(&cl->in->repo->v[cl->idx[i]], rel))
			return true;
	return false;
}

static bool is_chosen(const struct closure *cl, size_t k)
{
	for (size_t i = 0; i < cl->n; i++)
		if (cl->idx[i] == k)
			return true;
	return false;
}

/* One clause ("a | b (>= 1)"): nothing when met, else the first alternative the repo meets. */
static void add_clause(struct closure *cl, const char *s, const char *end)
{
	struct relation alts[8];
	size_t n = 0;

	while (s < end && n < ARRAY_SIZE(alts)) {
		const char *bar = memchr(s, '|', (size_t)(end - s));
		const char *alt_end = bar ? bar : end;

		if (parse_relation(s, alt_end, &alts[n]))
			n++;
		s = bar ? bar + 1 : end;
	}
	for (size_t i = 0; i < n; i++)
		if (chosen_meets(cl, &alts[i]) || root_meets(cl->in, &alts[i]))
			return;
	for (size_t i = 0; i < n; i++) {
		ssize_t k = best_candidate(cl->in, &alts[i], cl->prefer);

		if (k >= 0) {
			if (!is_chosen(cl, (size_t)k))
				cl->idx[cl->n++] = (size_t)k;
			return;
		}
	}
}

static void add_relations(struct closure *cl, const char *field)
{
	for (const char *s = field, *end; s && *s; s = *end ? end + 1 : end) {
		end = s + strcspn(s, ",");
		add_clause(cl, s, end);
	}
}

int deb_closure(const struct deb_closure_input *in, const char *package, const char *version,
		size_t **ret_idx)
{
	struct closure cl = { .in = in, .prefer = version };
	ssize_t root = -1;

	for (size_t i = 0; i < in->repo->n && root < 0; i++) {
		const struct deb_pkg *p = &in->repo->v[i];

		if (p->package && streq(p->package, package) && p->version &&
		    deb_version_compare(p->version, version) == 0 && arch_matches(p, in->arch))
			root = (ssize_t)i;
	}
	if (root < 0)
		return -ENOENT;
	/* Each stanza is chosen at most once: n never exceeds the repository's size. */
	cl.idx = calloc(in->repo->n, sizeof(size_t));
	if (!cl.idx)
		return -ENOMEM;
	cl.idx[cl.n++] = (size_t)root;
	for (size_t i = 0; i < cl.n; i++) {
		const struct deb_pkg *p = &in->repo->v[cl.idx[i]];

		add_relations(&cl, p->pre_depends);
		add_relations(&cl, p->depends);
	}
	*ret_idx = cl.idx;
	return (int)cl.n;
}
