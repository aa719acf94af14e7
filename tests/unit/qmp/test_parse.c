/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the pure QMP result parsers (qmp/parse.c) and the enum
 * tables. Fixtures are QEMU 7.2's replies as seen on the wire.
 */
#include "tests/qmig_test.h"
#include "qmp/qmp.h"

#include <string.h>

#define CASE(name, fn) { name, fn, NULL, NULL, NULL }

static json_object *J(const char *s)
{
	json_object *o = json_tokener_parse(s);

	if (!o && strcmp(s, "null"))
		fail_msg("bad fixture: %s", s);
	return o;
}

/* ---- enum guards ---- */

#define CHECK_ENUM(count, expect, name_fn, from_fn)                         \
	do {                                                                \
		int i_;                                                     \
		assert_int_equal(count, expect);                            \
		assert_string_equal(name_fn(0), "unknown");                 \
		assert_string_equal(name_fn(count), "unknown");             \
		assert_int_equal(from_fn("no-such-value"), 0);              \
		assert_int_equal(from_fn(NULL), 0);                         \
		assert_int_equal(from_fn("unknown"), 0);                    \
		for (i_ = 1; i_ < (int)(count); i_++)                       \
			assert_int_equal(from_fn(name_fn(i_)), i_);         \
	} while (0)

/* The enums mirror QAPI: their sizes are pinned, so adding a value (a
 * new QMP error class, run state or migration status) fails here and
 * forces a look at the code and tests that switch on them. Every value
 * round-trips through its wire name; 0 is "unknown". */
static void test_enum_counts(void **state)
{
	CHECK_ENUM(QMP_ERR_CLASS__COUNT, 6, qmp_err_class_name,
		   qmp_err_class_from_str);
	CHECK_ENUM(QMP_RUN_STATE__COUNT, 17, qmp_run_state_name,
		   qmp_run_state_from_str);
	CHECK_ENUM(QMP_MIG_STATUS__COUNT, 15, qmp_mig_status_name,
		   qmp_mig_status_from_str);
	CHECK_ENUM(QMP_DIRTY_RATE__COUNT, 4, qmp_dirty_rate_status_name,
		   qmp_dirty_rate_status_from_str);
	CHECK_ENUM(QMP_MEM_POLICY__COUNT, 5, qmp_mem_policy_name,
		   qmp_mem_policy_from_str);
	assert_string_equal(qmp_err_class_name(QMP_ERR_CLASS_COMMAND_NOT_FOUND),
			    "CommandNotFound");
	assert_string_equal(qmp_mig_status_name(QMP_MIG_STATUS_PRE_SWITCHOVER),
			    "pre-switchover");
	assert_int_equal(qmp_run_state_from_str("finish-migrate"),
			 QMP_RUN_STATE_FINISH_MIGRATE);
}

/* ---- good inputs ---- */

/* query-status: fields land; an unknown state keeps its string. */
static void test_status(void **state)
{
	json_object *j = J("{\"status\": \"prelaunch\", \"singlestep\": false, \"running\": false}");
	qmp_status s;

	assert_true(qmp_parse_status(j, &s, NULL));
	assert_false(s.running);
	assert_int_equal(s.state, QMP_RUN_STATE_PRELAUNCH);
	assert_string_equal(s.status, "prelaunch");
	json_object_put(j);
	j = J("{\"status\": \"hibernating\", \"running\": true}");
	assert_true(qmp_parse_status(j, &s, NULL));
	assert_int_equal(s.state, QMP_RUN_STATE_UNKNOWN);
	assert_string_equal(s.status, "hibernating");
	json_object_put(j);
}

/* query-memdev: QEMU 7.2's reply parses; absent share/reserve/id get
 * their documented defaults. */
