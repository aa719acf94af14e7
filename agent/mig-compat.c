/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Compat mode (migration.start with mode "qemu"): the same API drives
 * QEMU's own pre-copy between the two QEMUs, for the benchmark baseline
 * and for what the agent engine cannot move itself. There is no transport
 * session; the agents talk over the peer RPC only:
 *
 *   source worker                          destination
 *   -------------                          -----------
 *   migration.prepare {mode: "qemu"} ───▶  rewrite argv, launch Qd
 *                                          (-incoming defer -S), same
 *                                          capabilities, migrate-incoming
 *   ◀── {port} ─────────────────────────   on tcp:PEER_HOST:0
 *   Qs: capabilities, downtime-limit,
 *   max-bandwidth, pause-before-switchover,
 *   migrate tcp:HOST:PORT; poll query-migrate
 *   (deadline: cancel, or lift the limit)
 *   pre-switchover: migrate-continue
 *   completed (Qs postmigrate, Qd paused)
 *   migration.verify (chunks, then pages) ▶ hash Qd's real RAM
 *   all equal: migration.commit ────────▶  cont Qd, announce-self
 *   quit Qs                                attach the VM here
 *   any difference or failure:
 *   migration.abort, cont Qs ───────────▶  kill Qd, remove its RAM files
 *
 * The verification is why this mode exists beside QEMU's own tools: QEMU's
 * dirty log cannot be trusted everywhere (QEMU 7.2 under TCG loses guest
 * writes), so the agents read both RAMs after QEMU says it is done, and a
 * destination whose memory differs never runs.
 *
 * With verify "none" the migration.verify steps are left out and COMMIT
 * follows QEMU's completion; status says the verification was skipped
 * and why. It is the only way to move a VM whose RAM is private (the
 * agents cannot read it): migration.start refuses such a VM unless the
 * caller asked for it, so nobody moves unverified without knowing.
 */
#define LOG_PREFIX "compat"
#include "agent/mig-int.h"
#include "agent/records.h"
#include "agent/recover.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define PEER_TIMEOUT_MS 15000
#define COMMIT_TIMEOUT_MS 15000
#define QS_POLL_MS 50            /* query-migrate while QEMU copies */
#define QS_POLL_PAUSED_MS 2      /* once the VM is stopped: every ms counts */
#define CANCEL_TIMEOUT_MS 10000
/* QEMU's default max-bandwidth (128 MiB/s) would cripple a fast link. */
#define BANDWIDTH_UNCAPPED (10LL << 30)
/* QEMU's largest downtime-limit (2000 s): converges at the next pass. */
#define DOWNTIME_FORCE_MS 2000000
#define MULTIFD_CHANNELS_MAX 255
#define SEED_BYTES 32
#define VERIFY_MAX_COUNT 1024    /* chunks or pages per migration.verify */
#define VERIFY_MAX_CHUNK 4096    /* pages per chunk */
#define QD_POLL_MS 100
/* Destination: the source QEMU must connect within this, and once the
 * migration completed, the source agent must commit or abort within it
 * (counted from its last request). */
#define QD_CONNECT_TIMEOUT_MS 60000
#define QD_IDLE_TIMEOUT_MS 60000
#define QD_WAIT_MS 30000         /* a request waits this long for Qd */
#define VERIFY_SKIPPED "verify \"none\""

/* Names the destination agent uses in the VM directory (as mig-dest.c). */
static const char *const reserved[] = { "incoming.sock", "qemu.log",
					"vm.json", "vm.json.tmp", NULL };

/* ---- shared ---- */

static double ms_since(int64_t t0_ns)
{
	return (qm_now_ns() - t0_ns) / 1e6;
}

static void hash_hex(dl_hash h, char out[33])
{
	snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.hi,
		 (unsigned long long)h.lo);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly 2 * @n hex digits into @out. */
static bool hex_bytes(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static bool hex_hash(const char *s, dl_hash *h)
{
	uint8_t b[16];

	if (!hex_bytes(s, b, sizeof(b)))
		return false;
	h->hi = h->lo = 0;
	for (int i = 0; i < 8; i++) {
		h->hi = h->hi << 8 | b[i];
		h->lo = h->lo << 8 | b[8 + i];
	}
	return true;
}

/* The capabilities both QEMUs need, and the source's parameters. */
static void native_opts(const mig_params *p, bool source, qm_native_opts *o)
{
	int64_t dt = (int64_t)(p->max_downtime_ms + 0.5);

	*o = (qm_native_opts){ .multifd = p->multifd,
			       .multifd_channels = (unsigned)p->multifd_channels,
			       .xbzrle = p->xbzrle,
			       .auto_converge = p->auto_converge };
	if (!source)
		return;
	/* The gate decides at QEMU's switchover point. */
	o->pause_before_switchover = true;
	o->downtime_limit_ms = QM_MAX(1, QM_MIN(dt, DOWNTIME_FORCE_MS));
	o->max_bandwidth_bps = p->bandwidth_bps ? (int64_t)p->bandwidth_bps
						: BANDWIDTH_UNCAPPED;
}

/* Hashes of pages [first, first + n) (holes read as zero, extents listed
 * once per verification in @v: both RAMs are stopped while we look) and,
 * if @chunk, the chunk hash over them. */
static void view_hash(const dl_ram_view *v, const dl_hasher *h,
		      uint64_t first, uint64_t n, dl_hash *pages, dl_hash *chunk)
{
	dl_ram_view_hash(v, h, first, n, pages, NULL);
	if (chunk)
		*chunk = mig_chunk_hash(h, pages, n);
}

bool mig_compat_params(json_object *j, mig_params *p, rpc_call *call)
{
	static const char *const only_qemu[] = { "multifd", "multifd_channels",
						 "xbzrle", "auto_converge" };
	int64_t ch = 0;

	if (!p->compat) {
		for (size_t i = 0; i < QM_ARRAY_SIZE(only_qemu); i++)
			if (json_object_object_get_ex(j, only_qemu[i], NULL)) {
				rpc_error_set(call, RPC_ERR_INVALID_PARAMS,
					      "params: %s is for mode \"qemu\"",
					      only_qemu[i]);
				return false;
			}
		return true;
	}
	if (json_object_object_get_ex(j, "streams", NULL)) {
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS, "params: streams is "
			      "for mode \"agent\" (mode \"qemu\" has "
			      "multifd_channels)");
		return false;
	}
	if (!rpc_param_bool(j, "multifd", false, &p->multifd, call) ||
	    !rpc_param_int64(j, "multifd_channels", false, 1,
			     MULTIFD_CHANNELS_MAX, &ch, call) ||
	    !rpc_param_bool(j, "xbzrle", false, &p->xbzrle, call) ||
	    !rpc_param_bool(j, "auto_converge", false, &p->auto_converge, call))
		return false;
	if (ch && !p->multifd) {
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS, "params: "
			      "multifd_channels %lld needs multifd: true",
			      (long long)ch);
		return false;
	}
	p->multifd_channels = (int)ch;
	return true;
}

