/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QEMU's own migration, driven over QMP. See qemu_mig.h.
 */
#define LOG_PREFIX "qemu-mig"
#include "agent/qemu_mig.h"

#include <string.h>
#include <time.h>

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static bool set_caps(qmp_conn *q, const qm_native_opts *o, qm_error *err)
{
	const qmp_mig_cap caps[] = {
		{ "x-ignore-shared", o->ignore_shared },
		{ "multifd", o->multifd },
		{ "xbzrle", o->xbzrle },
		{ "auto-converge", o->auto_converge },
		{ "pause-before-switchover", o->pause_before_switchover },
	};

	return qmp_migrate_set_capabilities(q, caps, QM_ARRAY_SIZE(caps), err);
}

static void add_int(json_object *p, const char *key, int64_t v)
{
	json_object_object_add(p, key, json_object_new_int64(v));
}

static bool set_params(qmp_conn *q, const qm_native_opts *o, qm_error *err)
{
	json_object *p = json_object_new_object();

	if (!p)
		return qm_error_set(err, QM_ERR_NOMEM, "migration parameters");
	if (o->downtime_limit_ms > 0)
		add_int(p, "downtime-limit", o->downtime_limit_ms);
	if (o->max_bandwidth_bps > 0)
		add_int(p, "max-bandwidth", o->max_bandwidth_bps);
	if (o->multifd && o->multifd_channels)
		add_int(p, "multifd-channels", o->multifd_channels);
	if (o->xbzrle && o->xbzrle_cache_bytes)
		add_int(p, "xbzrle-cache-size", (int64_t)o->xbzrle_cache_bytes);
	if (json_object_object_length(p) == 0) {
		json_object_put(p);
		return true;
	}
	return qmp_migrate_set_parameters(q, p, err);
}

bool qm_native_setup(qmp_conn *q, const qm_native_opts *o, qm_error *err)
{
	if (!set_caps(q, o, err) || !set_params(q, o, err)) {
		qm_error_prepend(err, "setting up QEMU migration");
		return false;
	}
	return true;
}

bool qm_native_incoming(qmp_conn *qd, const qm_native_opts *o,
			const char *uri, qm_error *err)
{
	return qm_native_setup(qd, o, err) &&
	       qmp_migrate_incoming(qd, uri, err);
}

bool qm_native_outgoing(qmp_conn *qs, const qm_native_opts *o,
			const char *uri, qm_error *err)
{
	return qm_native_setup(qs, o, err) && qmp_migrate(qs, uri, err);
}

bool qm_native_wait(qmp_conn *q, unsigned mask, int poll_ms, int timeout_ms,
		    qmp_migrate_info *out, qm_error *err)
{
	int64_t deadline = qm_now_ms() + timeout_ms;

	for (;;) {
		if (!qmp_query_migrate(q, out, err))
			return false;
		if (mask & QM_MIG_MASK(out->status))
			return true;
		if (out->status == QMP_MIG_STATUS_FAILED)
			return qm_error_set(err, QM_ERR_QMP,
					    "QEMU migration failed: %s",
					    out->error_desc[0] ? out->error_desc
							       : "no reason given");
		if (qm_now_ms() >= deadline)
			return qm_error_set(err, QM_ERR_TIMEOUT,
					    "QEMU migration still '%s' after "
					    "%d ms", out->status_str,
					    timeout_ms);
		sleep_ms(poll_ms);
	}
}
