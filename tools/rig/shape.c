/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rig: bandwidth (tbf on s0 and d0), the forwarder in the link namespace
 * (kernel mirred, netem, or qmig-linkem), and cutting the link.
 *
 * Changing the forwarder while traffic flows starts the new one before the
 * old one stops, so for a few milliseconds frames may be forwarded twice
 * (TCP takes duplicates in its stride; a gap would cost retransmissions).
 */
#define LOG_PREFIX "rig"
#include "tools/rig/rig-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Smallest tbf bucket: a few full frames, or nothing fits. */
#define TBF_MIN_BURST 16384

const char *rig__fwd_name(rig_fwd f)
{
	switch (f) {
	case RIG_FWD_NETEM:
		return "netem";
	case RIG_FWD_LINKEM:
		return "linkem";
	default:
		return "kernel";
	}
}

rig_fwd rig__fwd_for(const rig_link *l)
{
	const char *force = getenv("QMIG_RIG_LINKEM");

	if (l->rtt_ms <= 0 && l->loss_pct <= 0)
		return RIG_FWD_KERNEL;
	if (rig__netem_ok() && !(force && *force && strcmp(force, "0")))
		return RIG_FWD_NETEM;
	return RIG_FWD_LINKEM;
}

/*
 * The bucket holds 1 ms at the rate: enough for tbf to keep a fast link
 * busy, small enough that a slow one is not overrun by a burst. From about
 * 560 Mbit/s up it also holds a whole 64 KiB GSO frame, which then reaches
 * the forwarder in one piece; below, tbf splits it into packets itself.
 */
static bool tbf_set(rig *r, int ns, const char *dev, double mbit,
		    bool had, qm_error *err)
{
	char rate[32], burst[32];
	double bytes_per_ms = mbit * 1e6 / 8 / 1000;

	if (mbit <= 0)
		return !had || rig__cmd(err, "tc", "-n", r->ns[ns], "qdisc",
					"del", "dev", dev, "root", NULL);
	snprintf(rate, sizeof(rate), "%.0fbit", mbit * 1e6);
	snprintf(burst, sizeof(burst), "%.0f",
		 bytes_per_ms > TBF_MIN_BURST ? bytes_per_ms : TBF_MIN_BURST);
	return rig__cmd(err, "tc", "-n", r->ns[ns], "qdisc", "replace", "dev",
			dev, "root", "tbf", "rate", rate, "burst", burst,
			"latency", "50ms", NULL);
}

static bool mirred_set(rig *r, bool on, qm_error *err)
{
	static const char *const dev[2][2] = { { RIG_IF_LSRC, RIG_IF_LDST },
					       { RIG_IF_LDST, RIG_IF_LSRC } };
	const char *ns = r->ns[RIG_NS_LINK];

	for (int i = 0; i < 2; i++) {
		bool ok = on ?
			rig__cmd(err, "tc", "-n", ns, "filter", "add", "dev",
				 dev[i][0], "ingress", "protocol", "all", "prio",
				 "1", "u32", "match", "u32", "0", "0", "action",
				 "mirred", "egress", "redirect", "dev",
				 dev[i][1], NULL) :
			rig__cmd(err, "tc", "-n", ns, "filter", "del", "dev",
				 dev[i][0], "ingress", NULL);
		if (!ok)
			return false;
	}
	return true;
}

/* netem on the egress of ls and ld: each direction gets half the RTT. */
static bool netem_set(rig *r, const rig_link *l, bool on, qm_error *err)
{
	static const char *const dev[2] = { RIG_IF_LSRC, RIG_IF_LDST };
	const char *ns = r->ns[RIG_NS_LINK];
	char delay[32], loss[32];

	snprintf(delay, sizeof(delay), "%.0fus", l->rtt_ms * 1000 / 2);
	snprintf(loss, sizeof(loss), "%.4f%%", l->loss_pct);
	for (int i = 0; i < 2; i++) {
		bool ok = on ?
			rig__cmd(err, "tc", "-n", ns, "qdisc", "replace", "dev",
				 dev[i], "root", "netem", "delay", delay, "loss",
				 loss, "limit", "100000", NULL) :
			rig__cmd(err, "tc", "-n", ns, "qdisc", "del", "dev",
				 dev[i], "root", NULL);
		if (!ok)
			return false;
	}
	return true;
}

/*
 * netem drops whole skbs, and a TCP sender hands it 64 KiB GSO frames: to
 * lose single packets the senders must not build them. gso_max_segs 1 does
 * that for connections made afterwards (TCP caches the limit per socket);
 * linkem splits frames itself and needs none of this.
 */
