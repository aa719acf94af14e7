/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The frame table and the one validated decode path (see frame.h), plus
 * the encoders. Error messages name the frame, the field and both values.
 */
#include "transport/internal.h"

#include <string.h>

#define E(n) TP_FRAME_##n
#define ROW(t, mn, mx, fl, d) [E(t)] = { #t, (mn), (mx), (fl), (d) }

static const tp_frame_info frame_table[TP_FRAME__COUNT] = {
	ROW(HELLO, TP_HELLO_LEN, TP_HELLO_LEN, 0, TP_DIR_S2D),
	ROW(AUTH, TP_AUTH_LEN, TP_AUTH_LEN, 0, TP_DIR_BOTH),
	ROW(SETUP, TP_SETUP_FIXED_LEN + TP_SETUP_BLOCK_LEN,
	    TP_SETUP_FIXED_LEN + TP_MAX_BLOCKS * TP_SETUP_BLOCK_LEN, 0,
	    TP_DIR_S2D),
	ROW(HAVE, TP_HAVE_FIXED_LEN,
	    TP_HAVE_FIXED_LEN + TP_MAX_HAVE_HASHES * 16, TP_FLAG_LAST,
	    TP_DIR_D2S),
	ROW(PAGES, TP_PAGES_FIXED_LEN + TP_PAGE_ENTRY_LEN, TP_PAGES_MAX_LEN, 0,
	    TP_DIR_S2D),
	ROW(ROUND_END, TP_ROUND_END_LEN, TP_ROUND_END_LEN, 0, TP_DIR_S2D),
	ROW(DEVSTATE, TP_DEVSTATE_FIXED_LEN, TP_CTRL_MAX_LEN, TP_FLAG_LAST,
	    TP_DIR_S2D),
	ROW(VERIFY, TP_VERIFY_FIXED_LEN,
	    TP_VERIFY_FIXED_LEN + TP_MAX_VERIFY_HASHES * 16, 0, TP_DIR_BOTH),
	ROW(MISMATCH, TP_MISMATCH_FIXED_LEN,
	    TP_MISMATCH_FIXED_LEN + TP_MAX_MISMATCH_PAGES * 8, 0, TP_DIR_BOTH),
	ROW(COMMIT, TP_COMMIT_LEN, TP_COMMIT_LEN, 0, TP_DIR_S2D),
	ROW(ABORT, TP_ABORT_FIXED_LEN, TP_ABORT_FIXED_LEN + TP_MAX_ABORT_MSG, 0,
	    TP_DIR_BOTH),
	ROW(ACK, TP_ACK_LEN, TP_ACK_LEN, 0, TP_DIR_BOTH),
	ROW(PING, TP_PING_LEN, TP_PING_LEN, 0, TP_DIR_S2D),
};

_Static_assert(TP_CTRL_MAX_LEN >= TP_SETUP_FIXED_LEN +
	       TP_MAX_BLOCKS * TP_SETUP_BLOCK_LEN &&
	       TP_CTRL_MAX_LEN >= TP_MISMATCH_FIXED_LEN +
	       TP_MAX_MISMATCH_PAGES * 8 &&
	       TP_CTRL_MAX_LEN >= TP_HAVE_FIXED_LEN + TP_MAX_HAVE_HASHES * 16,
	       "DEVSTATE must be the largest non-PAGES body");

/* Streams read header + 8 body bytes at once (internal.h TP_RX_FIRST). */
_Static_assert(TP_HAVE_FIXED_LEN >= 8 && TP_DEVSTATE_FIXED_LEN >= 8 &&
	       TP_ABORT_FIXED_LEN >= 8 && TP_COMMIT_LEN >= 8 &&
	       TP_PAGES_FIXED_LEN + TP_PAGE_ENTRY_LEN >= 8,
	       "every body is at least 8 bytes");

static const char *const abort_names[TP_ABORT__COUNT] = {
	"none", "cancelled", "protocol", "auth", "setup", "io", "verify",
	"engine",
};

const tp_frame_info *tp_frame_info_of(unsigned type)
{
	if (type == 0 || type >= TP_FRAME__COUNT)
		return NULL;
	return &frame_table[type];
}

