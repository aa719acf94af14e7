/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of dirtylog: keyed page hashes, RAM regions and their extents,
 * and the hash-scan tracker's rounds, runs and history, on tmpfs files made
 * by the test.
 */
#include "tests/qmig_test.h"
#include "dirtylog/dirtylog.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1ULL << 20)

typedef struct fixture {
	char paths[2][64];
	int nfiles;
	dl_ram ram;
	dl_hasher h;
} fixture;

static const uint8_t seed_a[] = "migration-a";
static const uint8_t seed_b[] = "migration-b";

/* Create a tmpfs file of @size bytes (sparse) and map it as a region. */
static void add_region(fixture *f, const char *id, uint64_t size)
{
	qm_error err = QM_ERROR_INIT;
	char *path = f->paths[f->nfiles++];
	int fd;

	snprintf(path, 64, "/dev/shm/qmig-unit-%d-%d.ram", (int)getpid(),
		 f->nfiles);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
	assert_true(dl_ram_add_file(&f->ram, id, path, size, DL_MAP_WRITE, &err));
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	dl_ram_init(&f->ram);
	assert_true(dl_hasher_init(&f->h, seed_a, sizeof(seed_a), NULL));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	dl_ram_close(&f->ram);
	for (int i = 0; i < f->nfiles; i++)
		unlink(f->paths[i]);
	free(f);
	return 0;
}

static void write_page(fixture *f, uint64_t page, uint32_t value)
{
	uint8_t *p = dl_ram_page(&f->ram, page);

	assert_non_null(p);
	memcpy(p + 64, &value, sizeof(value));
}

static uint64_t file_blocks(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_blocks;
}

/* The same page hashes the same under one secret, differently under two
 * migrations' secrets; the zero hash is the hash of a zero page. */
static void test_hash_keyed(void **state)
{
	static uint8_t page[DL_PAGE_SIZE], zero[DL_PAGE_SIZE];
	dl_hasher a, a2, b;

	memset(page, 0x5a, sizeof(page));
	assert_true(dl_hasher_init(&a, seed_a, sizeof(seed_a), NULL));
	assert_true(dl_hasher_init(&a2, seed_a, sizeof(seed_a), NULL));
	assert_true(dl_hasher_init(&b, seed_b, sizeof(seed_b), NULL));
	assert_true(dl_hash_eq(dl_hash_page(&a, page), dl_hash_page(&a2, page)));
	assert_false(dl_hash_eq(dl_hash_page(&a, page), dl_hash_page(&b, page)));
	assert_true(dl_hash_eq(a.zero, dl_hash_page(&a, zero)));
	assert_false(dl_hash_eq(a.zero, b.zero));
	assert_false(dl_hasher_init(&a, seed_a, 0, NULL));
}

/* What each migration does (agent/mig-source.c, mig-compat.c): a fresh
 * random secret. Two migrations hash the same pages differently, so a
 * pair of colliding pages a guest might find under one migration's key
 * means nothing under the next; the destination, given the seed, agrees
 * with the source. */
static void test_hash_random_per_migration(void **state)
{
	static uint8_t pages[4][DL_PAGE_SIZE];
	uint8_t s1[DL_SECRET_SIZE], s2[DL_SECRET_SIZE];
	dl_hasher m1, m2, dest;

	for (int i = 0; i < 4; i++)
		memset(pages[i], 0x11 * (i + 1), DL_PAGE_SIZE);
	assert_true(dl_hasher_init_random(&m1, s1, NULL));
	assert_true(dl_hasher_init_random(&m2, s2, NULL));
	assert_memory_not_equal(s1, s2, DL_SECRET_SIZE);
	assert_memory_not_equal(m1.secret, m2.secret, DL_SECRET_SIZE);
	assert_true(dl_hasher_init(&dest, s1, sizeof(s1), NULL));
	for (int i = 0; i < 4; i++) {
		dl_hash h1 = dl_hash_page(&m1, pages[i]);

		assert_false(dl_hash_eq(h1, dl_hash_page(&m2, pages[i])));
		assert_true(dl_hash_eq(h1, dl_hash_page(&dest, pages[i])));
	}
	assert_false(dl_hash_eq(m1.zero, m2.zero));
}

/* A single set bit anywhere in the page makes it non-zero. */
static void test_page_is_zero(void **state)
{
	static uint8_t page[DL_PAGE_SIZE];

	assert_true(dl_page_is_zero(page));
	for (unsigned i = 0; i < DL_PAGE_SIZE; i += 97) {
		page[i] = 0x80;
		assert_false(dl_page_is_zero(page));
		page[i] = 0;
	}
	page[DL_PAGE_SIZE - 1] = 1;
	assert_false(dl_page_is_zero(page));
}

