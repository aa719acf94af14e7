/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Find a running VM's RAM over QMP and map it.
 *
 * query-memdev gives every memory backend's id, size and share flag;
 * qom-list /objects gives its type; a file backend's mem-path comes from
 * qom-get. The backing object is then matched against QEMU's own mappings
 * (/proc/PID/maps, by device and inode for files, by name and size for
 * memfds) so the agent reads exactly the memory the guest uses: a file that
 * was deleted or replaced after QEMU mapped it is refused, never read.
 * memfds are opened through QEMU's descriptor table (/proc/PID/fd), which
 * needs the same privileges as reading its memory.
 *
 * A VM whose RAM cannot be mapped (private, share=off, a kind the agent
 * cannot read) is only described (dl_describe): QEMU's own migration can
 * still move it.
 */
#define LOG_PREFIX "dirtylog"
#include "dirtylog/dirtylog.h"
#include "qmp/qmp.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define MEMFD_MAP_NAME "/memfd:memory-backend-memfd (deleted)"

static dl_backend_kind kind_from_qom_type(const char *type)
{
	if (!strcmp(type, "child<memory-backend-file>"))
		return DL_BACKEND_FILE;
	if (!strcmp(type, "child<memory-backend-memfd>"))
		return DL_BACKEND_MEMFD;
	if (!strcmp(type, "child<memory-backend-ram>"))
		return DL_BACKEND_RAM;
	return DL_BACKEND_UNKNOWN;
}

const char *dl_backend_kind_name(dl_backend_kind k)
{
	switch (k) {
	case DL_BACKEND_FILE: return "file";
	case DL_BACKEND_MEMFD: return "memfd";
	case DL_BACKEND_RAM: return "ram";
	default: return "unknown";
	}
}

/* Find QEMU's shared mapping of @size bytes matching @want (by inode when
 * want->inode != 0, else by path). Returns the number of matches (0..n);
 * *out holds the first. */
static int find_mapping(pid_t pid, const dl_map_entry *want, uint64_t size,
			dl_map_entry *out, qm_error *err)
{
	char path[64], line[1024];
	dl_map_entry e;
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f) {
		qm_error_errno(err, errno, "QEMU process %d: %s", (int)pid, path);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		if (!dl_parse_maps_line(line, &e) || !e.shared ||
		    e.end - e.start != size)
			continue;
		if (want->inode ? (e.inode == want->inode &&
				   e.dev_major == want->dev_major &&
				   e.dev_minor == want->dev_minor)
				: !strcmp(e.path, want->path)) {
			if (!found++)
				*out = e;
		}
	}
	fclose(f);
	return found;
}

/* A file backend: the file at mem-path must be the one QEMU maps. */
static bool locate_file(pid_t pid, const char *id, const char *mem_path,
			uint64_t size, char *open_path, size_t len,
			qm_error *err)
{
	dl_map_entry want = { 0 }, got;
	struct stat st;
	int n;

	if (stat(mem_path, &st) < 0)
		return qm_error_errno(err, errno, "backend %s: mem-path %s is "
				      "gone", id, mem_path);
	if (S_ISDIR(st.st_mode))
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
				    "backend %s: mem-path %s is a directory (QEMU "
				    "made an unlinked file in it); give QEMU a "
				    "file path", id, mem_path);
	want.inode = st.st_ino;
	want.dev_major = major(st.st_dev);
	want.dev_minor = minor(st.st_dev);
	n = find_mapping(pid, &want, size, &got, err);
	if (n < 0)
		return false;
	if (n == 0)
		return qm_error_set(err, QM_ERR_NOTFOUND,
				    "backend %s: QEMU (pid %d) has no %" PRIu64
				    "-byte shared mapping of %s (inode %" PRIu64
				    "): the file was replaced, resized or is "
				    "not shared", id, (int)pid, size, mem_path,
				    (uint64_t)st.st_ino);
	if (!qm_format(open_path, len, "%s", mem_path))
		return qm_error_set(err, QM_ERR_TOO_BIG, "backend %s: path too "
				    "long", id);
	return true;
}

