/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp parse: pure parsers of command results and the enum tables.
 *
 * Nothing here touches a connection, so every function can be unit-tested
 * and fuzzed on its own. Each member is looked up with its expected type;
 * a wrong type is an error naming the member, what it is and what was
 * expected; a missing optional member takes its documented default.
 */
#define LOG_PREFIX "qmp"
#include "qmp/qmp-int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- enum tables (wire names from the QAPI schema) ---- */

static const char *const err_class_names[QMP_ERR_CLASS__COUNT] = {
	[QMP_ERR_CLASS_UNKNOWN] = "unknown",
	[QMP_ERR_CLASS_GENERIC] = "GenericError",
	[QMP_ERR_CLASS_COMMAND_NOT_FOUND] = "CommandNotFound",
	[QMP_ERR_CLASS_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
	[QMP_ERR_CLASS_DEVICE_NOT_FOUND] = "DeviceNotFound",
	[QMP_ERR_CLASS_KVM_MISSING_CAP] = "KVMMissingCap",
};

static const char *const run_state_names[QMP_RUN_STATE__COUNT] = {
	[QMP_RUN_STATE_UNKNOWN] = "unknown",
	[QMP_RUN_STATE_DEBUG] = "debug",
	[QMP_RUN_STATE_INMIGRATE] = "inmigrate",
	[QMP_RUN_STATE_INTERNAL_ERROR] = "internal-error",
	[QMP_RUN_STATE_IO_ERROR] = "io-error",
	[QMP_RUN_STATE_PAUSED] = "paused",
	[QMP_RUN_STATE_POSTMIGRATE] = "postmigrate",
	[QMP_RUN_STATE_PRELAUNCH] = "prelaunch",
	[QMP_RUN_STATE_FINISH_MIGRATE] = "finish-migrate",
	[QMP_RUN_STATE_RESTORE_VM] = "restore-vm",
	[QMP_RUN_STATE_RUNNING] = "running",
	[QMP_RUN_STATE_SAVE_VM] = "save-vm",
	[QMP_RUN_STATE_SHUTDOWN] = "shutdown",
	[QMP_RUN_STATE_SUSPENDED] = "suspended",
	[QMP_RUN_STATE_WATCHDOG] = "watchdog",
	[QMP_RUN_STATE_GUEST_PANICKED] = "guest-panicked",
	[QMP_RUN_STATE_COLO] = "colo",
};

static const char *const mig_status_names[QMP_MIG_STATUS__COUNT] = {
	[QMP_MIG_STATUS_UNKNOWN] = "unknown",
	[QMP_MIG_STATUS_NONE] = "none",
	[QMP_MIG_STATUS_SETUP] = "setup",
	[QMP_MIG_STATUS_CANCELLING] = "cancelling",
	[QMP_MIG_STATUS_CANCELLED] = "cancelled",
	[QMP_MIG_STATUS_ACTIVE] = "active",
	[QMP_MIG_STATUS_POSTCOPY_ACTIVE] = "postcopy-active",
	[QMP_MIG_STATUS_POSTCOPY_PAUSED] = "postcopy-paused",
	[QMP_MIG_STATUS_POSTCOPY_RECOVER] = "postcopy-recover",
	[QMP_MIG_STATUS_COMPLETED] = "completed",
	[QMP_MIG_STATUS_FAILED] = "failed",
	[QMP_MIG_STATUS_COLO] = "colo",
	[QMP_MIG_STATUS_PRE_SWITCHOVER] = "pre-switchover",
	[QMP_MIG_STATUS_DEVICE] = "device",
	[QMP_MIG_STATUS_WAIT_UNPLUG] = "wait-unplug",
};

static const char *const dirty_rate_names[QMP_DIRTY_RATE__COUNT] = {
	[QMP_DIRTY_RATE_UNKNOWN] = "unknown",
	[QMP_DIRTY_RATE_UNSTARTED] = "unstarted",
	[QMP_DIRTY_RATE_MEASURING] = "measuring",
	[QMP_DIRTY_RATE_MEASURED] = "measured",
};

static const char *const mem_policy_names[QMP_MEM_POLICY__COUNT] = {
	[QMP_MEM_POLICY_UNKNOWN] = "unknown",
	[QMP_MEM_POLICY_DEFAULT] = "default",
	[QMP_MEM_POLICY_PREFERRED] = "preferred",
	[QMP_MEM_POLICY_BIND] = "bind",
	[QMP_MEM_POLICY_INTERLEAVE] = "interleave",
};

static const char *enum_name(const char *const *tab, unsigned n, unsigned v)
{
	return v < n && tab[v] ? tab[v] : "unknown";
}

/* Index 0 is the "unknown" catch-all, never matched by name. */
static unsigned enum_find(const char *const *tab, unsigned n, const char *s)
{
	unsigned i;

	for (i = 1; s && i < n; i++)
		if (tab[i] && !strcmp(tab[i], s))
			return i;
	return 0;
}

#define ENUM_FUNCS(type, prefix, tab)                                       \
	const char *prefix##_name(type v)                                   \
	{                                                                   \
		return enum_name(tab, QM_ARRAY_SIZE(tab), (unsigned)v);     \
	}                                                                   \
	type prefix##_from_str(const char *s)                               \
	{                                                                   \
		return (type)enum_find(tab, QM_ARRAY_SIZE(tab), s);         \
	}

ENUM_FUNCS(qmp_err_class, qmp_err_class, err_class_names)
ENUM_FUNCS(qmp_run_state, qmp_run_state, run_state_names)
ENUM_FUNCS(qmp_mig_status, qmp_mig_status, mig_status_names)
ENUM_FUNCS(qmp_dirty_rate_status, qmp_dirty_rate_status, dirty_rate_names)
ENUM_FUNCS(qmp_mem_policy, qmp_mem_policy, mem_policy_names)

/* ---- typed member access ---- */

static const char *type_phrase(json_type t)
{
	switch (t) {
	case json_type_null: return "null";
	case json_type_boolean: return "a boolean";
	case json_type_double: return "a number";
	case json_type_int: return "an integer";
	case json_type_object: return "an object";
	case json_type_array: return "an array";
	case json_type_string: return "a string";
	}
	return "of unknown type";
}

static bool type_ok(json_object *v, json_type want)
{
	json_type t = json_object_get_type(v);

	/* QEMU prints a whole double without a fraction ("mbps": 0). */
	if (want == json_type_double)
		return t == json_type_double || t == json_type_int;
	return t == want;
}

bool qmp__expect(json_object *v, const qmp_where *w, const char *key,
		 json_type want, qm_error *err)
{
	if (type_ok(v, want))
		return true;
	if (!key)
		return qm_error_set(err, QM_ERR_PROTO,
				    "%s: result is %s, expected %s", w->what,
				    type_phrase(json_object_get_type(v)),
				    type_phrase(want));
	return qm_error_set(err, QM_ERR_PROTO,
			    "%s: field '%s%s' is %s, expected %s", w->what,
			    w->path, key, type_phrase(json_object_get_type(v)),
			    type_phrase(want));
}

bool qmp__member(json_object *obj, const qmp_where *w, const char *key,
		 json_type want, bool req, json_object **out, qm_error *err)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(obj, key, &v)) {
		if (!req)
			return true;
		return qm_error_set(err, QM_ERR_PROTO,
				    "%s: field '%s%s' is missing", w->what,
				    w->path, key);
	}
	if (!qmp__expect(v, w, key, want, err))
		return false;
	*out = v;
	return true;
}

