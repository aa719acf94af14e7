/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The destination side of a migration.
 *
 * migration.prepare (peer RPC, loop thread) checks the launch description,
 * rewrites it for this host, opens a transport receiver on a fresh port
 * and answers with that port (with dest_qmp, the worker answers once it
 * adopted the caller's Qd: dest-qd.c); a worker thread then:
 *
 *   accept streams (RAM files created) -> launch Qd paused, waiting
 *   (-incoming defer -S, x-ignore-shared, migrate-incoming on a unix
 *   socket) -> serve control frames: DEVSTATE into Qd's incoming socket,
 *   VERIFY against the real RAM, COMMIT -> cont Qd, announce, ACK.
 *
 * Any failure before COMMIT kills Qd and removes its RAM files: the VM is
 * still running on the source, which rolls back.
 */
#define LOG_PREFIX "dest"
#include "agent/mig-int.h"
#include "agent/records.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define QD_QMP_TIMEOUT_MS 10000
#define CTRL_POLL_MS 500

static const char *const reserved[] = { "incoming.sock", "qemu.log",
					"vm.json", "vm.json.tmp", NULL };

static bool prepare_incoming(dest_state *d, qm_error *err)
{
	qm_native_opts o = { .ignore_shared = true };
	struct sockaddr_un sa;
	char uri[sizeof(d->incoming) + 8];

	if (!qm_format(d->incoming, sizeof(d->incoming), "%s/incoming.sock",
		       d->lr.vm_dir) ||
	    strlen(d->incoming) >= sizeof(sa.sun_path))
		return qm_error_set(err, QM_ERR_TOO_BIG, "%s/incoming.sock is "
				    "too long for a unix socket: use a shorter "
				    "--state-dir", d->lr.vm_dir);
	snprintf(uri, sizeof(uri), "unix:%s", d->incoming);
	return qm_native_incoming(d->qd, &o, uri, err);
}

/*
 * How to hash @n pages for one VERIFY frame; true: through the view of
 * the RAM's extents, false: by reading them (dl_ram_hash_pread). Listing
 * the extents walks the whole file (7 ms for a sparse 1 GiB here), so
 * they are listed once per pass, at its first VERIFY frame, and again only
 * when pages arrived since (a resend between passes ends with a flush,
 * which the receiver counts). Not earlier: a page allocated behind the
 * receiver's back (the corruption verification exists for) must not be
 * taken for a hole. Between this listing and the hashes nothing writes
 * the RAM: the receiver's flushes are done and Qd is paused, loading
 * device state only. *@ok false: the listing failed (*@err says why).
 */
static bool use_view(dest_state *d, const dl_ram *ram, uint64_t n,
		     qm_error *err, bool *ok)
{
	tp_stats st;

	tp_receiver_get_stats(d->rx, &st);
	*ok = true;
	if (d->view_valid && st.rounds == d->view_rounds)
		return true;
	/* A small check (tracked verification) of a large RAM reads its
	 * pages through the descriptors instead, which needs no listing.
	 * Reads add up over the frames of one check (a whole-RAM check
	 * comes as many frames): past a sixteenth of the RAM since pages
	 * last arrived, listing is cheaper. */
	if (st.rounds != d->read_rounds) {
		d->read_rounds = st.rounds;
		d->read_pages = 0;
	}
	if ((d->read_pages + n) * 16 < ram->npages) {
		d->read_pages += n;
		return false;
	}
	dl_ram_view_close(&d->view);
	d->view_valid = *ok = dl_ram_view_open(&d->view, ram, err);
	d->view_rounds = st.rounds;
	return true;
}

static bool hash_range(dest_state *d, const dl_ram *ram, bool view,
		       uint64_t first, uint64_t n, dl_hash *pages,
		       dl_hash *chunk, qm_error *err)
{
	const dl_hasher *h = tp_receiver_hasher(d->rx);

	if (view)
		return mig_hash_range(&d->view, h, first, n, pages, chunk, err);
	if (!dl_ram_hash_pread(ram, h, first, n, pages, err))
		return false;
	*chunk = mig_chunk_hash(h, pages, n);
	return true;
}

/* ---- device state ---- */

static bool devstate_chunk(dest_state *d, const tp_ctrl *c, qm_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const uint8_t *p = c->u.devstate.data;
	size_t left = c->u.devstate.len;

	if (c->u.devstate.offset != d->devstate_off)
		return qm_error_set(err, QM_ERR_PROTO, "DEVSTATE at offset %llu, "
				    "expected %llu",
				    (unsigned long long)c->u.devstate.offset,
				    (unsigned long long)d->devstate_off);
	if (d->devstate_fd < 0) {
		d->devstate_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (d->devstate_fd < 0 ||
		    !qm_format(sa.sun_path, sizeof(sa.sun_path), "%s",
			       d->incoming) ||
		    connect(d->devstate_fd, (struct sockaddr *)&sa,
			    sizeof(sa)) < 0)
			return qm_error_errno(err, errno, "connecting to the "
					      "destination QEMU's incoming "
					      "socket");
	}
	while (left) {
		ssize_t n = write(d->devstate_fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return qm_error_errno(err, errno, "feeding device state "
					      "to the destination QEMU");
		p += n;
		left -= (size_t)n;
	}
	d->devstate_off += c->u.devstate.len;
	if (c->u.devstate.last) {
		close(d->devstate_fd);
		d->devstate_fd = -1;
		d->devstate_done = true;
	}
	return true;
}

/* ---- verification ---- */

/*
 * Fault injection for tests (CRIU's fault-injection.h idea): with
 * QMIG_FAULT_CORRUPT_PAGE=N in the destination agent's environment, page
 * N of the received RAM gets one byte flipped just before the first
 * verification, as a bad disk, a stray DMA or a transport bug would. The
 * verification must find it and have it resent.
 */
static void inject_corruption(dest_state *d)
{
	const char *env = getenv("QMIG_FAULT_CORRUPT_PAGE");
	const dl_ram *ram = tp_receiver_ram(d->rx);
	uint8_t *p;

	if (!env || d->fault_done)
		return;
	d->fault_done = true;
	/* The receiver maps the destination RAM writable; only its const
	 * view is public. */
	p = dl_ram_page(ram, strtoull(env, NULL, 10));
	if (p) {
		p[100] ^= 0x5a;
		pr_warn("fault injection: flipped a byte of page %s", env);
	}
}

/* Compare the source's chunk hashes with ours; for each chunk that differs
 * send our page hashes (VERIFY PAGE), then the list of differing chunks'
 * first pages (MISMATCH VERIFY; empty = all equal). */
static bool verify_chunks(dest_state *d, const tp_ctrl *c, qm_error *err)
{
	uint64_t span = c->u.verify.span, first = c->u.verify.first;
	const dl_ram *ram = tp_receiver_ram(d->rx);
	uint64_t *bad = calloc(c->u.verify.count + 1, sizeof(*bad));
	dl_hash *pages = calloc(span ? span : 1, sizeof(*pages));
	size_t nbad = 0;
	int64_t t0 = qm_now_ns();
	bool ok = bad && pages, view = true;

	if (!ok)
		qm_error_set(err, QM_ERR_NOMEM, "verify buffers");
	inject_corruption(d);
	if (ok)
		view = use_view(d, ram, (uint64_t)c->u.verify.count * span, err,
				&ok);
	for (uint32_t i = 0; ok && i < c->u.verify.count; i++) {
		uint64_t s = first + i * span;
		uint64_t n = QM_MIN(span, ram->npages - s);
		dl_hash mine;

		ok = hash_range(d, ram, view, s, n, pages, &mine, err);
		if (!ok || dl_hash_eq(mine, tp_ctrl_hash(c, i)))
			continue;
		/* Something else wrote here: a zero page resent for it must
		 * be applied, not skipped as never written. */
		tp_receiver_distrust(d->rx, s, n);
		bad[nbad++] = s;
		ok = tp_receiver_send_verify(d->rx, TP_VERIFY_PAGE, s, 1, pages,
					     n, err);
	}
	if (ok)
		ok = tp_receiver_send_mismatch(d->rx, TP_MISMATCH_VERIFY, 0, bad,
					       nbad, err);
	pr_debug("verify: %u chunk(s) of %llu page(s) checked in %.1f ms (%s), "
		 "%zu differ", c->u.verify.count, (unsigned long long)span,
		 (qm_now_ns() - t0) / 1e6, view ? "extents listed" : "read",
		 nbad);
	free(bad);
	free(pages);
	return ok;
}

/* ---- commit ---- */

static bool commit(dest_state *d, qm_error *err)
{
	qmp_migrate_info mi;

	if (!d->devstate_done)
		return qm_error_set(err, QM_ERR_PROTO, "COMMIT before the device "
				    "state ended");
	if (!qm_native_wait(d->qd, QM_MIG_DONE_MASK, 5, QD_QMP_TIMEOUT_MS, &mi,
			    err))
		return false;
	if (mi.status != QMP_MIG_STATUS_COMPLETED)
		return qm_error_set(err, QM_ERR_QMP, "destination QEMU's "
				    "incoming migration is '%s'", mi.status_str);
	/* A full RAM filesystem would kill the VM once it runs here: then
	 * it does not start here, and the source resumes it. */
	if (!tp_receiver_check_room(d->rx, err) || !qmp_cont(d->qd, err))
		return false;
	mig_dest_record(d, QM_PHASE_SWITCHOVER, true, MIGREC_NOSYNC);
	mig_fault_point("dest-running");
	/* The VM runs here from now on: acknowledge even if the announce
	 * fails (it only speeds up network convergence). */
	if (!qmp_announce_self(d->qd, NULL, NULL))
		pr_warn("announce-self failed on %s", d->m->p.vm);
	/* Killing Qd now would lose a VM that has run: a lost ACK leaves
	 * the source in doubt, and it asks us (migration.outcome). */
	if (!tp_receiver_ack_commit(d->rx, err)) {
		pr_warn("migration %s: the VM runs here, the ACK did not reach "
			"the source: %s", d->m->id, err->msg);
		qm_error_clear(err);
	}
	return true;
}

/* ---- the worker ---- */

static int serve_one(dest_state *d, qm_error *err)
{
	tp_ctrl c;
	int rc = tp_receiver_recv_ctrl(d->rx, &c, CTRL_POLL_MS, err);
	bool ok = true;

	if (rc <= 0)
		return rc;
	switch (c.type) {
	case TP_FRAME_DEVSTATE:
		/* The device state flows once the source VM is stopped. */
		if (d->m->st.phase == QM_PHASE_PRECOPY)
			mig_step(d->m, QM_EV_GATE_STOP, false);
		ok = devstate_chunk(d, &c, err);
		break;
	case TP_FRAME_VERIFY:
		/* Before the device state, a pre-copy check (verify
		 * "tracked"): no phase change. */
		if (d->devstate_done && d->m->st.phase == QM_PHASE_STOP_COPY)
			mig_step(d->m, QM_EV_FINAL_SENT, false);
		ok = verify_chunks(d, &c, err);
		break;
	case TP_FRAME_COMMIT:
		if (d->m->st.phase == QM_PHASE_VERIFY)
			mig_step(d->m, QM_EV_VERIFIED, false);
		/* In the downtime: no fsync (see qm_state_write_json_nosync). */
		mig_dest_record(d, QM_PHASE_SWITCHOVER, false, MIGREC_NOSYNC);
		mig_fault_point("dest-commit");
		ok = commit(d, err);
		if (ok)
			rc = 2;
		break;
	default:
		ok = qm_error_set(err, QM_ERR_PROTO, "unexpected control frame "
				  "%s", tp_frame_name(c.type));
	}
	tp_ctrl_release(&c);
	return ok ? rc : -1;
}

static bool run(dest_state *d, qm_error *err)
{
	int rc;

	if (!tp_receiver_accept(d->rx, err) || !qd_launch(d, err))
		return false;
	mig_dest_record(d, QM_PHASE_SETUP, false, 0);
	mig_fault_point("dest-setup");
	if (!qd_connect(d, err) || !prepare_incoming(d, err))
		return false;
	mig_step(d->m, QM_EV_START_OK, false);
	while ((rc = serve_one(d, err)) != 2) {
		if (rc < 0)
			return false;
		if (atomic_load(&d->m->cancel))
			return qm_error_set(err, QM_ERR_CANCELLED, "cancelled");
		if (!qd_alive(d, err))
			return false;
	}
	return true;
}

/* The VM runs here now: attach to it like any other, so it can be
 * listed and migrated on (QEMU serves one QMP client: ours goes first). */
static void attach_here(dest_state *d)
{
	qm_error err = QM_ERROR_INIT;

	qmp_conn_free(d->qd);
	d->qd = NULL;
	d->vm = calloc(1, sizeof(*d->vm));
	if (d->vm && agent_vm_attach(d->vm, d->m->p.vm, qd_qmp_addr(d), d->qd_pid,
				     AGENT_ATTACH_TIMEOUT_MS, &err))
		return;
	pr_warn("migration %s: the VM runs here but attaching to it failed: "
		"%s", d->m->id, err.msg);
	free(d->vm);
	d->vm = NULL;
}

static void cleanup_failed(dest_state *d)
{
	qd_kill(d);
	qd_release_ram(d);
	if (d->incoming[0])
		unlink(d->incoming);
}

/* An adopted Qd is checked before migration.prepare is answered, so a
 * caller's QEMU that cannot take the VM is a clear error there. */
static bool adopt(dest_state *d, qm_error *err)
{
	json_object *r = NULL;
	bool ok;

	if (!d->prepare)
		return true;
	ok = qd_adopt(d, err);
	if (ok) {
		r = json_object_new_object();
		json_object_object_add(r, "port", json_object_new_int(
					       tp_receiver_port(d->rx)));
	}
	mig_reply(d->m->a, d->prepare, r, err);
	d->prepare = NULL;
	return ok;
}

void *mig_dest_thread(void *arg)
{
	dest_state *d = arg;
	migration *m = d->m;
	qm_error err = QM_ERROR_INIT;

	/* Before Qd exists: its directory is what a restart cleans up if
	 * the agent dies before the pid is recorded. */
	mig_dest_record(d, QM_PHASE_SETUP, false, 0);
	if (adopt(d, &err) && run(d, &err)) {
		mig_step(m, QM_EV_COMMITTED, false);
		attach_here(d);
		/* The VM runs here: its old image is stale now. */
		if (d->staged[0])
			unlink(d->staged);
	} else {
		pr_err("migration %s: %s", m->id, err.msg);
		mig_fail_msg(m, &err);
		tp_receiver_abort(d->rx, TP_ABORT_ENGINE, err.msg);
		qmp_conn_free(d->qd);
		d->qd = NULL;
		cleanup_failed(d);
		mig_step(m, err.code == QM_ERR_CANCELLED ? QM_EV_CANCEL
							 : QM_EV_FAIL, false);
	}
	if (d->devstate_fd >= 0)
		close(d->devstate_fd);
	dl_ram_view_close(&d->view);
	/* Its teardown (stream threads, rings, the RAM mappings) takes tens
	 * of ms under load: here, not on the loop thread. */
	tp_receiver_free(d->rx);
	d->rx = NULL;
	agent_mailbox_post(m->a->mb, mig_dest_finished, d);
	return NULL;
}

/* ---- migration.prepare ---- */

static bool block_path(void *opaque, const char *id, uint64_t size,
		       char *path, size_t len)
{
	return qd_block_path(opaque, id, size, path, len);
}

bool mig_dest_prepare(dest_state *d, json_object *launch, qm_error *err)
{
	const char *host = d->m->a->peer_host;
	tp_receiver_config rc = { .listen_host = host, .psk = d->m->a->key.psk,
				  .psk_len = d->m->a->key.len,
				  .block_path = block_path,
				  /* Populating all of RAM up front costs more than
				   * faulting in the pages that really arrive (and
				   * allocates what the guest never used). */
				  .sparse_ram = true, .tls = d->m->p.tls,
				  .block_path_opaque = d };
	ld_opts o = { .state_dir = d->m->a->cfg.state_dir,
		      .vm_name = d->m->p.vm,
		      .qemu_binary = d->m->a->qemu_binary,
		      .reserved_names = reserved };

	/* An earlier image of this VM left here: offered as HAVE. */
	if (staged_path(d->m->a, d->m->p.vm, d->staged, sizeof(d->staged)) &&
	    access(d->staged, R_OK) == 0)
		rc.staged_image = d->staged;
	else
		d->staged[0] = '\0';
	/* An adopted Qd has its disks open already: only the source's
	 * memory backends and the VM directory are used from the launch
	 * description then. */
	if (!ld_desc_from_json(&d->desc, launch, err) ||
	    !ld_rewrite(&d->desc, &o, &d->lr, err) ||
	    (!d->adopted && !ld_check_external(&d->lr, NULL, err)))
		return false;
	if (mkdir(d->lr.vm_dir, 0700) < 0 && errno != EEXIST &&
	    !qm_state_open(d->lr.vm_dir, err))
		return false;
	if (!qm_state_open(d->lr.vm_dir, err))
		return false;
	d->rx = tp_receiver_new(&rc, err);
	return d->rx != NULL;
}

/* ---- shared with compat mode (mig-compat.c) ---- */

void mig_dest_record(struct dest_state *d, qm_phase phase, bool ran,
		     unsigned flags)
{
	const char *q = qd_qmp_addr(d);
	mig_record r = { .ran = ran };

	snprintf(r.vm_dir, sizeof(r.vm_dir), "%s", d->lr.vm_dir);
	snprintf(r.qmp, sizeof(r.qmp), "%s", q ? q : "");
	if (d->adopted && d->qd_pid > 0)
		r.qemu = d->qd_id;
	else if (d->qd_pid > 0 && !qm_proc_id_of(d->qd_pid, &r.qemu, NULL))
		/* It died already: recovery finds nothing to kill. */
		r.qemu.pid = 0;
	migrec_save(d->m, phase, &r, flags);
}

bool mig_dest_start_qd(dest_state *d, qm_error *err)
{
	if (d->adopted)
		return qd_adopt(d, err);
	return qd_launch(d, err) && qd_connect(d, err);
}

typedef struct deferred_reply {
	rpc_call *call;
	json_object *result;     /* NULL: fail with @err */
	qm_error err;
} deferred_reply;

static void reply_task(void *arg)
{
	deferred_reply *r = arg;

	if (r->result)
		rpc_call_complete(r->call, r->result);
	else
		rpc_call_fail(r->call, 0, &r->err);
	free(r);
}

void mig_reply(agent *a, rpc_call *call, json_object *result,
	       const qm_error *err)
{
	deferred_reply *r = calloc(1, sizeof(*r));

	if (r) {
		r->call = call;
		r->result = result;
		if (!result && err && qm_error_is_set(err))
			r->err = *err;
		else if (!result)
			qm_error_set(&r->err, QM_ERR_STATE, "failed");
	}
	if (!r || !agent_mailbox_post(a->mb, reply_task, r)) {
		pr_err("out of memory: a peer call stays unanswered");
		json_object_put(result);
		free(r);
	}
}

void mig_dest_cleanup(dest_state *d)
{
	cleanup_failed(d);
}

void mig_dest_attach(dest_state *d)
{
	attach_here(d);
}
