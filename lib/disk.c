/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include <blkid.h>

#include "detect-internal.h"
#include "disk-internal.h"

/* Read this much of a device without a signature to tell "blank" from "unknown". */
#define BLANK_CHECK_BYTES (1u << 20)
/* Hyper-V's storvsc sits this far below /sys/devices at most. */
#define SYSFS_MAX_ANCESTORS 16

static const char *const content_names[_DSVM_DISK_CONTENT_MAX] = {
	[DSVM_DISK_CONTENT_UNKNOWN] = "unknown",
	[DSVM_DISK_CONTENT_BLANK] = "blank",
	[DSVM_DISK_CONTENT_NTFS_FRESH] = "ntfs-fresh",
	[DSVM_DISK_CONTENT_NTFS_DATA] = "ntfs-data",
	[DSVM_DISK_CONTENT_EXT4] = "ext4",
	[DSVM_DISK_CONTENT_OTHER] = "other",
};

static const char *const role_names[_DSVM_DISK_ROLE_MAX] = {
	[DSVM_DISK_ROLE_OTHER] = "other",	[DSVM_DISK_ROLE_OS] = "os",
	[DSVM_DISK_ROLE_RESOURCE] = "resource", [DSVM_DISK_ROLE_LOCAL_NVME] = "local-nvme",
	[DSVM_DISK_ROLE_DATA] = "data",
};

const char *dsvm_disk_content_to_string(enum dsvm_disk_content content)
{
	return (unsigned)content < _DSVM_DISK_CONTENT_MAX ? content_names[content] : NULL;
}

const char *dsvm_disk_role_to_string(enum dsvm_disk_role role)
{
	return (unsigned)role < _DSVM_DISK_ROLE_MAX ? role_names[role] : NULL;
}

static void blkid_free_probep(blkid_probe *pr)
{
	if (*pr)
		blkid_free_probe(*pr);
}

#define _cleanup_blkid_probe_ _cleanup_(blkid_free_probep)

struct fd_region {
	int fd;
	uint64_t offset;
};

