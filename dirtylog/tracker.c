/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tracker core: per-page history, the dirty bitmap, runs, rates, and the
 * hash-scan tracker. The tracker picks its implementation once, from an ops
 * table (CRIU page_xfer style); the engine never branches on the kind.
 */
#define LOG_PREFIX "dirtylog"
#include "dirtylog/tracker-impl.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- per-page history ---- */

static void note_dirty(dl_tracker *t, uint64_t p)
{
	uint32_t cur = (uint32_t)(t->round + 1);
	uint32_t age = t->last[p] ? cur - t->last[p] : 32;

	t->hist[p] = (uint8_t)((age >= 8 ? 0 : t->hist[p] << age) | 1);
	t->last[p] = cur;
	if (t->count[p] < 255)
		t->count[p]++;
}

/*
 * dl_check_page: compare the current hash of page @p with its last-sent
 * hash (a difference sets its dirty bit: it must be sent) and with what
 * the previous scan saw (a difference means the guest wrote it since:
 * history and the dirty rate count that). A page held back unsent is
 * dirty every round, but only "hot" while the guest keeps writing it;
 * counting it as written every round would hold it back for ever.
 * Called by scan workers; bitmap words and per-page slots of a chunk
 * belong to one worker.
 */
void dl_check_page(dl_tracker *t, dl_scan_counts *c, uint64_t p, dl_hash now,
		   unsigned flags)
{
	uint32_t lo = (uint32_t)now.lo;

	if (lo != t->seen[p]) {
		t->seen[p] = lo;
		c->changed++;
		note_dirty(t, p);
	}
	if (dl_hash_eq(now, t->sent[p]))
		return;
	t->dirty[p / 64] |= 1ULL << (p % 64);
	c->dirty++;
	if (dl_hash_eq(now, t->h->zero))
		c->dirty_zero++;
	if (flags & DL_ROUND_ADOPT)
		t->sent[p] = now;
}

/* ---- hash-scan ---- */

typedef struct scan_job {
	dl_tracker *t;
	unsigned flags;
	const uint64_t *only;   /* candidate filter, NULL = every data page */
	atomic_uint_fast64_t next_chunk;
	uint64_t nchunks;
	dl_scan_counts total;
	pthread_mutex_t lock;
} scan_job;