/* ======================================================================
 * Source
 * ====================================================================== */

typedef struct compat_src {
	migration *m;
	agent_vm *vm;
	rpc_client *peer;
	bool prepared;       /* the destination has a Qd to kill on failure */
	bool migrating;      /* migrate issued, QEMU has not ended it yet */
	bool was_running;    /* Qs ran when we began: resume it on rollback */
	bool paused;         /* QEMU stopped Qs for its switchover */
	bool forced;         /* downtime limit lifted (deadline, round cap) */
	bool continued;      /* migrate-continue sent */
	bool refused;        /* the destination answered COMMIT with an error */
	int64_t t_done_ns;   /* QEMU's migration seen completed */
	double qemu_downtime_ms;
	qm_downtime actual;
} compat_src;

static void say_gate(compat_src *s, const char *why)
{
	pthread_mutex_lock(&s->m->lock);
	snprintf(s->m->st.gate, sizeof(s->m->st.gate), "%s", why);
	pthread_mutex_unlock(&s->m->lock);
}

/* ---- setup ---- */

static json_object *prepare_params(compat_src *s, qm_error *err)
{
	const mig_params *p = &s->m->p;
	json_object *o, *launch = ld_desc_to_json(&s->vm->desc, err);

	if (!launch)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(s->m->id));
	json_object_object_add(o, "vm", json_object_new_string(s->vm->name));
	json_object_object_add(o, "launch", launch);
	json_object_object_add(o, "mode", json_object_new_string("qemu"));
	json_object_object_add(o, "multifd", json_object_new_boolean(p->multifd));
	if (p->multifd_channels)
		json_object_object_add(o, "multifd_channels",
				       json_object_new_int(p->multifd_channels));
	json_object_object_add(o, "xbzrle", json_object_new_boolean(p->xbzrle));
	json_object_object_add(o, "auto_converge",
			       json_object_new_boolean(p->auto_converge));
	if (p->verify == MIG_VERIFY_NONE)
		json_object_object_add(o, "verify",
				       json_object_new_string("none"));
	if (p->dest_qmp[0])
		json_object_object_add(o, "dest_qmp",
				       json_object_new_string(p->dest_qmp));
	return o;
}

/* The destination launches Qd listening; its URI as seen from here. */
static bool prepare_peer(compat_src *s, char *uri, size_t len, qm_error *err)
{
	char host[128];
	uint16_t unused;
	json_object *p, *r, *v;
	int port;

	if (!peer_split_hostport(s->m->p.dest, host, sizeof(host), &unused, err))
		return false;
	s->peer = peer_connect(&s->m->a->key, s->m->p.dest, PEER_TIMEOUT_MS,
			       err);
	if (!s->peer || !(p = prepare_params(s, err)))
		return false;
	r = mig_prepare_call(s->peer, p, PEER_TIMEOUT_MS, &s->m->cancel, err);
	/* A prepare that timed out may still launch Qd there: abort it. */
	s->prepared = r || err->code == QM_ERR_TIMEOUT;
	if (!r) {
		qm_error_prepend(err, "destination agent %s", s->m->p.dest);
		return false;
	}
	port = json_object_object_get_ex(r, "port", &v) &&
	       json_object_is_type(v, json_type_int) ? json_object_get_int(v)
						     : 0;
	json_object_put(r);
	if (port < 1 || port > 65535)
		return qm_error_set(err, QM_ERR_PROTO, "destination agent: "
				    "migration.prepare gave no valid port");
	if (!qm_format(uri, len, strchr(host, ':') ? "tcp:[%s]:%d"
						   : "tcp:%s:%d", host, port))
		return qm_error_set(err, QM_ERR_TOO_BIG, "destination host '%s' "
				    "too long", host);
	return true;
}

static bool setup(compat_src *s, qm_error *err)
{
	qm_native_opts o;
	qmp_status st;
	char uri[200];

	if (!qmp_query_status(s->vm->q, &st, err) ||
	    !prepare_peer(s, uri, sizeof(uri), err))
		return false;
	s->was_running = st.running;
	pthread_mutex_lock(&s->m->lock);
	snprintf(s->m->st.tracker, sizeof(s->m->st.tracker), "qemu");
	pthread_mutex_unlock(&s->m->lock);
	native_opts(&s->m->p, true, &o);
	if (!qm_native_setup(s->vm->q, &o, err))
		return false;
	s->migrating = true;
	pr_info("migration %s: QEMU migrates %s to %s", s->m->id, s->vm->name,
		uri);
	return qmp_migrate(s->vm->q, uri, err);
}

/* ---- QEMU's pre-copy, watched ---- */

static void apply_info(compat_src *s, const qmp_migrate_info *mi)
{
	mig_status *st = &s->m->st;
	uint64_t psize = mi->ram.page_size ? mi->ram.page_size : DL_PAGE_SIZE;
	unsigned before = st->round;

	pthread_mutex_lock(&s->m->lock);
	if (mi->has_ram) {
		st->round = (unsigned)mi->ram.dirty_sync_count;
		st->bytes_on_wire = mi->ram.transferred;
		st->dirty_rate_bps = (double)mi->ram.dirty_pages_rate * psize;
		st->bandwidth_bps = mi->ram.mbps * 1e6 / 8;
		st->pages_full = mi->ram.normal;
		st->pages_zero = mi->ram.duplicate;
	}
	if (mi->has_expected_downtime)
		st->predicted_downtime_ms = st->predicted.total_ms =
			(double)mi->expected_downtime_ms;
	pthread_mutex_unlock(&s->m->lock);
	if (st->round > before && st->phase == QM_PHASE_PRECOPY)
		mig_step(s->m, QM_EV_ROUND_DONE, false);
}

static bool set_downtime_limit(compat_src *s, int64_t ms, qm_error *err)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "downtime-limit", json_object_new_int64(ms));
	return qmp_migrate_set_parameters(s->vm->q, p, err);
}

