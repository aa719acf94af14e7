/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp commands: typed, blocking helpers for the commands the agent uses.
 * Each builds its arguments, runs qmp_call() with the connection's
 * default timeout and hands the result to a pure parser (parse.c).
 */
#define LOG_PREFIX "qmp"
#include "qmp/qmp-int.h"

#include <string.h>

/* {"k1": v1[, "k2": v2]}; NULL if out of memory. */
static json_object *args_str(const char *k1, const char *v1, const char *k2,
			     const char *v2)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (json_object_object_add(o, k1, json_object_new_string(v1)) ||
	    (k2 && json_object_object_add(o, k2, json_object_new_string(v2)))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* qmp_call with string arguments, checking them first. */
static json_object *call_str(qmp_conn *conn, const char *cmd,
			     const char *k1, const char *v1, const char *k2,
			     const char *v2, qm_error *err)
{
	json_object *args;

	if (!v1 || (k2 && !v2)) {
		qm_error_set(err, QM_ERR_INVAL, "%s: argument '%s' is NULL",
			     cmd, !v1 ? k1 : k2);
		return NULL;
	}
	args = args_str(k1, v1, k2, v2);
	if (!args) {
		qm_error_set(err, QM_ERR_NOMEM, "%s: building arguments", cmd);
		return NULL;
	}
	return qmp_call(conn, cmd, args, 0, err);
}

static bool call_str_ok(qmp_conn *conn, const char *cmd, const char *k1,
			const char *v1, qm_error *err)
{
	json_object *ret = call_str(conn, cmd, k1, v1, NULL, NULL, err);

	json_object_put(ret);
	return ret != NULL;
}

bool qmp_query_status(qmp_conn *conn, qmp_status *out, qm_error *err)
{
	json_object *ret = qmp_call(conn, "query-status", NULL, 0, err);
	bool ok = ret && qmp_parse_status(ret, out, err);

	json_object_put(ret);
	return ok;
}

bool qmp_stop(qmp_conn *conn, qm_error *err)
{
	return qmp_call_ok(conn, "stop", NULL, 0, err);
}

bool qmp_cont(qmp_conn *conn, qm_error *err)
{
	return qmp_call_ok(conn, "cont", NULL, 0, err);
}

bool qmp_quit(qmp_conn *conn, qm_error *err)
{
	qm_error e = QM_ERROR_INIT;
	bool was_alive = conn->state != QMP_STATE_DEAD;

	if (qmp_call_ok(conn, "quit", NULL, 0, &e))
		return true;
	/* QEMU may exit before its reply leaves: that is what we asked. */
	if (was_alive && e.code == QM_ERR_CLOSED)
		return true;
	if (err && !qm_error_is_set(err))
		*err = e;
	return false;
}

bool qmp_query_memdev(qmp_conn *conn, qmp_memdev_list *out, qm_error *err)
{
	json_object *ret = qmp_call(conn, "query-memdev", NULL, 0, err);
	bool ok = ret && qmp_parse_memdev_list(ret, out, err);

	json_object_put(ret);
	return ok;
}

json_object *qmp_qom_get(qmp_conn *conn, const char *path,
			 const char *property, qm_error *err)
{
	return call_str(conn, "qom-get", "path", path, "property", property,
			err);
}

bool qmp_qom_list(qmp_conn *conn, const char *path, qmp_qom_prop_list *out,
		  qm_error *err)
{
	json_object *ret = call_str(conn, "qom-list", "path", path, NULL, NULL,
				    err);
	bool ok = ret && qmp_parse_qom_list(ret, out, err);

	json_object_put(ret);
	return ok;
}

bool qmp_query_cpus_fast(qmp_conn *conn, qmp_cpu_list *out, qm_error *err)
{
	json_object *ret = qmp_call(conn, "query-cpus-fast", NULL, 0, err);
	bool ok = ret && qmp_parse_cpus_fast(ret, out, err);

	json_object_put(ret);
	return ok;
}

static json_object *caps_args(const qmp_mig_cap *caps, size_t n)
{
	json_object *args = json_object_new_object();
	json_object *arr = json_object_new_array();
	json_object *c;
	size_t i;

	if (!args || !arr)
		goto fail;
	for (i = 0; i < n; i++) {
		c = args_str("capability", caps[i].name, NULL, NULL);
		if (!c || json_object_object_add(c, "state",
				json_object_new_boolean(caps[i].state)) ||
		    json_object_array_add(arr, c)) {
			json_object_put(c);
			goto fail;
		}
	}
	if (json_object_object_add(args, "capabilities", arr))
		goto fail;
	return args;
fail:
	json_object_put(arr);
	json_object_put(args);
	return NULL;
}

bool qmp_migrate_set_capabilities(qmp_conn *conn, const qmp_mig_cap *caps,
				  size_t n, qm_error *err)
{
	json_object *args;

	if (n && !caps)
		return qm_error_set(err, QM_ERR_INVAL,
				    "migrate-set-capabilities: %zu capabilities but no array",
				    n);
	args = caps_args(caps, n);
	if (!args)
		return qm_error_set(err, QM_ERR_NOMEM,
				    "migrate-set-capabilities: building arguments");
	return qmp_call_ok(conn, "migrate-set-capabilities", args, 0, err);
}

bool qmp_query_migrate_capabilities(qmp_conn *conn, qmp_mig_cap_list *out,
				    qm_error *err)
{
	json_object *ret = qmp_call(conn, "query-migrate-capabilities", NULL,
				    0, err);
	bool ok = ret && qmp_parse_migrate_capabilities(ret, out, err);

	json_object_put(ret);
	return ok;
}

bool qmp_migrate_set_parameters(qmp_conn *conn, json_object *params,
				qm_error *err)
{
	if (!json_object_is_type(params, json_type_object)) {
		json_object_put(params);
		return qm_error_set(err, QM_ERR_INVAL,
				    "migrate-set-parameters: parameters are not an object");
	}
	return qmp_call_ok(conn, "migrate-set-parameters", params, 0, err);
}

bool qmp_migrate(qmp_conn *conn, const char *uri, qm_error *err)
{
	return call_str_ok(conn, "migrate", "uri", uri, err);
}

bool qmp_migrate_incoming(qmp_conn *conn, const char *uri, qm_error *err)
{
	return call_str_ok(conn, "migrate-incoming", "uri", uri, err);
}

bool qmp_migrate_cancel(qmp_conn *conn, qm_error *err)
{
	return qmp_call_ok(conn, "migrate_cancel", NULL, 0, err);
}

bool qmp_migrate_continue(qmp_conn *conn, const char *state, qm_error *err)
{
	return call_str_ok(conn, "migrate-continue", "state", state, err);
}

bool qmp_query_migrate(qmp_conn *conn, qmp_migrate_info *out, qm_error *err)
{
	json_object *ret = qmp_call(conn, "query-migrate", NULL, 0, err);
	bool ok = ret && qmp_parse_migrate_info(ret, out, err);

	json_object_put(ret);
	return ok;
}

bool qmp_calc_dirty_rate(qmp_conn *conn, int64_t calc_time_s, qm_error *err)
{
	json_object *args;

	if (calc_time_s <= 0)
		return qm_error_set(err, QM_ERR_INVAL,
				    "calc-dirty-rate: calc-time %lld s, expected > 0",
				    (long long)calc_time_s);
	args = json_object_new_object();
	if (!args || json_object_object_add(args, "calc-time",
				json_object_new_int64(calc_time_s))) {
		json_object_put(args);
		return qm_error_set(err, QM_ERR_NOMEM,
				    "calc-dirty-rate: building arguments");
	}
	return qmp_call_ok(conn, "calc-dirty-rate", args, 0, err);
}

bool qmp_query_dirty_rate(qmp_conn *conn, qmp_dirty_rate_info *out,
			  qm_error *err)
{
	json_object *ret = qmp_call(conn, "query-dirty-rate", NULL, 0, err);
	bool ok = ret && qmp_parse_dirty_rate(ret, out, err);

	json_object_put(ret);
	return ok;
}

bool qmp_announce_self(qmp_conn *conn, const qmp_announce_params *p,
		       qm_error *err)
{
	/* QEMU's own defaults (migration/options: announce-*). */
	static const qmp_announce_params defaults = { 50, 550, 5, 100 };
	json_object *args = json_object_new_object();

	if (!p)
		p = &defaults;
	if (!args ||
	    json_object_object_add(args, "initial",
				   json_object_new_int64(p->initial_ms)) ||
	    json_object_object_add(args, "max",
				   json_object_new_int64(p->max_ms)) ||
	    json_object_object_add(args, "rounds",
				   json_object_new_int64(p->rounds)) ||
	    json_object_object_add(args, "step",
				   json_object_new_int64(p->step_ms))) {
		json_object_put(args);
		return qm_error_set(err, QM_ERR_NOMEM,
				    "announce-self: building arguments");
	}
	return qmp_call_ok(conn, "announce-self", args, 0, err);
}

bool qmp_query_commands(qmp_conn *conn, qmp_name_list *out, qm_error *err)
{
	json_object *ret = qmp_call(conn, "query-commands", NULL, 0, err);
	bool ok = ret && qmp_parse_commands(ret, out, err);

	json_object_put(ret);
	return ok;
}
