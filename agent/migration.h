/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * migration: one migration's context, on either side.
 *
 * A migration runs on a worker thread of its own (mig-source.c,
 * mig-dest.c) with blocking transport and QMP calls; the loop thread
 * answers migration.status from a snapshot taken under @lock, and asks
 * for a cancel by setting @cancel. While it runs, the migration owns its
 * VM (source) and the VM's QMP connection; at the end it posts itself to
 * the loop thread, which releases the VM and sends the final notification.
 */
#ifndef QMIG_AGENT_MIGRATION_H
#define QMIG_AGENT_MIGRATION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "agent/phase.h"
#include "agent/predict.h"

#define MIG_ID_LEN 33            /* 32 hex digits + NUL */

typedef enum mig_verify_mode {
	MIG_VERIFY_FULL,         /* every page, hashed on both sides, with
				  * the VM stopped */
	MIG_VERIFY_TRACKED,      /* confirmed during pre-copy; with the VM
				  * stopped, the chunks sent since
				  * (mig-verify.h) */
	MIG_VERIFY_NONE,         /* mode "qemu" only: trust QEMU's migration
				  * (the only way for RAM the agents cannot
				  * read) */
} mig_verify_mode;

/* What migration.start asked for. */
typedef struct mig_params {
	char vm[64];
	char dest[160];              /* peer agent, HOST:PORT */
	char dest_qmp[256];          /* a Qd the caller started there; "" =
				      * the destination agent launches it */
	double max_downtime_ms;      /* default 300 */
	double deadline_s;           /* from start; 0 = none */
	bool on_deadline_force;      /* false: abort */
	uint64_t bandwidth_bps;      /* 0 = unlimited */
	int streams;                 /* 0 = transport default */
	mig_verify_mode verify;
	int max_rounds;              /* safety cap, default 30 */
	/* mode "qemu" (compat, mig-compat.c): QEMU's own migration */
	bool compat;
	bool multifd, xbzrle, auto_converge;
	bool tls;                    /* TLS 1.3 on the transport streams */
	int multifd_channels;        /* 0 = QEMU's default */
} mig_params;

/* Everything migration.status reports; copied under the lock. */
typedef struct mig_status {
	qm_phase phase;
	unsigned round;
	uint64_t bytes_on_wire;
	double dirty_rate_bps;
	double bandwidth_bps;
	double predicted_downtime_ms;
	double downtime_ms;          /* measured, < 0 until known */
	double deadline_slack_ms;    /* < 0 if no deadline */
	uint64_t pages_full, pages_zero, pages_dup, pages_have;
	uint64_t pages_resent;
	qm_downtime predicted, actual;
	uint64_t verify_checked, verify_mismatches, verify_resent;
	uint64_t verify_precopy_checked, verify_precopy_mismatches;
	bool verify_done, verify_passed;
	char verify_skipped[160];    /* why it was not done (verify "none") */
	unsigned throttle_pct;
	char tracker[32];
	char gate[96];               /* the gate's last reason */
	char error[QM_ERROR_MSG_MAX];
	int64_t started_ms, ended_ms;
} mig_status;

/*
 * One pre-copy round as the source engine saw it at its end, for plots
 * and for judging the predictor after the fact: migration.status lists
 * the last MIG_ROUNDS_MAX of them (a ring inside the migration, so a long
 * non-converging pre-copy costs no more memory than a short one).
 */
#define MIG_ROUNDS_MAX 256

typedef struct mig_round {
	unsigned round;              /* 0 for the first (every page) */
	uint64_t pages_sent;         /* full + zero + dup + have */
	uint64_t bytes;              /* transport bytes both ways */
	uint64_t dirty_pages;        /* found changed by this round's scan */
	double duration_ms;          /* the round's scan and send */
	double predicted_downtime_ms;/* the gate's prediction after it */
} mig_round;

typedef struct agent agent;
typedef struct agent_vm agent_vm;

typedef struct migration {
	char id[MIG_ID_LEN];
	uint8_t raw_id[16];          /* the same, as sent to the peer */
	qm_side side;
	agent *a;
	agent_vm *vm;                /* source side */
	mig_params p;
	pthread_mutex_t lock;
	mig_status st;               /* under @lock */
	mig_round rounds[MIG_ROUNDS_MAX]; /* under @lock: ring, the last */
	uint64_t nrounds;            /* ... of this many recorded */
	atomic_bool cancel;
	struct tp_sender *tx;        /* under @lock: interrupted on cancel */
	bool finished;               /* loop thread: worker has posted its end */
	void *side_state;            /* mig-source.c / mig-dest.c private */
} migration;

/* Status as the contract names it (loop thread, takes the lock), with
 * the rounds history; brief: without it, where it would be repeated for
 * every migration (migration.list) or every round (progress). */
json_object *mig_status_json(migration *m);
json_object *mig_status_json_brief(migration *m);
/* Move to the phase after @ev; logs refusals (a bug) and keeps the phase.
 * Worker thread. Also sends a notification through the agent. */
void mig_step(migration *m, qm_event ev, bool source_paused);
/* Ask the migration to stop (any thread): sets @cancel and interrupts a
 * transport call it is blocked in. */
void mig_cancel(migration *m);
/* Append a finished pre-copy round to the history (worker thread). */
void mig_round_record(migration *m, const mig_round *r);
/* Record the first error (worker thread). */
void mig_fail_msg(migration *m, const qm_error *err);
/* Random 128-bit id as 32 hex digits, and its raw bytes. */
bool mig_new_id(char id[MIG_ID_LEN], uint8_t raw[16], qm_error *err);

#endif
