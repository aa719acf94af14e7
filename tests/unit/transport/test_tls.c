/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * TLS 1.3 on the streams (the transfers themselves run in
 * test_transfer.c with QMIG_TEST_TLS=1): both ends must agree, with a
 * clear error either way and never a downgrade; the pre-shared key
 * authenticates; a recorded handshake does not replay; the wire carries
 * no page content and no hash secret; a cut or a changed byte ends both
 * sides cleanly; a silent or garbling peer cannot hang the handshake;
 * the keys derived for the kernel (kTLS) are the ones on the wire.
 * Run by meson as is (kTLS where the kernel has it) and with
 * QMIG_KTLS=off (the user-space pump).
 */
#include "fixture.h"
#include "transport/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NPAGES 4096ull		/* 16 MiB */


static tp_receiver *tls_receiver(const tf_dir *d, const char *psk,
				 int timeout_ms)
{
	tp_receiver_config rc = {
		.listen_host = "127.0.0.1",
		.psk = (const uint8_t *)psk,
		.psk_len = strlen(psk),
		.ram_dir = d->path,
		.timeout_ms = timeout_ms,
		.tls = true,
	};
	qm_error err = QM_ERROR_INIT;
	tp_receiver *r = tp_receiver_new(&rc, &err);

	if (!r)
		fail_msg("%s", err.msg);
	return r;
}

/* ---- both ends must agree ---- */

/* A TLS sender and a receiver without TLS: the receiver recognises the
 * ClientHello and says so in a plaintext ABORT, which the sender reads
 * instead of a TLS answer. Nothing is downgraded. */
static void test_tls_sender_plain_receiver(void **state)
{
	qm_error err = QM_ERROR_INIT;
	tf_pair g;

	tf_pair_init(&g, 64, false, true);
	tf_recv_start(&g.rt, tf_receiver_new_opt(&g.ddst, TF_PSK, NULL, false,
						 false));
	assert_false(tf_pair_connect(&g, tp_receiver_port(g.rt.r), &err));
	tf_assert_msg(&err, QM_ERR_PROTO, "stream 0: TLS handshake: the receiver "
		   "answered without TLS (TLS is off there; both ends must "
		   "have it on): receiver aborted the migration (code 2 "
		   "protocol): the sender speaks TLS; TLS is off on this "
		   "receiver");
	tf_recv_join(&g.rt);
	assert_false(g.rt.accept_ok);
	tf_assert_msg(&g.rt.err, QM_ERR_PROTO, "the sender speaks TLS; TLS is "
		   "off on this receiver (both ends must have it on)");
	tf_pair_fini(&g);
}

/* A sender without TLS and a TLS receiver: the receiver sees a qmig
 * HELLO where a ClientHello belongs and refuses in plaintext. */
static void test_plain_sender_tls_receiver(void **state)
{
	qm_error err = QM_ERROR_INIT;
	tf_pair g;

	tf_pair_init(&g, 64, false, false);
	tf_recv_start(&g.rt, tf_receiver_new_opt(&g.ddst, TF_PSK, NULL, false,
						 true));
	assert_false(tf_pair_connect(&g, tp_receiver_port(g.rt.r), &err));
	tf_assert_msg(&err, QM_ERR_CANCELLED, "stream 0: peer aborted the "
		   "migration (code 2 protocol): the sender connected without "
		   "TLS; this receiver requires TLS (both ends must have it "
		   "on)");
	tf_recv_join(&g.rt);
	assert_false(g.rt.accept_ok);
	tf_assert_msg(&g.rt.err, QM_ERR_PROTO, "the sender connected without "
		   "TLS; this receiver requires TLS");
	tf_pair_fini(&g);
}

/* ---- authentication ---- */

/* Another key fails in the TLS handshake itself (the PSK binder), on
 * both sides, before a qmig frame is exchanged. */
static void test_tls_wrong_key(void **state)
{
	qm_error err = QM_ERROR_INIT;
	tf_pair g;

	tf_pair_init(&g, 64, false, true);
	tf_recv_start(&g.rt, tf_receiver_new_opt(&g.ddst, TF_PSK, NULL, false,
						 true));
	g.sc.psk = (const uint8_t *)"another-key-of-enough-length";
	g.sc.psk_len = strlen((const char *)g.sc.psk);
	assert_false(tf_pair_connect(&g, tp_receiver_port(g.rt.r), &err));
	tf_recv_join(&g.rt);
	print_message("sender: %s\nreceiver: %s\n", err.msg, g.rt.err.msg);
	/* The alert is the receiver OpenSSL's choice (3.0: illegal
	 * parameter). */
	tf_assert_msg(&err, QM_ERR_PROTO, "stream 0: TLS handshake: the receiver "
		   "refused our key (TLS alert ");
	tf_assert_msg(&err, QM_ERR_PROTO, ": wrong pre-shared key?)");
	assert_false(g.rt.accept_ok);
	tf_assert_msg(&g.rt.err, QM_ERR_PROTO, "TLS handshake: the sender's key "
		   "does not match (TLS PSK binder does not verify: wrong "
		   "pre-shared key?)");
	tf_pair_fini(&g);
}