/* First extent of @r ending after region page @p (binary search). */
static size_t first_extent_after(const dl_tracker *t, int ri, uint64_t p)
{
	const dl_extent *x = t->view.ext[ri];
	size_t lo = 0, hi = t->view.next[ri];

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (x[mid].end <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Next page in [p, end) whose bit is set in @only (global numbering offset
 * by @base), or @end. Skips clear words 64 pages at a time. */
static uint64_t next_candidate(const uint64_t *only, uint64_t base,
			       uint64_t p, uint64_t end)
{
	while (p < end) {
		uint64_t g = base + p, w = only[g / 64] >> (g % 64);

		if (w)
			return QM_MIN(p + (uint64_t)__builtin_ctzll(w), end);
		p += 64 - g % 64;
	}
	return end;
}

static void scan_region_part(dl_tracker *t, int ri, uint64_t from,
			     uint64_t to, const scan_job *job,
			     dl_scan_counts *c)
{
	unsigned flags = job->flags;
	const dl_region *r = &t->ram->regions[ri];
	size_t k = first_extent_after(t, ri, from);
	uint64_t p = from, ds, de;

	while (p < to) {
		if (k < t->view.next[ri] && t->view.ext[ri][k].start < to) {
			ds = QM_MAX(t->view.ext[ri][k].start, p);
			de = QM_MIN(t->view.ext[ri][k].end, to);
			k++;
		} else {
			ds = de = to;
		}
		/* A hole reads as zero and is never touched: reading it
		 * through the mapping would allocate it. */
		c->holes += ds - p;
		for (; p < ds; p++)
			dl_check_page(t, c, r->first_page + p, t->h->zero, flags);
		for (; p < de; p++) {
			const uint8_t *pg;

			if (job->only) {
				p = next_candidate(job->only, r->first_page, p,
						   de);
				if (p == de)
					break;
			}
			pg = r->base + (p << DL_PAGE_SHIFT);
			c->scanned++;
			dl_check_page(t, c, r->first_page + p,
				      dl_hash_page(t->h, pg), flags);
		}
	}
}

static void scan_chunk(const scan_job *job, uint64_t chunk,
		       dl_scan_counts *c)
{
	dl_tracker *t = job->t;
	uint64_t s = chunk * DL_CHUNK_PAGES;
	uint64_t e = QM_MIN(s + DL_CHUNK_PAGES, t->npages);

	for (int i = 0; i < t->ram->nregions; i++) {
		const dl_region *r = &t->ram->regions[i];
		uint64_t rs = r->first_page, re = r->first_page + r->npages;

		if (re <= s || rs >= e)
			continue;
		scan_region_part(t, i, QM_MAX(s, rs) - rs, QM_MIN(e, re) - rs,
				 job, c);
	}
}

static void *scan_worker(void *arg)
{
	scan_job *job = arg;
	dl_scan_counts c = { 0 };
	uint64_t chunk;

	while ((chunk = atomic_fetch_add(&job->next_chunk, 1)) < job->nchunks)
		scan_chunk(job, chunk, &c);
	pthread_mutex_lock(&job->lock);
	job->total.scanned += c.scanned;
	job->total.holes += c.holes;
	job->total.dirty += c.dirty;
	job->total.dirty_zero += c.dirty_zero;
	job->total.changed += c.changed;
	pthread_mutex_unlock(&job->lock);
	return NULL;
}

/* Scan all chunks with t->threads threads (the calling thread is one). */
void dl_scan_pages(dl_tracker *t, unsigned flags, const uint64_t *only,
		   dl_scan_counts *c)
{
	pthread_t tids[DL_MAX_THREADS];
	scan_job job = { .t = t, .flags = flags, .only = only };
	int started = 0;

	job.nchunks = (t->npages + DL_CHUNK_PAGES - 1) / DL_CHUNK_PAGES;
	pthread_mutex_init(&job.lock, NULL);
	for (int i = 1; i < t->threads; i++) {
		int rc = pthread_create(&tids[started], NULL, scan_worker, &job);

		if (rc) {
			pr_warn("scan thread %d: %s; continuing with %d", i,
				strerror(rc), started + 1);
			break;
		}
		started++;
	}
	scan_worker(&job);
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	pthread_mutex_destroy(&job.lock);
	*c = job.total;
}

static bool hash_scan_round(dl_tracker *t, unsigned flags, dl_scan_counts *c,
			    qm_error *err)
{
	if (!dl_refresh_extents(t, err))
		return false;
	dl_scan_pages(t, flags, NULL, c);
	return true;
}

static const dl_tracker_ops hash_scan_ops = {
	.name = "hash-scan",
	.round = hash_scan_round,
};

/* ---- tracker ---- */

static int default_threads(int requested)
{
	long n = requested > 0 ? requested : sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	return (int)QM_MIN(n, DL_MAX_THREADS);
}

static bool alloc_state(dl_tracker *t, bool assume_zero, qm_error *err)
{
	t->nwords = (t->npages + 63) / 64;
	t->sent = malloc(t->npages * sizeof(*t->sent));
	t->count = calloc(t->npages, 1);
	t->hist = calloc(t->npages, 1);
	t->last = calloc(t->npages, sizeof(*t->last));
	t->seen = malloc(t->npages * sizeof(*t->seen));
	t->dirty = calloc(t->nwords, sizeof(*t->dirty));
	if (!t->sent || !t->count || !t->hist || !t->last || !t->seen ||
	    !t->dirty)
		return qm_error_set(err, QM_ERR_NOMEM,
				    "tracker state for %llu pages",
				    (unsigned long long)t->npages);
	for (uint64_t p = 0; p < t->npages; p++) {
		/* Without the zero assumption nothing matches a hash of all
		 * ones, so round 0 reports every page. */
		t->sent[p] = assume_zero ? t->h->zero
					 : (dl_hash){ UINT64_MAX, UINT64_MAX };
		t->seen[p] = (uint32_t)t->sent[p].lo;
	}
	return true;
}

dl_tracker *dl_tracker_new(const dl_ram *ram, const dl_hasher *h,
			   const dl_tracker_opts *o, qm_error *err)
{
	dl_tracker *t = calloc(1, sizeof(*t));

	if (!t) {
		qm_error_set(err, QM_ERR_NOMEM, "tracker");
		return NULL;
	}
	t->ram = ram;
	t->h = h;
	t->npages = ram->npages;
	t->threads = default_threads(o->threads);
	if (!alloc_state(t, o->assume_dest_zero, err) ||
	    !dl_choose_ops(t, o, err)) {
		dl_tracker_free(t);
		return NULL;
	}
	return t;
}

/* Pick the tracker implementation; soft-dirty when asked for or when AUTO
 * and the probe says it works, else hash-scan with the reason kept. */
bool dl_choose_ops(dl_tracker *t, const dl_tracker_opts *o, qm_error *err)
{
	char why[256] = "";

	if (o->kind == DL_TRACKER_HASH_SCAN) {
		t->ops = &hash_scan_ops;
		return true;
	}
	if (dl_softdirty_setup(t, o, why, sizeof(why)))
		return true;
	if (o->kind == DL_TRACKER_SOFT_DIRTY)
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
				    "soft-dirty tracker: %s", why);
	qm_format(t->fallback, sizeof(t->fallback), "%s", why);
	pr_info("dirty tracking: hash-scan (soft-dirty unavailable: %s)", why);
	t->ops = &hash_scan_ops;
	return true;
}

void dl_tracker_free(dl_tracker *t)
{
	if (!t)
		return;
	if (t->ops && t->ops->destroy)
		t->ops->destroy(t);
	free(t->sent);
	free(t->count);
	free(t->hist);
	free(t->last);
	free(t->seen);
	free(t->dirty);
	dl_ram_view_close(&t->view);
	free(t);
}

const char *dl_tracker_name(const dl_tracker *t)
{
	return t->ops->name;
}

const char *dl_tracker_fallback_reason(const dl_tracker *t)
{
	return t->fallback;
}

/* One sequential extent walk per region per round; the scan workers then
 * look extents up instead of asking the kernel per chunk. */
bool dl_refresh_extents(dl_tracker *t, qm_error *err)
{
	dl_ram_view_close(&t->view);
	return dl_ram_view_open(&t->view, t->ram, err);
}

bool dl_tracker_round(dl_tracker *t, unsigned flags, dl_round_stats *st,
		      qm_error *err)
{
	int64_t start = qm_now_ns();
	dl_scan_counts c = { 0 };

	memset(t->dirty, 0, t->nwords * sizeof(*t->dirty));
	if (!t->ops->round(t, flags, &c, err))
		return false;
	memset(st, 0, sizeof(*st));
	st->round = t->round;
	st->pages_scanned = c.scanned;
	st->pages_holes = c.holes;
	st->pages_dirty = c.dirty;
	st->pages_dirty_zero = c.dirty_zero;
	st->pages_changed = c.changed;
	st->find_ns = qm_now_ns() - start;
	if (t->round > 0 && start > t->last_start_ns) {
		st->interval_ns = start - t->last_start_ns;
		/* The rate of new writes: pages changed since the last scan,
		 * not pages still waiting to be sent. */
		st->dirty_pages_per_s = c.changed * 1e9 / st->interval_ns;
		st->dirty_bytes_per_s = st->dirty_pages_per_s * DL_PAGE_SIZE;
	}
	t->last_start_ns = start;
	t->round++;
	return true;
}

const uint64_t *dl_tracker_dirty_bitmap(const dl_tracker *t)
{
	return t->dirty;
}

bool dl_tracker_is_dirty(const dl_tracker *t, uint64_t page)
{
	return page < t->npages && (t->dirty[page / 64] >> (page % 64)) & 1;
}

bool dl_tracker_next_run(const dl_tracker *t, uint64_t *cursor,
			 uint64_t *start, uint64_t *len)
{
	uint64_t p = *cursor, w;

	/* Find the first set bit at or after p. */
	while (p < t->npages) {
		w = t->dirty[p / 64] >> (p % 64);
		if (w) {
			p += __builtin_ctzll(w);
			break;
		}
		p = (p / 64 + 1) * 64;
	}
	if (p >= t->npages) {
		*cursor = t->npages;
		return false;
	}
	*start = p;
	/* Extend over the following set bits. */
	while (p < t->npages) {
		w = ~t->dirty[p / 64] >> (p % 64);
		if (w) {
			p += __builtin_ctzll(w);
			break;
		}
		p = (p / 64 + 1) * 64;
	}
	if (p > t->npages)
		p = t->npages;
	*len = p - *start;
	*cursor = p;
	return true;
}

void dl_tracker_mark_sent(dl_tracker *t, uint64_t page, dl_hash h)
{
	dl_hash old;

	if (page >= t->npages)
		return;
	old = t->sent[page];
	t->sent[page] = h;
	if (t->ops->sent)
		t->ops->sent(t, page, old, h);
}

dl_hash dl_tracker_sent_hash(const dl_tracker *t, uint64_t page)
{
	return page < t->npages ? t->sent[page] : (dl_hash){ 0, 0 };
}

unsigned dl_tracker_dirty_count(const dl_tracker *t, uint64_t page)
{
	return page < t->npages ? t->count[page] : 0;
}

uint64_t dl_tracker_last_dirty_round(const dl_tracker *t, uint64_t page)
{
	/* Stored 1-based so that 0 means never; reported 0-based. */
	return page < t->npages && t->last[page] ? t->last[page] - 1 : 0;
}

bool dl_tracker_is_hot(const dl_tracker *t, uint64_t page, unsigned window,
		       unsigned min_rounds)
{
	uint32_t age;
	unsigned mask;

	if (page >= t->npages || !t->last[page] || window == 0)
		return false;
	if (window > 8)
		window = 8;
	age = (uint32_t)t->round - t->last[page];
	if (age >= window)
		return false;
	mask = ((unsigned)t->hist[page] << age) & ((1u << window) - 1);
	return (unsigned)__builtin_popcount(mask) >= min_rounds;
}

uint64_t dl_tracker_memory_bytes(const dl_tracker *t)
{
	return t->npages * (sizeof(*t->sent) + sizeof(*t->count) +
			    sizeof(*t->hist) + sizeof(*t->last) +
			    sizeof(*t->seen)) +
	       t->nwords * sizeof(*t->dirty) + t->impl_bytes;
}

bool dl_measure_dirty_rate(const dl_ram *ram, const dl_tracker_opts *o,
			   int ms, dl_round_stats *st, qm_error *err)
{
	uint8_t seed[DL_SECRET_SIZE];
	dl_tracker_opts mo = *o;
	dl_tracker *t;
	dl_hasher h;
	bool ok;

	if (ms <= 0)
		return qm_error_set(err, QM_ERR_INVAL,
				    "measurement interval %d ms must be > 0", ms);
	if (!dl_hasher_init_random(&h, seed, err))
		return false;
	mo.assume_dest_zero = true;
	/* A soft-dirty tracker here would clear the bits a migration's own
	 * soft-dirty tracker of the same QEMU relies on. */
	mo.kind = DL_TRACKER_HASH_SCAN;
	t = dl_tracker_new(ram, &h, &mo, err);
	if (!t)
		return false;
	ok = dl_tracker_round(t, DL_ROUND_ADOPT, st, err);
	if (ok) {
		usleep((useconds_t)ms * 1000);
		ok = dl_tracker_round(t, DL_ROUND_ADOPT, st, err);
	}
	dl_tracker_free(t);
	return ok;
}
