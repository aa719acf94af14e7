/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * transport: move guest pages and control frames between two agents over N
 * TCP streams, each driven by its own io_uring, with a versioned, framed,
 * length-checked protocol and keyed-hash page dedup. docs/PROTOCOL.md is
 * the wire contract; this header and that page are kept in step.
 *
 *   sender (source agent)                      receiver (destination agent)
 *   tp_sender_new(ram, hasher, cfg)            tp_receiver_new(cfg): listen
 *   tp_sender_connect(host, port) ---- N TCP streams ----> tp_receiver_accept()
 *      (cfg.tls: a TLS 1.3 handshake first, every byte below inside it)
 *      stream i: HELLO -> <- AUTH -> AUTH <- ACK   (mutual HMAC-SHA256)
 *      stream 0: SETUP (blocks, secret) ->  <- ACK, <- HAVE... (LAST)
 *   tp_sender_queue(first, n)  .. PAGES ..>    pages land in the mapped RAM
 *   tp_sender_flush(round)     .. ROUND_END on every stream ..>
 *                              <.. MISMATCH(RESEND)*, ACK  (all streams in)
 *   tp_sender_send_devstate()  .. DEVSTATE ..> tp_receiver_recv_ctrl()
 *   tp_sender_send_verify()    .. VERIFY ..>   (and back, either way)
 *   tp_sender_commit()         .. COMMIT ..>   tp_receiver_recv_ctrl()
 *                              <.. ACK ..      tp_receiver_ack_commit()
 *   (or ABORT from either side, carrying a code and a message)
 *
 * Page routing: page p travels on stream (p / TP_SHARD_PAGES) % nstreams,
 * always; the receiver rejects a page on any other stream. So two writes of
 * one page are ordered by one TCP stream, and every page has exactly one
 * writer thread on the receiver.
 *
 * Dedup (sender): a page that reads all zero is sent as ZERO (8 bytes);
 * one whose keyed hash the receiver announced in HAVE as HAVE
 * (32 bytes, copied from the receiver's staged image); one whose content was
 * already sent in this migration as DUP (32 bytes: the hash and the page
 * that carried it). References may cross streams, so the receiver never
 * trusts one: it copies, hashes the copy and compares with the hash in the
 * entry. A reference that does not check out (its source page has not
 * arrived yet on another stream, or was overwritten since) is retried once
 * every stream's ROUND_END is in, and if it still fails the receiver lists
 * the page in MISMATCH(RESEND) before its ACK; tp_sender_flush() resends
 * such pages in full before it returns. See PROTOCOL.md section 4,
 * "Rounds, dedup and the multi-stream race".
 *
 * Sent hashes: the sender hashes each non-zero page in guest RAM and the
 * kernel sends a FULL page from there, with no copy in between; the guest
 * may write the page meanwhile, so the bytes sent may not be the bytes
 * hashed. Every FULL entry carries its hash and the receiver checks it; a
 * page that does not match is resent (copied first, and the copy hashed)
 * before tp_sender_flush() returns. So once a flush returns, the last hash
 * on_sent() reported for each page is the hash of what the receiver holds
 * (for a ZERO entry, the zero page's hash): what dl_tracker_mark_sent()
 * wants. PROTOCOL.md section 4, "Sent hashes".
 *
 * Errors: QM_ERR_PROTO (peer broke the protocol; the message names the
 * frame, the field and both values), QM_ERR_CLOSED (peer closed without
 * COMMIT or ABORT), QM_ERR_CANCELLED (the peer sent ABORT; err->subclass is
 * its tp_abort_code and the message carries its text), QM_ERR_TIMEOUT (no
 * progress for cfg.timeout_ms), QM_ERR_IO (a system call failed), QM_ERR_INVAL
 * (bad argument), QM_ERR_STATE (call not allowed now, or the session has
 * already failed: every later call returns the first error again).
 *
 * Threads: each object belongs to the engine thread that created it, except
 * where a function says otherwise. Each stream runs one internal thread
 * driving its own ring; on_sent() is called from those threads.
 */
#ifndef QMIG_TRANSPORT_H
#define QMIG_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "dirtylog/dirtylog.h"

/* ---- protocol constants (docs/PROTOCOL.md) ---- */

#define TP_MAGIC		0x514d4947u	/* "QMIG" read as big-endian */
/* Version 2: every FULL entry carries its hash, checked by the receiver
 * (PROTOCOL.md section 4, "Sent hashes"); version 1 did not. */
#define TP_PROTO_VERSION	2		/* what this build speaks */
#define TP_PROTO_VERSION_MIN	2		/* oldest it still accepts */
#define TP_FRAME_HDR_SIZE	8		/* u16 type, u16 flags, u32 len */

#define TP_MAX_STREAMS		16
/* Default stream count, chosen from the loopback benchmark (BENCHMARKS.md
 * "transport"): 2 streams use both cores of a 2-core host, more only add
 * threads competing for them. */
#define TP_DEFAULT_STREAMS	2
#define TP_SHARD_PAGES		512		/* 2 MiB: unit of stream routing */

#define TP_MIGRATION_ID_SIZE	16
#define TP_NONCE_SIZE		32
#define TP_MAC_SIZE		32		/* HMAC-SHA256 */
#define TP_PSK_MIN		16
#define TP_PSK_MAX		256
#define TP_NAME_MAX		64		/* VM name, block id: bytes incl. NUL */
#define TP_MAX_BLOCKS		DL_MAX_REGIONS
#define TP_MAX_RAM_PAGES	(1ull << 32)	/* 16 TiB of 4 KiB pages */

/* Per-frame limits; the frame table in frame.c derives body sizes from them. */
#define TP_MAX_FRAME_PAGES	256		/* FULL pages in one PAGES frame */
#define TP_MAX_FRAME_ENTRIES	4096		/* entries in one PAGES frame */
#define TP_MAX_HAVE_HASHES	4096		/* hashes in one HAVE frame */
#define TP_MAX_VERIFY_HASHES	4096
#define TP_MAX_MISMATCH_PAGES	8192
#define TP_MAX_DEVSTATE_CHUNK	(256u << 10)
#define TP_MAX_ABORT_MSG	256

/* Frame types; 0 is never valid on the wire. */
typedef enum tp_frame_type {
	TP_FRAME_INVALID = 0,
	TP_FRAME_HELLO,		/* S->D first frame of every stream */
	TP_FRAME_AUTH,		/* both: nonce + HMAC proof */
	TP_FRAME_SETUP,		/* S->D stream 0: RAM blocks, VM name, secret */
	TP_FRAME_HAVE,		/* D->S hashes of content D already holds */
	TP_FRAME_PAGES,		/* S->D batch of page entries + payload */
	TP_FRAME_ROUND_END,	/* S->D every stream: end of a flush epoch */
	TP_FRAME_DEVSTATE,	/* S->D chunk of tunnelled device state */
	TP_FRAME_VERIFY,	/* both: hash lists for verification */
	TP_FRAME_MISMATCH,	/* both: page lists (verify, resend) */
	TP_FRAME_COMMIT,	/* S->D: destination may run */
	TP_FRAME_ABORT,		/* both: code + message, ends the session */
	TP_FRAME_ACK,		/* both: acknowledges a frame by type + seq */
	TP_FRAME_PING,		/* S->D: RTT probe, answered by ACK */
	TP_FRAME__COUNT
} tp_frame_type;

/* Frame flags (per type, see the table in PROTOCOL.md). */
#define TP_FLAG_LAST		0x0001	/* HAVE, DEVSTATE: last of a series */

/* Kind of a page entry in PAGES. */
typedef enum tp_page_kind {
	TP_PAGE_INVALID = 0,
	TP_PAGE_FULL,		/* 4096 bytes of payload follow */
	TP_PAGE_ZERO,		/* all zero */
	TP_PAGE_DUP,		/* same content as a page sent before */
	TP_PAGE_HAVE,		/* content the receiver announced in HAVE */
	TP_PAGE__COUNT
} tp_page_kind;

/* MISMATCH reasons. */
typedef enum tp_mismatch_reason {
	TP_MISMATCH_VERIFY = 1,	/* verification found these pages differ */
	TP_MISMATCH_RESEND = 2,	/* receiver could not materialise a DUP/HAVE */
} tp_mismatch_reason;

/* VERIFY levels (hash tree: roots, then chunks, then pages). */
typedef enum tp_verify_level {
	TP_VERIFY_ROOT = 1,
	TP_VERIFY_CHUNK = 2,
	TP_VERIFY_PAGE = 3,
} tp_verify_level;

/* ABORT codes; stable, they travel on the wire. */
typedef enum tp_abort_code {
	TP_ABORT_NONE = 0,
	TP_ABORT_CANCELLED,	/* the operator or the engine gave up */
	TP_ABORT_PROTOCOL,	/* the peer broke the protocol */
	TP_ABORT_AUTH,		/* authentication failed */
	TP_ABORT_SETUP,		/* destination RAM could not be prepared */
	TP_ABORT_IO,		/* local I/O failure */
	TP_ABORT_VERIFY,	/* verification failed for good */
	TP_ABORT_ENGINE,	/* engine-level failure (QEMU, deadline...) */
	TP_ABORT__COUNT
} tp_abort_code;

/* Stable wire name of a frame type ("PAGES"), "INVALID" if out of range. */
const char *tp_frame_name(unsigned type);
/* Name of an abort code ("auth"), "unknown" if out of range. */
const char *tp_abort_name(unsigned code);

/* ---- statistics ---- */

typedef struct tp_stats {
	int streams;
	bool send_zc;			/* SEND_ZC in use (else plain send) */
	/* Page entries by kind (sender: sent; receiver: applied). */
	uint64_t pages_full, pages_zero, pages_dup, pages_have;
	/* Sender: pages resent in full after MISMATCH(RESEND). Receiver:
	 * pages it asked to be resent (references it could not
	 * materialise, FULL pages that did not match their hash). */
	uint64_t pages_resent;
	/* Receiver: FULL pages whose bytes did not match the hash in their
	 * entry (the guest wrote them while the sender sent them from its
	 * RAM); each was asked for again and resent. */
	uint64_t pages_changed;
	/* Receiver: references that failed first and were resolved when the
	 * round's ROUND_ENDs were all in (the multi-stream race, counted). */
	uint64_t refs_deferred;
	/* Payload bytes not sent thanks to dedup: 4096 per ZERO page, 4096
	 * minus the 24-byte reference per DUP/HAVE page. */
	uint64_t bytes_saved;
	/* Every byte on this side's connections, headers included. */
	uint64_t bytes_tx, bytes_rx;
	uint64_t frames_tx, frames_rx;
	uint64_t bytes_tx_by_type[TP_FRAME__COUNT];
	uint64_t bytes_rx_by_type[TP_FRAME__COUNT];
	uint64_t rounds;		/* flush epochs acknowledged */
	/* TLS 1.3 on every stream (bytes above count frames, not the
	 * record headers and tags TLS adds: about 0.13%); ktls: every
	 * stream's records are done by the kernel, else by a user-space
	 * pump thread per stream (PROTOCOL.md section 8). */
	bool tls, ktls;
	/* Live estimates (sender): bytes/s sent, smoothed over ~100 ms
	 * windows; RTT from PING/ACK, smoothed (1/8) and the minimum seen. The
	 * PING waits behind queued data, so srtt is the loaded RTT. */
	double throughput_bps;
	double srtt_ms, min_rtt_ms;
	uint64_t rate_limit_bps;	/* 0 = unlimited */
} tp_stats;

/* Result of one tp_sender_flush(): deltas since the previous flush. */
typedef struct tp_round_stats {
	uint64_t round;
	uint64_t pages_full, pages_zero, pages_dup, pages_have;
	uint64_t pages_resent;		/* resent in full within this flush */
	uint64_t bytes_tx, bytes_rx;
	int passes;			/* 1 + resend passes */
	int64_t elapsed_ns;		/* previous flush's end to this one's */
} tp_round_stats;

/* ---- sender ---- */

typedef enum tp_send_mode {
	TP_SEND_AUTO = 0,	/* SEND_ZC if probed, except to a loopback peer
				 * (the kernel copies there anyway, and the
				 * notifications only cost); QMIG_SEND_ZC=on|off
				 * in the environment overrides */
	TP_SEND_ZC,		/* SEND_ZC; falls back to send if unsupported */
	TP_SEND_COPY,		/* plain send */
} tp_send_mode;

/* One page as sent: its index and the hash of the bytes sent. */
typedef struct tp_sent {
	uint64_t page;
	dl_hash hash;
} tp_sent;

/*
 * on_sent: called from a stream thread once per frame with its pages, as
 * soon as the frame is built (before it is on the wire), with the hash
 * each page was classified by. If the guest changed a FULL page before
 * the kernel read it, the receiver finds out and the page is resent and
 * reported again with the hash of the resent bytes, within the same
 * flush: the last report for a page before a flush returns is the hash of
 * what the receiver holds. Calls for distinct pages may run concurrently
 * on several threads; calls for one page are ordered (one stream carries
 * it). Must not call back into the sender.
 */
typedef void (*tp_on_sent_fn)(void *opaque, const tp_sent *v, size_t n);

typedef struct tp_sender_config {
	int streams;			/* 1..TP_MAX_STREAMS; 0 = default */
	uint64_t rate_bps;		/* token bucket, bytes/s; 0 = unlimited */
	const uint8_t *psk;		/* pre-shared key, copied at _new */
	size_t psk_len;			/* TP_PSK_MIN..TP_PSK_MAX */
	uint8_t migration_id[TP_MIGRATION_ID_SIZE];
	const char *vm_name;		/* < TP_NAME_MAX bytes */
	int timeout_ms;			/* connect, handshake, and no-progress
					 * deadline; 0 = 10000 */
	int ping_interval_ms;		/* PING period (RTT, keep-alive for the
					 * receiver's idle timeout); <= 0 = 200 */
	int queue_runs;			/* bounded queue per stream, in runs of
					 * at most TP_SHARD_PAGES; 0 = 1024 */
	tp_send_mode send_mode;		/* with tls: plain send always */
	/* TLS 1.3 on every stream, keyed by the pre-shared key (PSK with
	 * ECDHE); the receiver must have it on too: a mismatch fails the
	 * connection, it never downgrades. PROTOCOL.md section 8. */
	bool tls;
	tp_on_sent_fn on_sent;		/* may be NULL */
	void *on_sent_opaque;
} tp_sender_config;

typedef struct tp_sender tp_sender;

/*
 * tp_sender_new: create a sender over @ram (source RAM, mapped read-only;
 * must outlive the sender) and @h (this migration's hasher, copied; its
 * secret goes to the receiver in SETUP). Allocates the dedup index (at
 * most 16 bytes per page of @ram). Nothing is connected yet.
 * Returns NULL with *err set (QM_ERR_INVAL naming the bad field).
 */
tp_sender *tp_sender_new(const dl_ram *ram, const dl_hasher *h,
			 const tp_sender_config *cfg, qm_error *err);

/*
 * tp_sender_connect: open cfg.streams TCP connections to @host:@port (a
 * numeric IPv4/IPv6 address or a name), with cfg.tls run TLS 1.3 on
 * each first, authenticate each (mutual HMAC-SHA256 over both sides'
 * fresh nonces), send SETUP on stream 0, wait
 * for the receiver's HAVE list to end, then start one thread per stream.
 * Blocks at most about cfg.timeout_ms per step. On failure nothing is left
 * running; the receiver got an ABORT when the failure was ours to report.
 */
bool tp_sender_connect(tp_sender *s, const char *host, uint16_t port,
		       qm_error *err);

/*
 * tp_sender_queue: queue pages [@first, @first + @n) for sending. Returns
 * as soon as the runs are in the per-stream queues; blocks while a queue
 * is full (it is bounded), at most cfg.timeout_ms without progress.
 * The pages are read when a stream thread gets to them, not now.
 */
bool tp_sender_queue(tp_sender *s, uint64_t first, uint64_t n, qm_error *err);

/*
 * tp_sender_flush: end round @round. Waits until everything queued is on
 * the wire and the receiver has acknowledged it with every page
 * materialised; pages it could not materialise are resent in full (and
 * reported again through on_sent) before this returns. Fills @st (may be
 * NULL) with exact per-round counts.
 */
bool tp_sender_flush(tp_sender *s, uint64_t round, tp_round_stats *st,
		     qm_error *err);

/*
 * Control frames to the receiver, sent on stream 0 ahead of queued pages
 * (they do not touch RAM, so order against pages does not matter; flush
 * first when it does). Each copies its arguments and returns once the
 * frame is queued (the control queue is bounded; blocks while full).
 * devstate: @len <= TP_MAX_DEVSTATE_CHUNK bytes at stream @offset; @last
 * marks the end of the device-state stream.
 * verify: @n <= TP_MAX_VERIFY_HASHES hashes, hash i covering pages
 * [first + i*span, first + (i+1)*span).
 * mismatch: @n <= TP_MAX_MISMATCH_PAGES page indices.
 */
bool tp_sender_send_devstate(tp_sender *s, uint64_t offset, const void *data,
			     size_t len, bool last, qm_error *err);
bool tp_sender_send_verify(tp_sender *s, tp_verify_level level,
			   uint64_t first, uint64_t span, const dl_hash *hashes,
			   size_t n, qm_error *err);
bool tp_sender_send_mismatch(tp_sender *s, tp_mismatch_reason reason,
			     uint64_t round, const uint64_t *pages, size_t n,
			     qm_error *err);

/*
 * tp_sender_commit: send COMMIT and wait up to @timeout_ms for the
 * receiver's ACK. true: the destination acknowledged and the session is
 * over (streams closed). false with QM_ERR_TIMEOUT or QM_ERR_CLOSED: the
 * outcome is unknown (in doubt: the destination may be running); with
 * QM_ERR_CANCELLED: the receiver refused with ABORT.
 */
bool tp_sender_commit(tp_sender *s, uint64_t final_round, int timeout_ms,
		      qm_error *err);

/*
 * tp_sender_abort: send ABORT(@code, @msg) (best effort, bounded wait),
 * then close every stream. Later calls fail with QM_ERR_CANCELLED.
 */
void tp_sender_abort(tp_sender *s, tp_abort_code code, const char *msg);

/*
 * tp_sender_interrupt: from any thread, send ABORT(@code, @msg) and make
 * every blocked and later call of the owner fail with QM_ERR_CANCELLED
 * (a flush waiting on a slow link returns at once). The owner still calls
 * tp_sender_free().
 */
void tp_sender_interrupt(tp_sender *s, tp_abort_code code, const char *msg);

/* Change the rate limit at any time (bytes/s, 0 = unlimited). Any thread. */
void tp_sender_set_rate(tp_sender *s, uint64_t bps);
/* Snapshot of the counters and estimates. Any thread. */
void tp_sender_get_stats(tp_sender *s, tp_stats *st);
/* Close everything (ABORT(CANCELLED) first if the session is still open). */
void tp_sender_free(tp_sender *s);

/* ---- control frames received by the engine ---- */

/*
 * A control frame for the engine (DEVSTATE, VERIFY, MISMATCH(VERIFY),
 * COMMIT). Arrays stay in wire form (little-endian); read them with the
 * accessors. The storage belongs to the tp_ctrl until tp_ctrl_release().
 */
typedef struct tp_ctrl {
	tp_frame_type type;
	uint16_t flags;
	union {
		struct { uint64_t offset; const uint8_t *data; uint32_t len;
			 bool last; } devstate;
		struct { uint8_t level; uint32_t count; uint64_t first, span;
			 const uint8_t *hashes; } verify;
		struct { uint8_t reason; uint32_t count; uint64_t round;
			 const uint8_t *pages; } mismatch;
		struct { uint64_t round; } commit;
	} u;
	void *storage;
} tp_ctrl;

dl_hash tp_ctrl_hash(const tp_ctrl *c, uint32_t i);	/* VERIFY */
uint64_t tp_ctrl_page(const tp_ctrl *c, uint32_t i);	/* MISMATCH */
void tp_ctrl_release(tp_ctrl *c);

/*
 * tp_sender_recv_ctrl: next control frame from the receiver (VERIFY,
 * MISMATCH(VERIFY)). Returns 1 with *c filled, 0 if none arrived within
 * @timeout_ms (0 = poll), -1 with *err set if the session failed (a peer
 * ABORT is QM_ERR_CANCELLED with subclass = its code).
 */
int tp_sender_recv_ctrl(tp_sender *s, tp_ctrl *c, int timeout_ms,
			qm_error *err);

/* ---- receiver ---- */

/*
 * block_path: where to create the destination file for RAM block @id of
 * @size bytes; write a NUL-terminated path into @path. false = refuse
 * (the sender gets ABORT(SETUP)). If NULL, ram_dir/<id>.ram is used. The
 * file is created or emptied: whatever it held is discarded (a fresh
 * destination is all zero, which both ends rely on). A file that has
 * @size bytes already is emptied in place (holes punched), keeping its
 * inode, so a QEMU that maps it already (started by the caller, waiting
 * for its migration) sees the pages as they arrive; another is truncated.
 */
typedef bool (*tp_block_path_fn)(void *opaque, const char *id, uint64_t size,
				 char *path, size_t path_len);

typedef struct tp_receiver_config {
	const char *listen_host;	/* numeric address, e.g. "127.0.0.1" */
	uint16_t listen_port;		/* 0 = any; see tp_receiver_port() */
	const uint8_t *psk;		/* copied */
	size_t psk_len;
	const char *ram_dir;		/* used when block_path is NULL */
	tp_block_path_fn block_path;
	void *block_path_opaque;
	/* Optional earlier RAM image of this VM (a file of whole pages): its
	 * non-zero pages are hashed with the migration's secret and announced
	 * in HAVE; HAVE entries are copied from it. */
	const char *staged_image;
	uint64_t max_ram_bytes;		/* refuse larger SETUPs; 0 = 1 TiB */
	/* false (default): the destination RAM is populated at SETUP
	 * (MADV_POPULATE_WRITE: allocated, zeroed, mapped) before any page
	 * moves, so the transfer itself costs the receiver about 5x less CPU
	 * (BENCHMARKS.md "transport"); it costs about 1 s per GiB at SETUP
	 * and allocates every page, used or not. true: left sparse, pages
	 * are allocated as they arrive (the better choice for mostly empty
	 * guests: nothing is allocated for pages never sent). */
	bool sparse_ram;
	bool tls;			/* TLS 1.3 required (see the sender's) */
	int timeout_ms;			/* accept, handshake, idle stream 0
					 * (the sender PINGs); 0 = 10000 */
	int inbox_max;			/* control frames held for the engine
					 * before stream 0 stops reading; 0=64 */
} tp_receiver_config;

typedef struct tp_receiver tp_receiver;

/* Create the receiver and its listening socket. */
tp_receiver *tp_receiver_new(const tp_receiver_config *cfg, qm_error *err);
/* Port the listening socket is bound to (useful with listen_port 0). */
uint16_t tp_receiver_port(const tp_receiver *r);

/*
 * tp_receiver_accept: accept and authenticate the streams of one
 * migration (with cfg.tls, each inside TLS 1.3, refusing a sender
 * without it): stream 0 first (HELLO, AUTH, SETUP: the RAM files are
 * created and mapped with DL_MAP_WRITE|DL_MAP_CREATE, then HAVE is
 * computed from the staged image and sent), then the other streams, which
 * must repeat
 * the same magic, version and migration id. Starts the stream threads.
 * Blocks at most about cfg.timeout_ms per connection. On failure the
 * offending peer got an ABORT saying why, and nothing is left running.
 */
bool tp_receiver_accept(tp_receiver *r, qm_error *err);

/* The destination RAM and the migration's hasher (valid after accept,
 * until free). Pages are written by the stream threads: read them once a
 * flush has been acknowledged or the session has ended. */
/*
 * tp_receiver_check_room: does the destination RAM's filesystem still
 * have room for every page of it not allocated yet? The RAM files are
 * sparse: once the VM runs, each page the guest touches first takes room,
 * and on a full filesystem QEMU dies of SIGBUS. SETUP checked for the
 * whole RAM; the filesystem is shared and may have filled since, so the
 * caller asks again right before starting the VM (a few syscalls, nothing
 * allocated). false with QM_ERR_IO/ENOSPC saying how much is missing.
 */
bool tp_receiver_check_room(const tp_receiver *r, qm_error *err);
/*
 * tp_receiver_distrust: pages [first, first + n) may hold bytes the
 * receiver did not write (a verification found them different from the
 * source). A ZERO entry for a page the receiver never wrote since SETUP
 * (or since its last ZERO) is skipped, the page being known zero; after
 * this call ZERO entries for these pages are applied again. Call it
 * before asking for the resend. Out-of-range pages are ignored.
 */
void tp_receiver_distrust(tp_receiver *r, uint64_t first, uint64_t n);
const dl_ram *tp_receiver_ram(const tp_receiver *r);
const dl_hasher *tp_receiver_hasher(const tp_receiver *r);
/* Migration id and VM name from the sender's HELLO/SETUP. */
const uint8_t *tp_receiver_migration_id(const tp_receiver *r);
const char *tp_receiver_vm_name(const tp_receiver *r);

/*
 * tp_receiver_recv_ctrl: next control frame from the sender (DEVSTATE,
 * VERIFY, MISMATCH(VERIFY), COMMIT), in arrival order. Returns 1, 0 on
 * timeout, -1 with *err set when the session failed or ended without
 * COMMIT (EOF without COMMIT or ABORT is QM_ERR_CLOSED; a sender ABORT is
 * QM_ERR_CANCELLED with subclass = its code).
 */
int tp_receiver_recv_ctrl(tp_receiver *r, tp_ctrl *c, int timeout_ms,
			  qm_error *err);
bool tp_receiver_send_verify(tp_receiver *r, tp_verify_level level,
			     uint64_t first, uint64_t span,
			     const dl_hash *hashes, size_t n, qm_error *err);
bool tp_receiver_send_mismatch(tp_receiver *r, tp_mismatch_reason reason,
			       uint64_t round, const uint64_t *pages, size_t n,
			       qm_error *err);
/* Acknowledge the COMMIT received: the session is over once it is sent
 * (waits for that, at most timeout_ms). */
bool tp_receiver_ack_commit(tp_receiver *r, qm_error *err);
void tp_receiver_abort(tp_receiver *r, tp_abort_code code, const char *msg);
/* Wait up to @timeout_ms for the session to end; true if it ended with
 * COMMIT acknowledged, false with the reason otherwise. */
bool tp_receiver_wait_end(tp_receiver *r, int timeout_ms, qm_error *err);
void tp_receiver_get_stats(tp_receiver *r, tp_stats *st);
/* Stop the threads, unmap the RAM (files stay), close the sockets. */
void tp_receiver_free(tp_receiver *r);

/* ---- features ---- */

typedef struct tp_features {
	bool send_zc;		/* IORING_OP_SENDMSG_ZC in the io_uring probe */
	bool send_zc_forced_off; /* QMIG_SEND_ZC=off */
	bool send_zc_forced_on;	/* QMIG_SEND_ZC=on */
	char why[128];		/* what the probe found */
	/* Kernel TLS (TCP_ULP "tls"): TLS streams hand their record keys to
	 * the kernel; without it a pump thread per stream does the records.
	 * QMIG_KTLS=off forces the pump. */
	bool ktls;
	bool ktls_forced_off;	/* QMIG_KTLS=off */
	char ktls_why[128];
} tp_features;

/* Probe once (cached, thread-safe), log once at info level. */
const tp_features *tp_features_get(void);

#endif /* QMIG_TRANSPORT_H */
