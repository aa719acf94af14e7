/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Receiver stream thread: PAGES straight into the mapped destination RAM,
 * references checked by hash, the ROUND_END barrier, control frames for
 * the engine.
 *
 * A PAGES frame is read in three steps so that no page is copied twice:
 *   header + counts (16 bytes) -> checked: count, refs, room in the body
 *   head (entries + refs) -> every kind, page index, hint and the exact
 *                        body length checked; the routing rule too
 *   payload           -> one recvmsg() whose iovecs are the FULL pages'
 *                        places in guest RAM
 * then ZERO pages are punched (or zeroed), FULL pages checked against
 * the hash in their entry, and DUP/HAVE references copied and checked:
 * the copy's keyed hash must equal the entry's. A reference that does not
 * check out is deferred to the barrier, when every stream's ROUND_END is
 * in and nothing writes RAM; if it fails there too, or a FULL page did
 * not match, the page goes back to the sender in MISMATCH(RESEND).
 */
#define LOG_PREFIX "transport"
#include "transport/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

enum { RX_PHEAD = TP_RX_ROLE, RX_PPAYLOAD };

static bool rx_on_header(tp_stream *st, qm_error *err)
{
	tp_session *s = st->sess;
	bool waiting;

	if (st->rx_frame.type != TP_FRAME_PAGES)
		return false;
	/* Between this stream's ROUND_END and our ACK the barrier may be
	 * touching RAM and this stream's deferred list: no PAGES then. */
	pthread_mutex_lock(&s->lock);
	waiting = st->at_barrier;
	pthread_mutex_unlock(&s->lock);
	if (waiting)
		return qm_error_set(err, QM_ERR_PROTO, "frame PAGES on stream "
				    "%d before the ACK of its ROUND_END",
				    st->idx);
	/* The counts came with the header (TP_RX_FIRST). */
	if (!tp_pages_check_counts(&st->rx_frame, st->rxbuf + TP_FRAME_HDR_SIZE,
				   err))
		return true;
	tp_stream_read(st, RX_PHEAD, TP_RX_FIRST,
		       tp_pages_head_len(&st->rx_frame) - TP_PAGES_FIXED_LEN);
	return true;
}

/* A page was (re)written: an older deferred reference to it is void. */
static void forget(tp_stream *st, uint64_t page)
{
	tp_session *s = st->sess;

	for (unsigned i = 0; i < st->ndefer; i++)
		if (st->defer[i].page == page)
			st->defer[i--] = st->defer[--st->ndefer];
	if (TP_LOAD(s->unres_count) && tp_bit_test(s->unres_bm, page)) {
		tp_bit_clear(s->unres_bm, page);
		__atomic_fetch_sub(&s->unres_count, 1, __ATOMIC_RELAXED);
	}
}

/* List @page for MISMATCH(RESEND) at the barrier. The bitmap word
 * belongs to this stream (shards are whole words), so no atomics on it. */
static void mark_unresolved(tp_session *s, uint64_t page)
{
	if (!tp_bit_test(s->unres_bm, page)) {
		tp_bit_set(s->unres_bm, page);
		__atomic_fetch_add(&s->unres_count, 1, __ATOMIC_RELAXED);
	}
}

/* Give up on a reference for now: keep it for the barrier, or, when the
 * list is full, mark the page unresolved at once. */
static void defer(tp_stream *st, uint64_t page, uint8_t kind, dl_hash h,
		  uint64_t hint)
{
	TP_ADD(st->cnt.deferred, 1);
	if (st->ndefer < TP_DEFER_MAX) {
		st->defer[st->ndefer++] = (tp_defer){ page, hint, h, kind };
		return;
	}
	mark_unresolved(st->sess, page);
}

/*
 * A FULL page landed: check its bytes against the hash in its entry. The
 * sender hashes the page in guest RAM and the kernel reads it from there
 * later, so a guest write in between sends bytes the hash does not
 * describe (tx.c). Such a page is asked for again at the barrier; the
 * resend is a copy the sender hashed, so it matches. The page is written
 * either way: a later entry for it supersedes this one (forget()).
 */
