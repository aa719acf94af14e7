/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of guestlog (the parser of the workload guest's serial output,
 * and the host-side check of its memory) and of the page-content contract
 * the guest and the host share (page.h).
 * Everything is fed synthetic bytes with explicit timestamps, so results
 * do not depend on timing; only /follow touches a real file.
 */
#include "tests/qmig_test.h"
#include "tools/guest/guestlog.h"
#include "tools/guest/page.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000LL	/* ns */

static const char stream[] =
	"INFO memory: image 0x100000-0x108000\n"
	"QMIG-GUEST v1 ws=67108864 pages=16384 base=0x119000 table=0x109000 "
	"rate=5000 pattern=seq zero=0 dup=0 hb=1 tsc_khz=2599638 hot=10 "
	"hotw=90 seed=1 seqaddr=0x107400\n"
	"READY\r\n"
	"HB 1\nHB 2\n"
	"STAT t=1 hb=2 writes=10 checks=20 passes=1 pass_ms=55 corrupt=0\n"
	"\n"
	"CORRUPT 17 gen=3 found=17,2 off=100 kind=normal\n"
	"HB 3\n"
	"bogus line\n"
	"CORRUPT-COUNT 12\n"
	"WARN unknown parameter 'foo' ignored\n"
	"HB 5\n"
	"HB 6";

static void feed_str(gl_log *log, const char *s, int64_t ts)
{
	gl_log_feed(log, s, strlen(s), ts);
}

/* Everything a split could disturb, compared field by field. */
static void assert_same_log(const gl_log *a, const gl_log *b)
{
	assert_int_equal(a->boots, b->boots);
	assert_memory_equal(&a->boot, &b->boot, sizeof(a->boot));
	assert_int_equal(a->ready, b->ready);
	assert_int_equal(a->lines, b->lines);
	assert_int_equal(a->malformed, b->malformed);
	assert_string_equal(a->last_malformed, b->last_malformed);
	assert_int_equal(a->warnings, b->warnings);
	assert_string_equal(a->last_warning, b->last_warning);
	assert_int_equal(a->hb_count, b->hb_count);
	assert_int_equal(a->hb_first.seq, b->hb_first.seq);
	assert_int_equal(a->hb_last.seq, b->hb_last.seq);
	assert_int_equal(a->hb_seq_breaks, b->hb_seq_breaks);
	assert_int_equal(a->corrupt_lines, b->corrupt_lines);
	assert_int_equal(a->corrupt_total, b->corrupt_total);
	assert_int_equal(a->corrupt_kept, b->corrupt_kept);
	assert_memory_equal(a->corrupt, b->corrupt, sizeof(a->corrupt));
	assert_int_equal(a->stats, b->stats);
	assert_int_equal(a->stat.checks, b->stat.checks);
	assert_int_equal(a->partial_len, b->partial_len);
	assert_string_equal(a->partial, b->partial);
}

/* The reference result of the whole stream, fed in one piece. */
static void check_reference(const gl_log *l)
{
	assert_int_equal(l->boots, 1);
	assert_true(l->ready);
	assert_int_equal(l->lines, 12);
	assert_int_equal(l->malformed, 1);
	assert_string_equal(l->last_malformed, "bogus line");
	assert_int_equal(l->hb_count, 4);
	assert_int_equal(l->hb_first.seq, 1);
	assert_int_equal(l->hb_last.seq, 5);
	assert_int_equal(l->hb_seq_breaks, 1);
	assert_int_equal(l->corrupt_lines, 1);
	assert_int_equal(l->corrupt_total, 12);
	assert_int_equal(l->stats, 1);
	assert_int_equal(l->warnings, 1);
	assert_string_equal(l->partial, "HB 6");
}

/* Splitting the stream into two or three chunks at every possible place,
 * or feeding it byte by byte, gives exactly the result of one chunk. */