static int fd_region_read(void *userdata, uint64_t off, void *buf, size_t size)
{
	const struct fd_region *reg = userdata;
	size_t done = 0;

	while (done < size) {
		ssize_t n = pread(reg->fd, (char *)buf + done, size - done,
				  (off_t)(reg->offset + off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* True when the first bytes of the region read back as zeros (a never-written disk). */
static bool region_is_zero(int fd, uint64_t offset, uint64_t size)
{
	static const uint8_t zero[4096];
	uint8_t buf[4096];
	uint64_t end = size < BLANK_CHECK_BYTES ? size : BLANK_CHECK_BYTES;

	for (uint64_t off = 0; off < end; off += sizeof(buf)) {
		size_t want = end - off < sizeof(buf) ? (size_t)(end - off) : sizeof(buf);
		struct fd_region reg = { fd, offset };

		if (fd_region_read(&reg, off, buf, want) < 0 || memcmp(buf, zero, want) != 0)
			return false;
	}
	return true;
}

static void copy_value(blkid_probe pr, const char *name, char *out, size_t outsize)
{
	const char *v = NULL;

	if (blkid_probe_lookup_value(pr, name, &v, NULL) == 0 && v)
		snprintf(out, outsize, "%s", v);
}

/* What the filesystem (or its absence) in [offset, offset+size) of fd means. */
static void classify_region(struct dsvm_ctx *ctx, const char *path, int fd, uint64_t offset,
			    uint64_t size, bool partitioned, struct dsvm_disk_probe *p)
{
	_cleanup_blkid_probe_ blkid_probe pr = blkid_new_probe();
	struct fd_region reg = { fd, offset };
	struct ntfs_io io = { fd_region_read, &reg, size };
	int r;

	p->content = DSVM_DISK_CONTENT_UNKNOWN;
	if (!pr || blkid_probe_set_device(pr, fd, (blkid_loff_t)offset, (blkid_loff_t)size) < 0)
		return;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_LABEL);
	r = blkid_do_safeprobe(pr);
	if (r == 1) {
		p->content = region_is_zero(fd, offset, size) ? DSVM_DISK_CONTENT_BLANK
							      : DSVM_DISK_CONTENT_UNKNOWN;
		return;
	}
	if (r != 0) {
		dsvm_debug(ctx, "'%s': ambiguous or unreadable signatures at offset %llu", path,
			   (unsigned long long)offset);
		return;
	}
	copy_value(pr, "TYPE", p->fstype, sizeof(p->fstype));
	copy_value(pr, "LABEL", p->label, sizeof(p->label));
	if (streq(p->fstype, "ext4")) {
		p->content = DSVM_DISK_CONTENT_EXT4;
	} else if (streq(p->fstype, "ntfs")) {
		r = ntfs_root_scan(&io, &p->n_files, &p->warning_file);
		if (r < 0) {
			dsvm_debug(ctx, "'%s': NTFS root directory unreadable (%s)", path,
				   strerror(-r));
			p->content = DSVM_DISK_CONTENT_UNKNOWN;
		} else if (p->n_files == 0 && partitioned) {
			/* cloud-init's rule: only a partitioned NTFS can be Azure's fresh disk. */
			p->content = DSVM_DISK_CONTENT_NTFS_FRESH;
		} else {
			p->content = DSVM_DISK_CONTENT_NTFS_DATA;
		}
	} else if (p->fstype[0]) {
		p->content = DSVM_DISK_CONTENT_OTHER;
	}
}

int dsvm_disk_classify(struct dsvm_ctx *ctx, const char *path, struct dsvm_disk_probe *ret)
{
	_cleanup_close_ int fd = -1;
	_cleanup_blkid_probe_ blkid_probe pr = NULL;
	struct dsvm_disk_probe p;
	blkid_partlist pl;
	blkid_partition part;
	const char *pttype = NULL;
	uint64_t size;
	int n, r;

	memset(&p, 0, sizeof(p));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return dsvm_set_error(ctx, -errno, "cannot open '%s': %s", path, strerror(errno));
	pr = blkid_new_probe();
	if (!pr)
		return -ENOMEM;
	if (blkid_probe_set_device(pr, fd, 0, 0) < 0) {
		p.content = DSVM_DISK_CONTENT_UNKNOWN;
		*ret = p;
		return 0;
	}
	size = (uint64_t)blkid_probe_get_size(pr);
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_LABEL);
	blkid_probe_enable_partitions(pr, 1);
	r = blkid_do_safeprobe(pr);
	if (r == 0 && blkid_probe_lookup_value(pr, "PTTYPE", &pttype, NULL) == 0 && pttype) {
		snprintf(p.pttype, sizeof(p.pttype), "%s", pttype);
		pl = blkid_probe_get_partitions(pr);
		n = pl ? blkid_partlist_numof_partitions(pl) : -1;
		if (n < 0) {
			p.content = DSVM_DISK_CONTENT_UNKNOWN;
		} else if (n == 0) {
			p.content = DSVM_DISK_CONTENT_BLANK; /* a table and nothing in it */
		} else if (n > 2) {
			p.n_partitions = (unsigned)n;
			p.content = DSVM_DISK_CONTENT_OTHER; /* never Azure's layout: someone's */
		} else {
			/* Two partitions: the first is Microsoft's reserved one (LP: #1686514). */
			p.n_partitions = (unsigned)n;
			p.fs_partition = (unsigned)n;
			part = blkid_partlist_get_partition(pl, n - 1);
			if (!part || blkid_partition_get_start(part) < 0 ||
			    blkid_partition_get_size(part) <= 0)
				p.content = DSVM_DISK_CONTENT_UNKNOWN;
			else
				classify_region(ctx, path, fd,
						(uint64_t)blkid_partition_get_start(part) * 512,
						(uint64_t)blkid_partition_get_size(part) * 512,
						true, &p);
		}
	} else if (r == 0) {
		classify_region(ctx, path, fd, 0, size, false, &p);
	} else if (r == 1) {
		p.content = region_is_zero(fd, 0, size) ? DSVM_DISK_CONTENT_BLANK
							: DSVM_DISK_CONTENT_UNKNOWN;
	} else {
		dsvm_debug(ctx, "'%s': ambiguous or unreadable signatures", path);
		p.content = DSVM_DISK_CONTENT_UNKNOWN;
	}
	*ret = p;
	return 0;
}

/* Read a sysfs text attribute relative to dirfd, trimmed of trailing blanks; "" on failure. */
static void read_attr_text(int dirfd, const char *name, char *out, size_t outsize)
{
	char buf[SYSFS_ATTR_MAX];
	size_t size;

	out[0] = '\0';
	if (read_small_at(dirfd, name, buf, sizeof(buf), &size) < 0)
		return;
	while (size > 0 && isspace((unsigned char)buf[size - 1]))
		buf[--size] = '\0';
	for (size_t i = 0; i < size; i++)
		if (!isprint((unsigned char)buf[i]))
			buf[i] = '?';
	snprintf(out, outsize, "%s", buf);
}

static bool is_virtual_block(const char *name)
{
	static const char *const prefixes[] = { "loop", "ram", "zram", "sr",
						"dm-",	"md",  "nbd",  "fd" };

	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

/*
 * The VMBus device_id above a SCSI disk and the disk's LUN: realpath of the block device's
 * "device" link is .../{vmbus guid}/hostH/targetH:C:T/H:C:T:L. Stays inside the sysroot.
 */
static void hyperv_ids(struct dsvm_ctx *ctx, const char *blockdir, char *device_id, size_t idsize,
		       long *ret_lun)
{
	_cleanup_free_ char *link = strdup_printf("%s/device", blockdir);
	_cleanup_free_ char *sysdevs = dsvm_sysroot_path(ctx, "/sys/devices");
	char real[PATH_MAX];
	char *slash, *colon;

	device_id[0] = '\0';
	*ret_lun = -1;
	if (!link || !sysdevs || !realpath(link, real))
		return;
	slash = strrchr(real, '/');
	colon = slash ? strrchr(slash, ':') : NULL;
	if (colon && isdigit((unsigned char)colon[1]))
		*ret_lun = strtol(colon + 1, NULL, 10);
	for (int depth = 0; depth < SYSFS_MAX_ANCESTORS; depth++) {
		_cleanup_close_ int dfd = -1;

		slash = strrchr(real, '/');
		if (!slash || strncmp(real, sysdevs, strlen(sysdevs)) != 0 ||
		    strlen(real) <= strlen(sysdevs))
			return;
		dfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			read_attr_text(dfd, "device_id", device_id, idsize);
			if (device_id[0])
				return;
		}
		*slash = '\0';
	}
}

static enum dsvm_disk_role scsi_role(const char *device_id, long lun)
{
	/* WALinuxAgent 66-azure-storage.rules and azure-vm-utils 80-azure-disk.rules. */
	if (strlen(device_id) >= 15 && strncmp(device_id + 1, "00000000-0000-", 14) == 0)
		return DSVM_DISK_ROLE_OS;
	if (strlen(device_id) >= 15 && strncmp(device_id + 1, "00000000-0001-", 14) == 0)
		return DSVM_DISK_ROLE_RESOURCE;
	if (strcasecmp(device_id, "{f8b3781a-1e82-4818-a1c3-63d806ec15bb}") == 0)
		return lun == 0	  ? DSVM_DISK_ROLE_OS
		       : lun == 1 ? DSVM_DISK_ROLE_RESOURCE
				  : DSVM_DISK_ROLE_OTHER;
	if (strcasecmp(device_id, "{f8b3781b-1e82-4818-a1c3-63d806ec15bb}") == 0 ||
	    strcasecmp(device_id, "{f8b3781c-1e82-4818-a1c3-63d806ec15bb}") == 0 ||
	    strcasecmp(device_id, "{f8b3781d-1e82-4818-a1c3-63d806ec15bb}") == 0)
		return DSVM_DISK_ROLE_DATA;
	return DSVM_DISK_ROLE_OTHER;
}

static enum dsvm_disk_role disk_role(struct dsvm_ctx *ctx, const char *blockdir, int dfd,
				     struct dsvm_disk *d)
{
	char vendor[32], nsid[16], device_id[64];
	long lun;

	read_attr_text(dfd, "device/model", d->model, sizeof(d->model));
	if (strncmp(d->name, "nvme", 4) == 0) {
		if (streq(d->model, "Microsoft NVMe Direct Disk") || streq(d->model, "Microsoft "
										     "NVMe Direct "
										     "Disk v2"))
			return DSVM_DISK_ROLE_LOCAL_NVME;
		if (streq(d->model, "MSFT NVMe Accelerator v1.0")) {
			read_attr_text(dfd, "nsid", nsid, sizeof(nsid));
			return streq(nsid, "1") ? DSVM_DISK_ROLE_OS : DSVM_DISK_ROLE_DATA;
		}
		return DSVM_DISK_ROLE_OTHER;
	}
	read_attr_text(dfd, "device/vendor", vendor, sizeof(vendor));
	if (!streq(vendor, "Msft") || !streq(d->model, "Virtual Disk"))
		return DSVM_DISK_ROLE_OTHER;
	hyperv_ids(ctx, blockdir, device_id, sizeof(device_id), &lun);
	return scsi_role(device_id, lun);
}

static int disk_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dsvm_disk *)a)->name, ((const struct dsvm_disk *)b)->name);
}

