/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * page.h: what a working-set page of the test guest contains.
 *
 * This header is the contract between the guest (32-bit, freestanding) and
 * the host (guestlog, tests): both compile these inline functions, so the
 * host can recompute exactly what the guest expects in any page. It uses
 * only <stdint.h> and 32-bit arithmetic (no libgcc in the guest).
 *
 *   page idx, generation gen (from the guest's table, u32 per page)
 *
 *   gen == 0          never written: all 4096 bytes zero
 *   kind NORMAL       word0 = idx, word1 = gen,
 *                     words 2..1023 = xorshift32 stream seeded by
 *                     hash(idx, gen)
 *   kind ZERO         all zero (an "all-zero write")
 *   kind DUP0..DUP3   one of four fixed contents, the same in every page
 *                     that has that kind: word0 = 0xDDDD0000 | k, word1 = 0,
 *                     words 2..1023 = xorshift32 stream seeded by k
 *
 * The kind of a write is a pure function of (idx, gen, zero%, dup%), so a
 * checker needs only the table and the two percentages.
 */
#ifndef QMIG_GUEST_PAGE_H
#define QMIG_GUEST_PAGE_H

#include <stdint.h>

#define GP_PAGE_SIZE	4096u
#define GP_PAGE_WORDS	(GP_PAGE_SIZE / 4u)
#define GP_DUP_KINDS	4u
#define GP_DUP_MAGIC	0xDDDD0000u

enum gp_kind {
	GP_KIND_UNWRITTEN = 0,	/* gen 0 */
	GP_KIND_NORMAL,
	GP_KIND_ZERO,
	GP_KIND_DUP0,		/* GP_KIND_DUP0 + k, k < GP_DUP_KINDS */
	GP_KIND__COUNT = GP_KIND_DUP0 + GP_DUP_KINDS
};

static inline const char *gp_kind_name(int kind)
{
	static const char *const names[GP_KIND__COUNT] = {
		"unwritten", "normal", "zero", "dup0", "dup1", "dup2", "dup3",
	};

	return kind >= 0 && kind < GP_KIND__COUNT ? names[kind] : "?";
}

/* A 32-bit finaliser (lowbias32): every input bit reaches every output bit,
 * so neighbouring pages and generations get unrelated kinds and fillers. */
static inline uint32_t gp_mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

static inline uint32_t gp_hash(uint32_t idx, uint32_t gen)
{
	return gp_mix32(idx * 0x9e3779b9u ^ gp_mix32(gen + 0x632be5abu));
}

static inline uint32_t gp_xorshift32(uint32_t s)
{
	s ^= s << 13;
	s ^= s >> 17;
	s ^= s << 5;
	return s;
}

/*
 * gp_kind_of: the kind of write number @gen of page @idx.
 * @zero_pct + @dup_pct must not exceed 100 (the guest clamps them).
 * hash % 100 is uniform enough (bias < 1e-7) that the shares match the
 * percentages; the DUP variant comes from a second hash so it does not
 * correlate with the first choice.
 */
static inline int gp_kind_of(uint32_t idx, uint32_t gen, uint32_t zero_pct,
			     uint32_t dup_pct)
{
	uint32_t h, r;

	if (gen == 0)
		return GP_KIND_UNWRITTEN;
	h = gp_hash(idx, gen);
	r = h % 100u;
	if (r < zero_pct)
		return GP_KIND_ZERO;
	if (r < zero_pct + dup_pct)
		return GP_KIND_DUP0 + (int)(gp_mix32(h ^ 0xa5a5a5a5u) %
					    GP_DUP_KINDS);
	return GP_KIND_NORMAL;
}

/* Seed of the filler stream; never 0, which xorshift32 would keep at 0. */
static inline uint32_t gp_seed(uint32_t idx, uint32_t gen, int kind)
{
	uint32_t k = (uint32_t)(kind - GP_KIND_DUP0);

	if (kind >= GP_KIND_DUP0)
		return gp_mix32(0xd0d0d0d0u + k) | 1u;
	return gp_hash(idx, gen) | 1u;
}

static inline void gp_head(uint32_t idx, uint32_t gen, int kind,
			   uint32_t *w0, uint32_t *w1)
{
	if (kind >= GP_KIND_DUP0) {
		*w0 = GP_DUP_MAGIC | (uint32_t)(kind - GP_KIND_DUP0);
		*w1 = 0;
	} else {
		*w0 = idx;
		*w1 = gen;
	}
}

/* gp_fill: write the content of (@idx, @gen, @kind) into page @p. */
static inline void gp_fill(volatile uint32_t *p, uint32_t idx, uint32_t gen,
			   int kind)
{
	uint32_t i, s;

	if (kind == GP_KIND_ZERO || kind == GP_KIND_UNWRITTEN) {
		for (i = 0; i < GP_PAGE_WORDS; i++)
			p[i] = 0;
		return;
	}
	gp_head(idx, gen, kind, &s, &i);
	p[0] = s;
	p[1] = i;
	s = gp_seed(idx, gen, kind);
	for (i = 2; i < GP_PAGE_WORDS; i++) {
		s = gp_xorshift32(s);
		p[i] = s;
	}
}

/* gp_word: word @i of the content of (@idx, @gen, @kind), for reports. */
static inline uint32_t gp_word(uint32_t idx, uint32_t gen, int kind,
			       uint32_t i)
{
	uint32_t s, w0, w1;

	if (kind == GP_KIND_ZERO || kind == GP_KIND_UNWRITTEN)
		return 0;
	gp_head(idx, gen, kind, &w0, &w1);
	if (i < 2)
		return i ? w1 : w0;
	s = gp_seed(idx, gen, kind);
	for (; i >= 2; i--)
		s = gp_xorshift32(s);
	return s;
}

/*
 * gp_first_bad: index of the first word of page @p that differs from the
 * content of (@idx, @gen, @kind), or GP_PAGE_WORDS if the page is right.
 * Reads through a volatile pointer: the host may change the page under the
 * guest, and the guest must see it.
 */
static inline uint32_t gp_first_bad(const volatile uint32_t *p, uint32_t idx,
				    uint32_t gen, int kind)
{
	uint32_t i, s, w0, w1;

	if (kind == GP_KIND_ZERO || kind == GP_KIND_UNWRITTEN) {
		for (i = 0; i < GP_PAGE_WORDS; i++)
			if (p[i])
				return i;
		return GP_PAGE_WORDS;
	}
	gp_head(idx, gen, kind, &w0, &w1);
	if (p[0] != w0)
		return 0;
	if (p[1] != w1)
		return 1;
	s = gp_seed(idx, gen, kind);
	for (i = 2; i < GP_PAGE_WORDS; i++) {
		s = gp_xorshift32(s);
		if (p[i] != s)
			return i;
	}
	return GP_PAGE_WORDS;
}

#endif /* QMIG_GUEST_PAGE_H */
