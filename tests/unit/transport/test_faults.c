/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Failures and the paths around them: wrong key, a replayed handshake, a
 * peer that sends garbage, a connection cut mid-transfer, EOF without
 * COMMIT, a receiver ABORT, the resend of a reference that does not check
 * out, the rate limit and the RTT estimate, a destination without room
 * for the RAM. Every case must end with a
 * clean error on both sides, bounded by the timeouts (no hang, no crash).
 */
#include "fixture.h"
#include "transport/internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define NPAGES 4096ull		/* 16 MiB */


/* A sender with another key is refused before any page moves: the sender
 * finds the receiver's proof wrong and says so; the receiver hears why. */
static void test_wrong_key(void **state)
{
	qm_error err = QM_ERROR_INIT;
	tf_pair g;

	tf_pair_init(&g, 64, false, false);
	tf_recv_start(&g.rt, tf_receiver_new(&g.ddst, TF_PSK, NULL));
	g.sc.psk = (const uint8_t *)"another-key-of-enough-length";
	g.sc.psk_len = strlen((const char *)g.sc.psk);
	assert_false(tf_pair_connect(&g, tp_receiver_port(g.rt.r), &err));
	tf_assert_msg(&err, QM_ERR_PROTO, "stream 0: authentication failed on "
		   "stream 0: the receiver's proof does not match (wrong "
		   "pre-shared key?)");
	tf_recv_join(&g.rt);
	assert_false(g.rt.accept_ok);
	tf_assert_msg(&g.rt.err, QM_ERR_CANCELLED, "peer aborted the migration "
		   "(code 3 auth): authentication failed");
	assert_int_equal(g.rt.err.subclass, TP_ABORT_AUTH);
	tf_pair_fini(&g);
}

/* Recording a real handshake and replaying the sender's bytes to a new
 * receiver fails: the receiver's fresh nonce makes the old proof wrong. */
static void test_replayed_handshake(void **state)
{
	qm_error err = QM_ERROR_INIT;
	tf_proxy px = { .record = 8 + TP_HELLO_LEN + 8 + TP_AUTH_LEN };
	uint8_t frame[512];
	tp_frame f;
	int fd;
	tf_pair g;

	tf_pair_init(&g, 64, false, false);
	g.sc.streams = 1;
	tf_recv_start(&g.rt, tf_receiver_new(&g.ddst, TF_PSK, NULL));
	tf_proxy_start(&px, tp_receiver_port(g.rt.r));
	if (!tf_pair_connect(&g, px.port, &err) ||
	    !tp_sender_commit(g.s, 0, 5000, &err))
		fail_msg("%s", err.msg);
	tf_recv_join(&g.rt);
	tf_proxy_stop(&px);
	assert_int_equal(px.rec_len, px.record);
	tp_receiver_free(g.rt.r);

	tf_recv_start(&g.rt, tf_receiver_new(&g.ddst, TF_PSK, NULL));
	fd = tf_raw_connect(tp_receiver_port(g.rt.r));
	assert_int_equal(send(fd, px.rec, 8 + TP_HELLO_LEN, 0),
			 8 + TP_HELLO_LEN);
	assert_true(tp_sock_read_frame(fd, frame, sizeof(frame), &(tp_limits){0},
				       qm_now_ns() + 5000000000LL, NULL, &f,
				       NULL));
	if (f.type == TP_FRAME_ABORT)
		fail_msg("refused: %.*s", f.u.abort.msg_len, f.u.abort.msg);
	assert_int_equal(f.type, TP_FRAME_AUTH);
	assert_int_equal(send(fd, px.rec + 8 + TP_HELLO_LEN, 8 + TP_AUTH_LEN, 0),
			 8 + TP_AUTH_LEN);
	assert_true(tp_sock_read_frame(fd, frame, sizeof(frame), &(tp_limits){0},
				       qm_now_ns() + 5000000000LL, NULL, &f,
				       NULL));
	assert_int_equal(f.type, TP_FRAME_ABORT);
	assert_int_equal(f.u.abort.code, TP_ABORT_AUTH);
	close(fd);
	tf_recv_join(&g.rt);
	assert_false(g.rt.accept_ok);
	tf_assert_msg(&g.rt.err, QM_ERR_PROTO, "the sender's proof does not "
		   "match (wrong pre-shared key, or a replayed handshake)");
	free(px.rec);
	px.rec = NULL;
	tf_pair_fini(&g);
}

