/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>

#include "detect-internal.h"
#include "dsvm/catalog.h"

/* One hex attribute of a device; false (and a debug line) when it is missing or garbage. */
static bool read_hex_attr(struct dsvm_ctx *ctx, int dfd, const char *dev, const char *attr,
			  unsigned digits, uint32_t *ret)
{
	char buf[SYSFS_ATTR_MAX];
	size_t size;
	int r;

	r = read_small_at(dfd, attr, buf, sizeof(buf), &size);
	if (r == 0)
		r = sysfs_parse_hex(buf, size, digits, ret);
	if (r < 0) {
		dsvm_debug(ctx, "PCI %s: %s unreadable or malformed (%s), ignored", dev, attr,
			   strerror(-r));
		return false;
	}
	return true;
}

static enum dsvm_gpu_vendor vendor_of(uint32_t vendor_id)
{
	switch (vendor_id) {
	case DSVM_PCI_VENDOR_NVIDIA: /* pci.ids: "10de  NVIDIA Corporation" */
		return DSVM_VENDOR_NVIDIA;
	case DSVM_PCI_VENDOR_AMD: /* pci.ids: "1002  Advanced Micro Devices, Inc. [AMD/ATI]" */
		return DSVM_VENDOR_AMD;
	default:
		return DSVM_VENDOR_OTHER;
	}
}

static int add_function(struct dsvm_gpu **array, size_t *n, size_t *alloc,
			const struct dsvm_gpu *gpu)
{
	/* The device cap bounds these arrays too: one slot per device at most. */
	if (*n == *alloc) {
		size_t want = *alloc ? *alloc * 2 : 8;
		struct dsvm_gpu *p = reallocarray(*array, want, sizeof(*p));

		if (!p)
			return -ENOMEM;
		*array = p;
		*alloc = want;
	}
	(*array)[(*n)++] = *gpu;
	return 0;
}

