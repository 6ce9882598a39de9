/* SPDX-License-Identifier: MIT */
/*
 * apt and dpkg helpers shared by the install steps and the offline switch (lib/apt-internal.h).
 */
#include <dirent.h>
#include <stdarg.h>

#include "apt-internal.h"
#include "exec-internal.h"
#include "internal.h"

#define MAX_STATUS_BYTES (512u << 20)
#define OUTPUT_TAIL 1500

static void args_push(struct args *a, const char *s, char *owned)
{
	if (!a->oom && a->n + 2 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 32;
		const char **v = reallocarray(a->v, cap, sizeof(*v));
		char **o = v ? reallocarray(a->owned, cap, sizeof(*o)) : NULL;

		if (v)
			a->v = v;
		if (o)
			a->owned = o;
		if (!v || !o)
			a->oom = true;
		else
			a->cap = cap;
	}
	if (a->oom || !s) {
		a->oom = true;
		free(owned);
		return;
	}
	a->owned[a->n] = owned;
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

void args_add(struct args *a, const char *s)
{
	args_push(a, s, NULL);
}

void args_addf(struct args *a, const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	args_push(a, s, s);
}

void args_done(struct args *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->owned[i]);
	free(a->owned);
	free(a->v);
	*a = (struct args){ 0 };
}

const char *apt_output_tail(const char *out)
{
	size_t n = out ? strlen(out) : 0;
	const char *t;

	if (n == 0)
		return "(no output)";
	t = n > OUTPUT_TAIL ? out + n - OUTPUT_TAIL : out;
	if (t != out && strchr(t, '\n'))
		t = strchr(t, '\n') + 1;
	return t;
}

bool apt_output_is_unverified(const char *out)
{
	static const char *const unverified[] = {
		"Hash Sum mismatch",	"is not signed", "NO_PUBKEY", "GPG error", "BADSIG",
		"couldn't be verified", "Size mismatch"
	};

	for (size_t i = 0; out && i < ARRAY_SIZE(unverified); i++)
		if (strstr(out, unverified[i]))
			return true;
	return false;
}

int dpkg_status_read(struct dsvm_ctx *ctx, struct deb_list *status)
{
	_cleanup_free_ char *p = dsvm_root_path(ctx, DPKG_STATUS), *text = NULL;
	size_t len = 0;
	int r;

	if (!p)
		return -ENOMEM;
	deb_list_done(status);
	r = read_file_capped(p, MAX_STATUS_BYTES, &text, &len);
	if (r < 0)
		return dsvm_set_error(ctx, r, "cannot read dpkg's status '%s': %s", p,
				      strerror(-r));
	return deb_list_parse(status, text, len);
}

bool dpkg_is_interrupted(struct dsvm_ctx *ctx, const struct deb_list *status)
{
	_cleanup_free_ char *p = dsvm_root_path(ctx, DPKG_UPDATES);
	DIR *d = p ? opendir(p) : NULL;
	struct dirent *de;
	bool pending = false;

	while (d && !pending && (de = readdir(d)))
		pending = de->d_name[0] != '.';
	if (d)
		closedir(d);
	for (size_t i = 0; i < status->n && !pending; i++)
		pending = deb_pkg_is_half_done(&status->v[i]);
	return pending;
}

int dpkg_recover(struct dsvm_ctx *ctx, struct deb_list *status, unsigned timeout_s, const char *who,
		 bool *ret_ran)
{
	static const char *const argv[] = {
		DPKG, "--force-confdef", "--force-confold", "--configure", "-a", NULL
	};
	_cleanup_free_ char *out = NULL;
	int r;

	if (!dpkg_is_interrupted(ctx, status)) {
		if (ret_ran)
			*ret_ran = false;
		return 0;
	}
	dsvm_warn(ctx, "%s: dpkg was interrupted; running 'dpkg --configure -a'", who);
	r = dsvm_root_run(ctx, argv, NULL, timeout_s, &out);
	if (r > 0)
		r = dsvm_set_error(ctx, -EIO,
				   "%s: dpkg was interrupted and 'dpkg --configure -a' in '%s' "
				   "failed "
				   "(exit status %d); its output ended:\n%s",
				   who, dsvm_ctx_get_root(ctx), r, apt_output_tail(out));
	if (r == 0)
		r = dpkg_status_read(ctx, status);
	if (r == 0 && ret_ran)
		*ret_ran = true;
	return r;
}
