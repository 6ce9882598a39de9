/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsvm/exec.h"
#include "dsvm/fetch.h"
#include "dsvm/pe.h"
#include "dsvm/seal.h"
#include "internal.h"
#include "manifest-internal.h"
#include "seal-internal.h"
#include "sha256.h"

#define OSSLSIGNCODE "/usr/bin/osslsigncode"
#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

/* osslsigncode's verify output. */

void dsvm_authenticode_clear(struct dsvm_authenticode *a)
{
	free(a->subject);
	for (size_t i = 0; i < a->n_chain; i++)
		free(a->chain[i]);
	*a = (struct dsvm_authenticode){ 0 };
}

/* The value after "Subject:" or "Issuer :" on the line at p, trimmed; NULL on OOM. */
static char *line_value(const char *p)
{
	const char *colon = strchr(p, ':'), *end;

	if (!colon)
		return strdup("");
	colon++;
	while (*colon == ' ' || *colon == '\t')
		colon++;
	end = colon + strcspn(colon, "\r\n");
	while (end > colon && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return strndup(colon, (size_t)(end - colon));
}

/* The common name of a one-line subject ("/C=US/CN=x"), or the whole text without one. */
static char *common_name(const char *subject)
{
	const char *cn = NULL;

	for (const char *s = subject; (s = strstr(s, "/CN=")); s += 4)
		cn = s + 4;
	if (!cn)
		return strdup(subject);
	return strndup(cn, strcspn(cn, "/"));
}

struct cert_pair {
	char *subject, *issuer;
};

/*
 * Every certificate the output lists (a "Subject:" line followed by an "Issuer :" line): the
 * signer's, the ones embedded in the signature (2.5 prints them under "Number of
 * certificates"), and the verified chain (2.9 prints it root first under "Signing certificate
 * chain verified using").
 */
static int collect_pairs(const char *out, struct cert_pair *v, size_t max, size_t *n)
{
	*n = 0;
	for (const char *s = out; (s = strstr(s, "Subject:")) && *n < max;) {
		const char *next = strchr(s, '\n'), *iss;

		if (!next)
			break;
		iss = next + 1 + strspn(next + 1, " \t");
		if (strncmp(iss, "Issuer :", 8) == 0 || strncmp(iss, "Issuer:", 7) == 0) {
			v[*n].subject = line_value(s);
			v[*n].issuer = line_value(iss);
			if (!v[*n].subject || !v[*n].issuer) {
				free(v[*n].subject);
				free(v[*n].issuer);
				return -ENOMEM;
			}
			(*n)++;
		}
		s = next + 1;
	}
	return 0;
}

int dsvm_authenticode_parse(const char *out, int status, struct dsvm_authenticode *ret)
{
	struct dsvm_authenticode a = { .verdict = DSVM_AUTHENTICODE_FAILED };
	struct cert_pair pairs[32];
	const char *signer, *issuer = NULL;
	size_t n_pairs = 0;
	int r;

	if (strstr(out, "No signature found"))
		a.verdict = DSVM_AUTHENTICODE_UNSIGNED;
	else if (strstr(out, "MISMATCH"))
		a.verdict = DSVM_AUTHENTICODE_TAMPERED;
	else if (strstr(out, "unable to get local issuer certificate") ||
		 strstr(out, "certificate verify error") ||
		 strstr(out, "self-signed certificate") || strstr(out, "self signed certificate"))
		a.verdict = DSVM_AUTHENTICODE_UNTRUSTED;
	else if (status == 0 && strstr(out, "Signature verification: ok") &&
		 strstr(out, "\nSucceeded"))
		a.verdict = DSVM_AUTHENTICODE_OK;

	r = collect_pairs(out, pairs, sizeof(pairs) / sizeof(pairs[0]), &n_pairs);
	signer = strstr(out, "Signer's certificate:");
	/* The signer's certificate is the first one listed after that heading. */
	if (r >= 0 && signer && strstr(signer, "Subject:")) {
		a.subject = line_value(strstr(signer, "Subject:"));
		if (!a.subject)
			r = -ENOMEM;
		for (size_t k = 0; r >= 0 && k < n_pairs && !issuer; k++)
			if (streq(pairs[k].subject, a.subject))
				issuer = pairs[k].issuer;
	}
	/* Walk up from the signer's issuer: each name, then that certificate's issuer. */
	while (r >= 0 && issuer && a.n_chain < sizeof(a.chain) / sizeof(a.chain[0])) {
		const char *up = NULL;

		a.chain[a.n_chain] = common_name(issuer);
		if (!a.chain[a.n_chain]) {
			r = -ENOMEM;
			break;
		}
		a.n_chain++;
		for (size_t k = 0; k < n_pairs && !up; k++)
			if (streq(pairs[k].subject, issuer) && !streq(pairs[k].issuer, issuer))
				up = pairs[k].issuer;
		issuer = up;
	}
	for (size_t i = 0; i < n_pairs; i++) {
		free(pairs[i].subject);
		free(pairs[i].issuer);
	}
	if (r < 0) {
		dsvm_authenticode_clear(&a);
		return r;
	}
	/* A success that names no signer is not one this parser understood. */
	if (a.verdict == DSVM_AUTHENTICODE_OK && (!a.subject || a.n_chain == 0))
		a.verdict = DSVM_AUTHENTICODE_FAILED;
	*ret = a;
	return 0;
}

/* Sealing. */

struct download {
	int fd;
	const char *path;
};

static int dl_restart(void *userdata, uint64_t max_keep, dsvm_fetch_feed_fn feed,
		      void *feed_userdata, uint64_t *ret_offset)
{
	struct download *d = userdata;

	(void)max_keep, (void)feed, (void)feed_userdata;
	if (ftruncate(d->fd, 0) < 0 || lseek(d->fd, 0, SEEK_SET) < 0)
		return -errno;
	*ret_offset = 0;
	return 0;
}

static int dl_write(void *userdata, const void *buf, size_t size)
{
	struct download *d = userdata;

	return write_all(d->fd, buf, size);
}

static int dl_commit(void *userdata)
{
	struct download *d = userdata;

	return fsync(d->fd) < 0 ? -errno : 0;
}

static void dl_abandon(void *userdata, bool keep_partial)
{
	struct download *d = userdata;

	/* Nothing partial is worth keeping: a seal starts from byte 0 every time. */
	(void)keep_partial;
	(void)!ftruncate(d->fd, 0);
}

static const struct dsvm_fetch_sink_ops download_ops = {
	.restart = dl_restart,
	.write = dl_write,
	.commit = dl_commit,
	.abandon = dl_abandon,
};

/* One signer-pinned artifact of the manifest, from whichever layer names it. */
struct pinned {
	const struct component *c;
	const struct source *s;
};

static int collect_fields(const struct component *c, const struct fields *f, struct pinned **v,
			  size_t *n)
{
	struct pinned *nv;

	if (!f->has_source || !f->source.authenticode.node)
		return 0;
	for (size_t i = 0; i < *n; i++)
		if ((*v)[i].c == c &&
		    streq((*v)[i].s->artifacts[0].url, f->source.artifacts[0].url))
			return 0;
	nv = realloc(*v, (*n + 1) * sizeof(**v));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	(*v)[(*n)++] = (struct pinned){ .c = c, .s = &f->source };
	return 0;
}

static int collect_pinned(const struct dsvm_manifest *m, struct pinned **ret, size_t *ret_n)
{
	struct pinned *v = NULL;
	size_t n = 0;
	int r = 0;

	for (size_t i = 0; r >= 0 && i < m->n_components; i++) {
		const struct component *c = &m->components[i];
		const struct override_layer *layers[] = { &c->os, &c->arch, &c->vm_family };

		r = collect_fields(c, &c->common, &v, &n);
		for (size_t l = 0; r >= 0 && l < 3; l++)
			for (size_t k = 0; r >= 0 && k < layers[l]->n; k++)
				r = collect_fields(c, &layers[l]->v[k].fields, &v, &n);
		if (r >= 0 && c->has_defaults)
			r = collect_fields(c, &c->defaults, &v, &n);
	}
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static const char *verdict_text(enum dsvm_authenticode_verdict v)
{
	switch (v) {
	case DSVM_AUTHENTICODE_UNSIGNED:
		return "is not signed at all (no Authenticode signature)";
	case DSVM_AUTHENTICODE_TAMPERED:
		return "does not match its own signature: it was changed after it was signed";
	case DSVM_AUTHENTICODE_UNTRUSTED:
		return "is signed through a chain that does not end at a trusted CA";
	default:
		return "failed signature verification";
	}
}

/* Check one downloaded artifact against its pin; on success fill e (sha256, size, version). */
static int check_artifact(struct dsvm_ctx *ctx, const struct dsvm_seal_options *o,
			  const struct pinned *p, const char *file, struct seal_entry *e)
{
	const struct authenticode_pin *pin = &p->s->authenticode;
	const struct artifact *art = &p->s->artifacts[0];
	const char *ca = o->ca_file ? o->ca_file : SYSTEM_CA_BUNDLE;
	const char *tool = o->osslsigncode ? o->osslsigncode : OSSLSIGNCODE;
	const char *argv[] = { tool, "verify", "-CAfile", ca, "-in", file, NULL };
	_cleanup_free_ char *out = NULL;
	struct dsvm_authenticode a;
	char at[256], version[DSVM_PE_VERSION_MAX] = "";
	struct stat st;
	int r, status;

	node_position(p->c->doc, art->node, at, sizeof(at));
	if (stat(file, &st) < 0)
		return dsvm_set_error(ctx, -errno, "cannot stat '%s'", file);
	if (art->has_size && (uint64_t)st.st_size != art->size)
		return dsvm_set_error(ctx, -EBADMSG,
				      "%s: '%s' (%s) is %" PRIu64 " bytes, the pin says %llu: "
				      "another file than the one pinned",
				      at, p->c->name, art->url, (uint64_t)st.st_size, art->size);
	status = dsvm_host_run(ctx, argv, NULL, o->timeout_s ? o->timeout_s : 300, &out);
	if (status < 0)
		return status;
	r = dsvm_authenticode_parse(out, status, &a);
	if (r < 0)
		return r;
	if (a.verdict != DSVM_AUTHENTICODE_OK) {
		r = dsvm_set_error(ctx, -EBADMSG, "%s: '%s' (%s) %s (osslsigncode verify exit %d)",
				   at, p->c->name, art->url, verdict_text(a.verdict), status);
		goto out;
	}
	if (!signer_subject_matches(pin->subject, a.subject)) {
		r = dsvm_set_error(ctx, -EBADMSG,
				   "%s: '%s' (%s) is signed by '%s', not by the pinned signer "
				   "'%s'",
				   at, p->c->name, art->url, a.subject, pin->subject);
		goto out;
	}
	for (size_t i = 0; i < pin->chain.n; i++)
		if (i >= a.n_chain || !streq(pin->chain.v[i], a.chain[i])) {
			r = dsvm_set_error(ctx, -EBADMSG,
					   "%s: '%s' (%s) is issued through '%s' where the pin "
					   "says '%s' (chain entry %zu)",
					   at, p->c->name, art->url,
					   i < a.n_chain ? a.chain[i] : "(nothing)",
					   pin->chain.v[i], i + 1);
			goto out;
		}
	{
		_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
		void *map = MAP_FAILED;

		if (fd < 0 || (st.st_size > 0 && (map = mmap(NULL, (size_t)st.st_size, PROT_READ,
							     MAP_PRIVATE, fd, 0)) == MAP_FAILED)) {
			r = dsvm_set_error(ctx, -errno, "cannot read '%s'", file);
			goto out;
		}
		r = dsvm_pe_file_version(map == MAP_FAILED ? "" : map, (size_t)st.st_size, version);
		if (map != MAP_FAILED)
			munmap(map, (size_t)st.st_size);
	}
	/* No version resource (an msi), or none this parser can read: the seal says '-'. */
	if (r == -ENOENT || r == -EBADMSG)
		version[0] = '\0';
	if (pin->file_version && !streq(pin->file_version, version)) {
		r = dsvm_set_error(ctx, -EBADMSG,
				   "%s: '%s' (%s) has file version '%s', the pin says '%s': "
				   "another version than the one pinned",
				   at, p->c->name, art->url, version[0] ? version : "(none)",
				   pin->file_version);
		goto out;
	}
	r = sha256_file_hex(file, e->sha256);
	if (r < 0) {
		r = dsvm_set_error(ctx, r, "cannot hash '%s'", file);
		goto out;
	}
	e->size = (uint64_t)st.st_size;
	snprintf(e->file_version, sizeof(e->file_version), "%s", version);
out:
	dsvm_authenticode_clear(&a);
	return r;
}

static int seal_one(struct dsvm_ctx *ctx, const struct dsvm_seal_options *o, const struct pinned *p,
		    size_t index, struct seal_entry *e)
{
	_cleanup_free_ char *file =
		strdup_printf("%s/%zu-%s.download", o->work_dir, index, p->c->name);
	_cleanup_close_ int fd = -1;
	char hex[65] = "";
	struct download d;
	struct dsvm_fetch_sink sink = { .ops = &download_ops, .userdata = &d };
	struct dsvm_fetch_item item = {
		.name = p->c->name,
		.url = p->s->artifacts[0].url,
		.size = p->s->artifacts[0].has_size ? p->s->artifacts[0].size : 0,
		.sink = &sink,
		.ret_sha256 = hex,
	};
	struct dsvm_fetch_options fo = { .cache_dir = o->work_dir, .ca_file = o->tls_ca_file };
	int r;

	if (!file)
		return -ENOMEM;
	fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return dsvm_set_error(ctx, -errno, "cannot create '%s'", file);
	d = (struct download){ .fd = fd, .path = file };
	r = dsvm_fetch_items(ctx, &fo, &item, 1, NULL);
	if (r >= 0)
		r = check_artifact(ctx, o, p, file, e);
	/* The digest the fetch computed and the one of the file checked must agree. */
	if (r >= 0 && !streq(hex, e->sha256))
		r = dsvm_set_error(ctx, -EIO, "'%s' changed on disk while it was checked", file);
	unlink(file);
	if (r < 0)
		return r;
	e->component = strdup(p->c->name);
	e->url = strdup(p->s->artifacts[0].url);
	return e->component && e->url ? 0 : -ENOMEM;
}

static int write_seal(struct dsvm_ctx *ctx, const struct dsvm_manifest *m, struct seal_entry *v,
		      size_t n)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int r;

	if (!f)
		return -ENOMEM;
	if (n > 1)
		qsort(v, n, sizeof(*v), seal_entry_qsort_cmp);
	fprintf(f,
		"# Seal of edition %s (written by 'dsvm-build seal'): the sha256 of every "
		"artifact\n"
		"# its manifests pin by the Authenticode signer. Commit it beside the manifest, as "
		"Go\n"
		"# commits go.sum, and review every change. Format: manifests/SCHEMA.md.\n",
		m->edition);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s %s %s %" PRIu64 " %s\n", v[i].component, v[i].url, v[i].sha256,
			v[i].size, v[i].file_version[0] ? v[i].file_version : "-");
	if (fclose(f) != 0)
		return -ENOMEM;
	r = write_file_atomic(m->seal.path, text, len, 0644);
	if (r < 0)
		return dsvm_set_error(ctx, r, "cannot write seal file '%s': %s", m->seal.path,
				      strerror(-r));
	return 0;
}

