/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "dsvm/pwsh.h"
#include "dsvm/target.h"
#include "internal.h"
#include "lock-internal.h"
#include "pwsh-internal.h"

/*
 * The Windows scripts of a lock. The PowerShell logic is fixed text (lib/pwsh/NAME.ps1, embedded
 * in pwsh-text.c); what varies is data: the steps of the lock as PowerShell hashtables, and the
 * decision table and staged payloads as JSON. Every value written into PowerShell is a
 * single-quoted literal of printable ASCII, so nothing from a manifest can become code.
 */

#define CUDA_ROOT_PREFIX "C:\\Program Files\\NVIDIA GPU Computing Toolkit\\CUDA\\v"

static const json_t *lock_components(const struct dsvm_lock *lock)
{
	return json_object_get(dsvm_lock_json(lock), "components");
}

static bool lock_is_windows(const struct dsvm_lock *lock)
{
	const char *platform = json_string_value(json_object_get(dsvm_lock_json(lock), "platform"));

	return platform && strcmp(platform, "windows") == 0;
}

static const char *str_field(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/*
 * Windows has no open/proprietary/legacy split for NVIDIA: one datacenter driver serves every
 * datacenter GPU, and GRID stays GRID. Azure serves no Windows driver for Instinct (ROCm) sizes;
 * its AMD Windows driver page covers the Radeon PRO sizes only (manifests/hardware/sizes.yaml,
 * [amddrv]). Kinds already named for Windows pass through.
 */
static const char *windows_kind(const char *kind)
{
	if (!kind || !*kind)
		return "none";
	if (strcmp(kind, "nvidia-open") == 0 || strcmp(kind, "nvidia-proprietary") == 0 ||
	    strcmp(kind, "nvidia-legacy-470") == 0)
		return "nvidia-datacenter";
	if (strcmp(kind, "amd-rocm") == 0)
		return "none";
	return kind;
}

/* The component is a driver (the lock names its driver kind) or staged for first boot. */
static bool component_is_driver(const json_t *c)
{
	return json_is_object(json_object_get(c, "driver"));
}

static void step_exit_codes(const json_t *c, struct dsvm_pwsh_step *s)
{
	const char *kind = str_field(c, "kind");
	bool install = strcmp(str_field(c, "action"), "install") == 0;

	s->n_valid_exit_codes = 0;
	s->valid_exit_codes[s->n_valid_exit_codes++] = 0;
	s->may_reboot = false;
	if (!install)
		return;
	/* Only MSI signals a needed reboot by exit code (3010); Inno and NSIS installers never
	 * return it (WINDOWS.md section 2). A driver wants one whatever it returns. */
	if (strcmp(kind, "msi") == 0) {
		s->valid_exit_codes[s->n_valid_exit_codes++] = 3010;
		s->may_reboot = true;
	} else if (component_is_driver(c)) {
		s->may_reboot = true;
	}
}

size_t dsvm_pwsh_n_steps(const struct dsvm_lock *lock)
{
	if (!lock || !lock_is_windows(lock))
		return 0;
	return json_array_size(lock_components(lock));
}

int dsvm_pwsh_get_step(const struct dsvm_lock *lock, size_t i, struct dsvm_pwsh_step *ret)
{
	const json_t *c;
	struct dsvm_pwsh_step s = { 0 };

	if (i >= dsvm_pwsh_n_steps(lock))
		return -ERANGE;
	c = json_array_get(lock_components(lock), i);
	s.order = (unsigned)(i + 1);
	s.name = str_field(c, "name");
	s.kind = str_field(c, "kind");
	s.action = str_field(c, "action");
	if (strcmp(s.kind, "powershell") == 0)
		s.script_path = json_string_value(
			json_object_get(json_array_get(json_object_get(c, "artifacts"), 0), "pat"
											    "h"));
	step_exit_codes(c, &s);
	*ret = s;
	return 0;
}

/* A PowerShell single-quoted literal: printable ASCII only (PowerShell also reads the Unicode
 * quotation marks as quotes), a quote doubled. */
static int put_quoted(struct dsvm_ctx *ctx, FILE *f, const char *component, const char *s)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return dsvm_set_error(ctx, -EBADMSG,
					      "component '%s': value '%s' holds a character "
					      "outside "
					      "printable ASCII, which the Windows scripts do not "
					      "take",
					      component, s);
	fputc('\'', f);
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			fputc('\'', f);
		fputc(*p, f);
	}
	fputc('\'', f);
	return 0;
}

