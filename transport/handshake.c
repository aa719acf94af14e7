/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The per-stream handshake (PROTOCOL.md "Handshake"):
 *
 *   sender                                   receiver
 *   HELLO {magic, versions, stream, n,  -->  check magic, versions, id
 *          migration id, nonce_s}
 *                                       <--  AUTH {version, nonce_d,
 *                                                  mac_d = HMAC(psk, "..receiver"
 *                                                          | HELLO | nonce_d)}
 *   check mac_d
 *   AUTH {mac_s = HMAC(psk, "..sender"  -->  check mac_s
 *         | HELLO | nonce_d)}
 *                                       <--  ACK(AUTH)
 *
 * Either side that finds the other wrong sends ABORT with the reason and
 * fails; nothing else is sent before authentication.
 */
#define LOG_PREFIX "transport"
#include "transport/internal.h"

#include <string.h>

static const tp_limits no_limits = { 0 };

/* Read a frame, turning a peer ABORT into an error and refusing any type
 * other than @want. */
static bool expect(int fd, tp_hs *hs, unsigned want, tp_frame *f,
		   qm_error *err)
{
	if (!tp_sock_read_frame(fd, hs->buf, TP_RXBUF_SIZE, &no_limits,
				hs->deadline_ns, hs->cnt, f, err))
		return false;
	if (f->type == TP_FRAME_ABORT)
		return tp_peer_abort_error(f, "peer", err);
	if (f->type != want)
		return qm_error_set(err, QM_ERR_PROTO,
				    "handshake: frame %s, expected %s",
				    tp_frame_name(f->type), tp_frame_name(want));
	return true;
}

static bool client_check_auth(int fd, tp_hs *hs, const uint8_t *hello,
			      qm_error *err)
{
	uint8_t mac[TP_MAC_SIZE], nonce_d[TP_NONCE_SIZE];
	tp_frame f;

	if (!expect(fd, hs, TP_FRAME_AUTH, &f, err))
		return false;
	if (f.u.auth.version < TP_PROTO_VERSION_MIN ||
	    f.u.auth.version > TP_PROTO_VERSION) {
		tp_sock_send_abort(fd, TP_ABORT_PROTOCOL, "version refused");
		return qm_error_set(err, QM_ERR_PROTO,
				    "AUTH: version %u, this side speaks %d..%d",
				    f.u.auth.version, TP_PROTO_VERSION_MIN,
				    TP_PROTO_VERSION);
	}
	hs->version = f.u.auth.version;
	memcpy(nonce_d, f.u.auth.nonce, TP_NONCE_SIZE);
	if (!tp_auth_mac(hs->psk, hs->psk_len, true, hello, nonce_d, mac, err))
		return false;
	if (!tp_auth_equal(mac, f.u.auth.mac)) {
		tp_sock_send_abort(fd, TP_ABORT_AUTH, "authentication failed");
		return qm_error_set(err, QM_ERR_PROTO,
				    "authentication failed on stream %u: the "
				    "receiver's proof does not match (wrong "
				    "pre-shared key?)", hs->stream);
	}
	if (!tp_auth_mac(hs->psk, hs->psk_len, false, hello, nonce_d, mac, err))
		return false;
	return tp_sock_write(fd, hs->buf, tp_encode_auth(hs->buf,
			     TP_RXBUF_SIZE, hs->version, NULL, mac),
			     hs->deadline_ns, hs->cnt, err);
}

bool tp_hs_client(int fd, tp_hs *hs, qm_error *err)
{
	uint8_t nonce[TP_NONCE_SIZE], hello[TP_HELLO_LEN];
	size_t n;
	tp_frame f;

	if (!tp_random(nonce, sizeof(nonce), err))
		return false;
	n = tp_encode_hello(hs->buf, TP_RXBUF_SIZE, hs->stream, hs->nstreams,
			    hs->migration_id, nonce);
	memcpy(hello, hs->buf + TP_FRAME_HDR_SIZE, TP_HELLO_LEN);
	if (!tp_sock_write(fd, hs->buf, n, hs->deadline_ns, hs->cnt, err) ||
	    !client_check_auth(fd, hs, hello, err) ||
	    !expect(fd, hs, TP_FRAME_ACK, &f, err))
		return false;
	if (f.u.ack.type != TP_FRAME_AUTH || f.u.ack.code)
		return qm_error_set(err, QM_ERR_PROTO,
				    "handshake: ACK of %s code %u, expected "
				    "ACK of AUTH code 0",
				    tp_frame_name(f.u.ack.type), f.u.ack.code);
	return true;
}

/* Fail, telling the peer why. */
static bool refuse(int fd, uint32_t code, qm_error *err, const qm_error *why)
{
	tp_sock_send_abort(fd, code, why->msg);
	if (err && !qm_error_is_set(err))
		*err = *why;
	return false;
}

bool tp_hs_server(int fd, tp_hs *hs, const uint8_t *expect_id,
		  qm_error *err)
{
	uint8_t nonce[TP_NONCE_SIZE], mac[TP_MAC_SIZE];
	qm_error e = QM_ERROR_INIT;
	tp_frame f;

	if (!expect(fd, hs, TP_FRAME_HELLO, &f, &e)) {
		/* A TLS record header (handshake, version 3.x) where HELLO
		 * should be: say what is wrong, not "type 790 unknown". */
		if (e.code == QM_ERR_PROTO && hs->buf[0] == 22 &&
		    hs->buf[1] == 3) {
			qm_error_clear(&e);
			qm_error_set(&e, QM_ERR_PROTO, "the sender speaks TLS; "
				     "TLS is off on this receiver (both ends "
				     "must have it on)");
		}
		return refuse(fd, TP_ABORT_PROTOCOL, err, &e);
	}
	if (!tp_hello_check(&f, expect_id, &hs->version, &e))
		return refuse(fd, TP_ABORT_PROTOCOL, err, &e);
	memcpy(hs->hello, hs->buf + TP_FRAME_HDR_SIZE, TP_HELLO_LEN);
	memcpy(hs->migration_id, f.u.hello.migration_id, TP_MIGRATION_ID_SIZE);
	hs->stream = f.u.hello.stream;
	hs->nstreams = f.u.hello.nstreams;
	if (!tp_random(nonce, sizeof(nonce), err) ||
	    !tp_auth_mac(hs->psk, hs->psk_len, true, hs->hello, nonce, mac,
			 err) ||
	    !tp_sock_write(fd, hs->buf, tp_encode_auth(hs->buf, TP_RXBUF_SIZE,
			   hs->version, nonce, mac), hs->deadline_ns, hs->cnt, err))
		return false;
	if (!expect(fd, hs, TP_FRAME_AUTH, &f, &e))
		return refuse(fd, TP_ABORT_PROTOCOL, err, &e);
	if (!tp_auth_mac(hs->psk, hs->psk_len, false, hs->hello, nonce, mac,
			 err))
		return false;
	if (!tp_auth_equal(mac, f.u.auth.mac)) {
		qm_error_set(&e, QM_ERR_PROTO, "authentication failed on "
			     "stream %u: the sender's proof does not match "
			     "(wrong pre-shared key, or a replayed handshake)",
			     hs->stream);
		return refuse(fd, TP_ABORT_AUTH, err, &e);
	}
	return tp_sock_write(fd, hs->buf, tp_encode_ack(hs->buf, TP_RXBUF_SIZE,
			     TP_FRAME_AUTH, 0, hs->stream, 0, 0),
			     hs->deadline_ns, hs->cnt, err);
}
