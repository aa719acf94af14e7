/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmig-linkem's data path: receive in batches, draw losses (splitting GSO
 * frames that lose a packet), queue with the due time, send what is due.
 * See linkem.c for what the program does and docs/RIG.md for why.
 */
#define LOG_PREFIX "linkem"
#include "tools/rig/linkem-run.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

volatile sig_atomic_t lk_stop, lk_reload;

/* splitmix64: small, fast, and good enough to draw independent drops. */
static uint64_t rng_next(linkem *lk)
{
	uint64_t z = (lk->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static bool lose(linkem *lk)
{
	return lk->loss_ppm && rng_next(lk) % 1000000 < lk->loss_ppm;
}

/* ---- settings ---- */

void lk_apply(linkem *lk, uint64_t delay_us, uint64_t loss_ppm)
{
	lk->delay_ns = (int64_t)delay_us * 1000;
	lk->loss_ppm = loss_ppm > 1000000 ? 1000000 : loss_ppm;
	st_set(&lk->stats->delay_us, delay_us);
	st_set(&lk->stats->loss_ppm, lk->loss_ppm);
}

bool lk_load_control(linkem *lk, qm_error *err)
{
	unsigned long long gen = 0, delay_us = 0, loss_ppm = 0;
	int have = 0;
	char line[128];
	FILE *f = fopen(lk->control, "re");

	if (!f)
		return qm_error_errno(err, errno, "control file %s",
				      lk->control);
	while (fgets(line, sizeof(line), f)) {
		have |= sscanf(line, "gen %llu", &gen) == 1;
		have |= (sscanf(line, "delay_us %llu", &delay_us) == 1) << 1;
		have |= (sscanf(line, "loss_ppm %llu", &loss_ppm) == 1) << 2;
	}
	fclose(f);
	if (have != 7)
		return qm_error_set(err, QM_ERR_INVAL, "control file %s: needs "
				    "gen, delay_us and loss_ppm lines",
				    lk->control);
	lk_apply(lk, delay_us, loss_ppm);
	st_set(&lk->stats->conf_gen, gen);
	pr_info("gen %llu: delay %llu us, loss %llu ppm", gen, delay_us,
		loss_ppm);
	return true;
}

/* ---- receiving ---- */

static void enqueue(lane *ln, const struct virtio_net_hdr *vh,
		    const uint8_t *f, size_t flen, unsigned pkts, int64_t due)
{
	lk_entry *e = lk_ring_reserve(&ln->q, LK_VNET_LEN + flen);

	if (!e) {
		st_add(&ln->st->overflow, pkts);
		return;
	}
	e->due = due;
	e->len = LK_VNET_LEN + flen;
	e->pkts = pkts;
	memcpy(e->data, vh, LK_VNET_LEN);
	memcpy(e->data + LK_VNET_LEN, f, flen);
	lk_ring_push(&ln->q);
}

/* Queue the packets of a GSO frame that survive, split if any is lost. */
static void gso_in(linkem *lk, lane *ln, const struct virtio_net_hdr *vh,
		   const uint8_t *f, size_t flen, int64_t due)
{
	struct virtio_net_hdr svh;
	unsigned i, lost = 0;
	lk_gso g;
	lk_entry *e;

	if (!lk_gso_parse(vh, f, flen, &g) || g.nseg > MAX_SEGS) {
		unsigned pkts = lk_gso_packets(vh, flen);

		/* Not ours to split: it lives or dies as a whole. */
		st_add(&ln->st->unsplit, 1);
		if (lose(lk))
			st_add(&ln->st->lost, pkts);
		else
			enqueue(ln, vh, f, flen, pkts, due);
		return;
	}
	for (i = 0; i < g.nseg; i++)
		lost += lk->drop[i] = lose(lk);
	if (!lost) {
		enqueue(ln, vh, f, flen, g.nseg, due);
		return;
	}
	st_add(&ln->st->split, 1);
	st_add(&ln->st->lost, lost);
	for (i = 0; i < g.nseg; i++) {
		if (lk->drop[i])
			continue;
		e = lk_ring_reserve(&ln->q, LK_VNET_LEN + g.hlen + g.mss);
		if (!e) {
			st_add(&ln->st->overflow, 1);
			continue;
		}
		e->len = LK_VNET_LEN + lk_gso_segment(f, flen, &g, i, &svh,
						      e->data + LK_VNET_LEN);
		memcpy(e->data, &svh, LK_VNET_LEN);
		e->due = due;
		e->pkts = 1;
		lk_ring_push(&ln->q);
	}
}

static void frame_in(linkem *lk, lane *ln, const uint8_t *buf, size_t len,
		     int flags, int64_t now)
{
	struct virtio_net_hdr vh;
	const uint8_t *f = buf + LK_VNET_LEN;
	size_t flen;
	unsigned pkts;

	if (len < LK_VNET_LEN + ETH_HLEN)
		return;
	memcpy(&vh, buf, LK_VNET_LEN);
	flen = len - LK_VNET_LEN;
	pkts = lk_gso_packets(&vh, flen);
	st_add(&ln->st->pkts_in, pkts);
	st_add(&ln->st->bytes_in, flen);
	if (flags & MSG_TRUNC) {
		st_add(&ln->st->overflow, pkts);
		return;
	}
	if (pkts > 1 && lk->loss_ppm) {
		gso_in(lk, ln, &vh, f, flen, now + lk->delay_ns);
		return;
	}
	if (lose(lk)) {
		st_add(&ln->st->lost, pkts);
		return;
	}
	enqueue(ln, &vh, f, flen, pkts, now + lk->delay_ns);
}

/*
 * When the frame reached the interface, on CLOCK_MONOTONIC: the kernel's
 * receive timestamp (CLOCK_REALTIME) moved by @real_to_mono. Timing the
 * delay from there, not from when linkem woke up to read it, keeps the
 * wake-up latency out of the delay. A timestamp from the future or from
 * over a second ago (a clock step) is not trusted.
 */
static int64_t arrival(struct msghdr *m, int64_t now, int64_t real_to_mono)
{
	struct cmsghdr *c;
	struct timespec ts;
	int64_t t;

	for (c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET ||
		    c->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		memcpy(&ts, CMSG_DATA(c), sizeof(ts));
		t = ts.tv_sec * 1000000000LL + ts.tv_nsec + real_to_mono;
		return t <= now && t > now - 1000000000LL ? t : now;
	}
	return now;
}

static int64_t real_to_mono_offset(void)
{
	struct timespec real, mono;

	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return (mono.tv_sec - real.tv_sec) * 1000000000LL +
	       (mono.tv_nsec - real.tv_nsec);
}

static void lane_receive(linkem *lk, lane *ln, int64_t now)
{
	int64_t offset = real_to_mono_offset();
	int round, i, n;

	for (round = 0; round < RX_ROUNDS; round++) {
		for (i = 0; i < RX_BATCH; i++) {
			lk->rxiov[i] = (struct iovec){ lk->rxbuf + i * RX_SLOT,
						       RX_SLOT };
			lk->rx[i].msg_hdr = (struct msghdr){
				.msg_iov = &lk->rxiov[i], .msg_iovlen = 1,
				.msg_control = lk->rxctl[i],
				.msg_controllen = sizeof(lk->rxctl[i]) };
		}
		n = recvmmsg(ln->in, lk->rx, RX_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			/* ENETDOWN: the link was cut (rig_link_set); the
			 * socket works again once it is up. */
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ENETDOWN)
				pr_warn("receiving on %s: %s", ln->in_name,
					strerror(errno));
			return;
		}
		for (i = 0; i < n; i++)
			frame_in(lk, ln, lk->rxbuf + i * RX_SLOT,
				 lk->rx[i].msg_len, lk->rx[i].msg_hdr.msg_flags,
				 arrival(&lk->rx[i].msg_hdr, now, offset));
		if (n < RX_BATCH)
			return;
	}
}

/* ---- sending ---- */

static void lane_flush(linkem *lk, lane *ln, int64_t now)
{
	lk_entry *e;
	int i, n, sent;

	while (!ln->blocked && (e = lk_ring_first(&ln->q)) && e->due <= now) {
		for (n = 0; e && n < TX_BATCH && e->due <= now;
		     n++, e = lk_ring_next(&ln->q, e)) {
			lk->txiov[n] = (struct iovec){ e->data, e->len };
			lk->tx[n].msg_hdr = (struct msghdr){
				.msg_iov = &lk->txiov[n], .msg_iovlen = 1 };
		}
		sent = sendmmsg(ln->out, lk->tx, n, MSG_DONTWAIT);
		if (sent < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				ln->blocked = true;
				return;
			}
			/* The first frame cannot go (link down, peer backlog
			 * full): it is lost, as on a wire. */
			if (!ln->warned && errno != ENETDOWN &&
			    errno != ENOBUFS) {
				pr_warn("sending from %s: %s", ln->in_name,
					strerror(errno));
				ln->warned = true;
			}
			st_add(&ln->st->send_err, lk_ring_first(&ln->q)->pkts);
			lk_ring_pop(&ln->q);
			continue;
		}
		for (i = 0; i < sent; i++) {
			st_add(&ln->st->pkts_out, lk_ring_first(&ln->q)->pkts);
			lk_ring_pop(&ln->q);
		}
	}
}