static void check_full(tp_stream *st, uint64_t page, dl_hash h)
{
	tp_session *s = st->sess;

	forget(st, page);
	tp_bit_set(s->written_bm, page);
	if (dl_hash_eq(dl_hash_page(&s->h, dl_ram_page(s->ram, page)), h)) {
		TP_ADD(st->cnt.pages[TP_PAGE_FULL], 1);
		return;
	}
	TP_ADD(st->cnt.full_changed, 1);
	mark_unresolved(s, page);
}

/*
 * Allocate destination pages before writing them. In a sparse destination
 * a store into a hole of a full filesystem raises SIGBUS (the agent would
 * die mid-migration); MADV_POPULATE_WRITE reports the same condition as
 * an error instead (EFAULT, ENOMEM), which ends the session cleanly and
 * rolls the migration back. SETUP checked for room, but the filesystem is
 * shared with everything else on the host. A kernel without the advice
 * (EINVAL) faults the pages in as before.
 */
static bool rx_alloc(void *p, size_t len, qm_error *err)
{
	if (madvise(p, len, MADV_POPULATE_WRITE) == 0 || errno == EINVAL)
		return true;
	return qm_error_errno(err, errno == EFAULT ? ENOSPC : errno,
			      "destination RAM: cannot allocate %zu KiB "
			      "(filesystem full?)", len >> 10);
}

/* Copy the source of a reference into @page and check the copy's hash. */
static bool materialise(tp_session *s, uint64_t page, uint8_t kind, dl_hash h,
			uint64_t hint)
{
	uint8_t *dst = dl_ram_page(s->ram, page);
	const uint8_t *src = NULL;
	uint64_t v;

	if (kind == TP_PAGE_DUP) {
		src = dl_ram_page(s->ram, hint);
	} else if (s->image && (v = tp_image_index_find(&s->image_ix, h))) {
		src = dl_ram_page(s->image, v - 1);
	}
	if (!src || !dst || src == dst)
		return false;
	/* A hole (never written, or punched by ZERO) is allocated first; if
	 * that fails the reference stays unresolved, the page comes back in
	 * full, and that payload's allocation ends the session. */
	if (s->sparse_ram && !tp_bit_test(s->written_bm, page) &&
	    !rx_alloc(dst, DL_PAGE_SIZE, NULL))
		return false;
	tp_bit_set(s->written_bm, page);
	memcpy(dst, src, DL_PAGE_SIZE);
	return dl_hash_eq(dl_hash_page(&s->h, dst), h);
}

/* Zero pages [first, first + n) of one region. Sparse RAM: punch a hole
 * (no memory used, reads as zero). Populated RAM: unmapping pages costs
 * more than looking, so write zeros only over pages that are not zero. */
static void zero_run(tp_session *s, uint64_t first, uint64_t n)
{
	const dl_region *r = dl_ram_region_of(s->ram, first);
	off_t off = (off_t)((first - r->first_page) << DL_PAGE_SHIFT);

	if (s->sparse_ram &&
	    fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
		      (off_t)(n << DL_PAGE_SHIFT)) == 0)
		return;
	for (uint64_t i = 0; i < n; i++) {
		uint8_t *pg = r->base + off + (i << DL_PAGE_SHIFT);

		if (!dl_page_is_zero(pg))
			memset(pg, 0, DL_PAGE_SIZE);
	}
}

/* Count one ZERO entry; true if the page must actually be zeroed. */
static bool zero_needed(tp_stream *st, uint64_t p)
{
	tp_session *s = st->sess;
	bool written = tp_bit_test(s->written_bm, p);

	forget(st, p);
	tp_bit_clear(s->written_bm, p);
	TP_ADD(st->cnt.pages[TP_PAGE_ZERO], 1);
	TP_ADD(st->cnt.saved, DL_PAGE_SIZE);
	/* A page never written since SETUP, or since its last ZERO, is zero
	 * already: no punch, no scan (a syscall per run of them cost a
	 * zero-heavy receiver 0.1-0.2 s/GB). A page something else wrote
	 * was found by a verification, which marked it written
	 * (tp_receiver_distrust) before asking for it again. */
	return written;
}