const char *tp_frame_name(unsigned type)
{
	const tp_frame_info *fi = tp_frame_info_of(type);

	return fi ? fi->name : "INVALID";
}

const char *tp_abort_name(unsigned code)
{
	return code < TP_ABORT__COUNT ? abort_names[code] : "unknown";
}

bool tp_frame_check_header(const uint8_t *hdr, size_t avail, tp_frame *f,
			   qm_error *err)
{
	const tp_frame_info *fi;

	if (avail < TP_FRAME_HDR_SIZE)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame header truncated: %zu of %d bytes",
				    avail, TP_FRAME_HDR_SIZE);
	memset(f, 0, sizeof(*f));
	f->type = tp_get16(hdr);
	f->flags = tp_get16(hdr + 2);
	f->len = tp_get32(hdr + 4);
	fi = tp_frame_info_of(f->type);
	if (!fi)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame type %u unknown (valid 1..%d)",
				    f->type, TP_FRAME__COUNT - 1);
	if (f->flags & ~fi->flags_ok)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame %s: flags 0x%x not allowed "
				    "(allowed 0x%x)", fi->name, f->flags,
				    fi->flags_ok);
	if (f->len > fi->max_len)
		return qm_error_set(err, QM_ERR_TOO_BIG,
				    "frame %s: body %u bytes exceeds maximum %u",
				    fi->name, f->len, fi->max_len);
	if (f->len < fi->min_len)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame %s: body %u bytes below minimum %u",
				    fi->name, f->len, fi->min_len);
	return true;
}

/* The exact-length check every variable-size decoder ends with. */
static bool check_len(const tp_frame *f, uint64_t want, const char *what,
		      uint64_t count, qm_error *err)
{
	if (f->len != want)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame %s: body %u bytes, expected %llu "
				    "for %s %llu", tp_frame_name(f->type),
				    f->len, (unsigned long long)want, what,
				    (unsigned long long)count);
	return true;
}

static bool check_count(const tp_frame *f, const char *what, uint64_t n,
			uint64_t max, qm_error *err)
{
	if (n > max)
		return qm_error_set(err, QM_ERR_TOO_BIG,
				    "frame %s: %s %llu exceeds limit %llu",
				    tp_frame_name(f->type), what,
				    (unsigned long long)n,
				    (unsigned long long)max);
	return true;
}

static bool check_page(const tp_frame *f, const char *what, uint64_t page,
		       const tp_limits *lim, qm_error *err)
{
	if (page >= lim->npages)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame %s: %s %llu out of range (RAM has "
				    "%llu pages)", tp_frame_name(f->type), what,
				    (unsigned long long)page,
				    (unsigned long long)lim->npages);
	return true;
}

static bool decode_hello(tp_frame *f, const uint8_t *b, qm_error *err)
{
	f->u.hello.magic = tp_get32(b);
	f->u.hello.ver_min = tp_get16(b + 4);
	f->u.hello.ver_max = tp_get16(b + 6);
	f->u.hello.stream = tp_get16(b + 8);
	f->u.hello.nstreams = tp_get16(b + 10);
	f->u.hello.migration_id = b + 16;
	f->u.hello.nonce = b + 32;
	if (f->u.hello.magic != TP_MAGIC)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame HELLO: magic 0x%08x, expected 0x%08x",
				    f->u.hello.magic, TP_MAGIC);
	if (f->u.hello.ver_min > f->u.hello.ver_max)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame HELLO: version_min %u above "
				    "version_max %u", f->u.hello.ver_min,
				    f->u.hello.ver_max);
	if (f->u.hello.nstreams < 1 || f->u.hello.nstreams > TP_MAX_STREAMS)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame HELLO: streams %u outside 1..%d",
				    f->u.hello.nstreams, TP_MAX_STREAMS);
	if (f->u.hello.stream >= f->u.hello.nstreams)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame HELLO: stream %u not below streams %u",
				    f->u.hello.stream, f->u.hello.nstreams);
	return true;
}

