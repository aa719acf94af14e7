/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sender stream thread: turn queued runs into PAGES frames and handle what
 * the receiver says back (ACK, MISMATCH, VERIFY, ABORT).
 *
 * Building a frame (all in the stream thread, into a free tx buffer):
 *
 *   tx[b]: | room for header + head | copy slots (resends only)          |
 *          ^frame (header, counts, entries, refs written last, so that
 *           they end exactly where the slots start)
 *   sent:  iov[0] = header + head, then the FULL pages in entry order,
 *          adjacent ones merged: straight from guest RAM, or a slot
 *
 * For each page: a page that reads all zero in guest RAM is ZERO. Any
 * other is hashed where it lies, in guest RAM, and classified by that hash
 * (HAVE, DUP, else FULL); a FULL page is sent from guest RAM by the
 * kernel, with no copy of ours in between.
 *
 * The guest may write the page between our hash and the kernel's read of
 * it (pre-copy: the VM runs), so the bytes on the wire can differ from the
 * hash in the entry, in on_sent() and in the dedup index. Every FULL entry
 * carries that hash and the receiver checks the bytes it got against it
 * (rx.c); a page that does not match is listed in MISMATCH(RESEND) before
 * the ACK of the round, and tp_sender_flush() resends it before it
 * returns. A resend is copied into a slot first and the copy hashed, so
 * what it reports is exactly what it sends: a page the guest keeps
 * writing still converges in one pass. No check of ours on the sender
 * could replace the receiver's: the guest may change a page and change it
 * back (a lock word: 0, 1, 0) while the kernel reads it, and any hash of
 * guest RAM taken before and after would agree. A DUP/HAVE reference to
 * content whose carrier went out changed fails the receiver's check of
 * its own copy and is resent the same way (PROTOCOL.md section 4).
 */
#define LOG_PREFIX "transport"
#include "transport/internal.h"

#include <string.h>

/* Cache lines of the next page fetched ahead (see add_page()). */
#define TX_PREFETCH_LINES	8

/* Pop the next run of this stream's queue (engine side fills it). */
static bool take_work(tp_stream *st)
{
	tp_session *s = st->sess;

	pthread_mutex_lock(&s->lock);
	if (st->work_count) {
		st->cur = st->work[st->work_head];
		st->work_head = (st->work_head + 1) % st->work_cap;
		st->work_count--;
		st->has_cur = true;
		pthread_cond_broadcast(&s->cond);	/* queue space */
	}
	pthread_mutex_unlock(&s->lock);
	return st->has_cur;
}

/* Pages already in the frame being built: a tiny open-addressing set, so a
 * page queued twice never appears twice in one frame (the receiver applies
 * FULL payload before the other entries). */
static bool set_add(tp_stream *st, uint64_t page)
{
	unsigned n = QM_ARRAY_SIZE(st->seen);
	unsigned i = (unsigned)((page * 0x9e3779b97f4a7c15ull) >> 40) % n;

	while (st->seen[i].gen == st->seen_gen) {
		if (st->seen[i].page == page)
			return false;
		i = (i + 1) % n;
	}
	st->seen[i].page = page;
	st->seen[i].gen = st->seen_gen;
	return true;
}

/*
 * May @page join the frame? The engine queues runs in ascending order
 * almost always, and a page above every page so far cannot be in the
 * frame: no memory touched. Only the first page out of order moves the
 * frame to the set, filled with what it holds so far (the entries and
 * the page awaiting its kind). The set's probe was a cache miss per page,
 * as much sender time as the frame's other bookkeeping together.
 */
static bool seen_add(tp_stream *st, uint32_t count, const uint64_t *pending,
		     uint64_t page)
{
	if (!st->seen_set) {
		if (page >= st->seen_next) {
			st->seen_next = page + 1;
			return true;
		}
		st->seen_set = true;
		for (uint32_t i = 0; i < count; i++)
			set_add(st, st->entries[i] & TP_PAGE_INDEX_MASK);
		if (pending)
			set_add(st, *pending);
	}
	return set_add(st, page);
}

