/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The frame codec: every frame kind round-trips through its encoder and
 * the one validated decode path; a table of malformed frames each fails
 * with its own message (field and both values); guards on the enums.
 */
#include "tests/qmig_test.h"
#include "transport/internal.h"

#include <string.h>

#define NPAGES 16384
static const tp_limits lim = { .npages = NPAGES };
static uint8_t buf[TP_FRAME_HDR_SIZE + TP_PAGES_MAX_LEN];

static void decode_ok(size_t n, tp_frame *f, unsigned type)
{
	qm_error err = QM_ERROR_INIT;
	size_t used = 0;

	assert_true(n > 0);
	if (!tp_frame_decode(buf, n, &lim, f, &used, &err))
		fail_msg("%s: %s", tp_frame_name(type), err.msg);
	assert_int_equal(f->type, type);
	assert_int_equal(used, n);
}

/* ---- guards ---- */

/* The number of frame types, page kinds and abort codes is pinned: adding
 * one fails here and forces a look at the table, PROTOCOL.md and these
 * tests. Every type has a table row with a name and sane lengths. */
static void test_guards(void **state)
{
	assert_int_equal(TP_FRAME__COUNT, 14);
	assert_int_equal(TP_PAGE__COUNT, 5);
	assert_int_equal(TP_ABORT__COUNT, 8);
	assert_null(tp_frame_info_of(0));
	assert_null(tp_frame_info_of(TP_FRAME__COUNT));
	assert_string_equal(tp_frame_name(0), "INVALID");
	for (unsigned t = 1; t < TP_FRAME__COUNT; t++) {
		const tp_frame_info *fi = tp_frame_info_of(t);

		assert_non_null(fi);
		assert_true(fi->min_len <= fi->max_len);
		assert_true(fi->dir >= TP_DIR_S2D && fi->dir <= TP_DIR_BOTH);
		for (unsigned u = 1; u < t; u++)
			assert_string_not_equal(fi->name, tp_frame_name(u));
	}
	assert_string_equal(tp_frame_name(TP_FRAME_PAGES), "PAGES");
	assert_string_equal(tp_abort_name(TP_ABORT_AUTH), "auth");
	assert_string_equal(tp_abort_name(99), "unknown");
}

/* ---- round trips ---- */

/* HELLO, AUTH and SETUP carry every field through, byte order included. */
static void test_roundtrip_setup_frames(void **state)
{
	uint8_t id[16], nonce[32], mac[32], secret[DL_SECRET_SIZE];
	tp_block bl[2] = { { "ram0", 1 << 20 }, { "ram-1.node1", 8192 } };
	tp_frame f;

	for (int i = 0; i < 32; i++)
		nonce[i] = (uint8_t)(i * 7), mac[i] = (uint8_t)(255 - i);
	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)(0xa0 + i);
	for (int i = 0; i < DL_SECRET_SIZE; i++)
		secret[i] = (uint8_t)i;
	decode_ok(tp_encode_hello(buf, sizeof(buf), 3, 4, id, nonce), &f,
		  TP_FRAME_HELLO);
	assert_int_equal(f.u.hello.magic, TP_MAGIC);
	assert_int_equal(f.u.hello.ver_min, TP_PROTO_VERSION_MIN);
	assert_int_equal(f.u.hello.ver_max, TP_PROTO_VERSION);
	assert_int_equal(f.u.hello.stream, 3);
	assert_int_equal(f.u.hello.nstreams, 4);
	assert_memory_equal(f.u.hello.migration_id, id, 16);
	assert_memory_equal(f.u.hello.nonce, nonce, 32);
	/* Little-endian on the wire, whatever the host: type 1 = 01 00. */
	assert_int_equal(buf[0], 1);
	assert_int_equal(buf[1], 0);
	assert_memory_equal(buf + 8, "\x47\x49\x4d\x51", 4);

	decode_ok(tp_encode_auth(buf, sizeof(buf), 1, nonce, mac), &f,
		  TP_FRAME_AUTH);
	assert_int_equal(f.u.auth.version, 1);
	assert_memory_equal(f.u.auth.nonce, nonce, 32);
	assert_memory_equal(f.u.auth.mac, mac, 32);

	decode_ok(tp_encode_setup(buf, sizeof(buf), "vm-1", secret, bl, 2),
		  &f, TP_FRAME_SETUP);
	assert_int_equal(f.u.setup.page_size, DL_PAGE_SIZE);
	assert_int_equal(f.u.setup.nblocks, 2);
	assert_string_equal(f.u.setup.vm_name, "vm-1");
	assert_string_equal(f.u.setup.blocks[1].id, "ram-1.node1");
	assert_int_equal(f.u.setup.blocks[0].size, 1 << 20);
	assert_int_equal(f.u.setup.npages, 258);
	assert_memory_equal(f.u.setup.secret, secret, DL_SECRET_SIZE);
}