static void test_split_anywhere(void **state)
{
	size_t len = strlen(stream), i, j;
	gl_log ref, l;

	gl_log_init(&ref, 0);
	gl_log_feed(&ref, stream, len, 0);
	check_reference(&ref);
	for (i = 0; i <= len; i++) {
		for (j = i; j <= len; j++) {
			gl_log_init(&l, 0);
			gl_log_feed(&l, stream, i, 0);
			gl_log_feed(&l, stream + i, j - i, 0);
			gl_log_feed(&l, stream + j, len - j, 0);
			assert_same_log(&ref, &l);
		}
	}
	gl_log_init(&l, 0);
	for (i = 0; i < len; i++)
		gl_log_feed(&l, stream + i, 1, 0);
	assert_same_log(&ref, &l);
}

/* The boot line's fields land in gl_boot; unknown keys are skipped, so
 * the guest may append fields without breaking old hosts. */
static void test_boot_line(void **state)
{
	gl_log l;

	gl_log_init(&l, 0);
	feed_str(&l, "QMIG-GUEST v1 ws=1048576 pages=256 base=0x1A000 "
		 "table=0x109000 rate=0 pattern=hotcold zero=5 dup=7 hb=2 "
		 "tsc_khz=1000 hot=20 hotw=80 seed=9 seqaddr=0x107400 "
		 "future=xyz\n", 0);
	assert_int_equal(l.malformed, 0);
	assert_int_equal(l.boots, 1);
	assert_int_equal(l.boot.version, 1);
	assert_int_equal(l.boot.ws, 1048576);
	assert_int_equal(l.boot.pages, 256);
	assert_int_equal(l.boot.base, 0x1a000);
	assert_int_equal(l.boot.table, 0x109000);
	assert_int_equal(l.boot.seqaddr, 0x107400);
	assert_string_equal(l.boot.pattern, "hotcold");
	assert_int_equal(l.boot.rate, 0);
	assert_int_equal(l.boot.zero, 5);
	assert_int_equal(l.boot.dup, 7);
	assert_int_equal(l.boot.hb_ms, 2);
	assert_int_equal(l.boot.tsc_khz, 1000);
	assert_int_equal(l.boot.hot, 20);
	assert_int_equal(l.boot.hotw, 80);
	assert_int_equal(l.boot.seed, 9);
	assert_false(l.ready);
}

/* Each of these lines is counted as malformed exactly once, and does not
 * disturb the valid lines around it. */
static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"HB", "HB x", "HB 1 2", "HB -1", "HB 99999999999999999999999",
		"HB  ", "hb 1", "READY now", "CORRUPT", "CORRUPT 5 gen=1",
		"CORRUPT x gen=1 found=1,2", "CORRUPT 5 gen=1 found=1",
		"CORRUPT 5 gen=1 found=1,x", "CORRUPT 5 age=1 found=1,2",
		"CORRUPT-COUNT", "CORRUPT-COUNT 1 2", "STAT t=x", "STAT junk",
		"QMIG-GUEST v1 ws=1",
		"QMIG-GUEST x ws=1 pages=1 base=0x1 table=0x1",
		"QMIG-GUEST v1 ws=1 pages=1 base=12 table=0x1",
		"QMIG-GUEST v1 ws=1 pages=1 base=0x table=0x1", "garbage",
		"\x01\x02", " HB 1",
	};
	char line[GL_LINE_MAX + 64];
	gl_log l;
	size_t i;

	gl_log_init(&l, 0);
	for (i = 0; i < QM_ARRAY_SIZE(bad); i++) {
		feed_str(&l, bad[i], 0);
		feed_str(&l, "\nHB 1\n", 0);
		assert_int_equal(l.malformed, i + 1);
		assert_int_equal(l.hb_count, i + 1);
	}
	assert_string_equal(l.last_malformed, " HB 1");
	/* Too long: malformed, truncated copy kept, stream stays in sync. */
	memset(line, 'A', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	feed_str(&l, line, 0);
	feed_str(&l, "\nHB 2\n\r\n\n", 0);
	assert_int_equal(l.malformed, QM_ARRAY_SIZE(bad) + 1);
	assert_int_equal(strlen(l.last_malformed), GL_TEXT_MAX - 1);
	assert_int_equal(l.hb_last.seq, 2);
	assert_int_equal(l.lines, 2 * QM_ARRAY_SIZE(bad) + 2);
}

/* CORRUPT lines keep the first GL_CORRUPT_KEEP pages in order; the total
 * follows the largest of lines seen, CORRUPT-COUNT and STAT corrupt=. */
