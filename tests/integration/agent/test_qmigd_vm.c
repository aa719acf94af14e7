/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmigd's VM methods over its real JSON-RPC socket, with the workload
 * guest under TCG: attach reports what the agent found; duplicate names,
 * bad names, unknown VMs, wrong types and unknown members get the
 * documented error codes; a dirty-rate measurement matches the rate the
 * guest really wrote at (from its own STAT lines: under a loaded host a
 * TCG guest falls short of the rate it was told) while the agent keeps
 * answering other calls within 100 ms; a QEMU that dies shows as lost; detach works; SIGTERM ends the
 * agent cleanly.
 */
#include "tests/qmig_test.h"
#include "agent/rpc.h"
#include "tools/guest/guestlog.h"
#include "tools/launch/launch.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RATE 4000
#define TMO 15000

typedef struct fx {
	ql_agent ag;
	ql_vm vm;
	rpc_client *cl;
} fx;

static int fx_setup(void **state)
{
	char append[64];
	ql_vm_opts o = { .name = "qd-vm", .ram_bytes = 256 << 20,
			 .append = append, .accel = QL_ACCEL_TCG };
	qm_error err = QM_ERROR_INIT;
	fx *f = calloc(1, sizeof(*f));

	*state = f;
	snprintf(append, sizeof(append), "ws=64M rate=%d pattern=seq", RATE);
	if (!ql_agent_start(&f->ag, "vmtest", NULL, &err) ||
	    !ql_vm_start(&f->vm, &o, &err) ||
	    !(f->cl = rpc_client_connect(f->ag.rpc, TMO, &err))) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int fx_teardown(void **state)
{
	fx *f = *state;

	rpc_client_free(f->cl);
	ql_vm_stop(&f->vm);
	ql_agent_stop(&f->ag);
	free(f);
	return 0;
}

static json_object *call(fx *f, const char *method, const char *params,
			 qm_error *err)
{
	return rpc_client_call(f->cl, method, json_tokener_parse(params), TMO,
			       err);
}

static json_object *call_ok(fx *f, const char *method, const char *params)
{
	qm_error err = QM_ERROR_INIT;
	json_object *r = call(f, method, params, &err);

	if (!r)
		fail_msg("%s: %s", method, err.msg);
	return r;
}

static void expect_error(fx *f, const char *method, const char *params,
			 int code)
{
	qm_error err = QM_ERROR_INIT;
	json_object *r = call(f, method, params, &err);

	if (r)
		fail_msg("%s %s: expected error %d, got %s", method, params,
			 code, json_object_to_json_string(r));
	printf("# %s %s -> %d %s\n", method, params, err.subclass, err.msg);
	assert_int_equal(err.subclass, code);
}

static json_object *get(json_object *o, const char *k)
{
	json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, k, &v));
	return v;
}

static void attach(fx *f)
{
	char p[512];
	json_object *r, *regions;

	snprintf(p, sizeof(p), "{\"name\": \"g1\", \"qmp\": \"%s\"}",
		 f->vm.qmp_path);
	r = call_ok(f, "vm.attach", p);
	assert_string_equal(json_object_get_string(get(r, "name")), "g1");
	assert_int_equal(json_object_get_int(get(r, "pid")), f->vm.pid);
	assert_int_equal(json_object_get_int64(get(r, "ram_bytes")), 256 << 20);
	regions = get(r, "regions");
	assert_int_equal(json_object_array_length(regions), 1);
	assert_string_equal(json_object_get_string(get(
		json_object_array_get_idx(regions, 0), "backend")), "file");
	assert_int_equal(json_object_array_length(get(r, "vcpu_threads")), 1);
	assert_non_null(json_object_get_string(get(r, "tracker")));
	json_object_put(r);
}

/* Attach, list, the refusals, detach. */
static void test_attach_list_detach(void **state)
{
	fx *f = *state;
	json_object *r;
	char p[512];

	attach(f);
	snprintf(p, sizeof(p), "{\"name\": \"g1\", \"qmp\": \"%s\"}",
		 f->vm.qmp_path);
	expect_error(f, "vm.attach", p, RPC_ERR_NOT_ALLOWED);
	expect_error(f, "vm.attach", "{\"name\": \"../x\", \"qmp\": \"/x\"}",
		     RPC_ERR_INVALID_PARAMS);
	expect_error(f, "vm.attach", "{\"name\": \"g2\", \"qmp\": "
		     "\"/nonexistent/qmp.sock\"}", RPC_ERR_SYSTEM);
	expect_error(f, "vm.attach", "{\"name\": \"g2\"}",
		     RPC_ERR_INVALID_PARAMS);
	expect_error(f, "vm.list", "{\"bogus\": 1}", RPC_ERR_INVALID_PARAMS);
	expect_error(f, "vm.detach", "{\"vm\": \"nope\"}", RPC_ERR_VM_NOT_FOUND);
	expect_error(f, "dirtyrate.measure", "{\"vm\": \"g1\", \"seconds\": "
		     "\"x\"}", RPC_ERR_INVALID_PARAMS);
	expect_error(f, "dirtyrate.measure", "{\"vm\": \"g1\", \"seconds\": "
		     "0}", RPC_ERR_INVALID_PARAMS);
	expect_error(f, "no.such.method", "{}", RPC_ERR_METHOD_NOT_FOUND);
	r = call_ok(f, "vm.list", "{}");
	assert_int_equal(json_object_array_length(get(r, "vms")), 1);
	json_object_put(r);
	json_object_put(call_ok(f, "vm.detach", "{\"vm\": \"g1\"}"));
	r = call_ok(f, "vm.list", "{}");
	assert_int_equal(json_object_array_length(get(r, "vms")), 0);
	json_object_put(r);
}

