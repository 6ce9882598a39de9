/* SPDX-License-Identifier: MIT */
/*
 * The image's offline repository signed by a key of its own (lib/apt-internal.h): a fresh
 * ed25519 key per signing, in a private temporary GNUPGHOME on the build host, destroyed with
 * that directory as soon as the signatures and the public key are out.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "apt-internal.h"
#include "exec-internal.h"
#include "internal.h"

#define GPG "/usr/bin/gpg"
#define GPGCONF "/usr/bin/gpgconf"
#define KEY_NAME "dsvm offline repository"
#define SIGN_TIMEOUT_S 60u
#define MAX_SIGNATURE_BYTES (1u << 20)
#define HOME_PREFIX "dsvm-sign-"
/* A home without its lock file is either being made (seconds) or older than locks: gone after. */
#define UNLOCKED_HOME_AGE_S 3600

void repo_signature_done(struct repo_signature *s)
{
	free(s->inrelease);
	free(s->release_gpg);
	free(s->key);
	*s = (struct repo_signature){ 0 };
}

/* gpg with the temporary home, batch, no passphrase, then args. */
static int gpg(struct dsvm_ctx *ctx, const char *home, const char *const *args)
{
	struct args a = { 0 };
	int r;

	args_add(&a, GPG);
	args_add(&a, "--batch");
	args_add(&a, "--quiet");
	args_add(&a, "--no-tty");
	args_add(&a, "--homedir");
	args_add(&a, home);
	args_add(&a, "--pinentry-mode");
	args_add(&a, "loopback");
	args_add(&a, "--passphrase");
	args_add(&a, "");
	for (const char *const *s = args; *s; s++)
		args_add(&a, *s);
	r = a.oom ? -ENOMEM
		  : run_program(ctx, "/", a.v, NULL, SIGN_TIMEOUT_S, RUN_MUST_SUCCEED, NULL);
	args_done(&a);
	return r;
}

static int read_output_file(struct dsvm_ctx *ctx, const char *home, const char *name, char **ret,
			    size_t *ret_len)
{
	_cleanup_free_ char *p = strdup_printf("%s/%s", home, name);
	int r = p ? read_file_capped(p, MAX_SIGNATURE_BYTES, ret, ret_len) : -ENOMEM;

	if (r < 0)
		return dsvm_set_error(ctx, r, "gpg wrote no '%s': %s", p ? p : name, strerror(-r));
	return 0;
}

static int sign_in(struct dsvm_ctx *ctx, const char *home, const char *release,
		   struct repo_signature *s)
{
	_cleanup_free_ char *rel = strdup_printf("%s/Release", home);
	_cleanup_free_ char *in = strdup_printf("%s/InRelease", home);
	_cleanup_free_ char *det = strdup_printf("%s/Release.gpg", home);
	_cleanup_free_ char *pub = strdup_printf("%s/key.gpg", home);
	int r;

	if (!rel || !in || !det || !pub)
		return -ENOMEM;
	{
		const char *args[] = {
			"--quick-gen-key", KEY_NAME, "ed25519", "sign", "never", NULL
		};

		r = gpg(ctx, home, args);
		if (r < 0)
			return r;
	}
	r = write_file_atomic(rel, release, strlen(release), 0600);
	if (r < 0)
		return dsvm_set_error(ctx, r, "cannot write '%s': %s", rel, strerror(-r));
	{
		const char *clear[] = { "--clearsign", "--output", in, rel, NULL };
		const char *detach[] = { "--detach-sign", "--armor", "--output", det, rel, NULL };
		const char *export[] = { "--export", "--output", pub, NULL };

		r = gpg(ctx, home, clear);
		if (r == 0)
			r = gpg(ctx, home, detach);
		if (r == 0)
			r = gpg(ctx, home, export);
	}
	if (r == 0)
		r = read_output_file(ctx, home, "InRelease", &s->inrelease, NULL);
	if (r == 0)
		r = read_output_file(ctx, home, "Release.gpg", &s->release_gpg, NULL);
	if (r == 0)
		r = read_output_file(ctx, home, "key.gpg", &s->key, &s->key_len);
	if (r == 0 && s->key_len == 0)
		r = dsvm_set_error(ctx, -EIO, "gpg exported an empty public key from '%s'", home);
	return r;
}

