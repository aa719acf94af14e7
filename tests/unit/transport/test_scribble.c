/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The guest writes pages while they are sent. The sender hashes a page in
 * guest RAM and the kernel reads it from there later, so the bytes on the
 * wire may not be the bytes hashed. A writer thread scribbles on a set of
 * hot pages during rounds of transfers: some writes change a page for
 * good, most change a word and put it back (a lock taken and released:
 * the page ends as it was hashed, but the kernel may have read it in
 * between). Each round resends the hot pages and whatever the reported
 * hashes say changed, as the engine's tracker would; then the writer
 * stops and a last round sends what still differs. The receiver's RAM
 * must then equal the source, and the last hash reported for every page
 * must be the hash of what the receiver holds. Without the receiver's
 * check of FULL pages, a page read mid-toggle would stay wrong there
 * while its reported hash says it is right.
 */
#include "fixture.h"

#include <stdlib.h>
#include <string.h>

#define NPAGES 8192ull		/* 32 MiB: four shards per stream */
#define HOT 1024ull		/* pages the writer scribbles on */
#define MAX_ROUNDS 200

typedef struct scribble {
	dl_ram *ram;
	int stop;
	uint64_t writes;
	dl_hash *reported;	/* last hash on_sent gave, per page */
} scribble;

/* The hot pages: spread over every shard, so over both streams. */
static uint64_t hot_page(uint64_t i)
{
	return i * (NPAGES / HOT) + (i % 7);
}

static void on_sent(void *opaque, const tp_sent *v, size_t n)
{
	scribble *w = opaque;

	for (size_t i = 0; i < n; i++)
		w->reported[v[i].page] = v[i].hash;
}

/* Next of a xorshift sequence: which page and word to write. */
static uint64_t next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void *writer(void *arg)
{
	enum { HELD = 32 };
	scribble *w = arg;
	uint64_t x = 88172645463325252ull, n = 0;

	while (!__atomic_load_n(&w->stop, __ATOMIC_RELAXED)) {
		volatile uint64_t *word[HELD];
		uint64_t old[HELD];

		/* Take HELD words of hot pages, hold them a moment, put
		 * them back as they were: at any time about HELD of the
		 * hot pages read other than they will end. */
		for (int i = 0; i < HELD; i++) {
			uint64_t r = next(&x);

			word[i] = (volatile uint64_t *)dl_ram_page(w->ram,
					hot_page(r % HOT)) + (r >> 32) % 512;
			old[i] = *word[i];
			*word[i] = old[i] ^ 0x5a5a5a5a5a5a5a5aull;
		}
		for (volatile int spin = 0; spin < 2000; spin++)
			;
		for (int i = HELD - 1; i >= 0; i--)
			*word[i] = old[i];
		/* Now and then a page changes for good. */
		if (next(&x) % 8 == 0)
			(*(volatile uint64_t *)dl_ram_page(w->ram,
				hot_page(x % HOT)))++;
		n += HELD;
	}
	__atomic_store_n(&w->writes, n, __ATOMIC_RELAXED);
	return NULL;
}

/* Queue every page whose content is not what was last reported sent
 * (the tracker's question), and, while the writer runs, the hot set:
 * each page once. */
static uint64_t queue_round(tf_pair *g, scribble *w, bool hot)
{
	qm_error err = QM_ERROR_INIT;
	uint64_t queued = 0;

	for (uint64_t p = 0; p < NPAGES; p++) {
		dl_hash now = dl_hash_page(&g->h, dl_ram_page(&g->src, p));

		if (dl_hash_eq(now, w->reported[p]) &&
		    !(hot && hot_page(p / (NPAGES / HOT)) == p))
			continue;
		if (!tp_sender_queue(g->s, p, 1, &err))
			fail_msg("queue: %s", err.msg);
		queued++;
	}
	return queued;
}

static void flush(tf_pair *g, uint64_t round)
{
	qm_error err = QM_ERROR_INIT;

	if (!tp_sender_flush(g->s, round, NULL, &err))
		fail_msg("round %llu: %s", (unsigned long long)round, err.msg);
}

static void test_pages_written_while_sent(void **state)
{
	qm_error err = QM_ERROR_INIT;
	scribble w = { .reported = calloc(NPAGES, sizeof(dl_hash)) };
	dl_hash *got = calloc(NPAGES, sizeof(*got));
	uint64_t round = 0, left, before;
	tp_stats rst = { 0 }, ss;
	pthread_t th;
	tf_pair g;

	(void)state;
	tf_pair_init(&g, NPAGES, true, false);
	w.ram = &g.src;
	g.sc.on_sent = on_sent;
	g.sc.on_sent_opaque = &w;
	tf_recv_start(&g.rt, tf_receiver_new(&g.ddst, TF_PSK, NULL));
	if (!tf_pair_connect(&g, tp_receiver_port(g.rt.r), &err))
		fail_msg("connect: %s", err.msg);
	/* Round 0 sends everything, with the writer already at work. */
	assert_int_equal(pthread_create(&th, NULL, writer, &w), 0);
	if (!tp_sender_queue(g.s, 0, NPAGES, &err))
		fail_msg("queue: %s", err.msg);
	flush(&g, round++);
	/* Live rounds until the race was seen in the last one: FULL pages
	 * whose bytes on the wire were not the ones hashed. Those of earlier
	 * rounds are sent again with the hot set anyway; the last round's
	 * are what only the receiver's check can catch. */
	do {
		before = rst.pages_changed;
		queue_round(&g, &w, true);
		flush(&g, round++);
		tp_receiver_get_stats(g.rt.r, &rst);
	} while (round < MAX_ROUNDS &&
		 (round < 8 || rst.pages_changed - before < 4));
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	print_message("%llu writes, %llu rounds, %llu FULL pages changed in "
		      "flight, %llu resent\n", (unsigned long long)w.writes,
		      (unsigned long long)round,
		      (unsigned long long)rst.pages_changed,
		      (unsigned long long)rst.pages_resent);
	assert_true(rst.pages_changed > before);
	/* Each was resent within its flush: the receiver asked as often. */
	assert_true(rst.pages_resent >= rst.pages_changed);
	/* The guest is stopped: one last round of what still differs. */
	left = queue_round(&g, &w, false);
	flush(&g, round++);
	assert_int_equal(queue_round(&g, &w, false), 0);
	tp_sender_get_stats(g.s, &ss);
	print_message("last round: %llu pages; sender resent %llu in all\n",
		      (unsigned long long)left,
		      (unsigned long long)ss.pages_resent);
	/* What the receiver holds is the source, and is what was reported. */
	tf_assert_same(&g.src, &g.h, tp_receiver_ram(g.rt.r),
		       tp_receiver_hasher(g.rt.r));
	assert_true(dl_ram_hash_pages(tp_receiver_ram(g.rt.r), &g.h, 0,
				      NPAGES, got, NULL));
	assert_memory_equal(got, w.reported, NPAGES * sizeof(*got));
	if (!tp_sender_commit(g.s, round, 5000, &err))
		fail_msg("commit: %s", err.msg);
	tf_recv_join(&g.rt);
	tf_pair_fini(&g);
	free(got);
	free(w.reported);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pages_written_while_sent),
	};

	qm_log_set_level(QM_LOG_WARN);
	return cmocka_run_group_tests_name("/transport/scribble", tests, NULL,
					   NULL);
}