/* A backend whose file size differs from QEMU's is refused, naming both
 * sizes; a missing file names the path. */
static void test_ram_wrong_size_and_missing(void **state)
{
	fixture *f = *state;
	qm_error err = QM_ERROR_INIT;

	add_region(f, "ram0", 1 * MIB);
	assert_false(dl_ram_add_file(&f->ram, "ram1", f->paths[0], 2 * MIB, 0,
				     &err));
	assert_int_equal(err.code, QM_ERR_INVAL);
	assert_non_null(strstr(err.msg, "1048576 bytes"));
	assert_non_null(strstr(err.msg, "2097152 bytes"));
	qm_error_clear(&err);
	assert_false(dl_ram_add_file(&f->ram, "ram1", "/dev/shm/qmig-no-such",
				     MIB, 0, &err));
	assert_int_equal(err.code, QM_ERR_IO);
	assert_non_null(strstr(err.msg, "/dev/shm/qmig-no-such"));
	qm_error_clear(&err);
	assert_false(dl_ram_add_file(&f->ram, "ram1", f->paths[0], 1000, 0,
				     &err));
	assert_int_equal(err.code, QM_ERR_INVAL);
	assert_int_equal(f->ram.nregions, 1);
}

/* Regions of odd page counts are numbered back to back; lookups at every
 * boundary land in the right region and out-of-range pages give NULL. */
static void test_ram_page_numbering(void **state)
{
	fixture *f = *state;

	add_region(f, "ram0", 3 * DL_PAGE_SIZE);
	add_region(f, "ram1", 5 * DL_PAGE_SIZE);
	assert_int_equal(f->ram.npages, 8);
	assert_string_equal(dl_ram_region_of(&f->ram, 2)->id, "ram0");
	assert_string_equal(dl_ram_region_of(&f->ram, 3)->id, "ram1");
	assert_string_equal(dl_ram_region_of(&f->ram, 7)->id, "ram1");
	assert_null(dl_ram_region_of(&f->ram, 8));
	assert_ptr_equal(dl_ram_page(&f->ram, 3), f->ram.regions[1].base);
	assert_null(dl_ram_page(&f->ram, 8));
}

/* SEEK_DATA extents: a sparse file reports exactly its written pages. */
static void test_region_extents(void **state)
{
	fixture *f = *state;
	uint64_t s, e;

	add_region(f, "ram0", 1 * MIB);
	assert_int_equal(dl_region_next_data(&f->ram.regions[0], 0, &s, &e), 0);
	write_page(f, 10, 1);
	write_page(f, 11, 1);
	write_page(f, 200, 1);
	assert_int_equal(dl_region_next_data(&f->ram.regions[0], 0, &s, &e), 1);
	assert_int_equal(s, 10);
	assert_int_equal(e, 12);
	assert_int_equal(dl_region_next_data(&f->ram.regions[0], 12, &s, &e), 1);
	assert_int_equal(s, 200);
	assert_int_equal(e, 201);
	assert_int_equal(dl_region_next_data(&f->ram.regions[0], 201, &s, &e), 0);
}

static dl_tracker *new_tracker(fixture *f, int threads, bool assume_zero)
{
	dl_tracker_opts o = { .kind = DL_TRACKER_HASH_SCAN, .threads = threads,
			      .assume_dest_zero = assume_zero };
	qm_error err = QM_ERROR_INIT;
	dl_tracker *t = dl_tracker_new(&f->ram, &f->h, &o, &err);

	assert_non_null(t);
	assert_string_equal(dl_tracker_name(t), "hash-scan");
	return t;
}

static void round_ok(dl_tracker *t, unsigned flags, dl_round_stats *st)
{
	qm_error err = QM_ERROR_INIT;

	assert_true(dl_tracker_round(t, flags, st, &err));
}

/* Round 0 against a zero destination reports only non-zero pages; nothing
 * is reported again once marked sent; rewriting the same bytes is not a
 * change; zeroing a page is a change to zero. Holes are never read (the
 * file's allocation does not grow). */