static bool gso_limit(rig *r, bool on, qm_error *err)
{
	const char *segs = on ? "1" : "65535";

	return rig__cmd(err, "ip", "-n", r->ns[RIG_NS_SRC], "link", "set",
			"dev", RIG_IF_SRC, "gso_max_segs", segs, NULL) &&
	       rig__cmd(err, "ip", "-n", r->ns[RIG_NS_DST], "link", "set",
			"dev", RIG_IF_DST, "gso_max_segs", segs, NULL);
}

static bool bandwidth(rig *r, const rig_link *l, qm_error *err)
{
	bool had = r->link.bw_mbit > 0;

	if (l->bw_mbit == r->link.bw_mbit)
		return true;
	if (!tbf_set(r, RIG_NS_SRC, RIG_IF_SRC, l->bw_mbit, had, err) ||
	    !tbf_set(r, RIG_NS_DST, RIG_IF_DST, l->bw_mbit, had, err))
		return false;
	r->link.bw_mbit = l->bw_mbit;
	return true;
}

static bool forwarder(rig *r, const rig_link *l, qm_error *err)
{
	rig_fwd want = rig__fwd_for(l), was = r->fwd;

	/* Bring up the new forwarder... */
	if (want == RIG_FWD_LINKEM) {
		/* A linkem that died (killed by hand) is started again. */
		if (was == RIG_FWD_LINKEM && rig__linkem_running(r)) {
			if (!rig__linkem_reconf(r, l, err))
				return false;
		} else if (!rig__linkem_start(r, l, err)) {
			return false;
		}
	} else if (want == RIG_FWD_NETEM && !netem_set(r, l, true, err)) {
		return false;
	}
	if (want != RIG_FWD_LINKEM && was == RIG_FWD_LINKEM &&
	    !mirred_set(r, true, err))
		return false;
	r->fwd = want;
	/* ...then take the old one away. */
	if (was == RIG_FWD_LINKEM && want != RIG_FWD_LINKEM)
		rig__linkem_stop_checked(r);
	if (want == RIG_FWD_LINKEM && was != RIG_FWD_LINKEM &&
	    !mirred_set(r, false, err))
		return false;
	if (was == RIG_FWD_NETEM && want != RIG_FWD_NETEM &&
	    !netem_set(r, l, false, err))
		return false;
	return true;
}

static bool check_link(const rig_link *l, qm_error *err)
{
	if (!(l->bw_mbit >= 0 && l->bw_mbit <= 1e6))
		return qm_error_set(err, QM_ERR_INVAL, "bandwidth %g Mbit/s: "
				    "expected 0 (unshaped) to 1000000",
				    l->bw_mbit);
	if (!(l->rtt_ms >= 0 && l->rtt_ms <= 60000))
		return qm_error_set(err, QM_ERR_INVAL, "RTT %g ms: expected 0 "
				    "to 60000", l->rtt_ms);
	if (!(l->loss_pct >= 0 && l->loss_pct <= 100))
		return qm_error_set(err, QM_ERR_INVAL, "loss %g%%: expected 0 "
				    "to 100", l->loss_pct);
	return true;
}

bool rig__shape(rig *r, const rig_link *l, qm_error *err)
{
	bool want_gso_limit;
	bool ok;

	if (!check_link(l, err))
		return false;
	ok = bandwidth(r, l, err) && forwarder(r, l, err);
	want_gso_limit = ok && r->fwd == RIG_FWD_NETEM && l->loss_pct > 0;
	if (ok && want_gso_limit != r->gso_limited) {
		ok = gso_limit(r, want_gso_limit, err);
		if (ok)
			r->gso_limited = want_gso_limit;
	}
	if (ok) {
		r->link.rtt_ms = l->rtt_ms;
		r->link.loss_pct = l->loss_pct;
	}
	/* Record what is in force, also after a step failed. */
	return rig__state_save(r, ok ? err : NULL) && ok;
}

bool rig_shape(rig *r, const rig_link *l, qm_error *err)
{
	if (!r || r->down)
		return qm_error_set(err, QM_ERR_STATE, "rig is down");
	if (!l)
		return qm_error_set(err, QM_ERR_INVAL, "no link settings");
	return rig__shape(r, l, err);
}

bool rig_link_set(rig *r, bool up, qm_error *err)
{
	const char *state = up ? "up" : "down";
	const char *ns;

	if (!r || r->down)
		return qm_error_set(err, QM_ERR_STATE, "rig is down");
	ns = r->ns[RIG_NS_LINK];
	/* Taking the link's own ends down drops carrier on s0 and d0: a
	 * silent cut in the middle, not an error the senders can see. */
	if (!rig__cmd(err, "ip", "-n", ns, "link", "set", "dev", RIG_IF_LSRC,
		      state, NULL) ||
	    !rig__cmd(err, "ip", "-n", ns, "link", "set", "dev", RIG_IF_LDST,
		      state, NULL))
		return false;
	r->cut = !up;
	return rig__state_save(r, err);
}
