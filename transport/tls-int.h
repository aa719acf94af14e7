/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * transport internal: what tls.c, tls-pump.c and ktls.c share (the rest
 * of the library sees only the functions in internal.h, and no OpenSSL
 * type).
 */
#ifndef QMIG_TRANSPORT_TLS_INT_H
#define QMIG_TRANSPORT_TLS_INT_H

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "transport/internal.h"

/* Pump buffers per direction, and OpenSSL's read buffer: 16 full records,
 * so one recv() and one write() move 256 KiB. */
#define TP_TLS_BUF		(256u << 10)
/* How long a closed stream's pump may still flush what the stream wrote
 * (its last frame, an ACK or ABORT), like the stream's own ABORT wait. */
#define TP_TLS_LINGER_MS	1000

struct tp_tls_ctx {
	SSL_CTX *ctx;
	bool server, keep_keys;
	uint8_t psk[TP_MAC_SIZE];	/* the TLS PSK, derived (tls.c) */
};

struct tp_tls {
	tp_tls_ctx *c;
	SSL *ssl;			/* NULL once kTLS holds the keys */
	int fd;				/* TCP socket */
	int app;			/* pump's end of the socketpair */
	int efd;			/* eventfd: tp_tls_close() wants out */
	bool ktls, started;
	/* Client: the receiver's first two bytes are not yet seen; then
	 * whether they were not TLS (a plaintext receiver's ABORT). */
	bool first_read, not_tls;
	pthread_t thread;
	char name[16];
	/* Pump: records written by OpenSSL, not yet sent (tls.c BIO). */
	uint8_t *wbuf;
	size_t woff, wlen;

	/* Traffic secrets from the key log, until kTLS is decided. */
	uint8_t sec_tx[EVP_MAX_MD_SIZE], sec_rx[EVP_MAX_MD_SIZE];
	size_t sec_tx_len, sec_rx_len;
	tp_ktls_info ktx, krx;		/* kept only with keep_keys */
	bool keys;

	pthread_mutex_t lock;		/* the fields below */
	qm_error err;			/* the pump's failure, first one */
	tp_session *sess;		/* where to report it, once attached */
	int stream;
	int64_t stop_ns;		/* tp_tls_close() asked at; 0 = not */
};

/* tls.c */
/* Describe an OpenSSL failure of @ssl (NULL: of no connection) after a
 * call returned @rc, with the reasons a user can act on spelled out.
 * Returns false. */
bool tp_tls_fail(SSL *ssl, int rc, const char *what, qm_error *err);
/* Send the gathered records: 1 all sent, 0 the socket is full (wait
 * for POLLOUT), -1 failed (errno). */
int tp_tls_flush(tp_tls *t);
/* A pump failure: keep it for tp_tls_explain(), tell the session. */
void tp_tls_report(tp_tls *t, const qm_error *e);

/* tls-pump.c */
void *tp_tls_pump_main(void *arg);

/* ktls.c */
/* OpenSSL's key log callback: keep this connection's traffic secrets. */
void tp_ktls_keylog(const SSL *ssl, const char *line);
/* Derive both directions from the secrets (then wiped); with kTLS in the
 * kernel (tp_features_get) install them on t->fd: 1 installed, 0 not
 * (the socket is unchanged, use the pump), -1 failed half way. */
int tp_ktls_setup(tp_tls *t, qm_error *err);

#endif /* QMIG_TRANSPORT_TLS_INT_H */
