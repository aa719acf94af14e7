/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the soft-dirty tracker's pure parts, on hand-drawn data:
 * pagemap entry classification, window-by-window reading through a fake
 * pagemap, finding a backend's mappings in synthetic /proc/PID/maps text,
 * and the reasons soft-dirty is refused before any kernel is asked. The
 * tracker against a real kernel runs in tests/integration/kernelvm.
 */
#include "tests/qmig_test.h"
#include "dirtylog/dirtylog.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define P (1ULL << DL_PM_PRESENT_BIT)
#define SW (1ULL << DL_PM_SWAPPED_BIT)
#define SD (1ULL << DL_PM_SOFT_DIRTY_BIT)
#define FILEPG (1ULL << 61)
#define EXCL (1ULL << 56)

static bool bit(const uint64_t *bm, uint64_t b)
{
	return (bm[b / 64] >> (b % 64)) & 1;
}

/* Each combination of present / swapped / soft-dirty / frame change gives
 * the documented verdict, bits land at bit0 + i across a word boundary,
 * tags are updated, and the same entries read again without soft-dirty
 * bits give no candidate. */
static void test_classify(void **state)
{
	static const struct {
		uint64_t entry;
		uint32_t tag_before;
		bool cand;
	} c[] = {
		{ 0, 0, false },                        /* absent, unchanged */
		{ P | 0x1234, 0x80001234u, false },     /* present, same frame */
		{ P | SD | 0x1234, 0x80001234u, true }, /* written */
		{ SW | SD | (7 << 5), 0x40000000u, true }, /* swapped, written */
		{ SW | (9 << 5), 0, true },             /* swapped out since */
		{ P | 0x99, 0x80000098u, true },        /* other frame */
		{ 0, 0x80000042u, true },               /* zapped since */
		{ SD, 0, true },                        /* hole in new VMA */
		{ P | FILEPG | EXCL | 0x77, 0, true },  /* faulted in since */
		{ P | FILEPG | EXCL | 0x77, 0x80000077u, false },
	};
	uint64_t ent[QM_ARRAY_SIZE(c)], cand[2] = { 0 }, again[2] = { 0 };
	uint32_t tag[QM_ARRAY_SIZE(c)];
	dl_pm_counts n = { 0 };
	size_t want = 0;

	for (size_t i = 0; i < QM_ARRAY_SIZE(c); i++) {
		ent[i] = c[i].entry;
		tag[i] = c[i].tag_before;
		want += c[i].cand;
	}
	assert_int_equal(dl_pagemap_classify(ent, QM_ARRAY_SIZE(c), tag, cand,
					     60, &n), want);
	for (size_t i = 0; i < QM_ARRAY_SIZE(c); i++) {
		if (bit(cand, 60 + i) != c[i].cand)
			fail_msg("entry %zu: candidate %d, want %d", i,
				 bit(cand, 60 + i), c[i].cand);
	}
	assert_int_equal(cand[0] & ((1ULL << 60) - 1), 0);
	assert_int_equal(n.entries, QM_ARRAY_SIZE(c));
	assert_int_equal(n.soft_dirty, 3);
	assert_int_equal(n.moved, 4);
	assert_int_equal(n.present, 5);
	assert_int_equal(n.swapped, 2);
	assert_int_equal(tag[5], 0x80000099u);
	assert_int_equal(tag[6], 0);
	for (size_t i = 0; i < QM_ARRAY_SIZE(c); i++)
		ent[i] &= ~SD;
	assert_int_equal(dl_pagemap_classify(ent, QM_ARRAY_SIZE(c), tag, again,
					     60, &n), 0);
	assert_int_equal(again[0] | again[1], 0);
}

/* A fake /proc/PID/pagemap: entries for virtual pages [base, base + n). */
typedef struct fake_pm {
	const uint64_t *ent;
	uint64_t base, n;
	size_t max_per_read;      /* 0 = no limit: serve what is asked */
	int fail_at_call;         /* 1-based call that returns fail_rc */
	long fail_rc;
	int calls;
	uint64_t call_vpage[16];
	size_t call_n[16];
} fake_pm;