/* A client that sends garbage instead of HELLO gets a clean refusal. */
static void test_garbage_client(void **state)
{
	uint8_t junk[64];
	int fd;
	tf_pair g;

	tf_pair_init(&g, 64, false, false);
	tf_recv_start(&g.rt, tf_receiver_new(&g.ddst, TF_PSK, NULL));
	memset(junk, 0xff, sizeof(junk));
	fd = tf_raw_connect(tp_receiver_port(g.rt.r));
	assert_int_equal(send(fd, junk, sizeof(junk), 0), sizeof(junk));
	tf_recv_join(&g.rt);
	close(fd);
	assert_false(g.rt.accept_ok);
	tf_assert_msg(&g.rt.err, QM_ERR_PROTO,
		   "frame type 65535 unknown (valid 1..13)");
	tf_pair_fini(&g);
}

static void *garbage_server(void *arg)
{
	int lfd = *(int *)arg, fd = accept(lfd, NULL, NULL);
	uint8_t junk[256];

	memset(junk, 0x41, sizeof(junk));
	if (fd >= 0) {
		(void)!send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
		usleep(200000);
		close(fd);
	}
	return NULL;
}

/* A "receiver" that answers HELLO with garbage: connect fails cleanly. */
static void test_garbage_server(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	qm_error err = QM_ERROR_INIT;
	pthread_t th;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	tf_pair g;

	tf_pair_init(&g, 64, false, false);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	pthread_create(&th, NULL, garbage_server, &lfd);
	assert_false(tf_pair_connect(&g, ntohs(sa.sin_port), &err));
	tf_assert_msg(&err, QM_ERR_PROTO, "frame type 16705 unknown");
	pthread_join(th, NULL);
	close(lfd);
	tf_pair_fini(&g);
}

/* Run a transfer through @px; both sides must fail, quickly. */
static void transfer_fails(tf_pair *g, tf_proxy *px, qm_error *err)
{
	int64_t t0 = qm_now_ns();

	tf_recv_start(&g->rt, tf_receiver_new(&g->ddst, TF_PSK, NULL));
	tf_proxy_start(px, tp_receiver_port(g->rt.r));
	if (!tf_pair_connect(g, px->port, err))
		fail_msg("connect: %s", err->msg);
	assert_true(tp_sender_queue(g->s, 0, NPAGES, err) || err->code);
	assert_false(tp_sender_flush(g->s, 0, NULL, err));
	tf_recv_join(&g->rt);
	tf_proxy_stop(px);
	assert_true(g->rt.accept_ok);
	assert_true(qm_error_is_set(&g->rt.err));
	assert_true(qm_now_ns() - t0 < 4000000000LL);
	print_message("sender: %s\nreceiver: %s\n", err->msg, g->rt.err.msg);
}

/* Cutting the connections mid-transfer (after 4 MiB) ends both sides with
 * an error naming the cut, within the timeouts. */
static void test_cut_mid_transfer(void **state)
{
	qm_error err = QM_ERROR_INIT;
	tf_proxy px = { .cut_after = 4 << 20 };
	tf_pair g;

	tf_pair_init(&g, NPAGES, true, false);
	transfer_fails(&g, &px, &err);
	assert_true(err.code == QM_ERR_CLOSED || err.code == QM_ERR_CANCELLED);
	assert_true(g.rt.err.code == QM_ERR_CLOSED);
	assert_non_null(strstr(g.rt.err.msg, "peer closed the connection"));
	tf_pair_fini(&g);
}

/* Garbage injected after the handshake, over the first frame header on
 * stream 0 (HELLO 72 + AUTH 80 + SETUP 344 bytes in): the receiver names
 * the bad field and sends ABORT; the sender reports the receiver's
 * reason. (Garbage inside a page's payload is not a framing error: the
 * verify phase catches it.) */
static void test_garbage_mid_transfer(void **state)
{
	qm_error err = QM_ERROR_INIT;
	tf_proxy px = { .garbage_at = 496 };
	tf_pair g;

	tf_pair_init(&g, NPAGES, true, false);
	g.sc.streams = 1;
	transfer_fails(&g, &px, &err);
	tf_assert_msg(&g.rt.err, QM_ERR_PROTO, "stream 0: frame type 65535 "
		   "unknown (valid 1..13)");
	tf_assert_msg(&err, QM_ERR_CANCELLED, "receiver aborted the migration "
		   "(code 2 protocol): stream 0: frame type 65535 unknown");
	assert_int_equal(err.subclass, TP_ABORT_PROTOCOL);
	tf_pair_fini(&g);
}

