/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Scenario files (JSON, in tools/bench/scenarios/) and the command-line
 * options that override them. Unknown members are errors: a typo in a
 * scenario would otherwise silently benchmark something else.
 */
#include "tools/bench/bm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const bm_method_name[M__COUNT] = {
	"qmig", "qemu", "qemu-multifd", "qemu-xbzrle", "qemu-autoconverge"
};

/* The guest's own parameters (tools/guest/README.md), in the order they
 * are written to -append. */
static const char *const guest_keys[] = { "ws", "rate", "pattern", "hot",
					  "hotw", "zero", "dup", "hb", "seed",
					  NULL };

void bm_scenario_defaults(bm_scenario *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "adhoc");
	snprintf(s->title, sizeof(s->title), "command line");
	s->ram = 1ull << 30;
	snprintf(s->append, sizeof(s->append),
		 "ws=128M rate=12800 pattern=rand");
	s->warmup_ms = 2000;
	s->max_downtime_ms = 300;
	for (int m = 0; m < M__COUNT; m++)
		s->methods[m] = true;
	s->reps = 3;
	s->return_after_ms = 2000;
	s->timeout_s = 180;
	snprintf(s->verify, sizeof(s->verify), "full");
	s->learn = true;
}

static bool methods_from(bm_scenario *s, const char *name, qm_error *err)
{
	int m;

	for (m = 0; m < M__COUNT && strcmp(name, bm_method_name[m]); m++)
		;
	if (m == M__COUNT)
		return qm_error_set(err, QM_ERR_INVAL, "unknown method '%s'",
				    name);
	s->methods[m] = true;
	return true;
}

static bool num_of(json_object *v, const char *what, double lo, double hi,
		   double *out, qm_error *err)
{
	if (!json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double))
		return qm_error_set(err, QM_ERR_INVAL, "%s: a number", what);
	*out = json_object_get_double(v);
	if (*out < lo || *out > hi)
		return qm_error_set(err, QM_ERR_INVAL, "%s: %g not in %g..%g",
				    what, *out, lo, hi);
	return true;
}

static bool str_of(json_object *v, const char *what, char *out, size_t len,
		   qm_error *err)
{
	if (!json_object_is_type(v, json_type_string) ||
	    !qm_format(out, len, "%s", json_object_get_string(v)))
		return qm_error_set(err, QM_ERR_INVAL, "%s: a string of at "
				    "most %zu characters", what, len - 1);
	return true;
}

static bool guest_from(bm_scenario *s, json_object *g, qm_error *err)
{
	size_t len = 0;

	if (!json_object_is_type(g, json_type_object))
		return qm_error_set(err, QM_ERR_INVAL, "guest: an object");
	json_object_object_foreach(g, k, v) {
		int i;

		for (i = 0; guest_keys[i] && strcmp(k, guest_keys[i]); i++)
			;
		if (!guest_keys[i])
			return qm_error_set(err, QM_ERR_INVAL, "guest: unknown "
					    "parameter '%s'", k);
		if (!json_object_is_type(v, json_type_string) &&
		    !json_object_is_type(v, json_type_int))
			return qm_error_set(err, QM_ERR_INVAL, "guest.%s: a "
					    "string or an integer", k);
	}
	s->append[0] = '\0';
	for (int i = 0; guest_keys[i]; i++) {
		json_object *val;

		if (!json_object_object_get_ex(g, guest_keys[i], &val))
			continue;
		if (!qm_format(s->append + len, sizeof(s->append) - len,
			       "%s%s=%s", len ? " " : "", guest_keys[i],
			       json_object_get_string(val)))
			return qm_error_set(err, QM_ERR_INVAL,
					    "guest: too long");
		len = strlen(s->append);
	}
	return true;
}

static bool link_from(bm_scenario *s, json_object *l, qm_error *err)
{
	if (!json_object_is_type(l, json_type_object))
		return qm_error_set(err, QM_ERR_INVAL, "link: an object");
	json_object_object_foreach(l, k, v) {
		bool ok;

		if (!strcmp(k, "bandwidth_mbit"))
			ok = num_of(v, "link.bandwidth_mbit", 0, 1e6,
				    &s->link.bw_mbit, err);
		else if (!strcmp(k, "rtt_ms"))
			ok = num_of(v, "link.rtt_ms", 0, 10000, &s->link.rtt_ms,
				    err);
		else if (!strcmp(k, "loss_pct"))
			ok = num_of(v, "link.loss_pct", 0, 50,
				    &s->link.loss_pct, err);
		else if (!strcmp(k, "loopback"))
			ok = (s->loopback = json_object_get_boolean(v), true);
		else
			ok = qm_error_set(err, QM_ERR_INVAL, "link: unknown "
					  "member '%s'", k);
		if (!ok)
			return false;
	}
	return true;
}

