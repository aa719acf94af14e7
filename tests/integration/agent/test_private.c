/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A VM whose RAM is private (plain -m: QEMU's implicit pc.ram backend,
 * share=off; and a memory-backend-file with share=off), between two real
 * agents on loopback, under TCG:
 *  - vm.attach takes it and says so (backend "private", shared false,
 *    the backends as QEMU reports them, no tracker); vm.list and a
 *    restarted agent show it the same way;
 *  - what needs its RAM refuses it, naming the way out: mode "agent"
 *    (-32004), mode "qemu" unless verify "none" (-32602);
 *    dirtyrate.measure asks QEMU instead (calc-dirty-rate);
 *  - mode "qemu" with verify "none" moves it: the source QEMU quits, the
 *    guest continues on the destination from the source's last
 *    heartbeat, and both agents' status says the verification was
 *    skipped, and why.
 * The guest writes one page a second: QEMU 7.2's own pre-copy under TCG
 * loses guest writes (DESIGN.md section 9), and nothing here could catch
 * it, so the test keeps what there is to lose small.
 */
#include "tests/integration/agent/pair.h"

#include <string.h>
#include <unistd.h>

#define RAM_BYTES (64ull << 20)

static json_object *call_on(rpc_client *cl, const char *method,
			    const char *params)
{
	qm_error err = QM_ERROR_INIT;
	json_object *r = rpc_client_call(cl, method, params ?
					 json_tokener_parse(params) : NULL,
					 TMO, &err);

	if (!r)
		fail_msg("%s %s: %s", method, params ? params : "", err.msg);
	return r;
}

/* What vm.attach and vm.list say about a private VM. */
static void expect_private(json_object *v)
{
	json_object *regions = get(v, "regions"), *r0;

	printf("# %s\n", json_object_to_json_string(v));
	assert_string_equal(str(v, "name"), "g1");
	assert_string_equal(str(v, "backend"), "private");
	assert_false(json_object_get_boolean(get(v, "shared")));
	assert_non_null(strstr(str(v, "private_reason"),
			       "backend pc.ram is not shared"));
	assert_int_equal(json_object_get_int64(get(v, "ram_bytes")), RAM_BYTES);
	assert_string_equal(str(v, "tracker"), "none");
	assert_int_equal(json_object_array_length(regions), 1);
	r0 = json_object_array_get_idx(regions, 0);
	assert_string_equal(str(r0, "id"), "pc.ram");
	assert_int_equal(json_object_get_int64(get(r0, "size")), RAM_BYTES);
	assert_string_equal(str(r0, "backend"), "ram");
	assert_false(json_object_get_boolean(get(r0, "share")));
	assert_null(get(r0, "path"));
	assert_true(json_object_array_length(get(v, "vcpu_threads")) >= 1);
}

static json_object *attach_answer(fx *f)
{
	char p[512];

	snprintf(p, sizeof(p), "{\"name\": \"g1\", \"qmp\": \"%s\"}",
		 f->vm.qmp_path);
	return call_on(f->cs, "vm.attach", p);
}

/* The only VM @cl lists, which must be g1. */
static json_object *listed(rpc_client *cl)
{
	json_object *r = call_on(cl, "vm.list", NULL), *v;

	assert_int_equal(json_object_array_length(get(r, "vms")), 1);
	v = json_object_get(json_object_array_get_idx(get(r, "vms"), 0));
	json_object_put(r);
	return v;
}

/* migration.start with @params is refused with @code and a message
 * holding every one of @want (NULL-terminated). */
static void expect_refused(fx *f, const char *params, int code,
			   const char *const *want)
{
	char msg[QM_ERROR_MSG_MAX];

	expect_start_refused(f, params, code, msg, sizeof(msg));
	for (; *want; want++)
		if (!strstr(msg, *want))
			fail_msg("error '%s' does not say '%s'", msg, *want);
}

/* Attached as private; listed so; what needs the RAM refuses it with
 * the way out; QEMU measures its dirty rate; nothing was started. */