/* PAGES built in place by the sender decode to the same entries, refs and
 * payload; HAVE, VERIFY and MISMATCH lists come back in order. */
static void test_roundtrip_lists(void **state)
{
	uint64_t e[4] = { (uint64_t)TP_PAGE_FULL << 56 | 7,
			  (uint64_t)TP_PAGE_ZERO << 56 | 8,
			  (uint64_t)TP_PAGE_DUP << 56 | 9,
			  (uint64_t)TP_PAGE_HAVE << 56 | 10 };
	uint8_t refs[3 * TP_PAGE_REF_LEN], *payload = buf + TP_TX_PAYLOAD_OFF;
	dl_hash h[3] = { { 1, 2 }, { 3, 4 }, { UINT64_MAX, 0 } };
	uint64_t pages[3] = { 0, 5, NPAGES - 1 };
	const uint8_t *fr;
	size_t n;
	tp_frame f;

	/* One ref per FULL, DUP and HAVE entry, in entry order. */
	tp_put_hash(refs, h[2]);
	tp_put64(refs + 16, TP_NO_HINT);
	tp_put_hash(refs + 24, h[0]);
	tp_put64(refs + 40, 7);
	tp_put_hash(refs + 48, h[1]);
	tp_put64(refs + 64, TP_NO_HINT);
	memset(payload, 0xab, DL_PAGE_SIZE);
	fr = tp_pages_finish(payload, e, 4, refs, 3, 1, &n);
	assert_ptr_equal(fr + n, payload + DL_PAGE_SIZE);
	memmove(buf, fr, n);
	decode_ok(n, &f, TP_FRAME_PAGES);
	assert_int_equal(f.u.pages.count, 4);
	assert_int_equal(f.u.pages.nref, 3);
	assert_int_equal(f.u.pages.nfull, 1);
	assert_int_equal(tp_get64(f.u.pages.entries + 16), e[2]);
	assert_true(dl_hash_eq(tp_get_hash(f.u.pages.refs), h[2]));
	assert_true(dl_hash_eq(tp_get_hash(f.u.pages.refs + 48), h[1]));
	assert_int_equal(f.u.pages.payload[4095], 0xab);

	decode_ok(tp_encode_have(buf, sizeof(buf), h, 3, true), &f,
		  TP_FRAME_HAVE);
	assert_int_equal(f.flags, TP_FLAG_LAST);
	assert_int_equal(f.u.have.count, 3);
	assert_true(dl_hash_eq(tp_get_hash(f.u.have.hashes + 32), h[2]));

	decode_ok(tp_encode_verify(buf, sizeof(buf), TP_VERIFY_CHUNK, 512, 512,
				   h, 3), &f, TP_FRAME_VERIFY);
	assert_int_equal(f.u.verify.level, TP_VERIFY_CHUNK);
	assert_int_equal(f.u.verify.first, 512);
	assert_int_equal(f.u.verify.span, 512);
	assert_true(dl_hash_eq(tp_get_hash(f.u.verify.hashes + 16), h[1]));

	decode_ok(tp_encode_mismatch(buf, sizeof(buf), TP_MISMATCH_RESEND, 9,
				     pages, 3), &f, TP_FRAME_MISMATCH);
	assert_int_equal(f.u.mismatch.reason, TP_MISMATCH_RESEND);
	assert_int_equal(f.u.mismatch.round, 9);
	assert_int_equal(tp_get64(f.u.mismatch.pages + 16), NPAGES - 1);
}

