/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <sys/stat.h>

#include "internal.h"
#include "manifest-internal.h"

/* An edition includes a few dozen files; the cap only stops a runaway list. */
#define MAX_INCLUDES 256
#define MAX_COMPONENTS 4096

static const char *const kind_names[_KIND_MAX] = {
	[KIND_APT] = "apt",
	[KIND_ARCHIVE] = "archive",
	[KIND_NVIDIA_REDIST] = "nvidia-redist",
	[KIND_RUNFILE] = "runfile",
	[KIND_PIP] = "pip",
	[KIND_CONDA] = "conda",
	[KIND_FILE] = "file",
	[KIND_SERVICE] = "service",
	[KIND_SCRIPT] = "script",
	[KIND_MSI] = "msi",
	[KIND_EXE] = "exe",
	[KIND_ZIP] = "zip",
	[KIND_POWERSHELL] = "powershell",
};

/* Which platform a kind belongs to: NULL means both. */
static const char *kind_platform(enum component_kind kind)
{
	switch (kind) {
	case KIND_APT:
	case KIND_RUNFILE:
	case KIND_SERVICE:
	case KIND_SCRIPT:
		return "linux";
	case KIND_MSI:
	case KIND_EXE:
	case KIND_ZIP:
	case KIND_POWERSHELL:
		return "windows";
	default:
		return NULL;
	}
}

const char *component_kind_to_string(enum component_kind kind)
{
	return kind < _KIND_MAX ? kind_names[kind] : "?";
}

const char *node_position(const struct ydoc *doc, const struct ynode *node, char *buf, size_t size)
{
	snprintf(buf, size, "%s:%u:%u", doc->path, node ? node->line : 1, node ? node->column : 1);
	return buf;
}

/* Parsing state for one file. */
struct parser {
	struct dsvm_ctx *ctx;
	const struct ydoc *doc;
	char *dir;	      /* directory of the file, for relative paths */
	const char *platform; /* the edition's, or NULL when a component file is checked alone */
	const char *root;     /* real path every named file must stay under */
};

static const char *const floating_words[] = {
	"latest", "stable", "current", "main",	 "master",  "head", "nightly", "trunk",
	"tip",	  "any",    "x",       "newest", "default", "dev",  NULL,
};

/*
 * Versions must pin one release: no channel names, wildcards or ranges. A '~' inside a version
 * is Debian's "sorts before" (6.4.4-129~24.04) and stays legal; a leading one is a range.
 */
static bool is_floating_version(const char *v)
{
	for (size_t i = 0; floating_words[i]; i++)
		if (strcasecmp(v, floating_words[i]) == 0)
			return true;
	if (strchr("~^<>=!", v[0]))
		return true;
	return strpbrk(v, "*<>=^ \t,|") != NULL;
}

static int check_version(struct parser *p, const struct ynode *node, const char *v)
{
	if (is_floating_version(v))
		return yerror(p->ctx, p->doc, node,
			      "version '%s' floats; pin one exact release (e.g. \"12.8.1\" or an "
			      "exact Debian version)",
			      v);
	if (!isalnum((unsigned char)v[0]))
		return yerror(p->ctx, p->doc, node,
			      "version '%s' must start with a letter or digit", v);
	return 0;
}

static bool is_loopback_http(const char *url)
{
	static const char *const hosts[] = { "http://127.0.0.1:", "http://127.0.0.1/",
					     "http://localhost:", "http://localhost/",
					     "http://[::1]:",	  "http://[::1]/" };

	for (size_t i = 0; i < ARRAY_SIZE(hosts); i++)
		if (strncmp(url, hosts[i], strlen(hosts[i])) == 0)
			return true;
	return false;
}

static int check_url(struct parser *p, const struct ynode *node, const char *url)
{
	const char *host;

	if (strncmp(url, "https://", 8) != 0 && !is_loopback_http(url))
		return yerror(p->ctx, p->doc, node,
			      "URL '%s' is not https://; only https is fetched (plain http only "
			      "from 127.0.0.1 or localhost, for tests)",
			      url);
	host = strstr(url, "://") + 3;
	if (!*host || *host == '/')
		return yerror(p->ctx, p->doc, node, "URL '%s' names no host", url);
	for (const char *s = url; *s; s++)
		if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
			return yerror(p->ctx, p->doc, node,
				      "URL '%s' contains white space or a control character", url);
	/* Credentials in a manifest would end up in the lock, the SBOM and the logs. */
	if (strchr(host, '@') && strchr(host, '@') < (strchr(host, '/') ?: host + strlen(host)))
		return yerror(p->ctx, p->doc, node,
			      "URL '%s' carries credentials; manifests must not hold secrets", url);
	return 0;
}

static int check_sha256(struct parser *p, const struct ynode *node, const char *sha)
{
	if (!is_sha256_hex(sha))
		return yerror(p->ctx, p->doc, node,
			      "sha256 '%s' is not 64 lowercase hex characters; copy it from the "
			      "publisher's record",
			      sha);
	return 0;
}

static bool is_valid_name(const char *s)
{
	if (!islower((unsigned char)s[0]) && !isdigit((unsigned char)s[0]))
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) &&
		    !strchr(".+_-", *s))
			return false;
	return true;
}

/* A path in the repository, relative to the file that names it, that must exist. */
static int check_repo_path(struct parser *p, const struct ynode *node, const char *path,
			   bool want_dir)
{
	_cleanup_free_ char *full = NULL;
	struct stat st;

	if (path[0] == '/' || strstr(path, "\\"))
		return yerror(p->ctx, p->doc, node,
			      "path '%s' must be relative to this file, with '/' separators", path);
	full = path_join_relative(p->dir, path);
	if (!full)
		return -ENOMEM;
	if (stat(full, &st) < 0)
		return yerror(p->ctx, p->doc, node, "path '%s' does not exist (looked for '%s')",
			      path, full);
	/* '..' may climb within the repository, never out of it (to /etc/shadow, say). */
	if (p->root) {
		_cleanup_free_ char *real = realpath(full, NULL);
		size_t n = strlen(p->root);

		if (!real)
			return -errno;
		if (strncmp(real, p->root, n) != 0 ||
		    (real[n] != '/' && real[n] != '\0' && !streq(p->root, "/")))
			return yerror(p->ctx, p->doc, node,
				      "path '%s' leaves the repository ('%s'); manifests may only "
				      "name files inside it",
				      path, p->root);
	}
	if (want_dir != !!S_ISDIR(st.st_mode))
		return yerror(p->ctx, p->doc, node, "path '%s' is not a %s", path,
			      want_dir ? "directory" : "regular file");
	return 0;
}

