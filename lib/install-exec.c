/* SPDX-License-Identifier: MIT */
/*
 * The install steps that run a program inside the root: pip wheels into an environment, runfiles
 * and scripts. installer_run, the way every step (apt too) runs a program there, is lib/exec.c.
 */

#include "exec-internal.h"
#include "install-internal.h"
#include "internal.h"

/* Where runfiles, scripts and wheels are copied inside the root while they run. */
#define RUN_DIR "/var/lib/dsvm/journal/run"
/* Python environments the pip kind installs into: <ENVS_DIR>/<environment>. */
#define ENVS_DIR "/opt/dsvm/envs"

/* The build waits for its programs as long as they take: no time limit (0). */
int installer_run(struct installer *in, const char *const *argv, const char *const *env,
		  char **ret_output)
{
	return dsvm_root_run(in->ctx, argv, env, 0, ret_output);
}

/* Like installer_run, but a non-zero status is an error naming the command and its output. */
static int run_ok(struct installer *in, const char *const *argv, const char *const *env,
		  char **ret_output)
{
	return run_program(in->ctx, dsvm_ctx_get_root(in->ctx), argv, env, 0, RUN_MUST_SUCCEED,
			   ret_output);
}

/* A name safe as one path component: the lock's artifact names are file names. */
static bool is_plain_name(const char *s)
{
	return s && *s && *s != '.' && strlen(s) < 256 && !strchr(s, '/');
}

/*
 * Copy every artifact of c (verified against the lock) into RUN_DIR/<name>/ in the image, each
 * under its artifact name; *ret_dir is that directory's path inside the image.
 */
static int copy_into_run_dir(struct installer *in, const json_t *c, char **ret_dir)
{
	_cleanup_free_ char *dir = strdup_printf(RUN_DIR "/%s", str_of(c, "name")), *host = NULL;
	const json_t *art;
	size_t i;
	int r;

	if (!dir)
		return -ENOMEM;
	host = installer_root_path(in, dir);
	if (!host)
		return -ENOMEM;
	remove_tree(host);
	json_array_foreach(json_object_get(c, "artifacts"), i, art)
	{
		_cleanup_free_ char *img = NULL;
		const char *name = str_of(art, "name");

		if (!is_plain_name(name))
			return dsvm_set_error(in->ctx, -EBADMSG, "'%s': artifact name '%s' refused",
					      str_of(c, "name"), name ? name : "");
		img = strdup_printf("%s/%s", dir, name);
		r = img ? installer_copy_to_image(in, art, img) : -ENOMEM;
		if (r < 0)
			return r;
	}
	*ret_dir = TAKE_PTR(dir);
	return 0;
}

/* Remove the component's run directory, and RUN_DIR with it when nothing else is there. */
static void remove_run_dir(struct installer *in, const char *dir)
{
	_cleanup_free_ char *host = installer_root_path(in, dir), *parent = NULL;

	if (!host)
		return;
	remove_tree(host);
	parent = path_dirname(host);
	if (parent)
		(void)rmdir(parent);
}

/* argv: interpreter, the program, then the component's args. */
static const char **program_argv(const char *interp, const char *program, const json_t *c)
{
	const json_t *args = json_object_get(c, "args"), *a;
	const char **argv = calloc(json_array_size(args) + 3, sizeof(char *));
	size_t i, k = 0;

	if (!argv)
		return NULL;
	argv[k++] = interp;
	argv[k++] = program;
	json_array_foreach(args, i, a) if (json_string_value(a)) argv[k++] = json_string_value(a);
	return argv;
}

/*
 * runfile and script: a program from the lock run once with /bin/sh inside the root, with the
 * component's args. The receipt records it ran (dest: the receipt's own directory); the step is
 * redone after a kill, so a runfile's args must let it run again over a half-finished install
 * (Miniconda's -u, NVIDIA's --silent).
 */
int installer_run_program(struct installer *in, const json_t *c, char **ret_dest)
{
	_cleanup_(installer_tree_dest_done) struct tree_dest t = { 0 };
	_cleanup_free_ char *dir = NULL, *program = NULL;
	_cleanup_free_ const char **argv = NULL;
	const json_t *arts = json_object_get(c, "artifacts");
	int r;

	if (json_array_size(arts) != 1)
		return dsvm_set_error(in->ctx, -EBADMSG, "'%s': a %s needs exactly one artifact",
				      str_of(c, "name"), str_of(c, "kind"));
	r = installer_tree_dest_init(in, c, INSTALLED_DIR, &t);
	if (r < 0)
		return r;
	if (!t.in_place) {
		r = copy_into_run_dir(in, c, &dir);
		if (r < 0)
			return r;
		program = strdup_printf("%s/%s", dir, str_of(json_array_get(arts, 0), "name"));
		argv = program ? program_argv("/bin/sh", program, c) : NULL;
		r = argv ? run_ok(in, argv, NULL, NULL) : -ENOMEM;
		remove_run_dir(in, dir);
		if (r < 0)
			return r;
		in->changed = true;
		dsvm_journal_crash_point(in->journal, in->step);
		r = installer_write_if_changed(in, t.receipt_path, t.receipt, 0644);
		if (r < 0)
			return r;
	}
	*ret_dest = strdup(INSTALLED_DIR);
	return *ret_dest ? 0 : -ENOMEM;
}

