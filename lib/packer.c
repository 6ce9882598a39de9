/* SPDX-License-Identifier: MIT */
/*
 * HCL2 for Packer's azure-arm builder, and the step script the Ubuntu templates run. Argument
 * names are those of the azure-arm builder docs (hashicorp/packer-plugin-azure docs/builders/
 * arm.mdx and its generated partials); `packer validate` of Debian's 1.6.6 judges the legacy
 * dialect (tests/integration/test-packer.sh). Output is laid out the way `packer fmt` lays it
 * out (attributes of a group aligned on '='), so the generated files pass `packer fmt -check`.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dsvm/packer.h"
#include "dsvm/pwsh.h"
#include "internal.h"
#include "lock-internal.h"

/* Where the payload goes on the build VMs (WINDOWS: dsvm/pwsh.h's upload folder). */
#define LINUX_UPLOAD "/tmp/dsvm"
#define STEPS_SCRIPT "scripts/dsvm-ubuntu.sh"

const struct dsvm_packer_step dsvm_packer_ubuntu_steps[] = {
	{ "wait-cloud-init", "wait (bounded) for cloud-init to finish provisioning the VM" },
	{ "install-agent", "install dsvm-build, dsvm-firstboot and its unit" },
	{ "seed-cache", "copy the cache seed into the artifact cache" },
	{ "image", "dsvm-build image --root / for the source's target" },
	{ "enable-agent", "enable dsvm-firstboot.service" },
	{ "reset-agent", "dsvm-firstboot reset: every VM made from the image reconciles" },
};
const size_t dsvm_packer_n_ubuntu_steps = ARRAY_SIZE(dsvm_packer_ubuntu_steps);

/*
 * The marketplace image each edition starts from (Gen2, which Trusted Launch needs):
 * Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2 (hashicorp/agent-skills
 * packer/builders/skills/azure-image-builder/SKILL.md), Canonical:ubuntu-24_04-lts:server and
 * MicrosoftWindowsServer:WindowsServer:2022-datacenter-g2 (the URNs `az vm create --image` takes
 * in public deployment scripts).
 */
static const struct base_image {
	const char *os, *publisher, *offer, *sku;
} base_images[] = {
	{ "ubuntu-22.04", "Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2" },
	{ "ubuntu-24.04", "Canonical", "ubuntu-24_04-lts", "server" },
	{ "windows-server-2022", "MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-g2" },
};

int dsvm_packer_dialect_from_version(const char *version, enum dsvm_packer_dialect *ret)
{
	unsigned long major, minor;
	const char *p = version;
	char *end;

	if (!p)
		return -EINVAL;
	if (*p == 'v')
		p++;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	major = strtoul(p, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9')
		return -EINVAL;
	minor = strtoul(end + 1, &end, 10);
	/* A patch level and a pre-release suffix may follow ("1.6.6", "1.11.0-dev"). */
	if (*end && *end != '.' && *end != '-')
		return -EINVAL;
	if (major < 1 || (major == 1 && minor < 6))
		return -EINVAL;
	*ret = (major == 1 && minor < 7) ? DSVM_PACKER_LEGACY : DSVM_PACKER_PLUGIN;
	return 0;
}

bool dsvm_packer_lock_names_artifact(const struct dsvm_lock *lock, const char *sha256)
{
	json_t *components = json_object_get(dsvm_lock_json(lock), "components");
	size_t i, j;
	json_t *c, *a;

	json_array_foreach(components, i, c)
	{
		json_array_foreach(json_object_get(c, "artifacts"), j, a)
		{
			const char *hex = json_string_value(json_object_get(a, "sha256"));

			if (hex && streq(hex, sha256))
				return true;
		}
	}
	return false;
}

uint64_t dsvm_packer_lock_payload_bytes(const struct dsvm_lock *lock)
{
	json_t *components = json_object_get(dsvm_lock_json(lock), "components");
	uint64_t total = 0;
	size_t i, j;
	json_t *c, *a;

	json_array_foreach(components, i, c)
	{
		json_array_foreach(json_object_get(c, "artifacts"), j, a)
		{
			json_int_t size = json_integer_value(json_object_get(a, "size"));

			if (size > 0)
				total += (uint64_t)size;
		}
	}
	return total;
}

unsigned dsvm_packer_disk_size_gb(uint64_t payload_bytes)
{
	const uint64_t gib = 1024ull * 1024 * 1024;
	/* 30 GB: the OS disk of the marketplace images, which the issue measured too small. */
	uint64_t need = 30 * gib + 3 * payload_bytes;
	uint64_t gb;

	need += need / 4;
	gb = (need + gib - 1) / gib;
	gb = (gb + 15) / 16 * 16;
	/* Azure's largest OS disk is 4 TiB; a lock asking for more is not a disk size. */
	return gb > 4095 ? 4095 : (unsigned)gb;
}

void dsvm_packer_files_clear(struct dsvm_packer_files *f)
{
	if (!f)
		return;
	free(f->config);
	free(f->variables);
	free(f->sources);
	free(f->build);
	free(f->steps);
	memset(f, 0, sizeof(*f));
}

/* Close a memstream: its text, or NULL (freed) when it or the rendering failed. */
static char *finish(FILE *f, char **out, bool ok)
{
	/* fclose() sets *out: read it only afterwards. */
	if (fclose(f) != 0 || !ok) {
		free(*out);
		return NULL;
	}
	return *out;
}

static bool name_is_valid(const char *s)
{
	if (!s || *s < 'a' || *s > 'z' || strlen(s) > 63)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return false;
	return true;
}

/* Values that go into HCL strings and shell words unquoted must be plain. */
static bool word_is_plain(const char *s)
{
	for (; s && *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("-_./=: ", *s)))
			return false;
	return true;
}

