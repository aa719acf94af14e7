/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Parsing /proc/PID/maps lines, on hand-written lines. */
#include "tests/qmig_test.h"
#include "dirtylog/dirtylog.h"

#include <string.h>

/* A shared file mapping: addresses, device, inode and path. */
static void test_file_line(void **state)
{
	dl_map_entry e;

	assert_true(dl_parse_maps_line("7f2bf3fff000-7f2c03fff000 rw-s 00200000 "
				       "00:1a 1194     /dev/shm/vm.ram\n", &e));
	assert_int_equal(e.offset, 0x200000);
	assert_int_equal(e.start, 0x7f2bf3fff000ULL);
	assert_int_equal(e.end, 0x7f2c03fff000ULL);
	assert_int_equal(e.dev_major, 0);
	assert_int_equal(e.dev_minor, 0x1a);
	assert_int_equal(e.inode, 1194);
	assert_true(e.shared);
	assert_string_equal(e.path, "/dev/shm/vm.ram");
}

/* A memfd's name keeps its spaces; private and anonymous lines parse. */
static void test_memfd_private_anon(void **state)
{
	dl_map_entry e;

	assert_true(dl_parse_maps_line("1000-2000 rw-s 00000000 00:01 7 "
				       "/memfd:memory-backend-memfd (deleted)",
				       &e));
	assert_string_equal(e.path, "/memfd:memory-backend-memfd (deleted)");
	assert_true(dl_parse_maps_line("1000-3000 rw-p 00000000 00:00 0 \n",
				       &e));
	assert_false(e.shared);
	assert_string_equal(e.path, "");
	assert_int_equal(e.end - e.start, 0x2000);
}

/* Garbage is refused, not half-parsed. */
static void test_garbage(void **state)
{
	dl_map_entry e;

	assert_false(dl_parse_maps_line("", &e));
	assert_false(dl_parse_maps_line("not a maps line", &e));
	assert_false(dl_parse_maps_line("1000-2000 rw-s 0 00:01", &e));
	assert_false(dl_parse_maps_line("2000-1000 rw-s 0 00:01 7 /x", &e));
	assert_false(dl_parse_maps_line("1000-2000 rw-sx 0 00:01 7 /x", &e));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_line),
		cmocka_unit_test(test_memfd_private_anon),
		cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests_name("/dirtylog/maps", tests, NULL, NULL);
}