static void test_attach_and_refusals(void **state)
{
	static const char *const agent_mode[] = {
		"not on a shared backend", "mode \"qemu\"",
		"verify \"none\"", "share=on", "memory-backend-file",
		"memory-backend-memfd", NULL };
	static const char *const unverified[] = {
		"private RAM", "cannot verify", "verify \"none\"",
		"unverified", "loses guest writes", NULL };
	static const char *const agent_verify_none[] = {
		"verify \"none\" is for mode \"qemu\"", NULL };
	fx *f = *state;
	json_object *r, *v;

	r = attach_answer(f);
	expect_private(r);
	json_object_put(r);
	v = listed(f->cs);
	expect_private(v);
	assert_false(json_object_get_boolean(get(v, "migrating")));
	json_object_put(v);

	expect_refused(f, "\"mode\": \"agent\"", RPC_ERR_UNSUPPORTED,
		       agent_mode);
	expect_refused(f, "\"mode\": \"qemu\"", RPC_ERR_INVALID_PARAMS,
		       unverified);
	expect_refused(f, "\"mode\": \"qemu\", \"verify\": \"full\"",
		       RPC_ERR_INVALID_PARAMS, unverified);
	expect_refused(f, "\"verify\": \"none\"", RPC_ERR_INVALID_PARAMS,
		       agent_verify_none);

	/* QEMU's own estimate (page sampling): the agent cannot hash it. */
	r = call_on(f->cs, "dirtyrate.measure",
		    "{\"vm\": \"g1\", \"seconds\": 1}");
	printf("# %s\n", json_object_to_json_string(r));
	assert_string_equal(str(r, "method"), "qemu");
	assert_true(json_object_get_double(get(r, "dirty_bytes_per_s")) >= 0);
	assert_true(json_object_get_int64(get(r, "sample_pages")) > 0);
	assert_null(get(r, "pages_scanned"));
	json_object_put(r);

	/* Nothing started; the VM is free (the measurement handed its QMP
	 * connection back) and still runs here. */
	assert_int_equal(scan_qemus(f->dst.state_dir, false), 0);
	v = listed(f->cs);
	assert_false(json_object_get_boolean(get(v, "migrating")));
	assert_string_equal(str(v, "status"), "running");
	json_object_put(v);
	expect_on_source(f);
}

/* A restarted agent takes the private VM back from its record. */
static void test_restart_reattaches(void **state)
{
	fx *f = *state;
	char rec[QL_PATH_MAX + 32];
	json_object *v;

	json_object_put(attach_answer(f));
	/* The record is written behind the answer: kill once it is there. */
	snprintf(rec, sizeof(rec), "%s/vms/g1/vm.json", f->src.state_dir);
	for (int i = 0; i < 100 && access(rec, F_OK); i++)
		usleep(20 * 1000);
	assert_int_equal(access(rec, F_OK), 0);
	ql_agent_kill(&f->src);
	fx_restart(f, &f->src);
	v = listed(f->cs);
	expect_private(v);
	assert_string_equal(str(v, "status"), "running");
	json_object_put(v);
	expect_on_source(f);
}

static void expect_skipped(json_object *st, const char *side)
{
	json_object *ver = get(st, "verify");

	printf("# %s: %s\n", side, json_object_to_json_string(st));
	assert_string_equal(str(st, "phase"), "completed");
	assert_string_equal(str(st, "mode"), "qemu");
	assert_false(json_object_get_boolean(get(ver, "done")));
	assert_false(json_object_get_boolean(get(ver, "passed")));
	assert_int_equal(json_object_get_int64(get(ver, "pages_checked")), 0);
	assert_non_null(strstr(str(ver, "skipped"), "verify \"none\""));
	assert_non_null(strstr(str(ver, "skipped"), "no page compared"));
}

