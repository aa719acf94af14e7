/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * End-to-end transfers over loopback: a region with a known mix of
 * random, zero, duplicate and pre-held (HAVE) pages, sent with 1, 2 and 4
 * streams. The region is 64 MiB, not the 1 GiB of the benchmark, so that
 * the suite stays short on two shared cores (bench-transport does 1 GiB).
 * Run by meson with QMIG_SEND_ZC=on (SEND_ZC) and =off (plain send), and
 * with QMIG_TEST_TLS=1: the same transfers over TLS 1.3 (kTLS where the
 * kernel has it, and again with QMIG_KTLS=off: the user-space pump).
 */
#include "fixture.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool use_tls(void)
{
	const char *v = getenv("QMIG_TEST_TLS");

	return v && !strcmp(v, "1");
}

#define NPAGES 16384ull		/* 64 MiB */

typedef struct sent_log {
	dl_hash *h;
	uint64_t calls;
} sent_log;

static void on_sent(void *opaque, const tp_sent *v, size_t n)
{
	sent_log *l = opaque;

	for (size_t i = 0; i < n; i++)
		l->h[v[i].page] = v[i].hash;
	__atomic_fetch_add(&l->calls, n, __ATOMIC_RELAXED);
}

/* What the receiver holds and counted, after COMMIT. */
static void check_receiver(tp_sender *s, tf_recv *rt, const dl_ram *src,
			   const dl_hasher *h, const tf_mix *mix,
			   const sent_log *log)
{
	dl_hash *x = calloc(NPAGES, sizeof(*x));
	tp_stats ss, rst;

	if (!rt->accept_ok || !rt->commit_ok)
		fail_msg("receiver: %s", rt->err.msg);
	assert_int_equal(rt->devstate_bytes, 6);
	assert_int_equal(rt->verify_frames, 1);
	assert_string_equal(tp_receiver_vm_name(rt->r), "test-vm");
	/* Byte for byte and by hash; the reported hashes are the content's. */
	tf_assert_same(src, h, tp_receiver_ram(rt->r),
		       tp_receiver_hasher(rt->r));
	assert_true(dl_ram_hash_pages(tp_receiver_ram(rt->r), h, 0, NPAGES, x,
				      NULL));
	assert_memory_equal(x, log->h, NPAGES * sizeof(*x));
	free(x);
	tp_sender_get_stats(s, &ss);
	tp_receiver_get_stats(rt->r, &rst);
	assert_int_equal(rst.pages_full, mix->full);
	assert_int_equal(rst.pages_zero, mix->zero);
	assert_int_equal(rst.pages_dup, mix->dup);
	assert_int_equal(rst.pages_have, mix->have);
	/* Every byte is counted, set-up included, the same on both ends. */
	assert_int_equal(rst.bytes_rx, ss.bytes_tx);
	assert_int_equal(rst.bytes_tx, ss.bytes_rx);
	/* TLS as configured on both ends; the kernel's wherever it can. */
	{
		const tp_features *f = tp_features_get();
		bool ktls = use_tls() && f->ktls && !f->ktls_forced_off;

		assert_int_equal(ss.tls, use_tls());
		assert_int_equal(rst.tls, use_tls());
		assert_int_equal(ss.ktls, ktls);
		assert_int_equal(rst.ktls, ktls);
		if (use_tls())
			assert_false(ss.send_zc);
	}
	print_message("zc %d, tls %d, ktls %d, tx %llu B, rx %llu B, "
		      "deferred %llu\n", ss.send_zc, ss.tls, ss.ktls,
		      (unsigned long long)ss.bytes_tx,
		      (unsigned long long)ss.bytes_rx,
		      (unsigned long long)rst.refs_deferred);
}

/* Round 0 over the mix, then DEVSTATE, VERIFY and COMMIT. */
static void send_all(tp_sender *s, const dl_hasher *h, const tf_mix *mix,
		     const sent_log *log)
{
	qm_error err = QM_ERROR_INIT;
	tp_round_stats rs;
	tp_stats ss;

	if (!tp_sender_queue(s, 0, NPAGES, &err) ||
	    !tp_sender_flush(s, 0, &rs, &err))
		fail_msg("round 0: %s", err.msg);
	/* The counters are the mix, exactly. */
	assert_int_equal(rs.pages_zero, mix->zero);
	assert_int_equal(rs.pages_dup, mix->dup);
	assert_int_equal(rs.pages_have, mix->have);
	assert_int_equal(rs.pages_full, mix->full);
	assert_int_equal(rs.pages_resent, 0);
	assert_int_equal(log->calls, NPAGES);
	tp_sender_get_stats(s, &ss);
	assert_int_equal(ss.bytes_saved, mix->zero * 4096 +
			 (mix->dup + mix->have) * (4096 - 24));
	assert_true(ss.bytes_tx < (mix->full + 1) * 4096 + NPAGES * 64);
	/* Control frames reach the engine; COMMIT ends the session. */
	assert_true(tp_sender_send_devstate(s, 0, "device", 6, true, &err));
	assert_true(tp_sender_send_verify(s, TP_VERIFY_ROOT, 0, NPAGES, &h->zero,
					  1, &err));
	if (!tp_sender_commit(s, 0, 5000, &err))
		fail_msg("commit: %s", err.msg);
}

