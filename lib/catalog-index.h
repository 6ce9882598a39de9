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

/*
 * Nothing here holds a pointer, so the tables need no load-time relocation in a PIE binary and
 * cost a process nothing until read: every string is an offset into dsvm_catalog_pool (each one
 * NUL-terminated), every node a number.
 */
extern const char dsvm_catalog_pool[];

/*
 * One node of a document as yamldoc would parse it, flattened: a scalar's value is a pool
 * offset; a sequence's n items and a mapping's n values then n keys are the dsvm_catalog_snap_refs
 * from the document's first_ref + value, each the index of a node counted from the document's
 * first_node (its root).
 */
struct ysnap_node {
	uint32_t value;
	uint32_t n;
	uint32_t line;
	uint32_t column;
	uint8_t kind; /* enum ynode_kind */
	uint8_t plain;
};

extern const struct ysnap_node dsvm_catalog_snap_nodes[];
extern const uint32_t dsvm_catalog_snap_refs[];

struct ydoc_snapshot {
	uint32_t name; /* pool offset: "gpus.yaml" */
	uint32_t first_node, n_nodes;
	uint32_t first_ref, n_refs;
	uint64_t source_size;
	uint64_t source_hash;
};

extern const struct ydoc_snapshot dsvm_catalog_snapshots[];
extern const size_t dsvm_catalog_n_snapshots;

/*
 * Build s's node tree in doc's arena, set as doc->root: nodes and arrays on the heap (freed with
 * the document), scalars pointing into the read-only pool. -ENOMEM on failure.
 */
int ydoc_snapshot_tree(struct ydoc *doc, const struct ydoc_snapshot *s);

/* pci_index_group.flags */
#define PCI_GROUP_OPEN_MODULE 0x01 /* on NVIDIA's open-modules list */
#define PCI_GROUP_SWITCH 0x02	   /* an NVSwitch bridge */
#define PCI_GROUP_INSTINCT 0x04	   /* AMD Instinct */
#define PCI_GROUP_RADEON_PRO 0x08  /* AMD Radeon PRO */

/* Rows that classify alike: one vendor, one architecture, the same flags. */
struct pci_index_group {
	uint16_t vendor_id;
	uint8_t flags;
	uint32_t architecture; /* pool offset: "pascal", "cdna2", "pre-fermi", "unknown"... */
};

struct pci_index_entry {
	uint32_t key; /* vendor << 16 | device; the entries are sorted by it, each key once */
	uint16_t group;
	uint32_t name; /* pool offset: pci.ids' name, or NVIDIA's product name */
};

struct pci_index {
	uint64_t source_size;
	uint64_t source_hash; /* pci_index_hash() of the YAML bytes */
	size_t n_groups;      /* in dsvm_pci_index_groups */
	size_t n_entries;     /* in dsvm_pci_index_entries */
};

/* Made by tools/gen-catalog-index.py from the tree's pci-devices.yaml at build time. */
extern const struct pci_index dsvm_pci_index_builtin;
extern const struct pci_index_group dsvm_pci_index_groups[];
extern const struct pci_index_entry dsvm_pci_index_entries[];

/*
 * 64-bit FNV-1a over little-endian 8-byte words (the last one zero-padded), then the size: a
 * content check against accidental change, not against an adversary (whoever can rewrite the
 * catalog can rewrite the binary). tools/gen-catalog-index.py computes the same.
 */
uint64_t pci_index_hash(const void *buf, size_t size);
