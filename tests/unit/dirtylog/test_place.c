/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of destination placement on the host, whatever its NUMA
 * layout: node 0 always works (bound, or skipped with a reason on a host
 * with one node), a node past the last one is a clear error, and
 * move_pages() reports where touched pages are. Two-node placement is
 * checked in tests/integration/kernelvm, in a VM with two nodes.
 */
#include "tests/qmig_test.h"
#include "dirtylog/dirtylog.h"

#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <string.h>
#include <unistd.h>

#define PAGES 64

typedef struct fixture {
	char path[64];
	dl_ram ram;
} fixture;

/* A fresh destination backend: created, sized, mapped writable. */
static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	qm_error err = QM_ERROR_INIT;

	snprintf(f->path, sizeof(f->path), "/dev/shm/qmig-unit-place-%d.ram",
		 (int)getpid());
	dl_ram_init(&f->ram);
	if (!dl_ram_add_file(&f->ram, "ram0", f->path, PAGES * DL_PAGE_SIZE,
			     DL_MAP_CREATE | DL_MAP_WRITE, &err))
		fail_msg("%s", err.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	dl_ram_close(&f->ram);
	unlink(f->path);
	free(f);
	return 0;
}

/* Binding to node 0 before the first touch succeeds; every touched page
 * is then on node 0, and an untouched one is reported as not present. */
static void test_bind_node0(void **state)
{
	fixture *f = *state;
	qm_error err = QM_ERROR_INIT;

	assert_int_equal(dl_ram_page_node(&f->ram, 5), -ENOENT);
	if (!dl_ram_bind_node(&f->ram, 0, 0, 0, &err))
		fail_msg("%s", err.msg);
	for (uint64_t p = 0; p < PAGES - 1; p++)
		dl_ram_page(&f->ram, p)[0] = 1;
	for (uint64_t p = 0; p < PAGES - 1; p++)
		assert_int_equal(dl_ram_page_node(&f->ram, p), 0);
	assert_int_equal(dl_ram_page_node(&f->ram, PAGES - 1), -ENOENT);
	assert_int_equal(dl_ram_page_node(&f->ram, PAGES), -EINVAL);
}

/* A node past the last one (node 1 on a one-node host) is refused naming
 * the node, the nodes that have memory, and the backend; so is a bad
 * region index. Nothing is bound: pages still land on node 0. */
static void test_bind_errors(void **state)
{
	fixture *f = *state;
	qm_error err = QM_ERROR_INIT;
	int bogus = numa_available() < 0 ? 1 : numa_max_node() + 1;
	char want[64];

	assert_false(dl_ram_bind_node(&f->ram, 0, bogus, 0, &err));
	assert_int_equal(err.code, QM_ERR_INVAL);
	snprintf(want, sizeof(want), "NUMA node %d ", bogus);
	assert_non_null(strstr(err.msg, want));
	assert_non_null(strstr(err.msg, f->path));
	if (numa_available() >= 0)
		assert_non_null(strstr(err.msg, "nodes with memory: 0"));
	printf("# %s\n", err.msg);
	qm_error_clear(&err);
	assert_false(dl_ram_bind_node(&f->ram, 0, -1, DL_BIND_PREFERRED, &err));
	assert_int_equal(err.code, QM_ERR_INVAL);
	qm_error_clear(&err);
	assert_false(dl_ram_bind_node(&f->ram, 1, 0, 0, &err));
	assert_int_equal(err.code, QM_ERR_INVAL);
	assert_non_null(strstr(err.msg, "region 1 out of range (1 regions)"));
	dl_ram_page(&f->ram, 0)[0] = 1;
	assert_int_equal(dl_ram_page_node(&f->ram, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bind_node0, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bind_errors, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("/dirtylog/place", tests, NULL,
					   NULL);
}