static void apply_zeros(tp_stream *st, const tp_frame *f)
{
	const dl_region *r = NULL;
	uint64_t start = 0, n = 0;

	for (uint32_t i = 0; i < f->u.pages.count; i++) {
		uint64_t e = tp_get64(f->u.pages.entries + 8 * i);
		uint64_t p = tp_entry_page(e);

		if (tp_entry_kind(e) != TP_PAGE_ZERO || !zero_needed(st, p))
			continue;
		/* Adjacent pages of one region: one run, one punch. */
		if (n && p == start + n && p - r->first_page < r->npages) {
			n++;
			continue;
		}
		if (n)
			zero_run(st->sess, start, n);
		start = p;
		n = 1;
		r = dl_ram_region_of(st->sess->ram, p);
	}
	if (n)
		zero_run(st->sess, start, n);
}

/* Mark pages [first, first + n) allocated, if the run could be. */
static void alloc_run(tp_session *s, uint64_t first, uint64_t n)
{
	if (!n || !rx_alloc(dl_ram_page(s->ram, first), n << DL_PAGE_SHIFT,
			    NULL))
		return;
	for (uint64_t i = 0; i < n; i++)
		tp_bit_set(s->written_bm, first + i);
}

/*
 * Sparse RAM: allocate the holes this frame's DUP/HAVE entries will be
 * copied into, one call per run of adjacent pages (as plan_payload() does
 * for FULL pages) rather than one per page in materialise(). An allocated
 * page counts as written: it may hold data from here on, so a later ZERO
 * entry clears it. A run that cannot be allocated is left to
 * materialise(), page by page, as before: a full filesystem still ends in
 * a resend and then a clean error, never SIGBUS.
 */
static void alloc_ref_targets(tp_stream *st, const tp_frame *f)
{
	tp_session *s = st->sess;
	uint64_t first = 0, n = 0;

	for (uint32_t i = 0; i < f->u.pages.count; i++) {
		uint64_t e = tp_get64(f->u.pages.entries + 8 * i);
		uint64_t p = tp_entry_page(e);
		tp_page_kind k = tp_entry_kind(e);

		if ((k != TP_PAGE_DUP && k != TP_PAGE_HAVE) ||
		    tp_bit_test(s->written_bm, p))
			continue;
		/* Adjacent in the page space and in memory: one run (regions
		 * are separate mappings). */
		if (n && p == first + n &&
		    dl_ram_page(s->ram, p) == dl_ram_page(s->ram, first) +
					      (n << DL_PAGE_SHIFT)) {
			n++;
			continue;
		}
		alloc_run(s, first, n);
		first = p;
		n = 1;
	}
	alloc_run(s, first, n);
}

static void apply_rest(tp_stream *st, const tp_frame *f)
{
	tp_session *s = st->sess;
	uint32_t ref = 0;

	apply_zeros(st, f);
	if (s->sparse_ram)
		alloc_ref_targets(st, f);
	for (uint32_t i = 0; i < f->u.pages.count; i++) {
		uint64_t e = tp_get64(f->u.pages.entries + 8 * i);
		uint64_t p = tp_entry_page(e);
		tp_page_kind k = tp_entry_kind(e);
		const uint8_t *r;
		dl_hash h;

		if (k == TP_PAGE_ZERO)
			continue;
		r = f->u.pages.refs + (size_t)ref++ * TP_PAGE_REF_LEN;
		h = tp_get_hash(r);
		if (k == TP_PAGE_FULL) {
			check_full(st, p, h);
			continue;
		}
		forget(st, p);
		if (materialise(s, p, k, h, tp_get64(r + 16))) {
			TP_ADD(st->cnt.pages[k], 1);
			TP_ADD(st->cnt.saved, DL_PAGE_SIZE - TP_PAGE_REF_LEN);
		} else {
			defer(st, p, k, h, tp_get64(r + 16));
		}
	}
	st->rx_frames++;
	st->rx_pages += f->u.pages.count;
	tp_stream_account_rx(st, TP_FRAME_PAGES, TP_FRAME_HDR_SIZE + f->len);
}

