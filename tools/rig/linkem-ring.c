/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * linkem: the delay line of one direction, a FIFO of frames in a byte
 * ring. See linkem-int.h.
 */
#include "tools/rig/linkem-int.h"

#include <stdlib.h>

/* Entries start 16-byte aligned: the header is 16 bytes, so a wrap marker
 * always fits in whatever is left at the end of the buffer. */
#define LK_ALIGN 16

static size_t entry_size(size_t len)
{
	return (sizeof(lk_entry) + len + LK_ALIGN - 1) & ~(size_t)(LK_ALIGN - 1);
}

bool lk_ring_init(lk_ring *r, size_t cap)
{
	cap &= ~(size_t)(LK_ALIGN - 1);
	*r = (lk_ring){ .cap = cap };
	/* Untouched pages cost nothing: the limit can be generous. */
	r->buf = aligned_alloc(LK_ALIGN, cap);
	return r->buf != NULL;
}

void lk_ring_free(lk_ring *r)
{
	free(r->buf);
	r->buf = NULL;
}

lk_entry *lk_ring_reserve(lk_ring *r, size_t len)
{
	size_t need = entry_size(len);

	if (len >= LK_WRAP)
		return NULL;
	if (!r->count) {
		r->head = r->tail = 0;
		r->reserved = 0;
		return need <= r->cap ? (lk_entry *)r->buf : NULL;
	}
	if (r->tail == r->head)
		return NULL; /* full */
	if (r->tail > r->head) {
		/* Free: [tail, cap) then [0, head). */
		if (r->cap - r->tail >= need)
			r->reserved = r->tail;
		else if (r->head >= need)
			r->reserved = 0;
		else
			return NULL;
	} else {
		if (r->head - r->tail < need)
			return NULL;
		r->reserved = r->tail;
	}
	return (lk_entry *)(r->buf + r->reserved);
}

void lk_ring_push(lk_ring *r)
{
	lk_entry *e = (lk_entry *)(r->buf + r->reserved);

	if (r->reserved != r->tail && r->cap - r->tail >= sizeof(lk_entry))
		((lk_entry *)(r->buf + r->tail))->len = LK_WRAP;
	r->tail = r->reserved + entry_size(e->len);
	if (r->tail == r->cap)
		r->tail = 0;
	r->count++;
}

/* The entry at @off, following a wrap marker or the buffer's end. */
static lk_entry *entry_at(const lk_ring *r, size_t off)
{
	lk_entry *e;

	if (off >= r->cap)
		off = 0;
	e = (lk_entry *)(r->buf + off);
	return e->len == LK_WRAP ? (lk_entry *)r->buf : e;
}

lk_entry *lk_ring_first(const lk_ring *r)
{
	return r->count ? entry_at(r, r->head) : NULL;
}

lk_entry *lk_ring_next(const lk_ring *r, const lk_entry *e)
{
	size_t off = (const uint8_t *)e - r->buf + entry_size(e->len);

	/* The newest entry ends at tail. */
	return off % r->cap == r->tail ? NULL : entry_at(r, off);
}

void lk_ring_pop(lk_ring *r)
{
	lk_entry *e = lk_ring_first(r);

	if (!e)
		return;
	r->head = (uint8_t *)e - r->buf + entry_size(e->len);
	if (r->head == r->cap)
		r->head = 0;
	r->count--;
}