static bool targets_from(bm_scenario *s, json_object *t, qm_error *err)
{
	bm_targets *g = &s->targets;

	if (!json_object_is_type(t, json_type_object))
		return qm_error_set(err, QM_ERR_INVAL, "targets: an object");
	json_object_object_foreach(t, k, v) {
		bool ok = true;

		if (!strcmp(k, "total_ratio"))
			ok = num_of(v, "targets.total_ratio", 0, 100,
				    &g->total_ratio, err);
		else if (!strcmp(k, "bytes_ratio"))
			ok = num_of(v, "targets.bytes_ratio", 0, 100,
				    &g->bytes_ratio, err);
		else if (!strcmp(k, "prediction_error_pct"))
			ok = num_of(v, "targets.prediction_error_pct", 0, 1000,
				    &g->prediction_err_pct, err);
		else if (!strcmp(k, "downtime_within_max"))
			g->downtime_within_max = json_object_get_boolean(v);
		else if (!strcmp(k, "deadline"))
			g->deadline = json_object_get_boolean(v);
		else
			ok = qm_error_set(err, QM_ERR_INVAL, "targets: unknown "
					  "member '%s'", k);
		if (!ok)
			return false;
	}
	return true;
}

static bool member(bm_scenario *s, const char *k, json_object *v,
		   qm_error *err)
{
	double d;
	char buf[64];

	if (!strcmp(k, "name"))
		return str_of(v, k, s->name, sizeof(s->name), err);
	if (!strcmp(k, "title"))
		return str_of(v, k, s->title, sizeof(s->title), err);
	if (!strcmp(k, "ram"))
		return str_of(v, k, buf, sizeof(buf), err) &&
		       qm_parse_size(buf, &s->ram, err);
	if (!strcmp(k, "guest"))
		return guest_from(s, v, err);
	if (!strcmp(k, "append"))
		return str_of(v, k, s->append, sizeof(s->append), err);
	if (!strcmp(k, "link"))
		return link_from(s, v, err);
	if (!strcmp(k, "targets"))
		return targets_from(s, v, err);
	if (!strcmp(k, "verify"))
		return str_of(v, k, s->verify, sizeof(s->verify), err);
	if (!strcmp(k, "on_deadline")) {
		if (!str_of(v, k, buf, sizeof(buf), err))
			return false;
		if (strcmp(buf, "abort") && strcmp(buf, "force"))
			return qm_error_set(err, QM_ERR_INVAL, "on_deadline: "
					    "abort or force");
		s->on_deadline_force = !strcmp(buf, "force");
		return true;
	}
	if (!strcmp(k, "methods")) {
		if (!json_object_is_type(v, json_type_array) ||
		    !json_object_array_length(v))
			return qm_error_set(err, QM_ERR_INVAL, "methods: a "
					    "non-empty array");
		memset(s->methods, 0, sizeof(s->methods));
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (!str_of(json_object_array_get_idx(v, i),
				    "methods[]", buf, sizeof(buf), err) ||
			    !methods_from(s, buf, err))
				return false;
		return true;
	}
	if (!strcmp(k, "return_trip")) {
		if (json_object_is_type(v, json_type_boolean)) {
			s->return_trip = json_object_get_boolean(v);
			return true;
		}
		if (!num_of(v, "return_trip (ms on the first destination)", 0,
			    600000, &d, err))
			return false;
		s->return_trip = true;
		s->return_after_ms = (int)d;
		return true;
	}
	if (!strcmp(k, "warmup_ms") || !strcmp(k, "repetitions") ||
	    !strcmp(k, "timeout_s") || !strcmp(k, "max_downtime_ms") ||
	    !strcmp(k, "deadline_s")) {
		bool ok = num_of(v, k, 0, 1e7, &d, err);

		if (!ok)
			return false;
		if (!strcmp(k, "warmup_ms"))
			s->warmup_ms = (int)d;
		else if (!strcmp(k, "repetitions"))
			s->reps = (int)d;
		else if (!strcmp(k, "timeout_s"))
			s->timeout_s = (int)d;
		else if (!strcmp(k, "max_downtime_ms"))
			s->max_downtime_ms = d;
		else
			s->deadline_s = d;
		return true;
	}
	if (!strcmp(k, "learn_predictor")) {
		if (!json_object_is_type(v, json_type_boolean))
			return qm_error_set(err, QM_ERR_INVAL, "%s: true or "
					    "false", k);
		s->learn = json_object_get_boolean(v);
		return true;
	}
	if (!strcmp(k, "comment"))
		return true;
	return qm_error_set(err, QM_ERR_INVAL, "unknown member '%s'", k);
}