static bool decode_auth(tp_frame *f, const uint8_t *b, qm_error *err)
{
	f->u.auth.version = tp_get16(b);
	f->u.auth.nonce = b + 8;
	f->u.auth.mac = b + 40;
	return true;
}

/* A name field: NUL-terminated inside its 64 bytes; block ids also become
 * file names, so they are limited to [A-Za-z0-9._-] and may not start with
 * a dot. */
static bool decode_name(const tp_frame *f, const char *what, const uint8_t *p,
			char *out, bool is_id, qm_error *err)
{
	size_t n = strnlen((const char *)p, TP_NAME_MAX);

	if (n == TP_NAME_MAX)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame %s: %s not terminated within %d "
				    "bytes", tp_frame_name(f->type), what,
				    TP_NAME_MAX);
	memcpy(out, p, n + 1);
	for (size_t i = 0; is_id && i < n; i++) {
		char c = out[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      (c == '.' && i > 0)))
			return qm_error_set(err, QM_ERR_PROTO,
					    "frame SETUP: %s '%s' has character "
					    "0x%02x at %zu (allowed "
					    "[A-Za-z0-9._-])", what, out,
					    (unsigned char)c, i);
	}
	if (is_id && n == 0)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame SETUP: %s is empty", what);
	return true;
}

static bool decode_block(tp_frame *f, unsigned i, const uint8_t *b,
			 qm_error *err)
{
	tp_block *bl = &f->u.setup.blocks[i];
	uint64_t pages;

	if (!decode_name(f, "block id", b, bl->id, true, err))
		return false;
	bl->size = tp_get64(b + TP_NAME_MAX);
	if (!bl->size || bl->size % DL_PAGE_SIZE)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame SETUP: block %s size %llu is not a "
				    "non-zero multiple of %u", bl->id,
				    (unsigned long long)bl->size, DL_PAGE_SIZE);
	pages = bl->size / DL_PAGE_SIZE;
	if (pages > TP_MAX_RAM_PAGES - f->u.setup.npages)
		return qm_error_set(err, QM_ERR_TOO_BIG,
				    "frame SETUP: RAM pages %llu + %llu exceed "
				    "limit %llu",
				    (unsigned long long)f->u.setup.npages,
				    (unsigned long long)pages,
				    (unsigned long long)TP_MAX_RAM_PAGES);
	f->u.setup.npages += pages;
	return true;
}

static bool decode_setup(tp_frame *f, const uint8_t *b, qm_error *err)
{
	unsigned n;

	f->u.setup.page_size = tp_get32(b);
	n = f->u.setup.nblocks = tp_get16(b + 4);
	if (f->u.setup.page_size != DL_PAGE_SIZE)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame SETUP: page size %u, expected %u",
				    f->u.setup.page_size, DL_PAGE_SIZE);
	if (n < 1)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame SETUP: blocks 0, expected 1..%d",
				    TP_MAX_BLOCKS);
	if (!check_count(f, "blocks", n, TP_MAX_BLOCKS, err) ||
	    !check_len(f, TP_SETUP_FIXED_LEN + (uint64_t)n * TP_SETUP_BLOCK_LEN,
		       "blocks", n, err))
		return false;
	if (!decode_name(f, "vm name", b + 8, f->u.setup.vm_name, false, err))
		return false;
	f->u.setup.secret = b + 8 + TP_NAME_MAX;
	for (unsigned i = 0; i < n; i++)
		if (!decode_block(f, i, b + TP_SETUP_FIXED_LEN +
				  i * TP_SETUP_BLOCK_LEN, err))
			return false;
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(f->u.setup.blocks[i].id,
				    f->u.setup.blocks[j].id))
				return qm_error_set(err, QM_ERR_PROTO,
						    "frame SETUP: block id "
						    "'%s' repeated (blocks %u "
						    "and %u)",
						    f->u.setup.blocks[i].id, j,
						    i);
	return true;
}