/* QEMU still copies: a cancel or a passed deadline may end it here. */
static bool still_copying(compat_src *s, const qmp_migrate_info *mi,
			  qm_error *err)
{
	const mig_params *p = &s->m->p;
	int64_t now = qm_now_ms(), deadline = p->deadline_s > 0 ?
		s->m->st.started_ms + (int64_t)(p->deadline_s * 1000) : 0;
	const char *why = NULL;

	if (atomic_load(&s->m->cancel))
		return qm_error_set(err, QM_ERR_CANCELLED, "cancelled");
	if (deadline) {
		pthread_mutex_lock(&s->m->lock);
		s->m->st.deadline_slack_ms = QM_MAX(0.0, (double)(deadline - now -
					     mi->expected_downtime_ms));
		pthread_mutex_unlock(&s->m->lock);
	}
	if (deadline && now >= deadline) {
		if (!p->on_deadline_force)
			return qm_error_set(err, QM_ERR_TIMEOUT, "deadline: "
					    "%.1f s passed before QEMU's "
					    "migration converged (expected "
					    "downtime %lld ms, max %.0f ms)",
					    p->deadline_s,
					    (long long)mi->expected_downtime_ms,
					    p->max_downtime_ms);
		why = "force: deadline passed, QEMU's downtime limit lifted";
	} else if (!deadline && mi->ram.dirty_sync_count >=
		   (uint64_t)p->max_rounds) {
		why = "stop-copy: round cap reached (no deadline given), "
		      "QEMU's downtime limit lifted";
	}
	if (!why || s->forced)
		return true;
	s->forced = true;
	say_gate(s, why);
	pr_info("migration %s: %s", s->m->id, why);
	return set_downtime_limit(s, DOWNTIME_FORCE_MS, err);
}

/* QEMU stopped the VM (device, pre-switchover): the gate's turn. */
static bool stopped(compat_src *s, const qmp_migrate_info *mi, qm_error *err)
{
	if (!s->paused) {
		s->paused = true;
		if (!s->forced)
			say_gate(s, "stop-copy: QEMU's expected downtime fits");
		mig_step(s->m, QM_EV_GATE_STOP, true);
	}
	if (atomic_load(&s->m->cancel))
		return qm_error_set(err, QM_ERR_CANCELLED, "cancelled");
	/* QEMU leaves pre-switchover a little after migrate-continue: a
	 * second one could find it in "device" and fail. */
	if (mi->status != QMP_MIG_STATUS_PRE_SWITCHOVER || s->continued)
		return true;
	s->continued = true;
	/* Reaching the switchover met the deadline, if any: go on, the
	 * agents verify before the destination may run. */
	return qmp_migrate_continue(s->vm->q, "pre-switchover", err);
}

static void completed(compat_src *s, const qmp_migrate_info *mi)
{
	s->t_done_ns = qm_now_ns();
	s->migrating = false;
	if (!s->paused) {
		s->paused = true;
		mig_step(s->m, QM_EV_GATE_STOP, true);
	}
	s->qemu_downtime_ms = mi->has_downtime ? (double)mi->downtime_ms : 0;
	/* QEMU's downtime is its last RAM pass plus the device state. */
	s->actual.part_ms[QM_PART_DEVICE_STATE] = s->qemu_downtime_ms;
	pthread_mutex_lock(&s->m->lock);
	s->m->st.downtime_ms = s->qemu_downtime_ms;
	pthread_mutex_unlock(&s->m->lock);
}

static bool precopy(compat_src *s, qm_error *err)
{
	qmp_migrate_info mi;

	for (;;) {
		if (!qmp_query_migrate(s->vm->q, &mi, err))
			return false;
		apply_info(s, &mi);
		switch (mi.status) {
		case QMP_MIG_STATUS_COMPLETED:
			completed(s, &mi);
			return true;
		case QMP_MIG_STATUS_FAILED:
		case QMP_MIG_STATUS_CANCELLED:
			s->migrating = false;
			return qm_error_set(err, QM_ERR_QMP, "QEMU's migration "
					    "%s: %s", mi.status_str,
					    mi.error_desc[0] ? mi.error_desc
							     : "no reason given");
		case QMP_MIG_STATUS_PRE_SWITCHOVER:
		case QMP_MIG_STATUS_DEVICE:
			if (!stopped(s, &mi, err))
				return false;
			break;
		default:
			if (!still_copying(s, &mi, err))
				return false;
		}
		usleep((s->paused ? QS_POLL_PAUSED_MS : QS_POLL_MS) * 1000);
	}
}

/* ---- verification: both RAMs read after QEMU said it is done ---- */

typedef struct vctx {
	dl_ram_view view;       /* the source's RAM */
	dl_hasher h;
	char seed[2 * SEED_BYTES + 1];
	dl_hash *theirs;     /* VERIFY_MAX_COUNT chunk hashes of a batch */
	dl_hash *mine;       /* page hashes of one chunk */
	dl_hash *their_pages;
	uint64_t bad;
} vctx;

static bool verify_call(compat_src *s, const vctx *v, uint64_t first,
			uint64_t count, bool pages, dl_hash *out,
			qm_error *err)
{
	json_object *p = json_object_new_object(), *r, *n = NULL, *hs = NULL;
	bool ok;

	json_object_object_add(p, "id", json_object_new_string(s->m->id));
	json_object_object_add(p, "seed", json_object_new_string(v->seed));
	json_object_object_add(p, "chunk_pages",
			       json_object_new_int(MIG_VERIFY_CHUNK));
	json_object_object_add(p, "first", json_object_new_int64((int64_t)first));
	json_object_object_add(p, "count", json_object_new_int64((int64_t)count));
	json_object_object_add(p, "pages", json_object_new_boolean(pages));
	r = rpc_client_call(s->peer, "migration.verify", p, PEER_TIMEOUT_MS,
			    err);
	if (!r) {
		qm_error_prepend(err, "destination agent %s", s->m->p.dest);
		return false;
	}
	json_object_object_get_ex(r, "npages", &n);
	json_object_object_get_ex(r, "hashes", &hs);
	ok = n && (uint64_t)json_object_get_int64(n) == s->vm->ram.npages;
	if (!ok)
		qm_error_set(err, QM_ERR_STATE, "verification: the destination's "
			     "RAM has %lld pages, the source's %llu",
			     n ? (long long)json_object_get_int64(n) : -1LL,
			     (unsigned long long)s->vm->ram.npages);
	else if (!json_object_is_type(hs, json_type_array) ||
		 json_object_array_length(hs) != count)
		ok = qm_error_set(err, QM_ERR_PROTO, "migration.verify: expected "
				  "%llu hashes", (unsigned long long)count);
	for (uint64_t i = 0; ok && i < count; i++)
		if (!hex_hash(json_object_get_string(
				json_object_array_get_idx(hs, i)), &out[i]))
			ok = qm_error_set(err, QM_ERR_PROTO, "migration.verify: "
					  "hash %llu is not 32 hex digits",
					  (unsigned long long)i);
	json_object_put(r);
	return ok;
}