/* Empty the set in O(1): a new generation (slots of older ones are free). */
static void seen_reset(tp_stream *st)
{
	st->seen_next = 0;
	st->seen_set = false;
	if (++st->seen_gen == 0) {
		memset(st->seen, 0, sizeof(st->seen));
		st->seen_gen = 1;
	}
}

static tp_page_kind classify(tp_stream *st, uint64_t page, dl_hash h,
			     bool force, uint64_t *hint)
{
	tp_session *s = st->sess;
	uint64_t v;

	if (dl_hash_eq(h, s->h.zero))
		return TP_PAGE_ZERO;
	if (force) {
		/* A resend: make this page the reference for its content. */
		tp_dedup_put(s->dedup, h, page + 1, true);
		return TP_PAGE_FULL;
	}
	v = tp_dedup_claim(s->dedup, h, page + 1);
	if (v == TP_DEDUP_HAVE) {
		*hint = TP_NO_HINT;
		return TP_PAGE_HAVE;
	}
	if (!v || v == TP_DEDUP_FULL || v - 1 == page)
		return TP_PAGE_FULL;
	*hint = v - 1;
	return TP_PAGE_DUP;
}

/*
 * A frame being built. Pages go through a one-page pipeline: page i is
 * hashed, and its dedup slot prefetched, while page i-1's classification
 * waits; the index lookup then hits the cache instead of stalling on
 * memory once per page.
 */
typedef struct builder {
	tp_txbuf *t;
	uint8_t *slots;			/* copies of resent pages */
	uint32_t count, nref, nfull, ncopied;
	const dl_region *r;
	bool pending, pforce;		/* a hashed page awaiting its kind */
	uint64_t pp;
	dl_hash ph;
	const uint8_t *psrc;		/* its bytes: guest RAM or a slot */
} builder;

/* Send @src's page next in the payload (adjacent pages: one iovec). */
static void add_payload(builder *b, const uint8_t *src)
{
	struct iovec *v = &b->t->iov[b->t->niov - 1];

	if ((const uint8_t *)v->iov_base + v->iov_len == src)
		v->iov_len += DL_PAGE_SIZE;
	else
		b->t->iov[b->t->niov++] = (struct iovec){ (void *)src,
							   DL_PAGE_SIZE };
}

static void append(tp_stream *st, builder *b, uint64_t p, tp_page_kind k,
		   dl_hash h, uint64_t hint)
{
	uint8_t *ref;

	if (k == TP_PAGE_FULL)
		b->nfull++;
	if (k != TP_PAGE_ZERO) {
		ref = st->refs + (size_t)b->nref++ * TP_PAGE_REF_LEN;
		tp_put_hash(ref, h);
		tp_put64(ref + 16, hint);
	}
	st->entries[b->count] = (uint64_t)k << 56 | p;
	st->sent[b->count++] = (tp_sent){ .page = p, .hash = h };
	TP_ADD(st->cnt.pages[k], 1);
	if (k != TP_PAGE_FULL)
		TP_ADD(st->cnt.saved, DL_PAGE_SIZE -
		       (k == TP_PAGE_ZERO ? 0 : TP_PAGE_REF_LEN));
}

/* Classify the pending page; a FULL one joins the payload. */
static void settle(tp_stream *st, builder *b)
{
	uint64_t hint = TP_NO_HINT;
	tp_page_kind k;

	if (!b->pending)
		return;
	b->pending = false;
	k = classify(st, b->pp, b->ph, b->pforce, &hint);
	append(st, b, b->pp, k, b->ph, hint);
	if (k != TP_PAGE_FULL)
		return;
	add_payload(b, b->psrc);
	if (b->pforce)
		b->ncopied++;
}

