/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "internal.h"

int read_file_capped(const char *path, size_t max_bytes, char **ret_buf, size_t *ret_size)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	size_t size = 0, alloc = 0;
	struct stat st;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max_bytes)
		return -EFBIG;

	/* sysfs files report a size of 4096 whatever they hold: read until EOF, never trust it. */
	for (;;) {
		ssize_t n;

		if (alloc - size < 2) {
			size_t want = alloc ? alloc * 2 : 4096;
			char *p;

			if (want > max_bytes + 2)
				want = max_bytes + 2;
			if (want <= size + 1)
				return -EFBIG;
			p = realloc(buf, want);
			if (!p)
				return -ENOMEM;
			buf = p;
			alloc = want;
		}
		n = read(fd, buf + size, alloc - size - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		size += (size_t)n;
		if (size > max_bytes)
			return -EFBIG;
	}
	if (!buf) {
		buf = malloc(1);
		if (!buf)
			return -ENOMEM;
	}
	buf[size] = '\0';
	if (ret_size)
		*ret_size = size;
	*ret_buf = TAKE_PTR(buf);
	return 0;
}

int write_all(int fd, const void *data, size_t size)
{
	const char *p = data;

	while (size > 0) {
		ssize_t n = write(fd, p, size);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		size -= (size_t)n;
	}
	return 0;
}

static int fsync_parent(const char *path)
{
	_cleanup_free_ char *dir = path_dirname(path);
	_cleanup_close_ int dfd = -1;

	if (!dir)
		return -ENOMEM;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd) < 0)
		return -errno;
	return 0;
}

/* Links path_in_root() follows for one path, as the kernel's own limit. */
#define MAX_ROOT_LINKS 40

#define TEMP_INFIX ".tmp."
#define TEMP_RANDOM "XXXXXX"

/* <base>.tmp.XXXXXX, the X being what mkostemp() put there (letters and digits). */
static bool is_temp_of(const char *name, const char *base)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345678"
				    "9";
	size_t n = strlen(base), k = strlen(TEMP_INFIX), x = strlen(TEMP_RANDOM);

	return strncmp(name, base, n) == 0 && strncmp(name + n, TEMP_INFIX, k) == 0 &&
	       strlen(name + n + k) == x && strspn(name + n + k, alnum) == x;
}

/* Whether fd is the file name names in dfd (not replaced or removed since it was opened). */
static bool is_same_file(int fd, int dfd, const char *name)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && fstatat(dfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * Remove the temporaries of path that a killed write left. A write holds its temporary's
 * flock() from just after creating it until the rename, so one whose lock is free is stale;
 * the lock is held while it is removed, so a writer that had not locked it yet sees it gone.
 */
static void remove_stale_temps(const char *path)
{
	_cleanup_free_ char *dir = path_dirname(path);
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	_cleanup_(closedirp) DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;

	while (d && (de = readdir(d))) {
		int fd;

		if (!is_temp_of(de->d_name, base))
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && is_same_file(fd, dirfd(d), de->d_name))
			(void)unlinkat(dirfd(d), de->d_name, 0);
		close(fd);
	}
}

/*
 * Create path's temporary, <path>.tmp.XXXXXX (unique: mkostemp, O_EXCL, mode 0600), and lock
 * it for the life of fd. Retried when a concurrent remove_stale_temps() took it before the lock.
 */
static int open_temp(const char *path, char **ret_tmp)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		_cleanup_free_ char *tmp = strdup_printf("%s" TEMP_INFIX TEMP_RANDOM, path);
		int fd, r;

		if (!tmp)
			return -ENOMEM;
		fd = mkostemp(tmp, O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX) < 0) {
			r = -errno;
			close(fd);
			unlink(tmp);
			return r;
		}
		if (is_same_file(fd, AT_FDCWD, tmp)) {
			*ret_tmp = TAKE_PTR(tmp);
			return fd;
		}
		close(fd);
	}
	return -EAGAIN;
}

int write_file_atomic(const char *path, const void *data, size_t size, unsigned mode)
{
	_cleanup_free_ char *tmp = NULL;
	int fd, r;

	/*
	 * A unique name: a temporary left by a killed run (PIDs repeat after a reboot) must not
	 * block every later write, nor may two writers share one. What a killed write left is
	 * removed by the next write of the same target (remove_stale_temps).
	 */
	fd = open_temp(path, &tmp);
	if (fd < 0)
		return fd;
	if (!tmp) { /* never: open_temp sets it with every fd it returns */
		close(fd);
		return -ENOMEM;
	}
	if (fchmod(fd, mode) < 0) {
		r = -errno;
		close(fd);
		unlink(tmp);
		return r;
	}
	r = write_all(fd, data, size);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		unlink(tmp);
		return r;
	}
	/*
	 * Closed after the rename, so the lock covers the temporary until it has its final name;
	 * fsync() has reported what the data's write-back could fail with.
	 */
	close(fd);
	remove_stale_temps(path);
	return fsync_parent(path);
}

/*
 * img made lexically clean: absolute, no empty, "." or ".." components (".." at '/' stays at
 * '/', as the kernel does at a root), no trailing '/'. Newly allocated; NULL on OOM.
 */
