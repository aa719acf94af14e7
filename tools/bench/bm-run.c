/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One run: a fresh pair of agents, a freshly booted guest, one migration
 * (or, for a return trip, A -> B by qmig and then the measured B -> A),
 * driven only through the agents' API. Every method is a
 * migration.start: qmig is mode "agent", QEMU's own pre-copy is mode
 * "qemu" with its capabilities; in that mode the agents compare both RAMs after QEMU says
 * it is done and roll back on a difference (QEMU 7.2 under TCG loses
 * guest writes): such a run is a correctness failure, not a time.
 *
 *   host A (source side)                 host B (destination side)
 *   qmigd A, source QEMU  ══ link ══     qmigd B, destination QEMU
 *                                        (launched by qmigd B)
 */
#include "tools/bench/bm.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMO 15000
#define POLL_MS 50

static char g_dir[QL_PATH_MAX], g_psk[QL_PATH_MAX + 8];
static char g_pred[QL_PATH_MAX + 32];	/* the learned predictor */
static unsigned g_runs;

/* One host: its agent, the state dir it runs on, a client to it. */
typedef struct host {
	ql_agent ag;
	char state[QL_PATH_MAX + 32];
	char vmdir[QL_PATH_MAX + 64];	/* where it keeps the bench VM */
	rpc_client *cl;
} host;

static struct {
	ql_vm src;
	host a, b;
} cur;