/* One group of attributes, aligned on '=' as `packer fmt` aligns consecutive attributes. */
struct attr {
	const char *key;
	char *value; /* an HCL expression; owned */
};

struct group {
	struct attr a[24];
	size_t n;
	bool oom;
};

static void add(struct group *g, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void add(struct group *g, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *v = NULL;

	va_start(ap, fmt);
	if (vasprintf(&v, fmt, ap) < 0)
		v = NULL;
	va_end(ap);
	if (!v || g->n >= ARRAY_SIZE(g->a)) {
		free(v);
		g->oom = true;
		return;
	}
	g->a[g->n].key = key;
	g->a[g->n++].value = v;
}

/* Print and empty the group; false when a value could not be built. */
static bool flush(FILE *f, int indent, struct group *g)
{
	size_t width = 0;
	bool ok = !g->oom;

	for (size_t i = 0; i < g->n; i++)
		if (strlen(g->a[i].key) > width)
			width = strlen(g->a[i].key);
	for (size_t i = 0; i < g->n; i++) {
		fprintf(f, "%*s%-*s = %s\n", indent, "", (int)width, g->a[i].key, g->a[i].value);
		free(g->a[i].value);
	}
	g->n = 0;
	g->oom = false;
	return ok;
}

#define GENERATED_BY                                                                               \
	"# Generated by `dsvm-build packer` from the %s edition; do not edit: `make packer`\n"     \
	"# regenerates it (the hand-written scripts live in packer/scripts/).\n"

static void variable(FILE *f, const char *name, const char *type, const char *def, bool sensitive,
		     const char *description)
{
	struct group g = { .n = 0 };

	fprintf(f, "\nvariable \"%s\" {\n", name);
	add(&g, "type", "%s", type);
	add(&g, "default", "%s", def);
	if (sensitive)
		add(&g, "sensitive", "true");
	add(&g, "description", "\"%s\"", description);
	flush(f, 2, &g);
	fputs("}\n", f);
}

static char *render_variables(const struct dsvm_packer_spec *s)
{
	char *out = NULL, def[64];
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);
	bool windows = streq(s->platform, "windows");

	if (!f)
		return NULL;
	fprintf(f, GENERATED_BY, s->edition);
	fputs("#\n# Authentication: by default the managed identity of the machine running packer\n"
	      "# (client_id and client_secret empty); set both for a service principal, or\n"
	      "# use_azure_cli_auth for an `az login` session.\n",
	      f);
	variable(f, "subscription_id", "string", "\"\"", false,
		 "Azure subscription (empty: the managed identity's)");
	variable(f, "tenant_id", "string", "\"\"", false,
		 "Entra ID tenant (empty: looked up from the subscription)");
	variable(f, "client_id", "string", "\"\"", false,
		 "Service principal application id (empty: managed identity)");
	variable(f, "client_secret", "string", "\"\"", true, "Service principal secret");
	variable(f, "use_azure_cli_auth", "bool", "false", false,
		 "Authenticate with the Azure CLI's `az login` session");
	variable(f, "location", "string", "\"eastus\"", false,
		 "Region of the temporary build resource group");
	variable(f, "build_resource_group", "string", "\"\"", false,
		 "An existing resource group to build in instead of a temporary one in location");
	variable(f, "image_resource_group", "string", "\"dsvm-images\"", false,
		 "Resource group of the managed images, or of the gallery");
	snprintf(def, sizeof(def), "\"dsvm-%s\"", s->edition);
	variable(f, "image_name", "string", def, false,
		 "Image name; each source appends its own name");
	variable(f, "image_version", "string", "\"1.0.0\"", false,
		 "Image version (major.minor.patch, as a gallery image version)");
	variable(f, "gallery_name", "string", "\"\"", false,
		 s->dialect == DSVM_PACKER_PLUGIN ? "Azure Compute Gallery: empty writes managed "
						    "images; set, writes the "
						    "image version of <image_name>-<source> there, "
						    "with Trusted Launch"
						  : "Azure Compute Gallery: empty writes managed "
						    "images only; set, also "
						    "writes the image version of "
						    "<image_name>-<source> there");
	variable(f, "gallery_replication_regions", "list(string)", "[]", false,
		 "Regions to replicate a gallery image version to (empty: location)");
	variable(f, "build_vm_size", "string", "\"Standard_D4s_v5\"", false,
		 "Build VM size for targets that need no GPU on the build VM");
	snprintf(def, sizeof(def), "%u", s->os_disk_size_gb);
	variable(f, "os_disk_size_gb", "number", def, false,
		 "OS disk (GB): the staged payloads of every driver kind, with room to spare");
	if (!windows)
		variable(f, "mirror", "string", "\"\"", false,
			 "A content-addressed artifact mirror tried before upstream (a blob "
			 "container shared by a team's builds, SAS token included)");
	return finish(f, &out, true);
}

