/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What qmig-linkem (the userspace delay line, docs/RIG.md) shares with the
 * programs that drive it: the stats file it keeps current and the control
 * file it re-reads on SIGHUP.
 *
 * Stats file: one linkem_stats, mmap'ed MAP_SHARED by linkem, which is its
 * only writer (aligned 64-bit stores, read with relaxed atomic loads).
 * `magic` is written last at start-up, once both sockets are bound: a reader
 * that sees it knows the link forwards.
 *
 * Control file (text, written to a temp file and renamed into place):
 *   gen N          generation; linkem copies it to stats.conf_gen once the
 *                  settings below are in force
 *   delay_us N     one-way delay, each direction
 *   loss_ppm N     loss per packet, each direction, parts per million
 */
#ifndef QMIG_LINKEM_H
#define QMIG_LINKEM_H

#include <stdint.h>

#define LINKEM_STATS_MAGIC 0x31306d656b6c6d71ULL /* "qmlkem01" */

/* Direction: frames read on interface A are sent on B, and back. */
enum { LINKEM_AB = 0, LINKEM_BA = 1 };

typedef struct linkem_dir_stats {
	uint64_t pkts_in;     /* wire packets received (a GSO frame counts as
			       * the packets it stands for) */
	uint64_t bytes_in;    /* frame bytes received */
	uint64_t pkts_out;    /* wire packets sent on the other side */
	uint64_t lost;        /* packets dropped by the loss setting */
	uint64_t overflow;    /* packets dropped: delay line full */
	uint64_t send_err;    /* packets dropped: send failed (link down) */
	uint64_t sock_drops;  /* frames the kernel dropped before linkem read
			       * them (receive buffer full) */
	uint64_t split;       /* GSO frames split to drop single packets */
	uint64_t unsplit;     /* GSO frames that could not be split (not
			       * TCP/IPv4): lost or kept as a whole */
} linkem_dir_stats;

typedef struct linkem_stats {
	uint64_t magic;
	uint64_t pid;
	uint64_t conf_gen;
	uint64_t delay_us;
	uint64_t loss_ppm;
	linkem_dir_stats dir[2];
} linkem_stats;

#endif /* QMIG_LINKEM_H */