static void test_memdev(void **state)
{
	json_object *j = J("[{\"prealloc\": false, \"share\": true, \"host-nodes\": [0, 3], "
			   "\"size\": 67108864, \"merge\": true, \"dump\": true, "
			   "\"policy\": \"bind\", \"id\": \"ram0\", \"reserve\": false},"
			   " {\"size\": 4096, \"merge\": false, \"dump\": false, "
			   "\"prealloc\": true, \"policy\": \"default\", \"host-nodes\": []}]");
	qmp_memdev_list l;

	assert_true(qmp_parse_memdev_list(j, &l, NULL));
	assert_int_equal(l.count, 2);
	assert_string_equal(l.items[0].id, "ram0");
	assert_int_equal(l.items[0].size, 64ULL << 20);
	assert_true(l.items[0].share);
	assert_true(l.items[0].merge && l.items[0].dump);
	assert_false(l.items[0].prealloc);
	assert_false(l.items[0].reserve);
	assert_int_equal(l.items[0].policy, QMP_MEM_POLICY_BIND);
	assert_int_equal(l.items[0].nhost_nodes, 2);
	assert_int_equal(l.items[0].host_nodes[1], 3);
	assert_string_equal(l.items[1].id, "");
	assert_false(l.items[1].share);
	assert_true(l.items[1].reserve);
	assert_int_equal(l.items[1].policy, QMP_MEM_POLICY_DEFAULT);
	qmp_memdev_list_free(&l);
	assert_null(l.items);
	json_object_put(j);
	j = J("[]");
	assert_true(qmp_parse_memdev_list(j, &l, NULL));
	assert_int_equal(l.count, 0);
	qmp_memdev_list_free(&l);
	json_object_put(j);
}

/* query-migrate: {} before any migration is status NONE; an active
 * migration fills the ram block; mbps may come as an integer. */
static void test_migrate_info(void **state)
{
	json_object *j = J("{}");
	qmp_migrate_info m;

	assert_true(qmp_parse_migrate_info(j, &m, NULL));
	assert_int_equal(m.status, QMP_MIG_STATUS_NONE);
	assert_string_equal(m.status_str, "none");
	assert_false(m.has_ram || m.has_total_time || m.has_downtime);
	json_object_put(j);
	j = J("{\"status\": \"active\", \"setup-time\": 2, \"expected-downtime\": 300, "
	      "\"total-time\": 1234, \"ram\": {\"total\": 67108864, \"postcopy-requests\": 0, "
	      "\"dirty-sync-count\": 1, \"page-size\": 4096, \"remaining\": 1000, "
	      "\"mbps\": 0, \"transferred\": 5000, \"duplicate\": 10, "
	      "\"dirty-pages-rate\": 7, \"skipped\": 0, \"normal-bytes\": 4096, \"normal\": 1}}");
	assert_true(qmp_parse_migrate_info(j, &m, NULL));
	assert_int_equal(m.status, QMP_MIG_STATUS_ACTIVE);
	assert_true(m.has_total_time && m.has_expected_downtime);
	assert_true(m.has_setup_time);
	assert_false(m.has_downtime);
	assert_int_equal(m.total_time_ms, 1234);
	assert_int_equal(m.expected_downtime_ms, 300);
	assert_true(m.has_ram);
	assert_int_equal(m.ram.total, 64ULL << 20);
	assert_int_equal(m.ram.transferred, 5000);
	assert_int_equal(m.ram.remaining, 1000);
	assert_int_equal(m.ram.dirty_pages_rate, 7);
	assert_int_equal(m.ram.page_size, 4096);
	assert_true(m.ram.mbps == 0.0);
	json_object_put(j);
	j = J("{\"status\": \"failed\", \"error-desc\": \"Unable to write to socket: Broken pipe\"}");
	assert_true(qmp_parse_migrate_info(j, &m, NULL));
	assert_int_equal(m.status, QMP_MIG_STATUS_FAILED);
	assert_string_equal(m.error_desc, "Unable to write to socket: Broken pipe");
	json_object_put(j);
}

/* error-desc is for people: an overlong one is cut, not refused. */
static void test_migrate_long_error_desc(void **state)
{
	char buf[2048];
	json_object *j;
	qmp_migrate_info m;

	memset(buf, 0, sizeof(buf));
	strcpy(buf, "{\"status\": \"failed\", \"error-desc\": \"");
	memset(buf + strlen(buf), 'x', 1500);
	strcat(buf, "\"}");
	j = J(buf);
	assert_true(qmp_parse_migrate_info(j, &m, NULL));
	assert_int_equal(strlen(m.error_desc), QM_ERROR_MSG_MAX - 1);
	json_object_put(j);
}

/* query-dirty-rate before and after a measurement. */
static void test_dirty_rate(void **state)
{
	json_object *j = J("{\"status\": \"unstarted\", \"sample-pages\": 512, "
			   "\"mode\": \"page-sampling\", \"start-time\": 0, \"calc-time\": 0}");
	qmp_dirty_rate_info d;

	assert_true(qmp_parse_dirty_rate(j, &d, NULL));
	assert_int_equal(d.status, QMP_DIRTY_RATE_UNSTARTED);
	assert_false(d.has_dirty_rate);
	assert_int_equal(d.sample_pages, 512);
	assert_string_equal(d.mode, "page-sampling");
	json_object_put(j);
	j = J("{\"status\": \"measured\", \"dirty-rate\": 42, \"start-time\": 99, \"calc-time\": 1}");
	assert_true(qmp_parse_dirty_rate(j, &d, NULL));
	assert_int_equal(d.status, QMP_DIRTY_RATE_MEASURED);
	assert_true(d.has_dirty_rate);
	assert_int_equal(d.dirty_rate_mbps, 42);
	assert_int_equal(d.calc_time_s, 1);
	json_object_put(j);
}

