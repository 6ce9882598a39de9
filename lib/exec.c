/* SPDX-License-Identifier: MIT */
/*
 * Running a program with the root as '/', its output captured, under a time limit
 * (include/dsvm/exec.h).
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "exec-internal.h"
#include "internal.h"

#define OUTPUT_CAP (1u << 20)
#define ERROR_TAIL 2048
#define GRACE_MIN_S 1u
#define GRACE_MAX_S 10u
/* After SIGKILL, how long output may still come from what left the process group. */
#define DRAIN_MS 1000u

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

	/* A group of its own: a time limit stops dpkg and maintainer scripts with apt-get. */
	(void)setpgid(0, 0);
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

/* What the child said: the first OUTPUT_CAP bytes, and the last ERROR_TAIL for errors. */
struct capture {
	char *buf;
	size_t len, cap;
	char tail[ERROR_TAIL + 1];
	size_t tail_len;
	bool oom;
};

static void capture_add(struct capture *c, const char *block, size_t n)
{
	if (c->len < OUTPUT_CAP && !c->oom) {
		size_t take = n < OUTPUT_CAP - c->len ? n : OUTPUT_CAP - c->len;

		if (c->len + take + 1 > c->cap) {
			char *p = realloc(c->buf, c->len + take + 1 + 65536);

			if (p) {
				c->buf = p;
				c->cap = c->len + take + 1 + 65536;
			} else {
				/* Keep reading, or the child blocks on a full pipe. */
				c->oom = true;
			}
		}
		if (!c->oom) {
			memcpy(c->buf + c->len, block, take);
			c->len += take;
		}
	}
	if (n >= ERROR_TAIL) {
		memcpy(c->tail, block + n - ERROR_TAIL, ERROR_TAIL);
		c->tail_len = ERROR_TAIL;
	} else {
		size_t keep = c->tail_len + n > ERROR_TAIL ? ERROR_TAIL - n : c->tail_len;

		memmove(c->tail, c->tail + c->tail_len - keep, keep);
		memcpy(c->tail + keep, block, n);
		c->tail_len = keep + n;
	}
	c->tail[c->tail_len] = '\0';
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The child's run as seen from here. */
struct watch {
	pid_t pid;
	int fd;
	uint64_t deadline; /* 0: none */
	unsigned grace_s;
	unsigned signals; /* 0, then 1 after SIGTERM, 2 after SIGKILL */
	bool eof, reaped, timed_out;
	int status;
	int read_error;
};

static bool try_reap(struct watch *w, int options)
{
	pid_t p;

	while ((p = waitpid(w->pid, &w->status, options)) < 0 && errno == EINTR)
		;
	if (p == w->pid)
		w->reaped = true;
	else if (p < 0)
		w->reaped = true, w->status = 127 << 8; /* cannot happen: our own child */
	return w->reaped;
}

/* The deadline passed: SIGTERM to the group, SIGKILL after the grace, then stop waiting. */
static void escalate(struct watch *w, uint64_t t)
{
	if (w->signals == 0) {
		if (w->reaped || try_reap(w, WNOHANG)) {
			/* It ended; something it left in its group holds the output open. */
			(void)kill(-w->pid, SIGKILL);
			w->signals = 2;
			w->deadline = t + DRAIN_MS;
			return;
		}
		(void)kill(-w->pid, SIGTERM);
		w->timed_out = true;
		w->signals = 1;
		w->deadline = t + w->grace_s * 1000u;
	} else if (w->signals == 1) {
		(void)kill(-w->pid, SIGKILL);
		w->signals = 2;
		w->deadline = t + DRAIN_MS;
	} else {
		/* Killed; whatever still holds the pipe escaped the group: stop reading it. */
		w->eof = true;
		if (!w->reaped)
			try_reap(w, 0);
	}
}

/* Read the output until it closes and the child is reaped, within the deadline. */
static void watch_child(struct watch *w, struct capture *c)
{
	char block[8192];

	while (!(w->eof && w->reaped)) {
		uint64_t t = now_ms();
		int wait_ms = -1;

		if (w->deadline && t >= w->deadline) {
			escalate(w, t);
			continue;
		}
		if (w->deadline)
			wait_ms = w->deadline - t > INT_MAX ? INT_MAX : (int)(w->deadline - t);
		if (w->eof) {
			/* Output closed, child still running. */
			if (!w->deadline) {
				try_reap(w, 0);
			} else if (!try_reap(w, WNOHANG)) {
				struct timespec ts = { 0, 20 * 1000000L };

				if (wait_ms < 20)
					ts.tv_nsec = (long)wait_ms * 1000000L;
				nanosleep(&ts, NULL);
			}
			continue;
		}
		{
			struct pollfd p = { .fd = w->fd, .events = POLLIN };
			ssize_t n;
			int k = poll(&p, 1, wait_ms);

			if (k < 0 && errno != EINTR) {
				w->read_error = -errno;
				w->eof = true;
			}
			if (k <= 0)
				continue;
			n = read(w->fd, block, sizeof(block));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n < 0)
				w->read_error = -errno;
			if (n <= 0)
				w->eof = true;
			else
				capture_add(c, block, (size_t)n);
		}
	}
}

