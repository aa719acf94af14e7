/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Soft-dirty support: the kernel probe (after CRIU's kerndat), and the
 * pagemap helpers the soft-dirty tracker is built on.
 *
 * The probe proves the feature on the kind of memory guests use: a shared
 * memfd page is mapped, soft-dirty bits are cleared (clear_refs "4"), the
 * page is written, and pagemap must then show bit 55 for it. A kernel
 * without CONFIG_MEM_SOFT_DIRTY accepts the write to clear_refs but never
 * sets the bit. QMIG_SOFT_DIRTY=off forces the fallback (for tests).
 */
#define LOG_PREFIX "dirtylog"
#include "dirtylog/tracker-impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int dl_pagemap_soft_dirty(uint64_t entry)
{
	return (int)((entry >> DL_PM_SOFT_DIRTY_BIT) & 1);
}

static int write_clear_refs(pid_t pid)
{
	char path[64];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "4", 1) != 1)
		rc = -errno;
	close(fd);
	return rc;
}

static int read_pagemap_entry(pid_t pid, const void *addr, uint64_t *entry)
{
	char path[64];
	off_t off = (off_t)((uintptr_t)addr / DL_PAGE_SIZE) * 8;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (pread(fd, entry, 8, off) != 8)
		rc = errno ? -errno : -EIO;
	close(fd);
	return rc;
}

dl_softdirty_probe_result dl_softdirty_probe(char *why, size_t why_len)
{
	const char *env = getenv("QMIG_SOFT_DIRTY");
	dl_softdirty_probe_result res = DL_SD_ERROR;
	uint64_t entry = 0;
	volatile uint8_t *page;
	int fd, rc;

	if (env && !strcmp(env, "off")) {
		snprintf(why, why_len, "disabled by QMIG_SOFT_DIRTY=off");
		return DL_SD_NO;
	}
	fd = memfd_create("qmig-sd-probe", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, DL_PAGE_SIZE) < 0) {
		snprintf(why, why_len, "probe memfd: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return DL_SD_ERROR;
	}
	page = mmap(NULL, DL_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, 0);
	close(fd);
	if (page == MAP_FAILED) {
		snprintf(why, why_len, "probe mmap: %s", strerror(errno));
		return DL_SD_ERROR;
	}
	page[0] = 1; /* fault it in before clearing */
	rc = write_clear_refs(getpid());
	if (rc < 0) {
		snprintf(why, why_len, "/proc/self/clear_refs: %s",
			 strerror(-rc));
		goto out;
	}
	page[0] = 2;
	rc = read_pagemap_entry(getpid(), (const void *)page, &entry);
	if (rc < 0) {
		snprintf(why, why_len, "/proc/self/pagemap: %s", strerror(-rc));
		goto out;
	}
	if (dl_pagemap_soft_dirty(entry)) {
		res = DL_SD_YES;
		snprintf(why, why_len, "soft-dirty works");
	} else {
		res = DL_SD_NO;
		snprintf(why, why_len, "kernel does not set soft-dirty bits "
			 "(no CONFIG_MEM_SOFT_DIRTY)");
	}
out:
	munmap((void *)page, DL_PAGE_SIZE);
	return res;
}

bool dl_softdirty_setup(dl_tracker *t, const dl_tracker_opts *o, char *why,
			size_t why_len)
{
	if (dl_softdirty_probe(why, why_len) != DL_SD_YES)
		return false;
	if (o->qemu_pid <= 0) {
		snprintf(why, why_len, "no QEMU pid to read pagemap from");
		return false;
	}
	/* The pagemap-driven tracker lands with its tests in a kernel that
	 * has soft-dirty; until then hash-scan does the work. */
	snprintf(why, why_len, "soft-dirty tracker not available in this "
		 "build");
	return false;
}
