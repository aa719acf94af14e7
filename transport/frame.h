/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * transport internal: the frame codec. Every integer on the wire is
 * little-endian and is written and read byte by byte here; no host struct
 * ever goes on the wire. Layouts are in docs/PROTOCOL.md.
 *
 * One validated decode path:
 *   tp_frame_check_header()   type known, flags allowed, length within the
 *                             type's [min, max] from the frame table
 *   tp_frame_decode_body()    per-type decoder: every count against its
 *                             limit, the exact body length for the counts,
 *                             every page index against the RAM size agreed
 *                             in SETUP (tp_limits)
 *   tp_frame_decode()         both, over one buffer (tests, fuzzing)
 * The stream receiver runs the same functions; for PAGES it reads the
 * counts and the entry table first (tp_pages_check_counts(),
 * tp_pages_decode_head()), so it knows where each payload page goes before
 * it reads the payload straight into guest RAM.
 *
 * Decoded frames point into the buffer they were decoded from; arrays stay
 * in wire form and are read with the tp_get_* helpers.
 */
#ifndef QMIG_TRANSPORT_FRAME_H
#define QMIG_TRANSPORT_FRAME_H

#include "transport/transport.h"

/* ---- little-endian helpers ---- */

static inline void tp_put16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static inline void tp_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static inline void tp_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

static inline uint16_t tp_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t tp_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t tp_get64(const uint8_t *p)
{
	return (uint64_t)tp_get32(p) | (uint64_t)tp_get32(p + 4) << 32;
}

static inline void tp_put_hash(uint8_t *p, dl_hash h)
{
	tp_put64(p, h.lo);
	tp_put64(p + 8, h.hi);
}

static inline dl_hash tp_get_hash(const uint8_t *p)
{
	return (dl_hash){ .lo = tp_get64(p), .hi = tp_get64(p + 8) };
}

/* ---- sizes ---- */

#define TP_HELLO_LEN		64
#define TP_AUTH_LEN		72
#define TP_SETUP_FIXED_LEN	(8 + TP_NAME_MAX + DL_SECRET_SIZE)
#define TP_SETUP_BLOCK_LEN	(TP_NAME_MAX + 8)
#define TP_HAVE_FIXED_LEN	8
#define TP_PAGES_FIXED_LEN	8
#define TP_PAGE_ENTRY_LEN	8	/* u64: kind << 56 | page */
#define TP_PAGE_REF_LEN		24	/* hash lo, hash hi, hint */
#define TP_ROUND_END_LEN	32
#define TP_DEVSTATE_FIXED_LEN	8
#define TP_VERIFY_FIXED_LEN	24
#define TP_MISMATCH_FIXED_LEN	16
#define TP_COMMIT_LEN		8
#define TP_ABORT_FIXED_LEN	8
#define TP_ACK_LEN		32
#define TP_PING_LEN		16

#define TP_PAGE_INDEX_MASK	((1ull << 56) - 1)
#define TP_NO_HINT		UINT64_MAX	/* ref hint of a HAVE entry */
/* Largest head (counts + entries + refs) of a PAGES frame. */
#define TP_PAGES_HEAD_MAX	(TP_PAGES_FIXED_LEN + \
				 TP_MAX_FRAME_ENTRIES * \
				 (TP_PAGE_ENTRY_LEN + TP_PAGE_REF_LEN))
#define TP_PAGES_MAX_LEN	(TP_PAGES_HEAD_MAX + \
				 TP_MAX_FRAME_PAGES * DL_PAGE_SIZE)
/* Largest body of any frame other than PAGES (DEVSTATE). */
#define TP_CTRL_MAX_LEN		(TP_DEVSTATE_FIXED_LEN + TP_MAX_DEVSTATE_CHUNK)

/* ---- the frame table ---- */

enum { TP_DIR_S2D = 1, TP_DIR_D2S = 2, TP_DIR_BOTH = 3 };

typedef struct tp_frame_info {
	const char *name;
	uint32_t min_len, max_len;	/* body bytes */
	uint16_t flags_ok;		/* flags allowed for this type */
	uint8_t dir;			/* TP_DIR_* */
} tp_frame_info;

/* Entry for @type, NULL if unknown (0 or >= TP_FRAME__COUNT). */
const tp_frame_info *tp_frame_info_of(unsigned type);

/* Limits agreed in SETUP that bodies are checked against. */
typedef struct tp_limits {
	uint64_t npages;	/* pages of RAM; 0 before SETUP */
} tp_limits;

/* ---- decoded bodies ---- */

typedef struct tp_block {
	char id[TP_NAME_MAX];
	uint64_t size;		/* bytes */
} tp_block;

typedef struct tp_frame {
	uint16_t type, flags;
	uint32_t len;		/* body bytes */
	union {
		struct {
			uint32_t magic;
			uint16_t ver_min, ver_max, stream, nstreams;
			const uint8_t *migration_id;	/* 16 bytes */
			const uint8_t *nonce;		/* 32 bytes */
		} hello;
		struct {
			uint16_t version;
			const uint8_t *nonce;		/* 32 bytes */
			const uint8_t *mac;		/* 32 bytes */
		} auth;
		struct {
			uint32_t page_size;
			uint16_t nblocks;
			char vm_name[TP_NAME_MAX];
			const uint8_t *secret;		/* DL_SECRET_SIZE */
			tp_block blocks[TP_MAX_BLOCKS];
			uint64_t npages;		/* sum over blocks */
		} setup;
		struct {
			uint32_t count;
			const uint8_t *hashes;		/* count x 16 */
		} have;
		struct {
			uint32_t count, nref, nfull;
			const uint8_t *entries;		/* count x 8 */
			const uint8_t *refs;		/* nref x 24 */
			const uint8_t *payload;		/* nfull x 4096 */
		} pages;
		struct {
			uint64_t round, frames, pages;
			uint32_t epoch;
			uint16_t stream;
		} round_end;
		struct {
			uint64_t offset;
			const uint8_t *data;
			uint32_t len;
		} devstate;
		struct {
			uint8_t level;
			uint32_t count;
			uint64_t first, span;
			const uint8_t *hashes;		/* count x 16 */
		} verify;
		struct {
			uint8_t reason;
			uint32_t count;
			uint64_t round;
			const uint8_t *pages;		/* count x 8 */
		} mismatch;
		struct {
			uint64_t round;
		} commit;
		struct {
			uint32_t code;
			uint16_t msg_len;
			const uint8_t *msg;		/* not NUL-terminated */
		} abort;
		struct {
			uint16_t type;
			uint32_t code;
			uint64_t seq, arg0, arg1;
		} ack;
		struct {
			uint64_t seq, time_ns;
		} ping;
	} u;
} tp_frame;

