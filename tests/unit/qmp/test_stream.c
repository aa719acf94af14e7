/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the QMP framing layer (qmp/stream.c), fed directly. */
#include "tests/qmig_test.h"
#include "qmp/stream.h"
#include "qmp/qmp.h"

#include <string.h>

#define MAXMSG 16
#define CASE(name, fn) { name, fn, NULL, NULL, NULL }

struct sink {
	int n;
	char msgs[MAXMSG][512];
};

static bool sink_fn(void *opaque, json_object *msg, qm_error *err)
{
	struct sink *k = opaque;

	assert_true(json_object_is_type(msg, json_type_object));
	assert_true(k->n < MAXMSG);
	snprintf(k->msgs[k->n++], sizeof(k->msgs[0]), "%s",
		 json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN));
	json_object_put(msg);
	return true;
}

static void stream_new(qmp_stream *s, size_t max)
{
	assert_true(qmp_stream_init(s, max, NULL));
}

/* A reply split at any byte (inside a string, a multi-byte UTF-8
 * character, a number, between tokens) parses to the same single object,
 * and nothing is delivered before its last byte. */
static void test_split_every_byte(void **state)
{
	static const char msg[] =
		"{\"return\": {\"status\": \"caf\xc3\xa9\", \"ram\": "
		"{\"total\": 67108864, \"mbps\": 12.5}, \"l\": [1, [2, {}]], "
		"\"t\": true, \"n\": null}, \"id\": 12}\r\n";
	size_t len = strlen(msg), k;
	qmp_stream s;
	struct sink sink;
	qm_error err = QM_ERROR_INIT;
	char want[512];

	stream_new(&s, QMP_MAX_MSG_BYTES);
	memset(&sink, 0, sizeof(sink));
	assert_true(qmp_stream_feed(&s, msg, len, sink_fn, &sink, &err));
	assert_int_equal(sink.n, 1);
	strcpy(want, sink.msgs[0]);
	assert_non_null(strstr(want, "caf\xc3\xa9"));
	for (k = 1; k < len; k++) {
		memset(&sink, 0, sizeof(sink));
		assert_true(qmp_stream_feed(&s, msg, k, sink_fn, &sink, &err));
		/* Only the trailing CRLF may come after the closing brace. */
		assert_int_equal(sink.n, k >= len - 2 ? 1 : 0);
		assert_true(qmp_stream_feed(&s, msg + k, len - k, sink_fn,
					    &sink, &err));
		assert_int_equal(sink.n, 1);
		assert_string_equal(sink.msgs[0], want);
		assert_false(qmp_stream_mid_message(&s));
	}
	/* And one byte per call. */
	memset(&sink, 0, sizeof(sink));
	for (k = 0; k < len; k++)
		assert_true(qmp_stream_feed(&s, msg + k, 1, sink_fn, &sink,
					    &err));
	assert_int_equal(sink.n, 1);
	assert_string_equal(sink.msgs[0], want);
	qmp_stream_destroy(&s);
}

/* Several messages in one buffer come out in order, and CR/LF/tabs/
 * spaces before, between and after them are skipped. */
static void test_several_and_blanks(void **state)
{
	static const char buf[] =
		"\r\n  {\"a\":1}{\"b\":2}\r\n\r\n\t {\"c\":[3]} \n";
	qmp_stream s;
	struct sink sink = { 0 };
	qm_error err = QM_ERROR_INIT;

	stream_new(&s, QMP_MAX_MSG_BYTES);
	assert_true(qmp_stream_feed(&s, buf, strlen(buf), sink_fn, &sink,
				    &err));
	assert_int_equal(sink.n, 3);
	assert_string_equal(sink.msgs[0], "{\"a\":1}");
	assert_string_equal(sink.msgs[1], "{\"b\":2}");
	assert_string_equal(sink.msgs[2], "{\"c\":[3]}");
	assert_false(qmp_stream_mid_message(&s));
	assert_int_equal(s.nmsgs, 3);
	/* Blank-only input delivers nothing and starts no message. */
	assert_true(qmp_stream_feed(&s, "\r\n \r\n", 5, sink_fn, &sink, &err));
	assert_false(qmp_stream_mid_message(&s));
	assert_int_equal(sink.n, 3);
	qmp_stream_destroy(&s);
}