/* ---- set-up ---- */

/* Frames the kernel dropped because linkem fell behind are lost on the
 * link too: count them (PACKET_STATISTICS resets on each read). */
static void collect_sock_drops(linkem *lk)
{
	for (int d = 0; d < 2; d++) {
		struct tpacket_stats tp;
		socklen_t len = sizeof(tp);

		if (getsockopt(lk->ln[d].in, SOL_PACKET, PACKET_STATISTICS, &tp,
			       &len) == 0 && tp.tp_drops)
			st_add(&lk->ln[d].st->sock_drops, tp.tp_drops);
	}
}

/* How long ppoll may sleep: until the oldest frame of either direction is
 * due. */
static struct timespec *poll_timeout(linkem *lk, int64_t now,
				     struct timespec *ts)
{
	int64_t wait = -1;

	for (int d = 0; d < 2; d++) {
		lk_entry *e = lk_ring_first(&lk->ln[d].q);

		if (!e || lk->ln[d].blocked)
			continue;
		if (wait < 0 || e->due - now < wait)
			wait = e->due - now > 0 ? e->due - now : 0;
	}
	/* Idle: still wake now and then to collect socket drops. */
	if (wait < 0)
		wait = SOCK_STATS_NS;
	ts->tv_sec = wait / 1000000000;
	ts->tv_nsec = wait % 1000000000;
	return ts;
}