static const struct base_image *base_image_of(const char *os)
{
	for (size_t i = 0; i < ARRAY_SIZE(base_images); i++)
		if (streq(base_images[i].os, os))
			return &base_images[i];
	return NULL;
}

static bool render_source(FILE *f, const struct dsvm_packer_spec *s,
			  const struct dsvm_packer_source *src, const struct base_image *base)
{
	bool windows = streq(s->platform, "windows"), ok = true;
	bool plugin = s->dialect == DSVM_PACKER_PLUGIN;
	struct group g = { .n = 0 };

	fprintf(f, "\n# %s\nsource \"azure-arm\" \"%s\" {\n", src->description, src->name);
	add(&g, "subscription_id", "var.subscription_id");
	add(&g, "tenant_id", "var.tenant_id");
	add(&g, "client_id", "var.client_id");
	add(&g, "client_secret", "var.client_secret");
	add(&g, "use_azure_cli_auth", "var.use_azure_cli_auth");
	ok &= flush(f, 2, &g);
	fputc('\n', f);
	/* The builder takes location or build_resource_group_name, never both. */
	add(&g, "location", "var.build_resource_group == \"\" ? var.location : null");
	add(&g, "build_resource_group_name",
	    "var.build_resource_group == \"\" ? null : var.build_resource_group");
	if (src->build_vm_size)
		add(&g, "vm_size", "\"%s\"", src->build_vm_size);
	else
		add(&g, "vm_size", "var.build_vm_size");
	add(&g, "os_disk_size_gb", "var.os_disk_size_gb");
	add(&g, "os_type", windows ? "\"Windows\"" : "\"Linux\"");
	add(&g, "image_publisher", "\"%s\"", base->publisher);
	add(&g, "image_offer", "\"%s\"", base->offer);
	add(&g, "image_sku", "\"%s\"", base->sku);
	ok &= flush(f, 2, &g);
	fputc('\n', f);
	/*
	 * Packer 1.6.6 publishes a gallery version from a managed image, so it always writes one;
	 * the plugin publishes straight to the gallery, and its Trusted Launch settings (Secure
	 * Boot, vTPM) apply only there: a managed image cannot carry them.
	 */
	if (plugin)
		add(&g, "managed_image_name",
		    "var.gallery_name == \"\" ? \"${var.image_name}-%s-${var.image_version}\" : "
		    "null",
		    src->name);
	else
		add(&g, "managed_image_name", "\"${var.image_name}-%s-${var.image_version}\"",
		    src->name);
	add(&g, "managed_image_resource_group_name",
	    plugin ? "var.gallery_name == \"\" ? var.image_resource_group : null"
		   : "var.image_resource_group");
	if (plugin) {
		add(&g, "security_type", "var.gallery_name == \"\" ? null : \"TrustedLaunch\"");
		add(&g, "secure_boot_enabled", "var.gallery_name != \"\"");
		add(&g, "vtpm_enabled", "var.gallery_name != \"\"");
	}
	ok &= flush(f, 2, &g);
	fputs("\n  dynamic \"shared_image_gallery_destination\" {\n"
	      "    for_each = var.gallery_name == \"\" ? [] : [var.gallery_name]\n"
	      "    content {\n",
	      f);
	add(&g, "subscription", "var.subscription_id");
	add(&g, "resource_group", "var.image_resource_group");
	add(&g, "gallery_name", "shared_image_gallery_destination.value");
	add(&g, "image_name", "\"${var.image_name}-%s\"", src->name);
	add(&g, "image_version", "var.image_version");
	/* Packer 1.6.6 wants at least one region: the build's own by default. */
	add(&g, "replication_regions",
	    "length(var.gallery_replication_regions) > 0 ? var.gallery_replication_regions : "
	    "[var.location]");
	ok &= flush(f, 6, &g);
	fputs("    }\n  }\n", f);
	if (windows) {
		/* WinRM over TLS with the certificate the builder makes for the build VM. */
		fputc('\n', f);
		add(&g, "communicator", "\"winrm\"");
		add(&g, "winrm_use_ssl", "true");
		add(&g, "winrm_insecure", "true");
		add(&g, "winrm_timeout", "\"30m\"");
		add(&g, "winrm_username", "\"packer\"");
		ok &= flush(f, 2, &g);
	}
	fputs("\n  azure_tags = {\n", f);
	add(&g, "dsvm_edition", "\"%s\"", s->edition);
	add(&g, "dsvm_target", "\"%s\"", src->target_args[0] ? src->target_args : "universal");
	ok &= flush(f, 4, &g);
	fputs("  }\n}\n", f);
	return ok;
}

