/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to dirtylog/: the tracker object and its ops table.
 */
#ifndef QMIG_DIRTYLOG_TRACKER_IMPL_H
#define QMIG_DIRTYLOG_TRACKER_IMPL_H

#include "dirtylog/dirtylog.h"

#include <pthread.h>

typedef struct dl_scan_counts {
	uint64_t scanned, holes, dirty, dirty_zero;
	uint64_t changed;       /* content changed since the previous scan */
} dl_scan_counts;

typedef struct dl_tracker_ops {
	const char *name;
	/* Find changed pages into t->dirty (already cleared) and history. */
	bool (*round)(dl_tracker *t, unsigned flags, dl_scan_counts *c,
		      qm_error *err);
	void (*destroy)(dl_tracker *t);
	/* Optional: dl_tracker_mark_sent() changed page's sent hash from
	 * @old to @now. May run on several threads for distinct pages. */
	void (*sent)(dl_tracker *t, uint64_t page, dl_hash old, dl_hash now);
} dl_tracker_ops;

struct dl_tracker {
	const dl_tracker_ops *ops;
	const dl_ram *ram;
	const dl_hasher *h;
	int threads;
	uint64_t npages, nwords;
	dl_hash *sent;          /* last-sent hash per page */
	uint8_t *count;         /* rounds dirtied, saturating */
	uint8_t *hist;          /* bit i: dirty in round last-i */
	uint32_t *last;         /* last round dirtied, 1-based; 0 = never */
	uint32_t *seen;         /* low 32 bits of the hash at the last scan */
	uint64_t *dirty;        /* bitmap of the last round */
	uint64_t round;         /* completed rounds */
	int64_t last_start_ns;
	char fallback[256];
	void *impl;             /* per-implementation state */
	uint64_t impl_bytes;    /* per-page state the implementation holds */
	/* Allocated extents, rebuilt at the start of each round. */
	dl_ram_view view;
};

void dl_check_page(dl_tracker *t, dl_scan_counts *c, uint64_t p, dl_hash now,
		   unsigned flags);
/* List every region's allocated extents (once per round, by the ops). */
bool dl_refresh_extents(dl_tracker *t, qm_error *err);
/* Scan all pages with t->threads threads: holes compared with the zero hash,
 * data pages hashed and checked, except that with @only non-NULL a data
 * page whose bit is clear there is skipped as known unchanged. */
void dl_scan_pages(dl_tracker *t, unsigned flags, const uint64_t *only,
		   dl_scan_counts *c);
bool dl_choose_ops(dl_tracker *t, const dl_tracker_opts *o, qm_error *err);
/* softdirty.c: set t->ops to the soft-dirty tracker if it can work for @o;
 * otherwise false with the reason in @why. */
bool dl_softdirty_setup(dl_tracker *t, const dl_tracker_opts *o, char *why,
			size_t why_len);

#endif
