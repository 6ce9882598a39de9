#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate fake sysroots for `dsvm-firstboot detect --sysroot DIR` from the table below.

Usage: make-sysroot.py [--module NAME=VERSION]... OUTDIR [CASE...]
                                          one OUTDIR/CASE tree per case (all cases by default)
       make-sysroot.py --list             print the case names

--module NAME=VERSION writes sys/module/NAME/version in every case generated, as a loaded module
shows its version there (/sys/module/nvidia/version holds the bare version, e.g. 580.95.05); it
is added to, and for the same NAME replaces, a case's own `modules`. Repeatable.

A tree holds what detection reads, laid out as the kernel lays it out:
  sys/devices/pciDDDD:BB/ADDR/{vendor,device,class,subsystem_vendor,subsystem_device,config}
  sys/bus/pci/devices/ADDR -> ../../../devices/pciDDDD:BB/ADDR   (relative symlinks, as in sysfs)
  sys/class/infiniband/NAME/ports/N/link_layer
  sys/firmware/efi/efivars/SecureBoot-8be4df61-...   (4 attribute bytes + 1 data byte)
  proc/sys/kernel/osrelease, proc/driver/nvidia/version, run/cloud-init/instance-data.json
  sys/module/NAME/version   (a loaded module's version)
  sys/class/block/NAME (+ device/{vendor,model}, size), with the Hyper-V VMBus device_id above it
`config` is the first 64 bytes of PCI configuration space, so `lspci -A linux-sysfs` reads the
same tree (the benchmark compares against it, and it shows the fixture ids are what they claim).

PCI ids are real. Sources, per id:
  [pciids] /usr/share/misc/pci.ids (pciutils database, version 2023-04-10, installed here)
  [nvreadme] NVIDIA open-gpu-kernel-modules README.md, "Compatible GPUs" table (device id,
             subsystem vendor, subsystem device), github.com/NVIDIA/open-gpu-kernel-modules
  [lspci]  public `lspci -nn` captures: "Bridge [0680]: NVIDIA Corporation GH100 [H100 NVSwitch]
           [10de:22a3]" (HGX H100), "Processing accelerators [1200]: ... Aqua Vanjaram
           [Instinct MI300X] [1002:74a1]", "Display controller [0380]: ... Navi 21 [Radeon Pro
           V620] [1002:73a1]", "Display controller [0380]: ... Arcturus GL-XL [Instinct MI100]
           [1002:738c]", "Processing accelerators [1200]: ... Aqua Vanjaram [Instinct MI325X]
           [1002:74a5]" (newer than pci.ids 2023.04), "VGA compatible controller [0300]: ...
           Navi 31 [Radeon RX 7900 XT/7900 XTX] [1002:744c]"
  [qemu]   QEMU include/hw/pci/pci.h: PCI_VENDOR_ID_QEMU 0x1234, PCI_DEVICE_ID_QEMU_VGA 0x1111
           (the standard/bochs VGA); its Cirrus emulation is the CL-GD5446, pci.ids 1013:00b8
  [notes]  FIELD-NOTES: BMC adapters (ASPEED 1a03:2000, Matrox G200) are class 0x0300; older
           InfiniBand HCAs (ConnectX-3 mlx4, QLogic) are class 0x0c06
Where no public record gives a subsystem id, the fixture uses the vendor id and 0000: detection
never reads meaning into subsystem ids.
"""

import json
import os
import struct
import sys

# name: (vendor, device, class, subsystem vendor, subsystem device), with its source.
PCI = {
    "hyperv-vga": (0x1414, 0x5353, 0x030000, 0x1414, 0x0000),  # [pciids] Hyper-V virtual VGA
    "cx4lx-vf": (0x15B3, 0x1016, 0x020000, 0x15B3, 0x0000),  # [pciids] ConnectX-4 Lx VF (Ethernet)
    "cx6-vf": (0x15B3, 0x101C, 0x020700, 0x15B3, 0x0000),  # [pciids] ConnectX-6 VF, Infiniband class
    "cx7-vf": (0x15B3, 0x101E, 0x020700, 0x15B3, 0x0000),  # [pciids] ConnectX mlx5Gen VF
    "k80": (0x10DE, 0x102D, 0x030200, 0x10DE, 0x0000),  # [pciids] GK210GL [Tesla K80]
    "p100": (0x10DE, 0x15F8, 0x030200, 0x10DE, 0x0000),  # [pciids] GP100GL [Tesla P100 PCIe 16GB]
    "v100": (0x10DE, 0x1DB4, 0x030200, 0x10DE, 0x0000),  # [pciids] GV100GL [Tesla V100 PCIe 16GB]
    "t4": (0x10DE, 0x1EB8, 0x030200, 0x10DE, 0x0000),  # [pciids] TU104GL [Tesla T4]
    "a10": (0x10DE, 0x2236, 0x030200, 0x10DE, 0x1482),  # [pciids] GA102GL [A10]; [nvreadme]
    "a100-pcie-80gb": (0x10DE, 0x20B5, 0x030200, 0x10DE, 0x1533),  # [pciids]; [nvreadme]
    "a100-sxm4-40gb": (0x10DE, 0x20B0, 0x030200, 0x10DE, 0x0000),  # [pciids] [A100 SXM4 40GB]
    "nvswitch-a100": (0x10DE, 0x1AF1, 0x068000, 0x10DE, 0x0000),  # [pciids] GA100 [A100 NVSwitch]
    "h100-nvl": (0x10DE, 0x2321, 0x030200, 0x10DE, 0x1839),  # [nvreadme] NVIDIA H100 NVL
    "h100-sxm5": (0x10DE, 0x2330, 0x030200, 0x10DE, 0x16C1),  # [pciids] [H100 SXM5 80GB]; [nvreadme]
    "nvswitch-h100": (0x10DE, 0x22A3, 0x068000, 0x10DE, 0x0000),  # [lspci] GH100 [H100 NVSwitch]
    "h200": (0x10DE, 0x2335, 0x030200, 0x10DE, 0x18BE),  # [nvreadme] NVIDIA H200
    "gb200": (0x10DE, 0x2941, 0x030200, 0x10DE, 0x2046),  # [nvreadme] NVIDIA GB200
    "mi300x": (0x1002, 0x74A1, 0x120000, 0x1002, 0x74A1),  # [lspci] Instinct MI300X, class 1200
    "v620": (0x1002, 0x73A1, 0x038000, 0x1002, 0x0000),  # [lspci] Radeon Pro V620, class 0380
    "gtx1080ti": (0x10DE, 0x1B06, 0x030000, 0x10DE, 0x0000),  # [pciids] GP102 [GeForce GTX 1080 Ti]
    # Deliberately in no table: not in pci.ids 2023.04, not on NVIDIA's open-modules list (checked
    # by test-detect through the generated pci-devices.yaml): stands for a GPU newer than them all.
    "nvidia-unlisted": (0x10DE, 0x2FFE, 0x030200, 0x10DE, 0x0000),
    # Devices gpus.yaml does not list: the generated tables (pci-devices.yaml) place them.
    "gtx680": (0x10DE, 0x1180, 0x030000, 0x10DE, 0x0000),  # [pciids] GK104 [GeForce GTX 680]
    "k40c": (0x10DE, 0x1024, 0x030200, 0x10DE, 0x0000),  # [pciids] GK180GL [Tesla K40c]
    "m40": (0x10DE, 0x17FD, 0x030200, 0x10DE, 0x0000),  # [pciids] GM200GL [Tesla M40]
    "gtx970": (0x10DE, 0x13C2, 0x030000, 0x10DE, 0x0000),  # [pciids] GM204 [GeForce GTX 970]
    "p4": (0x10DE, 0x1BB3, 0x030200, 0x10DE, 0x0000),  # [pciids] GP104GL [Tesla P4]
    "gv100": (0x10DE, 0x1DBA, 0x030000, 0x10DE, 0x0000),  # [pciids] GV100GL [Quadro GV100]
    "c2050": (0x10DE, 0x06D1, 0x030200, 0x10DE, 0x0000),  # [pciids] GF100GL [Tesla C2050 / C2070]
    "rtx2080ti": (0x10DE, 0x1E04, 0x030000, 0x10DE, 0x0000),  # [pciids] TU102 [GeForce RTX 2080 Ti]
    "rtx6000": (0x10DE, 0x1E30, 0x030000, 0x10DE, 0x0000),  # [pciids] TU102GL [Quadro RTX 6000/8000]
    "rtx3090": (0x10DE, 0x2204, 0x030000, 0x10DE, 0x0000),  # [pciids] GA102 [GeForce RTX 3090]
    "rtx4090": (0x10DE, 0x2684, 0x030000, 0x10DE, 0x0000),  # [pciids] AD102 [GeForce RTX 4090]
    "h800": (0x10DE, 0x2322, 0x030200, 0x10DE, 0x0000),  # [pciids] GH100 [H800 PCIe]
    "rtx5090": (0x10DE, 0x2B85, 0x030000, 0x10DE, 0x0000),  # [nvreadme] NVIDIA GeForce RTX 5090
    "mi100": (0x1002, 0x738C, 0x038000, 0x1002, 0x0000),  # [lspci] Instinct MI100, class 0380
    "mi210": (0x1002, 0x740F, 0x120000, 0x1002, 0x0000),  # [lspci] Aldebaran/MI210, class 1200
    "mi325x": (0x1002, 0x74A5, 0x120000, 0x1002, 0x74A5),  # [lspci] Instinct MI325X, class 1200
    "w6800": (0x1002, 0x73A3, 0x030000, 0x1002, 0x0000),  # [pciids] Navi 21 GL-XL [Radeon PRO W6800]
    "rx7900xtx": (0x1002, 0x744C, 0x030000, 0x1002, 0x0000),  # [lspci] Navi 31 [RX 7900 XTX], 0300
    # Display adapters no driver kind serves.
    "aspeed": (0x1A03, 0x2000, 0x030000, 0x1A03, 0x2000),  # [pciids] ASPEED Graphics Family; [notes]
    "g200er2": (0x102B, 0x0534, 0x030000, 0x102B, 0x0000),  # [pciids] Matrox G200eR2; [notes]
    "qemu-vga": (0x1234, 0x1111, 0x030000, 0x1AF4, 0x1100),  # [qemu]; subsystem [pciids] QEMU VM
    "cirrus": (0x1013, 0x00B8, 0x030000, 0x1AF4, 0x1100),  # [pciids] GD 5446; [qemu]
    "vmware-svga": (0x15AD, 0x0405, 0x030000, 0x15AD, 0x0405),  # [pciids] VMware SVGA II Adapter
    # InfiniBand HCAs of the serial-bus class.
    "cx3": (0x15B3, 0x1003, 0x0C0600, 0x15B3, 0x0000),  # [pciids] MT27500 Family [ConnectX-3]; [notes]
    "qib": (0x1077, 0x7322, 0x0C0600, 0x1077, 0x0000),  # [pciids] IBA7322 QDR InfiniBand HCA; [notes]
    # Fillers for the benchmark's "100 other devices".
    "i350": (0x8086, 0x1521, 0x020000, 0x8086, 0x0000),  # [pciids] I350 Gigabit Network Connection
    "pm983": (0x144D, 0xA808, 0x010802, 0x144D, 0x0000),  # [pciids] NVMe SSD Controller PM983
    "host-bridge": (0x8086, 0x7190, 0x060000, 0x0000, 0x0000),  # [pciids] 440BX Host bridge
    "isa": (0x8086, 0x7110, 0x060100, 0x0000, 0x0000),  # [pciids] 82371AB PIIX4 ISA
}

KERNEL = "6.8.0-1017-azure"
NV_PROPRIETARY = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.216.03  Thu Apr  3 01:14:19 UTC 2025\nGCC version:  gcc version 12.3.0 (Ubuntu 12.3.0-1ubuntu1~22.04)\n"
NV_OPEN = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.95.05  Release Build  (dvs-builder@U22-I3-B08-02-2)  Thu Sep 25 00:00:00 UTC 2025\nGCC version:  gcc version 12.3.0 (Ubuntu 12.3.0-1ubuntu1~22.04)\n"


def n_of(kind, n, domain0):
    """n functions of one kind, each on its own Hyper-V PCI domain (as Azure passes them through)."""
    return [(f"{domain0 + i:04x}:00:00.0", kind) for i in range(n)]


def ib_ports(n, layer="InfiniBand"):
    return {f"mlx5_ib{i}": {"1": layer} for i in range(n)}


# Each case: pci [(address, kind)], ib {name: {port: link_layer}}, secure_boot (1, 0, None =
# no EFI, "garbage" = malformed), vm_size for cloud-init (None = no instance data, "" = {}),
# nvidia (version file text or None), modules {name: version} (loaded modules; see --module),
# disks [{name, vendor, model, device_id, lun, sectors}].
BASE_PCI = [("0000:00:08.0", "hyperv-vga"), ("1a2b:00:02.0", "cx4lx-vf")]
BASE_IB = {"mlx5_0": {"1": "Ethernet"}}  # accelerated networking: an RDMA device, not InfiniBand

CASES = {
    "cpu-only": dict(pci=BASE_PCI, ib=BASE_IB, vm_size="Standard_D4s_v5", secure_boot=1),
    # The resize matrix (T6) needs each machine with Secure Boot off as well as on: it decides
    # whether a module built on the VM may load.
    "cpu-no-sb": dict(pci=BASE_PCI, ib=BASE_IB, vm_size="Standard_D4s_v5", secure_boot=0),
    "k80": dict(pci=BASE_PCI + n_of("k80", 1, 1), vm_size="Standard_NC6", secure_boot=None,
                nvidia=NV_PROPRIETARY),
    "p100": dict(pci=BASE_PCI + n_of("p100", 1, 1), vm_size="Standard_NC6s_v2", secure_boot=None),
    "v100": dict(pci=BASE_PCI + n_of("v100", 1, 1), vm_size="Standard_NC6s_v3", secure_boot=0),
    "t4": dict(pci=BASE_PCI + n_of("t4", 1, 1), vm_size="Standard_NC4as_T4_v3", secure_boot=1),
    "t4-no-sb": dict(pci=BASE_PCI + n_of("t4", 1, 1), vm_size="Standard_NC4as_T4_v3",
                     secure_boot=0),
    "a10-grid": dict(pci=BASE_PCI + n_of("a10", 1, 1), vm_size="Standard_NV6ads_A10_v5",
                     secure_boot=0),
    "a100-pcie": dict(pci=BASE_PCI + n_of("a100-pcie-80gb", 1, 1),
                      vm_size="Standard_NC24ads_A100_v4", secure_boot=1, nvidia=NV_OPEN),
    "nd-a100-v4": dict(pci=BASE_PCI + n_of("a100-sxm4-40gb", 8, 1) + n_of("nvswitch-a100", 6, 0x11)
                       + n_of("cx6-vf", 8, 0x101),
                       ib=dict(BASE_IB, **ib_ports(8)), vm_size="Standard_ND96asr_v4",
                       secure_boot=0),
    # Health gate: an ND A100 v4 whose eighth GPU fell off the bus.
    "nd-a100-v4-7gpu": dict(pci=BASE_PCI + n_of("a100-sxm4-40gb", 7, 1)
                            + n_of("nvswitch-a100", 6, 0x11) + n_of("cx6-vf", 8, 0x101),
                            ib=dict(BASE_IB, **ib_ports(8)), vm_size="Standard_ND96asr_v4",
                            secure_boot=0),
    # Secure Boot on (Trusted Launch) with a kind whose module is built on the VM.
    "a10-grid-sb": dict(pci=BASE_PCI + n_of("a10", 1, 1), vm_size="Standard_NV6ads_A10_v5",
                        secure_boot=1),
    "h100-nvl": dict(pci=BASE_PCI + n_of("h100-nvl", 1, 1), vm_size="Standard_NC40ads_H100_v5",
                     secure_boot=1),
    "nd-h100-v5": dict(pci=BASE_PCI + n_of("h100-sxm5", 8, 1) + n_of("nvswitch-h100", 4, 0x11)
                       + n_of("cx7-vf", 8, 0x101),
                       ib=dict(BASE_IB, **ib_ports(8)), vm_size="Standard_ND96isr_H100_v5",
                       secure_boot=0),
    "h200": dict(pci=BASE_PCI + n_of("h200", 8, 1) + n_of("nvswitch-h100", 4, 0x11)
                 + n_of("cx7-vf", 8, 0x101),
                 ib=dict(BASE_IB, **ib_ports(8)), vm_size="Standard_ND96isr_H200_v5",
                 secure_boot=0),
    "gb200": dict(pci=BASE_PCI + n_of("gb200", 4, 1) + n_of("cx7-vf", 4, 0x101),
                  ib=dict(BASE_IB, **ib_ports(4)), vm_size="Standard_ND128isr_NDR_GB200_v6",
                  secure_boot=0, kernel="6.8.0-1017-azure-nvidia"),
    "mi300x": dict(pci=BASE_PCI + n_of("mi300x", 8, 1) + n_of("cx7-vf", 8, 0x101),
                   ib=dict(BASE_IB, **ib_ports(8)), vm_size="Standard_ND96isr_MI300X_v5",
                   secure_boot=0),
    "v620": dict(pci=BASE_PCI + n_of("v620", 1, 1), vm_size="Standard_NG32ads_V620_v1",
                 secure_boot=1),
    # A real NVIDIA id the catalog does not list, on a size nobody told us (IMDS failed: {}).
    "unknown-nvidia": dict(pci=BASE_PCI + n_of("nvidia-unlisted", 1, 1), vm_size="",
                           secure_boot="garbage"),
    # T10: hardware nobody on the project wrote the catalog for (workstations, on-premises
    # servers with a BMC, other hypervisors). Each is one GPU model, with what surrounds it.
    "kepler-gtx680": dict(pci=[("0000:00:02.0", "qemu-vga"), ("0000:01:00.0", "gtx680")]),
    "kepler-k40c": dict(pci=[("0000:02:00.0", "aspeed"), ("0000:03:00.0", "k40c")]),
    "maxwell-m40": dict(pci=[("0000:02:00.0", "g200er2")] + n_of("m40", 2, 1)),
    "maxwell-gtx970": dict(pci=[("0000:01:00.0", "gtx970")]),
    "pascal-p4": dict(pci=[("0000:02:00.0", "aspeed"), ("0000:03:00.0", "p4")]),
    "pascal-gtx1080ti": dict(pci=[("0000:01:00.0", "gtx1080ti")]),
    "volta-gv100": dict(pci=[("0000:00:0f.0", "vmware-svga"), ("0000:0b:00.0", "gv100")]),
    "fermi-c2050": dict(pci=[("0000:02:00.0", "aspeed"), ("0000:03:00.0", "c2050")]),
    "turing-rtx2080ti": dict(pci=[("0000:01:00.0", "rtx2080ti")]),
    "turing-rtx6000": dict(pci=[("0000:00:02.0", "cirrus"), ("0000:00:05.0", "rtx6000")]),
    "ampere-rtx3090": dict(pci=[("0000:01:00.0", "rtx3090")]),
    "ada-rtx4090": dict(pci=[("0000:00:02.0", "qemu-vga"), ("0000:00:10.0", "rtx4090")]),
    "hopper-h800": dict(pci=[("0000:02:00.0", "aspeed")] + n_of("h800", 2, 1)),
    "blackwell-rtx5090": dict(pci=[("0000:01:00.0", "rtx5090")]),
    "fermi-with-t4": dict(pci=BASE_PCI + [("0000:03:00.0", "c2050")] + n_of("t4", 1, 1)),
    "cdna1-mi100": dict(pci=[("0000:02:00.0", "aspeed"), ("0000:03:00.0", "mi100"),
                             ("0000:04:00.0", "cx3")],
                        ib={"mlx4_0": {"1": "InfiniBand"}}),
    "cdna2-mi210": dict(pci=[("0000:02:00.0", "g200er2")] + n_of("mi210", 4, 1)),
    "cdna3-mi325x": dict(pci=[("0000:02:00.0", "aspeed")] + n_of("mi325x", 8, 1)
                         + n_of("cx7-vf", 8, 0x101), ib=ib_ports(8)),
    "rdna2-w6800": dict(pci=[("0000:01:00.0", "w6800")]),
    "rdna3-rx7900xtx": dict(pci=[("0000:01:00.0", "rx7900xtx")]),
    # InfiniBand from a QLogic HCA whose driver (qib) predates link_layer: the class and the
    # RDMA entry say it, no port does.
    "qlogic-ib": dict(pci=[("0000:02:00.0", "aspeed"), ("0000:05:00.0", "qib")],
                      ib_bare=["qib0"]),
    # A hypervisor's VGA and nothing else: not a GPU.
    "vmware-cpu": dict(pci=[("0000:00:0f.0", "vmware-svga")]),
    # Disks of an NC A100 v4 VM (Gen2): OS and resource disk on Hyper-V SCSI (azure-vm-utils
    # rules: controller {f8b3781a-...} LUN 0 and 1), a data disk on {f8b3781b-...}, a local
    # NVMe disk, a loop device that must be skipped. test-disks.sh puts images at dev/NAME.
    "disks": dict(pci=BASE_PCI + n_of("a100-pcie-80gb", 1, 1),
                  vm_size="Standard_NC24ads_A100_v4", secure_boot=1, disks=[
                      dict(name="sda", device_id="{f8b3781a-1e82-4818-a1c3-63d806ec15bb}", lun=0,
                           sectors=62914560, partitions=2),
                      dict(name="sdb", device_id="{f8b3781a-1e82-4818-a1c3-63d806ec15bb}", lun=1,
                           sectors=131072, partitions=1),
                      dict(name="sdc", device_id="{f8b3781b-1e82-4818-a1c3-63d806ec15bb}", lun=0,
                           sectors=2097152),
                      dict(name="nvme0n1", nvme=True, model="Microsoft NVMe Direct Disk",
                           sectors=131072),
                      dict(name="loop0", vendor="", model="", sectors=8),
                  ]),
    # Gen1 layout: VMBus ids 00000000-0000-8899-... (OS) and 00000000-0001-8899-... (resource).
    "disks-gen1": dict(pci=BASE_PCI, vm_size="Standard_D4s_v5", secure_boot=None, disks=[
        dict(name="sda", device_id="{00000000-0000-8899-0000-000000000000}", sectors=62914560),
        dict(name="sdb", device_id="{00000000-0001-8899-0000-000000000000}", sectors=131072,
             partitions=1),
    ]),
    # bench: 8 GPUs, 8 IB ports, 4 NVSwitches and 100 other functions.
    "bench": dict(pci=BASE_PCI[:1] + n_of("h100-sxm5", 8, 1) + n_of("nvswitch-h100", 4, 0x11)
                  + n_of("cx7-vf", 8, 0x101)
                  + [(f"0000:{b:02x}:{d:02x}.0", kind)
                     for i, (b, d, kind) in enumerate(
                         (1 + j // 32, j % 32, ("i350", "pm983", "host-bridge", "isa")[j % 4])
                         for j in range(99))],
                  ib=ib_ports(8), vm_size="Standard_ND96isr_H100_v5", secure_boot=0),
}


def write(path, data, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(data)


def config_space(vendor, device, cls, sv, sd):
    """First 64 bytes of a type-0 configuration header (PCI Local Bus spec 3.0, 6.1)."""
    cfg = bytearray(64)
    struct.pack_into("<HH", cfg, 0, vendor, device)
    cfg[0x08] = 0xA1  # revision
    cfg[0x09] = cls & 0xFF
    cfg[0x0A] = (cls >> 8) & 0xFF
    cfg[0x0B] = (cls >> 16) & 0xFF
    struct.pack_into("<HH", cfg, 0x2C, sv, sd)
    return bytes(cfg)


def make_pci(root, devices):
    for addr, kind in devices:
        vendor, device, cls, sv, sd = PCI[kind]
        dom, bus = addr.split(":")[:2]
        real = os.path.join(root, "sys/devices", f"pci{dom}:{bus}", addr)
        for attr, val in (("vendor", f"0x{vendor:04x}"), ("device", f"0x{device:04x}"),
                          ("class", f"0x{cls:06x}"), ("subsystem_vendor", f"0x{sv:04x}"),
                          ("subsystem_device", f"0x{sd:04x}")):
            write(os.path.join(real, attr), val + "\n")
        write(os.path.join(real, "config"), config_space(vendor, device, cls, sv, sd), "wb")
        link = os.path.join(root, "sys/bus/pci/devices", addr)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.relpath(real, os.path.dirname(link)), link)


def make_disks(root, disks):
    """Hyper-V SCSI disks: /sys/devices/.../{vmbus guid}/host0/target0:0:0/0:0:0:L/block/NAME;
    NVMe namespaces: /sys/devices/.../nvme/nvmeN/NAME with nsid, the controller holding model.
    The device nodes (dev/NAME) are left to the test, which puts disk images there."""
    for i, d in enumerate(disks):
        vmbus = os.path.join(root, "sys/devices/LNXSYSTM:00/VMBUS:00")
        if d.get("nvme"):
            ctrl = os.path.join(root, "sys/devices/pci0000:00/0000:00:04.0/nvme", f"nvme{i}")
            write(os.path.join(ctrl, "model"), d["model"].ljust(40) + "\n")
            block = os.path.join(ctrl, d["name"])
            write(os.path.join(block, "nsid"), f"{d.get('nsid', 1)}\n")
            dev = ctrl
        else:
            guid = d.get("device_id", "{00000000-0000-8899-0000-000000000000}")
            dev = os.path.join(vmbus, guid.strip("{}"), f"host{i}", f"target{i}:0:0",
                               f"{i}:0:0:{d.get('lun', 0)}")
            write(os.path.join(vmbus, guid.strip("{}"), "device_id"), guid + "\n")
            write(os.path.join(dev, "vendor"), d.get("vendor", "Msft    ") + "\n")
            write(os.path.join(dev, "model"), d.get("model", "Virtual Disk    ") + "\n")
            block = os.path.join(dev, "block", d["name"])
        write(os.path.join(block, "size"), f"{d.get('sectors', 0)}\n")
        os.symlink(os.path.relpath(dev, block), os.path.join(block, "device"))
        link = os.path.join(root, "sys/class/block", d["name"])
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.relpath(block, os.path.dirname(link)), link)
        for p in range(1, d.get("partitions", 0) + 1):
            pname = d["name"] + ("p" if d.get("nvme") else "") + str(p)
            part = os.path.join(block, pname)
            write(os.path.join(part, "partition"), f"{p}\n")
            os.symlink(os.path.relpath(part, os.path.dirname(link)),
                       os.path.join(root, "sys/class/block", pname))


def make_case(root, c):
    make_pci(root, c.get("pci", []))
    for name, ports in c.get("ib", {}).items():
        for port, layer in ports.items():
            write(os.path.join(root, "sys/class/infiniband", name, "ports", port, "link_layer"),
                  layer + "\n")
    for name in c.get("ib_bare", []):  # an RDMA device whose ports have no link_layer
        os.makedirs(os.path.join(root, "sys/class/infiniband", name, "ports", "1"))
    sb = c.get("secure_boot")
    if sb is not None:
        efivar = os.path.join(root, "sys/firmware/efi/efivars",
                              "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c")
        data = b"\x06\x00\x00" if sb == "garbage" else bytes([6, 0, 0, 0, sb])
        write(efivar, data, "wb")
    write(os.path.join(root, "proc/sys/kernel/osrelease"), c.get("kernel", KERNEL) + "\n")
    if c.get("nvidia"):
        write(os.path.join(root, "proc/driver/nvidia/version"), c["nvidia"])
    for name, version in sorted(c.get("modules", {}).items()):
        write(os.path.join(root, "sys/module", name, "version"), version + "\n")
    vm = c.get("vm_size")
    if vm is not None:
        imds = {"compute": {"vmSize": vm, "location": "eastus"}} if vm else {}
        doc = {"v1": {"cloud_name": "azure"}, "ds": {"meta_data": {"imds": imds}}}
        write(os.path.join(root, "run/cloud-init/instance-data.json"), json.dumps(doc, indent=1))
    make_disks(root, c.get("disks", []))


def usage_error(msg):
    print("make-sysroot: %s" % msg, file=sys.stderr)
    print(__doc__, file=sys.stderr)
    return 64


def main(argv):
    if argv[1:] == ["--list"]:
        print("\n".join(CASES))
        return 0
    if argv[1:2] in (["--help"], ["-h"]):
        print(__doc__)
        return 0
    modules, args = {}, argv[1:]
    while args and args[0].startswith("--module"):
        opt = args.pop(0)
        if opt.startswith("--module="):
            spec = opt[len("--module="):]
        elif opt == "--module" and args:
            spec = args.pop(0)
        else:
            return usage_error("'%s' needs NAME=VERSION" % opt)
        name, _, version = spec.partition("=")
        # The name becomes a directory under sys/module: nothing that could leave it.
        if not name or not version or "/" in name or name in (".", "..") or "\n" in version:
            return usage_error("--module '%s' is not NAME=VERSION" % spec)
        modules[name] = version
    if not args or args[0].startswith("-"):
        return usage_error("an OUTDIR is needed" if not args else "unknown option '%s'" % args[0])
    out, names = args[0], args[1:] or [n for n in CASES if n != "bench" and "disks" not in n]
    for name in names:
        if name not in CASES:
            print(f"make-sysroot: unknown case '{name}'; --list shows them", file=sys.stderr)
            return 64
        case = dict(CASES[name])
        case["modules"] = dict(case.get("modules", {}), **modules)
        make_case(os.path.join(out, name), case)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
