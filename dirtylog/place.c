/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Destination placement: bind a RAM region to a host NUMA node before its
 * pages exist, and ask where a page landed. The policy is set with mbind()
 * on the agent's mapping; for tmpfs and memfd the kernel stores it with the
 * file (shmem shared policy), which is what makes QEMU's later faults on the
 * same file follow it. libnuma's numa_tonode_memory() would do the same
 * mbind but reports failure only through numa_error(), so mbind() is
 * called directly and libnuma answers the questions about nodes.
 */
#define LOG_PREFIX "dirtylog"
#include "dirtylog/dirtylog.h"

#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "0-1,3": the nodes this process may allocate from that have memory. */
static void format_nodes(char *buf, size_t len)
{
	int max = numa_max_node(), n = 0;
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i <= max && used < len; i++) {
		int j = i;

		if (!numa_bitmask_isbitset(numa_all_nodes_ptr, i))
			continue;
		while (j < max && numa_bitmask_isbitset(numa_all_nodes_ptr, j + 1))
			j++;
		used += (size_t)snprintf(buf + used, len - used, "%s%d", n++ ?
					 "," : "", i);
		if (j > i && used < len)
			used += (size_t)snprintf(buf + used, len - used, "-%d",
						 j);
		i = j;
	}
}

/* Can @node be used at all? Sets *skip when placement is pointless (one
 * node, or no NUMA in the kernel) and node 0 was asked for. */
static bool check_node(int node, bool *skip, qm_error *err)
{
	char nodes[128];

	*skip = false;
	if (numa_available() < 0) {
		if (node == 0) {
			pr_info("NUMA placement skipped: the kernel has no NUMA "
				"support (node 0 only)");
			*skip = true;
			return true;
		}
		return qm_error_set(err, QM_ERR_INVAL, "NUMA node %d: this "
				    "host has no NUMA support (node 0 only)",
				    node);
	}
	format_nodes(nodes, sizeof(nodes));
	if (node < 0 || node > numa_max_node() ||
	    !numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)node))
		return qm_error_set(err, QM_ERR_INVAL, "NUMA node %d does not "
				    "exist or has no memory for us (nodes with "
				    "memory: %s)", node, nodes);
	if (numa_num_configured_nodes() == 1) {
		pr_info("NUMA placement skipped: this host has one node (%s)",
			nodes);
		*skip = true;
	}
	return true;
}

/* Pages of @r that exist already: a policy does not move them. */
static void warn_allocated(const dl_region *r)
{
	dl_extent *x = NULL;
	uint64_t pages = 0;
	size_t n = 0;

	if (dl_region_extents(r, &x, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		pages += x[i].end - x[i].start;
	free(x);
	if (pages)
		pr_warn("RAM backend %s: %llu pages already allocated keep "
			"their placement", r->path, (unsigned long long)pages);
}

bool dl_ram_bind_node(dl_ram *ram, int region, int node, unsigned flags,
		      qm_error *err)
{
	int mode = (flags & DL_BIND_PREFERRED) ? MPOL_PREFERRED : MPOL_BIND;
	struct bitmask *mask;
	dl_region *r;
	bool skip;
	long rc;

	if (region < 0 || region >= ram->nregions)
		return qm_error_set(err, QM_ERR_INVAL, "RAM region %d out of "
				    "range (%d regions)", region,
				    ram->nregions);
	r = &ram->regions[region];
	if (!check_node(node, &skip, err)) {
		qm_error_prepend(err, "RAM backend %s", r->path);
		return false;
	}
	if (skip)
		return true;
	warn_allocated(r);
	mask = numa_allocate_nodemask();
	if (!mask)
		return qm_error_set(err, QM_ERR_NOMEM, "NUMA node mask");
	numa_bitmask_setbit(mask, (unsigned)node);
	/* maxnode = size + 1: the kernel drops the last bit (as libnuma). */
	rc = mbind(r->base, r->size, mode, mask->maskp, mask->size + 1, 0);
	numa_free_nodemask(mask);
	if (rc < 0)
		return qm_error_errno(err, errno, "RAM backend %s: binding "
				      "%llu bytes to NUMA node %d", r->path,
				      (unsigned long long)r->size, node);
	pr_info("RAM backend %s: %s to NUMA node %d", r->path,
		mode == MPOL_BIND ? "bound" : "preferring", node);
	return true;
}

int dl_ram_page_node(const dl_ram *ram, uint64_t page)
{
	void *addr = dl_ram_page(ram, page);
	int status = -ENOENT;

	if (!addr)
		return -EINVAL;
	if (move_pages(0, 1, &addr, NULL, &status, 0) < 0)
		return -errno;
	return status;
}