/* query-cpus-fast, qom-list, query-commands, query-migrate-capabilities:
 * the lists parse and the lookup helpers find entries. */
static void test_lists(void **state)
{
	json_object *j;
	qmp_cpu_list c;
	qmp_qom_prop_list q;
	qmp_name_list n;
	qmp_mig_cap_list m;

	j = J("[{\"thread-id\": 4242, \"props\": {\"core-id\": 0}, "
	      "\"qom-path\": \"/machine/unattached/device[0]\", \"cpu-index\": 0, "
	      "\"target\": \"x86_64\"}]");
	assert_true(qmp_parse_cpus_fast(j, &c, NULL));
	assert_int_equal(c.count, 1);
	assert_int_equal(c.items[0].thread_id, 4242);
	assert_string_equal(c.items[0].qom_path, "/machine/unattached/device[0]");
	qmp_cpu_list_free(&c);
	json_object_put(j);

	j = J("[{\"name\": \"type\", \"type\": \"string\"}, "
	      "{\"name\": \"ram0\", \"type\": \"child<memory-backend-file>\"}]");
	assert_true(qmp_parse_qom_list(j, &q, NULL));
	assert_int_equal(q.count, 2);
	assert_string_equal(q.items[1].type, "child<memory-backend-file>");
	qmp_qom_prop_list_free(&q);
	json_object_put(j);

	j = J("[{\"name\": \"query-status\"}, {\"name\": \"migrate\"}]");
	assert_true(qmp_parse_commands(j, &n, NULL));
	assert_true(qmp_name_list_has(&n, "migrate"));
	assert_false(qmp_name_list_has(&n, "migrat"));
	qmp_name_list_free(&n);
	json_object_put(j);

	j = J("[{\"state\": false, \"capability\": \"xbzrle\"}, "
	      "{\"state\": true, \"capability\": \"x-ignore-shared\"}]");
	assert_true(qmp_parse_migrate_capabilities(j, &m, NULL));
	assert_int_equal(qmp_mig_cap_list_find(&m, "x-ignore-shared"), 1);
	assert_int_equal(qmp_mig_cap_list_find(&m, "xbzrle"), 0);
	assert_int_equal(qmp_mig_cap_list_find(&m, "events"), -1);
	qmp_mig_cap_list_free(&m);
	json_object_put(j);
}

/* The greeting parser keeps the version and at most
 * QMP_MAX_GREETING_CAPS capabilities (extra offers are ignored). */
static void test_greeting(void **state)
{
	char buf[2048];
	json_object *j;
	qmp_greeting g;
	int i;

	strcpy(buf, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 1, \"minor\": 0, "
		    "\"major\": 8}}, \"capabilities\": [");
	for (i = 0; i < QMP_MAX_GREETING_CAPS + 3; i++)
		sprintf(buf + strlen(buf), "%s\"cap%d\"", i ? ", " : "", i);
	strcat(buf, "]}}");
	j = J(buf);
	assert_true(qmp_parse_greeting(j, &g, NULL));
	assert_int_equal(g.major, 8);
	assert_int_equal(g.micro, 1);
	assert_string_equal(g.package, "");
	assert_int_equal(g.ncaps, QMP_MAX_GREETING_CAPS);
	assert_string_equal(g.caps[QMP_MAX_GREETING_CAPS - 1], "cap15");
	json_object_put(j);
}

/* ---- bad inputs: one table for all parsers ---- */

static bool p_status(json_object *j, qm_error *e)
{
	qmp_status s;

	return qmp_parse_status(j, &s, e);
}

static bool p_memdev(json_object *j, qm_error *e)
{
	qmp_memdev_list l = { 0 };
	bool ok = qmp_parse_memdev_list(j, &l, e);

	if (!ok)
		assert_null(l.items); /* nothing to free on failure */
	qmp_memdev_list_free(&l);
	return ok;
}

static bool p_migrate(json_object *j, qm_error *e)
{
	qmp_migrate_info m;
	bool ok = qmp_parse_migrate_info(j, &m, e);

	if (!ok)
		assert_int_equal(m.status, 0); /* zeroed on failure */
	return ok;
}

