/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Dedup indexes.
 *
 * Sender: content sent or held by the receiver -> where. One 64-bit word
 * per slot, lock-free for concurrent stream threads:
 *
 *   bit 63 ........ 35 | 34 .............. 0
 *   tag (hash.lo >> 35) | value: 0 empty, page + 1, or all ones = HAVE
 *
 * The slot position comes from hash.hi, the tag from hash.lo, so a match
 * means 29 + log2(slots) agreeing bits: a false match is rare, and
 * harmless, because the receiver checks the full 128-bit hash of every
 * page it copies and asks for a resend when it differs.
 *
 * Slots are never freed, and every thread walks the same linear probe
 * sequence and claims the first empty slot with one compare-and-swap of
 * tag and value together, so insert-if-absent (tp_dedup_claim) is exact:
 * of two streams meeting the same content at once, one claims it (and
 * sends it in full), the other sees the claim (and sends a DUP).
 *
 * The index is lossy on purpose: an insert that finds no room within the
 * probe window is dropped, which costs a missed dedup, never a wrong
 * page. Its size is fixed from the RAM size, 8-16 bytes per guest page
 * (at most 0.39% of RAM; with the tracker's 0.54% under the design's 1%),
 * never from anything the peer says.
 *
 * Receiver: the staged image's pages sorted by hash, searched by binary
 * search; built once before the streams run, read-only after.
 */
#include "transport/internal.h"

#include <stdlib.h>
#include <sys/mman.h>

#define PROBE		256
#define VALUE_BITS	35
#define VALUE_MASK	((1ull << VALUE_BITS) - 1)

_Static_assert(TP_MAX_RAM_PAGES + 1 < VALUE_MASK, "page + 1 must fit");

struct tp_dedup {
	uint64_t mask;
	uint64_t *v;
	size_t map_len;		/* v is mapped, not allocated, if nonzero */
};

#define HUGE_SIZE	(2ul << 20)

/*
 * The sender's table is probed once per page at a random place: with 4 KiB
 * pages nearly every probe of a large table also misses the TLB, and in a
 * guest that is a two-level page walk. Transparent huge pages (where the
 * system allows them on request) make the table a few TLB entries. The
 * mapping is aligned to a huge page and zeroed by the kernel, like calloc.
 */