static void test_scan_rounds(void **state)
{
	fixture *f = *state;
	dl_round_stats st;
	dl_tracker *t;
	uint64_t blocks;

	add_region(f, "ram0", 4 * MIB);
	write_page(f, 0, 7);
	write_page(f, 511, 7);
	write_page(f, 512, 7);
	write_page(f, 1023, 9);
	blocks = file_blocks(f->paths[0]);
	t = new_tracker(f, 2, true);
	round_ok(t, DL_ROUND_ADOPT, &st);
	assert_int_equal(st.round, 0);
	assert_int_equal(st.pages_dirty, 4);
	assert_int_equal(st.pages_scanned, 4);
	assert_int_equal(st.pages_holes, 1024 - 4);
	assert_true(dl_tracker_is_dirty(t, 511) && dl_tracker_is_dirty(t, 512));
	assert_int_equal(file_blocks(f->paths[0]), blocks);

	round_ok(t, DL_ROUND_ADOPT, &st);
	assert_int_equal(st.pages_dirty, 0);

	write_page(f, 511, 7);           /* same bytes: no change */
	write_page(f, 512, 8);           /* change */
	memset(dl_ram_page(&f->ram, 1023), 0, DL_PAGE_SIZE); /* to zero */
	round_ok(t, DL_ROUND_ADOPT, &st);
	assert_int_equal(st.pages_dirty, 2);
	assert_int_equal(st.pages_dirty_zero, 1);
	assert_false(dl_tracker_is_dirty(t, 511));
	assert_true(dl_tracker_is_dirty(t, 512));
	assert_true(dl_tracker_is_dirty(t, 1023));
	assert_true(st.interval_ns > 0);
	dl_tracker_free(t);
}

/* Without the zero assumption every page is reported in round 0. */
static void test_scan_no_zero_assumption(void **state)
{
	fixture *f = *state;
	dl_round_stats st;
	dl_tracker *t;

	add_region(f, "ram0", 1 * MIB);
	t = new_tracker(f, 1, false);
	round_ok(t, 0, &st);
	assert_int_equal(st.pages_dirty, 256);
	assert_int_equal(st.pages_dirty_zero, 256);
	/* Not adopted and not marked sent: still dirty next round. */
	round_ok(t, 0, &st);
	assert_int_equal(st.pages_dirty, 256);
	dl_tracker_free(t);
}

/* mark_sent with the hash of what was sent clears the page for the next
 * round; with a stale hash the page stays dirty. */
static void test_mark_sent(void **state)
{
	fixture *f = *state;
	dl_round_stats st;
	dl_tracker *t;

	add_region(f, "ram0", 1 * MIB);
	write_page(f, 5, 1);
	write_page(f, 6, 1);
	t = new_tracker(f, 1, true);
	round_ok(t, 0, &st);
	assert_int_equal(st.pages_dirty, 2);
	dl_tracker_mark_sent(t, 5, dl_hash_page(&f->h, dl_ram_page(&f->ram, 5)));
	dl_tracker_mark_sent(t, 6, f->h.zero);
	round_ok(t, 0, &st);
	assert_int_equal(st.pages_dirty, 1);
	assert_true(dl_tracker_is_dirty(t, 6));
	assert_true(dl_hash_eq(dl_tracker_sent_hash(t, 6), f->h.zero));
	dl_tracker_free(t);
}

/* Runs coalesce adjacent dirty pages across bitmap words, chunks and
 * regions of odd sizes, and end exactly at the last page. */
static void test_runs(void **state)
{
	static const uint64_t pages[] = { 0, 1, 2, 63, 64, 65, 130, 511, 512,
					  600, 601, 602, 603, 604, 605, 606 };
	static const uint64_t want[][2] = { { 0, 3 }, { 63, 3 }, { 130, 1 },
					    { 511, 2 }, { 600, 7 } };
	fixture *f = *state;
	uint64_t cursor = 0, s, l;
	dl_round_stats st;
	dl_tracker *t;
	size_t i = 0;

	add_region(f, "ram0", 601 * DL_PAGE_SIZE); /* odd size */
	add_region(f, "ram1", 6 * DL_PAGE_SIZE);   /* 601..606 */
	for (size_t k = 0; k < QM_ARRAY_SIZE(pages); k++)
		write_page(f, pages[k], 3);
	t = new_tracker(f, 2, true);
	round_ok(t, 0, &st);
	assert_int_equal(st.pages_dirty, QM_ARRAY_SIZE(pages));
	while (dl_tracker_next_run(t, &cursor, &s, &l)) {
		assert_true(i < QM_ARRAY_SIZE(want));
		assert_int_equal(s, want[i][0]);
		assert_int_equal(l, want[i][1]);
		i++;
	}
	assert_int_equal(i, QM_ARRAY_SIZE(want));
	assert_int_equal(cursor, 607);
	dl_tracker_free(t);
}

