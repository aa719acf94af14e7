/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Probe once, cache, say, override: is IORING_OP_SEND_ZC available?
 * QMIG_SEND_ZC=off forces plain send (tests cover both paths),
 * QMIG_SEND_ZC=on forces SEND_ZC even to a loopback peer.
 */
#define LOG_PREFIX "transport"
#include "transport/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tp_features features;	/* read-only after the probe */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void probe(void)
{
	struct io_uring_probe *p = io_uring_get_probe();
	const char *env = getenv("QMIG_SEND_ZC");

	features.send_zc = p && io_uring_opcode_supported(p, IORING_OP_SEND_ZC);
	if (p)
		io_uring_free_probe(p);
	features.send_zc_forced_off = env && !strcmp(env, "off");
	features.send_zc_forced_on = env && !strcmp(env, "on");
	snprintf(features.why, sizeof(features.why), "%s%s",
		 !p ? "io_uring probe failed" :
		 features.send_zc ? "IORING_OP_SEND_ZC supported" :
		 "IORING_OP_SEND_ZC not supported",
		 features.send_zc_forced_off ? ", off by QMIG_SEND_ZC" :
		 features.send_zc_forced_on ? ", forced on by QMIG_SEND_ZC" :
		 "");
	pr_info("%s", features.why);
}

const tp_features *tp_features_get(void)
{
	pthread_once(&once, probe);
	return &features;
}
