/* SPDX-License-Identifier: MIT */
#include <ctype.h>

#include "dsvm/install.h"
#include "internal.h"
#include "lock-internal.h"

/*
 * CycloneDX 1.5 JSON from a lock: one component per lock entry with its package URL (purl) and
 * the SHA-256 of each artifact. No timestamp and a serial number derived from the lock's own
 * hash, so the same lock always gives the same SBOM. An apt component's own artifact is its
 * repository's key, not a package: with the image's package record (what install observed),
 * each .deb it installed or staged is listed under it with the sha256 apt verified.
 */

/* An image's package record (DSVM_IMAGE_PACKAGES) is a few thousand entries at most. */
#define PACKAGES_MAX_ENTRIES 100000

/* Percent-encode everything outside the purl spec's unreserved set. */
static char *purl_escape(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(3 * n + 1), *p = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		if (isalnum((unsigned char)*s) || strchr(".-_~", *s))
			*p++ = *s;
		else
			p += sprintf(p, "%%%02X", (unsigned char)*s);
	}
	*p = '\0';
	return out;
}

/* PyPI names are normalised: lowercase, runs of '_', '.' and '-' become '-'. */
static char *pypi_name(const char *s)
{
	char *out = malloc(strlen(s) + 1), *p = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		if (strchr("_.-", *s)) {
			if (p == out || p[-1] != '-')
				*p++ = '-';
		} else {
			*p++ = (char)tolower((unsigned char)*s);
		}
	}
	*p = '\0';
	return out;
}

static const char *deb_arch(const json_t *root)
{
	const char *arch = json_string_value(json_object_get(root, "arch"));

	return arch && streq(arch, "aarch64") ? "arm64" : "amd64";
}

static char *component_purl(const json_t *root, const json_t *c)
{
	const json_t *src = json_object_get(c, "source");
	const char *kind = json_string_value(json_object_get(c, "kind"));
	const char *package = json_string_value(json_object_get(src, "package"));
	const char *version = json_string_value(json_object_get(src, "version"));
	const char *name = json_string_value(json_object_get(c, "name"));
	const char *os = json_string_value(json_object_get(root, "os"));
	_cleanup_free_ char *ename = NULL, *ever = NULL;

	if (!version)
		version = json_string_value(json_object_get(c, "version"));
	if (streq(kind, "apt") && package && version) {
		ename = purl_escape(package);
		ever = purl_escape(version);
		if (!ename || !ever)
			return NULL;
		return strdup_printf("pkg:deb/ubuntu/%s@%s?arch=%s&distro=%s", ename, ever,
				     deb_arch(root), os);
	}
	if ((streq(kind, "pip") || streq(kind, "conda")) && package && version) {
		_cleanup_free_ char *norm =
			streq(kind, "pip") ? pypi_name(package) : strdup(package);

		ename = norm ? purl_escape(norm) : NULL;
		ever = purl_escape(version);
		if (!ename || !ever)
			return NULL;
		return strdup_printf("pkg:%s/%s@%s", streq(kind, "pip") ? "pypi" : "conda", ename,
				     ever);
	}
	ename = purl_escape(name);
	ever = version ? purl_escape(version) : NULL;
	if (!ename || (version && !ever))
		return NULL;
	return ever ? strdup_printf("pkg:generic/%s@%s", ename, ever)
		    : strdup_printf("pkg:generic/%s", ename);
}

static json_t *artifact_component(const json_t *a, const char *parent_version)
{
	const char *name = json_string_value(json_object_get(a, "name"));
	const char *version = json_string_value(json_object_get(a, "version"));
	const char *url = json_string_value(json_object_get(a, "url"));
	const char *sha = json_string_value(json_object_get(a, "sha256"));
	_cleanup_free_ char *ename = purl_escape(name ? name : "artifact");
	_cleanup_free_ char *ever = NULL, *eurl = NULL, *purl = NULL;
	json_t *o;

	if (!version)
		version = parent_version;
	ever = version ? purl_escape(version) : NULL;
	eurl = url ? purl_escape(url) : NULL;
	if (!ename)
		return NULL;
	purl = strdup_printf("pkg:generic/%s%s%s?checksum=sha256:%s%s%s", ename, ever ? "@" : "",
			     ever ? ever : "", sha, eurl ? "&download_url=" : "", eurl ? eurl : "");
	if (!purl)
		return NULL;
	o = json_pack("{s:s, s:s, s:s?, s:s, s:[{s:s, s:s}]}", "type", "file", "name", name,
		      "version", version, "purl", purl, "hashes", "alg", "SHA-256", "content", sha);
	if (o && url)
		json_object_set_new(o, "externalReferences",
				    json_pack("[{s:s, s:s}]", "type", "distribution", "url", url));
	return o;
}

