/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "dsvm/detect.h"
#include "dsvm/state.h"
#include "internal.h"

/* A state file is a few hundred bytes; anything much larger is not ours. */
#define STATE_MAX_BYTES (64u << 10)
#define CONF_MAX_BYTES (64u << 10)
#define ATTEMPTS_PREFIX "attempts+"

static const char *const result_names[_DSVM_RESULT_MAX] = {
	[DSVM_RESULT_NONE] = "none",	     [DSVM_RESULT_OK] = "ok",
	[DSVM_RESULT_PENDING] = "pending",   [DSVM_RESULT_FAILED] = "failed",
	[DSVM_RESULT_FALLBACK] = "fallback", [DSVM_RESULT_BLOCKED] = "blocked",
};

const char *dsvm_state_result_to_string(enum dsvm_state_result r)
{
	return r >= 0 && r < _DSVM_RESULT_MAX ? result_names[r] : "none";
}

enum dsvm_state_result dsvm_state_result_from_string(const char *s)
{
	for (int i = 0; s && i < _DSVM_RESULT_MAX; i++)
		if (streq(s, result_names[i]))
			return i;
	return _DSVM_RESULT_MAX;
}

struct gpu_count {
	unsigned vendor, device, n;
};

static int cmp_gpu_count(const void *a, const void *b)
{
	const struct gpu_count *x = a, *y = b;

	if (x->vendor != y->vendor)
		return x->vendor < y->vendor ? -1 : 1;
	return x->device < y->device ? -1 : x->device > y->device;
}

void dsvm_fingerprint_from_hw(const struct dsvm_hw *hw, struct dsvm_fingerprint *ret)
{
	struct dsvm_fingerprint fp = {};
	struct gpu_count counts[64];
	size_t n = 0, len = 0;
	const char *s;

	for (size_t i = 0; i < dsvm_hw_get_n_gpus(hw); i++) {
		const struct dsvm_gpu *g = dsvm_hw_get_gpu(hw, i);
		size_t k;

		for (k = 0; k < n; k++)
			if (counts[k].vendor == g->vendor_id && counts[k].device == g->device_id)
				break;
		if (k == n) {
			if (n == ARRAY_SIZE(counts))
				continue;
			counts[n++] = (struct gpu_count){ g->vendor_id, g->device_id, 0 };
		}
		counts[k].n++;
	}
	qsort(counts, n, sizeof(*counts), cmp_gpu_count);
	for (size_t k = 0; k < n && len < sizeof(fp.gpus); k++)
		len += (size_t)snprintf(fp.gpus + len, sizeof(fp.gpus) - len, "%s%04x:%04xx%u",
					k ? "," : "", counts[k].vendor, counts[k].device,
					counts[k].n);
	s = dsvm_hw_get_vm_size(hw);
	snprintf(fp.vm_size, sizeof(fp.vm_size), "%s", s ? s : "");
	s = dsvm_hw_get_kernel(hw);
	snprintf(fp.kernel, sizeof(fp.kernel), "%s", s ? s : "");
	fp.infiniband = dsvm_hw_has_infiniband(hw);
	fp.nvswitch = dsvm_hw_get_n_nvswitches(hw) > 0;
	fp.secure_boot = dsvm_hw_get_secure_boot(hw) == 1;
	*ret = fp;
}

/* FNV-1a, 64 bits (Fowler, Noll, Vo; offset basis and prime as published with it): a change
 * detector for hardware, not a defence against anyone. */
#define FNV64_BASIS 0xcbf29ce484222325ULL
#define FNV64_PRIME 0x100000001b3ULL

static uint64_t fnv1a(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= FNV64_PRIME;
	}
	return h;
}

int dsvm_pci_inventory_key(struct dsvm_ctx *ctx, char ret[DSVM_INVENTORY_KEY_SIZE])
{
	_cleanup_free_ char *devices = dsvm_sysroot_path(ctx, "/proc/bus/pci/devices");
	_cleanup_free_ char *ib = dsvm_sysroot_path(ctx, "/sys/class/infiniband");
	_cleanup_free_ char *text = NULL;
	_cleanup_closedir_ DIR *d = NULL;
	uint64_t h = FNV64_BASIS, names = 0;
	const struct dirent *de;
	int r;

	if (!devices || !ib)
		return -ENOMEM;
	r = read_file_capped(devices, 1 << 20, &text, NULL);
	if (r < 0)
		return r;
	/* Each line: bus+devfn, TAB, vendor+device, TAB, irq, BARs, ..., driver. */
	for (const char *line = text; *line;) {
		size_t len = strcspn(line, "\n"), two = strcspn(line, "\t");

		if (two < len)
			two += 1 + strcspn(line + two + 1, "\t\n");
		h = fnv1a(h, line, two < len ? two : len);
		h = fnv1a(h, "\n", 1);
		line += len + (line[len] == '\n');
	}
	/* The RDMA devices, in whatever order readdir gives them: their hashes are summed. */
	d = opendir(ib);
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			names += fnv1a(FNV64_BASIS, de->d_name, strlen(de->d_name));
	h = fnv1a(h, (const char *)&names, sizeof(names));
	snprintf(ret, DSVM_INVENTORY_KEY_SIZE, "%016llx", (unsigned long long)h);
	return 0;
}