static void test_corrupt(void **state)
{
	char line[96];
	gl_log l;
	unsigned i;

	gl_log_init(&l, 0);
	for (i = 0; i < 12; i++) {
		snprintf(line, sizeof(line),
			 "CORRUPT %u gen=%u found=%u,%u off=8 kind=normal\n",
			 100 + i, i + 1, 100 + i, i);
		feed_str(&l, line, 0);
	}
	assert_int_equal(l.malformed, 0);
	assert_int_equal(l.corrupt_lines, 12);
	assert_int_equal(l.corrupt_total, 12);
	assert_int_equal(l.corrupt_kept, GL_CORRUPT_KEEP);
	for (i = 0; i < GL_CORRUPT_KEEP; i++) {
		assert_int_equal(l.corrupt[i].page, 100 + i);
		assert_int_equal(l.corrupt[i].gen, i + 1);
		assert_int_equal(l.corrupt[i].w0, 100 + i);
		assert_int_equal(l.corrupt[i].w1, i);
	}
	feed_str(&l, "CORRUPT-COUNT 40\n", 0);
	assert_int_equal(l.corrupt_total, 40);
	feed_str(&l, "STAT t=3 corrupt=41\n", 0);
	assert_int_equal(l.corrupt_total, 41);
	feed_str(&l, "CORRUPT-COUNT 5\n", 0);
	assert_int_equal(l.corrupt_total, 41);
	assert_int_equal(l.corrupt_lines, 12);
}

/* A line is stamped when its first byte arrived, not when it completed. */
static void test_line_ts_is_first_byte(void **state)
{
	gl_log l;

	gl_log_init(&l, 0);
	feed_str(&l, "HB 1", 100);
	feed_str(&l, "0\nHB", 200);
	assert_int_equal(l.hb_last.seq, 10);
	assert_int_equal(l.hb_last.ts, 100);
	assert_int_equal(l.partial_ts, 200);
	feed_str(&l, " 11\n", 900);
	assert_int_equal(l.hb_last.ts, 200);
	assert_string_equal(l.partial, "");
	assert_int_equal(l.hb_max_gap_ns, 100);
	feed_str(&l, "READY\n", 950);
	assert_int_equal(l.ready_ts, 950);
}

/* The largest gap between consecutive stamped heartbeats is found with
 * the beats either side; unknown timestamps make no gap; a jump in seq is
 * counted as a break and the first one is kept. */
static void test_hb_gap_and_breaks(void **state)
{
	char line[32];
	gl_log l;
	int i;

	gl_log_init(&l, 0);
	for (i = 1; i <= 5; i++) {
		snprintf(line, sizeof(line), "HB %d\n", i);
		feed_str(&l, line, i * MS);
	}
	feed_str(&l, "HB 6\n", 5 * MS + 250 * MS);
	feed_str(&l, "HB 7\n", 5 * MS + 251 * MS);
	feed_str(&l, "HB 8\n", GL_TS_NONE);
	feed_str(&l, "HB 9\n", 10000 * MS);	/* after an unknown: no gap */
	assert_int_equal(l.hb_count, 9);
	assert_int_equal(l.hb_max_gap_ns, 250 * MS);
	assert_int_equal(l.hb_gap_from.seq, 5);
	assert_int_equal(l.hb_gap_to.seq, 6);
	assert_int_equal(l.hb_gap_from.ts, 5 * MS);
	assert_int_equal(l.hb_seq_breaks, 0);
	feed_str(&l, "HB 20\nHB 21\nHB 3\n", 10001 * MS);
	assert_int_equal(l.hb_seq_breaks, 2);
	assert_int_equal(l.hb_break_from.seq, 9);
	assert_int_equal(l.hb_break_to.seq, 20);
	assert_int_equal(l.hb_first.seq, 1);
	assert_int_equal(l.hb_last.seq, 3);
}

static gl_verdict continuity(const char *src, int64_t src_ts,
			     const char *dst, int64_t dst_ts,
			     gl_continuity *c)
{
	gl_log s, d;

	gl_log_init(&s, 0);
	gl_log_init(&d, GL_LOG_CONTINUES);
	feed_str(&s, src, src_ts);
	feed_str(&d, dst, dst_ts);
	return gl_continuity_check(&s, &d, c);
}