/* Look at one /sys/bus/pci/devices entry; a function of no class we count costs one read. */
static int scan_device(struct dsvm_ctx *ctx, struct pci_scan *scan, int busfd, const char *name)
{
	_cleanup_close_ int dfd = -1;
	uint32_t class_code = 0, vendor = 0, device = 0, sv = 0, sd = 0;
	unsigned class16;
	struct dsvm_gpu gpu;
	char class_path[NAME_MAX + sizeof("/class")];

	/*
	 * Most functions are neither GPUs nor fabric: read their class through the bus directory
	 * (one open) and open the device directory only for the few that matter.
	 */
	snprintf(class_path, sizeof(class_path), "%s/class", name);
	if (!read_hex_attr(ctx, busfd, name, class_path, 6, &class_code))
		return 0;
	class16 = class_code >> 8;
	if (class16 != DSVM_PCI_CLASS_VGA && class16 != DSVM_PCI_CLASS_3D &&
	    class16 != DSVM_PCI_CLASS_DISPLAY && class16 != DSVM_PCI_CLASS_ACCEL &&
	    class16 != DSVM_PCI_CLASS_BRIDGE && class16 != DSVM_PCI_CLASS_IB &&
	    class16 != DSVM_PCI_CLASS_IB_SERIAL)
		return 0;
	/*
	 * "Infiniband controller" (0x0207: ConnectX in InfiniBand mode; Ethernet mode is 0x0200)
	 * and the serial-bus "InfiniBand" class (0x0c06: ConnectX-3 mlx4, QLogic/Intel HCAs) are
	 * InfiniBand whoever made them.
	 */
	if (class16 == DSVM_PCI_CLASS_IB || class16 == DSVM_PCI_CLASS_IB_SERIAL) {
		scan->n_ib_pci++;
		return 0;
	}
	dfd = openat(busfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		dsvm_debug(ctx, "PCI %s: cannot open (%s), ignored", name, strerror(errno));
		return 0;
	}
	if (!read_hex_attr(ctx, dfd, name, "vendor", 4, &vendor))
		return 0;
	/*
	 * GPUs are not all display classes: lspci shows the Instinct MI300X as "Processing
	 * accelerators [1200]" and the Radeon PRO V620 as "Display controller [0380]". Other
	 * vendors' accelerators (0x1200) are not GPUs this project drives.
	 */
	if (class16 == DSVM_PCI_CLASS_ACCEL && vendor != DSVM_PCI_VENDOR_AMD &&
	    vendor != DSVM_PCI_VENDOR_NVIDIA)
		return 0;

	if (class16 == DSVM_PCI_CLASS_BRIDGE) {
		/*
		 * NVSwitch is an NVIDIA function of class 0x0680 ("Bridge [0680]: NVIDIA
		 * Corporation GH100 [H100 NVSwitch] [10de:22a3]", lspci on HGX H100; 10de:1af1
		 * "GA100 [A100 NVSwitch]" in pci.ids). NVIDIA's old nForce MCP Ethernet used the
		 * same class, but those are desktop chipsets that no Azure size exposes.
		 */
		if (vendor == DSVM_PCI_VENDOR_NVIDIA)
			scan->n_nvswitches++;
		return 0;
	}
	if (!read_hex_attr(ctx, dfd, name, "device", 4, &device))
		return 0;
	/* Subsystem ids only refine a model; a device without them is still a GPU. */
	if (!read_hex_attr(ctx, dfd, name, "subsystem_vendor", 4, &sv) ||
	    !read_hex_attr(ctx, dfd, name, "subsystem_device", 4, &sd))
		sv = sd = 0;

	memset(&gpu, 0, sizeof(gpu));
	/* pci_address_is_valid() let through at most 17 characters. */
	memcpy(gpu.address, name, strnlen(name, sizeof(gpu.address) - 1));
	gpu.vendor = vendor_of(vendor);
	gpu.vendor_id = (uint16_t)vendor;
	gpu.device_id = (uint16_t)device;
	gpu.subsystem_vendor_id = (uint16_t)sv;
	gpu.subsystem_device_id = (uint16_t)sd;
	gpu.class_code = class_code;
	/*
	 * Only NVIDIA and AMD make GPUs a driver kind serves. Every other display function is a
	 * baseboard or virtual adapter: ASPEED 1a03:2000 and Matrox G200 BMC VGA on servers,
	 * Hyper-V 1414:5353, QEMU 1234:1111 and Cirrus 1013:00b8, VMware 15ad:0405 in VMs. They
	 * are listed apart and never counted, so the fingerprint and health gate compare GPUs.
	 */
	if (gpu.vendor == DSVM_VENDOR_OTHER) {
		dsvm_debug(ctx, "PCI %s: %04x:%04x is a display adapter, not a GPU", name, vendor,
			   device);
		return add_function(&scan->displays, &scan->n_displays, &scan->alloc_displays,
				    &gpu);
	}
	return add_function(&scan->gpus, &scan->n_gpus, &scan->alloc_gpus, &gpu);
}

static int gpu_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dsvm_gpu *)a)->address, ((const struct dsvm_gpu *)b)->address);
}

