/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp: a non-blocking QMP client, one connection object per QEMU.
 *
 * Shape (after libuv handles): the caller's event loop owns readiness. It
 * polls qmp_fd() for POLLIN (plus POLLOUT while qmp_want_write()), with
 * qmp_next_timeout_ms() as its timeout, and calls qmp_process() on every
 * wake-up. Only qmp_connect() and the blocking wrappers (qmp_call() and the
 * typed helpers, qmp_wait_*()) ever block.
 *
 *   qmp_connect()      QEMU                      qmp_state()
 *        |  <------ {"QMP": {version, caps}}     GREETING
 *        |  ------> qmp_capabilities (id 1)      NEGOTIATING
 *        |  <------ {"return": {}, "id": 1}      READY: queued commands go
 *        |  ------> {"execute": ..., "id": N}           out in order
 *        |  <------ {"event": ...}               queued + recorded as state
 *        |  <------ {"return"|"error", "id": N}  callback of command N
 *        |  <------ EOF / garbage / too big      DEAD: every pending
 *                                                 callback gets the reason
 *
 * Callback contract (libuv): if qmp_execute() returns -1 the callback is
 * never called; otherwise it is called exactly once, from qmp_process()
 * (reply, timeout, connection death) or from qmp_conn_free() (cancelled).
 * Callbacks may call qmp_execute(), qmp_event_pop() and the accessors; they
 * must not call qmp_conn_free(), qmp_process() or a blocking wrapper (those
 * fail with QM_ERR_STATE).
 *
 * Errors: QM_ERR_QMP means QEMU answered with an error; err->subclass is a
 * qmp_err_class and err->msg is "<command>: <desc>". desc is for people:
 * code decides on the class only (qapi: "Clients should not attempt to
 * parse the error strings"). QM_ERR_CLOSED: QEMU closed the connection;
 * QM_ERR_PROTO: QEMU sent something that is not QMP; QM_ERR_TOO_BIG: one
 * message exceeded QMP_MAX_MSG_BYTES; QM_ERR_TIMEOUT: a deadline passed.
 *
 * Threads: a qmp_conn belongs to one thread at a time; distinct
 * connections are independent. The pure parsers (qmp_parse_*) are
 * reentrant.
 */
#ifndef QMIG_QMP_H
#define QMIG_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "common/common.h"

/* ---- limits ---- */

/* One message (greeting, reply or event) larger than this kills the
 * connection with QM_ERR_TOO_BIG; the biggest real reply, query-qmp-schema,
 * is about 200 KiB. Outgoing commands are held to the same limit. */
#define QMP_MAX_MSG_BYTES	(16u << 20)
/* Maximum JSON nesting of one message (QEMU's replies nest < 10 deep). */
#define QMP_MAX_DEPTH		64
/* Events kept for qmp_event_pop(); beyond this the oldest is dropped and
 * qmp_event_state.dropped counts it. */
#define QMP_EVENT_QUEUE_MAX	256
/* Default per-command and handshake timeout (qmp_set_default_timeout()). */
#define QMP_DEFAULT_TIMEOUT_MS	10000
/* timeout_ms value meaning "no deadline" (e.g. for a long migrate-incoming
 * wait the caller polls itself). */
#define QMP_TIMEOUT_NONE	(-1)
/* Names (commands, properties, object ids, capabilities) and enum strings
 * are copied into fixed buffers of these sizes (including the NUL); longer
 * values from QEMU are QM_ERR_PROTO naming the field. */
#define QMP_NAME_MAX		128
#define QMP_ENUM_STR_MAX	48
#define QMP_MAX_HOST_NODES	128
/* Items in one list result (query-commands has ~250, qom-list a few
 * hundred); more is QM_ERR_TOO_BIG rather than a peer-sized allocation. */
#define QMP_MAX_LIST_ITEMS	8192
#define QMP_MAX_GREETING_CAPS	16

/* ---- enums mirroring the QAPI schema (0 = value not known to qmig) ---- */

/* QMP error classes, qapi/error.json QapiErrorClass. */
typedef enum qmp_err_class {
	QMP_ERR_CLASS_UNKNOWN = 0,
	QMP_ERR_CLASS_GENERIC,            /* GenericError */
	QMP_ERR_CLASS_COMMAND_NOT_FOUND,  /* CommandNotFound */
	QMP_ERR_CLASS_DEVICE_NOT_ACTIVE,  /* DeviceNotActive */
	QMP_ERR_CLASS_DEVICE_NOT_FOUND,   /* DeviceNotFound */
	QMP_ERR_CLASS_KVM_MISSING_CAP,    /* KVMMissingCap */
	QMP_ERR_CLASS__COUNT
} qmp_err_class;

/* qapi/run-state.json RunState. */
typedef enum qmp_run_state {
	QMP_RUN_STATE_UNKNOWN = 0,
	QMP_RUN_STATE_DEBUG,
	QMP_RUN_STATE_INMIGRATE,
	QMP_RUN_STATE_INTERNAL_ERROR,
	QMP_RUN_STATE_IO_ERROR,
	QMP_RUN_STATE_PAUSED,
	QMP_RUN_STATE_POSTMIGRATE,
	QMP_RUN_STATE_PRELAUNCH,
	QMP_RUN_STATE_FINISH_MIGRATE,
	QMP_RUN_STATE_RESTORE_VM,
	QMP_RUN_STATE_RUNNING,
	QMP_RUN_STATE_SAVE_VM,
	QMP_RUN_STATE_SHUTDOWN,
	QMP_RUN_STATE_SUSPENDED,
	QMP_RUN_STATE_WATCHDOG,
	QMP_RUN_STATE_GUEST_PANICKED,
	QMP_RUN_STATE_COLO,
	QMP_RUN_STATE__COUNT
} qmp_run_state;

/* qapi/migration.json MigrationStatus. */
typedef enum qmp_mig_status {
	QMP_MIG_STATUS_UNKNOWN = 0,
	QMP_MIG_STATUS_NONE,
	QMP_MIG_STATUS_SETUP,
	QMP_MIG_STATUS_CANCELLING,
	QMP_MIG_STATUS_CANCELLED,
	QMP_MIG_STATUS_ACTIVE,
	QMP_MIG_STATUS_POSTCOPY_ACTIVE,
	QMP_MIG_STATUS_POSTCOPY_PAUSED,
	QMP_MIG_STATUS_POSTCOPY_RECOVER,
	QMP_MIG_STATUS_COMPLETED,
	QMP_MIG_STATUS_FAILED,
	QMP_MIG_STATUS_COLO,
	QMP_MIG_STATUS_PRE_SWITCHOVER,
	QMP_MIG_STATUS_DEVICE,
	QMP_MIG_STATUS_WAIT_UNPLUG,
	QMP_MIG_STATUS__COUNT
} qmp_mig_status;

/* qapi/migration.json DirtyRateStatus. */
typedef enum qmp_dirty_rate_status {
	QMP_DIRTY_RATE_UNKNOWN = 0,
	QMP_DIRTY_RATE_UNSTARTED,
	QMP_DIRTY_RATE_MEASURING,
	QMP_DIRTY_RATE_MEASURED,
	QMP_DIRTY_RATE__COUNT
} qmp_dirty_rate_status;

/* qapi/machine.json HostMemPolicy. */
typedef enum qmp_mem_policy {
	QMP_MEM_POLICY_UNKNOWN = 0,
	QMP_MEM_POLICY_DEFAULT,
	QMP_MEM_POLICY_PREFERRED,
	QMP_MEM_POLICY_BIND,
	QMP_MEM_POLICY_INTERLEAVE,
	QMP_MEM_POLICY__COUNT
} qmp_mem_policy;

/* Wire name of each value ("GenericError", "running", "pre-switchover",
 * "measured", "bind"); "unknown" for 0 or out of range. */
const char *qmp_err_class_name(qmp_err_class c);
const char *qmp_run_state_name(qmp_run_state s);
const char *qmp_mig_status_name(qmp_mig_status s);
const char *qmp_dirty_rate_status_name(qmp_dirty_rate_status s);
const char *qmp_mem_policy_name(qmp_mem_policy p);
/* Inverse of the above; unknown strings (newer QEMU) map to 0. */
qmp_err_class qmp_err_class_from_str(const char *s);
qmp_run_state qmp_run_state_from_str(const char *s);
qmp_mig_status qmp_mig_status_from_str(const char *s);
qmp_dirty_rate_status qmp_dirty_rate_status_from_str(const char *s);
qmp_mem_policy qmp_mem_policy_from_str(const char *s);

/* ---- the connection ---- */

typedef struct qmp_conn qmp_conn;

typedef enum qmp_state {
	QMP_STATE_NEW = 0,     /* created, not connected */
	QMP_STATE_GREETING,    /* connected, waiting for {"QMP": ...} */
	QMP_STATE_NEGOTIATING, /* qmp_capabilities sent */
	QMP_STATE_READY,       /* commands flow */
	QMP_STATE_DEAD,        /* closed; qmp_conn_error() says why */
	QMP_STATE__COUNT
} qmp_state;

/* What the greeting said. */
typedef struct qmp_greeting {
	int major, minor, micro;          /* QEMU version, e.g. 7 2 22 */
	char package[QMP_NAME_MAX];       /* vendor string, truncated */
	unsigned ncaps;                   /* capabilities offered ("oob") */
	char caps[QMP_MAX_GREETING_CAPS][QMP_ENUM_STR_MAX];
} qmp_greeting;

/*
 * Events seen so far, recorded as state because they can arrive before
 * anyone waits for them (QEMU qtest's QTestMigrationState). Counters only
 * grow until qmp_event_state_reset().
 */
typedef struct qmp_event_state {
	unsigned stop_seen;               /* STOP events */
	unsigned resume_seen;             /* RESUME events */
	unsigned shutdown_seen;           /* SHUTDOWN events */
	bool shutdown_guest;              /* last SHUTDOWN: guest-initiated */
	char shutdown_reason[QMP_ENUM_STR_MAX]; /* last SHUTDOWN data.reason */
	unsigned migration_seen;          /* MIGRATION events */
	qmp_mig_status migration;         /* last MIGRATION data.status */
	char migration_str[QMP_ENUM_STR_MAX]; /* same, as sent ("" = none) */
	uint64_t received;                /* all events */
	uint64_t dropped;                 /* dropped from a full queue */
} qmp_event_state;

/*
 * qmp_cmd_cb: completion of one command.
 * @result: the reply's "return" value, borrowed for the duration of the
 *          call (json_object_get() it to keep it); NULL iff @err is set.
 * @err: NULL on success; else QM_ERR_QMP (subclass = qmp_err_class),
 *       QM_ERR_TIMEOUT, QM_ERR_CLOSED, QM_ERR_PROTO, QM_ERR_TOO_BIG,
 *       QM_ERR_IO or QM_ERR_CANCELLED (qmp_conn_free()).
 */
typedef void (*qmp_cmd_cb)(qmp_conn *conn, json_object *result,
			   const qm_error *err, void *opaque);

/*
 * qmp_event_cb: an event arrived (after the state was recorded).
 * @name: the event name; @event: the whole message ({"event", "data",
 * "timestamp"}), borrowed. Events delivered here are not queued.
 */
typedef void (*qmp_event_cb)(qmp_conn *conn, const char *name,
			     json_object *event, void *opaque);

/*
 * qmp_conn_new: allocate an unconnected connection (QMP_STATE_NEW).
 * Returns: the connection (free with qmp_conn_free()), or NULL with
 * QM_ERR_NOMEM.
 */
qmp_conn *qmp_conn_new(qm_error *err);

/*
 * qmp_conn_free: close and free. Callbacks of commands still pending are
 * called with QM_ERR_CANCELLED before it returns; queued events are
 * freed. NULL is a no-op. Not from inside a callback.
 */
void qmp_conn_free(qmp_conn *conn);

/*
 * qmp_connect: connect to QEMU's QMP server and start the handshake.
 * @addr: "unix:PATH", "tcp:HOST:PORT" ("tcp:[::1]:4444" for IPv6) or a
 *        plain socket path.
 * @timeout_ms: how long connecting may block. ENOENT, ECONNREFUSED and
 *        EAGAIN are retried every 10 ms until it passes, because QEMU
 *        creates its socket shortly after it starts; 0 tries once. Host
 *        name resolution (getaddrinfo) is not bounded by it.
 * The handshake itself is driven by qmp_process() (or a blocking wrapper)
 * and must finish within the default timeout. For unix sockets the peer
 * PID is recorded (qmp_peer_pid()).
 * Returns: true when connected. QM_ERR_INVAL (bad address), QM_ERR_STATE
 * (not a new connection), QM_ERR_IO (with errno), QM_ERR_TIMEOUT.
 */
bool qmp_connect(qmp_conn *conn, const char *addr, int timeout_ms,
		 qm_error *err);

/*
 * qmp_connect_fd: use an already connected stream socket (e.g. one end of
 * a socketpair, or a descriptor passed in by a launcher). On success the
 * connection owns @fd (made non-blocking and close-on-exec); on failure
 * the caller still does.
 */
bool qmp_connect_fd(qmp_conn *conn, int fd, qm_error *err);

/* The socket to poll, or -1 before connecting and once dead. */
int qmp_fd(const qmp_conn *conn);
/* True while output is pending: poll for POLLOUT too. */
bool qmp_want_write(const qmp_conn *conn);
/* Milliseconds until the earliest command or handshake deadline (rounded
 * up, 0 if passed), or -1 when there is none: pass it to poll(2). */
int qmp_next_timeout_ms(const qmp_conn *conn);

/*
 * qmp_process: do all the work that is possible without blocking: read and
 * dispatch all available input (replies call their callbacks, events are
 * recorded, queued and passed to the event callback), write pending
 * output, expire commands past their deadline.
 * @revents: poll(2) revents of qmp_fd(), or 0 after a timeout. A hint only:
 *           non-blocking reads and writes are attempted regardless.
 * Returns: 0 while the connection lives; -1 once it is dead (EOF,
 * protocol error, oversized message, I/O error, handshake timeout), with
 * *err set to the reason; by then every pending command has been completed
 * with that reason. Later calls return -1 again. Also -1 with QM_ERR_STATE,
 * the connection unaffected, before qmp_connect() or from a callback.
 */
int qmp_process(qmp_conn *conn, short revents, qm_error *err);

/*
 * qmp_execute: queue command @cmd with @args (ownership taken in all
 * cases, even on failure; NULL = no arguments; must be an object).
 * @timeout_ms: deadline from now; 0 = the connection's default;
 *              QMP_TIMEOUT_NONE = none. On expiry @cb gets QM_ERR_TIMEOUT
 *              and a late reply is dropped. QEMU may still execute it.
 * @cb: may be NULL (the result is dropped).
 * Commands submitted before READY are sent, in order, once it is.
 * Returns: the command's id (> 0), or -1 (and @cb is never called):
 * QM_ERR_INVAL (bad name or args), QM_ERR_STATE (not connected),
 * QM_ERR_CLOSED (connection dead), QM_ERR_TOO_BIG, QM_ERR_NOMEM.
 */
int64_t qmp_execute(qmp_conn *conn, const char *cmd, json_object *args,
		    int timeout_ms, qmp_cmd_cb cb, void *opaque,
		    qm_error *err);

/* Event queue: oldest event (caller owns it: json_object_put()), or NULL. */
json_object *qmp_event_pop(qmp_conn *conn);
size_t qmp_event_count(const qmp_conn *conn);
const qmp_event_state *qmp_event_state_get(const qmp_conn *conn);
/* Zero the counters and last values (not the queue), e.g. before a
 * migration attempt. */
void qmp_event_state_reset(qmp_conn *conn);
/* Deliver events to @cb instead of the queue (NULL restores the queue). */
void qmp_set_event_cb(qmp_conn *conn, qmp_event_cb cb, void *opaque);

/* Accessors. */
qmp_state qmp_get_state(const qmp_conn *conn);
/* The greeting, or NULL before it arrived. */
const qmp_greeting *qmp_get_greeting(const qmp_conn *conn);
/* QEMU's PID from SO_PEERCRED on a unix socket, or 0 if unknown. */
pid_t qmp_peer_pid(const qmp_conn *conn);
/* Why the connection died, or NULL while it lives. */
const qm_error *qmp_conn_error(const qmp_conn *conn);
/* Commands submitted and not yet completed. */
size_t qmp_pending_count(const qmp_conn *conn);
/* Default for timeout_ms 0, the typed helpers and the greeting (set it
 * before qmp_connect() for the greeting); ms > 0, else ignored. */
void qmp_set_default_timeout(qmp_conn *conn, int ms);

/* ---- blocking wrappers (poll loops around qmp_process) ---- */

/*
 * qmp_call: execute and wait for the reply, processing everything else
 * that arrives meanwhile (events, other replies).
 * Returns: the "return" value (caller owns it), or NULL with *err set as
 * for qmp_cmd_cb. A JSON null "return" is QM_ERR_PROTO.
 */
json_object *qmp_call(qmp_conn *conn, const char *cmd, json_object *args,
		      int timeout_ms, qm_error *err);
/* qmp_call for commands whose result does not matter. */
bool qmp_call_ok(qmp_conn *conn, const char *cmd, json_object *args,
		 int timeout_ms, qm_error *err);

/* Wait until @cond returns true (checked before each wait), the timeout
 * passes (QM_ERR_TIMEOUT) or the connection dies (its reason). */
typedef bool (*qmp_cond_fn)(qmp_conn *conn, void *opaque);
bool qmp_wait_until(qmp_conn *conn, qmp_cond_fn cond, void *opaque,
		    int timeout_ms, qm_error *err);
/* Wait for the handshake to complete (QMP_STATE_READY). */
bool qmp_wait_ready(qmp_conn *conn, int timeout_ms, qm_error *err);

/* ---- typed results: pure parsers and blocking helpers ----
 *
 * Every parser takes the command's "return" value, checks each member's
 * type, fills *out and returns true; missing optional members get the
 * defaults documented below, a missing mandatory member or a wrong type is
 * QM_ERR_PROTO naming the member, what it is and what was expected. On
 * failure *out is left freed/zeroed. The helpers run with the connection's
 * default timeout.
 */

/* query-status */
typedef struct qmp_status {
	bool running;
	qmp_run_state state;
	char status[QMP_ENUM_STR_MAX];    /* as sent, e.g. "prelaunch" */
} qmp_status;
bool qmp_parse_status(json_object *ret, qmp_status *out, qm_error *err);
bool qmp_query_status(qmp_conn *conn, qmp_status *out, qm_error *err);

bool qmp_stop(qmp_conn *conn, qm_error *err);
bool qmp_cont(qmp_conn *conn, qm_error *err);
/* quit: true also when QEMU closes the connection before replying (it
 * exits, which is what was asked). */
bool qmp_quit(qmp_conn *conn, qm_error *err);

/* query-memdev */
typedef struct qmp_memdev {
	char id[QMP_NAME_MAX];            /* "" if QEMU sent none */
	uint64_t size;                    /* bytes */
	bool merge, dump, prealloc;
	bool share;                       /* false if absent (QEMU < 6.1) */
	bool reserve;                     /* true if absent (QEMU's default) */
	qmp_mem_policy policy;
	unsigned nhost_nodes;
	uint16_t host_nodes[QMP_MAX_HOST_NODES];
} qmp_memdev;
typedef struct qmp_memdev_list {
	size_t count;
	qmp_memdev *items;                /* free with qmp_memdev_list_free */
} qmp_memdev_list;
bool qmp_parse_memdev_list(json_object *ret, qmp_memdev_list *out,
			   qm_error *err);
void qmp_memdev_list_free(qmp_memdev_list *l);
bool qmp_query_memdev(qmp_conn *conn, qmp_memdev_list *out, qm_error *err);

/* qom-get: the property value as JSON (caller owns it). */
json_object *qmp_qom_get(qmp_conn *conn, const char *path,
			 const char *property, qm_error *err);

/* qom-list */
typedef struct qmp_qom_prop {
	char name[QMP_NAME_MAX];
	char type[QMP_NAME_MAX];          /* e.g. "child<memory-backend-file>" */
} qmp_qom_prop;
typedef struct qmp_qom_prop_list {
	size_t count;
	qmp_qom_prop *items;              /* free with qmp_qom_prop_list_free */
} qmp_qom_prop_list;
bool qmp_parse_qom_list(json_object *ret, qmp_qom_prop_list *out, qm_error *err);
void qmp_qom_prop_list_free(qmp_qom_prop_list *l);
bool qmp_qom_list(qmp_conn *conn, const char *path, qmp_qom_prop_list *out,
		  qm_error *err);

/* query-cpus-fast */
typedef struct qmp_cpu {
	int64_t cpu_index;
	int64_t thread_id;                /* host TID of the vCPU thread */
	char qom_path[QMP_NAME_MAX];
} qmp_cpu;
typedef struct qmp_cpu_list {
	size_t count;
	qmp_cpu *items;                   /* free with qmp_cpu_list_free */
} qmp_cpu_list;
bool qmp_parse_cpus_fast(json_object *ret, qmp_cpu_list *out, qm_error *err);
void qmp_cpu_list_free(qmp_cpu_list *l);
bool qmp_query_cpus_fast(qmp_conn *conn, qmp_cpu_list *out, qm_error *err);

/* Migration capabilities: set, and query (for probing support). */
typedef struct qmp_mig_cap {
	char name[QMP_ENUM_STR_MAX];      /* e.g. "x-ignore-shared" */
	bool state;
} qmp_mig_cap;
typedef struct qmp_mig_cap_list {
	size_t count;
	qmp_mig_cap *items;               /* free with qmp_mig_cap_list_free */
} qmp_mig_cap_list;
bool qmp_migrate_set_capabilities(qmp_conn *conn, const qmp_mig_cap *caps,
				  size_t n, qm_error *err);
bool qmp_parse_migrate_capabilities(json_object *ret, qmp_mig_cap_list *out,
				    qm_error *err);
void qmp_mig_cap_list_free(qmp_mig_cap_list *l);
bool qmp_query_migrate_capabilities(qmp_conn *conn, qmp_mig_cap_list *out,
				    qm_error *err);
/* 1 if @name is listed and on, 0 if listed and off, -1 if not listed. */
int qmp_mig_cap_list_find(const qmp_mig_cap_list *l, const char *name);

/* migrate-set-parameters with @params (ownership taken), e.g.
 * {"max-bandwidth": 1073741824, "downtime-limit": 300}. */
bool qmp_migrate_set_parameters(qmp_conn *conn, json_object *params,
				qm_error *err);
bool qmp_migrate(qmp_conn *conn, const char *uri, qm_error *err);
bool qmp_migrate_incoming(qmp_conn *conn, const char *uri, qm_error *err);
bool qmp_migrate_cancel(qmp_conn *conn, qm_error *err);
/* migrate-continue from @state, normally "pre-switchover". */
bool qmp_migrate_continue(qmp_conn *conn, const char *state, qm_error *err);

/* query-migrate. Absent members are 0 with has_* false; QEMU sends {}
 * before the first migration, which parses as status NONE. */
typedef struct qmp_migrate_ram {
	uint64_t transferred, remaining, total;  /* bytes */
	uint64_t duplicate, normal, normal_bytes;
	uint64_t dirty_sync_count, page_size;
	int64_t dirty_pages_rate;                /* pages/s */
	double mbps;
} qmp_migrate_ram;
typedef struct qmp_migrate_info {
	qmp_mig_status status;
	char status_str[QMP_ENUM_STR_MAX];       /* "none" if absent */
	bool has_total_time, has_downtime, has_expected_downtime;
	bool has_setup_time, has_ram;
	int64_t total_time_ms, downtime_ms, expected_downtime_ms;
	int64_t setup_time_ms;
	qmp_migrate_ram ram;
	char error_desc[QM_ERROR_MSG_MAX];       /* "" if none; truncated */
} qmp_migrate_info;
bool qmp_parse_migrate_info(json_object *ret, qmp_migrate_info *out,
			    qm_error *err);
bool qmp_query_migrate(qmp_conn *conn, qmp_migrate_info *out, qm_error *err);

/* calc-dirty-rate (page sampling, QEMU's defaults) and query-dirty-rate. */
typedef struct qmp_dirty_rate_info {
	qmp_dirty_rate_status status;
	char status_str[QMP_ENUM_STR_MAX];
	bool has_dirty_rate;                     /* only once measured */
	int64_t dirty_rate_mbps;                 /* MB/s */
	int64_t start_time;                      /* QEMU's clock, seconds */
	int64_t calc_time_s;
	uint64_t sample_pages;                   /* 0 if absent */
	char mode[QMP_ENUM_STR_MAX];             /* "" if absent */
} qmp_dirty_rate_info;
bool qmp_calc_dirty_rate(qmp_conn *conn, int64_t calc_time_s, qm_error *err);
bool qmp_parse_dirty_rate(json_object *ret, qmp_dirty_rate_info *out,
			  qm_error *err);
bool qmp_query_dirty_rate(qmp_conn *conn, qmp_dirty_rate_info *out,
			  qm_error *err);

/* announce-self. NULL parameters = QEMU's own defaults (initial 50 ms,
 * max 550 ms, 5 rounds, step 100 ms). */
typedef struct qmp_announce_params {
	int64_t initial_ms, max_ms, rounds, step_ms;
} qmp_announce_params;
bool qmp_announce_self(qmp_conn *conn, const qmp_announce_params *p,
		       qm_error *err);

/* query-commands: the names QEMU supports, to probe instead of comparing
 * versions. */
typedef struct qmp_name_list {
	size_t count;
	char (*names)[QMP_NAME_MAX];             /* free with qmp_name_list_free */
} qmp_name_list;
bool qmp_parse_commands(json_object *ret, qmp_name_list *out, qm_error *err);
void qmp_name_list_free(qmp_name_list *l);
bool qmp_name_list_has(const qmp_name_list *l, const char *name);
bool qmp_query_commands(qmp_conn *conn, qmp_name_list *out, qm_error *err);

/* The greeting parser, for tests and fuzzing: @msg is the whole message. */
bool qmp_parse_greeting(json_object *msg, qmp_greeting *out, qm_error *err);

#endif /* QMIG_QMP_H */
