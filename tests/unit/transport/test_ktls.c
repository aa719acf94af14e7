/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * TLS with the kernel doing the records (kTLS): a two-stream transfer
 * whose every stream, on both ends, handed its keys to the kernel, and
 * whose pages arrive intact. Skips (77) where the kernel has no TLS, so
 * that a run without kTLS says so instead of passing on the pump alone
 * (test_transfer with QMIG_TEST_TLS=1 covers whichever path the host
 * has; test_tls checks the kTLS keys against the wire on any host).
 */
#include "fixture.h"

#include <stdlib.h>
#include <string.h>

#define NPAGES 8192ull		/* 32 MiB */

int main(void)
{
	const tp_features *f;
	qm_error err = QM_ERROR_INIT;
	tf_dir dsrc, ddst;
	tp_sender_config sc;
	tp_stats ss, rs;
	tp_sender *s;
	dl_hasher h;
	tf_recv rt;
	dl_ram src;

	qm_log_set_level(QM_LOG_WARN);
	f = tp_features_get();
	if (!f->ktls)
		QT_SKIP("%s", f->ktls_why);
	if (f->ktls_forced_off)
		QT_SKIP("kTLS off by QMIG_KTLS");
	tf_dir_make(&dsrc);
	tf_dir_make(&ddst);
	dl_ram_init(&src);
	tf_ram_file(&dsrc, "ram0", NPAGES * DL_PAGE_SIZE, &src, "ram0");
	for (uint64_t p = 0; p < NPAGES; p++)
		if (p % 3)
			tf_fill_page(dl_ram_page(&src, p), p);
	if (!dl_hasher_init(&h, "ktls", 4, &err))
		return fprintf(stderr, "%s\n", err.msg), 1;
	tf_recv_start(&rt, tf_receiver_new_opt(&ddst, TF_PSK, NULL, false,
					       true));
	tf_sender_config(&sc, 2, TF_PSK);
	sc.tls = true;
	s = tp_sender_new(&src, &h, &sc, &err);
	if (!s || !tp_sender_connect(s, "127.0.0.1", tp_receiver_port(rt.r),
				     &err) ||
	    !tp_sender_queue(s, 0, NPAGES, &err) ||
	    !tp_sender_flush(s, 0, NULL, &err)) {
		fprintf(stderr, "transfer: %s\n", err.msg);
		return 1;
	}
	tp_sender_get_stats(s, &ss);
	if (!tp_sender_commit(s, 0, 5000, &err)) {
		fprintf(stderr, "commit: %s\n", err.msg);
		return 1;
	}
	tf_recv_join(&rt);
	tp_receiver_get_stats(rt.r, &rs);
	if (!rt.commit_ok || !ss.ktls || !rs.ktls ||
	    memcmp(src.regions[0].base,
		   tp_receiver_ram(rt.r)->regions[0].base,
		   NPAGES * DL_PAGE_SIZE)) {
		fprintf(stderr, "commit %d, sender ktls %d, receiver ktls %d, "
			"receiver: %s\n", rt.commit_ok, ss.ktls, rs.ktls,
			rt.err.msg);
		return 1;
	}
	printf("kTLS transfer of %llu pages: ok\n",
	       (unsigned long long)NPAGES);
	tp_sender_free(s);
	tp_receiver_free(rt.r);
	dl_ram_close(&src);
	tf_dir_remove(&dsrc);
	tf_dir_remove(&ddst);
	return 0;
}