/* Both sides idle, the link dies (proxy gone): EOF without COMMIT or
 * ABORT is a failure on both sides, not a clean end. */
static void test_eof_without_commit(void **state)
{
	qm_error err = QM_ERROR_INIT;
	tf_proxy px = { 0 };
	tp_ctrl c;
	tf_pair g;

	tf_pair_init(&g, 64, true, false);
	tf_recv_start(&g.rt, tf_receiver_new(&g.ddst, TF_PSK, NULL));
	tf_proxy_start(&px, tp_receiver_port(g.rt.r));
	if (!tf_pair_connect(&g, px.port, &err) ||
	    !tp_sender_queue(g.s, 0, 64, &err) ||
	    !tp_sender_flush(g.s, 0, NULL, &err))
		fail_msg("%s", err.msg);
	tf_proxy_stop(&px);
	tf_recv_join(&g.rt);
	tf_assert_msg(&g.rt.err, QM_ERR_CLOSED, "stream 0: peer closed the "
		   "connection without COMMIT or ABORT");
	assert_int_equal(tp_sender_recv_ctrl(g.s, &c, 3000, &err), -1);
	tf_assert_msg(&err, QM_ERR_CLOSED, "without COMMIT or ABORT");
	tf_pair_fini(&g);
}

static void *accept_main(void *arg)
{
	return tp_receiver_accept(arg, NULL) ? arg : NULL;
}

/* The destination engine refuses (e.g. its QEMU died): the sender's next
 * call fails with CANCELLED, the code and the receiver's message. */
static void test_receiver_abort(void **state)
{
	qm_error err = QM_ERROR_INIT;
	pthread_t th;
	void *ok;
	tp_ctrl c;
	tf_pair g;

	tf_pair_init(&g, 64, false, false);
	g.rt.r = tf_receiver_new(&g.ddst, TF_PSK, NULL);
	pthread_create(&th, NULL, accept_main, g.rt.r);
	if (!tf_pair_connect(&g, tp_receiver_port(g.rt.r), &err))
		fail_msg("%s", err.msg);
	pthread_join(th, &ok);
	assert_non_null(ok);
	tp_receiver_abort(g.rt.r, TP_ABORT_ENGINE, "destination QEMU exited");
	assert_int_equal(tp_sender_recv_ctrl(g.s, &c, 3000, &err), -1);
	tf_assert_msg(&err, QM_ERR_CANCELLED, "receiver aborted the migration "
		   "(code 7 engine): destination QEMU exited");
	assert_int_equal(err.subclass, TP_ABORT_ENGINE);
	qm_error_clear(&err);
	assert_false(tp_sender_queue(g.s, 0, 1, &err));
	assert_int_equal(err.code, QM_ERR_CANCELLED);
	tf_pair_fini(&g);
}

/* A destination filesystem without room for the whole RAM refuses at
 * SETUP, before it creates a file: writing into a sparse shared mapping
 * of a full filesystem would raise SIGBUS mid-migration instead. The
 * source RAM is a sparse file larger than the free space (nothing of it
 * is ever read). */
static void test_no_space_for_ram(void **state)
{
	qm_error err = QM_ERROR_INIT;
	struct statvfs sv;
	uint64_t bytes;
	tf_pair g;

	memset(&g, 0, sizeof(g));
	tf_dir_make(&g.dsrc);
	tf_dir_make(&g.ddst);
	assert_int_equal(statvfs(g.ddst.path, &sv), 0);
	bytes = ((uint64_t)sv.f_bavail * sv.f_frsize + (64ull << 20)) &
		~(uint64_t)(DL_PAGE_SIZE - 1);
	dl_ram_init(&g.src);
	tf_ram_file(&g.dsrc, "ram0", bytes, &g.src, "ram0");
	assert_true(dl_hasher_init(&g.h, "faults", 6, NULL));
	tf_sender_config(&g.sc, 1, TF_PSK);
	tf_recv_start(&g.rt, tf_receiver_new_sparse(&g.ddst, TF_PSK, NULL));
	assert_false(tf_pair_connect(&g, tp_receiver_port(g.rt.r), &err));
	tf_assert_msg(&err, QM_ERR_CANCELLED, "the VM's RAM needs");
	tf_recv_join(&g.rt);
	assert_false(g.rt.accept_ok);
	assert_int_equal(g.rt.err.code, QM_ERR_IO);
	assert_int_equal(g.rt.err.sys_errno, ENOSPC);
	/* Nothing was created. */
	{
		char p[300];

		snprintf(p, sizeof(p), "%s/ram0.ram", g.ddst.path);
		assert_int_equal(access(p, F_OK), -1);
	}
	tf_pair_fini(&g);
}