static long fake_read(void *opaque, uint64_t *buf, size_t n, uint64_t vpage)
{
	fake_pm *f = opaque;
	int k = f->calls++;

	if (k < 16) {
		f->call_vpage[k] = vpage;
		f->call_n[k] = n;
	}
	if (f->fail_at_call == k + 1)
		return f->fail_rc;
	assert_true(vpage >= f->base && vpage + n <= f->base + f->n);
	if (f->max_per_read && n > f->max_per_read)
		n = f->max_per_read;
	memcpy(buf, f->ent + (vpage - f->base), n * sizeof(*buf));
	return (long)n;
}

#define FAKE_N 1200
#define BASE 0x7f0000000ULL       /* a virtual page number */

static uint64_t fake_ent[FAKE_N];

/* Soft-dirty pages around a window boundary and at both ends of a range
 * that starts 7 pages into the fake and is not a multiple of the window. */
static const uint64_t sd_at[] = { 7, 518, 519, 520, 1006 };

static void fill_fake(void)
{
	for (uint64_t i = 0; i < FAKE_N; i++)
		fake_ent[i] = P | (0x1000 + i);
	for (size_t i = 0; i < QM_ARRAY_SIZE(sd_at); i++)
		fake_ent[sd_at[i]] |= SD;
}

/* Run a scan of 1000 pages from BASE + 7 with window 512 over @f; return
 * the candidate bitmap (bit 3 = first page). Tags start as "unchanged". */
static bool scan_fake(fake_pm *f, uint64_t *cand, dl_pm_counts *n,
		      qm_error *err)
{
	static uint64_t buf[512];
	static uint32_t tag[1000];

	for (int i = 0; i < 1000; i++)
		tag[i] = 0x80000000u | (uint32_t)(0x1000 + 7 + i);
	return dl_pagemap_scan(fake_read, f, BASE + 7, 1000, buf, 512, tag,
			       cand, 3, n, err);
}

/* One read per window: [7, 519) then [519, 1007); candidates are exactly
 * the soft-dirty pages, shifted by the bitmap offset, on both sides of the
 * window boundary. */
static void test_scan_windows(void **state)
{
	fake_pm f = { .ent = fake_ent, .base = BASE, .n = FAKE_N };
	uint64_t cand[17] = { 0 };
	dl_pm_counts n = { 0 };
	qm_error err = QM_ERROR_INIT;
	uint64_t total = 0;

	fill_fake();
	assert_true(scan_fake(&f, cand, &n, &err));
	assert_int_equal(f.calls, 2);
	assert_int_equal(n.reads, 2);
	assert_int_equal(f.call_vpage[0], BASE + 7);
	assert_int_equal(f.call_n[0], 512);
	assert_int_equal(f.call_vpage[1], BASE + 519);
	assert_int_equal(f.call_n[1], 488);
	assert_int_equal(n.entries, 1000);
	assert_int_equal(n.soft_dirty, QM_ARRAY_SIZE(sd_at));
	assert_int_equal(n.moved, 0);
	for (size_t i = 0; i < QM_ARRAY_SIZE(sd_at); i++)
		assert_true(bit(cand, 3 + sd_at[i] - 7));
	for (size_t w = 0; w < QM_ARRAY_SIZE(cand); w++)
		total += (uint64_t)__builtin_popcountll(cand[w]);
	assert_int_equal(total, QM_ARRAY_SIZE(sd_at));
}

/* A short read is continued from where it stopped with the same result. */
static void test_scan_short_reads(void **state)
{
	fake_pm f = { .ent = fake_ent, .base = BASE, .n = FAKE_N,
		      .max_per_read = 300 };
	uint64_t cand[17] = { 0 };
	dl_pm_counts n = { 0 };

	fill_fake();
	assert_true(scan_fake(&f, cand, &n, NULL));
	assert_int_equal(f.calls, 4);              /* 300, 300, 300, 100 */
	assert_int_equal(f.call_vpage[1], BASE + 7 + 300);
	assert_int_equal(f.call_n[1], 512);
	assert_int_equal(f.call_n[3], 100);
	assert_int_equal(n.entries, 1000);
	assert_int_equal(n.soft_dirty, QM_ARRAY_SIZE(sd_at));
	assert_true(bit(cand, 3 + 519 - 7));
}

/* A failing read and an empty read are errors naming the virtual address
 * of the window; a window of 0 entries is refused. */
