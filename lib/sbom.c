/* SPDX-License-Identifier: MIT */
#include <ctype.h>

#include "internal.h"
#include "lock-internal.h"

/*
 * CycloneDX 1.5 JSON from a lock: one component per lock entry with its package URL (purl) and
 * the SHA-256 of each artifact. No timestamp and a serial number derived from the lock's own
 * hash, so the same lock always gives the same SBOM.
 */

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

static char *component_purl(const json_t *root, const json_t *c)
{
	const json_t *src = json_object_get(c, "source");
	const char *kind = json_string_value(json_object_get(c, "kind"));
	const char *package = json_string_value(json_object_get(src, "package"));
	const char *version = json_string_value(json_object_get(src, "version"));
	const char *name = json_string_value(json_object_get(c, "name"));
	const char *os = json_string_value(json_object_get(root, "os"));
	const char *arch = json_string_value(json_object_get(root, "arch"));
	_cleanup_free_ char *ename = NULL, *ever = NULL;

	if (!version)
		version = json_string_value(json_object_get(c, "version"));
	if (streq(kind, "apt") && package && version) {
		ename = purl_escape(package);
		ever = purl_escape(version);
		if (!ename || !ever)
			return NULL;
		return strdup_printf("pkg:deb/ubuntu/%s@%s?arch=%s&distro=%s", ename, ever,
				     arch && streq(arch, "aarch64") ? "arm64" : "amd64", os);
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

static json_t *lock_component(const json_t *root, const json_t *c)
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
	/* One artifact: its hash is the component's. Several: each becomes a sub-component. */
	if (json_array_size(artifacts) == 1) {
		json_object_set_new(o, "hashes",
				    json_pack("[{s:s, s:s}]", "alg", "SHA-256", "content",
					      json_string_value(json_object_get(
						      json_array_get(artifacts, 0), "sha256"))));
	} else if (json_array_size(artifacts) > 1) {
		sub = json_array();
		json_array_foreach(artifacts, i, a)
			json_array_append_new(sub, artifact_component(a, version));
		json_object_set_new(o, "components", sub);
	}
	return o;
}

int dsvm_lock_to_sbom(struct dsvm_ctx *ctx, const struct dsvm_lock *lock, char **ret)
{
	const json_t *root = dsvm_lock_json(lock);
	_cleanup_free_ char *lock_text = NULL, *text = NULL;
	char hex[65], serial[64], *out;
	json_t *bom, *components, *c;
	size_t i;
	int r;

	r = dsvm_lock_to_string(lock, &lock_text);
	if (r < 0)
		return r;
	r = sha256_buffer_hex(lock_text, strlen(lock_text), hex);
	if (r < 0)
		return dsvm_set_error(ctx, r, "cannot hash the lock");
	/* A name-based UUID (version 5 layout) from the lock's hash. */
	snprintf(serial, sizeof(serial), "urn:uuid:%.8s-%.4s-5%.3s-a%.3s-%.12s", hex, hex + 8,
		 hex + 13, hex + 17, hex + 20);

	components = json_array();
	if (!components)
		return -ENOMEM;
	json_array_foreach(json_object_get(root, "components"), i, c)
	{
		json_t *o = lock_component(root, c);

		if (!o) {
			json_decref(components);
			return -ENOMEM;
		}
		json_array_append_new(components, o);
	}
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