bool dsvm_fingerprint_matches(const struct dsvm_fingerprint *recorded,
			      const struct dsvm_fingerprint *now)
{
	if (now->vm_size[0] && strcasecmp(now->vm_size, recorded->vm_size) != 0)
		return false;
	return streq(now->gpus, recorded->gpus) && now->infiniband == recorded->infiniband &&
	       now->nvswitch == recorded->nvswitch && streq(now->kernel, recorded->kernel) &&
	       now->secure_boot == recorded->secure_boot;
}

void dsvm_fingerprint_describe(const struct dsvm_fingerprint *fp, char *buf, size_t size)
{
	snprintf(buf, size, "%s, %s%s%s, kernel %s%s",
		 fp->vm_size[0] ? fp->vm_size : "size unknown", fp->gpus[0] ? fp->gpus : "no GPU",
		 fp->nvswitch ? ", NVSwitch" : "", fp->infiniband ? ", InfiniBand" : "",
		 fp->kernel[0] ? fp->kernel : "unknown", fp->secure_boot ? ", Secure Boot on" : "");
}

/* Copy a JSON string member into a fixed buffer; false when it is absent, not a string or too
 * long (a state we did not write). */
static bool get_str(const json_t *o, const char *key, char *buf, size_t size)
{
	const char *s = json_string_value(json_object_get(o, key));

	if (!s || strlen(s) >= size)
		return false;
	memcpy(buf, s, strlen(s) + 1);
	return true;
}

static bool get_bool(const json_t *o, const char *key, bool *ret)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_boolean(v))
		return false;
	*ret = json_is_true(v);
	return true;
}

static int parse_fingerprint(const json_t *o, struct dsvm_fingerprint *fp)
{
	if (!json_is_object(o) || !get_str(o, "vm_size", fp->vm_size, sizeof(fp->vm_size)) ||
	    !get_str(o, "gpus", fp->gpus, sizeof(fp->gpus)) ||
	    !get_bool(o, "infiniband", &fp->infiniband) ||
	    !get_bool(o, "nvswitch", &fp->nvswitch) ||
	    !get_str(o, "kernel", fp->kernel, sizeof(fp->kernel)) ||
	    !get_bool(o, "secure_boot", &fp->secure_boot))
		return -EBADMSG;
	return 0;
}

static int parse_kind(const json_t *o, const char *key, enum dsvm_driver_kind *ret)
{
	enum dsvm_driver_kind k =
		dsvm_driver_kind_from_string(json_string_value(json_object_get(o, key)));

	if (k == DSVM_DRIVER_INVALID)
		return -EBADMSG;
	*ret = k;
	return 0;
}

int dsvm_state_load(struct dsvm_ctx *ctx, struct dsvm_state *ret)
{
	_cleanup_free_ char *path = root_path_resolved(ctx, DSVM_STATE_PATH), *text = NULL;
	struct dsvm_state st = {};
	const char *bad = NULL;
	json_t *o, *v;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_file_capped(path, STATE_MAX_BYTES, &text, NULL);
	if (r == -ENOENT)
		return r;
	if (r < 0)
		return dsvm_set_error(ctx, r, "cannot read '%s': %s", path, strerror(-r));
	o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o) || json_integer_value(json_object_get(o, "state_version")) != 1)
		bad = "state_version";
	else if ((v = json_object_get(o, "fingerprint")) && !json_is_null(v) &&
		 parse_fingerprint(v, &st.fp) < 0)
		bad = "fingerprint";
	else if (parse_kind(o, "driver_kind", &st.kind) < 0)
		bad = "driver_kind";
	else if (parse_kind(o, "mode", &st.mode) < 0)
		bad = "mode";
	else if (!get_str(o, "branch", st.branch, sizeof(st.branch)) ||
		 !get_str(o, "version", st.version, sizeof(st.version)))
		bad = "branch";
	else if ((st.result = dsvm_state_result_from_string(
			  json_string_value(json_object_get(o, "result")))) == _DSVM_RESULT_MAX)
		bad = "result";
	else if (!get_str(o, "reason", st.reason, sizeof(st.reason)) ||
		 !get_str(o, "boot_id", st.boot_id, sizeof(st.boot_id)) ||
		 !get_str(o, "updated", st.updated, sizeof(st.updated)) ||
		 !get_bool(o, "reboot_needed", &st.reboot_needed))
		bad = "reason";
	else if (json_object_get(o, "pci_inventory") &&
		 !get_str(o, "pci_inventory", st.pci_inventory, sizeof(st.pci_inventory)))
		bad = "pci_inventory";
	if (!bad)
		st.has_fingerprint = json_is_object(json_object_get(o, "fingerprint"));
	json_decref(o);
	if (bad)
		return dsvm_set_error(ctx, -EBADMSG,
				      "'%s': not a state this agent wrote (key '%s' missing or "
				      "wrong); it is ignored and the next run reconciles from "
				      "scratch",
				      path, bad);
	*ret = st;
	return 0;
}