static bool p_dirty(json_object *j, qm_error *e)
{
	qmp_dirty_rate_info d;

	return qmp_parse_dirty_rate(j, &d, e);
}

static bool p_cpus(json_object *j, qm_error *e)
{
	qmp_cpu_list l = { 0 };
	bool ok = qmp_parse_cpus_fast(j, &l, e);

	qmp_cpu_list_free(&l);
	return ok;
}

static bool p_qom(json_object *j, qm_error *e)
{
	qmp_qom_prop_list l = { 0 };
	bool ok = qmp_parse_qom_list(j, &l, e);

	qmp_qom_prop_list_free(&l);
	return ok;
}

static bool p_cmds(json_object *j, qm_error *e)
{
	qmp_name_list l = { 0 };
	bool ok = qmp_parse_commands(j, &l, e);

	qmp_name_list_free(&l);
	return ok;
}

static bool p_caps(json_object *j, qm_error *e)
{
	qmp_mig_cap_list l = { 0 };
	bool ok = qmp_parse_migrate_capabilities(j, &l, e);

	qmp_mig_cap_list_free(&l);
	return ok;
}

static bool p_greeting(json_object *j, qm_error *e)
{
	qmp_greeting g;

	return qmp_parse_greeting(j, &g, e);
}

#define MEMDEV(extra) "[{\"size\": 1, \"merge\": true, \"dump\": true, " \
	"\"prealloc\": false, \"policy\": \"default\", \"host-nodes\": []" extra "}]"

