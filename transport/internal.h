/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * transport internal: the session shared by sender and receiver, its
 * streams, and the helpers the files of this library share.
 *
 * Threads and ownership:
 *
 *   engine thread                 stream thread i (one io_uring each)
 *   -------------                 -----------------------------------
 *   tp_sender_queue() --work[]--> builds PAGES in tx[b] (hash in guest
 *     (sess->lock, bounded)         RAM, classify; the head in tx[b], FULL
 *                                   pages sent from guest RAM), sends it,
 *                                   frees tx[b] on the send CQE (or on
 *                                   F_NOTIF with SEND_ZC)
 *   send_* / commit  --ctrl----->  sends control frames ahead of data
 *     (stream 0 only)
 *   recv_ctrl()      <--inbox---  stream 0 decodes control frames for the
 *                                   engine (bounded: stops reading when full)
 *
 * A tx buffer belongs to its stream thread from "free" through "built",
 * "sending" and (SEND_ZC) "waiting for the notification"; only then may it
 * be rebuilt. The engine never touches one. A tp_msg is owned by whoever
 * holds the list it is on; the stream thread frees it after sending. The
 * receiver's rx buffer and its entry table belong to the stream thread;
 * guest pages are written only by the thread of the stream the page is
 * routed to (tp_stream_of()), plus the barrier thread while every stream
 * is quiescent at a ROUND_END.
 */
#ifndef QMIG_TRANSPORT_INTERNAL_H
#define QMIG_TRANSPORT_INTERNAL_H

#include <linux/tls.h>
#include <liburing.h>
#include <pthread.h>
#include <sys/uio.h>

#include "transport/frame.h"

/* ---- sizes ---- */

#define TP_TXBUFS		4
#ifndef TP_TX_FRAME_PAGES
#define TP_TX_FRAME_PAGES	TP_MAX_FRAME_PAGES	/* pages per frame sent */
#endif
/* Payload starts page-aligned after room for header + largest head. */
#define TP_TX_PAYLOAD_OFF	(33 * DL_PAGE_SIZE)
#define TP_TXBUF_SIZE		(TP_TX_PAYLOAD_OFF + \
				 TP_MAX_FRAME_PAGES * DL_PAGE_SIZE)
#define TP_RXBUF_SIZE		(TP_FRAME_HDR_SIZE + TP_CTRL_MAX_LEN)
#define TP_DEFER_MAX		4096	/* deferred refs per receiver stream */
#define TP_CTRLQ_MAX		64	/* queued control frames per stream */
#define TP_RESEND_PASSES	8	/* flush passes before giving up */
#define TP_DEFAULT_TIMEOUT_MS	10000
#define TP_DEFAULT_PING_MS	200

_Static_assert(TP_TX_PAYLOAD_OFF >= TP_FRAME_HDR_SIZE + TP_PAGES_HEAD_MAX,
	       "PAGES head must fit before the payload");
_Static_assert(TP_RXBUF_SIZE >= TP_FRAME_HDR_SIZE + TP_PAGES_HEAD_MAX,
	       "a PAGES head must fit in the receive buffer");

static inline int tp_stream_of(uint64_t page, int nstreams)
{
	return (int)((page / TP_SHARD_PAGES) % (uint64_t)nstreams);
}

/* ---- queues ---- */

/* An encoded frame to send, or a received control body for the engine. */
typedef struct tp_msg {
	struct tp_msg *next;
	size_t len;
	tp_ctrl ctrl;		/* inbox: decoded view into data */
	uint8_t data[];
} tp_msg;

typedef struct tp_msgq {
	tp_msg *head, **tail;
	unsigned count;
} tp_msgq;

void tp_msgq_init(tp_msgq *q);
void tp_msgq_push(tp_msgq *q, tp_msg *m);
tp_msg *tp_msgq_pop(tp_msgq *q);
void tp_msgq_free(tp_msgq *q);
tp_msg *tp_msg_new(size_t len);

enum {
	TP_WORK_FORCE_FULL = 1 << 0,	/* resend: no DUP/HAVE */
	TP_WORK_MARK = 1 << 1,		/* ROUND_END marker */
};

typedef struct tp_work {
	uint64_t first, n;
	uint64_t round;
	uint32_t flags, epoch;
} tp_work;

/* ---- counters: written by one thread, read by any (relaxed atomics) ---- */

