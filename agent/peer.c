/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Agent-to-agent trust: the key file, the peer RPC token. See peer.h.
 */
#include "agent/peer.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PEER_PSK_MIN 16
#define TOKEN_LABEL "qmig peer rpc v1"

static bool derive_token(peer_key *k, qm_error *err)
{
	unsigned char mac[32];
	size_t len = 0;

	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k->psk, k->len,
		       (const unsigned char *)TOKEN_LABEL, strlen(TOKEN_LABEL),
		       mac, sizeof(mac), &len) || len != sizeof(mac))
		return qm_error_set(err, QM_ERR_INVAL, "HMAC-SHA256 failed");
	for (size_t i = 0; i < sizeof(mac); i++)
		snprintf(k->token + 2 * i, 3, "%02x", mac[i]);
	return true;
}

bool peer_key_load(peer_key *k, const char *path, qm_error *err)
{
	struct stat st;
	ssize_t n;
	int fd;

	memset(k, 0, sizeof(*k));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return qm_error_errno(err, errno, "key file %s", path);
	if (fstat(fd, &st) < 0 || (st.st_mode & 077)) {
		close(fd);
		return qm_error_set(err, QM_ERR_INVAL, "key file %s: mode %03o "
				    "lets others read it; chmod 600 it", path,
				    (unsigned)(st.st_mode & 0777));
	}
	n = read(fd, k->psk, sizeof(k->psk));
	close(fd);
	if (n < 0)
		return qm_error_errno(err, errno, "key file %s", path);
	while (n > 0 && (k->psk[n - 1] == '\n' || k->psk[n - 1] == '\r'))
		n--;
	if (n < PEER_PSK_MIN || (size_t)n >= sizeof(k->psk))
		return qm_error_set(err, QM_ERR_INVAL, "key file %s: %zd bytes, "
				    "expected %d to %d", path, n, PEER_PSK_MIN,
				    PEER_PSK_MAX - 1);
	k->len = (size_t)n;
	return derive_token(k, err);
}

bool peer_split_hostport(const char *s, char *host, size_t hlen,
			 uint16_t *port, qm_error *err)
{
	const char *colon = strrchr(s, ':'), *h = s;
	size_t n;
	long p;
	char *end;

	if (!colon)
		return qm_error_set(err, QM_ERR_INVAL, "'%s': expected HOST:PORT",
				    s);
	n = (size_t)(colon - s);
	if (n >= 2 && s[0] == '[' && colon[-1] == ']') {
		h = s + 1;
		n -= 2;
	}
	p = strtol(colon + 1, &end, 10);
	if (!n || n >= hlen || *end || p < 1 || p > 65535)
		return qm_error_set(err, QM_ERR_INVAL, "'%s': expected HOST:PORT "
				    "with a port from 1 to 65535", s);
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (uint16_t)p;
	return true;
}

rpc_client *peer_connect(const peer_key *k, const char *hostport,
			 int timeout_ms, qm_error *err)
{
	char host[128], addr[160];
	uint16_t port;
	rpc_client *cl;

	if (!peer_split_hostport(hostport, host, sizeof(host), &port, err))
		return NULL;
	snprintf(addr, sizeof(addr), strchr(host, ':') ? "tcp:[%s]:%u"
						       : "tcp:%s:%u", host, port);
	cl = rpc_client_connect(addr, timeout_ms, err);
	if (!cl)
		return NULL;
	if (!rpc_client_login(cl, k->token, timeout_ms, err)) {
		qm_error_prepend(err, "peer agent %s", hostport);
		rpc_client_free(cl);
		return NULL;
	}
	return cl;
}
