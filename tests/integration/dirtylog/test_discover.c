/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Discovering a running VM's RAM over QMP (real QEMU, TCG, paused VMs):
 * file and memfd backends are found and map the guest's real memory; a NUMA
 * guest gives one region per node; a backend that is not shared, a VM
 * without a backend, and a file that is gone or resized are refused with a
 * message that says which backend and why; a refused RAM is still
 * described (dl_describe) as QEMU reports it.
 */
#include "tests/qmig_test.h"
#include "dirtylog/dirtylog.h"
#include "qmp/qmp.h"
#include "tools/launch/launch.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define MIB (1ULL << 20)

typedef struct fx {
	ql_vm vm;
	qmp_conn *q;
	dl_ram ram;
	dl_backend_info info[DL_MAX_REGIONS];
	char extra_paths[2][128];
} fx;

static int fx_setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	dl_ram_init(&f->ram);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	fx *f = *state;

	dl_ram_close(&f->ram);
	qmp_conn_free(f->q);
	ql_vm_stop(&f->vm);
	for (int i = 0; i < 2; i++)
		if (f->extra_paths[i][0])
			unlink(f->extra_paths[i]);
	free(f);
	return 0;
}

static void start(fx *f, ql_mem mem, uint64_t ram, const char *const *extra)
{
	ql_vm_opts o = { .name = "disc", .ram_bytes = ram, .mem = mem,
			 .kernel = "", .paused = true, .extra_args = extra,
			 .accel = QL_ACCEL_TCG };
	qm_error err = QM_ERROR_INIT;

	if (!ql_vm_start(&f->vm, &o, &err))
		fail_msg("%s", err.msg);
	f->q = qmp_conn_new(&err);
	assert_non_null(f->q);
	if (!qmp_connect(f->q, f->vm.qmp_path, 5000, &err) ||
	    !qmp_wait_ready(f->q, 5000, &err))
		fail_msg("%s", err.msg);
}

static bool discover(fx *f, qm_error *err)
{
	return dl_discover(f->q, 0, &f->ram, f->info, err);
}