static uint64_t *table_map(size_t len, size_t *map_len)
{
	size_t span = len + HUGE_SIZE;
	uint8_t *p = mmap(NULL, span, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *a;

	if (p == MAP_FAILED)
		return NULL;
	a = (uint8_t *)(((uintptr_t)p + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (a + len < p + span)
		munmap(a + len, (size_t)(p + span - (a + len)));
	madvise(a, len, MADV_HUGEPAGE);	/* a hint: no THP is fine */
	*map_len = len;
	return (uint64_t *)a;
}

tp_dedup *tp_dedup_new(uint64_t npages)
{
	tp_dedup *d = calloc(1, sizeof(*d));
	uint64_t n = 1024;

	while (n < npages)
		n *= 2;
	if (!d)
		return NULL;
	if (n * sizeof(*d->v) >= HUGE_SIZE)
		d->v = table_map(n * sizeof(*d->v), &d->map_len);
	else
		d->v = calloc(n, sizeof(*d->v));
	if (!d->v) {
		free(d);
		return NULL;
	}
	d->mask = n - 1;
	return d;
}

void tp_dedup_free(tp_dedup *d)
{
	if (d) {
		if (d->map_len)
			munmap(d->v, d->map_len);
		else
			free(d->v);
		free(d);
	}
}

static inline uint64_t tag_of(dl_hash h)
{
	return h.lo >> VALUE_BITS << VALUE_BITS;
}

static inline uint64_t value_of(uint64_t value)
{
	return value == TP_DEDUP_HAVE ? VALUE_MASK : value;
}

static inline uint64_t unvalue(uint64_t w)
{
	w &= VALUE_MASK;
	return w == VALUE_MASK ? TP_DEDUP_HAVE : w;
}

/* Find @h's slot or claim an empty one for it. Returns the slot, NULL if
 * the window is full; *@old = its previous word (0 if we claimed it). */
static uint64_t *find_or_claim(tp_dedup *d, dl_hash h, uint64_t value,
			       uint64_t *old)
{
	uint64_t tag = tag_of(h), want = tag | value_of(value);

	for (unsigned i = 0; i < PROBE; i++) {
		uint64_t *s = &d->v[(h.hi + i) & d->mask];
		uint64_t w = __atomic_load_n(s, __ATOMIC_ACQUIRE);

		if (!w && __atomic_compare_exchange_n(s, &w, want, false,
						      __ATOMIC_ACQ_REL,
						      __ATOMIC_ACQUIRE)) {
			*old = 0;
			return s;
		}
		/* w now holds the slot's word (ours lost the race or it was
		 * taken): same tag is the same content. */
		if ((w & ~VALUE_MASK) == tag) {
			*old = w;
			return s;
		}
	}
	return NULL;
}

void tp_dedup_prefetch(const tp_dedup *d, dl_hash h)
{
	__builtin_prefetch(&d->v[h.hi & d->mask], 1);
}

uint64_t tp_dedup_claim(tp_dedup *d, dl_hash h, uint64_t value)
{
	uint64_t old = 0;

	if (!find_or_claim(d, h, value, &old))
		return TP_DEDUP_FULL;
	return old ? unvalue(old) : 0;
}

void tp_dedup_put(tp_dedup *d, dl_hash h, uint64_t value, bool overwrite)
{
	uint64_t old = 0, *s = find_or_claim(d, h, value, &old);
	uint64_t want = tag_of(h) | value_of(value);

	/* A HAVE stays: content the receiver holds never goes stale. */
	while (s && old && overwrite && unvalue(old) != TP_DEDUP_HAVE &&
	       !__atomic_compare_exchange_n(s, &old, want, false,
					    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
}

uint64_t tp_dedup_get(const tp_dedup *d, dl_hash h)
{
	uint64_t tag = tag_of(h);

	for (unsigned i = 0; i < PROBE; i++) {
		uint64_t w = __atomic_load_n(&d->v[(h.hi + i) & d->mask],
					     __ATOMIC_ACQUIRE);

		if (!w)
			return 0;
		if ((w & ~VALUE_MASK) == tag)
			return unvalue(w);
	}
	return 0;
}

uint64_t tp_dedup_bytes(const tp_dedup *d)
{
	return (d->mask + 1) * sizeof(uint64_t);
}

/* ---- receiver: the staged image ---- */

static int cmp_entry(const void *a, const void *b)
{
	const tp_image_entry *x = a, *y = b;

	if (x->h.lo != y->h.lo)
		return x->h.lo < y->h.lo ? -1 : 1;
	return x->page < y->page ? -1 : x->page > y->page;
}

bool tp_image_index_build(tp_image_index *ix, const dl_ram *img,
			  const dl_hasher *h, qm_error *err)
{
	enum { CHUNK = 4096 };
	dl_hash *tmp = malloc(CHUNK * sizeof(*tmp));
	uint64_t n = 0;

	ix->v = calloc(img->npages ? img->npages : 1, sizeof(*ix->v));
	if (!tmp || !ix->v) {
		free(tmp);
		return qm_error_set(err, QM_ERR_NOMEM, "image index of %llu "
				    "pages", (unsigned long long)img->npages);
	}
	for (uint64_t p = 0; p < img->npages; p += CHUNK) {
		uint64_t k = QM_MIN((uint64_t)CHUNK, img->npages - p);

		if (!dl_ram_hash_pages(img, h, p, k, tmp, err)) {
			free(tmp);
			return false;
		}
		for (uint64_t i = 0; i < k; i++)
			if (!dl_hash_eq(tmp[i], h->zero))
				ix->v[n++] = (tp_image_entry){ tmp[i], p + i };
	}
	free(tmp);
	qsort(ix->v, n, sizeof(*ix->v), cmp_entry);
	ix->n = n;
	return true;
}

uint64_t tp_image_index_find(const tp_image_index *ix, dl_hash h)
{
	size_t lo = 0, hi = ix->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ix->v[mid].h.lo < h.lo)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < ix->n && ix->v[lo].h.lo == h.lo; lo++)
		if (ix->v[lo].h.hi == h.hi)
			return ix->v[lo].page + 1;
	return 0;
}

void tp_image_index_free(tp_image_index *ix)
{
	free(ix->v);
	ix->v = NULL;
	ix->n = 0;
}