static bool decode_have(tp_frame *f, const uint8_t *b, qm_error *err)
{
	f->u.have.count = tp_get32(b);
	f->u.have.hashes = b + TP_HAVE_FIXED_LEN;
	return check_count(f, "count", f->u.have.count, TP_MAX_HAVE_HASHES,
			   err) &&
	       check_len(f, TP_HAVE_FIXED_LEN + 16ull * f->u.have.count,
			 "count", f->u.have.count, err);
}

bool tp_pages_check_counts(tp_frame *f, const uint8_t *counts, qm_error *err)
{
	f->u.pages.count = tp_get32(counts);
	f->u.pages.nref = tp_get32(counts + 4);
	if (f->u.pages.count < 1)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame PAGES: count 0, expected 1..%d",
				    TP_MAX_FRAME_ENTRIES);
	if (!check_count(f, "count", f->u.pages.count, TP_MAX_FRAME_ENTRIES,
			 err) ||
	    !check_count(f, "refs", f->u.pages.nref, f->u.pages.count, err))
		return false;
	if (tp_pages_head_len(f) > f->len)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame PAGES: body %u bytes, shorter than "
				    "the %zu-byte entry table for count %u",
				    f->len, tp_pages_head_len(f),
				    f->u.pages.count);
	return true;
}

static bool decode_entry(tp_frame *f, uint64_t e, uint32_t *refs,
			 const tp_limits *lim, qm_error *err)
{
	tp_page_kind k = tp_entry_kind(e);

	if (k == TP_PAGE_INVALID || k >= TP_PAGE__COUNT)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame PAGES: entry kind %u unknown "
				    "(valid 1..%d)", k, TP_PAGE__COUNT - 1);
	if (!check_page(f, "page", tp_entry_page(e), lim, err))
		return false;
	if (k == TP_PAGE_FULL)
		f->u.pages.nfull++;
	if (k == TP_PAGE_ZERO)
		return true;
	if (*refs >= f->u.pages.nref)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame PAGES: more FULL/DUP/HAVE entries "
				    "than refs %u", f->u.pages.nref);
	/* The ref's hint: a page for DUP, TP_NO_HINT for FULL and HAVE. */
	{
		const uint8_t *r = f->u.pages.refs +
				   (size_t)*refs * TP_PAGE_REF_LEN;
		uint64_t hint = tp_get64(r + 16);

		(*refs)++;
		if (k != TP_PAGE_DUP && hint != TP_NO_HINT)
			return qm_error_set(err, QM_ERR_PROTO,
					    "frame PAGES: %s ref hint %llu, "
					    "expected none",
					    k == TP_PAGE_FULL ? "FULL" : "HAVE",
					    (unsigned long long)hint);
		if (k == TP_PAGE_DUP)
			return check_page(f, "DUP hint", hint, lim, err);
	}
	return true;
}

bool tp_pages_decode_head(tp_frame *f, const uint8_t *head,
			  const tp_limits *lim, qm_error *err)
{
	uint32_t refs = 0;
	uint64_t want;

	f->u.pages.entries = head + TP_PAGES_FIXED_LEN;
	f->u.pages.refs = f->u.pages.entries +
			  (size_t)f->u.pages.count * TP_PAGE_ENTRY_LEN;
	f->u.pages.nfull = 0;
	for (uint32_t i = 0; i < f->u.pages.count; i++) {
		uint64_t e = tp_get64(f->u.pages.entries + i * 8);

		if (!decode_entry(f, e, &refs, lim, err))
			return false;
	}
	if (refs != f->u.pages.nref)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame PAGES: refs %u, but %u FULL/DUP/"
				    "HAVE entries", f->u.pages.nref, refs);
	/* The receiver reads the payload with one iovec per FULL page. */
	if (!check_count(f, "full pages", f->u.pages.nfull, TP_MAX_FRAME_PAGES,
			 err))
		return false;
	want = tp_pages_head_len(f) + (uint64_t)f->u.pages.nfull * DL_PAGE_SIZE;
	return check_len(f, want, "full pages", f->u.pages.nfull, err);
}

static bool decode_pages(tp_frame *f, const uint8_t *b, const tp_limits *lim,
			 qm_error *err)
{
	if (!tp_pages_check_counts(f, b, err) ||
	    !tp_pages_decode_head(f, b, lim, err))
		return false;
	f->u.pages.payload = b + tp_pages_head_len(f);
	return true;
}

