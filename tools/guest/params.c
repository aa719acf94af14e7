/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * params.c: parse the kernel command line, "key=value" words separated by
 * spaces. A bad word never stops the guest: it prints a WARN line and is
 * ignored, because a test that mistyped a key still wants a
 * running guest whose boot line says what it actually does.
 */
#include "guest.h"

void params_defaults(struct params *p)
{
	p->ws = 64ull << 20;
	p->rate = 1000;
	p->pattern = PAT_SEQ;
	p->hot = 10;
	p->hotw = 90;
	p->zero = 0;
	p->dup = 0;
	p->hb_ms = 1;
	p->seed = 1;
}

const char *pattern_name(enum pattern pat)
{
	switch (pat) {
	case PAT_SEQ: return "seq";
	case PAT_RAND: return "rand";
	case PAT_HOTCOLD: return "hotcold";
	}
	return "?";
}

static bool parse_u32(const char *v, size_t vlen, u32 max, u32 *out)
{
	u64 x;

	if (!parse_u64(v, vlen, &x) || x > max)
		return false;
	*out = (u32)x;
	return true;
}

static bool parse_pattern(const char *v, size_t vlen, enum pattern *out)
{
	static const enum pattern all[] = { PAT_SEQ, PAT_RAND, PAT_HOTCOLD };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(all); i++) {
		if (str_eq(v, vlen, pattern_name(all[i]))) {
			*out = all[i];
			return true;
		}
	}
	return false;
}

/* Returns 1 if applied, 0 if the value is bad, -1 if the key is unknown. */
static int apply(struct params *p, const char *k, size_t klen,
		 const char *v, size_t vlen)
{
	u64 ws;

	if (str_eq(k, klen, "ws")) {
		if (!parse_size(v, vlen, &ws) || ws < PAGE_SIZE)
			return 0;
		p->ws = ws;
		return 1;
	}
	if (str_eq(k, klen, "rate"))
		return parse_u32(v, vlen, 100000000u, &p->rate);
	if (str_eq(k, klen, "pattern"))
		return parse_pattern(v, vlen, &p->pattern);
	if (str_eq(k, klen, "hot"))
		return parse_u32(v, vlen, 100, &p->hot);
	if (str_eq(k, klen, "hotw"))
		return parse_u32(v, vlen, 100, &p->hotw);
	if (str_eq(k, klen, "zero"))
		return parse_u32(v, vlen, 100, &p->zero);
	if (str_eq(k, klen, "dup"))
		return parse_u32(v, vlen, 100, &p->dup);
	if (str_eq(k, klen, "hb"))
		return parse_u32(v, vlen, 3600000u, &p->hb_ms);
	if (str_eq(k, klen, "seed"))
		return parse_u32(v, vlen, 0xffffffffu, &p->seed);
	return -1;
}

static void word(struct params *p, const char *w, size_t len, bool first)
{
	const char *eq = w;
	size_t klen;
	int r;

	while (eq < w + len && *eq != '=')
		eq++;
	if (eq == w + len) {
		/* QEMU puts the kernel's file name first, as GRUB does. */
		if (!first)
			gprintf("WARN ignoring word without '=': %.*s\n",
				(int)len, w);
		return;
	}
	klen = (size_t)(eq - w);
	r = apply(p, w, klen, eq + 1, len - klen - 1);
	if (r < 0)
		gprintf("WARN unknown parameter '%.*s' ignored\n",
			(int)klen, w);
	else if (r == 0)
		gprintf("WARN bad value for %.*s: '%.*s' ignored\n",
			(int)klen, w, (int)(len - klen - 1), eq + 1);
}

void params_parse(struct params *p, const char *cmdline)
{
	const char *s = cmdline, *w;
	bool first = true;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		w = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
		word(p, w, (size_t)(s - w), first);
		first = false;
	}
	if (p->zero + p->dup > 100) {
		gprintf("WARN zero=%u + dup=%u exceeds 100, dup set to %u\n",
			p->zero, p->dup, 100 - p->zero);
		p->dup = 100 - p->zero;
	}
}
