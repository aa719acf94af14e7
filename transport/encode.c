/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Frame encoders: header + body, field by field, little-endian. Each
 * returns the frame size, or 0 when the buffer is too small or an argument
 * is over its limit (a caller bug: the limits are named in transport.h).
 */
#include "transport/frame.h"

#include <string.h>

/* Write the header and zero the body; 0 if it does not fit. */
static size_t begin(uint8_t *buf, size_t cap, tp_frame_type type,
		    uint16_t flags, size_t body)
{
	const tp_frame_info *fi = tp_frame_info_of(type);

	if (!fi || body < fi->min_len || body > fi->max_len ||
	    cap < TP_FRAME_HDR_SIZE + body)
		return 0;
	tp_put16(buf, type);
	tp_put16(buf + 2, flags);
	tp_put32(buf + 4, (uint32_t)body);
	memset(buf + TP_FRAME_HDR_SIZE, 0, body);
	return TP_FRAME_HDR_SIZE + body;
}

size_t tp_encode_hello(uint8_t *buf, size_t cap, uint16_t stream,
		       uint16_t nstreams, const uint8_t *migration_id,
		       const uint8_t *nonce)
{
	size_t n = begin(buf, cap, TP_FRAME_HELLO, 0, TP_HELLO_LEN);
	uint8_t *b = buf + TP_FRAME_HDR_SIZE;

	if (!n)
		return 0;
	tp_put32(b, TP_MAGIC);
	tp_put16(b + 4, TP_PROTO_VERSION_MIN);
	tp_put16(b + 6, TP_PROTO_VERSION);
	tp_put16(b + 8, stream);
	tp_put16(b + 10, nstreams);
	memcpy(b + 16, migration_id, TP_MIGRATION_ID_SIZE);
	memcpy(b + 32, nonce, TP_NONCE_SIZE);
	return n;
}

size_t tp_encode_auth(uint8_t *buf, size_t cap, uint16_t version,
		      const uint8_t *nonce, const uint8_t *mac)
{
	size_t n = begin(buf, cap, TP_FRAME_AUTH, 0, TP_AUTH_LEN);
	uint8_t *b = buf + TP_FRAME_HDR_SIZE;

	if (!n)
		return 0;
	tp_put16(b, version);
	if (nonce)
		memcpy(b + 8, nonce, TP_NONCE_SIZE);
	memcpy(b + 40, mac, TP_MAC_SIZE);
	return n;
}

size_t tp_encode_setup(uint8_t *buf, size_t cap, const char *vm_name,
		       const uint8_t *secret, const tp_block *blocks,
		       unsigned nblocks)
{
	size_t n = begin(buf, cap, TP_FRAME_SETUP, 0, TP_SETUP_FIXED_LEN +
			 (size_t)nblocks * TP_SETUP_BLOCK_LEN);
	uint8_t *b = buf + TP_FRAME_HDR_SIZE, *bl;

	if (!n || strlen(vm_name) >= TP_NAME_MAX)
		return 0;
	tp_put32(b, DL_PAGE_SIZE);
	tp_put16(b + 4, nblocks);
	memcpy(b + 8, vm_name, strlen(vm_name));
	memcpy(b + 8 + TP_NAME_MAX, secret, DL_SECRET_SIZE);
	for (unsigned i = 0; i < nblocks; i++) {
		bl = b + TP_SETUP_FIXED_LEN + i * TP_SETUP_BLOCK_LEN;
		if (strlen(blocks[i].id) >= TP_NAME_MAX)
			return 0;
		memcpy(bl, blocks[i].id, strlen(blocks[i].id));
		tp_put64(bl + TP_NAME_MAX, blocks[i].size);
	}
	return n;
}

size_t tp_encode_have(uint8_t *buf, size_t cap, const dl_hash *hashes,
		      uint32_t count, bool last)
{
	size_t n = count > TP_MAX_HAVE_HASHES ? 0 :
		   begin(buf, cap, TP_FRAME_HAVE, last ? TP_FLAG_LAST : 0,
			 TP_HAVE_FIXED_LEN + 16ull * count);
	uint8_t *b = buf + TP_FRAME_HDR_SIZE;

	if (!n)
		return 0;
	tp_put32(b, count);
	for (uint32_t i = 0; i < count; i++)
		tp_put_hash(b + TP_HAVE_FIXED_LEN + 16 * i, hashes[i]);
	return n;
}

size_t tp_encode_round_end(uint8_t *buf, size_t cap, uint64_t round,
			   uint32_t epoch, uint16_t stream, uint64_t frames,
			   uint64_t pages)
{
	size_t n = begin(buf, cap, TP_FRAME_ROUND_END, 0, TP_ROUND_END_LEN);
	uint8_t *b = buf + TP_FRAME_HDR_SIZE;

	if (!n)
		return 0;
	tp_put64(b, round);
	tp_put32(b + 8, epoch);
	tp_put16(b + 12, stream);
	tp_put64(b + 16, frames);
	tp_put64(b + 24, pages);
	return n;
}

