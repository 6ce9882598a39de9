/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <fcntl.h>

#include <jansson.h>

#include "detect-internal.h"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sysfs_parse_hex(const char *buf, size_t size, unsigned digits, uint32_t *ret)
{
	uint32_t v = 0;
	size_t i = 0;

	/* The kernel prints "0x%04x\n" (ids) and "0x%06x\n" (class): any other width is damage. */
	if (size > 0 && buf[size - 1] == '\n')
		size--;
	if (size >= 2 && buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X'))
		i = 2;
	if (digits == 0 || digits > 8 || size - i != digits)
		return -EBADMSG;
	for (; i < size; i++) {
		int d = hex_digit(buf[i]);

		if (d < 0)
			return -EBADMSG;
		v = v << 4 | (uint32_t)d;
	}
	*ret = v;
	return 0;
}

bool pci_address_is_valid(const char *name)
{
	size_t n = strlen(name), dom = 0;

	while (dom < n && isxdigit((unsigned char)name[dom]))
		dom++;
	/* domain ':' bus(2) ':' device(2) '.' function(1) */
	if (dom < 4 || dom > 8 || n != dom + 8)
		return false;
	name += dom;
	return name[0] == ':' && isxdigit((unsigned char)name[1]) &&
	       isxdigit((unsigned char)name[2]) && name[3] == ':' &&
	       isxdigit((unsigned char)name[4]) && isxdigit((unsigned char)name[5]) &&
	       name[6] == '.' && name[7] >= '0' && name[7] <= '7';
}

int efivar_parse_bool(const void *buf, size_t size, bool *ret)
{
	const unsigned char *p = buf;

	/* Anything but exactly attributes + one byte is not the SecureBoot variable we know. */
	if (size != 5 || p[4] > 1)
		return -EBADMSG;
	*ret = p[4] == 1;
	return 0;
}

int kernel_release_parse(const char *buf, size_t size, char **ret)
{
	char *s;

	if (size > 0 && buf[size - 1] == '\n')
		size--;
	if (size == 0 || size > KERNEL_RELEASE_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < size; i++)
		if (!isgraph((unsigned char)buf[i]))
			return -EBADMSG;
	s = strndup(buf, size);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static bool is_version_word(const char *w, size_t n)
{
	bool dot = false;

	if (n == 0 || n >= 32 || !isdigit((unsigned char)w[0]) || !isdigit((unsigned char)w[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (w[i] == '.') {
			if (w[i - 1] == '.')
				return false;
			dot = true;
		} else if (!isdigit((unsigned char)w[i])) {
			return false;
		}
	}
	return dot;
}

int nvidia_version_parse(const char *buf, size_t size, char ret_version[32], bool *ret_open)
{
	static const char prefix[] = "NVRM version:";
	const char *end = memchr(buf, '\n', size);
	size_t line = end ? (size_t)(end - buf) : size;
	size_t i = sizeof(prefix) - 1;
	bool open = false;

	if (line < i || memcmp(buf, prefix, i) != 0)
		return -EBADMSG;
	while (i < line) {
		size_t start, n;

		while (i < line && buf[i] == ' ')
			i++;
		start = i;
		while (i < line && buf[i] != ' ')
			i++;
		n = i - start;
		if (n == 4 && memcmp(buf + start, "Open", 4) == 0)
			open = true;
		if (is_version_word(buf + start, n)) {
			memcpy(ret_version, buf + start, n);
			ret_version[n] = '\0';
			if (ret_open)
				*ret_open = open;
			return 0;
		}
	}
	return -EBADMSG;
}

bool dsvm_vm_size_is_valid(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '-')
			return false;
	return n > 0 && n < 64;
}

/* Follow keys from root; NULL when any is missing or not an object on the way. */
static json_t *json_walk(json_t *root, const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n && root; i++)
		root = json_is_object(root) ? json_object_get(root, keys[i]) : NULL;
	return root;
}

static int vm_size_from_json(struct dsvm_ctx *ctx, const char *what, const char *buf, size_t size,
			     const char *const *keys, size_t n_keys, char **ret)
{
	json_error_t err;
	json_t *root, *v;
	int r = 0;

	root = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return dsvm_set_error(ctx, -EBADMSG, "%s is not JSON (line %d: %s)", what, err.line,
				      err.text);
	v = json_walk(root, keys, n_keys);
	if (!v)
		r = dsvm_set_error(ctx, -ENOENT, "%s has no vmSize", what);
	else if (!json_is_string(v) || !dsvm_vm_size_is_valid(json_string_value(v)))
		r = dsvm_set_error(ctx, -EBADMSG, "%s has a vmSize that is not a VM size name",
				   what);
	else {
		char *size_name = strdup(json_string_value(v));

		if (size_name)
			*ret = size_name; /* written only on success */
		else
			r = -ENOMEM;
	}
	json_decref(root);
	return r;
}

int instance_data_parse_vm_size(struct dsvm_ctx *ctx, const char *buf, size_t size, char **ret)
{
	static const char *const keys[] = { "ds", "meta_data", "imds", "compute", "vmSize" };

	return vm_size_from_json(ctx, "instance-data.json", buf, size, keys, ARRAY_SIZE(keys), ret);
}

int imds_parse_vm_size(struct dsvm_ctx *ctx, const char *buf, size_t size, char **ret)
{
	static const char *const leaf[] = { "vmSize" };
	static const char *const whole[] = { "compute", "vmSize" };
	json_error_t err;
	json_t *root;
	bool is_whole;

	/* The compute leaf holds vmSize at the top; /metadata/instance nests it in "compute". */
	root = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &err);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		return dsvm_set_error(ctx, -EBADMSG, "the answer is not a JSON object");
	}
	is_whole = !json_object_get(root, "vmSize") && json_object_get(root, "compute");
	json_decref(root);
	if (is_whole)
		return vm_size_from_json(ctx, "the answer", buf, size, whole, ARRAY_SIZE(whole),
					 ret);
	return vm_size_from_json(ctx, "the answer", buf, size, leaf, ARRAY_SIZE(leaf), ret);
}

int read_small_at(int dirfd, const char *name, char *buf, size_t bufsize, size_t *ret_size)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	ssize_t n;
	char extra;

	if (fd < 0)
		return -errno;
	/*
	 * One read is the whole file: sysfs builds an attribute in one go and hands it over in
	 * one read, and a regular file reads short only at its end. Only a full buffer needs a
	 * second look, to tell "exactly this long" from "too long".
	 */
	do
		n = read(fd, buf, bufsize - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n == bufsize - 1) {
		ssize_t more = read(fd, &extra, 1);

		if (more > 0)
			return -EFBIG;
		if (more < 0)
			return -errno;
	}
	buf[n] = '\0';
	*ret_size = (size_t)n;
	return 0;
}