typedef struct tp_counters {
	uint64_t bytes_tx, bytes_rx;
	uint64_t pages[TP_PAGE__COUNT];
	uint64_t resent, deferred, saved;
	uint64_t full_changed;	/* receiver: FULL bytes not matching */
	uint64_t frames_tx, frames_rx;
	uint64_t tx_by_type[TP_FRAME__COUNT];
	uint64_t rx_by_type[TP_FRAME__COUNT];
} tp_counters;

#define TP_ADD(field, v) __atomic_fetch_add(&(field), (v), __ATOMIC_RELAXED)
#define TP_LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* ---- dedup indexes (dedup.c) ---- */

typedef struct tp_dedup tp_dedup;
#define TP_DEDUP_HAVE	UINT64_MAX	/* value: the receiver holds it */
#define TP_DEDUP_FULL	(UINT64_MAX - 1) /* claim: no room, not indexed */

/* Sender index with at least @npages slots (a power of two). */
tp_dedup *tp_dedup_new(uint64_t npages);
void tp_dedup_free(tp_dedup *d);
/* Insert-if-absent: 0 if this call inserted @value, TP_DEDUP_FULL if the
 * window had no room, else the value already there. */
uint64_t tp_dedup_claim(tp_dedup *d, dl_hash h, uint64_t value);
/* Insert, or (if @overwrite) update; never replaces a HAVE value. */
void tp_dedup_put(tp_dedup *d, dl_hash h, uint64_t value, bool overwrite);
/* Start loading @h's first slot into the cache. */
void tp_dedup_prefetch(const tp_dedup *d, dl_hash h);
/* Value for @h, 0 if absent. */
uint64_t tp_dedup_get(const tp_dedup *d, dl_hash h);
uint64_t tp_dedup_bytes(const tp_dedup *d);

/* Receiver: the staged image's non-zero pages sorted by hash. */
typedef struct tp_image_entry {
	dl_hash h;
	uint64_t page;
} tp_image_entry;

typedef struct tp_image_index {
	tp_image_entry *v;
	uint64_t n;
} tp_image_index;

bool tp_image_index_build(tp_image_index *ix, const dl_ram *img,
			  const dl_hasher *h, qm_error *err);
/* Image page + 1 holding content @h, 0 if none. */
uint64_t tp_image_index_find(const tp_image_index *ix, dl_hash h);
void tp_image_index_free(tp_image_index *ix);

/* ---- token bucket ---- */

typedef struct tp_bucket {
	pthread_mutex_t lock;
	uint64_t rate;		/* bytes/s, 0 = unlimited */
	double tokens, burst;
	int64_t last_ns;
} tp_bucket;

void tp_bucket_init(tp_bucket *b, uint64_t rate);
void tp_bucket_set_rate(tp_bucket *b, uint64_t rate);
/* Take @bytes if available: 0. Else the ns to wait before trying again. */
int64_t tp_bucket_take(tp_bucket *b, uint64_t bytes, int64_t now_ns);

/* ---- streams ---- */

typedef struct tp_stream tp_stream;
typedef struct tp_session tp_session;
typedef struct tp_tls tp_tls;

typedef struct tp_stream_ops {
	/* Sender: build data frames while buffers and work allow. */
	void (*pump)(tp_stream *st);
	/* A header was checked: choose how to read the body (default:
	 * whole body into rxbuf, then on_frame). true = handled here. */
	bool (*on_header)(tp_stream *st, qm_error *err);
	/* A role-specific read (rx_state >= TP_RX_ROLE) completed. */
	bool (*on_read)(tp_stream *st, qm_error *err);
	/* A whole frame other than a role-handled one arrived. */
	bool (*on_frame)(tp_stream *st, const tp_frame *f, qm_error *err);
	/* Earliest time the stream wants to wake up without I/O (0 = none). */
	int64_t (*next_timer_ns)(tp_stream *st);
} tp_stream_ops;

/* Every body is at least 8 bytes (frame table), so a stream reads the
 * header and the body's first 8 bytes in one go: for PAGES those are the
 * counts, which saves a read per frame. */
#define TP_RX_FIRST	(TP_FRAME_HDR_SIZE + 8)

enum tp_rx_state {
	TP_RX_HDR, TP_RX_BODY,
	TP_RX_ROLE,		/* first state owned by the role's on_read */
};