/* Mode "qemu", verify "none": QEMU moves it, the agents switch over. */
static void test_migrate_unverified(void **state)
{
	fx *f = *state;
	json_object *st, *v;
	rpc_client *cd;
	qm_error err = QM_ERROR_INIT;
	char p[128];
	char *id;

	json_object_put(attach_answer(f));
	id = start(f, "\"mode\": \"qemu\", \"verify\": \"none\"");
	st = wait_final(f, id);
	expect_skipped(st, "source");
	assert_non_null(strstr(str(get(st, "verify"), "skipped"),
			       "RAM is private"));
	assert_true(json_object_get_double(get(st, "downtime_ms")) > 0);
	json_object_put(st);
	expect_on_dest(f);

	cd = rpc_client_connect(f->dst.rpc, TMO, &err);
	if (!cd)
		fail_msg("destination agent: %s", err.msg);
	snprintf(p, sizeof(p), "{\"id\": \"%s\"}", id);
	st = call_on(cd, "migration.status", p);
	expect_skipped(st, "destination");
	json_object_put(st);
	/* It runs there as a private VM too, ready to move on. */
	v = listed(cd);
	expect_private(v);
	json_object_put(v);
	rpc_client_free(cd);
	free(id);
}

/* The same with a memory-backend-file and share=off: QEMU maps the file
 * privately, the destination QEMU gets its own file in its VM directory
 * (docs/LAUNCH.md), and nothing but QEMU's stream carries the RAM. */
static void test_migrate_share_off(void **state)
{
	fx *f = *state;
	json_object *r, *st, *r0;
	char *id;

	r = attach_answer(f);
	printf("# %s\n", json_object_to_json_string(r));
	assert_string_equal(str(r, "backend"), "private");
	assert_non_null(strstr(str(r, "private_reason"),
			       "backend ram0 is not shared (share=off)"));
	r0 = json_object_array_get_idx(get(r, "regions"), 0);
	assert_string_equal(str(r0, "id"), "ram0");
	assert_string_equal(str(r0, "backend"), "file");
	assert_false(json_object_get_boolean(get(r0, "share")));
	json_object_put(r);
	id = start(f, "\"mode\": \"qemu\", \"verify\": \"none\"");
	st = wait_final(f, id);
	expect_skipped(st, "source");
	json_object_put(st);
	expect_on_dest(f);
	free(id);
}

static char share_off_obj[200];
static char share_off_path[100];
static const char *const share_off_args[] = {
	"-object", share_off_obj, "-machine", "memory-backend=ram0", NULL };

static int group_setup(void **state)
{
	snprintf(share_off_path, sizeof(share_off_path),
		 "/dev/shm/qmig-private-%d-off.ram", (int)getpid());
	snprintf(share_off_obj, sizeof(share_off_obj), "memory-backend-file,"
		 "id=ram0,size=%lluM,mem-path=%s,share=off",
		 (unsigned long long)(RAM_BYTES >> 20), share_off_path);
	return 0;
}

static int group_teardown(void **state)
{
	unlink(share_off_path);
	return 0;
}

static const variant private_ram = { .name = "private",
				     .mem = QL_MEM_PRIVATE,
				     .ram_bytes = RAM_BYTES,
				     .append = "ws=4M rate=1 pattern=rand" };
static const variant share_off = { .name = "private",
				   .mem = QL_MEM_PRIVATE,
				   .ram_bytes = RAM_BYTES,
				   .qemu_args = share_off_args,
				   .append = "ws=4M rate=1 pattern=rand" };

#define T(fn) cmocka_unit_test_prestate_setup_teardown(fn, fx_setup, \
		fx_teardown, (void *)&private_ram)
#define T_OFF(fn) cmocka_unit_test_prestate_setup_teardown(fn, fx_setup, \
		fx_teardown, (void *)&share_off)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_attach_and_refusals),
		T(test_restart_reattaches),
		T(test_migrate_unverified),
		T_OFF(test_migrate_share_off),
	};
	const char *kernel = ql_guest_kernel();

	if (!ql_qemu_binary())
		QT_SKIP("qemu-system-x86_64 not found (set QMIG_QEMU)");
	if (!*kernel || access(kernel, R_OK))
		QT_SKIP("guest kernel not built (QMIG_GUEST=%s)", kernel);
	return cmocka_run_group_tests_name("/agent/private", tests, group_setup,
					   group_teardown);
}