void bm_run_init(const char *dir, const char *psk)
{
	snprintf(g_dir, sizeof(g_dir), "%s", dir);
	snprintf(g_psk, sizeof(g_psk), "%s", psk);
	snprintf(g_pred, sizeof(g_pred), "%s/predictor.json", dir);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void host_down(host *h)
{
	rpc_client_free(h->cl);
	h->cl = NULL;
	if (!h->state[0])
		return;
	/* VMs outlive their agents by design: the QEMUs this agent started
	 * go first, then the agent, then its state (RAM files included). */
	bm_kill_qemus(h->state);
	ql_agent_stop(&h->ag);
	if (!getenv("QMIG_KEEP"))
		nftw(h->state, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	h->state[0] = '\0';
}

void bm_run_teardown(void)
{
	bm_watch_stop();
	ql_vm_stop(&cur.src);
	host_down(&cur.a);
	host_down(&cur.b);
	memset(&cur, 0, sizeof(cur));
}

static bool copy_file(const char *from, const char *to)
{
	size_t len = 0;
	char *buf = qm_read_file(from, 1 << 20, &len, NULL);
	FILE *f;
	bool ok;

	if (!buf)
		return false;
	f = fopen(to, "w");
	ok = f && fwrite(buf, 1, len, f) == len;
	if (f)
		ok = !fclose(f) && ok;
	free(buf);
	return ok;
}

/*
 * A fresh agent on @side, on a state dir of its own, seeded with the
 * predictor learned from this scenario's earlier qmig runs (@learn): the
 * predictor corrects itself by the error of earlier migrations, which an
 * agent on a real host has seen; a fresh state dir each run keeps
 * everything else (staged copies, records) from leaking between runs.
 */
static void host_up(host *h, const char *name, bm_side side,
		    const char *listen, bool learn)
{
	const char *args[] = { "--psk-file", g_psk, "--peer-listen", listen,
			       "--state-dir", h->state, NULL };
	qm_error err = QM_ERROR_INIT;
	char pred[QL_PATH_MAX + 64];

	snprintf(h->state, sizeof(h->state), "%s/%s-%u", g_dir, name, g_runs);
	if (mkdir(h->state, 0700))
		bm_die("%s: %m", h->state);
	snprintf(pred, sizeof(pred), "%s/predictor.json", h->state);
	if (learn && !access(g_pred, R_OK) && !copy_file(g_pred, pred))
		bm_die("%s: %m", pred);
	/* Given last, this --state-dir is the one qmigd uses (the
	 * launcher's own, in its temp dir, stays empty). */
	if (!bm_agent_start(&h->ag, name, side, args, &err))
		bm_die("qmigd %s: %s", name, err.msg);
	snprintf(h->vmdir, sizeof(h->vmdir), "%s/vms/" BM_VM, h->state);
	h->cl = rpc_client_connect(h->ag.rpc, TMO, &err);
	if (!h->cl)
		bm_die("%s: %s", h->ag.rpc, err.msg);
}

/* Keep what the source of a completed qmig migration learned. */
static void learned_from(const host *h)
{
	char pred[QL_PATH_MAX + 64];

	snprintf(pred, sizeof(pred), "%s/predictor.json", h->state);
	if (!access(pred, R_OK) && !copy_file(pred, g_pred))
		bm_die("%s: %m", g_pred);
}

static void fail(bm_run *r, bool correctness, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(bm_run *r, bool correctness, const char *fmt, ...)
{
	va_list ap;

	snprintf(r->status, sizeof(r->status), "%s",
		 correctness ? "FAILED(correctness)" : "FAILED(error)");
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

static json_object *get(json_object *o, const char *k)
{
	json_object *v = NULL;

	json_object_object_get_ex(o, k, &v);
	return v;
}

static json_object *call(rpc_client *cl, const char *method, json_object *p)
{
	qm_error err = QM_ERROR_INIT;
	json_object *r = rpc_client_call(cl, method, p, TMO, &err);

	if (!r)
		bm_die("%s", err.msg);
	return r;
}

static bool final_phase(const char *ph)
{
	return !strcmp(ph, "completed") || !strcmp(ph, "failed") ||
	       !strcmp(ph, "rolled-back") || !strcmp(ph, "cancelled") ||
	       !strcmp(ph, "in-doubt");
}

static bool pred_passes(const gl_log *l, const void *arg)
{
	return l->stats && l->stat.passes >= *(const uint64_t *)arg;
}

/*
 * The destination runs: wait until the guest there finished a whole
 * check pass of its working set (so a lost update would have been
 * printed as CORRUPT), then judge heartbeat continuity against the
 * source's log.
 */
static void check_dest(bm_run *r)
{
	uint64_t one = 1, passes;
	gl_continuity c;
	gl_log src, dst;

	r->continuity = "UNKNOWN";
	if (!bm_watch_wait(1, gl_pred_hb_count, &one, 20000)) {
		fail(r, true, "no heartbeat on the destination within 20 s");
		return;
	}
	if (!bm_watch_wait(1, pred_passes, &one, 30000)) {
		fail(r, true, "no STAT line on the destination within 30 s");
		return;
	}
	dst = bm_watch_snap(1);
	passes = dst.stat.passes + 2;
	if (!bm_watch_wait(1, pred_passes, &passes, 60000))
		snprintf(r->error, sizeof(r->error), "no full check pass on "
			 "the destination within 60 s");
	src = bm_watch_snap(0);
	dst = bm_watch_snap(1);
	gl_continuity_check(&src, &dst, &c);
	r->corrupt = dst.corrupt_total;
	r->breaks = dst.hb_seq_breaks;
	r->continuity = gl_verdict_name(c.verdict);
	r->gv_ms = c.downtime_ns == GL_TS_NONE ? -1 : c.downtime_ns / 1e6;
	if (c.verdict != GL_VERDICT_OK || r->corrupt || r->breaks)
		fail(r, true, "continuity %s (source last HB %llu, destination "
		     "first %llu%s%s), %lld CORRUPT, %lld heartbeat breaks",
		     r->continuity, (unsigned long long)c.src_last.seq,
		     (unsigned long long)c.dst_first.seq, c.why[0] ? ": " : "",
		     c.why, (long long)r->corrupt, (long long)r->breaks);
	else
		r->correct = true;
}

static json_object *start_params(const bm_scenario *s, int method,
				 const char *dest)
{
	json_object *p = json_object_new_object();

#define ADD(k, v) json_object_object_add(p, k, v)
	ADD("vm", json_object_new_string(BM_VM));
	ADD("dest", json_object_new_string(dest));
	ADD("max_downtime_ms", json_object_new_double(s->max_downtime_ms));
	ADD("verify", json_object_new_string(s->verify));
	if (s->deadline_s > 0) {
		ADD("deadline", json_object_new_double(s->deadline_s));
		ADD("on_deadline", json_object_new_string(
			s->on_deadline_force ? "force" : "abort"));
	}
	if (method != M_QMIG) {
		ADD("mode", json_object_new_string("qemu"));
		if (method == M_MULTIFD) {
			ADD("multifd", json_object_new_boolean(true));
			ADD("multifd_channels", json_object_new_int(2));
		}
		if (method == M_XBZRLE)
			ADD("xbzrle", json_object_new_boolean(true));
		if (method == M_AUTOCONV)
			ADD("auto_converge", json_object_new_boolean(true));
	}
#undef ADD
	return p;
}

static json_object *id_param(const char *id)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "id", json_object_new_string(id));
	return p;
}

/* migration.list leaves out the rounds history: cheap to poll. */
static json_object *brief_status(rpc_client *cl, const char *id)
{
	json_object *l = call(cl, "migration.list", NULL);
	json_object *a = get(l, "migrations");

	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		json_object *m = json_object_array_get_idx(a, i);

		if (!strcmp(json_object_get_string(get(m, "id")), id)) {
			json_object_get(m);
			json_object_put(l);
			return m;
		}
	}
	bm_die("migration %s is not listed by its source agent", id);
}

static void take_rounds(bm_run *r, json_object *st)
{
	json_object *a = get(st, "rounds");
	size_t n = a ? json_object_array_length(a) : 0;

	free(r->round);
	r->round = n ? calloc(n, sizeof(*r->round)) : NULL;
	r->nround = r->round ? (int)n : 0;
	for (int i = 0; i < r->nround; i++) {
		json_object *o = json_object_array_get_idx(a, i);
		bm_round *d = &r->round[i];

		d->round = (unsigned)json_object_get_int64(get(o, "round"));
		d->pages_sent = json_object_get_double(get(o, "pages_sent"));
		d->bytes = json_object_get_double(get(o, "bytes"));
		d->dirty_pages = json_object_get_double(get(o, "dirty_pages"));
		d->duration_ms = json_object_get_double(get(o, "duration_ms"));
		d->predicted_ms = json_object_get_double(
				get(o, "predicted_downtime_ms"));
	}
}

/* {"final_scan": 1.5, ...} as "final_scan:1.5,..." */
static void parts_of(json_object *o, char *buf, size_t len)
{
	buf[0] = '\0';
	json_object_object_foreach(o, k, v) {
		size_t n = strlen(buf);

		snprintf(buf + n, len - n, "%s%s:%.1f", n ? "," : "", k,
			 json_object_get_double(v));
	}
}

static void take_status(bm_run *r, json_object *st)
{
	json_object *v;

	snprintf(r->phase, sizeof(r->phase), "%s",
		 json_object_get_string(get(st, "phase")));
	r->total_ms = json_object_get_double(get(st, "elapsed_ms"));
	v = get(st, "downtime_ms");
	r->downtime_ms = v ? json_object_get_double(v) : -1;
	r->predicted_ms = json_object_get_double(get(st,
						     "predicted_downtime_ms"));
	r->reported_bytes = json_object_get_int64(get(st, "bytes_on_wire"));
	r->rounds = json_object_get_int64(get(st, "round"));
	r->mismatches = json_object_get_int64(get(get(st, "verify"),
						  "mismatches"));
	r->pages_have = json_object_get_int64(get(get(st, "pages"), "have"));
	parts_of(get(st, "downtime_parts_ms"), r->parts, sizeof(r->parts));
	parts_of(get(st, "predicted_parts_ms"), r->pparts, sizeof(r->pparts));
	take_rounds(r, st);
}

/*
 * One migration from agent @from (client @cl, its QEMU @src_pid) to the
 * agent @to listening at @dest; fills @r. The guest's logs are already
 * followed (source: 0, destination: 1).
 */
static void leg(const bm_scenario *s, int method, bm_run *r,
		const host *from, const host *to, pid_t src_pid,
		const char *dest)
{
	rpc_client *cl = from->cl;
	char id[64];
	json_object *st, *res;
	uint64_t bytes0;
	double cpu0, qd_cpu = 0;
	int64_t t0, end;
	pid_t qd = 0;
	bool cancelled = false;
	const char *ph;

	bm_mig_threads_reset();
	bytes0 = bm_link_bytes();
	cpu0 = bm_proc_cpu(from->ag.pid) + bm_proc_cpu(to->ag.pid);
	t0 = qm_now_ms();
	res = call(cl, "migration.start", start_params(s, method, dest));
	snprintf(id, sizeof(id), "%s", json_object_get_string(get(res, "id")));
	json_object_put(res);
	end = t0 + s->timeout_s * 1000LL;
	for (;;) {
		st = brief_status(cl, id);
		ph = json_object_get_string(get(st, "phase"));
		r->throttle_max = QM_MAX(r->throttle_max, json_object_get_int64(
					 get(st, "throttle_pct")));
		/* The destination QEMU's work ends when it is told to run:
		 * sample it until then (it runs the guest afterwards). */
		if (!qd)
			qd = bm_find_qemu(to->state);
		if (qd && strcmp(ph, "switchover") && !final_phase(ph))
			qd_cpu = bm_proc_cpu(qd);
		bm_mig_threads_sample(src_pid);
		if (final_phase(ph))
			break;
		json_object_put(st);
		if (qm_now_ms() > end) {
			if (cancelled)
				bm_die("migration %s still running 30 s after "
				       "migration.cancel", id);
			json_object_put(call(cl, "migration.cancel",
					     id_param(id)));
			cancelled = true;
			end += 30000;
		}
		bm_check_intr();
		bm_sleep_ms(POLL_MS);
	}
	json_object_put(st);
	r->wire_bytes = bm_link_bytes() - bytes0;
	r->cpu_agents_s = bm_proc_cpu(from->ag.pid) + bm_proc_cpu(to->ag.pid) -
			  cpu0;
	r->cpu_s = r->cpu_agents_s + bm_mig_threads_cpu() + qd_cpu;
	st = call(cl, "migration.status", id_param(id));
	take_status(r, st);
	r->completed = !strcmp(r->phase, "completed");
	if (!r->completed) {
		const char *e = json_object_get_string(get(st, "error"));

		/* QEMU (or the agents' copy) finished, but what arrived is
		 * not what the source holds: the agents refused to run it. */
		if (r->mismatches > 0 && !strcmp(r->phase, "rolled-back")) {
			r->completed = true;
			fail(r, true, "%s: %s", r->phase, e ? e : "");
		} else {
			fail(r, false, "%s%s: %s", cancelled ? "cancelled "
			     "by the bench after timeout_s, " : "", r->phase,
			     e ? e : "");
		}
	}
	json_object_put(st);
}

/* The destination agent attaches the VM right after it runs it. */
static void wait_listed(rpc_client *cl)
{
	for (int i = 0; i < 250; i++) {
		json_object *l = call(cl, "vm.list", NULL);
		size_t n = json_object_array_length(get(l, "vms"));

		json_object_put(l);
		if (n)
			return;
		bm_sleep_ms(20);
	}
	bm_die("the VM is not listed on its destination 5 s after completion");
}

void bm_run_one(const bm_scenario *s, int method, bm_run *r)
{
	char pa[64], pb[64], log[QL_PATH_MAX + 96];
	const char *extra[] = { "-name", "debug-threads=on", NULL };
	ql_vm_opts o = { .name = "src", .ram_bytes = s->ram,
			 .append = s->append, .shm_dir = g_dir,
			 .extra_args = extra };
	qm_error err = QM_ERROR_INIT;
	json_object *p;
	bool back = false;

	g_runs++;
	snprintf(pa, sizeof(pa), "%s:%d", bm_link_addr(BM_SRC),
		 bm_link_port(BM_SRC));
	snprintf(pb, sizeof(pb), "%s:%d", bm_link_addr(BM_DST),
		 bm_link_port(BM_DST));
	host_up(&cur.a, "a", BM_SRC, pa, s->learn);
	host_up(&cur.b, "b", BM_DST, pb, s->learn);
	if (!bm_vm_start(&cur.src, &o, BM_SRC, &err))
		bm_die("source VM: %s", err.msg);
	snprintf(log, sizeof(log), "%s/serial.log", cur.b.vmdir);
	bm_watch_start(cur.src.serial_path, log);
	if (!bm_watch_wait(0, gl_pred_ready, NULL, 30000))
		bm_die("the guest did not print READY within 30 s (%s)",
		       cur.src.serial_path);
	bm_sleep_ms(s->warmup_ms);
	p = json_object_new_object();
	json_object_object_add(p, "name", json_object_new_string(BM_VM));
	json_object_object_add(p, "qmp",
			       json_object_new_string(cur.src.qmp_path));
	json_object_put(call(cur.a.cl, "vm.attach", p));

	r->load = bm_load1();
	/* A return trip's first leg only puts the VM on B and leaves A an
	 * earlier copy (qmig keeps it staged): always qmig, so that every
	 * method's measured leg starts from the same state. */
	leg(s, s->return_trip ? M_QMIG : method, r, &cur.a, &cur.b,
	    cur.src.pid, pb);
	if (r->completed && !r->status[0])
		check_dest(r);
	if (s->return_trip && r->correct) {
		bm_run first = *r;

		/* Back to A: only this second leg is measured. */
		wait_listed(cur.b.cl);
		bm_sleep_ms(s->return_after_ms);
		snprintf(log, sizeof(log), "%s/serial.log", cur.a.vmdir);
		bm_watch_shift(log);
		back = true;
		memset(r, 0, sizeof(*r));
		r->rep = first.rep;
		r->gv_ms = -1;
		r->load = bm_load1();
		free(first.round);
		leg(s, method, r, &cur.b, &cur.a, bm_find_qemu(cur.b.state),
		    pa);
		if (r->completed && !r->status[0])
			check_dest(r);
	} else if (s->return_trip) {
		char e[sizeof(r->error)];

		memcpy(e, r->error, sizeof(e));
		snprintf(r->error, sizeof(r->error), "A -> B (qmig, before "
			 "the measured leg): %.340s", e);
	}
	if (method == M_QMIG && r->completed)
		learned_from(back ? &cur.b : &cur.a);
	r->dst_alloc = bm_alloc_in_dir(back ? cur.a.vmdir : cur.b.vmdir);
	if (!r->status[0])
		snprintf(r->status, sizeof(r->status), "ok");
	if (s->deadline_s > 0)
		r->deadline_met = r->correct &&
				  r->total_ms <= s->deadline_s * 1000;
}