static bool exists_in_root(struct installer *in, const char *img)
{
	_cleanup_free_ char *host = installer_root_path(in, img);

	return host && access(host, X_OK) == 0;
}

/* Create ENVS_DIR/<env> as a venv of the root's Python when it has no interpreter yet. */
static int ensure_environment(struct installer *in, const char *env_dir, const char *python)
{
	static const char *const pythons[] = { "/opt/conda/bin/python3", "/usr/bin/python3" };
	const char *base = NULL;

	if (exists_in_root(in, python))
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(pythons) && !base; i++)
		if (exists_in_root(in, pythons[i]))
			base = pythons[i];
	if (!base)
		return dsvm_set_error(in->ctx, -ENOENT,
				      "environment '%s' does not exist and the root has no Python "
				      "to create it (looked for /opt/conda/bin/python3 and "
				      "/usr/bin/python3): install Python first",
				      env_dir);
	{
		const char *argv[] = { base, "-m", "venv", env_dir, NULL };
		int r = run_ok(in, argv, NULL, NULL);

		if (r < 0)
			return r;
	}
	in->changed = true;
	return 0;
}

/*
 * pip: the component's verified wheels into the environment ENVS_DIR/<environment> (created as
 * a venv when missing), with pip offline (--no-index), taking only these files (--no-deps): the
 * lock, not pip, decides what is installed.
 */
int installer_pip_install(struct installer *in, const json_t *c, char **ret_dest)
{
	const json_t *source = json_object_get(c, "source"), *arts = json_object_get(c, "artifact"
											"s");
	const char *envname = str_of(source, "environment");
	_cleanup_(installer_tree_dest_done) struct tree_dest t = { 0 };
	_cleanup_free_ char *env_dir = NULL, *python = NULL, *dir = NULL;
	_cleanup_free_ const char **argv = NULL;
	const json_t *art;
	size_t i, k = 0;
	int r;

	if (!is_plain_name(envname) ||
	    strspn(envname, "abcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(envname))
		return dsvm_set_error(in->ctx, -EBADMSG, "'%s': environment '%s' refused",
				      str_of(c, "name"), envname ? envname : "");
	if (json_array_size(arts) == 0)
		return dsvm_set_error(in->ctx, -EBADMSG, "'%s': a pip component needs its wheels",
				      str_of(c, "name"));
	env_dir = strdup_printf(ENVS_DIR "/%s", envname);
	python = strdup_printf(ENVS_DIR "/%s/bin/python", envname);
	if (!env_dir || !python)
		return -ENOMEM;
	r = installer_tree_dest_init(in, c, env_dir, &t);
	if (r < 0 || t.in_place)
		goto done;
	r = ensure_environment(in, env_dir, python);
	if (r < 0)
		return r;
	r = copy_into_run_dir(in, c, &dir);
	if (r < 0)
		return r;
	argv = calloc(json_array_size(arts) + 12, sizeof(char *));
	if (!argv)
		return -ENOMEM;
	argv[k++] = python;
	argv[k++] = "-m";
	argv[k++] = "pip";
	argv[k++] = "install";
	argv[k++] = "--no-index";
	argv[k++] = "--no-deps";
	argv[k++] = "--no-cache-dir";
	argv[k++] = "--disable-pip-version-check";
	argv[k++] = "--no-warn-script-location";
	json_array_foreach(arts, i, art)
	{
		/* Paths inside the root; freed with the argv below. */
		argv[k++] = strdup_printf("%s/%s", dir, str_of(art, "name"));
		if (!argv[k - 1]) {
			r = -ENOMEM;
			break;
		}
	}
	if (r == 0)
		r = run_ok(in, argv, NULL, NULL);
	for (size_t a = 9; a < k; a++)
		free((char *)argv[a]);
	remove_run_dir(in, dir);
	if (r < 0)
		return r;
	in->changed = true;
	dsvm_journal_crash_point(in->journal, in->step);
	r = installer_write_if_changed(in, t.receipt_path, t.receipt, 0644);
done:
	if (r < 0)
		return r;
	*ret_dest = TAKE_PTR(env_dir);
	return 0;
}