/* One chunk: compare its hash; if it differs, count the pages that do. */
static bool check_chunk(compat_src *s, vctx *v, uint64_t first, dl_hash theirs,
			qm_error *err)
{
	uint64_t n = QM_MIN((uint64_t)MIG_VERIFY_CHUNK,
			    s->vm->ram.npages - first);
	dl_hash chunk;

	view_hash(&v->view, &v->h, first, n, v->mine, &chunk);
	if (dl_hash_eq(chunk, theirs))
		return true;
	if (!verify_call(s, v, first, n, true, v->their_pages, err))
		return false;
	for (uint64_t i = 0; i < n; i++)
		v->bad += !dl_hash_eq(v->mine[i], v->their_pages[i]);
	return true;
}

static void apply_verify(compat_src *s, bool done, bool passed, uint64_t bad)
{
	pthread_mutex_lock(&s->m->lock);
	s->m->st.actual = s->actual;
	s->m->st.verify_checked = s->vm->ram.npages;
	s->m->st.verify_mismatches = bad;
	s->m->st.verify_done = done;
	s->m->st.verify_passed = passed;
	pthread_mutex_unlock(&s->m->lock);
}

/* verify "none": nothing compared, and status says so (done false,
 * "skipped" with the reason). */
static void skip_verify(compat_src *s)
{
	const char *why = s->vm->shared
		? VERIFY_SKIPPED ": QEMU's migration trusted, no page compared"
		: VERIFY_SKIPPED ": the VM's RAM is private (the agents cannot "
		  "read it), QEMU's migration trusted, no page compared";

	pthread_mutex_lock(&s->m->lock);
	s->m->st.actual = s->actual;
	s->m->st.verify_done = false;
	s->m->st.verify_passed = false;
	snprintf(s->m->st.verify_skipped, sizeof(s->m->st.verify_skipped),
		 "%s", why);
	pthread_mutex_unlock(&s->m->lock);
	pr_info("migration %s: %s", s->m->id, why);
}

static bool verify(compat_src *s, qm_error *err)
{
	const dl_ram *ram = &s->vm->ram;
	uint64_t nchunks = (ram->npages + MIG_VERIFY_CHUNK - 1) / MIG_VERIFY_CHUNK;
	uint8_t seed[SEED_BYTES];
	vctx v = { .bad = 0 };
	int64_t t = qm_now_ns();
	bool ok;

	/* migration.start refuses this; a private RAM is never read. */
	if (!agent_vm_need_shared(s->vm, "verification", err))
		return false;

	v.theirs = calloc(VERIFY_MAX_COUNT, sizeof(*v.theirs));
	v.mine = calloc(MIG_VERIFY_CHUNK, sizeof(*v.mine));
	v.their_pages = calloc(MIG_VERIFY_CHUNK, sizeof(*v.their_pages));
	ok = (v.theirs && v.mine && v.their_pages) ||
	     qm_error_set(err, QM_ERR_NOMEM, "verify buffers");
	if (ok && getrandom(seed, sizeof(seed), 0) != sizeof(seed))
		ok = qm_error_errno(err, errno, "getrandom");
	ok = ok && dl_hasher_init(&v.h, seed, sizeof(seed), err) &&
	     dl_ram_view_open(&v.view, ram, err);
	for (size_t i = 0; ok && i < sizeof(seed); i++)
		snprintf(v.seed + 2 * i, 3, "%02x", seed[i]);
	for (uint64_t c = 0; ok && c < nchunks; c += VERIFY_MAX_COUNT) {
		uint64_t k = QM_MIN((uint64_t)VERIFY_MAX_COUNT, nchunks - c);

		ok = verify_call(s, &v, c * MIG_VERIFY_CHUNK, k, false, v.theirs,
				 err);
		for (uint64_t i = 0; ok && i < k; i++)
			ok = check_chunk(s, &v, (c + i) * MIG_VERIFY_CHUNK,
					 v.theirs[i], err);
	}
	dl_ram_view_close(&v.view);
	free(v.theirs);
	free(v.mine);
	free(v.their_pages);
	s->actual.part_ms[QM_PART_VERIFY] = ms_since(t);
	apply_verify(s, ok, ok && !v.bad, v.bad);
	if (ok && v.bad)
		return qm_error_set(err, QM_ERR_PROTO, "verification: %llu %s "
				    "differed after QEMU's migration (QEMU 7.2 "
				    "under TCG loses guest writes)",
				    (unsigned long long)v.bad,
				    v.bad == 1 ? "page" : "pages");
	return ok;
}

/* ---- switchover and rollback ---- */

static bool switchover(compat_src *s, qm_error *err)
{
	int64_t t = qm_now_ns();
	json_object *p = json_object_new_object();

	json_object_object_add(p, "id", json_object_new_string(s->m->id));
	if (!rpc_client_call_ok(s->peer, "migration.commit", p,
				COMMIT_TIMEOUT_MS, err)) {
		/* An error answer means Qd does not run (the destination
		 * kills it before answering); no answer leaves us in doubt. */
		s->refused = err->subclass != 0;
		qm_error_prepend(err, "destination agent %s", s->m->p.dest);
		return false;
	}
	s->prepared = false;
	s->actual.part_ms[QM_PART_CONT] = ms_since(t);
	/* The guest was stopped from QEMU's stop to Qd's cont. */
	s->actual.total_ms = s->qemu_downtime_ms + ms_since(s->t_done_ns);
	pthread_mutex_lock(&s->m->lock);
	s->m->st.actual = s->actual;
	s->m->st.downtime_ms = s->actual.total_ms;
	pthread_mutex_unlock(&s->m->lock);
	if (!staged_save(s->m->a, s->vm, err)) {
		pr_warn("migration %s: no staged copy: %s", s->m->id, err->msg);
		qm_error_clear(err);
	}
	if (!qmp_quit(s->vm->q, NULL))
		pr_warn("migration %s: quitting the source QEMU failed", s->m->id);
	return true;
}