static char *render_sources(struct dsvm_ctx *ctx, const struct dsvm_packer_spec *s, int *r)
{
	const struct base_image *base = base_image_of(s->os);
	char *out = NULL;
	size_t size = 0;
	FILE *f;
	bool ok = true;

	if (!base) {
		*r = dsvm_set_error(ctx, -EINVAL,
				    "no Azure marketplace image is known for os '%s' (known: "
				    "ubuntu-22.04, ubuntu-24.04, windows-server-2022)",
				    s->os);
		return NULL;
	}
	f = open_memstream(&out, &size);
	if (!f)
		return NULL;
	fprintf(f, GENERATED_BY, s->edition);
	fprintf(f, "# One source per target: `packer build .` starts one build VM for each, in "
		   "parallel.\n");
	for (size_t i = 0; i < s->n_sources; i++)
		ok &= render_source(f, s, &s->sources[i], base);
	return finish(f, &out, ok);
}

static void sources_line(FILE *f, const struct dsvm_packer_spec *s)
{
	fputs("  sources = [", f);
	for (size_t i = 0; i < s->n_sources; i++)
		fprintf(f, "%s\"source.azure-arm.%s\"", i ? ", " : "", s->sources[i].name);
	fputs("]\n", f);
}

static void file_provisioner(FILE *f, const char *comment, const char *source,
			     const char *destination)
{
	fprintf(f, "\n  # %s\n  provisioner \"file\" {\n", comment);
	fprintf(f, "    source      = \"${path.root}/%s\"\n", source);
	fprintf(f, "    destination = \"%s\"\n  }\n", destination);
}

/* The shell provisioners' command: root, with the provisioner's environment kept. */
#define SUDO_EXECUTE "\"chmod +x {{ .Path }}; {{ .Vars }} sudo -E sh '{{ .Path }}'\""

