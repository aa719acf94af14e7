/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * peer: how two agents find and trust each other.
 *
 * The destination agent serves a second JSON-RPC endpoint on
 * --peer-listen (TCP) for the source agent only (migration.prepare and
 * friends). A connection must log in with a token derived from the
 * pre-shared key (HMAC-SHA256(psk, "qmig peer rpc v1"), hex), so only an
 * agent holding the key can ask for a destination QEMU. The login is a
 * challenge-response keyed by that token (agent/rpc-auth.c), and pages
 * then move over the transport, whose own handshake is a mutual
 * challenge-response over fresh nonces: neither secret crosses the
 * network and neither handshake can be replayed (docs/SECURITY.md).
 *
 * The key file must not be readable by group or others (mode 0600 or
 * stricter) and hold TP_PSK_MIN..TP_PSK_MAX bytes (a trailing newline is
 * not part of the key).
 */
#ifndef QMIG_AGENT_PEER_H
#define QMIG_AGENT_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/rpc.h"
#include "common/common.h"

#define PEER_PSK_MAX 256
#define PEER_TOKEN_LEN 64            /* hex of a SHA-256 MAC */

typedef struct peer_key {
	uint8_t psk[PEER_PSK_MAX];
	size_t len;
	char token[PEER_TOKEN_LEN + 1];
} peer_key;

bool peer_key_load(peer_key *k, const char *path, qm_error *err);
/* Connect to the peer agent at HOST:PORT and log in. */
rpc_client *peer_connect(const peer_key *k, const char *hostport,
			 int timeout_ms, qm_error *err);
/* Split "HOST:PORT" ("[v6]:PORT" too) into its parts. */
bool peer_split_hostport(const char *s, char *host, size_t hlen,
			 uint16_t *port, qm_error *err);

#endif
