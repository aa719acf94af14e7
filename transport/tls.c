/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Optional TLS 1.3 under every stream (PROTOCOL.md section 8), from
 * OpenSSL's libssl:
 *
 *  - Authenticated by the pre-shared key, without certificates: an
 *    external PSK (RFC 8446 4.2.11) derived from the key file with its
 *    own label, so the key itself is used only by the qmig handshake.
 *  - psk_dhe_ke only (OpenSSL's default without SSL_OP_ALLOW_NO_DHE_KEX):
 *    every connection runs X25519 (or P-256), so recorded traffic stays
 *    secret even if the key file leaks later.
 *  - One suite, TLS_AES_128_GCM_SHA256 (AES-NI makes it the cheapest, and
 *    it is what the kernel's TLS takes); no tickets, no middlebox
 *    compatibility records, no renegotiation: after the handshake only
 *    application data flows, which is what lets the kernel take over.
 *  - The whole handshake runs on the non-blocking socket with poll(), by
 *    the deadline of the qmig handshake that follows it.
 *
 * After the handshake the connection is a plain byte stream for the rest
 * of the transport: the socket itself when the kernel took the keys
 * (ktls.c), else a socketpair served by a pump thread (tls-pump.c).
 */
#define LOG_PREFIX "transport"
#include "transport/tls-int.h"

#include <errno.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

static const char psk_label[] = "qmig-tls13-psk-v1";
static const char psk_identity[] = "qmig-v1";
static const unsigned char suite_aes128gcm[2] = { 0x13, 0x01 };

/* ---- a socket BIO that never raises SIGPIPE ---- */

/* OpenSSL's own socket BIO write()s: a peer that reset the connection
 * would kill the agent with SIGPIPE. Same calls, with MSG_NOSIGNAL. */
int tp_tls_flush(tp_tls *t)
{
	while (t->woff < t->wlen) {
		ssize_t n = send(t->fd, t->wbuf + t->woff, t->wlen - t->woff,
				 MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n < 0)
			return -1;
		t->woff += (size_t)n;
	}
	t->woff = t->wlen = 0;
	return 1;
}

/* In the pump, records are gathered (up to TP_TLS_BUF) and sent together
 * by tp_tls_flush(): one send() per 16 records instead of one each. */
static int bio_write(BIO *b, const char *buf, int len)
{
	tp_tls *t = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (t->wbuf) {
		if (t->wlen + (size_t)len > TP_TLS_BUF) {
			if (tp_tls_flush(t) < 0)
				return -1;
			if (t->woff) {
				memmove(t->wbuf, t->wbuf + t->woff,
					t->wlen - t->woff);
				t->wlen -= t->woff;
				t->woff = 0;
			}
		}
		if (t->wlen + (size_t)len > TP_TLS_BUF) {
			BIO_set_retry_write(b);
			errno = EAGAIN;
			return -1;
		}
		memcpy(t->wbuf + t->wlen, buf, (size_t)len);
		t->wlen += (size_t)len;
		return len;
	}
	n = send(t->fd, buf, (size_t)len, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_write(b);
	return (int)n;
}

static bool is_tls_record(const uint8_t *b)
{
	/* handshake (22), alert (21) or application data (23), version 3.x */
	return b[0] >= 21 && b[0] <= 23 && b[1] == 3;
}

static int bio_read(BIO *b, char *buf, int len)
{
	tp_tls *t = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	/* The client's first read may come in the very call that sent the
	 * ClientHello: look before OpenSSL parses a plaintext receiver's
	 * ABORT as a record ("wrong version number"). */
	if (t->first_read) {
		uint8_t h[2];

		n = recv(t->fd, h, 2, MSG_PEEK);
		if (n == 2) {
			t->first_read = false;
			t->not_tls = !is_tls_record(h);
		}
		if (t->not_tls) {
			errno = EPROTO;
			return -1;
		}
		if (n == 1) {
			/* One byte: handshake() waits for the second. */
			BIO_set_retry_read(b);
			return -1;
		}
	}
	n = recv(t->fd, buf, (size_t)len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_read(b);
	return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	tp_tls *t = BIO_get_data(b);
	int rc;

	switch (cmd) {
	case BIO_CTRL_FLUSH:
		BIO_clear_retry_flags(b);
		rc = tp_tls_flush(t);
		if (!rc)
			BIO_set_retry_write(b);
		return rc;
	case BIO_CTRL_WPENDING:
		return (long)(t->wlen - t->woff);
	}
	return 0;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void bio_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				     "qmig socket");

	if (m && BIO_meth_set_write(m, bio_write) &&
	    BIO_meth_set_read(m, bio_read) && BIO_meth_set_ctrl(m, bio_ctrl) &&
	    BIO_meth_set_create(m, bio_create))
		bio_method = m;
	else
		BIO_meth_free(m);
}

/* ---- errors ---- */

bool tp_tls_fail(SSL *ssl, int rc, const char *what, qm_error *err)
{
	int sys = errno, e = ssl ? SSL_get_error(ssl, rc) : SSL_ERROR_SSL;
	unsigned long code = ERR_peek_error();
	const char *why = code ? ERR_reason_error_string(code) : NULL;
	int reason = ERR_GET_REASON(code);

	ERR_clear_error();
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !code &&
					    (!sys || sys == ECONNRESET ||
					     sys == EPIPE)))
		return qm_error_set(err, QM_ERR_CLOSED, "%s: the peer closed "
				    "the connection%s%s", what, sys ? ": " : "",
				    sys ? strerror(sys) : "");
	if (e == SSL_ERROR_SYSCALL && !code)
		return qm_error_errno(err, sys, "%s", what);
	switch (reason) {
	case SSL_R_BINDER_DOES_NOT_VERIFY:
		return qm_error_set(err, QM_ERR_PROTO, "%s: the sender's key "
				    "does not match (TLS PSK binder does not "
				    "verify: wrong pre-shared key?)", what);
	case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
	case SSL_R_SSLV3_ALERT_ILLEGAL_PARAMETER:
		/* What the receiver's OpenSSL answers a PSK binder that does
		 * not verify with (3.0: illegal_parameter). */
		return qm_error_set(err, QM_ERR_PROTO, "%s: the receiver "
				    "refused our key (TLS alert %s: wrong "
				    "pre-shared key?)", what,
				    SSL_alert_desc_string_long(
				    reason - SSL_AD_REASON_OFFSET));
	case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
		return qm_error_set(err, QM_ERR_PROTO, "%s: a TLS record "
				    "failed authentication (bad record mac: "
				    "changed on the path, or a replayed "
				    "handshake)", what);
	case SSL_R_SSLV3_ALERT_BAD_RECORD_MAC:
		return qm_error_set(err, QM_ERR_PROTO, "%s: the peer found a "
				    "TLS record of ours changed on the path "
				    "(alert bad_record_mac)", what);
	}
	return qm_error_set(err, QM_ERR_PROTO, "%s: %s", what,
			    why ? why : "TLS error");
}

/* ---- the context ---- */

static tp_tls_ctx *ctx_of(SSL *ssl)
{
	return SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
}

/* The PSK as OpenSSL wants it: a session with the key as its master
 * secret, for the one suite (whose hash, SHA-256, the PSK is bound to). */
static SSL_SESSION *psk_session(SSL *ssl)
{
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, suite_aes128gcm);
	SSL_SESSION *s = SSL_SESSION_new();

	if (!cipher || !s ||
	    !SSL_SESSION_set1_master_key(s, ctx_of(ssl)->psk, TP_MAC_SIZE) ||
	    !SSL_SESSION_set_cipher(s, cipher) ||
	    !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
		SSL_SESSION_free(s);
		return NULL;
	}
	return s;
}

