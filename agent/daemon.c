/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmigd's core: the loop, the RPC server, signals, the VM registry.
 */
#define LOG_PREFIX "qmigd"
#include "agent/agent-int.h"
#include "agent/migration.h"
#include "agent/records.h"
#include "agent/recover.h"
#include "agent/state-writer.h"
#include "agent/statedir.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define PREDICTOR_FILE "predictor.json"

static const char *const topics[] = { "migration", "vm", NULL };

/* ---- registry ---- */

agent_vm *agent_find_vm(agent *a, const char *name)
{
	for (int i = 0; i < a->nvms; i++)
		if (!strcmp(a->vms[i]->name, name))
			return a->vms[i];
	return NULL;
}

bool agent_add_vm(agent *a, agent_vm *vm, qm_error *err)
{
	if (agent_find_vm(a, vm->name))
		return qm_error_set(err, QM_ERR_STATE, "a VM named '%s' is "
				    "already attached", vm->name);
	if (a->nvms >= AGENT_MAX_VMS)
		return qm_error_set(err, QM_ERR_TOO_BIG, "%d VMs attached, the "
				    "limit", AGENT_MAX_VMS);
	a->vms[a->nvms++] = vm;
	agent_watch_vm(a, vm);
	/* So that a restarted agent finds it again. */
	vm_record_save(a, vm);
	return true;
}

void agent_remove_vm(agent *a, agent_vm *vm)
{
	for (int i = 0; i < a->nvms; i++) {
		if (a->vms[i] != vm)
			continue;
		agent_unwatch_vm(a, vm);
		a->vms[i] = a->vms[--a->nvms];
		vm_record_remove(a, vm->name);
		return;
	}
}

const char *agent_tracker_for(const agent *a, const agent_vm *vm,
			      const char **why)
{
	/* Nothing to track in RAM the agent cannot read. */
	if (!vm->shared) {
		*why = "RAM not on a shared backend: QEMU's own migration "
		       "only";
		return "none";
	}
	/* Soft-dirty needs the kernel feature and a file or memfd backend
	 * that is not hugetlbfs; the engine probes again at start. */
	if (a->features.soft_dirty) {
		*why = "";
		return "soft-dirty";
	}
	*why = a->features.soft_dirty_why;
	return "hash-scan";
}

/* ---- idle VMs: QMP events and QEMU's exit ---- */

static void vm_lost(agent *a, agent_vm *vm, const char *why)
{
	vm->lost = true;
	qm_format(vm->lost_why, sizeof(vm->lost_why), "%s", why);
	agent_unwatch_vm(a, vm);
	pr_warn("VM %s: %s", vm->name, why);
	rpc_server_notify(a->rpc, "vm", "vm.lost", json_object_new_object(),
			  NULL);
}

static void on_vm_qmp(agent_loop *loop, int fd, uint32_t events, void *opaque)
{
	agent_vm *vm = opaque;
	agent *a = vm->owner;
	qm_error err = QM_ERROR_INIT;
	const qmp_event_state *es;

	if (qmp_process(vm->q, (short)events, &err) < 0) {
		vm_lost(a, vm, err.msg);
		return;
	}
	while (qmp_event_count(vm->q))
		json_object_put(qmp_event_pop(vm->q));
	es = qmp_event_state_get(vm->q);
	if (es->shutdown_seen && !vm->lost)
		vm_lost(a, vm, "QEMU shut down");
}

void agent_watch_vm(agent *a, agent_vm *vm)
{
	qm_error err = QM_ERROR_INIT;

	vm->owner = a;
	if (vm->lost || vm->watched || !vm->q)
		return;
	if (agent_loop_add_fd(a->loop, qmp_fd(vm->q), EPOLLIN, on_vm_qmp, vm,
			      &err))
		vm->watched = true;
	else
		pr_warn("VM %s: cannot watch QMP: %s", vm->name, err.msg);
}

void agent_unwatch_vm(agent *a, agent_vm *vm)
{
	if (!vm->watched)
		return;
	agent_loop_del_fd(a->loop, qmp_fd(vm->q));
	vm->watched = false;
}

/* ---- lifecycle ---- */

static void on_signal(agent_loop *loop, int fd, uint32_t events, void *opaque)
{
	agent *a = opaque;
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	pr_info("signal %u: stopping", si.ssi_signo);
	agent_request_stop(a);
}

