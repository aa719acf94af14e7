/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared by the transport tests: RAM files under /dev/shm that the test
 * removes, a known mix of page contents, a receiver run on a thread, and
 * a loopback TCP proxy that can record, cut or corrupt a connection.
 * Every network address is loopback.
 */
#ifndef QMIG_TEST_TRANSPORT_FIXTURE_H
#define QMIG_TEST_TRANSPORT_FIXTURE_H

#include "tests/qmig_test.h"
#include "transport/transport.h"

#include <pthread.h>

#define TF_PSK "qmig-test-pre-shared-key-0123456789"

/* Deterministic page contents: a page is fully defined by its seed. */
void tf_fill_page(uint8_t *page, uint64_t seed);

/* A tmpfs directory for one test, removed with everything in it. */
typedef struct tf_dir {
	char path[128];
} tf_dir;

void tf_dir_make(tf_dir *d);
void tf_dir_remove(tf_dir *d);

/* Create @name (sparse, @size bytes) in @d and map it as a region. */
void tf_ram_file(const tf_dir *d, const char *name, uint64_t size,
		 dl_ram *ram, const char *id);

/* The mix: by page index p, p % 10 in {0,1} zero, {2,3} one of TF_DUP_SET
 * contents, {4,5} content held in the staged image, else unique. */
#define TF_DUP_SET 64
typedef struct tf_mix {
	uint64_t zero, dup, have, full;
} tf_mix;

void tf_fill_mix(dl_ram *ram, tf_mix *expect);
/* Write the image: every "have" content, in reverse page order (HAVE is
 * by content, not by index), plus unrelated pages. */
void tf_write_image(const tf_dir *d, const char *name, uint64_t npages);

/* A receiver on its own thread: accept, then answer control frames until
 * COMMIT (acknowledged) or failure. */
typedef struct tf_recv {
	tp_receiver *r;
	pthread_t thread;
	bool accept_ok, commit_ok;
	qm_error err;
	int devstate_bytes, verify_frames;
	bool auto_commit;
} tf_recv;

tp_receiver *tf_receiver_new(const tf_dir *d, const char *psk,
			     const char *image);
/* Same, with the destination RAM left sparse (holes punched for ZERO). */
tp_receiver *tf_receiver_new_sparse(const tf_dir *d, const char *psk,
				    const char *image);
/* Either, with TLS required (@tls) or off. */
tp_receiver *tf_receiver_new_opt(const tf_dir *d, const char *psk,
				 const char *image, bool sparse, bool tls);
void tf_recv_start(tf_recv *t, tp_receiver *r);
void tf_recv_join(tf_recv *t);

/* Sender config with the test defaults. */
void tf_sender_config(tp_sender_config *c, int streams, const char *psk);

/* A sender and a receiver over loopback, each with its own RAM dir: what
 * the failure tests start from. tf_pair_init() makes a source RAM of
 * @npages (random content if @random, else zero) and a sender config
 * for 2 streams (TLS if @tls); the receiver is the test's to make. */
typedef struct tf_pair {
	tf_dir dsrc, ddst;
	dl_ram src;
	dl_hasher h;
	tf_recv rt;
	tp_sender *s;
	tp_sender_config sc;
} tf_pair;

void tf_pair_init(tf_pair *g, uint64_t npages, bool random, bool tls);
void tf_pair_fini(tf_pair *g);
/* Make the sender and connect it to @port on 127.0.0.1. */
bool tf_pair_connect(tf_pair *g, uint16_t port, qm_error *err);
/* A plain TCP connection to @port on 127.0.0.1 (a hostile peer). */
int tf_raw_connect(uint16_t port);
/* Fail unless @e has @code and contains @msg. */
void tf_assert_msg(const qm_error *e, qm_errcode code, const char *msg);

/* Compare two RAMs byte for byte and by hash. */
void tf_assert_same(const dl_ram *a, const dl_hasher *ha, const dl_ram *b,
		    const dl_hasher *hb);

/* A proxy 127.0.0.1:port -> 127.0.0.1:target, one thread per direction.
 * cut_after: close both sides after this many client->server bytes (0 =
 * never); garbage_at: overwrite 64 bytes there with 0xff (0 = never);
 * record: keep the first @record client->server bytes. */
typedef struct tf_proxy {
	int lfd;
	uint16_t port, target;
	uint64_t cut_after, garbage_at;
	size_t record;
	uint8_t *rec;
	size_t rec_len;
	pthread_t thread;
	pthread_mutex_t lock;
	int stop;
} tf_proxy;

void tf_proxy_start(tf_proxy *p, uint16_t target);
void tf_proxy_stop(tf_proxy *p);

#endif