static void test_scan_errors(void **state)
{
	fake_pm f = { .ent = fake_ent, .base = BASE, .n = FAKE_N,
		      .fail_at_call = 2, .fail_rc = -EIO };
	uint64_t cand[17] = { 0 }, buf[4];
	uint32_t tag[4] = { 0 };
	dl_pm_counts n = { 0 };
	qm_error err = QM_ERROR_INIT;
	char addr[32];

	fill_fake();
	assert_false(scan_fake(&f, cand, &n, &err));
	assert_int_equal(err.code, QM_ERR_IO);
	assert_int_equal(err.sys_errno, EIO);
	snprintf(addr, sizeof(addr), "0x%llx",
		 (unsigned long long)((BASE + 519) << DL_PAGE_SHIFT));
	assert_non_null(strstr(err.msg, addr));

	qm_error_clear(&err);
	f.calls = 0;
	f.fail_rc = 0;
	assert_false(scan_fake(&f, cand, &n, &err));
	assert_int_equal(err.code, QM_ERR_IO);
	assert_non_null(strstr(err.msg, "got 0"));

	qm_error_clear(&err);
	assert_false(dl_pagemap_scan(fake_read, &f, BASE, 4, buf, 0, tag, cand,
				     0, &n, &err));
	assert_int_equal(err.code, QM_ERR_INVAL);
}

/* The text of a QEMU maps file: a memfd backend of 1024 pages split into
 * two VMAs (listed out of order), a private mapping of the same file, and
 * lookalikes that differ in device or inode. */
static const char maps_text[] =
	"55d0c0000000-55d0c0100000 r-xp 00000000 fd:01 123 /usr/bin/qemu\n"
	"7f0000200000-7f0000400000 rw-s 00200000 00:01 4242 /memfd:ram0 (deleted)\n"
	"this line is not a maps line\n"
	"7f0000000000-7f0000200000 rw-s 00000000 00:01 4242 /memfd:ram0 (deleted)\n"
	"7f1000000000-7f1000400000 rw-p 00000000 00:01 4242 /memfd:ram0 (deleted)\n"
	"7f2000000000-7f2000400000 rw-s 00000000 00:02 4242 /other-dev\n"
	"7f3000000000-7f3000400000 rw-s 00000000 00:01 4243 /other-inode\n"
	"7f4000000000-7f4000400000 rw-s 00000000 103:05 4242 /big-dev\n"
	"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]\n";

/* Both VMAs are found, sorted by file page, with their addresses; the
 * private mapping and the lookalikes are ignored; device numbers above
 * 0xff match. */
static void test_maps_find(void **state)
{
	dl_map_seg s[4];
	qm_error err = QM_ERROR_INIT;

	assert_int_equal(dl_maps_find(maps_text, 0, 1, 4242, 1024, s, 4, &err),
			 2);
	assert_int_equal(s[0].vaddr, 0x7f0000000000ULL);
	assert_int_equal(s[0].page, 0);
	assert_int_equal(s[0].npages, 512);
	assert_int_equal(s[1].vaddr, 0x7f0000200000ULL);
	assert_int_equal(s[1].page, 512);
	assert_int_equal(s[1].npages, 512);
	/* A file smaller than the mapping: the tail is clipped. */
	assert_int_equal(dl_maps_find(maps_text, 0, 1, 4242, 700, s, 4, &err),
			 2);
	assert_int_equal(s[1].npages, 188);
	assert_int_equal(dl_maps_find(maps_text, 0x103, 5, 4242, 1024, s, 4,
				      &err), 1);
	assert_int_equal(s[0].vaddr, 0x7f4000000000ULL);
	assert_false(qm_error_is_set(&err));
}

/* Each way a backend can be badly mapped gives its own error naming the
 * pages: not mapped at all (only privately), a part missing, a page mapped
 * twice, too many pieces. */
