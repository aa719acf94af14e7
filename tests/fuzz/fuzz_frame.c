/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target for the transport's frame decoder: what a peer sends.
 *
 * Input: byte 0 picks the RAM size the limits are checked against (none
 * yet, 1 page, 16384 pages, 2^32 pages); bytes 1.. are a sequence of
 * frames as they come off a stream.
 *
 * Each input runs two ways:
 *  1. tp_frame_decode() frame after frame over the buffer, as long as
 *     frames decode; every decoded frame must satisfy the invariants the
 *     receiver relies on (lengths add up, counts within limits, every page
 *     index and hint inside the RAM), and frames that have an encoder must
 *     decode to the same fields after a re-encode;
 *  2. the streaming path the receiver uses for PAGES (header, counts,
 *     head, from separate buffers of exactly the announced sizes, so ASan
 *     sees any read past what was announced).
 * Neither may crash, and each failure must set an error.
 *
 * Build: -Dfuzz=true with clang (libFuzzer), or linked with replay.c to
 * replay a corpus directory (the meson test does that on every run).
 */
#include "transport/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                     \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr, "fuzz_frame: %s:%d: %s\n",      \
				__FILE__, __LINE__, #cond);             \
			abort();                                        \
		}                                                       \
	} while (0)

static const uint64_t ram_sizes[4] = { 0, 1, 16384, 1ull << 32 };

static void check_pages(const tp_frame *f, const tp_limits *lim)
{
	uint32_t full = 0, refs = 0;

	CHECK(f->u.pages.count >= 1 &&
	      f->u.pages.count <= TP_MAX_FRAME_ENTRIES);
	CHECK(f->u.pages.nfull <= TP_MAX_FRAME_PAGES);
	for (uint32_t i = 0; i < f->u.pages.count; i++) {
		uint64_t e = tp_get64(f->u.pages.entries + 8 * i);
		tp_page_kind k = tp_entry_kind(e);

		CHECK(k > TP_PAGE_INVALID && k < TP_PAGE__COUNT);
		CHECK(tp_entry_page(e) < lim->npages);
		full += k == TP_PAGE_FULL;
		/* Version 2: one ref per FULL, DUP and HAVE entry; only a
		 * DUP's names a page (FULL's carries the page's hash). */
		if (k == TP_PAGE_DUP)
			CHECK(tp_get64(f->u.pages.refs + 24 * refs + 16) <
			      lim->npages);
		else if (k != TP_PAGE_ZERO)
			CHECK(tp_get64(f->u.pages.refs + 24 * refs + 16) ==
			      TP_NO_HINT);
		refs += k != TP_PAGE_ZERO;
	}
	CHECK(full == f->u.pages.nfull && refs == f->u.pages.nref);
	CHECK(tp_pages_head_len(f) + (size_t)full * DL_PAGE_SIZE == f->len);
}

/* Decode, re-encode, decode again: the fields must survive. */
static void reencode(const tp_frame *f, const tp_limits *lim)
{
	static uint8_t out[TP_FRAME_MAX_CTRL];
	size_t n = 0;
	tp_frame g;

	switch (f->type) {
	case TP_FRAME_ROUND_END:
		n = tp_encode_round_end(out, sizeof(out), f->u.round_end.round,
					f->u.round_end.epoch,
					f->u.round_end.stream,
					f->u.round_end.frames,
					f->u.round_end.pages);
		break;
	case TP_FRAME_ACK:
		n = tp_encode_ack(out, sizeof(out), f->u.ack.type,
				  f->u.ack.code, f->u.ack.seq, f->u.ack.arg0,
				  f->u.ack.arg1);
		break;
	case TP_FRAME_MISMATCH:
		n = tp_encode_mismatch(out, sizeof(out), f->u.mismatch.reason,
				       f->u.mismatch.round, NULL, 0);
		break;
	case TP_FRAME_DEVSTATE:
		n = tp_encode_devstate(out, sizeof(out), f->u.devstate.offset,
				       f->u.devstate.data, f->u.devstate.len,
				       f->flags & TP_FLAG_LAST);
		break;
	default:
		return;
	}
	CHECK(n > 0);
	CHECK(tp_frame_decode(out, n, lim, &g, NULL, NULL));
	CHECK(g.type == f->type && g.flags == f->flags);
	if (f->type == TP_FRAME_ROUND_END)
		CHECK(!memcmp(&g.u.round_end, &f->u.round_end,
			      sizeof(g.u.round_end)));
	if (f->type == TP_FRAME_ACK)
		CHECK(!memcmp(&g.u.ack, &f->u.ack, sizeof(g.u.ack)));
	if (f->type == TP_FRAME_DEVSTATE)
		CHECK(g.u.devstate.len == f->u.devstate.len &&
		      !memcmp(g.u.devstate.data, f->u.devstate.data,
			      f->u.devstate.len));
}