int lk_run(linkem *lk, const sigset_t *waitmask)
{
	struct pollfd pfd[3];
	struct timespec ts;
	qm_error err = QM_ERROR_INIT;
	int64_t now, next_stats = 0;
	int d;

	while (!lk_stop) {
		if (lk_reload) {
			lk_reload = 0;
			if (!lk_load_control(lk, &err)) {
				pr_warn("%s (settings unchanged)", err.msg);
				qm_error_clear(&err);
			}
		}
		now = qm_now_ns();
		for (d = 0; d < 2; d++)
			lane_flush(lk, &lk->ln[d], now);
		if (now >= next_stats) {
			collect_sock_drops(lk);
			next_stats = now + SOCK_STATS_NS;
		}
		/* pfd[0] is A: read for A->B, written by B->A. */
		for (d = 0; d < 2; d++)
			pfd[d] = (struct pollfd){ .fd = lk->ln[d].in,
				.events = POLLIN |
					  (lk->ln[!d].blocked ? POLLOUT : 0) };
		pfd[2] = (struct pollfd){ .fd = lk->owner_fd, .events = POLLIN };
		if (ppoll(pfd, lk->owner_fd >= 0 ? 3 : 2,
			  poll_timeout(lk, now, &ts), waitmask) < 0) {
			if (errno == EINTR)
				continue;
			pr_err("ppoll: %s", strerror(errno));
			return 1;
		}
		if (lk->owner_fd >= 0 && pfd[2].revents) {
			pr_info("owner exited");
			break;
		}
		now = qm_now_ns();
		for (d = 0; d < 2; d++) {
			if (pfd[d].revents & (POLLOUT | POLLERR))
				lk->ln[!d].blocked = false;
			if (pfd[d].revents & (POLLIN | POLLERR))
				lane_receive(lk, &lk->ln[d], now);
		}
	}
	return 0;
}
