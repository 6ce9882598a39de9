/* SPDX-License-Identifier: MIT */
/*
 * dsvm_install_lock on locks built in memory: what each kind does, the report, the counts, a
 * rerun that changes nothing, a service disabled after it was enabled, and the refusals (a
 * destination that leaves the root, a missing or changed cache file, a redist without a toolkit,
 * a component name that could not be a path, a root another run holds). The archive and redist
 * kinds, kills and disk faults are covered by tests/integration/test-install*.sh.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include <jansson.h>

#include "unit.h"
#include "dsvm/install.h"
#include "dsvm/journal.h"
#include "dsvm/lock.h"
#include "lock-internal.h"

static char work[64], root[96], cache[96];
static char conf_sha[65], run_sha[65];

static void put(const char *dir, const char *name, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void sha_of(const char *text, char out[65])
{
	char cmd[256];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "printf '%%s' '%s' | sha256sum", text);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%64s", out), 1);
	pclose(p);
}

static int setup(void **state)
{
	(void)state;
	snprintf(work, sizeof(work), "/tmp/dsvm-install-XXXXXX");
	assert_non_null(mkdtemp(work));
	snprintf(root, sizeof(root), "%s/root", work);
	snprintf(cache, sizeof(cache), "%s/cache", work);
	assert_int_equal(mkdir(cache, 0755), 0);
	sha_of("options nouveau modeset=0\n", conf_sha);
	sha_of("runfile bytes\n", run_sha);
	put(cache, conf_sha, "options nouveau modeset=0\n");
	put(cache, run_sha, "runfile bytes\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work);
	return system(cmd) == 0 ? 0 : -1;
}

/* A lock of four components; first, when not NULL, replaces the first component's JSON. */
static struct dsvm_lock *make_lock(const char *first)
{
	char text[4096];
	struct dsvm_lock *lock = NULL;
	json_t *j;

	snprintf(text, sizeof(text),
		 "{\"lock_version\": 1, \"edition\": \"t\", \"os\": \"ubuntu-22.04\","
		 " \"platform\": \"linux\", \"arch\": \"x86_64\", \"components\": [%s,"
		 " {\"order\": 2, \"name\": \"svc\", \"kind\": \"service\", \"action\": "
		 "\"install\","
		 "  \"source\": {\"unit\": \"a.service\", \"enable\": true}, \"artifacts\": []},"
		 " {\"order\": 3, \"name\": \"w\", \"kind\": \"conda\", \"version\": \"1\","
		 "  \"action\": \"install\", \"source\": {}, \"artifacts\": []},"
		 " {\"order\": 4, \"name\": \"r\", \"kind\": \"runfile\", \"version\": \"1\","
		 "  \"action\": \"stage\", \"source\": {}, \"artifacts\": [{\"name\": \"r.run\","
		 "  \"url\": \"https://x.test/r.run\", \"sha256\": \"%s\"}]}]}",
		 first ? first
		       : "{\"order\": 1, \"name\": \"conf\", \"kind\": \"file\", \"version\": "
			 "\"1\","
			 " \"action\": \"install\", \"source\": {\"dest\": \"/etc/m/x.conf\"},"
			 " \"artifacts\": [{\"name\": \"x.conf\", \"url\": \"https://x.test/x\","
			 " \"sha256\": \"@CONF@\"}]}",
		 run_sha);
	/* The file component's hash is only known at run time. */
	for (char *p; (p = strstr(text, "@CONF@"));) {
		memmove(p + 64, p + 6, strlen(p + 6) + 1);
		memcpy(p, conf_sha, 64);
	}
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	assert_int_equal(dsvm_lock_new_from_json(j, &lock), 0);
	json_decref(j);
	return lock;
}

struct events {
	char text[2048];
};

static void on_event(void *userdata, const struct dsvm_install_event *e)
{
	struct events *ev = userdata;
	size_t n = strlen(ev->text);

	snprintf(ev->text + n, sizeof(ev->text) - n, "%u:%s:%d%s%s;", e->step, e->name,
		 (int)e->outcome, e->reason ? ":" : "", e->reason ? "why" : "");
}

static int install(struct dsvm_ctx *ctx, struct dsvm_lock *lock, struct events *ev,
		   struct dsvm_install_stats *st)
{
	struct dsvm_install_options o = {
		.cache_dir = cache,
		.report = ev ? on_event : NULL,
		.report_userdata = ev,
	};

	return dsvm_install_lock(ctx, lock, &o, st);
}

static struct dsvm_ctx *root_ctx(const char *r)
{
	struct dsvm_ctx *ctx = unit_ctx();

	assert_ok(ctx, dsvm_ctx_set_root(ctx, r));
	return ctx;
}

