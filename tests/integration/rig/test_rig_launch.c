/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The launcher puts QEMU and qmigd in a rig's namespaces: the process's
 * network namespace is the side's, qmigd's peer listener is reachable on
 * the side's address from the other side, and a namespace that does not
 * exist is refused before anything starts.
 */
#include "tests/qmig_test.h"
#include "tests/integration/rig/net.h"
#include "tools/launch/launch.h"
#include "tools/rig/rig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PEER_PORT 7451

static rig *g_rig;

static int group_setup(void **state)
{
	static const rig_link plain = { 0 };
	qm_error err = QM_ERROR_INIT;
	char prefix[RIG_PREFIX_MAX + 1];

	snprintf(prefix, sizeof(prefix), "rl%u", (unsigned)getpid() % 1000000);
	g_rig = rig_up(prefix, &plain, &err);
	if (!g_rig)
		fprintf(stderr, "rig_up: %s\n", err.msg);
	return g_rig ? 0 : -1;
}

static int group_teardown(void **state)
{
	rig_down(g_rig);
	return 0;
}

static ino_t ns_of(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	return stat(path, &st) == 0 ? st.st_ino : 0;
}

static ino_t ns_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_ino : 0;
}

static void test_vm_in_netns(void **state)
{
	ql_vm_opts o = { .name = "rig-ns", .ram_bytes = 64 << 20, .kernel = "",
			 .paused = true, .netns = rig_ns(g_rig, RIG_DST) };
	qm_error err = QM_ERROR_INIT;
	ql_vm vm;

	if (!ql_vm_start(&vm, &o, &err))
		fail_msg("ql_vm_start: %s", err.msg);
	assert_int_not_equal(ns_of(vm.pid), 0);
	assert_int_equal(ns_of(vm.pid), ns_file(rig_ns_path(g_rig, RIG_DST)));
	assert_int_not_equal(ns_of(vm.pid), ns_of(getpid()));
	ql_vm_stop(&vm);
}

static void test_vm_bad_netns(void **state)
{
	ql_vm_opts o = { .name = "rig-nons", .kernel = "",
			 .netns = "qmig-no-such-ns" };
	qm_error err = QM_ERROR_INIT;
	ql_vm vm;

	assert_false(ql_vm_start(&vm, &o, &err));
	assert_non_null(strstr(err.msg, "qmig-no-such-ns"));
	assert_int_equal(vm.pid, 0);
	assert_int_equal(qt_shm_files("rig-nons"), 0);
	qm_error_clear(&err);
	o.netns = "../etc";
	assert_false(ql_vm_start(&vm, &o, &err));
	assert_int_equal(err.code, QM_ERR_INVAL);
}

/* qmigd in the destination side: its namespace is the side's, and its
 * peer port answers on the side's address, from the source side. */
static void test_agent_in_netns(void **state)
{
	char psk[64], listen[32];
	const char *args[] = { "--psk-file", psk, "--peer-listen", listen,
			       NULL };
	qm_error err = QM_ERROR_INIT;
	ql_agent a;
	FILE *f;
	int fd;

	snprintf(psk, sizeof(psk), "/tmp/qmig-rig-psk-%d", (int)getpid());
	snprintf(listen, sizeof(listen), "%s:%d", rig_addr(g_rig, RIG_DST),
		 PEER_PORT);
	f = fopen(psk, "w");
	assert_non_null(f);
	fputs("test pre-shared key, 32 bytes!!\n", f);
	fclose(f);
	chmod(psk, 0600);

	if (!ql_agent_start_ns(&a, "rig-ns", rig_ns(g_rig, RIG_DST), args,
			       &err)) {
		unlink(psk);
		fail_msg("ql_agent_start_ns: %s", err.msg);
	}
	assert_int_equal(ns_of(a.pid), ns_file(rig_ns_path(g_rig, RIG_DST)));
	fd = rn_connect(g_rig, RIG_SRC, PEER_PORT, 5000);
	assert_true(fd >= 0);
	close(fd);
	ql_agent_stop(&a);
	unlink(psk);

	/* The plain call still starts it where the caller is. */
	assert_true(ql_agent_start(&a, "rig-nons", NULL, &err));
	assert_int_equal(ns_of(a.pid), ns_of(getpid()));
	ql_agent_stop(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vm_in_netns),
		cmocka_unit_test(test_vm_bad_netns),
		cmocka_unit_test(test_agent_in_netns),
	};
	char why[QM_ERROR_MSG_MAX];

	if (!rig_available(why, sizeof(why)))
		QT_SKIP("rig not usable here: %s", why);
	if (!ql_qemu_binary())
		QT_SKIP("qemu-system-x86_64 not found");
	if (access(ql_qmigd_binary(), X_OK) < 0)
		QT_SKIP("qmigd binary '%s' not built", ql_qmigd_binary());
	rig_install_cleanup();
	return cmocka_run_group_tests_name("rig launch", tests, group_setup,
					   group_teardown);
}