static void cancel_qemu(compat_src *s)
{
	qm_error err = QM_ERROR_INIT;
	qmp_migrate_info mi;

	if (!s->migrating)
		return;
	s->migrating = false;
	if (!qmp_migrate_cancel(s->vm->q, &err) ||
	    !qm_native_wait(s->vm->q, QM_MIG_DONE_MASK, 5, CANCEL_TIMEOUT_MS,
			    &mi, &err))
		pr_err("migration %s: cancelling QEMU's migration: %s", s->m->id,
		       err.msg);
}

/* QEMU resumes a VM it stopped when its migration fails or is cancelled,
 * but not one in postmigrate (completed): check, whatever happened. */
static void resume(compat_src *s)
{
	qm_error err = QM_ERROR_INIT;
	qmp_status st;

	if (!qmp_query_status(s->vm->q, &st, &err)) {
		pr_err("migration %s: source QEMU: %s", s->m->id, err.msg);
		return;
	}
	if (st.running || !s->was_running)
		return;
	s->paused = true;
	if (!qmp_cont(s->vm->q, &err)) {
		pr_err("migration %s: RESUMING THE SOURCE FAILED: %s", s->m->id,
		       err.msg);
		return;
	}
	if (!s->t_done_ns)
		return;
	/* Paused from QEMU's stop until now. */
	pthread_mutex_lock(&s->m->lock);
	s->m->st.downtime_ms = s->qemu_downtime_ms + ms_since(s->t_done_ns);
	s->m->st.actual.total_ms = s->m->st.downtime_ms;
	pthread_mutex_unlock(&s->m->lock);
}

static void abort_dest(compat_src *s, const char *why)
{
	qm_error err = QM_ERROR_INIT;
	json_object *p;

	if (!s->prepared || !s->peer)
		return;
	s->prepared = false;
	p = json_object_new_object();
	json_object_object_add(p, "id", json_object_new_string(s->m->id));
	json_object_object_add(p, "reason", json_object_new_string(why));
	if (!rpc_client_call_ok(s->peer, "migration.abort", p, PEER_TIMEOUT_MS,
				&err))
		pr_warn("migration %s: the destination agent did not confirm "
			"the abort (%s); its QEMU ends with its incoming "
			"migration or after %d s idle", s->m->id, err.msg,
			QD_IDLE_TIMEOUT_MS / 1000);
}

static void end_failed(compat_src *s, const qm_error *err)
{
	migration *m = s->m;

	if (m->st.phase == QM_PHASE_SWITCHOVER) {
		mig_step(m, QM_EV_PEER_LOST, true);
		/* Without an answer Qd may run: Qs stays paused. */
		if (!s->refused)
			return;
		resume(s);
		mig_step(m, QM_EV_RESOLVED_BACK, true);
		return;
	}
	/* Stop QEMU's copy, get the guest going again, then Qd goes. */
	cancel_qemu(s);
	resume(s);
	abort_dest(s, err->msg);
	mig_step(m, err->code == QM_ERR_CANCELLED ? QM_EV_CANCEL : QM_EV_FAIL,
		 s->paused);
}

static bool run(compat_src *s, qm_error *err)
{
	if (!setup(s, err))
		return false;
	mig_step(s->m, QM_EV_START_OK, false);
	if (!precopy(s, err))
		return false;
	mig_step(s->m, QM_EV_FINAL_SENT, true);
	if (s->m->p.verify == MIG_VERIFY_NONE)
		skip_verify(s);
	else if (!verify(s, err))
		return false;
	mig_step(s->m, QM_EV_VERIFIED, true);
	/* Before COMMIT can be out: from here a restart must not resume the
	 * source without asking the destination. */
	migrec_save(s->m, QM_PHASE_SWITCHOVER, NULL, MIGREC_NOSYNC);
	return switchover(s, err);
}

void *mig_compat_source_thread(void *arg)
{
	migration *m = arg;
	compat_src s = { .m = m, .vm = m->vm };
	qm_error err = QM_ERROR_INIT;

	migrec_worker_start(m);
	if (run(&s, &err)) {
		mig_step(m, QM_EV_COMMITTED, true);
	} else {
		pr_err("migration %s: %s", m->id, err.msg);
		mig_fail_msg(m, &err);
		end_failed(&s, &err);
	}
	rpc_client_free(s.peer);
	agent_mailbox_post(m->a->mb, mig_source_finished, m);
	return NULL;
}

/* ======================================================================
 * Destination
 *
 * A worker thread owns Qd. The peer handlers (loop thread) defer their
 * call and hand it over as a request; the worker answers through the
 * mailbox. Between requests it watches Qd's incoming migration.
 * ====================================================================== */

typedef enum compat_cmd {
	CC_NONE,
	CC_VERIFY,
	CC_COMMIT,
	CC_ABORT,
} compat_cmd;

typedef struct compat_req {
	compat_cmd cmd;
	rpc_call *call;
	uint8_t seed[SEED_BYTES];
	uint64_t first, count, chunk;
	bool pages;
	char reason[200];
} compat_req;

typedef struct compat_dest {
	dest_state d;            /* first: freed and finished as a dest_state */
	agent *a;
	rpc_call *prepare;       /* answered once Qd listens */
	rpc_call *last;          /* abort, or a failed commit: answered after
				  * Qd is gone */
	dl_ram ram;              /* Qd's RAM, read-only, once it completed */
	dl_ram_view view;           /* ... and its extents */
	bool incoming_done;
	bool aborted;            /* by the source (migration.abort) */
	int64_t since_ms;        /* last progress, for the timeouts */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	compat_req req;          /* under @lock; CC_NONE: nothing asked */
	bool ended;              /* under @lock: no more requests taken */
} compat_dest;

/* ---- the worker ---- */

/* Qd's listening port, from query-migrate (QEMU picked it: port 0). */
static bool incoming_port(qmp_conn *q, uint16_t *port, qm_error *err)
{
	json_object *r = qmp_call(q, "query-migrate", NULL, 0, err), *sa, *p;
	char *end;
	long v = 0;

	if (!r)
		return false;
	if (json_object_object_get_ex(r, "socket-address", &sa) &&
	    json_object_is_type(sa, json_type_array) &&
	    json_object_array_length(sa) > 0 &&
	    json_object_object_get_ex(json_object_array_get_idx(sa, 0), "port",
				      &p) &&
	    json_object_is_type(p, json_type_string)) {
		v = strtol(json_object_get_string(p), &end, 10);
		if (*end)
			v = 0;
	}
	json_object_put(r);
	if (v < 1 || v > 65535)
		return qm_error_set(err, QM_ERR_QMP, "destination QEMU: "
				    "query-migrate named no listening port");
	*port = (uint16_t)v;
	return true;
}

