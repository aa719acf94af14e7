/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Probe once, cache, say, override: is zero-copy send available? Frames
 * go out with IORING_OP_SENDMSG_ZC (a frame is an iovec list: its head,
 * then pages of guest RAM), which came with IORING_OP_SEND_ZC.
 * QMIG_SEND_ZC=off forces plain send (tests cover both paths),
 * QMIG_SEND_ZC=on forces SEND_ZC even to a loopback peer.
 * Has the kernel TLS (kTLS)? QMIG_KTLS=off forces the user-space pump.
 */
#define LOG_PREFIX "transport"
#include "transport/internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static tp_features features;	/* read-only after the probe */
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The kernel looks the "tls" ULP up (loading the module when it may)
 * before it checks the socket: on an unconnected socket, ENOENT means
 * no kTLS, ENOTCONN (524, ENOTSUPP, before 5.x) means it is there. */
static void probe_ktls(void)
{
	const char *env = getenv("QMIG_KTLS");
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc, e = 0;

	rc = fd < 0 ? -1 : setsockopt(fd, SOL_TCP, TCP_ULP, "tls",
				      sizeof("tls"));
	e = errno;
	if (fd >= 0)
		close(fd);
	features.ktls = fd >= 0 && (!rc || e == ENOTCONN || e == 524);
	features.ktls_forced_off = env && !strcmp(env, "off");
	if (features.ktls)
		snprintf(features.ktls_why, sizeof(features.ktls_why),
			 "kernel TLS available%s", features.ktls_forced_off ?
			 ", off by QMIG_KTLS" : "");
	else
		snprintf(features.ktls_why, sizeof(features.ktls_why),
			 "no kernel TLS (TCP_ULP \"tls\": %s%s)",
			 strerror(e), e == ENOENT ? ": CONFIG_TLS off or the "
			 "tls module not loaded" : "");
	pr_info("%s", features.ktls_why);
}

static void probe(void)
{
	struct io_uring_probe *p = io_uring_get_probe();
	const char *env = getenv("QMIG_SEND_ZC");

	features.send_zc = p &&
			   io_uring_opcode_supported(p, IORING_OP_SENDMSG_ZC);
	if (p)
		io_uring_free_probe(p);
	features.send_zc_forced_off = env && !strcmp(env, "off");
	features.send_zc_forced_on = env && !strcmp(env, "on");
	snprintf(features.why, sizeof(features.why), "%s%s",
		 !p ? "io_uring probe failed" :
		 features.send_zc ? "IORING_OP_SENDMSG_ZC supported" :
		 "IORING_OP_SENDMSG_ZC not supported",
		 features.send_zc_forced_off ? ", off by QMIG_SEND_ZC" :
		 features.send_zc_forced_on ? ", forced on by QMIG_SEND_ZC" :
		 "");
	pr_info("%s", features.why);
	probe_ktls();
}

const tp_features *tp_features_get(void)
{
	pthread_once(&once, probe);
	return &features;
}