/*
 * The switches that make an installer of its type ask nothing: NSIS /S, NVIDIA's -s, Inno Setup
 * /VERYSILENT, msiexec /quiet and /qn (WINDOWS.md), and -install of AMD's Windows driver packages
 * (manifests/components/windows-drivers.yaml names the records).
 */
static bool is_silent_switch(const char *a)
{
	static const char *const silent[] = { "/S",	"/s",  "-s",	  "/VERYSILENT",
					      "/quiet", "/qn", "-install" };

	for (size_t i = 0; i < sizeof(silent) / sizeof(silent[0]); i++)
		if (strcmp(a, silent[i]) == 0)
			return true;
	return false;
}

/* An installer runs unattended only with a silent switch of its type among its args. */
static bool has_silent_switch(const json_t *c)
{
	const json_t *a;
	size_t i;

	json_array_foreach(json_object_get(c, "args"), i, a)
	{
		if (json_is_string(a) && is_silent_switch(json_string_value(a)))
			return true;
	}
	return false;
}

static bool is_installer(const char *kind)
{
	return strcmp(kind, "exe") == 0 || strcmp(kind, "msi") == 0;
}

/*
 * Installer switches go to Start-Process as an array, which Windows PowerShell joins with
 * spaces unquoted: a switch with a space or a double quote would split or merge. An installer
 * the build runs needs a silent switch (else the build VM waits on a dialog); one only staged
 * for first boot may lack it (its manifest says none is known), and then the first-boot task
 * refuses to run it.
 */
static int check_args(struct dsvm_ctx *ctx, const json_t *c, const char *name, const char *kind,
		      bool install)
{
	const json_t *a;
	size_t i;

	json_array_foreach(json_object_get(c, "args"), i, a)
	{
		const char *s = json_string_value(a);

		if (!s || strpbrk(s, " \t\"") || !*s)
			return dsvm_set_error(ctx, -EBADMSG,
					      "component '%s': installer switch '%s' is empty or "
					      "holds a space or a double quote, which "
					      "Start-Process "
					      "would split",
					      name, s ? s : "(not a string)");
	}
	if (!is_installer(kind) || has_silent_switch(c))
		return 0;
	if (install)
		return dsvm_set_error(ctx, -EBADMSG,
				      "component '%s' (%s) has no silent switch among its args "
				      "(/S, "
				      "/VERYSILENT, /quiet, /qn, -s): add the installer's "
				      "documented "
				      "one to the manifest",
				      name, kind);
	dsvm_warn(ctx,
		  "component '%s' (%s) has no silent switch: it is staged, and the first-boot "
		  "task refuses to run it until the manifest gives one",
		  name, kind);
	return 0;
}

/*
 * The signer pin of an artifact (manifests/SCHEMA.md "authenticode") with its subject split into
 * its KEY=value attributes, each of which the certificate must carry; JSON null for an artifact
 * pinned by a published sha256 alone. A file_version the seal left null becomes "".
 */
static json_t *authenticode_json(const json_t *a)
{
	const json_t *pin = json_object_get(a, "authenticode");
	const char *subject = str_field(pin, "subject"), *sep;
	json_t *attrs, *o;

	if (!json_is_object(pin))
		return json_null();
	attrs = json_array();
	while (attrs && *subject) {
		sep = strstr(subject, ", ");
		json_array_append_new(attrs, sep ? json_stringn(subject, (size_t)(sep - subject))
						 : json_string(subject));
		subject = sep ? sep + 2 : subject + strlen(subject);
	}
	o = json_pack("{s:o?, s:O?, s:s}", "subject", attrs, "chain", json_object_get(pin, "chain"),
		      "file_version", str_field(pin, "file_version"));
	return o;
}

