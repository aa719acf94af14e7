/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmigd's configuration: a config file and the command line, same keys.
 *
 *   qmigd --state-dir DIR --rpc unix:PATH|tcp:HOST:PORT
 *         [--peer-listen HOST:PORT] [--psk-file FILE] [--token-file FILE]
 *         [--qemu PATH] [--max-migrations N] [--max-queued N]
 *         [--staged-max-bytes SIZE] [--tls on|off] [--config FILE]
 *
 * The file holds "key = value" lines with the same keys without the
 * leading dashes ("state-dir = /var/lib/qmig"); '#' starts a comment.
 * The file is read first, so the command line wins.
 */
#include "agent/agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct key {
	const char *name;
	size_t off, len;   /* string member, or len 0: a number (below) */
} key;

#define STR(n, m) { n, offsetof(agent_config, m), sizeof(((agent_config *)0)->m) }

/* Integer options and their ranges. The queue bound stays well inside
 * the agent's table of migrations (AGENT_MAX_MIGRATIONS, 256), which
 * also holds the running ones and the finished history. */
static const struct {
	const char *name;
	size_t off;
	long min, max;
} ints[] = {
	{ "max-migrations", offsetof(agent_config, max_migrations), 1, 64 },
	{ "max-queued", offsetof(agent_config, max_queued), 0, 128 },
};

static const key keys[] = {
	STR("state-dir", state_dir),
	STR("rpc", rpc),
	STR("peer-listen", peer_listen),
	STR("psk-file", psk_file),
	STR("token-file", token_file),
	STR("qemu", qemu_binary),
	{ "max-migrations", 0, 0 },
	{ "max-queued", 0, 0 },
	{ "staged-max-bytes", 0, 0 },
	{ "tls", 0, 0 },
};

static bool set_int(agent_config *c, const char *name, const char *val,
		    qm_error *err)
{
	for (size_t i = 0; i < QM_ARRAY_SIZE(ints); i++) {
		char *end;
		long v;

		if (strcmp(ints[i].name, name))
			continue;
		errno = 0;
		v = strtol(val, &end, 10);
		if (errno || *end || end == val || v < ints[i].min ||
		    v > ints[i].max)
			return qm_error_set(err, QM_ERR_INVAL, "%s: '%s' is not "
					    "a number from %ld to %ld", name,
					    val, ints[i].min, ints[i].max);
		*(int *)((char *)c + ints[i].off) = (int)v;
		return true;
	}
	return qm_error_set(err, QM_ERR_INVAL, "unknown option '%s'", name);
}

static bool set_key(agent_config *c, const char *name, const char *val,
		    qm_error *err)
{
	for (size_t i = 0; i < QM_ARRAY_SIZE(keys); i++) {
		if (strcmp(keys[i].name, name))
			continue;
		if (keys[i].len) {
			if (!qm_format((char *)c + keys[i].off, keys[i].len,
				       "%s", val))
				return qm_error_set(err, QM_ERR_TOO_BIG,
						    "%s: value longer than %zu",
						    name, keys[i].len - 1);
			return true;
		}
		if (!strcmp(name, "staged-max-bytes"))
			return qm_parse_size(val, &c->staged_max_bytes, err);
		if (!strcmp(name, "tls")) {
			c->tls = !strcmp(val, "on");
			if (!c->tls && strcmp(val, "off"))
				return qm_error_set(err, QM_ERR_INVAL, "tls: "
						    "'%s', expected on|off",
						    val);
			return true;
		}
		return set_int(c, name, val, err);
	}
	return qm_error_set(err, QM_ERR_INVAL, "unknown option '%s'", name);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && strchr(" \t\r\n", e[-1]))
		*--e = '\0';
	return s;
}

static bool read_file(agent_config *c, const char *path, qm_error *err)
{
	char line[1024];
	int lineno = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return qm_error_errno(err, errno, "config file %s", path);
	while (fgets(line, sizeof(line), f)) {
		char *eq, *k;

		lineno++;
		line[strcspn(line, "#")] = '\0';
		k = trim(line);
		if (!*k)
			continue;
		eq = strchr(k, '=');
		if (!eq) {
			fclose(f);
			return qm_error_set(err, QM_ERR_INVAL, "%s:%d: expected "
					    "'key = value'", path, lineno);
		}
		*eq = '\0';
		if (!set_key(c, trim(k), trim(eq + 1), err)) {
			fclose(f);
			qm_error_prepend(err, "%s:%d", path, lineno);
			return false;
		}
	}
	fclose(f);
	return true;
}

/* "--key value" or "--key=value": the name and the value. */
static bool split_arg(int argc, char **argv, int *i, char *name, size_t len,
		      const char **val, qm_error *err)
{
	const char *a = argv[*i], *eq;

	if (strncmp(a, "--", 2))
		return qm_error_set(err, QM_ERR_INVAL, "unexpected argument "
				    "'%s'", a);
	a += 2;
	eq = strchr(a, '=');
	if (eq) {
		snprintf(name, len, "%.*s", (int)(eq - a), a);
		*val = eq + 1;
		return true;
	}
	snprintf(name, len, "%s", a);
	if (*i + 1 >= argc)
		return qm_error_set(err, QM_ERR_INVAL, "--%s needs a value", a);
	*val = argv[++*i];
	return true;
}

bool agent_config_parse(agent_config *c, int argc, char **argv, qm_error *err)
{
	char name[64];
	const char *val;

	memset(c, 0, sizeof(*c));
	c->max_migrations = 4;
	c->max_queued = 64;
	c->staged_max_bytes = 4ULL << 30;
	/* The file first, wherever --config appears. */
	for (int i = 1; i < argc; i++) {
		if (!split_arg(argc, argv, &i, name, sizeof(name), &val, err))
			return false;
		if (!strcmp(name, "config") && !read_file(c, val, err))
			return false;
	}
	for (int i = 1; i < argc; i++) {
		if (!split_arg(argc, argv, &i, name, sizeof(name), &val, err))
			return false;
		if (strcmp(name, "config") && !set_key(c, name, val, err))
			return false;
	}
	if (!c->state_dir[0])
		return qm_error_set(err, QM_ERR_INVAL, "--state-dir is required");
	if (!c->rpc[0])
		return qm_error_set(err, QM_ERR_INVAL, "--rpc is required");
	return true;
}
