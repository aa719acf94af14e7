/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to the migration engine (mig-*.c, methods-mig.c).
 */
#ifndef QMIG_AGENT_MIG_INT_H
#define QMIG_AGENT_MIG_INT_H

#include "agent/agent-int.h"
#include "agent/launchdesc.h"
#include "agent/migration.h"
#include "agent/peer.h"
#include "agent/qemu_mig.h"
#include "agent/statedir.h"
#include "transport/transport.h"

/* Pages per verification chunk: one hash covers this many page hashes. */
#define MIG_VERIFY_CHUNK 512

typedef struct dest_state {
	migration *m;
	ld_desc desc;
	ld_result lr;
	tp_receiver *rx;
	pid_t qd_pid;
	qmp_conn *qd;
	char incoming[640];
	int devstate_fd;
	uint64_t devstate_off;
	bool devstate_done;
	agent_vm *vm;            /* attached after COMMIT, for the registry */
	char staged[500];        /* staged copy offered as HAVE, "" if none */
	bool fault_done;         /* QMIG_FAULT_CORRUPT_PAGE applied */
	dl_ram_view view;        /* extents for verification, while no page */
	uint64_t view_rounds;    /* ... arrived since (receiver's flushes) */
	bool view_valid;
	uint64_t read_pages;     /* verified by reading since ... */
	uint64_t read_rounds;    /* ... pages last arrived */
	/* Adopted: Qd is the caller's (dest_qmp), see dest-qd.c. */
	bool adopted;
	char qd_qmp[256];
	qm_proc_id qd_id;        /* not our child: its identity instead */
	struct {
		char id[64];
		char path[256];
		uint64_t size;
	} qd_ram[DL_MAX_REGIONS];
	int qd_nram;
	rpc_call *prepare;       /* migration.prepare, answered once adopted */
} dest_state;

/* The destination QEMU (dest-qd.c): launched by us or adopted. */
bool qd_adopt(dest_state *d, qm_error *err);
bool qd_launch(dest_state *d, qm_error *err);     /* no-op if adopted */
bool qd_connect(dest_state *d, qm_error *err);    /* no-op if adopted */
bool qd_alive(dest_state *d, qm_error *err);
void qd_kill(dest_state *d);
void qd_release_ram(dest_state *d);
const char *qd_qmp_addr(const dest_state *d);
/* The file the receiver writes RAM block @id into (tp_block_path_fn). */
bool qd_block_path(dest_state *d, const char *id, uint64_t size, char *path,
		   size_t len);
/* Answer a deferred peer call from a worker: @result (taken), else @err. */
void mig_reply(agent *a, rpc_call *call, json_object *result,
	       const qm_error *err);

/* Hash pages [first, first + n) of @ram into @pages (n entries) and the
 * chunk hash over them into *@chunk. */
bool mig_hash_range(const dl_ram_view *v, const dl_hasher *h, uint64_t first,
		    uint64_t n, dl_hash *pages, dl_hash *chunk, qm_error *err);
/* The chunk hash over @n page hashes (what mig_hash_range() computes). */
dl_hash mig_chunk_hash(const dl_hasher *h, const dl_hash *pages, uint64_t n);

/* Destination (mig-dest.c). */
bool mig_dest_prepare(dest_state *d, json_object *launch, qm_error *err);
void *mig_dest_thread(void *arg);
/* Loop thread, posted by the worker at its end. */
void mig_dest_finished(void *arg);

/* Source (mig-source.c). */
void *mig_source_thread(void *arg);
void mig_source_finished(void *arg);

/* Staged copies (staged.c). */
bool staged_path(const agent *a, const char *vm, char *out, size_t len);
bool staged_save(const agent *a, const agent_vm *vm, qm_error *err);
void staged_drop(const agent *a, const char *vm);

/* Registry of migrations (methods-mig.c, loop thread). */
migration *mig_new(agent *a, qm_side side, const mig_params *p,
		   qm_error *err);
migration *mig_find(agent *a, const char *id);

/* ---- compat mode (mig-compat.c): QEMU's own migration ---- */

/* Qd's launch and end, from mig-dest.c: fork+exec and connect its QMP;
 * kill it and remove its RAM files; attach to it once it runs here. */
bool mig_dest_start_qd(dest_state *d, qm_error *err);
void mig_dest_cleanup(dest_state *d);
void mig_dest_attach(dest_state *d);

/* The members only mode "qemu" has (multifd, multifd_channels, xbzrle,
 * auto_converge) into @p when p->compat, else refuse them (-32602). */
bool mig_compat_params(json_object *j, mig_params *p, rpc_call *call);
/* Source worker of a migration.start with mode "qemu". */
void *mig_compat_source_thread(void *arg);
/* Peer methods (loop thread). prepare: migration.prepare with mode
 * "qemu", after methods-mig.c checked @id, @vm and @launch; answers
 * {port} once Qd listens. verify, commit, abort: the later steps. */
json_object *mig_compat_prepare(agent *a, rpc_call *call, json_object *j,
				const char *id, const char *vm,
				json_object *launch, qm_error *err);
json_object *mig_compat_verify(void *ctx, rpc_call *call, json_object *j,
			       qm_error *err);
json_object *mig_compat_commit(void *ctx, rpc_call *call, json_object *j,
			       qm_error *err);
json_object *mig_compat_abort(void *ctx, rpc_call *call, json_object *j,
			      qm_error *err);

#endif