/* The pin as a PowerShell hashtable (or $null), from the same JSON. */
static int put_authenticode(struct dsvm_ctx *ctx, FILE *f, const char *name, const json_t *a)
{
	json_t *pin = authenticode_json(a);
	static const char *const keys[2] = { "subject", "chain" };
	int r = 0;

	if (!pin)
		return -ENOMEM;
	if (json_is_null(pin)) {
		fputs("$null", f);
		json_decref(pin);
		return 0;
	}
	fputs("@{ ", f);
	for (size_t k = 0; k < 2 && r == 0; k++) {
		const json_t *v;
		size_t i;

		fputs(k == 0 ? "Subject = @(" : "; Chain = @(", f);
		json_array_foreach(json_object_get(pin, keys[k]), i, v)
		{
			if (i)
				fputs(", ", f);
			if (!json_is_string(v) ||
			    (r = put_quoted(ctx, f, name, json_string_value(v))) < 0)
				break;
		}
		fputs(")", f);
	}
	if (r == 0) {
		fputs("; FileVersion = ", f);
		r = put_quoted(ctx, f, name, str_field(pin, "file_version"));
		fputs(" }", f);
	}
	json_decref(pin);
	return r;
}

static bool artifact_awaits_seal(const json_t *a)
{
	return strcmp(str_field(a, "seal"), "awaiting") == 0;
}

static const char *path_basename(const char *p)
{
	const char *slash = strrchr(p, '/');

	return slash ? slash + 1 : p;
}

static int put_artifacts(struct dsvm_ctx *ctx, FILE *f, const char *name, const json_t *c)
{
	const json_t *arts = json_object_get(c, "artifacts"), *a;
	size_t i;
	int r;

	fputs("        Artifacts = @(\n", f);
	json_array_foreach(arts, i, a)
	{
		const char *url = str_field(a, "url"), *path = str_field(a, "path");
		const char *file = *url ? path_basename(url) : path_basename(path);
		const char *sha = str_field(a, "sha256");
		bool sealed = !artifact_awaits_seal(a);

		/* A lock resolved with --allow-unsealed, for review: the script refuses the
		 * artifact at run time, before downloading it. */
		if (!sealed)
			dsvm_warn(ctx,
				  "component '%s': artifact '%s' awaits its seal; the generated "
				  "step "
				  "refuses it until 'dsvm-build seal' and a new resolve",
				  name, file);
		else if (!is_sha256_hex(sha))
			return dsvm_set_error(ctx, -EBADMSG,
					      "component '%s': artifact '%s' has no sha256; "
					      "nothing "
					      "runs unverified",
					      name, file);
		if (json_is_string(json_object_get(a, "url")) && *url &&
		    strncmp(url, "https://", 8) != 0)
			return dsvm_set_error(ctx, -EBADMSG,
					      "component '%s': artifact URL '%s' is not https",
					      name, url);
		if (strpbrk(file, " \t\"'") || !*file)
			return dsvm_set_error(ctx, -EBADMSG,
					      "component '%s': file name '%s' is empty or needs "
					      "quoting",
					      name, file);
		fputs("            @{ Name = ", f);
		if ((r = put_quoted(ctx, f, name, file)) < 0)
			return r;
		fputs("; Url = ", f);
		if ((r = put_quoted(ctx, f, name, url)) < 0)
			return r;
		fputs("; Sha256 = ", f);
		if ((r = put_quoted(ctx, f, name, sha)) < 0)
			return r;
		fprintf(f, "; Size = %lld; Sealed = $%s; Authenticode = ",
			(long long)json_integer_value(json_object_get(a, "size")),
			sealed ? "true" : "false");
		if ((r = put_authenticode(ctx, f, name, a)) < 0)
			return r;
		fputs(" }\n", f);
	}
	fputs("        )\n", f);
	return 0;
}

/* Where a redistributable archive's folders merge: the toolkit root of the lock's CUDA. */
static int cuda_root(struct dsvm_ctx *ctx, const struct dsvm_lock *lock, char *buf, size_t len)
{
	const json_t *c, *p;
	size_t i, j;

	json_array_foreach(lock_components(lock), i, c)
	{
		json_array_foreach(json_object_get(c, "provides"), j, p)
		{
			const char *version = str_field(c, "version");
			unsigned major, minor;

			if (strcmp(json_string_value(p) ?: "", "cuda-toolkit") != 0)
				continue;
			if (sscanf(version, "%u.%u", &major, &minor) != 2)
				return dsvm_set_error(ctx, -EBADMSG,
						      "component '%s': CUDA version '%s' is not "
						      "<major>.<minor>",
						      str_field(c, "name"), version);
			snprintf(buf, len, "%s%u.%u", CUDA_ROOT_PREFIX, major, minor);
			return 0;
		}
	}
	buf[0] = '\0';
	return 0;
}

