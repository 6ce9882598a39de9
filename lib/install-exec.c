/* SPDX-License-Identifier: MIT */
/*
 * The install steps that run a program inside the root: pip wheels into an environment, runfiles
 * and scripts; and the one way every step (apt too) runs a program there.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "install-internal.h"
#include "internal.h"

#define OUTPUT_CAP (1u << 20)
#define ERROR_TAIL 2048
/* Where runfiles, scripts and wheels are copied inside the root while they run. */
#define RUN_DIR "/var/lib/dsvm/journal/run"
/* Python environments the pip kind installs into: <ENVS_DIR>/<environment>. */
#define ENVS_DIR "/opt/dsvm/envs"

static const char *const base_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"LC_ALL=C",
	"HOME=/root",
	"DEBIAN_FRONTEND=noninteractive",
	NULL,
};

/* Proxy settings a build VM may need reach the child; nothing else of ours does. */
static const char *const passed_env[] = { "http_proxy", "https_proxy", "no_proxy", NULL };

static char **child_env(const char *const *extra)
{
	size_t n = 0, k = 0;
	char **envp;

	for (const char *const *e = base_env; *e; e++)
		n++;
	for (const char *const *e = extra; e && *e; e++)
		n++;
	n += ARRAY_SIZE(passed_env);
	envp = calloc(n + 1, sizeof(char *));
	if (!envp)
		return NULL;
	for (const char *const *e = base_env; *e; e++)
		envp[k++] = (char *)*e;
	for (const char *const *e = extra; e && *e; e++)
		envp[k++] = (char *)*e;
	for (const char *const *e = passed_env; *e; e++) {
		const char *v = getenv(*e);

		if (v)
			envp[k++] = strdup_printf("%s=%s", *e, v);
	}
	return envp;
}

static void free_child_env(char **envp, const char *const *extra)
{
	size_t skip = 0;

	if (!envp)
		return;
	for (const char *const *e = base_env; *e; e++)
		skip++;
	for (const char *const *e = extra; e && *e; e++)
		skip++;
	for (size_t i = skip; envp[i]; i++)
		free(envp[i]);
	free(envp);
}

/* In the child: never returns. Messages go to the pipe the parent reads. */
static void __attribute__((noreturn))
child_exec(const char *root, const char *const *argv, char **envp, int out_fd)
{
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
	    dup2(out_fd, STDERR_FILENO) < 0)
		_exit(126);
	if (!streq(root, "/") && chroot(root) < 0) {
		dprintf(STDERR_FILENO, "chroot '%s': %s\n", root, strerror(errno));
		_exit(126);
	}
	if (chdir("/") < 0)
		_exit(126);
	signal(SIGPIPE, SIG_DFL);
	execve(argv[0], (char *const *)argv, envp);
	dprintf(STDERR_FILENO, "cannot run '%s': %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Read the child's output until it closes the pipe, keeping the first OUTPUT_CAP bytes. */
static int read_output(int fd, char **ret_buf, size_t *ret_len, char tail[ERROR_TAIL + 1])
{
	size_t len = 0, cap = 0, tail_len = 0;
	char *buf = NULL, block[8192];

	for (;;) {
		ssize_t n = read(fd, block, sizeof(block));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return -errno;
		}
		if (n == 0)
			break;
		if (len < OUTPUT_CAP) {
			size_t take = (size_t)n < OUTPUT_CAP - len ? (size_t)n : OUTPUT_CAP - len;

			if (len + take + 1 > cap) {
				char *p = realloc(buf, len + take + 1 + 65536);

				if (!p) {
					free(buf);
					return -ENOMEM;
				}
				buf = p;
				cap = len + take + 1 + 65536;
			}
			memcpy(buf + len, block, take);
			len += take;
		}
		/* The tail of everything, for the error message. */
		if ((size_t)n >= ERROR_TAIL) {
			memcpy(tail, block + n - ERROR_TAIL, ERROR_TAIL);
			tail_len = ERROR_TAIL;
		} else {
			size_t keep = tail_len + (size_t)n > ERROR_TAIL ? ERROR_TAIL - (size_t)n
									: tail_len;

			memmove(tail, tail + tail_len - keep, keep);
			memcpy(tail + keep, block, (size_t)n);
			tail_len = keep + (size_t)n;
		}
	}
	tail[tail_len] = '\0';
	if (buf)
		buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

static char *command_line(const char *const *argv)
{
	size_t len = 1;
	char *s;

	for (const char *const *a = argv; *a; a++)
		len += strlen(*a) + 1;
	s = calloc(1, len);
	if (!s)
		return NULL;
	for (const char *const *a = argv; *a; a++) {
		if (a != argv)
			strcat(s, " ");
		strcat(s, *a);
	}
	return s;
}

static int run_child(struct installer *in, const char *const *argv, const char *const *env,
		     char **ret_output, bool must_succeed)
{
	const char *root = dsvm_ctx_get_root(in->ctx);
	_cleanup_free_ char *out = NULL, *cmd = command_line(argv);
	char tail[ERROR_TAIL + 1] = "";
	char **envp = NULL;
	size_t out_len = 0;
	int pipefd[2], status, r;
	pid_t pid;

	if (!cmd)
		return -ENOMEM;
	if (!streq(root, "/") && geteuid() != 0)
		return dsvm_set_error(in->ctx, -EPERM,
				      "running '%s' inside '%s' needs chroot(2), which needs root: "
				      "run dsvm-build as root (or with --root /)",
				      cmd, root);
	envp = child_env(env);
	if (!envp)
		return -ENOMEM;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		free_child_env(envp, env);
		return dsvm_set_error(in->ctx, -errno, "cannot create a pipe: %m");
	}
	dsvm_debug(in->ctx, "running '%s' in '%s'", cmd, root);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		free_child_env(envp, env);
		return dsvm_set_error(in->ctx, r, "cannot run '%s': %s", cmd, strerror(-r));
	}
	if (pid == 0)
		child_exec(root, argv, envp, pipefd[1]);
	close(pipefd[1]);
	free_child_env(envp, env);
	r = read_output(pipefd[0], &out, &out_len, tail);
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return dsvm_set_error(in->ctx, -errno, "cannot wait for '%s': %m", cmd);
	if (r < 0)
		return dsvm_set_error(in->ctx, r, "cannot read the output of '%s': %s", cmd,
				      strerror(-r));
	if (WIFSIGNALED(status))
		return dsvm_set_error(in->ctx, -EINTR, "'%s' in '%s' was killed by signal %d; %s",
				      cmd, root, WTERMSIG(status), tail);
	r = WEXITSTATUS(status);
	if (r == 126 || r == 127 || (must_succeed && r != 0))
		return dsvm_set_error(in->ctx, r == 127 ? -ENOENT : -ECHILD,
				      "'%s' in '%s' exited with status %d; its output ended: %s",
				      cmd, root, r, tail[0] ? tail : "(none)");
	if (ret_output)
		*ret_output = out ? TAKE_PTR(out) : strdup("");
	return r;
}

int installer_run(struct installer *in, const char *const *argv, const char *const *env,
		  char **ret_output)
{
	return run_child(in, argv, env, ret_output, false);
}

/* Like installer_run, but a non-zero status is an error naming the command and its output. */
static int run_ok(struct installer *in, const char *const *argv, const char *const *env,
		  char **ret_output)
{
	int r = run_child(in, argv, env, ret_output, true);

	return r > 0 ? -ECHILD : r;
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