/* Find, in QEMU's fd table, the descriptor for device:inode of @m. */
static bool fd_for_mapping(pid_t pid, const dl_map_entry *m, char *open_path,
			   size_t len)
{
	char dir[64], p[128];
	struct dirent *de;
	struct stat st;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.' ||
		    !qm_format(p, sizeof(p), "%s/%s", dir, de->d_name) ||
		    stat(p, &st) < 0)
			continue;
		found = st.st_ino == m->inode &&
			major(st.st_dev) == m->dev_major &&
			minor(st.st_dev) == m->dev_minor &&
			qm_format(open_path, len, "%s", p);
	}
	closedir(d);
	return found;
}

static bool locate_memfd(pid_t pid, const char *id, uint64_t size,
			 char *open_path, size_t len, qm_error *err)
{
	dl_map_entry want = { 0 }, got;
	int n;

	snprintf(want.path, sizeof(want.path), "%s", MEMFD_MAP_NAME);
	n = find_mapping(pid, &want, size, &got, err);
	if (n < 0)
		return false;
	if (n == 0)
		return qm_error_set(err, QM_ERR_NOTFOUND,
				    "backend %s: no %" PRIu64 "-byte memfd "
				    "mapping in QEMU (pid %d)", id, size,
				    (int)pid);
	if (n > 1)
		/* QEMU 7.2 names every memfd alike and shows no host address
		 * per RAM block: same-sized memfds cannot be told apart. */
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
				    "backend %s: %d memfd backends of %" PRIu64
				    " bytes cannot be told apart; use "
				    "memory-backend-file or distinct sizes", id,
				    n, size);
	if (!fd_for_mapping(pid, &got, open_path, len))
		return qm_error_set(err, QM_ERR_NOTFOUND,
				    "backend %s: QEMU (pid %d) maps a memfd but "
				    "holds no descriptor for it", id, (int)pid);
	return true;
}

static bool backend_path(qmp_conn *q, pid_t pid, const qmp_memdev *m,
			 dl_backend_kind kind, char *open_path, size_t len,
			 qm_error *err)
{
	char qom[QMP_NAME_MAX + 16];
	json_object *v;
	bool ok;

	if (!m->share)
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
				    "backend %s is not shared (share=off): the "
				    "agent cannot read this VM's RAM", m->id);
	if (kind == DL_BACKEND_MEMFD)
		return locate_memfd(pid, m->id, m->size, open_path, len, err);
	if (kind != DL_BACKEND_FILE)
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
				    "backend %s is a %s backend; the agent reads "
				    "memory-backend-file or memory-backend-memfd",
				    m->id, dl_backend_kind_name(kind));
	snprintf(qom, sizeof(qom), "/objects/%s", m->id);
	v = qmp_qom_get(q, qom, "mem-path", err);
	if (!v)
		return false;
	ok = json_object_is_type(v, json_type_string);
	if (ok)
		ok = locate_file(pid, m->id, json_object_get_string(v),
				 m->size, open_path, len, err);
	else
		qm_error_set(err, QM_ERR_PROTO, "backend %s: mem-path is not a "
			     "string", m->id);
	json_object_put(v);
	return ok;
}

static dl_backend_kind lookup_kind(const qmp_qom_prop_list *objs,
				   const char *id)
{
	for (size_t i = 0; i < objs->count; i++)
		if (!strcmp(objs->items[i].name, id))
			return kind_from_qom_type(objs->items[i].type);
	return DL_BACKEND_UNKNOWN;
}

static int memdev_cmp(const void *a, const void *b)
{
	return strcmp(((const qmp_memdev *)a)->id, ((const qmp_memdev *)b)->id);
}

static bool map_backends(qmp_conn *q, pid_t pid, const qmp_memdev_list *mds,
			 const qmp_qom_prop_list *objs, dl_ram *ram,
			 dl_backend_info *info, qm_error *err)
{
	for (size_t i = 0; i < mds->count; i++) {
		const qmp_memdev *m = &mds->items[i];
		dl_backend_info *bi = &info[ram->nregions];

		memset(bi, 0, sizeof(*bi));
		bi->kind = lookup_kind(objs, m->id);
		if (!backend_path(q, pid, m, bi->kind, bi->path,
				  sizeof(bi->path), err)) {
			qm_error_prepend(err, "VM RAM");
			return false;
		}
		if (!dl_ram_add_file(ram, m->id, bi->path, m->size, 0, err)) {
			qm_error_prepend(err, "VM RAM: backend %s", m->id);
			return false;
		}
	}
	return true;
}

