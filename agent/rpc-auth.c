/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rpc.login as a challenge-response over the shared token, so that what
 * crosses the network proves knowledge of the token without carrying it:
 *
 *   client                                   server
 *     rpc.challenge                 ──▶      nonce S (32 random bytes,
 *                                            fresh per call, one use)
 *     rpc.login {client_nonce C,    ──▶      checks proof
 *       proof = HMAC(token, "qmig rpc login v1\n" S "\n" C)}
 *                                   ◀──      server_proof =
 *                                            HMAC(token, "qmig rpc server v1\n" C "\n" S)
 *     checks server_proof
 *
 * A captured login is useless on another connection (its S differs) and
 * on the same one (S is consumed by the attempt, right or wrong). The
 * server's proof tells the client it reached a holder of the token, not
 * something that answers "authenticated" to anyone. What this does not
 * give: confidentiality or integrity of the requests that follow (see
 * docs/SECURITY.md).
 */
#include "agent/rpc.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static void to_hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

bool rpc_auth_nonce(char out[RPC_AUTH_HEX + 1], qm_error *err)
{
	unsigned char b[RPC_AUTH_HEX / 2];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return qm_error_errno(err, errno, "getrandom");
		got += (size_t)n;
	}
	to_hex(b, sizeof(b), out);
	return true;
}

bool rpc_auth_proof(const char *token, bool server, const char *first,
		    const char *second, char out[RPC_AUTH_HEX + 1],
		    qm_error *err)
{
	unsigned char mac[RPC_AUTH_HEX / 2];
	char msg[64 + 2 * RPC_AUTH_NONCE_MAX_HEX];
	size_t len = 0;
	int n;

	n = snprintf(msg, sizeof(msg), "qmig rpc %s v1\n%s\n%s",
		     server ? "server" : "login", first, second);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return qm_error_set(err, QM_ERR_TOO_BIG, "rpc.login: nonce "
				    "too long");
	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, token,
		       strlen(token), (const unsigned char *)msg, (size_t)n,
		       mac, sizeof(mac), &len) || len != sizeof(mac))
		return qm_error_set(err, QM_ERR_INVAL, "HMAC-SHA256 failed");
	to_hex(mac, sizeof(mac), out);
	return true;
}

bool rpc_auth_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	/* Both are hex MACs of a fixed length: a length mismatch is not a
	 * secret, the content is (CRYPTO_memcmp runs in constant time). */
	return la == lb && !CRYPTO_memcmp(a, b, la);
}

bool rpc_auth_nonce_ok(const char *n)
{
	size_t len = strlen(n);

	return len >= RPC_AUTH_NONCE_MIN_HEX && len <= RPC_AUTH_NONCE_MAX_HEX &&
	       strspn(n, "0123456789abcdef") == len;
}