int run_program(struct dsvm_ctx *ctx, const char *root, const char *const *argv,
		const char *const *env, unsigned timeout_s, unsigned flags, char **ret_output)
{
	_cleanup_free_ char *cmd = command_line(argv);
	struct capture c = { 0 };
	struct watch w = { .fd = -1 };
	char **envp = NULL;
	int pipefd[2], r;

	if (!cmd)
		return -ENOMEM;
	if (!streq(root, "/") && geteuid() != 0)
		return dsvm_set_error(ctx, -EPERM,
				      "running '%s' inside '%s' needs chroot(2), which needs root: "
				      "run as root (or with --root /)",
				      cmd, root);
	envp = child_env(env);
	if (!envp)
		return -ENOMEM;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		free_child_env(envp, env);
		return dsvm_set_error(ctx, -errno, "cannot create a pipe: %m");
	}
	dsvm_debug(ctx, "running '%s' in '%s'", cmd, root);
	w.pid = fork();
	if (w.pid < 0) {
		r = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		free_child_env(envp, env);
		return dsvm_set_error(ctx, r, "cannot run '%s': %s", cmd, strerror(-r));
	}
	if (w.pid == 0)
		child_exec(root, argv, envp, pipefd[1]);
	/* Also here, so that a kill of the group cannot come before the child made it. */
	(void)setpgid(w.pid, w.pid);
	close(pipefd[1]);
	free_child_env(envp, env);
	w.fd = pipefd[0];
	if (timeout_s) {
		w.deadline = now_ms() + (uint64_t)timeout_s * 1000u;
		w.grace_s = timeout_s / 4;
		w.grace_s = w.grace_s < GRACE_MIN_S   ? GRACE_MIN_S
			    : w.grace_s > GRACE_MAX_S ? GRACE_MAX_S
						      : w.grace_s;
	}
	watch_child(&w, &c);
	close(pipefd[0]);
	if (c.buf)
		c.buf[c.len] = '\0';
	r = 0;
	if (w.timed_out)
		r = dsvm_set_error(ctx, -ETIME,
				   "'%s' in '%s' did not finish within %u s and was stopped "
				   "(SIGTERM, then SIGKILL after %u s); its output ended: %s",
				   cmd, root, timeout_s, w.grace_s, c.tail[0] ? c.tail : "(none)");
	else if (w.read_error < 0 || c.oom)
		r = dsvm_set_error(ctx, c.oom ? -ENOMEM : w.read_error,
				   "cannot read the output of '%s': %s", cmd,
				   strerror(c.oom ? ENOMEM : -w.read_error));
	else if (WIFSIGNALED(w.status))
		r = dsvm_set_error(ctx, -EINTR, "'%s' in '%s' was killed by signal %d; %s", cmd,
				   root, WTERMSIG(w.status), c.tail);
	else if (WEXITSTATUS(w.status) == 126 || WEXITSTATUS(w.status) == 127 ||
		 ((flags & RUN_MUST_SUCCEED) && WEXITSTATUS(w.status) != 0))
		r = dsvm_set_error(ctx, WEXITSTATUS(w.status) == 127 ? -ENOENT : -ECHILD,
				   "'%s' in '%s' exited with status %d; its output ended: %s", cmd,
				   root, WEXITSTATUS(w.status), c.tail[0] ? c.tail : "(none)");
	if (r < 0) {
		free(c.buf);
		return r;
	}
	if (ret_output) {
		char *out = c.buf ? c.buf : strdup("");

		if (!out)
			return -ENOMEM;
		*ret_output = out;
	} else {
		free(c.buf);
	}
	return WEXITSTATUS(w.status);
}

int dsvm_root_run(struct dsvm_ctx *ctx, const char *const *argv, const char *const *env,
		  unsigned timeout_s, char **ret_output)
{
	return run_program(ctx, dsvm_ctx_get_root(ctx), argv, env, timeout_s, 0, ret_output);
}

int dsvm_host_run(struct dsvm_ctx *ctx, const char *const *argv, const char *const *env,
		  unsigned timeout_s, char **ret_output)
{
	return run_program(ctx, "/", argv, env, timeout_s, 0, ret_output);
}