/* Read whatever comes until EOF, an error or the deadline. */
static void drain(int fd, int ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	uint8_t buf[4096];

	while (poll(&pf, 1, ms) > 0 && recv(fd, buf, sizeof(buf), 0) > 0)
		;
}

/* Everything a sender sent on its first connection, recorded and
 * replayed to a new receiver: the ClientHello is accepted (its binder is
 * valid), but the receiver's fresh key share makes new handshake keys,
 * so the recorded Finished fails authentication and nothing further is
 * read. */
static void test_tls_replay(void **state)
{
	qm_error err = QM_ERROR_INIT;
	tf_proxy px = { .record = 1 << 20 };
	ssize_t n;
	int fd;
	tf_pair g;

	tf_pair_init(&g, 64, true, true);
	g.sc.streams = 1;
	tf_recv_start(&g.rt, tf_receiver_new_opt(&g.ddst, TF_PSK, NULL, false,
						 true));
	tf_proxy_start(&px, tp_receiver_port(g.rt.r));
	if (!tf_pair_connect(&g, px.port, &err) ||
	    !tp_sender_queue(g.s, 0, 64, &err) ||
	    !tp_sender_flush(g.s, 0, NULL, &err) ||
	    !tp_sender_commit(g.s, 0, 5000, &err))
		fail_msg("%s", err.msg);
	tf_recv_join(&g.rt);
	assert_true(g.rt.commit_ok);
	tf_proxy_stop(&px);
	/* A ClientHello, then more than 64 pages' worth of records. */
	assert_int_equal(px.rec[0], 22);
	assert_true(px.rec_len > 64 * DL_PAGE_SIZE && px.rec_len < px.record);
	tp_receiver_free(g.rt.r);

	tf_recv_start(&g.rt, tf_receiver_new_opt(&g.ddst, TF_PSK, NULL, false,
						 true));
	fd = tf_raw_connect(tp_receiver_port(g.rt.r));
	n = send(fd, px.rec, px.rec_len, MSG_NOSIGNAL);
	assert_true(n > 0);
	drain(fd, 2000);
	close(fd);
	tf_recv_join(&g.rt);
	assert_false(g.rt.accept_ok);
	tf_assert_msg(&g.rt.err, QM_ERR_PROTO, "TLS handshake: a TLS record "
		   "failed authentication (bad record mac: changed on the "
		   "path, or a replayed handshake)");
	free(px.rec);
	px.rec = NULL;
	tf_pair_fini(&g);
}

/* ---- what the wire shows ---- */

static const uint8_t pattern[64] =
	"a 64-byte pattern in guest page 100 that must not cross in clear";

/* One stream through a recording proxy; page 100 carries the pattern. */
static void capture(bool tls, bool *page_seen, bool *secret_seen)
{
	qm_error err = QM_ERROR_INIT;
	tf_proxy px = { .record = 8 << 20 };
	tf_pair g;

	tf_pair_init(&g, 1024, true, tls);
	g.sc.streams = 1;
	memcpy(dl_ram_page(&g.src, 100) + 1000, pattern, sizeof(pattern));
	tf_recv_start(&g.rt, tf_receiver_new_opt(&g.ddst, TF_PSK, NULL, false,
						 tls));
	tf_proxy_start(&px, tp_receiver_port(g.rt.r));
	if (!tf_pair_connect(&g, px.port, &err) ||
	    !tp_sender_queue(g.s, 0, 1024, &err) ||
	    !tp_sender_flush(g.s, 0, NULL, &err) ||
	    !tp_sender_commit(g.s, 0, 5000, &err))
		fail_msg("%s", err.msg);
	tf_recv_join(&g.rt);
	tf_proxy_stop(&px);
	assert_true(g.rt.commit_ok);
	/* The page arrived, and all of the connection was recorded. */
	assert_memory_equal(dl_ram_page(tp_receiver_ram(g.rt.r), 100) + 1000,
			    pattern, sizeof(pattern));
	assert_true(px.rec_len > 1024 * DL_PAGE_SIZE);
	assert_true(px.rec_len < px.record);
	*page_seen = memmem(px.rec, px.rec_len, pattern, sizeof(pattern));
	*secret_seen = memmem(px.rec, px.rec_len, g.h.secret, DL_SECRET_SIZE);
	free(px.rec);
	tf_pair_fini(&g);
}

