/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * statedir: what the agent keeps in --state-dir, written atomically.
 *
 *   STATE_DIR/
 *   ├── predictor.json        learned downtime corrections
 *   ├── vms/<name>/vm.json     attached VM: QMP address, QEMU identity
 *   ├── vms/<name>/...         destination RAM files, QEMU sockets and logs
 *   └── migrations/<id>.json   one record per migration, rewritten at every
 *                              phase that matters for recovery
 *
 * (docs/RELIABILITY.md has the formats and what a restart does with them.)
 * Every file is written to "<file>.tmp", fsync'ed, renamed over the old one
 * and the directory fsync'ed, so a crash leaves either the old or the new
 * content, never a torn file. Readers ignore stray .tmp files.
 */
#ifndef QMIG_AGENT_STATEDIR_H
#define QMIG_AGENT_STATEDIR_H

#include <json-c/json.h>
#include <stdbool.h>

#include "agent/predict.h"
#include "common/common.h"

/* Create @dir (and parents) with mode 0700 if missing; check it is a
 * directory we can write. */
bool qm_state_open(const char *dir, qm_error *err);
/* Atomically replace @dir/@rel (rel may contain subdirectories, which are
 * created) with @obj serialised. */
bool qm_state_write_json(const char *dir, const char *rel, json_object *obj,
			 qm_error *err);
/* The same without the fsyncs: still atomic against a crash of the agent
 * (the page cache outlives it), not against one of the host. For the
 * records written while a VM is paused, where every millisecond is
 * downtime and a host crash takes the QEMUs the record is about with it. */
bool qm_state_write_json_nosync(const char *dir, const char *rel,
				json_object *obj, qm_error *err);
/* Read @dir/@rel; NULL with QM_ERR_NOTFOUND if absent, QM_ERR_PROTO if not
 * a JSON object. The caller owns the result. */
json_object *qm_state_read_json(const char *dir, const char *rel,
				qm_error *err);
bool qm_state_remove(const char *dir, const char *rel, qm_error *err);
/* Remove the directory @dir/@rel and everything in it (symbolic links
 * are removed, never followed). Absent is fine. */
bool qm_state_remove_tree(const char *dir, const char *rel, qm_error *err);

/* The predictor's factors as JSON and back (unknown or out-of-range values
 * are ignored: a hand-edited file cannot poison the predictor). */
json_object *qm_predictor_to_json(const qm_predictor *p);
void qm_predictor_from_json(qm_predictor *p, json_object *o);

#endif