static char *render_build_linux(const struct dsvm_packer_spec *s)
{
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);

	if (!f)
		return NULL;
	fprintf(f, GENERATED_BY, s->edition);
	fputs("# The build steps are " STEPS_SCRIPT ", one provisioner per step; the offline test\n"
	      "# (tests/integration/test-packer-build.sh) runs the same script with Packer's null\n"
	      "# builder. Azure's generalisation is last, as the azure-arm docs ask.\n"
	      "\nbuild {\n",
	      f);
	sources_line(f, s);
	fputs("\n  provisioner \"shell\" {\n    inline = [\"mkdir -p " LINUX_UPLOAD
	      "/bin " LINUX_UPLOAD "/scripts\"]\n  }\n",
	      f);
	file_provisioner(f, "dsvm-build, dsvm-firstboot and its systemd unit", "payload/bin/",
			 LINUX_UPLOAD "/bin");
	file_provisioner(f, "The edition's manifests and hardware catalog", "payload/manifests",
			 LINUX_UPLOAD "/");
	file_provisioner(f, "The locks reviewed with this template, one per target",
			 "payload/locks", LINUX_UPLOAD "/");
	file_provisioner(f, "Verified artifacts to seed the build VM's cache (may be empty)",
			 "payload/cache", LINUX_UPLOAD "/");
	file_provisioner(f, "The build steps", STEPS_SCRIPT, LINUX_UPLOAD "/" STEPS_SCRIPT);
	for (size_t i = 0; i < dsvm_packer_n_ubuntu_steps; i++) {
		const struct dsvm_packer_step *st = &dsvm_packer_ubuntu_steps[i];

		fprintf(f,
			"\n  # %s\n  provisioner \"shell\" {\n"
			"    environment_vars = [\"DSVM_SOURCE=${source.name}\", "
			"\"DSVM_MIRROR=${var.mirror}\"]\n"
			"    execute_command  = " SUDO_EXECUTE "\n"
			"    inline           = [\"sh " LINUX_UPLOAD "/" STEPS_SCRIPT " %s\"]\n"
			"  }\n",
			st->what, st->name);
	}
	/* skip_clean: the SSH session does not survive deprovisioning well enough to delete the
	 * script afterwards (the known hang). */
	fputs("\n  # Last: the payload goes, then the Azure agent deprovisions the VM.\n"
	      "  provisioner \"shell\" {\n"
	      "    execute_command = " SUDO_EXECUTE "\n"
	      "    inline          = [\"rm -rf " LINUX_UPLOAD "\", \"/usr/sbin/waagent -force "
	      "-deprovision+user && export HISTSIZE=0 && sync\"]\n"
	      "    skip_clean      = true\n"
	      "  }\n}\n",
	      f);
	return finish(f, &out, true);
}

#define PWSH_FILE "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "

/* Backslashes doubled for an HCL string. */
static void hcl_path(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
}