/* Without TLS the recording holds the page and SETUP's hash secret (so
 * the search works); with TLS it holds neither. */
static void test_tls_wire_has_no_pages(void **state)
{
	bool page, secret;

	capture(false, &page, &secret);
	assert_true(page);
	assert_true(secret);
	capture(true, &page, &secret);
	assert_false(page);
	assert_false(secret);
}

/* ---- failures mid-transfer ---- */

static void transfer_fails(tf_pair *g, tf_proxy *px, qm_error *err)
{
	int64_t t0 = qm_now_ns();

	tf_recv_start(&g->rt, tf_receiver_new_opt(&g->ddst, TF_PSK, NULL,
						  false, true));
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

/* The link cut after 4 MiB: both sides end with an error, in time. The
 * receiver sees what it would see without TLS: the peer closed. */
static void test_tls_cut_mid_transfer(void **state)
{
	qm_error err = QM_ERROR_INIT;
	tf_proxy px = { .cut_after = 4 << 20 };
	tf_pair g;

	tf_pair_init(&g, NPAGES, true, true);
	transfer_fails(&g, &px, &err);
	assert_true(err.code == QM_ERR_CLOSED || err.code == QM_ERR_CANCELLED ||
		    err.code == QM_ERR_PROTO);
	tf_assert_msg(&g.rt.err, QM_ERR_CLOSED, "peer closed the connection");
	tf_pair_fini(&g);
}

/* 64 bytes changed 1 MiB into the stream, inside page payload: without
 * TLS only the verification would notice (test_faults.c); with TLS the
 * record fails authentication at once and the receiver says so. */
static void test_tls_tamper(void **state)
{
	qm_error err = QM_ERROR_INIT;
	tf_proxy px = { .garbage_at = 1 << 20 };
	tf_pair g;

	tf_pair_init(&g, NPAGES, true, true);
	g.sc.streams = 1;
	transfer_fails(&g, &px, &err);
	assert_int_equal(g.rt.err.code, QM_ERR_PROTO);
	assert_non_null(strstr(g.rt.err.msg, "stream 0: TLS: "));
	assert_true(qm_error_is_set(&err));
	tf_pair_fini(&g);
}

/* ---- handshake deadlines and garbage ---- */

/* A receiver that accepts and never answers: the sender's TLS handshake
 * ends at its timeout. */
static void test_tls_silent_receiver(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	qm_error err = QM_ERROR_INIT;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int64_t t0;
	tf_pair g;

	tf_pair_init(&g, 64, false, true);
	g.sc.timeout_ms = 500;
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	t0 = qm_now_ns();
	assert_false(tf_pair_connect(&g, ntohs(sa.sin_port), &err));
	tf_assert_msg(&err, QM_ERR_TIMEOUT, "stream 0: TLS handshake: nothing "
		   "from the receiver within the timeout");
	assert_true(qm_now_ns() - t0 < 1500000000LL);
	close(lfd);
	tf_pair_fini(&g);
}

/* A client that connects and says nothing: the receiver's handshake ends
 * at its timeout. */
static void test_tls_silent_sender(void **state)
{
	int64_t t0 = qm_now_ns();
	int fd;
	tf_pair g;

	tf_pair_init(&g, 64, false, true);
	tf_recv_start(&g.rt, tls_receiver(&g.ddst, TF_PSK, 500));
	fd = tf_raw_connect(tp_receiver_port(g.rt.r));
	tf_recv_join(&g.rt);
	close(fd);
	assert_false(g.rt.accept_ok);
	tf_assert_msg(&g.rt.err, QM_ERR_TIMEOUT, "TLS handshake: nothing from the "
		   "sender within the timeout");
	assert_true(qm_now_ns() - t0 < 1500000000LL);
	tf_pair_fini(&g);
}

/* Garbage, and garbage behind a TLS record header: clean refusals. */
static void test_tls_garbage_client(void **state)
{
	static const uint8_t fake[] = "\x16\x03\x01\x00\x20"
				      "not a ClientHello, just 32 bytes";
	uint8_t junk[64];
	int fd;
	tf_pair g;

	tf_pair_init(&g, 64, false, true);
	tf_recv_start(&g.rt, tls_receiver(&g.ddst, TF_PSK, 2000));
	memset(junk, 0xff, sizeof(junk));
	fd = tf_raw_connect(tp_receiver_port(g.rt.r));
	assert_int_equal(send(fd, junk, sizeof(junk), 0), sizeof(junk));
	tf_recv_join(&g.rt);
	close(fd);
	assert_false(g.rt.accept_ok);
	tf_assert_msg(&g.rt.err, QM_ERR_PROTO, "TLS handshake: the sender sent "
		   "neither a TLS ClientHello nor a qmig HELLO (first bytes "
		   "ff ff)");
	tp_receiver_free(g.rt.r);

	tf_recv_start(&g.rt, tls_receiver(&g.ddst, TF_PSK, 2000));
	fd = tf_raw_connect(tp_receiver_port(g.rt.r));
	assert_int_equal(send(fd, fake, sizeof(fake) - 1, 0),
			 sizeof(fake) - 1);
	tf_recv_join(&g.rt);
	close(fd);
	assert_false(g.rt.accept_ok);
	assert_int_equal(g.rt.err.code, QM_ERR_PROTO);
	assert_non_null(strstr(g.rt.err.msg, "TLS handshake: "));
	print_message("fake ClientHello: %s\n", g.rt.err.msg);
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

/* A "receiver" that answers the ClientHello with garbage. */
static void test_tls_garbage_server(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	qm_error err = QM_ERROR_INIT;
	pthread_t th;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	tf_pair g;

	tf_pair_init(&g, 64, false, true);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	pthread_create(&th, NULL, garbage_server, &lfd);
	assert_false(tf_pair_connect(&g, ntohs(sa.sin_port), &err));
	tf_assert_msg(&err, QM_ERR_PROTO, "stream 0: TLS handshake: the receiver "
		   "answered with something other than TLS (first bytes 41 "
		   "41)");
	pthread_join(th, NULL);
	close(lfd);
	tf_pair_fini(&g);
}

/* ---- the kTLS keys ---- */

typedef struct side {
	tp_tls_ctx *ctx;
	tp_tls *tls;
	int lfd, app;
	uint8_t got[72];
	qm_error err;
} side;

static bool read_all(int fd, uint8_t *buf, size_t len, int64_t dl)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = recv(fd, buf + off, len - off, 0);

		if (n > 0)
			off += (size_t)n;
		else if (n == 0 || (errno != EAGAIN && errno != EINTR) ||
			 tp_sock_wait(fd, POLLIN, dl) <= 0)
			return false;
	}
	return true;
}