/* Add the next page of the current run; false if the frame must end. */
static bool add_page(tp_stream *st, builder *b)
{
	uint64_t p = st->cur.first;
	const dl_region *r = b->r;
	const uint8_t *src;

	if (!seen_add(st, b->count, b->pending ? &b->pp : NULL, p))
		return false;
	if (!r || p < r->first_page || p - r->first_page >= r->npages)
		r = b->r = dl_ram_region_of(st->sess->ram, p);
	src = r->base + ((p - r->first_page) << DL_PAGE_SHIFT);
	/* The next page of the run is read next, while this one is hashed:
	 * start its first lines now. The hardware prefetcher stops at page
	 * boundaries, so without this the zero check of every page waited
	 * for memory (the sender's largest cost of its own after the hash).
	 * A prefetch past the region's end reads nothing and cannot fault. */
	if (st->cur.n > 1)
		for (unsigned l = 0; l < TX_PREFETCH_LINES; l++)
			__builtin_prefetch(src + DL_PAGE_SIZE + 64 * l);
	if (dl_page_is_zero(src)) {
		/* Decided on guest RAM itself: no hash. The entry says
		 * "zero" and so does the reported hash, whatever the guest
		 * writes now: a ZERO entry carries no bytes to differ. */
		append(st, b, p, TP_PAGE_ZERO, st->sess->h.zero, 0);
	} else if (st->cur.flags & TP_WORK_FORCE_FULL) {
		/* A resend: copy, hash the copy, send the copy (see the top
		 * of this file). Settled at once, so slots fill in order. */
		uint8_t *slot;

		settle(st, b);
		slot = b->slots + (size_t)b->ncopied * DL_PAGE_SIZE;
		memcpy(slot, src, DL_PAGE_SIZE);
		b->ph = dl_hash_page(&st->sess->h, slot);
		b->pending = b->pforce = true;
		b->pp = p;
		b->psrc = slot;
		settle(st, b);
	} else {
		dl_hash h = dl_hash_page(&st->sess->h, src);

		tp_dedup_prefetch(st->sess->dedup, h);
		settle(st, b);
		b->pending = true;
		b->pforce = false;
		b->pp = p;
		b->ph = h;
		b->psrc = src;
	}
	st->cur.first++;
	if (!--st->cur.n)
		st->has_cur = false;
	return true;
}

static void build_pages(tp_stream *st, int idx)
{
	tp_txbuf *t = &st->tx[idx];
	uint8_t *payload = t->base + TP_TX_PAYLOAD_OFF;
	builder b = { .t = t, .slots = payload };
	tp_session *s = st->sess;

	seen_reset(st);
	/* iov[0] is the head; its start is known once the frame is done. */
	t->iov[0] = (struct iovec){ payload, 0 };
	t->niov = 1;
	/* Entries are cheap, FULL pages fill the payload: both are limits. */
	while (b.count + b.pending < TP_MAX_FRAME_ENTRIES &&
	       b.nfull + b.pending < TP_TX_FRAME_PAGES) {
		if (!st->has_cur && !take_work(st))
			break;
		if (st->cur.flags & TP_WORK_MARK)
			break;
		if (!add_page(st, &b))
			break;
	}
	settle(st, &b);
	if (!b.count)
		return;
	t->frame = tp_pages_finish(payload, st->entries, b.count, st->refs,
				   b.nref, b.nfull, &t->len);
	/* The head ends where the first slot starts: a first FULL page that
	 * is a copy already extended iov[0] from there. */
	t->iov[0].iov_base = (void *)t->frame;
	t->iov[0].iov_len += (size_t)(payload - t->frame);
	t->pages = b.count;
	st->mark_frames++;
	st->mark_pages += b.count;
	if (s->on_sent)
		s->on_sent(s->on_sent_opaque, st->sent, b.count);
	tp_stream_queue_buf(st, idx);
}