static void probe_disk(struct dsvm_ctx *ctx, struct dsvm_disk *d)
{
	_cleanup_free_ char *node = dsvm_sysroot_path(ctx, d->devnode);

	if (!node || dsvm_disk_classify(ctx, node, &d->probe) < 0) {
		dsvm_debug(ctx, "'%s' not probed: %s", d->devnode, dsvm_ctx_get_error(ctx));
		dsvm_ctx_clear_error(ctx);
		return;
	}
	d->probed = true;
	/* Without Hyper-V's ids (NVMe-only sizes, test trees) Azure's label still says it. */
	if (d->role == DSVM_DISK_ROLE_OTHER && streq(d->probe.fstype, "ntfs") &&
	    streq(d->probe.label, DSVM_RESOURCE_DISK_LABEL))
		d->role = DSVM_DISK_ROLE_RESOURCE;
}

static int scan_block_entry(struct dsvm_ctx *ctx, const char *classdir, int classfd,
			    const char *name, struct dsvm_disk *d)
{
	_cleanup_free_ char *blockdir = strdup_printf("%s/%s", classdir, name);
	_cleanup_close_ int dfd = -1;
	char buf[SYSFS_ATTR_MAX];
	size_t size;

	if (!blockdir)
		return -ENOMEM;
	dfd = openat(classfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	/* Partitions have a "partition" attribute; whole disks do not. */
	if (faccessat(dfd, "partition", F_OK, 0) == 0)
		return 0;
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->devnode, sizeof(d->devnode), "/dev/%s", name);
	if (read_small_at(dfd, "size", buf, sizeof(buf), &size) == 0) {
		char *end;
		unsigned long long sectors = strtoull(buf, &end, 10);

		/* "size" counts 512-byte sectors whatever the logical block size. */
		if (end != buf && (*end == '\n' || *end == '\0') && sectors <= UINT64_MAX / 512)
			d->size_bytes = sectors * 512;
	}
	d->role = disk_role(ctx, blockdir, dfd, d);
	return 1;
}