/* The small frames: every field comes back. */
static void test_roundtrip_small(void **state)
{
	tp_frame f;

	decode_ok(tp_encode_round_end(buf, sizeof(buf), 5, 6, 3, 100, 25600),
		  &f, TP_FRAME_ROUND_END);
	assert_int_equal(f.u.round_end.round, 5);
	assert_int_equal(f.u.round_end.epoch, 6);
	assert_int_equal(f.u.round_end.stream, 3);
	assert_int_equal(f.u.round_end.frames, 100);
	assert_int_equal(f.u.round_end.pages, 25600);
	decode_ok(tp_encode_devstate(buf, sizeof(buf), 1ull << 40, "qemu", 4,
				     true), &f, TP_FRAME_DEVSTATE);
	assert_int_equal(f.u.devstate.offset, 1ull << 40);
	assert_int_equal(f.u.devstate.len, 4);
	assert_memory_equal(f.u.devstate.data, "qemu", 4);
	decode_ok(tp_encode_commit(buf, sizeof(buf), 77), &f, TP_FRAME_COMMIT);
	assert_int_equal(f.u.commit.round, 77);
	decode_ok(tp_encode_abort(buf, sizeof(buf), TP_ABORT_VERIFY, "bad"),
		  &f, TP_FRAME_ABORT);
	assert_int_equal(f.u.abort.code, TP_ABORT_VERIFY);
	assert_int_equal(f.u.abort.msg_len, 3);
	assert_memory_equal(f.u.abort.msg, "bad", 3);
	decode_ok(tp_encode_ack(buf, sizeof(buf), TP_FRAME_COMMIT, 0, 1, 2, 3),
		  &f, TP_FRAME_ACK);
	assert_int_equal(f.u.ack.type, TP_FRAME_COMMIT);
	assert_int_equal(f.u.ack.seq, 1);
	assert_int_equal(f.u.ack.arg0, 2);
	assert_int_equal(f.u.ack.arg1, 3);
	decode_ok(tp_encode_ping(buf, sizeof(buf), 9, 123456789), &f,
		  TP_FRAME_PING);
	assert_int_equal(f.u.ping.seq, 9);
	assert_int_equal(f.u.ping.time_ns, 123456789);
	/* Encoders refuse what the limits forbid. */
	assert_int_equal(tp_encode_have(buf, sizeof(buf), NULL,
					TP_MAX_HAVE_HASHES + 1, false), 0);
	assert_int_equal(tp_encode_ping(buf, 10, 1, 1), 0);
}

/* ---- malformed frames ---- */

static size_t hdr(unsigned type, unsigned flags, uint32_t len)
{
	tp_put16(buf, type);
	tp_put16(buf + 2, flags);
	tp_put32(buf + 4, len);
	memset(buf + 8, 0, len < 65536 ? len : 65536);
	return TP_FRAME_HDR_SIZE + (len < 65536 ? len : 0);
}

static size_t m_trunc_hdr(void) { hdr(1, 0, 64); return 5; }
static size_t m_type_zero(void) { return hdr(0, 0, 0); }
static size_t m_type_unknown(void) { return hdr(99, 0, 0); }
static size_t m_too_long(void) { return hdr(TP_FRAME_PING, 0, 17); }
static size_t m_too_short(void) { return hdr(TP_FRAME_HELLO, 0, 10); }
static size_t m_pages_huge(void) { return hdr(TP_FRAME_PAGES, 0, 1u << 30); }
static size_t m_flags(void) { return hdr(TP_FRAME_PING, 1, 16); }
static size_t m_trunc_body(void) { return hdr(TP_FRAME_COMMIT, 0, 8) - 4; }

static size_t m_have_count(void)
{
	size_t n = hdr(TP_FRAME_HAVE, 0, 8);

	tp_put32(buf + 8, 5000);
	return n;
}

static size_t m_have_len(void)
{
	size_t n = hdr(TP_FRAME_HAVE, 0, 24);

	tp_put32(buf + 8, 2);
	return n;
}

/* A PAGES frame of one entry (and one ref if @ref) at page @page. */
static size_t pages1(unsigned kind, uint64_t page, uint64_t hint, bool ref,
		     uint32_t nfull)
{
	size_t body = 8 + 8 + (ref ? 24 : 0) + nfull * DL_PAGE_SIZE;
	size_t n = hdr(TP_FRAME_PAGES, 0, (uint32_t)body);

	tp_put32(buf + 8, 1);
	tp_put32(buf + 12, ref);
	tp_put64(buf + 16, (uint64_t)kind << 56 | page);
	if (ref)
		tp_put64(buf + 24 + 16, hint);
	return n;
}