static void build_round_end(tp_stream *st, int b)
{
	tp_txbuf *t = &st->tx[b];

	t->frame = t->base;
	t->len = tp_encode_round_end(t->base, TP_TXBUF_SIZE, st->cur.round,
				     st->cur.epoch, (uint16_t)st->idx,
				     st->mark_frames, st->mark_pages);
	t->iov[0] = (struct iovec){ t->base, t->len };
	t->niov = 1;
	t->pages = 0;
	st->mark_frames = st->mark_pages = 0;
	st->has_cur = false;
	tp_stream_queue_buf(st, b);
}

static void maybe_ping(tp_stream *st)
{
	int64_t now = qm_now_ns();
	tp_msg *m;

	if (st->idx || now < st->next_ping_ns)
		return;
	st->next_ping_ns = now + st->sess->ping_ms * 1000000LL;
	m = tp_msg_new(TP_FRAME_HDR_SIZE + TP_PING_LEN);
	if (!m)
		return;
	m->len = tp_encode_ping(m->data, m->len, ++st->ping_seq, (uint64_t)now);
	tp_stream_send_msg(st, m);
}

static void tx_pump(tp_stream *st)
{
	int b;

	maybe_ping(st);
	while ((b = tp_stream_free_buf(st)) >= 0) {
		if (!st->has_cur && !take_work(st))
			break;
		if (st->cur.flags & TP_WORK_MARK)
			build_round_end(st, b);
		else
			build_pages(st, b);
	}
}

static int64_t tx_timer(tp_stream *st)
{
	return st->idx ? 0 : st->next_ping_ns;
}

static void on_ack(tp_stream *st, const tp_frame *f)
{
	tp_session *s = st->sess;
	double rtt;

	pthread_mutex_lock(&s->lock);
	switch (f->u.ack.type) {
	case TP_FRAME_ROUND_END:
		if (f->u.ack.seq > s->epoch_acked)
			s->epoch_acked = (uint32_t)f->u.ack.seq;
		s->rounds++;
		break;
	case TP_FRAME_PING:
		rtt = (double)(qm_now_ns() - (int64_t)f->u.ack.arg0) / 1e6;
		if (rtt >= 0) {
			s->srtt_ms = s->srtt_ms ? s->srtt_ms + (rtt -
				     s->srtt_ms) / 8 : rtt;
			if (s->min_rtt_ms < 0 || rtt < s->min_rtt_ms)
				s->min_rtt_ms = rtt;
		}
		break;
	case TP_FRAME_COMMIT:
		s->commit_acked = true;
		s->end = TP_END_COMMITTED;
		break;
	}
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void on_resend(tp_stream *st, const tp_frame *f)
{
	tp_session *s = st->sess;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < f->u.mismatch.count; i++) {
		uint64_t p = tp_get64(f->u.mismatch.pages + 8 * i);

		if (!tp_bit_test(s->resend_bm, p)) {
			tp_bit_set(s->resend_bm, p);
			s->resend_count++;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

static bool tx_on_frame(tp_stream *st, const tp_frame *f, qm_error *err)
{
	tp_session *s = st->sess;

	switch (f->type) {
	case TP_FRAME_ACK:
		if (f->u.ack.code)
			return qm_error_set(err, QM_ERR_PROTO, "ACK of %s with "
					    "code %u", tp_frame_name(f->u.ack.type),
					    f->u.ack.code);
		on_ack(st, f);
		return true;
	case TP_FRAME_MISMATCH:
		if (f->u.mismatch.reason == TP_MISMATCH_RESEND)
			on_resend(st, f);
		else
			tp_session_deliver(s, f, st->rxbuf + TP_FRAME_HDR_SIZE);
		return true;
	case TP_FRAME_VERIFY:
		tp_session_deliver(s, f, st->rxbuf + TP_FRAME_HDR_SIZE);
		return true;
	case TP_FRAME_ABORT:
		return tp_session_peer_abort(s, f, "receiver", err);
	}
	return qm_error_set(err, QM_ERR_PROTO, "frame %s not expected now",
			    tp_frame_name(f->type));
}

const tp_stream_ops tp_tx_ops = {
	.pump = tx_pump,
	.on_frame = tx_on_frame,
	.next_timer_ns = tx_timer,
};