static void *key_server(void *arg)
{
	side *s = arg;
	int64_t dl = qm_now_ns() + 5000000000LL;
	int fd = tp_sock_accept(s->lfd, dl, &s->err);

	if (fd < 0)
		return NULL;
	s->tls = tp_tls_open(s->ctx, fd, "test-srv", dl, &s->app, &s->err);
	if (!s->tls)
		close(fd);
	else if (!read_all(s->app, s->got, sizeof(s->got), dl))
		qm_error_set(&s->err, QM_ERR_IO, "server: read");
	return NULL;
}

/* Open one TLS 1.3 record (AES-128-GCM, RFC 8446 5.2) with @k at @seq:
 * the plaintext length (inner content type stripped), -1 if it fails. */
static int open_record(const uint8_t *rec, size_t len, const tp_ktls_info *k,
		       uint64_t seq, uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t nonce[12];
	size_t clen = len - 5 - 16;
	int n = 0, m = 0, ok;

	memcpy(nonce, k->salt, 4);
	memcpy(nonce + 4, k->iv, 8);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(seq >> (8 * i));
	ok = c && EVP_DecryptInit_ex(c, EVP_aes_128_gcm(), NULL, k->key,
				     nonce) == 1 &&
	     EVP_DecryptUpdate(c, NULL, &n, rec, 5) == 1 &&
	     EVP_DecryptUpdate(c, out, &n, rec + 5, (int)clen) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16,
				 (void *)(rec + 5 + clen)) == 1 &&
	     EVP_DecryptFinal_ex(c, out + n, &m) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok)
		return -1;
	n += m;
	while (n > 0 && !out[n - 1])	/* padding */
		n--;
	/* The inner content type: application data. */
	return n > 0 && out[n - 1] == 23 ? n - 1 : -1;
}

/* The parameters handed (or that would be handed) to the kernel: each
 * side's send key is the other's receive key, and the client's records
 * on the wire after its Finished open with its send key from sequence 0,
 * giving exactly what it wrote. So the kernel, given these, speaks the
 * same records as OpenSSL. */