static bool listen_incoming(compat_dest *cd, uint16_t *port, qm_error *err)
{
	const char *h = cd->a->peer_host;
	qm_native_opts o;
	char uri[200];

	native_opts(&cd->d.m->p, false, &o);
	if (!qm_format(uri, sizeof(uri), strchr(h, ':') ? "tcp:[%s]:0"
							: "tcp:%s:0", h))
		return qm_error_set(err, QM_ERR_TOO_BIG, "peer host '%s' too "
				    "long", h);
	if (!mig_dest_start_qd(&cd->d, err) ||
	    !qm_native_incoming(cd->d.qd, &o, uri, err))
		return false;
	return incoming_port(cd->d.qd, port, err);
}

static void incoming_completed(compat_dest *cd)
{
	cd->incoming_done = true;
	cd->since_ms = qm_now_ms();
	mig_step(cd->d.m, QM_EV_GATE_STOP, false);
	mig_step(cd->d.m, QM_EV_FINAL_SENT, false);
}

/* Qd's migration completed (waiting for it if needed). */
static bool qd_completed(compat_dest *cd, qm_error *err)
{
	qmp_migrate_info mi;

	if (cd->incoming_done)
		return true;
	if (!qm_native_wait(cd->d.qd, QM_MIG_DONE_MASK, 5, QD_WAIT_MS, &mi,
			    err))
		return false;
	if (mi.status != QMP_MIG_STATUS_COMPLETED)
		return qm_error_set(err, QM_ERR_QMP, "destination QEMU's "
				    "incoming migration is '%s'", mi.status_str);
	incoming_completed(cd);
	return true;
}

/* ... and its RAM mapped read-only, numbered as the source numbers its
 * own (by backend id): only for verification, so a private RAM that is
 * not verified is never looked for. */
static bool qd_ready(compat_dest *cd, qm_error *err)
{
	dl_backend_info info[DL_MAX_REGIONS];

	if (!qd_completed(cd, err))
		return false;
	if (cd->ram.nregions)
		return true;
	if (!dl_discover(cd->d.qd, cd->d.qd_pid, &cd->ram, info, err)) {
		qm_error_prepend(err, "destination RAM");
		return false;
	}
	if (!dl_ram_view_open(&cd->view, &cd->ram, err)) {
		dl_ram_close(&cd->ram);
		return false;
	}
	return true;
}

/* Between requests: is Qd's incoming migration still going somewhere? */
static bool watch(compat_dest *cd, qm_error *err)
{
	int64_t idle = qm_now_ms() - cd->since_ms;
	qmp_migrate_info mi;

	if (atomic_load(&cd->d.m->cancel))
		return qm_error_set(err, QM_ERR_CANCELLED, "cancelled");
	if (!qmp_query_migrate(cd->d.qd, &mi, err)) {
		qm_error_prepend(err, "destination QEMU");
		return false;
	}
	switch (mi.status) {
	case QMP_MIG_STATUS_FAILED:
	case QMP_MIG_STATUS_CANCELLED:
		return qm_error_set(err, QM_ERR_QMP, "destination QEMU's "
				    "incoming migration %s: %s", mi.status_str,
				    mi.error_desc[0] ? mi.error_desc
						     : "no reason given");
	case QMP_MIG_STATUS_COMPLETED:
		if (!cd->incoming_done)
			incoming_completed(cd);
		else if (idle > QD_IDLE_TIMEOUT_MS)
			return qm_error_set(err, QM_ERR_TIMEOUT, "no commit or "
					    "abort from the source agent %d s "
					    "after the migration completed",
					    QD_IDLE_TIMEOUT_MS / 1000);
		return true;
	case QMP_MIG_STATUS_NONE:
	case QMP_MIG_STATUS_SETUP:
		if (idle > QD_CONNECT_TIMEOUT_MS)
			return qm_error_set(err, QM_ERR_TIMEOUT, "the source QEMU "
					    "did not connect within %d s",
					    QD_CONNECT_TIMEOUT_MS / 1000);
		return true;
	default:
		cd->since_ms = qm_now_ms();
		return true;
	}
}

/* Hashes of Qd's real RAM: @r->count chunks of @r->chunk pages, or
 * @r->count pages, from page @r->first. */
static json_object *hashes(compat_dest *cd, const compat_req *r,
			   const dl_hasher *h, qm_error *err)
{
	uint64_t np = cd->ram.npages, span = r->pages ? 1 : r->chunk;
	dl_hash *ph, one;
	json_object *o, *a;
	char hex[33];

	if (r->first >= np || r->count > (np - r->first + span - 1) / span) {
		qm_error_set(err, QM_ERR_INVAL, "verify: %llu x %llu pages from "
			     "page %llu exceed the %llu pages of RAM",
			     (unsigned long long)r->count,
			     (unsigned long long)span,
			     (unsigned long long)r->first,
			     (unsigned long long)np);
		return NULL;
	}
	ph = calloc(r->pages ? r->count : r->chunk, sizeof(*ph));
	if (!ph) {
		qm_error_set(err, QM_ERR_NOMEM, "verify buffers");
		return NULL;
	}
	o = json_object_new_object();
	a = json_object_new_array();
	json_object_object_add(o, "npages", json_object_new_int64((int64_t)np));
	json_object_object_add(o, "hashes", a);
	if (r->pages)
		view_hash(&cd->view, h, r->first, r->count, ph, NULL);
	for (uint64_t i = 0; i < r->count; i++) {
		uint64_t s = r->first + i * span;

		if (!r->pages)
			view_hash(&cd->view, h, s, QM_MIN(span, np - s), ph,
				  &one);
		hash_hex(r->pages ? ph[i] : one, hex);
		json_object_array_add(a, json_object_new_string(hex));
	}
	free(ph);
	return o;
}

static void do_verify(compat_dest *cd, const compat_req *r)
{
	qm_error err = QM_ERROR_INIT;
	json_object *o = NULL;
	dl_hasher h;

	if (qd_ready(cd, &err) &&
	    dl_hasher_init(&h, r->seed, sizeof(r->seed), &err))
		o = hashes(cd, r, &h, &err);
	/* A failed verify is the source's to act on: it aborts. */
	mig_reply(cd->a, r->call, o, &err);
}

/* COMMIT: the source verified (or, with verify "none", chose not to);
 * Qd runs from now on. */
