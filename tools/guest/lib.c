/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lib.c: the libc and libgcc pieces the guest needs.
 *
 * gcc may emit calls to memset/memcpy/memmove/memcmp even in freestanding
 * code, so they must exist. There is no 32-bit libgcc here, so 64-bit
 * division is done with two 32-bit divl instructions instead of
 * __udivdi3.
 */
#include "guest.h"

void *memset(void *s, int c, size_t n)
{
	u8 *p = s;

	while (n--)
		*p++ = (u8)c;
	return s;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	u8 *d = dst;
	const u8 *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	u8 *d = dst;
	const u8 *s = src;

	if (d <= s || d >= s + n)
		return memcpy(dst, src, n);
	while (n--)
		d[n] = s[n];
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const u8 *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

/*
 * Long division in two steps: divide the high word first, then divide
 * (remainder:low word) with divl. The second quotient fits in 32 bits
 * because the remainder is smaller than d, so divl cannot fault.
 */
u64 div_u64_u32(u64 n, u32 d, u32 *rem)
{
	u32 hi = (u32)(n >> 32), lo = (u32)n;
	u32 q_hi = hi / d, q_lo, r;

	hi %= d;
	__asm__("divl %4" : "=a"(q_lo), "=d"(r) : "a"(lo), "d"(hi), "rm"(d));
	if (rem)
		*rem = r;
	return ((u64)q_hi << 32) | q_lo;
}

static int digit_val(char c, unsigned base)
{
	int v;

	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (c >= 'a' && c <= 'f')
		v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		v = c - 'A' + 10;
	else
		return -1;
	return v < (int)base ? v : -1;
}

bool parse_u64(const char *s, size_t len, u64 *out)
{
	unsigned base = 10;
	u64 v = 0, nv, max = UINT64_MAX / 10;
	int d;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		max = UINT64_MAX >> 4;
		s += 2;
		len -= 2;
	}
	if (!len)
		return false;
	for (; len; len--, s++) {
		d = digit_val(*s, base);
		if (d < 0 || v > max)
			return false;
		nv = (base == 16 ? v << 4 : v * 10) + (u64)d;
		if (nv < v)
			return false;
		v = nv;
	}
	*out = v;
	return true;
}

bool parse_size(const char *s, size_t len, u64 *out)
{
	unsigned shift = 0;
	u64 v;

	if (len && (s[len - 1] == 'B' || s[len - 1] == 'b'))
		len--;		/* "64MB" reads as "64M" */
	if (len) {
		switch (s[len - 1]) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		}
	}
	if (shift)
		len--;
	if (!parse_u64(s, len, &v) || (shift && v > (UINT64_MAX >> shift)))
		return false;
	*out = v << shift;
	return true;
}

bool str_eq(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return n == len && !memcmp(s, lit, n);
}
