/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Staged copies: after a VM migrated away, this host keeps its last RAM
 * image, so that migrating it back only sends what changed since (the
 * receiver announces the staged content in HAVE, by keyed hash).
 *
 *   STATE_DIR/staged/<vm name>.ram    the first RAM region's last image
 *
 * Saved by the source before its QEMU quits (the backend file may vanish
 * with it): a hard link when the state dir shares the backend's
 * filesystem, else a sparse copy of the allocated extents from the
 * agent's own mapping. Retention: at most --staged-max-bytes in all,
 * oldest dropped first. A copy used by an incoming migration is dropped
 * once the VM runs here again (it is stale from then on).
 */
#define LOG_PREFIX "staged"
#include "agent/mig-int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool staged_path(const agent *a, const char *vm, char *out, size_t len)
{
	return qm_format(out, len, "%s/staged/%s.ram", a->cfg.state_dir, vm);
}

static bool copy_extents(const dl_region *r, const char *dst, qm_error *err)
{
	uint64_t p = 0, s, e;
	int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok = fd >= 0 && ftruncate(fd, (off_t)r->size) == 0;

	if (!ok) {
		qm_error_errno(err, errno, "staged copy %s", dst);
		goto out;
	}
	while (ok && dl_region_next_data(r, p, &s, &e) > 0) {
		size_t len = (e - s) << DL_PAGE_SHIFT;
		off_t off = (off_t)(s << DL_PAGE_SHIFT);
		const uint8_t *src = r->base + off;

		while (ok && len) {
			ssize_t n = pwrite(fd, src, len, off);

			ok = n > 0;
			if (ok) {
				src += n;
				off += n;
				len -= (size_t)n;
			}
		}
		if (!ok)
			qm_error_errno(err, errno, "writing %s", dst);
		p = e;
	}
out:
	if (fd >= 0)
		close(fd);
	if (!ok)
		unlink(dst);
	return ok;
}

/* Total size of the staged files; drop the oldest while over the cap. */
static void enforce_cap(const agent *a)
{
	char dir[400], path[700], oldest[700];
	uint64_t total;

	snprintf(dir, sizeof(dir), "%s/staged", a->cfg.state_dir);
	for (;;) {
		time_t old_t = 0;
		struct dirent *de;
		struct stat st;
		DIR *d = opendir(dir);

		if (!d)
			return;
		total = 0;
		oldest[0] = '\0';
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.' ||
			    !qm_format(path, sizeof(path), "%s/%s", dir,
				       de->d_name) || stat(path, &st) < 0)
				continue;
			total += (uint64_t)st.st_blocks * 512;
			if (!oldest[0] || st.st_mtime < old_t) {
				old_t = st.st_mtime;
				snprintf(oldest, sizeof(oldest), "%s", path);
			}
		}
		closedir(d);
		if (total <= a->cfg.staged_max_bytes || !oldest[0])
			return;
		pr_info("dropping staged copy %s (staged total %llu MiB over the "
			"cap)", oldest, (unsigned long long)(total >> 20));
		unlink(oldest);
	}
}

bool staged_save(const agent *a, const agent_vm *vm, qm_error *err)
{
	char dir[400], dst[500];
	const dl_region *r = &vm->ram.regions[0];

	if (!a->cfg.staged_max_bytes)
		return true;
	/* Private RAM: nothing the agent can read, nothing to stage. */
	if (!vm->shared || vm->ram.nregions < 1) {
		pr_info("no staged copy of %s: its RAM is not on a shared "
			"backend", vm->name);
		return true;
	}
	snprintf(dir, sizeof(dir), "%s/staged", a->cfg.state_dir);
	if (!qm_state_open(dir, err) || !staged_path(a, vm->name, dst,
						     sizeof(dst)))
		return false;
	unlink(dst);
	if (vm->info[0].kind != DL_BACKEND_FILE ||
	    link(vm->info[0].path, dst) < 0) {
		if (!copy_extents(r, dst, err))
			return false;
	}
	pr_info("kept the last RAM image of %s as %s", vm->name, dst);
	enforce_cap(a);
	return true;
}

void staged_drop(const agent *a, const char *vm)
{
	char p[500];

	if (staged_path(a, vm, p, sizeof(p)))
		unlink(p);
}