static int use_session_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id,
			  size_t *idlen, SSL_SESSION **sess)
{
	/* @md is set after a HelloRetryRequest: the suite is then fixed,
	 * and ours is the only one offered, so it is SHA-256. */
	*sess = md && !EVP_MD_is_a(md, "SHA256") ? NULL : psk_session(ssl);
	*id = (const unsigned char *)psk_identity;
	*idlen = *sess ? strlen(psk_identity) : 0;
	return 1;
}

static int find_session_cb(SSL *ssl, const unsigned char *id, size_t idlen,
			   SSL_SESSION **sess)
{
	/* Another identity gets no PSK; with no certificate to fall back
	 * on, the handshake then fails. */
	*sess = NULL;
	if (idlen == strlen(psk_identity) && !memcmp(id, psk_identity, idlen))
		*sess = psk_session(ssl);
	return 1;
}

tp_tls_ctx *tp_tls_ctx_new(bool server, const uint8_t *psk, size_t psk_len,
			   qm_error *err)
{
	tp_tls_ctx *c = calloc(1, sizeof(*c));
	SSL_CTX *x;

	pthread_once(&bio_once, bio_method_init);
	if (!c || !bio_method) {
		free(c);
		qm_error_set(err, QM_ERR_NOMEM, "TLS: context");
		return NULL;
	}
	c->server = server;
	if (!tp_auth_derive(psk, psk_len, psk_label, c->psk, err)) {
		free(c);
		return NULL;
	}
	x = c->ctx = SSL_CTX_new(server ? TLS_server_method() :
				 TLS_client_method());
	if (!x || !SSL_CTX_set_min_proto_version(x, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(x, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(x, "TLS_AES_128_GCM_SHA256") ||
	    !SSL_CTX_set1_groups_list(x, "X25519:P-256") ||
	    !SSL_CTX_set_num_tickets(x, 0)) {
		tp_tls_fail(NULL, 0, "TLS: context", err);
		tp_tls_ctx_free(c);
		return NULL;
	}
	SSL_CTX_set_app_data(x, c);
	SSL_CTX_clear_options(x, SSL_OP_ENABLE_MIDDLEBOX_COMPAT);
	/* The protocol ends with COMMIT/ACK or ABORT, so a cut is seen
	 * there; a stream ends with a TCP FIN, no close_notify (a kTLS
	 * peer would read that alert as EIO). */
	SSL_CTX_set_options(x, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(x, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_default_read_buffer_len(x, TP_TLS_BUF);
	SSL_CTX_set_keylog_callback(x, tp_ktls_keylog);
	if (server) {
		SSL_CTX_set_psk_find_session_callback(x, find_session_cb);
	} else {
		SSL_CTX_set_psk_use_session_callback(x, use_session_cb);
		/* A server that skips the PSK for a certificate fails (no
		 * trust store), instead of being accepted unverified. */
		SSL_CTX_set_verify(x, SSL_VERIFY_PEER, NULL);
	}
	return c;
}

void tp_tls_ctx_free(tp_tls_ctx *c)
{
	if (!c)
		return;
	SSL_CTX_free(c->ctx);
	OPENSSL_cleanse(c->psk, sizeof(c->psk));
	free(c);
}

void tp_tls_ctx_keep_keys(tp_tls_ctx *c)
{
	c->keep_keys = true;
}

/* ---- handshake ---- */

/* Look at the peer's first two bytes without taking them: 2 = seen,
 * 0 = EOF first, -1 = error or deadline. */
static int peek2(int fd, uint8_t *b, int64_t deadline_ns, const char *peer,
		 qm_error *err)
{
	for (;;) {
		ssize_t n = recv(fd, b, 2, MSG_PEEK);
		int rc;

		if (n == 2 || n == 0)
			return (int)n;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return qm_error_errno(err, errno, "TLS handshake: "
					      "recv"), -1;
		if (n == 1) {
			/* One byte of the first two: poll() would not wait
			 * for the second, so sleep a little instead. */
			rc = qm_now_ns() < deadline_ns;
			if (rc)
				usleep(1000);
		} else {
			rc = tp_sock_wait(fd, POLLIN, deadline_ns);
		}
		if (rc == 0)
			return qm_error_set(err, QM_ERR_TIMEOUT, "TLS "
					    "handshake: nothing from the %s "
					    "within the timeout", peer), -1;
		if (rc < 0)
			return qm_error_errno(err, -rc, "TLS handshake: "
					      "poll"), -1;
	}
}

/* Receiver: a plaintext qmig sender gets a plaintext ABORT saying why,
 * as it would from a receiver without TLS, never a silent downgrade. */
static bool server_first_bytes(int fd, int64_t deadline_ns, qm_error *err)
{
	qm_error e = QM_ERROR_INIT;
	uint8_t b[2];
	int n = peek2(fd, b, deadline_ns, "sender", err);

	if (n <= 0)
		return n == 0 ? qm_error_set(err, QM_ERR_CLOSED, "TLS "
					     "handshake: the sender closed the "
					     "connection") : false;
	if (b[0] == 22 && b[1] == 3)
		return true;
	if (tp_get16(b) == TP_FRAME_HELLO) {
		qm_error_set(&e, QM_ERR_PROTO, "the sender connected without "
			     "TLS; this receiver requires TLS (both ends must "
			     "have it on)");
		tp_sock_send_abort(fd, TP_ABORT_PROTOCOL, e.msg);
	} else {
		qm_error_set(&e, QM_ERR_PROTO, "TLS handshake: the sender "
			     "sent neither a TLS ClientHello nor a qmig HELLO "
			     "(first bytes %02x %02x)", b[0], b[1]);
	}
	if (err && !qm_error_is_set(err))
		*err = e;
	return false;
}

/* Sender: the receiver answered our ClientHello with something that is
 * not TLS (bio_read saw it first); say what. Returns false. */
static bool client_not_tls(int fd, int64_t deadline_ns, qm_error *err)
{
	uint8_t buf[TP_FRAME_HDR_SIZE + TP_ABORT_FIXED_LEN + TP_MAX_ABORT_MSG];
	qm_error e = QM_ERROR_INIT;
	int n = peek2(fd, buf, deadline_ns, "receiver", err);
	tp_frame f;

	if (n <= 0)
		return n == 0 ? qm_error_set(err, QM_ERR_CLOSED, "TLS "
					     "handshake: the receiver closed "
					     "the connection") : false;
	if (tp_get16(buf) != TP_FRAME_ABORT)
		return qm_error_set(err, QM_ERR_PROTO, "TLS handshake: the "
				    "receiver answered with something other "
				    "than TLS (first bytes %02x %02x)", buf[0],
				    buf[1]);
	if (tp_sock_read_frame(fd, buf, sizeof(buf), &(tp_limits){ 0 },
			       deadline_ns, NULL, &f, &e) &&
	    f.type == TP_FRAME_ABORT)
		tp_peer_abort_error(&f, "receiver", &e);
	return qm_error_set(err, QM_ERR_PROTO, "TLS handshake: the receiver "
			    "answered without TLS (TLS is off there; both ends "
			    "must have it on): %s", e.msg);
}

static bool handshake(tp_tls *t, int64_t deadline_ns, qm_error *err)
{
	const char *peer = t->c->server ? "sender" : "receiver";

	t->first_read = !t->c->server;
	for (;;) {
		int rc, e;
		short ev;

		ERR_clear_error();
		rc = SSL_do_handshake(t->ssl);
		if (rc == 1)
			return true;
		e = SSL_get_error(t->ssl, rc);
		if (t->not_tls)
			return client_not_tls(t->fd, deadline_ns, err);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return tp_tls_fail(t->ssl, rc, "TLS handshake", err);
		ev = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		if (ev == POLLIN && t->first_read) {
			/* Wait for two bytes, not just readable. */
			rc = peek2(t->fd, (uint8_t[2]){ 0 }, deadline_ns, peer,
				   err);
			if (rc < 0)
				return false;
			if (rc == 0)
				return qm_error_set(err, QM_ERR_CLOSED, "TLS "
						    "handshake: the receiver "
						    "closed the connection");
			continue;
		}
		rc = tp_sock_wait(t->fd, ev, deadline_ns);
		if (rc == 0)
			return qm_error_set(err, QM_ERR_TIMEOUT, "TLS "
					    "handshake: no answer from the %s "
					    "within the timeout", peer);
		if (rc < 0)
			return qm_error_errno(err, -rc, "TLS handshake: poll");
	}
}

/* What the handshake must have given, checked rather than assumed. */
static bool check_session(tp_tls *t, qm_error *err)
{
	SSL *ssl = t->ssl;
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	int group = (int)SSL_get_negotiated_group(ssl);

	if (SSL_version(ssl) != TLS1_3_VERSION || !SSL_session_reused(ssl) ||
	    !c || SSL_CIPHER_get_protocol_id(c) != 0x1301 || group <= 0)
		return qm_error_set(err, QM_ERR_PROTO, "TLS handshake: %s, "
				    "suite %s, PSK %s, group %d: expected "
				    "TLS 1.3 with the pre-shared key and "
				    "ECDHE", SSL_get_version(ssl),
				    c ? SSL_CIPHER_get_name(c) : "none",
				    SSL_session_reused(ssl) ? "used" :
				    "not used", group);
	pr_debug("%s: TLS 1.3, %s, PSK with %s", t->name,
		 SSL_CIPHER_get_name(c), SSL_group_to_name(ssl, group));
	return true;
}

static void tls_free(tp_tls *t)
{
	SSL_free(t->ssl);
	if (t->app >= 0)
		close(t->app);
	if (!t->ktls && t->fd >= 0)
		close(t->fd);
	if (t->efd >= 0)
		close(t->efd);
	free(t->wbuf);
	OPENSSL_cleanse(t->sec_tx, sizeof(t->sec_tx));
	OPENSSL_cleanse(t->sec_rx, sizeof(t->sec_rx));
	OPENSSL_cleanse(&t->ktx, sizeof(t->ktx));
	OPENSSL_cleanse(&t->krx, sizeof(t->krx));
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static bool start_pump(tp_tls *t, int *app_fd, qm_error *err)
{
	int sv[2], rc;

	/* Records gathered for one send() per 16 (tls.c BIO): about 13%
	 * less sender CPU than a send() per record (BENCHMARKS.md). */
	t->wbuf = malloc(TP_TLS_BUF);
	if (!t->wbuf)
		return qm_error_set(err, QM_ERR_NOMEM, "TLS: pump buffer");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0)
		return qm_error_errno(err, errno, "TLS: socketpair");
	t->app = sv[1];
	/* Default socketpair buffers: 1 and 4 MiB measured no better. */
	t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->efd < 0) {
		close(sv[0]);
		return qm_error_errno(err, errno, "TLS: eventfd");
	}
	/* Records from here on may be read ahead: nothing else will ever
	 * read this socket. (Off during the handshake, so the kernel could
	 * have taken over at a record boundary.) */
	SSL_set_read_ahead(t->ssl, 1);
	rc = pthread_create(&t->thread, NULL, tp_tls_pump_main, t);
	if (rc) {
		close(sv[0]);
		return qm_error_errno(err, rc, "TLS: starting the pump");
	}
	t->started = true;
	pthread_setname_np(t->thread, t->name);
	*app_fd = sv[0];
	return true;
}

tp_tls *tp_tls_open(tp_tls_ctx *c, int fd, const char *name,
		    int64_t deadline_ns, int *app_fd, qm_error *err)
{
	tp_tls *t = calloc(1, sizeof(*t));
	BIO *bio = NULL;
	int rc;

	if (!t) {
		qm_error_set(err, QM_ERR_NOMEM, "TLS");
		return NULL;
	}
	t->c = c;
	t->fd = fd;
	t->app = t->efd = -1;
	pthread_mutex_init(&t->lock, NULL);
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->ssl = SSL_new(c->ctx);
	bio = t->ssl ? BIO_new(bio_method) : NULL;
	if (!bio) {
		qm_error_set(err, QM_ERR_NOMEM, "TLS: connection");
		goto fail;
	}
	BIO_set_data(bio, t);
	SSL_set_bio(t->ssl, bio, bio);	/* the SSL owns it now */
	SSL_set_app_data(t->ssl, t);
	if (c->server)
		SSL_set_accept_state(t->ssl);
	else
		SSL_set_connect_state(t->ssl);
	if ((c->server && !server_first_bytes(fd, deadline_ns, err)) ||
	    !handshake(t, deadline_ns, err) || !check_session(t, err))
		goto fail;
	rc = tp_ktls_setup(t, err);
	if (rc < 0)
		goto fail;
	if (rc > 0) {
		/* The kernel holds the keys: OpenSSL is done. */
		t->ktls = true;
		SSL_free(t->ssl);
		t->ssl = NULL;
		*app_fd = fd;
		return t;
	}
	if (start_pump(t, app_fd, err))
		return t;
fail:
	t->fd = -1;		/* the caller's */
	tls_free(t);
	return NULL;
}

bool tp_tls_is_ktls(const tp_tls *t)
{
	return t && t->ktls;
}

void tp_tls_attach(tp_tls *t, tp_session *s, int stream)
{
	qm_error e;
	char name[16];

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->sess = s;
	t->stream = stream;
	e = t->err;
	pthread_mutex_unlock(&t->lock);
	if (!s)
		return;
	/* A failure while the set-up code was not looking. */
	if (qm_error_is_set(&e))
		tp_tls_report(t, &e);
	/* The receiver learns the stream index only from HELLO. */
	if (t->started) {
		snprintf(name, sizeof(name), "tp-%s%d-tls",
			 s->is_sender ? "tx" : "rx", stream % TP_MAX_STREAMS);
		pthread_setname_np(t->thread, name);
	}
}

void tp_tls_report(tp_tls *t, const qm_error *e)
{
	qm_error se = *e;
	bool open = false;

	pthread_mutex_lock(&t->lock);
	if (!qm_error_is_set(&t->err))
		t->err = *e;
	if (t->sess) {
		pthread_mutex_lock(&t->sess->lock);
		open = t->sess->end == TP_END_OPEN && !t->sess->failed;
		pthread_mutex_unlock(&t->sess->lock);
	}
	/* Held across the report: tp_tls_attach(NULL) waits for it, so the
	 * session outlives it. After the session ended, nothing to say. */
	if (open) {
		qm_error_prepend(&se, "stream %d", t->stream);
		tp_session_fail_local(t->sess, &se);
	}
	pthread_mutex_unlock(&t->lock);
}

void tp_tls_explain(tp_tls *t, qm_error *err)
{
	if (!t || !err)
		return;
	pthread_mutex_lock(&t->lock);
	if (qm_error_is_set(&t->err))
		*err = t->err;
	pthread_mutex_unlock(&t->lock);
}

void tp_tls_close(tp_tls *t)
{
	uint64_t one = 1;

	if (!t)
		return;
	if (t->started) {
		pthread_mutex_lock(&t->lock);
		t->stop_ns = qm_now_ns();
		pthread_mutex_unlock(&t->lock);
		if (write(t->efd, &one, sizeof(one)) < 0) {
			/* saturated: a wake-up is pending anyway */
		}
		pthread_join(t->thread, NULL);
	}
	tls_free(t);
}

bool tp_tls_keys(const tp_tls *t, tp_ktls_info *tx, tp_ktls_info *rx)
{
	if (!t || !t->keys)
		return false;
	*tx = t->ktx;
	*rx = t->krx;
	return true;
}
