/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The destination filesystem fills up after SETUP (something else on the
 * host wrote a file): allocating the next payload's pages fails, the
 * session ends with an error on both sides, and nothing dies of SIGBUS (a
 * store into a hole of a full tmpfs raises it, and the receiver runs in
 * this very process). Needs a small tmpfs of its own, so mount(2), so
 * root: without it the test reports SKIP.
 */
#include "fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define RAM_MIB 32
#define FS_MIB 40   /* the mount option below says the same */
#define LEFT_MIB 4

static tf_dir dsrc, ddst;

/* Also after a failed assertion: nothing mounted or left in /dev/shm. */
static int teardown(void **state)
{
	umount2(ddst.path, MNT_DETACH);
	tf_dir_remove(&dsrc);
	tf_dir_remove(&ddst);
	return 0;
}

static void test_fs_fills_during_transfer(void **state)
{
	qm_error err = QM_ERROR_INIT;
	tp_sender_config sc;
	tp_round_stats rs;
	struct statvfs sv;
	char filler[300];
	dl_hasher h;
	tf_recv rt;
	tp_sender *s;
	dl_ram src;
	int fd;

	tf_dir_make(&dsrc);
	tf_dir_make(&ddst);
	if (mount("qmig-test", ddst.path, "tmpfs", MS_NOSUID | MS_NODEV,
		  "size=40m,mode=0700") < 0) {
		int e = errno;

		tf_dir_remove(&dsrc);
		tf_dir_remove(&ddst);
		QT_SKIP("mounting a small tmpfs for the destination: %s "
			"(needs root)", strerror(e));
	}
	dl_ram_init(&src);
	tf_ram_file(&dsrc, "ram0", (uint64_t)RAM_MIB << 20, &src, "ram0");
	for (uint64_t p = 0; p < src.npages; p++)
		tf_fill_page(dl_ram_page(&src, p), p + 1);
	assert_true(dl_hasher_init(&h, "fsfull", 6, NULL));
	tf_sender_config(&sc, 2, TF_PSK);
	memset(&rt, 0, sizeof(rt));
	tf_recv_start(&rt, tf_receiver_new_sparse(&ddst, TF_PSK, NULL));
	s = tp_sender_new(&src, &h, &sc, &err);
	assert_non_null(s);
	if (!tp_sender_connect(s, "127.0.0.1", tp_receiver_port(rt.r), &err))
		fail_msg("%s", err.msg);
	/* SETUP found room for the RAM; now leave LEFT_MIB. */
	snprintf(filler, sizeof(filler), "%s/filler", ddst.path);
	fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(statvfs(ddst.path, &sv), 0);
	assert_int_equal(fallocate(fd, 0, 0, (off_t)((uint64_t)sv.f_bavail *
				   sv.f_frsize - ((uint64_t)LEFT_MIB << 20))),
			 0);
	close(fd);
	assert_false(tp_sender_queue(s, 0, src.npages, &err) &&
		     tp_sender_flush(s, 0, &rs, &err));
	printf("# sender: %s\n", err.msg);
	tf_recv_join(&rt);
	printf("# receiver: %s\n", rt.err.msg);
	assert_false(rt.commit_ok);
	assert_int_equal(rt.err.sys_errno, ENOSPC);
	assert_non_null(strstr(rt.err.msg, "cannot allocate"));
	tp_sender_free(s);
	tp_receiver_free(rt.r);
	dl_ram_close(&src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_fs_fills_during_transfer,
					  teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