/* dest first == source last + 1 is OK; <= source last is LOST_UPDATES;
 * anything further ahead is a GAP; downtime is dest first - source last. */
static void test_continuity_verdicts(void **state)
{
	static const struct {
		const char *dst;
		gl_verdict v;
		int64_t delta;
	} cases[] = {
		{ "HB 43\nHB 44\n", GL_VERDICT_OK, 1 },
		{ "HB 42\nHB 43\n", GL_VERDICT_LOST_UPDATES, 0 },
		{ "HB 7\n", GL_VERDICT_LOST_UPDATES, -35 },
		{ "HB 44\n", GL_VERDICT_GAP, 2 },
		{ "HB 1000\n", GL_VERDICT_GAP, 958 },
	};
	gl_continuity c;
	size_t i;

	for (i = 0; i < QM_ARRAY_SIZE(cases); i++) {
		assert_int_equal(continuity("READY\nHB 41\nHB 42\n", 10 * MS,
					    cases[i].dst, 25 * MS, &c),
				 cases[i].v);
		assert_int_equal(c.verdict, cases[i].v);
		assert_int_equal(c.seq_delta, cases[i].delta);
		assert_int_equal(c.src_last.seq, 42);
		assert_int_equal(c.downtime_ns, 15 * MS);
		assert_false(c.joined);
	}
	assert_string_equal(gl_verdict_name(GL_VERDICT_LOST_UPDATES),
			    "LOST_UPDATES");
}

/* The source may stop anywhere in "HB 42\n" and the destination print the
 * rest: a split inside the line joins it into the source's last beat,
 * stamped when the source started it; the verdict is OK at every split. */
static void test_continuity_midline(void **state)
{
	static const char last[] = "HB 42\n";
	char src[64], dst[64];
	gl_continuity c;
	size_t k;

	for (k = 0; k <= strlen(last); k++) {
		snprintf(src, sizeof(src), "HB 41\n%.*s", (int)k, last);
		snprintf(dst, sizeof(dst), "%sHB 43\n", last + k);
		assert_int_equal(continuity(src, 1 * MS, dst, 9 * MS, &c),
				 GL_VERDICT_OK);
		/* At k == 0 the destination printed all of "HB 42". */
		assert_int_equal(c.src_last.seq, k ? 42 : 41);
		assert_int_equal(c.dst_first.seq, k ? 43 : 42);
		assert_int_equal(c.joined, k > 0 && k < strlen(last));
		assert_int_equal(c.downtime_ns, 8 * MS);
	}
}

/* Lost updates are still seen when the switchover split a line. */
static void test_continuity_midline_lost(void **state)
{
	gl_continuity c;

	assert_int_equal(continuity("HB 41\nHB 4", 0, "2\nHB 40\n", 0, &c),
			 GL_VERDICT_LOST_UPDATES);
	assert_true(c.joined);
	assert_int_equal(c.src_last.seq, 42);
	assert_int_equal(c.seq_delta, -2);
}

/* A joined line that is not the source's next line shows the destination
 * finished it from stale memory: LOST_UPDATES even though the heartbeat
 * numbers follow on (seen with native pre-copy under TCG). A well-formed
 * joined line of another kind is fine. */
