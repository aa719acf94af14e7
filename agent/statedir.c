/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Atomic JSON files in the agent's state directory. See statedir.h.
 */
#define LOG_PREFIX "state"
#include "agent/statedir.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_FILE_MAX (4u << 20)

static bool mkdir_p(const char *path, qm_error *err)
{
	char buf[512];
	struct stat st;

	if (!qm_format(buf, sizeof(buf), "%s", path))
		return qm_error_set(err, QM_ERR_TOO_BIG, "path too long: %s",
				    path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return qm_error_errno(err, errno, "mkdir %s", buf);
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return qm_error_errno(err, errno, "mkdir %s", buf);
	if (stat(buf, &st) < 0)
		return qm_error_errno(err, errno, "%s", buf);
	if (!S_ISDIR(st.st_mode))
		return qm_error_set(err, QM_ERR_INVAL, "%s is not a directory",
				    buf);
	return true;
}

bool qm_state_open(const char *dir, qm_error *err)
{
	if (!mkdir_p(dir, err))
		return false;
	if (access(dir, W_OK | X_OK) < 0)
		return qm_error_errno(err, errno, "state dir %s", dir);
	return true;
}

static bool join(char *out, size_t len, const char *dir, const char *rel,
		 const char *suffix, qm_error *err)
{
	if (strstr(rel, "..") || rel[0] == '/')
		return qm_error_set(err, QM_ERR_INVAL, "state file name '%s' "
				    "must stay inside the state dir", rel);
	if (!qm_format(out, len, "%s/%s%s", dir, rel, suffix))
		return qm_error_set(err, QM_ERR_TOO_BIG, "state path too long");
	return true;
}

static bool fsync_dir_of(const char *path)
{
	char buf[512];
	int fd;
	bool ok;

	snprintf(buf, sizeof(buf), "%s", path);
	fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ok = fsync(fd) == 0;
	close(fd);
	return ok;
}

static bool write_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t n = write(fd, s, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		s += n;
		len -= n;
	}
	return true;
}

static bool write_json(const char *dir, const char *rel, json_object *obj,
		       bool sync, qm_error *err)
{
	char path[512], tmp[520], parent[512];
	const char *text = json_object_to_json_string_ext(obj,
						JSON_C_TO_STRING_PRETTY);
	int fd;

	if (!join(path, sizeof(path), dir, rel, "", err) ||
	    !join(tmp, sizeof(tmp), dir, rel, ".tmp", err))
		return false;
	snprintf(parent, sizeof(parent), "%s", path);
	if (!mkdir_p(dirname(parent), err))
		return false;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return qm_error_errno(err, errno, "writing %s", tmp);
	if (!write_all(fd, text, strlen(text)) || !write_all(fd, "\n", 1) ||
	    (sync && fsync(fd) < 0)) {
		qm_error_errno(err, errno, "writing %s", tmp);
		close(fd);
		unlink(tmp);
		return false;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		qm_error_errno(err, errno, "renaming %s", tmp);
		unlink(tmp);
		return false;
	}
	if (sync && !fsync_dir_of(path))
		pr_warn("fsync of the directory of %s failed", path);
	return true;
}

bool qm_state_write_json(const char *dir, const char *rel, json_object *obj,
			 qm_error *err)
{
	return write_json(dir, rel, obj, true, err);
}

bool qm_state_write_json_nosync(const char *dir, const char *rel,
				json_object *obj, qm_error *err)
{
	return write_json(dir, rel, obj, false, err);
}

json_object *qm_state_read_json(const char *dir, const char *rel,
				qm_error *err)
{
	char path[512];
	json_object *o;
	struct stat st;

	if (!join(path, sizeof(path), dir, rel, "", err))
		return NULL;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			qm_error_set(err, QM_ERR_NOTFOUND, "%s: no such file",
				     path);
		else
			qm_error_errno(err, errno, "%s", path);
		return NULL;
	}
	if (st.st_size > STATE_FILE_MAX) {
		qm_error_set(err, QM_ERR_TOO_BIG, "%s: %lld bytes, limit %u",
			     path, (long long)st.st_size, STATE_FILE_MAX);
		return NULL;
	}
	o = json_object_from_file(path);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		qm_error_set(err, QM_ERR_PROTO, "%s: not a JSON object", path);
		return NULL;
	}
	return o;
}

bool qm_state_remove(const char *dir, const char *rel, qm_error *err)
{
	char path[512];

	if (!join(path, sizeof(path), dir, rel, "", err))
		return false;
	if (unlink(path) < 0 && errno != ENOENT)
		return qm_error_errno(err, errno, "removing %s", path);
	return true;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	if (remove(path) < 0 && errno != ENOENT)
		pr_warn("removing %s: %s", path, strerror(errno));
	return 0;
}

bool qm_state_remove_tree(const char *dir, const char *rel, qm_error *err)
{
	char path[512];
	struct stat st;

	if (!join(path, sizeof(path), dir, rel, "", err))
		return false;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? true
				       : qm_error_errno(err, errno, "%s", path);
	if (!S_ISDIR(st.st_mode))
		return qm_error_set(err, QM_ERR_INVAL, "%s is not a directory",
				    path);
	/* Depth first, without following links, inside one filesystem. */
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		return qm_error_errno(err, errno, "removing %s", path);
	if (lstat(path, &st) == 0)
		return qm_error_set(err, QM_ERR_IO, "%s could not be removed "
				    "entirely", path);
	return true;
}

json_object *qm_predictor_to_json(const qm_predictor *p)
{
	json_object *o = json_object_new_object(), *f = json_object_new_object();

	for (int i = 0; i < QM_PART__COUNT; i++)
		json_object_object_add(f, qm_part_names[i],
				       json_object_new_double(p->factor[i]));
	json_object_object_add(o, "factors", f);
	json_object_object_add(o, "samples", json_object_new_int64(p->samples));
	return o;
}

void qm_predictor_from_json(qm_predictor *p, json_object *o)
{
	json_object *f, *v;

	qm_predictor_init(p);
	if (!json_object_object_get_ex(o, "factors", &f))
		return;
	for (int i = 0; i < QM_PART__COUNT; i++) {
		double d;

		if (!json_object_object_get_ex(f, qm_part_names[i], &v) ||
		    !(json_object_is_type(v, json_type_double) ||
		      json_object_is_type(v, json_type_int)))
			continue;
		d = json_object_get_double(v);
		if (d >= 0.1 && d <= 10)
			p->factor[i] = d;
	}
	if (json_object_object_get_ex(o, "samples", &v) &&
	    json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0)
		p->samples = (unsigned)json_object_get_int64(v);
}