static size_t m_pages_count(void)
{
	size_t n = hdr(TP_FRAME_PAGES, 0, 16);

	tp_put32(buf + 8, 5000);
	return n;
}

/* 280 FULL entries with their refs and exactly their payload: within the
 * body maximum, over the FULL-page limit (the receiver's iovecs). */
static size_t m_pages_full(void)
{
	uint32_t body = 8 + 280 * (8 + 24) + 280 * DL_PAGE_SIZE;
	uint8_t *refs = buf + 16 + 280 * 8;

	hdr(TP_FRAME_PAGES, 0, body);
	memset(buf + 8, 0, body);
	tp_put32(buf + 8, 280);
	tp_put32(buf + 12, 280);
	for (uint64_t i = 0; i < 280; i++) {
		tp_put64(buf + 16 + 8 * i, (uint64_t)TP_PAGE_FULL << 56 | i);
		tp_put64(refs + 24 * i + 16, TP_NO_HINT);
	}
	return TP_FRAME_HDR_SIZE + body;
}

static size_t m_pages_index(void) { return pages1(TP_PAGE_ZERO, NPAGES, 0, false, 0); }
static size_t m_pages_kind(void) { return pages1(9, 1, 0, false, 0); }
static size_t m_pages_hint(void) { return pages1(TP_PAGE_DUP, 1, 99999, true, 0); }
static size_t m_pages_have_hint(void) { return pages1(TP_PAGE_HAVE, 1, 5, true, 0); }
static size_t m_pages_payload(void) { return pages1(TP_PAGE_FULL, 1, TP_NO_HINT, true, 2); }
static size_t m_pages_full_noref(void) { return pages1(TP_PAGE_FULL, 1, 0, false, 1); }
static size_t m_pages_full_hint(void) { return pages1(TP_PAGE_FULL, 1, 1, true, 1); }

static size_t m_pages_refs(void)
{
	size_t n = pages1(TP_PAGE_ZERO, 1, 0, true, 0);

	return n;
}

static size_t m_mismatch_page(void)
{
	size_t n = hdr(TP_FRAME_MISMATCH, 0, 16 + 8);

	buf[8] = TP_MISMATCH_VERIFY;
	tp_put32(buf + 12, 1);
	tp_put64(buf + 24, 20000);
	return n;
}

static size_t m_verify_range(void)
{
	size_t n = hdr(TP_FRAME_VERIFY, 0, 24 + 32);

	buf[8] = TP_VERIFY_CHUNK;
	tp_put32(buf + 12, 2);
	tp_put64(buf + 16, NPAGES - 512);
	tp_put64(buf + 24, 512);
	return n;
}

static size_t m_magic(void)
{
	size_t n = hdr(TP_FRAME_HELLO, 0, TP_HELLO_LEN);

	tp_put32(buf + 8, 0x12345678);
	return n;
}

static size_t m_hello_stream(void)
{
	uint8_t z[32] = { 0 };
	size_t n = tp_encode_hello(buf, sizeof(buf), 4, 4, z, z);

	return n;
}

static size_t m_setup_id(void)
{
	uint8_t secret[DL_SECRET_SIZE] = { 0 };
	tp_block bl = { "a/b", 4096 };

	return tp_encode_setup(buf, sizeof(buf), "vm", secret, &bl, 1);
}

static size_t m_setup_size(void)
{
	uint8_t secret[DL_SECRET_SIZE] = { 0 };
	tp_block bl = { "ram0", 4097 };

	return tp_encode_setup(buf, sizeof(buf), "vm", secret, &bl, 1);
}

static size_t m_abort_len(void)
{
	size_t n = hdr(TP_FRAME_ABORT, 0, 8 + 5);

	tp_put16(buf + 12, 10);
	return n;
}

static size_t m_ack_type(void)
{
	size_t n = hdr(TP_FRAME_ACK, 0, 32);

	tp_put16(buf + 8, 77);
	return n;
}