static void test_continuity_stale_join(void **state)
{
	static const struct {
		const char *src, *dst;
		gl_verdict v;
		bool bad;
	} cases[] = {
		/* the real case: "H" + a stale "B 4475" */
		{ "HB 4526\nHB 4527\nH", "B 4475\nHB 4528\n",
		  GL_VERDICT_LOST_UPDATES, true },
		/* a number ahead of the source is just as impossible */
		{ "HB 41\nHB 4", "4\nHB 42\n", GL_VERDICT_LOST_UPDATES, true },
		/* a garbled line */
		{ "HB 41\nHB 4", "x\nHB 42\n", GL_VERDICT_LOST_UPDATES, true },
		/* even before the destination printed a heartbeat */
		{ "HB 41\nHB", "ST\n", GL_VERDICT_LOST_UPDATES, true },
		/* a split STAT line is a good join */
		{ "HB 41\nSTAT t=1 wri", "tes=5 checks=3\nHB 42\n",
		  GL_VERDICT_OK, false },
	};
	gl_continuity c;
	size_t i;

	for (i = 0; i < QM_ARRAY_SIZE(cases); i++) {
		assert_int_equal(continuity(cases[i].src, 0, cases[i].dst, 0,
					    &c), cases[i].v);
		assert_true(c.joined);
		assert_int_equal(c.join_bad, cases[i].bad);
		assert_int_equal(!!strstr(c.why, "stale memory"), cases[i].bad);
	}
	continuity(cases[0].src, 0, cases[0].dst, 0, &c);
	assert_string_equal(c.joined_line, "HB 4475");
	assert_int_equal(c.src_last.seq, 4527);
	assert_int_equal(c.dst_first.seq, 4528);
	assert_int_equal(c.seq_delta, 1);
}

/* A side without heartbeats gives UNKNOWN with the reason; a destination
 * whose first line is still unfinished cannot be judged yet. */
static void test_continuity_unknown(void **state)
{
	gl_continuity c;

	assert_int_equal(continuity("READY\n", 0, "HB 1\n", 0, &c),
			 GL_VERDICT_UNKNOWN);
	assert_non_null(strstr(c.why, "source"));
	assert_int_equal(continuity("HB 5\nHB 6", 0, "", 0, &c),
			 GL_VERDICT_UNKNOWN);
	assert_non_null(strstr(c.why, "destination"));
	assert_int_equal(continuity("HB 5\nHB 6", 0, "\nHB", 0, &c),
			 GL_VERDICT_UNKNOWN);
	assert_int_equal(c.src_last.seq, 6);
	assert_int_equal(c.downtime_ns, GL_TS_NONE);
}

/* Without GL_LOG_CONTINUES the destination parses its first line on its
 * own, and timestamps left unknown give no downtime. */
static void test_continuity_without_flag(void **state)
{
	gl_continuity c;
	gl_log s, d;

	gl_log_init(&s, 0);
	gl_log_init(&d, 0);
	feed_str(&s, "HB 41\nHB 4", GL_TS_NONE);
	feed_str(&d, "HB 43\nHB 44\n", GL_TS_NONE);
	assert_int_equal(gl_continuity_check(&s, &d, &c), GL_VERDICT_GAP);
	assert_false(c.joined);
	assert_int_equal(c.src_last.seq, 41);
	assert_int_equal(c.dst_first.seq, 43);
	assert_int_equal(c.seq_delta, 2);
	assert_int_equal(d.hb_count, 2);
	assert_int_equal(c.downtime_ns, GL_TS_NONE);
}

/* The verdict enum has exactly these members: adding one must come with
 * a name and a test. */
static void test_verdict_enum_guard(void **state)
{
	assert_int_equal(GL_VERDICT__COUNT, 4);
	assert_string_equal(gl_verdict_name(GL_VERDICT_UNKNOWN), "UNKNOWN");
	assert_string_equal(gl_verdict_name(GL_VERDICT_OK), "OK");
	assert_string_equal(gl_verdict_name(GL_VERDICT_GAP), "GAP");
	assert_string_equal(gl_verdict_name(GL_VERDICT__COUNT), "?");
}

/* ---- files ---- */

/* The running test's temporary file, removed by rm_temp() even when a
 * failed assertion ends the test early. */
static char path[256];

static int rm_temp(void **state)
{
	if (path[0])
		unlink(path);
	path[0] = '\0';
	return 0;
}

static void temp_file(void)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(path, sizeof(path), "%s/qmig-guestlog-XXXXXX",
		 dir ? dir : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
}

static void append(const char *file, const char *s)
{
	FILE *f = fopen(file, "a");

	assert_non_null(f);
	fputs(s, f);
	fclose(f);
}

/* gl_log_read_file feeds the whole file; a missing file is an I/O error
 * naming the path. */