/* One and two scan threads find the same bitmap. */
static void test_threads_agree(void **state)
{
	fixture *f = *state;
	dl_tracker *t1, *t2;
	dl_round_stats st;

	add_region(f, "ram0", 16 * MIB);
	for (uint64_t p = 0; p < 4096; p += 7)
		write_page(f, p, (uint32_t)p + 1);
	t1 = new_tracker(f, 1, true);
	t2 = new_tracker(f, 2, true);
	round_ok(t1, 0, &st);
	round_ok(t2, 0, &st);
	assert_int_equal(st.pages_dirty, (4096 + 6) / 7);
	assert_memory_equal(dl_tracker_dirty_bitmap(t1),
			    dl_tracker_dirty_bitmap(t2), 4096 / 8);
	dl_tracker_free(t1);
	dl_tracker_free(t2);
}

/* History: counts, last round, and hot classification over a window. */
static void test_history_hot(void **state)
{
	fixture *f = *state;
	dl_round_stats st;
	dl_tracker *t;

	add_region(f, "ram0", 1 * MIB);
	t = new_tracker(f, 1, true);
	for (uint32_t r = 0; r < 4; r++) {
		write_page(f, 1, r + 1);          /* dirty every round */
		if (r == 0)
			write_page(f, 2, 1);      /* dirty once */
		round_ok(t, DL_ROUND_ADOPT, &st);
	}
	assert_int_equal(dl_tracker_dirty_count(t, 1), 4);
	assert_int_equal(dl_tracker_dirty_count(t, 2), 1);
	assert_int_equal(dl_tracker_last_dirty_round(t, 1), 3);
	assert_int_equal(dl_tracker_last_dirty_round(t, 2), 0);
	assert_true(dl_tracker_is_hot(t, 1, 4, 3));
	assert_false(dl_tracker_is_hot(t, 2, 4, 2));
	assert_false(dl_tracker_is_hot(t, 2, 3, 1)); /* outside the window */
	assert_true(dl_tracker_is_hot(t, 2, 4, 1));
	assert_false(dl_tracker_is_hot(t, 3, 8, 1)); /* never dirty */
	dl_tracker_free(t);
}

/* A page written once and then held back unsent stays dirty every round
 * but is not "written" again: its history does not grow, it cools off,
 * and the dirty rate counts only new writes. */
static void test_held_back_cools(void **state)
{
	fixture *f = *state;
	dl_round_stats st;
	dl_tracker *t;

	add_region(f, "ram0", 1 * MIB);
	t = new_tracker(f, 1, true);
	write_page(f, 9, 1);
	round_ok(t, 0, &st);
	assert_int_equal(st.pages_changed, 1);
	for (int r = 0; r < 4; r++) {
		round_ok(t, 0, &st);           /* never marked sent */
		assert_true(dl_tracker_is_dirty(t, 9));
		assert_int_equal(st.pages_dirty, 1);
		assert_int_equal(st.pages_changed, 0);
		assert_true(st.dirty_pages_per_s == 0);
	}
	assert_int_equal(dl_tracker_dirty_count(t, 9), 1);
	assert_false(dl_tracker_is_hot(t, 9, 4, 1));
	write_page(f, 9, 2);
	round_ok(t, 0, &st);
	assert_int_equal(st.pages_changed, 1);
	assert_int_equal(dl_tracker_dirty_count(t, 9), 2);
	dl_tracker_free(t);
}

/* Per-page state stays within 1% of guest RAM. */
static void test_memory_budget(void **state)
{
	fixture *f = *state;
	dl_tracker *t;

	add_region(f, "ram0", 64 * MIB);
	t = new_tracker(f, 1, true);
	assert_true(dl_tracker_memory_bytes(t) * 100 <= 64 * MIB);
	dl_tracker_free(t);
}

/* The destination-side hash of a range matches page-by-page hashing,
 * holes hash as zero, and an out-of-range request is refused. */
static void test_hash_pages(void **state)
{
	fixture *f = *state;
	qm_error err = QM_ERROR_INIT;
	dl_hash out[8];

	add_region(f, "ram0", 4 * DL_PAGE_SIZE);
	add_region(f, "ram1", 4 * DL_PAGE_SIZE);
	write_page(f, 3, 1);
	write_page(f, 4, 2);
	assert_true(dl_ram_hash_pages(&f->ram, &f->h, 0, 8, out, &err));
	for (int p = 0; p < 8; p++)
		assert_true(dl_hash_eq(out[p], dl_hash_page(&f->h,
					dl_ram_page(&f->ram, p))));
	assert_true(dl_hash_eq(out[0], f->h.zero));
	assert_false(dl_hash_eq(out[3], f->h.zero));
	assert_false(dl_ram_hash_pages(&f->ram, &f->h, 6, 3, out, &err));
	assert_int_equal(err.code, QM_ERR_INVAL);
}