static const char *cdx_type(const char *kind)
{
	if (streq(kind, "apt") || streq(kind, "pip") || streq(kind, "conda") ||
	    streq(kind, "nvidia-redist"))
		return "library";
	if (streq(kind, "file") || streq(kind, "script") || streq(kind, "powershell") ||
	    streq(kind, "service"))
		return "file";
	return "application";
}

/* One .deb of the package record, as a library under its apt component. */
static json_t *deb_component(const json_t *root, const json_t *e)
{
	const char *pkg = json_string_value(json_object_get(e, "package"));
	const char *ver = json_string_value(json_object_get(e, "version"));
	const char *arch = json_string_value(json_object_get(e, "architecture"));
	const char *sha = json_string_value(json_object_get(e, "sha256"));
	const char *os = json_string_value(json_object_get(root, "os"));
	_cleanup_free_ char *ename = purl_escape(pkg), *ever = purl_escape(ver), *purl = NULL;
	json_t *o;

	if (!ename || !ever)
		return NULL;
	purl = strdup_printf("pkg:deb/ubuntu/%s@%s?arch=%s&distro=%s", ename, ever,
			     arch ? arch : deb_arch(root), os ? os : "");
	if (!purl)
		return NULL;
	o = json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:s}]}", "type", "library", "name", pkg,
		      "version", ver, "purl", purl, "properties", "name", "dsvm:action", "value",
		      json_string_value(json_object_get(e, "action")));
	if (o && sha)
		json_object_set_new(o, "hashes",
				    json_pack("[{s:s, s:s}]", "alg", "SHA-256", "content", sha));
	return o;
}

/* The record's entries for component name, after its artifacts, into sub. */
static int add_debs(const json_t *root, const json_t *packages, const char *name, json_t *sub)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(packages, "packages"), i, e)
	{
		const char *comp = json_string_value(json_object_get(e, "component"));

		if (!comp || !streq(comp, name))
			continue;
		if (json_array_append_new(sub, deb_component(root, e)) < 0)
			return -ENOMEM;
	}
	return 0;
}

static json_t *lock_component(const json_t *root, const json_t *c, const json_t *packages)
{
	const char *name = json_string_value(json_object_get(c, "name"));
	const char *version = json_string_value(json_object_get(c, "version"));
	const char *kind = json_string_value(json_object_get(c, "kind"));
	const char *record = json_string_value(json_object_get(c, "record"));
	const json_t *artifacts = json_object_get(c, "artifacts");
	_cleanup_free_ char *purl = component_purl(root, c);
	json_t *o, *sub;
	size_t i;
	json_t *a;

	if (!purl)
		return NULL;
	o = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "type",
		      cdx_type(kind), "bom-ref", name, "name", name, "version", version, "purl",
		      purl, "properties", "name", "dsvm:kind", "value", kind, "name", "dsvm:action",
		      "value", json_string_value(json_object_get(c, "action")));
	if (!o)
		return NULL;
	if (record)
		json_object_set_new(o, "externalReferences",
				    json_pack("[{s:s, s:s}]", "type", "website", "url", record));
	/*
	 * One artifact: its hash is the component's, except for apt, whose artifact is its
	 * repository's key and whose packages follow it. Otherwise each is a sub-component.
	 */
	if (json_array_size(artifacts) == 1 && !streq(kind, "apt")) {
		json_object_set_new(o, "hashes",
				    json_pack("[{s:s, s:s}]", "alg", "SHA-256", "content",
					      json_string_value(json_object_get(
						      json_array_get(artifacts, 0), "sha256"))));
	} else if (json_array_size(artifacts) > 0 || streq(kind, "apt")) {
		sub = json_array();
		if (!sub) {
			json_decref(o);
			return NULL;
		}
		json_array_foreach(artifacts, i, a)
			json_array_append_new(sub, artifact_component(a, version));
		if (streq(kind, "apt") && packages && add_debs(root, packages, name, sub) < 0) {
			json_decref(sub);
			json_decref(o);
			return NULL;
		}
		if (json_array_size(sub) > 0)
			json_object_set_new(o, "components", sub);
		else
			json_decref(sub);
	}
	return o;
}