static void transfer(int streams, bool sparse)
{
	qm_error err = QM_ERROR_INIT;
	uint8_t seed[DL_SECRET_SIZE] = "fixed seed: reproducible hashes";
	sent_log log = { calloc(NPAGES, sizeof(dl_hash)), 0 };
	tf_dir dsrc, ddst;
	tp_sender_config sc;
	char image[256];
	tp_sender *s;
	dl_hasher h;
	tf_recv rt;
	tf_mix mix;
	dl_ram src;

	tf_dir_make(&dsrc);
	tf_dir_make(&ddst);
	dl_ram_init(&src);
	tf_ram_file(&dsrc, "ram0", NPAGES / 2 * DL_PAGE_SIZE, &src, "ram0");
	tf_ram_file(&dsrc, "ram1", NPAGES / 2 * DL_PAGE_SIZE, &src, "ram1");
	tf_fill_mix(&src, &mix);
	tf_write_image(&dsrc, "image", NPAGES);
	snprintf(image, sizeof(image), "%s/image", dsrc.path);
	assert_true(dl_hasher_init(&h, seed, sizeof(seed), NULL));
	tf_recv_start(&rt, tf_receiver_new_opt(&ddst, TF_PSK, image, sparse,
					       use_tls()));
	tf_sender_config(&sc, streams, TF_PSK);
	sc.tls = use_tls();
	sc.on_sent = on_sent;
	sc.on_sent_opaque = &log;
	s = tp_sender_new(&src, &h, &sc, &err);
	assert_non_null(s);
	if (!tp_sender_connect(s, "127.0.0.1", tp_receiver_port(rt.r), &err))
		fail_msg("connect: %s", err.msg);
	send_all(s, &h, &mix, &log);
	tf_recv_join(&rt);
	check_receiver(s, &rt, &src, &h, &mix, &log);
	tp_sender_free(s);
	tp_receiver_free(rt.r);
	dl_ram_close(&src);
	free(log.h);
	tf_dir_remove(&dsrc);
	tf_dir_remove(&ddst);
}

/* One stream carries every kind; the receiver's RAM equals the source. */
static void test_one_stream(void **state)
{
	transfer(1, false);
}

/* Destination left sparse: ZERO pages become punched holes; still equal. */
static void test_one_stream_sparse(void **state)
{
	transfer(1, true);
}

/* Two streams: references cross streams; still exact. */
static void test_two_streams(void **state)
{
	transfer(2, false);
}

/* Four streams (more threads than cores): still exact. */
static void test_four_streams(void **state)
{
	transfer(4, false);
}

/* on_sent() batches are frames: is any page twice in one? */
typedef struct frame_log {
	uint64_t frames, twice;
	uint8_t *in_frame;	/* per page: in the batch being looked at */
} frame_log;

static void on_frame(void *opaque, const tp_sent *v, size_t n)
{
	frame_log *l = opaque;

	for (size_t i = 0; i < n; i++) {
		if (l->in_frame[v[i].page])
			l->twice++;
		l->in_frame[v[i].page] = 1;
	}
	for (size_t i = 0; i < n; i++)
		l->in_frame[v[i].page] = 0;
	l->frames++;
}

/*
 * Runs queued out of order and overlapping, as the engine's hot-page
 * deferral and resends can: no frame carries a page twice (the receiver
 * applies a frame's FULL payload before its other entries, so a page's
 * two entries in one frame could land in the wrong order), and the
 * destination still equals the source. The sender takes ascending runs
 * without looking anything up and switches to a set at the first page
 * out of order; both paths are crossed here in every round.
 */
static void test_runs_out_of_order(void **state)
{
	static const struct { uint64_t first, n; } runs[] = {
		{ 0, 64 }, { 32, 64 }, { 200, 10 }, { 150, 10 }, { 155, 1 },
		{ 100, 1 }, { 4000, 300 }, { 4100, 50 }, { 3999, 2 },
	};
	qm_error err = QM_ERROR_INIT;
	frame_log log = { 0, 0, calloc(NPAGES, 1) };
	tf_pair g;

	(void)state;
	tf_pair_init(&g, NPAGES, true, false);
	g.sc.streams = 1;
	g.sc.on_sent = on_frame;
	g.sc.on_sent_opaque = &log;
	tf_recv_start(&g.rt, tf_receiver_new(&g.ddst, TF_PSK, NULL));
	if (!tf_pair_connect(&g, tp_receiver_port(g.rt.r), &err))
		fail_msg("connect: %s", err.msg);
	for (uint64_t round = 0; round < 20; round++) {
		for (size_t i = 0; i < QM_ARRAY_SIZE(runs); i++)
			assert_true(tp_sender_queue(g.s, runs[i].first,
						    runs[i].n, &err));
		if (!tp_sender_flush(g.s, round, NULL, &err))
			fail_msg("round %llu: %s", (unsigned long long)round,
				 err.msg);
	}
	assert_int_equal(log.twice, 0);
	/* Every run after the first overlaps or precedes one before it, so
	 * each round needs several frames. */
	assert_true(log.frames >= 20 * 3);
	if (!tp_sender_commit(g.s, 19, 5000, &err))
		fail_msg("commit: %s", err.msg);
	tf_recv_join(&g.rt);
	assert_true(g.rt.commit_ok);
	for (size_t i = 0; i < QM_ARRAY_SIZE(runs); i++)
		for (uint64_t p = runs[i].first; p < runs[i].first + runs[i].n;
		     p++)
			assert_memory_equal(dl_ram_page(&g.src, p),
					    dl_ram_page(tp_receiver_ram(g.rt.r),
							p), DL_PAGE_SIZE);
	free(log.in_frame);
	tf_pair_fini(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_stream),
		cmocka_unit_test(test_one_stream_sparse),
		cmocka_unit_test(test_two_streams),
		cmocka_unit_test(test_four_streams),
		cmocka_unit_test(test_runs_out_of_order),
	};

	qm_log_set_level(QM_LOG_WARN);
	return cmocka_run_group_tests_name("/transport/transfer", tests, NULL,
					   NULL);
}
