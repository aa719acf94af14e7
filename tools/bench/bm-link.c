/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The link between the two "hosts": the rig (tools/rig: two network
 * namespaces joined by a shaped veth link) when this process may create
 * namespaces, else loopback, unshaped, said so in the report. Bytes on
 * the wire come from the interface counters, not from what the methods
 * claim to have sent.
 */
#include "tools/bench/bm.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tools/rig/rig.h"

static rig *g_rig;
static char g_prefix[16];

/* Ports inside the rig's namespaces: nothing else listens there, but a
 * port is not reused within a run, so no earlier agent's socket in
 * TIME_WAIT is in the way. */
static int g_next_port = 7400;

bool bm_link_is_rig(void)
{
	return g_rig != NULL;
}

const char *bm_link_prefix(void)
{
	return g_prefix;
}

void bm_link_up(const bm_scenario *s, char *note, size_t note_len)
{
	char why[200] = "";
	qm_error err = QM_ERROR_INIT;
	rig_link l = { s->link.bw_mbit, s->link.rtt_ms, s->link.loss_pct };

	if (s->loopback) {
		snprintf(note, note_len, "loopback (asked for), unshaped");
		return;
	}
	if (!rig_available(why, sizeof(why))) {
		snprintf(note, note_len, "loopback, unshaped: network "
			 "namespaces are not available (%s)", why);
		return;
	}
	/* Unique per concurrent rig: up to RIG_PREFIX_MAX of [a-z0-9]. */
	snprintf(g_prefix, sizeof(g_prefix), "qb%d", (int)(getpid() % 1000000));
	g_rig = rig_up(g_prefix, &l, &err);
	if (!g_rig)
		bm_die("rig: %s", err.msg);
	snprintf(note, note_len, "rig: namespaces %s and %s, %s <-> %s, "
		 "forwarded by %s", rig_ns(g_rig, RIG_SRC),
		 rig_ns(g_rig, RIG_DST), rig_addr(g_rig, RIG_SRC),
		 rig_addr(g_rig, RIG_DST), rig_forwarder(g_rig));
}

void bm_link_down(void)
{
	rig_down(g_rig);
	g_rig = NULL;
}

static rig_side side_of(bm_side side)
{
	return side == BM_SRC ? RIG_SRC : RIG_DST;
}

const char *bm_link_addr(bm_side side)
{
	return g_rig ? rig_addr(g_rig, side_of(side)) : "127.0.0.1";
}

static int free_lo_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		bm_die("picking a free port: %m");
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

int bm_link_port(bm_side side)
{
	(void)side;
	if (bm_link_is_rig())
		return g_next_port++;
	return free_lo_port();
}

static uint64_t lo_bytes(void)
{
	unsigned long long v = 0;
	FILE *f = fopen("/sys/class/net/lo/statistics/tx_bytes", "r");

	if (!f || fscanf(f, "%llu", &v) != 1)
		v = 0;
	if (f)
		fclose(f);
	return v;
}

/* On the rig: what the source's interface sent and received (one link,
 * so that is every byte both ways). On loopback every packet is counted
 * once in tx, whichever way it goes; anything else on lo counts too. */
uint64_t bm_link_bytes(void)
{
	if (g_rig) {
		rig_stats st;
		qm_error err = QM_ERROR_INIT;

		if (!rig_counters(g_rig, RIG_SRC, &st, &err))
			bm_die("rig counters: %s", err.msg);
		return st.tx_bytes + st.rx_bytes;
	}
	return lo_bytes();
}

bool bm_vm_start(ql_vm *vm, ql_vm_opts *o, bm_side side, qm_error *err)
{
	o->netns = g_rig ? rig_ns(g_rig, side_of(side)) : NULL;
	return ql_vm_start(vm, o, err);
}

bool bm_agent_start(ql_agent *a, const char *name, bm_side side,
		    const char *const *args, qm_error *err)
{
	return ql_agent_start_ns(a, name, g_rig ? rig_ns(g_rig, side_of(side))
						: NULL, args, err);
}