int dsvm_disks_scan(struct dsvm_ctx *ctx, bool probe, struct dsvm_disk **ret, size_t *ret_n)
{
	_cleanup_free_ char *classdir = dsvm_sysroot_path(ctx, "/sys/class/block");
	_cleanup_free_ struct dsvm_disk *disks = NULL;
	size_t n = 0, alloc = 0, seen = 0;
	DIR *dir;
	struct dirent *de;
	int r = 0;

	if (!classdir)
		return -ENOMEM;
	dir = opendir(classdir);
	if (!dir) {
		dsvm_debug(ctx, "'%s': %s: no disks", classdir, strerror(errno));
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.' || is_virtual_block(de->d_name) ||
		    strlen(de->d_name) >= sizeof(disks->name))
			continue;
		if (++seen > DSVM_DISK_MAX_BLOCK_DEVICES) {
			dsvm_warn(ctx, "more than %d block devices; the rest are ignored",
				  DSVM_DISK_MAX_BLOCK_DEVICES);
			break;
		}
		if (n == alloc) {
			size_t want = alloc ? alloc * 2 : 8;
			struct dsvm_disk *p = reallocarray(disks, want, sizeof(*p));

			if (!p) {
				r = -ENOMEM;
				break;
			}
			disks = p;
			alloc = want;
		}
		r = scan_block_entry(ctx, classdir, dirfd(dir), de->d_name, &disks[n]);
		if (r < 0)
			break;
		if (r > 0)
			n++;
		r = 0;
	}
	closedir(dir);
	if (r < 0)
		return r;
	if (n > 1)
		qsort(disks, n, sizeof(*disks), disk_cmp);
	for (size_t i = 0; probe && i < n; i++)
		if (disks[i].role != DSVM_DISK_ROLE_OS && disks[i].role != DSVM_DISK_ROLE_DATA)
			probe_disk(ctx, &disks[i]);
	*ret = TAKE_PTR(disks);
	*ret_n = n;
	return 0;
}
