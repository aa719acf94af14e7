/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Kernel TLS: give a finished TLS 1.3 connection's record keys to the
 * kernel (TCP_ULP "tls", then TLS_RX and TLS_TX), so that the stream's
 * io_uring reads and sends stay plain reads and sends of plaintext on the
 * same socket, and the kernel encrypts and decrypts.
 *
 * OpenSSL 3.0 can hand TLS 1.3 keys to the kernel itself only for
 * sending (SSL_OP_ENABLE_KTLS), and only when it drives the I/O. So the
 * keys are derived here (RFC 8446 7.1 and 7.3: HKDF-Expand-Label of each
 * direction's application traffic secret), from the secrets OpenSSL's
 * key log callback gives. That is exact because, by construction, no
 * record has been sent with those keys yet when the kernel takes over:
 * the handshake ends with the client's Finished, the server sends no
 * tickets (tls.c), and OpenSSL read no further than the last handshake
 * record (no read-ahead during the handshake). Both record sequence
 * numbers are therefore 0, and whatever the peer sent since is still in
 * the socket, where the kernel decrypts it.
 */
#define LOG_PREFIX "transport"
#include "transport/tls-int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <string.h>
#include <sys/socket.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "LABEL <client random hex> <secret hex>": keep the secret. */
static void keep_secret(const char *line, uint8_t *out, size_t *len)
{
	const char *p = strchr(line, ' ');
	size_t n = 0;

	p = p ? strchr(p + 1, ' ') : NULL;
	if (!p)
		return;
	for (p++; n < EVP_MAX_MD_SIZE; p += 2, n++) {
		int hi = hexval(p[0]), lo = hi < 0 ? -1 : hexval(p[1]);

		if (lo < 0)
			break;
		out[n] = (uint8_t)(hi << 4 | lo);
	}
	*len = n;
}

void tp_ktls_keylog(const SSL *ssl, const char *line)
{
	static const char cl[] = "CLIENT_TRAFFIC_SECRET_0 ";
	static const char sv[] = "SERVER_TRAFFIC_SECRET_0 ";
	tp_tls *t = SSL_get_app_data(ssl);
	bool client;

	if (!t)
		return;
	if (!strncmp(line, cl, sizeof(cl) - 1))
		client = true;
	else if (!strncmp(line, sv, sizeof(sv) - 1))
		client = false;
	else
		return;		/* handshake secrets: not needed */
	/* The client sends with the client's secret. */
	if (client != t->c->server)
		keep_secret(line, t->sec_tx, &t->sec_tx_len);
	else
		keep_secret(line, t->sec_rx, &t->sec_rx_len);
}

/* HKDF-Expand-Label(secret, label, "", len) with SHA-256 (RFC 8446 7.1). */
static bool expand_label(const uint8_t *secret, size_t slen,
			 const char *label, uint8_t *out, size_t len)
{
	uint8_t info[2 + 1 + 6 + 16 + 1];
	size_t ll = strlen(label), n = 0;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[5];
	bool ok;

	info[n++] = (uint8_t)(len >> 8);
	info[n++] = (uint8_t)len;
	info[n++] = (uint8_t)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, ll);
	n += ll;
	info[n++] = 0;			/* empty context */
	p[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	p[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						"SHA256", 0);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)secret, slen);
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	p[4] = OSSL_PARAM_construct_end();
	ok = kc && EVP_KDF_derive(kc, out, len, p) == 1;
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
	return ok;
}

bool tp_ktls_derive(const uint8_t *secret, size_t len, tp_ktls_info *ci,
		    qm_error *err)
{
	uint8_t iv[TLS_CIPHER_AES_GCM_128_SALT_SIZE +
		   TLS_CIPHER_AES_GCM_128_IV_SIZE] = { 0 };
	bool ok;

	memset(ci, 0, sizeof(*ci));
	ci->info.version = TLS_1_3_VERSION;
	ci->info.cipher_type = TLS_CIPHER_AES_GCM_128;
	ok = len == 32 &&
	     expand_label(secret, len, "key", ci->key, sizeof(ci->key)) &&
	     expand_label(secret, len, "iv", iv, sizeof(iv));
	/* The kernel splits the 12-byte IV: 4 bytes of salt, then 8. */
	memcpy(ci->salt, iv, sizeof(ci->salt));
	memcpy(ci->iv, iv + sizeof(ci->salt), sizeof(ci->iv));
	OPENSSL_cleanse(iv, sizeof(iv));
	if (!ok) {
		OPENSSL_cleanse(ci, sizeof(*ci));
		return qm_error_set(err, QM_ERR_IO, "kTLS: deriving the record "
				    "keys from a %zu-byte secret failed", len);
	}
	return true;
}

static void note_once(const char *what, int errnum)
{
	static int said;

	if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
		pr_info("kTLS: %s: %s; TLS records in user space (pump)", what,
			strerror(errnum));
}

/* 1 installed, 0 not (socket unchanged), -1 half way (err set). */
static int install(int fd, const tp_ktls_info *tx, const tp_ktls_info *rx,
		   qm_error *err)
{
	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) < 0) {
		note_once("TCP_ULP \"tls\"", errno);
		return 0;
	}
	/* The ULP without keys passes bytes through: still a fallback. */
	if (setsockopt(fd, SOL_TLS, TLS_RX, rx, sizeof(*rx)) < 0) {
		note_once("TLS_RX", errno);
		return 0;
	}
	if (setsockopt(fd, SOL_TLS, TLS_TX, tx, sizeof(*tx)) < 0)
		return qm_error_errno(err, errno, "kTLS: the kernel took the "
				      "receive key but refused the transmit "
				      "key (QMIG_KTLS=off avoids kTLS)"), -1;
	return 1;
}

int tp_ktls_setup(tp_tls *t, qm_error *err)
{
	const tp_features *f = tp_features_get();
	tp_ktls_info tx, rx;
	int rc = 0;

	if (!t->sec_tx_len || !t->sec_rx_len) {
		pr_debug("%s: no traffic secrets from the key log", t->name);
		return 0;
	}
	if (!tp_ktls_derive(t->sec_tx, t->sec_tx_len, &tx, err) ||
	    !tp_ktls_derive(t->sec_rx, t->sec_rx_len, &rx, err))
		rc = -1;
	OPENSSL_cleanse(t->sec_tx, sizeof(t->sec_tx));
	OPENSSL_cleanse(t->sec_rx, sizeof(t->sec_rx));
	t->sec_tx_len = t->sec_rx_len = 0;
	if (!rc && f->ktls && !f->ktls_forced_off)
		rc = install(t->fd, &tx, &rx, err);
	if (t->c->keep_keys && rc >= 0) {
		t->ktx = tx;
		t->krx = rx;
		t->keys = true;
	}
	OPENSSL_cleanse(&tx, sizeof(tx));
	OPENSSL_cleanse(&rx, sizeof(rx));
	return rc;
}
