/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NUMA placement in a VM with two nodes: a destination backend on tmpfs
 * bound to node 1 (or 0) before the first touch gets its pages there,
 * including the pages another process (as QEMU would) faults in through
 * its own mapping of the file; a node that does not exist is refused.
 */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEST_PAGES 2048                      /* 8 MiB */

/* Count the pages of [first, first + n) on @node; report the first stray. */
static uint64_t pages_on(const dl_ram *ram, uint64_t first, uint64_t n,
			 int node)
{
	uint64_t on = 0;
	bool told = false;

	for (uint64_t p = first; p < first + n; p++) {
		int got = dl_ram_page_node(ram, p);

		if (got == node)
			on++;
		else if (!told) {
			vm_info("page %llu: node %d, want %d",
				(unsigned long long)p, got, node);
			told = true;
		}
	}
	return on;
}

/* What QEMU does on the destination: map the file and write to it. */
static void touch_in_child(const char *path, uint64_t pages)
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0) {
		int fd = open(path, O_RDWR);
		uint8_t *p = mmap(NULL, pages * DL_PAGE_SIZE,
				  PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		if (fd < 0 || p == MAP_FAILED)
			_exit(2);
		for (uint64_t i = 0; i < pages; i++)
			p[i * DL_PAGE_SIZE] = 0x5a;
		_exit(0);
	}
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		vm_info("child touching %s: status 0x%x", path, st);
}

/* Create @path, bind it to @node with @flags (@node < 0: no policy, pages
 * must then follow the CPU to @cpu_node), let a child fault in the first
 * half and this process the second. Both run on a CPU of @cpu_node, the
 * other node, so only the policy can put the pages on @node. */
static void place_file(const char *path, int node, int cpu_node,
		       unsigned flags, const char *what)
{
	qm_error err = QM_ERROR_INIT;
	uint64_t half = DEST_PAGES / 2, on_child, on_self;
	dl_ram ram;

	int want = node < 0 ? cpu_node : node;

	dl_ram_init(&ram);
	if (!dl_ram_add_file(&ram, "ram0", path, DEST_PAGES * DL_PAGE_SIZE,
			     DL_MAP_CREATE | DL_MAP_WRITE, &err) ||
	    (node >= 0 && !dl_ram_bind_node(&ram, 0, node, flags, &err))) {
		vm_check(false, "numa: %s: %s", what, err.msg);
		dl_ram_close(&ram);
		unlink(path);
		return;
	}
	if (numa_run_on_node(cpu_node) < 0)
		vm_info("running on node %d: %s", cpu_node, strerror(errno));
	touch_in_child(path, half);
	for (uint64_t p = 0; p < DEST_PAGES; p++)
		(void)*(volatile uint8_t *)dl_ram_page(&ram, p); /* map it */
	for (uint64_t p = half; p < DEST_PAGES; p++)
		dl_ram_page(&ram, p)[1] = 1;
	numa_run_on_node(-1);
	on_child = pages_on(&ram, 0, half, want);
	on_self = pages_on(&ram, half, half, want);
	vm_check(on_child == half && on_self == half,
		 "numa: %s: pages on node %d: %llu/%llu faulted by another "
		 "process, %llu/%llu by us", what, want,
		 (unsigned long long)on_child, (unsigned long long)half,
		 (unsigned long long)on_self, (unsigned long long)half);
	dl_ram_close(&ram);
	unlink(path);
}

static void bogus_node(void)
{
	qm_error err = QM_ERROR_INIT;
	const char *path = "/tmp/qmig-dest-bogus.ram";
	dl_ram ram;
	bool ok;

	dl_ram_init(&ram);
	if (!dl_ram_add_file(&ram, "ram0", path, 16 * DL_PAGE_SIZE,
			     DL_MAP_CREATE | DL_MAP_WRITE, &err)) {
		vm_check(false, "numa: bogus node: %s", err.msg);
		return;
	}
	ok = !dl_ram_bind_node(&ram, 0, 5, 0, &err) &&
	     err.code == QM_ERR_INVAL && strstr(err.msg, "NUMA node 5 ") &&
	     strstr(err.msg, "nodes with memory: 0-1");
	vm_check(ok, "numa: node 5 refused: %s", err.msg);
	dl_ram_close(&ram);
	unlink(path);
}

void vm_numa_tests(void)
{
	int avail = numa_available();

	if (!vm_check(avail >= 0 && numa_max_node() == 1 &&
		      numa_num_configured_nodes() == 2,
		      "numa: the VM has two nodes (available %d, max node %d)",
		      avail, avail >= 0 ? numa_max_node() : -1))
		return;
	/* Control: without a policy the pages follow the CPU, so the
	 * checks below can only pass because of the policy. */
	place_file("/tmp/qmig-dest-c.ram", -1, 0, 0, "no policy, CPU on node 0");
	place_file("/tmp/qmig-dest-n1.ram", 1, 0, 0, "bind to node 1");
	place_file("/tmp/qmig-dest-n0.ram", 0, 1, 0, "bind to node 0");
	place_file("/tmp/qmig-dest-p1.ram", 1, 0, DL_BIND_PREFERRED,
		   "prefer node 1");
	bogus_node();
}
