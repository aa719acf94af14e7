/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * common: the error object, logging and clocks every qmig library shares.
 *
 * Error convention (after QEMU's include/qapi/error.h):
 *  - A function that can fail takes `qm_error *err` as its last argument and
 *    also signals failure through its return value (false, NULL or a
 *    negative int), so callers test the return value, not the error.
 *  - On failure it fills *err once (code + human message); on success it
 *    leaves *err untouched. err may be NULL when the caller does not care.
 *  - The function detects, the caller decides: log it, turn it into a
 *    JSON-RPC error, or send an ABORT frame. Callers that add context use
 *    qm_error_prepend() ("reading pagemap at page 123: ...").
 *  - Messages name the field and both values ("count 9000 exceeds 4096").
 *
 * Low-level helpers may return -errno instead; convert at library
 * boundaries with qm_error_errno().
 *
 * Threads: an qm_error belongs to one thread at a time; the log functions
 * may be called from any thread (one write(2) per message).
 */
#ifndef QMIG_COMMON_H
#define QMIG_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error classes. Numbers are stable: they appear in JSON-RPC error data. */
typedef enum qm_errcode {
	QM_OK = 0,
	QM_ERR_INVAL,     /* bad argument from the caller */
	QM_ERR_IO,        /* a system call failed; sys_errno says which */
	QM_ERR_PROTO,     /* the peer broke the protocol (malformed input) */
	QM_ERR_TOO_BIG,   /* input over a named limit */
	QM_ERR_TIMEOUT,   /* a deadline passed */
	QM_ERR_CLOSED,    /* the peer closed the connection */
	QM_ERR_QMP,       /* QEMU answered with an error (see qmp.h) */
	QM_ERR_NOMEM,
	QM_ERR_STATE,     /* operation not allowed in the current state */
	QM_ERR_UNSUPPORTED, /* kernel, QEMU or configuration lacks a feature */
	QM_ERR_NOTFOUND,
	QM_ERR_CANCELLED,
	QM_ERR__COUNT
} qm_errcode;

#define QM_ERROR_MSG_MAX 512

typedef struct qm_error {
	qm_errcode code;
	int sys_errno;      /* errno for QM_ERR_IO, else 0 */
	int subclass;       /* library-specific detail, e.g. the QMP class */
	char msg[QM_ERROR_MSG_MAX];
} qm_error;

#define QM_ERROR_INIT { QM_OK, 0, 0, { 0 } }

/* Fill *err (if err is non-NULL and not already set). Always returns false
 * so that `return qm_error_set(...)` reads naturally in bool functions. */
bool qm_error_set(qm_error *err, qm_errcode code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* As qm_error_set, with code QM_ERR_IO, sys_errno = errnum and
 * ": strerror(errnum)" appended to the message. */
bool qm_error_errno(qm_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefix context to an error that is set: "ctx: old message". */
void qm_error_prepend(qm_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline bool qm_error_is_set(const qm_error *err)
{
	return err && err->code != QM_OK;
}
static inline void qm_error_clear(qm_error *err)
{
	if (err) {
		err->code = QM_OK;
		err->sys_errno = 0;
		err->subclass = 0;
		err->msg[0] = '\0';
	}
}
/* Stable lower-case name of a code, e.g. "timeout". */
const char *qm_errcode_name(qm_errcode code);

/* ---- logging ----
 * Each source file defines LOG_PREFIX before including this header (CRIU
 * style) so every line says where it came from. Level from QMIG_LOG
 * (error|warn|info|debug) in the environment, read once; default info.
 */
typedef enum qm_log_level {
	QM_LOG_ERROR, QM_LOG_WARN, QM_LOG_INFO, QM_LOG_DEBUG
} qm_log_level;

#ifndef LOG_PREFIX
#define LOG_PREFIX ""
#endif

void qm_log(qm_log_level lvl, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool qm_log_enabled(qm_log_level lvl);
void qm_log_set_level(qm_log_level lvl);

#define pr_err(fmt, ...)   qm_log(QM_LOG_ERROR, LOG_PREFIX, fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...)  qm_log(QM_LOG_WARN,  LOG_PREFIX, fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...)  qm_log(QM_LOG_INFO,  LOG_PREFIX, fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...) qm_log(QM_LOG_DEBUG, LOG_PREFIX, fmt, ##__VA_ARGS__)

/* ---- clocks ---- */
/* CLOCK_MONOTONIC in nanoseconds / milliseconds. */
int64_t qm_now_ns(void);
int64_t qm_now_ms(void);

/* ---- small helpers ---- */
/* Parse "64M", "1G", "4096", "2k" (powers of 1024) into *out. Rejects
 * empty strings, trailing junk and overflow. */
bool qm_parse_size(const char *s, uint64_t *out, qm_error *err);
/* snprintf that reports truncation: false if the result did not fit (the
 * buffer then holds a truncated, NUL-terminated string). For paths and
 * names where a silently cut string would point somewhere else. */
bool qm_format(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * qm_read_file: read a whole file of at most @max bytes into a malloc'ed,
 * NUL-terminated buffer (also /proc files, whose size stat cannot tell).
 * *@len (may be NULL) gets the byte count. NULL on failure: QM_ERR_IO
 * naming the path, QM_ERR_TOO_BIG over @max, QM_ERR_NOMEM.
 */
char *qm_read_file(const char *path, size_t max, size_t *len, qm_error *err);
/* Set O_NONBLOCK / FD_CLOEXEC; -errno on failure. */
int qm_fd_set_nonblock(int fd);

/*
 * qm_kvm_usable: true when /dev/kvm can create a VM and the CPU advertises
 * vmx or svm. Some hosts expose an emulated /dev/kvm without either, which
 * is slower than TCG for small guests; it counts as unusable. When false,
 * @why (if non-NULL) gets the reason.
 */
bool qm_kvm_usable(char *why, size_t why_len);

#define QM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define QM_MIN(a, b) ((a) < (b) ? (a) : (b))
#define QM_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif /* QMIG_COMMON_H */