int pci_scan(struct dsvm_ctx *ctx, struct pci_scan *scan)
{
	_cleanup_free_ char *path = dsvm_sysroot_path(ctx, "/sys/bus/pci/devices");
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int r;

	if (!path)
		return -ENOMEM;
	d = opendir(path);
	if (!d) {
		/* No PCI bus at all (a container, an empty fixture): a machine with no GPU. */
		if (errno == ENOENT || errno == ENOTDIR) {
			dsvm_debug(ctx, "'%s' does not exist: no PCI devices", path);
			return 0;
		}
		return dsvm_set_error(ctx, -errno, "cannot list '%s': %s", path, strerror(errno));
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (!pci_address_is_valid(de->d_name)) {
			dsvm_debug(ctx, "'%s/%s' is not a PCI address, ignored", path, de->d_name);
			continue;
		}
		if (scan->n_devices >= DSVM_DETECT_MAX_PCI_DEVICES) {
			dsvm_warn(ctx, "more than %d PCI devices under '%s'; the rest are ignored",
				  DSVM_DETECT_MAX_PCI_DEVICES, path);
			break;
		}
		scan->n_devices++;
		r = scan_device(ctx, scan, dirfd(d), de->d_name);
		if (r < 0)
			return r;
	}
	/* readdir order is the filesystem's; fix it so output and fingerprints are stable. */
	if (scan->n_gpus > 1)
		qsort(scan->gpus, scan->n_gpus, sizeof(*scan->gpus), gpu_cmp);
	if (scan->n_displays > 1)
		qsort(scan->displays, scan->n_displays, sizeof(*scan->displays), gpu_cmp);
	return 0;
}

/*
 * Ports of one RDMA device whose link layer is InfiniBand (RoCE and iWARP ports say
 * "Ethernet"); *ret_layers counts the ports that said anything at all.
 */
static unsigned count_ib_ports(struct dsvm_ctx *ctx, int devfd, const char *dev,
			       unsigned *ret_layers)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	unsigned n = 0, seen = 0;
	int fd;

	*ret_layers = 0;
	fd = openat(devfd, "ports", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d)) && seen < DSVM_DETECT_MAX_IB_PORTS) {
		_cleanup_close_ int pfd = -1;
		char buf[SYSFS_ATTR_MAX];
		size_t size;

		if (de->d_name[0] == '.')
			continue;
		seen++;
		pfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd < 0 || read_small_at(pfd, "link_layer", buf, sizeof(buf), &size) < 0) {
			dsvm_debug(ctx, "infiniband %s port %s: no link_layer, ignored", dev,
				   de->d_name);
			continue;
		}
		if (size > 0 && buf[size - 1] == '\n')
			buf[--size] = '\0';
		(*ret_layers)++;
		if (streq(buf, "InfiniBand"))
			n++;
	}
	return n;
}

int ib_scan(struct dsvm_ctx *ctx, struct pci_scan *scan)
{
	_cleanup_free_ char *path = dsvm_sysroot_path(ctx, "/sys/class/infiniband");
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	unsigned seen = 0;

	if (!path)
		return -ENOMEM;
	d = opendir(path);
	if (!d) {
		dsvm_debug(ctx, "'%s': %s: no RDMA devices", path, strerror(errno));
		return 0;
	}
	while ((de = readdir(d))) {
		_cleanup_close_ int fd = -1;
		unsigned ports, layers;

		if (de->d_name[0] == '.')
			continue;
		if (++seen > DSVM_DETECT_MAX_IB_DEVICES) {
			dsvm_warn(ctx, "more than %d entries under '%s'; the rest are ignored",
				  DSVM_DETECT_MAX_IB_DEVICES, path);
			break;
		}
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ports = count_ib_ports(ctx, fd, de->d_name, &layers);
		scan->n_ib_ports += ports;
		/*
		 * An entry is InfiniBand when a port says so, or when none says anything: drivers
		 * that predate the link_layer attribute (mlx4, QLogic qib) only ever did
		 * InfiniBand. An entry whose ports all say "Ethernet" is RoCE (accelerated
		 * networking's mlx5 VF) and never counts.
		 */
		if (ports > 0 || layers == 0) {
			dsvm_debug(ctx, "infiniband %s: InfiniBand (%u port(s) say so)", de->d_name,
				   ports);
			scan->n_ib_devices++;
		}
	}
	return 0;
}

void pci_scan_done(struct pci_scan *scan)
{
	free(scan->gpus);
	scan->gpus = NULL;
	scan->n_gpus = scan->alloc_gpus = 0;
	free(scan->displays);
	scan->displays = NULL;
	scan->n_displays = scan->alloc_displays = 0;
}