/* The VM's memory backends (at most DL_MAX_REGIONS) and QEMU's objects.
 * QEMU lists backends newest first; they are sorted by id instead, so the
 * page numbering does not depend on command-line order. */
static bool read_memdevs(qmp_conn *q, qmp_memdev_list *mds,
			 qmp_qom_prop_list *objs, qm_error *err)
{
	if (!qmp_query_memdev(q, mds, err) ||
	    !qmp_qom_list(q, "/objects", objs, err))
		return false;
	if (mds->count > DL_MAX_REGIONS)
		return qm_error_set(err, QM_ERR_UNSUPPORTED, "VM RAM: %zu "
				    "backends, at most %d supported",
				    mds->count, DL_MAX_REGIONS);
	qsort(mds->items, mds->count, sizeof(*mds->items), memdev_cmp);
	return true;
}

bool dl_discover(qmp_conn *q, pid_t pid, dl_ram *ram,
		 dl_backend_info info[DL_MAX_REGIONS], qm_error *err)
{
	qmp_memdev_list mds = { 0 };
	qmp_qom_prop_list objs = { 0 };
	bool ok = false;

	if (pid <= 0)
		pid = qmp_peer_pid(q);
	if (pid <= 0)
		return qm_error_set(err, QM_ERR_INVAL, "VM RAM: QEMU's pid is "
				    "unknown (QMP over TCP?); pass it explicitly");
	if (!read_memdevs(q, &mds, &objs, err))
		goto out;
	if (mds.count == 0) {
		qm_error_set(err, QM_ERR_UNSUPPORTED,
			     "VM RAM: the VM has no memory backend; start QEMU "
			     "with -object memory-backend-file,...,share=on "
			     "-machine memory-backend=ID");
		goto out;
	}
	ok = map_backends(q, pid, &mds, &objs, ram, info, err);
	if (!ok)
		dl_ram_close(ram);
out:
	qmp_memdev_list_free(&mds);
	qmp_qom_prop_list_free(&objs);
	return ok;
}

bool dl_discover_failed_on_ram(const qm_error *err)
{
	switch (err->code) {
	case QM_ERR_UNSUPPORTED:
	case QM_ERR_NOTFOUND:
	case QM_ERR_IO:
	case QM_ERR_INVAL:
	case QM_ERR_TOO_BIG:
		return true;
	default:
		return false;
	}
}

/* QEMU's base memory, for a VM that lists no backend at all. */
static bool base_memory(qmp_conn *q, uint64_t *bytes, qm_error *err)
{
	json_object *r = qmp_call(q, "query-memory-size-summary", NULL, 0, err);
	json_object *v;
	bool ok;

	if (!r)
		return false;
	ok = json_object_object_get_ex(r, "base-memory", &v) &&
	     json_object_is_type(v, json_type_int);
	if (ok)
		*bytes = (uint64_t)json_object_get_int64(v);
	else
		qm_error_set(err, QM_ERR_PROTO, "query-memory-size-summary: no "
			     "base-memory");
	json_object_put(r);
	return ok;
}

bool dl_describe(qmp_conn *q, dl_memdev out[DL_MAX_REGIONS], int *n,
		 uint64_t *bytes, qm_error *err)
{
	qmp_memdev_list mds = { 0 };
	qmp_qom_prop_list objs = { 0 };
	bool ok = false;

	*n = 0;
	*bytes = 0;
	if (!read_memdevs(q, &mds, &objs, err))
		goto out;
	for (size_t i = 0; i < mds.count; i++) {
		dl_memdev *d = &out[(*n)++];

		snprintf(d->id, sizeof(d->id), "%s", mds.items[i].id);
		d->size = mds.items[i].size;
		d->kind = lookup_kind(&objs, mds.items[i].id);
		d->share = mds.items[i].share;
		*bytes += d->size;
	}
	ok = mds.count || base_memory(q, bytes, err);
out:
	qmp_memdev_list_free(&mds);
	qmp_qom_prop_list_free(&objs);
	return ok;
}