static char *render_build_windows(const struct dsvm_packer_spec *s)
{
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);

	if (!f)
		return NULL;
	fprintf(f, GENERATED_BY, s->edition);
	fputs("# One powershell provisioner per lock component, in install order, each running\n"
	      "# " DSVM_PWSH_PROVISION_SCRIPT " -Step NAME (generated from the lock with the "
	      "other\n"
	      "# scripts). A step that may ask for a reboot accepts 3010 and is followed by a\n"
	      "# restart. Sysprep is last, after the guest agent services run (azure-arm docs).\n"
	      "\nbuild {\n",
	      f);
	sources_line(f, s);
	fputs("\n  provisioner \"powershell\" {\n    inline = [\"New-Item -ItemType Directory "
	      "-Force "
	      "-Path '",
	      f);
	hcl_path(f, DSVM_PWSH_UPLOAD_DIR);
	fputs("' | Out-Null\"]\n  }\n", f);
	fputs("\n  # The generated scripts, the catalog and the hand-written scripts\n"
	      "  provisioner \"file\" {\n    sources     = [\"${path.root}/scripts/\", "
	      "\"${path.root}/" DSVM_PWSH_CATALOG_JSON "\"]\n    destination = \"",
	      f);
	hcl_path(f, DSVM_PWSH_UPLOAD_DIR);
	fputs("\\\\\"\n  }\n", f);
	for (size_t i = 0; i < s->n_windows_steps; i++) {
		const struct dsvm_pwsh_step *st = &s->windows_steps[i];
		bool reboots = st->may_reboot && st->n_valid_exit_codes > 0;

		fprintf(f, "\n  # %u. %s (%s, %s)\n  provisioner \"powershell\" {\n", st->order,
			st->name, st->kind, st->action);
		/* The interface dsvm/pwsh.h documents: powershell.exe -File SCRIPT -Step NAME. */
		fprintf(f, "    %s = [\"" PWSH_FILE "'", reboots ? "inline          " : "inline");
		hcl_path(f, DSVM_PWSH_UPLOAD_DIR);
		fputs("\\\\", f);
		hcl_path(f, strrchr(DSVM_PWSH_PROVISION_SCRIPT, '/') + 1);
		fprintf(f, "' -Step '%s'; exit $LASTEXITCODE\"]\n", st->name);
		if (reboots) {
			fputs("    valid_exit_codes = [", f);
			for (size_t j = 0; j < st->n_valid_exit_codes; j++)
				fprintf(f, "%s%d", j ? ", " : "", st->valid_exit_codes[j]);
			fputs("]\n", f);
		}
		fputs("  }\n", f);
		if (st->may_reboot)
			fputs("\n  provisioner \"windows-restart\" {\n"
			      "    check_registry  = true\n"
			      "    restart_timeout = \"30m\"\n"
			      "  }\n",
			      f);
	}
	fputs("\n  # The first-boot task: every VM made from the image reconciles its drivers.\n"
	      "  provisioner \"powershell\" {\n    inline = [\"" PWSH_FILE "'",
	      f);
	hcl_path(f, DSVM_PWSH_UPLOAD_DIR);
	fputs("\\\\", f);
	hcl_path(f, strrchr(DSVM_PWSH_REGISTER_SCRIPT, '/') + 1);
	fputs("'; exit $LASTEXITCODE\"]\n  }\n", f);
	/* Generalisation: nothing may be pending, the marker goes, sysprep waits for its state. */
	fputs("\n  provisioner \"windows-restart\" {\n"
	      "    check_registry  = true\n"
	      "    restart_timeout = \"30m\"\n"
	      "  }\n"
	      "\n  # Last: sysprep, once the guest agent services run, waiting for its final "
	      "state.\n"
	      "  provisioner \"powershell\" {\n"
	      "    inline = [\n"
	      "      \"Remove-Item -Recurse -Force -ErrorAction SilentlyContinue '",
	      f);
	hcl_path(f, DSVM_PWSH_MARKER);
	fputs("', '", f);
	hcl_path(f, DSVM_PWSH_UPLOAD_DIR);
	fputs("', \\\"$env:SystemRoot\\\\Panther\\\"\",\n"
	      "      \"foreach ($service in Get-Service -Name RdAgent, "
	      "WindowsAzureTelemetryService, "
	      "WindowsAzureGuestAgent -ErrorAction SilentlyContinue) { while ((Get-Service "
	      "$service.Name).Status -ne 'Running') { Start-Sleep -s 5 } }\",\n"
	      "      \"& $env:SystemRoot\\\\System32\\\\Sysprep\\\\Sysprep.exe /oobe /generalize "
	      "/quiet /quit /mode:vm\",\n"
	      "      \"while ($true) { $state = (Get-ItemProperty "
	      "HKLM:\\\\SOFTWARE\\\\Microsoft\\\\Windows\\\\CurrentVersion\\\\Setup\\\\State)."
	      "ImageState; if ($state -eq 'IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE') { break }; "
	      "Write-Output $state; Start-Sleep -s 10 }\",\n"
	      "    ]\n"
	      "  }\n}\n",
	      f);
	return finish(f, &out, true);
}

static char *render_config(void)
{
	/*
	 * The Azure plugin's own install snippet (hashicorp/packer-plugin-azure docs/README.md):
	 * source github.com/hashicorp/azure, version "~> 2".
	 */
	return strdup("# Generated by `dsvm-build packer`. Packer >= 1.7 loads the azure-arm "
		      "builder "
		      "from\n# this plugin: run `packer init .` once before `packer build .`.\n"
		      "packer {\n"
		      "  required_plugins {\n"
		      "    azure = {\n"
		      "      source  = \"github.com/hashicorp/azure\"\n"
		      "      version = \"~> 2\"\n"
		      "    }\n"
		      "  }\n"
		      "}\n");
}