static bool setup_signals(agent *a, qm_error *err)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	/* Writes to a vanished RPC client must not kill the agent. */
	signal(SIGPIPE, SIG_IGN);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return qm_error_set(err, QM_ERR_IO, "blocking signals");
	a->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (a->sigfd < 0)
		return qm_error_errno(err, errno, "signalfd");
	return agent_loop_add_fd(a->loop, a->sigfd, EPOLLIN, on_signal, a, err);
}

static bool read_token(const char *path, char *out, size_t len,
		       qm_error *err)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return qm_error_errno(err, errno, "token file %s", path);
	n = fread(out, 1, len - 1, f);
	fclose(f);
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return true;
}

static bool setup_rpc(agent *a, qm_error *err)
{
	static const struct {
		const rpc_method *t;
		const size_t *n;
	} tables[] = {
		{ agent_vm_methods, &agent_vm_methods_count },
		{ agent_mig_methods, &agent_mig_methods_count },
	};
	char token[RPC_TOKEN_MAX + 2] = "";
	rpc_config rc;
	size_t n = 0;

	for (size_t i = 0; i < QM_ARRAY_SIZE(tables); i++)
		n += *tables[i].n;
	a->methods = calloc(n, sizeof(*a->methods));
	if (!a->methods)
		return qm_error_set(err, QM_ERR_NOMEM, "method table");
	for (size_t i = 0; i < QM_ARRAY_SIZE(tables); i++) {
		memcpy(a->methods + a->nmethods, tables[i].t,
		       *tables[i].n * sizeof(rpc_method));
		a->nmethods += *tables[i].n;
	}
	rpc_config_init(&rc);
	rc.topics = topics;
	if (a->cfg.token_file[0]) {
		if (!read_token(a->cfg.token_file, token, sizeof(token), err))
			return false;
		rc.token = token;
	}
	a->rpc = rpc_server_new(a->loop, a->methods, a->nmethods, a, &rc, err);
	memset(token, 0, sizeof(token));
	return a->rpc && rpc_server_listen(a->rpc, a->cfg.rpc, err);
}

/* The destination side: a second RPC server for the source agent only,
 * logged in with the token derived from the pre-shared key. */
static bool setup_peer(agent *a, qm_error *err)
{
	char addr[200];
	uint16_t port;
	rpc_config rc;

	if (!a->cfg.peer_listen[0])
		return true;
	if (!a->key.len)
		return qm_error_set(err, QM_ERR_INVAL, "--peer-listen needs "
				    "--psk-file");
	if (!peer_split_hostport(a->cfg.peer_listen, a->peer_host,
				 sizeof(a->peer_host), &port, err))
		return false;
	snprintf(addr, sizeof(addr), strchr(a->peer_host, ':') ?
		 "tcp:[%s]:%u" : "tcp:%s:%u", a->peer_host, port);
	rpc_config_init(&rc);
	rc.token = a->key.token;
	a->peer_rpc = rpc_server_new(a->loop, agent_peer_methods,
				     agent_peer_methods_count, a, &rc, err);
	return a->peer_rpc && rpc_server_listen(a->peer_rpc, addr, err);
}

/* The destination's QEMU: --qemu, else qemu-system-x86_64 from PATH. */
static bool find_qemu(agent *a, qm_error *err)
{
	const char *path = getenv("PATH");
	const char *p, *colon;

	if (a->cfg.qemu_binary[0]) {
		snprintf(a->qemu_binary, sizeof(a->qemu_binary), "%s",
			 a->cfg.qemu_binary);
		return true;
	}
	for (p = path ? path : "/usr/bin"; *p; p = colon + 1) {
		colon = strchrnul(p, ':');
		if (qm_format(a->qemu_binary, sizeof(a->qemu_binary),
			      "%.*s/qemu-system-x86_64", (int)(colon - p), p) &&
		    a->qemu_binary[0] == '/' &&
		    access(a->qemu_binary, X_OK) == 0)
			return true;
		if (!*colon)
			break;
	}
	a->qemu_binary[0] = '\0';
	/* Only a destination needs it: say so there, not at start. */
	pr_warn("qemu-system-x86_64 not found in PATH (--qemu)");
	return true;
}