static bool check(const bm_scenario *s, qm_error *err)
{
	if (s->reps < 1 || s->reps > BM_MAX_REPS)
		return qm_error_set(err, QM_ERR_INVAL, "repetitions: 1 to %d",
				    BM_MAX_REPS);
	if (s->max_downtime_ms < 1)
		return qm_error_set(err, QM_ERR_INVAL, "max_downtime_ms: at "
				    "least 1");
	if (strcmp(s->verify, "full") && strcmp(s->verify, "tracked"))
		return qm_error_set(err, QM_ERR_INVAL, "verify: full or "
				    "tracked");
	if (s->timeout_s < 1)
		return qm_error_set(err, QM_ERR_INVAL, "timeout_s: at least 1");
	return true;
}

bool bm_scenario_load(bm_scenario *s, const char *path, qm_error *err)
{
	json_object *j = json_object_from_file(path);
	bool ok = true;

	if (!j)
		return qm_error_set(err, QM_ERR_INVAL, "%s: %s", path,
				    json_util_get_last_err());
	if (!json_object_is_type(j, json_type_object)) {
		json_object_put(j);
		return qm_error_set(err, QM_ERR_INVAL, "%s: not an object",
				    path);
	}
	json_object_object_foreach(j, k, v) {
		ok = member(s, k, v, err);
		if (!ok)
			break;
	}
	json_object_put(j);
	if (ok)
		ok = check(s, err);
	if (!ok)
		qm_error_prepend(err, "%s", path);
	return ok;
}

/* "--link 100,20,0.1": bandwidth Mbit/s, RTT ms, loss %. */
static bool link_opt(bm_scenario *s, const char *v, qm_error *err)
{
	double bw = 0, rtt = 0, loss = 0;
	int n = sscanf(v, "%lf,%lf,%lf", &bw, &rtt, &loss);

	if (n < 1 || bw < 0 || rtt < 0 || loss < 0 || loss > 50)
		return qm_error_set(err, QM_ERR_INVAL, "--link MBIT[,RTT_MS"
				    "[,LOSS_PCT]]: '%s'", v);
	s->link = (bm_link_params){ bw, rtt, loss };
	return true;
}

bool bm_scenario_option(bm_scenario *s, const char *k, const char *v,
			qm_error *err)
{
	if (!strcmp(k, "--ram"))
		return qm_parse_size(v, &s->ram, err);
	if (!strcmp(k, "--append")) {
		if (!qm_format(s->append, sizeof(s->append), "%s", v))
			return qm_error_set(err, QM_ERR_INVAL, "--append: "
					    "too long");
		return true;
	}
	if (!strcmp(k, "--reps"))
		s->reps = atoi(v);
	else if (!strcmp(k, "--max-downtime"))
		s->max_downtime_ms = atof(v);
	else if (!strcmp(k, "--verify"))
		snprintf(s->verify, sizeof(s->verify), "%s", v);
	else if (!strcmp(k, "--warmup"))
		s->warmup_ms = atoi(v);
	else if (!strcmp(k, "--timeout"))
		s->timeout_s = atoi(v);
	else if (!strcmp(k, "--deadline"))
		s->deadline_s = atof(v);
	else if (!strcmp(k, "--link"))
		return link_opt(s, v, err);
	else if (!strcmp(k, "--loopback"))
		s->loopback = !strcmp(v, "1") || !strcmp(v, "yes");
	else if (!strcmp(k, "--learn"))
		s->learn = !strcmp(v, "1") || !strcmp(v, "yes");
	else if (!strcmp(k, "--methods")) {
		char buf[128], *save = NULL, *t;

		memset(s->methods, 0, sizeof(s->methods));
		snprintf(buf, sizeof(buf), "%s", v);
		for (t = strtok_r(buf, ",", &save); t;
		     t = strtok_r(NULL, ",", &save))
			if (!methods_from(s, t, err))
				return false;
	} else {
		return qm_error_set(err, QM_ERR_INVAL, "unknown option %s", k);
	}
	return check(s, err);
}