static char *render_steps(const struct dsvm_packer_spec *s)
{
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);

	if (!f)
		return NULL;
	fprintf(f,
		"#!/bin/sh\n"
		"# Generated by `dsvm-build packer` from the %s edition; do not edit: `make "
		"packer`\n"
		"# regenerates it. The build steps of the edition's Packer templates, one per "
		"call:\n"
		"#   dsvm-ubuntu.sh STEP\n"
		"# with DSVM_SOURCE naming the template's source (its target). On Azure it runs "
		"as\n"
		"# root on the build VM from the uploaded payload; tests/integration/"
		"test-packer-build.sh\n"
		"# runs the same steps against a local root. Environment:\n"
		"#   DSVM_SOURCE        the source (required)\n"
		"#   DSVM_MIRROR        a content-addressed mirror tried before upstream "
		"(optional)\n"
		"#   DSVM_ROOT          the system built (default /)\n"
		"#   DSVM_PAYLOAD       the uploaded payload (default: the folder above this "
		"script)\n"
		"#   DSVM_CACHE         the artifact cache (default /var/cache/dsvm)\n"
		"#   DSVM_IMAGE_OPTIONS more `dsvm-build image` options (tests: --no-systemctl)\n"
		"# Exit: 0 done, 64 usage, 1 a step failed (it says which and why), else that of\n"
		"# the program the step ran.\n"
		"set -eu\n"
		"step=${1:-}\n"
		"here=$(cd \"$(dirname \"$0\")\" && pwd)\n"
		"payload=${DSVM_PAYLOAD:-$(dirname \"$here\")}\n"
		"root=${DSVM_ROOT:-/}\n"
		"r=${root%%/}\n"
		"cache=${DSVM_CACHE:-/var/cache/dsvm}\n"
		"mirror=${DSVM_MIRROR:-}\n"
		"edition=%s\n"
		"die() {\n"
		"\techo \"dsvm-ubuntu.sh $step: $*\" >&2\n"
		"\texit 1\n"
		"}\n"
		"case ${DSVM_SOURCE:-} in\n",
		s->edition, s->edition_path);
	for (size_t i = 0; i < s->n_sources; i++) {
		const struct dsvm_packer_source *src = &s->sources[i];

		fprintf(f, "%s) target='%s' lock='%s' ;;\n", src->name, src->target_args,
			src->lock ? src->lock : "");
	}
	fputs("*)\n\techo \"dsvm-ubuntu.sh: DSVM_SOURCE='${DSVM_SOURCE:-}' is not a source of "
	      "this template; one of:",
	      f);
	for (size_t i = 0; i < s->n_sources; i++)
		fprintf(f, " %s", s->sources[i].name);
	fputs("\" >&2\n\texit 64\n\t;;\nesac\n"
	      "case $step in\n"
	      "wait-cloud-init)\n"
	      "\t# Only the running system's provisioning matters (a root built offline has "
	      "none),\n"
	      "\t# and where cloud-init never ran `status --wait` blocks for ever: bounded.\n"
	      "\t[ \"$root\" = / ] && command -v cloud-init >/dev/null || exit 0\n"
	      "\trc=0\n"
	      "\ttimeout 900 cloud-init status --wait >/dev/null || rc=$?\n"
	      "\tcase $rc in\n"
	      "\t0 | 2) ;; # 2: done, with recoverable errors\n"
	      "\t124) die \"cloud-init did not finish within 900 s: see "
	      "/var/log/cloud-init.log\" ;;\n"
	      "\t*) die \"cloud-init failed (status exit $rc): see /var/log/cloud-init.log\" ;;\n"
	      "\tesac\n"
	      "\t;;\n"
	      "install-agent)\n"
	      "\tinstall -D -m 0755 \"$payload/bin/dsvm-build\" \"$r/usr/local/bin/dsvm-build\"\n"
	      "\tinstall -D -m 0755 \"$payload/bin/dsvm-firstboot\" "
	      "\"$r/usr/sbin/dsvm-firstboot\"\n"
	      "\tinstall -D -m 0644 \"$payload/bin/dsvm-firstboot.service\" \\\n"
	      "\t\t\"$r/etc/systemd/system/dsvm-firstboot.service\"\n"
	      "\tif [ \"$root\" = / ]; then\n"
	      "\t\tmissing=$(ldd /usr/local/bin/dsvm-build /usr/sbin/dsvm-firstboot | "
	      "grep 'not found' || true)\n"
	      "\t\t[ -z \"$missing\" ] || die \"libraries the binaries need are missing on this "
	      "VM: $missing (build them on this edition's OS, or install those libraries first)\"\n"
	      "\tfi\n"
	      "\t;;\n"
	      "seed-cache)\n"
	      "\tmkdir -p \"$cache\"\n"
	      "\tfor f in \"$payload\"/cache/*; do\n"
	      "\t\t[ -f \"$f\" ] || continue\n"
	      "\t\t# Content-addressed: a file already there is the same artifact (fetch verifies "
	      "it).\n"
	      "\t\t[ -e \"$cache/${f##*/}\" ] || cp \"$f\" \"$cache/\"\n"
	      "\tdone\n"
	      "\t;;\n"
	      "image)\n"
	      "\tcd \"$payload\"\n"
	      "\tset -- image \"$edition\" --root \"$root\" --cache \"$cache\" --lock "
	      "\"$payload/built.lock.json\"\n"
	      "\t[ -z \"$mirror\" ] || set -- \"$@\" --mirror \"$mirror\"\n"
	      "\t# shellcheck disable=SC2086 # the target and options are words\n"
	      "\t\"$r/usr/local/bin/dsvm-build\" \"$@\" $target ${DSVM_IMAGE_OPTIONS:-}\n"
	      "\t# The same manifests give the same lock: anything else is not what was reviewed.\n"
	      "\tif [ -n \"$lock\" ] && ! cmp -s \"$lock\" built.lock.json; then\n"
	      "\t\tdie \"the lock built here differs from '$lock', the one generated with the "
	      "template: regenerate the template from the same manifests (make packer)\"\n"
	      "\tfi\n"
	      "\t;;\n"
	      "enable-agent)\n"
	      "\tsystemctl --root=\"$root\" enable dsvm-firstboot.service\n"
	      "\t;;\n"
	      "reset-agent)\n"
	      "\t\"$r/usr/sbin/dsvm-firstboot\" reset --root \"$root\"\n"
	      "\t;;\n"
	      "*)\n"
	      "\techo \"usage: dsvm-ubuntu.sh STEP (one of:",
	      f);
	for (size_t i = 0; i < dsvm_packer_n_ubuntu_steps; i++)
		fprintf(f, " %s", dsvm_packer_ubuntu_steps[i].name);
	fputs(")\" >&2\n\texit 64\n\t;;\nesac\n", f);
	return finish(f, &out, true);
}