static bool check_range(const qmp_where *w, const char *key, int64_t v,
			int64_t lo, int64_t hi, qm_error *err)
{
	if (v >= lo && v <= hi)
		return true;
	return qm_error_set(err, QM_ERR_PROTO,
			    "%s: field '%s%s' is %lld, expected %lld..%lld",
			    w->what, w->path, key, (long long)v, (long long)lo,
			    (long long)hi);
}

bool qmp__get_int(json_object *obj, const qmp_where *w, const char *key,
		  bool req, int64_t *out, bool *has, qm_error *err)
{
	json_object *v;

	if (!qmp__member(obj, w, key, json_type_int, req, &v, err))
		return false;
	if (has)
		*has = v != NULL;
	if (v)
		*out = json_object_get_int64(v);
	return true;
}

bool qmp__get_uint(json_object *obj, const qmp_where *w, const char *key,
		   bool req, uint64_t *out, bool *has, qm_error *err)
{
	json_object *v;

	if (!qmp__member(obj, w, key, json_type_int, req, &v, err))
		return false;
	if (has)
		*has = v != NULL;
	if (!v)
		return true;
	/* json-c keeps values above INT64_MAX as uint64; those read back as
	 * INT64_MAX here, so only true negatives fail. */
	if (json_object_get_int64(v) < 0)
		return check_range(w, key, json_object_get_int64(v), 0,
				   INT64_MAX, err);
	*out = json_object_get_uint64(v);
	return true;
}