static bool decode_round_end(tp_frame *f, const uint8_t *b, qm_error *err)
{
	f->u.round_end.round = tp_get64(b);
	f->u.round_end.epoch = tp_get32(b + 8);
	f->u.round_end.stream = tp_get16(b + 12);
	f->u.round_end.frames = tp_get64(b + 16);
	f->u.round_end.pages = tp_get64(b + 24);
	return check_count(f, "stream", f->u.round_end.stream,
			   TP_MAX_STREAMS - 1, err);
}

static bool decode_devstate(tp_frame *f, const uint8_t *b, qm_error *err)
{
	f->u.devstate.offset = tp_get64(b);
	f->u.devstate.data = b + TP_DEVSTATE_FIXED_LEN;
	f->u.devstate.len = f->len - TP_DEVSTATE_FIXED_LEN;
	return true;
}

static bool decode_verify(tp_frame *f, const uint8_t *b, const tp_limits *lim,
			  qm_error *err)
{
	typeof(f->u.verify) *v = &f->u.verify;

	v->level = b[0];
	v->count = tp_get32(b + 4);
	v->first = tp_get64(b + 8);
	v->span = tp_get64(b + 16);
	v->hashes = b + TP_VERIFY_FIXED_LEN;
	if (v->level < TP_VERIFY_ROOT || v->level > TP_VERIFY_PAGE)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame VERIFY: level %u outside %d..%d",
				    v->level, TP_VERIFY_ROOT, TP_VERIFY_PAGE);
	if (!check_count(f, "count", v->count, TP_MAX_VERIFY_HASHES, err) ||
	    !check_len(f, TP_VERIFY_FIXED_LEN + 16ull * v->count, "count",
		       v->count, err))
		return false;
	if (v->count == 0)
		return true;
	/* The hashes cover [first, first + count * span): inside the RAM. */
	if (v->span < 1 || v->span > lim->npages)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame VERIFY: span %llu outside 1..%llu",
				    (unsigned long long)v->span,
				    (unsigned long long)lim->npages);
	if (v->first >= lim->npages ||
	    (v->count - 1) > (lim->npages - v->first - 1) / v->span)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame VERIFY: pages from %llu, %u x %llu, "
				    "out of range (RAM has %llu pages)",
				    (unsigned long long)v->first, v->count,
				    (unsigned long long)v->span,
				    (unsigned long long)lim->npages);
	return true;
}

static bool decode_mismatch(tp_frame *f, const uint8_t *b,
			    const tp_limits *lim, qm_error *err)
{
	typeof(f->u.mismatch) *m = &f->u.mismatch;

	m->reason = b[0];
	m->count = tp_get32(b + 4);
	m->round = tp_get64(b + 8);
	m->pages = b + TP_MISMATCH_FIXED_LEN;
	if (m->reason != TP_MISMATCH_VERIFY && m->reason != TP_MISMATCH_RESEND)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame MISMATCH: reason %u unknown "
				    "(valid %d..%d)", m->reason,
				    TP_MISMATCH_VERIFY, TP_MISMATCH_RESEND);
	if (!check_count(f, "count", m->count, TP_MAX_MISMATCH_PAGES, err) ||
	    !check_len(f, TP_MISMATCH_FIXED_LEN + 8ull * m->count, "count",
		       m->count, err))
		return false;
	for (uint32_t i = 0; i < m->count; i++)
		if (!check_page(f, "page", tp_get64(m->pages + 8 * i), lim,
				err))
			return false;
	return true;
}

static bool decode_abort(tp_frame *f, const uint8_t *b, qm_error *err)
{
	f->u.abort.code = tp_get32(b);
	f->u.abort.msg_len = tp_get16(b + 4);
	f->u.abort.msg = b + TP_ABORT_FIXED_LEN;
	return check_count(f, "message length", f->u.abort.msg_len,
			   TP_MAX_ABORT_MSG, err) &&
	       check_len(f, TP_ABORT_FIXED_LEN + (uint64_t)f->u.abort.msg_len,
			 "message length", f->u.abort.msg_len, err);
}

