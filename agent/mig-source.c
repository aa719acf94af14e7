/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The source side of a migration, on its worker thread:
 *
 *   setup      peer agent: login, migration.prepare (it launches Qd);
 *              transport connected; tracker chosen
 *   precopy    rounds: find changed pages, send them (hot ones held
 *              back), flush, predict the downtime, let the gate decide
 *   stop-copy  Qs stopped; final pass; device state through the agents
 *   verify     chunk hashes of the real RAM compared, differing pages
 *              resent and checked again (mig-verify.c; with verify
 *              "tracked" most of it is done after each pre-copy round)
 *   switchover COMMIT; the destination runs; Qs quits
 *
 * Any failure before COMMIT rolls back: the transport is aborted (the
 * destination kills Qd) and Qs is resumed if we paused it. After COMMIT
 * with no answer the source stays paused: in doubt.
 */
#define LOG_PREFIX "source"
#include "agent/mig-int.h"
#include "agent/mig-verify.h"
#include "agent/records.h"
#include "agent/recover.h"
#include "agent/throttle.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define PEER_TIMEOUT_MS 15000
#define COMMIT_TIMEOUT_MS 15000
#define DEVSTATE_TIMEOUT_MS 30000
#define HOT_WINDOW 4
#define HOT_MIN_ROUNDS 3
/* A round that found little takes microseconds: do not spin the CPU
 * hashing RAM back to back, give the guest time to dirty something. */
#define MIN_ROUND_MS 20

typedef struct source_state {
	migration *m;
	agent_vm *vm;
	rpc_client *peer;
	tp_sender *tx;
	dl_hasher h;
	uint8_t raw_id[16];
	dl_tracker *tr;
	qm_throttle *thr;        /* cgroup throttle, or */
	qm_duty *duty;           /* SIGSTOP duty cycling where no cgroup */
	unsigned throttle_pct;
	double bw_peak;          /* best bytes/s of a round that filled the link */
	int64_t send_ns;         /* last round: queue + flush time */
	int64_t round_t0;        /* last round: when its scan started */
	mig_verifier ver;
	bool verify_done, verify_passed;
	int ds_listen, ds_fd;    /* device-state socket and QEMU's link */
	bool ds_started;         /* QEMU was told to migrate it */
	char ds_path[300];
	bool paused;
	uint64_t round;
	int64_t t_stop_ns;
	qm_downtime actual;
} source_state;

static double ms_since(int64_t t0)
{
	return (qm_now_ns() - t0) / 1e6;
}

static void set_status(source_state *s, void (*fn)(mig_status *, void *),
		       void *arg)
{
	pthread_mutex_lock(&s->m->lock);
	fn(&s->m->st, arg);
	pthread_mutex_unlock(&s->m->lock);
}

/* ---- setup ---- */

static void on_sent(void *opaque, const tp_sent *v, size_t n)
{
	source_state *s = opaque;

	for (size_t i = 0; i < n; i++) {
		dl_tracker_mark_sent(s->tr, v[i].page, v[i].hash);
		mv_sent(&s->ver, v[i].page);
	}
}

static bool freeze(void *opaque, bool stop, qm_error *err)
{
	source_state *s = opaque;

	/* Stopped for the stop-and-copy: it stays stopped (and QEMU may be
	 * saving its device state then, deaf to QMP until we read it). */
	if (s->paused)
		return true;
	return stop ? qmp_stop(s->vm->q, err) : qmp_cont(s->vm->q, err);
}

static json_object *prepare_params(source_state *s, qm_error *err)
{
	json_object *p = json_object_new_object(), *launch;

	launch = ld_desc_to_json(&s->vm->desc, err);
	if (!launch) {
		json_object_put(p);
		return NULL;
	}
	json_object_object_add(p, "id", json_object_new_string(s->m->id));
	json_object_object_add(p, "vm", json_object_new_string(s->vm->name));
	json_object_object_add(p, "launch", launch);
	json_object_object_add(p, "tls", json_object_new_boolean(s->m->p.tls));
	json_object_object_add(p, "verify", json_object_new_string(
			s->m->p.verify == MIG_VERIFY_TRACKED ? "tracked"
							     : "full"));
	if (s->m->p.dest_qmp[0])
		json_object_object_add(p, "dest_qmp",
				       json_object_new_string(s->m->p.dest_qmp));
	return p;
}