static void test_read_file(void **state)
{
	qm_error err = QM_ERROR_INIT;
	gl_log l;

	temp_file();
	append(path, stream);
	gl_log_init(&l, 0);
	assert_true(gl_log_read_file(&l, path, GL_TS_NONE, &err));
	check_reference(&l);
	unlink(path);
	assert_false(gl_log_read_file(&l, path, GL_TS_NONE, &err));
	assert_int_equal(err.code, QM_ERR_IO);
	assert_int_equal(err.sys_errno, ENOENT);
	assert_non_null(strstr(err.msg, path));
}

struct writer {
	const char *path;
	int64_t written_ns;
};

static void *late_writer(void *arg)
{
	struct writer *w = arg;
	struct timespec ts = { 0, 30 * MS };

	nanosleep(&ts, NULL);
	w->written_ns = qm_now_ns();
	append(w->path, "HB 4\n");
	return NULL;
}

/* A followed file is read as it grows: its fd turns readable on a write;
 * a wait that cannot be met times out saying how far the log got; a wait
 * that a later write satisfies returns with the line stamped after the
 * write; a file that shrinks is an error. */
static void test_follow(void **state)
{
	qm_error err = QM_ERROR_INIT;
	struct pollfd pfd = { .events = POLLIN };
	struct writer w;
	pthread_t th;
	gl_follow f;
	int64_t t0;

	temp_file();
	append(path, "READY\nHB 1");
	assert_true(gl_follow_open(&f, path, 0, &err));
	pfd.fd = gl_follow_fd(&f);
	assert_true(pfd.fd >= 0);
	assert_true(gl_follow_wait_ready(&f, 0, &err));
	assert_false(gl_follow_wait_hb(&f, 3, 50, &err));
	assert_int_equal(err.code, QM_ERR_TIMEOUT);
	assert_non_null(strstr(err.msg, "3 heartbeats"));
	append(path, "\nHB 2\nHB 3\n");
	/* The fd turns readable on a write and is drained by processing. */
	assert_int_equal(poll(&pfd, 1, 1000), 1);
	assert_int_equal(gl_follow_process(&f, NULL), 11);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	assert_int_equal(f.log.hb_count, 3);
	assert_false(gl_follow_wait_corrupt(&f, 0, NULL));

	w.path = path;
	t0 = qm_now_ns();
	assert_int_equal(pthread_create(&th, NULL, late_writer, &w), 0);
	assert_true(gl_follow_wait_hb(&f, 4, 5000, &err));
	pthread_join(th, NULL);
	assert_true(f.log.hb_last.ts >= w.written_ns);
	assert_true(qm_now_ns() - t0 < 2000 * MS);

	qm_error_clear(&err);
	assert_int_equal(truncate(path, 3), 0);
	assert_int_equal(gl_follow_process(&f, &err), -1);
	assert_int_equal(err.code, QM_ERR_STATE);
	gl_follow_close(&f);
	gl_follow_close(&f);
	assert_int_equal(f.log.hb_count, 4);
	unlink(path);

	qm_error_clear(&err);
	assert_false(gl_follow_open(&f, path, 0, &err));
	assert_int_equal(err.code, QM_ERR_IO);
	assert_int_equal(err.sys_errno, ENOENT);
}

/* ---- page.h: the content contract with the guest ---- */

/* A filled page checks clean, and every single flipped byte is found at
 * its word, for every kind. */
static void test_page_roundtrip(void **state)
{
	uint32_t page[GP_PAGE_WORDS];
	uint8_t *bytes = (uint8_t *)page;
	int kind;
	size_t off;

	for (kind = GP_KIND_UNWRITTEN; kind < GP_KIND__COUNT; kind++) {
		gp_fill(page, 77, kind ? 5 : 0, kind);
		assert_int_equal(gp_first_bad(page, 77, kind ? 5 : 0, kind),
				 GP_PAGE_WORDS);
		for (off = 0; off < GP_PAGE_SIZE; off++) {
			bytes[off] ^= 0x10;
			assert_int_equal(gp_first_bad(page, 77, kind ? 5 : 0,
						      kind), off / 4);
			assert_int_equal(gp_word(77, kind ? 5 : 0, kind,
						 (uint32_t)(off / 4)),
					 page[off / 4] ^
					 (0x10u << (off % 4 * 8)));
			bytes[off] ^= 0x10;
		}
	}
	gp_fill(page, 77, 5, GP_KIND_NORMAL);
	assert_int_equal(page[0], 77);
	assert_int_equal(page[1], 5);
	/* An older generation of the same page is a mismatch. */
	assert_int_equal(gp_first_bad(page, 77, 6, GP_KIND_NORMAL), 1);
}