static json_t *state_json(const struct dsvm_state *st)
{
	const struct dsvm_fingerprint *fp = &st->fp;
	json_t *f = st->has_fingerprint
			    ? json_pack("{s:s, s:s, s:b, s:b, s:s, s:b}", "vm_size", fp->vm_size,
					"gpus", fp->gpus, "infiniband", fp->infiniband, "nvswitch",
					fp->nvswitch, "kernel", fp->kernel, "secure_boot",
					fp->secure_boot)
			    : json_null();

	return json_pack("{s:i, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s}",
			 "state_version", 1, "fingerprint", f, "driver_kind",
			 dsvm_driver_kind_to_string(st->kind), "branch", st->branch, "version",
			 st->version, "mode", dsvm_driver_kind_to_string(st->mode), "result",
			 dsvm_state_result_to_string(st->result), "reason", st->reason, "boot_id",
			 st->boot_id, "reboot_needed", st->reboot_needed, "updated", st->updated,
			 "pci_inventory", st->pci_inventory);
}

int dsvm_state_to_json(const struct dsvm_state *st, char **ret)
{
	json_t *o = state_json(st);
	char *s = o ? json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT) : NULL;

	json_decref(o);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int dsvm_state_save(struct dsvm_ctx *ctx, struct dsvm_state *st)
{
	_cleanup_free_ char *path = root_path_resolved(ctx, DSVM_STATE_PATH), *text = NULL;
	time_t now = time(NULL);
	struct tm tm;
	json_t *o;
	int r;

	if (!path)
		return -ENOMEM;
	gmtime_r(&now, &tm);
	strftime(st->updated, sizeof(st->updated), "%Y-%m-%dT%H:%M:%SZ", &tm);
	o = state_json(st);
	text = o ? json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2)) : NULL;
	json_decref(o);
	if (!text)
		return -ENOMEM;
	{
		_cleanup_free_ char *dir = path_dirname(path);

		r = dir ? mkdir_parents(dir, 0755) : -ENOMEM;
	}
	if (r >= 0) {
		_cleanup_free_ char *line = strdup_printf("%s\n", text);

		r = line ? write_file_atomic(path, line, strlen(line), 0644) : -ENOMEM;
	}
	if (r < 0)
		return dsvm_set_error(ctx, r, "cannot write '%s': %s", path, strerror(-r));
	return 0;
}

/* The attempts file in dir and its count; 0 and "" when there is none. */
static unsigned find_attempts(const char *dir, char *name, size_t size)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	unsigned best = 0;

	name[0] = '\0';
	while (d && (de = readdir(d))) {
		char *end;
		unsigned long n;

		if (strncmp(de->d_name, ATTEMPTS_PREFIX, strlen(ATTEMPTS_PREFIX)) != 0)
			continue;
		errno = 0;
		n = strtoul(de->d_name + strlen(ATTEMPTS_PREFIX), &end, 10);
		if (errno || *end || n > 1000 || n < best)
			continue;
		best = (unsigned)n;
		snprintf(name, size, "%s", de->d_name);
	}
	return best;
}

unsigned dsvm_attempts_get(struct dsvm_ctx *ctx)
{
	_cleanup_free_ char *dir = root_path_resolved(ctx, DSVM_STATE_DIR);
	char name[300];

	return dir ? find_attempts(dir, name, sizeof(name)) : 0;
}

static int sync_dir(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return -errno;
	return 0;
}