static bool prepare_peer(source_state *s, uint16_t *port, qm_error *err)
{
	json_object *p, *r, *v;

	s->peer = peer_connect(&s->m->a->key, s->m->p.dest, PEER_TIMEOUT_MS,
			       err);
	if (!s->peer || !(p = prepare_params(s, err)))
		return false;
	r = mig_prepare_call(s->peer, p, PEER_TIMEOUT_MS, &s->m->cancel, err);
	if (!r) {
		qm_error_prepend(err, "destination agent %s", s->m->p.dest);
		return false;
	}
	if (!json_object_object_get_ex(r, "port", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int(v) < 1 || json_object_get_int(v) > 65535) {
		json_object_put(r);
		return qm_error_set(err, QM_ERR_PROTO, "destination agent: "
				    "migration.prepare gave no valid port");
	}
	*port = (uint16_t)json_object_get_int(v);
	json_object_put(r);
	return true;
}

static bool setup(source_state *s, qm_error *err)
{
	uint8_t seed[DL_SECRET_SIZE];
	char host[128];
	uint16_t port = 0, unused;
	tp_sender_config tc = {
		.streams = s->m->p.streams, .rate_bps = s->m->p.bandwidth_bps,
		.psk = s->m->a->key.psk, .psk_len = s->m->a->key.len,
		.vm_name = s->vm->name, .on_sent = on_sent, .tls = s->m->p.tls,
		.on_sent_opaque = s,
	};
	dl_tracker_opts to = { .kind = DL_TRACKER_AUTO, .qemu_pid = s->vm->pid,
			       .assume_dest_zero = true, .freeze = freeze,
			       .freeze_opaque = s };

	/* migration.start refuses a private RAM; it is never read here. */
	if (!agent_vm_need_shared(s->vm, "mode \"agent\"", err) ||
	    !peer_split_hostport(s->m->p.dest, host, sizeof(host), &unused,
				 err) ||
	    !dl_hasher_init_random(&s->h, seed, err))
		return false;
	memcpy(tc.migration_id, s->raw_id, sizeof(tc.migration_id));
	s->tr = dl_tracker_new(&s->vm->ram, &s->h, &to, err);
	if (!s->tr || !prepare_peer(s, &port, err))
		return false;
	s->tx = tp_sender_new(&s->vm->ram, &s->h, &tc, err);
	if (!s->tx || !mv_init(&s->ver, s->tx, &s->vm->ram, &s->h, s->tr,
			       s->m->p.verify == MIG_VERIFY_TRACKED, err))
		return false;
	pthread_mutex_lock(&s->m->lock);
	s->m->tx = s->tx;
	pthread_mutex_unlock(&s->m->lock);
	if (atomic_load(&s->m->cancel))
		return qm_error_set(err, QM_ERR_CANCELLED, "cancelled");
	if (!tp_sender_connect(s->tx, host, port, err))
		return false;
	pthread_mutex_lock(&s->m->lock);
	snprintf(s->m->st.tracker, sizeof(s->m->st.tracker), "%s",
		 dl_tracker_name(s->tr));
	pthread_mutex_unlock(&s->m->lock);
	return true;
}

/* ---- rounds ---- */

/* Queue the last round's dirty pages; hot pages are held back unless
 * @all (the final pass). */
static bool queue_dirty(source_state *s, bool all, qm_error *err)
{
	uint64_t cursor = 0, start, len;

	while (dl_tracker_next_run(s->tr, &cursor, &start, &len)) {
		uint64_t p = start, end = start + len;

		while (p < end) {
			uint64_t q = p;

			if (!all && s->round >= HOT_WINDOW &&
			    dl_tracker_is_hot(s->tr, p, HOT_WINDOW,
					      HOT_MIN_ROUNDS)) {
				p++;
				continue;
			}
			while (q < end && (all || s->round < HOT_WINDOW ||
					   !dl_tracker_is_hot(s->tr, q,
							HOT_WINDOW,
							HOT_MIN_ROUNDS)))
				q++;
			if (!tp_sender_queue(s->tx, p, q - p, err))
				return false;
			p = q;
		}
	}
	return true;
}

typedef struct round_view {
	const dl_round_stats *st;
	const tp_round_stats *rs;
	const tp_stats *ts;
	const qm_downtime *pred;
	const qm_gate_decision *gate;
	double bandwidth;
} round_view;

static void apply_round(mig_status *st, void *arg)
{
	const round_view *v = arg;

	st->round = (unsigned)v->rs->round + 1;
	st->pages_full = v->ts->pages_full;
	st->pages_zero = v->ts->pages_zero;
	st->pages_dup = v->ts->pages_dup;
	st->pages_have = v->ts->pages_have;
	st->pages_resent = v->ts->pages_resent;
	st->bytes_on_wire = v->ts->bytes_tx + v->ts->bytes_rx;
	st->dirty_rate_bps = v->st->dirty_bytes_per_s;
	st->bandwidth_bps = v->bandwidth;
	if (v->pred) {
		st->predicted = *v->pred;
		st->predicted_downtime_ms = v->pred->total_ms;
	}
	if (v->gate) {
		snprintf(st->gate, sizeof(st->gate), "%s: %s",
			 qm_gate_action_name(v->gate->action), v->gate->why);
		st->throttle_pct = v->gate->throttle_pct;
	}
}

/* Below this a round says little about the link's capacity. */
#define BW_SAMPLE_MIN_BYTES (1u << 20)

/*
 * The link's capacity, for the predictor: the best rate a round reached
 * while it had enough to send (bytes over the time spent queueing and
 * flushing them, not over the whole round, which includes the scan and
 * idle time), capped by the rate limit. A small round's rate is its
 * utilisation, not the link's: it must not make the prediction explode.
 */
static double bandwidth_of(source_state *s, const tp_round_stats *rs,
			   const tp_stats *ts)
{
	uint64_t limit = s->m->p.bandwidth_bps;
	double b;

	if (rs->bytes_tx >= BW_SAMPLE_MIN_BYTES && s->send_ns > 0) {
		b = rs->bytes_tx * 1e9 / s->send_ns;
		if (b > s->bw_peak)
			s->bw_peak = b;
	}
	b = s->bw_peak > ts->throughput_bps ? s->bw_peak : ts->throughput_bps;
	if (limit && (b == 0 || b > limit))
		b = (double)limit;
	return b;
}

/*
 * The pages the final pass will send if the VM stops now: those this
 * round found dirty and held back (hot), plus what the guest writes
 * between this round's scan and the stop, at the rate of new writes the
 * scans measured; never more than this round's dirty set plus the held
 * pages. Taking the whole last dirty set instead over-predicted the final
 * send 1.3-8x in the rig (docs/BENCHMARKS.md): by the stop, the round
 * has sent most of it.
 */
static uint64_t final_dirty(const source_state *s, const dl_round_stats *st,
			    uint64_t sent)
{
	uint64_t held = st->pages_dirty > sent ? st->pages_dirty - sent : 0;
	double since_scan = (qm_now_ns() - s->round_t0) / 1e9;
	double fresh = st->dirty_pages_per_s * since_scan;

	/* Round 0 has no rate yet (and sends everything). */
	if (st->interval_ns <= 0)
		return st->pages_dirty;
	return fresh + held < st->pages_dirty ? (uint64_t)(fresh + held)
					      : st->pages_dirty;
}

static void predict(source_state *s, const dl_round_stats *st,
		    const tp_round_stats *rs, double bw, qm_downtime *out)
{
	uint64_t sent = rs->pages_full + rs->pages_zero + rs->pages_dup +
			rs->pages_have;
	tp_stats ts;
	qm_predict_input in = {
		.dirty_pages = final_dirty(s, st, sent),
		.wire_bytes_per_page = sent ? (double)rs->bytes_tx / sent : 0,
		.bandwidth_bps = bw > 0 ? bw : 1e9,
		.scan_ms = st->find_ns / 1e6,
		.scan_speedup = 1,
	};

	tp_sender_get_stats(s->tx, &ts);
	in.rtt_ms = ts.srtt_ms;
	in.verify_pages = mv_predict_pages(&s->ver, st->pages_dirty,
					   ts.pages_full + ts.pages_dup +
					   ts.pages_have);
	qm_predict(&s->m->a->predictor, &in, out);
}

static void throttle(source_state *s, unsigned pct)
{
	const char *env = getenv("QMIG_THROTTLE");
	qm_error err = QM_ERROR_INIT;

	if (!s->thr && !s->duty && !(env && !strcmp(env, "duty")))
		s->thr = qm_throttle_new(s->m->id, s->vm->vcpu_tids,
					 s->vm->nvcpus, NULL, &err);
	if (!s->thr && !s->duty) {
		if (err.code)
			pr_info("migration %s: no cgroup throttle (%s); duty "
				"cycling", s->m->id, err.msg);
		qm_error_clear(&err);
		s->duty = qm_duty_new(s->vm->pid, &err);
	}
	s->throttle_pct = pct;
	if (s->duty)
		qm_duty_set(s->duty, pct);
	else if (!s->thr || !qm_throttle_set(s->thr, pct, &err))
		pr_warn("migration %s: throttling to %u%%: %s", s->m->id, pct,
			err.msg);
}

static void unthrottle(source_state *s)
{
	qm_throttle_free(s->thr);
	s->thr = NULL;
	qm_duty_free(s->duty);
	s->duty = NULL;
}

static qm_gate_action gate(source_state *s, const dl_round_stats *st,
			   const qm_downtime *pred, unsigned not_shrinking,
			   double bw, qm_gate_decision *d)
{
	const mig_params *p = &s->m->p;
	qm_gate_input in = {
		.predicted_ms = pred->total_ms,
		.max_downtime_ms = p->max_downtime_ms,
		.start_ms = s->m->st.started_ms, .now_ms = qm_now_ms(),
		.deadline_ms = p->deadline_s > 0 ? s->m->st.started_ms +
			       (int64_t)(p->deadline_s * 1000) : 0,
		.on_deadline_force = p->on_deadline_force,
		.dirty_bytes_per_s = st->dirty_bytes_per_s,
		.bandwidth_bps = bw, .round = (unsigned)s->round,
		.rounds_not_shrinking = not_shrinking,
		.throttle_pct = s->throttle_pct,
	};

	qm_gate_decide(&in, d);
	/* Without a deadline nothing else ends a pre-copy that never
	 * converges; with one, the deadline and on_deadline decide. */
	if (d->action == QM_GATE_CONTINUE && !in.deadline_ms &&
	    (int)s->round + 1 >= p->max_rounds) {
		d->action = QM_GATE_STOP_COPY;
		d->why = "round cap reached (no deadline given)";
	}
	if (in.deadline_ms) {
		pthread_mutex_lock(&s->m->lock);
		s->m->st.deadline_slack_ms = in.deadline_ms - in.now_ms -
					     pred->total_ms;
		pthread_mutex_unlock(&s->m->lock);
	}
	return d->action;
}

static bool one_round(source_state *s, dl_round_stats *st,
		      tp_round_stats *rs, qm_error *err)
{
	int64_t t;
	bool ok;

	s->round_t0 = qm_now_ns();
	if (!dl_tracker_round(s->tr, 0, st, err))
		return false;
	t = qm_now_ns();
	ok = queue_dirty(s, false, err) &&
	     tp_sender_flush(s->tx, s->round, rs, err);
	s->send_ns = qm_now_ns() - t;
	return ok;
}

static bool precopy(source_state *s, qm_error *err)
{
	uint64_t prev_dirty = UINT64_MAX;
	unsigned not_shrinking = 0;

	for (;; s->round++) {
		dl_round_stats st;
		tp_round_stats rs;
		tp_stats ts;
		qm_downtime pred;
		qm_gate_decision d;
		round_view v = { &st, &rs, &ts, &pred, &d, 0 };

		if (atomic_load(&s->m->cancel))
			return qm_error_set(err, QM_ERR_CANCELLED, "cancelled");
		if (!one_round(s, &st, &rs, err) ||
		    !mv_precopy(&s->ver, rs.pages_full + rs.pages_zero +
				rs.pages_dup + rs.pages_have, err))
			return false;
		if (st.find_ns / 1000000 < MIN_ROUND_MS && s->round)
			usleep((useconds_t)(MIN_ROUND_MS - st.find_ns / 1000000) *
			       1000);
		tp_sender_get_stats(s->tx, &ts);
		v.bandwidth = bandwidth_of(s, &rs, &ts);
		not_shrinking = st.pages_dirty * 10 > prev_dirty * 9 ?
				not_shrinking + 1 : 0;
		prev_dirty = st.pages_dirty;
		predict(s, &st, &rs, v.bandwidth, &pred);
		gate(s, &st, &pred, s->round ? not_shrinking : 0, v.bandwidth,
		     &d);
		set_status(s, apply_round, &v);
		if (s->round == 0)
			mig_fault_point("precopy-0");
		else if (s->round == 1)
			mig_fault_point("precopy-n");
		mig_round_record(s->m, &(mig_round){
			.round = (unsigned)s->round,
			.pages_sent = rs.pages_full + rs.pages_zero +
				      rs.pages_dup + rs.pages_have,
			.bytes = rs.bytes_tx + rs.bytes_rx,
			.dirty_pages = st.pages_dirty,
			.duration_ms = (st.find_ns + s->send_ns) / 1e6,
			.predicted_downtime_ms = pred.total_ms });
		if (d.action == QM_GATE_ABORT)
			return qm_error_set(err, QM_ERR_TIMEOUT, "deadline: %s "
					    "(predicted downtime %.0f ms, max "
					    "%.0f ms)", d.why, pred.total_ms,
					    s->m->p.max_downtime_ms);
		if (d.action == QM_GATE_STOP_COPY || d.action == QM_GATE_FORCE)
			return true;
		if (d.action == QM_GATE_THROTTLE)
			throttle(s, d.throttle_pct);
		mig_step(s->m, QM_EV_ROUND_DONE, false);
	}
}

/* ---- stop-copy: final pass and device state ---- */

static bool final_pass(source_state *s, qm_error *err)
{
	dl_round_stats st;
	tp_round_stats rs;
	tp_stats ts;
	int64_t t;
	round_view v = { &st, &rs, &ts, NULL, NULL, 0 };

	t = qm_now_ns();
	if (!dl_tracker_round(s->tr, 0, &st, err))
		return false;
	s->actual.part_ms[QM_PART_FINAL_SCAN] = ms_since(t);
	t = qm_now_ns();
	s->round++;
	if (!queue_dirty(s, true, err) ||
	    !tp_sender_flush(s->tx, s->round, &rs, err))
		return false;
	s->send_ns = qm_now_ns() - t;
	s->actual.part_ms[QM_PART_FINAL_SEND] = ms_since(t);
	tp_sender_get_stats(s->tx, &ts);
	v.bandwidth = bandwidth_of(s, &rs, &ts);
	set_status(s, apply_round, &v);
	return true;
}

static int listen_devstate(source_state *s, char *path, size_t len,
			   qm_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!qm_format(path, len, "%s/run/ds-%.12s.sock",
		       s->m->a->cfg.state_dir, s->m->id) ||
	    strlen(path) >= sizeof(sa.sun_path)) {
		qm_error_set(err, QM_ERR_TOO_BIG, "state dir too long for a "
			     "unix socket path");
		return -1;
	}
	if (!qm_state_open(s->m->a->run_dir, err))
		return -1;
	unlink(path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 1) < 0) {
		qm_error_errno(err, errno, "device-state socket %s", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int accept_timeout(int lfd, int ms, qm_error *err)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int fd;

	if (poll(&p, 1, ms) <= 0) {
		qm_error_set(err, QM_ERR_TIMEOUT, "source QEMU did not connect "
			     "to the device-state socket");
		return -1;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		qm_error_errno(err, errno, "accepting QEMU's device state");
	return fd;
}

/* Relay what Qs writes to the DEVSTATE frames, until EOF. */
static bool relay_devstate(source_state *s, int fd, qm_error *err)
{
	uint8_t *buf = malloc(TP_MAX_DEVSTATE_CHUNK);
	uint64_t off = 0;
	bool ok = buf != NULL, done = false;

	if (!ok)
		return qm_error_set(err, QM_ERR_NOMEM, "device-state buffer");
	while (ok && !done) {
		ssize_t n = read(fd, buf, TP_MAX_DEVSTATE_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ok = qm_error_errno(err, errno, "reading device state");
			break;
		}
		done = n == 0;
		ok = tp_sender_send_devstate(s->tx, off, buf, (size_t)n, done,
					     err);
		off += (uint64_t)n;
	}
	free(buf);
	return ok;
}

/*
 * The device state goes through QEMU's own migration (x-ignore-shared:
 * RAM stays out of it) into a socket of ours, relayed as DEVSTATE frames.
 * QEMU starts saving as soon as it is told to, so it is told before the
 * final pass: its save fills the socket buffer while the final pass runs
 * (design card, step 5). The relay waits for the final pass's flush, so
 * the destination QEMU loads the device state over complete RAM (virtio
 * reads its rings from guest memory while loading).
 */
static bool devstate_begin(source_state *s, qm_error *err)
{
	qm_native_opts o = { .ignore_shared = true };
	char uri[310];
	int64_t t = qm_now_ns();
	bool ok;

	s->ds_listen = listen_devstate(s, s->ds_path, sizeof(s->ds_path), err);
	if (s->ds_listen < 0)
		return false;
	snprintf(uri, sizeof(uri), "unix:%s", s->ds_path);
	s->ds_started = true;
	ok = qm_native_outgoing(s->vm->q, &o, uri, err) &&
	     (s->ds_fd = accept_timeout(s->ds_listen, DEVSTATE_TIMEOUT_MS,
					err)) >= 0;
	s->actual.part_ms[QM_PART_DEVICE_STATE] = ms_since(t);
	return ok;
}

static bool devstate_finish(source_state *s, qm_error *err)
{
	qmp_migrate_info mi;
	int64_t t = qm_now_ns();
	bool ok;

	ok = relay_devstate(s, s->ds_fd, err) &&
	     qm_native_wait(s->vm->q, QM_MIG_DONE_MASK, 2, DEVSTATE_TIMEOUT_MS,
			    &mi, err);
	if (ok && mi.status != QMP_MIG_STATUS_COMPLETED)
		ok = qm_error_set(err, QM_ERR_QMP, "source QEMU's device-state "
				  "migration ended '%s'", mi.status_str);
	s->actual.part_ms[QM_PART_DEVICE_STATE] += ms_since(t);
	return ok;
}

/* QEMU's device-state migration ended one way or another (cancelled if
 * it still ran), so that a cont sticks. */
static void devstate_cancel(source_state *s)
{
	qm_error err = QM_ERROR_INIT;
	qmp_migrate_info mi;

	if (!qmp_migrate_cancel(s->vm->q, &err) ||
	    !qm_native_wait(s->vm->q, QM_MIG_DONE_MASK, 2, DEVSTATE_TIMEOUT_MS,
			    &mi, &err))
		pr_warn("migration %s: ending QEMU's device-state migration: %s",
			s->m->id, err.msg);
	s->ds_started = false;
}

static void devstate_close(source_state *s)
{
	if (s->ds_fd >= 0)
		close(s->ds_fd);
	if (s->ds_listen >= 0) {
		close(s->ds_listen);
		unlink(s->ds_path);
	}
	s->ds_fd = s->ds_listen = -1;
}

/* ---- verification (mig-verify.c) ---- */

static void apply_verify(mig_status *st, void *arg)
{
	const source_state *s = arg;

	st->verify_checked = s->ver.checked;
	st->verify_mismatches = s->ver.mismatches;
	st->verify_resent = s->ver.mismatches;
	st->verify_precopy_checked = s->ver.pre_checked;
	st->verify_precopy_mismatches = s->ver.pre_mismatches;
	st->verify_done = s->verify_done;
	st->verify_passed = s->verify_passed;
}

static bool verify(source_state *s, qm_error *err)
{
	int64_t t = qm_now_ns();
	bool ok = mv_final(&s->ver, &s->round, err);

	s->verify_done = true;
	s->verify_passed = ok;
	set_status(s, apply_verify, s);
	s->actual.part_ms[QM_PART_VERIFY] = ms_since(t);
	return ok;
}

/* ---- switchover and rollback ---- */

static void apply_downtime(mig_status *st, void *arg)
{
	const source_state *s = arg;

	st->actual = s->actual;
	st->downtime_ms = s->actual.total_ms;
}

static bool switchover(source_state *s, qm_error *err)
{
	int64_t t = qm_now_ns();

	if (!tp_sender_commit(s->tx, s->round, COMMIT_TIMEOUT_MS, err))
		return false;
	s->actual.part_ms[QM_PART_CONT] = ms_since(t);
	s->actual.total_ms = ms_since(s->t_stop_ns);
	set_status(s, apply_downtime, s);
	s->paused = false;
	/* Keep the last image before QEMU quits: its backend file may go
	 * with it. A failure only costs a later migration back its HAVE. */
	if (!staged_save(s->m->a, s->vm, err)) {
		pr_warn("migration %s: no staged copy: %s", s->m->id, err->msg);
		qm_error_clear(err);
	}
	if (!qmp_quit(s->vm->q, NULL))
		pr_warn("migration %s: quitting the source QEMU failed", s->m->id);
	return true;
}

static void rollback(source_state *s)
{
	qm_error err = QM_ERROR_INIT;

	/* First: QEMU may be blocked writing its device state to us with
	 * its big lock held, and would not answer cont until that write
	 * fails; and a cont while its migration is still failing is undone
	 * when it ends (it leaves the VM in postmigrate). */
	devstate_close(s);
	if (s->ds_started)
		devstate_cancel(s);
	if (s->tx)
		tp_sender_abort(s->tx, TP_ABORT_ENGINE, "source rolled back");
	unthrottle(s);
	if (s->paused && !qmp_cont(s->vm->q, &err))
		pr_err("migration %s: RESUMING THE SOURCE FAILED: %s", s->m->id,
		       err.msg);
}

static bool run(source_state *s, qm_error *err)
{
	if (!setup(s, err))
		return false;
	mig_step(s->m, QM_EV_START_OK, false);
	migrec_save(s->m, QM_PHASE_PRECOPY, NULL, 0);
	mig_fault_point("setup");
	if (!precopy(s, err))
		return false;
	unthrottle(s);
	/* Write-ahead, before the downtime starts: a restart that reads
	 * stop-copy resumes the VM. */
	migrec_save(s->m, QM_PHASE_STOP_COPY, NULL, 0);
	s->t_stop_ns = qm_now_ns();
	if (!qmp_stop(s->vm->q, err))
		return false;
	s->paused = true;
	mig_step(s->m, QM_EV_GATE_STOP, true);
	mig_fault_point("stop-copy");
	if (!devstate_begin(s, err) || !final_pass(s, err))
		return false;
	mig_fault_point("devstate");
	if (!devstate_finish(s, err))
		return false;
	mig_step(s->m, QM_EV_FINAL_SENT, true);
	mig_fault_point("verify");
	if (!verify(s, err))
		return false;
	mig_step(s->m, QM_EV_VERIFIED, true);
	/* Write-ahead of COMMIT, so a restart never resumes the source
	 * without asking the destination; in the downtime, so no fsync. */
	migrec_save(s->m, QM_PHASE_SWITCHOVER, NULL, MIGREC_NOSYNC);
	mig_fault_point("switchover");
	return switchover(s, err);
}

void *mig_source_thread(void *arg)
{
	migration *m = arg;
	source_state s = { .m = m, .vm = m->vm, .ds_listen = -1, .ds_fd = -1 };
	qm_error err = QM_ERROR_INIT;

	memcpy(s.raw_id, m->raw_id, sizeof(s.raw_id));
	migrec_worker_start(m);
	if (!run(&s, &err)) {
		/* Once COMMIT may be out, only the destination knows whether
		 * the VM runs there: every failure, the peer's ABORT included
		 * (a "cancel" from the transport's point of view; the caller's
		 * own cancel is refused this late), is settled by asking it
		 * (resolve.c), never by resuming blindly. */
		bool in_doubt = m->st.phase == QM_PHASE_SWITCHOVER;

		pr_err("migration %s: %s", m->id, err.msg);
		mig_fail_msg(m, &err);
		if (in_doubt) {
			mig_step(m, QM_EV_PEER_LOST, true);
		} else {
			rollback(&s);
			mig_step(m, err.code == QM_ERR_CANCELLED ? QM_EV_CANCEL
								 : QM_EV_FAIL,
				 s.paused);
		}
	} else {
		mig_step(m, QM_EV_COMMITTED, true);
	}
	unthrottle(&s);
	pthread_mutex_lock(&m->lock);
	m->tx = NULL;
	pthread_mutex_unlock(&m->lock);
	devstate_close(&s);
	tp_sender_free(s.tx);
	mv_free(&s.ver);
	dl_tracker_free(s.tr);
	rpc_client_free(s.peer);
	agent_mailbox_post(m->a->mb, mig_source_finished, m);
	return NULL;
}