bool qmp__get_bool(json_object *obj, const qmp_where *w, const char *key,
		   bool req, bool *out, bool *has, qm_error *err)
{
	json_object *v;

	if (!qmp__member(obj, w, key, json_type_boolean, req, &v, err))
		return false;
	if (has)
		*has = v != NULL;
	if (v)
		*out = json_object_get_boolean(v);
	return true;
}

bool qmp__get_double(json_object *obj, const qmp_where *w, const char *key,
		     bool req, double *out, bool *has, qm_error *err)
{
	json_object *v;

	if (!qmp__member(obj, w, key, json_type_double, req, &v, err))
		return false;
	if (has)
		*has = v != NULL;
	if (v)
		*out = json_object_get_double(v);
	return true;
}

bool qmp__get_str(json_object *obj, const qmp_where *w, const char *key,
		  bool req, char *out, size_t len, bool trunc, bool *has,
		  qm_error *err)
{
	json_object *v;
	const char *s;
	size_t n;

	if (!qmp__member(obj, w, key, json_type_string, req, &v, err))
		return false;
	if (has)
		*has = v != NULL;
	if (!v)
		return true;
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	/* "a\u0000b" would read as "a": a name must not hide its tail. */
	if (!trunc && strlen(s) != n)
		return qm_error_set(err, QM_ERR_PROTO,
				    "%s: field '%s%s' contains a NUL byte",
				    w->what, w->path, key);
	if (n >= len && !trunc)
		return qm_error_set(err, QM_ERR_PROTO,
				    "%s: field '%s%s' is %zu bytes long, limit %zu",
				    w->what, w->path, key, n, len - 1);
	snprintf(out, len, "%s", s);
	return true;
}