static bool decode_ack(tp_frame *f, const uint8_t *b, qm_error *err)
{
	f->u.ack.type = tp_get16(b);
	f->u.ack.code = tp_get32(b + 4);
	f->u.ack.seq = tp_get64(b + 8);
	f->u.ack.arg0 = tp_get64(b + 16);
	f->u.ack.arg1 = tp_get64(b + 24);
	if (!tp_frame_info_of(f->u.ack.type))
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame ACK: acknowledged type %u unknown "
				    "(valid 1..%d)", f->u.ack.type,
				    TP_FRAME__COUNT - 1);
	return true;
}

bool tp_frame_decode_body(tp_frame *f, const uint8_t *b, const tp_limits *lim,
			  qm_error *err)
{
	switch (f->type) {
	case TP_FRAME_HELLO:	return decode_hello(f, b, err);
	case TP_FRAME_AUTH:	return decode_auth(f, b, err);
	case TP_FRAME_SETUP:	return decode_setup(f, b, err);
	case TP_FRAME_HAVE:	return decode_have(f, b, err);
	case TP_FRAME_PAGES:	return decode_pages(f, b, lim, err);
	case TP_FRAME_ROUND_END: return decode_round_end(f, b, err);
	case TP_FRAME_DEVSTATE:	return decode_devstate(f, b, err);
	case TP_FRAME_VERIFY:	return decode_verify(f, b, lim, err);
	case TP_FRAME_MISMATCH:	return decode_mismatch(f, b, lim, err);
	case TP_FRAME_COMMIT:
		f->u.commit.round = tp_get64(b);
		return true;
	case TP_FRAME_ABORT:	return decode_abort(f, b, err);
	case TP_FRAME_ACK:	return decode_ack(f, b, err);
	case TP_FRAME_PING:
		f->u.ping.seq = tp_get64(b);
		f->u.ping.time_ns = tp_get64(b + 8);
		return true;
	}
	return qm_error_set(err, QM_ERR_PROTO, "frame type %u unknown (valid "
			    "1..%d)", f->type, TP_FRAME__COUNT - 1);
}

bool tp_frame_decode(const uint8_t *buf, size_t len, const tp_limits *lim,
		     tp_frame *f, size_t *used, qm_error *err)
{
	if (!tp_frame_check_header(buf, len, f, err))
		return false;
	if (len - TP_FRAME_HDR_SIZE < f->len)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame %s: body truncated, %zu of %u bytes",
				    tp_frame_name(f->type),
				    len - TP_FRAME_HDR_SIZE, f->len);
	if (!tp_frame_decode_body(f, buf + TP_FRAME_HDR_SIZE, lim, err))
		return false;
	if (used)
		*used = TP_FRAME_HDR_SIZE + f->len;
	return true;
}

static void hex(char *out, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

bool tp_hello_check(const tp_frame *f, const uint8_t *expect_id,
		    uint16_t *version, qm_error *err)
{
	char got[2 * TP_MIGRATION_ID_SIZE + 1], want[sizeof(got)];

	if (f->u.hello.ver_max < TP_PROTO_VERSION_MIN ||
	    f->u.hello.ver_min > TP_PROTO_VERSION)
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
				    "HELLO: versions %u..%u, this side speaks "
				    "%d..%d", f->u.hello.ver_min,
				    f->u.hello.ver_max, TP_PROTO_VERSION_MIN,
				    TP_PROTO_VERSION);
	if (expect_id && memcmp(f->u.hello.migration_id, expect_id,
				TP_MIGRATION_ID_SIZE)) {
		hex(got, f->u.hello.migration_id, TP_MIGRATION_ID_SIZE);
		hex(want, expect_id, TP_MIGRATION_ID_SIZE);
		return qm_error_set(err, QM_ERR_PROTO,
				    "HELLO on stream %u: migration id %s, "
				    "expected %s", f->u.hello.stream, got,
				    want);
	}
	*version = QM_MIN(f->u.hello.ver_max, TP_PROTO_VERSION);
	return true;
}
