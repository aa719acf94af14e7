/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-migrate's parts: the scenario (what to run), the link (a shaped
 * rig between two network namespaces, or loopback), the serial-log
 * watcher, one run through the agents' API, and the report.
 */
#ifndef QMIG_BENCH_BM_H
#define QMIG_BENCH_BM_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "agent/rpc.h"
#include "tools/guest/guestlog.h"
#include "tools/launch/launch.h"

#define BM_MAX_REPS 32
#define BM_VM "bench"

enum { M_QMIG, M_QEMU, M_MULTIFD, M_XBZRLE, M_AUTOCONV, M__COUNT };
extern const char *const bm_method_name[M__COUNT];

/* ---- scenario (bm-scenario.c) ---- */

typedef struct bm_link_params {
	double bw_mbit;              /* per direction; 0 = unshaped */
	double rtt_ms;
	double loss_pct;
} bm_link_params;

typedef struct bm_targets {
	double total_ratio;          /* qmig / best QEMU, at most; 0 = none */
	double bytes_ratio;
	bool downtime_within_max;    /* wherever a QEMU method converges */
	bool deadline;               /* qmig converges within the deadline */
	double prediction_err_pct;   /* median |predicted - actual| / actual */
} bm_targets;

typedef struct bm_scenario {
	char name[64];
	char title[200];
	uint64_t ram;
	char append[512];            /* the guest's -append */
	int warmup_ms;
	bm_link_params link;
	bool loopback;               /* force loopback even with netns */
	double max_downtime_ms;
	double deadline_s;           /* 0 = none */
	bool on_deadline_force;
	bool methods[M__COUNT];
	int reps;
	bool return_trip;            /* measure B -> A after A -> B */
	int return_after_ms;         /* guest runs on B this long first */
	int timeout_s;               /* the bench cancels after this */
	char verify[16];
	bool learn;                  /* carry qmig's predictor between runs */
	bm_targets targets;
} bm_scenario;

void bm_scenario_defaults(bm_scenario *s);
/* Load @path over the defaults. */
bool bm_scenario_load(bm_scenario *s, const char *path, qm_error *err);
/* Apply one "--key value" command-line override. */
bool bm_scenario_option(bm_scenario *s, const char *k, const char *v,
			qm_error *err);

/* ---- link (bm-link.c) ---- */

typedef enum bm_side { BM_SRC = 0, BM_DST = 1 } bm_side;

/* Bring up the rig (or settle for loopback: @note says why). */
void bm_link_up(const bm_scenario *s, char *note, size_t note_len);
void bm_link_down(void);
bool bm_link_is_rig(void);
const char *bm_link_prefix(void);         /* "" on loopback */
const char *bm_link_addr(bm_side side);
/* A port for a listener on @side's address. */
int bm_link_port(bm_side side);
/* Bytes both ways on the link so far. */
uint64_t bm_link_bytes(void);
/* Start a VM / an agent on @side. */
bool bm_vm_start(ql_vm *vm, ql_vm_opts *o, bm_side side, qm_error *err);
bool bm_agent_start(ql_agent *a, const char *name, bm_side side,
		    const char *const *args, qm_error *err);

/* ---- process helpers (bm-proc.c) ---- */

void bm_die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						 noreturn));
void bm_check_intr(void);
void bm_install_signals(void);
void bm_sleep_ms(int ms);
double bm_load1(void);
double bm_proc_cpu(pid_t pid);
/* pid of the QEMU whose command line names @dir (an agent's state dir),
 * 0 if none; bm_kill_qemus() kills all of them and waits. */
pid_t bm_find_qemu(const char *dir);
void bm_kill_qemus(const char *dir);
/* QEMU's migration threads of @pid (-name debug-threads=on): sampled
 * while they run, since they exit with the migration. */
void bm_mig_threads_reset(void);
void bm_mig_threads_sample(pid_t pid);
double bm_mig_threads_cpu(void);
/* Bytes allocated to the largest regular file in @dir (a RAM file). */
uint64_t bm_alloc_in_dir(const char *dir);

/* ---- serial logs (bm-watch.c) ---- */

/* Follow the source's and the destination's serial logs (the latter
 * may not exist yet), stamping lines as they grow. */
void bm_watch_start(const char *src, const char *dst);
/* The destination becomes the source of the next leg (return trip). */
void bm_watch_shift(const char *dst);
void bm_watch_stop(void);
gl_log bm_watch_snap(int i);
bool bm_watch_wait(int i, gl_pred pred, const void *arg, int timeout_ms);

/* ---- one run (bm-run.c) ---- */

typedef struct bm_round {
	unsigned round;
	double pages_sent, bytes, dirty_pages, duration_ms, predicted_ms;
} bm_round;

typedef struct bm_run {
	int rep;
	bool completed;      /* the copy finished (QEMU: before verifying) */
	bool correct;        /* ... and the destination runs, intact */
	bool deadline_met;
	char status[24];     /* ok, FAILED(correctness), FAILED(error) */
	char phase[16];
	char error[400];
	char parts[200];     /* downtime_parts_ms, "name:ms,..." */
	char pparts[200];    /* predicted_parts_ms, the same way */
	double total_ms, downtime_ms, predicted_ms, gv_ms;
	double cpu_s, cpu_agents_s;
	uint64_t wire_bytes, reported_bytes, dst_alloc;
	int64_t rounds, mismatches, corrupt, breaks, throttle_max;
	uint64_t pages_have;
	const char *continuity;
	double load;
	bm_round *round;     /* qmig: migration.status rounds */
	int nround;
} bm_run;

/* Directory for run dirs, RAM files, agents; the pre-shared key file. */
void bm_run_init(const char *dir, const char *psk);
void bm_run_one(const bm_scenario *s, int method, bm_run *r);
void bm_run_teardown(void);

/* ---- report (bm-report.c) ---- */

void bm_report_header(const bm_scenario *s, const char *link_note);
void bm_report_run(const bm_scenario *s, int method, const bm_run *r);
/* Tables, ratios, targets on stdout; with @out, also NAME.md, the data
 * files and the gnuplot script there. */
void bm_report_summary(const bm_scenario *s,
		       bm_run runs[M__COUNT][BM_MAX_REPS],
		       const char *link_note, const char *out);

#endif
