/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Peer authentication: HMAC-SHA256 with a pre-shared key over both sides'
 * fresh nonces (OpenSSL libcrypto, like the optional TLS 1.3 in tls.c).
 * The two directions use different labels, so a proof cannot be
 * reflected back to its sender; the transcript covers the whole HELLO
 * (migration id, stream, versions, the sender's nonce) and the receiver's
 * nonce, so a captured handshake replayed to a new nonce fails.
 */
#define LOG_PREFIX "transport"
#include "transport/internal.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

static const char label_d[] = "qmig-auth-v1 receiver";
static const char label_s[] = "qmig-auth-v1 sender";

bool tp_random(void *buf, size_t len, qm_error *err)
{
	if (RAND_bytes(buf, (int)len) != 1)
		return qm_error_set(err, QM_ERR_IO,
				    "RAND_bytes(%zu) failed", len);
	return true;
}

static bool mac_update(EVP_MAC_CTX *ctx, const void *p, size_t n)
{
	return EVP_MAC_update(ctx, p, n) == 1;
}

/* HMAC-SHA256(psk, label || a || b); @a and @b may be NULL. */
static bool hmac3(const uint8_t *psk, size_t psk_len, const char *label,
		  const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
		  uint8_t mac[TP_MAC_SIZE], qm_error *err)
{
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						 "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	size_t out = 0;
	bool ok = ctx && EVP_MAC_init(ctx, psk, psk_len, params) == 1 &&
		  mac_update(ctx, label, strlen(label)) &&
		  (!a || mac_update(ctx, a, alen)) &&
		  (!b || mac_update(ctx, b, blen)) &&
		  EVP_MAC_final(ctx, mac, &out, TP_MAC_SIZE) == 1 &&
		  out == TP_MAC_SIZE;

	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(m);
	if (!ok)
		return qm_error_set(err, QM_ERR_IO, "HMAC-SHA256 failed");
	return true;
}

bool tp_auth_mac(const uint8_t *psk, size_t psk_len, bool from_receiver,
		 const uint8_t *hello_body, const uint8_t *nonce_d,
		 uint8_t mac[TP_MAC_SIZE], qm_error *err)
{
	return hmac3(psk, psk_len, from_receiver ? label_d : label_s,
		     hello_body, TP_HELLO_LEN, nonce_d, TP_NONCE_SIZE, mac, err);
}

bool tp_auth_derive(const uint8_t *psk, size_t psk_len, const char *label,
		    uint8_t out[TP_MAC_SIZE], qm_error *err)
{
	return hmac3(psk, psk_len, label, NULL, 0, NULL, 0, out, err);
}

bool tp_auth_equal(const uint8_t *a, const uint8_t *b)
{
	return CRYPTO_memcmp(a, b, TP_MAC_SIZE) == 0;
}