static void test_maps_find_errors(void **state)
{
	static const char twice[] =
		"7f0000000000-7f0000400000 rw-s 00000000 00:01 9 /f\n"
		"7f5000000000-7f5000001000 rw-s 00100000 00:01 9 /f\n";
	static const char gap[] =
		"7f0000200000-7f0000400000 rw-s 00200000 00:01 9 /f\n";
	dl_map_seg s[4];
	qm_error err = QM_ERROR_INIT;

	assert_int_equal(dl_maps_find(maps_text, 0, 1, 4242, 2048, s, 4, &err),
			 -1);
	assert_int_equal(err.code, QM_ERR_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "pages 1024-2047 are not mapped"));
	qm_error_clear(&err);
	assert_int_equal(dl_maps_find(twice, 0, 1, 9, 1024, s, 4, &err), -1);
	assert_non_null(strstr(err.msg, "page 256 is mapped twice"));
	qm_error_clear(&err);
	assert_int_equal(dl_maps_find(gap, 0, 1, 9, 1024, s, 4, &err), -1);
	assert_non_null(strstr(err.msg, "pages 0-511 are not mapped"));
	qm_error_clear(&err);
	assert_int_equal(dl_maps_find(maps_text, 0, 1, 4242, 1024, s, 1, &err),
			 -1);
	assert_int_equal(err.code, QM_ERR_TOO_BIG);
	qm_error_clear(&err);
	assert_int_equal(dl_maps_find(maps_text, 0, 1, 77, 16, s, 4, &err),
			 -1);
	assert_int_equal(err.code, QM_ERR_NOTFOUND);
	assert_non_null(strstr(err.msg, "inode 77 is not mapped shared"));
	qm_error_clear(&err);
	/* Only the private mapping left: still not found, and it says so. */
	assert_int_equal(dl_maps_find(strstr(maps_text, "7f1000000000"), 0, 1,
				      4242, 16, s, 4, &err), -1);
	assert_non_null(strstr(err.msg, "(1 private mappings)"));
}

static bool no_freeze(void *opaque, bool stop, qm_error *err)
{
	return true;
}

/* Soft-dirty is refused for configuration reasons before the kernel is
 * probed, so the reason is the same on every host: no QEMU pid, no freeze
 * hook. AUTO falls back to hash-scan keeping the reason; SOFT_DIRTY fails
 * with it. With both given, the reason (if any) comes from the kernel. */
static void test_refusal_reasons(void **state)
{
	char path[64];
	dl_tracker_opts o = { .kind = DL_TRACKER_AUTO, .threads = 1 };
	qm_error err = QM_ERROR_INIT;
	dl_hasher h;
	dl_tracker *t;
	dl_ram ram;
	int fd;

	unsetenv("QMIG_SOFT_DIRTY");
	snprintf(path, sizeof(path), "/dev/shm/qmig-unit-sd-%d", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0 && ftruncate(fd, 16 * DL_PAGE_SIZE) == 0);
	close(fd);
	dl_ram_init(&ram);
	assert_true(dl_ram_add_file(&ram, "ram0", path, 16 * DL_PAGE_SIZE, 0,
				    NULL));
	unlink(path);
	assert_true(dl_hasher_init(&h, "k", 1, NULL));

	t = dl_tracker_new(&ram, &h, &o, NULL);
	assert_string_equal(dl_tracker_name(t), "hash-scan");
	assert_non_null(strstr(dl_tracker_fallback_reason(t), "no QEMU pid"));
	dl_tracker_free(t);

	o.qemu_pid = getpid();
	t = dl_tracker_new(&ram, &h, &o, NULL);
	assert_string_equal(dl_tracker_name(t), "hash-scan");
	assert_non_null(strstr(dl_tracker_fallback_reason(t),
			       "no freeze hook"));
	dl_tracker_free(t);

	o.kind = DL_TRACKER_SOFT_DIRTY;
	assert_null(dl_tracker_new(&ram, &h, &o, &err));
	assert_int_equal(err.code, QM_ERR_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "soft-dirty tracker: no freeze hook"));

	/* With everything given, only the kernel can say no. */
	o.kind = DL_TRACKER_AUTO;
	o.freeze = no_freeze;
	t = dl_tracker_new(&ram, &h, &o, NULL);
	assert_non_null(t);
	printf("# with pid and freeze hook: %s (%s)\n", dl_tracker_name(t),
	       dl_tracker_fallback_reason(t));
	assert_null(strstr(dl_tracker_fallback_reason(t), "freeze"));
	dl_tracker_free(t);
	dl_ram_close(&ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_scan_windows),
		cmocka_unit_test(test_scan_short_reads),
		cmocka_unit_test(test_scan_errors),
		cmocka_unit_test(test_maps_find),
		cmocka_unit_test(test_maps_find_errors),
		cmocka_unit_test(test_refusal_reasons),
	};
	return cmocka_run_group_tests_name("/dirtylog/softdirty", tests, NULL,
					   NULL);
}
