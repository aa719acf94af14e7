/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the shared error object and size parser. */
#include "tests/qmig_test.h"
#include "common/common.h"

#include <errno.h>
#include <string.h>

/* The first error set is the one kept; later sets do not overwrite it. */
static void test_error_first_wins(void **state)
{
	qm_error err = QM_ERROR_INIT;

	assert_false(qm_error_set(&err, QM_ERR_PROTO, "frame %s: bad", "PAGES"));
	assert_false(qm_error_set(&err, QM_ERR_IO, "second"));
	assert_int_equal(err.code, QM_ERR_PROTO);
	assert_string_equal(err.msg, "frame PAGES: bad");
	assert_false(qm_error_set(NULL, QM_ERR_IO, "no crash on NULL"));
}

/* errno errors carry the errno and its text; prepend adds context. */
static void test_error_errno_prepend(void **state)
{
	qm_error err = QM_ERROR_INIT;

	qm_error_errno(&err, ENOENT, "open %s", "/x");
	assert_int_equal(err.code, QM_ERR_IO);
	assert_int_equal(err.sys_errno, ENOENT);
	assert_string_equal(err.msg, "open /x: No such file or directory");
	qm_error_prepend(&err, "vm %d", 3);
	assert_string_equal(err.msg, "vm 3: open /x: No such file or directory");
	assert_string_equal(qm_errcode_name(QM_ERR_TIMEOUT), "timeout");
	assert_string_equal(qm_errcode_name((qm_errcode)999), "unknown");
}

/* A very long context is cut, never overflowing the fixed buffer. */
static void test_error_prepend_truncates(void **state)
{
	qm_error err = QM_ERROR_INIT;
	char big[2000];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	qm_error_set(&err, QM_ERR_IO, "%s", big);
	qm_error_prepend(&err, "%s", big);
	assert_int_equal(strlen(err.msg), QM_ERROR_MSG_MAX - 1);
}

static void test_parse_size(void **state)
{
	static const struct { const char *s; uint64_t v; } ok[] = {
		{ "4096", 4096 }, { "2k", 2048 }, { "64M", 64ULL << 20 },
		{ "1G", 1ULL << 30 }, { "4GiB", 4ULL << 30 }, { "1T", 1ULL << 40 },
	};
	static const char *const bad[] = {
		"", "-1", "M", "12Q", "1GX", "99999999999999999999", "17179869184G",
	};
	qm_error err = QM_ERROR_INIT;
	uint64_t v;
	size_t i;

	for (i = 0; i < QM_ARRAY_SIZE(ok); i++) {
		assert_true(qm_parse_size(ok[i].s, &v, NULL));
		assert_int_equal(v, ok[i].v);
	}
	for (i = 0; i < QM_ARRAY_SIZE(bad); i++) {
		qm_error_clear(&err);
		assert_false(qm_parse_size(bad[i], &v, &err));
		assert_int_equal(err.code, QM_ERR_INVAL);
	}
}

/* Whole files, /proc ones included; a limit and a missing file are
 * errors naming the path. */
static void test_read_file(void **state)
{
	qm_error err = QM_ERROR_INIT;
	size_t len = 0;
	char *b = qm_read_file("/proc/self/status", 1 << 20, &len, &err);

	assert_non_null(b);
	assert_true(len > 100);
	assert_int_equal(strlen(b), len);
	assert_non_null(strstr(b, "Name:"));
	free(b);
	assert_null(qm_read_file("/proc/self/status", 10, &len, &err));
	assert_int_equal(err.code, QM_ERR_TOO_BIG);
	qm_error_clear(&err);
	assert_null(qm_read_file("/nonexistent/x", 10, NULL, &err));
	assert_int_equal(err.code, QM_ERR_IO);
	assert_non_null(strstr(err.msg, "/nonexistent/x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_first_wins),
		cmocka_unit_test(test_error_errno_prepend),
		cmocka_unit_test(test_error_prepend_truncates),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_read_file),
	};
	return cmocka_run_group_tests_name("/common", tests, NULL, NULL);
}