static void check_frame(const tp_frame *f, const tp_limits *lim)
{
	const tp_frame_info *fi = tp_frame_info_of(f->type);
	uint16_t ver;

	CHECK(fi && f->len >= fi->min_len && f->len <= fi->max_len);
	CHECK(!(f->flags & ~fi->flags_ok));
	switch (f->type) {
	case TP_FRAME_PAGES:
		check_pages(f, lim);
		break;
	case TP_FRAME_HELLO:
		CHECK(f->u.hello.magic == TP_MAGIC);
		CHECK(f->u.hello.stream < f->u.hello.nstreams);
		(void)tp_hello_check(f, f->u.hello.migration_id, &ver, NULL);
		break;
	case TP_FRAME_SETUP:
		CHECK(f->u.setup.nblocks >= 1 &&
		      f->u.setup.nblocks <= TP_MAX_BLOCKS);
		CHECK(f->u.setup.npages <= TP_MAX_RAM_PAGES);
		for (unsigned i = 0; i < f->u.setup.nblocks; i++)
			CHECK(!strchr(f->u.setup.blocks[i].id, '/'));
		break;
	case TP_FRAME_MISMATCH:
		for (uint32_t i = 0; i < f->u.mismatch.count; i++)
			CHECK(tp_get64(f->u.mismatch.pages + 8 * i) <
			      lim->npages);
		break;
	case TP_FRAME_ABORT:
		CHECK(f->u.abort.msg_len <= TP_MAX_ABORT_MSG);
		break;
	}
	reencode(f, lim);
}

/* The receiver's PAGES path, each piece in a buffer of exactly its size. */
static void stream_pages(const uint8_t *p, size_t len, const tp_limits *lim)
{
	qm_error e = QM_ERROR_INIT;
	uint8_t *counts, *head;
	size_t hl;
	tp_frame f;

	if (!tp_frame_check_header(p, len, &f, &e)) {
		CHECK(qm_error_is_set(&e));
		return;
	}
	if (f.type != TP_FRAME_PAGES || len < TP_FRAME_HDR_SIZE + 8)
		return;
	counts = malloc(8);
	CHECK(counts);
	memcpy(counts, p + TP_FRAME_HDR_SIZE, 8);
	if (!tp_pages_check_counts(&f, counts, &e)) {
		CHECK(qm_error_is_set(&e));
		free(counts);
		return;
	}
	hl = tp_pages_head_len(&f);
	CHECK(hl <= f.len && hl <= TP_PAGES_HEAD_MAX);
	free(counts);
	if (len < TP_FRAME_HDR_SIZE + hl)
		return;
	head = malloc(hl);
	CHECK(head);
	memcpy(head, p + TP_FRAME_HDR_SIZE, hl);
	if (tp_pages_decode_head(&f, head, lim, &e)) {
		f.u.pages.payload = NULL;
		check_pages(&f, lim);
	} else {
		CHECK(qm_error_is_set(&e));
	}
	free(head);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tp_limits lim;
	size_t off, used;
	uint8_t *buf;

	if (size < 1 || size > (4u << 20))
		return 0;
	lim.npages = ram_sizes[data[0] & 3];
	/* A copy of exactly the input's size: reads past it are caught. */
	buf = malloc(size - 1 ? size - 1 : 1);
	CHECK(buf);
	memcpy(buf, data + 1, size - 1);
	stream_pages(buf, size - 1, &lim);
	off = 0;
	while (off < size - 1) {
		qm_error e = QM_ERROR_INIT;
		tp_frame f;

		if (!tp_frame_decode(buf + off, size - 1 - off, &lim, &f, &used,
				     &e)) {
			CHECK(qm_error_is_set(&e) && e.msg[0]);
			break;
		}
		CHECK(used >= TP_FRAME_HDR_SIZE && used <= size - 1 - off);
		check_frame(&f, &lim);
		off += used;
	}
	free(buf);
	return 0;
}