static void test_install_and_rerun(void **state)
{
	struct dsvm_ctx *ctx = root_ctx(root);
	struct dsvm_lock *lock = make_lock(NULL);
	struct dsvm_install_stats st = { 0 };
	struct events ev = { "" };
	char p[256], link[256];
	struct stat s;
	ssize_t n;

	(void)state;
	assert_int_equal(dsvm_install_count_steps(lock), 5);
	assert_ok(ctx, install(ctx, lock, &ev, &st));
	assert_string_equal(ev.text, "1:conf:0;2:svc:0;0:w:3:why;3:r:0;4:lock.json:0;5:sbom.json:"
				     "0;");
	assert_int_equal(st.steps, 5);
	assert_int_equal(st.installed, 4);
	assert_int_equal(st.staged, 1);
	assert_int_equal(st.deferred, 1);
	assert_int_equal(st.unchanged, 0);
	assert_int_equal(st.resumed_at, 0);
	snprintf(p, sizeof(p), "%s/etc/m/x.conf", root);
	assert_int_equal(stat(p, &s), 0);
	assert_int_equal(s.st_mode & 07777, 0644);
	snprintf(p, sizeof(p), "%s/var/lib/dsvm/repo/%s", root, run_sha);
	assert_int_equal(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/etc/systemd/system/multi-user.target.wants/a.service", root);
	n = readlink(p, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	assert_string_equal(link, "/lib/systemd/system/a.service");
	snprintf(p, sizeof(p), "%s/usr/share/dsvm/sbom.json", root);
	assert_int_equal(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s%s/install.journal", root, DSVM_JOURNAL_DIR);
	assert_int_equal(access(p, F_OK), -1);

	ev.text[0] = '\0';
	assert_ok(ctx, install(ctx, lock, &ev, &st));
	assert_string_equal(ev.text, "1:conf:1;2:svc:1;0:w:3:why;3:r:1;4:lock.json:1;5:sbom.json:"
				     "1;");
	assert_int_equal(st.unchanged, 5);
	assert_int_equal(st.installed + st.staged, 0);
	dsvm_lock_free(lock);

	/* The same unit, now disabled: the link goes; again: nothing to do. */
	lock = make_lock(NULL);
	json_object_set_new(
		json_object_get(json_array_get(json_object_get(dsvm_lock_json(lock), "components"),
					       1),
				"source"),
		"enable", json_false());
	assert_ok(ctx, install(ctx, lock, NULL, &st));
	snprintf(p, sizeof(p), "%s/etc/systemd/system/multi-user.target.wants/a.service", root);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	assert_ok(ctx, install(ctx, lock, NULL, &st));
	assert_int_equal(st.unchanged, 5);
	dsvm_lock_free(lock);
	dsvm_ctx_free(ctx);
}

static void expect_refusal(const char *first, int want, const char *needle)
{
	char r[128];
	struct dsvm_ctx *ctx;
	struct dsvm_lock *lock = make_lock(first);

	snprintf(r, sizeof(r), "%s/refused", work);
	ctx = root_ctx(r);
	assert_int_equal(install(ctx, lock, NULL, NULL), want);
	assert_error_contains(ctx, needle);
	dsvm_lock_free(lock);
	dsvm_ctx_free(ctx);
}

static void test_refusals(void **state)
{
	char p[256];
	struct dsvm_ctx *ctx;
	struct dsvm_journal *j = NULL;
	struct dsvm_lock *lock;

	(void)state;
	expect_refusal("{\"order\": 1, \"name\": \"conf\", \"kind\": \"file\", \"action\": "
		       "\"install\","
		       " \"source\": {\"dest\": \"/etc/../../x\"}, \"artifacts\": [{\"name\": "
		       "\"x\","
		       " \"sha256\": \"@CONF@\"}]}",
		       -EBADMSG, "not a clean absolute path");
	expect_refusal("{\"order\": 1, \"name\": \"conf\", \"kind\": \"file\", \"action\": "
		       "\"install\","
		       " \"source\": {\"dest\": \"/etc/x\"}, \"artifacts\": [{\"name\": \"x\","
		       " \"sha256\": \""
		       "0000000000000000000000000000000000000000000000000000000000000000"
		       "\"}]}",
		       -ENOENT, "run 'dsvm-build fetch' first");
	expect_refusal("{\"order\": 1, \"name\": \"cudnn\", \"kind\": \"nvidia-redist\","
		       " \"version\": \"9.9.0\", \"action\": \"install\", \"source\": {},"
		       " \"artifacts\": []}",
		       -EBADMSG, "no component of the lock provides cuda-toolkit");
	expect_refusal("{\"order\": 1, \"name\": \"../x\", \"kind\": \"file\", \"action\": "
		       "\"install\","
		       " \"source\": {}, \"artifacts\": []}",
		       -EBADMSG, "'../x' refused");
	expect_refusal("{\"order\": 1, \"name\": \"s\", \"kind\": \"service\", \"action\": "
		       "\"install\","
		       " \"source\": {\"unit\": \"../a.service\", \"enable\": true}, "
		       "\"artifacts\": []}",
		       -EBADMSG, "bad unit name");

	/*
	 * A cache file changed after fetch, into a fresh root (where the file is already in place
	 * the cache is not read at all).
	 */
	snprintf(p, sizeof(p), "%s/tampered", work);
	assert_int_equal(mkdir(p, 0755), 0);
	put(p, conf_sha, "options nouveau modeset=1\n");
	{
		struct dsvm_install_options o = { .cache_dir = p };
		char fresh[128];

		snprintf(fresh, sizeof(fresh), "%s/fresh", work);
		ctx = root_ctx(fresh);
		lock = make_lock(NULL);
		assert_int_equal(dsvm_install_lock(ctx, lock, &o, NULL), -EBADMSG);
		assert_error_contains(ctx, "no longer matches the lock");
		snprintf(fresh, sizeof(fresh), "%s/fresh/etc/m", work);
		assert_int_equal(access(fresh, F_OK), -1); /* nothing of it reached the root */
		dsvm_lock_free(lock);
		dsvm_ctx_free(ctx);
	}

	/* Another run holds the root. */
	ctx = root_ctx(root);
	lock = make_lock(NULL);
	assert_ok(ctx, dsvm_journal_open(ctx, "install", "other", &j));
	assert_int_equal(install(ctx, lock, NULL, NULL), -EBUSY);
	dsvm_journal_free(j);
	assert_ok(ctx, install(ctx, lock, NULL, NULL));
	dsvm_lock_free(lock);
	dsvm_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_install_and_rerun),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