/* A package record as install writes it: record_version 1, each entry's strings in place. */
static int check_packages(struct dsvm_ctx *ctx, const char *text, json_t **ret)
{
	static const char *const fields[] = { "component", "action", "package", "version" };
	json_error_t jerr;
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr), *list = NULL, *e;
	const char *bad = NULL;
	size_t i;

	if (!o)
		return dsvm_set_error(ctx, -EBADMSG, "package record:%d:%d: %s", jerr.line,
				      jerr.column, jerr.text);
	list = json_object_get(o, "packages");
	if (json_integer_value(json_object_get(o, "record_version")) != 1)
		bad = "record_version is not 1";
	else if (!json_is_array(list) || json_array_size(list) > PACKAGES_MAX_ENTRIES)
		bad = "'packages' is not an array of at most 100000 entries";
	json_array_foreach(list, i, e)
	{
		const char *sha = json_string_value(json_object_get(e, "sha256"));

		for (size_t k = 0; !bad && k < ARRAY_SIZE(fields); k++)
			if (!json_is_string(json_object_get(e, fields[k])))
				bad = "an entry lacks component, action, package or version";
		if (!bad && sha && !is_sha256_hex(sha))
			bad = "an entry's sha256 is not 64 lowercase hex characters";
		if (bad)
			break;
	}
	if (bad) {
		json_decref(o);
		return dsvm_set_error(ctx, -EBADMSG,
				      "package record: %s; take it from an image dsvm-build "
				      "install wrote (" DSVM_IMAGE_PACKAGES ")",
				      bad);
	}
	*ret = o;
	return 0;
}

int dsvm_lock_to_sbom(struct dsvm_ctx *ctx, const struct dsvm_lock *lock, char **ret)
{
	return dsvm_lock_to_sbom_with_packages(ctx, lock, NULL, ret);
}

int dsvm_lock_to_sbom_with_packages(struct dsvm_ctx *ctx, const struct dsvm_lock *lock,
				    const char *packages_json, char **ret)
{
	const json_t *root = dsvm_lock_json(lock);
	_cleanup_free_ char *lock_text = NULL, *text = NULL, *both = NULL;
	char hex[65], serial[64], *out;
	json_t *bom, *components, *c, *packages = NULL;
	size_t i;
	int r;

	r = dsvm_lock_to_string(lock, &lock_text);
	if (r < 0)
		return r;
	if (packages_json) {
		r = check_packages(ctx, packages_json, &packages);
		if (r < 0)
			return r;
		/* What was observed is part of the document: the serial follows it too. */
		both = strdup_printf("%s%s", lock_text, packages_json);
		if (!both) {
			json_decref(packages);
			return -ENOMEM;
		}
	}
	r = sha256_buffer_hex(both ? both : lock_text, strlen(both ? both : lock_text), hex);
	if (r < 0) {
		json_decref(packages);
		return dsvm_set_error(ctx, r, "cannot hash the lock");
	}
	/* A name-based UUID (version 5 layout) from the lock's hash. */
	snprintf(serial, sizeof(serial), "urn:uuid:%.8s-%.4s-5%.3s-a%.3s-%.12s", hex, hex + 8,
		 hex + 13, hex + 17, hex + 20);

	components = json_array();
	if (!components) {
		json_decref(packages);
		return -ENOMEM;
	}
	json_array_foreach(json_object_get(root, "components"), i, c)
	{
		json_t *o = lock_component(root, c, packages);

		if (!o) {
			json_decref(components);
			json_decref(packages);
			return -ENOMEM;
		}
		json_array_append_new(components, o);
	}
	json_decref(packages);
	bom = json_pack("{s:s, s:s, s:s, s:i, s:{s:{s:[{s:s, s:s}]}, s:{s:s, s:s, s:s}}, s:o}",
			"bomFormat", "CycloneDX", "specVersion", "1.5", "serialNumber", serial,
			"version", 1, "metadata", "tools", "components", "type", "application",
			"name", "dsvm-build", "component", "type", "operating-system", "bom-ref",
			"edition", "name", json_string_value(json_object_get(root, "edition")),
			"components", components);
	if (!bom)
		return -ENOMEM;
	text = json_dumps(bom, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(bom);
	if (!text)
		return -ENOMEM;
	out = strdup_printf("%s\n", text);
	if (!out)
		return -ENOMEM;
	*ret = out;
	return 0;
}
