/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * workload.c: the loop that writes pages, checks them and prints
 * heartbeats.
 *
 * One iteration: read the TSC; print a heartbeat and a once-a-second STAT
 * line when due; write one page if the rate allows; check one page. Every
 * step is a few microseconds under TCG, so heartbeats stay on time while
 * the check cursor sweeps the working set continuously.
 *
 * A write bumps the page's generation in the table first, then writes the
 * page (page.h says what goes in it). A check recomputes the content from
 * the table and compares all 4096 bytes, so a lost update of either the
 * page or its table entry shows up as CORRUPT.
 */
#include "guest.h"
#include "page.h"

#define CORRUPT_PRINT_MAX	10

/*
 * State the host reads from guest RAM (addresses in the boot line). The
 * heartbeat number lives in RAM, not in a register: if a migration loses
 * the update of its page, the destination prints a number the host has
 * already seen. inflight is the page being written (index + 1, 0 = none),
 * so a host checking a stopped guest can tell a write the guest has not
 * finished from a lost one.
 */
volatile struct guest_state gstate __attribute__((aligned(64)));

struct wl {
	const struct params *p;
	volatile u32 *table;
	u32 base, pages, hot_pages;
	u32 khz;
	u64 hb_ticks, write_ticks, sec_ticks, max_lag;
	u64 next_hb, next_write, next_stat, pass_start;
	u32 rng, cursor, check_idx;
	u64 writes, checks, passes;
	u32 pass_ms, corrupt, seconds;
};

static inline volatile u32 *page_ptr(const struct wl *w, u32 idx)
{
	return (volatile u32 *)(w->base + idx * PAGE_SIZE);
}

static inline bool due(u64 now, u64 deadline)
{
	return (s64)(now - deadline) >= 0;
}

/* Next deadline one period on; if we are already past it, start afresh
 * from now rather than firing a burst to catch up. */
static inline u64 advance(u64 deadline, u64 period, u64 now)
{
	deadline += period;
	return due(now, deadline) ? now + period : deadline;
}

static u32 rnd(struct wl *w)
{
	w->rng = gp_xorshift32(w->rng);
	return w->rng;
}

static u32 pick_page(struct wl *w)
{
	u32 idx, cold = w->pages - w->hot_pages;

	switch (w->p->pattern) {
	case PAT_SEQ:
		idx = w->cursor;
		if (++w->cursor == w->pages)
			w->cursor = 0;
		return idx;
	case PAT_HOTCOLD:
		if (w->hot_pages && (!cold || rnd(w) % 100 < w->p->hotw))
			return rnd(w) % w->hot_pages;
		return w->hot_pages + rnd(w) % cold;
	case PAT_RAND:
		break;
	}
	return rnd(w) % w->pages;
}

/* Write the content of (idx, gen), flagged in flight while it happens. */
static void fill_page(struct wl *w, u32 idx, u32 gen, int kind)
{
	gstate.inflight = idx + 1;
	barrier();
	gp_fill(page_ptr(w, idx), idx, gen, kind);
	barrier();
	gstate.inflight = 0;
}

static void write_page(struct wl *w, u32 idx)
{
	u32 gen = w->table[idx] + 1;

	if (!gen)		/* 0 means "never written" */
		gen = 1;
	gstate.inflight = idx + 1;
	barrier();
	w->table[idx] = gen;
	fill_page(w, idx, gen, gp_kind_of(idx, gen, w->p->zero, w->p->dup));
	w->writes++;
}

static bool write_due(struct wl *w, u64 now)
{
	if (!w->write_ticks)
		return true;
	if (!due(now, w->next_write))
		return false;
	w->next_write += w->write_ticks;
	/* After a stall, do not write a burst to make up for it. */
	if (due(now, w->next_write + w->max_lag))
		w->next_write = now;
	return true;
}

