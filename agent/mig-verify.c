/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The source's half of verification: plans which chunks to compare,
 * sends their expected hashes, reads the destination's answers (page
 * hashes of each chunk that differs, then the list of those chunks),
 * and collects the pages to resend. See mig-verify.h for the policies.
 */
#define LOG_PREFIX "verify"
#include "agent/mig-verify.h"
#include "agent/mig-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Chunk hashes per VERIFY frame: small frames let the destination hash
 * its side of a frame while the source hashes the next one, so the two
 * passes overlap instead of adding up. At most MV_MAX_FRAMES frames are
 * unanswered at a time, well under the 64 control frames either side's
 * transport holds for its engine: the destination never stops reading
 * our frames, so sending never blocks while we read its answers. Each
 * answer read lets the next frame go: a pass costs one round trip plus
 * the hashing, however many frames scattered chunks need. */
#define MV_FRAME_CHUNKS 64
#define MV_MAX_FRAMES 32
/* Tracked: chunks this close to each other share a frame (the ones in
 * between are compared too), so scattered writes do not cost a frame
 * each. */
#define MV_GAP_FILL 4
/* The destination answers a batch within this (it hashes while we wait). */
#define MV_ANSWER_TIMEOUT_MS 15000

/* Expected hashes of pages [first, first + n) and their chunk hash. */
typedef bool (*expect_fn)(mig_verifier *v, uint64_t first, uint64_t n,
			  dl_hash *pages, dl_hash *chunk, qm_error *err);

/* The stopped VM's RAM as it is. */
static bool expect_ram(mig_verifier *v, uint64_t first, uint64_t n,
		       dl_hash *pages, dl_hash *chunk, qm_error *err)
{
	return mig_hash_range(&v->view, v->h, first, n, pages, chunk, err);
}

/* What was sent last for each page (what the destination must hold). */
static bool expect_sent(mig_verifier *v, uint64_t first, uint64_t n,
			dl_hash *pages, dl_hash *chunk, qm_error *err)
{
	(void)err;
	for (uint64_t i = 0; i < n; i++)
		pages[i] = dl_tracker_sent_hash(v->tr, first + i);
	*chunk = mig_chunk_hash(v->h, pages, n);
	return true;
}

/* A growable list of page or chunk numbers. */
typedef struct u64_list {
	uint64_t *v;
	size_t n, cap;
} u64_list;

static bool list_add(u64_list *l, uint64_t x, qm_error *err)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		uint64_t *nv = realloc(l->v, cap * sizeof(*nv));

		if (!nv)
			return qm_error_set(err, QM_ERR_NOMEM, "verify lists");
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = x;
	return true;
}

static void list_free(u64_list *l)
{
	free(l->v);
	*l = (u64_list){ 0 };
}

/* One comparison of @chunks (first pages, ascending, @span pages each). */
typedef struct pass {
	mig_verifier *v;
	expect_fn expect;
	uint64_t span;
	const u64_list *chunks;
	dl_hash *pages;          /* span entries */
	dl_hash *hs;             /* chunk hashes of one frame */
	size_t per;              /* chunks per frame */
	u64_list bad;            /* chunks that differ (first pages) */
	u64_list resend;         /* pages that differ */
	uint64_t checked;        /* pages covered */
} pass;

static size_t chunks_per_frame(size_t n)
{
	size_t per = (n + MV_MAX_FRAMES - 1) / MV_MAX_FRAMES;

	if (per < MV_FRAME_CHUNKS)
		per = MV_FRAME_CHUNKS;
	return per > TP_MAX_VERIFY_HASHES ? TP_MAX_VERIFY_HASHES : per;
}

static uint64_t chunk_len(const pass *p, uint64_t first)
{
	return QM_MIN(p->span, p->v->ram->npages - first);
}

/* One frame of consecutive chunks from chunks[*i]. */
static bool send_frame(pass *p, size_t *i, qm_error *err)
{
	const u64_list *c = p->chunks;
	uint64_t first = c->v[*i];
	size_t k = 0;

	while (*i < c->n && k < p->per && c->v[*i] == first + k * p->span) {
		uint64_t n = chunk_len(p, c->v[*i]);

		if (!p->expect(p->v, c->v[*i], n, p->pages, &p->hs[k], err))
			return false;
		p->checked += n;
		(*i)++;
		k++;
	}
	return tp_sender_send_verify(p->v->tx, TP_VERIFY_CHUNK, first, p->span,
				     p->hs, k, err);
}

/* The destination's page hashes of one chunk that differs: the pages
 * that differ from what we expect go on the resend list. */