/* Hashing through the descriptors (pread) agrees with a view across two
 * regions and runs longer than one read, and reads holes as zero pages
 * without allocating them. */
static void test_hash_pread(void **state)
{
	fixture *f = *state;
	qm_error err = QM_ERROR_INIT;
	dl_hash viewed[40], read[40];
	uint64_t blocks[2];
	dl_ram_view v;

	add_region(f, "ram0", 20 * DL_PAGE_SIZE);
	add_region(f, "ram1", 20 * DL_PAGE_SIZE);
	write_page(f, 3, 1);
	write_page(f, 17, 2);
	write_page(f, 19, 3);
	write_page(f, 20, 4);
	write_page(f, 39, 5);
	blocks[0] = file_blocks(f->paths[0]);
	blocks[1] = file_blocks(f->paths[1]);
	assert_true(dl_ram_view_open(&v, &f->ram, &err));
	assert_true(dl_ram_view_hash(&v, &f->h, 0, 40, viewed, &err));
	dl_ram_view_close(&v);
	assert_true(dl_ram_hash_pread(&f->ram, &f->h, 0, 40, read, &err));
	for (int p = 0; p < 40; p++)
		assert_true(dl_hash_eq(read[p], viewed[p]));
	assert_true(dl_hash_eq(read[0], f->h.zero));
	assert_false(dl_hash_eq(read[39], f->h.zero));
	assert_true(dl_ram_hash_pread(&f->ram, &f->h, 18, 3, read, &err));
	assert_true(dl_hash_eq(read[1], viewed[19]));
	assert_int_equal(file_blocks(f->paths[0]), blocks[0]);
	assert_int_equal(file_blocks(f->paths[1]), blocks[1]);
	assert_false(dl_ram_hash_pread(&f->ram, &f->h, 38, 3, read, &err));
	assert_int_equal(err.code, QM_ERR_INVAL);
}

/* The soft-dirty probe always gives a reason, and the env override forces
 * the hash-scan fallback under AUTO with that reason kept. */
static void test_softdirty_probe_and_fallback(void **state)
{
	fixture *f = *state;
	dl_tracker_opts o = { .kind = DL_TRACKER_AUTO, .threads = 1 };
	char why[256] = "";
	dl_tracker *t;

	dl_softdirty_probe(why, sizeof(why));
	assert_true(strlen(why) > 0);
	printf("# soft-dirty probe: %s\n", why);
	add_region(f, "ram0", 1 * MIB);
	setenv("QMIG_SOFT_DIRTY", "off", 1);
	t = dl_tracker_new(&f->ram, &f->h, &o, NULL);
	unsetenv("QMIG_SOFT_DIRTY");
	assert_non_null(t);
	assert_string_equal(dl_tracker_name(t), "hash-scan");
	assert_non_null(strstr(dl_tracker_fallback_reason(t), "QMIG_SOFT_DIRTY"));
	dl_tracker_free(t);
	/* Soft-dirty demanded but forced off: a clear refusal. */
	setenv("QMIG_SOFT_DIRTY", "off", 1);
	o.kind = DL_TRACKER_SOFT_DIRTY;
	assert_null(dl_tracker_new(&f->ram, &f->h, &o, NULL));
	unsetenv("QMIG_SOFT_DIRTY");
}

/* The pagemap soft-dirty bit is bit 55. */
static void test_pagemap_bits(void **state)
{
	assert_int_equal(dl_pagemap_soft_dirty(1ULL << 55), 1);
	assert_int_equal(dl_pagemap_soft_dirty((1ULL << 63) | (1ULL << 54)), 0);
	assert_int_equal(dl_pagemap_soft_dirty(~0ULL), 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_hash_keyed),
		T(test_hash_random_per_migration),
		T(test_page_is_zero),
		T(test_ram_wrong_size_and_missing),
		T(test_ram_page_numbering),
		T(test_region_extents),
		T(test_scan_rounds),
		T(test_scan_no_zero_assumption),
		T(test_mark_sent),
		T(test_runs),
		T(test_threads_agree),
		T(test_history_hot),
		T(test_memory_budget),
		T(test_held_back_cools),
		T(test_hash_pages),
		T(test_hash_pread),
		T(test_softdirty_probe_and_fallback),
		T(test_pagemap_bits),
	};
	return cmocka_run_group_tests_name("/dirtylog", tests, NULL, NULL);
}