typedef struct measure_arg {
	const char *rpc;
	json_object *result;
	qm_error err;
} measure_arg;

static void *measure_thread(void *p)
{
	measure_arg *m = p;
	rpc_client *cl = rpc_client_connect(m->rpc, TMO, &m->err);

	if (cl)
		m->result = rpc_client_call(cl, "dirtyrate.measure",
					    json_tokener_parse("{\"vm\": \"g1\", "
							       "\"seconds\": 2}"),
					    TMO, &m->err);
	rpc_client_free(cl);
	return NULL;
}

static bool pred_stats(const gl_log *l, const void *arg)
{
	return l->stats >= *(const unsigned *)arg;
}

/* The guest's next STAT line (once a guest second). */
static gl_stat next_stat(gl_follow *g)
{
	qm_error err = QM_ERROR_INIT;
	unsigned want;

	gl_follow_process(g, NULL);
	want = g->log.stats + 1;
	if (!gl_follow_wait(g, pred_stats, &want, "STAT lines", TMO, &err))
		fail_msg("guest STAT: %s", err.msg);
	return g->log.stat;
}

/* A two-second measurement matches the rate the guest wrote at around
 * it; meanwhile the agent answers agent.info within 100 ms, and a second
 * measurement of the same VM is refused as busy. */
static void test_measure_while_serving(void **state)
{
	fx *f = *state;
	measure_arg m = { .rpc = f->ag.rpc, .err = QM_ERROR_INIT };
	qm_error err = QM_ERROR_INIT;
	double rate, wrote, worst = 0;
	gl_stat s0, s1;
	gl_follow g;
	pthread_t tid;

	attach(f);
	if (!gl_follow_open(&g, f->vm.serial_path, 0, &err))
		fail_msg("serial log: %s", err.msg);
	s0 = next_stat(&g);
	assert_int_equal(pthread_create(&tid, NULL, measure_thread, &m), 0);
	usleep(300 * 1000);
	expect_error(f, "dirtyrate.measure", "{\"vm\": \"g1\"}", RPC_ERR_VM_BUSY);
	for (int i = 0; i < 10; i++) {
		int64_t t0 = qm_now_ns();

		json_object_put(call_ok(f, "agent.info", "{}"));
		worst = fmax(worst, (qm_now_ns() - t0) / 1e6);
		usleep(100 * 1000);
	}
	pthread_join(tid, NULL);
	s1 = next_stat(&g);
	gl_follow_close(&g);
	if (!m.result)
		fail_msg("measure: %s", m.err.msg);
	rate = json_object_get_double(get(m.result, "dirty_pages_per_s"));
	/* Distinct pages: the sequential working set (16384 pages) is not
	 * wrapped in two seconds at this rate. */
	wrote = (double)(s1.writes - s0.writes) * 1e9 / (double)(s1.ts - s0.ts);
	printf("# measured %.0f pages/s; the guest wrote %.0f pages/s around "
	       "it (told %d); agent.info worst %.1f ms during the "
	       "measurement\n", rate, wrote, RATE, worst);
	assert_true(s1.ts > s0.ts);
	assert_true(fabs(rate - wrote) <= 0.25 * wrote);
	assert_true(worst < 100);
	json_object_put(m.result);
}

/* A QEMU that dies while attached is reported as lost, with a reason. */
static void test_qemu_dies(void **state)
{
	fx *f = *state;
	json_object *r, *v;

	attach(f);
	kill(f->vm.pid, SIGKILL);
	for (int i = 0; i < 100; i++) {
		r = call_ok(f, "vm.list", "{}");
		v = json_object_array_get_idx(get(r, "vms"), 0);
		if (!strcmp(json_object_get_string(get(v, "status")), "lost")) {
			printf("# lost: %s\n",
			       json_object_get_string(get(v, "error")));
			json_object_put(r);
			return;
		}
		json_object_put(r);
		usleep(50 * 1000);
	}
	fail_msg("the dead VM was never reported lost");
}

/* SIGTERM: the agent exits with 0 and removes its socket. */
static void test_sigterm(void **state)
{
	fx *f = *state;
	int status;

	kill(f->ag.pid, SIGTERM);
	waitpid(f->ag.pid, &status, 0);
	f->ag.pid = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_not_equal(access(f->ag.rpc + 5, F_OK), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_attach_list_detach),
		T(test_measure_while_serving),
		T(test_qemu_dies),
		T(test_sigterm),
	};
	const char *kernel = ql_guest_kernel();

	if (!ql_qemu_binary())
		QT_SKIP("qemu-system-x86_64 not found (set QMIG_QEMU)");
	if (!*kernel || access(kernel, R_OK))
		QT_SKIP("guest kernel not built (QMIG_GUEST=%s)", kernel);
	return cmocka_run_group_tests_name("/agent/qmigd/vm", tests, NULL, NULL);
}
