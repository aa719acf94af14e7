/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state directory: atomic JSON files that round-trip, never escape the
 * directory, and refuse what is not theirs; the predictor's factors
 * survive a restart and a hand-edited file cannot poison them.
 */
#include "tests/qmig_test.h"
#include "agent/statedir.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int setup(void **state)
{
	char *dir = strdup("/tmp/qmig-state-XXXXXX");

	if (!mkdtemp(dir))
		return -1;
	*state = dir;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", (char *)*state);
	if (system(cmd) != 0)
		return -1;
	free(*state);
	return 0;
}

/* Written objects read back equal, in subdirectories created on the way,
 * with no .tmp file left behind and mode 0600. */
static void test_round_trip(void **state)
{
	const char *dir = *state;
	qm_error err = QM_ERROR_INIT;
	json_object *o = json_object_new_object(), *r;
	char path[256];
	struct stat st;

	json_object_object_add(o, "qmp", json_object_new_string("/x/qmp.sock"));
	assert_true(qm_state_open(dir, &err));
	assert_true(qm_state_write_json(dir, "vms/a/vm.json", o, &err));
	r = qm_state_read_json(dir, "vms/a/vm.json", &err);
	assert_non_null(r);
	assert_true(json_object_equal(o, r));
	snprintf(path, sizeof(path), "%s/vms/a/vm.json.tmp", dir);
	assert_int_not_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/vms/a/vm.json", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(qm_state_remove(dir, "vms/a/vm.json", &err));
	assert_null(qm_state_read_json(dir, "vms/a/vm.json", &err));
	assert_int_equal(err.code, QM_ERR_NOTFOUND);
	json_object_put(o);
	json_object_put(r);
}

/* Names that would leave the directory are refused; a file that is not a
 * JSON object is a protocol error, not a crash. */
static void test_refusals(void **state)
{
	const char *dir = *state;
	qm_error err = QM_ERROR_INIT;
	json_object *o = json_object_new_object();
	char path[256];
	FILE *f;

	assert_false(qm_state_write_json(dir, "../escape.json", o, &err));
	assert_int_equal(err.code, QM_ERR_INVAL);
	qm_error_clear(&err);
	assert_false(qm_state_write_json(dir, "/etc/x.json", o, &err));
	snprintf(path, sizeof(path), "%s/bad.json", dir);
	f = fopen(path, "w");
	fputs("[1, 2", f);
	fclose(f);
	qm_error_clear(&err);
	assert_null(qm_state_read_json(dir, "bad.json", &err));
	assert_int_equal(err.code, QM_ERR_PROTO);
	json_object_put(o);
}

/* Factors survive the round trip; out-of-range and wrong-typed values in
 * the file are ignored. */
static void test_predictor_json(void **state)
{
	qm_predictor p, q;
	json_object *o;

	qm_predictor_init(&p);
	p.factor[QM_PART_FINAL_SEND] = 1.25;
	p.factor[QM_PART_CONT] = 3;
	p.samples = 7;
	o = qm_predictor_to_json(&p);
	qm_predictor_from_json(&q, o);
	assert_memory_equal(q.factor, p.factor, sizeof(p.factor));
	assert_int_equal(q.samples, 7);
	json_object_put(o);
	o = json_tokener_parse("{\"factors\": {\"final_send\": 1e9, "
			       "\"verify\": \"x\", \"cont\": 0.5}, "
			       "\"samples\": -3}");
	qm_predictor_from_json(&q, o);
	assert_true(q.factor[QM_PART_FINAL_SEND] == 1.0);
	assert_true(q.factor[QM_PART_VERIFY] == 1.0);
	assert_true(q.factor[QM_PART_CONT] == 0.5);
	assert_int_equal(q.samples, 0);
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test(test_predictor_json),
	};
	return cmocka_run_group_tests_name("/agent/statedir", tests, NULL, NULL);
}
