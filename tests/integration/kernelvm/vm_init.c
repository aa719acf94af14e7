/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /init of the kernel-VM test initramfs: mount what the tests need, run the
 * soft-dirty and NUMA checks against the VM's kernel, print TAP lines on
 * the serial console, power off.
 *
 * As PID 1 it first mounts /proc, /sys, /dev and a tmpfs on /tmp, then
 * executes itself again: libnuma reads the node layout from /sys in a
 * constructor, before main(), so it must start with /sys mounted.
 * Run by hand outside a VM (not PID 1: no mounts, no power off), the
 * checks report what the running kernel does.
 */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

static int nchecks;

bool vm_check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++nchecks);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return ok;
}

void vm_info(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

int vm_checks(void)
{
	return nchecks;
}

static void mount_one(const char *src, const char *dir, const char *type)
{
	mkdir(dir, 0755);
	if (mount(src, dir, type, 0, NULL) < 0 && errno != EBUSY)
		fprintf(stderr, "# mount %s on %s: %s\n", type, dir,
			strerror(errno));
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		printf("# %s: %s\n", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void power_off(void)
{
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	/* Not reached when the power-off works; PID 1 exiting panics the
	 * kernel, and panic=-1 with QEMU's -no-reboot ends the VM too. */
	_exit(1);
}

int main(int argc, char **argv)
{
	bool as_init = getpid() == 1;

	if (as_init && (argc < 2 || strcmp(argv[1], "run"))) {
		mount_one("proc", "/proc", "proc");
		mount_one("sysfs", "/sys", "sysfs");
		mount_one("devtmpfs", "/dev", "devtmpfs");
		mount_one("tmpfs", "/tmp", "tmpfs");
		execl("/init", "/init", "run", (char *)NULL);
		printf("# kernelvm: exec /init: %s\n", strerror(errno));
		power_off();
	}
	if (fcntl(1, F_GETFD) < 0) {
		int fd = open("/dev/console", O_WRONLY);

		dup2(fd, 1);
		dup2(fd, 2);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# kernelvm: start\n");
	/* Automatic NUMA balancing would move pages under the checks (a
	 * moved page is a soft-dirty candidate; placement checks count
	 * nodes). The agent's host may run it; these checks must not. */
	if (as_init)
		write_file("/proc/sys/kernel/numa_balancing", "0");
	vm_softdirty_tests();
	vm_numa_tests();
	printf("1..%d\n", vm_checks());
	printf("# kernelvm: done\n");
	if (as_init)
		power_off();
	return 0;
}
