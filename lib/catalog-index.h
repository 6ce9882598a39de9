/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The catalog index `make` compiles from the YAML (tools/gen-catalog-index.py writes
 * $(BUILD)/gen/catalog-index.c), so detection does not run libyaml over the catalog at every
 * boot: the generated device tables (pci-devices.yaml) in the form lookups use, and for the
 * hand-written files the node tree lib/yamldoc.c would build, which the loaders then read as
 * usual (every check still runs). Each part carries the size and hash of the bytes it was made
 * from; the catalog uses it only when the catalog directory's file has exactly those bytes, and
 * parses the YAML otherwise.
 */

#include <stddef.h>
#include <stdint.h>

#include "yamldoc.h"

/* A document as yamldoc would parse it; the list ends with a NULL name. */
struct ydoc_snapshot {
	const char *name; /* "gpus.yaml" */
	uint64_t source_size;
	uint64_t source_hash;
	struct ynode *root; /* static: never freed */
};

extern const struct ydoc_snapshot dsvm_catalog_snapshots[];

/* pci_index_group.flags */
#define PCI_GROUP_OPEN_MODULE 0x01 /* on NVIDIA's open-modules list */
#define PCI_GROUP_SWITCH 0x02	   /* an NVSwitch bridge */
#define PCI_GROUP_INSTINCT 0x04	   /* AMD Instinct */
#define PCI_GROUP_RADEON_PRO 0x08  /* AMD Radeon PRO */

/* Rows that classify alike: one vendor, one architecture, the same flags. */
struct pci_index_group {
	uint16_t vendor_id;
	uint8_t flags;
	const char *architecture; /* "pascal", "cdna2", "pre-fermi", "turing-or-newer", "unknown" */
};

struct pci_index_entry {
	uint32_t key; /* vendor << 16 | device; the entries are sorted by it, each key once */
	uint16_t group;
	const char *name; /* pci.ids' name, or NVIDIA's product name */
};

struct pci_index {
	uint64_t source_size;
	uint64_t source_hash; /* pci_index_hash() of the YAML bytes */
	const struct pci_index_group *groups;
	size_t n_groups;
	const struct pci_index_entry *entries;
	size_t n_entries;
};

/* Made by tools/gen-catalog-index.py from the tree's pci-devices.yaml at build time. */
extern const struct pci_index dsvm_pci_index_builtin;

/*
 * 64-bit FNV-1a over little-endian 8-byte words (the last one zero-padded), then the size: a
 * content check against accidental change, not against an adversary (whoever can rewrite the
 * catalog can rewrite the binary). tools/gen-catalog-index.py computes the same.
 */
uint64_t pci_index_hash(const void *buf, size_t size);