static bool compare_pages(pass *p, const tp_ctrl *c, qm_error *err)
{
	uint64_t first = c->u.verify.first, n = c->u.verify.count;
	dl_hash chunk;

	if (c->u.verify.level != TP_VERIFY_PAGE || c->u.verify.span != 1 ||
	    n > p->span || first >= p->v->ram->npages ||
	    n > p->v->ram->npages - first)
		return qm_error_set(err, QM_ERR_PROTO, "VERIFY from the "
				    "destination: pages %llu+%llu do not fit",
				    (unsigned long long)first,
				    (unsigned long long)n);
	if (!p->expect(p->v, first, n, p->pages, &chunk, err))
		return false;
	for (uint64_t i = 0; i < n; i++)
		if (!dl_hash_eq(p->pages[i], tp_ctrl_hash(c, (uint32_t)i)) &&
		    !list_add(&p->resend, first + i, err))
			return false;
	return true;
}

/* One MISMATCH(VERIFY) answers each VERIFY frame, after the page hashes
 * of that frame's differing chunks: read up to it. */
static bool read_answer(pass *p, qm_error *err)
{
	for (;;) {
		bool ok = true, answered = false;
		tp_ctrl c;
		int rc = tp_sender_recv_ctrl(p->v->tx, &c, p->v->timeout_ms, err);

		if (rc <= 0)
			return rc == 0 ? qm_error_set(err, QM_ERR_TIMEOUT,
					"no verification answer") : false;
		if (c.type == TP_FRAME_VERIFY) {
			ok = compare_pages(p, &c, err);
		} else if (c.type != TP_FRAME_MISMATCH) {
			ok = qm_error_set(err, QM_ERR_PROTO, "unexpected %s "
					  "during verification",
					  tp_frame_name(c.type));
		} else {
			for (uint32_t i = 0; ok && i < c.u.mismatch.count; i++) {
				uint64_t first = tp_ctrl_page(&c, i);

				ok = first < p->v->ram->npages ?
				     list_add(&p->bad, first, err) :
				     qm_error_set(err, QM_ERR_PROTO, "MISMATCH "
						  "from the destination: page "
						  "%llu is outside the RAM",
						  (unsigned long long)first);
			}
			answered = true;
		}
		tp_ctrl_release(&c);
		if (!ok || answered)
			return ok;
	}
}

static bool run_pass(pass *p, qm_error *err)
{
	unsigned unanswered = 0;
	size_t i = 0;
	bool ok;

	p->per = chunks_per_frame(p->chunks->n);
	p->pages = calloc(p->span, sizeof(*p->pages));
	p->hs = calloc(p->per, sizeof(*p->hs));
	ok = (p->pages && p->hs) ||
	     qm_error_set(err, QM_ERR_NOMEM, "verify buffers");
	while (ok && (i < p->chunks->n || unanswered)) {
		while (ok && i < p->chunks->n && unanswered < MV_MAX_FRAMES) {
			ok = send_frame(p, &i, err);
			unanswered++;
		}
		if (ok) {
			ok = read_answer(p, err);
			unanswered--;
		}
	}
	free(p->pages);
	free(p->hs);
	p->pages = p->hs = NULL;
	return ok;
}

static void pass_free(pass *p)
{
	list_free(&p->bad);
	list_free(&p->resend);
}

static bool queue_resends(mig_verifier *v, const u64_list *pages,
			  qm_error *err)
{
	for (size_t i = 0; i < pages->n; i++)
		if (!tp_sender_queue(v->tx, pages->v[i], 1, err))
			return false;
	return true;
}

/* ---- the tracked chunks ---- */

static bool is_unconfirmed(const mig_verifier *v, uint64_t c)
{
	return atomic_load(&v->unconfirmed[c / 64]) & (1ULL << (c % 64));
}

/* The unconfirmed chunks as first pages, small gaps filled. */
static bool tracked_plan(const mig_verifier *v, u64_list *out, qm_error *err)
{
	uint64_t last = UINT64_MAX;

	for (uint64_t c = 0; c < v->nspans; c++) {
		if (!is_unconfirmed(v, c))
			continue;
		if (last != UINT64_MAX && c - last > 1 &&
		    c - last <= MV_GAP_FILL)
			for (uint64_t g = last + 1; g < c; g++)
				if (!list_add(out, g * MV_TRACK_SPAN, err))
					return false;
		if (!list_add(out, c * MV_TRACK_SPAN, err))
			return false;
		last = c;
	}
	return true;
}

/* ---- API ---- */

bool mv_init(mig_verifier *v, tp_sender *tx, const dl_ram *ram,
	     const dl_hasher *h, const dl_tracker *tr, bool tracked,
	     qm_error *err)
{
	memset(v, 0, sizeof(*v));
	v->tx = tx;
	v->ram = ram;
	v->h = h;
	v->tr = tr;
	v->tracked = tracked;
	v->timeout_ms = MV_ANSWER_TIMEOUT_MS;
	if (!tracked)
		return true;
	v->nspans = (ram->npages + MV_TRACK_SPAN - 1) / MV_TRACK_SPAN;
	v->unconfirmed = malloc((v->nspans + 63) / 64 * sizeof(*v->unconfirmed));
	if (!v->unconfirmed)
		return qm_error_set(err, QM_ERR_NOMEM, "verify bitmap");
	/* Nothing is confirmed before the destination said so: the pages
	 * never sent (zero) are compared once too. */
	for (uint64_t w = 0; w < (v->nspans + 63) / 64; w++)
		atomic_init(&v->unconfirmed[w], ~0ULL);
	return true;
}

