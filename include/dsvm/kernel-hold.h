/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Holding the image's kernel. A driver module built or packaged for one kernel does not load
 * under another, and Ubuntu's unattended upgrades install new kernels on their own (apt-daily
 * fires just after the first boot): `dsvm-build image` holds the kernel packages the root has,
 * so that only a deliberate `apt-mark unhold` changes the kernel (RECONCILE.md, prebuilt module
 * kinds: "Hold linux-azure/linux-image-*"). dsvm-firstboot still handles a kernel that changed
 * anyway (see its "blocked: kernel" reason).
 */

#include <stddef.h>

#include "dsvm/context.h"

/*
 * True for the name of a package that brings or selects a kernel: linux-image-*,
 * linux-modules-* (not the NVIDIA driver stacks' linux-modules-nvidia-*, which the driver
 * switch holds and replaces), linux-headers-*, linux-tools-* and the meta packages that pull
 * new kernels in (linux-azure*, linux-generic*, linux-virtual*, linux-kvm*, linux-cloud-tools-*).
 */
bool dsvm_is_kernel_package(const char *name);

/*
 * apt-mark hold, in the context's root, every installed kernel package not held yet. Returns
 * the number newly held (0 when the root has none, or no dpkg), with their names in *ret_held
 * (NULL-terminated, caller frees each and the array; may be NULL), or -errno with the error set.
 */
int dsvm_hold_kernel(struct dsvm_ctx *ctx, unsigned timeout_s, char ***ret_held);