/* Pages of one DUP kind are identical whatever their index and gen. */
static void test_page_dup_identical(void **state)
{
	uint32_t a[GP_PAGE_WORDS], b[GP_PAGE_WORDS];
	unsigned k;

	for (k = 0; k < GP_DUP_KINDS; k++) {
		gp_fill(a, 1, 1, GP_KIND_DUP0 + (int)k);
		gp_fill(b, 999, 12345, GP_KIND_DUP0 + (int)k);
		assert_memory_equal(a, b, sizeof(a));
		assert_int_equal(a[0], GP_DUP_MAGIC | k);
	}
	gp_fill(b, 1, 1, GP_KIND_DUP0 + 1);
	assert_memory_not_equal(a, b, sizeof(a));
}

/* Kinds are chosen with the configured shares (within 1 point over 200k
 * writes), all four DUP variants are used, and gen 0 is "unwritten". */
static void test_page_kind_shares(void **state)
{
	unsigned n[GP_KIND__COUNT] = { 0 };
	const unsigned total = 200000;
	uint32_t idx, gen;
	unsigned k;

	for (idx = 0; idx < total / 20; idx++)
		for (gen = 1; gen <= 20; gen++)
			n[gp_kind_of(idx, gen, 20, 30)]++;
	assert_int_equal(n[GP_KIND_UNWRITTEN], 0);
	assert_in_range(n[GP_KIND_ZERO], total * 19 / 100, total * 21 / 100);
	assert_in_range(n[GP_KIND_NORMAL], total * 49 / 100, total * 51 / 100);
	for (k = 0; k < GP_DUP_KINDS; k++)
		assert_in_range(n[GP_KIND_DUP0 + k], total * 65 / 1000,
				total * 85 / 1000);
	assert_int_equal(gp_kind_of(5, 0, 50, 50), GP_KIND_UNWRITTEN);
	assert_int_equal(gp_kind_of(5, 1, 0, 0), GP_KIND_NORMAL);
	assert_int_equal(gp_kind_of(5, 1, 100, 0), GP_KIND_ZERO);
	assert_string_equal(gp_kind_name(GP_KIND_DUP0 + 3), "dup3");
}

/* ---- gl_ram_check: the host-side memory check ---- */

#define RAM_LEN		0x10000
#define RAM_TABLE	0x1000
#define RAM_BASE	0x2000
#define RAM_PAGES	8
#define RAM_SEQ		0x40
#define RAM_INFLIGHT	0x44

static const gl_boot ram_boot = {
	.version = 1, .pages = RAM_PAGES, .base = RAM_BASE,
	.table = RAM_TABLE, .seqaddr = RAM_SEQ, .inflight = RAM_INFLIGHT,
	.zero = 25, .dup = 25,
};

/* A small fake RAM: page i at generation i (page 0 never written). */
static void ram_build(uint8_t *ram)
{
	uint32_t *table = (uint32_t *)(ram + RAM_TABLE);
	uint32_t i, hb = 77;

	memset(ram, 0, RAM_LEN);
	memcpy(ram + RAM_SEQ, &hb, 4);
	for (i = 0; i < RAM_PAGES; i++) {
		table[i] = i;
		gp_fill((uint32_t *)(ram + RAM_BASE + i * GP_PAGE_SIZE), i, i,
			gp_kind_of(i, i, 25, 25));
	}
}

/* Pages that match the table check clean; a changed byte is a bad page
 * with the generation expected; the page the guest was writing when it
 * stopped is not counted; the RAM must hold the table and working set. */