typedef enum tp_txbuf_state {
	TP_TXB_FREE, TP_TXB_READY, TP_TXB_SENDING, TP_TXB_NOTIF,
} tp_txbuf_state;

typedef struct tp_txbuf {
	uint8_t *base;
	const uint8_t *frame;	/* first byte of the built frame */
	size_t len;
	/* What is sent: the frame's head in this buffer, then its FULL
	 * pages, read where they lie: runs of guest RAM, or copies in this
	 * buffer's payload slots (resends). msg is the send's view of iov,
	 * advanced past what short sends took. */
	struct iovec iov[1 + TP_MAX_FRAME_PAGES];
	unsigned niov;
	struct msghdr msg;
	tp_txbuf_state state;
	unsigned notifs;	/* SEND_ZC notifications outstanding */
	unsigned pages;		/* page entries in it (ROUND_END counts) */
} tp_txbuf;

/* A DUP/HAVE reference that did not check out yet (receiver). */
typedef struct tp_defer {
	uint64_t page, hint;
	dl_hash hash;
	uint8_t kind;
} tp_defer;

struct tp_stream {
	tp_session *sess;
	const tp_stream_ops *ops;
	int idx, fd, efd;	/* fd: the TCP socket, or with TLS the byte
				 * stream tls serves (tls.c) */
	tp_tls *tls;		/* NULL without TLS; freed after fd closes */
	struct io_uring ring;
	bool ring_ok, started, zc;
	pthread_t thread;

	/* engine -> stream, under sess->lock */
	tp_msgq ctrl;
	tp_work *work;
	unsigned work_cap, work_head, work_count;

	/* send side, stream thread only */
	uint8_t *txmem;		/* TP_TXBUFS x TP_TXBUF_SIZE */
	tp_txbuf tx[TP_TXBUFS];
	int fifo[TP_TXBUFS];
	unsigned fifo_head, fifo_count;
	bool send_busy;
	int send_buf;		/* >= 0: tx index; -1: send_msg */
	tp_msg *send_msg;
	const uint8_t *send_ptr;
	size_t send_len, send_off;
	unsigned zc_pending;
	int64_t rate_wait_until;
	qm_error tx_err;	/* the link refused a send (peer gone) */
	int64_t tx_dead_ns;	/* when; 0 = sends work */

	/* receive side, stream thread only */
	int rx_state;
	bool read_busy, rx_stalled, eof, wake_posted;
	uint64_t wake_val;
	uint8_t *rxbuf;		/* TP_RXBUF_SIZE, registered as buffer 0 */
	size_t rx_want, rx_off;
	tp_frame rx_frame;
	struct msghdr rx_msg;
	struct iovec rx_iov[TP_MAX_FRAME_PAGES];
	int64_t last_rx_ns, last_progress_ns;

	/* sender build state */
	tp_work cur;
	bool has_cur;
	uint64_t mark_frames, mark_pages;
	uint64_t entries[TP_MAX_FRAME_ENTRIES];
	uint8_t refs[TP_MAX_FRAME_ENTRIES * TP_PAGE_REF_LEN];
	tp_sent sent[TP_MAX_FRAME_ENTRIES];
	/* Pages in the frame being built (tx.c seen_add()): while they come
	 * in ascending order, the next page that can join; after that, a
	 * set whose slot is used iff seen_gen matches. */
	uint64_t seen_next;
	bool seen_set;
	struct { uint64_t page; uint32_t gen; } seen[2 * TP_MAX_FRAME_ENTRIES];
	uint32_t seen_gen;
	int64_t next_ping_ns;
	uint64_t ping_seq;

	/* receiver state */
	tp_defer *defer;
	unsigned ndefer;
	uint64_t rx_frames, rx_pages;	/* since the last ROUND_END */
	bool at_barrier;		/* under sess->lock */

	tp_counters cnt;
};

/* ---- the session ---- */

typedef enum tp_end {
	TP_END_OPEN = 0,
	TP_END_COMMITTED,	/* COMMIT acknowledged */
	TP_END_ABORTED,		/* ABORT sent or received */
} tp_end;