const char *qmp__snippet(json_object *obj, char *buf, size_t len)
{
	const char *s = json_object_to_json_string_ext(obj,
				JSON_C_TO_STRING_PLAIN |
				JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n = strlen(s);

	if (len < 4)
		return "";
	if (n < len) {
		memcpy(buf, s, n + 1);
	} else {
		memcpy(buf, s, len - 4);
		memcpy(buf + len - 4, "...", 4);
	}
	return buf;
}

/* ---- lists ---- */

typedef bool (*item_fn)(json_object *e, const qmp_where *w, void *item,
			qm_error *err);

/*
 * Parse an array of objects into a calloc'ed array of @size-byte items.
 * Returns it (non-NULL even when empty), or NULL on error with *count 0.
 */
static void *parse_list(json_object *ret, const char *what, size_t size,
			item_fn one, size_t *count, qm_error *err)
{
	qmp_where w = { what, "" };
	char idx[32];
	size_t n, i;
	char *arr;

	*count = 0;
	if (!qmp__expect(ret, &w, NULL, json_type_array, err))
		return NULL;
	n = json_object_array_length(ret);
	if (n > QMP_MAX_LIST_ITEMS) {
		qm_error_set(err, QM_ERR_TOO_BIG,
			     "%s: %zu items exceed the limit of %u", what, n,
			     QMP_MAX_LIST_ITEMS);
		return NULL;
	}
	arr = calloc(n ? n : 1, size);
	if (!arr) {
		qm_error_set(err, QM_ERR_NOMEM, "%s: %zu items", what, n);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(ret, i);

		w.path[0] = '\0';
		snprintf(idx, sizeof(idx), "[%zu]", i);
		if (!qmp__expect(e, &w, idx, json_type_object, err))
			goto fail;
		snprintf(w.path, sizeof(w.path), "[%zu].", i);
		if (!one(e, &w, arr + i * size, err))
			goto fail;
	}
	*count = n;
	return arr;
fail:
	free(arr);
	return NULL;
}

/* ---- greeting ---- */

static bool greeting_version(json_object *ver, qmp_greeting *out,
			     qm_error *err)
{
	qmp_where w = { "greeting", "QMP.version." };
	int64_t v[3];
	json_object *qemu;
	static const char *const keys[3] = { "major", "minor", "micro" };
	unsigned i;

	if (!qmp__member(ver, &w, "qemu", json_type_object, true, &qemu,
			 err) ||
	    !qmp__get_str(ver, &w, "package", false, out->package,
			  sizeof(out->package), true, NULL, err))
		return false;
	snprintf(w.path, sizeof(w.path), "QMP.version.qemu.");
	for (i = 0; i < 3; i++)
		if (!qmp__get_int(qemu, &w, keys[i], true, &v[i], NULL, err) ||
		    !check_range(&w, keys[i], v[i], 0, INT_MAX, err))
			return false;
	out->major = (int)v[0];
	out->minor = (int)v[1];
	out->micro = (int)v[2];
	return true;
}

static bool greeting_caps(json_object *caps, qmp_greeting *out,
			  qm_error *err)
{
	qmp_where w = { "greeting", "QMP." };
	size_t i, n = json_object_array_length(caps);
	char key[48];

	for (i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(caps, i);

		snprintf(key, sizeof(key), "capabilities[%zu]", i);
		if (!qmp__expect(c, &w, key, json_type_string, err))
			return false;
		/* Keep the first few; an offer we cannot store we also do
		 * not use, so it is not an error. */
		if (out->ncaps >= QMP_MAX_GREETING_CAPS)
			continue;
		if (json_object_get_string_len(c) >= QMP_ENUM_STR_MAX)
			return qm_error_set(err, QM_ERR_PROTO,
					    "greeting: field 'QMP.%s' is %d bytes long, limit %d",
					    key, json_object_get_string_len(c),
					    QMP_ENUM_STR_MAX - 1);
		snprintf(out->caps[out->ncaps++], QMP_ENUM_STR_MAX, "%s",
			 json_object_get_string(c));
	}
	return true;
}

bool qmp_parse_greeting(json_object *msg, qmp_greeting *out, qm_error *err)
{
	qmp_where w = { "greeting", "" };
	json_object *qmp, *ver, *caps;

	memset(out, 0, sizeof(*out));
	if (!qmp__expect(msg, &w, NULL, json_type_object, err) ||
	    !qmp__member(msg, &w, "QMP", json_type_object, true, &qmp, err))
		goto fail;
	snprintf(w.path, sizeof(w.path), "QMP.");
	if (!qmp__member(qmp, &w, "version", json_type_object, true, &ver,
			 err) ||
	    !qmp__member(qmp, &w, "capabilities", json_type_array, true,
			 &caps, err) ||
	    !greeting_version(ver, out, err) ||
	    !greeting_caps(caps, out, err))
		goto fail;
	return true;
fail:
	memset(out, 0, sizeof(*out));
	return false;
}

/* ---- query-status ---- */

bool qmp_parse_status(json_object *ret, qmp_status *out, qm_error *err)
{
	qmp_where w = { "query-status", "" };

	memset(out, 0, sizeof(*out));
	if (!qmp__expect(ret, &w, NULL, json_type_object, err) ||
	    !qmp__get_bool(ret, &w, "running", true, &out->running, NULL,
			   err) ||
	    !qmp__get_str(ret, &w, "status", true, out->status,
			  sizeof(out->status), false, NULL, err)) {
		memset(out, 0, sizeof(*out));
		return false;
	}
	/* A state newer than this table stays readable as a string. */
	out->state = qmp_run_state_from_str(out->status);
	return true;
}

/* ---- query-memdev ---- */

static bool memdev_nodes(json_object *nodes, const qmp_where *w,
			 qmp_memdev *m, qm_error *err)
{
	size_t i, n = json_object_array_length(nodes);
	char key[48];

	if (n > QMP_MAX_HOST_NODES)
		return qm_error_set(err, QM_ERR_PROTO,
				    "%s: field '%shost-nodes' has %zu entries, limit %d",
				    w->what, w->path, n, QMP_MAX_HOST_NODES);
	for (i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(nodes, i);

		snprintf(key, sizeof(key), "host-nodes[%zu]", i);
		if (!qmp__expect(v, w, key, json_type_int, err) ||
		    !check_range(w, key, json_object_get_int64(v), 0,
				 UINT16_MAX, err))
			return false;
		m->host_nodes[i] = (uint16_t)json_object_get_int64(v);
	}
	m->nhost_nodes = (unsigned)n;
	return true;
}

static bool memdev_one(json_object *e, const qmp_where *w, void *item,
		       qm_error *err)
{
	char policy[QMP_ENUM_STR_MAX];
	qmp_memdev *m = item;
	json_object *nodes;

	m->reserve = true; /* QEMU's default when it does not say */
	if (!qmp__get_str(e, w, "id", false, m->id, sizeof(m->id), false,
			  NULL, err) ||
	    !qmp__get_uint(e, w, "size", true, &m->size, NULL, err) ||
	    !qmp__get_bool(e, w, "merge", true, &m->merge, NULL, err) ||
	    !qmp__get_bool(e, w, "dump", true, &m->dump, NULL, err) ||
	    !qmp__get_bool(e, w, "prealloc", true, &m->prealloc, NULL, err) ||
	    !qmp__get_bool(e, w, "share", false, &m->share, NULL, err) ||
	    !qmp__get_bool(e, w, "reserve", false, &m->reserve, NULL, err) ||
	    !qmp__get_str(e, w, "policy", true, policy, sizeof(policy), false,
			  NULL, err) ||
	    !qmp__member(e, w, "host-nodes", json_type_array, true, &nodes,
			 err))
		return false;
	m->policy = qmp_mem_policy_from_str(policy);
	return memdev_nodes(nodes, w, m, err);
}

bool qmp_parse_memdev_list(json_object *ret, qmp_memdev_list *out,
			   qm_error *err)
{
	out->items = parse_list(ret, "query-memdev", sizeof(qmp_memdev),
				memdev_one, &out->count, err);
	return out->items != NULL;
}

void qmp_memdev_list_free(qmp_memdev_list *l)
{
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

/* ---- qom-list ---- */

static bool qom_prop_one(json_object *e, const qmp_where *w, void *item,
			 qm_error *err)
{
	qmp_qom_prop *p = item;

	return qmp__get_str(e, w, "name", true, p->name, sizeof(p->name),
			    false, NULL, err) &&
	       qmp__get_str(e, w, "type", true, p->type, sizeof(p->type),
			    false, NULL, err);
}

bool qmp_parse_qom_list(json_object *ret, qmp_qom_prop_list *out, qm_error *err)
{
	out->items = parse_list(ret, "qom-list", sizeof(qmp_qom_prop),
				qom_prop_one, &out->count, err);
	return out->items != NULL;
}

void qmp_qom_prop_list_free(qmp_qom_prop_list *l)
{
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

/* ---- query-cpus-fast ---- */

static bool cpu_one(json_object *e, const qmp_where *w, void *item,
		    qm_error *err)
{
	qmp_cpu *c = item;

	return qmp__get_int(e, w, "cpu-index", true, &c->cpu_index, NULL,
			    err) &&
	       check_range(w, "cpu-index", c->cpu_index, 0, INT_MAX, err) &&
	       qmp__get_int(e, w, "thread-id", true, &c->thread_id, NULL,
			    err) &&
	       check_range(w, "thread-id", c->thread_id, 0, INT_MAX, err) &&
	       qmp__get_str(e, w, "qom-path", true, c->qom_path,
			    sizeof(c->qom_path), false, NULL, err);
}

bool qmp_parse_cpus_fast(json_object *ret, qmp_cpu_list *out, qm_error *err)
{
	out->items = parse_list(ret, "query-cpus-fast", sizeof(qmp_cpu),
				cpu_one, &out->count, err);
	return out->items != NULL;
}

void qmp_cpu_list_free(qmp_cpu_list *l)
{
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

/* ---- query-migrate-capabilities ---- */

static bool mig_cap_one(json_object *e, const qmp_where *w, void *item,
			qm_error *err)
{
	qmp_mig_cap *c = item;

	return qmp__get_str(e, w, "capability", true, c->name,
			    sizeof(c->name), false, NULL, err) &&
	       qmp__get_bool(e, w, "state", true, &c->state, NULL, err);
}

bool qmp_parse_migrate_capabilities(json_object *ret, qmp_mig_cap_list *out,
				    qm_error *err)
{
	out->items = parse_list(ret, "query-migrate-capabilities",
				sizeof(qmp_mig_cap), mig_cap_one, &out->count,
				err);
	return out->items != NULL;
}

void qmp_mig_cap_list_free(qmp_mig_cap_list *l)
{
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

int qmp_mig_cap_list_find(const qmp_mig_cap_list *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->count; i++)
		if (!strcmp(l->items[i].name, name))
			return l->items[i].state;
	return -1;
}

/* ---- query-commands ---- */

static bool command_one(json_object *e, const qmp_where *w, void *item,
			qm_error *err)
{
	return qmp__get_str(e, w, "name", true, item, QMP_NAME_MAX, false,
			    NULL, err);
}

bool qmp_parse_commands(json_object *ret, qmp_name_list *out, qm_error *err)
{
	out->names = parse_list(ret, "query-commands", QMP_NAME_MAX,
				command_one, &out->count, err);
	return out->names != NULL;
}

void qmp_name_list_free(qmp_name_list *l)
{
	free(l->names);
	l->names = NULL;
	l->count = 0;
}

bool qmp_name_list_has(const qmp_name_list *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->count; i++)
		if (!strcmp(l->names[i], name))
			return true;
	return false;
}

/* ---- query-migrate ---- */

static bool migrate_ram(json_object *ram, qmp_migrate_ram *r, qm_error *err)
{
	qmp_where w = { "query-migrate", "ram." };

	return qmp__get_uint(ram, &w, "transferred", true, &r->transferred,
			     NULL, err) &&
	       qmp__get_uint(ram, &w, "remaining", true, &r->remaining, NULL,
			     err) &&
	       qmp__get_uint(ram, &w, "total", true, &r->total, NULL, err) &&
	       qmp__get_uint(ram, &w, "duplicate", false, &r->duplicate, NULL,
			     err) &&
	       qmp__get_uint(ram, &w, "normal", false, &r->normal, NULL,
			     err) &&
	       qmp__get_uint(ram, &w, "normal-bytes", false, &r->normal_bytes,
			     NULL, err) &&
	       qmp__get_uint(ram, &w, "dirty-sync-count", false,
			     &r->dirty_sync_count, NULL, err) &&
	       qmp__get_uint(ram, &w, "page-size", false, &r->page_size, NULL,
			     err) &&
	       qmp__get_int(ram, &w, "dirty-pages-rate", false,
			    &r->dirty_pages_rate, NULL, err) &&
	       qmp__get_double(ram, &w, "mbps", false, &r->mbps, NULL, err);
}

bool qmp_parse_migrate_info(json_object *ret, qmp_migrate_info *out,
			    qm_error *err)
{
	qmp_where w = { "query-migrate", "" };
	json_object *ram;
	bool has_status;

	memset(out, 0, sizeof(*out));
	if (!qmp__expect(ret, &w, NULL, json_type_object, err) ||
	    !qmp__get_str(ret, &w, "status", false, out->status_str,
			  sizeof(out->status_str), false, &has_status, err) ||
	    !qmp__get_int(ret, &w, "total-time", false, &out->total_time_ms,
			  &out->has_total_time, err) ||
	    !qmp__get_int(ret, &w, "downtime", false, &out->downtime_ms,
			  &out->has_downtime, err) ||
	    !qmp__get_int(ret, &w, "expected-downtime", false,
			  &out->expected_downtime_ms,
			  &out->has_expected_downtime, err) ||
	    !qmp__get_int(ret, &w, "setup-time", false, &out->setup_time_ms,
			  &out->has_setup_time, err) ||
	    !qmp__get_str(ret, &w, "error-desc", false, out->error_desc,
			  sizeof(out->error_desc), true, NULL, err) ||
	    !qmp__member(ret, &w, "ram", json_type_object, false, &ram, err) ||
	    (ram && !migrate_ram(ram, &out->ram, err))) {
		memset(out, 0, sizeof(*out));
		return false;
	}
	/* QEMU omits status until the first migration starts. */
	if (!has_status)
		snprintf(out->status_str, sizeof(out->status_str), "none");
	out->status = qmp_mig_status_from_str(out->status_str);
	out->has_ram = ram != NULL;
	return true;
}

/* ---- query-dirty-rate ---- */

bool qmp_parse_dirty_rate(json_object *ret, qmp_dirty_rate_info *out,
			  qm_error *err)
{
	qmp_where w = { "query-dirty-rate", "" };

	memset(out, 0, sizeof(*out));
	if (!qmp__expect(ret, &w, NULL, json_type_object, err) ||
	    !qmp__get_str(ret, &w, "status", true, out->status_str,
			  sizeof(out->status_str), false, NULL, err) ||
	    !qmp__get_int(ret, &w, "dirty-rate", false, &out->dirty_rate_mbps,
			  &out->has_dirty_rate, err) ||
	    !qmp__get_int(ret, &w, "start-time", true, &out->start_time, NULL,
			  err) ||
	    !qmp__get_int(ret, &w, "calc-time", true, &out->calc_time_s, NULL,
			  err) ||
	    !qmp__get_uint(ret, &w, "sample-pages", false, &out->sample_pages,
			   NULL, err) ||
	    !qmp__get_str(ret, &w, "mode", false, out->mode, sizeof(out->mode),
			  false, NULL, err)) {
		memset(out, 0, sizeof(*out));
		return false;
	}
	out->status = qmp_dirty_rate_status_from_str(out->status_str);
	return true;
}