int dsvm_seal_edition(struct dsvm_ctx *ctx, const struct dsvm_manifest *m,
		      const struct dsvm_seal_options *opts, struct dsvm_seal_result *ret)
{
	struct dsvm_seal_result res = { 0 };
	struct seal_entry *v = NULL;
	struct pinned *pins = NULL;
	size_t n_pins = 0, n = 0;
	int r;

	if (!opts || !opts->work_dir || !m->seal.path)
		return dsvm_set_error(ctx, -EINVAL, "sealing needs a work directory");
	r = mkdir_parents(opts->work_dir, 0700);
	if (r < 0)
		return dsvm_set_error(ctx, r, "cannot create '%s': %s", opts->work_dir,
				      strerror(-r));
	r = collect_pinned(m, &pins, &n_pins);
	if (r >= 0 && n_pins && !(v = calloc(n_pins, sizeof(*v))))
		r = -ENOMEM;
	for (size_t i = 0; r >= 0 && i < n_pins; i++) {
		const struct seal_entry *old;

		r = seal_one(ctx, opts, &pins[i], i, &v[n]);
		n++;
		if (r < 0)
			break;
		old = seal_file_find(&m->seal, v[n - 1].component, v[n - 1].url);
		if (old && !streq(old->sha256, v[n - 1].sha256)) {
			char at[256];

			r = dsvm_set_error(ctx, -EBADMSG,
					   "%s: '%s' (%s) changed after it was sealed: %s:%u says "
					   "sha256 %s, the file now has %s; a new file needs a new "
					   "URL or pin, and a review",
					   node_position(pins[i].c->doc,
							 pins[i].s->artifacts[0].node, at,
							 sizeof(at)),
					   v[n - 1].component, v[n - 1].url, m->seal.path,
					   old->line, old->sha256, v[n - 1].sha256);
			break;
		}
		if (old)
			res.kept++;
		else
			res.sealed++;
	}
	if (r >= 0) {
		for (size_t i = 0; i < m->seal.n; i++)
			if (!seal_file_find(&(struct seal_file){ .v = v, .n = n },
					    m->seal.v[i].component, m->seal.v[i].url))
				res.dropped++;
		r = write_seal(ctx, m, v, n);
	}
	for (size_t i = 0; i < n; i++) {
		free(v[i].component);
		free(v[i].url);
	}
	free(v);
	free(pins);
	if (r >= 0 && ret)
		*ret = res;
	return r;
}