/*
 * A signing run that was killed leaves its home behind, the private key in it. Each run holds
 * an flock on <home>/lock while it lives (the kernel drops it when the process dies), so a home
 * of ours whose lock nobody holds belongs to a dead run: removed before making a new one.
 */
static void sweep_dead_homes(struct dsvm_ctx *ctx, const char *tmp)
{
	_cleanup_closedir_ DIR *d = opendir(tmp);
	const struct dirent *de;

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *path = NULL;
		_cleanup_close_ int dfd = -1, lfd = -1;
		struct stat st;

		if (strncmp(de->d_name, HOME_PREFIX, strlen(HOME_PREFIX)) != 0)
			continue;
		dfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0 || fstat(dfd, &st) < 0 || st.st_uid != geteuid())
			continue;
		lfd = openat(dfd, "lock", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (lfd < 0 ? time(NULL) - st.st_mtime < UNLOCKED_HOME_AGE_S
			    : flock(lfd, LOCK_EX | LOCK_NB) < 0)
			continue; /* alive, or just being made */
		path = strdup_printf("%s/%s", tmp, de->d_name);
		if (!path)
			return;
		remove_tree(path);
		dsvm_debug(ctx, "removed '%s', the signing home of a run that died", path);
	}
}

/* Create the home and hold its lock for as long as it exists. */
static int make_home(struct dsvm_ctx *ctx, char *home, int *ret_lock)
{
	_cleanup_free_ char *lock = NULL;
	int fd;

	if (!mkdtemp(home))
		return dsvm_set_error(ctx, -errno,
				      "cannot create a directory for gpg like '%s': %m", home);
	lock = strdup_printf("%s/lock", home);
	if (!lock)
		return -ENOMEM;
	fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		int r = -errno;

		if (fd >= 0)
			close(fd);
		remove_tree(home);
		return dsvm_set_error(ctx, r, "cannot lock '%s': %s", lock, strerror(-r));
	}
	*ret_lock = fd;
	return 0;
}

int apt_repo_sign(struct dsvm_ctx *ctx, const char *release, struct repo_signature *ret)
{
	const char *tmp = getenv("TMPDIR");
	const char *dir = tmp && *tmp ? tmp : "/tmp";
	_cleanup_free_ char *home = strdup_printf("%s/" HOME_PREFIX "XXXXXX", dir);
	_cleanup_close_ int lock_fd = -1;
	struct repo_signature s = { 0 };
	int r;

	if (!home)
		return -ENOMEM;
	if (access(GPG, X_OK) < 0)
		return dsvm_set_error(ctx, -ENOPKG,
				      "'%s' is missing on this machine: the image's offline "
				      "repository is signed with a key made for it by gpg (install "
				      "gnupg; `make deps` does)",
				      GPG);
	sweep_dead_homes(ctx, dir);
	r = make_home(ctx, home, &lock_fd);
	if (r < 0)
		return r;
	r = sign_in(ctx, home, release, &s);
	{
		/* gpg started an agent for this home; it holds the key in memory until told. */
		const char *kill_agent[] = { GPGCONF, "--homedir", home, "--kill", "all", NULL };
		_cleanup_free_ char *error = r < 0 ? strdup(dsvm_ctx_get_error(ctx)) : NULL;

		if (access(GPGCONF, X_OK) == 0)
			(void)run_program(ctx, "/", kill_agent, NULL, SIGN_TIMEOUT_S, 0, NULL);
		if (error)
			dsvm_set_error(ctx, r, "%s", error);
	}
	remove_tree(home);
	if (r < 0) {
		repo_signature_done(&s);
		return r;
	}
	*ret = s;
	return 0;
}