struct tp_session {
	bool is_sender;
	int nstreams;
	tp_stream *st[TP_MAX_STREAMS];
	int timeout_ms;
	tp_limits lim;
	dl_hasher h;
	const dl_ram *ram;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	qm_error err;		/* first failure */
	int failed;		/* err is set; read with tp_failed() */
	tp_end end;
	bool abort_pending;	/* stream 0 still has to send our ABORT */
	uint32_t abort_code;
	char abort_msg[TP_MAX_ABORT_MSG + 1];

	tp_msgq inbox;		/* control frames for the engine */
	unsigned inbox_max;
	bool commit_seen;	/* receiver: COMMIT arrived */

	/* sender: flush epochs and resends */
	uint32_t epoch_sent, epoch_acked;
	uint64_t *resend_bm, resend_count;
	bool commit_acked;
	uint64_t have_total;
	bool have_done;

	/* receiver: the ROUND_END barrier */
	uint32_t barrier_epoch;
	int barrier_count;
	uint64_t *unres_bm, unres_count;
	/* Pages written since SETUP (populated or sparse, the rest read as
	 * zero): a ZERO entry for an unwritten page costs nothing. */
	uint64_t *written_bm;

	tp_counters setup;	/* set-up frames (handshake, SETUP, HAVE) */
	tp_dedup *dedup;	/* sender: content sent or held */
	const dl_ram *image;	/* receiver: staged image, or NULL */
	bool sparse_ram;	/* receiver: RAM not populated at SETUP */
	tp_image_index image_ix;
	tp_bucket bucket;
	int ping_ms;
	tp_on_sent_fn on_sent;
	void *on_sent_opaque;

	/* estimates, under lock */
	double srtt_ms, min_rtt_ms, tput_bps;
	int64_t tput_t0;
	uint64_t tput_b0;
	uint64_t rounds;
};

static inline bool tp_failed(tp_session *s)
{
	return __atomic_load_n(&s->failed, __ATOMIC_ACQUIRE);
}

