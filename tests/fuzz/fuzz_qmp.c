/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target for what QEMU sends to the QMP client: the framing layer,
 * the session (greeting, replies, events) and the result parsers.
 *
 * Input: byte 0 selects how the rest is cut into pieces and whether a
 * valid greeting + capabilities reply is put in front (so the fuzzer
 * spends its time past the handshake); bytes 1.. are QEMU's output.
 *
 * Each input runs three ways:
 *  1. qmp_stream_feed() in pieces, with a small size limit; every message
 *     (and its "return" and "data" members) goes through every parser;
 *  2. a real qmp_conn over a socketpair with three commands pending, the
 *     bytes written in pieces, then EOF: every callback must be called
 *     exactly once, and the connection must end dead;
 *  3. the whole input as one JSON text through the parsers.
 *
 * Build: -Dfuzz=true with clang (libFuzzer), or linked with replay.c to
 * replay a corpus directory (the meson test does that on every run).
 */
#include "qmp/qmp.h"
#include "qmp/stream.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCMDS 3
/* The greeting used when byte 0 has bit 7 set; qmp_capabilities gets id
 * NCMDS + 1 because NCMDS commands are submitted before the greeting. */
static const char prologue[] =
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, "
	"\"major\": 7}, \"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n"
	"{\"return\": {}, \"id\": 4}\r\n";

#define CHECK(cond)                                                     \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr, "fuzz_qmp: %s:%d: %s\n",        \
				__FILE__, __LINE__, #cond);             \
			abort();                                        \
		}                                                       \
	} while (0)

/* Run every parser on @j; none may crash, each either succeeds or sets
 * an error. */
static void parse_all(json_object *j)
{
	qm_error e = QM_ERROR_INIT;
	qmp_status st;
	qmp_memdev_list md = { 0 };
	qmp_qom_prop_list ql = { 0 };
	qmp_cpu_list cl = { 0 };
	qmp_mig_cap_list mc = { 0 };
	qmp_migrate_info mi;
	qmp_dirty_rate_info dr;
	qmp_name_list nl = { 0 };
	qmp_greeting g;

#define TRY(call)                                                       \
	do {                                                            \
		qm_error_clear(&e);                                     \
		CHECK((call) || qm_error_is_set(&e));                   \
	} while (0)
	TRY(qmp_parse_status(j, &st, &e));
	TRY(qmp_parse_memdev_list(j, &md, &e));
	TRY(qmp_parse_qom_list(j, &ql, &e));
	TRY(qmp_parse_cpus_fast(j, &cl, &e));
	TRY(qmp_parse_migrate_capabilities(j, &mc, &e));
	TRY(qmp_parse_migrate_info(j, &mi, &e));
	TRY(qmp_parse_dirty_rate(j, &dr, &e));
	TRY(qmp_parse_commands(j, &nl, &e));
	TRY(qmp_parse_greeting(j, &g, &e));
#undef TRY
	qmp_memdev_list_free(&md);
	qmp_qom_prop_list_free(&ql);
	qmp_cpu_list_free(&cl);
	qmp_mig_cap_list_free(&mc);
	qmp_name_list_free(&nl);
}

static bool on_msg(void *opaque, json_object *msg, qm_error *err)
{
	json_object *v;

	CHECK(json_object_is_type(msg, json_type_object));
	parse_all(msg);
	if (json_object_object_get_ex(msg, "return", &v))
		parse_all(v);
	if (json_object_object_get_ex(msg, "data", &v))
		parse_all(v);
	json_object_put(msg);
	return true;
}

static void run_stream(const char *buf, size_t len, size_t piece)
{
	qm_error e = QM_ERROR_INIT;
	qmp_stream s;
	size_t off;

	/* A small limit, so that inputs the fuzzer can produce reach it. */
	CHECK(qmp_stream_init(&s, 4096, NULL));
	for (off = 0; off < len; off += piece) {
		if (!qmp_stream_feed(&s, buf + off, QM_MIN(piece, len - off),
				     on_msg, NULL, &e)) {
			CHECK(qm_error_is_set(&e));
			break;
		}
	}
	qmp_stream_destroy(&s);
}

struct done {
	int calls[NCMDS];
};

static void cmd_cb(qmp_conn *conn, json_object *result, const qm_error *err,
		   void *opaque)
{
	int *calls = opaque;

	CHECK((result == NULL) != (err == NULL));
	if (result)
		parse_all(result);
	(*calls)++;
}

/* Write @len bytes in @piece-sized writes, processing in between, then
 * EOF; the connection must die and every command complete once. */
static void run_conn(const char *buf, size_t len, size_t piece)
{
	struct done d = { { 0 } };
	qmp_conn *conn = qmp_conn_new(NULL);
	size_t off = 0;
	ssize_t n;
	int sv[2], i, rounds = 0;

	CHECK(conn);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(qmp_connect_fd(conn, sv[0], NULL));
	for (i = 0; i < NCMDS; i++)
		CHECK(qmp_execute(conn, "query-status", NULL, QMP_TIMEOUT_NONE,
				  cmd_cb, &d.calls[i], NULL) == i + 1);
	while (off < len && qmp_get_state(conn) != QMP_STATE_DEAD) {
		n = send(sv[1], buf + off, QM_MIN(piece, len - off),
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			off += n;
		else
			CHECK(errno == EAGAIN);
		qmp_process(conn, POLLIN, NULL);
	}
	shutdown(sv[1], SHUT_WR);
	while (qmp_process(conn, POLLIN, NULL) == 0)
		CHECK(++rounds < 1000);
	CHECK(qmp_get_state(conn) == QMP_STATE_DEAD);
	CHECK(qmp_pending_count(conn) == 0);
	for (i = 0; i < NCMDS; i++)
		CHECK(d.calls[i] == 1);
	while (qmp_event_count(conn))
		json_object_put(qmp_event_pop(conn));
	qmp_conn_free(conn);
	close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	size_t len, piece;
	json_object *j;
	char *buf;

	if (!quiet) {
		/* Unknown ids and full queues are logged: keep the fuzzer's
		 * output readable. */
		qm_log_set_level(QM_LOG_ERROR);
		quiet = true;
	}
	if (size < 1 || size > (1 << 20))
		return 0;
	piece = (data[0] & 0x7f) ? (data[0] & 0x7f) : 4096;
	len = size - 1 + ((data[0] & 0x80) ? sizeof(prologue) - 1 : 0);
	buf = malloc(len + 1);
	CHECK(buf);
	if (data[0] & 0x80) {
		memcpy(buf, prologue, sizeof(prologue) - 1);
		memcpy(buf + sizeof(prologue) - 1, data + 1, size - 1);
	} else {
		memcpy(buf, data + 1, size - 1);
	}
	buf[len] = '\0';
	run_stream(buf, len, piece);
	run_conn(buf, len, piece);
	j = json_tokener_parse(buf);
	parse_all(j);
	json_object_put(j);
	free(buf);
	return 0;
}
