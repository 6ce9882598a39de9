/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A pull reader that undoes .xz compression in parallel, for extraction (internal to libdsvm).
 *
 * libarchive 3.6 decodes .xz with one thread. This reader sits in front of it: on its first read
 * it looks at the first bytes of the source; an .xz stream (by its magic, never by a name) is
 * decoded with liblzma's threaded decoder, anything else passes through byte for byte, so
 * libarchive still detects every other format and compression itself.
 *
 * Bounded memory: the threaded decoder keeps a whole block (compressed and decoded) per worker,
 * so the process holds one threading budget (XZ_THREADING_MEMLIMIT) that one stream at a time
 * may take; liblzma uses as many workers as that budget allows for the stream's block size.
 * Every other stream, a block too large for the budget, and a stream without block sizes in its
 * block headers (what a single-threaded xz writes, one block) are decoded in the calling thread,
 * streaming, as libarchive would. A stream of one block uses one worker. Nothing caps the
 * dictionary an archive asks for, as libarchive does not: the digest pins the bytes.
 *
 * Errors (damaged data, truncation) stop the worker threads; xz_reader_free() joins them.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dsvm/extract.h"

/*
 * The threading budget of the whole process, as liblzma counts it (a block's input, output and
 * dictionary). With blocks of xz -3..-5 under -T (12 MiB, dictionary 4 MiB) both workers stay
 * busy only if a third block fits while the oldest is read out: 40 MiB leaves one worker idle
 * half the time (6.8 s for bench-pipeline-xz.sh's set, where xz -T2 -dc takes 4.3 s); 44 MiB
 * does not (4.9-5.1 s), and with the pipeline's fixed mmap threshold and 1 MiB rings the whole
 * process peaks near 61 MiB (target 64). One block of xz -6 (24 MiB) decodes at a time.
 */
#define XZ_THREADING_MEMLIMIT (UINT64_C(44) << 20)

struct xz_reader;

/* Whether buf (size bytes) starts with the magic of an .xz stream. */
bool xz_is_magic(const void *buf, size_t size);

/* Wrap read_fn (which keeps its own meaning: bytes, 0 at the end, -errno). NULL on OOM. */
struct xz_reader *xz_reader_new(dsvm_extract_read_fn read_fn, void *userdata);

/* Joins the decoder's threads, returns the threading budget. Accepts NULL. */
void xz_reader_free(struct xz_reader *xr);

/*
 * A dsvm_extract_read_fn (userdata: the xz_reader): up to size decoded bytes, 0 at the end,
 * -errno: the source's own error, -EBADMSG for damaged or truncated .xz data, -ENOMEM.
 */
ssize_t xz_reader_read(void *userdata, void *buf, size_t size);

/* The sentence for a failed read's result r: the decoder's own words, else strerror(-r). */
const char *xz_reader_error(const struct xz_reader *xr, int r);

/* Whether the source is .xz (known after the first read). */
bool xz_reader_is_xz(const struct xz_reader *xr);

/*
 * The worker threads the decoder may run (0: the calling thread decodes) and the highest memory
 * use liblzma reported, for tests and benchmarks.
 */
unsigned xz_reader_get_threads(const struct xz_reader *xr);

/* For tests: behave as with a liblzma that lacks the threaded decoder (5.2, Ubuntu 22.04's). */
void xz_hide_threaded_decoder(bool hide);
uint64_t xz_reader_get_peak_memory(const struct xz_reader *xr);
