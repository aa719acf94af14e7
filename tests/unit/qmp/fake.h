/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A fake QMP server for the qmp unit tests: one end of a socketpair whose
 * other end is a qmp_conn.
 *
 * Two ways to drive it:
 *  - by hand, in the test's own thread: fake_send() bytes, fake_pump() the
 *    client, fake_expect() the command it wrote. Each step is explicit, so
 *    tests can place a byte boundary or an EOF exactly where they want.
 *  - scripted, in a thread (fake_script_start()), for the blocking
 *    wrappers: the thread answers each expected command with a canned
 *    reply and records what it received.
 */
#ifndef QMIG_TEST_QMP_FAKE_H
#define QMIG_TEST_QMP_FAKE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qmp/qmp.h"

#define FAKE_GREETING                                                   \
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, " \
	"\"major\": 7}, \"package\": \"Debian 1:7.2+dfsg-7\"}, "           \
	"\"capabilities\": [\"oob\"]}}\r\n"

typedef struct fake {
	int fd;                 /* server end, -1 once closed */
	qmp_conn *conn;
	qm_error err;           /* last qmp_process error */
	char in[1 << 16];       /* bytes from the client not yet consumed */
	size_t inlen;
} fake;

/* Records one command completion. */
typedef struct rec {
	int calls;
	bool has_err;
	qm_error err;
	char result[4096];      /* "return" as compact JSON */
	int *order;             /* if set, appends tag here on completion */
	int *norder;
	int tag;
} rec;

void rec_cb(qmp_conn *conn, json_object *result, const qm_error *err,
	    void *opaque);

/* Socketpair, qmp_conn_new, qmp_connect_fd. */
void fake_start(fake *f);
/* qmp_conn_free (if still set) and close the server end. */
void fake_stop(fake *f);
void fake_close_server(fake *f);
void fake_send(fake *f, const char *s);
void fake_send_n(fake *f, const void *buf, size_t n);
/* qmp_process once (POLLIN|POLLOUT); returns its result. */
int fake_pump(fake *f);
/* Pump, then read the next command line the client wrote; NULL if none
 * is complete. Caller owns the JSON. */
json_object *fake_recv(fake *f);
/* fake_recv + assert its "execute" is @name; returns its id. */
int64_t fake_expect(fake *f, const char *name);
/* True if the client has written nothing we have not consumed. */
bool fake_idle(fake *f);
/* Send {"return": @ret_json, "id": @id}. */
void fake_reply(fake *f, int64_t id, const char *ret_json);
/* Greeting, qmp_capabilities, READY. */
void fake_handshake(fake *f);

/* ---- scripted server thread ---- */

typedef struct fake_step {
	const char *expect;     /* command name; NULL ends the script */
	const char *before;     /* raw bytes sent before the reply, or NULL */
	const char *ret;        /* "return" JSON; NULL = see below */
	const char *error_class;/* with ret NULL: send this error class */
	const char *after;      /* raw bytes sent after the reply, or NULL */
	bool close_after;       /* close the socket after this step */
} fake_step;

#define FAKE_MAX_STEPS 32

typedef struct fake_script {
	int fd;
	const fake_step *steps;
	pthread_t thread;
	char got[FAKE_MAX_STEPS][2048]; /* each command as received */
	int nsteps_done;
	char failure[256];       /* first mismatch, "" if none */
} fake_script;

/* Start the thread on a new socketpair; returns the client fd. */
int fake_script_start(fake_script *s, const fake_step *steps);
/* Join the thread (after the client closed its end). */
void fake_script_join(fake_script *s);

#endif