int dsvm_packer_render(struct dsvm_ctx *ctx, const struct dsvm_packer_spec *spec,
		       struct dsvm_packer_files *ret)
{
	struct dsvm_packer_files files = { 0 };
	bool windows = streq(spec->platform, "windows");
	int r = 0;

	if (spec->n_sources == 0)
		return dsvm_set_error(ctx, -EINVAL, "a template needs at least one target");
	for (size_t i = 0; i < spec->n_sources; i++) {
		const struct dsvm_packer_source *src = &spec->sources[i];

		if (!name_is_valid(src->name))
			return dsvm_set_error(ctx, -EINVAL,
					      "'%s' is not a source name: lower-case letters, "
					      "digits and '-', starting with a letter",
					      src->name ? src->name : "");
		for (size_t j = 0; j < i; j++)
			if (streq(spec->sources[j].name, src->name))
				return dsvm_set_error(ctx, -EINVAL,
						      "two targets make the source '%s': name "
						      "each target once",
						      src->name);
		if (!word_is_plain(src->target_args) ||
		    (src->build_vm_size && !word_is_plain(src->build_vm_size)) ||
		    (src->lock && !word_is_plain(src->lock)))
			return dsvm_set_error(ctx, -EINVAL,
					      "target '%s' holds characters a template cannot "
					      "carry "
					      "unquoted",
					      src->target_args);
	}
	if (!word_is_plain(spec->edition) || !word_is_plain(spec->edition_path))
		return dsvm_set_error(ctx, -EINVAL,
				      "edition '%s' holds characters a template cannot carry "
				      "unquoted",
				      spec->edition_path);
	if (spec->dialect == DSVM_PACKER_PLUGIN && !(files.config = render_config()))
		r = -ENOMEM;
	if (r == 0 && !(files.variables = render_variables(spec)))
		r = -ENOMEM;
	if (r == 0 && !(files.sources = render_sources(ctx, spec, &r)) && r == 0)
		r = -ENOMEM;
	if (r == 0 &&
	    !(files.build = windows ? render_build_windows(spec) : render_build_linux(spec)))
		r = -ENOMEM;
	if (r == 0 && !windows && !(files.steps = render_steps(spec)))
		r = -ENOMEM;
	if (r < 0) {
		dsvm_packer_files_clear(&files);
		return r;
	}
	*ret = files;
	return 0;
}
