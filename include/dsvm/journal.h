/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A crash-safe journal of the numbered steps of one run (install, firstboot's reconcile), kept
 * under <root>/var/lib/dsvm/journal/ (DESIGN.md "Image layout", "Reconcile" 4).
 *
 * Format: one append-only text file, <dir>/<name>.journal. Its first line names the plan
 * ("dsvm-journal 1 <plan id>", the plan id being for example the SHA-256 of the lock); then one
 * line per record, "begin <k> <label>" or "done <k> <label>", each written with one write(2) and
 * made durable with fdatasync() before the step's work starts (begin) or before the next step
 * begins (done). An append of one short line is either wholly in the file or not at all after a
 * SIGKILL; after a power cut the last line may be torn, so a line without its newline is
 * ignored, as if it had never been written. One file with appends costs one fsync per record,
 * where one file per record would cost a file, a rename and two fsyncs.
 *
 * Opening a journal replays what an earlier, killed run left: steps with a "done" record are
 * reported done (the caller skips them); the step that has only "begin" was in flight and is
 * redone, so every step must be idempotent. A journal written for another plan is discarded
 * (the steps of the new plan are idempotent and decide for themselves what is needed). A run
 * that completes removes the file: a journal on disk always means an unfinished run.
 *
 * The directory also holds <name>.lock, flock()ed for the life of the handle so two runs never
 * share a root.
 *
 * Test hook: with DSVM_CRASH_AT=k in the environment the process raises SIGKILL right after
 * step k's begin record is durable; with DSVM_CRASH_AT=k:mid, at the step's midpoint
 * (dsvm_journal_crash_point()), in the middle of its work. TESTING.md T1 kills at every point.
 */

#include <stdbool.h>

#include "dsvm/context.h"

struct dsvm_journal;

/* Journal directory relative to --root. */
#define DSVM_JOURNAL_DIR "/var/lib/dsvm/journal"

/*
 * Open (create or replay) the journal <root>/var/lib/dsvm/journal/<name>.journal for plan_id (no
 * spaces or newlines), its directories resolved inside the root as the image sees them (a link
 * planted in the root never leads the journal out of it). name is [a-z0-9-]+. Returns 0 and a handle the caller frees; -EBUSY when
 * another process holds the journal; -EBADMSG for a journal of this plan that cannot be parsed
 * (its path in the error); other -errno for I/O (the path in the error).
 */
int dsvm_journal_open(struct dsvm_ctx *ctx, const char *name, const char *plan_id,
		      struct dsvm_journal **ret);

/* Closes the file and the lock; the journal stays on disk (the run is unfinished). NULL is ok. */
void dsvm_journal_free(struct dsvm_journal *j);

/* True when this journal replays an earlier run that did not finish. */
bool dsvm_journal_is_resumed(const struct dsvm_journal *j);

/* True when an earlier run recorded step k (1-based) done: skip it. */
bool dsvm_journal_is_done(const struct dsvm_journal *j, unsigned k);

/* The step an earlier run began and did not finish, 0 when none. */
unsigned dsvm_journal_get_interrupted(const struct dsvm_journal *j);

/* The journal's directory (<root>/var/lib/dsvm/journal), owned by the handle; for staging. */
const char *dsvm_journal_get_dir(const struct dsvm_journal *j);

/*
 * Record that step k (label: a short word, no spaces or newlines) begins, durably. Returns 0 or
 * -errno with the journal's path in the error. Honours DSVM_CRASH_AT=k.
 */
int dsvm_journal_begin(struct dsvm_journal *j, unsigned k, const char *label);

/* The middle of step k's work: honours DSVM_CRASH_AT=k:mid. Does nothing otherwise. */
void dsvm_journal_crash_point(const struct dsvm_journal *j, unsigned k);

/* Record that step k is done, durably. Returns 0 or -errno (path in the error). */
int dsvm_journal_done(struct dsvm_journal *j, unsigned k, const char *label);

/*
 * Every step is done: remove the journal file and sync its directory, so a later run starts
 * clean. Returns 0 or -errno. The handle must still be freed.
 */
int dsvm_journal_finish(struct dsvm_journal *j);