/* A DUP whose source page no longer holds the content on the receiver
 * (overwritten there) is not trusted: the copy fails its hash, the page
 * comes back in MISMATCH(RESEND) and flush resends it in full. */
static void test_resend_unresolved(void **state)
{
	qm_error err = QM_ERROR_INIT;
	tp_round_stats rs;
	uint8_t *dst;
	tf_pair g;

	tf_pair_init(&g, 1024, false, false);
	tf_fill_page(dl_ram_page(&g.src, 3), 42);
	tf_recv_start(&g.rt, tf_receiver_new(&g.ddst, TF_PSK, NULL));
	if (!tf_pair_connect(&g, tp_receiver_port(g.rt.r), &err) ||
	    !tp_sender_queue(g.s, 3, 1, &err) ||
	    !tp_sender_flush(g.s, 0, &rs, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(rs.pages_full, 1);
	/* Spoil page 3 on the receiver; send page 700 with page 3's content. */
	dst = dl_ram_page(tp_receiver_ram(g.rt.r), 3);
	memset(dst, 0x77, DL_PAGE_SIZE);
	tf_fill_page(dl_ram_page(&g.src, 700), 42);
	if (!tp_sender_queue(g.s, 700, 1, &err) ||
	    !tp_sender_flush(g.s, 1, &rs, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(rs.pages_dup, 1);
	assert_int_equal(rs.pages_resent, 1);
	assert_int_equal(rs.pages_full, 1);
	assert_int_equal(rs.passes, 2);
	assert_memory_equal(dl_ram_page(tp_receiver_ram(g.rt.r), 700),
			    dl_ram_page(&g.src, 700), DL_PAGE_SIZE);
	if (!tp_sender_commit(g.s, 1, 5000, &err))
		fail_msg("%s", err.msg);
	tf_recv_join(&g.rt);
	assert_true(g.rt.commit_ok);
	tf_pair_fini(&g);
}

/* A page written in one round and zero in the next becomes zero on the
 * receiver, whether its RAM is populated (zeros written) or sparse (a
 * hole punched); pages never written cost nothing and stay zero. */
static void zero_after_write(bool sparse)
{
	qm_error err = QM_ERROR_INIT;
	const dl_ram *dst;
	tf_pair g;

	tf_pair_init(&g, 1024, true, false);
	tf_recv_start(&g.rt, sparse ?
		      tf_receiver_new_sparse(&g.ddst, TF_PSK, NULL) :
		      tf_receiver_new(&g.ddst, TF_PSK, NULL));
	if (!tf_pair_connect(&g, tp_receiver_port(g.rt.r), &err) ||
	    !tp_sender_queue(g.s, 0, 1024, &err) ||
	    !tp_sender_flush(g.s, 0, NULL, &err))
		fail_msg("%s", err.msg);
	dst = tp_receiver_ram(g.rt.r);
	assert_false(dl_page_is_zero(dl_ram_page(dst, 10)));
	memset(dl_ram_page(&g.src, 10), 0, 3 * DL_PAGE_SIZE);
	memset(dl_ram_page(&g.src, 700), 0, DL_PAGE_SIZE);
	if (!tp_sender_queue(g.s, 10, 3, &err) ||
	    !tp_sender_queue(g.s, 700, 1, &err) ||
	    !tp_sender_flush(g.s, 1, NULL, &err) ||
	    !tp_sender_commit(g.s, 1, 5000, &err))
		fail_msg("%s", err.msg);
	tf_recv_join(&g.rt);
	tf_assert_same(&g.src, &g.h, dst, tp_receiver_hasher(g.rt.r));
	tf_pair_fini(&g);
}

/* A zero page spoilt on the receiver behind its back: a ZERO entry for
 * it is skipped (never written there: known zero) until the receiver is
 * told to distrust it, as the agent's verification does; then the ZERO
 * entry clears it. */
static void test_zero_distrusted(void **state)
{
	qm_error err = QM_ERROR_INIT;
	const dl_ram *dst;
	tp_round_stats rs;
	tf_pair g;

	tf_pair_init(&g, 1024, false, false);
	tf_recv_start(&g.rt, tf_receiver_new_sparse(&g.ddst, TF_PSK, NULL));
	if (!tf_pair_connect(&g, tp_receiver_port(g.rt.r), &err) ||
	    !tp_sender_queue(g.s, 5, 1, &err) ||
	    !tp_sender_flush(g.s, 0, &rs, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(rs.pages_zero, 1);
	dst = tp_receiver_ram(g.rt.r);
	memset(dl_ram_page(dst, 5), 0x77, DL_PAGE_SIZE);
	if (!tp_sender_queue(g.s, 5, 1, &err) ||
	    !tp_sender_flush(g.s, 1, NULL, &err))
		fail_msg("%s", err.msg);
	assert_false(dl_page_is_zero(dl_ram_page(dst, 5)));
	tp_receiver_distrust(g.rt.r, 5, 1);
	if (!tp_sender_queue(g.s, 5, 1, &err) ||
	    !tp_sender_flush(g.s, 2, NULL, &err) ||
	    !tp_sender_commit(g.s, 2, 5000, &err))
		fail_msg("%s", err.msg);
	tf_recv_join(&g.rt);
	assert_true(dl_page_is_zero(dl_ram_page(dst, 5)));
	tf_pair_fini(&g);
}

static void test_zero_after_write(void **state)
{
	zero_after_write(false);
}

static void test_zero_after_write_sparse(void **state)
{
	zero_after_write(true);
}

/* The token bucket holds a transfer to the rate (changeable during the
 * session), and PING/ACK gives an RTT estimate. */
static void test_rate_and_rtt(void **state)
{
	qm_error err = QM_ERROR_INIT;
	int64_t t0, slow, fast;
	tp_stats st;
	tf_pair g;

	tf_pair_init(&g, NPAGES, true, false);
	g.sc.rate_bps = 8 << 20;
	g.sc.ping_interval_ms = 20;
	tf_recv_start(&g.rt, tf_receiver_new(&g.ddst, TF_PSK, NULL));
	if (!tf_pair_connect(&g, tp_receiver_port(g.rt.r), &err))
		fail_msg("%s", err.msg);
	t0 = qm_now_ns();
	if (!tp_sender_queue(g.s, 0, 1024, &err) ||	/* 4 MiB */
	    !tp_sender_flush(g.s, 0, NULL, &err))
		fail_msg("%s", err.msg);
	slow = qm_now_ns() - t0;
	tp_sender_get_stats(g.s, &st);
	assert_int_equal(st.rate_limit_bps, 8 << 20);
	tp_sender_set_rate(g.s, 0);
	t0 = qm_now_ns();
	if (!tp_sender_queue(g.s, 1024, 1024, &err) ||
	    !tp_sender_flush(g.s, 1, NULL, &err))
		fail_msg("%s", err.msg);
	fast = qm_now_ns() - t0;
	print_message("4 MiB at 8 MiB/s: %lld ms; unlimited: %lld ms\n",
		      (long long)(slow / 1000000), (long long)(fast / 1000000));
	/* (4 MiB - one frame of burst) / 8 MiB/s = 375 ms at least. */
	assert_true(slow >= 300000000LL);
	assert_true(fast < slow / 2);
	tp_sender_get_stats(g.s, &st);
	assert_true(st.srtt_ms > 0);
	assert_true(st.min_rtt_ms > 0 && st.min_rtt_ms <= st.srtt_ms * 8);
	assert_true(st.rounds == 2);
	if (!tp_sender_commit(g.s, 1, 5000, &err))
		fail_msg("%s", err.msg);
	tf_recv_join(&g.rt);
	tf_pair_fini(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_replayed_handshake),
		cmocka_unit_test(test_garbage_client),
		cmocka_unit_test(test_garbage_server),
		cmocka_unit_test(test_cut_mid_transfer),
		cmocka_unit_test(test_garbage_mid_transfer),
		cmocka_unit_test(test_eof_without_commit),
		cmocka_unit_test(test_receiver_abort),
		cmocka_unit_test(test_resend_unresolved),
		cmocka_unit_test(test_zero_distrusted),
		cmocka_unit_test(test_zero_after_write),
		cmocka_unit_test(test_zero_after_write_sparse),
		cmocka_unit_test(test_rate_and_rtt),
		cmocka_unit_test(test_no_space_for_ram),
	};

	qm_log_set_level(QM_LOG_ERROR);
	return cmocka_run_group_tests_name("/transport/faults", tests, NULL,
					   NULL);
}