static void report(struct wl *w, u32 idx, u32 gen, int kind, u32 bad)
{
	volatile u32 *p = page_ptr(w, idx);
	u32 diff = p[bad] ^ gp_word(idx, gen, kind, bad);

	w->corrupt++;
	if (w->corrupt > CORRUPT_PRINT_MAX)
		return;
	gprintf("CORRUPT %u gen=%u found=%u,%u off=%u kind=%s\n", idx, gen,
		p[0], p[1], bad * 4 + (diff ? (u32)__builtin_ctz(diff) / 8 : 0),
		gp_kind_name(kind));
}

static void check_page(struct wl *w, u32 idx)
{
	u32 gen = w->table[idx];
	int kind = gp_kind_of(idx, gen, w->p->zero, w->p->dup);
	u32 bad = gp_first_bad(page_ptr(w, idx), idx, gen, kind);

	w->checks++;
	if (bad == GP_PAGE_WORDS)
		return;
	report(w, idx, gen, kind, bad);
	/* Repair, so one bad page is reported once, not once per pass. */
	fill_page(w, idx, gen, kind);
}

static void check_next(struct wl *w, u64 now)
{
	check_page(w, w->check_idx);
	if (++w->check_idx < w->pages)
		return;
	w->check_idx = 0;
	w->passes++;
	w->pass_ms = (u32)div_u64_u32(now - w->pass_start, w->khz, NULL);
	w->pass_start = now;
}

static void heartbeat(struct wl *w, u64 now)
{
	u32 seq = gstate.hb_seq + 1;

	gstate.hb_seq = seq;
	gprintf("HB %u\n", seq);
	w->next_hb = advance(w->next_hb, w->hb_ticks, now);
}

static void stat_line(struct wl *w, u64 now)
{
	w->seconds++;
	gprintf("STAT t=%u hb=%u writes=%llu checks=%llu passes=%llu "
		"pass_ms=%u corrupt=%u\n", w->seconds, gstate.hb_seq,
		(unsigned long long)w->writes, (unsigned long long)w->checks,
		(unsigned long long)w->passes, w->pass_ms, w->corrupt);
	if (w->corrupt)
		gprintf("CORRUPT-COUNT %u\n", w->corrupt);
	w->next_stat = advance(w->next_stat, w->sec_ticks, now);
}

static void wl_init(struct wl *w, const struct params *p,
		    const struct layout *lay, u32 khz)
{
	u64 now;

	memset(w, 0, sizeof(*w));
	w->p = p;
	w->table = (volatile u32 *)lay->table;
	w->base = lay->base;
	w->pages = lay->pages;
	w->hot_pages = lay->pages * p->hot / 100;
	if (p->hot && !w->hot_pages)
		w->hot_pages = 1;
	w->khz = khz;
	w->sec_ticks = (u64)khz * 1000;
	w->max_lag = div_u64_u32(w->sec_ticks, 10, NULL);
	w->hb_ticks = (u64)khz * p->hb_ms;
	if (p->rate) {
		w->write_ticks = div_u64_u32(w->sec_ticks, p->rate, NULL);
		if (!w->write_ticks)
			w->write_ticks = 1;
	}
	w->rng = gp_mix32(p->seed) | 1;
	/* The table must start at "never written" even after a reset. */
	memset((void *)lay->table, 0, (size_t)lay->pages * 4);
	now = rdtsc();
	w->next_hb = now + w->hb_ticks;
	w->next_stat = now + w->sec_ticks;
	w->next_write = now;
	w->pass_start = now;
}

void workload_run(const struct params *p, const struct layout *lay, u32 khz)
{
	struct wl w;
	u64 now;

	wl_init(&w, p, lay, khz);
	gprintf("READY\n");
	for (;;) {
		now = rdtsc();
		if (w.hb_ticks && due(now, w.next_hb))
			heartbeat(&w, now);
		if (due(now, w.next_stat))
			stat_line(&w, now);
		if (write_due(&w, now))
			write_page(&w, pick_page(&w));
		check_next(&w, now);
	}
}