typedef struct bad_case {
	const char *what;
	size_t (*make)(void);
	qm_errcode code;
	const char *msg;
} bad_case;

static const bad_case bad[] = {
	{ "truncated header", m_trunc_hdr, QM_ERR_PROTO,
	  "frame header truncated: 5 of 8 bytes" },
	{ "type 0", m_type_zero, QM_ERR_PROTO,
	  "frame type 0 unknown (valid 1..13)" },
	{ "unknown type", m_type_unknown, QM_ERR_PROTO,
	  "frame type 99 unknown (valid 1..13)" },
	{ "body too long", m_too_long, QM_ERR_TOO_BIG,
	  "frame PING: body 17 bytes exceeds maximum 16" },
	{ "PAGES 1 GiB", m_pages_huge, QM_ERR_TOO_BIG,
	  "frame PAGES: body 1073741824 bytes exceeds maximum 1179656" },
	{ "body too short", m_too_short, QM_ERR_PROTO,
	  "frame HELLO: body 10 bytes below minimum 64" },
	{ "flags", m_flags, QM_ERR_PROTO,
	  "frame PING: flags 0x1 not allowed (allowed 0x0)" },
	{ "truncated body", m_trunc_body, QM_ERR_PROTO,
	  "frame COMMIT: body truncated, 4 of 8 bytes" },
	{ "HAVE count", m_have_count, QM_ERR_TOO_BIG,
	  "frame HAVE: count 5000 exceeds limit 4096" },
	{ "HAVE length", m_have_len, QM_ERR_PROTO,
	  "frame HAVE: body 24 bytes, expected 40 for count 2" },
	{ "PAGES count", m_pages_count, QM_ERR_TOO_BIG,
	  "frame PAGES: count 5000 exceeds limit 4096" },
	{ "PAGES full", m_pages_full, QM_ERR_TOO_BIG,
	  "frame PAGES: full pages 280 exceeds limit 256" },
	{ "page index", m_pages_index, QM_ERR_PROTO,
	  "frame PAGES: page 16384 out of range (RAM has 16384 pages)" },
	{ "entry kind", m_pages_kind, QM_ERR_PROTO,
	  "frame PAGES: entry kind 9 unknown (valid 1..4)" },
	{ "DUP hint", m_pages_hint, QM_ERR_PROTO,
	  "frame PAGES: DUP hint 99999 out of range (RAM has 16384 pages)" },
	{ "HAVE hint", m_pages_have_hint, QM_ERR_PROTO,
	  "frame PAGES: HAVE ref hint 5, expected none" },
	{ "refs", m_pages_refs, QM_ERR_PROTO,
	  "frame PAGES: refs 1, but 0 FULL/DUP/HAVE entries" },
	{ "FULL without its hash", m_pages_full_noref, QM_ERR_PROTO,
	  "frame PAGES: more FULL/DUP/HAVE entries than refs 0" },
	{ "FULL hint", m_pages_full_hint, QM_ERR_PROTO,
	  "frame PAGES: FULL ref hint 1, expected none" },
	{ "payload", m_pages_payload, QM_ERR_PROTO,
	  "frame PAGES: body 8232 bytes, expected 4136 for full pages 1" },
	{ "MISMATCH page", m_mismatch_page, QM_ERR_PROTO,
	  "frame MISMATCH: page 20000 out of range (RAM has 16384 pages)" },
	{ "VERIFY range", m_verify_range, QM_ERR_PROTO,
	  "frame VERIFY: pages from 15872, 2 x 512, out of range (RAM has "
	  "16384 pages)" },
	{ "bad magic", m_magic, QM_ERR_PROTO,
	  "frame HELLO: magic 0x12345678, expected 0x514d4947" },
	{ "HELLO stream", m_hello_stream, QM_ERR_PROTO,
	  "frame HELLO: stream 4 not below streams 4" },
	{ "SETUP id", m_setup_id, QM_ERR_PROTO,
	  "frame SETUP: block id 'a/b' has character 0x2f at 1 (allowed "
	  "[A-Za-z0-9._-])" },
	{ "SETUP size", m_setup_size, QM_ERR_PROTO,
	  "frame SETUP: block ram0 size 4097 is not a non-zero multiple of "
	  "4096" },
	{ "ABORT length", m_abort_len, QM_ERR_PROTO,
	  "frame ABORT: body 13 bytes, expected 18 for message length 10" },
	{ "ACK type", m_ack_type, QM_ERR_PROTO,
	  "frame ACK: acknowledged type 77 unknown (valid 1..13)" },
};