/* Check routing and point one iovec at each FULL page's place in RAM. */
static bool plan_payload(tp_stream *st, const tp_frame *f, qm_error *err)
{
	unsigned n = 0;
	uint8_t *dst;

	for (uint32_t i = 0; i < f->u.pages.count; i++) {
		uint64_t e = tp_get64(f->u.pages.entries + 8 * i);
		uint64_t p = tp_entry_page(e);
		int want = tp_stream_of(p, st->sess->nstreams);

		if (want != st->idx)
			return qm_error_set(err, QM_ERR_PROTO, "frame PAGES: "
					    "page %llu belongs to stream %d, "
					    "received on stream %d",
					    (unsigned long long)p, want,
					    st->idx);
		if (tp_entry_kind(e) != TP_PAGE_FULL)
			continue;
		dst = dl_ram_page(st->sess->ram, p);
		/* Adjacent pages (the common case) share one iovec. */
		if (n && (uint8_t *)st->rx_iov[n - 1].iov_base +
			 st->rx_iov[n - 1].iov_len == dst)
			st->rx_iov[n - 1].iov_len += DL_PAGE_SIZE;
		else
			st->rx_iov[n++] = (struct iovec){ dst, DL_PAGE_SIZE };
	}
	/* Sparse RAM: allocate the pages about to arrive in one call per
	 * range rather than one fault per page inside recvmsg(). */
	for (unsigned i = 0; st->sess->sparse_ram && i < n; i++)
		if (!rx_alloc(st->rx_iov[i].iov_base, st->rx_iov[i].iov_len,
				 err))
			return false;
	if (n)
		tp_stream_readv(st, RX_PPAYLOAD, n);
	return true;
}

static bool rx_on_read(tp_stream *st, qm_error *err)
{
	tp_frame *f = &st->rx_frame;
	const uint8_t *b = st->rxbuf + TP_FRAME_HDR_SIZE;

	switch (st->rx_state) {
	case RX_PHEAD:
		if (!tp_pages_decode_head(f, b, &st->sess->lim, err) ||
		    !plan_payload(st, f, err))
			return false;
		if (f->u.pages.nfull)
			return true;
		break;
	case RX_PPAYLOAD:
		break;
	}
	apply_rest(st, f);
	tp_stream_next_frame(st);
	return true;
}

/* ---- ROUND_END and the barrier ---- */

static void retry_deferred(tp_session *s, tp_stream *st)
{
	for (unsigned i = 0; i < st->ndefer; i++) {
		tp_defer *d = &st->defer[i];

		if (materialise(s, d->page, d->kind, d->hash, d->hint)) {
			TP_ADD(st->cnt.pages[d->kind], 1);
			TP_ADD(st->cnt.saved, DL_PAGE_SIZE - TP_PAGE_REF_LEN);
		} else if (!tp_bit_test(s->unres_bm, d->page)) {
			tp_bit_set(s->unres_bm, d->page);
			TP_ADD(s->unres_count, 1);
		}
	}
	st->ndefer = 0;
}

/* Queue MISMATCH(RESEND) frames listing every unresolved page. */
static uint64_t send_unresolved(tp_session *s, tp_stream *st0, uint64_t round)
{
	uint64_t pages[512], total = 0;
	uint32_t n = 0;
	tp_msg *m;

	for (uint64_t w = 0; TP_LOAD(s->unres_count) &&
	     w < (s->lim.npages + 63) / 64; w++) {
		while (s->unres_bm[w]) {
			int bit = __builtin_ctzll(s->unres_bm[w]);

			s->unres_bm[w] &= s->unres_bm[w] - 1;
			__atomic_fetch_sub(&s->unres_count, 1,
					   __ATOMIC_RELAXED);
			pages[n++] = w * 64 + bit;
			if (n < QM_ARRAY_SIZE(pages) && TP_LOAD(s->unres_count))
				continue;
			m = tp_msg_new(TP_FRAME_HDR_SIZE +
				       TP_MISMATCH_FIXED_LEN + 8 * n);
			if (!m)
				return total;
			m->len = tp_encode_mismatch(m->data, m->len,
						    TP_MISMATCH_RESEND, round,
						    pages, n);
			tp_stream_send_msg(st0, m);
			total += n;
			n = 0;
		}
	}
	return total;
}

/* Runs on the thread whose ROUND_END completed the set: every stream has
 * delivered all its pages of this epoch and the sender sends no more
 * until our ACK, so no thread writes RAM now. */
