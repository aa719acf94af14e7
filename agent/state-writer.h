/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * state-writer: the loop thread's writes to --state-dir, done by a thread
 * of their own.
 *
 * A rename or unlink on a busy filesystem can stall for tens of
 * milliseconds (a journal commit behind the staged copies being
 * written), and the loop thread must answer migration.status within
 * milliseconds whatever happens. So the loop thread hands its state
 * files (VM records, migration records it writes, the predictor) to this
 * thread and goes on. Writes happen in the order they were handed over.
 *
 * A migration's worker writes its own records directly (it may wait);
 * it calls state_writer_barrier() first, so that a record the loop
 * thread queued before the worker started (queued, setup) can never land
 * after, and overwrite, one the worker wrote.
 */
#ifndef QMIG_AGENT_STATE_WRITER_H
#define QMIG_AGENT_STATE_WRITER_H

#include <stdbool.h>

#include <json-c/json.h>

#include "common/common.h"

typedef struct state_writer state_writer;

state_writer *state_writer_new(const char *state_dir, qm_error *err);
/* Write what is queued, then stop the thread. NULL is fine. */
void state_writer_free(state_writer *w);
/*
 * Queue: @obj (taken) written atomically to @rel, fsync'ed if @sync; or,
 * @obj NULL, @rel removed (and its directory if @rmdir_parent and it is
 * empty then). Never blocks on the disk. Any thread.
 */
void state_writer_put(state_writer *w, const char *rel, json_object *obj,
		      bool sync, bool rmdir_parent);
/* Return once everything queued before the call is on its way to disk
 * (written, or failed and logged). Any thread but the writer's. */
void state_writer_barrier(state_writer *w);

#endif