static const struct bad_case {
	bool (*parse)(json_object *j, qm_error *e);
	const char *in;
	const char *msg;
} bad_cases[] = {
	{ p_status, "[]", "query-status: result is an array, expected an object" },
	{ p_status, "null", "query-status: result is null, expected an object" },
	{ p_status, "{\"running\": \"yes\", \"status\": \"running\"}",
	  "query-status: field 'running' is a string, expected a boolean" },
	{ p_status, "{\"running\": true}", "query-status: field 'status' is missing" },
	{ p_status, "{\"running\": true, \"status\": 5}",
	  "query-status: field 'status' is an integer, expected a string" },
	{ p_status, "{\"running\": true, \"status\": \"a\\u0000b\"}",
	  "query-status: field 'status' contains a NUL byte" },
	{ p_memdev, "{}", "query-memdev: result is an object, expected an array" },
	{ p_memdev, "[{}, 3]", "query-memdev: field '[0].size' is missing" },
	{ p_memdev, "[3]", "query-memdev: field '[0]' is an integer, expected an object" },
	{ p_memdev, "[{\"size\": \"64M\"}]",
	  "query-memdev: field '[0].size' is a string, expected an integer" },
	{ p_memdev, "[{\"size\": -1}]", "query-memdev: field '[0].size' is -1, expected 0..9223372036854775807" },
	{ p_memdev, MEMDEV(", \"share\": 1"),
	  "query-memdev: field '[0].share' is an integer, expected a boolean" },
	{ p_memdev, MEMDEV(", \"host-nodes\": [1, 70000]"),
	  "query-memdev: field '[0].host-nodes[1]' is 70000, expected 0..65535" },
	{ p_memdev, MEMDEV(", \"host-nodes\": [\"0\"]"),
	  "query-memdev: field '[0].host-nodes[0]' is a string, expected an integer" },
	{ p_memdev, MEMDEV(", \"id\": \"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""),
	  "query-memdev: field '[0].id' is 128 bytes long, limit 127" },
	{ p_migrate, "{\"status\": []}",
	  "query-migrate: field 'status' is an array, expected a string" },
	{ p_migrate, "{\"total-time\": 1.5}",
	  "query-migrate: field 'total-time' is a number, expected an integer" },
	{ p_migrate, "{\"ram\": 5}", "query-migrate: field 'ram' is an integer, expected an object" },
	{ p_migrate, "{\"ram\": {\"transferred\": \"1\", \"remaining\": 0, \"total\": 0}}",
	  "query-migrate: field 'ram.transferred' is a string, expected an integer" },
	{ p_migrate, "{\"ram\": {\"transferred\": 1, \"total\": 0}}",
	  "query-migrate: field 'ram.remaining' is missing" },
	{ p_migrate, "{\"ram\": {\"transferred\": 1, \"remaining\": 0, \"total\": 0, \"mbps\": \"fast\"}}",
	  "query-migrate: field 'ram.mbps' is a string, expected a number" },
	{ p_migrate, "{\"ram\": {\"transferred\": -5, \"remaining\": 0, \"total\": 0}}",
	  "query-migrate: field 'ram.transferred' is -5, expected 0..9223372036854775807" },
	{ p_dirty, "{\"status\": \"measured\", \"dirty-rate\": \"hi\", \"start-time\": 0, \"calc-time\": 1}",
	  "query-dirty-rate: field 'dirty-rate' is a string, expected an integer" },
	{ p_dirty, "{\"status\": \"measured\", \"start-time\": 0}",
	  "query-dirty-rate: field 'calc-time' is missing" },
	{ p_cpus, "[{\"cpu-index\": 0, \"thread-id\": \"x\", \"qom-path\": \"/a\"}]",
	  "query-cpus-fast: field '[0].thread-id' is a string, expected an integer" },
	{ p_cpus, "[{\"cpu-index\": -2, \"thread-id\": 1, \"qom-path\": \"/a\"}]",
	  "query-cpus-fast: field '[0].cpu-index' is -2, expected 0..2147483647" },
	{ p_qom, "[{\"name\": \"a\", \"type\": \"string\"}, {\"name\": true, \"type\": \"x\"}]",
	  "qom-list: field '[1].name' is a boolean, expected a string" },
	{ p_cmds, "[{\"name\": null}]", "query-commands: field '[0].name' is null, expected a string" },
	{ p_caps, "[{\"capability\": \"events\", \"state\": \"on\"}]",
	  "query-migrate-capabilities: field '[0].state' is a string, expected a boolean" },
	{ p_greeting, "{\"QMP\": {\"capabilities\": []}}",
	  "greeting: field 'QMP.version' is missing" },
	{ p_greeting, "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7, \"minor\": 2, \"micro\": \"x\"}}, \"capabilities\": []}}",
	  "greeting: field 'QMP.version.qemu.micro' is a string, expected an integer" },
	{ p_greeting, "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7, \"minor\": 2, \"micro\": 0}}, \"capabilities\": [1]}}",
	  "greeting: field 'QMP.capabilities[0]' is an integer, expected a string" },
	{ p_greeting, "{\"QMP\": {\"version\": {\"qemu\": {\"major\": -7, \"minor\": 2, \"micro\": 0}}, \"capabilities\": []}}",
	  "greeting: field 'QMP.version.qemu.major' is -7, expected 0..2147483647" },
};

/* Wrong types, missing mandatory fields and out-of-range values never
 * crash: each is QM_ERR_PROTO whose message names the field, what it is
 * and what was expected. */
static void test_bad_types(void **state)
{
	qm_error err;
	json_object *j;
	size_t i;

	for (i = 0; i < QM_ARRAY_SIZE(bad_cases); i++) {
		qm_error_clear(&err);
		j = J(bad_cases[i].in);
		if (bad_cases[i].parse(j, &err))
			fail_msg("case %zu parsed: %s", i, bad_cases[i].in);
		assert_int_equal(err.code, QM_ERR_PROTO);
		if (strcmp(err.msg, bad_cases[i].msg))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i,
				 err.msg, bad_cases[i].msg);
		json_object_put(j);
	}
}

/* A list longer than QMP_MAX_LIST_ITEMS is QM_ERR_TOO_BIG, not an
 * allocation sized by the peer. */
static void test_list_limit(void **state)
{
	json_object *arr = json_object_new_array();
	qm_error err = QM_ERROR_INIT;
	qmp_name_list l;
	int i;

	for (i = 0; i <= QMP_MAX_LIST_ITEMS; i++)
		json_object_array_add(arr, json_object_new_object());
	assert_false(qmp_parse_commands(arr, &l, &err));
	assert_int_equal(err.code, QM_ERR_TOO_BIG);
	assert_string_equal(err.msg,
			    "query-commands: 8193 items exceed the limit of 8192");
	json_object_put(arr);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CASE("/qmp/parse/enum-counts", test_enum_counts),
		CASE("/qmp/parse/status", test_status),
		CASE("/qmp/parse/memdev", test_memdev),
		CASE("/qmp/parse/migrate-info", test_migrate_info),
		CASE("/qmp/parse/migrate-long-error-desc",
		     test_migrate_long_error_desc),
		CASE("/qmp/parse/dirty-rate", test_dirty_rate),
		CASE("/qmp/parse/lists", test_lists),
		CASE("/qmp/parse/greeting", test_greeting),
		CASE("/qmp/parse/bad-types", test_bad_types),
		CASE("/qmp/parse/list-limit", test_list_limit),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("qmp-parse", tests, NULL, NULL);
}
