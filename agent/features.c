/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host feature probe: each feature is tried for real (CRIU kerndat), not
 * guessed from version numbers, and each "no" comes with its reason.
 */
#include "agent/agent.h"
#include "dirtylog/dirtylog.h"

#include <errno.h>
#include <liburing.h>
#include <numa.h>
#include <stdio.h>
#include <string.h>

static void probe_io_uring(agent_features *f)
{
	struct io_uring ring;
	struct io_uring_probe *p;
	int rc = io_uring_queue_init(4, &ring, 0);

	if (rc < 0) {
		snprintf(f->io_uring_why, sizeof(f->io_uring_why),
			 "io_uring_queue_init: %s", strerror(-rc));
		return;
	}
	f->io_uring = true;
	p = io_uring_get_probe_ring(&ring);
	if (p) {
		f->send_zc = io_uring_opcode_supported(p, IORING_OP_SEND_ZC);
		io_uring_free_probe(p);
	}
	snprintf(f->io_uring_why, sizeof(f->io_uring_why), "%s",
		 f->send_zc ? "send_zc supported" : "no IORING_OP_SEND_ZC");
	io_uring_queue_exit(&ring);
}

void agent_probe_features(agent_features *f)
{
	memset(f, 0, sizeof(*f));
	f->kvm = qm_kvm_usable(f->kvm_why, sizeof(f->kvm_why));
	if (f->kvm)
		snprintf(f->kvm_why, sizeof(f->kvm_why), "usable");
	f->soft_dirty = dl_softdirty_probe(f->soft_dirty_why,
					   sizeof(f->soft_dirty_why)) == DL_SD_YES;
	probe_io_uring(f);
	f->numa_nodes = numa_available() < 0 ? 1 : numa_num_configured_nodes();
}

void agent_features_print(const agent_features *f, int fd)
{
	dprintf(fd, "kvm: %s (%s)\n", f->kvm ? "yes" : "no", f->kvm_why);
	dprintf(fd, "soft-dirty: %s (%s)\n", f->soft_dirty ? "yes" : "no",
		f->soft_dirty_why);
	dprintf(fd, "io_uring: %s (%s)\n", f->io_uring ? "yes" : "no",
		f->io_uring_why);
	dprintf(fd, "numa-nodes: %d\n", f->numa_nodes);
}

json_object *agent_features_to_json(const agent_features *f)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "kvm", json_object_new_boolean(f->kvm));
	json_object_object_add(o, "kvm_reason",
			       json_object_new_string(f->kvm_why));
	json_object_object_add(o, "soft_dirty",
			       json_object_new_boolean(f->soft_dirty));
	json_object_object_add(o, "soft_dirty_reason",
			       json_object_new_string(f->soft_dirty_why));
	json_object_object_add(o, "io_uring",
			       json_object_new_boolean(f->io_uring));
	json_object_object_add(o, "send_zc", json_object_new_boolean(f->send_zc));
	json_object_object_add(o, "numa_nodes",
			       json_object_new_int(f->numa_nodes));
	return o;
}