/* Malformed JSON is QM_ERR_PROTO naming the message number, the byte
 * offset and the offending character; the stream then stays failed. */
static void test_malformed(void **state)
{
	static const struct {
		const char *in;
		const char *msg;
	} cases[] = {
		{ "{\"a\":1,}", "message 1: malformed JSON at byte 7 ('}')" },
		{ "{\"a\" 1}", "message 1: malformed JSON at byte 5 ('1')" },
		{ "{\"a\":tru }", "message 1: malformed JSON at byte" },
		{ "{\"a\":1}x", "message 2: malformed JSON at byte 0 ('x')" },
		/* json-c takes a NUL byte for the end of the input */
		{ "{\"a\":\"\x01\0\"}", "unexpected end of data" },
		{ "}", "message 1: malformed JSON at byte 0 ('}')" },
	};
	qm_error err;
	qmp_stream s;
	struct sink sink;
	size_t i;

	for (i = 0; i < QM_ARRAY_SIZE(cases); i++) {
		size_t len = strlen(cases[i].in);

		if (strchr(cases[i].in, '\x01'))
			len = 10; /* contains a NUL byte */
		stream_new(&s, QMP_MAX_MSG_BYTES);
		memset(&sink, 0, sizeof(sink));
		qm_error_clear(&err);
		assert_false(qmp_stream_feed(&s, cases[i].in, len, sink_fn,
					     &sink, &err));
		assert_int_equal(err.code, QM_ERR_PROTO);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: '%s' does not contain '%s'", i,
				 err.msg, cases[i].msg);
		qm_error_clear(&err);
		assert_false(qmp_stream_feed(&s, "{}", 2, sink_fn, &sink,
					     &err));
		assert_int_equal(err.code, QM_ERR_STATE);
		qmp_stream_destroy(&s);
	}
}

/* A top-level value that is not an object is refused with its type. */
static void test_non_object(void **state)
{
	static const struct {
		const char *in;
		const char *type;
	} cases[] = {
		{ "[1, 2]", "array" }, { "\"hello\"", "string" },
		{ "42\n", "int" }, { "null\n", "null" }, { "true ", "boolean" },
		{ "1.5\r\n", "double" },
	};
	char want[64];
	qm_error err;
	qmp_stream s;
	struct sink sink = { 0 };
	size_t i;

	for (i = 0; i < QM_ARRAY_SIZE(cases); i++) {
		stream_new(&s, QMP_MAX_MSG_BYTES);
		qm_error_clear(&err);
		assert_false(qmp_stream_feed(&s, cases[i].in,
					     strlen(cases[i].in), sink_fn,
					     &sink, &err));
		assert_int_equal(err.code, QM_ERR_PROTO);
		snprintf(want, sizeof(want),
			 "message 1 is a JSON %s, expected an object",
			 cases[i].type);
		if (!strstr(err.msg, want))
			fail_msg("'%s' lacks '%s'", err.msg, want);
		qmp_stream_destroy(&s);
	}
	assert_int_equal(sink.n, 0);
}

/* The size limit counts the bytes of one message (not the blanks around
 * it): exactly max bytes pass, max + 1 are QM_ERR_TOO_BIG, whether they
 * arrive at once or in pieces. */
