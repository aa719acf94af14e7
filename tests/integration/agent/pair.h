/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pair: two qmigd agents on loopback (source, and destination listening
 * for peers; the source listens too, for migrating back), a pre-shared key
 * file, and the workload guest running under the source's QEMU, attached
 * nowhere yet. Used as cmocka setup/teardown; the prestate may be a
 * `const pair_variant *` changing the guest or the agents' environment.
 *
 * Teardown stops everything and kills the QEMUs the agents started (VMs
 * outlive their agents by design); it fails if more than
 * PAIR_MAX_LEFT_QEMUS were still running.
 */
#ifndef QMIG_TEST_PAIR_H
#define QMIG_TEST_PAIR_H

#include "tests/qmig_test.h"
#include "agent/rpc.h"
#include "tools/guest/guestlog.h"
#include "tools/launch/launch.h"

#define TMO 15000
#define MIG_WAIT_MS 120000
/* At most one QEMU may be left when a test ends: the migrated VM (or,
 * after a killed destination agent, the QEMU it had started: reaping that
 * is the restarted agent's job). */
#define MAX_LEFT_QEMUS 1
#define DEFAULT_APPEND "ws=32M rate=3000 pattern=rand zero=20 dup=20"

/* What a test changes in the fixture (cmocka prestate). */
typedef struct variant {
	const char *append;      /* guest command line */
	const char *src_env;     /* NAME=VALUE for the source agent */
	const char *dst_env;     /* NAME=VALUE for the destination agent */
	const char *name;        /* VM name in file names; default "mig" */
	uint64_t ram_bytes;      /* guest RAM; default 256 MiB */
	ql_mem mem;              /* where it lives; default a shared file */
	const char *const *qemu_args; /* appended to QEMU's command line */
	bool rig;                /* the agents in two network namespaces
				  * joined by tools/rig, not on loopback */
	unsigned dst_tmpfs_mb;   /* the destination agent's dir on a tmpfs
				  * of its own, this large (0: no) */
} variant;

struct rig;

typedef struct fx {
	const variant *v;        /* the prestate, NULL for the defaults */
	struct rig *rig;         /* variant.rig */
	char tmpfs[QL_PATH_MAX]; /* variant.dst_tmpfs_mb: its mount point */
	ql_agent src, dst;
	ql_vm vm;
	rpc_client *cs;          /* connected to the source agent */
	char psk[128];
	char dest[64];           /* the destination's --peer-listen */
	char back[64];           /* the source's own --peer-listen */
	gl_follow f;             /* the guest's serial log on the source */
	bool following;
} fx;

int fx_setup(void **state);
int fx_teardown(void **state);
/* QEMUs with @dir on their command line: counted, killed if @kill_them. */
int scan_qemus(const char *dir, bool kill_them);
json_object *get(json_object *o, const char *k);
/* vm.attach the guest as "g1" on the source agent. */
void attach(fx *f);
/* migration.start of g1 to @dest on @cl, @extra JSON members (or NULL). */
char *start_on(rpc_client *cl, const char *dest, const char *extra);
char *start(fx *f, const char *extra);
/* Poll migration.status until a final phase; the last status. */
json_object *wait_final_on(rpc_client *cl, const char *id);
json_object *wait_final(fx *f, const char *id);
/* Member @k of @o as a string, "" if absent. */
const char *str(json_object *o, const char *k);
/* The guest still runs on the source, intact. */
void expect_on_source(fx *f);
/* The guest runs on the destination instead: the source QEMU quit, the
 * heartbeat continues from the source's last number, no CORRUPT, and the
 * destination agent lists the VM. */
void expect_on_dest(fx *f);
/* The same, the destination guest's serial log at @serial (a destination
 * QEMU the test started itself). */
void expect_on_dest_serial(fx *f, const char *serial);

/* Start @ag (&f->src or &f->dst, SIGKILLed by ql_agent_kill()) again on
 * its state dir and RPC socket, with the arguments the fixture gave it
 * and without the variant's environment (fault injection happens once);
 * for the source, f->cs is reconnected. */
void fx_restart(fx *f, ql_agent *ag);
/* Poll migration.status on @cl until its phase is @phase (fails the test
 * after @ms, or at another final phase). The last status. */
json_object *wait_phase_on(rpc_client *cl, const char *id, const char *phase,
			   int ms);
/* migration.start of g1 to the destination with the JSON @members after
 * "vm" and "dest" is refused with JSON-RPC error @code; its message goes
 * into @msg (@len bytes) unless NULL. */
void expect_start_refused(fx *f, const char *members, int code, char *msg,
			  size_t len);
/* Remove what a test wrote into the destination's tmpfs to fill it. */
void fx_free_disk(fx *f);
/* Wait up to @ms for @ag to die by itself (a fault injection point). */
void wait_agent_dead(ql_agent *ag, int ms);

#endif
