/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mig-verify: the source's half of verification (mode agent). The
 * destination hashes what is really in its RAM (mig-dest.c); the source
 * compares, resends what differs and checks again. Two policies
 * (migration.start "verify"):
 *
 *  full     once the VM is stopped, every page: chunk hashes of
 *           MIG_VERIFY_CHUNK pages first, page hashes of the chunks that
 *           differ, the differing pages resent, up to MV_PASSES passes.
 *
 *  tracked  the same comparison, spread over pre-copy. After each round
 *           the destination's copy of every chunk of MV_TRACK_SPAN pages
 *           that round touched is compared with the hashes of what was
 *           sent (the tracker keeps them), and a chunk that matches is
 *           confirmed until one of its pages is sent again. Round 0
 *           confirms the whole RAM once. With the VM stopped only the
 *           chunks not confirmed (the final pass, resends) are compared,
 *           again against what was sent (after the final pass, the
 *           stopped VM's content): the downtime pays for the final dirty
 *           set, not for the RAM size.
 *
 * What tracked trusts that full does not: the dirty tracker, for pages it
 * does not report after their chunk was confirmed (hash-scan is exact: it
 * compares every page's hash with the one sent; soft-dirty relies on the
 * kernel's bits), and the destination's RAM not changing after a
 * confirmation (only the receiver writes it; its QEMU is paused).
 *
 * Threads: mv_sent() is called from the transport's stream threads; the
 * rest from the migration's worker, never while pages are in flight
 * except those mv_precopy() itself queued.
 */
#ifndef QMIG_AGENT_MIG_VERIFY_H
#define QMIG_AGENT_MIG_VERIFY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"
#include "dirtylog/dirtylog.h"
#include "transport/transport.h"

#define MV_PASSES 3
#define MV_TRACK_SPAN 16

typedef struct mig_verifier {
	tp_sender *tx;
	const dl_ram *ram;
	const dl_hasher *h;
	const dl_tracker *tr;
	bool tracked;
	int timeout_ms;
	uint64_t nspans;                 /* tracked: chunks of MV_TRACK_SPAN */
	_Atomic uint64_t *unconfirmed;   /* tracked: bit per chunk */
	dl_ram_view view;                /* the stopped VM, at the end */
	/* Results. At the end: */
	uint64_t checked;                /* pages compared */
	uint64_t mismatches;             /* pages that differed (resent) */
	/* During pre-copy (tracked): */
	uint64_t pre_checked, pre_mismatches;
	double inflation;                /* pages compared per page sent in
					  * the last pre-copy check (>= 1) */
} mig_verifier;

bool mv_init(mig_verifier *v, tp_sender *tx, const dl_ram *ram,
	     const dl_hasher *h, const dl_tracker *tr, bool tracked,
	     qm_error *err);
void mv_free(mig_verifier *v);
/* Page @page was (re)sent: its chunk is no longer confirmed. */
void mv_sent(mig_verifier *v, uint64_t page);
/* Tracked, after a pre-copy round's flush: confirm what it sent; pages
 * that differ are queued again (they go with the next round). */
bool mv_precopy(mig_verifier *v, uint64_t pages_sent, qm_error *err);
/* With the VM stopped: the final comparison. Resends are flushed as
 * rounds ++*@round. false with *err if it failed or pages still differ. */
bool mv_final(mig_verifier *v, uint64_t *round, qm_error *err);
/* Pages the final comparison will hash, for @dirty_pages changed pages
 * and @held_pages pages the destination holds data for. */
double mv_predict_pages(const mig_verifier *v, uint64_t dirty_pages,
			uint64_t held_pages);

#endif