static int put_step(struct dsvm_ctx *ctx, FILE *f, const struct dsvm_lock *lock, size_t i,
		    const char *cuda)
{
	const json_t *c = json_array_get(lock_components(lock), i), *a;
	struct dsvm_pwsh_step s;
	const char *dest = "";
	size_t j;
	int r;

	if ((r = dsvm_pwsh_get_step(lock, i, &s)) < 0)
		return r;
	if ((r = check_args(ctx, c, s.name, s.kind, strcmp(s.action, "install") == 0)) < 0)
		return r;
	if (strcmp(s.kind, "nvidia-redist") == 0) {
		if (!*cuda)
			return dsvm_set_error(ctx, -EBADMSG,
					      "component '%s': a redistributable archive needs a "
					      "component that provides cuda-toolkit",
					      s.name);
		dest = cuda;
	} else if (strcmp(s.kind, "zip") == 0) {
		dest = str_field(json_object_get(c, "source"), "dest");
		if (!*dest)
			return dsvm_set_error(ctx, -EBADMSG,
					      "component '%s': a zip needs source.dest, the folder "
					      "it "
					      "expands into",
					      s.name);
	} else if (strcmp(s.kind, "msi") != 0 && strcmp(s.kind, "exe") != 0 &&
		   strcmp(s.kind, "powershell") != 0) {
		return dsvm_set_error(ctx, -EBADMSG,
				      "component '%s': kind '%s' has no silent install on Windows "
				      "(msi, exe, zip, nvidia-redist, powershell)",
				      s.name, s.kind);
	}

	fprintf(f, "    @{\n        Name = ");
	if ((r = put_quoted(ctx, f, s.name, s.name)) < 0)
		return r;
	fprintf(f, "\n        Kind = '%s'\n        Action = '%s'\n        Stage = $%s\n", s.kind,
		strcmp(s.action, "stage") == 0 ? "stage" : "install",
		strcmp(s.action, "stage") == 0 || component_is_driver(c) ? "true" : "false");
	fputs("        Destination = ", f);
	if ((r = put_quoted(ctx, f, s.name, dest)) < 0)
		return r;
	fprintf(f, "\n        Unattended = $%s",
		!is_installer(s.kind) || has_silent_switch(c) ? "true" : "false");
	fputs("\n        Args = @(", f);
	json_array_foreach(json_object_get(c, "args"), j, a)
	{
		if (j)
			fputs(", ", f);
		if ((r = put_quoted(ctx, f, s.name, json_string_value(a))) < 0)
			return r;
	}
	fputs(")\n        ValidExitCodes = @(", f);
	for (j = 0; j < s.n_valid_exit_codes; j++)
		fprintf(f, "%s%d", j ? ", " : "", s.valid_exit_codes[j]);
	fputs(")\n", f);
	if ((r = put_artifacts(ctx, f, s.name, c)) < 0)
		return r;
	fputs("    }\n", f);
	return 0;
}

static void put_header(FILE *f, const struct dsvm_lock *lock, const char *what)
{
	fprintf(f,
		"# SPDX-License-Identifier: MIT\n"
		"# %s\n"
		"# Generated by dsvm-build from the lock of edition '%s'; regenerate it, do not "
		"edit.\n"
		"#Requires -Version 5.1\n"
		"[CmdletBinding()]\n",
		what, dsvm_lock_get_edition(lock));
}

static int provision_text(struct dsvm_ctx *ctx, const struct dsvm_lock *lock, FILE *f)
{
	char cuda[128];
	size_t n = dsvm_pwsh_n_steps(lock);
	int r;

	if ((r = cuda_root(ctx, lock, cuda, sizeof(cuda))) < 0)
		return r;
	put_header(f, lock, "Provisioning: one component per run, `-Step NAME`, in lock order.");
	fputs("param(\n"
	      "    [Parameter(Mandatory = $true)]\n"
	      "    [string]$Step,\n"
	      "    [string]$UploadDir = '" DSVM_PWSH_UPLOAD_DIR "',\n"
	      "    [string]$DownloadDir = '" DSVM_PWSH_UPLOAD_DIR "\\downloads',\n"
	      "    [string]$PayloadDir = '" DSVM_PWSH_PAYLOAD_DIR "'\n"
	      ")\n\n$DsvmEdition = ",
	      f);
	if ((r = put_quoted(ctx, f, "edition", dsvm_lock_get_edition(lock))) < 0)
		return r;
	fputs("\n$DsvmSteps = @(\n", f);
	for (size_t i = 0; i < n; i++)
		if ((r = put_step(ctx, f, lock, i, cuda)) < 0)
			return r;
	fprintf(f, ")\n\n%s\n%s", pwsh_common_body, pwsh_provision_body);
	return 0;
}