/* A refused RAM is still described as QEMU reports it: one backend. */
static void expect_described(fx *f, const qm_error *refusal, const char *id,
			     dl_backend_kind kind, uint64_t size)
{
	qm_error err = QM_ERROR_INIT;
	dl_memdev md[DL_MAX_REGIONS];
	uint64_t bytes;
	int n;

	assert_true(dl_discover_failed_on_ram(refusal));
	if (!dl_describe(f->q, md, &n, &bytes, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(n, 1);
	assert_string_equal(md[0].id, id);
	assert_int_equal(md[0].kind, kind);
	assert_false(md[0].share);
	assert_int_equal(md[0].size, size);
	assert_int_equal(bytes, size);
}

/* The file backend is found at its mem-path, and what the agent maps is
 * the guest's memory: a byte written through QEMU's file is seen there. */
static void test_file_backend(void **state)
{
	fx *f = *state;
	qm_error err = QM_ERROR_INIT;
	int fd;

	start(f, QL_MEM_FILE, 64 * MIB, NULL);
	if (!discover(f, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(f->ram.nregions, 1);
	assert_int_equal(f->info[0].kind, DL_BACKEND_FILE);
	assert_string_equal(f->info[0].path, f->vm.mem_path);
	assert_string_equal(f->ram.regions[0].id, "ram0");
	assert_int_equal(f->ram.npages, 64 * MIB / DL_PAGE_SIZE);
	fd = open(f->vm.mem_path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "qmig", 4, 5 * DL_PAGE_SIZE + 8), 4);
	close(fd);
	assert_memory_equal(dl_ram_page(&f->ram, 5) + 8, "qmig", 4);
}

/* A memfd backend is reached through QEMU's descriptor table. */
static void test_memfd_backend(void **state)
{
	fx *f = *state;
	qm_error err = QM_ERROR_INIT;

	start(f, QL_MEM_MEMFD, 32 * MIB, NULL);
	if (!discover(f, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(f->info[0].kind, DL_BACKEND_MEMFD);
	assert_non_null(strstr(f->info[0].path, "/fd/"));
	assert_int_equal(f->ram.regions[0].size, 32 * MIB);
}

/* A NUMA guest with two file backends gives two regions, in order. */
static void test_numa_two_regions(void **state)
{
	fx *f = *state;
	qm_error err = QM_ERROR_INIT;
	char o0[256], o1[256];
	const char *extra[] = { "-object", o0, "-object", o1, "-numa",
				"node,nodeid=0,memdev=m0", "-numa",
				"node,nodeid=1,memdev=m1", NULL };

	for (int i = 0; i < 2; i++) {
		snprintf(f->extra_paths[i], sizeof(f->extra_paths[i]),
			 "/dev/shm/qmig-disc-%d-m%d.ram", (int)getpid(), i);
	}
	snprintf(o0, sizeof(o0), "memory-backend-file,id=m0,size=32M,"
		 "mem-path=%s,share=on", f->extra_paths[0]);
	snprintf(o1, sizeof(o1), "memory-backend-file,id=m1,size=16M,"
		 "mem-path=%s,share=on", f->extra_paths[1]);
	start(f, QL_MEM_PRIVATE, 48 * MIB, extra);
	if (!discover(f, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(f->ram.nregions, 2);
	assert_string_equal(f->ram.regions[0].id, "m0");
	assert_string_equal(f->ram.regions[1].id, "m1");
	assert_int_equal(f->ram.regions[1].first_page, 32 * MIB / DL_PAGE_SIZE);
	assert_int_equal(f->ram.npages, 48 * MIB / DL_PAGE_SIZE);
}

/* share=off is refused, naming the backend and the way out. */
static void test_not_shared(void **state)
{
	fx *f = *state;
	qm_error err = QM_ERROR_INIT;
	char obj[256];
	const char *extra[] = { "-object", obj, "-machine",
				"memory-backend=ram0", NULL };

	snprintf(f->extra_paths[0], sizeof(f->extra_paths[0]),
		 "/dev/shm/qmig-disc-%d-priv.ram", (int)getpid());
	snprintf(obj, sizeof(obj), "memory-backend-file,id=ram0,size=32M,"
		 "mem-path=%s,share=off", f->extra_paths[0]);
	start(f, QL_MEM_PRIVATE, 32 * MIB, extra);
	assert_false(discover(f, &err));
	assert_int_equal(err.code, QM_ERR_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "ram0 is not shared"));
	assert_int_equal(f->ram.nregions, 0);
	expect_described(f, &err, "ram0", DL_BACKEND_FILE, 32 * MIB);
}

/* A VM whose RAM is plain -m memory has QEMU's implicit private pc.ram
 * backend, which is refused as not shared. */
static void test_no_backend(void **state)
{
	fx *f = *state;
	qm_error err = QM_ERROR_INIT;

	start(f, QL_MEM_PRIVATE, 32 * MIB, NULL);
	assert_false(discover(f, &err));
	assert_int_equal(err.code, QM_ERR_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "backend pc.ram is not shared"));
	expect_described(f, &err, "pc.ram", DL_BACKEND_RAM, 32 * MIB);
}

/* The backend file deleted under a running QEMU is "gone". */
static void test_file_gone(void **state)
{
	fx *f = *state;
	qm_error err = QM_ERROR_INIT;

	start(f, QL_MEM_FILE, 32 * MIB, NULL);
	assert_int_equal(unlink(f->vm.mem_path), 0);
	assert_false(discover(f, &err));
	assert_int_equal(err.code, QM_ERR_IO);
	assert_non_null(strstr(err.msg, "is gone"));
	assert_non_null(strstr(err.msg, "ram0"));
}

/* A file resized behind QEMU's back no longer matches its mapping. */
static void test_file_resized(void **state)
{
	fx *f = *state;
	qm_error err = QM_ERROR_INIT;

	start(f, QL_MEM_FILE, 32 * MIB, NULL);
	assert_int_equal(truncate(f->vm.mem_path, 33 * MIB), 0);
	assert_false(discover(f, &err));
	assert_non_null(strstr(err.msg, "ram0"));
	assert_non_null(strstr(err.msg, "34603008 bytes"));
	assert_non_null(strstr(err.msg, "33554432 bytes"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_file_backend),
		T(test_memfd_backend),
		T(test_numa_two_regions),
		T(test_not_shared),
		T(test_no_backend),
		T(test_file_gone),
		T(test_file_resized),
	};

	if (!ql_qemu_binary())
		QT_SKIP("qemu-system-x86_64 not found (set QMIG_QEMU)");
	return cmocka_run_group_tests_name("/dirtylog/discover", tests, NULL,
					   NULL);
}
