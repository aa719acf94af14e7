/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rig: two "hosts" on one machine, as network namespaces joined by a
 * shaped link, for the benchmark rig, the fault-injection tests and the
 * link-cut tests. Nothing here touches an address outside the namespaces
 * it creates.
 *
 *   <prefix>-src           <prefix>-link              <prefix>-dst
 *   [s0 10.213.0.1/24] ══ [ls]  forwarder  [ld] ══ [d0 10.213.0.2/24]
 *      tbf egress          veth pairs, no addresses       tbf egress
 *
 * Bandwidth: tbf on the egress of s0 and of d0 (both directions).
 * Forwarding in <prefix>-link, chosen by the shaping:
 *  - no delay, no loss: the kernel (tc mirred redirect ls <-> ld), at
 *    veth speed;
 *  - delay or loss: netem on ls and ld where the kernel has it, else the
 *    userspace delay line qmig-linkem (docs/RIG.md says why and what it
 *    changes). QMIG_RIG_LINKEM=1 uses linkem even where netem exists.
 * The forwarder can change while traffic flows (rig_shape), which is why
 * the link has its own namespace even when it only forwards.
 * IPv4 only: the interfaces get no IPv6 link-local address, so no
 * background traffic (router solicitations, DAD) shows in the counters.
 *
 * State lives in /run/qmig-rig/<prefix>/ (settings, linkem's pid, stats
 * and log), so another process (qmig-rig) can shape, cut, read counters
 * and take a rig down by its prefix.
 *
 * Lifetime: rig_up() makes a rig owned by the calling process: its linkem
 * ends when that process ends, however it ends (linkem watches it through
 * a pidfd), and rig_down() or rig_down_all() (atexit / signal handler, see
 * rig_install_cleanup()) removes namespaces, links and linkem. A process
 * killed with SIGKILL leaves its namespaces: `qmig-rig down PREFIX`
 * removes them.
 * Processes a caller starts inside a namespace are the caller's to stop; a
 * namespace with a process left in it lives on, unnamed, until it exits.
 *
 * Threads: one rig object per thread at a time; distinct rigs are
 * independent. Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
 */
#ifndef QMIG_RIG_H
#define QMIG_RIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"

typedef enum rig_side { RIG_SRC = 0, RIG_DST = 1 } rig_side;

typedef struct rig_link {
	double bw_mbit;   /* per direction; 0 = unshaped */
	double rtt_ms;    /* round trip added by the link; 0 = none */
	double loss_pct;  /* per wire packet, each direction; 0 = none */
} rig_link;

typedef struct rig rig;

#define RIG_PREFIX_MAX 8
#define RIG_RUN_DIR "/run/qmig-rig"

/* Create the namespaces and the link. @prefix: 1 to RIG_PREFIX_MAX chars
 * of [a-z0-9], unique per concurrent rig (e.g. include the pid).
 * QM_ERR_STATE if a rig of that prefix exists, QM_ERR_UNSUPPORTED (with
 * the reason) if rig_available() is false. Nothing is left on failure. */
rig *rig_up(const char *prefix, const rig_link *l, qm_error *err);
/* As rig_up, for a rig that outlives this process (`qmig-rig up`): linkem
 * is not tied to the caller and rig_down_all() leaves it alone. */
rig *rig_up_detached(const char *prefix, const rig_link *l, qm_error *err);
/* An existing rig, by prefix (from its state in RIG_RUN_DIR). */
rig *rig_open(const char *prefix, qm_error *err);
/* Forget @r without taking it down (NULL-safe). */
void rig_close(rig *r);

void rig_down(rig *r);          /* NULL-safe, idempotent; frees @r */
/* Remove whatever exists of the rig @prefix (namespaces, linkem, state),
 * also the leftovers of a killed owner. false (QM_ERR_NOTFOUND) if there
 * was nothing. */
bool rig_down_prefix(const char *prefix, qm_error *err);
/* Every rig this process owns and still has up; async-signal-safe (only
 * kill, waitpid, umount2, unlink, rmdir), does not free. */
void rig_down_all(void);
/* atexit(rig_down_all), and handlers for the signals that end a process
 * (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGABRT, SIGSEGV, SIGBUS)
 * that call it and then die of the signal. A signal the caller already
 * ignores or handles is left alone. Idempotent. */
void rig_install_cleanup(void);

/* Namespace name of a side ("<prefix>-src"), its /run/netns path, the
 * address of that side ("10.213.0.1") and its interface ("s0"). */
const char *rig_ns(const rig *r, rig_side s);
const char *rig_ns_path(const rig *r, rig_side s);
const char *rig_addr(const rig *r, rig_side s);
const char *rig_ifname(const rig *r, rig_side s);
const char *rig_prefix(const rig *r);
/* Current shaping, and how the link forwards: "kernel", "netem" or
 * "linkem". */
void rig_get_link(const rig *r, rig_link *l);
const char *rig_forwarder(const rig *r);
/* pid of the rig's qmig-linkem, 0 if none runs. */
pid_t rig_linkem_pid(const rig *r);
bool rig_is_cut(const rig *r);

typedef struct rig_stats {
	/* The side's interface (kernel counters, read in its namespace; a
	 * GSO frame counts as one packet). */
	uint64_t tx_bytes, tx_packets, rx_bytes, rx_packets;
	/* What this side sent into the link, in wire packets. Only counted
	 * while the link delays or drops (linkem or netem). */
	uint64_t link_pkts;
	uint64_t link_lost;      /* dropped by the loss setting */
	uint64_t link_dropped;   /* dropped otherwise: queue full, link cut */
	uint64_t link_split;     /* GSO frames linkem split so that loss hits
				  * single packets (0 with netem) */
} rig_stats;

bool rig_counters(const rig *r, rig_side s, rig_stats *st, qm_error *err);

/* Round trip time between the sides as TCP sees it: @n one-byte
 * ping-pongs (TCP_NODELAY) from side @from to an echo in the other side,
 * after one warm-up trip; min and median in ms. */
bool rig_ping(const rig *r, rig_side from, int n, double *min_ms,
	      double *med_ms, qm_error *err);

/* Change the link's shaping on the fly (e.g. 5% loss mid-migration):
 * connections survive. Switching forwarders duplicates a few frames for
 * a few milliseconds. */
bool rig_shape(rig *r, const rig_link *l, qm_error *err);
/* Cut (@up false) or restore the link. A cut takes the link's ends down:
 * both sides lose carrier, frames in flight are lost and nothing gets
 * through (a connect times out, an established connection stalls and
 * resumes after the restore if it has not timed out). */
bool rig_link_set(rig *r, bool up, qm_error *err);

/* Move the calling thread into the side's network namespace (setns); used
 * in a child between fork and exec (only open, setns, close). */
bool rig_enter(const rig *r, rig_side s, qm_error *err);
/* socket(2) inside the side's namespace, without moving the caller: the
 * socket stays in that namespace (bind, connect, listen there). */
int rig_socket(const rig *r, rig_side s, int domain, int type, int protocol,
	       qm_error *err);

/* Can this process make namespaces and shape links at all? false (with
 * the reason) without CAP_NET_ADMIN, without `ip`/`tc`, without tbf or
 * tc mirred, or without both netem and a working qmig-linkem: callers
 * report SKIP with it. The probe makes (and removes) a scratch namespace
 * once per process. */
bool rig_available(char *why, size_t why_len);

#endif /* QMIG_RIG_H */