static void test_ram_check(void **state)
{
	static uint8_t ram[RAM_LEN] __attribute__((aligned(4096)));
	qm_error err = QM_ERROR_INIT;
	gl_boot b = ram_boot;
	gl_ram_report r;
	uint32_t inflight = 6;
	uint64_t sum = 0;
	int k;

	ram_build(ram);
	assert_true(gl_ram_check(ram, RAM_LEN, &b, &r, &err));
	assert_int_equal(r.pages, RAM_PAGES);
	assert_int_equal(r.bad, 0);
	assert_int_equal(r.kinds[GP_KIND_UNWRITTEN], 1);
	for (k = 0; k < GP_KIND__COUNT; k++)
		sum += r.kinds[k];
	assert_int_equal(sum, RAM_PAGES);
	assert_true(r.hb_seq_valid);
	assert_int_equal(r.hb_seq, 77);
	assert_int_equal(r.inflight, 0);

	ram[RAM_BASE + 5 * GP_PAGE_SIZE + 100] ^= 1;
	assert_true(gl_ram_check(ram, RAM_LEN, &b, &r, &err));
	assert_int_equal(r.bad, 1);
	assert_int_equal(r.kept, 1);
	assert_int_equal(r.first[0].page, 5);
	assert_int_equal(r.first[0].gen, 5);
	assert_false(r.inflight_bad);

	memcpy(ram + RAM_INFLIGHT, &inflight, 4);
	assert_true(gl_ram_check(ram, RAM_LEN, &b, &r, &err));
	assert_int_equal(r.bad, 0);
	assert_true(r.inflight_bad);

	b.pages = RAM_LEN / GP_PAGE_SIZE;
	assert_false(gl_ram_check(ram, RAM_LEN, &b, &r, &err));
	assert_int_equal(err.code, QM_ERR_TOO_BIG);
	assert_non_null(strstr(err.msg, "working set ends at 0x12000"));
	qm_error_clear(&err);
	b.pages = 0;
	assert_false(gl_ram_check(ram, RAM_LEN, &b, &r, &err));
	assert_int_equal(err.code, QM_ERR_INVAL);
}

/* The file variant reads the same answer from a RAM backend file, and a
 * missing file is an I/O error. */
static void test_ram_check_file(void **state)
{
	static uint8_t ram[RAM_LEN];
	qm_error err = QM_ERROR_INIT;
	gl_ram_report r;
	FILE *f;

	ram_build(ram);
	ram[RAM_BASE + 7 * GP_PAGE_SIZE + 4095] ^= 0x80;
	temp_file();
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(ram, 1, RAM_LEN, f), RAM_LEN);
	fclose(f);
	assert_true(gl_ram_check_file(path, &ram_boot, &r, &err));
	assert_int_equal(r.pages, RAM_PAGES);
	assert_int_equal(r.bad, 1);
	assert_int_equal(r.first[0].page, 7);
	assert_int_equal(r.hb_seq, 77);
	assert_int_equal(truncate(path, RAM_BASE + 4 * GP_PAGE_SIZE), 0);
	assert_false(gl_ram_check_file(path, &ram_boot, &r, &err));
	assert_int_equal(err.code, QM_ERR_TOO_BIG);
	assert_non_null(strstr(err.msg, path));
	unlink(path);
	qm_error_clear(&err);
	assert_false(gl_ram_check_file(path, &ram_boot, &r, &err));
	assert_int_equal(err.code, QM_ERR_IO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_anywhere),
		cmocka_unit_test(test_boot_line),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_line_ts_is_first_byte),
		cmocka_unit_test(test_hb_gap_and_breaks),
		cmocka_unit_test(test_continuity_verdicts),
		cmocka_unit_test(test_continuity_midline),
		cmocka_unit_test(test_continuity_midline_lost),
		cmocka_unit_test(test_continuity_stale_join),
		cmocka_unit_test(test_continuity_unknown),
		cmocka_unit_test(test_continuity_without_flag),
		cmocka_unit_test(test_verdict_enum_guard),
		cmocka_unit_test_teardown(test_read_file, rm_temp),
		cmocka_unit_test_teardown(test_follow, rm_temp),
		cmocka_unit_test(test_page_roundtrip),
		cmocka_unit_test(test_page_dup_identical),
		cmocka_unit_test(test_page_kind_shares),
		cmocka_unit_test(test_ram_check),
		cmocka_unit_test_teardown(test_ram_check_file, rm_temp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