void tp_rx_barrier(tp_session *s, uint32_t epoch, uint64_t round)
{
	tp_stream *st0 = s->st[0];
	uint64_t unresolved;
	tp_msg *m;

	for (int i = 0; i < s->nstreams; i++)
		retry_deferred(s, s->st[i]);
	unresolved = send_unresolved(s, st0, round);
	TP_ADD(st0->cnt.resent, unresolved);
	m = tp_msg_new(TP_FRAME_HDR_SIZE + TP_ACK_LEN);
	if (!m) {
		tp_session_failf(s, QM_ERR_NOMEM, "ACK of ROUND_END");
		return;
	}
	m->len = tp_encode_ack(m->data, m->len, TP_FRAME_ROUND_END, 0, epoch,
			       round, unresolved);
	pthread_mutex_lock(&s->lock);
	tp_msgq_push(&st0->ctrl, m);
	s->rounds++;
	s->barrier_count = 0;
	for (int i = 0; i < s->nstreams; i++)
		s->st[i]->at_barrier = false;
	pthread_mutex_unlock(&s->lock);
	tp_stream_wake(st0);
}

static bool on_round_end(tp_stream *st, const tp_frame *f, qm_error *err)
{
	tp_session *s = st->sess;
	const typeof(f->u.round_end) *re = &f->u.round_end;
	bool last;

	if (re->stream != st->idx || re->frames != st->rx_frames ||
	    re->pages != st->rx_pages)
		return qm_error_set(err, QM_ERR_PROTO, "frame ROUND_END: "
				    "stream %u sent %llu frames / %llu pages, "
				    "stream %d received %llu / %llu", re->stream,
				    (unsigned long long)re->frames,
				    (unsigned long long)re->pages, st->idx,
				    (unsigned long long)st->rx_frames,
				    (unsigned long long)st->rx_pages);
	st->rx_frames = st->rx_pages = 0;
	pthread_mutex_lock(&s->lock);
	if (s->barrier_count && re->epoch != s->barrier_epoch) {
		pthread_mutex_unlock(&s->lock);
		return qm_error_set(err, QM_ERR_PROTO, "frame ROUND_END: epoch "
				    "%u, the other streams are at %u",
				    re->epoch, s->barrier_epoch);
	}
	s->barrier_epoch = re->epoch;
	st->at_barrier = true;
	last = ++s->barrier_count == s->nstreams;
	pthread_mutex_unlock(&s->lock);
	if (last)
		tp_rx_barrier(s, re->epoch, re->round);
	return true;
}

static bool rx_on_frame(tp_stream *st, const tp_frame *f, qm_error *err)
{
	tp_session *s = st->sess;
	tp_msg *m;

	switch (f->type) {
	case TP_FRAME_ROUND_END:
		return on_round_end(st, f, err);
	case TP_FRAME_PING:
		m = tp_msg_new(TP_FRAME_HDR_SIZE + TP_ACK_LEN);
		if (m) {
			m->len = tp_encode_ack(m->data, m->len, TP_FRAME_PING,
					       0, f->u.ping.seq,
					       f->u.ping.time_ns, 0);
			tp_stream_send_msg(st, m);
		}
		return true;
	case TP_FRAME_MISMATCH:
		if (f->u.mismatch.reason != TP_MISMATCH_VERIFY)
			return qm_error_set(err, QM_ERR_PROTO, "frame MISMATCH: "
					    "reason %u from the sender",
					    f->u.mismatch.reason);
		/* fall through */
	case TP_FRAME_DEVSTATE:
	case TP_FRAME_VERIFY:
	case TP_FRAME_COMMIT:
		if (f->type == TP_FRAME_COMMIT) {
			pthread_mutex_lock(&s->lock);
			s->commit_seen = true;
			pthread_mutex_unlock(&s->lock);
		}
		tp_session_deliver(s, f, st->rxbuf + TP_FRAME_HDR_SIZE);
		return true;
	case TP_FRAME_ABORT:
		return tp_session_peer_abort(s, f, "sender", err);
	}
	return qm_error_set(err, QM_ERR_PROTO, "frame %s not expected now",
			    tp_frame_name(f->type));
}

const tp_stream_ops tp_rx_ops = {
	.on_header = rx_on_header,
	.on_read = rx_on_read,
	.on_frame = rx_on_frame,
};