static void firstboot_text(const struct dsvm_lock *lock, FILE *f)
{
	put_header(f, lock,
		   "First boot: detect the GPUs and the VM size, converge the driver kind.");
	fprintf(f,
		"param(\n"
		"    [string]$Catalog = '" DSVM_PWSH_DIR "\\" DSVM_PWSH_CATALOG_JSON "',\n"
		"    [string]$Marker = '" DSVM_PWSH_MARKER "',\n"
		"    [string]$PayloadDir = '" DSVM_PWSH_PAYLOAD_DIR "',\n"
		"    [string]$VmSize = '',\n"
		"    [string[]]$PciId = @(),\n"
		"    [switch]$NoImds,\n"
		"    [switch]$Plan\n"
		")\n\n%s\n%s",
		pwsh_common_body, pwsh_firstboot_body);
}

static void register_text(const struct dsvm_lock *lock, FILE *f)
{
	put_header(f, lock, "Install the first-boot task (at startup, as SYSTEM).");
	fprintf(f,
		"param(\n"
		"    [string]$UploadDir = '" DSVM_PWSH_UPLOAD_DIR "',\n"
		"    [string]$InstallDir = '" DSVM_PWSH_DIR "',\n"
		"    [string]$PayloadDir = '" DSVM_PWSH_PAYLOAD_DIR "'\n"
		")\n\n%s\n%s",
		pwsh_common_body, pwsh_register_body);
}

static int set_new(json_t *o, const char *key, json_t *v)
{
	return v && json_object_set_new(o, key, v) == 0 ? 0 : -ENOMEM;
}

static const char *vendor_hex(const char *kind)
{
	if (strncmp(kind, "nvidia-", 7) == 0)
		return "10DE";
	if (strncmp(kind, "amd-", 4) == 0)
		return "1002";
	return NULL;
}

/* The key of a GPU record in the table: gpus.yaml's key, or for a record the generated device
 * tables give by architecture, "table-VVVV-ARCH" (unique per record pointer). */
static int gpu_key(json_t *gpus, const struct dsvm_gpu_info *g, char *buf, size_t len)
{
	const char *key = g->key ? g->key : "unknown";

	if (!g->generated) {
		snprintf(buf, len, "%s", key);
		return 0;
	}
	for (unsigned n = 0; n < 64; n++) {
		const json_t *o;

		snprintf(buf, len, n ? "table-%04x-%s-%u" : "table-%04x-%s", g->vendor_id, key, n);
		o = json_object_get(gpus, buf);
		if (!o ||
		    json_integer_value(json_object_get(o, "_ptr")) == (json_int_t)(uintptr_t)g)
			return 0;
	}
	return -EOVERFLOW;
}

static int gpu_entry(json_t *gpus, const struct dsvm_gpu_info *g, char *key, size_t len)
{
	int r = gpu_key(gpus, g, key, len);

	if (r < 0 || json_object_get(gpus, key))
		return r;
	/* served: some Linux kind drives it, which ranks it first among the models PCI shows
	 * (lib/select.c tally_main_model), whatever the kind becomes on Windows. */
	return set_new(gpus, key,
		       json_pack("{s:s, s:b, s:b, s:I}", "kind",
				 windows_kind(dsvm_driver_kind_to_string(g->driver_kind)), "served",
				 g->driver_kind != DSVM_DRIVER_NONE, "switch", g->switch_only,
				 "_ptr", (json_int_t)(uintptr_t)g));
}

/*
 * Every NVIDIA and AMD device the catalog places (gpus.yaml first, then the generated device
 * tables, as dsvm_catalog_classify_gpu() answers), GPU records with their Windows kind, and the
 * sizes: the data lib/select.c decides from.
 */