static char *clean_absolute(const char *img)
{
	size_t n = strlen(img);
	char *out = malloc(n + 2), *o = out;

	if (!out)
		return NULL;
	for (const char *s = img; *s;) {
		size_t len;

		s += strspn(s, "/");
		len = strcspn(s, "/");
		if (len == 0 || (len == 1 && s[0] == '.')) {
			s += len;
			continue;
		}
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			while (o > out && *--o != '/')
				;
		} else {
			*o++ = '/';
			memcpy(o, s, len);
			o += len;
		}
		s += len;
	}
	if (o == out)
		*o++ = '/';
	*o = '\0';
	return out;
}

/* The host path an O_PATH descriptor names (readlink of /proc/self/fd/N). */
static int fd_host_path(int fd, char ret[PATH_MAX])
{
	char proc[64];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, ret, PATH_MAX - 1);
	if (n < 0)
		return -errno;
	ret[n] = '\0';
	return 0;
}

static bool path_is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return streq(dir, "/") || (strncmp(path, dir, n) == 0 && (!path[n] || path[n] == '/'));
}

/* The directory img names (clean, absolute), opened inside root; -errno when it cannot be. */
static int open_in_root(int rootfd, const char *img)
{
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd = (int)syscall(SYS_openat2, rootfd, img, &how, sizeof(how));

	return fd < 0 ? -errno : fd;
}

int path_in_root(const char *root, const char *img, char **ret_host)
{
	_cleanup_close_ int rootfd = -1;
	_cleanup_free_ char *cur = NULL;
	char root_real[PATH_MAX], real[PATH_MAX];
	int r;

	if (!img || img[0] != '/')
		return -EINVAL;
	cur = clean_absolute(img);
	if (!cur)
		return -ENOMEM;
	if (!root || streq(root, "/")) {
		*ret_host = TAKE_PTR(cur);
		return 0;
	}
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -errno;
	r = fd_host_path(rootfd, root_real);
	if (r < 0)
		return r;
	for (unsigned hops = 0; hops <= MAX_ROOT_LINKS; hops++) {
		const char *base = strrchr(cur, '/');
		_cleanup_free_ char *parent = strndup(cur, (size_t)(base - cur));
		size_t split;
		int fd;

		if (!parent)
			return -ENOMEM;
		/* The longest existing prefix of the parent, resolved in the root. */
		for (;;) {
			fd = open_in_root(rootfd, parent[0] ? parent : "/");
			if (fd >= 0 || fd != -ENOENT || !parent[0])
				break;
			*strrchr(parent, '/') = '\0';
		}
		if (fd < 0)
			return fd;
		split = strlen(parent);
		r = fd_host_path(fd, real);
		if (r == 0 && split < (size_t)(base - cur)) {
			/*
			 * The first missing component may be a link that points at nothing in the
			 * root: the image would follow it, so does this (its target is made where
			 * the image has it); the host must never follow it.
			 */
			const char *first = cur + split + 1;
			_cleanup_free_ char *name = strndup(first, strcspn(first, "/"));
			char target[PATH_MAX];
			struct stat st;
			ssize_t n;

			if (!name) {
				close(fd);
				return -ENOMEM;
			}
			if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode)) {
				n = readlinkat(fd, name, target, sizeof(target) - 1);
				close(fd);
				if (n < 0)
					return -errno;
				target[n] = '\0';
				{
					const char *in_img = streq(root_real, "/")
								     ? real
								     : real + strlen(root_real);
					char *next = strdup_printf("%s/%s%s",
								   target[0] == '/' ? "" : in_img,
								   target, first + strlen(name));
					char *clean = next ? clean_absolute(next) : NULL;

					free(next);
					if (!clean)
						return -ENOMEM;
					free(cur);
					cur = clean;
				}
				continue;
			}
		}
		close(fd);
		if (r < 0)
			return r;
		/* Inside the root, always: RESOLVE_IN_ROOT ends there. */
		if (!path_is_under(real, root_real))
			return -EXDEV;
		*ret_host = strdup_printf("%s%s", streq(real, "/") ? "" : real, cur + split);
		return *ret_host ? 0 : -ENOMEM;
	}
	return -ELOOP;
}

int mkdir_parents(const char *path, unsigned mode)
{
	_cleanup_free_ char *p = strdup(path);
	char *s;

	if (!p)
		return -ENOMEM;
	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

void hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

bool is_sha256_hex(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	return i == 64;
}

char *strdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

char *strdup_printf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}

int version_compare(const char *a, const char *b)
{
	while (*a || *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			unsigned long long x = strtoull(a, (char **)&a, 10);
			unsigned long long y = strtoull(b, (char **)&b, 10);

			if (x != y)
				return x < y ? -1 : 1;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	return 0;
}

char *path_join_relative(const char *dir, const char *name)
{
	if (name[0] == '/')
		return strdup(name);
	if (!dir || !*dir || streq(dir, "."))
		return strdup(name);
	return strdup_printf("%s/%s", dir, name);
}

char *path_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

static int make_removable(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	/* An archive may have made a directory read-only; its entries could not be unlinked. */
	if (type == FTW_D)
		(void)!chmod(path, 0700);
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

const char *human_size(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}

void remove_tree(const char *path)
{
	/*
	 * nftw keeps at most 16 directories open however deep the tree is: a hostile archive
	 * nesting thousands of levels cannot exhaust descriptors and leave its tree behind.
	 * FTW_PHYS: symlinks are removed, never followed.
	 */
	nftw(path, make_removable, 16, FTW_PHYS);
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