static int get_list(struct parser *p, const struct ynode *map, const char *key,
		    struct str_list *ret)
{
	int r = yget_str_list(p->ctx, p->doc, map, key, &ret->v, &ret->n);

	if (r < 0)
		return r;
	ret->node = ymap_get(map, key);
	return 0;
}

static void str_list_clear(struct str_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* An artifact mapping; in_source when the url/sha256/size sit in the source itself. */
static int parse_artifact(struct parser *p, const struct ynode *map, bool in_source,
			  struct artifact *a)
{
	static const char *const keys[] = { "name", "url", "sha256", "size", "unpacked_size", NULL };
	const struct ynode *url_node;
	int r;

	r = yexpect(p->ctx, p->doc, map, YNODE_MAPPING, "an artifact");
	if (r < 0)
		return r;
	/* A source's own keys were checked against the kind's list already. */
	if (!in_source && (r = ymap_check_keys(p->ctx, p->doc, map, keys)) < 0)
		return r;
	a->node = map;
	if ((r = yget_str(p->ctx, p->doc, map, "name", false, &a->name)) < 0 ||
	    (r = yget_str(p->ctx, p->doc, map, "url", true, &a->url)) < 0)
		return r;
	if (!ymap_get(map, "sha256"))
		return yerror(p->ctx, p->doc, map,
			      "URL artifact '%s' has no sha256; every download needs the hash "
			      "from a public record",
			      a->url);
	if ((r = yget_str(p->ctx, p->doc, map, "sha256", true, &a->sha256)) < 0)
		return r;
	url_node = ymap_get(map, "url");
	if ((r = check_url(p, url_node, a->url)) < 0 ||
	    (r = check_sha256(p, ymap_get(map, "sha256"), a->sha256)) < 0)
		return r;
	if (ymap_get(map, "size")) {
		r = yget_uint(p->ctx, p->doc, map, "size", false, 1ULL << 40, &a->size);
		if (r < 0)
			return r;
		if (a->size == 0)
			return yerror(p->ctx, p->doc, ymap_get(map, "size"),
				      "size 0 is not a real artifact size");
		a->has_size = true;
	}
	if (ymap_get(map, "unpacked_size")) {
		r = yget_uint(p->ctx, p->doc, map, "unpacked_size", false, 1ULL << 50,
			      &a->unpacked_size);
		if (r < 0)
			return r;
		if (a->unpacked_size == 0)
			return yerror(p->ctx, p->doc, ymap_get(map, "unpacked_size"),
				      "unpacked_size 0 allows nothing; give the bytes the "
				      "archive's "
				      "files hold, or leave it out");
	}
	return 0;
}

/* The url/sha256/size triple written straight in a source, or an artifacts list. */
static int parse_artifacts(struct parser *p, const struct ynode *src, bool required,
			   struct source *s)
{
	const struct ynode *list = ymap_get(src, "artifacts");
	int r;

	if (list && ymap_get(src, "url"))
		return yerror(p->ctx, p->doc, list,
			      "give either 'url' + 'sha256' or 'artifacts', not both");
	if (list) {
		r = yexpect(p->ctx, p->doc, list, YNODE_SEQUENCE, "'artifacts'");
		if (r < 0)
			return r;
		if (list->n == 0)
			return yerror(p->ctx, p->doc, list, "'artifacts' is empty");
		s->artifacts = calloc(list->n, sizeof(*s->artifacts));
		if (!s->artifacts)
			return -ENOMEM;
		s->n_artifacts = list->n;
		for (size_t i = 0; i < list->n; i++) {
			r = parse_artifact(p, list->items[i], false, &s->artifacts[i]);
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (!ymap_get(src, "url")) {
		if (required)
			return yerror(p->ctx, p->doc, src,
				      "this source needs 'url' + 'sha256' (or 'artifacts')");
		if (ymap_get(src, "sha256") || ymap_get(src, "size") ||
		    ymap_get(src, "unpacked_size"))
			return yerror(p->ctx, p->doc, src,
				      "'sha256', 'size' and 'unpacked_size' need a 'url'");
		return 0;
	}
	s->artifacts = calloc(1, sizeof(*s->artifacts));
	if (!s->artifacts)
		return -ENOMEM;
	s->n_artifacts = 1;
	return parse_artifact(p, src, true, &s->artifacts[0]);
}

/*
 * A source pinned by its Authenticode signer instead of a published sha256: one url, an optional
 * size, and the pin. Its sha256 comes from the edition's seal file at resolve time.
 */
static int parse_signed_source(struct parser *p, const struct ynode *src, struct source *s)
{
	static const char *const keys[] = { "subject", "chain", "file_version", NULL };
	const struct ynode *pin = ymap_get(src, "authenticode");
	struct authenticode_pin *a = &s->authenticode;
	const char *bad;
	int r;

	if (ymap_get(src, "sha256"))
		return yerror(p->ctx, p->doc, ymap_get(src, "sha256"),
			      "give either 'sha256' (a published digest) or 'authenticode' (a "
			      "signer pin that 'dsvm-build seal' turns into a digest), not both");
	if (ymap_get(src, "artifacts"))
		return yerror(p->ctx, p->doc, ymap_get(src, "artifacts"),
			      "a source pinned by 'authenticode' names one 'url', not 'artifacts'");
	if (!ymap_get(src, "url"))
		return yerror(p->ctx, p->doc, src, "an 'authenticode' source needs a 'url'");
	r = yexpect(p->ctx, p->doc, pin, YNODE_MAPPING, "'authenticode'");
	if (r < 0 || (r = ymap_check_keys(p->ctx, p->doc, pin, keys)) < 0)
		return r;
	a->node = pin;
	if ((r = yget_str(p->ctx, p->doc, pin, "subject", true, &a->subject)) < 0 ||
	    (r = yget_str(p->ctx, p->doc, pin, "file_version", false, &a->file_version)) < 0)
		return r;
	bad = signer_subject_check(a->subject);
	if (bad)
		return yerror(p->ctx, p->doc, ymap_get(pin, "subject"),
			      "subject '%s' %s; write it as 'CN=..., O=..., C=..'", a->subject,
			      bad);
	if (a->file_version && !file_version_is_valid(a->file_version))
		return yerror(p->ctx, p->doc, ymap_get(pin, "file_version"),
			      "file_version '%s' is not four numbers 'a.b.c.d' (each at most "
			      "65535), as the version resource holds it",
			      a->file_version);
	if (!ymap_get(pin, "chain"))
		return yerror(p->ctx, p->doc, pin,
			      "missing required key 'chain' (the issuing CAs' common names, "
			      "nearest first)");
	if ((r = get_list(p, pin, "chain", &a->chain)) < 0)
		return r;
	if (a->chain.n == 0)
		return yerror(p->ctx, p->doc, a->chain.node, "'chain' is empty");
	for (size_t i = 0; i < a->chain.n; i++)
		if (!a->chain.v[i][0] || strchr(a->chain.v[i], '/'))
			return yerror(p->ctx, p->doc, a->chain.node,
				      "chain entry '%s' is not a certificate's common name",
				      a->chain.v[i]);
	s->artifacts = calloc(1, sizeof(*s->artifacts));
	if (!s->artifacts)
		return -ENOMEM;
	s->n_artifacts = 1;
	s->artifacts[0].node = src;
	if ((r = yget_str(p->ctx, p->doc, src, "url", true, &s->artifacts[0].url)) < 0 ||
	    (r = check_url(p, ymap_get(src, "url"), s->artifacts[0].url)) < 0)
		return r;
	if (ymap_get(src, "size")) {
		r = yget_uint(p->ctx, p->doc, src, "size", false, 1ULL << 40,
			      &s->artifacts[0].size);
		if (r < 0)
			return r;
		if (s->artifacts[0].size == 0)
			return yerror(p->ctx, p->doc, ymap_get(src, "size"),
				      "size 0 is not a real artifact size");
		s->artifacts[0].has_size = true;
	}
	return 0;
}

static int parse_source(struct parser *p, enum component_kind kind, const struct ynode *src,
			struct source *s)
{
	static const char *const apt_keys[] = { "package", "version", "repository", "key", NULL };
	static const char *const url_keys[] = { "url",		 "sha256",    "size",
						"unpacked_size", "artifacts", NULL };
	static const char *const signed_keys[] = { "url",	"sha256",	"size",
						   "artifacts", "authenticode", NULL };
	static const char *const file_keys[] = { "url", "sha256", "size", "path", "dest", NULL };
	static const char *const redist_keys[] = { "redist", "base_url", "packages", NULL };
	static const char *const pkg_keys[] = { "package", "version", "environment", "url",
						"sha256",  "size",    "artifacts",   NULL };
	static const char *const service_keys[] = { "unit", "enable", NULL };
	static const char *const script_keys[] = { "path", NULL };
	const char *const *keys;
	struct dsvm_ctx *ctx = p->ctx;
	const struct ydoc *doc = p->doc;
	int r;

	r = yexpect(ctx, doc, src, YNODE_MAPPING, "'source'");
	if (r < 0)
		return r;
	s->node = src;
	switch (kind) {
	case KIND_APT:
		keys = apt_keys;
		break;
	case KIND_MSI:
	case KIND_EXE:
		keys = signed_keys;
		break;
	case KIND_ARCHIVE:
	case KIND_RUNFILE:
	case KIND_ZIP:
		keys = url_keys;
		break;
	case KIND_FILE:
		keys = file_keys;
		break;
	case KIND_NVIDIA_REDIST:
		keys = redist_keys;
		break;
	case KIND_PIP:
	case KIND_CONDA:
		keys = pkg_keys;
		break;
	case KIND_SERVICE:
		keys = service_keys;
		break;
	default:
		keys = script_keys;
		break;
	}
	r = ymap_check_keys(ctx, doc, src, keys);
	if (r < 0)
		return r;

	switch (kind) {
	case KIND_APT:
		if ((r = yget_str(ctx, doc, src, "package", true, &s->package)) < 0 ||
		    (r = yget_str(ctx, doc, src, "version", true, &s->version)) < 0 ||
		    (r = yget_str(ctx, doc, src, "repository", true, &s->repository)) < 0 ||
		    (r = yget_str(ctx, doc, src, "key", false, &s->key)) < 0)
			return r;
		if ((r = check_version(p, ymap_get(src, "version"), s->version)) < 0)
			return r;
		if (strncmp(s->repository, "https://", 8) != 0 &&
		    strncmp(s->repository, "http://", 7) != 0 &&
		    strncmp(s->repository, "file:", 5) != 0)
			return yerror(ctx, doc, ymap_get(src, "repository"),
				      "repository '%s' must be an archive line: 'URL SUITE "
				      "COMPONENT...'",
				      s->repository);
		if (s->key)
			return check_repo_path(p, ymap_get(src, "key"), s->key, false);
		return 0;
	case KIND_MSI:
	case KIND_EXE:
		if (ymap_get(src, "authenticode"))
			return parse_signed_source(p, src, s);
		return parse_artifacts(p, src, true, s);
	case KIND_ARCHIVE:
	case KIND_RUNFILE:
	case KIND_ZIP:
		return parse_artifacts(p, src, true, s);
	case KIND_FILE:
		if ((r = yget_str(ctx, doc, src, "path", false, &s->path)) < 0 ||
		    (r = yget_str(ctx, doc, src, "dest", true, &s->dest)) < 0)
			return r;
		if (s->dest[0] != '/' && !(isalpha((unsigned char)s->dest[0]) && s->dest[1] == ':'))
			return yerror(ctx, doc, ymap_get(src, "dest"),
				      "dest '%s' must be an absolute path in the image", s->dest);
		if (s->path && ymap_get(src, "url"))
			return yerror(ctx, doc, src, "give either 'path' or 'url', not both");
		if (s->path)
			return check_repo_path(p, ymap_get(src, "path"), s->path, false);
		return parse_artifacts(p, src, true, s);
	case KIND_NVIDIA_REDIST:
		if ((r = yget_str(ctx, doc, src, "redist", true, &s->redist)) < 0 ||
		    (r = yget_str(ctx, doc, src, "base_url", true, &s->base_url)) < 0)
			return r;
		if (!ymap_get(src, "packages"))
			return yerror(ctx, doc, src, "missing required key 'packages'");
		if ((r = get_list(p, src, "packages", &s->packages)) < 0)
			return r;
		if (s->packages.n == 0)
			return yerror(ctx, doc, s->packages.node, "'packages' is empty");
		if ((r = check_url(p, ymap_get(src, "base_url"), s->base_url)) < 0)
			return r;
		return check_repo_path(p, ymap_get(src, "redist"), s->redist, false);
	case KIND_PIP:
	case KIND_CONDA:
		if ((r = yget_str(ctx, doc, src, "package", true, &s->package)) < 0 ||
		    (r = yget_str(ctx, doc, src, "version", true, &s->version)) < 0 ||
		    (r = yget_str(ctx, doc, src, "environment", true, &s->environment)) < 0)
			return r;
		if ((r = check_version(p, ymap_get(src, "version"), s->version)) < 0)
			return r;
		return parse_artifacts(p, src, true, s);
	case KIND_SERVICE:
		s->enable = true;
		if ((r = yget_str(ctx, doc, src, "unit", true, &s->unit)) < 0 ||
		    (r = yget_bool(ctx, doc, src, "enable", &s->enable)) < 0)
			return r;
		if (!strchr(s->unit, '.'))
			return yerror(ctx, doc, ymap_get(src, "unit"),
				      "unit '%s' needs its type suffix (e.g. '%s.service')",
				      s->unit, s->unit);
		return 0;
	default:
		if ((r = yget_str(ctx, doc, src, "path", true, &s->path)) < 0)
			return r;
		return check_repo_path(p, ymap_get(src, "path"), s->path, false);
	}
}

/* Check each entry of a condition or constraint list against the valid words. */
static int check_words(struct parser *p, const struct str_list *l, const char *key,
		       bool negation_ok, bool (*valid)(const char *))
{
	for (size_t i = 0; i < l->n; i++) {
		const char *w = l->v[i];
		const struct ynode *at =
			l->node->kind == YNODE_SEQUENCE ? l->node->items[i] : l->node;

		if (negation_ok && w[0] == '!')
			w++;
		if (!valid(w))
			return yerror(p->ctx, p->doc, at, "'%s' is not a valid %s", l->v[i], key);
	}
	return 0;
}

static bool valid_vendor(const char *s)
{
	enum dsvm_gpu_vendor v = dsvm_gpu_vendor_from_string(s);

	return v == DSVM_VENDOR_NVIDIA || v == DSVM_VENDOR_AMD || v == DSVM_VENDOR_NONE;
}

static bool valid_driver_kind(const char *s)
{
	return dsvm_driver_kind_from_string(s) != DSVM_DRIVER_INVALID;
}

static bool valid_accelerator(const char *s)
{
	return dsvm_accelerator_from_string(s) != DSVM_ACCEL_INVALID;
}

static bool valid_word(const char *s)
{
	return s[0] != '\0' && !strpbrk(s, " \t");
}

static bool is_dotted_number(const char *s)
{
	bool digit = false;

	for (; *s; s++) {
		if (isdigit((unsigned char)*s))
			digit = true;
		else if (*s != '.' || !digit)
			return false;
		else
			digit = false;
	}
	return digit;
}

static int parse_when(struct parser *p, const struct ynode *map, struct when *w)
{
	static const char *const keys[] = { "os",	   "arch",	  "gpu_vendor",
					    "driver_kind", "accelerator", "vm_family",
					    "infiniband",  "nvswitch",	  NULL };
	bool b;
	int r;

	w->infiniband = w->nvswitch = -1;
	if (!map)
		return 0;
	r = yexpect(p->ctx, p->doc, map, YNODE_MAPPING, "'when'");
	if (r < 0)
		return r;
	r = ymap_check_keys(p->ctx, p->doc, map, keys);
	if (r < 0)
		return r;
	w->node = map;
	if ((r = get_list(p, map, "os", &w->os)) < 0 ||
	    (r = get_list(p, map, "arch", &w->arch)) < 0 ||
	    (r = get_list(p, map, "gpu_vendor", &w->gpu_vendor)) < 0 ||
	    (r = get_list(p, map, "driver_kind", &w->driver_kind)) < 0 ||
	    (r = get_list(p, map, "accelerator", &w->accelerator)) < 0 ||
	    (r = get_list(p, map, "vm_family", &w->vm_family)) < 0)
		return r;
	if ((r = check_words(p, &w->os, "os", true, valid_word)) < 0 ||
	    (r = check_words(p, &w->arch, "arch", true, valid_word)) < 0 ||
	    (r = check_words(p, &w->vm_family, "vm family", true, valid_word)) < 0 ||
	    (r = check_words(p, &w->gpu_vendor, "gpu vendor (nvidia, amd, none)", true,
			     valid_vendor)) < 0 ||
	    (r = check_words(p, &w->driver_kind,
			     "driver kind (none, nvidia-open, nvidia-proprietary, "
			     "nvidia-legacy-470, nvidia-grid, amd-rocm, amd-radeon-pro)",
			     true, valid_driver_kind)) < 0 ||
	    (r = check_words(p, &w->accelerator, "accelerator (cuda, rocm, cpu)", true,
			     valid_accelerator)) < 0)
		return r;
	if (ymap_get(map, "infiniband")) {
		if ((r = yget_bool(p->ctx, p->doc, map, "infiniband", &b)) < 0)
			return r;
		w->infiniband = b;
		w->infiniband_node = ymap_get(map, "infiniband");
	}
	if (ymap_get(map, "nvswitch")) {
		if ((r = yget_bool(p->ctx, p->doc, map, "nvswitch", &b)) < 0)
			return r;
		w->nvswitch = b;
		w->nvswitch_node = ymap_get(map, "nvswitch");
	}
	return 0;
}

static int parse_constraints(struct parser *p, const struct ynode *map, struct constraints *c)
{
	static const char *const keys[] = { "cuda", "cuda_major", "driver_version", "accelerator",
					    NULL };
	const char *dv = NULL;
	int r;

	r = yexpect(p->ctx, p->doc, map, YNODE_MAPPING, "'constraints'");
	if (r < 0)
		return r;
	r = ymap_check_keys(p->ctx, p->doc, map, keys);
	if (r < 0)
		return r;
	c->node = map;
	if ((r = yget_str(p->ctx, p->doc, map, "cuda", false, &c->cuda)) < 0 ||
	    (r = yget_str(p->ctx, p->doc, map, "cuda_major", false, &c->cuda_major)) < 0 ||
	    (r = yget_str(p->ctx, p->doc, map, "driver_version", false, &dv)) < 0 ||
	    (r = get_list(p, map, "accelerator", &c->accelerator)) < 0)
		return r;
	c->cuda_node = ymap_get(map, "cuda");
	c->cuda_major_node = ymap_get(map, "cuda_major");
	c->driver_version_node = ymap_get(map, "driver_version");
	if (c->cuda && !is_dotted_number(c->cuda))
		return yerror(p->ctx, p->doc, c->cuda_node,
			      "cuda '%s' must be a CUDA version such as \"12.8\"", c->cuda);
	if (c->cuda_major && (!is_dotted_number(c->cuda_major) || strchr(c->cuda_major, '.')))
		return yerror(p->ctx, p->doc, c->cuda_major_node,
			      "cuda_major '%s' must be a whole number such as \"12\"",
			      c->cuda_major);
	if (dv) {
		if (!streq(dv, "match"))
			return yerror(p->ctx, p->doc, c->driver_version_node,
				      "driver_version '%s' is not valid; the only value is 'match'",
				      dv);
		c->driver_version_match = true;
	}
	return check_words(p, &c->accelerator, "accelerator (cuda, rocm, cpu)", false,
			   valid_accelerator);
}

static int parse_driver(struct parser *p, const struct ynode *map, struct driver_info *d)
{
	static const char *const keys[] = { "kind", "branch", NULL };
	const char *kind = NULL;
	int r;

	r = yexpect(p->ctx, p->doc, map, YNODE_MAPPING, "'driver'");
	if (r < 0)
		return r;
	r = ymap_check_keys(p->ctx, p->doc, map, keys);
	if (r < 0)
		return r;
	d->node = map;
	if ((r = yget_str(p->ctx, p->doc, map, "kind", true, &kind)) < 0 ||
	    (r = yget_str(p->ctx, p->doc, map, "branch", true, &d->branch)) < 0)
		return r;
	d->kind = dsvm_driver_kind_from_string(kind);
	if (d->kind == DSVM_DRIVER_INVALID || d->kind == DSVM_DRIVER_NONE)
		return yerror(p->ctx, p->doc, ymap_get(map, "kind"),
			      "driver kind '%s' is not valid; use nvidia-open, nvidia-proprietary, "
			      "nvidia-legacy-470, nvidia-grid, amd-rocm or amd-radeon-pro",
			      kind);
	if (!is_dotted_number(d->branch))
		return yerror(p->ctx, p->doc, ymap_get(map, "branch"),
			      "driver branch '%s' must be a number such as \"580\"", d->branch);
	return 0;
}

#define FIELD_KEYS                                                                                 \
	"version", "description", "record", "source", "requires", "conflicts", "constraints",      \
		"args", "driver"

static int parse_fields(struct parser *p, enum component_kind kind, const struct ynode *map,
			struct fields *f)
{
	const struct ynode *v;
	int r;

	f->node = map;
	if ((v = ymap_get(map, "version"))) {
		if ((r = yget_str(p->ctx, p->doc, map, "version", true, &f->version)) < 0 ||
		    (r = check_version(p, v, f->version)) < 0)
			return r;
		f->version_node = v;
		f->has_version = true;
	}
	if (ymap_get(map, "description")) {
		if ((r = yget_str(p->ctx, p->doc, map, "description", true, &f->description)) < 0)
			return r;
		f->has_description = true;
	}
	if ((v = ymap_get(map, "record"))) {
		if ((r = yget_str(p->ctx, p->doc, map, "record", true, &f->record)) < 0 ||
		    (r = check_url(p, v, f->record)) < 0)
			return r;
		f->has_record = true;
	}
	if ((v = ymap_get(map, "source"))) {
		if ((r = parse_source(p, kind, v, &f->source)) < 0)
			return r;
		f->has_source = true;
	}
	if (ymap_get(map, "requires")) {
		if ((r = get_list(p, map, "requires", &f->requires)) < 0)
			return r;
		f->has_requires = true;
	}
	if (ymap_get(map, "conflicts")) {
		if ((r = get_list(p, map, "conflicts", &f->conflicts)) < 0)
			return r;
		f->has_conflicts = true;
	}
	if (ymap_get(map, "args")) {
		if ((r = get_list(p, map, "args", &f->args)) < 0)
			return r;
		f->has_args = true;
	}
	if ((v = ymap_get(map, "constraints"))) {
		if ((r = parse_constraints(p, v, &f->constraints)) < 0)
			return r;
		f->has_constraints = true;
	}
	if ((v = ymap_get(map, "driver"))) {
		if ((r = parse_driver(p, v, &f->driver)) < 0)
			return r;
		f->has_driver = true;
	}
	return 0;
}

static void fields_free(struct fields *f)
{
	free(f->source.artifacts);
	str_list_clear(&f->source.packages);
	str_list_clear(&f->source.authenticode.chain);
	str_list_clear(&f->requires);
	str_list_clear(&f->conflicts);
	str_list_clear(&f->args);
	str_list_clear(&f->constraints.accelerator);
}

static int parse_override_layer(struct parser *p, enum component_kind kind, const struct ynode *map,
				const char *what, struct override_layer *layer)
{
	static const char *const keys[] = { FIELD_KEYS, NULL };
	int r;

	r = yexpect(p->ctx, p->doc, map, YNODE_MAPPING, what);
	if (r < 0)
		return r;
	layer->v = calloc(map->n ? map->n : 1, sizeof(*layer->v));
	if (!layer->v)
		return -ENOMEM;
	for (size_t i = 0; i < map->n; i++) {
		const struct ynode *body = map->items[i];

		layer->n++;
		layer->v[i].key = map->keys[i]->value;
		r = yexpect(p->ctx, p->doc, body, YNODE_MAPPING, "an override");
		if (r < 0)
			return r;
		r = ymap_check_keys(p->ctx, p->doc, body, keys);
		if (r < 0)
			return r;
		r = parse_fields(p, kind, body, &layer->v[i].fields);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_overrides(struct parser *p, struct component *c, const struct ynode *map)
{
	static const char *const keys[] = { "os", "arch", "vm_family", "default", NULL };
	static const char *const field_keys[] = { FIELD_KEYS, NULL };
	const struct ynode *v;
	int r;

	r = yexpect(p->ctx, p->doc, map, YNODE_MAPPING, "'overrides'");
	if (r < 0)
		return r;
	r = ymap_check_keys(p->ctx, p->doc, map, keys);
	if (r < 0)
		return r;
	if ((v = ymap_get(map, "os")) &&
	    (r = parse_override_layer(p, c->kind, v, "'overrides.os'", &c->os)) < 0)
		return r;
	if ((v = ymap_get(map, "arch")) &&
	    (r = parse_override_layer(p, c->kind, v, "'overrides.arch'", &c->arch)) < 0)
		return r;
	if ((v = ymap_get(map, "vm_family")) &&
	    (r = parse_override_layer(p, c->kind, v, "'overrides.vm_family'", &c->vm_family)) < 0)
		return r;
	if ((v = ymap_get(map, "default"))) {
		if ((r = yexpect(p->ctx, p->doc, v, YNODE_MAPPING, "'overrides.default'")) < 0 ||
		    (r = ymap_check_keys(p->ctx, p->doc, v, field_keys)) < 0 ||
		    (r = parse_fields(p, c->kind, v, &c->defaults)) < 0)
			return r;
		c->has_defaults = true;
	}
	return 0;
}

static void layer_free(struct override_layer *layer)
{
	for (size_t i = 0; i < layer->n; i++)
		fields_free(&layer->v[i].fields);
	free(layer->v);
}

static void component_free(struct component *c)
{
	str_list_clear(&c->provides);
	str_list_clear(&c->when.os);
	str_list_clear(&c->when.arch);
	str_list_clear(&c->when.gpu_vendor);
	str_list_clear(&c->when.driver_kind);
	str_list_clear(&c->when.accelerator);
	str_list_clear(&c->when.vm_family);
	fields_free(&c->common);
	fields_free(&c->defaults);
	layer_free(&c->os);
	layer_free(&c->arch);
	layer_free(&c->vm_family);
}

static int parse_component(struct parser *p, const struct ynode *map, struct component *c)
{
	static const char *const keys[] = { "name",	    "kind",	"provides",
					    "when",	    "stage",	"overrides",
					    "allow_setuid", FIELD_KEYS, NULL };
	const char *kind = NULL;
	const char *plat;
	int r;

	r = yexpect(p->ctx, p->doc, map, YNODE_MAPPING, "a component");
	if (r < 0)
		return r;
	r = ymap_check_keys(p->ctx, p->doc, map, keys);
	if (r < 0)
		return r;
	c->doc = p->doc;
	c->node = map;
	if ((r = yget_str(p->ctx, p->doc, map, "name", true, &c->name)) < 0 ||
	    (r = yget_str(p->ctx, p->doc, map, "kind", true, &kind)) < 0)
		return r;
	if (!is_valid_name(c->name))
		return yerror(p->ctx, p->doc, ymap_get(map, "name"),
			      "component name '%s' must be lowercase letters, digits and . + _ -",
			      c->name);
	c->kind = _KIND_MAX;
	for (int k = 0; k < _KIND_MAX; k++)
		if (streq(kind, kind_names[k]))
			c->kind = (enum component_kind)k;
	if (c->kind == _KIND_MAX)
		return yerror(p->ctx, p->doc, ymap_get(map, "kind"),
			      "kind '%s' is not valid; use apt, archive, nvidia-redist, runfile, "
			      "pip, conda, file, service, script (Linux) or msi, exe, zip, "
			      "powershell (Windows)",
			      kind);
	plat = kind_platform(c->kind);
	if (plat && p->platform && !streq(plat, p->platform))
		return yerror(p->ctx, p->doc, ymap_get(map, "kind"),
			      "kind '%s' is for %s editions; this edition's platform is '%s'", kind,
			      plat, p->platform);
	if ((r = get_list(p, map, "provides", &c->provides)) < 0 ||
	    (r = check_words(p, &c->provides, "provided name", false, is_valid_name)) < 0 ||
	    (r = parse_when(p, ymap_get(map, "when"), &c->when)) < 0 ||
	    (r = yget_bool(p->ctx, p->doc, map, "stage", &c->stage)) < 0 ||
	    (r = yget_bool(p->ctx, p->doc, map, "allow_setuid", &c->allow_setuid)) < 0 ||
	    (r = parse_fields(p, c->kind, map, &c->common)) < 0)
		return r;
	/* Only archives are extracted by dsvm; other kinds' bits are their installer's. */
	if (ymap_get(map, "allow_setuid") && c->kind != KIND_ARCHIVE &&
	    c->kind != KIND_NVIDIA_REDIST)
		return yerror(p->ctx, p->doc, ymap_get(map, "allow_setuid"),
			      "'allow_setuid' applies to kinds archive and nvidia-redist (the "
			      "archives dsvm extracts), not '%s'",
			      kind);
	if (!c->common.has_version && c->kind != KIND_SERVICE)
		return yerror(p->ctx, p->doc, map, "component '%s' has no 'version'", c->name);
	if (!c->common.has_source)
		return yerror(p->ctx, p->doc, map, "component '%s' has no 'source'", c->name);
	if (ymap_get(map, "overrides"))
		return parse_overrides(p, c, ymap_get(map, "overrides"));
	return 0;
}

/* Parse the components of one file and append them to *comps. */
static int parse_component_file(struct parser *p, struct component **comps, size_t *n_comps)
{
	static const char *const keys[] = { "components", "description", NULL };
	const struct ynode *root = p->doc->root, *list;
	int r;

	r = yexpect(p->ctx, p->doc, root, YNODE_MAPPING, "a component file");
	if (r < 0)
		return r;
	if (ymap_get(root, "edition"))
		return yerror(p->ctx, p->doc, root,
			      "this is an edition file; an edition cannot include another");
	r = ymap_check_keys(p->ctx, p->doc, root, keys);
	if (r < 0)
		return r;
	list = ymap_get(root, "components");
	if (!list)
		return yerror(p->ctx, p->doc, root, "missing required key 'components'");
	r = yexpect(p->ctx, p->doc, list, YNODE_SEQUENCE, "'components'");
	if (r < 0)
		return r;
	if (*n_comps + list->n > MAX_COMPONENTS)
		return yerror(p->ctx, p->doc, list, "more than %d components in one edition",
			      MAX_COMPONENTS);
	struct component *v = realloc(*comps, (*n_comps + list->n + 1) * sizeof(**comps));
	if (!v)
		return -ENOMEM;
	*comps = v;
	for (size_t i = 0; i < list->n; i++) {
		struct component *c = &v[*n_comps];

		memset(c, 0, sizeof(*c));
		c->index = *n_comps;
		(*n_comps)++;
		r = parse_component(p, list->items[i], c);
		if (r < 0)
			return r;
		for (size_t j = 0; j + 1 < *n_comps; j++)
			if (streq(v[j].name, c->name)) {
				char at[512];

				return yerror(p->ctx, p->doc, ymap_get(c->node, "name"),
					      "component '%s' is defined twice (first at %s)",
					      c->name,
					      node_position(v[j].doc, v[j].node, at, sizeof(at)));
			}
	}
	return 0;
}

/*
 * The repository a manifest lives in: two levels above the directory of an edition or component
 * file (manifests/editions/x.yaml -> the directory holding manifests/). Files named by manifests
 * must stay under it. NULL when it cannot be resolved (then nothing is named, as every path
 * must also exist).
 */
static char *repository_root(const char *dir)
{
	_cleanup_free_ char *up = path_join_relative(dir, "../..");

	return up ? realpath(up, NULL) : NULL;
}

int manifest_repo_path(const char *root, const char *path, char **ret)
{
	_cleanup_free_ char *dir = path_dirname(path), *real = NULL;
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t n = root ? strlen(root) : 0;
	char *out;

	if (!dir)
		return -ENOMEM;
	if (!root)
		return -ENOENT;
	/* The directory, not the file: a file that is a link keeps the name it has here. */
	real = realpath(dir, NULL);
	if (!real)
		return -errno;
	if (streq(real, root))
		out = strdup(base);
	else if (streq(root, "/"))
		out = strdup_printf("%s/%s", real + 1, base);
	else if (strncmp(real, root, n) == 0 && real[n] == '/')
		out = strdup_printf("%s/%s", real + n + 1, base);
	else
		return -EXDEV;
	if (!out)
		return -ENOMEM;
	*ret = out;
	return 0;
}

const char *manifest_doc_repo_path(const struct dsvm_manifest *m, const struct ydoc *doc)
{
	if (doc == m->edition_doc)
		return m->edition_repo_path ? m->edition_repo_path : doc->path;
	for (size_t i = 0; i < m->n_docs; i++)
		if (m->docs[i] == doc && m->doc_repo_paths && m->doc_repo_paths[i])
			return m->doc_repo_paths[i];
	return doc->path;
}

/*
 * Each file's name in the repository, for the lock. Best effort: where the repository cannot be
 * resolved the path stays as given (the lock then depends on the working directory, as it always
 * would for such a tree).
 */
static int record_repo_paths(struct dsvm_manifest *m)
{
	int r;

	m->doc_repo_paths = calloc(m->n_docs ? m->n_docs : 1, sizeof(*m->doc_repo_paths));
	if (!m->doc_repo_paths)
		return -ENOMEM;
	r = m->edition_doc
		    ? manifest_repo_path(m->root, m->edition_doc->path, &m->edition_repo_path)
		    : 0;
	for (size_t i = 0; r != -ENOMEM && i < m->n_docs; i++)
		if (m->docs[i])
			r = manifest_repo_path(m->root, m->docs[i]->path, &m->doc_repo_paths[i]);
	return r == -ENOMEM ? r : 0;
}

void dsvm_manifest_free(struct dsvm_manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; m->doc_repo_paths && i < m->n_docs; i++)
		free(m->doc_repo_paths[i]);
	free(m->doc_repo_paths);
	free(m->edition_repo_path);
	for (size_t i = 0; i < m->n_components; i++)
		component_free(&m->components[i]);
	free(m->components);
	for (size_t i = 0; i < m->n_docs; i++)
		ydoc_free(m->docs[i]);
	free(m->docs);
	str_list_clear(&m->arch);
	seal_file_clear(&m->seal);
	ydoc_free(m->edition_doc);
	free(m->root);
	free(m->dir);
	free(m);
}

static int parse_edition(struct dsvm_ctx *ctx, struct dsvm_manifest *m)
{
	static const char *const keys[] = { "edition", "description",  "os",	  "platform",
					    "arch",    "driver_kinds", "include", NULL };
	const struct ydoc *doc = m->edition_doc;
	const struct ynode *root = doc->root, *kinds, *inc;
	struct parser p = { .ctx = ctx, .doc = doc, .dir = m->dir, .root = m->root };
	int r;

	r = yexpect(ctx, doc, root, YNODE_MAPPING, "an edition file");
	if (r < 0)
		return r;
	if (!ymap_get(root, "edition") && ymap_get(root, "components"))
		return yerror(ctx, doc, root,
			      "this is a component file; resolve and build take an edition file");
	r = ymap_check_keys(ctx, doc, root, keys);
	if (r < 0)
		return r;
	if ((r = yget_str(ctx, doc, root, "edition", true, &m->edition)) < 0 ||
	    (r = yget_str(ctx, doc, root, "description", false, &m->description)) < 0 ||
	    (r = yget_str(ctx, doc, root, "os", true, &m->os)) < 0 ||
	    (r = yget_str(ctx, doc, root, "platform", true, &m->platform)) < 0)
		return r;
	if (!is_valid_name(m->edition))
		return yerror(ctx, doc, ymap_get(root, "edition"),
			      "edition name '%s' must be lowercase letters, digits and . + _ -",
			      m->edition);
	if (!streq(m->platform, "linux") && !streq(m->platform, "windows"))
		return yerror(ctx, doc, ymap_get(root, "platform"),
			      "platform '%s' is not valid; use linux or windows", m->platform);
	if (!ymap_get(root, "arch"))
		return yerror(ctx, doc, root, "missing required key 'arch'");
	if ((r = get_list(&p, root, "arch", &m->arch)) < 0)
		return r;
	if (m->arch.n == 0)
		return yerror(ctx, doc, m->arch.node, "'arch' is empty");

	kinds = ymap_get(root, "driver_kinds");
	if (!kinds)
		return yerror(ctx, doc, root, "missing required key 'driver_kinds'");
	r = yexpect(ctx, doc, kinds, YNODE_SEQUENCE, "'driver_kinds'");
	if (r < 0)
		return r;
	for (size_t i = 0; i < kinds->n; i++) {
		const struct ynode *k = kinds->items[i];
		enum dsvm_driver_kind kind;

		r = yexpect(ctx, doc, k, YNODE_SCALAR, "a driver kind");
		if (r < 0)
			return r;
		kind = dsvm_driver_kind_from_string(k->value);
		if (kind == DSVM_DRIVER_INVALID)
			return yerror(ctx, doc, k,
				      "'%s' is not a driver kind; use none, nvidia-open, "
				      "nvidia-proprietary, nvidia-legacy-470, nvidia-grid, "
				      "amd-rocm "
				      "or amd-radeon-pro",
				      k->value);
		if (dsvm_manifest_supports_driver_kind(m, kind))
			return yerror(ctx, doc, k, "driver kind '%s' is listed twice", k->value);
		m->driver_kinds[m->n_driver_kinds++] = kind;
	}

	inc = ymap_get(root, "include");
	if (!inc)
		return yerror(ctx, doc, root, "missing required key 'include'");
	r = yexpect(ctx, doc, inc, YNODE_SEQUENCE, "'include'");
	if (r < 0)
		return r;
	if (inc->n > MAX_INCLUDES)
		return yerror(ctx, doc, inc, "more than %d includes", MAX_INCLUDES);
	m->docs = calloc(inc->n ? inc->n : 1, sizeof(*m->docs));
	if (!m->docs)
		return -ENOMEM;
	for (size_t i = 0; i < inc->n; i++) {
		const struct ynode *item = inc->items[i];
		_cleanup_free_ char *path = NULL;
		struct parser cp = { .ctx = ctx, .platform = m->platform, .root = m->root };

		r = yexpect(ctx, doc, item, YNODE_SCALAR, "an include path");
		if (r < 0)
			return r;
		for (size_t j = 0; j < i; j++)
			if (streq(inc->items[j]->value, item->value))
				return yerror(ctx, doc, item, "'%s' is included twice",
					      item->value);
		r = check_repo_path(&p, item, item->value, false);
		if (r < 0)
			return r;
		path = path_join_relative(m->dir, item->value);
		if (!path)
			return -ENOMEM;
		r = ydoc_load(ctx, path, &m->docs[m->n_docs]);
		if (r < 0)
			return r;
		cp.doc = m->docs[m->n_docs++];
		cp.dir = path_dirname(path);
		if (!cp.dir)
			return -ENOMEM;
		r = parse_component_file(&cp, &m->components, &m->n_components);
		free(cp.dir);
		if (r < 0)
			return r;
	}
	return 0;
}

/* An edition from its already parsed document (taken over, freed on failure). */
static int manifest_from_doc(struct dsvm_ctx *ctx, const char *edition_path, struct ydoc *doc,
			     struct dsvm_manifest **ret)
{
	struct dsvm_manifest *m = calloc(1, sizeof(*m));
	int r;

	if (!m) {
		ydoc_free(doc);
		return -ENOMEM;
	}
	m->edition_doc = doc;
	m->dir = path_dirname(edition_path);
	if (!m->dir) {
		dsvm_manifest_free(m);
		return -ENOMEM;
	}
	m->root = repository_root(m->dir);
	r = parse_edition(ctx, m);
	if (r >= 0)
		r = record_repo_paths(m);
	if (r >= 0) {
		/* The seal file beside the edition (manifests/SCHEMA.md): read by resolve. */
		_cleanup_free_ char *seal = seal_path_for_edition(edition_path);

		r = seal ? seal_file_load(ctx, seal, &m->seal) : -ENOMEM;
	}
	if (r < 0) {
		dsvm_manifest_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

int dsvm_manifest_load(struct dsvm_ctx *ctx, const char *edition_path, struct dsvm_manifest **ret)
{
	struct ydoc *doc = NULL;
	int r;

	r = ydoc_load(ctx, edition_path, &doc);
	if (r < 0)
		return r;
	return manifest_from_doc(ctx, edition_path, doc, ret);
}

static int validate_components_doc(struct dsvm_ctx *ctx, const struct ydoc *doc)
{
	struct component *comps = NULL;
	size_t n = 0;
	struct parser p = { .ctx = ctx, .doc = doc, .dir = path_dirname(doc->path) };
	_cleanup_free_ char *root = NULL;
	int r;

	if (!p.dir)
		return -ENOMEM;
	root = repository_root(p.dir);
	p.root = root;
	r = parse_component_file(&p, &comps, &n);
	for (size_t i = 0; i < n; i++)
		component_free(&comps[i]);
	free(comps);
	free(p.dir);
	return r;
}

int dsvm_manifest_parse_components(struct dsvm_ctx *ctx, const char *name, const char *buf,
				   size_t size)
{
	struct ydoc *doc = NULL;
	int r;

	r = ydoc_parse(ctx, name, buf, size, &doc);
	if (r < 0)
		return r;
	r = validate_components_doc(ctx, doc);
	ydoc_free(doc);
	return r;
}

int dsvm_manifest_validate_file(struct dsvm_ctx *ctx, const char *path,
				struct dsvm_manifest **ret_edition)
{
	struct ydoc *doc = NULL;
	struct dsvm_manifest *m = NULL;
	int r;

	r = ydoc_load(ctx, path, &doc);
	if (r < 0)
		return r;
	if (doc->root->kind == YNODE_MAPPING && ymap_get(doc->root, "edition")) {
		/* The document parsed here is the edition's: no second read. */
		r = manifest_from_doc(ctx, path, doc, &m);
		if (r < 0)
			return r;
		if (ret_edition)
			*ret_edition = m;
		else
			dsvm_manifest_free(m);
		return 1;
	}
	r = validate_components_doc(ctx, doc);
	ydoc_free(doc);
	return r;
}

const char *dsvm_manifest_get_edition(const struct dsvm_manifest *m)
{
	return m->edition;
}

const char *dsvm_manifest_get_seal_path(const struct dsvm_manifest *m)
{
	return m->seal.path;
}

const char *dsvm_manifest_get_os(const struct dsvm_manifest *m)
{
	return m->os;
}

const char *dsvm_manifest_get_platform(const struct dsvm_manifest *m)
{
	return m->platform;
}

const char *dsvm_manifest_get_arch(const struct dsvm_manifest *m)
{
	return m->arch.v[0];
}

bool dsvm_manifest_has_arch(const struct dsvm_manifest *m, const char *arch)
{
	for (size_t i = 0; i < m->arch.n; i++)
		if (streq(m->arch.v[i], arch))
			return true;
	return false;
}

size_t dsvm_manifest_count_components(const struct dsvm_manifest *m)
{
	return m->n_components;
}

size_t dsvm_manifest_count_driver_kinds(const struct dsvm_manifest *m)
{
	return m->n_driver_kinds;
}

enum dsvm_driver_kind dsvm_manifest_get_driver_kind(const struct dsvm_manifest *m, size_t i)
{
	return i < m->n_driver_kinds ? m->driver_kinds[i] : DSVM_DRIVER_INVALID;
}

bool dsvm_manifest_supports_driver_kind(const struct dsvm_manifest *m, enum dsvm_driver_kind k)
{
	for (size_t i = 0; i < m->n_driver_kinds; i++)
		if (m->driver_kinds[i] == k)
			return true;
	return false;
}

const char *dsvm_manifest_get_dir(const struct dsvm_manifest *m)
{
	return m->dir;
}

static const struct fields *find_layer(const struct override_layer *layer, const char *key)
{
	if (!key || !*key)
		return NULL;
	for (size_t i = 0; i < layer->n; i++)
		if (streq(layer->v[i].key, key))
			return &layer->v[i].fields;
	return NULL;
}

void component_effective(const struct component *c, const struct dsvm_target *t, struct fields *ret)
{
	const struct fields *layers[4];
	size_t n = 0;

	/* The fixed order of DESIGN.md: os, arch, vm family, default, then the common value. */
	if ((layers[n] = find_layer(&c->os, t->os)))
		n++;
	if ((layers[n] = find_layer(&c->arch, t->arch)))
		n++;
	if ((layers[n] = find_layer(&c->vm_family, t->vm_family)))
		n++;
	if (c->has_defaults)
		layers[n++] = &c->defaults;

	*ret = c->common;
#define PICK(has, field)                                                                           \
	for (size_t i = 0; i < n; i++)                                                             \
		if (layers[i]->has) {                                                              \
			ret->field = layers[i]->field;                                             \
			ret->has = true;                                                           \
			break;                                                                     \
		}
	PICK(has_version, version);
	PICK(has_version, version_node);
	PICK(has_description, description);
	PICK(has_record, record);
	PICK(has_source, source);
	PICK(has_requires, requires);
	PICK(has_conflicts, conflicts);
	PICK(has_args, args);
	PICK(has_constraints, constraints);
	PICK(has_driver, driver);
#undef PICK
}