void mv_free(mig_verifier *v)
{
	free(v->unconfirmed);
	v->unconfirmed = NULL;
	dl_ram_view_close(&v->view);
}

void mv_sent(mig_verifier *v, uint64_t page)
{
	uint64_t c = page / MV_TRACK_SPAN;

	if (v->unconfirmed && c < v->nspans)
		atomic_fetch_or(&v->unconfirmed[c / 64], 1ULL << (c % 64));
}

bool mv_precopy(mig_verifier *v, uint64_t pages_sent, qm_error *err)
{
	u64_list chunks = { 0 };
	pass p = { .v = v, .expect = expect_sent, .span = MV_TRACK_SPAN,
		   .chunks = &chunks };
	int64_t t0 = qm_now_ns();
	bool ok;

	if (!v->tracked)
		return true;
	ok = tracked_plan(v, &chunks, err) && run_pass(&p, err);
	if (ok) {
		/* Nothing is in flight: what matched is confirmed. */
		for (size_t i = 0; i < chunks.n; i++) {
			uint64_t c = chunks.v[i] / MV_TRACK_SPAN;

			atomic_fetch_and(&v->unconfirmed[c / 64],
					 ~(1ULL << (c % 64)));
		}
		for (size_t i = 0; i < p.bad.n; i++)
			mv_sent(v, p.bad.v[i]);
		v->pre_checked += p.checked;
		v->pre_mismatches += p.resend.n;
		if (pages_sent && v->pre_checked > p.checked)
			v->inflation = (double)p.checked / pages_sent;
		/* Resent with the next round, which confirms them again. */
		ok = queue_resends(v, &p.resend, err);
	}
	pr_debug("pre-copy: %zu chunk(s) compared in %.1f ms, %zu page(s) "
		 "differ", chunks.n, (qm_now_ns() - t0) / 1e6, p.resend.n);
	pass_free(&p);
	list_free(&chunks);
	return ok;
}

static bool full_plan(const mig_verifier *v, u64_list *out, qm_error *err)
{
	for (uint64_t c = 0; c < v->ram->npages; c += MIG_VERIFY_CHUNK)
		if (!list_add(out, c, err))
			return false;
	return true;
}

bool mv_final(mig_verifier *v, uint64_t *round, qm_error *err)
{
	u64_list chunks = { 0 };
	uint64_t span = v->tracked ? MV_TRACK_SPAN : MIG_VERIFY_CHUNK;
	bool ok;

	/*
	 * Full: against the stopped VM's RAM as it is (its extents hold for
	 * every pass). Tracked: against what was sent last, as during
	 * pre-copy: after the final pass that is the stopped VM's content
	 * wherever the tracker is right, which tracked trusts anyway, and it
	 * spares listing and reading a RAM of any size for a few chunks.
	 */
	ok = v->tracked ? tracked_plan(v, &chunks, err)
			: dl_ram_view_open(&v->view, v->ram, err) &&
			  full_plan(v, &chunks, err);
	for (int n = 0; ok && chunks.n && n < MV_PASSES; n++) {
		pass p = { .v = v, .span = span, .chunks = &chunks,
			   .expect = v->tracked ? expect_sent : expect_ram };

		ok = run_pass(&p, err);
		if (ok && n == 0)
			v->checked = p.checked;
		if (ok && p.resend.n) {
			v->mismatches += p.resend.n;
			ok = queue_resends(v, &p.resend, err) &&
			     tp_sender_flush(v->tx, ++*round, NULL, err);
		}
		/* Next pass: the chunks that differed. */
		if (ok) {
			list_free(&chunks);
			chunks = p.bad;
			p.bad = (u64_list){ 0 };
		}
		pass_free(&p);
	}
	dl_ram_view_close(&v->view);
	if (ok && chunks.n)
		ok = qm_error_set(err, QM_ERR_PROTO, "verification: %zu chunk(s) "
				  "still differ after %d passes", chunks.n,
				  MV_PASSES);
	list_free(&chunks);
	return ok;
}

double mv_predict_pages(const mig_verifier *v, uint64_t dirty_pages,
			uint64_t held_pages)
{
	double p;

	/* Holes hash as zero without a read on either side: full costs the
	 * pages that hold data. */
	if (!v->tracked)
		p = (double)held_pages;
	else
		p = dirty_pages * (v->inflation > 1 ? v->inflation
						    : MV_TRACK_SPAN);
	return p < v->ram->npages ? p : (double)v->ram->npages;
}
