/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to qmig-linkem: the process's state, shared by its set-up
 * (linkem.c) and its data path (linkem-path.c).
 */
#ifndef QMIG_LINKEM_RUN_H
#define QMIG_LINKEM_RUN_H

#include "common/common.h"
#include "tools/rig/linkem.h"
#include "tools/rig/linkem-int.h"

#include <signal.h>
#include <sys/socket.h>
#include <time.h>

#define RX_BATCH 32
/* A GSO frame is at most 64 KiB on a veth (gso_max_size 65536) plus its
 * Ethernet header; larger ones (BIG TCP) arrive truncated and are
 * dropped as overflow. */
#define RX_SLOT (LK_VNET_LEN + 65536 + 512)
#define RX_ROUNDS 8         /* batches per wake-up before sending again */
#define TX_BATCH 64
#define SOCK_BUF (8 << 20)
#define DEFAULT_LIMIT (32u << 20)
#define MAX_SEGS 2048       /* 64 KiB at the smallest MSS Linux uses */
#define SOCK_STATS_NS 100000000LL /* how often to collect socket drops */

typedef struct lane {
	const char *in_name;
	int in, out;
	lk_ring q;
	linkem_dir_stats *st;
	bool blocked;       /* out returned EAGAIN: wait for POLLOUT */
	bool warned;
} lane;

typedef struct linkem {
	lane ln[2];
	int64_t delay_ns;
	uint64_t loss_ppm;
	uint64_t rng;
	linkem_stats *stats;
	const char *control;
	int owner_fd;       /* pidfd of --owner, or -1 */
	uint8_t *rxbuf;
	struct mmsghdr rx[RX_BATCH];
	struct iovec rxiov[RX_BATCH];
	/* SCM_TIMESTAMPNS of each received frame */
	char rxctl[RX_BATCH][CMSG_SPACE(sizeof(struct timespec))];
	struct mmsghdr tx[TX_BATCH];
	struct iovec txiov[TX_BATCH];
	bool drop[MAX_SEGS];
} linkem;

/* Single writer: a relaxed store is enough for readers of the stats file
 * to see whole values. */
static inline void st_add(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, *p + v, __ATOMIC_RELAXED);
}

static inline void st_set(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Set by the signal handlers, read by lk_run. */
extern volatile sig_atomic_t lk_stop, lk_reload;

/* Settings in force (also published in the stats file). */
void lk_apply(linkem *lk, uint64_t delay_us, uint64_t loss_ppm);
/* Read the control file (linkem.h) and apply it. */
bool lk_load_control(linkem *lk, qm_error *err);
/* Forward until lk_stop, SIGTERM or the owner's end; @waitmask is the
 * signal mask to wait with. Returns the exit code. */
int lk_run(linkem *lk, const sigset_t *waitmask);

#endif /* QMIG_LINKEM_RUN_H */