static void load_predictor(agent *a)
{
	json_object *o = qm_state_read_json(a->cfg.state_dir, PREDICTOR_FILE,
					    NULL);

	qm_predictor_from_json(&a->predictor, o);
	json_object_put(o);
}

agent *agent_new(const agent_config *c, qm_error *err)
{
	agent *a = calloc(1, sizeof(*a));

	if (!a) {
		qm_error_set(err, QM_ERR_NOMEM, "agent");
		return NULL;
	}
	a->cfg = *c;
	a->sigfd = -1;
	if (!qm_state_open(c->state_dir, err) ||
	    !(a->sw = state_writer_new(c->state_dir, err)))
		goto fail;
	snprintf(a->run_dir, sizeof(a->run_dir), "%s/run", c->state_dir);
	if (!qm_state_open(a->run_dir, err) || !find_qemu(a, err))
		goto fail;
	if (c->psk_file[0] && !peer_key_load(&a->key, c->psk_file, err))
		goto fail;
	agent_probe_features(&a->features);
	load_predictor(a);
	a->loop = agent_loop_new(err);
	if (!a->loop || !(a->mb = agent_mailbox_new(a->loop, err)) ||
	    !setup_signals(a, err) || !setup_rpc(a, err) ||
	    !setup_peer(a, err))
		goto fail;
	/* Listening already, but nothing is served before the loop runs:
	 * clients see the recovered state, never a half-recovered one. */
	agent_recover(a);
	pr_info("qmigd %s serving %s, state in %s", QMIG_VERSION_STRING,
		c->rpc, c->state_dir);
	return a;
fail:
	agent_free(a);
	return NULL;
}

bool agent_run(agent *a, qm_error *err)
{
	return agent_loop_run(a->loop, err);
}

void agent_request_stop(agent *a)
{
	a->stopping = true;
	agent_loop_stop(a->loop);
}

static bool all_finished(const agent *a)
{
	for (int i = 0; i < a->nmigs; i++)
		if (!a->migs[i]->finished)
			return false;
	return true;
}

/*
 * Migrations still running when the agent stops are cancelled (a source
 * resumes its VM, a destination kills its uncommitted QEMU) and waited
 * for, their ends handled by the loop as usual; one past its switchover
 * cannot be cancelled and is waited for too, within AGENT_STOP_WAIT_MS.
 */
static void wind_down(agent *a)
{
	int64_t deadline = qm_now_ms() + AGENT_STOP_WAIT_MS;

	for (int i = 0; i < a->nmigs; i++) {
		migration *m = a->migs[i];

		/* A queued one has no worker to notice a cancel. */
		if (m->st.phase == QM_PHASE_QUEUED)
			mig_end_unstarted(a, m, QM_EV_CANCEL, "cancelled: the "
					  "agent stopped while the migration "
					  "was queued");
		else if (!m->finished)
			mig_cancel(m);
	}
	while (!all_finished(a) && qm_now_ms() < deadline)
		agent_loop_run_once(a->loop, 100, NULL);
}

static void free_migrations(agent *a)
{
	for (int i = 0; i < a->nmigs; i++) {
		migration *m = a->migs[i];

		if (!m->finished) {
			/* Its worker still runs: leave it its memory. */
			pr_warn("migration %s still running at exit", m->id);
			continue;
		}
		pthread_mutex_destroy(&m->lock);
		free(m->side_state);
		free(m);
	}
	a->nmigs = 0;
}

void agent_free(agent *a)
{
	if (!a)
		return;
	if (a->loop && a->mb)
		wind_down(a);
	free_migrations(a);
	rpc_server_free(a->peer_rpc);
	rpc_server_free(a->rpc);
	free(a->methods);
	agent_mailbox_free(a->mb);
	for (int i = 0; i < a->nvms; i++) {
		agent_unwatch_vm(a, a->vms[i]);
		agent_vm_detach(a->vms[i]);
		free(a->vms[i]);
	}
	if (a->sigfd >= 0) {
		agent_loop_del_fd(a->loop, a->sigfd);
		close(a->sigfd);
	}
	agent_loop_free(a->loop);
	/* Last: what the loop queued is written before the agent exits. */
	state_writer_free(a->sw);
	free(a);
}
