/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rig: counters. The side's interface from /proc/thread-self/net/dev,
 * read while the thread visits the side's namespace (sysfs would show the
 * namespace sysfs was mounted in, not the one asked for); the link's from
 * linkem's stats file or netem's qdisc stats.
 */
#define LOG_PREFIX "rig"
#include "tools/rig/rig-int.h"
#include "tools/rig/linkem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dev_args {
	const char *dev;
	rig_stats *st;
} dev_args;

static bool read_dev(void *arg, qm_error *err)
{
	dev_args *a = arg;
	unsigned long long rxb, rxp, txb, txp;
	size_t dlen = strlen(a->dev);
	char *text, *line, *save = NULL;
	bool found = false;

	text = qm_read_file("/proc/thread-self/net/dev", 1 << 20, NULL, err);
	if (!text)
		return false;
	for (line = strtok_r(text, "\n", &save); line && !found;
	     line = strtok_r(NULL, "\n", &save)) {
		line += strspn(line, " ");
		if (strncmp(line, a->dev, dlen) || line[dlen] != ':')
			continue;
		/* rx: bytes packets errs drop fifo frame compressed
		 * multicast; then tx: bytes packets ... */
		found = sscanf(line + dlen + 1, "%llu %llu %*u %*u %*u %*u %*u "
			       "%*u %llu %llu", &rxb, &rxp, &txb, &txp) == 4;
	}
	free(text);
	if (!found)
		return qm_error_set(err, QM_ERR_NOTFOUND, "interface %s not in "
				    "/proc/net/dev", a->dev);
	a->st->rx_bytes = rxb;
	a->st->rx_packets = rxp;
	a->st->tx_bytes = txb;
	a->st->tx_packets = txp;
	return true;
}

bool rig__parse_tc_stats(const char *text, uint64_t *pkts, uint64_t *dropped)
{
	unsigned long long b, p, d;
	const char *s = strstr(text, "Sent ");

	if (!s || sscanf(s, "Sent %llu bytes %llu pkt (dropped %llu", &b, &p,
			 &d) != 3)
		return false;
	*pkts = p;
	*dropped = d;
	return true;
}

/* netem on the egress of the link end facing the other side carries what
 * this side sent; its drops are the loss. */
static bool netem_stats(const rig *r, rig_side s, rig_stats *st,
			qm_error *err)
{
	const char *dev = s == RIG_SRC ? RIG_IF_LDST : RIG_IF_LSRC;
	const char *argv[] = { "tc", "-n", r->ns[RIG_NS_LINK], "-s", "qdisc",
			       "show", "dev", dev, NULL };
	char out[2048];
	uint64_t sent, dropped;

	if (!rig__run(argv, out, sizeof(out), err))
		return false;
	if (!rig__parse_tc_stats(out, &sent, &dropped))
		return qm_error_set(err, QM_ERR_PROTO, "no 'Sent ... dropped' in "
				    "tc's stats of %s: %.200s", dev, out);
	st->link_pkts = sent + dropped;
	st->link_lost = dropped;
	return true;
}

bool rig_counters(const rig *r, rig_side s, rig_stats *st, qm_error *err)
{
	dev_args a = { .st = st };

	memset(st, 0, sizeof(*st));
	if (!r || (s != RIG_SRC && s != RIG_DST))
		return qm_error_set(err, QM_ERR_INVAL, "rig side %d", (int)s);
	if (r->down)
		return qm_error_set(err, QM_ERR_STATE, "rig is down");
	a.dev = rig_ifname(r, s);
	if (!rig__in_ns(r->ns_path[s], read_dev, &a, err))
		return false;
	switch (r->fwd) {
	case RIG_FWD_LINKEM:
		return rig__linkem_stats(r, s == RIG_SRC ? LINKEM_AB : LINKEM_BA,
					 st, err);
	case RIG_FWD_NETEM:
		return netem_stats(r, s, st, err);
	default:
		return true;
	}
}