/* session.c */
bool tp_session_init(tp_session *s, bool is_sender, int timeout_ms);
void tp_session_destroy(tp_session *s);
/* Record the first failure, wake every stream and waiter. */
void tp_session_fail(tp_session *s, const qm_error *e);
void tp_session_failf(tp_session *s, qm_errcode code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Under s->lock: copy the failure into err; true if failed. */
bool tp_session_failed_locked(tp_session *s, qm_error *err);
void tp_session_wake_all(tp_session *s);
/* Queue our ABORT for stream 0 and end the session (failing it with
 * CANCELLED, or with @why). */
void tp_session_abort(tp_session *s, uint32_t code, const char *msg);
void tp_session_abort_err(tp_session *s, uint32_t code, const char *msg,
			  const qm_error *why);
/* Fail with an error found here, sending ABORT when that makes sense. */
void tp_session_fail_local(tp_session *s, const qm_error *e);
/* Queue @m on stream @i's control queue (bounded; waits). Takes @m. */
bool tp_session_send(tp_session *s, int i, tp_msg *m, qm_error *err);
int tp_session_recv_ctrl(tp_session *s, tp_ctrl *c, int timeout_ms,
			 qm_error *err);
/* Stream thread: hand a control frame body to the engine. */
void tp_session_deliver(tp_session *s, const tp_frame *f, const uint8_t *body);
void tp_session_stats(tp_session *s, tp_stats *st);
/* Wait on s->cond (held) until @pred or failure or @deadline_ns. */
int tp_session_wait(tp_session *s, bool (*pred)(tp_session *), int64_t dl_ns);
bool tp_session_start(tp_session *s, qm_error *err);
void tp_session_stop(tp_session *s);
bool tp_peer_abort_error(const tp_frame *f, const char *who, qm_error *err);
/* The same for a session stream: also marks the session ended by ABORT. */
bool tp_session_peer_abort(tp_session *s, const tp_frame *f, const char *who,
			   qm_error *err);

/* stream.c */
tp_stream *tp_stream_new(tp_session *s, int idx, int fd,
			 const tp_stream_ops *ops, bool zc, qm_error *err);
void tp_stream_free(tp_stream *st);
void *tp_stream_main(void *arg);
void tp_stream_wake(tp_stream *st);
/* Read exactly @len bytes into rxbuf + @off (fixed buffer) / into iov. */
void tp_stream_next_frame(tp_stream *st);
void tp_stream_read(tp_stream *st, int state, size_t off, size_t len);
void tp_stream_readv(tp_stream *st, int state, unsigned niov);
/* Queue tx buffer @b (built) for sending in order. */
void tp_stream_queue_buf(tp_stream *st, int b);
int tp_stream_free_buf(tp_stream *st);
/* Queue a control frame from the stream thread itself (no waiting). */
void tp_stream_send_msg(tp_stream *st, tp_msg *m);
void tp_stream_account_rx(tp_stream *st, unsigned type, uint64_t bytes);

/* sock.c: set-up phase I/O (poll with deadlines, before the rings). */
/* Wait for @events on @fd until the deadline; 1 ready, 0 timeout, -errno. */
int tp_sock_wait(int fd, short events, int64_t deadline_ns);
int tp_sock_listen(const char *host, uint16_t port, uint16_t *bound,
		   qm_error *err);
int tp_sock_connect(const char *host, uint16_t port, int64_t deadline_ns,
		    qm_error *err);
int tp_sock_accept(int lfd, int64_t deadline_ns, qm_error *err);
/* Write one whole frame (counted in @c if non-NULL). */
bool tp_sock_write(int fd, const void *buf, size_t len, int64_t deadline_ns,
		   tp_counters *c, qm_error *err);
/* Read one frame into @buf (cap >= TP_RXBUF_SIZE) and decode it. */
bool tp_sock_read_frame(int fd, uint8_t *buf, size_t cap,
			const tp_limits *lim, int64_t deadline_ns,
			tp_counters *c, tp_frame *f, qm_error *err);
/* Best-effort ABORT on a socket that has no stream thread yet. */
void tp_sock_send_abort(int fd, uint32_t code, const char *msg);

/* auth.c */
bool tp_random(void *buf, size_t len, qm_error *err);
/* HMAC-SHA256(psk, label || hello body || receiver nonce). */
bool tp_auth_mac(const uint8_t *psk, size_t psk_len, bool from_receiver,
		 const uint8_t *hello_body, const uint8_t *nonce_d,
		 uint8_t mac[TP_MAC_SIZE], qm_error *err);
bool tp_auth_equal(const uint8_t *a, const uint8_t *b);
/* HMAC-SHA256(psk, @label): a key for another use of the same secret. */
bool tp_auth_derive(const uint8_t *psk, size_t psk_len, const char *label,
		    uint8_t out[TP_MAC_SIZE], qm_error *err);

/*
 * tls.c, tls-pump.c, ktls.c: optional TLS 1.3 under each stream
 * (PROTOCOL.md section 8). After the TLS handshake the rest of the
 * transport (set-up frames, then the stream's ring) reads and writes a
 * plain byte stream, the "app fd": the TCP socket itself when the kernel
 * took the record keys (kTLS), else one end of a socketpair whose other
 * end a pump thread moves through SSL_read/SSL_write.
 */
typedef struct tp_tls_ctx tp_tls_ctx;
/* The kernel's TLS 1.3 AES-128-GCM parameters (linux/tls.h). */
typedef struct tls12_crypto_info_aes_gcm_128 tp_ktls_info;

/* One per sender (client) or receiver (server): TLS 1.3 only,
 * TLS_AES_128_GCM_SHA256, external PSK derived from the pre-shared key,
 * (EC)DHE required, no certificates, no tickets. */
tp_tls_ctx *tp_tls_ctx_new(bool server, const uint8_t *psk, size_t psk_len,
			   qm_error *err);
void tp_tls_ctx_free(tp_tls_ctx *c);
/* Tests only: keep each connection's derived kTLS parameters
 * (tp_tls_keys) instead of wiping them after the kTLS decision. */
void tp_tls_ctx_keep_keys(tp_tls_ctx *c);
/*
 * tp_tls_open: TLS handshake on the connected TCP socket @fd by
 * @deadline_ns (the same deadline as the qmig handshake after it). On
 * success *@app_fd is the byte stream to use; @name names the pump thread
 * ("tp-tx0-tls"). A peer that speaks plaintext qmig is refused with a
 * message saying so (the receiver also tells it with a plaintext ABORT).
 * On failure the caller still owns and closes @fd.
 */
tp_tls *tp_tls_open(tp_tls_ctx *c, int fd, const char *name,
		    int64_t deadline_ns, int *app_fd, qm_error *err);
bool tp_tls_is_ktls(const tp_tls *t);
/* Report later pump failures (a TLS record that fails authentication)
 * to @s as stream @stream's; NULL detaches (before the streams go). */
void tp_tls_attach(tp_tls *t, tp_session *s, int stream);
/* If the pump failed, replace *@err (a read that saw EOF) with why. */
void tp_tls_explain(tp_tls *t, qm_error *err);
/* After the app fd is closed: let the pump flush (at most a second),
 * stop it, free everything. NULL is fine. */
void tp_tls_close(tp_tls *t);
/* Tests: the kTLS parameters derived for this connection (needs
 * tp_tls_ctx_keep_keys). */
bool tp_tls_keys(const tp_tls *t, tp_ktls_info *tx, tp_ktls_info *rx);
/* ktls.c: the AES-128-GCM key and IV of a TLS 1.3 traffic secret
 * (RFC 8446 7.3), as the kernel wants them, record sequence 0. */
bool tp_ktls_derive(const uint8_t *secret, size_t len, tp_ktls_info *out,
		    qm_error *err);

/* handshake.c */
typedef struct tp_hs {
	tp_counters *cnt;		/* where set-up bytes are counted */
	const uint8_t *psk;
	size_t psk_len;
	int64_t deadline_ns;
	uint8_t *buf;			/* TP_RXBUF_SIZE scratch */
	uint8_t hello[TP_HELLO_LEN];	/* receiver: the HELLO body seen */
	uint16_t stream, nstreams, version;
	uint8_t migration_id[TP_MIGRATION_ID_SIZE];
} tp_hs;

bool tp_hs_client(int fd, tp_hs *hs, qm_error *err);
/* Receiver: @expect_id NULL for stream 0, else the session's id. */
bool tp_hs_server(int fd, tp_hs *hs, const uint8_t *expect_id,
		  qm_error *err);
/* Check a HELLO's versions and id; the shared rule for both sides. */
bool tp_hello_check(const tp_frame *f, const uint8_t *expect_id,
		    uint16_t *version, qm_error *err);

/* sender.c */
struct tp_sender {
	tp_session s;
	tp_tls_ctx *tls;		/* NULL: plaintext */
	uint8_t psk[TP_PSK_MAX];
	size_t psk_len;
	uint8_t migration_id[TP_MIGRATION_ID_SIZE];
	char vm_name[TP_NAME_MAX];
	int streams, queue_runs;
	tp_send_mode send_mode;
	bool connected;
	tp_stats last;			/* at the end of the previous flush */
	int64_t last_flush_ns;
};

/* Under s.lock: connected, not failed, not ended. */
bool tp_sender_usable(tp_sender *t, qm_error *err);
/* Under s.lock: push one work item on stream @i's queue, waiting while it
 * is full (bounded by the timeout). */
bool tp_sender_push_locked(tp_sender *t, int i, const tp_work *w,
			   qm_error *err);
/* Under s.lock: split pages into shard runs and queue them (TP_WORK_*
 * @flags); *@woken collects the streams already woken. */
bool tp_sender_queue_locked(tp_sender *t, uint64_t first, uint64_t n,
			    uint32_t flags, uint32_t *woken, qm_error *err);

/* tx.c, rx.c */
extern const tp_stream_ops tp_tx_ops;
extern const tp_stream_ops tp_rx_ops;
/* receiver: resolve deferred refs of every stream (barrier thread). */
void tp_rx_barrier(tp_session *s, uint32_t epoch, uint64_t round);

/* Bitmaps. Atomic: the streams of one session set and clear bits of
 * pages that share a word (a run split across streams); a plain
 * read-modify-write would lose one of two updates to the same word. */
static inline void tp_bit_set(uint64_t *bm, uint64_t i)
{
	__atomic_fetch_or(&bm[i / 64], 1ull << (i % 64), __ATOMIC_RELAXED);
}

static inline bool tp_bit_test(const uint64_t *bm, uint64_t i)
{
	return __atomic_load_n(&bm[i / 64], __ATOMIC_RELAXED) >> (i % 64) & 1;
}

static inline void tp_bit_clear(uint64_t *bm, uint64_t i)
{
	__atomic_fetch_and(&bm[i / 64], ~(1ull << (i % 64)), __ATOMIC_RELAXED);
}

#endif /* QMIG_TRANSPORT_INTERNAL_H */