static void test_size_limit(void **state)
{
	char exact[65], over[66];
	qm_error err = QM_ERROR_INIT;
	qmp_stream s;
	struct sink sink = { 0 };

	/* {"k":"aaa...a"} of exactly 64 bytes: 8 bytes of syntax + 56. */
	snprintf(exact, sizeof(exact), "{\"k\":\"%056d\"}", 0);
	assert_int_equal(strlen(exact), 64);
	snprintf(over, sizeof(over), "{\"k\":\"%057d\"}", 0);
	stream_new(&s, 64);
	assert_true(qmp_stream_feed(&s, "\r\n\r\n", 4, sink_fn, &sink, &err));
	assert_true(qmp_stream_feed(&s, exact, 64, sink_fn, &sink, &err));
	assert_true(qmp_stream_feed(&s, "\r\n", 2, sink_fn, &sink, &err));
	assert_true(qmp_stream_feed(&s, exact, 64, sink_fn, &sink, &err));
	assert_int_equal(sink.n, 2);
	assert_true(qmp_stream_feed(&s, over, 30, sink_fn, &sink, &err));
	assert_false(qmp_stream_feed(&s, over + 30, 35, sink_fn, &sink, &err));
	assert_int_equal(err.code, QM_ERR_TOO_BIG);
	assert_string_equal(err.msg,
			    "QMP: message 3 exceeds the limit of 64 bytes (64 bytes read, still incomplete)");
	qmp_stream_destroy(&s);
}

/* Nesting is bounded by QMP_MAX_DEPTH: at the limit it parses, one
 * deeper is a protocol error, not a stack overflow. */
static void test_depth_limit(void **state)
{
	char buf[4 * QMP_MAX_DEPTH + 16];
	qm_error err = QM_ERROR_INIT;
	qmp_stream s;
	struct sink sink = { 0 };
	int depth, i;
	size_t n;

	for (depth = QMP_MAX_DEPTH; depth <= QMP_MAX_DEPTH + 1; depth++) {
		/* One object holding depth - 1 nested arrays. */
		n = snprintf(buf, sizeof(buf), "{\"a\":");
		for (i = 0; i < depth - 1; i++)
			buf[n++] = '[';
		for (i = 0; i < depth - 1; i++)
			buf[n++] = ']';
		buf[n++] = '}';
		stream_new(&s, QMP_MAX_MSG_BYTES);
		qm_error_clear(&err);
		if (depth == QMP_MAX_DEPTH) {
			assert_true(qmp_stream_feed(&s, buf, n, sink_fn, &sink,
						    &err));
			assert_int_equal(sink.n, 1);
		} else {
			assert_false(qmp_stream_feed(&s, buf, n, sink_fn,
						     &sink, &err));
			assert_int_equal(err.code, QM_ERR_PROTO);
			assert_non_null(strstr(err.msg, "nesting too deep"));
		}
		qmp_stream_destroy(&s);
	}
}

/* mid_message is true exactly between a message's first byte and its
 * last: what the connection uses to report EOF inside a message. */
static void test_mid_message(void **state)
{
	qm_error err = QM_ERROR_INIT;
	qmp_stream s;
	struct sink sink = { 0 };

	stream_new(&s, QMP_MAX_MSG_BYTES);
	assert_false(qmp_stream_mid_message(&s));
	assert_true(qmp_stream_feed(&s, "  ", 2, sink_fn, &sink, &err));
	assert_false(qmp_stream_mid_message(&s));
	assert_true(qmp_stream_feed(&s, "{\"a\"", 4, sink_fn, &sink, &err));
	assert_true(qmp_stream_mid_message(&s));
	assert_int_equal(s.msg_bytes, 4);
	assert_true(qmp_stream_feed(&s, ":1}", 3, sink_fn, &sink, &err));
	assert_false(qmp_stream_mid_message(&s));
	assert_int_equal(sink.n, 1);
	qmp_stream_destroy(&s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CASE("/qmp/stream/split-every-byte", test_split_every_byte),
		CASE("/qmp/stream/several-and-blanks", test_several_and_blanks),
		CASE("/qmp/stream/malformed", test_malformed),
		CASE("/qmp/stream/non-object", test_non_object),
		CASE("/qmp/stream/size-limit", test_size_limit),
		CASE("/qmp/stream/depth-limit", test_depth_limit),
		CASE("/qmp/stream/mid-message", test_mid_message),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("qmp-stream", tests, NULL, NULL);
}