static bool do_commit(compat_dest *cd, const compat_req *r, qm_error *err)
{
	migration *m = cd->d.m;

	if (!qd_completed(cd, err))
		return false;
	if (m->p.verify == MIG_VERIFY_NONE) {
		pthread_mutex_lock(&m->lock);
		snprintf(m->st.verify_skipped, sizeof(m->st.verify_skipped),
			 "%s", VERIFY_SKIPPED ": the source agent trusted "
			 "QEMU's migration, no page compared");
		pthread_mutex_unlock(&m->lock);
	}
	mig_step(cd->d.m, QM_EV_VERIFIED, false);
	mig_dest_record(&cd->d, QM_PHASE_SWITCHOVER, false, MIGREC_NOSYNC);
	if (!qmp_cont(cd->d.qd, err))
		return false;
	mig_dest_record(&cd->d, QM_PHASE_SWITCHOVER, true, MIGREC_NOSYNC);
	/* It runs here: acknowledge even if the announce fails (it only
	 * speeds up network convergence). */
	if (!qmp_announce_self(cd->d.qd, NULL, NULL))
		pr_warn("announce-self failed on %s", cd->d.m->p.vm);
	mig_reply(cd->a, r->call, json_object_new_object(), NULL);
	return true;
}

/* Wait up to QD_POLL_MS for a request; true and *@r if one came. */
static bool next_req(compat_dest *cd, compat_req *r)
{
	struct timespec ts;
	bool got;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += QD_POLL_MS * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&cd->lock);
	if (cd->req.cmd == CC_NONE)
		pthread_cond_timedwait(&cd->cond, &cd->lock, &ts);
	got = cd->req.cmd != CC_NONE;
	if (got) {
		*r = cd->req;
		cd->req.cmd = CC_NONE;
	}
	pthread_mutex_unlock(&cd->lock);
	return got;
}

/* Serve the source until COMMIT ran Qd (true) or the migration ends
 * otherwise (false: abort, failure, timeout, cancel). */
static bool serve(compat_dest *cd, qm_error *err)
{
	compat_req r;

	cd->since_ms = qm_now_ms();
	for (;;) {
		if (!next_req(cd, &r)) {
			if (!watch(cd, err))
				return false;
			continue;
		}
		cd->since_ms = qm_now_ms();
		switch (r.cmd) {
		case CC_VERIFY:
			do_verify(cd, &r);
			break;
		case CC_COMMIT:
			if (do_commit(cd, &r, err))
				return true;
			cd->last = r.call;
			return false;
		default:
			cd->last = r.call;
			cd->aborted = true;
			return qm_error_set(err, QM_ERR_STATE, "aborted by the "
					    "source: %s", r.reason);
		}
	}
}

static void compat_dest_finished(void *arg)
{
	compat_dest *cd = arg;

	pthread_mutex_destroy(&cd->lock);
	pthread_cond_destroy(&cd->cond);
	mig_dest_finished(&cd->d);
}

static void finish(compat_dest *cd, bool committed, const qm_error *err)
{
	migration *m = cd->d.m;
	qm_error late = QM_ERROR_INIT;
	compat_req left;

	pthread_mutex_lock(&cd->lock);
	cd->ended = true;
	left = cd->req;
	cd->req.cmd = CC_NONE;
	pthread_mutex_unlock(&cd->lock);
	dl_ram_view_close(&cd->view);
	dl_ram_close(&cd->ram);
	if (committed) {
		mig_step(m, QM_EV_COMMITTED, false);
		mig_dest_attach(&cd->d);
		/* The VM runs here: an image staged when it left is stale. */
		staged_drop(cd->a, m->p.vm);
	} else {
		pr_err("migration %s: %s", m->id, err->msg);
		mig_fail_msg(m, err);
		qmp_conn_free(cd->d.qd);
		cd->d.qd = NULL;
		mig_dest_cleanup(&cd->d);
		mig_step(m, err->code == QM_ERR_CANCELLED ? QM_EV_CANCEL
							  : QM_EV_FAIL, false);
	}
	/* Qd is gone now: the source may rely on these answers. */
	if (cd->last)
		mig_reply(cd->a, cd->last, cd->aborted ? json_object_new_object()
						   : NULL, err);
	qm_error_set(&late, QM_ERR_STATE, "migration %s has ended", m->id);
	if (left.cmd != CC_NONE)
		mig_reply(cd->a, left.call, NULL, &late);
	agent_mailbox_post(cd->a->mb, compat_dest_finished, cd);
}

static void *compat_dest_thread(void *arg)
{
	compat_dest *cd = arg;
	qm_error err = QM_ERROR_INIT;
	json_object *r = NULL;
	uint16_t port = 0;
	bool ok;

	mig_dest_record(&cd->d, QM_PHASE_SETUP, false, 0);
	ok = listen_incoming(cd, &port, &err);
	if (cd->d.qd_pid > 0)
		mig_dest_record(&cd->d, QM_PHASE_SETUP, false, 0);
	if (ok) {
		r = json_object_new_object();
		json_object_object_add(r, "port", json_object_new_int(port));
		mig_step(cd->d.m, QM_EV_START_OK, false);
	}
	mig_reply(cd->a, cd->prepare, r, &err);
	cd->prepare = NULL;
	if (ok)
		ok = serve(cd, &err);
	finish(cd, ok, &err);
	return NULL;
}

/* ---- peer methods (loop thread) ---- */

static bool rewrite(compat_dest *cd, json_object *launch, qm_error *err)
{
	dest_state *d = &cd->d;
	ld_opts o = { .state_dir = cd->a->cfg.state_dir,
		      .vm_name = d->m->p.vm,
		      .qemu_binary = cd->a->qemu_binary,
		      .reserved_names = reserved };

	/* A Qd the caller started (dest_qmp) has its disks open and its RAM
	 * files its own: only the VM directory and the source's backends
	 * are used then (dest-qd.c). */
	if (!ld_desc_from_json(&d->desc, launch, err) ||
	    !ld_rewrite(&d->desc, &o, &d->lr, err) ||
	    (!d->adopted && !ld_check_external(&d->lr, NULL, err)) ||
	    !qm_state_open(d->lr.vm_dir, err))
		return false;
	/* QEMU would take a RAM file left by an earlier migration as it
	 * is: start from empty files. */
	for (size_t i = 0; !d->adopted && i < d->lr.npaths; i++)
		if (d->lr.paths[i].kind == LD_PATH_MEMORY)
			unlink(d->lr.paths[i].dst);
	return true;
}

static void prepare_failed(compat_dest *cd, const qm_error *err)
{
	migration *m = cd->d.m;

	mig_fail_msg(m, err);
	m->st.phase = QM_PHASE_FAILED;
	m->st.ended_ms = qm_now_ms();
	m->finished = true;
	ld_result_free(&cd->d.lr);
	ld_desc_free(&cd->d.desc);
	pthread_mutex_destroy(&cd->lock);
	pthread_cond_destroy(&cd->cond);
}

