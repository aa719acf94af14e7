/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by qmig's cmocka tests.
 *
 * Skipping: a test executable whose precondition is missing (QEMU, KVM,
 * soft-dirty, NUMA nodes) calls QT_SKIP with the reason; it exits with 77,
 * which meson reports as SKIP, and the reason is in the test log. Never
 * skip silently, never pass instead of skipping.
 */
#ifndef QMIG_TEST_H
#define QMIG_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#define QT_EXIT_SKIP 77

#define QT_SKIP(...)                                                    \
	do {                                                            \
		printf("SKIP: ");                                       \
		printf(__VA_ARGS__);                                    \
		printf("\n");                                           \
		fflush(stdout);                                         \
		exit(QT_EXIT_SKIP);                                     \
	} while (0)

/* Number of /dev/shm files the launcher made for VMs of @name in this
 * process (qmig-<name>-<pid>-*), to check nothing is left behind. */
#include <dirent.h>
#include <string.h>
#include <unistd.h>
static inline int qt_shm_files(const char *name)
{
	char prefix[128];
	struct dirent *de;
	int n = 0;
	DIR *d = opendir("/dev/shm");

	snprintf(prefix, sizeof(prefix), "qmig-%s-%d-", name, (int)getpid());
	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += !strncmp(de->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

#endif