/* ---- decoding ---- */

/*
 * tp_frame_check_header: parse the 8-byte header at @hdr into @f (type,
 * flags, len) and check it against the frame table. @avail is how many
 * bytes the caller has (fewer than 8 is "truncated").
 */
bool tp_frame_check_header(const uint8_t *hdr, size_t avail, tp_frame *f,
			   qm_error *err);
/*
 * tp_frame_decode_body: decode @f->len bytes at @body for the type in @f
 * (header already checked) into @f->u, checking counts, the exact length
 * and page indices against @lim.
 */
bool tp_frame_decode_body(tp_frame *f, const uint8_t *body,
			  const tp_limits *lim, qm_error *err);
/* Both steps over one buffer holding at least one frame; *@used = its size. */
bool tp_frame_decode(const uint8_t *buf, size_t len, const tp_limits *lim,
		     tp_frame *f, size_t *used, qm_error *err);

/* PAGES in two steps: the 8-byte counts (count, nref), then the head. */
bool tp_pages_check_counts(tp_frame *f, const uint8_t *counts, qm_error *err);
/* Bytes of the head (counts + entries + refs) for f's counts. */
static inline size_t tp_pages_head_len(const tp_frame *f)
{
	return TP_PAGES_FIXED_LEN + (size_t)f->u.pages.count *
	       TP_PAGE_ENTRY_LEN + (size_t)f->u.pages.nref * TP_PAGE_REF_LEN;
}
/* Check every entry and ref of the head at @head (tp_pages_head_len()
 * bytes, counts included); sets nfull and checks the body length. */
bool tp_pages_decode_head(tp_frame *f, const uint8_t *head,
			  const tp_limits *lim, qm_error *err);

static inline tp_page_kind tp_entry_kind(uint64_t e)
{
	return (tp_page_kind)(e >> 56);
}

static inline uint64_t tp_entry_page(uint64_t e)
{
	return e & TP_PAGE_INDEX_MASK;
}

/* ---- encoding ----
 * Each writes header + body at @buf (capacity @cap) and returns the frame
 * size, or 0 if @cap is too small or an argument is over its limit. */

size_t tp_encode_hello(uint8_t *buf, size_t cap, uint16_t stream,
		       uint16_t nstreams, const uint8_t *migration_id,
		       const uint8_t *nonce);
size_t tp_encode_auth(uint8_t *buf, size_t cap, uint16_t version,
		      const uint8_t *nonce, const uint8_t *mac);
size_t tp_encode_setup(uint8_t *buf, size_t cap, const char *vm_name,
		       const uint8_t *secret, const tp_block *blocks,
		       unsigned nblocks);
size_t tp_encode_have(uint8_t *buf, size_t cap, const dl_hash *hashes,
		      uint32_t n, bool last);
size_t tp_encode_round_end(uint8_t *buf, size_t cap, uint64_t round,
			   uint32_t epoch, uint16_t stream, uint64_t frames,
			   uint64_t pages);
size_t tp_encode_devstate(uint8_t *buf, size_t cap, uint64_t offset,
			  const void *data, uint32_t len, bool last);
size_t tp_encode_verify(uint8_t *buf, size_t cap, uint8_t level,
			uint64_t first, uint64_t span, const dl_hash *hashes,
			uint32_t n);
size_t tp_encode_mismatch(uint8_t *buf, size_t cap, uint8_t reason,
			  uint64_t round, const uint64_t *pages, uint32_t n);
size_t tp_encode_commit(uint8_t *buf, size_t cap, uint64_t round);
size_t tp_encode_abort(uint8_t *buf, size_t cap, uint32_t code,
		       const char *msg);
size_t tp_encode_ack(uint8_t *buf, size_t cap, uint16_t type, uint32_t code,
		     uint64_t seq, uint64_t arg0, uint64_t arg1);
size_t tp_encode_ping(uint8_t *buf, size_t cap, uint64_t seq,
		      uint64_t time_ns);

/*
 * PAGES are built in place by the sender: tp_pages_finish() writes the
 * header, counts, entries and refs so that they end exactly at @payload
 * (the caller leaves TP_FRAME_HDR_SIZE + TP_PAGES_HEAD_MAX bytes before
 * it) and returns the frame's first byte; *@total = frame size.
 */
uint8_t *tp_pages_finish(uint8_t *payload, const uint64_t *entries,
			 uint32_t count, const uint8_t *refs, uint32_t nref,
			 uint32_t nfull, size_t *total);

/* Size of an encoded frame of each fixed size, for buffers. */
#define TP_FRAME_MAX_CTRL	(TP_FRAME_HDR_SIZE + TP_CTRL_MAX_LEN)

#endif /* QMIG_TRANSPORT_FRAME_H */