static compat_dest *compat_dest_new(migration *m, agent *a, rpc_call *call)
{
	compat_dest *cd = calloc(1, sizeof(*cd));
	pthread_condattr_t ca;

	m->side_state = cd;
	if (!cd)
		return NULL;
	cd->d.m = m;
	cd->d.devstate_fd = -1;
	ld_desc_init(&cd->d.desc);
	dl_ram_init(&cd->ram);
	cd->a = a;
	cd->prepare = call;
	pthread_mutex_init(&cd->lock, NULL);
	/* next_req() waits on CLOCK_MONOTONIC. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cd->cond, &ca);
	pthread_condattr_destroy(&ca);
	return cd;
}

json_object *mig_compat_prepare(agent *a, rpc_call *call, json_object *j,
				const char *id, const char *vm,
				json_object *launch, qm_error *err)
{
	mig_params p = { .compat = true };
	qm_error serr = QM_ERROR_INIT;
	const char *verify = "full", *dest_qmp = "";
	compat_dest *cd;
	migration *m;

	if (!mig_compat_params(j, &p, call) ||
	    !rpc_param_string(j, "verify", false, &verify, call) ||
	    !rpc_param_string(j, "dest_qmp", false, &dest_qmp, call))
		return NULL;
	if (strcmp(verify, "full") && strcmp(verify, "none"))
		return rpc_error_set(call, RPC_ERR_INVALID_PARAMS, "params: "
				     "verify '%s': expected full|none", verify);
	p.verify = strcmp(verify, "none") ? MIG_VERIFY_FULL : MIG_VERIFY_NONE;
	snprintf(p.vm, sizeof(p.vm), "%s", vm);
	m = mig_new(a, QM_SIDE_DEST, &p, err);
	if (!m)
		return NULL;
	snprintf(m->id, sizeof(m->id), "%s", id);
	cd = compat_dest_new(m, a, call);
	if (!cd) {
		m->st.phase = QM_PHASE_FAILED;
		m->finished = true;
		return rpc_error_set(call, RPC_ERR_INTERNAL, "out of memory");
	}
	cd->d.adopted = *dest_qmp;
	snprintf(cd->d.qd_qmp, sizeof(cd->d.qd_qmp), "%s", dest_qmp);
	if (!rewrite(cd, launch, err) || !rpc_call_defer(call, err)) {
		prepare_failed(cd, err);
		return NULL;
	}
	if (!agent_spawn(compat_dest_thread, cd, &serr)) {
		prepare_failed(cd, &serr);
		rpc_call_fail(call, 0, &serr);
		return NULL;
	}
	pr_info("migration %s: %s arrives by QEMU's migration", id, vm);
	return NULL;
}

/* The running compat-mode migration arriving here that @j names. */
static compat_dest *dest_of(agent *a, json_object *j, rpc_call *call)
{
	const char *id;
	migration *m;

	if (!rpc_param_string(j, "id", true, &id, call))
		return NULL;
	m = mig_find(a, id);
	if (!m || m->side != QM_SIDE_DEST || !m->p.compat) {
		rpc_error_set(call, RPC_ERR_MIGRATION_NOT_FOUND, "no migration "
			      "'%s' arrives here in mode \"qemu\"", id);
		return NULL;
	}
	/* Once finished, side_state may be freed at any time. */
	if (m->finished) {
		rpc_error_set(call, RPC_ERR_NOT_ALLOWED, "migration %s has "
			      "ended (%s)", id, qm_phase_name(m->st.phase));
		return NULL;
	}
	return m->side_state;
}

/* Hand @r to the worker; it answers @call later. */
static json_object *submit(compat_dest *cd, rpc_call *call, compat_req *r,
			   qm_error *err)
{
	bool ended, busy;

	pthread_mutex_lock(&cd->lock);
	ended = cd->ended;
	busy = cd->req.cmd != CC_NONE;
	if (!ended && !busy && rpc_call_defer(call, err)) {
		r->call = call;
		cd->req = *r;
		pthread_cond_signal(&cd->cond);
	}
	pthread_mutex_unlock(&cd->lock);
	if (ended || busy)
		return rpc_error_set(call, RPC_ERR_NOT_ALLOWED, "migration %s: %s",
				     cd->d.m->id, ended ? "ending"
				     : "another request is being served");
	return NULL;
}

json_object *mig_compat_verify(void *ctx, rpc_call *call, json_object *j,
			       qm_error *err)
{
	compat_dest *cd = dest_of(ctx, j, call);
	compat_req r = { .cmd = CC_VERIFY };
	int64_t first, count, chunk = MIG_VERIFY_CHUNK;
	const char *seed;

	if (!cd || !rpc_param_string(j, "seed", true, &seed, call) ||
	    !rpc_param_int64(j, "first", true, 0, INT64_MAX, &first, call) ||
	    !rpc_param_int64(j, "count", true, 1, VERIFY_MAX_COUNT, &count,
			     call) ||
	    !rpc_param_int64(j, "chunk_pages", false, 1, VERIFY_MAX_CHUNK,
			     &chunk, call) ||
	    !rpc_param_bool(j, "pages", false, &r.pages, call))
		return NULL;
	if (!hex_bytes(seed, r.seed, sizeof(r.seed)))
		return rpc_error_set(call, RPC_ERR_INVALID_PARAMS, "params: seed "
				     "must be %d hex digits, got %zu characters",
				     2 * SEED_BYTES, strlen(seed));
	r.first = (uint64_t)first;
	r.count = (uint64_t)count;
	r.chunk = (uint64_t)chunk;
	return submit(cd, call, &r, err);
}

json_object *mig_compat_commit(void *ctx, rpc_call *call, json_object *j,
			       qm_error *err)
{
	compat_dest *cd = dest_of(ctx, j, call);
	compat_req r = { .cmd = CC_COMMIT };

	return cd ? submit(cd, call, &r, err) : NULL;
}

json_object *mig_compat_abort(void *ctx, rpc_call *call, json_object *j,
			      qm_error *err)
{
	compat_dest *cd = dest_of(ctx, j, call);
	compat_req r = { .cmd = CC_ABORT };
	const char *why = "no reason given";

	if (!cd || !rpc_param_string(j, "reason", false, &why, call))
		return NULL;
	snprintf(r.reason, sizeof(r.reason), "%s", why);
	return submit(cd, call, &r, err);
}