size_t tp_encode_devstate(uint8_t *buf, size_t cap, uint64_t offset,
			  const void *data, uint32_t len, bool last)
{
	size_t n = len > TP_MAX_DEVSTATE_CHUNK ? 0 :
		   begin(buf, cap, TP_FRAME_DEVSTATE, last ? TP_FLAG_LAST : 0,
			 TP_DEVSTATE_FIXED_LEN + (size_t)len);
	uint8_t *b = buf + TP_FRAME_HDR_SIZE;

	if (!n)
		return 0;
	tp_put64(b, offset);
	if (len)
		memcpy(b + TP_DEVSTATE_FIXED_LEN, data, len);
	return n;
}

size_t tp_encode_verify(uint8_t *buf, size_t cap, uint8_t level,
			uint64_t first, uint64_t span, const dl_hash *hashes,
			uint32_t count)
{
	size_t n = count > TP_MAX_VERIFY_HASHES ? 0 :
		   begin(buf, cap, TP_FRAME_VERIFY, 0,
			 TP_VERIFY_FIXED_LEN + 16ull * count);
	uint8_t *b = buf + TP_FRAME_HDR_SIZE;

	if (!n)
		return 0;
	b[0] = level;
	tp_put32(b + 4, count);
	tp_put64(b + 8, first);
	tp_put64(b + 16, span);
	for (uint32_t i = 0; i < count; i++)
		tp_put_hash(b + TP_VERIFY_FIXED_LEN + 16 * i, hashes[i]);
	return n;
}

size_t tp_encode_mismatch(uint8_t *buf, size_t cap, uint8_t reason,
			  uint64_t round, const uint64_t *pages, uint32_t count)
{
	size_t n = count > TP_MAX_MISMATCH_PAGES ? 0 :
		   begin(buf, cap, TP_FRAME_MISMATCH, 0,
			 TP_MISMATCH_FIXED_LEN + 8ull * count);
	uint8_t *b = buf + TP_FRAME_HDR_SIZE;

	if (!n)
		return 0;
	b[0] = reason;
	tp_put32(b + 4, count);
	tp_put64(b + 8, round);
	for (uint32_t i = 0; i < count; i++)
		tp_put64(b + TP_MISMATCH_FIXED_LEN + 8 * i, pages[i]);
	return n;
}

size_t tp_encode_commit(uint8_t *buf, size_t cap, uint64_t round)
{
	size_t n = begin(buf, cap, TP_FRAME_COMMIT, 0, TP_COMMIT_LEN);

	if (n)
		tp_put64(buf + TP_FRAME_HDR_SIZE, round);
	return n;
}

size_t tp_encode_abort(uint8_t *buf, size_t cap, uint32_t code,
		       const char *msg)
{
	size_t len = msg ? strnlen(msg, TP_MAX_ABORT_MSG) : 0;
	size_t n = begin(buf, cap, TP_FRAME_ABORT, 0, TP_ABORT_FIXED_LEN + len);
	uint8_t *b = buf + TP_FRAME_HDR_SIZE;

	if (!n)
		return 0;
	/* An over-long message is cut, not refused: an ABORT must go out. */
	tp_put32(b, code);
	tp_put16(b + 4, (uint16_t)len);
	if (len)
		memcpy(b + TP_ABORT_FIXED_LEN, msg, len);
	return n;
}

size_t tp_encode_ack(uint8_t *buf, size_t cap, uint16_t type, uint32_t code,
		     uint64_t seq, uint64_t arg0, uint64_t arg1)
{
	size_t n = begin(buf, cap, TP_FRAME_ACK, 0, TP_ACK_LEN);
	uint8_t *b = buf + TP_FRAME_HDR_SIZE;

	if (!n)
		return 0;
	tp_put16(b, type);
	tp_put32(b + 4, code);
	tp_put64(b + 8, seq);
	tp_put64(b + 16, arg0);
	tp_put64(b + 24, arg1);
	return n;
}

size_t tp_encode_ping(uint8_t *buf, size_t cap, uint64_t seq,
		      uint64_t time_ns)
{
	size_t n = begin(buf, cap, TP_FRAME_PING, 0, TP_PING_LEN);

	if (!n)
		return 0;
	tp_put64(buf + TP_FRAME_HDR_SIZE, seq);
	tp_put64(buf + TP_FRAME_HDR_SIZE + 8, time_ns);
	return n;
}

uint8_t *tp_pages_finish(uint8_t *payload, const uint64_t *entries,
			 uint32_t count, const uint8_t *refs, uint32_t nref,
			 uint32_t nfull, size_t *total)
{
	size_t head = TP_PAGES_FIXED_LEN + (size_t)count * TP_PAGE_ENTRY_LEN +
		      (size_t)nref * TP_PAGE_REF_LEN;
	size_t body = head + (size_t)nfull * DL_PAGE_SIZE;
	uint8_t *f = payload - head - TP_FRAME_HDR_SIZE;
	uint8_t *b = f + TP_FRAME_HDR_SIZE;

	tp_put16(f, TP_FRAME_PAGES);
	tp_put16(f + 2, 0);
	tp_put32(f + 4, (uint32_t)body);
	tp_put32(b, count);
	tp_put32(b + 4, nref);
	for (uint32_t i = 0; i < count; i++)
		tp_put64(b + TP_PAGES_FIXED_LEN + 8 * i, entries[i]);
	memcpy(b + TP_PAGES_FIXED_LEN + (size_t)count * TP_PAGE_ENTRY_LEN, refs,
	       (size_t)nref * TP_PAGE_REF_LEN);
	*total = TP_FRAME_HDR_SIZE + body;
	return f;
}