static void test_ktls_keys_match_wire(void **state)
{
	static const uint8_t msg[72] = "plaintext the client wrote after the "
				       "handshake, 72 bytes of it, exactly";
	qm_error err = QM_ERROR_INIT;
	tf_proxy px = { .record = 64 << 10 };
	side sv = { .lfd = -1, .app = -1 };
	tp_ktls_info ctx_k, crx_k, stx_k, srx_k;
	uint8_t plain[TP_RXBUF_SIZE];
	size_t off = 0, got = 0;
	int64_t dl = qm_now_ns() + 5000000000LL;
	uint16_t port;
	pthread_t th;
	tp_tls_ctx *cc;
	tp_tls *ct;
	uint64_t seq = 0;
	int n23 = 0, fd, app = -1;

	cc = tp_tls_ctx_new(false, (const uint8_t *)TF_PSK, strlen(TF_PSK),
			    &err);
	sv.ctx = tp_tls_ctx_new(true, (const uint8_t *)TF_PSK, strlen(TF_PSK),
				&err);
	assert_non_null(cc);
	assert_non_null(sv.ctx);
	tp_tls_ctx_keep_keys(cc);
	tp_tls_ctx_keep_keys(sv.ctx);
	sv.lfd = tp_sock_listen("127.0.0.1", 0, &port, &err);
	assert_true(sv.lfd >= 0);
	tf_proxy_start(&px, port);
	pthread_create(&th, NULL, key_server, &sv);
	fd = tp_sock_connect("127.0.0.1", px.port, dl, &err);
	assert_true(fd >= 0);
	ct = tp_tls_open(cc, fd, "test-cli", dl, &app, &err);
	if (!ct)
		fail_msg("%s", err.msg);
	assert_true(tp_sock_write(app, msg, sizeof(msg), dl, NULL, &err));
	pthread_join(th, NULL);
	if (qm_error_is_set(&sv.err))
		fail_msg("%s", sv.err.msg);
	assert_memory_equal(sv.got, msg, sizeof(msg));
	assert_true(tp_tls_keys(ct, &ctx_k, &crx_k));
	assert_true(tp_tls_keys(sv.tls, &stx_k, &srx_k));
	assert_int_equal(ctx_k.info.version, TLS_1_3_VERSION);
	assert_int_equal(ctx_k.info.cipher_type, TLS_CIPHER_AES_GCM_128);
	assert_memory_equal(&ctx_k, &srx_k, sizeof(ctx_k));
	assert_memory_equal(&crx_k, &stx_k, sizeof(crx_k));
	assert_memory_not_equal(&ctx_k, &crx_k, sizeof(ctx_k));
	close(app);
	close(sv.app);
	tp_tls_close(ct);
	tp_tls_close(sv.tls);
	tf_proxy_stop(&px);
	close(sv.lfd);
	tp_tls_ctx_free(cc);
	tp_tls_ctx_free(sv.ctx);

	/* ClientHello (22), Finished (first 23), then application data. */
	while (off + 5 <= px.rec_len) {
		size_t len = 5 + ((size_t)px.rec[off + 3] << 8 |
				  px.rec[off + 4]);
		int k;

		assert_true(off + len <= px.rec_len);
		if (px.rec[off] == 23 && n23++) {
			assert_true(len > 5 + 16 && len - 21 <= sizeof(plain));
			k = open_record(px.rec + off, len, &ctx_k, seq++,
					plain + got);
			assert_true(k >= 0);
			got += (size_t)k;
		}
		off += len;
	}
	assert_int_equal(off, px.rec_len);
	assert_int_equal(got, sizeof(msg));
	assert_memory_equal(plain, msg, sizeof(msg));
	free(px.rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_sender_plain_receiver),
		cmocka_unit_test(test_plain_sender_tls_receiver),
		cmocka_unit_test(test_tls_wrong_key),
		cmocka_unit_test(test_tls_replay),
		cmocka_unit_test(test_tls_wire_has_no_pages),
		cmocka_unit_test(test_tls_cut_mid_transfer),
		cmocka_unit_test(test_tls_tamper),
		cmocka_unit_test(test_tls_silent_receiver),
		cmocka_unit_test(test_tls_silent_sender),
		cmocka_unit_test(test_tls_garbage_client),
		cmocka_unit_test(test_tls_garbage_server),
		cmocka_unit_test(test_ktls_keys_match_wire),
	};

	qm_log_set_level(QM_LOG_ERROR);
	return cmocka_run_group_tests_name("/transport/tls", tests, NULL, NULL);
}