static int table_json(const struct dsvm_catalog *cat, json_t *root)
{
	static const uint16_t vendors[2] = { DSVM_PCI_VENDOR_NVIDIA, DSVM_PCI_VENDOR_AMD };
	json_t *gpus = json_object(), *devices = json_object(), *sizes = json_object(), *g;
	const char *k;
	void *tmp;
	int r = 0;

	if (set_new(root, "gpus", gpus) < 0 || set_new(root, "devices", devices) < 0 ||
	    set_new(root, "sizes", sizes) < 0)
		return -ENOMEM;
	for (size_t v = 0; v < 2 && r == 0; v++)
		for (unsigned d = 0; d <= 0xffff && r == 0; d++) {
			struct dsvm_gpu_class gc;
			char id[16], key[160];

			if (dsvm_catalog_classify_gpu(cat, vendors[v], (uint16_t)d, &gc) < 0)
				continue;
			snprintf(id, sizeof(id), "%04x:%04x", vendors[v], d);
			r = gpu_entry(gpus, gc.info, key, sizeof(key));
			if (r == 0)
				r = set_new(devices, id, json_string(key));
		}
	for (size_t i = 0; i < dsvm_catalog_n_sizes(cat) && r == 0; i++) {
		const struct dsvm_size_info *s = dsvm_catalog_size_at(cat, i);
		char key[128], gkey[160];
		size_t n;

		/* Lower case without "standard_", as dsvm_catalog_find_size() matches. */
		for (n = 0; s->name[n] && n + 1 < sizeof(key); n++)
			key[n] = (char)tolower((unsigned char)s->name[n]);
		key[n] = '\0';
		r = gpu_entry(gpus, s->gpu, gkey, sizeof(gkey));
		if (r == 0)
			r = set_new(sizes, strncmp(key, "standard_", 9) == 0 ? key + 9 : key,
				    json_pack("{s:s, s:s, s:s}", "name", s->name, "gpu", gkey,
					      "kind",
					      windows_kind(
						      dsvm_driver_kind_to_string(s->driver_kind))));
	}
	/* The record pointers only made the keys unique within this run. */
	json_object_foreach_safe(gpus, tmp, k, g) json_object_del(g, "_ptr");
	return r;
}

static const json_t *find_component(const struct dsvm_lock *lock, const char *name)
{
	const json_t *c;
	size_t i;

	json_array_foreach(lock_components(lock), i,
			   c) if (strcmp(str_field(c, "name"), name) == 0) return c;
	return NULL;
}

/* What first boot installs per kind: the installers among each stack's components, in order,
 * with their staged payloads. The first stack of a Windows kind wins. */
static int stacks_json(const struct dsvm_lock *lock, json_t *root)
{
	const json_t *stacks = json_object_get(dsvm_lock_json(lock), "stacks"), *st;
	json_t *out = json_object(), *kinds = json_object();
	size_t i;

	if (set_new(root, "kinds", kinds) < 0 || set_new(root, "stacks", out) < 0)
		return -ENOMEM;
	json_array_foreach(stacks, i, st)
	{
		const char *kind = windows_kind(str_field(st, "driver_kind"));
		const json_t *sc;
		json_t *list;
		size_t j;

		if (!vendor_hex(kind) || json_object_get(out, kind))
			continue;
		if (set_new(out, kind, list = json_array()) < 0 ||
		    set_new(kinds, kind, json_pack("{s:s}", "vendor", vendor_hex(kind))) < 0)
			return -ENOMEM;
		json_array_foreach(json_object_get(st, "components"), j, sc)
		{
			const json_t *c = find_component(lock, str_field(sc, "name")), *a, *args;
			struct dsvm_pwsh_step s = { 0 };
			json_t *o, *payloads, *codes;
			size_t k;

			if (!c || (strcmp(str_field(c, "kind"), "exe") != 0 &&
				   strcmp(str_field(c, "kind"), "msi") != 0))
				continue;
			args = json_object_get(c, "args");
			o = json_pack("{s:s, s:s, s:o}", "name", str_field(c, "name"), "kind",
				      str_field(c, "kind"), "args",
				      json_is_array(args) ? json_deep_copy(args) : json_array());
			if (!o || json_array_append_new(list, o) < 0)
				return -ENOMEM;
			{
				/* At first boot it is installed, whatever the build did. */
				json_t *probe = json_deep_copy(c);

				if (!probe)
					return -ENOMEM;
				json_object_set_new(probe, "action", json_string("install"));
				step_exit_codes(probe, &s);
				json_decref(probe);
			}
			codes = json_array();
			for (k = 0; k < s.n_valid_exit_codes; k++)
				json_array_append_new(codes, json_integer(s.valid_exit_codes[k]));
			if (set_new(o, "unattended", json_boolean(has_silent_switch(c))) < 0 ||
			    set_new(o, "valid_exit_codes", codes) < 0 ||
			    set_new(o, "reboot", json_boolean(s.may_reboot)) < 0 ||
			    set_new(o, "payloads", payloads = json_array()) < 0)
				return -ENOMEM;
			json_array_foreach(json_object_get(c, "artifacts"), k, a)
			{
				const char *url = str_field(a, "url");
				json_int_t size = json_integer_value(json_object_get(a, "size"));
				json_t *p = json_pack("{s:s, s:s, s:I, s:b, s:o}", "name",
						      path_basename(url), "sha256",
						      str_field(a, "sha256"), "size", size,
						      "sealed", !artifact_awaits_seal(a),
						      "authenticode", authenticode_json(a));

				if (!p || json_array_append_new(payloads, p) < 0)
					return -ENOMEM;
			}
		}
	}
	return 0;
}