int dsvm_attempts_bump(struct dsvm_ctx *ctx)
{
	_cleanup_free_ char *dir = root_path_resolved(ctx, DSVM_STATE_DIR);
	_cleanup_free_ char *from = NULL, *to = NULL;
	char name[300];
	unsigned n;
	int r;

	if (!dir)
		return -ENOMEM;
	r = mkdir_parents(dir, 0755);
	if (r < 0)
		return dsvm_set_error(ctx, r, "cannot create '%s': %s", dir, strerror(-r));
	n = find_attempts(dir, name, sizeof(name));
	to = strdup_printf("%s/" ATTEMPTS_PREFIX "%u", dir, n + 1);
	if (!to)
		return -ENOMEM;
	if (n == 0) {
		_cleanup_close_ int fd = open(to, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		r = fd < 0 ? -errno : 0;
	} else {
		from = strdup_printf("%s/%s", dir, name);
		r = !from ? -ENOMEM : rename(from, to) < 0 ? -errno : 0;
	}
	if (r >= 0)
		r = sync_dir(dir);
	if (r < 0)
		return dsvm_set_error(ctx, r, "cannot count the attempt in '%s': %s", to,
				      strerror(-r));
	return (int)n + 1;
}

int dsvm_attempts_clear(struct dsvm_ctx *ctx)
{
	_cleanup_free_ char *dir = root_path_resolved(ctx, DSVM_STATE_DIR);
	char name[300];

	if (!dir)
		return -ENOMEM;
	while (find_attempts(dir, name, sizeof(name)) > 0) {
		_cleanup_free_ char *path = strdup_printf("%s/%s", dir, name);

		if (!path)
			return -ENOMEM;
		if (unlink(path) < 0)
			return dsvm_set_error(ctx, -errno, "cannot remove '%s': %m", path);
	}
	(void)sync_dir(dir);
	return 0;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static bool parse_uint(const char *v, unsigned lo, unsigned hi, unsigned *ret)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || n < lo || n > hi || v[0] == '-')
		return false;
	*ret = (unsigned)n;
	return true;
}

int dsvm_firstboot_conf_load(struct dsvm_ctx *ctx, struct dsvm_firstboot_conf *ret)
{
	_cleanup_free_ char *path = root_path_resolved(ctx, DSVM_FIRSTBOOT_CONF), *text = NULL;
	struct dsvm_firstboot_conf c = { .max_attempts = 3,
					 .reboot = DSVM_REBOOT_NEVER,
					 .deadline_s = 900,
					 .program_timeout_s = 600 };
	unsigned lineno = 0;
	char *save = NULL;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_file_capped(path, CONF_MAX_BYTES, &text, NULL);
	if (r == -ENOENT) {
		*ret = c;
		return 0;
	}
	if (r < 0)
		return dsvm_set_error(ctx, r, "cannot read '%s': %s", path, strerror(-r));
	for (char *line = text; line; line = save) {
		char *nl = strchr(line, '\n'), *eq, *key, *value;
		bool ok;

		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		key = trim(line);
		if (!*key || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq)
			return dsvm_set_error(ctx, -EBADMSG,
					      "%s:%u: '%s' is not key=value (keys: max_attempts, "
					      "reboot, deadline_s, program_timeout_s)",
					      path, lineno, key);
		*eq = '\0';
		value = trim(eq + 1);
		key = trim(key);
		if (streq(key, "max_attempts"))
			ok = parse_uint(value, 1, 100, &c.max_attempts);
		else if (streq(key, "deadline_s"))
			ok = parse_uint(value, 10, 86400, &c.deadline_s);
		else if (streq(key, "program_timeout_s"))
			ok = parse_uint(value, 1, 86400, &c.program_timeout_s);
		else if (streq(key, "reboot")) {
			ok = streq(value, "never") || streq(value, "auto");
			c.reboot = streq(value, "auto") ? DSVM_REBOOT_AUTO : DSVM_REBOOT_NEVER;
		} else
			return dsvm_set_error(ctx, -EBADMSG,
					      "%s:%u: unknown key '%s' (keys: max_attempts, "
					      "reboot, "
					      "deadline_s, program_timeout_s)",
					      path, lineno, key);
		if (!ok)
			return dsvm_set_error(ctx, -EBADMSG,
					      "%s:%u: bad value '%s' for '%s' (max_attempts 1-100; "
					      "reboot never|auto; deadline_s 10-86400; "
					      "program_timeout_s 1-86400)",
					      path, lineno, value, key);
	}
	*ret = c;
	return 0;
}

int dsvm_root_lock(struct dsvm_ctx *ctx, bool wait)
{
	_cleanup_free_ char *path = root_path_resolved(ctx, DSVM_ROOT_LOCK), *dir = NULL;
	int fd, r;

	if (!path || !(dir = path_dirname(path)))
		return -ENOMEM;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno == ENOENT) {
		/* A root that never booted has no /run yet. */
		r = mkdir_parents(dir, 0755);
		if (r < 0)
			return dsvm_set_error(ctx, r, "cannot create '%s': %s", dir, strerror(-r));
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	}
	if (fd < 0)
		return dsvm_set_error(ctx, -errno, "cannot open the root lock '%s': %m", path);
	if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		r = -errno;
		close(fd);
		if (r == -EWOULDBLOCK)
			return dsvm_set_error(ctx, -EBUSY,
					      "'%s' is held by another dsvm process (a reconcile "
					      "or "
					      "dsvm-build install); try again when it has finished",
					      path);
		return dsvm_set_error(ctx, r, "cannot lock '%s': %s", path, strerror(-r));
	}
	return fd;
}