/* Each malformed frame is refused by the decoder with its own message and
 * code, never an assert, never a read past the buffer (ASan build). */
static void test_malformed(void **state)
{
	for (size_t i = 0; i < QM_ARRAY_SIZE(bad); i++) {
		qm_error err = QM_ERROR_INIT;
		tp_frame f;
		size_t n = bad[i].make();

		assert_true(n > 0);
		if (tp_frame_decode(buf, n, &lim, &f, NULL, &err))
			fail_msg("%s: decoded", bad[i].what);
		if (strcmp(err.msg, bad[i].msg) || err.code != bad[i].code)
			fail_msg("%s: got [%s] (%s), want [%s] (%s)",
				 bad[i].what, err.msg,
				 qm_errcode_name(err.code), bad[i].msg,
				 qm_errcode_name(bad[i].code));
	}
}

/* The handshake's HELLO checks: no common version, and a second stream
 * naming another migration, each with its message. */
static void test_hello_checks(void **state)
{
	uint8_t id[16], other[16], z[32] = { 0 };
	qm_error err = QM_ERROR_INIT;
	uint16_t ver = 0;
	tp_frame f;

	memset(id, 0x5a, sizeof(id));
	memset(other, 0x01, sizeof(other));
	decode_ok(tp_encode_hello(buf, sizeof(buf), 1, 2, other, z), &f,
		  TP_FRAME_HELLO);
	assert_true(tp_hello_check(&f, other, &ver, NULL));
	assert_int_equal(ver, TP_PROTO_VERSION);
	assert_false(tp_hello_check(&f, id, &ver, &err));
	assert_string_equal(err.msg, "HELLO on stream 1: migration id "
			    "01010101010101010101010101010101, expected "
			    "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a");
	f.u.hello.ver_min = 3;
	f.u.hello.ver_max = 4;
	qm_error_clear(&err);
	assert_false(tp_hello_check(&f, NULL, &ver, &err));
	assert_int_equal(err.code, QM_ERR_UNSUPPORTED);
	assert_string_equal(err.msg, "HELLO: versions 3..4, this side speaks "
			    "2..2");
	/* Version 1 (FULL entries without their hash) is refused. */
	f.u.hello.ver_min = 1;
	f.u.hello.ver_max = 1;
	qm_error_clear(&err);
	assert_false(tp_hello_check(&f, NULL, &ver, &err));
	assert_string_equal(err.msg, "HELLO: versions 1..1, this side speaks "
			    "2..2");
}

/* The MACs depend on the key, the direction and the receiver's nonce: a
 * different one of any gives a different proof. */
static void test_auth_mac(void **state)
{
	uint8_t hello[TP_HELLO_LEN] = { 1 }, n1[32] = { 2 }, n2[32] = { 3 };
	uint8_t a[32], b[32];
	const uint8_t *k1 = (const uint8_t *)"0123456789abcdef";
	const uint8_t *k2 = (const uint8_t *)"0123456789abcdeg";

	assert_true(tp_auth_mac(k1, 16, true, hello, n1, a, NULL));
	assert_true(tp_auth_mac(k1, 16, true, hello, n1, b, NULL));
	assert_true(tp_auth_equal(a, b));
	assert_true(tp_auth_mac(k2, 16, true, hello, n1, b, NULL));
	assert_false(tp_auth_equal(a, b));
	assert_true(tp_auth_mac(k1, 16, false, hello, n1, b, NULL));
	assert_false(tp_auth_equal(a, b));
	assert_true(tp_auth_mac(k1, 16, true, hello, n2, b, NULL));
	assert_false(tp_auth_equal(a, b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guards),
		cmocka_unit_test(test_roundtrip_setup_frames),
		cmocka_unit_test(test_roundtrip_lists),
		cmocka_unit_test(test_roundtrip_small),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_hello_checks),
		cmocka_unit_test(test_auth_mac),
	};

	return cmocka_run_group_tests_name("/transport/frame", tests, NULL,
					   NULL);
}