static int catalog_text(const struct dsvm_lock *lock, const struct dsvm_catalog *cat, char **ret)
{
	const json_t *target = json_object_get(dsvm_lock_json(lock), "target");
	json_t *root =
		json_pack("{s:i, s:s, s:s, s:s, s:s}", "format", 1, "edition",
			  dsvm_lock_get_edition(lock), "installed_kind",
			  windows_kind(str_field(target, "driver_kind")), "unknown_nvidia_kind",
			  windows_kind("nvidia-open"), "unknown_amd_kind", "none");
	int r;

	if (!root)
		return -ENOMEM;
	r = table_json(cat, root);
	if (r == 0)
		r = stacks_json(lock, root);
	if (r == 0) {
		char *s = json_dumps(root, JSON_INDENT(2));

		if (s) {
			*ret = strdup_printf("%s\n", s);
			free(s);
		}
		r = s && *ret ? 0 : -ENOMEM;
	}
	json_decref(root);
	return r;
}

static int write_out(struct dsvm_ctx *ctx, const char *out_dir, const char *name, const char *text)
{
	_cleanup_free_ char *path = strdup_printf("%s/%s", out_dir, name);
	_cleanup_free_ char *dir = NULL;
	int r;

	if (!path || !(dir = path_dirname(path)))
		return -ENOMEM;
	r = mkdir_parents(dir, 0755);
	if (r < 0)
		return dsvm_set_error(ctx, r, "cannot create '%s': %s", dir, strerror(-r));
	r = write_file_atomic(path, text, strlen(text), 0644);
	if (r < 0)
		return dsvm_set_error(ctx, r, "cannot write '%s': %s", path, strerror(-r));
	return 0;
}

int dsvm_pwsh_write(struct dsvm_ctx *ctx, const struct dsvm_lock *lock,
		    const struct dsvm_catalog *cat, const char *out_dir)
{
	char *texts[4] = { NULL };
	static const char *const names[4] = { DSVM_PWSH_PROVISION_SCRIPT,
					      DSVM_PWSH_FIRSTBOOT_SCRIPT, DSVM_PWSH_REGISTER_SCRIPT,
					      DSVM_PWSH_CATALOG_JSON };
	size_t sizes[3];
	int r = 0;

	if (!lock || !cat || !out_dir)
		return dsvm_set_error(ctx, -EINVAL,
				      "the Windows scripts need a lock and a catalog");
	if (!lock_is_windows(lock))
		return dsvm_set_error(ctx, -EINVAL,
				      "edition '%s' is not a Windows edition: it has no PowerShell "
				      "scripts",
				      dsvm_lock_get_edition(lock));
	for (size_t i = 0; i < 3 && r == 0; i++) {
		FILE *f = open_memstream(&texts[i], &sizes[i]);

		if (!f) {
			r = -ENOMEM;
			break;
		}
		if (i == 0)
			r = provision_text(ctx, lock, f);
		else if (i == 1)
			firstboot_text(lock, f);
		else
			register_text(lock, f);
		if (fclose(f) != 0 && r == 0)
			r = -ENOMEM;
	}
	if (r == 0)
		r = catalog_text(lock, cat, &texts[3]);
	for (size_t i = 0; i < 4 && r == 0; i++)
		r = write_out(ctx, out_dir, names[i], texts[i]);
	for (size_t i = 0; i < 4; i++)
		free(texts[i]);
	if (r == -ENOMEM)
		return dsvm_set_error(ctx, r, "out of memory writing the Windows scripts");
	return r;
}
